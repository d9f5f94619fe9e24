"""Regulators and capacitor banks in the world: their controllers, in simulated time.

:class:`Controls` is every regulator's and switched capacitor bank's controller at once (arrays,
one row per ``regulator`` and per ``cap_control`` row of the model, not an object or a process per
device). The taps and bank states they move are the grid's truth,
:attr:`GridState.tap_pu <twin.world.physics.GridState>` (per transformer row and winding) and
:attr:`GridState.cap_closed <twin.world.physics.GridState>` (per capacitor row); each change sets
``grid.changed_s``, is published (:attr:`~twin.world.events.EventKind.tap`,
:attr:`~twin.world.events.EventKind.capacitor`) and asks the world to re-solve.

The controllers see the network through the world's solves. After each converged solve
(:attr:`~twin.world.events.EventKind.solve`) every energised controller samples it, as the
static control loop of the power flow does (:class:`twin.grid.powerflow.control.ControlSampler`:
the same control voltage, line-drop compensation, band, PT and CT ratios, and capacitor control
settings: voltage, kvar, current, power factor with its voltage override):

* a **regulator** whose control voltage (120 V base) is outside ``v_set_v +- band_v / 2`` by at
  least half a tap step (``(tap_max_pu - tap_min_pu) / n_taps``) starts its timer, ``delay_s``
  (the model's; the territory's LTCs 30 s, its line regulators 45 s). When it runs out the
  regulator moves one step towards the set point (none past ``tap_min_pu``/``tap_max_pu``) and
  the world re-solves; a solve that finds it back inside the band before then cancels the timer,
  one that finds it outside the other way starts it again. A further step waits for the solve
  after the first and a new full delay (the model has no separate inter-step delay);
* a **capacitor control** that wants its bank closed (opened) starts ``delay_s``
  (``delay_off_s``); a solve on which it no longer does cancels it. A *time* control closes its
  bank from ``on_value`` to ``off_value`` hours of the world's calendar
  (:func:`~twin.grid.powerflow.control.time_of_day_closed`), its timer starting at those hours.
  A bank switched out stays out at least :data:`DISCHARGE_S` before it closes again.

When a timer runs out and the network has changed since the solve it rests on (another
controller has just acted), the world solves first (:meth:`World.power_flow
<twin.world.environment.World.power_flow>`) and the controller acts only if that solve still
shows the same excursion: as a real controller that measures all the time, it does not act on a
voltage another unit has already corrected. Timers ending at the same instant act together.

De-energised devices do nothing: a regulator without voltage keeps its tap (many real controls
run back to neutral when their supply returns; these do not) and its timer is cancelled; a bank
keeps its state. A controller in ``manual`` (the model's ``enabled`` False, or SCADA's
:meth:`Controls.set_mode`) does nothing itself; SCADA drives it
(:mod:`twin.field_devices.devices`). A controller in ``auto`` takes back a SCADA step it does
not agree with, after its delay.

Events: ``tap`` (``device`` the regulator, ``action`` raise or lower, ``tap`` the new position in
steps from neutral, ``tap_pu``, ``by`` 'control' or 'scada', ``v_control_v`` the control voltage
at the last solve sampled, before the step), ``capacitor`` (``device`` the bank, ``action`` open or
close, ``closed``, ``by``) and ``control_mode`` (``device``, ``mode`` auto or manual, ``by``).

Sampling reads the world's solution only at the controllers: the complex bus voltages
(``Solution.bus_v``) at the buses of the regulating transformers and of the elements the
capacitor controls monitor, and the currents of those elements from their own admittance
primitives (:mod:`twin.grid.powerflow.ybus`) over a small network of them alone; no result table
is made.

>>> from twin.world.environment import World
>>> from twin.world.territory import generate_territory
>>> world = World(generate_territory(2000, seed=3), seed=1)
>>> controls = Controls(world)
>>> world.request_resolve()  # the first solve at 60 s: the LTC is low, its 30 s timer starts
>>> world.run_to(600.0)
>>> [(e.time_s, e.data["device"], e.data["action"], e.data["tap"]) for e in world.events.of(EventKind.tap)]
[(90.0, 'S01-TR1', 'raise', 1), (180.0, 'S01-TR1', 'raise', 2)]
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import scipy.sparse as sp

from twin.grid.network import Network
from twin.grid.powerflow.control import ControlSampler, time_of_day_closed
from twin.grid.powerflow.nodes import NodeIndex, index_nodes
from twin.grid.powerflow.transformers import transformer_entries
from twin.grid.powerflow.ybus import Flows, assemble, line_entries, switch_entries
from twin.grid.schema import CapControlKind
from twin.world.events import Event, EventKind

if TYPE_CHECKING:
    from twin.world.environment import World

__all__ = ["DISCHARGE_S", "Controls"]

DISCHARGE_S = 300.0
"""A capacitor bank switched out stays out this long (s) before it may close again: its units'
discharge resistors take the residual voltage down to 50 V within 5 minutes (IEEE Std 18), and
closing onto a charged bank doubles the inrush."""

_NOTHING, _OPEN, _CLOSE = -1, 0, 1  # what a capacitor control wants


@dataclass(frozen=True)
class _Probe:
    """The monitored elements alone (regulating transformers, the capacitor controls' monitored
    lines, switches and transformers) with their buses, every switch closed: what the sampling
    reads. Stands in for a prepared network in :class:`~twin.grid.powerflow.control.ControlSampler`
    (``net``, ``nodes``, ``flows``); ``bus_rows`` are its buses' rows in the model, ``xf_rows``
    and ``sw_rows`` its transformers' and switches', ``extra`` solves internal neutral nodes from
    the bus nodes. Its layout does not change with the taps: only its transformers' flow values do."""

    net: Network
    nodes: NodeIndex
    flows: Flows
    fixed: Flows  # the lines' and switches' part of ``flows`` (the transformers' follows)
    flow_matrix: sp.csr_matrix
    bus_rows: np.ndarray
    xf_rows: np.ndarray
    sw_rows: np.ndarray
    extra: np.ndarray | None  # (n_extra, n_bus_nodes): v_extra = extra @ v_bus

    def node_voltages(self, bus_v: np.ndarray) -> np.ndarray:
        """Node volts of the probe from the model's complex bus voltages (rows, slots)."""
        nodes = self.nodes
        v = np.nan_to_num(bus_v[self.bus_rows[nodes.bus], nodes.slot])
        return v if self.extra is None else np.concatenate([v, self.extra @ v])

    def currents(self, v_node: np.ndarray, switch_open: np.ndarray) -> np.ndarray:
        """Current into each conductor end (A); an open switch (``switch_open`` of the model)
        carries none."""
        i_end = self.flow_matrix @ v_node
        f = self.flows
        on_switch = f.table == "switch"
        if on_switch.any():
            i_end[on_switch] = np.where(switch_open[self.sw_rows[f.element[on_switch]]], 0.0, i_end[on_switch])
        return i_end


