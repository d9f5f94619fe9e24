"""The AMI meter fleet on a small territory: last gasps and restores against the grid's truth.

A permanent fault on a fused lateral below a recloser: the recloser's fast trip and reclose are a
momentary for its whole zone (counted, never reported), the fuse leaves its lateral out, and only
those meters send last gasps. Switches opened and closed by a script give outages of known length;
the head-end's deliveries are checked against a plain first-come-first-served queue."""

from __future__ import annotations


import numpy as np
import pytest

from twin.meters import MeterFleet, MeterParameters
from twin.world.events import EventKind
from twin.meters.fleet import LAST_GASP, POWER_RESTORE
from twin.world.environment import World
from twin.world.physics import Fault
from tests.world.lateral import fused_lateral

SURE = dict(p_last_gasp=1.0, p_restore=1.0)


_territory = fused_lateral


def _below(device: str) -> np.ndarray:
    net, topo, *_ = _territory()
    return np.sort(topo.customers_downstream(f"switch.{device}"))


def _scripted(steps, *, seed: int = 1, until: float = 3600.0, **params) -> tuple[World, MeterFleet]:
    """A world whose switches a script operates: ``steps`` of (time, device, open)."""
    net, *_ = _territory()
    world = World(net, seed=seed, resolve=False)
    fleet = MeterFleet(world, params=MeterParameters(**params))

    def script():
        for t, device, open_ in steps:
            yield world.env.timeout(t - world.now)
            world.grid.operate(world.now, device, open_=open_, why="test")

    world.env.process(script())
    world.run_to(until)
    return world, fleet


def _fifo(arrivals: np.ndarray, service_s: float) -> np.ndarray:
    """Departures of a first-come-first-served single server, one message at a time."""
    free, out = -np.inf, []
    for a in np.sort(arrivals):
        free = max(a, free) + service_s
        out.append(free)
    return np.array(out)


def test_last_gasps_come_only_from_meters_really_out_and_not_for_momentaries():
    net, topo, fuse, recloser, line = _territory()
    world = World(net, seed=1, resolve=False)
    fleet = MeterFleet(world, params=MeterParameters(**SURE))
    world.inject(Fault(line, permanent=True), at_s=60.0)
    world.run_to(3600.0)
    out = np.flatnonzero(~world.grid.energised_customers)
    assert np.array_equal(out, _below(fuse)) and len(out)
    got = fleet.received()
    assert np.array_equal(np.sort(got.of(LAST_GASP)), out)  # every one, once, with p_last_gasp = 1
    assert not len(got.of(POWER_RESTORE))  # nobody had a sustained outage and came back
    blown = max(o.start_s for o in world.grid.outages)  # when the fuse left the lateral out
    assert np.all(got.at_s == blown) and np.all(got.time_s >= blown + fleet.params.qualify_s + 1.0)
    zone = np.setdiff1d(_below(recloser), out)  # the recloser's trip and reclose: a momentary for them
    assert len(zone) and np.all(fleet.momentary[zone] >= 1) and np.all(fleet.momentary[out] >= 1)
    lines = [e for e in world.events.events if e.kind == EventKind.last_gasp]
    assert len(lines) == len(out) and {e.data["meter"] for e in lines} == set(net.service_point["meter"][out])
    assert [e.time_s for e in lines] == sorted(e.time_s for e in lines)


def test_with_the_default_delivery_chance_some_last_gasps_are_lost():
    net, topo, fuse, recloser, line = _territory()
    world, fleet = _scripted([(10.0, "S01-F1-BKR", True)], until=1800.0)
    out = _below("S01-F1-BKR")
    got = fleet.received().of(LAST_GASP)
    assert set(got.tolist()) <= set(out.tolist())
    assert 0.8 * len(out) < len(got) < 0.9 * len(out)  # p_last_gasp = 0.85 over about a thousand meters


def test_restores_come_only_from_meters_whose_power_came_back():
    a, b = "S01-F1-FU003", "S01-F1-FU007"
    steps = [(100.0, a, True), (100.0, b, True), (102.0, b, False),  # b: a 2 s momentary
             (1000.0, a, False)]
    world, fleet = _scripted(steps, **SURE)
    got, p = fleet.received(), fleet.params
    assert np.array_equal(np.sort(got.of(POWER_RESTORE)), _below(a))
    assert np.array_equal(np.sort(got.of(LAST_GASP)), _below(a))
    restores = got.kind == POWER_RESTORE
    assert np.all(got.at_s[restores] == 1000.0)
    assert np.all(got.time_s[restores] >= 1000.0 + p.restore_holdoff_min_s + p.mesh_delay_min_s)
    assert np.all(got.time_s[restores] <= 1000.0 + p.restore_holdoff_max_s + p.mesh_delay_max_s + 1.0)
    assert np.all(fleet.momentary[_below(b)] == 1) and np.all(fleet.momentary[_below(a)] == 0)


def test_a_second_loss_during_the_hold_off_cancels_the_restore():
    a = "S01-F1-FU003"
    steps = [(100.0, a, True), (1000.0, a, False), (1005.0, a, True)]  # out again before any restore is sent
    world, fleet = _scripted(steps, restore_holdoff_min_s=60.0, **SURE)
    got = fleet.received()
    assert not len(got.of(POWER_RESTORE))
    assert np.array_equal(np.sort(got.of(LAST_GASP)), np.sort(np.concatenate([_below(a), _below(a)])))


