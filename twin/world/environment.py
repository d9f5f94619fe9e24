"""The world: a SimPy environment around the grid's truth, on a calendar, from one seed.

:class:`World` holds the simulated clock (``env.now`` seconds, on a :class:`~twin.world.clock.Calendar`),
the random streams of every subsystem (:class:`~twin.world.streams.Streams`), the event stream
(:class:`~twin.world.events.EventStream`) and the grid's truth (:class:`~twin.world.physics.GridState`).
It runs as fast as it can (``speed=None``: studies and tests) or paced to wall time (``speed=60``: one
simulated minute a second, x1 to x3600 for training), and can be stepped, run to a time, paused
(stop calling :meth:`World.run_to`) and resumed (:meth:`World.resume` re-anchors the pacing).

Its processes, one per thing that happens, not one per device:

* ``fault(fault)``: a fault begins, the protection answers (:mod:`twin.world.physics`), each
  operation at its time; a temporary fault is gone at the first interruption; a device closed
  (a ``switch`` event) into a standing fault below it makes that fault strike again;
* ``resolve()``: after customers lose or regain power, the power flow re-solves the energised
  network, once for all the changes of the next :data:`RESOLVE_EVERY_S`.

>>> from twin.world.territory import generate_territory
>>> world = World(generate_territory(500, seed=2), seed=1)  # doctest: +SKIP
>>> world.inject(Fault("S01-F1-L0012", permanent=False), at_s=60.0)  # doctest: +SKIP
>>> world.run_to(3600.0)  # doctest: +SKIP
"""

from __future__ import annotations

from datetime import datetime

import numpy as np
import simpy
import simpy.rt

from twin.grid.network import Network
from twin.world.clock import Calendar
from twin.world.events import Event, EventKind, EventStream
from twin.world.physics import CLOSES, OPENS, Fault, GridState
from twin.world.streams import Streams

__all__ = ["World"]

DEFAULT_START = datetime(2026, 7, 1, 0, 0)

RESOLVE_EVERY_S = 60.0
"""The power flow re-solves at most this often (simulated seconds), for all the changes between."""


