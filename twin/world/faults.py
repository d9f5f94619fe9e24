"""Fault rates of line segments through fragility curves, and the sampling of fault events.

A segment's rate of faults (per second) is a sum over causes (:class:`FaultCause`), each a rate per
km-hour times the segment's length. For *overhead primary*, at the local hazard
(:class:`~twin.world.weather.Hazard`: 3-s gust ``g`` m/s, radial ice ``t`` mm, flash density
``L`` flashes/km^2/h), vegetation ``v`` (0-1) and age factor ``A``:

* **wind**: structures (poles, crossarms, hardware, conductors) ``wind_rate * P_s(g, 0) * A``;
* **tree**: contacts and falls ``v * tree_rate * P_t(g, 0)``, plus blue-sky growth-in and dead trees
  ``v * tree_per_km_yr``;
* **ice**: what ice adds to both, ``wind_rate * (P_s(g, t) - P_s(g, 0)) * A + v * tree_rate *
  (P_t(g, t) - P_t(g, 0))``;
* **lightning**: ``L * lightning_width * lightning_flashover`` (strokes to the line within its
  attractive width: about 110 m for a 10 m line by Eriksson's formula, less where trees and
  buildings shield it, more for the induced flashovers of nearby strokes, which a 12.47 kV line's
  100-300 kV insulation does not withstand; 100 m in all, half of them flashing over);
* **equipment**: blue-sky failures of transformers, arresters, connectors, ``equipment_per_km_yr * A``;
* **animal**: squirrels, birds, snakes, ``animal_per_km_yr``.

``P`` are lognormal fragility curves, ``P = Phi(ln(load) / beta)``, on a *combined load* ratio, the
wind's and the ice's loads added across each other, ``load = hypot(g / g_median, t / t_median)``:
the fragility on wind alone (``t = 0``) or on ice alone (``g = 0``), and more than either when both
act. On structures the wind presses on the iced conductor, whose diameter grows from ``d`` to
``d + 2t``, so ``g`` there is ``g sqrt(1 + 2t/d)``. Structures fail at a median gust of 40 m/s
(wood distribution poles in published fragility studies: 35-45 m/s, dispersion 0.3) or 50 mm of
radial ice alone; trees at 22 m/s (limbs and whole trees come down from 20-25 m/s, dispersion
0.35) or 25 mm on their own limbs (the damage of the 12-25 mm "significant" to "severe" ice
storms is mostly trees). The age factor is ``A = exp(age_per_year * (age - age_ref))``: a
30-year-old segment 1, a new one 0.55, a 60-year-old 1.8 (poles and hardware weaken; trees and
animals do not care). The saturation rates (what a km of line suffers per hour when the load far
exceeds the median) are set so that the built-in storms of :mod:`twin.world.weather` do the
damage of real ones on the generated territories: the hurricane 2-4 permanent faults per 1,000
customers (and half as many temporary ones), the ice storm 1-3, the thunderstorm a tenth of the
hurricane's, with twice as many temporary faults, mostly lightning (``tests/world/test_faults.py``
checks the ranges).

*Triplex* drops take every overhead rate times ``triplex_share`` and lightning times
``triplex_lightning_share``; *underground* cable only ``underground_per_km_yr * A`` (cause
equipment); reactors and out-of-service segments nothing.

Blue sky, overhead primary, at vegetation 0.4 and age factor 1.05 (the generated territories'
means): 0.2 faults per km-year, 0.11 of them permanent, inside the 0.1-0.3 per km-year of North
American distribution feeders' records (lightning apart); triplex 0.1, underground 0.03.

Sampling
--------
:func:`sample_faults` draws the faults in ``[t0_s, t1_s)`` as a non-homogeneous Poisson process
per segment and cause. Time is cut into panels of ``step_s`` through the storm's life (shorter
where the storm needs it, so that Simpson's nodes are at most
:attr:`~twin.world.weather.Storm.resolve_s` apart), and each panel's expected count is Simpson's
rule on the rates at its ends and middle (:func:`expected_faults`); before and after the storm,
and for the causes that do not depend on the weather (equipment, animals), the rates are
constant and the whole span is one panel. In a panel,
the number of faults of a cause is Poisson with the sum of the segments' expected counts, the
faulted segments drawn in proportion to theirs (the same law as one Poisson per segment, at the
cost of one draw per fault), their times uniform in the panel. A segment can fault many times.

Each fault then gets a type, weighted by the segment's conductors: on three phases
``type_shares`` (SLG 75 %, LL 10 %, LLG 12 %, three-phase 3 %), on two (and a triplex's two legs)
the same without three-phase, on one only SLG; its faulted phases drawn evenly among the segment's;
*permanent* with the cause's ``permanent_share`` (trees on wires and broken poles mostly are,
lightning flashovers mostly are not; underground faults always); a *wire down* (a public hazard)
with the cause's ``wire_down_share`` of permanent overhead and triplex faults; and its location
along the segment, uniform from the from-bus (0) to the to-bus (1).

Randomness: one draw of four integers from ``rng`` seeds a ``SeedSequence`` whose children are the
causes' streams, one per :class:`FaultCause`. The same ``rng`` state gives the same table bit for
bit; changing the parameters of one cause (the tree fragility, say) changes that cause's faults
only, and every other cause draws exactly as before.

>>> import numpy as np
>>> from twin.world.exposure import segment_exposure
>>> from twin.world.territory import generate_territory
>>> net = generate_territory(2_000, seed=1)
>>> ex = segment_exposure(net, np.random.default_rng(1))
>>> faults = sample_faults(ex, None, 0.0, 365 * 86400.0, np.random.default_rng(2))
>>> bool(np.all(np.diff(faults.time_s) >= 0)), set(FaultCause(c).name for c in faults.cause) <= {
...     "tree", "equipment", "animal"}
(True, True)
"""

