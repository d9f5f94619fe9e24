"""Outdoor temperature over the territory, and what it does to loads.

The *normal* temperature (°C) of a day and hour is a seasonal mean
(:attr:`TemperatureParameters.mean_c` plus :attr:`~TemperatureParameters.seasonal_c` times a
cosine peaking on :attr:`~TemperatureParameters.warmest_day`) plus a daily swing
(:attr:`~TemperatureParameters.diurnal_c` times a cosine peaking at
:attr:`~TemperatureParameters.warmest_hour`). The weather of a given day departs from it: a daily
anomaly (AR(1) from day to day, drawn once from the world's ``temperature`` stream, interpolated
between noons) and the rain-cooled air under a storm (its footprint at the territory's centre
times its cooling, :data:`STORM_COOLING_C`).

The class profiles of :mod:`twin.world.loads` are loads in *normal* weather; the weather moves
them by the heating and cooling the departure brings (degree-days in the hour):

    factor = 1 + cool * (max(T - T_cool, 0) - max(Tn - T_cool, 0))
               + heat * (max(T_heat - T, 0) - max(T_heat - Tn, 0))

per class (:attr:`~TemperatureParameters.cooling_per_c`, :attr:`~TemperatureParameters.heating_per_c`:
shares of the class's draw per degree). Representative figures for a temperate North American
utility, not a utility's own.

>>> import numpy as np
>>> p = TemperatureParameters()
>>> normal_c(200, 15.0, p) > normal_c(200, 5.0, p) > normal_c(20, 15.0, p)
True
>>> weather_factor(np.array([0]), np.array(30.0), np.array(25.0), p).round(3).tolist()  # 5 °C hotter
[1.15]
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from twin.grid.schema import CustomerClass

__all__ = ["STORM_COOLING_C", "Temperature", "TemperatureParameters", "normal_c", "weather_factor"]

STORM_COOLING_C = {"thunderstorm": 8.0, "hurricane": 4.0, "ice": 0.0}
"""How much cooler (°C) the air is at the storm's core than the day would be (rain-cooled outflow;
an ice storm is already at freezing)."""


@dataclass(frozen=True)
class TemperatureParameters:
    """The territory's climate and its loads' sensitivity to it (see the module docstring)."""

    mean_c: float = 13.0  # yearly mean
    seasonal_c: float = 12.0  # half the swing between the warmest and the coldest days
    warmest_day: int = 200
    diurnal_c: float = 5.0  # half the swing between the afternoon and the dawn
    warmest_hour: float = 15.0
    anomaly_sigma_c: float = 3.0  # day-to-day departure from normal
    anomaly_rho: float = 0.7  # correlation from one day to the next
    cool_above_c: float = 18.0
    heat_below_c: float = 15.0
    cooling_per_c: dict = field(default_factory=lambda: {
        CustomerClass.residential: 0.03, CustomerClass.commercial: 0.02, CustomerClass.industrial: 0.005})
    heating_per_c: dict = field(default_factory=lambda: {
        CustomerClass.residential: 0.02, CustomerClass.commercial: 0.01, CustomerClass.industrial: 0.003})


def normal_c(day_of_year: float, hour: float, p: TemperatureParameters) -> float:
    """The normal temperature (°C) of a day of the year at an hour."""
    season = p.seasonal_c * np.cos(2 * np.pi * (day_of_year - p.warmest_day) / 365.25)
    day = p.diurnal_c * np.cos(2 * np.pi * (hour - p.warmest_hour) / 24.0)
    return float(p.mean_c + season + day)


def weather_factor(classes: np.ndarray, t_c: np.ndarray, normal: np.ndarray, p: TemperatureParameters) -> np.ndarray:
    """Each load's draw (by class code) at temperature ``t_c`` over its draw at the ``normal``
    temperature (°C); at least 0.2."""
    codes = sorted(int(c) for c in p.cooling_per_c)
    cool = np.array([p.cooling_per_c[CustomerClass(c)] for c in codes])[np.searchsorted(codes, classes)]
    heat = np.array([p.heating_per_c[CustomerClass(c)] for c in codes])[np.searchsorted(codes, classes)]
    degrees_cool = np.maximum(t_c - p.cool_above_c, 0.0) - np.maximum(normal - p.cool_above_c, 0.0)
    degrees_heat = np.maximum(p.heat_below_c - t_c, 0.0) - np.maximum(p.heat_below_c - normal, 0.0)
    return np.maximum(1.0 + cool * degrees_cool + heat * degrees_heat, 0.2)


class Temperature:
    """The temperature of a world's territory over time (one value for the territory, °C)."""

    def __init__(self, calendar, rng: np.random.Generator, *, storm=None, centre_xy: tuple[float, float] = (0.0, 0.0),
                 days: int = 32, params: TemperatureParameters = TemperatureParameters()) -> None:
        self.calendar, self.storm, self.centre_xy, self.params = calendar, storm, centre_xy, params
        shocks = rng.standard_normal(days + 2)
        anomaly = np.empty(days + 2)
        anomaly[0] = params.anomaly_sigma_c * shocks[0]
        innovation = params.anomaly_sigma_c * np.sqrt(1.0 - params.anomaly_rho ** 2)
        for k in range(1, days + 2):
            anomaly[k] = params.anomaly_rho * anomaly[k - 1] + innovation * shocks[k]
        self._anomaly = anomaly  # at the noons of day -1, 0, 1, ... of the world (day 0: its first day)
        start = calendar.start
        self._noon0_s = -((start.hour + start.minute / 60.0 + start.second / 3600.0) - 12.0) * 3600.0 - 86400.0

    def normal(self, t_s: float) -> float:
        """The normal temperature (°C) at simulated time ``t_s``."""
        cal = self.calendar
        return normal_c(cal.day_of_year(t_s), cal.hour(t_s), self.params)

    def at(self, t_s: float) -> float:
        """The temperature (°C) at ``t_s``: normal, the day's anomaly, a storm's cooling."""
        u = np.clip((t_s - self._noon0_s) / 86400.0, 0.0, len(self._anomaly) - 1.0)
        anomaly = float(np.interp(u, np.arange(len(self._anomaly)), self._anomaly))
        cooling = 0.0
        if self.storm is not None:
            share = float(self.storm.share(self.centre_xy[0], self.centre_xy[1], t_s))
            cooling = STORM_COOLING_C.get(self.storm.name, 0.0) * share
        return self.normal(t_s) + anomaly - cooling