class Controls:
    """The controllers of every regulator and capacitor control of a world (see the module
    docstring). Attaches itself as ``world.controls``; one per world."""

    def __init__(self, world: World) -> None:
        if getattr(world, "controls", None) is not None:
            raise ValueError("this world has its controls already (world.controls): use them, not a second set")
        self.world = world
        grid = world.grid
        net = grid.net
        rg, xf, cc, cap = net.regulator, net.transformer, net.cap_control, net.capacitor
        self.reg_ids = np.asarray(rg.ids, object)
        self.reg_xf = np.array([xf.get(t) if xf.get(t) is not None else -1 for t in rg["transformer"]], np.int64)
        self.reg_winding = np.asarray(rg["winding"], np.int64) - 1
        self.reg_delay_s = np.asarray(rg["delay_s"], float)
        self.reg_auto = np.asarray(rg["enabled"], bool) & (self.reg_xf >= 0)
        self.reg_due_s = np.full(len(rg), np.inf)  # when the running timer ends (inf: none)
        self.reg_dir = np.zeros(len(rg), np.int8)  # the step it is timing: +1 raise, -1 lower, 0 none
        self.v_control_v = np.full(len(rg), np.nan)  # control voltage (120 V base) at the last solve sampled
        self.sampled_s = float("nan")  # when that solve was
        k = np.maximum(self.reg_xf, 0)
        limits = np.stack([xf["tap_min_pu"], xf["tap_max_pu"], xf["n_taps"]], axis=1).astype(float)[k] \
            if len(xf) else np.ones((len(rg), 3))
        self.reg_tap_range = limits[:, :2]  # tap_min_pu, tap_max_pu
        self.reg_step_pu = (limits[:, 1] - limits[:, 0]) / np.maximum(limits[:, 2], 1.0)
        self.reg_bus = np.array([net.bus.position(str(xf["bus"][t, w])) if t >= 0 else -1
                                 for t, w in zip(self.reg_xf, self.reg_winding)], np.int64)

        self.cc_ids = np.asarray(cc.ids, object)
        self.cc_cap = np.array([cap.get(c) if cap.get(c) is not None else -1 for c in cc["capacitor"]], np.int64)
        self.cc_auto = np.asarray(cc["enabled"], bool) & (self.cc_cap >= 0)
        self.cc_due_s = np.full(len(cc), np.inf)
        self.cc_want = np.full(len(cc), _NOTHING, np.int8)  # the state its timer is for
        self.cc_timed = (np.asarray(cc["kind"]) == CapControlKind.time) & (self.cc_cap >= 0)
        self.cap_bus = net.bus.index(cap["bus"]) if len(cap) else np.zeros(0, np.int64)
        self.cap_live = np.ones(len(cap), bool)  # at the last solve sampled
        self.opened_s = np.full(len(cap), -np.inf)  # when each bank was last switched out
        self.cap_control = np.full(len(cap), -1, np.int64)  # the control row of each bank (-1: fixed)
        for j in range(len(cc) - 1, -1, -1):
            if self.cc_cap[j] >= 0:
                self.cap_control[self.cc_cap[j]] = j

        self.tap_changes = 0  # steps taken, by the controllers and by SCADA
        self.switchings = 0  # banks switched
        self._reg_of = {f"regulator.{r}": j for j, r in enumerate(self.reg_ids)}
        self._cc_of = {f"cap_control.{c}": j for j, c in enumerate(self.cc_ids)}
        self._probe: tuple[bytes, _Probe, ControlSampler] | None = None
        self._probe_parts = self._monitored(net)
        self._wakes: set[float] = set()
        world.controls = self
        world.events.subscribe(self._on_event)
        if self.cc_timed.any():
            world.env.process(self.time_of_day())

    # -- what the world tells --------------------------------------------------------------------

    def _on_event(self, event: Event) -> None:
        if event.kind == EventKind.solve and event.data.get("converged"):
            self.sample(event.time_s)

    def sample(self, now: float | None = None) -> None:
        """Every controller samples the world's last solution (at ``now``): timers start, carry
        on or are cancelled (see the module docstring)."""
        world, grid = self.world, self.world.grid
        now = world.now if now is None else float(now)
        result = world.last_result
        if result is None:
            return
        bus_v = result.bus_v()
        probe, sampler = self._probe_now()
        taps = grid.tap_pu[probe.xf_rows]
        v_node = probe.node_voltages(bus_v)
        actions = sampler.actions(probe.net, v_node, probe.currents(v_node, grid.switch_open), taps, grid.cap_closed,
                                  max_tap_change=1)
        v_c = sampler.v_control_v
        reg_live = (self.reg_bus >= 0) & (np.nan_to_num(np.abs(bus_v[np.maximum(self.reg_bus, 0)])).max(axis=1) > 0)
        if len(self.cap_bus):
            self.cap_live = np.nan_to_num(np.abs(bus_v[self.cap_bus])).max(axis=1) > 0
        self.v_control_v = np.where(reg_live, v_c, np.nan)
        self.sampled_s = now
        want = np.zeros(len(self.reg_ids), np.int8)
        cc_want = np.full(len(self.cc_ids), _NOTHING, np.int8)
        for a in actions:
            if a.tap is not None:
                want[self._reg_of[a.name]] = np.sign(a.tap - taps[a.row, a.winding])
            else:
                cc_want[self._cc_of[a.name]] = _CLOSE if a.close else _OPEN
        want[~(reg_live & self.reg_auto)] = 0
        self._time_of_day_wants(now, cc_want)
        self._arm_regulators(now, want)
        self._arm_capacitors(now, cc_want)

    def _time_of_day_wants(self, now: float, cc_want: np.ndarray) -> None:
        """Into ``cc_want``: what each time control wants at the hour of ``now``."""
        hour = round(self.world.calendar.hour(now), 6)  # to 3.6 ms: a wake at 7:00 is not 6:59:59.999
        cc, closed = self.world.grid.net.cap_control, self.world.grid.cap_closed
        for j in np.flatnonzero(self.cc_timed):
            close = time_of_day_closed(float(cc["on_value"][j]), float(cc["off_value"][j]), hour)
            cc_want[j] = _NOTHING if close == bool(closed[self.cc_cap[j]]) else int(close)

    def _arm_regulators(self, now: float, want: np.ndarray) -> None:
        """Timers start for the regulators that want a step they were not timing, stop for those
        that want none."""
        self.reg_due_s[want == 0] = np.inf
        self.reg_dir[want == 0] = 0
        start = np.flatnonzero((want != 0) & (want != self.reg_dir))
        self.reg_dir[start] = want[start]
        self.reg_due_s[start] = now + self.reg_delay_s[start]
        for t in np.unique(self.reg_due_s[start]):
            self._wake_at(float(t))

    def _arm_capacitors(self, now: float, cc_want: np.ndarray, among: np.ndarray | None = None) -> None:
        """Likewise for the capacitor controls (``among``: a mask of those to consider, all by
        default); a close waits for the bank's discharge."""
        among = np.ones(len(self.cc_ids), bool) if among is None else among
        cap = np.maximum(self.cc_cap, 0)
        ok = self.cc_auto & np.append(self.cap_live, False)[self.cc_cap]  # a control without its bank: -1
        cc_want = np.where(ok, cc_want, _NOTHING)
        stop = among & (cc_want == _NOTHING)
        self.cc_due_s[stop], self.cc_want[stop] = np.inf, _NOTHING
        start = np.flatnonzero(among & (cc_want != _NOTHING) & (cc_want != self.cc_want))
        if not len(start):
            return
        cc = self.world.grid.net.cap_control
        close = cc_want[start] == _CLOSE
        delay = np.where(close, np.asarray(cc["delay_s"], float)[start], np.asarray(cc["delay_off_s"], float)[start])
        due = np.where(close, np.maximum(now + delay, self.opened_s[cap[start]] + DISCHARGE_S), now + delay)
        self.cc_want[start] = cc_want[start]
        self.cc_due_s[start] = due
        for t in np.unique(due):
            self._wake_at(float(t))

    # -- timers ----------------------------------------------------------------------------------

    def _wake_at(self, t_s: float) -> None:
        if t_s not in self._wakes and np.isfinite(t_s):
            self._wakes.add(t_s)
            self.world.env.process(self.timer(t_s))

    def timer(self, t_s: float):
        """Controllers' time delays ending at ``t_s``: those still timing act then, together."""
        yield self.world.env.timeout(max(0.0, t_s - self.world.now))
        self._wakes.discard(t_s)
        self._act(self.world.now)

    def _act(self, now: float) -> None:
        world = self.world
        if not ((self.reg_due_s <= now).any() or (self.cc_due_s <= now).any()):
            return
        if world.last_result is None or world.grid.changed_s > world.last_result_s:
            world.power_flow()  # the network has changed since: look again (its solve re-samples)
        for j in np.flatnonzero(self.reg_due_s <= now):
            direction = int(self.reg_dir[j])
            self.reg_due_s[j], self.reg_dir[j] = np.inf, 0
            if direction and self.reg_auto[j]:
                self.step(int(j), direction, by="control", now=now)
        for j in np.flatnonzero(self.cc_due_s <= now):
            want = int(self.cc_want[j])
            self.cc_due_s[j], self.cc_want[j] = np.inf, _NOTHING
            if want != _NOTHING and self.cc_auto[j]:
                self.switch(int(self.cc_cap[j]), want == _CLOSE, by="control", now=now)

    def time_of_day(self):
        """Time-of-day capacitor controls: at each of their on and off hours their timers start."""
        env, cal = self.world.env, self.world.calendar
        cc = self.world.grid.net.cap_control
        timed = np.flatnonzero(self.cc_timed)
        hours = np.concatenate([np.asarray(cc["on_value"], float)[timed], np.asarray(cc["off_value"], float)[timed]])
        while True:
            want = np.full(len(self.cc_ids), _NOTHING, np.int8)
            self._time_of_day_wants(env.now, want)
            self._arm_capacitors(env.now, want, among=self.cc_timed)
            wait = ((hours - cal.hour(env.now)) % 24.0) * 3600.0
            wait = np.where(wait < 1e-3, 86400.0, wait)
            yield env.timeout(float(np.round(wait.min(), 3)))

    # -- changes (the controllers' and SCADA's) --------------------------------------------------

    def tap_position(self, j: int) -> int:
        """Regulator ``j``'s tap: steps from neutral (1.0 pu) on its regulated winding."""
        k = self.reg_xf[j]
        if k < 0:
            return 0
        return int(np.rint((self.world.grid.tap_pu[k, self.reg_winding[j]] - 1.0) / self.reg_step_pu[j]))

    def at_limit(self, j: int, direction: int) -> bool:
        """Whether regulator ``j`` cannot step further up (``direction`` +1) or down (-1)."""
        k = self.reg_xf[j]
        if k < 0:
            return True
        tap, (lo, hi) = self.world.grid.tap_pu[k, self.reg_winding[j]], self.reg_tap_range[j]
        half = self.reg_step_pu[j] / 2  # taps sit on whole steps: no step of a rounding error at the end
        return bool(tap >= hi - half) if direction > 0 else bool(tap <= lo + half)

    def step(self, j: int, direction: int, *, by: str, now: float | None = None) -> bool:
        """Regulator ``j`` one step up (``direction`` +1) or down (-1), published ``by`` ('control',
        'scada'); False (nothing done) at its limit."""
        world, grid = self.world, self.world.grid
        now = world.now if now is None else float(now)
        if self.at_limit(j, direction):
            return False
        k, w = int(self.reg_xf[j]), int(self.reg_winding[j])
        lo, hi = self.reg_tap_range[j]
        grid.tap_pu[k, w] = min(max(grid.tap_pu[k, w] + direction * self.reg_step_pu[j], lo), hi)
        grid.changed_s = now
        self.tap_changes += 1
        v_c = self.v_control_v[j]
        world.events.publish(now, EventKind.tap, device=str(self.reg_ids[j]),
                             action="raise" if direction > 0 else "lower", tap=self.tap_position(j),
                             tap_pu=round(float(grid.tap_pu[k, w]), 9), by=by,
                             v_control_v=round(float(v_c), 3) if np.isfinite(v_c) else None)
        world.request_resolve()
        return True

    def discharging_s(self, c: int, now: float | None = None) -> float:
        """Seconds capacitor ``c`` must still stay out before it may close (0: it may)."""
        now = self.world.now if now is None else float(now)
        return max(0.0, float(self.opened_s[c] + DISCHARGE_S - now))

    def switch(self, c: int, close: bool, *, by: str, now: float | None = None) -> bool:
        """Capacitor bank ``c`` (its row) in (``close``) or out, published ``by``; False (nothing
        done) when it is so already or, to close, still discharging."""
        world, grid = self.world, self.world.grid
        now = world.now if now is None else float(now)
        if bool(grid.cap_closed[c]) == close or (close and self.discharging_s(c, now) > 0):
            return False
        grid.cap_closed[c] = close
        if not close:
            self.opened_s[c] = now
        grid.changed_s = now
        self.switchings += 1
        world.events.publish(now, EventKind.capacitor, device=str(grid.net.capacitor.ids[c]),
                             action="close" if close else "open", closed=bool(close), by=by)
        world.request_resolve()
        return True

    def set_mode(self, device: str, auto: bool, *, by: str, now: float | None = None) -> None:
        """The controller of ``device`` (a regulator, or a capacitor bank with a control) to auto
        or manual, published ``by``; manual cancels its timer, auto samples the last solution if
        the network has not changed since. A bank's controls all follow."""
        world, net = self.world, self.world.grid.net
        now = world.now if now is None else float(now)
        j, c = net.regulator.get(device), net.capacitor.get(device)
        if j is not None:
            self.reg_auto[j] = auto and self.reg_xf[j] >= 0
            if not auto:
                self.reg_due_s[j], self.reg_dir[j] = np.inf, 0
        elif c is not None and (self.cc_cap == c).any():
            rows = self.cc_cap == c
            self.cc_auto[rows] = auto
            if not auto:
                self.cc_due_s[rows], self.cc_want[rows] = np.inf, _NOTHING
        else:
            raise ValueError(f"{device} is neither a regulator nor a capacitor bank with a control: "
                             f"name a row of the regulator table or a bank in the cap_control table")
        world.events.publish(now, EventKind.control_mode, device=device, mode="auto" if auto else "manual", by=by)
        if auto and world.last_result is not None and world.last_result_s >= world.grid.changed_s:
            self.sample(now)

    # -- the probe -------------------------------------------------------------------------------

    @staticmethod
    def _monitored(net: Network) -> dict[str, np.ndarray]:
        """Rows of the elements the controllers sample: regulating transformers, and the lines,
        switches and transformers the capacitor controls monitor."""
        rows: dict[str, set[int]] = {"line": set(), "switch": set(), "transformer": set()}
        xf = net.transformer
        for t in net.regulator["transformer"]:
            k = xf.get(str(t))
            if k is not None:
                rows["transformer"].add(k)
        for element in net.cap_control["element"]:
            table, _, name = str(element).partition(".")
            if table in rows:
                k = net.table(table).get(name)
                if k is not None:
                    rows[table].add(k)
        return {t: np.array(sorted(r), np.int64) for t, r in rows.items()}

    def _probe_now(self) -> tuple[_Probe, ControlSampler]:
        """The probe for the present taps (its flow values made again when they change: a tap
        changes a transformer's primitive) and its sampler (made once: where each control
        samples does not change)."""
        grid, parts = self.world.grid, self._probe_parts
        key = grid.tap_pu[parts["transformer"]].tobytes()
        if self._probe is None:
            probe = _make_probe(grid.net, parts, grid.tap_pu)
            self._probe = (key, probe, ControlSampler(probe))
        elif self._probe[0] != key:
            old = self._probe[1]
            probe = _retapped(old.net, old.nodes, old.fixed, old.bus_rows, parts, grid.tap_pu)
            self._probe = (key, probe, self._probe[2])
        return self._probe[1], self._probe[2]


