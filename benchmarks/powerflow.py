"""Power-flow benchmark: Twin against OpenDSS (and power-grid-model) on the same cases, in one run.

Cases: the IEEE 123 and 8500-node feeders (OpenDSS masters in ``../shared/feeders``), synthetic
territories of 10k, 100k and 1M customers (:func:`~twin.world.territory.generate_territory`, seed 1,
written for OpenDSS with :func:`~twin.grid.opendss.save_opendss`), and a *three-phase equivalent*
of each territory (below) that power-grid-model can model too. For each case and engine, in its
own subprocess (so that ``ru_maxrss`` is that engine's peak alone):

* model load: Twin ``load_opendss`` (feeders), ``generate_territory`` (territories) or
  ``load_native`` (equivalents), then ``prepare`` (Y built and factored) apart; OpenDSS ``compile``;
  power-grid-model building its input arrays, then ``PowerGridModel(...)`` apart;
* first solve: Twin ``solve_voltages`` on the prepared network (``prepare`` + that is Twin's whole
  first solve); OpenDSS ``Solve`` after ``Set controlmode=off``; power-grid-model
  ``calculate_power_flow(symmetric=False)``;
* warm re-solve after a load change: all loads times 0.9, then back to 1.0, alternately (median
  of many). Twin ``solve_voltages(load_scale=..., start=last)`` on the same factorisation; its
  first four re-solves are printed apart (the second visit of each load level builds that
  level's linearised Jacobian, which the later ones reuse);
  OpenDSS ``Set loadmult=...`` then ``Solve`` (it starts from the last solution too);
  power-grid-model ``update`` of the loads then ``calculate_power_flow``;
* iterations, peak memory, and the largest voltage difference to Twin at any node (magnitude in
  per unit of the node's base, angle in degrees), so that the engines are seen to solve the same
  case.

Controls are frozen on both sides: OpenDSS runs with ``controlmode=off`` (Twin's regulator and
capacitor control loop sits outside the solve), so both solve the taps and capacitor states the
model holds. OpenDSS's ``loadmult`` (and a yearly Loadshape) leaves ``status=fixed`` loads as they
are (24 of the 8500 feeder's 1,177); Twin's load table holds no status, so Twin is given per-load
scales that leave those loads at 1 too (:func:`unscaled_loads`). Each engine uses its own default tolerance (Twin 1e-8 pu voltage change, OpenDSS
1e-4, power-grid-model 1e-8); Twin's re-solve at OpenDSS's 1e-4 is printed too.

8,760 hourly snapshots of the IEEE 8500 feeder: a yearly shape (seasonal and daily sinusoids
with seeded noise, :func:`year_multipliers`) solved by Twin in one ``solve_batch`` call, against
OpenDSS in ``mode=yearly`` over a Loadshape of the same multipliers (one ``Solve`` runs the
year inside the engine) and as a Python loop of ``loadmult`` + ``Solve``; the faster is the
reference. Twin's batch is timed twice: keeping every node of every hour (1.2 GB of results,
which OpenDSS does not keep) and keeping every 100th node (``nodes=``). Three hours are checked
node by node against Twin's batch.

Twin's kernels are compiled (numba) on first use after an install and then loaded from an
on-disk cache, once per process (about 0.2 s): each Twin child loads them on a small territory
before it times anything, and the report prints that apart.

Three-phase equivalent of a territory (:func:`three_phase_equivalent`): the three-phase primary
network only (sources, substation transformers, trunks and three-phase branches, capacitors,
closed switches; a bank of single-phase regulators becomes a closed switch per phase), each
lateral's loads (everything fed through a bus that is not three-phase, service transformers and
secondaries included) lumped at its tap bus as one constant-power wye load per phase (the phase
of each service transformer's primary). power-grid-model has no single-phase or centre-tapped
transformers, so only this equivalent puts the three engines side by side on identical data.
(Twin and OpenDSS agree on it to a few 1e-5 pu; power-grid-model is 3e-4 pu off because it places
the transformers' no-load branch differently: without it, 1e-7 pu on the 10k equivalent.)

    python benchmarks/powerflow.py                          # everything (about 10 minutes)
    python benchmarks/powerflow.py --cases ieee123 10k      # some cases
    python benchmarks/powerflow.py --skip-1m
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
FEEDERS = ROOT.parent / "shared" / "feeders"
FEEDER_MASTERS = {"ieee123": FEEDERS / "123bus" / "ieee123master.dss",
                  "ieee8500": FEEDERS / "8500-node" / "master.dss"}
TERRITORIES = {"10k": 10_000, "100k": 100_000, "1m": 1_000_000}
ALL_CASES = ("ieee123", "ieee8500", "10k", "100k", "1m")
SEED = 1
LOAD_CHANGE = (0.9, 1.0)  # the warm re-solves alternate between these load scales
HOURS = 8760
YEAR_NODE_STEP = 100  # the year's reduced result keeps every 100th node
FREQUENCY_HZ = 60.0


# -- timing helpers ---------------------------------------------------------------------------


def _peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # kilobytes on Linux


def _timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def _median(fn: Callable[[int], Any], *, budget_s: float = 2.0, least: int = 3, most: int = 101) -> tuple[float, int]:
    """Median seconds of ``fn(k)`` over repeats (k counts them) until ``budget_s`` or ``most``."""
    times: list[float] = []
    spent = 0.0
    while len(times) < least or (spent < budget_s and len(times) < most):
        start = time.perf_counter()
        fn(len(times))
        times.append(time.perf_counter() - start)
        spent += times[-1]
    return statistics.median(times), len(times)


def unscaled_loads(master: Path) -> list[str]:
    """Loads OpenDSS does not scale with ``loadmult`` (``status=fixed`` or ``exempt``), lower case.

    Twin's load table holds no status (the importer drops it), so a scalar ``load_scale`` would
    scale them too; the benchmark passes per-load scales that leave these at 1 instead."""
    import dss

    engine = dss.DSS
    engine.Text.Command = "clear"
    engine.Text.Command = f'compile "{master}"'
    loads = engine.ActiveCircuit.Loads
    names = []
    more = loads.First
    while more:
        if int(loads.Status) != 0:
            names.append(loads.Name.lower())
        more = loads.Next
    engine.Text.Command = "clear"
    return names


def _load_scaler(net, folder: Path) -> Callable[[Any], Any]:
    """``scale(m)``: Twin's ``load_scale`` for multiplier(s) ``m`` (scalar or (k,)), leaving
    the loads OpenDSS does not scale (``unscaled.json`` in ``folder``) at 1."""
    path = folder / "unscaled.json"
    names = json.loads(path.read_text()) if path.exists() else []
    fixed = np.isin(np.char.lower(net.load.ids.astype(str)), names)
    if not fixed.any():
        return lambda m: m
    return lambda m: np.where(fixed, 1.0, np.asarray(m, float)[..., None])


def year_multipliers(hours: int = HOURS, seed: int = SEED) -> np.ndarray:
    """Hourly load multipliers for a year: a seasonal swing (summer peak, a winter shoulder), a
    daily one (night trough, evening peak) and 4 % seeded noise, between 0.25 and 1.05."""
    rng = np.random.default_rng(seed)
    t = np.arange(hours, dtype=float)
    day, hour = t / 24.0, t % 24.0
    seasonal = 0.12 * np.cos(2 * np.pi * (day - 200.0) / 365.25) + 0.04 * np.cos(4 * np.pi * (day - 15.0) / 365.25)
    daily = 0.16 * np.cos(2 * np.pi * (hour - 18.0) / 24.0) + 0.05 * np.cos(4 * np.pi * (hour - 9.0) / 24.0)
    return np.clip(0.62 + seasonal + daily + rng.normal(0.0, 0.04, hours), 0.25, 1.05)


# -- the three-phase equivalent of a territory ------------------------------------------------


def three_phase_equivalent(net):
    """The three-phase primary of ``net`` with each lateral's loads lumped at its tap, per phase."""
    import scipy.sparse as sp
    from scipy.sparse.csgraph import connected_components

    from twin.grid import SCHEMAS, Network, Table
    from twin.grid.powerflow.nodes import slot_mask
    from twin.grid.schema import Conn, Phase, SwitchKind, TransformerKind

    bus = net.bus
    nb = len(bus)
    three = bus["phases"] == int(Phase.ABC)
    line, sw, xf, load = net.line, net.switch, net.transformer, net.load
    edges = [(bus.index(line["from_bus"])[line["in_service"]], bus.index(line["to_bus"])[line["in_service"]]),
             (bus.index(sw["from_bus"])[~sw["open"]], bus.index(sw["to_bus"])[~sw["open"]])]
    for w in (1, 2):
        has = xf["n_windings"] > w
        edges.append((bus.index(xf["bus"][has, 0]), bus.index(xf["bus"][has, w])))
    a = np.concatenate([e[0] for e in edges])
    b = np.concatenate([e[1] for e in edges])
    inner = ~three[a] & ~three[b]
    graph = sp.coo_matrix((np.ones(inner.sum()), (a[inner], b[inner])), shape=(nb, nb))
    _, comp = connected_components(graph, directed=False)
    tap = np.full(nb, -1, dtype=np.int64)  # tap bus of each component of non-three-phase buses
    cross = three[a] != three[b]
    tap[comp[np.where(three[a], b, a)[cross]]] = np.where(three[a], a, b)[cross]
    # the primary phase of each load: its service transformer's, else its own first phase
    slot = np.argmax(slot_mask(load["phases"]), axis=1)
    sp_ = net.service_point
    if len(sp_):
        lrow, xrow = load.index(sp_["load"]), xf.index(sp_["transformer"])
        slot[lrow] = np.argmax(slot_mask(xf["phases"][xrow, 0]), axis=1)
    lb = bus.index(load["bus"])
    at = np.where(three[lb], lb, tap[comp[lb]])
    live = at >= 0
    p = np.zeros((nb, 3))
    q = np.zeros((nb, 3))
    keep_own = three[lb] & live  # loads already on a three-phase bus keep their phases
    np.add.at(p, at[keep_own], load["p_w"][keep_own])
    np.add.at(q, at[keep_own], load["q_var"][keep_own])
    lumped = ~three[lb] & live
    np.add.at(p, (at[lumped], slot[lumped]), load["p_w"][lumped].sum(axis=1))
    np.add.at(q, (at[lumped], slot[lumped]), load["q_var"][lumped].sum(axis=1))
    loaded = np.flatnonzero((np.abs(p).sum(axis=1) + np.abs(q).sum(axis=1)) > 0)
    n = len(loaded)
    eq_load = Table(SCHEMAS["load"], {
        "id": np.array([f"EQ-{i}" for i in bus.ids[loaded]], dtype=object), "bus": bus.ids[loaded],
        "phases": np.full(n, int(Phase.ABC)), "conn": np.full(n, int(Conn.wye)),
        "v_rated_v": bus["v_nom_v"][loaded], "p_w": p[loaded], "q_var": q[loaded],
        "zip_p": np.tile([0.0, 0.0, 1.0], (n, 1)), "zip_q": np.tile([0.0, 0.0, 1.0], (n, 1)),
        # constant power throughout (power-grid-model has no low-voltage fall-back to impedance)
        "v_min_pu": np.full(n, 0.7), "v_max_pu": np.full(n, 1.3), "cls": np.zeros(n)})
    lf, lt = bus.index(line["from_bus"]), bus.index(line["to_bus"])
    sf, st = bus.index(sw["from_bus"]), bus.index(sw["to_bus"])
    x0, x1 = bus.index(xf["bus"][:, 0]), bus.index(np.where(xf["n_windings"] > 1, xf["bus"][:, 1], xf["bus"][:, 0]))
    on_three = three[x0] & three[x1] & (xf["n_windings"] == 2)
    kept_xf = on_three & (xf["kind"] == int(TransformerKind.three_phase))
    reg = np.flatnonzero(on_three & (xf["kind"] != int(TransformerKind.three_phase)))  # regulator banks
    reg_sw = Table(SCHEMAS["switch"], {
        "id": xf.ids[reg], "from_bus": xf["bus"][reg, 0], "to_bus": xf["bus"][reg, 1],
        "phases": xf["phases"][reg, 0], "kind": np.full(len(reg), int(SwitchKind.disconnect)),
        "normal_open": np.zeros(len(reg), bool), "open": np.zeros(len(reg), bool)})
    cap = net.capacitor
    cb = bus.index(cap["bus"])
    tables = {
        "bus": bus.take(np.flatnonzero(three)), "line_code": net.line_code,
        "line": line.take(np.flatnonzero(three[lf] & three[lt] & (line["phases"] == int(Phase.ABC)))),
        "switch": Table.concat([sw.take(np.flatnonzero(three[sf] & three[st])), reg_sw]),
        "transformer": xf.take(np.flatnonzero(kept_xf)), "capacitor": cap.take(np.flatnonzero(three[cb])),
        "load": eq_load, "source": net.source,
    }
    return Network.from_tables(f"{net.name}-3ph", tables)


