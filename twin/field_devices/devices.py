"""Virtual field devices: the data points and controls of every switching device, capacitor bank
and regulator of the world, and the remote terminal units (RTUs) that make them reachable.

:class:`FieldDevices` stands beside a :class:`~twin.world.environment.World` and plays the field
equipment a SCADA system talks to. It holds the devices in bulk: one row per device in a few
arrays (switch rows first, in the switch table's order, then capacitors, then regulators), not an
object per device. Each device has data points:

``status``
    ``"open"`` or ``"closed"`` from the grid's truth (``world.grid.switch_open``); a capacitor bank
    ``"closed"`` (in service) or ``"open"`` (``world.grid.cap_closed``); a regulator its tap
    position (an int, steps from neutral, of its transformer's live tap on the regulated winding,
    ``world.grid.tap_pu``).
``mode``
    regulators and capacitor banks with a controller: ``"auto"`` (the controller acts,
    :mod:`twin.world.controls`) or ``"manual"`` (it does not; SCADA drives).
``lockout``
    breakers and reclosers: set on the protection's ``lockout``; cleared when the device closes
    again (a SCADA close or a crew's close: a close *is* the reset, no separate reset is needed).
``fault``
    breakers, reclosers, sectionalisers and fuses: the device carried fault current in its last
    operation sequence (its protection events ``trip``/``clear``, a sectionaliser's ``count`` and
    ``open``); latched like a relay's target until the control ``reset`` or the device's next close.
``i_amps``, ``v_volts``, ``p_kw``, ``q_kvar``
    analogs at terminal 1 of the device (the source side) from ``world.last_result``, the last
    power flow of the energised network: current and line-to-ground voltage per phase (a tuple
    over phases A, B, C, NaN where a phase is absent), active and reactive power summed over the
    phases, flowing into the device there. A capacitor has ``v_volts`` and ``q_kvar`` (its rated
    kvar at the square of its bus's per-unit voltage, negative: it delivers vars). Their time stamp
    is the time of that solve; before any solve they are NaN.
``v_control_volts``
    regulators: the control voltage their controller saw at that solve, on the 120 V base (the
    regulated winding's voltage over the PT ratio, less the line-drop compensation); NaN while
    de-energised.
``remote``
    whether the device can be operated from the control room (the switch table's ``remote``;
    capacitor banks with a controller and regulators are remote: their controller is an RTU).

Reachability. A device is reachable by SCADA when it is remote and its RTU's communications are
up. RTUs: one per substation for the breakers there (breakers that share a source-side bus), one
per remote field device otherwise, each at its device's bus (terminal 1) for the areas of
:meth:`FieldDevices.set_comms`. A device whose RTU is down keeps the values its RTU last reported,
with their old time stamps, quality :attr:`Quality.comms_failed`; when the RTU is back its points
are current again and ``good``. Points of a device without an RTU (not remote) are what a crew
reads at the device, quality :attr:`Quality.manual`. Analogs of a reachable device are
:attr:`Quality.stale` while the world's energisation has changed since the last solve (or before
any solve).

Controls: :meth:`FieldDevices.operate` with ``"trip"``/``"open"``, ``"close"`` and ``"reset"``
(clear the fault flag and lockout) on remote switching devices, through
:meth:`~twin.world.physics.GridState.operate`, each published as an
:attr:`~twin.world.events.EventKind.switch` event ``by="scada"``; ``"raise"`` and ``"lower"``
(one tap step) on regulators, ``"open"`` and ``"close"`` on capacitor banks with a controller,
``"auto"`` and ``"manual"`` on both, through the world's controllers
(:class:`~twin.world.controls.Controls`), published as
:attr:`~twin.world.events.EventKind.tap`, :attr:`~twin.world.events.EventKind.capacitor` and
:attr:`~twin.world.events.EventKind.control_mode` events ``by="scada"``. A controller left in auto
takes back, after its delay, a step it does not agree with. A control that cannot be carried out
raises :class:`ControlRefused` with a :class:`Refusal`: a device that is not remote, not
reachable, a fuse (no remote control), a control the device does not take, a regulator at the end
of its range, a bank still discharging (:data:`~twin.world.controls.DISCHARGE_S`), a de-energised
regulator or bank (its motor or switch has no supply).

>>> from twin.world.environment import World
>>> from twin.world.territory import generate_territory
>>> world = World(generate_territory(300, seed=2), seed=1)
>>> devices = FieldDevices(world)
>>> breaker = str(devices.ids[0])
>>> devices.operate(breaker, "trip")
>>> devices.point(breaker, "status")
Point(device='S01-F1-BKR', name='status', value='open', quality=<Quality.good: 'good'>, time_s=0.0)
>>> devices.operate(f"{breaker[:-3]}FU001", "trip")
Traceback (most recent call last):
...
twin.field_devices.devices.ControlRefused: trip on S01-F1-FU001 refused: no_remote_control
>>> devices.operate("S01-TR1", "raise")  # the substation transformer's tap changer
>>> devices.point("S01-TR1", "status").value, devices.point("S01-TR1", "mode").value
(1, 'auto')
>>> [(e.kind.value, e.data["action"], e.data["by"]) for e in world.events.events[-1:]]
[('tap', 'raise', 'scada')]
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from twin.errors import TwinError
from twin.grid.powerflow.nodes import slot_mask
from twin.grid.schema import SwitchKind
from twin.world.controls import Controls
from twin.world.events import Event, EventKind

if TYPE_CHECKING:
    from twin.world.environment import World

__all__ = ["ControlRefused", "DeviceClass", "FieldDevices", "Point", "Quality", "Refusal"]


class DeviceClass(enum.IntEnum):
    """What a virtual device is: the switch kinds, then capacitor banks and regulators."""

    breaker = int(SwitchKind.breaker)
    recloser = int(SwitchKind.recloser)
    sectionaliser = int(SwitchKind.sectionaliser)
    fuse = int(SwitchKind.fuse)
    load_break_switch = int(SwitchKind.load_break_switch)
    disconnect = int(SwitchKind.disconnect)
    capacitor = 6
    regulator = 7


class Quality(str, enum.Enum):
    """How far a point's value can be trusted."""

    good = "good"  # reported by a reachable RTU, current
    stale = "stale"  # reachable, but the value is older than the state it describes (analogs awaiting a solve)
    comms_failed = "comms_failed"  # the RTU is unreachable: the last value reported, with its old time stamp
    manual = "manual"  # no RTU: read at the device by a crew


