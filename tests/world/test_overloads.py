"""Overloaded equipment: the C57.91 thermal model, transformers failing hot, fuses melting under load."""

import numpy as np
import pytest

from twin.grid.schema import SwitchKind
from twin.world.environment import World
from twin.world.events import EventKind
from twin.world.overloads import OverloadParameters, Overloads, aging_acceleration, hot_spot_c, top_oil_rise_c
from twin.world.territory import generate_territory


def test_rated_load_ages_normally():
    p = OverloadParameters()
    k = np.array([1.0])
    hot = hot_spot_c(30.0, top_oil_rise_c(k, p), k, p)
    assert hot[0] == pytest.approx(110.0)
    assert aging_acceleration(hot)[0] == pytest.approx(1.0)
    assert aging_acceleration(np.array([117.0]))[0] == pytest.approx(2.0, rel=0.05)  # about every 6-7 °C


class _Loads:
    """A load model holding chosen loads at a multiple of their peak (the rest at peak)."""

    def __init__(self, world, rows, factor):
        self.scale_of = np.ones(len(world.grid.net.load))
        self.scale_of[rows] = factor
        world.load_model = self

    def scale(self, t_s):
        return self.scale_of


def _steps(world, every_s=900.0):
    while True:
        yield world.env.timeout(every_s)
        world.request_resolve()


@pytest.fixture(scope="module")
def net():
    return generate_territory(600, seed=2)


def _below(net, element):
    from twin.grid.topology import build_topology

    topo = build_topology(net, normal=True)
    buses = set(net.bus.ids[topo.buses_below(element)].tolist())
    return np.flatnonzero(np.isin(net.load["bus"], list(buses)))


def test_a_transformer_kept_far_over_its_rating_fails_and_its_protection_clears_it(net):
    world = World(net, seed=1)
    over = Overloads(world)
    j = int(np.argmax(over.rating_va))  # a transformer whose load we can push
    tr = str(net.transformer.ids[over.tr_rows[j]])
    loads = _below(net, f"transformer.{tr}")
    assert len(loads)
    _Loads(world, loads, 3.0)
    world.env.process(_steps(world))
    world.request_resolve()
    world.run_to(12 * 3600.0)
    failures = [e for e in world.events.events if e.kind == EventKind.overload]
    assert [e.data["element"] for e in failures] == [f"transformer.{tr}"]
    assert failures[0].data["hot_spot_c"] > 150.0
    faults = [e for e in world.events.events if e.kind == EventKind.fault]
    assert [f.data["line"] for f in faults] == [over.tr_line[j]] and faults[0].data["cause"] == "equipment"
    assert any(e.kind == EventKind.protection for e in world.events.events)  # the fault was cleared
    assert not world.grid.energised_customers[np.isin(net.service_point["load"], net.load.ids[loads])].any()


def test_nothing_fails_at_peak_load(net):
    world = World(net, seed=1)
    Overloads(world)
    _Loads(world, np.zeros(0, np.int64), 1.0)
    world.env.process(_steps(world))
    world.request_resolve()
    world.run_to(24 * 3600.0)
    assert not [e for e in world.events.events if e.kind in (EventKind.overload, EventKind.fault)]


def test_a_fuse_melts_under_heavy_load_unless_the_load_falls_first(net):
    fuses = np.flatnonzero(net.switch["kind"] == SwitchKind.fuse)
    fuse = str(net.switch.ids[fuses[0]])
    loads = _below(net, f"switch.{fuse}")
    outcomes = []
    for hold_s in (12 * 3600.0, 60.0):
        world = World(net, seed=1)
        over = Overloads(world)
        model = _Loads(world, loads, 5.0)
        world.request_resolve()
        world.run_to(61.0)  # solved at 60 s with the heavy load
        at = float(over.fuse_melt_at[0])
        assert np.isfinite(at) and at > world.now
        if hold_s < at - 60.0:
            model.scale_of[:] = 1.0
            world.grid.changed_s = world.now
            world.power_flow()  # the load is back to normal before the fuse melts
            world.events.publish(world.now, EventKind.solve, converged=True)
        world.run_to(at + 10.0)
        outcomes.append(bool(world.grid.switch_open[fuses[0]]))
    assert outcomes == [True, False]
