"""IEEE 1366 indices against hand-computed examples, momentary event grouping, CEMI_n and CELID
edges, the 2.5-beta threshold against worked examples, and the regulatory report files."""

from __future__ import annotations

import datetime as dt
import math
from html.parser import HTMLParser

import numpy as np
import pandas as pd
import pytest

from twin.idms.reliability import (DAY_S, InterruptionDataError, Interruptions, Settings, classify,
                                   daily_saidi_min, day_of, indices, major_event_days, med_threshold)
from twin.idms.reliability_report import build_report, report_csv_table, write_csv, write_html

MIN = 60.0
H = 3600.0

# Three feeders, 100 customers: F1 rows 0-19 (20), F2 rows 20-49 (30), F3 rows 50-99 (50).
FEEDER_OF = np.array(["F1"] * 20 + ["F2"] * 30 + ["F3"] * 50)


def r(a: int, b: int) -> list[int]:
    return list(range(a, b))


def three_feeders() -> Interruptions:
    """The worked example (times in s from midnight of day 0).

    Day 0:
      A  F1-FUSE1 blows at 01:00, customers 0-9 (10) out 90 min              -> 10 CI,   900 CMI
      B  F1-REC trips and recloses at 35900 and 35950 (2 s each), locks out at 36000 for 30 min,
         customers 0-19 (20): the two momentaries end in lockout, so they are no event  -> 20 CI, 600 CMI
      F3-REC recloses three times within 5 min of 20000 (2 s, 5 s, 10 s): one event for customers
         50-99, and once more at 20400 (400 s after the sequence began): a second event -> 100 events
      F2-SW opens for exactly 300 s at 80000, customers 20-24: not longer than 5 min, so momentary
         -> 5 events
    Day 1:
      C  F2-BKR trips at 86400 + 50000, customers 20-49 (30); 20-34 restored after 60 min by
         switching, 35-49 after 600 min (10 h) by repair   -> 30 CI, 15*60 + 15*600 = 9900 CMI
    """
    d1 = DAY_S
    events = [
        (1 * H, 1 * H + 90 * MIN, "F1-FUSE1", r(0, 10)),
        (35900.0, 35902.0, "F1-REC", r(0, 20)),
        (35950.0, 35952.0, "F1-REC", r(0, 20)),
        (36000.0, 36000.0 + 30 * MIN, "F1-REC", r(0, 20)),
        (20000.0, 20002.0, "F3-REC", r(50, 100)),
        (20030.0, 20035.0, "F3-REC", r(50, 100)),
        (20100.0, 20110.0, "F3-REC", r(50, 100)),
        (20400.0, 20402.0, "F3-REC", r(50, 100)),
        (80000.0, 80300.0, "F2-SW", r(20, 25)),
        (d1 + 50000.0, d1 + 50000.0 + 60 * MIN, "F2-BKR", r(20, 35)),
        (d1 + 50000.0, d1 + 50000.0 + 600 * MIN, "F2-BKR", r(35, 50)),
    ]
    return Interruptions.from_events(events)


# Per-customer totals of the example:
#   0-9: A (90 min) + B (30 min): 2 sustained, 120 min = 2 h exactly, longest 90 min
#   10-19: B: 1 sustained, 30 min
#   20-24: C (60 min) + 1 momentary event;  25-34: C, 60 min;  35-49: C, 600 min = 10 h
#   50-99: no sustained, 2 momentary events each
SETTINGS = Settings(cemi_n=1, celid_single_s=8 * H, celid_total_s=2 * H)


