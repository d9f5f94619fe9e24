"""Interval data: every meter's 15-minute energy (kWh) and voltage registers, recorded in bulk.

A meter measures the energy its customer draws and the voltage at the service, and closes an
*interval* on each calendar quarter hour (``interval_s``, 900 s: :00, :15, :30, :45 by the
world's clock), keeping it in its own memory until the head-end reads it
(:mod:`twin.meters.mdm`). The fleet is arrays, one entry per ``service_point`` row, and one SimPy
process (:meth:`IntervalRecorder.interval_close`) closes every meter's interval at once.

*Energy.* A territory carries one aggregated load per service transformer
(:mod:`twin.world.territory`); the load's draw at time ``t`` is its peak ``p_w`` (summed over its
phases, W) times ``world.load_model.scale(t)`` (the class profile, the season and cold-load
pickup, :mod:`twin.world.loads`; 1 without a load model). The model keeps the transformer's
total, not each customer's peak, so a customer's share of its load is its class's median
coincident peak (:data:`CLASS_PEAK_W`: the territory's 2.8 kW residential, 6 kW commercial,
15 kW industrial) over the sum of those of the load's customers; a customer with no load
records nothing. The meter integrates ``share * p_w * scale(t)`` over the time it has power, so
a customer out for half an interval records the energy of the half it had: the fleet keeps, per
load, the running integral ``C(t) = int scale dt`` (Gauss-Legendre, 4 points on each piece
between whole hours, where the hourly profile bends; exact to ~1e-9 for the profile's straight
pieces times the pickup's exponential) and, per meter, ``C`` when its energised stretch began;
the grid's listener (``now_s, lost, back``) closes and opens stretches at the exact instant power
goes and comes, touching only those meters.

*Voltage.* The meter's voltage is the power flow's at its bus (the mean of the bus's phases, per
unit of the 120 V service base: the fleet's ``_voltages()``), in force from each solve to the
next (the world re-solves within a minute of a change and every 15 minutes). The interval's
voltage is the mean over the time the meter had power and a solution: a meter that regains power
counts from the next solve. A meter energised for part of an interval records the mean of that
part; out for the whole interval, 0. A meter that had power but no solution all interval (the
world has not solved since it began, or never re-solves) takes the voltage of the network as it
is at the close (``_voltages()`` solves it then, the only solve the meters cause).

*Storage* (:class:`IntervalStore`): kWh as float32, voltage as uint16 decivolts on the 120 V
base (0.1 V = 0.00083 pu resolution, a meter's display resolution; 0: out or no voltage), in
chunks of one calendar day (``86400 / interval_s`` intervals x meters); the chunks older than
``keep_days`` days before the newest are dropped, so memory stays at most ``(keep_days + 1) x 96
x meters x 6`` bytes at 15 minutes (1.15 GB for a million meters and one day kept; only the
intervals written occupy memory). Interval ``k`` starts ``k * interval_s`` after the calendar
midnight at or before the fleet's creation (``origin_s``, simulated seconds).

>>> from twin.world.environment import World
>>> from twin.world.territory import generate_territory
>>> from twin.meters.fleet import MeterFleet
>>> world = World(generate_territory(300, seed=2), seed=1)
>>> fleet = MeterFleet(world)
>>> world.run_to(3601.0)
>>> p = fleet.mdm.registers(np.arange(3), 0.0, 3600.0)
>>> p.start_s.tolist(), p.kwh.shape, bool((p.kwh > 0).all() and (p.v_pu > 0.9).all())
([0.0, 900.0, 1800.0, 2700.0], (4, 3), True)
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import numpy as np

from twin.grid.network import Network
from twin.grid.schema import CustomerClass

__all__ = ["CLASS_PEAK_W", "IntervalRecorder", "IntervalStore", "customer_peaks", "integrate_scale"]

CLASS_PEAK_W = {CustomerClass.residential: 2.8e3, CustomerClass.commercial: 6.0e3, CustomerClass.industrial: 15e3}
"""A customer's weight in its load's split: its class's median coincident peak (W)."""

V_BASE_V = 120.0
"""The service voltage base: a meter's voltage is stored in decivolts of it (ANSI C84.1, 120 V)."""

_NODES, _WEIGHTS = np.polynomial.legendre.leggauss(4)


def customer_peaks(net: Network) -> tuple[np.ndarray, np.ndarray]:
    """Each customer's load row (-1: none) and its share of that load's peak (W, summed over the
    load's phases): the load's peak split in proportion to :data:`CLASS_PEAK_W` of its customers."""
    sp, load = net.service_point, net.load
    n = len(sp)
    row = np.full(n, -1, np.int64)
    peak = np.zeros(n)
    if not n or not len(load):
        return row, peak
    named = np.asarray(sp["load"], dtype=object) != ""
    row[named] = load.index(np.asarray(sp["load"], dtype=object)[named])
    codes = sorted(CLASS_PEAK_W)
    weight = np.array([CLASS_PEAK_W[c] for c in codes])[np.searchsorted(codes, np.asarray(sp["cls"]))]
    weight = np.where(row >= 0, weight, 0.0)
    total = np.bincount(row[row >= 0], weights=weight[row >= 0], minlength=len(load))
    load_w = np.asarray(load["p_w"], dtype=float).reshape(len(load), -1).sum(axis=1)
    has = row >= 0
    peak[has] = load_w[row[has]] * weight[has] / total[row[has]]
    return row, peak


