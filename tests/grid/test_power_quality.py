"""Power quality: ANSI C84.1 ranges, NEMA and IEC unbalance, violations over time."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from twin.grid.power_quality import (
    ansi_range,
    unbalance_iec_pct,
    unbalance_nema_pct,
    violations_over_time,
)

A = np.exp(2j * np.pi / 3)


def phasors(mags, angles_deg=(0.0, -120.0, 120.0)):
    return np.array([m * np.exp(1j * np.radians(a)) for m, a in zip(mags, angles_deg)])


def test_ansi_ranges_at_their_edges_on_120_v():
    volts = np.array([114.0, 126.0, 113.9, 126.1, 110.1, 127.0, 109.9, 127.1, 0.0, np.nan])
    assert ansi_range(volts / 120.0).tolist() == [0, 0, 1, 1, 1, 1, 2, 2, -1, -1]


def test_nema_unbalance_of_a_textbook_case():
    # Line voltages 460, 467, 450 V: mean 459, largest deviation 9 V -> 1.96 % (NEMA MG-1 example)
    a, b, c = 460.0, 467.0, 450.0  # |Vab|, |Vbc|, |Vca|, closing the triangle Vab + Vbc + Vca = 0
    theta = np.arccos((b**2 - a**2 - c**2) / (2 * a * c))
    v_ab, v_ca = a, c * np.exp(1j * theta)
    v = np.array([0.0, -v_ab, v_ca])  # any phase phasors with those line voltages
    assert np.abs(v - np.roll(v, -1)) == pytest.approx([a, b, c])
    assert unbalance_nema_pct(v) == pytest.approx(100 * 9 / 459, rel=1e-9)


def test_iec_unbalance_is_the_sequence_ratio():
    v1, v2 = 1.0, 0.03
    v = v1 * np.array([1, A**2, A]) + v2 * np.array([1, A, A**2])
    assert unbalance_iec_pct(v) == pytest.approx(3.0)
    assert np.isnan(unbalance_iec_pct(np.zeros(3)))


@settings(max_examples=60, deadline=None)
@given(st.floats(0.9, 1.1), st.floats(0.9, 1.1), st.floats(0.9, 1.1))
def test_both_unbalance_measures_agree_for_small_unbalance(ma, mb, mc):
    v = phasors((ma, mb, mc))
    # for small unbalance the NEMA rate is within a factor of about 1.2 of the IEC factor
    nema, iec = float(unbalance_nema_pct(v)), float(unbalance_iec_pct(v))
    assert nema <= 1.2 * iec + 1e-9 and iec <= 1.3 * nema + 1e-9


def test_violations_count_entries_and_durations_per_node_and_group():
    # 3 nodes, 6 steps of 15 min: node 0 dips twice, node 1 out of B once for two steps, node 2 dead once
    v = np.array([
        [1.00, 1.00, 1.00],
        [0.94, 0.90, 1.00],
        [1.00, 0.90, 0.00],
        [0.94, 1.00, 1.00],
        [0.94, 1.00, 1.00],
        [1.00, 1.00, 1.00],
    ])
    s = violations_over_time(v, 900.0)
    assert s.outside_a_events.tolist() == [2, 1, 0]
    assert s.outside_a_s.tolist() == [2700.0, 1800.0, 0.0]
    assert s.outside_b_events.tolist() == [0, 1, 0] and s.outside_b_s.tolist() == [0.0, 1800.0, 0.0]
    assert s.dead_s.tolist() == [0.0, 0.0, 900.0]
    groups = s.by_group(np.array(["F1", "F1", "F2"]))
    assert groups["F1"]["outside_a_events"] == 3 and groups["F2"]["dead_s"] == 900.0
