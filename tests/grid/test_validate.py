"""The model validator: each rule fires on a small broken network and stays quiet on a sound one."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from twin.errors import ModelError, ParseError
from twin.grid import SCHEMAS, Conn, LineKind, Network, Phase, SwitchKind, Table, TransformerKind
from twin.grid.validate import Finding, Report, Severity, validate_path
from twin.grid.validate import validate as validate_all
from twin.grid.validate.cli import validate_command
from twin.grid.validate.context import line_to_line_v

from .nets import code


def validate(net: Network, **kw: Any) -> Report:
    """The model and topology rules alone: these tests are about them (the power-flow rules have
    their own tests in test_validate_powerflow.py)."""
    return validate_all(net, power_flow=False, **kw)

SQ3 = np.sqrt(3.0)


def one_phase_code(id_: str = "c1", r: float = 4e-4, x: float = 5e-4) -> dict[str, Any]:
    m = np.zeros((3, 3))
    return {"id": id_, "n_phases": 1, "r_ohm_per_m": m + np.diag([r, 0, 0]), "x_ohm_per_m": m + np.diag([x, 0, 0])}


def meshed_code(id_: str = "c3") -> dict[str, Any]:
    """Three-phase code with mutual coupling (ohm/m): X/R of the sequence impedance about 2.4."""
    r = np.full((3, 3), 1.0e-4) + np.diag([2e-4] * 3)
    x = np.full((3, 3), 4.0e-4) + np.diag([3e-4] * 3)
    return {"id": id_, "n_phases": 3, "r_ohm_per_m": r, "x_ohm_per_m": x, "rated_a": 400.0}


def feeder_rows() -> dict[str, list[dict[str, Any]]]:
    """A sound little feeder: substation, breaker, regulator, main line, fused single-phase lateral,
    centre-tap service transformer with two customers, a three-phase load and a capacitor, and a
    normally open tie to a spare section fed from the main line."""
    abc, a, s12 = Phase.ABC, Phase.A, Phase.S12
    buses = [("sub", abc), ("b0", abc), ("b1", abc), ("b2", abc), ("b3", a), ("b4", a), ("b5", abc),
             ("b6", abc)]
    bus = [{"id": b, "v_nom_v": 12470.0, "phases": ph, "x": float(k), "y": 0.0} for k, (b, ph) in enumerate(buses)]
    bus.append({"id": "s1", "v_nom_v": 240.0, "phases": s12, "x": 9.0, "y": 1.0})
    return {
        "bus": bus,
        "line_code": [meshed_code(), one_phase_code()],
        "source": [{"id": "S", "bus": "sub", "v_nom_v": 12470.0, "x1_ohm": 0.5, "r1_ohm": 0.1}],
        "switch": [
            {"id": "BRK", "from_bus": "sub", "to_bus": "b0", "phases": abc, "kind": SwitchKind.breaker,
             "rated_a": 600.0, "breaking_a": 12e3},
            {"id": "F1", "from_bus": "b2", "to_bus": "b3", "phases": a, "kind": SwitchKind.fuse, "rated_a": 65.0},
            {"id": "TIE", "from_bus": "b5", "to_bus": "b6", "phases": abc, "kind": SwitchKind.load_break_switch,
             "normal_open": True, "open": True},
        ],
        "transformer": [
            {"id": "REG", "kind": TransformerKind.three_phase, "bus": ["b0", "b1", ""], "phases": [abc, abc, 0],
             "v_rated_v": [12470.0, 12470.0, np.nan], "s_rated_va": [5e6, 5e6, np.nan], "x_hl_pct": 0.01},
            {"id": "T1", "kind": TransformerKind.center_tap, "n_windings": 3, "bus": ["b4", "s1", "s1"],
             "phases": [a, Phase.S1, Phase.S2], "v_rated_v": [7200.0, 120.0, 120.0], "s_rated_va": [25e3] * 3,
             "x_hl_pct": 2.04, "x_ht_pct": 2.04, "x_lt_pct": 1.36},
        ],
        "regulator": [{"id": "RG", "transformer": "REG", "v_set_v": 122.0, "band_v": 2.0}],
        "line": [
            {"id": "L1", "from_bus": "b1", "to_bus": "b2", "phases": abc, "code": "c3", "length_m": 800.0},
            {"id": "L2", "from_bus": "b3", "to_bus": "b4", "phases": a, "code": "c1", "length_m": 300.0},
            {"id": "L3", "from_bus": "b2", "to_bus": "b5", "phases": abc, "code": "c3", "length_m": 500.0},
            {"id": "L4", "from_bus": "b6", "to_bus": "b1", "phases": abc, "code": "c3", "length_m": 400.0},
        ],
        "load": [
            {"id": "LD1", "bus": "s1", "phases": s12, "v_rated_v": 240.0, "p_w": [3e3, 0, 0]},
            {"id": "LD2", "bus": "b2", "phases": abc, "conn": Conn.delta, "v_rated_v": 12470.0,
             "p_w": [1e5, 1e5, 1e5]},
            {"id": "LD3", "bus": "b3", "phases": a, "v_rated_v": 7200.0, "p_w": [2e4, 0, 0]},
        ],
        "capacitor": [{"id": "CAP", "bus": "b2", "phases": abc, "v_rated_v": 12470.0, "q_rated_var": [1e5] * 3}],
        "cap_control": [{"id": "CC", "capacitor": "CAP", "kind": 0, "element": "line.L1"}],
        "service_point": [
            {"id": "C1", "meter": "m1", "bus": "s1", "transformer": "T1", "load": "LD1"},
            {"id": "C2", "meter": "m2", "bus": "s1", "transformer": "T1"},
            {"id": "C3", "meter": "m3", "bus": "b2"},
        ],
    }


def build(rows: dict[str, list[dict[str, Any]]], name: str = "feeder") -> Network:
    return Network.from_tables(name, {t: Table.from_rows(SCHEMAS[t], r) for t, r in rows.items()})


def feeder() -> Network:
    return build(feeder_rows())


def rule(net: Network, code_: str) -> list[Finding]:
    return validate(net).by_rule(code_)


def flagged(net: Network, code_: str) -> set[str]:
    """Element ids named by the findings of one rule."""
    return {e for f in rule(net, code_) for e in f.elements}


def edit(rows: dict[str, list[dict[str, Any]]], table: str, id_: str, **values: Any) -> dict:
    for r in rows[table]:
        if r["id"] == id_:
            r.update(values)
            return rows
    raise KeyError(id_)


# -- the sound feeder ---------------------------------------------------------------------------


def test_sound_feeder_has_no_findings():
    report = validate(feeder())
    assert report.findings == (), report.text()
    assert report.ok and report.headline() == "0 errors, 0 warnings in feeder"


def test_report_text_json_and_order():
    rows = feeder_rows()
    edit(rows, "line", "L2", length_m=0.0)
    edit(rows, "bus", "b5", x=np.nan)
    edit(rows, "switch", "F1", rated_a=np.nan)
    report = validate(build(rows, "ieee-mini"))
    text = report.text()
    assert text.startswith("1 error, 2 warnings in ieee-mini:\n  1. error line L2: length is 0 m (a line needs a "
                           "positive length; use a switch for a zero-length connection)")
    assert [f.severity for f in report.findings] == [Severity.error, Severity.warning, Severity.warning]
    assert [f.component for f in report.warnings] == ["bus", "switch"]  # then by component
    assert "Model ieee-mini:" in text and "switches     3 (breaker 1, fuse 1, load_break_switch 1)" in text
    data = json.loads(report.to_json())
    assert data["errors"] == 1 and data["warnings"] == 2
    assert data["findings"][0]["rule"] == "line-length" and data["findings"][0]["elements"] == ["L2"]
    assert data["findings"][2]["value"] is None  # NaN is null in JSON
    assert data["summary"]["switch_kinds"] == {"breaker": 1, "fuse": 1, "load_break_switch": 1}


def test_every_finding_has_a_fix_and_a_known_severity():
    rows = feeder_rows()
    rows["line"].append({"id": "L1", "from_bus": "b2", "to_bus": "nowhere", "code": "zz", "length_m": -1.0})
    rows["source"].clear()
    report = validate(build(rows))
    assert report.n_errors >= 4
    for f in report.findings:
        assert f.fix and f.message and f.rule and f.severity in (Severity.error, Severity.warning)
        assert "\n" not in f.text()


# -- schema-driven rules ------------------------------------------------------------------------


def test_duplicate_ids_per_table():
    rows = feeder_rows()
    rows["line"].append(dict(rows["line"][0]))
    rows["load"].append({"id": "L1", "bus": "b2", "phases": Phase.A, "v_rated_v": 7200.0,
                         "p_w": [1e3, 0, 0]})  # the same id in another table is fine
    found = rule(build(rows), "duplicate-id")
    assert [(f.component, f.element, f.value) for f in found] == [("line", "L1", 2)]


@pytest.mark.parametrize(
    ("table", "id_", "values", "code_", "field"),
    [
        ("line", "L1", {"to_bus": "b99"}, "dangling-bus", "to_bus"),
        ("load", "LD2", {"bus": "b99"}, "dangling-bus", "bus"),
        ("transformer", "T1", {"bus": ["b4", "s9", "s1"]}, "dangling-bus", "bus.2"),
        ("line", "L2", {"code": "c1x"}, "unknown-line-code", "code"),
        ("regulator", "RG", {"transformer": "REGX"}, "unknown-transformer", "transformer"),
        ("service_point", "C2", {"transformer": "T9"}, "unknown-transformer", "transformer"),
        ("service_point", "C1", {"load": "LD9"}, "unknown-load", "load"),
        ("cap_control", "CC", {"capacitor": "CAP2"}, "unknown-capacitor", "capacitor"),
        ("cap_control", "CC", {"element": "line.L77"}, "unknown-element", "element"),
        ("cap_control", "CC", {"element": "feeder.L1"}, "unknown-element", "element"),
    ],
)
def test_references_to_missing_elements(table, id_, values, code_, field):
    rows = edit(feeder_rows(), table, id_, **values)
    found = rule(build(rows), code_)
    assert [(f.component, f.element, f.field) for f in found] == [(table, id_, field)]
    assert found[0].severity == Severity.error


def test_references_group_by_missing_target():
    rows = feeder_rows()
    for c in ("C1", "C2"):
        edit(rows, "service_point", c, transformer="T9")
    (f,) = rule(build(rows), "unknown-transformer")
    assert f.elements == ("C1", "C2") and f.value == "T9" and f.count == 2


def test_missing_values():
    rows = feeder_rows()
    edit(rows, "transformer", "T1", x_hl_pct=np.nan, v_rated_v=[7200.0, np.nan, 120.0])
    edit(rows, "service_point", "C3", meter="")
    edit(rows, "line", "L3", phases=0)
    found = {(f.component, f.element, f.field) for f in rule(build(rows), "missing-value")}
    assert found == {("transformer", "T1", "x_hl_pct"), ("transformer", "T1", "v_rated_v.2"),
                     ("service_point", "C3", "meter"), ("line", "L3", "phases")}


def test_absent_winding_needs_no_values():
    # REG is a two-winding transformer whose third winding columns are empty: no finding (sound feeder).
    assert rule(feeder(), "missing-value") == []


def test_values_outside_declared_range():
    rows = feeder_rows()
    edit(rows, "switch", "TIE", kind=9)
    edit(rows, "transformer", "T1", tap_pu=[1.0, 3.0, 1.0])
    edit(rows, "transformer", "REG", tap_pu=[1.0, 1.0, 1.0])
    edit(rows, "source", "S", x1_ohm=-2.0)
    found = {(f.component, f.element, f.field, f.value) for f in rule(build(rows), "out-of-range")}
    assert found == {("switch", "TIE", "kind", 9), ("transformer", "T1", "tap_pu.2", 3.0),
                     ("source", "S", "x1_ohm", -2.0)}


# -- whole-model rules --------------------------------------------------------------------------


def test_no_source():
    rows = feeder_rows()
    rows["source"].clear()
    report = validate(build(rows))
    assert [f.rule for f in report.errors] == ["no-source"]  # and no flood of unreached sections


def test_source_voltage_mismatch():
    rows = edit(feeder_rows(), "source", "S", v_nom_v=4160.0)
    assert flagged(build(rows), "voltage-mismatch") == {"S"}


def test_self_loop():
    rows = edit(feeder_rows(), "line", "L3", to_bus="b2")
    assert flagged(build(rows), "self-loop") == {"L3"}


def test_phase_not_at_bus():
    rows = feeder_rows()
    edit(rows, "load", "LD3", phases=Phase.B)  # b3 has phase A only
    edit(rows, "line", "L2", phases=Phase.A | Phase.C)
    found = {(f.component, f.element) for f in rule(build(rows), "phase-not-at-bus")}
    assert found == {("load", "LD3"), ("line", "L2")}


# -- lines and line codes -----------------------------------------------------------------------


@pytest.mark.parametrize("length", [0.0, -30.0])
def test_line_length(length):
    rows = edit(feeder_rows(), "line", "L2", length_m=length)
    (f,) = rule(build(rows), "line-length")
    assert (f.element, f.value, f.severity) == ("L2", length, Severity.error)


def test_long_line_against_its_neighbours():
    rows = feeder_rows()
    edit(rows, "line", "L3", length_m=2_000_000.0)  # 2000 km beside a line of 800 m
    assert flagged(build(rows), "long-line") == {"L3"}
    assert rule(feeder(), "long-line") == []


def test_line_code_impedance():
    rows = feeder_rows()
    bad = meshed_code("neg")
    bad["r_ohm_per_m"] = bad["r_ohm_per_m"].copy()
    bad["r_ohm_per_m"][1, 1] = -2e-4
    zero_x = one_phase_code("zx", x=0.0)
    few = meshed_code("few")
    few["r_ohm_per_m"] = np.diag([1e-4, 1e-4, 0.0])
    few["x_ohm_per_m"] = np.diag([3e-4, 3e-4, 0.0])
    rows["line_code"] += [bad, zero_x, few]
    found = {(f.element, f.field, f.severity) for f in rule(build(rows), "line-code-impedance")}
    assert found == {("neg", "r_ohm_per_m", Severity.error), ("zx", "x_ohm_per_m", Severity.warning),
                     ("few", "r_ohm_per_m", Severity.error)}


def test_pure_reactance_is_fine_for_a_series_reactor():
    rows = feeder_rows()
    rows["line_code"].append(one_phase_code("xonly", r=0.0, x=1e-2))
    rows["line"].append({"id": "R1", "from_bus": "b3", "to_bus": "b8", "phases": Phase.A, "code": "xonly",
                         "length_m": 1.0, "kind": LineKind.reactor})
    rows["bus"].append({"id": "b8", "v_nom_v": 12470.0, "phases": Phase.A, "x": 0.0, "y": 0.0})
    assert validate(build(rows)).findings == ()
    rows["line"][-1]["kind"] = LineKind.overhead
    assert flagged(build(rows), "line-code-impedance") == {"xonly"}


def test_line_code_asymmetric():
    rows = feeder_rows()
    skew = meshed_code("skew")
    skew["x_ohm_per_m"] = skew["x_ohm_per_m"].copy()
    skew["x_ohm_per_m"][0, 1] *= 2
    rows["line_code"].append(skew)
    assert flagged(build(rows), "line-code-asymmetric") == {"skew"}


def test_line_code_xr_only_for_codes_in_use_by_lines():
    rows = feeder_rows()
    rows["line_code"] += [code("flat", r=1e-3, x=1e-5), code("spare", r=1e-3, x=1e-5)]  # X/R 0.01
    edit(rows, "line", "L3", code="flat")
    found = rule(build(rows), "line-code-xr")
    assert [(f.element, f.severity) for f in found] == [("flat", Severity.warning)]


def test_line_uses_more_phases_than_its_code():
    rows = edit(feeder_rows(), "line", "L3", code="c1")
    assert flagged(build(rows), "line-code-phases") == {"L3"}


# -- transformers and regulators ----------------------------------------------------------------


def test_transformer_reactance():
    rows = feeder_rows()
    edit(rows, "transformer", "REG", x_hl_pct=0.0)
    edit(rows, "transformer", "T1", x_lt_pct=-1.0)
    found = {(f.element, f.field, f.severity) for f in rule(build(rows), "transformer-reactance")}
    assert found == {("REG", "x_hl_pct", Severity.warning), ("T1", "x_lt_pct", Severity.error)}


def test_line_to_line_equivalents():
    abc, a, ab, s1, s12 = Phase.ABC, Phase.A, Phase.A | Phase.B, Phase.S1, Phase.S12
    got = line_to_line_v(
        np.array([12470.0, 7200.0, 12470.0, 120.0, 240.0, 7200.0]),
        np.array([abc, a, ab, s1, s12, a]),
        np.array([Conn.wye, Conn.wye, Conn.delta, Conn.wye, Conn.wye, Conn.delta]),
        np.array([abc, abc, abc, s12, s12, abc]),
    )
    np.testing.assert_allclose(got, [12470.0, 7200.0 * SQ3, 12470.0, 240.0, 240.0, 7200.0])


def test_transformer_winding_voltage():
    rows = feeder_rows()
    edit(rows, "transformer", "T1", v_rated_v=[7200.0, 277.0, 277.0])  # 277 V legs on a 240 V secondary
    edit(rows, "transformer", "REG", v_rated_v=[12470.0, 4160.0, np.nan])
    found = {(f.element, f.field) for f in rule(build(rows), "voltage-mismatch")}
    assert found == {("T1", "v_rated_v.2"), ("T1", "v_rated_v.3"), ("REG", "v_rated_v.2")}


def test_single_phase_wye_winding_within_tolerance():
    # 2.4 kV single-phase units on a 4.16 kV bus (IEEE 13) are right: 2400 * sqrt(3) = 4157 V.
    rows = feeder_rows()
    for b in rows["bus"]:
        if b["v_nom_v"] > 1000:
            b["v_nom_v"] = 4160.0
    rows["source"][0]["v_nom_v"] = 4160.0
    for ld in rows["load"] + rows["capacitor"]:
        ld["v_rated_v"] = {12470.0: 4160.0, 7200.0: 2400.0}.get(ld["v_rated_v"], ld["v_rated_v"])
    edit(rows, "transformer", "REG", v_rated_v=[4160.0, 4160.0, np.nan])
    edit(rows, "transformer", "T1", v_rated_v=[2400.0, 120.0, 120.0])
    assert validate(build(rows)).findings == ()


def test_regulator_settings():
    rows = feeder_rows()
    rows["regulator"] += [
        {"id": "RG0", "transformer": "REG", "band_v": 0.0},
        {"id": "RG1", "transformer": "REG", "v_set_v": 90.0},
        {"id": "RG3", "transformer": "REG", "winding": 3},
    ]
    net = build(rows)
    assert flagged(net, "regulator-band") == {"RG0"}
    assert flagged(net, "regulator-setpoint") == {"RG1"}
    assert flagged(net, "regulator-winding") == {"RG3"}
    assert {f.severity for f in rule(net, "regulator-band") + rule(net, "regulator-setpoint")} == {Severity.warning}


# -- loads, customers, protection, coordinates --------------------------------------------------


@pytest.mark.parametrize("v", [0.0, np.nan])
def test_load_without_rated_voltage(v):
    rows = edit(feeder_rows(), "load", "LD2", v_rated_v=v)
    found = rule(build(rows), "rated-voltage")
    assert [(f.element, f.severity) for f in found] == [("LD2", Severity.error)]
    assert rule(build(rows), "missing-value") == []  # said once


def test_load_voltage_mismatch_is_one_finding_per_rating():
    rows = feeder_rows()
    rows["load"] += [{"id": f"X{k}", "bus": "s1", "phases": Phase.S12, "v_rated_v": 208.0, "p_w": [1e3, 0, 0]}
                     for k in range(30)]
    (f,) = rule(build(rows), "voltage-mismatch")
    assert (f.component, f.count, f.value, len(f.elements)) == ("load", 30, 208.0, 20)


def test_customer_without_transformer_on_a_secondary():
    rows = edit(feeder_rows(), "service_point", "C2", transformer="")
    (f,) = rule(build(rows), "unserved-customer")
    assert f.elements == ("C2",)
    assert rule(feeder(), "unserved-customer") == []  # C3 is primary-metered


def test_customer_on_the_wrong_transformer():
    rows = feeder_rows()
    rows["bus"].append({"id": "s2", "v_nom_v": 240.0, "phases": Phase.S12, "x": 0.0, "y": 0.0})
    rows["transformer"].append({"id": "T2", "kind": TransformerKind.center_tap, "n_windings": 3,
                                "bus": ["b4", "s2", "s2"], "phases": [Phase.A, Phase.S1, Phase.S2],
                                "v_rated_v": [7200.0, 120.0, 120.0], "s_rated_va": [25e3] * 3,
                                "x_hl_pct": 2.0, "x_ht_pct": 2.0, "x_lt_pct": 1.4})
    rows["service_point"].append({"id": "C4", "meter": "m4", "bus": "s2", "transformer": "T1"})
    (f,) = rule(build(rows), "customer-transformer")
    assert f.elements == ("C4",) and "T2" in f.message


def test_protective_devices_without_ratings():
    rows = feeder_rows()
    edit(rows, "switch", "F1", rated_a=np.nan)
    edit(rows, "switch", "BRK", breaking_a=0.0)
    edit(rows, "switch", "TIE", rated_a=np.nan)  # a load-break switch: not protective
    found = {(f.element, f.field) for f in rule(build(rows), "protective-rating")}
    assert found == {("F1", "rated_a"), ("BRK", "breaking_a")}


def test_missing_coordinates_is_one_summarising_finding():
    rows = feeder_rows()
    for b in rows["bus"][:6]:
        b["x"] = np.nan
    (f,) = rule(build(rows), "missing-coordinates")
    assert f.count == 6 and f.elements[:2] == ("sub", "b0") and f.severity == Severity.warning
    assert "6 of 9 buses" in f.message


def test_bus_without_nominal_voltage():
    rows = edit(feeder_rows(), "bus", "b6", v_nom_v=np.nan)
    assert flagged(build(rows), "bus-voltage") == {"b6"}


# -- topology rules -----------------------------------------------------------------------------


def test_section_no_source_reaches_under_normal_states():
    rows = feeder_rows()
    edit(rows, "switch", "F1", normal_open=True)  # the lateral with its load, transformer and customers
    (f,) = rule(build(rows), "unreached")
    assert f.severity == Severity.error and set(f.elements) == {"b3", "b4", "s1"}
    assert "F1" in f.message


def test_dead_empty_stub_is_a_warning():
    rows = feeder_rows()
    rows["line"].append({"id": "L9", "from_bus": "x1", "to_bus": "x2", "phases": Phase.ABC, "code": "c3",
                         "length_m": 10.0})
    rows["bus"] += [{"id": b, "v_nom_v": 12470.0, "phases": Phase.ABC, "x": 0.0, "y": 0.0} for b in ("x1", "x2")]
    (f,) = rule(build(rows), "unreached")
    assert f.severity == Severity.warning and set(f.elements) == {"x1", "x2"}


def test_present_switch_states_do_not_matter():
    rows = edit(feeder_rows(), "switch", "F1", open=True)  # open now, closed normally
    assert rule(build(rows), "unreached") == []


def test_loop_under_normal_states_names_its_elements():
    rows = edit(feeder_rows(), "switch", "TIE", normal_open=False)
    (f,) = rule(build(rows), "loop")
    assert f.severity == Severity.warning
    assert set(f.elements) == {"line.L1", "line.L3", "switch.TIE", "line.L4"}


def test_bank_of_single_phase_units_is_not_a_loop():
    rows = feeder_rows()
    rows["transformer"] = [t for t in rows["transformer"] if t["id"] != "REG"]
    rows["regulator"] = []
    for ph in (Phase.A, Phase.B, Phase.C):
        rows["transformer"].append({
            "id": f"REG{ph.name}", "kind": TransformerKind.single_phase, "bus": ["b0", "b1", ""],
            "phases": [ph, ph, 0], "v_rated_v": [7200.0, 7200.0, np.nan], "s_rated_va": [2e6, 2e6, np.nan],
            "x_hl_pct": 0.01, "bank": "REG"})
    assert validate(build(rows)).findings == ()


def test_open_delta_bank_is_not_a_loop_but_parallel_units_are():
    rows = feeder_rows()
    rows["transformer"] = [t for t in rows["transformer"] if t["id"] != "REG"]
    rows["regulator"] = []
    for id_, ph in (("REG1", Phase.A | Phase.B), ("REG2", Phase.C | Phase.B)):
        rows["transformer"].append({
            "id": id_, "kind": TransformerKind.single_phase, "bus": ["b0", "b1", ""], "phases": [ph, ph, 0],
            "conn": [Conn.delta, Conn.delta, 0], "v_rated_v": [12470.0, 12470.0, np.nan],
            "s_rated_va": [2e6, 2e6, np.nan], "x_hl_pct": 1.0, "bank": "REG"})
    rows["transformer"][0]["conn"] = [Conn.wye] * 3  # from_rows needs every row to give a per-winding column
    assert validate(build(rows)).findings == ()
    rows["line"].append({"id": "JMP", "from_bus": "b0", "to_bus": "b1", "phases": Phase.B, "code": "c1",
                         "length_m": 1.0})  # the common leg, as IEEE 37 models it
    assert rule(build(rows), "loop") == []
    rows["line"].pop()
    for t in rows["transformer"]:
        t["bank"] = ""
    (f,) = rule(build(rows), "loop")
    assert set(f.elements) == {"transformer.REG1", "transformer.REG2"}


def test_lateral_on_a_phase_its_parent_lacks():
    rows = feeder_rows()
    edit(rows, "bus", "b4", phases=Phase.ABC)  # the bus claims all phases...
    rows["line"].append({"id": "L5", "from_bus": "b4", "to_bus": "b7", "phases": Phase.B, "code": "c1",
                         "length_m": 200.0})  # ...but the lateral feeding it carries only A
    rows["bus"].append({"id": "b7", "v_nom_v": 12470.0, "phases": Phase.B, "x": 0.0, "y": 0.0})
    rows["load"].append({"id": "LD7", "bus": "b4", "phases": Phase.C, "v_rated_v": 7200.0, "p_w": [0, 0, 1e3]})
    found = {(f.component, f.element) for f in rule(build(rows), "phase-not-upstream")}
    assert found == {("line", "L5"), ("load", "LD7")}


def test_topology_rules_survive_dangling_elements():
    rows = feeder_rows()
    rows["line"].append({"id": "L8", "from_bus": "b2", "to_bus": "ghost", "phases": Phase.ABC, "code": "c3",
                         "length_m": 10.0})
    edit(rows, "switch", "F1", normal_open=True)
    report = validate(build(rows))
    assert {f.rule for f in report.errors} == {"dangling-bus", "unreached"}


# -- robustness and scale -----------------------------------------------------------------------


def test_a_rule_that_raises_becomes_an_internal_error():
    def check_broken(net, ctx):
        raise ZeroDivisionError("boom")

    report = validate(feeder(), rules=(check_broken,))
    (f,) = report.findings
    assert f.rule == "internal-error" and "check_broken" in f.message and "boom" in f.message


def test_enum_garbage_does_not_crash_the_report():
    rows = edit(feeder_rows(), "switch", "TIE", kind=42)
    report = validate(build(rows))
    (f,) = report.by_rule("out-of-range")
    assert (f.element, f.field, f.value) == ("TIE", "kind", 42)
    assert "not one of 0 (breaker), 1 (recloser)" in f.message
    assert report.text()


def test_validate_path_reports_load_failures(tmp_path, monkeypatch):
    report = validate_path(tmp_path / "missing.dss")
    (f,) = report.findings
    assert f.rule == "load-error" and f.file.endswith("missing.dss") and report.summary == {}

    def fail(path):
        raise ParseError("unknown property 'lenght'", file="lines.dss", line=12, element="Line.L3",
                         fix="the property is 'length'")

    monkeypatch.setattr("twin.grid.io.load_model", fail)
    (f,) = validate_path(tmp_path / "x.dss").findings
    assert (f.rule, f.file, f.line, f.element) == ("parse-error", "lines.dss", 12, "Line.L3")
    assert f.text() == "error lines.dss:12 Line.L3: unknown property 'lenght' (the property is 'length')"


def test_validate_path_on_a_native_folder(tmp_path):
    from twin.grid.native import save_native

    folder = save_native(feeder(), tmp_path / "feeder")
    report = validate_path(folder)
    assert report.findings == () and report.summary["lines"] == 4
    csv = folder / "line.csv"
    csv.write_text(csv.read_text().replace(",300.0,", ",3OO,"))  # letter O for zero, in L2's row
    (f,) = validate_path(folder).findings
    assert (f.rule, f.component, f.element, f.field, f.line) == ("parse-error", "line", "L2", "length_m", 3)
    assert f.file.endswith("line.csv")


def test_validate_path_survives_importer_bugs(tmp_path, monkeypatch):
    def bug(path):
        raise KeyError("oops")

    monkeypatch.setattr("twin.grid.io.load_model", bug)
    (f,) = validate_path(tmp_path / "x.dss").findings
    assert f.rule == "internal-error"


def test_cli_exit_status_and_json(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr("twin.grid.io.load_model", lambda path: feeder())
    assert validate_command("feeder.dss", as_json=False) == 0
    assert capsys.readouterr().out.startswith("0 errors, 0 warnings in feeder")
    rows = edit(feeder_rows(), "line", "L1", length_m=0.0)
    monkeypatch.setattr("twin.grid.io.load_model", lambda path: build(rows))
    assert validate_command("feeder.dss", as_json=True) == 1
    assert json.loads(capsys.readouterr().out)["findings"][0]["rule"] == "line-length"

    monkeypatch.setattr("twin.grid.io.load_model", lambda path: (_ for _ in ()).throw(ModelError("bad")))
    assert validate_command("feeder.dss", as_json=False) == 1


def big_territory(n_customers: int, seed: int = 3) -> Network:
    """A random radial territory: a primary tree, one service transformer per 10 customers."""
    rng = np.random.default_rng(seed)
    n_prim = n_customers // 10
    n_xf = n_customers // 10
    prim = np.array([f"p{k}" for k in range(n_prim)], dtype=object)
    sec = np.array([f"s{k}" for k in range(n_xf)], dtype=object)
    parent = np.concatenate([[0], rng.integers(0, np.arange(1, n_prim))])
    bus = Table(SCHEMAS["bus"], {
        "id": np.concatenate([prim, sec]),
        "v_nom_v": np.r_[np.full(n_prim, 12470.0), np.full(n_xf, 240.0)],
        "phases": np.r_[np.full(n_prim, int(Phase.ABC)), np.full(n_xf, int(Phase.S12))],
        "x": rng.random(n_prim + n_xf), "y": rng.random(n_prim + n_xf),
    })
    line = Table(SCHEMAS["line"], {
        "id": np.array([f"l{k}" for k in range(1, n_prim)], dtype=object), "from_bus": prim[parent[1:]],
        "to_bus": prim[1:], "phases": np.full(n_prim - 1, int(Phase.ABC)), "code": np.full(n_prim - 1, "c3", object),
        "length_m": rng.uniform(50, 500, n_prim - 1),
    })
    at = rng.integers(0, n_prim, n_xf)
    xf = Table(SCHEMAS["transformer"], {
        "id": np.array([f"t{k}" for k in range(n_xf)], dtype=object),
        "kind": np.full(n_xf, int(TransformerKind.center_tap)), "n_windings": np.full(n_xf, 3),
        "bus": np.stack([prim[at], sec, sec], axis=1),
        "phases": np.tile([int(Phase.A), int(Phase.S1), int(Phase.S2)], (n_xf, 1)),
        "v_rated_v": np.tile([7200.0, 120.0, 120.0], (n_xf, 1)), "s_rated_va": np.full((n_xf, 3), 25e3),
        "x_hl_pct": np.full(n_xf, 2.0), "x_ht_pct": np.full(n_xf, 2.0), "x_lt_pct": np.full(n_xf, 1.4),
    })
    owner = np.arange(n_customers) % n_xf
    sp = Table(SCHEMAS["service_point"], {
        "id": np.array([f"c{k}" for k in range(n_customers)], dtype=object),
        "meter": np.array([f"m{k}" for k in range(n_customers)], dtype=object),
        "transformer": xf.ids[owner], "bus": sec[owner],
    })
    return Network.from_tables("territory", {
        "bus": bus, "line": line, "transformer": xf, "service_point": sp,
        "line_code": Table.from_rows(SCHEMAS["line_code"], [meshed_code()]),
        "source": Table.from_rows(SCHEMAS["source"], [{"id": "S", "bus": "p0", "v_nom_v": 12470.0}]),
    })


def test_a_100k_customer_territory_validates_clean_then_finds_damage():
    net = big_territory(100_000)
    report = validate(net)
    assert report.findings == (), report.text(limit=5)

    net.service_point["transformer"][:500] = ""
    net.line["length_m"][7] = 0.0
    report = validate(net)
    assert {f.rule for f in report.findings} == {"unserved-customer", "line-length"}
    assert sum(f.count for f in report.by_rule("unserved-customer")) == 500


def test_report_of_a_finding_over_many_elements():
    f = Finding.many(Severity.warning, "missing-coordinates", "bus", [f"b{k}" for k in range(100)], message="m",
                     fix="f")
    assert len(f.elements) == 20 and f.count == 100
    assert f.text() == "warning bus b0, b1, b2, b3, b4 and 95 more: m (f)"
    assert Report("x", (f,)).text().startswith("0 errors, 1 warning in x:")


NAMES = ["a", "b", "c", "d", "e", "x"]


@st.composite
def messy_networks(draw):
    """Small networks with anything wrong: unknown and repeated ids, garbage phases and kinds, NaN.
    (Switch kinds stay valid: ``Network.summary`` names them; an invalid kind is its own test.)"""
    name = st.sampled_from(NAMES)
    number = st.one_of(st.floats(allow_nan=True, allow_infinity=True, width=32), st.just(0.0))
    phases = st.integers(0, 40)
    buses = draw(st.lists(st.fixed_dictionaries({
        "id": name, "v_nom_v": st.sampled_from([12470.0, 240.0, 0.0, np.nan]), "phases": phases,
        "x": number, "y": number}), max_size=6))
    lines = draw(st.lists(st.fixed_dictionaries({
        "id": name, "from_bus": name, "to_bus": name, "phases": phases, "code": st.sampled_from(["c3", "c1", "zz"]),
        "length_m": number, "kind": st.integers(0, 5)}), max_size=6))
    switches = draw(st.lists(st.fixed_dictionaries({
        "id": name, "from_bus": name, "to_bus": name, "phases": phases, "kind": st.integers(0, 5),
        "normal_open": st.booleans(), "rated_a": number}), max_size=4))
    transformers = draw(st.lists(st.fixed_dictionaries({
        "id": name, "kind": st.integers(0, 2), "n_windings": st.integers(2, 3),
        "bus": st.lists(st.sampled_from(NAMES + [""]), min_size=3, max_size=3),
        "phases": st.lists(phases, min_size=3, max_size=3), "conn": st.lists(st.integers(0, 2), min_size=3, max_size=3),
        "v_rated_v": st.lists(number, min_size=3, max_size=3), "s_rated_va": st.lists(number, min_size=3, max_size=3),
        "x_hl_pct": number, "tap_pu": st.lists(number, min_size=3, max_size=3)}), max_size=3))
    loads = draw(st.lists(st.fixed_dictionaries({
        "id": name, "bus": name, "phases": phases, "conn": st.integers(0, 2), "v_rated_v": number,
        "p_w": st.lists(number, min_size=3, max_size=3)}), max_size=3))
    sources = draw(st.lists(st.fixed_dictionaries({"id": name, "bus": name, "v_nom_v": number}), max_size=2))
    customers = draw(st.lists(st.fixed_dictionaries({
        "id": name, "meter": st.sampled_from(["m", ""]), "bus": name, "transformer": st.sampled_from(NAMES + [""]),
        "load": st.sampled_from(NAMES + [""])}), max_size=3))
    rows = {"bus": buses, "line": lines, "switch": switches, "transformer": transformers, "load": loads,
            "source": sources, "service_point": customers,
            "line_code": [meshed_code(), one_phase_code(), code("c0", r=-1e-4, x=0.0)],
            "regulator": [{"id": "r", "transformer": draw(name), "winding": draw(st.integers(1, 3)),
                           "band_v": draw(number), "v_set_v": draw(number)}]}
    return build({k: v for k, v in rows.items() if v}, "messy")


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(messy_networks())
def test_no_model_crashes_a_rule(net):
    report = validate(net)
    assert not report.by_rule("internal-error"), report.text()
    json.loads(report.to_json())
    for f in report.findings:
        assert f.rule and f.fix and f.severity in (Severity.error, Severity.warning)
