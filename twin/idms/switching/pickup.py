"""Picking a dead (or to-be-dead) area up over a tie: which tie, and where to split the area when
no tie carries all of it. Shared by FLISR's restoration and the planned outage study.

``states`` here are the switch states with the area already apart from its own feed (the fault
isolated, or the work's points open): the checks are those of closing the tie onto it, by the
:class:`~twin.idms.switching.checks.Checker` (loading and voltage by the power flow).
"""

from __future__ import annotations

import numpy as np

from .checks import Checker, Study
from .order import Step, StepKind

__all__ = ["best_tie", "split_pickup", "ties_into"]


def ties_into(checker: Checker, states: np.ndarray, area: np.ndarray, usable: np.ndarray,
              exclude: set[int] = frozenset(), avoid: np.ndarray | None = None) -> list[int]:
    """Open devices of ``usable`` (bool per switch row) with one end in ``area`` (bool per bus)
    and the other live (and not in ``avoid``, a faulted zone), not in ``exclude``."""
    conn = checker.connectivity
    _, live = conn.islands(states)
    ok_far = live if avoid is None else live & ~avoid
    a, b = conn.switch_from, conn.switch_to
    touching = states & usable & ((area[a] & ok_far[b]) | (area[b] & ok_far[a]))
    return [int(r) for r in np.flatnonzero(touching) if int(r) not in exclude]


def best_tie(checker: Checker, study: Study, states: np.ndarray, ties: list[int], *, limit: int = 3,
             emergency: bool = False, notes: list[str] | None = None) -> int | None:
    """The first tie whose close passes the checks from ``states`` (at most ``limit`` tried, those
    whose live side carries the fewest customers first: the most headroom, so that one power flow
    usually settles it); why each other failed goes to ``notes``."""
    conn, ids = checker.connectivity, checker.net.switch.ids
    if len(ties) > 1:  # the live side with the fewest customers on it first
        label, live = conn.islands(states)
        load = np.bincount(label[conn.customer_bus], minlength=label.max() + 1)
        end = [int(conn.switch_from[t] if live[conn.switch_from[t]] else conn.switch_to[t]) for t in ties]
        ties = [t for _, t in sorted(zip([int(load[label[b]]) for b in end], ties), key=lambda x: x[0])]
    for tie in ties[:limit]:
        check = checker.check(Study(states, study.tags, study.register), Step(StepKind.close, str(ids[tie])),
                              emergency=emergency)
        if check.ok:
            return tie
        if notes is not None:
            notes.append(f"tie {ids[tie]} cannot carry it: {'; '.join(check.problems)}")
    return None


def split_pickup(checker: Checker, study: Study, states: np.ndarray, area: np.ndarray, ties: list[int],
                 splittable: np.ndarray, *, exclude: set[int] = frozenset(), emergency: bool = False,
                 tries: int = 2, options: int = 3) -> tuple[int | None, int]:
    """A tie that passes once ``area`` is split at a closed device of ``splittable`` inside it,
    the part holding the tie's end picked up (the most customers first): ``(tie, split row)``, or
    ``(None, -1)``."""
    conn = checker.connectivity
    inside = np.flatnonzero(~states & splittable & area[conn.switch_from] & area[conn.switch_to])
    ids = checker.net.switch.ids
    for tie in ties[:tries]:
        end = conn.switch_from[tie] if area[conn.switch_from[tie]] else conn.switch_to[tie]
        found = []
        for s in inside.tolist():
            if s in exclude:
                continue
            cut = states.copy()
            cut[s] = True
            label, _ = conn.islands(cut)
            found.append((int((label == label[end])[conn.customer_bus].sum()), s, cut))
        for _, s, cut in sorted(found, key=lambda o: -o[0])[:options]:
            check = checker.check(Study(cut, study.tags, study.register), Step(StepKind.close, str(ids[tie])),
                                  emergency=emergency)
            if check.ok:
                return tie, s
    return None, -1
