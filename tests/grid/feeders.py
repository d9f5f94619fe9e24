"""Where the IEEE test feeders are, for the tests that read them (``../shared/feeders``)."""

from __future__ import annotations

import pytest

from twin.demo import find_feeders

__all__ = ["FEEDERS_DIR", "MASTERS", "needs_feeders"]


FEEDERS_DIR = find_feeders()  # the one place that looks for ../shared/feeders
needs_feeders = pytest.mark.skipif(FEEDERS_DIR is None, reason="reference feeders not found at ../shared/feeders")

MASTERS = {
    "13bus": "13bus/ieee13nodeckt.dss",
    "34bus": "34bus/ieee34mod1.dss",
    "37bus": "37bus/ieee37.dss",
    "123bus": "123bus/ieee123master.dss",
    "8500-node": "8500-node/master.dss",
}
