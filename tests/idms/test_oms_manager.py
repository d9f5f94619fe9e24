"""The outage manager on its own, fed by hand: a clock that runs when told, the operations model,
and trouble calls and SCADA reports given directly (no world)."""

from __future__ import annotations

import heapq

import numpy as np
import pytest

from twin.idms.interfaces.ami import AmiEvent, AmiEventKind, AmiReply, MeterAnswer, RequestKind
from twin.idms.interfaces.call_centre import Report, TroubleCall
from twin.idms.interfaces.workforce import CrewReport, ReportKind
from twin.idms.oms.manager import OutageManager
from twin.idms.oms.records import OutageState
from twin.idms.oms.rules import RuleSet
from twin.idms.oms.store import OutageStore
from twin.idms.operations_model import OperationsModel, Source
from twin.world.territory import generate_territory

FUSE = "S01-F1-FU008"  # 10 transformers, 76 customers, below the recloser
FUSE_BELOW_RECLOSER = "S01-F1-FU017"


class Clock:
    """Seconds that pass only when :meth:`run_to` says so."""

    def __init__(self) -> None:
        self.t, self._due, self._seq = 0.0, [], 0

    def now(self) -> float:
        return self.t

    def call_later(self, delay_s, callback) -> None:
        self._seq += 1
        heapq.heappush(self._due, (self.t + max(0.0, delay_s), self._seq, callback))

    def run_to(self, t: float) -> None:
        while self._due and self._due[0][0] <= t:
            self.t, _, callback = heapq.heappop(self._due)
            callback()
        self.t = t


@pytest.fixture(scope="module")
def net():
    return generate_territory(2000, seed=4)


class Ami:
    """A head-end whose pings wait until the test answers them (:meth:`answer`)."""

    def __init__(self, net) -> None:
        self.sp = {str(m): str(i) for i, m in zip(net.service_point.ids.tolist(), net.service_point["meter"].tolist())}
        self.asked: list[tuple[list[str], object]] = []

    def subscribe(self, callback) -> None:
        self.on_events = callback

    def ping(self, meters, callback) -> int:
        self.asked.append((list(meters), callback))
        return len(self.asked)

    def answer(self, t: float, energised=frozenset(), dark=frozenset()) -> set[str]:
        """Answer every ping asked so far (the meters in ``energised`` answer, those in ``dark``
        the head-end has no route to); the meters asked."""
        asked, self.asked = self.asked, []
        meters = set()
        for n, (ms, callback) in enumerate(asked):
            meters.update(ms)
            callback(AmiReply(n, RequestKind.ping, t, tuple(
                MeterAnswer(m, self.sp[m], m in energised and m not in dark,
                            10.0 if m in energised and m not in dark else float("nan"), routed=m not in dark)
                for m in ms)))
        return meters


def _manager(net, store=None, rules="normal", ami=None):
    clock = Clock()
    model = OperationsModel(net)
    return clock, model, OutageManager(model, clock, store=store, rules=rules, ami=ami)


def _two_callers(net, oms):
    """Two customers of the fuse under different transformers."""
    tree = oms.tree
    node = tree.node(FUSE)
    below = tree.customers_below(node)
    first = below[0]
    other = next(c for c in below if tree.leaf[c] != tree.leaf[first])
    return int(first), int(other)


def _call(net, c, t, n):
    sp = net.service_point
    return TroubleCall(f"CALL-{n}", t, str(sp.ids[c]), str(sp["meter"][c]), Report.no_power)


def test_calls_from_two_transformers_of_a_fuse_within_the_window_predict_the_fuse(net):
    clock, _, oms = _manager(net)
    a, b = _two_callers(net, oms)
    oms.on_calls([_call(net, a, 0.0, 1)])
    clock.run_to(100.0)
    assert [r.device_kind for r in oms.outages()] == ["transformer"]  # one call: its transformer
    oms.on_calls([_call(net, b, 100.0, 2)])
    clock.run_to(200.0)
    (rec,) = oms.outages()
    assert rec.device == FUSE and rec.calls == 2 and rec.state == OutageState.predicted
    assert set(oms.customers_of(rec.id).tolist()) == set(oms.tree.customers_below(oms.tree.node(FUSE)).tolist())


def test_calls_further_apart_than_the_window_are_two_outages(net):
    clock, _, oms = _manager(net)
    a, b = _two_callers(net, oms)
    oms.on_calls([_call(net, a, 0.0, 1)])
    clock.run_to(100.0)
    far = 100.0 + oms.rules.window_s + 60.0
    clock.run_to(far)
    oms.on_calls([_call(net, b, far, 2)])
    clock.run_to(far + 100.0)
    assert sorted(r.device_kind for r in oms.outages()) == ["transformer", "transformer"]


