"""Connectivity of a network for one set of switch states.

Representation
--------------
Every line, switch and transformer is an *edge* between two bus rows (a transformer gives one
edge from winding 1 to each other winding on a different bus). An edge is *closed* when it
conducts: a line in service, a switch not open, any transformer.

:func:`build_topology` prepares, once, a depth-first spanning forest over the closed edges rooted
at a virtual *ground node* tied to every source bus. Buses the search reaches are energised. Each
bus records its parent edge (towards a source), its preorder position ``tin`` and its subtree
size, so the buses below any bus are one contiguous range of the preorder, and the customers
below any bus are one contiguous range of the customers sorted by ``tin``.

A closed edge left out of the forest closes a loop. Walking both of its ends up to their common
ancestor marks every tree edge that lies on a loop; the other tree edges are *bridges*: opening a
bridge de-energises exactly the subtree below it, and opening a loop edge de-energises nothing
(the virtual ground node makes this hold for networks fed from several sources too: a section
that another source still feeds is on a loop through the ground node).

So, after preparation, "which customers lose power if device X opens" is two array look-ups and
a slice:

>>> from twin.grid.network import Network
>>> topo = build_topology(Network.empty("empty"))
>>> topo.energised.shape
(0,)

References to elements are ``"table.id"`` strings, as in OpenDSS: ``"switch.SW12"``,
``"line.L3"``, ``"bus.650"``, ``"service_point.C0001"``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components, depth_first_order

from twin.errors import ModelError
from twin.grid.network import Network
from twin.grid.schema import PROTECTIVE_KINDS, SwitchKind

__all__ = ["Topology", "build_topology", "serving_transformers", "parse_ref", "EDGE_TABLES"]

EDGE_TABLES = ("line", "switch", "transformer")
_POINT_TABLES = ("load", "capacitor", "generator", "source", "service_point")
_BREAKER = int(SwitchKind.breaker)
_PROTECTIVE = np.array(sorted(int(k) for k in PROTECTIVE_KINDS))


def parse_ref(ref: str) -> tuple[str, str]:
    """Split ``"switch.SW12"`` into ``("switch", "SW12")``; the id may itself contain dots."""
    table, sep, id_ = ref.partition(".")
    if not sep or not id_:
        raise ModelError(
            f"element reference {ref!r} is not 'table.id'",
            fix="write for example 'switch.SW12', 'line.L3' or 'bus.650'",
        )
    return table, id_


@dataclass(frozen=True, eq=False)
class Topology:
    """Connectivity, energisation and upstream/downstream relations for one set of switch states.

    All arrays are indexed by edge (``edge_*``) or by bus row (the rest); see the module docstring.
    """

    net: Network
    edge_table: np.ndarray  # object: 'line' | 'switch' | 'transformer'
    edge_row: np.ndarray  # int: row in that table
    edge_from: np.ndarray  # int: bus row
    edge_to: np.ndarray  # int: bus row
    edge_phases: np.ndarray  # int8: Phase flags
    edge_closed: np.ndarray  # bool
    energised: np.ndarray  # bool per bus
    island: np.ndarray  # int per bus: component over closed edges
    parent_edge: np.ndarray  # int per bus, -1 at sources and unreached buses
    parent_bus: np.ndarray  # int per bus, -1 likewise
    order: np.ndarray  # energised bus rows in depth-first preorder
    tin: np.ndarray  # int per bus: position in ``order``, -1 when de-energised
    size: np.ndarray  # int per bus: buses in its subtree (itself included), 0 when de-energised
    edge_on_loop: np.ndarray  # bool per edge: closed and on a loop (opening it de-energises nothing)
    bundle_of: np.ndarray  # int per edge: the tree edge a parallel unit is bundled with, else itself
    chords: np.ndarray  # edge indices of closed edges outside the forest (-1: a second source)
    chord_ends: np.ndarray  # (k, 2) bus rows closing each loop
    feeder: np.ndarray  # object per bus: feeder-head breaker id, else the source id, '' when dead
    protective: np.ndarray  # int per bus: switch row of the nearest upstream protective device, -1
    transformer_above: np.ndarray  # int per bus: row of the nearest upstream transformer, -1
    customer_order: np.ndarray  # service_point rows sorted by their bus's ``tin``
    customer_tin: np.ndarray  # ``tin`` of those customers (sorted), for range look-ups
    transformer_edges: np.ndarray  # (n_transformer, 2) edge indices of windings 2 and 3, -1 if none

    # -- element look-up ----------------------------------------------------------------------

    def edges_of(self, ref: str) -> np.ndarray:
        """Edge indices of an element (a transformer may have two)."""
        table, id_ = parse_ref(ref)
        if table not in EDGE_TABLES:
            raise ModelError(f"{ref} is not a line, switch or transformer", element=id_, component=table)
        row = self.net.table(table).position(id_)
        if table == "line":
            return np.array([row])
        if table == "switch":
            return np.array([len(self.net.line) + row])
        edges = self.transformer_edges[row]
        return edges[edges >= 0]

    def bus_of(self, ref: str) -> int:
        """The bus row an element hangs below: its own bus for buses and point elements, the
        parent-side bus for edges."""
        table, id_ = parse_ref(ref)
        if table == "bus":
            return self.net.bus.position(id_)
        if table in _POINT_TABLES:
            tab = self.net.table(table)
            return self.net.bus.position(tab["bus"][tab.position(id_)])
        edges = self.edges_of(ref)
        a, b = self.edge_from[edges[0]], self.edge_to[edges[0]]
        return int(b if self.parent_bus[a] == b or self.tin[a] > self.tin[b] >= 0 else a)

    # -- queries ------------------------------------------------------------------------------

    def buses_below(self, ref: str) -> np.ndarray:
        """Bus rows that lose supply if the element opens (for an edge) or fails (for a bus)."""
        table, _ = parse_ref(ref)
        if table == "bus":
            b = self.bus_of(ref)
            return self.order[self.tin[b] : self.tin[b] + self.size[b]] if self.energised[b] else _EMPTY
        parts = [self.order[self.tin[c] : self.tin[c] + self.size[c]] for c in self._cut_children(ref)]
        return np.concatenate(parts) if parts else _EMPTY

    def customers_downstream(self, ref: str) -> np.ndarray:
        """Service point rows that lose supply if the element opens (edge) or its bus dies (others).

        Open and de-energised elements, and elements on a loop, put nobody out: the answer is empty.
        """
        table, _ = parse_ref(ref)
        if table == "bus" or table in _POINT_TABLES:
            b = self.bus_of(ref)
            children = [b] if self.energised[b] else []
        else:
            children = self._cut_children(ref)
        parts = []
        for c in children:
            lo = np.searchsorted(self.customer_tin, self.tin[c], "left")
            hi = np.searchsorted(self.customer_tin, self.tin[c] + self.size[c], "left")
            parts.append(self.customer_order[lo:hi])
        if len(parts) == 1:
            return parts[0]
        return np.concatenate(parts) if parts else _EMPTY

    def subtree_ranges(self, ref: str) -> list[tuple[int, int]]:
        """Positions ``[first, end)`` in :attr:`order` of the buses that lose supply if the
        element opens: one range per bridge edge of it in the forest (none on a loop)."""
        return [(int(self.tin[c]), int(self.tin[c] + self.size[c])) for c in self._cut_children(ref)]

    def _cut_children(self, ref: str) -> list[int]:
        """Child-side bus rows of the element's bridge edges in the forest."""
        children = []
        for e in self.bundle_of[self.edges_of(ref)]:
            if not self.edge_closed[e] or self.edge_on_loop[e]:
                continue
            a, b = int(self.edge_from[e]), int(self.edge_to[e])
            if self.parent_edge[b] == e:
                children.append(b)
            elif self.parent_edge[a] == e:
                children.append(a)
        return children

    def path_to_source(self, ref: str) -> list[str]:
        """Element refs from ``ref`` up to its source, ending with ``"source.<id>"``; empty if dead."""
        table, _ = parse_ref(ref)
        b = self.bus_of(ref)
        if not self.energised[b]:
            return []
        path = [ref] if table != "bus" else []
        while self.parent_edge[b] >= 0:
            e = self.parent_edge[b]
            path.append(f"{self.edge_table[e]}.{self.net.table(self.edge_table[e]).ids[self.edge_row[e]]}")
            b = self.parent_bus[b]
        src = self.net.source
        at = np.flatnonzero(src["bus"] == self.net.bus.ids[b])
        if len(at):
            path.append(f"source.{src.ids[at[0]]}")
        return path

    def upstream_protective(self, ref: str) -> str:
        """Id of the nearest breaker, recloser or fuse above the element (not the element itself)."""
        row = self.protective[self.bus_of(ref)]
        return "" if row < 0 else str(self.net.switch.ids[row])

    def feeder_of(self, ref: str) -> str:
        """Feeder of the element: its feeder-head breaker id, or its source id; '' when dead."""
        return str(self.feeder[self.bus_of(ref)])

    def loops(self) -> list[list[str]]:
        """Each independent loop as element refs; two sources in one island show as a loop whose
        ends are ``"source.<id>"`` refs (sources in parallel)."""
        out = []
        for chord, (u, v) in zip(self.chords.tolist(), self.chord_ends.tolist()):
            up_u, up_v, top = self._tree_path(u, v)
            refs = [self._edge_ref(e) for e in up_u] + [self._edge_ref(e) for e in reversed(up_v)]
            if chord >= 0:
                refs.append(self._edge_ref(chord))
            else:
                refs = [self._source_ref(u)] + refs + [self._source_ref(v)]
            out.append(refs)
        return out

    def _tree_path(self, u: int, v: int) -> tuple[list[int], list[int], int]:
        """Tree edges from ``u`` and from ``v`` up to their lowest common ancestor."""
        up_u: list[int] = []
        up_v: list[int] = []
        depth_u, depth_v = self._depth(u), self._depth(v)
        while depth_u > depth_v:
            up_u.append(int(self.parent_edge[u]))
            u, depth_u = int(self.parent_bus[u]), depth_u - 1
        while depth_v > depth_u:
            up_v.append(int(self.parent_edge[v]))
            v, depth_v = int(self.parent_bus[v]), depth_v - 1
        while u != v and self.parent_bus[u] >= 0 and self.parent_bus[v] >= 0:
            up_u.append(int(self.parent_edge[u]))
            up_v.append(int(self.parent_edge[v]))
            u, v = int(self.parent_bus[u]), int(self.parent_bus[v])
        return up_u, up_v, u

    def _depth(self, b: int) -> int:
        d = 0
        while self.parent_bus[b] >= 0:
            b, d = self.parent_bus[b], d + 1
        return d

    def _edge_ref(self, e: int) -> str:
        table = self.edge_table[e]
        return f"{table}.{self.net.table(table).ids[self.edge_row[e]]}"

    def _source_ref(self, b: int) -> str:
        at = np.flatnonzero(self.net.source["bus"] == self.net.bus.ids[b])
        return f"source.{self.net.source.ids[at[0]]}" if len(at) else f"bus.{self.net.bus.ids[b]}"


