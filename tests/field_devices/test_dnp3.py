"""The field devices over DNP3 in one process: the points map, the world's RTUs as outstations
and SCADA on the DNP3 master, against what the virtual link gives."""

from __future__ import annotations

import math
import time

import numpy as np
import pytest

from twin.field_devices.devices import FieldDevices
from twin.field_devices.dnp3_field import world_points_map
from twin.field_devices.dnp3_outstations import Dnp3Outstations
from twin.field_devices.indicators import FaultIndicators
from twin.field_devices.link import VirtualFieldLink
from twin.grid.schema import SwitchKind
from twin.idms.interfaces.dnp3.points import LAYOUT, DevicePoints, PointsMap, PointsMapError, Rtu, load_points_map
from twin.idms.interfaces.dnp3.stack import Dnp3Stack, free_ports
from twin.idms.interfaces.field_devices import ControlStatus, Quality
from twin.idms.scada.control import Outcome
from twin.idms.scada.dnp3_link import Dnp3FieldLink
from twin.idms.scada.scada import Scada
from twin.world.clock_link import WorldClock
from twin.world.environment import World
from twin.world.events import EventKind
from twin.world.physics import Fault
from twin.world.territory import generate_territory


class Field:
    """A world, its virtual link, its RTUs as outstations and SCADA on a DNP3 master."""

    def __init__(self, customers: int = 2000, *, lockstep: bool = True, poll_period_s: float | None = None) -> None:
        self.net = generate_territory(customers, seed=4)
        self.world = World(self.net, seed=1)
        self.devices = FieldDevices(self.world)
        self.indicators = FaultIndicators(self.world)
        self.virtual = VirtualFieldLink(self.world, self.devices, self.indicators)
        self.stack = Dnp3Stack()
        self.map = world_points_map(self.virtual)
        self.outstations = Dnp3Outstations(self.virtual, self.map, stack=self.stack)
        self.link = Dnp3FieldLink(self.map, WorldClock(self.world), stack=self.stack, records=self.virtual,
                                  refresh=self.outstations.refresh if lockstep else None, lockstep=lockstep,
                                  poll_period_s=poll_period_s, response_timeout_s=0.5)
        if lockstep:
            self.outstations.notify = self.link.field_changed
        self.scada = Scada(self.link, WorldClock(self.world))
        self.scada.start()
        self.reference = Scada(self.virtual, WorldClock(self.world))  # the same field, in process
        self.reference.start()

    def first(self, kind: SwitchKind, *, closed: bool = True) -> str:
        sw = self.net.switch
        rows = np.flatnonzero((sw["kind"] == kind) & (sw["remote"]) & (sw["normal_open"] != closed))
        return str(sw.ids[rows[0]])

    def close(self) -> None:
        self.outstations.close()
        self.link.close()
        self.stack.shutdown()


class _Clock:
    def __init__(self) -> None:
        self.t = 0.0

    def now(self) -> float:
        return self.t

    def call_later(self, delay_s, callback) -> None:  # noqa: ANN001
        pass


def _breaker_points(device: str, rtu: str):
    return DevicePoints(device, "breaker", f"switch.{device}", rtu,
                        {"status": 0, "lockout": 1, "fault": 2, "remote": 3},
                        {"i_amps": (0, 1, 2), "v_volts": (3, 4, 5), "p_kw": (6,), "q_kvar": (7,)},
                        {"operations": 0}, {"switch": 0, "reset": 1})


@pytest.fixture
def field():
    f = Field()
    yield f
    f.close()


def _same(a, b) -> bool:
    if isinstance(a, tuple):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if isinstance(a, float) and math.isnan(a):
        return isinstance(b, float) and math.isnan(b)
    return type(a) is type(b) and a == b


def test_the_points_map_lays_out_each_kind_and_survives_its_file(field, tmp_path):
    pmap = field.map
    rtus = {r.name for r in pmap.rtus}
    assert rtus == {d.rtu for d in field.virtual.devices() if d.remote}
    breaker = pmap.device(field.first(SwitchKind.breaker))
    assert list(breaker.binary) == ["status", "lockout", "fault", "remote"]
    assert [len(breaker.analog[n]) for n in ("i_amps", "v_volts", "p_kw", "q_kvar")] == [3, 3, 1, 1]
    assert breaker.counter == {"operations": breaker.counter["operations"]} and set(breaker.crob) == {"switch", "reset"}
    for r in pmap.rtus:  # indices are dense and unique per outstation, by group
        devs = pmap.served_by(r.name)
        for group in ("binary", "counter", "crob"):
            ks = [k for d in devs for k in getattr(d, group).values()]
            assert sorted(ks) == list(range(len(ks)))
        ks = [k for d in devs for v in d.analog.values() for k in v]
        assert sorted(ks) == list(range(len(ks)))
    again = load_points_map(pmap.write(tmp_path / "points.yaml"))
    assert again == pmap
    assert set(LAYOUT) >= {d.kind for d in pmap.devices if d.rtu}


