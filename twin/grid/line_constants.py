"""Line constants: series impedance and shunt susceptance matrices from conductor data.

The method is W. H. Kersting's, *Distribution System Modeling and Analysis* (chapter 4 for
series impedance, chapter 5 for shunt admittance), at 60 Hz over earth of resistivity
100 ohm-m, with the rounded constants the book prints; its examples are the tests
(``tests/grid/test_line_constants.py``).

Units
-----
Inputs keep the units of the published formulas and conductor tables
(:mod:`twin.grid.conductors`): positions, GMR and radii in feet, diameters in inches, resistance
in ohm per mile. Outputs are in the engine's units: complex series impedance ``z`` in ohm/m
(``z.real`` resistance, ``z.imag`` reactance) and shunt susceptance ``b`` in S/m, the shunt
admittance being ``1j * b``. ``MILE_M`` converts back to the book's ohm/mile when comparing.

Representation
--------------
A construction is ``n`` wires: the phase conductors first, then the neutrals (or concentric
neutrals). Each wire has a position ``(x, y)`` in feet: ``x`` across, ``y`` the height above
ground. Results are ``n_phases x n_phases`` matrices whose rows and columns follow the phase
wires in the order given; the neutrals are grounded at every pole, so their voltage is zero and
they disappear by Kron reduction.

Series impedance: the modified Carson equations
-----------------------------------------------
The self impedance of wire ``i`` and the mutual impedance of wires ``i`` and ``j``, both with
earth return, are Kersting's "modified Carson's equations" (chapter 4)::

    z_ii = r_i + 0.09530 + j 0.12134 (ln(1 / GMR_i) + 7.93402)   ohm/mile
    z_ij =       0.09530 + j 0.12134 (ln(1 / D_ij)  + 7.93402)   ohm/mile

with ``GMR_i`` and the distance ``D_ij`` in feet. The constants are Carson's earth-return terms
at f = 60 Hz and rho = 100 ohm-m: 0.09530 = 0.00158836 f, 0.12134 = 0.00202237 f and
7.93402 = 7.6786 + 0.5 ln(rho / f); in SI the first two are ``pi^2 f 1e-7`` ohm/m (earth
resistance, ``omega mu0 / 8``) and ``mu0 f`` ohm/m per unit of ``ln``. The ``n x n``
*primitive* matrix, partitioned into phases ``p`` and neutrals ``n``, is Kron-reduced to the
*phase impedance matrix*::

    z_abc = z_pp - z_pn z_nn^-1 z_np

Shunt susceptance: potential coefficients
-----------------------------------------
Over the earth plane each wire has an image as far below ground as the wire is above it
(chapter 5, overhead lines)::

    P_ii = 11.17689 ln(S_ii / RD_i),   P_ij = 11.17689 ln(S_ij / D_ij)   mile/uF

``S_ij`` is the distance from wire ``i`` to the image of wire ``j``, ``RD_i`` the radius of
wire ``i`` (ft). ``P`` is Kron-reduced like ``z``, ``C = P^-1`` (uF/mile) and
``b = 2 pi 60 C = 376.9911 C`` uS/mile.

Concentric-neutral cables
-------------------------
The ``k`` strands of a cable's neutral become one equivalent conductor on the circle of radius
``R`` through their centres (chapter 4, concentric neutral cables)::

    R = (d_od - d_s) / 24  ft,   GMR_cn = (GMR_s k R^(k-1))^(1/k),   r_cn = r_s / k

Phase to its own neutral is ``R`` apart, neutral to neutral and phase to phase the centre
spacing ``D_nm``, and a phase to another cable's neutral ``(D_nm^k - R^k)^(1/k)``. The
electric field stays inside each cable's neutral, so the susceptance is diagonal (chapter 5)::

    b = 77.3619 / (ln(R / RD_c) - ln(k RD_s / R) / k)   uS/mile

with ``RD_c`` and ``RD_s`` the radii of the phase conductor and of one strand (ft); 77.3619 is
``2 pi epsilon omega`` for cross-linked polyethylene insulation.

Limits: the frequency and earth resistivity are fixed (the rounded constants are the book's,
so its examples come out digit for digit); tape-shielded cables are not covered.

Example
-------
Kersting's example 4.1, a 336,400 26/7 ACSR three-phase line with a 4/0 6/1 ACSR neutral on
spacing ID-500:

>>> from twin.grid.conductors import ACSR_336_400, ACSR_4_0
>>> xy_ft = [(0.0, 29.0), (2.5, 29.0), (7.0, 29.0), (4.0, 25.0)]  # a, b, c, neutral
>>> wires = [ACSR_336_400] * 3 + [ACSR_4_0]
>>> z = overhead_impedance(xy_ft, [w.gmr_ft for w in wires], [w.r_ohm_per_mile for w in wires],
...                        n_phases=3)
>>> z.shape
(3, 3)
>>> [round(float(v), 4) for v in (z[0, 0].real * MILE_M, z[0, 0].imag * MILE_M)]
[0.4576, 1.078]
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike

from twin.grid.conductors import ConcentricNeutralCable, Conductor

__all__ = [
    "MILE_M",
    "kron_reduce",
    "primitive_impedance",
    "overhead_impedance",
    "overhead_susceptance",
    "concentric_neutral_impedance",
    "concentric_neutral_susceptance",
    "triplex_impedance",
    "sequence_impedance_matrix",
    "sequence_impedances",
]

MILE_M = 1609.344
"""Metres in a statute mile: the book's ohm/mile over this is ohm/m."""

