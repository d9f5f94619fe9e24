"""Overloaded equipment: transformers that heat up and fail, fuses that melt under load.

**Transformers** follow the IEEE C57.91 (clause 7) thermal model between the world's solves: at a
load of ``K`` per unit of rating the top-oil rise moves exponentially (time constant
:attr:`OverloadParameters.tau_oil_s`) towards ``rise_oil_c * ((K^2 R + 1) / (R + 1))^n`` and the
hot spot sits ``rise_hot_spot_c * K^(2m)`` above the oil, on the ambient temperature (the world's
temperature where its load model has one). A transformer fails with a hazard rate (per hour)

    lambda = base_per_h * F_AA(hot spot) + critical_per_h * Phi((hot spot - critical_c) / spread_c)

where ``F_AA = exp(15000/383 - 15000/(hot spot + 273))`` is the standard's aging acceleration (1 at
110 °C): normal aging at rated load, and a fast failure once the hot spot passes the temperature
where insulation gives way (:attr:`OverloadParameters.critical_c`, 180 °C: the standard's limit for
short emergency loading). A failure is an internal fault (``cause="equipment"``) at the end of the
line feeding the transformer: its protection clears it, a crew replaces the unit.

**Fuses** carrying a load current above their minimum melting current (about twice the rating
of a T link) melt after their melting time at that current (the geometric mean of the link's
minimum and maximum melting curves, :mod:`twin.grid.tcc`), unless the load falls below it first:
the cold-load pickup of a long outage can blow a lateral fuse with no fault behind it.

Each failure and melt is an ``overload`` event (element, loading, hot spot). The figures are
representative of distribution transformers (ONAN, 65 °C rise), not a manufacturer's own.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import ndtr

from twin.grid.schema import SwitchKind
from twin.world.events import EventKind
from twin.world.physics import Fault

__all__ = ["OverloadParameters", "Overloads", "aging_acceleration", "hot_spot_c", "top_oil_rise_c"]


@dataclass(frozen=True)
class OverloadParameters:
    """Thermal and failure figures (see the module docstring)."""

    rise_oil_c: float = 55.0  # top-oil rise over ambient at rated load
    rise_hot_spot_c: float = 25.0  # hot spot over top oil at rated load
    loss_ratio: float = 4.0  # load losses at rated load over no-load losses (R)
    n: float = 0.8  # oil exponent (ONAN)
    m: float = 0.8  # winding exponent
    tau_oil_s: float = 3.0 * 3600.0
    ambient_c: float = 30.0  # where the world has no temperature
    base_per_h: float = 0.005 / 8760.0  # failures per unit-hour at normal aging (0.5 % a year)
    critical_c: float = 180.0
    spread_c: float = 15.0
    critical_per_h: float = 0.5


def top_oil_rise_c(k: np.ndarray, p: OverloadParameters) -> np.ndarray:
    """Ultimate top-oil rise (°C) at load ``k`` (per unit of rating)."""
    r = p.loss_ratio
    return p.rise_oil_c * ((k * k * r + 1.0) / (r + 1.0)) ** p.n


def hot_spot_c(ambient_c: float, oil_rise_c: np.ndarray, k: np.ndarray, p: OverloadParameters) -> np.ndarray:
    """Winding hot-spot temperature (°C)."""
    return ambient_c + oil_rise_c + p.rise_hot_spot_c * np.abs(k) ** (2.0 * p.m)


def aging_acceleration(hot_spot: np.ndarray) -> np.ndarray:
    """IEEE C57.91 aging acceleration factor (1 at a 110 °C hot spot)."""
    return np.exp(15000.0 / 383.0 - 15000.0 / (np.asarray(hot_spot) + 273.0))


class Overloads:
    """Transformers' thermal state and fuses' melting under load, from the world's solves."""

    def __init__(self, world, params: OverloadParameters = OverloadParameters()) -> None:
        from twin.grid.tcc import FuseSettings, min_operating_a, settings_from_switch

        self.world, self.params = world, params
        self.rng = world.streams("overloads")
        net = world.grid.net
        tr, line, sw = net.transformer, net.line, net.switch
        regulating = set(net.regulator["transformer"].tolist()) if len(net.regulator) else set()
        feeding = {str(b): str(i) for i, b in zip(line.ids, line["to_bus"])}
        primary = np.asarray(tr["bus"], object)[:, 0] if len(tr) else np.zeros(0, object)
        self.tr_rows = np.array([k for k in range(len(tr)) if tr.ids[k] not in regulating
                                 and str(primary[k]) in feeding], np.int64)
        self.tr_line = np.array([feeding[str(primary[k])] for k in self.tr_rows], object)
        self.rating_va = np.asarray(tr["s_rated_va"], float)[self.tr_rows, 0] if len(tr) else np.zeros(0)
        self.oil_rise = np.zeros(len(self.tr_rows))
        self.loading = np.zeros(len(self.tr_rows))  # per unit, since the last solve
        self.hot_spot = np.full(len(self.tr_rows), params.ambient_c)
        self.failed = np.zeros(len(self.tr_rows), bool)
        fuses, settings = [], []
        for k in np.flatnonzero(np.asarray(sw["kind"]) == int(SwitchKind.fuse)):
            try:
                s = settings_from_switch(int(sw["kind"][k]), sw["curve"][k], float(sw["rated_a"][k]))
            except ValueError:
                continue
            if isinstance(s, FuseSettings):
                fuses.append(int(k))
                settings.append(s)
        self.fuse_rows, self.fuse_settings = np.array(fuses, np.int64), settings
        self.fuse_min_a = np.array([min_operating_a(f) for f in settings], float)  # melts above this
        starting = {}
        for i, b in zip(line.ids, line["from_bus"]):
            starting.setdefault(str(b), str(i))
        self.fuse_line = [starting.get(str(sw["to_bus"][k]), "") for k in fuses]  # where a crew goes to look
        self.fuse_melt_at = np.full(len(fuses), np.nan)  # when a fuse carrying overload current melts
        self._last_s = world.now
        world.events.subscribe(self._on_event)

    def _ambient(self, t_s: float) -> float:
        lm = self.world.load_model
        t = getattr(lm, "temperature", None)
        return float(t.at(t_s)) if t is not None else self.params.ambient_c

    def _on_event(self, event) -> None:
        if event.kind == EventKind.solve and event.data.get("converged"):
            self._after_solve(event.time_s)

    def _after_solve(self, now: float) -> None:
        p, world = self.params, self.world
        r = world.last_result
        dt = max(0.0, now - self._last_s)
        self._last_s = now
        # the interval just past, at the loading it had
        ultimate = top_oil_rise_c(self.loading, p)
        self.oil_rise = ultimate + (self.oil_rise - ultimate) * np.exp(-dt / p.tau_oil_s)
        ambient = self._ambient(now)
        self.hot_spot = hot_spot_c(ambient, self.oil_rise, self.loading, p)
        rate = p.base_per_h * aging_acceleration(self.hot_spot) + \
            p.critical_per_h * ndtr((self.hot_spot - p.critical_c) / p.spread_c)
        fail = (self.rng.random(len(rate)) < -np.expm1(-rate * dt / 3600.0)) & ~self.failed & (self.loading > 0)
        for j in np.flatnonzero(fail).tolist():
            self.failed[j] = True
            tr = str(world.grid.net.transformer.ids[self.tr_rows[j]])
            world.events.publish(now, EventKind.overload, element=f"transformer.{tr}",
                                 loading_pu=round(float(self.loading[j]), 4), hot_spot_c=round(float(self.hot_spot[j]), 2))
            world.inject(Fault(str(self.tr_line[j]), permanent=True, location=1.0, cause="equipment"))
        # the interval to come, at the loading of now
        _, va = r.terminal_flows("transformer")
        self.loading = np.nan_to_num(va[self.tr_rows]) / self.rating_va
        self._fuses(r, now)

    def _fuses(self, r, now: float) -> None:
        """Fuses carrying more than their minimum melting current start melting; those whose load
        fell below it, or that opened, stop."""
        from twin.grid.tcc import fuse_max_melt_s, fuse_min_melt_s

        if not len(self.fuse_rows):
            return
        amps, _ = r.terminal_flows("switch")
        i = np.nan_to_num(amps[self.fuse_rows])
        hot = (i >= self.fuse_min_a) & ~self.world.grid.switch_open[self.fuse_rows]
        self.fuse_melt_at[~hot] = np.nan
        for j in np.flatnonzero(hot & np.isnan(self.fuse_melt_at)).tolist():
            s = self.fuse_settings[j]
            melt_s = float(np.sqrt(fuse_min_melt_s(s, i[j]) * fuse_max_melt_s(s, i[j])))
            if np.isfinite(melt_s):
                self.fuse_melt_at[j] = now + melt_s
                self.world.env.process(self._melt(j, now + melt_s, float(i[j])))

    def _melt(self, j: int, at_s: float, amps: float):
        env = self.world.env
        yield env.timeout(max(0.0, at_s - env.now))
        if self.fuse_melt_at[j] != at_s:  # the load fell below melting (or the fuse opened) first
            return
        self.fuse_melt_at[j] = np.nan
        device = str(self.world.grid.net.switch.ids[self.fuse_rows[j]])
        self.world.events.publish(env.now, EventKind.overload, element=f"switch.{device}", amps=round(amps, 3))
        self.world.grid.operate(env.now, device, open_=True, why="melted under load", line=self.fuse_line[j])
