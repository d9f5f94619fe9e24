"""Trainee-console benchmark: frames per second of the pygame console over a storm, headless.

A synthetic territory (100k customers by default, seed 1) under the built-in hurricane, the IDMS on
the world and the automatic dispatcher, run to ``--hours`` of simulated time; then the console
(:class:`twin.idms.console.app.Console`, 1600x900, SDL's dummy video driver) draws ``--frames``
frames in each scenario below and the time of each frame (the input, then ``Console.draw``) is taken.

The console's map (:mod:`twin.idms.console.mapview`) shifts or scales its cached canvas while the
view moved within ``SETTLE_S`` of the wall time a frame is drawn at, and recomposes it exactly once
the view has held still. The wall time is the benchmark's own clock, handed to ``draw``, so each
path is forced deterministically:

* ``pan_moving``: a drag, a few pixels a frame with the clock 1/60 s on: the shifted canvas;
* ``zoom_moving``: the wheel, 1.05 a frame in and out, the clock 1/60 s on: the scaled canvas;
* ``pan_exact`` / ``zoom_exact``: the same moves with the clock past ``SETTLE_S`` each frame, so
  that every frame recomposes the map exactly (zoom: one wheel notch, 1.25, a frame);
* ``idle``: nothing changes (the map's canvas is reused; the lists and bars are redrawn);
* ``storm_update``: the world one simulated minute on between frames (timed apart, as
  ``world step``: at 60 frames a second that is x3600, the fastest a lesson runs), the view
  still, the clock 1/60 s on: the console takes the IDMS's picture again every ``REFRESH_S``
  (0.25 s) and recomposes the map then, drawing the frames between from its canvas;
* ``storm_refresh``: the same with the clock ``REFRESH_S`` on each frame, so that every frame
  takes a new picture, refills the lists and recomposes the map: the cost of one refresh;
* the ``_x8`` scenarios: the same at the view zoomed in 8 times about the centre of the map.

Each scenario prints frames per second, mean and 95th-percentile milliseconds a frame and the exact
map compositions it made (a moving or idle path makes none); the last line sums up:

    console: customers=100000 pan_moving_fps=N zoom_moving_fps=N pan_exact_fps=N ... target=30

    python benchmarks/console.py                       # 100k customers, 14 h into the hurricane
    python benchmarks/console.py --customers 10000 --profile 15
"""

from __future__ import annotations

import os

os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
os.environ.setdefault("SDL_AUDIODRIVER", "dummy")
os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")

import argparse  # noqa: E402
import cProfile  # noqa: E402
import gc  # noqa: E402
import io  # noqa: E402
import math  # noqa: E402
import platform  # noqa: E402
import pstats  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pygame  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from twin.idms.console.app import REFRESH_S, Console  # noqa: E402
from twin.idms.console.desk import Desk  # noqa: E402
from twin.idms.console.mapview import SETTLE_S  # noqa: E402
from twin.session import build_session  # noqa: E402
from twin.world.territory import generate_territory  # noqa: E402

TARGET_FPS = 30.0
FRAME_S = 1.0 / 60.0  # the clock between frames of a motion (a 60 Hz display)
SETTLED_S = 2.0 * SETTLE_S  # the clock between frames that must each be drawn exactly


