"""Crews: a roster with shifts, skills and home depots that drives, patrols, repairs and switches.

The roster. Every substation is a depot. A :class:`DepotRoster` says how many crews of each
:class:`Skill` it bases on each :class:`Shift` (:attr:`CrewParameters.roster`, and per depot
:attr:`CrewParameters.depots`); by default a day shift (07-19) of two line crews and a
troubleshooter and a night shift (19-07) of one of each. A crew is on duty through its shift; when
the shift ends it finishes the job at hand (overtime) and goes home, and the next shift's crews
come on. Crews off duty are not dispatched.

Call-out. When more jobs wait than :attr:`CrewParameters.callout_backlog` per crew on duty (at
least :attr:`~CrewParameters.callout_min_jobs`: a storm), every crew off duty is called out; a job
that needs a skill no crew on duty has calls out the nearest crew with it. A called-out crew
reports at its depot :attr:`~CrewParameters.callout_delay_s` later (give or take a quarter) and
works :attr:`~CrewParameters.callout_h` hours, or to the end of its own shift if that is later,
then goes home after the job at hand.

Skills. A ``troubleshooter`` (one person in a pickup) patrols, re-fuses, operates switches and
repairs small damage (a tree contact, an animal, a fault that left no damage); a ``line`` crew
(a bucket truck) repairs anything: conductors down, broken poles and crossarms, equipment. What
a fault needs is data (:data:`SKILL_FOR_CAUSE`; a wire down always needs a line crew). A
troubleshooter who finds more than it can repair reports it (``needs line crew``) and is free;
the job waits for a line crew, who drives to the fault (found already: no patrol), repairs it and
closes the device.

A job, start to end. Sent to an outage, a crew drives there from where it is (straight-line
distance times :attr:`CrewParameters.detour` at road speed), patrols the isolated section until
it finds the fault, repairs it (a lognormal duration by the fault's cause) and closes the device
that isolated it (re-fuses a fuse, closes a locked-out recloser or a tripped breaker) unless
another fault a crew has found stands below it; a fault nobody has found strikes again and the
protection answers it (a new outage, a new job). Where the fault was temporary the patrol finds
nothing and the device is closed again. The patrol covers the whole section (the line length below the isolating device)
or, where the world has :class:`~twin.field_devices.indicators.FaultIndicators` (it sets
``world.fault_indicators``), only what the indicators point to
(:meth:`~twin.field_devices.indicators.FaultIndicators.patrol_section`; visual indicators are read
on the way); where they point wrong it covers that in vain, then the rest. The fault is found
after a drawn share (uniform 0.1-1) of that length at patrol speed. Every step is a ``crew``
event; going on and off duty and call-outs are ``shift`` events.

Switching on order: :meth:`Crews.order_switch` sends a crew to open or close a device and report
back; it refuses to close onto a fault that a crew has found and nobody has repaired.
Outages on order: :meth:`Crews.order_outage` sends a named crew to the outage behind a device (an
IDMS's dispatcher choosing the crew); such a job's ``needs line crew`` waits for the dispatcher to
name the line crew. A crew sent to a device above the one that really opened (a prediction one
level too high) patrols down to it: its ``found`` (or ``found nothing``) names the device it
found open.

With no IDMS running (``twin simulate``) an automatic dispatcher sends a crew to each sustained
outage of a fault (still out :attr:`CrewParameters.sustained_s` after it began), in the order
they began: the nearest free troubleshooter on duty, else the nearest free line crew. Outages of
switching (SCADA, orders) are the operator's to restore. A crew may work on a section
only when it is isolated (its device is open); the safety-document issue adds clearances.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from twin.world.events import EventKind

if TYPE_CHECKING:
    import simpy

    from twin.world.environment import World

__all__ = ["CrewParameters", "Crews", "DepotRoster", "roster_rows", "OrderResult", "OrderStatus", "SKILL_FOR_CAUSE", "Shift",
           "Skill"]


class Skill(str, enum.Enum):
    """What a crew can do."""

    troubleshooter = "troubleshooter"  # one person: patrols, re-fuses, switches, small repairs
    line = "line"  # a line crew: conductors, poles, crossarms, equipment


SKILL_FOR_CAUSE: Mapping[str, Skill] = {
    "tree": Skill.troubleshooter,  # a limb on the line, cut clear
    "animal": Skill.troubleshooter,  # remove it, re-fuse
    "": Skill.troubleshooter,  # nothing found to say otherwise
    "lightning": Skill.line,  # a shattered insulator or arrester
    "wind": Skill.line,  # broken poles and crossarms, conductors torn down
    "ice": Skill.line,  # conductors and structures down under the load
    "equipment": Skill.line,  # a failed transformer, cutout or cable
}
"""The skill a permanent fault's repair needs, by its cause; a wire down always needs a line crew."""