from __future__ import annotations

import enum
import math
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
from scipy.special import ndtr

from twin.grid.schema import LineKind
from twin.grid.shortcircuit.faults import FaultType
from twin.world.exposure import Exposure
from twin.world.weather import Hazard, Storm, hazard

__all__ = ["FaultCause", "FaultParameters", "FaultTable", "fault_rates", "expected_faults", "sample_faults",
           "age_factor"]

HOUR_S = 3600.0
YEAR_H = 8760.0


class FaultCause(enum.IntEnum):
    """What caused a fault."""

    tree = 0  # contact with or fall of vegetation
    wind = 1  # wind loading of structures: broken poles and crossarms, conductors torn down
    ice = 2  # what ice loading adds, on structures and on trees
    lightning = 3  # flashover from a direct or nearby stroke
    equipment = 4  # blue-sky failure of equipment, underground cable included
    animal = 5  # squirrels, birds, snakes


_N_CAUSES = len(FaultCause)


@dataclass(frozen=True)
class FaultParameters:
    """Every parameter of the fault model (see the module docstring). Rates are per km of segment;
    ``*_per_km_h`` at saturation of their fragility, ``*_per_km_yr`` blue-sky; ``*_share`` tuples are
    indexed by :class:`FaultCause` (tree, wind, ice, lightning, equipment, animal)."""

    wind_median_ms: float = 40.0  # structures: median 3-s gust of the lognormal fragility
    wind_beta: float = 0.30  # ... and its dispersion (standard deviation of ln)
    wind_rate_per_km_h: float = 0.07  # ... and failures per km-hour far above the median (age factor 1)
    structure_ice_median_mm: float = 50.0  # radial ice that fails structures on its own
    tree_median_ms: float = 22.0  # trees: median gust that brings limbs and trees onto the wires
    tree_beta: float = 0.35
    tree_rate_per_km_h: float = 0.08  # ... and contacts per km-hour far above the median, at vegetation 1
    tree_ice_median_mm: float = 25.0  # radial ice that brings limbs down on its own
    conductor_diameter_mm: float = 15.0  # between 1/0 ACSR (10 mm) and 336 ACSR (18 mm)
    lightning_width_m: float = 100.0  # attractive width of a 10 m line, less shielding, plus induced flashovers
    lightning_flashover: float = 0.5  # share of those strokes that flash the insulation over
    age_ref_years: float = 30.0  # age factor 1
    age_per_year: float = 0.02  # growth of ln(age factor) per year
    equipment_per_km_yr: float = 0.06  # overhead primary, age factor 1
    animal_per_km_yr: float = 0.08
    tree_per_km_yr: float = 0.12  # at vegetation 1
    underground_per_km_yr: float = 0.03  # cable and splice failures, dig-ins (age factor 1)
    triplex_share: float = 0.5  # a triplex drop's rates relative to overhead primary
    triplex_lightning_share: float = 0.1
    # By cause (tree, wind, ice, lightning, equipment, animal):
    permanent_share: tuple[float, ...] = (0.55, 0.9, 0.8, 0.2, 0.95, 0.3)
    wire_down_share: tuple[float, ...] = (0.3, 0.5, 0.4, 0.05, 0.1, 0.02)  # of permanent overhead faults
    type_shares: tuple[float, float, float, float] = (0.75, 0.10, 0.12, 0.03)  # SLG, LL, LLG, three-phase

    def __post_init__(self) -> None:
        for name in ("permanent_share", "wire_down_share"):
            values = getattr(self, name)
            if len(values) != _N_CAUSES or not all(0.0 <= v <= 1.0 for v in values):
                raise ValueError(f"FaultParameters.{name}: one share in 0-1 per cause "
                                 f"({', '.join(c.name for c in FaultCause)}), got {values}")
        for name in ("wind_median_ms", "wind_beta", "structure_ice_median_mm", "tree_median_ms", "tree_beta",
                     "tree_ice_median_mm", "conductor_diameter_mm"):
            if not getattr(self, name) > 0:
                raise ValueError(f"FaultParameters.{name} must be positive, got {getattr(self, name)}")
        if len(self.type_shares) != 4 or min(self.type_shares) < 0 or self.type_shares[0] <= 0:
            raise ValueError(f"FaultParameters.type_shares: (SLG, LL, LLG, three-phase), non-negative with SLG "
                             f"positive, got {self.type_shares}")


