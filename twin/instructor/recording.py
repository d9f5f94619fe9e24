"""Session recordings: every world event, every change of an IDMS outage record and every action
(trainee, instructor, automatic dispatcher), written as it happens to one append-only SQLite file,
and checked against a re-run.

A :class:`Recorder` attaches to a session (:meth:`Recorder.attach`) and appends one row per event
(a world event; a change of an outage record or of a SCADA alarm; a control requested, a tag placed
or removed, an alarm acknowledged, a crew dispatched, by whom; an event the instructor injected, as ``instructor`` ``inject``) to
``events``: ``seq`` (the order), ``sim_s`` (simulated seconds since the start), ``wall_s`` (seconds
of wall time since the recording began), ``source`` (``world``, ``idms``, ``trainee``,
``instructor``), ``kind`` and ``data`` (JSON, keys sorted). Each row is its own committed
transaction in WAL mode (``synchronous=NORMAL``): a session killed at any moment, SIGKILL included,
leaves a file that holds every event up to the last one written. ``meta`` holds what is needed to
run the session again (the scenario's text, or the model, storm, hours, seed and settings), and
``end`` is written when the session finishes. Every ``snapshot_s`` simulated seconds (an hour) the
state a replay shows is stored in ``snapshots``, so that :meth:`Recording.state_at` seeks from the
nearest one forward (:mod:`twin.instructor.replay`).

:func:`verify` runs the recorded session again headless (to its end: where the storm's run
ends, or, a trainee's session, where the trainee stopped it; a session killed, to its last
event) and compares the two event streams row by row (source, time, kind, data; wall times
apart): it says ``identical`` or where they first differ. A trainee's or instructor's recorded
controls, tags, acknowledgements, dispatches and injected events are done again at their
simulated times in the re-run.
"""

from __future__ import annotations

import itertools
import json
import math
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from twin.errors import TwinError
from twin.instructor.replay import ReplayState, state_at
from twin.instructor.scripted import INSTRUCTOR, inject

__all__ = ["Recorder", "Recording", "RecordingError", "Row", "reapply", "run_as_recorded", "source_of", "verify"]

_SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE events (seq INTEGER PRIMARY KEY, sim_s REAL NOT NULL, wall_s REAL NOT NULL, source TEXT NOT NULL,
                     kind TEXT NOT NULL, data TEXT NOT NULL);
