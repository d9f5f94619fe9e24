"""Power flow: the IEEE feeders against OpenDSS solved in the same run, invariants, small cases.

Validation (``../shared/feeders``, OpenDSS via ``dss-python``): OpenDSS solves each master with
its controls; its transformer taps, capacitor states and switch-line impedances are then given
to Twin's model (the tap and capacitor control loops are not the solver's business) and both
results are compared node by node. Tolerances: 0.001 pu in magnitude, 0.1 degree in angle,
0.5 % in total losses. OpenDSS nodes that no source feeds (a conductor of a switch line landed
on a phase that goes nowhere, as in the 8500-node feeder) float at a few per cent through line
capacitance there; Twin calls them dead (0 V), and the test checks exactly that.

Property tests: random radial and meshed feeders with random phasing, ZIP loads (wye and delta),
capacitors, generators and a second source, written as OpenDSS scripts, solved by both (OpenDSS
to 1e-10) and compared to 1e-6 pu, 1e-4 degree and 1e-6 in losses. Power balance everywhere.
"""

from __future__ import annotations

from functools import cache

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from twin.errors import NotConverged
from twin.grid import SCHEMAS, Conn, Network, Phase, Table
from twin.grid.opendss import load_opendss
from twin.grid.powerflow import prepare, result_of, solve
from twin.grid.powerflow.loads import zip_currents
from twin.grid.powerflow.transformers import transformer_primitive
from twin.grid.powerflow.ybus import sequence_z

from .feeders import FEEDERS_DIR, MASTERS, needs_feeders

dss = pytest.importorskip("dss")


V_TOL_PU, ANGLE_TOL_DEG, LOSS_TOL = 1e-3, 0.1, 5e-3
FLOATING_PU = 0.1  # OpenDSS nodes below this that Twin finds unfed must be 0 V in Twin


# -- OpenDSS in the same run --------------------------------------------------------------------


@cache
def opendss_solution(key: str) -> dict:
    """OpenDSS's node voltages, settled taps, capacitor states, switch impedances and totals."""
    engine = dss.DSS
    engine.Text.Command = "clear"
    engine.Text.Command = f'compile "{FEEDERS_DIR / MASTERS[key]}"'
    circuit = engine.ActiveCircuit
    circuit.Solution.Solve()
    taps = {}
    xf = circuit.Transformers
    more = xf.First
    while more:
        name, windings = xf.Name.lower(), xf.NumWindings
        taps[name] = []
        for w in range(1, windings + 1):
            xf.Wdg = w
            taps[name].append(xf.Tap)
        more = xf.Next
    caps = {}
    cap = circuit.Capacitors
    more = cap.First
    while more:
        caps[cap.Name.lower()] = any(s > 0 for s in cap.States)
        more = cap.Next
    series_z = {}
    lines = circuit.Lines
    more = lines.First
    while more:
        y = np.array(circuit.ActiveCktElement.Yprim).reshape(-1, 2)
        y = (y[:, 0] + 1j * y[:, 1]).reshape(2 * lines.Phases, 2 * lines.Phases)
        series_z[lines.Name.lower()] = -1.0 / y[0, lines.Phases]
        more = lines.Next
    element_kw = {}
    for collection in (circuit.Lines, circuit.Transformers):
        more = collection.First
        while more:
            element = circuit.ActiveCktElement
            element_kw[element.Name.lower()] = element.Losses[0] / 1e3
            more = collection.Next
    volts = np.array(circuit.AllBusVolts).reshape(-1, 2)
    nodes = [name.lower().split(".") for name in circuit.AllNodeNames]
    ref = pd.DataFrame({"bus": [b for b, _ in nodes], "phase": [int(p) for _, p in nodes],
                        "v": volts[:, 0] + 1j * volts[:, 1]})
    losses, power = circuit.Losses, circuit.TotalPower
    return {"voltages": ref, "taps": taps, "caps": caps, "series_z": series_z, "element_kw": element_kw,
            "losses_kw": losses[0] / 1e3, "source_kw": -power[0]}


def as_opendss_left_it(net: Network, sol: dict) -> Network:
    """The network with OpenDSS's settled taps and capacitor states."""
    xf, cap = net.transformer, net.capacitor
    tap = xf["tap_pu"].copy()
    for k, id_ in enumerate(xf.ids):
        settled = sol["taps"].get(id_)
        if settled:
            tap[k, : len(settled)] = settled
    closed = np.array([sol["caps"].get(i, c) for i, c in zip(cap.ids, cap["closed"])], bool)
    return net.replace(transformer=xf.with_columns(tap_pu=tap), capacitor=cap.with_columns(closed=closed))