_EMPTY = np.empty(0, dtype=np.int64)


def build_topology(net: Network, *, normal: bool = False, switch_open: np.ndarray | None = None) -> Topology:
    """Prepare connectivity for the present switch states, the normal ones (``normal=True``) or a
    given boolean array of switch openings (one per switch row).

    Elements that refer to unknown buses raise :class:`ModelError`; the validator reports them
    before anyone builds a topology on a broken model.
    """
    n_bus = len(net.bus)
    bus_index = net.bus._lookup()
    for name in (*EDGE_TABLES, *_POINT_TABLES):  # id look-ups for the queries, built once here
        net.table(name)._lookup()
    if switch_open is None:
        switch_open = net.switch["normal_open"] if normal else net.switch["open"]
    elif len(switch_open) != len(net.switch):
        raise ValueError(f"switch_open has {len(switch_open)} entries for {len(net.switch)} switches")

    tables, rows, froms, tos, phases, closed = [], [], [], [], [], []

    def add(name: str, row: np.ndarray, a: np.ndarray, b: np.ndarray, ph: np.ndarray, on: np.ndarray) -> None:
        tables.append(np.full(len(row), name, dtype=object))
        rows.append(row)
        froms.append(_bus_rows(bus_index, a, name, net.table(name).ids[row]))
        tos.append(_bus_rows(bus_index, b, name, net.table(name).ids[row]))
        phases.append(ph.astype(np.int8))
        closed.append(on.astype(bool))

    line, sw, xf = net.line, net.switch, net.transformer
    add("line", np.arange(len(line)), line["from_bus"], line["to_bus"], line["phases"], line["in_service"])
    add("switch", np.arange(len(sw)), sw["from_bus"], sw["to_bus"], sw["phases"], ~np.asarray(switch_open, bool))
    transformer_edges = np.full((len(xf), 2), -1, dtype=np.int64)
    n_edges = len(line) + len(sw)
    for k in (1, 2):
        present = (xf["n_windings"] > k) & (xf["bus"][:, k] != "") & (xf["bus"][:, k] != xf["bus"][:, 0])
        if k == 2:  # a centre-tap's third winding usually shares the second winding's bus
            present &= xf["bus"][:, 2] != xf["bus"][:, 1]
        row = np.flatnonzero(present)
        transformer_edges[row, k - 1] = n_edges + np.arange(len(row))
        n_edges += len(row)
        add("transformer", row, xf["bus"][row, 0], xf["bus"][row, k], xf["phases"][row, 0],
            np.ones(len(row), bool))

    edge_table = np.concatenate(tables)
    edge_row = np.concatenate(rows).astype(np.int64)
    edge_from = np.concatenate(froms)
    edge_to = np.concatenate(tos)
    edge_phases = np.concatenate(phases)
    edge_closed = np.concatenate(closed)

    source_bus = _bus_rows(bus_index, net.source["bus"], "source", net.source.ids)
    forest = _spanning_forest(n_bus, edge_from, edge_to, edge_closed, source_bus)
    order, parent_bus, parent_edge, tin, size, energised, chords, chord_ends = forest
    banked = np.zeros(len(edge_table), dtype=bool)
    is_xf = edge_table == "transformer"
    banked[is_xf] = xf["bank"][edge_row[is_xf]] != ""
    bundle_of, real = _bundle(chords, chord_ends, parent_bus, parent_edge, edge_phases, banked)
    chords, chord_ends = chords[real], chord_ends[real]

    on_loop = np.zeros(len(edge_table), dtype=bool)
    topo_partial = dict(parent_bus=parent_bus, parent_edge=parent_edge)
    for u, v in chord_ends.tolist():
        for e in _path_edges(topo_partial, u, v):
            on_loop[e] = True
    on_loop[chords[chords >= 0]] = True
    on_loop = on_loop[bundle_of]

    closed_idx = np.flatnonzero(edge_closed)
    graph = coo_matrix(
        (np.ones(len(closed_idx)), (edge_from[closed_idx], edge_to[closed_idx])), shape=(n_bus, n_bus)
    )
    _, island = connected_components(graph, directed=False)

    feeder, protective, transformer_above = _propagate(net, order, parent_bus, parent_edge, edge_table,
                                                       edge_row, source_bus)

    sp_bus = _bus_rows(bus_index, net.service_point["bus"], "service_point", net.service_point.ids)
    key = np.where(sp_bus >= 0, tin[sp_bus] if n_bus else 0, -1)
    key = np.where(key >= 0, key, n_bus + 1)  # dead customers sort past every range
    customer_order = np.argsort(key, kind="stable")
    return Topology(
        net=net,
        edge_table=edge_table,
        edge_row=edge_row,
        edge_from=edge_from,
        edge_to=edge_to,
        edge_phases=edge_phases,
        edge_closed=edge_closed,
        energised=energised,
        island=island.astype(np.int64),
        parent_edge=parent_edge,
        parent_bus=parent_bus,
        order=order,
        tin=tin,
        size=size,
        edge_on_loop=on_loop,
        bundle_of=bundle_of,
        chords=chords,
        chord_ends=chord_ends,
        feeder=feeder,
        protective=protective,
        transformer_above=transformer_above,
        customer_order=customer_order,
        customer_tin=key[customer_order],
        transformer_edges=transformer_edges,
    )


