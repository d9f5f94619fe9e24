"""FLISR in the IDMS: on a lockout, locate, isolate and restore, automatically or as advice, and
return to normal once the fault is repaired.

:class:`Flisr` listens to SCADA. A breaker or recloser that reports ``lockout`` (or a breaker
that opens on its own and stays open ``settle_s``) opens a *case*. After ``settle_s`` (the fault
indicators' and targets' reports are in) the case is planned on the believed states:

* evidence from SCADA's points: communicating fault indicators and the fault targets of
  breakers, reclosers and sectionalisers, good quality only, a flag only when SCADA saw it go up
  within ``evidence_window_s`` of the lockout (an indicator that resets by hand or hours later
  still shows an earlier fault; one learned after a communications outage is of unknown age)
  (:mod:`~twin.idms.flisr.locate`); and the protection's own word: a fuse still closed below the
  lockout did not see the fault (coordinated, it would have cleared it first: ``trust_fuses``);
* the devices FLISR may operate: remote, communicating (status of good quality), untagged, able
  to break load (breakers, reclosers, sectionalisers, load-break switches), not in another case's
  running order;
* restoration by :func:`~twin.idms.flisr.plan.plan_restoration`, checked by the power flow at
  the load level SCADA's feeder-head telemetry shows (with a margin for cold-load pickup).

The plan becomes a switching order (purpose ``flisr``) on the switching desk; the faulted zones
become a known fault there (nothing may close into them). In ``automatic`` mode the order is
approved and run at once, as user ``flisr``; in ``advisory`` mode it stays a draft for the
dispatcher, rehearsed. Cases are planned one after another in the order they come, each on the
states its predecessors left: a storm's many lockouts each get their own plan and their own
order, and a tie taken by one is not offered to the next.

Communicating fault indicators left flagged on a line that has had power again for ``rearm_s``
are reset by SCADA control (an indicator that resets by hand, or hours later, is otherwise blind
to the next fault).

When a crew reports a repair inside a case's faulted zones, the known fault goes; once the
faulted zones have power again (the crew closed the isolation point), a return-to-normal order
puts each back-fed section back on its own feeder: make-before-break (close the downstream
point, a brief loop, then open the tie) where both sides are fed from one source, break-before-
make across sources. Every case keeps what it did and how long planning took.
"""

from __future__ import annotations

import enum
import logging
import time
from dataclasses import dataclass, field

import numpy as np

from twin.grid.schema import SwitchKind
from twin.grid.topology import build_topology
from twin.idms.interfaces.field_devices import Quality
from twin.idms.interfaces.workforce import CrewReport, ReportKind
from twin.idms.switching.order import OrderState, Step, StepKind

from .locate import Isolation, child_bus, isolate
from .plan import Restoration, plan_restoration

__all__ = ["Flisr", "FlisrCase", "FlisrMode"]

log = logging.getLogger(__name__)

_OPERABLE_KINDS = np.array([int(SwitchKind.breaker), int(SwitchKind.recloser), int(SwitchKind.sectionaliser),
                            int(SwitchKind.load_break_switch)])
_TARGETS = ("breaker", "recloser", "sectionaliser")


class FlisrMode(str, enum.Enum):
    off = "off"
    advisory = "advisory"  # plans orders for the dispatcher to approve
    automatic = "automatic"  # plans and runs them


@dataclass
class FlisrCase:
    """One lockout and what FLISR made of it."""

    id: str
    device: str
    locked_s: float
    state: str = "waiting"  # waiting, planned, running, restored, failed, normal, nothing
    isolation: Isolation | None = None
    restoration: Restoration | None = None
    order: str = ""
    normal_order: str = ""
    plan_ms: float = float("nan")
    repaired: bool = False
    powered_again: bool = False  # the faulted zones have had power again (the repair done, or never needed)
    notes: list[str] = field(default_factory=list)


