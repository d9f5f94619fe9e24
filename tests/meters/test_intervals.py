"""Interval data and the MDM against the world's truth.

Energy: each meter's 15-minute kWh against its share of its load's draw from the load model,
integrated independently (``scipy.integrate.quad_vec``) over the time it really had power, a long
outage bringing cold-load pickup into the interval after it. Voltage: against the power flow's
voltages at each solve, held until the next. The MDM: intervals only after a collection cycle has
read them, none from unreachable or dead meters, backfilled by a later cycle."""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pytest
from scipy.integrate import quad_vec

from twin.grid.topology import build_topology
from twin.meters import MeterFleet, MeterParameters
from twin.meters.mdm import MdmParameters
from twin.world.environment import World
from twin.world.events import EventKind
from twin.world.loads import LoadModel
from twin.world.territory import generate_territory

CLASS_W = {0: 2.8e3, 1: 6.0e3, 2: 15e3}  # the documented split: each class's median coincident peak
START = datetime(2026, 1, 15, 6, 40)  # mid-interval: the first interval is the 06:30 one, from 06:40
OPEN_S, CLOSE_S, END_S = 1000.0, 1000.0 + 7200.0, 1000.0 + 7200.0 + 2700.0  # a long outage: cold pickup
CLOSED_S = 10200.0  # the intervals closed by END_S start before this


def _fused(net):
    """A fuse with customers below it (the first in the model)."""
    topo = build_topology(net)
    for name in net.switch.ids:
        below = topo.customers_downstream(f"switch.{name}")
        if "-FU" in name and 0 < len(below) < len(net.service_point) // 4:
            return str(name), np.sort(below)
    raise AssertionError("no fuse with customers")


def _world(*, load_model: bool = True, seed: int = 1, **meter):
    """A territory whose fuse opens at OPEN_S and closes at CLOSE_S, run to END_S + 1."""
    net = generate_territory(600, seed=4)
    fuse, below = _fused(net)
    world = World(net, seed=seed, start=START)
    fleet = MeterFleet(world, params=MeterParameters(**meter))
    model = LoadModel(world) if load_model else None
    solves = []  # (time, voltage per meter, energised) at each solve
    world.events.subscribe(lambda e: solves.append((e.time_s, fleet._voltages().copy(),
                                                    world.grid.energised_customers.copy()))
                           if e.kind == EventKind.solve else None)

    def script():
        yield world.env.timeout(OPEN_S)
        world.grid.operate(world.now, fuse, open_=True, why="test")
        yield world.env.timeout(CLOSE_S - OPEN_S)
        world.grid.operate(world.now, fuse, open_=False, why="test")

    world.env.process(script())
    world.run_to(END_S + 1.0)
    return world, fleet, model, below, solves


def _scale_then(model, below_loads):
    """The load model's scale as it was at time t (cold-load pickup only after the fuse closed)."""
    def scale(t: float) -> np.ndarray:
        if model is None:
            return np.ones(len(below_loads))
        saved = model.back_at.copy()
        model.back_at[:] = np.nan
        if t >= CLOSE_S:
            model.back_at[below_loads] = saved[below_loads]
        try:
            return model.scale(t)
        finally:
            model.back_at[:] = saved
    return scale


def _load_energy_j(world, model, below, t0, t1):
    """Per load, int p_w * scale dt (J) over the part of [t0, t1] its customers had power."""
    net = world.grid.net
    sp_load = net.load.index(net.service_point["load"])
    out_loads = np.zeros(len(net.load), bool)
    out_loads[np.unique(sp_load[below])] = True
    scale = _scale_then(model, out_loads)
    hours = [t for t in np.arange(-3600.0, END_S + 3600.0, 60.0) if (START.minute * 60 + t) % 3600 == 0]

    def integral(a, b):
        if b <= a:
            return np.zeros(len(net.load))
        return quad_vec(scale, a, b, points=[h for h in hours if a < h < b], epsrel=1e-12, epsabs=0)[0]

    whole = integral(t0, t1)
    cut = integral(max(t0, OPEN_S), min(t1, CLOSE_S))
    e = np.where(out_loads, whole - cut, whole)
    return np.asarray(net.load["p_w"], float).reshape(len(net.load), -1).sum(axis=1) * e, sp_load


