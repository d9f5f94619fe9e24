"""Values in OpenDSS scripts: numbers, in-line RPN arithmetic, arrays and matrices.

The OpenDSS parser splits a command into tokens at blanks, commas and ``=``. A token that starts
with one of ``( [ { " '`` runs to the first matching ``) ] } " '`` (no nesting) and is *quoted*;
the lexer hands over its inner text with ``quoted=True``. What the text means depends on the
property that receives it:

* a number: a quoted token is a reverse-Polish expression evaluated on a stack, so
  ``(8 1000 /)`` is 0.008 and ``{156 1.25 *}`` is 195; a bare token must be a plain number;
* an array: the inner text split at blanks and commas, each element a number (or itself a quoted
  RPN expression): ``kvs=[7.2 0.12 0.12]``, ``conns=(wye, wye)``;
* a symmetric matrix: rows separated by ``|``, each row giving at least the lower-triangle
  elements, ``rmatrix=(0.3465 | 0.1560 0.3375 | 0.1580 0.1535 0.3414)``; without ``|`` the
  values are the lower triangle row by row (or the full matrix).

Operators follow OpenDSS's calculator: ``+ - * / ^`` and ``atan2`` take two operands; ``sqr
sqrt inv exp ln log10 sin cos tan asin acos atan`` one (angles in degrees); ``pi`` pushes pi;
``swap`` exchanges the top two values, ``rollup`` copies the top one and ``rolldn`` drops it.
Unlike OpenDSS (a ten-slot stack of zeros, so ``(5 +)`` silently gives 5) an expression that runs
out of operands, leaves more than one value or gives no finite number is an error here: it is
almost always a typing mistake.

>>> evaluate("1.051 0.88 0.001 3 * - - 115 12.47 / sqr *")  # doctest: +ELLIPSIS
14.798...
>>> matrix("1.3238 | 0.2066 1.3294", 2).tolist()
[[1.3238, 0.2066], [0.2066, 1.3294]]
"""

from __future__ import annotations

import math
import re

import numpy as np

__all__ = ["ValueSyntaxError", "evaluate", "number", "integer", "boolean", "split", "numbers", "matrix"]

QUOTES = {"(": ")", "[": "]", "{": "}", '"': '"', "'": "'"}


class ValueSyntaxError(ValueError):
    """A property value that cannot be read (the importer adds file, line and element)."""


_BINARY = {
    "+": lambda y, x: y + x,
    "-": lambda y, x: y - x,
    "*": lambda y, x: y * x,
    "/": lambda y, x: y / x,
    "^": math.pow,
    "atan2": lambda y, x: math.degrees(math.atan2(y, x)),
}
_UNARY = {
    "sqr": lambda x: x * x,
    "sqrt": math.sqrt,
    "inv": lambda x: 1.0 / x,
    "exp": math.exp,
    "ln": math.log,
    "log10": math.log10,
    "sin": lambda x: math.sin(math.radians(x)),
    "cos": lambda x: math.cos(math.radians(x)),
    "tan": lambda x: math.tan(math.radians(x)),
    "asin": lambda x: math.degrees(math.asin(x)),
    "acos": lambda x: math.degrees(math.acos(x)),
    "atan": lambda x: math.degrees(math.atan(x)),
}


def evaluate(expr: str) -> float:
    """Value of a reverse-Polish expression such as ``"0.00625 12 * 1 +"`` (1.075)."""
    stack: list[float] = []
    for token in split(expr):
        word = token.lower()
        try:
            if word in _BINARY:
                _need(stack, 2, word, expr)
                x = stack.pop()
                stack.append(_BINARY[word](stack.pop(), x))
            elif word in _UNARY:
                _need(stack, 1, word, expr)
                stack.append(_UNARY[word](stack.pop()))
            elif word == "pi":
                stack.append(math.pi)
            elif word == "swap":
                _need(stack, 2, word, expr)
                stack[-1], stack[-2] = stack[-2], stack[-1]
            elif word == "rollup":  # OpenDSS's roll-up copies X into Y
                _need(stack, 1, word, expr)
                stack.append(stack[-1])
            elif word == "rolldn":  # and roll-down drops X
                _need(stack, 1, word, expr)
                stack.pop()
            else:
                stack.append(_plain_float(token))
        except (ZeroDivisionError, OverflowError) as err:
            raise ValueSyntaxError(f"RPN expression '{expr}': {word} fails ({err})") from err
        except ValueError as err:
            if isinstance(err, ValueSyntaxError):
                raise
            raise ValueSyntaxError(f"RPN expression '{expr}': {word} is out of its domain ({err})") from err
    if len(stack) != 1:
        raise ValueSyntaxError(
            f"RPN expression '{expr}' leaves {len(stack)} values on the stack (it must leave exactly one)"
        )
    if not math.isfinite(stack[0]):
        raise ValueSyntaxError(f"RPN expression '{expr}' is not a finite number")
    return stack[0]


