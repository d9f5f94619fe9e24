"""The regulatory reliability report for a storm or a period: a CSV table and an HTML page.

:func:`build_report` works out the IEEE 1366 indices (:mod:`twin.idms.reliability`) per feeder
and for the system over a period, classifies its days against T_MED (the 2.5-beta threshold from
the previous years' daily SAIDI, as IEEE 1366 applies it to the year after), and gives them with
all days and without the major event days. :func:`write_csv` writes one row per feeder and one
for the system: ``feeder``, ``customers_served``, then each total and index over all days, then
the same with the suffix ``_excl_med`` for the normal days. :func:`write_html` writes a page a
regulator can read with nothing else: title, period, settings, T_MED and the major event days,
and the index tables (plain CSS inside the page, no scripts, no external files).

Times are IDMS clock seconds. ``epoch`` (the local date and time at clock 0) turns them into
calendar dates on the page and puts the day boundaries at local midnight.
"""

from __future__ import annotations

import datetime as dt
import html
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from twin.idms.reliability import (COUNT_COLUMNS, DAY_S, INDEX_COLUMNS, InterruptionDataError, Interruptions,
                                   MedThreshold, Settings, daily_saidi_min, day_of, indices, major_event_days,
                                   med_threshold)

__all__ = ["ReliabilityReport", "build_report", "report_csv_table", "to_html", "write_csv", "write_html"]

EXCL = "_excl_med"
"""Suffix of the CSV columns computed without the major event days."""


@dataclass(frozen=True)
class ReliabilityReport:
    """A period's reliability: ``all_days`` and ``normal_days`` (index tables of
    :func:`twin.idms.reliability.indices`, the second without the major event days), ``daily``
    (each day of the period: ``day``, ``saidi_min``, ``med``), ``threshold`` (None when no
    history was given, so no day is classified a MED), and what was asked for."""

    title: str
    t0_s: float
    t1_s: float
    midnight_s: float
    all_days: pd.DataFrame
    normal_days: pd.DataFrame
    daily: pd.DataFrame
    threshold: MedThreshold | None
    settings: Settings = field(default_factory=Settings)
    epoch: dt.datetime | None = None

    @property
    def med_days(self) -> np.ndarray:
        """Day numbers of the period's major event days."""
        return self.daily.loc[self.daily["med"], "day"].to_numpy()

    def day_label(self, day: int) -> str:
        """A day as a date (with ``epoch``) or as ``day N`` of the IDMS clock."""
        if self.epoch is None:
            return f"day {day}"
        return (self.epoch.date() + dt.timedelta(days=int(day))).isoformat()

    def time_label(self, time_s: float) -> str:
        """A clock time as a local date and time (with ``epoch``) or as ``day N hh:mm``."""
        if self.epoch is not None:
            return (self.epoch + dt.timedelta(seconds=float(time_s))).strftime("%Y-%m-%d %H:%M")
        day = int(day_of(time_s, midnight_s=self.midnight_s))
        into = time_s - self.midnight_s - day * DAY_S
        return f"day {day} {int(into // 3600):02d}:{int(into % 3600 // 60):02d}"


def build_report(intr: Interruptions, feeder_of: np.ndarray, *, t0_s: float, t1_s: float,
                 title: str = "Distribution reliability report", history_saidi_min: np.ndarray | None = None,
                 threshold: MedThreshold | None = None, epoch: dt.datetime | None = None,
                 midnight_s: float | None = None, settings: Settings = Settings()) -> ReliabilityReport:
    """The report over ``[t0_s, t1_s)`` for customers ``feeder_of`` (one feeder id each).

    T_MED comes from ``threshold`` or from ``history_saidi_min`` (daily SAIDI of the years
    before, minutes); with neither, no day is a major event day. ``midnight_s``: the clock time
    of a midnight (default: from ``epoch``, else 0).
    """
    if not t1_s > t0_s:
        raise InterruptionDataError(f"period ends at {t1_s} s, not after its start {t0_s} s", field="t1_s",
                                    fix="give a period that ends after it begins")
    if threshold is None and history_saidi_min is not None:
        threshold = med_threshold(history_saidi_min)
    if midnight_s is None:
        midnight_s = 0.0 if epoch is None else -(epoch - epoch.replace(hour=0, minute=0, second=0,
                                                                        microsecond=0)).total_seconds()
    first = int(day_of(t0_s, midnight_s=midnight_s))
    last = int(np.ceil((t1_s - midnight_s) / DAY_S)) - 1
    in_period = intr.take((intr.start_s >= t0_s) & (intr.start_s < t1_s))
    n_days = last - first + 1
    saidi = daily_saidi_min(in_period, int(np.asarray(feeder_of).size), first_day=first, n_days=n_days,
                            midnight_s=midnight_s, until_s=t1_s, settings=settings)
    med = major_event_days(saidi, threshold) if threshold is not None else np.zeros(n_days, dtype=bool)
    daily = pd.DataFrame({"day": np.arange(first, last + 1), "saidi_min": saidi, "med": med})
    common = dict(t0_s=t0_s, t1_s=t1_s, midnight_s=midnight_s, settings=settings)
    all_days = indices(intr, feeder_of, **common)
    normal = indices(intr, feeder_of, exclude_days=daily.loc[med, "day"].to_numpy(), **common)
    return ReliabilityReport(title=title, t0_s=t0_s, t1_s=t1_s, midnight_s=midnight_s, all_days=all_days,
                             normal_days=normal, daily=daily, threshold=threshold, settings=settings, epoch=epoch)


