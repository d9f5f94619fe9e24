"""The map's view: which part of a layout is on screen, at what scale.

A :class:`View` maps layout coordinates (metres east/north for the geographic layout; columns and
rows for the schematic) to pixels of a map area ``width`` x ``height``: ``px = (x - cx) * scale +
width / 2``, and ``py = height / 2 - (y - cy) * scale`` where north is up (``y_down`` False) or
``+`` where rows grow downwards. Views are values: panning and zooming return new ones.

>>> v = View(cx=0.0, cy=0.0, scale=2.0, width=100, height=50)
>>> v.to_screen(10.0, 5.0)
(70.0, 15.0)
>>> v.to_world(70.0, 15.0)
(10.0, 5.0)
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

__all__ = ["View", "fit"]

MIN_SCALE, MAX_SCALE = 1e-4, 1e4


@dataclass(frozen=True)
class View:
    cx: float  # layout coordinates at the centre of the map area
    cy: float
    scale: float  # pixels per layout unit
    width: int
    height: int
    y_down: bool = False

    def to_screen(self, x, y):
        """Pixels of layout point(s) ``x``, ``y`` (floats or arrays)."""
        px = (np.asarray(x, float) - self.cx) * self.scale + self.width / 2.0
        dy = (np.asarray(y, float) - self.cy) * self.scale
        py = self.height / 2.0 + dy if self.y_down else self.height / 2.0 - dy
        if np.ndim(px) == 0:
            return float(px), float(py)
        return px, py

    def to_world(self, px: float, py: float) -> tuple[float, float]:
        """The layout point under pixel ``px``, ``py``."""
        x = self.cx + (px - self.width / 2.0) / self.scale
        dy = (py - self.height / 2.0) / self.scale
        return float(x), float(self.cy + dy if self.y_down else self.cy - dy)

    def panned(self, dx_px: float, dy_px: float) -> View:
        """The view moved so that the map slides by ``dx_px``, ``dy_px`` pixels (a drag)."""
        sy = 1.0 if self.y_down else -1.0
        return replace(self, cx=self.cx - dx_px / self.scale, cy=self.cy - sy * dy_px / self.scale)

    def zoomed(self, factor: float, px: float | None = None, py: float | None = None) -> View:
        """Zoomed by ``factor`` (>1 in) about pixel ``px``, ``py`` (the centre by default), which
        stays over the same point."""
        px = self.width / 2.0 if px is None else px
        py = self.height / 2.0 if py is None else py
        x, y = self.to_world(px, py)
        scale = float(np.clip(self.scale * factor, MIN_SCALE, MAX_SCALE))
        moved = replace(self, scale=scale)
        x2, y2 = moved.to_world(px, py)
        return replace(moved, cx=moved.cx + x - x2, cy=moved.cy + y - y2)

    def centred(self, x: float, y: float) -> View:
        return replace(self, cx=float(x), cy=float(y))

    def visible(self) -> tuple[float, float, float, float]:
        """``(x_min, y_min, x_max, y_max)`` of the layout on screen."""
        x0, y0 = self.to_world(0.0, 0.0)
        x1, y1 = self.to_world(float(self.width), float(self.height))
        return min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1)


def fit(bounds: tuple[float, float, float, float], width: int, height: int, *, y_down: bool = False,
        margin: float = 0.04) -> View:
    """The view that shows ``bounds`` whole in ``width`` x ``height`` pixels."""
    x0, y0, x1, y1 = bounds
    w, h = max(x1 - x0, 1e-9), max(y1 - y0, 1e-9)
    scale = min(width / w, height / h) * (1.0 - 2.0 * margin)
    return View((x0 + x1) / 2.0, (y0 + y1) / 2.0, float(scale), int(width), int(height), y_down)
