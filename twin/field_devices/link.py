"""The virtual field-device link: :class:`twin.idms.interfaces.field_devices.FieldDeviceLink` on
the world's virtual devices, what SCADA would get over DNP3 from real RTUs.

:class:`VirtualFieldLink` serves the switching devices, capacitor banks and regulators of a
:class:`~twin.field_devices.devices.FieldDevices` and the indicators of a
:class:`~twin.field_devices.indicators.FaultIndicators`, converting their points to the
interface's :class:`~twin.idms.interfaces.field_devices.PointValue` (names, values and time
stamps as they are; qualities by name).

Telemetered and not. A device with an RTU (a communicating indicator: its own modem) is
``remote=True`` in its :class:`~twin.idms.interfaces.field_devices.DeviceInfo` and reads as its
RTU last reported: ``good`` while reachable, ``comms_failed`` (the last values, old time stamps)
while its RTU is down. A device without one is ``remote=False`` and is *not* telemetry: the link
returns its points with quality ``manual`` as a person in the field last read them, the state
the utility's records hold when the link starts and, after that, whenever a crew operates the
device (a ``switch`` event by a crew) or resets a visual indicator at the pole. A fuse that blows
is not seen until someone looks: that is what the IDMS's outage prediction is for.

Report by exception. The link follows the world's events that change what a device reports
(``switch``, ``protection``, ``tap``, ``capacitor``, ``control_mode``, ``fci``; ``comms``: the
devices whose reachability changed; ``solve``: the analogs of every reachable device;
``outage``/``restore``: the device that opened or closed, whoever did it, and the live/dead
status of communicating indicators), notes the devices
concerned and, once the world has finished the step (a zero-delay SimPy process, so that a trip
is read after the breaker has opened, not as the relay decides), reads them and calls every
subscriber with the points whose value or quality differs from what was last reported (an
integrity scan counts as reported). Analogs report outside a deadband of
:data:`ANALOG_DEADBAND` of their last reported value (at least :data:`ANALOG_DEADBAND_MIN`
in their own units), as RTUs do, so a re-solve that moves every current a little reports nothing.

Select-before-operate. :meth:`VirtualFieldLink.select` refuses at once what the field could not
do (with :class:`~twin.field_devices.devices.Refusal`'s reasons: unknown device or action, a
fuse, a control the kind does not take, a local device, an unreachable RTU) and otherwise arms
the control at the world's time; :meth:`VirtualFieldLink.operate` executes it through
:meth:`FieldDevices.operate` (or the indicator's remote reset) when it is armed with the same
action and not older than :data:`~twin.idms.interfaces.field_devices.SELECT_TIMEOUT_S`, else
refuses ``not_selected``; a refusal of the device itself (a regulator at the end of its range, a
bank still discharging, a de-energised controller) is passed on as the reply's ``reason``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from twin.errors import ModelError
from twin.field_devices.devices import (ACTIONS, CAPACITOR_ACTIONS, REGULATOR_ACTIONS, SWITCH_ACTIONS,
                                        ControlRefused, DeviceClass, FieldDevices, Point, Refusal)
from twin.idms.interfaces.field_devices import (SELECT_TIMEOUT_S, ControlReply, ControlStatus, DeviceInfo,
                                                PointValue, Quality)
from twin.world.events import Event, EventKind

if TYPE_CHECKING:
    from twin.field_devices.indicators import FaultIndicators
    from twin.world.environment import World

__all__ = ["ANALOG_DEADBAND", "ANALOG_DEADBAND_MIN", "VirtualFieldLink"]

ANALOG_DEADBAND = 0.005
"""An analog is reported by exception when it moves more than this share of its last report ..."""
ANALOG_DEADBAND_MIN = 0.1
"""... or, near zero, more than this (A, V, kW, kvar)."""

_DEVICE_EVENTS = (EventKind.switch, EventKind.protection, EventKind.tap, EventKind.capacitor,
                  EventKind.control_mode)


class VirtualFieldLink:
    """The field devices and fault indicators of a world behind the field-device interface (see
    the module docstring)."""

    def __init__(self, world: World, devices: FieldDevices, indicators: FaultIndicators | None = None) -> None:
        self.world, self.field, self.indicators = world, devices, indicators
        net = world.grid.net
        cap_ids = np.asarray(net.capacitor.ids, object)
        info: list[DeviceInfo] = []
        for k, d in enumerate(devices.ids.tolist()):
            cls = DeviceClass(int(devices.cls[k]))
            element = str(devices.element[k]) or f"capacitor.{cap_ids[devices.row[k]]}"
            rtu = int(devices.rtu[k])
            info.append(DeviceInfo(str(d), cls.name, element, rtu >= 0,
                                   str(devices.rtu_names[rtu]) if rtu >= 0 else ""))
        self._field_pos = {str(d): k for k, d in enumerate(devices.ids.tolist())}
        self._fci_pos: dict[str, int] = {}
        if indicators is not None:
            for k, i in enumerate(indicators.ids.tolist()):
                remote = bool(indicators.remote[k])
                info.append(DeviceInfo(str(i), "fault_indicator", f"fault_indicator.{i}", remote,
                                       f"modem:{i}" if remote else ""))
                self._fci_pos[str(i)] = k
        self._info = tuple(info)
        self._order = {d.id: k for k, d in enumerate(info)}
        self._subscribers: list[Callable[[list[PointValue]], None]] = []
        self._armed: dict[str, tuple[str, float]] = {}  # device: (action, when selected)
        self._last: dict[tuple[str, str], tuple[Any, Quality]] = {}  # what was last reported, per point
        self._manual: dict[str, list[PointValue]] = {}  # devices without telemetry: as last read in the field
        local = [d.id for d in info if not d.remote]
        self._read_in_field(local)
        self._reach = devices.reachable().copy()
        self._fci_up = indicators.comms_up.copy() if indicators is not None else np.zeros(0, bool)
        self._dirty: set[str] = set()
        self._seen_in_field: set[str] = set()
        self._all_analogs = False
        self._all_indicators = False
        self._pending = False
        self._remember(self._current([d.id for d in info]))
        world.events.subscribe(self._on_event)

    # -- the interface ---------------------------------------------------------------------------

    def devices(self) -> Sequence[DeviceInfo]:
        """Every device the link serves: the field devices' table order, then the indicators."""
        return self._info

    def read(self, devices: Iterable[str] | None = None) -> list[PointValue]:
        """An integrity scan of the devices (all by default): their points as the field has them now."""
        ids = [d.id for d in self._info] if devices is None else self._known([devices] if isinstance(devices, str)
                                                                            else list(devices))
        points = self._current(ids)
        self._remember(points)
        return points

    def subscribe(self, callback: Callable[[list[PointValue]], None]) -> None:
        """Report by exception: ``callback(points)`` with the points that changed."""
        self._subscribers.append(callback)

    def select(self, device: str, action: str) -> ControlReply:
        """Arm ``action`` on ``device``, or refuse it at once when the field could not do it."""
        now = self.world.now
        reason = self._refusal(device, action)
        if reason is not None:
            return ControlReply(device, action, ControlStatus.refused, now, reason.value)
        self._armed[device] = (action, now)
        return ControlReply(device, action, ControlStatus.selected, now)

    def operate(self, device: str, action: str) -> ControlReply:
        """Execute the armed ``action`` on ``device`` (refused ``not_selected`` when not armed with
        that action or armed more than :data:`SELECT_TIMEOUT_S` ago; the selection is used up)."""
        now = self.world.now
        armed = self._armed.pop(device, None)
        if armed is None or armed[0] != action or now - armed[1] > SELECT_TIMEOUT_S:
            return ControlReply(device, action, ControlStatus.refused, now, "not_selected")
        try:
            if device in self._fci_pos:
                assert self.indicators is not None
                self.indicators.operate(device, action, by="scada")
            else:
                self.field.operate(device, action, now)
        except ControlRefused as err:
            return ControlReply(device, action, ControlStatus.refused, now, err.reason.value)
        return ControlReply(device, action, ControlStatus.executed, now)

    # -- what the field has now ------------------------------------------------------------------

    def _known(self, ids: list[str]) -> list[str]:
        unknown = [d for d in ids if d not in self._order]
        if unknown:
            raise ModelError(f"the field link serves no device {', '.join(map(repr, unknown[:5]))}",
                             component="field device", element=str(unknown[0]),
                             fix="name a device of devices() (a switch, capacitor, regulator or fault indicator id)")
        return ids

    def _current(self, ids: list[str]) -> list[PointValue]:
        """Points of ``ids``, telemetered ones from their RTU, the others as last read in the field."""
        remote = [d for d in ids if self._info[self._order[d]].remote]
        out = self._telemetry(remote)
        for d in ids:
            if d in self._manual:
                out.extend(self._manual[d])
        return out

    def _telemetry(self, ids: list[str]) -> list[PointValue]:
        """What the RTUs report of ``ids`` now (their qualities: good, stale, comms_failed)."""
        field = [d for d in ids if d in self._field_pos]
        fci = [d for d in ids if d in self._fci_pos]
        points: list[Point] = []
        if field:
            points += self.field.read(field)
        if fci and self.indicators is not None:
            points += self.indicators.read(fci)
        return [PointValue(p.device, p.name, p.value, Quality(p.quality.value), p.time_s) for p in points]

    def _read_in_field(self, ids: list[str]) -> None:
        """A person at the devices ``ids`` (without telemetry) reads them: their points, ``manual``."""
        field = [d for d in ids if d in self._field_pos]
        fci = [d for d in ids if d in self._fci_pos]
        points: list[Point] = self.field.read(field) if field else []
        if fci and self.indicators is not None:
            points += self.indicators.read(fci)
        now = self.world.now
        for d in ids:
            self._manual[d] = []
        for p in points:
            self._manual[p.device].append(PointValue(p.device, p.name, p.value, Quality.manual, now))

    def _refusal(self, device: str, action: str) -> Refusal | None:
        """Why the field would refuse ``action`` on ``device`` now (None: it can be tried)."""
        if device in self._fci_pos:
            assert self.indicators is not None
            k = self._fci_pos[device]
            if action != "reset":
                return Refusal.unknown_action
            if not self.indicators.remote[k]:
                return Refusal.not_remote
            return None if self.indicators.comms_up[k] else Refusal.unreachable
        k = self._field_pos.get(device)
        if k is None:
            return Refusal.unknown_device
        if action not in ACTIONS:
            return Refusal.unknown_action
        cls = int(self.field.cls[k])
        if cls == DeviceClass.fuse:
            return Refusal.no_remote_control
        takes = REGULATOR_ACTIONS if cls == DeviceClass.regulator else \
            CAPACITOR_ACTIONS if cls == DeviceClass.capacitor else SWITCH_ACTIONS
        if action not in takes:
            return Refusal.not_switching if action in SWITCH_ACTIONS else Refusal.not_applicable
        if not self.field.remote[k]:
            return Refusal.not_remote
        return None if self.field.reachable([device])[0] else Refusal.unreachable

    # -- report by exception ---------------------------------------------------------------------

    def _on_event(self, event: Event) -> None:
        kind, data = event.kind, event.data
        if kind in _DEVICE_EVENTS:
            device = str(data.get("device", ""))
            if device not in self._order:
                return
            self._dirty.add(device)
            if kind == EventKind.switch and device in self._manual and str(data.get("by", "scada")) != "scada":
                self._seen_in_field.add(device)  # a crew operated it and says so
        elif kind == EventKind.fci:
            fci = str(data.get("fci", ""))
            if fci not in self._order:
                return
            self._dirty.add(fci)
            why = str(data.get("why", ""))
            if fci in self._manual and why.startswith("reset by ") and why != "reset by scada":
                self._seen_in_field.add(fci)
        elif kind == EventKind.solve:
            self._all_analogs = True
        elif kind in (EventKind.outage, EventKind.restore):  # the device that changed energisation, however
            device = str(data.get("device", ""))
            if device in self._order:
                self._dirty.add(device)
            self._all_indicators = bool(self._fci_pos)
        elif kind != EventKind.comms:
            return
        if not self._pending:
            self._pending = True
            self.world.env.process(self.report_changes())

    def report_changes(self):
        """Once the world's step is over: read the devices its events concern, report what changed."""
        yield self.world.env.timeout(0.0)
        self._pending = False
        field, fci = self.field, self.indicators
        dirty = self._dirty
        reach = field.reachable()
        flipped = np.flatnonzero(reach != self._reach)
        if self._all_analogs:
            flipped = np.union1d(flipped, np.flatnonzero(reach))
        dirty.update(field.ids[flipped].tolist())
        self._reach = reach
        if fci is not None and len(fci.ids):
            up = fci.comms_up.copy()
            changed = up != self._fci_up
            if self._all_indicators:
                changed |= fci.remote & up
            dirty.update(fci.ids[changed].tolist())
            self._fci_up = up
        if self._seen_in_field:
            self._read_in_field(sorted(self._seen_in_field))
        self._dirty, self._seen_in_field = set(), set()
        self._all_analogs = self._all_indicators = False
        points = [p for p in self._current(sorted(dirty, key=self._order.__getitem__)) if self._differs(p)]
        if points:
            self._remember(points)
            for callback in self._subscribers:
                callback(points)

    def _remember(self, points: list[PointValue]) -> None:
        for p in points:
            self._last[p.device, p.name] = (p.value, p.quality)

    def _differs(self, p: PointValue) -> bool:
        last = self._last.get((p.device, p.name))
        return last is None or last[1] != p.quality or not _within_deadband(last[0], p.value)


def _within_deadband(old: Any, new: Any) -> bool:
    """Whether a point's new value is the old one (analogs: within the deadband; NaN equals NaN)."""
    if isinstance(old, tuple) and isinstance(new, tuple):
        return len(old) == len(new) and all(_within_deadband(a, b) for a, b in zip(old, new))
    if isinstance(old, float) and isinstance(new, float):
        if math.isnan(old) or math.isnan(new):
            return math.isnan(old) and math.isnan(new)
        return abs(new - old) <= max(ANALOG_DEADBAND * abs(old), ANALOG_DEADBAND_MIN)
    return old == new
