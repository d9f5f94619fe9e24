"""Native format: lossless round trip of every table and enum, and errors that name the cell."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np
import pytest
import yaml

from twin.errors import ModelError, ParseError
from twin.grid.native import HEADER_FILE, load_native, save_native
from twin.grid.network import TABLE_NAMES, Network
from twin.grid.schema import (
    SCHEMAS,
    CapControlKind,
    Conn,
    CustomerClass,
    GeneratorKind,
    IndicatorReset,
    LineKind,
    Phase,
    SwitchKind,
    TransformerKind,
)
from twin.grid.table import Table

NAN = float("nan")
ABC, S12 = int(Phase.ABC), int(Phase.S12)


def _table(name: str, rows: list[dict]) -> Table:
    # Table.from_rows fills an absent per-phase value with a scalar, which numpy cannot stack
    # with the rows that give an array; give those rows a full-shaped default.
    schema = SCHEMAS[name]
    shaped = [f for f in schema.fields if f.shape and any(f.name in r for r in rows)]
    rows = [{f.name: np.broadcast_to(f.fill(), f.shape) for f in shaped} | r for r in rows]
    return Table.from_rows(schema, rows)


def sample_network() -> Network:
    """A small network using every table and every enum member, with awkward values."""
    eye = np.eye(3)
    tables = {
        "bus": _table("bus", [
            {"id": "650", "v_nom_v": 4160.0, "phases": ABC, "x": 0.1 + 0.2, "y": -0.0},
            {"id": "0012", "v_nom_v": 4160.0, "phases": int(Phase.A | Phase.C), "x": NAN, "y": 1e-320},
            {"id": "1e5", "v_nom_v": 4160.0, "phases": int(Phase.B), "x": 1 / 3, "y": 5e-324},
            {"id": "nan", "v_nom_v": 240.0, "phases": S12, "x": math.inf, "y": -math.inf},
            {"id": "true", "v_nom_v": 115e3, "phases": ABC},
            {"id": "Zoë, \"quoted\"\nnewline", "v_nom_v": 480.0, "phases": ABC, "x": 1.7976931348623157e308},
        ]),
        "line_code": _table("line_code", [
            {"id": "601", "n_phases": 3, "r_ohm_per_m": eye * 2.1e-4, "x_ohm_per_m": eye * 6.5e-4 + 1e-5,
             "b_s_per_m": eye * 3.7e-9, "rated_a": 530.0, "emerg_a": NAN},
            {"id": "tpx", "n_phases": 2, "r_ohm_per_m": eye * 1e-3, "x_ohm_per_m": eye * 4e-4, "b_s_per_m": eye * 0.0},
        ]),
        "line": _table("line", [
            {"id": "L1", "from_bus": "650", "to_bus": "0012", "phases": int(Phase.A | Phase.C), "code": "601",
             "length_m": 152.4, "kind": LineKind.overhead, "rated_a": NAN},
            {"id": "L2", "from_bus": "650", "to_bus": "1e5", "phases": int(Phase.B), "code": "601",
             "length_m": 0.3048, "kind": LineKind.underground, "in_service": False},
            {"id": "L3", "from_bus": "1e5", "to_bus": "nan", "phases": S12, "code": "tpx", "length_m": 30.0,
             "kind": LineKind.triplex, "rated_a": 200.0},
            {"id": "L4", "from_bus": "true", "to_bus": "650", "phases": ABC, "code": "601", "length_m": 1.0,
             "kind": LineKind.reactor},
        ]),
        "switch": _table("switch", [
            {"id": f"SW{k}", "from_bus": "650", "to_bus": "0012", "phases": ABC, "kind": kind,
             "normal_open": k % 2 == 0, "open": k % 3 == 0, "rated_a": 600.0 if k else NAN,
             "breaking_a": 12500.0, "remote": k < 2, "curve": ("65T", "", "2A2C 280A")[k % 3]}
            for k, kind in enumerate(SwitchKind)
        ]),
        "transformer": _table("transformer", [
            {"id": "SUB", "kind": TransformerKind.three_phase, "n_windings": 2, "bus": ["true", "650", ""],
             "phases": [ABC, ABC, 0], "conn": [Conn.delta, Conn.wye, Conn.wye],
             "v_rated_v": [115e3, 4160.0, NAN], "s_rated_va": [5e6, 5e6, NAN], "r_pct": [0.5, 0.5, 0.0],
             "x_hl_pct": 8.0},
            {"id": "T1", "kind": TransformerKind.center_tap, "n_windings": 3, "bus": ["1e5", "nan", "nan"],
             "phases": [int(Phase.B), int(Phase.S1), int(Phase.S2)], "conn": [Conn.wye] * 3,
             "v_rated_v": [2400.0, 120.0, 120.0], "s_rated_va": [25e3] * 3, "x_hl_pct": 2.04,
             "x_ht_pct": 2.04, "x_lt_pct": 1.36, "bank": ""},
            {"id": "REG-A", "kind": TransformerKind.single_phase, "bus": ["650", "0012", ""],
             "phases": [int(Phase.A), int(Phase.A), 0], "conn": [Conn.wye_ungrounded, Conn.wye, Conn.wye],
             "v_rated_v": [2400.0, 2400.0, NAN], "tap_pu": [1.0, 1.0125, 1.0], "x_hl_pct": 0.01,
             "bank": "REG"},
        ]),
        "regulator": _table("regulator", [
            {"id": "REG-A", "transformer": "REG-A", "winding": 2, "v_set_v": 122.0, "ldc_r_v": 3.0,
             "ldc_x_v": 9.0, "phase": 0, "enabled": False},
        ]),
        "capacitor": _table("capacitor", [
            {"id": "C1", "bus": "650", "phases": ABC, "conn": Conn.delta, "v_rated_v": 4160.0,
             "q_rated_var": [1e5, 1e5, 1e5], "closed": False},
        ]),
        "cap_control": _table("cap_control", [
            {"id": f"CC{k}", "capacitor": "C1", "kind": kind, "element": "line.L1" if k else "",
             "on_value": 118.0, "off_value": NAN, "voltage_override": k == 1}
            for k, kind in enumerate(CapControlKind)
        ]),
        "load": _table("load", [
            {"id": "LD1", "bus": "nan", "phases": S12, "v_rated_v": 240.0, "p_w": [1500.0, 1400.0, 0.0],
             "q_var": [490.0, 460.0, 0.0], "zip_p": [0.2, 0.3, 0.5], "cls": cls}
            for cls in CustomerClass
        ][:1] + [
            {"id": f"LD{k + 2}", "bus": "650", "phases": ABC, "conn": Conn.delta, "v_rated_v": 4160.0,
             "cls": cls} for k, cls in enumerate(CustomerClass)
        ]),
        "generator": _table("generator", [
            {"id": f"G{k}", "bus": "650", "phases": ABC, "kind": kind, "v_rated_v": 4160.0,
             "p_w": 1e5 * k, "s_rated_va": NAN, "in_service": k != 2}
            for k, kind in enumerate(GeneratorKind)
        ]),
        "source": _table("source", [
            {"id": "SRC", "bus": "true", "v_nom_v": 115e3, "v_pu": 1.05, "angle_rad": -math.pi / 6,
             "r1_ohm": 0.5, "x1_ohm": 4.4, "r0_ohm": 1.1, "x0_ohm": 12.0},
        ]),
        "service_point": _table("service_point", [
            {"id": "0001", "meter": "000123", "transformer": "T1", "bus": "nan", "load": "LD1",
             "name": "O'Brien, Pat", "address": "12 Elm St, Springfield", "cls": CustomerClass.residential},
            {"id": "0002", "meter": "1.50", "transformer": "", "bus": "650", "load": "",
             "name": "", "address": "", "cls": CustomerClass.industrial, "critical": True},
            {"id": "0003", "meter": "NA", "transformer": "T1", "bus": "nan", "load": "LD1",
             "name": "  spaced  ", "address": "NULL", "cls": CustomerClass.commercial},
        ]),
        "fault_indicator": _table("fault_indicator", [
            {"id": f"FCI{k}", "line": "L1", "terminal": 1 + k % 2, "phases": int(Phase.A | Phase.C),
             "trip_a": 400.0 + k, "reset": reset, "reset_s": 14400.0 if k else NAN, "remote": k == 1}
            for k, reset in enumerate(IndicatorReset)
        ]),
    }
    return Network.from_tables("sample", tables, voltage_bases_v=(115e3, 4160.0, 240.0), coord_units="m",
                               notes=("hand made",))


def test_round_trip_is_lossless(tmp_path: Path) -> None:
    net = sample_network()
    assert all(len(t) for _, t in net.tables()), "the sample must use every table"
    folder = save_native(net, tmp_path / "sample")
    back = load_native(folder)
    assert back.equals(net)
    for name, table in net.tables():
        for column in table:
            a, b = table[column], back.table(name)[column]
            assert a.dtype == b.dtype and a.shape == b.shape, (name, column)
    assert back.notes == net.notes and back.origin == str(folder)
    assert back.bus["id"].tolist() == net.bus["id"].tolist()
    assert np.signbit(back.bus["y"][0]) and back.bus["x"][0] == 0.1 + 0.2
    assert back.service_point["meter"].tolist() == ["000123", "1.50", "NA"]


def test_files_are_readable(tmp_path: Path) -> None:
    folder = save_native(sample_network(), tmp_path)
    header = yaml.safe_load((folder / HEADER_FILE).read_text())
    assert header["format"] == "twin-native" and header["version"] == 1
    assert header["tables"]["line"] == {
        "file": "line.csv", "rows": 4,
        "columns": {"id": "", "from_bus": "", "to_bus": "", "phases": "", "code": "", "length_m": "m",
                    "kind": "", "rated_a": "A", "in_service": ""},
    }
    rows = list(csv.DictReader(open(folder / "switch.csv", newline="")))
    assert [r["kind"] for r in rows] == [k.name for k in SwitchKind]
    assert rows[1] == {**rows[1], "phases": "ABC", "normal_open": "false", "remote": "true", "rated_a": "600.0"}
    assert rows[0]["rated_a"] == ""
    tx = list(csv.DictReader(open(folder / "transformer.csv", newline="")))
    assert (tx[1]["phases.1"], tx[1]["phases.2"], tx[1]["phases.3"]) == ("B", "S1", "S2")
    assert tx[0]["phases.3"] == "" and tx[0]["conn.1"] == "delta"


def test_empty_network_and_stale_files(tmp_path: Path) -> None:
    save_native(sample_network(), tmp_path)
    save_native(Network.empty("empty"), tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == [HEADER_FILE]
    assert load_native(tmp_path).equals(Network.empty("empty"))


def test_hand_edits_are_accepted(tmp_path: Path) -> None:
    """Columns may be left out (defaults), names are case-insensitive, empty cells take defaults."""
    save_native(sample_network(), tmp_path)
    _edit(tmp_path / "switch.csv", lambda rows: [
        {k: v for k, v in r.items() if k not in ("curve", "breaking_a")}
        | {"kind": r["kind"].upper(), "remote": "", "phases": "abc"} for r in rows])
    net = load_native(tmp_path)
    assert net.switch["kind"].tolist() == [int(k) for k in SwitchKind]
    assert not net.switch["remote"].any() and set(net.switch["curve"]) == {""}
    assert np.isnan(net.switch["breaking_a"]).all()


# -- errors -----------------------------------------------------------------------------------


def _edit(path: Path, change) -> None:
    rows = list(csv.DictReader(open(path, newline="", encoding="utf-8")))
    rows = change(rows)
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)


def _set(path: Path, element: str, column: str, value: str) -> None:
    _edit(path, lambda rows: [r | {column: value} if r["id"] == element else r for r in rows])


@pytest.fixture
def saved(tmp_path: Path) -> Path:
    return save_native(sample_network(), tmp_path / "net")


def test_bad_enum_names_file_line_element_and_column(saved: Path) -> None:
    _set(saved / "switch.csv", "SW1", "kind", "reclozer")
    with pytest.raises(ParseError) as info:
        load_native(saved)
    err = info.value
    assert (Path(err.file).name, err.line, err.element, err.component, err.field) == (
        "switch.csv", 3, "SW1", "switch", "kind")
    assert "recloser" in err.fix and "reclozer" in str(err)


def test_bad_phases(saved: Path) -> None:
    _set(saved / "transformer.csv", "T1", "phases.2", "S3")
    with pytest.raises(ParseError) as info:
        load_native(saved)
    assert (Path(info.value.file).name, info.value.line, info.value.element, info.value.field) == (
        "transformer.csv", 3, "T1", "phases.2")


def test_bad_bool(saved: Path) -> None:
    _set(saved / "line.csv", "L3", "in_service", "maybe")
    with pytest.raises(ParseError) as info:
        load_native(saved)
    assert (info.value.line, info.value.element, info.value.field) == (4, "L3", "in_service")


def test_non_number_names_the_cell(saved: Path) -> None:
    _set(saved / "line.csv", "L2", "length_m", "12,5 m")
    with pytest.raises(ParseError) as info:
        load_native(saved)
    err = info.value
    assert (Path(err.file).name, err.line, err.element, err.component, err.field) == (
        "line.csv", 3, "L2", "line", "length_m")
    assert "12,5 m" in str(err) and "number" in err.fix


def test_non_integer_names_the_cell(saved: Path) -> None:
    _set(saved / "regulator.csv", "REG-A", "winding", "2.5")
    with pytest.raises(ParseError) as info:
        load_native(saved)
    assert (info.value.line, info.value.element, info.value.field) == (2, "REG-A", "winding")


def test_unknown_column(saved: Path) -> None:
    _edit(saved / "bus.csv", lambda rows: [r | {"colour": "red"} for r in rows])
    with pytest.raises(ParseError) as info:
        load_native(saved)
    err = info.value
    assert (Path(err.file).name, err.line, err.field) == ("bus.csv", 1, "colour")
    assert "v_nom_v" in err.fix


def test_missing_required_column(saved: Path) -> None:
    _edit(saved / "line.csv", lambda rows: [{k: v for k, v in r.items() if k != "from_bus"} for r in rows])
    with pytest.raises(ParseError) as info:
        load_native(saved)
    assert (Path(info.value.file).name, info.value.field) == ("line.csv", "from_bus")


def test_missing_file(saved: Path) -> None:
    (saved / "line.csv").unlink()
    with pytest.raises(ModelError) as info:
        load_native(saved)
    assert info.value.component == "line" and "line.csv" in str(info.value)


def test_an_invalid_enum_value_is_not_written(tmp_path: Path) -> None:
    net = sample_network()
    net.switch["kind"][2] = 9
    with pytest.raises(ModelError) as info:
        save_native(net, tmp_path)
    assert (info.value.component, info.value.element, info.value.field) == ("switch", "SW2", "kind")


def test_missing_header(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="network.yaml"):
        load_native(tmp_path)


@pytest.mark.parametrize(("key", "value"), [("format", "opendss"), ("version", 2), ("name", None),
                                            ("voltage_bases_v", "12.47 kV"), ("tables", {"busses": {}})])
def test_bad_header(saved: Path, key: str, value: object) -> None:
    header = yaml.safe_load((saved / HEADER_FILE).read_text())
    header[key] = value
    (saved / HEADER_FILE).write_text(yaml.safe_dump(header))
    with pytest.raises(ModelError) as info:
        load_native(saved)
    assert info.value.field.split(".")[0] == key and "network.yaml" in str(info.value)


def test_row_count_and_duplicate_ids(saved: Path) -> None:
    _edit(saved / "load.csv", lambda rows: rows + [rows[0]])
    with pytest.raises(ModelError, match="data rows"):
        load_native(saved)
    header = yaml.safe_load((saved / HEADER_FILE).read_text())
    header["tables"]["load"]["rows"] += 1
    (saved / HEADER_FILE).write_text(yaml.safe_dump(header, sort_keys=False))
    with pytest.raises(ParseError) as info:
        load_native(saved)
    assert (info.value.line, info.value.element, info.value.field) == (6, "LD1", "id")


def test_every_table_is_covered() -> None:
    assert {name for name, _ in sample_network().tables()} == set(TABLE_NAMES)
