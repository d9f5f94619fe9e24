"""Reading OpenDSS scripts into commands that remember their file and line.

An OpenDSS script is line oriented: one command per line, its first word the verb (``New``,
``Edit``, ``Set``, ``~`` to go on editing the last object...) and the rest parameters, each
``name=value`` or a bare positional value. The rules below are OpenDSS's own (its ``TParser``):

* tokens are separated by blanks, tabs and commas; ``=`` joins a name to its value and may have
  blanks around it (``rmatrix = (...)``);
* a token that starts with ``( [ { " '`` runs to the first matching ``) ] } " '`` on the line
  (no nesting) and is *quoted*: its inner text is kept and a quoted number is an RPN
  expression (see :mod:`twin.grid.opendss.rpn`);
* ``!`` and ``//`` start a comment that runs to the end of the line; a line that starts with
  ``/*`` opens a block comment that the first line containing ``*/`` closes (both lines and
  everything between are skipped);
* names are case-insensitive.

``Redirect FILE`` and ``Compile FILE`` are followed here: the commands of FILE are yielded in
place, FILE being relative to the current folder, which is the folder of the file being read
(``Compile`` keeps the new folder for the rest of the script, as OpenDSS does; ``Redirect``
returns to the caller's folder).

>>> [p.text for p in tokenize("New Line.L1 Bus1=a.1 length=(1 2 +) ! comment")[0]]
['New', 'Line.L1', 'a.1', '1 2 +']
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from twin.errors import ParseError
from twin.grid.opendss.rpn import QUOTES

__all__ = ["COMMANDS", "Param", "Command", "command_name", "tokenize", "read_script"]


@dataclass(frozen=True, slots=True)
class Param:
    """One parameter: ``name`` as written ("" for a positional value), ``text`` without quotes."""

    name: str
    text: str
    quoted: bool = False


@dataclass(frozen=True, slots=True)
class Command:
    """One script line. ``verb`` is the command, abbreviations resolved ("" when the line starts
    with ``Class.name.property=value``); ``problem`` says why the line could not be tokenised."""

    verb: str
    params: tuple[Param, ...]
    file: str
    line: int
    folder: Path
    problem: str = ""


COMMANDS = ("new", "edit", "more", "m", "~", "select", "save", "show", "solve", "enable", "disable", "plot",
            "reset", "compile", "set", "dump", "open", "close", "redirect", "help", "quit", "next", "panel",
            "sample", "clear", "about", "calcvoltagebases", "setkvbase", "buildy", "get", "init", "export",
            "fileedit", "voltages", "currents", "powers", "seqvoltages", "seqcurrents", "seqpowers", "losses",
            "phaselosses", "cktlosses", "allocateloads", "formedit", "totals", "capacity", "classes",
            "userclasses", "zsc", "zsc10", "zscrefresh", "ysc", "puvoltages", "varvalues", "varnames",
            "buscoords", "makebuslist", "makeposseq", "reduce", "interpolate", "aligncols", "todaily",
            "latlongcoords", "batchedit", "pstcalc", "variable", "summary", "distribute", "di_plot",
            "comparecases", "yearlycurves", "cd", "visualize", "closedi", "doscmd", "estimate", "reconductor",
            "_initsnap", "_solvenocontrol", "_samplecontrols", "_docontrolactions", "_showcontrolqueue",
            "_solvedirect", "_solvepflow", "addbusmarker", "uuids", "setloadandgenkv", "cvrtloadshapes",
            "nodediff", "rephase", "setbusxy", "updatestorage", "obfuscate", "relcalc", "var", "cleanup",
            "finishtimestep", "nodelist", "newactor", "clearall")
"""OpenDSS's commands in its own order: an abbreviation means the first command it starts."""


def command_name(word: str) -> str:
    """The command a (possibly abbreviated) verb names: ``calcv`` is ``calcvoltagebases``."""
    word = word.lower()
    if word in COMMANDS:
        return word
    return next((c for c in COMMANDS if c.startswith(word)), word) if word else word


