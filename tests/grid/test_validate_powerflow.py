"""The validator's power-flow rules: convergence, ANSI C84.1 voltages and overloads at peak load."""

from __future__ import annotations

import numpy as np

from twin.grid import Phase
from twin.grid.validate import validate

from .nets import network


def feeder(load_kw: float = 300.0, *, km: float = 1.0, rated_a: float = 400.0):
    """A 12.47 kV source, a line of ``km`` and a balanced load at its end."""
    per_phase = load_kw * 1e3 / 3
    return network(
        source=[{"id": "S", "bus": "src", "v_nom_v": 12470.0, "r1_ohm": 0.01, "x1_ohm": 0.1,
                 "r0_ohm": 0.01, "x0_ohm": 0.1}],
        line=[{"id": "L1", "from_bus": "src", "to_bus": "end", "length_m": km * 1000.0, "rated_a": rated_a}],
        load=[{"id": "LD", "bus": "end", "phases": Phase.ABC, "v_rated_v": 12470.0,
               "p_w": [per_phase] * 3, "q_var": [0.3 * per_phase] * 3}],
    )



def rules(report):
    """Codes of the report's findings (coordinates are left out of these hand-made feeders)."""
    return {f.rule for f in report.findings} - {"missing-coordinates"}


def test_a_sound_feeder_has_no_power_flow_findings():
    assert rules(validate(feeder())) == set()


def test_low_voltage_at_the_far_end_is_named():
    report = validate(feeder(6000.0, km=12.0, rated_a=1000.0))
    (low,) = [f for f in report.findings if f.rule.startswith("voltage-range")]
    assert low.elements == ("end",) and low.value < 0.95


def test_an_overloaded_line_is_named_with_its_loading():
    report = validate(feeder(3000.0, rated_a=100.0))
    (over,) = report.by_rule("overload")
    assert over.elements == ("line.L1",) and over.value > 100.0


def test_no_convergence_is_an_error_naming_the_worst_bus(monkeypatch):
    # Loads turn to constant impedance below v_min_pu, so a real feeder always converges in the
    # end; the rule's handling is checked with a solver that gives up.
    import twin.grid.powerflow as pf
    from twin.errors import NotConverged

    def gives_up(net, **kw):
        raise NotConverged(iterations=100, worst_bus="end", mismatch=0.03)

    monkeypatch.setattr(pf, "solve_controlled", gives_up)
    report = validate(feeder())
    (f,) = report.by_rule("not-converged")
    assert f.elements == ("end",) and f.value == 0.03 and report.n_errors == 1


def test_a_broken_model_is_not_solved_and_does_not_crash():
    net = feeder()
    net.line["length_m"][0] = 0.0
    report = validate(net)
    assert "line-length" in rules(report) and "powerflow-skipped" in rules(report)
    assert "internal-error" not in rules(report)
    assert np.isfinite(report.summary["load_kw"])
