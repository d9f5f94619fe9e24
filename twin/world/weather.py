"""Storms as moving hazard fields: wind gusts, radial ice and lightning over the territory.

A :class:`Storm` is a centre that moves along a track of waypoints ``(x_m, y_m, t_s)`` (linearly
between them; before the first waypoint it waits at the first, after the last it stays at the
last), carrying three fields whose central values follow *profiles* over time: the peak 3-second
gust (m/s), the rate of radial ice accretion on a conductor (mm/h) and the cloud-to-ground flash
density (flashes/km^2/h). Profile values are linear between the profile times and zero before the
first and after the last: the storm has not begun, or is over. The footprint radii (a *core*
radius and a *decay* width, metres) follow the same profile times.

Footprint
---------
At distance ``r`` from the centre every field is its central value times

    f(r) = 1                                      r <= core
    f(r) = exp(-(r - core)^2 / (2 decay^2))       core < r <= core + 5 decay
    f(r) = 0                                      beyond (f has fallen below 4e-6 there)

a flat core and a Gaussian skirt. Not a Holland (1980) vortex: that profile is calm in the eye and
peaks at the radius of maximum wind, whereas these fields stand for the *swath* of damaging gusts,
ice and lightning a storm sweeps over a distribution system, which is widest and strongest along
its track. The cut-off makes the hazard exactly zero far from the storm.

Hazards at a point
------------------
``gust_ms = gust(t) f``, ``lightning_per_km2_h = flashes(t) f`` and ``ice_mm``, the radial ice
accreted since the storm began, ``integral from start to t of ice_rate(tau) f(r(tau), tau) dtau``
(trapezoidal rule on a grid of nodes at most :attr:`Storm.resolve_s` apart, linear between them).
Ice stays on the wires until the storm is over (its last profile time: let a storm's profile run
on, at zero accretion, while the ice sheds) and is gone after it. :func:`hazard` broadcasts over
points and times; blue sky is ``storm=None``, zero everywhere. :func:`ice_between` gives the
accretion over an interval, so that a simulation stepping forward adds increments instead of
integrating from the start each time.

>>> storm = Storm("cell", track=[(0.0, 0.0, 0.0), (36_000.0, 0.0, 3600.0)], t_s=[0.0, 3600.0],
...               gust_ms=[30.0, 30.0], core_m=[2000.0, 2000.0], decay_m=[1000.0, 1000.0])
>>> h = hazard(storm, [18_000.0, 18_000.0, 18_000.0], [0.0, 3000.0, 9000.0], 1800.0)
>>> h.gust_ms.round(2).tolist()  # on the track, one decay width beyond the core, far away
[30.0, 18.2, 0.0]

Built-in storms
---------------
:func:`builtin_storm` scales a storm to a territory's bounding box (:func:`territory_bounds`):
footprints and tracks are multiples of the box's half-diagonal ``R`` and timelines are fixed in
hours, so a 10,000- and a 1,000,000-customer territory live through the same story (the storm's
speed in m/s is whatever crosses the territory in that time). Intensities are representative of
real storms of each kind, round numbers chosen from the usual ranges, not taken from a record:

============  =====  =====================  ===============  ==========================================
storm         life   track                  core / decay     central values
============  =====  =====================  ===============  ==========================================
thunderstorm  3 h    to the ENE, 3.2 R in   0.2 R / 0.15 R   gust 38 m/s (a severe downburst; the US
                     3 h, over the centre                    severe criterion is 26 m/s), 2 flashes/
                     at 1.5 h                                km^2/h (an active cell); 30 min ramps
hurricane     24 h   to the NNE, 8 R in     0.25 R / 0.4 R,  gust 50 m/s falling to 46 m/s over the
                     24 h, the eye over     the core         centre and 34 m/s at the end (3-s gusts of
                     the centre at 12 h     growing to 0.3 R a category 1-2 storm weakening over land);
                                                             0.1 flashes/km^2/h (rain bands)
ice           24 h   to the ENE, 3 R in     0.6 R / 0.4 R    freezing rain of 1.5 mm/h radial ice from
                     24 h (a slow warm-                      2 to 12 h (ramps 0-2 h and 12-16 h), the
                     front band), over the                   ice shedding at 24 h: 10-20 mm across the
                     centre at 7 h                           territory, "significant" to "severe" ice;
                                                             gusts 16 m/s, dying away after 12 h
============  =====  =====================  ===============  ==========================================

``R`` is at least 1 km. On the generated territories the hurricane's gusts pass 33 m/s at nearly
every bus and 22 m/s at every one, strongest near the track; the thunderstorm's severe gusts (over
26 m/s) cover about a quarter of the territory at a time and half of it over its passage; no
storm's field touches the territory at its first instant.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property

import numpy as np
from numpy.typing import ArrayLike

from twin.grid.network import Network

__all__ = ["Storm", "Hazard", "hazard", "ice_between", "footprint", "territory_bounds", "builtin_storm",
           "BUILTIN_STORMS", "CUTOFF_DECAYS"]

CUTOFF_DECAYS = 5.0
"""The footprint is zero beyond ``core + CUTOFF_DECAYS * decay``."""

HOUR_S = 3600.0
MAX_RESOLVE_S = 600.0
MIN_RESOLVE_S = 10.0


def _floats(name: str, values: ArrayLike) -> tuple[float, ...]:
    arr = np.asarray(values, dtype=float).ravel()
    if not np.isfinite(arr).all():
        raise ValueError(f"storm {name}: values must be finite, got {arr.tolist()}")
    return tuple(arr.tolist())


@dataclass(frozen=True)
class Storm:
    """A storm: its centre's track and its fields' profiles (see the module docstring).

    ``track``: waypoints ``(x_m, y_m, t_s)``, times increasing. ``t_s``: profile times, increasing;
    ``gust_ms`` (peak 3-s gust at the centre, m/s), ``core_m`` and ``decay_m`` (footprint, m),
    ``ice_mm_per_h`` (radial ice accretion at the centre) and ``lightning_per_km2_h`` (flash
    density at the centre) one value per profile time; an empty ice or lightning profile is none.
    """

    name: str
    track: tuple[tuple[float, float, float], ...]
    t_s: tuple[float, ...]
    gust_ms: tuple[float, ...]
    core_m: tuple[float, ...]
    decay_m: tuple[float, ...]
    ice_mm_per_h: tuple[float, ...] = ()
    lightning_per_km2_h: tuple[float, ...] = ()

    def __post_init__(self) -> None:
        track = np.asarray(self.track, dtype=float)
        if track.ndim != 2 or track.shape[1] != 3 or len(track) < 1 or not np.isfinite(track).all():
            raise ValueError(f"storm {self.name!r}: track must be waypoints (x_m, y_m, t_s), got {self.track!r}")
        if (np.diff(track[:, 2]) <= 0).any():
            raise ValueError(f"storm {self.name!r}: track times must increase, got {track[:, 2].tolist()}")
        object.__setattr__(self, "track", tuple(tuple(row) for row in track.tolist()))
        t = _floats("t_s", self.t_s)
        if len(t) < 1 or (np.diff(t) <= 0).any():
            raise ValueError(f"storm {self.name!r}: profile times t_s must increase, got {list(t)}")
        object.__setattr__(self, "t_s", t)
        for name in ("gust_ms", "core_m", "decay_m", "ice_mm_per_h", "lightning_per_km2_h"):
            values = _floats(name, getattr(self, name))
            optional = name in ("ice_mm_per_h", "lightning_per_km2_h")
            if len(values) != len(t) and not (optional and not values):
                raise ValueError(f"storm {self.name!r}: {name} needs one value per profile time "
                                 f"({len(t)}), got {len(values)}")
            if any(v < 0 for v in values) or (name in ("core_m", "decay_m") and any(v <= 0 for v in values)):
                raise ValueError(f"storm {self.name!r}: {name} must be "
                                 f"{'positive' if name in ('core_m', 'decay_m') else 'non-negative'}, "
                                 f"got {list(values)}")
            object.__setattr__(self, name, values)

    @property
    def start_s(self) -> float:
        """When the storm begins (its first profile time)."""
        return self.t_s[0]

    @property
    def end_s(self) -> float:
        """When the storm is over (its last profile time)."""
        return self.t_s[-1]

    @cached_property
    def _track(self) -> np.ndarray:
        return np.asarray(self.track, dtype=float)

    @cached_property
    def _profile(self) -> dict[str, np.ndarray]:
        return {name: np.asarray(getattr(self, name), dtype=float)
                for name in ("t_s", "gust_ms", "core_m", "decay_m", "ice_mm_per_h", "lightning_per_km2_h")}

    @property
    def has_ice(self) -> bool:
        """Whether the storm accretes any ice."""
        return any(v > 0 for v in self.ice_mm_per_h)

    def centre(self, t_s: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
        """Position of the centre (x_m, y_m) at times ``t_s``."""
        tr = self._track
        t = np.asarray(t_s, dtype=float)
        return np.interp(t, tr[:, 2], tr[:, 0]), np.interp(t, tr[:, 2], tr[:, 1])

    def profile(self, name: str, t_s: ArrayLike) -> np.ndarray:
        """A profile at times ``t_s``: ``"gust_ms"``, ``"ice_mm_per_h"``, ``"lightning_per_km2_h"`` are zero
        outside the storm's life; ``"core_m"``, ``"decay_m"`` are held at their end values."""
        p = self._profile
        t = np.asarray(t_s, dtype=float)
        values = p[name]
        if not len(values):
            return np.zeros(t.shape)
        if name in ("core_m", "decay_m"):
            return np.interp(t, p["t_s"], values)
        return np.interp(t, p["t_s"], values, left=0.0, right=0.0)

    def share(self, x_m: ArrayLike, y_m: ArrayLike, t_s: ArrayLike) -> np.ndarray:
        """Footprint share (0-1) at points ``(x_m, y_m)`` and times ``t_s`` (broadcast)."""
        t = np.asarray(t_s, dtype=float)
        cx, cy = self.centre(t)
        return footprint(np.hypot(np.asarray(x_m, dtype=float) - cx, np.asarray(y_m, dtype=float) - cy),
                         self.profile("core_m", t), self.profile("decay_m", t))

    @cached_property
    def resolve_s(self) -> float:
        """Time step that resolves the storm's passage: a quarter of the time its centre takes to cross
        its narrowest footprint scale (between 10 and 600 s)."""
        tr = self._track
        if len(tr) > 1:
            speed = float((np.hypot(np.diff(tr[:, 0]), np.diff(tr[:, 1])) / np.diff(tr[:, 2])).max())
        else:
            speed = 0.0
        scale = min(min(self.core_m), min(self.decay_m))
        if speed <= 0.0:
            return MAX_RESOLVE_S
        return float(np.clip(scale / speed / 4.0, MIN_RESOLVE_S, MAX_RESOLVE_S))


