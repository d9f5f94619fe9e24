"""Line codes: OpenDSS ``LineCode`` objects replayed, and the rows of Twin's ``line_code`` table.

A code is either sequence data (r1, x1, r0, x0, c1, c0, or b1, b0 in uS) or matrices (rmatrix,
xmatrix, cmatrix); whichever is given last wins, as in OpenDSS. Sequence data become matrices::

    Zs = (2 Z1 + Z0) / 3 on the diagonal,  Zm = (Z0 - Z1) / 3 off it

``kron=yes`` reduces the matrices by their neutral (the last conductor, or ``neutral=``).

Rows are stored compactly in ohm/m and S/m (b = 2 pi f C): a code's n x n matrix fills the top-left
of the 3 x 3 and row k belongs to the k-th phase of the line in ascending slot order. Lines that
need another form of a code get a variant row (see :mod:`twin.grid.opendss.lines`).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np

from twin.grid.line_constants import kron_reduce
from twin.grid.opendss import rpn
from twin.grid.opendss.script import DssObject, Setting
from twin.grid.opendss.values import UNITS_M, at, keyword, length_unit, num, whole
from twin.grid.schema import LineKind

__all__ = ["SEQ_DEFAULT", "SEQ_INDEX", "LineCode", "Matrices", "code_row", "line_kind", "linecode_state", "nf_from_us", "pad",
           "seq_matrices", "with_defaults"]

Matrices = tuple[np.ndarray, np.ndarray, np.ndarray]
"""R, X and C of n conductors, n x n each."""

SEQ_DEFAULT = (0.058, 0.1206, 0.1784, 0.4047, 3.4, 1.6)  # r1 x1 r0 x0 ohm/unit, c1 c0 nF/unit
SEQ_INDEX = {"r1": 0, "x1": 1, "r0": 2, "x0": 3, "c1": 4, "c0": 5}


def seq_matrices(seq: Iterable[float], n: int, *, line: bool = True) -> Matrices:
    """R, X and C (nF) per unit length from sequence data.

    A 1-phase *line* takes the positive sequence; a LineCode object applies the 3-phase formula
    even to one phase (OpenDSS does both; it matters for the default C of matrix codes).
    """
    r1, x1, r0, x0, c1, c0 = seq
    if n == 1 and line:
        return np.array([[r1]]), np.array([[x1]]), np.array([[c1]])
    eye, off = np.eye(n), 1.0 - np.eye(n)
    return ((2 * r1 + r0) / 3 * eye + (r0 - r1) / 3 * off, (2 * x1 + x0) / 3 * eye + (x0 - x1) / 3 * off,
            (2 * c1 + c0) / 3 * eye + (c0 - c1) / 3 * off)


def with_defaults(mats: dict[str, np.ndarray], defaults: Matrices) -> Matrices:
    """The R, X, C matrices given (keys ``r``, ``x``, ``c``), the defaults for those not given."""
    return tuple(mats.get(k, d) for k, d in zip("rxc", defaults))  # type: ignore[return-value]


def nf_from_us(b_us: float, freq: float) -> float:
    """Capacitance in nF of a susceptance in uS."""
    return b_us / (2 * math.pi * freq) * 1e3


def line_kind(s: Setting) -> LineKind | None:
    """The kind a ``linetype=`` gives: underground for ``ug...``, else none (overhead)."""
    return LineKind.underground if keyword(s).startswith("ug") else None


def _kron(m: np.ndarray, k: int) -> np.ndarray:
    """``m`` with conductor ``k`` (a grounded neutral anywhere in the order) eliminated."""
    order = [i for i in range(len(m)) if i != k] + [k]
    return kron_reduce(m[np.ix_(order, order)], len(m) - 1)


@dataclass
class LineCode:
    """A LineCode's assignments replayed: sequence data or matrices (``is_matrix``), per ``units``."""

    obj: DssObject
    n: int = 3
    seq: list[float] = field(default_factory=lambda: list(SEQ_DEFAULT))
    mats: dict[str, np.ndarray] = field(default_factory=dict)
    is_matrix: bool = False
    units: str | None = None
    freq: float | None = None
    normamps: float = 400.0
    emergamps: float = 600.0
    kind: LineKind | None = None

    def matrices(self, n: int) -> Matrices:
        """R, X (ohm/unit) and C (nF/unit) with ``n`` phases (sequence codes adapt to any n)."""
        if not self.is_matrix:
            return seq_matrices(self.seq, n)
        return with_defaults(self.mats, seq_matrices(self.seq, self.n, line=False))

    def row(self, code_id: str, n: int, unit: str, order: list[int] | None, base_freq: float) -> dict:
        """This code's ``line_code`` row for ``n`` phases, per ``unit``, its phases in ``order``."""
        return code_row(code_id, n, self.matrices(n), unit=unit, freq=self.freq or base_freq,
                        rated_a=self.normamps, emerg_a=self.emergamps, order=order)