@dataclass(frozen=True)
class Shift:
    """A shift from ``start_h`` to ``end_h`` (hours of the day; past midnight when ``end_h`` is
    earlier; ``0`` to ``24``: all day)."""

    name: str
    start_h: float
    end_h: float

    @property
    def hours(self) -> float:
        """Its length (h)."""
        span = (self.end_h - self.start_h) % 24.0
        return 24.0 if span == 0.0 else span

    def covers(self, hour: float) -> bool:
        """Whether ``hour`` (0-24) falls in the shift."""
        return self.hours >= 24.0 or (hour - self.start_h) % 24.0 < self.hours


@dataclass(frozen=True)
class DepotRoster:
    """The crews a depot bases: ``(shift name, skill, count)`` rows."""

    crews: tuple[tuple[str, Skill, int], ...] = (
        ("day", Skill.line, 2), ("day", Skill.troubleshooter, 1),
        ("night", Skill.line, 1), ("night", Skill.troubleshooter, 1))


@dataclass(frozen=True)
class CrewParameters:
    """Representative figures for overhead line crews (not a utility's own); see the module docstring."""

    shifts: tuple[Shift, ...] = (Shift("day", 7.0, 19.0), Shift("night", 19.0, 7.0))
    roster: DepotRoster = DepotRoster()  # each depot's crews
    depots: Mapping[str, DepotRoster] = field(default_factory=dict)  # by source id: depots staffed otherwise
    road_speed_ms: float = 50.0 / 3.6  # 50 km/h
    detour: float = 1.4  # road distance over straight-line distance
    patrol_speed_ms: float = 8.0 / 3.6  # driving slowly along the line, looking
    repair_median_s: Mapping[str, float] = field(default_factory=lambda: {
        "tree": 2.5 * 3600, "wind": 3.0 * 3600, "ice": 4.0 * 3600, "lightning": 1.5 * 3600,
        "equipment": 3.0 * 3600, "animal": 1.0 * 3600, "": 2.0 * 3600})
    repair_sigma: float = 0.5  # lognormal spread of repair durations
    switching_s: float = 300.0  # to operate a device on arrival: set up, check, operate
    sustained_s: float = 120.0  # an outage this old is sustained: the protection has done its work
    callout_backlog: float = 1.0  # jobs waiting per crew on duty that call everyone out
    callout_min_jobs: int = 3  # ... and never fewer than this
    callout_delay_s: float = 1.5 * 3600  # from the call to reporting at the depot (mean; +-25 %)
    callout_h: float = 16.0  # a called-out crew works this long at most (rest rules)

    def __post_init__(self) -> None:
        names = {s.name for s in self.shifts}
        for where, roster in [("roster", self.roster)] + [(f"depots[{d!r}]", r) for d, r in self.depots.items()]:
            for shift, skill, count in roster.crews:
                if shift not in names:
                    raise ValueError(f"crews.{where}: shift {shift!r} is not one of the shifts "
                                     f"({', '.join(sorted(names))})")
                if skill not in set(Skill) or count < 0:
                    raise ValueError(f"crews.{where}: {count} {skill!r} crews; give a count of 0 or more of a "
                                     f"skill ({', '.join(k.value for k in Skill)})")


class OrderStatus(str, enum.Enum):
    """How a switching order ended."""

    done = "done"  # the device is in the state ordered (it may have been already)
    refused = "refused"  # closing would energise a fault a crew has found and nobody repaired
    off_duty = "off_duty"  # the crew named is not on duty


@dataclass(frozen=True)
class OrderResult:
    """What the crew reported: ``status``, the ``crew``, the ``device``, when (``time_s``) and,
    for a refusal, the faulted ``line`` below the device."""

    status: OrderStatus
    crew: str
    device: str
    time_s: float
    line: str = ""


AWAIT_ORDER = -2
"""A job's ``crew`` when it waits for a dispatcher to name the crew (:meth:`Crews.order_outage`)."""


