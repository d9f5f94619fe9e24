"""The map: the network operations model drawn geographically or schematically, with pan and zoom.

Layers, from the bottom: the halo over the areas active outages cover; the segments, in their
feeder's muted colour where the IDMS believes them energised and dark and dashed where not;
power-flow flags (overloaded segments thick red, buses out of the ANSI C84.1 range A as blue or red
rings); the switching devices (filled when closed, hollow when open; orange when out of their normal
state; a yellow flag when tagged; a cyan ring and ``?`` when their data is stale or their
communications failed, a purple ``M`` when entered by hand); then the crews, the selection and the
labels. Devices appear by importance as the view closes in: breakers and reclosers always, then
sectionalisers and switches, then fuses.

Everything but the crews and the selection is composed into one cached surface, remade only when
the view or the IDMS's picture changes (:mod:`twin.idms.console.raster` does the segments as array
work); while a drag or a zoom is in progress the cached surface is shifted or scaled and the exact
one made once the view holds still for a moment, so that the map follows the hand at full frame rate.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import pygame

from twin.grid.schema import SwitchKind
from twin.idms.console import raster
from twin.idms.console.desk import Picture
from twin.idms.console.scene import Layout, Scene
from twin.idms.console.text import Text
from twin.idms.console.theme import THEME, feeder_palette
from twin.idms.console.view import View, fit

__all__ = ["MapView", "Overlay"]

SETTLE_S = 0.12  # a view held this long is drawn exactly
# how many devices of each kind may be on screen before the kind is left out (most important first)
_SHOWN_UP_TO = {SwitchKind.breaker: 10**9, SwitchKind.recloser: 10**9, SwitchKind.sectionaliser: 1500,
                SwitchKind.load_break_switch: 1500, SwitchKind.disconnect: 1500, SwitchKind.fuse: 1200}


@dataclass(frozen=True)
class Overlay:
    """Power-flow flags to draw: per edge overloaded, per bus -1 under / +1 over the voltage range."""

    edge_overloaded: np.ndarray
    bus_voltage: np.ndarray

    @classmethod
    def of(cls, violations, topology) -> Overlay:
        """The flags of a :class:`~twin.idms.analysis.Violations` laid on ``topology``'s edges."""
        net = topology.net
        refs = np.empty(len(topology.edge_table), object)
        for table in np.unique(topology.edge_table):
            pick = topology.edge_table == table
            refs[pick] = [f"{table}.{i}" for i in net.table(str(table)).ids[topology.edge_row[pick]]]
        return cls(np.isin(refs, list(violations.overloaded.index)), violations.bus_voltage)