@pytest.mark.parametrize("edit, element", [
    (lambda t: t.replace("format: twin-dnp3-points/1", "format: other"), "format"),
    (lambda t: t.replace("rtu: device:", "rtu: nowhere:", 1), ""),
    (lambda t: t.replace("crob:\n", "crob:\n    tap: 9\n", 1), ""),
    (lambda t: t + "\n: [", "file"),
    (lambda t: t.replace("lockout: 1", "lockout: 0", 1), ""),  # two points on one index
])
def test_a_broken_points_map_names_the_file_the_entry_and_the_fix(field, tmp_path, edit, element):
    path = tmp_path / "points.yaml"
    path.write_text(edit(field.map.write(path).read_text()))
    with pytest.raises(PointsMapError) as err:
        load_points_map(path)
    assert str(path) in str(err.value) and err.value.fix
    if element:
        assert element in err.value.element or element in str(err.value)


def test_an_integrity_poll_over_dnp3_reads_what_the_virtual_link_reads(field):
    field.world.run_to(120.0)
    over = {(p.device, p.name): p for p in field.link.read()}
    direct = {(p.device, p.name): p for p in field.virtual.read()}
    assert over.keys() == direct.keys()
    for key, p in direct.items():
        q = over[key]
        assert _same(q.value, p.value), key
        assert q.quality is p.quality, key


def test_a_protective_trip_reaches_scada_over_dnp3_stamped_by_the_field_to_the_millisecond(field):
    sw = field.net.switch
    recloser = field.first(SwitchKind.recloser)
    line = str(field.net.line.ids[np.flatnonzero(field.net.line["from_bus"] == sw["to_bus"][sw.position(recloser)])[0]])
    field.world.inject(Fault(line, permanent=True), at_s=120.0)
    field.world.run_to(600.0)
    assert field.world.grid.switch_open[sw.position(recloser)]
    assert field.scada.points.telemetry(recloser, "status") == "open"
    assert field.scada.points.telemetry(recloser, "lockout") is True
    over = [(e.point, e.value, e.time_s) for e in field.scada.soe.events(device=recloser)]
    direct = [(e.point, e.value, e.time_s) for e in field.reference.soe.events(device=recloser)]
    assert len(over) == len(direct) >= 2
    for (p, v, t), (p0, v0, t0) in zip(over, direct):  # the same sequence of events, to DNP3's millisecond
        assert (p, v) == (p0, v0) and 0.0 <= t0 - t < 0.001
    assert field.link.operations[recloser] >= 1  # its trips, counted by the outstation
    assert [a for a in field.scada.alarms.alarms() if a.device == recloser and a.priority == 1]


def test_a_scada_trip_goes_select_before_operate_over_dnp3_and_the_field_refuses_what_it_cannot_do(field):
    sw = field.net.switch
    breaker = field.first(SwitchKind.breaker)
    field.world.run_to(30.0)
    cap = next(d.id for d in field.map.devices if d.kind == "capacitor" and d.rtu)
    assert field.link.select(cap, "open").status is ControlStatus.selected
    assert field.link.operate(cap, "open").status is ControlStatus.executed
    field.link.select(cap, "close")
    refused = field.link.operate(cap, "close")  # refused by the world, the reason back over the wire
    assert refused.status is ControlStatus.refused and refused.reason == "discharging"
    assert field.outstations.controls == 4
    op = field.scada.control(breaker, "trip", user="trainee")
    field.world.run_to(60.0)
    assert field.world.grid.switch_open[sw.position(breaker)]
    assert op.outcome == Outcome.confirmed and field.outstations.controls == 6  # a SELECT, then an OPERATE
    fuse = str(sw.ids[np.flatnonzero(sw["kind"] == SwitchKind.fuse)[0]])
    assert field.link.select(fuse, "trip").reason == "no_remote_control"
    assert field.link.select(breaker, "raise").reason == "not_applicable"
    assert field.link.operate(breaker, "close").reason == "not_selected"


