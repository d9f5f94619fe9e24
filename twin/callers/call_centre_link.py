"""The virtual call centre: :class:`twin.idms.interfaces.call_centre.CallCentre` on the world's callers.

:class:`VirtualCallCentre` takes each ``call`` event of :class:`~twin.callers.calls.Callers` as a
:class:`~twin.idms.interfaces.call_centre.TroubleCall` named by service point id, with the
caller's name, address and phone number, and what the caller *says*, not the world's truth:

=================== ==================================================
world's reason      the caller reports
=================== ==================================================
``no_power``        ``no_power``
``again``           ``no_power``, ``repeat=True``
``inside_premises`` ``no_power`` (their own breaker: they do not know)
``flicker``         ``flicker``
``wires_down``      ``wires_down``, ``near_line`` the line it is on
=================== ==================================================

Callbacks asked for by the IDMS are kept in :attr:`VirtualCallCentre.callbacks` with the number
the caller last gave. A customer told power is back who is still out answers as the world's
callers do (:meth:`~twin.callers.calls.Callers.told_restored`): a repeat call a few minutes later.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

from twin.errors import ModelError
from twin.idms.interfaces.call_centre import Callback, Report, TroubleCall
from twin.world.events import Event, EventKind

if TYPE_CHECKING:
    from twin.world.environment import World

__all__ = ["VirtualCallCentre"]

_SAYS = {"no_power": Report.no_power, "again": Report.no_power, "inside_premises": Report.no_power,
         "flicker": Report.flicker, "wires_down": Report.wires_down}


class VirtualCallCentre:
    """The world's trouble line behind the call-centre interface (see the module docstring)."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.service_points = np.asarray(world.grid.net.service_point.ids, object)
        self._row = {str(s): k for k, s in enumerate(self.service_points.tolist())}
        self._subscribers: list[Callable[[list[TroubleCall]], None]] = []
        self._numbers: dict[str, str] = {}  # service point: the number its caller last gave
        self.calls: list[TroubleCall] = []
        self.callbacks: list[Callback] = []
        world.events.subscribe(self._on_event)

    def subscribe(self, callback: Callable[[list[TroubleCall]], None]) -> None:
        """``callback(calls)`` with each call as it is taken."""
        self._subscribers.append(callback)

    def callback(self, service_point: str, message: str, *, restored: bool = False) -> Callback:
        """Queue a call back to a customer with ``message`` (``restored``: it says power is back;
        a customer still out calls back)."""
        if service_point not in self._row:
            raise ModelError(f"no service point '{service_point}' to call back", component="service_point",
                             element=service_point, fix="name the service point by its id")
        cb = Callback(self.world.now, service_point, self._numbers.get(service_point, ""), str(message),
                      bool(restored))
        self.callbacks.append(cb)
        callers = getattr(self.world, "callers", None)
        if restored and callers is not None:
            callers.told_restored(self._row[service_point])
        return cb

    def _on_event(self, event: Event) -> None:
        if event.kind != EventKind.call:
            return
        d = event.data
        sp = str(self.service_points[int(d["service_point"])])
        reason = str(d["reason"])
        call = TroubleCall(f"CALL-{len(self.calls) + 1:06d}", event.time_s, sp, str(d.get("meter", "")),
                           _SAYS.get(reason, Report.other), repeat=reason == "again",
                           callback_number=str(d.get("phone", "")), name=str(d.get("name", "")),
                           address=str(d.get("address", "")), near_line=str(d.get("line", "")))
        self.calls.append(call)
        if call.callback_number:
            self._numbers[sp] = call.callback_number
        for callback in self._subscribers:
            callback([call])
