"""The world's RTUs as DNP3 outstations.

:class:`Dnp3Outstations` stands on a :class:`~twin.field_devices.link.VirtualFieldLink` and
serves each RTU of a :class:`~twin.idms.interfaces.dnp3.points.PointsMap` as an outstation on
its own TCP port (loopback in simulation): the database holds the points of the RTU's devices
as the points map lays them out, and every exception the link reports is written to it as an
event with the field's time stamp (simulated time as DNP3 time), so a master's event poll or an
unsolicited response carries it. Breakers and reclosers count their trips in the
``operations`` counter.

Communications. When the world's communications to an RTU fail (the link reports its points
``comms_failed``) the outstation falls silent: it stops answering, as an RTU behind a dead radio
does, and the master finds out by itself. When they come back the outstation's database is
brought up to date and it answers again.

Controls. A CROB (select, operate or direct operate) is decoded by the points map into a
device and an action and carried out by the link's own select and operate, on the world's
thread (``run_on_world``: the stack calls from its own threads); the link's refusal comes back
as the CROB status (:data:`~twin.idms.interfaces.dnp3.points.REASON_STATUS`). Only the
configured master's link address is answered.

Lock step. ``notify(rtus, local_points, back)``, when given, is called once the outstations hold
a report: the RTUs that have events, the points of devices without telemetry that changed
(field records) and the RTUs answering again (so that the master waits for their connection
before it polls, at this simulated moment rather than after a wall-clock back-off), so that a
master in another process polls them before the world goes on.
:meth:`Dnp3Outstations.refresh` brings RTUs' databases up to the field's present values before
an integrity poll, as a real RTU's always are.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from twin.idms.interfaces.dnp3.points import REASON_STATUS, DevicePoints, PointsMap, to_dnp3_ms
from twin.idms.interfaces.dnp3.stack import Dnp3Stack, Measurement, Outstation
from twin.idms.interfaces.field_devices import ControlStatus, PointValue, Quality, same_value

if TYPE_CHECKING:
    from twin.field_devices.link import VirtualFieldLink

__all__ = ["Dnp3Outstations"]

log = logging.getLogger(__name__)


class Dnp3Outstations:
    """Every RTU of ``points`` as an outstation on ``link``'s devices (see the module docstring)."""

    def __init__(self, link: VirtualFieldLink, points: PointsMap, *, stack: Dnp3Stack | None = None,
                 run_on_world: Callable[[Callable[[], Any]], Any] | None = None,
                 notify: Callable[[list[str], list[PointValue], list[str]], None] | None = None,
                 unsolicited: bool = False) -> None:
        self.link, self.map, self.notify = link, points, notify
        self._own_stack = stack is None
        self.stack = stack if stack is not None else Dnp3Stack()
        self._run = run_on_world or (lambda fn: fn())
        self._crob: dict[str, dict[int, DevicePoints]] = {}
        self._telemetered = [d.id for d in points.devices if d.rtu]
        self._remote = set(self._telemetered)
        self.outstations: dict[str, Outstation] = {}
        self.up: dict[str, bool] = {}
        self._closed_state: dict[str, bool] = {}
        self._operations: dict[str, int] = {}
        self._held: dict[tuple[str, str], tuple[Any, Quality]] = {}  # what each point was last written as
        self._back: list[str] = []  # RTUs answering again since the master was last told
        self.controls = self.reports = 0
        world = link.world
        for r in points.rtus:
            self._crob[r.name] = {k: d for d in points.served_by(r.name) for k in d.crob.values()}
            b, a, c, _ = points.sizes(r.name)
            self.outstations[r.name] = self.stack.outstation(
                r.name, host=r.host, port=r.port, address=r.address, master_address=points.master_address,
                binaries=b, analogs=a, counters=c, unsolicited=unsolicited,
                on_control=lambda index, on, stage, rtu=r.name: self._control(rtu, index, on, stage),
                now_ms=lambda: to_dnp3_ms(float(world.now), points.epoch_utc_ms))
        first = link.read(self._telemetered)
        self._write(first, events=False)
        for rtu in self.outstations:
            self.up[rtu] = not any(p.quality is Quality.comms_failed for p in first
                                   if self.map.device(p.device).rtu == rtu)  # type: ignore[union-attr]
            if self.up[rtu]:
                self.outstations[rtu].enable()
        link.subscribe(self._on_points)

    # -- what the field reports ------------------------------------------------------------------

    def _on_points(self, points: list[PointValue]) -> None:
        self.reports += 1
        remote = [p for p in points if p.device in self._remote]
        local = [p for p in points if p.device not in self._remote]
        changed = self._take(remote, events=True)
        back, self._back = self._back, []
        if self.notify is not None and (changed or local):
            self.notify(changed, local, back)

    def refresh(self, rtus: Sequence[str]) -> list[str]:
        """Bring the databases of ``rtus`` up to the field's present values before an integrity
        poll: a point that changed since it was last written (an analog moving inside its
        deadband, say) is an event with its own time stamp, as an RTU records it, the others are
        written without events; an RTU the field cannot reach falls silent. Returns the RTUs that
        answer again (the master waits for their connection)."""
        devices = [d.id for rtu in rtus for d in self.map.served_by(rtu)]
        if devices:
            self._take(self.link.read(devices), events=None)
        back, self._back = self._back, []
        return back

    def _take(self, points: list[PointValue], *, events: bool | None) -> list[str]:
        """Write ``points`` RTU by RTU; an RTU whose points are ``comms_failed`` falls silent, one
        that was silent answers again (with what happened meanwhile as events); the RTUs touched."""
        by_rtu: dict[str, list[PointValue]] = {}
        for p in points:
            by_rtu.setdefault(self.map.device(p.device).rtu, []).append(p)  # type: ignore[union-attr]
        for rtu, pts in by_rtu.items():
            if any(p.quality is Quality.comms_failed for p in pts):
                if self.up[rtu]:
                    log.info("RTU %s falls silent: its communications are down", rtu)
                    self.outstations[rtu].disable()
                    self.up[rtu] = False
                continue
            if not self.up[rtu]:
                self._write(pts, events=True)  # what happened while it was cut off
                log.info("RTU %s answers again", rtu)
                self.up[rtu] = True
                self.outstations[rtu].enable()
                self._back.append(rtu)
            else:
                self._write(pts, events=events)
        return list(by_rtu)

    def _write(self, points: list[PointValue], *, events: bool | None) -> None:
        """Write ``points`` to their outstations (``events`` None: an event where the value or
        quality differs from what was last written)."""
        by_rtu: dict[str, tuple[list[Measurement], list[bool]]] = {}
        for p in points:
            d = self.map.device(p.device)
            if d is None or not d.rtu:
                continue
            values, flags = by_rtu.setdefault(d.rtu, ([], []))
            held = self._held.get((p.device, p.name))
            event = events if events is not None else held is None or held[1] is not p.quality or not same_value(held[0], p.value)
            self._held[p.device, p.name] = (p.value, p.quality)
            encoded = self.map.encode(p)
            values += encoded
            flags += [event] * len(encoded)
            if p.name == "status" and "operations" in d.counter:
                was = self._closed_state.get(d.id)
                now_closed = p.value == "closed"
                if was and not now_closed:
                    self._operations[d.id] = self._operations.get(d.id, 0) + 1
                    values.append(("counter", d.counter["operations"], self._operations[d.id], 0x01,
                                   to_dnp3_ms(p.time_s, self.map.epoch_utc_ms)))
                    flags.append(True)
                self._closed_state[d.id] = now_closed
        for rtu, (values, flags) in by_rtu.items():
            self.outstations[rtu].apply(values, events=flags)

    # -- controls --------------------------------------------------------------------------------

    def _control(self, rtu: str, index: int, on: bool, stage: str) -> str:
        """A CROB from the master (on the stack's thread): the link's select, operate, or both for
        a direct operate, on the world's thread; the status name to answer."""
        d = self._crob[rtu].get(index)
        if d is None:
            return "not_supported"
        action = d.action(index, on)
        if action is None:
            return "not_supported"
        self.controls += 1
        reply = self._run(lambda: self._carry_out(d.id, action, stage))
        if reply.status in (ControlStatus.selected, ControlStatus.executed):
            return "success"
        return REASON_STATUS.get(reply.reason, "undefined")

    def _carry_out(self, device: str, action: str, stage: str):
        if stage == "select":
            return self.link.select(device, action)
        if stage == "direct":  # the RTU arms and executes in one step
            armed = self.link.select(device, action)
            if armed.status is not ControlStatus.selected:
                return armed
        return self.link.operate(device, action)

    def close(self) -> None:
        for out in self.outstations.values():
            out.disable()
        if self._own_stack:
            self.stack.shutdown()