def _bus_rows(index: dict[str, int], ids: np.ndarray, table: str, owners: np.ndarray) -> np.ndarray:
    """Bus rows of bus ids; an unknown bus raises ModelError naming the element."""
    try:
        return np.fromiter((index[b] for b in ids), dtype=np.int64, count=len(ids))
    except KeyError as err:
        k = int(np.flatnonzero(ids == err.args[0])[0])
        raise ModelError(
            f"refers to bus {err.args[0]!r}, which does not exist",
            component=table,
            element=str(owners[k]),
            fix="correct the bus name or add the bus",
        ) from err


def _spanning_forest(
    n_bus: int, a: np.ndarray, b: np.ndarray, closed: np.ndarray, sources: np.ndarray
) -> tuple[np.ndarray, ...]:
    """Depth-first forest over closed edges from a virtual ground node (row ``n_bus``) tied to
    every source bus. Returns order, parent_bus, parent_edge, tin, size, energised, chords,
    chord_ends (chords: closed edges outside the forest; -1 for a tie through the ground node)."""
    ground = n_bus
    idx = np.flatnonzero(closed)
    src = np.unique(sources)
    rows = np.concatenate([a[idx], np.full(len(src), ground)])
    cols = np.concatenate([b[idx], src])
    graph = coo_matrix((np.ones(len(rows)), (rows, cols)), shape=(n_bus + 1, n_bus + 1)).tocsr()
    if n_bus == 0 or len(src) == 0:
        order = np.empty(0, dtype=np.int64)
        pred = np.full(n_bus + 1, -9999)
    else:
        order, pred = depth_first_order(graph, ground, directed=False, return_predecessors=True)
        order = order[1:].astype(np.int64)  # drop the ground node
    pred = pred[:n_bus].astype(np.int64)
    parent_bus = np.where((pred >= 0) & (pred != ground), pred, -1)
    energised = np.zeros(n_bus, dtype=bool)
    energised[order] = True

    tin = np.full(n_bus, -1, dtype=np.int64)
    tin[order] = np.arange(len(order))
    size = np.zeros(n_bus, dtype=np.int64)
    size[order] = 1
    # Subtree sizes: add each bus to its parent, deepest first (reverse preorder).
    par = parent_bus[order]
    size_list = size.tolist()
    for v, p in zip(order[::-1].tolist(), par[::-1].tolist()):
        if p >= 0:
            size_list[p] += size_list[v]
    size = np.asarray(size_list, dtype=np.int64)

    # Tree edge of each reached bus: the first closed edge joining it to its parent.
    parent_edge = np.full(n_bus, -1, dtype=np.int64)
    ea, eb = a[idx], b[idx]
    child = np.where(parent_bus[ea] == eb, ea, np.where(parent_bus[eb] == ea, eb, -1)) if n_bus else ea
    is_tree = child >= 0
    # keep one edge per child (parallel edges beyond the first become chords)
    first = np.unique(child[is_tree], return_index=True)[1]
    tree_pos = np.flatnonzero(is_tree)[first]
    parent_edge[child[tree_pos]] = idx[tree_pos]
    used = np.zeros(len(a), dtype=bool)
    used[idx[tree_pos]] = True
    chord_edges = idx[~used[idx] & energised[ea]] if n_bus else idx[:0]
    chord_ends = np.stack([a[chord_edges], b[chord_edges]], axis=1) if len(chord_edges) else np.empty((0, 2), int)
    # Sources reached through another source's network: ties through the ground node.
    ties = [(s, _root_of(parent_bus, s)) for s in src.tolist() if pred[s] != ground and energised[s]]
    if ties:
        chord_edges = np.concatenate([chord_edges, np.full(len(ties), -1)])
        chord_ends = np.concatenate([chord_ends, np.array(ties, dtype=np.int64)])
    return order, parent_bus, parent_edge, tin, size, energised, chord_edges.astype(np.int64), chord_ends


