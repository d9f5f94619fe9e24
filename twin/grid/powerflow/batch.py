"""Many load snapshots in one call: continuation in the load level.

A year of hourly snapshots is 8,760 power flows of one network that differ only in their loads.
Solved one by one, each costs a full iteration from a rough start; solved together they need
little more than one iteration each, because their solutions lie on a smooth curve in the load
level (the mean of the snapshot's load multipliers):

1. the snapshots are put in order of level and solved in chunks of :data:`CHUNK` neighbours
   (one sparse solve serves a whole chunk's right-hand sides);
2. each chunk starts from a *predictor*: the quadratic through three solutions already found,
   spread over the chunk before, evaluated at each snapshot's level (its error falls with the
   cube of the distance: about 1e-11 pu on the IEEE 8500 feeder, far below the tolerance);
3. the *corrector* is Newton's method with a Jacobian held fixed
   (:mod:`twin.grid.powerflow.jacobian`), one per level (tenths of the rated loads), taken at the
   predictor of the first chunk to reach that level, so at a solution to within the tolerance.

The first iteration of a snapshot then measures a change below the tolerance and the snapshot is
done; where the levels are sparse (the year's extremes) a snapshot takes two or three. The answer
is the same fixed point as a single solve's, to the same tolerance. Short batches (fewer than
:data:`BATCH_LINEARISED` snapshots) do not repay a Jacobian's factorisation and iterate on Y.
Memory: the result, one Jacobian, and a chunk's iterates.

    prep = prepare(net)
    year = prep.solve_batch(hourly_multipliers)             # (8760,): all loads alike
    feeders = prep.solve_batch(per_load, nodes=bellwethers)  # (k, n_load), a few nodes kept
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
from numba import njit

from twin.grid.powerflow.factor import CORES
from twin.grid.powerflow.jacobian import Linearised, linearise
from twin.grid.powerflow.loads import injections
from twin.grid.powerflow.solver import BatchResult, PreparedNetwork, _iterate_safely

__all__ = ["BATCH_LINEARISED", "CHUNK", "solve_batch"]

CHUNK = 32
"""Snapshots solved together: one sparse solve per iteration serves them all (8 is where
SuperLU's solve costs least per right-hand side on the IEEE 8500 feeder)."""

BATCH_LINEARISED = 32
"""Batches of at least this many snapshots are corrected with linearised Jacobians (a
factorisation per load level, repaid over many snapshots); shorter ones iterate on Y."""

BATCH_LEVELS = 40
"""Load levels per rated load that share a Jacobian in a batch (0.025 apart): finer than a
prepared network's (:data:`~twin.grid.powerflow.solver.LEVELS`), since a long batch repays a
factorisation every few hundred snapshots."""

FAR = 8.0
"""A quadratic predictor is used up to this many times its anchors' spread beyond the last one;
further, a linear one (whose error amplifies less), and past a tenth of the rated load the
nearest solution alone."""


def solve_batch(prep: PreparedNetwork, load_scale: np.ndarray, *, tol: float = 1e-8, max_iter: int = 100,
                nodes: np.ndarray | None = None, chunk: int = CHUNK) -> BatchResult:
    """Solve k snapshots: ``load_scale`` is (k,) or (k, n_load) multipliers of the loads.

    Returns :class:`~twin.grid.powerflow.solver.BatchResult` with ``v`` (k, len(nodes)) complex
    volts of the nodes asked for (node indices of ``prep.nodes``; all of them by default: 8,760
    snapshots of the IEEE 8500 feeder are then 1.2 GB), ``iterations`` the most any snapshot
    took and ``max_mismatch`` the largest last change (pu)."""
    scale = np.asarray(load_scale, dtype=float)
    n_load = len(prep.net.load)
    if scale.ndim not in (1, 2) or (scale.ndim == 2 and scale.shape[1] != n_load):
        raise ValueError(f"load_scale must be (snapshots,) or (snapshots, {n_load} loads), not {scale.shape}")
    levels = (scale if scale.ndim == 1 else scale.mean(axis=1)) if n_load else np.ones(len(scale))
    keep = np.arange(prep.nodes.n) if nodes is None else np.asarray(nodes, dtype=np.int64)
    out = np.empty((len(scale), len(keep)), complex)
    if not len(scale):
        return BatchResult(v=out, iterations=0, max_mismatch=0.0)

    def powers(rows: np.ndarray) -> np.ndarray:
        rows_scale = scale[rows] if scale.ndim == 2 else np.broadcast_to(scale[rows, None], (len(rows), n_load))
        return prep.component_power(rows_scale)

    order = np.argsort(levels, kind="stable")
    if len(scale) < BATCH_LINEARISED:
        iterations, mismatch = _run(prep, order, levels, powers, out, keep, _chunked, tol=tol, max_iter=max_iter,
                                    width=chunk)
        return BatchResult(v=out, iterations=iterations, max_mismatch=mismatch)
    # A long batch: one rolling working set per core, each over its own range of levels.
    parts = [p for p in np.array_split(order, min(CORES, len(order) // BATCH_LINEARISED) or 1) if len(p)]
    with ThreadPoolExecutor(max_workers=len(parts), thread_name_prefix="twin-batch") as pool:
        done = [pool.submit(_run, prep, part, levels, powers, out, keep, _rolling, tol=tol, max_iter=max_iter,
                            width=chunk) for part in parts]
        results = [d.result() for d in done]
    return BatchResult(v=out, iterations=max(r[0] for r in results), max_mismatch=max(r[1] for r in results))


def _run(prep: PreparedNetwork, order: np.ndarray, levels: np.ndarray, powers, out: np.ndarray, keep: np.ndarray,
         solve, *, tol: float, max_iter: int, width: int) -> tuple[int, float]:
    """Snapshots ``order`` (in order of level): the first alone from the constant-impedance
    solution (the predictor's first anchor), the rest by ``solve``; the most iterations any
    took and the largest last change."""
    first = order[0]
    v0, iterations, mismatch = _iterate_safely(prep, powers(order[:1])[:, 0], tol=tol, max_iter=max_iter, start=None,
                                               lin=None)
    out[first] = v0[keep]
    if len(order) == 1:
        return iterations, mismatch
    it, mis = solve(prep, order[1:], levels, powers, [(float(levels[first]), v0)], out, keep, tol=tol,
                    max_iter=max_iter, width=width)
    return max(iterations, it), max(mismatch, mis)


def _chunked(prep: PreparedNetwork, order: np.ndarray, levels: np.ndarray, powers, anchors: list, out: np.ndarray,
             keep: np.ndarray, *, tol: float, max_iter: int, width: int) -> tuple[int, float]:
    """Short batches: chunks of neighbours in level, each from the predictor, iterated on Y."""
    iterations, mismatch = 0, 0.0
    for i in range(0, len(order), width):
        rows = order[i:i + width]
        v, it, mis = _iterate_safely(prep, powers(rows), tol=tol, max_iter=max_iter,
                                     start=predict(anchors, levels[rows]), lin=None)
        out[rows] = v[keep].T
        anchors[:] = _spread(anchors + [(float(levels[r]), v[:, j]) for j, r in enumerate(rows)])
        iterations, mismatch = max(iterations, it), max(mismatch, mis)
    return iterations, mismatch


def _rolling(prep: PreparedNetwork, order: np.ndarray, levels: np.ndarray, powers, anchors: list, out: np.ndarray,
             keep: np.ndarray, *, tol: float, max_iter: int, width: int) -> tuple[int, float]:
    """Long batches: a working set of ``width`` snapshots advanced together by Newton steps on
    the Jacobian of the newest one's level; each snapshot that converges leaves and the next in
    order of level takes its slot, from the predictor, so every solve serves a full set."""
    c = prep.comps
    width = min(width, len(order))
    slot_row = np.full(width, -1, dtype=np.int64)  # the snapshot in each slot (-1: none left)
    slot_it = np.zeros(width, dtype=np.int64)
    v = np.empty((prep.n, width), complex)
    s = np.empty((c.n, width), complex)
    lin: Linearised | None = None
    lin_bucket = None
    change = np.empty(width)
    iterations, mismatch, taken = 0, 0.0, 0

    def enter(slots: np.ndarray) -> None:
        """The next snapshots in order into ``slots``; the Jacobian follows the newest one's level."""
        nonlocal taken, lin, lin_bucket
        rows = order[taken:taken + len(slots)]
        taken += len(rows)
        free = slots[len(rows):]
        slots = slots[:len(rows)]
        slot_row[free] = -1
        if len(rows):
            slot_row[slots], slot_it[slots] = rows, 0
            x, w = predictor(np.array([a[0] for a in anchors]), levels[rows])
            _place(np.stack([anchors[i][1] for i in x], axis=1), w, slots, v)
            s[:, slots] = powers(rows)
            bucket = int(np.rint(levels[rows[-1]] * BATCH_LEVELS))
            if bucket != lin_bucket:  # at the newest snapshot's start: a solution to within the predictor
                lin = linearise(prep.y, prep.incidence, prep.comps, s[:, slots[-1]], v[:, slots[-1]])
                lin_bucket = bucket
        if len(free):  # nothing left to enter: an emptied slot repeats a live one (its results unused)
            live = np.flatnonzero(slot_row >= 0)
            if len(live):
                v[:, free] = v[:, live[:1]]
                s[:, free] = s[:, live[:1]]

    enter(np.arange(width))
    while (slot_row >= 0).any():
        rhs = injections(v, c, s, lin.alpha, lin.beta, prep.i_source)
        _advance(lin.lu.solve_interleaved(rhs, share=False), v, prep.base_v, change)
        slot_it += 1
        live = slot_row >= 0
        done = np.flatnonzero(live & (change < tol))
        stuck = np.flatnonzero(live & (change >= tol) & (slot_it >= max_iter))
        for slot in stuck:  # Newton's steps did not converge: the plain iteration decides (or says where)
            v[:, slot], it, mis = _iterate_safely(prep, s[:, slot], tol=tol, max_iter=max_iter, start=v[:, slot],
                                                  lin=None)
            change[slot], slot_it[slot] = mis, max_iter + it
        done = np.union1d(done, stuck)
        if not len(done):
            continue
        rows = slot_row[done]
        _store(v, done, rows, keep, out)
        iterations = max(iterations, int(slot_it[done].max()))
        mismatch = max(mismatch, float(change[done].max()))
        newest = done[np.argmax(levels[rows])]
        anchors[:] = _spread(anchors + [(float(levels[slot_row[newest]]), v[:, newest].copy())])
        enter(done)
    return iterations, mismatch


@njit(cache=True, nogil=True)
def _advance(g, v, base_v, change):  # pragma: no cover
    """``v <- g``, and per column the largest ``|g - v| / base_v`` over the nodes into ``change``."""
    n, k = g.shape
    for c in range(k):
        change[c] = 0.0
    for i in range(n):
        w = 1.0 / (base_v[i] * base_v[i])
        for c in range(k):
            d = g[i, c] - v[i, c]
            d2 = (d.real * d.real + d.imag * d.imag) * w
            if d2 > change[c]:
                change[c] = d2
            v[i, c] = g[i, c]
    for c in range(k):
        change[c] = np.sqrt(change[c])


def predict(anchors: list[tuple[float, np.ndarray]], levels: np.ndarray) -> np.ndarray:
    """Starting voltages (nodes, k) at ``levels`` from the anchors (level, voltages): see
    :func:`predictor`."""
    x, w = predictor(np.array([a[0] for a in anchors]), levels)
    return np.stack([anchors[i][1] for i in x], axis=1) @ w


def predictor(x: np.ndarray, levels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The anchors used (indices into ``x``, their levels) and the weights (used, k) that make
    the predictor at ``levels`` from their voltages: the Lagrange polynomial through them, of
    degree 2 where the distance beyond them is within :data:`FAR` of their spread, else 1, and
    the nearest anchor alone past a tenth of the rated load."""
    spread = x.max() - x.min()
    gap = np.abs(levels[:, None] - x[None, :])
    distance = float(gap.min(axis=1).max())
    degree = len(x) - 1
    if degree >= 2 and distance > FAR * spread:
        degree = 1
    if degree >= 1 and distance > 0.1:
        degree = 0
    if degree == 0:
        used = np.unique(gap.argmin(axis=1))
        return used, (gap[:, used].argmin(axis=1)[None, :] == np.arange(len(used))[:, None]).astype(complex)
    used = np.arange(len(x) - degree - 1, len(x))
    xs = x[used]
    weights = np.ones((len(xs), len(levels)), complex)
    for j in range(len(xs)):
        for i in range(len(xs)):
            if i != j:
                weights[j] *= (levels - xs[i]) / (xs[j] - xs[i])
    return used, weights


def _spread(solved: list[tuple[float, np.ndarray]]) -> list[tuple[float, np.ndarray]]:
    """Three anchors for the next predictor from solutions in order of level (the last anchors,
    then a chunk's solutions): the first, the middle one and the last of those with distinct levels."""
    distinct: list[tuple[float, np.ndarray]] = []
    for level, v in solved:
        if distinct and level - distinct[-1][0] <= 1e-12 * max(1.0, abs(level)):
            distinct[-1] = (level, v)
        else:
            distinct.append((level, v))
    if len(distinct) <= 3:
        return distinct
    return [distinct[0], distinct[len(distinct) // 2], distinct[-1]]


@njit(cache=True, nogil=True)
def _place(anchors, weights, slots, v):  # pragma: no cover
    """``v[:, slots] = anchors @ weights``: the predictor into the working set's slots."""
    n, d = anchors.shape
    for j in range(slots.shape[0]):
        slot = slots[j]
        for i in range(n):
            acc = 0j
            for a in range(d):
                acc += anchors[i, a] * weights[a, j]
            v[i, slot] = acc


@njit(cache=True, nogil=True)
def _store(v, slots, rows, keep, out):  # pragma: no cover
    """``out[rows] = v[keep][:, slots].T``: converged snapshots into the result."""
    for j in range(slots.shape[0]):
        slot, row = slots[j], rows[j]
        for i in range(keep.shape[0]):
            out[row, i] = v[keep[i], slot]