@cache
def compared(key: str):
    """Twin's result, OpenDSS's, and the node-by-node comparison."""
    sol = opendss_solution(key)
    net = as_opendss_left_it(load_opendss(FEEDERS_DIR / MASTERS[key]), sol)
    result = solve(net)
    ours = result.voltages
    both = sol["voltages"].merge(ours, on=["bus", "phase"], how="left", validate="one_to_one")
    assert not both["v_volts"].isna().any(), "every OpenDSS node is a Twin node"
    base = net.bus["v_nom_v"][net.bus.index(both["bus"])]
    split = (net.bus["phases"][net.bus.index(both["bus"])] & Phase.S12) != 0
    both["base"] = np.where(split, base / 2.0, base / np.sqrt(3.0))
    both["ref_pu"] = np.abs(both["v"]) / both["base"]
    twin_v = both["v_volts"] * np.exp(1j * np.radians(both["angle_deg"]))
    both["dv_pu"] = (both["v_volts"] - np.abs(both["v"])) / both["base"]
    both["dangle_deg"] = np.degrees(np.angle(twin_v / np.where(both["v"] == 0, 1.0, both["v"])))
    return result, sol, both


# -- validation against OpenDSS -----------------------------------------------------------------


@needs_feeders
@pytest.mark.parametrize("key", list(MASTERS))
def test_switch_impedances_are_imported_as_opendss_models_them(key):
    sol = opendss_solution(key)
    sw = load_opendss(FEEDERS_DIR / MASTERS[key]).switch
    known = np.array([i in sol["series_z"] for i in sw.ids], dtype=bool)  # OpenDSS lists enabled lines only
    assert known.sum() == (~sw["open"]).sum()
    ours = (sw["r_ohm"] + 1j * sw["x_ohm"])[known]
    theirs = np.array([sol["series_z"][i] for i in sw.ids[known]])
    assert np.allclose(ours, theirs, rtol=1e-9, atol=0.0)


@needs_feeders
@pytest.mark.parametrize("key", list(MASTERS))
def test_voltages_match_opendss(key):
    result, _, both = compared(key)
    fed = both["ref_pu"] > FLOATING_PU
    assert np.abs(both["dv_pu"][fed]).max() < V_TOL_PU
    assert np.abs(both["dangle_deg"][fed]).max() < ANGLE_TOL_DEG
    assert (both["v_volts"][~fed] == 0.0).all()
    assert result.max_mismatch < 1e-8


@needs_feeders
@pytest.mark.parametrize("key", list(MASTERS))
def test_losses_and_source_power_match_opendss(key):
    result, sol, _ = compared(key)
    assert result.losses_kw == pytest.approx(sol["losses_kw"], rel=LOSS_TOL)
    assert result.source_kw == pytest.approx(sol["source_kw"], rel=1e-3)


@needs_feeders
@pytest.mark.parametrize("key", ["13bus", "37bus", "123bus"])
def test_element_losses_match_opendss(key):
    result, sol, _ = compared(key)
    ours = result.element_losses.set_index("element")["losses_kw"]
    assert ours.sum() == pytest.approx(result.losses_kw, rel=1e-6)
    theirs = pd.Series({name.replace("switch.", "line."): sol["element_kw"][name.replace("switch.", "line.")]
                        for name in ours.index})
    assert np.abs(ours.to_numpy() - theirs.to_numpy()).max() < 1e-3 * max(1.0, theirs.abs().max())


@needs_feeders
def test_branch_flows_at_the_substation_carry_the_source_power():
    result, _, _ = compared("13bus")
    b = result.branches
    into_sub = b[(b.element == "transformer.sub") & (b.terminal == 1)]
    assert into_sub["p_kw"].sum() == pytest.approx(result.source_kw, rel=1e-9)
    assert list(into_sub["phase"]) == [1, 2, 3]


@needs_feeders
@pytest.mark.parametrize("key", ["13bus", "123bus"])
def test_power_balance(key):
    r, _, _ = compared(key)
    supplied = complex(r.source_kw + r.generation_kw, r.source_kvar + r.generation_kvar)
    used = complex(r.load_kw + r.losses_kw, r.load_kvar + r.capacitor_kvar + r.losses_kvar)
    assert abs(supplied - used) < 1e-6 * abs(supplied)


