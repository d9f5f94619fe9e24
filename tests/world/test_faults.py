"""Exposure, fragility and the sampling of faults: rates that rise with the hazard and wear, plausible
blue-sky and storm counts, deterministic draws, fault types the conductors allow, counts that agree
with the integrated rates."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
from scipy import stats

from twin.grid.schema import LineKind, Phase
from twin.grid.shortcircuit import FaultType
from twin.world.exposure import Exposure, segment_exposure, smooth_field
from twin.world.faults import (
    FaultCause,
    FaultParameters,
    age_factor,
    expected_faults,
    fault_rates,
    sample_faults,
)
from twin.world.territory import generate_territory
from twin.world.weather import Hazard, Storm, builtin_storm, hazard, territory_bounds

H, DAY, YEAR = 3600.0, 86400.0, 365 * 86400.0
P = FaultParameters()


def heavier(k: float) -> FaultParameters:
    """Storm rates ``k`` times the defaults: more faults to count in a small territory."""
    return dataclasses.replace(P, wind_rate_per_km_h=k * P.wind_rate_per_km_h,
                               tree_rate_per_km_h=k * P.tree_rate_per_km_h)


@pytest.fixture(scope="module")
def net():
    return generate_territory(10_000, seed=1)


@pytest.fixture(scope="module")
def ex(net) -> Exposure:
    return segment_exposure(net, np.random.default_rng(11))


@pytest.fixture(scope="module")
def hurricane(net) -> Storm:
    return builtin_storm("hurricane", territory_bounds(net))


def synthetic(n: int, *, kind=LineKind.overhead, phases=Phase.ABC, length_m=1000.0, vegetation=0.5,
              age_years=30.0, x_m=None) -> Exposure:
    """``n`` alike segments along the x axis (1 km apart unless ``x_m`` says otherwise)."""
    full = lambda v, dt=float: np.full(n, v, dtype=dt)  # noqa: E731
    bits = int(phases)
    return Exposure(x_m=np.arange(n) * 1000.0 if x_m is None else np.asarray(x_m, float), y_m=full(0.0),
                    length_m=full(length_m), kind=full(kind, np.int8), phases=full(bits, np.int8),
                    n_phases=full(bin(bits).count("1"), np.int8), vegetation=full(vegetation),
                    age_years=full(age_years), in_service=full(True, bool))


def subset(ex: Exposure, rows: np.ndarray) -> Exposure:
    return Exposure(**{f.name: getattr(ex, f.name)[rows] for f in dataclasses.fields(ex)})


# -- exposure ----------------------------------------------------------------------------------


def test_exposure_has_one_entry_per_line_from_its_buses(net, ex) -> None:
    line, bus = net.line, net.bus
    assert len(ex) == len(line)
    a, b = bus.index(line["from_bus"]), bus.index(line["to_bus"])
    assert np.allclose(ex.x_m, (bus["x"][a] + bus["x"][b]) / 2) and np.allclose(ex.y_m, (bus["y"][a] + bus["y"][b]) / 2)
    assert np.array_equal(ex.length_m, line["length_m"]) and np.array_equal(ex.kind, line["kind"])
    triplex = ex.kind == LineKind.triplex
    assert (ex.n_phases[triplex] == 2).all() and set(ex.n_phases[~triplex].tolist()) == {1, 2, 3}
    assert ((ex.vegetation >= 0) & (ex.vegetation <= 1)).all() and ex.vegetation.std() > 0.05
    assert ((ex.age_years >= 1) & (ex.age_years <= 80)).all() and 25 < ex.age_years.mean() < 45
    again = segment_exposure(net, np.random.default_rng(11))
    assert np.array_equal(again.vegetation, ex.vegetation) and np.array_equal(again.age_years, ex.age_years)
    other = segment_exposure(net, np.random.default_rng(12))
    assert not np.array_equal(other.vegetation, ex.vegetation)


def test_vegetation_is_smooth_and_more_in_the_country() -> None:
    net = generate_territory(20_000, seed=2, customers_per_feeder=1_000)  # urban to rural substations
    ex = segment_exposure(net, np.random.default_rng(3))
    sub = np.array([i.split("-")[0] for i in net.line.ids])
    km_per_customer = {}
    for s in np.unique(sub):
        customers = np.char.startswith(net.service_point["transformer"].astype(str), s + "-").sum()
        km_per_customer[s] = ex.length_m[sub == s].sum() / max(customers, 1)
    sparse = max(km_per_customer, key=km_per_customer.get)
    dense = min(km_per_customer, key=km_per_customer.get)
    assert ex.vegetation[sub == sparse].mean() > ex.vegetation[sub == dense].mean() + 0.1
    # Spatial correlation: neighbours alike, far pairs not.
    x, y = np.random.default_rng(0).uniform(0, 200_000, (2, 4000))
    z = smooth_field(np.r_[x, x + 100.0, x + 15_000.0], np.r_[y, y, y], 1500.0, np.random.default_rng(1))
    near = np.corrcoef(z[:4000], z[4000:8000])[0, 1]
    far = np.corrcoef(z[:4000], z[8000:])[0, 1]
    assert near > 0.95 and abs(far) < 0.25 and 0.8 < z.var() < 1.2


# -- fragility ---------------------------------------------------------------------------------


def rate(ex: Exposure, gust=0.0, ice=0.0, flashes=0.0, params=P, **kw) -> np.ndarray:
    shape = np.broadcast_shapes(np.shape(gust), np.shape(ice), np.shape(flashes), (len(ex),))
    h = Hazard(*(np.broadcast_to(np.asarray(v, float), shape) for v in (gust, ice, flashes)))
    return fault_rates(ex, h, params, **kw)


def test_rates_rise_with_gust_ice_lightning_vegetation_and_age() -> None:
    one = synthetic(1)
    gusts = np.linspace(0.0, 70.0, 36)
    r = rate(one, gust=gusts[:, None])[:, 0]
    assert (np.diff(r) > 0).all() and r[-1] > 100 * r[0]
    ices = np.linspace(0.0, 50.0, 26)
    assert (np.diff(rate(one, gust=10.0, ice=ices[:, None])[:, 0]) > 0).all()
    assert (np.diff(rate(one, flashes=np.linspace(0, 5, 6)[:, None])[:, 0]) > 0).all()
    # Ice and wind together do more than either alone.
    both, wind, ice = (rate(one, gust=g, ice=t)[0] for g, t in ((20.0, 15.0), (20.0, 0.0), (0.0, 15.0)))
    assert both > wind + ice - rate(one)[0]
    for field, values in (("vegetation", [0.0, 0.3, 0.6, 1.0]), ("age_years", [1.0, 20.0, 40.0, 70.0])):
        e = dataclasses.replace(synthetic(4), **{field: np.array(values)})
        for g in (0.0, 30.0, 45.0):
            assert (np.diff(rate(e, gust=g)) > 0).all(), (field, g)
    assert age_factor(np.array([30.0]), P)[0] == 1.0
    assert age_factor(np.array([60.0]), P)[0] == pytest.approx(math.e ** 0.6)


def test_fragility_medians_and_causes() -> None:
    one = synthetic(1, vegetation=1.0)
    by = rate(one, gust=np.array([P.wind_median_ms, P.tree_median_ms])[:, None], by_cause=True)[:, 0]
    # At the median gust, half the saturation rate (the blue-sky tree rate on top).
    km_s = 1.0 / H
    assert by[0, FaultCause.wind] == pytest.approx(0.5 * P.wind_rate_per_km_h * km_s)
    assert by[1, FaultCause.tree] - P.tree_per_km_yr / 8760 * km_s == pytest.approx(0.5 * P.tree_rate_per_km_h * km_s)
    iced = rate(one, gust=0.0, ice=P.tree_ice_median_mm, by_cause=True)[0]
    assert iced[FaultCause.ice] > 0.5 * P.tree_rate_per_km_h * km_s and iced[FaultCause.wind] == 0.0
    lit = rate(one, flashes=2.0, by_cause=True)[0]
    assert lit[FaultCause.lightning] == pytest.approx(2.0 * P.lightning_width_m / 1e3 * P.lightning_flashover * km_s)


def test_underground_is_orders_of_magnitude_less_exposed_and_triplex_between() -> None:
    oh, ug, tx = (synthetic(1, kind=k) for k in (LineKind.overhead, LineKind.underground, LineKind.triplex))
    storm = dict(gust=45.0, ice=10.0, flashes=3.0)
    assert rate(oh, **storm)[0] > 1000 * rate(ug, **storm)[0]
    assert rate(ug, **storm)[0] == rate(ug)[0] > 0  # no weather underground
    assert rate(ug, **storm, by_cause=True)[0, FaultCause.equipment] == rate(ug, **storm)[0]
    assert rate(oh, **storm)[0] > rate(tx, **storm)[0] > 0.1 * rate(oh, **storm)[0]
    wind = dict(gust=45.0)  # drops are half as exposed to wind and trees, a tenth to lightning
    assert rate(tx, **wind)[0] == pytest.approx(0.5 * rate(oh, **wind)[0])
    assert rate(tx, flashes=3.0, by_cause=True)[0, FaultCause.lightning] == pytest.approx(
        0.1 * rate(oh, flashes=3.0, by_cause=True)[0, FaultCause.lightning])
    reactor, off = synthetic(1, kind=LineKind.reactor), dataclasses.replace(oh, in_service=np.array([False]))
    assert rate(reactor, **storm)[0] == 0.0 and rate(off, **storm)[0] == 0.0


def test_blue_sky_counts_are_plausible(ex) -> None:
    """Overhead primary: 0.1-0.3 faults and 0.05-0.3 permanent faults per km-year (the band of North
    American feeders' records); underground cable 0.01-0.05 per km-year, all permanent."""
    m = expected_faults(ex, None, 0.0, YEAR, by_cause=True)
    assert not m[:, [FaultCause.wind, FaultCause.ice, FaultCause.lightning]].any()
    permanent = m @ np.array(P.permanent_share)
    for kind, (lo, hi), (plo, phi) in ((LineKind.overhead, (0.1, 0.3), (0.05, 0.3)),
                                       (LineKind.underground, (0.01, 0.05), (0.01, 0.05)),
                                       (LineKind.triplex, (0.03, 0.2), (0.01, 0.15))):
        rows = ex.kind == kind
        km = ex.length_m[rows].sum() / 1e3
        assert lo < m[rows].sum() / km < hi, kind
        perm = m[rows].sum() if kind == LineKind.underground else permanent[rows].sum()
        assert plo < perm / km < phi, kind
    # And five years of draws agree.
    f = sample_faults(ex, None, 0.0, 5 * YEAR, np.random.default_rng(5))
    overhead = ex.kind[f.segment] == LineKind.overhead
    km = ex.length_m[ex.kind == LineKind.overhead].sum() / 1e3
    assert 0.05 < (f.permanent & overhead).sum() / km / 5 < 0.3


# -- sampling ----------------------------------------------------------------------------------


def test_same_seed_same_faults_and_the_stream_moves_on(ex, hurricane) -> None:
    a = sample_faults(ex, hurricane, 0.0, DAY, np.random.default_rng(9))
    b = sample_faults(ex, hurricane, 0.0, DAY, np.random.default_rng(9))
    assert len(a) > 10 and a.equals(b)
    rng = np.random.default_rng(9)
    first, second = sample_faults(ex, hurricane, 0.0, DAY, rng), sample_faults(ex, hurricane, 0.0, DAY, rng)
    assert first.equals(a) and not second.equals(a)
    assert not sample_faults(ex, hurricane, 0.0, DAY, np.random.default_rng(10)).equals(a)


def test_one_cause_changed_leaves_the_others_alone(ex, hurricane) -> None:
    a = sample_faults(ex, hurricane, 0.0, DAY, np.random.default_rng(4))
    b = sample_faults(ex, hurricane, 0.0, DAY, np.random.default_rng(4),
                      dataclasses.replace(P, tree_median_ms=30.0, tree_rate_per_km_h=0.2))
    trees = lambda f: f.cause == FaultCause.tree  # noqa: E731
    assert not np.array_equal(a.segment[trees(a)], b.segment[trees(b)])
    for cause in (FaultCause.wind, FaultCause.lightning, FaultCause.equipment, FaultCause.animal):
        ka, kb = a.cause == cause, b.cause == cause
        for field in ("time_s", "segment", "kind", "phases", "permanent", "location", "wire_down"):
            assert np.array_equal(getattr(a, field)[ka], getattr(b, field)[kb]), (cause, field)
    assert (a.cause == FaultCause.wind).sum() > 5


def test_a_hurricane_brings_many_more_faults_near_its_track(net, ex, hurricane) -> None:
    storm = sum(len(sample_faults(ex, hurricane, 0.0, DAY, np.random.default_rng(k))) for k in range(3))
    calm = sum(len(sample_faults(ex, None, 0.0, DAY, np.random.default_rng(k))) for k in range(3))
    assert storm > 50 and storm > 30 * max(calm, 1)
    # Distance of each segment from the track (a straight line), in units of the territory's size.
    (xa, ya, _), (xb, yb, _) = hurricane.track[0], hurricane.track[-1]
    ux, uy = (xb - xa) / math.hypot(xb - xa, yb - ya), (yb - ya) / math.hypot(xb - xa, yb - ya)
    x0, y0, x1, y1 = territory_bounds(net)
    r = 0.5 * math.hypot(x1 - x0, y1 - y0)
    d = np.abs((ex.x_m - xa) * uy - (ex.y_m - ya) * ux) / r
    per_km = expected_faults(ex, hurricane, 0.0, DAY) / (ex.length_m / 1e3)
    overhead = ex.kind == LineKind.overhead
    near, far = overhead & (d < 0.2), overhead & (d > 0.5)
    assert near.sum() > 50 and far.sum() > 50
    assert per_km[near].mean() > 1.6 * per_km[far].mean()
    # The draws say the same (with the storm rates fifty times as high, for enough of them).
    f = sample_faults(ex, hurricane, 0.0, DAY, np.random.default_rng(0), heavier(50))
    n = np.bincount(f.segment, minlength=len(ex))
    assert n[near].sum() > 200 and n[far].sum() > 40
    assert n[near].sum() / ex.length_m[near].sum() > 1.4 * n[far].sum() / ex.length_m[far].sum()


def test_times_sorted_inside_the_window_and_the_table_consistent(ex, hurricane) -> None:
    t0, t1 = 9 * H + 17.0, 15 * H - 3.0
    f = sample_faults(ex, hurricane, t0, t1, np.random.default_rng(1), heavier(10), step_s=120.0)
    assert len(f) > 100
    assert (np.diff(f.time_s) >= 0).all() and f.time_s.min() >= t0 and f.time_s.max() < t1
    assert ((f.location >= 0) & (f.location < 1)).all()
    assert (f.segment >= 0).all() and (f.segment < len(ex)).all()
    for col in ("segment", "kind", "phases", "permanent", "cause", "location", "wire_down"):
        assert len(getattr(f, col)) == len(f)
    assert not sample_faults(ex, hurricane, 5.0, 5.0, np.random.default_rng(1)).time_s.size
    early = sample_faults(ex, hurricane, 0.0, 3 * H, np.random.default_rng(1))  # the storm is far away yet
    assert not np.isin(early.cause, [FaultCause.wind, FaultCause.ice, FaultCause.lightning]).any()


def test_fault_types_follow_the_conductors() -> None:
    one = synthetic(100, phases=Phase.B)
    two = synthetic(100, phases=Phase.A | Phase.C)
    three = synthetic(100, phases=Phase.ABC)
    drops = synthetic(100, kind=LineKind.triplex, phases=Phase.S12, length_m=3000.0)
    storm = Storm("over all", track=[(50_000.0, 0.0, 0.0)], t_s=[0.0, 3 * DAY], gust_ms=[45.0, 45.0],
                  core_m=[100_000.0] * 2, decay_m=[1000.0] * 2, lightning_per_km2_h=[2.0, 2.0])
    for e, allowed in ((one, {FaultType.slg}), (two, {FaultType.slg, FaultType.ll, FaultType.llg}),
                       (three, {FaultType.slg, FaultType.ll, FaultType.llg, FaultType.three_phase}),
                       (drops, {FaultType.slg, FaultType.ll, FaultType.llg})):
        f = sample_faults(e, storm, 0.0, 3 * DAY, np.random.default_rng(2))
        assert len(f) > 1000
        kinds = set(FaultType(k) for k in f.kind.tolist())
        assert kinds == allowed
        mask = int(e.phases[0])
        assert ((f.phases & ~mask) == 0).all()  # only the segment's own conductors
        n = np.array([bin(int(p)).count("1") for p in f.phases])
        expect = np.select([f.kind == FaultType.slg, np.isin(f.kind, [FaultType.ll, FaultType.llg])],
                           [1, 2], default=3)
        assert np.array_equal(n, expect)
        if e is three:
            share = np.bincount(f.kind, minlength=4) / len(f)
            assert share[FaultType.slg] == pytest.approx(0.75, abs=0.04)
            assert share[FaultType.three_phase] < 0.06
            # each phase as often as the others in SLG faults
            slg = f.phases[f.kind == FaultType.slg]
            assert min(np.isin(slg, [p]).mean() for p in (Phase.A, Phase.B, Phase.C)) > 0.25
        if e is drops:
            assert set(f.phases[f.kind == FaultType.slg].tolist()) == {int(Phase.S1), int(Phase.S2)}


def test_permanence_and_wires_down_by_cause_and_construction() -> None:
    e = dataclasses.replace(synthetic(40), kind=np.tile(np.array([0, 1, 2, 0], np.int8), 10))
    storm = Storm("long", track=[(20_000.0, 0.0, 0.0)], t_s=[0.0, 30 * DAY], gust_ms=[40.0, 40.0],
                  core_m=[60_000.0] * 2, decay_m=[1000.0] * 2, lightning_per_km2_h=[3.0, 3.0])
    f = sample_faults(e, storm, 0.0, 30 * DAY, np.random.default_rng(3))
    kind = e.kind[f.segment]
    assert not f.wire_down[~f.permanent].any() and (kind == LineKind.triplex).sum() > 100
    assert f.wire_down[kind == LineKind.triplex].any()  # service drops come down too
    cables = sample_faults(synthetic(500, kind=LineKind.underground), None, 0.0, 5 * YEAR, np.random.default_rng(3))
    assert len(cables) > 40 and cables.permanent.all() and not cables.wire_down.any()
    assert (cables.cause == FaultCause.equipment).all()
    lightning, wind = f.cause == FaultCause.lightning, f.cause == FaultCause.wind
    assert lightning.sum() > 200 and wind.sum() > 200
    assert f.permanent[lightning].mean() < 0.3 and f.permanent[wind].mean() > 0.8
    assert 0.3 < f.wire_down[wind & f.permanent].mean() < 0.7
    # A long window: segments fault again and again.
    assert np.bincount(f.segment).max() > 10


def test_counts_agree_with_the_integrated_rates() -> None:
    """Over many draws on a small case: the mean and variance of the total count are Poisson's, and
    each segment's share passes a chi-square test."""
    e = dataclasses.replace(synthetic(12, x_m=np.linspace(0, 11_000.0, 12)),
                            vegetation=np.linspace(0.1, 1.0, 12), age_years=np.linspace(5.0, 70.0, 12))
    storm = Storm("pass", track=[(-5000.0, 0.0, 0.0), (16_000.0, 0.0, 6 * H)], t_s=[0.0, 3 * H, 6 * H],
                  gust_ms=[20.0, 42.0, 20.0], core_m=[1500.0] * 3, decay_m=[2000.0] * 3,
                  lightning_per_km2_h=[0.5, 2.0, 0.5])
    lam = expected_faults(e, storm, 0.0, 6 * H)
    assert 2.0 < lam.sum() < 20.0
    draws = 400
    counts = np.array([np.bincount(sample_faults(e, storm, 0.0, 6 * H, np.random.default_rng(k)).segment,
                                   minlength=len(e)) for k in range(draws)])
    total = counts.sum(axis=1)
    se = math.sqrt(lam.sum() / draws)
    assert abs(total.mean() - lam.sum()) < 4 * se
    assert 0.75 < total.var() / lam.sum() < 1.3
    chi2 = (((counts.sum(axis=0) - draws * lam) ** 2) / (draws * lam)).sum()
    assert stats.chi2.sf(chi2, len(e)) > 1e-3


def test_expected_counts_are_the_integral_of_the_rates(ex) -> None:
    """Simpson's panels against a fine rectangle rule on hazard() and fault_rates(), per segment."""
    rows = np.arange(0, len(ex), 23)
    e = subset(ex, rows)
    bounds = (ex.x_m.min(), ex.y_m.min(), ex.x_m.max(), ex.y_m.max())
    for name, dt in (("thunderstorm", 10.0), ("ice", 120.0)):
        s = builtin_storm(name, bounds)
        t = np.arange(0.0, s.end_s, dt) + dt / 2
        fine = fault_rates(e, hazard(s, e.x_m[None], e.y_m[None], t[:, None])).sum(axis=0) * dt
        for step in (300.0, 3600.0):  # long steps are cut as the storm needs
            ours = expected_faults(e, s, 0.0, s.end_s, step_s=step)
            assert ours == pytest.approx(fine, rel=2e-3, abs=1e-9), (name, step)


def test_builtin_storms_do_the_damage_of_real_ones(ex) -> None:
    """Permanent faults per 1,000 customers on the 10,000-customer territory over a day: hurricane
    1-8, ice storm 0.5-6, thunderstorm fewer (a twentieth to a third of the hurricane's)."""
    bounds = (ex.x_m.min(), ex.y_m.min(), ex.x_m.max(), ex.y_m.max())
    perm = {}
    for name in ("thunderstorm", "hurricane", "ice"):
        m = expected_faults(ex, builtin_storm(name, bounds), 0.0, DAY, by_cause=True)
        shares = np.array(P.permanent_share)
        underground = ex.kind == LineKind.underground
        perm[name] = ((m[~underground] @ shares).sum() + m[underground].sum()) / 10.0
    assert 1.0 < perm["hurricane"] < 8.0
    assert 0.5 < perm["ice"] < 6.0
    assert perm["hurricane"] / 20 < perm["thunderstorm"] < perm["hurricane"] / 3


def test_parameters_are_checked() -> None:
    with pytest.raises(ValueError, match="one share in 0-1 per cause"):
        FaultParameters(permanent_share=(0.5, 0.5))
    with pytest.raises(ValueError, match="SLG"):
        FaultParameters(type_shares=(0.0, 0.5, 0.5, 0.0))
