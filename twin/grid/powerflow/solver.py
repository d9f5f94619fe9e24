"""The iteration: fixed-point current injection on a Y matrix factored once (OpenDSS's normal mode).

:func:`prepare` builds and factors ``Y = Y_network + Y_sources + Y_capacitors + Y_loads(linear)``
over the energised nodes. Each iteration then solves

    Y v = i_sources + C (y_lin v_c - i_c(v_c))

where ``v_c`` are the component (load phase or delta branch) voltages, ``i_c`` their ZIP currents,
``y_lin`` their linear part in Y and ``C`` their incidence (see :mod:`twin.grid.powerflow.loads`),
until no node voltage changes by more than ``tol`` per unit of its base between two iterations,
accelerated by Anderson mixing. A change of loads reuses the factorisation (and may start from
the last solution).

Constant-power loads put nothing into Y (no complex admittance stands in for a current that
depends on ``conj(v)``), so on long, heavily loaded feeders the map contracts slowly. Where a
factorisation is repaid, the solver iterates instead with a *linearised Jacobian*
(:mod:`twin.grid.powerflow.jacobian`): Newton's method with the Jacobian held fixed, taken at a
solution of the same load level (tenths of the rated loads). A warm re-solve at a level solved
before builds one (once) at that level's last solution and then converges in four to six
iterations (IEEE 8500, a 10 % load change: 4 to 6 instead of 11); long batches of snapshots
(:mod:`twin.grid.powerflow.batch`) use one per band of levels they cross.

Nodes of de-energised buses (and phases that no source reaches) are left out of Y and get 0 V.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
import scipy.sparse as sp
from numba import njit
from scipy.sparse.csgraph import connected_components

from twin.errors import ModelError, NotConverged
from twin.grid.network import Network
from twin.grid.powerflow import ybus
from twin.grid.powerflow.factor import Factor
from twin.grid.powerflow.jacobian import Linearised, linearise
from twin.grid.powerflow.loads import Components, build_components, injections
from twin.grid.powerflow.nodes import NodeIndex, index_nodes
from twin.grid.powerflow.transformers import transformer_entries
from twin.grid.topology import build_topology

__all__ = ["BatchResult", "PreparedNetwork", "iterate", "load_level", "prepare"]


@dataclass(frozen=True)
class BatchResult:
    """Node voltages of k load snapshots: ``v`` is (k, nodes) complex volts, node order of ``nodes``."""

    v: np.ndarray
    iterations: int
    max_mismatch: float


@dataclass(frozen=True, eq=False)
class PreparedNetwork:
    """A network's Y matrix, factored, with what a solve needs; reuse it while only loads change."""

    net: Network
    nodes: NodeIndex
    n: int  # nodes plus internal transformer neutrals
    base_v: np.ndarray  # per node (internal neutrals included)
    y: sp.csc_matrix  # the matrix factored (with the loads' linear parts)
    y_branch: sp.csc_matrix  # lines, switches and transformers only (for losses)
    y_capacitor: sp.csc_matrix
    lu: Factor  # y, factored
    i_source: np.ndarray
    source_ends: np.ndarray
    source_y: np.ndarray
    source_emf: np.ndarray
    comps: Components
    incidence: sp.csr_matrix
    flows: ybus.Flows  # branch conductor ends
    flow_matrix: sp.csr_matrix  # (ends x nodes): current into each end from the node voltages
    # Linearised Jacobians by load level, and the last solution at each level (where a Jacobian
    # for it is taken), built as solves ask; a replace() starts afresh.
    _jacobians: dict[int, Linearised] = field(default_factory=dict, init=False, repr=False, compare=False)
    _solutions: dict[int, np.ndarray] = field(default_factory=dict, init=False, repr=False, compare=False)

    def component_power(self, load_scale: float | np.ndarray = 1.0) -> np.ndarray:
        """Rated power of each component, loads scaled by ``load_scale`` (scalar, per load row,
        or (k, n_load) for k snapshots: then (components, k))."""
        c = self.comps
        steady = c.generator.copy()  # generators, and loads with status fixed, are not scaled
        steady[~c.generator] = self.net.load["fixed"][c.owner[~c.generator]]
        scale = np.asarray(load_scale, dtype=float)
        if scale.ndim == 0:
            f = np.where(steady, 1.0, float(scale))
            return c.s_va * f
        if scale.ndim == 1:
            f = np.where(steady, 1.0, scale[c.owner] if len(c.owner) else 1.0)
            return c.s_va * f
        f = np.where(steady[:, None], 1.0, scale[:, c.owner].T)
        return c.s_va[:, None] * f

    def solve_voltages(self, *, load_scale: float | np.ndarray = 1.0, tol: float = 1e-8, max_iter: int = 100,
                       start: np.ndarray | None = None) -> tuple[np.ndarray, int, float]:
        """Node voltages (complex volts), iterations and last change (pu) for the given load
        scaling; ``start`` (a previous solution's voltages) saves iterations after a small change.

        A warm re-solve at a load level solved before iterates with that level's linearised
        Jacobian, built at the first such re-solve (a one-off solve is cheaper on Y alone)."""
        s = self.component_power(load_scale)
        level = load_level(load_scale)
        lin = self._jacobians.get(level)
        if lin is None and start is not None and level in self._solutions:
            lin = self.jacobian(level, s, self._solutions[level])
        v, iterations, mismatch = _iterate_safely(self, s, tol=tol, max_iter=max_iter, start=start, lin=lin)
        self._solutions.pop(level, None)
        self._solutions[level] = v
        while len(self._solutions) > SOLUTIONS_KEPT:  # the least recently solved level goes first
            del self._solutions[next(iter(self._solutions))]
        return v, iterations, mismatch

    def jacobian(self, level: int, s_va: np.ndarray, v: np.ndarray) -> Linearised:
        """The linearised Jacobian for a load level, taken at node voltages ``v`` and component
        powers ``s_va`` the first time it is asked for, then cached (the oldest of more than
        :data:`JACOBIAN_CACHE` levels is dropped)."""
        cache = self._jacobians
        if level in cache:
            return cache[level]
        while len(cache) >= JACOBIAN_CACHE:
            del cache[next(iter(cache))]
        lin = cache[level] = linearise(self.y, self.incidence, self.comps, s_va, v)
        return lin

    def solve_batch(self, load_scale: np.ndarray, *, tol: float = 1e-8, max_iter: int = 100,
                    nodes: np.ndarray | None = None) -> BatchResult:
        """Solve k load snapshots (``load_scale`` (k,) or (k, n_load) multipliers of the loads) in
        one call; see :func:`twin.grid.powerflow.batch.solve_batch` (``nodes``: the node indices
        kept in the result, all by default)."""
        from twin.grid.powerflow.batch import solve_batch  # the batch module builds on this one

        return solve_batch(self, load_scale, tol=tol, max_iter=max_iter, nodes=nodes)