CREATE INDEX events_sim ON events (sim_s);
CREATE TABLE snapshots (sim_s REAL NOT NULL, seq INTEGER NOT NULL, state TEXT NOT NULL);
CREATE INDEX snapshots_sim ON snapshots (sim_s);
"""
SOURCES = ("world", "idms", "trainee", "instructor")
_STATEFUL = {"outage_record", "alarm"}  # kept whole in the replay state: as plain JSON data, as read back


class RecordingError(TwinError):
    """A recording that cannot be written or read (names the file and what to do)."""


@dataclass(frozen=True)
class Row:
    """One recorded event."""

    seq: int
    sim_s: float
    wall_s: float
    source: str
    kind: str
    data: str  # JSON, keys sorted

    def same_as(self, other: Row) -> bool:
        """The same event (wall times apart)."""
        return (self.source, self.kind, self.data) == (other.source, other.kind, other.data) and \
            math.isclose(self.sim_s, other.sim_s, rel_tol=0.0, abs_tol=1e-9)

    def text(self) -> str:
        return f"#{self.seq} at {self.sim_s:.3f} s, {self.source} {self.kind} {self.data}"


class Recorder:
    """Appends a session's events to a new recording file (see the module docstring)."""

    def __init__(self, path: str | Path, meta: dict[str, Any], *, snapshot_s: float = 3600.0) -> None:
        self.path = Path(path)
        if self.path.exists():
            raise RecordingError(f"{self.path}: a recording is there already; recordings are never overwritten "
                                 "(give a new file, or move the old one away)")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(self.path, isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.executescript(_SCHEMA)
        with self.db:
            self.db.executemany("INSERT INTO meta VALUES (?, ?)",
                                [(k, json.dumps(v, sort_keys=True)) for k, v in
                                 {**meta, "started": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())}.items()])
        self._t0 = time.perf_counter()
        self.seq = 0
        self._clock = None
        self.state = ReplayState()  # what a replay shows now, snapshotted every snapshot_s
        self.snapshot_s, self._next_snapshot = float(snapshot_s), float(snapshot_s)

    def attach(self, session) -> Recorder:
        """Record ``session``'s world events and IDMS outage records from now on."""
        world = session.world
        self._clock = lambda: world.now
        world.events.subscribe(self._world_event)
        idms = session.idms
        idms.oms.subscribe(lambda rec: self.write("idms", "outage_record", world.now, rec.record()))
        idms.scada.controls.listeners.append(lambda kind, data: self.write(source_of(data["user"]), kind, world.now,
                                                                           data))
        idms.scada.alarms.listeners.append(lambda alarm, listed: self.write("idms", "alarm", world.now,
                                                                            {**alarm.record(), "listed": listed}))
        idms.actions.append(lambda kind, data: self.write(source_of(data["user"]), kind, world.now, data))
        return self

    def _world_event(self, e) -> None:
        if e.kind.value == "scripted" and e.data.get("by") == INSTRUCTOR:  # the instructor's hand
            self.write("instructor", "inject", e.time_s, e.data)
        else:
            self.write("world", e.kind.value, e.time_s, e.data)

    def action(self, source: str, kind: str, **data: Any) -> None:
        """A person's action (``trainee`` or ``instructor``) at the session's simulated time now."""
        if source not in SOURCES:
            raise RecordingError(f"{self.path}: source {source!r} is not one of {', '.join(SOURCES)}")
        self.write(source, kind, self._clock() if self._clock else 0.0, data)

    def write(self, source: str, kind: str, sim_s: float, data: dict[str, Any]) -> None:
        self.seq += 1
        text = json.dumps(data, sort_keys=True, default=_plain)
        self.db.execute("INSERT INTO events VALUES (?, ?, ?, ?, ?, ?)",
                        (self.seq, float(sim_s), time.perf_counter() - self._t0, source, kind, text))
        self.state.apply(self.seq, float(sim_s), source, kind, json.loads(text) if kind in _STATEFUL else data)
        if sim_s >= self._next_snapshot:
            self.db.execute("INSERT INTO snapshots VALUES (?, ?, ?)", (float(sim_s), self.seq, self.state.to_json()))
            while self._next_snapshot <= sim_s:
                self._next_snapshot += self.snapshot_s

    def close(self, *, end_s: float | None = None) -> None:
        """The session is over: note its end (simulated seconds) and close the file."""
        with self.db:
            self.db.execute("INSERT OR REPLACE INTO meta VALUES ('end', ?)",
                            (json.dumps({"sim_s": end_s, "events": self.seq}),))
        self.db.close()


class Recording:
    """A recording, read (see the module docstring)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        if not self.path.exists():
            raise RecordingError(f"{self.path}: no such recording (twin run ... --record FILE writes one)")
        try:
            self.db = sqlite3.connect(self.path)  # (read-write: after a crash, SQLite recovers its WAL first)
            self.meta = {k: json.loads(v) for k, v in self.db.execute("SELECT key, value FROM meta")}
        except sqlite3.DatabaseError as exc:
            raise RecordingError(f"{self.path}: not a Twin recording ({exc})") from None

    def close(self) -> None:
        self.db.close()

    @property
    def complete(self) -> bool:
        """Whether the session finished (a killed one has no end)."""
        return "end" in self.meta

    def rows(self) -> list[Row]:
        return [Row(*r) for r in self.db.execute("SELECT seq, sim_s, wall_s, source, kind, data FROM events ORDER BY seq")]

    def state_at(self, time_s: float) -> ReplayState:
        """What the session looked like at simulated ``time_s`` (see :mod:`twin.instructor.replay`)."""
        return state_at(self.db, time_s)

    def last_sim_s(self) -> float:
        (t,) = self.db.execute("SELECT COALESCE(MAX(sim_s), 0) FROM events").fetchone()
        return float(t)


def source_of(user: str) -> str:
    """Whose action a user's is: ``trainee`` and ``instructor`` users (named so by the consoles),
    else the IDMS's own (the automatic dispatcher, a scripted process)."""
    for source in ("trainee", "instructor"):
        if user.startswith(source):
            return source
    return "idms"


def _plain(value: Any) -> Any:
    """numpy scalars and arrays as plain JSON."""
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, float) and math.isnan(value):
        return None
    return str(value)