def _bundle(
    chords: np.ndarray,
    ends: np.ndarray,
    parent_bus: np.ndarray,
    parent_edge: np.ndarray,
    phases: np.ndarray,
    banked: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Fold parallel units that make one connection into the tree edge they run beside.

    A parallel edge between the same two buses joins the tree edge's connection, and closes no
    loop, unless it shares a phase with another edge there and neither is a transformer of a named
    bank: three single-phase regulators, an open-delta pair and its jumper, or single-phase
    switches on different phases are one device.
    Returns ``bundle_of`` (per edge) and a mask of the chords that still close real loops.
    """
    bundle_of = np.arange(len(phases), dtype=np.int64)
    real = np.ones(len(chords), dtype=bool)
    groups: dict[tuple[int, int], list[int]] = {}
    for k, (c, (u, v)) in enumerate(zip(chords.tolist(), ends.tolist())):
        if c >= 0:
            groups.setdefault((min(u, v), max(u, v)), []).append(k)
    for (u, v), members in groups.items():
        tree = parent_edge[v] if parent_bus[v] == u else parent_edge[u] if parent_bus[u] == v else -1
        if tree < 0:
            continue
        edges = [int(tree)] + [int(chords[k]) for k in members]
        for k, e in zip(members, edges[1:]):
            if not any(phases[e] & phases[f] and not (banked[e] or banked[f]) for f in edges if f != e):
                bundle_of[e] = tree
                real[k] = False
    return bundle_of, real


def _root_of(parent_bus: np.ndarray, b: int) -> int:
    while parent_bus[b] >= 0:
        b = int(parent_bus[b])
    return b


def _path_edges(t: dict[str, np.ndarray], u: int, v: int) -> list[int]:
    """Tree edges on the path between ``u`` and ``v`` (through the ground node if in different trees)."""
    parent_bus, parent_edge = t["parent_bus"], t["parent_edge"]
    seen_u: dict[int, list[int]] = {}
    path: list[int] = []
    x = u
    while True:
        seen_u[x] = list(path)
        if parent_bus[x] < 0:
            break
        path.append(int(parent_edge[x]))
        x = int(parent_bus[x])
    path_v: list[int] = []
    y = v
    while y not in seen_u:
        if parent_bus[y] < 0:
            break
        path_v.append(int(parent_edge[y]))
        y = int(parent_bus[y])
    if y in seen_u:
        return seen_u[y] + path_v
    return path + path_v  # different trees: the loop closes through the ground node


def _propagate(
    net: Network,
    order: np.ndarray,
    parent_bus: np.ndarray,
    parent_edge: np.ndarray,
    edge_table: np.ndarray,
    edge_row: np.ndarray,
    source_bus: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Walk the forest top-down once: feeder, nearest protective device and transformer per bus."""
    n_bus = len(net.bus)
    feeder = np.full(n_bus, "", dtype=object)
    protective = np.full(n_bus, -1, dtype=np.int64)
    transformer_above = np.full(n_bus, -1, dtype=np.int64)
    if not len(order):
        return feeder, protective, transformer_above
    kinds = net.switch["kind"]
    # Per-edge contributions: the switch row if protective, breaker id, transformer row.
    is_switch = edge_table == "switch"
    is_xf = edge_table == "transformer"
    sw_rows = np.where(is_switch, edge_row, 0)
    edge_kind = np.where(is_switch, kinds[sw_rows] if len(kinds) else -1, -1)
    edge_prot = np.where(is_switch & np.isin(edge_kind, _PROTECTIVE), edge_row, -1)
    edge_breaker = np.where(is_switch & (edge_kind == _BREAKER), edge_row, -1)
    edge_xf = np.where(is_xf, edge_row, -1)

    source_of_bus = dict(zip(source_bus.tolist(), net.source.ids.tolist()))
    sw_ids = net.switch.ids
    pe = parent_edge[order].tolist()
    pb = parent_bus[order].tolist()
    prot = protective.tolist()
    xfa = transformer_above.tolist()
    fdr = feeder.tolist()
    headless = [False] * n_bus  # no breaker yet between the source and this bus
    ep, eb, ex = edge_prot.tolist(), edge_breaker.tolist(), edge_xf.tolist()
    for v, e, p in zip(order.tolist(), pe, pb):
        if e < 0:
            fdr[v], headless[v] = source_of_bus.get(v, ""), True
            continue
        prot[v] = ep[e] if ep[e] >= 0 else prot[p]
        xfa[v] = ex[e] if ex[e] >= 0 else xfa[p]
        # The feeder is named by the first breaker below the source (the feeder head).
        if eb[e] >= 0 and headless[p]:
            fdr[v] = sw_ids[eb[e]]
        else:
            fdr[v], headless[v] = fdr[p], headless[p]
    return (np.array(fdr, dtype=object), np.array(prot, dtype=np.int64), np.array(xfa, dtype=np.int64))


def serving_transformers(net: Network) -> np.ndarray:
    """Id of the transformer serving each service point under normal switch states: the nearest
    transformer above its bus when the bus is a secondary (below 1 kV); '' for primary-metered
    customers and customers no transformer reaches."""
    topo = build_topology(net, normal=True)
    sp_bus = net.bus.index(net.service_point["bus"].tolist())
    above = topo.transformer_above[sp_bus]
    secondary = net.bus["v_nom_v"][sp_bus] < 1000.0
    ids = np.where(above >= 0, net.transformer.ids[np.maximum(above, 0)] if len(net.transformer) else "", "")
    return np.where(secondary, ids, "").astype(object)
