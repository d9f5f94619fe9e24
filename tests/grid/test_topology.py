"""Topology: energisation, upstream devices and downstream customers on known and random feeders."""

from __future__ import annotations

import networkx as nx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from twin.errors import ModelError
from twin.grid import Phase, SwitchKind, TransformerKind
from twin.grid.topology import build_topology

from .nets import network


def two_feeders(tie_open: bool = True):
    """Two substations; feeder 1 has a recloser, a fused lateral with a service transformer and
    a normally open tie to feeder 2."""
    sw = SwitchKind
    return network(
        "two-feeders",
        bus=[{"id": "s6", "v_nom_v": 240.0, "phases": Phase.S12}],
        source=[{"id": "S", "bus": "sub", "v_nom_v": 12470.0}, {"id": "S2", "bus": "sub2", "v_nom_v": 12470.0}],
        switch=[
            {"id": "BRK", "from_bus": "sub", "to_bus": "b1", "kind": sw.breaker},
            {"id": "R1", "from_bus": "b2", "to_bus": "b3", "kind": sw.recloser},
            {"id": "F1", "from_bus": "b4", "to_bus": "b5", "kind": sw.fuse, "phases": Phase.A},
            {"id": "TIE", "from_bus": "b7", "to_bus": "c1", "kind": sw.load_break_switch,
             "normal_open": True, "open": tie_open},
            {"id": "BRK2", "from_bus": "sub2", "to_bus": "c0", "kind": sw.breaker},
        ],
        line=[
            {"id": "L1", "from_bus": "b1", "to_bus": "b2"},
            {"id": "L2", "from_bus": "b3", "to_bus": "b4"},
            {"id": "L3", "from_bus": "b5", "to_bus": "b6", "phases": Phase.A},
            {"id": "L4", "from_bus": "b3", "to_bus": "b7"},
            {"id": "M1", "from_bus": "c0", "to_bus": "c1"},
        ],
        transformer=[{
            "id": "T1", "kind": TransformerKind.center_tap, "n_windings": 3, "bus": ["b6", "s6", "s6"],
            "phases": [Phase.A, Phase.S1, Phase.S2], "v_rated_v": [7200.0, 120.0, 120.0],
            "s_rated_va": [25e3] * 3, "x_hl_pct": 2.0,
        }],
        service_point=[
            {"id": "C1", "meter": "m1", "bus": "s6", "transformer": "T1"},
            {"id": "C2", "meter": "m2", "bus": "s6", "transformer": "T1"},
            {"id": "C3", "meter": "m3", "bus": "b7"},
            {"id": "C4", "meter": "m4", "bus": "c1"},
        ],
    )


def customers(topo, ref):
    return sorted(topo.net.service_point.ids[topo.customers_downstream(ref)])


def test_downstream_customers_of_each_device():
    topo = build_topology(two_feeders())
    assert customers(topo, "switch.BRK") == ["C1", "C2", "C3"]
    assert customers(topo, "switch.R1") == ["C1", "C2", "C3"]
    assert customers(topo, "switch.F1") == ["C1", "C2"]
    assert customers(topo, "transformer.T1") == ["C1", "C2"]
    assert customers(topo, "line.L4") == ["C3"]
    assert customers(topo, "switch.BRK2") == ["C4"]
    assert customers(topo, "switch.TIE") == []  # open: opening it changes nothing
    assert customers(topo, "bus.b4") == ["C1", "C2"]


def test_upstream_device_feeder_and_path():
    topo = build_topology(two_feeders())
    assert topo.upstream_protective("service_point.C1") == "F1"
    assert topo.upstream_protective("switch.F1") == "R1"
    assert topo.upstream_protective("line.L4") == "R1"
    assert topo.upstream_protective("switch.R1") == "BRK"
    assert topo.upstream_protective("bus.sub") == ""
    assert topo.feeder_of("service_point.C1") == "BRK"
    assert topo.feeder_of("service_point.C4") == "BRK2"
    assert topo.feeder_of("bus.sub") == "S"
    assert topo.path_to_source("service_point.C1") == [
        "service_point.C1", "transformer.T1", "line.L3", "switch.F1", "line.L2", "switch.R1",
        "line.L1", "switch.BRK", "source.S",
    ]
    sp = topo.net.service_point
    assert topo.net.transformer.ids[topo.transformer_above[topo.net.bus.position("s6")]] == "T1"
    assert len(sp) == 4