def pgm_input(eq) -> tuple[dict, np.ndarray, np.ndarray]:
    """power-grid-model input of a three-phase equivalent; also the node ids' bus names and the
    load ids (for updates)."""
    from power_grid_model import (
        ComponentType,
        LoadGenType,
        WindingType,
        initialize_array,
    )

    from twin.grid.powerflow.nodes import slot_mask
    from twin.grid.schema import Conn

    bus, line, code, sw, xf, cap, load, src = (eq.bus, eq.line, eq.line_code, eq.switch, eq.transformer,
                                               eq.capacitor, eq.load, eq.source)
    next_id = [len(bus)]

    def ids(n: int) -> np.ndarray:
        out = np.arange(next_id[0], next_id[0] + n)
        next_id[0] += n
        return out

    node = initialize_array("input", ComponentType.node, len(bus))
    node["id"] = np.arange(len(bus))
    node["u_rated"] = bus["v_nom_v"]
    on = np.flatnonzero(line["in_service"])
    c, length = code.index(line["code"][on]), line["length_m"][on]
    r = code["r_ohm_per_m"][c] * length[:, None, None]
    x = code["x_ohm_per_m"][c] * length[:, None, None]
    cap_f = code["b_s_per_m"][c] * length[:, None, None] / (2 * np.pi * FREQUENCY_HZ)
    # closed switches: their impedance per phase as Twin and OpenDSS hold it (not an ideal link);
    # the single-phase switches standing in for a regulator bank join into one three-phase branch
    closed = np.flatnonzero(~sw["open"])
    ends = np.stack([bus.index(sw["from_bus"][closed]), bus.index(sw["to_bus"][closed])], axis=1)
    pairs, pair_of = np.unique(ends.reshape(-1, 2), axis=0, return_inverse=True)
    z_sw = np.full((len(pairs), 3), 1e-3 + 1e-3j)
    row, slot = np.nonzero(slot_mask(sw["phases"][closed]))
    z_sw[pair_of.ravel()[row], slot] = (sw["r_ohm"] + 1j * sw["x_ohm"])[closed][row]
    z_sw_m = z_sw[:, :, None] * np.eye(3)
    r = np.concatenate([r, z_sw_m.real])
    x = np.concatenate([x, z_sw_m.imag])
    cap_f = np.concatenate([cap_f, np.zeros((len(pairs), 3, 3))])
    ln = initialize_array("input", ComponentType.asym_line, len(on) + len(pairs))
    ln["id"] = ids(len(ln))
    ln["from_node"] = np.concatenate([bus.index(line["from_bus"][on]), pairs[:, 0]])
    ln["to_node"] = np.concatenate([bus.index(line["to_bus"][on]), pairs[:, 1]])
    ln["from_status"] = ln["to_status"] = 1
    for name, (i, j) in {"aa": (0, 0), "ba": (1, 0), "bb": (1, 1), "ca": (2, 0), "cb": (2, 1), "cc": (2, 2)}.items():
        ln[f"r_{name}"], ln[f"x_{name}"], ln[f"c_{name}"] = r[:, i, j], x[:, i, j], cap_f[:, i, j]
    ln["i_n"] = 1000.0
    tr = initialize_array("input", ComponentType.transformer, len(xf))
    tr["id"] = ids(len(xf))
    tr["from_node"], tr["to_node"] = bus.index(xf["bus"][:, 0]), bus.index(xf["bus"][:, 1])
    tr["from_status"] = tr["to_status"] = 1
    sn = xf["s_rated_va"][:, 0]
    tr["u1"], tr["u2"] = xf["v_rated_v"][:, 0] * xf["tap_pu"][:, 0], xf["v_rated_v"][:, 1] * xf["tap_pu"][:, 1]
    tr["sn"] = sn
    r_sc = (xf["r_pct"][:, 0] + xf["r_pct"][:, 1]) / 100.0
    tr["uk"] = np.hypot(r_sc, xf["x_hl_pct"] / 100.0)
    tr["pk"] = r_sc * sn
    tr["i0"] = np.hypot(xf["no_load_loss_pct"], xf["imag_pct"]) / 100.0
    tr["p0"] = xf["no_load_loss_pct"] / 100.0 * sn
    kinds = {int(Conn.wye): WindingType.wye_n, int(Conn.delta): WindingType.delta, int(Conn.wye_ungrounded): WindingType.wye}
    tr["winding_from"] = [kinds[int(k)] for k in xf["conn"][:, 0]]
    tr["winding_to"] = [kinds[int(k)] for k in xf["conn"][:, 1]]
    # ANSI delta-wye: the low side lags by 30 degrees (Dyn1); wye-wye and delta-delta: 0
    tr["clock"] = np.where(xf["conn"][:, 0] == xf["conn"][:, 1], 0, np.where(xf["conn"][:, 0] == int(Conn.delta), 1, 11))
    tr["tap_side"], tr["tap_pos"], tr["tap_min"], tr["tap_max"], tr["tap_nom"], tr["tap_size"] = 0, 0, 0, 0, 0, 0.0
    on_cap = np.flatnonzero(cap["closed"])
    sh = initialize_array("input", ComponentType.shunt, len(on_cap))
    sh["id"] = ids(len(on_cap))
    sh["node"] = bus.index(cap["bus"][on_cap])
    sh["status"] = 1
    b1 = cap["q_rated_var"][on_cap].sum(axis=1) / cap["v_rated_v"][on_cap] ** 2  # wye: 3 x q_phase / V_LL^2
    sh["g1"] = sh["g0"] = 0.0
    sh["b1"] = sh["b0"] = b1
    so = initialize_array("input", ComponentType.source, len(src))
    so["id"] = ids(len(src))
    so["node"] = bus.index(src["bus"])
    so["status"] = 1
    so["u_ref"], so["u_ref_angle"] = src["v_pu"], src["angle_rad"]
    z1, z0 = np.hypot(src["r1_ohm"], src["x1_ohm"]), np.hypot(src["r0_ohm"], src["x0_ohm"])
    so["sk"] = src["v_nom_v"] ** 2 / z1
    so["rx_ratio"] = src["r1_ohm"] / src["x1_ohm"]
    so["z01_ratio"] = z0 / z1
    ld = initialize_array("input", ComponentType.asym_load, len(load))
    ld["id"] = ids(len(load))
    ld["node"] = bus.index(load["bus"])
    ld["status"] = 1
    ld["type"] = LoadGenType.const_power
    ld["p_specified"], ld["q_specified"] = load["p_w"], load["q_var"]
    data = {ComponentType.node: node, ComponentType.asym_line: ln,
            ComponentType.transformer: tr, ComponentType.shunt: sh, ComponentType.source: so,
            ComponentType.asym_load: ld}
    return data, bus.ids, ld["id"].copy()


