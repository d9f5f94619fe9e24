"""Fault studies: every bus's fault currents, the weakest fault of each protective zone, and
one fault worked out in full (the currents each protective device sees).

Definitions follow OpenDSS's fault study, so that the figures can be checked against it: at
each bus, ``i3ph_a`` is the largest phase current with all the bus's phases shorted together
and to ground (bolted), ``islg_a`` the largest single line-to-ground current over its phases,
``ill_a`` the largest line-to-line current over its pairs of phases (0 on a one-phase bus),
these two through OpenDSS's 1e-4 ohm (:data:`~twin.grid.shortcircuit.faults.STUDY_OHM`; it
matters only next to a stiff source, 3 % at the IEEE 13-node feeder's substation).
The *minimum* fault at a bus is the smaller of its single line-to-ground and line-to-line faults
through :data:`MIN_FAULT_OHM`; a protective device's *zone* is the buses it is the nearest
upstream protective device of, and its weakest point the zone's bus with the smallest minimum
fault (what the device must still see); faults behind a transformer below it belong to that
transformer's protection and are left out.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from twin.errors import ModelError
from twin.grid.network import Network
from twin.grid.powerflow.solver import PreparedNetwork, prepare
from twin.grid.schema import PROTECTIVE_KINDS, SwitchKind
from twin.grid.shortcircuit.faults import GROUNDED, FaultType, fault_currents, worst
from twin.grid.shortcircuit.thevenin import Thevenin, thevenin
from twin.grid.topology import build_topology

__all__ = ["MIN_FAULT_OHM", "FaultResult", "FaultStudy", "fault_at", "fault_study"]

MIN_FAULT_OHM = 0.0
"""Fault resistance of the minimum fault, ohms: bolted by default (what an overcurrent device is
set to see); pass a utility's high-impedance value (often 40 ohm) as ``r_min_ohm``."""

DEVICE_KINDS = PROTECTIVE_KINDS | {SwitchKind.sectionaliser}


@dataclass(frozen=True)
class FaultStudy:
    """``buses``: one row per live bus: ``bus, phases, v_nom_v, i3ph_a, islg_a, ill_a, imin_a``
    (the minimum fault: the smaller of SLG and LL through ``r_min_ohm``), ``zone`` (nearest upstream
    protective device, '' above the first).
    ``zones``: one row per protective device: ``device, kind, buses`` (of its zone at its own
    voltage), ``max_a`` (the largest bolted fault there), ``min_a`` and ``weakest_bus`` (its
    weakest point)."""

    buses: pd.DataFrame
    zones: pd.DataFrame
    r_min_ohm: float


@dataclass(frozen=True)
class FaultResult:
    """One fault: ``currents`` per faulted phase (``phase`` 1/2/3, ``i_a``, ``angle_deg``),
    ``devices`` the protective devices carrying fault current (``device, kind, on_path, phase,
    i_a, angle_deg``; ``on_path`` for those between the fault and its source), ``node_v`` the
    post-fault node voltages (volts, node order of the prepared network)."""

    bus: str
    kind: FaultType
    r_fault_ohm: float
    currents: pd.DataFrame
    devices: pd.DataFrame
    node_v: np.ndarray


def _phase_labels(flags: np.ndarray) -> np.ndarray:
    """'ABC', 'AC', 'S1S2'... of each bus's phase flags."""
    values, inverse = np.unique(np.asarray(flags, np.int64), return_inverse=True)
    names = [["A", "B", "C", "S1", "S2"][k] for k in range(5)]
    labels = np.array(["".join(n for k, n in enumerate(names) if int(v) & (1 << k)) for v in values], dtype=object)
    return labels[inverse.ravel()]


def _prepared(net: Network | PreparedNetwork) -> PreparedNetwork:
    return net if isinstance(net, PreparedNetwork) else prepare(net)


def _thevenin(prep: PreparedNetwork, prefault: str) -> Thevenin:
    if prefault not in ("flat", "powerflow"):
        raise ValueError(f"prefault must be 'flat' or 'powerflow', not {prefault!r}")
    return thevenin(prep, v_prefault=prep.solve_voltages()[0] if prefault == "powerflow" else None)


