"""``make demo``: the model validator's day, end to end, without a screen.

1. Validate the IEEE test feeders (when ``../shared/feeders`` is beside the project).
2. Generate a synthetic service territory, save it in the native format, load it back, validate it.
3. Ask the topology the dispatcher's question for every recloser: who loses power if it opens.
4. Solve the territory's unbalanced power flow at peak load with its regulators and capacitors
   settled, and report voltages against ANSI C84.1 and the losses.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from twin.grid.schema import SwitchKind

__all__ = ["run_demo", "find_feeders"]

IEEE_MASTERS = {
    "IEEE 13": "13bus/ieee13nodeckt.dss",
    "IEEE 34": "34bus/ieee34mod1.dss",
    "IEEE 37": "37bus/ieee37.dss",
    "IEEE 123": "123bus/ieee123master.dss",
    "IEEE 8500": "8500-node/master.dss",
}


def find_feeders() -> Path | None:
    """The shared IEEE feeder folder beside the project root, if present."""
    for parent in Path(__file__).resolve().parents:  # the project root's parent holds shared/
        candidate = parent / "shared" / "feeders"
        if (candidate / "13bus").is_dir():
            return candidate
    return None


def run_demo(out: Path, *, customers: int = 20_000, seed: int = 1) -> int:
    """Run the demonstration; returns 0 when every step worked."""
    from twin.grid.impact import outage_impact
    from twin.grid.native import load_native
    from twin.grid.topology import build_topology
    from twin.grid.validate import validate, validate_path
    from twin.world.territory import generate_command

    status = 0
    feeders = find_feeders()
    print("== 1. IEEE test feeders ==")
    if feeders is None:
        print("  (../shared/feeders not found: skipped)")
    else:
        for name, rel in IEEE_MASTERS.items():
            t0 = time.perf_counter()
            report = validate_path(feeders / rel)
            s = report.summary
            print(f"  {name:10s} {report.headline()}  ({time.perf_counter() - t0:.2f} s)")
            if s:
                print(f"             {s['buses']} buses, {s['nodes']} nodes, {s['lines']} lines, "
                      f"{s['switches']} switches, {s['transformers']} transformers, {s['regulators']} "
                      f"regulators, {s['capacitors']} capacitors, {s['loads']} loads "
                      f"{s['load_kw']:.0f} kW / {s['load_kvar']:.0f} kvar")
            status |= int(report.n_errors > 0)
            print("             " + _against_opendss(feeders, rel))

    print(f"\n== 2. Synthetic territory: {customers:,} customers, seed {seed} ==")
    folder = out / f"territory-{customers}"
    generate_command(customers, seed, folder)
    t0 = time.perf_counter()
    net = load_native(folder)
    print(f"  loaded back from {folder} in {time.perf_counter() - t0:.2f} s")
    report = validate(net)
    print("  " + report.text(limit=8).replace("\n", "\n  "))
    status |= int(report.n_errors > 0)

    print("\n== 3. Who loses power if a recloser opens? ==")
    t0 = time.perf_counter()
    topo = build_topology(net)
    print(f"  topology prepared in {(time.perf_counter() - t0) * 1e3:.0f} ms "
          f"({int(topo.energised.sum()):,} of {len(net.bus):,} buses energised, {len(topo.loops())} loops)")
    reclosers = net.switch.ids[net.switch["kind"] == SwitchKind.recloser]
    t0 = time.perf_counter()
    sizes = np.array([len(topo.customers_downstream(f"switch.{r}")) for r in reclosers])
    per_lookup = (time.perf_counter() - t0) / max(len(reclosers), 1)
    t0 = time.perf_counter()
    impacts = [outage_impact(topo, f"switch.{r}") for r in reclosers]
    per_report = (time.perf_counter() - t0) / max(len(impacts), 1)
    if impacts:
        worst = max(impacts, key=lambda i: len(i.customers))
        print(f"  {len(impacts)} reclosers, {sizes.mean():.0f} customers behind each on average; "
              f"{per_lookup * 1e6:.0f} us per customer look-up, {per_report * 1e6:.0f} us per full "
              f"impact report (classes, critical customers, load, path to source)")
        print("  " + worst.text(limit=5).replace("\n", "\n  "))

    print("\n== 4. Power flow at peak load, controls settled ==")
    status |= _power_flow(net)

    print("\n== 5. Faults: every bus, then one at the end of a fused lateral ==")
    _faults(net)

    print("\n== 6. The world alone: a thunderstorm crosses the territory ==")
    from twin.world.simulate import run_world

    events = out / "thunderstorm-events.jsonl"
    _, summary = run_world(net, hours=12.0, storm="thunderstorm", seed=seed, events_path=events)
    print("  " + summary.text())
    print(f"  event stream: {events}")

    print("\n== 7. The IDMS on the world: a hurricane day, the automatic dispatcher at the desk ==")
    print(f"  (as `twin run territory:{len(net.service_point)} --storm hurricane --seed {seed} --report {out / 'report'}`)")
    from twin.session import run_session, write_report

    for old in out.glob("oms.sqlite*"):  # a fresh session: not the records of the last demo
        old.unlink()
    session, run = run_session(net, hours=24.0, storm="hurricane", seed=seed, store=out / "oms.sqlite")
    print("  " + run.text().replace("\n", "\n  "))
    for path in write_report(session, run, out / "report"):
        print(f"  wrote {path}")

    print("\n== 8. Storm scenarios: each checked, then the blue-sky lockout run ==")
    status |= _scenarios()

    print("\n== 9. The consoles: the trainee's and the instructor's screens 3 h into the summer thunderstorm ==")
    print("  (as `twin screenshot scenarios/summer-thunderstorm.yaml OUT.png --at 03:00 [--station]`; "
          "`twin train` and `twin instruct` open them live)")
    from twin.instructor.training import screenshot

    thunderstorm = str(Path(__file__).resolve().parents[1] / "scenarios" / "summer-thunderstorm.yaml")
    for name, station in (("console.png", False), ("station.png", True)):
        screenshot(thunderstorm, 3 * 3600.0, out / name, station=station)

    print("\n== 10. The same IDMS over DNP3: the world's RTUs as outstations in another process ==")
    status |= _dnp3(out, seed)

    print("\n== 11. Switching: FLISR on a lockout, then planned work under a clearance ==")
    status |= _switching(seed)
    return status


def _switching(seed: int) -> int:
    """A permanent fault past a recloser on a territory equipped for FLISR (as `twin run
    territory:5000:flisr --flisr automatic`): the plan, its order and who is out; then a planned
    outage study on the same desk, its isolation run, and a close into the held section refused."""
    from twin.idms.planned_outage import PlannedWork, study_outage
    from twin.session import build_session
    from twin.world.physics import Fault
    from twin.world.territory import generate_territory

    net = generate_territory(5000, seed=seed, automation="flisr")
    session = build_session(net, hours=4.0, seed=seed, flisr="automatic")
    world, idms = session.world, session.idms
    sw, line = net.switch, net.line
    first = str(line.ids[list(line["from_bus"]).index(sw["to_bus"][sw.position("S01-F1-RCL")])])
    world.inject(Fault(first, permanent=True, cause="tree"), at_s=600.0)
    most = [0]
    world.grid.listeners.append(lambda now, lost, back: most.__setitem__(0, max(most[0], int((~world.grid.energised_customers).sum()))))
    world.run_to(900.0)
    before = most[0]
    case = session.flisr.cases[0]
    after = int((~world.grid.energised_customers).sum())
    print(f"  permanent fault on {first}, just past S01-F1-RCL: {before:,} customers out at the lockout; FLISR "
          f"planned in {case.plan_ms:.0f} ms, {after:,} out five minutes later (the faulted zone)")
    print("  " + idms.switching.orders[case.order].text().replace("\n", "\n  "))
    world.run_to(12 * 3600.0)
    normal = idms.switching.orders.get(case.normal_order)
    print(f"  after the repair: {normal.text().splitlines()[0] if normal else 'no return-to-normal order'}; "
          f"{int((~world.grid.energised_customers).sum())} customers out")
    trunk = str(line.ids[list(line["from_bus"]).index(sw["to_bus"][sw.position("S01-F2-SW1")])])
    study = study_outage(idms.switching, PlannedWork(trunk, world.now + 3600.0, 4.0, "S01-LC1", "replace a crossarm"),
                         user="planner", load_scale=0.6)  # a night's work: the forecast at 60 % of peak
    text = study.text().splitlines()
    print("  " + text[0] + "\n  " + "\n  ".join(t[:160] for t in text[1:7]))
    desk = idms.switching
    order = study.isolation
    for step in order.steps:
        step.acknowledged = True  # the planner has told the critical customers
    desk.approve(order.id, "supervisor")
    desk.execute(order.id, "dispatcher")
    world.run_to(world.now + 1800.0)  # the crews' field steps, where the section's devices are manual
    waiting = order.next < len(order.steps) and order.steps[order.next].state.value == "running"
    if order.state.value == "in_progress" and waiting:
        desk.confirm(order.id, "dispatcher", "S01-LC1: grounds on")
    print("  " + order.text().replace("\n", "\n  "))
    op = idms.scada.control(study.upstream, "close", "trainee")
    print(f"  {order.id} {order.state.value}; clearance {study.clearance.id} {desk.register.get(study.clearance.id).state.value}"
          f" for S01-LC1; a trainee's close of {study.upstream}: {op.outcome.value} ({op.reason.value if op.reason else ''})")
    return 0 if order.state.value == "done" and op.outcome.value == "failed" else 1


def _dnp3(out: Path, seed: int) -> int:
    """``twin run territory:5000 --storm thunderstorm --hours 6 --devices dnp3`` beside the same run
    on the virtual link: the IDMS's outage records compared."""
    from twin.remote_session import run_remote
    from twin.runs import run_settings, session_from
    from twin.session import run_session

    meta = run_settings("territory:5000", storm="thunderstorm", hours=6.0, seed=seed)
    print(f"  (as `twin run territory:5000 --storm thunderstorm --hours 6 --seed {seed} --devices dnp3`)")
    t0 = time.perf_counter()
    net, session = session_from(meta)
    session, virtual = run_session(net, session=session)
    t1 = time.perf_counter()
    remote, over = run_remote(meta)
    t2 = time.perf_counter()
    f = remote.field
    print(f"  {len(f.masters)} outstations on loopback; {f.polls:,} polls, {f.events_in:,} events; "
          f"{remote.lockstep_calls:,} lock-step calls; {t2 - t1:.1f} s (virtual link {t1 - t0:.1f} s)")
    print("  " + over.text().replace("\n", "\n  "))
    a = [r.record() for r in session.idms.oms.records]
    b = [r.record() for r in remote.idms.oms.records]
    same = len(a) == len(b) and all(x["device"] == y["device"] and x["state"] == y["state"] and
                                    x["customers_interrupted"] == y["customers_interrupted"] for x, y in zip(a, b))
    print(f"  against the virtual link: {len(a)} outage records, "
          f"{'the same devices, states and customers' if same else 'DIFFERENT'}; "
          f"SAIDI {virtual.saidi_min:.2f} vs {over.saidi_min:.2f} min")
    return 0 if same else 1


