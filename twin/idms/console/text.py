"""Text for the console: fonts loaded once and rendered strings kept, since rendering text is the
slowest thing a pygame frame does and most of a control-room screen does not change between frames."""

from __future__ import annotations

from collections import OrderedDict

import pygame

__all__ = ["Text"]


class Text:
    """Rendered strings by ``(text, colour, size)``, the ``limit`` most recent kept."""

    def __init__(self, size: int = 15, small: int = 13, *, limit: int = 4000) -> None:
        if not pygame.font.get_init():
            pygame.font.init()
        self.fonts = {"normal": pygame.font.SysFont("dejavusansmono,monospace", size),
                      "small": pygame.font.SysFont("dejavusansmono,monospace", small),
                      "bold": pygame.font.SysFont("dejavusansmono,monospace", size, bold=True)}
        self._cache: OrderedDict[tuple[str, tuple[int, int, int], str], pygame.Surface] = OrderedDict()
        self._fitted: dict[tuple[str, int, str], str] = {}
        self.limit = limit

    def render(self, text: str, colour: tuple[int, int, int], font: str = "normal") -> pygame.Surface:
        key = (text, tuple(colour), font)
        surface = self._cache.get(key)
        if surface is None:
            surface = self.fonts[font].render(text, True, colour)
            self._cache[key] = surface
            if len(self._cache) > self.limit:
                self._cache.popitem(last=False)
        else:
            self._cache.move_to_end(key)
        return surface

    def width(self, text: str, font: str = "normal") -> int:
        return self.fonts[font].size(text)[0]

    def fit(self, text: str, width: int, font: str = "normal") -> str:
        """``text`` cut (with an ellipsis) to fit ``width`` pixels."""
        key = (text, width, font)
        fitted = self._fitted.get(key)
        if fitted is None:
            fitted = text
            if self.width(text, font) > width:
                while fitted and self.width(fitted + "…", font) > width:
                    fitted = fitted[:-1]
                fitted += "…"
            if len(self._fitted) > self.limit:
                self._fitted.clear()
            self._fitted[key] = fitted
        return fitted
