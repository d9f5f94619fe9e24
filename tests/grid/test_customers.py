"""Customers at an imported feeder's loads, and bus coordinates in metres (twin.grid.customers)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tests.grid.feeders import FEEDERS_DIR, MASTERS, needs_feeders
from tests.grid.nets import network
from twin.errors import ModelError
from twin.grid import CustomerClass, Phase, TransformerKind
from twin.grid.customers import (
    CustomerRule,
    attach_customers,
    coordinate_unit,
    coordinates_in_metres,
    needs_customers,
)
from twin.grid.opendss import load_opendss
from twin.grid.validate import validate


@pytest.fixture(scope="module")
def ieee123():
    return load_opendss(FEEDERS_DIR / MASTERS["123bus"])


def _expected_count(kw: float, n_phases: int) -> tuple[int, int]:
    """The module's rule for one load, by hand: (customers, class of them before the shop share)."""
    if n_phases == 3 or kw >= 50.0:
        return math.ceil(kw / 300.0), CustomerClass.commercial
    return max(1, int(kw / 5.0 + 0.5)), CustomerClass.residential


@needs_feeders
def test_the_ieee123_loads_get_customers_by_the_rule(ieee123):
    assert needs_customers(ieee123)  # the importer's one placeholder per load
    net = attach_customers(ieee123, np.random.default_rng(7))
    sp, load = net.service_point, net.load
    assert not needs_customers(net)
    for k, lid in enumerate(load.ids):
        mine = sp["load"] == lid
        kw = float(load["p_w"][k].sum()) / 1e3
        n, cls = _expected_count(kw, bin(int(load["phases"][k])).count("1"))
        assert mine.sum() == n, lid
        assert set(sp["bus"][mine].tolist()) == {load["bus"][k]}
        if cls == CustomerClass.commercial:
            assert (sp["cls"][mine] == CustomerClass.commercial).all()
    assert len(sp) == 537  # 31 loads of 20 kW x 4, 47 of 40 kW x 8, 4 of 35 kW x 7, 9 businesses
    assert len(set(sp.ids.tolist())) == len(sp) and len(set(sp["meter"].tolist())) == len(sp)
    assert all(m[0] == "M" and len(m) == 9 and m[1:].isdigit() for m in sp["meter"].tolist())
    assert (sp["transformer"] == "").all() and (sp["name"] == "").all()  # primary-metered; callers name them
    shops = (sp["cls"] == CustomerClass.commercial).sum() - 9
    assert 5 <= shops <= 50  # 5 % of 528 houses' customers: 26 expected
    assert sp["critical"].sum() <= 10
    assert not validate(net).errors


@needs_feeders
def test_attaching_is_deterministic_from_the_generator(ieee123):
    a = attach_customers(ieee123, np.random.default_rng(3)).service_point
    b = attach_customers(ieee123, np.random.default_rng(3)).service_point
    c = attach_customers(ieee123, np.random.default_rng(4)).service_point
    assert a.equals(b) and not a.equals(c)
    assert np.array_equal(a.ids, c.ids)  # the counts come from the rule; the draws from the generator


def test_a_loads_class_follows_most_of_its_customers_and_a_model_keeps_its_own():
    net = network(
        line=[{"id": "l1", "from_bus": "src", "to_bus": "b1"}],
        source=[{"id": "s", "bus": "src", "v_nom_v": 12470.0}],
        load=[{"id": "houses", "bus": "b1", "phases": Phase.A, "v_rated_v": 7200.0, "p_w": (30e3, 0, 0),
               "cls": CustomerClass.commercial},
              {"id": "mine", "bus": "b1", "phases": Phase.B, "v_rated_v": 7200.0, "p_w": (0, 10e3, 0)}],
        service_point=[{"id": "C-1", "meter": "M12345678", "bus": "b1", "load": "mine"}],
    )
    assert not needs_customers(net)
    out = attach_customers(net, np.random.default_rng(0), rule=CustomerRule(small_commercial_share=0.0))
    sp = out.service_point
    assert sp.ids.tolist() == ["C-1"] + [f"houses-{k}" for k in range(1, 7)]
    assert out.load["cls"][out.load.position("houses")] == CustomerClass.residential
    assert "M12345678" not in sp["meter"][1:].tolist()


