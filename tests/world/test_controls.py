"""Regulators and capacitor banks in the world: timers and deadbands, limits, discharge, time of day,
de-energised devices, and the settle after a load step against the static control loop.

The reference for the settle is :func:`twin.grid.powerflow.solve_controlled` started from the taps
the world had settled to before the step, at the load after it. Its default move is 70 % of the
pending change at once; a real controller (and the world's) moves one step per delay, so it stops
at the first tap inside the band where the static loop may go further in: with
``max_tap_change=1`` the static loop moves as the world does and the taps must be equal, and with
its default they may differ by as many steps as fit in the band (both inside it).
"""

from __future__ import annotations

from functools import cache

import numpy as np
import pytest

from tests.grid.feeders import FEEDERS_DIR, MASTERS, needs_feeders
from twin.grid.opendss import load_opendss
from twin.grid.powerflow import solve_controlled
from twin.world.controls import DISCHARGE_S, Controls
from twin.world.environment import World
from twin.world.events import EventKind, JsonLines
from twin.world.territory import generate_territory

LTC = "S01-TR1"


class StepLoad:
    """Loads at ``before`` times their peak until ``at_s``, then ``after``; the world re-solves then."""

    def __init__(self, world: World, at_s: float, before: float, after: float) -> None:
        self.at_s, self.before, self.after = at_s, before, after
        world.load_model = self
        world.env.process(self._step(world))

    def _step(self, world: World):
        """The load step."""
        yield world.env.timeout(self.at_s)
        world.request_resolve()

    def scale(self, t_s: float) -> float:
        return self.before if t_s < self.at_s else self.after


@cache
def territory(customers: int, seed: int):
    return generate_territory(customers, seed=seed)


@cache
def feeder(key: str):
    return load_opendss(FEEDERS_DIR / MASTERS[key])


def _world(net, *, load: tuple[float, float, float] = (1e9, 1.0, 1.0), **kw) -> tuple[World, Controls]:
    world = World(net, seed=1, **kw)
    controls = Controls(world)
    StepLoad(world, *load)
    return world, controls


def _timeline(world: World, kinds=(EventKind.solve, EventKind.tap, EventKind.capacitor)) -> list[tuple]:
    return [(e.time_s, e.kind.value, e.data.get("device"), e.data.get("tap", e.data.get("action")))
            for e in world.events.events if e.kind in kinds]


def _taps(controls: Controls) -> list[int]:
    return [controls.tap_position(j) for j in range(len(controls.reg_ids))]


def test_one_step_per_delay_each_followed_by_a_resolve_until_inside_the_band():
    world, controls = _world(territory(2000, 3))
    world.request_resolve()
    world.run_to(3600.0)
    # solve at 60 s: the LTC low (121.6 V on 124 +- 1 V), its 30 s delay, one step, the re-solve a minute later
    assert _timeline(world) == [(60.0, "solve", None, None), (90.0, "tap", LTC, 1), (150.0, "solve", None, None),
                                (180.0, "tap", LTC, 2), (240.0, "solve", None, None)]
    static = solve_controlled(territory(2000, 3))
    assert _taps(controls) == static.taps["tap"].tolist() == [2]
    assert controls.v_control_v == pytest.approx(static.taps["v_control_v"].to_numpy(), abs=1e-6)
    tap = world.events.of(EventKind.tap)[0].data
    assert tap["by"] == "control" and tap["action"] == "raise" and tap["v_control_v"] < 123.0
    k = world.grid.net.transformer.position(LTC)
    assert world.grid.tap_pu[k, 1] == pytest.approx(1.0125) and world.grid.network().transformer["tap_pu"][k, 1] == \
        world.grid.tap_pu[k, 1]
    assert world.grid.net.transformer["tap_pu"][k, 1] == 1.0  # the model is not written


def test_no_tap_while_inside_the_band_however_often_it_solves():
    world, controls = _world(territory(2000, 3), load=(1e9, 0.4, 0.4), resolve_every_s=5.0)
    for t in range(0, 1200, 20):
        world.run_to(float(t))
        world.request_resolve()
    world.run_to(1300.0)
    assert len(world.events.of(EventKind.solve)) == 60 and not world.events.of(EventKind.tap)
    v, (rg,) = controls.v_control_v[0], world.grid.net.regulator.take([0]).to_frame().itertuples()
    assert abs(v - rg.v_set_v) <= rg.band_v / 2 and np.isinf(controls.reg_due_s).all()


def test_back_inside_the_band_before_the_delay_ends_cancels_the_step():
    # peak load: the solve at 5 s starts the LTC's 30 s timer; the load drops at 20 s, the solve at 25 s is in band
    world, controls = _world(territory(2000, 3), load=(20.0, 1.0, 0.4), resolve_every_s=5.0)
    world.request_resolve()
    world.run_to(10.0)
    assert controls.reg_due_s[0] == 35.0 and controls.reg_dir[0] == 1
    world.run_to(600.0)
    assert _timeline(world) == [(5.0, "solve", None, None), (25.0, "solve", None, None)]
    assert np.isinf(controls.reg_due_s[0]) and controls.reg_dir[0] == 0
    # the same without the drop: the step comes when the delay ends
    world, controls = _world(territory(2000, 3), resolve_every_s=5.0)
    world.request_resolve()
    world.run_to(40.0)
    assert _timeline(world)[:2] == [(5.0, "solve", None, None), (35.0, "tap", LTC, 1)]


