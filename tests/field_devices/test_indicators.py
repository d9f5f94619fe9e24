"""Fault circuit indicators on the fused-lateral territory: the generated placement, the model's
validation, flags only on the path above a fault (against the short-circuit engine), the three
reset modes, points and communications, and the section a crew should patrol."""

from __future__ import annotations

import numpy as np
import pytest

from tests.world.lateral import fused_lateral
from twin.field_devices.devices import ControlRefused, Quality, Refusal
from twin.field_devices.indicators import FaultIndicators
from twin.grid.schema import IndicatorReset, Phase
from twin.grid.shortcircuit import FaultType, fault_at
from twin.world.environment import World
from twin.world.events import EventKind
from twin.world.physics import Fault
from twin.world.territory import generate_territory

SPUR_FAULT = "S01-F1-L0016"  # on the tie branch towards feeder 2, below the recloser
ABOVE_RCL = "S01-F1-FCI01"  # on the line past SW1, above the recloser
BELOW_RCL = "S01-F1-FCI02"  # on the line past the recloser
SPUR = "S01-F1-FCI03"  # at the start of the branch the fault is on
OTHER_SPUR = "S01-F1-FCI04"  # at the start of the other branch


def _net(**columns):
    """The territory with some of its indicators' columns replaced (``{column: {fci: value}}``)."""
    net = fused_lateral()[0]
    fci = net.fault_indicator
    changed = {}
    for column, values in columns.items():
        a = fci[column].copy()
        for i, v in values.items():
            a[fci.position(i)] = v
        changed[column] = a
    return net.replace(fault_indicator=fci.with_columns(**changed)) if changed else net


def _scene(net=None, seed: int = 1) -> tuple[World, FaultIndicators]:
    world = World(net if net is not None else _net(), seed=seed, resolve=False)
    return world, FaultIndicators(world)


def _flags(world: World) -> list[tuple[float, str, str]]:
    return [(e.time_s, e.data["fci"], e.data["action"]) for e in world.events.of(EventKind.fci)]


# -- the model ------------------------------------------------------------------------------------


def test_the_territory_places_indicators_on_trunks_branches_and_major_taps():
    net = fused_lateral()[0]
    fci, line, sw = net.fault_indicator, net.line, net.switch
    assert len(fci) and len(set(fci.ids.tolist())) == len(fci)
    rows = line.index(fci["line"])
    assert (fci["terminal"] == 1).all() and (fci["phases"] == line["phases"][rows]).all()
    assert 0 < fci["remote"].sum() < 0.5 * len(fci)  # some remote, most visual
    assert set(np.unique(fci["reset"]).tolist()) <= {int(m) for m in IndicatorReset}
    three_phase = line["phases"][rows] == int(Phase.ABC)
    assert three_phase.any() and (~three_phase).any()  # trunks and taps
    # one just past each recloser and sectionalising switch whose section is long enough
    past = {str(line.ids[k]) for k in range(len(line)) if line["from_bus"][k] in set(sw["to_bus"][sw["kind"] == 1])}
    assert past <= set(fci["line"].tolist())
    assert (fci["trip_a"] >= 100.0).all() and (fci["trip_a"][three_phase] >= 200.0).all()


def test_placing_them_changes_nothing_else_of_the_territory(monkeypatch):
    from twin.world import territory

    with_fci = generate_territory(3000, seed=8)
    assert with_fci.fault_indicator.equals(generate_territory(3000, seed=8).fault_indicator)  # bit for bit
    monkeypatch.setattr(territory._Builder, "place_fault_indicators", lambda self, rng: None)
    without = generate_territory(3000, seed=8)
    assert len(with_fci.fault_indicator) and not len(without.fault_indicator)
    assert all(getattr(with_fci, t).equals(getattr(without, t)) for t in with_fci.table_names
               if t != "fault_indicator")


