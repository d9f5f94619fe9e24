"""OpenDSS importer: the five IEEE feeders against OpenDSS's own solution, the language, errors.

Reference data: ``../shared/feeders`` (OpenDSS masters and OpenDSS's solution of each, see its
README). Tolerances: base voltages within 1 % of ``v_volts / v_pu``; impedances to 1e-9 relative.
"""

from __future__ import annotations

import csv
import json
import math
from collections import defaultdict
from functools import cache
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from twin.errors import ParseError
from twin.grid import Conn, LineKind, Network, Phase, SwitchKind, TransformerKind
from twin.grid.opendss import load_opendss, rpn
from twin.grid.opendss.lexer import tokenize

from .feeders import FEEDERS_DIR, MASTERS, needs_feeders

MILE_M = 1609.344
FT_M = 0.3048




@cache
def feeder(key: str) -> Network:
    return load_opendss(FEEDERS_DIR / MASTERS[key])


@cache
def reference_nodes(key: str) -> dict[str, dict[int, tuple[float, float]]]:
    """bus -> node -> (v_pu, v_volts) from OpenDSS's solution."""
    out: dict[str, dict[int, tuple[float, float]]] = defaultdict(dict)
    with (FEEDERS_DIR / "reference" / f"{key}_opendss_voltages.csv").open() as fh:
        for row in csv.DictReader(fh):
            out[row["bus"]][int(row["phase"])] = (float(row["v_pu"]), float(row["v_volts"]))
    return out


def nodes_of(phases: int) -> set[int]:
    """OpenDSS node numbers of a phase set: A, B, C are 1, 2, 3; legs S1, S2 are 1, 2."""
    flags = ((Phase.A, 1), (Phase.B, 2), (Phase.C, 3), (Phase.S1, 1), (Phase.S2, 2))
    return {node for flag, node in flags if phases & flag}


# ----------------------------------------------------------------------------------------------
# All five feeders against OpenDSS
# ----------------------------------------------------------------------------------------------


@needs_feeders
@pytest.mark.parametrize("key", MASTERS)
def test_bus_and_node_counts_equal_opendss(key: str) -> None:
    totals = json.loads((FEEDERS_DIR / "reference" / f"{key}_opendss_totals.json").read_text())
    summary = feeder(key).summary()
    assert (summary["buses"], summary["nodes"]) == (totals["buses"], totals["nodes"])


@needs_feeders
@pytest.mark.parametrize("key", MASTERS)
def test_every_opendss_bus_exists_with_its_phases(key: str) -> None:
    bus = feeder(key).bus
    ref = reference_nodes(key)
    assert set(bus.ids) == set(ref)
    wrong = {b: (sorted(nodes_of(int(p))), sorted(ref[b])) for b, p in zip(bus.ids, bus["phases"])
             if nodes_of(int(p)) != set(ref[b])}
    assert not wrong


@needs_feeders
@pytest.mark.parametrize("key", MASTERS)
def test_nominal_voltage_matches_opendss_base(key: str) -> None:
    """OpenDSS's base to ground is v_volts / v_pu: x sqrt(3) on primaries, x 2 on split-phase buses."""
    bus = feeder(key).bus
    ref = reference_nodes(key)
    off = {}
    for b, v_nom, phases in zip(bus.ids, bus["v_nom_v"], bus["phases"]):
        v_pu, v_volts = next(iter(ref[b].values()))
        split = bool(int(phases) & Phase.S12)
        ours = v_nom / 2.0 if split else v_nom / math.sqrt(3.0)
        if abs(ours / (v_volts / v_pu) - 1.0) > 0.01:
            off[b] = (v_nom, v_volts / v_pu)
    assert not off


@needs_feeders
@pytest.mark.parametrize("key", MASTERS)
def test_every_load_has_a_service_point(key: str) -> None:
    net = feeder(key)
    sp = net.service_point
    assert list(sp.ids) == list(net.load.ids)
    assert list(sp["load"]) == list(net.load.ids)
    assert list(sp["bus"]) == list(net.load["bus"])
    assert all(m == f"M-{i}" for m, i in zip(sp["meter"], sp.ids))
    secondary = net.bus["v_nom_v"][net.bus.index(sp["bus"].tolist())] < 1000.0
    assert all(t != "" for t in sp["transformer"][secondary])
    assert all(t == "" for t in sp["transformer"][~secondary])
    if key == "13bus":
        assert set(sp["transformer"][secondary]) == {"xfm1"}
    if key == "8500-node":  # every customer hangs off its own centre-tapped service transformer
        kinds = net.transformer["kind"][net.transformer.index(sp["transformer"].tolist())]
        assert (kinds == TransformerKind.center_tap).all()
    kw = net.load["p_w"].sum(axis=1) / 1000.0
    assert np.array_equal(sp["cls"], np.where(kw < 50.0, 0, 1))


@needs_feeders
@pytest.mark.parametrize("key", MASTERS)
def test_every_reference_is_defined(key: str) -> None:
    net = feeder(key)
    buses = set(net.bus.ids)
    for table, column in (("line", "from_bus"), ("line", "to_bus"), ("switch", "from_bus"), ("switch", "to_bus"),
                          ("load", "bus"), ("capacitor", "bus"), ("source", "bus")):
        assert set(net.table(table)[column]) <= buses
    assert {b for b in net.transformer["bus"].ravel() if b} <= buses
    assert set(net.line["code"]) <= set(net.line_code.ids)
    assert set(net.regulator["transformer"]) <= set(net.transformer.ids)
    assert set(net.cap_control["capacitor"]) <= set(net.capacitor.ids)


