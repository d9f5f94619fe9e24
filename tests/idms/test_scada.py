"""SCADA against a small fake field-device link and a fake clock (no world, no simpy)."""

from __future__ import annotations

import heapq
import math
from collections.abc import Callable, Iterable

import pytest

from twin.idms.interfaces.field_devices import (ControlReply, ControlStatus, DeviceInfo, PointValue,
                                                Quality)
from twin.idms.scada import (Alarm, Cause, Condition, FailReason, NoManualEntry, Outcome, PointDatabase,
                             Scada, TagKind, UnknownAlarm)


class FakeClock:
    """Callbacks in time order; :meth:`advance` runs those that fall due."""

    def __init__(self) -> None:
        self.t = 0.0
        self._q: list[tuple[float, int, Callable[[], None]]] = []
        self._n = 0

    def now(self) -> float:
        return self.t

    def call_later(self, delay_s: float, callback: Callable[[], None]) -> None:
        self._n += 1
        heapq.heappush(self._q, (self.t + delay_s, self._n, callback))

    def advance(self, dt: float) -> None:
        end = self.t + dt
        while self._q and self._q[0][0] <= end:
            t, _, cb = heapq.heappop(self._q)
            self.t = t
            cb()
        self.t = end


class FakeLink:
    """The field: point values per device, exceptions that can be lost, controls that can be
    refused or left without effect."""

    def __init__(self, clock: FakeClock, devices: list[DeviceInfo]) -> None:
        self.clock = clock
        self._devices = devices
        self.state: dict[tuple[str, str], PointValue] = {}
        self.subscribers: list[Callable[[list[PointValue]], None]] = []
        self.refuse_select: dict[str, str] = {}
        self.no_effect: set[str] = set()  # operate executes but the status never changes
        self.sent: list[tuple[str, str, str]] = []
        self.reads = 0

    def devices(self) -> list[DeviceInfo]:
        return self._devices

    def set(self, device: str, name: str, value, quality: Quality = Quality.good, *,
            report: bool = True) -> None:
        pv = PointValue(device, name, value, quality, self.clock.now())
        self.state[(device, name)] = pv
        if report:
            for cb in self.subscribers:
                cb([pv])

    def read(self, devices: Iterable[str] | None = None) -> list[PointValue]:
        self.reads += 1
        wanted = None if devices is None else set(devices)
        return [pv for (d, _), pv in self.state.items() if wanted is None or d in wanted]

    def subscribe(self, callback: Callable[[list[PointValue]], None]) -> None:
        self.subscribers.append(callback)

    def select(self, device: str, action: str) -> ControlReply:
        self.sent.append(("select", device, action))
        if device in self.refuse_select:
            return ControlReply(device, action, ControlStatus.refused, self.clock.now(),
                                self.refuse_select[device])
        return ControlReply(device, action, ControlStatus.selected, self.clock.now())

    def operate(self, device: str, action: str) -> ControlReply:
        self.sent.append(("operate", device, action))
        if device not in self.no_effect:
            if action in ("trip", "open", "close"):
                self.set(device, "status", "open" if action != "close" else "closed")
            elif action == "reset":
                self.set(device, "lockout", False)
            elif action in ("raise", "lower"):
                tap = self.state[(device, "status")].value
                self.set(device, "status", tap + (1 if action == "raise" else -1))
        return ControlReply(device, action, ControlStatus.executed, self.clock.now())


DEVICES = [
    DeviceInfo("BKR1", "breaker", "switch.BKR1", True, "RTU1"),
    DeviceInfo("REC1", "recloser", "switch.REC1", True, "RTU2"),
    DeviceInfo("SW1", "load_break_switch", "switch.SW1", False),
    DeviceInfo("FI1", "fault_indicator", "fault_indicator.FI1", True, "RTU3"),
    DeviceInfo("REG1", "regulator", "regulator.REG1", True, "RTU4"),
]


@pytest.fixture
def field() -> tuple[FakeClock, FakeLink, Scada]:
    clock = FakeClock()
    link = FakeLink(clock, DEVICES)
    for d in ("BKR1", "REC1"):
        link.set(d, "status", "closed", report=False)
        link.set(d, "lockout", False, report=False)
        link.set(d, "i_amps", (100.0, 101.0, math.nan), report=False)
    link.set("SW1", "status", "closed", report=False)
    link.set("FI1", "fault", False, report=False)
    link.set("REG1", "status", 3, report=False)
    clock.advance(1.0)
    scada = Scada(link, clock, integrity_period_s=600.0, confirm_timeout_s=10.0)
    scada.start()
    return clock, link, scada


def codes(scada: Scada) -> list[tuple[str, str, int]]:
    return [(a.code, a.device, a.priority) for a in scada.alarms.alarms()]