_CARSON_R = 0.09530  # earth-return resistance, ohm/mile
_CARSON_X = 0.12134  # ohm/mile per unit of ln(1/D)
_CARSON_LN = 7.93402  # 7.6786 + 0.5 ln(rho / f) at 100 ohm-m and 60 Hz
_P_COEFF = 11.17689  # mile/uF per unit of ln(S/D)
_OMEGA = 376.9911  # 2 pi 60, rad/s
_CN_COEFF = 77.3619  # 2 pi epsilon omega, cross-linked polyethylene (relative permittivity 2.3), uS/mile


def kron_reduce(m: ArrayLike, n_phases: int) -> np.ndarray:
    """Eliminate the grounded conductors after the first ``n_phases`` rows and columns.

    ``m`` is a primitive matrix (impedances or potential coefficients) ordered phases first;
    the result is ``m_pp - m_pn m_nn^-1 m_np``, in the units of ``m``.

    >>> kron_reduce([[2.0, 1.0], [1.0, 4.0]], 1)
    array([[1.75]])
    """
    m = np.asarray(m)
    if m.ndim != 2 or m.shape[0] != m.shape[1]:
        raise ValueError(f"a primitive matrix is square, not of shape {m.shape}")
    if not 1 <= n_phases <= m.shape[0]:
        raise ValueError(f"n_phases={n_phases} is not within 1..{m.shape[0]}")
    n = n_phases
    if n == m.shape[0]:
        return m.copy()
    return m[:n, :n] - m[:n, n:] @ np.linalg.solve(m[n:, n:], m[n:, :n])


def primitive_impedance(xy_ft: ArrayLike, gmr_ft: ArrayLike, r_ohm_per_mile: ArrayLike) -> np.ndarray:
    """The ``n x n`` primitive impedance matrix (complex, ohm/m) of ``n`` overhead wires.

    ``xy_ft`` holds one ``(x, y)`` position per wire (ft); ``gmr_ft`` and ``r_ohm_per_mile``
    one value per wire. Keep it when the neutrals are to stay in the model; otherwise
    :func:`overhead_impedance` reduces them.
    """
    return _per_m(_primitive_per_mile(xy_ft, gmr_ft, r_ohm_per_mile))


def overhead_impedance(xy_ft: ArrayLike, gmr_ft: ArrayLike, r_ohm_per_mile: ArrayLike, *,
                       n_phases: int) -> np.ndarray:
    """Phase impedance matrix (complex, ``n_phases x n_phases``, ohm/m) of an overhead line.

    The wires are given phases first; those after the first ``n_phases`` are grounded neutrals,
    Kron-reduced away (none when ``n_phases`` is the number of wires).
    """
    return _per_m(kron_reduce(_primitive_per_mile(xy_ft, gmr_ft, r_ohm_per_mile), n_phases))