def test_comms_lost_in_the_world_silences_its_outstation_scada_alarms_and_recovers(field):
    breaker = field.first(SwitchKind.breaker)
    rtu = field.map.device(breaker).rtu
    field.world.run_to(60.0)
    field.devices.set_comms([breaker], False)
    field.world.events.publish(60.0, EventKind.comms, site="test", medium="radio", up=False, why="test")
    field.world.run_to(120.0)
    assert not field.outstations.up[rtu]
    assert field.scada.points.get(breaker, "status").quality is Quality.comms_failed
    assert [a for a in field.scada.alarms.alarms() if a.device == breaker and a.code == "comms_failed"]
    assert field.link.select(breaker, "trip").reason == "unreachable"
    field.devices.set_comms([breaker], True)
    field.world.events.publish(120.0, EventKind.comms, site="test", medium="radio", up=True, why="test")
    field.world.run_to(180.0)
    assert field.outstations.up[rtu]
    assert field.scada.points.get(breaker, "status").quality is Quality.good


def test_an_outstation_that_stops_answering_goes_stale_in_scada_with_an_alarm_and_comes_back():
    f = Field(lockstep=False, poll_period_s=2.0)
    try:
        recloser = f.first(SwitchKind.recloser)
        rtu = f.map.device(recloser).rtu
        f.world.run_to(10.0)
        assert f.scada.points.get(recloser, "status").quality is Quality.good
        f.outstations.outstations[rtu].disable()  # it stops answering, the world knows nothing of it
        f.world.run_to(20.0)
        assert f.scada.points.get(recloser, "status").quality is Quality.comms_failed
        assert [a for a in f.scada.alarms.alarms() if a.device == recloser and a.code == "comms_failed"]
        f.outstations.outstations[rtu].enable()
        assert f.link.masters[rtu].wait_connected(5.0)  # the stack's back-off, in wall-clock time
        f.world.run_to(30.0)
        assert f.scada.points.get(recloser, "status").quality is Quality.good
    finally:
        f.close()


def test_unsolicited_responses_reach_scadas_link_without_a_poll():
    stack = Dnp3Stack()
    (port,) = free_ports(1)
    pmap = PointsMap((Rtu("rtu:1", 10, "127.0.0.1", port),), (_breaker_points("B1", "rtu:1"),))
    out = stack.outstation("rtu:1", host="127.0.0.1", port=port, address=10, master_address=1, binaries=4,
                           analogs=8, counters=1, on_control=lambda index, on, stage: "success", unsolicited=True)
    out.apply([("binary", 0, True, 1, 0), ("binary", 3, True, 1, 0)] + [("analog", k, 10.0, 1, 0) for k in range(8)],
              events=False)
    out.enable()
    link = Dnp3FieldLink(pmap, _Clock(), stack=stack, poll_period_s=None, unsolicited=True)
    try:
        assert {p.name: p.value for p in link.read()}["status"] == "closed"
        got: list = []
        link.subscribe(got.extend)
        out.apply([("binary", 0, False, 1, 5_000), ("binary", 1, True, 1, 5_000)])  # it trips and locks out
        deadline = time.monotonic() + 5.0
        while time.monotonic() < deadline and not {("status", "open"), ("lockout", True)} <= {
                (p.name, p.value) for p in got}:
            time.sleep(0.01)
        assert {("status", "open"), ("lockout", True)} <= {(p.name, p.value) for p in got}
        assert link.polls == 1  # the integrity poll only: the news came unasked
    finally:
        link.close()
        stack.shutdown()


def test_the_master_assigns_event_classes_one_to_three(field):
    breaker = field.first(SwitchKind.breaker)
    rtu = field.map.device(breaker).rtu
    assigned = field.outstations.outstations[rtu]._app.assigned
    assert [(kind, clazz) for kind, clazz, _, _ in assigned] == [("BinaryInput", 2), ("AnalogInput", 4),
                                                                 ("Counter", 8)]  # class 1, 2, 3 bits
    master = field.link.masters[rtu]
    field.outstations.outstations[rtu].apply([("binary", 2, True, 1, 1000), ("analog", 0, 1.5, 1, 1000),
                                              ("counter", 0, 9, 1, 1000)])
    assert {g for g, *_ in master.read_classes(1)} == {"binary"}
    assert {g for g, *_ in master.read_classes(2)} == {"analog"}
    assert {g for g, *_ in master.read_classes(3)} == {"counter"}