class Flisr:
    """FLISR on one :class:`~twin.idms.system.Idms` (see the module docstring)."""

    def __init__(self, idms, *, mode: FlisrMode | str = FlisrMode.automatic, settle_s: float = 5.0,
                 breaker_settle_s: float = 60.0, load_margin: float = 1.25, evidence_window_s: float = 180.0,
                 rearm_s: float = 600.0, trust_fuses: bool = True, user: str = "flisr") -> None:
        self.idms, self.mode, self.user = idms, FlisrMode(mode), user
        self.evidence_window_s = evidence_window_s
        self.trust_fuses = trust_fuses
        self.settle_s, self.breaker_settle_s, self.load_margin = settle_s, breaker_settle_s, load_margin
        self.net = idms.net
        self.desk = idms.switching
        self.cases: list[FlisrCase] = []
        self._open_case: dict[str, FlisrCase] = {}  # by device: a case not yet finished
        self._queue: list[FlisrCase] = []
        self._busy = False
        sw = self.net.switch
        self._kind = np.asarray(sw["kind"], np.int64)
        self._remote = np.asarray(sw["remote"], bool)
        self._fci_line = {}
        fi = self.net.fault_indicator
        if len(fi):
            self._fci_line = dict(zip(fi.ids.astype(str), fi["line"].astype(str)))
        self._peak_kw: dict[str, float] | None = None
        self._flag_s: dict[str, float] = {}  # device -> when its fault flag went up (flags up at start: unknown)
        if self.mode != FlisrMode.off:
            self.desk.checker.load_scale = self._load_scale  # the desk checks every order at the measured level
            idms.scada.subscribe(self._on_point)
            if idms.workforce is not None:
                idms.workforce.subscribe(self._on_crew_report)
            idms.model.subscribe(self._on_change)
            if rearm_s > 0:
                idms.clock.call_later(rearm_s, self._rearm)
            self.desk.listeners.append(self._on_order)
            idms.clock.call_later(0.0, self._load_scale)  # the normal configuration solved once, before any case
        self.rearm_s = rearm_s
        self.rearmed = 0
        """Communicating fault indicators reset by FLISR (flagged, their line live again)."""

    # -- cases --------------------------------------------------------------------------------------
    def _on_point(self, change, commanded: bool) -> None:
        if change.name == "fault" and change.value_changed:  # when each flag went up (the SOE's time)
            if change.value is True:
                self._flag_s[change.device] = change.time_s
            else:
                self._flag_s.pop(change.device, None)
        info = self.idms.scada.devices.get(change.device)
        if info is None or info.kind not in ("breaker", "recloser") or not info.element.startswith("switch."):
            return
        device = info.element.split(".", 1)[1]
        if change.name == "lockout" and change.value is True and change.quality == Quality.good:
            self._open(device, self.settle_s, change.time_s)
        elif change.name == "status" and change.value == "open" and not commanded and info.kind == "breaker" \
                and change.quality == Quality.good:
            self._open(device, self.breaker_settle_s, change.time_s, only_if_open=True)

    def _open(self, device: str, delay_s: float, at_s: float, *, only_if_open: bool = False) -> None:
        """A case for ``device``, locked out at ``at_s`` (the field's time stamp: SCADA may learn
        of it late, after a communications outage), planned ``delay_s`` from now."""
        if device in self._open_case:
            return
        case = FlisrCase(f"F{len(self.cases) + 1:04d}", device, float(min(at_s, self.idms.clock.now())))
        self.cases.append(case)
        self._open_case[device] = case

        def due() -> None:
            if only_if_open and not self.idms.model.belief(device)[0]:
                case.state = "nothing"
                case.notes.append("the breaker closed again: no lockout")
                self._open_case.pop(device, None)
                return
            self._queue.append(case)
            self._work()

        self.idms.clock.call_later(delay_s, due)

    def _work(self) -> None:
        """Plan the cases waiting, one after another (each on the states the last one left)."""
        while self._queue and not self._busy:
            case = self._queue.pop(0)
            self._busy = True
            try:
                self._plan(case)
            except Exception as err:  # noqa: BLE001 - one case's failure must not stop FLISR or the IDMS
                case.state = "failed"
                case.notes.append(f"planning failed: {err}")
                self._open_case.pop(case.device, None)
                log.exception("FLISR case %s (%s) failed", case.id, case.device)
            finally:
                self._busy = False

    # -- planning -----------------------------------------------------------------------------------
    def plan(self, device: str) -> FlisrCase:
        """Plan a case for ``device`` now (what a lockout does after its settling time); the case."""
        case = FlisrCase(f"F{len(self.cases) + 1:04d}", device, self.idms.clock.now())
        self.cases.append(case)
        self._open_case[device] = case
        self._plan(case)
        return case

    def _plan(self, case: FlisrCase) -> None:
        model, net = self.idms.model, self.net
        row = net.switch.position(case.device)
        if not model.open[row]:
            case.state, case.notes = "nothing", case.notes + ["closed again before planning"]
            self._open_case.pop(case.device, None)
            return
        started = time.perf_counter()
        states = model.open.copy()
        # the model's base topology has the locked-out device closed (with every normally closed
        # device): its section is the range below it there, unless it lies on a loop of it
        topo = model.base
        if child_bus(topo, len(net.line) + row) < 0:
            closed = states.copy()
            closed[row] = False
            topo = build_topology(net, switch_open=closed)
        flagged, clear = self._evidence(topo, case.locked_s - self.evidence_window_s, case.locked_s + self.evidence_window_s)
        flagged = np.append(flagged, child_bus(topo, len(net.line) + row))  # the lockout itself
        if self.trust_fuses:  # a fuse still closed below did not see this fault: it would have cleared it
            clear = np.concatenate([clear, self._closed_fuses(topo, states)])
        operable = self._operable()
        operable[row] = True
        iso = isolate(topo, row, operable, flagged, clear)
        if iso is None:
            case.state = "nothing"
            case.notes.append(f"{case.device} feeds nothing now (its source side is dead, or it is on a loop): "
                              "the case of the device above handles it")
            self._open_case.pop(case.device, None)
            return
        case.isolation = iso
        study = self.desk.study()
        reserved = frozenset(s.target for o in self.desk.orders.values() if not o.finished for s in o.steps)
        restoration = plan_restoration(self.desk.checker, study, iso, operable, reserved=reserved)
        case.restoration = restoration
        self.desk.add_fault(f"flisr:{case.id}", iso.faulted)
        if not restoration.steps:
            case.plan_ms = 1e3 * (time.perf_counter() - started)
            case.state = "nothing"
            case.notes.append("the fault is in the locked-out device's own first zone and no tie can help")
            return
        order = self.desk.create(f"FLISR {case.id}: lockout of {case.device}", restoration.steps, user=self.user,
                                 purpose="flisr")
        case.order = order.id
        rehearsal = self.desk.rehearse(order.id)
        case.plan_ms = 1e3 * (time.perf_counter() - started)
        if not rehearsal.ok:
            case.state = "failed"
            case.notes.append("rehearsal refused: " + "; ".join(rehearsal.problems))
            self.desk.abort(order.id, self.user, "rehearsal refused")
            return
        case.state = "planned"
        log.info("FLISR %s: %s locked out; isolate %s, %d customers back planned in %.0f ms", case.id, case.device,
                 ", ".join(s.target for s in restoration.steps if s.kind == StepKind.open), restoration.restored,
                 case.plan_ms)
        if self.mode == FlisrMode.automatic:
            self.desk.approve(order.id, self.user, rehearsed=rehearsal)
            case.state = "running"
            self.desk.execute(order.id, self.user)

    def _evidence(self, topo, since_s: float, until_s: float) -> tuple[np.ndarray, np.ndarray]:
        """Child bus rows of the sensing points whose flag went up between ``since_s`` and
        ``until_s``, and of those clear (good quality). An older flag (an indicator that resets by
        hand or hours later, from an earlier fault) says nothing of this one, nor does one SCADA
        learned only later (after a communications outage: its age is unknown)."""
        scada, net = self.idms.scada, self.net
        n_line = len(net.line)
        flagged, clear = [], []
        for d in scada.devices.values():
            if d.kind == "fault_indicator":
                line = self._fci_line.get(d.element.split(".", 1)[1])
                edge = net.line.get(line) if line else None
            elif d.kind in _TARGETS and d.element.startswith("switch."):
                row = net.switch.get(d.element.split(".", 1)[1])
                edge = None if row is None else n_line + row
            else:
                continue
            if edge is None:
                continue
            try:
                point = scada.points.get(d.id, "fault")
            except Exception:  # noqa: BLE001 - a device that never reported a flag tells nothing
                continue
            if point.quality != Quality.good:
                continue
            if point.value and not since_s <= self._flag_s.get(d.id, -np.inf) <= until_s:
                continue  # up since an earlier fault, or of unknown age: it tells nothing of this one
            child = child_bus(topo, int(edge))
            if child >= 0:
                (flagged if point.value else clear).append(child)
        return np.array(flagged, np.int64), np.array(clear, np.int64)

    def _closed_fuses(self, topo, states: np.ndarray) -> np.ndarray:
        """Child bus rows of the fuses believed closed."""
        rows = np.flatnonzero((self._kind == int(SwitchKind.fuse)) & ~states)
        n_line = len(self.net.line)
        kids = np.array([child_bus(topo, n_line + r) for r in rows.tolist()], np.int64)
        return kids[kids >= 0]

    def _operable(self) -> np.ndarray:
        """Bool per switch row: FLISR may open and close it now."""
        scada = self.idms.scada
        out = self._remote & np.isin(self._kind, _OPERABLE_KINDS)
        sw_ids = self.net.switch.ids.astype(str)
        device_of = self.idms._device_of
        tagged = {t.device for t in scada.controls.tags()}
        for row in np.flatnonzero(out).tolist():
            device = device_of.get(sw_ids[row])
            if device is None or device in tagged:
                out[row] = False
                continue
            try:
                out[row] = scada.points.get(device, "status").quality == Quality.good
            except Exception:  # noqa: BLE001 - never reported
                out[row] = False
        return out

    def _load_scale(self) -> float:
        """The load level to check at: the feeder heads' measured kW over the model's at peak (the
        IDMS's own power flow of the normal configuration, made once), times the margin."""
        scada = self.idms.scada
        if self._peak_kw is None:
            solution = self.desk.checker.solver.solve(np.asarray(self.net.switch["normal_open"], bool))
            power = solution.terminal_phases("switch")[1]
            ids = self.net.switch.ids.astype(str)
            self._peak_kw = {ids[r]: float(np.real(power[r])) / 1e3
                             for r in np.flatnonzero(self._kind == int(SwitchKind.breaker))}
        measured = peak = 0.0
        for switch, kw in self._peak_kw.items():
            device = self.idms._device_of.get(switch)
            if device is None or not np.isfinite(kw) or kw <= 0:
                continue
            try:
                p = scada.points.get(device, "p_kw")
            except Exception:  # noqa: BLE001
                continue
            if p.quality in (Quality.good, Quality.stale) and isinstance(p.value, float) and np.isfinite(p.value) \
                    and self.idms.model.belief(switch)[0] is False and p.value > 0:
                measured, peak = measured + p.value, peak + kw
        scale = measured / peak if peak > 0 else 1.0
        return float(min(max(scale, 0.2), 1.5) * self.load_margin)

    def _on_order(self, order) -> None:
        case = next((c for c in self.cases if c.order == order.id), None)
        if case is None or case.state != "running":
            return
        if order.state == OrderState.done:
            case.state = "restored"
        elif order.state == OrderState.aborted or any(s.state.value == "failed" for s in order.steps):
            case.state = "failed"
            case.notes.append(f"order {order.id} halted: " + next((s.result for s in order.steps
                                                                   if s.state.value == "failed"), "aborted"))
            self._open_case.pop(case.device, None)

    # -- after the repair -----------------------------------------------------------------------
    def _on_crew_report(self, report: CrewReport) -> None:
        if report.kind != ReportKind.repaired or not report.line or self.net.line.get(report.line) is None:
            return
        buses = self.desk.fault_of_line(report.line)
        for case in self.cases:
            if case.isolation is not None and not case.repaired and np.isin(buses, case.isolation.faulted).any():
                case.repaired = True
                self.desk.clear_fault(f"flisr:{case.id}")

    def _on_change(self, change) -> None:
        if change.open or not len(change.regained):
            return
        pending = [c for c in self.cases if c.isolation is not None and not c.powered_again
                   and c.state in ("restored", "nothing", "failed")]
        if not pending:
            return
        live = self.idms.model.energised_buses()  # once per change, for every case still waiting
        for case in pending:
            if not live[case.isolation.faulted].all():
                continue
            case.powered_again = True
            self.desk.clear_fault(f"flisr:{case.id}")
            if case.state == "restored" and case.restoration is not None and case.restoration.ties:
                self._back_to_normal(case)
            else:
                self._open_case.pop(case.device, None)

    def _back_to_normal(self, case: FlisrCase) -> None:
        """The faulted zones have power again: put the back-fed sections back on their feeder."""
        order = self.desk.orders.get(case.order)
        if order is None or order.state != OrderState.done or case.normal_order:
            return
        conn, states = self.desk.connectivity, self.idms.model.open
        steps = []
        for point, tie, split in case.restoration.ties:
            p = self.net.switch.position(point)
            label, live = conn.islands(states)
            same = label[conn.switch_from[p]] == label[conn.switch_to[p]]
            back = [Step(StepKind.close, point, allow_loop=True, note="back on its own feeder"),
                    Step(StepKind.open, tie, note="normally open again")]
            if not same:
                src = self._sources(label, conn)
                a, b = src.get(int(label[conn.switch_from[p]])), src.get(int(label[conn.switch_to[p]]))
                if a != b:  # two sources: break before make
                    back = [Step(StepKind.open, tie, acknowledged=True, note="normally open again"),
                            Step(StepKind.close, point, note="back on its own feeder")]
            if split:
                back.insert(1, Step(StepKind.close, split, allow_loop=True, note="the split closed again"))
            steps += back
        order = self.desk.create(f"FLISR {case.id}: return to normal after the repair below {case.device}", steps,
                                 user=self.user, purpose="restore")
        case.normal_order = order.id
        self._open_case.pop(case.device, None)
        if self.mode == FlisrMode.automatic:
            rehearsal = self.desk.rehearse(order.id)
            if rehearsal.ok:
                self.desk.approve(order.id, self.user)
                self.desk.execute(order.id, self.user)
                case.state = "normal"
            else:
                case.notes.append("return to normal refused: " + "; ".join(rehearsal.problems))

    def _sources(self, label: np.ndarray, conn) -> dict[int, int]:
        return {int(label[b]): int(b) for b in conn.source_bus.tolist()}

    # -- indicators -------------------------------------------------------------------------------
    def _rearm(self) -> None:
        """Every ``rearm_s``: reset the communicating fault indicators still flagged whose line has
        had power again for ``rearm_s`` (their fault is gone or behind an open device), so that
        the next fault finds them armed; a flag left up cannot tell of another fault."""
        scada, now = self.idms.scada, self.idms.clock.now()
        live = self.idms.model.energised_buses()
        line_bus = self.net.line
        for d in list(scada.devices.values()):
            if d.kind != "fault_indicator" or not d.remote:
                continue
            line = self._fci_line.get(d.element.split(".", 1)[1])
            row = line_bus.get(line) if line else None
            if row is None:
                continue
            try:
                point = scada.points.get(d.id, "fault")
            except Exception:  # noqa: BLE001 - never reported
                continue
            if point.value is not True or point.quality != Quality.good \
                    or now - self._flag_s.get(d.id, -np.inf) < self.rearm_s:
                continue
            if live[self.net.bus.position(str(line_bus["from_bus"][row]))] and \
                    live[self.net.bus.position(str(line_bus["to_bus"][row]))]:
                scada.control(d.id, "reset", self.user)
                self.rearmed += 1
        self.idms.clock.call_later(self.rearm_s, self._rearm)

    # -- figures ------------------------------------------------------------------------------------
    def plan_times_ms(self) -> np.ndarray:
        """Wall time (ms) each planned case took, location to rehearsed order."""
        return np.array([c.plan_ms for c in self.cases if np.isfinite(c.plan_ms)])

    def summary(self) -> str:
        """One line for a run's summary."""
        from collections import Counter

        states = Counter(c.state for c in self.cases)
        ms = self.plan_times_ms()
        back = sum(c.restoration.restored for c in self.cases if c.restoration is not None)
        timing = f"; planning {np.median(ms):.0f} ms median, {ms.max():.0f} ms at most" if len(ms) else ""
        return (f"FLISR ({self.mode.value}): {len(self.cases)} lockouts, "
                + (", ".join(f"{n} {k}" for k, n in sorted(states.items())) or "none")
                + f"; {back:,} customers restored by its plans{timing}; {self.rearmed} indicators re-armed")
