"""The world's field devices on DNP3, assembled: the points map of a world's devices and its
outstations on free loopback ports (used by the sessions that run the IDMS over DNP3)."""

from __future__ import annotations

from datetime import timezone
from typing import TYPE_CHECKING

from twin.field_devices.dnp3_outstations import Dnp3Outstations
from twin.idms.interfaces.dnp3.points import PointsMap, build_points_map
from twin.idms.interfaces.dnp3.stack import Dnp3Stack, free_ports

if TYPE_CHECKING:
    from twin.field_devices.link import VirtualFieldLink

__all__ = ["epoch_ms", "world_points_map", "serve_outstations"]


def epoch_ms(world) -> int:
    """The instant of the world's second 0 as DNP3 time (ms since 1970 UTC; the calendar read as UTC)."""
    start = world.calendar.start
    start = start.replace(tzinfo=timezone.utc) if start.tzinfo is None else start
    return int(round(start.timestamp() * 1000.0))


def world_points_map(link: VirtualFieldLink, *, host: str = "127.0.0.1") -> PointsMap:
    """The points map of ``link``'s devices, one outstation per RTU on free ports of ``host``."""
    pmap = build_points_map(link.devices(), link.read(), host=host, epoch_utc_ms=epoch_ms(link.world))
    ports = free_ports(len(pmap.rtus), host)
    return pmap.with_ports({r.name: p for r, p in zip(pmap.rtus, ports)})


def serve_outstations(link: VirtualFieldLink, pmap: PointsMap, *, stack: Dnp3Stack | None = None,
                      run_on_world=None, notify=None) -> Dnp3Outstations:
    """The outstations of ``pmap`` on ``link`` (see :class:`Dnp3Outstations`)."""
    return Dnp3Outstations(link, pmap, stack=stack, run_on_world=run_on_world, notify=notify)
