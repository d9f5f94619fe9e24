"""The outage records' store: one SQLite file in write-ahead-log mode, committed as each change
is made, so that a crash of the IDMS loses no record (a restart reads them back: see
:meth:`OutageStore.load`).

Tables: ``outage`` (one row per :class:`~twin.idms.oms.records.OutageRecord`), ``outage_event``
(each record's history), ``interruption`` (one row per customer per interruption: the outage it
belongs to now, the customer's service point row, start and end, NaN stored as NULL) and
``alarm`` (SCADA's alarm list with acknowledgements, so that an acknowledged alarm stays
acknowledged). WAL with ``synchronous=NORMAL`` survives any crash of the process: a committed
transaction is in the log before the commit returns; only a power failure of the machine could
lose the last ones.

>>> store = OutageStore(":memory:")
>>> store.load().outages
[]
"""

from __future__ import annotations

import json
import math
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from twin.errors import TwinError
from twin.idms.oms.records import OutageRecord

__all__ = ["OutageStore", "Stored", "StoreError"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS outage (
    id TEXT PRIMARY KEY, device TEXT, device_kind TEXT, feeder TEXT, state TEXT, start_s REAL, detected_s REAL,
    confirmed_by TEXT, confirmed_s REAL, restored_s REAL, cause TEXT, line TEXT, crew TEXT, crew_activity TEXT,
    etr_s REAL, customers_out INTEGER, customers_interrupted INTEGER, customer_minutes REAL, critical_out INTEGER,
    calls INTEGER, gasps INTEGER, hazard INTEGER, reason TEXT);
CREATE TABLE IF NOT EXISTS outage_event (outage TEXT, seq INTEGER, time_s REAL, text TEXT, PRIMARY KEY (outage, seq));
CREATE TABLE IF NOT EXISTS interruption (
    id INTEGER PRIMARY KEY, outage TEXT, customer INTEGER, start_s REAL, end_s REAL);
CREATE INDEX IF NOT EXISTS interruption_outage ON interruption (outage);
CREATE TABLE IF NOT EXISTS alarm (id TEXT PRIMARY KEY, record TEXT);
"""

_COLUMNS = ("id", "device", "device_kind", "feeder", "state", "start_s", "detected_s", "confirmed_by", "confirmed_s",
            "restored_s", "cause", "line", "crew", "crew_activity", "etr_s", "customers_out",
            "customers_interrupted", "customer_minutes", "critical_out", "calls", "gasps", "hazard", "reason")


class StoreError(TwinError):
    """The outage store's file cannot be used (not a database, or written by something else)."""


@dataclass(frozen=True)
class Stored:
    """What a store holds: the records with their histories, the interruption rows as arrays
    (``id``, ``outage``, ``customer``, ``start_s``, ``end_s``; NaN while out) and the alarms."""

    outages: list[OutageRecord]
    interruption_id: np.ndarray
    interruption_outage: np.ndarray
    interruption_customer: np.ndarray
    interruption_start_s: np.ndarray
    interruption_end_s: np.ndarray
    alarms: list[dict[str, Any]]


def _nan_to_null(v: Any) -> Any:
    return None if isinstance(v, float) and math.isnan(v) else v


class OutageStore:
    """Outage records, interruptions and alarms in one SQLite file (``":memory:"`` for none)."""

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        try:
            self.db = sqlite3.connect(self.path, isolation_level=None)  # transactions by hand
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=NORMAL")
            self.db.executescript(_SCHEMA)
        except sqlite3.DatabaseError as err:
            raise StoreError(f"{self.path}: not an outage store ({err}); give a new file or one the IDMS "
                             "wrote") from err
        self._history_len: dict[str, int] = dict(self.db.execute(
            "SELECT outage, COUNT(*) FROM outage_event GROUP BY outage").fetchall())
        self._in_transaction = False

    def begin(self) -> None:
        """Start a transaction (what follows is committed together by :meth:`commit`)."""
        if not self._in_transaction:
            self.db.execute("BEGIN")
            self._in_transaction = True

    def commit(self) -> None:
        if self._in_transaction:
            self.db.execute("COMMIT")
            self._in_transaction = False

    def save_outage(self, rec: OutageRecord) -> None:
        """Write a record and the history it gained since it was last saved."""
        self.begin()
        data = rec.record()
        data["hazard"] = int(data["hazard"])
        self.db.execute(f"INSERT OR REPLACE INTO outage ({', '.join(_COLUMNS)}) VALUES "
                        f"({', '.join('?' * len(_COLUMNS))})", [_nan_to_null(data[c]) for c in _COLUMNS])
        done = self._history_len.get(rec.id, 0)
        if len(rec.history) > done:
            self.db.executemany("INSERT INTO outage_event VALUES (?, ?, ?, ?)",
                                [(rec.id, done + i, t, text) for i, (t, text) in enumerate(rec.history[done:])])
            self._history_len[rec.id] = len(rec.history)

    def save_interruptions(self, rows: Iterable[tuple[int, str, int, float, float]]) -> None:
        """Write interruption rows ``(id, outage, customer, start_s, end_s)`` (new or changed)."""
        self.begin()
        self.db.executemany("INSERT OR REPLACE INTO interruption VALUES (?, ?, ?, ?, ?)",
                            [(int(i), o, int(c), float(s), _nan_to_null(float(e))) for i, o, c, s, e in rows])

    def delete_interruptions(self, ids: Iterable[int]) -> None:
        self.begin()
        self.db.executemany("DELETE FROM interruption WHERE id = ?", [(int(i),) for i in ids])

    def save_alarm(self, record: dict[str, Any]) -> None:
        self.begin()
        self.db.execute("INSERT OR REPLACE INTO alarm VALUES (?, ?)", (record["id"], json.dumps(record)))

    def delete_alarm(self, alarm_id: str) -> None:
        self.begin()
        self.db.execute("DELETE FROM alarm WHERE id = ?", (alarm_id,))

    def load(self) -> Stored:
        """Everything the store holds (after a restart)."""
        history: dict[str, list[tuple[float, str]]] = {}
        for outage, _, t, text in self.db.execute("SELECT * FROM outage_event ORDER BY outage, seq"):
            history.setdefault(outage, []).append((t, text))
        outages = []
        for row in self.db.execute(f"SELECT {', '.join(_COLUMNS)} FROM outage ORDER BY id"):
            data = dict(zip(_COLUMNS, row))
            outages.append(OutageRecord.from_record(data, history.get(data["id"], [])))
        rows = self.db.execute("SELECT id, outage, customer, start_s, end_s FROM interruption ORDER BY id").fetchall()
        cols = list(zip(*rows)) if rows else [(), (), (), (), ()]
        alarms = [json.loads(r) for (r,) in self.db.execute("SELECT record FROM alarm ORDER BY id")]
        return Stored(outages, np.array(cols[0], np.int64), np.array(cols[1], object), np.array(cols[2], np.int64),
                      np.array(cols[3], float), np.array([np.nan if e is None else e for e in cols[4]], float),
                      alarms)

    def close(self) -> None:
        self.commit()
        self.db.close()
