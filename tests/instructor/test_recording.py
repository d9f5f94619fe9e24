"""Session recordings: written as the session runs, replayed identically (and a tampered one
found out), and a session killed with SIGKILL mid-storm leaves a recording that replays up to its
last event."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from twin.cli import main, session_from
from twin.instructor.recording import Recorder, Recording, RecordingError, verify
from twin.world.events import EventKind

ROOT = Path(__file__).resolve().parents[2]
META = {"model": "territory:5000", "storm": "hurricane", "hours": 12.0, "seed": 2, "ami": True, "rules": None}


@pytest.fixture(scope="module")
def recorded(tmp_path_factory):
    path = tmp_path_factory.mktemp("rec") / "storm.twinrec"
    assert main(["run", "territory:5000", "--storm", "hurricane", "--hours", "12", "--seed", "2",
                 "--record", str(path)]) == 0
    return path


def test_a_recorded_session_holds_world_and_idms_events_and_replays_identically(recorded):
    rec = Recording(recorded)
    rows = rec.rows()
    sources = {r.source for r in rows}
    assert rec.complete and sources == {"world", "idms"} and len(rows) > 500
    assert [r.seq for r in rows] == list(range(1, len(rows) + 1))
    assert all(a.sim_s <= b.sim_s for a, b in zip(rows, rows[1:]))  # in the order they happened
    same, text = verify(recorded, session_from)
    assert same and text.startswith("identical") and "the whole session" in text


def test_a_recording_that_differs_from_its_re_run_says_where(recorded, tmp_path):
    tampered = tmp_path / "tampered.twinrec"
    tampered.write_bytes(recorded.read_bytes())
    db = sqlite3.connect(tampered)
    (seq,) = db.execute("SELECT MIN(seq) FROM events WHERE kind = 'protection'").fetchone()
    db.execute("UPDATE events SET data = '{\"device\": \"elsewhere\"}' WHERE seq = ?", (seq,))
    db.commit()
    db.close()
    same, text = verify(tampered, session_from)
    assert not same and f"first difference at event {seq}" in text and "elsewhere" in text
    assert main(["replay", str(tampered), "--verify"]) == 1


def test_recordings_are_never_overwritten(recorded):
    with pytest.raises(RecordingError, match="never overwritten"):
        Recorder(recorded, META)
    with pytest.raises(RecordingError, match="no such recording"):
        Recording(recorded.with_name("none.twinrec"))


def test_a_session_killed_mid_storm_replays_up_to_its_last_event(tmp_path):
    path = tmp_path / "killed.twinrec"
    child = subprocess.Popen([sys.executable, "-m", "twin", "run", "territory:5000", "--storm", "hurricane",
                              "--hours", "12", "--seed", "2", "--record", str(path)], cwd=ROOT,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120.0
        while time.monotonic() < deadline:
            time.sleep(0.2)
            if path.exists():
                try:
                    with sqlite3.connect(path) as db:
                        if db.execute("SELECT COUNT(*) FROM events WHERE source = 'idms'").fetchone()[0] > 5:
                            break
                except sqlite3.OperationalError:
                    pass  # the schema is being written
        os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
    rec = Recording(path)
    assert not rec.complete and len(rec.rows()) > 5
    same, text = verify(path, session_from)
    assert same and "did not finish" in text, text


def _record_lockout(path: Path, *, trip_tagged: bool) -> None:
    """The blue-sky lockout recorded with a trainee who tags S01-F3-RCL at 300 s, tries to trip it
    at 600 s (``trip_tagged``) and tries to close S01-F2-BKR into its fault at 1800 s (refused:
    the crew has found it)."""
    from twin.instructor.scenario import load_scenario
    from twin.session import build_session, run_session

    lockout = ROOT / "scenarios" / "blue-sky-lockout.yaml"
    meta = {"scenario": lockout.read_text(encoding="utf-8"), "scenario_file": str(lockout), "rules": None}
    scenario = load_scenario(lockout)
    net = scenario.network()
    session = build_session(net, scenario=scenario)
    recorder = Recorder(path, meta).attach(session)
    scada, clock = session.idms.scada, session.idms.clock
    clock.call_later(300.0, lambda: scada.place_tag("S01-F3-RCL", "hold", user="trainee", reason="crew below"))
    if trip_tagged:
        clock.call_later(600.0, lambda: scada.control("S01-F3-RCL", "trip", "trainee"))  # refused: tagged
    clock.call_later(1800.0, lambda: scada.control("S01-F2-BKR", "close", "trainee"))  # into the fault
    run_session(net, session=session)
    recorder.close(end_s=session.world.now)


def test_a_trainees_actions_are_recorded_as_theirs_and_done_again_in_the_re_run(tmp_path):
    path = tmp_path / "trainee.twinrec"
    _record_lockout(path, trip_tagged=True)
    rows = Recording(path).rows()
    mine = [(r.kind, r.sim_s) for r in rows if r.source == "trainee"]
    assert mine == [("tag", 300.0), ("control", 600.0), ("control", 1800.0), ("refused", 1800.0)]
    assert any(r.source == "idms" and r.kind == "alarm" and json.loads(r.data)["acknowledged"] for r in rows)
    same, text = verify(path, session_from)
    assert same, text


def test_seeking_a_recording_gives_the_state_the_session_had_then(tmp_path):
    # the live IDMS's active outages and the world's customers out at five moments, against the
    # state rebuilt from the recording (from the nearest snapshot forward)
    import numpy as np

    from twin.session import run_session

    net, session = session_from(META)
    path = tmp_path / "seek.twinrec"
    recorder = Recorder(path, META, snapshot_s=1800.0).attach(session)
    seen = {}
    oms, world = session.idms.oms, session.world

    def look(t):
        seen[t] = ({r.id: r.state.value for r in oms.outages()}, int(np.count_nonzero(~world.grid.energised_customers)))

    for t in (2000.5, 20000.5, 30000.5, 40000.5, 50000.5):
        session.idms.clock.call_later(t, lambda t=t: look(t))
    run_session(net, session=session)
    recorder.close(end_s=world.now)
    rec = Recording(path)
    assert rec.db.execute("SELECT COUNT(*) FROM snapshots").fetchone()[0] >= 10
    for t, (records, out) in seen.items():
        state = rec.state_at(t)
        assert {i: r["state"] for i, r in state.records.items()} == records, t
        assert state.customers_out == out, t
    assert sum(bool(records) for records, _ in seen.values()) >= 2, seen  # (the storm had outages open then)


def test_a_snapshot_restores_the_session_as_it_was_and_a_branch_plays_on_differently(tmp_path):
    from twin.instructor.recording import _plain
    from twin.instructor.snapshots import SnapshotError, restore, save_snapshot
    from twin.session import run_session

    path = tmp_path / "lesson.twinrec"
    _record_lockout(path, trip_tagged=False)

    at = 1200.0
    snap = save_snapshot(path, at, tmp_path / "at-20-min.json")
    net, again = restore(snap, session_from)
    assert again.world.now == pytest.approx(at)
    recorded = [(r.kind, r.data) for r in Recording(path).rows() if r.source == "world" and r.sim_s <= at]
    replayed = [(e.kind.value, json.dumps(e.data, sort_keys=True, default=_plain))
                for e in again.world.events.events if e.time_s <= at][-len(recorded):]
    assert replayed == recorded  # the same world, event for event
    state = Recording(path).state_at(at)
    assert {r.id: r.state.value for r in again.idms.oms.outages()} == {i: r["state"] for i, r in state.records.items()}
    assert [t.device for t in again.idms.scada.controls.tags()] == ["S01-F3-RCL"]  # the trainee's tag, done again
    # the branch: this time the trainee does not close the breaker into its fault
    run_session(net, session=again)
    trips = [e for e in again.world.events.of(EventKind.protection) if e.data.get("device") == "S01-F2-BKR"]
    assert len(trips) == 1  # the fault's own trip only
    with pytest.raises(SnapshotError, match="outside it"):
        save_snapshot(path, 1e9, tmp_path / "never.json")
    (tmp_path / "bad.json").write_text("{}")
    with pytest.raises(SnapshotError, match="not a Twin snapshot"):
        restore(tmp_path / "bad.json", session_from)


def test_twin_snapshot_and_twin_run_of_a_snapshot(recorded, tmp_path, capsys):
    snap = tmp_path / "mid.json"
    assert main(["snapshot", str(recorded), "--at", "06:00", str(snap)]) == 0
    assert main(["run", str(snap), "--report", str(tmp_path / "report")]) == 0
    out = capsys.readouterr().out
    assert "restored" in out and "at 6.00 h" in out and (tmp_path / "report" / "summary.txt").exists()
    assert main(["run", str(snap), "--record", str(tmp_path / "x.twinrec")]) == 1  # refused: said why
    assert main(["snapshot", str(recorded), "--at", "6h", str(snap)]) == 1
