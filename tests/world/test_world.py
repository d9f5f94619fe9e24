"""The world's clock, streams, event stream and the physics of a fault, on a small territory.

A fault on a lateral below a recloser: a temporary one is cleared by the recloser's fast shot and
the lateral's fuse survives (fuse saving), everyone is back; a permanent one blows the fuse on the
delayed shot and exactly the customers below the fuse stay out. The world's protective operations
are the protection engine's, at the same times; the same seed gives the same event lines."""

from __future__ import annotations

import time

import numpy as np
import pytest

from twin.grid.topology import build_topology
from twin.world.environment import World
from twin.world.events import EventKind, JsonLines
from twin.world.physics import Fault
from twin.world.territory import generate_territory
from tests.world.lateral import fused_lateral


_territory = fused_lateral


def _world(permanent: bool, seed: int = 1) -> tuple[World, str, str, str, object]:
    net, topo, fuse, recloser, line = _territory()
    world = World(net, seed=seed)
    world.inject(Fault(line, permanent=permanent, cause="tree"), at_s=60.0)
    world.run_to(3600.0)
    return world, fuse, recloser, line, topo


def test_a_temporary_fault_is_cleared_by_the_recloser_and_the_fuse_survives():
    world, fuse, recloser, line, topo = _world(permanent=False)
    ops = [(e.data["device"], e.data["action"]) for e in world.events.of(EventKind.protection)]
    assert ops[:2] == [(recloser, "trip"), (recloser, "reclose")]
    assert all(device != fuse for device, _ in ops)  # fuse saving
    assert len(world.customers_out()) == 0
    out = world.events.of(EventKind.outage)
    assert len(out) == 1 and out[0].data["customers"] == len(topo.customers_downstream(f"switch.{recloser}"))
    assert world.events.of(EventKind.fault_cleared)[0].time_s == out[0].time_s
    assert line not in world.grid.faults
    assert all(not np.isnan(o.restored_s) for o in world.grid.outages)


def test_a_permanent_fault_blows_the_fuse_and_exactly_its_customers_stay_out():
    world, fuse, recloser, line, topo = _world(permanent=True)
    actions = [(e.data["device"], e.data["action"]) for e in world.events.of(EventKind.protection)]
    assert {(fuse, "clear"), (fuse, "open")} & set(actions) and (recloser, "lockout") not in actions
    below = topo.customers_downstream(f"switch.{fuse}")
    assert set(world.customers_out().tolist()) == set(below.tolist()) and len(below)
    assert line in world.grid.faults
    standing = [o for o in world.grid.outages if np.isnan(o.restored_s)]  # the ground truth
    assert [(o.isolated_by, o.line) for o in standing] == [(fuse, line)]
    assert set(standing[0].remaining.tolist()) == set(below.tolist())
    assert world.grid.solves == 1 and world.events.of(EventKind.solve)[-1].data["converged"]  # one for the sequence
    world.grid.repair(world.now, line)
    assert line not in world.grid.faults and world.events.events[-1].kind == EventKind.fault_cleared


def test_the_worlds_operations_are_the_protection_engines_at_the_same_times():
    world, fuse, recloser, line, _ = _world(permanent=True)
    expected = world.grid.__class__(world.grid.net, world.events.__class__()).protection_response(Fault(line))
    start = world.events.of(EventKind.fault)[0].time_s
    got = [(round(e.time_s - start, 9), e.data["device"], e.data["action"]) for e in world.events.of(EventKind.protection)]
    assert got == [(round(t, 9), d, a) for t, d, a in expected.timeline(digits=12)]


def test_the_same_seed_gives_the_same_event_stream_byte_for_byte(tmp_path):
    texts = []
    for run in range(2):
        net, _, _, _, line = _territory()
        world = World(net, seed=5)
        writer = JsonLines(tmp_path / f"events-{run}.jsonl")
        world.events.subscribe(writer)
        world.inject(Fault(line, permanent=True), at_s=10.0)
        world.inject(Fault(line, permanent=False), at_s=4000.0)
        world.run_to(7200.0)
        writer.close()
        texts.append((tmp_path / f"events-{run}.jsonl").read_bytes())
    assert texts[0] == texts[1] and texts[0].count(b"\n") > 5


