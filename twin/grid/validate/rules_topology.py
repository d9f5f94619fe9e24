"""Topology rules: what the connectivity under *normal* switch states says about a model.

They read the topology built once by :class:`~twin.grid.validate.context.Context` (see
:mod:`twin.grid.topology`) and element data from ``topo.net``, the copy it was built on.

=====================  ===============  ========================================================
code                   level            what
=====================  ===============  ========================================================
unreached              error / warning  a section no source reaches (error when it has load,
                                        customers or generation; a dead, empty stub is a warning)
loop                   warning          a closed loop: meshed operation must be deliberate
phase-not-upstream     error / warning  an element uses a phase its supply (what the edges from
                                        the parent bus bring, towards the source) does not carry
                                        (a branch with some live phases: warning)
customer-transformer   warning          a service point's transformer is not the one above its bus
topology-error         error            the topology could not be built at all
=====================  ===============  ========================================================

A loop is counted on a phase only if every element around it carries that phase; parallel units
operated as one device (a regulator bank, an open-delta pair) are folded by the topology itself.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from twin.grid.network import Network
from twin.grid.schema import Phase, phase_text
from twin.grid.topology import EDGE_TABLES, Topology, parse_ref
from twin.grid.validate.context import Context, Rule
from twin.grid.validate.findings import Finding, Severity

__all__ = ["TOPOLOGY_RULES"]

ERROR, WARNING = Severity.error, Severity.warning


def check_islands(net: Network, ctx: Context) -> list[Finding]:
    """Every bus is reached from a source through closed elements under normal switch states."""
    topo = ctx.topology
    if topo is None:
        err = ctx.topology_error
        return [Finding(ERROR, "topology-error", err.component, (err.element,) if err.element else (),
                        message=f"the connectivity could not be built: {err}",
                        fix="correct the element named; the other topology checks wait for it")]
    if not len(topo.net.source):
        return []  # ``no-source`` says it once
    dead = np.flatnonzero(~topo.energised)
    if not len(dead):
        return []
    tnet = topo.net
    n_bus = len(tnet.bus)
    weight = {}
    for name in ("load", "service_point", "generator"):
        rows = ctx.topology_bus_rows(tnet.table(name)["bus"])
        weight[name] = np.bincount(rows[rows >= 0], minlength=n_bus)
    # Open switches and lines out of service at an island's edge say where it would be fed from.
    is_open = np.flatnonzero(~topo.edge_closed)
    ea, eb = topo.edge_from[is_open], topo.edge_to[is_open]
    open_refs = np.array([f"{t}.{tnet.table(t).ids[r]}" for t, r in
                          zip(topo.edge_table[is_open].tolist(), topo.edge_row[is_open].tolist())], dtype=object)

    out = []
    island = topo.island[dead]
    order = np.argsort(island, kind="stable")
    starts = np.flatnonzero(np.r_[True, island[order][1:] != island[order][:-1]])
    for members in np.split(dead[order], starts[1:]):
        isl = topo.island[members[0]]
        counts = {name: int(w[members].sum()) for name, w in weight.items()}
        at_edge = (topo.island[ea] == isl) != (topo.island[eb] == isl)
        ties = open_refs[at_edge].tolist()
        has = [f"{n} {name.replace('_', ' ')}{'s' if n > 1 else ''}" for name, n in counts.items() if n]
        what = f" with {', '.join(has)}" if has else " (no load, customers or generation)"
        cut = f"; open at its edge: {', '.join(ties[:5])}" if ties else ""
        out.append(Finding.many(
            ERROR if has else WARNING, "unreached", "bus", tnet.bus.ids[members], field="",
            value=len(members),
            message=f"{len(members)} bus(es){what} that no source reaches under normal switch states{cut}",
            fix="make a switch normally closed or add the missing connection; remove the section if it is retired"))
    return out


def check_loops(net: Network, ctx: Context) -> list[Finding]:
    """Closed loops under normal switch states; the finding names every element around the loop."""
    topo = ctx.topology
    if topo is None:
        return []
    out = []
    for refs in topo.loops():
        common = _common_phases(topo.net, refs)
        if not common:
            continue
        sources = [r for r in refs if r.startswith("source.")]
        kind = "sources in parallel" if sources else f"closed loop on phases {phase_text(common)}"
        out.append(Finding(
            WARNING, "loop", "", tuple(refs), field="", value=len(refs),
            message=f"{kind} through {len(refs)} elements under normal switch states",
            fix="make one switch on the loop normally open, or confirm that the meshed operation is deliberate"))
    return out


def _common_phases(tnet: Network, refs: list[str]) -> int:
    """Phases every element around a loop carries (a transformer: its first winding's)."""
    common = int(Phase.ABC | Phase.S12)
    for ref in refs:
        table, id_ = parse_ref(ref)
        if table in ("line", "switch", "transformer"):
            t = tnet.table(table)
            ph = t["phases"][t.position(id_)]
            common &= int(ph[0] if table == "transformer" else ph)
    return common


def _phases_at(topo: Topology, edges: np.ndarray, bus: np.ndarray) -> np.ndarray:
    """Phases each edge carries at the given bus: a line's or switch's phases; for a transformer,
    those of its windings on that bus (a centre-tap's two legs together)."""
    tnet = topo.net
    table, row = topo.edge_table[edges], topo.edge_row[edges]
    out = np.zeros(len(edges), dtype=np.int64)
    for name in ("line", "switch"):
        at = table == name
        out[at] = tnet.table(name)["phases"][row[at]]
    at = np.flatnonzero(table == "transformer")
    if len(at):
        xf = tnet.transformer
        on_bus = xf["bus"][row[at]] == tnet.bus.ids[bus[at]][:, None]
        out[at] = np.bitwise_or.reduce(np.where(on_bus, xf["phases"][row[at]].astype(np.int64), 0), axis=1)
    return out


def check_phase_continuity(net: Network, ctx: Context) -> list[Finding]:
    """An element cannot use a phase its supply does not bring. A bus's supply is what the closed
    edges from its parent bus carry into it (parallel single-phase units add up); every edge going
    on from the bus (a lateral) and every load, capacitor and generator on it uses only those."""
    topo = ctx.topology
    if topo is None:
        return []
    tnet = topo.net
    n_bus = len(tnet.bus)
    out = []

    def report(table: str, ids: np.ndarray, phases: np.ndarray, supply: np.ndarray, buses: np.ndarray) -> None:
        for id_, ph, sup, b in zip(ids.tolist(), phases.tolist(), supply.tolist(), buses.tolist()):
            pe = topo.parent_edge[b]
            parent = f"{topo.edge_table[pe]} {tnet.table(topo.edge_table[pe]).ids[topo.edge_row[pe]]}"
            # A branch with some live phases only has dead conductors (a three-pole switch on a
            # single-phase tap); a branch with none, or a load on a dead phase, serves nothing.
            partly = table in EDGE_TABLES and (ph & sup) != 0
            out.append(Finding(
                WARNING if partly else ERROR, "phase-not-upstream", table, (id_,), field="phases",
                value=phase_text(ph),
                message=f"uses phase(s) {phase_text(ph & ~sup)} at bus {tnet.bus.ids[b]}, which its supply "
                        f"({parent}: phases {phase_text(sup) or 'none'}) does not bring",
                fix="correct this element's phases or those of the element that feeds it"))

    # Closed edges between a bus and its parent: ``down`` is the child end, ``up`` the parent end.
    a, b = topo.edge_from, topo.edge_to
    pb = topo.parent_bus
    down = np.where(topo.edge_closed & (pb[a] == b), a, np.where(topo.edge_closed & (pb[b] == a), b, -1))
    tree = np.flatnonzero(down >= 0)
    down = down[tree]
    up = pb[down]
    supply = np.zeros(n_bus, dtype=np.int64)
    np.bitwise_or.at(supply, down, _phases_at(topo, tree, down))
    fed = topo.parent_edge >= 0

    # Edges leaving a fed bus towards its children.
    check = fed[up]
    e, at = tree[check], up[check]
    ph = _phases_at(topo, e, at)
    bad = (ph & ~supply[at]) != 0
    for name in ("line", "switch", "transformer"):
        sel = bad & (topo.edge_table[e] == name)
        report(name, tnet.table(name).ids[topo.edge_row[e[sel]]], ph[sel], supply[at[sel]], at[sel])

    # Shunt elements on a fed bus.
    for name in ("load", "capacitor", "generator"):
        t = tnet.table(name)
        rows = ctx.topology_bus_rows(t["bus"])
        sel = np.flatnonzero((rows >= 0) & fed[np.maximum(rows, 0)]) if n_bus else np.zeros(0, dtype=np.int64)
        ph = t["phases"][sel].astype(np.int64)
        bad = (ph & ~supply[rows[sel]]) != 0
        report(name, t.ids[sel][bad], ph[bad], supply[rows[sel][bad]], rows[sel][bad])
    return out


def check_customer_transformers(net: Network, ctx: Context) -> list[Finding]:
    """A secondary customer's transformer should be the one above its bus: outage management
    predicts transformer outages from exactly this association."""
    topo = ctx.topology
    if topo is None:
        return []
    tnet = topo.net
    sp = tnet.service_point
    if not len(sp) or not len(tnet.transformer):
        return []
    rows = ctx.topology_bus_rows(sp["bus"])
    safe = np.maximum(rows, 0)
    above = np.where(rows >= 0, topo.transformer_above[safe], -1)
    secondary = tnet.bus["v_nom_v"][safe] < 1000.0
    found = np.where(above >= 0, tnet.transformer.ids[np.maximum(above, 0)], "")
    given = sp["transformer"]
    known = ctx.rows("transformer", given) >= 0
    bad = secondary & known & (above >= 0) & (found != given) & (rows >= 0)
    if not bad.any():
        return []
    frame = pd.DataFrame({"id": sp.ids[bad], "given": given[bad], "found": found[bad]})
    return [Finding.many(WARNING, "customer-transformer", "service_point", grp["id"].to_numpy(),
                         field="transformer", value=g,
                         message=f"recorded on transformer {g} but fed through transformer {f} under normal "
                                 f"switch states",
                         fix="correct the customer-to-transformer association, or the secondary's connection")
            for (g, f), grp in frame.groupby(["given", "found"], sort=True)]


TOPOLOGY_RULES: tuple[Rule, ...] = (
    check_islands,
    check_loops,
    check_phase_continuity,
    check_customer_transformers,
)