@needs_feeders
def test_opening_a_switch_deenergises_below_it_without_error():
    net = load_opendss(FEEDERS_DIR / MASTERS["123bus"])
    sw = net.switch
    opened = sw.with_columns(open=sw["open"] | (sw.ids == "sw2"))  # 13 -> 152: most of the feeder
    r = solve(net.replace(switch=opened))
    v = r.voltages.set_index("bus")
    assert (v.loc["152", "v_volts"] == 0.0).all()
    assert (v.loc["150", "v_pu"] > 0.9).all()
    base = solve(net)
    assert r.load_kw < 0.5 * base.load_kw


# -- reuse and batches ---------------------------------------------------------------------------


@needs_feeders
def test_prepared_network_resolves_and_batches_load_snapshots():
    net = load_opendss(FEEDERS_DIR / MASTERS["13bus"])
    prep = prepare(net)
    half = result_of(prep, load_scale=0.5)
    full = result_of(prep, load_scale=1.0)
    assert half.load_kw < full.load_kw
    assert full.node_v == pytest.approx(solve(net).node_v, abs=1e-6)
    batch = prep.solve_batch(np.array([0.5, 1.0]))
    assert batch.v.shape == (2, prep.nodes.n)
    base = prep.base_v[: prep.nodes.n]
    assert np.all(np.abs(batch.v[0] - half.node_v[: prep.nodes.n]) / base < 1e-7)  # both to tol 1e-8 pu
    assert np.all(np.abs(batch.v[1] - full.node_v[: prep.nodes.n]) / base < 1e-7)
    per_load = np.ones(len(net.load))
    assert result_of(prep, load_scale=per_load).node_v == pytest.approx(full.node_v, abs=1e-9)


@needs_feeders
@pytest.mark.parametrize("key", ["13bus", "123bus"])
def test_long_batches_and_repeated_warm_solves_agree_with_single_solves(key):
    """Long batches (ordered by load level, linearised Jacobians, chained starts) and warm re-solves
    at a recurring load level (a linearised Jacobian) reach the same fixed point as cold solves,
    within what the conditioning of Y allows (a few 1e-8 of the node base)."""
    net = load_opendss(FEEDERS_DIR / MASTERS[key])
    prep = prepare(net)
    rng = np.random.default_rng(3)
    scales = rng.uniform(0.25, 1.1, 40)
    batch = prep.solve_batch(scales)
    base = prep.base_v[: prep.nodes.n]
    for k in (0, 17, int(np.argmin(scales)), int(np.argmax(scales))):
        single, _, _ = prep.solve_voltages(load_scale=scales[k])
        assert np.abs(batch.v[k] - single[: prep.nodes.n]).max() / base.max() < 1e-7
        assert np.all(np.abs(batch.v[k] - single[: prep.nodes.n]) / base < 1e-7)
    v = prep.solve_voltages(load_scale=1.0)[0]
    cold = prep.solve_voltages(load_scale=0.9)[0]
    for _ in range(3):  # the second 0.9 from a warm start builds the Jacobian, the third reuses it
        warm, _, _ = prep.solve_voltages(load_scale=0.9, start=v)
        assert np.all(np.abs(warm - cold)[: prep.nodes.n] / base < 1e-7)


@needs_feeders
def test_not_converged_names_the_bus_and_mismatch():
    net = load_opendss(FEEDERS_DIR / MASTERS["13bus"])
    with pytest.raises(NotConverged) as err:
        solve(net, max_iter=2, tol=1e-14)
    assert err.value.iterations == 2
    assert err.value.worst_bus in set(net.bus.ids)
    assert err.value.mismatch > 1e-14


# -- small cases by hand -------------------------------------------------------------------------


def _tiny(load: dict | None = None, generator: dict | None = None, line_m: float = 1000.0) -> Network:
    rows = {
        "bus": [{"id": b, "v_nom_v": 12470.0, "phases": Phase.ABC} for b in ("s", "l")],
        "line_code": [{"id": "c", "n_phases": 3, "r_ohm_per_m": 3e-4 * np.eye(3), "x_ohm_per_m": 6e-4 * np.eye(3)}],
        "line": [{"id": "l1", "from_bus": "s", "to_bus": "l", "phases": Phase.ABC, "code": "c", "length_m": line_m}],
        "source": [{"id": "src", "bus": "s", "v_nom_v": 12470.0, "r1_ohm": 0.0, "x1_ohm": 1e-6, "r0_ohm": 0.0,
                    "x0_ohm": 1e-6}],
        "load": [load] if load else [],
        "generator": [generator] if generator else [],
    }
    return Network.from_tables("tiny", {k: Table.from_rows(SCHEMAS[k], v) for k, v in rows.items() if v})


