"""Scoring a dispatcher's session against the world's ground truth and the expert baseline (the
automatic dispatcher's run of the same scenario and seed).

A :class:`Scorekeeper` attaches to a session when it is built (it samples the crews once a
simulated minute); :meth:`Scorekeeper.measures` then reads the session's end state:

* ``customer_minutes``: interrupted, by the world's truth (its summary, not the IDMS's records);
* ``first_restoration_s``: median over sustained outages (5 min or more) of the time from their
  start to the first of their customers back;
* ``fault_isolation_s``: median over sustained outages with a fault found of the time from their
  start to a crew finding it (the fault located and its section isolated for repair);
* ``crew_idle``: the share of crew-minutes on duty with no job;
* ``safety``: violations, each listed: a control attempted on a tagged device, or one the
  switching desk refuses (into a known fault, into a section held under a clearance: the IDMS
  refuses it, the attempt stands), a device closed from the control room into a fault (its protection
  opened again within ``reclose_window_s``), a device closed from the control room that put power
  on a line a crew was working on (from the crew's arrival there to patrol or repair it, to its
  repair or hand-over), and a crew sent onto a line that was live with a fault standing on it
  (protection that failed to clear it, or the IDMS's model wrong about what is open);
* ``critical_missed``: critical customers (hospitals, life support...) out longer than
  ``critical_limit_h``;
* ``alarms_unacknowledged``: SCADA alarms still unacknowledged at the end.

:func:`score` turns a trainee's measures and the baseline's into a :class:`ScoreSheet`: per
measure a sub-score from 0 to 1 (1: as good as the expert or better; for a lower-is-better
measure ``baseline / trainee``, for safety 1 with no violation and 0 otherwise, for alarms
``1 / (1 + n)``), weighted by the scenario's ``scoring.weights`` into a total out of 100.
:func:`write_score_sheet` writes it as CSV and as an HTML page with the timeline of the trainee's
actions beside the world's events.
"""

from __future__ import annotations

import csv
import html
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from twin.idms.scada.control import FailReason
from twin.world.events import EventKind
from twin.world.physics import OPENS
from twin.world.simulate import summarise

__all__ = ["DEFAULT_WEIGHTS", "Measures", "ScoreSheet", "Scorekeeper", "score", "sheet_rows", "write_score_sheet"]

DEFAULT_WEIGHTS = {"customer_minutes": 1.0, "first_restoration": 1.0, "fault_isolation": 1.0, "crew_idle": 0.5,
                   "safety": 10.0, "critical_missed": 3.0, "alarms_unacknowledged": 0.5}
SUSTAINED_S = 300.0


@dataclass(frozen=True)
class Measures:
    """What a session came to (see the module docstring); times in seconds."""

    customer_minutes: float
    first_restoration_s: float
    fault_isolation_s: float
    crew_idle: float
    safety: int
    critical_missed: int
    alarms_unacknowledged: int
    violations: tuple[str, ...] = ()