def test_indices_of_the_worked_example() -> None:
    t = indices(three_feeders(), FEEDER_OF, t0_s=0.0, t1_s=2 * DAY_S, settings=SETTINGS)
    assert list(t.index) == ["F1", "F2", "F3", "system"]
    # F1: NT 20, CI 10 + 20 = 30, CMI 900 + 600 = 1500, CN 20
    #   SAIFI 30/20 = 1.5, SAIDI 1500/20 = 75 min, CAIDI 1500/30 = 50 min, CAIFI 30/20 = 1.5
    #   CEMI_1: customers 0-9 have 2 > 1: 10/20 = 0.5; CELID-t (>= 2 h): customers 0-9 (120 min): 0.5
    f1 = t.loc["F1"]
    assert (f1.customers_served, f1.customer_interruptions, f1.customers_interrupted) == (20, 30, 20)
    assert f1.customer_minutes == pytest.approx(1500.0)
    assert (f1.saifi, f1.saidi_min, f1.caidi_min, f1.caifi) == pytest.approx((1.5, 75.0, 50.0, 1.5))
    assert (f1.maifi_e, f1.cemi_n, f1.cemsmi_n, f1.celid_s, f1.celid_t) == pytest.approx((0, 0.5, 0.5, 0, 0.5))
    # F2: NT 30, CI 30, CMI 9900, CN 30: SAIFI 1, SAIDI 330, CAIDI 330, CAIFI 1
    #   MAIFI_E 5/30 (F2-SW); CEMSMI_1: 20-24 have 1 sustained + 1 momentary = 2 > 1: 5/30
    #   CELID-s (>= 8 h): 35-49: 15/30 = 0.5; CELID-t (>= 2 h): the same 15: 0.5
    f2 = t.loc["F2"]
    assert (f2.saifi, f2.saidi_min, f2.caidi_min, f2.caifi) == pytest.approx((1.0, 330.0, 330.0, 1.0))
    assert (f2.maifi_e, f2.cemi_n, f2.cemsmi_n, f2.celid_s, f2.celid_t) == pytest.approx((5 / 30, 0, 5 / 30, 0.5, 0.5))
    # F3: NT 50, nothing sustained: CAIDI and CAIFI undefined; MAIFI_E 100/50 = 2; CEMSMI_1 50/50 = 1
    f3 = t.loc["F3"]
    assert (f3.saifi, f3.saidi_min, f3.maifi_e, f3.cemsmi_n) == pytest.approx((0, 0, 2.0, 1.0))
    assert math.isnan(f3.caidi_min) and math.isnan(f3.caifi)
    assert f3.customer_momentary_events == 100
    # System: NT 100, CI 60, CMI 11400, CN 50, momentary events 105
    #   SAIFI 0.6, SAIDI 114 min, CAIDI 190 min, CAIFI 1.2, MAIFI_E 1.05
    #   CEMI_1 10/100, CEMSMI_1 (10 + 5 + 50)/100, CELID-s 15/100, CELID-t (10 + 15)/100
    s = t.loc["system"]
    assert (s.customers_served, s.customer_interruptions, s.customers_interrupted) == (100, 60, 50)
    assert (s.saifi, s.saidi_min, s.caidi_min, s.caifi, s.maifi_e) == pytest.approx((0.6, 114.0, 190.0, 1.2, 1.05))
    assert (s.cemi_n, s.cemsmi_n, s.celid_s, s.celid_t) == pytest.approx((0.1, 0.65, 0.15, 0.25))


def test_period_and_excluded_days() -> None:
    intr = three_feeders()
    # Day 1 alone holds only C: SAIFI 30/100, SAIDI 9900/100 = 99 min.
    day1 = indices(intr, FEEDER_OF, t0_s=DAY_S, t1_s=2 * DAY_S)
    assert (day1.loc["system", "saifi"], day1.loc["system", "saidi_min"]) == pytest.approx((0.3, 99.0))
    assert day1.loc["system", "maifi_e"] == 0
    # Both days without day 1 are day 0 alone: SAIFI 30/100, SAIDI 1500/100 = 15, MAIFI_E 105/100.
    normal = indices(intr, FEEDER_OF, t0_s=0.0, t1_s=2 * DAY_S, exclude_days=[1])
    assert (normal.loc["system", "saifi"], normal.loc["system", "saidi_min"],
            normal.loc["system", "maifi_e"]) == pytest.approx((0.3, 15.0, 1.05))


def test_momentary_sequences_are_anchored_at_their_first_operation() -> None:
    # One device operating at 0, 200 and 400 s: 0 and 200 are within 5 min of the first, 400 is not
    # (a chain of gaps would make one event of all three). Another device at 100 s is its own event.
    intr = Interruptions.from_events([(0.0, 1.0, "R1", [0, 1]), (200.0, 201.0, "R1", [0, 1]),
                                      (400.0, 401.0, "R1", [0]), (100.0, 101.0, "R2", [2])])
    c = classify(intr, until_s=1000.0)
    assert not c.sustained.any()
    # Records: 0,1 at t=0; 2,3 at 200; 4 at 400; 5 on R2.
    assert c.sequence[0] == c.sequence[1] == c.sequence[2] == c.sequence[3]
    assert c.sequence[4] != c.sequence[0] and c.sequence[5] not in (c.sequence[0], c.sequence[4])
    assert c.counted.tolist() == [True, True, False, False, True, True]
    t = indices(intr, np.array(["F"] * 4), t0_s=0.0, t1_s=1000.0)
    assert t.loc["system", "customer_momentary_events"] == 4  # customer 0: 2, customer 1: 1, customer 2: 1
    assert t.loc["system", "maifi_e"] == pytest.approx(1.0)