def _make_probe(net: Network, rows: dict[str, np.ndarray], tap_pu: np.ndarray) -> _Probe:
    """The monitored elements alone, on their buses, every bus live, every switch closed (see
    :class:`_Probe`)."""
    line, sw = net.line.take(rows["line"]), net.switch.take(rows["switch"])
    xf = net.transformer.take(rows["transformer"])
    names = [line["from_bus"], line["to_bus"], sw["from_bus"], sw["to_bus"], np.asarray(xf["bus"]).ravel()]
    buses = np.unique(np.concatenate([np.asarray(b, object) for b in names]).astype(str))
    buses = buses[buses != ""]
    bus_rows = np.sort(net.bus.index(buses))
    empty = np.zeros(0, np.int64)
    mini = net.replace(
        bus=net.bus.take(bus_rows), line=line, switch=sw.with_columns(open=np.zeros(len(sw), bool)), transformer=xf,
        regulator=net.regulator.with_columns(enabled=np.ones(len(net.regulator), bool)),
        cap_control=net.cap_control.with_columns(enabled=np.ones(len(net.cap_control), bool)),
        load=net.load.take(empty), source=net.source.take(empty), generator=net.generator.take(empty),
        service_point=net.service_point.take(empty))
    live = np.ones(len(bus_rows), bool)
    nodes = index_nodes(mini.bus["phases"], mini.bus["v_nom_v"], live)
    fixed = Flows.concat([p.flows for p in (line_entries(mini, nodes, live), switch_entries(mini, nodes, live))
                          if p.flows is not None])
    return _retapped(mini, nodes, fixed, bus_rows, rows, tap_pu)


