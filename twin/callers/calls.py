"""Customers who call the trouble line, in bulk.

The callers listen to the grid's truth (:attr:`~twin.world.physics.GridState.listeners`). When
customers lose power each of them decides at once, from arrays, whether and when to call: with a
chance and after a delay (lognormal) that depend on the rate class and the hour of the day
(:func:`call_chance`): critical customers (hospitals, life support, water) nearly all call, and
fast; at night fewer call, later. A call not yet made when power returns is cancelled (the longer
the outage, the more of its calls are made), except that a small share of customers whose outage
was short call about the *flicker* after power is back (if they have power when they call). A customer who called and is still out
may call *again* after a while, up to ``max_calls`` times an outage. Customers with power call now
and then about a problem *inside their premises* (their own main breaker): a Poisson stream over the
whole population, ``inside_premises_per_day`` per customer. When wires come down the world calls
:meth:`Callers.report_wires_down`: people nearby (the customers nearest the line) call it in.

The pending calls are one heap, placed by one process (``switchboard()``); a call is checked when
its time comes against the customer's outage (a counter per customer that every change of power
moves on), so a cancelled call is never placed. Each call is published as an event (``call``,
with the ``reason``, ``service_point`` row, ``meter``, the caller's ``name``, ``phone`` and
``address``, and the ``line`` for wires down) and kept in :attr:`Callers.calls`. Names and
addresses are the service point's where the territory has them, otherwise faker's; phone numbers
are faker's; each customer's identity is drawn from a faker seeded by the world's ``callers``
stream and the customer's row, so the same customer calls from the same phone every time.

The defaults of :class:`CallerParameters` are representative figures, not measurements of one
utility's call centre. Every draw comes from ``world.streams("callers")``: the same seed gives the
same calls.

>>> import numpy as np
>>> p, delay_s = call_chance(CallerParameters(), np.array([0, 0]), np.array([False, True]), 3.0)
>>> bool(p[1] > p[0]), bool(delay_s[1] < delay_s[0])
(True, True)
"""

from __future__ import annotations

import enum
import heapq
from dataclasses import dataclass, fields
from typing import Any

import numpy as np
import simpy

from twin.world.events import EventKind

__all__ = ["Call", "CallReason", "CallerParameters", "Callers", "call_chance"]


class CallReason(str, enum.Enum):
    """Why a customer called (the truth: a caller out for their own breaker says 'no power' too)."""

    no_power = "no_power"  # out with the grid
    again = "again"  # out with the grid, and called before
    flicker = "flicker"  # a short interruption, power back
    inside_premises = "inside_premises"  # the grid is fine: their own breaker or wiring
    wires_down = "wires_down"  # a line on the ground


_REASONS = tuple(CallReason)
_NO_POWER, _AGAIN, _FLICKER, _INSIDE, _WIRES = (_REASONS.index(r) for r in CallReason)
_ALWAYS, _WHILE_POWERED = -1, -2  # a pending call's outage counter when it does not depend on the outage

# Hour-of-day multipliers (index: hour 0-23): of the chance to call (asleep at night, home in the
# evening) and of the delay (noticed later at night and on waking).
_SHARE = (0.5,) * 6 + (0.8, 0.9) + (1.0,) * 9 + (1.2,) * 5 + (0.8, 0.6)
_DELAY = (2.0,) * 6 + (1.3, 1.1) + (1.0,) * 9 + (0.9,) * 5 + (1.2, 1.5)