def test_a_regulator_stops_at_its_highest_tap():
    net = territory(2000, 3)
    k = net.transformer.position(LTC)
    taps = np.array(net.transformer["tap_pu"], float)
    taps[k, 1] = 1.1 - 2 * 0.2 / 32  # two steps below the top
    net = net.replace(transformer=net.transformer.with_columns(tap_pu=taps),
                      regulator=net.regulator.with_columns(v_set_v=np.array([140.0])))  # out of reach
    world, controls = _world(net)
    world.request_resolve()
    world.run_to(3600.0)
    assert [t for _, kind, _, t in _timeline(world) if kind == "tap"] == [15, 16]
    assert world.grid.tap_pu[k, 1] == pytest.approx(1.1) and controls.at_limit(0, +1)
    assert np.isinf(controls.reg_due_s[0])  # at the limit no timer runs
    assert not controls.step(0, +1, by="control")
    assert controls.step(0, -1, by="scada") and controls.tap_position(0) == 15


def _in_band_or_at_limit(net, controls: Controls) -> bool:
    rg = net.regulator
    ok = np.abs(controls.v_control_v - rg["v_set_v"]) <= rg["band_v"] / 2 + 1e-9
    limit = [controls.at_limit(j, int(np.sign(rg["v_set_v"][j] - controls.v_control_v[j]))) for j in range(len(rg))]
    return bool((ok | np.array(limit)).all())


def _settle_after_a_step(net, before: float, after: float) -> tuple[World, Controls, object]:
    """Settled at ``before`` times peak load, then stepped to ``after`` at 2 h, run to 5 h; the
    model with the taps and bank states of just before the step."""
    world, controls = _world(net, load=(7200.0, before, after))
    world.request_resolve()
    world.run_to(7200.0)
    pre = world.grid.network()
    world.run_to(5 * 3600.0)
    return world, controls, pre


@pytest.mark.parametrize("before, after", [(0.5, 1.0), (1.0, 0.4)])
@pytest.mark.parametrize("source", ["territory", pytest.param("13bus", marks=needs_feeders),
                                    pytest.param("34bus", marks=needs_feeders),
                                    pytest.param("37bus", marks=needs_feeders)])
def test_after_a_load_step_the_taps_settle_where_the_static_loop_does(source, before, after):
    net = territory(2000, 6) if source == "territory" else feeder(source)
    world, controls, pre = _settle_after_a_step(net, before, after)
    one_step = solve_controlled(pre, load_scale=after, max_tap_change=1)
    assert _taps(controls) == one_step.taps["tap"].tolist()
    assert world.grid.cap_closed.tolist() == one_step.capacitors["closed"].tolist()
    assert controls.v_control_v == pytest.approx(one_step.taps["v_control_v"].to_numpy(), abs=1e-6)
    static = solve_controlled(pre, load_scale=after)
    band_steps = np.floor(net.regulator["band_v"] / (120.0 * controls.reg_step_pu))
    assert (np.abs(np.array(_taps(controls)) - static.taps["tap"].to_numpy()) <= band_steps).all()
    assert _in_band_or_at_limit(net, controls)
    assert controls.tap_changes == len(world.events.of(EventKind.tap)) > 0


def test_line_regulators_and_the_ltc_settle_together_within_the_band():
    # 20,000 customers: feeders long enough for line regulator banks (45 s) below the LTCs (30 s)
    net = territory(20000, 1)
    world, controls, pre = _settle_after_a_step(net, 0.5, 1.0)
    assert any("-VR-" in str(e.data["device"]) for e in world.events.of(EventKind.tap) if e.time_s > 7200.0)
    static = solve_controlled(pre, load_scale=1.0)
    band_steps = np.floor(net.regulator["band_v"] / (120.0 * controls.reg_step_pu))
    diff = np.abs(np.array(_taps(controls)) - static.taps["tap"].to_numpy())
    ltc = np.array(["-VR-" not in str(r) for r in controls.reg_ids])
    assert (diff[ltc] == 0).all() and (diff <= band_steps).all()  # the LTCs exactly; a bank may end higher in band
    assert _in_band_or_at_limit(net, controls)
    assert world.grid.cap_closed.tolist() == static.capacitors["closed"].tolist()


@needs_feeders
@pytest.mark.parametrize("key", ["13bus", "34bus", "37bus", "123bus"])
def test_the_control_voltage_is_the_static_loops_with_line_drop_compensation(key):
    settled = solve_controlled(feeder(key))
    world, controls = _world(settled.network)
    world.request_resolve()
    world.run_to(61.0)
    assert controls.v_control_v == pytest.approx(settled.taps["v_control_v"].to_numpy(), abs=1e-6)
    assert not world.events.of(EventKind.tap) and np.isinf(controls.reg_due_s).all()