class Scorekeeper:
    """Watches a session for its score (attach it before the session runs)."""

    def __init__(self, session, *, sample_s: float = 60.0, critical_limit_h: float = 4.0,
                 reclose_window_s: float = 10.0) -> None:
        self.session, self.critical_limit_h, self.reclose_window_s = session, critical_limit_h, reclose_window_s
        self.on_duty_min = 0.0
        self.idle_min = 0.0
        self._sample_s = sample_s
        self._working: dict[str, str] = {}  # crew -> the line it is repairing now
        self._unsafe: list[str] = []
        session.world.env.process(self._sample())
        session.world.events.subscribe(self._on_event)

    def _on_event(self, e) -> None:
        """Crews at work on a line, and the control room's closes that put power on it."""
        if e.kind == EventKind.crew:
            action, crew = e.data.get("action"), str(e.data.get("crew"))
            if action in ("arrived", "found") and e.data.get("line"):  # on the line: patrolling it, repairing it
                line = str(e.data["line"])
                self._working[crew] = line
                grid = self.session.world.grid
                if action == "arrived" and line in grid.faults and self._live(line):
                    self._unsafe.append(f"crew {crew} was sent onto {line} while it was live with a fault standing on "
                                        f"it, at {e.time_s / 3600.0:.2f} h")
            elif action in ("repaired", "needs line crew", "found nothing", "free"):
                self._working.pop(crew, None)
        elif e.kind == EventKind.switch and e.data.get("by") == "scada" and e.data.get("closed") and self._working:
            for crew, line in sorted(self._working.items()):
                if self._live(line):
                    self._unsafe.append(f"{e.data.get('device')} closed from the control room put power on "
                                        f"{line}, where crew {crew} was working, at {e.time_s / 3600.0:.2f} h")

    def _live(self, line: str) -> bool:
        """Whether ``line`` has power in the world now (its from bus has)."""
        net = self.session.world.grid.net
        return self.session.world.grid.bus_live(int(net.bus.position(net.line["from_bus"][net.line.position(line)])))

    def _sample(self):
        crews, env = self.session.parts.crews, self.session.world.env
        while True:
            yield env.timeout(self._sample_s)
            on = crews.on_duty
            self.on_duty_min += np.count_nonzero(on) * self._sample_s / 60.0
            self.idle_min += np.count_nonzero(on & ~crews.busy) * self._sample_s / 60.0

    def measures(self) -> Measures:
        world, idms = self.session.world, self.session.idms
        events = world.events.events
        outages = [o for o in world.grid.outages
                   if (world.now if math.isnan(o.restored_s) else o.restored_s) - o.start_s >= SUSTAINED_S]
        first = [o.restored_s - o.start_s for o in outages if not math.isnan(o.restored_s)]
        found = {}
        for e in events:
            if e.kind == EventKind.crew and e.data.get("action") == "found" and e.data.get("line"):
                found.setdefault(str(e.data["line"]), e.time_s)
        isolation = [found[o.line] - o.start_s for o in outages if getattr(o, "line", "") in found
                     and found[o.line] >= o.start_s]
        violations = [f"{op.user} tried to {op.action} {op.device}, tagged ({', '.join(t.kind.value for t in op.tags)})"
                      f" at {op.requested_s / 3600.0:.2f} h" for op in idms.scada.controls.log
                      if op.reason == FailReason.tagged]
        violations += [f"{op.user} tried to {op.action} {op.device}: {op.field_reason} at {op.requested_s / 3600.0:.2f} h"
                       for op in idms.scada.controls.log if op.reason == FailReason.refused]
        violations += self._closed_into_faults(events)
        violations += self._unsafe
        sp = world.grid.net.service_point
        critical = np.flatnonzero(np.asarray(sp["critical"], bool)) if "critical" in sp else np.zeros(0, np.int64)
        limit = self.critical_limit_h * 3600.0
        late = set()
        for o in outages:
            end = world.now if math.isnan(o.restored_s) else o.restored_s
            if end - o.start_s > limit:
                late.update(np.intersect1d(o.customers, critical).tolist())
        unacked = sum(1 for a in idms.scada.alarms.alarms() if not a.acknowledged)
        truth = summarise(world, world.now / 3600.0, self.session.storm, self.session.parts.faults, 0.0)
        return Measures(customer_minutes=truth.customer_minutes, first_restoration_s=_median(first),
                        fault_isolation_s=_median(isolation), crew_idle=self.idle_min / self.on_duty_min
                        if self.on_duty_min else 0.0, safety=len(violations), critical_missed=len(late),
                        alarms_unacknowledged=unacked, violations=tuple(violations))

    def actions(self, user: str) -> list[tuple[float, str]]:
        """``(sim_s, text)`` of ``user``'s controls (each attempt, with how it ended) and tags."""
        idms = self.session.idms
        done = [(op.requested_s, f"{op.action} {op.device}: {op.outcome.value}"
                 + (f" ({op.reason.value})" if op.reason is not None else ""))
                for op in idms.scada.controls.log if op.user == user]
        done += [(t.time_s, f"tag {t.kind.value} on {t.device}") for t in idms.scada.controls.tags() if t.user == user]
        return sorted(done)

    def _closed_into_faults(self, events) -> list[str]:
        """Closes from the control room after which the device's protection opened it again at once."""
        out = []
        for k, e in enumerate(events):
            if e.kind != EventKind.switch or e.data.get("by") != "scada" or not e.data.get("closed"):
                continue
            device = e.data.get("device")
            for f in events[k + 1:]:
                if f.time_s > e.time_s + self.reclose_window_s:
                    break
                if f.kind == EventKind.protection and f.data.get("device") == device and f.data.get("action") in OPENS:
                    out.append(f"{device} closed from the control room into a fault on {f.data.get('line')} "
                               f"at {e.time_s / 3600.0:.2f} h")
                    break
        return out


def _median(values: list[float]) -> float:
    return float(np.median(values)) if values else math.nan


@dataclass(frozen=True)
class ScoreSheet:
    """A trainee's measures beside the baseline's, the sub-scores, the weights and the total (0-100)."""

    trainee: Measures
    baseline: Measures
    parts: dict[str, float]
    weights: dict[str, float]
    total: float
    actions: list[tuple[float, str]] = field(default_factory=list)  # (sim_s, what the trainee did)


_LOWER_IS_BETTER = {"customer_minutes": "customer_minutes", "first_restoration": "first_restoration_s",
                    "fault_isolation": "fault_isolation_s", "crew_idle": "crew_idle",
                    "critical_missed": "critical_missed"}


