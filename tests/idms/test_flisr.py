"""FLISR with known answers on a hand-made pair of feeders with a tie, then on a synthetic
territory's world end to end: a lockout located from the indicators, isolated with the nearest
remote switches, the healthy sections restored (upstream on their own feeder, downstream over the
tie when the power flow allows), and back to normal after the repair."""

from __future__ import annotations

import numpy as np

from tests.idms.ties import feeders
from twin.grid.topology import build_topology
from twin.idms.flisr import isolate, plan_restoration
from twin.idms.flisr.locate import child_bus
from twin.idms.oms.store import OutageStore
from twin.idms.operations_model import OperationsModel
from twin.idms.switching import Study, SwitchingDesk
from twin.idms.switching.store import SwitchingStore


class _Clock:
    def now(self) -> float:
        return 0.0


def _case(net, device, flagged_at=(), clear_at=()):
    """The believed states with ``device`` locked out, and the plan for it: evidence named by the
    line or device each sensing point sits on."""
    model = OperationsModel(net)
    model.apply(device, True, "scada", 1.0)
    desk = SwitchingDesk(net, model, None, _Clock(), SwitchingStore(OutageStore(":memory:")))
    row = net.switch.position(device)
    closed = model.open.copy()
    closed[row] = False
    topo = build_topology(net, switch_open=closed)
    n_line = len(net.line)

    def child(ref):
        edge = net.line.position(ref) if net.line.get(ref) is not None else n_line + net.switch.position(ref)
        return child_bus(topo, edge)

    operable = np.asarray(net.switch["remote"], bool)
    iso = isolate(topo, row, operable, np.array([child(r) for r in flagged_at], np.int64),
                  np.array([child(r) for r in clear_at], np.int64))
    plan = plan_restoration(desk.checker, Study(model.open.copy(), {}, desk.register), iso, operable)
    return model, desk, iso, plan


def _names(net, rows):
    return sorted(net.bus.ids[rows].astype(str).tolist())


def _after(desk, model, plan):
    states = model.open.copy()
    for step in plan.steps:
        states[desk.net.switch.position(step.target)] = step.kind.value == "open"
    return set(desk.net.service_point.ids[desk.connectivity.customers_energised(states)].astype(str))


def test_a_fault_below_the_last_switch_is_isolated_there_and_the_rest_comes_back_on_its_feeder():
    net = feeders()
    model, desk, iso, plan = _case(net, "RCA", flagged_at=["RCA", "LA4"])
    assert _names(net, iso.faulted) == ["a7", "a8"]
    assert net.switch.ids[iso.upstream] == "SWA2" and not len(iso.downstream)
    assert [(s.kind.value, s.target) for s in plan.steps] == [("open", "SWA2"), ("close", "RCA")]
    on = _after(desk, model, plan)
    assert {"C-a6-1", "C-a6-2", "C-a10-1", "C-a10-2"} <= on and not {"C-a8-1", "C-a8-2"} & on
    assert plan.upstream_back == 4 and plan.critical_back == 2 and plan.left_out == 2


def test_a_fault_in_the_reclosers_own_zone_is_isolated_below_and_the_far_end_picked_up_over_the_tie():
    net = feeders()
    model, desk, iso, plan = _case(net, "RCA", flagged_at=["RCA"], clear_at=["LA4"])
    assert iso.upstream == -1 and net.switch.ids[iso.downstream].tolist() == ["SWA2"]
    assert _names(net, iso.faulted) == sorted(["a5", "a6", "a6x", "a9", "a10"])
    assert [(s.kind.value, s.target) for s in plan.steps] == [("open", "SWA2"), ("close", "T1")]
    assert plan.ties == [("SWA2", "T1", "")] and plan.downstream_back == 2 and plan.power_flows >= 1
    assert {"C-a8-1", "C-a8-2"} <= _after(desk, model, plan)


def test_a_tie_the_power_flow_refuses_is_not_used_and_the_downstream_point_stays_closed():
    net = feeders(rated_a={"LB1": 100.0})  # feeder B (83 A) cannot carry a7-a8 (42 A) as well
    model, desk, iso, plan = _case(net, "RCA", flagged_at=["RCA"], clear_at=["LA4"])
    assert plan.steps == [] and plan.downstream_back == 0
    assert "no tie can carry" in plan.notes[0]


def test_a_breaker_lockout_near_the_substation_restores_everything_past_the_first_switch_over_the_tie():
    net = feeders()
    model, desk, iso, plan = _case(net, "BKA", flagged_at=["BKA"], clear_at=["LA2"])
    assert _names(net, iso.faulted) == ["a1", "a2", "a2x"]
    assert net.switch.ids[iso.downstream].tolist() == ["SWA1"]
    assert [(s.kind.value, s.target) for s in plan.steps] == [("open", "SWA1"), ("close", "T1")]
    on = _after(desk, model, plan)
    assert {f"C-{b}-{k}" for b in ("a4", "a6", "a8", "a10") for k in (1, 2)} <= on
    assert not {"C-a2-1", "C-a2-2"} & on
    assert plan.critical_back == 2


def test_without_indicators_the_whole_section_is_faulted_and_nothing_is_switched():
    net = feeders()
    model, desk, iso, plan = _case(net, "RCA")
    assert iso.upstream == -1 and not len(iso.downstream) and plan.steps == []
    assert plan.left_out == 6


def test_a_split_lets_a_weak_tie_pick_up_part_of_the_section():
    # feeder B can carry a7-a8 (900 kW) but not a3-a10 too: split at SWA2, pick up a7-a8 only
    net = feeders(rated_a={"LB1": 200.0})
    model, desk, iso, plan = _case(net, "BKA", flagged_at=["BKA"], clear_at=["LA2"])
    assert plan.ties and plan.ties[0][1] == "T1" and plan.ties[0][2] in ("SWA2", "RCA")
    on = _after(desk, model, plan)
    assert {"C-a8-1", "C-a8-2"} <= on and not {"C-a2-1"} & on