def test_a_sequence_ending_in_lockout_is_only_the_sustained_interruption() -> None:
    # Customer 0: recloses at 0 and 60 s, locks out at 120 s for an hour. Customer 1 on another
    # device has a momentary at 30 s and a sustained interruption of its own later: both count.
    intr = Interruptions.from_events([(0.0, 1.0, "R1", [0]), (60.0, 61.0, "R1", [0]), (120.0, 3720.0, "R1", [0]),
                                      (30.0, 31.0, "R2", [1]), (5000.0, 9000.0, "R2", [1])])
    t = indices(intr, np.array(["F", "F"]), t0_s=0.0, t1_s=DAY_S)
    assert t.loc["system", "customer_momentary_events"] == 1
    assert t.loc["system", "customer_interruptions"] == 2
    assert t.loc["system", "customer_minutes"] == pytest.approx(60.0 + 4000.0 / 60.0)


def test_sustained_threshold_is_more_than_five_minutes() -> None:
    intr = Interruptions.from_events([(0.0, 300.0, "S", [0]), (1000.0, 1301.0, "S", [1])])
    c = classify(intr, until_s=DAY_S)
    assert c.sustained.tolist() == [False, True]


def test_cemi_edges() -> None:
    # Customer 0: 3 sustained interruptions, customer 1: 1, customer 2: none (NT 3).
    intr = Interruptions.from_events([(0.0, 600.0, "A", [0, 1]), (1000.0, 1600.0, "A", [0]),
                                      (2000.0, 2600.0, "A", [0])])
    feeders = np.array(["F"] * 3)

    def cemi(n: int) -> float:
        return indices(intr, feeders, t0_s=0.0, t1_s=DAY_S, settings=Settings(cemi_n=n)).loc["system", "cemi_n"]

    assert cemi(0) == pytest.approx(2 / 3)  # more than 0: everyone interrupted at all (CN / NT)
    assert cemi(1) == pytest.approx(1 / 3)
    assert cemi(2) == pytest.approx(1 / 3)
    assert cemi(3) == 0.0  # exactly 3 is not more than 3


def test_celid_edges() -> None:
    # Customer 0: one interruption of exactly 4 h; customer 1: 4 h less a second; customer 2: two
    # of 2 h (4 h in total, neither long on its own); customer 3 untouched.
    intr = Interruptions.from_events([(0.0, 4 * H, "A", [0]), (0.0, 4 * H - 1, "B", [1]),
                                      (0.0, 2 * H, "C", [2]), (5 * H, 7 * H, "C", [2])])
    t = indices(intr, np.array(["F"] * 4), t0_s=0.0, t1_s=DAY_S,
                settings=Settings(celid_single_s=4 * H, celid_total_s=4 * H))
    assert t.loc["system", "celid_s"] == pytest.approx(1 / 4)  # customer 0 only (at least 4 h)
    assert t.loc["system", "celid_t"] == pytest.approx(2 / 4)  # customers 0 and 2


def test_still_out_is_measured_to_the_end_of_the_period_and_belongs_to_its_first_day() -> None:
    # Customer 0 out from 23:00 of day 0, never restored; period ends at 02:00 of day 1: 3 h.
    intr = Interruptions(customer=[0], start_s=[23 * H], end_s=[np.nan], device=["F"])
    t = indices(intr, np.array(["F", "F"]), t0_s=0.0, t1_s=DAY_S + 2 * H)
    assert t.loc["system", "customer_minutes"] == pytest.approx(180.0)
    daily = daily_saidi_min(intr, 2, first_day=0, n_days=2, until_s=DAY_S + 2 * H)
    assert daily.tolist() == pytest.approx([90.0, 0.0])  # 180 customer-minutes / 2, all on day 0
    # Starting on day 1, with midnight at clock 1 h: the same start is 22:00 of day 0.
    assert day_of(23 * H, midnight_s=1 * H) == 0 and day_of(25 * H, midnight_s=1 * H) == 1
    assert day_of(-1.0) == -1