# ----------------------------------------------------------------------------------------------
# IEEE 13-bus
# ----------------------------------------------------------------------------------------------


@needs_feeders
def test_13bus_element_counts_and_load() -> None:
    s = feeder("13bus").summary()
    counts = {k: s[k] for k in ("sources", "lines", "switches", "transformers", "regulators", "capacitors", "loads")}
    assert counts == {"sources": 1, "lines": 11, "switches": 1, "transformers": 5, "regulators": 3, "capacitors": 2,
                      "loads": 15}
    assert s["load_kw"] == pytest.approx(3466.0)
    assert s["load_kvar"] == pytest.approx(2102.0)
    assert s["capacitor_kvar"] == pytest.approx(700.0)
    net = feeder("13bus")
    assert sorted(net.transformer.ids) == ["reg1", "reg2", "reg3", "sub", "xfm1"]
    assert net.name == "IEEE13Nodeckt"
    assert net.voltage_bases_v == (115000.0, 4160.0, 480.0)


@needs_feeders
def test_13bus_line_650632_impedance() -> None:
    net = feeder("13bus")
    line = net.line.row("650632")
    assert (line["from_bus"], line["to_bus"], line["phases"]) == ("rg60", "632", Phase.ABC)
    assert line["length_m"] == pytest.approx(2000 * FT_M)
    code = net.line_code.row(line["code"])
    z_aa = complex(code["r_ohm_per_m"][0][0], code["x_ohm_per_m"][0][0]) * line["length_m"]
    assert z_aa == pytest.approx(complex(0.3465, 1.0179) * 2000 / 5280, rel=1e-9)
    # mtx601 gives no cmatrix: OpenDSS keeps its default C1 = 3.4, C0 = 1.6 nF per unit length
    b_self = 2 * math.pi * 60 * (2 * 3.4 + 1.6) / 3 * 1e-9 / MILE_M
    assert code["b_s_per_m"][0][0] == pytest.approx(b_self)


@needs_feeders
def test_13bus_line_632645_on_phases_cb_uses_a_permuted_code() -> None:
    net = feeder("13bus")
    line = net.line.row("632645")
    assert line["phases"] == Phase.B | Phase.C
    assert line["code"] == "mtx603@CB"
    code = net.line_code.row("mtx603@CB")
    assert code["n_phases"] == 2
    r = np.array(code["r_ohm_per_m"]) * MILE_M
    # mtx603 rows are the line's conductors C, B (1.3238, 1.3294); in slot order B comes first
    assert r[:2, :2] == pytest.approx(np.array([[1.3294, 0.2066], [0.2066, 1.3238]]))
    assert not r[2].any() and not r[:, 2].any()
    assert net.line_code.row("mtx603")["r_ohm_per_m"][0][0] * MILE_M == pytest.approx(1.3238)


@needs_feeders
def test_13bus_delta_loads_sit_on_branch_slots() -> None:
    load = feeder("13bus").load
    l646 = load.row("646")  # 646.2.3: branch B-C
    assert (l646["conn"], l646["phases"]) == (Conn.delta, Phase.B | Phase.C)
    assert l646["p_w"] == pytest.approx([0.0, 230e3, 0.0])
    assert l646["q_var"] == pytest.approx([0.0, 132e3, 0.0])
    assert l646["zip_p"] == [1.0, 0.0, 0.0]  # model 2, constant impedance
    assert load.row("692")["p_w"] == pytest.approx([0.0, 0.0, 170e3])  # 692.3.1: branch C-A
    assert load.row("692")["zip_p"] == [0.0, 1.0, 0.0]  # model 5, constant current
    l671 = load.row("671")  # 3-phase delta, split over AB, BC, CA
    assert l671["p_w"] == pytest.approx([385e3] * 3)
    assert load.row("634a")["v_rated_v"] == pytest.approx(277.0)


@needs_feeders
def test_13bus_source_switch_regulators() -> None:
    net = feeder("13bus")
    src = net.source.row("source")
    assert (src["bus"], src["v_nom_v"], src["v_pu"]) == ("sourcebus", 115e3, 1.0001)
    assert src["angle_rad"] == pytest.approx(math.radians(30))
    x1 = 115.0**2 / 20000 / math.sqrt(1 + 1 / 16)  # MVAsc3 = 20000 MVA, X1/R1 = 4
    assert (src["r1_ohm"], src["x1_ohm"]) == pytest.approx((x1 / 4, x1))
    sw = net.switch.row("671692")
    assert (sw["from_bus"], sw["to_bus"], sw["kind"], sw["open"]) == ("671", "692", SwitchKind.load_break_switch,
                                                                      False)
    reg = net.regulator.row("reg2")
    assert (reg["transformer"], reg["winding"], reg["v_set_v"], reg["band_v"], reg["pt_ratio"]) == (
        "reg2", 2, 122.0, 2.0, 20.0)
    assert (reg["ct_primary_a"], reg["ldc_r_v"], reg["ldc_x_v"], reg["phase"]) == (700.0, 3.0, 9.0, 1)
    sub = net.transformer.row("sub")
    assert sub["x_hl_pct"] == pytest.approx(0.008)  # XHL=(8 1000 /)
    assert sub["conn"][:2] == [Conn.delta, Conn.wye]
    reg1 = net.transformer.row("reg1")
    assert reg1["kind"] == TransformerKind.single_phase
    assert reg1["r_pct"][:2] == pytest.approx([0.005, 0.005])  # %LoadLoss=0.01 split over windings 1, 2
    assert reg1["bank"] == "reg1"
    cap2 = net.capacitor.row("cap2")
    assert cap2["q_rated_var"] == pytest.approx([0.0, 0.0, 100e3])