def age_factor(age_years: np.ndarray, params: FaultParameters) -> np.ndarray:
    """Multiplier of structural and equipment failure rates at an age (1 at ``age_ref_years``)."""
    return np.exp(params.age_per_year * (np.asarray(age_years, dtype=float) - params.age_ref_years))


@dataclass(frozen=True, eq=False)
class _Coefficients:
    """Per-segment factors (1/s) that turn fragilities and hazards into rates."""

    structure: np.ndarray  # x P_s
    tree: np.ndarray  # x P_t
    lightning: np.ndarray  # x flashes/km^2/h
    background: np.ndarray  # (causes, N): blue-sky rates

    @classmethod
    def of(cls, ex: Exposure, p: FaultParameters) -> _Coefficients:
        km_s = ex.length_m / 1e3 / HOUR_S * ex.in_service  # km, per hour -> per second
        kind = ex.kind
        overhead = np.where(kind == LineKind.overhead, 1.0, np.where(kind == LineKind.triplex, p.triplex_share, 0.0))
        flash = np.where(kind == LineKind.overhead, 1.0,
                         np.where(kind == LineKind.triplex, p.triplex_lightning_share, 0.0))
        age = age_factor(ex.age_years, p)
        background = np.zeros((_N_CAUSES, len(ex)))
        background[FaultCause.tree] = overhead * ex.vegetation * p.tree_per_km_yr / YEAR_H
        background[FaultCause.equipment] = np.where(
            kind == LineKind.underground, p.underground_per_km_yr, overhead * p.equipment_per_km_yr) * age / YEAR_H
        background[FaultCause.animal] = overhead * p.animal_per_km_yr / YEAR_H
        return cls(structure=km_s * overhead * age * p.wind_rate_per_km_h,
                   tree=km_s * overhead * ex.vegetation * p.tree_rate_per_km_h,
                   lightning=km_s * flash * p.lightning_width_m / 1e3 * p.lightning_flashover,
                   background=background * km_s)


def _fragility(g: np.ndarray, t: np.ndarray, g_median: float, t_median: float, beta: float,
               d_mm: float | None) -> np.ndarray:
    """Lognormal fragility on the combined wind-and-ice load ratio (0 where there is no load); with a
    conductor diameter ``d_mm`` the wind acts on the iced conductor."""
    if d_mm is not None:
        g = g * np.sqrt(1.0 + 2.0 * t / d_mm)
    load = np.hypot(g / g_median, t / t_median)
    with np.errstate(divide="ignore"):
        return ndtr(np.log(load) / beta)


_STORM_CAUSES = (FaultCause.tree, FaultCause.wind, FaultCause.ice, FaultCause.lightning)  # rows 0-3
_BLUE_CAUSES = (FaultCause.equipment, FaultCause.animal)  # hazard-independent


