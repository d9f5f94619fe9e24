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

Lock step. ``notify(rtus, local_points)``, when given, is called once the outstations hold a
report: the RTUs that have events and the points of devices without telemetry that changed
(field records), so that a master in another process polls them before the world goes on.
:meth:`Dnp3Outstations.refresh` brings RTUs' databases up to the field's present values before
an integrity poll, as a real RTU's always are.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from twin.idms.interfaces.dnp3.points import REASON_STATUS, DevicePoints, PointsMap, to_dnp3_ms
from twin.idms.interfaces.dnp3.stack import Dnp3Stack, Measurement, Outstation
from twin.idms.interfaces.field_devices import ControlStatus, PointValue, Quality

if TYPE_CHECKING:
    from twin.field_devices.link import VirtualFieldLink

__all__ = ["Dnp3Outstations"]

log = logging.getLogger(__name__)
T = TypeVar("T")


class Dnp3Outstations:
    """Every RTU of ``points`` as an outstation on ``link``'s devices (see the module docstring)."""

    def __init__(self, link: VirtualFieldLink, points: PointsMap, *, stack: Dnp3Stack | None = None,
                 run_on_world: Callable[[Callable[[], Any]], Any] | None = None,
                 notify: Callable[[list[str], list[PointValue]], None] | None = None,
                 unsolicited: bool = False) -> None:
        self.link, self.map, self.notify = link, points, notify
        self._own_stack = stack is None
        self.stack = stack if stack is not None else Dnp3Stack()
        self._run = run_on_world or (lambda fn: fn())
        self._crob: dict[str, dict[int, DevicePoints]] = {}
        self._remote = {d.id for d in points.devices if d.rtu}
        self.outstations: dict[str, Outstation] = {}
        self.up: dict[str, bool] = {}
        self._closed_state: dict[str, bool] = {}
        self._operations: dict[str, int] = {}
        self.controls = self.reports = 0
        now = link.world
        for r in points.rtus:
            self._crob[r.name] = {k: d for d in points.served_by(r.name) for k in d.crob.values()}
            b, a, c, _ = points.sizes(r.name)
            self.outstations[r.name] = self.stack.outstation(
                r.name, host=r.host, port=r.port, address=r.address, master_address=points.master_address,
                binaries=b, analogs=a, counters=c, unsolicited=unsolicited,
                on_control=lambda index, on, select, rtu=r.name: self._control(rtu, index, on, select),
                now_ms=lambda: to_dnp3_ms(float(now.now), points.epoch_utc_ms))
        first = link.read([d for d in self._remote])
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
        changed = list(dict.fromkeys(self.map.device(p.device).rtu for p in remote))  # type: ignore[union-attr]
        by_rtu = {rtu: [p for p in remote if self.map.device(p.device).rtu == rtu] for rtu in changed}  # type: ignore
        for rtu, pts in by_rtu.items():
            failed = any(p.quality is Quality.comms_failed for p in pts)
            if failed:
                self.outstations[rtu].disable()
                self.up[rtu] = False
                continue
            self._write(pts, events=self.up[rtu])
            if not self.up[rtu]:
                self.up[rtu] = True
                self.outstations[rtu].enable()
        if self.notify is not None and (changed or local):
            self.notify(changed, local)

    def refresh(self, rtus: Sequence[str]) -> None:
        """Bring the databases of ``rtus`` up to the field's present values (no events)."""
        devices = [d.id for rtu in rtus if self.up.get(rtu) for d in self.map.served_by(rtu)]
        if devices:
            self._write([p for p in self.link.read(devices) if p.quality is not Quality.comms_failed], events=False)

    def _write(self, points: list[PointValue], *, events: bool) -> None:
        by_rtu: dict[str, list[Measurement]] = {}
        for p in points:
            d = self.map.device(p.device)
            if d is None or not d.rtu:
                continue
            values = by_rtu.setdefault(d.rtu, [])
            values += self.map.encode(p)
            if p.name == "status" and "operations" in d.counter:
                was = self._closed_state.get(d.id)
                now_closed = p.value == "closed"
                if was and not now_closed:
                    self._operations[d.id] = self._operations.get(d.id, 0) + 1
                    values.append(("counter", d.counter["operations"], self._operations[d.id], 0x01,
                                   to_dnp3_ms(p.time_s, self.map.epoch_utc_ms)))
                self._closed_state[d.id] = now_closed
        for rtu, values in by_rtu.items():
            self.outstations[rtu].apply(values, events=events)

    # -- controls --------------------------------------------------------------------------------

    def _control(self, rtu: str, index: int, on: bool, select: bool) -> str:
        """A CROB from the master (on the stack's thread): the link's select or operate, on the
        world's thread; the status name to answer."""
        d = self._crob[rtu].get(index)
        if d is None:
            return "not_supported"
        action = d.action(index, on)
        if action is None:
            return "not_supported"
        self.controls += 1
        reply = self._run(lambda: (self.link.select if select else self.link.operate)(d.id, action))
        if reply.status in (ControlStatus.selected, ControlStatus.executed):
            return "success"
        return REASON_STATUS.get(reply.reason, "undefined")

    def close(self) -> None:
        for out in self.outstations.values():
            out.disable()
        if self._own_stack:
            self.stack.shutdown()