# -- the engines, one case each (run in a child process) --------------------------------------


def _twin_voltages(prep, v: np.ndarray) -> dict[str, np.ndarray]:
    nodes = prep.nodes
    names = np.char.add(np.char.add(np.char.lower(prep.net.bus.ids[nodes.bus].astype(str)), "."),
                        (nodes.slot + 1).astype(str))
    return {"names": names, "v": v[: nodes.n], "base": nodes.base_v}


def _warm_twin() -> float:
    """Seconds to load Twin's compiled kernels (numba, from its on-disk cache; compiled on the
    first run after an install): once per process, so solved on a small territory before any
    timing, and printed apart."""
    from twin.grid.powerflow import prepare
    from twin.grid.powerflow.batch import BATCH_LINEARISED
    from twin.world.territory import generate_territory

    def warm() -> None:
        prep = prepare(generate_territory(100, seed=SEED))
        v, _, _ = prep.solve_voltages()
        for scale in (0.9, 1.0, 0.9):
            v, _, _ = prep.solve_voltages(load_scale=scale, start=v)
        prep.solve_batch(np.linspace(0.5, 1.0, BATCH_LINEARISED))
        prep.solve_batch(np.linspace(0.5, 1.0, 4))

    return _timed(warm)[0]


def twin_case(case: str, folder: Path) -> dict[str, Any]:
    """Twin on one case: model load, prepare, first solve, warm re-solves; voltages to ``folder``."""
    from twin.grid.powerflow import prepare, result_of

    out: dict[str, Any] = {"engine": "twin", "warmup_s": _warm_twin(), "base_mib": _peak_mib()}
    if case in FEEDER_MASTERS:
        from twin.grid.opendss import load_opendss

        out["load_s"], net = _timed(lambda: load_opendss(FEEDER_MASTERS[case]))
    elif case.endswith("-3ph"):
        from twin.grid.native import load_native

        out["load_s"], net = _timed(lambda: load_native(folder / "eq-native"))
    else:
        from twin.world.territory import generate_territory

        out["load_s"], net = _timed(lambda: generate_territory(TERRITORIES[case], seed=SEED))
    scale = _load_scaler(net, folder)
    out["prepare_s"], prep = _timed(lambda: prepare(net))
    out["first_s"], (v, it, _) = _timed(lambda: prep.solve_voltages())
    out["first_iterations"] = it
    out["nodes"] = prep.nodes.n
    np.savez(folder / "twin-v.npz", **_twin_voltages(prep, v))
    last = [v]
    iters: list[int] = []

    def resolve(k: int, tol: float = 1e-8) -> None:
        v2, it2, _ = prep.solve_voltages(load_scale=scale(LOAD_CHANGE[k % 2]), start=last[0], tol=tol)
        last[0] = v2
        iters.append(it2)

    # The first visits of each load level: the second one builds that level's Jacobian, which
    # every later re-solve there reuses (timed apart, then the steady state's median).
    out["resolve_first_s"] = [_timed(lambda k=k: resolve(k))[0] for k in range(4)]
    iters.clear()
    out["resolve_s"], out["resolve_n"] = _median(resolve)
    out["resolve_iterations"] = int(np.median(iters))
    iters.clear()
    out["resolve_loose_s"], _ = _median(lambda k: resolve(k, tol=1e-4))
    out["resolve_loose_iterations"] = int(np.median(iters))
    out["tables_s"], _ = _median(lambda k: result_of(prep, load_scale=scale(LOAD_CHANGE[k % 2])), budget_s=1.0)
    out["peak_mib"] = _peak_mib()
    if case in TERRITORIES:  # untimed: the same network for OpenDSS, and its equivalent for all three
        from twin.grid.native import save_native
        from twin.grid.opendss import save_opendss

        out["export_s"], _ = _timed(lambda: save_opendss(net, folder / "dss"))
        eq = three_phase_equivalent(net)
        save_native(eq, folder / "eq-native")
        save_opendss(eq, folder / "eq-dss")
    return out


