"""The columnar table and the schema it follows."""

from __future__ import annotations

import numpy as np
import pytest

from twin.errors import ModelError
from twin.grid import SCHEMAS, Network, Phase, Table
from twin.grid.schema import parse_phases, phase_slots, phase_text


def loads(n: int = 3) -> Table:
    return Table.from_rows(SCHEMAS["load"], [
        {"id": f"L{k}", "bus": "b", "phases": Phase.A, "v_rated_v": 2400.0, "p_w": [1e3 * k, 0, 0]}
        for k in range(n)
    ])


def test_defaults_shapes_and_lookup():
    t = loads()
    assert t["p_w"].shape == (3, 3) and t["zip_p"].tolist()[0] == [0.0, 0.0, 1.0]
    assert t.index(["L2", "L0"]).tolist() == [2, 0]
    assert t.get("nope") is None
    with pytest.raises(ModelError) as err:
        t.index(["L1", "nope"])
    assert err.value.element == "nope" and err.value.component == "load"


def test_bad_columns_are_model_errors_naming_the_column():
    with pytest.raises(ModelError) as err:
        Table(SCHEMAS["bus"], {"id": ["a"], "volts": [1.0]})
    assert "volts" in str(err.value) and "v_nom_v" in err.value.fix
    with pytest.raises(ModelError) as err:
        Table(SCHEMAS["load"], {"id": ["a"], "bus": ["b"], "phases": [1], "v_rated_v": ["high"]})
    assert err.value.field == "v_rated_v"
    with pytest.raises(ModelError) as err:
        Table(SCHEMAS["line"], {"id": ["a"], "from_bus": ["x"]})
    assert err.value.field == "to_bus"


def test_frame_round_trip_and_copies():
    t = loads()
    frame = t.to_frame()
    assert {"p_w.a", "p_w.b", "p_w.c", "zip_q.p"} <= set(frame.columns)
    assert Table.from_frame(SCHEMAS["load"], frame).equals(t)
    c = t.copy()
    c["p_w"][0, 0] = 99.0
    assert t["p_w"][0, 0] == 0.0
    w = t.with_columns(v_rated_v=np.full(3, 480.0))
    assert w["p_w"] is t["p_w"] and t["v_rated_v"][0] == 2400.0
    both = Table.concat([t, t.take([0])])
    assert len(both) == 4 and both.ids.tolist()[-1] == "L0"


def test_empty_table_round_trips_through_a_frame():
    empty = Table.empty(SCHEMAS["transformer"])
    frame = empty.to_frame()
    assert frame.shape == (0, len(frame.columns)) and "tap_pu.3" in frame.columns
    assert Table.from_frame(SCHEMAS["transformer"], frame).equals(empty)


def test_bool_and_string_coercion():
    t = Table(SCHEMAS["switch"], {"id": ["s", "t"], "from_bus": ["a", "a"], "to_bus": ["b", None],
                                  "phases": [7, 7], "kind": [0, 3], "open": ["true", "no"]})
    assert t["open"].tolist() == [True, False]
    assert t["to_bus"].tolist() == ["b", ""]


def test_phase_helpers():
    assert phase_slots(Phase.B | Phase.C) == [1, 2]
    assert phase_slots(Phase.S12) == [0, 1]
    assert phase_text(Phase.A | Phase.C) == "AC"
    assert parse_phases("s1s2") == Phase.S12 and parse_phases("CBA") == Phase.ABC
    with pytest.raises(ValueError):
        parse_phases("ABD")


def test_network_summary_and_copy():
    net = Network.from_tables("n", {"load": loads()})
    s = net.summary()
    assert s["loads"] == 3 and s["load_kw"] == pytest.approx(3.0)
    assert net.copy().equals(net)
    with pytest.raises(ValueError):
        Network.from_tables("n", {"wires": loads()})