def test_energisation_follows_switch_states():
    net = two_feeders()
    net.switch["open"][net.switch.position("R1")] = True
    topo = build_topology(net)
    dead = set(net.bus.ids[~topo.energised])
    assert dead == {"b3", "b4", "b5", "b6", "b7", "s6"}
    assert topo.feeder_of("bus.b7") == ""
    assert topo.path_to_source("bus.b7") == []
    assert customers(topo, "switch.F1") == []  # already dead
    # the normal state is unaffected by the present one
    assert build_topology(net, normal=True).energised.all()
    # islands: the dead section is one component apart from both feeders
    assert len(set(topo.island[~topo.energised])) == 1


def test_closed_tie_makes_a_loop_through_both_sources():
    topo = build_topology(two_feeders(tie_open=False))
    (loop,) = topo.loops()
    assert loop[0].startswith("source.") and loop[-1].startswith("source.")
    assert {"switch.TIE", "switch.R1", "switch.BRK2", "line.L4"} <= set(loop)
    # a section fed from both ends loses nothing when one side opens...
    assert customers(topo, "switch.R1") == []
    assert customers(topo, "switch.BRK") == []
    # ...but a radial lateral off the loop still does
    assert customers(topo, "switch.F1") == ["C1", "C2"]
    assert build_topology(two_feeders()).loops() == []


def test_parallel_lines_form_a_loop():
    net = network(
        source=[{"id": "S", "bus": "a", "v_nom_v": 12470.0}],
        line=[{"id": "P1", "from_bus": "a", "to_bus": "b"}, {"id": "P2", "from_bus": "a", "to_bus": "b"},
              {"id": "X", "from_bus": "b", "to_bus": "c"}],
        service_point=[{"id": "C", "meter": "m", "bus": "c"}],
    )
    topo = build_topology(net)
    assert [sorted(x) for x in topo.loops()] == [["line.P1", "line.P2"]]
    assert customers(topo, "line.P1") == [] and customers(topo, "line.P2") == []
    assert customers(topo, "line.X") == ["C"]


def test_unknown_bus_and_bad_reference_are_model_errors():
    net = two_feeders()
    net.line["to_bus"][0] = "nowhere"
    with pytest.raises(ModelError) as err:
        build_topology(net)
    assert err.value.element == "L1" and err.value.component == "line"
    topo = build_topology(two_feeders())
    with pytest.raises(ModelError):
        topo.customers_downstream("switch.NOPE")
    with pytest.raises(ModelError):
        topo.customers_downstream("R1")


@st.composite
def random_feeders(draw):
    """A random network: one or two sources, a random tree, extra chords, random open states."""
    n = draw(st.integers(2, 40))
    parents = [draw(st.integers(0, i - 1)) for i in range(1, n)]
    edges = [(p, i + 1) for i, p in enumerate(parents)]
    n_chords = draw(st.integers(0, 3))
    edges += [(draw(st.integers(0, n - 1)), draw(st.integers(0, n - 1))) for _ in range(n_chords)]
    edges = [(a, b) for a, b in edges if a != b]
    is_switch = [draw(st.booleans()) for _ in edges]
    is_open = [s and draw(st.integers(0, 3)) == 0 for s in is_switch]
    sources = sorted({0} | ({draw(st.integers(0, n - 1))} if draw(st.booleans()) else set()))
    n_cust = draw(st.integers(0, 30))
    cust_bus = [draw(st.integers(0, n - 1)) for _ in range(n_cust)]
    return n, edges, is_switch, is_open, sources, cust_bus


