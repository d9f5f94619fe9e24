"""Crews: a roster that drives, patrols a section to find its fault, repairs it and restores it.

A crew works from its depot (the substation it is based at) during its shift. Sent to an
outage, it drives there (straight-line distance times :attr:`CrewParameters.detour` at road
speed), patrols the isolated section until it finds the fault (a share of the section's line
length, drawn, at patrol speed), repairs it (a duration drawn by the damage: a permanent fault's
cause), and closes the device that isolated it (re-fuses a fuse, closes a locked-out recloser
or a tripped breaker) once no other fault stands below it; then it is free. Where the fault was
temporary (a fuse or a breaker without reclosing opened for it) the patrol finds nothing and the
device is closed again. Everything it does is an event.

With no IDMS running (``twin simulate``), an automatic dispatcher sends the nearest free crew to
each sustained outage (still out :attr:`CrewParameters.sustained_s` after it began), in the order
they began; the IDMS issue replaces it with
the dispatcher's orders. A crew may work on a section only when it is isolated (its device is
open); the safety-document issue adds clearances.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from twin.world.events import EventKind

__all__ = ["CrewParameters", "Crews"]


@dataclass(frozen=True)
class CrewParameters:
    """Representative figures for overhead line crews (not a utility's own)."""

    per_substation: int = 2  # crews based at each substation's depot
    road_speed_ms: float = 50.0 / 3.6  # 50 km/h
    detour: float = 1.4  # road distance over straight-line distance
    patrol_speed_ms: float = 8.0 / 3.6  # driving slowly along the line, looking
    repair_median_s: dict[str, float] = field(default_factory=lambda: {
        "tree": 2.5 * 3600, "wind": 3.0 * 3600, "ice": 4.0 * 3600, "lightning": 1.5 * 3600,
        "equipment": 3.0 * 3600, "animal": 1.0 * 3600, "": 2.0 * 3600})
    repair_sigma: float = 0.5  # lognormal spread of repair durations
    shift_h: tuple[float, float] = (0.0, 24.0)  # on duty from, to (hours of the day); storms: all day
    sustained_s: float = 120.0  # an outage this old is sustained: the protection has done its work


class Crews:
    """The roster (arrays: depot position, busy until) and its processes, attached to a world."""

    def __init__(self, world, params: CrewParameters = CrewParameters(), *, auto_dispatch: bool = True) -> None:
        self.world, self.params = world, params
        net = world.grid.net
        src = net.source
        depots = net.bus.index(src["bus"]) if len(src) else np.zeros(0, np.int64)
        xy = np.stack([net.bus["x"][depots], net.bus["y"][depots]], axis=1) if len(depots) else np.zeros((0, 2))
        self.ids = np.array([f"{src.ids[k]}-CREW{j + 1}" for k in range(len(depots))
                             for j in range(params.per_substation)], dtype=object)
        self.depot_xy = np.repeat(xy, params.per_substation, axis=0)
        self.busy = np.zeros(len(self.ids), bool)
        self.rng = world.streams("crews")
        self.waiting: list[int] = []  # outage indices with no crew yet
        self.handled: set[int] = set()
        if auto_dispatch:
            world.events.subscribe(self._on_event)

    # -- the automatic dispatcher ---------------------------------------------------------------

    def _on_event(self, event) -> None:
        """A new outage: once it has lasted :attr:`CrewParameters.sustained_s` (the protection's
        sequence is over) and a fault still stands behind it, it waits for the nearest free crew."""
        if event.kind != EventKind.outage:
            return
        for k in range(len(self.world.grid.outages)):
            if k not in self.handled:
                self.handled.add(k)
                self.world.env.process(self._confirm(k))

    def _confirm(self, k: int):
        yield self.world.env.timeout(self.params.sustained_s)
        o = self.world.grid.outages[k]
        if np.isnan(o.restored_s) and o.isolated_by and k not in self.waiting:  # sustained: someone must go
            self.waiting.append(k)
            self._assign()

    def _assign(self) -> None:
        while self.waiting and not self.busy.all():
            k = self.waiting.pop(0)
            o = self.world.grid.outages[k]
            crew = self._nearest_free(o.line)
            self.busy[crew] = True
            self.world.env.process(self.work(crew, k))

    def _nearest_free(self, line: str) -> int:
        xy = self._line_xy(line)
        d = np.hypot(*(self.depot_xy - xy).T)
        d[self.busy] = np.inf
        return int(np.argmin(d))

    def _line_xy(self, line: str) -> np.ndarray:
        net = self.world.grid.net
        row = net.line.position(line)
        b = net.bus.index([net.line["from_bus"][row], net.line["to_bus"][row]])
        return np.array([net.bus["x"][b].mean(), net.bus["y"][b].mean()])

    # -- a crew's work --------------------------------------------------------------------------

    def work(self, crew: int, outage: int):
        """Drive to the outage, patrol the section, repair the fault, close the isolating device."""
        env, grid, p, events = self.world.env, self.world.grid, self.params, self.world.events
        o = grid.outages[outage]
        line = o.line
        name = str(self.ids[crew])
        events.publish(env.now, EventKind.crew, crew=name, action="dispatched", line=line, device=o.isolated_by)
        drive_m = p.detour * float(np.hypot(*(self.depot_xy[crew] - self._line_xy(line))))
        yield env.timeout(drive_m / p.road_speed_ms)
        events.publish(env.now, EventKind.crew, crew=name, action="arrived", line=line)
        section_m = self._section_length(o.isolated_by)
        yield env.timeout(self.rng.uniform(0.1, 1.0) * section_m / p.patrol_speed_ms)
        fault = grid.faults.get(line)
        if fault is None:  # a temporary fault: nothing to find, the device is closed again
            events.publish(env.now, EventKind.crew, crew=name, action="found nothing", line=line)
        else:
            events.publish(env.now, EventKind.crew, crew=name, action="found", line=line, cause=fault.cause)
            median = p.repair_median_s.get(fault.cause, p.repair_median_s[""])
            yield env.timeout(float(self.rng.lognormal(np.log(median), p.repair_sigma)))
            grid.repair(env.now, line)
            events.publish(env.now, EventKind.crew, crew=name, action="repaired", line=line)
        device = grid.outages[outage].isolated_by
        if device and not self._faults_below(device):
            grid.operate(env.now, device, open_=False, why=f"closed by {name} after the repair of {line}", line=line)
            events.publish(env.now, EventKind.switch, device=device, closed=True, by=name)
        self.busy[crew] = False
        events.publish(env.now, EventKind.crew, crew=name, action="free")
        self._assign()

    def _section_length(self, device: str) -> float:
        """Line length (m) below a device (in the normal configuration): what a patrol may cover."""
        grid = self.world.grid
        if not device:
            return 1000.0
        topo = grid.normal_topology()
        below = set(grid.net.bus.ids[topo.buses_below(f"switch.{device}")].tolist())
        line = grid.net.line
        inside = np.isin(line["to_bus"], list(below))
        return float(line["length_m"][inside].sum()) or 1000.0

    def _faults_below(self, device: str) -> bool:
        """Whether a fault still stands on a line below the device (closing would trip again)."""
        grid = self.world.grid
        if not grid.faults:
            return False
        topo = grid.normal_topology()
        below = set(grid.net.bus.ids[topo.buses_below(f"switch.{device}")].tolist())
        line = grid.net.line
        return any(line["to_bus"][line.position(f)] in below for f in grid.faults)
