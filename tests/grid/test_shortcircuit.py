"""Short-circuit analysis: OpenDSS's fault study on the IEEE feeders (dss-python in the same run)
and hand calculations on a one-line feeder.

OpenDSS reference: each master compiled, its regulators put back on the file's taps, solved in
OpenDSS's static control mode (the fault study's pre-fault voltages are that solution), then
``set mode=faultstudy`` and ``export fault``: per bus the '3-Phase', '1-Phase' and 'L-L'
currents. Twin solves the same network with its own control loop (taps equal step for step,
``test_powerflow_control``) and runs :func:`fault_study` on the settled network. Every bus
OpenDSS reports, every figure, within 2 %.
"""

from __future__ import annotations

from functools import cache

import numpy as np
import pandas as pd
import pytest

from twin.errors import ModelError
from twin.grid.opendss import load_opendss
from twin.grid.powerflow.ybus import sequence_z
from twin.grid.schema import SwitchKind
from twin.grid.shortcircuit import FaultType, fault_at, fault_study
from twin.grid.shortcircuit.faults import STUDY_OHM

from .feeders import FEEDERS_DIR, MASTERS, needs_feeders
from .nets import code, network
from .test_powerflow_control import controlled

TOL = 0.02


@cache
def opendss_fault_study(key: str, tmp: str) -> pd.DataFrame:
    dss = pytest.importorskip("dss")
    net = load_opendss(FEEDERS_DIR / MASTERS[key])
    text = dss.DSS.Text
    text.Command = "clear"
    text.Command = f'compile "{FEEDERS_DIR / MASTERS[key]}"'
    xf = net.transformer
    for name in set(net.regulator["transformer"]):
        k = xf.position(name)
        for w in range(int(xf["n_windings"][k])):
            text.Command = f"transformer.{name}.wdg={w + 1} tap={float(xf['tap_pu'][k, w])!r}"
    text.Command = "set maxiterations=100"
    text.Command = "set maxcontroliter=100"
    dss.DSS.ActiveCircuit.Solution.Solve()
    text.Command = "set mode=faultstudy"
    dss.DSS.ActiveCircuit.Solution.Solve()
    path = f"{tmp}/fault-{key}.csv"
    text.Command = f"export fault {path}"
    table = pd.read_csv(path, skipinitialspace=True)
    table.columns = ["bus", "i3ph_a", "islg_a", "ill_a"]
    table["bus"] = table["bus"].str.strip().str.lower()
    return table


@needs_feeders
@pytest.mark.parametrize("key", ["13bus", "34bus", "123bus"])
def test_fault_study_matches_opendss_at_every_bus(key, tmp_path_factory):
    ref = opendss_fault_study(key, str(tmp_path_factory.mktemp("faults")))
    _, settled = controlled(key)
    ours = fault_study(settled.network).buses.assign(bus=lambda t: t["bus"].str.lower())
    both = ref.merge(ours, on="bus", suffixes=("_dss", ""), how="left", validate="one_to_one")
    assert not both["i3ph_a"].isna().any(), "every bus OpenDSS reports is in the study"
    for figure in ("i3ph_a", "islg_a", "ill_a"):
        theirs, mine = both[f"{figure}_dss"].to_numpy(), both[figure].to_numpy()
        zero = theirs == 0.0  # the export prints 2 decimals: an ungrounded 480 V delta's SLG is 1.8e-4 A
        assert (mine[zero] < 0.005).all(), figure
        worst = np.abs(mine[~zero] / theirs[~zero] - 1.0)
        assert worst.max() < TOL, f"{figure}: {both['bus'][~zero].iloc[int(np.argmax(worst))]} off by {worst.max():.2%}"


# -- by hand: source - 1 km line - bus ----------------------------------------------------------

V_LN = 12470.0 / np.sqrt(3.0)
Z_LINE = 0.3 + 0.6j  # ohm, each phase, no mutual coupling: Z1 = Z0 = Z_LINE


def _feeder(**extra) -> object:
    rows = {
        "line_code": [code("c3", r=3e-4, x=6e-4)],
        "line": [{"id": "l1", "from_bus": "s", "to_bus": "f", "length_m": 1000.0}],
        "source": [{"id": "src", "bus": "s", "v_nom_v": 12470.0, "r1_ohm": 0.5, "x1_ohm": 2.0,
                    "r0_ohm": 1.0, "x0_ohm": 4.0}],
    }
    rows.update(extra)
    return network("by-hand", **rows)


