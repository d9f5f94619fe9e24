"""Power-flow rules: the model solved at the loads it holds (the peak the engineer entered), with
its regulator and capacitor controls settled as OpenDSS settles them.

=================  ========  ==========================================================
code               severity  what
=================  ========  ==========================================================
not-converged      error     the power flow does not converge: names the worst bus
controls-hunting   warning   regulator or capacitor controls do not settle
powerflow-skipped  warning   the model is too broken to solve (other findings say why)
voltage-range-b    warning   energised nodes outside ANSI C84.1 range B (110-127 V)
voltage-range-a    warning   energised nodes outside range A (114-126 V) but inside B
overload           warning   lines, switches and transformers loaded above their rating
fci-pickup         warning   fault indicators whose trip current is under 1.5 x their line's load current
=================  ========  ==========================================================

Voltage findings summarise all nodes in one finding per range (the worst buses first), so a
model with a thousand low secondaries gets one readable line, not a thousand.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from twin.errors import ModelError, NotConverged
from twin.grid.network import Network
from twin.grid.loading import loading_pct
from twin.grid.power_quality import ansi_range
from twin.grid.validate.context import Context
from twin.grid.validate.findings import Finding, Severity

__all__ = ["POWERFLOW_RULES", "check_power_flow"]

_SHOWN = 20


def check_power_flow(net: Network, ctx: Context) -> list[Finding]:
    """Solve the model; report non-convergence, ANSI C84.1 voltage ranges and overloads."""
    from twin.grid.powerflow import ControlNotSettled, solve_controlled

    if not len(net.source):
        return []  # the no-source rule says so
    try:
        result = solve_controlled(net).result
    except ControlNotSettled as err:
        return [Finding(Severity.warning, "controls-hunting", "", err.elements,
                        message=f"regulator and capacitor controls did not settle after {err.iterations} "
                                f"solves{' (they hunt between states)' if err.hunting else ''}",
                        fix="widen the bands or separate the set points of the controls named")]
    except NotConverged as err:
        return [Finding(Severity.error, "not-converged", "bus", (err.worst_bus,), field="v_pu",
                        value=err.mismatch,
                        message=f"the power flow does not converge after {err.iterations} iterations "
                                f"(voltage still changing by {err.mismatch:.3g} pu here)",
                        fix="look for a load far beyond what its feeder can carry, or a wrong impedance or tap")]
    except ModelError as err:
        return [Finding(Severity.warning, "powerflow-skipped", err.component, (err.element,) if err.element else (),
                        message=f"the power flow was not run: {err}", fix="correct the errors above first")]
    return (_voltage_findings(result.voltages) + _overloads(net, result.branches)
            + _fci_pickups(net, result.branches))


def _voltage_findings(v: pd.DataFrame) -> list[Finding]:
    band = ansi_range(v["v_pu"].to_numpy())
    out = []
    for code, level, what in (("voltage-range-b", 2, "outside ANSI C84.1 range B (110-127 V)"),
                              ("voltage-range-a", 1, "outside range A (114-126 V), inside B")):
        bad = v[band == level]
        if bad.empty:
            continue
        worst = bad.assign(dev=(bad["v_pu"] - 1.0).abs()).sort_values("dev", ascending=False)
        buses = tuple(dict.fromkeys(worst["bus"].tolist()))
        lo, hi = bad["v_pu"].min(), bad["v_pu"].max()
        out.append(Finding(
            Severity.warning, code, "bus", buses[:_SHOWN], field="v_pu", value=float(worst["v_pu"].iloc[0]),
            count=len(buses),
            message=f"{len(bad)} of {int((band >= 0).sum())} energised nodes at {len(buses)} buses are {what}: "
                    f"{lo:.4f} to {hi:.4f} pu",
            fix="check regulator settings, capacitors and loads; a model at peak load should hold range A"))
    return out


def _overloads(net: Network, branches: pd.DataFrame) -> list[Finding]:
    """Elements whose largest phase current exceeds their rating (:func:`~twin.grid.loading.loading_pct`)."""
    pct = loading_pct(net, branches)
    over = pct[pct > 100.0]
    if over.empty:
        return []
    load_pct = over.sort_values(ascending=False)
    shown = ", ".join(f"{e} {p:.0f} %" for e, p in load_pct.head(5).items())
    return [Finding(Severity.warning, "overload", "", tuple(load_pct.index[:_SHOWN]), field="i_amps",
                    value=float(load_pct.iloc[0]), count=len(load_pct),
                    message=f"{len(load_pct)} element(s) carry more than their rating at this load: {shown}",
                    fix="check the ratings, or reinforce / reconfigure before this model goes live")]


FCI_PICKUP_MARGIN = 1.5
"""A fault indicator's trip current should be at least this multiple of its line's load current:
below it, cold-load pickup and inrush after a reclose flag it with no fault."""


def _fci_pickups(net: Network, branches: pd.DataFrame) -> list[Finding]:
    """Fault indicators tripping within :data:`FCI_PICKUP_MARGIN` of their line's largest phase
    current at this load (the model's peak): they would flag on load, not on faults."""
    fci = net.fault_indicator
    if not len(fci) or branches.empty:
        return []
    lines = branches[branches["element"].str.startswith("line.")]
    amps = lines.groupby("element")["i_amps"].max()
    load = amps.reindex("line." + pd.Index(fci["line"].astype(str))).to_numpy(dtype=float)
    ratio = fci["trip_a"] / load
    bad = np.isfinite(ratio) & (ratio < FCI_PICKUP_MARGIN)
    if not bad.any():
        return []
    order = np.argsort(ratio[bad])
    ids, worst = fci.ids[bad][order], int(np.flatnonzero(bad)[order[0]])
    return [Finding(Severity.warning, "fci-pickup", "fault_indicator", tuple(ids[:_SHOWN].tolist()), field="trip_a",
                    value=float(fci["trip_a"][worst]), count=int(bad.sum()),
                    message=f"{int(bad.sum())} fault indicator(s) trip within {FCI_PICKUP_MARGIN:g} x their line's "
                            f"load current: {fci.ids[worst]} trips at {fci['trip_a'][worst]:.0f} A, its line "
                            f"carries {load[worst]:.0f} A",
                    fix=f"raise trip_a to at least {FCI_PICKUP_MARGIN:g} x the peak load (or fit auto-adjusting "
                        f"indicators); it must stay below the least fault current the indicator should see")]


POWERFLOW_RULES = (check_power_flow,)
