"""The IDMS's interfaces on the world: the virtual field-device link (integrity scans, report by
exception, comms failures, select-before-operate), the AMI head-end, the call centre, the
workforce and the clock, each on a small generated territory."""

from __future__ import annotations

import numpy as np
import pytest

from twin.field_devices.devices import FieldDevices
from twin.field_devices.indicators import FaultIndicators
from twin.field_devices.link import VirtualFieldLink
from twin.idms.interfaces.ami import AmiEventKind, AmiHeadEnd, RequestKind
from twin.idms.interfaces.call_centre import CallCentre, Report
from twin.idms.interfaces.clock import Clock
from twin.idms.interfaces.field_devices import (SELECT_TIMEOUT_S, ControlStatus, FieldDeviceLink, PointValue,
                                                Quality)
from twin.idms.interfaces.workforce import Activity, ReportKind, Workforce
from twin.world.clock_link import WorldClock
from twin.world.environment import World
from twin.world.events import EventKind
from twin.world.physics import Fault
from twin.world.territory import generate_territory

BREAKER, RECLOSER, FUSE, LOCAL_SWITCH = "S01-F1-BKR", "S01-F1-RCL", "S01-F1-FU001", "S01-F1-SW1"
TRUNK_ABOVE_SW1 = "S01-F1-L0002"  # the breaker protects it
LATERAL = "S01-F1-L0024"  # below fuse FU001
BELOW_RECLOSER = "S01-F1-L0016"


@pytest.fixture(scope="module")
def net():
    return generate_territory(2000, seed=3)


def _field(net, **world):
    w = World(net, seed=1, **world)
    devices, fci = FieldDevices(w), FaultIndicators(w)
    link = VirtualFieldLink(w, devices, fci)
    seen: list[list[PointValue]] = []
    link.subscribe(seen.append)
    return w, devices, fci, link, seen


def _reported(seen, device, name):
    return [(p.time_s, p.value, p.quality) for batch in seen for p in batch if p.device == device and p.name == name]


# -- field devices ---------------------------------------------------------------------------------


def test_an_integrity_scan_equals_the_devices_truth(net):
    w, devices, fci, link, _ = _field(net)
    assert isinstance(link, FieldDeviceLink)
    info = {d.id: d for d in link.devices()}
    assert len(info) == len(devices.ids) + len(fci.ids)
    assert [info[str(d)].remote for d in devices.ids] == (devices.rtu >= 0).tolist()
    assert info[BREAKER].element == f"switch.{BREAKER}" and info[BREAKER].rtu.startswith("substation:")
    assert info["S01-F1-C1"].element == "capacitor.S01-F1-C1" and info[FUSE].kind == "fuse"
    w.run_to(120.0)
    scan = link.read()
    truth = devices.read() + fci.read()
    as_sent = {(p.device, p.name): (p.value, p.quality.value) for p in scan}
    assert len(as_sent) == len(scan) == len(truth)
    for p in truth:
        value, quality = as_sent[p.device, p.name]
        assert quality == ("manual" if not info[p.device].remote else p.quality.value), (p.device, p.name)
        if isinstance(p.value, (float, tuple)):
            assert np.array_equal(value, p.value, equal_nan=True), (p.device, p.name)
        else:
            assert value == p.value, (p.device, p.name)
    assert {p.quality for p in scan if not info[p.device].remote} == {Quality.manual}


def test_a_device_without_telemetry_is_what_a_crew_last_read_not_the_truth(net):
    w, devices, _, link, seen = _field(net)
    w.inject(Fault(LATERAL, permanent=True), at_s=10.0)
    w.run_to(300.0)
    assert devices.point(FUSE, "status").value == "open"  # the fuse blew
    fuse = {p.name: p for p in link.read([FUSE])}
    assert fuse["status"].value == "closed" and fuse["status"].quality == Quality.manual
    assert not _reported(seen, FUSE, "status")  # nobody saw it: nothing by exception


def test_a_crew_operating_a_local_device_is_reported_as_manual(net):
    from twin.world.crews import Crews

    w, _, _, link, seen = _field(net, resolve=False)
    crews = Crews(w, auto_dispatch=False)
    crew = str(crews.ids[np.flatnonzero(crews.on_duty)[0]])
    w.run_to(50.0)
    done = crews.order_switch(crew, LOCAL_SWITCH, True)
    w.run_to(3600.0)
    assert done.value.status.value == "done"
    at = next(e.time_s for e in w.events.of(EventKind.switch) if e.data["device"] == LOCAL_SWITCH)
    assert _reported(seen, LOCAL_SWITCH, "status") == [(at, "open", Quality.manual)]
    assert {p.name: p.value for p in link.read([LOCAL_SWITCH])}["status"] == "open"


