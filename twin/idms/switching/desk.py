"""The switching desk: orders written, rehearsed, approved and run step by step, clearances held,
and the check every operation of a switching device goes through, whoever asks.

:class:`SwitchingDesk` belongs to one :class:`~twin.idms.system.Idms`. It

* keeps the orders and clearances (:mod:`~twin.idms.switching.store`: a restart loses nothing; an
  order that was running comes back halted at the step it was on, for the dispatcher to check and
  resume);
* rehearses an order on a study copy of the believed states (:func:`~twin.idms.switching.checks.rehearse`)
  and approves only an order whose rehearsal is clean;
* runs an approved order one step at a time, checking each step again against the live model
  before it goes: a remote step through SCADA's supervisory control (done when the status
  confirms it), a field step by its crew over the workforce link (done when the crew reports the
  device operated), tags through SCADA's tags, grounds, instructions and a crew's hand-back when
  the dispatcher confirms the crew's word (:meth:`SwitchingDesk.confirm`), clearances issued at the
  desk. A step that fails halts the order (the dispatcher retries with :meth:`resume` or aborts);
* answers :meth:`refusal` for every operation: SCADA's controls and the crews' switching ask it
  first, and it refuses (and logs) any that would energise a section held under a clearance, close
  into a known fault, or operate a device an order of its own is not entitled to.

Known faults (:meth:`add_fault`, :meth:`clear_fault`) are sections or lines the IDMS knows to be
faulted: FLISR's located sections, a crew's "found" fault until it is repaired.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import numpy as np

from twin.grid.connectivity import Connectivity
from twin.grid.network import Network
from twin.idms.interfaces.workforce import CrewReport, ReportKind
from twin.idms.scada.control import ControlOperation, Outcome, TagKind

from .checks import EMERGENCY_PURPOSES, Checker, Rehearsal, Study, rehearse
from .order import OrderError, OrderState, Performer, Step, StepKind, StepState, SwitchingOrder
from .safety import Clearance, SafetyRegister
from .store import SwitchingStore

__all__ = ["SwitchingDesk"]

log = logging.getLogger(__name__)

_WAITS = (StepKind.ground, StepKind.remove_ground, StepKind.instruct, StepKind.take_back)  # the crew's word


class SwitchingDesk:
    """Orders, clearances and the operation check of one IDMS (see the module docstring).

    ``scada``: the IDMS's :class:`~twin.idms.scada.scada.Scada`; ``model``: its operations model;
    ``workforce``: the crews' link (None: no field steps); ``device_of``: the SCADA device id of a
    switch id (where they differ)."""

    def __init__(self, net: Network, model, scada, clock, store: SwitchingStore, *, workforce=None,
                 solver=None, load_scale: Callable[[], float] = lambda: 1.0,
                 device_of: Callable[[str], str] = lambda s: s) -> None:
        self.net, self.model, self.scada, self.clock, self.workforce = net, model, scada, clock, workforce
        self.store = store
        self.device_of = device_of
        self.connectivity = Connectivity(net)
        self.register = SafetyRegister(net, self.connectivity, lambda: self.model.open, clock.now)
        self.register.listeners.append(store.save_clearance)
        self._faults: dict[str, np.ndarray] = {}
        self.checker = Checker(net, self.connectivity, solver=solver, faulted=self.faulted_buses, load_scale=load_scale)
        self.orders: dict[str, SwitchingOrder] = {}
        self.listeners: list[Callable[[SwitchingOrder], None]] = []  # told of every change of an order
        self.actions: list[Callable[[str, dict[str, Any]], None]] = []
        """Called ``listener(kind, data)`` for each thing a user does at the desk (``order_new``,
        ``order_approve``, ``order_execute``, ``order_confirm``, ``order_resume``, ``order_abort``,
        ``clearance_new``; ``data`` names the user): who did what, for a recording."""
        self._seq = 0
        self._running: dict[str, str] = {}  # order id -> what its running step waits for
        if workforce is not None:
            workforce.subscribe(self._on_crew_report)

    # -- known faults -------------------------------------------------------------------------------
    def add_fault(self, key: str, buses: np.ndarray) -> None:
        """Bus rows known faulted (``key``: what located them: a line id, a FLISR case); kept in the store."""
        self._faults[key] = np.asarray(buses, np.int64)
        self.store.save_fault(key, self.net.bus.ids[self._faults[key]].astype(str).tolist())

    def clear_fault(self, key: str) -> None:
        if self._faults.pop(key, None) is not None:
            self.store.delete_fault(key)

    def faulted_buses(self) -> np.ndarray:
        return np.unique(np.concatenate(list(self._faults.values()))) if self._faults else np.empty(0, np.int64)

    def fault_of_line(self, line: str) -> np.ndarray:
        row = self.net.line.position(line)
        return self.net.bus.index([self.net.line["from_bus"][row], self.net.line["to_bus"][row]])

    # -- the check every operation goes through ---------------------------------------------------
    def refusal(self, switch: str, open_: bool, user: str) -> str | None:
        """Why operating ``switch`` (open: ``open_``) as ``user`` is refused, else None: a held
        clearance (logged in the register's refusals) or, for a close, a known fault below."""
        reason = self.register.refusal(switch, open_, user)
        if reason is not None or open_:
            return reason
        row = self.net.switch.get(switch)
        faulted = self.faulted_buses()
        if row is None or not len(faulted) or not self.model.open[row]:
            return None
        gained = self.connectivity.effect(self.model.open, row, False).gained_buses
        if np.isin(faulted, gained).any():
            bus = self.net.bus.ids[faulted[np.isin(faulted, gained)][0]]
            log.warning("refused close %s asked by %s: it energises a known fault at bus %s", switch, user, bus)
            return f"closing {switch} energises a known fault (bus {bus}): isolate it first"
        return None

    # -- writing ------------------------------------------------------------------------------------
    def study(self) -> Study:
        """The live states as a study: the believed switch states, SCADA's tags, the clearances."""
        tags: dict[str, list[str]] = {}
        for t in self.scada.controls.tags():
            tags.setdefault(self._switch(t.device), []).append(f"{t.kind.value} by {t.user}: {t.reason}")
        return Study(self.model.open.copy(), tags, self.register)

    def new_clearance(self, crew: str, work: str, points: list[str], *, grounds: list[str] = (),
                      location: str = "", user: str) -> Clearance:
        """Write a clearance (see :class:`~twin.idms.switching.safety.Clearance`); its section is
        worked out now and the points checked to isolate it."""
        c = Clearance(self.register.new_id(), crew, work, list(points), list(grounds), location)
        c = self.register.register(c, user)
        self._tell("clearance_new", {"clearance": c.id, "crew": crew, "work": work, "points": list(points),
                                     "grounds": list(grounds), "location": location, "user": user})
        return c

    def create(self, title: str, steps: list[Step], *, user: str, purpose: str = "manual",
               clearances: list[str] = ()) -> SwitchingOrder:
        """A new order, a draft."""
        self._seq += 1
        while f"SO-{self._seq:05d}" in self.orders:
            self._seq += 1
        order = SwitchingOrder(f"SO-{self._seq:05d}", title, list(steps), purpose, created_by=user,
                               created_s=self.clock.now(), clearances=list(clearances))
        order.note(self.clock.now(), user, "written")
        self.orders[order.id] = order
        self._save(order)
        self._tell("order_new", {"order": order.id, "title": title, "steps": [s.record() for s in order.steps],
                                 "purpose": purpose, "clearances": list(clearances), "user": user})
        return order

    def from_moves(self, moves, *, title: str, user: str, purpose: str = "reconfigure") -> SwitchingOrder:
        """A draft order from a reconfiguration's moves (:class:`~twin.idms.reconfiguration.Move`:
        close, then open): make-before-break with the loop allowed, except where the loop would
        put two sources in parallel (break before make there, the section dropped a moment: the
        open acknowledged). Devices SCADA cannot operate are left to a crew (named on the draft)."""
        steps: list[Step] = []
        for m in moves:
            close = [Step(StepKind.close, m.close, by=self._by(m.close), crew=self._crew(m.close),
                          allow_loop=bool(m.open) and not m.parallels_sources)] if m.close else []
            open_ = [Step(StepKind.open, m.open, by=self._by(m.open), crew=self._crew(m.open),
                          acknowledged=m.parallels_sources or not m.close)] if m.open else []
            steps += (open_ + close) if m.parallels_sources else (close + open_)
        return self.create(title, steps, user=user, purpose=purpose)

    def _by(self, switch: str) -> Performer:
        row = self.net.switch.get(switch)
        return Performer.scada if row is not None and bool(self.net.switch["remote"][row]) else Performer.crew

    def _crew(self, switch: str) -> str:
        return "" if self._by(switch) == Performer.scada else "to be named"

    def get(self, order_id: str) -> SwitchingOrder:
        try:
            return self.orders[order_id]
        except KeyError:
            raise OrderError(f"no switching order {order_id}", fix="choose one from the order list") from None

    def rehearse(self, order_id: str, *, power_flow: bool = True) -> Rehearsal:
        """The order run on a study copy of the live states (nothing is sent)."""
        return rehearse(self.get(order_id), self.checker, self.study(), power_flow=power_flow, time_s=self.clock.now())

    def approve(self, order_id: str, user: str, *, rehearsed: Rehearsal | None = None) -> Rehearsal:
        """Approve a draft whose rehearsal is clean; raises :class:`OrderError` listing the problems.
        ``rehearsed``: the order's rehearsal made this very moment on the states as they are (FLISR's,
        as it plans), not made again."""
        order = self.get(order_id)
        if order.state != OrderState.draft:
            raise OrderError(f"{order.id} is {order.state.value}: only a draft is approved")
        fresh = rehearsed is not None and rehearsed.order == order.id and rehearsed.time_s == self.clock.now() \
            and np.array_equal(rehearsed.start, self.model.open)
        result = rehearsed if fresh else self.rehearse(order_id)
        if not result.ok:
            raise OrderError(f"{order.id} is refused: " + "; ".join(result.problems),
                             fix="change the steps (or acknowledge them) and rehearse again")
        order.state, order.approved_by = OrderState.approved, user
        order.note(self.clock.now(), user, "approved")
        self._save(order)
        self._tell("order_approve", {"order": order.id, "user": user})
        return result

    # -- running ------------------------------------------------------------------------------------
    def execute(self, order_id: str, user: str) -> SwitchingOrder:
        """Start an approved order: its steps run one after another (see the module docstring)."""
        order = self.get(order_id)
        if order.state != OrderState.approved:
            raise OrderError(f"{order.id} is {order.state.value}: approve it before running it")
        order.state = OrderState.in_progress
        order.note(self.clock.now(), user, "started")
        self._save(order)
        self._tell("order_execute", {"order": order.id, "user": user})
        self._advance(order, user)
        return order

    def confirm(self, order_id: str, user: str, note: str = "") -> SwitchingOrder:
        """The crew's confirmation of the step the order waits on (grounds on or off, an
        instruction carried out, a clearance handed back), entered by ``user``."""
        order = self.get(order_id)
        step = self._current(order)
        if step is None or step.state != StepState.running or step.kind not in _WAITS:
            raise OrderError(f"{order.id} waits for no crew confirmation now")
        self._tell("order_confirm", {"order": order.id, "note": note, "user": user})
        try:
            self._carry_out(order, step, user)
        except Exception as err:  # noqa: BLE001 - the register's refusal halts the order, it does not crash it
            return self._fail(order, step, str(err), user)
        self._done(order, step, note or f"confirmed by {user}", user)
        return order

    def resume(self, order_id: str, user: str) -> SwitchingOrder:
        """Retry the step that halted (a failed step, or one running when the IDMS restarted)."""
        order = self.get(order_id)
        if order.state != OrderState.in_progress or order.id in self._running:
            raise OrderError(f"{order.id} is not halted")
        step = self._current(order)
        if step is not None:
            step.state, step.result = StepState.pending, ""
        order.note(self.clock.now(), user, "resumed")
        self._tell("order_resume", {"order": order.id, "user": user})
        self._advance(order, user)
        return order

    def abort(self, order_id: str, user: str, reason: str) -> SwitchingOrder:
        """Stop an order before it is done (the steps done stay done: the network is as they left it)."""
        order = self.get(order_id)
        if order.finished:
            raise OrderError(f"{order.id} is {order.state.value} already")
        order.state = OrderState.aborted
        self._running.pop(order.id, None)
        order.note(self.clock.now(), user, f"aborted: {reason}")
        self._save(order)
        self._tell("order_abort", {"order": order.id, "reason": reason, "user": user})
        return order

    def restore(self) -> None:
        """Take up the stored orders and clearances (a restart): an order that was running halts
        at its step, which is marked for the dispatcher to verify."""
        orders, clearances = self.store.load()
        self.register.restore(clearances)
        self._faults.update({k: self.net.bus.index(b) for k, b in self.store.faults().items()})
        for order in orders:
            self.orders[order.id] = order
            self._seq = max(self._seq, int(order.id.split("-")[-1]))
            step = self._current(order)
            if order.state == OrderState.in_progress and step is not None and step.state == StepState.running:
                step.state, step.result = StepState.failed, "the IDMS restarted while it ran: verify, then resume"
                order.note(self.clock.now(), "idms", f"halted at step {order.next + 1} by a restart")
                self._save(order)

    def _current(self, order: SwitchingOrder) -> Step | None:
        return order.steps[order.next] if order.next < len(order.steps) else None

    def _advance(self, order: SwitchingOrder, user: str) -> None:
        """Run steps until one has to wait, fails, or the order is done."""
        while order.state == OrderState.in_progress and order.id not in self._running:
            step = self._current(order)
            if step is None:
                order.state = OrderState.done
                order.note(self.clock.now(), user, "done")
                self._save(order)
                return
            if step.state == StepState.failed:
                return  # halted: the dispatcher resumes or aborts
            check = self.checker.check(self.study(), step, order.next, emergency=order.purpose in EMERGENCY_PURPOSES)
            if check.problems:
                self._fail(order, step, "; ".join(check.problems), user)
                return
            if any("already" in w for w in check.warnings) and step.kind in (StepKind.open, StepKind.close):
                step.state, step.result, step.done_s = StepState.skipped, check.warnings[0], self.clock.now()
                order.next += 1
                self._save(order)
                continue
            self._start(order, step, user)

    def _start(self, order: SwitchingOrder, step: Step, user: str) -> None:
        step.state = StepState.running
        self._save(order)
        kind = step.kind
        if kind in (StepKind.open, StepKind.close):
            open_ = kind == StepKind.open
            if step.by == Performer.scada:
                self._running[order.id] = "scada"
                self.scada.control(self.device_of(step.target), "open" if open_ else "close", user,
                                   on_done=lambda op, o=order, s=step: self._control_done(o, s, op, user))
            else:
                if self.workforce is None:
                    self._fail(order, step, "no workforce link to send the crew", user)
                    return
                self._running[order.id] = f"crew {step.crew}"
                self.workforce.switch(step.crew, step.target, open_)
            return
        if kind in _WAITS and step.by == Performer.crew:
            self._running[order.id] = f"confirmation from {step.crew or 'the crew'}"
            return
        try:
            self._carry_out(order, step, user)
        except Exception as err:  # noqa: BLE001 - a refusal halts the order
            self._fail(order, step, str(err), user)
            return
        self._done(order, step, "", user)

    def _carry_out(self, order: SwitchingOrder, step: Step, user: str) -> None:
        """Do a step at the desk (tags, grounds, clearances, verifications, instructions)."""
        kind, reg = step.kind, self.register
        if kind == StepKind.tag:
            tag = self.scada.place_tag(self.device_of(step.target), TagKind.hold, user=user,
                                       reason=f"{order.id}" + (f" clearance {step.clearance}" if step.clearance else ""))
            if step.clearance:
                reg.tagged(step.clearance, step.target, tag.id, user)
        elif kind == StepKind.untag:
            device = self.device_of(step.target)
            if step.clearance:
                c = reg.get(step.clearance)
                why = reg.check_untag(step.clearance, step.target)
                if why:
                    raise OrderError(why)
                self.scada.remove_tag(c.tags[step.target], user=user)
                reg.untagged(step.clearance, step.target, user)
            else:
                mine = [t for t in self.scada.controls.tags(device) if t.reason.startswith(order.id)] or \
                    self.scada.controls.tags(device)
                if not mine:
                    raise OrderError(f"{step.target} carries no tag")
                self.scada.remove_tag(mine[-1].id, user=user)
        elif kind == StepKind.ground:
            reg.grounded_at(step.clearance, step.target, user)
        elif kind == StepKind.remove_ground:
            reg.ground_removed(step.clearance, step.target, user)
        elif kind == StepKind.issue:
            reg.issued(step.clearance, user)
        elif kind == StepKind.take_back:
            reg.returned(step.clearance, user)
        elif kind == StepKind.verify:
            why = self.checker.verify_problem(self.model.open, step)
            if why:
                raise OrderError(why)

    def _control_done(self, order: SwitchingOrder, step: Step, op: ControlOperation, user: str) -> None:
        if self._running.pop(order.id, None) is None or order.state != OrderState.in_progress:
            return
        if op.outcome == Outcome.confirmed:  # the model takes the status after SCADA's listeners: next step then
            self._running[order.id] = "the model"
            self.clock.call_later(0.0, lambda: self._done(order, step, "confirmed by SCADA", user))
        else:
            self._fail(order, step, f"SCADA control {op.reason.value if op.reason else 'failed'} "
                                    f"{op.field_reason}".rstrip(), user)

    def _on_crew_report(self, report: CrewReport) -> None:
        for order in list(self.orders.values()):
            step = self._current(order)
            if order.id not in self._running or step is None or step.by != Performer.crew \
                    or step.kind not in (StepKind.open, StepKind.close) or step.crew != report.crew \
                    or report.device != step.target:
                continue
            open_ = step.kind == StepKind.open
            if report.kind == ReportKind.operated and report.closed is not None and report.closed != open_:
                self._running.pop(order.id, None)
                self._done(order, step, f"operated by {report.crew}", order.approved_by or "idms")
            elif report.kind == ReportKind.refused:
                self._running.pop(order.id, None)
                self._fail(order, step, f"{report.crew} refused: {report.reason}", order.approved_by or "idms")

    def _done(self, order: SwitchingOrder, step: Step, result: str, user: str) -> None:
        self._running.pop(order.id, None)
        step.state, step.result, step.done_s = StepState.done, result, self.clock.now()
        order.note(self.clock.now(), user, f"step {order.next + 1} done: {step.text()}")
        order.next += 1
        self._save(order)
        self._advance(order, user)

    def _fail(self, order: SwitchingOrder, step: Step, why: str, user: str) -> SwitchingOrder:
        self._running.pop(order.id, None)
        step.state, step.result = StepState.failed, why
        order.note(self.clock.now(), user, f"halted at step {order.next + 1}: {why}")
        log.warning("switching order %s halted at step %d (%s): %s", order.id, order.next + 1, step.text(), why)
        self._save(order)
        return order

    def _tell(self, kind: str, data: dict[str, Any]) -> None:
        for listener in self.actions:
            listener(kind, data)

    def _save(self, order: SwitchingOrder) -> None:
        self.store.save_order(order)
        for listener in self.listeners:
            listener(order)

    def _switch(self, device: str) -> str:
        info = self.scada.devices.get(device)
        if info is not None and info.element.startswith("switch."):
            return info.element.split(".", 1)[1]
        return device

    def summary(self) -> dict[str, Any]:
        """Counts for a report: orders by state, clearances by state, refusals."""
        from collections import Counter

        return {"orders": dict(Counter(o.state.value for o in self.orders.values())),
                "clearances": dict(Counter(c.state.value for c in self.register.clearances.values())),
                "refusals": len(self.register.refusals)}
