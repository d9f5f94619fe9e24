"""Time-current curves: relay curves against hand calculations, C37.43 fuse points, settings parsing."""

from __future__ import annotations

import math

import numpy as np
import pytest

from twin.grid.schema import SwitchKind
from twin.grid.tcc import (
    CURVES,
    FUSE_LINKS,
    FUSE_RATINGS_A,
    RECLOSER_CURVES,
    FuseSettings,
    LinkType,
    RecloserSettings,
    RelaySettings,
    SectionaliserSettings,
    clearing_time_s,
    fuse_max_melt_s,
    fuse_min_melt_s,
    fuse_total_clear_s,
    inverse_time_s,
    parse_sequence,
    min_operating_a,
    recloser_clear_s,
    relay_operate_s,
    reset_time_s,
    settings_from_switch,
)

# Hand calculations, t = A / (M^p - 1) + B at time dial 1, with
#   2^0.02 - 1 = 0.013959, 5^0.02 - 1 = 0.032712, 10^0.02 - 1 = 0.047129; M^2 - 1 = 3, 24, 99.
HAND = [
    ("U1", 2, 0.76761),  # 0.0104 / 0.013959 + 0.0226
    ("U1", 5, 0.34052),  # 0.0104 / 0.032712 + 0.0226
    ("U1", 10, 0.24327),  # 0.0104 / 0.047129 + 0.0226
    ("U2", 2, 2.16333),  # 5.95 / 3 + 0.180
    ("U2", 5, 0.42792),  # 5.95 / 24 + 0.180
    ("U2", 10, 0.24010),  # 5.95 / 99 + 0.180
    ("U3", 2, 1.38963),  # 3.88 / 3 + 0.0963
    ("U3", 5, 0.25797),  # 3.88 / 24 + 0.0963
    ("U3", 10, 0.13549),  # 3.88 / 99 + 0.0963
    ("U4", 2, 1.90434),  # 5.64 / 3 + 0.02434
    ("U4", 5, 0.25934),  # 5.64 / 24 + 0.02434
    ("U4", 10, 0.08131),  # 5.64 / 99 + 0.02434
    ("U5", 2, 0.24761),  # 0.00342 / 0.013959 + 0.00262
    ("U5", 5, 0.10717),  # 0.00342 / 0.032712 + 0.00262
    ("U5", 10, 0.07519),  # 0.00342 / 0.047129 + 0.00262
    ("C1", 2, 10.0290),  # 0.14 / 0.013959
    ("C1", 5, 4.27972),  # 0.14 / 0.032712
    ("C1", 10, 2.97060),  # 0.14 / 0.047129
    ("C2", 2, 13.5),  # 13.5 / 1
    ("C2", 5, 3.375),  # 13.5 / 4
    ("C2", 10, 1.5),  # 13.5 / 9
    ("C3", 2, 26.6667),  # 80 / 3
    ("C3", 5, 3.33333),  # 80 / 24
    ("C3", 10, 0.80808),  # 80 / 99
    ("C4", 2, 120.0),  # 120 / 1
    ("C4", 5, 30.0),  # 120 / 4
    ("C4", 10, 13.3333),  # 120 / 9
]


@pytest.mark.parametrize(("name", "m", "expected"), HAND, ids=[f"{n}-M{m}" for n, m, _ in HAND])
def test_relay_curves_match_hand_calculations(name, m, expected):
    assert float(inverse_time_s(CURVES[name], m)) == pytest.approx(expected, rel=1e-4)


# OpenDSS's built-in TCC curves 'mod_inv', 'very_inv', 'ext_inv' tabulate the C37.112 table's
# curves at time dial 1 (an independent source for the constants).
OPENDSS = {"MI": (3.8032, 1.6883, 1.2068), "VI": (7.0277, 1.3081, 0.6891), "EI": (9.5217, 1.2967, 0.4065)}


@pytest.mark.parametrize("name", sorted(OPENDSS))
def test_c37112_table_curves_match_opendss_tabulation(name):
    assert inverse_time_s(CURVES[name], [2.0, 5.0, 10.0]) == pytest.approx(OPENDSS[name], rel=2e-4)


@pytest.mark.parametrize("name", sorted(CURVES))
def test_no_operation_at_or_below_pickup_and_time_dial_scales(name):
    curve = CURVES[name]
    assert np.isinf(inverse_time_s(curve, [0.0, 0.5, 1.0])).all()
    assert float(inverse_time_s(curve, 3.0, td=0.5)) == pytest.approx(0.5 * float(inverse_time_s(curve, 3.0)))
    t = inverse_time_s(curve, np.geomspace(1.01, 100, 50))
    assert np.all(np.diff(t) < 0)  # inverse: faster at higher current