def _retapped(mini: Network, nodes: NodeIndex, fixed: Flows, bus_rows: np.ndarray, rows: dict[str, np.ndarray],
              tap_pu: np.ndarray) -> _Probe:
    """The probe with its transformers on the taps ``tap_pu`` (of the model's rows): their
    primitives made again, the lines' and switches' (``fixed``) kept."""
    mini = mini.replace(transformer=mini.transformer.with_columns(tap_pu=tap_pu[rows["transformer"]].copy()))
    live = np.ones(len(bus_rows), bool)
    trans = transformer_entries(mini, nodes, live, nodes.n)
    flows = Flows.concat([fixed] + ([trans.flows] if trans.flows is not None else []))
    n = nodes.n + trans.n_extra
    flow_matrix = sp.csr_matrix((flows.values, (flows.ends, flows.cols)), shape=(len(flows.node), n))
    extra = None
    if trans.n_extra:  # an ungrounded wye's neutral: no current leaves it, Y_ee v_e + Y_eb v_b = 0
        y = assemble([trans], n).toarray()
        extra = -np.linalg.solve(y[nodes.n:, nodes.n:], y[nodes.n:, :nodes.n])
    return _Probe(net=mini, nodes=nodes, flows=flows, fixed=fixed, flow_matrix=flow_matrix, bus_rows=bus_rows,
                  xf_rows=rows["transformer"], sw_rows=rows["switch"], extra=extra)