def test_single_phase_constant_impedance_load_by_hand():
    """A 1-phase constant-Z load on phase A: V = E z_load / (z_load + z_line), exactly."""
    e = 12470.0 / np.sqrt(3.0)
    net = _tiny({"id": "z", "bus": "l", "phases": Phase.A, "v_rated_v": e, "p_w": [1e5, 0, 0],
                 "q_var": [5e4, 0, 0], "zip_p": [1, 0, 0], "zip_q": [1, 0, 0]})
    r = solve(net)
    z_load = e**2 / complex(1e5, -5e4)
    z_line = complex(0.3, 0.6)
    expected = abs(e * z_load / (z_load + z_line))
    got = r.voltages.query("bus == 'l' and phase == 1")["v_volts"].item()
    assert got == pytest.approx(expected, rel=1e-6)
    assert r.load_kw == pytest.approx((expected**2 / np.conj(z_load)).real / 1e3, rel=1e-6)


def test_generator_reduces_source_power_by_its_output():
    load = {"id": "p", "bus": "l", "phases": Phase.ABC, "v_rated_v": 12470.0, "p_w": [1e5] * 3, "q_var": [0.0] * 3}
    gen = {"id": "g", "bus": "l", "phases": Phase.ABC, "v_rated_v": 12470.0, "p_w": 2e5, "q_var": 0.0}
    without, with_gen = solve(_tiny(load)), solve(_tiny(load, gen))
    assert with_gen.generation_kw == pytest.approx(200.0, rel=1e-9)
    assert with_gen.source_kw + 200.0 == pytest.approx(with_gen.load_kw + with_gen.losses_kw, rel=1e-6)
    assert without.source_kw - with_gen.source_kw == pytest.approx(200.0, rel=2e-3)  # and a little less loss


def test_zip_currents_constant_current_and_limits():
    v = np.array([110.0 + 0j, 100.0 + 0j])
    s = np.array([1200.0 + 0j, 1200.0 + 0j])
    const_i = np.array([[0.0, 1.0, 0.0]] * 2)
    i = zip_currents(v, s, const_i, const_i, np.full(2, 120.0), np.full(2, 0.9), np.full(2, 1.1))
    assert i[0] == pytest.approx(10.0)  # constant current inside the band
    # below 0.9 pu: interpolated from 10 A at 0.9 pu down to y_eq v (5 A) at 0.5 pu
    assert abs(i[1]) == pytest.approx(5.0 + (10.0 - 5.0) * (100.0 / 120.0 - 0.5) / (0.9 - 0.5))


def test_two_winding_primitive_is_an_ideal_ratio_at_no_load():
    y = transformer_primitive(np.array([7200.0, 120.0]), np.array([1.0, 1.0]), 25e3, np.array([0.5, 0.5]),
                              np.array([2.0, 0.0, 0.0]), ppm=0.0)
    # winding 2 open: the voltage ratio across windings is the turns ratio, 7200 : 120
    v1 = 7200.0
    rest = np.linalg.solve(y[np.ix_([2], [2])], -y[np.ix_([2], [0])] @ [v1])  # ends 2, 4 grounded
    assert rest[0] == pytest.approx(120.0, rel=1e-12)
    assert np.allclose(y, y.T)


def test_sequence_impedance_matrix():
    z = sequence_z(1.0, 2.0, 3.0, 4.0)
    a = np.exp(2j * np.pi / 3)
    t = np.array([[1, 1, 1], [1, a * a, a], [1, a, a * a]])
    zs = np.linalg.inv(t) @ z @ t
    assert np.allclose(np.diag(zs), [3 + 4j, 1 + 2j, 1 + 2j])


# -- random feeders against OpenDSS (property tests) ---------------------------------------------

_CODE = {1: "(0.35)", 2: "(0.35 | 0.12 0.35)", 3: "(0.35 | 0.12 0.35 | 0.11 0.12 0.35)"}
_XCODE = {1: "(0.80)", 2: "(0.80 | 0.35 0.80)", 3: "(0.80 | 0.35 0.80 | 0.30 0.35 0.80)"}
_CCODE = {1: "(9)", 2: "(9 | -2 9)", 3: "(9 | -2 9 | -1.5 -2 9)"}