# ----------------------------------------------------------------------------------------------
# IEEE 34, 37 and 123-bus
# ----------------------------------------------------------------------------------------------


@needs_feeders
def test_34bus_counts_and_one_node_delta_loads() -> None:
    net = feeder("34bus")
    s = net.summary()
    assert (s["lines"], s["transformers"], s["regulators"], s["capacitors"], s["loads"]) == (32, 8, 6, 2, 68)
    assert s["load_kw"] == pytest.approx(1769.0)
    load = net.load.row("d832_858sa")  # Conn=Delta on 832.1: OpenDSS puts it phase to ground
    assert (load["conn"], load["phases"], load["v_rated_v"]) == (Conn.wye, Phase.A, 24900.0)
    assert any("d832_858sa" in n.lower() and "ground" in n for n in net.notes)
    assert net.load.row("s860")["v_min_pu"] == 0.85  # Load.s860.vminpu=.85
    assert net.line.row("l1")["length_m"] == pytest.approx(2580 * FT_M)


@needs_feeders
def test_37bus_open_delta_regulator() -> None:
    net = feeder("37bus")
    assert all(int(p) == Phase.ABC for p in net.bus["phases"])
    t = net.transformer
    assert t.row("reg1a")["phases"][:2] == [Phase.A | Phase.B] * 2
    assert t.row("reg1c")["phases"][:2] == [Phase.B | Phase.C] * 2  # like=reg1a, buses 799.3.2
    assert t.row("reg1c")["conn"][:2] == [Conn.delta, Conn.delta]
    assert net.regulator.row("creg1c")["ldc_r_v"] == 2.799
    assert net.regulator.row("creg1c")["v_set_v"] == 122.0  # from like=creg1a
    assert net.summary()["loads"] == 30
    assert net.line.row("l1")["length_m"] == pytest.approx(960 * FT_M)  # unitless taken as kft
    assert any("no length units" in n for n in net.notes)


@needs_feeders
def test_123bus_switches_regulators_and_loads() -> None:
    net = feeder("123bus")
    s = net.summary()
    assert (s["lines"], s["switches"], s["transformers"], s["regulators"], s["capacitors"], s["loads"]) == (
        118, 8, 8, 7, 4, 91)
    sw = net.switch
    assert list(sw.ids) == [f"sw{k}" for k in range(1, 9)]
    # Sw7 and Sw8 are the feeder's ties, modelled in the file as closed stubs to open-ended buses
    assert not sw["open"].any() and not sw["normal_open"].any()
    assert sw.row("sw7")["to_bus"] == "300_open"
    assert sw.row("sw8")["phases"] == Phase.A
    creg4b = net.regulator.row("creg4b")
    assert (creg4b["transformer"], creg4b["v_set_v"], creg4b["ldc_r_v"], creg4b["phase"]) == ("reg4b", 124.0, 1.4, 1)
    assert s["load_kw"] == pytest.approx(3490.0)


# ----------------------------------------------------------------------------------------------
# IEEE 8500-node
# ----------------------------------------------------------------------------------------------


@needs_feeders
def test_8500_centre_tap_transformers_and_split_phase_buses() -> None:
    net = feeder("8500-node")
    t = net.transformer
    ct = t["kind"] == TransformerKind.center_tap
    assert int(ct.sum()) == 1177
    assert len(t) == 1190  # + substation, 3 feeder regulators, 9 line regulators
    row = t.row("t21396254a")  # CT15: 7.2 kV / 120 V / 120 V on L2804253.1
    assert row["bus"] == ["l2804253", "x2804253a", "x2804253a"]
    assert row["phases"] == [Phase.A, Phase.S1, Phase.S2]
    assert row["conn"] == [Conn.wye] * 3
    assert row["v_rated_v"] == [7200.0, 120.0, 120.0]
    assert row["s_rated_va"] == [15e3] * 3
    assert row["r_pct"] == [0.6, 1.2, 1.2]
    assert (row["x_hl_pct"], row["x_ht_pct"], row["x_lt_pct"], row["imag_pct"]) == (2.04, 2.04, 1.36, 0.5)
    bus = net.bus
    split = (bus["phases"] & Phase.S12) != 0
    assert int(split.sum()) == 2 * 1177  # each CT secondary X... and its service bus SX...
    assert np.all(bus["phases"][split] == Phase.S12)
    assert np.all(bus["v_nom_v"][split] == 240.0)
    assert all(b.startswith(("x", "sx")) for b in bus.ids[split])