def _switched_bank(net, **settings) -> tuple[object, int]:
    """The model with its first switched bank's control given ``settings``; that control's row."""
    cc = net.cap_control
    j = 0
    columns = {name: np.where(np.arange(len(cc)) == j, value, cc[name]) for name, value in settings.items()}
    return net.replace(cap_control=cc.with_columns(**columns)), j


def test_a_bank_switched_out_waits_for_its_discharge_before_closing_again():
    # a voltage control that wants its bank in below 130 V: always, here
    net, j = _switched_bank(territory(2000, 3), kind=np.int8(0), on_value=130.0, off_value=135.0)
    world, controls = _world(net)
    cap = controls.cc_cap[j]
    bank = str(net.capacitor.ids[cap])
    world.request_resolve()
    world.run_to(100.0)
    assert controls.switch(int(cap), False, by="scada")  # SCADA opens it at 100 s; the controller is in auto
    world.run_to(1000.0)
    events = [(t, d, a) for t, kind, d, a in _timeline(world) if kind == "capacitor"]
    assert events == [(100.0, bank, "open"), (100.0 + DISCHARGE_S, bank, "close")]  # not at 160 + 30 s
    assert world.events.of(EventKind.capacitor)[-1].data["by"] == "control" and world.grid.cap_closed[cap]
    assert controls.discharging_s(int(cap)) == 0.0


def test_a_time_control_follows_the_calendar_without_waiting_for_a_solve():
    net = territory(2000, 6)  # S01-F2-C2: a time control, in from 7 h to 22 h
    world, controls = _world(net)  # the world starts at midnight with the bank in
    j = int(np.flatnonzero(controls.cc_timed)[0])
    bank = str(net.capacitor.ids[controls.cc_cap[j]])
    world.run_to(25 * 3600.0)
    events = [(t, d, a) for t, kind, d, a in _timeline(world) if kind == "capacitor"]
    assert events == [(30.0, bank, "open"), (7 * 3600.0 + 30.0, bank, "close"), (22 * 3600.0 + 30.0, bank, "open")]


def test_manual_does_nothing_and_auto_takes_over_again():
    world, controls = _world(territory(2000, 3))
    controls.set_mode(LTC, False, by="scada")
    world.request_resolve()
    world.run_to(1800.0)
    assert not world.events.of(EventKind.tap) and controls.v_control_v[0] < 123.0  # it measures, it does not act
    controls.set_mode(LTC, True, by="scada")  # the last solve is current: the timer starts now
    world.run_to(3600.0)
    assert [(t, d, tap) for t, kind, d, tap in _timeline(world) if kind == "tap"] == [(1830.0, LTC, 1),
                                                                                       (1920.0, LTC, 2)]
    modes = [(e.time_s, e.data["mode"], e.data["by"]) for e in world.events.of(EventKind.control_mode)]
    assert modes == [(0.0, "manual", "scada"), (1800.0, "auto", "scada")]


def test_a_dead_regulator_keeps_its_tap_and_its_timer_is_cancelled():
    net = territory(20000, 1)
    world, controls = _world(net)
    world.request_resolve()
    world.run_to(70.0)  # solved at 60 s: the bank's timers run (45 s)
    bank = [j for j, r in enumerate(controls.reg_ids) if str(r).startswith("S01-F1-VR-")]
    assert np.isfinite(controls.reg_due_s[bank]).all()
    world.grid.operate(world.now, "S01-F1-BKR", open_=True, why="test")
    world.run_to(3600.0)
    assert not [e for e in world.events.of(EventKind.tap) if str(e.data["device"]).startswith("S01-F1-VR-")]
    assert np.isnan(controls.v_control_v[bank]).all() and np.isinf(controls.reg_due_s[bank]).all()
    assert [controls.tap_position(j) for j in bank] == [0, 0, 0]
    assert world.events.of(EventKind.tap)  # the others regulate


def test_the_same_seed_gives_the_same_control_events(tmp_path):
    from twin.world.loads import LoadModel

    lines = []
    for run in range(2):
        world = World(territory(2000, 7), seed=4)  # a voltage and a time control, the LTC
        Controls(world)
        LoadModel(world)
        path = tmp_path / f"events-{run}.jsonl"
        writer = JsonLines(path)
        world.events.subscribe(writer)
        world.run_to(24 * 3600.0)
        writer.close()
        lines.append(path.read_bytes())
        kinds = {e.kind for e in world.events.events}
        assert {EventKind.tap, EventKind.capacitor} <= kinds
    assert lines[0] == lines[1]


def test_one_set_of_controls_per_world():
    world, controls = _world(territory(2000, 3))
    assert world.controls is controls
    with pytest.raises(ValueError, match="world.controls"):
        Controls(world)
    with pytest.raises(ValueError, match="S01-F1-C1 is neither"):  # a fixed bank has no controller
        controls.set_mode("S01-F1-C1", False, by="scada")
