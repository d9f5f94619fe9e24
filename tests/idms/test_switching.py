"""Switching orders and safety documents on a hand-made pair of feeders with a tie, run against a
world through SCADA: each rule refuses what it should, rehearsals change nothing live, orders run
step by step and survive a restart, clearances hold their section against every route."""

from __future__ import annotations

import numpy as np
import pytest

from tests.idms.ties import feeders
from twin.field_devices.devices import FieldDevices
from twin.field_devices.link import VirtualFieldLink
from twin.grid.topology import build_topology
from twin.idms.scada.control import FailReason, Outcome
from twin.idms.switching import (ClearanceError, ClearanceState, Connectivity, OrderError, OrderState, Performer,
                                 Step, StepKind, StepState)
from twin.idms.system import DispatchError, Idms
from twin.world.clock_link import WorldClock
from twin.world.environment import World
from twin.world.territory import generate_territory

S = StepKind


class Session:
    """The world and an IDMS on it, with SCADA's controls confirmed as the world runs."""

    def __init__(self, net=None, store=None) -> None:
        self.net = net if net is not None else feeders()
        self.world = World(self.net, seed=1)
        self.link = VirtualFieldLink(self.world, FieldDevices(self.world), None)
        self.idms = Idms(self.net, WorldClock(self.world), field=self.link, store=store)
        self.idms.start()
        self.desk = self.idms.switching

    def run(self, s: float = 30.0) -> None:
        self.world.run_to(self.world.now + s)

    def order(self, *steps: Step, title: str = "test", clearances=()):
        return self.desk.create(title, list(steps), user="op", clearances=list(clearances))

    def customers_out(self) -> set[str]:
        return set(self.net.service_point.ids[~self.world.grid.energised_customers].astype(str))


@pytest.fixture
def s() -> Session:
    return Session()


def test_connectivity_agrees_with_the_topology_on_random_states():
    net = generate_territory(2000, seed=4)
    conn = Connectivity(net)
    rng = np.random.default_rng(1)
    for _ in range(25):
        states = rng.random(len(net.switch)) < 0.1
        assert np.array_equal(conn.energised(states), build_topology(net, switch_open=states).energised)


def test_an_open_then_the_tie_closed_restores_by_make_before_break_rules(s):
    # closing the tie first parallels the two sources: refused without a temporary loop
    order = s.order(Step(S.close, "T1"), Step(S.open, "SWA2"))
    result = s.desk.rehearse(order.id)
    assert not result.ok and "two sources in parallel" in result.problems[0]
    loop = s.order(Step(S.close, "T1", allow_loop=True), Step(S.open, "SWA2"))
    result = s.desk.rehearse(loop.id)
    assert result.ok, result.text()
    assert result.steps[0].loop and result.out_at_end == 0 and result.steps[1].lost == 0
    assert s.idms.model.open[s.net.switch.position("T1")]  # a rehearsal changes nothing live


def test_closing_into_a_known_fault_is_refused_by_the_order_and_by_scada(s):
    s.idms.scada.control("SWA2", "open", "op")
    s.run()
    s.desk.add_fault("line:LA4", s.desk.fault_of_line("LA4"))
    order = s.order(Step(S.close, "T1"))
    assert "known fault" in s.desk.rehearse(order.id).problems[0]
    ops = []
    s.idms.scada.control("T1", "close", "someone", on_done=ops.append)
    assert ops[0].outcome == Outcome.failed and ops[0].reason == FailReason.refused
    assert "known fault" in ops[0].field_reason
    s.desk.clear_fault("line:LA4")
    assert s.desk.rehearse(order.id).ok


def test_a_tagged_device_and_critical_customers_without_acknowledgement_are_refused(s):
    s.idms.scada.place_tag("SWA1", "hold", user="op", reason="crew on the pole")
    assert "tagged" in s.desk.rehearse(s.order(Step(S.open, "SWA1")).id).problems[0]
    problems = s.desk.rehearse(s.order(Step(S.open, "RCA")).id).problems  # a6's customers are critical
    assert any("critical" in p for p in problems)
    assert s.desk.rehearse(s.order(Step(S.open, "RCA", acknowledged=True)).id).ok


