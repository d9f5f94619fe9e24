"""Each line segment's exposure to weather and wear: where it is, how it is built, trees, age.

:func:`segment_exposure` turns a network's ``line`` table into an :class:`Exposure`, a frozen record
of arrays with one entry per line row (in the table's order, so entry ``i`` is ``net.line`` row
``i``): the segment's midpoint (from its buses' coordinates), length, construction, phases,
vegetation and age. The world keeps it as data; :mod:`twin.world.faults` turns it and a storm's
hazard into fault rates.

Construction decides what a segment is exposed to (the rates are in
:class:`~twin.world.faults.FaultParameters`):

* *overhead* primary: wind, trees, ice, lightning, animals and equipment failures, all of it;
* *triplex* service drops (overhead 120/240 V): the same hazards at half the primary's rate (short
  spans, low, insulated, on the customer's side of the trees) and a tenth of its lightning
  flashovers (insulated secondary: a stroke burns a meter or a drop rather than flashing over);
* *underground* cable: no weather at all, a small constant rate of cable and splice failures and
  dig-ins, permanent by nature;
* *reactors* (lumped series elements stored as lines): none.

Vegetation
----------
A number from 0 (no trees in reach) to 1 (the line runs through woodland), smooth over the
territory and higher where the network is sparse. Density is the proxy for rural land: the line
length per km^2 around each segment (a histogram on a 250 m grid smoothed with a Gaussian of
600 m) gives the *ruralness* ``1 / (1 + (density / half_density)^2)``, about 0.1-0.2 in towns
(10-15 km of line per km^2 at that smoothing) and 0.8 in the country (2-3 km/km^2). Vegetation is

    clip(urban + (rural - urban) ruralness + spread z, 0, 1)

with ``z`` a smooth Gaussian field of unit variance and correlation length ``vegetation_length_m``
(random Fourier features: ``sqrt(2/n) sum cos(k.x + phi)``, wave vectors ``k`` normal with standard
deviation ``1/length``, which gives the squared-exponential correlation ``exp(-d^2 / 2 length^2)``).

Age
---
Years in service, ``clip(mean + sd z + jitter e, 1, max)``: ``z`` another smooth field (whole
neighbourhoods were built together), ``e`` independent per segment. Defaults give a mean of about
33 years, nine in ten between 10 and 50, as North American distribution plant is.

Randomness: all from the ``rng`` passed in, in this order: the vegetation field's wave vectors
and phases, the age field's, then the age jitter.

>>> import numpy as np
>>> from twin.world.territory import generate_territory
>>> ex = segment_exposure(generate_territory(500, seed=1), np.random.default_rng(0))
>>> len(ex) > 0, bool(((ex.vegetation >= 0) & (ex.vegetation <= 1)).all())
(True, True)
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.ndimage import gaussian_filter, map_coordinates

from twin.grid.network import Network
from twin.grid.schema import LineKind

__all__ = ["Exposure", "ExposureParameters", "segment_exposure", "smooth_field"]


@dataclass(frozen=True)
class ExposureParameters:
    """How vegetation and age are drawn (see the module docstring)."""

    vegetation_urban: float = 0.15  # mean vegetation where the network is densest
    vegetation_rural: float = 0.70  # ... and where it is sparsest
    vegetation_spread: float = 0.15  # standard deviation of the smooth variation about the mean
    vegetation_length_m: float = 1500.0  # correlation length of woods and clearings
    half_density_km_per_km2: float = 5.0  # line density at which a place is half rural
    density_cell_m: float = 250.0
    density_smoothing_m: float = 600.0
    age_mean_years: float = 35.0
    age_sd_years: float = 14.0  # of the smooth, neighbourhood part
    age_jitter_years: float = 6.0  # of the per-segment part (replacements, rebuilt spans)
    age_length_m: float = 4000.0
    age_max_years: float = 80.0
    waves: int = 64  # random Fourier features per smooth field


@dataclass(frozen=True, eq=False)
class Exposure:
    """One entry per ``line`` row: midpoint ``x_m``, ``y_m``, ``length_m``, ``kind``
    (:class:`~twin.grid.schema.LineKind`), ``phases`` (:class:`~twin.grid.schema.Phase` flags) and
    ``n_phases`` (conductors other than the neutral: 1-3, 2 for a triplex's legs), ``vegetation``
    (0-1), ``age_years``, ``in_service``."""

    x_m: np.ndarray
    y_m: np.ndarray
    length_m: np.ndarray
    kind: np.ndarray
    phases: np.ndarray
    n_phases: np.ndarray
    vegetation: np.ndarray
    age_years: np.ndarray
    in_service: np.ndarray

    def __len__(self) -> int:
        return len(self.length_m)

    @property
    def overhead(self) -> np.ndarray:
        """Segments strung on poles (primary overhead and triplex drops)."""
        return (self.kind == LineKind.overhead) | (self.kind == LineKind.triplex)


def smooth_field(x_m: np.ndarray, y_m: np.ndarray, length_m: float, rng: np.random.Generator, *,
                 waves: int = 64) -> np.ndarray:
    """A smooth Gaussian random field of unit variance and correlation length ``length_m`` at the points
    (random Fourier features; draws ``waves`` wave vectors and phases from ``rng``)."""
    k = rng.normal(0.0, 1.0 / length_m, (waves, 2))
    phi = rng.uniform(0.0, 2.0 * math.pi, waves)
    z = np.zeros(len(x_m))
    for (kx, ky), p in zip(k.tolist(), phi.tolist()):
        z += np.cos(kx * x_m + ky * y_m + p)
    return z * math.sqrt(2.0 / waves)


def _line_density(x: np.ndarray, y: np.ndarray, length_m: np.ndarray, p: ExposureParameters) -> np.ndarray:
    """Line length per area (km/km^2) around each point, smoothed over ``density_smoothing_m``."""
    cell = p.density_cell_m
    pad = 3.0 * p.density_smoothing_m
    x0, y0 = x.min() - pad, y.min() - pad
    nx = int((x.max() + pad - x0) // cell) + 1
    ny = int((y.max() + pad - y0) // cell) + 1
    ix, iy = ((x - x0) // cell).astype(np.int64), ((y - y0) // cell).astype(np.int64)
    grid = np.bincount(ix * ny + iy, weights=length_m / 1e3, minlength=nx * ny).reshape(nx, ny)
    grid = gaussian_filter(grid, p.density_smoothing_m / cell, mode="constant") / (cell / 1e3) ** 2
    return map_coordinates(grid, [(x - x0) / cell - 0.5, (y - y0) / cell - 0.5], order=1, mode="nearest")


def segment_exposure(net: Network, rng: np.random.Generator,
                     params: ExposureParameters = ExposureParameters()) -> Exposure:
    """Exposure of every ``net.line`` row (see the module docstring); draws vegetation and age from ``rng``."""
    line = net.line
    n = len(line)
    bus = net.bus
    a, b = bus.index(line["from_bus"]), bus.index(line["to_bus"])
    bx, by = bus["x"].astype(float), bus["y"].astype(float)
    x = 0.5 * (bx[a] + bx[b])
    y = 0.5 * (by[a] + by[b])
    x, y = np.nan_to_num(x), np.nan_to_num(y)  # a model without coordinates: every segment at the origin
    length = line["length_m"].astype(float)
    phases = line["phases"].astype(np.int8)
    bits = phases.astype(np.int64)
    n_phases = sum(((bits >> k) & 1) for k in range(5)).astype(np.int8)
    p = params
    if n:
        rural = 1.0 / (1.0 + (_line_density(x, y, length, p) / p.half_density_km_per_km2) ** 2)
        z = smooth_field(x, y, p.vegetation_length_m, rng, waves=p.waves)
        vegetation = p.vegetation_urban + (p.vegetation_rural - p.vegetation_urban) * rural + p.vegetation_spread * z
        age = p.age_mean_years + p.age_sd_years * smooth_field(x, y, p.age_length_m, rng, waves=p.waves)
        age = age + p.age_jitter_years * rng.standard_normal(n)
    else:
        vegetation = age = np.zeros(0)
    return Exposure(
        x_m=x, y_m=y, length_m=length, kind=line["kind"].astype(np.int8), phases=phases, n_phases=n_phases,
        vegetation=np.clip(vegetation, 0.0, 1.0), age_years=np.clip(age, 1.0, p.age_max_years),
        in_service=line["in_service"].astype(bool),
    )