def test_bad_records_are_reported_with_their_rows() -> None:
    with pytest.raises(InterruptionDataError) as err:
        Interruptions.from_events([(0.0, 600.0, "A", [0, 1]), (300.0, 900.0, "B", [1])])
    assert err.value.field == "start_s" and err.value.rows == (1, 2)
    with pytest.raises(InterruptionDataError) as err:
        Interruptions(customer=[0, 1], start_s=[10.0, 10.0], end_s=[5.0, 20.0], device=["A", "A"])
    assert err.value.field == "end_s" and err.value.rows == (0,)
    with pytest.raises(InterruptionDataError) as err:
        Interruptions(customer=[0], start_s=[0.0, 1.0], end_s=[1.0], device=["A"])
    assert err.value.field == "start_s"
    with pytest.raises(InterruptionDataError) as err:
        indices(Interruptions.from_events([(0.0, 600.0, "A", [5])]), np.array(["F"]), t0_s=0.0, t1_s=DAY_S)
    assert err.value.field == "customer" and err.value.rows == (0,)
    with pytest.raises(InterruptionDataError) as err:
        indices(Interruptions.from_events([]), np.array(["F", "system"]), t0_s=0.0, t1_s=DAY_S)
    assert err.value.field == "feeder_of" and err.value.rows == (1,)


def test_no_interruptions_and_records_from_a_table() -> None:
    t = indices(Interruptions.from_events([]), np.array(["F1", "F2"]), t0_s=0.0, t1_s=DAY_S)
    assert t["saifi"].tolist() == [0, 0, 0] and t["maifi_e"].tolist() == [0, 0, 0]
    assert t["caidi_min"].isna().all() and t["customers_served"].tolist() == [1, 1, 2]
    frame = pd.DataFrame({"customer": [1], "start_s": [0.0], "end_s": [1200.0], "device": ["FUSE9"]})
    t = indices(Interruptions.from_frame(frame), np.array(["F1", "F2"]), t0_s=0.0, t1_s=DAY_S)
    assert t.loc["F2", "saidi_min"] == pytest.approx(20.0) and t.loc["F1", "saidi_min"] == 0
    with pytest.raises(InterruptionDataError) as err:
        Interruptions.from_frame(frame.drop(columns="device"))
    assert err.value.field == "device"


def test_indices_agree_with_a_direct_count() -> None:
    """Random records against a plain loop over customers written from the definitions."""
    rng = np.random.default_rng(1366)
    n_cust = 300
    feeders = rng.choice(np.array(["A", "B", "C", "D"]), n_cust)
    rows = []
    for c in range(n_cust):
        t = 0.0
        for _ in range(rng.integers(0, 6)):
            t += rng.uniform(10.0, 5 * H)
            d = rng.choice([rng.uniform(1.0, 299.0), rng.uniform(301.0, 10 * H)])
            rows.append((c, t, t + d))
            t += d
    cust = np.array([x[0] for x in rows])
    start = np.array([x[1] for x in rows])
    end = np.array([x[2] for x in rows])
    intr = Interruptions(cust, start, end, np.array([f"D{c}" for c in cust], dtype=object))
    s = Settings(cemi_n=2, celid_single_s=3 * H, celid_total_s=6 * H, window_s=1.0)
    t = indices(intr, feeders, t0_s=0.0, t1_s=10 * DAY_S, settings=s)
    for f in ["A", "B", "C", "D", "system"]:
        members = [c for c in range(n_cust) if f == "system" or feeders[c] == f]
        sust = {c: [(e - b) for cc, b, e in rows if cc == c and e - b > 300.0] for c in members}
        mom = {c: sum(1 for cc, b, e in rows if cc == c and e - b <= 300.0) for c in members}
        nt = len(members)
        ci = sum(len(v) for v in sust.values())
        cmi = sum(sum(v) for v in sust.values()) / 60.0
        cn = sum(1 for v in sust.values() if v)
        assert t.loc[f, "saifi"] == pytest.approx(ci / nt)
        assert t.loc[f, "saidi_min"] == pytest.approx(cmi / nt)
        assert t.loc[f, "caifi"] == pytest.approx(ci / cn)
        assert t.loc[f, "maifi_e"] == pytest.approx(sum(mom.values()) / nt)
        assert t.loc[f, "cemi_n"] == pytest.approx(sum(1 for v in sust.values() if len(v) > 2) / nt)
        assert t.loc[f, "cemsmi_n"] == pytest.approx(sum(1 for c in members if len(sust[c]) + mom[c] > 2) / nt)
        assert t.loc[f, "celid_s"] == pytest.approx(sum(1 for v in sust.values() if v and max(v) >= 3 * H) / nt)
        assert t.loc[f, "celid_t"] == pytest.approx(sum(1 for v in sust.values() if sum(v) >= 6 * H) / nt)


