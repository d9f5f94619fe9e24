"""The validator's protection rules on hand-built feeders: source - breaker - recloser - fuse.

Fault currents on these feeders are some kA near the source and fall along the lines; the
settings are chosen on either side of what coordinates (the curves' figures are in
``tests/grid/test_coordination.py``)."""

from __future__ import annotations

from twin.grid.schema import SwitchKind
from twin.grid.validate import validate

from .nets import code, network


def _feeder(*, fuse: str = "40T", fuse_a: float = 40.0, breaker: str = "51P 400A U3 TD5", recloser: str = "2A2C 200A",
            lateral_m: float = 2000.0):
    lines = [{"id": "trunk1", "from_bus": "b1", "to_bus": "r0", "length_m": 3000.0},
             {"id": "trunk2", "from_bus": "r1", "to_bus": "t1", "length_m": 3000.0},
             {"id": "lat", "from_bus": "f1", "to_bus": "end", "length_m": lateral_m, "code": "lat"}]
    switches = [{"id": "bkr", "from_bus": "s", "to_bus": "b1", "kind": SwitchKind.breaker, "curve": breaker,
                 "rated_a": 600.0},
                {"id": "rcl", "from_bus": "r0", "to_bus": "r1", "kind": SwitchKind.recloser, "curve": recloser,
                 "rated_a": 400.0},
                {"id": "fu", "from_bus": "t1", "to_bus": "f1", "kind": SwitchKind.fuse, "curve": fuse,
                 "rated_a": fuse_a}]
    return network("protection", line=lines, switch=switches,
                   line_code=[code("c3", r=2e-4, x=4e-4), code("lat", r=8e-4, x=8e-4)],
                   source=[{"id": "src", "bus": "s", "v_nom_v": 12470.0, "r1_ohm": 0.2, "x1_ohm": 1.0,
                            "r0_ohm": 0.4, "x0_ohm": 2.0}])


def _by_rule(report, rule: str):
    return [f for f in report.findings if f.rule == rule]


def test_coordinated_settings_give_no_protection_findings():
    report = validate(_feeder())
    assert not [f for f in report.findings if f.rule in ("miscoordination", "fuse-cannot-see-fault",
                                                         "device-cannot-see-fault", "protection-setting")]


def test_a_fuse_too_big_for_the_recloser_above_it_is_a_miscoordination_warning():
    report = validate(_feeder(fuse="100T", fuse_a=100.0))
    found = _by_rule(report, "miscoordination")
    assert len(found) == 1
    assert found[0].elements[:2] == ("rcl", "fu")
    assert "fuse_first" in found[0].message and " A" in found[0].message


def test_a_breaker_with_a_low_time_dial_miscoordinates_with_the_recloser():
    report = validate(_feeder(breaker="51P 400A U3 TD1"))
    found = _by_rule(report, "miscoordination")
    assert [f.elements[0] for f in found] == ["bkr"] and "rcl" in found[0].elements


def test_a_fuse_that_cannot_see_the_end_of_its_zone_is_an_error():
    report = validate(_feeder(fuse="200T", fuse_a=200.0, lateral_m=60_000.0))  # 60 km of weak line: a few hundred A
    found = _by_rule(report, "fuse-cannot-see-fault")
    assert found and found[0].elements == ("fu",) and "end" in found[0].message
    assert report.errors


def test_a_setting_that_does_not_read_is_an_error_naming_the_device():
    report = validate(_feeder(recloser="2A2Q 200A"))
    found = _by_rule(report, "protection-setting")
    assert found and found[0].elements == ("rcl",) and found[0].field == "curve"