def prepare(net: Network) -> PreparedNetwork:
    """Build and factor the network's Y matrix for its present switch, tap and capacitor states."""
    live = build_topology(net).energised
    nodes = index_nodes(net.bus["phases"], net.bus["v_nom_v"], live)
    parts, n = _entries(net, nodes, live)
    reach = _reached(parts, n, nodes, net, live)
    if not reach.all():
        nodes, parts, n = _keep_nodes(net, nodes, parts, reach)
        parts["capacitor"] = ybus.capacitor_entries(net, nodes, live)  # a delta bank may lose one end
    comps = build_components(net, nodes, live)
    incidence = comps.incidence(n)
    y_loads = incidence @ sp.diags(comps.y_lin) @ incidence.T
    branch = ybus.assemble([parts["line"], parts["switch"], parts["transformer"]], n)
    caps = ybus.assemble([parts["capacitor"]], n)
    y = sp.csc_matrix(branch + caps + ybus.assemble([parts["source"]], n) + y_loads)
    empty = np.flatnonzero(y.diagonal()[: nodes.n] == 0)
    if len(empty):
        raise ModelError("a conductor is connected to nothing but loads", component="bus",
                         element=str(net.bus.ids[nodes.bus[empty[0]]]), fix="check the phases of its elements")
    ends, ysrc, emf = ybus.source_admittances(net, nodes, live)
    i_src = ybus.source_injection(net, nodes, live, n)
    base = np.concatenate([nodes.base_v, _extra_base(nodes, n)])
    flows = ybus.Flows.concat([parts[k].flows for k in ("line", "switch", "transformer") if parts[k].flows])
    flow_matrix = sp.csr_matrix((flows.values, (flows.ends, flows.cols)), shape=(len(flows.node), n))
    return PreparedNetwork(
        net=net, nodes=nodes, n=n, base_v=base, y=y, y_branch=sp.csc_matrix(branch), y_capacitor=sp.csc_matrix(caps),
        lu=Factor(y),
        i_source=i_src, source_ends=ends, source_y=ysrc, source_emf=emf, comps=comps, incidence=incidence,
        flows=flows, flow_matrix=flow_matrix,
    )


