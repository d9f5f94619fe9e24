"""Recording and seek benchmark: a hurricane day on a territory recorded as it runs, then seeks
to times spread over the session (the state a replay shows, from the nearest snapshot forward).

Prints the run's wall time with the recorder on, the recording's rows and size, and the seek
times (median and worst), ending with one line

    replay: customers=N events=N seek_median_s=N.NNN seek_max_s=N.NNN

Target (issue 7): seeking to a time reached in a long session under 2 s on the 100k territory.

    python benchmarks/replay.py                    # 100k customers, 24 h hurricane, seed 1
    python benchmarks/replay.py --customers 20000
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path


def main(argv: list[str] | None = None) -> None:
    from twin.cli import session_from
    from twin.instructor.recording import Recorder, Recording
    from twin.session import run_session

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--hours", type=float, default=24.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--seeks", type=int, default=20)
    args = parser.parse_args(argv)
    meta = {"model": f"territory:{args.customers}", "storm": "hurricane", "hours": args.hours, "seed": args.seed,
            "ami": True, "rules": None}
    print(f"{args.hours:g} h of hurricane on {args.customers:,} customers, seed {args.seed}; "
          f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.twinrec"
        net, session = session_from(meta)
        recorder = Recorder(path, meta).attach(session)
        t0 = time.perf_counter()
        run_session(net, session=session)
        recorder.close(end_s=session.world.now)
        run_s = time.perf_counter() - t0
        rec = Recording(path)
        end = rec.last_sim_s()
        (snapshots,) = rec.db.execute("SELECT COUNT(*) FROM snapshots").fetchone()
        print(f"  run with the recorder on: {run_s:.1f} s wall to {end / 3600.0:.1f} h; {recorder.seq:,} rows, "
              f"{snapshots} snapshots, {path.stat().st_size / 2**20:.1f} MiB")
        times = []
        for k in range(args.seeks):
            t = end * (k + 0.5) / args.seeks
            s0 = time.perf_counter()
            state = rec.state_at(t)
            times.append(time.perf_counter() - s0)
            if k % max(1, args.seeks // 5) == 0:
                print(f"  seek to {t / 3600.0:6.2f} h: {times[-1] * 1e3:7.1f} ms ({len(state.records)} active outages, "
                      f"{state.customers_out:,} customers out)")
        times.sort()
        median, worst = times[len(times) // 2], times[-1]
        print(f"replay: customers={args.customers} events={recorder.seq} seek_median_s={median:.3f} "
              f"seek_max_s={worst:.3f}")


if __name__ == "__main__":
    main()
