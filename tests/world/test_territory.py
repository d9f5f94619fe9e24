"""Synthetic territory: exact counts, references that resolve, radial normal state, ties, determinism."""

from __future__ import annotations

import re
from pathlib import Path

import networkx as nx
import numpy as np
import pytest

from twin.grid.native import load_native, save_native
from twin.grid.network import Network
from twin.grid.schema import CustomerClass, LineKind, Phase, SwitchKind, TransformerKind
from twin.world.territory import (
    generate_command,
    generate_territory,
    standard_line_codes,
)


@pytest.fixture(scope="module")
def net() -> Network:
    return generate_territory(5_000, seed=7)


@pytest.fixture(scope="module")
def multi() -> Network:
    """Small feeders, so that several substations (urban to rural) fit in a small test."""
    return generate_territory(20_000, seed=2, customers_per_feeder=1_000)


def closed_graph(net: Network, *, breakers: bool = True) -> nx.Graph:
    """Buses joined by in-service lines, closed switches and transformer windings."""
    g = nx.Graph()
    g.add_nodes_from(net.bus.ids.tolist())
    line = net.line
    keep = line["in_service"]
    g.add_edges_from(zip(line["from_bus"][keep].tolist(), line["to_bus"][keep].tolist()))
    sw = net.switch
    keep = ~sw["open"] & (breakers | (sw["kind"] != SwitchKind.breaker))
    g.add_edges_from(zip(sw["from_bus"][keep].tolist(), sw["to_bus"][keep].tolist()))
    for buses in net.transformer["bus"].tolist():
        g.add_edges_from((buses[0], b) for b in buses[1:] if b)
    return g


def test_customer_counts_are_exact(net: Network, multi: Network) -> None:
    assert len(net.service_point) == 5_000 and len(multi.service_point) == 20_000
    for n in (net, multi):
        tx, per = np.unique(n.service_point["transformer"], return_counts=True)
        assert per.min() >= 4 and per.max() <= 12
        assert set(tx) <= set(n.transformer.ids)
        kinds = n.transformer["kind"][n.transformer.index(tx)]
        assert (kinds == TransformerKind.center_tap).all()


def test_references_resolve(multi: Network) -> None:
    n = multi
    buses = set(n.bus.ids)
    for table, columns in (("line", ("from_bus", "to_bus")), ("switch", ("from_bus", "to_bus")),
                           ("load", ("bus",)), ("capacitor", ("bus",)), ("source", ("bus",)),
                           ("service_point", ("bus",))):
        for c in columns:
            assert set(n.table(table)[c]) <= buses, (table, c)
    assert set(n.transformer["bus"].ravel()) - {""} <= buses
    assert set(n.line["code"]) <= set(n.line_code.ids)
    assert set(n.service_point["load"]) <= set(n.load.ids)
    assert set(n.regulator["transformer"]) <= set(n.transformer.ids)
    assert set(n.cap_control["capacitor"]) <= set(n.capacitor.ids)
    assert {e.split(".", 1)[1] for e in n.cap_control["element"]} <= set(n.line.ids)
    for table in ("bus", "line", "switch", "transformer", "load", "service_point"):
        ids = n.table(table).ids
        assert len(set(ids)) == len(ids), table
    assert len(set(n.service_point["meter"])) == len(n.service_point)


def test_service_point_sits_on_its_transformer(net: Network) -> None:
    sp, tx, load = net.service_point, net.transformer, net.load
    secondary = tx["bus"][tx.index(sp["transformer"]), 1]
    line = net.line
    drop = dict(zip(line["from_bus"][line["kind"] == LineKind.triplex].tolist(),
                    line["to_bus"][line["kind"] == LineKind.triplex].tolist()))
    assert [drop[b] for b in secondary.tolist()] == sp["bus"].tolist()
    assert (load["bus"][load.index(sp["load"])] == sp["bus"]).all()
    split = net.bus["phases"][net.bus.index(sp["bus"])]
    assert (split == Phase.S12).all()
    assert (net.bus["v_nom_v"][net.bus.index(sp["bus"])] == 240.0).all()


def test_radial_under_normal_state(net: Network, multi: Network) -> None:
    for n in (net, multi):
        g = closed_graph(n)
        assert nx.is_forest(g)
        sources = n.source["bus"].tolist()
        for tree in nx.connected_components(g):
            assert sum(b in tree for b in sources) == 1
        assert nx.number_connected_components(g) == len(n.source)


def feeders(n: Network) -> dict[str, set[str]]:
    """Buses of each feeder: what its breaker feeds, found through the topology."""
    g = closed_graph(n, breakers=False)
    sw = n.switch
    out = {}
    for i in np.flatnonzero((sw["kind"] == SwitchKind.breaker) & ~sw["normal_open"]).tolist():
        out[str(sw.ids[i])] = nx.node_connected_component(g, sw["to_bus"][i])
    return out


def test_every_feeder_has_a_breaker_and_a_tie(multi: Network) -> None:
    n = multi
    areas = feeders(n)
    assert len(areas) == 20
    sw = n.switch
    ties = np.flatnonzero(sw["normal_open"] & (sw["kind"] == SwitchKind.load_break_switch))
    assert sw["open"][ties].all()
    owner = {b: f for f, buses in areas.items() for b in buses}
    tied: dict[str, int] = {f: 0 for f in areas}
    substation_of = {f: f.split("-")[0] for f in areas}
    crossings = 0
    for i in ties.tolist():
        a, b = owner[sw["from_bus"][i]], owner[sw["to_bus"][i]]
        assert a != b
        tied[a] += 1
        tied[b] += 1
        crossings += substation_of[a] != substation_of[b]
    assert min(tied.values()) >= 1
    assert crossings >= 1, "neighbouring substations are tied"


