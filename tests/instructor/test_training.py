"""The trainee console and the instructor station driven headless by real pygame events, with the
effect checked where it lands: in the world (through the device interface), in the IDMS, on the
other screen; the channel's refusals; the programs' command lines; a replay's seek and branch."""

from __future__ import annotations

import json
import logging
import os
import stat
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
os.environ.setdefault("SDL_AUDIODRIVER", "dummy")
pygame = pytest.importorskip("pygame")

from tests.grid.feeders import FEEDERS_DIR  # noqa: E402
from twin.cli import main  # noqa: E402
from twin.grid.schema import SwitchKind  # noqa: E402
from twin.idms.console.app import SIZE  # noqa: E402
from twin.instructor.channel import (ChannelClient, ChannelError, ChannelServer, Role,  # noqa: E402
                                    new_tokens, read_session_file)
from twin.instructor.host import PERMISSIONS, HostError, SessionHost  # noqa: E402
from twin.instructor.recording import Recording, verify  # noqa: E402
from twin.instructor.station import LiveSource, ReplaySource, Station  # noqa: E402
from twin.instructor.training import console_factory, open_training  # noqa: E402
from twin.runs import network_from, session_from  # noqa: E402

SOURCE = "territory:1500"
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def display():
    pygame.display.init()
    pygame.font.init()
    pygame.display.set_mode((8, 8))
    pygame.event.clear()
    yield
    pygame.display.quit()


class Lesson:
    """A trainee's session on the small territory, its host with the console, the channel, and
    the instructor station attached over it (one thread: the client pumps the server)."""

    def __init__(self, tmp_path, *, seed: int = 1) -> None:
        self.meta, self.net, self.session, recorder = open_training(SOURCE, hours=6.0, seed=seed,
                                                                    record=tmp_path / "lesson.twinrec")
        self.tokens = new_tokens()
        self.server = ChannelServer(self.tokens, PERMISSIONS).start()
        self.host = SessionHost(self.session, meta=self.meta, recorder=recorder, rebuild=session_from,
                                channel=self.server, console=console_factory(pygame.Surface(SIZE)))
        self.host.paused = True  # the tests move the world themselves
        self.console.refresh_s = 0.0  # and look at the IDMS's picture after each move
        self.world.run_to(120.0)  # SCADA's first scan is in

    @property
    def world(self):
        return self.host.world

    @property
    def console(self):
        return self.host.console

    def client(self, role: Role = Role.instructor, token: str | None = None) -> ChannelClient:
        return ChannelClient(self.server.address, token or self.tokens[role], timeout=5.0,
                             pump=lambda: self.server.poll(self.host.handle))

    def frame(self) -> None:
        """One frame of the host: the queued pygame events to the console, drawn."""
        self.host.frame(wall_dt=0.0)

    def close(self) -> None:
        self.host.close()


def post_click(pos) -> None:
    pygame.event.post(pygame.event.Event(pygame.MOUSEBUTTONDOWN, pos=pos, button=1))
    pygame.event.post(pygame.event.Event(pygame.MOUSEBUTTONUP, pos=pos, button=1))


def post_key(key, mod=0) -> None:
    pygame.event.post(pygame.event.Event(pygame.KEYDOWN, key=key, mod=mod, unicode=""))


def zoom_to_switch(console, row: int) -> tuple[int, int]:
    """The console's map zoomed in on switch ``row``; its screen pixel."""
    m = console.map
    lay = m.layout
    m.view = m.view.centred(lay.device_x[row], lay.device_y[row]).zoomed(40.0)
    x, y = m.device_position(row)
    return int(round(x)) + m.rect.x, int(round(y)) + m.rect.y


def trunk_line(net, breaker: str) -> str:
    """The line leaving a breaker (a fault there locks the breaker out)."""
    to_bus = net.switch["to_bus"][net.switch.position(breaker)]
    return str(net.line.ids[np.flatnonzero(net.line["from_bus"] == to_bus)[0]])


def remote_breaker(lesson) -> tuple[str, int]:
    net, scada = lesson.net, lesson.session.idms.scada
    remote = {d.element.split(".", 1)[1] for d in scada.devices.values() if d.remote and d.element.startswith("switch.")}
    rows = [k for k in np.flatnonzero(net.switch["kind"] == SwitchKind.breaker) if net.switch.ids[k] in remote]
    return str(net.switch.ids[rows[0]]), int(rows[0])


