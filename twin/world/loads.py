"""Loads over the day: class profiles, the season, the weather, and cold-load pickup after long outages.

The model's loads are the peak the planning engineer entered. In the world each load draws its
peak times its class's share of the peak at that hour (:data:`PROFILES`: residential mornings
and evenings, commercial business hours, industrial shifts), times a seasonal factor (a summer
peak, a winter shoulder, by day of the year), times its *cold-load pickup* factor: after an
outage longer than :attr:`LoadParameters.clpu_after_s` a load comes back at
:attr:`LoadParameters.clpu_peak` times its normal draw (thermostats all calling at once),
decaying to normal with :attr:`LoadParameters.clpu_decay_s`. With a temperature
(:mod:`twin.world.temperature`) the profile, which is the draw in normal weather, moves with the
heating and cooling the day's departure from normal brings (a heat wave up, a storm's cool air down). A load's class is the class most of
its customers have (residential where it has none). Every :attr:`LoadParameters.step_s` the load
level steps and the world re-solves. The figures are representative, not a utility's own.

>>> import numpy as np
>>> p = LoadParameters()
>>> bool(profile_share(np.array([0]), 18.5, p)[0] > profile_share(np.array([0]), 3.5, p)[0])  # residential
True
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from twin.grid.schema import CustomerClass

__all__ = ["LoadModel", "LoadParameters", "PROFILES", "profile_share"]

PROFILES = {  # share of the class's peak, hour by hour (0 h .. 23 h)
    CustomerClass.residential: (0.45, 0.40, 0.37, 0.36, 0.37, 0.42, 0.55, 0.68, 0.66, 0.58, 0.55, 0.55,
                                0.56, 0.56, 0.58, 0.64, 0.75, 0.88, 0.98, 1.00, 0.95, 0.85, 0.70, 0.55),
    CustomerClass.commercial: (0.35, 0.33, 0.32, 0.32, 0.33, 0.38, 0.50, 0.70, 0.88, 0.96, 1.00, 1.00,
                               0.98, 1.00, 1.00, 0.97, 0.92, 0.82, 0.68, 0.58, 0.50, 0.44, 0.40, 0.37),
    CustomerClass.industrial: (0.70, 0.68, 0.68, 0.68, 0.70, 0.75, 0.88, 0.96, 1.00, 1.00, 1.00, 0.98,
                               0.95, 0.98, 1.00, 1.00, 0.96, 0.90, 0.82, 0.78, 0.75, 0.73, 0.72, 0.70),
}


@dataclass(frozen=True)
class LoadParameters:
    """How loads vary in the world (see the module docstring)."""

    step_s: float = 900.0  # the load level steps every 15 minutes
    summer_peak_day: int = 200  # day of the year of the seasonal peak
    seasonal_swing: float = 0.15  # +- around the mean over the year
    clpu_after_s: float = 1800.0  # outages longer than this bring cold-load pickup
    clpu_peak: float = 2.0  # draw at restoration over the normal draw
    clpu_decay_s: float = 1800.0  # time constant back to normal
    profiles: dict = field(default_factory=lambda: dict(PROFILES))


def profile_share(classes: np.ndarray, hour: float, params: LoadParameters) -> np.ndarray:
    """Share of the peak each load (by class code) draws at ``hour`` (0-24, interpolated)."""
    h0 = int(np.floor(hour)) % 24
    w = hour - np.floor(hour)
    table = np.array([params.profiles[CustomerClass(c)] for c in sorted(params.profiles)])
    codes = np.array(sorted(int(c) for c in params.profiles))
    at = np.searchsorted(codes, classes)
    return (1 - w) * table[at, h0] + w * table[at, (h0 + 1) % 24]


def seasonal(day_of_year: int, params: LoadParameters) -> float:
    """The season's factor on the profile: 1 + swing at the summer peak, 1 - swing half a year off."""
    return 1.0 + params.seasonal_swing * float(np.cos(2 * np.pi * (day_of_year - params.summer_peak_day) / 365.25))


def majority_class(owner: np.ndarray, cls: np.ndarray, n: int) -> np.ndarray:
    """The class most of each owner's customers have (``owner``: a row per customer, -1 none;
    ties to the lowest class code; residential where an owner has none)."""
    out = np.full(n, int(CustomerClass.residential), np.int64)
    has = owner >= 0
    if not has.any():
        return out
    codes = int(cls.max()) + 1
    counts = np.bincount(owner[has] * codes + cls[has], minlength=n * codes).reshape(n, codes)
    some = counts.sum(axis=1) > 0
    out[some] = np.argmax(counts[some], axis=1)
    return out


class LoadModel:
    """Each load's draw over time in a world (a scale on its peak): attach with ``LoadModel(world)``;
    with a :class:`~twin.world.temperature.Temperature`, the weather moves it from the normal
    weather's draw."""

    def __init__(self, world, params: LoadParameters = LoadParameters(), *, temperature=None) -> None:
        self.world, self.params, self.temperature = world, params, temperature
        net = world.grid.net
        load, sp = net.load, net.service_point
        self.classes = np.full(len(load), int(CustomerClass.residential), np.int64)
        self.sp_load = np.full(len(sp), -1, np.int64)
        if len(sp) and len(load):
            known = sp["load"] != ""
            self.sp_load[known] = load.index(sp["load"][known])
            self.classes = majority_class(self.sp_load, np.asarray(sp["cls"], np.int64), len(load))
        self.out_since = np.full(len(load), np.nan)  # when a load lost its last customer's power
        self.back_at = np.full(len(load), np.nan)  # when a long outage of the load ended
        world.grid.listeners.append(self._power_changed)
        world.load_model = self
        world.env.process(self.steps())

    def scale(self, t_s: float) -> np.ndarray:
        """Each load's draw over its peak at simulated time ``t_s``."""
        cal, p = self.world.calendar, self.params
        base = profile_share(self.classes, cal.hour(t_s), p) * seasonal(cal.day_of_year(t_s), p)
        if self.temperature is not None:
            from twin.world.temperature import weather_factor

            t = self.temperature
            base = base * weather_factor(self.classes, np.asarray(t.at(t_s)), np.asarray(t.normal(t_s)), t.params)
        since = t_s - self.back_at
        pickup = np.where(np.isnan(since), 1.0, 1.0 + (p.clpu_peak - 1.0) * np.exp(-np.nan_to_num(since) / p.clpu_decay_s))
        return base * pickup

    def _power_changed(self, now_s: float, lost: np.ndarray, back: np.ndarray) -> None:
        rows_lost = np.unique(self.sp_load[lost][self.sp_load[lost] >= 0])
        self.out_since[rows_lost] = np.where(np.isnan(self.out_since[rows_lost]), now_s, self.out_since[rows_lost])
        rows_back = np.unique(self.sp_load[back][self.sp_load[back] >= 0])
        long_out = now_s - self.out_since[rows_back] >= self.params.clpu_after_s
        self.back_at[rows_back[long_out]] = now_s
        self.out_since[rows_back] = np.nan

    def steps(self):
        """The load level steps every ``step_s``: the world re-solves."""
        while True:
            yield self.world.env.timeout(self.params.step_s)
            self.world.request_resolve()