def integrate_scale(scale: Callable[[float], np.ndarray], t0_s: float, t1_s: float,
                    breaks_s: np.ndarray) -> np.ndarray:
    """``int_{t0}^{t1} scale(t) dt`` (s, per load): 4-point Gauss-Legendre on each piece between
    the ``breaks_s`` (where ``scale`` may bend) that fall inside."""
    inner = breaks_s[(breaks_s > t0_s) & (breaks_s < t1_s)]
    edges = np.concatenate([[t0_s], inner, [t1_s]])
    total: np.ndarray | float = 0.0
    for a, b in zip(edges[:-1], edges[1:]):
        half, mid = 0.5 * (b - a), 0.5 * (a + b)
        for x, w in zip(_NODES, _WEIGHTS):
            total = total + (w * half) * np.asarray(scale(mid + half * x), dtype=float)
    return np.asarray(total, dtype=float)


class IntervalStore:
    """The meters' interval memory: day chunks of kWh (float32) and voltage (uint16 decivolts on
    the 120 V base), the last ``keep_days`` days before the newest kept (see the module docstring)."""

    def __init__(self, n_meters: int, per_day: int, keep_days: int) -> None:
        self.n, self.per_day, self.keep_days = int(n_meters), int(per_day), int(keep_days)
        self._chunks: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        self.first_k: int | None = None  # the oldest interval held
        self.end_k: int | None = None  # one past the newest interval written

    def write(self, k: int, kwh: np.ndarray, v_dv: np.ndarray) -> None:
        """Store interval ``k`` of every meter; drop the days that fall out of the retention."""
        day, slot = divmod(int(k), self.per_day)
        if day not in self._chunks:
            self._chunks[day] = (np.zeros((self.per_day, self.n), np.float32),
                                 np.zeros((self.per_day, self.n), np.uint16))
        kwh_day, v_day = self._chunks[day]
        kwh_day[slot], v_day[slot] = kwh, v_dv
        for old in [d for d in self._chunks if d < day - self.keep_days]:
            del self._chunks[old]
        oldest = min(self._chunks) * self.per_day
        self.first_k = int(k) if self.first_k is None else max(self.first_k, oldest)
        self.end_k = int(k) + 1

    def read(self, rows: np.ndarray, k0: int, k1: int) -> tuple[np.ndarray, np.ndarray]:
        """kWh and voltage (pu, float32) of intervals ``k0 .. k1-1`` of meters ``rows``; NaN where
        not held (not yet recorded, before the first or dropped)."""
        kwh = np.full((max(0, k1 - k0), len(rows)), np.nan, np.float32)
        v_pu = np.full_like(kwh, np.nan)
        for k in range(k0, k1):
            day, slot = divmod(k, self.per_day)
            if day in self._chunks and self.first_k is not None and self.first_k <= k < self.end_k:
                kwh[k - k0] = self._chunks[day][0][slot, rows]
                v_pu[k - k0] = self._chunks[day][1][slot, rows] / np.float32(10.0 * V_BASE_V)
        return kwh, v_pu

    @property
    def nbytes(self) -> int:
        """Memory the chunks reserve (bytes; only the intervals written are touched)."""
        return sum(a.nbytes + b.nbytes for a, b in self._chunks.values())


