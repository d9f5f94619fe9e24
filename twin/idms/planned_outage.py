"""Planned outage study: for work on a section of network at a date, the switching order and
the safety document, the customers it puts out and for how long, the back-feeds that spare some
of them, and the plan checked against the load forecast for the work's hours.

:func:`study_outage` takes a :class:`PlannedWork` (the work location: a line or a bus; when it
starts and how long it lasts; the crew) and the switching desk of an IDMS:

* the *section*: the buses around the work location bounded by switching devices of any kind
  (a fuse's cutout isolates a lateral as well as a switch does); its isolation points are the
  devices on its boundary through which a source could reach it, normally open ties included
  (they are tagged open); a fuse into a dead-end lateral is none (the lateral is dead with the
  section, and inside the clearance);
* the *areas* beyond its downstream points, which lose power with it unless a *back-feed* picks
  them up: an open tie with one end in the area and the other live, checked by the power flow at
  the highest load the forecast gives over the work's hours (:class:`~twin.idms.switching.checks.Checker`);
  a back-feed is closed before the downstream point opens (make-before-break, a brief loop; two
  sources in parallel are not made: such an area is dropped for a moment first). Where no tie
  carries the whole area, the area is split at a device that breaks load and the part beyond it
  is picked up, the part between the split and the work staying out with the section;
* the *orders*: the isolation (back-feeds, open the points, verify dead, tag each for the
  clearance, ground at the work location, issue the clearance to the crew) and the restoration
  (take it back, remove the grounds, untag, close the points, return the back-fed areas to their
  feeder), both drafts on the desk, rehearsed;
* the *customers*: those out through the work (service point rows, critical ones named), and the
  customer-minutes with and without the back-feeds.

The forecast is a callable ``load_scale(t_s) -> float`` (1.0: the model's peak loads), sampled
hourly over the work; without one the plan is checked at peak.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from twin.errors import TwinError
from twin.idms.switching.checks import Rehearsal, Study
from twin.grid.schema import SwitchKind
from twin.idms.switching.order import Performer, Step, StepKind, SwitchingOrder
from twin.idms.switching.pickup import best_tie, split_pickup, ties_into
from twin.idms.switching.safety import Clearance

__all__ = ["OutageStudy", "PlannedWork", "PlannedWorkError", "study_outage"]


_SPLITTABLE = np.array([int(SwitchKind.breaker), int(SwitchKind.recloser), int(SwitchKind.sectionaliser),
                        int(SwitchKind.load_break_switch)])  # devices that break load


class PlannedWorkError(TwinError):
    """The planned work cannot be studied as given (says why)."""

    def __init__(self, message: str, *, fix: str = "") -> None:
        self.fix = fix
        super().__init__(f"{message}; {fix}" if fix else message)


@dataclass(frozen=True)
class PlannedWork:
    """Work on the network: ``location`` a line or bus id, from ``start_s`` (s on the IDMS clock)
    for ``duration_h`` hours, by ``crew``; ``description`` for the documents."""

    location: str
    start_s: float
    duration_h: float
    crew: str
    description: str = "planned work"


@dataclass
class OutageStudy:
    """What :func:`study_outage` found (see the module docstring)."""

    work: PlannedWork
    section: list[str]
    points: list[str]
    upstream: str
    back_feeds: list[tuple[str, str]] = field(default_factory=list)  # (downstream point, tie)
    customers_out: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))
    critical_out: list[str] = field(default_factory=list)
    customers_without_back_feeds: int = 0
    load_scale: float = 1.0
    clearance: Clearance | None = None
    isolation: SwitchingOrder | None = None
    restoration: SwitchingOrder | None = None
    rehearsal: Rehearsal | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def customer_minutes(self) -> float:
        return float(len(self.customers_out) * self.work.duration_h * 60.0)

    @property
    def customer_minutes_saved(self) -> float:
        return float((self.customers_without_back_feeds - len(self.customers_out)) * self.work.duration_h * 60.0)

    def text(self) -> str:
        w = self.work
        lines = [f"Planned outage study: {w.description} at {w.location}, {w.duration_h:g} h from {w.start_s:.0f} s, "
                 f"crew {w.crew}",
                 f"  section: {len(self.section)} buses; isolation points {', '.join(self.points)} (upstream "
                 f"{self.upstream})",
                 f"  customers out: {len(self.customers_out):,} ({self.customer_minutes:,.0f} customer-minutes); "
                 f"without back-feeds {self.customers_without_back_feeds:,}"]
        if self.back_feeds:
            lines.append("  back-feeds: " + ", ".join(f"{t} for the area below {p}" for p, t in self.back_feeds))
        if self.critical_out:
            lines.append(f"  CRITICAL customers out: {', '.join(self.critical_out)}")
        lines.append(f"  checked at load scale {self.load_scale:.2f} (the forecast's highest over the work)")
        lines += [f"  note: {n}" for n in self.notes]
        if self.rehearsal is not None:
            lines.append(self.rehearsal.text())
        return "\n".join(lines)


def study_outage(desk, work: PlannedWork, *, user: str, load_scale: Callable[[float], float] | float = 1.0,
                 create: bool = True) -> OutageStudy:
    """Study ``work`` on the IDMS's switching desk (see the module docstring); with ``create`` the
    clearance and both orders are written on the desk as drafts."""
    net, conn, checker = desk.net, desk.connectivity, desk.checker
    if work.duration_h <= 0:
        raise PlannedWorkError(f"planned work at {work.location}: duration {work.duration_h} h; give the hours it lasts")
    bus = _work_bus(net, work.location)
    states = desk.model.open.copy()
    section, points = _section(conn, net, bus)
    if np.isin(conn.source_bus, section).any():
        raise PlannedWorkError(f"planned work at {work.location}: no switching device separates it from its source",
                               fix="work at a location a switch, fuse or breaker can isolate")
    label, live = conn.islands(states)
    ids = [str(x) for x in net.switch.ids]
    in_section = np.zeros(len(live), bool)
    in_section[section] = True
    # the upstream point: the closed boundary device whose outer side is live (the feed), else any
    feeds = [p for p in points if not states[p] and live[_outer(conn, p, in_section)]]
    if not feeds:
        raise PlannedWorkError(f"planned work at {work.location}: the section is not fed now (nothing to isolate)")
    upstream = feeds[0]
    scale = _peak_scale(load_scale, work)
    saved_scale = checker.load_scale
    checker.load_scale = lambda: scale
    try:
        out = _plan(desk, work, states, section, in_section, points, upstream, ids, user, create)
    finally:
        checker.load_scale = saved_scale
    out.load_scale = scale
    return out


def _plan(desk, work, states, section, in_section, points, upstream, ids, user, create) -> OutageStudy:
    net, conn, checker = desk.net, desk.connectivity, desk.checker
    down = [p for p in points if p != upstream and not states[p]]
    ties_open = [p for p in points if p != upstream and states[p]]
    trial = states.copy()
    trial[points] = True  # the section isolated: what is dead then
    _, live_after = conn.islands(trial)
    _, live_now = conn.islands(states)
    cust = conn.customer_bus
    lost_plain = live_now[cust] & ~live_after[cust]
    study = OutageStudy(work, net.bus.ids[section].astype(str).tolist(), [ids[p] for p in points], ids[upstream],
                        customers_without_back_feeds=int(lost_plain.sum()))
    steps: list[Step] = []
    back: list[Step] = []
    used: set[int] = set(points.tolist())
    s = states.copy()

    def by_crew(row: int) -> Performer:
        return Performer.scada if bool(net.switch["remote"][row]) else Performer.crew

    def crew_of(row: int) -> str:
        return work.crew if by_crew(row) == Performer.crew else ""

    splittable = np.isin(np.asarray(net.switch["kind"], np.int64), _SPLITTABLE)
    fed_back: set[int] = set()  # downstream points whose whole area is back-fed
    for p in down:  # back-feed each area beyond a downstream point, whole or split, if a tie can carry it
        outer = _outer(conn, p, in_section)
        apart = s.copy()
        apart[points] = True
        label, live = conn.islands(apart)
        if live[outer]:
            continue  # fed from elsewhere already
        area = label == label[outer]
        ties = ties_into(checker, apart, area, np.ones(len(s), bool), used)
        notes: list[str] = []
        chosen, cut = best_tie(checker, Study(apart, {}, desk.register), apart, ties, limit=4, notes=notes), p
        if chosen is None and ties:
            chosen, cut = split_pickup(checker, Study(apart, {}, desk.register), apart, area, ties, splittable,
                                       exclude=used)
        if chosen is None:
            study.notes += [f"{n} (the area below {ids[p]})" for n in notes]
            continue
        # the area (or the part of it beyond the split) moves to the tie before the work: make
        # before break, or, where that would put two sources in parallel, break before make
        parallel = conn.effect(s, chosen, False).parallel
        move = [Step(StepKind.close, ids[chosen], by=by_crew(chosen), crew=crew_of(chosen), allow_loop=True,
                     note=f"back-feed the area below {ids[p]}"),
                Step(StepKind.open, ids[cut], by=by_crew(cut), crew=crew_of(cut), note="the area is on its back-feed")]
        home = [Step(StepKind.close, ids[cut], by=by_crew(cut), crew=crew_of(cut), allow_loop=True,
                     note="the area back on its feeder"),
                Step(StepKind.open, ids[chosen], by=by_crew(chosen), crew=crew_of(chosen), note="normally open again")]
        if parallel:
            move = [Step(StepKind.open, ids[cut], by=by_crew(cut), crew=crew_of(cut), acknowledged=True,
                         note="drop the area for its back-feed"),
                    Step(StepKind.close, ids[chosen], by=by_crew(chosen), crew=crew_of(chosen),
                         note=f"back-feed the area below {ids[p]}")]
            home = [Step(StepKind.open, ids[chosen], by=by_crew(chosen), crew=crew_of(chosen), acknowledged=True,
                         note="normally open again"),
                    Step(StepKind.close, ids[cut], by=by_crew(cut), crew=crew_of(cut), note="the area back on its feeder")]
        steps += move
        back = home + back
        s[chosen], s[cut] = False, True
        used.update({chosen, cut})
        if cut == p:
            fed_back.add(p)
        study.back_feeds.append((ids[cut], ids[chosen]))
    after = s.copy()
    after[points] = True
    _, live_end = conn.islands(after)
    out_mask = live_now[cust] & ~live_end[cust]
    study.customers_out = np.flatnonzero(out_mask)
    crit = checker.critical
    if len(crit):
        study.critical_out = net.service_point.ids[out_mask & crit].astype(str).tolist()
    loc_bus = str(net.bus.ids[section[0]]) if work.location not in study.section else work.location
    ground_bus = work.location if work.location in study.section else loc_bus
    isolate = list(steps)
    for p in [upstream] + [p for p in down if p not in fed_back]:
        # critical customers out: the dispatcher acknowledges them on the order before approval
        isolate.append(Step(StepKind.open, ids[p], by=by_crew(p), crew=work.crew if by_crew(p) == Performer.crew else "",
                            acknowledged=not study.critical_out, note="isolate the work"))
    for p in [upstream] + down + ties_open:
        isolate.append(Step(StepKind.verify, ids[p], by=Performer.dispatcher, expect_open=True))
    isolate.append(Step(StepKind.verify, ground_bus, by=Performer.dispatcher, note="proven dead"))
    if not create:
        return study
    clearance = desk.new_clearance(work.crew, work.description, [ids[p] for p in points], grounds=[ground_bus],
                                   location=ground_bus, user=user)
    study.clearance = clearance
    for p in points:
        isolate.append(Step(StepKind.tag, ids[p], by=Performer.dispatcher, clearance=clearance.id))
    isolate += [Step(StepKind.ground, ground_bus, by=Performer.crew, crew=work.crew, clearance=clearance.id),
                Step(StepKind.issue, by=Performer.dispatcher, clearance=clearance.id)]
    restore = [Step(StepKind.take_back, by=Performer.crew, crew=work.crew, clearance=clearance.id),
               Step(StepKind.remove_ground, ground_bus, by=Performer.crew, crew=work.crew, clearance=clearance.id)]
    restore += [Step(StepKind.untag, ids[p], by=Performer.dispatcher, clearance=clearance.id) for p in points]
    for p in [p for p in down if p not in fed_back] + [upstream]:
        restore.append(Step(StepKind.close, ids[p], by=by_crew(p), crew=work.crew if by_crew(p) == Performer.crew else "",
                            note="restore the section"))
    restore += back
    study.isolation = desk.create(f"Planned work {work.description} at {work.location}: isolation", isolate, user=user,
                                  purpose="planned", clearances=[clearance.id])
    study.restoration = desk.create(f"Planned work {work.description} at {work.location}: restoration", restore,
                                    user=user, purpose="planned", clearances=[clearance.id])
    study.rehearsal = desk.rehearse(study.isolation.id)
    return study


def _work_bus(net, location: str) -> int:
    if net.line.get(location) is not None:
        return int(net.bus.position(str(net.line["to_bus"][net.line.position(location)])))
    if net.bus.get(location) is not None:
        return int(net.bus.position(location))
    raise PlannedWorkError(f"planned work at {location!r}: no line or bus of that id in {net.name}",
                           fix="name the line or bus the crew works on")


def _section(conn, net, bus: int) -> tuple[np.ndarray, np.ndarray]:
    """The buses around ``bus`` bounded by switching devices, and the devices that isolate it:
    those on its boundary through which a source can reach it (every other device closed). A
    device into a dead end (a lateral's fuse) is no isolation point: what lies beyond it is dead
    with the section, and part of it for the clearance."""
    every_open = np.ones(len(net.switch), bool)
    label, _ = conn.islands(every_open)
    section = np.flatnonzero(label == label[bus])
    inside = np.zeros(len(label), bool)
    inside[section] = True
    a, b = inside[conn.switch_from], inside[conn.switch_to]
    boundary = np.flatnonzero(a ^ b)
    rest = np.zeros(len(net.switch), bool)  # every device closed but the boundary's
    rest[boundary] = True
    far_label, far_live = conn.islands(rest)
    points = [int(r) for r in boundary.tolist()
              if far_live[conn.switch_to[r] if a[r] else conn.switch_from[r]]]
    return section, np.array(points, np.int64)


def _outer(conn, row: int, in_section: np.ndarray) -> int:
    return int(conn.switch_to[row] if in_section[conn.switch_from[row]] else conn.switch_from[row])


def _peak_scale(load_scale, work: PlannedWork) -> float:
    if not callable(load_scale):
        return float(load_scale)
    hours = np.arange(0.0, work.duration_h + 1e-9, 1.0)
    return float(max(load_scale(work.start_s + 3600.0 * h) for h in hours))