def test_a_manual_device_cannot_be_a_scada_step(s):
    problems = s.desk.rehearse(s.order(Step(S.open, "FA")).id).problems
    assert "not remotely controlled" in problems[0]
    with pytest.raises(OrderError, match="no crew named"):
        Step(S.open, "FA", by=Performer.crew)


def test_a_pick_up_beyond_the_tie_path_rating_is_found_by_the_power_flow():
    net = feeders(rated_a={"LB1": 120.0})  # feeder B's first line: 120 A
    s = Session(net)
    s.idms.scada.control("SWA1", "open", "op")
    s.run()
    order = s.order(Step(S.close, "T1"))  # picks a3-a10 up over feeder B
    result = s.desk.rehearse(order.id)
    assert any("line.LB1" in p and "% of its rating" in p for p in result.problems), result.text()
    assert result.steps[0].max_loading_pct > 100.0
    light = Session(feeders(rated_a={"LB1": 400.0}))
    light.idms.scada.control("SWA1", "open", "op")
    light.run()
    assert light.desk.rehearse(light.order(Step(S.close, "T1")).id).ok


def test_an_order_runs_through_scada_step_by_step_and_is_done(s):
    order = s.order(Step(S.close, "T1", allow_loop=True), Step(S.open, "SWA2"), Step(S.verify, "SWA2", expect_open=True))
    with pytest.raises(OrderError, match="approve"):
        s.desk.execute(order.id, "op")
    s.desk.approve(order.id, "supervisor")
    s.desk.execute(order.id, "op")
    assert order.state == OrderState.in_progress and order.steps[0].state == StepState.running
    s.run()
    assert order.state == OrderState.done, order.text()
    assert [st.state for st in order.steps] == [StepState.done] * 3
    assert not s.world.grid.switch_open[s.net.switch.position("T1")]
    assert s.world.grid.switch_open[s.net.switch.position("SWA2")]
    assert not s.customers_out()  # make-before-break: nobody lost power


def test_a_refused_draft_is_not_approved(s):
    order = s.order(Step(S.close, "T1"))
    with pytest.raises(OrderError, match="parallel"):
        s.desk.approve(order.id, "supervisor")
    assert order.state == OrderState.draft


def test_a_step_that_fails_halts_the_order_until_resumed(s):
    order = s.order(Step(S.open, "SWA2"), Step(S.close, "SWA2"))
    s.desk.approve(order.id, "supervisor")
    s.idms.scada.place_tag("SWA2", "do_not_operate", user="other", reason="hot stick work")
    s.desk.execute(order.id, "op")
    assert order.steps[0].state == StepState.failed and "tagged" in order.steps[0].result
    assert order.state == OrderState.in_progress
    s.idms.scada.remove_tag(s.idms.scada.controls.tags("SWA2")[0].id, user="other")
    s.desk.resume(order.id, "op")
    s.run()
    assert order.state == OrderState.done, order.text()


def test_orders_and_clearances_survive_a_restart(tmp_path):
    path = tmp_path / "idms.sqlite"
    s = Session(store=path)
    c = s.desk.new_clearance("LC1", "replace crossarm", ["SWA2", "T1"], grounds=["a7"], user="op")
    order = s.order(Step(S.open, "SWA2"), Step(S.tag, "SWA2", clearance=c.id), Step(S.tag, "T1", clearance=c.id),
                    Step(S.ground, "a7", by=Performer.crew, crew="LC1", clearance=c.id), clearances=[c.id])
    s.desk.approve(order.id, "supervisor")
    s.desk.execute(order.id, "op")
    s.run()
    assert order.next == 3 and order.steps[3].state == StepState.running  # waiting for the crew's word
    s.idms.store.close()
    again = Session(feeders(), store=path)  # the IDMS restarts
    back = again.desk.get(order.id)
    assert back.state == OrderState.in_progress and back.next == 3
    assert back.steps[3].state == StepState.failed and "restarted" in back.steps[3].result
    held = again.desk.register.get(c.id)
    assert held.state == ClearanceState.in_force and set(held.tags) == {"SWA2", "T1"}
    assert held.section == c.section


def test_a_known_fault_survives_a_restart(tmp_path):
    path = tmp_path / "idms.sqlite"
    s = Session(store=path)
    s.idms.scada.control("SWA2", "open", "op")
    s.run()
    s.desk.add_fault("line:LA4", s.desk.fault_of_line("LA4"))
    s.idms.store.close()
    again = Session(store=path)
    again.idms.scada.control("SWA2", "open", "op")
    again.run()
    ops = []
    again.idms.scada.control("T1", "close", "op", on_done=ops.append)
    assert ops[0].reason == FailReason.refused and "known fault" in ops[0].field_reason


