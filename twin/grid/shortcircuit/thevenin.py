"""The network seen from each bus during a fault: Thevenin impedances and open-circuit voltages.

A fault at bus b sees the rest of the network as its Thevenin equivalent at b's nodes: the
open-circuit (pre-fault) voltages ``Voc`` and the short-circuit impedance matrix ``Zsc``, the
block of ``Z = Y^-1`` on b's nodes. ``Y`` is the fault-study matrix, as OpenDSS's fault study
builds it: the network (lines with their shunt capacitance, switches, transformers), the
sources' Thevenin impedances, closed capacitors, and every load as its rated admittance
``conj(s) / v_rated^2`` (generators, inverter-based, contribute nothing). ``Voc`` is the power
flow's voltages (OpenDSS's fault study takes its last solution) or, *flat*, the solution of that
linear network.

Every bus's ``Zsc`` comes from one factorisation, without a solve per bus: the entries of
``Z`` on the sparsity pattern of the LU factors (which holds every bus's block: a bus's nodes are
coupled) follow from the factors alone by the Takahashi recurrences (Erisman and Tinney, 1975),
from the last pivot back, in about as many operations as the factors have entries squared per
column. For that the factorisation keeps a symmetric ordering and no row pivoting (``Y`` is
complex symmetric and strongly diagonal; where SuperLU would need to pivot, the study falls
back to a solve per bus).

Units: ohms, volts, amperes; nodes are :class:`~twin.grid.powerflow.nodes.NodeIndex` numbers.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp
from numba import njit
from scipy.sparse.linalg import splu

from twin.grid.powerflow.factor import Factor
from twin.grid.powerflow.solver import PreparedNetwork

__all__ = ["Thevenin", "thevenin"]


@dataclass(frozen=True, eq=False)
class Thevenin:
    """Per bus (rows of the network's bus table): its nodes (B, 3; -1 where a slot has no live
    node), ``z`` the short-circuit impedance matrices (B, 3, 3) ohms (NaN off the live slots)
    and ``v`` the open-circuit voltages (B, 3) volts (0 off them); with the matrix factored
    for post-fault voltages anywhere (:meth:`voltage_change`)."""

    prep: PreparedNetwork
    nodes: np.ndarray
    z: np.ndarray
    v: np.ndarray
    y: sp.csc_matrix  # the fault-study matrix
    v_nodes: np.ndarray  # pre-fault voltage of every node (n,), volts
    _factor: dict = field(default_factory=dict, repr=False)

    @property
    def lu(self) -> Factor:
        """The fault-study matrix factored (on first use: a study of every bus needs none)."""
        if "lu" not in self._factor:
            self._factor["lu"] = Factor(self.y)
        return self._factor["lu"]

    def voltage_change(self, nodes: np.ndarray, currents: np.ndarray) -> np.ndarray:
        """Change of every node's voltage (n,) when ``currents`` (amperes) leave the network at
        ``nodes`` (into the fault): ``-Z[:, nodes] @ currents``."""
        injection = np.zeros(self.prep.n, complex)
        np.add.at(injection, nodes, -np.asarray(currents, complex))
        return self.lu.solve(injection)


def fault_matrix(prep: PreparedNetwork) -> sp.csc_matrix:
    """The fault-study Y: the power flow's, each load's linear part replaced by its rated
    admittance (see the module docstring)."""
    c = prep.comps
    y_rated = np.where(c.generator, 0.0, np.conj(c.s_va) / c.v_base**2)
    return sp.csc_matrix(prep.y + prep.incidence @ sp.diags(y_rated - c.y_lin) @ prep.incidence.T)


def thevenin(prep: PreparedNetwork, *, v_prefault: np.ndarray | None = None) -> Thevenin:
    """The Thevenin equivalent at every bus of a prepared network; ``v_prefault`` (n,) volts,
    e.g. a power flow's node voltages, else the flat (linear) pre-fault voltages."""
    y = fault_matrix(prep)
    factor = {} if v_prefault is not None else {"lu": Factor(y)}
    v = factor["lu"].solve(prep.i_source) if v_prefault is None else np.asarray(v_prefault, complex)
    of = prep.nodes.of  # (buses, 3) node per slot, -1 where none
    z = _bus_blocks(y, of)
    live = of >= 0
    v_bus = np.where(live, v[np.where(live, of, 0)], 0.0)
    return Thevenin(prep=prep, nodes=of, z=z, v=v_bus, y=y, v_nodes=v, _factor=factor)


def _bus_blocks(y: sp.csc_matrix, of: np.ndarray) -> np.ndarray:
    """``Z`` on each bus's nodes (B, 3, 3), by selected inversion, or a solve per bus where
    the factorisation had to pivot or a block lies off the pattern."""
    n = y.shape[0]
    z = np.full((len(of), 3, 3), np.nan + 0j)
    if n == 0:
        return z
    lu = splu(y, permc_spec="MMD_AT_PLUS_A", diag_pivot_thresh=0.0, options={"SymmetricMode": True})
    q = lu.perm_c.astype(np.int64)
    missing = np.ones(len(of), bool)
    if np.array_equal(lu.perm_r, lu.perm_c):
        ptr, idx, l_val, u_val, inv_d = _pattern(lu.L, lu.U)
        zd = np.empty(n, complex)
        z_low = np.empty(len(idx), complex)
        z_up = np.empty(len(idx), complex)
        _takahashi(ptr, idx, l_val, u_val, inv_d, zd, z_low, z_up)
        perm_of = np.where(of >= 0, q[np.where(of >= 0, of, 0)], -1)
        found = np.zeros(len(of), bool)
        _gather_blocks(perm_of, ptr, idx, zd, z_low, z_up, z, found)
        missing = ~found
    if missing.any():
        factor = Factor(y)
        for b in np.flatnonzero(missing & (of >= 0).any(axis=1)):
            slots = np.flatnonzero(of[b] >= 0)
            rhs = np.zeros((n, len(slots)), complex)
            rhs[of[b, slots], np.arange(len(slots))] = 1.0
            z[b][np.ix_(slots, slots)] = factor.solve(rhs)[of[b, slots]]
    return z


