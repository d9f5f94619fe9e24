"""Crews on the fused-lateral territory: shifts (no dispatch off duty, overtime, call-outs after
their delay), skills (a troubleshooter hands a broken line to a line crew), patrols the fault
indicators shorten, switching on order (and the refusal to close onto a known fault), the same
seed giving the same events."""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pytest

from tests.world.lateral import fused_lateral
from twin.field_devices.indicators import FaultIndicators
from twin.world.crews import CrewParameters, Crews, DepotRoster, OrderStatus, Shift, Skill
from twin.world.environment import World
from twin.world.events import EventKind
from twin.world.physics import Fault

NOON = datetime(2026, 7, 1, 12, 0)
RECLOSER = "S01-F1-RCL"
SPUR_FAULT = "S01-F1-L0016"  # on a tie branch below the recloser, past a fault indicator
NO_CALLOUT = {"callout_min_jobs": 10**6}


def _world(start: datetime = NOON, seed: int = 1, fci: bool = False) -> World:
    world = World(fused_lateral()[0], seed=seed, start=start, resolve=False)
    if fci:
        FaultIndicators(world)
    return world


def _steps(world: World, *kinds: EventKind) -> list[tuple[float, str, str]]:
    kinds = kinds or (EventKind.crew,)
    return [(e.time_s, e.data.get("crew", ""), e.data["action"]) for e in world.events.events
            if e.kind in kinds and "crew" in e.data]


def _at(world: World, action: str, crew: str | None = None) -> float:
    return next(t for t, c, a in _steps(world, EventKind.crew, EventKind.shift) if a == action and crew in (None, c))


def test_the_roster_shifts_and_depots():
    world = _world()
    crews = Crews(world)
    assert crews.ids.tolist() == ["S01-LC1", "S01-LC2", "S01-TS1", "S01-LC3", "S01-TS2"]
    assert crews.on_duty.tolist() == [True, True, True, False, False]  # noon: the day shift
    assert crews.duty_until_s[0] == 7 * 3600.0
    world.run_to(7 * 3600.0 + 1.0)
    assert crews.on_duty.tolist() == [False, False, False, True, True]
    assert [(t, c, a) for t, c, a in _steps(world, EventKind.shift)][:1] == [(25200.0, "S01-LC1", "off duty")]
    small = Crews(_world(), CrewParameters(depots={"S01": DepotRoster((("night", Skill.troubleshooter, 1),))}))
    assert small.ids.tolist() == ["S01-TS1"] and not small.on_duty.any()
    with pytest.raises(ValueError, match="shift 'evening'"):
        CrewParameters(roster=DepotRoster((("evening", Skill.line, 1),)))
    assert Shift("all day", 0.0, 24.0).covers(3.0) and not Shift("night", 19.0, 7.0).covers(12.0)


def test_crews_off_duty_are_not_dispatched():
    world = _world()
    Crews(world, CrewParameters(roster=DepotRoster((("night", Skill.line, 1),)), **NO_CALLOUT))
    world.inject(Fault(SPUR_FAULT, permanent=True, cause="tree"), at_s=60.0)
    world.run_to(7 * 3600.0 + 600.0)
    assert _steps(world)[0] == (7 * 3600.0, "S01-LC1", "dispatched")  # at 19:00, when the night shift starts
    assert _at(world, "on duty") == 7 * 3600.0


def test_a_backlog_calls_crews_out_and_they_come_after_the_delay():
    world = _world()
    params = CrewParameters(roster=DepotRoster((("night", Skill.line, 2),)), callout_min_jobs=1,
                            callout_delay_s=3600.0)
    Crews(world, params)
    world.inject(Fault(SPUR_FAULT, permanent=True, cause="tree"), at_s=60.0)
    world.run_to(4 * 3600.0)
    called = [e for e in world.events.of(EventKind.shift) if e.data["action"] == "called out"]
    assert [e.data["crew"] for e in called] == ["S01-LC1", "S01-LC2"]
    lockout = [e.time_s for e in world.events.of(EventKind.outage)][-1]  # the last trip's outage is sustained
    for e in called:
        assert 0.75 * 3600.0 <= e.data["eta_s"] - e.time_s <= 1.25 * 3600.0
        assert e.time_s == pytest.approx(lockout + params.sustained_s)
    first = min(e.data["eta_s"] for e in called)
    t, crew, action = _steps(world)[0]
    assert action == "dispatched" and t == pytest.approx(first, abs=1e-3)


