"""Checking plain data read from a file (a scenario's YAML) against what is allowed, collecting
every problem at once rather than stopping at the first.

A :class:`Checker` walks the data; each ``need``/``get`` call names a key, says what is allowed and
either returns the value or notes a :class:`Problem` (the key's path, the bad value, what is
allowed) and returns the default. The caller raises :class:`DataError` with all the problems at
the end (:meth:`Checker.raise_if_any`).

>>> c = Checker("s.yaml")
>>> c.number({"hours": -1}, "hours", default=24.0, low=0.0, path="")
24.0
>>> print(c.problems[0])
hours: -1 is not allowed (a number above 0)
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from twin.errors import TwinError

__all__ = ["Checker", "DataError", "Problem"]

_MISSING = object()


@dataclass(frozen=True)
class Problem:
    """One thing wrong: where (``path``, dotted, list items as ``[k]``), the value found, and what is allowed."""

    path: str
    value: Any
    message: str
    allowed: str = ""

    def __str__(self) -> str:
        shown = "" if self.value is _MISSING else f"{self.value!r} "
        return f"{self.path or '(top level)'}: {shown}{self.message}" + (f" ({self.allowed})" if self.allowed else "")


class DataError(TwinError):
    """A file's data with problems: every one of them, each naming its key, value and what is allowed."""

    def __init__(self, source: str, problems: list[Problem]) -> None:
        self.source, self.problems = source, list(problems)
        lines = "\n".join(f"  {p}" for p in self.problems)
        super().__init__(f"{source}: {len(self.problems)} problem{'s' if len(self.problems) != 1 else ''}\n{lines}")


class Checker:
    """Collects the problems of one file's data (see the module docstring)."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.problems: list[Problem] = []

    # -- noting -----------------------------------------------------------------------------------

    def problem(self, path: str, value: Any, message: str, allowed: str = "") -> None:
        if any(p.path == path and p.message == message for p in self.problems):
            return  # said once already (a required key asked for twice)
        self.problems.append(Problem(path, value, message, allowed))

    def raise_if_any(self) -> None:
        if self.problems:
            raise DataError(self.source, self.problems)

    # -- reading ----------------------------------------------------------------------------------

    def mapping(self, data: Any, path: str, *, known: Iterable[str], required: Iterable[str] = ()) -> dict:
        """``data`` as a mapping with only ``known`` keys and every ``required`` one; {} if it is not one."""
        if not isinstance(data, Mapping):
            self.problem(path, data, "is not a mapping", "key: value lines")
            return {}
        known = list(known)
        for key in data:
            if key not in known:
                near = difflib.get_close_matches(str(key), known, n=1)
                self.problem(_join(path, str(key)), _MISSING, "is not a key here",
                             (f"did you mean '{near[0]}'? " if near else "") + "allowed: " + ", ".join(known))
        for key in required:
            if key not in data:
                self.problem(_join(path, key), _MISSING, "is missing", "required")
        return dict(data)

    def text(self, data: Mapping, key: str, *, path: str, default: Any = _MISSING,
             choices: Iterable[str] | None = None) -> Any:
        value = self._value(data, key, path, default)
        if not isinstance(data, Mapping) or key not in data:  # absent: the default (noted if required)
            return None if value is _MISSING else value
        choices = list(choices) if choices is not None else None
        if not isinstance(value, str) or not value.strip():
            self.problem(_join(path, key), value, "is not allowed", "one of: " + ", ".join(choices) if choices
                         else "a text")
            return None if default is _MISSING else default
        if choices is not None and value not in choices:
            near = difflib.get_close_matches(value, choices, n=1)
            self.problem(_join(path, key), value, "is not allowed",
                         (f"did you mean '{near[0]}'? " if near else "") + "one of: " + ", ".join(choices))
            return None if default is _MISSING else default
        return value

    def number(self, data: Mapping, key: str, *, path: str, default: Any = _MISSING, low: float | None = None,
               high: float | None = None, whole: bool = False, low_inclusive: bool = False) -> Any:
        value = self._value(data, key, path, default)
        if value is _MISSING or key not in data:
            return None if value is _MISSING else value
        ok = isinstance(value, (int, float)) and not isinstance(value, bool) and value == value
        ok = ok and (not whole or float(value).is_integer())
        ok = ok and (low is None or value > low or (low_inclusive and value == low)) and (high is None or value <= high)
        if not ok:
            self.problem(_join(path, key), value, "is not allowed", _range(whole, low, high, low_inclusive))
            return None if default is _MISSING else default
        return int(value) if whole else float(value)

    def flag(self, data: Mapping, key: str, *, path: str, default: bool) -> bool:
        value = data.get(key, default) if isinstance(data, Mapping) else default
        if not isinstance(value, bool):
            self.problem(_join(path, key), value, "is not allowed", "true or false")
            return default
        return value

    def listing(self, data: Mapping, key: str, *, path: str) -> list:
        value = data.get(key, []) if isinstance(data, Mapping) else []
        if value is None:
            return []
        if not isinstance(value, list):
            self.problem(_join(path, key), value, "is not a list", "a list of '- ' items")
            return []
        return value

    def element(self, value: Any, path: str, *, kind: str, exists: Callable[[str], bool] | None,
                names: Callable[[], Iterable[str]] | None = None) -> None:
        """``value`` names an element of the model (a line, a device); suggests the nearest name."""
        if exists is None or not isinstance(value, str) or exists(value):
            return
        near = difflib.get_close_matches(value, list(names()), n=1) if names is not None else []
        self.problem(path, value, f"is no {kind} of the model",
                     f"did you mean '{near[0]}'?" if near else f"name a {kind} of the model")

    def _value(self, data: Mapping, key: str, path: str, default: Any) -> Any:
        if not isinstance(data, Mapping) or key not in data:
            if default is _MISSING:
                self.problem(_join(path, key), _MISSING, "is missing", "required")
            return default
        return data[key]


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _range(whole: bool, low: float | None, high: float | None, inclusive: bool) -> str:
    what = "a whole number" if whole else "a number"
    parts = []
    if low is not None:
        parts.append(f"{'at least' if inclusive else 'above'} {low:g}")
    if high is not None:
        parts.append(f"at most {high:g}")
    return what + (" " + " and ".join(parts) if parts else "")
