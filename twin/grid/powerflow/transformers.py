"""Transformers in the phase domain: OpenDSS's per-unit winding model, expanded onto the nodes.

The short-circuit impedances between windings (``r_pct`` of both windings plus ``x_hl_pct``,
``x_ht_pct``, ``x_lt_pct``), on winding 1's rating per phase and a one-volt base, form the
(n-1) x (n-1) matrix ``ZB`` (winding 1 against each other winding; the off-diagonal of a
three-winding unit from the three pairs). ``A' ZB^-1 A``, with ``A = [-1 | I]``, is the one-volt
admittance of the n windings; the magnetising branch (``no_load_loss_pct`` and ``imag_pct`` on the
rating) is put on winding 2. Each winding is then scaled by its turns ``V_base * tap`` (``V_base``:
the winding's own voltage, line-to-line over sqrt(3) for a wye winding of a multi-phase unit) onto
its two ends, and a 1 ppm susceptance on every end keeps floating (delta) sides non-singular.

Ends go to nodes by connection: a wye winding from its phase to the neutral (grounded: ground;
ungrounded: an internal node); a delta winding of phase i to phase i+1, or to i-1 when the
high-voltage winding of a delta-wye unit is the delta (the ANSI 30 degree lag of the low side);
a single-phase winding between its two conductors (or phase and ground); a centre tap's windings
2 and 3 from leg 1 to neutral and from neutral to leg 2 (120/240 V service).

>>> import numpy as np
>>> y = transformer_primitive(np.array([7200.0, 240.0]), np.array([1.0, 1.0]), 25e3, np.array([0.5, 0.5]),
...                           np.array([2.0, 0.0, 0.0]), ppm=0.0)
>>> y.shape, bool(np.allclose(y, y.T))
((4, 4), True)
"""

from __future__ import annotations

import numpy as np

from twin.grid.network import Network
from twin.grid.powerflow.nodes import GROUND, SQRT3, NodeIndex, slot_mask
from twin.grid.powerflow.ybus import Entries, branch_entries, concat
from twin.grid.schema import Conn, TransformerKind

__all__ = ["PPM_ANTIFLOAT", "transformer_entries", "transformer_primitive"]

PPM_ANTIFLOAT = 1e-6
"""Anti-float susceptance of each winding end, per unit of the winding's rated admittance (OpenDSS)."""


def transformer_primitive(v_base: np.ndarray, tap: np.ndarray, va_phase: float, r_pct: np.ndarray,
                          x_pct: np.ndarray, no_load_pct: float = 0.0, imag_pct: float = 0.0,
                          ppm: float = PPM_ANTIFLOAT) -> np.ndarray:
    """Admittance (siemens) between the 2 nw winding ends (end 1, end 2 of each winding) of one phase.

    ``v_base`` winding voltages (volts across the winding), ``tap`` per unit taps, ``va_phase`` the
    rating per phase of winding 1, ``r_pct`` winding resistances and ``x_pct`` the reactances
    (x12, x13, x23) in percent on that base.
    """
    nw = len(v_base)
    zbase = 1.0 / va_phase  # ohms on a one-volt base
    zsc = [(r_pct[0] + r_pct[k]) / 100.0 + 1j * x_pct[k - 1] / 100.0 for k in range(1, nw)]
    zb = np.diag(zsc).astype(complex) * zbase
    if nw == 3:
        z23 = (r_pct[1] + r_pct[2]) / 100.0 + 1j * x_pct[2] / 100.0
        zb[0, 1] = zb[1, 0] = 0.5 * (zb[0, 0] + zb[1, 1] - z23 * zbase)
    a = np.hstack([-np.ones((nw - 1, 1)), np.eye(nw - 1)])
    y1 = a.T @ np.linalg.inv(zb) @ a
    y1[1, 1] += (no_load_pct - 1j * imag_pct) / 100.0 / zbase
    turns = np.asarray(v_base) * np.asarray(tap)
    m = np.zeros((nw, 2 * nw))
    m[np.arange(nw), 2 * np.arange(nw)] = 1.0 / turns
    m[np.arange(nw), 2 * np.arange(nw) + 1] = -1.0 / turns
    y = m.T @ y1 @ m
    y_ppm = -ppm * va_phase / np.asarray(v_base) ** 2 / 2.0
    y[np.diag_indices(2 * nw)] += 1j * np.repeat(y_ppm, 2)
    return y