def test_a_crew_finishes_its_job_on_overtime_and_goes_home():
    world = _world(start=datetime(2026, 7, 1, 18, 0))
    Crews(world, CrewParameters(roster=DepotRoster((("day", Skill.line, 1),)), **NO_CALLOUT))
    world.inject(Fault(SPUR_FAULT, permanent=True, cause="ice"), at_s=60.0)  # a long repair
    lateral = fused_lateral()[4]
    world.inject(Fault(lateral, permanent=True, cause="tree"), at_s=2 * 3600.0)  # 20:00
    world.run_to(14 * 3600.0)
    steps = _steps(world, EventKind.crew, EventKind.shift)
    free = _at(world, "free")
    assert free > 3600.0  # the shift ended at 19:00; the crew worked on
    home = next(e for e in world.events.of(EventKind.shift) if e.data["action"] == "off duty")
    assert home.time_s == free and home.data["overtime_min"] == pytest.approx((free - 3600.0) / 60.0, abs=0.1)
    dispatched = [t for t, _, a in steps if a == "dispatched"]
    assert dispatched == [pytest.approx(dispatched[0]), 13 * 3600.0]  # the second at 07:00, the day shift


def test_a_troubleshooter_hands_damage_beyond_it_to_a_line_crew():
    world = _world()
    Crews(world)
    world.inject(Fault(SPUR_FAULT, permanent=True, cause="wind"), at_s=60.0)
    world.run_to(12 * 3600.0)
    assert [(c, a) for _, c, a in _steps(world)] == [
        ("S01-TS1", "dispatched"), ("S01-TS1", "arrived"), ("S01-TS1", "found"), ("S01-TS1", "needs line crew"),
        ("S01-TS1", "free"), ("S01-LC1", "dispatched"), ("S01-LC1", "arrived"), ("S01-LC1", "repaired"),
        ("S01-LC1", "free")]
    close = [e for e in world.events.of(EventKind.switch) if e.data.get("by")]
    assert [(e.data["device"], e.data["by"]) for e in close] == [(RECLOSER, "S01-LC1")]
    assert not world.grid.faults and not len(world.customers_out())


def test_a_tree_contact_a_troubleshooter_repairs_itself():
    world = _world()
    Crews(world)
    world.inject(Fault(SPUR_FAULT, permanent=True, cause="tree"), at_s=60.0)
    world.run_to(12 * 3600.0)
    assert {c for _, c, _ in _steps(world)} == {"S01-TS1"} and "repaired" in [a for *_, a in _steps(world)]


@pytest.mark.parametrize("line", [SPUR_FAULT, "S01-F1-L0021", "S01-F1-L0017"])
def test_fault_indicators_shorten_the_patrol_of_the_same_fault(line):
    patrols = []
    for fci in (False, True):
        world = _world(fci=fci)
        crews = Crews(world)
        world.inject(Fault(line, permanent=True, cause="tree"), at_s=60.0)
        world.run_to(200.0)  # locked out, a crew on its way
        if fci:
            pointed = world.fault_indicators.patrol_length_m(RECLOSER, line)
            assert line in world.fault_indicators.patrol_section(RECLOSER, line)
        world.run_to(3 * 3600.0)
        patrols.append(_at(world, "found") - _at(world, "arrived"))
    whole = crews._section_length(RECLOSER)
    assert patrols[1] < patrols[0]
    assert patrols[1] / patrols[0] == pytest.approx(pointed / whole, rel=1e-9)  # the same draw, a shorter length


def test_misleading_indicators_cost_the_patrol_time():
    net = fused_lateral()[0]
    fci = net.fault_indicator
    blind = np.where(fci.ids == "S01-F1-FCI03", 1e5, fci["trip_a"])  # it cannot see the fault
    world = World(net.replace(fault_indicator=fci.with_columns(trip_a=blind)), seed=1, start=NOON, resolve=False)
    FaultIndicators(world)
    crews = Crews(world)
    world.inject(Fault(SPUR_FAULT, permanent=True, cause="tree"), at_s=60.0)
    world.run_to(200.0)
    assert SPUR_FAULT not in world.fault_indicators.patrol_section(RECLOSER, SPUR_FAULT)
    pointed = world.fault_indicators.patrol_length_m(RECLOSER, SPUR_FAULT)
    world.run_to(6 * 3600.0)
    patrol_m = (_at(world, "found") - _at(world, "arrived")) * crews.params.patrol_speed_ms
    assert patrol_m > pointed  # all it pointed to, in vain, then some of the rest


