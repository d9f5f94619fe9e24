"""What the validator reports: findings, one per problem, gathered into a report.

A :class:`Finding` names the rule that found it (a stable code such as ``"dangling-bus"``), the
table (``component``), the element ids, the column (``field``) and its offending ``value``, says
what is wrong in one line and how to fix it in another. Problems that touch many rows at once (a
thousand buses without coordinates, a section of 400 buses no source reaches) are *one* finding
whose ``elements`` hold the first few ids and whose ``count`` says how many there are.

A :class:`Report` holds the findings, errors first, then by component and element, and the model
summary (:meth:`twin.grid.network.Network.summary`); it reads as text for people and as JSON for
tools:

>>> f = Finding(Severity.error, "line-length", "line", ("L10",), field="length_m", value=0.0,
...             message="length is 0", fix="a line needs a positive length")
>>> print(Report("demo", (f,), {}).text())
1 error, 0 warnings in demo:
  1. error line L10: length is 0 (a line needs a positive length)
"""

from __future__ import annotations

import enum
import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["Severity", "Finding", "Report", "MAX_IDS"]

MAX_IDS = 20
"""Most element ids one finding carries; ``count`` gives the full number."""


class Severity(enum.IntEnum):
    """How bad a finding is. Errors stop a model going live; warnings ask an engineer to look."""

    error = 0
    warning = 1


@dataclass(frozen=True)
class Finding:
    """One problem in a model.

    ``elements`` are ids in ``component`` (for a loop: ``"table.id"`` refs, as the topology gives
    them); ``count`` is how many elements the finding covers when that is more than it lists.
    ``file`` and ``line`` locate problems found while reading a model file.
    """

    severity: Severity
    rule: str
    component: str
    elements: tuple[str, ...] = ()
    field: str = ""
    value: Any = None
    message: str = ""
    fix: str = ""
    count: int = 0
    file: str = ""
    line: int = 0

    def __post_init__(self) -> None:
        object.__setattr__(self, "elements", tuple(str(e) for e in self.elements))
        object.__setattr__(self, "value", _plain(self.value))
        object.__setattr__(self, "count", max(int(self.count), len(self.elements)))

    @classmethod
    def many(
        cls,
        severity: Severity,
        rule: str,
        component: str,
        ids: Iterable[str],
        **kw: Any,
    ) -> Finding:
        """A finding over any number of elements: keeps the first :data:`MAX_IDS` ids and the count."""
        ids = list(ids) if not isinstance(ids, np.ndarray) else ids.tolist()
        return cls(severity, rule, component, tuple(ids[:MAX_IDS]), count=len(ids), **kw)

    @property
    def element(self) -> str:
        """The first element id ('' when the finding is about the model as a whole)."""
        return self.elements[0] if self.elements else ""

    def text(self, *, shown: int = 5) -> str:
        """One line: ``error line L10: length is 0 (a line needs a positive length)``."""
        names = ", ".join(self.elements[:shown])
        more = self.count - min(len(self.elements), shown)
        if more > 0:
            names = f"{names} and {more} more" if names else f"{more} elements"
        where = " ".join(p for p in (self.component, names) if p)
        if self.file:
            place = f"{self.file}:{self.line}" if self.line else self.file
            where = f"{place} {where}".strip()
        text = f"{self.severity.name} {where}: {self.message}" if where else f"{self.severity.name}: {self.message}"
        return f"{text} ({self.fix})" if self.fix else text

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready values; ``value`` NaN becomes null."""
        return {
            "severity": self.severity.name,
            "rule": self.rule,
            "component": self.component,
            "elements": list(self.elements),
            "count": self.count,
            "field": self.field,
            "value": _jsonable(self.value),
            "message": self.message,
            "fix": self.fix,
            "file": self.file,
            "line": self.line,
        }

    def sort_key(self) -> tuple:
        return (self.severity, self.component, self.element, self.rule, self.field, self.message)


@dataclass(frozen=True)
class Report:
    """Every finding about one model, errors first, and the model's summary (empty if it did not load)."""

    name: str
    findings: tuple[Finding, ...]
    summary: Mapping[str, Any] = field(default_factory=dict)
    source: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "findings", tuple(sorted(self.findings, key=Finding.sort_key)))

    @property
    def errors(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.severity == Severity.error)

    @property
    def warnings(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.severity == Severity.warning)

    @property
    def n_errors(self) -> int:
        return len(self.errors)

    @property
    def n_warnings(self) -> int:
        return len(self.warnings)

    @property
    def ok(self) -> bool:
        """True when there is no error (warnings allowed)."""
        return self.n_errors == 0

    def by_rule(self, rule: str) -> list[Finding]:
        """The findings of one rule code."""
        return [f for f in self.findings if f.rule == rule]

    def headline(self) -> str:
        """``3 errors, 2 warnings in ieee123``."""
        return f"{_count(self.n_errors, 'error')}, {_count(self.n_warnings, 'warning')} in {self.name}"

    def text(self, *, limit: int | None = None) -> str:
        """The headline, each finding on its own numbered line (the first ``limit`` only, if given),
        then the model summary."""
        shown = self.findings if limit is None else self.findings[:limit]
        lines = [self.headline() + (":" if self.findings else "")]
        lines += [f"  {k}. {f.text()}" for k, f in enumerate(shown, 1)]
        if len(shown) < len(self.findings):
            lines.append(f"  ... and {len(self.findings) - len(shown)} more (see --json for all)")
        if self.summary:
            lines.append(summary_text(self.summary))
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "source": self.source,
            "errors": self.n_errors,
            "warnings": self.n_warnings,
            "findings": [f.to_dict() for f in self.findings],
            "summary": _jsonable(dict(self.summary)),
        }

    def to_json(self, *, indent: int | None = 2) -> str:
        """The report as JSON (NaN written as null)."""
        return json.dumps(self.to_dict(), indent=indent, allow_nan=False)