class Bench:
    """The console and the benchmark's wall clock (``t``, what ``draw`` is told). The parts of a
    frame are timed too: the desk's picture (the IDMS's state gathered when it changed), the lists
    refilled from it and the map's exact composition (wrapped on this console's instances only)."""

    PARTS = ("picture", "lists", "compose")

    def __init__(self, session, console: Console) -> None:
        self.s, self.c = session, console
        self.t = 1000.0
        self.world_steps: list[float] = []
        self.parts: dict[str, list[float]] = {k: [] for k in self.PARTS}
        desk, m = console.desk, console.map
        self._picture = desk.picture
        desk.picture = self.picture
        console._fill_lists = self._timed("lists", console._fill_lists)
        m._compose = self._timed("compose", m._compose)

    def _timed(self, part: str, fn):
        def timed(*args, **kwargs):
            started = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                self.parts[part].append(time.perf_counter() - started)
        return timed

    def picture(self):
        """The desk's picture (as the console asks for it), timed when it was made anew."""
        version = self.c.desk._picture.version if self.c.desk._picture is not None else None
        started = time.perf_counter()
        picture = self._picture()
        if version != self.c.desk.version:
            self.parts["picture"].append(time.perf_counter() - started)
        return picture

    def settle(self) -> None:
        """Let the view hold still and draw it exactly (not timed)."""
        self.t += 1.0
        self.c.draw(self.t)

    def home(self) -> None:
        self.c.map.view = self.c.map.home()
        self.settle()

    # -- scenarios: each one frame of input and drawing, ``k`` the frame number -------------------

    def pan_moving(self, k: int) -> None:
        dx, dy = _circle(k, 8.0)
        self.t += FRAME_S
        self.c.map.pan(dx, dy, self.t)
        self.c.draw(self.t)

    def zoom_moving(self, k: int) -> None:
        factor = 1.05 if _triangle(k, 10) > 0 else 1 / 1.05
        self.t += FRAME_S
        m = self.c.map.rect
        self.c.map.zoom(factor, m.width * 0.55, m.height * 0.45, self.t)
        self.c.draw(self.t)

    def pan_exact(self, k: int) -> None:
        dx, dy = _circle(k, 12.0)
        self.t += SETTLED_S
        self.c.map.pan(dx, dy, self.t - SETTLED_S)
        self.c.draw(self.t)

    def zoom_exact(self, k: int) -> None:
        factor = 1.25 if _triangle(k, 4) > 0 else 1 / 1.25
        self.t += SETTLED_S
        m = self.c.map.rect
        self.c.map.zoom(factor, m.width * 0.55, m.height * 0.45, self.t - SETTLED_S)
        self.c.draw(self.t)

    def idle(self, k: int) -> None:
        self.t += FRAME_S
        self.c.draw(self.t)

    def storm_step(self) -> None:
        """Untimed by the frame: the world a simulated minute on."""
        started = time.perf_counter()
        self.s.world.run_to(self.s.world.now + 60.0)
        self.world_steps.append(time.perf_counter() - started)

    def storm_update(self, k: int) -> None:
        self.t += FRAME_S
        self.c.draw(self.t)

    def storm_refresh(self, k: int) -> None:
        self.t += REFRESH_S
        self.c.draw(self.t)


def _circle(k: int, step: float) -> tuple[int, int]:
    """Whole-pixel moves round a circle (60 frames a turn), as a drag's mouse motions are."""
    a = 2.0 * math.pi * k / 60.0
    return round(step * math.cos(a)), round(step * math.sin(a))


def _triangle(k: int, half: int) -> int:
    """+1 or -1: ``half`` frames in, ``2 * half`` out, ``half`` in, and again (about the start)."""
    phase = k % (4 * half)
    return 1 if phase < half or phase >= 3 * half else -1


def measure(bench: Bench, name: str, frames: int, *, storm: bool = False) -> dict:
    step = getattr(bench, name.removesuffix("_x8"))
    c = bench.c
    renders, version = c.map.renders, c.desk.version
    for part in bench.parts.values():
        part.clear()
    times, changed = [], 0
    for k in range(frames):
        if storm:
            before = c.desk.version
            bench.storm_step()
            changed += c.desk.version != before
        started = time.perf_counter()
        step(k)
        times.append(time.perf_counter() - started)
    ms = 1000.0 * np.asarray(times)
    return {"name": name, "frames": frames, "fps": frames / (ms.sum() / 1000.0), "mean_ms": float(ms.mean()),
            "p95_ms": float(np.percentile(ms, 95)), "max_ms": float(ms.max()),
            "renders": c.map.renders - renders, "changed": changed, "versions": c.desk.version - version,
            "parts": {k: 1000.0 * np.asarray(v) for k, v in bench.parts.items() if v}}


def profile(bench: Bench, name: str, frames: int, top: int, *, storm: bool = False) -> str:
    step = getattr(bench, name.removesuffix("_x8"))
    pr = cProfile.Profile()
    for k in range(frames):
        if storm:
            bench.storm_step()
        pr.enable()
        step(k)
        pr.disable()
    out = io.StringIO()
    pstats.Stats(pr, stream=out).sort_stats("tottime").print_stats(top)
    text = out.getvalue()
    return text[text.find("   ncalls"):].rstrip() if "   ncalls" in text else text


def report(r: dict) -> str:
    flag = "" if r["fps"] >= TARGET_FPS else "  BELOW TARGET"
    extra = f", picture changed in {r['changed']} of {r['frames']} frames" if r["name"].startswith("storm") else ""
    line = (f"  {r['name']:<16} {r['fps']:8.1f} fps  mean {r['mean_ms']:7.2f} ms  p95 {r['p95_ms']:7.2f} ms  "
            f"max {r['max_ms']:7.2f} ms  exact map renders {r['renders']}/{r['frames']}{extra}{flag}")
    if r["parts"]:
        line += f"\n  {'':<16} of which " + "; ".join(
            f"{k} {v.mean():.1f} ms mean, {np.percentile(v, 95):.1f} p95 (x{len(v)})" for k, v in r["parts"].items())
    return line


