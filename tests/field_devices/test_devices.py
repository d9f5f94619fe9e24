"""Virtual field devices on the fused-lateral territory: status that follows the grid's truth after
faults, a recloser's lockout and its reset by a SCADA close, analogs from the last power flow,
refused controls, communications that fail and come back, and a SCADA trip that puts customers out."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tests.world.lateral import fused_lateral
from twin.field_devices.devices import ControlRefused, FieldDevices, Point, Quality, Refusal
from twin.world.environment import World
from twin.world.events import EventKind
from twin.world.physics import Fault

BREAKER = "S01-F1-BKR"
LOCAL_SWITCH = "S01-F1-SW1"  # a load-break switch without SCADA
TRUNK = "S01-F1-L0013"  # a trunk segment below the recloser, no fuse between


def _scene(seed: int = 1) -> tuple[World, FieldDevices, str, str, str, object]:
    net, topo, fuse, recloser, line = fused_lateral()
    world = World(net, seed=seed)
    return world, FieldDevices(world), fuse, recloser, line, topo


def _value(devices: FieldDevices, device: str, name: str):
    return devices.point(device, name).value


def test_every_device_of_the_model_is_there_with_its_points():
    world, devices, fuse, recloser, _, _ = _scene()
    net = world.grid.net
    assert len(devices.ids) == len(net.switch) + len(net.capacitor) + len(net.regulator)
    names = {p.name for p in devices.points_of(recloser)}
    assert names == {"status", "lockout", "fault", "i_amps", "v_volts", "p_kw", "q_kvar", "remote"}
    assert {p.name for p in devices.points_of(fuse)} == {"status", "fault", "i_amps", "v_volts", "p_kw", "q_kvar",
                                                         "remote"}
    assert all(isinstance(p, Point) for p in devices.read())
    regulator = str(net.regulator.ids[0])
    assert _value(devices, regulator, "status") == 0  # the tap, at neutral
    assert _value(devices, str(net.capacitor.ids[0]), "status") == "closed"
    assert _value(devices, recloser, "remote") is True and _value(devices, fuse, "remote") is False


def test_status_follows_the_grid_after_a_permanent_fault_the_fuse_open():
    world, devices, fuse, recloser, line, _ = _scene()
    world.inject(Fault(line, permanent=True), at_s=60.0)
    world.run_to(3600.0)
    status = devices.point(fuse, "status")
    assert status.value == "open" and status.quality == Quality.manual  # no RTU: read at the device
    assert _value(devices, fuse, "fault") is True
    assert _value(devices, recloser, "status") == "closed" and _value(devices, recloser, "lockout") is False
    assert _value(devices, recloser, "fault") is True  # it tripped on the fast shot: carried fault current
    assert _value(devices, BREAKER, "fault") is False


def test_status_follows_the_grid_after_a_temporary_fault_the_recloser_closed_again():
    world, devices, fuse, recloser, line, _ = _scene()
    world.inject(Fault(line, permanent=False), at_s=60.0)
    world.run_to(61.0)  # the fast trip and the reclose are over
    assert [e.data["action"] for e in world.events.of(EventKind.protection)][:2] == ["trip", "reclose"]
    assert devices.point(recloser, "status") == Point(recloser, "status", "closed", Quality.good, 61.0)
    assert _value(devices, fuse, "status") == "closed" and _value(devices, fuse, "fault") is False
    assert _value(devices, recloser, "lockout") is False


def test_a_lockout_is_set_by_the_sequence_and_cleared_by_a_scada_close():
    world, devices, _, recloser, _, _ = _scene()
    world.inject(Fault(TRUNK, permanent=True), at_s=60.0)
    world.run_to(600.0)
    ops = [(e.data["device"], e.data["action"]) for e in world.events.of(EventKind.protection)]
    assert (recloser, "lockout") in ops
    assert _value(devices, recloser, "lockout") is True and _value(devices, recloser, "status") == "open"
    devices.operate(recloser, "close")
    assert _value(devices, recloser, "lockout") is False and _value(devices, recloser, "status") == "closed"
    assert not world.grid.switch_open[world.grid.net.switch.position(recloser)]
    switch = world.events.of(EventKind.switch)[-1]
    assert (switch.time_s, switch.data) == (600.0, {"device": recloser, "action": "close", "closed": True,
                                                    "by": "scada"})


def test_analogs_are_nan_before_any_solve_and_the_feeders_load_after():
    world, devices, *_ = _scene()
    before = devices.point(BREAKER, "i_amps")
    assert all(math.isnan(a) for a in before.value) and math.isnan(before.time_s)
    assert before.quality == Quality.stale
    world.env.process(world.resolve())
    world.run_to(120.0)
    solved = world.events.of(EventKind.solve)[-1]
    current = devices.point(BREAKER, "i_amps")
    assert current.quality == Quality.good and current.time_s == solved.time_s
    assert all(a > 0 for a in current.value)
    result = world.last_result
    rows = result.branches[(result.branches["element"] == f"switch.{BREAKER}") & (result.branches["terminal"] == 1)]
    assert sorted(current.value) == pytest.approx(sorted(rows["i_amps"]))
    p_kw = _value(devices, BREAKER, "p_kw")
    assert p_kw == pytest.approx(rows["p_kw"].sum()) and p_kw > 0
    v = _value(devices, BREAKER, "v_volts")
    assert all(6000.0 < x < 8500.0 for x in v)  # 12.47 kV line-to-line: about 7.2 kV to ground


@pytest.mark.parametrize("device, reason", [
    ("fuse", Refusal.no_remote_control),
    (LOCAL_SWITCH, Refusal.not_remote),
    ("S01-F1-C1", Refusal.not_switching),
    ("nowhere", Refusal.unknown_device),
])
def test_a_control_the_device_cannot_take_is_refused(device, reason):
    world, devices, fuse, *_ = _scene()
    device = fuse if device == "fuse" else device
    before = world.grid.switch_open.copy()
    with pytest.raises(ControlRefused) as refused:
        devices.operate(device, "trip")
    assert (refused.value.device, refused.value.action, refused.value.reason) == (device, "trip", reason)
    assert np.array_equal(world.grid.switch_open, before) and not world.events.of(EventKind.switch)
    with pytest.raises(ControlRefused) as bad:
        devices.operate(BREAKER, "explode")
    assert bad.value.reason == Refusal.unknown_action


def test_comms_down_freezes_the_points_and_comms_up_makes_them_good_again():
    world, devices, _, recloser, _, _ = _scene()
    world.run_to(30.0)
    assert list(devices.set_comms([recloser], False)) != []
    assert not devices.reachable([recloser])[0] and devices.reachable([BREAKER])[0]
    world.inject(Fault(TRUNK, permanent=True), at_s=60.0)
    world.run_to(600.0)
    frozen = {p.name: p for p in devices.points_of(recloser)}
    assert {p.quality for p in frozen.values()} == {Quality.comms_failed}
    assert frozen["status"] == Point(recloser, "status", "closed", Quality.comms_failed, 30.0)  # the last report
    assert frozen["lockout"].value is False and all(math.isnan(a) for a in frozen["i_amps"].value)
    with pytest.raises(ControlRefused) as refused:
        devices.operate(recloser, "close")
    assert refused.value.reason == Refusal.unreachable
    devices.set_comms([recloser], True)
    back = {p.name: p for p in devices.points_of(recloser)}
    assert back["status"] == Point(recloser, "status", "open", Quality.good, 600.0)
    assert back["lockout"].value is True
    assert back["i_amps"].quality == Quality.good
    assert back["i_amps"].time_s == world.events.of(EventKind.solve)[-1].time_s


def test_an_area_takes_down_the_rtus_within_it_a_substation_rtu_all_its_breakers():
    world, devices, *_ = _scene()
    net = world.grid.net
    b = net.bus.position(str(net.switch["from_bus"][net.switch.position(BREAKER)]))
    down = devices.set_comms((float(net.bus["x"][b]), float(net.bus["y"][b]), 1.0), False)
    assert [devices.rtu_names[r] for r in down] == [f"substation:{net.bus.ids[b]}"]
    breakers = [str(d) for d, k in zip(net.switch.ids, net.switch["kind"]) if k == 0]
    assert len(breakers) == 2 and not devices.reachable(breakers).any()
    assert {p.quality for p in devices.read(breakers)} == {Quality.comms_failed}


def test_a_scada_trip_of_a_breaker_puts_its_customers_out():
    world, devices, _, _, _, topo = _scene()
    world.run_to(10.0)
    devices.operate(BREAKER, "trip")
    below = topo.customers_downstream(f"switch.{BREAKER}")
    assert len(below) and set(world.customers_out().tolist()) == set(below.tolist())
    assert _value(devices, BREAKER, "status") == "open"
    assert [e.kind for e in world.events.events] == [EventKind.outage, EventKind.switch]
    assert world.events.events[-1].data["by"] == "scada"
    world.run_to(200.0)  # the re-solve: the breaker is open and carries nothing
    assert _value(devices, BREAKER, "p_kw") == 0.0 and devices.point(BREAKER, "p_kw").quality == Quality.good


def test_a_scada_close_into_a_standing_fault_trips_again():
    world, devices, _, recloser, _, _ = _scene()
    world.inject(Fault(TRUNK, permanent=True), at_s=60.0)
    world.run_to(600.0)
    devices.operate(recloser, "close")  # the fault still stands: the recloser goes through its sequence again
    world.run_to(1200.0)
    faults = world.events.of(EventKind.fault)
    assert [f.data["restrike"] for f in faults] == [False, True]
    after = [e.data["action"] for e in world.events.of(EventKind.protection) if e.time_s >= 600.0]
    assert after and after[-1] == "lockout" and _value(devices, recloser, "lockout") is True
    assert world.grid.switch_open[world.grid.net.switch.position(recloser)]
