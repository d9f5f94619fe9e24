"""The meter data management system (MDM): load profiles as the head-end collects them, late.

The meters keep their intervals (:mod:`twin.meters.intervals`); the AMI head-end reads them in
*collection cycles*, every ``collect_every_s`` (4 h) on the calendar from midnight (00:00, 04:00,
...). A cycle reads each meter once, at a random moment within ``collect_window_s`` (1 h: a
mesh carries a million meters' registers over an hour, not at once) after the cycle begins; the
read returns every interval the meter had closed by then and lands in the MDM at that moment.
A meter takes part in a cycle when, at its start, it is reachable (:meth:`MeterFleet.set_comms`)
and has power (a meter without power has no radio), and its read succeeds with probability
``p_collect`` (0.995); losing power or communications before its read cancels it. A meter missed
delivers nothing until a later cycle reads it: then its stored intervals are *backfilled*, all of
them, as a real meter's memory allows. The figures are representative, not a utility's own.

What the MDM has received is, per meter, a prefix of its intervals (``_got``: intervals below it
are in), so the store is not copied: :meth:`MeterDataManagement.load_profile` reads the meters'
store through that mask, NaN where not received yet. Memory is the store's (a few days, see
:class:`~twin.meters.intervals.IntervalStore`) plus three numbers per meter.

Every draw comes from ``world.streams("mdm")``.

>>> from twin.world.environment import World
>>> from twin.world.territory import generate_territory
>>> from twin.meters.fleet import MeterFleet
>>> world = World(generate_territory(300, seed=2), seed=1)
>>> fleet = MeterFleet(world)
>>> world.run_to(4 * 3600.0)  # the first cycle begins at 04:00
>>> bool(np.isnan(fleet.mdm.load_profile(np.arange(300), 0.0, 3600.0).kwh).all())
True
>>> world.run_to(5 * 3600.0)  # its reads have landed: 00:00 to 04:00, 16 intervals
>>> p = fleet.mdm.load_profile(np.arange(300), 0.0, 4 * 3600.0, by="feeder")
>>> int(np.isnan(p.kwh).any(axis=0).sum()), p.group.tolist(), p.group_kwh.shape  # 5 reads failed
(5, ['S01-F1-BKR', 'S01-F2-BKR'], (16, 2))
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from twin.meters.intervals import IntervalRecorder
from twin.world.events import EventKind

__all__ = ["LoadProfile", "MdmParameters", "MeterDataManagement"]


@dataclass(frozen=True)
class MdmParameters:
    """How the head-end collects interval data (representative defaults; see the module docstring)."""

    collect_every_s: float = 4 * 3600.0  # a collection cycle begins this often, on the calendar from midnight
    collect_window_s: float = 3600.0  # each meter is read at a uniform random moment this long after
    p_collect: float = 0.995  # a reachable, energised meter's read succeeds

    def __post_init__(self) -> None:
        if not self.collect_every_s > 0.0:
            raise ValueError(f"MdmParameters.collect_every_s = {self.collect_every_s}: more than 0")
        if not 0.0 <= self.collect_window_s <= self.collect_every_s:
            raise ValueError(f"MdmParameters.collect_window_s = {self.collect_window_s}: 0 to collect_every_s "
                             f"({self.collect_every_s}), a cycle ends before the next begins")
        if not 0.0 <= self.p_collect <= 1.0:
            raise ValueError(f"MdmParameters.p_collect = {self.p_collect}: a probability, 0 to 1")


@dataclass(frozen=True)
class LoadProfile:
    """Interval data of meters ``rows`` (service_point rows): ``start_s`` [k] the intervals' starts
    (simulated s), ``kwh`` [k, m] energy, ``v_pu`` [k, m] mean voltage over the interval's
    energised time (per unit of 120 V; 0: out all interval), both float32 and NaN where not
    received; with ``by``, ``group`` [g] the transformer or feeder ids of the meters and
    ``group_kwh`` [k, g] their meters' sum (NaN where one of them is not received)."""

    start_s: np.ndarray
    rows: np.ndarray
    kwh: np.ndarray
    v_pu: np.ndarray
    group: np.ndarray
    group_kwh: np.ndarray


