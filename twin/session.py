"""A session: the world and the IDMS run together, the IDMS seeing the world only through its four
interfaces (virtual links) and the clock, run by the automatic dispatcher.

:func:`build_session` makes the world (:func:`twin.world.simulate.build_world`, with the world's
own crew dispatcher off), the virtual links (field devices, AMI head-end unless ``ami=False``,
call centre, workforce, clock) and the :class:`~twin.idms.system.Idms` on them, with an
:class:`~twin.idms.dispatcher.AutomaticDispatcher`. :func:`run_session` runs the storm's hours,
then on until the world has every customer back (up to ``max_extra_h`` more), and sums up: the
world's truth, the IDMS's outage records and the IEEE 1366 indices from them. ``twin run`` is
this, with a report written (CSV and HTML).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import numpy as np

from twin.grid.network import Network
from twin.idms.dispatcher import AutomaticDispatcher
from twin.idms.oms.records import OutageState
from twin.idms.system import Idms
from twin.world.environment import DEFAULT_START
from twin.world.simulate import WorldParts, WorldSummary, build_world, summarise

__all__ = ["Session", "SessionSummary", "build_session", "run_out", "run_session", "summarise_session", "world_facts",
           "world_for", "write_report"]


@dataclass
class Session:
    """The world's parts, the IDMS on them and the dispatcher running it."""

    parts: WorldParts
    idms: Idms
    dispatcher: AutomaticDispatcher | None
    hours: float
    storm: str
    devices: str = "virtual"
    closers: list = field(default_factory=list)
    flisr: object = None  # a twin.idms.flisr.Flisr, when the session runs FLISR

    @property
    def world(self):
        return self.parts.world

    @property
    def start(self) -> datetime:
        """The calendar instant of the session's second 0."""
        return self.parts.world.calendar.start


@dataclass(frozen=True)
class SessionSummary:
    """What a session came to: the world's summary, the IDMS's outage records and the indices."""

    world: WorldSummary
    outages: int  # records that were outages (restored or still active)
    active: int
    cancelled: int  # withdrawn (pings, a crew found power on) or merged into a larger outage
    inside_premise: int
    dispatches: int
    alarms_acknowledged: int
    pings: int
    out_at_end: int  # customers the world has without power at the end
    restored_s: float  # when the world had every customer back (NaN: not within the run)
    end_s: float
    saifi: float
    saidi_min: float
    caidi_min: float
    customer_minutes: float  # by the IDMS's records

    def text(self) -> str:
        back = "every customer restored" if self.out_at_end == 0 else f"{self.out_at_end:,} customers still out"
        when = f" at {self.restored_s / 3600.0:.1f} h" if not math.isnan(self.restored_s) else ""
        return (f"{self.world.text()}\n"
                f"IDMS: {self.outages:,} outages ({self.active} active), {self.cancelled:,} predictions withdrawn or "
                f"merged, {self.inside_premise} inside-premise calls; {self.dispatches:,} crew dispatches, "
                f"{self.alarms_acknowledged:,} alarms acknowledged, {self.pings:,} AMI pings; {back}{when}; "
                f"SAIFI {self.saifi:.3f}, SAIDI {self.saidi_min:.1f} min, CAIDI {self.caidi_min:.1f} min "
                f"({self.customer_minutes:,.0f} customer-minutes)")


