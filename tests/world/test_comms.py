"""Communication sites: who hangs on which, storm damage through the fragility, batteries."""

import numpy as np
import pytest

from twin.field_devices.devices import FieldDevices, Quality
from twin.meters.fleet import MeterFleet
from twin.world.comms import CELL, COLLECTOR, CommsParameters, CommsSites
from twin.world.environment import World
from twin.world.events import EventKind
from twin.world.territory import generate_territory
from twin.world.weather import builtin_storm, territory_bounds


@pytest.fixture(scope="module")
def net():
    return generate_territory(3000, seed=7)


def _world(net, seed=1, storm=None, params=CommsParameters()):
    world = World(net, seed=seed, resolve=False)
    devices, fleet = FieldDevices(world), MeterFleet(world)
    return world, devices, fleet, CommsSites(world, devices=devices, fleet=fleet, storm=storm, params=params)


def test_field_rtus_hang_on_cellular_sites_and_meters_on_collectors(net):
    _, devices, _, sites = _world(net)
    substation = np.array([str(n).startswith("substation:") for n in devices.rtu_names])
    assert (sites.rtu_site[substation] == -1).all()  # the utility's own network
    assert (sites.kind[sites.rtu_site[~substation]] == CELL).all()
    assert len(sites.meter_sites) == len(net.service_point)
    routes = sites.meter_sites
    assert (routes[:, 0] >= 0).all() and (sites.kind[routes[routes >= 0]] == COLLECTOR).all()
    xy = np.stack([net.bus["x"][net.bus.index(net.service_point["bus"])],
                   net.bus["y"][net.bus.index(net.service_point["bus"])]], axis=1)
    d = np.hypot(sites.x[np.maximum(routes, 0)] - xy[:, :1], sites.y[np.maximum(routes, 0)] - xy[:, 1:])
    assert (np.diff(np.where(routes >= 0, d, np.inf), axis=1) >= 0).all()  # the nearest first
    assert (d[:, 1:][routes[:, 1:] >= 0] <= sites.params.mesh_reach_m).all()


def test_the_mesh_reroutes_around_a_collector_down_until_every_one_in_reach_is(net):
    world, _, fleet, sites = _world(net)
    routes = sites.meter_sites
    meter = int(np.flatnonzero((routes >= 0).all(axis=1))[0])
    others = np.flatnonzero(~np.isin(routes, routes[meter]).any(axis=1))  # on none of its collectors
    first, *rest = routes[meter].tolist()
    sites._change(np.array([first]), down=True, why="test")
    sites.damaged[first] = True
    assert fleet.reachable[meter]  # re-routed through the next nearest
    for k in rest:
        sites._change(np.array([k]), down=True, why="test")
        sites.damaged[k] = True
    assert not fleet.reachable[meter] and fleet.reachable[others].all()
    dark = np.flatnonzero(~fleet.reachable)
    assert np.isin(routes[dark], routes[meter]).any(axis=1).all()
    sites.damaged[rest[-1]] = False
    sites._change(np.array([rest[-1]]), down=False, why="test")
    assert fleet.reachable[meter]
    single = _world(net, params=CommsParameters(collectors_per_meter=1))[3]
    assert single.meter_sites.shape == (len(net.service_point), 1)


def test_storm_damage_follows_the_fragility_of_the_peak_not_the_sampling(net):
    storm = builtin_storm("hurricane", territory_bounds(net))
    dense = CommsParameters(collector_spacing_m=150.0, cell_spacing_m=400.0)
    shares = []
    for step_s in (120.0, 900.0):
        world, _, _, sites = _world(net, seed=3, storm=storm, params=CommsParameters(**{
            **dense.__dict__, "repair_median_h": 1e4, "step_s": step_s}))
        world.run_to(storm.end_s + 1.0)
        expected = sites._fragility(sites.peak_gust, sites.peak_ice)
        n = len(expected)
        sd = np.sqrt(np.sum(expected * (1 - expected)))
        assert abs(sites.damaged.sum() - expected.sum()) < 4 * sd + 1, step_s
        shares.append(sites.damaged.mean())
        down = [e for e in world.events.events if e.kind == EventKind.comms and not e.data["up"]]
        assert len(down) == sites.damaged.sum() == sites.failures
        assert n > 200
    assert 0.05 < shares[0] < 0.95


def test_a_site_without_power_runs_on_battery_then_stops_until_power_is_back(net):
    world, devices, fleet, sites = _world(net)
    has = devices.rtu >= 0
    rtu_devices = np.flatnonzero(has & (sites.rtu_site[np.where(has, devices.rtu, 0)] >= 0))
    cell = int(sites.rtu_site[devices.rtu[rtu_devices[0]]])
    feed_bus = str(net.service_point["bus"][sites.feed[cell]])
    topo = world.grid.normal_topology()
    breaker = next(ref.partition(".")[2] for ref in reversed(topo.path_to_source(f"bus.{feed_bus}"))
                   if ref.startswith("switch."))
    world.run_to(10.0)
    world.grid.operate(world.now, breaker, open_=True, why="test")
    battery = float(sites.battery_s[cell])
    world.run_to(10.0 + battery - 1.0)
    assert sites.up[cell]
    world.run_to(10.0 + battery + 1.0)
    assert not sites.up[cell]
    device = str(devices.ids[rtu_devices[0]])
    assert devices.point(device, "status").quality == Quality.comms_failed
    world.grid.operate(world.now, breaker, open_=False, why="test")
    world.run_to(world.now + sites.params.reboot_s + 1.0)
    assert sites.up[cell]
    assert devices.point(device, "status").quality == Quality.good
    whys = [e.data["why"] for e in world.events.events if e.kind == EventKind.comms and e.data["site"] == sites.ids[cell]]
    assert whys == ["battery exhausted", "power restored"]


def test_same_seed_same_comms_events(net):
    storm = builtin_storm("hurricane", territory_bounds(net))
    runs = []
    for _ in range(2):
        world, *_ = _world(net, seed=5, storm=storm)
        world.run_to(storm.end_s)
        runs.append([e.to_json() for e in world.events.events if e.kind == EventKind.comms])
    assert runs[0] == runs[1] and runs[0]


def test_communicating_fault_indicators_hang_on_cellular_sites(net):
    from twin.field_devices.indicators import FaultIndicators

    world = World(net, seed=1, resolve=False)
    fci = FaultIndicators(world)
    sites = CommsSites(world, indicators=fci)
    remote = np.flatnonzero(fci.remote)
    assert len(remote) and (sites.fci_site[~fci.remote] == -1).all()
    assert (sites.kind[sites.fci_site[remote]] == CELL).all()
    site = int(sites.fci_site[remote[0]])
    sites._change(np.array([site]), down=True, why="test")
    behind = np.flatnonzero(sites.fci_site == site)
    assert not fci.comms_up[behind].any() and fci.comms_up[np.setdiff1d(remote, behind)].all()