@dataclass
class _Job:
    """Work waiting for a crew or under way: an outage (``outage`` its index) or a switching order."""

    rank: tuple[int, float, int]  # orders first, then outages by when they began
    outage: int = -1
    device: str = ""
    open_: bool = False
    by: str = ""
    crew: int = -1  # the crew it must go to (-1: any suitable; AWAIT_ORDER: the one a dispatcher names next)
    needs: Skill | None = None  # None: not known until the patrol finds the fault
    located: bool = False  # the fault was found (by a troubleshooter): no patrol
    visit: bool = False  # sent to an outage that is not there: drive to the device, report what is found
    done: object = None  # a switching order's SimPy event, succeeded with its OrderResult


def roster_rows(depots: list[str], params: CrewParameters) -> list[tuple[str, int, Skill, str]]:
    """Every crew of the depots (source ids, in order) as ``(id, depot index, skill, shift name)``:
    ids are the depot's id, ``LC`` (line) or ``TS`` (troubleshooter) and a number per skill."""
    rows = []
    for k, sid in enumerate(depots):
        numbers = {Skill.line: 0, Skill.troubleshooter: 0}
        for shift_name, sk, count in params.depots.get(sid, params.roster).crews:
            sk = Skill(sk)
            for _ in range(count):
                numbers[sk] += 1
                rows.append((f"{sid}-{'LC' if sk == Skill.line else 'TS'}{numbers[sk]}", k, sk, shift_name))
    return rows