def test_reset_is_the_c37112_disk_reset():
    u3 = CURVES["U3"]
    # TD 2 * tr 3.88 / (1 - 0) = 7.76 s with no current; / (1 - 0.25) = 10.3467 s at half pickup.
    assert reset_time_s(u3, [0.0, 0.5], td=2.0) == pytest.approx([7.76, 10.34667], rel=1e-5)
    assert np.isinf(reset_time_s(u3, [1.0, 2.0])).all()


def test_relay_takes_the_faster_of_51_and_50():
    relay = RelaySettings(pickup_a=400.0, curve=CURVES["U3"], inst_a=3200.0, inst_delay_s=0.1)
    # 2000 A: 51 only (M = 5: 0.25797 s); 4000 A: M = 10 gives 0.13549 s, the 50 element 0.1 s.
    assert relay_operate_s(relay, [300.0, 2000.0, 4000.0]) == pytest.approx([np.inf, 0.25797, 0.1], rel=1e-4)
    assert float(clearing_time_s(relay, 4000.0)) == pytest.approx(0.1 + 0.05)  # 3-cycle breaker
    assert min_operating_a(relay) == 400.0
    only_50 = RelaySettings(pickup_a=None, inst_a=3000.0)
    assert relay_operate_s(only_50, [2999.0, 3000.0]).tolist() == [np.inf, 0.0]


# OpenDSS's built-in recloser curves, in multiples of minimum trip.
OPENDSS_A = {2.5: 0.07, 4.5: 0.05, 8.0: 0.045, 14.0: 0.045}
OPENDSS_D = {2.5: 0.7, 4.5: 0.2, 8.0: 0.06, 14.0: 0.02}


@pytest.mark.parametrize(("letter", "table"), [("A", OPENDSS_A), ("D", OPENDSS_D)])
def test_recloser_fits_follow_opendss_curves(letter, table):
    m = np.array(list(table))
    assert inverse_time_s(RECLOSER_CURVES[letter], m) == pytest.approx(list(table.values()), rel=0.04)


def test_recloser_curves_fast_to_slow_and_the_sequence():
    m = np.geomspace(1.05, 50, 40)
    a, b, c = (inverse_time_s(RECLOSER_CURVES[x], m) for x in "ABC")
    assert np.all(a < b) and np.all(b < c)
    # C: 5.4 / 3 + 0.2 = 2.0 s at twice minimum trip; B: 1.24 / 99 + 0.0875 = 0.100 s at ten times.
    assert float(inverse_time_s(RECLOSER_CURVES["C"], 2.0)) == pytest.approx(2.0)
    assert float(inverse_time_s(RECLOSER_CURVES["B"], 10.0)) == pytest.approx(0.100, abs=1e-4)
    rcl = RecloserSettings(min_trip_a=200.0, shots=parse_sequence("2A2C"))
    assert [s.name for s in rcl.shots] == ["A", "A", "C", "C"]
    assert (rcl.fast.name, rcl.delayed.name, rcl.interval_s(0), rcl.interval_s(2), rcl.interval_s(7)) == \
        ("A", "C", 0.5, 2.0, 2.0)
    # 1000 A is M = 5: A 0.147 / 24 + 0.0435 = 0.049625 s, C 5.4 / 24 + 0.2 = 0.425 s.
    assert float(recloser_clear_s(rcl, 1000.0, 0)) == pytest.approx(0.049625)
    assert float(recloser_clear_s(rcl, 1000.0, 3)) == pytest.approx(0.425)
    assert float(recloser_clear_s(rcl, 200.0)) == np.inf
    assert [s.name for s in parse_sequence("1a3d")] == ["A", "D", "D", "D"]


LINKS = sorted(FUSE_LINKS.values(), key=lambda d: (d.link.value, d.rating_a))


@pytest.mark.parametrize("data", LINKS, ids=[f"{d.rating_a}{d.link.value}" for d in LINKS])
def test_fuse_curves_pass_through_the_c3743_points(data):
    fuse = FuseSettings(data.link, data.rating_a)
    times = [600.0 if data.rating_a > 100 else 300.0, 10.0, 0.1]
    assert fuse_min_melt_s(fuse, data.min_a) == pytest.approx(times, rel=1e-9)
    assert fuse_max_melt_s(fuse, data.max_a) == pytest.approx(times, rel=1e-9)
    # Within the standard's band: at each time, the band's top current melts no later and its
    # bottom current no sooner than that time.
    assert np.all(fuse_min_melt_s(fuse, data.max_a) <= np.array(times) * (1 + 1e-9))
    assert np.all(fuse_max_melt_s(fuse, data.min_a) >= np.array(times) * (1 - 1e-9))
    # Nothing melts below the minimum melting current at 300 / 600 s.
    below = 0.999 * data.min_a[0]
    assert np.isinf([fuse_min_melt_s(fuse, below), fuse_max_melt_s(fuse, below), fuse_total_clear_s(fuse, below)]).all()
    i = np.geomspace(data.min_a[0], 50 * data.max_a[2], 60)
    mm, mx, tc = fuse_min_melt_s(fuse, i), fuse_max_melt_s(fuse, i), fuse_total_clear_s(fuse, i)
    assert np.all(mm <= mx) and np.all(mx < tc) and np.all(np.diff(mm) < 0)
    assert min_operating_a(fuse) == data.min_a[0]