def test_equipment_of_a_realistic_territory(multi: Network) -> None:
    n = multi
    sw = n.switch
    kinds = {SwitchKind(k).name: int(c) for k, c in zip(*np.unique(sw["kind"], return_counts=True))}
    assert kinds["recloser"] == 20 and kinds["fuse"] > 20
    assert sw["remote"][sw["kind"] == SwitchKind.recloser].all()
    fuse = sw["kind"] == SwitchKind.fuse
    assert all(re.fullmatch(r"\d+T", c) for c in sw["curve"][fuse])
    assert (sw["rated_a"][fuse] > 0).all()
    assert set(n.bus["phases"][n.bus.index(sw["to_bus"][fuse])]) <= {1, 2, 4, 3, 5, 6}
    assert len(n.source) >= 2 and (n.source["x1_ohm"] > n.source["r1_ohm"]).all()
    sub = n.transformer["kind"] == TransformerKind.three_phase
    assert (n.transformer["conn"][sub, 0] == 1).all() and (n.transformer["v_rated_v"][sub, 1] == 12470).all()
    vr = n.transformer["kind"] == TransformerKind.single_phase
    assert vr.sum() >= 3 and set(n.transformer["bank"][vr]) <= {t[:-2] for t in n.transformer.ids[vr]}
    assert len(n.regulator) == vr.sum() + sub.sum()
    assert len(n.capacitor) >= 10 and len(n.cap_control) >= 5
    service = n.transformer["kind"] == TransformerKind.center_tap
    kva = n.transformer["s_rated_va"][service, 0]
    assert kva.min() >= 10e3 and kva.max() <= 167e3
    assert set(n.line["kind"]) == {LineKind.overhead, LineKind.underground, LineKind.triplex}


def test_customers_look_real(net: Network) -> None:
    sp = net.service_point
    share = np.bincount(sp["cls"], minlength=3) / len(sp)
    assert share[CustomerClass.residential] == pytest.approx(0.88, abs=0.03)
    assert share[CustomerClass.commercial] == pytest.approx(0.11, abs=0.03)
    assert share[CustomerClass.industrial] == pytest.approx(0.01, abs=0.01)
    assert 0 < sp["critical"].sum() < 0.01 * len(sp)
    assert all(sp["name"]) and all(re.fullmatch(r"\d+ .+, .+, [A-Z]{2} \d{5}", a) for a in sp["address"][:200])
    kw_per_customer = net.load["p_w"].sum() / len(sp) / 1e3
    assert 2.5 < kw_per_customer < 6.0
    assert re.fullmatch(r"S01-F1-T\d{4}", sp["transformer"][0])
    assert re.fullmatch(r"S01-F1-B\d{4}", net.line["to_bus"][0])


def test_every_bus_has_coordinates(multi: Network) -> None:
    assert np.isfinite(multi.bus["x"]).all() and np.isfinite(multi.bus["y"]).all()
    assert (multi.line["length_m"] >= 5.0).all()


def test_same_seed_same_network_bit_for_bit(net: Network, tmp_path: Path) -> None:
    again = generate_territory(5_000, seed=7)
    assert again.equals(net)
    a, b = save_native(net, tmp_path / "a"), save_native(again, tmp_path / "b")
    for f in sorted(a.iterdir()):
        assert f.read_bytes() == (b / f.name).read_bytes(), f.name


def test_another_seed_another_network(net: Network) -> None:
    other = generate_territory(5_000, seed=8)
    assert len(other.service_point) == len(net.service_point)
    assert not other.equals(net)
    assert not np.array_equal(other.bus["x"][:100], net.bus["x"][:100])


def test_round_trip_through_native(multi: Network, tmp_path: Path) -> None:
    back = load_native(save_native(multi, tmp_path))
    assert back.equals(multi)


def test_generate_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    net = generate_command(500, 3, tmp_path / "t")
    printed = capsys.readouterr().out
    assert "500 customers" in printed and "feeders" in printed and "buses" in printed
    assert load_native(tmp_path / "t").equals(net)


def test_too_small_territory_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 100"):
        generate_territory(50, seed=1)


def test_line_codes_fill_their_phase_slots() -> None:
    codes = standard_line_codes()
    for i, n in enumerate(codes["n_phases"].tolist()):
        r = codes["r_ohm_per_m"][i]
        assert (r[:n, :n] > 0).all() and not r[n:, :].any() and not r[:, n:].any()


def test_trunk_conductor_is_kerstings_example_4_1() -> None:
    # Kersting, Distribution System Modeling and Analysis, example 4.1: 336,400 26/7 ACSR phases,
    # 4/0 ACSR neutral on the ID-500 crossarm; the phase impedance matrix in ohm/mile.
    from twin.grid.line_constants import MILE_M
    from twin.world.territory import standard_line_codes

    codes = standard_line_codes()
    row = codes.position("336ACSR-3PH-OH")
    z = (codes["r_ohm_per_m"][row] + 1j * codes["x_ohm_per_m"][row]) * MILE_M
    expect = np.array([[0.4576 + 1.0780j, 0.1560 + 0.5017j, 0.1535 + 0.3849j],
                       [0.1560 + 0.5017j, 0.4666 + 1.0482j, 0.1580 + 0.4236j],
                       [0.1535 + 0.3849j, 0.1580 + 0.4236j, 0.4615 + 1.0651j]])
    assert np.abs(z - expect).max() < 2e-4