def linecode_state(obj: DssObject) -> LineCode:
    """A LineCode's assignments replayed."""
    code = LineCode(obj)
    kron, neutral = False, None
    for s in obj.settings:
        with at(obj, s):
            p = s.prop
            if p == "nphases":
                n = whole(s)
                if n < 1:
                    raise ValueError("a line code needs at least one phase")
                if n != code.n:
                    code.n, code.mats, code.is_matrix = n, {}, False
            elif p in SEQ_INDEX:
                code.seq[SEQ_INDEX[p]] = num(s)
                code.is_matrix = False
            elif p in ("b1", "b0"):
                code.seq[4 if p == "b1" else 5] = nf_from_us(num(s), code.freq or 60.0)
                code.is_matrix = False
            elif p in ("rmatrix", "xmatrix", "cmatrix"):
                code.mats[p[0]] = rpn.matrix(s.text, code.n)
                code.is_matrix = True
            elif p == "units":
                code.units = length_unit(s)
            elif p == "basefreq":
                code.freq = num(s)
            elif p == "normamps":
                code.normamps = num(s)
            elif p == "emergamps":
                code.emergamps = num(s)
            elif p == "linetype":
                code.kind = line_kind(s)
            elif p == "kron":
                kron = rpn.boolean(s.text)
            elif p == "neutral":
                neutral = whole(s)
    if kron and code.is_matrix and code.n > 1:
        with at(obj):
            k = (neutral or code.n) - 1
            r, x, c = code.matrices(code.n)
            z = _kron(r + 1j * x, k)
            c_red = np.linalg.inv(_kron(np.linalg.inv(c), k)) if np.any(c) else np.zeros_like(z.real)
            code.mats, code.n = {"r": z.real, "x": z.imag, "c": c_red}, code.n - 1
    return code


def code_row(code_id: str, n: int, matrices: Matrices, *, unit: str, freq: float, rated_a: float, emerg_a: float,
             order: list[int] | None) -> dict:
    """A ``line_code`` row from R, X (ohm/unit) and C (nF/unit), rows and columns taken in ``order``."""
    r, x, c = matrices
    if order is not None:
        r, x, c = (m[np.ix_(order, order)] for m in (r, x, c))
    per_m = 1.0 / UNITS_M[unit]
    return {
        "id": code_id, "n_phases": n, "r_ohm_per_m": pad(r * per_m), "x_ohm_per_m": pad(x * per_m),
        "b_s_per_m": pad(c * 1e-9 * 2 * math.pi * freq * per_m), "rated_a": rated_a, "emerg_a": emerg_a,
    }


def pad(m: np.ndarray) -> np.ndarray:
    """An n x n matrix in the top-left of a 3 x 3 of zeros."""
    out = np.zeros((3, 3))
    n = min(len(m), 3)
    out[:n, :n] = m[:n, :n]
    return out
