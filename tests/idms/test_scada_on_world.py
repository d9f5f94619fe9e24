"""SCADA run against the world through the virtual field link only: what the IDMS sees is what
the field reports, and its controls act on the world."""

import numpy as np

from twin.field_devices.devices import FieldDevices
from twin.field_devices.link import VirtualFieldLink
from twin.grid.schema import SwitchKind
from twin.idms.scada.control import Outcome
from twin.idms.scada.scada import Scada
from twin.world.clock_link import WorldClock
from twin.world.environment import World
from twin.world.physics import Fault
from twin.world.territory import generate_territory


def _session(customers=2000, seed=4):
    net = generate_territory(customers, seed=seed)
    world = World(net, seed=1)
    devices = FieldDevices(world)
    scada = Scada(VirtualFieldLink(world, devices), WorldClock(world))
    scada.start()
    return net, world, scada


def test_a_protective_trip_in_the_world_is_a_priority_one_alarm_in_scada():
    net, world, scada = _session()
    sw = net.switch
    recloser = str(sw.ids[np.flatnonzero(sw["kind"] == SwitchKind.recloser)[0]])
    line = str(net.line.ids[np.flatnonzero(net.line["from_bus"] == sw["to_bus"][sw.position(recloser)])[0]])
    world.inject(Fault(line, permanent=True), at_s=120.0)
    world.run_to(600.0)
    assert world.grid.switch_open[sw.position(recloser)]  # the world's truth: locked out
    assert scada.points.telemetry(recloser, "status") == "open"  # as the field reported it
    assert scada.points.telemetry(recloser, "lockout") is True
    alarms = [a for a in scada.alarms.alarms() if a.device == recloser]
    assert alarms and min(a.priority for a in alarms) == 1
    trips = scada.soe.events(device=recloser)
    assert trips and all(e.time_s >= 120.0 for e in trips)  # the sequence, stamped by the field


def test_a_scada_trip_opens_the_breaker_in_the_world_and_is_confirmed_without_a_trip_alarm():
    net, world, scada = _session()
    sw = net.switch
    breaker = str(sw.ids[np.flatnonzero((sw["kind"] == SwitchKind.breaker) & ~sw["normal_open"])[0]])
    world.run_to(30.0)
    op = scada.control(breaker, "trip", user="trainee")
    world.run_to(60.0)
    assert world.grid.switch_open[sw.position(breaker)]
    assert op.outcome == Outcome.confirmed
    assert not [a for a in scada.alarms.alarms() if a.device == breaker and a.priority == 1]
    scada.place_tag(breaker, "do_not_operate", user="supervisor", reason="crew on the feeder")
    refused = scada.control(breaker, "close", user="trainee")
    world.run_to(90.0)
    assert refused.outcome == Outcome.failed and refused.reason.value == "tagged"
    assert world.grid.switch_open[sw.position(breaker)]  # the tag kept it open
