"""Loss analysis: per device and phase, per feeder, per voltage level."""

from __future__ import annotations

import numpy as np
import pytest

from twin.grid.losses import loss_report
from twin.grid.powerflow import solve_controlled
from twin.world.territory import generate_territory


@pytest.fixture(scope="module")
def territory():
    net = generate_territory(2_500, seed=2)
    settled = solve_controlled(net)
    return settled.network, settled.result


def test_losses_add_up_across_every_view(territory):
    net, result = territory
    report = loss_report(net, result)
    assert report.total_kw == pytest.approx(result.losses_kw, rel=1e-9)
    assert report.by_feeder["losses_kw"].sum() == pytest.approx(report.total_kw, rel=1e-9)
    assert report.by_level["losses_kw"].sum() == pytest.approx(report.total_kw, rel=1e-9)
    assert report.by_level["share_pct"].sum() == pytest.approx(100.0)
    lines = report.by_element[report.by_element["kind"] != "transformer"]
    per_phase = lines[["loss_kw_a", "loss_kw_b", "loss_kw_c"]].sum(axis=1, min_count=1)
    assert np.allclose(per_phase, lines["losses_kw"], rtol=1e-6, atol=1e-9)


def test_levels_run_from_the_substation_to_the_secondaries(territory):
    net, result = territory
    levels = set(loss_report(net, result).by_level.index)
    assert {"115/12.47 kV transformers", "12.47 kV lines", "7.2/0.12 kV transformers", "0.24 kV lines"} <= levels


def test_every_device_is_on_a_feeder_named_by_its_breaker(territory):
    net, result = territory
    by_element = loss_report(net, result).by_element
    feeders = set(by_element["feeder"])
    breakers = {f"{i}" for i in net.switch.ids[net.switch["kind"] == 0]}
    sources = set(net.source.ids)
    assert feeders <= breakers | sources
    assert by_element.loc[by_element["element"].str.endswith("-L0001"), "feeder"].str.endswith("-BKR").all()