def summary_text(s: Mapping[str, Any]) -> str:
    """The figures an engineer checks first, one component per line."""
    kinds = ", ".join(f"{k} {n}" for k, n in s.get("switch_kinds", {}).items())
    rows = [
        ("buses", f"{s['buses']} ({s['nodes']} nodes, {s['three_phase_buses']} three-phase)"),
        ("lines", f"{s['lines']} ({_num(s['line_km'])} km)"),
        ("switches", f"{s['switches']}" + (f" ({kinds})" if kinds else "")),
        ("transformers", f"{s['transformers']}"),
        ("regulators", f"{s['regulators']}"),
        ("capacitors", f"{s['capacitors']} ({_num(s['capacitor_kvar'])} kvar)"),
        ("loads", f"{s['loads']} ({_num(s['load_kw'])} kW, {_num(s['load_kvar'])} kvar)"),
        ("generators", f"{s['generators']} ({_num(s['generation_kw'])} kW)"),
        ("sources", f"{s['sources']}"),
        ("customers", f"{s['customers']}"),
    ]
    return "\n".join([f"Model {s['name']}:"] + [f"  {k:<13}{v}" for k, v in rows])


def _num(x: float) -> str:
    return "n/a" if not math.isfinite(x) else f"{x:,.1f}"


def _count(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _plain(v: Any) -> Any:
    """Numpy scalars and arrays as Python values, so findings compare and serialise simply."""
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, np.ndarray):
        return v.tolist()
    if isinstance(v, enum.Enum):
        return v.name
    if isinstance(v, Mapping):
        return {k: _plain(x) for k, x in v.items()}
    return v


def _jsonable(v: Any) -> Any:
    """``v`` with NaN and infinities as None (JSON has no NaN)."""
    v = _plain(v)
    if isinstance(v, float):
        return v if math.isfinite(v) else None
    if isinstance(v, dict):
        return {str(k): _jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_jsonable(x) for x in v]
    return v