def test_the_validator_knows_what_a_utility_gets_wrong():
    from twin.grid.validate import validate

    def found(net) -> set[tuple[str, str]]:
        return {(f.rule, i) for f in validate(net).findings for i in f.elements}

    net = fused_lateral()[0]
    assert not {r for r, _ in found(net) if r.startswith("fci")}
    fci, line = net.fault_indicator, net.line
    lateral = next(str(i) for i, ln in zip(fci.ids, fci["line"]) if line["phases"][line.position(ln)] != Phase.ABC)
    lacks = next(int(p) for p in (Phase.A, Phase.B, Phase.C)
                 if not p & int(line["phases"][line.position(fci["line"][fci.position(lateral)])]))
    broken = found(_net(line={ABOVE_RCL: "NO-SUCH-LINE"}, phases={lateral: lacks, SPUR: int(Phase.A)},
                        reset={BELOW_RCL: int(IndicatorReset.timed)}, reset_s={BELOW_RCL: 0.0}))
    assert ("unknown-line", ABOVE_RCL) in broken and ("fci-reset", BELOW_RCL) in broken
    assert ("fci-phases", lateral) in broken and ("fci-phases", SPUR) not in broken  # A of ABC is fine
    low = found(_net(trip_a={BELOW_RCL: 1.0, OTHER_SPUR: 1.0}))  # the power-flow check: a model without errors
    assert ("fci-pickup", BELOW_RCL) in low
    assert ("fci-pickup", OTHER_SPUR) not in low  # a branch to an open tie carries no load to trip on


# -- flags ------------------------------------------------------------------------------------------


def test_only_indicators_on_the_path_above_a_fault_flag_with_the_engines_current():
    net = fused_lateral()[0]
    fci = net.fault_indicator
    probe = World(net, resolve=False).grid
    topo = probe.normal_topology()
    lines = [str(l) for l in fci["line"]] + [SPUR_FAULT, fused_lateral()[4]]
    lines += [str(l) for l in net.line.ids[::97] if net.line["kind"][net.line.position(str(l))] != 2]
    checked = 0
    for line in dict.fromkeys(lines):
        for kind in (FaultType.slg, FaultType.three_phase):
            world, indicators = _scene()
            fault = Fault(line, kind, permanent=True, location=0.7)
            world.inject(fault, at_s=1.0)
            world.run_to(1.001)
            bus = world.grid.fault_bus(fault)
            b = net.bus.position(bus)
            if bin(int(net.bus["phases"][b]) & 7).count("1") < 2:  # a one-phase section: to ground
                kind = FaultType.slg
            amps = fault_at(None, bus, kind, thevenin=probe.fault_analysis(bus), topology=topo).currents
            path = {r[5:] for r in topo.path_to_source(f"line.{line}") if r.startswith("line.")}
            expected = set()
            for k in range(len(fci)):
                sensed = amps[[(int(fci["phases"][k]) >> (p - 1)) & 1 == 1 for p in amps["phase"]]]["i_a"]
                if fci["line"][k] in path and len(sensed) and sensed.max() > fci["trip_a"][k]:
                    expected.add(str(fci.ids[k]))
            assert {i for i, _ in indicators.flagged()} == expected, (line, kind)
            checked += len(expected)
    assert checked > 20


def test_the_flags_of_a_fault_on_a_branch_and_of_one_on_a_dead_section():
    world, indicators = _scene()
    world.inject(Fault(SPUR_FAULT, permanent=True), at_s=10.0)
    world.run_to(11.0)
    assert {i for i, _ in indicators.flagged()} == {ABOVE_RCL, BELOW_RCL, SPUR}  # not the other branch
    amps = [e.data["amps"] for e in world.events.of(EventKind.fci)]
    assert len(set(amps)) == 1 and amps[0] > 1000.0  # one radial path, one current
    world, indicators = _scene()
    world.grid.operate(0.0, "S01-F1-RCL", open_=True, why="test")
    world.inject(Fault(SPUR_FAULT, permanent=True), at_s=10.0)
    world.run_to(20.0)
    assert indicators.flagged() == [] and not world.events.of(EventKind.fci)


