"""Distribution reliability indices (IEEE 1366-2012) and major event days by the 2.5-beta method.

The input is :class:`Interruptions`: **one row per customer per interruption**, the way the outage
records hold them: which customer (a row of the customer table, whose feeder is ``feeder_of``),
when power went off (``start_s``) and came back for that customer (``end_s``, NaN while still
out), and the device whose operation interrupted them. Customer rows, not whole outages, because
restoration is often in steps (a switching move brings half the customers back an hour before
the repair): each customer's own duration is what counts.

Classification (IEEE 1366):

* a customer's interruption longer than 5 min (:attr:`Settings.sustained_s`) is **sustained**;
  shorter ones are **momentary**;
* momentary interruptions are grouped into **momentary interruption events**: operations of the
  same device that begin within the reclosing window (:attr:`Settings.window_s`, 5 min) of the
  first operation of its sequence form one event (a recloser that trips and recloses three times
  and holds is one event for each of its customers). A sequence that ends in a sustained
  interruption of the same customer from the same device, starting within that window (a
  recloser going to lockout), is counted as that sustained interruption only: its momentaries
  are not counted as an event;
* an interruption belongs to the day (and the period) in which it began, even when it runs past
  midnight.

With ``N_T`` customers served, ``N_i`` the customers of sustained interruption ``i``, ``r_i`` its
duration per customer, ``CN`` the distinct customers with at least one sustained interruption:

========== ============================================================================ ========
index      definition                                                                   unit
========== ============================================================================ ========
SAIFI      sum N_i / N_T: sustained interruptions per customer served                   1
SAIDI      sum r_i N_i / N_T: customer-minutes of sustained interruption per customer   min
CAIDI      SAIDI / SAIFI: mean duration of a customer's sustained interruption          min
CAIFI      sum N_i / CN: interruptions per customer who had at least one                1
MAIFI_E    customer momentary interruption events / N_T                                 1
CEMI_n     customers with more than ``n`` sustained interruptions / N_T                 1
CEMSMI_n   customers with more than ``n`` sustained interruptions and momentary events  1
           together / N_T
CELID-s    customers with a single sustained interruption of at least ``S`` / N_T       1
CELID-t    customers whose sustained interruptions total at least ``T`` / N_T           1
========== ============================================================================ ========

Indices are given per feeder (customers served: those of the feeder) and for the system.

Major event days (IEEE 1366 2.5-beta method): take the daily SAIDI of the last five years, drop
the days with SAIDI 0, ``alpha`` = mean and ``beta`` = (sample) standard deviation of the natural
logarithms of the rest; ``T_MED = exp(alpha + 2.5 beta)``; a day whose SAIDI exceeds ``T_MED`` is
a major event day, and indices are reported with and without the interruptions that began on one.

Example::

    >>> intr = Interruptions.from_events([(0.0, 3600.0, "F1-FUSE7", [0, 1])])
    >>> table = indices(intr, np.array(["F1", "F1", "F1", "F1"]), t0_s=0.0, t1_s=86400.0)
    >>> float(table.loc["system", "saidi_min"])  # 2 customers x 60 min / 4 served
    30.0
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from twin.errors import TwinError

__all__ = ["COUNT_COLUMNS", "DAY_S", "INDEX_COLUMNS", "Classified", "InterruptionDataError", "Interruptions",
           "MedThreshold", "Settings", "SYSTEM", "classify", "daily_saidi_min", "day_of", "indices", "major_event_days",
           "med_threshold"]

DAY_S = 86400.0
"""Seconds in a day."""

SYSTEM = "system"
"""The row of an index table that holds the whole system."""

INDEX_COLUMNS = ("saifi", "saidi_min", "caidi_min", "caifi", "maifi_e", "cemi_n", "cemsmi_n", "celid_s",
                 "celid_t")
"""The IEEE 1366 indices in an index table, in report order."""

COUNT_COLUMNS = ("customers_served", "customer_interruptions", "customers_interrupted", "customer_minutes",
                 "customer_momentary_events")
"""The totals the indices are computed from, in an index table."""


class InterruptionDataError(TwinError):
    """Interruption records that cannot be counted: ``field`` is the offending column, ``rows`` the
    record rows (at most 10 are named), and ``fix`` a one-line hint."""

    def __init__(self, message: str, *, field: str, rows: Sequence[int] = (), fix: str = "") -> None:
        self.message = message
        self.field = field
        self.rows = tuple(int(r) for r in rows)
        self.fix = fix
        shown = ", ".join(str(r) for r in self.rows[:10]) + (" ..." if len(self.rows) > 10 else "")
        text = f"interruption records, {field}: {message}"
        if self.rows:
            text += f" (rows {shown})"
        if fix:
            text += f"; {fix}"
        super().__init__(text)


@dataclass(frozen=True)
class Settings:
    """How interruptions are classified and which thresholds the indices use.

    ``sustained_s``: a customer's interruption longer than this is sustained (IEEE 1366: 5 min);
    ``window_s``: operations of one device within this long of a sequence's first operation are
    one momentary interruption event; ``cemi_n``: CEMI_n and CEMSMI_n count customers with more
    than this many interruptions; ``celid_single_s``, ``celid_total_s``: the S and T of CELID-s
    and CELID-t (s).
    """

    sustained_s: float = 300.0
    window_s: float = 300.0
    cemi_n: int = 3
    celid_single_s: float = 8 * 3600.0
    celid_total_s: float = 8 * 3600.0

    def __post_init__(self) -> None:
        for name in ("sustained_s", "window_s", "celid_single_s", "celid_total_s"):
            if not getattr(self, name) > 0:
                raise InterruptionDataError(f"{name} is {getattr(self, name)}", field=name,
                                            fix="a positive number of seconds")
        if self.cemi_n < 0:
            raise InterruptionDataError(f"cemi_n is {self.cemi_n}", field="cemi_n", fix="0 or more")


@dataclass(frozen=True)
class Interruptions:
    """Interruption records, one row per customer per interruption (arrays of equal length).

    ``customer``: row of the customer in the customer table (int); ``start_s``: when that
    customer lost power (s, IDMS clock); ``end_s``: when it came back (s; NaN while still out);
    ``device``: id of the device whose operation interrupted it (the fuse, recloser, breaker...).
    A customer's interruptions must not overlap: a customer inside two outages at once is one
    interruption (the outage manager keeps it in one).
    """

    customer: np.ndarray
    start_s: np.ndarray
    end_s: np.ndarray
    device: np.ndarray

    def __post_init__(self) -> None:
        object.__setattr__(self, "customer", np.asarray(self.customer, dtype=np.int64))
        object.__setattr__(self, "start_s", np.asarray(self.start_s, dtype=np.float64))
        object.__setattr__(self, "end_s", np.asarray(self.end_s, dtype=np.float64))
        object.__setattr__(self, "device", np.asarray(self.device, dtype=object))
        n = len(self.customer)
        for name in ("start_s", "end_s", "device"):
            if len(getattr(self, name)) != n:
                raise InterruptionDataError(f"{len(getattr(self, name))} values for {n} records", field=name,
                                            fix="give one value per record")
        bad = np.flatnonzero(self.customer < 0)
        if bad.size:
            raise InterruptionDataError("negative customer row", field="customer", rows=bad)
        bad = np.flatnonzero(~np.isfinite(self.start_s))
        if bad.size:
            raise InterruptionDataError("start time is not a number", field="start_s", rows=bad,
                                        fix="every interruption needs the time it began")
        bad = np.flatnonzero(self.end_s < self.start_s)
        if bad.size:
            raise InterruptionDataError("restored before it began", field="end_s", rows=bad,
                                        fix="end_s must be at or after start_s (NaN while still out)")
        order = np.lexsort((self.start_s, self.customer))
        end = np.where(np.isnan(self.end_s), np.inf, self.end_s)[order]
        same = self.customer[order][1:] == self.customer[order][:-1]
        overlap = same & (self.start_s[order][1:] < end[:-1])
        if overlap.any():
            rows = np.unique(np.concatenate([order[1:][overlap], order[:-1][overlap]]))
            raise InterruptionDataError("a customer is in two interruptions at once", field="start_s",
                                        rows=rows, fix="keep each customer in one outage at a time "
                                        "(nested outages: the inner one ends where the outer begins)")

    def __len__(self) -> int:
        return len(self.customer)

    def take(self, rows: np.ndarray) -> Interruptions:
        """The records at ``rows`` (indices or a boolean mask)."""
        return Interruptions(self.customer[rows], self.start_s[rows], self.end_s[rows], self.device[rows])

    @classmethod
    def from_frame(cls, frame: pd.DataFrame) -> Interruptions:
        """Records from a table with columns ``customer``, ``start_s``, ``end_s`` and ``device``
        (an outage record store's rows)."""
        missing = [c for c in ("customer", "start_s", "end_s", "device") if c not in frame.columns]
        if missing:
            raise InterruptionDataError(f"no column {', '.join(missing)}", field=missing[0],
                                        fix="columns customer, start_s, end_s, device")
        return cls(frame["customer"].to_numpy(), frame["start_s"].to_numpy(), frame["end_s"].to_numpy(),
                   frame["device"].to_numpy())

    @classmethod
    def from_events(cls, events: Iterable[tuple[float, float, str, Sequence[int]]]) -> Interruptions:
        """Records from whole events ``(start_s, end_s, device, customers)``: every customer of an
        event interrupted from ``start_s`` to ``end_s``."""
        customer: list[np.ndarray] = []
        start: list[np.ndarray] = []
        end: list[np.ndarray] = []
        device: list[np.ndarray] = []
        for t0, t1, dev, rows in events:
            rows = np.asarray(rows, dtype=np.int64)
            customer.append(rows)
            start.append(np.full(rows.size, t0, dtype=np.float64))
            end.append(np.full(rows.size, t1, dtype=np.float64))
            device.append(np.full(rows.size, dev, dtype=object))
        if not customer:
            return cls(np.empty(0, np.int64), np.empty(0), np.empty(0), np.empty(0, dtype=object))
        return cls(np.concatenate(customer), np.concatenate(start), np.concatenate(end), np.concatenate(device))


@dataclass(frozen=True)
class Classified:
    """Each record's duration and class (arrays aligned with the records).

    ``duration_s``: its duration (still-out records measured to ``until_s``); ``sustained``:
    longer than the sustained threshold; ``sequence``: the momentary sequence (reclosing event) a
    momentary record belongs to, -1 for sustained records; ``counted``: the one record that counts
    each customer's momentary interruption event (False for the other operations of the sequence,
    and for every operation of a sequence that ended in that customer's sustained interruption).
    """

    duration_s: np.ndarray
    sustained: np.ndarray
    sequence: np.ndarray
    counted: np.ndarray


def classify(intr: Interruptions, *, until_s: float, settings: Settings = Settings()) -> Classified:
    """Sustained or momentary, and the momentary interruption events, of every record.

    ``until_s``: the time a record still out (``end_s`` NaN) is measured to (s), normally the end
    of the reporting period.
    """
    end = np.where(np.isnan(intr.end_s), np.maximum(until_s, intr.start_s), intr.end_s)
    duration = end - intr.start_s
    sustained = duration > settings.sustained_s
    sequence = np.full(len(intr), -1, dtype=np.int64)
    counted = np.zeros(len(intr), dtype=bool)
    mom = np.flatnonzero(~sustained)
    if mom.size == 0:
        return Classified(duration, sustained, sequence, counted)
    _, dev_code = np.unique(intr.device.astype(str), return_inverse=True)
    dev_code = dev_code.astype(np.int64)

    # Operations are distinct (device, start) pairs among the momentary records; a sequence is
    # anchored at its first operation and takes every later one of the device within the window.
    mdev, mstart = dev_code[mom], intr.start_s[mom]
    order = np.lexsort((mstart, mdev))
    sd, ss = mdev[order], mstart[order]
    new_op = np.ones(order.size, dtype=bool)
    new_op[1:] = (sd[1:] != sd[:-1]) | (ss[1:] != ss[:-1])
    op_of_sorted = np.cumsum(new_op) - 1
    op_dev, op_start = sd[new_op], ss[new_op]
    op_seq = np.empty(op_dev.size, dtype=np.int64)
    seq_anchor: list[float] = []
    seq_device: list[int] = []
    for k in range(op_dev.size):
        if not seq_device or seq_device[-1] != op_dev[k] or op_start[k] > seq_anchor[-1] + settings.window_s:
            seq_anchor.append(float(op_start[k]))
            seq_device.append(int(op_dev[k]))
        op_seq[k] = len(seq_device) - 1
    mseq = np.empty(mom.size, dtype=np.int64)
    mseq[order] = op_seq[op_of_sorted]
    sequence[mom] = mseq

    # One event per (customer, sequence): its first record counts it, unless the customer's
    # sustained interruption from the same device began within the sequence's window.
    n_seq = len(seq_device)
    key = intr.customer[mom] * n_seq + mseq
    by_time = np.argsort(mstart, kind="stable")
    _, first = np.unique(key[by_time], return_index=True)
    first_rows = mom[by_time[first]]
    pairs = pd.DataFrame({"row": first_rows, "customer": intr.customer[first_rows],
                          "device": dev_code[first_rows],
                          "anchor": np.asarray(seq_anchor)[sequence[first_rows]]})
    sus = np.flatnonzero(sustained)
    absorbed = np.zeros(first_rows.size, dtype=bool)
    if sus.size:
        lockouts = pd.DataFrame({"customer": intr.customer[sus], "device": dev_code[sus],
                                 "lockout_s": intr.start_s[sus]})
        hit = pairs.reset_index().merge(lockouts, on=["customer", "device"])
        hit = hit[(hit["lockout_s"] >= hit["anchor"]) & (hit["lockout_s"] <= hit["anchor"] + settings.window_s)]
        absorbed[hit["index"].to_numpy()] = True
    counted[first_rows[~absorbed]] = True
    return Classified(duration, sustained, sequence, counted)


def day_of(time_s: np.ndarray | float, *, midnight_s: float = 0.0) -> np.ndarray:
    """The day number of each time (0: the day beginning at ``midnight_s``, the IDMS clock time of
    some midnight; negative before it)."""
    return np.floor((np.asarray(time_s, dtype=np.float64) - midnight_s) / DAY_S).astype(np.int64)


def daily_saidi_min(intr: Interruptions, customers_served: int, *, first_day: int, n_days: int,
                    midnight_s: float = 0.0, until_s: float | None = None,
                    settings: Settings = Settings()) -> np.ndarray:
    """System SAIDI of each day ``first_day .. first_day + n_days - 1`` (min; 0 for a day without
    a sustained interruption), each interruption counted whole on the day it began.
    ``until_s``: where still-out records are measured to (default: the end of the last day)."""
    if customers_served <= 0:
        raise InterruptionDataError(f"{customers_served} customers served", field="customers_served",
                                    fix="the system's customer count, at least 1")
    if until_s is None:
        until_s = midnight_s + (first_day + n_days) * DAY_S
    c = classify(intr, until_s=until_s, settings=settings)
    day = day_of(intr.start_s, midnight_s=midnight_s) - first_day
    take = c.sustained & (day >= 0) & (day < n_days)
    minutes = np.bincount(day[take], weights=c.duration_s[take] / 60.0, minlength=n_days)
    return minutes / customers_served


@dataclass(frozen=True)
class MedThreshold:
    """The 2.5-beta threshold: ``alpha`` and ``beta`` (mean and sample standard deviation of
    ln(daily SAIDI in minutes) over ``days_used`` days with SAIDI above 0) and ``t_med_min``
    = exp(alpha + 2.5 beta), the daily SAIDI (min) above which a day is a major event day."""

    alpha: float
    beta: float
    t_med_min: float
    days_used: int


def med_threshold(daily_saidi: np.ndarray, *, k: float = 2.5) -> MedThreshold:
    """T_MED from a history of daily SAIDI (min; IEEE 1366: the five most recent years).

    Days with SAIDI 0 are left out (their logarithm does not exist); at least two days above 0
    are needed for a standard deviation. ``k``: the multiple of beta (2.5 in IEEE 1366).
    """
    s = np.asarray(daily_saidi, dtype=np.float64)
    bad = np.flatnonzero(~np.isfinite(s) | (s < 0))
    if bad.size:
        raise InterruptionDataError("daily SAIDI is negative or not a number", field="daily_saidi",
                                    rows=bad, fix="minutes per customer, 0 for a day without interruption")
    logs = np.log(s[s > 0])
    if logs.size < 2:
        raise InterruptionDataError(f"only {logs.size} day(s) with SAIDI above 0", field="daily_saidi",
                                    fix="T_MED needs a history with at least two days of interruptions "
                                    "(IEEE 1366 uses five years)")
    alpha = float(logs.mean())
    beta = float(logs.std(ddof=1))
    return MedThreshold(alpha=alpha, beta=beta, t_med_min=float(np.exp(alpha + k * beta)), days_used=int(logs.size))


def major_event_days(daily_saidi: np.ndarray, threshold: MedThreshold | float) -> np.ndarray:
    """True for each day whose SAIDI (min) is above T_MED (a :class:`MedThreshold` or minutes)."""
    t = threshold.t_med_min if isinstance(threshold, MedThreshold) else float(threshold)
    return np.asarray(daily_saidi, dtype=np.float64) > t


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    out = np.full(num.shape, np.nan)
    np.divide(num, den, out=out, where=den > 0)
    return out


def indices(intr: Interruptions, feeder_of: np.ndarray, *, t0_s: float, t1_s: float,
            exclude_days: Iterable[int] = (), midnight_s: float = 0.0,
            settings: Settings = Settings()) -> pd.DataFrame:
    """IEEE 1366 indices per feeder and for the system over the period ``[t0_s, t1_s)``.

    ``feeder_of``: the feeder id of every customer (its length is the number of customers
    served; ``intr.customer`` indexes it). Interruptions that began in the period count, whole;
    those still out are measured to ``t1_s``. ``exclude_days``: day numbers (see :func:`day_of`)
    whose interruptions are left out (the major event days, for indices "without MEDs").

    Returns a table indexed by feeder id, then ``"system"``, with the totals
    (:data:`COUNT_COLUMNS`: customers served, customer interruptions, distinct customers
    interrupted, customer-minutes, customer momentary events) and the indices
    (:data:`INDEX_COLUMNS`); CAIDI and CAIFI are NaN where nobody was interrupted.
    """
    feeder_of = np.asarray(feeder_of).astype(str)
    n_served = feeder_of.size
    if n_served == 0:
        raise InterruptionDataError("no customers served", field="feeder_of", fix="one feeder id per customer")
    bad = np.flatnonzero(intr.customer >= n_served)
    if bad.size:
        raise InterruptionDataError(f"customer row beyond the {n_served} customers served", field="customer",
                                    rows=bad, fix="customer rows index feeder_of")
    feeders, fcode = np.unique(feeder_of, return_inverse=True)
    nf = feeders.size
    if SYSTEM in feeders:
        raise InterruptionDataError(f"a feeder is named {SYSTEM!r}", field="feeder_of",
                                    rows=np.flatnonzero(feeder_of == SYSTEM),
                                    fix=f"rename it: {SYSTEM!r} is the row of the whole system")
    c = classify(intr, until_s=t1_s, settings=settings)
    keep = (intr.start_s >= t0_s) & (intr.start_s < t1_s)
    excluded = np.fromiter(exclude_days, dtype=np.int64)
    if excluded.size:
        keep &= ~np.isin(day_of(intr.start_s, midnight_s=midnight_s), excluded)
    sus = np.flatnonzero(keep & c.sustained)
    mom = np.flatnonzero(keep & c.counted)

    cust_s = intr.customer[sus]
    dur_s = c.duration_s[sus]
    k_sus = np.bincount(cust_s, minlength=n_served)
    k_mom = np.bincount(intr.customer[mom], minlength=n_served)
    total_s = np.bincount(cust_s, weights=dur_s, minlength=n_served)
    longest_s = np.zeros(n_served)
    np.maximum.at(longest_s, cust_s, dur_s)

    def per_feeder(weights: np.ndarray) -> np.ndarray:
        by = np.bincount(fcode, weights=weights.astype(np.float64), minlength=nf)
        return np.append(by, by.sum())

    counts = {
        "customers_served": per_feeder(np.ones(n_served)),
        "customer_interruptions": per_feeder(k_sus),
        "customers_interrupted": per_feeder(k_sus > 0),
        "customer_minutes": per_feeder(total_s / 60.0),
        "customer_momentary_events": per_feeder(k_mom),
    }
    served = counts["customers_served"]
    n = settings.cemi_n
    table = pd.DataFrame(counts, index=pd.Index([*feeders, SYSTEM], name="feeder"))
    for col in ("customers_served", "customer_interruptions", "customers_interrupted",
                "customer_momentary_events"):
        table[col] = table[col].round().astype(np.int64)
    table["saifi"] = counts["customer_interruptions"] / served
    table["saidi_min"] = counts["customer_minutes"] / served
    table["caidi_min"] = _ratio(counts["customer_minutes"], counts["customer_interruptions"])
    table["caifi"] = _ratio(counts["customer_interruptions"], counts["customers_interrupted"])
    table["maifi_e"] = counts["customer_momentary_events"] / served
    table["cemi_n"] = per_feeder(k_sus > n) / served
    table["cemsmi_n"] = per_feeder(k_sus + k_mom > n) / served
    table["celid_s"] = per_feeder(longest_s >= settings.celid_single_s) / served
    table["celid_t"] = per_feeder(total_s >= settings.celid_total_s) / served
    return table
