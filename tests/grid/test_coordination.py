"""Coordination margins of devices in series, against hand calculations."""

from __future__ import annotations

import math

import numpy as np
import pytest

from twin.grid.coordination import Rule, crossing_a, margin, margins, rules
from twin.grid.tcc import (
    CURVES,
    FuseSettings,
    LinkType,
    RelaySettings,
    SectionaliserSettings,
    settings_from_switch,
)

T40, T65, T100, T200 = (FuseSettings(LinkType.T, r) for r in (40, 65, 100, 200))
RCL = settings_from_switch(1, "2A2C 200A", 630.0)


def test_40t_below_100t_coordinates():
    m = margin(T100, T40, np.geomspace(100.0, 4000.0, 200))
    assert m.rule is Rule.fuse_fuse and m.coordinated
    # 80-200 A: only the 40T melts (+inf); the margin is smallest at the top of the range.
    assert np.isinf(m.margin_s[m.i_a < 200]).all() and m.worst_a == pytest.approx(4000.0)
    # Above the 0.1 s points both curves are I^2 t: 0.75 * 0.1 * (2620 / I)^2 (100T minimum melt)
    # meets 0.1 * (1240 / I)^2 + 1/60 (40T total clearing) at I^2 = 60 * (0.075 * 2620^2 - 0.1 * 1240^2),
    # I = 4654.5 A.
    assert crossing_a(T100, T40, 100.0, 4000.0) is None
    assert crossing_a(T100, T40, 100.0, 10000.0) == pytest.approx(math.sqrt(60 * (0.075 * 2620**2 - 0.1 * 1240**2)),
                                                                  rel=1e-6)


def test_40t_below_65t_coordinates_from_450_to_1740_a():
    # As above: I^2 = 60 * (0.075 * 1650^2 - 0.1 * 1240^2), I = 1739.4 A.
    limit = math.sqrt(60 * (0.075 * 1650**2 - 0.1 * 1240**2))
    assert crossing_a(T65, T40, 500.0, 5000.0) == pytest.approx(limit, rel=1e-6)
    assert margin(T65, T40, np.geomspace(500, 0.99 * limit, 50)).coordinated
    assert not margin(T65, T40, np.geomspace(1.01 * limit, 5000, 50)).ok.any()
    # With the standard's band the pair also fails near 10 s: the 65T's minimum melting current
    # at 10 s (195 A) is barely above the 40T's maximum (178 A). At 195 A: 0.75 * 10 s = 7.5 s
    # against 1.1 * 10 * (178 / 195)^2.37247 = 8.859 s of 40T total clearing.
    at_195 = 0.75 * 10.0 - 1.1 * 10.0 * (178 / 195) ** (2 / math.log10(1240 / 178))
    assert margin(T65, T40, 195.0).margin_s[0] == pytest.approx(at_195, rel=1e-9)
    assert at_195 == pytest.approx(-1.359, abs=1e-3)
    assert 180.0 < crossing_a(T65, T40, 100.0, 5000.0) < 195.0


def test_100t_below_40t_does_not_coordinate_and_crossing_finds_where():
    m = margin(T40, T100, np.geomspace(50.0, 5000.0, 100))
    assert not m.coordinated
    # Below 80 A neither melts; from 80 A (the 40T's minimum melting current at 300 s) the 40T
    # melts before the 100T could clear, at every current.
    assert m.ok[m.i_a < 80].all() and not m.ok[m.i_a >= 80].any()
    assert crossing_a(T40, T100, 50.0, 5000.0) == pytest.approx(80.0, rel=1e-6)


def _fast_a(i):  # recloser 200 A minimum trip, curve A: 0.147 / (M^2 - 1) + 0.0435
    return 0.147 / ((i / 200.0) ** 2 - 1) + 0.0435


def _melt_40t(i):  # 40T minimum melt above 1040 A: 0.1 * (1040 / I)^2
    return 0.1 * (1040.0 / i) ** 2


def test_fuse_saving_holds_below_the_crossing_current():
    limit = crossing_a(RCL, T40, 250.0, 5000.0, rule=Rule.fuse_saving)
    # By hand: at 1200 A 0.75 * 0.07511 = 0.05633 s > 0.04770 s (fast curve): saved; at 1400 A
    # 0.75 * 0.05518 = 0.04139 s < 0.04656 s: not saved. The crossing solves 0.75 * melt = fast.
    assert 1200.0 < limit < 1400.0
    assert 0.75 * _melt_40t(limit) == pytest.approx(_fast_a(limit), rel=1e-6)
    below = margin(RCL, T40, np.geomspace(250.0, 0.99 * limit, 60), rule=Rule.fuse_saving)
    above = margin(RCL, T40, np.geomspace(1.01 * limit, 5000.0, 60), rule=Rule.fuse_saving)
    assert below.coordinated and not above.ok.any()
    assert below.margin_s[-1] == pytest.approx(0.75 * _melt_40t(below.i_a[-1]) - _fast_a(below.i_a[-1]), rel=1e-9)
    # Below minimum trip the recloser does not see the fault, so it cannot save the fuse.
    assert not margin(RCL, T40, [150.0], rule=Rule.fuse_saving).ok[0]


