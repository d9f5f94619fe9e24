"""The instructor station (pygame): the lesson driven from beside the trainee, in its own process.

Attached to a running session over the channel (:class:`LiveSource`) it shows the world's ground
truth beside what the trainee's IDMS believes: on the map, lines with power in both are grey,
sections out in both dark, and the differences stand out: **magenta** where the world has no
power but the IDMS believes it has (the trainee does not know yet), **cyan** where the IDMS
believes a section out that has power, **orange** a standing fault. Beside the map: the world's
outages and the IDMS's outage records side by side, the live score and the instructor's log.
The run is paced from here (pause, x1 to x3600, run to the next hour), events are injected by
hand (choose a tool, click the map: a fault on the line clicked, a communications loss or a call
flood over the circle shown, a stuck remote switch), and snapshots are saved and restored.

Opened on a recording (:class:`ReplaySource`) it replays the session: a seek bar (click or drag
anywhere on it, arrows step five minutes), play and pause, speed, and ``B`` to branch: the
state at the seek time saved as a snapshot that ``twin train`` goes on from ("what if you had
done this instead").

Keys: Space pause/play; 1-5 speed x1, x10, x60, x600, x3600; R run to the next full hour;
F fault, K comms loss, S stuck switch, L call flood, Esc no tool; Ctrl+S save a snapshot,
Ctrl+O restore the last one saved; G home view; +/- zoom; arrows pan (replay: seek); B branch
(replay); F1 help.
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

import numpy as np
import pygame

from twin.errors import TwinError
from twin.grid.topology import build_topology
from twin.idms.console.panels import Column, ListPanel, Row
from twin.idms.console.raster import pack, paint, sample, thicken
from twin.idms.console.text import Text
from twin.idms.console.theme import THEME
from twin.idms.console.view import fit
from twin.instructor.mapdata import Geometry, decode_geometry, encode_geometry, pack_bits, unpack_bits

__all__ = ["LiveSource", "ReplaySource", "Station", "SPEED_KEYS", "TOOLS"]

SIZE = (1600, 900)
TOP_H, BAR_H, MAP_W = 28, 40, 1000
SPEED_KEYS = {pygame.K_1: 1.0, pygame.K_2: 10.0, pygame.K_3: 60.0, pygame.K_4: 600.0, pygame.K_5: 3600.0}
TOOLS = {"fault": "fault at the line clicked", "comms_outage": "communications lost over the circle, 2 h",
         "stuck_switch": "the remote switch clicked stuck", "call_flood": "200 calls over the circle in 10 min"}
_TOOL_KEYS = {pygame.K_f: "fault", pygame.K_k: "comms_outage", pygame.K_s: "stuck_switch", pygame.K_l: "call_flood"}
CIRCLE_PX = 60  # the comms-loss and call-flood circle, screen pixels
STATUS_EVERY_S = 0.5
RESTORE_WAIT_S = 900.0  # how long the station waits for a snapshot's restore (minutes on 100k customers)
# per line: 0 power in both, 1 out in both, 2 out but believed on, 3 on but believed out, 4 faulted
_RGB = np.array([(112, 116, 122), (40, 44, 52), (225, 0, 200), (0, 190, 220), (245, 130, 0)])
_COLOURS = pack(_RGB)
_LEGEND = ("power", "out", "out, IDMS unaware", "IDMS believes out", "fault", "remote switch")
_WIDTHS = (1, 2, 3, 3, 5)


class LiveSource:
    """The running session, over a :class:`~twin.instructor.channel.ChannelClient` as instructor."""

    live = True

    def __init__(self, client) -> None:
        self.client = client

    def geometry(self) -> Geometry:
        return decode_geometry(self.client.request("geometry"))

    def status(self) -> dict[str, Any]:
        return self.client.request("status")

    def lines(self, version: str) -> dict[str, Any]:
        return self.client.request("lines", version=version)

    def send(self, cmd: str, **args: Any) -> Any:
        if cmd == "snapshot_restore":  # the session runs to the snapshot's moment first
            return self.client.request_within(RESTORE_WAIT_S, cmd, **args)
        return self.client.request(cmd, **args)

    def advance(self, wall_dt: float) -> None:
        """(The session runs itself.)"""


class ReplaySource:
    """A recorded session at a seek time (:meth:`seek`), played at ``speed`` while ``playing``;
    ``net`` its model. The map's two pictures come from the replay state
    (:mod:`twin.instructor.replay`): the world's with the devices it had open, the IDMS's with the
    devices of its active outage records open (a replay keeps the records, not every belief)."""

    live = False

    def __init__(self, path: str | Path, net) -> None:
        from twin.instructor.recording import Recording

        self.path = Path(path)
        self.recording = Recording(self.path)
        self.net = net
        self.end_s = self.recording.last_sim_s()
        self.time_s, self.speed, self.playing = 0.0, 60.0, False
        self.state = self.recording.state_at(0.0)
        self._normal_open = np.asarray(net.switch["normal_open"], bool)
        self._switch_ids = np.asarray(net.switch.ids, object)
        self._lines_key: Any = None
        self._lines: dict[str, Any] = {}

    def geometry(self) -> Geometry:
        return decode_geometry(encode_geometry(self.net, ()))

    def seek(self, time_s: float) -> None:
        self.time_s = float(np.clip(time_s, 0.0, self.end_s))
        self.state = self.recording.state_at(self.time_s)

    def advance(self, wall_dt: float) -> None:
        if self.playing:
            self.seek(self.time_s + wall_dt * self.speed)
            if self.time_s >= self.end_s:
                self.playing = False

    def status(self) -> dict[str, Any]:
        st = self.state
        records = sorted(st.records.values(), key=lambda r: -int(r.get("customers_out", 0)))
        believed = [{"id": r["id"], "device": r["device"], "state": r["state"], "customers": r.get("customers_out", 0),
                     "crew": r.get("crew", ""), "start_s": r.get("start_s", 0.0)} for r in records]
        truth = [{"device": d, "line": "", "customers": "", "start_s": None} for d in sorted(st.open_devices)]
        return {"time_s": self.time_s, "clock": _hhmm(self.time_s), "speed": self.speed, "paused": not self.playing,
                "until_s": None, "end_s": self.end_s, "out_truth": st.customers_out,
                "out_believed": sum(int(r["customers"] or 0) for r in believed), "truth_outages": truth,
                "idms_outages": believed, "faults": [], "alarms_unacknowledged": sum(
                    1 for a in st.alarms.values() if not a.get("acknowledged")), "score": {},
                "recording": str(self.path), "log": []}

    def lines(self, version: str) -> dict[str, Any]:
        st = self.state
        key = f"{sorted(st.open_devices)}/{sorted(r['device'] for r in st.records.values())}"
        if key != self._lines_key:
            truth_open = self._normal_open | np.isin(self._switch_ids, list(st.open_devices))
            believed_open = self._normal_open | np.isin(self._switch_ids, [r["device"] for r in st.records.values()])
            self._lines = {"truth": pack_bits(build_topology(self.net, switch_open=truth_open).energised),
                           "believed": pack_bits(build_topology(self.net, switch_open=believed_open).energised),
                           "fault_lines": []}
            self._lines_key = key
        version_now = str(hash(key))
        if version == version_now:
            return {"version": version_now, "same": True}
        return {"version": version_now, "same": False, **self._lines}

    def send(self, cmd: str, **args: Any) -> Any:
        if cmd == "branch":
            from twin.instructor.snapshots import save_snapshot

            return str(save_snapshot(self.path, self.time_s, args["path"]))
        raise TwinError(f"{cmd}: a replay cannot be changed; branch (B) and go on from the snapshot with twin train")


class Station:
    """The instructor station on ``source`` (see the module docstring), drawing into ``screen``."""

    def __init__(self, source, screen: pygame.Surface | None = None) -> None:
        self.source = source
        self.screen = screen if screen is not None else pygame.Surface(SIZE)
        self.text = Text(THEME.font_size, THEME.small_font_size)
        self.geometry = source.geometry()
        g = self.geometry
        self.map_rect = pygame.Rect(0, TOP_H, MAP_W, self.screen.get_height() - TOP_H - BAR_H)
        xs, ys = g.bus_x[np.isfinite(g.bus_x)], g.bus_y[np.isfinite(g.bus_y)]
        self.home = fit((float(xs.min()), float(ys.min()), float(xs.max()), float(ys.max())),
                        self.map_rect.width, self.map_rect.height)
        self.view = self.home
        right = pygame.Rect(MAP_W, TOP_H + 150, self.screen.get_width() - MAP_W, 0)
        cols = (Column("device", 130), Column("state", 80), Column("out", 70), Column("crew", 90), Column("since", 80))
        self.truth_list = ListPanel("WORLD: what is really out", cols, pygame.Rect(right.x, right.y, right.w, 220),
                                    self.text)
        self.idms_list = ListPanel("TRAINEE'S IDMS: its outage records", cols,
                                   pygame.Rect(right.x, right.y + 220, right.w, 220), self.text)
        self.log_list = ListPanel("INSTRUCTOR LOG", (Column("time", 70), Column("action", right.w - 80)),
                                  pygame.Rect(right.x, right.y + 440, right.w, self.screen.get_height() - BAR_H
                                              - right.y - 440), self.text)
        self.tool: str | None = None
        self.message = "F1: help"
        self.status: dict[str, Any] = {}
        self.snapshots: list[str] = []
        self.show_help = False
        self.buttons: list[tuple[pygame.Rect, str]] = []
        self._status_wall = -math.inf
        self._lines_version = ""
        self._codes = np.zeros(len(g.line_from) + len(g.switch_ids), np.int8)  # per line, then per switch
        self._buffer: np.ndarray | None = None
        self._canvas_key: Any = None
        self._canvas: pygame.Surface | None = None
        self._press: tuple[int, int] | None = None
        self._dragged = False
        self._mouse = (0, 0)
        self._wall = time.monotonic()
        self.running = True
        self.frames = 0
        self.refresh(force=True)

    # -- the loop ---------------------------------------------------------------------------------

    def step(self) -> None:
        """One frame: the queued pygame events, the source advanced (a replay playing), drawn."""
        for event in pygame.event.get():
            self.handle(event)
        now = time.monotonic()
        self.source.advance(now - self._wall)
        self._wall = now
        self.draw()

    def refresh(self, *, force: bool = False) -> None:
        """Ask the source for the status and the lines (at most every :data:`STATUS_EVERY_S`)."""
        now = time.monotonic()
        if not force and now - self._status_wall < STATUS_EVERY_S and self.source.live:
            return
        self._status_wall = now
        try:
            self.status = self.source.status()
            lines = self.source.lines(self._lines_version)
        except TwinError as err:
            self.message = f"session: {err}"
            return
        if not lines.get("same"):
            self._set_lines(lines)
        self._fill_lists()

    def _set_lines(self, lines: dict[str, Any]) -> None:
        g = self.geometry
        truth = unpack_bits(lines["truth"], g.buses)
        believed = unpack_bits(lines["believed"], g.buses)
        ends = np.concatenate([g.line_from, g.switch_bus])  # a line's or a switch's state: its from bus's
        t, b = truth[ends], believed[ends]
        codes = np.where(t & b, 0, np.where(~t & ~b, 1, np.where(~t & b, 2, 3))).astype(np.int8)
        codes[np.asarray(lines.get("fault_lines", []), np.int64)] = 4
        self._codes = codes
        self._lines_version = lines["version"]
        self._canvas_key = None

    def _clock(self, time_s: float | None) -> str:
        """A session time as the clock on the wall showed it (HH:MM; a replay: since its start)."""
        if time_s is None:
            return ""
        return _hhmm((float(time_s) + float(self.status.get("day_s", 0.0))) % 86400.0)

    def _fill_lists(self) -> None:
        st = self.status
        self.truth_list.set_rows(tuple(Row(str(o["device"]), (str(o["device"]), "out", str(o["customers"]), "",
                                                              self._clock(o["start_s"])), bold=True)
                                       for o in st.get("truth_outages", [])),
                                 f"{st.get('out_truth', 0):,} customers out")
        self.idms_list.set_rows(tuple(Row(o["id"], (str(o["device"]), o["state"], str(o["customers"]), o["crew"],
                                                    self._clock(o["start_s"]))) for o in st.get("idms_outages", [])),
                                f"{st.get('out_believed', 0):,} believed out")
        self.log_list.set_rows(tuple(Row(str(k), (self._clock(t), text)) for k, (t, text) in
                                     enumerate(reversed(st.get("log", [])))))

    def draw(self) -> None:
        self.refresh()
        s = self.screen
        s.fill(THEME.panel)
        self._draw_map(s)
        self._draw_top(s)
        self._draw_controls(s)
        for panel in (self.truth_list, self.idms_list, self.log_list):
            panel.draw(s, True)
        self._draw_bar(s)
        if self.show_help:
            self._draw_help(s)
        self.frames += 1

    # -- the map ----------------------------------------------------------------------------------

    def _draw_map(self, s: pygame.Surface) -> None:
        key = (self.view, self._lines_version)
        if key != self._canvas_key:
            self._compose()
            self._canvas_key = key
        s.blit(self._canvas, self.map_rect.topleft)
        x, y = self.map_rect.x + 8, self.map_rect.bottom - 20
        for k, label in enumerate(_LEGEND):
            colour = tuple(int(c) for c in _RGB[k]) if k < len(_RGB) else THEME.device
            pygame.draw.rect(s, colour, (x, y + 5, 14, 5) if k < len(_RGB) else (x + 4, y + 3, 7, 7), 0 if k < 5 else 1)
            s.blit(self.text.render(label, THEME.text, "small"), (x + 18, y))
            x += 24 + self.text.width(label, "small")
        if self.tool in ("comms_outage", "call_flood") and self.map_rect.collidepoint(self._mouse):
            pygame.draw.circle(s, (225, 0, 200), self._mouse, CIRCLE_PX, 2)

    def _compose(self) -> None:
        g, v = self.geometry, self.view
        w, h = self.map_rect.size
        if self._buffer is None or self._buffer.shape != (h, w):
            self._buffer = np.empty((h, w), np.uint32)
        self._buffer[:] = pack(np.array(THEME.background))
        a, b = np.concatenate([g.line_from, g.switch_bus]), np.concatenate([g.line_to, g.switch_to])
        x0, y0 = v.to_screen(g.bus_x[a], g.bus_y[a])
        x1, y1 = v.to_screen(g.bus_x[b], g.bus_y[b])
        px, py, seg, _ = sample(x0, y0, x1, y1, w, h)
        code = self._codes[seg]
        for c in (0, 1, 2, 3, 4):  # the differences last, on top
            pick = np.flatnonzero(code == c)
            if len(pick):
                index, _ = thicken(px[pick], py[pick], _WIDTHS[c], w, h)
                paint(self._buffer, index, _COLOURS[c])
        self._canvas = pygame.image.frombuffer(self._buffer.tobytes(), (w, h), "BGRA").copy()
        rows = np.flatnonzero(g.switch_remote)  # where the stuck-switch tool can be used
        sx, sy = v.to_screen(g.bus_x[g.switch_bus[rows]], g.bus_y[g.switch_bus[rows]])
        inside = np.isfinite(sx) & np.isfinite(sy) & (sx >= 0) & (sx < w) & (sy >= 0) & (sy < h)
        for x, y in zip(sx[inside].astype(int), sy[inside].astype(int)):
            pygame.draw.rect(self._canvas, THEME.device, (x - 2, y - 2, 5, 5), 1)

    def line_state(self, row: int) -> str:
        """What the map shows for line ``row``: ``live``, ``out`` (in both), ``unknown to the
        IDMS`` (out, believed on), ``believed out`` (on, believed out) or ``faulted``."""
        return ("live", "out", "unknown to the IDMS", "believed out", "faulted")[int(self._codes[row])]

    def line_at(self, x: int, y: int, *, radius: float = 10.0) -> int | None:
        """The line row nearest screen pixel (``x``, ``y``), within ``radius`` pixels."""
        g, v = self.geometry, self.view
        mx, my = x - self.map_rect.x, y - self.map_rect.y
        x0, y0 = v.to_screen(g.bus_x[g.line_from], g.bus_y[g.line_from])
        x1, y1 = v.to_screen(g.bus_x[g.line_to], g.bus_y[g.line_to])
        dx, dy = x1 - x0, y1 - y0
        t = np.clip(((mx - x0) * dx + (my - y0) * dy) / np.maximum(dx * dx + dy * dy, 1e-9), 0.0, 1.0)
        d = np.hypot(x0 + t * dx - mx, y0 + t * dy - my)
        k = int(np.nanargmin(d)) if len(d) else -1
        return k if k >= 0 and d[k] <= radius else None

    def switch_at(self, x: int, y: int, *, remote: bool = True, radius: float = 12.0) -> int | None:
        """The (remote) switch row nearest screen pixel (``x``, ``y``), within ``radius`` pixels."""
        g, v = self.geometry, self.view
        rows = np.flatnonzero(g.switch_remote) if remote else np.arange(len(g.switch_ids))
        if not len(rows):
            return None
        sx, sy = v.to_screen(g.bus_x[g.switch_bus[rows]], g.bus_y[g.switch_bus[rows]])
        d = np.hypot(sx - (x - self.map_rect.x), sy - (y - self.map_rect.y))
        k = int(np.argmin(d))
        return int(rows[k]) if d[k] <= radius else None

    def screen_of_line(self, row: int) -> tuple[int, int]:
        """Screen pixel at the middle of line ``row``."""
        g = self.geometry
        a, b = g.line_from[row], g.line_to[row]
        px, py = self.view.to_screen((g.bus_x[a] + g.bus_x[b]) / 2.0, (g.bus_y[a] + g.bus_y[b]) / 2.0)
        return int(round(px)) + self.map_rect.x, int(round(py)) + self.map_rect.y

    def screen_of_switch(self, row: int) -> tuple[int, int]:
        g = self.geometry
        b = g.switch_bus[row]
        px, py = self.view.to_screen(g.bus_x[b], g.bus_y[b])
        return int(round(px)) + self.map_rect.x, int(round(py)) + self.map_rect.y

    # -- events -----------------------------------------------------------------------------------

    def handle(self, event: pygame.event.Event) -> None:
        if event.type == pygame.QUIT:
            self.running = False
        elif event.type == pygame.KEYDOWN:
            self._key(event)
        elif event.type == pygame.MOUSEBUTTONDOWN and event.button == 1:
            self._press, self._dragged = event.pos, False
            if self._seek_at(event.pos):
                self._press = None
        elif event.type == pygame.MOUSEMOTION:
            self._mouse = event.pos
            if self._press is not None and event.buttons[0]:
                dx, dy = event.pos[0] - self._press[0], event.pos[1] - self._press[1]
                if self._dragged or abs(dx) + abs(dy) > 4:
                    self.view = self.view.panned(dx, dy)
                    self._press, self._dragged = event.pos, True
        elif event.type == pygame.MOUSEBUTTONUP and event.button == 1:
            if self._press is not None and not self._dragged:
                self.click(*event.pos)
            self._press = None
        elif event.type == pygame.MOUSEWHEEL:
            mx, my = self._mouse[0] - self.map_rect.x, self._mouse[1] - self.map_rect.y
            self.view = self.view.zoomed(1.25 ** event.y, mx, my)

    def click(self, x: int, y: int) -> None:
        for rect, action in self.buttons:
            if rect.collidepoint(x, y):
                self.button(action)
                return
        if self.map_rect.collidepoint(x, y) and self.tool is not None:
            self.apply_tool(x, y)

    def apply_tool(self, x: int, y: int) -> None:
        """The chosen tool's event at screen pixel (``x``, ``y``), sent to the session."""
        g, tool = self.geometry, self.tool
        if tool == "fault":
            row = self.line_at(x, y)
            if row is None:
                self.message = "fault: click on a line"
                return
            self._send("inject", kind="fault", args={"line": g.line_ids[row]})
        elif tool == "stuck_switch":
            row = self.switch_at(x, y)
            if row is None:
                self.message = "stuck switch: click on a remotely controlled switch"
                return
            self._send("inject", kind="stuck_switch", args={"device": g.switch_ids[row]})
        else:
            wx, wy = self.view.to_world(x - self.map_rect.x, y - self.map_rect.y)
            radius = CIRCLE_PX / self.view.scale
            args = {"x_m": wx, "y_m": wy, "radius_m": radius}
            args.update({"hours": 2.0} if tool == "comms_outage" else {"calls": 200, "minutes": 10.0})
            self._send("inject", kind=tool, args=args)

    def button(self, action: str) -> None:
        if action == "pause":
            self.toggle_pause()
        elif action.startswith("speed:"):
            self.set_speed(float(action.split(":")[1]))
        elif action == "run_to":
            self.run_to_next_hour()
        elif action.startswith("tool:"):
            name = action.split(":")[1]
            self.tool = None if self.tool == name else name
            self.message = TOOLS[name] + ": click the map" if self.tool else "no tool"
        elif action == "save":
            self.save_snapshot()
        elif action == "restore":
            self.restore_snapshot()
        elif action == "branch":
            self.branch()

    def toggle_pause(self) -> None:
        if self.source.live:
            self._send("resume" if self.status.get("paused") else "pause")
        else:
            self.source.playing = not self.source.playing
            self.message = "playing" if self.source.playing else "paused"

    def set_speed(self, x: float) -> None:
        if self.source.live:
            self._send("speed", x=x)
        else:
            self.source.speed = x
            self.message = f"replay speed x{x:g}"

    def run_to_next_hour(self) -> None:
        t = float(self.status.get("time_s", 0.0))
        self._send("run_to", time_s=(math.floor(t / 3600.0) + 1) * 3600.0)

    def save_snapshot(self) -> None:
        rec = self.status.get("recording", "")
        if not rec:
            self.message = "this session is not recorded: no snapshot"
            return
        t = float(self.status.get("time_s", 0.0))
        path = Path(rec).with_name(f"{Path(rec).stem}-{_hhmm(t).replace(':', '')}.snapshot.json")
        if self._send("snapshot_save", path=str(path)) is not None:
            self.snapshots.append(str(path))

    def restore_snapshot(self, path: str | None = None) -> None:
        path = path or (self.snapshots[-1] if self.snapshots else None)
        if path is None:
            self.message = "no snapshot saved yet (Ctrl+S saves one)"
            return
        self.message = f"restoring {path}: the session runs to its moment..."
        self._send("snapshot_restore", path=path)

    def branch(self) -> None:
        if self.source.live:
            self.message = "branch is for replays: save a snapshot (Ctrl+S) instead"
            return
        path = self.source.path.with_name(f"{self.source.path.stem}-branch-"
                                          f"{_hhmm(self.source.time_s).replace(':', '')}.snapshot.json")
        if self._send("branch", path=str(path)) is not None:
            self.message = f"branched: twin train {path}"

    def _send(self, cmd: str, **args: Any) -> Any:
        try:
            result = self.source.send(cmd, **args)
        except TwinError as err:
            self.message = f"{cmd}: {err}"
            return None
        self.message = result if isinstance(result, str) else f"{cmd}: {result}"
        self.refresh(force=True)
        return result

    def _key(self, event: pygame.event.Event) -> None:
        k, ctrl = event.key, bool(event.mod & pygame.KMOD_CTRL)
        if ctrl and k == pygame.K_s:
            self.save_snapshot()
        elif ctrl and k == pygame.K_o:
            self.restore_snapshot()
        elif k == pygame.K_SPACE:
            self.toggle_pause()
        elif k in SPEED_KEYS:
            self.set_speed(SPEED_KEYS[k])
        elif k == pygame.K_r and self.source.live:
            self.run_to_next_hour()
        elif k in _TOOL_KEYS:
            self.button(f"tool:{_TOOL_KEYS[k]}")
        elif k == pygame.K_ESCAPE:
            self.tool, self.show_help, self.message = None, False, "no tool"
        elif k == pygame.K_b:
            self.branch()
        elif k == pygame.K_g:
            self.view = self.home
        elif k in (pygame.K_PLUS, pygame.K_EQUALS, pygame.K_KP_PLUS):
            self.view = self.view.zoomed(1.5)
        elif k in (pygame.K_MINUS, pygame.K_KP_MINUS):
            self.view = self.view.zoomed(1 / 1.5)
        elif k in (pygame.K_LEFT, pygame.K_RIGHT) and not self.source.live:
            self.source.seek(self.source.time_s + (300.0 if k == pygame.K_RIGHT else -300.0))
            self.refresh(force=True)
        elif k in (pygame.K_LEFT, pygame.K_RIGHT, pygame.K_UP, pygame.K_DOWN):
            step = 80
            dx = {pygame.K_LEFT: step, pygame.K_RIGHT: -step}.get(k, 0)
            dy = {pygame.K_UP: step, pygame.K_DOWN: -step}.get(k, 0)
            self.view = self.view.panned(dx, dy)
        elif k == pygame.K_F1:
            self.show_help = not self.show_help

    def _seek_at(self, pos: tuple[int, int]) -> bool:
        """A press on the replay's seek bar seeks there."""
        if self.source.live:
            return False
        bar = self._seek_rect()
        if not bar.collidepoint(pos):
            return False
        self.source.seek((pos[0] - bar.x) / max(bar.width, 1) * self.source.end_s)
        self.refresh(force=True)
        return True

    def _seek_rect(self) -> pygame.Rect:
        h = self.screen.get_height()
        return pygame.Rect(160, h - BAR_H + 12, self.screen.get_width() - 320, 16)

    # -- the rest of the screen -------------------------------------------------------------------

    def _draw_top(self, s: pygame.Surface) -> None:
        st = self.status
        pygame.draw.rect(s, THEME.header, (0, 0, s.get_width(), TOP_H))
        run = "PAUSED" if st.get("paused") else f"x{st.get('speed', 0):g}"
        if st.get("until_s") is not None:
            run += f" to {self._clock(st['until_s'])}"
        mode = "INSTRUCTOR" if self.source.live else f"REPLAY {self.source.path.name}"
        left = f"{mode}   {st.get('clock', '')}   {run}"
        right = (f"world: {st.get('out_truth', 0):,} out   IDMS believes: {st.get('out_believed', 0):,} out   "
                 f"alarms unacknowledged: {st.get('alarms_unacknowledged', 0)}")
        s.blit(self.text.render(left, THEME.text, "bold"), (8, 6))
        s.blit(self.text.render(right, THEME.text), (s.get_width() - self.text.width(right) - 8, 6))

    def _draw_controls(self, s: pygame.Surface) -> None:
        x0, y = MAP_W + 8, TOP_H + 6
        self.buttons = []
        rows = [[("pause", "Play" if self.status.get("paused") else "Pause")]
                + [(f"speed:{x:g}", f"x{x:g}") for x in SPEED_KEYS.values()]
                + ([("run_to", "Run to hour")] if self.source.live else [("branch", "Branch (B)")]),
                [(f"tool:{t}", label) for t, label in (("fault", "Fault (F)"), ("comms_outage", "Comms loss (K)"),
                                                      ("stuck_switch", "Stuck (S)"), ("call_flood", "Call flood (L)"))]
                if self.source.live else [],
                [("save", "Save snapshot"), ("restore", "Restore last")] if self.source.live else []]
        for row in rows:
            x = x0
            for action, label in row:
                w = self.text.width(label) + 16
                rect = pygame.Rect(x, y, w, 24)
                on = action == f"tool:{self.tool}" or action == f"speed:{self.status.get('speed', 0):g}"
                pygame.draw.rect(s, THEME.selected if on else THEME.header, rect)
                pygame.draw.rect(s, THEME.panel_edge, rect, 1)
                s.blit(self.text.render(label, THEME.text), (x + 8, y + 4))
                self.buttons.append((rect, action))
                x += w + 6
            y += 30
        score = self.status.get("score") or {}
        if score:
            line = (f"score so far: {score.get('customer_minutes', 0):,.0f} customer-min, "
                    f"{score.get('safety', 0)} safety violations, {score.get('critical_missed', 0)} critical late, "
                    f"{score.get('alarms_unacknowledged', 0)} alarms unacked, crews idle "
                    f"{100 * (score.get('crew_idle') or 0):.0f}%")
            s.blit(self.text.render(self.text.fit(line, s.get_width() - x0 - 8, "small"), THEME.text, "small"),
                   (x0, y + 2))
            for k, v in enumerate((score.get("violations") or [])[:2]):
                s.blit(self.text.render(self.text.fit(v, s.get_width() - x0 - 8, "small"), THEME.overload, "small"),
                       (x0, y + 20 + 16 * k))

    def _draw_bar(self, s: pygame.Surface) -> None:
        h, w = s.get_height(), s.get_width()
        pygame.draw.rect(s, THEME.header, (0, h - BAR_H, w, BAR_H))
        if not self.source.live:
            bar = self._seek_rect()
            pygame.draw.rect(s, THEME.background, bar)
            frac = self.source.time_s / self.source.end_s if self.source.end_s else 0.0
            pygame.draw.rect(s, THEME.crew, (bar.x, bar.y, int(bar.width * frac), bar.height))
            pygame.draw.rect(s, THEME.panel_edge, bar, 1)
            s.blit(self.text.render(_hhmm(self.source.time_s), THEME.text, "bold"), (8, h - BAR_H + 12))
            s.blit(self.text.render(_hhmm(self.source.end_s), THEME.text), (bar.right + 10, h - BAR_H + 12))
        msg = self.text.fit(self.message, w - 16) if self.source.live else ""
        s.blit(self.text.render(msg, THEME.text), (8, h - BAR_H + 12))

    def _draw_help(self, s: pygame.Surface) -> None:
        lines = [line.strip() for line in (__doc__ or "").split("Keys:")[1].split(";")]
        box = pygame.Rect(60, 60, 700, 24 + 20 * len(lines))
        pygame.draw.rect(s, THEME.selected, box)
        pygame.draw.rect(s, THEME.panel_edge, box, 2)
        for k, line in enumerate(lines):
            s.blit(self.text.render(" ".join(line.split()), THEME.text), (box.x + 12, box.y + 12 + 20 * k))


def _hhmm(time_s: float | None) -> str:
    if time_s is None:
        return ""
    m = int(time_s // 60)
    return f"{m // 60:02d}:{m % 60:02d}"