def _entries(net: Network, nodes: NodeIndex, live: np.ndarray) -> tuple[dict[str, ybus.Entries], int]:
    parts = {
        "line": ybus.line_entries(net, nodes, live),
        "switch": ybus.switch_entries(net, nodes, live),
        "transformer": transformer_entries(net, nodes, live, nodes.n),
        "capacitor": ybus.capacitor_entries(net, nodes, live),
        "source": ybus.source_entries(net, nodes, live),
    }
    return parts, nodes.n + parts["transformer"].n_extra


def _reached(parts: dict[str, ybus.Entries], n: int, nodes: NodeIndex, net: Network,
             live: np.ndarray) -> np.ndarray:
    """Nodes joined to a source node through branches (a phase no source feeds is dead)."""
    e = [parts[k] for k in ("line", "switch", "transformer")]
    rows = np.concatenate([p.rows for p in e])
    cols = np.concatenate([p.cols for p in e])
    graph = sp.coo_matrix((np.ones(len(rows)), (rows, cols)), shape=(n, n))
    _, label = connected_components(graph, directed=False)
    ends, _, _ = ybus.source_admittances(net, nodes, live)
    fed = np.unique(label[ends[ends >= 0]])
    return np.isin(label, fed)


def _keep_nodes(net: Network, nodes: NodeIndex, parts: dict[str, ybus.Entries],
                keep: np.ndarray) -> tuple[NodeIndex, dict[str, ybus.Entries], int]:
    """Renumber without the nodes not kept (unfed: their entries touch only each other)."""
    energised = np.zeros(nodes.of.shape, bool)
    energised[nodes.bus[keep[: nodes.n]], nodes.slot[keep[: nodes.n]]] = True
    kept = index_nodes(net.bus["phases"], net.bus["v_nom_v"], energised)
    new = np.full(len(keep) + 1, -1, dtype=np.int64)  # the last slot maps GROUND to GROUND
    new[: len(keep)][keep] = np.arange(int(keep.sum()))
    out = {}
    for name, e in parts.items():
        rows, cols = new[e.rows], new[e.cols]
        ok = (rows >= 0) & (cols >= 0)
        n_extra = int(keep[nodes.n:].sum()) if name == "transformer" else 0
        flows = e.flows
        if flows is not None:
            f_cols = new[flows.cols]
            f_ok = f_cols >= 0
            flows = replace(flows, ends=flows.ends[f_ok], cols=f_cols[f_ok], values=flows.values[f_ok],
                            node=new[flows.node])
        out[name] = ybus.Entries(rows[ok], cols[ok], e.values[ok], n_extra, flows)
    return kept, out, kept.n + out["transformer"].n_extra


def _extra_base(nodes: NodeIndex, n: int) -> np.ndarray:
    """Base of internal neutral nodes: the largest bus base (only the convergence test uses it)."""
    return np.full(n - nodes.n, nodes.base_v.max() if nodes.n else 1.0)


