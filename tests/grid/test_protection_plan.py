"""The default protection scheme of a feeder without one (twin.grid.protection_plan), on the IEEE
123-bus and 13-node feeders: where the devices go, how they are set, that the validator finds
nothing new, that the power flow is unchanged, and that the protection engine clears every fault
with the device nearest above it."""

from __future__ import annotations

import numpy as np
import pytest

from tests.grid.feeders import FEEDERS_DIR, MASTERS, needs_feeders
from twin.errors import ModelError
from twin.field_devices.protection import simulate
from twin.grid import SwitchKind
from twin.grid.coordination import margin
from twin.grid.opendss import load_opendss
from twin.grid.powerflow import prepare, solve, solve_controlled
from twin.grid.protection_plan import ProtectionRule, default_protection, needs_protection, plan_protection
from twin.grid.schema import PROTECTIVE_KINDS
from twin.grid.shortcircuit import FaultType, fault_at, fault_study, thevenin
from twin.grid.tcc import FUSE_RATINGS_A, settings_from_switch
from twin.grid.topology import build_topology
from twin.grid.validate import validate

pytestmark = needs_feeders

# The IEEE 123's one- and two-phase laterals, read off its one-line diagram: the first line of each
# where it leaves a three-phase section (l25 leaves through the 25-25r regulators).
LATERALS_123 = {"l1", "l2", "l8", "l9", "l12", "l18", "l21", "l23", "l25", "l35", "l40", "l42", "l44", "l57",
                "l66", "l72", "l83", "l87", "l89", "l91", "l93", "l95", "l100", "l104", "l107"}


@pytest.fixture(scope="module")
def feeders():
    out = {}
    for key in ("123bus", "13bus"):
        net = load_opendss(FEEDERS_DIR / MASTERS[key])
        out[key] = (net, default_protection(net))
    return out


def _peak_a(net) -> dict[str, float]:
    b = solve(net).branches
    return b[b["element"].str.startswith("line.")].groupby("element")["i_amps"].max().to_dict()


def test_the_123_gets_a_breaker_at_its_head_a_recloser_on_its_trunk_and_a_fuse_on_each_lateral(feeders):
    net, out = feeders["123bus"]
    assert needs_protection(net) and not needs_protection(out)
    sw = out.switch
    new = {str(d): (SwitchKind(int(k)), line) for d, k in zip(sw.ids[len(net.switch):], sw["kind"][len(net.switch):])
           for line in [d.split("-", 1)[1]]}
    assert {line for kind, line in new.values() if kind == SwitchKind.breaker} == {"l115"}  # 149-1, past sw1
    assert {line for kind, line in new.values() if kind == SwitchKind.fuse} == LATERALS_123
    (recloser,) = [d for d, (kind, _) in new.items() if kind == SwitchKind.recloser]
    peak = _peak_a(net)
    share = peak[f"line.{new[recloser][1]}"] / peak["line.l115"]
    assert 0.4 <= share <= 0.6 and int(out.line["phases"][out.line.position(new[recloser][1])]) == 7
    old = net.switch.to_frame()
    assert sw.take(np.arange(len(net.switch))).to_frame().equals(old)  # sw1 ... sw8 untouched
    for device in new:  # each on a new bus at its line's source-side bus, the line re-pointed
        k = sw.position(device)
        line = out.line.position(new[device][1])
        assert out.line["from_bus"][line] == sw["to_bus"][k] == device
        a, b = out.bus.position(sw["from_bus"][k]), out.bus.position(device)
        assert out.bus["v_nom_v"][a] == out.bus["v_nom_v"][b]
        assert net.line["from_bus"][net.line.position(new[device][1])] == sw["from_bus"][k]
    assert bool(sw["remote"][sw.position(recloser)]) and not sw["remote"][sw.position("fu-l9")]


def test_every_one_and_two_phase_line_is_below_a_fuse_or_the_recloser(feeders):
    _, out = feeders["123bus"]
    topo = build_topology(out, normal=True)
    kinds = dict(zip(out.switch.ids.tolist(), out.switch["kind"].tolist()))
    for lid, ph in zip(out.line.ids.tolist(), out.line["phases"].tolist()):
        if bin(ph).count("1") < 3 and topo.energised[topo.bus_of(f"line.{lid}")]:
            assert kinds[topo.upstream_protective(f"line.{lid}")] in (SwitchKind.fuse, SwitchKind.recloser), lid