def _storm_rates(c: _Coefficients, g: np.ndarray, t: np.ndarray, flashes: np.ndarray, p: FaultParameters,
                 *, ice: bool = True, rows: np.ndarray | slice = slice(None)) -> np.ndarray:
    """What the hazard adds to the blue-sky rates (1/s): shape (4, ...) for tree, wind, ice and
    lightning, at hazards broadcasting against the segments ``rows``."""
    structure, tree = c.structure[rows], c.tree[rows]
    shape = np.broadcast_shapes(np.shape(g), np.shape(t), np.shape(flashes), structure.shape)
    out = np.zeros((4, *shape))
    with np.errstate(divide="ignore"):
        ln_g = np.log(g)
    s0 = ndtr((ln_g - math.log(p.wind_median_ms)) / p.wind_beta)
    t0 = ndtr((ln_g - math.log(p.tree_median_ms)) / p.tree_beta)
    out[FaultCause.wind] = structure * s0
    out[FaultCause.tree] = tree * t0
    if ice:
        d = p.conductor_diameter_mm
        s1 = _fragility(g, t, p.wind_median_ms, p.structure_ice_median_mm, p.wind_beta, d)
        t1 = _fragility(g, t, p.tree_median_ms, p.tree_ice_median_mm, p.tree_beta, None)
        out[FaultCause.ice] = structure * np.maximum(s1 - s0, 0.0) + tree * np.maximum(t1 - t0, 0.0)
    out[FaultCause.lightning] = c.lightning[rows] * flashes
    return out


def fault_rates(exposure: Exposure, hazard: Hazard, params: FaultParameters = FaultParameters(), *,
                by_cause: bool = False) -> np.ndarray:
    """Fault rate (1/s) of each segment at the hazard, arrays whose last axis is the segments (or
    broadcasting against them); ``by_cause`` adds a trailing axis indexed by :class:`FaultCause`."""
    c = _Coefficients.of(exposure, params)
    g, t, flashes = (np.asarray(a, dtype=float) for a in (hazard.gust_ms, hazard.ice_mm, hazard.lightning_per_km2_h))
    storm = _storm_rates(c, g, t, flashes, params)
    shape = storm.shape[1:]
    background = c.background.reshape((_N_CAUSES,) + (1,) * (len(shape) - 1) + (-1,))
    r = np.broadcast_to(background, (_N_CAUSES, *shape)).copy()
    r[:4] += storm
    return np.moveaxis(r, 0, -1) if by_cause else r.sum(axis=0)


# -- time integration --------------------------------------------------------------------------


def _panels(ex: Exposure, storm: Storm | None, t0: float, t1: float, step_s: float, c: _Coefficients,
            p: FaultParameters) -> Iterator[tuple[float, float, np.ndarray | None]]:
    """``(a, b, expected)`` for consecutive panels covering ``[t0, t1)``: ``expected`` (4, N) the
    expected number of faults the hazard adds (tree, wind, ice, lightning) in the panel, None where
    there is no storm. Simpson's rule; the ice on the wires by the trapezoidal rule on its nodes."""
    if not step_s > 0:
        raise ValueError(f"step_s={step_s}: the time step must be positive (seconds)")
    if t1 <= t0:
        return
    if storm is None or t1 <= storm.start_s or t0 > storm.end_s:
        yield t0, t1, None
        return
    a0, b0 = max(t0, storm.start_s), min(t1, storm.end_s)
    if a0 > t0:
        yield t0, a0, None
    if b0 > a0:
        n_sub = max(1, math.ceil(step_s / (2.0 * storm.resolve_s)))
        h = step_s / n_sub
        edges = np.append(np.arange(a0, b0, h), b0)
        if len(edges) > 2 and edges[-1] - edges[-2] < 1e-9 * h:
            edges = np.delete(edges, -2)
        x, y = ex.x_m, ex.y_m
        ice_now = hazard(storm, x, y, a0).ice_mm if storm.has_ice else np.zeros(len(ex))
        f = storm.share(x, y, a0)
        r_a = _node_rates(c, storm, f, a0, ice_now, p)
        t_prev, ice_rate_prev = a0, storm.profile("ice_mm_per_h", a0) * f  # the trapezoid's last node
        for a, b in zip(edges[:-1].tolist(), edges[1:].tolist()):
            nodes = []
            for t in (0.5 * (a + b), b):
                f = storm.share(x, y, t)
                if storm.has_ice:
                    ice_rate = storm.profile("ice_mm_per_h", t) * f
                    ice_now = ice_now + 0.5 * (ice_rate_prev + ice_rate) * (t - t_prev) / HOUR_S
                    t_prev, ice_rate_prev = t, ice_rate
                nodes.append(_node_rates(c, storm, f, t, ice_now, p))
            yield a, b, (r_a + 4.0 * nodes[0] + nodes[1]) * ((b - a) / 6.0)
            r_a = nodes[1]
    if t1 > b0 and b0 >= a0:
        yield b0, t1, None