@dataclass(frozen=True, eq=False)
class Hazard:
    """The hazard at points and times (arrays of one broadcast shape): peak 3-s gust (m/s), radial ice
    on the conductors (mm) and cloud-to-ground flash density (flashes/km^2/h)."""

    gust_ms: np.ndarray
    ice_mm: np.ndarray
    lightning_per_km2_h: np.ndarray

    @classmethod
    def zero(cls, shape: tuple[int, ...]) -> Hazard:
        """Blue sky."""
        return cls(np.zeros(shape), np.zeros(shape), np.zeros(shape))


def footprint(r_m: ArrayLike, core_m: ArrayLike, decay_m: ArrayLike) -> np.ndarray:
    """Share (0-1) of a field's central value at distance ``r_m`` (see the module docstring)."""
    r, core, decay = np.broadcast_arrays(*(np.asarray(a, dtype=float) for a in (r_m, core_m, decay_m)))
    u = np.maximum(r - core, 0.0) / decay
    return np.where(u <= CUTOFF_DECAYS, np.exp(-0.5 * u * u), 0.0)


def ice_between(storm: Storm | None, x_m: ArrayLike, y_m: ArrayLike, t0_s: ArrayLike, t1_s: ArrayLike) -> np.ndarray:
    """Radial ice (mm) the storm accretes at points ``(x_m, y_m)`` over ``[t0_s, t1_s]`` (broadcast),
    counting only the storm's life.

    The accretion since the start is the trapezoidal rule on a grid of nodes at most
    ``storm.resolve_s`` apart from the storm's start, linear between nodes, so that it only grows
    with time and intervals add up exactly: ``ice_between(a, b) + ice_between(b, c) == ice_between(a, c)``.
    """
    x, y, t0, t1 = np.broadcast_arrays(*(np.asarray(a, dtype=float) for a in (x_m, y_m, t0_s, t1_s)))
    shape = x.shape
    if storm is None or not storm.has_ice or not x.size:
        return np.zeros(shape)
    life = storm.end_s - storm.start_s
    cells = max(1, int(math.ceil(life / storm.resolve_s)))
    h = life / cells
    # Grid positions of both ends, clipped to the storm's life.
    u0 = np.clip((t0.ravel() - storm.start_s) / h, 0.0, cells)
    u1 = np.clip((t1.ravel() - storm.start_s) / h, 0.0, cells)
    xf, yf = x.ravel(), y.ravel()
    out = np.empty(x.size)
    top = int(min(cells, math.floor(max(u0.max(), u1.max())) + 1))
    tau = storm.start_s + h * np.arange(top + 1)
    rate = storm.profile("ice_mm_per_h", tau)
    live = np.flatnonzero(rate > 0)
    chunk = max(1, (1 << 21) // (top + 1))
    for i in range(0, x.size, chunk):
        j = slice(i, i + chunk)
        v = np.zeros((len(xf[j]), top + 1))
        if len(live):
            v[:, live] = rate[live] * storm.share(xf[j, None], yf[j, None], tau[live])
        cum = np.zeros_like(v)
        cum[:, 1:] = np.cumsum(0.5 * (v[:, 1:] + v[:, :-1]), axis=1) * (h / HOUR_S)
        out[j] = _at(cum, u1[j]) - _at(cum, u0[j])
    return np.maximum(out, 0.0).reshape(shape)


def _at(cum: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Each row of ``cum`` (values at grid nodes 0, 1, ..., at least two) at its own fractional node ``u``."""
    k = np.minimum(np.floor(u).astype(np.int64), cum.shape[1] - 2)
    rows = np.arange(len(u))
    return cum[rows, k] + (u - k) * (cum[rows, k + 1] - cum[rows, k])


def hazard(storm: Storm | None, x_m: ArrayLike, y_m: ArrayLike, t_s: ArrayLike) -> Hazard:
    """The storm's hazard at points ``(x_m, y_m)`` and times ``t_s`` (all broadcast together);
    ``storm=None`` is blue sky (zero)."""
    x, y, t = np.broadcast_arrays(*(np.asarray(a, dtype=float) for a in (x_m, y_m, t_s)))
    if storm is None:
        return Hazard.zero(x.shape)
    f = storm.share(x, y, t)
    ice = ice_between(storm, x, y, storm.start_s, t)
    ice = np.where(t <= storm.end_s, ice, 0.0)
    return Hazard(storm.profile("gust_ms", t) * f, ice, storm.profile("lightning_per_km2_h", t) * f)


# -- built-in storms ---------------------------------------------------------------------------

BUILTIN_STORMS = ("thunderstorm", "hurricane", "ice")


def territory_bounds(net: Network) -> tuple[float, float, float, float]:
    """Bounding box of the buses' coordinates: ``(x_min, y_min, x_max, y_max)`` in metres."""
    x, y = net.bus["x"], net.bus["y"]
    ok = np.isfinite(x) & np.isfinite(y)
    if not ok.any():
        raise ValueError(f"network {net.name!r}: no bus has coordinates, so no storm can be placed over it")
    return float(x[ok].min()), float(y[ok].min()), float(x[ok].max()), float(y[ok].max())


def _crossing(centre: np.ndarray, heading_deg: float, speed_ms: float, t_centre_s: float, start_s: float,
              end_s: float) -> list[tuple[float, float, float]]:
    """A straight track at ``speed_ms`` towards ``heading_deg`` (anticlockwise from east) that passes
    ``centre`` at ``t_centre_s``, from ``start_s`` to ``end_s``."""
    u = np.array([math.cos(math.radians(heading_deg)), math.sin(math.radians(heading_deg))])
    a = centre + speed_ms * (start_s - t_centre_s) * u
    b = centre + speed_ms * (end_s - t_centre_s) * u
    return [(float(a[0]), float(a[1]), start_s), (float(b[0]), float(b[1]), end_s)]


def builtin_storm(name: str, bounds: Sequence[float], start_s: float = 0.0) -> Storm:
    """A built-in storm (``"thunderstorm"``, ``"hurricane"``, ``"ice"``) scaled to ``bounds``
    ``(x_min, y_min, x_max, y_max)`` in metres, beginning at ``start_s`` (see the module docstring)."""
    x0, y0, x1, y1 = (float(v) for v in bounds)
    centre = np.array([(x0 + x1) / 2, (y0 + y1) / 2])
    r = max(0.5 * math.hypot(x1 - x0, y1 - y0), 1000.0)
    h = HOUR_S
    if name == "thunderstorm":
        t = [start_s + v * h for v in (0.0, 0.5, 2.5, 3.0)]
        return Storm(name, _crossing(centre, 20.0, 3.2 * r / (3 * h), t[0] + 1.5 * h, t[0], t[-1]), t,
                     gust_ms=[0.0, 38.0, 38.0, 0.0], core_m=[0.2 * r] * 4, decay_m=[0.15 * r] * 4,
                     lightning_per_km2_h=[0.0, 2.0, 2.0, 0.0])
    if name == "hurricane":
        t = [start_s + v * h for v in (0.0, 12.0, 24.0)]
        return Storm(name, _crossing(centre, 75.0, 8.0 * r / (24 * h), t[1], t[0], t[-1]), t,
                     gust_ms=[50.0, 46.0, 34.0], core_m=[0.25 * r, 0.275 * r, 0.3 * r], decay_m=[0.4 * r] * 3,
                     lightning_per_km2_h=[0.1, 0.1, 0.1])
    if name == "ice":
        t = [start_s + v * h for v in (0.0, 2.0, 12.0, 16.0, 24.0)]
        return Storm(name, _crossing(centre, 30.0, 3.0 * r / (24 * h), t[0] + 7 * h, t[0], t[-1]), t,
                     gust_ms=[0.0, 16.0, 16.0, 8.0, 0.0], core_m=[0.6 * r] * 5, decay_m=[0.4 * r] * 5,
                     ice_mm_per_h=[0.0, 1.5, 1.5, 0.0, 0.0])
    raise ValueError(f"no built-in storm {name!r}: the built-in storms are {', '.join(BUILTIN_STORMS)}")