def test_start_populates_database_without_alarms(field):
    clock, link, scada = field
    assert len(scada.points) == 9
    p = scada.points.get("BKR1", "status")
    assert (p.value, p.quality, p.time_s, p.received_s) == ("closed", Quality.good, 0.0, 1.0)
    assert scada.alarms.alarms() == [] and len(scada.soe) == 0 and scada.scan_repairs == []
    assert [q.name for q in scada.points.device_points("BKR1")] == ["status", "lockout", "i_amps"]


def test_exception_update_reaches_database_and_soe(field):
    clock, link, scada = field
    clock.advance(4.0)
    link.set("REC1", "lockout", True)
    p = scada.points.get("REC1", "lockout")
    assert p.value is True and p.time_s == 5.0 and p.received_s == 5.0
    assert [(e.device, e.point, e.old_value, e.value, e.cause) for e in scada.soe.events()] == [
        ("REC1", "lockout", False, True, Cause.exception)]
    assert ("lockout", "REC1", 1) in codes(scada)


def test_integrity_scan_repairs_a_missed_change(field):
    clock, link, scada = field
    clock.advance(100.0)
    link.set("SW1", "status", "open", report=False)  # the exception is lost
    assert scada.points.value("SW1", "status") == "closed"
    reads = link.reads
    clock.advance(499.0)  # the scan due at 601 s has not run yet
    assert link.reads == reads and scada.points.value("SW1", "status") == "closed"
    clock.advance(1.0)
    assert link.reads == reads + 1
    assert scada.points.value("SW1", "status") == "open"
    [repair] = scada.scan_repairs
    assert (repair.time_s, repair.device, repair.point, repair.old_value, repair.value) == (
        601.0, "SW1", "status", "closed", "open")
    [event] = scada.soe.events(device="SW1")
    assert (event.time_s, event.received_s, event.cause) == (101.0, 601.0, Cause.scan)
    clock.advance(600.0)
    assert link.reads == reads + 2 and len(scada.scan_repairs) == 1


def test_uncommanded_trip_is_priority_1_commanded_is_not(field):
    clock, link, scada = field
    clock.advance(10.0)
    op = scada.control("BKR1", "trip", "jsmith")
    assert op.outcome is Outcome.confirmed
    assert scada.alarms.alarms() == []
    assert scada.soe.events(device="BKR1")[0].cause is Cause.control
    link.set("REC1", "status", "open")
    [alarm] = scada.alarms.alarms()
    assert (alarm.code, alarm.device, alarm.priority, alarm.active, alarm.acknowledged) == (
        "trip", "REC1", 1, True, False)
    assert "REC1" in alarm.text and alarm.raised_s == 11.0


def test_acknowledge_and_return_to_normal(field):
    clock, link, scada = field
    link.set("REC1", "status", "open")
    alarm = scada.alarms.alarms()[0]
    clock.advance(5.0)
    scada.acknowledge(alarm.id, "jsmith")
    assert (alarm.acknowledged, alarm.ack_by, alarm.ack_s) == (True, "jsmith", 6.0)
    assert scada.alarms.alarms() == [alarm]  # still active: stays on the list
    link.set("REC1", "status", "closed")
    assert not alarm.active and alarm.cleared_s == 6.0
    assert scada.alarms.alarms() == [] and scada.alarms.history == [alarm]
    with pytest.raises(UnknownAlarm):
        scada.acknowledge(alarm.id, "jsmith")


def test_cleared_unacknowledged_alarm_stays_until_acknowledged(field):
    clock, link, scada = field
    link.set("REC1", "status", "open")
    link.set("REC1", "status", "closed")
    [alarm] = scada.alarms.alarms()
    assert not alarm.active and not alarm.acknowledged
    scada.acknowledge(alarm.id, "amy")
    assert scada.alarms.alarms() == []


def test_shelving_expires_on_the_clock_and_unshelve(field):
    clock, link, scada = field
    link.set("FI1", "fault", True)
    [alarm] = scada.alarms.alarms()
    assert (alarm.code, alarm.priority) == ("fault_target", 2)
    scada.shelve(alarm.id, "amy", 300.0)
    assert scada.alarms.alarms() == [] and scada.alarms.shelved() == [alarm]
    clock.advance(299.0)
    assert scada.alarms.alarms() == []
    clock.advance(1.0)
    assert scada.alarms.alarms() == [alarm] and not alarm.shelved
    scada.shelve(alarm.id, "amy", 100.0)
    scada.unshelve(alarm.id)
    assert scada.alarms.alarms() == [alarm]
    scada.shelve(alarm.id, "amy", 1000.0)  # the 100 s shelving's expiry must not end this one
    clock.advance(150.0)
    assert scada.alarms.alarms() == []
    with pytest.raises(ValueError):
        scada.shelve(alarm.id, "amy", 0.0)


