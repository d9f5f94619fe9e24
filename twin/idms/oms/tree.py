"""The protective-device tree outage prediction rolls evidence up: transformers at the leaves,
fuses, reclosers and breakers above them, each node's parent the nearest protective device
between it and the source.

Built from a :class:`~twin.grid.topology.Topology` (the operations model's base: every normally
closed device closed, so a tripped device still has its section below it) as arrays: node ``ids``
and ``kind``, ``parent`` (-1 at a feeder's head), ``first``/``end`` the depth-first range of
buses below the node, ``customers`` below it, and per customer its ``leaf`` (its service
transformer's node, or the nearest protective device where it has none; -1 where the topology
feeds it from nowhere). A node contains another when its range holds the other's ``first``.

>>> from twin.grid.network import Network
>>> from twin.grid.topology import build_topology
>>> net = Network.empty("empty")
>>> len(device_tree(net, build_topology(net, normal=True)).ids)
0
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from twin.grid.network import Network
from twin.grid.schema import SwitchKind
from twin.grid.topology import Topology

__all__ = ["DeviceTree", "TRANSFORMER", "device_tree"]

TRANSFORMER = "transformer"


@dataclass(frozen=True)
class DeviceTree:
    """Protective devices and service transformers as a tree (see the module docstring)."""

    ids: np.ndarray  # object: switch id or transformer id
    kind: np.ndarray  # object: 'breaker', 'recloser', 'fuse' or 'transformer'
    switch_row: np.ndarray  # int: the node's switch row, -1 for a transformer
    parent: np.ndarray  # int: nearest protective node above, -1 at the top
    depth: np.ndarray  # int: 0 at the top
    first: np.ndarray  # int: preorder position of the first bus below
    end: np.ndarray  # int: one past the last
    customers: np.ndarray  # int: customers below
    leaf: np.ndarray  # int per service point row: its node, -1 when unfed
    position: np.ndarray  # int per service point row: its bus's preorder position, -1 when unfed
    index: dict[str, int] = field(repr=False)  # node by id

    def __len__(self) -> int:
        return len(self.ids)

    def node(self, device: str) -> int:
        """The node of a device id, -1 when it is not in the tree."""
        return self.index.get(device, -1)

    def contains(self, node: int, other: int) -> bool:
        """Whether ``other`` lies below ``node`` (or is it)."""
        return bool(self.first[node] <= self.first[other] < self.end[node])

    def customers_below(self, node: int) -> np.ndarray:
        """Service point rows below ``node``."""
        pos = self.position
        return np.flatnonzero((pos >= self.first[node]) & (pos < self.end[node]))

    def ancestors(self, node: int) -> list[int]:
        """Nodes above ``node``, nearest first."""
        out = []
        p = int(self.parent[node])
        while p >= 0:
            out.append(p)
            p = int(self.parent[p])
        return out


def device_tree(net: Network, topo: Topology) -> DeviceTree:
    """The tree of the protective devices and service transformers fed in ``topo``."""
    sw, n_line = net.switch, len(net.line)
    kinds = np.asarray(sw["kind"]) if len(sw) else np.empty(0, np.int64)
    protective = {int(SwitchKind.breaker): "breaker", int(SwitchKind.recloser): "recloser",
                  int(SwitchKind.fuse): "fuse"}
    ids, kind, row, child = [], [], [], []
    for r in range(len(sw)):
        name = protective.get(int(kinds[r]))
        if name is None:
            continue
        b = _child(topo, n_line + r)
        if b >= 0:
            ids.append(str(sw.ids[r])), kind.append(name), row.append(r), child.append(b)
    tr = net.transformer
    serving = set(np.asarray(net.service_point["transformer"]).tolist()) if len(net.service_point) else set()
    for t in range(len(tr)):
        if str(tr.ids[t]) not in serving:  # a substation's transformer is above the feeders, not a leaf
            continue
        e = int(topo.transformer_edges[t][0]) if len(topo.transformer_edges) else -1
        b = _child(topo, e) if e >= 0 else -1
        if b >= 0:
            ids.append(str(tr.ids[t])), kind.append(TRANSFORMER), row.append(-1), child.append(b)
    child_a = np.asarray(child, np.int64)
    first = topo.tin[child_a] if len(child_a) else np.empty(0, np.int64)
    end = first + topo.size[child_a] if len(child_a) else np.empty(0, np.int64)
    parent = _nesting(first, end)
    sp_bus = net.bus.index(net.service_point["bus"]) if len(net.service_point) else np.empty(0, np.int64)
    position = np.where(topo.energised[sp_bus], topo.tin[sp_bus], -1) if len(sp_bus) else np.empty(0, np.int64)
    leaf = _innermost(first, end, position)
    n = len(ids)
    direct = np.bincount(leaf[leaf >= 0], minlength=n) if n else np.zeros(0, np.int64)
    customers = direct.copy()
    depth = np.zeros(n, np.int64)
    order = np.argsort(first, kind="stable")
    for k in order:  # parents come before their children in preorder
        if parent[k] >= 0:
            depth[k] = depth[parent[k]] + 1
    for k in order[::-1]:
        if parent[k] >= 0:
            customers[parent[k]] += customers[k]
    return DeviceTree(np.asarray(ids, object), np.asarray(kind, object), np.asarray(row, np.int64), parent, depth,
                      np.asarray(first, np.int64), np.asarray(end, np.int64), customers, leaf, position,
                      {d: k for k, d in enumerate(ids)})


def _child(topo: Topology, edge: int) -> int:
    """The bus below a closed tree edge (after bundling parallel units), -1 when it is not one."""
    e = int(topo.bundle_of[edge])
    if not topo.edge_closed[e] or topo.edge_on_loop[e]:
        return -1
    a, b = int(topo.edge_from[e]), int(topo.edge_to[e])
    if topo.parent_edge[b] == e:
        return b
    return a if topo.parent_edge[a] == e else -1


def _nesting(first: np.ndarray, end: np.ndarray) -> np.ndarray:
    """Per interval, the innermost other interval containing it (-1 for none): a stack walk in
    preorder."""
    parent = np.full(len(first), -1, np.int64)
    stack: list[int] = []
    for k in np.lexsort((-end, first)).tolist():
        while stack and end[stack[-1]] <= first[k]:
            stack.pop()
        if stack:
            parent[k] = stack[-1]
        stack.append(k)
    return parent


def _innermost(first: np.ndarray, end: np.ndarray, position: np.ndarray) -> np.ndarray:
    """Per position, the innermost interval containing it (-1 for none or a negative position)."""
    out = np.full(len(position), -1, np.int64)
    if not len(first):
        return out
    order = np.lexsort((-end, first))
    pts = np.argsort(position, kind="stable")
    stack: list[int] = []
    i, firsts = 0, first[order].tolist()
    ends = end.tolist()
    for p in pts.tolist():
        x = int(position[p])
        if x < 0:
            continue
        while i < len(order) and firsts[i] <= x:
            k = int(order[i])
            while stack and ends[stack[-1]] <= firsts[i]:
                stack.pop()
            stack.append(k)
            i += 1
        while stack and ends[stack[-1]] <= x:
            stack.pop()
        if stack:
            out[p] = stack[-1]
    return out