def test_a_scada_trip_is_confirmed_at_once_and_its_close_restores_every_customer_once(net, tmp_path):
    store = OutageStore(tmp_path / "oms.sqlite")
    clock, model, oms = _manager(net, store=store)
    clock.run_to(50.0)
    model.apply("S01-F1-RCL", True, Source.scada, 50.0, cause="protective")
    (rec,) = oms.outages()
    out = set(model.customers_below("S01-F1-RCL").tolist())
    assert rec.state == OutageState.confirmed and rec.confirmed_by == "scada" and rec.detected_s == 50.0
    assert set(oms.customers_of(rec.id).tolist()) == out
    clock.run_to(650.0)
    model.apply("S01-F1-RCL", False, Source.scada, 650.0, cause="commanded")
    rec = oms.get(rec.id)
    assert rec.state == OutageState.restored and rec.restored_s == 650.0 and not oms.outages()
    intr = oms.interruptions()
    assert sorted(intr.customer.tolist()) == sorted(out) and np.allclose(intr.end_s - intr.start_s, 600.0)
    assert rec.customer_minutes == pytest.approx(len(out) * 10.0)
    stored = OutageStore(tmp_path / "oms.sqlite").load()  # what a restart would read
    assert [r.id for r in stored.outages] == [rec.id] and stored.outages[0].state == OutageState.restored
    assert len(stored.interruption_id) == len(out) and np.allclose(stored.interruption_end_s, 650.0)


def test_a_fuse_out_inside_a_recloser_outage_stays_out_when_the_recloser_closes(net):
    clock, model, oms = _manager(net)
    fuse_customers = set(model.customers_below(FUSE_BELOW_RECLOSER).tolist())
    assert fuse_customers < set(model.customers_below("S01-F1-RCL").tolist())  # nested
    clock.run_to(10.0)
    model.apply(FUSE_BELOW_RECLOSER, True, Source.crew, 10.0, cause="found open")
    clock.run_to(20.0)
    model.apply("S01-F1-RCL", True, Source.scada, 20.0, cause="protective")
    fuse_rec = next(r for r in oms.outages() if r.device == FUSE_BELOW_RECLOSER)
    rcl_rec = next(r for r in oms.outages() if r.device == "S01-F1-RCL")
    assert set(oms.customers_of(fuse_rec.id).tolist()) == fuse_customers
    assert not set(oms.customers_of(rcl_rec.id).tolist()) & fuse_customers  # one record each
    clock.run_to(300.0)
    model.apply("S01-F1-RCL", False, Source.scada, 300.0, cause="commanded")
    assert oms.get(rcl_rec.id).state == OutageState.restored
    assert oms.get(fuse_rec.id).active and set(oms.customers_of(fuse_rec.id).tolist()) == fuse_customers


def _under(oms, transformer: str) -> int:
    """A customer of a service transformer."""
    tree = oms.tree
    return int(tree.customers_below(tree.node(transformer))[0])


def test_a_crew_finding_one_branch_of_a_recloser_predicted_from_calls_rolls_the_other_calls_up_again(net):
    clock, _, oms = _manager(net)
    a, b, b2 = (_under(oms, t) for t in ("S01-F1-T0029", "S01-F1-T0039", "S01-F1-T0040"))  # FU008, FU009 x2
    oms.on_calls([_call(net, a, 0.0, 1), _call(net, b, 5.0, 2)])
    clock.run_to(100.0)
    (rec,) = oms.outages()
    assert rec.device == "S01-F1-RCL"  # normal rules: two laterals out, one event
    oms.on_calls([_call(net, b2, 150.0, 3)])  # in the recloser's outage already: still what b2 said
    clock.run_to(200.0)
    oms.assign(rec.id, "C1")
    oms.on_crew_report(CrewReport("C1", ReportKind.found, 500.0, device=FUSE, line="L1", cause="tree"))
    clock.run_to(500.0)
    by_device = {r.device: r for r in oms.outages()}
    assert set(by_device) == {FUSE, "S01-F1-FU009"}  # not the recloser again: the crew saw it closed
    assert oms.get(rec.id).device == FUSE
    fu009 = set(oms.tree.customers_below(oms.tree.node("S01-F1-FU009")).tolist())
    assert set(oms.customers_of(by_device["S01-F1-FU009"].id).tolist()) == fu009
    intr = oms.interruptions()  # b's interruption goes on from the outage's start, once
    assert intr.start_s[intr.customer == b].tolist() == [0.0] and np.isnan(intr.end_s[intr.customer == b]).all()
    oms.on_calls([_call(net, a, 600.0, 4), _call(net, b, 600.0, 5)])
    clock.run_to(700.0)
    assert {r.device for r in oms.outages()} == {FUSE, "S01-F1-FU009"}


