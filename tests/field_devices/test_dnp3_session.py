"""The same scenario and seed, once on the virtual link in one process and once with the world in
another process, its RTUs DNP3 outstations on loopback and SCADA a DNP3 master polling them:
the same world (every event of it, field devices' included), and the same outages, predictions,
restorations, alarms and sequence of events in the IDMS, time stamps to DNP3's millisecond."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from twin.remote_session import RemoteSessionError, run_remote
from twin.runs import network_from, run_settings, scenario_from
from twin.session import build_session, run_session

SCENARIO = """
name: DNP3 equivalence
description: a thunderstorm, a radio outage over the middle of the territory, and a trainee's switching
territory: {customers: 3000, seed: 1}
start: 2026-07-21 16:30
seed: 11
hours: 5
weather: {storm: thunderstorm}
events:
  - at: "01:00"
    comms_outage: {x_m: 0, y_m: 0, radius_m: 2500, hours: 1}
idms: {ami: true, rules: storm}
"""


def _switching(idms) -> None:
    """A trainee opens a remote switch 20 minutes in, closes it again at 40, and trips and
    recloses a breaker in the radio outage (refused: unreachable)."""
    sw = idms.net.switch
    kinds = {d.id: d.kind for d in idms.scada.link.devices() if d.remote}
    closed = [str(s) for s, no in zip(sw.ids, sw["normal_open"]) if not no]
    switch = next(s for s in closed if kinds.get(s) == "load_break_switch")
    breaker = next(s for s in closed if kinds.get(s) == "breaker")
    for at, device, action in ((1200, switch, "trip"), (2400, switch, "close"), (4200, breaker, "trip"),
                               (4300, breaker, "close")):
        idms.clock.call_later(at - idms.clock.now(),
                              lambda d=device, a=action: idms.scada.control(d, a, user="trainee"))


def _close(a, b, path: str) -> None:
    """Equal, but for a time (s) to DNP3's millisecond, and other floats to a part in 10,000
    (customer-minutes carry every customer's millisecond)."""
    if isinstance(a, float) and isinstance(b, float):
        if math.isnan(a) or math.isnan(b):
            assert math.isnan(a) and math.isnan(b), path
        elif path.endswith("_s") or path.endswith("[t]"):
            assert abs(a - b) < 1.0e-3 + 1e-9 * abs(a), f"{path}: {a} != {b}"
        else:
            assert b == pytest.approx(a, rel=1e-4), f"{path}: {a} != {b}"
    elif isinstance(a, dict):
        assert a.keys() == b.keys(), path
        for k in a:
            _close(a[k], b[k], f"{path}.{k}")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), f"{path}: {len(a)} != {len(b)} items"
        for k, (x, y) in enumerate(zip(a, b)):
            _close(x, y, f"{path}[{k}]" if not (isinstance(x, float) and k == len(a) - 1) else f"{path}[t]")
    else:
        assert a == b, f"{path}: {a!r} != {b!r}"


def test_the_idms_over_dnp3_in_another_process_sees_what_it_sees_in_one(tmp_path):
    path = tmp_path / "dnp3.yaml"
    path.write_text(SCENARIO)
    meta = run_settings(str(path))
    net = network_from(meta)
    session = build_session(net, scenario=scenario_from(meta), events_path=tmp_path / "virtual.jsonl")
    _switching(session.idms)
    session, virtual = run_session(net, session=session, max_extra_h=12)
    remote, over = run_remote(meta, max_extra_h=12, events_path=tmp_path / "dnp3.jsonl", on_start=_switching)

    world_virtual = (tmp_path / "virtual.jsonl").read_text().splitlines()
    world_dnp3 = (tmp_path / "dnp3.jsonl").read_text().splitlines()
    kinds = {json.loads(line)["kind"] for line in world_virtual}
    assert {"switch", "protection", "fci", "outage", "restore"} <= kinds
    for k, (a, b) in enumerate(zip(world_virtual, world_dnp3)):  # every event of the world, bit for bit
        assert a == b, f"world event {k} differs:\n  virtual {a}\n  dnp3    {b}"
    assert len(world_virtual) == len(world_dnp3)

    a, b = session.idms, remote.idms
    _close([r.record() for r in a.oms.records], [r.record() for r in b.oms.records], "outage records")
    assert virtual.outages == over.outages > 0 and virtual.cancelled == over.cancelled
    assert virtual.dispatches == over.dispatches and virtual.pings == over.pings
    assert over.customer_minutes == pytest.approx(virtual.customer_minutes, rel=1e-6)
    soe = [[(e.device, e.point, e.value, e.quality, e.cause, e.time_s) for e in idms.scada.soe.events()]
           for idms in (a, b)]
    _close(soe[0], soe[1], "sequence of events")  # causes too: exception or scan, as in one process
    _close([(x.code, x.device, x.priority, x.active, x.raised_s) for x in a.scada.alarms.alarms()],
           [(x.code, x.device, x.priority, x.active, x.raised_s) for x in b.scada.alarms.alarms()], "alarms")
    controls_a = [(o.device, o.action, o.outcome.value, o.reason.value if o.reason else "")
                  for o in a.scada.controls.log]
    controls_b = [(o.device, o.action, o.outcome.value, o.reason.value if o.reason else "")
                  for o in b.scada.controls.log]
    assert controls_a == controls_b and len(controls_a) == 4
    assert {c[2] for c in controls_a} == {"confirmed", "failed"}  # the radio outage refused the breaker's
    assert remote.field.controls == 2 and remote.world_totals["controls"] == 4  # SELECT and OPERATE, twice
    assert remote.field.polls > 0 and remote.field.events_in > 0
    assert remote.callbacks_held < 50 < remote.lockstep_calls  # timers and AMI answers, once called, forgotten
    assert not np.isnan(over.saidi_min)


def test_a_scenario_acting_on_the_idms_itself_is_refused_with_the_fix(tmp_path):
    path = tmp_path / "wrong.yaml"
    path.write_text(SCENARIO.replace('''  - at: "01:00"''', '''  - at: "00:10"
    wrong_status: {device: S01-F1-BKR, shows: open}
  - at: "01:00"'''))
    with pytest.raises(RemoteSessionError, match="wrong_status.*--devices virtual"):
        run_remote(run_settings(str(path)))
