"""The world's power flow part by part: equal to the whole network's, re-solving only what changed."""

import numpy as np
import pytest

from twin.grid.schema import SwitchKind
from twin.grid.subnetwork import parts
from twin.grid.powerflow.parts import PartSolver
from twin.world.territory import generate_territory


@pytest.fixture(scope="module")
def net():
    return generate_territory(25_000, seed=3)


def _whole(net, open_, scale=1.0, *, result=False):
    from twin.grid.powerflow import prepare, result_of

    r = result_of(prepare(net.replace(switch=net.switch.with_columns(open=open_))), load_scale=scale)
    return r if result else r.voltages.set_index(["bus", "phase"])["v_pu"]


def test_parts_equal_the_whole_network(net):
    solver = PartSolver(net)
    open_ = np.asarray(net.switch["open"], bool).copy()
    r = solver.solve(open_, load_scale=0.8)
    mine = r.voltages.set_index(["bus", "phase"])["v_pu"]
    whole = _whole(net, open_, 0.8)
    assert len(mine) == len(whole)
    assert np.abs(mine - whole.reindex(mine.index)).max() < 1e-7
    totals = _whole(net, open_, 0.8, result=True)
    for key in ("source_kw", "load_kw", "losses_kw", "capacitor_kvar"):
        assert getattr(r, key) == pytest.approx(getattr(totals, key), rel=1e-6), key
    pu = r.bus_v_pu()
    bus = net.bus.index(mine.index.get_level_values(0))
    slot = mine.index.get_level_values(1).to_numpy() - 1
    assert np.allclose(pu[bus, slot], mine.to_numpy())


def test_only_the_changed_part_is_factored_again(net):
    solver = PartSolver(net)
    open_ = np.asarray(net.switch["open"], bool).copy()
    solver.solve(open_)
    assert solver.prepared == len(net.source)
    breaker = int(np.flatnonzero((net.switch["kind"] == SwitchKind.breaker) & ~net.switch["normal_open"])[0])
    open_[breaker] = True
    r = solver.solve(open_)
    assert solver.prepared == len(net.source) + 1  # the breaker's substation only
    assert solver.solve(open_) is not r and solver.prepared == len(net.source) + 1  # nothing changed: no work
    dead = r.voltages.query(f"bus == '{net.switch['to_bus'][breaker]}'")["v_pu"]
    assert (dead == 0).all()
    whole = _whole(net, open_)
    mine = r.voltages.set_index(["bus", "phase"])["v_pu"]
    assert np.abs(mine - whole.reindex(mine.index)).max() < 1e-7


def test_a_closed_tie_joins_two_substations(net):
    solver = PartSolver(net)
    open_ = np.asarray(net.switch["open"], bool).copy()
    solver.solve(open_)
    sw = net.switch
    label = parts(net, np.asarray(sw["normal_open"], bool))
    a, b = label[net.bus.index(sw["from_bus"])], label[net.bus.index(sw["to_bus"])]
    tie = int(np.flatnonzero(np.asarray(sw["normal_open"], bool) & (a != b))[0])
    far = int(np.flatnonzero(sw["kind"] == SwitchKind.breaker)[-1])  # the other substation's last breaker
    open_[far] = True  # its feeder dead: the tie picks it up from the neighbour
    open_[tie] = False
    r = solver.solve(open_)
    assert len(r.parts) == len(net.source) - 1
    whole = _whole(net, open_)
    mine = r.voltages.set_index(["bus", "phase"])["v_pu"]
    assert np.abs(mine - whole.reindex(mine.index)).max() < 1e-7


def test_terminal_flows_match_the_branch_table(net):
    r = PartSolver(net).solve(np.asarray(net.switch["open"], bool))
    amps, va = r.terminal_flows("transformer")
    b = r.branches
    first = b[(b["element"].str.startswith("transformer.")) & (b["terminal"] == 1)]
    by = first.groupby("element").agg(i=("i_amps", "max"), p=("p_kw", "sum"), q=("q_kvar", "sum"))
    rows = net.transformer.index([e.partition(".")[2] for e in by.index])
    assert np.allclose(amps[rows], by["i"].to_numpy(), rtol=1e-9)
    assert np.allclose(va[rows], np.hypot(by["p"], by["q"]).to_numpy() * 1e3, rtol=1e-6)
    assert np.isfinite(amps).all() and (amps[rows] > 0).all()


def test_a_tap_change_updates_the_part_as_a_fresh_preparation_would(net):
    solver = PartSolver(net)
    open_ = np.asarray(net.switch["open"], bool).copy()
    solver.solve(open_)
    reg = net.regulator
    k = net.transformer.position(str(reg["transformer"][0]))
    taps = np.asarray(net.transformer["tap_pu"], float).copy()
    taps[k, int(reg["winding"][0]) - 1] += 0.00625 * 2
    closed = np.asarray(net.capacitor["closed"], bool).copy()
    closed[0] = not closed[0]
    r = solver.solve(open_, taps, closed)
    assert solver.updated == 1 and solver.prepared == len(net.source)
    fresh = PartSolver(net).solve(open_, taps, closed)
    a = r.voltages.set_index(["bus", "phase"])["v_pu"]
    b = fresh.voltages.set_index(["bus", "phase"])["v_pu"]
    assert np.abs(a - b.reindex(a.index)).max() < 1e-8
    assert not np.allclose(a, PartSolver(net).solve(open_).voltages.set_index(["bus", "phase"])["v_pu"].reindex(a.index))
