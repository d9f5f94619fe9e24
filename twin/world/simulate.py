"""The world run alone (no IDMS): a storm or a blue-sky day over a territory, start to end.

:func:`run_world` builds the :class:`~twin.world.environment.World` with its meters, callers and
crews, draws the day's faults from the weather and the lines' exposure
(:func:`twin.world.faults.sample_faults`), injects them, runs to the end and summarises what
happened from the event stream: faults, customers interrupted, customer-minutes of interruption,
last gasps, calls, crews' repairs, power-flow solves and the simulated-to-wall time ratio.
``twin simulate`` prints that summary and writes the event stream as JSON lines.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np

from twin.grid.network import Network
from twin.grid.shortcircuit import FaultType
from twin.world.environment import DEFAULT_START, World
from twin.world.events import EventKind, JsonLines
from twin.world.physics import Fault

__all__ = ["WorldParts", "WorldSummary", "build_world", "run_world", "summarise"]


@dataclass(frozen=True)
class WorldSummary:
    """What a run of the world came to (counts from its event stream)."""

    hours: float
    storm: str
    faults: int
    permanent_faults: int
    customers: int
    customers_interrupted: int
    customer_minutes: float
    momentary_events: int
    last_gasps: int
    restores: int
    calls: int
    repairs: int
    comms_failures: int
    overloads: int
    solves: int
    events: int
    wall_s: float
    tap_changes: int = 0  # regulator steps (their controllers' and SCADA's)
    capacitor_switchings: int = 0
    low_voltage_alarms: int = 0  # meters' brown-out exceptions the head-end received

    def text(self) -> str:
        ratio = self.hours * 3600.0 / self.wall_s if self.wall_s > 0 else float("inf")
        return (f"{self.hours:g} h of {self.storm or 'blue sky'}: {self.faults} faults ({self.permanent_faults} "
                f"permanent); {self.customers_interrupted:,} of {self.customers:,} customers interrupted, "
                f"{self.customer_minutes:,.0f} customer-minutes; {self.last_gasps:,} last gasps, {self.restores:,} "
                f"power restores, {self.low_voltage_alarms:,} low-voltage alarms, {self.calls:,} calls; "
                f"{self.repairs} repairs; {self.comms_failures} communication "
                f"sites down; {self.overloads} overload failures; {self.solves} power-flow solves; "
                f"{self.tap_changes:,} tap changes, {self.capacitor_switchings:,} capacitor switchings; "
                f"{self.events:,} events in {self.wall_s:.1f} s wall ({ratio:,.0f}x real time)")


@dataclass
class WorldParts:
    """A world built for a run, with the parts an IDMS's virtual links are made on, and the
    day's faults (a :class:`~twin.world.faults.FaultTable`) already injected."""

    world: World
    fleet: object
    devices: object
    indicators: object
    crews: object
    faults: object
    end_s: float
    writer: JsonLines | None = None  # the event stream's file, when one was asked for
    comms: object = None  # the communication sites (a :class:`~twin.world.comms.CommsSites`; None without coordinates)


