"""Interoperability with a DNP3 stack this project did not write (dnp3py, pure Python): its
master reads the world's outstation and trips a breaker; SCADA's master polls its outstation and
operates one of its outputs."""

from __future__ import annotations

import math

import pytest

from tests.field_devices.dnp3py_peer import PeerMaster, PeerOutstation
from tests.field_devices.test_dnp3 import Field, _breaker_points, _Clock
from twin.grid.schema import SwitchKind
from twin.idms.interfaces.dnp3.points import PointsMap, Rtu
from twin.idms.interfaces.dnp3.stack import Dnp3Stack, free_ports
from twin.idms.interfaces.field_devices import ControlStatus, Quality
from twin.idms.scada.dnp3_link import Dnp3FieldLink


@pytest.fixture
def field():
    f = Field(lockstep=False, poll_period_s=None)
    for m in f.link.masters.values():  # our master steps aside: the peer's is the outstation's master
        m.close()
    yield f
    f.close()


def test_a_master_we_did_not_write_reads_the_worlds_outstation_and_trips_and_closes_a_breaker(field):
    breaker = field.first(SwitchKind.breaker)
    points = field.map.device(breaker)
    rtu = field.map.rtu(points.rtu)
    field.world.run_to(60.0)  # a power flow solved: analogs with values
    truth = {p.name: p.value for p in field.virtual.read([breaker])}
    with PeerMaster(rtu.host, rtu.port, master_address=field.map.master_address,
                    outstation_address=rtu.address) as peer:
        seen = peer.integrity()
        assert seen["binary"][points.binary["status"]] == (True, 0x01)  # closed, ONLINE
        assert seen["binary"][points.binary["lockout"]][0] is False
        exact = peer.read_range(30, 6, 0, max(k for ks in points.analog.values() for k in ks))["analog"]
        for phase, k in enumerate(points.analog["i_amps"]):
            want = truth["i_amps"][phase]
            assert math.isnan(want) and math.isnan(exact[k][0]) or exact[k][0] == pytest.approx(want, rel=1e-12)
        assert peer.operate(points.crob["switch"], "trip", select_before_operate=True) == "success"
        field.world.run_to(61.0)
        assert field.world.grid.switch_open[field.net.switch.position(breaker)]
        assert peer.integrity()["binary"][points.binary["status"]][0] is False  # the outstation reports it open
        assert peer.operate(points.crob["switch"], "close", select_before_operate=False) == "success"  # direct
    field.world.run_to(62.0)
    assert not field.world.grid.switch_open[field.net.switch.position(breaker)]


def test_a_master_at_another_address_gets_no_answer_and_operates_nothing(field):
    breaker = field.first(SwitchKind.breaker)
    points = field.map.device(breaker)
    rtu = field.map.rtu(points.rtu)
    with PeerMaster(rtu.host, rtu.port, master_address=field.map.master_address + 7,
                    outstation_address=rtu.address, timeout=1.0) as peer:
        with pytest.raises(TimeoutError):
            peer.operate(points.crob["switch"], "trip", select_before_operate=False)
    field.world.run_to(field.world.now + 1.0)
    assert not field.world.grid.switch_open[field.net.switch.position(breaker)]
    assert field.stack.dropped["address"] >= 1  # dropped, and logged


def test_our_master_polls_an_outstation_we_did_not_write_and_operates_it():
    (port,) = free_ports(1)
    pmap = PointsMap((Rtu("rtu:peer", 21, "127.0.0.1", port),), (_breaker_points("B1", "rtu:peer"),),
                     master_address=1)
    stack = Dnp3Stack()
    with PeerOutstation(port, outstation_address=21, master_address=1, binaries=4, analogs=8, counters=1,
                        double_analogs=True) as out:
        for k, on in enumerate((True, False, False, True)):
            out.set_binary(k, on)
        for k, v in enumerate((101.5, 99.25, 100.0, 7199.5, 7201.0, 7200.25, 2150.0, 310.5)):
            out.set_analog(k, v)
        out.set_counter(0, 3)
        link = Dnp3FieldLink(pmap, _Clock(), stack=stack, poll_period_s=None, response_timeout_s=1.0)
        try:
            got = {p.name: p for p in link.read()}
            assert got["status"].value == "closed" and got["status"].quality is Quality.good
            assert got["lockout"].value is False and got["remote"].value is True
            assert got["i_amps"].value == (101.5, 99.25, 100.0)
            assert got["p_kw"].value == 2150.0 and link.operations["B1"] == 3
            reported: list = []
            link.subscribe(reported.extend)
            out.set_binary(0, False)  # the breaker opens: an event
            out.set_binary(1, True)
            link.poll()
            assert {(p.name, p.value) for p in reported} >= {("status", "open"), ("lockout", True)}
            assert link.select("B1", "close").status is ControlStatus.selected
            reply = link.operate("B1", "close")
            assert reply.status is ControlStatus.executed
            assert out.wait_for_controls(1) == [(0, "close")]
        finally:
            link.close()
            stack.shutdown()