@st.composite
def random_feeder(draw) -> str:
    """An OpenDSS script: a random tree (optionally one loop, a second source) with random
    phasing, loads of models 1, 2 and 5, wye and delta, capacitors and generators."""
    n = draw(st.integers(2, 14))
    lines = ["clear", "new circuit.rand basekv=12.47 pu=1.02 phases=3 bus1=b0 mvasc3=300 mvasc1=250"]
    for k in (1, 2, 3):
        lines.append(f"new linecode.lc{k} nphases={k} units=km rmatrix={_CODE[k]} xmatrix={_XCODE[k]} "
                     f"cmatrix={_CCODE[k]}")
    phases = {0: (1, 2, 3)}
    for b in range(1, n):
        parent = draw(st.integers(0, b - 1))
        mine = tuple(sorted(draw(st.sets(st.sampled_from(phases[parent]), min_size=1))))
        phases[b] = mine
        nodes = ".".join(map(str, mine))
        length = draw(st.floats(0.05, 1.5))
        lines.append(f"new line.l{b} bus1=b{parent}.{nodes} bus2=b{b}.{nodes} phases={len(mine)} "
                     f"linecode=lc{len(mine)} length={length:.4f} units=km")
        kw = draw(st.floats(10.0, 300.0))
        pf = draw(st.floats(0.8, 1.0))
        model = draw(st.sampled_from([1, 2, 5]))
        common = f"model={model} kw={kw:.3f} pf={pf:.4f}"
        if len(mine) == 3 and draw(st.booleans()):
            conn = draw(st.sampled_from(["wye", "delta"]))
            lines.append(f"new load.d{b} bus1=b{b} phases=3 conn={conn} kv=12.47 {common}")
        elif len(mine) >= 2 and draw(st.booleans()):
            lines.append(f"new load.d{b} bus1=b{b}.{mine[0]}.{mine[1]} phases=1 conn=delta kv=12.47 {common}")
        else:
            lines.append(f"new load.d{b} bus1=b{b}.{mine[0]} phases=1 kv=7.2 {common}")
        if len(mine) == 3 and draw(st.integers(0, 4)) == 0:
            lines.append(f"new generator.g{b} bus1=b{b} phases=3 kv=12.47 model=1 "
                         f"kw={draw(st.floats(50.0, 600.0)):.3f} kvar={draw(st.floats(-100.0, 200.0)):.3f}")
        if draw(st.integers(0, 5)) == 0:
            lines.append(f"new capacitor.c{b} bus1=b{b}.{nodes} phases={len(mine)} kvar=150 "
                         f"kv={12.47 if len(mine) > 1 else 7.2}")
    three = [b for b, p in phases.items() if p == (1, 2, 3)]
    if len(three) >= 3 and draw(st.booleans()):  # a closed tie between two three-phase buses: a loop
        a, b = draw(st.lists(st.sampled_from(three), min_size=2, max_size=2, unique=True))
        lines.append(f"new line.tie bus1=b{a} bus2=b{b} phases=3 linecode=lc3 length=0.8 units=km")
    if len(three) >= 2 and draw(st.integers(0, 3)) == 0:  # a second source
        lines.append(f"new vsource.second bus1=b{draw(st.sampled_from(three[1:]))} basekv=12.47 pu=1.0 angle=-1.5 "
                     "mvasc3=80 mvasc1=70")
    lines += ["set voltagebases=[12.47]", "calcvoltagebases", "set tolerance=1e-10", "set maxiterations=200"]
    return "\n".join(lines) + "\n"


@given(random_feeder())
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_random_feeders_match_opendss(tmp_path_factory, script):
    path = tmp_path_factory.mktemp("rand") / "feeder.dss"
    path.write_text(script)
    engine = dss.DSS
    engine.Text.Command = "clear"
    engine.Text.Command = f'compile "{path}"'
    circuit = engine.ActiveCircuit
    circuit.Solution.Solve()
    assert circuit.Solution.Converged
    volts = np.array(circuit.AllBusVolts).reshape(-1, 2)
    ref = pd.DataFrame({"bus": [n.lower().split(".")[0] for n in circuit.AllNodeNames],
                        "phase": [int(n.split(".")[1]) for n in circuit.AllNodeNames],
                        "v": volts[:, 0] + 1j * volts[:, 1]})
    net = load_opendss(path)
    result = solve(net)
    both = ref.merge(result.voltages, on=["bus", "phase"], how="left", validate="one_to_one")
    base = both["v_volts"] / both["v_pu"]
    assert (np.abs(both["v_volts"] - np.abs(both["v"])) / base).max() < 1e-6
    ours = both["v_volts"] * np.exp(1j * np.radians(both["angle_deg"]))
    assert np.abs(np.degrees(np.angle(ours / both["v"]))).max() < 1e-4
    assert result.losses_kw == pytest.approx(circuit.Losses[0] / 1e3, rel=1e-6, abs=1e-6)
    supplied = result.source_kw + result.generation_kw
    assert supplied == pytest.approx(result.load_kw + result.losses_kw, rel=1e-7)


