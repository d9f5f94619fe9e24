"""Result tables of a power flow: voltages, branch flows, element losses and the power totals.

``voltages``: one row per bus and present phase, de-energised ones at 0 V. ``branches``: one row
per element (``table.id``), terminal (1: from end or winding 1) and phase, with the current and
the power flowing *into* the element there; ``element_losses`` sums that power over an
element's ends (what it absorbs).

Sign conventions: source power is what the sources deliver into the network; load power what the
loads draw; losses what lines, switches and transformers (copper and core) absorb. Shunt
capacitors are neither load nor loss: their (negative) reactive power is ``capacitor_kvar``. So
``source + generation = load + capacitor + losses``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from twin.grid.powerflow.nodes import SQRT3, is_split, slot_mask

__all__ = ["PowerFlowResult", "voltage_table", "totals", "branch_tables"]


@dataclass(frozen=True)
class PowerFlowResult:
    """Voltages (one row per bus and present phase: ``bus, phase, v_volts, v_pu, angle_deg``;
    phase 1/2/3 for A/B/C or legs 1/2), power totals in kW/kvar, iterations and the last
    voltage change (pu)."""

    voltages: pd.DataFrame
    source_kw: float
    source_kvar: float
    load_kw: float
    load_kvar: float
    losses_kw: float
    losses_kvar: float
    generation_kw: float
    generation_kvar: float
    capacitor_kvar: float
    iterations: int
    max_mismatch: float
    branches: pd.DataFrame = field(repr=False)  # per element, terminal and phase: current and power in
    element_losses: pd.DataFrame = field(repr=False)  # per element: losses_kw, losses_kvar
    node_v: np.ndarray = field(repr=False)  # complex volts per node of the prepared network


def voltage_table(bus_ids: np.ndarray, bus_phases: np.ndarray, v_nom_v: np.ndarray, node_of: np.ndarray,
                  v: np.ndarray) -> pd.DataFrame:
    """One row per bus and present slot; buses without nodes (de-energised) at 0 V."""
    present = slot_mask(bus_phases)
    bus, slot = np.nonzero(present)
    node = node_of[bus, slot]
    volts = np.where(node >= 0, np.concatenate([v, [0.0]])[node], 0.0)
    base = np.where(is_split(bus_phases)[bus], v_nom_v[bus] / 2.0, v_nom_v[bus] / SQRT3)
    return pd.DataFrame({
        "bus": bus_ids[bus],
        "phase": slot + 1,
        "v_volts": np.abs(volts),
        "v_pu": np.abs(volts) / base,
        "angle_deg": np.degrees(np.angle(volts)),
    })


def totals(v: np.ndarray, source_power: complex, y_branch, y_capacitor,
           v_comp: np.ndarray, i_comp: np.ndarray, generator: np.ndarray) -> dict[str, float]:
    """Power totals in kW and kvar from node voltages and component voltages and currents."""
    losses = complex(np.vdot(y_branch @ v, v)) if v.size else 0j
    cap = complex(np.vdot(y_capacitor @ v, v)) if v.size else 0j
    s_comp = v_comp * np.conj(i_comp)
    load = complex(s_comp[~generator].sum())
    gen = -complex(s_comp[generator].sum())
    return {
        "source_kw": source_power.real / 1e3, "source_kvar": source_power.imag / 1e3,
        "load_kw": load.real / 1e3, "load_kvar": load.imag / 1e3,
        "losses_kw": losses.real / 1e3, "losses_kvar": losses.imag / 1e3,
        "generation_kw": gen.real / 1e3, "generation_kvar": gen.imag / 1e3,
        "capacitor_kvar": cap.imag / 1e3,
    }


def branch_tables(table: np.ndarray, element: np.ndarray, terminal: np.ndarray, node: np.ndarray,
                  i_end: np.ndarray, v: np.ndarray, node_bus: np.ndarray, node_slot: np.ndarray,
                  ids: dict[str, np.ndarray], bus_ids: np.ndarray) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per-terminal-phase flows and per-element losses from conductor-end currents ``i_end``.

    Ends on the same node (a delta winding's two ends meet on each phase) add up; ends on ground
    carry no power; ends on internal nodes (an ungrounded neutral) count in losses only.
    """
    names = np.concatenate([np.array([f"{t}."], dtype=object) + ids[t] for t in ids])
    offset = dict(zip(ids, np.cumsum([0] + [len(x) for x in ids.values()])))
    glob = np.zeros(len(table), dtype=np.int64)
    for t in ids:
        at = table == t
        glob[at] = offset[t] + element[at]
    on_node = node >= 0
    s_end = np.where(on_node, np.concatenate([v, [0.0]])[node] * np.conj(i_end), 0.0)
    used, where = np.unique(glob, return_inverse=True)
    losses = pd.DataFrame({
        "element": names[used],
        "losses_kw": np.bincount(where, weights=s_end.real, minlength=len(used)) / 1e3,
        "losses_kvar": np.bincount(where, weights=s_end.imag, minlength=len(used)) / 1e3,
    })
    phase = on_node & (node < len(node_bus))
    n_nodes = len(node_bus)
    key = (glob[phase] * 3 + terminal[phase]) * n_nodes + node[phase]
    keys, where = np.unique(key, return_inverse=True)
    i = (np.bincount(where, weights=i_end[phase].real, minlength=len(keys))
         + 1j * np.bincount(where, weights=i_end[phase].imag, minlength=len(keys)))
    node_ = keys % n_nodes
    s = v[node_] * np.conj(i)
    branches = pd.DataFrame({
        "element": names[keys // n_nodes // 3], "terminal": (keys // n_nodes) % 3 + 1, "bus": bus_ids[node_bus[node_]],
        "phase": node_slot[node_] + 1, "i_amps": np.abs(i), "i_angle_deg": np.degrees(np.angle(i)),
        "p_kw": s.real / 1e3, "q_kvar": s.imag / 1e3,
    })
    return branches, losses
