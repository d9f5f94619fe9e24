"""A session with the world in another process, its RTUs as DNP3 outstations on loopback.

:func:`run_remote` is ``twin run ... --devices dnp3``: it starts ``python -m twin.world.serve``
(:mod:`twin.world.serve`) with the run's settings, which builds the same world as
:func:`twin.session.build_session` would, serves every RTU as a DNP3 outstation on its own
loopback port and writes the points map. This process holds the IDMS, built exactly as in one
process but on other links: SCADA's field-device link is the DNP3 master
(:class:`~twin.idms.scada.dnp3_link.Dnp3FieldLink`, from the points map file), and the clock,
AMI head-end, call centre, workforce and field records come over the lock-step socket
(:mod:`twin.idms.interfaces.lockstep`). Not one line of the IDMS differs. The world's time stands
still while the IDMS answers, so the run gives the same outages, predictions and restorations as
in one process; only the time stamps of SCADA's points are to the millisecond, DNP3's resolution.
"""

from __future__ import annotations

import json
import secrets
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from twin.errors import TwinError

__all__ = ["RemoteSession", "run_remote", "RemoteSessionError"]

_IDMS_ONLY_EVENTS = frozenset({"wrong_status"})


class RemoteSessionError(TwinError):
    """The world's process could not be started or ended badly (its message says how)."""


@dataclass
class RemoteSession:
    """The IDMS of a session whose world ran in another process, and what that process said."""

    idms: Any
    dispatcher: Any
    field: Any  # the Dnp3FieldLink
    storm: str
    hours: float
    start: datetime
    world_totals: dict[str, int]
    lockstep_calls: int
    callbacks_held: int = 0  # handles the world could still call at the end (subscriptions, timers pending)


def run_remote(settings: dict[str, Any], *, max_extra_h: float = 72.0, events_path: str | Path | None = None,
               store: str | Path | None = None, start_timeout_s: float = 300.0,
               on_start: Callable[[Any], None] | None = None):
    """Run a session of ``settings`` (:func:`twin.runs.run_settings`) with the world in its own
    process and the IDMS here over DNP3; ``(RemoteSession, SessionSummary)``. ``on_start(idms)``
    is called once the IDMS has started (to schedule a lesson's controls, say)."""
    from twin.idms.interfaces.lockstep import PeerLost
    from twin.runs import network_from, scenario_from
    from twin.world.environment import DEFAULT_START

    scenario = scenario_from(settings)
    if scenario is not None:
        acts = sorted({e.kind for e in scenario.events} & _IDMS_ONLY_EVENTS)
        if acts:
            raise RemoteSessionError(f"{settings.get('scenario_file', 'the scenario')}: its {', '.join(acts)} events "
                                     "act on the IDMS directly, which a world in another process cannot do; run it "
                                     "with --devices virtual")
        hours, storm, ami, start = scenario.hours, scenario.storm, scenario.ami, scenario.start
        rules = scenario.rules if isinstance(scenario.rules, str) else settings.get("rules")
    else:
        hours, storm, ami, rules = float(settings["hours"]), settings.get("storm"), bool(settings.get("ami", True)), \
            settings.get("rules")
        start = DEFAULT_START
    net = network_from(settings)
    token = secrets.token_urlsafe(24)
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    folder = Path(tempfile.mkdtemp(prefix="twin-dnp3-"))
    points_file = folder / "points.yaml"
    cmd = [sys.executable, "-m", "twin.world.serve", "--port", str(port), "--points-map", str(points_file)]
    if events_path is not None:
        cmd += ["--events", str(events_path)]
    child = subprocess.Popen(cmd, stdin=subprocess.PIPE, text=True)
    try:
        return _run_idms(child, listener, token, settings, net, points_file, scenario, hours, storm, ami, rules,
                         start, store, max_extra_h, start_timeout_s, on_start)
    except PeerLost as err:
        code = child.wait(timeout=30)
        how = f"killed by signal {-code}" if code < 0 else f"exit code {code}"
        raise RemoteSessionError(f"the world's process ended in the middle of the session ({how}); its own "
                                 "error, if it had time to write one, is above") from err
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()


def _run_idms(child, listener, token, settings, net, points_file, scenario, hours, storm, ami, rules, start, store,
              max_extra_h, start_timeout_s, on_start):
    """The IDMS's side of :func:`run_remote`, once the world's process is started."""
    from twin.idms.dispatcher import AutomaticDispatcher
    from twin.idms.interfaces.dnp3.points import load_points_map
    from twin.idms.interfaces.lockstep import (RemoteCallCentre, RemoteClock, RemoteFieldLink, RemoteHeadEnd,
                                               RemoteWorkforce, accept)
    from twin.idms.oms.rules import RuleSet
    from twin.idms.scada.dnp3_link import Dnp3FieldLink
    from twin.idms.system import Idms
    from twin.session import summary_of
    from twin.world.simulate import WorldSummary

    assert child.stdin is not None
    child.stdin.write(json.dumps({"settings": settings, "token": token}) + "\n")
    child.stdin.close()
    try:
        peer = accept(listener, token, name="idms", timeout_s=start_timeout_s)
    except OSError as err:
        raise RemoteSessionError(f"the world's process did not connect within {start_timeout_s:.0f} s "
                                 f"(exit code {child.poll()})") from err
    finally:
        listener.close()
    clock = RemoteClock(peer)
    field = Dnp3FieldLink(load_points_map(points_file), clock, records=RemoteFieldLink(peer, "field"),
                          refresh=lambda rtus: peer.call("world", "refresh", list(rtus)), lockstep=True)
    idms = Idms(net, clock, field=field, ami=RemoteHeadEnd(peer) if ami else None, calls=RemoteCallCentre(peer),
                workforce=RemoteWorkforce(peer), store=store, rules=rules or ("storm" if storm else "normal"))
    if scenario is not None and not isinstance(scenario.rules, (str, type(None))):
        idms.oms.set_rules(RuleSet.from_mapping(scenario.rules))
    peer.call("world", "attach", field.field_changed)
    idms.start()
    peer.call("world", "script")
    auto = AutomaticDispatcher(idms) if settings.get("dispatcher", True) else None
    if on_start is not None:
        on_start(idms)
    started = time.perf_counter()
    peer.call("world", "run", float(max_extra_h))
    wall = time.perf_counter() - started
    facts = peer.call("world", "facts", wall)
    facts["world"] = WorldSummary(**facts["world"])
    totals = peer.call("world", "field_totals")
    field.close()
    peer.call("world", "stop")
    summary = summary_of(facts, idms, auto)
    session = RemoteSession(idms, auto, field, storm or "", float(hours), start, totals,
                            peer.calls_in + peer.calls_out, peer.handles)
    peer.close()
    child.wait(timeout=60)
    if child.returncode:
        raise RemoteSessionError(f"the world's process ended with exit code {child.returncode}")
    return session, summary
