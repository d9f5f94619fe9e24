"""FLISR benchmark: customer-minutes interrupted through a storm with FLISR off and on, and the
time FLISR takes to plan each fault.

Synthetic territories of 10k and 100k customers (:func:`~twin.world.territory.generate_territory`,
seed 1) equipped for FLISR (``automation="flisr"``: every sectionalising and tie switch remote,
each sectionalising device's fault sensor communicating, SW2 ahead of the tie branches). Each
territory runs the same storm twice, in its own subprocess each time, with the IDMS and its
automatic dispatcher (crews, AMI, calls, as ``twin run``): once with FLISR off, once with FLISR in
automatic mode. The same seed draws the same faults; what differs is what FLISR switches and
what follows from it.

Customer-minutes are the world's truth (every customer's time without power, integrated from the
world's energisation changes, storm and restoration to the last customer back); the IDMS's own
SAIDI is printed beside them. Plan time is wall time per lockout from the start of planning to a
rehearsed switching order (location, isolation, the power-flow checks of each tie, the rehearsal
of the whole order), on this machine. Ends with one line per territory::

    flisr: customers=N cmi_off=N cmi_on=N reduction=NN% plan_ms_p95=N

Targets (issue 10): planning under 1 s per fault on the 100k territory; customer-minutes cut by
at least a third.

    python benchmarks/flisr.py                                # 10k and 100k, the ice storm
    python benchmarks/flisr.py --customers 10000 --storm thunderstorm hurricane
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def child(customers: int, storm: str, seed: int, mode: str, hours: float) -> dict:
    from twin.session import build_session, run_out, summarise_session
    from twin.world.events import EventKind
    from twin.world.territory import generate_territory

    net = generate_territory(customers, seed=seed, automation="flisr")
    session = build_session(net, hours=hours, storm=storm, seed=seed, flisr=mode)
    world = session.world
    minutes, out, last = [0.0], [0], [0.0]

    def integrate(now_s: float, lost, back) -> None:
        minutes[0] += out[0] * (now_s - last[0]) / 60.0
        last[0], out[0] = now_s, out[0] + len(lost) - len(back)

    world.grid.listeners.append(integrate)
    started = time.perf_counter()
    wall = run_out(session.parts, 96.0)
    minutes[0] += out[0] * (world.now - last[0]) / 60.0
    summary = summarise_session(session, wall)
    result = {"cmi": minutes[0], "wall_s": time.perf_counter() - started, "end_h": world.now / 3600.0,
              "out_at_end": out[0], "saidi_min": summary.saidi_min, "outages": summary.outages,
              "lockouts": sum(1 for e in world.events.of(EventKind.protection) if e.data.get("action") == "lockout"),
              "plan_ms": [], "cases": {}, "restored_planned": 0, "orders": {}}
    if session.flisr is not None:
        flisr = session.flisr
        result["plan_ms"] = flisr.plan_times_ms().tolist()
        result["cases"] = dict(Counter(c.state for c in flisr.cases))
        result["restored_planned"] = sum(c.restoration.restored for c in flisr.cases if c.restoration)
        result["ties"] = sum(len(c.restoration.ties) for c in flisr.cases if c.restoration)
        result["orders"] = session.idms.switching.summary()["orders"]
        result["rearmed"] = flisr.rearmed
        why = Counter()
        for c in flisr.cases:  # what held FLISR back where it did nothing
            if c.state != "nothing":
                continue
            iso, plan = c.isolation, c.restoration
            if iso is None:
                why["its source side dead (the case above handles it)"] += 1
            elif not len(iso.downstream) and iso.upstream < 0:
                why["one zone: no operable device or fresh indicator flag splits the section"] += 1
            elif plan is not None and any("no tie can carry" in n for n in plan.notes):
                why["no tie could carry the section beyond"] += 1
            else:
                why["fault in the last zone, no tie beyond it"] += 1
        result["nothing_why"] = dict(why)
    return result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--storm", nargs="+", default=["ice"], help="built-in storms to run (each a line)")
    parser.add_argument("--hours", type=float, default=24.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--timeout-s", type=float, default=3600.0)
    parser.add_argument("--child", nargs=2, metavar=("STORM", "MODE"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(child(args.customers[0], args.child[0], args.seed, args.child[1], args.hours)))
        return
    print(f"{platform.node()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, "
          f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; {args.hours:g} h storms, seed {args.seed}, "
          "territories with automation='flisr'")
    print("customers | storm | lockouts | CMI off | CMI on | cut | SAIDI off / on (IDMS, min) | cases | "
          "customers back planned (ties) | plan ms p50 / p95 / max | wall off / on")
    print("--- | --- | --- | --- | --- | --- | --- | --- | --- | --- | ---")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    lines, notes = [], []
    for n in args.customers:
        for storm in args.storm:
            runs = {}
            for mode in ("off", "automatic"):
                cmd = [sys.executable, __file__, "--child", storm, mode, "--customers", str(n), "--seed",
                       str(args.seed), "--hours", str(args.hours)]
                try:
                    done = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False,
                                          timeout=args.timeout_s)
                except subprocess.TimeoutExpired:
                    runs[mode] = None
                    continue
                if done.returncode:
                    print(f"{n:,} | {storm} | FAILED ({mode}): {done.stderr.strip().splitlines()[-1]}", flush=True)
                    runs[mode] = None
                    continue
                runs[mode] = json.loads(done.stdout.strip().splitlines()[-1])
            off, on = runs.get("off"), runs.get("automatic")
            if off is None or on is None:
                print(f"{n:,} | {storm} | stopped", flush=True)
                continue
            cut = 1.0 - on["cmi"] / off["cmi"] if off["cmi"] > 0 else 0.0
            ms = np.array(on["plan_ms"]) if on["plan_ms"] else np.array([np.nan])
            p50, p95, top = (float(np.nanpercentile(ms, q)) for q in (50, 95, 100))
            cases = ", ".join(f"{v} {k}" for k, v in sorted(on["cases"].items())) or "none"
            if on.get("nothing_why"):
                notes.append(f"{n:,} {storm}: where FLISR did nothing: " + "; ".join(
                    f"{k} ({v})" for k, v in sorted(on["nothing_why"].items(), key=lambda kv: -kv[1])))
            print(f"{n:,} | {storm} | {on['lockouts']} | {off['cmi']:,.0f} | {on['cmi']:,.0f} | {100 * cut:.1f} % | "
                  f"{off['saidi_min']:.1f} / {on['saidi_min']:.1f} | {cases} | {on['restored_planned']:,} "
                  f"({on.get('ties', 0)}) | {p50:.0f} / {p95:.0f} / {top:.0f} | {off['wall_s']:.0f} s / "
                  f"{on['wall_s']:.0f} s", flush=True)
            lines.append(f"flisr: customers={n} cmi_off={off['cmi']:.0f} cmi_on={on['cmi']:.0f} "
                         f"reduction={100 * cut:.0f}% plan_ms_p95={p95:.0f}" + ("" if len(args.storm) == 1 else
                                                                                   f" storm={storm}"))
    for note in notes:
        print(note)
    for line in lines:
        print(line)


if __name__ == "__main__":
    main()