def build_session(net: Network, *, hours: float = 24.0, storm: str | None = None, seed: int = 0,
                  start: datetime = DEFAULT_START, ami: bool = True, rules: str | None = None,
                  store: str | Path | None = None, dispatcher: bool = True,
                  events_path: str | Path | None = None, scenario=None, devices: str = "virtual",
                  flisr: str = "off") -> Session:
    """The world and the IDMS on it (see the module docstring); ``rules`` the outage prediction
    rule set (default: ``storm`` under a storm, else ``normal``); ``store`` the outage store's file;
    ``scenario`` a :class:`~twin.instructor.scenario.Scenario` (its storm, crews, IDMS settings and
    scripted events; its ``net`` must be the one given); ``devices`` ``"virtual"`` (the in-process
    link) or ``"dnp3"`` (the RTUs as DNP3 outstations on loopback, the IDMS's SCADA a DNP3 master
    polling them, in this process: :func:`twin.remote_session.run_remote` puts the world in
    another); ``flisr`` ``"off"``, ``"advisory"`` (plans orders for the dispatcher) or
    ``"automatic"`` (:class:`~twin.idms.flisr.Flisr` runs them)."""
    from twin.callers.call_centre_link import VirtualCallCentre
    from twin.field_devices.link import VirtualFieldLink
    from twin.meters.headend_link import VirtualHeadEnd
    from twin.world.clock_link import WorldClock
    from twin.world.workforce_link import VirtualWorkforce

    parts, hours, storm, ami, rules = world_for(net, hours=hours, storm=storm, seed=seed, start=start, ami=ami,
                                                rules=rules, events_path=events_path, scenario=scenario)
    world = parts.world
    clock = WorldClock(world)
    link = VirtualFieldLink(world, parts.devices, parts.indicators)
    closers: list = []
    if devices == "dnp3":
        link, closers = _dnp3_link(link, clock)
    elif devices != "virtual":
        raise ValueError(f"devices must be 'virtual' or 'dnp3', not {devices!r}")
    idms = Idms(net, clock, field=link,
                ami=VirtualHeadEnd(world, parts.fleet) if ami else None, calls=VirtualCallCentre(world),
                workforce=VirtualWorkforce(world, parts.crews), store=store,
                rules=rules or ("storm" if storm else "normal"))
    if scenario is not None and not isinstance(scenario.rules, (str, type(None))):
        from twin.idms.oms.rules import RuleSet

        idms.oms.set_rules(RuleSet.from_mapping(scenario.rules))
    idms.start()
    if scenario is not None:
        from twin.instructor.scripted import schedule

        schedule(scenario, parts, idms)
    auto = AutomaticDispatcher(idms) if dispatcher else None
    app = None
    if flisr != "off":
        from twin.idms.flisr import Flisr

        app = Flisr(idms, mode=flisr)
    return Session(parts, idms, auto, float(hours), storm or "", devices, closers, app)


def world_for(net: Network, *, hours: float = 24.0, storm: str | None = None, seed: int = 0,
              start: datetime = DEFAULT_START, ami: bool = True, rules: str | None = None,
              events_path: str | Path | None = None, scenario=None):
    """The world of a session (its crews sent by the IDMS, not by the world), and the settings
    it runs with once a scenario's override the arguments: ``(parts, hours, storm, ami, rules)``."""
    extra = {}
    if scenario is not None:
        from twin.instructor.scenario import crew_parameters, feeder_bounds

        hours, storm, seed, start, ami = scenario.hours, scenario.storm, scenario.seed, scenario.start, scenario.ami
        rules = scenario.rules if isinstance(scenario.rules, str) else rules
        extra = dict(storm_start_s=scenario.storm_starts_s, crew_params=crew_parameters(scenario),
                     storm_bounds=feeder_bounds(net, scenario.storm_over) if scenario.storm_over else None)
    parts = build_world(net, hours=hours, storm=storm, seed=seed, start=start, auto_dispatch=False,
                        events_path=events_path, **extra)
    return parts, hours, storm, ami, rules


def _dnp3_link(virtual, clock):
    """The world's RTUs as outstations on ``virtual``, and the IDMS's DNP3 link polling them in
    lock step (devices without telemetry from the records, the virtual link); and their closers."""
    from twin.field_devices.dnp3_field import world_points_map
    from twin.field_devices.dnp3_outstations import Dnp3Outstations
    from twin.idms.interfaces.dnp3.stack import Dnp3Stack
    from twin.idms.scada.dnp3_link import Dnp3FieldLink

    stack = Dnp3Stack()
    pmap = world_points_map(virtual)
    outstations = Dnp3Outstations(virtual, pmap, stack=stack)
    link = Dnp3FieldLink(pmap, clock, stack=stack, records=virtual, refresh=outstations.refresh, lockstep=True)
    outstations.notify = link.field_changed
    return link, [outstations.close, link.close, stack.shutdown]


def run_session(net: Network, *, hours: float = 24.0, storm: str | None = None, seed: int = 0,
                ami: bool = True, rules: str | None = None, store: str | Path | None = None,
                max_extra_h: float = 72.0, session: Session | None = None) -> tuple[Session, SessionSummary]:
    """Run a session's storm, then on until every customer is back (at most ``max_extra_h`` more)."""
    if session is None:
        session = build_session(net, hours=hours, storm=storm, seed=seed, ami=ami, rules=rules, store=store)
    wall = run_out(session.parts, max_extra_h)
    summary = summarise_session(session, wall)
    for close in session.closers:
        close()
    return session, summary