@needs_feeders
def test_8500_triplex_lines_and_split_phase_loads() -> None:
    net = feeder("8500-node")
    tpx = net.line.row("tpx138236b0")
    assert (tpx["kind"], tpx["phases"], tpx["code"]) == (LineKind.triplex, Phase.S12, "4/0triplex")
    assert tpx["length_m"] == pytest.approx(50 * FT_M)
    assert int((net.line["kind"] == LineKind.triplex).sum()) == 1177
    load = net.load.row("138236b0")  # phases=2 kv=0.208 kW=3.89 pf=0.97 on SX2673305B.1.2
    assert (load["bus"], load["phases"], load["conn"]) == ("sx2673305b", Phase.S12, Conn.wye)
    assert load["p_w"] == pytest.approx([1945.0, 1945.0, 0.0])
    assert load["v_rated_v"] / 2 == pytest.approx(208.0 / math.sqrt(3))  # each leg at 120 V
    assert load["v_min_pu"] == 0.88
    s = net.summary()
    assert s["loads"] == 1177
    assert s["load_kw"] == pytest.approx(10773.17)


@needs_feeders
def test_8500_reactor_switches_and_controls() -> None:
    net = feeder("8500-node")
    reactor = net.line.row("hvmv_sub_hsb")
    assert (reactor["kind"], reactor["length_m"], reactor["from_bus"]) == (LineKind.reactor, 1.0, "sourcebus")
    x = (1.051 - (0.88 - 0.001 * 3)) * (115 / 12.47) ** 2
    assert net.line_code.row(reactor["code"])["x_ohm_per_m"][1][1] == pytest.approx(x)
    sw = net.switch
    assert len(sw) == 43
    assert sorted(sw.ids[sw["normal_open"]]) == ["v7995_48332_sw", "wd701_48332_sw", "wf586_48332_sw",
                                                 "wf856_48332_sw", "wg127_48332_sw"]  # enabled=False in lines.dss
    assert np.array_equal(sw["open"], sw["normal_open"])
    s = net.summary()
    assert (s["regulators"], s["capacitors"], len(net.cap_control)) == (12, 10, 9)
    cc = net.cap_control.row("capbank2a_ctrl")
    assert (cc["capacitor"], cc["element"], cc["on_value"], cc["off_value"]) == (
        "capbank2a", "line.cap_1a", 150e3, -225e3)  # kvar control: kvar -> var
    assert (cc["v_min_v"], cc["v_max_v"], cc["voltage_override"], cc["delay_off_s"]) == (7110.0, 7740.0, True, 100.0)
    assert net.capacitor.row("capbank3")["q_rated_var"] == pytest.approx([300e3] * 3)
    assert net.transformer.row("vreg2_a")["tap_max_pu"] == 1.1


# ----------------------------------------------------------------------------------------------
# Element by element against OpenDSS itself (dss-python, the 'bench' extra), when installed
# ----------------------------------------------------------------------------------------------


@needs_feeders
@pytest.mark.parametrize("key", MASTERS)
def test_elements_match_opendss(key: str) -> None:
    """Total line R, X, C; transformer ratings; loads; capacitors; regulators; bus bases (1e-9)."""
    dss = pytest.importorskip("dss", reason="dss-python not installed (pip install -e .[bench])").DSS
    net = feeder(key)
    dss.Text.Command = "clear"
    dss.Text.Command = f'compile "{FEEDERS_DIR / MASTERS[key]}"'
    circuit = dss.ActiveCircuit
    lines, ours = circuit.Lines, net.line
    k = lines.First
    while k:
        if ours.get(lines.Name) is not None:
            n = lines.Phases
            circuit.SetActiveElement(f"Line.{lines.Name}")
            order = np.argsort(list(circuit.ActiveCktElement.NodeOrder)[:n])
            row = ours.row(lines.Name)
            code = net.line_code.row(row["code"])
            for mine, theirs, scale in (("r_ohm_per_m", lines.Rmatrix, 1.0), ("x_ohm_per_m", lines.Xmatrix, 1.0),
                                        ("b_s_per_m", lines.Cmatrix, 2 * math.pi * 60 * 1e-9)):
                expected = (np.reshape(theirs, (n, n)) * lines.Length * scale)[np.ix_(order, order)]
                got = np.array(code[mine])[:n, :n] * row["length_m"]
                np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-12, err_msg=f"line {lines.Name} {mine}")
        k = lines.Next
    xfmrs = circuit.Transformers
    k = xfmrs.First
    while k:
        row = net.transformer.row(xfmrs.Name)
        for w in range(xfmrs.NumWindings):
            xfmrs.Wdg = w + 1
            assert (row["v_rated_v"][w], row["s_rated_va"][w]) == pytest.approx((xfmrs.kV * 1e3, xfmrs.kVA * 1e3))
            assert row["r_pct"][w] == pytest.approx(xfmrs.R)
        assert (row["x_hl_pct"], row["tap_min_pu"], row["tap_max_pu"]) == pytest.approx(
            (xfmrs.Xhl, xfmrs.MinTap, xfmrs.MaxTap))
        k = xfmrs.Next
    loads = circuit.Loads
    k = loads.First
    while k:
        row = net.load.row(loads.Name)
        assert (sum(row["p_w"]), sum(row["q_var"])) == pytest.approx((loads.kW * 1e3, loads.kvar * 1e3))
        k = loads.Next
    caps = circuit.Capacitors
    k = caps.First
    while k:
        assert sum(net.capacitor.row(caps.Name)["q_rated_var"]) == pytest.approx(caps.kvar * 1e3)
        k = caps.Next
    regs = circuit.RegControls
    k = regs.First
    while k:
        row = net.regulator.row(regs.Name)
        assert (row["v_set_v"], row["band_v"], row["pt_ratio"], row["ct_primary_a"], row["ldc_r_v"],
                row["ldc_x_v"]) == pytest.approx((regs.ForwardVreg, regs.ForwardBand, regs.PTratio, regs.CTPrimary,
                                                  regs.ForwardR, regs.ForwardX))
        k = regs.Next
    for bus, v_nom, phases in zip(net.bus.ids, net.bus["v_nom_v"], net.bus["phases"]):
        circuit.SetActiveBus(bus)
        to_ground = v_nom / 2 if int(phases) & Phase.S12 else v_nom / math.sqrt(3)
        assert to_ground == pytest.approx(circuit.ActiveBus.kVBase * 1e3, rel=1e-3)


