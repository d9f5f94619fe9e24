"""Energisation kept up to date change by change, over one prepared :class:`~twin.grid.topology.Topology`.

Representation
--------------
A :class:`~twin.grid.topology.Topology` (the *base*) puts the buses of its depth-first forest in
preorder, so the buses below a *bridge* edge (a closed edge on no loop) are one range
``[first, end)`` of :attr:`~twin.grid.topology.Topology.order`, and the customers below it one
range of :attr:`~twin.grid.topology.Topology.customer_order`. Opening bridge switches of the base
removes whole subtrees and leaves every other bridge a bridge, so while every device opened since
the base was prepared is one of its bridges:

    a bus has power  <=>  the base energises it and no opened bridge lies above it.

The *cover* counts, per preorder position, the opened bridges above it; opening a bridge adds one
over its ranges, closing it again takes one away, and only the customers of those ranges can
change. Anything else (closing a device open in the base, such as a normally open tie; opening a
device on a loop; a switch that is one of several parallel units) changes the forest itself and
needs a new base from :func:`~twin.grid.topology.build_topology`.

These functions are plain arrays in, arrays out, shared by the world's physics and the IDMS's
operations model:

>>> import numpy as np
>>> cover = cover_of(4, np.array([1]), np.array([3]), np.array([True]))
>>> cover.tolist()
[0, 1, 1, 0]
"""

from __future__ import annotations

import numpy as np

from twin.grid.topology import Topology

__all__ = ["switch_ranges", "incremental_switches", "cover_of", "live_buses", "customers_in"]


def switch_ranges(topo: Topology) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For each switch that is a closed bridge of ``topo``, the preorder range of the buses below
    it: ``(switch rows, first, end)`` arrays, one entry per switch (parallel units bundled with a
    tree edge report that edge's range, as :meth:`Topology.subtree_ranges` does)."""
    n_line, n_switch = len(topo.net.line), len(topo.net.switch)
    edge = topo.bundle_of[n_line + np.arange(n_switch, dtype=np.int64)]
    if not n_switch:
        empty = np.empty(0, np.int64)
        return empty, empty, empty
    a, b = topo.edge_from[edge], topo.edge_to[edge]
    child = np.where(topo.parent_edge[b] == edge, b, np.where(topo.parent_edge[a] == edge, a, -1))
    keep = topo.edge_closed[edge] & ~topo.edge_on_loop[edge] & (child >= 0)
    rows = np.flatnonzero(keep)
    first = topo.tin[child[rows]]
    return rows, first, first + topo.size[child[rows]]


def incremental_switches(topo: Topology) -> np.ndarray:
    """Bool per switch row: opening it (from closed) is exact as a range update of the cover,
    i.e. it is a closed bridge of ``topo`` and not one of several parallel units of a connection."""
    n_line, n_switch = len(topo.net.line), len(topo.net.switch)
    out = np.zeros(n_switch, bool)
    rows, _, _ = switch_ranges(topo)
    out[rows] = True
    edges = n_line + np.arange(n_switch, dtype=np.int64)
    members = np.bincount(topo.bundle_of, minlength=len(topo.bundle_of))
    out &= (topo.bundle_of[edges] == edges) & (members[edges] == 1)
    return out


def cover_of(n_positions: int, first: np.ndarray, end: np.ndarray, cut: np.ndarray) -> np.ndarray:
    """Per preorder position, how many of the ranges ``[first, end)`` selected by ``cut`` lie over it."""
    diff = np.zeros(n_positions + 1, np.int64)
    np.add.at(diff, first[cut], 1)
    np.add.at(diff, end[cut], -1)
    return np.cumsum(diff)[:-1]


def live_buses(topo: Topology, cover: np.ndarray) -> np.ndarray:
    """Bool per bus: energised in ``topo`` and under no opened bridge (``cover`` per position)."""
    live = topo.energised.copy()
    rows = np.flatnonzero(live)
    live[rows] = cover[topo.tin[rows]] == 0
    return live


def customers_in(topo: Topology, first: int, end: int) -> np.ndarray:
    """Service point rows whose bus lies in preorder positions ``[first, end)`` of ``topo``."""
    lo, hi = np.searchsorted(topo.customer_tin, [first, end], "left")
    return topo.customer_order[lo:hi]