def score(trainee: Measures, baseline: Measures, weights: dict[str, float] | None = None, *,
          actions: list[tuple[float, str]] | None = None) -> ScoreSheet:
    """The score sheet of ``trainee`` against ``baseline`` (see the module docstring); ``actions``
    the trainee's, for the timeline (:meth:`Scorekeeper.actions`)."""
    weights = {**DEFAULT_WEIGHTS, **(weights or {})}
    parts: dict[str, float] = {}
    for name, attr in _LOWER_IS_BETTER.items():
        t, b = getattr(trainee, attr), getattr(baseline, attr)
        if math.isnan(t) and math.isnan(b):
            parts[name] = 1.0
        elif math.isnan(t):  # never achieved where the expert did
            parts[name] = 0.0
        elif math.isnan(b) or t <= b:
            parts[name] = 1.0
        else:
            parts[name] = float(b / t) if t > 0 else 1.0
    parts["safety"] = 1.0 if trainee.safety == 0 else 0.0
    parts["alarms_unacknowledged"] = 1.0 / (1.0 + trainee.alarms_unacknowledged)
    total = 100.0 * sum(weights[k] * parts[k] for k in parts) / sum(weights[k] for k in parts)
    return ScoreSheet(trainee, baseline, parts, weights, total, list(actions or []))


def write_score_sheet(sheet: ScoreSheet, events, folder: str | Path, *, title: str = "Score sheet") -> list[Path]:
    """``score.csv`` (measure, trainee, baseline, sub-score, weight) and ``score.html`` (the same,
    the violations, and the trainee's actions beside the world's events) in ``folder``."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    rows = sheet_rows(sheet)
    csv_path = folder / "score.csv"
    with csv_path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["measure", "trainee", "baseline", "sub_score", "weight"])
        w.writerows(rows)
        w.writerow(["total", f"{sheet.total:.1f}", "", "", ""])
    timeline = sorted([(t, "trainee", a) for t, a in sheet.actions]
                      + [(e.time_s, "world", _event_text(e)) for e in events
                         if e.kind in (EventKind.fault, EventKind.protection, EventKind.scripted)
                         or (e.kind == EventKind.crew and e.data.get("action") in ("found", "repaired"))])
    esc = html.escape
    page = [f"<!doctype html><meta charset='utf-8'><title>{esc(title)}</title>",
            "<style>body{font:14px sans-serif;background:#eee;margin:2em}table{border-collapse:collapse}"
            "td,th{padding:3px 8px;border-bottom:1px solid #ccc;text-align:right}td.l{text-align:left}"
            ".bad{color:#b00;font-weight:bold}</style>",
            f"<h1>{esc(title)}: {sheet.total:.1f} / 100</h1><table><tr><th>measure</th><th>trainee</th>"
            "<th>expert</th><th>sub-score</th><th>weight</th></tr>"]
    page += [f"<tr><td class=l>{esc(r[0])}</td>" + "".join(f"<td>{esc(str(v))}</td>" for v in r[1:]) + "</tr>"
             for r in rows]
    page.append("</table><h2>Safety</h2>")
    page += ([f"<p class=bad>{esc(v)}</p>" for v in sheet.trainee.violations] or ["<p>No violation.</p>"])
    page.append("<h2>Timeline</h2><table><tr><th>time (h)</th><th>trainee</th><th>world</th></tr>")
    page += [f"<tr><td>{t / 3600.0:.3f}</td><td class=l>{esc(x) if who == 'trainee' else ''}</td>"
             f"<td class=l>{esc(x) if who == 'world' else ''}</td></tr>" for t, who, x in timeline]
    page.append("</table>")
    html_path = folder / "score.html"
    html_path.write_text("\n".join(page), encoding="utf-8")
    return [csv_path, html_path]


def sheet_rows(sheet: ScoreSheet) -> list[list[str]]:
    """Per measure: name, trainee, expert (as text), sub-score and weight."""
    fmt = {"customer_minutes": ("customer_minutes", "{:,.0f}"), "first_restoration": ("first_restoration_s", "{:.0f} s"),
           "fault_isolation": ("fault_isolation_s", "{:.0f} s"), "crew_idle": ("crew_idle", "{:.1%}"),
           "safety": ("safety", "{}"), "critical_missed": ("critical_missed", "{}"),
           "alarms_unacknowledged": ("alarms_unacknowledged", "{}")}
    out = []
    for name, (attr, f) in fmt.items():
        t, b = getattr(sheet.trainee, attr), getattr(sheet.baseline, attr)
        show = [("never" if isinstance(v, float) and math.isnan(v) else f.format(v)) for v in (t, b)]
        out.append([name, *show, f"{sheet.parts[name]:.2f}", f"{sheet.weights[name]:g}"])
    return out


def _event_text(e) -> str:
    d = e.data
    if e.kind == EventKind.fault:
        return f"fault on {d.get('line')} ({'permanent' if d.get('permanent') else 'temporary'})"
    if e.kind == EventKind.protection:
        return f"{d.get('device')} {d.get('action')}"
    if e.kind == EventKind.scripted:
        return f"scripted: {d.get('event')}"
    return f"crew {d.get('crew')} {d.get('action')} {d.get('line', '')}".rstrip()