def test_fuse_interpolation_and_total_clearing_by_hand():
    fuse = FuseSettings(LinkType.T, 40)  # 40T: min 80 / 120 / 1040 A, max 96 / 178 / 1240 A
    # Between 10 s at 120 A and 0.1 s at 1040 A the slope is 2 / log10(1040 / 120) = 2.13253:
    # 1000 A melts after 0.1 * (1040 / 1000)^2.13253 = 0.108724 s.
    assert float(fuse_min_melt_s(fuse, 1000.0)) == pytest.approx(0.108724, rel=1e-5)
    # Above 1040 A at constant I^2 t: 0.1 * (1040 / 2080)^2 = 0.025 s.
    assert float(fuse_min_melt_s(fuse, 2080.0)) == pytest.approx(0.025)
    # Maximum melt at 1000 A: slope 2 / log10(1240 / 178) = 2.37247, 0.1 * 1.24^2.37247 = 0.166587 s;
    # total clearing max(1.1 * 0.166587, 0.166587 + 1/60) = 0.183254 s.
    assert float(fuse_max_melt_s(fuse, 1000.0)) == pytest.approx(0.166587, rel=1e-5)
    assert float(fuse_total_clear_s(fuse, 1000.0)) == pytest.approx(0.183254, rel=1e-5)
    assert float(fuse_total_clear_s(fuse, 178.0)) == pytest.approx(11.0)  # 1.1 x 10 s at long times
    big = FuseSettings(LinkType.T, 140)  # 600 s point above 100 A
    assert float(fuse_min_melt_s(big, 310.0)) == pytest.approx(600.0)


@pytest.mark.parametrize("rating", FUSE_RATINGS_A)
def test_k_links_are_faster_than_t_links_at_high_current(rating):
    k, t = FuseSettings(LinkType.K, rating), FuseSettings(LinkType.T, rating)
    i = np.geomspace(10, 100, 10) * rating
    assert np.all(fuse_min_melt_s(k, i) < fuse_min_melt_s(t, i))
    assert np.all(fuse_total_clear_s(k, i) < fuse_total_clear_s(t, i))


def test_fuse_settings_refuse_ratings_without_data():
    with pytest.raises(ValueError, match="C37.43 ratings are 6, 8, 10"):
        FuseSettings(LinkType.T, 45)


# --- settings from switch rows ----------------------------------------------------------------


def test_territory_breaker_recloser_and_fuse_strings():
    bkr = settings_from_switch(SwitchKind.breaker, "51P 400A U3; 50P 3200A", 1200.0)
    assert bkr == RelaySettings(pickup_a=400.0, curve=CURVES["U3"], td=1.0, inst_a=3200.0, inst_delay_s=0.0)
    rcl = settings_from_switch(SwitchKind.recloser, "2A2C 200A", 630.0)
    assert rcl == RecloserSettings(min_trip_a=200.0, shots=parse_sequence("2A2C"), reclose_s=(0.5, 2.0, 2.0),
                                   reset_s=15.0)
    assert settings_from_switch(SwitchKind.fuse, "40T", 40.0) == FuseSettings(LinkType.T, 40)
    assert settings_from_switch(SwitchKind.fuse, "65K", 65.0) == FuseSettings(LinkType.K, 65)


def test_other_breaker_forms():
    r = settings_from_switch(SwitchKind.breaker, "51P 400A U3 TD0.5", 1200.0)
    assert (r.pickup_a, r.curve.name, r.td, r.inst_a) == (400.0, "U3", 0.5, None)
    r = settings_from_switch(SwitchKind.breaker, "51p 300a c1 td0.2; 50p 2000a 0.05s", 600.0)
    assert (r.pickup_a, r.curve.name, r.td, r.inst_a, r.inst_delay_s) == (300.0, "C1", 0.2, 2000.0, 0.05)
    r = settings_from_switch(SwitchKind.breaker, "50P 3000A", 600.0)
    assert (r.pickup_a, r.inst_a) == (None, 3000.0)
    r = settings_from_switch(SwitchKind.breaker, "51P 500A", 600.0)
    assert r.curve.name == "U3"