class Crews:
    """The roster (arrays per crew: depot, position, skill, shift, busy, on duty) and its
    processes, attached to a world (see the module docstring)."""

    def __init__(self, world: World, params: CrewParameters = CrewParameters(), *,
                 auto_dispatch: bool = True) -> None:
        self.world, self.params = world, params
        net = world.grid.net
        src = net.source
        shift_of = {s.name: k for k, s in enumerate(params.shifts)}
        ids, depot, skill, shift = [], [], [], []
        for crew, k, sk, shift_name in roster_rows(src.ids.tolist(), params):
            ids.append(crew)
            depot.append(k)
            skill.append(sk)
            shift.append(shift_of[shift_name])
        rows = net.bus.index(src["bus"]) if len(src) else np.zeros(0, np.int64)
        bus_xy = np.stack([net.bus["x"][rows], net.bus["y"][rows]], axis=1) if len(rows) else np.zeros((0, 2))
        self.ids = np.array(ids, dtype=object)
        self.depot = np.array(depot, np.int64)
        self.depot_xy = bus_xy[self.depot] if len(ids) else np.zeros((0, 2))
        self.xy = self.depot_xy.copy()  # where each crew is now
        self.skill = np.array([k.value for k in skill], dtype="<U14")  # Skill values
        self.shift = np.array(shift, np.int64)
        n = len(ids)
        self.busy = np.zeros(n, bool)
        self.on_duty = np.zeros(n, bool)
        self.duty_until_s = np.zeros(n)  # when the crew's duty ends (it finishes its job first)
        self.called = np.zeros(n, bool)  # called out, on the way to the depot
        self.sick = np.zeros(n, bool)  # called in sick: off for the rest of the session
        self.rng = world.streams("crews")
        self._callout_rng = world.streams("crew_callout")
        self.waiting: list[_Job] = []
        self.known: set[str] = set()  # lines where a crew found a fault not repaired yet
        self.handled = 0  # outages seen so far (the grid's outages are kept in the order they began)
        self._by_position = None  # lines by depth-first position, for section lengths
        self._seq = 0
        self._start_h = world.calendar.hour(world.now)
        for s, sh in enumerate(params.shifts):
            if sh.covers(self._start_h):
                self._come_on(np.flatnonzero(self.shift == s), self._shift_end(sh, world.now), announce=False)
        world.env.process(self.shift_change())
        if auto_dispatch:
            world.events.subscribe(self._on_event)

    # -- shifts and call-outs -------------------------------------------------------------------

    def shift_change(self):
        """At each shift's start its crews come on duty; at its end those free go home."""
        env, shifts = self.world.env, self.params.shifts
        while not math.isinf(self._next_boundary(env.now)):  # none: crews on all day
            yield env.timeout(max(0.0, self._next_boundary(env.now) - env.now))
            now = env.now
            hour = (self._start_h + now / 3600.0) % 24.0
            for c in np.flatnonzero(self.on_duty & ~self.busy & (self.duty_until_s <= now + 1e-6)).tolist():
                self._go_home(c)
            for s, sh in enumerate(shifts):
                if abs((hour - sh.start_h + 12.0) % 24.0 - 12.0) < 1e-6 and sh.hours < 24.0:
                    self._come_on(np.flatnonzero(self.shift == s), now + sh.hours * 3600.0)
            self._assign()

    def _next_boundary(self, now: float) -> float:
        """The next shift start or end after ``now`` (simulated s)."""
        best = math.inf
        for sh in self.params.shifts:
            if sh.hours >= 24.0:
                continue
            for h in (sh.start_h, sh.end_h):
                base = ((h - self._start_h) % 24.0) * 3600.0
                k = max(0, math.ceil((now + 1e-3 - base) / 86400.0))
                best = min(best, base + k * 86400.0)
        return best

    def _shift_end(self, sh: Shift, now: float) -> float:
        """When the shift under way at ``now`` ends (inf for an all-day shift)."""
        if sh.hours >= 24.0:
            return math.inf
        hour = (self._start_h + now / 3600.0) % 24.0
        return now + (sh.hours - (hour - sh.start_h) % 24.0) * 3600.0

    def call_in_sick(self, crew: str) -> None:
        """Crew ``crew`` is off for the rest of the session: it finishes the job it is on, then
        goes home, and is neither on a later shift nor called out."""
        c = self._row(crew)
        self.sick[c] = True
        self.duty_until_s[c] = min(self.duty_until_s[c], self.world.now)
        self.world.events.publish(self.world.now, EventKind.shift, crew=crew, action="called in sick")
        if self.on_duty[c] and not self.busy[c]:
            self._go_home(c)

    def _come_on(self, crews: np.ndarray, until_s: float, *, announce: bool = True) -> None:
        """Crews go on duty (at their depot, unless already on) until ``until_s`` at least."""
        for c in crews.tolist():
            if self.sick[c]:
                continue
            was = bool(self.on_duty[c])
            self.duty_until_s[c] = max(self.duty_until_s[c], until_s) if was else until_s
            self.on_duty[c] = True  # before the event: a listener reads the roster as it is now
            if not was and announce:
                self.world.events.publish(self.world.now, EventKind.shift, crew=str(self.ids[c]), action="on duty",
                                          skill=str(self.skill[c]))

    def _go_home(self, c: int) -> None:
        now = self.world.now
        overtime = max(0.0, now - self.duty_until_s[c])
        self.on_duty[c] = False
        self.xy[c] = self.depot_xy[c]
        self.world.events.publish(now, EventKind.shift, crew=str(self.ids[c]), action="off duty",
                                  overtime_min=round(overtime / 60.0, 1))

    def call_out(self, crews: list[str] | None = None) -> list[str]:
        """Call crews off duty in (all of them by default): each reports at its depot after the
        call-out delay. Returns the crews called."""
        rows = np.arange(len(self.ids)) if crews is None else np.array([self._row(c) for c in crews], np.int64)
        rows = rows[~self.on_duty[rows] & ~self.called[rows] & ~self.sick[rows]]
        delay = self.params.callout_delay_s * self._callout_rng.uniform(0.75, 1.25, len(rows))
        for c, d in zip(rows.tolist(), delay.tolist()):
            self.called[c] = True
            self.world.events.publish(self.world.now, EventKind.shift, crew=str(self.ids[c]), action="called out",
                                      skill=str(self.skill[c]), eta_s=round(self.world.now + d, 3))
            self.world.env.process(self.report_in(c, d))
        return [str(self.ids[c]) for c in rows.tolist()]

    def report_in(self, crew: int, delay_s: float):
        """A called-out crew reports at its depot and goes on duty."""
        yield self.world.env.timeout(delay_s)
        now, p = self.world.env.now, self.params
        self.called[crew] = False
        sh = p.shifts[int(self.shift[crew])]
        own = self._shift_end(sh, now) if sh.covers((self._start_h + now / 3600.0) % 24.0) else 0.0
        if not self.on_duty[crew]:  # (its shift may have begun while it was on its way)
            self.xy[crew] = self.depot_xy[crew]
        self._come_on(np.array([crew]), max(now + p.callout_h * 3600.0, own))
        self._assign()

    def _call_out_if_needed(self) -> None:
        """A storm's backlog calls everyone out; a job needing a skill nobody on duty has, the
        nearest crew with it."""
        if not self.waiting:
            return
        p = self.params
        if len(self.waiting) >= max(p.callout_min_jobs, p.callout_backlog * int(self.on_duty.sum())):
            if (~self.on_duty & ~self.called).any():
                self.call_out()
                return
        for job in self.waiting:
            if job.needs is None:
                continue
            able = self.skill == job.needs.value
            if (able & (self.on_duty | self.called)).any() or not able.any():
                continue
            d = np.hypot(*(self.depot_xy - self._job_xy(job)).T)
            d[~able] = np.inf
            self.call_out([str(self.ids[int(np.argmin(d))])])

    # -- the automatic dispatcher ---------------------------------------------------------------

    def _on_event(self, event) -> None:
        """A new outage: once it has lasted :attr:`CrewParameters.sustained_s` (the protection's
        sequence is over) and a fault still stands behind it, it waits for a crew."""
        if event.kind != EventKind.outage:
            return
        for k in range(self.handled, len(self.world.grid.outages)):
            self.world.env.process(self._confirm(k))
        self.handled = len(self.world.grid.outages)

    def _confirm(self, k: int):
        yield self.world.env.timeout(self.params.sustained_s)
        o = self.world.grid.outages[k]
        if np.isnan(o.restored_s) and o.isolated_by and o.line and all(j.outage != k for j in self.waiting):
            self._queue(_Job(rank=(1, o.start_s, self._next_seq()), outage=k))

    def _next_seq(self) -> int:
        self._seq += 1
        return self._seq

    def _queue(self, job: _Job) -> None:
        self.waiting.append(job)
        self.waiting.sort(key=lambda j: j.rank)
        self._assign()

    def _assign(self) -> None:
        """Send home the free crews whose duty is over; give each waiting job, in turn, the crew
        that suits it, while there are any; call crews out where the jobs need them."""
        for c in np.flatnonzero(self.on_duty & ~self.busy & (self.duty_until_s <= self.world.env.now + 1e-6)):
            self._go_home(int(c))
        outages = self.world.grid.outages
        for job in list(self.waiting):
            if job.outage >= 0 and not job.located and not np.isnan(outages[job.outage].restored_s):
                self.waiting.remove(job)  # power came back meanwhile (another crew's close): nothing to do
                continue
            crew = self._crew_for(job)
            if crew < 0:
                continue
            self.waiting.remove(job)
            self.busy[crew] = True
            self.world.env.process(self.work(crew, job))
        self._call_out_if_needed()

    def _crew_for(self, job: _Job) -> int:
        """The crew for a job, -1 when none is free: the one named; else the nearest free crew on
        duty with the skill needed (for a patrol, a troubleshooter before a line crew)."""
        free = self.on_duty & ~self.busy
        if job.crew == AWAIT_ORDER:
            return -1
        if job.crew >= 0:
            return job.crew if free[job.crew] else -1
        if job.needs == Skill.line:
            free &= self.skill == Skill.line.value
        elif job.outage >= 0 and (free & (self.skill == Skill.troubleshooter.value)).any():
            free &= self.skill == Skill.troubleshooter.value
        if not free.any():
            return -1
        d = np.hypot(*(self.xy - self._job_xy(job)).T)
        d[~free] = np.inf
        return int(np.argmin(d))

    def _job_xy(self, job: _Job) -> np.ndarray:
        if job.outage >= 0:
            o = self.world.grid.outages[job.outage]
            return self._line_xy(o.line) if o.line else self._device_xy(o.isolated_by)
        return self._device_xy(job.device)

    def _line_xy(self, line: str) -> np.ndarray:
        net = self.world.grid.net
        row = net.line.position(line)
        b = net.bus.index([net.line["from_bus"][row], net.line["to_bus"][row]])
        return np.array([net.bus["x"][b].mean(), net.bus["y"][b].mean()])

    def _device_xy(self, device: str) -> np.ndarray:
        """Where a switching device (its from-bus) or a transformer (its primary bus) is."""
        net = self.world.grid.net
        row = net.switch.get(device)
        bus = net.switch["from_bus"][row] if row is not None else net.transformer["bus"][net.transformer.position(device)][0]
        b = net.bus.position(bus)
        return np.array([net.bus["x"][b], net.bus["y"][b]])

    # -- a crew's work --------------------------------------------------------------------------

    def work(self, crew: int, job: _Job):
        """Do a job: an outage (patrol, repair, close) or a switching order, then be free."""
        if job.outage >= 0:
            yield from self._outage(crew, job)
        elif job.visit:
            yield from self._visit(crew, job)
        else:
            yield from self._switching(crew, job)
        self._free(crew)

    def _visit(self, crew: int, job: _Job):
        """Drive to a device sent to for an outage that is not there, and report finding nothing."""
        env, events, name = self.world.env, self.world.events, str(self.ids[crew])
        events.publish(env.now, EventKind.crew, crew=name, action="dispatched", device=job.device,
                       skill=str(self.skill[crew]))
        yield from self._drive(crew, self._device_xy(job.device))
        events.publish(env.now, EventKind.crew, crew=name, action="arrived", device=job.device)
        yield env.timeout(self.params.switching_s)  # a look at the device and the section behind it
        above = self.world.grid.open_above(job.device)
        if above:  # no voltage on its source side: the line is dead from a device open further up
            yield from self._drive(crew, self._device_xy(above))
            events.publish(env.now, EventKind.crew, crew=name, action="found", device=above,
                           status=f"no power at {job.device}: {above} open above it")
        else:
            events.publish(env.now, EventKind.crew, crew=name, action="found nothing", device=job.device,
                           status="no outage behind the device")

    def _drive(self, crew: int, xy: np.ndarray):
        dist_m = self.params.detour * float(np.hypot(*(self.xy[crew] - xy)))
        yield self.world.env.timeout(dist_m / self.params.road_speed_ms)
        self.xy[crew] = xy

    def _outage(self, crew: int, job: _Job):
        """Drive to the outage, patrol the section, repair the fault (or hand it to a line crew),
        close the isolating device."""
        env, grid, p, events = self.world.env, self.world.grid, self.params, self.world.events
        o = grid.outages[job.outage]
        line = o.line
        name = str(self.ids[crew])
        events.publish(env.now, EventKind.crew, crew=name, action="dispatched", line=line,
                       device=job.device or o.isolated_by, skill=str(self.skill[crew]))
        yield from self._drive(crew, self._line_xy(line) if line else self._device_xy(o.isolated_by))
        events.publish(env.now, EventKind.crew, crew=name, action="arrived", line=line)
        patrolled: list[str] = []
        fault = grid.faults.get(line)
        if not job.located:
            whole_m, pointed_m, patrolled = self._patrol(o.isolated_by, line)
            share = self.rng.uniform(0.1, 1.0)
            if pointed_m is None:
                patrol_m = share * whole_m
            elif line in patrolled:
                patrol_m = share * pointed_m
            else:  # the indicators pointed elsewhere: that in vain, then the rest
                patrol_m = pointed_m + share * max(0.0, whole_m - pointed_m)
            yield env.timeout(patrol_m / p.patrol_speed_ms)
            fault = grid.faults.get(line)
            if fault is None:  # a temporary fault: nothing to find, the device is closed again
                events.publish(env.now, EventKind.crew, crew=name, action="found nothing", line=line,
                               device=grid.outages[job.outage].isolated_by)
            else:
                events.publish(env.now, EventKind.crew, crew=name, action="found", line=line, cause=fault.cause,
                               device=grid.outages[job.outage].isolated_by)
                self.known.add(line)
                need = Skill.line if fault.wire_down else SKILL_FOR_CAUSE.get(fault.cause, Skill.line)
                if need == Skill.line and self.skill[crew] != Skill.line.value:
                    events.publish(env.now, EventKind.crew, crew=name, action="needs line crew", line=line,
                                   cause=fault.cause)
                    job.needs, job.located = Skill.line, True
                    if job.crew >= 0:  # sent by a dispatcher: the dispatcher names the line crew
                        job.crew = AWAIT_ORDER
                    self._queue(job)
                    return
        if fault is not None:
            median = p.repair_median_s.get(fault.cause, p.repair_median_s[""])
            yield env.timeout(float(self.rng.lognormal(np.log(median), p.repair_sigma)))
            grid.repair(env.now, line)
            self.known.discard(line)
            events.publish(env.now, EventKind.crew, crew=name, action="repaired", line=line)
        device = grid.outages[job.outage].isolated_by
        if device and not self._faults_below(device, self.known):
            grid.operate(env.now, device, open_=False, why=f"closed by {name} after the repair of {line}", line=line)
            events.publish(env.now, EventKind.switch, device=device, closed=True, by=name)
        fci = getattr(self.world, "fault_indicators", None)
        if fci is not None and patrolled:
            fci.reset_lines(patrolled, by=name)

    def _patrol(self, device: str, line: str) -> tuple[float, float | None, list[str]]:
        """The section's line length (m); with fault indicators, the length they point to and its lines."""
        whole = self._section_length(device)
        fci = getattr(self.world, "fault_indicators", None)
        if fci is None or not len(fci.ids):
            return whole, None, []
        lines = fci.patrol_section(device, line)
        if not lines:
            return whole, None, []
        table = self.world.grid.net.line
        return whole, float(table["length_m"][table.index(lines)].sum()), lines

    def _free(self, crew: int) -> None:
        self.busy[crew] = False
        self.world.events.publish(self.world.env.now, EventKind.crew, crew=str(self.ids[crew]), action="free")
        if self.on_duty[crew] and self.world.env.now >= self.duty_until_s[crew] - 1e-6:
            self._go_home(crew)
        self._assign()

    def _section_length(self, device: str) -> float:
        """Line length (m) below a device (in the normal configuration): what a patrol may cover."""
        if not device:
            return 1000.0
        position, prefix = self._lines_by_position()
        total = 0.0
        for first, end in self.world.grid.normal_topology().subtree_ranges(f"switch.{device}"):
            a, b = np.searchsorted(position, [first, end])
            total += float(prefix[b] - prefix[a])
        return total or 1000.0

    def _lines_by_position(self) -> tuple[np.ndarray, np.ndarray]:
        """The lines in the depth-first order of their to-buses in the normal tree (positions,
        sorted) and the running sum of their lengths (m), made once: the lines below a device are
        those in its depth-first ranges."""
        if self._by_position is None:
            grid = self.world.grid
            topo, line = grid.normal_topology(), grid.net.line
            to_bus = grid.net.bus.index(line["to_bus"])
            position = np.where(topo.energised[to_bus], topo.tin[to_bus], -1)
            order = np.argsort(position, kind="stable")
            prefix = np.concatenate([[0.0], np.cumsum(np.asarray(line["length_m"], float)[order])])
            self._by_position = (position[order], prefix)
        return self._by_position

    def _faults_below(self, device: str, faults) -> list[str]:
        """Those of the lines ``faults`` that lie below the device (normal configuration)."""
        if not faults:
            return []
        grid = self.world.grid
        topo, net = grid.normal_topology(), grid.net
        ranges = topo.subtree_ranges(f"switch.{device}")
        out = []
        for f in faults:
            b = net.bus.position(str(net.line["to_bus"][net.line.position(f)]))
            if topo.energised[b] and any(first <= topo.tin[b] < end for first, end in ranges):
                out.append(f)
        return out

    # -- outages on order -----------------------------------------------------------------------

    def order_outage(self, crew: str, device: str, line: str = "", *, by: str = "dispatcher") -> bool:
        """Send ``crew`` to the outage isolated by ``device`` (``line``: which, where several
        stand behind it): it drives there, patrols, repairs and closes the device, as for the
        automatic dispatcher, once it is free. A job already waiting for that outage (a
        troubleshooter's ``needs line crew``, which a dispatcher's own crew leaves to the
        dispatcher) goes to this crew. Publishes a ``crew`` event ``ordered``, or ``refused``
        (returning False) when the crew is off duty. Where no outage stands behind the device the
        crew still goes (the dispatcher cannot know better than the field) and reports ``found
        nothing`` at the device on arrival. Raises KeyError for an unknown crew."""
        env, grid = self.world.env, self.world.grid
        row = self._row(crew)
        standing = [k for k, o in enumerate(grid.outages) if np.isnan(o.restored_s) and o.isolated_by == device]
        if not standing:  # sent to a device above the one that opened: the patrol below it finds that one
            standing = self._standing_below(device)
        if line and any(grid.outages[k].line == line for k in standing):
            standing = [k for k in standing if grid.outages[k].line == line]
        if not self.on_duty[row]:
            self.world.events.publish(env.now, EventKind.crew, crew=crew, action="refused", device=device,
                                      order="outage", status="off duty", by=by)
            return False
        if grid.net.switch.get(device) is None and grid.net.transformer.get(device) is None:
            self.world.events.publish(env.now, EventKind.crew, crew=crew, action="refused", device=device,
                                      order="outage", status="unknown_device", by=by)
            return False
        if not standing:  # its customers have power: the crew finds that out when it gets there
            self.world.events.publish(env.now, EventKind.crew, crew=crew, action="ordered", device=device,
                                      line=line, order="outage", by=by)
            self._queue(_Job(rank=(0, env.now, self._next_seq()), device=device, by=by, crew=row, visit=True))
            return True
        k = standing[0]
        self.world.events.publish(env.now, EventKind.crew, crew=crew, action="ordered", device=device,
                                  line=grid.outages[k].line, order="outage", by=by)
        for job in self.waiting:
            if job.outage == k:
                job.crew = row
                self._assign()
                return True
        self._queue(_Job(rank=(0, env.now, self._next_seq()), outage=k, device=device, by=by, crew=row))
        return True

    def _standing_below(self, device: str) -> list[int]:
        """Outages still standing whose isolating device lies below ``device`` (normal
        configuration), oldest first, those of a fault before those of switching."""
        grid = self.world.grid
        topo, net = grid.normal_topology(), grid.net
        if net.switch.get(device) is None:  # a transformer: the outage its customers are in
            if net.transformer.get(device) is None:
                return []
            mine = np.flatnonzero(np.asarray(net.service_point["transformer"]) == device)
            return [k for k, o in enumerate(grid.outages) if np.isnan(o.restored_s) and o.isolated_by
                    and np.isin(mine, o.remaining).any()]
        ranges = topo.subtree_ranges(f"switch.{device}")
        below = []
        for k, o in enumerate(grid.outages):
            if not np.isnan(o.restored_s) or not o.isolated_by or o.isolated_by == device:
                continue
            b = net.bus.position(str(net.switch["to_bus"][net.switch.position(o.isolated_by)]))
            if topo.energised[b] and any(first <= topo.tin[b] < end for first, end in ranges):
                below.append(k)
        return sorted(below, key=lambda k: (not grid.outages[k].line, grid.outages[k].start_s))

    # -- switching on order ---------------------------------------------------------------------

    def order_switch(self, crew: str | None, device: str, open_: bool, *, by: str = "dispatcher") -> simpy.Process:
        """Send a crew (``crew``, or the nearest free one on duty when None) to open or close
        ``device`` and report back: a SimPy process whose value is the :class:`OrderResult`. The
        order goes before the outages waiting; the crew drives there, takes
        :attr:`CrewParameters.switching_s`, operates the device (a ``switch`` event ``by`` the
        crew) and reports (a ``crew`` event ``reported``). It refuses to close onto a fault a crew
        has found and nobody has repaired (a ``crew`` event ``refused``, status ``refused``).
        Raises ModelError for a device the model does not have, KeyError for an unknown crew."""
        env = self.world.env
        self.world.grid.net.switch.position(device)  # ModelError for an unknown device
        row = -1 if crew is None else self._row(crew)
        job = _Job(rank=(0, env.now, self._next_seq()), device=device, open_=bool(open_), by=by, crew=row,
                   done=env.event())
        action = "open" if open_ else "close"
        self.world.events.publish(env.now, EventKind.crew, crew=crew or "", action="ordered", device=device,
                                  order=action, by=by)
        known = [] if open_ else self._faults_below(device, self.known)
        if row >= 0 and not self.on_duty[row]:
            job.done.succeed(self._report(row, job, OrderStatus.off_duty))
        elif known:
            job.done.succeed(self._report(row, job, OrderStatus.refused, known[0]))
        else:
            self._queue(job)
        return env.process(self._await(job))

    def _row(self, crew: str) -> int:
        found = np.flatnonzero(self.ids == crew)
        if not len(found):
            raise KeyError(f"no crew {crew!r}: crews are named like {', '.join(self.ids[:3].tolist())}")
        return int(found[0])

    def _await(self, job: _Job):
        """Wait for the crew's report on a switching order."""
        result = yield job.done
        return result

    def _switching(self, crew: int, job: _Job):
        """Drive to the device, operate it as ordered (unless that closes onto a known fault), report."""
        env, grid, events = self.world.env, self.world.grid, self.world.events
        name = str(self.ids[crew])
        action = "open" if job.open_ else "close"
        events.publish(env.now, EventKind.crew, crew=name, action="dispatched", device=job.device, order=action,
                       skill=str(self.skill[crew]))
        yield from self._drive(crew, self._device_xy(job.device))
        events.publish(env.now, EventKind.crew, crew=name, action="arrived", device=job.device)
        known = [] if job.open_ else self._faults_below(job.device, self.known)
        if known:
            job.done.succeed(self._report(crew, job, OrderStatus.refused, known[0]))
            return
        yield env.timeout(self.params.switching_s)
        row = grid.net.switch.position(job.device)
        if bool(grid.switch_open[row]) != job.open_:
            grid.operate(env.now, job.device, open_=job.open_, why=f"{action} by {name} on the order of {job.by}")
            events.publish(env.now, EventKind.switch, device=job.device, action=action, closed=not job.open_,
                           by=name)
        job.done.succeed(self._report(crew, job, OrderStatus.done))

    def _report(self, crew: int, job: _Job, status: OrderStatus, line: str = "") -> OrderResult:
        now = self.world.env.now
        name = str(self.ids[crew]) if crew >= 0 else ""
        extra = {"line": line} if line else {}
        self.world.events.publish(now, EventKind.crew, crew=name, action="refused" if status == OrderStatus.refused
                                  else "reported", device=job.device, order="open" if job.open_ else "close",
                                  status=status.value, **extra)
        return OrderResult(status, name, job.device, float(now), line)
