"""The workforce interface: where the crews are and what they are doing, what they report, and
the orders the IDMS sends them.

In: :class:`CrewStatus` for every crew (its ``skill``, on duty or not, busy or not, where it is,
what it is doing: :class:`Activity`, and the device or line it is working on), as a mobile
workforce system's vehicle locations and status codes give them, on every change
(:meth:`Workforce.subscribe_status`); and :class:`CrewReport` for what crews say over the radio
(:meth:`Workforce.subscribe`): arrived, found a fault of some cause on a line, found nothing,
need a line crew, repaired, operated a device, refused an order, free.

Out: :meth:`Workforce.send_to_outage` (go to the outage isolated by a device, patrol, repair,
restore), :meth:`Workforce.switch` (open or close a device and report back) and
:meth:`Workforce.call_out` (call crews off duty in). An order is
acknowledged at once by a report (``ordered``, or ``refused`` when it cannot be given: a crew off
duty, an unknown device); what the crew does follows as reports. Locations are in the network
model's coordinates (m).

>>> CrewReport("S01-TS1", ReportKind.found, 3600.0, line="S01-F1-L0016", cause="tree").kind.value
'found'
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

__all__ = ["Activity", "CrewReport", "CrewStatus", "ReportKind", "Skill", "Workforce"]


class Skill(str, enum.Enum):
    """What a crew can do."""

    troubleshooter = "troubleshooter"  # one person: patrols, re-fuses, switches, small repairs
    line = "line"  # a bucket truck: conductors, poles, crossarms, equipment


class Activity(str, enum.Enum):
    """What a crew is doing."""

    off_duty = "off_duty"
    called_out = "called_out"  # called in, on the way to its depot
    available = "available"  # on duty, free for a job
    travelling = "travelling"  # driving to a job
    patrolling = "patrolling"  # at an outage, looking for the fault
    repairing = "repairing"  # fault found, repair under way
    switching = "switching"  # at a device, about to operate it


class ReportKind(str, enum.Enum):
    """What a crew reported."""

    ordered = "ordered"  # the order reached the crew (or the queue for it)
    dispatched = "dispatched"  # on its way
    arrived = "arrived"
    found = "found"  # found the fault (``line``, ``cause``; ``device``: the device found open, where known)
    found_nothing = "found_nothing"  # patrolled and found nothing (a temporary fault)
    needs_line_crew = "needs_line_crew"  # a troubleshooter found more than it can repair
    repaired = "repaired"
    operated = "operated"  # opened or closed ``device`` (``closed`` says which)
    refused = "refused"  # would not carry out the order (``reason``: a known fault below, off duty...)
    done = "done"  # a switching order carried out (the device is as ordered)
    free = "free"  # the job is over


@dataclass(frozen=True)
class CrewStatus:
    """A crew as the workforce system shows it at ``time_s``: ``x_m``, ``y_m`` where it last
    reported its position, ``device``/``line`` of the job at hand ('' when none)."""

    crew: str
    skill: Skill
    on_duty: bool
    busy: bool
    x_m: float
    y_m: float
    activity: Activity
    time_s: float
    device: str = ""
    line: str = ""


@dataclass(frozen=True)
class CrewReport:
    """One report from a crew (see :class:`ReportKind`)."""

    crew: str
    kind: ReportKind
    time_s: float
    device: str = ""
    line: str = ""
    cause: str = ""
    closed: bool | None = None  # for ``operated``: the device's state after
    reason: str = ""  # for ``refused``


@runtime_checkable
class Workforce(Protocol):
    """The IDMS's link to the crews (virtual in simulation, a mobile workforce system on a real one)."""

    def crews(self) -> Sequence[CrewStatus]:
        """Every crew's status now."""

    def subscribe_status(self, callback: Callable[[CrewStatus], None]) -> None:
        """``callback(status)`` whenever a crew's status changes."""

    def subscribe(self, callback: Callable[[CrewReport], None]) -> None:
        """``callback(report)`` for every report a crew makes."""

    def send_to_outage(self, crew: str, device: str, line: str = "") -> None:
        """Send ``crew`` to the outage isolated by ``device`` (``line``: where the fault is
        thought to be, '' when not known): patrol, repair, restore."""

    def switch(self, crew: str, device: str, open_: bool) -> None:
        """Send ``crew`` to open (``open_``) or close ``device`` and report back."""

    def call_out(self, crews: Sequence[str] | None = None) -> list[str]:
        """Call crews off duty in (all of them by default: a storm); returns those called. Each
        goes on duty (a status change) when it reports at its depot."""
