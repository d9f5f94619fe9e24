"""Low-voltage (brown-out) exception alarms of the meters, in bulk.

A meter watches its service voltage and raises a *low-voltage* exception when it stays below
``low_voltage_pu`` (0.917 pu of 120 V = 110 V, the lower limit of ANSI C84.1 range B at the
service) for ``low_voltage_persist_s`` (300 s: a motor start or a reclose dip is no brown-out)
while it has power; once in alarm it sends *voltage normal* when the voltage is back at or above
the threshold plus ``low_voltage_hysteresis_pu`` (0.008 pu, about 1 V, so that a voltage sitting
on the threshold does not chatter). Both go through the same mesh and head-end queue as last
gasps (reaching it with probability ``p_exception``, 0.98: the meter has power to retry).

The world's voltages change only when the power flow re-solves, so the watch is evaluated after
each solve (the fleet hands it the voltages of every solve, :class:`~twin.world.events.EventKind`
``solve``) and the voltage in force between solves is that solution's: a meter low at a solve
starts its persistence clock then; a later solve that finds it at or above the threshold, or a
loss of power, stops the clock; a clock that runs ``low_voltage_persist_s`` raises the alarm at
that exact time (one SimPy process per solve that started clocks, never one per meter). Taking
the 15-minute interval step instead would delay an alarm by up to 15 minutes and miss a sag
that ends between steps. A meter without power sends no low-voltage alarm (it sends a last gasp),
and its alarm state is dropped: a power-restore message supersedes it.

>>> import numpy as np
>>> watch = LowVoltageWatch(3, threshold_pu=0.917, hysteresis_pu=0.008)
>>> watch.solved(10.0, np.array([0.90, 0.93, 0.91]), np.array([True, True, False]))
array([0])
>>> watch.due(10.0), watch.raise_due(10.0), watch.solved(400.0, np.array([0.92, 0.93, 0.9]), np.ones(3, bool))
(array([0]), array([0]), array([2]))
>>> watch.normal
array([], dtype=int64)
>>> _ = watch.solved(500.0, np.array([0.926, 0.93, 0.9]), np.ones(3, bool)); watch.normal
array([0])
"""

from __future__ import annotations

import numpy as np

__all__ = ["LowVoltageWatch"]


class LowVoltageWatch:
    """The low-voltage state of ``n`` meters: since when each is below the threshold (``low_since``,
    NaN: not), and which are in alarm (``alarmed``). Pure bookkeeping: the fleet sends the messages
    and runs the persistence clocks."""

    def __init__(self, n: int, *, threshold_pu: float, hysteresis_pu: float) -> None:
        self.threshold_pu, self.hysteresis_pu = float(threshold_pu), float(hysteresis_pu)
        self.low_since = np.full(n, np.nan)
        self.alarmed = np.zeros(n, dtype=bool)
        self.normal = np.zeros(0, np.int64)  # meters back to normal at the last solve

    def solved(self, now_s: float, v_pu: np.ndarray, energised: np.ndarray) -> np.ndarray:
        """The voltages of a new solve (NaN: no solution for the meter): returns the meters whose
        persistence clock starts now; :attr:`normal` holds those whose alarm ends now."""
        known = energised & ~np.isnan(v_pu) & (np.nan_to_num(v_pu) > 0.0)
        v = np.where(known, v_pu, np.inf)
        low = known & (v < self.threshold_pu)
        self.low_since[~low & ~self.alarmed & known] = np.nan  # back above the threshold: the clock stops
        self.low_since[~energised] = np.nan
        start = np.flatnonzero(low & ~self.alarmed & np.isnan(self.low_since))
        self.low_since[start] = now_s
        normal = self.alarmed & known & (v >= self.threshold_pu + self.hysteresis_pu)
        self.normal = np.flatnonzero(normal)
        self.alarmed[self.normal] = False
        return start

    def due(self, since_s: float) -> np.ndarray:
        """Meters whose clock started at ``since_s`` and still runs."""
        return np.flatnonzero(self.low_since == since_s)

    def raise_due(self, since_s: float) -> np.ndarray:
        """The clocks started at ``since_s`` have run their time: those meters are in alarm now."""
        rows = self.due(since_s)
        self.alarmed[rows] = True
        self.low_since[rows] = np.nan
        return rows

    def power_lost(self, rows: np.ndarray) -> None:
        """Meters without power: no clock, no alarm (a last gasp tells it)."""
        self.low_since[rows] = np.nan
        self.alarmed[rows] = False