def fault_study(net: Network | PreparedNetwork, *, prefault: str = "powerflow",
                r_min_ohm: float = MIN_FAULT_OHM) -> FaultStudy:
    """Fault currents at every live bus and the weakest fault of every protective zone, for the
    network's present switch states, taps and loads; ``prefault``: 'powerflow' (OpenDSS's: the
    power flow's voltages, controls as the model holds them: settle them first with
    ``solve_controlled(net).network``) or 'flat' (the linear network, loads as admittances)."""
    prep = _prepared(net)
    th = _thevenin(prep, prefault)
    live = th.nodes >= 0
    rows = np.flatnonzero(live.any(axis=1))
    z, v, on = th.z[rows], th.v[rows], live[rows]
    bolted = worst(z, v, on)
    low = worst(z, v, on, r_slg_ohm=r_min_ohm, r_ll_ohm=2.0 * r_min_ohm)
    weak = np.where(low["ill"] > 0, np.minimum(low["islg"], low["ill"]), low["islg"])
    net_ = prep.net
    topo = build_topology(net_)
    zone_row = topo.protective[rows]
    sw = net_.switch
    zone = np.where(zone_row >= 0, sw.ids[np.maximum(zone_row, 0)] if len(sw) else "", "")
    buses = pd.DataFrame({
        "bus": net_.bus.ids[rows], "phases": _phase_labels(net_.bus["phases"][rows]), "v_nom_v": net_.bus["v_nom_v"][rows],
        "i3ph_a": bolted["i3ph"], "islg_a": bolted["islg"], "ill_a": bolted["ill"], "imin_a": weak, "zone": zone,
    })
    zones = _zones(zone_row, buses, sw, dict(zip(net_.bus.ids, net_.bus["v_nom_v"])))
    return FaultStudy(buses=buses.reset_index(drop=True),
                      zones=zones, r_min_ohm=r_min_ohm)


def _zones(zone_row: np.ndarray, buses: pd.DataFrame, sw, bus_v: dict[str, float]) -> pd.DataFrame:
    """One row per protective device with buses in its zone at its own voltage (a fault behind a
    service transformer reaches it divided by the turns ratio, and is the transformer's fuse's):
    their count, the largest bolted fault, and the weakest point (the smallest minimum fault)."""
    device_v = np.array([bus_v[b] for b in sw["from_bus"]]) if len(sw) else np.zeros(0)
    v_nom = buses["v_nom_v"].to_numpy()
    inside = np.flatnonzero((zone_row >= 0) & np.isclose(v_nom, device_v[np.maximum(zone_row, 0)] if len(sw)
                                                         else v_nom, rtol=1e-3))
    imin = buses["imin_a"].to_numpy()[inside]
    peak = buses[["i3ph_a", "islg_a", "ill_a"]].to_numpy().max(axis=1)[inside]
    order = np.lexsort((imin, zone_row[inside]))  # by zone, weakest first
    device, first, count = np.unique(zone_row[inside][order], return_index=True, return_counts=True)
    weakest = inside[order[first]]
    return pd.DataFrame({
        "device": sw.ids[device], "kind": [SwitchKind(int(k)).name for k in sw["kind"][device]], "buses": count,
        "max_a": np.maximum.reduceat(peak[order], first) if len(first) else np.zeros(0),
        "min_a": buses["imin_a"].to_numpy()[weakest], "weakest_bus": buses["bus"].to_numpy()[weakest],
    })


