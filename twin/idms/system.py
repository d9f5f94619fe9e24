"""The IDMS assembled: SCADA, the network operations model and outage management on the four
interfaces and a clock, with the outage store that outlives a crash.

:class:`Idms` wires the parts the way a control room's systems are wired:

* SCADA's telemetered statuses of switching devices (good quality) become the operations
  model's beliefs (source ``scada``; an uncommanded open is ``protective``, the result of a SCADA
  control ``commanded``);
* a crew's report of a device operated becomes a belief (source ``crew``), then goes to outage
  management with every other report;
* outage management hears the model's changes, the AMI head-end and the call centre, and never
  predicts a device SCADA shows closed;
* every control SCADA sends, and every crew sent to switch, is first checked by the switching desk
  (:class:`~twin.idms.switching.desk.SwitchingDesk`: clearances, known faults); crews' found
  faults are known faults there until repaired;
* the alarm list and the outage records are kept in the :class:`~twin.idms.oms.store.OutageStore`
  (SQLite, WAL): :meth:`Idms.start` on a store that holds records takes them up again (a restart
  after a crash), acknowledgements included.

>>> idms = Idms(net, clock, field=link, ami=head_end, calls=centre, workforce=crews,   # doctest: +SKIP
...             store="recordings/oms.sqlite")
>>> idms.start()                                                                       # doctest: +SKIP
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Callable

from twin.errors import TwinError
from twin.grid.network import Network
from twin.idms.interfaces.ami import AmiHeadEnd
from twin.idms.interfaces.call_centre import CallCentre
from twin.idms.interfaces.clock import Clock
from twin.idms.interfaces.field_devices import FieldDeviceLink, Quality
from twin.idms.interfaces.workforce import CrewReport, ReportKind, Workforce
from twin.idms.oms.etr import EtrParameters
from twin.idms.oms.manager import OutageManager
from twin.idms.oms.records import OutageRecord
from twin.idms.oms.rules import RuleSet
from twin.idms.oms.store import OutageStore
from twin.idms.operations_model import OperationsModel, Source
from twin.idms.scada.alarms import Alarm
from twin.idms.scada.points import PointChange, UnknownPoint
from twin.idms.scada.scada import Scada
from twin.idms.switching.desk import SwitchingDesk
from twin.idms.switching.store import SwitchingStore

__all__ = ["DispatchError", "Idms"]

log = logging.getLogger(__name__)


class DispatchError(TwinError):
    """A crew cannot be sent as asked (says why)."""


class Idms:
    """SCADA, the operations model and outage management on one set of interfaces (see the
    module docstring). ``store``: the outage store's file (None: in memory, lost at exit)."""

    def __init__(self, net: Network, clock: Clock, *, field: FieldDeviceLink, ami: AmiHeadEnd | None = None,
                 calls: CallCentre | None = None, workforce: Workforce | None = None,
                 store: str | Path | None = None, rules: RuleSet | str = "normal",
                 etr: EtrParameters = EtrParameters(), integrity_period_s: float = 600.0) -> None:
        self.net, self.clock = net, clock
        self.workforce = workforce
        self.scada = Scada(field, clock, integrity_period_s=integrity_period_s)
        self.model = OperationsModel(net)
        self.store = OutageStore(":memory:" if store is None else store)
        self.oms = OutageManager(self.model, clock, ami=ami, calls=calls, store=self.store, rules=rules, etr=etr,
                                 telemetered_closed=self.telemetered_closed,
                                 last_known_closed=self.last_known_closed)
        self._switch_of: dict[str, str] = {}
        self._device_of: dict[str, str] = {}
        self.switching = SwitchingDesk(net, self.model, self.scada, clock, SwitchingStore(self.store),
                                       workforce=workforce, device_of=lambda s: self._device_of.get(s, s))
        """Switching orders, clearances and the check every operation goes through."""
        self.scada.controls.guards.append(self._guard)
        self.switching.actions.append(lambda kind, data: self._tell(kind, data))
        self.scada.subscribe(self._on_point)
        self.scada.alarms.listeners.append(self._on_alarm)
        if workforce is not None:
            workforce.subscribe(self._on_crew_report)
            workforce.subscribe_status(self.oms.on_crew_status)
            for status in workforce.crews():
                self.oms.on_crew_status(status)
        self.restarted = False
        self.actions: list[Callable[[str, dict[str, Any]], None]] = []
        """Called ``listener(kind, data)`` for each action a user takes outside SCADA's controls
        (``acknowledge``: alarm, user; ``dispatch``: crew, outage, device, line, user; ``call_out``:
        crews, user; ``switch``: crew, device, open, user; the switching desk's ``order_*`` and
        ``clearance_new``): who did what, for a recording (SCADA's controls and tags tell their own
        listeners)."""

    def start(self) -> None:
        """Take up what the store holds (a restart), then start SCADA (its first integrity scan
        brings the model's beliefs up to the field)."""
        stored = self.store.load()
        self.switching.restore()
        if stored.outages or stored.alarms:
            self.restarted = True
            self.oms.load(stored)
            self.scada.alarms.restore(stored.alarms)
            log.warning("IDMS restarted from its store: %d outage records, %d alarms taken up",
                        len(stored.outages), len(stored.alarms))
        self.scada.start()
        self._switch_of = {d.id: d.element.split(".", 1)[1] for d in self.scada.devices.values()
                           if d.element.startswith("switch.")}
        self._device_of = {s: d for d, s in self._switch_of.items()}
        self.oms.telemetered = {d.id for d in self.scada.devices.values() if d.remote and d.id in self._switch_of}
        for device, switch in self._switch_of.items():  # the statuses the first scan found
            point = self.scada.points.value(device, "status")
            quality = self._quality(device)
            if point in ("open", "closed") and quality == Quality.good:
                self.model.apply(switch, point == "open", Source.scada, self.clock.now(), cause="scan")

    def acknowledge(self, alarm_id: str, user: str) -> Alarm:
        """Acknowledge a SCADA alarm as ``user``."""
        alarm = self.scada.acknowledge(alarm_id, user)
        self._tell("acknowledge", {"alarm": alarm_id, "user": user})
        return alarm

    def dispatch(self, crew: str, outage_id: str, user: str) -> OutageRecord:
        """Send ``crew`` to the active outage ``outage_id`` as ``user``: outage management records
        the assignment and the workforce link gives the crew its order."""
        if self.workforce is None:
            raise DispatchError("no workforce link: crews cannot be dispatched from this IDMS")
        record = next((r for r in self.oms.outages() if r.id == outage_id), None)
        if record is None:
            raise DispatchError(f"outage {outage_id} is no longer active: choose one from the outage list")
        self.oms.assign(record.id, crew)
        self.workforce.send_to_outage(crew, record.device, record.line)
        self._tell("dispatch", {"crew": crew, "outage": record.id, "device": record.device, "line": record.line,
                                "user": user})
        return record

    def call_out(self, user: str) -> list[str]:
        """Call every crew off duty in, as ``user``; returns the crews called."""
        if self.workforce is None:
            raise DispatchError("no workforce link: crews cannot be called out from this IDMS")
        called = self.workforce.call_out()
        self._tell("call_out", {"crews": list(called), "user": user})
        return called

    def switch_by_crew(self, crew: str, device: str, open_: bool, user: str) -> None:
        """Send ``crew`` to open (``open_``) or close switch ``device`` as ``user``, once the
        device's tags and the switching desk's check allow it (:class:`DispatchError` says why not)."""
        tags = self.scada.controls.tags(self._device_of.get(device, device))
        if tags:
            raise DispatchError(f"{device} is tagged ({tags[0].kind.value} by {tags[0].user}: {tags[0].reason})")
        why = self.switching.refusal(device, open_, user)
        if why:
            raise DispatchError(why)
        if self.workforce is None:
            raise DispatchError("no workforce link: crews cannot be sent to switch from this IDMS")
        self.workforce.switch(crew, device, open_)
        self._tell("switch", {"crew": crew, "device": device, "open": bool(open_), "user": user})

    def _guard(self, device: str, action: str, user: str) -> str | None:
        """SCADA's controls ask the switching desk first (clearances, known faults)."""
        switch = self._switch_of.get(device)
        if switch is None or action not in ("open", "trip", "close"):
            return None
        return self.switching.refusal(switch, action != "close", user)

    def _tell(self, kind: str, data: dict[str, Any]) -> None:
        for listener in self.actions:
            listener(kind, data)

    def telemetered_closed(self, device: str) -> bool:
        """Whether SCADA shows ``device`` closed with good quality (it cannot be out, whatever
        the calls say)."""
        return self.scada.points.value(device, "status") == "closed" and self._quality(device) == Quality.good

    def last_known_closed(self, device: str) -> bool:
        """Whether the last status SCADA had from ``device`` before its communications failed was
        closed (no lockout reported)."""
        return self._quality(device) == Quality.comms_failed and \
            self.scada.points.value(device, "status") == "closed" and not self.scada.points.value(device, "lockout")

    def _quality(self, device: str) -> Quality | None:
        try:
            return self.scada.points.get(device, "status").quality
        except UnknownPoint:  # a device SCADA does not see
            return None

    def _on_point(self, change: PointChange, commanded: bool) -> None:
        if change.name != "status" or change.value not in ("open", "closed") or change.quality != Quality.good:
            return
        switch = self._switch_of.get(change.device)
        if switch is None or not change.value_changed:
            return
        self.model.apply(switch, change.value == "open", Source.scada, change.time_s,
                         cause="commanded" if commanded else "protective")

    def _on_crew_report(self, report: CrewReport) -> None:
        if report.kind == ReportKind.found and report.line and self.net.line.get(report.line) is not None:
            self.switching.add_fault(f"line:{report.line}", self.switching.fault_of_line(report.line))
        elif report.kind == ReportKind.repaired and report.line:
            self.switching.clear_fault(f"line:{report.line}")
        if report.kind == ReportKind.operated and report.closed is not None \
                and self.net.switch.get(report.device) is not None:
            self.model.apply(report.device, not report.closed, Source.crew, report.time_s, cause="crew")
        self.oms.on_crew_report(report)

    def _on_alarm(self, alarm: Alarm, listed: bool) -> None:
        if listed:
            self.store.save_alarm(alarm.record())
        else:
            self.store.delete_alarm(alarm.id)
        self.store.commit()