def test_a_click_and_confirm_trip_opens_the_breaker_in_the_world(tmp_path) -> None:
    lesson = Lesson(tmp_path)
    breaker, row = remote_breaker(lesson)
    assert not lesson.world.grid.switch_open[row]
    post_click(zoom_to_switch(lesson.console, row))
    lesson.frame()
    assert lesson.console.selected_switch() == breaker  # the dialog is open on it
    post_key(pygame.K_t)
    lesson.frame()
    assert lesson.console.pending is not None and not lesson.world.grid.switch_open[row]  # asks first
    post_key(pygame.K_RETURN)
    lesson.frame()
    lesson.world.run_to(lesson.world.now + 30.0)
    lesson.frame()
    assert lesson.world.grid.switch_open[row]  # the world's breaker, through SCADA and the device link
    controls = [r for r in Recording(lesson.host.recorder.path).rows() if r.kind == "control"]
    assert [(r.source, json.loads(r.data)["action"]) for r in controls] == [("trainee", "trip")]
    lesson.close()


def test_an_injected_fault_shows_as_an_outage_and_its_alarm_is_acknowledged_with_a(tmp_path) -> None:
    lesson = Lesson(tmp_path)
    breaker, _ = remote_breaker(lesson)
    line = trunk_line(lesson.net, breaker)
    with lesson.client() as client:
        station = Station(LiveSource(client), pygame.Surface(SIZE))
        g = station.geometry
        k = g.line_ids.index(line)
        a, b = g.line_from[k], g.line_to[k]
        station.view = station.view.centred((g.bus_x[a] + g.bus_x[b]) / 2, (g.bus_y[a] + g.bus_y[b]) / 2).zoomed(50.0)
        post_key(pygame.K_f)  # the fault tool
        post_click(station.screen_of_line(k))
        station.step()
        assert station.message.startswith("inject: {'line': '" + line), station.message
        lesson.world.run_to(lesson.world.now + 900.0)
        assert line in lesson.world.grid.faults
        station.refresh(force=True)
        assert station.status["truth_outages"] and station.line_state(k) in ("out", "unknown to the IDMS", "faulted")
    lesson.frame()
    console, idms = lesson.console, lesson.session.idms
    devices = {row.cells[0] for row in console.outages.rows}
    truth = {o.device for o in lesson.world.grid.outages}
    assert devices & truth, (devices, truth)  # the world's outage, as the IDMS sees it, on the console
    alarms = [a for a in idms.scada.alarms.alarms() if not a.acknowledged]
    assert alarms and [row.key for row in console.alarms.rows] == [a.id for a in idms.scada.alarms.alarms()]
    first = console.alarms.rows[console.alarms.selected].key
    post_key(pygame.K_a)
    lesson.frame()
    assert next(a for a in idms.scada.alarms.alarms() if a.id == first).acknowledged
    rows = Recording(lesson.host.recorder.path).rows()
    assert [r.kind for r in rows if r.source == "instructor"] == ["inject"]
    assert [r.kind for r in rows if r.source == "trainee"] == ["acknowledge"]
    lesson.close()


def test_the_trainee_and_a_wrong_token_are_refused_and_logged(tmp_path, caplog) -> None:
    lesson = Lesson(tmp_path)
    caplog.set_level(logging.WARNING, logger="twin.channel")
    with lesson.client(Role.trainee) as trainee:
        assert trainee.role is Role.trainee
        status = trainee.request("status")  # a trainee may ask how the run goes, never what is really out
        assert status["time_s"] == lesson.world.now and "truth_outages" not in status and "out_truth" not in status
        with pytest.raises(ChannelError, match="not allowed from a trainee connection"):
            trainee.request("inject", kind="fault", args={"line": str(lesson.net.line.ids[0])})
        with pytest.raises(ChannelError, match="not allowed"):
            trainee.request("speed", x=3600)
    assert not lesson.world.grid.faults and lesson.host.speed == 60.0
    with pytest.raises(ChannelError, match="refused"):
        lesson.client(token="not-the-token")
    refused = [(r.role, r.cmd) for r in lesson.server.refusals]
    assert (Role.trainee, "inject") in refused and (Role.trainee, "speed") in refused
    assert any(r.cmd == "hello" for r in lesson.server.refusals)
    assert sum("refused" in m or "not allowed" in m for m in caplog.messages) >= 3
    lesson.close()


