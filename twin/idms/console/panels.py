"""The console's lists: alarms, outages, trouble calls and crews, as tables of text rows.

A :class:`ListPanel` draws a title, a header and the rows that fit, with one row selected, and keeps
the drawn surface until its rows, selection, scroll or focus change. Its rows are made from their
items only when shown (:meth:`ListPanel.set_items`): a storm's hundreds of alarms and calls cost
only the page on screen. The alarm list adds each
alarm's priority marker (colour and shape, :mod:`~twin.idms.console.theme`) and flashes the
markers of alarms not yet acknowledged (ISA-18.2); acknowledged alarms are drawn dim.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

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


class _Rows(Sequence):
    """The rows of a list, each made from its item the first time it is asked for."""

    def __init__(self, items: Sequence[Any], make: Callable[[Any], Row]) -> None:
        self._items, self._make, self._made = items, make, {}

    def __len__(self) -> int:
        return len(self._items)

    def __getitem__(self, k):
        if isinstance(k, slice):
            return tuple(self[i] for i in range(*k.indices(len(self))))
        if k < 0:
            k += len(self)
        row = self._made.get(k)
        if row is None:
            row = self._made[k] = self._make(self._items[k])
        return row


class ListPanel:
    """A titled table over ``rect`` (see the module docstring)."""

    MARKER_W = 18

    def __init__(self, title: str, columns: tuple[Column, ...], rect: pygame.Rect, text: Text, *,
                 markers: bool = False) -> None:
        self.title, self.columns, self.rect, self.text = title, columns, pygame.Rect(rect), text
        self.markers = markers
        self.rows: Sequence[Row] = ()
        self.keys: Sequence[str] = ()
        self.selected = 0
        self.scroll = 0
        self.focused = False
        self.summary = ""
        self._version = 0  # counts the row sets given
        self._surface = pygame.Surface(self.rect.size)
        self._key = None

    @property
    def visible_rows(self) -> int:
        return max(1, (self.rect.height - 2 * THEME.row_h - 4) // THEME.row_h)

    def set_rows(self, rows: tuple[Row, ...], summary: str = "") -> None:
        """The rows, made already."""
        self.set_items(rows, [r.key for r in rows], lambda row: row, summary)

    def set_items(self, items: Sequence[Any], keys: Sequence[str], make: Callable[[Any], Row],
                  summary: str = "") -> None:
        """The list's items, their keys (what each stands for) and how a row is made from one;
        the selection stays on the same key."""
        keep = self.keys[self.selected] if self.keys and self.selected < len(self.keys) else None
        self.rows, self.keys, self.summary = _Rows(items, make), list(keys), summary
        self._version += 1
        if keep is not None:
            try:
                self.selected = self.keys.index(keep)
            except ValueError:
                pass
        self.selected = min(self.selected, max(0, len(self.keys) - 1))
        self._follow()

    def selected_key(self) -> str | None:
        return self.keys[self.selected] if self.keys else None

    def move(self, delta: int) -> None:
        if self.keys:
            self.selected = max(0, min(len(self.keys) - 1, self.selected + delta))
            self._follow()

    def _follow(self) -> None:
        n = self.visible_rows
        if self.selected < self.scroll:
            self.scroll = self.selected
        elif self.selected >= self.scroll + n:
            self.scroll = self.selected - n + 1
        self.scroll = max(0, min(self.scroll, max(0, len(self.keys) - n)))

    def scroll_by(self, delta: int) -> None:
        self.scroll = max(0, min(self.scroll + delta, max(0, len(self.keys) - self.visible_rows)))

    def page(self) -> tuple[Row, ...]:
        """The rows on screen."""
        return tuple(self.rows[self.scroll:self.scroll + self.visible_rows])

    def row_at(self, x: int, y: int) -> int | None:
        """Index (in :attr:`rows`) of the row under screen point ``x``, ``y``."""
        if not self.rect.collidepoint(x, y):
            return None
        k = (y - self.rect.y - 2 * THEME.row_h - 2) // THEME.row_h
        if k < 0:
            return None
        k += self.scroll
        return k if k < len(self.keys) else None

    def draw(self, screen: pygame.Surface, flash_on: bool) -> None:
        key = (self._version, self.selected, self.scroll, self.focused, self.summary,
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
