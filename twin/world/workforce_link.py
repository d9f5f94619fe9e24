"""The virtual workforce system: :class:`twin.idms.interfaces.workforce.Workforce` on the world's crews.

:class:`VirtualWorkforce` follows the world's ``crew`` and ``shift`` events and
:class:`~twin.world.crews.Crews`' arrays (skill, on duty, busy, position) and turns them into what
a mobile workforce system shows a dispatcher: a :class:`~twin.idms.interfaces.workforce.CrewStatus`
per crew on every change (its activity: off duty, called out, available, travelling, patrolling,
repairing, switching; the device and line of the job at hand; the position where the crew last
stopped: the world moves a crew when it arrives) and a
:class:`~twin.idms.interfaces.workforce.CrewReport` for each thing a crew says (the world's
``crew`` actions, and a ``switch`` event by a crew as ``operated``).

Orders: :meth:`VirtualWorkforce.switch` is :meth:`Crews.order_switch` for the named crew;
:meth:`VirtualWorkforce.send_to_outage` is :meth:`Crews.order_outage` (the world's crews offer
no other way to send a chosen crew to a chosen outage). Run the crews with
``auto_dispatch=False`` when the IDMS dispatches, or the world's own dispatcher sends crews too.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import numpy as np

from twin.errors import ModelError
from twin.idms.interfaces.workforce import Activity, CrewReport, CrewStatus, ReportKind, Skill
from twin.world.events import Event, EventKind

if TYPE_CHECKING:
    from twin.world.crews import Crews
    from twin.world.environment import World

__all__ = ["VirtualWorkforce"]

_REPORTS = {"ordered": ReportKind.ordered, "dispatched": ReportKind.dispatched, "arrived": ReportKind.arrived,
            "found": ReportKind.found, "found nothing": ReportKind.found_nothing,
            "needs line crew": ReportKind.needs_line_crew, "repaired": ReportKind.repaired,
            "refused": ReportKind.refused, "free": ReportKind.free}
_SHIFTS = {"on duty": Activity.available, "off duty": Activity.off_duty, "called out": Activity.called_out}


class VirtualWorkforce:
    """The world's crews behind the workforce interface (see the module docstring); ``by``: who
    the orders are from, as the world's events record it."""

    def __init__(self, world: World, crews: Crews, *, by: str = "idms") -> None:
        self.world, self.roster, self.by = world, crews, by
        self._row = {str(c): k for k, c in enumerate(crews.ids.tolist())}
        n = len(crews.ids)
        self.activity = [Activity.off_duty] * n
        for k in range(n):
            self.activity[k] = (Activity.travelling if crews.busy[k] else Activity.available if crews.on_duty[k]
                                else Activity.called_out if crews.called[k] else Activity.off_duty)
        self._job: list[tuple[str, str]] = [("", "")] * n  # device, line of the job at hand
        self._switching = np.zeros(n, bool)  # the job at hand is a switching order
        self._status_subscribers: list[Callable[[CrewStatus], None]] = []
        self._report_subscribers: list[Callable[[CrewReport], None]] = []
        world.events.subscribe(self._on_event)

    # -- the interface ---------------------------------------------------------------------------

    def crews(self) -> Sequence[CrewStatus]:
        """Every crew's status now, in the roster's order."""
        return [self._status(k) for k in range(len(self.roster.ids))]

    def subscribe_status(self, callback: Callable[[CrewStatus], None]) -> None:
        """``callback(status)`` on every change of a crew's status."""
        self._status_subscribers.append(callback)

    def subscribe(self, callback: Callable[[CrewReport], None]) -> None:
        """``callback(report)`` for every crew report."""
        self._report_subscribers.append(callback)

    def send_to_outage(self, crew: str, device: str, line: str = "") -> None:
        """Send ``crew`` to the outage behind ``device`` (acknowledged by ``ordered`` or ``refused``)."""
        self.roster.order_outage(crew, device, line, by=self.by)

    def switch(self, crew: str, device: str, open_: bool) -> None:
        """Send ``crew`` to open or close ``device`` (acknowledged by ``ordered``, or ``refused``
        for a device the model does not have)."""
        try:
            self.roster.order_switch(crew, device, open_, by=self.by)
        except ModelError:
            self._report(CrewReport(crew, ReportKind.refused, self.world.now, device=device, reason="unknown_device"))

    def call_out(self, crews: Sequence[str] | None = None) -> list[str]:
        """Call crews off duty in (:meth:`Crews.call_out`)."""
        return self.roster.call_out(None if crews is None else list(crews))

    # -- the world's side ------------------------------------------------------------------------

    def _on_event(self, event: Event) -> None:
        d = event.data
        crew = str(d.get("crew", d.get("by", "")))
        k = self._row.get(crew)
        if k is None:
            return
        if event.kind == EventKind.shift:
            activity = _SHIFTS.get(str(d.get("action")))
            if activity is not None:
                self.activity[k] = Activity.travelling if activity == Activity.available and self.roster.busy[k] \
                    else activity
                self._changed(k)
        elif event.kind == EventKind.switch:  # a crew operated a device (on order, or closing after a repair)
            self._report(CrewReport(crew, ReportKind.operated, event.time_s, device=str(d["device"]),
                                    closed=bool(d.get("closed"))))
        elif event.kind == EventKind.crew:
            self._crew_event(k, crew, event)

    def _crew_event(self, k: int, crew: str, event: Event) -> None:
        d, action = event.data, str(event.data.get("action"))
        device, line = str(d.get("device", "")), str(d.get("line", ""))
        if action == "reported":
            status = str(d.get("status"))
            kind = ReportKind.done if status == "done" else ReportKind.refused
            self._report(CrewReport(crew, kind, event.time_s, device=device, line=line,
                                    reason="" if kind == ReportKind.done else status))
        elif action in _REPORTS:
            kind = _REPORTS[action]
            reason = str(d.get("status", "")) or (f"a fault found on {line} below" if line else "")
            self._report(CrewReport(crew, kind, event.time_s, device=device, line=line, cause=str(d.get("cause", "")),
                                    reason=reason if kind == ReportKind.refused else ""))
        else:
            return
        if action == "dispatched":
            self._job[k] = (device, line)
            self._switching[k] = "order" in d
            self.activity[k] = Activity.travelling
        elif action == "arrived":
            self.activity[k] = Activity.switching if self._switching[k] else Activity.patrolling
        elif action == "found":
            self.activity[k] = Activity.repairing
        elif action == "free":
            self._job[k] = ("", "")
            self.activity[k] = Activity.available if self.roster.on_duty[k] else Activity.off_duty
        else:
            return
        self._changed(k)

    def _status(self, k: int) -> CrewStatus:
        c = self.roster
        device, line = self._job[k]
        return CrewStatus(str(c.ids[k]), Skill(str(c.skill[k])), bool(c.on_duty[k]), bool(c.busy[k]),
                          float(c.xy[k, 0]), float(c.xy[k, 1]), self.activity[k], self.world.now, device, line)

    def _changed(self, k: int) -> None:
        if self._status_subscribers:
            status = self._status(k)
            for callback in self._status_subscribers:
                callback(status)

    def _report(self, report: CrewReport) -> None:
        for callback in self._report_subscribers:
            callback(report)