def overhead_susceptance(xy_ft: ArrayLike, diameter_in: ArrayLike, *, n_phases: int) -> np.ndarray:
    """Shunt susceptance matrix (``n_phases x n_phases``, S/m) of an overhead line.

    ``xy_ft`` holds one ``(x, y)`` position per wire, ``y`` the height above ground (ft), and
    ``diameter_in`` one diameter per wire (in); wires after the first ``n_phases`` are grounded
    neutrals. Off-diagonal terms are negative.
    """
    xy = _positions(xy_ft)
    diameter_in = _per_wire(diameter_in, len(xy), "diameter_in")
    dx = xy[:, None, 0] - xy[None, :, 0]
    image = np.hypot(dx, xy[:, None, 1] + xy[None, :, 1])
    direct = np.hypot(dx, xy[:, None, 1] - xy[None, :, 1])
    np.fill_diagonal(direct, diameter_in / 24.0)
    p = _P_COEFF * np.log(image / direct)
    b_us_per_mile = _OMEGA * np.linalg.inv(kron_reduce(p, n_phases))
    return b_us_per_mile * 1e-6 / MILE_M


def concentric_neutral_impedance(x_ft: ArrayLike, cable: ConcentricNeutralCable) -> np.ndarray:
    """Phase impedance matrix (complex, ``n x n``, ohm/m) of ``n`` identical concentric-neutral cables.

    The cables lie side by side at one depth, their centres at ``x_ft`` (ft); each neutral is
    grounded and Kron-reduced away.
    """
    x_ft = np.asarray(x_ft, dtype=float)
    if x_ft.ndim != 1 or len(x_ft) == 0:
        raise ValueError(f"x_ft holds one position per cable, not shape {x_ft.shape}")
    n, k = len(x_ft), cable.strands
    phase, strand = cable.phase, cable.strand
    radius = (cable.outside_diameter_in - strand.diameter_in) / 24.0
    gmr_cn = (strand.gmr_ft * k * radius ** (k - 1)) ** (1.0 / k)
    x = np.concatenate([x_ft, x_ft])
    d = np.abs(x[:, None] - x[None, :])
    apart = d[:n, n:] > 0
    d[:n, n:] = np.where(apart, (np.where(apart, d[:n, n:], 2 * radius) ** k - radius**k) ** (1.0 / k), radius)
    d[n:, :n] = d[:n, n:].T
    np.fill_diagonal(d, [phase.gmr_ft] * n + [gmr_cn] * n)
    z = _CARSON_R + _CARSON_X * 1j * (np.log(1.0 / d) + _CARSON_LN)
    z[np.diag_indices(2 * n)] += [phase.r_ohm_per_mile] * n + [strand.r_ohm_per_mile / k] * n
    return _per_m(kron_reduce(z, n))


def concentric_neutral_susceptance(cable: ConcentricNeutralCable, *, n_phases: int) -> np.ndarray:
    """Shunt susceptance matrix (``n_phases x n_phases``, S/m, diagonal) of identical cables."""
    k, strand = cable.strands, cable.strand
    radius = (cable.outside_diameter_in - strand.diameter_in) / 24.0
    b_us_per_mile = _CN_COEFF / (math.log(radius / (cable.phase.diameter_in / 24.0))
                                 - math.log(k * (strand.diameter_in / 24.0) / radius) / k)
    return np.eye(n_phases) * b_us_per_mile * 1e-6 / MILE_M


