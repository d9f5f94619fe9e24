"""Switching orders and clearances kept in the IDMS's store, committed as each changes.

Three tables beside the outage records in the same SQLite file (:class:`~twin.idms.oms.store.OutageStore`,
write-ahead log): ``switching_order`` and ``clearance``, one JSON record per row, and
``known_fault`` (the buses of each fault the desk knows, by its key). A restart reads them back
(:meth:`SwitchingStore.load`, :meth:`SwitchingStore.faults`): an order in progress comes back where
it stood, a clearance with its tags, grounds and holder, and nothing closes into a known fault
because the IDMS restarted.
"""

from __future__ import annotations

import json

from twin.idms.oms.store import OutageStore

from .order import SwitchingOrder
from .safety import Clearance

__all__ = ["SwitchingStore"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS switching_order (id TEXT PRIMARY KEY, record TEXT);
CREATE TABLE IF NOT EXISTS clearance (id TEXT PRIMARY KEY, record TEXT);
CREATE TABLE IF NOT EXISTS known_fault (key TEXT PRIMARY KEY, buses TEXT);
"""


class SwitchingStore:
    """Orders and clearances in an :class:`OutageStore`'s file."""

    def __init__(self, store: OutageStore) -> None:
        self.store = store
        store.db.executescript(_SCHEMA)

    def save_order(self, order: SwitchingOrder) -> None:
        self.store.begin()
        self.store.db.execute("INSERT OR REPLACE INTO switching_order VALUES (?, ?)",
                              (order.id, json.dumps(order.record())))
        self.store.commit()

    def save_clearance(self, clearance: Clearance) -> None:
        self.store.begin()
        self.store.db.execute("INSERT OR REPLACE INTO clearance VALUES (?, ?)",
                              (clearance.id, json.dumps(clearance.record())))
        self.store.commit()

    def save_fault(self, key: str, buses: list[str]) -> None:
        self.store.begin()
        self.store.db.execute("INSERT OR REPLACE INTO known_fault VALUES (?, ?)", (key, json.dumps(buses)))
        self.store.commit()

    def delete_fault(self, key: str) -> None:
        self.store.begin()
        self.store.db.execute("DELETE FROM known_fault WHERE key = ?", (key,))
        self.store.commit()

    def faults(self) -> dict[str, list[str]]:
        """The known faults kept: key -> bus ids."""
        return {k: json.loads(b) for k, b in self.store.db.execute("SELECT key, buses FROM known_fault ORDER BY key")}

    def load(self) -> tuple[list[SwitchingOrder], list[Clearance]]:
        orders = [SwitchingOrder.from_record(json.loads(r))
                  for (r,) in self.store.db.execute("SELECT record FROM switching_order ORDER BY id")]
        clearances = [Clearance.from_record(json.loads(r))
                      for (r,) in self.store.db.execute("SELECT record FROM clearance ORDER BY id")]
        return orders, clearances
