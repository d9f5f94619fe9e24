"""What a recorded session looked like at any moment: the state a replay shows, rebuilt from a
recording's rows, fast, from the nearest snapshot forward.

:class:`ReplayState` is that state: the IDMS's active outage records and listed alarms (each as
the record's plain data), the devices the world has open and how many customers are out. It
takes one recorded row at a time (:meth:`ReplayState.apply`); the :class:`~.recording.Recorder`
keeps one up to date as it writes and stores it every ``snapshot_s`` simulated seconds in the
recording's ``snapshots`` table. :func:`state_at` then loads the last snapshot at or before a
time and applies the rows after it, up to that time: the work is bounded by the snapshot
interval, not by how long the session ran.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass, field
from typing import Any

__all__ = ["ReplayState", "state_at"]

_OPENS = {"trip", "clear", "open", "lockout"}
_ACTIVE = {"predicted", "confirmed"}


@dataclass
class ReplayState:
    """The replayed state at ``time_s`` after the row ``seq`` (see the module docstring)."""

    time_s: float = 0.0
    seq: int = 0
    records: dict[str, dict[str, Any]] = field(default_factory=dict)  # active outage records by id
    alarms: dict[str, dict[str, Any]] = field(default_factory=dict)  # alarms on the list by id
    open_devices: set[str] = field(default_factory=set)  # the world's, opened by protection or operated
    customers_out: int = 0  # the world's truth

    def apply(self, seq: int, sim_s: float, source: str, kind: str, data: dict[str, Any]) -> None:
        """Take one recorded row."""
        self.seq, self.time_s = seq, sim_s
        if kind == "outage_record":
            if data.get("state") in _ACTIVE:
                self.records[data["id"]] = data
            else:
                self.records.pop(data["id"], None)
        elif kind == "alarm":
            if data.get("listed"):
                self.alarms[data["id"]] = data
            else:
                self.alarms.pop(data["id"], None)
        elif source != "world":
            return
        elif kind == "protection":
            device = str(data.get("device", ""))
            if data.get("action") in _OPENS:
                self.open_devices.add(device)
            elif data.get("action") == "reclose":
                self.open_devices.discard(device)
        elif kind == "switch" and "closed" in data:
            (self.open_devices.discard if data["closed"] else self.open_devices.add)(str(data["device"]))
        elif kind == "outage":
            self.customers_out += int(data.get("customers", 0))
        elif kind == "restore":
            self.customers_out -= int(data.get("customers", 0))

    def to_json(self) -> str:
        return json.dumps({"time_s": self.time_s, "seq": self.seq, "records": self.records, "alarms": self.alarms,
                           "open_devices": sorted(self.open_devices), "customers_out": self.customers_out},
                          sort_keys=True, default=str)

    @classmethod
    def from_json(cls, text: str) -> ReplayState:
        d = json.loads(text)
        return cls(d["time_s"], d["seq"], d["records"], d["alarms"], set(d["open_devices"]), d["customers_out"])


def state_at(db: sqlite3.Connection, time_s: float) -> ReplayState:
    """The state of the recording open in ``db`` at simulated ``time_s`` (every row up to it)."""
    snap = db.execute("SELECT state FROM snapshots WHERE sim_s <= ? ORDER BY sim_s DESC LIMIT 1",
                      (float(time_s),)).fetchone()
    state = ReplayState.from_json(snap[0]) if snap else ReplayState()
    for seq, sim_s, source, kind, data in db.execute(
            "SELECT seq, sim_s, source, kind, data FROM events WHERE seq > ? AND sim_s <= ? ORDER BY seq",
            (state.seq, float(time_s))):
        state.apply(seq, sim_s, source, kind, json.loads(data))
    state.time_s = float(time_s)
    return state
