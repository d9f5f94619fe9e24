"""The training programs: ``twin train`` (a session live with the trainee's console on it),
``twin instruct`` (the instructor station, attached to it or on a recording) and
``twin screenshot`` (either screen at a moment, headless).

``twin train`` always records (to ``recordings/NAME-YYYYMMDD-HHMMSS.twinrec`` unless told) and
opens the instructor's channel on loopback: the session file it writes (mode 0600) holds the
address and the per-session tokens, and ``twin instruct`` reads it to attach. A snapshot
(``twin snapshot`` of a recording, or a replay's branch) is trained on from its moment: the
session is made again from its start, recorded whole, and the desk is the trainee's from the
snapshot's moment on (the automatic dispatcher, if it ran the recorded session, leaves then).
With ``SDL_VIDEODRIVER=dummy`` both programs run headless (tests, screenshots).
"""

from __future__ import annotations

import gc
import getpass
import json
import os
import signal
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from twin.errors import TwinError

__all__ = ["default_session_file", "open_training", "screenshot", "train", "instruct", "console_factory"]

FPS = 60  # frames per second the programs draw at, at most


def default_session_file() -> Path:
    """Where ``twin train`` writes the session file and ``twin instruct`` reads it by default."""
    return Path(tempfile.gettempdir()) / f"twin-session-{getpass.getuser()}.json"


def open_training(source: str, *, storm: str | None = None, hours: float = 24.0, seed: int = 0,
                  record: Path | None = None, recordings: Path = Path("recordings")):
    """``(meta, net, session, recorder)`` for a trainee's session on ``source`` (a scenario, a
    model, ``territory:N`` or a snapshot ``.json``), recorded to ``record`` (default: a new file
    in ``recordings``)."""
    from twin.instructor.recording import Recorder
    from twin.runs import run_settings, session_from

    recorder = None
    if source.endswith(".json"):
        from twin.instructor.snapshots import restore

        snap = _snapshot_meta(source)
        name = Path(source).name.removesuffix(".snapshot.json").removesuffix(".json")
        target = record or _recording_path(recordings, name)
        meta: dict[str, Any] = {}

        def rebuild(recorded_meta):
            nonlocal recorder, meta
            meta = dict(recorded_meta)
            if meta.get("dispatcher", True) and "dispatcher_until_s" not in meta:
                meta["dispatcher_until_s"] = snap["time_s"]  # the trainee takes the desk over here
            net, session = session_from(meta)
            recorder = Recorder(target, meta).attach(session)
            return net, session

        net, session = restore(source, rebuild)
        return meta, net, session, recorder
    meta = run_settings(source, storm=storm, hours=hours, seed=seed, dispatcher=False)
    net, session = session_from(meta)
    recorder = Recorder(record or _recording_path(recordings, _name_of(source)), meta).attach(session)
    return meta, net, session, recorder


def _snapshot_meta(path: str) -> dict[str, Any]:
    from twin.instructor.snapshots import SnapshotError

    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        return {"time_s": float(data["time_s"])}
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise SnapshotError(f"{path}: not a readable snapshot ({exc}); save one with twin snapshot") from None


def _name_of(source: str) -> str:
    if source.startswith("territory:"):
        return "territory-" + source.partition(":")[2]
    return Path(source).stem or "session"