def transformer_entries(net: Network, nodes: NodeIndex, live: np.ndarray, first_extra: int) -> Entries:
    """Every transformer whose buses are live; internal neutrals numbered from ``first_extra``.

    Single-phase and centre-tap units (the many service transformers) are expanded together,
    three-phase units one by one; units of one design share one primitive.
    """
    xf, bus = net.transformer, net.bus
    if not len(xf):
        return Entries.empty()
    n_w = xf["n_windings"].astype(np.int64)
    rows = np.full((len(xf), 3), -1, dtype=np.int64)
    for w in range(3):
        has = n_w > w
        rows[has, w] = bus.index(xf["bus"][has, w])
    on = np.all((rows < 0) | live[np.maximum(rows, 0)], axis=1)
    three = xf["kind"] == TransformerKind.three_phase
    parts, extra = _three_phase(xf, nodes, rows, np.flatnonzero(on & three), first_extra)
    for nw in (2, 3):
        units = np.flatnonzero(on & ~three & (n_w == nw))
        if len(units):
            parts.append(_single_phase(xf, nodes, rows, units, nw))
    out = concat(parts)
    return Entries(out.rows, out.cols, out.values, extra - first_extra, out.flows)


def _single_phase(xf, nodes: NodeIndex, rows: np.ndarray, units: np.ndarray, nw: int) -> Entries:
    """Single-phase units of ``nw`` windings: each winding between its first and second conductor
    (or ground); a centre tap's winding 3 from ground (neutral) to its leg."""
    masks = slot_mask(xf["phases"][units, :nw])  # (m, nw, 3)
    first = np.argmax(masks, axis=2)
    last = 2 - np.argmax(masks[:, :, ::-1], axis=2)
    two = masks.sum(axis=2) > 1
    at = rows[units, :nw]
    end1 = nodes.of[at, first]
    end2 = np.where(two, nodes.of[at, last], GROUND)
    if nw == 3:
        tap = xf["kind"][units] == TransformerKind.center_tap
        end1[tap, 2], end2[tap, 2] = GROUND, nodes.of[at[tap, 2], first[tap, 2]]
    ends = np.stack([end1, end2], axis=2).reshape(len(units), 2 * nw)
    prims = _primitives(xf, units, nw, xf["v_rated_v"][units, :nw], np.ones(len(units)))
    return branch_entries(ends, prims, "transformer", units, np.repeat(np.arange(nw), 2))


def _primitives(xf, units: np.ndarray, nw: int, v_base: np.ndarray, n_phases: np.ndarray) -> np.ndarray:
    """Primitive of each unit (m, 2 nw, 2 nw), computed once per distinct design."""
    design = np.column_stack([
        v_base, xf["tap_pu"][units, :nw], xf["s_rated_va"][units, 0] / n_phases, xf["r_pct"][units, :nw],
        xf["x_hl_pct"][units], xf["x_ht_pct"][units], xf["x_lt_pct"][units], xf["no_load_loss_pct"][units],
        xf["imag_pct"][units],
    ])
    kinds, which = np.unique(design, axis=0, return_inverse=True)
    distinct = np.stack([
        transformer_primitive(d[:nw], d[nw:2 * nw], d[2 * nw], d[2 * nw + 1:3 * nw + 1], d[3 * nw + 1:3 * nw + 4],
                              d[3 * nw + 4], d[3 * nw + 5])
        for d in kinds
    ])
    return distinct[which.ravel()]


def _three_phase(xf, nodes: NodeIndex, rows: np.ndarray, units: np.ndarray,
                 extra: int) -> tuple[list[Entries], int]:
    """Three-phase units, one by one (wye, ungrounded wye with an internal neutral node, delta)."""
    masks = slot_mask(xf["phases"])
    parts = []
    for k in units:
        nw = int(xf["n_windings"][k])
        conns = xf["conn"][k, :nw].astype(np.int64)
        slots = [np.flatnonzero(masks[k, w]) for w in range(nw)]
        v_rated = xf["v_rated_v"][k, :nw]
        nph = len(slots[0])
        v_base = np.where((conns != Conn.delta) & (nph > 1), v_rated / SQRT3, v_rated)
        direction = _delta_direction(conns, v_rated)
        ends = np.full((nph, 2 * nw), GROUND, dtype=np.int64)
        for w in range(nw):
            of = nodes.of[rows[k, w]]
            ends[:, 2 * w] = of[slots[w][:nph]]
            if conns[w] == Conn.delta:
                ends[:, 2 * w + 1] = of[slots[w][(np.arange(nph) + direction) % nph]]
            elif conns[w] == Conn.wye_ungrounded:
                ends[:, 2 * w + 1] = extra
                extra += 1
        prim = _primitives(xf, np.array([k]), nw, v_base[None, :], np.array([nph]))[0]
        parts.append(branch_entries(ends, np.broadcast_to(prim, (nph, 2 * nw, 2 * nw)), "transformer",
                                    np.full(nph, k), np.repeat(np.arange(nw), 2)))
    return parts, extra


def _delta_direction(conns: np.ndarray, v_rated: np.ndarray) -> int:
    """+1: a delta winding's phase i ends on phase i+1; -1: on phase i-1 (OpenDSS, ANSI lag)."""
    delta = conns[:2] == Conn.delta
    if delta[0] == delta[1]:
        return 1
    hv = 0 if v_rated[0] >= v_rated[1] else 1
    return -1 if delta[hv] else 1
