"""Fault-study benchmark: Twin against OpenDSS on the same cases, in one run.

Cases: the IEEE 123 and 8500-node feeders (``../shared/feeders``) and the synthetic 100k-customer
territory (:func:`~twin.world.territory.generate_territory`, seed 1, written for OpenDSS with
:func:`~twin.grid.opendss.save_opendss`). Both engines study every bus with the model's taps
(controls off) and the power flow's voltages before the fault:

* Twin: ``prepare`` (Y built and factored, also what a power flow needs), then
  :func:`~twin.grid.shortcircuit.fault_study` (the pre-fault power flow, the fault-study matrix
  factored, every bus's Thevenin impedances by selected inversion, the three figures, the
  minimum fault and the protective zones); the first study and the median of repeats;
* OpenDSS: ``Solve`` (snapshot), then ``Set mode=faultstudy`` and ``Solve`` (its Ysc for every
  bus and the all-phase fault currents), then ``Export fault`` (where it works out the 1-phase and
  L-L figures); the study is the last two, timed together, each repeat after a fresh snapshot
  solve (a fault study takes the last solution as its pre-fault voltages).

Each engine runs in its own subprocess (``ru_maxrss`` is its own peak). The largest relative
difference of each figure over the buses both report is printed, so that the engines are seen to
study the same case. Target (issue 4): Twin at least 5 times faster on the IEEE 8500 feeder and
the 100k territory.

    python benchmarks/shortcircuit.py                 # everything (about 2 minutes)
    python benchmarks/shortcircuit.py --cases ieee8500
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from powerflow import FEEDER_MASTERS, ROOT, SEED, _median, _ms, _peak_mib, _ratio, _timed, _warm_twin

CASES = {"ieee123": None, "ieee8500": None, "100k": 100_000}
FIGURES = ("i3ph_a", "islg_a", "ill_a")


def twin_case(case: str, folder: Path) -> dict[str, Any]:
    """Twin: load, prepare, fault study (first and median); the table to ``folder``."""
    from twin.grid.powerflow import prepare
    from twin.grid.shortcircuit import fault_study

    out: dict[str, Any] = {"engine": "twin", "warmup_s": _warm_twin()}
    fault_study(prepare(_small_net()))  # the study's own kernels, loaded once per process
    out["base_mib"] = _peak_mib()
    if case in FEEDER_MASTERS:
        from twin.grid.opendss import load_opendss

        out["load_s"], net = _timed(lambda: load_opendss(FEEDER_MASTERS[case]))
    else:
        from twin.world.territory import generate_territory

        out["load_s"], net = _timed(lambda: generate_territory(CASES[case], seed=SEED))
    out["prepare_s"], prep = _timed(lambda: prepare(net))
    out["first_s"], study = _timed(lambda: fault_study(prep))
    out["study_s"], out["study_n"] = _median(lambda k: fault_study(prep), budget_s=3.0, most=21)
    out["buses"] = len(study.buses)
    out["zones"] = len(study.zones)
    out["peak_mib"] = _peak_mib()
    t = study.buses
    np.savez(folder / "twin-faults.npz", bus=np.char.lower(t["bus"].to_numpy().astype(str)),
             **{f: t[f].to_numpy() for f in FIGURES})
    if case not in FEEDER_MASTERS:  # untimed: the same network for OpenDSS
        from twin.grid.opendss import save_opendss

        save_opendss(net, folder / "dss")
    return out


def _small_net():
    from twin.world.territory import generate_territory

    return generate_territory(100, seed=SEED)


def opendss_case(case: str, folder: Path) -> dict[str, Any]:
    """OpenDSS: compile, snapshot solve, fault study and its export; the table to ``folder``."""
    import dss

    engine = dss.DSS
    text = engine.Text
    out: dict[str, Any] = {"engine": "opendss", "base_mib": _peak_mib()}
    master = FEEDER_MASTERS[case] if case in FEEDER_MASTERS else folder / "dss" / "master.dss"
    text.Command = "clear"
    out["load_s"], _ = _timed(lambda: setattr(text, "Command", f'compile "{master}"'))
    text.Command = "Set controlmode=off"
    text.Command = "Set maxiterations=100"
    sol = engine.ActiveCircuit.Solution
    out["prefault_s"], _ = _timed(sol.Solve)
    path = folder / "opendss-faults.csv"

    def study() -> float:
        """One fault study from the snapshot solution (its pre-fault voltages: a second fault
        study would start from the first one's), timed without the snapshot."""
        text.Command = "Set mode=snapshot"
        sol.Solve()
        start = time.perf_counter()
        text.Command = "Set mode=faultstudy"
        sol.Solve()
        text.Command = f'Export fault "{path}"'
        return time.perf_counter() - start

    times = [study()]
    while len(times) < 3 or (sum(times) < 10.0 and len(times) < 11):
        times.append(study())
    out["first_s"], out["study_s"], out["study_n"] = times[0], float(np.median(times)), len(times)
    out["peak_mib"] = _peak_mib()
    rows = [line.split(",") for line in path.read_text().splitlines()[1:] if line.strip()]
    np.savez(folder / "opendss-faults.npz", bus=np.array([r[0].strip().lower() for r in rows]),
             **{f: np.array([float(r[k + 1]) for r in rows]) for k, f in enumerate(FIGURES)})
    out["buses"] = len(rows)
    return out


def compare(case: str, folder: Path) -> dict[str, Any]:
    """Largest relative difference of each figure over the buses both report (non-zero)."""
    a, b = np.load(folder / "twin-faults.npz"), np.load(folder / "opendss-faults.npz")
    index = {n: k for k, n in enumerate(a["bus"])}
    pick = np.array([index.get(n, -1) for n in b["bus"]])
    shared = pick >= 0
    out: dict[str, Any] = {"shared": int(shared.sum()), "only_opendss": int((~shared).sum())}
    for f in FIGURES:
        theirs, ours = b[f][shared], a[f][pick[shared]]
        nz = theirs > 0.01
        out[f] = float(np.abs(ours[nz] / theirs[nz] - 1.0).max()) if nz.any() else float("nan")
    return out


ENGINES = {"twin": twin_case, "opendss": opendss_case, "compare": compare}


def _child(engine: str, case: str, folder: Path, timeout_s: float = 900.0) -> dict[str, Any]:
    cmd = [sys.executable, __file__, "--child", engine, case, "--folder", str(folder)]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), str(ROOT / "benchmarks"),
                                                       os.environ.get("PYTHONPATH", "")]))
    start = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False, timeout=timeout_s)
    if done.returncode:
        err = done.stderr.strip().splitlines()
        return {"engine": engine, "error": err[-1] if err else f"exit {done.returncode}"}
    out = json.loads(done.stdout.strip().splitlines()[-1])
    out["wall_s"] = time.perf_counter() - start
    return out


