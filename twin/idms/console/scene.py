"""What the map draws, fixed for a network model: segments and device positions, geographic and
schematic.

A :class:`Scene` holds, per *segment* (a straight stroke on the map), the topology edge it belongs to
(a line, a switch or a transformer winding of the normal configuration's
:class:`~twin.grid.topology.Topology`) and its feeder; per switching device its position. Two
:class:`Layout` s place them:

* **geographic**: every edge from its from-bus to its to-bus at the buses' coordinates (metres);
* **schematic**: the primary network (buses of 1 kV and above) as a tree diagram, each feeder
  drawn from its head at the left, one row per lateral end: a bus at column = its depth from the
  feeder head and row = the first lateral end below it, an edge drawn as a vertical then a horizontal
  stroke (two segments). Feeders are laid out in a grid of columns so that the whole has the
  screen's proportions.

States (energised, tagged, in an outage) are not here: they change, the scene does not (see
:mod:`twin.idms.console.picture`). Everything is plain arrays built once.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from twin.grid.network import Network
from twin.grid.topology import Topology

__all__ = ["Layout", "Scene", "build_scene"]

PRIMARY_V = 1000.0  # buses at or above this nominal voltage (V) are on the schematic


@dataclass(frozen=True)
class Layout:
    """Segment end points and device positions in one drawing's coordinates (metres for the
    geographic layout, rows and columns for the schematic)."""

    name: str
    seg_edge: np.ndarray  # int per segment: topology edge index
    x0: np.ndarray
    y0: np.ndarray
    x1: np.ndarray
    y1: np.ndarray
    device_x: np.ndarray  # float per switch row (NaN: not drawn in this layout)
    device_y: np.ndarray
    bus_x: np.ndarray  # float per bus row (NaN: not drawn)
    bus_y: np.ndarray
    y_down: bool = False  # the schematic's rows grow downwards; geographic north is up

    def bounds(self) -> tuple[float, float, float, float]:
        """``(x_min, y_min, x_max, y_max)`` of what is drawn."""
        xs = np.concatenate([self.x0, self.x1])
        ys = np.concatenate([self.y0, self.y1])
        if not len(xs):
            return 0.0, 0.0, 1.0, 1.0
        return float(xs.min()), float(ys.min()), float(xs.max()), float(ys.max())


@dataclass(frozen=True)
class Scene:
    """The model's drawing (see the module docstring)."""

    net: Network
    topology: Topology  # the normal configuration
    edge_feeder: np.ndarray  # int per edge: index in ``feeders``, -1 for none
    feeders: np.ndarray  # feeder names (head breaker ids)
    edge_element: np.ndarray  # object per edge: 'line.L1', 'switch.S1', 'transformer.T1'
    switch_kind: np.ndarray  # int8 per switch row (SwitchKind)
    switch_edge: np.ndarray  # int per switch row: its edge
    geographic: Layout
    schematic: Layout

    def layout(self, name: str) -> Layout:
        return self.geographic if name == "geographic" else self.schematic


def build_scene(net: Network, topology: Topology, *, aspect: float = 16 / 9) -> Scene:
    """The scene of ``net`` over its normal ``topology``; ``aspect`` the schematic's width/height."""
    n_line, n_switch = len(net.line), len(net.switch)
    n_edge = len(topology.edge_from)
    feeder_of_bus = topology.feeder.astype(str)
    child = _child_bus(topology)
    names, index = np.unique(feeder_of_bus, return_inverse=True)
    edge_feeder = np.where(child >= 0, index[np.maximum(child, 0)], -1)
    edge_feeder[(child >= 0) & (feeder_of_bus[np.maximum(child, 0)] == "")] = -1
    edge_element = np.array([f"{t}.{net.table(t).ids[r]}" for t, r in zip(topology.edge_table, topology.edge_row)],
                            dtype=object) if n_edge else np.empty(0, object)
    switch_edge = n_line + np.arange(n_switch, dtype=np.int64)
    geo = _geographic(net, topology, switch_edge)
    sch = _schematic(net, topology, child, switch_edge, aspect)
    return Scene(net, topology, edge_feeder, names, edge_element, np.asarray(net.switch["kind"], np.int8),
                 switch_edge, geo, sch)


def _child_bus(topo: Topology) -> np.ndarray:
    """Per edge, the bus it feeds in the normal configuration (-1 for an open edge or a chord)."""
    a, b = topo.edge_from, topo.edge_to
    e = np.arange(len(a))
    return np.where(topo.parent_edge[b] == e, b, np.where(topo.parent_edge[a] == e, a, -1))


def _geographic(net: Network, topo: Topology, switch_edge: np.ndarray) -> Layout:
    x, y = np.asarray(net.bus["x"], float), np.asarray(net.bus["y"], float)
    a, b = topo.edge_from, topo.edge_to
    keep = np.isfinite(x[a]) & np.isfinite(y[a]) & np.isfinite(x[b]) & np.isfinite(y[b])
    edges = np.flatnonzero(keep)
    sa, sb = a[switch_edge], b[switch_edge]
    return Layout("geographic", edges, x[a[edges]], y[a[edges]], x[b[edges]], y[b[edges]],
                  (x[sa] + x[sb]) / 2.0, (y[sa] + y[sb]) / 2.0, x, y)