def test_instructor_commands_pace_the_run_and_bad_ones_say_why(tmp_path) -> None:
    lesson = Lesson(tmp_path)
    with lesson.client() as client:
        assert client.request("speed", x=600) == "speed x600"
        with pytest.raises(ChannelError, match="outside x1 to x3600"):
            client.request("speed", x=5000)
        with pytest.raises(ChannelError, match="has passed"):
            client.request("run_to", time_s=10.0)
        with pytest.raises(ChannelError, match="no line"):
            client.request("inject", kind="fault", args={"line": "no-such-line"})
        client.request("run_to", time_s=lesson.world.now + 600.0)
    target = lesson.host.until_s
    for _ in range(200):
        lesson.host.advance(0.05)
        if lesson.host.paused:
            break
    assert lesson.host.paused and lesson.world.now == pytest.approx(target)
    with pytest.raises(HostError):
        lesson.host.handle(Role.instructor, "no_such_command", {})
    lesson.close()


def test_a_lesson_with_an_injection_and_trainee_actions_verifies_identical(tmp_path) -> None:
    lesson = Lesson(tmp_path, seed=2)
    breaker, row = remote_breaker(lesson)
    lesson.host.handle(Role.instructor, "inject", {"kind": "fault", "args": {"line": trunk_line(lesson.net, breaker)}})
    lesson.world.run_to(lesson.world.now + 1200.0)
    lesson.frame()
    post_key(pygame.K_a, pygame.KMOD_SHIFT)  # every alarm on the page
    post_key(pygame.K_TAB)  # to the outage list
    post_key(pygame.K_d)  # dispatch the nearest crew to it
    post_key(pygame.K_RETURN)  # confirmed
    lesson.frame()
    assert any(r.crew for r in lesson.session.idms.oms.outages()), lesson.host.desk.messages[-1]
    off = [c for c, st in lesson.host.desk.crews.items() if not st.on_duty]
    post_key(pygame.K_o)  # call out the crews off duty
    post_key(pygame.K_RETURN)
    lesson.frame()
    assert off and lesson.host.desk.messages[-1][1].startswith(f"{len(off)} crews called out")
    lesson.world.run_to(lesson.world.now + 2.0 * 3600.0)  # (a call-out takes 1.5 h +- 25 % to report)
    assert all(lesson.host.desk.crews[c].on_duty for c in off)  # they reported at their depots
    path = lesson.host.recorder.path
    lesson.close()
    rows = Recording(path).rows()
    assert {"trainee", "instructor"} <= {r.source for r in rows}
    assert {"acknowledge", "dispatch", "call_out"} <= {r.kind for r in rows if r.source == "trainee"}
    same, text = verify(path, session_from)
    assert same, text


