"""The world's event stream: every event with its simulated time, in the order it happened.

Everything the world does is published here as an :class:`Event` (a fault, a protective device's
operation, customers losing or regaining power, a power-flow solve, later last gasps, calls and
crews): the recorder, the scoring and the interfaces to the IDMS subscribe to it. Events are
plain data (JSON-able fields), written one per line by :class:`JsonLines` as they happen; the same
seed gives the same lines byte for byte (keys sorted, floats as Python writes them).

>>> stream = EventStream()
>>> seen = []
>>> stream.subscribe(seen.append)
>>> _ = stream.publish(12.5, EventKind.fault, line="L7", permanent=True)
>>> seen[0].to_json()
'{"kind": "fault", "line": "L7", "permanent": true, "time_s": 12.5}'
"""

from __future__ import annotations

import enum
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

__all__ = ["Event", "EventKind", "EventStream", "JsonLines"]


class EventKind(str, enum.Enum):
    """What happened."""

    fault = "fault"  # a fault begins on a line segment
    fault_cleared = "fault_cleared"  # a temporary fault is gone (at the first interruption)
    protection = "protection"  # a protective device operates (trip, reclose, lockout, melt, clear...)
    outage = "outage"  # customers lose power (energisation changed)
    restore = "restore"  # customers regain power
    solve = "solve"  # the power flow re-solved the energised network
    switch = "switch"  # a switch was operated (by SCADA, a crew or a script)
    tap = "tap"  # a regulator's tap changer moved one step (by its controller or SCADA)
    capacitor = "capacitor"  # a capacitor bank was switched in or out (by its controller or SCADA)
    control_mode = "control_mode"  # a regulator's or capacitor bank's controller was set to auto or manual
    crew = "crew"  # a crew is dispatched, arrives, finds the fault, repairs it, is free
    fci = "fci"  # a fault circuit indicator flagged (fault current passed it) or reset
    shift = "shift"  # a crew goes on duty, is called out, or goes home at its duty's end
    last_gasp = "last_gasp"  # a meter's last gasp reached the AMI head-end
    power_restore = "power_restore"  # a meter's power-restore message reached the head-end
    low_voltage = "low_voltage"  # a meter's low-voltage (brown-out) exception reached the head-end
    voltage_normal = "voltage_normal"  # a meter's voltage-normal message (brown-out over) reached the head-end
    interval_reads = "interval_reads"  # the head-end began a cycle reading the meters' interval data
    call = "call"  # a customer called the trouble line
    overload = "overload"  # overloaded equipment failed (a transformer) or a fuse melted under load
    comms = "comms"  # a communication site (cellular, AMI collector) went down or came back
    scripted = "scripted"  # a scenario's scripted event took place (the instructor's script)


@dataclass(frozen=True)
class Event:
    """One event: ``time_s`` simulated seconds since the world began, ``kind``, and its fields."""

    time_s: float
    kind: EventKind
    data: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> str:
        """One line of JSON: the fields, ``kind`` and ``time_s``, keys sorted."""
        return json.dumps({**self.data, "kind": self.kind.value, "time_s": self.time_s}, sort_keys=True)


class EventStream:
    """Events in the order they were published, and the subscribers told of each."""

    def __init__(self) -> None:
        self.events: list[Event] = []
        self._subscribers: list[Callable[[Event], None]] = []

    def subscribe(self, callback: Callable[[Event], None]) -> None:
        """Call ``callback(event)`` for every event published from now on."""
        self._subscribers.append(callback)

    def publish(self, time_s: float, kind: EventKind, **data: Any) -> Event:
        """Record an event and hand it to the subscribers."""
        event = Event(float(time_s), EventKind(kind), data)
        self.events.append(event)
        for callback in self._subscribers:
            callback(event)
        return event

    def of(self, kind: EventKind) -> list[Event]:
        """The events of one kind, in order."""
        return [e for e in self.events if e.kind == kind]


class JsonLines:
    """A subscriber that writes each event as a line of JSON to a file, as it happens (flushed,
    so that a crash loses nothing written before it)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._file: TextIO = self.path.open("w", encoding="utf-8")

    def __call__(self, event: Event) -> None:
        self._file.write(event.to_json() + "\n")
        self._file.flush()

    def close(self) -> None:
        self._file.close()
