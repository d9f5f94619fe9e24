"""Service restoration: the switching that isolates a located fault and brings the healthy
sections back, checked by the power flow.

:func:`plan_restoration` takes an :class:`~twin.idms.flisr.locate.Isolation` and the believed
states and builds the order's steps:

1. *upstream*: where the fault lies below the locked-out device's first zone, open the upstream
   isolation point, then close the locked-out device: the zones above the fault are back on
   their own feeder;
2. *downstream*: each section below a downstream isolation point is dead. Its candidate ties are
   open, operable devices with one end in it and the other end live (after step 1). Each is
   checked by closing it on the study states (:class:`~twin.idms.switching.checks.Checker`: the
   power flow's loading against ratings, and voltage against ANSI C84.1 range B, as emergency
   restoration is); the first that passes, least loaded first, is used, and the
   downstream point is opened before it. Where no tie carries the whole section, it is split at
   an operable device inside it and the part nearer the tie is picked up (the rest waits for the
   repair). A section with no tie that passes is left as it is: its downstream point stays
   closed, so the repair and the close of the upstream point bring it back.

Sections are served in order of critical customers, then customers; a tie is used once. The
plan restores the most customers it can (critical first) with the fewest operations among the
choices it weighs.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from twin.idms.switching.checks import Checker, Study
from twin.idms.switching.order import Step, StepKind
from twin.idms.switching.pickup import best_tie, split_pickup, ties_into

from .locate import Isolation

__all__ = ["Restoration", "plan_restoration"]


@dataclass
class Restoration:
    """The plan: ``steps`` in order; ``ties`` (downstream point, tie, split point or '') used;
    customers back upstream and downstream, critical among them, customers left out (the faulted
    zones and sections no tie could carry) and the power flows the planning ran."""

    steps: list[Step] = field(default_factory=list)
    ties: list[tuple[str, str, str]] = field(default_factory=list)
    upstream_back: int = 0
    downstream_back: int = 0
    critical_back: int = 0
    left_out: int = 0
    power_flows: int = 0
    notes: list[str] = field(default_factory=list)

    @property
    def restored(self) -> int:
        return self.upstream_back + self.downstream_back


def plan_restoration(checker: Checker, study: Study, iso: Isolation, operable: np.ndarray, *,
                     reserved: frozenset[str] = frozenset(), max_candidates: int = 3) -> Restoration:
    """The steps restoring what ``iso`` leaves healthy (see the module docstring) from ``study``
    (the believed states, locked-out device open); ``reserved`` devices other plans are using."""
    net, conn = checker.net, checker.connectivity
    ids = [str(x) for x in net.switch.ids]
    states = study.states.copy()
    out = Restoration()
    flows0 = checker.power_flows
    crit = checker.critical
    cust_bus = conn.customer_bus
    before = conn.customers_energised(states)
    if iso.upstream >= 0:
        out.steps += [Step(StepKind.open, ids[iso.upstream], note="isolate the fault (upstream)"),
                      Step(StepKind.close, ids[iso.device], note="restore above the fault")]
        states[iso.upstream] = True
        states[iso.device] = False
        now = conn.customers_energised(states)
        out.upstream_back = int(np.count_nonzero(now & ~before))
        out.critical_back += int(np.count_nonzero(now & ~before & crit)) if len(crit) else 0
    apart = states.copy()
    apart[iso.downstream] = True
    label, live = conn.islands(apart)
    faulted = np.zeros(len(live), bool)
    faulted[iso.faulted] = True
    used: set[str] = set(reserved)
    areas = []
    for row in iso.downstream.tolist():
        child = int(conn.switch_to[row]) if faulted[conn.switch_from[row]] else int(conn.switch_from[row])
        if live[child]:
            continue
        buses = label == label[child]
        customers = buses[cust_bus]
        areas.append((int((customers & crit).sum()) if len(crit) else 0, int(customers.sum()), row, child))
    areas.sort(key=lambda a: (-a[0], -a[1]))
    isolating = set(iso.downstream.tolist()) | {iso.device, iso.upstream}
    for _, n_customers, row, child in areas:
        if n_customers == 0:
            continue
        apart = states.copy()
        apart[iso.downstream] = True  # the sections below the downstream points, apart from the fault
        label, _ = conn.islands(apart)
        area = label == label[child]
        exclude = {r for r in isolating if r >= 0} | {net.switch.position(u) for u in used if net.switch.get(u) is not None}
        ties = ties_into(checker, apart, area, operable, exclude, avoid=faulted)
        trial = states.copy()
        trial[row] = True
        chosen = best_tie(checker, study, trial, ties, limit=max_candidates, emergency=True)
        split = ""
        if chosen is None and ties:
            chosen, cut = split_pickup(checker, study, trial, area, ties, operable, exclude=exclude, emergency=True)
            split = ids[cut] if cut >= 0 else ""
        if chosen is None:
            out.notes.append(f"no tie can carry the section below {ids[row]} ({n_customers} customers): it waits "
                             "for the repair")
            continue
        tie = int(chosen)
        steps = [Step(StepKind.open, ids[row], note="isolate the fault (downstream)")]
        states[row] = True
        if split:
            steps.append(Step(StepKind.open, split, note=f"split the section for {ids[tie]}"))
            states[net.switch.position(split)] = True
            used.add(split)
        steps.append(Step(StepKind.close, ids[tie], note=f"pick up the section below {ids[row]}"))
        was = conn.customers_energised(states)
        states[tie] = False
        now = conn.customers_energised(states)
        out.downstream_back += int(np.count_nonzero(now & ~was))
        out.critical_back += int(np.count_nonzero(now & ~was & crit)) if len(crit) else 0
        out.steps += steps
        out.ties.append((ids[row], ids[tie], split))
        used.add(ids[tie])
        used.add(ids[row])
    dead = _dead_of(conn, study.states, iso)
    out.left_out = int(np.count_nonzero(dead[cust_bus] & ~conn.customers_energised(states)))
    out.power_flows = checker.power_flows - flows0
    return out


def _dead_of(conn, states: np.ndarray, iso: Isolation) -> np.ndarray:
    """Bool per bus: dead below the locked-out device now."""
    closed = states.copy()
    closed[iso.device] = False
    _, live_closed = conn.islands(closed)
    _, live = conn.islands(states)
    return live_closed & ~live
