"""The AMI meter fleet: every customer's smart meter, in bulk, and the head-end that hears them.

A meter per ``service_point`` row, held as arrays (reachable or not, out since when, momentary
interruptions counted), never a process per meter: the fleet listens to the grid's truth
(:attr:`~twin.world.physics.GridState.listeners`) and turns each change of who has power into a
burst of messages, which one head-end process delivers one at a time.

What a meter does, with the defaults of :class:`MeterParameters` (representative figures for an
RF-mesh AMI system, not measurements of one):

* **Power lost**: the meter qualifies the outage for ``qualify_s`` (5 s); power back sooner is a
  momentary interruption, only counted (:attr:`MeterFleet.momentary`), no message. Otherwise the
  meter sends a *last gasp* on its capacitor's reserve: it reaches the mesh with probability
  ``p_last_gasp`` (0.85), crosses it in a random delay (lognormal, median 8 s, 1 to 60 s) and
  joins the head-end's queue.
* **Power back** after a qualified outage: a *power restore* message after a random hold-off
  (uniform 10 to 300 s, so that a feeder's meters do not all talk at once), delivered with
  probability ``p_restore`` (0.98) through the same mesh and queue; power lost again during the
  hold-off cancels it.
* **Communications**: :meth:`MeterFleet.set_comms` marks meters unreachable (a storm takes out a
  collector): what they send is lost, and so are their messages still crossing the mesh.
* **Pings and reads**: :meth:`MeterFleet.ping` and :meth:`MeterFleet.read_voltage` are SimPy
  processes whose value is the answer. Only an energised, reachable meter can answer (a meter
  without power has no radio): no answer within ``ping_timeout_s`` means out, unreachable or lost,
  the ambiguity the IDMS has to live with. A meter the head-end has no route to (its collectors
  down) is not waited for: the head-end knows at once, and says so (``routed``).
* **Brown-outs**: a meter below ``low_voltage_pu`` (0.917 pu, 110 V: ANSI C84.1 range B) for
  ``low_voltage_persist_s`` (300 s) while it has power sends a *low voltage* exception, and
  *voltage normal* once back above the threshold plus ``low_voltage_hysteresis_pu``, through the
  same mesh and queue (:mod:`twin.meters.voltage_alarms`; evaluated after every solve).
* **Interval data**: every meter records ``interval_s`` (15-minute) kWh and mean voltage
  (:attr:`MeterFleet.intervals`, :mod:`twin.meters.intervals`); the head-end collects them late, in
  cycles, into the meter data management store (:attr:`MeterFleet.mdm`, :mod:`twin.meters.mdm`),
  whose ``load_profile(rows, t0_s, t1_s)`` is the IDMS's view.

The head-end (:class:`HeadEnd`) takes ``headend_rate_per_s`` messages a second (50), first come
first served in order of arrival, so a burst of 10,000 last gasps is delivered over more than three
minutes. Its schedule is computed for the whole queue at once: with arrivals ``a`` sorted and a
service time ``s``, the k-th departure is ``d_k = s (k + 1) + max(free, max_{j<=k} (a_j - s j))``
(``free``: when the server finished its last message), the closed form of
``d_k = max(a_k, d_{k-1}) + s``; a new burst, or messages cancelled, re-derive it. Each message
delivered is published at its delivery time (``last_gasp``, ``power_restore``, ``low_voltage`` or
``voltage_normal``, with the meter id,
the ``service_point`` row and ``at_s``, the meter's own time stamp of the loss or the return of
power) and kept in :meth:`MeterFleet.received` for the IDMS.

Every draw comes from ``world.streams("meters")`` (the exceptions' from ``"meter_alarms"``, the
collection's from ``"mdm"``): the same seed gives the same messages.

>>> from twin.world.environment import World
>>> from twin.world.territory import generate_territory
>>> world = World(generate_territory(500, seed=2), seed=1, resolve=False)
>>> fleet = MeterFleet(world)
>>> world.run_to(10.0)
>>> world.grid.operate(world.now, "S01-F1-BKR", open_=True, why="a test")
>>> world.run_to(900.0)
>>> int((~world.grid.energised_customers).sum()), len(fleet.received().of(LAST_GASP))
(253, 234)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import Any

import numpy as np
import simpy

from twin.meters.intervals import IntervalRecorder
from twin.meters.mdm import MdmParameters, MeterDataManagement
from twin.meters.voltage_alarms import LowVoltageWatch
from twin.world.events import Event, EventKind

__all__ = ["HeadEnd", "MeterFleet", "MeterParameters", "PingResult", "Received", "VoltageRead"]


LAST_GASP, POWER_RESTORE, LOW_VOLTAGE, VOLTAGE_NORMAL = 0, 1, 2, 3
"""Codes of the messages the head-end receives (``Received.kind``)."""

_KINDS = (EventKind.last_gasp, EventKind.power_restore, EventKind.low_voltage, EventKind.voltage_normal)


@dataclass(frozen=True)
class MeterParameters:
    """How the meters and their network behave (representative defaults; see the module docstring)."""

    qualify_s: float = 5.0  # an interruption shorter than this is a momentary: counted, not reported
    p_last_gasp: float = 0.85  # a qualified outage's last gasp reaches the mesh
    p_restore: float = 0.98  # a power-restore message reaches the mesh (the meter has power to retry)
    mesh_delay_median_s: float = 8.0  # crossing the RF mesh to the collector and back-haul: lognormal
    mesh_delay_sigma: float = 0.8  # of the delay's logarithm
    mesh_delay_min_s: float = 1.0
    mesh_delay_max_s: float = 60.0
    restore_holdoff_min_s: float = 10.0  # a restored meter waits a uniform random time before it talks
    restore_holdoff_max_s: float = 300.0
    headend_rate_per_s: float = 50.0  # messages the head-end takes a second
    p_ping: float = 0.98  # an energised, reachable meter answers a ping or a read
    ping_median_s: float = 10.0  # round trip of a ping or a read: lognormal
    ping_sigma: float = 0.6
    ping_timeout_s: float = 60.0  # the head-end gives up waiting for an answer
    p_exception: float = 0.98  # a low-voltage or voltage-normal exception reaches the mesh
    low_voltage_pu: float = 0.917  # brown-out threshold: 110 V on 120 V, ANSI C84.1 range B at the service
    low_voltage_hysteresis_pu: float = 0.008  # back to normal at the threshold plus this (about 1 V)
    low_voltage_persist_s: float = 300.0  # below the threshold this long, with power, raises the alarm
    interval_s: float = 900.0  # interval data: kWh and voltage per calendar quarter hour (divides an hour)
    keep_days: int = 1  # the meters' memory: days kept before the newest (see twin.meters.intervals)

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name.startswith("p_"):
                if not 0.0 <= value <= 1.0:
                    raise ValueError(f"MeterParameters.{f.name} = {value}: a probability, 0 to 1")
            elif f.name.endswith("_sigma"):
                if not value >= 0.0:
                    raise ValueError(f"MeterParameters.{f.name} = {value}: 0 or more")
            elif not value > 0.0:
                raise ValueError(f"MeterParameters.{f.name} = {value}: more than 0")
        if self.mesh_delay_min_s > self.mesh_delay_max_s or self.restore_holdoff_min_s > self.restore_holdoff_max_s:
            raise ValueError("MeterParameters: each *_min_s must be at most its *_max_s")
        if not (3600.0 / self.interval_s).is_integer():
            raise ValueError(f"MeterParameters.interval_s = {self.interval_s}: it must divide an hour "
                             "(300, 900, 1800, 3600 s)")


@dataclass(frozen=True)
class Received:
    """The messages the head-end received, in order of delivery: ``time_s`` delivered, ``arrival_s``
    when it reached the head-end's queue, ``kind`` (0 last gasp, 1 power restore, 2 low voltage,
    3 voltage normal),
    ``service_point`` row, ``meter`` id, ``at_s`` the meter's time stamp of the event."""

    time_s: np.ndarray
    arrival_s: np.ndarray
    kind: np.ndarray
    service_point: np.ndarray
    meter: np.ndarray
    at_s: np.ndarray

    def of(self, kind: int) -> np.ndarray:
        """Service point rows of the messages of one kind (``LAST_GASP``, ``POWER_RESTORE``,
        ``LOW_VOLTAGE`` or ``VOLTAGE_NORMAL``)."""
        return self.service_point[self.kind == kind]