def test_delayed_curve_lets_the_fuse_clear_first():
    m = margin(RCL, T40, [1000.0, 3000.0])
    assert m.rule is Rule.fuse_first and m.coordinated
    # 1000 A: C curve 5.4 / 24 + 0.2 = 0.425 s, 40T total clearing 0.183254 s.
    assert m.margin_s[0] == pytest.approx(0.425 - 0.183254, rel=1e-5)
    # A 200T link is too slow: at 1000 A it needs minutes, and the recloser locks out first.
    assert not margin(RCL, T200, [1000.0]).coordinated
    low = crossing_a(RCL, T200, 250.0, 20000.0)
    assert low is not None
    assert margin(RCL, T200, [0.99 * low]).ok[0] != margin(RCL, T200, [1.01 * low]).ok[0]
    both = margins(RCL, T40, [1000.0])
    assert [b.rule for b in both] == [Rule.fuse_first, Rule.fuse_saving]


def test_relay_relay_and_relay_recloser_cti():
    up = RelaySettings(pickup_a=400.0, curve=CURVES["U3"], td=2.0)
    down = RelaySettings(pickup_a=200.0, curve=CURVES["U3"], td=1.0)
    # 2000 A: up M = 5, 2 * (3.88 / 24 + 0.0963) = 0.515933 s; down M = 10, 3.88 / 99 + 0.0963 =
    # 0.135492 s; margin 0.515933 - 0.135492 - 0.3 = 0.080441 s.
    m = margin(up, down, 2000.0)
    assert m.rule is Rule.cti and m.margin_s[0] == pytest.approx(0.080441, abs=2e-6)
    assert margin(up, down, 2000.0, cti_s=0.4).ok[0] == np.False_
    # The territory's feeder breaker over its recloser: at 1000 A the relay (M = 2.5) takes
    # 3.88 / 5.25 + 0.0963 = 0.835348 s, the recloser's delayed curve 0.425 s: 0.110348 s spare.
    bkr = settings_from_switch(0, "51P 400A U3; 50P 3200A", 1200.0)
    assert margin(bkr, RCL, 1000.0).margin_s[0] == pytest.approx(0.110348, abs=2e-6)
    # The relay's 50 element (3200 A) trips instantly: no CTI above it.
    assert not margin(bkr, RCL, 3500.0).ok[0]


def test_fuse_upstream_of_a_recloser_carries_its_whole_sequence():
    rcl = settings_from_switch(1, "2A2C 100A", 300.0)
    # 1000 A = 10 x 100 A: A 0.147 / 99 + 0.0435 = 0.044985 s, C 5.4 / 99 + 0.2 = 0.254545 s;
    # the sequence lets through 2 * (0.044985 + 0.254545) = 0.599061 s. 100T minimum melt at
    # 1000 A: slope 2 / log10(2620 / 319) = 2.186962, 10 * (319 / 1000)^2.186962 = 0.821881 s;
    # 0.75 * 0.821881 - 0.599061 = 0.017350 s.
    m = margin(T100, rcl, 1000.0)
    assert m.rule is Rule.fuse_backup
    expected = 0.75 * 10 * (319 / 1000) ** (2 / math.log10(2620 / 319)) - 2 * (0.147 / 99 + 0.0435 + 5.4 / 99 + 0.2)
    assert m.margin_s[0] == pytest.approx(expected, rel=1e-9)
    assert expected == pytest.approx(0.017350, abs=2e-6)


def test_pairs_with_a_sectionaliser_have_no_rule():
    sec = SectionaliserSettings(160.0)
    assert rules(RCL, sec) == () and rules(sec, T40) == () and margins(RCL, sec, [1000.0]) == ()
    with pytest.raises(ValueError, match="a sectionaliser counts"):
        margin(RCL, sec, 1000.0)
    with pytest.raises(ValueError, match="rules for this pair: fuse_fuse"):
        margin(T100, T40, 1000.0, rule=Rule.cti)
    with pytest.raises(ValueError, match="0 < i_min < i_max"):
        crossing_a(T100, T40, 100.0, 50.0)