def test_the_settings_follow_the_peak_currents_and_coordinate(feeders):
    net, out = feeders["123bus"]
    peak = _peak_a(net)
    sw = out.switch
    zones = fault_study(out).zones.set_index("device")
    topo = build_topology(out)
    for k in range(len(net.switch), len(sw)):
        device, kind = str(sw.ids[k]), SwitchKind(int(sw["kind"][k]))
        amps = peak[f"line.{device.split('-', 1)[1]}"]
        s = settings_from_switch(int(kind), sw["curve"][k], float(sw["rated_a"][k]))
        if kind == SwitchKind.fuse:
            target = min(r for r in FUSE_RATINGS_A if r >= 1.5 * amps)
            assert amps <= s.rating_a <= target and sw["rated_a"][k] == s.rating_a and sw["curve"][k].endswith("T")
            assert s.data.min_a[0] * 1.5 <= zones.at[device, "min_a"]  # it melts for its weakest fault
        else:
            pickup = s.pickup_a if kind == SwitchKind.breaker else s.min_trip_a
            assert 1.25 * amps <= pickup <= 2.0 * amps + 10.0
            assert pickup * 1.5 <= zones.at[device, "min_a"]
        up = topo.upstream_protective(f"switch.{device}")
        if up:
            j = sw.position(up)
            upper = settings_from_switch(int(sw["kind"][j]), sw["curve"][j], float(sw["rated_a"][j]))
            grid = np.geomspace(zones.at[device, "min_a"], zones.at[device, "max_a"], 200)
            assert margin(upper, s, grid).coordinated, (up, device)
    # the breaker's time dial is the smallest that coordinates with every device below it
    breaker = sw["curve"][sw.position("bkr-l115")]
    dials = ProtectionRule().time_dials
    td = float(breaker.split("TD")[1])
    assert td > dials[0]
    lower = breaker.replace(f"TD{td:g}", f"TD{dials[dials.index(td) - 1]:g}")
    relay = settings_from_switch(int(SwitchKind.breaker), lower, np.nan)
    below = [k for k in range(len(net.switch), len(sw))
             if topo.upstream_protective(f"switch.{sw.ids[k]}") == "bkr-l115"]
    fine = [margin(relay, settings_from_switch(int(sw["kind"][k]), sw["curve"][k], np.nan),
                   np.geomspace(zones.at[sw.ids[k], "min_a"], zones.at[sw.ids[k], "max_a"], 200)).coordinated
            for k in below]
    assert SwitchKind.recloser in {SwitchKind(int(sw["kind"][k])) for k in below} and not all(fine)


@pytest.mark.parametrize("key", ["123bus", "13bus"])
def test_the_validator_finds_nothing_new(feeders, key):
    net, out = feeders[key]
    before, after = validate(net), validate(out)
    assert not after.errors, after.text(limit=10)
    assert {f.rule for f in after.findings} == {f.rule for f in before.findings}, after.text(limit=10)


@pytest.mark.parametrize("key", ["123bus", "13bus"])
def test_the_power_flow_is_unchanged(feeders, key):
    net, out = feeders[key]
    a, b = solve(net), solve(out)
    va = a.voltages.set_index(["bus", "phase"])["v_pu"]
    vb = b.voltages.set_index(["bus", "phase"])["v_pu"].reindex(va.index)
    assert float((vb - va).abs().max()) < 2e-5
    assert b.source_kw == pytest.approx(a.source_kw, abs=0.05) and b.load_kw == pytest.approx(a.load_kw, abs=0.05)
    assert solve_controlled(out).taps["tap"].tolist() == solve_controlled(net).taps["tap"].tolist()


@pytest.mark.parametrize("key", ["123bus", "13bus"])
def test_the_protection_engine_clears_every_fault_with_the_device_nearest_above(feeders, key):
    _, out = feeders[key]
    topo = build_topology(out)
    prep = prepare(out)
    th = thevenin(prep, v_prefault=prep.solve_voltages()[0])
    sw = out.switch
    protective = {int(k) for k in PROTECTIVE_KINDS}
    faults = 0
    for bus in out.bus.ids[topo.energised].tolist():
        nearest = topo.upstream_protective(f"bus.{bus}")
        v_nom = out.bus["v_nom_v"]
        if not nearest or v_nom[out.bus.position(bus)] != v_nom[out.bus.position(sw["from_bus"][sw.position(nearest)])]:
            continue  # the substation above the breaker; behind a transformer (the IEEE 123's 480 V bus 610)
        n_phases = bin(int(out.bus["phases"][out.bus.position(bus)]) & 7).count("1")
        for kind in (FaultType.slg, FaultType.ll) if n_phases > 1 else (FaultType.slg,):
            amps = fault_at(None, bus, kind, thevenin=th, topology=topo).devices.groupby("device")["i_a"].max()
            above = [r.partition(".")[2] for r in topo.path_to_source(f"bus.{bus}") if r.startswith("switch.")]
            path = [(d, settings_from_switch(int(sw["kind"][sw.position(d)]), sw["curve"][sw.position(d)], np.nan))
                    for d in reversed(above) if int(sw["kind"][sw.position(d)]) in protective]
            currents = [float(amps.get(d, 0.0)) for d, _ in path]
            permanent = simulate(path, currents, permanent=True)
            assert permanent.cleared and permanent.isolated_by == nearest and not permanent.miscoordinated, bus
            assert simulate(path, currents, permanent=False).cleared
            faults += 1
    assert faults > (200 if key == "123bus" else 20)


def test_a_protected_model_is_refused_and_bad_rules_are_errors(feeders):
    _, out = feeders["13bus"]
    with pytest.raises(ModelError) as info:
        default_protection(out)
    assert "bkr-" in info.value.message and info.value.element == out.name
    with pytest.raises(ValueError, match="recloser_share"):
        ProtectionRule(recloser_share=(0.8, 0.2))
    with pytest.raises(ValueError, match="C37.43"):
        ProtectionRule(links_a=(7,))


def test_a_heavy_lateral_is_left_to_the_devices_above(feeders):
    net, _ = feeders["123bus"]
    plan, notes = plan_protection(net, rule=ProtectionRule(links_a=(6, 8, 10, 12, 15)))
    fused = {p.line for p in plan if p.kind == SwitchKind.fuse}
    assert "l2" not in fused and "l1" in fused  # 100 kW at 2.4 kV: 46 A, more than a 15T takes
    assert any(n.startswith("lateral l2 ") for n in notes)
