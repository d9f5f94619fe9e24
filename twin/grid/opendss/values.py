"""Reading the values of one object's assignments: numbers, length units, connections, states.

The readers of this package walk an object's :class:`~twin.grid.opendss.script.Setting` list and
parse each value with the helpers here. Inside ``with at(obj, s):`` any value error becomes a
:class:`~twin.errors.ParseError` that names the file, the line and the element of the assignment
(``Line.650632``: ``length=abc: ...``); :func:`fail` makes one directly.

Classes whose properties do not interact (controls, capacitors, protective devices) are read
with :func:`last_values`, the last text given to each property over its defaults, and
:func:`number_in` for each number of it.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager

from twin.errors import ParseError
from twin.grid.opendss import rpn
from twin.grid.opendss.script import DssObject, Setting

__all__ = ["SQRT3", "UNITS_M", "at", "complex_pair", "connection", "fail", "keyword", "last_values", "length_unit",
           "num", "number_in", "whole"]

SQRT3 = math.sqrt(3.0)

UNITS_M = {"mi": 1609.344, "kft": 304.8, "km": 1000.0, "m": 1.0, "ft": 0.3048, "in": 0.0254, "cm": 0.01,
           "mm": 0.001}
"""Metres in each length unit OpenDSS knows."""


@contextmanager
def at(obj: DssObject, s: Setting | None = None) -> Iterator[None]:
    """Turn a value error inside into a ParseError at the assignment (or the object)."""
    try:
        yield
    except ParseError:
        raise
    except (ValueError, KeyError, IndexError, TypeError, ZeroDivisionError) as err:
        file, line = (s.file, s.line) if s else (obj.file, obj.line)
        what = f"{s.prop}={s.text}: " if s else ""
        message = err.args[0] if isinstance(err, KeyError) and err.args else str(err)
        raise ParseError(f"{what}{message}", file=file, line=line, element=obj.label) from err


def fail(obj: DssObject, s: Setting | None, message: str, fix: str = "") -> ParseError:
    """A ParseError at the assignment ``s`` (or the object's definition), to raise."""
    file, line = (s.file, s.line) if s else (obj.file, obj.line)
    return ParseError(message, file=file, line=line, element=obj.label, fix=fix)


def num(s: Setting) -> float:
    return rpn.number(s.text, quoted=s.quoted)


def whole(s: Setting) -> int:
    return rpn.integer(s.text, quoted=s.quoted)


def keyword(s: Setting) -> str:
    return s.text.strip().lower()


def length_unit(s: Setting) -> str | None:
    """A key of :data:`UNITS_M`, or None for ``none`` (OpenDSS's abbreviations accepted)."""
    word = keyword(s)
    if word.startswith("no"):
        return None
    for prefix, unit in (("mi", "mi"), ("kf", "kft"), ("km", "km"), ("me", "m"), ("ft", "ft"), ("in", "in"),
                         ("cm", "cm"), ("mm", "mm")):
        if word.startswith(prefix):
            return unit
    if word == "m":
        return "m"
    raise ValueError(f"'{s.text}' is not a length unit (none, mi, kft, km, m, ft, in, cm, mm)")


def connection(s: Setting) -> str:
    """``"wye"`` or ``"delta"`` (also ``y``, ``ln``, ``ll``...)."""
    word = keyword(s)
    if word.startswith(("w", "y", "ln")):
        return "wye"
    if word.startswith(("d", "ll")):
        return "delta"
    raise ValueError(f"'{s.text}' is not a connection (wye or delta)")


def complex_pair(s: Setting) -> tuple[float, float]:
    """Real and imaginary parts of ``[r x]``."""
    values = rpn.numbers(s.text)
    if len(values) != 2:
        raise ValueError("give [real imaginary]")
    return values[0], values[1]


def last_values(obj: DssObject, defaults: dict[str, object]) -> tuple[dict[str, object], dict[str, Setting]]:
    """Last text of each property (for classes whose properties do not interact)."""
    values, where = dict(defaults), {}
    for s in obj.settings:
        values[s.prop] = s.text
        where[s.prop] = s
    return values, where


def number_in(obj: DssObject, values: dict[str, object], where: dict[str, Setting], key: str) -> float:
    """The number ``key`` holds in :func:`last_values`'s result; an error names its assignment."""
    s = where.get(key)
    with at(obj, s):
        return rpn.number(str(values[key]), quoted=bool(s and s.quoted))
