"""The sequence of events: every status change, in the order the field says it happened.

Each :class:`Event` carries the source time stamp (``time_s``, from the device) and the time SCADA
received it (``received_s``); the log is kept ordered by source time, so a change reported late
(found by an integrity scan, or buffered by an RTU while comms were down) still lands where it
happened. ``cause`` says how SCADA learnt of it: ``exception`` (report by exception), ``scan``
(an integrity scan found it), ``manual`` (entered by a dispatcher) or ``control`` (the confirmed
result of a SCADA control).
"""

from __future__ import annotations

import bisect
import enum
from dataclasses import dataclass
from typing import Any

from twin.idms.interfaces.field_devices import Quality

__all__ = ["Cause", "Event", "SequenceOfEvents"]


class Cause(str, enum.Enum):
    exception = "exception"
    scan = "scan"
    manual = "manual"
    control = "control"


@dataclass(frozen=True)
class Event:
    """One status change: ``point`` of ``device`` went from ``old_value`` to ``value``."""

    time_s: float
    received_s: float
    device: str
    point: str
    old_value: Any
    value: Any
    quality: Quality
    cause: Cause
    seq: int  # arrival order, to break ties between equal time stamps


class SequenceOfEvents:
    """The event log, ordered by source time stamp (ties in arrival order)."""

    def __init__(self) -> None:
        self._events: list[Event] = []
        self._keys: list[tuple[float, int]] = []

    def __len__(self) -> int:
        return len(self._events)

    def record(self, *, time_s: float, received_s: float, device: str, point: str, old_value: Any,
               value: Any, quality: Quality, cause: Cause) -> Event:
        event = Event(time_s, received_s, device, point, old_value, value, quality, cause,
                      len(self._events))
        key = (time_s, event.seq)
        i = bisect.bisect_right(self._keys, key)
        self._keys.insert(i, key)
        self._events.insert(i, event)
        return event

    def events(self, *, device: str | None = None, start_s: float = float("-inf"),
               end_s: float = float("inf"), point: str | None = None) -> list[Event]:
        """Events with ``start_s <= time_s <= end_s`` (source time), of one device and point if
        given, in time order."""
        lo = bisect.bisect_left(self._keys, (start_s, -1))
        hi = bisect.bisect_right(self._keys, (end_s, len(self._events)))
        return [e for e in self._events[lo:hi]
                if (device is None or e.device == device) and (point is None or e.point == point)]