def test_two_and_a_half_beta_worked_example() -> None:
    # Ten days of SAIDI (min): e^0, e^1, e^-1, e^2, e^-2, 0, e^0, e^1, e^-1, 0.
    # The two zero days are dropped; ln of the other eight: 0, 1, -1, 2, -2, 0, 1, -1.
    # alpha = 0 / 8 = 0; squared deviations 0+1+1+4+4+0+1+1 = 12; beta = sqrt(12 / 7) = 1.309307
    # T_MED = exp(0 + 2.5 * 1.309307) = exp(3.273268) = 26.3975 min.
    e = math.e
    history = [1.0, e, 1 / e, e**2, e**-2, 0.0, 1.0, e, 1 / e, 0.0]
    t = med_threshold(history)
    assert t.days_used == 8
    assert t.alpha == pytest.approx(0.0, abs=1e-12)
    assert t.beta == pytest.approx(1.3093073, rel=1e-7)
    assert t.t_med_min == pytest.approx(26.397475, rel=1e-7)
    # A day above T_MED is a major event day; one at it is not.
    assert major_event_days([26.0, 26.5, 0.0, 300.0], t).tolist() == [False, True, False, True]
    assert major_event_days([t.t_med_min], t).tolist() == [False]


def test_two_and_a_half_beta_second_example() -> None:
    # 2, 4, 8, 16 min: ln = (1, 2, 3, 4) ln 2; alpha = 2.5 ln 2 = 1.732868;
    # beta = ln 2 * sqrt(((1.5^2 + 0.5^2) * 2) / 3) = ln 2 * sqrt(5/3) = 0.894849;
    # T_MED = 2^(2.5 + 2.5 sqrt(5/3)) = 2^5.727486 = 52.98405 min.
    t = med_threshold([2.0, 0.0, 4.0, 8.0, 16.0])
    assert (t.alpha, t.beta, t.t_med_min) == pytest.approx((1.7328680, 0.8948492, 52.984046), rel=1e-7)


def test_med_threshold_needs_days_with_interruptions() -> None:
    with pytest.raises(InterruptionDataError) as err:
        med_threshold(np.zeros(365))
    assert err.value.field == "daily_saidi"
    with pytest.raises(InterruptionDataError):
        med_threshold([0.0, 3.0, 0.0])  # one day: no standard deviation
    with pytest.raises(InterruptionDataError) as err:
        med_threshold([1.0, -2.0, 3.0])
    assert err.value.rows == (1,)


HISTORY = [1.0, math.e, 1 / math.e, math.e**2, math.e**-2, 0.0, 1.0, math.e, 1 / math.e, 0.0]  # T_MED 26.40


def test_report_classifies_the_storm_day_and_writes_csv(tmp_path) -> None:
    # Daily SAIDI of the example: day 0 (900 + 600) / 100 = 15 min, day 1 9900 / 100 = 99 min:
    # against T_MED 26.40 day 1 is a major event day.
    rep = build_report(three_feeders(), FEEDER_OF, t0_s=0.0, t1_s=2 * DAY_S, history_saidi_min=HISTORY,
                       settings=SETTINGS, title="Storm of day 1")
    assert rep.daily["saidi_min"].tolist() == pytest.approx([15.0, 99.0])
    assert rep.med_days.tolist() == [1]
    path = write_csv(rep, tmp_path / "reliability.csv")
    csv = pd.read_csv(path, keep_default_na=True).set_index("feeder")
    assert list(csv.index) == ["F1", "F2", "F3", "system"]
    for col in rep.all_days.columns:
        np.testing.assert_allclose(csv[col].to_numpy(float), rep.all_days[col].to_numpy(float), rtol=0,
                                   atol=0, equal_nan=True)
        if col != "customers_served":
            np.testing.assert_allclose(csv[col + "_excl_med"].to_numpy(float), rep.normal_days[col].to_numpy(float),
                                       rtol=0, atol=0, equal_nan=True)
    # Without the MED (storm C gone): system SAIFI 30/100, SAIDI 15, CAIDI 50; F2 keeps its momentaries.
    assert (csv.loc["system", "saifi_excl_med"], csv.loc["system", "saidi_min_excl_med"],
            csv.loc["system", "caidi_min_excl_med"]) == pytest.approx((0.3, 15.0, 50.0))
    assert csv.loc["F2", "saifi_excl_med"] == 0 and math.isnan(csv.loc["F2", "caidi_min_excl_med"])
    assert csv.loc["F2", "maifi_e_excl_med"] == pytest.approx(5 / 30)
    assert csv.loc["system", "saidi_min"] == pytest.approx(114.0)
    assert len(report_csv_table(rep)) == 4