@dataclass(frozen=True)
class CallerParameters:
    """How customers call (representative defaults; see the module docstring). Per class values are
    (residential, commercial, industrial)."""

    p_call: tuple[float, float, float] = (0.25, 0.35, 0.5)  # a customer out calls, in the day
    p_call_critical: float = 0.9  # a critical customer calls, any hour
    delay_median_s: tuple[float, float, float] = (600.0, 420.0, 300.0)  # from the loss to the call, day
    delay_median_critical_s: float = 120.0
    delay_sigma: float = 1.0  # of the delay's logarithm
    delay_min_s: float = 30.0  # nobody gets through sooner
    hourly_share: tuple[float, ...] = _SHARE  # multiplier of p_call by hour of the day (not critical)
    hourly_delay: tuple[float, ...] = _DELAY  # multiplier of the delay by hour of the day (not critical)
    p_flicker: float = 0.02  # a customer whose outage was short calls about the flicker
    flicker_max_s: float = 60.0  # an outage up to this long is a flicker to the customer
    flicker_delay_median_s: float = 180.0  # after power is back
    p_again: float = 0.3  # after a call, still out, the customer calls again
    again_median_s: float = 3600.0  # after the last call: lognormal
    again_sigma: float = 0.7
    max_calls: int = 3  # calls an outage, at most
    answer_delay_median_s: float = 300.0  # a customer told power is back, still out, calls back after (lognormal)
    inside_premises_per_day: float = 2e-4  # calls a customer a day about their own breaker or wiring
    wires_down_calls_mean: float = 2.0  # people who call in one wires-down (1 + Poisson)
    wires_down_delay_median_s: float = 900.0  # from the wires coming down: lognormal (delay_sigma)
    wires_down_neighbours: int = 20  # the callers are among the customers this near the line

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            values = value if isinstance(value, tuple) else (value,)
            if f.name.startswith("p_"):
                ok = all(0.0 <= v <= 1.0 for v in values)
                allowed = "probabilities, 0 to 1"
            elif f.name.endswith("_sigma") or f.name in ("inside_premises_per_day", "hourly_share"):
                ok = all(v >= 0.0 for v in values)
                allowed = "0 or more"
            elif f.name == "wires_down_calls_mean":
                ok = value >= 1.0
                allowed = "1 or more"
            else:
                ok = all(v > 0 for v in values)
                allowed = "more than 0"
            if not ok:
                raise ValueError(f"CallerParameters.{f.name} = {value}: {allowed}")
        for name in ("hourly_share", "hourly_delay"):
            if len(getattr(self, name)) != 24:
                raise ValueError(f"CallerParameters.{name}: 24 values, one per hour of the day")
        for name in ("p_call", "delay_median_s"):
            if len(getattr(self, name)) != 3:
                raise ValueError(f"CallerParameters.{name}: 3 values (residential, commercial, industrial)")


def call_chance(params: CallerParameters, cls: np.ndarray, critical: np.ndarray,
                hour: float) -> tuple[np.ndarray, np.ndarray]:
    """The chance that customers (rate class codes, critical flags) who lose power at ``hour``
    call, and the median of their delay in seconds."""
    h = int(hour) % 24
    cls = np.asarray(cls, dtype=np.int64)
    critical = np.asarray(critical, dtype=bool)
    p = np.minimum(1.0, np.asarray(params.p_call)[cls] * params.hourly_share[h])
    delay = np.asarray(params.delay_median_s)[cls] * params.hourly_delay[h]
    return (np.where(critical, params.p_call_critical, p),
            np.where(critical, params.delay_median_critical_s, delay))


@dataclass(frozen=True)
class Call:
    """One call to the trouble line."""

    time_s: float
    reason: CallReason
    service_point: int  # row of the customer calling
    meter: str
    name: str
    phone: str
    address: str
    line: str = ""  # the line reported, for wires down


