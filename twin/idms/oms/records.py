"""Outage records: one per outage the IDMS knows of, as the dispatcher's outage list shows it.

An outage is *predicted* (from last gasps and calls), *confirmed* (by SCADA, by AMI pings, by a
crew), *restored* (every customer back) or *cancelled* (not an outage after all: a ping found the
meters energised, a crew found power on, or it was merged into a larger outage predicted above
it; ``reason`` says which). An *inside-premise* case (a caller's own breaker: the ping found the
meter energised) is a record of its own kind, closed at once, with no crew and no interruption.

The customers' interruptions are kept apart, one row per customer (see
:class:`twin.idms.reliability.Interruptions`): a customer moves between records (an outage that
moves upstream, a pocket left out when a feeder is restored) but is in one active record at a
time, so customer-minutes are never counted twice.
"""

from __future__ import annotations

import dataclasses
import enum
import math
from dataclasses import dataclass
from typing import Any

__all__ = ["OutageRecord", "OutageState"]


class OutageState(str, enum.Enum):
    predicted = "predicted"
    confirmed = "confirmed"
    restored = "restored"
    cancelled = "cancelled"
    inside_premise = "inside_premise"

    @property
    def active(self) -> bool:
        return self in (OutageState.predicted, OutageState.confirmed)


@dataclass
class OutageRecord:
    """One outage (see the module docstring); times in seconds on the IDMS clock, NaN when not yet."""

    id: str
    device: str  # the protective device (or transformer) believed to have opened
    device_kind: str  # breaker, recloser, fuse, transformer, service (a single premise), switch
    feeder: str
    state: OutageState
    start_s: float  # the earliest interruption of its customers
    detected_s: float  # when the record was made
    confirmed_by: str = ""  # scada, ami, crew
    confirmed_s: float = math.nan
    restored_s: float = math.nan
    cause: str = ""  # switching (a commanded open), or what the crew found (tree, wind...)
    line: str = ""  # where the fault was found
    crew: str = ""  # the crew on it
    crew_activity: str = ""
    etr_s: float = math.nan
    customers_out: int = 0
    customers_interrupted: int = 0
    customer_minutes: float = 0.0
    critical_out: int = 0
    calls: int = 0
    gasps: int = 0
    hazard: bool = False
    reason: str = ""  # why it was cancelled or closed
    history: list[tuple[float, str]] = dataclasses.field(default_factory=list)

    @property
    def active(self) -> bool:
        return self.state.active

    def note(self, time_s: float, text: str) -> None:
        self.history.append((float(time_s), text))

    def record(self) -> dict[str, Any]:
        """The record as plain data, history apart (a store keeps it as rows)."""
        d = {name: getattr(self, name) for name in _FIELDS}
        d["state"] = self.state.value
        return d

    @classmethod
    def from_record(cls, data: dict[str, Any], history: list[tuple[float, str]] | None = None) -> OutageRecord:
        fields = {f.name for f in dataclasses.fields(cls)} - {"history"}
        values = {k: v for k, v in data.items() if k in fields}
        values["state"] = OutageState(values["state"])
        values["hazard"] = bool(values.get("hazard"))
        for k in ("confirmed_s", "restored_s", "etr_s"):
            if values.get(k) is None:
                values[k] = math.nan
        return cls(**values, history=list(history or []))


_FIELDS = tuple(f.name for f in dataclasses.fields(OutageRecord) if f.name != "history")