def _scenarios() -> int:
    """``twin scenario check scenarios/*.yaml``, then ``twin run scenarios/blue-sky-lockout.yaml``."""
    from twin.instructor.checks import DataError
    from twin.instructor.scenario import load_scenario
    from twin.session import build_session, run_session

    folder = Path(__file__).resolve().parents[1] / "scenarios"
    status = 0
    for path in sorted(folder.glob("*.yaml")):
        try:
            print(f"  {path.name}: ok: {load_scenario(path).summary()}")
        except DataError as err:
            print("  " + str(err).replace("\n", "\n  "))
            status = 1
    lockout = folder / "blue-sky-lockout.yaml"
    if lockout.exists():
        scenario = load_scenario(lockout)
        net = scenario.network()
        _, run = run_session(net, session=build_session(net, scenario=scenario))
        print("  " + run.text().replace("\n", "\n  "))
    return status


def _against_opendss(feeders: Path, rel: str) -> str:
    """Our controlled power flow beside OpenDSS's shipped solution of the same master file."""
    import json

    import pandas as pd

    from twin.grid.opendss import load_opendss
    from twin.grid.powerflow import solve_controlled

    key = rel.split("/")[0]
    ref_v = feeders / "reference" / f"{key}_opendss_voltages.csv"
    ref_t = feeders / "reference" / f"{key}_opendss_totals.json"
    if not (ref_v.exists() and ref_t.exists()):
        return "(no OpenDSS reference solution)"
    t0 = time.perf_counter()
    r = solve_controlled(load_opendss(feeders / rel)).result
    elapsed = time.perf_counter() - t0
    theirs = json.loads(ref_t.read_text())
    both = r.voltages.merge(pd.read_csv(ref_v, dtype={"bus": str}), on=["bus", "phase"], suffixes=("", "_ref"))
    live = both[both["v_pu_ref"] > 0.1]
    dv = (live["v_pu"] - live["v_pu_ref"]).abs().max()
    return (f"load and power flow {elapsed:.2f} s: losses {r.losses_kw:,.2f} kW (OpenDSS {theirs['losses_kw']:,.2f}), "
            f"max |dV| {dv:.1e} pu over {len(live)} nodes")


