"""Virtual fault circuit indicators (FCIs): the flags a crew reads on its patrol, or a control room
by cellular, that say which way the fault current went.

:class:`FaultIndicators` stands beside a :class:`~twin.world.environment.World` and plays every
row of the model's ``fault_indicator`` table, in bulk (a few arrays, no object per indicator).
An indicator is a set of non-directional sensors, one per phase of its line, at one end of the
line (``terminal``: 1 the from end, the source side under normal states, is what the generated
territories use; 2 the to end).

Flagging. When a fault begins (an :attr:`~twin.world.events.EventKind.fault` event, a restrike
included) on an energised section, the current into the fault is worked out on the world's
short-circuit model (:func:`twin.grid.shortcircuit.fault_at` on
:meth:`~twin.world.physics.GridState.fault_analysis`, the normal configuration of the fault's
substation, as the protection's currents are). On a radial feeder that current flows through every line between
the source and the fault, so every indicator on the path from the faulted line up to the source
(:meth:`~twin.grid.topology.Topology.path_to_source`; of the network as it stands once a normally
open point is closed) flags where a phase it senses carries more than its ``trip_a``; on the
faulted line itself only an indicator at the source-side end (the fault point is past it; a
from-end indicator always is). Indicators below the fault and on other branches carry load
current only and do not flag; a fault on a dead section flags nothing. Loads' own currents and
the inrush of a reclose are not modelled (the validator's ``fci-pickup`` checks trip ratings
against the load).

Reset, by the row's ``reset`` (:class:`~twin.grid.schema.IndicatorReset`): ``voltage``, once its
line has had voltage for ``reset_s`` without a break (a reclose that holds, a fuse downstream
that cleared the fault without an interruption above it; a section left dead keeps its flags);
``timed``, ``reset_s`` after it last flagged; ``manual``, only by the control ``reset`` (a crew's
reset tool, or a remote reset). Every flag and reset is an :attr:`~twin.world.events.EventKind.fci`
event with the indicator and its line.

Points, as :class:`~twin.field_devices.devices.Point`: ``fault`` (the flag), ``status`` (``"live"``
when its line has voltage, else ``"dead"``) and ``remote``. A communicating indicator (``remote``)
reports by its own cellular modem with quality ``good``; while its communications are down
(:meth:`FaultIndicators.set_comms`) the last report stands, ``comms_failed``. A visual one is read
at the pole by a crew: quality ``manual``.

For the crews and FLISR: :meth:`FaultIndicators.flagged` and
:meth:`FaultIndicators.patrol_section`, the lines below the last flagged indicator and above the
first unflagged ones within an isolating device's section.

>>> from twin.world.environment import World
>>> from twin.world.physics import Fault
>>> from twin.world.territory import generate_territory
>>> world = World(generate_territory(2000, seed=3), seed=1, resolve=False)
>>> fci = FaultIndicators(world)
>>> world.inject(Fault("S01-F1-L0016", permanent=True), at_s=10.0)
>>> world.run_to(60.0)  # the recloser has locked out
>>> fci.flagged()
[('S01-F1-FCI01', 'S01-F1-L0004'), ('S01-F1-FCI02', 'S01-F1-L0008'), ('S01-F1-FCI03', 'S01-F1-L0014')]
>>> world.run_to(120.0)  # FCI01, above the recloser, has had voltage for a minute
>>> [(e.data["fci"], e.data["why"]) for e in world.events.of(EventKind.fci) if e.data["action"] == "reset"]
[('S01-F1-FCI01', 'voltage restored')]
>>> fci.patrol_section("S01-F1-RCL", "S01-F1-L0016")
['S01-F1-L0014', 'S01-F1-L0015', 'S01-F1-L0016', 'S01-F1-L0017', 'S01-F1-L0018']
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

import numpy as np

from twin.grid.schema import IndicatorReset, Phase
from twin.field_devices.devices import ControlRefused, Point, Quality, Refusal
from twin.world.events import Event, EventKind

if TYPE_CHECKING:
    from twin.world.environment import World

__all__ = ["FaultIndicators"]

_VOLTAGE, _TIMED = int(IndicatorReset.voltage), int(IndicatorReset.timed)


class FaultIndicators:
    """Every fault circuit indicator of the world, its flags, resets, points and communications
    (see the module docstring). Sets ``world.fault_indicators`` to itself, where the crews find it."""

    def __init__(self, world: World) -> None:
        self.world = world
        net = world.grid.net
        fci, line = net.fault_indicator, net.line
        self.ids = np.array(fci.ids, object)
        self._pos = {str(i): k for k, i in enumerate(self.ids)}
        self.line = np.array(fci["line"], object)
        self.line_row = line.index(self.line) if len(fci) else np.zeros(0, np.int64)
        self.terminal = np.array(fci["terminal"], np.int64)
        self.bus = np.where(self.terminal == 2, line["to_bus"][self.line_row], line["from_bus"][self.line_row])
        self.bus_row = net.bus.index(self.bus) if len(fci) else np.zeros(0, np.int64)
        self.phases = np.array(fci["phases"], np.int64)
        self.trip_a = np.array(fci["trip_a"], float)
        self.reset_mode = np.array(fci["reset"], np.int64)
        self.reset_s = np.array(fci["reset_s"], float)
        self.remote = np.array(fci["remote"], bool)
        self.x = np.asarray(net.bus["x"], float)[self.bus_row]
        self.y = np.asarray(net.bus["y"], float)[self.bus_row]
        n = len(self.ids)
        self.flag = np.zeros(n, bool)  # the truth: flagged now
        self.flagged_s = np.full(n, np.nan)  # when it last flagged
        self.comms_up = np.ones(n, bool)  # a remote indicator's modem (meaningless for visual ones)
        self._gen = np.zeros(n, np.int64)  # bumped on every flag and reset: older reset timers are void
        self._armed = np.zeros(n, bool)  # a voltage-reset timer runs
        self._fault = np.zeros(n, bool)  # what each indicator last reported
        self._live = np.zeros(n, bool)
        self._scan_s = np.zeros(n)
        self._by_line: dict[str, np.ndarray] = {}
        for k, ln in enumerate(self.line.tolist()):
            self._by_line.setdefault(ln, []).append(k)
        self._by_line = {ln: np.array(rows, np.int64) for ln, rows in self._by_line.items()}
        self._live_cache: tuple[bytes, np.ndarray] | None = None
        self._line_pos: np.ndarray | None = None
        self._refresh(np.arange(n), world.now)
        world.events.subscribe(self._on_event)
        world.fault_indicators = self

    # -- the world's events ----------------------------------------------------------------------

    def _on_event(self, event: Event) -> None:
        if event.kind == EventKind.fault:
            self._on_fault(event)
        elif event.kind in (EventKind.outage, EventKind.restore):
            self._voltage_changed()

    def _on_fault(self, event: Event) -> None:
        """Flag the indicators between the source and the fault that carry more than their pickup."""
        from twin.errors import ModelError
        from twin.grid.shortcircuit import FaultType, fault_at

        if not len(self.ids):
            return
        grid, data = self.world.grid, event.data
        line, bus = str(data["line"]), str(data["bus"])
        b = grid.net.bus.position(bus)
        topo = self._topology()
        if not self._bus_live(np.array([b]))[0]:
            return  # a dead section: no fault current flows
        path = topo.path_to_source(f"line.{line}")
        on_path = [self._by_line[ref[5:]] for ref in path if ref.startswith("line.") and ref[5:] in self._by_line]
        if not on_path:
            return
        rows = np.concatenate(on_path)
        own = self.line[rows] == line  # the faulted line's own: only at its source-side end
        upstream = topo.bus_of(f"line.{line}")
        rows = rows[~own | (self.bus_row[rows] == upstream)]
        kind = FaultType[str(data["fault"])]
        if bin(int(grid.net.bus["phases"][b]) & int(Phase.ABC)).count("1") < 2 and kind != FaultType.slg:
            kind = FaultType.slg  # a one-phase section can only fault to ground (as the protection has it)
        try:
            result = fault_at(None, bus, kind, thevenin=grid.fault_analysis(bus), topology=grid.normal_topology())
        except ModelError:
            return
        amps = np.zeros(3)
        amps[result.currents["phase"].to_numpy() - 1] = result.currents["i_a"].to_numpy()
        sensed = ((self.phases[rows, None] >> np.arange(3)) & 1) * amps  # per sensed phase (A)
        seen = sensed.max(axis=1)
        hit = seen > self.trip_a[rows]
        self._flag(np.sort(rows[hit]), seen[hit][np.argsort(rows[hit])], event.time_s)

    def _flag(self, rows: np.ndarray, amps: np.ndarray, now: float) -> None:
        if not len(rows):
            return
        for k, a in zip(rows.tolist(), amps.tolist()):
            if not self.flag[k]:
                self.world.events.publish(now, EventKind.fci, fci=str(self.ids[k]), line=str(self.line[k]),
                                          action="flagged", amps=round(float(a), 1))
        self.flag[rows] = True
        self.flagged_s[rows] = now
        self._gen[rows] += 1
        self._armed[rows] = False
        timed = rows[self.reset_mode[rows] == _TIMED]
        for delay in np.unique(self.reset_s[timed]).tolist():
            group = timed[self.reset_s[timed] == delay]
            self.world.env.process(self._reset_after(group, self._gen[group].copy(), delay, "timed"))
        self._voltage_changed()

    def _voltage_changed(self) -> None:
        """Voltage-reset indicators flagged now: a timer for those with voltage, none for those without."""
        rows = np.flatnonzero(self.flag & (self.reset_mode == _VOLTAGE))
        if not len(rows):
            return
        live = self._bus_live(self.bus_row[rows])
        dead = rows[~live]
        self._gen[dead[self._armed[dead]]] += 1  # a break in the voltage: start again when it is back
        self._armed[dead] = False
        start = rows[live & ~self._armed[rows]]
        self._armed[start] = True
        for delay in np.unique(self.reset_s[start]).tolist():
            group = start[self.reset_s[start] == delay]
            self.world.env.process(self._reset_after(group, self._gen[group].copy(), delay, "voltage restored"))

    def _reset_after(self, rows: np.ndarray, gen: np.ndarray, delay_s: float, why: str):
        """After ``delay_s``, reset those of ``rows`` that have not flagged or reset since."""
        yield self.world.env.timeout(delay_s)
        self._reset(rows[(self._gen[rows] == gen) & self.flag[rows]], why)

    def _reset(self, rows: np.ndarray, why: str) -> None:
        now = self.world.now
        for k in rows.tolist():
            self.world.events.publish(now, EventKind.fci, fci=str(self.ids[k]), line=str(self.line[k]),
                                      action="reset", why=why)
        self.flag[rows] = False
        self._gen[rows] += 1
        self._armed[rows] = False

    # -- the grid as it stands -------------------------------------------------------------------

    def _tree_changed(self) -> bool:
        grid = self.world.grid
        return bool((np.asarray(grid.net.switch["normal_open"], bool) & ~grid.switch_open).any())

    def _topology(self):
        """The topology fault current follows: the normal one while every normally open point is
        open, else that of the network as it stands (made once per set of switch states)."""
        grid = self.world.grid
        return grid.present_topology() if self._tree_changed() else grid.normal_topology()

    def _bus_live(self, buses: np.ndarray) -> np.ndarray:
        """Whether each bus row has voltage now (every bus worked out once per set of switch states)."""
        grid = self.world.grid
        key = grid.switch_open.tobytes()
        if self._live_cache is None or self._live_cache[0] != key:
            if self._tree_changed():
                live = grid.buses_live_now()
            else:  # the normal tree, less what lies below the devices open now
                topo = grid.normal_topology()
                dead = np.zeros(len(topo.order) + 1, np.int64)
                normal_open = np.asarray(grid.net.switch["normal_open"], bool)
                for s in np.flatnonzero(grid.switch_open & ~normal_open).tolist():
                    for first, end in topo.subtree_ranges(f"switch.{grid.net.switch.ids[s]}"):
                        dead[first] += 1
                        dead[end] -= 1
                live = topo.energised.copy()
                on = np.flatnonzero(live)
                live[on] = np.cumsum(dead)[:-1][topo.tin[on]] == 0
            self._live_cache = (key, live)
        return self._live_cache[1][buses]

    # -- communications and reading ----------------------------------------------------------------

    def set_comms(self, where: Iterable[str] | tuple[float, float, float], up: bool,
                  now: float | None = None) -> np.ndarray:
        """Cellular communications of remote indicators down or up again: those named, or those
        within ``(x, y, radius_m)``. One going down reports one last time (at ``now``) and then
        stays silent. Returns the indicator rows changed (visual ones have no modem: never)."""
        now = self.world.now if now is None else float(now)
        if isinstance(where, tuple) and len(where) == 3 and all(isinstance(c, (int, float)) for c in where):
            x, y, radius = (float(c) for c in where)
            rows = np.flatnonzero(np.hypot(self.x - x, self.y - y) <= radius)
        else:
            rows = self._rows(where)
        rows = rows[self.remote[rows] & (self.comms_up[rows] != bool(up))]
        if not up:
            self._refresh(rows, now)
        self.comms_up[rows] = bool(up)
        return rows

    def read(self, ids: Iterable[str] | None = None, now: float | None = None) -> list[Point]:
        """The points of the indicators (all by default): ``fault``, ``status``, ``remote``, with
        their quality (``good``, ``comms_failed``, ``manual``; see the module docstring)."""
        now = self.world.now if now is None else float(now)
        k = np.arange(len(self.ids)) if ids is None else self._rows(ids)
        current = ~self.remote[k] | self.comms_up[k]
        self._refresh(k[current], now)
        out: list[Point] = []
        for j, c in zip(k.tolist(), current.tolist()):
            q = Quality.manual if not self.remote[j] else Quality.good if c else Quality.comms_failed
            i, t = str(self.ids[j]), float(self._scan_s[j])
            out += [Point(i, "fault", bool(self._fault[j]), q, t),
                    Point(i, "status", "live" if self._live[j] else "dead", q, t),
                    Point(i, "remote", bool(self.remote[j]), q, t)]
        return out

    def point(self, fci: str, name: str, now: float | None = None) -> Point:
        """One point of one indicator by name (KeyError when it has no such point)."""
        for p in self.read([fci], now):
            if p.name == name:
                return p
        raise KeyError(f"fault indicator {fci} has no point {name!r}")

    def _refresh(self, rows: np.ndarray, now: float) -> None:
        if not len(rows):
            return
        self._fault[rows] = self.flag[rows]
        self._live[rows] = self._bus_live(self.bus_row[rows])
        self._scan_s[rows] = now

    # -- controls ----------------------------------------------------------------------------------

    def operate(self, fci: str, action: str, *, by: str = "scada") -> None:
        """``"reset"`` the flag: by SCADA (``by="scada"``) on a remote indicator whose comms are
        up, or by a crew at the pole (``by`` its name) on any; raises
        :class:`~twin.field_devices.devices.ControlRefused` when it cannot be carried out."""
        k = self._pos.get(fci)
        if k is None:
            raise ControlRefused(fci, action, Refusal.unknown_device)
        if action != "reset":
            raise ControlRefused(fci, action, Refusal.unknown_action)
        if by == "scada" and not self.remote[k]:
            raise ControlRefused(fci, action, Refusal.not_remote)
        if by == "scada" and not self.comms_up[k]:
            raise ControlRefused(fci, action, Refusal.unreachable)
        if self.flag[k]:
            self._reset(np.array([k]), f"reset by {by}")

    def reset_lines(self, lines: Iterable[str], *, by: str) -> None:
        """A crew resets, as it passes, the flagged indicators on ``lines`` that only a hand resets."""
        rows = [self._by_line[ln] for ln in lines if ln in self._by_line]
        if rows:
            k = np.concatenate(rows)
            self._reset(np.sort(k[self.flag[k] & (self.reset_mode[k] == int(IndicatorReset.manual))]),
                        f"reset by {by}")

    # -- for crews and FLISR -----------------------------------------------------------------------

    def flagged(self) -> list[tuple[str, str]]:
        """``(indicator, line)`` of every indicator flagged now, in table order."""
        return [(str(self.ids[k]), str(self.line[k])) for k in np.flatnonzero(self.flag).tolist()]

    def patrol_section(self, device: str, line: str) -> list[str]:
        """The lines a crew should patrol for a fault on ``line`` isolated by ``device`` (its
        feeder's breaker when ''), in depth-first order from the device: of the lines below the
        device (normal configuration), those below the last flagged indicator of each flagged
        branch (two faults: both; all of them where none has flagged), less those below an
        unflagged indicator (which never clears all that is left). An indicator that should have
        flagged and did not (a pickup above the fault current, a flag already reset) points the
        crew away from the fault."""
        topo = self.world.grid.normal_topology()
        ref = f"switch.{device}" if device else f"switch.{topo.feeder_of(f'line.{line}')}"
        n = len(topo.order)
        section = np.zeros(n + 1, np.int64)
        for first, end in topo.subtree_ranges(ref):
            section[first] += 1
            section[end] -= 1
        section = np.cumsum(section)[:-1] > 0
        pos = self._line_positions()
        inside = np.flatnonzero((pos >= 0) & section[np.maximum(pos, 0)])
        rows = np.concatenate([self._by_line[ln] for ln in topo.net.line.ids[inside].tolist()
                               if ln in self._by_line] or [np.zeros(0, np.int64)])
        flagged = rows[self.flag[rows]]
        below = {k: self._below(k, n) for k in rows.tolist()}
        p = pos[self.line_row[flagged]]
        key = 2 * p + (self.bus_row[flagged] == topo.order[p])  # a sensor's place: line position, then end
        region = np.zeros(n, bool) if len(flagged) else section.copy()
        for i, k in enumerate(flagged.tolist()):  # the last flag of each flagged branch
            if not any(key[j] > key[i] and below[k][p[j]] for j in range(len(flagged))):
                region |= below[k] & section
        for k in rows[~self.flag[rows]].tolist():
            rest = region & ~below[k]
            if rest[pos[inside]].any():  # clears what lies below it, never all that is left
                region = rest
        keep = inside[region[pos[inside]]]
        return topo.net.line.ids[keep[np.argsort(pos[keep], kind="stable")]].tolist()

    def patrol_length_m(self, device: str, line: str) -> float:
        """Line length (m) of :meth:`patrol_section`."""
        lines = self.world.grid.net.line
        return float(lines["length_m"][lines.index(self.patrol_section(device, line))].sum())

    def _line_positions(self) -> np.ndarray:
        """Depth-first position (normal tree) of each line's load-side bus; -1 where it is not a
        tree line (open, dead, on a loop)."""
        if self._line_pos is None:
            topo = self.world.grid.normal_topology()
            m = len(topo.net.line)
            e = np.arange(m)
            a, b = topo.edge_from[:m], topo.edge_to[:m]
            child = np.where(topo.parent_edge[b] == e, b, np.where(topo.parent_edge[a] == e, a, -1))
            self._line_pos = np.where(child >= 0, topo.tin[np.maximum(child, 0)], -1)
        return self._line_pos

    def _below(self, k: int, n: int) -> np.ndarray:
        """Depth-first positions a fault may be at if indicator ``k`` flagged: below its sensors."""
        topo = self.world.grid.normal_topology()
        p = int(self._line_positions()[self.line_row[k]])
        out = np.zeros(n, bool)
        if p < 0:
            return out
        c = int(topo.order[p])
        at_child_end = self.bus_row[k] == c
        out[p + int(at_child_end): p + int(topo.size[c])] = True
        return out

    def _rows(self, ids: Iterable[str]) -> np.ndarray:
        if isinstance(ids, str):
            ids = [ids]
        try:
            return np.array([self._pos[str(i)] for i in ids], np.int64)
        except KeyError as err:
            raise KeyError(f"no fault indicator {err.args[0]!r}") from err