class World:
    """The simulated territory: clock, streams, events and the grid's truth (see the module
    docstring); ``speed`` simulated seconds per wall second, None for as fast as possible."""

    def __init__(self, net: Network, *, seed: int = 0, start: datetime = DEFAULT_START, speed: float | None = None,
                 resolve: bool = True, resolve_every_s: float = RESOLVE_EVERY_S) -> None:
        if speed is not None and not 1.0 <= speed <= 3600.0:
            raise ValueError(f"speed {speed}: the world is paced at x1 to x3600 (or None: as fast as it can)")
        self.env: simpy.Environment = (simpy.Environment() if speed is None
                                       else simpy.rt.RealtimeEnvironment(factor=1.0 / speed, strict=False))
        self.speed = speed
        self.calendar = Calendar(start)
        self.streams = Streams(seed)
        self.events = EventStream()
        self.grid = GridState(net, self.events)
        self._resolve = resolve
        self._resolve_every_s = float(resolve_every_s)
        self._solve_pending = False
        self.last_result = None  # the last power flow of the energised network (a twin.grid.powerflow.parts.Solution)
        self._solver = None  # the parts of the network and their factorisations, kept between solves
        self.last_result_s = float("-inf")  # when it was solved
        self.load_model = None  # a twin.world.loads.LoadModel attaches itself here; else the model's peak loads
        self.controls = None  # the regulators' and banks' controllers (twin.world.controls.Controls), once attached
        self.fault_indicators = None  # the virtual FCIs (twin.field_devices.indicators), once attached
        self.events.subscribe(self._on_event)

    # -- running ---------------------------------------------------------------------------------

    @property
    def now(self) -> float:
        """Simulated seconds since the world began."""
        return float(self.env.now)

    def run_to(self, t_s: float) -> None:
        """Run until simulated time ``t_s`` (paced when the world has a speed)."""
        if t_s > self.now:
            self.env.run(until=float(t_s))

    def step(self) -> None:
        """Process the next event (nothing when none is scheduled)."""
        if self.env.peek() != float("inf"):
            self.env.step()

    def resume(self) -> None:
        """After a pause: wall-clock pacing starts again from now (no catching up)."""
        if isinstance(self.env, simpy.rt.RealtimeEnvironment):
            self.env.sync()

    # -- what happens ----------------------------------------------------------------------------

    def inject(self, fault: Fault, *, at_s: float | None = None) -> None:
        """A fault at simulated time ``at_s`` (now by default). A fault the model cannot hold (an
        unknown line, a location off the segment) is refused now with a
        :class:`~twin.errors.ModelError`, before anything is scheduled: it never stops a running world."""
        from twin.errors import ModelError

        if self.grid.net.line.get(fault.line) is None:
            raise ModelError(f"no line '{fault.line}' to fault in {self.grid.net.name}", component="line",
                             element=fault.line, fix="name a line of the model (twin validate lists them)")
        if not 0.0 <= float(fault.location) <= 1.0:
            raise ModelError(f"fault location {fault.location} is off line '{fault.line}'", component="line",
                             element=fault.line, field="location",
                             fix="give the location as a share of the segment from its from-bus, 0 to 1")
        delay = 0.0 if at_s is None else max(0.0, float(at_s) - self.now)
        self.env.process(self._after(delay, self.fault(fault)))

    def _after(self, delay_s: float, process):
        """Start ``process`` after ``delay_s``."""
        yield self.env.timeout(delay_s)
        yield self.env.process(process)

    def fault(self, fault: Fault, *, restrike: bool = False):
        """A fault begins (or, ``restrike``, a standing one is energised again by a close); the
        protective devices operate as the protection engine says."""
        env, grid = self.env, self.grid
        bus = grid.fault_bus(fault)
        self.events.publish(env.now, EventKind.fault, line=fault.line, bus=bus, fault=fault.kind.name,
                            permanent=fault.permanent, location=round(float(fault.location), 6), cause=fault.cause,
                            wire_down=fault.wire_down, restrike=restrike)
        response = grid.protection_response(fault)
        if fault.permanent or response is not None:  # it stands while the protection works (a temporary one until gone)
            grid.faults[fault.line] = fault
        if response is not None:
            start, gone = env.now, False
            for op in response.operations:
                yield env.timeout(max(0.0, start + op.time_s - env.now))
                action = op.action.value
                self.events.publish(env.now, EventKind.protection, device=op.device, action=action, line=fault.line)
                if action in OPENS:
                    grid.operate(env.now, op.device, open_=True, why=f"{action} for a fault on line {fault.line}",
                                 line=fault.line)
                    if not fault.permanent and not gone:
                        gone = True
                        grid.faults.pop(fault.line, None)
                        self.events.publish(env.now, EventKind.fault_cleared, line=fault.line, why="temporary")
                elif action in CLOSES:
                    grid.operate(env.now, op.device, open_=False, why=action, line=fault.line)

    def _on_event(self, event: Event) -> None:
        if event.kind in (EventKind.outage, EventKind.restore):
            self.request_resolve()
        elif event.kind == EventKind.switch and event.data.get("closed"):
            self._restrike(str(event.data["device"]))

    def _restrike(self, device: str) -> None:
        """A device closed into a standing fault below it: the fault strikes again, the protection
        answers again (a crew closes only once no fault stands below; SCADA may not know). Below it
        on the path as the network stands: a tie closed onto a faulted section restrikes too."""
        grid = self.grid
        if not grid.faults:
            return
        normal_open = np.asarray(grid.net.switch["normal_open"], bool)
        if (normal_open & ~grid.switch_open).any():  # fed over a tie: the path as the network stands now
            topo = grid.present_topology()
            live = lambda b: bool(topo.energised[b])  # noqa: E731
        else:
            topo, live = grid.normal_topology(), grid.bus_live
        for fault in list(grid.faults.values()):
            above = topo.path_to_source(f"line.{fault.line}")
            if f"switch.{device}" in above and live(grid.net.bus.position(grid.fault_bus(fault))):
                self.env.process(self.fault(fault, restrike=True))

    def request_resolve(self) -> None:
        """Something changed (who has power, the load level): re-solve within :data:`RESOLVE_EVERY_S`."""
        if self._resolve and not self._solve_pending:
            self._solve_pending = True
            self.env.process(self.resolve())

    def resolve(self):
        """After changes of energisation: the power flow of the network once for all the changes
        of the next :data:`RESOLVE_EVERY_S` (a recloser's whole sequence, a storm's burst of
        operations), not once for each."""
        yield self.env.timeout(self._resolve_every_s)  # after every change of this window
        self._solve_pending = False
        self._solve_now()

    def power_flow(self):
        """The power flow of the network as it is now (a :class:`~twin.grid.powerflow.parts.Solution`, read
        like a PowerFlowResult): the last one while no switch has changed since, else solved now
        (a part that does not converge keeps its last solution and is named in ``failed``)."""
        if self.last_result is None or self.last_result_s < self.grid.changed_s:
            self._solve_now()
        return self.last_result

    def _solve_now(self) -> None:
        """Solve the energised network at the loads of now (the parts that changed: see
        :mod:`twin.grid.powerflow.parts`); keep the result, publish the solve."""
        from twin.grid.powerflow.parts import PartSolver

        if self._solver is None:
            self._solver = PartSolver(self.grid.net)
        grid = self.grid
        scale = 1.0 if self.load_model is None else self.load_model.scale(self.now)
        r = self._solver.solve(grid.switch_open, getattr(grid, "tap_pu", None), getattr(grid, "cap_closed", None),
                               load_scale=scale)
        grid.solves += 1
        self.last_result, self.last_result_s = r, self.now  # a part that failed keeps its last solution
        if r.failed:
            self.events.publish(self.env.now, EventKind.solve, converged=False, worst_bus=r.failed[0])
            return
        v = r.bus_v_pu()
        live = v[v > 0]
        self.events.publish(self.env.now, EventKind.solve, converged=True, iterations=int(r.iterations),
                            load_kw=round(float(r.load_kw), 3),
                            v_min_pu=round(float(live.min()), 6) if len(live) else 0.0,
                            v_max_pu=round(float(live.max()), 6) if len(live) else 0.0)

    def customers_out(self) -> np.ndarray:
        """Service point rows without power now."""
        return np.flatnonzero(~self.grid.energised_customers)
