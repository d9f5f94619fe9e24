"""Power quality of node voltages: ANSI C84.1 ranges, voltage unbalance, violations over time.

Pure functions over voltage arrays, so they serve a single power-flow result, a time series of
them, and measured AMI voltages alike.

ANSI C84.1 service voltage ranges, on the nominal (120 V) base:

=========  ==================  ======================
range      limits (pu)         on 120 V
=========  ==================  ======================
A          0.95 - 1.05         114 - 126 V: normal operation
B          0.9167 - 1.0583     110 - 127 V: infrequent, corrective action needed
=========  ==================  ======================

Voltage unbalance, for three-phase buses only:

* NEMA MG-1 (the line voltage unbalance rate): the largest deviation of a line-to-line voltage
  magnitude from the mean of the three, in percent of that mean.
* IEC 61000-4-30 (the voltage unbalance factor): negative- over positive-sequence voltage, percent.

>>> v = np.array([[1.0, np.exp(-2j * np.pi / 3), np.exp(2j * np.pi / 3)]])
>>> float(unbalance_iec_pct(v)[0]) < 1e-12, ansi_range(np.array([1.0, 0.94, 0.9, 0.0])).tolist()
(True, [0, 1, 2, -1])
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = [
    "RANGE_A",
    "RANGE_B",
    "ansi_range",
    "unbalance_nema_pct",
    "unbalance_iec_pct",
    "ViolationStats",
    "violations_over_time",
]

RANGE_A = (114.0 / 120.0, 126.0 / 120.0)
RANGE_B = (110.0 / 120.0, 127.0 / 120.0)

_A = np.exp(2j * np.pi / 3)


def ansi_range(v_pu: np.ndarray, *, range_a: tuple[float, float] = RANGE_A,
               range_b: tuple[float, float] = RANGE_B) -> np.ndarray:
    """Per value: 0 within range A, 1 outside A but within B, 2 outside B, -1 de-energised (0 or NaN)."""
    v = np.asarray(v_pu, dtype=float)
    eps = 1e-9  # the limits are inclusive: 126 V / 120 V is within range A despite rounding

    def inside(lim: tuple[float, float]) -> np.ndarray:
        return (v >= lim[0] - eps) & (v <= lim[1] + eps)

    out = np.where(inside(range_a), 0, np.where(inside(range_b), 1, 2))
    return np.where(np.isnan(v) | (v <= 0.0), -1, out).astype(np.int8)


def _line_voltages(v_phase: np.ndarray) -> np.ndarray:
    """Line-to-line phasors AB, BC, CA of phase-to-neutral phasors with a trailing axis of 3."""
    return v_phase - np.roll(v_phase, -1, axis=-1)


def unbalance_nema_pct(v_phase: np.ndarray) -> np.ndarray:
    """NEMA line voltage unbalance rate (percent) of phase phasors shaped ``(..., 3)``; NaN where dead."""
    mag = np.abs(_line_voltages(np.asarray(v_phase, dtype=complex)))
    mean = mag.mean(axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = 100.0 * np.abs(mag - mean[..., None]).max(axis=-1) / mean
    return np.where(mean > 0, out, np.nan)


def unbalance_iec_pct(v_phase: np.ndarray) -> np.ndarray:
    """IEC voltage unbalance factor |V2| / |V1| (percent) of phase phasors ``(..., 3)``; NaN where dead."""
    v = np.asarray(v_phase, dtype=complex)
    v1 = (v[..., 0] + _A * v[..., 1] + _A**2 * v[..., 2]) / 3.0
    v2 = (v[..., 0] + _A**2 * v[..., 1] + _A * v[..., 2]) / 3.0
    with np.errstate(invalid="ignore", divide="ignore"):
        out = 100.0 * np.abs(v2) / np.abs(v1)
    return np.where(np.abs(v1) > 0, out, np.nan)


@dataclass(frozen=True)
class ViolationStats:
    """Violations per node over a time series: how many times a node left a range (``*_events``)
    and how long it stayed out (``*_s``, seconds); time de-energised is counted apart."""

    outside_a_events: np.ndarray
    outside_a_s: np.ndarray
    outside_b_events: np.ndarray
    outside_b_s: np.ndarray
    dead_s: np.ndarray

    def by_group(self, group: np.ndarray) -> dict[str, dict[str, float]]:
        """Sum the node statistics over groups (a feeder id or bus id per node)."""
        out: dict[str, dict[str, float]] = {}
        keys, inverse = np.unique(np.asarray(group).astype(str), return_inverse=True)
        for name in ("outside_a_events", "outside_a_s", "outside_b_events", "outside_b_s", "dead_s"):
            sums = np.bincount(inverse, weights=getattr(self, name), minlength=len(keys))
            for k, total in zip(keys.tolist(), sums.tolist()):
                out.setdefault(k, {})[name] = total
        return out


def violations_over_time(v_pu: np.ndarray, dt_s: float | np.ndarray, *,
                         range_a: tuple[float, float] = RANGE_A,
                         range_b: tuple[float, float] = RANGE_B) -> ViolationStats:
    """Count and time range A and B violations of ``v_pu`` shaped ``(steps, nodes)``; each step
    lasts ``dt_s`` seconds (a scalar or one per step). An event is a step that is out of range
    when the step before it (or the start) was not."""
    v = np.atleast_2d(np.asarray(v_pu, dtype=float))
    dt = np.broadcast_to(np.asarray(dt_s, dtype=float), (v.shape[0],))[:, None]
    band = ansi_range(v, range_a=range_a, range_b=range_b)
    out_a = band >= 1
    out_b = band == 2

    def events(mask: np.ndarray) -> np.ndarray:
        started = mask & ~np.vstack([np.zeros((1, mask.shape[1]), bool), mask[:-1]])
        return started.sum(axis=0).astype(np.int64)

    return ViolationStats(
        outside_a_events=events(out_a),
        outside_a_s=(out_a * dt).sum(axis=0),
        outside_b_events=events(out_b),
        outside_b_s=(out_b * dt).sum(axis=0),
        dead_s=((band == -1) * dt).sum(axis=0),
    )