def test_a_switching_order_is_carried_out_and_reported():
    world = _world()
    crews = Crews(world)
    topo = world.grid.normal_topology()
    below = topo.customers_downstream("switch.S01-F1-SW2")
    opened = crews.order_switch(None, "S01-F1-SW2", True, by="dispatcher")
    world.run_to(3600.0)
    result = opened.value
    assert result.status == OrderStatus.done and result.crew == "S01-LC1" and result.device == "S01-F1-SW2"
    assert set(world.customers_out().tolist()) == set(below.tolist())
    switch = world.events.of(EventKind.switch)[0].data
    assert (switch["device"], switch["closed"], switch["by"]) == ("S01-F1-SW2", False, "S01-LC1")
    assert [a for _, c, a in _steps(world)] == ["ordered", "dispatched", "arrived", "reported", "free"]
    arrived = _at(world, "arrived")
    assert world.events.of(EventKind.switch)[0].time_s == pytest.approx(arrived + crews.params.switching_s)
    closed = crews.order_switch("S01-TS1", "S01-F1-SW2", False)
    world.run_to(7200.0)
    assert closed.value.status == OrderStatus.done and closed.value.crew == "S01-TS1"
    assert not len(world.customers_out())
    off = crews.order_switch("S01-TS2", "S01-F1-SW2", True)  # the night troubleshooter
    world.run_to(7300.0)
    assert off.value.status == OrderStatus.off_duty and not len(world.customers_out())


def test_a_crew_refuses_to_close_onto_a_fault_it_knows_of():
    world = _world()
    crews = Crews(world)
    world.inject(Fault(SPUR_FAULT, permanent=True, cause="tree"), at_s=60.0)
    while "found" not in [a for *_, a in _steps(world)]:
        world.run_to(world.now + 300.0)
    order = crews.order_switch(None, RECLOSER, False, by="dispatcher")
    world.run_to(world.now + 1.0)
    assert order.value.status == OrderStatus.refused and order.value.line == SPUR_FAULT
    assert world.grid.switch_open[world.grid.net.switch.position(RECLOSER)]
    refused = [e for e in world.events.of(EventKind.crew) if e.data["action"] == "refused"]
    assert len(refused) == 1 and refused[0].data["line"] == SPUR_FAULT


def test_closing_on_order_onto_a_fault_nobody_found_strikes_it_again():
    world = _world()
    crews = Crews(world, auto_dispatch=False)
    world.inject(Fault(SPUR_FAULT, permanent=True, cause="tree"), at_s=60.0)
    world.run_to(600.0)
    trips = len(world.events.of(EventKind.protection))
    order = crews.order_switch(None, RECLOSER, False)
    world.run_to(3600.0)
    assert order.value.status == OrderStatus.done
    assert len(world.events.of(EventKind.protection)) > trips  # the recloser answers the fault again
    assert world.grid.switch_open[world.grid.net.switch.position(RECLOSER)]


def _laterals(net, n: int) -> list[str]:
    """The first line below each of ``n`` fuses spread over the territory."""
    sw = net.switch
    fuses = np.flatnonzero(sw["kind"] == 3)[:: max(1, int(np.sum(sw["kind"] == 3)) // n)][:n]
    return [str(net.line.ids[np.flatnonzero(net.line["from_bus"] == sw["to_bus"][f])[0]]) for f in fuses]


def test_the_same_seed_gives_the_same_crews_byte_for_byte():
    texts = []
    for _ in range(2):
        world = _world(start=datetime(2026, 7, 1, 1, 0), seed=4, fci=True)
        crews = Crews(world, CrewParameters(callout_min_jobs=2))
        causes = ["wind", "tree", "equipment", "animal", "ice", "tree"]
        for k, line in enumerate([SPUR_FAULT] + _laterals(world.grid.net, 5)):
            world.inject(Fault(line, permanent=True, cause=causes[k]), at_s=60.0 + 60.0 * k)
        world.run_to(24 * 3600.0)
        texts.append("\n".join(e.to_json() for e in world.events.events))
    assert texts[0] == texts[1]
    assert texts[0].count('"kind": "crew"') > 30 and '"called out"' in texts[0] and '"needs line crew"' in texts[0]
    assert not crews.busy.any() and not world.grid.faults and not len(world.customers_out())


def test_a_crew_sent_to_a_fuse_dead_from_above_reports_the_open_device_above_it():
    world = _world()
    crews = Crews(world, auto_dispatch=False)
    fuse = fused_lateral()[2]
    grid = world.grid
    world.run_to(60.0)
    grid.operate(60.0, fuse, open_=True, why="test")
    grid.operate(70.0, RECLOSER, open_=True, why="test")  # locked out above the blown fuse
    grid.operate(80.0, fuse, open_=False, why="test")  # the fuse closed again: dead from the recloser
    fuse_outage = grid.outages[0]
    assert np.isnan(fuse_outage.restored_s) and fuse_outage.isolated_by == RECLOSER  # not the closed fuse
    assert grid.open_above(fuse) == RECLOSER and grid.open_above(RECLOSER) == ""
    assert crews.order_outage("S01-TS1", fuse)
    world.run_to(7200.0)
    found = [e.data for e in world.events.of(EventKind.crew) if e.data["action"] == "found"]
    assert [f["device"] for f in found] == [RECLOSER] and fuse in found[0]["status"]
