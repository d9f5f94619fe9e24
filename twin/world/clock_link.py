"""The IDMS's clock in simulation: simulated seconds of the world's SimPy environment.

:class:`WorldClock` implements :class:`twin.idms.interfaces.clock.Clock`: ``now()`` is the
world's time, and ``call_later(delay_s, fn)`` starts a SimPy process that waits ``delay_s`` and
calls ``fn()``, so the IDMS's timers (select-before-operate timeouts, integrity scans, shelving
expiries) run in step with the world, paced or not.

>>> from twin.world.environment import World
>>> from twin.world.territory import generate_territory
>>> world = World(generate_territory(200, seed=2), seed=1, resolve=False)
>>> clock, seen = WorldClock(world), []
>>> clock.call_later(30.0, lambda: seen.append(clock.now()))
>>> world.run_to(60.0)
>>> seen
[30.0]
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from twin.world.environment import World

__all__ = ["WorldClock"]


class WorldClock:
    """A :class:`~twin.idms.interfaces.clock.Clock` on a world's simulated time."""

    def __init__(self, world: World) -> None:
        self.env = world.env

    def now(self) -> float:
        """Simulated seconds since the world began."""
        return float(self.env.now)

    def call_later(self, delay_s: float, callback: Callable[[], None]) -> None:
        """``callback()`` once, ``delay_s`` simulated seconds from now (negative: now)."""
        self.env.process(self.later(max(0.0, float(delay_s)), callback))

    def later(self, delay_s: float, callback: Callable[[], None]):
        """Wait, then call back."""
        yield self.env.timeout(delay_s)
        callback()