# ----------------------------------------------------------------------------------------------
# Values: RPN, arrays, matrices
# ----------------------------------------------------------------------------------------------


def test_rpn_arithmetic() -> None:
    assert rpn.number("8 1000 /", quoted=True) == pytest.approx(0.008)
    assert rpn.evaluate("1.051 0.88 0.001 3 * - - 115 12.47 / sqr *") == pytest.approx(
        (1.051 - 0.877) * (115 / 12.47) ** 2)
    assert rpn.evaluate("0.00625 12 * 1 +") == pytest.approx(1.075)
    assert rpn.evaluate("156 1.25 *") == pytest.approx(195.0)
    assert rpn.evaluate("30 sin") == pytest.approx(0.5)  # degrees, as OpenDSS
    assert rpn.evaluate("2 3 ^ 1 swap -") == pytest.approx(-7.0)
    assert rpn.evaluate("pi 2 /") == pytest.approx(math.pi / 2)
    assert rpn.number("7.2", quoted=True) == 7.2
    assert rpn.number(".85") == 0.85
    assert rpn.number("1e-4") == 1e-4


@pytest.mark.parametrize("expr", ["1 +", "1 2", "1 0 /", "1 foo *", ""])
def test_rpn_errors(expr: str) -> None:
    with pytest.raises(rpn.ValueSyntaxError):
        rpn.number(expr, quoted=True)


def test_arrays_and_matrices() -> None:
    assert rpn.numbers("1666 1666") == [1666.0, 1666.0]
    assert rpn.numbers("7.2, 7.2") == [7.2, 7.2]
    assert rpn.numbers("[{2 3 *} 1]") == [6.0, 1.0]
    lower = rpn.matrix("0.3465 | 0.1560 0.3375 | 0.1580 0.1535 0.3414", 3)
    full = rpn.matrix("0.3465 0.1560 0.1580 | 0.1560 0.3375 0.1535 | 0.1580 0.1535 0.3414", 3)
    flat = rpn.matrix("0.3465 0.1560 0.3375 0.1580 0.1535 0.3414", 3)
    assert np.array_equal(lower, full) and np.array_equal(lower, flat)
    assert np.array_equal(lower, lower.T) and lower[2, 0] == 0.1580
    with pytest.raises(rpn.ValueSyntaxError):
        rpn.matrix("1 | 2", 3)
    with pytest.raises(rpn.ValueSyntaxError):
        rpn.matrix("1 2", 3)


def test_tokenize_follows_the_opendss_parser() -> None:
    params, problem = tokenize("~ rmatrix = (0.3465 | 0.1560 0.3375) units=mi ! comment")
    assert problem == ""
    assert [(p.name, p.text, p.quoted) for p in params] == [
        ("", "~", False), ("rmatrix", "0.3465 | 0.1560 0.3375", True), ("units", "mi", False)]
    params, _ = tokenize("New Line.X R1=1 1 1 1 // rest")
    assert [(p.name, p.text) for p in params] == [("", "New"), ("", "Line.X"), ("R1", "1"), ("", "1"), ("", "1"),
                                                  ("", "1")]
    assert tokenize("kvs=(7.2 , 7.2")[1].startswith("unbalanced '('")
    assert tokenize("x = ")[1] == "'x=' has no value"


# ----------------------------------------------------------------------------------------------
# The language on small scripts
# ----------------------------------------------------------------------------------------------

SOURCE = "Clear\nNew Circuit.t basekv=12.47 bus1=src\n"


def load_text(tmp_path: Path, text: str, *, name: str = "master.dss", **files: str) -> Network:
    for other, body in files.items():
        (tmp_path / other).write_text(body)
    (tmp_path / name).write_text(text)
    return load_opendss(tmp_path / name)


def test_positional_values_follow_the_property_order(tmp_path: Path) -> None:
    """``R1=1 1 1 1`` (8500 switches) sets r1, x1, r0, x0; ``NormAmps=580 {580 1.25 *}`` sets emergamps."""
    net = load_text(tmp_path, SOURCE + (
        "New Linecode.tp nphases=1 r1=0.1 x1=0.2 units=kft\n"
        "~ NormAmps=580 {580 1.25 *}\n"
        "New Line.a src b linecode=tp 2 units=kft\n"            # bus1, bus2, linecode, length positionally
        "New Line.b bus1=b bus2=c R1=1 2 3 4 length=1 units=km\n"))
    code = net.line_code.row("tp")
    assert (code["rated_a"], code["emerg_a"]) == (580.0, 725.0)
    a = net.line.row("a")
    assert (a["from_bus"], a["to_bus"], a["length_m"]) == ("src", "b", pytest.approx(2 * 304.8))
    b_code = net.line_code.row(net.line.row("b")["code"])
    zs = (2 * complex(1, 2) + complex(3, 4)) / 3 / 1000.0  # ohm per m from r1, x1, r0, x0 per km
    assert complex(b_code["r_ohm_per_m"][0][0], b_code["x_ohm_per_m"][0][0]) == pytest.approx(zs)


