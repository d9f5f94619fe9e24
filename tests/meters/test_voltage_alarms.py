"""Low-voltage (brown-out) alarms against the power flow's voltages.

A winter evening on a small territory whose brown-out threshold is set inside its voltage range
(the loads' evening peak pulls the far ends below it, the night lifts them back): every solve's
voltages are recorded, and a plain per-meter replay of the documented rule (below the threshold
for the persistence time with power, back above threshold plus hysteresis) gives the messages the
head-end must receive, each at its time. A lateral whose meters are among the lowest is out
through part of the evening: none of them sends a low-voltage alarm while out."""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pytest

from twin.grid.topology import build_topology
from twin.meters import MeterFleet, MeterParameters
from twin.meters.fleet import LAST_GASP, LOW_VOLTAGE, VOLTAGE_NORMAL
from twin.world.environment import World
from twin.world.events import EventKind
from twin.world.loads import LoadModel
from twin.world.territory import generate_territory

START = datetime(2026, 1, 15, 16, 0)
THRESHOLD, HYSTERESIS, PERSIST = 0.998, 0.002, 300.0
SURE = dict(p_exception=1.0, p_last_gasp=1.0, p_restore=1.0)
END_S = 11 * 3600.0


def _lowest_fuse(net):
    """The fuse above the meter with the lowest voltage of the evening's peak, and its customers."""
    world = World(net, seed=1, start=START)
    fleet = MeterFleet(world)
    LoadModel(world)
    world.run_to(3 * 3600.0 + 61.0)
    topo = build_topology(net)
    worst = int(np.argmin(fleet._voltages()))
    fuse = topo.upstream_protective(f"bus.{net.service_point['bus'][worst]}")
    assert "-FU" in fuse
    return fuse, np.sort(topo.customers_downstream(f"switch.{fuse}"))


def _evening(*, seed: int = 1, threshold: float = THRESHOLD, net=None):
    net = generate_territory(800, seed=5) if net is None else net
    fuse, below = _lowest_fuse(net)
    world = World(net, seed=seed, start=START)
    fleet = MeterFleet(world, params=MeterParameters(low_voltage_pu=threshold, low_voltage_hysteresis_pu=HYSTERESIS,
                                                     low_voltage_persist_s=PERSIST, **SURE))
    LoadModel(world)
    timeline = []  # ('solve', t, v, energised) and ('lost', t, rows)
    world.events.subscribe(lambda e: timeline.append(("solve", e.time_s, fleet._voltages().copy(),
                                                      world.grid.energised_customers.copy()))
                           if e.kind == EventKind.solve else None)
    world.grid.listeners.append(lambda t, lost, back: timeline.append(("lost", t, lost.copy())) if len(lost) else None)

    def script():
        yield world.env.timeout(2.5 * 3600.0 + 7.0)  # 18:30:07, the evening's rise
        world.grid.operate(world.now, fuse, open_=True, why="test")
        yield world.env.timeout(2 * 3600.0)
        world.grid.operate(world.now, fuse, open_=False, why="test")

    world.env.process(script())
    world.run_to(END_S)
    return world, fleet, below, timeline


def _replay(timeline, n):
    """The rule, meter by meter: (time, meter) of the low-voltage alarms and of the voltage-normals."""
    lows, normals = set(), set()
    for i in range(n):
        clock, alarmed = np.nan, False
        for entry in timeline:
            t = entry[1]
            if not np.isnan(clock) and clock + PERSIST < t:
                lows.add((clock + PERSIST, i))
                clock, alarmed = np.nan, True
            if entry[0] == "lost":
                if i in entry[2]:
                    clock, alarmed = np.nan, False
                continue
            v, on = entry[2][i], entry[3][i]
            if on and not v > 0.0:
                continue  # no solution for it: nothing changes
            if not on:
                clock = np.nan
            elif v < THRESHOLD:
                if not alarmed and np.isnan(clock):
                    clock = t
            else:
                clock = np.nan
                if alarmed and v >= THRESHOLD + HYSTERESIS:
                    normals.add((t, i))
                    alarmed = False
        if not np.isnan(clock) and clock + PERSIST < END_S:
            lows.add((clock + PERSIST, i))
    return lows, normals


@pytest.fixture(scope="module")
def evening():
    return _evening()


def test_low_voltage_alarms_follow_the_rule_over_the_power_flows_voltages(evening):
    world, fleet, below, timeline = evening
    n = len(world.grid.net.service_point)
    lows, normals = _replay(timeline, n)
    got = fleet.received()
    drained = got.time_s < END_S - 120.0  # the head-end has delivered everything sent before
    sent_before = lambda at: at < END_S - 180.0  # noqa: E731
    low = got.kind == LOW_VOLTAGE
    assert {(t, i) for t, i in lows if sent_before(t)} == \
        {(float(t), int(i)) for t, i in zip(got.at_s[low & drained], got.service_point[low & drained])}
    normal = got.kind == VOLTAGE_NORMAL
    assert {(t, i) for t, i in normals if sent_before(t)} == \
        {(float(t), int(i)) for t, i in zip(got.at_s[normal & drained], got.service_point[normal & drained])}
    assert 0.1 * n < len({i for _, i in lows}) < 0.9 * n and len(normals) > 0.1 * n  # a real scene
    assert np.all(got.time_s[low | normal] >= got.at_s[low | normal] + fleet.params.mesh_delay_min_s)
    events = world.events.of(EventKind.low_voltage)
    assert len(events) == int(np.count_nonzero(low)) and {e.data["service_point"] for e in events} <= set(range(n))


def test_no_low_voltage_alarm_from_a_meter_without_power(evening):
    world, fleet, below, timeline = evening
    got = fleet.received()
    opened, closed = 2.5 * 3600.0 + 7.0, 4.5 * 3600.0 + 7.0
    low = got.kind == LOW_VOLTAGE
    theirs = low & np.isin(got.service_point, below)
    assert not np.any(theirs & (got.at_s >= opened) & (got.at_s < closed))
    assert np.array_equal(np.sort(got.service_point[(got.kind == LAST_GASP) & (got.at_s == opened)]), below)
    assert np.any(theirs & (got.at_s < opened)) and np.any(theirs & (got.at_s >= closed))  # low when lit


def test_a_threshold_below_every_voltage_raises_nothing_and_reshuffles_no_other_message(evening):
    world, fleet, below, _ = evening
    quiet_world, quiet, _, _ = _evening(threshold=0.5, net=world.grid.net)
    got, calm = fleet.received(), quiet.received()
    assert not np.isin(calm.kind, [LOW_VOLTAGE, VOLTAGE_NORMAL]).any()
    gasps = got.kind == LAST_GASP
    assert np.array_equal(got.arrival_s[gasps], calm.arrival_s[calm.kind == LAST_GASP])  # own stream: same draws


def test_the_same_seed_gives_the_same_messages(evening):
    world, fleet, *_ = evening
    again, fleet2, *_ = _evening(net=world.grid.net)
    assert [e.to_json() for e in world.events.events] == [e.to_json() for e in again.events.events]
    n = len(world.grid.net.service_point)
    a = fleet.mdm.registers(np.arange(n), 0.0, END_S)
    b = fleet2.mdm.registers(np.arange(n), 0.0, END_S)
    assert np.array_equal(a.kwh, b.kwh, equal_nan=True) and np.array_equal(a.v_pu, b.v_pu, equal_nan=True)
