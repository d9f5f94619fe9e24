"""The world in a process of its own, its RTUs as DNP3 outstations, for an IDMS in another.

``python -m twin.world.serve`` is started by :func:`twin.remote_session.run_remote` with the
run's settings (as :func:`twin.runs.run_settings` makes them, JSON on stdin) and the address and
token of the IDMS's lock-step socket (:mod:`twin.idms.interfaces.lockstep`). It builds the world
exactly as :func:`twin.session.build_session` does (the same seed, the same draws), writes the
DNP3 points map of its RTUs to ``points_map`` (a YAML file the IDMS's master reads), serves
every RTU as an outstation on loopback, connects, and then answers the IDMS: its interfaces
(clock, AMI head-end, call centre, workforce, the field records of devices without
telemetry), the outstations' ``refresh`` before an integrity poll, and ``run`` to run the storm.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import sys
from pathlib import Path
from typing import Any

__all__ = ["WorldServer", "main"]

log = logging.getLogger(__name__)


class WorldServer:
    """What the IDMS's process may ask of the world: ``run`` it and sum it up."""

    def __init__(self, parts, outstations, storm: str, scenario=None) -> None:
        self.parts, self.outstations, self.storm, self.scenario = parts, outstations, storm, scenario
        self.done = False

    def script(self) -> None:
        """Start the scenario's scripted events (once the IDMS has started, as in one process)."""
        if self.scenario is not None:
            from twin.instructor.scripted import schedule

            schedule(self.scenario, self.parts, None)

    def run(self, max_extra_h: float) -> float:
        """Run the storm's hours, then on until every customer is back (at most ``max_extra_h``
        more), as :func:`twin.session.run_session` does; the wall time it took (s)."""
        from twin.session import run_out

        return run_out(self.parts, max_extra_h)

    def facts(self, wall_s: float) -> dict[str, Any]:
        """The world's truth at the end, as plain data (:func:`twin.session.world_facts`)."""
        from twin.session import world_facts

        f = world_facts(self.parts, self.storm, wall_s)
        f["world"] = dataclasses.asdict(f["world"])
        return f

    def field_totals(self) -> dict[str, int]:
        """What the outstations did: reports written, controls taken, frames the stack dropped."""
        o = self.outstations
        return {"reports": o.reports, "controls": o.controls, "dropped": int(sum(o.stack.dropped.values()))}

    def attach(self, notify) -> None:
        """The IDMS's master to tell when RTUs have events (lock step)."""
        self.outstations.notify = notify

    def refresh(self, rtus: list[str]) -> list[str]:
        """The outstations up to date before an integrity poll; the RTUs answering again."""
        return self.outstations.refresh(rtus)

    def stop(self) -> None:
        self.done = True


def serve(settings: dict[str, Any], *, host: str, port: int, token: str, points_map: Path,
          events_path: str | None = None) -> None:
    """Build the world of ``settings``, serve its outstations and answer the IDMS until it stops."""
    from twin.callers.call_centre_link import VirtualCallCentre
    from twin.field_devices.dnp3_field import world_points_map
    from twin.field_devices.dnp3_outstations import Dnp3Outstations
    from twin.field_devices.link import VirtualFieldLink
    from twin.idms.interfaces.dnp3.stack import Dnp3Stack
    from twin.idms.interfaces.lockstep import connect
    from twin.meters.headend_link import VirtualHeadEnd
    from twin.runs import world_parts
    from twin.world.clock_link import WorldClock
    from twin.world.workforce_link import VirtualWorkforce

    net, parts, scenario, storm, ami = world_parts(settings, events_path=events_path)
    world = parts.world
    link = VirtualFieldLink(world, parts.devices, parts.indicators)
    pmap = world_points_map(link)
    pmap.write(points_map)
    stack = Dnp3Stack()
    held: dict = {}  # the connection, made once every outstation holds its port
    outstations = Dnp3Outstations(link, pmap, stack=stack,
                                  run_on_world=lambda fn: held["peer"].submit(fn).result(timeout=60))
    peer = held["peer"] = connect(host, port, token, name="world", time=lambda: float(world.env.now))
    server = WorldServer(parts, outstations, storm, scenario)
    clock = WorldClock(world)
    peer.expose("clock", clock, {"now", "call_later"})
    if ami:
        peer.expose("ami", VirtualHeadEnd(world, parts.fleet), {"meters", "subscribe", "ping", "read_voltage",
                                                               "load_profile"})
    peer.expose("calls", VirtualCallCentre(world), {"subscribe", "callback"})
    peer.expose("workforce", VirtualWorkforce(world, parts.crews),
                {"crews", "subscribe_status", "subscribe", "send_to_outage", "switch", "call_out"})
    peer.expose("field", link, {"devices", "read", "subscribe"})  # the records: devices without telemetry
    peer.expose("world", server, {"run", "script", "facts", "field_totals", "attach", "refresh", "stop"})
    try:
        peer.serve(until=lambda: server.done)
    finally:
        outstations.close()
        stack.shutdown()
        peer.close()


def main(argv: list[str] | None = None) -> int:
    import argparse

    p = argparse.ArgumentParser(prog="python -m twin.world.serve", description=__doc__.split("\n")[0])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--points-map", type=Path, required=True)
    p.add_argument("--events", default=None)
    args = p.parse_args(argv)
    request = json.loads(sys.stdin.readline())
    logging.basicConfig(level=logging.WARNING, format="world: %(levelname)s %(name)s: %(message)s")
    serve(request["settings"], host=args.host, port=args.port, token=request["token"], points_map=args.points_map,
          events_path=args.events)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
