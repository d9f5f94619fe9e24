"""Where the IEEE test feeders are, for the tests that read them (``../shared/feeders``)."""

from __future__ import annotations

from pathlib import Path

import pytest

__all__ = ["FEEDERS_DIR", "MASTERS", "needs_feeders"]


def _feeders_dir() -> Path | None:
    root = Path(__file__).resolve().parents[2]  # the repository root
    for candidate in (root.parent / "shared" / "feeders", root / "shared" / "feeders"):
        if (candidate / "reference").is_dir():
            return candidate
    return None


FEEDERS_DIR = _feeders_dir()
needs_feeders = pytest.mark.skipif(FEEDERS_DIR is None, reason="reference feeders not found at ../shared/feeders")

MASTERS = {
    "13bus": "13bus/ieee13nodeckt.dss",
    "34bus": "34bus/ieee34mod1.dss",
    "37bus": "37bus/ieee37.dss",
    "123bus": "123bus/ieee123master.dss",
    "8500-node": "8500-node/master.dss",
}
