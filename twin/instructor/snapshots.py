"""Instructor snapshots: the whole state of a session at a moment, saved to a file and restored
later (a lesson started mid-storm, a replay branched: "what if you had done this instead").

The world and the IDMS are deterministic given their inputs, so a snapshot keeps the inputs, not
the memory: the session's settings (a recording's ``meta``: the scenario's text, or the model,
storm, hours, seed), the moment (``time_s``) and every trainee and instructor action before it.
:func:`restore` builds the session again, does the actions again at their times and runs it to
the moment: the state is the one the session had then, bit for bit (a test compares the event
streams), and the session goes on from there under whoever has control. Restoring takes the
simulation's own time to reach the moment (seconds for a 10k territory's storm day, minutes for
100k); :func:`~twin.instructor.replay.state_at` is the fast way to *look* at a moment.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from twin.errors import TwinError
from twin.instructor.recording import Recording, Row, reapply

__all__ = ["SnapshotError", "restore", "save_snapshot"]

FORMAT = "twin-snapshot-1"


class SnapshotError(TwinError):
    """A snapshot that cannot be saved or restored (names the file and what to do)."""


def save_snapshot(recording: str | Path, time_s: float, path: str | Path, *, running: bool = False) -> Path:
    """Save the session recorded in ``recording`` as it was at ``time_s`` (simulated s) to ``path``
    (``running``: the session is live and at ``time_s`` now, past its last event maybe)."""
    rec = Recording(recording)
    last = rec.last_sim_s()
    if not 0.0 <= time_s <= (float("inf") if running else last):
        rec.close()
        raise SnapshotError(f"{recording}: the recording runs from 0 to {last / 3600.0:.2f} h; "
                            f"{time_s / 3600.0:.2f} h is outside it")
    actions = [r.__dict__ for r in rec.rows() if r.source in ("trainee", "instructor") and r.sim_s <= time_s]
    rec.close()
    path = Path(path)
    path.write_text(json.dumps({"format": FORMAT, "meta": rec.meta, "time_s": float(time_s), "actions": actions,
                                "recording": str(recording)}, indent=1, sort_keys=True), encoding="utf-8")
    return path


def restore(path: str | Path, rebuild) -> tuple[Any, Any]:
    """``(net, session)`` as the snapshot at ``path`` saw it, ready to go on; ``rebuild(meta)``
    makes the session from its settings (``twin.cli.session_from``)."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise SnapshotError(f"{path}: not a readable snapshot ({exc})") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise SnapshotError(f"{path}: not a Twin snapshot (format {data.get('format') if isinstance(data, dict) else '?'}"
                            f", expected {FORMAT}); save one with twin snapshot")
    net, session = rebuild(data["meta"])
    reapply(session, [Row(**a) for a in data["actions"]])
    session.world.run_to(float(data["time_s"]))
    return net, session
