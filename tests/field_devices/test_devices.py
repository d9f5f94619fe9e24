"""Virtual field devices on the fused-lateral territory: status that follows the grid's truth after
faults, a recloser's lockout and its reset by a SCADA close, analogs from the last power flow,
refused controls, communications that fail and come back, and a SCADA trip that puts customers out;
regulators and capacitor banks: their live taps, states, control voltages and modes, a SCADA raise
that the controller in auto takes back after its delay (and in manual does not), the end of the tap
range, a bank's discharge time, and the IEEE 13 feeder's line-drop compensated regulators."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tests.grid.feeders import FEEDERS_DIR, MASTERS, needs_feeders
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
    reclosed_s = [e.time_s for e in world.events.of(EventKind.protection) if e.data["device"] == recloser][-1]
    # stamped when the field saw it close, not when it was read
    assert devices.point(recloser, "status") == Point(recloser, "status", "closed", Quality.good, reclosed_s)
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
    world.run_to(80.0)  # the solve at 60 s, before the LTC's first step (its 30 s timer) makes the analogs stale
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
    locked_s = next(e.time_s for e in world.events.of(EventKind.protection)
                    if e.data["device"] == recloser and e.data["action"] == "lockout")
    assert back["status"] == Point(recloser, "status", "open", Quality.good, locked_s)  # the RTU's event time
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


# -- regulators and capacitor banks --------------------------------------------------------------

LTC = "S01-TR1"  # the substation transformer's tap changer
BANK = "S01-F1-C2"  # the switched bank, a voltage control
FIXED = "S01-F1-C1"


def _settled(seed: int = 1) -> tuple[World, FieldDevices]:
    """The scene with the LTC settled at peak load (tap 2 by 240 s)."""
    world, devices, *_ = _scene(seed)
    world.request_resolve()
    world.run_to(300.0)
    return world, devices


def test_regulator_and_bank_points_come_from_the_live_taps_and_states_and_the_controller():
    world, devices = _settled()
    assert {p.name for p in devices.points_of(LTC)} == {"status", "mode", "i_amps", "v_volts", "p_kw", "q_kvar",
                                                        "v_control_volts", "remote"}
    assert {p.name for p in devices.points_of(BANK)} == {"status", "mode", "v_volts", "q_kvar", "remote"}
    assert "mode" not in {p.name for p in devices.points_of(FIXED)}  # a fixed bank has no controller
    status, v_c = devices.point(LTC, "status"), devices.point(LTC, "v_control_volts")
    assert status.value == 2 == devices.controls.tap_position(0) and _value(devices, LTC, "mode") == "auto"
    assert v_c.value == devices.controls.v_control_v[0] and 123.0 <= v_c.value <= 125.0
    assert v_c.quality == Quality.good and v_c.time_s == world.events.of(EventKind.solve)[-1].time_s == 240.0
    assert devices.controls is world.controls  # the field devices attached the world's controllers
    c = world.grid.net.capacitor.position(BANK)
    world.grid.cap_closed[c] = False  # the truth, whoever changed it
    assert _value(devices, BANK, "status") == "open"


def test_a_scada_raise_is_taken_back_by_the_controller_in_auto_after_its_delay():
    world, devices = _settled()
    for _ in range(3):
        devices.operate(LTC, "raise")  # 125.5 V: out of the band (124 +- 1 V)
    assert _value(devices, LTC, "status") == 5
    assert devices.point(LTC, "v_control_volts").quality == Quality.stale  # awaiting the re-solve
    world.run_to(1800.0)
    taps = [(e.time_s, e.data["action"], e.data["tap"], e.data["by"]) for e in world.events.of(EventKind.tap)]
    assert taps[2:] == [(300.0, "raise", 3, "scada"), (300.0, "raise", 4, "scada"), (300.0, "raise", 5, "scada"),
                        (390.0, "lower", 4, "control")]  # the re-solve at 360 s, its 30 s delay
    assert _value(devices, LTC, "status") == 4


def test_in_manual_the_controller_leaves_a_scada_raise_alone():
    world, devices = _settled()
    devices.operate(LTC, "manual")
    assert _value(devices, LTC, "mode") == "manual"
    for _ in range(3):
        devices.operate(LTC, "raise")
    world.run_to(1800.0)
    assert [e.data["by"] for e in world.events.of(EventKind.tap)][2:] == ["scada"] * 3
    assert _value(devices, LTC, "status") == 5 and devices.point(LTC, "v_control_volts").value > 125.0
    mode = world.events.of(EventKind.control_mode)
    assert [(e.time_s, e.data) for e in mode] == [(300.0, {"device": LTC, "mode": "manual", "by": "scada"})]
    devices.operate(LTC, "lower")
    assert _value(devices, LTC, "status") == 4


def test_a_regulator_at_the_end_of_its_range_refuses_to_go_further():
    world, devices = _settled()
    devices.operate(LTC, "manual")
    while not devices.controls.at_limit(0, +1):
        devices.operate(LTC, "raise")
    assert _value(devices, LTC, "status") == 16
    before = len(world.events.events)
    with pytest.raises(ControlRefused) as refused:
        devices.operate(LTC, "raise")
    assert refused.value.reason == Refusal.at_limit and len(world.events.events) == before
    devices.operate(LTC, "lower")
    assert _value(devices, LTC, "status") == 15


def test_a_bank_opened_by_scada_must_discharge_before_it_closes_again():
    world, devices = _settled()
    devices.operate(BANK, "open")
    assert _value(devices, BANK, "status") == "open"
    opened = world.events.of(EventKind.capacitor)[-1]
    assert (opened.time_s, opened.data) == (300.0, {"device": BANK, "action": "open", "closed": False, "by": "scada"})
    world.run_to(400.0)
    with pytest.raises(ControlRefused) as refused:
        devices.operate(BANK, "close")
    assert refused.value.reason == Refusal.discharging
    world.run_to(600.0)  # 300 s after it opened (the voltage is inside 118-126 V: the controller leaves it)
    devices.operate(BANK, "close")
    assert _value(devices, BANK, "status") == "closed"
    world.run_to(700.0)  # the re-solve: the bank delivers its vars again
    assert devices.point(BANK, "q_kvar").value < 0 and devices.point(BANK, "q_kvar").quality == Quality.good


@pytest.mark.parametrize("device, action, reason", [
    (BREAKER, "raise", Refusal.not_applicable),
    (LTC, "trip", Refusal.not_switching),
    (LTC, "open", Refusal.not_switching),
    (BANK, "lower", Refusal.not_applicable),
    (BANK, "reset", Refusal.not_switching),
    (FIXED, "open", Refusal.not_remote),
])
def test_a_bank_or_regulator_control_the_device_does_not_take_is_refused(device, action, reason):
    world, devices = _settled()
    before = len(world.events.events)
    with pytest.raises(ControlRefused) as refused:
        devices.operate(device, action)
    assert (refused.value.device, refused.value.action, refused.value.reason) == (device, action, reason)
    assert len(world.events.events) == before


def test_a_dead_bank_cannot_be_switched():
    world, devices = _settled()
    devices.operate(BREAKER, "trip")  # the feeder with the bank
    with pytest.raises(ControlRefused) as refused:
        devices.operate(BANK, "open")
    assert refused.value.reason == Refusal.de_energised and _value(devices, BANK, "status") == "closed"


@needs_feeders
def test_on_the_ieee13_feeder_the_regulators_read_their_line_drop_compensated_voltage():
    from twin.grid.opendss import load_opendss
    from twin.grid.powerflow import solve_controlled

    settled = solve_controlled(load_opendss(FEEDERS_DIR / MASTERS["13bus"]))
    world = World(settled.network, seed=1)
    devices = FieldDevices(world)
    world.request_resolve()
    world.run_to(61.0)
    read = [devices.point(r, "v_control_volts").value for r in settled.taps["regulator"]]
    assert read == pytest.approx(settled.taps["v_control_v"].tolist(), abs=1e-6)
    assert [devices.point(r, "status").value for r in settled.taps["regulator"]] == settled.taps["tap"].tolist()
    assert {p.name for p in devices.points_of("cap1")} == {"status", "v_volts", "q_kvar", "remote"}  # fixed
