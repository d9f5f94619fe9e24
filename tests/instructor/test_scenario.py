"""Scenario files: the shipped ones pass the check; broken ones fail with every problem named (key
path, bad value, what is allowed); a scenario's scripted events happen in the session."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml

from twin.cli import main
from twin.instructor.checks import DataError
from twin.instructor.scenario import load_scenario, parse_scenario

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"
SHIPPED = sorted(SCENARIOS.glob("*.yaml"))

GOOD = """
name: test
territory: {customers: 2000, seed: 4}
start: 2026-07-15 14:00
seed: 3
hours: 2
"""


def test_five_scenarios_an_instructor_would_recognise_are_shipped_and_pass_the_check():
    names = {p.stem for p in SHIPPED}
    assert {"blue-sky-lockout", "summer-thunderstorm", "hurricane-day", "ice-storm-comms", "model-error"} <= names
    kinds = set()
    for path in SHIPPED:
        s = load_scenario(path)
        kinds.update(e.kind for e in s.events)
        assert s.name and s.events
    assert kinds >= {"fault", "comms_outage", "wrong_status", "critical_call", "call_flood", "crew_sick"}
    assert main(["scenario", "check", *map(str, SHIPPED)]) == 0


def _problems(text: str, *, check_model: bool = True) -> list[str]:
    with pytest.raises(DataError) as err:
        parse_scenario(yaml.safe_load(text), source="broken.yaml", check_model=check_model)
    assert str(err.value).startswith("broken.yaml: ")
    return [str(p) for p in err.value.problems]


BROKEN = {
    "nothing required": ("description: no name, no seed, no start, no territory\n",
                         ["name: is missing", "seed: is missing", "start: is missing", "territory: is missing"]),
    "unknown top-level key": (GOOD + "wether: {storm: ice}\n", ["wether: is not a key here (did you mean 'weather'?"]),
    "bad numbers": (GOOD.replace("seed: 3", "seed: -3").replace("hours: 2", "hours: 0"),
                    ["seed: -3 is not allowed (a whole number at least 0)", "hours: 0 is not allowed (a number above 0"]),
    "bad start": (GOOD.replace("2026-07-15 14:00", "next tuesday"), ["start: 'next tuesday' is not a date and time"]),
    "territory and model both": (GOOD + "model: feeder.dss\n", ["territory: ", "give one of territory or model"]),
    "unknown storm": (GOOD + "weather: {storm: tornado}\n",
                      ["weather.storm: 'tornado' is not allowed (one of: blue_sky, thunderstorm, hurricane, ice)"]),
    "event with two kinds and no time": (GOOD + "events:\n  - fault: {line: x}\n    crew_sick: {crew: y}\n",
                                         ["events[0]: ['crew_sick', 'fault'] needs exactly one event"]),
    "event time and arguments": (GOOD + "events:\n  - at: '2h'\n    fault: {line: S01-F1-L0002, type: arc, "
                                 "location: 1.5}\n",
                                 ["events[0].at: '2h' is not a time", "events[0].fault.type: 'arc' is not allowed",
                                  "events[0].fault.location: 1.5 is not allowed (a number at least 0 and at most 1)"]),
    "names not in the model": (GOOD + "events:\n  - at: '00:10'\n    fault: {line: S01-F1-L9999}\n"
                               "  - at: '00:20'\n    wrong_status: {device: S01-F1-RCLL, shows: open}\n"
                               "  - at: '00:30'\n    crew_sick: {crew: S09-LC1}\n",
                               ["events[0].fault.line: 'S01-F1-L9999' is no line of the model",
                                "events[1].wrong_status.device: 'S01-F1-RCLL' is no switching device of the model "
                                "(did you mean 'S01-F1-RCL'?)", "events[2].crew_sick.crew: 'S09-LC1' is no crew"]),
    "comms outage missing keys": (GOOD + "events:\n  - at: '01:00'\n    comms_outage: {x_m: 0, radius_m: -5}\n",
                                  ["events[0].comms_outage.y_m: is missing", "events[0].comms_outage.hours: is missing",
                                   "events[0].comms_outage.radius_m: -5 is not allowed"]),
    "condition and crews": (GOOD + "events:\n  - when: {customers_out: 10}\n    critical_call: {service_point: SP0000001}\n"
                            "crews:\n  every_depot:\n    - {shift: evening, skill: line, count: 2.5}\n",
                            ["events[0].when.customers_out: is not a key here",
                             "events[0].when.customers_out_at_least: is missing",
                             "crews.every_depot[0].shift: 'evening' is not allowed",
                             "crews.every_depot[0].count: 2.5 is not allowed"]),
    "idms and scoring": (GOOD + "idms: {ami: yes please, flisr: true, rules: {device_min_children: 0}}\n"
                         "scoring: {weights: {customer_minutes: -1, style: 3}}\n",
                         ["idms.ami: 'yes please' is not allowed (true or false)", "idms.flisr: True is not built yet",
                          "idms.rules: ", "scoring.weights.style: is not a key here",
                          "scoring.weights.customer_minutes: -1 is not allowed"]),
    "storm over a feeder that is not there": (GOOD + "weather: {storm: thunderstorm, over: [S01-F9-BKR], starts: 1}\n",
                                              ["weather.starts: 1 is not a time",
                                               "weather.over[0]: 'S01-F9-BKR' is no feeder of the model"]),
}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_a_broken_scenario_fails_with_every_problem_named(case):
    text, expected = BROKEN[case]
    problems = _problems(text)
    for fragment in expected:
        assert any(fragment in p for p in problems), (fragment, problems)
    assert len(problems) >= len([e for e in expected if ": " in e])


def test_broken_yaml_and_a_missing_file_are_named(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\n  seed: [1\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"bad\.yaml: 1 problem\n  line 2, column \d+: is not valid YAML"):
        load_scenario(bad)
    with pytest.raises(DataError, match="cannot be read"):
        load_scenario(tmp_path / "none.yaml")
    assert main(["scenario", "check", str(bad)]) == 1


def test_a_scenarios_scripted_events_happen_in_the_session():
    from twin.idms.operations_model import Source
    from twin.session import build_session
    from twin.world.events import EventKind

    s = parse_scenario(yaml.safe_load(GOOD + """
