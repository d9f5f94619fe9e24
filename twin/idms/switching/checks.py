"""The rules every switching step is checked against, and the rehearsal of a whole order.

:func:`check_step` looks at one step from a set of switch states (a :class:`Study`: the states,
the tags on devices, the clearances) and lists the *problems* that forbid it:

* operating a device that carries a tag (anyone's), or one that is an isolation point of a held
  clearance; energising a section held under a clearance (:mod:`twin.idms.switching.safety`);
* closing into a known fault (a bus of a faulted section or line is energised by the close);
* a close that joins two live islands (a loop, or two sources in parallel) unless the step allows
  a temporary loop;
* putting critical customers (hospitals, life support, water) out without the dispatcher's
  acknowledgement on the step;
* a close that picks up load or makes a loop, after which the power flow finds an element above
  its rating or a voltage outside ANSI C84.1 range A in the island it touched, that was not so
  before (range B for an order restoring customers after a fault: :data:`EMERGENCY_PURPOSES`;
  the power flow of the study's states at the given load scale, part by part:
  :class:`~twin.grid.powerflow.parts.PartSolver`); a close that only gives an island back its
  normal feed (no normally open point closed in it) carries no more than the normal
  configuration and is not solved;
* a tag, ground, issue or hand-back the clearance's state does not allow; a verification that
  does not hold.

:func:`rehearse` runs a whole order on a study copy, step after step, and shows what each would do
(customers out and back, loops, loading) before anything is sent.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from twin.grid.connectivity import Connectivity
from twin.grid.loading import ratings_a
from twin.grid.network import Network
from twin.grid.power_quality import RANGE_A, RANGE_B
from twin.grid.powerflow.parts import PartSolver

from .order import Performer, Step, StepKind, SwitchingOrder
from .safety import SafetyRegister, study_register

__all__ = ["Checker", "EMERGENCY_PURPOSES", "Rehearsal", "StepCheck", "Study", "rehearse"]

EMERGENCY_PURPOSES = frozenset({"flisr"})
"""Orders that restore customers after a fault: their voltages are checked against ANSI C84.1
range B (acceptable for a limited time), as emergency restoration is, not range A."""


@dataclass
class Study:
    """Switch states (bool per switch row, True: open), the tags on devices (device -> tag
    descriptions) and the clearances, as a step is checked against them."""

    states: np.ndarray
    tags: dict[str, list[str]]
    register: SafetyRegister

    def copy(self) -> Study:
        states = self.states.copy()
        study = Study(states, {k: list(v) for k, v in self.tags.items()}, self.register)
        study.register = study_register(self.register, lambda: study.states)
        return study


@dataclass
class StepCheck:
    """What a step would do, and what forbids it: ``problems`` (any: the step may not run),
    ``warnings`` (worth reading), customers who would lose and gain power, critical among the
    lost, whether a close joins live islands, the worst loading (% of rating) and lowest and
    highest voltage (pu) in the island it touches after it (NaN where no power flow was run)."""

    index: int
    text: str
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    lost: int = 0
    gained: int = 0
    critical_lost: int = 0
    loop: bool = False
    max_loading_pct: float = float("nan")
    v_min_pu: float = float("nan")
    v_max_pu: float = float("nan")

    @property
    def ok(self) -> bool:
        return not self.problems


@dataclass
class Rehearsal:
    """An order run on a study copy: one :class:`StepCheck` per step, the customers out at the
    end that had power at the start, and the states at the end."""

    order: str
    steps: list[StepCheck]
    out_at_end: int
    back_at_end: int
    states: np.ndarray
    start: np.ndarray | None = None  # the states it started from
    time_s: float = float("nan")  # when it was made (the IDMS clock)

    @property
    def ok(self) -> bool:
        return all(s.ok for s in self.steps)

    @property
    def problems(self) -> list[str]:
        return [f"step {s.index + 1}: {p}" for s in self.steps for p in s.problems]

    def text(self) -> str:
        lines = [f"rehearsal of {self.order}: {'clean' if self.ok else 'REFUSED'}; at the end {self.out_at_end:,} "
                 f"customers out who had power, {self.back_at_end:,} back who had none"]
        for s in self.steps:
            pf = "" if np.isnan(s.max_loading_pct) else \
                f"; loading {s.max_loading_pct:.0f} %, {s.v_min_pu:.3f}-{s.v_max_pu:.3f} pu"
            lines.append(f"  {s.index + 1:2d}. {s.text}: -{s.lost:,} +{s.gained:,} customers"
                         f"{' (loop)' if s.loop else ''}{pf}")
            lines += [f"      PROBLEM: {p}" for p in s.problems] + [f"      note: {w}" for w in s.warnings]
        return "\n".join(lines)


class Checker:
    """The rules of the module docstring on one network: its connectivity, the known faults
    (``faulted()``: bus rows of sections or lines known faulted), and a power flow solver with its
    limits (``load_scale()``: the load level to check at, 1.0 the model's peak loads)."""

    def __init__(self, net: Network, connectivity: Connectivity, *, solver: PartSolver | None = None,
                 faulted: Callable[[], np.ndarray] = lambda: np.empty(0, np.int64),
                 load_scale: Callable[[], float] = lambda: 1.0, max_loading_pct: float = 100.0,
                 v_range_pu: tuple[float, float] = RANGE_A, v_emergency_pu: tuple[float, float] = RANGE_B) -> None:
        self.net, self.connectivity = net, connectivity
        self.solver = solver if solver is not None else PartSolver(net)
        self.faulted, self.load_scale = faulted, load_scale
        self.max_loading_pct, self.v_range_pu, self.v_emergency_pu = max_loading_pct, v_range_pu, v_emergency_pu
        self.critical = np.asarray(net.service_point["critical"], bool) if len(net.service_point) \
            else np.zeros(0, bool)
        self._ratings: dict | None = None
        self._normal_open = np.asarray(net.switch["normal_open"], bool)
        self.power_flows = 0

    # -- one step ---------------------------------------------------------------------------------
    def check(self, study: Study, step: Step, index: int = 0, *, power_flow: bool = True,
              emergency: bool = False) -> StepCheck:
        """The problems of ``step`` from ``study`` (nothing is changed); ``emergency``: voltages
        against range B (restoration after a fault), else range A."""
        out = StepCheck(index, step.text())
        kind = step.kind
        if kind in (StepKind.open, StepKind.close):
            self._switching(study, step, out, power_flow, emergency)
        elif kind == StepKind.tag:
            if self.net.switch.get(step.target) is None:
                out.problems.append(f"no switching device {step.target!r} to tag")
            elif step.clearance:
                c = study.register.clearances.get(step.clearance)
                if c is None:
                    out.problems.append(f"no clearance {step.clearance}")
                elif step.target not in c.points:
                    out.problems.append(f"{step.target} is not an isolation point of clearance {c.id}")
                elif not study.states[self.net.switch.position(step.target)]:
                    out.problems.append(f"{step.target} is closed: open it before tagging it for {c.id}")
        elif kind == StepKind.untag:
            if step.clearance:
                why = study.register.check_untag(step.clearance, step.target) \
                    if step.clearance in study.register.clearances else f"no clearance {step.clearance}"
                if why:
                    out.problems.append(why)
            elif not study.tags.get(step.target):
                out.problems.append(f"{step.target} carries no tag")
        elif kind == StepKind.ground:
            why = self._clearance_check(study, step, lambda r: r.check_ground(step.clearance, step.target, study.states))
            if why:
                out.problems.append(why)
        elif kind == StepKind.remove_ground:
            why = self._clearance_check(study, step, lambda r: r.check_remove_ground(step.clearance, step.target))
            if why:
                out.problems.append(why)
        elif kind == StepKind.issue:
            why = self._clearance_check(study, step, lambda r: r.check_issue(step.clearance, study.states))
            if why:
                out.problems.append(why)
        elif kind == StepKind.take_back:
            c = study.register.clearances.get(step.clearance)
            if c is None or c.state.value != "issued":
                out.problems.append(f"clearance {step.clearance} is not issued: nothing to hand back")
        elif kind == StepKind.verify:
            why = self.verify_problem(study.states, step)
            if why:
                out.problems.append(why)
        return out

    def verify_problem(self, states: np.ndarray, step: Step) -> str | None:
        """Why a ``verify`` step does not hold in ``states`` (None: it holds)."""
        row = self.net.switch.get(step.target)
        if row is not None:
            want = True if step.expect_open is None else bool(step.expect_open)
            if bool(states[row]) != want:
                return f"{step.target} is {'open' if states[row] else 'closed'}, expected {'open' if want else 'closed'}"
            return None
        if self.net.bus.get(step.target) is not None:
            if self.connectivity.energised(states)[self.net.bus.position(step.target)]:
                return f"bus {step.target} is live, expected dead"
            return None
        return f"nothing called {step.target!r} to verify"

    def _clearance_check(self, study: Study, step: Step, check) -> str | None:
        if step.clearance not in study.register.clearances:
            return f"step names no clearance the IDMS holds ({step.clearance or 'none'})"
        return check(study.register)

    def _switching(self, study: Study, step: Step, out: StepCheck, power_flow: bool, emergency: bool) -> None:
        net = self.net
        row = net.switch.get(step.target)
        if row is None:
            out.problems.append(f"no switching device {step.target!r} in the model")
            return
        open_ = step.kind == StepKind.open
        if bool(study.states[row]) == open_:
            out.warnings.append(f"{step.target} is {'open' if open_ else 'closed'} already")
            return
        if step.by == Performer.scada and not bool(net.switch["remote"][row]):
            out.problems.append(f"{step.target} is not remotely controlled: a crew must operate it")
        tags = study.tags.get(step.target)
        if tags:
            out.problems.append(f"{step.target} is tagged ({'; '.join(tags)}): it may not be operated")
        held = study.register.violation(study.states, row, open_)
        if held is not None:
            out.problems.append(held[1])
        effect = self.connectivity.effect(study.states, row, open_)
        out.lost, out.gained, out.loop = len(effect.lost_customers), len(effect.gained_customers), \
            effect.loop or effect.parallel
        if open_:
            if step.kind == StepKind.open and int(net.switch["kind"][row]) == 5 and len(effect.lost_buses):
                out.warnings.append(f"{step.target} is a disconnect: it must not break load")
            critical = int(self.critical[effect.lost_customers].sum()) if len(self.critical) else 0
            out.critical_lost = critical
            if critical and not step.acknowledged:
                out.problems.append(f"opening {step.target} puts {critical} critical customer(s) out: acknowledge "
                                    "it on the step first")
            return
        faulted = self.faulted()
        if len(faulted) and len(effect.gained_buses) and np.isin(faulted, effect.gained_buses).any():
            bus = net.bus.ids[faulted[np.isin(faulted, effect.gained_buses)][0]]
            out.problems.append(f"closing {step.target} energises a known fault (bus {bus}): isolate it first")
        if out.loop and not step.allow_loop:
            what = "two sources in parallel" if effect.parallel else "a loop"
            out.problems.append(f"closing {step.target} makes {what}: allow a temporary loop on the step if meant")
        if power_flow and (out.gained or out.loop) and not self._normal_feed(study.states, row):
            self._power_flow(study, row, out, self.v_emergency_pu if emergency else self.v_range_pu)

    def _normal_feed(self, states: np.ndarray, row: int) -> bool:
        """Whether closing normally closed switch ``row`` leaves its island fed as in the normal
        configuration (no normally open point closed in it): it then carries at most the normal
        loading, which planning saw to, and needs no power flow."""
        normal_open = self._normal_open
        if normal_open[row]:
            return False
        after = states.copy()
        after[row] = False
        label, _ = self.connectivity.islands(after)
        ties = np.flatnonzero(normal_open & ~after)
        return not len(ties) or not (label[self.connectivity.switch_from[ties]] == label[self.connectivity.switch_from[row]]).any()

    def _power_flow(self, study: Study, row: int, out: StepCheck, v_range: tuple[float, float]) -> None:
        """Loading and voltage in the island the close of ``row`` touches, after it; against before
        (a second power flow) only where after it something is out of limits."""
        after = study.states.copy()
        after[row] = False
        scale = float(self.load_scale())
        label, _ = self.connectivity.islands(after)
        island = label == label[self.connectivity.switch_from[row]]
        after_sol = self.solver.solve(after, load_scale=scale)
        after_pct, v = self._loading(after_sol, island), self._live_v(after_sol, island)
        self.power_flows += 1
        if len(after_pct):
            out.max_loading_pct = float(after_pct.max())
        if len(v):
            out.v_min_pu, out.v_max_pu = float(v.min()), float(v.max())
        lo, hi = v_range
        over = after_pct[after_pct > self.max_loading_pct]
        if not len(over) and not (len(v) and (v.min() < lo or v.max() > hi)):
            return  # within every limit: what it was before does not matter
        before_sol = self.solver.solve(study.states, load_scale=scale)
        before_pct, before_v = self._loading(before_sol, island), self._live_v(before_sol, island)
        worse = over[over > before_pct.reindex(over.index).fillna(0.0) + 1.0]
        for ref, pct in worse.sort_values(ascending=False).head(3).items():
            out.problems.append(f"closing {self.net.switch.ids[row]} loads {ref} to {pct:.0f} % of its "
                                f"rating at load scale {scale:.2f}")
        if len(v) and (v.min() < lo or v.max() > hi):
            if not len(before_v) or v.min() < before_v.min() - 1e-3 or v.max() > before_v.max() + 1e-3:
                out.problems.append(f"voltage {v.min():.3f}-{v.max():.3f} pu after it, outside {lo:.2f}-{hi:.2f} pu")

    @staticmethod
    def _live_v(solution, island: np.ndarray) -> np.ndarray:
        """Phase voltages (pu) of the energised buses of ``island``."""
        v = solution.bus_v_pu()[island]
        return v[np.nan_to_num(v, nan=0.0) > 0.0]

    def _loading(self, solution, island: np.ndarray):
        """% loading per rated line and switch whose from-bus lies in ``island`` (the larger
        phase current of its two ends) in ``solution``."""
        import pandas as pd

        if self._ratings is None:
            ratings = ratings_a(self.net)
            self._ratings = {}
            for table in ("line", "switch"):
                tab = self.net.table(table)
                refs = (table + "." + tab.ids.astype(str)).astype(object)
                self._ratings[table] = (refs, ratings.reindex(refs).to_numpy(float),
                                        self.net.bus.index(tab["from_bus"]) if len(tab) else np.empty(0, np.int64))
        parts = []
        for table, (refs, rating, frm) in self._ratings.items():
            if not len(refs):
                continue
            amps = np.fmax(solution.terminal_flows(table, 0)[0], solution.terminal_flows(table, 1)[0])
            keep = island[frm] & np.isfinite(rating) & (rating > 0) & np.isfinite(amps) & (amps > 0)
            parts.append(pd.Series(100.0 * amps[keep] / rating[keep], index=refs[keep]))
        return pd.concat(parts) if parts else pd.Series(dtype=float)

    # -- a whole order ----------------------------------------------------------------------------
    def apply(self, study: Study, step: Step) -> None:
        """Carry ``step`` out on the study (a rehearsal), whatever its problems."""
        reg, kind = study.register, step.kind
        row = self.net.switch.get(step.target) if step.target else None
        if kind in (StepKind.open, StepKind.close) and row is not None:
            study.states[row] = kind == StepKind.open
        elif kind == StepKind.tag:
            study.tags.setdefault(step.target, []).append(f"hold for {step.clearance or step.note or 'the order'}")
            if step.clearance in reg.clearances and step.target in reg.clearances[step.clearance].points:
                if reg.clearances[step.clearance].state.value in ("draft", "in_force"):
                    reg.tagged(step.clearance, step.target, f"study-{step.target}", "rehearsal")
        elif kind == StepKind.untag:
            if study.tags.get(step.target):
                study.tags[step.target].pop()
            if step.clearance in reg.clearances and not reg.check_untag(step.clearance, step.target):
                reg.untagged(step.clearance, step.target, "rehearsal")
        elif kind == StepKind.ground and step.clearance in reg.clearances:
            if not reg.check_ground(step.clearance, step.target):
                reg.grounded_at(step.clearance, step.target, "rehearsal")
        elif kind == StepKind.remove_ground and step.clearance in reg.clearances:
            if not reg.check_remove_ground(step.clearance, step.target):
                reg.ground_removed(step.clearance, step.target, "rehearsal")
        elif kind == StepKind.issue and step.clearance in reg.clearances:
            if not reg.check_issue(step.clearance):
                reg.issued(step.clearance, "rehearsal")
        elif kind == StepKind.take_back and step.clearance in reg.clearances:
            if reg.clearances[step.clearance].state.value == "issued":
                reg.returned(step.clearance, "rehearsal")


def rehearse(order: SwitchingOrder, checker: Checker, study: Study, *, power_flow: bool = True,
             time_s: float = float("nan")) -> Rehearsal:
    """Run ``order``'s steps (from its next step on) on a copy of ``study``; nothing live changes."""
    work = study.copy()
    start = checker.connectivity.customers_energised(work.states)
    checks = []
    for k in range(order.next, len(order.steps)):
        step = order.steps[k]
        checks.append(checker.check(work, step, k, power_flow=power_flow,
                                    emergency=order.purpose in EMERGENCY_PURPOSES))
        checker.apply(work, step)
    end = checker.connectivity.customers_energised(work.states)
    return Rehearsal(order.id, checks, int(np.count_nonzero(start & ~end)), int(np.count_nonzero(~start & end)),
                     work.states, study.states.copy(), time_s)
