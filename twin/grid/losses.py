"""Loss analysis of a solved power flow: per device and phase, per feeder and per voltage level.

Losses are what lines, switches and transformers absorb (copper and core), from
:attr:`PowerFlowResult.element_losses <twin.grid.powerflow.PowerFlowResult>`. Each device is
placed on the feeder of the bus it hangs below (the feeder-head breaker, or the source for the
substation itself) and on a voltage level: the nominal voltage of its bus for lines and switches
(``"12.47 kV lines"``, ``"0.24 kV lines"``), its winding voltages for transformers
(``"115/12.47 kV transformers"``, ``"7.2/0.12 kV transformers"``), so a planner reads the losses
from the substation down to the secondaries.

Per-phase losses are given for lines and switches (a conductor's loss is the power into it at
both ends); a transformer's loss is not split by phase (its windings join different phases).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from twin.grid.network import Network
from twin.grid.powerflow import PowerFlowResult
from twin.grid.topology import build_topology

__all__ = ["LossReport", "loss_report"]


@dataclass(frozen=True)
class LossReport:
    """``by_element``: element, kind, feeder, level, losses_kw, losses_kvar, loss_kw_a/b/c (NaN for
    transformers); ``by_feeder`` and ``by_level``: losses_kw, losses_kvar and share_pct of the total."""

    by_element: pd.DataFrame
    by_feeder: pd.DataFrame
    by_level: pd.DataFrame
    total_kw: float
    total_kvar: float

    def text(self, *, top: int = 5) -> str:
        """A short report: totals, levels, feeders, and the devices that lose most."""
        lines = [f"losses {self.total_kw:,.1f} kW, {self.total_kvar:,.1f} kvar", "by voltage level:"]
        lines += [f"  {lvl:28s} {r.losses_kw:10,.1f} kW {r.share_pct:6.2f} %" for lvl, r in self.by_level.iterrows()]
        lines.append("by feeder:")
        lines += [f"  {f:28s} {r.losses_kw:10,.1f} kW {r.share_pct:6.2f} %" for f, r in self.by_feeder.iterrows()]
        worst = self.by_element.nlargest(top, "losses_kw")
        lines.append(f"largest {len(worst)}:")
        lines += [f"  {r.element:28s} {r.losses_kw:10,.2f} kW" for r in worst.itertuples()]
        return "\n".join(lines)


def loss_report(net: Network, result: PowerFlowResult) -> LossReport:
    """Losses of ``result`` (a power flow of ``net``) per device and phase, feeder and level."""
    el = result.element_losses
    table = el["element"].str.partition(".")[0].to_numpy()
    ids = el["element"].str.partition(".")[2].to_numpy()
    topo = build_topology(net)
    bus = np.full(len(el), -1, dtype=np.int64)
    level = np.empty(len(el), dtype=object)
    for name in ("line", "switch"):
        at = table == name
        t = net.table(name)
        rows = t.index(ids[at].tolist())
        bus[at] = net.bus.index(t["from_bus"][rows].tolist())
        kv = net.bus["v_nom_v"][bus[at]] / 1e3
        level[at] = [f"{v:g} kV lines" for v in kv]
    at = table == "transformer"
    xf = net.transformer
    rows = xf.index(ids[at].tolist())
    bus[at] = net.bus.index(xf["bus"][rows, 0].tolist())
    ratings = xf["v_rated_v"][rows] / 1e3
    level[at] = [f"{hv:g}/{lv:g} kV transformers" for hv, lv in zip(ratings[:, 0], ratings[:, 1])]
    feeder = np.where(bus >= 0, topo.feeder[np.maximum(bus, 0)], "")

    per_phase = _per_phase(result.branches)
    by_element = pd.DataFrame({
        "element": el["element"].to_numpy(), "kind": table, "feeder": feeder, "level": level,
        "losses_kw": el["losses_kw"].to_numpy(), "losses_kvar": el["losses_kvar"].to_numpy(),
    }).merge(per_phase, on="element", how="left")
    by_element.loc[by_element["kind"] == "transformer", ["loss_kw_a", "loss_kw_b", "loss_kw_c"]] = np.nan
    total_kw, total_kvar = float(by_element["losses_kw"].sum()), float(by_element["losses_kvar"].sum())
    return LossReport(by_element, _share(by_element, "feeder", total_kw), _share(by_element, "level", total_kw),
                      total_kw, total_kvar)


def _per_phase(branches: pd.DataFrame) -> pd.DataFrame:
    """Power into each conductor at both ends, summed per element and phase (kW)."""
    wide = branches.pivot_table(index="element", columns="phase", values="p_kw", aggfunc="sum")
    wide = wide.reindex(columns=[1, 2, 3])
    wide.columns = ["loss_kw_a", "loss_kw_b", "loss_kw_c"]
    return wide.reset_index()


def _share(by_element: pd.DataFrame, key: str, total_kw: float) -> pd.DataFrame:
    out = by_element.groupby(key)[["losses_kw", "losses_kvar"]].sum().sort_values("losses_kw", ascending=False)
    out["share_pct"] = 100.0 * out["losses_kw"] / total_kw if total_kw else 0.0
    return out
