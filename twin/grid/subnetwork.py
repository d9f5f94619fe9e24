"""Parts of a network: the elements among a set of buses, and the parts a network falls into.

:func:`parts` labels the buses by the part of the network they belong to when every branch joins
its buses except the switches given as open: with the open normally-open points, each substation
(with the feeders it serves) is one part, which can be solved apart from the others.

:func:`row_parts` carries a bus labelling to every table: an element is in the part of its buses
(-1 where they are in different parts, as an open tie between two substations is), and an element
that refers to another (a regulator to its transformer, a controller to its bank, a customer to
its load) in the part of what it refers to; the schema's references
(:attr:`~twin.grid.schema.Field.ref`) say which, so a table added to the schema is split with the
rest. Tables no bus reaches (line codes) belong to every part. :class:`Split` groups every table's rows by part once,
so that any part's model is then cheap to take; :func:`split` makes them all.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components

from twin.grid.network import Network

__all__ = ["Split", "parts", "row_parts", "split"]

WHOLE = -2
"""The label of a table no bus reaches: its rows belong to every part."""


def parts(net: Network, open_: np.ndarray) -> np.ndarray:
    """A part label per bus row (0, 1, ... numbered by each part's first bus): buses joined by
    lines, transformers and the switches that are not ``open_`` (bool per switch row) share one."""
    bus = net.bus
    n = len(bus)
    a, b = [], []
    line, sw, tr = net.line, net.switch, net.transformer
    if len(line):
        a.append(bus.index(line["from_bus"]))
        b.append(bus.index(line["to_bus"]))
    if len(sw):
        joined = ~np.asarray(open_, bool)
        a.append(bus.index(sw["from_bus"][joined]))
        b.append(bus.index(sw["to_bus"][joined]))
    if len(tr):
        windings = np.asarray(tr["bus"], object)
        first = bus.index(windings[:, 0])
        for w in range(1, windings.shape[1]):
            has = windings[:, w] != ""
            a.append(first[has])
            b.append(bus.index(windings[has, w]))
    a_ = np.concatenate(a) if a else np.zeros(0, np.int64)
    b_ = np.concatenate(b) if b else np.zeros(0, np.int64)
    graph = sp.coo_matrix((np.ones(len(a_)), (a_, b_)), shape=(n, n))
    _, label = connected_components(graph, directed=False)
    _, first_seen = np.unique(label, return_index=True)
    rank = np.empty(len(first_seen), np.int64)
    rank[np.argsort(first_seen)] = np.arange(len(first_seen))  # labels independent of scipy's order
    return rank[label]


def row_parts(net: Network, bus_label: np.ndarray) -> dict[str, np.ndarray]:
    """The part label of every row of every table (see the module docstring): -1 for a row whose
    references fall in different parts (or in rows without a part), :data:`WHOLE` for a table no
    bus reaches."""
    labels: dict[str, np.ndarray] = {"bus": np.asarray(bus_label, np.int64)}
    whole: set[str] = set()  # tables no bus reaches
    pending = [name for name, _ in net.tables() if name != "bus"]
    while pending:  # a table waits for the tables it refers to
        ready = [name for name in pending if not any(
            f.ref in pending and f.ref != name for f in net.table(name).schema.fields if f.ref)]
        if not ready:  # references in a cycle: cannot happen with the schema as declared
            raise ValueError(f"tables {pending} refer to each other in a cycle")
        for name in ready:
            pending.remove(name)
            table = net.table(name)
            refs = [f for f in table.schema.fields if f.ref and f.ref != name and f.ref not in whole]
            if not len(table):
                labels[name] = np.zeros(0, np.int64)
                continue
            if not refs:
                whole.add(name)
                labels[name] = np.full(len(table), WHOLE, np.int64)
                continue
            label = np.full(len(table), WHOLE, np.int64)
            for f in refs:
                values = np.asarray(table[f.name], object).reshape(len(table), -1)
                for k in range(values.shape[1]):
                    given = values[:, k] != ""
                    ref = np.full(len(table), WHOLE, np.int64)
                    ref[given] = labels[f.ref][net.table(f.ref).index(values[given, k])]
                    label = np.where(label == WHOLE, ref, np.where((ref == WHOLE) | (ref == label), label, -1))
            labels[name] = np.where(label == WHOLE, -1, label)  # a row that refers to nothing: in no part
    return labels


class Split:
    """A network's rows grouped by part once (:func:`row_parts` of a bus labelling), so that any
    part's rows and model are then cheap to take."""

    def __init__(self, net: Network, bus_label: np.ndarray) -> None:
        self.net = net
        self.bus_label = np.asarray(bus_label, np.int64)
        self.labels = row_parts(net, self.bus_label)
        self._groups = {}
        for name, label in self.labels.items():
            if len(label) and (label == WHOLE).all():
                continue  # kept whole in every part
            order = np.argsort(label, kind="stable")
            self._groups[name] = (order, label[order])

    def rows(self, k: int) -> dict[str, np.ndarray]:
        """Part ``k``'s rows in each table it splits (in the network's row order)."""
        out = {}
        for name, (order, sorted_label) in self._groups.items():
            lo, hi = np.searchsorted(sorted_label, [k, k + 1])
            out[name] = order[lo:hi]
        return out

    def network(self, k: int, rows: dict[str, np.ndarray] | None = None) -> Network:
        """Part ``k`` as a network of its own."""
        rows = self.rows(k) if rows is None else rows
        return self.net.replace(**{name: self.net.table(name).take(r) for name, r in rows.items()})


def split(net: Network, bus_label: np.ndarray, which: np.ndarray | None = None) -> dict[int, Network]:
    """One network per part label (those in ``which``, all by default), row order kept."""
    parts_ = Split(net, bus_label)
    wanted = np.unique(bus_label) if which is None else np.asarray(which, np.int64)
    return {int(k): parts_.network(int(k)) for k in wanted.tolist() if k >= 0}