def test_a_clearance_must_isolate_its_section():
    s = Session()
    with pytest.raises(ClearanceError, match="do not isolate.*source"):
        s.desk.new_clearance("LC1", "work", ["SWA2"], user="op")  # the tie still joins feeder B
    with pytest.raises(ClearanceError, match="outside its section"):
        s.desk.new_clearance("LC1", "work", ["SWA2", "T1"], grounds=["a2"], user="op")


def _planned_work(s: Session):
    c = s.desk.new_clearance("LC1", "replace pole at a8", ["SWA2", "T1"], grounds=["a8"], user="op")
    steps = [Step(S.open, "SWA2", acknowledged=True), Step(S.verify, "SWA2", expect_open=True),
             Step(S.tag, "SWA2", clearance=c.id), Step(S.tag, "T1", clearance=c.id), Step(S.verify, "a8"),
             Step(S.ground, "a8", by=Performer.crew, crew="LC1", clearance=c.id),
             Step(S.issue, by=Performer.dispatcher, clearance=c.id)]
    back = [Step(S.take_back, by=Performer.crew, crew="LC1", clearance=c.id),
            Step(S.remove_ground, "a8", by=Performer.crew, crew="LC1", clearance=c.id),
            Step(S.untag, "T1", clearance=c.id), Step(S.untag, "SWA2", clearance=c.id), Step(S.close, "SWA2")]
    return c, steps, back


def test_a_clearance_holds_its_section_from_isolation_to_hand_back(s):
    c, steps, back = _planned_work(s)
    order = s.order(*steps, clearances=[c.id])
    rehearsal = s.desk.rehearse(order.id)
    assert rehearsal.ok, rehearsal.text()
    s.desk.approve(order.id, "supervisor")
    s.desk.execute(order.id, "op")
    s.run()
    assert order.next == 5  # waits for the crew: grounds on
    s.desk.confirm(order.id, "op", "LC1: grounds on at a8")
    assert order.state == OrderState.done and s.desk.register.get(c.id).state == ClearanceState.issued
    assert {"C-a8-1", "C-a8-2"} <= s.customers_out()
    # every route back into the section is refused while the crew holds it, and logged
    for device in ("SWA2", "T1"):
        ops = []
        s.idms.scada.control(device, "close", "trainee", on_done=ops.append)
        assert ops[0].outcome == Outcome.failed and ops[0].reason in (FailReason.tagged, FailReason.refused)
    for tag in list(s.idms.scada.controls.tags()):  # even with the tags torn off, the register refuses
        s.idms.scada.remove_tag(tag.id, user="trainee")
    ops = []
    s.idms.scada.control("T1", "close", "trainee", on_done=ops.append)
    assert ops[0].reason == FailReason.refused and "clearance" in ops[0].field_reason
    assert s.desk.register.refusals and s.desk.register.refusals[-1].user == "trainee"
    with pytest.raises(DispatchError, match="clearance"):
        s.idms.switch_by_crew("TS1", "SWA2", False, "trainee")
    # the way back: the untag steps wait for the hand-back and the grounds off
    early = s.order(Step(S.untag, "SWA2", clearance=c.id))
    assert "hands it back" in s.desk.rehearse(early.id).problems[0]
    home = s.order(*back)
    assert s.desk.rehearse(home.id).ok, s.desk.rehearse(home.id).text()


def test_the_way_back_closes_the_clearance_and_restores_the_customers():
    s = Session()
    c, steps, back = _planned_work(s)
    order = s.order(*steps)
    s.desk.approve(order.id, "supervisor")
    s.desk.execute(order.id, "op")
    s.run()
    s.desk.confirm(order.id, "op")
    home = s.order(*back)
    s.desk.approve(home.id, "supervisor")
    s.desk.execute(home.id, "op")
    s.desk.confirm(home.id, "op", "LC1: clear, men and tools off")
    s.desk.confirm(home.id, "op", "LC1: grounds off")
    s.run()
    assert home.state == OrderState.done, home.text()
    assert s.desk.register.get(c.id).state == ClearanceState.closed
    assert not s.customers_out()