def test_replay_seeks_and_branches_into_a_snapshot_to_train_on(tmp_path) -> None:
    lesson = Lesson(tmp_path)
    breaker, _ = remote_breaker(lesson)
    lesson.host.handle(Role.instructor, "inject", {"kind": "fault", "args": {"line": trunk_line(lesson.net, breaker)}})
    lesson.world.run_to(lesson.world.now + 7200.0)
    path = lesson.host.recorder.path
    lesson.close()
    source = ReplaySource(path, network_from(lesson.meta))
    station = Station(source, pygame.Surface(SIZE))
    bar = station._seek_rect()
    post_click((bar.x + bar.width // 2, bar.centery))
    station.step()
    assert source.time_s == pytest.approx(source.end_s / 2, rel=0.02)
    assert station.status["out_truth"] > 0 and station.status["idms_outages"]  # mid-outage
    post_key(pygame.K_b)
    station.step()
    snapshots = list(tmp_path.glob("*-branch-*.snapshot.json"))
    assert len(snapshots) == 1, station.message
    meta, _, again, recorder = open_training(str(snapshots[0]), record=tmp_path / "branch.twinrec")
    assert again.world.now == pytest.approx(source.time_s) and again.dispatcher is None
    recorder.close(end_s=again.world.now)


def test_the_programs_run_headless_from_the_command_line(tmp_path, capsys) -> None:
    rec, sess = tmp_path / "t.twinrec", tmp_path / "session.json"
    assert main(["train", SOURCE, "--hours", "1", "--frames", "5", "--record", str(rec), "--session-file", str(sess),
                 "--speed", "600"]) == 0
    assert Recording(rec).rows() and not sess.exists()  # recorded; the session file went with the session
    assert main(["instruct", "--replay", str(rec), "--frames", "3"]) == 0
    shot = tmp_path / "shot.png"
    assert main(["screenshot", SOURCE, str(shot), "--at", "00:30", "--hours", "1"]) == 0
    assert pygame.image.load(str(shot)).get_size() == SIZE
    assert main(["instruct", "--session-file", str(sess)]) == 1  # no session running
    assert "start the session with twin train first" in capsys.readouterr().err


def test_the_instructor_station_attaches_to_a_training_session_in_another_process(tmp_path) -> None:
    sess = tmp_path / "session.json"
    env = {**os.environ, "SDL_VIDEODRIVER": "dummy", "SDL_AUDIODRIVER": "dummy"}
    train = subprocess.Popen([sys.executable, "-m", "twin", "train", SOURCE, "--hours", "1", "--frames", "3000",
                              "--record", str(tmp_path / "t.twinrec"), "--session-file", str(sess), "--paused"],
                             env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 60.0
        while not sess.exists() and time.monotonic() < deadline and train.poll() is None:
            time.sleep(0.1)
        assert sess.exists(), train.stdout.read() if train.poll() is not None else "no session file"
        assert stat.S_IMODE(sess.stat().st_mode) == 0o600
        address, tokens = read_session_file(sess)
        with ChannelClient(address, tokens[Role.instructor]) as client:
            first = client.request("status")
            assert first["paused"]  # opened paused: the instructor starts it
            first = first["time_s"]
            client.request("speed", x=3600)
            client.request("resume")
            time.sleep(0.5)
            assert client.request("status")["time_s"] > first  # the other process runs the world
        assert main(["instruct", "--session-file", str(sess), "--frames", "5"]) == 0
    finally:
        train.terminate()
        train.wait(timeout=30)


def ieee123(folder) -> str:
    """The IEEE 123-bus feeder with its bus coordinates (its master file reads none)."""
    if FEEDERS_DIR is None:
        pytest.skip("reference feeders not found at ../shared/feeders")
    path = folder / "ieee123.dss"
    path.write_text(f"Redirect {FEEDERS_DIR / '123bus' / 'ieee123master.dss'}\n"
                    f"BusCoords {FEEDERS_DIR / '123bus' / 'buscoords.dat'}\n")
    return str(path)


@pytest.mark.parametrize("feeder", ["ieee123", SOURCE])
def test_console_screenshot_mid_storm_draws_the_outage_area_and_lists_the_alarms(tmp_path, feeder) -> None:
    source = ieee123(tmp_path) if feeder == "ieee123" else feeder
    meta, net, session, recorder = open_training(source, storm="thunderstorm", hours=4.0, seed=3,
                                                 record=tmp_path / "storm.twinrec")
    session.dispatcher = None
    host = SessionHost(session, meta=meta, recorder=recorder, console=console_factory(pygame.Surface(SIZE)))
    host.paused = True
    idms = session.idms
    for hour in range(1, 5):
        session.world.run_to(hour * 3600.0)
        if idms.oms.outages():
            break
    outages = idms.oms.outages()
    assert outages, "the thunderstorm made no outage by 04:00 on this seed"
    console = host.console
    console.draw(now_s=0.0)
    console.draw(now_s=1.0)
    assert [row.key for row in console.alarms.rows] == [a.id for a in idms.scada.alarms.alarms()]
    assert [row.key for row in console.outages.rows][:len(outages)] == [r.id for r in outages][:len(console.outages.rows)]
    pixels = pygame.surfarray.pixels3d(console.screen)
    area = np.all(pixels == np.array(console_theme().outage_area), axis=2)
    rect = console.map.rect
    assert area[rect.left:rect.right, rect.top:rect.bottom].sum() > 50  # the halo over the outage's area
    assert not area[rect.right + 1:, :].any()  # and only on the map
    host.close()


@pytest.mark.parametrize("name", ["console-ieee123.png", "console-100k.png"])
def test_the_committed_screenshots_show_an_outage_area_and_alarms(name) -> None:
    from twin.idms.console.app import MAP_BOTTOM, MAP_W, TOP_H

    image = pygame.image.load(str(ROOT / "docs" / name))
    assert image.get_size() == SIZE
    pixels = pygame.surfarray.array3d(image)
    halo = np.all(pixels[:MAP_W, TOP_H:MAP_BOTTOM] == np.array(console_theme().outage_area), axis=2)
    assert halo.sum() > 200  # the outage areas drawn on the map
    alarm_markers = np.all(pixels[MAP_W:MAP_W + 20, TOP_H + 40:TOP_H + 300] == np.array(console_theme().priority[0]),
                           axis=2)
    assert alarm_markers.sum() > 20  # priority-1 markers in the alarm list


def console_theme():
    from twin.idms.console.theme import THEME

    return THEME


def test_the_station_saves_and_restores_a_snapshot_of_the_live_session(tmp_path) -> None:
    lesson = Lesson(tmp_path)
    breaker, _ = remote_breaker(lesson)
    lesson.host.handle(Role.instructor, "inject", {"kind": "fault", "args": {"line": trunk_line(lesson.net, breaker)}})
    lesson.world.run_to(1800.0)
    with lesson.client() as client:
        station = Station(LiveSource(client), pygame.Surface(SIZE))
        post_key(pygame.K_s, pygame.KMOD_CTRL)
        station.step()
        assert len(station.snapshots) == 1, station.message
        saved_out = int(np.count_nonzero(~lesson.world.grid.energised_customers))
        lesson.world.run_to(5400.0)
        post_key(pygame.K_o, pygame.KMOD_CTRL)
        station.step()
        assert lesson.world.now == pytest.approx(1800.0) and lesson.host.paused, station.message
        assert int(np.count_nonzero(~lesson.world.grid.energised_customers)) == saved_out
        assert station.status["time_s"] == pytest.approx(1800.0)
    restored = lesson.host.recorder.path
    assert restored.name == "lesson-restored-1.twinrec"
    assert [r.kind for r in Recording(restored).rows() if r.source == "instructor"] == ["inject"]
    lesson.close()


def test_twin_score_rates_a_recorded_lesson_against_the_automatic_dispatcher(tmp_path, capsys) -> None:
    lesson = Lesson(tmp_path, seed=4)
    breaker, row = remote_breaker(lesson)
    lesson.host.handle(Role.instructor, "inject", {"kind": "fault", "args": {"line": trunk_line(lesson.net, breaker)}})
    post_click(zoom_to_switch(lesson.console, row))
    post_key(pygame.K_h)  # tag it (hold)
    post_key(pygame.K_RETURN)
    post_key(pygame.K_t)  # then try to trip it: refused, and a safety violation
    post_key(pygame.K_RETURN)
    lesson.frame()
    lesson.world.run_to(3 * 3600.0)  # and nothing else: no crew sent
    path = lesson.host.recorder.path
    lesson.close()
    assert main(["score", str(path), "--out", str(tmp_path / "score")]) == 0
    out = capsys.readouterr().out
    assert f"SAFETY: trainee tried to trip {breaker}, tagged (hold)" in out
    total = float(next(line for line in (tmp_path / "score" / "score.csv").read_text().splitlines()
                       if line.startswith("total,")).split(",")[1])
    assert total < 60.0  # against the expert's 100 over the same three hours with the same fault
    assert "place a HOLD tag" not in out and f"tag hold on {breaker}" in (tmp_path / "score" / "score.html").read_text()


def test_the_station_s_other_tools_inject_where_clicked(tmp_path) -> None:
    lesson = Lesson(tmp_path)
    breaker, row = remote_breaker(lesson)
    with lesson.client() as client:
        station = Station(LiveSource(client), pygame.Surface(SIZE))
        k = station.geometry.switch_ids.index(breaker)
        g = station.geometry
        home = int(lesson.net.bus.position(lesson.net.service_point["bus"][0]))  # where customers live
        x, y = g.bus_x[home], g.bus_y[home]
        far = (float(np.nanmax(g.bus_x)) + 20_000.0, float(np.nanmax(g.bus_y)) + 20_000.0)
        station.view = station.view.centred(*far)  # off the territory: nobody lives there
        centre = station.map_rect.center
        post_key(pygame.K_l)
        post_click(centre)
        station.step()
        assert "call_flood: no customer lives within" in station.message, station.message
        station.view = station.view.centred(x, y)
        post_key(pygame.K_ESCAPE)
        station.step()
        for key, pos in ((pygame.K_s, station.screen_of_switch(k)), (pygame.K_k, centre), (pygame.K_l, centre)):
            post_key(key)  # stuck switch on the breaker; comms loss, call flood where the customer lives
            post_click(pos)
            station.step()
            assert station.message.startswith("inject: {"), station.message
    injected = [e.data for e in lesson.world.events.events if e.kind.value == "scripted"]
    kinds = [d["event"] for d in injected]
    assert kinds == ["stuck_switch", "comms_outage", "call_flood"]  # (the refused flood is not among them)
    assert injected[0]["device"] == breaker and all(d["by"] == "instructor" for d in injected)
    assert injected[1]["x_m"] == pytest.approx(x, abs=2.0 / station.view.scale)
    assert injected[1]["y_m"] == pytest.approx(y, abs=2.0 / station.view.scale)
    lesson.world.run_to(lesson.world.now + 900.0)
    assert len(lesson.session.idms.oms.trouble_calls) >= 150  # the flood came in
    lesson.close()


def test_replay_view_opens_the_instructor_station_on_the_recording(monkeypatch) -> None:
    from twin.instructor import training

    opened = []
    monkeypatch.setattr(training, "instruct", lambda **kw: opened.append(kw) or 0)
    assert main(["replay", "recordings/x.twinrec", "--view"]) == 0
    assert opened == [{"replay": Path("recordings/x.twinrec")}]
