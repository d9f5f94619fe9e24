"""A training session run live: the world paced against the wall clock, the trainee's console on
its IDMS, and the channel the instructor station drives the lesson through.

:class:`SessionHost` owns the :class:`~twin.session.Session` (and its
:class:`~twin.instructor.recording.Recorder`, a :class:`~twin.instructor.scoring.Scorekeeper`
and the console's :class:`~twin.idms.console.desk.Desk`). Each frame (:meth:`SessionHost.frame`)
it answers the requests waiting on the channel, advances the world by the wall time since the
last frame times the speed (x1 to x3600; paused; or up to a time asked for, then paused) within a
wall-time budget so the screen stays live, and draws the console. :meth:`SessionHost.handle` is
the channel's handler: ``status`` (the world's truth beside what the IDMS believes, and the live
score), ``geometry`` and ``lines`` (for the station's map), the run (``pause``, ``resume``,
``speed``, ``run_to``), ``inject`` (a scripted event by hand: :func:`~twin.instructor.scripted.inject`),
``snapshot_save`` and ``snapshot_restore``; and, on a trainee's connection, the console's own
commands (``trip``, ``close``, ``tag``, ``untag``, ``acknowledge``, ``dispatch``, ``call_out``), as the trainee.
Which role may send which is :data:`PERMISSIONS`: a trainee's connection cannot send the
instructor's commands (the channel refuses them and logs it).
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any, Callable

import numpy as np

from twin.errors import TwinError
from twin.grid.topology import build_topology
from twin.idms.console.commands import Acknowledge, CallOut, Close, Dispatch, PlaceTag, RemoveTag, Trip
from twin.idms.console.desk import Desk
from twin.instructor.channel import ChannelServer, Role
from twin.instructor.mapdata import encode_geometry, pack_bits
from twin.instructor.scoring import Scorekeeper
from twin.instructor.scripted import inject

__all__ = ["PERMISSIONS", "HostError", "SessionHost"]

SPEEDS = (1.0, 3600.0)  # the slowest and fastest a lesson runs (simulated s per wall s)
FRAME_BUDGET_S = 0.04  # wall time a frame may spend running the world
SCORE_EVERY_S = 5.0  # wall seconds between live score updates
_TRAINEE = {"status", "trip", "close", "tag", "untag", "acknowledge", "dispatch", "call_out"}
_INSTRUCTOR = {"status", "geometry", "lines", "pause", "resume", "speed", "run_to", "inject", "snapshot_save",
               "snapshot_restore"}
PERMISSIONS: dict[Role, set[str]] = {Role.trainee: _TRAINEE, Role.instructor: _INSTRUCTOR}


class HostError(TwinError):
    """A request the session cannot carry out (says why and what to ask instead)."""


class SessionHost:
    """Runs ``session`` live (see the module docstring). ``meta`` is the session's settings (as a
    recording keeps them); ``rebuild(meta)`` makes ``(net, session)`` again (for a snapshot
    restored); ``console`` a factory ``console(desk, host)`` for the trainee's screen (None:
    headless, no screen)."""

    def __init__(self, session, *, meta: dict[str, Any], recorder=None, rebuild: Callable | None = None,
                 channel: ChannelServer | None = None, console: Callable | None = None,
                 speed: float = 60.0, user: str = "trainee") -> None:
        self.meta, self.rebuild, self.channel = meta, rebuild, channel
        self._console_factory, self.user = console, user
        self.speed = _speed(speed)
        self.paused = False
        self.until_s: float | None = None
        self.achieved = self.speed  # the speed the world kept up with over the last frames
        self.running = True
        self.log: list[tuple[float, str]] = []  # (sim s, what the instructor did)
        self._wall = time.monotonic()
        self._attach(session, recorder)

    def _attach(self, session, recorder, scorekeeper: Scorekeeper | None = None) -> None:
        self.session, self.recorder = session, recorder
        self.scorekeeper = scorekeeper or Scorekeeper(session)
        self.desk = Desk(session.idms, user=self.user, epoch=session.world.calendar.start)
        self.console = self._console_factory(self.desk, self) if self._console_factory else None
        self._truth_key: Any = None
        self._truth_live = np.zeros(0, bool)
        self._score: dict[str, Any] = {}
        self._score_wall = -math.inf

    @property
    def world(self):
        return self.session.world

    # -- the loop ---------------------------------------------------------------------------------

    def frame(self, *, wall_dt: float | None = None) -> None:
        """One frame: the channel's requests, the world advanced by ``wall_dt`` (None: the wall
        time since the last frame), the console's queued events taken and the console drawn."""
        now = time.monotonic()
        dt = now - self._wall if wall_dt is None else wall_dt
        self._wall = now
        if self.channel is not None:
            self.channel.poll(self.handle)
        self.advance(dt)
        if self.console is not None:
            self.console.step()
            self.running = self.running and self.console.running

    def advance(self, wall_dt: float) -> None:
        """Run the world ``wall_dt`` wall seconds at the speed (within :data:`FRAME_BUDGET_S`)."""
        if self.paused or wall_dt <= 0.0:
            return
        world = self.world
        target = world.now + wall_dt * self.speed
        if self.until_s is not None and target >= self.until_s:
            target = self.until_s
        started, t0 = time.perf_counter(), world.now
        chunk = max(1.0, self.speed * FRAME_BUDGET_S / 4.0)
        while world.now < target and time.perf_counter() - started < FRAME_BUDGET_S:
            world.run_to(min(target, world.now + chunk))
        self.achieved = 0.8 * self.achieved + 0.2 * (world.now - t0) / wall_dt
        if self.until_s is not None and world.now >= self.until_s:
            self.paused, self.until_s = True, None

    def status_line(self) -> str:
        """The run's state for the console's top bar."""
        if self.paused:
            return "PAUSED"
        slow = f" (keeping x{self.achieved:.0f})" if self.achieved < 0.8 * self.speed else ""
        until = f" to {self.desk.clock_text(self.until_s)}" if self.until_s is not None else ""
        return f"x{self.speed:g}{until}{slow}"

    # -- the channel's requests -------------------------------------------------------------------

    def handle(self, role: Role, cmd: str, args: dict[str, Any]) -> Any:
        """Carry out one request (the channel has checked ``role`` may send ``cmd``)."""
        if cmd == "status" and role is Role.trainee:  # never the world's truth
            return self._run_state()
        method = getattr(self, f"_cmd_{cmd}", None)
        if method is None:
            raise HostError(f"{cmd}: no such request (one of: {', '.join(sorted(_INSTRUCTOR | _TRAINEE))})")
        try:
            return method(**args)
        except TypeError as exc:
            raise HostError(f"{cmd}: bad arguments ({exc})") from None

    def _run_state(self) -> dict[str, Any]:
        """The run's state, all a trainee's connection is told: the clock, the speed, the alarms."""
        world = self.world
        start = world.calendar.start
        return {"time_s": world.now, "clock": self.desk.clock_text(world.now), "speed": self.speed,
                "day_s": start.hour * 3600.0 + start.minute * 60.0 + start.second,
                "achieved": self.achieved, "paused": self.paused, "until_s": self.until_s,
                "end_s": self.session.parts.end_s,
                "alarms_unacknowledged": sum(1 for a in self.session.idms.scada.alarms.alarms() if not a.acknowledged)}

    def _cmd_status(self) -> dict[str, Any]:
        """The run's state, the world's truth beside the IDMS's outages, the live score, the log."""
        grid = self.world.grid
        truth = [{"device": o.device, "line": o.line, "customers": int(len(o.remaining)),
                  "start_s": o.start_s} for o in grid.outages if math.isnan(o.restored_s)]
        believed = [{"id": r.id, "device": r.device, "state": r.state.value, "customers": int(r.customers_out),
                     "crew": r.crew or "", "start_s": r.start_s} for r in self.session.idms.oms.outages()]
        return {**self._run_state(), "customers": int(len(grid.energised_customers)),
                "out_truth": int(np.count_nonzero(~grid.energised_customers)),
                "out_believed": int(sum(o["customers"] for o in believed)),
                "truth_outages": truth, "idms_outages": believed, "faults": sorted(grid.faults),
                "score": self._live_score(), "recording": str(self.recorder.path) if self.recorder else "",
                "log": [[t, text] for t, text in self.log[-20:]]}

    def _live_score(self) -> dict[str, Any]:
        now = time.monotonic()
        if now - self._score_wall >= SCORE_EVERY_S:
            m = self.scorekeeper.measures()
            self._score = {k: (None if isinstance(v, float) and math.isnan(v) else v)
                           for k, v in asdict(m).items() if k != "violations"}
            self._score["violations"] = list(m.violations)
            self._score_wall = now
        return self._score

    def _cmd_geometry(self) -> dict[str, Any]:
        return encode_geometry(self.session.idms.net, self.session.parts.crews.ids.tolist())

    def _cmd_lines(self, version: str = "") -> dict[str, Any]:
        truth = self.truth_bus_live()
        believed = self.desk.picture().bus_live
        now = f"{self._truth_key}/{self.desk.version}"
        if version == now:
            return {"version": now, "same": True}
        net = self.session.idms.net
        faults = [int(net.line.position(line)) for line in sorted(self.world.grid.faults)]
        return {"version": now, "same": False, "truth": pack_bits(truth), "believed": pack_bits(believed),
                "fault_lines": faults}

    def truth_bus_live(self) -> np.ndarray:
        """Bool per bus row: has power in the world now (worked out again when a switch changes)."""
        grid = self.world.grid
        key = (grid.changed_s, int(np.count_nonzero(grid.switch_open)))
        if key != self._truth_key:
            self._truth_live = build_topology(grid.net, switch_open=grid.switch_open).energised.copy()
            self._truth_key = key
        return self._truth_live

    def _cmd_pause(self) -> str:
        self.paused = True
        self._note("paused")
        return "paused"

    def _cmd_resume(self) -> str:
        self.paused, self._wall = False, time.monotonic()
        self._note(f"resumed at x{self.speed:g}")
        return f"running at x{self.speed:g}"

    def _cmd_speed(self, x: float) -> str:
        self.speed = _speed(x)
        self._note(f"speed x{self.speed:g}")
        return f"speed x{self.speed:g}"

    def _cmd_run_to(self, time_s: float) -> str:
        time_s = float(time_s)
        if time_s <= self.world.now:
            raise HostError(f"run_to: {self.desk.clock_text(time_s)} has passed (the session is at "
                            f"{self.desk.clock_text(self.world.now)}); restore a snapshot to go back")
        self.until_s, self.paused, self._wall = time_s, False, time.monotonic()
        self._note(f"run to {self.desk.clock_text(time_s)}")
        return f"running to {self.desk.clock_text(time_s)} at x{self.speed:g}"

    def _cmd_inject(self, kind: str, args: dict[str, Any]) -> dict[str, Any]:
        done = inject(self.session.parts, self.session.idms, kind, args)
        self._note(f"injected {kind} {done}")
        self.desk.changed()
        return done

    def _cmd_snapshot_save(self, path: str) -> str:
        from twin.instructor.snapshots import save_snapshot

        if self.recorder is None:
            raise HostError("snapshot_save: this session is not recorded; start it with twin train (it records)")
        saved = save_snapshot(self.recorder.path, self.world.now, path, running=True)
        self._note(f"snapshot saved to {saved}")
        return str(saved)

    def _cmd_snapshot_restore(self, path: str) -> str:
        """The session restored to the snapshot's moment, recorded (from its start) to a new file."""
        from twin.instructor.recording import Recorder
        from twin.instructor.snapshots import restore

        if self.rebuild is None:
            raise HostError("snapshot_restore: this session cannot be rebuilt here")
        recorder, scorekeeper = None, None
        target = None
        if self.recorder is not None:
            old = Path(self.recorder.path)
            k = 1
            while (target := old.with_name(f"{old.stem}-restored-{k}{old.suffix}")).exists():
                k += 1

        def rebuild(meta):
            nonlocal recorder, scorekeeper
            net, session = self.rebuild(meta)
            scorekeeper = Scorekeeper(session)  # (scored from the start, as the session that was)
            if target is not None:
                recorder = Recorder(target, meta).attach(session)
            return net, session

        _, session = restore(path, rebuild)
        if self.recorder is not None:
            self.recorder.close(end_s=self.world.now)
        self._attach(session, recorder, scorekeeper)
        self.paused = True
        self._note(f"restored {path} at {self.desk.clock_text(self.world.now)}"
                   + (f", recording to {target}" if target else ""))
        return f"restored at {self.desk.clock_text(self.world.now)}, paused"

    def _cmd_trip(self, device: str) -> str:
        return self._desk(Trip(device))

    def _cmd_close(self, device: str) -> str:
        return self._desk(Close(device))

    def _cmd_tag(self, device: str, kind: str = "hold", reason: str = "") -> str:
        return self._desk(PlaceTag(device, kind, reason))

    def _cmd_untag(self, tag: str) -> str:
        return self._desk(RemoveTag(tag))

    def _cmd_acknowledge(self, alarms: list[str]) -> str:
        return self._desk(Acknowledge(tuple(alarms)))

    def _cmd_dispatch(self, crew: str, outage: str) -> str:
        return self._desk(Dispatch(crew, outage))

    def _cmd_call_out(self) -> str:
        return self._desk(CallOut())

    def _desk(self, command) -> str:
        result = self.desk.execute(command)
        if not result.ok:
            raise HostError(result.text)
        return result.text

    def _note(self, text: str) -> None:
        self.log.append((self.world.now, text))
        self.desk.say(f"instructor: {text}")

    def close(self) -> None:
        """The session is over: the recording closed, the channel shut."""
        if self.recorder is not None:
            self.recorder.close(end_s=self.world.now)
            self.recorder = None
        if self.channel is not None:
            self.channel.close()


def _speed(x: float) -> float:
    x = float(x)
    if not SPEEDS[0] <= x <= SPEEDS[1]:
        raise HostError(f"speed x{x:g} is outside x{SPEEDS[0]:g} to x{SPEEDS[1]:g}")
    return x
