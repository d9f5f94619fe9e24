"""The field-device interface over DNP3: SCADA's front end as a DNP3 master.

:class:`Dnp3FieldLink` implements :class:`~twin.idms.interfaces.field_devices.FieldDeviceLink`
on one master session per outstation of a :class:`~twin.idms.interfaces.dnp3.points.PointsMap`
(its YAML file is the per-RTU points map), so the IDMS runs on it exactly as on the virtual
link: switching is configuration.

* :meth:`~Dnp3FieldLink.read` is an integrity poll (class 0, with 64-bit analogs) of the RTUs
  concerned; DNP3's static objects carry no time, so their points are stamped with the poll's
  time. :meth:`~Dnp3FieldLink.poll` reads every RTU's buffered events (binaries and analogs with
  their time stamps from the field) and reports what they change to the subscribers, in device
  order, as the virtual link does; the link polls every ``poll_period_s`` on the clock, and
  :meth:`~Dnp3FieldLink.field_changed` polls the RTUs named at once (in simulation the world
  says when it has reported something, ``lockstep=True``: the world and the IDMS stay in step,
  and the records come with the RTUs' news rather than on their own). With
  ``unsolicited=True`` the outstations' unsolicited responses are taken as they come too.
* Event classes: an outstation answering for the first time (or again) is assigned binaries to
  class 1, analogs to class 2 and counters to class 3 (ASSIGN_CLASS).
* Qualities come from the DNP3 flags (ONLINE, RESTART, COMM_LOST). An outstation that does not
  answer a poll has every point reported ``comms_failed`` (its last values and time stamps; SCADA
  raises its comms alarm); when it answers again an integrity poll brings them back ``good``.
  The stack reconnects with a doubling back-off.
* Controls: :meth:`~Dnp3FieldLink.select` checks what the map and the RTU's state allow (a
  fuse, a local device, a control the kind does not take, an RTU not answering: refused at once)
  and arms the control; :meth:`~Dnp3FieldLink.operate` sends it as a CROB, select-before-operate
  on the wire (SELECT, then OPERATE within the outstation's select timeout), or direct operate;
  a refusal comes back as the CROB status and is turned back into the interface's reason.
* Devices without telemetry are not on any RTU: ``records`` serves them (the utility's field
  records, as a crew last read them); without it they are simply absent.
* Breakers' and reclosers' operation counters are read with the rest and kept in
  :attr:`~Dnp3FieldLink.operations` (the interface has no point for them).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from twin.errors import ModelError
from twin.idms.interfaces.clock import Clock
from twin.idms.interfaces.dnp3.points import LAYOUT, STATUS_REASON, DevicePoints, PointsMap, to_dnp3_ms
from twin.idms.interfaces.dnp3.stack import Dnp3Stack, Master, Measurement, NoResponse
from twin.idms.interfaces.field_devices import (SELECT_TIMEOUT_S, ControlReply, ControlStatus, DeviceInfo,
                                                FieldDeviceLink, PointValue, Quality, same_value)

__all__ = ["Dnp3FieldLink"]

log = logging.getLogger(__name__)

_SWITCH_ACTIONS = frozenset({"trip", "open", "close", "reset"})
_ALL_ACTIONS = _SWITCH_ACTIONS | {"raise", "lower", "auto", "manual"}
_PULSED = frozenset({"switch", "tap"})  # trip/close pairs; the rest latch


class Dnp3FieldLink:
    """A DNP3 master for every RTU of ``points`` (see the module docstring). ``records`` serves
    the devices without telemetry; ``refresh(rtus)`` (lock step) brings the RTUs' databases up to
    the field before an integrity poll and names those answering again; ``poll_period_s`` the
    event poll's period on the clock (None: only when told, :meth:`field_changed`);
    ``executor(fn)`` runs ``fn`` on the IDMS's thread (unsolicited responses arrive on the
    stack's); times in s."""

    def __init__(self, points: PointsMap, clock: Clock, *, stack: Dnp3Stack | None = None,
                 records: FieldDeviceLink | None = None,
                 refresh: Callable[[list[str]], list[str] | None] | None = None,
                 lockstep: bool = False, poll_period_s: float | None = 2.0, unsolicited: bool = False,
                 select_before_operate: bool = True, response_timeout_s: float = 2.0, connect_timeout_s: float = 10.0,
                 executor: Callable[[Callable[[], None]], Any] | None = None) -> None:
        self.map, self.clock, self.records, self.refresh = points, clock, records, refresh
        self.lockstep = lockstep
        self.select_before_operate = select_before_operate
        self.connect_timeout_s = float(connect_timeout_s)
        self._own_stack = stack is None
        self.stack = stack if stack is not None else Dnp3Stack()
        self._executor = executor or (lambda fn: fn())
        self._info = tuple(points.infos())
        self._order = {d.id: k for k, d in enumerate(self._info)}
        self._names = {d.id: {n: k for k, n in enumerate(d.names)} for d in points.devices}
        self._at: dict[str, dict[tuple[str, int], DevicePoints]] = {}
        for r in points.rtus:
            where: dict[tuple[str, int], DevicePoints] = {}
            for d in points.served_by(r.name):
                for k in d.binary.values():
                    where["binary", k] = d
                for ks in d.analog.values():
                    for k in ks:
                        where["analog", k] = d
                for k in d.counter.values():
                    where["counter", k] = d
            self._at[r.name] = where
        self._values: dict[str, dict[tuple[str, int], tuple[Any, int, int]]] = {r.name: {} for r in points.rtus}
        self._online = {r.name: False for r in points.rtus}
        self._last: dict[tuple[str, str], tuple[Any, Quality]] = {}
        self._armed: dict[str, tuple[str, float]] = {}
        self._subscribers: list[Callable[[list[PointValue]], None]] = []
        self.operations: dict[str, int] = {}
        self.polls = self.events_in = self.controls = 0
        self.masters: dict[str, Master] = {}
        for r in points.rtus:
            self.masters[r.name] = self.stack.master(
                r.name, host=r.host, port=r.port, address=points.master_address, outstation_address=r.address,
                response_timeout_s=response_timeout_s,
                on_unsolicited=(lambda batch, rtu=r.name: self._executor(lambda: self._take(rtu, batch)))
                if unsolicited else None)
        deadline = time.monotonic() + self.connect_timeout_s
        for name, m in self.masters.items():
            m.wait_connected(max(0.0, deadline - time.monotonic()))
        if records is not None and not lockstep:
            records.subscribe(self._on_records)
        self.poll_period_s = None if lockstep else poll_period_s
        if self.poll_period_s is not None:
            clock.call_later(poll_period_s, self._periodic)

    # -- the interface ---------------------------------------------------------------------------

    def devices(self) -> Sequence[DeviceInfo]:
        """Every device of the points map, in its order."""
        return self._info

    def read(self, devices: Iterable[str] | None = None) -> list[PointValue]:
        """An integrity poll of the RTUs of ``devices`` (all by default), the rest from the records."""
        ids = [d.id for d in self._info] if devices is None else self._known(
            [devices] if isinstance(devices, str) else list(devices))
        remote = [d for d in ids if self._info[self._order[d]].remote]
        rtus = list(dict.fromkeys(self._info[self._order[d]].rtu for d in remote))
        if self.refresh is not None and rtus:
            for rtu in self.refresh(rtus) or ():  # RTUs answering again: their connection first
                self.masters[rtu].wait_connected(self.connect_timeout_s)
        for rtu in rtus:
            self._integrity(rtu, report=True)  # what changed is in the scan's answer, not reported apart
        points = [p for d in remote for p in self._device_points(self.map.device(d))]  # type: ignore[arg-type]
        local = [d for d in ids if not self._info[self._order[d]].remote]
        if local and self.records is not None:
            points += self.records.read(local)
        self._remember(points)
        return points

    def subscribe(self, callback: Callable[[list[PointValue]], None]) -> None:
        """Report by exception: ``callback(points)`` with what the RTUs' events (and the records) change."""
        self._subscribers.append(callback)

    def select(self, device: str, action: str) -> ControlReply:
        """Arm ``action`` on ``device``, or refuse at once what the map or the RTU's state forbid."""
        now = self.clock.now()
        reason = self._refusal(device, action)
        if reason is not None:
            return ControlReply(device, action, ControlStatus.refused, now, reason)
        self._armed[device] = (action, now)
        return ControlReply(device, action, ControlStatus.selected, now)

    def operate(self, device: str, action: str) -> ControlReply:
        """Send the armed control as a CROB (refused ``not_selected`` when not armed with that
        action within :data:`SELECT_TIMEOUT_S`)."""
        now = self.clock.now()
        armed = self._armed.pop(device, None)
        if armed is None or armed[0] != action or now - armed[1] > SELECT_TIMEOUT_S:
            return ControlReply(device, action, ControlStatus.refused, now, "not_selected")
        d = self.map.device(device)
        assert d is not None
        index, on = d.control(action)  # type: ignore[misc]
        role = next(r for r, k in d.crob.items() if k == index)
        self.controls += 1
        try:
            state, status = self.masters[d.rtu].operate(index, on, pulse=role in _PULSED,
                                                        select_before_operate=self.select_before_operate)
        except NoResponse as err:
            log.warning("%s", err)
            self._lost(d.rtu)
            return ControlReply(device, action, ControlStatus.refused, now, "unreachable")
        if status == "success" and state == "success":
            return ControlReply(device, action, ControlStatus.executed, now)
        return ControlReply(device, action, ControlStatus.refused, now, STATUS_REASON.get(status, status))

    # -- polling ---------------------------------------------------------------------------------

    def field_changed(self, rtus: Sequence[str], local: Sequence[PointValue] = (), back: Sequence[str] = ()) -> None:
        """The field says these RTUs have reported (and these records changed; these RTUs answer
        again: wait for their connection first): poll them now and report, in one batch, as the
        virtual link does."""
        for rtu in back:
            self.masters[rtu].wait_connected(self.connect_timeout_s)
        points: list[PointValue] = []
        for rtu in rtus:
            points += self._poll_rtu(rtu)
        points.sort(key=self._rank)
        points += [p for p in local if self._differs(p)]
        self._report(points)

    def poll(self) -> None:
        """Read every RTU's events (an RTU not answering: an integrity poll to see if it is back)."""
        points: list[PointValue] = []
        for rtu in self.masters:
            points += self._poll_rtu(rtu)
        points.sort(key=self._rank)
        self._report(points)

    def _periodic(self) -> None:
        self.poll()
        if self.poll_period_s is not None:
            self.clock.call_later(self.poll_period_s, self._periodic)

    def _poll_rtu(self, rtu: str) -> list[PointValue]:
        if not self._online[rtu]:
            return self._integrity(rtu, report=True)
        self.polls += 1
        try:
            events = self._request(rtu, Master.read_events)
        except NoResponse as err:
            log.warning("%s", err)  # it was answering: say why it is not
            return self._lost(rtu, report=True)
        return self._apply(rtu, events)

    def _integrity(self, rtu: str, *, report: bool = False) -> list[PointValue]:
        """An integrity poll of ``rtu``: its present values (class 0, stamped with the poll's
        time), then its buffered events, which give the points they concern the field's time
        stamps (an RTU coming back: what changed while it was cut off, when). ``report``: the
        points that differ from those last reported."""
        self.polls += 1
        try:
            values = self._request(rtu, Master.read_static)
            events = self._request(rtu, Master.read_events)
        except NoResponse as err:
            if self._online[rtu]:
                log.warning("%s", err)
            return self._lost(rtu, report=report)
        now_ms = to_dnp3_ms(self.clock.now(), self.map.epoch_utc_ms)
        if not self._online[rtu]:
            log.info("RTU %s answers", rtu)
            self._assign(rtu)
        self._online[rtu] = True
        store, where = self._values[rtu], self._at[rtu]
        for group, index, value, flags, _ in values:
            if (group, index) in where:
                store[group, index] = (value, flags, now_ms)
        self.events_in += len(events)
        for group, index, value, flags, ms in events:
            if (group, index) in where:
                store[group, index] = (value, flags, ms or now_ms)
        self._count(rtu)
        if not report:
            return []
        return [p for d in self.map.served_by(rtu) for p in self._device_points(d) if self._differs(p)]

    def _assign(self, rtu: str) -> None:
        """Give the outstation its event classes (binaries 1, analogs 2, counters 3); one that
        refuses keeps its own."""
        try:
            self.masters[rtu].assign_classes()
        except NoResponse as err:
            log.info("RTU %s kept its own event classes (%s)", rtu, err.completion)

    def _request(self, rtu: str, what: Callable[[Master], list[Measurement]]) -> list[Measurement]:
        """``what`` of ``rtu``'s master; a connection that is down is no answer (the stack
        reconnects on its own)."""
        master = self.masters[rtu]
        if not master.channel_open:
            raise NoResponse(rtu, what.__name__, "not_connected")
        return what(master)

    def _take(self, rtu: str, batch: list[Measurement]) -> None:
        """Unsolicited events from ``rtu``."""
        points = self._apply(rtu, batch)
        points.sort(key=self._rank)
        self._report(points)

    def _apply(self, rtu: str, events: list[Measurement]) -> list[PointValue]:
        """Store ``events`` and return the interface points they change (a binary's every change,
        an analog's last value)."""
        self.events_in += len(events)
        store, where, now_ms = self._values[rtu], self._at[rtu], to_dnp3_ms(self.clock.now(), self.map.epoch_utc_ms)
        out: list[PointValue] = []
        touched: dict[tuple[str, str], DevicePoints] = {}
        for group, index, value, flags, ms in events:
            d = where.get((group, index))
            if d is None:
                continue
            store[group, index] = (value, flags, ms or now_ms)
            if group == "binary":
                name = next(n for n, k in d.binary.items() if k == index)
                p = self.map.decode(d, name, store, now_ms)
                if p is not None:
                    out.append(p)
            elif group == "analog":
                touched[d.id, next(n for n, ks in d.analog.items() if index in ks)] = d
        for (device, name), d in touched.items():
            p = self.map.decode(d, name, store, now_ms)
            if p is not None:
                out.append(p)
        self._count(rtu)
        return [p for p in out if self._differs(p)]

    def _lost(self, rtu: str, *, report: bool = False) -> list[PointValue]:
        """``rtu`` does not answer: its points as last known, ``comms_failed``."""
        if self._online[rtu]:
            log.info("RTU %s does not answer: its points are comms_failed", rtu)
        self._online[rtu] = False
        out = []
        for d in self.map.served_by(rtu):
            for p in self._device_points(d):
                lost = PointValue(p.device, p.name, p.value, Quality.comms_failed, p.time_s)
                if self._differs(lost):
                    out.append(lost)
        if not report:
            self._remember(out)
            if out:
                self._report(sorted(out, key=self._rank))
            return []
        return out

    def _count(self, rtu: str) -> None:
        store = self._values[rtu]
        for d in self.map.served_by(rtu):
            for name, k in d.counter.items():
                got = store.get(("counter", k))
                if got is not None and name == "operations":
                    self.operations[d.id] = int(got[0])

    def _device_points(self, d: DevicePoints) -> list[PointValue]:
        store = self._values[d.rtu]
        now_ms = to_dnp3_ms(self.clock.now(), self.map.epoch_utc_ms)
        out = []
        for name in d.names:
            p = self.map.decode(d, name, store, now_ms)
            if p is not None:
                if not self._online[d.rtu]:
                    p = PointValue(p.device, p.name, p.value, Quality.comms_failed, p.time_s)
                out.append(p)
        return out

    # -- report by exception ---------------------------------------------------------------------

    def _on_records(self, points: list[PointValue]) -> None:
        local = [p for p in points if p.device in self._order and not self._info[self._order[p.device]].remote]
        self._report([p for p in local if self._differs(p)])

    def _report(self, points: list[PointValue]) -> None:
        if not points:
            return
        self._remember(points)
        for callback in self._subscribers:
            callback(points)

    def _rank(self, p: PointValue) -> tuple[int, int]:
        return self._order[p.device], self._names[p.device].get(p.name, 99)

    def _remember(self, points: list[PointValue]) -> None:
        for p in points:
            self._last[p.device, p.name] = (p.value, p.quality)

    def _differs(self, p: PointValue) -> bool:
        last = self._last.get((p.device, p.name))
        return last is None or last[1] != p.quality or not same_value(last[0], p.value)

    # -- controls --------------------------------------------------------------------------------

    def _known(self, ids: list[str]) -> list[str]:
        unknown = [d for d in ids if d not in self._order]
        if unknown:
            raise ModelError(f"the DNP3 points map has no device {', '.join(map(repr, unknown[:5]))}",
                             component="field device", element=str(unknown[0]),
                             fix="name a device of devices(), or add it to the points map")
        return ids

    def _refusal(self, device: str, action: str) -> str | None:
        d = self.map.device(device)
        if d is None:
            return "unknown_device"
        if d.kind == "fault_indicator":
            if action != "reset":
                return "unknown_action"
        elif action not in _ALL_ACTIONS:
            return "unknown_action"
        if d.kind == "fuse":
            return "no_remote_control"
        if not d.rtu:
            if d.kind == "fault_indicator" or action in _kind_actions(d.kind):
                return "not_remote"
            return "not_switching" if action in _SWITCH_ACTIONS else "not_applicable"
        if d.control(action) is None:
            return "not_switching" if action in _SWITCH_ACTIONS else "not_applicable"
        return None if self._online[d.rtu] else "unreachable"

    def close(self) -> None:
        """Close every master session (and the stack, if the link made it)."""
        for m in self.masters.values():
            m.close()
        if self._own_stack:
            self.stack.shutdown()


def _kind_actions(kind: str) -> frozenset[str]:
    """The actions a device of ``kind`` takes (a switch opens by trip or open)."""
    actions = {a for on_off in LAYOUT.get(kind, {}).get("controls", {}).values() for a in on_off if a}
    if "trip" in actions:
        actions.add("open")
    return frozenset(actions)