def test_pacing_stepping_and_bad_speeds():
    net, *_ = _territory()
    with pytest.raises(ValueError, match="x1 to x3600"):
        World(net, speed=5000.0)
    world = World(net, speed=3600.0, resolve=False)
    world.inject(Fault(_territory()[4], permanent=False), at_s=1.8)
    started = time.perf_counter()
    world.run_to(3.6)  # 3.6 simulated seconds at x3600: a millisecond of wall time, at least
    assert 0.0009 < time.perf_counter() - started < 2.0
    assert world.now == pytest.approx(3.6) and world.events.of(EventKind.fault)
    fast = World(net, resolve=False)
    fast.inject(Fault(_territory()[4]), at_s=5.0)
    fast.step()  # the injection's delay
    fast.step()
    assert fast.now == pytest.approx(5.0)
    assert fast.calendar.hour(fast.now) == pytest.approx(5.0 / 3600.0)


def test_a_crew_repairs_a_permanent_fault_and_restores_exactly_the_customers_it_left_out():
    from twin.world.crews import Crews

    net, topo, fuse, recloser, line = _territory()
    world = World(net, seed=2)
    crews = Crews(world)
    world.inject(Fault(line, permanent=True, cause="tree"), at_s=60.0)
    world.run_to(3 * 3600.0)
    below = topo.customers_downstream(f"switch.{fuse}")
    steps = [e.data["action"] for e in world.events.of(EventKind.crew)]
    if "repaired" not in steps:  # a long repair: run on
        world.run_to(48 * 3600.0)
        steps = [e.data["action"] for e in world.events.of(EventKind.crew)]
    assert steps == ["dispatched", "arrived", "found", "repaired", "free"]
    assert len(world.customers_out()) == 0 and not world.grid.faults
    restore = world.events.of(EventKind.restore)[-1]
    assert restore.data["customers"] == len(below) and restore.data["device"] == fuse
    assert all(not np.isnan(o.restored_s) for o in world.grid.outages)
    assert not crews.busy.any()


def test_a_storm_day_runs_end_to_end_and_replays_byte_for_byte(tmp_path):
    from twin.world.simulate import run_world

    net = generate_territory(2000, seed=4)
    runs = []
    for k in range(2):
        world, summary = run_world(net, hours=12.0, storm="hurricane", seed=9, events_path=tmp_path / f"e{k}.jsonl")
        runs.append(((tmp_path / f"e{k}.jsonl").read_bytes(), summary))
    assert runs[0][0] == runs[1][0]
    s = runs[0][1]
    assert s.faults > 0 and s.customers_interrupted > 0 and s.last_gasps > 0
    assert s.last_gasps <= sum(len(o.customers) for o in world.grid.outages)  # only from customers really out
    import json

    times = [json.loads(line)["time_s"] for line in runs[0][0].decode().splitlines()]
    assert times == sorted(times)  # one stream, in simulated time


def test_twin_simulate_prints_a_summary_and_writes_the_events(tmp_path, capsys):
    import json

    from twin.cli import main

    out = tmp_path / "events.jsonl"
    assert main(["simulate", "territory:1500", "--hours", "6", "--storm", "thunderstorm", "--seed", "3",
                 "--events", str(out)]) == 0
    text = capsys.readouterr().out
    assert "6 h of thunderstorm" in text and "customers interrupted" in text
    kinds = {json.loads(line)["kind"] for line in out.read_text().splitlines()}
    assert kinds <= {k.value for k in EventKind}


def test_who_has_power_from_the_normal_tree_is_the_topologys():
    from twin.world.physics import GridState
    from twin.world.events import EventStream

    net, *_ = _territory()
    grid = GridState(net, EventStream())
    rng = np.random.default_rng(4)
    closed = np.flatnonzero(~np.asarray(net.switch["normal_open"], bool))
    for _ in range(20):
        grid.switch_open = np.asarray(net.switch["normal_open"], bool).copy()
        grid.switch_open[rng.choice(closed, 3, replace=False)] = True
        exact = build_topology(grid.network()).energised[net.bus.index(net.service_point["bus"])]
        assert np.array_equal(grid._energised(), exact)


def test_a_wire_down_brings_calls_naming_its_line():
    from twin.world.simulate import run_world

    net = generate_territory(2000, seed=4)
    world, summary = run_world(net, hours=24.0, storm="hurricane", seed=9)
    down = {e.data["line"] for e in world.events.of(EventKind.fault) if e.data["wire_down"]}
    wires_calls = [e for e in world.events.of(EventKind.call) if e.data["reason"] == "wires_down"]
    assert down and {e.data["line"] for e in wires_calls} <= down and wires_calls


