"""The IDMS's clock: what time it is and a way to be called back later.

The IDMS never sleeps or spawns its own timers: a select-before-operate timeout, an integrity
scan period or an alarm shelving expiry is a callback on the :class:`Clock` it is given. In
simulation the world's SimPy environment provides one (simulated seconds); on real equipment a
wall-clock implementation does.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, runtime_checkable

__all__ = ["Clock"]


@runtime_checkable
class Clock(Protocol):
    """Seconds since the session began, and callbacks after a delay."""

    def now(self) -> float:
        """The time now (s)."""

    def call_later(self, delay_s: float, callback: Callable[[], None]) -> None:
        """Call ``callback()`` once, ``delay_s`` seconds from now (0: as soon as possible)."""
