"""The trainee console: the dispatcher's screen over one IDMS.

Laid out for 1600x900: the clock and counts across the top; the map (:mod:`.mapview`) on the
left; the alarm list and the outage list on the right; trouble calls and crews below the map; the
desk's last message at the bottom. A device clicked on the map opens its dialog (state, SCADA,
tags, customers; Trip, Close, Tag, Untag, Dispatch); a control asks to be confirmed before it goes.

Keys (the frequent actions):

====================  ==========================================================
G                     geographic / schematic map
Home                  the whole network in view
arrows, + / -         pan, zoom (the mouse: drag, wheel)
Tab / Shift+Tab       the next / previous list
Up, Down, PgUp, PgDn  move in the list; Enter: show its device on the map
A / Shift+A           acknowledge the selected alarm / every alarm on the page
N                     the next outage on the map
T / C                 trip / close the selected device (asks to confirm)
H / U                 tag the selected device (hold) / remove its tags
D                     dispatch (the crew selected in the crew list, else the nearest) to the selected outage
O                     call out every crew off duty (a storm)
V                     power-flow overlay on / off
F                     approve and run the switching order proposed (FLISR in advisory mode)
Enter / Esc           confirm / cancel; Esc also closes the dialog
F1                    this list
====================  ==========================================================

The console turns every action into a :mod:`command <twin.idms.console.commands>` for its
:class:`~twin.idms.console.desk.Desk` and draws only from the desk's picture: what the IDMS believes.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np
import pygame

from twin.grid.schema import SwitchKind
from twin.idms.console.commands import (Acknowledge, CallOut, Close, Command, Dispatch, PlaceTag, RemoveTag, RunOrder,
                                        Trip)
from twin.idms.console.desk import Desk, Picture
from twin.idms.console.mapview import MapView, Overlay
from twin.idms.console.panels import Column, ListPanel, Row, draw_priority
from twin.idms.console.scene import build_scene
from twin.idms.console.text import Text
from twin.idms.console.theme import THEME

__all__ = ["Console"]

SIZE = (1600, 900)
REFRESH_S = 0.25  # wall seconds between pictures of the IDMS while a storm changes it every frame
# (an ISA-101 display updates its data every second or two; the map still moves every frame)
TOP_H, MAP_W, MAP_BOTTOM, MSG_H = 28, 1000, 640, 26
_KIND_NAMES = {int(k): k.name.replace("_", " ") for k in SwitchKind}
HELP = [line for line in __doc__.split("====================  ")[2].splitlines()[1:] if line.strip()][:17]


class Console:
    """The trainee console on ``desk`` (see the module docstring), drawing into ``screen`` (the
    display, or any surface when headless). ``status`` gives the run's speed line for the top bar
    ("x60", "paused"); ``overlay`` computes the power-flow overlay when asked (None: not offered)."""

    def __init__(self, desk: Desk, screen: pygame.Surface | None = None, *,
                 status: Callable[[], str] | None = None,
                 overlay: Callable[[], Overlay] | None = None) -> None:
        self.desk = desk
        self.screen = screen if screen is not None else pygame.Surface(SIZE)
        self.status = status or (lambda: "")
        self._overlay_fn = overlay
        self.text = Text(THEME.font_size, THEME.small_font_size)
        self.scene = build_scene(desk.idms.net, desk.idms.model.normal)
        w, h = self.screen.get_size()
        self.map = MapView(self.scene, pygame.Rect(0, TOP_H, MAP_W, MAP_BOTTOM - TOP_H), self.text)
        right_w = w - MAP_W
        self.alarms = ListPanel("ALARMS", (Column("time", 72), Column("device", 130), Column("alarm", right_w - 300),
                                           Column("state", 80)),
                                pygame.Rect(MAP_W, TOP_H, right_w, 300), self.text, markers=True)
        self.outages = ListPanel("OUTAGES", (Column("device", 120), Column("kind", 80), Column("state", 52),
                                             Column("out", 60), Column("calls", 50), Column("gasps", 54),
                                             Column("crew", 86), Column("ETR", 56), Column("crit", 40)),
                                 pygame.Rect(MAP_W, TOP_H + 300, right_w, MAP_BOTTOM - TOP_H - 300), self.text)
        bottom = h - MSG_H - MAP_BOTTOM
        self.calls = ListPanel("TROUBLE CALLS", (Column("time", 72), Column("customer", 110), Column("report", 130),
                                                 Column("outage", 120), Column("address", 350)),
                               pygame.Rect(0, MAP_BOTTOM, 800, bottom), self.text)
        self.crews = ListPanel("CREWS", (Column("crew", 110), Column("skill", 120), Column("status", 110),
                                         Column("job", 150), Column("since", 80), Column("duty", 200)),
                               pygame.Rect(800, MAP_BOTTOM, w - 800, bottom), self.text)
        self.lists = [self.alarms, self.outages, self.calls, self.crews]
        self.focus = 0
        self.alarms.focused = True
        self.pending: Command | None = None
        self.pending_text = ""
        self.show_help = False
        self.buttons: list[tuple[pygame.Rect, str]] = []
        self._press: tuple[int, int] | None = None
        self._dragged = False
        self._last: tuple[int, int] | None = None
        self.picture: Picture | None = None
        self.refresh_s = REFRESH_S
        self._picture_s = 0.0  # wall time the picture was last taken
        self._asked = False  # the dispatcher did something: show the result at the next frame
        self._rows_version = -1
        self._listed: dict[str, object] = {}  # what each list was last filled from
        self.frames = 0
        self.running = True

    # -- the loop ---------------------------------------------------------------------------------

    def step(self, now_s: float | None = None) -> None:
        """One frame: take the pygame events queued, then draw."""
        for event in pygame.event.get():
            self.handle(event)
        self.draw(now_s)

    def draw(self, now_s: float | None = None) -> None:
        """Draw the screen at wall time ``now_s``: the desk's picture is taken again every
        ``refresh_s`` (at once after the dispatcher's own input), the map moved every frame."""
        now_s = time.monotonic() if now_s is None else now_s
        if self.picture is None or self._asked or not 0.0 <= now_s - self._picture_s < self.refresh_s:
            self.picture = self.desk.picture()
            self._picture_s, self._asked = now_s, False
        picture = self.picture
        if picture.version != self._rows_version:
            self._fill_lists(picture)
            self._rows_version = picture.version
        s = self.screen
        s.fill(THEME.panel)
        self.map.draw(s, picture, now_s)
        flash = int(now_s * 2) % 2 == 0
        for panel in self.lists:
            panel.draw(s, flash)
        self._draw_top(s, picture)
        self._draw_message(s, picture)
        self.buttons = []
        if self.map.selected is not None:
            self._draw_dialog(s)
        if self.show_help:
            self._draw_help(s)
        self.frames += 1

    # -- events -----------------------------------------------------------------------------------

    def handle(self, event: pygame.event.Event) -> None:
        now = time.monotonic()
        if event.type in (pygame.KEYDOWN, pygame.MOUSEBUTTONUP):
            self._asked = True
        if event.type == pygame.QUIT:
            self.running = False
        elif event.type == pygame.KEYDOWN:
            self._key(event)
        elif event.type == pygame.MOUSEBUTTONDOWN and event.button == 1:
            self._press, self._last, self._dragged = event.pos, event.pos, False
        elif event.type == pygame.MOUSEMOTION and self._press is not None:
            dx, dy = event.pos[0] - self._last[0], event.pos[1] - self._last[1]
            if abs(event.pos[0] - self._press[0]) + abs(event.pos[1] - self._press[1]) > 4:
                self._dragged = True
            if self._dragged and self.map.rect.collidepoint(self._press):
                self.map.pan(dx, dy, now)
            self._last = event.pos
        elif event.type == pygame.MOUSEBUTTONUP and event.button == 1:
            if self._press is not None and not self._dragged:
                self.click(*event.pos)
            self._press = None
        elif event.type == pygame.MOUSEWHEEL:
            x, y = pygame.mouse.get_pos()
            if self.map.rect.collidepoint(x, y):
                self.map.zoom(1.25 ** event.y, x - self.map.rect.x, y - self.map.rect.y, now)
            else:
                for panel in self.lists:
                    if panel.rect.collidepoint(x, y):
                        panel.scroll_by(-3 * event.y)

    def click(self, x: int, y: int) -> None:
        """A click (press and release without a drag) at screen ``x``, ``y``."""
        for rect, action in self.buttons:
            if rect.collidepoint(x, y):
                self.button(action)
                return
        if self.map.rect.collidepoint(x, y):
            row = self.map.device_at(x - self.map.rect.x, y - self.map.rect.y)
            self.map.selected = row
            return
        for k, panel in enumerate(self.lists):
            index = panel.row_at(x, y)
            if panel.rect.collidepoint(x, y):
                self._set_focus(k)
            if index is not None:
                panel.selected = index
                return

    def button(self, action: str) -> None:
        if action == "confirm":
            self.confirm()
        elif action == "cancel":
            self.cancel()
        elif action == "dismiss":
            self.map.selected = None
            self.cancel()
        else:
            self._ask(action)

    def _key(self, event: pygame.event.Event) -> None:
        key, shift = event.key, bool(event.mod & pygame.KMOD_SHIFT)
        now = time.monotonic()
        panel = self.lists[self.focus]
        if self.pending is not None:
            if key in (pygame.K_RETURN, pygame.K_KP_ENTER, pygame.K_y):
                self.confirm()
            elif key in (pygame.K_ESCAPE, pygame.K_n):
                self.cancel()
            return
        if key == pygame.K_F1:
            self.show_help = not self.show_help
        elif key == pygame.K_ESCAPE:
            self.show_help = False
            self.map.selected = None
        elif key == pygame.K_g:
            self.map.set_mode("schematic" if self.map.mode == "geographic" else "geographic")
        elif key == pygame.K_HOME:
            self.map.view = self.map.home()
        elif key in (pygame.K_LEFT, pygame.K_RIGHT):
            self.map.pan(80 if key == pygame.K_LEFT else -80, 0, now)
        elif key in (pygame.K_PLUS, pygame.K_EQUALS, pygame.K_KP_PLUS):
            self.map.zoom(1.5, None, None, now)
        elif key in (pygame.K_MINUS, pygame.K_KP_MINUS):
            self.map.zoom(1 / 1.5, None, None, now)
        elif key == pygame.K_TAB:
            self._set_focus((self.focus + (-1 if shift else 1)) % len(self.lists))
        elif key == pygame.K_UP:
            panel.move(-1) if not shift else self.map.pan(0, 80, now)
        elif key == pygame.K_DOWN:
            panel.move(1) if not shift else self.map.pan(0, -80, now)
        elif key == pygame.K_PAGEUP:
            panel.move(-panel.visible_rows)
        elif key == pygame.K_PAGEDOWN:
            panel.move(panel.visible_rows)
        elif key in (pygame.K_RETURN, pygame.K_KP_ENTER):
            self.show_selected()
        elif key == pygame.K_a:
            self.acknowledge(page=shift)
        elif key == pygame.K_n:
            self.next_outage()
        elif key == pygame.K_t:
            self._ask("trip")
        elif key == pygame.K_c:
            self._ask("close")
        elif key == pygame.K_h:
            self._ask("tag")
        elif key == pygame.K_u:
            self._ask("untag")
        elif key == pygame.K_d:
            self._ask("dispatch")
        elif key == pygame.K_o:
            self._ask("call_out")
        elif key == pygame.K_v:
            self.toggle_overlay()
        elif key == pygame.K_f:
            self._ask("run_order")

    def _set_focus(self, k: int) -> None:
        self.lists[self.focus].focused = False
        self.focus = k
        self.lists[k].focused = True

    # -- actions ----------------------------------------------------------------------------------

    def selected_switch(self) -> str | None:
        row = self.map.selected
        return None if row is None else str(self.scene.net.switch.ids[row])

    def select_device(self, device: str, *, centre: bool = True) -> bool:
        """Select a switching device (a switch id or a SCADA device id) and show it on the map."""
        net = self.scene.net
        info = self.desk.idms.scada.devices.get(device)
        switch = info.element.split(".", 1)[1] if info is not None and info.element.startswith("switch.") else device
        row = net.switch.get(switch)
        if row is None:
            return False
        self.map.selected = row
        if centre:
            lay = self.map.layout
            if np.isfinite(lay.device_x[row]):
                self.map.view = self.map.view.centred(lay.device_x[row], lay.device_y[row])
        return True

    def show_selected(self) -> None:
        """Enter on a list: its row's device on the map."""
        key = self.lists[self.focus].selected_key()
        picture = self.picture
        if key is None or picture is None:
            return
        if self.lists[self.focus] is self.alarms:
            alarm = next((a for a in picture.alarms if a.id == key), None)
            if alarm is not None:
                self.select_device(alarm.device)
        elif self.lists[self.focus] is self.outages:
            rec = next((r for r in picture.outages if r.id == key), None)
            if rec is not None:
                self._show_outage(rec)
        elif self.lists[self.focus] is self.crews:
            status = next((c for c in picture.crews if c.crew == key), None)
            if status is not None and self.map.mode == "geographic":
                self.map.view = self.map.view.centred(status.x_m, status.y_m)

    def _show_outage(self, rec) -> None:
        if not self.select_device(rec.device):
            xy = self.desk.idms.oms.device_xy(rec.device)
            if xy is not None and self.map.mode == "geographic":
                self.map.view = self.map.view.centred(*xy)

    def next_outage(self) -> None:
        picture = self.picture or self.desk.picture()
        if not picture.outages:
            return
        self._set_focus(1)
        if self.outages.keys:
            self.outages.move(1) if self.outages.selected_key() else None
        self.outages.selected = self.outages.selected % max(1, len(self.outages.keys))
        rec = next((r for r in picture.outages if r.id == self.outages.selected_key()), None)
        if rec is not None:
            self._show_outage(rec)

    def acknowledge(self, *, page: bool = False) -> None:
        """Acknowledge the selected alarm, or every alarm on the alarm list's page."""
        if page:
            ids = tuple(r.key for r in self.alarms.page())
        else:
            key = self.alarms.selected_key()
            ids = (key,) if key else ()
        if ids:
            self.desk.execute(Acknowledge(ids))

    def toggle_overlay(self) -> None:
        if self.map.overlay is not None:
            self.map.overlay = None
            self.desk.say("power-flow overlay off")
        elif self._overlay_fn is None:
            self.desk.say("no power flow is offered on this console")
        else:
            started = time.perf_counter()
            self.map.overlay = self._overlay_fn()
            n_low = int((self.map.overlay.bus_voltage < 0).sum())
            n_high = int((self.map.overlay.bus_voltage > 0).sum())
            n_over = int(self.map.overlay.edge_overloaded.sum())
            self.desk.say(f"power flow: {n_low} buses low, {n_high} high, {n_over} segments overloaded "
                          f"({(time.perf_counter() - started) * 1000:.0f} ms)")

    def _target_outage(self):
        """The outage an action is about: the one selected in the outage list while it has the
        focus, else the one at the selected device."""
        picture = self.picture or self.desk.picture()
        if self.lists[self.focus] is self.outages and self.outages.selected_key():
            return next((r for r in picture.outages if r.id == self.outages.selected_key()), None)
        switch = self.selected_switch()
        if switch is not None:
            return next((r for r in picture.outages if r.device == switch), None)
        return None

    def _ask(self, action: str) -> None:
        """Prepare a command and ask the dispatcher to confirm it."""
        switch = self.selected_switch()
        command, text = None, ""
        if action in ("trip", "close", "tag", "untag"):
            if switch is None:
                self.desk.say(f"{action}: select a device on the map first")
                return
            if action == "trip":
                command, text = Trip(switch), f"TRIP {switch}"
            elif action == "close":
                command, text = Close(switch), f"CLOSE {switch}"
            elif action == "tag":
                command, text = PlaceTag(switch, "hold", "crew working: hold"), f"place a HOLD tag on {switch}"
            else:
                tags = [t for t in self.desk.idms.scada.controls.tags() if t.device in
                        (switch, self.desk.scada_device(switch))]
                if not tags:
                    self.desk.say(f"{switch} carries no tag")
                    return
                command, text = RemoveTag(tags[0].id), f"remove tag {tags[0].id} from {switch}"
        elif action == "dispatch":
            rec = self._target_outage()
            if rec is None:
                self.desk.say("dispatch: select an outage (or the device of one) first")
                return
            crew = self.crews.selected_key() if self.lists[self.focus] is self.crews else None
            picture = self.picture or self.desk.picture()
            status = next((c for c in picture.crews if c.crew == crew), None)
            if status is None or status.activity.value != "available":
                crew = self.desk.nearest_crew(rec)
            if not crew:
                self.desk.say(f"dispatch to {rec.id}: no crew on duty is free")
                return
            command, text = Dispatch(crew, rec.id), f"DISPATCH {crew} to {rec.id} at {rec.device}"
        elif action == "call_out":
            off = sum(1 for c in (self.picture or self.desk.picture()).crews if not c.on_duty)
            command, text = CallOut(), f"CALL OUT the {off} crews off duty"
        elif action == "run_order":
            order = self.desk.proposed_order()
            if order is None:
                self.desk.say("no switching order waits for approval")
                return
            command, text = RunOrder(order.id), f"APPROVE AND RUN {order.id}: {order.title}"
        if command is not None:
            self.pending, self.pending_text = command, text

    def confirm(self) -> None:
        if self.pending is not None:
            command, self.pending = self.pending, None
            self.desk.execute(command)

    def cancel(self) -> None:
        if self.pending is not None:
            self.desk.say(f"cancelled: {self.pending_text}")
        self.pending = None

    # -- lists ------------------------------------------------------------------------------------

    def _fill_lists(self, picture: Picture) -> None:
        """Each list given its items again where what it lists has changed (rows are made only
        for the page on screen)."""
        desk, listed = self.desk, self._listed
        if listed.get("alarms") != picture.alarms:
            unacked = sum(1 for a in picture.alarms if not a.acknowledged)
            self.alarms.set_items(picture.alarms, [a.id for a in picture.alarms], self._alarm_row,
                                  f"{len(picture.alarms)} ({unacked} unacknowledged)")
        if listed.get("outages") != picture.outages:
            out = sum(r.customers_out for r in picture.outages)
            self.outages.set_items(picture.outages, [r.id for r in picture.outages], self._outage_row,
                                   f"{len(picture.outages)} active, {out:,} customers out")
        taken = len(desk.idms.oms.trouble_calls)
        if listed.get("calls") != (taken, picture.calls):
            self.calls.set_items(picture.calls, [c.id for c, _ in picture.calls], self._call_row, f"{taken:,} taken")
        if listed.get("crews") != picture.crews:
            on_duty = sum(1 for c in picture.crews if c.on_duty)
            self.crews.set_items(picture.crews, [c.crew for c in picture.crews], self._crew_row,
                                 f"{on_duty} of {len(picture.crews)} on duty")
        self._listed = {"alarms": picture.alarms, "outages": picture.outages, "calls": (taken, picture.calls),
                        "crews": picture.crews}

    def _alarm_row(self, a) -> Row:
        return Row(a.id, (self.desk.hhmm(a.raised_s), a.device, a.text,
                          ("UNACK" if not a.acknowledged else "ack") + ("" if a.active else " clr")),
                   priority=a.priority, flashing=not a.acknowledged, dim=a.acknowledged, bold=not a.acknowledged)

    def _outage_row(self, r) -> Row:
        return Row(r.id, (r.device, r.device_kind, r.state.value[:4].upper(), f"{r.customers_out:,}", str(r.calls),
                          str(r.gasps), r.crew or ("" if not r.hazard else "HAZARD"), self.desk.etr_text(r),
                          str(r.critical_out) if r.critical_out else ""),
                   bold=r.hazard or r.critical_out > 0)

    def _call_row(self, item) -> Row:
        c, outage = item
        return Row(c.id, (self.desk.hhmm(c.time_s), c.service_point, c.report.value.replace("_", " "), outage,
                          c.address), bold=c.hazard)

    def _crew_row(self, c) -> Row:
        return Row(c.crew, (c.crew, c.skill.value, c.activity.value.replace("_", " "), c.device,
                            self.desk.hhmm(self.desk.crew_since.get(c.crew, c.time_s)),
                            "on duty" if c.on_duty else "off duty"), dim=not c.on_duty)

    # -- the rest of the screen -------------------------------------------------------------------

    def _draw_top(self, s: pygame.Surface, picture: Picture) -> None:
        th, text = THEME, self.text
        w = s.get_width()
        pygame.draw.rect(s, th.header, (0, 0, w, TOP_H))
        total = len(self.scene.net.service_point)
        out = sum(r.customers_out for r in picture.outages)  # outage management's count (predicted too)
        status = self.status()
        left = f"{self.desk.clock_text(self.desk.idms.clock.now())}   {status}"
        s.blit(text.render(left, th.text, "bold"), (8, 5))
        mid = (f"{self.map.mode}   customers out {out:,} of {total:,}   outages {len(picture.outages)}   "
               f"crews on duty {sum(1 for c in picture.crews if c.on_duty)}")
        s.blit(text.render(mid, th.text), (430, 6))
        unacked = [a for a in picture.alarms if not a.acknowledged]
        if unacked:
            top = min(a.priority for a in unacked)
            draw_priority(s, top, (w - 190, TOP_H // 2))
            s.blit(text.render(f"{len(unacked)} unacknowledged", th.text, "bold"), (w - 178, 5))
        if "PAUSED" in status.upper():
            pygame.draw.rect(s, th.abnormal, (0, 0, w, TOP_H), 3)

    def _draw_message(self, s: pygame.Surface, picture: Picture) -> None:
        th = THEME
        w, h = s.get_size()
        pygame.draw.rect(s, th.header, (0, h - MSG_H, w, MSG_H))
        if self.pending is not None:
            pygame.draw.rect(s, th.abnormal, (0, h - MSG_H, w, MSG_H))
            s.blit(self.text.render(f"CONFIRM: {self.pending_text}?   Enter = yes   Esc = no", th.text, "bold"),
                   (8, h - MSG_H + 5))
        elif picture.messages:
            t, message = picture.messages[-1]
            s.blit(self.text.render(f"{self.desk.clock_text(t)[-8:]}  {message}", th.text), (8, h - MSG_H + 5))
        s.blit(self.text.render("F1 keys", th.text_dim, "small"), (w - 70, h - MSG_H + 6))

    def _draw_dialog(self, s: pygame.Surface) -> None:
        th, text = THEME, self.text
        switch = self.selected_switch()
        row = self.map.selected
        lines = self.desk.device_lines(switch)
        rect = pygame.Rect(self.map.rect.x + 8, self.map.rect.y + 8, 440, 46 + 18 * len(lines) + 40)
        pygame.draw.rect(s, th.panel, rect)
        pygame.draw.rect(s, th.text, rect, 2)
        kind = _KIND_NAMES.get(int(self.scene.switch_kind[row]), "device")
        s.blit(text.render(f"{kind.upper()} {switch}", th.text, "bold"), (rect.x + 8, rect.y + 6))
        s.blit(text.render(f"feeder {self.desk.idms.model.feeder_of(switch) or '-'}", th.text_dim, "small"),
               (rect.x + 8, rect.y + 26))
        y = rect.y + 44
        for line in lines:
            colour = th.abnormal if line.startswith("TAG") else th.text
            s.blit(text.render(text.fit(line, rect.width - 16), colour), (rect.x + 8, y))
            y += 18
        x = rect.x + 8
        buttons = [("trip", "Trip T"), ("close", "Close C"), ("tag", "Tag H"), ("untag", "Untag U"),
                   ("dispatch", "Dispatch D"), ("dismiss", "X")]
        if self.pending is not None:
            buttons = [("confirm", "Confirm Enter"), ("cancel", "Cancel Esc")]
        for action, label in buttons:
            bw = text.width(label) + 14
            b = pygame.Rect(x, y + 6, bw, 24)
            pygame.draw.rect(s, th.abnormal if action == "confirm" else th.header, b)
            pygame.draw.rect(s, th.text, b, 1)
            s.blit(text.render(label, th.text), (b.x + 7, b.y + 3))
            self.buttons.append((b, action))
            x += bw + 6

    def _draw_help(self, s: pygame.Surface) -> None:
        th = THEME
        rect = pygame.Rect(300, 120, 900, 26 + 20 * len(HELP))
        pygame.draw.rect(s, th.panel, rect)
        pygame.draw.rect(s, th.text, rect, 2)
        for k, line in enumerate(HELP):
            s.blit(self.text.render(line.rstrip(), th.text), (rect.x + 12, rect.y + 12 + 20 * k))