def test_like_edit_and_property_shortcut(tmp_path: Path) -> None:
    net = load_text(tmp_path, SOURCE + (
        "New Load.a bus1=src.1 phases=1 kv=7.2 kw=10 kvar=5\n"
        "New Load.b like=a bus1=src.2\n"
        "Edit Load.b kw=20\n"               # kW after kvar: back to the power factor (0.88)
        "Load.a.vminpu=.9 vmaxpu=1.1\n"
        "Load.a.kva=50 pf=-0.8\n"))
    a, b = net.load.row("a"), net.load.row("b")
    assert (a["v_min_pu"], a["v_max_pu"]) == (0.9, 1.1)
    assert sum(a["p_w"]) == pytest.approx(40e3) and sum(a["q_var"]) == pytest.approx(-30e3)
    assert b["p_w"] == pytest.approx([0.0, 20e3, 0.0])
    assert sum(b["q_var"]) == pytest.approx(20e3 * math.sqrt(1 / 0.88**2 - 1))
    assert b["cls"] == 0


def test_redirect_comments_coordinates_and_voltage_bases(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "codes.dss").write_text("/* block\nNew Line.ignored\n*/\nNew LineCode.c nphases=3 units=ft\n")
    (tmp_path / "xy.csv").write_text("src, 1, 2\n// comment\nb 3 4\n")
    net = load_text(tmp_path, SOURCE + (
        "Redirect sub/codes.dss\n"
        "New Line.l bus1=src bus2=b linecode=c length=100 units=ft   ! one line\n"
        "New Transformer.t phases=3 windings=2 buses=[b, lv] kvs=[12.47 0.48] kvas=[500 500] xhl=5\n"
        "Set voltagebases=[12.47, 0.48]\nCalcv\nBusCoords xy.csv\nShow voltages\n"))
    bus = {b: (v, x, y) for b, v, x, y in zip(net.bus.ids, net.bus["v_nom_v"], net.bus["x"], net.bus["y"])}
    assert bus["src"] == (12470.0, 1.0, 2.0) and bus["b"] == (12470.0, 3.0, 4.0)
    assert bus["lv"][0] == 480.0 and math.isnan(bus["lv"][1])
    assert net.line.row("l")["length_m"] == pytest.approx(30.48)
    assert "ignored" not in set(net.line.ids)
    assert any("'show' ignored" in n for n in net.notes)


def test_transformer_edits_xfmrcode_and_abbreviated_commands(tmp_path: Path) -> None:
    (tmp_path / "codes.dss").write_text("New XfmrCode.ct phases=1 windings=3 kvs=[7.2 .12 .12] kvas=[25 25 25] "
                                        "%rs=[0.6 1.2 1.2] xhl=2.04 xht=2.04 xlt=1.36\n")
    net = load_text(tmp_path, SOURCE + (
        "Redir codes.dss\n"  # OpenDSS takes the first command an abbreviation starts
        "New Transformer.reg phases=1 windings=2 buses=[src.2 r.2] kvs=[7.2 7.2] kva=500 %loadloss=0.2\n"
        "Transformer.reg.Taps=[1.0 1.0625]\n"
        "Transformer.reg.wdg=2 Tap=(0.00625 2 * 1 +) maxtap=1.15\n"
        "New Transformer.ct1 XfmrCode=ct buses=[r.2 x.1.0 x.0.2]\n"
        "New Load.house bus1=x.1.2 phases=2 kv=0.208 kw=5 pf=1\n"
        "calcv\n"))
    reg = net.transformer.row("reg")
    assert reg["tap_pu"][:2] == [1.0, 1.0125]
    assert reg["s_rated_va"][:2] == [500e3, 500e3]  # kva on winding 1 sets every winding
    assert reg["r_pct"][:2] == [0.1, 0.1]
    assert reg["tap_max_pu"] == 1.15
    ct = net.transformer.row("ct1")
    assert (ct["kind"], ct["phases"], ct["v_rated_v"]) == (TransformerKind.center_tap, [Phase.B, Phase.S1, Phase.S2],
                                                          [7200.0, 120.0, 120.0])
    bus = {b: (int(p), v) for b, p, v in zip(net.bus.ids, net.bus["phases"], net.bus["v_nom_v"])}
    assert bus["x"] == (Phase.S12, 240.0)
    assert net.load.row("house")["p_w"] == pytest.approx([2500.0, 2500.0, 0.0])


