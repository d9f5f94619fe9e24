"""Supervisory control: select-before-operate, confirmation, timeout, and tags that inhibit it.

``control(device, action, user)`` goes through the steps a control room's SCADA does:

1. **checks before anything is sent**: the device is known and remote, it carries no tag
   (``hold``, ``do_not_operate``: placed by a dispatcher with who and why), no guard refuses it
   (:attr:`SupervisoryControl.guards`: the IDMS's safety documents and known faults), no other
   control is in progress on it, and it is not already in the state the action asks for;
2. **select** (the field may refuse at once: local, unreachable...);
3. **operate** (the field may refuse: the selection timed out...);
4. **confirm**: wait for the status the action should bring (``trip``/``open`` -> status
   ``open``; ``close`` -> ``closed``; ``reset`` -> ``lockout`` false, or ``fault`` false on a
   fault indicator; ``raise``/``lower`` -> the tap one step up/down; ``auto``/``manual`` ->
   ``mode``) to be reported within the confirm timeout (10 s by default, on the Clock).

The answer is a :class:`ControlOperation` that ends ``confirmed`` or ``failed`` with a
:class:`FailReason` and the field's own reason, and lists its steps with times. Every attempt
stays in the control log. While a control waits for confirmation the status change it expects
is *commanded*: it raises no uncommanded-trip alarm.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from twin.errors import TwinError
from twin.idms.interfaces.clock import Clock
from twin.idms.interfaces.field_devices import ControlStatus, DeviceInfo, FieldDeviceLink

from .points import PointChange, PointDatabase

__all__ = ["ControlOperation", "FailReason", "Outcome", "SupervisoryControl", "Tag", "TagKind",
           "UnknownTag", "expected_status"]

log = logging.getLogger(__name__)


class TagKind(str, enum.Enum):
    hold = "hold"  # a crew is working under this device's protection: do not change it
    do_not_operate = "do_not_operate"


@dataclass(frozen=True)
class Tag:
    """A tag on a device, placed by ``user`` at ``time_s`` for ``reason``."""

    id: str
    device: str
    kind: TagKind
    user: str
    reason: str
    time_s: float


class UnknownTag(TwinError):
    def __init__(self, tag_id: str) -> None:
        self.tag_id = tag_id
        super().__init__(f"no tag {tag_id} is placed")


class Outcome(str, enum.Enum):
    pending = "pending"  # sent, waiting for the status to confirm it
    confirmed = "confirmed"
    failed = "failed"


class FailReason(str, enum.Enum):
    unknown_device = "unknown_device"
    not_remote = "not_remote"
    tagged = "tagged"
    in_progress = "in_progress"  # another control is waiting on this device
    already = "already"  # the device is already in the state asked for
    unknown_action = "unknown_action"
    select_refused = "select_refused"
    operate_refused = "operate_refused"
    confirm_timeout = "confirm_timeout"
    refused = "refused"  # a guard (the safety documents, a known fault) refuses it


@dataclass
class ControlOperation:
    """One control attempt. ``steps`` are ``(time_s, what)`` in order; ``field_reason`` the
    field's reason when it refused; ``tags`` the tags that inhibited it."""

    device: str
    action: str
    user: str
    requested_s: float
    outcome: Outcome = Outcome.pending
    reason: FailReason | None = None
    field_reason: str = ""
    expected: tuple[str, Any] | None = None
    finished_s: float | None = None
    tags: tuple[Tag, ...] = ()
    steps: list[tuple[float, str]] = field(default_factory=list)

    @property
    def done(self) -> bool:
        return self.outcome is not Outcome.pending


_SWITCHING = frozenset({"breaker", "recloser", "sectionaliser", "load_break_switch", "disconnect",
                        "fuse"})


def expected_status(info: DeviceInfo, action: str, points: PointDatabase) -> tuple[str, Any] | None:
    """The ``(point, value)`` that confirms ``action`` on the device, ``None`` if the action does
    not apply to its kind."""
    if action in ("auto", "manual"):
        return "mode", action
    if info.kind == "regulator":
        tap = points.telemetry(info.id, "status")
        if action in ("raise", "lower") and isinstance(tap, int):
            return "status", tap + (1 if action == "raise" else -1)
        return None
    if info.kind == "fault_indicator":
        return ("fault", False) if action == "reset" else None
    if info.kind in _SWITCHING or info.kind == "capacitor":
        if action in ("trip", "open"):
            return "status", "open"
        if action == "close":
            return "status", "closed"
        if action == "reset" and info.kind != "capacitor":
            return "lockout", False
    return None