ANDERSON_DEPTH = 5
"""Previous iterates Anderson acceleration mixes (0: the plain fixed-point iteration)."""

LEVELS = 10
"""Load levels per rated load that share a linearised Jacobian (0.1 apart)."""

JACOBIAN_CACHE = 2
"""Linearised Jacobians a prepared network keeps (each a real factorisation of twice Y's order)."""

SOLUTIONS_KEPT = 4
"""Load levels whose last solution a prepared network keeps (a Jacobian for a level is taken there)."""


def load_level(load_scale: float | np.ndarray) -> int:
    """The load level (see :data:`LEVELS`) of a scaling: its mean, rounded to the nearest tenth."""
    return round(float(np.mean(load_scale)) * LEVELS) if np.size(load_scale) else LEVELS


def _iterate_safely(prep: PreparedNetwork, s_va: np.ndarray, *, tol: float, max_iter: int, start: np.ndarray | None,
                    lin: Linearised | None) -> tuple[np.ndarray, int, float]:
    """:func:`iterate` with ``lin``, and without it from the same start should that not converge
    (a Jacobian linearised far from the solution may not contract where the plain map does)."""
    if lin is not None:  # Newton's steps: Anderson's mixing would only slow their quadratic convergence
        try:
            return iterate(prep, s_va, tol=tol, max_iter=max_iter, start=start, lin=lin, depth=0)
        except NotConverged:
            pass
    return iterate(prep, s_va, tol=tol, max_iter=max_iter, start=start)


def iterate(prep: PreparedNetwork, s_va: np.ndarray, *, tol: float, max_iter: int,
            depth: int = ANDERSON_DEPTH, start: np.ndarray | None = None,
            lin: Linearised | None = None) -> tuple[np.ndarray, int, float]:
    """Fixed-point iteration from ``start`` (nodes[, k]) or else the constant-impedance solution;
    ``s_va`` (components[, k]). Returns the voltages, the iterations of the slowest snapshot and
    the largest last change (pu).

    The map ``G(v) = Y^-1 (i_s + C (y_lin v_c - i_c(v_c)))`` contracts slowly on long, heavily
    loaded feeders (its rate is about |Z_thevenin S / V^2|); Anderson acceleration extrapolates
    from the last ``depth`` iterates with real least-squares weights per snapshot, which cuts the
    iterations two- to three-fold without changing the answer (the fixed point of G). With
    ``lin`` (a :class:`~twin.grid.powerflow.jacobian.Linearised` Jacobian ``J``) the map is
    instead ``G(v) = J^-1 (i_s - C (i_c(v_c) - D v_c))``: the same fixed point, reached faster.
    A snapshot that has converged leaves the iteration; the others go on.
    """
    c = prep.comps
    single = s_va.ndim == 1
    s = np.ascontiguousarray(s_va[:, None] if single else s_va)
    k = s.shape[1]
    alpha, beta = (c.y_lin, np.zeros(c.n, complex)) if lin is None else (lin.alpha, lin.beta)
    if start is None:
        v = np.repeat(prep.lu.solve(prep.i_source)[:, None], k, axis=1)
    else:
        v = np.array(np.broadcast_to(np.asarray(start, complex).reshape(prep.n, -1), (prep.n, k)), order="C")
    history = _History(depth, v.shape) if depth else None
    out = np.empty((prep.n, k), complex)
    last = np.full(k, np.inf)  # each snapshot's last change
    active = np.arange(k)
    for it in range(1, max_iter + 1):
        rhs = injections(v, c, s, alpha, beta, prep.i_source)
        g = prep.lu.solve(rhs) if lin is None else lin.lu.solve_interleaved(rhs)
        change = np.empty(len(active))
        _max_change(g, v, prep.base_v, change, False)
        last[active] = change
        done = change < tol
        if done.all():
            out[:, active] = g
            return (out[:, 0] if single else out), it, float(last.max())
        if done.any():  # converged snapshots leave; the rest iterate on
            out[:, active[done]] = g[:, done]
            keep = ~done
            active, g, v, s = active[keep], g[:, keep], v[:, keep], np.ascontiguousarray(s[:, keep])
            if history:
                history.keep(keep)
        v, previous = (history.next(g, (g - v) / prep.base_v[:, None]) if history else g), v
    col = int(np.argmax(change))
    node = int(np.argmax(np.abs(g[:, col] - previous[:, col]) / prep.base_v))
    bus = prep.net.bus.ids[prep.nodes.bus[node]] if node < prep.nodes.n else "(transformer neutral)"
    raise NotConverged(iterations=max_iter, worst_bus=str(bus), mismatch=float(change[col]))