def _node_rates(c: _Coefficients, storm: Storm, f: np.ndarray, t: float, ice_mm: np.ndarray,
                p: FaultParameters) -> np.ndarray:
    """What the hazard adds to the rates (4, N) at one time, from the footprint shares ``f`` and the
    ice on the wires; only the segments the storm reaches are worked out."""
    n = len(f)
    active = np.flatnonzero((f > 0) | (ice_mm > 0))
    if len(active) == n:
        rows: np.ndarray | slice = slice(None)
    elif not len(active):
        return np.zeros((4, n))
    else:
        rows = active
    g = storm.profile("gust_ms", t) * f[rows]
    flashes = storm.profile("lightning_per_km2_h", t) * f[rows]
    part = _storm_rates(c, g, ice_mm[rows], flashes, p, ice=storm.has_ice, rows=rows)
    if isinstance(rows, slice):
        return part
    out = np.zeros((4, n))
    out[:, rows] = part
    return out


def expected_faults(exposure: Exposure, storm: Storm | None, t0_s: float, t1_s: float,
                    params: FaultParameters = FaultParameters(), *, step_s: float = 300.0,
                    by_cause: bool = False) -> np.ndarray:
    """Expected number of faults of each segment in ``[t0_s, t1_s)`` (the integral of its rate, as
    :func:`sample_faults` takes it); ``by_cause`` adds a trailing axis indexed by :class:`FaultCause`."""
    c = _Coefficients.of(exposure, params)
    t0, t1 = float(t0_s), float(t1_s)
    total = c.background * max(0.0, t1 - t0)
    for _, _, m in _panels(exposure, storm, t0, t1, float(step_s), c, params):
        if m is not None:
            total[:4] += m
    return total.T.copy() if by_cause else total.sum(axis=0)


# -- sampling ----------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class FaultTable:
    """Fault events sorted by time: ``time_s``, ``segment`` (line row), ``kind``
    (:class:`~twin.grid.shortcircuit.FaultType`), ``phases`` (:class:`~twin.grid.schema.Phase` flags of
    the faulted conductors), ``permanent``, ``cause`` (:class:`FaultCause`), ``location`` (0-1 from the
    from-bus), ``wire_down``."""

    time_s: np.ndarray
    segment: np.ndarray
    kind: np.ndarray
    phases: np.ndarray
    permanent: np.ndarray
    cause: np.ndarray
    location: np.ndarray
    wire_down: np.ndarray

    def __len__(self) -> int:
        return len(self.time_s)

    def equals(self, other: FaultTable) -> bool:
        """True when both hold the same events, bit for bit."""
        return all(np.array_equal(getattr(self, k), getattr(other, k)) for k in self.__dataclass_fields__)


_TYPE_ORDER = np.array([FaultType.slg, FaultType.ll, FaultType.llg, FaultType.three_phase], dtype=np.int8)
_BITS = np.array([[b for b in (1, 2, 4, 8, 16) if m & b][:3] + [0] * (3 - min(3, bin(m).count("1")))
                  for m in range(32)], dtype=np.int64)  # the set bits of each phase mask, ascending


def _cause_streams(rng: np.random.Generator) -> list[np.random.Generator]:
    entropy = rng.integers(0, np.iinfo(np.int64).max, size=4)
    kind = type(rng.bit_generator)
    return [np.random.Generator(kind(s)) for s in np.random.SeedSequence(entropy.tolist()).spawn(_N_CAUSES)]


