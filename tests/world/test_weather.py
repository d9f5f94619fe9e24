"""Storms as hazard fields: zero away from them, peak at the centre, the centre on its track, ice that
accumulates as the hand calculation says, built-in storms scaled to the territory."""

from __future__ import annotations

import math

import numpy as np
import pytest

from twin.world.territory import generate_territory
from twin.world.weather import (
    BUILTIN_STORMS,
    CUTOFF_DECAYS,
    Storm,
    builtin_storm,
    footprint,
    hazard,
    ice_between,
    territory_bounds,
)

H = 3600.0


def cell(**kw) -> Storm:
    """A storm from (0, 0) to (36 km, 0) in an hour, its gust peaking at 40 m/s half-way."""
    args = dict(track=[(0.0, 0.0, 0.0), (36_000.0, 0.0, H)], t_s=[0.0, 0.5 * H, H], gust_ms=[10.0, 40.0, 10.0],
                core_m=[2000.0] * 3, decay_m=[1000.0] * 3, lightning_per_km2_h=[1.0, 3.0, 1.0])
    args.update(kw)
    return Storm("cell", **args)


@pytest.fixture(scope="module")
def net():
    return generate_territory(10_000, seed=1)


def test_footprint_core_skirt_and_cutoff() -> None:
    core, decay = 1000.0, 500.0
    r = np.array([0.0, core, core + decay, core + 2 * decay, core + CUTOFF_DECAYS * decay - 1e-6,
                  core + CUTOFF_DECAYS * decay + 1e-6, 1e9])
    f = footprint(r, core, decay)
    assert f[:2].tolist() == [1.0, 1.0]
    assert f[2] == pytest.approx(math.exp(-0.5)) and f[3] == pytest.approx(math.exp(-2.0))
    assert 0.0 < f[4] < 4e-6 and f[5] == 0.0 and f[6] == 0.0
    assert (np.diff(f) <= 0).all()


def test_zero_far_away_and_before_and_after() -> None:
    s = cell()
    far = hazard(s, [0.0, 1e6], [50_000.0, 0.0], 0.5 * H)
    for field in (far.gust_ms, far.lightning_per_km2_h, far.ice_mm):
        assert field.tolist() == [0.0, 0.0]
    for t in (-1.0, -H, H + 1.0, 10 * H):
        h = hazard(s, [0.0, 18_000.0, 36_000.0], [0.0, 0.0, 0.0], t)
        assert not h.gust_ms.any() and not h.lightning_per_km2_h.any() and not h.ice_mm.any()
    sky = hazard(None, np.zeros(4), np.zeros(4), np.arange(3.0)[:, None])
    assert sky.gust_ms.shape == (3, 4) and not sky.gust_ms.any() and not sky.ice_mm.any()


def test_peak_at_the_centre_at_the_peak_time() -> None:
    s = cell()
    x = np.linspace(-10_000.0, 50_000.0, 121)
    y = np.linspace(-20_000.0, 20_000.0, 81)
    t = np.linspace(0.0, H, 61)
    h = hazard(s, x[None, :, None], y[None, None, :], t[:, None, None])
    assert h.gust_ms.shape == (61, 121, 81)
    i, j, k = np.unravel_index(np.argmax(h.gust_ms), h.gust_ms.shape)
    assert t[i] == 0.5 * H and h.gust_ms.max() == 40.0
    cx, cy = s.centre(t[i])
    assert math.hypot(x[j] - cx, y[k] - cy) <= 2000.0  # inside the core, where the gust is the centre's
    assert h.gust_ms[i].max() > h.gust_ms[i - 5].max() and h.gust_ms[i].max() > h.gust_ms[i + 5].max()
    assert h.lightning_per_km2_h.max() == 3.0


def test_the_centre_follows_the_track() -> None:
    track = [(0.0, 0.0, 0.0), (10_000.0, 0.0, H), (10_000.0, 20_000.0, 2 * H)]
    s = cell(track=track, t_s=[0.0, 2 * H], gust_ms=[30.0, 30.0], core_m=[500.0, 500.0], decay_m=[300.0, 300.0],
             lightning_per_km2_h=())
    assert np.allclose(np.column_stack(s.centre([-5.0, 0.5 * H, H, 1.5 * H, 3 * H])),
                       [[0.0, 0.0], [5000.0, 0.0], [10_000.0, 0.0], [10_000.0, 10_000.0], [10_000.0, 20_000.0]])
    for t in np.linspace(0.0, 2 * H, 13):
        cx, cy = s.centre(t)
        on, off = hazard(s, [cx, cx + 2000.0], [cy, cy + 2000.0], t).gust_ms
        assert on == 30.0 and off < 1.0