def _need(stack: list[float], n: int, word: str, expr: str) -> None:
    if len(stack) < n:
        raise ValueSyntaxError(f"RPN expression '{expr}': '{word}' needs {n} operand(s), the stack has {len(stack)}")


_FLOAT = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eEdD][+-]?\d+)?")


def _plain_float(text: str) -> float:
    if not _FLOAT.fullmatch(text):
        raise ValueSyntaxError(f"'{text}' is not a number")
    value = float(text.replace("d", "e").replace("D", "e"))
    if not math.isfinite(value):
        raise ValueSyntaxError(f"'{text}' is too large")
    return value


def number(text: str, *, quoted: bool = False) -> float:
    """A number token: quoted tokens are RPN expressions, bare ones plain numbers."""
    text = text.strip()
    if not text:
        raise ValueSyntaxError("empty value where a number is expected")
    if quoted or text[0] in QUOTES:
        return evaluate(_unquote(text) if text[0] in QUOTES else text)
    return _plain_float(text)


def integer(text: str, *, quoted: bool = False) -> int:
    """A whole number (OpenDSS rounds a decimal one)."""
    return int(round(number(text, quoted=quoted)))


_TRUE = ("y", "t", "1")
_FALSE = ("n", "f", "0")


def boolean(text: str) -> bool:
    """Yes/no: OpenDSS reads the first letter (y, t, 1 true; n, f, 0 false)."""
    word = text.strip().lower()
    if word[:1] in _TRUE:
        return True
    if word[:1] in _FALSE:
        return False
    raise ValueSyntaxError(f"'{text}' is not yes/no (use y, n, true or false)")


def split(text: str) -> list[str]:
    """Tokens of an array's inner text at blanks and commas; a quoted group stays one token.

    >>> split("wye, wye")
    ['wye', 'wye']
    >>> split("{156 1.25 *} 3")
    ['{156 1.25 *}', '3']
    """
    out: list[str] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch in " \t\r\n,":
            i += 1
        elif ch in QUOTES:
            end = text.find(QUOTES[ch], i + 1)
            if end < 0:
                raise ValueSyntaxError(f"'{ch}' opened in '{text}' is never closed with '{QUOTES[ch]}'")
            out.append(text[i : end + 1])
            i = end + 1
        else:
            j = i
            while j < n and text[j] not in " \t\r\n,":
                j += 1
            out.append(text[i:j])
            i = j
    return out


def _unquote(text: str) -> str:
    if text and text[0] in QUOTES and text.endswith(QUOTES[text[0]]) and len(text) >= 2:
        return text[1:-1]
    return text


def numbers(text: str) -> list[float]:
    """Elements of an array value as numbers: ``"[1666 1666]"`` or ``"1666, 1666"``."""
    return [number(t) for t in split(_unquote(text.strip()))]


def matrix(text: str, n: int) -> np.ndarray:
    """A symmetric ``n`` x ``n`` matrix from rows separated by ``|`` (lower triangle or full rows)."""
    text = _unquote(text.strip())
    if "|" in text:
        rows = [numbers(r) for r in text.split("|")]
        if len(rows) != n:
            raise ValueSyntaxError(f"matrix has {len(rows)} rows separated by '|', expected {n} (the number of phases)")
        out = np.zeros((n, n))
        for i, row in enumerate(rows):
            if len(row) < i + 1:
                raise ValueSyntaxError(f"matrix row {i + 1} has {len(row)} value(s), needs at least {i + 1}")
            out[i, : i + 1] = row[: i + 1]
    else:
        flat = numbers(text)
        out = np.zeros((n, n))
        if len(flat) == n * (n + 1) // 2:
            out[np.tril_indices(n)] = flat
        elif len(flat) == n * n:
            out[:] = np.reshape(flat, (n, n))
            out = np.tril(out)
        else:
            raise ValueSyntaxError(
                f"matrix has {len(flat)} values; a {n}x{n} matrix needs {n * (n + 1) // 2} (lower triangle) or {n * n}"
            )
    return np.tril(out) + np.tril(out, -1).T
