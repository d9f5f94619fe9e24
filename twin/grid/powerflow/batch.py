"""Many load snapshots in one call: continuation in the load level.

A year of hourly snapshots is 8,760 power flows of one network that differ only in their loads.
Solved one by one, each starts from a rough guess and iterates on a matrix that knows nothing
of the loads. Solved together they start close, because their solutions lie on a curve in the
load *level* (the mean of a snapshot's load multipliers), and they share the work of each
sparse solve:

1. the snapshots are put in order of level; a *working set* of :data:`CHUNK` of them is
   advanced together, one sparse solve per step serving all their right-hand sides;
2. a snapshot enters the set from a *predictor*: the quadratic through three solutions already
   found, spread over the last few dozen levels, evaluated at its level. Between two levels the
   curve bends where a load crosses its ``v_min_pu`` or ``v_max_pu`` (the ZIP model's kinks), so
   the predictor is 1e-7 to 1e-5 pu off on the IEEE 8500 feeder, not the 1e-11 a smooth curve
   would give;
3. the *corrector* is Newton's method with a Jacobian held fixed
   (:mod:`twin.grid.powerflow.jacobian`), one per band of :data:`BATCH_LEVELS` levels, taken at
   the predictor of the first snapshot to reach that band (so at a solution to within the
   predictor's error): about three steps a snapshot;
4. a snapshot whose change is below the tolerance leaves the set and the next one in order takes
   its slot, so that every solve serves a full set; one working set runs per core, each over its
   own range of levels (the compiled kernels release the GIL), and the result does not depend on
   how the threads interleave.

The answer is the same fixed point as a single solve's, to the same tolerance; a snapshot whose
Newton steps do not converge in ``max_iter`` is handed to the plain iteration, which converges
or raises :class:`~twin.errors.NotConverged` naming the bus. Short batches (fewer than
:data:`BATCH_LINEARISED` snapshots) do not repay a Jacobian's factorisation: they are solved in
chunks of neighbours from the same predictor, iterating on Y. Memory: the result (``nodes=``
keeps only the nodes asked for), one Jacobian and one working set per core.

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
from twin.grid.powerflow.solver import BatchResult, PreparedNetwork, _iterate_safely, _max_change

__all__ = ["BATCH_LINEARISED", "CHUNK", "solve_batch"]

CHUNK = 32
"""Snapshots solved together (a working set's width): one sparse solve serves them all, and its
cost per right-hand side falls with the width (IEEE 8500: 0.39 ms for one, 0.07 ms each for 32);
wider sets start further from the solutions their predictor rests on."""

BATCH_LINEARISED = 32
"""Batches of at least this many snapshots are corrected with linearised Jacobians (a
factorisation per load level, repaid over many snapshots); shorter ones iterate on Y."""

BATCH_LEVELS = 40
"""Bands per rated load that share a Jacobian in a batch (0.025 apart): finer than a prepared
network's levels (:data:`~twin.grid.powerflow.solver.LEVELS`), since a long batch repays a
factorisation every few hundred snapshots (IEEE 8500 year: 2.98 steps a snapshot at 40 bands,
3.22 at 20, for 16 factorisations of 20 ms)."""

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
        _max_change(lin.lu.solve_interleaved(rhs, share=False), v, prep.base_v, change, True)  # and v <- the step
        slot_it += 1
        live = slot_row >= 0
        done = np.flatnonzero(live & (change < tol))
        stuck = np.flatnonzero(live & ~(change < tol) & (slot_it >= max_iter))  # NaN too: a step that diverged
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
