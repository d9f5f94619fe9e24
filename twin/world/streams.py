"""Independent random streams, one per subsystem, all from one seed.

Every random draw of the world comes from the :class:`numpy.random.Generator` of its subsystem.
A stream depends only on the seed and the subsystem's name (a ``SeedSequence`` with the name's
CRC-32 as its spawn key), so that adding draws to one subsystem (more meters, a new cause of
faults) does not reshuffle any other, and a scenario with a seed replays bit for bit.

>>> a, b = Streams(7), Streams(7)
>>> float(a("weather").random()) == float(b("weather").random())
True
>>> a("weather") is a("weather"), float(Streams(7)("faults").random()) != float(Streams(7)("weather").random())
(True, True)
"""

from __future__ import annotations

import zlib

import numpy as np

__all__ = ["Streams"]


class Streams:
    """The world's random streams: ``streams("meters")`` is that subsystem's generator (the same
    object on every call)."""

    def __init__(self, seed: int) -> None:
        self.seed = int(seed)
        self._made: dict[str, np.random.Generator] = {}

    def __call__(self, subsystem: str) -> np.random.Generator:
        if subsystem not in self._made:
            sequence = np.random.SeedSequence(self.seed, spawn_key=(zlib.crc32(subsystem.encode()),))
            self._made[subsystem] = np.random.Generator(np.random.PCG64(sequence))
        return self._made[subsystem]