def run_out(parts: WorldParts, max_extra_h: float) -> float:
    """Run a session's world through its storm's hours, then on until every customer is back
    (at most ``max_extra_h`` more), and close its event stream; the wall time it took (s)."""
    world = parts.world
    started = time.perf_counter()
    world.run_to(parts.end_s)
    limit = parts.end_s + max_extra_h * 3600.0
    while not world.grid.energised_customers.all() and world.now < limit:
        world.run_to(min(limit, world.now + 3600.0))
    if parts.writer is not None:
        parts.writer.close()
    return time.perf_counter() - started


def summarise_session(session: Session, wall_s: float) -> SessionSummary:
    """The session's summary now."""
    return summary_of(world_facts(session.parts, session.storm, wall_s), session.idms, session.dispatcher)


def world_facts(parts: WorldParts, storm: str, wall_s: float) -> dict:
    """What the world's truth says at the end of a session: its summary, the customers still
    out, when the last was restored and the time now."""
    world = parts.world
    end_s = world.now
    restored = [o.restored_s for o in world.grid.outages]
    out_at_end = int(np.count_nonzero(~world.grid.energised_customers))
    return {"world": summarise(world, end_s / 3600.0, storm, parts.faults, wall_s), "out_at_end": out_at_end,
            "restored_s": float(np.nanmax(restored)) if restored and out_at_end == 0 else math.nan, "end_s": end_s}


def summary_of(facts: dict, idms: Idms, dispatcher: AutomaticDispatcher | None) -> SessionSummary:
    """A session's summary from the world's facts (:func:`world_facts`) and the IDMS's records."""
    from twin.idms.reliability import indices

    end_s = float(facts["end_s"])
    records = idms.oms.records
    outages = [r for r in records if r.state in (OutageState.restored, OutageState.predicted, OutageState.confirmed)]
    feeders = idms.model.feeders_of(np.arange(len(idms.net.service_point)))
    table = indices(idms.oms.interruptions(), feeders, t0_s=0.0, t1_s=max(end_s, 1.0))
    system = table.loc["system"]
    return SessionSummary(
        world=facts["world"], outages=len(outages), active=sum(1 for r in records if r.active),
        cancelled=sum(1 for r in records if r.state == OutageState.cancelled),
        inside_premise=len(idms.oms.inside_premise),
        dispatches=dispatcher.dispatches if dispatcher else 0,
        alarms_acknowledged=dispatcher.acknowledged if dispatcher else 0,
        pings=idms.oms.pings, out_at_end=int(facts["out_at_end"]), restored_s=float(facts["restored_s"]),
        end_s=end_s, saifi=float(system["saifi"]), saidi_min=float(system["saidi_min"]),
        caidi_min=float(system["caidi_min"]), customer_minutes=float(system["customer_minutes"]))


def write_report(session, summary: SessionSummary, folder: str | Path) -> list[Path]:
    """The report of ``session`` (a :class:`Session` or a
    :class:`~twin.remote_session.RemoteSession`) in ``folder``: the IEEE 1366 reliability report from the IDMS's
    records (``reliability.csv``, ``reliability.html``), the outage records (``outages.csv``) and
    the summary (``summary.txt``)."""
    import pandas as pd

    from twin.idms.reliability_report import build_report, write_csv, write_html

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    idms = session.idms
    feeders = idms.model.feeders_of(np.arange(len(idms.net.service_point)))
    title = f"Reliability: {session.storm or 'blue sky'} over {idms.net.name}"
    report = build_report(idms.oms.interruptions(), feeders, t0_s=0.0, t1_s=max(summary.end_s, 1.0), title=title,
                          epoch=session.start)
    paths = [write_csv(report, folder / "reliability.csv"), write_html(report, folder / "reliability.html")]
    rows = [r.record() for r in idms.oms.records] + [r.record() for r in idms.oms.inside_premise]
    out = folder / "outages.csv"
    pd.DataFrame(rows).to_csv(out, index=False)
    text = folder / "summary.txt"
    text.write_text(summary.text() + "\n")
    return paths + [out, text]