def test_ice_accumulates_monotonically_as_integrated() -> None:
    # A storm standing still: the ice at a point is the rate times its share times the hours.
    s = Storm("ice", track=[(0.0, 0.0, 0.0)], t_s=[0.0, 5 * H, 8 * H], gust_ms=[5.0, 5.0, 0.0],
              core_m=[1000.0] * 3, decay_m=[1000.0] * 3, ice_mm_per_h=[2.0, 2.0, 0.0])
    x = np.array([0.0, 2000.0, 8000.0])
    at5 = hazard(s, x, 0.0, 5 * H).ice_mm
    assert at5 == pytest.approx([10.0, 10.0 * math.exp(-0.5), 0.0], rel=1e-9)
    at8 = hazard(s, x, 0.0, 8 * H).ice_mm
    assert at8 == pytest.approx([13.0, 13.0 * math.exp(-0.5), 0.0], rel=1e-9)  # + 2 mm/h falling to 0 over 3 h
    assert not hazard(s, x, 0.0, 8 * H + 1).ice_mm.any()  # the storm is over: the ice has shed

    # A moving band: the ice only grows while the storm lasts, and increments add up.
    band = builtin_storm("ice", (0.0, 0.0, 20_000.0, 20_000.0))
    t = np.linspace(0.0, band.end_s, 97)
    pts = np.array([[0.0, 0.0], [10_000.0, 10_000.0], [20_000.0, 0.0], [20_000.0, 20_000.0]])
    ice = hazard(band, pts[None, :, 0], pts[None, :, 1], t[:, None]).ice_mm
    assert (np.diff(ice, axis=0) >= 0).all() and (ice[-1] > 5.0).all() and (ice[0] == 0).all()
    a, b, c = 3 * H, 9 * H, 20 * H
    split = ice_between(band, pts[:, 0], pts[:, 1], a, b) + ice_between(band, pts[:, 0], pts[:, 1], b, c)
    assert split == pytest.approx(ice_between(band, pts[:, 0], pts[:, 1], a, c), rel=1e-3)
    assert hazard(band, pts[:, 0], pts[:, 1], b).ice_mm == pytest.approx(
        ice_between(band, pts[:, 0], pts[:, 1], band.start_s, b))


def test_hazard_broadcasts_over_points_and_times() -> None:
    s = builtin_storm("ice", (0.0, 0.0, 10_000.0, 10_000.0))
    x, y = np.linspace(0.0, 10_000.0, 7), np.linspace(0.0, 10_000.0, 7)
    t = np.array([2 * H, 6 * H, 10 * H])
    grid = hazard(s, x, y, t[:, None])
    assert grid.gust_ms.shape == grid.ice_mm.shape == grid.lightning_per_km2_h.shape == (3, 7)
    for i, ti in enumerate(t):
        one = hazard(s, x, y, ti)
        assert np.array_equal(one.gust_ms, grid.gust_ms[i])
        assert one.ice_mm == pytest.approx(grid.ice_mm[i], rel=1e-3)


def test_storm_rejects_what_does_not_make_sense() -> None:
    with pytest.raises(ValueError, match="one value per profile time"):
        cell(gust_ms=[10.0, 20.0])
    with pytest.raises(ValueError, match="must increase"):
        cell(t_s=[0.0, 2.0, 1.0])
    with pytest.raises(ValueError, match="track times must increase"):
        cell(track=[(0.0, 0.0, 5.0), (1.0, 1.0, 5.0)])
    with pytest.raises(ValueError, match="positive"):
        cell(core_m=[0.0, 1.0, 1.0])
    with pytest.raises(ValueError, match="non-negative"):
        cell(gust_ms=[1.0, -1.0, 1.0])
    with pytest.raises(ValueError, match="built-in storms are thunderstorm, hurricane, ice"):
        builtin_storm("tornado", (0.0, 0.0, 1.0, 1.0))


def test_builtin_storms_over_a_territory(net) -> None:
    bounds = territory_bounds(net)
    x, y = net.bus["x"], net.bus["y"]
    assert bounds == (x.min(), y.min(), x.max(), y.max())
    t = np.arange(0.0, 24 * H + 1, 600.0)
    storms = {name: builtin_storm(name, bounds) for name in BUILTIN_STORMS}
    peak = {}
    for name, s in storms.items():
        h = hazard(s, x[None], y[None], np.minimum(t, s.end_s + 1)[:, None])
        assert not h.gust_ms[0].any() and not h.ice_mm[0].any()  # nothing at the first instant
        peak[name] = h
    thunder, hurricane, ice = storms["thunderstorm"], storms["hurricane"], storms["ice"]
    assert thunder.end_s - thunder.start_s == 3 * H and hurricane.end_s == ice.end_s == 24 * H

    def speed(s: Storm) -> float:
        (xa, ya, ta), (xb, yb, tb) = s.track[0], s.track[-1]
        return math.hypot(xb - xa, yb - ya) / (tb - ta)

    assert speed(thunder) > 2 * speed(hurricane) and speed(hurricane) > speed(ice)
    assert thunder.core_m[0] < hurricane.core_m[0]
    # The hurricane covers the whole territory; the thunderstorm's severe gusts a part at a time.
    strongest = peak["hurricane"].gust_ms.max(axis=0)
    assert strongest.min() > 20.0 and (strongest > 33.0).mean() > 0.9 and 46.0 < strongest.max() < 50.0
    severe = peak["thunderstorm"].gust_ms > 26.0
    assert 0.05 < severe.mean(axis=1).max() < 0.5 and severe.any(axis=0).mean() < 0.9
    assert peak["thunderstorm"].lightning_per_km2_h.max() == pytest.approx(2.0)
    # The ice storm: 10-20 mm everywhere at the height of it, moderate wind, no lightning.
    most = peak["ice"].ice_mm.max(axis=0)
    assert most.min() > 8.0 and most.max() < 25.0
    assert peak["ice"].gust_ms.max() <= 16.0 and not peak["ice"].lightning_per_km2_h.any()


def test_builtin_storms_scale_with_the_territory_and_start_when_asked() -> None:
    small = builtin_storm("hurricane", (0.0, 0.0, 3000.0, 4000.0))
    large = builtin_storm("hurricane", (0.0, 0.0, 30_000.0, 40_000.0), start_s=7200.0)
    assert np.allclose(np.array(large.track)[:, :2], 10 * np.array(small.track)[:, :2])
    assert np.allclose(large.core_m, 10 * np.array(small.core_m))
    assert large.t_s == tuple(v + 7200.0 for v in small.t_s) and large.gust_ms == small.gust_ms
    assert not hazard(large, 15_000.0, 20_000.0, 7000.0).gust_ms.any()
    assert hazard(large, 15_000.0, 20_000.0, 7200.0 + 12 * H).gust_ms == pytest.approx(46.0)