def map_stats(c: Console) -> str:
    m = c.map
    samples = m._samples[1] if m._samples is not None else ()
    return (f"view scale {m.view.scale:.4g} px/m, {len(samples):,} line pixels sampled, "
            f"{len(m.shown_devices):,} devices drawn, stroke {m._stroke()} px")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--hours", type=float, default=14.0, help="simulated hours of the hurricane before measuring")
    parser.add_argument("--frames", type=int, default=120)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--profile", type=int, default=0, metavar="N",
                        help="after the run, profile each scenario under the target (top N functions by own time)")
    args = parser.parse_args(argv)

    print(f"console benchmark, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
    print(f"machine: {platform.platform()}, {platform.machine()}, {os.cpu_count()} CPUs, "
          f"python {platform.python_version()}, numpy {np.__version__}, pygame {pygame.version.ver}, "
          f"SDL {'.'.join(map(str, pygame.get_sdl_version()))}, video driver {os.environ['SDL_VIDEODRIVER']}")

    started = time.perf_counter()
    net = generate_territory(args.customers, seed=args.seed)
    t_net = time.perf_counter() - started
    started = time.perf_counter()
    session = build_session(net, hours=24, storm="hurricane", seed=args.seed, dispatcher=True)
    t_build = time.perf_counter() - started
    started = time.perf_counter()
    session.world.run_to(args.hours * 3600.0)
    t_run = time.perf_counter() - started
    print(f"territory: {args.customers:,} customers (seed {args.seed}) generated in {t_net:.1f} s; session built in "
          f"{t_build:.1f} s; hurricane run to {args.hours:g} h in {t_run:.1f} s")

    pygame.display.init()
    started = time.perf_counter()
    desk = Desk(session.idms, epoch=session.world.calendar.start)
    c = Console(desk, status=lambda: "x60")
    t_init = time.perf_counter() - started
    started = time.perf_counter()
    c.draw(0.0)
    t_first = time.perf_counter() - started
    gc.freeze()  # as twin train does once the session is built: full collections skip the model and world
    scene = c.scene
    print(f"network: {len(net.bus):,} buses, {len(net.line):,} lines, {len(net.switch):,} switches; "
          f"{len(scene.geographic.seg_edge):,} geographic segments drawn ({len(scene.schematic.seg_edge):,} schematic); "
          f"map {c.map.rect.width}x{c.map.rect.height} of {c.screen.get_width()}x{c.screen.get_height()}")
    p = c.picture
    print(f"at {args.hours:g} h: {len(p.outages)} active outages, {len(p.alarms)} alarms, {len(p.calls)} calls listed, "
          f"{int((~p.bus_live).sum()):,} buses believed dead")
    print(f"console init (desk, scene, panels) {t_init:.2f} s; first draw {1000 * t_first:.0f} ms")
    print(f"home view: {map_stats(c)}")
    print(f"\n{args.frames} frames a scenario (target {TARGET_FPS:g} fps):")

    bench = Bench(session, c)
    results: list[dict] = []
    storm_steps: dict[str, list[float]] = {}

    def run(name: str, *, storm: bool = False) -> None:
        bench.world_steps = []
        r = measure(bench, name, args.frames, storm=storm)
        results.append(r)
        print(report(r), flush=True)
        if storm:
            storm_steps[name] = bench.world_steps
            w = 1000.0 * np.asarray(bench.world_steps)
            print(f"  {'':<16} world step (one simulated minute, not in the frame time): mean {w.mean():.0f} ms, "
                  f"p95 {np.percentile(w, 95):.0f} ms, max {w.max():.0f} ms; world now {session.world.now / 3600:.2f} h",
                  flush=True)
        bench.settle()

    # the picture does not change until the storm scenarios, which come last
    bench.home()
    for name in ("pan_moving", "zoom_moving", "pan_exact", "zoom_exact"):
        run(name)
        bench.home()
    run("idle")

    m = c.map
    m.zoom(8.0, None, None, bench.t)
    bench.settle()
    print(f"zoomed x8 about the centre: {map_stats(c)}")
    for name in ("pan_moving_x8", "pan_exact_x8", "zoom_exact_x8", "idle_x8"):
        run(name)
        m.view = m.home().zoomed(8.0)
        bench.settle()

    bench.home()
    run("storm_update", storm=True)
    run("storm_refresh", storm=True)
    m.zoom(8.0, None, None, bench.t)
    bench.settle()
    run("storm_update_x8", storm=True)
    run("storm_refresh_x8", storm=True)

    slow = [r for r in results if r["fps"] < TARGET_FPS]
    if args.profile and slow:
        n = max(10, min(args.frames, 30))
        for r in slow:
            name = r["name"]
            if name.endswith("_x8"):
                m.view = m.home().zoomed(8.0)
            else:
                m.view = m.home()
            bench.settle()
            print(f"\nprofile of {name} ({n} frames, by own time):")
            print(profile(bench, name, n, args.profile, storm=name.startswith("storm")))

    fields = " ".join(f"{r['name']}_fps={r['fps']:.1f}" for r in results)
    print(f"\nconsole: customers={args.customers} {fields} target={TARGET_FPS:g}")


if __name__ == "__main__":
    main()