def _recording_path(folder: Path, name: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    path = folder / f"{name}-{stamp}.twinrec"
    k = 1
    while path.exists():
        k += 1
        path = folder / f"{name}-{stamp}-{k}.twinrec"
    return path


def console_factory(screen):
    """``console(desk, host)`` for :class:`~twin.instructor.host.SessionHost`: the trainee console
    on ``screen``, with the run's line in its top bar and the IDMS's power-flow overlay."""
    from twin.idms.analysis import NetworkAnalysis
    from twin.idms.console.app import Console
    from twin.idms.console.mapview import Overlay

    def make(desk, host):
        analysis = NetworkAnalysis(desk.idms.model)
        topology = desk.idms.model.normal
        return Console(desk, screen, status=host.status_line,
                       overlay=lambda: Overlay.of(analysis.violations(), topology))

    return make


def _display(title: str):
    import pygame

    os.environ.setdefault("SDL_AUDIODRIVER", "dummy")
    pygame.display.init()
    pygame.font.init()
    from twin.idms.console.app import SIZE

    screen = pygame.display.set_mode(SIZE)
    pygame.display.set_caption(title)
    return pygame, screen


def train(source: str, *, storm: str | None = None, hours: float = 24.0, seed: int = 0, speed: float = 60.0,
          record: Path | None = None, session_file: Path | None = None, frames: int | None = None,
          paused: bool = False) -> int:
    """``twin train``: the session on ``source`` live, the trainee console on the display, until
    the window is closed (or ``frames`` frames: a headless run); ``paused``: until the instructor
    resumes it."""
    from twin.instructor.channel import ChannelServer, new_tokens, write_session_file
    from twin.instructor.host import PERMISSIONS, SessionHost
    from twin.runs import session_from

    meta, _, session, recorder = open_training(source, storm=storm, hours=hours, seed=seed, record=record)
    pygame, screen = _display(f"Twin: trainee console - {Path(source).name}")
    tokens = new_tokens()
    server = ChannelServer(tokens, PERMISSIONS).start()
    session_file = session_file or default_session_file()
    address = server.address
    write_session_file(session_file, address, tokens)
    host = SessionHost(session, meta=meta, recorder=recorder, rebuild=session_from, channel=server,
                       console=console_factory(screen), speed=speed)
    host.paused = paused
    print(f"training on {source}: recording to {recorder.path}; the instructor attaches with "
          f"twin instruct --session-file {session_file}")
    signal.signal(signal.SIGTERM, lambda *_: setattr(host, "running", False))  # closed as its window is
    gc.freeze()  # the model, world and IDMS built: a full collection no longer walks them (no 300 ms pauses)
    try:
        _loop(pygame, host, host.frame, frames)
    finally:
        now = host.world.now
        host.close()
        _remove_session_file(session_file, address)
        pygame.display.quit()
    print(f"session ended at {host.desk.clock_text(now)}; recorded to {recorder.path} "
          f"(twin replay {recorder.path} --verify re-runs it)")
    return 0


def _loop(pygame, program, step, frames: int | None) -> None:
    """Frames of ``program`` (``step`` each) on the display, at most :data:`FPS` a second, until it
    stops running or ``frames`` have been drawn."""
    clock, n = pygame.time.Clock(), 0
    while program.running and (frames is None or n < frames):
        step()
        pygame.display.flip()
        clock.tick(FPS)
        n += 1


def _remove_session_file(path: Path, address) -> None:
    """The session file goes with its session (not one a newer session wrote since)."""
    from twin.instructor.channel import ChannelError, read_session_file

    try:
        if read_session_file(path)[0] == tuple(address):
            path.unlink()
    except (ChannelError, OSError):
        pass


def instruct(*, session_file: Path | None = None, replay: Path | None = None, frames: int | None = None) -> int:
    """``twin instruct``: the instructor station attached to the running session (through its
    session file), or on a recording (``replay``), until its window is closed."""
    from twin.instructor.station import LiveSource, ReplaySource, Station

    client = None
    if replay is not None:
        from twin.instructor.recording import Recording
        from twin.runs import network_from

        rec = Recording(replay)
        meta = rec.meta
        rec.close()
        source = ReplaySource(replay, network_from(meta))
        title = f"Twin: instructor station - replay {replay.name}"
    else:
        from twin.instructor.channel import ChannelClient, Role, read_session_file

        address, tokens = read_session_file(session_file or default_session_file())
        client = ChannelClient(address, tokens[Role.instructor])
        source = LiveSource(client)
        title = "Twin: instructor station"
    pygame, screen = _display(title)
    station = Station(source, screen)
    try:
        _loop(pygame, station, station.step, frames)
    finally:
        if client is not None:
            client.close()
        pygame.display.quit()
    return 0


def screenshot(source: str, at_s: float, out: Path, *, storm: str | None = None, hours: float = 24.0,
               seed: int = 0, station: bool = False, select: str | None = None) -> Path:
    """``twin screenshot``: the trainee console (or, with ``station``, the instructor station) on
    ``source`` at ``at_s`` simulated seconds after the start, saved as a PNG to ``out``. The
    automatic dispatcher runs the session up to then, so the picture is of a storm worked."""
    import pygame

    from twin.idms.console.app import SIZE
    from twin.instructor.host import PERMISSIONS, SessionHost
    from twin.runs import run_settings, session_from

    os.environ.setdefault("SDL_AUDIODRIVER", "dummy")
    pygame.font.init()
    meta = run_settings(source, storm=storm, hours=hours, seed=seed)
    _, session = session_from(meta)
    screen = pygame.Surface(SIZE)
    server = None
    if station:
        from twin.instructor.channel import ChannelServer, new_tokens

        tokens = new_tokens()
        server = ChannelServer(tokens, PERMISSIONS).start()
    # the host (its desk and scorekeeper) watches from the start, as in a lesson; never advanced by frames
    host = SessionHost(session, meta=meta, channel=server, console=None if station else console_factory(screen),
                       speed=60.0)
    started = time.perf_counter()
    session.world.run_to(at_s)
    ran_s = time.perf_counter() - started
    if station:
        from twin.instructor.channel import ChannelClient, Role
        from twin.instructor.station import LiveSource, Station

        with ChannelClient(server.address, tokens[Role.instructor], pump=lambda: server.poll(host.handle)) as client:
            Station(LiveSource(client), screen).draw()
        server.close()
    else:
        console = host.console
        if select is not None and not console.select_device(select):
            raise TwinError(f"--select {select}: no such device on the map; give a switch id")
        console.draw(now_s=0.0)
        console.draw(now_s=1.0)  # (the exact map once the view has held still)
    out.parent.mkdir(parents=True, exist_ok=True)
    pygame.image.save(screen, str(out))
    print(f"{out}: {'instructor station' if station else 'trainee console'} at {host.desk.clock_text(at_s)} "
          f"({ran_s:.1f} s to run the session there)")
    return out
