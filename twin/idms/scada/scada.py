"""The SCADA front end: the point database, alarms, sequence of events and supervisory control,
fed by one :class:`FieldDeviceLink` and run on one :class:`Clock`.

:meth:`Scada.start` learns the devices, subscribes to report-by-exception and runs a first
integrity scan (which populates the database: a trip is a change from closed, so a breaker
already open at start raises none, but a lockout or failed comms found then does), then repeats the
integrity scan every ``integrity_period_s`` (10 min by default) on the Clock. A scan that finds a
point differing from the database (an exception lost on the way) updates it, records it in
:attr:`Scada.scan_repairs` and logs it; status changes it finds go into the sequence of events and
through the alarm rules like any other.

>>> scada = Scada(link, clock)                                       # doctest: +SKIP
>>> scada.start()                                                    # doctest: +SKIP
>>> scada.control("S01-F1-BKR", "trip", user="jsmith").outcome       # doctest: +SKIP
<Outcome.pending: 'pending'>
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from twin.idms.interfaces.clock import Clock
from twin.idms.interfaces.field_devices import DeviceInfo, FieldDeviceLink, PointValue

from .alarms import DEFAULT_RULES, Alarm, AlarmList, AlarmRule
from .control import ControlOperation, SupervisoryControl, Tag, TagKind
from .points import STATUS_POINTS, Point, PointChange, PointDatabase
from .soe import Cause, SequenceOfEvents

__all__ = ["Scada", "ScanRepair"]

log = logging.getLogger(__name__)

_ANALOGS = frozenset({"i_amps", "v_volts", "p_kw", "q_kvar", "v_control_volts"})


@dataclass(frozen=True)
class ScanRepair:
    """A point an integrity scan found differing from the database (s on the IDMS clock)."""

    time_s: float
    device: str
    point: str
    old_value: Any
    value: Any


class Scada:
    """SCADA for the devices one link serves (see the module docstring)."""

    def __init__(self, link: FieldDeviceLink, clock: Clock, *, integrity_period_s: float = 600.0,
                 confirm_timeout_s: float = 10.0, rules: tuple[AlarmRule, ...] = DEFAULT_RULES) -> None:
        if integrity_period_s <= 0:
            raise ValueError(f"integrity scan period must be positive, not {integrity_period_s} s")
        self.link, self.clock = link, clock
        self.integrity_period_s = integrity_period_s
        self.points = PointDatabase()
        self.alarms = AlarmList(clock, rules)
        self.soe = SequenceOfEvents()
        self.controls = SupervisoryControl(link, clock, self.points, confirm_timeout_s=confirm_timeout_s)
        self.devices: dict[str, DeviceInfo] = {}
        self.scan_repairs: list[ScanRepair] = []
        self.scans = 0
        self._started = False
        self._listeners: list[Callable[[PointChange, bool], None]] = []

    def start(self) -> None:
        """Learn the devices, subscribe to exceptions, scan now and every period after."""
        if self._started:
            return
        self._started = True
        self.devices = {d.id: d for d in self.link.devices()}
        self.controls.devices = self.devices
        self.link.subscribe(self._on_exception)
        self.integrity_scan()
        self.clock.call_later(self.integrity_period_s, self._periodic_scan)

    def _periodic_scan(self) -> None:
        self.integrity_scan()
        self.clock.call_later(self.integrity_period_s, self._periodic_scan)

    def integrity_scan(self, devices: Iterable[str] | None = None) -> list[ScanRepair]:
        """Read every point (of ``devices``, all by default); return the repairs it made."""
        self.scans += 1
        changes = self.points.update(self.link.read(devices), received_s=self.clock.now())
        repairs = []
        for c in changes:
            if c.value_changed and c.name not in _ANALOGS:  # analogs move between scans by nature
                repair = ScanRepair(c.received_s, c.device, c.name, c.old_value, c.value)
                repairs.append(repair)
                log.info("integrity scan: %s %s was %r in SCADA, field has %r", c.device, c.name,
                         c.old_value, c.value)
            self._changed(c, Cause.scan)
        if repairs:
            log.warning("integrity scan repaired %d points that report by exception had missed",
                        len(repairs))
        self.scan_repairs.extend(repairs)
        return repairs

    def _on_exception(self, points: list[PointValue]) -> None:
        for c in self.points.update(points, received_s=self.clock.now()):
            self._changed(c, Cause.exception)

    def _changed(self, c: PointChange, cause: Cause) -> None:
        info = self.devices.get(c.device)
        kind = info.kind if info is not None else ""
        commanded = self.controls.commanded(c)
        if c.name in STATUS_POINTS and c.value_changed:
            self.soe.record(time_s=c.time_s, received_s=c.received_s, device=c.device, point=c.name,
                            old_value=c.old_value, value=c.value, quality=c.quality,
                            cause=Cause.control if commanded else cause)
        self.alarms.evaluate(c, kind, commanded=commanded)
        for listener in self._listeners:
            listener(c, commanded)

    def subscribe(self, listener: Callable[[PointChange, bool], None]) -> None:
        """``listener(change, commanded)`` on every point change SCADA takes in (``commanded``:
        the result a SCADA control was waiting for)."""
        self._listeners.append(listener)

    # --- the dispatcher's commands --------------------------------------------------------------
    def control(self, device: str, action: str, user: str, *,
                on_done: Callable[[ControlOperation], None] | None = None) -> ControlOperation:
        """Select-before-operate ``action`` on ``device`` for ``user`` (see :mod:`.control`);
        ``on_done(op)`` when it is confirmed or fails."""
        return self.controls.control(device, action, user, on_done=on_done)

    def place_tag(self, device: str, kind: TagKind | str, *, user: str, reason: str) -> Tag:
        return self.controls.place_tag(device, TagKind(kind), user=user, reason=reason)

    def remove_tag(self, tag_id: str, *, user: str) -> Tag:
        return self.controls.remove_tag(tag_id, user=user)

    def set_manual(self, device: str, point: str, value: Any, *, user: str, reason: str = "") -> Point:
        """Override a point by hand (shown ``manual`` until :meth:`clear_manual`)."""
        before = self.points.value(device, point)
        entry = self.points.set_manual(device, point, value, user=user, time_s=self.clock.now(),
                                       reason=reason)
        if point in STATUS_POINTS and before != value:
            self.soe.record(time_s=entry.time_s, received_s=entry.time_s, device=device, point=point,
                            old_value=before, value=value, quality=entry.quality, cause=Cause.manual)
        log.info("manual entry %s %s = %r by %s: %s", device, point, value, user, reason)
        return entry

    def clear_manual(self, device: str, point: str, *, user: str) -> Point:
        point_now = self.points.clear_manual(device, point)
        log.info("manual entry %s %s removed by %s", device, point, user)
        return point_now

    def acknowledge(self, alarm_id: str, user: str) -> Alarm:
        return self.alarms.acknowledge(alarm_id, user)

    def shelve(self, alarm_id: str, user: str, duration_s: float) -> Alarm:
        return self.alarms.shelve(alarm_id, user, duration_s)

    def unshelve(self, alarm_id: str) -> Alarm:
        return self.alarms.unshelve(alarm_id)