def test_a_trip_and_a_lockout_by_the_protection_reach_a_subscriber(net):
    w, _, _, link, seen = _field(net)
    w.inject(Fault(TRUNK_ABOVE_SW1, permanent=True), at_s=10.0)
    w.inject(Fault("S01-F2-L0016", permanent=True), at_s=20.0)  # below the second feeder's recloser
    w.run_to(200.0)
    ops = [(e.time_s, e.data["device"], e.data["action"]) for e in w.events.of(EventKind.protection)]
    trip = next(t for t, d, a in ops if d == BREAKER and a == "trip")  # a breaker's relay: no reclosing
    assert _reported(seen, BREAKER, "status") == [(trip, "open", Quality.good)]
    assert _reported(seen, BREAKER, "fault") == [(trip, True, Quality.good)]
    lockout = next(t for t, d, a in ops if d == "S01-F2-RCL" and a == "lockout")
    assert _reported(seen, "S01-F2-RCL", "lockout") == [(lockout, True, Quality.good)]
    opens = sorted({t for t, d, a in ops if d == "S01-F2-RCL" and a in ("trip", "lockout")})
    assert [t for t, v, _ in _reported(seen, "S01-F2-RCL", "status") if v == "open"] == opens
    assert not _reported(seen, RECLOSER, "status")  # dead, but still closed: no status change to report


def test_an_rtu_whose_site_runs_out_of_battery_turns_comms_failed_by_exception(net):
    from twin.world.comms import CommsParameters, CommsSites

    w, devices, fci, link, seen = _field(net, resolve=False)
    sites = CommsSites(w, devices=devices, indicators=fci, params=CommsParameters(cell_battery_h=(0.1, 0.1)))
    w.run_to(10.0)
    for breaker in [d.id for d in link.devices() if d.kind == "breaker"]:  # the whole territory out
        w.grid.operate(w.now, breaker, open_=True, why="test")
    w.run_to(10.0 + 360.0 + 1.0)
    assert not sites.up[sites.kind == 0].any()
    status = _reported(seen, RECLOSER, "status")
    assert status == [(10.0 + 360.0, "closed", Quality.comms_failed)]  # its last report, then silence
    assert {q for _, _, q in _reported(seen, BREAKER, "status")} == {Quality.good}  # the substation's own network
    assert link.select(RECLOSER, "trip").reason == "unreachable"


def test_select_before_operate(net):
    w, _, _, link, seen = _field(net)
    w.run_to(100.0)
    refused = link.operate(BREAKER, "trip")
    assert (refused.status, refused.reason) == (ControlStatus.refused, "not_selected")
    assert not w.grid.switch_open[w.grid.net.switch.position(BREAKER)]
    assert link.select(BREAKER, "trip").status == ControlStatus.selected
    assert link.operate(BREAKER, "close").reason == "not_selected"  # not the action armed: selection used up
    assert link.select(BREAKER, "trip").status == ControlStatus.selected
    w.run_to(110.0)
    done = link.operate(BREAKER, "trip")
    assert (done.status, done.time_s) == (ControlStatus.executed, 110.0)
    assert w.grid.switch_open[w.grid.net.switch.position(BREAKER)]
    w.run_to(111.0)
    assert _reported(seen, BREAKER, "status") == [(110.0, "open", Quality.good)]
    assert link.select(BREAKER, "close").status == ControlStatus.selected
    w.run_to(111.0 + SELECT_TIMEOUT_S + 1.0)
    assert link.operate(BREAKER, "close").reason == "not_selected"  # the selection timed out
    assert w.grid.switch_open[w.grid.net.switch.position(BREAKER)]
    assert link.select(FUSE, "trip").reason == "no_remote_control"
    assert link.select(LOCAL_SWITCH, "open").reason == "not_remote"
    assert link.select(BREAKER, "raise").reason == "not_applicable"
    assert link.select("S01-F1-C1", "trip").reason == "not_switching"
    assert link.select("NO-SUCH", "trip").reason == "unknown_device"


def test_a_refusal_of_the_device_itself_comes_back_as_the_reason(net):
    w, devices, _, link, _ = _field(net)
    reg = next(d.id for d in link.devices() if d.kind == "regulator")
    for _ in range(40):
        if link.select(reg, "raise").status != ControlStatus.selected:
            break
        reply = link.operate(reg, "raise")
        if reply.status == ControlStatus.refused:
            break
    assert reply.reason == "at_limit"
    assert devices.point(reg, "status").value > 0