def test_comms_failure_alarm_and_return_to_normal(field):
    clock, link, scada = field
    clock.advance(9.0)
    link.set("BKR1", "status", "closed", Quality.comms_failed)
    link.set("BKR1", "lockout", False, Quality.comms_failed)
    [alarm] = scada.alarms.alarms()
    assert (alarm.code, alarm.device, alarm.priority, alarm.count) == ("comms_failed", "BKR1", 2, 1)
    assert scada.points.devices_with_quality(Quality.comms_failed) == ["BKR1"]
    assert len(scada.soe) == 0  # a quality change is not a status change
    clock.advance(20.0)
    link.set("BKR1", "status", "closed", Quality.good)
    assert not alarm.active and alarm.cleared_s == 30.0
    assert scada.points.get("BKR1", "status").quality is Quality.good


def test_soe_in_source_time_order_and_queryable(field):
    clock, link, scada = field
    clock.advance(10.0)
    link.set("REC1", "status", "open")  # t=11
    clock.advance(1.0)
    link.set("REC1", "lockout", True)  # t=12
    link.set("SW1", "status", "open", report=False)  # t=12, found by the scan at 601
    clock.advance(10.0)
    link.set("FI1", "fault", True)  # t=22
    clock.advance(600.0)
    events = scada.soe.events()
    assert [(e.time_s, e.device, e.point) for e in events] == [
        (11.0, "REC1", "status"), (12.0, "REC1", "lockout"), (12.0, "SW1", "status"),
        (22.0, "FI1", "fault")]
    assert [e.device for e in scada.soe.events(start_s=12.0, end_s=20.0)] == ["REC1", "SW1"]
    assert [e.point for e in scada.soe.events(device="REC1")] == ["status", "lockout"]


def test_sbo_success_steps_logged(field):
    clock, link, scada = field
    done = []
    op = scada.controls.control("REG1", "raise", "amy", on_done=done.append)
    assert op.outcome is Outcome.confirmed and done == [op]
    assert scada.points.value("REG1", "status") == 4
    assert link.sent == [("select", "REG1", "raise"), ("operate", "REG1", "raise")]
    assert [s for _, s in op.steps] == ["requested by amy", "select selected", "operate executed",
                                        "confirmed: status 4"]
    assert scada.controls.log == [op]


def test_select_refusal_fails_with_the_field_reason(field):
    clock, link, scada = field
    link.refuse_select["BKR1"] = "unreachable"
    op = scada.control("BKR1", "trip", "amy")
    assert (op.outcome, op.reason, op.field_reason) == (Outcome.failed, FailReason.select_refused,
                                                        "unreachable")
    assert link.sent == [("select", "BKR1", "trip")]


def test_confirmation_timeout(field):
    clock, link, scada = field
    link.no_effect.add("BKR1")
    done = []
    op = scada.control("BKR1", "trip", "amy", on_done=done.append)
    assert op.outcome is Outcome.pending and done == []
    assert scada.control("BKR1", "trip", "bob").reason is FailReason.in_progress
    clock.advance(9.9)
    assert op.outcome is Outcome.pending
    clock.advance(0.1)
    assert (op.outcome, op.reason, op.finished_s) == (Outcome.failed, FailReason.confirm_timeout, 11.0)
    assert done == [op]
    link.set("BKR1", "status", "open")  # arriving late: SCADA no longer commands it -> a trip
    assert codes(scada) == [("trip", "BKR1", 1)]
    assert [o.user for o in scada.controls.log] == ["amy", "bob"]


def test_delayed_confirmation_within_timeout(field):
    clock, link, scada = field
    link.no_effect.add("REC1")
    op = scada.control("REC1", "trip", "amy")
    clock.advance(4.0)
    link.set("REC1", "status", "open")
    assert (op.outcome, op.finished_s) == (Outcome.confirmed, 5.0)
    assert scada.alarms.alarms() == []
    clock.advance(20.0)
    assert op.outcome is Outcome.confirmed


def test_tag_inhibits_control_before_anything_is_sent(field):
    clock, link, scada = field
    tag = scada.place_tag("BKR1", "hold", user="amy", reason="crew 12 working on F1")
    assert tag.kind is TagKind.hold and scada.controls.tags("BKR1") == [tag]
    op = scada.control("BKR1", "trip", "bob")
    assert (op.outcome, op.reason, op.tags) == (Outcome.failed, FailReason.tagged, (tag,))
    assert link.sent == []
    scada.remove_tag(tag.id, user="amy")
    assert scada.control("BKR1", "trip", "bob").outcome is Outcome.confirmed