def test_bolted_faults_match_the_sequence_network_hand_calculation():
    study = fault_study(_feeder(), prefault="flat").buses.set_index("bus")
    z1, z0 = 0.5 + 2.0j + Z_LINE, 1.0 + 4.0j + Z_LINE  # source plus line, positive and zero sequence
    r = STUDY_OHM  # OpenDSS's SLG and LL figures are through 1e-4 ohm
    assert study.loc["f", "i3ph_a"] == pytest.approx(V_LN / abs(z1), rel=1e-6)
    assert study.loc["f", "islg_a"] == pytest.approx(3 * V_LN / abs(2 * z1 + z0 + 3 * r), rel=1e-6)
    assert study.loc["f", "ill_a"] == pytest.approx(np.sqrt(3) * V_LN / abs(2 * z1 + r), rel=1e-6)
    assert np.allclose(sequence_z(0.5, 2.0, 1.0, 4.0).diagonal(), (2 * (0.5 + 2.0j) + (1.0 + 4.0j)) / 3)


def test_fault_resistance_and_the_minimum_fault():
    z1, z0 = 0.5 + 2.0j + Z_LINE, 1.0 + 4.0j + Z_LINE
    r = fault_at(_feeder(), "f", FaultType.slg, phases="B", r_fault_ohm=10.0, prefault="flat")
    assert list(r.currents["phase"]) == [2]
    assert r.currents["i_a"].iloc[0] == pytest.approx(3 * V_LN / abs(2 * z1 + z0 + 30.0), rel=1e-6)
    study = fault_study(_feeder(), prefault="flat", r_min_ohm=10.0).buses.set_index("bus")
    slg_10 = 3 * V_LN / abs(2 * z1 + z0 + 30.0)  # each phase through 10 ohm: LL through 20 ohm is larger
    assert study.loc["f", "imin_a"] == pytest.approx(min(slg_10, np.sqrt(3) * V_LN / abs(2 * z1 + 20.0)), rel=1e-6)
    llg = fault_at(_feeder(), "f", FaultType.llg, prefault="flat")
    assert len(llg.currents) == 2 and (llg.currents["i_a"] > 0).all()
    lll = fault_at(_feeder(), "f", FaultType.three_phase_ungrounded, prefault="flat")
    assert lll.currents["i_a"].to_numpy() == pytest.approx([V_LN / abs(z1)] * 3, rel=1e-6)  # balanced: as bolted


def test_devices_on_the_path_carry_the_fault_current_and_zones_find_their_weakest_bus():
    switches = [{"id": "rcl", "from_bus": "f", "to_bus": "g", "kind": SwitchKind.recloser},
                {"id": "fu1", "from_bus": "g", "to_bus": "h", "kind": SwitchKind.fuse}]
    lines = [{"id": "l1", "from_bus": "s", "to_bus": "f", "length_m": 1000.0},
             {"id": "l2", "from_bus": "h", "to_bus": "k", "length_m": 2000.0},
             {"id": "l3", "from_bus": "g", "to_bus": "m", "length_m": 500.0}]
    net = _feeder(switch=switches, line=lines)
    r = fault_at(net, "k", FaultType.three_phase, prefault="flat")
    on_path = r.devices[r.devices["on_path"]]
    assert set(on_path["device"]) == {"rcl", "fu1"}
    fault = r.currents["i_a"].max()
    assert on_path["i_a"].to_numpy() == pytest.approx([fault] * len(on_path), rel=1e-6)  # radial, no load
    zones = fault_study(net, prefault="flat").zones.set_index("device")
    assert zones.loc["fu1", "weakest_bus"] == "k" and zones.loc["rcl", "weakest_bus"] == "m"
    assert zones.loc["rcl", "max_a"] > zones.loc["fu1", "max_a"]


def test_bad_fault_requests_are_clear_errors():
    net = _feeder()
    with pytest.raises(ModelError, match="no bus 'nope'"):
        fault_at(net, "nope")
    with pytest.raises(ModelError, match="phases 'AX'"):
        fault_at(net, "f", FaultType.slg, phases="AX")
    with pytest.raises(ValueError, match="prefault"):
        fault_study(net, prefault="warm")
