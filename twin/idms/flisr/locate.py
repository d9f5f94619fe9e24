"""Fault location and isolation: from a lockout and the fault indicators to the section to isolate.

Pure functions on a :class:`~twin.grid.topology.Topology` of the believed states with the
locked-out device closed again (so that its section is the depth-first range below it).

*Location.* Every fault-passage sensing point (a fault indicator at the from end of a line, a
breaker's, recloser's or sectionaliser's fault target) is named by the bus just below it, its
*child*. A flagged point says the fault is below its child (or on the line it sits on); a point
that reports good quality and no flag says it is not. The *region* is the smallest subtree below
the locked-out device that holds the deepest flagged points (one, for a single fault: the others
are on its path), less the subtrees of the clear points
inside it; with no flagged point, the whole section below the device.

*Isolation.* The devices FLISR may operate (remote, communicating, untagged, able to break load)
cut the section into *zones*. A fault lies on a line, so the faulted zones are those holding a
line whose lower bus is in the region; the device above
the top one is the upstream isolation point (the locked-out device itself when the fault is in
its own first zone), and the operable devices just below them are the downstream ones.

>>> import numpy as np
>>> bool(np.isin(np.array([3]), np.array([1, 3])).all())
True
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from twin.grid.topology import Topology

__all__ = ["Isolation", "child_bus", "isolate"]


@dataclass(frozen=True)
class Isolation:
    """What FLISR isolates for a lockout of ``device`` (switch row): ``faulted`` bus rows of the
    faulted zones, ``upstream`` the switch row to open above them (-1: the locked-out device
    itself isolates them), ``downstream`` switch rows to open below them, ``region`` the bus rows
    the indicators point to, and ``evidence`` (flagged, clear) counts used."""

    device: int
    faulted: np.ndarray
    upstream: int
    downstream: np.ndarray
    region: np.ndarray
    evidence: tuple[int, int]


def child_bus(topo: Topology, edge: int) -> int:
    """The bus just below an edge in ``topo``'s forest (-1 where the edge is not a tree edge)."""
    e = int(topo.bundle_of[edge])
    a, b = int(topo.edge_from[e]), int(topo.edge_to[e])
    if topo.parent_edge[b] == e:
        return b
    if topo.parent_edge[a] == e:
        return a
    return -1


def isolate(topo: Topology, device: int, operable: np.ndarray, flagged: np.ndarray, clear: np.ndarray) -> Isolation | None:
    """The section to isolate for a lockout of switch row ``device`` (see the module docstring).

    ``operable``: bool per switch row, devices FLISR may open and close; ``flagged``, ``clear``:
    child bus rows of the sensing points that saw fault current and of those that saw none.
    None where the device feeds nothing in ``topo`` (a device on a loop)."""
    n_line = len(topo.net.line)
    top = child_bus(topo, n_line + device)
    if top < 0:
        return None
    lo, hi = int(topo.tin[top]), int(topo.tin[top] + topo.size[top])
    pos_f = topo.tin[np.asarray(flagged, np.int64)] if len(flagged) else np.empty(0, np.int64)
    pos_f = pos_f[(pos_f >= lo) & (pos_f < hi)]
    root = top
    if len(pos_f):  # the smallest subtree holding the deepest flagged points (those above are on their path)
        pos_f = np.unique(pos_f)
        ends = pos_f + topo.size[topo.order[pos_f]]
        deepest = np.array([not ((pos_f > p) & (pos_f < e)).any() for p, e in zip(pos_f.tolist(), ends.tolist())])
        pos_f = pos_f[deepest]
        root = int(topo.order[pos_f.max()])
        while not ((topo.tin[root] <= pos_f.min()) and (pos_f.max() < topo.tin[root] + topo.size[root])):
            root = int(topo.parent_bus[root])
    r_lo, r_hi = int(topo.tin[root]), int(topo.tin[root] + topo.size[root])
    in_region = np.zeros(hi - lo, bool)
    in_region[r_lo - lo:r_hi - lo] = True
    pos_c = topo.tin[np.asarray(clear, np.int64)] if len(clear) else np.empty(0, np.int64)
    for p in np.sort(pos_c[(pos_c > r_lo) & (pos_c < r_hi)]).tolist():
        q = int(topo.order[p])
        in_region[p - lo:p - lo + int(topo.size[q])] = False
    buses = topo.order[lo:hi]
    parent_edge = topo.parent_edge[buses]
    is_switch = (parent_edge >= n_line) & (parent_edge < n_line + len(operable))
    head_row = np.where(is_switch, parent_edge - n_line, -1)
    is_head = np.zeros(hi - lo, bool)
    is_head[is_switch] = operable[head_row[is_switch]]
    is_head[0] = True  # the locked-out device heads the first zone
    parent_pos = np.where(np.arange(hi - lo) > 0, topo.tin[np.maximum(topo.parent_bus[buses], 0)] - lo, -1)
    head = np.arange(hi - lo)
    for k in range(1, hi - lo):  # preorder: a bus's parent comes before it
        if not is_head[k]:
            head[k] = head[parent_pos[k]]
    # a fault is on a line: the lines whose lower bus lies in the region (a bus reached only
    # through a switch, such as a device's load side ahead of its first line, holds none)
    on_line = in_region & (parent_edge >= 0) & (parent_edge < n_line)
    where = on_line if on_line.any() else in_region
    faulted_heads = np.unique(head[where]) if where.any() else np.array([0])
    in_zone = np.isin(head, faulted_heads)
    first = int(faulted_heads.min())
    upstream = -1 if first == 0 else int(head_row[first])
    below = np.flatnonzero(is_head & ~in_zone)
    below = below[in_zone[parent_pos[below]]]
    return Isolation(device=device, faulted=buses[in_zone], upstream=upstream, downstream=head_row[below],
                     region=buses[in_region], evidence=(len(pos_f), int(((pos_c >= lo) & (pos_c < hi)).sum())))