def _faults(net) -> None:
    """The fault study of every bus, and the protection's answer to a permanent lateral fault."""
    from twin.field_devices.protection import simulate
    from twin.grid.shortcircuit import FaultType, fault_at, fault_study
    from twin.grid.tcc import settings_from_switch
    from twin.grid.topology import build_topology

    t0 = time.perf_counter()
    study = fault_study(net)
    t = study.buses
    print(f"  {len(t):,} buses studied in {time.perf_counter() - t0:.2f} s (power flow, every bus's Thevenin "
          f"impedance, SLG/LL/three-phase); {len(study.zones):,} protective zones")
    fuses = study.zones[study.zones["kind"] == "fuse"]
    if fuses.empty:
        return
    zone = fuses.sort_values("min_a").iloc[0]
    r = fault_at(net, zone["weakest_bus"], FaultType.slg)
    print(f"  weakest fused lateral: {zone['device']}, a single line-to-ground fault at {zone['weakest_bus']} "
          f"draws {r.currents['i_a'].max():,.0f} A")
    path = build_topology(net).path_to_source(f"bus.{zone['weakest_bus']}")
    sw = net.switch
    devices = [ref.partition(".")[2] for ref in reversed(path) if ref.startswith("switch.")]
    amps = r.devices.groupby("device")["i_a"].max()
    chain = [(d, settings_from_switch(int(sw["kind"][sw.position(d)]), sw["curve"][sw.position(d)],
                                      float(sw["rated_a"][sw.position(d)]))) for d in devices if d in amps.index]
    chain = [(d, s) for d, s in chain if s is not None]
    for permanent in (False, True):
        response = simulate(chain, [float(amps[d]) for d, _ in chain], permanent=permanent)
        steps = ", ".join(f"{device} {action} {time_s:.2f} s" for time_s, device, action in response.timeline(digits=3))
        print(f"  {'permanent' if permanent else 'temporary'}: {steps}")