def _shares(net, sp_load):
    w = np.array([CLASS_W[int(c)] for c in net.service_point["cls"]])
    return w / np.bincount(sp_load, weights=w)[sp_load]


@pytest.fixture(scope="module")
def scene():
    return _world()


def test_interval_kwh_is_the_customers_share_of_its_loads_energy_while_energised(scene):
    world, fleet, model, below, _ = scene
    n = len(world.grid.net.service_point)
    assert np.isnan(fleet.mdm.registers(np.arange(n), -1800.0, -600.0).kwh).all()  # before the fleet: nothing
    p = fleet.mdm.registers(np.arange(n), -1000.0, CLOSED_S)
    assert p.start_s[0] == -600.0 and np.all(np.diff(p.start_s) == 900.0)  # on the calendar's quarter hours
    assert not np.isnan(p.kwh).any()
    for k, t0 in enumerate(p.start_s):
        e_j, sp_load = _load_energy_j(world, model, below, max(t0, 0.0), t0 + 900.0)
        expected = e_j[sp_load] * _shares(world.grid.net, sp_load) / 3.6e6
        np.testing.assert_allclose(p.kwh[k], expected, rtol=2e-6, atol=0)
    in_pickup = int(np.searchsorted(p.start_s, CLOSE_S))  # the first whole interval after the fuse closed
    ratio = p.kwh[in_pickup, below] / p.kwh[1, below]
    assert np.all(ratio > 1.5)  # cold-load pickup: well above its draw at 06:45, before the outage
    assert np.all(p.kwh[int(np.searchsorted(p.start_s, OPEN_S)), below] == 0.0)  # out all interval


def test_a_customer_out_for_part_of_an_interval_records_the_energised_fraction():
    world, fleet, _, below, _ = _world(load_model=False)
    peak = fleet.intervals.peak_w
    p = fleet.mdm.registers(np.arange(len(peak)), 0.0, CLOSED_S)
    for k, t0 in enumerate(p.start_s):
        t1 = t0 + 900.0
        lit = 900.0 - max(0.0, min(t1, CLOSE_S) - max(t0, OPEN_S))
        expected = np.where(np.isin(np.arange(len(peak)), below), lit, 900.0) * peak / 3.6e6
        np.testing.assert_allclose(p.kwh[k], expected, rtol=1e-6, atol=0)
    k = int(np.searchsorted(p.start_s, OPEN_S, side="right")) - 1
    assert p.start_s[k] < OPEN_S and np.allclose(p.kwh[k, below] / (peak[below] * 900.0 / 3.6e6),
                                                 (OPEN_S - p.start_s[k]) / 900.0, rtol=1e-6)


def test_the_fleets_hour_is_the_loads_energy_of_the_energised_customers(scene):
    world, fleet, model, below, _ = scene
    n = len(world.grid.net.service_point)
    for t0 in (300.0, 6600.0):  # a whole hour, and one across the fuse's closing
        p = fleet.mdm.registers(np.arange(n), t0, t0 + 3600.0)
        assert len(p.start_s) == 4
        e_j, _ = _load_energy_j(world, model, below, p.start_s[0], p.start_s[0] + 3600.0)
        assert float(p.kwh.astype(float).sum()) == pytest.approx(e_j.sum() / 3.6e6, rel=1e-6)
        by_tx = fleet.mdm.registers(np.arange(n), t0, t0 + 3600.0, by="transformer")
        assert np.allclose(by_tx.group_kwh.sum(axis=1), p.kwh.astype(float).sum(axis=1), rtol=1e-9)