# -- AMI -------------------------------------------------------------------------------------------


def _ami(net):
    from twin.meters.fleet import MeterFleet
    from twin.meters.headend_link import VirtualHeadEnd

    w = World(net, seed=1)
    fleet = MeterFleet(w)
    head = VirtualHeadEnd(w, fleet)
    return w, fleet, head


def test_last_gasps_reach_an_ami_subscriber_named_by_meter_and_service_point(net):
    w, fleet, head = _ami(net)
    assert isinstance(head, AmiHeadEnd)
    events = []
    head.subscribe(events.extend)
    w.run_to(10.0)
    w.grid.operate(w.now, BREAKER, open_=True, why="test")
    w.run_to(900.0)
    gasps = [e for e in events if e.kind == AmiEventKind.last_gasp]
    sp = w.grid.net.service_point
    meter_of = dict(zip(sp.ids.tolist(), sp["meter"].tolist()))
    out = set(np.asarray(sp.ids)[~w.grid.energised_customers].tolist())
    assert len(gasps) == len(fleet.received().of(0)) > 0.7 * len(out)
    assert all(e.service_point in out and meter_of[e.service_point] == e.meter for e in gasps)
    assert all(e.meter_time_s == 10.0 < e.received_s for e in gasps)


def test_a_ping_and_a_voltage_read_answer_by_callback(net):
    w, _, head = _ami(net)
    w.run_to(10.0)
    w.grid.operate(w.now, BREAKER, open_=True, why="test")
    w.run_to(100.0)
    meters = {m.service_point: m.meter for m in head.meters()}
    sp = np.asarray(w.grid.net.service_point.ids)
    out = [meters[s] for s in sp[~w.grid.energised_customers][:5]]
    live = [meters[s] for s in sp[w.grid.energised_customers][:20]]
    replies = []
    first = head.ping(out + live, replies.append)
    second = head.read_voltage(live, replies.append)
    assert replies == [] and second == first + 1
    w.run_to(200.0)
    ping, read = sorted(replies, key=lambda r: r.request)
    assert ping.kind == RequestKind.ping and [a.meter for a in ping.answers] == out + live
    assert set(ping.silent) >= set(out) and len(ping.energised) >= 15 and set(ping.energised) <= set(live)
    assert read.kind == RequestKind.voltage
    v = [a.v_pu for a in read.answers if a.answered]
    assert v and all(0.9 < x < 1.1 for x in v)
    profile = head.load_profile(live[:3], 0.0, 3600.0)
    assert profile.kwh.shape == (4, 3) and profile.meters == tuple(live[:3])


# -- the call centre -------------------------------------------------------------------------------


def test_calls_reach_the_call_centre_subscriber_as_the_callers_say_them(net):
    from twin.callers.calls import Callers
    from twin.callers.call_centre_link import VirtualCallCentre

    w = World(net, seed=1, resolve=False)
    callers = Callers(w)
    centre = VirtualCallCentre(w)
    assert isinstance(centre, CallCentre)
    calls = []
    centre.subscribe(calls.extend)
    w.run_to(10.0)
    w.grid.operate(w.now, BREAKER, open_=True, why="test")
    w.run_to(4 * 3600.0)
    assert len(calls) == len(callers.calls) > 20
    sp = np.asarray(w.grid.net.service_point.ids)
    for said, truth in zip(calls, callers.calls):
        assert said.service_point == sp[truth.service_point] and said.time_s == truth.time_s
        assert said.callback_number == truth.phone and said.name == truth.name
        assert said.report == (Report.flicker if truth.reason.value == "flicker" else Report.no_power)
        assert said.repeat == (truth.reason.value == "again")
    back = centre.callback(calls[0].service_point, "power is back")
    assert centre.callbacks == [back] and back.number == calls[0].callback_number


# -- the workforce ---------------------------------------------------------------------------------


def _workforce(net):
    from twin.world.crews import Crews
    from twin.world.workforce_link import VirtualWorkforce

    w = World(net, seed=1, resolve=False)
    crews = Crews(w, auto_dispatch=False)
    wf = VirtualWorkforce(w, crews)
    reports, statuses = [], []
    wf.subscribe(reports.append)
    wf.subscribe_status(statuses.append)
    return w, crews, wf, reports, statuses