def test_a_pickup_above_the_fault_current_does_not_flag():
    world, indicators = _scene(_net(trip_a={SPUR: 1e5}))
    world.inject(Fault(SPUR_FAULT, permanent=True), at_s=10.0)
    world.run_to(11.0)
    assert {i for i, _ in indicators.flagged()} == {ABOVE_RCL, BELOW_RCL}


# -- resets -----------------------------------------------------------------------------------------


def test_voltage_timed_and_manual_resets():
    voltage, timed, manual = int(IndicatorReset.voltage), int(IndicatorReset.timed), int(IndicatorReset.manual)
    net = _net(reset={ABOVE_RCL: voltage, BELOW_RCL: voltage, SPUR: timed, OTHER_SPUR: manual},
               reset_s={ABOVE_RCL: 60.0, BELOW_RCL: 30.0, SPUR: 7200.0})
    world, indicators = _scene(net)
    world.inject(Fault(SPUR_FAULT, permanent=True), at_s=10.0)
    world.run_to(3600.0)
    # above the recloser voltage never went: 60 s after the flag; below it the section stays dead
    assert _flags(world)[3:] == [(70.0, ABOVE_RCL, "reset")]
    assert {i for i, _ in indicators.flagged()} == {BELOW_RCL, SPUR}
    world.grid.repair(world.now, SPUR_FAULT)
    world.grid.operate(world.now, "S01-F1-RCL", open_=False, why="test")
    world.run_to(7300.0)
    assert _flags(world)[4:] == [(3630.0, BELOW_RCL, "reset"), (7210.0, SPUR, "reset")]
    # manual: only by hand
    world.inject(Fault("S01-F1-L0020", permanent=False), at_s=7400.0)
    world.run_to(7400.0 + 86400.0)
    assert OTHER_SPUR in {i for i, _ in indicators.flagged()}
    with pytest.raises(ControlRefused) as refused:
        indicators.operate(OTHER_SPUR, "reset")  # a visual one: SCADA cannot
    assert refused.value.reason == Refusal.not_remote
    indicators.operate(OTHER_SPUR, "reset", by="S01-TS1")
    assert OTHER_SPUR not in {i for i, _ in indicators.flagged()}
    last = world.events.of(EventKind.fci)[-1].data
    assert (last["fci"], last["action"], last["why"]) == (OTHER_SPUR, "reset", "reset by S01-TS1")


def test_a_break_in_the_voltage_restarts_the_voltage_reset():
    world, indicators = _scene(_net(reset={ABOVE_RCL: int(IndicatorReset.voltage)}, reset_s={ABOVE_RCL: 600.0}))
    world.inject(Fault(SPUR_FAULT, permanent=True), at_s=10.0)
    world.run_to(300.0)
    world.grid.operate(300.0, "S01-F1-SW1", open_=True, why="test")  # dead above the indicator
    world.run_to(1000.0)
    assert ABOVE_RCL in {i for i, _ in indicators.flagged()}
    world.grid.operate(1000.0, "S01-F1-SW1", open_=False, why="test")
    world.run_to(2000.0)
    assert (1600.0, ABOVE_RCL, "reset") in _flags(world)


# -- points and communications ------------------------------------------------------------------------


