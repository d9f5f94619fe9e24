"""Network analysis on the operations model: the power flow of the network as the IDMS believes
it is switched, and what is out of range in it.

The IDMS solves its own model, never the world's: the switch states are the operations model's
beliefs (:attr:`~twin.idms.operations_model.OperationsModel.open`), the loads the model's
connected loads times ``load_scale`` (1.0: the peak loads the model was built with; a load
forecast scales them), taps and capacitor banks as the model holds them. The solve goes part by
part (:class:`~twin.grid.powerflow.parts.PartSolver`): after a switching change only the
substations it touched are factored again.

:class:`Violations` flags, per bus row, a voltage below (-1) or above (+1) ANSI C84.1 range A on
any phase, and per element reference its loading in % of its rating where above 100 %.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from twin.grid.loading import loading_pct
from twin.grid.power_quality import RANGE_A
from twin.grid.powerflow.parts import PartSolver, Solution

__all__ = ["NetworkAnalysis", "Violations"]


@dataclass(frozen=True)
class Violations:
    """What the power flow finds out of range: ``bus_voltage`` int8 per bus row (-1 under range A
    on some phase, +1 over it, 0 within or dead), ``overloaded`` % loading per element reference
    above 100 %, the lowest and highest energised phase voltages (pu) and the load scale solved."""

    bus_voltage: np.ndarray
    overloaded: pd.Series
    v_min_pu: float
    v_max_pu: float
    load_scale: float

    @property
    def low(self) -> int:
        return int(np.count_nonzero(self.bus_voltage < 0))

    @property
    def high(self) -> int:
        return int(np.count_nonzero(self.bus_voltage > 0))


class NetworkAnalysis:
    """The power flow on one IDMS's operations model (see the module docstring)."""

    def __init__(self, model) -> None:
        self.model = model
        self.solver = PartSolver(model.net)

    def solve(self, load_scale: float = 1.0) -> Solution:
        """The power flow with the switches as the model believes them."""
        return self.solver.solve(self.model.open, load_scale=load_scale)

    def violations(self, load_scale: float = 1.0) -> Violations:
        """Voltages outside ANSI C84.1 range A and overloaded elements, at ``load_scale``."""
        solution = self.solve(load_scale)
        v = solution.bus_v_pu()
        live = np.nan_to_num(v, nan=0.0) > 0.0
        with np.errstate(invalid="ignore"):
            low = (live & (v < RANGE_A[0])).any(axis=1)
            high = (live & (v > RANGE_A[1])).any(axis=1)
        flags = np.where(low, -1, np.where(high, 1, 0)).astype(np.int8)
        pct = loading_pct(self.model.net, solution.branches)
        energised = v[live]
        return Violations(flags, pct[pct > 100.0].sort_values(ascending=False),
                          float(energised.min()) if len(energised) else 0.0,
                          float(energised.max()) if len(energised) else 0.0, float(load_scale))