@dataclass(frozen=True)
class PingResult:
    """Answers to a ping at ``time_s`` (when the last answer came or the head-end gave up):
    ``answered`` per row asked (True: the meter has power), ``delay_s`` (NaN: no answer),
    ``routed`` (False: the head-end had no route to the meter, its collector or back-haul down)."""

    time_s: float
    rows: np.ndarray
    answered: np.ndarray
    delay_s: np.ndarray
    routed: np.ndarray | None = None


@dataclass(frozen=True)
class VoltageRead:
    """An on-demand voltage read: as :class:`PingResult`, with ``v_pu`` (the mean per-unit voltage
    of the phases of the meter's bus; NaN where no answer came)."""

    time_s: float
    rows: np.ndarray
    answered: np.ndarray
    delay_s: np.ndarray
    v_pu: np.ndarray
    routed: np.ndarray | None = None


class HeadEnd:
    """The head-end's inbound queue: one server taking ``rate_per_s`` messages a second, first come
    first served by arrival (see the module docstring); ``deliver(kind, row, at_s, arrival_s)`` is
    called for each message at its delivery time."""

    def __init__(self, env: simpy.Environment, rate_per_s: float,
                 deliver: Callable[[int, int, float, float], None]) -> None:
        self.env = env
        self.service_s = 1.0 / float(rate_per_s)
        self._deliver = deliver
        self._free_s = -np.inf  # when the server finished its last message
        self._seq = 0
        self._send = np.zeros(0)  # when the meter sent it (cancellable until then)
        self._arrival = np.zeros(0)  # when it reaches the queue
        self._row = np.zeros(0, np.int64)
        self._kind = np.zeros(0, np.int8)
        self._at = np.zeros(0)
        self._order = np.zeros(0, np.int64)
        self._dep = np.zeros(0)  # departures of the queued messages, in order
        self._interrupted = False
        self.process = env.process(self.delivery())

    def __len__(self) -> int:
        return len(self._dep)

    def add(self, send_s: np.ndarray, arrival_s: np.ndarray, rows: np.ndarray, kind: int, at_s: float) -> None:
        """Queue messages of one kind (arrivals at or after now) and re-derive the schedule."""
        n = len(rows)
        if not n:
            return
        self._send = np.concatenate([self._send, send_s])
        self._arrival = np.concatenate([self._arrival, arrival_s])
        self._row = np.concatenate([self._row, rows])
        self._kind = np.concatenate([self._kind, np.full(n, kind, np.int8)])
        self._at = np.concatenate([self._at, np.full(n, at_s)])
        self._order = np.concatenate([self._order, np.arange(self._seq, self._seq + n)])
        self._seq += n
        self._schedule()

    def cancel(self, rows: np.ndarray, *, kind: int | None = None, sent_after_s: float | None = None,
               arriving_after_s: float | None = None) -> int:
        """Drop the queued messages of ``rows`` (of one kind; not yet sent by ``sent_after_s``; not yet
        at the queue by ``arriving_after_s``); returns how many."""
        if not len(self._row) or not len(rows):
            return 0
        drop = np.isin(self._row, rows)
        if kind is not None:
            drop &= self._kind == kind
        if sent_after_s is not None:
            drop &= self._send > sent_after_s
        if arriving_after_s is not None:
            drop &= self._arrival > arriving_after_s
        dropped = int(np.count_nonzero(drop))
        if dropped:
            self._take(~drop)
            self._schedule()
        return dropped

    def _take(self, keep: np.ndarray | slice) -> None:
        for name in ("_send", "_arrival", "_row", "_kind", "_at", "_order", "_dep"):
            setattr(self, name, getattr(self, name)[keep])

    def _schedule(self) -> None:
        """FIFO departures of everything queued, from the server's state (the module's formula)."""
        order = np.lexsort((self._order, self._arrival))
        self._dep = np.zeros(len(order))
        self._take(order)
        s, k = self.service_s, np.arange(len(order))
        self._dep = s * (k + 1) + np.maximum(self._free_s, np.maximum.accumulate(self._arrival - s * k))
        if self.env.active_process is not self.process and not self._interrupted and self.process.is_alive:
            self._interrupted = True
            self.process.interrupt()

    def delivery(self):
        """The head-end takes its queued messages one at a time, first come first served."""
        env = self.env
        while True:
            try:
                if len(self._dep):
                    yield env.timeout(max(0.0, float(self._dep[0]) - env.now))
                    kind, row, at_s, arrival_s = int(self._kind[0]), int(self._row[0]), float(self._at[0]), \
                        float(self._arrival[0])
                    self._free_s = env.now
                    self._take(slice(1, None))
                    self._deliver(kind, row, at_s, arrival_s)
                else:
                    yield env.event()  # nothing queued: until a message comes
            except simpy.Interrupt:
                self._interrupted = False  # the schedule changed: wait for its first message


