"""Outage management: incidents from SCADA, AMI and calls, predicted, confirmed, worked and
restored, each customer in one outage at a time.

:class:`OutageManager` listens to

* the **operations model** (:class:`~twin.idms.operations_model.Change`): a device believed open
  that cuts customers off is an outage at that device, *confirmed* at once (a protective SCADA
  trip, a crew's report, a commanded open: cause ``switching``); customers it brings back are
  restored in their outages, and those an open device below still holds move to that device's
  outage (a restored feeder with pockets still out); customers of a confirmed outage whose device
  is still open, that a tie picks up (FLISR, a back-feed), are restored in it;
* the **AMI head-end**: a last gasp is evidence that a customer is out, a power-restore that it is
  back; answers to the pings the manager sends;
* the **call centre**: ``no_power``, ``wires_down`` (a hazard) and repeat calls are evidence;
  the caller who says their own breaker tripped is an inside-premise case;
* the **crews' reports** (:meth:`OutageManager.on_crew_report`): what was found where, repairs,
  devices operated, found nothing.

Evidence for customers not yet in an outage waits ``hold_s`` (the rest of the burst comes in), then
is rolled up the protective-device tree (:func:`~twin.idms.oms.prediction.roll_up`) by the
active :class:`~twin.idms.oms.rules.RuleSet`: each device predicted takes every customer below
it not already in an outage, and absorbs the predicted outages below it. A device SCADA shows
closed (good quality) is never predicted. With AMI, each prediction is checked by pings: meters
below that have not reported (silent: *confirmed*; answering: not out, the prediction is
withdrawn and the evidence rolled up again with that device barred) and meters around it (silent
too: the outage is larger, it moves up). A single premise out on a call alone is pinged first: a meter
that answers is an inside-premise case (a callback, no crew). After a restoration the customers
brought back are pinged: a meter still silent is a pocket still out, and its interruption goes on
(reopened, not counted twice).

Records (:class:`~twin.idms.oms.records.OutageRecord`) and the customers' interruption rows are
written to the :class:`~twin.idms.oms.store.OutageStore` as they change and committed at the end of
every message handled. Estimated restoration times follow the crews' reports
(:mod:`twin.idms.oms.etr`). Listeners (:meth:`OutageManager.subscribe`) hear every record changed.
The pings and what their answers mean are in :mod:`twin.idms.oms.ami_checks`, the interruption
rows in :mod:`twin.idms.oms.rows` (mixins of the manager).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable

import numpy as np

from twin.idms.interfaces.ami import AmiEvent, AmiEventKind, AmiHeadEnd
from twin.idms.interfaces.call_centre import CallCentre, Report, TroubleCall
from twin.idms.interfaces.clock import Clock
from twin.idms.interfaces.workforce import CrewReport, CrewStatus, ReportKind
from twin.idms.operations_model import Change, OperationsModel, Source
from twin.idms.oms.ami_checks import _CALL, _GASP, AmiChecks
from twin.idms.oms.etr import EtrParameters, Stage, estimate
from twin.idms.oms.prediction import roll_up
from twin.idms.oms.records import OutageRecord, OutageState
from twin.idms.oms.rows import InterruptionRows
from twin.idms.oms.rules import RuleSet, rule_set
from twin.idms.oms.store import OutageStore, Stored
from twin.idms.oms.tree import DeviceTree, device_tree
from twin.idms.reliability import Interruptions

__all__ = ["OutageManager"]

log = logging.getLogger(__name__)

_OUT_REPORTS = frozenset({Report.no_power, Report.wires_down})
_ETR_STAGE = {ReportKind.dispatched: Stage.dispatched, ReportKind.arrived: Stage.arrived, ReportKind.found: Stage.found,
              ReportKind.needs_line_crew: Stage.needs_line_crew, ReportKind.repaired: Stage.repaired}


class OutageManager(AmiChecks, InterruptionRows):
    """The outage records and the rules that make them (see the module docstring)."""

    def __init__(self, model: OperationsModel, clock: Clock, *, ami: AmiHeadEnd | None = None,
                 calls: CallCentre | None = None, store: OutageStore | None = None,
                 rules: RuleSet | str = "normal", etr: EtrParameters = EtrParameters(),
                 telemetered_closed: Callable[[str], bool] = lambda device: False,
                 last_known_closed: Callable[[str], bool] = lambda device: False) -> None:
        self.model, self.clock, self.ami, self.calls = model, clock, ami, calls
        self.store = store
        self.rules = rule_set(rules) if isinstance(rules, str) else rules
        self.etr = etr
        self.telemetered_closed = telemetered_closed
        self.last_known_closed = last_known_closed
        self.telemetered: set[str] | None = None
        """The devices SCADA sees (None: ask about every switching device); only these can be
        shown closed."""
        net = model.net
        sp = net.service_point
        n = len(sp)
        self._meter = np.asarray(sp["meter"], object) if n else np.empty(0, object)
        self._customer_of_meter = {str(m): k for k, m in enumerate(self._meter.tolist())}
        self._sp_ids = np.asarray(sp.ids, object)
        self._critical = np.asarray(sp["critical"], bool) if n and "critical" in sp else np.zeros(n, bool)
        self._sp_index = sp._lookup()
        self.records: list[OutageRecord] = []
        self._by_id: dict[str, int] = {}
        self._active_at: dict[str, int] = {}  # device -> its active record
        self.owner = np.full(n, -1, np.int64)
        """Per service point row: the active record it is in, -1 when none."""
        self._row = np.full(n, -1, np.int64)  # its open interruption row
        self._ev_s = np.full(n, np.nan)  # earliest fresh evidence that it is out
        self._ev_kind = np.zeros(n, np.int8)
        self._pinged = np.zeros(n, bool)  # pinged once already on a call alone or a gasp from a finished interruption
        self._restored_row = np.full(n, -1, np.int64)  # its last interruption row, while verification may reopen it
        self._restored_at = np.full(n, np.nan)
        self._no_route_s = np.full(n, -np.inf)  # when a ping last found no route to the meter
        self._power_back_s = np.full(n, -np.inf)  # the meter's last power-restore message (its time stamp)
        self._last_end = np.full(n, -np.inf)  # when its last interruption ended: the next begins no earlier
        self._pending: set[int] = set()
        self._verified: dict[str, float] = {}  # device -> when pings found its customers energised
        self._has_called = np.zeros(n, bool)  # called about the interruption they are in: called back when restored
        self._said_kind = np.zeros(n, np.int8)  # what each customer's standing evidence is (kinds, as bits)
        self._said_s = np.full(n, np.nan)  # and since when: kept while it is in a record, dropped when shown back
        self._also_free: np.ndarray | None = None  # customers just cut off by a SCADA open, while a prediction runs
        self._hazards: set[int] = set()  # customers whose call reported wires down
        self._sub: dict[int, set[str]] = {}  # record -> devices of predictions merged into it
        # interruption rows
        self._n_rows = 0  # interruption rows in use, in arrays grown by doubling
        self._reopened: dict[int, tuple[int, float]] = {}  # row -> (record, end) it was reopened from
        self.i_outage = np.zeros(1024, np.int64)
        self.i_customer = np.zeros(1024, np.int64)
        self.i_start = np.zeros(1024)
        self.i_end = np.full(1024, np.nan)
        self.i_deleted = np.zeros(1024, bool)
        self.i_firm = np.zeros(1024, bool)  # the row has been in a confirmed outage: never deleted, only ended
        self._rows_of: dict[int, set[int]] = {}  # record -> its interruption rows
        self._dirty: set[int] = set()
        self._dirty_light: set[int] = set()  # changed, but not in its customers (a call, a gasp): no recount
        self._dirty_rows: set[int] = set()
        self._prediction_due = False
        self._tree: DeviceTree | None = None
        self._tree_rebuilds = -1
        self._crew_job: dict[str, int] = {}
        self._crew_status: dict[str, CrewStatus] = {}
        self._listeners: list[Callable[[OutageRecord], None]] = []
        self.inside_premise: list[OutageRecord] = []
        self.trouble_calls: list[TroubleCall] = []
        """Every trouble call taken, in the order the call centre passed them on."""
        self.pings = 0
        model.subscribe(self.on_change)
        if ami is not None:
            ami.subscribe(self.on_ami)
        if calls is not None:
            calls.subscribe(self.on_calls)

    # -- queries ----------------------------------------------------------------------------------

    def outages(self, *, active: bool = True) -> list[OutageRecord]:
        """The outage list in dispatch priority: hazards, critical customers, customers out, age."""
        shown = [self.records[k] for k in self._active_at.values()] if active else list(self.records)
        return sorted(shown, key=lambda r: (not r.hazard, -r.critical_out, -r.customers_out, r.start_s, r.id))

    def get(self, outage_id: str) -> OutageRecord:
        return self.records[self._by_id[outage_id]]

    def customers_of(self, outage_id: str) -> np.ndarray:
        """Service point rows out in an active outage now."""
        return np.flatnonzero(self.owner == self._by_id[outage_id])

    def outage_of(self, service_point: str) -> str:
        """The id of the active outage a customer is in now ('' when none)."""
        c = self._sp_index.get(service_point)
        k = -1 if c is None else int(self.owner[c])
        return self.records[k].id if k >= 0 else ""

    def interruptions(self) -> Interruptions:
        """Every interruption row, for the reliability indices."""
        n = self._n_rows
        keep = np.flatnonzero(~self.i_deleted[:n])
        devices = np.array([r.device for r in self.records] or [""], object)
        return Interruptions(self.i_customer[keep], self.i_start[keep], self.i_end[keep],
                             devices[self.i_outage[keep]])

    def subscribe(self, listener: Callable[[OutageRecord], None]) -> None:
        """``listener(record)`` whenever a record changes."""
        self._listeners.append(listener)

    def set_rules(self, rules: RuleSet | str) -> None:
        """Switch rule sets (an instructor's ``storm`` for a storm)."""
        self.rules = rule_set(rules) if isinstance(rules, str) else rules
        log.info("outage prediction rules now %s", self.rules.name)

    @property
    def tree(self) -> DeviceTree:
        """The protective-device tree of the believed configuration."""
        if self._tree is None or self._tree_rebuilds != self.model.rebuilds:
            self._tree = device_tree(self.model.net, self.model.base)
            self._tree_rebuilds = self.model.rebuilds
        return self._tree

    # -- the operations model ---------------------------------------------------------------------

    def on_change(self, change: Change) -> None:
        """A device's believed state changed: customers lost are an outage at it; customers back
        are restored."""
        now = float(change.time_s)
        if len(change.lost):
            self._lost(change, now)
        if len(change.regained):
            self._regained(change.device, change.regained, now)
        self._flush()

    def _lost(self, change: Change, now: float) -> None:
        k = self._active_at.get(change.device)
        if k is not None and self.records[k].state == OutageState.predicted and change.source == Source.scada \
                and change.time_s > self.records[k].start_s + self.rules.hold_s:
            # SCADA saw it open after its customers went out (the field's time stamp), so it was
            # closed then: what was out is below it, and stays out in outages of its own when the
            # device closes again (a time stamp from before is an RTU back on line: confirmed)
            self._withdraw(k, now, f"SCADA shows {change.device} closed until {now:.0f} s: the outage is below it",
                           evidence="keep")
            self._also_free = np.zeros(len(self.owner), bool)
            self._also_free[change.lost] = True
            try:
                self._predict()
            finally:
                self._also_free = None
            k = None
        free = change.lost[self.owner[change.lost] < 0]
        node = self.tree.node(change.device)
        if k is None:
            k = self._active_at.get(change.device)  # predicted there again just now (the evidence kept)
            # predicted outages below that began about now are this same event
            below = [j for d, j in self._active_at.items() if j != k and self.records[j].state == OutageState.predicted
                     and self.records[j].detected_s >= now - self.rules.hold_s - 300.0 and node >= 0
                     and self.tree.node(d) >= 0 and self.tree.contains(node, self.tree.node(d))]
            if k is None:
                k = self._new(change.device, now, OutageState.confirmed)
            for j in below:
                self._merge(j, k, now)
        rec = self.records[k]
        if rec.state == OutageState.predicted or not rec.confirmed_by:
            rec.state, rec.confirmed_by, rec.confirmed_s = OutageState.confirmed, change.source.value, now
        if change.cause == "commanded" and not rec.cause:
            rec.cause = "switching"
        rec.note(now, f"{change.device} open ({change.source.value}{', ' + change.cause if change.cause else ''}): "
                      f"{len(change.lost)} customers off")
        self._add(k, free, np.full(len(free), now))
        self._touch(k)

    def _regained(self, device: str, regained: np.ndarray, now: float) -> None:
        owned = regained[self.owner[regained] >= 0]
        back: list[int] = []
        for k in np.unique(self.owner[owned]).tolist():
            rec = self.records[k]
            mine = owned[self.owner[owned] == k]
            if rec.device == device or (rec.state == OutageState.confirmed and rec.confirmed_by != "ami"
                                        and self._believed_closed(rec.device)):
                self._restore(k, mine, now, f"{device} closed")
                self._check_predicted_pockets(k, mine)
                back.extend(mine.tolist())
            elif rec.state == OutageState.confirmed and self._believed_open(rec.device):
                # its device still open, yet the model feeds them: picked up from elsewhere (a tie)
                self._restore(k, mine, now, f"{device} closed: back-fed with {rec.device} still open")
                back.extend(mine.tolist())
        k = self._active_at.get(device)
        if k is not None and self._believed_closed(device):
            self._pockets(k, now)
        self._pending.difference_update(regained.tolist())
        self._ev_s[regained] = np.nan
        self._ev_kind[regained] = 0
        if back:
            self._verify_restoration(np.asarray(back, np.int64))

    def _check_predicted_pockets(self, k: int, back: np.ndarray) -> None:
        """Of customers ``back`` of record ``k``, those below a device once predicted out in its own
        right and merged into ``k`` (a blown fuse inside a recloser's lockout, perhaps) are pinged
        at once, not after the usual delay: the silent ones are a pocket still out, predicted
        again as the same interruption. Most such predictions in a storm were the larger
        outage's own evidence, so none is kept out on trust. Without AMI, those who called and
        are still out say so when the restoration callback reaches them."""
        tree = self.tree
        merged = self._sub.pop(k, set())
        if self.ami is None or not len(back):
            return
        pos = tree.position[back]
        inside = np.zeros(len(back), bool)
        for device in merged:
            node = tree.node(device)
            if node >= 0:
                inside |= (pos >= tree.first[node]) & (pos < tree.end[node])
        if inside.any():
            self.clock.call_later(0.0, lambda cs=back[inside]: self._verify_now(cs))

    def _believed_open(self, device: str) -> bool:
        """Whether the model believes a switching device open (never a transformer)."""
        return self.model.net.switch.get(device) is not None and self.model.belief(device)[0]

    def _believed_closed(self, device: str) -> bool:
        """Whether the model believes a device closed (a transformer always is)."""
        return self.model.net.switch.get(device) is None or not self.model.belief(device)[0]

    def _pockets(self, k: int, now: float) -> None:
        """Customers of record ``k`` (its device now closed) still cut off by an open device below
        go to that device's outage."""
        left = np.flatnonzero(self.owner == k)
        if not len(left):
            return
        groups: dict[str, list[int]] = {}
        for c in left.tolist():
            groups.setdefault(self._open_above(c), []).append(c)
        for device, customers in groups.items():
            if not device:  # nothing open above them as the model believes: a predicted pocket stays
                continue
            j = self._active_at.get(device)
            if j is None:
                j = self._new(device, now, OutageState.confirmed)
                self.records[j].confirmed_by, self.records[j].confirmed_s = "scada", now
            self._transfer(np.asarray(customers, np.int64), j)
            self.records[j].note(now, f"{len(customers)} customers still out after {self.records[k].device} closed")
            self._touch(j)

    # -- AMI --------------------------------------------------------------------------------------

    def on_ami(self, events: list[AmiEvent]) -> None:
        """Last gasps and power restores from the head-end."""
        now = self.clock.now()
        restored: dict[int, list[int]] = {}
        for e in events:
            c = self._customer_of_meter.get(e.meter)
            if c is None:
                continue
            if e.kind == AmiEventKind.last_gasp:
                k = int(self.owner[c])
                if k >= 0:
                    self.records[k].gasps += 1
                    self._said(c, e.meter_time_s, _GASP)
                    self._touch(k, counts=False)
                else:
                    self._evidence(c, e.meter_time_s, _GASP)
            elif e.kind == AmiEventKind.power_restore:
                self._power_back_s[c] = e.meter_time_s
                self._forget(c)
                k = int(self.owner[c])
                if k >= 0 and self.records[k].confirmed_by not in ("scada", "crew"):
                    restored.setdefault(k, []).append(c)
        for k, cs in restored.items():
            self._restore(k, np.asarray(cs, np.int64), now, "meters report power restored")
        self._schedule_prediction()
        self._flush()

    # -- calls ------------------------------------------------------------------------------------

    def on_calls(self, calls: list[TroubleCall]) -> None:
        """Trouble calls as the call centre takes them."""
        self.trouble_calls.extend(calls)
        for call in calls:
            c = self._sp_index.get(call.service_point)
            if c is None:
                log.warning("call %s from unknown service point %s set aside", call.id, call.service_point)
                continue
            k = int(self.owner[c])
            if k >= 0:
                rec = self.records[k]
                rec.calls += 1
                rec.hazard = rec.hazard or call.hazard
                self._has_called[c] = True
                if call.report in _OUT_REPORTS or call.repeat:
                    self._said(c, call.time_s, _CALL)
                self._touch(k, counts=False)
            elif call.report == Report.own_breaker:
                self._inside_premise(c, call.time_s, "the caller's own breaker")
            elif call.report in _OUT_REPORTS or call.repeat:
                self._has_called[c] = True
                self._evidence(c, call.time_s, _CALL)
                if call.hazard:
                    self._hazards.add(c)
        self._schedule_prediction()
        self._flush()

    # -- evidence and prediction ------------------------------------------------------------------

    def _evidence(self, c: int, time_s: float, kind: int) -> None:
        """Customer ``c``, in no outage, said they are out (or their meter did): pending evidence,
        even where the model believes them cut off already (an open device with no outage
        recorded for it, as after a restart from a store without it: they must still be counted)."""
        if self.owner[c] >= 0:
            return  # in an outage's count already
        if np.isnan(self._ev_s[c]) or time_s < self._ev_s[c]:
            self._ev_s[c] = time_s
        self._ev_kind[c] |= kind
        self._pending.add(c)

    def _said(self, c: int, time_s: float, kind: int) -> None:
        """Customer ``c``, already in an outage, said so (again): it stands as their evidence
        should the outage move away from them."""
        self._said_kind[c] |= kind
        self._said_s[c] = time_s if np.isnan(self._said_s[c]) else min(self._said_s[c], time_s)

    def _schedule_prediction(self, *, now: bool = False) -> None:
        """Predict ``hold_s`` from now (the rest of a burst comes in), or at once (``now``: the
        evidence is all in already, re-checked by a ping)."""
        if self._pending and (not self._prediction_due or now):
            self._prediction_due = True
            self.clock.call_later(0.0 if now else self.rules.hold_s, self._predict)

    def _predict(self) -> None:
        """Roll the pending evidence up the device tree and make or move the outages it points to."""
        self._prediction_due = False
        now = self.clock.now()
        pending = np.array(sorted(c for c in self._pending if self.owner[c] < 0), np.int64)
        self._pending = set()
        if not len(pending):
            return
        fresh = pending  # old evidence is not forgotten: a customer who said 'no power' is out until shown otherwise
        if self.ami is not None:  # a call alone: ping the meter before believing it
            unchecked = fresh[(self._ev_kind[fresh] == _CALL) & ~self._pinged[fresh]]
            if len(unchecked):
                self._pinged[unchecked] = True
                self._ping(unchecked, lambda reply, cs=unchecked: self._single_premise_answered(cs, reply))
                fresh = np.setdiff1d(fresh, unchecked)
            # last gasps from within an interruption already over (a recloser's sequence that took
            # longer than the meters' qualification): out still only if the meter is silent now
            explained = fresh[(self._ev_kind[fresh] == _GASP) & (self._ev_s[fresh] <= self._last_end[fresh])
                              & ~self._pinged[fresh]]
            if len(explained):
                self._pinged[explained] = True
                self._ask_still_out(explained)
                fresh = np.setdiff1d(fresh, explained)
        if not len(fresh):
            self._flush()
            return
        tree = self.tree
        n = len(tree)
        predicted = np.zeros(n, bool)
        for d, k in self._active_at.items():
            node = tree.node(d)
            if node >= 0 and self.records[k].state == OutageState.predicted \
                    and self.records[k].detected_s >= now - self.rules.window_s:  # (not its customers' start:
                # an interruption reopened from an earlier outage began long before this evidence)
                predicted[node] = True
        blocked = self._blocked(tree, now)
        doubtful = np.zeros(len(tree), bool)
        for d in self.telemetered or ():
            node = tree.node(d)
            if node >= 0 and not blocked[node] and self.last_known_closed(d):
                doubtful[node] = True
        # evidence counts together only within the window: older evidence is rolled up apart
        old = self._ev_s[fresh] < now - self.rules.window_s
        waiting = []
        for group in (fresh[old], fresh[~old]):
            if not len(group):
                continue
            out = np.bincount(tree.leaf[group][tree.leaf[group] >= 0], minlength=n)
            chosen = roll_up(tree, out=out, predicted=predicted, blocked=blocked, rules=self.rules, doubtful=doubtful)
            covered = np.zeros(len(group), bool)
            for node in chosen.tolist():
                inside = (tree.position[group] >= tree.first[node]) & (tree.position[group] < tree.end[node])
                covered |= inside
                self._predict_at(node, group[inside], now)
            waiting.append(group[~covered])
        waiting = np.concatenate(waiting) if waiting else np.empty(0, np.int64)
        stale = waiting[~(self._ev_s[waiting] >= now - self.rules.window_s)]
        if len(stale):  # nowhere to put it within the window (its devices barred): set aside
            log.info("%d customers' evidence set aside: no device to predict within the window", len(stale))
            self._ev_s[stale], self._ev_kind[stale] = np.nan, 0
        waiting = np.setdiff1d(waiting, stale)
        self._pending.update(waiting.tolist())  # not enough yet: wait for more within the window
        if len(waiting):
            self._schedule_prediction()
        self._flush()

    def _blocked(self, tree: DeviceTree, now: float) -> np.ndarray:
        blocked = np.zeros(len(tree), bool)
        if self.telemetered is None:
            candidates = np.flatnonzero(tree.switch_row >= 0).tolist()
        else:
            candidates = [n for n in (tree.node(d) for d in self.telemetered) if n >= 0]
        for node in candidates:
            if self.telemetered_closed(str(tree.ids[node])):
                blocked[node] = True
        for d, t in self._verified.items():
            node = tree.node(d)
            if node >= 0 and t >= now - self.rules.window_s:
                blocked[node] = True
        return blocked

    def _predict_at(self, node: int, evidence: np.ndarray, now: float) -> int:
        """Make (or grow, or move up to) the predicted outage at ``node``, holding ``evidence``
        and every customer below it not yet in an outage; returns its record."""
        tree = self.tree
        device = str(tree.ids[node])
        below = [j for d, j in self._active_at.items() if self.records[j].state == OutageState.predicted
                 and tree.node(d) >= 0 and tree.contains(node, tree.node(d))]
        k = self._active_at.get(device)
        if k is None and below:
            k = min(below, key=lambda j: self.records[j].start_s)
            self._relocate(k, device, now)
        elif k is None:
            k = self._new(device, now, OutageState.predicted)
        for j in below:
            if j != k:
                self._merge(j, k, now)
        rec = self.records[k]
        known = self._ev_s[evidence][~np.isnan(self._ev_s[evidence])] if len(evidence) else np.empty(0)
        start = float(known.min()) if len(known) else min(rec.start_s, now)
        everyone = tree.customers_below(node)
        live = self.model.customer_live[everyone]
        if self._also_free is not None:
            live = live | self._also_free[everyone]
        free = everyone[(self.owner[everyone] < 0) & live]
        if len(evidence):  # those who said so are out, whatever the model believes
            free = np.union1d(free, evidence[self.owner[evidence] < 0])
        starts = np.where(np.isnan(self._ev_s[free]), start, np.minimum(self._ev_s[free], start))
        self._reopen_or_add(k, free, starts)
        kinds = self._ev_kind[evidence]
        times = self._ev_s[evidence]
        rec.gasps += int(np.count_nonzero(kinds & _GASP))
        rec.calls += int(np.count_nonzero(kinds & _CALL))
        if self._hazards.intersection(evidence.tolist()):
            rec.hazard = True
        self._said_kind[evidence] |= kinds
        self._said_s[evidence] = np.fmin(self._said_s[evidence], times)
        self._ev_s[evidence], self._ev_kind[evidence] = np.nan, 0
        if len(evidence) or len(free):
            rec.note(now, f"predicted at {device}: {int(np.count_nonzero(kinds & _GASP))} last gasps, "
                          f"{int(np.count_nonzero(kinds & _CALL))} calls, {len(free)} customers more")
        self._touch(k)
        if self.ami is not None and rec.state == OutageState.predicted:
            self._check(k, node, now)
        return k

    # -- AMI checks: see twin.idms.oms.ami_checks ----------------------------------------------------

    def _inside_premise(self, c: int, now: float, why: str) -> None:
        sp = str(self._sp_ids[c])
        rec = OutageRecord(f"IP-{len(self.inside_premise) + 1:06d}", sp, "service", self.model.feeder_of(
            f"service_point.{sp}"), OutageState.inside_premise, now, now, reason=why, calls=1)
        rec.note(now, f"inside premise: {why}")
        self.inside_premise.append(rec)
        if self.store is not None:
            self.store.save_outage(rec)
        if self.calls is not None:
            self.calls.callback(sp, "Our meter shows power reaching your home: please check your main breaker; "
                                    "an electrician can help if it will not reset.")

    # -- crews ------------------------------------------------------------------------------------

    def assign(self, outage_id: str, crew: str) -> None:
        """Record that ``crew`` was sent to the outage (the dispatcher's order)."""
        k = self._by_id[outage_id]
        rec = self.records[k]
        rec.crew, rec.crew_activity = crew, "ordered"
        self._crew_job[crew] = k
        rec.note(self.clock.now(), f"crew {crew} assigned")
        self._update_etr(k, Stage.waiting)
        self._flush()

    def on_crew_status(self, status: CrewStatus) -> None:
        self._crew_status[status.crew] = status

    def on_crew_report(self, report: CrewReport) -> None:
        """What a crew said (after the operations model has taken any device it operated)."""
        now = float(report.time_s)
        k = self._crew_job.get(report.crew)
        if report.kind == ReportKind.operated and report.closed:
            j = self._active_at.get(report.device)
            if j is not None:  # a predicted device the model never believed open
                self._closed_by_crew(j, report, now)
        if k is None or not self.records[k].active:
            if report.kind in (ReportKind.free, ReportKind.refused):
                self._crew_job.pop(report.crew, None)
            self._flush()
            return
        rec = self.records[k]
        rec.crew_activity = report.kind.value
        if report.kind == ReportKind.found:
            rec.cause, rec.line = report.cause or rec.cause, report.line or rec.line
            rec.note(now, f"crew {report.crew} found the fault on {report.line} ({report.cause})" if report.line
                     else f"crew {report.crew} found {report.device} open")
            if report.device and report.device != rec.device:
                k = self._relocate(k, report.device, now)
                rec = self.records[k]
            if rec.state == OutageState.predicted or rec.confirmed_by == "ami":
                rec.state, rec.confirmed_by, rec.confirmed_s = OutageState.confirmed, "crew", now
                if self.tree.node(rec.device) >= 0 and self.tree.kind[self.tree.node(rec.device)] != "transformer":
                    self.model.apply(rec.device, True, Source.crew, now, cause="found open")
        elif report.kind == ReportKind.found_nothing:
            if report.device and report.device != rec.device and report.device in self.tree.index:
                k = self._relocate(k, report.device, now)
                rec = self.records[k]
            if report.line:  # patrolled a section that was out and found no fault left: a temporary one
                rec.cause = rec.cause or "temporary"
                rec.note(now, f"crew {report.crew} patrolled {rec.device}'s section and found no fault")
            elif rec.state == OutageState.predicted or rec.confirmed_by == "ami":
                self._withdraw(k, now, f"crew {report.crew} found power on at {rec.device}", evidence="drop")
            elif rec.confirmed_by == Source.manual.value and self.model.net.switch.get(rec.device) is not None \
                    and self.model.belief(rec.device)[0]:  # a status entered by hand, wrong: the crew saw it
                self._withdraw(k, now, f"crew {report.crew} found {rec.device} closed with power behind it: the "
                                       "status entered by hand was wrong", evidence="drop")
                self.model.apply(rec.device, False, Source.crew, now, cause="found closed")
        elif report.kind in (ReportKind.free, ReportKind.refused):
            self._crew_job.pop(report.crew, None)
            if rec.active and rec.crew == report.crew:
                rec.crew = ""
                rec.note(now, f"crew {report.crew} {report.kind.value}")
        if report.kind in _ETR_STAGE and self.records[k].active:
            self._update_etr(k, _ETR_STAGE[report.kind], report.crew)
        self._touch(k)
        self._flush()

    def _closed_by_crew(self, j: int, report: CrewReport, now: float) -> None:
        """A crew closed the device of record ``j``: its customers the model believes fed are back;
        those an open device above still cuts off go to that device's outage."""
        mine = np.flatnonzero(self.owner == j)
        live = mine[self.model.customer_live[mine]]
        self._restore(j, live, now, f"{report.device} closed by {report.crew}")
        moved_to = ""
        for c in np.setdiff1d(mine, live).tolist():
            k = self._active_at.get(self._open_above(c))
            if k is not None and k != j:
                self._transfer(np.array([c], np.int64), k)
                moved_to = self.records[k].id
        if self.records[j].active and moved_to and not np.count_nonzero(self.owner == j):
            self._close(j, OutageState.cancelled, now, f"its customers are out in {moved_to}, above it")
        self._touch(j)

    def _update_etr(self, k: int, stage: Stage, crew: str = "") -> None:
        rec = self.records[k]
        distance = math.nan
        status = self._crew_status.get(crew or rec.crew)
        if stage == Stage.dispatched and status is not None:
            xy = self.device_xy(rec.device)
            if xy is not None:
                distance = float(np.hypot(status.x_m - xy[0], status.y_m - xy[1]))
        ahead = 0
        if stage == Stage.waiting and self.rules.storm and not rec.crew:  # behind every outage waiting now
            ahead = sum(1 for j in self._active_at.values() if j != k and not self.records[j].crew)
        crews = sum(1 for s in self._crew_status.values() if s.on_duty) or 1
        rec.etr_s = estimate(self.etr, stage, now_s=self.clock.now(), cause=rec.cause, distance_m=distance,
                             ahead=ahead, crews=crews, storm=self.rules.storm)
        self._touch(k)

    def device_xy(self, device: str) -> tuple[float, float] | None:
        """Where a switching device (its from-bus) or a transformer (its primary bus) stands (m,
        the model's coordinates), None for an unknown id."""
        net = self.model.net
        row = net.switch.get(device)
        if row is not None:
            bus = net.switch["from_bus"][row]
        else:
            t = net.transformer.get(device)
            if t is None:
                return None
            bus = net.transformer["bus"][t][0]
        b = net.bus.position(str(bus))
        return float(net.bus["x"][b]), float(net.bus["y"][b])

    # -- records ----------------------------------------------------------------------------------

    def _new(self, device: str, now: float, state: OutageState) -> int:
        """A new record at ``device`` (or the one active there already: never two at one device)."""
        if device in self._active_at:
            return self._active_at[device]
        node = self.tree.node(device)
        kind = str(self.tree.kind[node]) if node >= 0 else "switch"
        rec = OutageRecord(f"OUT-{len(self.records) + 1:06d}", device, kind, self.model.feeder_of(device)
                           if kind != "transformer" else self._feeder_of_transformer(device), state, now, now)
        if state == OutageState.confirmed:
            rec.confirmed_s = now
        k = len(self.records)
        self.records.append(rec)
        self._by_id[rec.id] = k
        self._active_at[device] = k
        self._rows_of[k] = set()
        rec.note(now, f"{state.value} at {device}")
        self._update_etr(k, Stage.waiting)
        return k

    def _close(self, k: int, state: OutageState, now: float, reason: str = "") -> None:
        """Record ``k`` is over (``restored`` or ``cancelled``, with ``reason``): off the outage
        list, its crews' jobs forgotten."""
        rec = self.records[k]
        rec.state = state
        if state == OutageState.restored:
            rec.restored_s = now
        if reason:
            rec.reason = reason
            rec.note(now, reason)
        if self._active_at.get(rec.device) == k:
            del self._active_at[rec.device]
        for crew, job in list(self._crew_job.items()):
            if job == k:
                del self._crew_job[crew]
        self._touch(k)

    def _open_above(self, c: int) -> str:
        """The nearest device above customer ``c`` the model believes open ('' for none)."""
        return next((d for d in self.model.devices_above(f"service_point.{self._sp_ids[c]}")
                     if self.model.belief(d)[0]), "")

    def _feeder_of_transformer(self, device: str) -> str:
        net = self.model.net
        t = net.transformer.get(device)
        return self.model.feeder_of(f"bus.{net.transformer['bus'][t][1]}") if t is not None else ""

    def _relocate(self, k: int, device: str, now: float) -> int:
        """Move record ``k`` to ``device`` (above or below where it was): customers below the new
        device join it. Those not below it leave: where some of them said they were out (a crew
        found the fault on one branch of a recloser predicted from calls on several), they stay
        out in a record of their own at the old device; otherwise they were never out."""
        rec = self.records[k]
        old = rec.device
        if old == device:
            return k
        j = self._active_at.get(device)
        if j is not None and j != k:  # an outage stands there already
            node, was = self.tree.node(device), self.tree.node(old)
            if node >= 0 and was >= 0 and self.tree.contains(was, node) and node != was:
                mine = np.flatnonzero(self.owner == k)  # it is below: only its own customers go to it
                pos = self.tree.position[mine]
                inside = mine[(pos >= self.tree.first[node]) & (pos < self.tree.end[node])]
                self._transfer(inside, j)
                rec.note(now, f"{len(inside)} customers below {device} go to {self.records[j].id} there")
                if not np.count_nonzero(self.owner == k):
                    self._close(k, OutageState.cancelled, now, f"its customers are in {self.records[j].id}")
                return j
            self._merge(k, j, now)
            return j
        self._active_at.pop(old, None)
        self._active_at[device] = k
        node = self.tree.node(device)
        rec.device = device
        rec.device_kind = str(self.tree.kind[node]) if node >= 0 else "switch"
        rec.note(now, f"moved from {old} to {device}")
        if node >= 0:
            mine = np.flatnonzero(self.owner == k)
            pos = self.tree.position[mine]
            outside = mine[(pos < self.tree.first[node]) | (pos >= self.tree.end[node])]
            if len(outside):
                said = outside[self._said_kind[outside] > 0]
                was = self.tree.node(old)
                if len(said) and was >= 0 and self.tree.contains(was, node):
                    # a crew found the fault on one branch of a device predicted from evidence on
                    # several: that device is closed, and the others' evidence is rolled up anew
                    self._verified[old] = now
                    rec.note(now, f"{old} seen closed; {len(outside)} customers not below {device} "
                                  f"({len(said)} of whom said they were out) predicted again")
                    self._reroll(outside, now)
                elif len(said):
                    j = self._new(old, now, OutageState.predicted)
                    self._transfer(outside, j)
                    self.records[j].note(now, f"{len(outside)} customers of {rec.id} left out at {old} when it moved "
                                              f"to {device}: {len(said)} of them said they were out")
                else:  # out until now on its account; the check after a restoration asks their meters
                    self._end_rows(outside, now)
                    self._verify_restoration(outside)
            everyone = self.tree.customers_below(node)
            free = everyone[(self.owner[everyone] < 0) & self.model.customer_live[everyone]]
            self._reopen_or_add(k, free, np.full(len(free), rec.start_s))
        self._touch(k)
        return k

    def _reroll(self, customers: np.ndarray, now: float) -> None:
        """Take ``customers`` out of their outage (their interruptions end now, to be reopened
        by the outage their evidence points to) and roll what they said up the tree again."""
        said = customers[self._said_kind[customers] > 0]
        kinds, times = self._said_kind[said].copy(), self._said_s[said].copy()
        self._end_rows(customers, now)
        self._said_kind[said], self._said_s[said] = 0, np.nan
        for c, kind, time_s in zip(said.tolist(), kinds.tolist(), times.tolist()):
            self._ev_s[c] = time_s if np.isnan(self._ev_s[c]) else min(self._ev_s[c], time_s)
            self._ev_kind[c] |= kind
            self._pinged[c] = True  # they were out on the evidence: no single-premise ping first
            self._pending.add(c)
        self._schedule_prediction(now=True)

    def _merge(self, j: int, k: int, now: float) -> None:
        """Record ``j`` (predicted below ``k``'s device) joins ``k``."""
        if j == k:
            return
        a, b = self.records[j], self.records[k]
        self._transfer(np.flatnonzero(self.owner == j), k)
        b.calls += a.calls
        b.gasps += a.gasps
        b.hazard = b.hazard or a.hazard
        b.start_s = min(b.start_s, a.start_s)
        self._sub.setdefault(k, set()).update(self._sub.pop(j, set()) | {a.device})
        for crew, job in list(self._crew_job.items()):  # its crews now work on the larger outage
            if job == j:
                self._crew_job[crew] = k
                b.crew = b.crew or crew
        b.note(now, f"{a.id} at {a.device} merged in")
        self._close(j, OutageState.cancelled, now, f"merged into {b.id} at {b.device}")
        self._touch(k)

    def _withdraw(self, k: int, now: float, why: str, *, evidence: str = "ping") -> None:
        """Not an outage after all: its customers' rows go (no interruption); the device is barred
        from prediction for the window. What the customers behind it said (``evidence``): ``ping``
        them (with AMI; the silent ones' evidence, with its own time, is rolled up again; without
        AMI it stands), ``keep`` it (rolled up again: the outage is elsewhere), or ``drop`` it (a
        crew saw their power on)."""
        rec = self.records[k]
        mine = np.flatnonzero(self.owner == k)
        spoke = mine[self._said_kind[mine] > 0]
        witness = {c: (int(self._said_kind[c]), float(self._said_s[c])) for c in spoke.tolist()}
        if evidence == "keep" or rec.confirmed_by:  # they were out, on the evidence: the outage is elsewhere
            self._end_rows(mine, now)
        else:  # never out on this record's account
            self._drop(mine)
        self._verified[rec.device] = max(now, self.clock.now())  # (``now`` may be an RTU's late time stamp)
        self._close(k, OutageState.cancelled, now, why)
        if evidence == "drop":  # a crew saw them with power
            self._said_kind[spoke], self._said_s[spoke] = 0, np.nan
            witness = {}
        if witness and self.ami is not None and evidence == "ping":
            cs = np.array(sorted(witness), np.int64)
            self._ping(cs, lambda reply, w=witness: self._witnesses_answered(w, reply))
        else:  # no meters to ask: what they said stands
            for c, (kind, time_s) in witness.items():
                self._ev_s[c] = time_s if np.isnan(self._ev_s[c]) else min(self._ev_s[c], time_s)
                self._ev_kind[c] |= kind
                self._pending.add(c)
            self._schedule_prediction()
        self._touch(k)

    # -- interruption rows ------------------------------------------------------------------------

    def _restore(self, k: int, customers: np.ndarray, now: float, why: str) -> None:
        if not len(customers):
            return
        rec = self.records[k]
        self._end_rows(customers, now)
        self._said_kind[customers], self._said_s[customers] = 0, np.nan
        called = customers[self._has_called[customers]]
        self._has_called[called] = False
        if self.calls is not None:  # those who called are told (and say so if they are not back)
            for sp in self._sp_ids[called].tolist():
                self.calls.callback(str(sp), "Our records show power restored to your address. If you are still "
                                             "without power, please tell us.", restored=True)
        left = int(np.count_nonzero(self.owner == k))
        rec.note(now, f"{len(customers)} customers restored ({why}); {left} still out")
        if not left:
            self._close(k, OutageState.restored, now)
        self._touch(k)

    # -- saving -----------------------------------------------------------------------------------

    def _touch(self, k: int, *, counts: bool = True) -> None:
        """Record ``k`` changed: to be saved and told (``counts``: its customers too, recount them)."""
        (self._dirty if counts else self._dirty_light).add(k)

    def _flush(self) -> None:
        """Bring the changed records' counts up to date, save them and tell the listeners."""
        if not self._dirty and not self._dirty_rows and not self._dirty_light:
            return
        now = self.clock.now()
        for k in sorted(self._dirty):
            rec = self.records[k]
            rows = np.fromiter(self._rows_of[k], np.int64, len(self._rows_of[k]))
            rows = rows[~self.i_deleted[rows]]
            if rec.state == OutageState.confirmed:
                self.i_firm[rows] = True
            rec.customers_interrupted = len(rows)
            end = self.i_end[rows]
            out = self.i_customer[rows[np.isnan(end)]]
            rec.customers_out = len(out)
            rec.critical_out = int(np.count_nonzero(self._critical[out]))
            rec.customer_minutes = float(np.sum(np.where(np.isnan(end), now, end) - self.i_start[rows])) / 60.0
            if len(rows):
                rec.start_s = min(rec.start_s, float(self.i_start[rows].min()))
            if rec.active and not rec.customers_out:  # nobody left in it: it is over
                self._close(k, OutageState.restored if len(rows) else OutageState.cancelled, now,
                            "" if rec.reason else "its customers are back or in other outages" if len(rows)
                            else "no customer in it")
        self._dirty |= self._dirty_light
        self._dirty_light = set()
        if self.store is not None:
            self.store.begin()
            for k in sorted(self._dirty):
                self.store.save_outage(self.records[k])
            dirty_rows = np.array(sorted(self._dirty_rows), np.int64)
            gone = self.i_deleted[dirty_rows]
            live = dirty_rows[~gone]
            ids = [self.records[k].id for k in self.i_outage[live].tolist()]
            self.store.save_interruptions(zip(live.tolist(), ids, self.i_customer[live].tolist(),
                                              self.i_start[live].tolist(), self.i_end[live].tolist()))
            self.store.delete_interruptions(dirty_rows[gone].tolist())
            self.store.commit()
        dirty = sorted(self._dirty)
        self._dirty, self._dirty_rows = set(), set()
        for k in dirty:
            for listener in self._listeners:
                listener(self.records[k])

    # -- a restart --------------------------------------------------------------------------------

    def load(self, stored: Stored) -> None:
        """Take up the records a store kept (after a crash of the IDMS): the outages, who is out
        in which, and their interruption rows, so that nothing is counted twice."""
        for rec in stored.outages:
            if rec.state == OutageState.inside_premise:
                self.inside_premise.append(rec)
                continue
            k = len(self.records)
            self.records.append(rec)
            self._by_id[rec.id] = k
            self._rows_of[k] = set()
            if rec.active:
                self._active_at[rec.device] = k
                if rec.crew:
                    self._crew_job[rec.crew] = k
        if len(stored.interruption_id):
            n = int(stored.interruption_id.max()) + 1
            self._grow(n)
            self._n_rows = n
            self.i_deleted[:n] = True
            self.i_deleted[stored.interruption_id] = False
            for r, o, c, s, e in zip(stored.interruption_id.tolist(), stored.interruption_outage.tolist(),
                                     stored.interruption_customer.tolist(), stored.interruption_start_s.tolist(),
                                     stored.interruption_end_s.tolist()):
                k = self._by_id[o]
                self.i_outage[r], self.i_customer[r], self.i_start[r], self.i_end[r] = k, c, s, e
                self._rows_of[k].add(r)
                if math.isnan(e) and self.records[k].active:
                    self.owner[c], self._row[c] = k, r
