"""Fault currents from a Thevenin equivalent: pure functions over stacks of buses.

A fault joins some of a bus's nodes (its *faulted* phases) at a common point, each through the
fault resistance ``r_fault_ohm``; the common point is grounded (SLG, LLG, three-phase to
ground) or floats (LL, three-phase ungrounded). With the bus's open-circuit voltages ``v`` and
short-circuit impedance matrix ``z`` (:mod:`twin.grid.shortcircuit.thevenin`), the currents into
the fault ``i`` on the faulted nodes solve

    (z_F + r I) i + v_f 1 = v_F        grounded: v_f = 0;  floating: 1^T i = 0,

the post-fault node voltages being ``v - z i``. Everything is in the phase domain: unbalanced
networks, single- and two-phase buses and mutual coupling need no symmetrical components.

>>> import numpy as np
>>> z = np.array([[[2.0 + 4j, 0.5 + 1j], [0.5 + 1j, 2.0 + 4j]]])  # one two-phase bus, ohms
>>> v = np.array([[7200.0 + 0j, 7200.0 * np.exp(-2j * np.pi / 3)]])
>>> round(float(abs(slg(z, v, 0)[0])), 1)  # 7200 V / |2 + 4j| ohm
1610.0
"""

from __future__ import annotations

import enum
from itertools import combinations

import numpy as np

__all__ = ["STUDY_OHM", "FaultType", "fault_currents", "ll", "slg", "worst"]


class FaultType(enum.IntEnum):
    """Kinds of short circuit at a bus."""

    three_phase = 0  # all the bus's phases together and to ground (OpenDSS's fault study '3-phase')
    slg = 1  # one phase to ground
    ll = 2  # two phases together
    llg = 3  # two phases together and to ground
    three_phase_ungrounded = 4  # all the bus's phases together, not to ground


GROUNDED = {FaultType.three_phase: True, FaultType.slg: True, FaultType.ll: False, FaultType.llg: True,
            FaultType.three_phase_ungrounded: False}
"""Whether a fault type's common point is grounded."""


def fault_currents(z: np.ndarray, v: np.ndarray, faulted: np.ndarray, *, grounded: bool,
                   r_fault_ohm: float = 0.0) -> np.ndarray:
    """Currents (amperes, into the fault) on each bus's faulted slots: ``z`` (B, 3, 3) ohms,
    ``v`` (B, 3) volts, ``faulted`` (B, 3) bool (the same count of slots on every bus of the
    stack); returns (B, 3) complex, 0 off the faulted slots."""
    b = len(z)
    out = np.zeros((b, 3), complex)
    if not b:
        return out
    m = int(faulted[0].sum())
    slot = np.nonzero(faulted)[1].reshape(b, m)
    zf = np.take_along_axis(np.take_along_axis(z, slot[:, :, None], axis=1), slot[:, None, :], axis=2)
    zf = zf + r_fault_ohm * np.eye(m)
    vf = np.take_along_axis(v, slot, axis=1)
    if grounded:
        i = np.linalg.solve(zf, vf[:, :, None])[:, :, 0]
    else:  # bordered: [[z_F + rI, 1], [1^T, 0]] [i; v_f] = [v_F; 0]
        a = np.zeros((b, m + 1, m + 1), complex)
        a[:, :m, :m] = zf
        a[:, :m, m] = 1.0
        a[:, m, :m] = 1.0
        rhs = np.concatenate([vf, np.zeros((b, 1))], axis=1)
        i = np.linalg.solve(a, rhs[:, :, None])[:, :m, 0]
    np.put_along_axis(out, slot, i, axis=1)
    return out


def slg(z: np.ndarray, v: np.ndarray, slot: int, r_fault_ohm: float = 0.0) -> np.ndarray:
    """Single line-to-ground fault current on ``slot`` of each bus (B,): ``v / (z + r)``."""
    return v[:, slot] / (z[:, slot, slot] + r_fault_ohm)


def ll(z: np.ndarray, v: np.ndarray, a: int, b: int, r_fault_ohm: float = 0.0) -> np.ndarray:
    """Line-to-line fault current (out of slot ``a``, into ``b``) of each bus (B,)."""
    return (v[:, a] - v[:, b]) / (z[:, a, a] + z[:, b, b] - z[:, a, b] - z[:, b, a] + 2.0 * r_fault_ohm)


STUDY_OHM = 1e-4
"""The fault resistance of OpenDSS's fault-study single line-to-ground and line-to-line figures
(its 10,000 S fault conductance; the three-phase figure is bolted), ohms."""


def worst(z: np.ndarray, v: np.ndarray, live: np.ndarray, *, r_3ph_ohm: float = 0.0, r_slg_ohm: float = STUDY_OHM,
          r_ll_ohm: float = STUDY_OHM) -> dict[str, np.ndarray]:
    """OpenDSS's fault-study figures per bus (amperes, (B,)): ``i3ph`` the largest phase current
    with all live slots to ground through ``r_3ph_ohm`` each, ``islg`` the largest single
    line-to-ground current over the slots through ``r_slg_ohm``, ``ill`` the largest
    line-to-line current over the pairs through ``r_ll_ohm`` between them (0 with one phase)."""
    b = len(z)
    n_live = live.sum(axis=1)
    i3ph = np.zeros(b)
    for m in (1, 2, 3):
        rows = np.flatnonzero(n_live == m)
        if len(rows):
            i = fault_currents(z[rows], v[rows], live[rows], grounded=True, r_fault_ohm=r_3ph_ohm)
            i3ph[rows] = np.abs(i).max(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        islg = np.zeros(b)
        for s in range(3):
            on = live[:, s]
            islg[on] = np.maximum(islg[on], np.abs(slg(z[on], v[on], s, r_slg_ohm)))
        ill = np.zeros(b)
        for a, c in combinations(range(3), 2):
            on = live[:, a] & live[:, c]
            ill[on] = np.maximum(ill[on], np.abs(ll(z[on], v[on], a, c, r_ll_ohm / 2.0)))
    return {"i3ph": i3ph, "islg": islg, "ill": ill}