class Callers:
    """The territory's customers on the phone (see the module docstring); attaches itself to
    ``world.grid.listeners``."""

    def __init__(self, world: Any, *, params: CallerParameters = CallerParameters()) -> None:
        from faker import Faker  # imported when callers are made, not with the module

        self.world = world
        world.callers = self  # the call centre finds them here: customers answer its callbacks
        self.params = params
        net = world.grid.net
        sp = net.service_point
        n = len(sp)
        self._sp = sp
        self.cls = np.asarray(sp["cls"], dtype=np.int64)
        self.critical = np.asarray(sp["critical"], dtype=bool)
        self.meter = np.asarray(sp["meter"], dtype=object)
        self.out_since = np.where(world.grid.energised_customers, np.nan, world.now)  # NaN: has power
        self.calls: list[Call] = []
        self._outage = np.zeros(n, dtype=np.int64)  # moves on at every change of the customer's power
        self._called = np.zeros(n, dtype=np.int32)  # calls made this outage
        self._rng = world.streams("callers")
        self._faker = Faker("en_US")
        self._faker_seed = int(self._rng.integers(2**31))
        self._who: dict[int, tuple[str, str, str]] = {}
        self._sp_bus: np.ndarray | None = None  # bus row of every customer, when first needed
        self._agenda: list[tuple[float, int, int, int, int, str]] = []  # time, seq, row, reason, outage, line
        self._seq = 0
        self._target_s = np.inf
        self._interrupted = False
        world.grid.listeners.append(self.power_changed)
        self.process = world.env.process(self.switchboard())
        if params.inside_premises_per_day > 0 and n:
            world.env.process(self.inside_premises())

    # -- the grid's truth changed ----------------------------------------------------------------

    def power_changed(self, now_s: float, lost: np.ndarray, back: np.ndarray) -> None:
        """Customers lost or regained power: who will call, and when; calls not made are cancelled."""
        p, rng = self.params, self._rng
        if len(back):
            self._outage[back] += 1  # their pending no-power calls are void
            short = (now_s - self.out_since[back] <= p.flicker_max_s) & (self._called[back] == 0)
            self.out_since[back] = np.nan
            self._called[back] = 0
            rows = back[short]
            flicker = rng.random(len(rows)) < p.p_flicker
            delay = self._lognormal(p.flicker_delay_median_s, p.delay_sigma, len(rows))
            self._plan(now_s + delay[flicker], rows[flicker], _FLICKER, stays=True, powered=True)
        if len(lost):
            self._outage[lost] += 1
            self.out_since[lost] = now_s
            chance, median = call_chance(p, self.cls[lost], self.critical[lost], self.world.calendar.hour(now_s))
            calls = rng.random(len(lost)) < chance
            delay = np.maximum(p.delay_min_s, median * np.exp(p.delay_sigma * rng.standard_normal(len(lost))))
            self._plan(now_s + delay[calls], lost[calls], _NO_POWER)

    def report_wires_down(self, line: str, now: float | None = None) -> None:
        """Wires of ``line`` came down at ``now`` (the world's time by default): people nearby call."""
        p, rng = self.params, self._rng
        t0 = self.world.now if now is None else float(now)
        near = self._near(line)
        if not len(near):
            return
        k = min(len(near), 1 + int(rng.poisson(p.wires_down_calls_mean - 1.0)))
        rows = rng.choice(near, size=k, replace=False)
        delay = self._lognormal(p.wires_down_delay_median_s, p.delay_sigma, k)
        self._plan(np.maximum(t0 + delay, self.world.now), rows, _WIRES, stays=True, line=line)

    # -- the processes ---------------------------------------------------------------------------

    def switchboard(self):
        """The trouble line: places each pending call at its time, unless its customer's outage is over."""
        env = self.world.env
        while True:
            self._drop_void()
            self._target_s = self._agenda[0][0] if self._agenda else np.inf
            try:
                yield env.timeout(max(0.0, self._target_s - env.now)) if self._agenda else env.event()
            except simpy.Interrupt:
                self._interrupted = False
                continue
            _, _, row, reason, outage, line = heapq.heappop(self._agenda)
            if outage == _ALWAYS or outage == self._outage[row] or (
                    outage == _WHILE_POWERED and self.world.grid.energised_customers[row]):
                self._place(row, reason, line)

    def inside_premises(self):
        """Customers with power who call about their own breaker or wiring: a Poisson stream."""
        env, p, rng = self.world.env, self.params, self._rng
        peak = max(p.hourly_share)
        rate_per_s = len(self.cls) * p.inside_premises_per_day / 86400.0 * peak
        if peak <= 0.0:
            return
        while True:
            yield env.timeout(float(rng.exponential(1.0 / rate_per_s)))
            share = p.hourly_share[int(self.world.calendar.hour(env.now)) % 24]
            if rng.random() < share / peak:  # thinning: the stream follows the hour of the day
                powered = np.flatnonzero(self.world.grid.energised_customers)
                if len(powered):
                    self._place(int(powered[rng.integers(len(powered))]), _INSIDE, "")

    # -- helpers ---------------------------------------------------------------------------------

    def _plan(self, times: np.ndarray, rows: np.ndarray, reason: int, *, stays: bool = False,
              powered: bool = False, line: str = "") -> None:
        """Pending calls: void when the customer's power changes first, unless it ``stays`` (then, if
        ``powered``, only while the customer has power: nobody calls about a flicker while out)."""
        earliest = np.inf
        for t, row in zip(times.tolist(), rows.tolist()):
            outage = (_WHILE_POWERED if powered else _ALWAYS) if stays else int(self._outage[row])
            heapq.heappush(self._agenda, (t, self._seq, row, reason, outage, line))
            self._seq += 1
            earliest = min(earliest, t)
        if earliest < self._target_s and not self._interrupted and self.world.env.active_process is not self.process:
            self._interrupted = True
            self.process.interrupt()

    def _drop_void(self) -> None:
        agenda = self._agenda
        while agenda and agenda[0][4] >= 0 and agenda[0][4] != self._outage[agenda[0][2]]:
            heapq.heappop(agenda)

    def _place(self, row: int, reason: int, line: str) -> None:
        """A call now: published, kept, and, for a customer still out, perhaps another later."""
        p, now = self.params, self.world.now
        name, phone, address = self._identity(row)
        why = _REASONS[reason]
        call = Call(now, why, row, str(self.meter[row]), name, phone, address, line)
        self.calls.append(call)
        data: dict[str, Any] = dict(reason=why.value, service_point=row, meter=call.meter, name=name,
                                    phone=phone, address=address)
        if line:
            data["line"] = line
        self.world.events.publish(now, EventKind.call, **data)
        if reason in (_NO_POWER, _AGAIN):
            self._called[row] += 1
            if self._called[row] < p.max_calls and self._rng.random() < p.p_again:
                later = self._lognormal(p.again_median_s, p.again_sigma, 1)
                self._plan(now + later, np.array([row]), _AGAIN)

    def call_now(self, row: int, reason: str = "no_power") -> None:
        """Customer ``row`` calls now (a scenario's scripted call), ``reason`` a :class:`CallReason` value."""
        self._place(int(row), _REASONS.index(CallReason(reason)), "")

    def told_restored(self, row: int) -> bool:
        """The call centre told customer ``row`` their power is back: one still out calls back to
        say it is not (a repeat call, ``answer_delay_median_s`` later, void if power returns
        first). Returns whether they will."""
        if self.world.grid.energised_customers[row]:
            return False
        p = self.params
        later = self._lognormal(p.answer_delay_median_s, p.again_sigma, 1)
        self._plan(self.world.now + later, np.array([row]), _AGAIN)
        return True

    def _identity(self, row: int) -> tuple[str, str, str]:
        """Name, phone and address of a customer: the territory's where it has them, else faker's."""
        who = self._who.get(row)
        if who is None:
            fake = self._faker
            fake.seed_instance((self._faker_seed << 32) | row)
            name = str(self._sp["name"][row]) or fake.name()
            phone = fake.phone_number()
            address = str(self._sp["address"][row]) or fake.address().replace("\n", ", ")
            who = self._who[row] = (name, phone, address)
        return who

    def _near(self, line: str) -> np.ndarray:
        """Rows of the customers nearest a line's midpoint (by bus coordinates), or fed from its buses."""
        net = self.world.grid.net
        k = net.line.position(line)
        ends = net.bus.index([net.line["from_bus"][k], net.line["to_bus"][k]])
        if self._sp_bus is None:
            self._sp_bus = net.bus.index(self._sp["bus"]) if len(self._sp) else np.zeros(0, np.int64)
        sp_bus = self._sp_bus
        xy = np.column_stack([net.bus["x"], net.bus["y"]]).astype(float)
        mid = xy[ends].mean(axis=0)
        if np.isnan(mid).any() or np.isnan(xy[sp_bus]).any():
            return np.flatnonzero(np.isin(sp_bus, ends))
        d = np.hypot(*(xy[sp_bus] - mid).T)
        m = min(self.params.wires_down_neighbours, len(d))
        near = np.argpartition(d, m - 1)[:m] if m else np.zeros(0, np.int64)
        return np.sort(near)

    def _lognormal(self, median: float, sigma: float, n: int) -> np.ndarray:
        return median * np.exp(sigma * self._rng.standard_normal(n))
