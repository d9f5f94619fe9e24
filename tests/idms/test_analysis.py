"""The IDMS's network analysis on its model: voltages outside ANSI range A and overloads flagged
where the power flow puts them, with the switches as the model believes them."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from twin.grid import SCHEMAS, Network, Phase, Table
from twin.grid.schema import SwitchKind
from twin.grid.topology import build_topology
from twin.idms.analysis import NetworkAnalysis
from twin.idms.console.mapview import Overlay


def feeder(load_kw: float, *, rated_a: float, open_switch: bool = False) -> Network:
    """12.47 kV source, a switch, a 5 km line (rated ``rated_a``) and a balanced load at its end."""
    rows = {
        "bus": [{"id": b, "v_nom_v": 12470.0, "phases": Phase.ABC} for b in ("s", "m", "l")],
        "line_code": [{"id": "c", "n_phases": 3, "r_ohm_per_m": 3e-4 * np.eye(3), "x_ohm_per_m": 6e-4 * np.eye(3)}],
        "line": [{"id": "l1", "from_bus": "m", "to_bus": "l", "phases": Phase.ABC, "code": "c", "length_m": 5000.0,
                  "rated_a": rated_a}],
        "switch": [{"id": "sw", "from_bus": "s", "to_bus": "m", "phases": Phase.ABC, "kind": SwitchKind.breaker,
                    "open": open_switch}],
        "source": [{"id": "src", "bus": "s", "v_nom_v": 12470.0, "r1_ohm": 0.01, "x1_ohm": 0.1, "r0_ohm": 0.01,
                    "x0_ohm": 0.1}],
        "load": [{"id": "ld", "bus": "l", "phases": Phase.ABC, "v_rated_v": 12470.0,
                  "p_w": [load_kw * 1e3 / 3] * 3, "q_var": [0.0] * 3}],
    }
    return Network.from_tables("f", {k: Table.from_rows(SCHEMAS[k], v) for k, v in rows.items()})


def analysis(net: Network, open_=False) -> NetworkAnalysis:
    return NetworkAnalysis(SimpleNamespace(net=net, open=np.array([open_])))


def test_a_light_load_within_range_flags_nothing() -> None:
    v = analysis(feeder(300.0, rated_a=400.0)).violations()
    assert not v.low and not v.high and v.overloaded.empty and 0.99 < v.v_min_pu <= 1.0


def test_a_heavy_load_is_low_at_the_far_end_and_overloads_its_line() -> None:
    net = feeder(6000.0, rated_a=200.0)
    study = analysis(net)
    v = study.violations()
    assert v.bus_voltage.tolist() == [0, 0, -1]  # only the far end is below 114/120
    drawn_w = study.solve().load_kw * 1e3  # (below 0.95 pu the load goes constant-impedance, as OpenDSS's)
    amps = drawn_w / (np.sqrt(3) * 12470.0 * v.v_min_pu)  # unity power factor
    assert list(v.overloaded.index) == ["line.l1"]
    assert v.overloaded["line.l1"] == pytest.approx(amps / 200.0 * 100.0, rel=0.02)
    assert analysis(net).violations(load_scale=0.3).overloaded.empty  # a forecast of a third: within its rating


def test_the_model_s_open_switch_leaves_the_feeder_dead_and_flags_nothing() -> None:
    v = analysis(feeder(6000.0, rated_a=200.0), open_=True).violations()
    assert not v.low and v.overloaded.empty and v.v_max_pu == pytest.approx(1.0, abs=0.01)


def test_the_overlay_puts_the_overload_on_the_line_s_edge() -> None:
    net = feeder(6000.0, rated_a=200.0)
    topo = build_topology(net, normal=True)
    overlay = Overlay.of(analysis(net).violations(), topo)
    flagged = [f"{t}.{net.table(t).ids[r]}" for t, r, f in zip(topo.edge_table, topo.edge_row, overlay.edge_overloaded)
               if f]
    assert flagged == ["line.l1"] and overlay.bus_voltage.tolist() == [0, 0, -1]
