"""Estimated restoration times: from the averages of travel, assessment (patrol) and repair, by
what the crew has reported so far, with the crews' backlog in storm mode.

:func:`estimate` is pure: the stage an outage is at (:class:`Stage`), the time now, what is known
(the fault's cause once found, the crew's distance once dispatched) and, for an outage still
waiting for a crew in a storm, how many outages are ahead of it in the dispatch order and how many
crews share them. Each later stage replaces the guesses of the earlier ones with what the crew
said, so the estimate is updated at every report.

>>> p = EtrParameters()
>>> estimate(p, Stage.found, now_s=0.0, cause="animal") / 60.0  # repair of an animal contact, and closing
70.0
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass, field

__all__ = ["EtrParameters", "Stage", "estimate"]


class Stage(str, enum.Enum):
    """How far an outage's restoration has come."""

    waiting = "waiting"  # no crew yet
    dispatched = "dispatched"  # a crew is driving there
    arrived = "arrived"  # patrolling
    found = "found"  # the fault is found, repair under way
    needs_line_crew = "needs_line_crew"  # a troubleshooter found more than it can repair
    repaired = "repaired"  # repaired, closing


@dataclass(frozen=True)
class EtrParameters:
    """Average durations (s) and speeds the estimates use; repair by the cause a crew reports."""

    travel_s: float = 1800.0  # before the crew's distance is known
    road_speed_ms: float = 13.4  # 48 km/h
    detour: float = 1.4  # road distance per straight-line metre
    assess_s: float = 2700.0  # patrol until the fault is found
    repair_s: dict[str, float] = field(default_factory=lambda: {
        "": 5400.0, "tree": 7200.0, "wind": 9000.0, "animal": 3600.0, "lightning": 5400.0, "equipment": 7200.0,
        "overload": 5400.0, "vehicle": 14400.0, "ice": 10800.0})
    close_s: float = 600.0  # closing the device after the repair
    line_crew_wait_s: float = 3600.0  # a troubleshooter's call for a line crew, until one is there

    def repair(self, cause: str) -> float:
        return self.repair_s.get(cause, self.repair_s[""])


def estimate(p: EtrParameters, stage: Stage, *, now_s: float, cause: str = "", distance_m: float = math.nan,
             ahead: int = 0, crews: int = 1, storm: bool = False) -> float:
    """The estimated restoration time (s on the IDMS clock) of an outage at ``stage``."""
    repair = p.repair(cause) + p.close_s
    if stage == Stage.repaired:
        return now_s + p.close_s
    if stage == Stage.found:
        return now_s + repair
    if stage == Stage.needs_line_crew:
        return now_s + p.line_crew_wait_s + repair
    if stage == Stage.arrived:
        return now_s + p.assess_s + repair
    travel = p.travel_s if math.isnan(distance_m) else p.detour * distance_m / p.road_speed_ms
    if stage == Stage.dispatched:
        return now_s + travel + p.assess_s + repair
    backlog = 0.0
    if storm and ahead > 0:  # every crew takes jobs in turn: this one waits for the rounds ahead of it
        backlog = math.ceil(ahead / max(1, crews)) * (p.travel_s + p.assess_s + repair)
    return now_s + backlog + travel + p.assess_s + repair