def test_without_ami_predicted_pockets_of_a_recloser_outage_come_back_with_it(net):
    clock, model, oms = _manager(net)
    a = _under(oms, "S01-F1-T0029")
    oms.on_calls([_call(net, a, 0.0, 1)])
    clock.run_to(60.0)
    (pocket,) = oms.outages()
    model.apply("S01-F1-RCL", True, Source.scada, 60.0, cause="protective")
    (rec,) = oms.outages()
    assert rec.device == "S01-F1-RCL" and oms.get(pocket.id).state == OutageState.cancelled  # merged in
    clock.run_to(600.0)
    model.apply("S01-F1-RCL", False, Source.scada, 600.0, cause="commanded")
    assert not oms.outages()  # no AMI to check a pocket: the callback asks whoever called


def test_predictions_count_together_by_when_they_were_made_not_when_their_customers_went_out(net):
    clock, model, oms = _manager(net, rules="storm")
    model.apply("S01-F1-RCL", True, Source.scada, 10.0, cause="protective")
    clock.run_to(5000.0)
    model.apply("S01-F1-RCL", False, Source.scada, 5000.0, cause="commanded")
    assert not oms.outages()
    # out again at once under FU017 (closed into a fault): their interruptions began at 10 s
    callers = [_under(oms, t) for t in ("S01-F1-T0120", "S01-F1-T0121", "S01-F1-T0122")]
    for n, c in enumerate(callers):
        t = 5100.0 + 100.0 * n
        oms.on_calls([_call(net, c, t, n)])
        clock.run_to(t + 60.0)
    (rec,) = oms.outages()
    assert rec.device == FUSE_BELOW_RECLOSER and rec.start_s == 10.0  # one interruption since the lockout


def test_with_ami_a_prediction_merged_into_a_lockout_is_pinged_when_it_closes_not_kept_out_on_trust(net):
    ami = Ami(net)
    clock, model, oms = _manager(net, ami=ami)
    tree = oms.tree
    pocket = tree.customers_below(tree.node("S01-F1-T0120"))  # under FU017, under the recloser
    meters = [str(m) for m in net.service_point["meter"][pocket].tolist()]
    ami.on_events([AmiEvent(AmiEventKind.last_gasp, m, ami.sp[m], 0.0, 5.0) for m in meters])
    clock.run_to(40.0)
    (predicted,) = oms.outages()
    assert predicted.device == "S01-F1-T0120" and ami.asked  # its check: not answered yet
    model.apply("S01-F1-RCL", True, Source.scada, 60.0, cause="protective")
    (rec,) = oms.outages()
    assert rec.device == "S01-F1-RCL" and oms.get(predicted.id).state == OutageState.cancelled
    ami.asked.clear()
    clock.run_to(600.0)
    model.apply("S01-F1-RCL", False, Source.scada, 600.0, cause="commanded")
    assert not oms.outages()  # nothing kept out on trust
    clock.run_to(601.0)
    assert ami.answer(610.0) >= set(meters)  # the pocket's meters asked at once: silent
    assert ami.answer(670.0) >= set(meters)  # and once more: silent again
    clock.run_to(700.0)
    (again,) = oms.outages()
    assert again.device == "S01-F1-T0120" and set(oms.customers_of(again.id).tolist()) == set(pocket.tolist())
    intr = oms.interruptions()
    mine = np.isin(intr.customer, pocket)
    assert mine.sum() == len(pocket) and (intr.start_s[mine] == 0.0).all()  # one interruption each, from the gasps


@pytest.mark.parametrize("mates_answer", [True, False])
def test_a_meter_silent_through_a_sweep_is_an_outage_only_if_its_transformer_mates_are_silent_too(net, mates_answer):
    ami = Ami(net)
    clock, _, oms = _manager(net, ami=ami)
    tree = oms.tree
    on_t = tree.customers_below(tree.node("S01-F1-T0029"))
    meters = [str(m) for m in net.service_point["meter"][on_t].tolist()]
    lone = meters[0]
    silent = {lone} if mates_answer else set(meters)
    every = set(ami.sp)
    oms.sweep()
    for t in (60.0, 120.0):  # the sweep and its second round
        assert lone in ami.answer(t, energised=every - silent)
    assert set(meters) <= ami.answer(180.0, energised=every - silent)  # the last round asks the mates too
    clock.run_to(300.0)
    if mates_answer:
        assert not oms.outages()  # its radio, not an outage
    else:
        (rec,) = oms.outages()
        assert rec.device == "S01-F1-T0029"