def test_secondary_customers_name_their_serving_transformer():
    net = network(
        line=[{"id": "l1", "from_bus": "src", "to_bus": "p1"}],
        bus=[{"id": "x1", "v_nom_v": 240.0, "phases": Phase.S12}],
        source=[{"id": "s", "bus": "src", "v_nom_v": 12470.0}],
        transformer=[{"id": "t1", "kind": TransformerKind.center_tap, "n_windings": 3, "bus": ("p1", "x1", "x1"),
                      "phases": (Phase.A, Phase.S1, Phase.S2), "v_rated_v": (7200.0, 120.0, 120.0),
                      "s_rated_va": (25e3, 25e3, 25e3), "x_hl_pct": 2.0}],
        load=[{"id": "ld", "bus": "x1", "phases": Phase.S12, "v_rated_v": 240.0, "p_w": (12e3, 0, 0)}],
    )
    sp = attach_customers(net, np.random.default_rng(0)).service_point
    assert len(sp) == 2 and (sp["transformer"] == "t1").all()


def test_errors_name_the_load():
    dead = network(
        line=[{"id": "l1", "from_bus": "src", "to_bus": "b1"}, {"id": "l2", "from_bus": "b2", "to_bus": "b3"}],
        source=[{"id": "s", "bus": "src", "v_nom_v": 12470.0}],
        load=[{"id": "orphan", "bus": "b3", "phases": Phase.A, "v_rated_v": 7200.0, "p_w": (10e3, 0, 0)}],
    )
    with pytest.raises(ModelError) as info:
        attach_customers(dead, np.random.default_rng(0))
    assert (info.value.component, info.value.element) == ("load", "orphan") and "b3" in info.value.message
    negative = dead.replace(load=dead.load.with_columns(bus=np.array(["b1"], dtype=object),
                                                         p_w=np.array([[-5e3, 0.0, 0.0]])))
    with pytest.raises(ModelError) as info:
        attach_customers(negative, np.random.default_rng(0))
    assert (info.value.element, info.value.field) == ("orphan", "p_w")
    with pytest.raises(ValueError, match="critical_share"):
        CustomerRule(critical_share=2.0)


@needs_feeders
@pytest.mark.parametrize(("feeder", "unit", "metres"), [("123bus", "ft", 0.3048), ("37bus", "kft", 304.8),
                                                        ("8500-node", "ft", 0.3048)])
def test_coordinates_are_in_the_unit_that_matches_the_line_lengths(feeder, unit, metres, ieee123):
    if feeder == "123bus":  # its master file reads no coordinates: give it the run file's
        xy = np.loadtxt(FEEDERS_DIR / "123bus" / "buscoords.dat", dtype=str)
        where = {b.lower(): (float(x), float(y)) for b, x, y in xy}
        x = np.array([where.get(b, (np.nan, np.nan))[0] for b in ieee123.bus.ids])
        y = np.array([where.get(b, (np.nan, np.nan))[1] for b in ieee123.bus.ids])
        net = ieee123.replace(bus=ieee123.bus.with_columns(x=x, y=y))
    else:
        net = load_opendss(FEEDERS_DIR / MASTERS[feeder])
    assert coordinate_unit(net) == (unit, metres)
    out = coordinates_in_metres(net)
    assert out.coord_units == "m" and np.allclose(out.bus["x"], net.bus["x"] * metres, equal_nan=True)
    ln = out.line
    a, b = out.bus.index(ln["from_bus"]), out.bus.index(ln["to_bus"])
    d = np.hypot(out.bus["x"][a] - out.bus["x"][b], out.bus["y"][a] - out.bus["y"][b])
    ok = np.isfinite(d) & (d > 0)
    assert np.median(np.abs(d[ok] / ln["length_m"][ok] - 1.0)) < 0.01  # drawn at their lengths, in metres
    assert coordinates_in_metres(out) is out


@needs_feeders
def test_a_schematic_drawing_is_scaled_to_its_lines_and_no_coordinates_is_an_error():
    net = load_opendss(FEEDERS_DIR / MASTERS["13bus"])
    unit, scale = coordinate_unit(net)
    ln = net.line
    a, b = net.bus.index(ln["from_bus"]), net.bus.index(ln["to_bus"])
    d = np.hypot(net.bus["x"][a] - net.bus["x"][b], net.bus["y"][a] - net.bus["y"][b])
    assert unit == "schematic" and scale == pytest.approx(np.median(ln["length_m"] / d))
    assert coordinates_in_metres(net).coord_units == "m"
    bare = net.replace(bus=net.bus.with_columns(x=np.full(len(net.bus), np.nan)))
    with pytest.raises(ModelError, match="coordinates"):
        coordinate_unit(bare)


def test_a_model_with_metres_is_left_alone():
    net = network(line=[{"id": "l1", "from_bus": "a", "to_bus": "b"}])
    assert net.coord_units == "m" and coordinate_unit(net) == ("m", 1.0) and coordinates_in_metres(net) is net