def _attributes(cause: FaultCause, seg: np.ndarray, ex: Exposure, p: FaultParameters,
                g: np.random.Generator) -> dict[str, np.ndarray]:
    """Type, phases, permanence, wire down and location of one cause's faults."""
    k = len(seg)
    u = g.random((5, k))
    n = np.clip(ex.n_phases[seg].astype(np.int64), 1, 3)
    mask = ex.phases[seg].astype(np.int64) & 31
    shares = np.asarray(p.type_shares, dtype=float)
    table = np.zeros((4, 4))  # by conductor count: cumulative shares of SLG, LL, LLG, three-phase
    table[1] = [1.0, 1.0, 1.0, 1.0]
    two = shares * [1, 1, 1, 0]
    table[2] = np.cumsum(two / two.sum())
    table[2, 2:] = 1.0  # exactly: never three-phase on two conductors
    table[3] = np.cumsum(shares / shares.sum())
    pick = (u[0][:, None] >= table[n][:, :3]).sum(axis=1)
    kind = _TYPE_ORDER[pick]
    which = np.minimum((u[1] * n).astype(np.int64), n - 1)
    one = _BITS[mask, which]
    phases = np.where(kind == FaultType.slg, one, np.where((kind == FaultType.three_phase) | (n <= 2), mask,
                                                           mask ^ one))
    underground = ex.kind[seg] == LineKind.underground
    permanent = underground | (u[2] < p.permanent_share[cause])
    wire_down = permanent & ex.overhead[seg] & (u[3] < p.wire_down_share[cause])
    return {"kind": kind, "phases": phases.astype(np.int8), "permanent": permanent, "location": u[4],
            "wire_down": wire_down}


def _draw(cum: np.ndarray, a: float, b: float, g: np.random.Generator,
          into: list[tuple[np.ndarray, np.ndarray]]) -> None:
    """Faults in ``[a, b)`` for cumulative expected counts ``cum`` over the segments: segments and times."""
    total = float(cum[-1]) if len(cum) else 0.0
    if total <= 0.0:
        return
    k = int(g.poisson(total))
    if k:
        seg = np.minimum(np.searchsorted(cum, g.random(k) * total, side="right"), len(cum) - 1)
        into.append((seg, a + g.random(k) * (b - a)))


def sample_faults(exposure: Exposure, storm: Storm | None, t0_s: float, t1_s: float, rng: np.random.Generator,
                  params: FaultParameters = FaultParameters(), *, step_s: float = 300.0) -> FaultTable:
    """The fault events in ``[t0_s, t1_s)`` under ``storm`` (None: blue sky), drawn from ``rng``
    (see the module docstring)."""
    c = _Coefficients.of(exposure, params)
    t0, t1 = float(t0_s), float(t1_s)
    streams = _cause_streams(rng)
    found: list[list[tuple[np.ndarray, np.ndarray]]] = [[] for _ in FaultCause]
    if t1 > t0:
        for cause in _BLUE_CAUSES:  # constant rates: the whole window at once
            _draw(np.cumsum(c.background[cause]) * (t1 - t0), t0, t1, streams[cause], found[cause])
        blue_tree = c.background[FaultCause.tree]
        blue_tree_cum = np.cumsum(blue_tree)
        for a, b, m in _panels(exposure, storm, t0, t1, float(step_s), c, params):
            for cause in _STORM_CAUSES:
                if m is None:
                    if cause == FaultCause.tree:
                        _draw(blue_tree_cum * (b - a), a, b, streams[cause], found[cause])
                    continue
                expected = m[cause] + blue_tree * (b - a) if cause == FaultCause.tree else m[cause]
                _draw(np.cumsum(expected), a, b, streams[cause], found[cause])
    cols: dict[str, list[np.ndarray]] = {k: [] for k in FaultTable.__dataclass_fields__}
    for cause, g in zip(FaultCause, streams):
        seg = np.concatenate([s for s, _ in found[cause]]) if found[cause] else np.zeros(0, np.int64)
        cols["segment"].append(seg)
        cols["time_s"].append(np.concatenate([t for _, t in found[cause]]) if found[cause] else np.zeros(0))
        cols["cause"].append(np.full(len(seg), cause, np.int8))
        for key, value in _attributes(cause, seg, exposure, params, g).items():
            cols[key].append(value)
    out = {k: np.concatenate(v) for k, v in cols.items()}
    order = np.lexsort((out["segment"], out["cause"], out["time_s"]))
    keep = order[out["time_s"][order] < t1]  # a time can round onto the window's end: keep it half-open
    return FaultTable(**{k: v[keep] for k, v in out.items()})
