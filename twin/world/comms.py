"""Communication sites: the cellular sites and AMI collectors the world's devices and meters talk
through, and how a storm takes them out.

Field RTUs (reclosers, switches, capacitor and regulator controllers) and communicating fault
indicators reach SCADA over a cellular modem through the nearest *cellular site*; meters reach the
head-end through an *AMI collector* (the RF mesh's take-out point): the nearest one while it is up,
else, as a self-healing mesh re-routes, any of the next nearest within reach
(:attr:`CommsParameters.collectors_per_meter`, :attr:`CommsParameters.mesh_reach_m`), so a meter is
dark only when every take-out point it can reach is down. Substation RTUs are on the utility's own hardened,
generator-backed network and are not failed here (a scenario can still script it). The sites
stand on a square grid over the territory (:attr:`CommsParameters.cell_spacing_m`,
:attr:`CommsParameters.collector_spacing_m`), each fed from the distribution network at its
nearest customer's service.

A site goes down, and everything behind it goes stale (:meth:`twin.field_devices.devices.FieldDevices.set_comms`,
:meth:`twin.meters.fleet.MeterFleet.set_comms`), when

* **the storm damages it**: towers and poles fail through a lognormal fragility on the highest
  gust (and radial ice) the site has seen; as that peak grows from ``g0`` to ``g1`` the site fails
  with the conditional probability ``(F(g1) - F(g0)) / (1 - F(g0))``, so the chance of surviving
  the storm depends on its peak only, not on how often it is sampled. A damaged site is repaired
  after a lognormal time (median :attr:`CommsParameters.repair_median_h`);
* **its power is out longer than its battery**: a site whose feed loses power runs on batteries
  for a drawn time (:attr:`CommsParameters.cell_battery_h`, :attr:`CommsParameters.collector_battery_h`),
  then stops until its feed has power again (and it has rebooted).

Each change is a ``comms`` event (site, medium, up, why). Figures are representative, not a
carrier's or a vendor's own. Every draw comes from ``world.streams("comms_sites")``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.spatial import cKDTree
from scipy.special import ndtr

from twin.world.events import EventKind
from twin.world.weather import Storm, hazard, territory_bounds

__all__ = ["CommsParameters", "CommsSites"]

CELL, COLLECTOR = 0, 1
KIND_NAMES = ("cellular", "collector")


@dataclass(frozen=True)
class CommsParameters:
    """How the communication sites stand and fail (see the module docstring)."""

    cell_spacing_m: float = 4000.0  # suburban cellular sites
    collector_spacing_m: float = 1500.0  # AMI collectors on poles
    collectors_per_meter: int = 3  # take-out points a meter's mesh can route to (the nearest first)
    mesh_reach_m: float = 2500.0  # beyond this (over the mesh's hops) a collector is out of a meter's reach
    gust_median_ms: tuple[float, float] = (55.0, 45.0)  # fragility median per kind: towers, pole-top collectors
    ice_median_mm: tuple[float, float] = (40.0, 30.0)
    beta: float = 0.3  # lognormal dispersion of the fragilities
    cell_battery_h: tuple[float, float] = (2.0, 8.0)  # uniform range of battery life on loss of power
    collector_battery_h: tuple[float, float] = (4.0, 12.0)
    reboot_s: float = 300.0  # after power is back
    repair_median_h: float = 18.0  # a storm-damaged site
    repair_sigma: float = 0.6
    step_s: float = 300.0  # the storm's hazard is sampled this often at the sites


class CommsSites:
    """The territory's communication sites and what each serves; attaches to the world.

    ``devices``: a :class:`~twin.field_devices.devices.FieldDevices` (its field RTUs hang on
    cellular sites), ``fleet``: a :class:`~twin.meters.fleet.MeterFleet` (meters on collectors),
    ``indicators``: a :class:`~twin.field_devices.indicators.FaultIndicators` (its communicating
    indicators on cellular sites),
    ``storm``: the storm whose hazard damages sites (None: blue sky, only power can fail them)."""

    def __init__(self, world, *, devices=None, fleet=None, indicators=None, storm: Storm | None = None,
                 params: CommsParameters = CommsParameters()) -> None:
        self.world, self.devices, self.fleet, self.storm, self.params = world, devices, fleet, storm, params
        self.indicators = indicators
        self.rng = world.streams("comms_sites")
        net = world.grid.net
        x0, y0, x1, y1 = territory_bounds(net)
        xs, ys, kinds = [], [], []
        for kind, spacing in ((CELL, params.cell_spacing_m), (COLLECTOR, params.collector_spacing_m)):
            gx = np.arange(x0 + spacing / 2, max(x1, x0 + spacing / 2) + 1e-9, spacing)
            gy = np.arange(y0 + spacing / 2, max(y1, y0 + spacing / 2) + 1e-9, spacing)
            X, Y = np.meshgrid(gx, gy)
            xs.append(X.ravel())
            ys.append(Y.ravel())
            kinds.append(np.full(X.size, kind, np.int8))
        self.x, self.y, self.kind = np.concatenate(xs), np.concatenate(ys), np.concatenate(kinds)
        n = len(self.x)
        self.ids = np.array([f"{KIND_NAMES[k][:4].upper()}-{j:04d}" for j, k in enumerate(self.kind)], object)
        sp_bus = net.bus.index(net.service_point["bus"]) if len(net.service_point) else np.zeros(0, np.int64)
        sp_xy = np.stack([net.bus["x"][sp_bus], net.bus["y"][sp_bus]], axis=1)
        ok = np.isfinite(sp_xy).all(axis=1)
        feeds = np.flatnonzero(ok)
        self.feed = (feeds[cKDTree(sp_xy[ok]).query(np.stack([self.x, self.y], axis=1))[1]] if len(feeds)
                     else np.full(n, -1, np.int64))  # the service point each site is fed from
        self.damaged = np.zeros(n, bool)
        self.on_battery_since = np.full(n, np.nan)
        self.battery_s = np.where(self.kind == CELL, self.rng.uniform(*params.cell_battery_h, n),
                                  self.rng.uniform(*params.collector_battery_h, n)) * 3600.0
        self.drained = np.zeros(n, bool)
        self.peak_gust = np.zeros(n)
        self.peak_ice = np.zeros(n)
        self.failures = 0
        self._served()
        world.grid.listeners.append(self._on_power)
        if storm is not None:
            world.env.process(self._weather())

    # -- who is served by which site ----------------------------------------------------------

    def _served(self) -> None:
        """Each field RTU on its nearest cellular site, each meter on its nearest collector."""
        net = self.world.grid.net
        cells = np.flatnonzero(self.kind == CELL)
        collectors = np.flatnonzero(self.kind == COLLECTOR)
        self.rtu_site = np.zeros(0, np.int64)
        if self.devices is not None and len(self.devices.rtu_names):
            d = self.devices
            field = np.array([not str(name).startswith("substation:") for name in d.rtu_names], bool)
            xy = np.stack([d.rtu_x, d.rtu_y], axis=1)
            site = cells[cKDTree(np.stack([self.x[cells], self.y[cells]], axis=1)).query(xy)[1]]
            self.rtu_site = np.where(field & np.isfinite(xy).all(axis=1), site, -1)
        self.fci_site = np.zeros(0, np.int64)
        if self.indicators is not None and len(self.indicators.ids):
            fci = self.indicators
            xy = np.stack([fci.x, fci.y], axis=1)
            site = cells[cKDTree(np.stack([self.x[cells], self.y[cells]], axis=1)).query(np.nan_to_num(xy))[1]]
            self.fci_site = np.where(fci.remote & np.isfinite(xy).all(axis=1), site, -1)
        self.meter_sites = np.zeros((0, 1), np.int64)
        if self.fleet is not None and len(net.service_point) and len(collectors):
            b = net.bus.index(net.service_point["bus"])
            xy = np.stack([net.bus["x"][b], net.bus["y"][b]], axis=1)
            xy = np.where(np.isfinite(xy), xy, 0.0)
            k = max(1, min(self.params.collectors_per_meter, len(collectors)))
            dist, near = cKDTree(np.stack([self.x[collectors], self.y[collectors]], axis=1)).query(xy, k=k)
            dist, near = dist.reshape(len(xy), k), near.reshape(len(xy), k)
            sites = collectors[near]
            sites[:, 1:][dist[:, 1:] > self.params.mesh_reach_m] = -1  # the nearest is always in reach
            self.meter_sites = sites

    @property
    def up(self) -> np.ndarray:
        """Whether each site carries traffic now."""
        return ~self.damaged & ~self.drained

    # -- failures -----------------------------------------------------------------------------

    def _weather(self):
        """Sample the storm's hazard at the sites; the damage the growing peaks bring."""
        env, p, storm = self.world.env, self.params, self.storm
        yield env.timeout(max(0.0, storm.start_s - env.now))
        while env.now <= storm.end_s:
            h = hazard(storm, self.x, self.y, env.now)
            g1, t1 = np.maximum(self.peak_gust, h.gust_ms), np.maximum(self.peak_ice, h.ice_mm)
            f0, f1 = self._fragility(self.peak_gust, self.peak_ice), self._fragility(g1, t1)
            self.peak_gust, self.peak_ice = g1, t1
            p_fail = np.where(f1 > f0, (f1 - f0) / np.maximum(1.0 - f0, 1e-12), 0.0)
            hit = np.flatnonzero((self.rng.random(len(self.x)) < p_fail) & ~self.damaged)
            if len(hit):
                self._change(hit, down=True, why="storm damage")
                self.damaged[hit] = True
                for k in hit.tolist():
                    env.process(self._repair(k))
            yield env.timeout(p.step_s)

    def _fragility(self, gust: np.ndarray, ice: np.ndarray) -> np.ndarray:
        g_med = np.asarray(self.params.gust_median_ms)[self.kind]
        i_med = np.asarray(self.params.ice_median_mm)[self.kind]
        load = np.hypot(gust / g_med, ice / i_med)
        with np.errstate(divide="ignore"):
            return ndtr(np.log(load) / self.params.beta)

    def _repair(self, k: int):
        p = self.params
        yield self.world.env.timeout(float(self.rng.lognormal(np.log(p.repair_median_h * 3600.0), p.repair_sigma)))
        self.damaged[k] = False
        if not self.drained[k]:
            self._change(np.array([k]), down=False, why="repaired")

    def _on_power(self, now_s: float, lost: np.ndarray, back: np.ndarray) -> None:
        """A grid listener: sites whose feed lost power go on battery; those whose feed is back
        come up again after their reboot."""
        env = self.world.env
        if len(lost):
            for k in np.flatnonzero(np.isin(self.feed, lost) & np.isnan(self.on_battery_since)).tolist():
                self.on_battery_since[k] = now_s
                env.process(self._battery(k, now_s))
        if len(back):
            for k in np.flatnonzero(np.isin(self.feed, back) & ~np.isnan(self.on_battery_since)).tolist():
                self.on_battery_since[k] = np.nan
                if self.drained[k]:
                    env.process(self._reboot(k))

    def _battery(self, k: int, since: float):
        yield self.world.env.timeout(float(self.battery_s[k]))
        if self.on_battery_since[k] == since and not self.drained[k]:  # still without power: the battery is flat
            self.drained[k] = True
            if not self.damaged[k]:
                self._change(np.array([k]), down=True, why="battery exhausted")

    def _reboot(self, k: int):
        yield self.world.env.timeout(self.params.reboot_s)
        if np.isnan(self.on_battery_since[k]) and self.drained[k]:
            self.drained[k] = False
            if not self.damaged[k]:
                self._change(np.array([k]), down=False, why="power restored")

    # -- effects ------------------------------------------------------------------------------

    def _change(self, sites: np.ndarray, *, down: bool, why: str) -> None:
        """Sites going down (or up): publish, and make what they serve unreachable (or reachable)."""
        now = self.world.now
        if down:
            self.failures += len(sites)
        for k in sites.tolist():
            self.world.events.publish(now, EventKind.comms, site=str(self.ids[k]), medium=KIND_NAMES[int(self.kind[k])],
                                      up=not down, why=why)
        if self.devices is not None and len(self.rtu_site):
            rtus = np.flatnonzero(np.isin(self.rtu_site, sites))
            if len(rtus):
                names = self.devices.ids[np.isin(self.devices.rtu, rtus)]
                self.devices.set_comms(names.tolist(), up=not down, now=now)
        if self.indicators is not None and len(self.fci_site):
            rows = np.flatnonzero(np.isin(self.fci_site, sites))
            if len(rows):
                self.indicators.set_comms(self.indicators.ids[rows].tolist(), up=not down, now=now)
        if self.fleet is not None and len(self.meter_sites):
            rows = np.flatnonzero(np.isin(self.meter_sites, sites).any(axis=1))
            if len(rows):
                up = self.up
                up[sites] = not down  # (the caller marks the sites' own state after this)
                routes = self.meter_sites[rows]
                routed = ((routes >= 0) & up[np.maximum(routes, 0)]).any(axis=1)
                changed = routed != self.fleet.reachable[rows]
                if changed.any():
                    self.fleet.set_comms(rows[changed], up=not down)