class Refusal(str, enum.Enum):
    """Why a control was refused."""

    unknown_device = "unknown_device"
    unknown_action = "unknown_action"
    no_remote_control = "no_remote_control"  # a fuse: nothing to operate remotely
    not_switching = "not_switching"  # a switching control (trip, reset) on a capacitor bank or regulator
    not_applicable = "not_applicable"  # a control this kind of device does not take (raise on a breaker)
    at_limit = "at_limit"  # a regulator already on its highest (raise) or lowest (lower) tap
    discharging = "discharging"  # a capacitor bank switched out less than DISCHARGE_S ago
    de_energised = "de_energised"  # a regulator or bank without voltage: its motor or switch has no supply
    not_remote = "not_remote"  # a local device: only a crew in the field operates it
    unreachable = "unreachable"  # its RTU's communications are down


class ControlRefused(TwinError):
    """A control could not be carried out: ``device``, ``action`` and ``reason`` (a :class:`Refusal`)."""

    def __init__(self, device: str, action: str, reason: Refusal) -> None:
        self.device, self.action, self.reason = device, action, Refusal(reason)
        super().__init__(f"{action} on {device} refused: {self.reason.value}")


@dataclass(frozen=True)
class Point:
    """One data point as read: ``device``, ``name`` (``status``, ``mode``, ``lockout``, ``fault``,
    ``i_amps``, ``v_volts``, ``p_kw``, ``q_kvar``, ``v_control_volts``, ``remote``), ``value``,
    ``quality`` and ``time_s`` (simulated seconds: when the RTU reported it; for analogs, the time
    of their solve)."""

    device: str
    name: str
    value: Any
    quality: Quality
    time_s: float