@settings(max_examples=150, deadline=None)
@given(random_feeders())
def test_downstream_customers_match_brute_force(case):
    n, edges, is_switch, is_open, sources, cust_bus = case
    lines, switches = [], []
    for k, ((a, b), s, o) in enumerate(zip(edges, is_switch, is_open)):
        row = {"id": f"e{k}", "from_bus": f"n{a}", "to_bus": f"n{b}"}
        if s:
            switches.append({**row, "kind": SwitchKind.disconnect, "open": o})
        else:
            lines.append(row)
    net = network(
        bus=[{"id": f"n{i}", "v_nom_v": 12470.0, "phases": Phase.ABC} for i in range(n)],
        source=[{"id": f"S{s}", "bus": f"n{s}", "v_nom_v": 12470.0} for s in sources],
        line=lines,
        switch=switches,
        service_point=[{"id": f"c{k}", "meter": f"m{k}", "bus": f"n{b}"} for k, b in enumerate(cust_bus)],
    )
    topo = build_topology(net)
    closed = [(f"{'switch' if s else 'line'}.e{k}", a, b)
              for k, ((a, b), s, o) in enumerate(zip(edges, is_switch, is_open)) if not o]

    def live(without: str | None = None) -> set[int]:
        g = nx.MultiGraph()
        g.add_nodes_from(range(n))
        g.add_edges_from((a, b) for ref, a, b in closed if ref != without)
        return set().union(*(nx.node_connected_component(g, s) for s in sources))

    before = live()
    assert {int(b[1:]) for b in net.bus.ids[topo.energised]} == before
    for ref, _, _ in closed:
        lost = before - live(ref)
        expect = sorted(f"c{k}" for k, b in enumerate(cust_bus) if b in lost)
        assert customers(topo, ref) == expect, ref
        (e,) = topo.edges_of(ref)
        if topo.energised[topo.edge_from[e]]:
            assert topo.edge_on_loop[e] == (not lost), ref
    # independent loops (the ground node ties the sources): closed live edges + sources - live buses
    live_edges = sum(1 for _, a, b in closed if a in before)
    assert len(topo.loops()) == live_edges + len(sources) - len(before)


def test_serving_transformer_only_for_secondary_customers():
    from twin.grid.topology import serving_transformers

    net = two_feeders()
    assert serving_transformers(net).tolist() == ["T1", "T1", "", ""]


def test_a_bank_of_single_phase_units_is_one_device_not_a_loop():
    units = [{"id": f"VR-{p.name}", "kind": TransformerKind.single_phase, "bus": ["a", "b", ""],
              "phases": [p, p, 0], "v_rated_v": [7200.0, 7200.0, 0.0], "s_rated_va": [1e6] * 3,
              "x_hl_pct": 0.1} for p in (Phase.A, Phase.B, Phase.C)]
    net = network(
        bus=[{"id": b, "v_nom_v": 12470.0, "phases": Phase.ABC} for b in ("a", "b")],
        source=[{"id": "S", "bus": "a", "v_nom_v": 12470.0}],
        transformer=units,
        line=[{"id": "X", "from_bus": "b", "to_bus": "c"},
              # single-phase switches on different phases between the same buses: one device
              {"id": "J", "from_bus": "c", "to_bus": "d", "phases": Phase.A}],
        switch=[{"id": "K", "from_bus": "c", "to_bus": "d", "phases": Phase.B, "kind": SwitchKind.fuse}],
        service_point=[{"id": "C", "meter": "m", "bus": "c"}, {"id": "D", "meter": "m", "bus": "d"}],
    )
    topo = build_topology(net)
    assert topo.loops() == []
    for unit in ("VR-A", "VR-B", "VR-C"):
        assert customers(topo, f"transformer.{unit}") == ["C", "D"]
    assert customers(topo, "switch.K") == ["D"] and customers(topo, "line.J") == ["D"]
    # without the bank name, two units on the same phase are parallel paths: a real loop
    net.transformer["bank"][:] = ""
    net.transformer["phases"][:] = [Phase.A, Phase.A, 0]
    assert len(build_topology(net).loops()) == 2
