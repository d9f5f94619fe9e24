"""The automatic dispatcher: a policy that runs the IDMS the way a good dispatcher would, so that a
storm runs end to end without a person (studies, benchmarks, and the expert baseline a trainee is
scored against).

Every ``review_s`` (and whenever an outage or a crew changes) it

* acknowledges the alarms on the list (having read them: it acts on the outages they make);
* dispatches crews to the outages waiting, in the outage list's priority order (hazards,
  critical customers, customers out, age), once an outage has lasted ``sustained_s`` (a
  recloser's sequence is over, the AMI pings have had their say): the nearest available
  troubleshooter to patrol, else the nearest available line crew; a line crew, nearest first, to
  an outage a troubleshooter handed on (``needs line crew``);
* runs an AMI sweep every ``sweep_s`` (every meter believed on and in no outage pinged: the
  pockets nobody reported are found);
* calls out every crew off duty when more outages wait than ``callout_backlog`` per crew on duty
  (a storm), at most once an hour;
* leaves alone the outages of commanded switching (the dispatcher's own) and inside-premise
  cases (no crew: that is the point of the ping).

Closing out restorations is the outage manager's (a device closed, AMI pings after it); the
dispatcher sees a crew free again and gives it the next job. :meth:`AutomaticDispatcher.stop`
hands the desk to a person (a trainee taking over a replayed session).
"""

from __future__ import annotations

import math

from twin.idms.interfaces.workforce import Activity, CrewReport, CrewStatus, ReportKind, Skill
from twin.idms.oms.records import OutageRecord
from twin.idms.system import Idms

__all__ = ["AutomaticDispatcher"]


class AutomaticDispatcher:
    """Runs an :class:`~twin.idms.system.Idms` unattended (see the module docstring)."""

    def __init__(self, idms: Idms, *, user: str = "auto-dispatcher", review_s: float = 60.0,
                 sustained_s: float = 120.0, callout_backlog: float = 2.0, sweep_s: float = 3 * 3600.0) -> None:
        if idms.workforce is None:
            raise ValueError("the automatic dispatcher needs the IDMS's workforce link to send crews")
        self.idms, self.user = idms, user
        self.review_s, self.sustained_s, self.callout_backlog = review_s, sustained_s, callout_backlog
        self._called_s = -float("inf")
        self.call_outs = 0
        self.crews: dict[str, CrewStatus] = {s.crew: s for s in idms.workforce.crews()}
        self._sent: set[str] = set()  # crews given an order not yet seen taken up
        self._needs_line: set[str] = set()  # outages a troubleshooter handed on
        self.dispatches = 0
        self.acknowledged = 0
        idms.workforce.subscribe_status(self._on_status)
        idms.workforce.subscribe(self._on_report)
        idms.oms.subscribe(self._on_outage)
        self._review_due = False
        self.stopped = False
        idms.clock.call_later(review_s, self._review)
        self.sweep_s, self.sweeps = sweep_s, 0
        if sweep_s > 0:
            idms.clock.call_later(sweep_s, self._sweep)

    def _on_status(self, status: CrewStatus) -> None:
        self.crews[status.crew] = status
        if status.activity != Activity.available:
            self._sent.discard(status.crew)
        else:
            self._soon()

    def _on_report(self, report: CrewReport) -> None:
        if report.kind == ReportKind.needs_line_crew:
            rec = next((r for r in self.idms.oms.outages() if r.crew == report.crew), None)
            if rec is not None:
                self._needs_line.add(rec.id)
        elif report.kind in (ReportKind.refused, ReportKind.free):
            self._sent.discard(report.crew)
            self._soon()

    def _on_outage(self, record: OutageRecord) -> None:
        if record.active and not record.crew:
            self._soon()

    def stop(self) -> None:
        """Leave the desk: no more acknowledgements, dispatches, sweeps or call-outs."""
        self.stopped = True

    def _soon(self) -> None:
        if not self._review_due and not self.stopped:
            self._review_due = True
            self.idms.clock.call_later(0.0, self._dispatch)

    def _review(self) -> None:
        """Acknowledge the alarms, dispatch, and come back in ``review_s``."""
        if self.stopped:
            return
        for alarm in self.idms.scada.alarms.alarms():
            if not alarm.acknowledged:
                self.idms.acknowledge(alarm.id, self.user)
                self.acknowledged += 1
        self._dispatch()
        self._call_out_if_needed()
        self.idms.clock.call_later(self.review_s, self._review)

    def _sweep(self) -> None:
        """An AMI sweep, and the next one ``sweep_s`` from now."""
        if self.stopped:
            return
        if self.idms.oms.sweep():
            self.sweeps += 1
        self.idms.clock.call_later(self.sweep_s, self._sweep)

    def _call_out_if_needed(self) -> None:
        now = self.idms.clock.now()
        waiting = sum(1 for r in self.idms.oms.outages() if not r.crew and r.cause != "switching")
        on_duty = sum(1 for s in self.crews.values() if s.on_duty)
        if waiting > self.callout_backlog * max(1, on_duty) and now - self._called_s >= 3600.0:
            called = self.idms.call_out(self.user)
            self._called_s = now
            if called:
                self.call_outs += 1

    def _dispatch(self) -> None:
        self._review_due = False
        if self.stopped:
            return
        now = self.idms.clock.now()
        oms = self.idms.oms
        free = [c for c in self.crews.values() if c.activity == Activity.available and c.crew not in self._sent]
        if not free:
            return
        for rec in oms.outages():
            if rec.crew or rec.cause == "switching" or not rec.customers_out or now - rec.detected_s < self.sustained_s:
                continue
            line_only = rec.id in self._needs_line
            xy = oms.device_xy(rec.device)
            crew = self._nearest(free, xy, Skill.line) if line_only else \
                self._nearest(free, xy, Skill.troubleshooter) or self._nearest(free, xy, Skill.line)
            if not crew:
                continue
            self._sent.add(crew)
            free = [c for c in free if c.crew != crew]
            self._needs_line.discard(rec.id)
            self.idms.dispatch(crew, rec.id, self.user)
            self.dispatches += 1
            if not free:
                return

    @staticmethod
    def _nearest(free: list[CrewStatus], xy: tuple[float, float] | None, skill: Skill) -> str:
        """The nearest of the free crews with ``skill`` ('' for none)."""
        best, best_d = "", math.inf
        for s in free:
            if s.skill != skill:
                continue
            d = 0.0 if xy is None else math.hypot(s.x_m - xy[0], s.y_m - xy[1])
            if d < best_d:
                best, best_d = s.crew, d
        return best