_TOKEN = re.compile(r"""[\s,]*(?:
      (?P<end>$|!|//)
    | (?P<eq>=)
    | \((?P<paren>[^)]*)\) | \[(?P<bracket>[^\]]*)\] | \{(?P<brace>[^}]*)\} | "(?P<dq>[^"]*)" | '(?P<sq>[^']*)'
    | (?P<open>[(\[{"'])
    | (?P<bare>(?:[^\s,=!/"'(\[{]|/(?!/))(?:[^\s,=!/]|/(?!/))*)
)""", re.X)


def tokenize(text: str) -> tuple[list[Param], str]:
    """Parameters of one line and a problem ("" if none): an unclosed quote, a dangling ``=``."""
    tokens: list[tuple[str, bool] | None] = []  # None marks an '='
    problem = ""
    i = 0
    while True:
        m = _TOKEN.match(text, i)
        kind = m.lastgroup
        if kind == "end":
            break
        if kind == "eq":
            tokens.append(None)
        elif kind == "bare":
            tokens.append((m.group(kind), False))
        elif kind == "open":
            ch = m.group(kind)
            problem = f"unbalanced '{ch}' at column {m.start(kind) + 1}: no closing '{QUOTES[ch]}' on this line"
            tokens.append((text[m.end() :], True))
            break
        else:
            tokens.append((m.group(kind), True))
        i = m.end()
    params: list[Param] = []
    k = 0
    while k < len(tokens):
        tok = tokens[k]
        if tok is None:
            problem = problem or "'=' without a property name before it"
            k += 1
        elif k + 1 < len(tokens) and tokens[k + 1] is None:
            value = tokens[k + 2] if k + 2 < len(tokens) else None
            if value is None:
                problem = problem or f"'{tok[0]}=' has no value"
                k += 2
            else:
                params.append(Param(tok[0], value[0], value[1]))
                k += 3
        else:
            params.append(Param("", tok[0], tok[1]))
            k += 1
    return params, problem


def read_script(path: str | Path) -> Iterator[Command]:
    """Commands of the script at ``path``, Redirect and Compile followed, comments dropped."""
    path = Path(path).resolve()
    if not path.is_file():
        raise ParseError(f"no such file: {path}", file=str(path), line=0, element="",
                         fix="give the path of the master .dss file")
    state = {"folder": path.parent}
    yield from _read(path, state, (path,))


def _read(path: Path, state: dict[str, Path], stack: tuple[Path, ...]) -> Iterator[Command]:
    file = str(path)
    state["folder"] = path.parent
    with path.open(encoding="utf-8", errors="replace") as fh:
        lines = fh.read().splitlines()
    block_start = 0
    for number, raw in enumerate(lines, start=1):
        if block_start:
            if "*/" in raw:
                block_start = 0
            continue
        stripped = raw.strip()
        if stripped.startswith("/*"):
            if "*/" not in stripped[2:]:
                block_start = number
            continue
        if not stripped:
            continue
        params, problem = tokenize(stripped)
        if not params:
            continue
        first = params[0]
        if first.name:
            verb, rest = "", tuple(params)
        else:
            verb, rest = command_name(first.text), tuple(params[1:])
        if verb in ("redirect", "compile") and not problem:
            yield from _follow(verb, rest, file, number, state, stack)
            continue
        yield Command(verb, rest, file, number, state["folder"], problem)
    if block_start:
        raise ParseError("block comment '/*' is never closed with '*/'", file=file, line=block_start,
                         element="", fix="close the comment with a line containing */")


def _follow(verb: str, params: tuple[Param, ...], file: str, line: int, state: dict[str, Path],
            stack: tuple[Path, ...]) -> Iterator[Command]:
    """Commands of the file a Redirect or Compile names."""
    element = verb.capitalize()
    if not params:
        raise ParseError(f"{element} names no file", file=file, line=line, element=element,
                         fix=f"write '{element} other.dss'")
    caller_folder = state["folder"]
    target = (caller_folder / params[0].text.strip()).resolve()
    if not target.is_file():
        raise ParseError(f"file not found: {target}", file=file, line=line,
                         element=f"{element} {params[0].text}",
                         fix="check the name; it is relative to the folder of the file that redirects")
    if target in stack:
        raise ParseError(f"{element} {target.name} would read {target.name} again (a redirect cycle)",
                         file=file, line=line, element=f"{element} {params[0].text}",
                         fix="remove the circular Redirect")
    yield from _read(target, state, (*stack, target))
    if verb == "redirect":
        state["folder"] = caller_folder