def _schematic(net: Network, topo: Topology, child: np.ndarray, switch_edge: np.ndarray, aspect: float) -> Layout:
    n_bus = len(net.bus)
    v = np.asarray(net.bus["v_nom_v"], float)
    primary = np.nan_to_num(v, nan=0.0) >= PRIMARY_V
    order = topo.order[primary[topo.order]]
    parent = topo.parent_bus
    depth = np.zeros(n_bus, np.int64)
    head = np.full(n_bus, -1, np.int64)  # the feeder subtree (root) each bus is drawn in
    feeder = topo.feeder.astype(str)
    for bus in order.tolist():  # preorder: a parent before its children
        p = int(parent[bus])
        if p >= 0 and primary[p] and feeder[p] == feeder[bus] and feeder[bus] != "":
            depth[bus], head[bus] = depth[p] + 1, head[p]
        else:
            depth[bus], head[bus] = 0, bus
    # a lateral end: a primary bus no primary child of the same drawing hangs from
    has_child = np.zeros(n_bus, bool)
    kids = order[(parent[order] >= 0)]
    same = head[kids] == head[np.maximum(parent[kids], 0)]
    has_child[parent[kids[same]]] = True
    leaf = np.zeros(n_bus, np.int64)
    leaf[order] = (~has_child[order]).astype(np.int64)
    # rows: leaves before each bus in preorder, counted within its own drawing
    before = np.cumsum(leaf[order]) - leaf[order]
    row = np.full(n_bus, np.nan)
    row[order] = before
    col = depth.astype(float)
    heads = np.unique(head[order])
    head_rows = row[heads]
    heights = np.array([np.sum(leaf[order][head[order] == h]) for h in heads.tolist()], float)
    widths = np.array([depth[order][head[order] == h].max() + 1 for h in heads.tolist()], float)
    for h, r in zip(heads.tolist(), head_rows.tolist()):
        row[order[head[order] == h]] -= r  # each drawing's rows from 0
    # drawings in a grid of columns with the screen's proportions
    col_w = (widths.max() if len(widths) else 1.0) + 4.0
    total = heights.sum() + 2.0 * len(heights)
    n_cols = max(1, int(round(np.sqrt(total * aspect / col_w))))
    per_col = total / n_cols
    ox = np.zeros(n_bus)
    oy = np.zeros(n_bus)
    c, filled = 0, 0.0
    for h, height in zip(heads.tolist(), heights.tolist()):
        if filled > 0 and filled + height > per_col and c < n_cols - 1:
            c, filled = c + 1, 0.0
        members = order[head[order] == h]
        ox[members], oy[members] = c * col_w, filled
        filled += height + 2.0
    bx = np.full(n_bus, np.nan)
    by = np.full(n_bus, np.nan)
    bx[order] = (col[order] + ox[order]) * 3.0  # a column 3 units wide, a row 3 high at aspect 1
    by[order] = (row[order] + oy[order]) * 3.0
    # each edge that feeds a primary bus of the same drawing: down from its parent, then across
    edges = np.flatnonzero((child >= 0) & primary[np.maximum(child, 0)])
    c_bus = child[edges]
    p_bus = np.where(topo.edge_from[edges] == c_bus, topo.edge_to[edges], topo.edge_from[edges])
    ok = primary[p_bus] & (head[p_bus] == head[c_bus]) & np.isfinite(bx[p_bus])
    edges, c_bus, p_bus = edges[ok], c_bus[ok], p_bus[ok]
    seg_edge = np.concatenate([edges, edges])
    x0 = np.concatenate([bx[p_bus], bx[p_bus]])
    y0 = np.concatenate([by[p_bus], by[c_bus]])
    x1 = np.concatenate([bx[p_bus], bx[c_bus]])
    y1 = np.concatenate([by[c_bus], by[c_bus]])
    vertical = np.concatenate([np.ones(len(edges), bool), np.zeros(len(edges), bool)])
    drop = vertical & (y0 == y1)  # a child on its parent's row needs no vertical stroke
    dev_x = np.full(len(switch_edge), np.nan)
    dev_y = np.full(len(switch_edge), np.nan)
    at = {int(e): k for k, e in enumerate(edges.tolist())}
    for s, e in enumerate(switch_edge.tolist()):
        k = at.get(int(topo.bundle_of[e]))
        if k is not None:
            dev_x[s] = (bx[p_bus[k]] + bx[c_bus[k]]) / 2.0
            dev_y[s] = by[c_bus[k]]
    # normally open ties join two drawings: a device at its from-bus end
    ties = np.isnan(dev_x)
    fb = topo.edge_from[switch_edge[ties]]
    dev_x[ties], dev_y[ties] = bx[fb], by[fb]
    return Layout("schematic", seg_edge[~drop], x0[~drop], y0[~drop], x1[~drop], y1[~drop], dev_x, dev_y,
                  bx, by, y_down=True)
