"""The console's desk: the one place where the trainee console meets the IDMS.

The :class:`Desk` carries out :mod:`~twin.idms.console.commands` as the dispatcher's user (SCADA
controls and tags, acknowledgements, crew dispatch) and gives the console a read-only
:class:`Picture` of what the IDMS believes: who has power in the operations model, which areas
the active outages cover, each switching device's believed state, source, SCADA quality and tags,
the alarm list, the outage list, the trouble calls and the crews. It hears every change
(operations model, outage records, alarms, controls and tags, crews, SCADA statuses and quality)
and counts it in :attr:`Desk.version`, so a picture is rebuilt, and the map recoloured, only when
something changed. It never sees the world: only the IDMS and its interfaces.
"""

from __future__ import annotations

import copy
import dataclasses
import math
from collections import deque
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np

from twin.errors import TwinError
from twin.idms.console.commands import (AbortOrder, Acknowledge, CallOut, Close, Command, ConfirmStep, Dispatch,
                                        PlaceTag, RemoveTag, Result, RunOrder, Trip)
from twin.idms.interfaces.call_centre import TroubleCall
from twin.idms.interfaces.field_devices import Quality
from twin.idms.interfaces.workforce import CrewStatus
from twin.idms.oms.records import OutageRecord
from twin.idms.scada.alarms import Alarm
from twin.idms.scada.control import ControlOperation, Outcome, Tag
from twin.idms.scada.points import PointChange, UnknownPoint
from twin.idms.system import DispatchError, Idms

__all__ = ["Desk", "Picture", "QUALITY_CODES"]

QUALITY_CODES = {None: 0, Quality.good: 0, Quality.stale: 1, Quality.comms_failed: 2, Quality.manual: 3}
"""Per-device quality as the map draws it: 0 good (or not telemetered), 1 stale, 2 comms failed, 3 manual."""
CALLS_SHOWN = 300


@dataclass(frozen=True)
class Picture:
    """What the console shows, as the IDMS believes it at ``time_s`` (read-only)."""

    version: int
    time_s: float
    bus_live: np.ndarray  # bool per bus row: believed energised
    area_bus: np.ndarray  # bool per bus row: inside an active outage's area
    switch_open: np.ndarray  # bool per switch row (believed)
    switch_abnormal: np.ndarray  # bool per switch row: not in its normal state
    switch_quality: np.ndarray  # int8 per switch row: QUALITY_CODES
    switch_tagged: np.ndarray  # bool per switch row
    switch_remote: np.ndarray  # bool per switch row: SCADA controls it
    alarms: tuple[Alarm, ...]  # priority, then unacknowledged first, newest first
    outages: tuple[OutageRecord, ...]  # active, in dispatch priority
    calls: tuple[tuple[TroubleCall, str], ...]  # newest first, with the outage each caller is in now
    crews: tuple[CrewStatus, ...]
    tags: tuple[Tag, ...]
    messages: tuple[tuple[float, str], ...]  # the desk's own messages (controls confirmed, refused), newest last