@njit(cache=True, nogil=True)
def _max_change(g, v, base_v, out, advance):  # pragma: no cover
    """Per column, the largest ``|g - v| / base_v`` over the nodes into ``out``; with
    ``advance``, also ``v <- g`` in the same pass."""
    n, k = g.shape
    for c in range(k):
        out[c] = 0.0
    for i in range(n):
        w = 1.0 / (base_v[i] * base_v[i])
        for c in range(k):
            d = g[i, c] - v[i, c]
            d2 = (d.real * d.real + d.imag * d.imag) * w
            if d2 > out[c]:
                out[c] = d2
            if advance:
                v[i, c] = g[i, c]
    for c in range(k):
        out[c] = np.sqrt(out[c])


class _History:
    """Anderson acceleration: the last differences of G and of the residual in ring buffers laid
    out (snapshot, depth, node), and the Gram matrix of the residual differences, updated one
    column at a time, so that each step costs a few vector products per snapshot (einsum: small
    BLAS calls cost more in thread hand-offs than they save)."""

    def __init__(self, depth: int, shape: tuple[int, int]) -> None:
        n, k = shape
        self.d_g = np.zeros((k, depth, n), complex)
        self.d_f = np.zeros((k, depth, n), complex)
        self.gram = np.zeros((k, depth, depth))
        self.count = 0
        self.last: tuple[np.ndarray, np.ndarray] | None = None

    def keep(self, mask: np.ndarray) -> None:
        """Forget the snapshots not in ``mask`` (they have converged)."""
        self.d_g, self.d_f, self.gram = self.d_g[mask], self.d_f[mask], self.gram[mask]
        if self.last is not None:
            self.last = (self.last[0][mask], self.last[1][mask])

    def next(self, g: np.ndarray, f: np.ndarray) -> np.ndarray:
        """Next iterate: ``g - dG gamma``, ``gamma`` real per column minimising ``|f - dF gamma|``."""
        g_t, f_t = np.ascontiguousarray(g.T), np.ascontiguousarray(f.T)  # (k, n)
        depth = self.d_g.shape[1]
        if self.last is not None:
            slot = self.count % depth
            np.subtract(g_t, self.last[0], out=self.d_g[:, slot])
            np.subtract(f_t, self.last[1], out=self.d_f[:, slot])
            real = self.d_f.view(float)  # (k, depth, 2n): real and imaginary parts side by side
            dots = np.einsum("kmn,kn->km", real, real[:, slot])  # real parts of dF^H dF_slot
            self.gram[:, slot, :] = dots
            self.gram[:, :, slot] = dots
            self.count += 1
        self.last = (g_t, f_t)
        m = min(self.count, depth)
        if m == 0:
            return g
        a = self.gram[:, :m, :m] + np.eye(m) * (1e-12 * np.trace(self.gram[:, :m, :m], axis1=1, axis2=2)[:, None, None]
                                                + 1e-300)
        b = np.einsum("kmn,kn->km", self.d_f[:, :m].view(float), f_t.view(float))
        gamma = np.linalg.solve(a, b[:, :, None])[:, :, 0]  # (k, m), real
        step = np.einsum("km,kmn->kn", gamma, self.d_g[:, :m].view(float)).view(complex)  # (k, n)
        return g - step.T