class IntervalRecorder:
    """Every meter's energy and voltage registers over the interval in progress, closed on each
    calendar ``interval_s`` into an :class:`IntervalStore` (see the module docstring).
    ``voltages()`` gives the per-unit voltage at every meter from the world's power flow; the
    fleet calls :meth:`voltages_solved` after each solve."""

    def __init__(self, world: Any, voltages: Callable[[], np.ndarray], *, interval_s: float = 900.0,
                 keep_days: int = 1) -> None:
        self.world, self._voltages = world, voltages
        self.interval_s = float(interval_s)
        net = world.grid.net
        n = len(net.service_point)
        now = world.now
        start: datetime = world.calendar.at(now)
        into_day = (start - start.replace(hour=0, minute=0, second=0, microsecond=0)) / timedelta(seconds=1)
        self.origin_s = now - into_day  # the calendar midnight at or before now
        self._hour_s = now - (start.minute * 60 + start.second + start.microsecond / 1e6)  # a whole hour
        self.load_row, self.peak_w = customer_peaks(net)
        self._row = np.maximum(self.load_row, 0)  # index C with it; peak_w is 0 where there is no load
        self._k = int(np.floor((now - self.origin_s) / self.interval_s))  # the interval in progress
        self.store = IntervalStore(n, round(86400.0 / self.interval_s), keep_days)
        self._n_load = len(net.load)
        self._cum = np.zeros(max(1, self._n_load))  # int scale dt per load since the interval began (s)
        self._cum_s = now
        self._c_on = np.zeros(n)  # _cum when the meter's energised stretch began
        self._e_j = np.zeros(n)  # energy this interval (J)
        self._v_in = np.full(n, np.nan)  # voltage in force (pu); NaN: out or not yet solved
        self._v_t = np.full(n, now)  # since when
        self._v_acc = np.zeros(n)  # int v dt this interval (pu s)
        self._v_s = np.zeros(n)  # seconds with a voltage this interval
        world.grid.listeners.insert(0, self.power_changed)  # before the load model reacts to the change
        self.process = world.env.process(self.interval_close())

    @property
    def closed(self) -> int:
        """Intervals closed so far: every ``k`` below this one is recorded."""
        return self._k

    def start_s(self, k: int | np.ndarray) -> np.ndarray | float:
        """Start of interval ``k`` (simulated s)."""
        return self.origin_s + np.asarray(k) * self.interval_s

    # -- the registers ---------------------------------------------------------------------------

    def _scale(self, t_s: float) -> np.ndarray:
        model = self.world.load_model
        return np.ones(len(self._cum)) if model is None or not self._n_load else model.scale(t_s)

    def _advance(self, t_s: float) -> None:
        """The loads' running integral up to ``t_s``."""
        if t_s > self._cum_s:
            hours = self._hour_s + 3600.0 * np.arange(np.ceil((self._cum_s - self._hour_s) / 3600.0),
                                                      np.floor((t_s - self._hour_s) / 3600.0) + 1)
            self._cum += integrate_scale(self._scale, self._cum_s, t_s, hours)
            self._cum_s = t_s

    def _settle(self, rows: np.ndarray | slice, t_s: float) -> None:
        """The voltage integral of ``rows`` up to ``t_s``, with the voltage in force."""
        dt = t_s - self._v_t[rows]
        v = self._v_in[rows]
        known = ~np.isnan(v)
        self._v_acc[rows] += np.where(known, v * dt, 0.0)
        self._v_s[rows] += np.where(known, dt, 0.0)
        self._v_t[rows] = t_s

    def power_changed(self, now_s: float, lost: np.ndarray, back: np.ndarray) -> None:
        """Customers lost or regained power: their energised stretches end or begin now."""
        if not len(lost) and not len(back):
            return
        self._advance(now_s)
        if len(lost):
            self._e_j[lost] += self.peak_w[lost] * (self._cum[self._row[lost]] - self._c_on[lost])
            self._settle(lost, now_s)
            self._v_in[lost] = np.nan
        if len(back):
            self._c_on[back] = self._cum[self._row[back]]
            self._settle(back, now_s)
            self._v_in[back] = np.nan  # until the next solve

    def voltages_solved(self, now_s: float, v_pu: np.ndarray) -> None:
        """The power flow re-solved: ``v_pu`` per meter is in force from now."""
        self._settle(slice(None), now_s)
        on = self.world.grid.energised_customers
        self._v_in = np.where(on & (np.nan_to_num(v_pu) > 0.0), v_pu, np.nan)

    def interval_close(self):
        """Every ``interval_s``, on the calendar: all meters close their interval in one step."""
        env = self.world.env
        while True:
            yield env.timeout(max(0.0, float(self.start_s(self._k + 1)) - env.now))
            self.close()

    def close(self) -> None:
        """Close the interval in progress now: store its kWh and mean voltage, start the next."""
        now = self.world.now
        on = self.world.grid.energised_customers
        self._advance(now)
        self._e_j[on] += self.peak_w[on] * (self._cum[self._row[on]] - self._c_on[on])
        self._settle(slice(None), now)
        blind = on & (self._v_s == 0.0)  # had power, never a solution
        v_mean = np.divide(self._v_acc, self._v_s, out=np.zeros_like(self._v_acc), where=self._v_s > 0.0)
        if blind.any():
            v_now = self._voltages()  # may solve now: voltages_solved() sets the voltage in force
            v_mean[blind] = np.nan_to_num(v_now[blind])
        v_dv = np.clip(np.rint(v_mean * 10.0 * V_BASE_V), 0, np.iinfo(np.uint16).max).astype(np.uint16)
        self.store.write(self._k, (self._e_j / 3.6e6).astype(np.float32), v_dv)
        self._k += 1
        self._e_j[:] = 0.0
        self._v_acc[:] = 0.0
        self._v_s[:] = 0.0
        self._cum[:] = 0.0
        self._c_on[:] = 0.0