def test_loads_follow_the_day_and_come_back_cold_after_a_long_outage():
    from twin.world.loads import LoadModel, LoadParameters

    net, topo, fuse, recloser, line = _territory()
    world = World(net, seed=1)
    loads = LoadModel(world, LoadParameters(clpu_after_s=1800.0, clpu_peak=2.0, clpu_decay_s=1800.0))
    world.run_to(24 * 3600.0)
    solved = {round(e.time_s): e.data["load_kw"] for e in world.events.of(EventKind.solve)}
    assert len(solved) >= 90  # a step every 15 minutes
    evening, night = solved[round(19 * 3600.0 + 60.0)], solved[round(4 * 3600.0 + 60.0)]
    assert evening > 1.8 * night
    # a two-hour outage of the fuse's customers, then back: their loads draw twice their normal, decaying
    rows = np.unique(loads.sp_load[topo.customers_downstream(f"switch.{fuse}")])

    def base(t: float) -> np.ndarray:
        saved = loads.back_at.copy()
        loads.back_at[:] = np.nan
        try:
            return loads.scale(t)[rows]
        finally:
            loads.back_at[:] = saved

    world.grid.operate(world.now, fuse, open_=True, why="test")
    world.run_to(world.now + 7200.0)
    world.grid.operate(world.now, fuse, open_=False, why="test")
    t = world.now
    assert np.allclose(loads.scale(t)[rows] / base(t), 2.0)
    assert np.allclose(loads.scale(t + 1800.0)[rows] / base(t + 1800.0), 1.0 + np.exp(-1.0))
    world.grid.operate(world.now, fuse, open_=True, why="test")  # a short outage brings no pickup
    world.run_to(world.now + 600.0)
    world.grid.operate(world.now, fuse, open_=False, why="test")
    assert np.all(loads.back_at[rows] == t)


def test_a_fault_the_model_cannot_hold_is_refused_before_it_stops_the_world():
    from twin.errors import ModelError
    from twin.world.environment import World

    net = generate_territory(300, seed=2)
    world = World(net, seed=1)
    with pytest.raises(ModelError, match="no line 'NOPE'"):
        world.inject(Fault("NOPE"), at_s=10.0)
    with pytest.raises(ModelError, match="off line"):
        world.inject(Fault(str(net.line.ids[0]), location=1.5), at_s=10.0)
    world.run_to(100.0)  # nothing was scheduled: the world runs on
    assert not world.grid.outages


def test_an_outage_left_behind_two_fuses_when_the_recloser_closes_is_one_outage_per_fuse():
    net, topo = fused_lateral()[:2]
    world = World(net, seed=1, resolve=False)
    grid = world.grid
    recloser = "S01-F1-RCL"
    fuses = [f for f in net.switch.ids.tolist() if str(f).startswith("S01-F1-FU")
             and topo.upstream_protective(f"switch.{f}") == recloser][:2]
    lines = {}
    for f in fuses:  # a fault standing below each fuse
        below = set(topo.buses_below(f"switch.{f}").tolist())
        lines[f] = next(str(l) for l, b in zip(net.line.ids, net.line["to_bus"]) if net.bus.position(str(b)) in below)
        grid.faults[lines[f]] = Fault(lines[f], permanent=True)
    grid.operate(10.0, recloser, open_=True, why="test", line=lines[fuses[0]])
    for f in fuses:
        grid.operate(11.0, f, open_=True, why="test")
    grid.operate(20.0, recloser, open_=False, why="test")
    standing = [o for o in grid.outages if np.isnan(o.restored_s)]
    assert sorted(o.isolated_by for o in standing) == sorted(fuses)
    for o in standing:
        assert o.start_s == 10.0 and o.line == lines[o.isolated_by]
        assert set(o.remaining.tolist()) == set(topo.customers_downstream(f"switch.{o.isolated_by}").tolist())
    assert sum(len(o.remaining) for o in standing) == int(np.count_nonzero(~grid.energised_customers))


def test_a_tie_closed_onto_a_standing_fault_makes_it_strike_again_from_the_other_feeder():
    net = generate_territory(2000, seed=3)
    world = World(net, seed=1, resolve=False)
    world.inject(Fault("S01-F1-L0016", permanent=True), at_s=10.0)  # below S01-F1's recloser
    world.run_to(120.0)
    grid = world.grid
    assert grid.switch_open[net.switch.position("S01-F1-RCL")]  # locked out
    tie = "S01-F1-TIE1"  # its far side on the neighbour, its near side in the dead section
    grid.operate(world.now, tie, open_=False, why="closed by hand")
    world.events.publish(world.now, EventKind.switch, device=tie, closed=True, by="test")
    world.run_to(300.0)
    again = [e for e in world.events.of(EventKind.fault) if e.data["restrike"]]
    assert again and again[0].data["line"] == "S01-F1-L0016"
    tripped = {e.data["device"] for e in world.events.of(EventKind.protection) if e.time_s > 120.0}
    assert tripped and all(not d.startswith("S01-F1-") for d in tripped)  # the neighbour's protection answers
