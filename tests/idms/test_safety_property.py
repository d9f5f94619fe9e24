"""The safety documents' promise, as a property: on random feeders with ties, no sequence of
switching the IDMS accepts (a control any user asks for, or a step of a switching order) ever
energises a section held under a clearance."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.grid.nets import network
from twin.grid import Phase
from twin.grid.schema import SwitchKind
from twin.grid.topology import build_topology
from twin.idms.oms.store import OutageStore
from twin.idms.operations_model import OperationsModel
from twin.idms.switching import ClearanceError, Performer, Step, StepKind, Study, SwitchingDesk
from twin.idms.switching.store import SwitchingStore


class _Clock:
    t = 0.0

    def now(self) -> float:
        return self.t


@st.composite
def cases(draw):
    n = draw(st.integers(4, 22))
    edges = [(draw(st.integers(0, k - 1)), k, draw(st.booleans())) for k in range(1, n)]  # (a, b, is switch)
    edges += [(draw(st.integers(0, n - 1)), draw(st.integers(0, n - 1)), True) for _ in range(draw(st.integers(0, 4)))]
    edges = [(a, b, s) for a, b, s in edges if a != b]
    second = draw(st.one_of(st.none(), st.integers(1, n - 1)))
    bus = draw(st.integers(1, n - 1))
    grow = draw(st.lists(st.integers(0, 10 ** 6), max_size=3))
    ops = draw(st.lists(st.tuples(st.integers(0, 10 ** 6), st.booleans(), st.booleans()), min_size=5, max_size=40))
    return n, edges, second, bus, grow, ops


def _net(n, edges, second, n_tree):
    lines, switches = [], []
    for k, (a, b, is_switch) in enumerate(edges):
        row = {"id": f"e{k}", "from_bus": f"n{a}", "to_bus": f"n{b}"}
        if is_switch:
            tie = k >= n_tree
            switches.append({**row, "kind": SwitchKind.load_break_switch, "remote": True, "normal_open": tie,
                             "open": tie})
        else:
            lines.append(row)
    sources = [0] + ([second] if second is not None else [])
    return network(bus=[{"id": f"n{i}", "v_nom_v": 12470.0, "phases": Phase.ABC} for i in range(n)],
                   source=[{"id": f"S{s}", "bus": f"n{s}", "v_nom_v": 12470.0} for s in sources],
                   line=lines, switch=switches)


def _section(net, edges, bus, grow):
    """A section around ``bus``: its zone over lines, grown through a few switches; its points
    the switches with one end in it."""
    sw_ids = [f"e{k}" for k, (_, _, s) in enumerate(edges) if s]
    inside = {bus}
    while True:  # the zone over lines
        more = {b for a, b, s in edges if not s and a in inside} | {a for a, b, s in edges if not s and b in inside}
        if more <= inside:
            break
        inside |= more
    for g in grow:
        edge = [(a, b) for k, (a, b, s) in enumerate(edges) if s and ((a in inside) != (b in inside))]
        if not edge:
            break
        a, b = edge[g % len(edge)]
        inside |= {a, b}
        while True:
            more = {y for x, y, s in edges if not s and x in inside} | {x for x, y, s in edges if not s and y in inside}
            if more <= inside:
                break
            inside |= more
    points = [f"e{k}" for k, (a, b, s) in enumerate(edges) if s and ((a in inside) != (b in inside))]
    return inside, [p for p in points if p in sw_ids]


@settings(max_examples=200, deadline=None)
@given(cases())
def test_no_accepted_sequence_energises_a_held_section(case):
    n, edges, second, bus, grow, ops = case
    net = _net(n, edges, second, n_tree=n - 1)
    if not len(net.switch):
        return
    clock = _Clock()
    model = OperationsModel(net)
    desk = SwitchingDesk(net, model, None, clock, SwitchingStore(OutageStore(":memory:")))
    inside, points = _section(net, edges, bus, grow)
    if not points:
        return
    try:
        c = desk.new_clearance("LC1", "work", points, location=f"n{bus}", user="op")
    except ClearanceError:
        return  # the section holds a source: no clearance can be written (checked below)
    section = net.bus.index(c.section)
    assert set(c.section) == {f"n{i}" for i in inside}
    for p in points:  # isolate and tag: in force from here
        clock.t += 1.0
        model.apply(p, True, "scada", clock.t)
        desk.register.tagged(c.id, p, f"T-{p}", "op")
    desk.register.issued(c.id, "op")
    switch_ids = net.switch.ids.astype(str)
    accepted = 0
    for pick, open_, as_order in ops:
        device = str(switch_ids[pick % len(switch_ids)])
        clock.t += 1.0
        if as_order:  # a one-step switching order, checked as the desk checks every step
            step = Step(StepKind.open if open_ else StepKind.close, device, by=Performer.scada, allow_loop=True,
                        acknowledged=True)
            ok = desk.checker.check(Study(model.open.copy(), {}, desk.register), step, power_flow=False).ok
        else:  # a control: SCADA's guard and a crew's switching ask the desk
            ok = desk.refusal(device, open_, "anyone") is None
        if ok:
            accepted += 1
            model.apply(device, open_, "scada", clock.t)
        live = build_topology(net, switch_open=model.open).energised
        assert not live[section].any(), (device, open_, as_order)
    for p in points:  # and the isolation points never closed
        assert model.open[net.switch.position(p)]


def test_a_section_holding_a_source_cannot_be_cleared():
    net = _net(3, [(0, 1, True), (1, 2, False)], None, n_tree=2)
    desk = SwitchingDesk(net, OperationsModel(net), None, _Clock(), SwitchingStore(OutageStore(":memory:")))
    try:
        desk.new_clearance("LC1", "work", ["e0"], location="n0", user="op")
    except ClearanceError as err:
        assert "connected to the source" in str(err) or "stays connected" in str(err)
    else:
        raise AssertionError("a clearance around a source was written")
