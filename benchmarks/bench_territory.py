"""Territory benchmark: generate, save and load synthetic territories of growing size.

Each size runs in a fresh subprocess, so that its peak memory (``ru_maxrss``) is its own. A step
is a function ``step_<name>(ctx) -> None`` that does one measured thing with the shared context
``ctx`` (``customers``, ``seed``, ``folder``, ``net``...); add a step to :data:`STEPS` to time
something more (topology queries, power flow) on the same networks.

    python benchmarks/bench_territory.py                  # 10k, 100k and 1M customers
    python benchmarks/bench_territory.py --sizes 10000 100000 --json benchmarks/results/territory.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

DEFAULT_SIZES = (10_000, 100_000, 1_000_000)


def step_generate(ctx: dict[str, Any]) -> None:
    """generate_territory(customers, seed)."""
    from twin.world.territory import generate_territory

    ctx["net"] = generate_territory(ctx["customers"], seed=ctx["seed"])


def step_save(ctx: dict[str, Any]) -> None:
    """save_native to a fresh folder."""
    from twin.grid.native import save_native

    save_native(ctx["net"], ctx["folder"])


def step_load(ctx: dict[str, Any]) -> None:
    """load_native of what step_save wrote."""
    from twin.grid.native import load_native

    ctx["loaded"] = load_native(ctx["folder"])


def step_topology(ctx: dict[str, Any]) -> None:
    """build_topology: the one-off preparation behind every connectivity question."""
    from twin.grid.topology import build_topology

    ctx["topology"] = build_topology(ctx["loaded"])


def step_queries(ctx: dict[str, Any]) -> None:
    """"Which customers lose power if device X opens": every switch and 2,000 random lines and
    transformers, timed one by one (microseconds per question in the metrics)."""
    import numpy as np

    topo, net = ctx["topology"], ctx["loaded"]
    rng = np.random.default_rng(ctx["seed"])
    refs = [f"switch.{i}" for i in net.switch.ids]
    refs += [f"line.{i}" for i in rng.choice(net.line.ids, min(1000, len(net.line)), replace=False)]
    refs += [f"transformer.{i}" for i in rng.choice(net.transformer.ids, min(1000, len(net.transformer)),
                                                    replace=False)]
    times = np.empty(len(refs))
    lost = 0
    for k, ref in enumerate(refs):
        start = time.perf_counter()
        lost += len(topo.customers_downstream(ref))
        times[k] = time.perf_counter() - start
    ctx.setdefault("metrics", {}).update({
        "questions": len(refs),
        "query_us_mean": float(times.mean() * 1e6),
        "query_us_p99": float(np.percentile(times, 99) * 1e6),
        "query_us_max": float(times.max() * 1e6),
        "customers_per_question": lost / len(refs),
    })


def step_validate(ctx: dict[str, Any]) -> None:
    """validate: every rule of the model validator, topology included."""
    from twin.grid.validate import validate

    report = validate(ctx["loaded"])
    ctx.setdefault("metrics", {})["validation_findings"] = len(report.findings)


STEPS: list[tuple[str, Callable[[dict[str, Any]], None]]] = [
    ("generate", step_generate),
    ("save", step_save),
    ("load", step_load),
    ("topology", step_topology),
    ("queries", step_queries),
    ("validate", step_validate),
]


def _peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # kilobytes on Linux


def run_size(customers: int, seed: int, folder: Path) -> dict[str, Any]:
    """Every step on one size, in this process: seconds and peak memory after each step."""
    ctx: dict[str, Any] = {"customers": customers, "seed": seed, "folder": folder}
    result: dict[str, Any] = {"customers": customers, "seconds": {}, "peak_mib": {}}
    for name, step in STEPS:
        start = time.perf_counter()
        step(ctx)
        result["seconds"][name] = time.perf_counter() - start
        result["peak_mib"][name] = _peak_mib()
    net = ctx["net"]
    result["rows"] = {name: len(table) for name, table in net.tables()}
    result["disk_mib"] = sum(f.stat().st_size for f in folder.iterdir()) / 2**20
    if "loaded" in ctx:
        result["round_trip_equal"] = bool(ctx["loaded"].equals(net))
    result["metrics"] = ctx.get("metrics", {})
    return result


def _child(customers: int, seed: int) -> dict[str, Any]:
    """Run one size in a subprocess and return its result."""
    folder = Path(tempfile.mkdtemp(prefix=f"territory-{customers}-"))
    try:
        cmd = [sys.executable, __file__, "--child", str(customers), "--seed", str(seed), "--folder", str(folder)]
        env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(Path(__file__).resolve().parents[1]),
                                                           os.environ.get("PYTHONPATH", "")]))
        done = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
        if done.returncode:
            raise RuntimeError(f"size {customers} failed:\n{done.stderr}")
        return json.loads(done.stdout.strip().splitlines()[-1])
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def report(results: list[dict[str, Any]]) -> str:
    """Two tables: times and peak memory (ru_maxrss, cumulative) per size, then rows per table."""
    steps = [name for name, _ in STEPS]
    head = ["customers", *(f"{s} s" for s in steps), *(f"peak after {s} MiB" for s in steps), "disk MiB", "equal"]
    lines = [" | ".join(head), " | ".join("---" for _ in head)]
    for r in results:
        lines.append(" | ".join([f"{r['customers']:,}", *(f"{r['seconds'][s]:.2f}" for s in steps),
                                 *(f"{r['peak_mib'][s]:,.0f}" for s in steps), f"{r['disk_mib']:,.0f}",
                                 str(r.get("round_trip_equal", ""))]))
    lines += ["", "customers | questions | us per question (mean) | p99 | max | customers out per question",
              "--- | --- | --- | --- | --- | ---"]
    for r in results:
        m = r.get("metrics", {})
        if "questions" in m:
            lines.append(f"{r['customers']:,} | {m['questions']:,} | {m['query_us_mean']:.1f} | "
                         f"{m['query_us_p99']:.1f} | {m['query_us_max']:.1f} | {m['customers_per_question']:,.0f}")
    tables = list(results[0]["rows"])
    lines += ["", " | ".join(["table", *(f"{r['customers']:,}" for r in results)]),
              " | ".join("---" for _ in range(len(results) + 1))]
    for t in tables:
        lines.append(" | ".join([t, *(f"{r['rows'][t]:,}" for r in results)]))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=list(DEFAULT_SIZES), help="customers per run")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--folder", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child is not None:
        print(json.dumps(run_size(args.child, args.seed, args.folder)))
        return
    results = []
    for n in args.sizes:
        results.append(_child(n, args.seed))
        r = results[-1]
        print(f"{n:,} customers: " + ", ".join(f"{k} {v:.2f} s" for k, v in r["seconds"].items())
              + f", peak {max(r['peak_mib'].values()):,.0f} MiB", flush=True)
    print(f"\n{platform.node()}, {os.cpu_count()} CPUs, Python {platform.python_version()}\n")
    print(report(results))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