def report_csv_table(report: ReliabilityReport) -> pd.DataFrame:
    """The CSV's table: one row per feeder and the system; all days, then ``_excl_med`` columns."""
    cols = [*COUNT_COLUMNS, *INDEX_COLUMNS]
    table = report.all_days[cols].copy()
    normal = report.normal_days[[c for c in cols if c != "customers_served"]]
    table = table.join(normal.add_suffix(EXCL))
    return table.reset_index()


def write_csv(report: ReliabilityReport, path: str | Path) -> Path:
    """Write the report's table as CSV (full precision; empty where an index is undefined)."""
    path = Path(path)
    report_csv_table(report).to_csv(path, index=False)
    return path


_CSS = """
body { font-family: Georgia, 'Times New Roman', serif; margin: 2em auto; max-width: 70em; color: #222; }
h1 { font-size: 1.6em; margin-bottom: 0.2em; }
h2 { font-size: 1.2em; margin-top: 1.6em; border-bottom: 1px solid #999; }
p.period { color: #555; margin-top: 0; }
table { border-collapse: collapse; margin: 0.6em 0; font-family: 'Helvetica Neue', Arial, sans-serif;
        font-size: 0.9em; }
th, td { border: 1px solid #bbb; padding: 0.25em 0.6em; }
th { background: #eee; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
tr.system td { font-weight: bold; background: #f6f6f6; }
tr.med td { background: #fde8e8; }
dl { display: grid; grid-template-columns: max-content auto; gap: 0.2em 1em; }
dt { font-weight: bold; }
dd { margin: 0; }
"""

_HEADINGS = {
    "customers_served": "Customers served", "saifi": "SAIFI", "saidi_min": "SAIDI (min)",
    "caidi_min": "CAIDI (min)", "caifi": "CAIFI", "maifi_e": "MAIFI<sub>E</sub>", "cemi_n": "CEMI<sub>{n}</sub>",
    "cemsmi_n": "CEMSMI<sub>{n}</sub>", "celid_s": "CELID-s ({s})", "celid_t": "CELID-t ({t})",
    "customer_interruptions": "Customer interruptions", "customer_minutes": "Customer-minutes",
}
_FORMATS = {"customers_served": "{:,.0f}", "customer_interruptions": "{:,.0f}", "customer_minutes": "{:,.0f}",
            "saifi": "{:.3f}", "saidi_min": "{:.1f}", "caidi_min": "{:.1f}", "caifi": "{:.3f}",
            "maifi_e": "{:.3f}", "cemi_n": "{:.2%}", "cemsmi_n": "{:.2%}", "celid_s": "{:.2%}", "celid_t": "{:.2%}"}


def _hours(seconds: float) -> str:
    return f"{seconds / 3600:g} h"


def _cell(col: str, value: float) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return '<td class="num">&ndash;</td>'
    return f'<td class="num">{_FORMATS[col].format(value)}</td>'