class MeterFleet:
    """Every customer's AMI meter, as arrays, and the head-end (see the module docstring); attaches
    itself to ``world.grid.listeners`` and to the world's ``solve`` events. ``mdm``: how the
    head-end collects the interval data."""

    def __init__(self, world: Any, *, params: MeterParameters = MeterParameters(),
                 mdm: MdmParameters = MdmParameters()) -> None:
        self.world = world
        self.params = params
        net = world.grid.net
        sp = net.service_point
        n = len(sp)
        self.meter: np.ndarray = np.asarray(sp["meter"], dtype=object)
        self.reachable = np.ones(n, dtype=bool)
        self.out_since = np.where(world.grid.energised_customers, np.nan, world.now)  # NaN: has power
        self.momentary = np.zeros(n, dtype=np.int32)  # interruptions shorter than the qualification
        self.sent = np.zeros(len(_KINDS), dtype=np.int64)  # messages that reached the mesh, by kind
        self._rng = world.streams("meters")
        self._received: list[tuple[float, float, int, int, float]] = []
        self._v_key: object = None  # the power-flow result _v_pu was taken from
        self._v_pu = np.zeros(0)
        self._sp_bus: np.ndarray | None = None  # bus row of each meter, made once
        self.headend = HeadEnd(world.env, params.headend_rate_per_s, self._delivered)
        world.grid.listeners.append(self.power_changed)
        self.intervals = IntervalRecorder(world, self._voltages, interval_s=params.interval_s,
                                          keep_days=params.keep_days)
        self.mdm = MeterDataManagement(world, self.intervals, self.reachable, params=mdm)
        self.low_voltage = LowVoltageWatch(n, threshold_pu=params.low_voltage_pu,
                                           hysteresis_pu=params.low_voltage_hysteresis_pu)
        self._alarm_rng = world.streams("meter_alarms")
        self._solving = False
        world.events.subscribe(self._on_event)

    # -- the grid's truth changed ----------------------------------------------------------------

    def power_changed(self, now_s: float, lost: np.ndarray, back: np.ndarray) -> None:
        """Customers lost or regained power: last gasps after qualification, restores after a hold-off."""
        p, head = self.params, self.headend
        if len(back):
            short = now_s - self.out_since[back] < p.qualify_s
            momentary = back[short]
            self.momentary[momentary] += 1
            head.cancel(momentary, kind=LAST_GASP, sent_after_s=now_s)
            self.out_since[back] = np.nan
            sustained = back[~short]
            holdoff = self._rng.uniform(p.restore_holdoff_min_s, p.restore_holdoff_max_s, len(sustained))
            self._send(now_s, sustained, POWER_RESTORE, now_s + holdoff, p.p_restore)
        if len(lost):
            head.cancel(lost, kind=POWER_RESTORE, sent_after_s=now_s)
            self.out_since[lost] = now_s
            self._send(now_s, lost, LAST_GASP, np.full(len(lost), now_s + p.qualify_s), p.p_last_gasp)
            self.low_voltage.power_lost(lost)
            self.mdm.cancel_reads(lost, now_s)

    def _on_event(self, event: Event) -> None:
        """After each solve: the meters' voltages change (interval registers, brown-out watch)."""
        if event.kind != EventKind.solve or self._solving:
            return
        self._solving = True  # reading the voltages must not answer a solve it causes
        try:
            v = self._voltages()
        finally:
            self._solving = False
        now = event.time_s
        self.intervals.voltages_solved(now, v)
        start = self.low_voltage.solved(now, v, self.world.grid.energised_customers)
        normal = self.low_voltage.normal
        self._send(now, normal, VOLTAGE_NORMAL, np.full(len(normal), now), self.params.p_exception,
                   rng=self._alarm_rng)
        if len(start):
            self.world.env.process(self.low_voltage_persists(now))

    def low_voltage_persists(self, since_s: float):
        """The meters low since ``since_s`` and still low ``low_voltage_persist_s`` later raise the alarm."""
        yield self.world.env.timeout(self.params.low_voltage_persist_s)
        now = self.world.now
        rows = self.low_voltage.raise_due(since_s)
        self._send(now, rows, LOW_VOLTAGE, np.full(len(rows), now), self.params.p_exception, rng=self._alarm_rng)

    def _send(self, now_s: float, rows: np.ndarray, kind: int, send_s: np.ndarray, p_reach: float,
              rng: np.random.Generator | None = None) -> None:
        """Messages from ``rows`` at ``send_s``: those that reach the mesh queue at the head-end
        (draws from ``rng``, the meters' stream by default)."""
        n = len(rows)
        if not n:
            return
        rng = self._rng if rng is None else rng
        reach = rng.random(n) < p_reach
        delay = self._mesh_delay(n, rng)
        ok = reach & self.reachable[rows]
        self.sent[kind] += int(np.count_nonzero(ok))
        self.headend.add(send_s[ok], send_s[ok] + delay[ok], rows[ok], kind, now_s)

    def _mesh_delay(self, n: int, rng: np.random.Generator | None = None) -> np.ndarray:
        p = self.params
        rng = self._rng if rng is None else rng
        d = p.mesh_delay_median_s * np.exp(p.mesh_delay_sigma * rng.standard_normal(n))
        return np.clip(d, p.mesh_delay_min_s, p.mesh_delay_max_s)

    def _delivered(self, kind: int, row: int, at_s: float, arrival_s: float) -> None:
        now = self.world.now
        self._received.append((now, arrival_s, kind, row, at_s))
        self.world.events.publish(now, _KINDS[kind], meter=str(self.meter[row]), service_point=row, at_s=at_s)

    # -- the operator's side ---------------------------------------------------------------------

    def set_comms(self, rows: np.ndarray, up: bool) -> None:
        """Meters reachable again (``up``) or not: an unreachable meter's messages are lost, those
        still crossing the mesh too, and its interval reads (the next collection cycle after it is
        reachable again backfills them)."""
        rows = np.asarray(rows, dtype=np.int64)
        self.reachable[rows] = bool(up)
        if not up:
            self.headend.cancel(rows, arriving_after_s=self.world.now)
            self.mdm.cancel_reads(rows, self.world.now)

    def received(self) -> Received:
        """Every message the head-end has received so far, as arrays (see :class:`Received`)."""
        if self._received:
            t, arrival, kind, row, at = (np.array(c) for c in zip(*self._received))
        else:
            t, arrival, kind, row, at = np.zeros(0), np.zeros(0), np.zeros(0, int), np.zeros(0, int), np.zeros(0)
        row = row.astype(np.int64)
        return Received(time_s=t, arrival_s=arrival, kind=kind.astype(np.int8), service_point=row,
                        meter=self.meter[row], at_s=at)

    def ping(self, rows: np.ndarray) -> simpy.Process:
        """Ping meters: a process whose value is a :class:`PingResult`."""
        return self.world.env.process(self._ask(np.asarray(rows, dtype=np.int64), read=False))

    def read_voltage(self, rows: np.ndarray) -> simpy.Process:
        """Read meters' voltages on demand: a process whose value is a :class:`VoltageRead`."""
        return self.world.env.process(self._ask(np.asarray(rows, dtype=np.int64), read=True))

    def _ask(self, rows: np.ndarray, *, read: bool):
        """A ping or read: the answers of the meters that can answer, after the mesh's round trip."""
        p, env = self.params, self.world.env
        n = len(rows)
        delay = np.clip(p.ping_median_s * np.exp(p.ping_sigma * self._rng.standard_normal(n)), 0.0, None)
        routed = self.reachable[rows].copy()
        answered = ((self._rng.random(n) < p.p_ping) & routed
                    & self.world.grid.energised_customers[rows] & (delay <= p.ping_timeout_s))
        v = self._voltages()[rows] if read else None
        if read:
            answered &= ~np.isnan(v)
        # the head-end waits for the meters it has a route to; one it has none to fails at once
        waited = answered[routed]
        wait = float(delay[answered].max(initial=0.0)) if waited.all() else p.ping_timeout_s
        yield env.timeout(wait)
        delay = np.where(answered, delay, np.nan)
        if read:
            return VoltageRead(float(env.now), rows, answered, delay, np.where(answered, v, np.nan), routed)
        return PingResult(float(env.now), rows, answered, delay, routed)

    def _voltages(self) -> np.ndarray:
        """Per-unit voltage at every meter (mean of its bus's phases; NaN where the power flow does not
        converge), from the world's power flow of the network as it is now."""
        grid = self.world.grid
        r = self.world.power_flow()
        if r is None:
            return np.full(len(self.meter), np.nan)
        if r is not self._v_key:
            if hasattr(r, "bus_v_pu"):  # in bulk (NaN: a phase the bus lacks), no voltage table made every solve
                bus_v = np.nanmean(r.bus_v_pu(), axis=1)
            else:
                by_bus = r.voltages.groupby("bus", sort=False)["v_pu"].mean()
                bus_v = by_bus.reindex(grid.net.bus.ids).to_numpy(dtype=float)
            if self._sp_bus is None:
                self._sp_bus = grid.net.bus.index(grid.net.service_point["bus"])
            self._v_pu = bus_v[self._sp_bus]
            self._v_key = r
        return self._v_pu
