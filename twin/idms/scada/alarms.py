"""SCADA alarms: rules as data, the alarm records they raise, and the dispatcher's alarm list.

An :class:`AlarmRule` says which point change raises an alarm on which kinds of device, at which
priority (1 most urgent ... 4 least), with which text, and what returns it to normal. The rules
are plain data (:data:`DEFAULT_RULES`) so that a utility or an instructor can change them without
touching code. A rule fires on the *telemetered* value; a dispatcher's manual entry never raises
or clears an alarm.

An :class:`Alarm` has two independent states, as in every control room: *active* (the condition
still holds) or *cleared* (returned to normal), and *unacknowledged* or *acknowledged* (by a named
user). An alarm leaves the list only when it is both cleared and acknowledged. A shelved alarm is
hidden from the list until its shelving expires on the :class:`Clock` or it is un-shelved. Alarm
ids are a stable sequence (``A000001``...) and an alarm's state is plain data
(:meth:`Alarm.record`), so a store can persist alarms and reload them after a restart.

A breaker or recloser opening that SCADA did not command is a protective trip (priority 1); an
open SCADA itself executed (see :mod:`twin.idms.scada.control`) is not an alarm.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from twin.errors import TwinError
from twin.idms.interfaces.clock import Clock
from twin.idms.interfaces.field_devices import Quality

from .points import PointChange

__all__ = ["Alarm", "AlarmList", "AlarmRule", "Condition", "DEFAULT_RULES", "UnknownAlarm"]


class Condition(str, enum.Enum):
    """How a rule tests a point: ``equals`` the rule's value, ``abs_at_least`` (a regulator tap
    at its limit: ``abs(tap) >= value``), ``quality_is`` (the point's quality is the value)."""

    equals = "equals"
    abs_at_least = "abs_at_least"
    quality_is = "quality_is"


@dataclass(frozen=True)
class AlarmRule:
    """One alarm rule. ``code`` names it (one alarm per device and code at a time); ``point`` the
    point it watches (``"*"``: any point of the device, for quality rules); ``kinds`` the device
    kinds it applies to (empty: all); ``from_value``, when set, requires the previous telemetered
    value to be that (a trip is a change from closed to open, not an open breaker at start-up);
    ``uncommanded`` that the change was not the result of a SCADA control. ``text`` may use
    ``{device}``, ``{kind}``, ``{point}`` and ``{value}``."""

    code: str
    point: str
    condition: Condition
    value: Any
    priority: int
    text: str
    kinds: frozenset[str] = frozenset()
    from_value: Any = None
    uncommanded: bool = False

    def __post_init__(self) -> None:
        if not 1 <= self.priority <= 4:
            raise ValueError(f"alarm rule {self.code}: priority {self.priority} is not 1 to 4 "
                             f"(1 is the most urgent)")

    def applies(self, kind: str, point: str) -> bool:
        return (not self.kinds or kind in self.kinds) and self.point in ("*", point)

    def holds(self, change: PointChange) -> bool:
        """Whether the condition is true after ``change``."""
        if self.condition is Condition.quality_is:
            return change.quality is Quality(self.value)
        v = change.value
        if self.condition is Condition.abs_at_least:
            return isinstance(v, (int, float)) and not isinstance(v, bool) and abs(v) >= self.value
        return type(v) is type(self.value) and v == self.value


_PROTECTIVE = frozenset({"breaker", "recloser"})
_SWITCHING = frozenset({"breaker", "recloser", "sectionaliser", "load_break_switch", "disconnect"})

DEFAULT_RULES: tuple[AlarmRule, ...] = (
    AlarmRule("trip", "status", Condition.equals, "open", 1,
              "{kind} {device} tripped (opened, not commanded by SCADA)",
              kinds=_PROTECTIVE, from_value="closed", uncommanded=True),
    AlarmRule("lockout", "lockout", Condition.equals, True, 1,
              "{kind} {device} locked out", kinds=_PROTECTIVE),
    AlarmRule("comms_failed", "*", Condition.quality_is, "comms_failed", 2,
              "{kind} {device}: communications failed"),
    AlarmRule("fault_target", "fault", Condition.equals, True, 2,
              "{kind} {device}: fault target flagged"),
    AlarmRule("opened", "status", Condition.equals, "open", 3,
              "{kind} {device} opened (not commanded by SCADA)",
              kinds=_SWITCHING - _PROTECTIVE, from_value="closed", uncommanded=True),
    AlarmRule("tap_limit", "status", Condition.abs_at_least, 16, 3,
              "regulator {device} at tap limit ({value})", kinds=frozenset({"regulator"})),
    AlarmRule("local", "remote", Condition.equals, False, 4,
              "{kind} {device} switched to local control", from_value=True),  # not a status-only device
)
"""The rules a distribution control room commonly runs with (priority 1 most urgent)."""


class UnknownAlarm(TwinError):
    """No alarm has id ``alarm_id``."""

    def __init__(self, alarm_id: str) -> None:
        self.alarm_id = alarm_id
        super().__init__(f"no alarm {alarm_id} (it may have been cleared and acknowledged already)")


@dataclass
class Alarm:
    """One alarm (see the module docstring); times in seconds on the IDMS clock."""

    id: str
    code: str
    device: str
    priority: int
    text: str
    raised_s: float
    active: bool = True
    cleared_s: float | None = None
    acknowledged: bool = False
    ack_by: str = ""
    ack_s: float | None = None
    shelved_until_s: float | None = None
    shelved_by: str = ""
    count: int = 1  # times raised (after returning to normal) while still on the list

    @property
    def shelved(self) -> bool:
        return self.shelved_until_s is not None

    def record(self) -> dict[str, Any]:
        """The alarm as plain data (for a store; :meth:`from_record` reverses it)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> Alarm:
        return cls(**record)


@dataclass
class AlarmList:
    """The alarms on the list and the rules that raise them, on a :class:`Clock`."""

    clock: Clock
    rules: tuple[AlarmRule, ...] = DEFAULT_RULES
    _alarms: dict[str, Alarm] = field(default_factory=dict)
    _open: dict[tuple[str, str], str] = field(default_factory=dict)  # (device, code) -> id
    _seq: int = 0
    history: list[Alarm] = field(default_factory=list)  # alarms that left the list
    listeners: list[Callable[[Alarm, bool], None]] = field(default_factory=list)
    """Called ``listener(alarm, listed)`` on every change of an alarm (``listed``: still on the
    list; False when it left it): a store keeps the list across a restart."""

    def _changed(self, alarm: Alarm) -> None:
        listed = alarm.id in self._alarms
        for listener in self.listeners:
            listener(alarm, listed)

    def evaluate(self, change: PointChange, kind: str, *, commanded: bool = False) -> list[Alarm]:
        """Apply the rules to one telemetered change of a device of ``kind``; return the alarms
        raised (or raised again). ``commanded``: the change is a SCADA control's expected result."""
        raised = []
        for rule in self.rules:
            if not rule.applies(kind, change.name):
                continue
            if rule.holds(change):
                if rule.condition is not Condition.quality_is and not change.first_report \
                        and not change.value_changed:
                    continue  # same value, only its quality changed
                if rule.from_value is not None and not (
                        type(change.old_value) is type(rule.from_value)
                        and change.old_value == rule.from_value):
                    continue
                if rule.uncommanded and commanded:
                    continue
                raised.append(self._raise(rule, change, kind))
            else:
                self._return_to_normal(rule, change)
        return raised

    def _raise(self, rule: AlarmRule, change: PointChange, kind: str) -> Alarm:
        now = self.clock.now()
        text = rule.text.format(device=change.device, kind=kind, point=change.name, value=change.value)
        alarm_id = self._open.get((change.device, rule.code))
        if alarm_id is not None:
            alarm = self._alarms[alarm_id]
            if alarm.active:  # the condition still holds (another point, another tap step)
                alarm.text = text
                return alarm
            alarm.active, alarm.cleared_s = True, None
            alarm.acknowledged, alarm.ack_by, alarm.ack_s = False, "", None
            alarm.raised_s, alarm.text, alarm.count = now, text, alarm.count + 1
            self._changed(alarm)
            return alarm
        self._seq += 1
        alarm = Alarm(f"A{self._seq:06d}", rule.code, change.device, rule.priority, text, now)
        self._alarms[alarm.id] = alarm
        self._open[(change.device, rule.code)] = alarm.id
        self._changed(alarm)
        return alarm

    def _return_to_normal(self, rule: AlarmRule, change: PointChange) -> None:
        alarm_id = self._open.get((change.device, rule.code))
        if alarm_id is None:
            return
        alarm = self._alarms[alarm_id]
        if alarm.active:
            alarm.active, alarm.cleared_s = False, self.clock.now()
        self._retire(alarm)
        self._changed(alarm)

    def _retire(self, alarm: Alarm) -> None:
        if not alarm.active and alarm.acknowledged:
            del self._alarms[alarm.id]
            del self._open[(alarm.device, alarm.code)]
            self.history.append(alarm)

    def get(self, alarm_id: str) -> Alarm:
        try:
            return self._alarms[alarm_id]
        except KeyError:
            raise UnknownAlarm(alarm_id) from None

    def acknowledge(self, alarm_id: str, user: str) -> Alarm:
        """Acknowledge an alarm as ``user``; a cleared alarm then leaves the list."""
        alarm = self.get(alarm_id)
        if not alarm.acknowledged:
            alarm.acknowledged, alarm.ack_by, alarm.ack_s = True, user, self.clock.now()
        self._retire(alarm)
        self._changed(alarm)
        return alarm

    def shelve(self, alarm_id: str, user: str, duration_s: float) -> Alarm:
        """Hide an alarm from the list for ``duration_s`` seconds (a known nuisance)."""
        if duration_s <= 0:
            raise ValueError(f"alarm {alarm_id}: shelving needs a positive duration, not {duration_s} s")
        alarm = self.get(alarm_id)
        until = self.clock.now() + duration_s
        alarm.shelved_until_s, alarm.shelved_by = until, user
        self.clock.call_later(duration_s, lambda: self._shelving_expired(alarm_id, until))
        self._changed(alarm)
        return alarm

    def unshelve(self, alarm_id: str) -> Alarm:
        alarm = self.get(alarm_id)
        alarm.shelved_until_s, alarm.shelved_by = None, ""
        self._changed(alarm)
        return alarm

    def _shelving_expired(self, alarm_id: str, until: float) -> None:
        alarm = self._alarms.get(alarm_id)
        if alarm is not None and alarm.shelved_until_s == until:  # not un-shelved or re-shelved since
            alarm.shelved_until_s, alarm.shelved_by = None, ""
            self._changed(alarm)

    def alarms(self, *, include_shelved: bool = False) -> list[Alarm]:
        """The alarm list as a dispatcher reads it: most urgent priority first; within a priority
        unacknowledged before acknowledged, active before cleared, newest first."""
        shown: Iterable[Alarm] = self._alarms.values()
        if not include_shelved:
            shown = (a for a in shown if not a.shelved)
        return sorted(shown, key=lambda a: (a.priority, a.acknowledged, not a.active, -a.raised_s, a.id))

    def shelved(self) -> list[Alarm]:
        return [a for a in self.alarms(include_shelved=True) if a.shelved]

    def restore(self, records: Iterable[dict[str, Any]]) -> None:
        """Reload alarms saved with :meth:`Alarm.record` (after a restart); shelvings still
        running are re-armed on the clock."""
        now = self.clock.now()
        for rec in records:
            alarm = Alarm.from_record(rec)
            self._alarms[alarm.id] = alarm
            self._open[(alarm.device, alarm.code)] = alarm.id
            self._seq = max(self._seq, int(alarm.id[1:]))
            if alarm.shelved_until_s is not None:
                until = alarm.shelved_until_s
                self.clock.call_later(max(0.0, until - now),
                                      lambda i=alarm.id, u=until: self._shelving_expired(i, u))