def test_points_and_their_quality_through_the_indicators_own_comms():
    world, indicators = _scene(_net(remote={BELOW_RCL: True, SPUR: False}))
    assert {p.name for p in indicators.read([BELOW_RCL])} == {"fault", "status", "remote"}
    assert indicators.point(BELOW_RCL, "fault").quality == Quality.good
    assert indicators.point(SPUR, "fault").quality == Quality.manual  # visual: read at the pole
    assert indicators.point(BELOW_RCL, "status").value == "live"
    assert len(indicators.set_comms([BELOW_RCL, SPUR], up=False, now=5.0)) == 1  # a visual one has no modem
    world.inject(Fault(SPUR_FAULT, permanent=True), at_s=10.0)
    world.run_to(100.0)
    stale = indicators.point(BELOW_RCL, "fault")
    assert (stale.value, stale.quality, stale.time_s) == (False, Quality.comms_failed, 5.0)
    with pytest.raises(ControlRefused) as refused:
        indicators.operate(BELOW_RCL, "reset")
    assert refused.value.reason == Refusal.unreachable
    spur = indicators.point(SPUR, "fault")
    assert (spur.value, spur.quality) == (True, Quality.manual)
    assert indicators.point(SPUR, "status").value == "dead"
    xy = (float(indicators.x[indicators._pos[BELOW_RCL]]), float(indicators.y[indicators._pos[BELOW_RCL]]), 1.0)
    assert len(indicators.set_comms(xy, up=True)) == 1
    now = indicators.point(BELOW_RCL, "fault")
    assert (now.value, now.quality, now.time_s) == (True, Quality.good, 100.0)
    indicators.operate(BELOW_RCL, "reset")  # SCADA resets a remote one
    assert BELOW_RCL not in {i for i, _ in indicators.flagged()}


# -- what a crew should patrol ---------------------------------------------------------------------


def _lines_below(topo, net, line: str) -> set[str]:
    """The line and every line below it (normal configuration)."""
    below = set(net.bus.ids[topo.buses_below(f"line.{line}")].tolist())
    return {line} | {str(l) for l, b in zip(net.line.ids, net.line["to_bus"]) if b in below}


def test_patrol_section_lies_below_the_last_flag_and_above_the_first_unflagged():
    world, indicators = _scene()
    net, topo = world.grid.net, world.grid.normal_topology()
    world.inject(Fault(SPUR_FAULT, permanent=True), at_s=10.0)
    world.run_to(600.0)
    fci = net.fault_indicator
    spur_line = str(fci["line"][fci.position(SPUR)])
    expected = _lines_below(topo, net, spur_line)
    for k in range(len(fci)):  # less what the unflagged indicators below it clear
        if fci["line"][k] in expected and fci["line"][k] != spur_line and not indicators.flag[k]:
            expected -= _lines_below(topo, net, str(fci["line"][k]))
    got = indicators.patrol_section("S01-F1-RCL", SPUR_FAULT)
    assert set(got) == expected and SPUR_FAULT in got
    below = set(net.bus.ids[topo.buses_below("switch.S01-F1-RCL")].tolist())
    whole = net.line["length_m"][np.isin(net.line["to_bus"], list(below))].sum()
    assert 0 < indicators.patrol_length_m("S01-F1-RCL", SPUR_FAULT) < 0.2 * whole
    # a pickup above the fault current misleads: the branch it is on looks clear
    world2, indicators2 = _scene(_net(trip_a={SPUR: 1e5}))
    world2.inject(Fault(SPUR_FAULT, permanent=True), at_s=10.0)
    world2.run_to(600.0)
    assert SPUR_FAULT not in indicators2.patrol_section("S01-F1-RCL", SPUR_FAULT)
    # two faults, one on each branch: both branches
    world3, indicators3 = _scene()
    other = str(fci["line"][fci.position(OTHER_SPUR)])
    world3.inject(Fault(SPUR_FAULT, permanent=True), at_s=10.0)
    world3.inject(Fault(other, permanent=True), at_s=10.0)
    world3.run_to(600.0)
    assert {SPUR, OTHER_SPUR} <= {i for i, _ in indicators3.flagged()}
    both = _lines_below(topo, net, spur_line) | _lines_below(topo, net, other)
    assert set(indicators3.patrol_section("S01-F1-RCL", SPUR_FAULT)) == both


def test_a_fault_below_a_fuse_and_the_lateral_indicator():
    net, topo, fuse, recloser, line = fused_lateral()
    world, indicators = _scene()
    world.inject(Fault(line, permanent=True), at_s=10.0)
    world.run_to(600.0)
    section = indicators.patrol_section(fuse, line)
    assert line in section
    below_fuse = {str(l) for l, b in zip(net.line.ids, net.line["to_bus"])
                  if b in set(net.bus.ids[topo.buses_below(f"switch.{fuse}")].tolist())}
    assert set(section) <= below_fuse
