"""The virtual AMI head-end: :class:`twin.idms.interfaces.ami.AmiHeadEnd` on the world's meter fleet.

:class:`VirtualHeadEnd` turns what the fleet's head-end delivers (the world's ``last_gasp``,
``power_restore``, ``low_voltage`` and ``voltage_normal`` events, each at its delivery time) into
:class:`~twin.idms.interfaces.ami.AmiEvent` messages named by meter and service point id, with the
meter's own time stamp (``at_s``) and the delivery time. Pings and voltage reads are the fleet's
SimPy processes (:meth:`~twin.meters.fleet.MeterFleet.ping`,
:meth:`~twin.meters.fleet.MeterFleet.read_voltage`); a small process waits for each and calls the
requester back with the :class:`~twin.idms.interfaces.ami.AmiReply`. Interval data are the MDM's
(:meth:`~twin.meters.mdm.MeterDataManagement.load_profile`: only what the collection cycles
have brought in).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING

import numpy as np

from twin.errors import ModelError
from twin.idms.interfaces.ami import AmiEvent, AmiEventKind, AmiReply, IntervalData, MeterAnswer, MeterInfo, RequestKind
from twin.world.events import Event, EventKind

if TYPE_CHECKING:
    from twin.meters.fleet import MeterFleet
    from twin.world.environment import World

__all__ = ["VirtualHeadEnd"]

_KINDS = {EventKind.last_gasp: AmiEventKind.last_gasp, EventKind.power_restore: AmiEventKind.power_restore,
          EventKind.low_voltage: AmiEventKind.low_voltage, EventKind.voltage_normal: AmiEventKind.voltage_normal}


class VirtualHeadEnd:
    """The world's AMI head-end and MDM behind the AMI interface (see the module docstring)."""

    def __init__(self, world: World, fleet: MeterFleet) -> None:
        self.world, self.fleet = world, fleet
        self.meter_ids = np.asarray(fleet.meter, object)
        self.service_points = np.asarray(world.grid.net.service_point.ids, object)
        self._row = {str(m): k for k, m in enumerate(self.meter_ids.tolist())}
        self._subscribers: list[Callable[[list[AmiEvent]], None]] = []
        self._requests = 0
        world.events.subscribe(self._on_event)

    def meters(self) -> Sequence[MeterInfo]:
        """Every meter, in the service point table's order."""
        return [MeterInfo(str(m), str(s)) for m, s in zip(self.meter_ids.tolist(), self.service_points.tolist())]

    def subscribe(self, callback: Callable[[list[AmiEvent]], None]) -> None:
        """``callback(events)`` with each message as the head-end receives it."""
        self._subscribers.append(callback)

    def ping(self, meters: Iterable[str], callback: Callable[[AmiReply], None]) -> int:
        """Ping meters; ``callback(reply)`` when the last answers or the head-end gives up."""
        rows = self._rows(meters)
        return self._ask(RequestKind.ping, self.fleet.ping(rows), callback)

    def read_voltage(self, meters: Iterable[str], callback: Callable[[AmiReply], None]) -> int:
        """Read meters' voltages; ``callback(reply)`` with them (per unit)."""
        rows = self._rows(meters)
        return self._ask(RequestKind.voltage, self.fleet.read_voltage(rows), callback)

    def load_profile(self, meters: Iterable[str], t0_s: float, t1_s: float) -> IntervalData:
        """The MDM's intervals starting in ``[t0_s, t1_s)`` (NaN: not collected yet)."""
        rows = self._rows(meters)
        p = self.fleet.mdm.load_profile(rows, t0_s, t1_s)
        return IntervalData(tuple(self.meter_ids[rows].tolist()), tuple(self.service_points[rows].tolist()),
                            np.asarray(p.start_s, float), np.asarray(p.kwh), np.asarray(p.v_pu))

    # -- the world's side ------------------------------------------------------------------------

    def _on_event(self, event: Event) -> None:
        kind = _KINDS.get(event.kind)
        if kind is None or not self._subscribers:
            return
        row = int(event.data["service_point"])
        message = AmiEvent(kind, str(event.data["meter"]), str(self.service_points[row]), float(event.data["at_s"]),
                           event.time_s)
        for callback in self._subscribers:
            callback([message])

    def _ask(self, kind: RequestKind, process, callback: Callable[[AmiReply], None]) -> int:
        self._requests += 1
        self.world.env.process(self.answer(self._requests, kind, process, callback))
        return self._requests

    def answer(self, request: int, kind: RequestKind, process, callback: Callable[[AmiReply], None]):
        """Wait for the fleet's answers to a request, then call the requester back."""
        result = yield process
        v = getattr(result, "v_pu", np.full(len(result.rows), np.nan))
        routed = result.routed if result.routed is not None else np.ones(len(result.rows), bool)
        answers = tuple(MeterAnswer(str(self.meter_ids[r]), str(self.service_points[r]), bool(a), float(d), float(u),
                                    bool(ok))
                        for r, a, d, u, ok in zip(result.rows.tolist(), result.answered.tolist(),
                                                  result.delay_s.tolist(), np.asarray(v, float).tolist(),
                                                  routed.tolist()))
        callback(AmiReply(request, kind, float(result.time_s), answers))

    def _rows(self, meters: Iterable[str]) -> np.ndarray:
        ids = [meters] if isinstance(meters, str) else list(meters)
        unknown = [m for m in ids if m not in self._row]
        if unknown:
            raise ModelError(f"the head-end serves no meter {', '.join(map(repr, unknown[:5]))}",
                             component="service_point", element=str(unknown[0]), field="meter",
                             fix="name meters by their id (the service point table's meter column)")
        return np.array([self._row[m] for m in ids], np.int64)
