"""DNP3 benchmark: 100 RTUs as outstations on loopback, polled and operated by SCADA's master.

The outstations run in a process of their own (as ``twin run --devices dnp3`` puts the world's),
each one RTU of a feeder recloser's points list (4 binary inputs, 8 analog inputs, 1 counter, 2
CROBs: :data:`twin.idms.interfaces.dnp3.points.LAYOUT`), on its own TCP port, with our stack
(opendnp3, :mod:`twin.idms.interfaces.dnp3.stack`). In this process, one master session per RTU
(:class:`~twin.idms.interfaces.dnp3.stack.Master`) measures:

* integrity polls per second (class 0 with 64-bit analogs), one RTU after another, and with the
  RTUs shared among 8 threads (the stack is asynchronous; each master waits for its own answer);
* event polls per second (g2v2, g32v8, g22v5), the outstations holding a fresh event each;
* the round trip of a control, select-before-operate (SELECT then OPERATE, each answered) and
  direct operate, over 1,000 controls: median, 95th percentile and worst, in milliseconds;
* a whole integrity scan of the 100 RTUs through SCADA's link
  (:class:`~twin.idms.scada.dnp3_link.Dnp3FieldLink`, decoding into the interface's points).

For reference, in the same run, an independent master (dnp3py, pure Python: ``pip install
dnp3py``) polls the same outstations one after another. The last line sums it up:
``dnp3: rtus=100 integrity_polls_per_s=N ... sbo_ms_p95=N``.

    python benchmarks/dnp3_rtus.py               # 100 RTUs
    python benchmarks/dnp3_rtus.py --rtus 500
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from twin.idms.interfaces.dnp3.points import DevicePoints, PointsMap, Rtu  # noqa: E402
from twin.idms.interfaces.dnp3.stack import Dnp3Stack, NoResponse, free_ports  # noqa: E402

SIZES = (4, 8, 1)  # a recloser's binaries, analogs, counter


def _recloser(k: int, rtu: str) -> DevicePoints:
    return DevicePoints(f"R{k:03d}", "recloser", f"switch.R{k:03d}", rtu,
                        {"status": 0, "lockout": 1, "fault": 2, "remote": 3},
                        {"i_amps": (0, 1, 2), "v_volts": (3, 4, 5), "p_kw": (6,), "q_kvar": (7,)},
                        {"operations": 0}, {"switch": 0, "reset": 1})


def serve(ports: list[int]) -> None:
    """The outstations, until stdin closes; a line on stdin: give every RTU a fresh event."""
    stack = Dnp3Stack(2)
    outs = []
    for k, port in enumerate(ports):
        out = stack.outstation(f"rtu{k}", host="127.0.0.1", port=port, address=10 + k, master_address=1,
                               binaries=SIZES[0], analogs=SIZES[1], counters=SIZES[2],
                               on_control=lambda index, on, stage: "success")
        out.apply([("binary", 0, True, 1, 0), ("binary", 3, True, 1, 0)] +
                  [("analog", i, 100.0 + i, 1, 0) for i in range(SIZES[1])] + [("counter", 0, 0, 1, 0)], events=False)
        out.enable()
        outs.append(out)
    print("ready", flush=True)
    n = 0
    for _ in sys.stdin:
        n += 1
        for out in outs:
            out.apply([("analog", 0, 100.0 + n * 0.5, 1, 1_000 * n), ("binary", 2, n % 2 == 1, 1, 1_000 * n)])
        print("applied", flush=True)
    stack.shutdown()


def _percentiles(ms: list[float]) -> tuple[float, float, float]:
    a = np.asarray(ms)
    return float(np.median(a)), float(np.percentile(a, 95)), float(a.max())


def bench(n_rtus: int, controls: int, seconds: float) -> dict:
    ports = free_ports(n_rtus)
    child = subprocess.Popen([sys.executable, __file__, "--serve", json.dumps(ports)], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, text=True)
    assert child.stdout is not None and child.stdin is not None
    assert child.stdout.readline().strip() == "ready"
    stack = Dnp3Stack(2)
    out: dict = {"rtus": n_rtus}
    try:
        t = time.perf_counter()
        masters = [stack.master(f"rtu{k}", host="127.0.0.1", port=p, address=1, outstation_address=10 + k,
                                response_timeout_s=2.0) for k, p in enumerate(ports)]
        assert all(m.wait_connected(20.0) for m in masters)
        out["connect_s"] = time.perf_counter() - t
        for m in masters:  # the startup integrity poll done
            m.read_static()

        # integrity polls, one RTU after another
        polls, t = 0, time.perf_counter()
        while time.perf_counter() - t < seconds:
            for m in masters:
                m.read_static()
            polls += len(masters)
        out["integrity_polls_per_s"] = polls / (time.perf_counter() - t)

        # ... and 8 at a time
        def sweep(group):
            for m in group:
                m.read_static()
            return len(group)

        groups = [masters[k::8] for k in range(8)]
        polls, t = 0, time.perf_counter()
        with ThreadPoolExecutor(8) as pool:
            while time.perf_counter() - t < seconds:
                polls += sum(pool.map(sweep, groups))
        out["integrity_polls_per_s_8_threads"] = polls / (time.perf_counter() - t)

        # event polls with a fresh event at each RTU
        events, polls, t = 0, 0, time.perf_counter()
        while time.perf_counter() - t < seconds:
            child.stdin.write("x\n")
            child.stdin.flush()
            child.stdout.readline()
            for m in masters:
                events += len(m.read_events())
            polls += len(masters)
        out["event_polls_per_s"] = polls / (time.perf_counter() - t)
        out["events_per_poll"] = events / polls

        # controls: select-before-operate and direct operate
        for sbo, key in ((True, "sbo"), (False, "direct")):
            ms = []
            for k in range(controls):
                m = masters[k % len(masters)]
                t = time.perf_counter()
                state, status = m.operate(0, bool(k % 2), pulse=True, select_before_operate=sbo)
                ms.append((time.perf_counter() - t) * 1000.0)
                assert (state, status) == ("success", "success"), (state, status)
            out[f"{key}_ms_p50"], out[f"{key}_ms_p95"], out[f"{key}_ms_max"] = _percentiles(ms)

        for m in masters:
            m.close()

        # a whole integrity scan through SCADA's link, decoded into the interface's points
        from twin.idms.scada.dnp3_link import Dnp3FieldLink

        pmap = PointsMap(tuple(Rtu(f"rtu{k}", 10 + k, "127.0.0.1", p) for k, p in enumerate(ports)),
                         tuple(_recloser(k, f"rtu{k}") for k in range(n_rtus)))

        class Clock:
            def now(self) -> float:
                return 0.0

            def call_later(self, delay_s, callback) -> None:  # noqa: ANN001
                pass

        link = Dnp3FieldLink(pmap, Clock(), stack=stack, poll_period_s=None, connect_timeout_s=20.0)
        link.read()
        scans = []
        for _ in range(5):
            t = time.perf_counter()
            points = link.read()
            scans.append((time.perf_counter() - t) * 1000.0)
        out["scan_ms"] = float(np.median(scans))
        out["scan_points"] = len(points)
        link.close()
    finally:
        stack.shutdown()
        child.stdin.close()
        child.wait(timeout=30)

    out.update(_peer(ports, seconds))
    return out


def _peer(ports: list[int], seconds: float) -> dict:
    """dnp3py's master polling the first 10 outstations one after another (a new outstation
    process: ours closed its connections)."""
    try:
        sys.path.insert(0, str(ROOT / "tests" / "field_devices"))
        from dnp3py_peer import PeerMaster
    except ImportError as err:
        return {"peer": f"dnp3py not installed ({err})"}
    ports = ports[:10]
    child = subprocess.Popen([sys.executable, __file__, "--serve", json.dumps(ports)], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, text=True)
    assert child.stdout is not None and child.stdin is not None
    child.stdout.readline()
    try:
        peers = [PeerMaster("127.0.0.1", p, master_address=1, outstation_address=10 + k) for k, p in enumerate(ports)]
        polls, t = 0, time.perf_counter()
        while time.perf_counter() - t < seconds:
            for p in peers:
                p.integrity()
            polls += len(peers)
        rate = polls / (time.perf_counter() - t)
        for p in peers:
            p.close()
        return {"peer_dnp3py_integrity_polls_per_s": rate}
    except (TimeoutError, NoResponse) as err:
        return {"peer": f"dnp3py failed: {err}"}
    finally:
        child.stdin.close()
        child.wait(timeout=30)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--rtus", type=int, default=100)
    p.add_argument("--controls", type=int, default=1000)
    p.add_argument("--seconds", type=float, default=3.0, help="length of each rate measurement")
    p.add_argument("--serve", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.serve:
        serve(json.loads(args.serve))
        return 0
    import logging

    logging.basicConfig(level=logging.ERROR)
    print(f"DNP3 on loopback, {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}; "
          f"outstations in another process, opendnp3 (yadnp3) both ends")
    r = bench(args.rtus, args.controls, args.seconds)
    print(f"  connect {r['rtus']} master sessions: {r['connect_s']:.2f} s")
    print(f"  integrity polls: {r['integrity_polls_per_s']:,.0f}/s one after another, "
          f"{r['integrity_polls_per_s_8_threads']:,.0f}/s 8 at a time")
    print(f"  event polls: {r['event_polls_per_s']:,.0f}/s ({r['events_per_poll']:.1f} events each)")
    print(f"  control round trip, select-before-operate: p50 {r['sbo_ms_p50']:.2f} ms, p95 {r['sbo_ms_p95']:.2f} ms, "
          f"max {r['sbo_ms_max']:.2f} ms; direct operate: p50 {r['direct_ms_p50']:.2f} ms, "
          f"p95 {r['direct_ms_p95']:.2f} ms")
    print(f"  SCADA's integrity scan of all {r['rtus']} RTUs ({r['scan_points']} points): {r['scan_ms']:.1f} ms")
    if "peer_dnp3py_integrity_polls_per_s" in r:
        print(f"  reference, dnp3py's master (pure Python) on 10 of the RTUs: "
              f"{r['peer_dnp3py_integrity_polls_per_s']:,.0f} integrity polls/s one after another")
    else:
        print(f"  reference: {r['peer']}")
    print(f"dnp3: rtus={r['rtus']} integrity_polls_per_s={r['integrity_polls_per_s']:.0f} "
          f"event_polls_per_s={r['event_polls_per_s']:.0f} sbo_ms_p50={r['sbo_ms_p50']:.2f} "
          f"sbo_ms_p95={r['sbo_ms_p95']:.2f} scan_ms={r['scan_ms']:.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
