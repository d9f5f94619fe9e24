"""Customers who call, on a small territory: every call against the grid's truth at its instant.

A subscriber on the event stream checks each call as it is published: a no-power call (or a repeat)
comes from a customer out at that instant, never before the outage began; a flicker from a
customer whose short outage is over; an inside-premises call from a customer with power."""

from __future__ import annotations

from collections import Counter
from datetime import datetime

import numpy as np
import pytest

from twin.callers import Callers, CallerParameters, CallReason, call_chance
from twin.meters import MeterFleet
from twin.world.environment import World
from twin.world.physics import Fault
from tests.world.lateral import fused_lateral

NOON = datetime(2026, 7, 1, 12, 0)


_territory = fused_lateral


def _below(device: str) -> np.ndarray:
    _, topo, *_ = _territory()
    return np.sort(topo.customers_downstream(f"switch.{device}"))


class Truth:
    """Checks every call at the instant it is published against who has power then."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.lost_at: dict[int, float] = {}
        self.back_at: dict[int, float] = {}
        self.bad: list[str] = []
        world.grid.listeners.append(self.changed)
        world.events.subscribe(self.heard)

    def changed(self, now_s, lost, back):
        self.lost_at.update(dict.fromkeys(lost.tolist(), now_s))
        for row in back.tolist():
            self.back_at.setdefault(row, now_s)  # the first return of power

    def heard(self, event):
        if event.kind != "call":
            return
        row, reason, t = event.data["service_point"], event.data["reason"], event.time_s
        powered = bool(self.world.grid.energised_customers[row])
        if reason in ("no_power", "again") and (powered or t < self.lost_at.get(row, np.inf)):
            self.bad.append(f"{reason} from {row} at {t}: powered {powered}")
        if reason == "flicker" and (not powered or t < self.back_at.get(row, np.inf)):
            self.bad.append(f"flicker from {row} at {t} before its power came back")
        if reason == "inside_premises" and not powered:
            self.bad.append(f"inside-premises call from {row}, which is out")


def _world(*, seed: int = 1, start: datetime = NOON, **params) -> tuple[World, Callers, Truth]:
    net, *_ = _territory()
    world = World(net, seed=seed, start=start, resolve=False)
    callers = Callers(world, params=CallerParameters(**params))
    return world, callers, Truth(world)


def _script(world: World, steps) -> None:
    def script():
        for t, device, open_ in steps:
            yield world.env.timeout(t - world.now)
            world.grid.operate(world.now, device, open_=open_, why="test")

    world.env.process(script())


def test_calls_come_only_from_customers_really_out_after_their_outage_began():
    net, topo, fuse, recloser, line = _territory()
    world, callers, truth = _world(p_call=(0.6, 0.6, 0.6), p_flicker=0.3, inside_premises_per_day=0.05)
    world.inject(Fault(line, permanent=True), at_s=60.0)
    world.run_to(6 * 3600.0)
    assert not truth.bad, truth.bad[:5]
    reasons = Counter(c.reason for c in callers.calls)
    assert reasons[CallReason.no_power] and reasons[CallReason.again] and reasons[CallReason.flicker]
    assert reasons[CallReason.inside_premises]
    out = set(_below(fuse).tolist())
    assert {c.service_point for c in callers.calls if c.reason in (CallReason.no_power, CallReason.again)} <= out
    flickered = set(_below(recloser).tolist()) - out  # the recloser's trip and reclose
    assert {c.service_point for c in callers.calls if c.reason == CallReason.flicker} <= flickered
    events = [e for e in world.events.events if e.kind == "call"]
    assert len(events) == len(callers.calls) and events[0].data.keys() >= {"name", "phone", "address", "meter"}


def test_a_call_not_made_before_power_returns_is_cancelled():
    world, callers, truth = _world(p_call=(1.0, 1.0, 1.0), p_call_critical=1.0, p_flicker=0.0,
                                   inside_premises_per_day=0.0, p_again=0.0)
    out = _below("S01-F1-BKR")
    _script(world, [(100.0, "S01-F1-BKR", True), (700.0, "S01-F1-BKR", False)])
    world.run_to(5 * 3600.0)
    assert not truth.bad
    times = np.array([c.time_s for c in callers.calls])
    assert len(times) and np.all((times >= 100.0 + callers.params.delay_min_s) & (times <= 700.0))
    assert len(times) < len(out)  # everyone meant to call; those still waiting at 700 s did not
    assert len({c.service_point for c in callers.calls}) == len(times)


def test_no_call_at_all_when_power_returns_before_anyone_would_call():
    world, callers, truth = _world(delay_min_s=600.0, p_flicker=0.0, inside_premises_per_day=0.0)
    _script(world, [(100.0, "S01-F1-BKR", True), (400.0, "S01-F1-BKR", False)])
    world.run_to(4 * 3600.0)
    assert callers.calls == []


def test_customers_still_out_call_again_from_the_same_phone():
    world, callers, truth = _world(p_call=(1.0, 1.0, 1.0), p_again=1.0, max_calls=3, inside_premises_per_day=0.0)
    _script(world, [(100.0, "S01-F1-FU003", True)])
    world.run_to(24 * 3600.0)
    assert not truth.bad
    by_row: dict[int, list] = {}
    for c in callers.calls:
        by_row.setdefault(c.service_point, []).append(c)
    assert set(by_row) == set(_below("S01-F1-FU003").tolist())
    for calls in by_row.values():
        assert [c.reason for c in calls] == [CallReason.no_power, CallReason.again, CallReason.again]
        assert len({(c.name, c.phone, c.address) for c in calls}) == 1 and calls[0].phone


def test_the_hour_and_the_class_set_the_chance_and_the_delay():
    p = CallerParameters()
    cls, crit = np.array([0, 1, 2, 0]), np.array([False, False, False, True])
    day, day_delay = call_chance(p, cls, crit, 12.5)
    night, night_delay = call_chance(p, cls, crit, 3.0)
    assert np.all(night[:3] < day[:3]) and np.all(night_delay[:3] > day_delay[:3])
    assert night[3] == day[3] == p.p_call_critical and night_delay[3] == p.delay_median_critical_s
    assert day[3] > day.max(initial=0, where=~crit) and day_delay[3] < day_delay[:3].min()
    calls = {}
    for start in (NOON, datetime(2026, 7, 1, 3, 0)):
        world, callers, _ = _world(start=start, inside_premises_per_day=0.0, p_flicker=0.0, p_again=0.0)
        _script(world, [(10.0, "S01-F1-BKR", True), (10.0, "S01-F2-BKR", True)])
        world.run_to(8 * 3600.0)
        calls[start.hour] = len(callers.calls)
    assert calls[3] < 0.75 * calls[12]


def test_wires_down_are_called_in_by_people_nearby():
    net, topo, fuse, recloser, line = _territory()
    world, callers, truth = _world(inside_premises_per_day=0.0, wires_down_calls_mean=3.0)
    world.run_to(100.0)
    callers.report_wires_down(line, 50.0)
    world.run_to(6 * 3600.0)
    calls = [c for c in callers.calls if c.reason == CallReason.wires_down]
    assert len(calls) == len(callers.calls) >= 1 and all(c.line == line and c.time_s >= 100.0 for c in calls)
    assert all(e.data["line"] == line for e in world.events.events if e.kind == "call")


def test_the_same_seed_gives_the_same_calls_and_messages_line_for_line():
    net, topo, fuse, recloser, line = _territory()
    runs = []
    for _ in range(2):
        world = World(net, seed=9, resolve=False)
        MeterFleet(world)
        callers = Callers(world, params=CallerParameters(inside_premises_per_day=0.01, p_flicker=0.2))
        world.inject(Fault(line, permanent=True), at_s=10.0)
        _script(world, [(3 * 3600.0, fuse, False)])
        world.run_to(2 * 3600.0)
        callers.report_wires_down(line, world.now)
        world.run_to(6 * 3600.0)
        runs.append([e.to_json() for e in world.events.events])
    assert runs[0] == runs[1]
    kinds = Counter(s.split('"kind": "')[1].split('"')[0] for s in runs[0])
    assert kinds["call"] > 5 and kinds["last_gasp"] and kinds["power_restore"]
    other = World(net, seed=10, resolve=False)
    Callers(other)
    other.inject(Fault(line, permanent=True), at_s=10.0)
    other.run_to(6 * 3600.0)
    assert [e.to_json() for e in other.events.events] != runs[0]


def test_parameters_are_checked():
    with pytest.raises(ValueError, match="p_call"):
        CallerParameters(p_call=(0.2, 1.2, 0.3))
    with pytest.raises(ValueError, match="hourly_share"):
        CallerParameters(hourly_share=(1.0,) * 23)