def _substation(primary_conn: Conn, load_phases: Phase) -> Network:
    """A 12.47/4.16 kV three-phase transformer feeding a load on its secondary bus."""
    rows = {
        "bus": [{"id": "hv", "v_nom_v": 12470.0, "phases": Phase.ABC}, {"id": "lv", "v_nom_v": 4160.0,
                                                                         "phases": Phase.ABC}],
        "source": [{"id": "src", "bus": "hv", "v_nom_v": 12470.0, "r1_ohm": 0.01, "x1_ohm": 0.1, "r0_ohm": 0.01,
                    "x0_ohm": 0.1}],
        "transformer": [{"id": "t", "kind": 0, "n_windings": 2, "bus": ["hv", "lv", ""],
                         "phases": [Phase.ABC, Phase.ABC, 0], "conn": [primary_conn, Conn.wye, Conn.wye],
                         "v_rated_v": [12470.0, 4160.0, np.nan], "s_rated_va": [2e6, 2e6, np.nan],
                         "r_pct": [0.5, 0.5, 0.0], "x_hl_pct": 6.0}],
        "load": [{"id": "ld", "bus": "lv", "phases": load_phases,
                  "v_rated_v": 4160.0 if load_phases == Phase.ABC else 2400.0,
                  "p_w": [2e5 if load_phases & p else 0.0 for p in (Phase.A, Phase.B, Phase.C)],
                  "q_var": [5e4 if load_phases & p else 0.0 for p in (Phase.A, Phase.B, Phase.C)]}],
    }
    return Network.from_tables("sub", {k: Table.from_rows(SCHEMAS[k], v) for k, v in rows.items()})


def test_ungrounded_wye_primary_cannot_serve_a_single_phase_load():
    """Balanced load: an ungrounded-wye primary behaves as a grounded one. A load on one phase
    behind a bank of single-phase units whose primary neutral floats: the neutral shifts until the
    loaded winding has almost no voltage (no zero-sequence path); a grounded primary serves it."""
    balanced = [solve(_substation(c, Phase.ABC)).voltages["v_pu"].to_numpy() for c in (Conn.wye,
                                                                                          Conn.wye_ungrounded)]
    assert balanced[0] == pytest.approx(balanced[1], abs=1e-7)
    floating, grounded = (solve(_substation(c, Phase.A)) for c in (Conn.wye_ungrounded, Conn.wye))
    v_a = {name: r.voltages.query("bus == 'lv' and phase == 1")["v_pu"].item()
           for name, r in (("floating", floating), ("grounded", grounded))}
    assert v_a["floating"] < 0.05 and v_a["grounded"] > 0.9
    for r in (floating, grounded):
        assert r.source_kw == pytest.approx(r.load_kw + r.losses_kw, rel=1e-6, abs=1e-9)


def test_a_network_without_a_live_source_is_all_dead_not_an_error():
    net = _tiny({"id": "p", "bus": "l", "phases": Phase.ABC, "v_rated_v": 12470.0, "p_w": [1e5] * 3,
                 "q_var": [0.0] * 3})
    dead = solve(net.replace(source=net.source.take(np.zeros(0, dtype=np.int64))))
    assert (dead.voltages["v_volts"] == 0.0).all() and len(dead.voltages) == 6
    assert dead.source_kw == dead.load_kw == dead.losses_kw == 0.0
    assert dead.branches.empty


@needs_feeders
def test_fixed_loads_keep_their_power_when_the_others_scale():
    net = load_opendss(FEEDERS_DIR / MASTERS["8500-node"])
    assert net.load["fixed"].sum() == 24  # 'status=fixed' in loads.dss
    prep = prepare(net)
    full, half = prep.component_power(1.0), prep.component_power(0.5)
    fixed = net.load["fixed"][prep.comps.owner] & ~prep.comps.generator
    assert np.array_equal(half[fixed], full[fixed]) and fixed.any()
    assert np.allclose(half[~fixed & ~prep.comps.generator], 0.5 * full[~fixed & ~prep.comps.generator])