def test_a_late_scada_open_under_a_device_predicted_from_old_calls_is_one_confirmed_outage_on_the_list(net):
    """An RTU back on line reports, long after, that the recloser opened: the recloser predicted
    since on calls older than the window is withdrawn and confirmed, never merged into itself."""
    clock, model, oms = _manager(net, rules=RuleSet.from_mapping({"window_s": 600.0}))
    a, b = (_under(oms, t) for t in ("S01-F1-T0029", "S01-F1-T0039"))
    oms.on_calls([_call(net, a, 0.0, 1), _call(net, b, 5.0, 2)])
    clock.run_to(2000.0)
    assert [r.device for r in oms.outages()] == ["S01-F1-RCL"]
    model.apply("S01-F1-RCL", True, Source.scada, 500.0, cause="protective")  # time stamped 500 s
    (rec,) = oms.outages()
    assert rec.device == "S01-F1-RCL" and rec.state == OutageState.confirmed and rec.confirmed_by == "scada"
    assert set(oms.customers_of(rec.id).tolist()) == set(model.customers_below("S01-F1-RCL").tolist())
    assert all(r.reason != f"merged into {r.id} at {r.device}" for r in oms.records)


def test_customers_who_call_from_below_a_device_believed_open_with_no_outage_for_it_are_counted(net):
    clock = Clock()
    model = OperationsModel(net)
    model.apply("S01-F1-RCL", True, Source.scada, 0.0, cause="protective")  # before the outage manager
    oms = OutageManager(model, clock)
    assert not model.customer_live[_under(oms, "S01-F1-T0029")] and not oms.outages()
    callers = [_under(oms, t) for t in ("S01-F1-T0029", "S01-F1-T0030")]
    oms.on_calls([_call(net, c, 100.0, n) for n, c in enumerate(callers)])
    clock.run_to(200.0)
    (rec,) = oms.outages()
    assert set(callers) <= set(oms.customers_of(rec.id).tolist())


def test_a_check_asks_the_meters_it_can_reach_not_those_found_out_of_reach(net):
    # a call predicts its transformer; that check's meters (its mates, and the fuse's other
    # customers as the control) prove out of reach: the AMI network is down over part of the fuse.
    # A second call predicts the fuse: its check asks other meters below it, and their answers
    # withdraw the prediction
    ami = Ami(net)
    clock, _, oms = _manager(net, ami=ami)
    a, b = _two_callers(net, oms)
    meter = net.service_point["meter"]
    oms.on_calls([_call(net, a, 0.0, 1)])
    clock.run_to(31.0)
    ami.answer(35.0, dark={str(meter[a])})  # the call's own ping: no route
    clock.run_to(70.0)
    (rec,) = oms.outages()
    assert rec.device_kind == "transformer" and ami.asked
    dark = ami.answer(75.0, dark=set(ami.asked[-1][0]))
    oms.on_calls([_call(net, b, 100.0, 2)])
    clock.run_to(131.0)
    ami.answer(135.0, dark={str(meter[b])})
    clock.run_to(170.0)
    (rec,) = oms.outages()
    assert rec.device == FUSE and ami.asked
    asked = set(ami.asked[-1][0])
    assert asked and not asked & dark  # none of those found out of reach
    ami.answer(175.0, energised=asked)
    clock.run_to(176.0)
    assert oms.get(rec.id).state == OutageState.cancelled


def test_a_crew_that_finds_a_device_entered_open_by_hand_closed_and_live_corrects_the_model(net):
    # a wrong status entered by hand (the model error of a scenario): its outage is withdrawn and
    # the model takes the crew's word, so no crew is sent there again
    clock, model, oms = _manager(net)
    model.apply(FUSE, True, Source.manual, 10.0, cause="entered by hand")
    (rec,) = oms.outages()
    assert rec.confirmed_by == "manual"
    oms.assign(rec.id, "C1")
    clock.run_to(600.0)
    oms.on_crew_report(CrewReport("C1", ReportKind.found_nothing, 600.0, device=FUSE))
    assert not oms.outages() and oms.get(rec.id).state == OutageState.cancelled
    assert model.belief(FUSE)[:2] == (False, Source.crew)