def test_a_burst_beyond_the_head_ends_throughput_queues_first_come_first_served():
    rate = 20.0
    steps = [(10.0, "S01-F1-BKR", True), (30.0, "S01-F2-BKR", True)]  # two bursts whose arrivals interleave
    world, fleet = _scripted(steps, headend_rate_per_s=rate, until=7200.0, **SURE)
    got = fleet.received()
    n = len(got.time_s)
    assert n == len(_below("S01-F1-BKR")) + len(_below("S01-F2-BKR")) > 1000
    assert np.allclose(got.time_s, _fifo(got.arrival_s, 1.0 / rate), rtol=0, atol=1e-6)
    assert np.all(np.diff(got.time_s) >= 1.0 / rate - 1e-9)
    p = fleet.params
    first = 10.0 + p.qualify_s + p.mesh_delay_min_s
    assert first + n / rate <= got.time_s[-1] <= 30.0 + p.qualify_s + p.mesh_delay_max_s + n / rate
    assert got.time_s[-1] - got.time_s[0] > 60.0  # minutes, not the mesh's seconds
    assert np.all(got.time_s >= got.arrival_s + 1.0 / rate - 1e-9)


def test_unreachable_meters_send_nothing():
    net, *_ = _territory()
    world = World(net, seed=1, resolve=False)
    fleet = MeterFleet(world, params=MeterParameters(**SURE))
    out = _below("S01-F1-BKR")
    dark, late = out[: len(out) // 2], out[len(out) // 2:]
    fleet.set_comms(dark, up=False)
    world.grid.operate(0.0, "S01-F1-BKR", open_=True, why="test")
    world.run_to(12.0)  # some of the rest are still crossing the mesh when their collector goes
    fleet.set_comms(late, up=False)
    world.run_to(3600.0)
    got = fleet.received()
    assert not np.isin(got.service_point, dark).any()
    assert np.all(got.arrival_s[np.isin(got.service_point, late)] <= 12.0)
    assert 0 < np.isin(got.service_point, late).sum() < len(late)
    fleet.set_comms(out, up=True)
    world.grid.operate(world.now, "S01-F1-BKR", open_=False, why="test")
    world.run_to(7200.0)
    assert np.array_equal(np.sort(fleet.received().of(POWER_RESTORE)), out)


def test_pings_and_reads_answer_for_energised_reachable_meters_only():
    net, *_ = _territory()
    world = World(net, seed=1, resolve=False)
    fleet = MeterFleet(world, params=MeterParameters(p_ping=1.0))
    out = _below("S01-F1-FU003")
    world.grid.operate(0.0, "S01-F1-FU003", open_=True, why="test")
    lit = np.flatnonzero(world.grid.energised_customers)[:40]
    fleet.set_comms(lit[:10], up=False)
    rows = np.concatenate([out, lit])
    ping = fleet.ping(rows)
    world.run_to(300.0)
    r = ping.value
    assert np.array_equal(r.answered, np.isin(rows, lit[10:]) & (r.delay_s <= fleet.params.ping_timeout_s))
    assert r.time_s == pytest.approx(fleet.params.ping_timeout_s)  # some never answer: the head-end waits
    assert np.all(np.isnan(r.delay_s[~r.answered])) and np.all(r.delay_s[r.answered] > 0)
    read = fleet.read_voltage(lit[10:])
    world.run_to(600.0)
    v = read.value
    assert v.answered.all() and v.time_s == pytest.approx(300.0 + np.nanmax(v.delay_s))
    assert np.all((v.v_pu > 0.9) & (v.v_pu < 1.1))
    dark = fleet.ping(np.concatenate([lit[:10], lit[10:]]))  # some out of reach: not waited for
    world.run_to(900.0)
    d = dark.value
    assert not d.routed[:10].any() and d.answered[10:].all()
    assert d.time_s == pytest.approx(600.0 + np.nanmax(d.delay_s)) and d.time_s < 600.0 + fleet.params.ping_timeout_s
    nowhere = fleet.ping(lit[:10])
    world.run_to(1200.0)
    assert nowhere.value.time_s == pytest.approx(900.0)  # no route to any: answered at once


def test_the_same_seed_gives_the_same_messages_bit_for_bit():
    net, topo, fuse, recloser, line = _territory()
    runs = []
    for _ in range(2):
        world = World(net, seed=4, resolve=False)
        MeterFleet(world)
        world.inject(Fault(line, permanent=True), at_s=10.0)
        world.inject(Fault(line, permanent=False), at_s=4000.0)

        def script():
            yield world.env.timeout(5000.0)
            world.grid.operate(world.now, fuse, open_=False, why="repaired")

        world.env.process(script())
        world.run_to(9000.0)
        runs.append([e.to_json() for e in world.events.events])
    assert runs[0] == runs[1]
    assert sum('"kind": "last_gasp"' in s for s in runs[0]) and sum('"kind": "power_restore"' in s for s in runs[0])


def test_parameters_are_checked():
    with pytest.raises(ValueError, match="p_last_gasp"):
        MeterParameters(p_last_gasp=1.5)
    with pytest.raises(ValueError, match="headend_rate_per_s"):
        MeterParameters(headend_rate_per_s=0.0)