class Desk:
    """The trainee console's link to one :class:`~twin.idms.system.Idms` (see the module docstring);
    ``user`` names the dispatcher in every log (``trainee...`` for a trainee); ``epoch`` is the
    date and time at IDMS clock 0."""

    def __init__(self, idms: Idms, *, user: str = "trainee", epoch: datetime | None = None) -> None:
        self.idms, self.user = idms, user
        self.epoch = epoch
        self.version = 0
        net = idms.net
        self.switch_ids = np.asarray(net.switch.ids, object)
        self._switch_row = {str(s): k for k, s in enumerate(self.switch_ids.tolist())}
        self.normal_open = np.asarray(net.switch["normal_open"], bool)
        self.device_of_switch: dict[str, str] = {}  # switch id -> SCADA device id
        self._refresh_devices()
        self.crews: dict[str, CrewStatus] = {}
        self.crew_since: dict[str, float] = {}  # IDMS s: when each crew took up what it is doing now
        self.messages: deque[tuple[float, str]] = deque(maxlen=50)
        self._picture: Picture | None = None
        self._areas: tuple[object, dict[tuple[str, str], np.ndarray]] = (None, {})  # (base, buses below a device)
        idms.model.subscribe(lambda change: self.changed())
        idms.oms.subscribe(lambda record: self.changed())
        idms.scada.alarms.listeners.append(lambda alarm, listed: self.changed())
        idms.scada.controls.listeners.append(lambda kind, data: self.changed())
        idms.scada.subscribe(self._on_point)
        idms.switching.listeners.append(self._on_order)
        if idms.workforce is not None:
            for status in idms.workforce.crews():
                self.crews[status.crew] = status
                self.crew_since[status.crew] = status.time_s
            idms.workforce.subscribe_status(self._on_crew)

    # -- commands ---------------------------------------------------------------------------------

    def execute(self, command: Command) -> Result:
        """Carry out ``command`` as this desk's user; the result says what was done or why not."""
        result = self._execute(command)
        self.say(result.text)
        self.changed()
        return result

    def _execute(self, command: Command) -> Result:
        scada = self.idms.scada
        if isinstance(command, (Trip, Close)):
            action = "trip" if isinstance(command, Trip) else "close"
            device = self.scada_device(command.device)
            if device is None:
                return Result(False, f"{command.device} is not telemetered: send a crew to operate it")
            op = scada.control(device, action, self.user, on_done=self._control_done)
            if op.outcome is Outcome.failed:
                return Result(False, _control_text(op))
            return Result(True, f"{action} {device}: sent, awaiting confirmation")
        if isinstance(command, PlaceTag):
            device = self.scada_device(command.device) or command.device
            tag = scada.place_tag(device, command.kind, user=self.user, reason=command.reason or "placed at the console")
            return Result(True, f"tag {tag.id} ({tag.kind.value}) placed on {device}")
        if isinstance(command, RemoveTag):
            tag = scada.remove_tag(command.tag_id, user=self.user)
            return Result(True, f"tag {tag.id} removed from {tag.device}")
        if isinstance(command, Acknowledge):
            done = 0
            for alarm_id in command.alarm_ids:
                alarm = next((a for a in scada.alarms.alarms(include_shelved=True) if a.id == alarm_id), None)
                if alarm is not None and not alarm.acknowledged:
                    self.idms.acknowledge(alarm_id, self.user)
                    done += 1
            return Result(done > 0, f"{done} alarm{'s' if done != 1 else ''} acknowledged")
        if isinstance(command, Dispatch):
            if self.idms.workforce is None:
                return Result(False, "no workforce link: crews cannot be dispatched from here")
            status = self.crews.get(command.crew)
            if status is None:
                return Result(False, f"no crew {command.crew}")
            if not status.on_duty:
                return Result(False, f"crew {command.crew} is off duty: call it out first")
            try:
                record = self.idms.dispatch(command.crew, command.outage_id, self.user)
            except DispatchError as err:
                return Result(False, str(err))
            return Result(True, f"crew {command.crew} sent to {record.id} at {record.device}")
        if isinstance(command, CallOut):
            try:
                called = self.idms.call_out(self.user)
            except DispatchError as err:
                return Result(False, str(err))
            if not called:
                return Result(False, "call-out: every crew is on duty already")
            return Result(True, f"{len(called)} crews called out: {', '.join(called[:6])}"
                          + (" ..." if len(called) > 6 else ""))
        if isinstance(command, (RunOrder, ConfirmStep, AbortOrder)):
            desk = self.idms.switching
            try:
                if isinstance(command, RunOrder):
                    order = desk.get(command.order_id)
                    if order.state.value == "draft":
                        desk.approve(order.id, self.user)
                    desk.execute(order.id, self.user)
                    return Result(True, f"{order.id} running: {len(order.steps)} steps")
                if isinstance(command, ConfirmStep):
                    desk.confirm(command.order_id, self.user, command.note)
                    return Result(True, f"{command.order_id}: step confirmed")
                desk.abort(command.order_id, self.user, command.reason)
                return Result(True, f"{command.order_id} aborted")
            except TwinError as err:
                return Result(False, str(err))
        raise TypeError(f"not a console command: {command!r}")

    def proposed_order(self):
        """The newest draft switching order (a FLISR proposal in advisory mode), or None."""
        drafts = [o for o in self.idms.switching.orders.values() if o.state.value == "draft"]
        return drafts[-1] if drafts else None

    def _on_order(self, order) -> None:
        if order.purpose == "flisr" and order.state.value == "draft" and len(order.history) == 1:
            steps = "; ".join(s.text().split(": ", 1)[-1] for s in order.steps)
            self.say(f"FLISR proposes {order.id}: {steps} (F to approve and run)")
        self.changed()

    def _control_done(self, op: ControlOperation) -> None:
        self.say(_control_text(op))
        self.changed()

    def say(self, text: str) -> None:
        self.messages.append((self.idms.clock.now(), text))

    # -- what the console shows -------------------------------------------------------------------

    def picture(self) -> Picture:
        """The picture now (the same object while nothing has changed)."""
        now = self.idms.clock.now()
        if self._picture is not None and self._picture.version == self.version:
            if self._picture.time_s != now:
                self._picture = dataclasses.replace(self._picture, time_s=now)
            return self._picture
        idms = self.idms
        model, scada = idms.model, idms.scada
        open_ = model.open.copy()
        tagged = np.zeros(len(open_), bool)
        quality, remote = self._device_states()
        tags = tuple(scada.controls.tags())
        for tag in tags:
            row = self._row_of_device(tag.device)
            if row is not None:
                tagged[row] = True
        outages = tuple(_without_history(r) for r in idms.oms.outages())
        alarms = tuple(sorted((copy.copy(a) for a in scada.alarms.alarms()),
                              key=lambda a: (a.priority, a.acknowledged, -a.raised_s)))
        calls = tuple((c, idms.oms.outage_of(c.service_point)) for c in reversed(idms.oms.trouble_calls[-CALLS_SHOWN:]))
        self._picture = Picture(
            version=self.version, time_s=now, bus_live=model.energised_buses(),
            area_bus=self.area_buses(outages), switch_open=open_, switch_abnormal=open_ != self.normal_open,
            switch_quality=quality, switch_tagged=tagged, switch_remote=remote, alarms=alarms, outages=outages,
            calls=calls, crews=tuple(sorted(self.crews.values(), key=lambda s: s.crew)), tags=tags,
            messages=tuple(self.messages))
        return self._picture

    def area_buses(self, outages: tuple[OutageRecord, ...]) -> np.ndarray:
        """Bool per bus row: below the device of one of ``outages`` in the believed configuration."""
        base = self.idms.model.base
        net = self.idms.net
        if self._areas[0] is not base:  # the model re-based: the subtrees are its new ones
            self._areas = (base, {})
        cache = self._areas[1]
        area = np.zeros(len(net.bus), bool)
        for rec in outages:
            key = (rec.device_kind, rec.device)
            rows = cache.get(key)
            if rows is None:
                parts = [base.order[int(base.tin[b]):int(base.tin[b]) + int(base.size[b])]
                         for b in self._buses_below(rec, base, net) if base.tin[b] >= 0]
                rows = cache[key] = np.concatenate(parts) if parts else np.zeros(0, np.int64)
            area[rows] = True
        return area

    def _device_states(self) -> tuple[np.ndarray, np.ndarray]:
        """Per switch row: SCADA's quality code and whether it is remotely controlled."""
        scada = self.idms.scada
        quality = np.zeros(len(self.switch_ids), np.int8)
        remote = np.zeros(len(self.switch_ids), bool)
        for switch, device in self.device_of_switch.items():
            row = self._switch_row[switch]
            info = scada.devices[device]
            if info.remote or info.rtu:  # a status-only device's manual entries are its normal state
                quality[row] = QUALITY_CODES.get(self._quality(device), 0)
            remote[row] = info.remote
        return quality, remote

    def hhmm(self, time_s: float) -> str:
        """The simulated time's hour and minute on the console's clock (``HH:MM``)."""
        day_s = 0.0 if self.epoch is None else self.epoch.hour * 3600.0 + self.epoch.minute * 60.0 + self.epoch.second
        m = int((day_s + time_s) // 60.0)
        return f"{m // 60 % 24:02d}:{m % 60:02d}" if self.epoch is not None else f"{m // 60:02d}:{m % 60:02d}"

    @staticmethod
    def _buses_below(rec: OutageRecord, base, net) -> list[int]:
        """The bus(es) just below an outage's device in ``base``."""
        if rec.device_kind == "service":
            row = net.service_point.get(rec.device)
            return [] if row is None else [int(net.bus.position(net.service_point["bus"][row]))]
        table = "transformer" if rec.device_kind == "transformer" else "switch"
        if net.table(table).get(rec.device) is None:
            return []
        out = []
        for e in base.edges_of(f"{table}.{rec.device}").tolist():
            if e < 0:
                continue
            e = int(base.bundle_of[e])
            a, b = int(base.edge_from[e]), int(base.edge_to[e])
            child = b if base.parent_edge[b] == e else a if base.parent_edge[a] == e else -1
            if child >= 0:
                out.append(child)
        return out

    def clock_text(self, time_s: float) -> str:
        """The simulated time as the console's clock shows it."""
        if self.epoch is None:
            h, rem = divmod(int(time_s), 3600)
            return f"T+{h:02d}:{rem // 60:02d}:{rem % 60:02d}"
        return (self.epoch + timedelta(seconds=time_s)).strftime("%a %d %b %Y %H:%M:%S")

    def etr_text(self, record: OutageRecord) -> str:
        if math.isnan(record.etr_s):
            return ""
        if self.epoch is None:
            return f"+{(record.etr_s - self.idms.clock.now()) / 60.0:.0f} min"
        return (self.epoch + timedelta(seconds=record.etr_s)).strftime("%H:%M")

    def device_lines(self, switch: str) -> list[str]:
        """What the device dialog says about a switching device: belief, SCADA, tags, customers."""
        idms = self.idms
        open_, source, since = idms.model.belief(switch)
        row = self._switch_row[switch]
        state = "open" if open_ else "closed"
        normal = "normally open" if self.normal_open[row] else "normally closed"
        when = "" if not np.isfinite(since) else f" at {self.clock_text(since)}"
        lines = [f"{state} ({normal}), from {source.value}{when}"]
        device = self.scada_device(switch)
        if device is None:
            lines.append("not telemetered: a crew operates it")
        else:
            info = idms.scada.devices[device]
            quality = self._quality(device)
            lines.append(f"SCADA {device}: {'remote control' if info.remote else 'status only'}, "
                         f"data {quality.value.replace('_', ' ') if quality else 'none'}")
            amps = idms.scada.points.value(device, "i_amps")
            amps = None if amps is None else np.atleast_1d(np.asarray(amps, float))
            if amps is not None and np.isfinite(amps).any():
                lines.append("current " + "/".join("-" if np.isnan(a) else f"{a:.0f}" for a in amps) + " A")
        for tag in idms.scada.controls.tags(device or switch):
            lines.append(f"TAG {tag.id} {tag.kind.value} by {tag.user}: {tag.reason}")
        below = idms.model.customers_below(switch)
        out = int(np.count_nonzero(~idms.model.energised(below))) if len(below) else 0
        lines.append(f"{len(below):,} customers below, {out:,} believed out")
        return lines

    def nearest_crew(self, outage: OutageRecord) -> str:
        """The nearest crew on duty and free (a troubleshooter first), '' when none."""
        xy = self.idms.oms.device_xy(outage.device)
        best, best_d = "", math.inf
        for skill_first in (True, False):
            for s in self.crews.values():
                if not s.on_duty or s.busy or s.activity.value != "available":
                    continue
                if skill_first and s.skill.value != "troubleshooter":
                    continue
                d = 0.0 if xy is None else math.hypot(s.x_m - xy[0], s.y_m - xy[1])
                if d < best_d:
                    best, best_d = s.crew, d
            if best:
                return best
        return best

    # -- look-ups ---------------------------------------------------------------------------------

    def scada_device(self, switch_or_device: str) -> str | None:
        """The SCADA device id of a switch (or a SCADA device id itself); None if SCADA does not
        see it."""
        if switch_or_device in self.idms.scada.devices:
            return switch_or_device
        return self.device_of_switch.get(switch_or_device)

    def _row_of_device(self, device: str) -> int | None:
        info = self.idms.scada.devices.get(device)
        name = info.element.split(".", 1)[1] if info is not None and info.element.startswith("switch.") else device
        return self._switch_row.get(name)

    def _quality(self, device: str) -> Quality | None:
        try:
            return self.idms.scada.points.get(device, "status").quality
        except UnknownPoint:
            return None

    def _refresh_devices(self) -> None:
        self.device_of_switch = {d.element.split(".", 1)[1]: d.id for d in self.idms.scada.devices.values()
                                 if d.element.startswith("switch.")}

    # -- changes ----------------------------------------------------------------------------------

    def changed(self) -> None:
        """Something the picture shows has changed: it is made again at the next draw."""
        self.version += 1

    def _on_point(self, change: PointChange, commanded: bool) -> None:
        if change.name == "status" or change.quality != change.old_quality:
            if not self.device_of_switch:
                self._refresh_devices()
            self.changed()

    def _on_crew(self, status: CrewStatus) -> None:
        last = self.crews.get(status.crew)
        if last is None or (last.activity, last.on_duty, last.device) != (status.activity, status.on_duty, status.device):
            self.crew_since[status.crew] = status.time_s
        self.crews[status.crew] = status
        self.changed()


def _without_history(record: OutageRecord) -> OutageRecord:
    """A copy of an outage record as it is now, without its (long) history."""
    snap = copy.copy(record)
    snap.history = []
    return snap


def _control_text(op: ControlOperation) -> str:
    if op.outcome is Outcome.confirmed:
        return f"{op.action} {op.device}: confirmed"
    if op.outcome is Outcome.pending:
        return f"{op.action} {op.device}: awaiting confirmation"
    why = op.reason.value.replace("_", " ") if op.reason else "failed"
    extra = f" ({op.field_reason})" if op.field_reason else ""
    if op.tags:
        extra += " by " + ", ".join(f"{t.kind.value} tag {t.id} ({t.user}: {t.reason})" for t in op.tags)
    return f"{op.action} {op.device} refused: {why}{extra}"
