"""Loads and generators as voltage-dependent current injections, vectorised over all of them.

Every load (and generator) is split into *components*: one per wye phase (phase to ground) or
per delta branch (phase to phase), each drawing current from node ``a`` to node ``b`` (``b`` is
ground for wye). A component has a rated power ``s = p + jq`` at its rated voltage ``v_base``:

* wye: ``v_rated`` for a single-phase load, ``v_rated / sqrt(3)`` for two or three phases,
  ``v_rated / 2`` for the two legs of a split-phase load (``v_rated`` is leg to leg there);
* delta: ``v_rated`` (the branch voltage).

With ``u = |v| / v_base``, the ZIP model draws ``P (z u^2 + i u + p) + jQ (...)`` (fractions
``zip_p``, ``zip_q``) inside ``[v_min_pu, v_max_pu]``. Outside, the load is an admittance
``f y_eq``, a multiple of its rated ``y_eq = conj(s) / v_base^2``, as OpenDSS (DSS C-API 0.14)
computes it: a constant-impedance load keeps ``f = 1``; a constant-current load draws, below
``v_min``, a current interpolated linearly in ``u`` from its rated current at ``v_min`` down to
``y_eq v`` at ``V_LOW_PU`` (0.5), and ``f = 1 / v_max`` above ``v_max``; every other load
(constant power, and the mixed models OpenDSS calls motor and CVR) interpolates from the
current that draws rated power at ``v_min``, and takes ``f = 1 / v_max^2`` above ``v_max``.
Below ``V_LOW_PU`` all are ``y_eq``. (OpenDSS's ZIPV model treats each part separately below
``v_min``; the ZIP fractions alone cannot tell it from the others, so mixed ZIPV loads below
``v_min`` follow the constant-power rule here.) Generators are negative constant-power loads
between 0.9 and 1.1 pu and, outside, the admittance that carries their rating at the limit
(``f = 1 / u_lim^2``, OpenDSS's generator model 1).

The solver puts an admittance ``y_lin`` of each load in Y and injects ``y_lin v - I(v)``. The best
linear stand-in for a part is its rated admittance times its slope in ``|v|`` averaged with its
slope in angle: 1 for constant impedance, 1/2 for constant current, 0 for constant power (the
current of which falls as the voltage rises). So ``y_lin = (P (z_p + i_p / 2) - jQ (z_q + i_q / 2))
/ v_base^2``; impedance parts cancel exactly and the iteration contracts fastest.

>>> import numpy as np
>>> i = zip_currents(np.array([120.0 + 0j]), np.array([1200.0 + 0j]), np.array([[0, 0, 1.0]]),
...                  np.array([[0, 0, 1.0]]), np.array([120.0]), np.array([0.9]), np.array([1.1]))
>>> float(abs(i[0]))
10.0
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from numba import njit

from twin.grid.network import Network
from twin.grid.powerflow.nodes import GROUND, SQRT3, NodeIndex, is_split, slot_mask
from twin.grid.schema import Conn

__all__ = ["Components", "build_components", "injections", "zip_currents", "GENERATOR_LIMITS_PU", "V_LOW_PU"]

GENERATOR_LIMITS_PU = (0.9, 1.1)
V_LOW_PU = 0.5
"""Below this a load is its rated admittance (OpenDSS's ``VLowpu``)."""


@dataclass(frozen=True)
class Components:
    """Load and generator components (see the module docstring); ``owner`` is the row of the load
    (or generator, where ``generator`` is true) a component belongs to."""

    a: np.ndarray  # node drawn from
    b: np.ndarray  # node returned to (GROUND for wye)
    s_va: np.ndarray  # rated complex power drawn (generators negative)
    zip_p: np.ndarray  # (m, 3)
    zip_q: np.ndarray  # (m, 3)
    v_base: np.ndarray
    v_min_pu: np.ndarray
    v_max_pu: np.ndarray
    owner: np.ndarray
    generator: np.ndarray  # bool

    @property
    def n(self) -> int:
        return len(self.a)

    @property
    def y_lin(self) -> np.ndarray:
        """The admittance the solver puts into Y for each component (see the module docstring)."""
        weight_p = self.zip_p[:, 0] + 0.5 * self.zip_p[:, 1]
        weight_q = self.zip_q[:, 0] + 0.5 * self.zip_q[:, 1]
        s = self.s_va.real * weight_p + 1j * self.s_va.imag * weight_q
        return np.where(self.generator, 0.0, np.conj(s) / self.v_base**2)

    def incidence(self, n_nodes: int) -> sp.csr_matrix:
        """``C`` (nodes x components): +1 at ``a``, -1 at ``b``; node currents are ``-C @ i``."""
        m = self.n
        rows = np.concatenate([self.a, self.b])
        cols = np.concatenate([np.arange(m), np.arange(m)])
        vals = np.concatenate([np.ones(m), -np.ones(m)])
        keep = rows != GROUND
        return sp.csr_matrix((vals[keep], (rows[keep], cols[keep])), shape=(n_nodes, m))


def zip_currents(v: np.ndarray, s_va: np.ndarray, zip_p: np.ndarray, zip_q: np.ndarray, v_base: np.ndarray,
                 v_min_pu: np.ndarray, v_max_pu: np.ndarray, v_low_pu: float = V_LOW_PU,
                 generator: np.ndarray | None = None) -> np.ndarray:
    """Current drawn by each component at its voltage ``v`` (a to b), amperes; pure.

    ``v`` and ``s_va`` are (m,) or (m, k) for k snapshots; the other arrays are per component.
    Outside ``[v_min_pu, v_max_pu]`` the load becomes an admittance (see the module docstring);
    a ``generator`` component there the admittance that carries its rating at the limit.
    (A compiled loop: the power flow calls it every iteration.)
    """
    v = np.asarray(v)
    v2 = np.ascontiguousarray(v, complex).reshape((len(v), 1) if v.ndim == 1 else v.shape)
    s_va = np.asarray(s_va)
    s2 = np.ascontiguousarray(np.broadcast_to(s_va[:, None] if s_va.ndim == 1 else s_va, v2.shape), complex)
    gen = np.zeros(len(v), bool) if generator is None else np.asarray(generator, bool)
    out = np.empty_like(v2)
    _zip_kernel(v2, s2, np.ascontiguousarray(zip_p, float), np.ascontiguousarray(zip_q, float),
                np.asarray(v_base, float), np.asarray(v_min_pu, float), np.asarray(v_max_pu, float), float(v_low_pu),
                gen, out)
    return out.reshape(np.shape(v))


def injections(v: np.ndarray, comps: Components, s_va: np.ndarray, alpha: np.ndarray, beta: np.ndarray,
               i_source: np.ndarray) -> np.ndarray:
    """The right-hand side of an iteration, (nodes, k) amperes: ``i_source + C w`` with each
    component's ``w = alpha v_c + beta conj(v_c) - i_c(v_c)`` (its linear part in the matrix,
    less its ZIP current) at node voltages ``v`` (nodes, k), one compiled pass over the components.

    ``alpha``, ``beta`` (components,): ``y_lin`` and 0 for the iteration on Y; the loads'
    derivative for a linearised Jacobian (:mod:`twin.grid.powerflow.jacobian`)."""
    c = comps
    out = np.empty(v.shape, complex)
    _injection_kernel(np.ascontiguousarray(v, complex), c.a, c.b, np.ascontiguousarray(s_va, complex),
                      c.zip_p, c.zip_q, c.v_base, c.v_min_pu, c.v_max_pu, V_LOW_PU, c.generator,
                      np.ascontiguousarray(alpha, complex), np.ascontiguousarray(beta, complex),
                      np.ascontiguousarray(i_source, complex), out)
    return out


@njit(cache=True, nogil=True, error_model="numpy")
def _zip_one(x, s, vb, lo, hi, zp, zq, generator, v_low):  # pragma: no cover
    """The ZIP current at voltage x of a component (scalars; ``zp``, ``zq`` its ZIP fractions as
    tuples) as :func:`zip_currents` defines it. In the band a constant-power part is
    ``conj(s) x / |x|^2``: no square root, no complex division."""
    xr, xi = x.real, x.imag
    mag2 = xr * xr + xi * xi
    if mag2 == 0.0:
        return 0.0j
    u2 = mag2 / (vb * vb)
    if lo * lo < u2 <= hi * hi:
        p, q = s.real * zp[2], s.imag * zq[2]
        if zp[0] != 0.0 or zp[1] != 0.0 or zq[0] != 0.0 or zq[1] != 0.0:
            u = np.sqrt(u2)
            p += s.real * (zp[0] * u2 + zp[1] * u)
            q += s.imag * (zq[0] * u2 + zq[1] * u)
        return complex((p * xr + q * xi) / mag2, (p * xi - q * xr) / mag2)  # conj(p + jq) x / |x|^2
    u = np.sqrt(u2)
    pure_i = zp[1] == 1.0 and zq[1] == 1.0
    if generator:
        f = 1.0 / (hi * hi) if u > hi else 1.0 / (lo * lo)
    elif u <= v_low or (zp[0] == 1.0 and zq[0] == 1.0):
        f = 1.0
    elif u > hi:
        f = 1.0 / hi if pure_i else 1.0 / (hi * hi)
    elif pure_i:
        f = (v_low + (1.0 - v_low) * (u - v_low) / (lo - v_low)) / u
    else:
        f = (v_low + (1.0 / lo - v_low) * (u - v_low) / (lo - v_low)) / u
    return np.conj(s) / (vb * vb) * f * x


@njit(cache=True, nogil=True, error_model="numpy")
def _zip_kernel(v, s, zip_p, zip_q, v_base, v_min, v_max, v_low, generator, out):  # pragma: no cover
    m, k = v.shape
    for j in range(m):
        vb, lo, hi, gen = v_base[j], v_min[j], v_max[j], generator[j]
        zp, zq = (zip_p[j, 0], zip_p[j, 1], zip_p[j, 2]), (zip_q[j, 0], zip_q[j, 1], zip_q[j, 2])
        for c in range(k):
            out[j, c] = _zip_one(v[j, c], s[j, c], vb, lo, hi, zp, zq, gen, v_low)


@njit(cache=True, nogil=True, error_model="numpy")
def _injection_kernel(v, a, b, s, zip_p, zip_q, v_base, v_min, v_max, v_low, generator, alpha, beta, i_source,
                      out):  # pragma: no cover
    n, k = v.shape
    for i in range(n):
        for c in range(k):
            out[i, c] = i_source[i]
    for j in range(a.shape[0]):
        na, nb = a[j], b[j]
        vb, lo, hi, gen = v_base[j], v_min[j], v_max[j], generator[j]
        zp, zq = (zip_p[j, 0], zip_p[j, 1], zip_p[j, 2]), (zip_q[j, 0], zip_q[j, 1], zip_q[j, 2])
        aj, bj = alpha[j], beta[j]
        for c in range(k):
            x = v[na, c] - (v[nb, c] if nb >= 0 else 0j)
            w = aj * x + bj * np.conj(x) - _zip_one(x, s[j, c], vb, lo, hi, zp, zq, gen, v_low)
            out[na, c] += w
            if nb >= 0:
                out[nb, c] -= w


def build_components(net: Network, nodes: NodeIndex, live: np.ndarray) -> Components:
    """Components of the loads and in-service generators on live buses."""
    load, gen = net.load, net.generator
    parts = []
    if len(load):
        rows = net.bus.index(load["bus"])
        s = load["p_w"] + 1j * load["q_var"]
        parts.append(_split(rows, load["phases"], load["conn"], load["v_rated_v"], s, False, load["zip_p"],
                            load["zip_q"], load["v_min_pu"], load["v_max_pu"], live, nodes))
    if len(gen):
        rows = net.bus.index(gen["bus"])
        mask = slot_mask(gen["phases"])
        delta = gen["conn"] == Conn.delta
        n_slots = np.where(delta, _branch_mask(mask).sum(axis=1), mask.sum(axis=1))
        per = -(gen["p_w"] + 1j * gen["q_var"]) / np.maximum(n_slots, 1)
        s = np.where(np.where(delta[:, None], _branch_mask(mask), mask), per[:, None], 0.0)
        n = len(gen)
        pq = np.tile([0.0, 0.0, 1.0], (n, 1))
        lo, hi = GENERATOR_LIMITS_PU
        ok = gen["in_service"]
        parts.append(_split(rows[ok], gen["phases"][ok], gen["conn"][ok], gen["v_rated_v"][ok], s[ok], True,
                            pq[ok], pq[ok], np.full(ok.sum(), lo), np.full(ok.sum(), hi), live, nodes,
                            owner=np.flatnonzero(ok)))
    if not parts:
        z = np.zeros(0)
        return Components(z.astype(np.int64), z.astype(np.int64), z.astype(complex), np.zeros((0, 3)),
                          np.zeros((0, 3)), z, z, z, z.astype(np.int64), z.astype(bool))
    return Components(*[np.concatenate([getattr(p, f) for p in parts]) for f in Components.__dataclass_fields__])


def _branch_mask(mask: np.ndarray) -> np.ndarray:
    """Delta branches (AB, BC, CA) whose two slots are both present."""
    return mask & np.roll(mask, -1, axis=1)


def _split(rows, phases, conn, v_rated, s, generator, zip_p, zip_q, v_min, v_max, live, nodes,
           owner=None) -> Components:
    """One component per used slot (wye) or branch (delta) of each element on a live bus."""
    phases = np.asarray(phases, np.int64)
    mask = slot_mask(phases)
    delta = np.asarray(conn) == Conn.delta
    n_ph = mask.sum(axis=1)
    split = is_split(phases)
    v_wye = np.where(n_ph == 1, v_rated, np.where(split, v_rated / 2.0, v_rated / SQRT3))
    base = np.where(delta, v_rated, v_wye)
    used = np.where(delta[:, None], _branch_mask(mask), mask) & live[rows][:, None]
    k, slot = np.nonzero(used)
    r = rows[k]
    a = nodes.of[r, slot]
    b = np.where(delta[k], nodes.of[r, (slot + 1) % 3], GROUND)
    fed = (a != GROUND) & (~delta[k] | (b != GROUND))  # a conductor no source feeds carries no load
    k, slot, a, b = k[fed], slot[fed], a[fed], b[fed]
    owner = np.arange(len(rows)) if owner is None else owner
    return Components(a=a, b=b, s_va=s[k, slot], zip_p=np.asarray(zip_p, float)[k],
                      zip_q=np.asarray(zip_q, float)[k], v_base=base[k], v_min_pu=np.asarray(v_min, float)[k],
                      v_max_pu=np.asarray(v_max, float)[k], owner=owner[k],
                      generator=np.full(len(k), generator))
