"""The points map of a world's field devices, its outstations on free loopback ports (for the
sessions that run the IDMS over DNP3), and the world's second 0 as DNP3 time."""

from __future__ import annotations

from datetime import timezone
from typing import TYPE_CHECKING

from twin.idms.interfaces.dnp3.points import PointsMap, build_points_map
from twin.idms.interfaces.dnp3.stack import free_ports

if TYPE_CHECKING:
    from twin.field_devices.link import VirtualFieldLink

__all__ = ["epoch_ms", "world_points_map"]


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