def test_checks_before_select(field):
    clock, link, scada = field
    assert scada.control("SW1", "open", "amy").reason is FailReason.not_remote
    assert scada.control("NOPE", "open", "amy").reason is FailReason.unknown_device
    assert scada.control("BKR1", "close", "amy").reason is FailReason.already
    assert scada.control("FI1", "close", "amy").reason is FailReason.unknown_action
    assert link.sent == []


def test_manual_override_wins_until_removed(field):
    clock, link, scada = field
    link.set("REC1", "status", "closed", Quality.comms_failed)
    clock.advance(5.0)
    scada.set_manual("REC1", "status", "open", user="amy", reason="crew reports open")
    p = scada.points.get("REC1", "status")
    assert (p.value, p.quality, p.manual.user, p.telemetry_value) == ("open", Quality.manual, "amy",
                                                                       "closed")
    clock.advance(5.0)
    link.set("REC1", "status", "closed", Quality.good)
    p = scada.points.get("REC1", "status")
    assert (p.value, p.quality, p.telemetry_quality) == ("open", Quality.manual, Quality.good)
    assert [q.device for q in scada.points.with_quality(Quality.manual)] == ["REC1"]
    assert scada.points.quality_counts()[Quality.manual] == 1
    assert [e.cause for e in scada.soe.events(device="REC1")] == [Cause.manual]
    scada.clear_manual("REC1", "status", user="amy")
    p = scada.points.get("REC1", "status")
    assert (p.value, p.quality) == ("closed", Quality.good)
    with pytest.raises(NoManualEntry):
        scada.clear_manual("REC1", "status", user="amy")


def test_regulator_at_tap_limit(field):
    clock, link, scada = field
    link.set("REG1", "status", 16)
    assert codes(scada) == [("tap_limit", "REG1", 3)]
    [alarm] = scada.alarms.alarms()
    scada.acknowledge(alarm.id, "amy")
    assert scada.control("REG1", "raise", "amy").outcome is Outcome.confirmed
    assert scada.alarms.alarms() == [alarm] and alarm.acknowledged and "(17)" in alarm.text
    link.set("REG1", "status", 10)
    assert scada.alarms.alarms() == []
    link.set("REG1", "status", -16)
    assert codes(scada) == [("tap_limit", "REG1", 3)] and scada.alarms.alarms()[0].id != alarm.id


def test_alarm_list_order_and_records_round_trip(field):
    clock, link, scada = field
    link.set("FI1", "fault", True)  # priority 2
    clock.advance(1.0)
    link.set("REC1", "status", "open")  # priority 1
    clock.advance(1.0)
    link.set("BKR1", "status", "open")  # priority 1, newer
    order = [a.device for a in scada.alarms.alarms()]
    assert order == ["BKR1", "REC1", "FI1"]
    scada.acknowledge(scada.alarms.alarms()[0].id, "amy")
    assert [a.device for a in scada.alarms.alarms()] == ["REC1", "BKR1", "FI1"]
    ids = [a.id for a in scada.alarms.alarms()]
    assert len(set(ids)) == 3
    records = [a.record() for a in scada.alarms.alarms()]
    fresh = Scada(link, clock)
    fresh.alarms.restore(records)
    assert [a.record() for a in fresh.alarms.alarms()] == records
    link.set("FI1", "fault", False)
    fresh.start()
    link.set("REC1", "lockout", True)  # a new alarm: its id continues after the restored ones
    assert max(a.id for a in fresh.alarms.alarms()) > max(ids)


def test_point_database_in_bulk():
    db = PointDatabase(capacity=16)
    n = 4000
    pts = [PointValue(f"D{i}", "status", "closed", Quality.good, 0.0) for i in range(n)]
    pts += [PointValue(f"D{i}", "lockout", False, Quality.comms_failed if i % 10 == 0 else Quality.good,
                       0.0) for i in range(n)]
    assert len(db.update(pts, received_s=1.0)) == 2 * n
    assert db.update(pts, received_s=2.0) == []
    assert len(db.with_quality(Quality.comms_failed)) == n // 10
    counts = db.quality_counts()
    assert counts[Quality.good] == 2 * n - n // 10 and counts[Quality.comms_failed] == n // 10
    old = PointValue("D5", "status", "open", Quality.good, -1.0)  # older than what is stored
    assert db.update([old], received_s=3.0) == [] and db.value("D5", "status") == "closed"


def test_rules_are_data():
    from twin.idms.scada import AlarmRule
    with pytest.raises(ValueError):
        AlarmRule("x", "status", Condition.equals, "open", 5, "bad priority")
    alarm = Alarm("A000001", "trip", "B", 1, "t", 0.0, acknowledged=True, ack_by="amy", ack_s=3.0)
    assert Alarm.from_record(alarm.record()) == alarm