def verify(path: str | Path, rebuild) -> tuple[bool, str]:
    """Run the recorded session again to the recording's last event and compare the streams:
    ``(True, 'identical ...')`` or ``(False, where they first differ)``. ``rebuild(meta)`` makes
    ``(net, session)`` from the recording's meta (``twin.cli.session_from``)."""
    recording = Recording(path)
    recorded = recording.rows()
    until = recording.last_sim_s()
    complete = recording.complete
    recording.close()
    net, session = rebuild(recording.meta)
    again: list[Row] = []
    copy = _Copy(again, session)
    copy.attach(session)
    reapply(session, [r for r in recorded if r.source in ("trainee", "instructor")])
    run_as_recorded(net, session, recording.meta, until)
    n = len(recorded) if not complete else max(len(recorded), len(again))
    for k in range(n):
        if k >= len(again):
            return False, f"the re-run ended after {len(again)} events; the recording goes on: {recorded[k].text()}"
        if k >= len(recorded):
            return False, f"the recording ended after {len(recorded)} events; the re-run goes on: {again[k].text()}"
        if not recorded[k].same_as(again[k]):
            return False, f"first difference at event {k + 1}:\n  recorded: {recorded[k].text()}\n  re-run:   {again[k].text()}"
    what = "the whole session" if complete else f"up to its last event at {until:.1f} s (the session did not finish)"
    return True, f"identical: {len(recorded):,} events, {what}"


def run_as_recorded(net, session, meta: dict[str, Any], last_s: float) -> None:
    """Run a rebuilt session as far as the recorded one went: where the storm's run ended (the
    automatic dispatcher's), where the trainee stopped it (a person's session), or just past the
    last recorded event ``last_s`` (a session killed)."""
    if "end" not in meta:
        session.world.run_to(last_s + 1.0)  # (what comes after the last recorded event is not compared)
    elif meta.get("dispatcher") is False or "dispatcher_until_s" in meta:
        session.world.run_to(float(meta["end"]["sim_s"]))
    else:
        from twin.session import run_session

        run_session(net, session=session)


def reapply(session, actions: list[Row]) -> None:
    """A person's recorded controls and tags, done again at their simulated times (a re-run
    replays the trainee too)."""
    from twin.idms.switching.order import Step

    idms = session.idms
    scada = idms.scada
    do = {"control": lambda d: scada.control(d["device"], d["action"], d["user"]),
          "tag": lambda d: scada.place_tag(d["device"], d["kind"], user=d["user"], reason=d["reason"]),
          "untag": lambda d: scada.remove_tag(d["tag"], user=d["user"]),
          "acknowledge": lambda d: idms.acknowledge(d["alarm"], d["user"]),
          "dispatch": lambda d: idms.dispatch(d["crew"], d["outage"], d["user"]),
          "call_out": lambda d: idms.call_out(d["user"]),
          "switch": lambda d: idms.switch_by_crew(d["crew"], d["device"], d["open"], d["user"]),
          "clearance_new": lambda d: idms.switching.new_clearance(d["crew"], d["work"], d["points"], grounds=d["grounds"],
                                                                  location=d["location"], user=d["user"]),
          "order_new": lambda d: idms.switching.create(d["title"], [Step.from_record(s) for s in d["steps"]],
                                                       user=d["user"], purpose=d["purpose"], clearances=d["clearances"]),
          "order_approve": lambda d: idms.switching.approve(d["order"], d["user"]),
          "order_execute": lambda d: idms.switching.execute(d["order"], d["user"]),
          "order_confirm": lambda d: idms.switching.confirm(d["order"], d["user"], d["note"]),
          "order_resume": lambda d: idms.switching.resume(d["order"], d["user"]),
          "order_abort": lambda d: idms.switching.abort(d["order"], d["user"], d["reason"]),
          "inject": lambda d: _inject_again(session, d)}
    # the actions of one moment together, in their order: a person's actions between two steps of
    # the world (a paused session, one frame) run back to back, before what the first of them set off
    for sim_s, rows in itertools.groupby((r for r in actions if r.kind in do), key=lambda r: r.sim_s):
        batch = [(do[r.kind], json.loads(r.data)) for r in rows]
        idms.clock.call_later(sim_s - idms.clock.now(), lambda b=batch: [f(d) for f, d in b])


def _inject_again(session, data: dict) -> None:
    args = {k: v for k, v in data.items() if k not in ("event", "by")}
    inject(session.parts, session.idms, data["event"], args)


class _Copy(Recorder):
    """A recorder that keeps the rows in memory (the re-run's stream)."""

    def __init__(self, rows: list[Row], session) -> None:  # noqa: D107 (no file)
        self.rows, self.seq, self._clock = rows, 0, None
        self._t0 = time.perf_counter()

    def write(self, source: str, kind: str, sim_s: float, data: dict[str, Any]) -> None:
        self.seq += 1
        self.rows.append(Row(self.seq, float(sim_s), 0.0, source, kind, json.dumps(data, sort_keys=True, default=_plain)))
