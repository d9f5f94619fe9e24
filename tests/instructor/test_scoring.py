"""Scoring scripted trainee runs against the automatic dispatcher's run of the same scenario:
one who does nothing scores worse; one who operates a tagged switch, or closes a breaker into its
fault from the control room, is flagged for it."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from twin.instructor.scenario import load_scenario
from twin.instructor.scoring import Scorekeeper, score, write_score_sheet
from twin.session import build_session, run_session

LOCKOUT = Path(__file__).resolve().parents[2] / "scenarios" / "blue-sky-lockout.yaml"


def _run(scenario, *, dispatcher: bool, trainee=None, max_extra_h: float = 12.0):
    net = scenario.network()
    session = build_session(net, scenario=scenario, dispatcher=dispatcher)
    keeper = Scorekeeper(session)
    if trainee is not None:
        trainee(session)
    run_session(net, session=session, max_extra_h=max_extra_h)
    session.keeper = keeper
    return session, keeper.measures()


@pytest.fixture(scope="module")
def lockout():
    return load_scenario(LOCKOUT)


@pytest.fixture(scope="module")
def expert(lockout):
    return _run(lockout, dispatcher=True)[1]


def test_the_expert_restores_the_lockout_and_breaks_no_rule(expert):
    assert expert.safety == 0 and not expert.violations
    assert 0 < expert.first_restoration_s < 6 * 3600 and not math.isnan(expert.fault_isolation_s)
    assert expert.alarms_unacknowledged == 0 and 0.0 < expert.crew_idle < 1.0
    sheet = score(expert, expert)
    assert sheet.total == pytest.approx(100.0)


def test_a_trainee_who_does_nothing_scores_worse_than_the_automatic_dispatcher(lockout, expert, tmp_path):
    _, idle = _run(lockout, dispatcher=False)
    assert idle.customer_minutes > 2 * expert.customer_minutes
    assert math.isnan(idle.fault_isolation_s) and idle.alarms_unacknowledged > 0
    sheet = score(idle, expert, lockout.weights)
    assert sheet.total < 60.0 < score(expert, expert, lockout.weights).total
    csv_path, html_path = write_score_sheet(sheet, [], tmp_path, title=lockout.name)
    text = csv_path.read_text()
    assert text.startswith("measure,trainee,baseline,sub_score,weight") and f"total,{sheet.total:.1f}" in text
    assert "never" in html_path.read_text() and "No violation." in html_path.read_text()


def test_a_trainee_who_operates_a_tagged_switch_or_closes_into_the_known_fault_is_flagged(lockout, expert, tmp_path):
    def trainee(session):
        idms, clock = session.idms, session.idms.clock
        idms.scada.place_tag("S01-F3-RCL", "hold", user="crew S01-LC2", reason="crew working below")
        clock.call_later(600.0, lambda: idms.scada.control("S01-F3-RCL", "trip", "trainee"))
        clock.call_later(1800.0, lambda: idms.scada.control("S01-F2-BKR", "close", "trainee"))  # fault found, not repaired

    session, m = _run(lockout, dispatcher=True, trainee=trainee)
    assert m.safety == 2, m.violations
    assert any("tried to trip S01-F3-RCL, tagged (hold)" in v for v in m.violations)
    # the crew has found the fault: the IDMS refuses the close into it, and the attempt stands
    assert any("tried to close S01-F2-BKR: closing S01-F2-BKR energises a known fault" in v for v in m.violations)
    sheet = score(m, expert, lockout.weights, actions=session.keeper.actions("trainee"))
    assert [a for _, a in sheet.actions] == ["trip S01-F3-RCL: failed (tagged)", "close S01-F2-BKR: failed (refused)"]
    assert sheet.parts["safety"] == 0.0 and sheet.total < score(expert, expert, lockout.weights).total
    _, html_path = write_score_sheet(sheet, session.world.events.events, tmp_path)
    page = html_path.read_text()
    assert "tagged (hold)" in page and "<td class=l>close S01-F2-BKR: failed (refused)</td>" in page
    assert page.count("S01-F2-BKR trip") == 1  # the fault only: the trainee's close never went out


def test_a_trainee_who_puts_power_on_a_line_a_crew_is_repairing_is_flagged(lockout):
    def trainee(session):
        idms, clock = session.idms, session.idms.clock

        def on_event(e):
            if e.kind.value == "crew" and e.data.get("action") == "arrived" and e.data.get("line") and not done:
                done.append(e.data["line"])  # a minute after the crew starts on the line: close the breaker
                clock.call_later(60.0, lambda: idms.scada.control("S01-F2-BKR", "close", "trainee"))

        done: list[str] = []
        session.trainee_lines = done
        session.world.events.subscribe(on_event)

    session, m = _run(lockout, dispatcher=True, trainee=trainee)
    line = session.trainee_lines[0]
    unsafe = [v for v in m.violations if "where crew" in v]
    assert len(unsafe) == 1 and unsafe[0].startswith(f"S01-F2-BKR closed from the control room put power on {line}")
    assert m.safety == len(m.violations) >= 2  # and it closed into the fault too


def test_the_expert_never_powers_a_crew_s_line(expert):
    assert not [v for v in expert.violations if "where crew" in v]


def test_a_crew_sent_onto_a_live_line_with_a_fault_standing_is_flagged(lockout):
    from twin.world.events import EventKind
    from twin.world.physics import Fault

    net = lockout.network()
    session = build_session(net, scenario=lockout, dispatcher=False)
    keeper = Scorekeeper(session)
    world = session.world
    world.run_to(60.0)  # before the scenario's dig-in: everything live
    line = str(net.line.ids[5])
    world.grid.faults[line] = Fault(line, wire_down=True)  # a fault no protection has seen (high impedance)
    world.events.publish(world.now, EventKind.crew, crew="S01-LC1", action="arrived", line=line)
    other = str(net.line.ids[6])
    world.events.publish(world.now, EventKind.crew, crew="S01-LC2", action="arrived", line=other)  # no fault: fine
    unsafe = [v for v in keeper.measures().violations if "was sent onto" in v]
    assert unsafe == [f"crew S01-LC1 was sent onto {line} while it was live with a fault standing on it, at 0.02 h"]