class _Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str] = []
        self.tags: list[str] = []
        self.text: list[str] = []
        self.attrs: list[tuple[str, str | None]] = []

    VOID = {"meta", "br"}

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.attrs += attrs
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag):
        assert self.stack and self.stack[-1] == tag, f"</{tag}> closes <{self.stack[-1] if self.stack else ''}>"
        self.stack.pop()

    def handle_data(self, data):
        self.text.append(data)


def test_report_html_is_self_contained_and_readable(tmp_path) -> None:
    rep = build_report(three_feeders(), FEEDER_OF, t0_s=0.0, t1_s=2 * DAY_S, history_saidi_min=HISTORY,
                       settings=SETTINGS, title="Storm <test> & report", epoch=dt.datetime(2026, 7, 14, 0, 0))
    path = write_html(rep, tmp_path / "reliability.html")
    page = _Page()
    page.feed(path.read_text(encoding="utf-8"))
    page.close()
    assert page.stack == []  # every element closed
    text = " ".join(page.text)
    assert "Storm <test> & report" in text
    assert "2026-07-14 00:00" in text and "2026-07-16 00:00" in text  # the period
    assert "26.40 min" in text  # T_MED
    assert "2026-07-15" in text and "99.00" in text  # the major event day and its SAIDI
    assert "114.0" in text and "75.0" in text  # system and F1 SAIDI
    assert not {"script", "link", "img", "iframe"} & set(page.tags)
    assert not any(v and ("http" in v or "//" in v) for _, v in page.attrs)
    assert page.tags.count("table") == 4  # MEDs, two index tables, daily SAIDI


def test_report_without_history_has_no_major_event_days() -> None:
    rep = build_report(three_feeders(), FEEDER_OF, t0_s=0.0, t1_s=2 * DAY_S)
    assert rep.threshold is None and rep.med_days.size == 0
    pd.testing.assert_frame_equal(rep.all_days, rep.normal_days)
    with pytest.raises(InterruptionDataError):
        build_report(three_feeders(), FEEDER_OF, t0_s=10.0, t1_s=10.0)


def test_epoch_puts_days_at_local_midnight() -> None:
    # Clock 0 is 18:00: the interruption at clock 7 h (01:00 next day) is on day 1.
    intr = Interruptions.from_events([(7 * H, 8 * H, "A", [0])])
    rep = build_report(intr, np.array(["F"]), t0_s=0.0, t1_s=DAY_S, epoch=dt.datetime(2026, 1, 1, 18, 0))
    assert rep.midnight_s == -18 * H
    assert rep.daily["day"].tolist() == [0, 1] and rep.daily["saidi_min"].tolist() == pytest.approx([0.0, 60.0])
    assert rep.day_label(1) == "2026-01-02"


def test_a_large_territory_is_counted_in_bulk() -> None:
    """100,000 customers on 40 feeders, 200,000 records: totals per feeder add up to the system."""
    rng = np.random.default_rng(7)
    n = 100_000
    feeders = np.array([f"F{i:02d}" for i in rng.integers(0, 40, n)])
    cust = np.concatenate([np.arange(n), np.arange(n)])
    start = np.concatenate([rng.uniform(0, DAY_S, n), rng.uniform(2 * DAY_S, 3 * DAY_S, n)])
    dur = rng.choice([30.0, 4 * H], cust.size)
    device = np.array([f"R{i}" for i in rng.integers(0, 500, cust.size)], dtype=object)
    intr = Interruptions(cust, start, start + dur, device)
    t = indices(intr, feeders, t0_s=0.0, t1_s=4 * DAY_S)
    per = t.drop(index="system")
    for col in ("customers_served", "customer_interruptions", "customers_interrupted",
                "customer_momentary_events"):
        assert per[col].sum() == t.loc["system", col]
    assert per["customer_minutes"].sum() == pytest.approx(t.loc["system", "customer_minutes"])
    sustained = dur > 300.0
    assert t.loc["system", "customer_interruptions"] == sustained.sum()
    assert t.loc["system", "customer_momentary_events"] == (~sustained).sum()  # a day apart: all separate
    assert t.loc["system", "customers_served"] == n