def _index_table(report: ReliabilityReport, table: pd.DataFrame) -> str:
    s = report.settings
    cols = ["customers_served", "customer_interruptions", "customer_minutes", *INDEX_COLUMNS]
    head = "".join(f"<th>{_HEADINGS[c].format(n=s.cemi_n, s=_hours(s.celid_single_s), t=_hours(s.celid_total_s))}"
                   "</th>" for c in cols)
    rows = []
    for feeder, r in table.iterrows():
        cls = ' class="system"' if feeder == "system" else ""
        cells = "".join(_cell(c, r[c]) for c in cols)
        rows.append(f"<tr{cls}><td>{html.escape(str(feeder))}</td>{cells}</tr>")
    return f"<table><tr><th>Feeder</th>{head}</tr>\n" + "\n".join(rows) + "\n</table>"


def to_html(report: ReliabilityReport) -> str:
    """The report as one self-contained HTML page."""
    s = report.settings
    esc = html.escape
    parts = [f"<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{esc(report.title)}</title>",
             f"<style>{_CSS}</style></head><body>", f"<h1>{esc(report.title)}</h1>",
             f'<p class="period">Period: {esc(report.time_label(report.t0_s))} to '
             f"{esc(report.time_label(report.t1_s))} ({len(report.daily)} days). Indices per IEEE Std 1366-2012.</p>",
             "<h2>Basis</h2><dl>",
             f"<dt>Sustained interruption</dt><dd>longer than {s.sustained_s / 60:g} min; shorter ones are "
             "momentary</dd>",
             f"<dt>Momentary event</dt><dd>operations of one device within {s.window_s / 60:g} min of the "
             "first of its sequence; a sequence ending in lockout counts as the sustained interruption</dd>",
             f"<dt>CEMI<sub>{s.cemi_n}</sub>, CEMSMI<sub>{s.cemi_n}</sub></dt><dd>share of customers with more "
             f"than {s.cemi_n} sustained interruptions; with more than {s.cemi_n} sustained interruptions and "
             "momentary events together</dd>",
             f"<dt>CELID-s, CELID-t</dt><dd>share of customers with one sustained interruption of at least "
             f"{_hours(s.celid_single_s)}; with interruptions totalling at least {_hours(s.celid_total_s)}</dd>",
             "<dt>Day</dt><dd>an interruption belongs to the day it began</dd></dl>",
             "<h2>Major event days (2.5&beta; method)</h2>"]
    t = report.threshold
    if t is None:
        parts.append("<p>No daily SAIDI history was given: no day is classified as a major event day, "
                     "and the indices without major event days equal those with them.</p>")
    else:
        parts.append(f"<dl><dt>&alpha; (mean ln SAIDI/day)</dt><dd>{t.alpha:.4f}</dd>"
                     f"<dt>&beta; (std. dev.)</dt><dd>{t.beta:.4f}</dd>"
                     f"<dt>History</dt><dd>{t.days_used:,} days with SAIDI above 0</dd>"
                     f"<dt>T<sub>MED</sub></dt><dd>{t.t_med_min:.2f} min</dd></dl>")
    med = report.daily[report.daily["med"]]
    if t is not None and med.empty:
        parts.append("<p>No day of the period exceeded T<sub>MED</sub>.</p>")
    elif not med.empty:
        rows = "\n".join(f'<tr class="med"><td>{esc(report.day_label(int(r.day)))}</td>'
                         f'<td class="num">{r.saidi_min:.2f}</td></tr>' for r in med.itertuples())
        parts.append(f"<p>{len(med)} major event day(s):</p><table><tr><th>Day</th><th>SAIDI (min)</th></tr>\n"
                     f"{rows}\n</table>")
    parts += ["<h2>Indices, all days</h2>", _index_table(report, report.all_days),
              "<h2>Indices, excluding major event days</h2>", _index_table(report, report.normal_days)]
    active = report.daily[report.daily["saidi_min"] > 0]
    if not active.empty:
        mark = ' class="med"'
        rows = "\n".join(f'<tr{mark if r.med else ""}><td>{esc(report.day_label(int(r.day)))}</td>'
                         f'<td class="num">{r.saidi_min:.2f}</td><td>{"MED" if r.med else ""}</td></tr>'
                         for r in active.itertuples())
        parts.append("<h2>Daily SAIDI</h2><p>Days with sustained interruptions.</p>"
                     f"<table><tr><th>Day</th><th>SAIDI (min)</th><th></th></tr>\n{rows}\n</table>")
    parts.append("</body></html>\n")
    return "\n".join(parts)


def write_html(report: ReliabilityReport, path: str | Path) -> Path:
    """Write :func:`to_html` to ``path``."""
    path = Path(path)
    path.write_text(to_html(report), encoding="utf-8")
    return path
