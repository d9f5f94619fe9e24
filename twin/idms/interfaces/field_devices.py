"""The field-device interface: what SCADA reads from and sends to the devices in the field.

Devices are named by id and described once (:class:`DeviceInfo`). Their data points arrive as
:class:`PointValue` (a device, a point name, a value, a :class:`Quality` and the time stamp the
field gave it), by integrity scan (:meth:`FieldDeviceLink.read`) and by exception
(:meth:`FieldDeviceLink.subscribe`: a callback given every change as it is reported). Point names
and values, by device kind:

``status``     ``"open"``/``"closed"`` (switching devices, capacitor banks); an int tap position
               (steps from neutral) on a regulator
``lockout``    bool (breakers, reclosers)
``fault``      bool, a latched fault target (protective devices, fault indicators)
``i_amps``     per-phase tuple (A, B, C; NaN where absent), ``v_volts`` likewise (to neutral)
``p_kw``, ``q_kvar``  floats, summed over the phases
``mode``       ``"auto"``/``"manual"`` (regulator and capacitor controllers)
``remote``     bool: operable from the control room

Controls go select-before-operate, as IEEE 1815 does: :meth:`FieldDeviceLink.select` arms one
control on one device (refused at once if it cannot be done: a local device, comms down, a fuse),
and :meth:`FieldDeviceLink.operate` executes the armed control; the field drops a selection not
operated within :data:`SELECT_TIMEOUT_S`. An executed control is *confirmed* only when the status
it should change is reported (SCADA watches for it; see :mod:`twin.idms.scada`). Actions:
``trip``/``open``, ``close``, ``reset`` on switching devices; ``raise``, ``lower`` on regulators;
``open``, ``close`` on capacitor banks; ``auto``, ``manual`` on controllers; ``reset`` on
communicating fault indicators.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

__all__ = ["ControlReply", "ControlStatus", "DeviceInfo", "FieldDeviceLink", "PointValue", "Quality",
           "SELECT_TIMEOUT_S", "same_value"]

SELECT_TIMEOUT_S = 30.0
"""A selection not operated within this long is dropped by the field."""


class Quality(str, enum.Enum):
    """How far a point's value can be trusted."""

    good = "good"  # reported by a reachable RTU, current
    stale = "stale"  # reachable, but older than the state it describes (analogs awaiting a measurement)
    comms_failed = "comms_failed"  # the RTU does not answer: the last value it reported
    manual = "manual"  # entered by hand (a crew's report, the dispatcher): no telemetry behind it


@dataclass(frozen=True)
class DeviceInfo:
    """A field device as the link knows it: ``id``, ``kind`` (``breaker``, ``recloser``,
    ``sectionaliser``, ``fuse``, ``load_break_switch``, ``disconnect``, ``capacitor``,
    ``regulator``, ``fault_indicator``), ``element`` (the network model's element it is, e.g.
    ``switch.S01-F1-BKR``, ``capacitor.C1``, ``fault_indicator.FI7``), ``remote`` (telemetered and
    controllable) and ``rtu`` (the unit it reports through, '' for none)."""

    id: str
    kind: str
    element: str
    remote: bool
    rtu: str = ""


@dataclass(frozen=True)
class PointValue:
    """One point as the field reports it (see the module docstring for names and values)."""

    device: str
    name: str
    value: Any
    quality: Quality
    time_s: float


class ControlStatus(str, enum.Enum):
    selected = "selected"  # armed, waiting for operate
    executed = "executed"  # carried out by the field (not yet confirmed by a status change)
    refused = "refused"  # the field would not (``reason`` says why)


@dataclass(frozen=True)
class ControlReply:
    """The field's answer to a select or an operate: ``status`` and, when refused, ``reason``
    (``not_remote``, ``unreachable``, ``no_remote_control``, ``at_limit``, ``not_selected``,
    ``unknown_device``, ``unknown_action``...)."""

    device: str
    action: str
    status: ControlStatus
    time_s: float
    reason: str = ""


@runtime_checkable
class FieldDeviceLink(Protocol):
    """SCADA's link to the field devices (virtual in simulation, DNP3 on real equipment)."""

    def devices(self) -> Sequence[DeviceInfo]:
        """Every device the link serves."""

    def read(self, devices: Iterable[str] | None = None) -> list[PointValue]:
        """An integrity scan: every point of the devices (all by default) as the field has them
        now, each with its quality and time stamp."""

    def subscribe(self, callback: Callable[[list[PointValue]], None]) -> None:
        """Report by exception: ``callback(points)`` with the points that changed, as they are
        reported (a status, a flag, a quality going to ``comms_failed`` or back)."""

    def select(self, device: str, action: str) -> ControlReply:
        """Arm ``action`` on ``device`` (select-before-operate, first step)."""

    def operate(self, device: str, action: str) -> ControlReply:
        """Execute the armed ``action`` on ``device`` (refused ``not_selected`` when it was not
        selected, or its selection timed out)."""


def same_value(a: Any, b: Any) -> bool:
    """Whether two point values are the same: equal and of one type, NaN equal to NaN (per-phase
    tuples carry NaN for absent phases)."""
    if isinstance(a, tuple) and isinstance(b, tuple):
        return len(a) == len(b) and all(same_value(x, y) for x, y in zip(a, b))
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return type(a) is type(b) and bool(a == b)