def test_opendss_curve_names_and_defaults():
    r = settings_from_switch(SwitchKind.breaker, "", 600.0)  # no settings: 51P at 2 x rated on U3, no 50
    assert (r.pickup_a, r.curve.name, r.td, r.inst_a) == (1200.0, "U3", 1.0, None)
    assert settings_from_switch(SwitchKind.breaker, float("nan"), 600.0) == r
    assert settings_from_switch(SwitchKind.breaker, None, 600.0) == r
    assert settings_from_switch(SwitchKind.breaker, "very_inv", 300.0).curve.name == "VI"
    assert settings_from_switch(SwitchKind.breaker, "U2", 300.0).pickup_a == 600.0
    rcl = settings_from_switch(SwitchKind.recloser, "d", 280.0)  # OpenDSS: 1 fast on 'a', 3 delayed
    assert ([s.name for s in rcl.shots], rcl.min_trip_a) == (["A", "D", "D", "D"], 560.0)
    assert settings_from_switch(SwitchKind.recloser, "", 100.0) == RecloserSettings(min_trip_a=200.0)
    assert settings_from_switch(SwitchKind.recloser, "1A3C", 100.0).min_trip_a == 200.0
    assert settings_from_switch(SwitchKind.fuse, "tlink", 65.0) == FuseSettings(LinkType.T, 65)
    assert settings_from_switch(SwitchKind.fuse, "KLink", 100.0) == FuseSettings(LinkType.K, 100)
    assert settings_from_switch(SwitchKind.fuse, "", 25.0) == FuseSettings(LinkType.T, 25)
    assert settings_from_switch(SwitchKind.sectionaliser, "", 100.0) == SectionaliserSettings(160.0, 3, 30.0)
    assert settings_from_switch(SwitchKind.sectionaliser, "2 counts 140A 45s", 100.0) == \
        SectionaliserSettings(140.0, 2, 45.0)
    assert settings_from_switch(SwitchKind.load_break_switch, "", 600.0) is None
    assert settings_from_switch(SwitchKind.disconnect, "anything", 600.0) is None


BAD = [
    (SwitchKind.breaker, "51P U3", 600.0, "51P has no pickup current"),
    (SwitchKind.breaker, "51P 400A X9", 600.0, r"cannot read 'X9'.*U1, U2"),
    (SwitchKind.breaker, "67P 400A", 600.0, "should start with 51P"),
    (SwitchKind.breaker, "51P 400A; 51P 300A", 600.0, "51P is given twice"),
    (SwitchKind.breaker, "51P 400A U3;", 600.0, "should start with 51P"),
    (SwitchKind.breaker, "50P 400A TD2", 600.0, "delay such as 0.05s"),
    (SwitchKind.breaker, "", float("nan"), "rated_a is nan"),
    (SwitchKind.breaker, "definite", 600.0, "name a curve alone"),
    (SwitchKind.recloser, "2A2Z 200A", 600.0, "no recloser curve 'Z'"),
    (SwitchKind.recloser, "fast 200A", 600.0, r"cannot read 'fast'.*'2A2C 200A'"),
    (SwitchKind.recloser, "9A 200A", 600.0, "1 to 8"),
    (SwitchKind.fuse, "40X", 40.0, "such as '40T' or '65K'"),
    (SwitchKind.fuse, "45T", 45.0, "C37.43 ratings"),
    (SwitchKind.fuse, "tlink", 75.0, "not a C37.43 link rating"),
    (SwitchKind.fuse, "", float("nan"), "rated_a is nan"),
    (SwitchKind.sectionaliser, "three counts", 100.0, "'3 counts 140A 30s'"),
]


@pytest.mark.parametrize(("kind", "text", "rated", "message"), BAD, ids=[b[1] or "empty" for b in BAD])
def test_bad_strings_say_what_is_allowed(kind, text, rated, message):
    with pytest.raises(ValueError, match=message):
        settings_from_switch(kind, text, rated)


def test_every_protective_device_of_a_territory_parses():
    from twin.world.territory import generate_territory

    net = generate_territory(1_500, seed=3)
    sw = net.switch
    kinds, curves, rated = sw["kind"], sw["curve"], sw["rated_a"]
    parsed = [settings_from_switch(int(k), c, float(r)) for k, c, r in zip(kinds, curves, rated)]
    by_type = {type(p).__name__ for p in parsed if p is not None}
    assert by_type == {"RelaySettings", "RecloserSettings", "FuseSettings"}
    for k, c, r, p in zip(kinds, curves, rated, parsed):
        if int(k) == SwitchKind.fuse:  # link rating = rated_a, 'NNT'
            assert (p.name, p.rating_a) == (c, int(r))
        elif int(k) == SwitchKind.breaker and c:  # the territory's feeder relays: U3, time dial 5, no 50P
            assert p.td == 5.0 and p.inst_a is None and not math.isnan(p.pickup_a)