def _held_voltage(solves, i, t0, t1, energised_from):
    """The mean over [t0, t1] of meter i's voltage of the solve in force (from a solve at which it
    had power, once it has power: ``energised_from``), and the seconds counted."""
    acc = secs = 0.0
    edges = [(t, v[i], on[i]) for t, v, on in solves]
    for j, (t, v, on) in enumerate(edges):
        nxt = edges[j + 1][0] if j + 1 < len(edges) else np.inf
        a, b = max(t0, t, energised_from), min(t1, nxt)
        if on and v > 0 and b > a:
            acc, secs = acc + v * (b - a), secs + (b - a)
    return acc, secs


def test_interval_voltage_is_the_mean_of_the_power_flows_voltage_over_the_energised_time(scene):
    world, fleet, model, below, solves = scene
    n = len(world.grid.net.service_point)
    p = fleet.mdm.registers(np.arange(n), 0.0, CLOSED_S)
    assert solves[0][0] == 300.0  # the world had not solved: the meters' first close solved it
    lit = np.setdiff1d(np.arange(n), below)
    for k, t0 in enumerate(p.start_s):
        t0c, t1 = max(t0, 0.0), t0 + 900.0
        for i in list(lit[:: max(1, len(lit) // 25)]) + list(below):
            if i in below and t1 > OPEN_S and t0c < CLOSE_S:  # the outage touches this interval
                if t0c >= OPEN_S and t1 <= CLOSE_S:
                    assert p.v_pu[k, i] == 0.0  # out all interval
                    continue
                acc, secs = _held_voltage([s for s in solves if s[0] < OPEN_S], i, t0c, min(t1, OPEN_S), -np.inf)
                a2, s2 = _held_voltage(solves, i, max(t0c, CLOSE_S), t1, CLOSE_S)
                acc, secs = acc + a2, secs + s2
                if secs == 0.0:
                    continue  # restored in the interval's last minute: the close's solve (checked below)
            else:
                acc, secs = _held_voltage(solves, i, t0c, t1, -np.inf)
            expected = acc / secs if secs > 0 else [v[i] for t, v, _ in solves if t == t1][0]
            assert p.v_pu[k, i] == pytest.approx(expected, abs=0.5 / 1200.0 + 1e-6)
    assert np.all((p.v_pu[:, lit] > 0.95) & (p.v_pu[:, lit] < 1.06))


def test_intervals_reach_the_mdm_only_after_a_collection_cycle_and_are_backfilled():
    net = generate_territory(400, seed=6)
    fuse, below = _fused(net)
    world = World(net, seed=2)
    fleet = MeterFleet(world, mdm=MdmParameters(collect_every_s=3600.0, collect_window_s=600.0, p_collect=1.0))
    n = len(net.service_point)
    rows = np.arange(n)
    dark = np.setdiff1d(rows, below)[::7]  # their collector is down from 100 s to 5000 s
    world.run_to(100.0)
    fleet.set_comms(dark, up=False)

    def received_upto(profile):
        """Per meter, how many leading intervals the MDM has (and nothing after them)."""
        have = ~np.isnan(profile.kwh)
        count = have.sum(axis=0)
        assert np.all(have == (np.arange(len(profile.start_s))[:, None] < count[None, :]))  # a prefix
        truth = fleet.mdm.registers(rows, 0.0, 6 * 3600.0)
        assert np.array_equal(profile.kwh[have], truth.kwh[have]) and np.array_equal(profile.v_pu[have],
                                                                                     truth.v_pu[have])
        return count

    world.run_to(3599.0)
    assert np.all(received_upto(fleet.mdm.load_profile(rows, 0.0, 6 * 3600.0)) == 0)  # closed, not read
    world.run_to(3900.0)  # half-way through the first cycle's window
    got = received_upto(fleet.mdm.load_profile(rows, 0.0, 6 * 3600.0))
    assert set(np.unique(got)) == {0, 4} and 0.3 * n < np.count_nonzero(got) < 0.7 * n
    world.run_to(4300.0)
    got = received_upto(fleet.mdm.load_profile(rows, 0.0, 6 * 3600.0))
    assert np.all(got[dark] == 0) and np.all(np.delete(got, dark) == 4)
    reads = world.events.of(EventKind.interval_reads)
    assert [(e.time_s, e.data["meters"]) for e in reads] == [(3600.0, n - len(dark))]
    world.run_to(5000.0)
    fleet.set_comms(dark, up=True)
    world.run_to(7000.0)
    world.grid.operate(world.now, fuse, open_=True, why="test")  # dead through the second cycle's start
    world.run_to(7500.0)
    world.grid.operate(world.now, fuse, open_=False, why="test")
    world.run_to(7801.0)
    got = received_upto(fleet.mdm.load_profile(rows, 0.0, 6 * 3600.0))
    assert np.all(got[dark] == 8)  # backfilled: the first hour too
    assert np.all(got[below] == 4) and np.all(np.delete(got, np.concatenate([below, dark])) == 8)
    world.run_to(3 * 3600.0 + 601.0)
    assert np.all(received_upto(fleet.mdm.load_profile(rows, 0.0, 6 * 3600.0)) == 12)
    p = fleet.mdm.load_profile(rows, 0.0, 3 * 3600.0, by="feeder")
    assert p.group_kwh.shape == (12, len(p.group)) and len(p.group) >= 2
    assert np.allclose(p.group_kwh.sum(axis=1), p.kwh.astype(float).sum(axis=1), rtol=1e-9)


def test_a_meters_memory_keeps_the_days_it_is_configured_for():
    net = generate_territory(300, seed=6)
    world = World(net, seed=2, resolve=False)
    fleet = MeterFleet(world, params=MeterParameters(interval_s=3600.0, keep_days=1))
    world.run_to(3 * 86400.0 + 1.0)
    p = fleet.mdm.registers(np.arange(3), 0.0, 3 * 86400.0)
    held = ~np.isnan(p.kwh).any(axis=1)
    assert held.tolist() == [False] * 24 + [True] * 48  # today (day 3 is not begun) and the day before
    assert fleet.intervals.store.nbytes == 2 * 24 * 300 * 6
    with pytest.raises(ValueError, match="interval_s"):
        MeterParameters(interval_s=700.0)


def test_the_voltage_register_holds_each_solves_voltage_and_counts_only_energised_time():
    """The recorder driven as the fleet drives it, with voltages chosen to tell every second apart."""
    net = generate_territory(300, seed=6)
    fuse, below = _fused(net)
    world = World(net, seed=2, resolve=False)
    fleet = MeterFleet(world)
    rec, n = fleet.intervals, len(net.service_point)
    steps = [(100.0, lambda: rec.voltages_solved(100.0, np.full(n, 1.0))),
             (400.0, lambda: world.grid.operate(400.0, fuse, open_=True, why="test")),
             (500.0, lambda: rec.voltages_solved(500.0, np.full(n, 0.9))),
             (700.0, lambda: world.grid.operate(700.0, fuse, open_=False, why="test")),
             (800.0, lambda: rec.voltages_solved(800.0, np.full(n, 0.95)))]
    for t, act in steps:
        world.run_to(t)
        act()
    world.run_to(901.0)
    v = fleet.mdm.registers(np.arange(n), 0.0, 900.0).v_pu[0]
    lit = np.setdiff1d(np.arange(n), below)
    assert np.allclose(v[lit], (400 * 1.0 + 300 * 0.9 + 100 * 0.95) / 800.0, atol=0.5 / 1200)  # from the first solve
    assert np.allclose(v[below], (300 * 1.0 + 100 * 0.95) / 400.0, atol=0.5 / 1200)  # out 400-700, known from 800