def build_world(net: Network, *, hours: float = 24.0, storm: str | None = None, seed: int = 0,
                start: datetime = DEFAULT_START, auto_dispatch: bool = True,
                events_path: str | Path | None = None, storm_bounds: tuple[float, float, float, float] | None = None,
                storm_start_s: float = 0.0, crew_params=None) -> WorldParts:
    """The world with its meters, callers, devices, crews (``auto_dispatch``: the world's own
    dispatcher sends them; False when an IDMS does; ``crew_params`` a
    :class:`~twin.world.crews.CrewParameters`), controls, loads and weather, and ``hours`` of
    ``storm``'s faults injected (a built-in storm's name, None: blue sky; placed over
    ``storm_bounds`` (x0, y0, x1, y1 in m; default the whole territory), beginning
    ``storm_start_s`` in); ``events_path``: a JSON-lines file that gets every event from the first."""
    from twin.callers.calls import Callers
    from twin.world.controls import Controls
    from twin.field_devices.devices import FieldDevices
    from twin.field_devices.indicators import FaultIndicators
    from twin.world.comms import CommsSites
    from twin.meters.fleet import MeterFleet
    from twin.world.crews import Crews
    from twin.world.loads import LoadModel
    from twin.world.overloads import Overloads
    from twin.world.temperature import Temperature
    from twin.world.exposure import segment_exposure
    from twin.world.faults import FaultCause, sample_faults
    from twin.world.weather import builtin_storm, territory_bounds

    world = World(net, seed=seed, start=start)
    writer = JsonLines(events_path) if events_path is not None else None
    if writer is not None:
        world.events.subscribe(writer)
    fleet = MeterFleet(world)
    Controls(world)  # regulators' and capacitor banks' controllers (the field devices find them: world.controls)
    devices = FieldDevices(world)
    callers = Callers(world)
    world.events.subscribe(lambda e: callers.report_wires_down(e.data["line"], e.time_s)
                           if e.kind == EventKind.fault and e.data.get("wire_down") else None)
    indicators = FaultIndicators(world)  # the crews find it as world.fault_indicators
    crews = Crews(world, crew_params, auto_dispatch=auto_dispatch) if crew_params is not None \
        else Crews(world, auto_dispatch=auto_dispatch)
    Overloads(world)
    try:
        bounds = territory_bounds(net)
    except ValueError:  # no coordinates: no storm can be placed, nor the communication sites
        if storm:
            raise
        bounds = None
    weather = builtin_storm(storm, storm_bounds or bounds, start_s=storm_start_s) if storm else None
    centre = (0.0, 0.0) if bounds is None else ((bounds[0] + bounds[2]) / 2.0, (bounds[1] + bounds[3]) / 2.0)
    LoadModel(world, temperature=Temperature(world.calendar, world.streams("temperature"), storm=weather,
                                             centre_xy=centre, days=int(hours // 24) + 2))
    end_s = float(hours) * 3600.0
    comms = None
    if bounds is not None:
        comms = CommsSites(world, devices=devices, fleet=fleet, indicators=indicators, storm=weather)
    exposure = segment_exposure(net, world.streams("exposure"))
    table = sample_faults(exposure, weather, 0.0, end_s, world.streams("faults"))
    lines = net.line.ids
    for k in range(len(table.time_s)):
        world.inject(Fault(str(lines[table.segment[k]]), FaultType(int(table.kind[k])), bool(table.permanent[k]),
                           float(table.location[k]), FaultCause(int(table.cause[k])).name, bool(table.wire_down[k])),
                     at_s=float(table.time_s[k]))
    return WorldParts(world, fleet, devices, indicators, crews, table, end_s, writer, comms)


def run_world(net: Network, *, hours: float = 24.0, storm: str | None = None, seed: int = 0,
              start: datetime = DEFAULT_START, events_path: str | Path | None = None) -> tuple[World, WorldSummary]:
    """Run the world alone for ``hours`` under ``storm`` (a built-in storm's name, None: blue sky)."""
    parts = build_world(net, hours=hours, storm=storm, seed=seed, start=start, events_path=events_path)
    world = parts.world
    started = time.perf_counter()
    world.run_to(parts.end_s)
    wall = time.perf_counter() - started
    if parts.writer is not None:
        parts.writer.close()
    return world, summarise(world, hours, storm or "", parts.faults, wall)


def summarise(world: World, hours: float, storm: str, table, wall_s: float) -> WorldSummary:
    """What the world came to over ``hours`` (its event stream and ground truth)."""
    events = world.events.events
    kinds = [e.kind.value for e in events]
    out, last_t, minutes = 0, 0.0, 0.0
    for e in events:  # customer-minutes: the number out, integrated over time
        if e.kind in (EventKind.outage, EventKind.restore):
            minutes += out * (e.time_s - last_t) / 60.0
            last_t = e.time_s
            out += e.data["customers"] if e.kind == EventKind.outage else -e.data["customers"]
    minutes += out * (hours * 3600.0 - last_t) / 60.0
    grid = world.grid
    interrupted = np.unique(np.concatenate([o.customers for o in grid.outages])) if grid.outages else np.zeros(0)
    momentary = sum(1 for o in grid.outages if not np.isnan(o.restored_s) and o.restored_s - o.start_s < 300.0)
    scripted = [e for e in events if e.kind == EventKind.scripted and e.data.get("event") == "fault"]  # a scenario's
    return WorldSummary(
        hours=hours, storm=storm, faults=len(table.time_s) + len(scripted),
        permanent_faults=int(np.sum(table.permanent)) + sum(bool(e.data["permanent"]) for e in scripted),
        customers=len(grid.energised_customers), customers_interrupted=len(interrupted), customer_minutes=minutes,
        momentary_events=momentary, last_gasps=kinds.count("last_gasp"), restores=kinds.count("power_restore"),
        calls=kinds.count("call"), repairs=sum(1 for e in events if e.kind == EventKind.crew
                                               and e.data.get("action") == "repaired"),
        overloads=kinds.count("overload"),
        comms_failures=sum(1 for e in events if e.kind == EventKind.comms and not e.data["up"]),
        solves=grid.solves, events=len(events), wall_s=wall_s, tap_changes=kinds.count("tap"),
        capacitor_switchings=kinds.count("capacitor"), low_voltage_alarms=kinds.count("low_voltage"))
