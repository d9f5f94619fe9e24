"""A recorded session scored: ``twin score RECORDING``.

The trainee's session is run again from its recording (the world and the IDMS are deterministic;
the trainee's and the instructor's recorded actions are done again at their times) with a
:class:`~twin.instructor.scoring.Scorekeeper` on it, to where the trainee stopped. The expert
baseline is the automatic dispatcher's run of the same settings and seed, with the same
instructor's injections, to the same moment, so both are measured over the same window. The
scenario's scoring weights apply (the defaults for a model run).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from twin.instructor.recording import Recording, reapply, run_as_recorded
from twin.instructor.scoring import ScoreSheet, Scorekeeper, score
from twin.runs import scenario_from

__all__ = ["score_recording"]


def score_recording(path: str | Path, rebuild) -> tuple[ScoreSheet, list, dict[str, Any]]:
    """``(sheet, the trainee's world events, meta)`` for the session recorded at ``path``;
    ``rebuild(meta)`` makes ``(net, session)`` (:func:`twin.runs.session_from`)."""
    recording = Recording(path)
    rows = recording.rows()
    meta = recording.meta
    last_s = recording.last_sim_s()
    recording.close()
    people = [r for r in rows if r.source in ("trainee", "instructor")]
    users = sorted({json.loads(r.data).get("user", "trainee") for r in people if r.source == "trainee"}) or ["trainee"]

    net, session = rebuild(meta)
    keeper = Scorekeeper(session)
    reapply(session, people)
    run_as_recorded(net, session, meta, last_s)
    trainee = keeper.measures()
    actions = sorted(a for user in users for a in keeper.actions(user))

    expert_meta = {k: v for k, v in meta.items() if k not in ("dispatcher", "dispatcher_until_s", "end")}
    _, expert = rebuild(expert_meta)
    expert_keeper = Scorekeeper(expert)
    reapply(expert, [r for r in people if r.source == "instructor"])  # the same lesson: the same injections
    expert.world.run_to(session.world.now)
    scenario = scenario_from(meta)
    weights = scenario.weights if scenario is not None else None
    return score(trainee, expert_keeper.measures(), weights, actions=actions), session.world.events.events, meta
