"""The console's lists: alarms, outages, trouble calls and crews, as tables of text rows.

A :class:`ListPanel` draws a title, a header and the rows that fit, with one row selected, and keeps
the drawn surface until its rows, selection, scroll or focus change. The alarm list adds each
alarm's priority marker (colour and shape, :mod:`~twin.idms.console.theme`) and flashes the
markers of alarms not yet acknowledged (ISA-18.2); acknowledged alarms are drawn dim.
"""

from __future__ import annotations

from dataclasses import dataclass

import pygame

from twin.idms.console.text import Text
from twin.idms.console.theme import THEME

__all__ = ["Column", "ListPanel", "Row", "draw_priority"]


@dataclass(frozen=True)
class Column:
    title: str
    width: int  # pixels


@dataclass(frozen=True)
class Row:
    """One row: its cells, a key (what it stands for: an alarm id, an outage id...), the priority
    marker to draw (0: none) and whether it flashes, is dim or abnormal (drawn bold)."""

    key: str
    cells: tuple[str, ...]
    priority: int = 0
    flashing: bool = False
    dim: bool = False
    bold: bool = False


def draw_priority(surface: pygame.Surface, priority: int, centre: tuple[int, int], *, size: int = 6) -> None:
    """An alarm priority marker (1..4): colour and shape both tell it."""
    k = max(1, min(4, priority)) - 1
    colour, shape = THEME.priority[k], THEME.priority_shape[k]
    x, y = centre
    if shape == "triangle":
        pts = [(x, y - size), (x + size, y + size - 1), (x - size, y + size - 1)]
        pygame.draw.polygon(surface, colour, pts)
        pygame.draw.polygon(surface, THEME.text, pts, 1)
    elif shape == "diamond":
        pts = [(x, y - size), (x + size, y), (x, y + size), (x - size, y)]
        pygame.draw.polygon(surface, colour, pts)
        pygame.draw.polygon(surface, THEME.text, pts, 1)
    elif shape == "square":
        pygame.draw.rect(surface, colour, (x - size + 1, y - size + 1, 2 * size - 2, 2 * size - 2))
        pygame.draw.rect(surface, THEME.text, (x - size + 1, y - size + 1, 2 * size - 2, 2 * size - 2), 1)
    else:
        pygame.draw.circle(surface, colour, (x, y), size - 1)
        pygame.draw.circle(surface, THEME.text, (x, y), size - 1, 1)


class ListPanel:
    """A titled table over ``rect`` (see the module docstring)."""

    MARKER_W = 18

    def __init__(self, title: str, columns: tuple[Column, ...], rect: pygame.Rect, text: Text, *,
                 markers: bool = False) -> None:
        self.title, self.columns, self.rect, self.text = title, columns, pygame.Rect(rect), text
        self.markers = markers
        self.rows: tuple[Row, ...] = ()
        self.selected = 0
        self.scroll = 0
        self.focused = False
        self.summary = ""
        self._surface = pygame.Surface(self.rect.size)
        self._key = None

    @property
    def visible_rows(self) -> int:
        return max(1, (self.rect.height - 2 * THEME.row_h - 4) // THEME.row_h)

    def set_rows(self, rows: tuple[Row, ...], summary: str = "") -> None:
        keep = self.rows[self.selected].key if self.rows and self.selected < len(self.rows) else None
        self.rows, self.summary = rows, summary
        if keep is not None:
            at = next((k for k, r in enumerate(rows) if r.key == keep), None)
            self.selected = at if at is not None else min(self.selected, max(0, len(rows) - 1))
        self.selected = min(self.selected, max(0, len(rows) - 1))
        self._follow()

    def selected_key(self) -> str | None:
        return self.rows[self.selected].key if self.rows else None

    def move(self, delta: int) -> None:
        if self.rows:
            self.selected = max(0, min(len(self.rows) - 1, self.selected + delta))
            self._follow()

    def _follow(self) -> None:
        n = self.visible_rows
        if self.selected < self.scroll:
            self.scroll = self.selected
        elif self.selected >= self.scroll + n:
            self.scroll = self.selected - n + 1
        self.scroll = max(0, min(self.scroll, max(0, len(self.rows) - n)))

    def scroll_by(self, delta: int) -> None:
        self.scroll = max(0, min(self.scroll + delta, max(0, len(self.rows) - self.visible_rows)))

    def page(self) -> tuple[Row, ...]:
        """The rows on screen."""
        return self.rows[self.scroll:self.scroll + self.visible_rows]

    def row_at(self, x: int, y: int) -> int | None:
        """Index (in :attr:`rows`) of the row under screen point ``x``, ``y``."""
        if not self.rect.collidepoint(x, y):
            return None
        k = (y - self.rect.y - 2 * THEME.row_h - 2) // THEME.row_h
        if k < 0:
            return None
        k += self.scroll
        return k if k < len(self.rows) else None

    def draw(self, screen: pygame.Surface, flash_on: bool) -> None:
        key = (self.rows, self.selected, self.scroll, self.focused, self.summary,
               flash_on if any(r.flashing for r in self.page()) else None)
        if key != self._key:
            self._compose(flash_on)
            self._key = key
        screen.blit(self._surface, self.rect.topleft)

    def _compose(self, flash_on: bool) -> None:
        th, s, text = THEME, self._surface, self.text
        w, h = self.rect.size
        s.fill(th.panel)
        pygame.draw.rect(s, th.header, (0, 0, w, th.row_h + 2))
        title = f"{self.title}  {self.summary}".rstrip()
        s.blit(text.render(text.fit(title, w - 8, "bold"), th.text, "bold"), (4, 1))
        x = 4 + (self.MARKER_W if self.markers else 0)
        y = th.row_h + 3
        for col in self.columns:
            s.blit(text.render(text.fit(col.title, col.width - 4, "small"), th.text_dim, "small"), (x, y + 2))
            x += col.width
        pygame.draw.line(s, th.panel_edge, (0, 2 * th.row_h + 2), (w, 2 * th.row_h + 2))
        y = 2 * th.row_h + 4
        for k, row in enumerate(self.page()):
            index = self.scroll + k
            if index == self.selected and self.rows:
                pygame.draw.rect(s, th.selected if self.focused else th.header, (0, y - 1, w, th.row_h))
            x = 4
            if self.markers:
                if row.priority and (not row.flashing or flash_on):
                    draw_priority(s, row.priority, (x + 7, y + th.row_h // 2 - 1))
                x += self.MARKER_W
            colour = th.text_dim if row.dim else th.text
            font = "bold" if row.bold else "normal"
            for col, cell in zip(self.columns, row.cells):
                if cell:
                    s.blit(text.render(text.fit(cell, col.width - 6, font), colour, font), (x, y))
                x += col.width
            y += th.row_h
        if not self.rows:
            s.blit(text.render("(none)", th.text_dim), (8, y))
        pygame.draw.rect(s, th.selected if self.focused else th.panel_edge, (0, 0, w, h), 2 if self.focused else 1)