def test_zip_models_and_capacitor_steps(tmp_path: Path) -> None:
    net = load_text(tmp_path, SOURCE + (
        "New Load.z bus1=src kv=12.47 kw=300 kvar=100 model=8 zipv=[0.2 0.3 0.5 0.1 0.1 0.8 0.6]\n"
        "New Load.cvr bus1=src kv=12.47 kw=30 pf=1 model=4\n"
        "New Capacitor.c bus1=src.1.2 phases=1 conn=delta kvar=[100 200] kv=12.47\n"))
    z = net.load.row("z")
    assert (z["zip_p"], z["zip_q"]) == ([0.2, 0.3, 0.5], [0.1, 0.1, 0.8])
    assert z["p_w"] == pytest.approx([100e3] * 3)
    assert net.load.row("cvr")["zip_p"] == [0.0, 1.0, 0.0]
    c = net.capacitor.row("c")
    assert (c["conn"], c["phases"], c["q_rated_var"]) == (Conn.delta, Phase.A | Phase.B, [300e3, 0.0, 0.0])


def test_fuse_splits_a_line_and_recloser_rekinds_a_switch(tmp_path: Path) -> None:
    net = load_text(tmp_path, SOURCE + (
        "New LineCode.c nphases=3 units=km\n"
        "New Line.feeder bus1=src bus2=a linecode=c length=1 units=km\n"
        "New Line.brk bus1=a bus2=b switch=y\n"
        "New Line.tie bus1=b bus2=c switch=y enabled=no\n"
        "New Fuse.f1 MonitoredObj=Line.feeder FuseCurve=tlink RatedCurrent=65\n"
        "New Recloser.r1 MonitoredObj=Line.brk\n"
        "New SwtControl.s1 SwitchedObj=Line.tie Normal=open State=closed\n"))
    sw = net.switch
    f1 = sw.row("f1")
    assert (f1["from_bus"], f1["to_bus"], f1["kind"], f1["curve"], f1["rated_a"]) == (
        "src", "src_f1", SwitchKind.fuse, "tlink", 65.0)
    assert net.line.row("feeder")["from_bus"] == "src_f1"
    assert "src_f1" in set(net.bus.ids)
    assert sw.row("brk")["kind"] == SwitchKind.recloser
    tie = sw.row("tie")
    assert (tie["normal_open"], tie["open"], tie["remote"]) == (True, False, True)


def test_switching_commands_generators_frequency_and_kron(tmp_path: Path) -> None:
    net = load_text(tmp_path, SOURCE + (
        "Set basefrequency=50\n"
        "New LineCode.k4 nphases=4 units=km rmatrix=[1 | 0.1 1 | 0.1 0.1 1 | 0.2 0.2 0.2 2] "
        "xmatrix=[2 | 0 2 | 0 0 2 | 0 0 0 2] cmatrix=[10 | 0 10 | 0 0 10 | 0 0 0 10] kron=y\n"
        "New Line.a bus1=src bus2=b linecode=k4 length=1 units=km\n"
        "New Line.s bus1=b bus2=c switch=y\n"
        "Open Line.s 1\nDisable Line.a\n"
        "New Load.off bus1=b enabled=no\n"
        "New Generator.g bus1=c kv=12.47 kw=500 pf=1\n"
        "New PVSystem.pv bus1=c kv=12.47 pmpp=300 irradiance=0.5 kva=400\n"))
    assert net.base_frequency_hz == 50.0
    code = net.line_code.row("k4")
    z = (np.array(code["r_ohm_per_m"]) + 1j * np.array(code["x_ohm_per_m"])) * 1000.0
    assert code["n_phases"] == 3
    assert z[0, 0] == pytest.approx(1 + 2j - 0.2**2 / (2 + 2j))  # the neutral (row 4) eliminated
    assert z[0, 1] == pytest.approx(0.1 - 0.2**2 / (2 + 2j))
    assert code["b_s_per_m"][0][0] == pytest.approx(2 * math.pi * 50 * 10e-9 / 1000.0)
    assert not net.line.row("a")["in_service"]
    assert (net.switch.row("s")["open"], net.switch.row("s")["normal_open"]) == (True, True)
    assert len(net.load) == 0 and any("Load.off is disabled" in n for n in net.notes)
    gen = net.generator
    assert (gen.row("g")["p_w"], gen.row("g")["q_var"], gen.row("g")["kind"]) == (500e3, 0.0, 0)
    assert (gen.row("pv")["p_w"], gen.row("pv")["s_rated_va"]) == (150e3, 400e3)


def test_unitless_length_option(tmp_path: Path) -> None:
    (tmp_path / "m.dss").write_text(SOURCE + "New LineCode.c nphases=1 r1=1 x1=1\n"
                                    "New Line.l bus1=src.1 bus2=b.1 linecode=c length=2\n")
    net = load_opendss(tmp_path / "m.dss", unitless_length="mi")
    line = net.line.row("l")
    assert line["length_m"] == pytest.approx(2 * MILE_M)
    assert net.line_code.row("c")["r_ohm_per_m"][0][0] * line["length_m"] == pytest.approx(2.0)
    with pytest.raises(ValueError):
        load_opendss(tmp_path / "m.dss", unitless_length="furlong")


# ----------------------------------------------------------------------------------------------
# Errors: the first hard error, with file, line and element
# ----------------------------------------------------------------------------------------------