class MeterDataManagement:
    """The MDM and the head-end's collection cycles over a fleet's interval store (see the module
    docstring); ``reachable`` is the fleet's array (read, not copied)."""

    def __init__(self, world: Any, recorder: IntervalRecorder, reachable: np.ndarray, *,
                 params: MdmParameters = MdmParameters()) -> None:
        self.world, self.recorder, self.params = world, recorder, params
        self._reachable = reachable
        n = len(reachable)
        self._got = np.full(n, recorder.closed, np.int64)  # intervals below this are in the MDM
        self._pend = np.zeros(n, np.int64)  # a read in flight: intervals below this ...
        self._pend_at = np.full(n, np.inf)  # ... land at this time
        self._rng = world.streams("mdm")
        self._groups: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        self.process = world.env.process(self.collection())

    def collection(self):
        """Every ``collect_every_s`` a collection cycle reads every meter it can reach."""
        env, p, rec = self.world.env, self.params, self.recorder
        n = len(self._got)
        while True:
            cycles = np.floor((env.now - rec.origin_s) / p.collect_every_s) + 1
            yield env.timeout(rec.origin_s + cycles * p.collect_every_s - env.now)
            now = env.now
            self._commit(now)
            ok = self._rng.random(n) < p.p_collect
            at = now + p.collect_window_s * self._rng.random(n)
            ok &= self._reachable & self.world.grid.energised_customers
            self._pend[ok] = np.floor((at[ok] - rec.origin_s) / rec.interval_s).astype(np.int64)
            self._pend_at[ok] = at[ok]
            self.world.events.publish(now, EventKind.interval_reads, meters=int(np.count_nonzero(ok)),
                                      window_s=p.collect_window_s)

    def _commit(self, now_s: float) -> None:
        landed = self._pend_at <= now_s
        self._got[landed] = np.maximum(self._got[landed], self._pend[landed])
        self._pend_at[landed] = np.inf

    def cancel_reads(self, rows: np.ndarray, now_s: float) -> None:
        """Meters that lost power or communications: their reads not yet landed are lost."""
        rows = np.asarray(rows, dtype=np.int64)
        late = rows[self._pend_at[rows] > now_s]
        self._pend_at[late] = np.inf

    def received(self, rows: np.ndarray) -> np.ndarray:
        """Per meter, the intervals the MDM holds now: every ``k`` below this (capped at those closed)."""
        rows = np.asarray(rows, dtype=np.int64)
        now = self.world.now
        got = np.where(self._pend_at[rows] <= now, np.maximum(self._got[rows], self._pend[rows]), self._got[rows])
        return np.minimum(got, self.recorder.closed)

    def load_profile(self, rows: np.ndarray, t0_s: float, t1_s: float, *, by: str | None = None) -> LoadProfile:
        """The intervals starting in ``[t0_s, t1_s)`` of meters ``rows`` as the MDM has them now
        (NaN: not received yet); ``by`` 'transformer' or 'feeder' adds their totals."""
        return self._profile(rows, t0_s, t1_s, by=by, received=True)

    def registers(self, rows: np.ndarray, t0_s: float, t1_s: float, *, by: str | None = None) -> LoadProfile:
        """The same from the meters' own memory, read or not: the world's truth (NaN: not
        recorded yet, or no longer held)."""
        return self._profile(rows, t0_s, t1_s, by=by, received=False)

    def _profile(self, rows: np.ndarray, t0_s: float, t1_s: float, *, by: str | None, received: bool) -> LoadProfile:
        rec = self.recorder
        rows = np.asarray(rows, dtype=np.int64)
        k0 = int(np.ceil((t0_s - rec.origin_s) / rec.interval_s))
        k1 = max(k0, int(np.ceil((t1_s - rec.origin_s) / rec.interval_s)))
        kwh, v_pu = rec.store.read(rows, k0, k1)
        if received:
            missing = np.arange(k0, k1)[:, None] >= self.received(rows)[None, :]
            kwh[missing] = np.nan
            v_pu[missing] = np.nan
        group, group_kwh = np.zeros(0, dtype=object), np.zeros((k1 - k0, 0))
        if by is not None:
            ids, code = self._group_codes(by)
            g = code[rows]
            group, inverse = np.unique(g, return_inverse=True)
            order = np.argsort(inverse, kind="stable")
            firsts = np.searchsorted(inverse[order], np.arange(len(group)))
            if len(rows) and k1 > k0:
                group_kwh = np.add.reduceat(kwh[:, order].astype(np.float64), firsts, axis=1)
            else:
                group_kwh = np.zeros((k1 - k0, len(group)))
            group = ids[group]
        return LoadProfile(start_s=np.asarray(rec.start_s(np.arange(k0, k1)), dtype=float), rows=rows, kwh=kwh,
                           v_pu=v_pu, group=group, group_kwh=group_kwh)

    def _group_codes(self, by: str) -> tuple[np.ndarray, np.ndarray]:
        """Ids of a grouping and each meter's code in it, made once: 'transformer' from the service
        point, 'feeder' from the normal topology of its bus (the feeder-head breaker)."""
        if by not in self._groups:
            net = self.world.grid.net
            sp = net.service_point
            if by == "transformer":
                names = np.asarray(sp["transformer"], dtype=object)
            elif by == "feeder":
                names = np.asarray(self.world.grid.normal_topology().feeder, dtype=object)[net.bus.index(sp["bus"])]
            else:
                raise ValueError(f"load_profile(by={by!r}): totals are by 'transformer' or 'feeder'")
            ids, code = np.unique(names.astype(str), return_inverse=True)
            self._groups[by] = (ids.astype(object), code)
        return self._groups[by]