OPEN_ACTIONS = frozenset({"trip", "open"})
CLOSE_ACTIONS = frozenset({"close"})
SWITCH_ACTIONS = OPEN_ACTIONS | CLOSE_ACTIONS | {"reset"}
MODE_ACTIONS = frozenset({"auto", "manual"})
REGULATOR_ACTIONS = frozenset({"raise", "lower"}) | MODE_ACTIONS
CAPACITOR_ACTIONS = frozenset({"open", "close"}) | MODE_ACTIONS
ACTIONS = SWITCH_ACTIONS | REGULATOR_ACTIONS | CAPACITOR_ACTIONS

_SWITCHING = frozenset(int(k) for k in SwitchKind)
_LOCKOUT = frozenset({int(DeviceClass.breaker), int(DeviceClass.recloser)})
_FLAGGED = frozenset({int(DeviceClass.breaker), int(DeviceClass.recloser), int(DeviceClass.sectionaliser),
                      int(DeviceClass.fuse)})
_FAULT_ACTIONS = frozenset({"trip", "clear", "count", "open"})
_ANALOGS = ("i_amps", "v_volts", "p_kw", "q_kvar")


class FieldDevices:
    """Every breaker, recloser, sectionaliser, fuse, switch, capacitor bank and regulator of the
    world as a virtual device with its points, controls and RTU (see the module docstring).
    ``rng``: the comms stream (kept for the random failures of later issues; nothing is drawn
    yet); ``controls``: the world's regulator and capacitor controllers, by default those attached
    to it (``world.controls``), else attached now."""

    def __init__(self, world: World, *, rng: np.random.Generator | None = None,
                 controls: Controls | None = None) -> None:
        self.world = world
        self.rng = world.streams("comms") if rng is None else rng
        if controls is None:
            controls = getattr(world, "controls", None)
        self.controls = Controls(world) if controls is None else controls
        net = world.grid.net
        sw, cap, reg, tr, bus = net.switch, net.capacitor, net.regulator, net.transformer, net.bus
        n_sw, n_cap, n_reg = len(sw), len(cap), len(reg)
        self.ids = np.concatenate([np.asarray(sw.ids, object), np.asarray(cap.ids, object),
                                   np.asarray(reg.ids, object)])
        self._pos = {str(d): k for k, d in enumerate(self.ids)}
        self.stuck: set[str] = set()  # switching devices whose mechanism will not move: a control leaves them as they are
        self.cls = np.concatenate([np.asarray(sw["kind"], np.int8), np.full(n_cap, DeviceClass.capacitor, np.int8),
                                   np.full(n_reg, DeviceClass.regulator, np.int8)])
        self.row = np.concatenate([np.arange(n_sw), np.arange(n_cap), np.arange(n_reg)])  # in its own table
        self.remote = np.concatenate([np.asarray(sw["remote"], bool), self.controls.cap_control >= 0,
                                      np.ones(n_reg, bool)])
        self._reg_tr = tr.index(reg["transformer"]) if n_reg else np.zeros(0, np.int64)
        self._reg_winding = np.asarray(reg["winding"], np.int64) - 1 if n_reg else np.zeros(0, np.int64)
        reg_bus = np.asarray(tr["bus"])[self._reg_tr, 0] if n_reg else np.zeros(0, object)
        self.bus = np.concatenate([np.asarray(sw["from_bus"], object), np.asarray(cap["bus"], object),
                                   np.asarray(reg_bus, object)])  # terminal 1
        regulated = np.asarray(tr.ids)[self._reg_tr]
        self.element = np.concatenate([np.array([f"switch.{s}" for s in sw.ids], object),
                                       np.array([""] * n_cap, object),
                                       np.array([f"transformer.{t}" for t in regulated], object)])
        at = bus.index(self.bus)
        self._make_rtus(np.asarray(bus["x"], float)[at], np.asarray(bus["y"], float)[at])
        n = len(self.ids)
        # the device's own state, kept from the world's events
        self.lockout = np.zeros(n, bool)
        self.fault = np.zeros(n, bool)
        # what each RTU last reported (frozen while it is down)
        self._status = np.zeros(n, np.int64)  # 1 closed, 0 open; a regulator's tap
        self._mode = np.full(n, -1, np.int8)  # 1 auto, 0 manual, -1 no controller
        self._vc = np.full(n, np.nan)  # a regulator's control voltage
        self._lockout = np.zeros(n, bool)
        self._fault = np.zeros(n, bool)
        self._i = np.full((n, 3), np.nan)
        self._v = np.full((n, 3), np.nan)
        self._p = np.full(n, np.nan)
        self._q = np.full(n, np.nan)
        self._scan_s = np.zeros(n)
        self._event_s = np.full(n, np.nan)  # when the field last saw the device operate (its event time stamp)
        self._analog_s = np.full(n, np.nan)
        self._analog_stale = np.ones(n, bool)
        self._solved_s = world.now if world.last_result is not None else float("nan")
        self._changed_since_solve = world.last_result is None
        self._cache: tuple[object, tuple] | None = None
        self._refresh(np.arange(n), world.now)
        world.events.subscribe(self._on_event)

    # -- RTUs ------------------------------------------------------------------------------------

    def _make_rtus(self, x: np.ndarray, y: np.ndarray) -> None:
        """One RTU per substation bus for its breakers, one per other remote device; -1: no RTU."""
        rtu = np.full(len(self.ids), -1, np.int64)
        names, rx, ry, first = [], [], [], {}
        for k in np.flatnonzero(self.remote):
            key = f"substation:{self.bus[k]}" if self.cls[k] == DeviceClass.breaker else f"device:{self.ids[k]}"
            if key not in first:
                first[key] = len(names)
                names.append(key)
                rx.append(x[k])
                ry.append(y[k])
            rtu[k] = first[key]
        self.rtu = rtu
        self.rtu_names = np.array(names, object)
        self.rtu_x, self.rtu_y = np.array(rx, float), np.array(ry, float)
        self.rtu_up = np.ones(len(names), bool)

    def reachable(self, devices: Iterable[str] | None = None) -> np.ndarray:
        """Whether SCADA reaches each device (all of them by default): remote, its RTU up."""
        k = np.arange(len(self.ids)) if devices is None else self._rows(devices)
        has = self.rtu[k] >= 0
        out = np.zeros(len(k), bool)
        out[has] = self.rtu_up[self.rtu[k][has]]
        return out

    def set_comms(self, where: Iterable[str] | tuple[float, float, float], up: bool,
                  now: float | None = None) -> np.ndarray:
        """Communications of RTUs down or up again: those of the named devices, or those within
        ``(x, y, radius_m)``. An RTU going down reports its points one last time (at ``now``) and
        then stays silent. Returns the RTU rows changed."""
        now = self.world.now if now is None else float(now)
        if isinstance(where, tuple) and len(where) == 3 and all(isinstance(c, (int, float)) for c in where):
            x, y, radius = (float(c) for c in where)
            rtus = np.flatnonzero(np.hypot(self.rtu_x - x, self.rtu_y - y) <= radius)
        else:
            r = self.rtu[self._rows(where)]
            rtus = np.unique(r[r >= 0])
        rtus = rtus[self.rtu_up[rtus] != bool(up)]
        if not up:
            self._refresh(np.flatnonzero(np.isin(self.rtu, rtus)), now)  # the last report before the silence
        self.rtu_up[rtus] = bool(up)
        return rtus

    # -- reading ---------------------------------------------------------------------------------

    def read(self, devices: Iterable[str] | None = None, now: float | None = None) -> list[Point]:
        """The points of the devices (all by default), as SCADA gets them now (see the module
        docstring for the qualities)."""
        now = self.world.now if now is None else float(now)
        k = np.arange(len(self.ids)) if devices is None else self._rows(devices)
        live = self.reachable(self.ids[k]) | (self.rtu[k] < 0)
        self._refresh(k[live], now)
        quality = np.where(self.rtu[k] < 0, Quality.manual.value,
                           np.where(live, Quality.good.value, Quality.comms_failed.value))
        points: list[Point] = []
        for j, q in zip(k, quality):
            points.extend(self._points(int(j), Quality(q)))
        return points

    def points_of(self, device: str, now: float | None = None) -> list[Point]:
        """One device's points."""
        return self.read([device], now)

    def point(self, device: str, name: str, now: float | None = None) -> Point:
        """One point of one device by name (KeyError when the device has no such point)."""
        for p in self.points_of(device, now):
            if p.name == name:
                return p
        raise KeyError(f"{device} has no point {name!r}")

    def _points(self, k: int, quality: Quality) -> list[Point]:
        # a state reported on reconnection carries the time the field saw it change (the RTU's
        # event buffer), not the time it got through
        device, cls = str(self.ids[k]), int(self.cls[k])
        t = float(self._scan_s[k]) if np.isnan(self._event_s[k]) else float(min(self._event_s[k], self._scan_s[k]))
        aq = Quality.stale if quality == Quality.good and self._analog_stale[k] else quality
        ta = float(self._analog_s[k])
        status: Any = int(self._status[k]) if cls == DeviceClass.regulator else \
            ("closed" if self._status[k] else "open")
        out = [Point(device, "status", status, quality, t)]
        if self._mode[k] >= 0:
            out.append(Point(device, "mode", "auto" if self._mode[k] else "manual", quality, t))
        if cls in _LOCKOUT:
            out.append(Point(device, "lockout", bool(self._lockout[k]), quality, t))
        if cls in _FLAGGED:
            out.append(Point(device, "fault", bool(self._fault[k]), quality, t))
        if cls != DeviceClass.capacitor:
            out.append(Point(device, "i_amps", tuple(float(a) for a in self._i[k]), aq, ta))
        out.append(Point(device, "v_volts", tuple(float(v) for v in self._v[k]), aq, ta))
        if cls != DeviceClass.capacitor:
            out.append(Point(device, "p_kw", float(self._p[k]), aq, ta))
        out.append(Point(device, "q_kvar", float(self._q[k]), aq, ta))
        if cls == DeviceClass.regulator:
            out.append(Point(device, "v_control_volts", float(self._vc[k]), aq, ta))
        out.append(Point(device, "remote", bool(self.remote[k]), quality, t))
        return out

    def _refresh(self, k: np.ndarray, now: float) -> None:
        """Rows ``k`` report their present values (the truth) at ``now``."""
        if not len(k):
            return
        grid = self.world.grid
        cls = self.cls[k]
        is_sw = np.isin(cls, list(_SWITCHING))
        is_cap = cls == DeviceClass.capacitor
        is_reg = cls == DeviceClass.regulator
        status = np.zeros(len(k), np.int64)
        status[is_sw] = ~grid.switch_open[self.row[k[is_sw]]]
        status[is_cap] = grid.cap_closed[self.row[k[is_cap]]]
        status[is_reg] = self._taps()[self.row[k[is_reg]]]
        self._status[k] = status
        controls = self.controls
        mode = np.full(len(k), -1, np.int8)
        cc = controls.cap_control[self.row[k[is_cap]]]
        mode[is_cap] = np.where(cc >= 0, np.append(controls.cc_auto, False)[cc], -1)  # -1: a fixed bank
        mode[is_reg] = controls.reg_auto[self.row[k[is_reg]]]
        self._mode[k] = mode
        self._vc[k[is_reg]] = controls.v_control_v[self.row[k[is_reg]]]
        self._lockout[k] = self.lockout[k]
        self._fault[k] = self.fault[k]
        self._scan_s[k] = now
        i, v, p, q = self._analogs()
        self._i[k], self._v[k], self._p[k], self._q[k] = i[k], v[k], p[k], q[k]
        self._analog_s[k] = self._solved_s
        self._analog_stale[k] = self._changed_since_solve

    def _taps(self) -> np.ndarray:
        """Each regulator's tap position now: steps from neutral on its regulated winding."""
        tr = self.world.grid.net.transformer
        if not len(self._reg_tr):
            return np.zeros(0, np.int64)
        t = self._reg_tr
        tap = self.world.grid.tap_pu[t, self._reg_winding]
        step = (np.asarray(tr["tap_max_pu"], float)[t] - np.asarray(tr["tap_min_pu"], float)[t]) / \
            np.maximum(np.asarray(tr["n_taps"], float)[t], 1.0)
        return np.rint((tap - 1.0) / step).astype(np.int64)

    def _analogs(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Every device's analogs from the world's last power flow (made once per result)."""
        result = self.world.last_result
        if self._cache is not None and self._cache[0] is result:
            return self._cache[1]
        n = len(self.ids)
        i, v, p, q = np.full((n, 3), np.nan), np.full((n, 3), np.nan), np.full(n, np.nan), np.full(n, np.nan)
        if result is not None:
            net = self.world.grid.net
            has = np.zeros(n, bool)
            n_sw, regulators = len(net.switch), np.flatnonzero(self.cls == DeviceClass.regulator)
            for table, at, rows in (("switch", np.arange(n_sw), np.arange(n_sw)),
                                    ("transformer", regulators, self._reg_tr)):
                if not len(at):
                    continue
                current, power = result.terminal_phases(table)
                i[at] = np.abs(current[rows])
                p[at], q[at] = power[rows].real / 1e3, power[rows].imag / 1e3
                has[at] = np.isfinite(power[rows])
            present = slot_mask(net.bus["phases"])
            v_bus = np.where(present, np.abs(result.bus_v()), np.nan)
            pu_bus = np.where(present, result.bus_v_pu(), np.nan)
            dev_bus = net.bus.index(self.bus)
            v[:] = v_bus[dev_bus]
            absent = ~present[dev_bus]
            i[absent] = np.nan  # no such phase at the device
            # an open or dead device carries nothing
            idle = (self.element != "") & ~has
            i[idle] = np.where(np.isnan(v[idle]), np.nan, 0.0)
            p[idle], q[idle] = 0.0, 0.0
            cap = np.flatnonzero(self.cls == DeviceClass.capacitor)
            if len(cap):
                c = self.row[cap]
                q_rated = np.asarray(net.capacitor["q_rated_var"], float)[c]
                closed = self.world.grid.cap_closed[c]
                pu = np.nan_to_num(pu_bus[dev_bus[cap]])
                q[cap] = np.where(closed, -(q_rated * pu ** 2).sum(axis=1) / 1e3, 0.0)
        self._cache = (result, (i, v, p, q))
        return i, v, p, q

    # -- controls --------------------------------------------------------------------------------

    def operate(self, device: str, action: str, now: float | None = None) -> None:
        """A SCADA control: on a switching device ``"trip"``/``"open"``, ``"close"`` (which also
        resets a lockout) or ``"reset"`` (the fault flag and lockout); on a regulator ``"raise"``
        or ``"lower"`` (one step); on a capacitor bank ``"open"`` or ``"close"``; on either
        ``"auto"`` or ``"manual"``. Raises :class:`ControlRefused` when it cannot be carried out."""
        now = self.world.now if now is None else float(now)
        k = self._pos.get(device)
        if k is None:
            raise ControlRefused(device, action, Refusal.unknown_device)
        if action not in ACTIONS:
            raise ControlRefused(device, action, Refusal.unknown_action)
        cls = int(self.cls[k])
        if cls == DeviceClass.fuse:
            raise ControlRefused(device, action, Refusal.no_remote_control)
        takes = REGULATOR_ACTIONS if cls == DeviceClass.regulator else \
            CAPACITOR_ACTIONS if cls == DeviceClass.capacitor else SWITCH_ACTIONS
        if action not in takes:
            raise ControlRefused(device, action,
                                 Refusal.not_switching if action in SWITCH_ACTIONS else Refusal.not_applicable)
        if not self.remote[k]:
            raise ControlRefused(device, action, Refusal.not_remote)
        if not self.reachable([device])[0]:
            raise ControlRefused(device, action, Refusal.unreachable)
        if cls in (DeviceClass.regulator, DeviceClass.capacitor):
            self._control(k, action, now)
            return
        if action == "reset":
            self.lockout[k] = self.fault[k] = False
            return
        if device in self.stuck:  # taken, but the mechanism does not move: no status comes to confirm it
            return
        open_ = action in OPEN_ACTIONS
        self.world.grid.operate(now, device, open_=open_, why=f"{action} by SCADA")
        self.world.events.publish(now, EventKind.switch, device=device, action=action, closed=not open_, by="scada")

    def _control(self, k: int, action: str, now: float) -> None:
        """A regulator's or capacitor bank's control, through the world's controllers."""
        controls, device, row = self.controls, str(self.ids[k]), int(self.row[k])
        is_reg = int(self.cls[k]) == DeviceClass.regulator
        if action in MODE_ACTIONS:
            controls.set_mode(device, action == "auto", by="scada", now=now)
            return
        grid = self.world.grid
        if not grid.bus_live(grid.net.bus.position(str(self.bus[k]))):
            raise ControlRefused(device, action, Refusal.de_energised)
        if is_reg:
            if not controls.step(row, 1 if action == "raise" else -1, by="scada", now=now):
                raise ControlRefused(device, action, Refusal.at_limit)
            return
        if action == "close" and not grid.cap_closed[row] and controls.discharging_s(row, now) > 0:
            raise ControlRefused(device, action, Refusal.discharging)
        controls.switch(row, action == "close", by="scada", now=now)  # nothing when it is so already

    # -- the world's events ----------------------------------------------------------------------

    def _on_event(self, event: Event) -> None:
        data = event.data
        if event.kind == EventKind.protection:
            k = self._pos.get(str(data.get("device", "")))
            if k is None:
                return
            self._event_s[k] = event.time_s
            action = data.get("action")
            if action == "lockout":
                self.lockout[k] = True
            if action in _FAULT_ACTIONS and int(self.cls[k]) in _FLAGGED:
                self.fault[k] = True
        elif event.kind == EventKind.switch:
            k = self._pos.get(str(data.get("device", "")))
            if k is not None:
                self._event_s[k] = event.time_s
                if data.get("closed"):
                    self.lockout[k] = self.fault[k] = False  # a close is the reset
        elif event.kind in (EventKind.outage, EventKind.restore, EventKind.tap, EventKind.capacitor):
            self._changed_since_solve = True
        elif event.kind == EventKind.solve and data.get("converged"):
            self._solved_s = event.time_s
            self._changed_since_solve = False

    def _rows(self, devices: Iterable[str]) -> np.ndarray:
        if isinstance(devices, str):
            devices = [devices]
        try:
            return np.array([self._pos[str(d)] for d in devices], np.int64)
        except KeyError as err:
            raise KeyError(f"no field device {err.args[0]!r}") from err