def triplex_impedance(leg: Conductor, neutral: Conductor, *, insulation_in: float) -> np.ndarray:
    """Impedance matrix (complex, 2 x 2, ohm/m) of a triplex secondary: legs 1 and 2, neutral reduced.

    Two insulated legs and a bare neutral are twisted together, touching: the legs are
    ``d_leg + 2 T`` apart and each leg ``(d_leg + d_neutral) / 2 + T`` from the neutral, with
    ``T = insulation_in``; the Carson-and-Kron treatment is the overhead line's. Its shunt
    capacitance is negligible at secondary voltage.
    """
    d12 = (leg.diameter_in + 2 * insulation_in) / 12.0
    d1n = ((leg.diameter_in + neutral.diameter_in) / 2 + insulation_in) / 12.0
    xy = [(0.0, 0.0), (d12, 0.0), (d12 / 2, math.sqrt(d1n**2 - (d12 / 2) ** 2))]
    wires = (leg, leg, neutral)
    return overhead_impedance(xy, [w.gmr_ft for w in wires], [w.r_ohm_per_mile for w in wires], n_phases=2)


def sequence_impedance_matrix(z_abc: ArrayLike) -> np.ndarray:
    """Sequence impedance matrix ``z_012 = A^-1 z_abc A`` of a three-phase line, in ``z_abc``'s units.

    ``A = [[1, 1, 1], [1, a^2, a], [1, a, a^2]]`` with ``a = exp(j 2 pi / 3)`` (Kersting,
    chapter 4, sequence impedances). Off-diagonal terms show the coupling an untransposed line leaves between the
    sequences.
    """
    z = np.asarray(z_abc)
    if z.shape != (3, 3):
        raise ValueError(f"sequence impedances need a 3 x 3 phase matrix, not shape {z.shape}")
    a = np.exp(2j * np.pi / 3)
    transform = np.array([[1, 1, 1], [1, a * a, a], [1, a, a * a]])
    return np.linalg.solve(transform, z @ transform)


def sequence_impedances(z_abc: ArrayLike) -> tuple[complex, complex]:
    """``(z0, z1)`` of the line transposed, in ``z_abc``'s units.

    With ``z_s`` the mean of the diagonal and ``z_m`` the mean of the off-diagonal terms,
    ``z0 = z_s + 2 z_m`` and ``z1 = z2 = z_s - z_m``: the diagonal of
    :func:`sequence_impedance_matrix`, which transposition leaves alone.
    """
    z = np.asarray(z_abc)
    if z.shape != (3, 3):
        raise ValueError(f"sequence impedances need a 3 x 3 phase matrix, not shape {z.shape}")
    self_z = np.trace(z) / 3
    mutual = (z.sum() - np.trace(z)) / 6
    return complex(self_z + 2 * mutual), complex(self_z - mutual)


def _primitive_per_mile(xy_ft: ArrayLike, gmr_ft: ArrayLike, r_ohm_per_mile: ArrayLike) -> np.ndarray:
    xy = _positions(xy_ft)
    gmr_ft = _per_wire(gmr_ft, len(xy), "gmr_ft")
    r_ohm_per_mile = _per_wire(r_ohm_per_mile, len(xy), "r_ohm_per_mile")
    d = np.hypot(xy[:, None, 0] - xy[None, :, 0], xy[:, None, 1] - xy[None, :, 1])
    np.fill_diagonal(d, gmr_ft)
    z = _CARSON_R + _CARSON_X * 1j * (np.log(1.0 / d) + _CARSON_LN)
    z[np.diag_indices(len(xy))] += r_ohm_per_mile
    return z


def _per_m(z_ohm_per_mile: np.ndarray) -> np.ndarray:
    """ohm/mile to ohm/m, real and imaginary parts divided apart (exactly as real numbers would be)."""
    out = np.empty(z_ohm_per_mile.shape, dtype=complex)
    out.real = z_ohm_per_mile.real / MILE_M
    out.imag = z_ohm_per_mile.imag / MILE_M
    return out


def _positions(xy_ft: ArrayLike) -> np.ndarray:
    xy = np.asarray(xy_ft, dtype=float)
    if xy.ndim != 2 or xy.shape[1] != 2 or len(xy) == 0:
        raise ValueError(f"xy_ft holds one (x, y) per wire, not shape {xy.shape}")
    return xy


def _per_wire(values: ArrayLike, n: int, name: str) -> np.ndarray:
    out = np.asarray(values, dtype=float)
    if out.shape != (n,):
        raise ValueError(f"{name} holds one value per wire ({n}), not shape {out.shape}")
    return out
