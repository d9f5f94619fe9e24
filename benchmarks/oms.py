"""Outage-management benchmark: prediction accuracy against the world's ground truth over whole storms.

Synthetic territories (10k and 100k customers by default, seed 1) under the built-in hurricane for
24 hours, the IDMS on the world through its interfaces and run by the automatic dispatcher until
every customer is back; once with AMI (last gasps, pings) and once with calls alone. Each run is a
subprocess of its own. Printed per run (see :mod:`twin.instructor.oms_truth`): real sustained
outages of protective devices (a fuse that blew as the recloser above it locked out timed from the
recloser's closing: until then nothing below the recloser can tell it apart), the share predicted at exactly the right device within 5 simulated
minutes, median and 95th-percentile time to the exact prediction (inf: some never), undetected,
false outages created, crews sent where all had power, the IDMS's SAIDI and CAIDI and the wall
time; then one line per run:

    oms: exact_5min=NN.N% median_detect_s=N p95_detect_s=N false=N

Targets (issue 6): with AMI at least 95 % exact within 5 minutes; with calls alone at least 80 %
within 30 minutes (the second figure of a calls-only line is the 30-minute share).

    python benchmarks/oms.py                       # 10k and 100k, AMI and calls only
    python benchmarks/oms.py --customers 10000 --storm thunderstorm
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def child(customers: int, hours: float, storm: str, seed: int, ami: bool) -> dict:
    from twin.instructor.oms_truth import PredictionLog, prediction_accuracy
    from twin.session import build_session, run_session
    from twin.world.territory import generate_territory

    net = generate_territory(customers, seed=seed)
    started = time.perf_counter()
    session = build_session(net, hours=hours, storm=storm, seed=seed, ami=ami)
    log = PredictionLog(session)
    session, summary = run_session(net, session=session)
    wall = time.perf_counter() - started
    five = prediction_accuracy(log, within_s=300.0)
    thirty = prediction_accuracy(log, within_s=1800.0)
    return {"customers": customers, "ami": ami, "real": five.real_outages, "exact_5min": five.exact_share,
            "exact_5min_ami_up": five.exact_share_ami_up, "ami_up": five.ami_up,
            "exact_30min": thirty.exact_share, "median_detect_s": five.median_detect_s,
            "p95_detect_s": five.p95_detect_s, "undetected": five.undetected, "false": five.false,
            "crews_to_nothing": five.inside_premise_crews, "inside_premise": summary.inside_premise,
            "records": five.records, "nested": five.nested, "hidden": five.hidden, "saidi_min": summary.saidi_min, "caidi_min": summary.caidi_min,
            "world_customer_minutes": summary.world.customer_minutes, "idms_customer_minutes": summary.customer_minutes,
            "out_at_end": summary.out_at_end, "restored_h": summary.restored_s / 3600.0, "wall_s": wall,
            "line": five.line()}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--hours", type=float, default=24.0)
    parser.add_argument("--storm", default="hurricane")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--child", choices=["ami", "calls"], help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(child(args.customers[0], args.hours, args.storm, args.seed, args.child == "ami")))
        return
    print(f"{args.hours:g} h of {args.storm}, seed {args.seed}, automatic dispatcher; "
          f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
    lines = []
    for n in args.customers:
        for setting in ("ami", "calls"):
            out = subprocess.run([sys.executable, __file__, "--child", setting, "--customers", str(n), "--hours",
                                  str(args.hours), "--storm", args.storm, "--seed", str(args.seed)],
                                 capture_output=True, text=True, cwd=ROOT)
            if out.returncode != 0:
                print(f"{n:,} {setting}: failed\n{out.stderr[-2000:]}")
                continue
            r = json.loads(out.stdout.strip().splitlines()[-1])
            print(f"{n:>9,} {setting:5}: {r['real']} real outages ({r['nested']} nested, timed from when the outage "
                  f"above them ended; {r['hidden']} more hidden behind one until their repair); exact in 5 min {100 * r['exact_5min']:.1f}% "
                  f"({100 * r['exact_5min_ami_up']:.1f}% of the {r['ami_up']} where the AMI network was up), "
                  f"in 30 min {100 * r['exact_30min']:.1f}%; detect median {r['median_detect_s']:.0f} s, "
                  f"p95 {r['p95_detect_s']:.0f} s; {r['undetected']} undetected; {r['false']} false outages, "
                  f"{r['crews_to_nothing']} crews sent where all had power, {r['inside_premise']} inside-premise "
                  f"calls told apart; SAIDI {r['saidi_min']:.1f} min, CAIDI {r['caidi_min']:.1f} min (IDMS "
                  f"{r['idms_customer_minutes']:,.0f} vs world {r['world_customer_minutes']:,.0f} customer-minutes); "
                  f"{'all restored at %.1f h' % r['restored_h'] if r['out_at_end'] == 0 else '%d still out' % r['out_at_end']}; "
                  f"{r['wall_s']:.1f} s wall")
            lines.append(f"oms: {r['line']}  # {n:,} customers, {'AMI' if setting == 'ami' else 'calls only'}")
    for line in lines:
        print(line)


if __name__ == "__main__":
    main()