def _dss_master(case: str, folder: Path) -> Path:
    if case in FEEDER_MASTERS:
        return FEEDER_MASTERS[case]
    return folder / ("eq-dss" if case.endswith("-3ph") else "dss") / "master.dss"


def opendss_case(case: str, folder: Path) -> dict[str, Any]:
    """OpenDSS (dss-python) on one case: compile, solve, loadmult + solve; voltages to ``folder``."""
    import dss

    engine = dss.DSS
    text = engine.Text
    out: dict[str, Any] = {"engine": "opendss", "base_mib": _peak_mib()}
    text.Command = "clear"
    master = _dss_master(case, folder)
    out["load_s"], _ = _timed(lambda: setattr(text, "Command", f'compile "{master}"'))
    circuit = engine.ActiveCircuit
    sol = circuit.Solution
    text.Command = "Set controlmode=off"
    text.Command = "Set maxiterations=100"
    out["first_s"], _ = _timed(sol.Solve)
    out["first_iterations"], out["converged"] = sol.Iterations, bool(sol.Converged)
    out["nodes"] = circuit.NumNodes
    volts = np.array(circuit.AllBusVolts).reshape(-1, 2)
    np.savez(folder / "opendss-v.npz", names=np.char.lower(np.array(circuit.AllNodeNames, dtype=str)),
             v=volts[:, 0] + 1j * volts[:, 1])
    iters: list[int] = []

    def resolve(k: int) -> None:
        text.Command = f"Set loadmult={LOAD_CHANGE[k % 2]}"
        sol.Solve()
        iters.append(sol.Iterations)

    out["resolve_s"], out["resolve_n"] = _median(resolve)
    out["resolve_iterations"] = int(np.median(iters))
    out["peak_mib"] = _peak_mib()
    return out