def test_a_crew_ordered_to_switch_does_and_reports(net):
    w, _, wf, reports, statuses = _workforce(net)
    assert isinstance(wf, Workforce)
    crew = next(s for s in wf.crews() if s.on_duty and s.activity == Activity.available)
    wf.switch(crew.crew, LOCAL_SWITCH, True)
    w.run_to(3600.0)
    assert w.grid.switch_open[w.grid.net.switch.position(LOCAL_SWITCH)]
    kinds = [r.kind for r in reports if r.crew == crew.crew]
    assert kinds == [ReportKind.ordered, ReportKind.dispatched, ReportKind.arrived, ReportKind.operated,
                     ReportKind.done, ReportKind.free]
    operated = next(r for r in reports if r.kind == ReportKind.operated)
    assert operated.device == LOCAL_SWITCH and operated.closed is False
    assert [s.activity for s in statuses] == [Activity.travelling, Activity.switching, Activity.available]
    assert (statuses[1].x_m, statuses[1].y_m) != (crew.x_m, crew.y_m)  # it drove there
    wf.switch(crew.crew, "NO-SUCH-SWITCH", False)
    assert reports[-1].kind == ReportKind.refused and reports[-1].reason == "unknown_device"


def test_a_crew_sent_to_an_outage_restores_it(net):
    w, crews, wf, reports, _ = _workforce(net)
    w.inject(Fault(BELOW_RECLOSER, permanent=True, cause="tree"), at_s=10.0)
    w.run_to(600.0)
    crew = next(s.crew for s in wf.crews() if s.on_duty and s.skill.value == "troubleshooter")
    assert not w.grid.energised_customers.all()
    wf.send_to_outage(crew, RECLOSER, BELOW_RECLOSER)
    w.run_to(24 * 3600.0)
    mine = [r for r in reports if r.crew == crew]
    assert [r.kind for r in mine][:4] == [ReportKind.ordered, ReportKind.dispatched, ReportKind.arrived,
                                          ReportKind.found]
    assert mine[3].line == BELOW_RECLOSER and mine[3].cause == "tree"
    assert ReportKind.repaired in [r.kind for r in mine]
    assert any(r.kind == ReportKind.operated and r.device == RECLOSER and r.closed for r in mine)
    assert w.grid.energised_customers.all()
    sent_s = w.now
    before = len(reports)
    wf.send_to_outage(crew, RECLOSER)  # nothing out behind it any more: the crew only learns it there
    assert reports[before].kind == ReportKind.ordered
    w.run_to(w.now + 6 * 3600.0)
    later = [r for r in reports[before:] if r.crew == crew]
    assert [r.kind for r in later][:4] == [ReportKind.ordered, ReportKind.dispatched, ReportKind.arrived,
                                           ReportKind.found_nothing]
    assert later[3].device == RECLOSER and later[3].time_s > sent_s and later[-1].kind == ReportKind.free


def test_a_troubleshooter_s_needs_line_crew_waits_for_the_dispatcher_to_name_one(net):
    w, _, wf, reports, _ = _workforce(net)
    w.inject(Fault(BELOW_RECLOSER, permanent=True, cause="wind"), at_s=10.0)
    w.run_to(600.0)
    on = [s for s in wf.crews() if s.on_duty]
    ts = next(s.crew for s in on if s.skill.value == "troubleshooter")
    lc = next(s.crew for s in on if s.skill.value == "line")
    wf.send_to_outage(ts, RECLOSER)
    w.run_to(4 * 3600.0)
    assert [r.kind for r in reports if r.crew == ts][-2:] == [ReportKind.needs_line_crew, ReportKind.free]
    assert not [r for r in reports if r.crew == lc]  # nobody sent yet: the dispatcher decides
    assert not w.grid.energised_customers.all()
    wf.send_to_outage(lc, RECLOSER)
    w.run_to(24 * 3600.0)
    kinds = [r.kind for r in reports if r.crew == lc]
    assert kinds[:3] == [ReportKind.ordered, ReportKind.dispatched, ReportKind.arrived]
    assert ReportKind.found not in kinds and ReportKind.repaired in kinds  # found already: no patrol
    assert w.grid.energised_customers.all()


# -- the clock -------------------------------------------------------------------------------------


def test_the_world_clock_calls_back_in_simulated_time(net):
    w = World(net, seed=1, resolve=False)
    clock = WorldClock(w)
    assert isinstance(clock, Clock)
    seen = []
    clock.call_later(30.0, lambda: seen.append(("b", clock.now())))
    clock.call_later(5.0, lambda: seen.append(("a", clock.now())))
    clock.call_later(-1.0, lambda: seen.append(("now", clock.now())))
    w.run_to(20.0)
    assert seen == [("now", 0.0), ("a", 5.0)]
    w.run_to(40.0)
    assert seen[-1] == ("b", 30.0)