# -- on a world ----------------------------------------------------------------------------------

from twin.grid.topology import build_topology as _topology  # noqa: E402
from twin.session import build_session  # noqa: E402
from twin.world.physics import Fault  # noqa: E402
from twin.world.territory import generate_territory  # noqa: E402


def _territory():
    return generate_territory(4000, seed=2, automation="flisr")


def _below(net, device):
    return set(_topology(net, normal=True).customers_downstream(f"switch.{device}").tolist())


def _out(session):
    return set(np.flatnonzero(~session.world.grid.energised_customers).tolist())


def test_a_trunk_fault_past_the_recloser_is_isolated_and_the_far_end_fed_over_the_tie_then_back_to_normal():
    net = _territory()
    s = build_session(net, hours=2, seed=1, flisr="automatic")
    s.world.inject(Fault("S01-F1-L0012", permanent=True, cause="tree"), at_s=600.0)  # first line past the recloser
    s.world.run_to(900.0)
    case = s.flisr.cases[0]
    assert case.device == "S01-F1-RCL" and case.state == "restored", (case.state, case.notes)
    assert case.restoration.ties and case.restoration.ties[0][0] == "S01-F1-SW2"
    rcl_zone = _below(net, "S01-F1-RCL") - _below(net, "S01-F1-SW2")
    assert _out(s) == rcl_zone  # exactly the faulted zone is out; the rest back within five minutes
    assert case.plan_ms < 1000.0
    # outage management counts the back-fed customers restored though the recloser is still open
    assert sum(r.customers_out for r in s.idms.oms.outages()) == len(rcl_zone)
    grid = s.world.grid
    assert grid.switch_open[net.switch.position("S01-F1-SW2")]
    tie = case.restoration.ties[0][1]
    assert not grid.switch_open[net.switch.position(tie)]
    # the crew repairs and closes the recloser; FLISR puts the tie back open and SW2 closed
    s.world.run_to(14 * 3600.0)
    assert not _out(s) and case.normal_order and case.state == "normal", (case.state, case.notes)
    order = s.idms.switching.orders[case.normal_order]
    assert order.state.value == "done", order.text()
    assert np.array_equal(grid.switch_open, np.asarray(net.switch["normal_open"], bool))


def test_a_fault_past_the_last_switch_brings_the_rest_of_the_recloser_zone_back_upstream():
    net = _territory()
    s = build_session(net, hours=2, seed=1, flisr="automatic")
    s.world.inject(Fault("S01-F1-L0018", permanent=True, cause="tree"), at_s=600.0)  # first line past SW2
    s.world.run_to(900.0)
    case = s.flisr.cases[0]
    assert [(st.kind.value, st.target) for st in case.restoration.steps] == [("open", "S01-F1-SW2"),
                                                                                ("close", "S01-F1-RCL")]
    assert _out(s) == _below(net, "S01-F1-SW2")


def test_faults_on_two_feeders_at_once_each_get_their_own_plan():
    net = _territory()
    s = build_session(net, hours=2, seed=1, flisr="automatic")
    s.world.inject(Fault("S01-F1-L0018", permanent=True), at_s=600.0)
    s.world.inject(Fault("S01-F2-L0018", permanent=True), at_s=601.0)
    s.world.run_to(900.0)
    assert sorted(c.device for c in s.flisr.cases) == ["S01-F1-RCL", "S01-F2-RCL"]
    assert all(c.state == "restored" for c in s.flisr.cases)
    assert _out(s) == _below(net, "S01-F1-SW2") | _below(net, "S01-F2-SW2")


def test_in_advisory_mode_the_plan_waits_for_the_dispatcher():
    net = _territory()
    s = build_session(net, hours=2, seed=1, flisr="advisory")
    s.world.inject(Fault("S01-F1-L0018", permanent=True), at_s=600.0)
    s.world.run_to(900.0)
    case = s.flisr.cases[0]
    order = s.idms.switching.orders[case.order]
    assert case.state == "planned" and order.state.value == "draft"
    assert _out(s) == _below(net, "S01-F1-RCL")  # nothing switched
    desk = s.idms.switching
    desk.approve(order.id, "dispatcher")
    desk.execute(order.id, "dispatcher")
    s.world.run_to(960.0)
    assert _out(s) == _below(net, "S01-F1-SW2")


def test_nothing_closes_into_the_located_fault_while_it_stands():
    net = _territory()
    s = build_session(net, hours=2, seed=1, flisr="automatic")
    s.world.inject(Fault("S01-F1-L0018", permanent=True), at_s=600.0)
    s.world.run_to(900.0)
    ops = []
    s.idms.scada.control("S01-F1-SW2", "close", "trainee", on_done=ops.append)
    assert ops[0].reason.value == "refused" and "known fault" in ops[0].field_reason


def test_the_console_shows_the_proposal_and_runs_it_on_the_dispatchers_word():
    from twin.idms.console.commands import RunOrder
    from twin.idms.console.desk import Desk

    net = _territory()
    s = build_session(net, hours=2, seed=1, flisr="advisory")
    desk = Desk(s.idms, user="trainee")
    s.world.inject(Fault("S01-F1-L0018", permanent=True), at_s=600.0)
    s.world.run_to(900.0)
    order = desk.proposed_order()
    assert order is not None and any(f"FLISR proposes {order.id}" in m for _, m in desk.messages)
    result = desk.execute(RunOrder(order.id))
    assert result.ok, result.text
    s.world.run_to(960.0)
    assert _out(s) == _below(net, "S01-F1-SW2") and order.approved_by == "trainee"