ERRORS = [
    ("unknown class", "New Foo.bar x=1", "Foo.bar", "unknown element class"),
    ("unknown property", "New Line.l1 bus1=src bus2=b colour=red", "Line.l1", "unknown property 'colour'"),
    ("missing line code", "New Line.l1 bus1=src bus2=b linecode=nope", "Line.l1", "line code 'nope'"),
    ("unbalanced bracket", "New LineCode.c1 nphases=1 rmatrix=(0.1", "LineCode.c1", "unbalanced '('"),
    ("bad number", "New Load.ld1 bus1=src kW=abc", "Load.ld1", "'abc' is not a number"),
    ("bad RPN", "New Load.ld1 bus1=src kW=(1 +)", "Load.ld1", "needs 2 operand"),
    ("node above 3", "New Load.ld1 bus1=src.4 phases=1 kv=7.2", "Load.ld1", "node 4"),
    ("leg 3 on a split-phase bus", "New Transformer.ct phases=1 windings=3 buses=[src.1 x.1.0 x.0.2] "
     "kvs=[7.2 .12 .12]\nNew Load.ld1 bus1=x.3 phases=1 kv=.12", "Load.ld1", "node 3 at x"),
    ("undefined object", "Edit Line.nope length=2", "Line.nope", "is not defined"),
    ("unsupported class", "New Storage.s1 bus1=src", "Storage.s1", "cannot represent"),
    ("like of an undefined object", "New Line.l1 like=nothing", "Line.l1", "Line.nothing is not defined"),
    ("missing xfmrcode", "New Transformer.t1 XfmrCode=ct99 buses=[src a]", "Transformer.t1", "XfmrCode 'ct99'"),
    ("regcontrol without transformer", "New RegControl.r1 transformer=nope", "RegControl.r1", "'nope'"),
    ("matrix size", "New LineCode.c1 nphases=3 rmatrix=[1 2]", "LineCode.c1", "matrix has 2 values"),
    ("phases swap along a line", "New Line.l1 bus1=src.1 bus2=b.2 phases=1", "Line.l1", "different nodes"),
    ("zipv length", "New Load.ld1 bus1=src model=8 zipv=[1 0 0]", "Load.ld1", "ZIPV needs 7"),
    ("bad units", "New Line.l1 bus1=src bus2=b units=furlong", "Line.l1", "not a length unit"),
    ("shunt reactor", "New Reactor.r1 bus1=src kvar=100", "Reactor.r1", "shunt reactors"),
    ("fuse on a transformer", "New Transformer.t1 buses=[src a]\nNew Fuse.f1 MonitoredObj=Transformer.t1",
     "Fuse.f1", "on lines"),
    ("bad node text", "New Load.ld1 bus1=src.x", "Load.ld1", "node 'x'"),
    ("continuation without object", "Clear\n~ kw=3", "", "continues no object"),
]


@pytest.mark.parametrize(("case", "text", "element", "message"), ERRORS, ids=[e[0] for e in ERRORS])
def test_parse_errors_name_file_line_and_element(tmp_path: Path, case: str, text: str, element: str,
                                                 message: str) -> None:
    script = SOURCE + text + "\n"
    with pytest.raises(ParseError) as info:
        load_text(tmp_path, script)
    err = info.value
    assert err.file == str(tmp_path / "master.dss")
    assert err.line == script.count("\n")  # the last line of the script
    assert err.element == element
    assert message in err.message


def test_missing_redirect_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ParseError) as info:
        load_text(tmp_path, SOURCE + "Redirect nothere.dss\n")
    err = info.value
    assert (err.file, err.line, err.element) == (str(tmp_path / "master.dss"), 3, "Redirect nothere.dss")
    assert "nothere.dss" in err.message


def test_error_in_a_redirected_file_points_into_it(tmp_path: Path) -> None:
    with pytest.raises(ParseError) as info:
        load_text(tmp_path, SOURCE + "Redirect loads.dss\n", **{"loads.dss": "! loads\nNew Load.x bus1=src kw=1O\n"})
    err = info.value
    assert (err.file, err.line, err.element) == (str(tmp_path / "loads.dss"), 2, "Load.x")
    assert str(err).startswith(f"{tmp_path / 'loads.dss'}:2: Load.x: kw=1O")


def test_unclosed_block_comment(tmp_path: Path) -> None:
    with pytest.raises(ParseError) as info:
        load_text(tmp_path, SOURCE + "/* start\nNew Line.x\n")
    assert (info.value.line, "never closed" in info.value.message) == (3, True)


def test_missing_bus_coordinates_file(tmp_path: Path) -> None:
    with pytest.raises(ParseError) as info:
        load_text(tmp_path, SOURCE + "BusCoords xy.csv\n")
    assert (info.value.line, info.value.element) == (3, "BusCoords")


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(["New", "Line.a", "Load.b", "bus1=src", "bus2=x.1", "kw=(1 2 +)", "phases=1",
                                 "linecode=c", "=", "[", "(", "~", "Edit", "kv=", "R1=1", "1", "Set", "voltagebases=[1",
                                 "Transformer.t", "buses=[a b]", "XfmrCode=q", "conn=delta", "Capacitor.c",
                                 "model=8", "x.4", "!", "Redirect", "enabled=no", "like=a"]), max_size=12))
def test_any_script_gives_a_network_or_a_parse_error(tmp_path_factory: pytest.TempPathFactory,
                                                     words: list[str]) -> None:
    """Never a KeyError or IndexError from inside: garbage in, ParseError out."""
    folder = tmp_path_factory.mktemp("fuzz")
    (folder / "m.dss").write_text(SOURCE + "New LineCode.c nphases=1\n" + " ".join(words) + "\n")
    try:
        load_opendss(folder / "m.dss")
    except ParseError:
        pass