class SupervisoryControl:
    """Controls, tags and the control log of one SCADA (see the module docstring)."""

    def __init__(self, link: FieldDeviceLink, clock: Clock, points: PointDatabase, *,
                 confirm_timeout_s: float = 10.0) -> None:
        self.link, self.clock, self.points = link, clock, points
        self.confirm_timeout_s = confirm_timeout_s
        self.devices: dict[str, DeviceInfo] = {}
        self.log: list[ControlOperation] = []
        self.listeners: list[Callable[[str, dict[str, Any]], None]] = []
        """Called ``listener(kind, data)`` for each control requested (``control``: device,
        action, user) and tag placed or removed (``tag``, ``untag``), and each control a guard
        refused (``refused``: device, action, user, reason): who did what, for a recording."""
        self.guards: list[Callable[[str, str, str], str | None]] = []
        """Asked ``guard(device, action, user)`` before a control is sent: a reason refuses it
        (:attr:`FailReason.refused`; the safety documents' check is one)."""
        self._tags: dict[str, Tag] = {}
        self._tag_seq = 0
        self._operating: dict[str, PointChange | None] = {}
        self._pending: dict[str, tuple[ControlOperation, Callable[[ControlOperation], None] | None]] = {}

    # --- tags -----------------------------------------------------------------------------------
    def place_tag(self, device: str, kind: TagKind, *, user: str, reason: str) -> Tag:
        self._tag_seq += 1
        tag = Tag(f"T{self._tag_seq:05d}", device, TagKind(kind), user, reason, self.clock.now())
        self._tags[tag.id] = tag
        self._tell("tag", {"tag": tag.id, "device": device, "kind": tag.kind.value, "user": user, "reason": reason})
        log.info("tag %s %s placed on %s by %s: %s", tag.id, tag.kind.value, device, user, reason)
        return tag

    def remove_tag(self, tag_id: str, *, user: str) -> Tag:
        try:
            tag = self._tags.pop(tag_id)
        except KeyError:
            raise UnknownTag(tag_id) from None
        log.info("tag %s removed from %s by %s", tag_id, tag.device, user)
        self._tell("untag", {"tag": tag_id, "device": tag.device, "user": user})
        return tag

    def tags(self, device: str | None = None) -> list[Tag]:
        return [t for t in self._tags.values() if device is None or t.device == device]

    def _tell(self, kind: str, data: dict[str, Any]) -> None:
        for listener in self.listeners:
            listener(kind, data)

    # --- controls -------------------------------------------------------------------------------
    def control(self, device: str, action: str, user: str, *,
                on_done: Callable[[ControlOperation], None] | None = None) -> ControlOperation:
        """Run one control (see the module docstring); ``on_done(op)`` when it ends."""
        op = ControlOperation(device, action, user, self.clock.now())
        self.log.append(op)
        self._tell("control", {"device": device, "action": action, "user": user})
        self._step(op, f"requested by {user}")
        info = self.devices.get(device)
        if info is None:
            return self._finish(op, FailReason.unknown_device, on_done)
        tags = tuple(self.tags(device))
        if tags:
            op.tags = tags
            return self._finish(op, FailReason.tagged, on_done)
        for guard in self.guards:
            why = guard(device, action, user)
            if why:
                op.field_reason = why
                self._tell("refused", {"device": device, "action": action, "user": user, "reason": why})
                return self._finish(op, FailReason.refused, on_done)
        if not info.remote:
            return self._finish(op, FailReason.not_remote, on_done)
        if device in self._pending:
            return self._finish(op, FailReason.in_progress, on_done)
        expected = expected_status(info, action, self.points)
        if expected is None:
            return self._finish(op, FailReason.unknown_action, on_done)
        op.expected = expected
        current = self.points.telemetry(device, expected[0])
        if type(current) is type(expected[1]) and current == expected[1]:
            return self._finish(op, FailReason.already, on_done)

        reply = self.link.select(device, action)
        self._step(op, f"select {reply.status.value} {reply.reason}".rstrip())
        if reply.status is not ControlStatus.selected:
            op.field_reason = reply.reason
            return self._finish(op, FailReason.select_refused, on_done)
        # Watch for the confirming status before operating: the field may report it at once.
        self._pending[device] = (op, on_done)
        self._operating[device] = None
        try:
            reply = self.link.operate(device, action)
        finally:
            early = self._operating.pop(device)
        self._step(op, f"operate {reply.status.value} {reply.reason}".rstrip())
        if early is not None:
            self._confirm(early)
            return op
        if reply.status is not ControlStatus.executed:
            op.field_reason = reply.reason
            del self._pending[device]
            return self._finish(op, FailReason.operate_refused, on_done)
        self.clock.call_later(self.confirm_timeout_s, lambda: self._timeout(op))
        return op

    def commanded(self, change: PointChange) -> bool:
        """Whether ``change`` is the status a pending control waits for; if so the control is
        confirmed."""
        if change.device not in self._pending:
            return False
        op, cb = self._pending[change.device]
        if op.expected is None or op.expected[0] != change.name:
            return False
        want = op.expected[1]
        if not (type(change.value) is type(want) and change.value == want):
            return False
        if change.device in self._operating:  # reported while the operate was under way
            self._operating[change.device] = change
            return True
        self._confirm(change)
        return True

    def _confirm(self, change: PointChange) -> None:
        op, cb = self._pending.pop(change.device)
        self._step(op, f"confirmed: {change.name} {change.value}")
        op.outcome, op.finished_s = Outcome.confirmed, self.clock.now()
        log.info("control %s %s by %s confirmed", op.action, op.device, op.user)
        if cb is not None:
            cb(op)

    def _timeout(self, op: ControlOperation) -> None:
        if op.done:
            return
        _, cb = self._pending.pop(op.device)
        self._finish(op, FailReason.confirm_timeout, cb)

    def _step(self, op: ControlOperation, what: str) -> None:
        op.steps.append((self.clock.now(), what))

    def _finish(self, op: ControlOperation, reason: FailReason,
                on_done: Callable[[ControlOperation], None] | None) -> ControlOperation:
        op.outcome, op.reason, op.finished_s = Outcome.failed, reason, self.clock.now()
        self._step(op, f"failed: {reason.value} {op.field_reason}".rstrip())
        log.warning("control %s %s by %s failed: %s %s", op.action, op.device, op.user,
                    reason.value, op.field_reason)
        if on_done is not None:
            on_done(op)
        return op