def report(results: list[dict[str, Any]]) -> str:
    lines = ["Ratio = OpenDSS / Twin (above 1: Twin faster).", "",
             "case | figure | Twin | OpenDSS | ratio", "--- | --- | --- | --- | ---"]
    for r in results:
        t, o, c = r["twin"], r["opendss"], r.get("compare", {})
        if "error" in t or "error" in o:
            lines.append(f"{r['case']} | FAILED | {t.get('error', '')} | {o.get('error', '')} |")
            continue
        rows = [
            ("buses studied", f"{t['buses']:,} ({t['zones']:,} protective zones)", f"{o['buses']:,}", ""),
            ("model load", _ms(t["load_s"]), _ms(o["load_s"]) + " (compile)", _ratio(t["load_s"], o["load_s"])),
            ("prepare (Y built and factored)", _ms(t["prepare_s"]), "", ""),
            ("fault study, first", _ms(t["first_s"]), _ms(o["first_s"]), _ratio(t["first_s"], o["first_s"])),
            ("fault study (median)", _ms(t["study_s"]) + f" (n={t['study_n']})", _ms(o["study_s"]) + f" (n={o['study_n']})",
             _ratio(t["study_s"], o["study_s"])),
            ("prepare + fault study", _ms(t["prepare_s"] + t["study_s"]), _ms(o["prefault_s"] + o["study_s"])
             + " (solve + study)", _ratio(t["prepare_s"] + t["study_s"], o["prefault_s"] + o["study_s"])),
            ("peak memory (after imports)", f"{t['peak_mib']:,.0f} MiB ({t['base_mib']:,.0f})",
             f"{o['peak_mib']:,.0f} MiB ({o['base_mib']:,.0f})", _ratio(t["peak_mib"], o["peak_mib"])),
        ]
        if c and "error" not in c:
            rows.append(("largest difference (3-phase / 1-phase / L-L)", "",
                         " / ".join(f"{c[f]:.1e}" for f in FIGURES) + f" ({c['shared']:,} buses)", ""))
        lines += [" | ".join([r["case"], *row]) for row in rows]
    lines += ["", "Targets (issue 4)"]
    for r in results:
        if r["case"] in ("ieee8500", "100k") and "error" not in r["twin"] and "error" not in r["opendss"]:
            t, o = r["twin"]["study_s"], r["opendss"]["study_s"]
            lines.append(f"- fault study at least 5x faster than OpenDSS on {r['case']}: {_ms(t)} vs {_ms(o)} "
                         f"({o / t:.1f}x): {'MET' if o >= 5 * t else 'MISSED'}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", nargs="+", default=list(CASES), choices=list(CASES))
    parser.add_argument("--child", nargs=2, metavar=("ENGINE", "CASE"), help=argparse.SUPPRESS)
    parser.add_argument("--folder", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        engine, case = args.child
        print(json.dumps(ENGINES[engine](case, args.folder)))
        return
    started = time.perf_counter()
    print(f"{platform.node()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, "
          f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
    root = Path(tempfile.mkdtemp(prefix="shortcircuit-bench-"))
    results = []
    try:
        for case in args.cases:
            folder = root / case
            folder.mkdir()
            r = {"case": case, "twin": _child("twin", case, folder)}
            r["opendss"] = _child("opendss", case, folder)
            if "error" not in r["twin"] and "error" not in r["opendss"]:
                r["compare"] = _child("compare", case, folder)
            results.append(r)
            print(f"{case}: Twin {_ms(r['twin'].get('study_s'))}, OpenDSS {_ms(r['opendss'].get('study_s'))}", flush=True)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    print()
    print(report(results))
    print(f"\nwhole run {time.perf_counter() - started:,.0f} s")


if __name__ == "__main__":
    main()