def fault_at(net: Network | PreparedNetwork, bus: str, kind: FaultType = FaultType.three_phase, *,
             phases: str | None = None, r_fault_ohm: float = 0.0, prefault: str = "powerflow",
             thevenin: Thevenin | None = None, topology=None) -> FaultResult:
    """One fault at ``bus``: ``phases`` the faulted phases ('A', 'BC'...; default: the bus's
    first (SLG) or first two (LL, LLG), or all (three-phase)); currents into the fault and the
    currents through every protective device, from the post-fault voltages of the whole network.
    Many faults on one network state: pass its :func:`~twin.grid.shortcircuit.thevenin` (and its
    topology) once made, instead of the network."""
    prep = thevenin.prep if thevenin is not None else _prepared(net)
    b = prep.net.bus.get(bus)
    if b is None:
        raise ModelError(f"no bus '{bus}' in {prep.net.name}", component="bus", element=bus,
                         fix="name a bus of the model (twin validate lists them)")
    th = thevenin if thevenin is not None else _thevenin(prep, prefault)
    live = th.nodes[b] >= 0
    if not live.any():
        raise ModelError(f"bus '{bus}' is de-energised: no fault current flows there", component="bus",
                         element=bus, fix="close the switches that feed it, or choose a live bus")
    faulted = _faulted_slots(kind, live, phases, bus)
    i = fault_currents(th.z[b:b + 1], th.v[b:b + 1], faulted[None, :], grounded=GROUNDED[FaultType(kind)],
                       r_fault_ohm=r_fault_ohm)[0]
    slots = np.flatnonzero(faulted)
    v_post = th.v_nodes + th.voltage_change(th.nodes[b, slots], i[slots])
    currents = pd.DataFrame({"phase": slots + 1, "i_a": np.abs(i[slots]), "angle_deg": np.degrees(np.angle(i[slots]))})
    return FaultResult(bus=bus, kind=FaultType(kind), r_fault_ohm=r_fault_ohm, currents=currents,
                       devices=_device_currents(prep, v_post, bus, float(np.abs(i).max()), topology), node_v=v_post)


def _faulted_slots(kind: FaultType, live: np.ndarray, phases: str | None, bus: str) -> np.ndarray:
    """Which of the bus's slots the fault joins."""
    need = {FaultType.slg: 1, FaultType.ll: 2, FaultType.llg: 2}.get(FaultType(kind))
    if phases:
        slots = ["ABC".index(p) for p in phases.upper() if p in "ABC"]
        if len(slots) != len(phases) or not all(live[s] for s in slots) or (need and len(slots) != need):
            raise ModelError(f"bus '{bus}' cannot take a {FaultType(kind).name} fault on phases '{phases}'",
                             component="bus", element=bus,
                             fix=f"give {need or 'its'} live phase(s) of {''.join('ABC'[s] for s in np.flatnonzero(live))}")
        out = np.zeros(3, bool)
        out[slots] = True
        return out
    present = np.flatnonzero(live)
    if need and len(present) < need:
        raise ModelError(f"bus '{bus}' has {len(present)} phase(s): no {FaultType(kind).name} fault there",
                         component="bus", element=bus, fix="choose a single line-to-ground fault")
    out = np.zeros(3, bool)
    out[present[:need] if need else present] = True
    return out


def _device_currents(prep: PreparedNetwork, v: np.ndarray, bus: str, i_fault: float, topology=None) -> pd.DataFrame:
    """Phase currents through each protective device (its source-side terminal) carrying at
    least 1 % of the fault current, with whether it lies between the fault and a source."""
    net = prep.net
    f = prep.flows
    ends = np.flatnonzero((f.table == "switch") & (f.terminal == 0) & (f.node >= 0) & (f.node < prep.nodes.n))
    cols = ["device", "kind", "on_path", "phase", "i_a", "angle_deg"]
    if not len(ends):
        return pd.DataFrame(columns=cols)
    i_end = (prep.flow_matrix @ v)[ends]
    sw = net.switch
    row = f.element[ends]
    kind = sw["kind"][row]
    keep = np.isin(kind, [int(k) for k in DEVICE_KINDS])
    path = set((topology or build_topology(net)).path_to_source(f"bus.{bus}"))
    out = pd.DataFrame({"device": sw.ids[row[keep]], "kind": [SwitchKind(int(k)).name for k in kind[keep]],
                        "phase": prep.nodes.slot[f.node[ends[keep]]] + 1, "i_a": np.abs(i_end[keep]),
                        "angle_deg": np.degrees(np.angle(i_end[keep]))})
    out.insert(2, "on_path", [f"switch.{d}" in path for d in out["device"]])
    big = out.groupby("device")["i_a"].transform("max") >= 0.01 * i_fault
    return out[big].sort_values(["on_path", "i_a"], ascending=[False, False]).reset_index(drop=True)[cols]