class MapView:
    """The map widget over ``rect`` of the screen (see the module docstring)."""

    def __init__(self, scene: Scene, rect: pygame.Rect, text: Text, *, mode: str = "geographic") -> None:
        self.scene, self.rect, self.text = scene, pygame.Rect(rect), text
        self.mode = mode if np.isfinite(scene.geographic.x0).any() or mode == "schematic" else "schematic"
        if not len(scene.geographic.seg_edge):
            self.mode = "schematic"
        self.views: dict[str, View] = {}
        self.view = self.home()
        self.palette = feeder_palette(max(1, len(scene.feeders)))
        topo = scene.topology
        self._edge_a, self._edge_b = topo.edge_from, topo.edge_to
        self._is_switch = topo.edge_table == "switch"
        self.overlay: Overlay | None = None
        self.canvas = pygame.Surface(self.rect.size)
        self._buffer = np.zeros((self.rect.height, self.rect.width), np.uint32)  # BGRA pixels, rows first
        self._packed_palette = raster.pack(self.palette)
        self._median_length = {lay.name: float(np.median(np.hypot(lay.x1 - lay.x0, lay.y1 - lay.y0)))
                               for lay in (scene.geographic, scene.schematic) if len(lay.x0)}
        self._samples = None  # (view, mode) -> px, py, seg, along
        self._drawn_key = None  # (view, mode, picture version, overlay id) of the canvas
        self._drawn_view: View | None = None
        self._moved_s = -1e9
        self.selected: int | None = None  # switch row
        self.highlight_bus: np.ndarray | None = None
        self.shown_devices = np.zeros(0, np.int64)  # switch rows drawn in the canvas now
        self.renders = 0  # exact canvas compositions (for the benchmark)

    # -- the view ---------------------------------------------------------------------------------

    @property
    def layout(self) -> Layout:
        return self.scene.layout(self.mode)

    def home(self) -> View:
        lay = self.layout
        return fit(lay.bounds(), self.rect.width, self.rect.height, y_down=lay.y_down)

    def set_mode(self, mode: str) -> None:
        """Geographic or schematic; each keeps its own view."""
        if mode == self.mode:
            return
        self.views[self.mode] = self.view
        self.mode = mode
        self.view = self.views.get(mode) or self.home()
        self._samples = None

    def pan(self, dx_px: float, dy_px: float, now_s: float) -> None:
        self.view = self.view.panned(dx_px, dy_px)
        self._moved_s = now_s

    def zoom(self, factor: float, px: float | None, py: float | None, now_s: float) -> None:
        self.view = self.view.zoomed(factor, px, py)
        self._moved_s = now_s

    def centre_on_bus(self, bus: int, *, scale: float | None = None) -> None:
        lay = self.layout
        x, y = lay.bus_x[bus], lay.bus_y[bus]
        if np.isfinite(x) and np.isfinite(y):
            self.view = self.view.centred(x, y)
            if scale is not None:
                self.view = dataclasses.replace(self.view, scale=scale)

    # -- drawing ----------------------------------------------------------------------------------

    def draw(self, screen: pygame.Surface, picture: Picture, now_s: float) -> None:
        """The map into ``screen`` at ``self.rect`` (the exact canvas, or the last one moved while
        the view is in motion)."""
        moving = now_s - self._moved_s < SETTLE_S and self._drawn_view is not None and \
            self._drawn_key is not None and self._drawn_key[1] == self.mode
        key = (self.view, self.mode, picture.version, id(self.overlay), self.selected)
        if moving and key[1:] == self._drawn_key[1:] and self.view != self._drawn_key[0]:
            self._draw_moved(screen)
        else:
            if key != self._drawn_key:
                self._compose(picture)
                self._drawn_key, self._drawn_view = key, self.view
            screen.blit(self.canvas, self.rect.topleft)
        clip = screen.get_clip()
        screen.set_clip(self.rect)
        self._draw_crews(screen, picture)
        screen.set_clip(clip)

    def _draw_moved(self, screen: pygame.Surface) -> None:
        """The canvas as drawn for the last exact view, scaled and shifted to the view now."""
        old, new = self._drawn_view, self.view
        ratio = new.scale / old.scale
        # where the old canvas's top-left lands in the new view
        x0, y0 = old.to_world(0.0, 0.0)
        nx, ny = new.to_screen(x0, y0)
        screen.fill(THEME.background, self.rect)
        clip = screen.get_clip()
        screen.set_clip(self.rect)
        if abs(ratio - 1.0) < 1e-9:
            screen.blit(self.canvas, (self.rect.x + round(nx), self.rect.y + round(ny)))
        else:
            w, h = self.rect.width * ratio, self.rect.height * ratio
            if w < 8 * self.rect.width and w > 8:
                scaled = pygame.transform.scale(self.canvas, (max(1, round(w)), max(1, round(h))))
                screen.blit(scaled, (self.rect.x + round(nx), self.rect.y + round(ny)))
        screen.set_clip(clip)

    def _geometry(self):
        key = (self.view, self.mode)
        if self._samples is None or self._samples[0] != key:
            lay, v = self.layout, self.view
            x0, y0 = v.to_screen(lay.x0, lay.y0)
            x1, y1 = v.to_screen(lay.x1, lay.y1)
            px, py, seg, along = raster.sample(x0, y0, x1, y1, v.width, v.height)
            self._samples = (key, px, py, lay.seg_edge[seg], along)
        return self._samples[1:]

    def _compose(self, picture: Picture) -> None:
        """Redraw the canvas for the view and picture now."""
        self.renders += 1
        th = THEME
        px, py, edge, along = self._geometry()
        a, b = self._edge_a[edge], self._edge_b[edge]
        live = picture.bus_live
        seg_live = np.where(self._is_switch[edge], live[a] | live[b], live[a] & live[b])
        seg_area = picture.area_bus[a] & picture.area_bus[b]
        width_px = self._stroke()
        w, h = self.rect.size
        buf = self._buffer
        buf.fill(raster.pack(th.background))
        if seg_area.any():  # the outage halo, under the lines
            index, _ = raster.thicken(px[seg_area], py[seg_area], 5, w, h)
            raster.paint(buf, index, raster.pack(th.outage_area))
        feeder = self.scene.edge_feeder[edge]
        colours = np.where(feeder >= 0, self._packed_palette[np.maximum(feeder, 0)], raster.pack(th.text_dim))
        colours[~seg_live] = raster.pack(th.de_energised)
        shown = seg_live | ((along // 4) % 2 == 0)  # de-energised: dashed
        index, src = raster.thicken(px[shown], py[shown], width_px, w, h)
        raster.paint(buf, index, colours[shown][src])
        if self.overlay is not None:
            over = self.overlay.edge_overloaded[edge]
            if over.any():
                index, _ = raster.thicken(px[over], py[over], 3, w, h)
                raster.paint(buf, index, raster.pack(th.overload))
        self.canvas.blit(pygame.image.frombuffer(buf, (w, h), "BGRA"), (0, 0))
        if self.overlay is not None:
            self._draw_voltage_flags(self.canvas)
        self._draw_devices(self.canvas, picture)

    def _stroke(self) -> int:
        seg_px = self._median_length.get(self.mode, 0.0) * self.view.scale
        return 1 if seg_px < 20 else 2 if seg_px < 80 else 3

    def _draw_voltage_flags(self, canvas: pygame.Surface) -> None:
        flags = self.overlay.bus_voltage
        rows = np.flatnonzero(flags != 0)
        if not len(rows):
            return
        lay = self.layout
        x, y = self.view.to_screen(lay.bus_x[rows], lay.bus_y[rows])
        inside = np.isfinite(x) & (x >= 0) & (x < self.rect.width) & (y >= 0) & (y < self.rect.height)
        for k in np.flatnonzero(inside)[:4000].tolist():
            colour = THEME.voltage_low if flags[rows[k]] < 0 else THEME.voltage_high
            pygame.draw.circle(canvas, colour, (int(x[k]), int(y[k])), 5, 2)

    def visible_devices(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Switch rows drawn at this view by importance, with their pixel positions in the map."""
        lay, kinds = self.layout, self.scene.switch_kind
        x, y = self.view.to_screen(lay.device_x, lay.device_y)
        inside = np.isfinite(x) & (x >= -6) & (x < self.rect.width + 6) & (y >= -6) & (y < self.rect.height + 6)
        keep = np.zeros(len(kinds), bool)
        for kind, limit in _SHOWN_UP_TO.items():
            mine = inside & (kinds == kind)
            if mine.sum() <= limit:
                keep |= mine
        rows = np.flatnonzero(keep)
        return rows, x[rows], y[rows]

    def _draw_devices(self, canvas: pygame.Surface, picture: Picture) -> None:
        rows, xs, ys = self.visible_devices()
        self.shown_devices = rows
        th = THEME
        label = len(rows) <= 80
        kinds, opens = self.scene.switch_kind[rows].tolist(), picture.switch_open[rows].tolist()
        abnormal, tagged = picture.switch_abnormal[rows].tolist(), picture.switch_tagged[rows].tolist()
        quality = picture.switch_quality[rows].tolist()
        for k, (r, x, y) in enumerate(zip(rows.tolist(), xs.tolist(), ys.tolist())):
            x, y = int(round(x)), int(round(y))
            kind, is_open = kinds[k], opens[k]
            colour = th.abnormal if abnormal[k] else th.device
            size = 6 if kind in (SwitchKind.breaker, SwitchKind.recloser) else 4
            fill = 0 if not is_open else 2
            if kind == SwitchKind.breaker:
                rect = pygame.Rect(x - size, y - size, 2 * size, 2 * size)
                if is_open:
                    pygame.draw.rect(canvas, th.background, rect)
                pygame.draw.rect(canvas, colour, rect, fill)
            elif kind == SwitchKind.recloser:
                if is_open:
                    pygame.draw.circle(canvas, th.background, (x, y), size)
                pygame.draw.circle(canvas, colour, (x, y), size, fill)
            elif kind == SwitchKind.fuse:
                rect = pygame.Rect(x - size, y - 2, 2 * size, 5)
                if is_open:
                    pygame.draw.rect(canvas, th.background, rect)
                pygame.draw.rect(canvas, colour, rect, 0 if not is_open else 1)
            else:
                pts = [(x, y - size - 1), (x + size + 1, y), (x, y + size + 1), (x - size - 1, y)]
                if is_open:
                    pygame.draw.polygon(canvas, th.background, pts)
                pygame.draw.polygon(canvas, colour, pts, 0 if not is_open else 2)
            if tagged[k]:
                pygame.draw.rect(canvas, th.tag, (x + size - 1, y - size - 6, 7, 7))
                pygame.draw.rect(canvas, th.text, (x + size - 1, y - size - 6, 7, 7), 1)
            q = quality[k]
            if q in (1, 2):
                pygame.draw.circle(canvas, th.stale, (x, y), size + 4, 1)
                canvas.blit(self.text.render("?", th.stale, "small"), (x + size + 2, y))
            elif q == 3:
                canvas.blit(self.text.render("M", th.manual, "small"), (x + size + 2, y))
            if r == self.selected:
                pygame.draw.rect(canvas, th.selected, (x - size - 5, y - size - 5, 2 * size + 10, 2 * size + 10), 2)
            if label:
                canvas.blit(self.text.render(str(self.scene.net.switch.ids[r]), th.text, "small"),
                            (x + size + 4, y - size - 2))

    def _draw_crews(self, screen: pygame.Surface, picture: Picture) -> None:
        if self.mode != "geographic":
            return
        th = THEME
        for status in picture.crews:
            if not status.on_duty:
                continue
            x, y = self.view.to_screen(status.x_m, status.y_m)
            if not (-10 <= x <= self.rect.width + 10 and -10 <= y <= self.rect.height + 10):
                continue
            x, y = int(x) + self.rect.x, int(y) + self.rect.y
            colour = th.crew if status.activity.value == "available" else th.crew_busy
            pygame.draw.rect(screen, colour, (x - 6, y - 4, 12, 8))
            pygame.draw.rect(screen, th.selected, (x - 6, y - 4, 12, 8), 1)
            if self.view.scale > 0.05:
                screen.blit(self.text.render(status.crew, colour, "small"), (x + 8, y - 6))

    # -- hit testing ------------------------------------------------------------------------------

    def device_at(self, px: float, py: float, *, radius: float = 10.0) -> int | None:
        """The switch row drawn nearest map pixel ``px``, ``py`` within ``radius`` pixels."""
        rows, xs, ys = self.visible_devices()
        if not len(rows):
            return None
        d = np.hypot(xs - px, ys - py)
        k = int(np.argmin(d))
        return int(rows[k]) if d[k] <= radius else None

    def device_position(self, row: int) -> tuple[float, float] | None:
        """Map pixel of switch row ``row`` at this view (None where the layout does not draw it)."""
        lay = self.layout
        x, y = self.view.to_screen(lay.device_x[row], lay.device_y[row])
        return (x, y) if np.isfinite(x) and np.isfinite(y) else None

    def edge_at(self, px: float, py: float, *, radius: float = 8.0) -> int | None:
        """The topology edge whose segment passes nearest map pixel ``px``, ``py`` (within ``radius``)."""
        lay = self.layout
        x0, y0 = self.view.to_screen(lay.x0, lay.y0)
        x1, y1 = self.view.to_screen(lay.x1, lay.y1)
        dx, dy = x1 - x0, y1 - y0
        length2 = np.maximum(dx * dx + dy * dy, 1e-12)
        t = np.clip(((px - x0) * dx + (py - y0) * dy) / length2, 0.0, 1.0)
        d = np.hypot(x0 + t * dx - px, y0 + t * dy - py)
        if not len(d):
            return None
        k = int(np.argmin(d))
        return int(lay.seg_edge[k]) if d[k] <= radius else None

    def bus_position(self, bus: int) -> tuple[float, float]:
        lay = self.layout
        return self.view.to_screen(lay.bus_x[bus], lay.bus_y[bus])