def pgm_case(case: str, folder: Path) -> dict[str, Any]:
    """power-grid-model on a three-phase equivalent: Newton-Raphson and iterative current."""
    from power_grid_model import (
        CalculationMethod,
        ComponentType,
        PowerGridModel,
        initialize_array,
    )

    import twin.grid.powerflow.nodes  # noqa: F401  (imported before the timing: pgm_input uses it)
    from twin.grid.native import load_native

    out: dict[str, Any] = {"engine": "pgm", "base_mib": _peak_mib()}
    eq = load_native(folder / "eq-native")
    out["input_s"], (data, names, load_ids) = _timed(lambda: pgm_input(eq))
    out["load_s"], model = _timed(lambda: PowerGridModel(data, system_frequency=FREQUENCY_HZ))
    out["nodes"] = 3 * len(data[ComponentType.node])
    p0, q0 = data[ComponentType.asym_load]["p_specified"].copy(), data[ComponentType.asym_load]["q_specified"].copy()
    node_names = np.char.add(np.repeat(np.char.lower(names.astype(str)), 3) + ".", np.tile(["1", "2", "3"], len(names)))
    methods = {"nr": CalculationMethod.newton_raphson, "ic": CalculationMethod.iterative_current}

    def calc(method):
        return model.calculate_power_flow(symmetric=False, calculation_method=method, max_iterations=100,
                                          error_tolerance=1e-8, output_component_types=[ComponentType.node])

    def set_scale(scale: float) -> None:
        upd = initialize_array("update", ComponentType.asym_load, len(load_ids))
        upd["id"] = load_ids
        upd["p_specified"], upd["q_specified"] = p0 * scale, q0 * scale
        model.update(update_data={ComponentType.asym_load: upd})

    for tag, method in methods.items():  # first solves, both at the loads as given
        out[f"first_{tag}_s"], result = _timed(lambda m=method: calc(m))
        u = result[ComponentType.node]
        np.savez(folder / f"pgm-{tag}-v.npz", names=node_names, v=(u["u"] * np.exp(1j * u["u_angle"])).ravel())
    for tag, method in methods.items():
        def resolve(k: int, method=method) -> None:
            set_scale(LOAD_CHANGE[k % 2])
            calc(method)

        out[f"resolve_{tag}_s"], out[f"resolve_{tag}_n"] = _median(resolve)
        set_scale(1.0)
    out["peak_mib"] = _peak_mib()
    return out


def twin_year(case: str, folder: Path) -> dict[str, Any]:
    """Twin: the 8,760 snapshots of the IEEE 8500 feeder in one batch call."""
    from twin.grid.opendss import load_opendss
    from twin.grid.powerflow import prepare

    out: dict[str, Any] = {"engine": "twin", "warmup_s": _warm_twin(), "base_mib": _peak_mib()}
    mult = year_multipliers()
    net = load_opendss(FEEDER_MASTERS["ieee8500"])
    out["prepare_s"], prep = _timed(lambda: prepare(net))
    load_scale = _load_scaler(net, folder)(mult)  # (hours, loads)
    few = np.arange(0, prep.nodes.n, YEAR_NODE_STEP)  # a reduced result: every 100th node
    out["batch_few_s"], _ = _timed(lambda: prep.solve_batch(load_scale, nodes=few))
    out["few_nodes"] = len(few)
    out["peak_few_mib"] = _peak_mib()
    out["batch_s"], batch = _timed(lambda: prep.solve_batch(load_scale))
    out["iterations"] = batch.iterations
    out["peak_mib"] = _peak_mib()
    out["batch_loose_s"], loose = _timed(lambda: prep.solve_batch(load_scale, tol=1e-4))
    out["iterations_loose"] = loose.iterations
    del loose
    checks = _check_hours()
    np.savez(folder / "twin-year-v.npz", v=batch.v[checks], **{k: w for k, w in _twin_voltages(prep, prep.i_source).items()
                                                              if k != "v"})
    return out