events:
  - at: "00:05"
    fault: {line: S01-F1-L0002, type: three_phase}
  - at: "00:10"
    wrong_status: {device: S01-F2-SW1, shows: open}
  - at: "00:15"
    crew_sick: {crew: S01-LC1}
  - at: "00:20"
    comms_outage: {x_m: 0, y_m: 0, radius_m: 1500, hours: 0.5}
  - at: "00:25"
    critical_call: {service_point: SP0000002}
  - when: {customers_out_at_least: 100}
    call_flood: {calls: 20, x_m: 0, y_m: 0, radius_m: 3000, minutes: 5}
"""), source="scripted.yaml")
    net = s.network()
    session = build_session(net, scenario=s)
    world = session.world
    world.run_to(11 * 60.0)
    assert session.idms.model.belief("S01-F2-SW1")[:2] == (True, Source.manual)  # the model error, entered
    world.run_to(23 * 60.0)
    scripted = [e.data["event"] for e in world.events.of(EventKind.scripted)]
    assert scripted[:2] == ["fault", "call_flood"] and "wrong_status" in scripted and "comms_outage" in scripted
    assert any(o.device == "S01-F1-BKR" for o in world.grid.outages)  # the main-line fault locked the breaker out
    sick = int(np.flatnonzero(session.parts.crews.ids == "S01-LC1")[0])
    assert session.parts.crews.sick[sick] and not session.parts.crews.call_out(["S01-LC1"])
    rows = np.flatnonzero(np.hypot(*(np.asarray(net.bus[k], float)[net.bus.index(net.service_point["bus"])]
                                     for k in ("x", "y"))) <= 1500.0)
    assert len(rows) and not session.parts.fleet.reachable[rows].any()
    world.run_to(60 * 60.0)
    assert session.parts.fleet.reachable[rows].all()  # back after half an hour
    calls = [e for e in world.events.of(EventKind.call)]
    assert any(e.data["service_point"] == 1 and e.time_s == pytest.approx(25 * 60.0) for e in calls)
    assert sum(e.time_s >= 5 * 60.0 for e in calls) >= 20


def test_a_recloser_that_fails_to_trip_is_backed_up_and_a_stuck_switch_does_not_move():
    from twin.grid.topology import build_topology
    from twin.idms.scada.control import Outcome
    from twin.session import build_session
    from twin.world.events import EventKind

    net = parse_scenario(yaml.safe_load(GOOD), check_model=False).network()
    topo = build_topology(net, normal=True)
    kind = dict(zip(net.switch.ids.tolist(), np.asarray(net.switch["kind"]).tolist()))
    from twin.grid.schema import SwitchKind

    def devices_above(line):
        return [r.partition(".")[2] for r in topo.path_to_source(f"line.{line}") if r.startswith("switch.")
                and kind[r.partition(".")[2]] in (int(SwitchKind.breaker), int(SwitchKind.recloser), int(SwitchKind.fuse))]

    line = next(ln for ln in net.line.ids.tolist() if sorted(devices_above(ln)) == ["S01-F1-BKR", "S01-F1-RCL"])
    s = parse_scenario(yaml.safe_load(GOOD + f"""
events:
  - at: "00:01"
    fails_to_trip: {{device: S01-F1-RCL}}
  - at: "00:01"
    stuck_switch: {{device: S01-F2-SW2}}
  - at: "00:05"
    fault: {{line: {line}, type: three_phase}}
"""), source="failures.yaml")
    session = build_session(net, scenario=s, dispatcher=False)
    done = []
    session.idms.clock.call_later(600.0, lambda: session.idms.scada.control("S01-F2-SW2", "open", "trainee",
                                                                            on_done=done.append))
    session.world.run_to(900.0)
    operated = {e.data["device"] for e in session.world.events.of(EventKind.protection)}
    assert "S01-F1-BKR" in operated and "S01-F1-RCL" not in operated  # the breaker backed the recloser up
    assert done and done[0].outcome == Outcome.failed and done[0].reason.value == "confirm_timeout"
    k = int(np.flatnonzero(net.switch.ids == "S01-F2-SW2")[0])
    assert not session.world.grid.switch_open[k]  # it did not move
    with pytest.raises(DataError, match="is no breaker or recloser of the model"):
        parse_scenario(yaml.safe_load(GOOD + "events:\n  - at: '00:01'\n    fails_to_trip: {device: S01-F1-FU001}\n"))
    with pytest.raises(DataError, match="is no remote switching device of the model"):
        parse_scenario(yaml.safe_load(GOOD + "events:\n  - at: '00:01'\n    stuck_switch: {device: S01-F2-SW1}\n"))
