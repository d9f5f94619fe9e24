"""What the rules share: id look-ups, phase arithmetic and the normal-state topology, built once.

Rules are plain functions ``(net, ctx) -> list[Finding]``. The :class:`Context` gives them the
expensive pieces lazily, so a model with a hundred thousand customers builds each index and the
topology at most once however many rules ask.

Id look-ups are vectorised (a hash index per table): ``ctx.rows("bus", ids)`` returns the row of
each id, ``-1`` where there is none. Where ids repeat (a finding of its own), the first row wins.

The topology is built under *normal* switch states (``switch.normal_open``) on a copy of the
model from which elements that refer to missing buses, and repeated bus ids, have been left out:
those are reported by their own rules, and the rest of the model can still be checked for islands,
loops and phase continuity. Rules that use the topology read element data from ``topo.net`` (that
copy), whose rows match the topology's.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cached_property

import numpy as np
import pandas as pd

from twin.errors import ModelError
from twin.grid.network import Network
from twin.grid.schema import Conn, Phase
from twin.grid.topology import Topology, build_topology
from twin.grid.validate.findings import Finding

__all__ = ["Context", "Rule", "popcount", "line_to_line_v"]

Rule = Callable[[Network, "Context"], list[Finding]]
"""A rule: the model and the shared context in, its findings out (empty when all is well)."""

_POPCOUNT = np.array([bin(k).count("1") for k in range(256)], dtype=np.int64)
_ABC = int(Phase.ABC)
_S12 = int(Phase.S12)


def popcount(phases: np.ndarray) -> np.ndarray:
    """Number of conductors in each Phase flag value."""
    return _POPCOUNT[np.asarray(phases, dtype=np.int64) & 0xFF]


def line_to_line_v(v_rated: np.ndarray, phases: np.ndarray, conn: np.ndarray, bus_phases: np.ndarray) -> np.ndarray:
    """Rated voltages of windings or equipment as the line-to-line voltage of a bus that suits them.

    Ratings follow OpenDSS: line-to-line for two and three phases, the element's own voltage for one
    phase. So a single-phase wye element (one primary phase to neutral) is rated line-to-neutral,
    sqrt(3) below its bus's line-to-line nominal (7200 V on a 12 470 V bus), and one leg of a
    split-phase service (S1 or S2 to neutral) is half the 240 V across both legs.
    """
    ph = np.asarray(phases, dtype=np.int64)
    bp = np.asarray(bus_phases, dtype=np.int64)
    split_bus = ((bp & _S12) != 0) & ((bp & _ABC) == 0)
    one_leg = popcount(ph & _S12) == 1
    one_primary_wye = (popcount(ph & _ABC) == 1) & (np.asarray(conn) != int(Conn.delta))
    factor = np.where(split_bus & one_leg, 2.0, np.where(~split_bus & one_primary_wye, np.sqrt(3.0), 1.0))
    return np.asarray(v_rated, dtype=np.float64) * factor


class Context:
    """Shared, lazily built look-ups for one validation run (see the module docstring)."""

    def __init__(self, net: Network) -> None:
        self.net = net
        self._index: dict[str, tuple[pd.Index, np.ndarray]] = {}
        self.topology_error: ModelError | None = None

    def rows(self, table: str, ids: np.ndarray) -> np.ndarray:
        """Row of each id in ``table`` (any shape), -1 where the table has no such id."""
        index, first = self._index_of(table)
        ids = np.asarray(ids, dtype=object)
        if not ids.size or not len(first):
            return np.full(ids.shape, -1, dtype=np.int64)
        at = index.get_indexer(ids.ravel())
        return np.where(at >= 0, first[at], -1).reshape(ids.shape)

    def lookup(self, table: str, column: str, ids: np.ndarray, fill: object) -> np.ndarray:
        """``column`` of the row each id names in ``table``; ``fill`` where there is no such row.
        ``ctx.lookup("bus", "v_nom_v", load["bus"], np.nan)``: the nominal voltage at each load."""
        rows = self.rows(table, ids)
        values = self.net.table(table)[column]
        out = np.full(rows.shape, fill, dtype=np.result_type(values.dtype, np.asarray(fill).dtype))
        found = rows >= 0
        out[found] = values[rows[found]]
        return out

    def _index_of(self, table: str) -> tuple[pd.Index, np.ndarray]:
        if table not in self._index:
            ids = self.net.table(table).ids
            keep = ~pd.Index(ids).duplicated(keep="first")
            first = np.flatnonzero(keep)
            self._index[table] = (pd.Index(ids[first]), first)
        return self._index[table]

    @cached_property
    def topology(self) -> Topology | None:
        """Topology under normal switch states of the model's consistent part; None (with
        :attr:`topology_error` set) when even that cannot be built."""
        try:
            return build_topology(self._consistent(), normal=True)
        except ModelError as err:
            self.topology_error = err
            return None

    @cached_property
    def _topology_buses(self) -> pd.Index:
        return pd.Index(self.topology.net.bus.ids)

    def topology_bus_rows(self, ids: np.ndarray) -> np.ndarray:
        """Rows of bus ids in the topology's bus table (``topo.net.bus``), -1 where there is none."""
        return self._topology_buses.get_indexer(np.asarray(ids, dtype=object))

    def _consistent(self) -> Network:
        """The model without elements that refer to missing buses and without repeated bus ids."""
        net = self.net
        changes = {}
        bus = net.bus
        unique = ~pd.Index(bus.ids).duplicated(keep="first")
        if not unique.all():
            changes["bus"] = bus.take(unique)
        for name, cols in (("line", ("from_bus", "to_bus")), ("switch", ("from_bus", "to_bus")),
                           ("source", ("bus",)), ("service_point", ("bus",))):
            t = net.table(name)
            ok = np.ones(len(t), dtype=bool)
            for c in cols:
                ok &= self.rows("bus", t[c]) >= 0
            if not ok.all():
                changes[name] = t.take(ok)
        xf = net.transformer
        wb = xf["bus"]
        known = self.rows("bus", wb) >= 0
        ok = known[:, 0] & np.all(known | (wb == ""), axis=1) if len(xf) else np.ones(0, dtype=bool)
        if not ok.all():
            changes["transformer"] = xf.take(ok)
        return net.replace(**changes) if changes else net
