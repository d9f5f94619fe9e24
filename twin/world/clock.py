"""The simulated clock: seconds since the world began, on a calendar.

The SimPy environment counts seconds from 0; the :class:`Calendar` maps them to a date and time
(local time of the territory, no daylight saving), so that loads can follow the hour of the day
and the season.

>>> from datetime import datetime
>>> cal = Calendar(datetime(2026, 7, 1, 14, 0))
>>> cal.at(5400.0), cal.hour(5400.0), cal.day_of_year(0.0)
(datetime.datetime(2026, 7, 1, 15, 30), 15.5, 182)
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

__all__ = ["Calendar"]


@dataclass(frozen=True)
class Calendar:
    """The date and time at simulated time 0."""

    start: datetime

    def at(self, t_s: float) -> datetime:
        """Date and time at ``t_s`` seconds."""
        return self.start + timedelta(seconds=float(t_s))

    def hour(self, t_s: float) -> float:
        """Hour of the day (0-24, fractional) at ``t_s``."""
        d = self.at(t_s)
        return d.hour + d.minute / 60.0 + (d.second + d.microsecond / 1e6) / 3600.0

    def day_of_year(self, t_s: float) -> int:
        """Day of the year (1-366) at ``t_s``."""
        return self.at(t_s).timetuple().tm_yday