def _check_hours() -> np.ndarray:
    mult = year_multipliers()
    return np.array([int(np.argmin(mult)), HOURS // 2, int(np.argmax(mult))])


def opendss_year(case: str, folder: Path) -> dict[str, Any]:
    """OpenDSS: the 8,760 snapshots, in yearly mode over a Loadshape and as a loadmult + Solve loop."""
    import dss

    engine = dss.DSS
    text = engine.Text
    out: dict[str, Any] = {"engine": "opendss", "base_mib": _peak_mib()}
    mult = year_multipliers()
    np.savetxt(folder / "year.csv", mult, fmt="%.17g")
    checks = list(_check_hours())
    text.Command = "clear"
    text.Command = f'compile "{FEEDER_MASTERS["ieee8500"]}"'
    circuit = engine.ActiveCircuit
    sol = circuit.Solution
    text.Command = "Set controlmode=off"
    text.Command = "Set maxiterations=100"
    sol.Solve()
    names = np.char.lower(np.array(circuit.AllNodeNames, dtype=str))
    saved = {}

    def loop() -> None:
        for h, m in enumerate(mult):
            text.Command = f"Set loadmult={m}"  # the Python loop an OpenDSS user writes
            sol.Solve()
            if h in checks:
                volts = np.array(circuit.AllBusVolts).reshape(-1, 2)
                saved[h] = volts[:, 0] + 1j * volts[:, 1]

    out["loop_s"], _ = _timed(loop)
    text.Command = "Set loadmult=1"
    text.Command = f'New Loadshape.year npts={HOURS} interval=1 mult=(file="{folder / "year.csv"}")'
    text.Command = "BatchEdit Load..* yearly=year"
    text.Command = f"Set mode=yearly number={HOURS} stepsize=1h"
    sol.Hour = 0
    out["yearly_s"], _ = _timed(sol.Solve)
    out["peak_mib"] = _peak_mib()
    np.savez(folder / "opendss-year-v.npz", names=names, v=np.stack([saved[h] for h in checks]))
    return out


def compare_case(case: str, folder: Path) -> dict[str, Any]:
    """Voltage differences to Twin of every engine that left voltages in ``folder``."""
    out = {}
    for key, name in (("opendss", "opendss-v.npz"), ("pgm_nr", "pgm-nr-v.npz"), ("pgm_ic", "pgm-ic-v.npz")):
        if (folder / name).exists():
            out[key] = _difference(folder, name)
    return out


def compare_year(case: str, folder: Path) -> dict[str, Any]:
    """Largest |V| difference between Twin's batch and OpenDSS at the three checked hours."""
    a, b = np.load(folder / "twin-year-v.npz"), np.load(folder / "opendss-year-v.npz")
    index = {n: k for k, n in enumerate(a["names"])}
    pick = np.array([index.get(n, -1) for n in b["names"]])
    ok = pick >= 0
    base = a["base"][pick[ok]]
    va, vb = a["v"][:, pick[ok]], b["v"][:, ok]
    live = np.abs(va) > 0.1 * base
    return {"dv_pu": float((np.abs(np.abs(va) - np.abs(vb)) / base)[live].max())}


def unscaled_case(case: str, folder: Path) -> dict[str, Any]:
    """Write ``unscaled.json`` (see :func:`unscaled_loads`) for a feeder case."""
    names = unscaled_loads(FEEDER_MASTERS[case])
    (folder / "unscaled.json").write_text(json.dumps(names))
    return {"unscaled": len(names)}


ENGINES = {"compare": compare_case, "compare-year": compare_year, "unscaled": unscaled_case, "twin": twin_case, "opendss": opendss_case, "pgm": pgm_case, "twin-year": twin_year,
           "opendss-year": opendss_year}


# -- the parent: run the children, compare, print ---------------------------------------------


def _child(engine: str, case: str, folder: Path, timeout_s: float = 900.0) -> dict[str, Any]:
    cmd = [sys.executable, __file__, "--child", engine, case, "--folder", str(folder)]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    start = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False, timeout=timeout_s)
    if done.returncode:
        return {"engine": engine, "error": done.stderr.strip().splitlines()[-1] if done.stderr.strip() else
                f"exit {done.returncode}", "wall_s": time.perf_counter() - start}
    out = json.loads(done.stdout.strip().splitlines()[-1])
    out["wall_s"] = time.perf_counter() - start
    return out


def _difference(folder: Path, other: str, ref: str = "twin-v.npz", key: str = "v") -> dict[str, float]:
    """Largest |V| (pu of the node's base) and angle (degrees) difference, over shared live nodes."""
    a, b = np.load(folder / ref), np.load(folder / other)
    index = {n: k for k, n in enumerate(a["names"])}
    pick = np.array([index.get(n, -1) for n in b["names"]])
    shared = pick >= 0
    va, vb = a[key][pick[shared]], b[key][shared]
    base = a["base"][pick[shared]]
    live = np.abs(va) > 0.1 * base
    dv = np.abs(np.abs(va) - np.abs(vb))[live] / base[live]
    da = np.abs(np.degrees(np.angle(va[live] / vb[live])))
    return {"dv_pu": float(dv.max()) if dv.size else float("nan"),
            "dangle_deg": float(da.max()) if da.size else float("nan"),
            "shared": int(shared.sum()), "only_other": int((~shared).sum()), "only_twin": len(a["names"]) - int(shared.sum())}


def run_case(case: str, root: Path) -> dict[str, Any]:
    """Every engine on one case, each in its own child; the parent stays small, so that a
    child's ``ru_maxrss`` (which starts from its parent's at the fork) is its own."""
    folder = root / case.replace("-3ph", "")
    folder.mkdir(parents=True, exist_ok=True)
    if case in FEEDER_MASTERS:
        _child("unscaled", case, folder)
    out: dict[str, Any] = {"case": case, "twin": _child("twin", case, folder)}
    out["opendss"] = _child("opendss", case, folder)
    if case.endswith("-3ph"):
        out["pgm"] = _child("pgm", case, folder)
    if "error" not in out["twin"]:
        diff = _child("compare", case, folder)
        if "opendss" in diff and "error" not in out["opendss"]:
            out["opendss"]["diff"] = diff["opendss"]
        if "pgm_nr" in diff and "error" not in out["pgm"]:
            out["pgm"]["diff_nr"], out["pgm"]["diff_ic"] = diff["pgm_nr"], diff["pgm_ic"]
    for name in ("twin-v.npz", "opendss-v.npz", "pgm-nr-v.npz", "pgm-ic-v.npz"):
        (folder / name).unlink(missing_ok=True)
    return out


def run_year(root: Path) -> dict[str, Any]:
    folder = root / "year"
    folder.mkdir(parents=True, exist_ok=True)
    _child("unscaled", "ieee8500", folder)
    out = {"twin": _child("twin-year", "ieee8500", folder), "opendss": _child("opendss-year", "ieee8500", folder)}
    if "error" not in out["twin"] and "error" not in out["opendss"]:
        out.update(_child("compare-year", "ieee8500", folder))
    return out


# -- the printed report -----------------------------------------------------------------------


def _ms(s: float | None) -> str:
    if s is None or np.isnan(s):
        return "-"
    return f"{s * 1e3:,.1f} ms" if s < 1 else f"{s:,.2f} s"


def _ratio(a: float | None, b: float | None) -> str:
    if not a or not b:
        return "-"
    return f"{b / a:.2f}x" if b >= a else f"1/{a / b:.2f}x"


def report(cases: list[dict[str, Any]], year: dict[str, Any] | None) -> str:
    """The tables: one row per case and figure, Twin beside OpenDSS (and power-grid-model)."""
    lines = ["Ratio = OpenDSS / Twin (above 1: Twin faster or smaller; '1/4.00x': Twin 4 times slower).",
             "", "case | figure | Twin | OpenDSS | ratio | power-grid-model NR | power-grid-model IC",
             "--- | --- | --- | --- | --- | --- | ---"]
    for c in cases:
        t, o, g = c["twin"], c["opendss"], c.get("pgm", {})
        name = c["case"]
        for side in (t, o, g):
            if "error" in side:
                lines.append(f"{name} | FAILED ({side['engine']}) | {side['error']} | | | |")
        if "error" in t or "error" in o:
            continue
        pg = g and "error" not in g
        rows = [
            ("nodes", f"{t['nodes']:,}", f"{o['nodes']:,}", "", f"{g['nodes']:,}" if pg else "", ""),
            ("model load" + (" (generate)" if name in TERRITORIES else " (load_native)" if name.endswith("-3ph")
                             else " (load_opendss)"), _ms(t["load_s"]), _ms(o["load_s"]) + " (compile)",
             _ratio(t["load_s"], o["load_s"]), _ms(g["load_s"]) + " (+ input " + _ms(g["input_s"]) + ")" if pg else "", ""),
            ("(untimed: Twin's compiled kernels loaded, once per process)", _ms(t["warmup_s"]), "", "", "", ""),
            ("prepare (build + factor Y)", _ms(t["prepare_s"]), "", "", "", ""),
            ("load + prepare", _ms(t["load_s"] + t["prepare_s"]), _ms(o["load_s"]),
             _ratio(t["load_s"] + t["prepare_s"], o["load_s"]), "", ""),
            ("first solve", _ms(t["first_s"]), _ms(o["first_s"]), _ratio(t["first_s"], o["first_s"]),
             _ms(g["first_nr_s"]) if pg else "", _ms(g["first_ic_s"]) if pg else ""),
            ("prepare + first solve", _ms(t["prepare_s"] + t["first_s"]), _ms(o["first_s"]),
             _ratio(t["prepare_s"] + t["first_s"], o["first_s"]), "", ""),
            ("warm re-solve, load x0.9/x1.0 (median)", _ms(t["resolve_s"]) + f" (n={t['resolve_n']})",
             _ms(o["resolve_s"]) + f" (n={o['resolve_n']})", _ratio(t["resolve_s"], o["resolve_s"]),
             _ms(g["resolve_nr_s"]) if pg else "", _ms(g["resolve_ic_s"]) if pg else ""),
            ("the first 4 re-solves (x0.9, x1.0 builds its Jacobian, x0.9 builds its, x1.0)",
             " / ".join(_ms(x) for x in t["resolve_first_s"]), "", "", "", ""),
            ("warm re-solve, Twin at tol 1e-4 (OpenDSS's)", _ms(t["resolve_loose_s"]), _ms(o["resolve_s"]),
             _ratio(t["resolve_loose_s"], o["resolve_s"]), "", ""),
            ("re-solve + result tables (result_of)", _ms(t["tables_s"]), "", "", "", ""),
            ("iterations first / re-solve / re-solve 1e-4", (f"{t['first_iterations']} / {t['resolve_iterations']} / "
             f"{t['resolve_loose_iterations']}"), f"{o['first_iterations']} / {o['resolve_iterations']}"
             + ("" if o.get("converged", True) else " NOT CONVERGED"), "", "", ""),
            ("peak memory (after imports)", f"{t['peak_mib']:,.0f} MiB ({t['base_mib']:,.0f})",
             f"{o['peak_mib']:,.0f} MiB ({o['base_mib']:,.0f})", _ratio(t["peak_mib"], o["peak_mib"]),
             f"{g['peak_mib']:,.0f} MiB ({g['base_mib']:,.0f})" if pg else "", ""),
        ]
        if "diff" in o:
            d = o["diff"]
            rows.append(("max difference to Twin (|V| pu, angle deg)", "",
                         (f"{d['dv_pu']:.2e} pu, {d['dangle_deg']:.3f} deg ({d['shared']:,} nodes; "
                         f"{d['only_other']} only OpenDSS, {d['only_twin']} only Twin)"), "",
                         f"{g['diff_nr']['dv_pu']:.2e} pu, {g['diff_nr']['dangle_deg']:.3f} deg" if pg else "",
                         f"{g['diff_ic']['dv_pu']:.2e} pu, {g['diff_ic']['dangle_deg']:.3f} deg" if pg else ""))
        if "export_s" in t:
            rows.append(("(untimed setup: save_opendss)", _ms(t["export_s"]), "", "", "", ""))
        lines += [" | ".join([name, *r]) for r in rows]
    if year:
        t, o = year["twin"], year["opendss"]
        lines += ["", (f"IEEE 8500, {HOURS:,} hourly load snapshots (multipliers {year_multipliers().min():.2f}"
                  f"-{year_multipliers().max():.2f}, seed {SEED}), controls frozen"),
                  "figure | Twin | OpenDSS | ratio", "--- | --- | --- | ---"]
        if "error" in t or "error" in o:
            lines.append(f"FAILED | {t.get('error', '')} | {o.get('error', '')} |")
        else:
            best = min(o["loop_s"], o["yearly_s"])
            lines += [(f"all snapshots | {_ms(t['batch_s'])} (solve_batch; + prepare {_ms(t['prepare_s'])}) | "
                      f"{_ms(best)} ({'yearly mode' if o['yearly_s'] <= o['loop_s'] else 'loadmult loop'}, the faster) | "
                      f"{_ratio(t['batch_s'], best)}"),
                      (f"OpenDSS other way | | {_ms(max(o['loop_s'], o['yearly_s']))} "
                      f"({'loadmult + Solve loop' if o['yearly_s'] <= o['loop_s'] else 'yearly mode'}) |"),
                      f"per snapshot | {_ms(t['batch_s'] / HOURS)} | {_ms(best / HOURS)} | {_ratio(t['batch_s'], best)}",
                      (f"all snapshots, Twin at tol 1e-4 (OpenDSS's) | {_ms(t['batch_loose_s'])} | {_ms(best)} | "
                      f"{_ratio(t['batch_loose_s'], best)}"),
                      (f"all snapshots, {t['few_nodes']} nodes kept (nodes=) | {_ms(t['batch_few_s'])} | {_ms(best)} | "
                       f"{_ratio(t['batch_few_s'], best)}"),
                      f"iterations (most for any snapshot; tol 1e-8 / 1e-4) | {t['iterations']} / {t['iterations_loose']} | |",
                      (f"peak memory, {t['few_nodes']} nodes kept | {t['peak_few_mib']:,.0f} MiB | {o['peak_mib']:,.0f} MiB | "
                       f"{_ratio(t['peak_few_mib'], o['peak_mib'])}"),
                      (f"peak memory, every node kept (1.2 GB of results) | {t['peak_mib']:,.0f} MiB | {o['peak_mib']:,.0f} MiB | "
                       f"{_ratio(t['peak_mib'], o['peak_mib'])}"),
                      f"(untimed: Twin's compiled kernels loaded) | {_ms(t['warmup_s'])} | |",
                      f"max |V| difference at 3 hours (min, mid, max load) | {year['dv_pu']:.2e} pu | |"]
    return "\n".join(lines)


def targets(cases: list[dict[str, Any]], year: dict[str, Any] | None) -> str:
    """The issue's targets, met or missed."""
    by = {c["case"]: c for c in cases}
    out = ["", "Targets (issue 3)"]

    def ok(c: str) -> bool:
        return c in by and "error" not in by[c]["twin"] and "error" not in by[c]["opendss"]

    for c in ("ieee8500", "100k"):
        if ok(c):
            t, o = by[c]["twin"]["resolve_s"], by[c]["opendss"]["resolve_s"]
            out.append(f"- warm re-solve no slower than OpenDSS on {c}: {_ms(t)} vs {_ms(o)}: "
                       f"{'MET' if t <= o else 'MISSED'}")
    if year and "error" not in year["twin"] and "error" not in year["opendss"]:
        best = min(year["opendss"]["loop_s"], year["opendss"]["yearly_s"])
        out.append(f"- 8,760 snapshots at least 5x faster than OpenDSS: {_ms(year['twin']['batch_s'])} vs "
                   f"{_ms(best)} ({best / year['twin']['batch_s']:.2f}x): "
                   f"{'MET' if best >= 5 * year['twin']['batch_s'] else 'MISSED'}")
    if "1m" in by:
        t = by["1m"]["twin"]
        if "error" in t:
            out.append(f"- 1M territory solved: MISSED ({t['error']})")
        else:
            out.append(f"- 1M territory solved ({t['nodes']:,} nodes), re-solve under 1 s: {_ms(t['resolve_s'])}: "
                       f"{'MET' if t['resolve_s'] < 1.0 else 'MISSED'}")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", nargs="+", default=list(ALL_CASES), choices=list(ALL_CASES) + ["year"],
                        help="cases to run (a territory brings its three-phase equivalent; ieee8500 the year)")
    parser.add_argument("--skip-1m", action="store_true", help="leave out the 1M-customer territory")
    parser.add_argument("--no-year", action="store_true", help="leave out the 8,760 snapshots")
    parser.add_argument("--json", type=Path, help="also write the raw figures here")
    parser.add_argument("--child", nargs=2, metavar=("ENGINE", "CASE"), help=argparse.SUPPRESS)
    parser.add_argument("--folder", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        engine, case = args.child
        print(json.dumps(ENGINES[engine](case, args.folder)))
        return
    started = time.perf_counter()
    print(f"{platform.node()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, "
          f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
    if os.environ.get("OPENBLAS_CORETYPE"):
        print(f"note: OPENBLAS_CORETYPE={os.environ['OPENBLAS_CORETYPE']} is set (it can slow numpy's BLAS)")
    from importlib.metadata import PackageNotFoundError, version

    try:  # versions only: importing the engines here would grow the parent that forks the children
        print(f"dss-python {version('dss-python')}, power-grid-model {version('power-grid-model')}, "
              f"numpy {version('numpy')}, scipy {version('scipy')}, numba {version('numba')}; "
              f"peak memory: ru_maxrss of each child")
    except PackageNotFoundError as err:
        print(f"missing: {err} (pip install -e '.[test,bench]')")
    wanted = [c for c in args.cases if not (args.skip_1m and c == "1m")]
    root = Path(tempfile.mkdtemp(prefix="powerflow-bench-"))
    cases, year = [], None
    try:
        for case in wanted:
            if case == "year":
                continue
            for name in ([case, f"{case}-3ph"] if case in TERRITORIES else [case]):
                cases.append(run_case(name, root))
                t, o = cases[-1]["twin"], cases[-1]["opendss"]
                print(f"{name}: Twin {_ms(t.get('resolve_s'))} re-solve, OpenDSS {_ms(o.get('resolve_s'))} "
                      f"({_ms(t.get('wall_s'))} + {_ms(o.get('wall_s'))} wall)", flush=True)
        if not args.no_year and ("ieee8500" in wanted or "year" in wanted):
            year = run_year(root)
            print(f"year: Twin {_ms(year['twin'].get('batch_s'))}, OpenDSS loop {_ms(year['opendss'].get('loop_s'))}, "
                  f"yearly {_ms(year['opendss'].get('yearly_s'))}", flush=True)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    print()
    print(report(cases, year))
    print(targets(cases, year))
    print(f"\nwhole run {time.perf_counter() - started:,.0f} s")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"cases": cases, "year": year}, indent=2))


if __name__ == "__main__":
    main()