def _power_flow(net) -> int:
    """Solve ``net`` with its controls and print what a planning engineer looks at first."""
    from twin.grid.power_quality import ansi_range
    from twin.grid.powerflow import solve_controlled

    t0 = time.perf_counter()
    settled = solve_controlled(net)
    elapsed = time.perf_counter() - t0
    r = settled.result
    live = r.voltages[r.voltages["v_pu"] > 0]
    band = ansi_range(live["v_pu"].to_numpy())
    print(f"  {len(live):,} energised nodes solved in {elapsed:.2f} s ({settled.control_iterations} control "
          f"iterations, {settled.iterations} power-flow iterations)")
    print(f"  source {r.source_kw:,.0f} kW / {r.source_kvar:,.0f} kvar, load {r.load_kw:,.0f} kW, "
          f"losses {r.losses_kw:,.0f} kW ({100 * r.losses_kw / r.source_kw:.2f} %)")
    print(f"  voltages {live['v_pu'].min():.3f} to {live['v_pu'].max():.3f} pu; "
          f"{int((band == 1).sum())} nodes outside ANSI C84.1 range A, {int((band == 2).sum())} outside range B")
    moved = settled.taps[settled.taps["tap"] != 0]
    print(f"  {len(moved)} of {len(settled.taps)} regulators off neutral; "
          f"{int(settled.capacitors['closed'].sum())} of {len(settled.capacitors)} capacitor banks in service")
    return 0
