"""Node indexing: one unknown voltage per energised bus and present slot.

A *node* is a (bus row, slot) pair: slot 0, 1, 2 are phases A, B, C on a primary bus and legs 1, 2
(slots 0, 1) on a split-phase bus (see :mod:`twin.grid.schema`). Ground is the reference and has no
node; element builders write it as :data:`GROUND` (``-1``) and the assembly drops it, which is how
grounded wye windings, loads and shunts are tied to it.

Each node has a *base*: the bus's nominal phase-to-neutral voltage (``v_nom_v / sqrt(3)``), or the
leg-to-neutral voltage (``v_nom_v / 2``, 120 V) on a split-phase bus (the largest base where the
bus has no nominal voltage). The convergence test uses it.

>>> import numpy as np
>>> nodes = index_nodes(np.array([7, 24]), np.array([4160.0, 240.0]), np.array([True, True]))
>>> nodes.of.tolist(), [round(float(b), 1) for b in nodes.base_v]
([[0, 1, 2], [3, 4, -1]], [2401.8, 2401.8, 2401.8, 120.0, 120.0])
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from twin.grid.schema import Phase

__all__ = ["GROUND", "NodeIndex", "index_nodes", "slot_mask", "is_split"]

GROUND = -1
SQRT3 = float(np.sqrt(3.0))


def slot_mask(phases: np.ndarray) -> np.ndarray:
    """(n, 3) booleans: which slots a set of Phase flags uses (A, B, C or S1, S2)."""
    p = np.asarray(phases, dtype=np.int64)
    return np.stack([(p & (Phase.A | Phase.S1)) != 0, (p & (Phase.B | Phase.S2)) != 0, (p & Phase.C) != 0],
                    axis=-1)


def is_split(phases: np.ndarray) -> np.ndarray:
    """True where Phase flags name split-phase legs (S1, S2)."""
    return (np.asarray(phases, dtype=np.int64) & Phase.S12) != 0


@dataclass(frozen=True)
class NodeIndex:
    """Nodes of the energised buses: ``of[bus, slot]`` is a node number or ``GROUND`` (-1, absent)."""

    of: np.ndarray  # (n_bus, 3) int
    bus: np.ndarray  # bus row per node
    slot: np.ndarray  # slot per node
    base_v: np.ndarray  # phase-to-neutral (leg-to-neutral) base volts per node

    @property
    def n(self) -> int:
        return len(self.bus)


def index_nodes(bus_phases: np.ndarray, v_nom_v: np.ndarray, energised: np.ndarray) -> NodeIndex:
    """Number the present slots of the energised buses, bus by bus in row order.

    ``energised`` is one flag per bus, or per bus and slot (``(n_bus, 3)``) to drop single nodes.
    """
    live = np.asarray(energised, bool)
    present = slot_mask(bus_phases) & (live[:, None] if live.ndim == 1 else live)
    of = np.full(present.shape, GROUND, dtype=np.int64)
    of[present] = np.arange(int(present.sum()))
    bus, slot = np.nonzero(present)
    split = is_split(bus_phases)[bus]
    base = np.where(split, v_nom_v[bus] / 2.0, v_nom_v[bus] / SQRT3)
    valid = np.isfinite(base) & (base > 0)
    if not valid.all():  # a bus without a nominal voltage: judge its convergence on the largest base
        base = np.where(valid, base, base[valid].max() if valid.any() else 1.0)
    return NodeIndex(of=of, bus=bus, slot=slot, base_v=base)