def _pattern(lower: sp.spmatrix, upper: sp.spmatrix) -> tuple[np.ndarray, ...]:
    """The union of the structures of strict L (by columns) and strict U (by rows, as the
    columns of its transpose), every stored entry counted (SuperLU's symbolic pattern, which
    the recurrences need closed), sorted; L's values, U's values over its diagonal
    (``U = D (I + U~)``) and ``1 / D``."""
    n = lower.shape[0]
    lo, up = sp.coo_matrix(lower), sp.coo_matrix(upper)
    d = np.zeros(n, complex)
    on = up.row == up.col
    d[up.row[on]] = up.data[on]
    in_l = lo.row > lo.col
    in_u = up.col > up.row
    l_rows, l_cols, l_data = lo.row[in_l], lo.col[in_l], lo.data[in_l].astype(complex)
    u_rows, u_cols = up.col[in_u], up.row[in_u]  # U~[j, k] stored at (k, j): column j, row k
    u_data = up.data[in_u].astype(complex) / d[up.row[in_u]]
    rows, cols = np.concatenate([l_rows, u_rows]), np.concatenate([l_cols, u_cols])
    union = sp.csc_matrix((np.ones(len(rows), np.int8), (rows, cols)), shape=(n, n))
    union.sum_duplicates()
    union.sort_indices()
    ptr, idx = union.indptr.astype(np.int64), union.indices.astype(np.int64)
    l_val, u_val = np.zeros(len(idx), complex), np.zeros(len(idx), complex)
    _place(ptr, idx, l_rows.astype(np.int64), l_cols.astype(np.int64), l_data, l_val)
    _place(ptr, idx, u_rows.astype(np.int64), u_cols.astype(np.int64), u_data, u_val)
    return ptr, idx, l_val, u_val, 1.0 / d


@njit(cache=True)
def _place(ptr, idx, rows, cols, values, out):  # pragma: no cover
    """Values at (row, col) onto their positions in the pattern."""
    for e in range(len(rows)):
        out[_find(ptr, idx, cols[e], rows[e])] += values[e]


@njit(cache=True, inline="always")
def _find(ptr, idx, col, row):  # pragma: no cover
    """Position of ``row`` in column ``col`` of the pattern, -1 if absent (binary search)."""
    lo, hi = ptr[col], ptr[col + 1]
    while lo < hi:
        mid = (lo + hi) // 2
        if idx[mid] < row:
            lo = mid + 1
        else:
            hi = mid
    return lo if lo < ptr[col + 1] and idx[lo] == row else -1


@njit(cache=True, inline="always")
def _entry(i, k, ptr, idx, zd, z_low, z_up):  # pragma: no cover
    """Z[i, k] from what the recurrences stored (NaN off the pattern)."""
    if i == k:
        return zd[i]
    if i > k:
        p = _find(ptr, idx, k, i)
        return z_low[p] if p >= 0 else np.nan + 0j
    p = _find(ptr, idx, i, k)
    return z_up[p] if p >= 0 else np.nan + 0j


@njit(cache=True)
def _takahashi(ptr, idx, l_val, u_val, inv_d, zd, z_low, z_up):  # pragma: no cover
    """The entries of ``Z = (L D (I + U~))^-1`` on the pattern, last pivot first:
    ``Z_ij = -sum_k Z_ik L_kj`` (i > j), ``Z_ji = -sum_k U~_jk Z_ki`` (i > j),
    ``Z_jj = 1 / d_j - sum_k U~_jk Z_kj``, k over column j's pattern."""
    n = len(ptr) - 1
    for j in range(n - 1, -1, -1):
        a, b = ptr[j], ptr[j + 1]
        for pi in range(a, b):
            i = idx[pi]
            low = 0j
            up = 0j
            for pk in range(a, b):
                k = idx[pk]
                low += _entry(i, k, ptr, idx, zd, z_low, z_up) * l_val[pk]
                up += u_val[pk] * _entry(k, i, ptr, idx, zd, z_low, z_up)
            z_low[pi] = -low
            z_up[pi] = -up
        diag = inv_d[j]
        for pk in range(a, b):
            diag -= u_val[pk] * z_low[pk]
        zd[j] = diag


@njit(cache=True)
def _gather_blocks(perm_of, ptr, idx, zd, z_low, z_up, z, found):  # pragma: no cover
    """Each bus's 3x3 block from the stored entries (permuted node numbers in ``perm_of``)."""
    for b in range(perm_of.shape[0]):
        ok = True
        for s in range(3):
            if perm_of[b, s] < 0:
                continue
            for t in range(3):
                if perm_of[b, t] < 0:
                    continue
                value = _entry(perm_of[b, s], perm_of[b, t], ptr, idx, zd, z_low, z_up)
                if value != value:  # NaN: off the pattern
                    ok = False
                z[b, s, t] = value
        found[b] = ok
