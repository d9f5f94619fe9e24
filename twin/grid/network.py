"""The network model: one :class:`~twin.grid.table.Table` per component type.

The same :class:`Network` is used by the world (the physics) and by the IDMS (its model of the
physics). It holds data only; topology, power flow and validation are functions over it.

Elements refer to each other by id (``line.from_bus`` holds a bus id), so a model can be stored
as plain tables, merged, filtered and checked without a web of objects.

>>> net = Network.empty("demo")
>>> len(net.bus), net.table_names[:3]
(0, ('bus', 'line_code', 'line'))
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any

import numpy as np

from twin.grid.schema import SCHEMAS, Phase
from twin.grid.table import Table

__all__ = ["Network", "TABLE_NAMES"]

TABLE_NAMES: tuple[str, ...] = tuple(SCHEMAS)


@dataclass
class Network:
    """A distribution network model as tables keyed by stable string ids.

    ``voltage_bases_v`` are the standard line-to-line voltages of the system (for per-unit
    reporting), ``coord_units`` says what ``bus.x``/``bus.y`` are in, and ``origin`` where the
    model came from (a file path, or ``"generated"``).
    """

    name: str
    bus: Table
    line_code: Table
    line: Table
    switch: Table
    transformer: Table
    regulator: Table
    capacitor: Table
    cap_control: Table
    load: Table
    generator: Table
    source: Table
    service_point: Table
    fault_indicator: Table
    base_frequency_hz: float = 60.0
    voltage_bases_v: tuple[float, ...] = ()
    coord_units: str = "m"
    origin: str = ""
    notes: tuple[str, ...] = field(default_factory=tuple)

    @classmethod
    def empty(cls, name: str, **meta: Any) -> Network:
        """A network with every table empty."""
        return cls(name=name, **{t: Table.empty(SCHEMAS[t]) for t in TABLE_NAMES}, **meta)

    @classmethod
    def from_tables(cls, name: str, tables: Mapping[str, Table], **meta: Any) -> Network:
        """A network from some tables; the others are empty."""
        unknown = set(tables) - set(TABLE_NAMES)
        if unknown:
            raise ValueError(f"unknown table(s) {sorted(unknown)}; tables are {', '.join(TABLE_NAMES)}")
        return cls(name=name, **{t: tables.get(t) or Table.empty(SCHEMAS[t]) for t in TABLE_NAMES}, **meta)

    @property
    def table_names(self) -> tuple[str, ...]:
        return TABLE_NAMES

    def tables(self) -> Iterator[tuple[str, Table]]:
        """``(name, table)`` for every component table, in schema order."""
        for name in TABLE_NAMES:
            yield name, getattr(self, name)

    def table(self, name: str) -> Table:
        """The table called ``name`` (``"line"``, ``"switch"``...)."""
        if name not in TABLE_NAMES:
            raise KeyError(f"no table {name!r}; tables are {', '.join(TABLE_NAMES)}")
        return getattr(self, name)

    def replace(self, **changes: Any) -> Network:
        """A new network with some tables or metadata replaced; the rest shared."""
        return replace(self, **changes)

    def copy(self) -> Network:
        """A deep copy: a study copy can be changed without touching this one."""
        return replace(self, **{t: getattr(self, t).copy() for t in TABLE_NAMES})

    def equals(self, other: Network) -> bool:
        """True when every table holds the same values and the metadata agree."""
        meta = [f.name for f in fields(self) if f.name not in TABLE_NAMES and f.name not in ("origin", "notes")]
        return all(getattr(self, m) == getattr(other, m) for m in meta) and all(
            getattr(self, t).equals(getattr(other, t)) for t in TABLE_NAMES
        )

    def summary(self) -> dict[str, Any]:
        """Counts and totals an engineer checks first: buses, phases, elements, connected kW/kvar."""
        switch_kinds: dict[str, int] = {}
        if len(self.switch):
            from twin.grid.schema import SwitchKind

            kinds, counts = np.unique(self.switch["kind"], return_counts=True)
            names = {int(k): k.name for k in SwitchKind}
            switch_kinds = {names.get(int(k), f"unknown kind {int(k)}"): int(c) for k, c in zip(kinds, counts)}
        phases = self.bus["phases"].astype(np.int64)
        return {
            "name": self.name,
            "buses": len(self.bus),
            "nodes": int(sum(int(np.count_nonzero(phases & p)) for p in (Phase.A, Phase.B, Phase.C, Phase.S1,
                                                                           Phase.S2))),
            "three_phase_buses": int(np.count_nonzero((phases & Phase.ABC) == Phase.ABC)),
            "lines": len(self.line),
            "line_km": float(self.line["length_m"].sum() / 1000.0),
            "switches": len(self.switch),
            "switch_kinds": switch_kinds,
            "transformers": len(self.transformer),
            "regulators": len(self.regulator),
            "capacitors": len(self.capacitor),
            "capacitor_kvar": float(self.capacitor["q_rated_var"].sum() / 1000.0),
            "loads": len(self.load),
            "load_kw": float(self.load["p_w"].sum() / 1000.0),
            "load_kvar": float(self.load["q_var"].sum() / 1000.0),
            "generators": len(self.generator),
            "generation_kw": float(self.generator["p_w"].sum() / 1000.0),
            "sources": len(self.source),
            "customers": len(self.service_point),
        }
