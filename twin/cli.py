"""The ``twin`` command line.

    twin validate MODEL [--json]              check a network model before it goes live
    twin generate --customers N --seed S OUT  write a synthetic service territory (native format)
    twin outage MODEL DEVICE                  who loses power if DEVICE (e.g. switch.R12) opens
    twin powerflow MODEL [--csv F] [--json] [--losses] [--hour H]  solve the unbalanced power flow
    twin shortcircuit MODEL [--bus B] [--csv F]  fault currents at every bus, or one fault in full
    twin simulate MODEL [--hours H] [--storm NAME] [--seed S] [--events F]  the world alone, a storm day
                                              (an imported feeder gets customers and protection: --save-model DIR)
    twin run MODEL [--storm NAME] [--hours H] [--seed S] [--report DIR] [--no-ami] [--rules R] [--store F]
                                              the world and the IDMS together, run by the automatic dispatcher
    twin score RECORDING [--out DIR]          a recorded trainee session scored against the automatic dispatcher
    twin train SOURCE [--speed X] [--record F] [--session-file F]  the trainee console on a session live
    twin instruct [--session-file F] [--replay RECORDING]  the instructor station (attached, or a replay)
    twin screenshot SOURCE OUT.png --at HH:MM [--station]   either screen at a moment, headless
    twin demo [--out DIR]                     the end-to-end demonstration behind `make demo`
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from twin.errors import TwinError
from twin.runs import run_settings, session_from, world_network

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="twin", description="Twin: distribution utility digital twin and "
                                "dispatcher training simulator.")
    sub = p.add_subparsers(dest="command", required=True)

    v = sub.add_parser("validate", help="check a network model (OpenDSS master .dss or native folder)")
    v.add_argument("model", help="OpenDSS master file or native model folder")
    v.add_argument("--json", action="store_true", help="print the report as JSON")

    g = sub.add_parser("generate", help="write a synthetic service territory in the native format")
    g.add_argument("out", type=Path, help="output folder")
    g.add_argument("--customers", type=int, required=True, help="number of customers (service points)")
    g.add_argument("--seed", type=int, default=1, help="random seed (same seed, same territory)")

    o = sub.add_parser("outage", help="customers who lose power if a device opens")
    o.add_argument("model", help="OpenDSS master file or native model folder")
    o.add_argument("device", help="element reference, e.g. switch.R12, line.L3, transformer.T7")
    o.add_argument("--normal", action="store_true", help="use normal switch states, not present ones")

    f = sub.add_parser("powerflow", help="solve the unbalanced three-phase power flow")
    f.add_argument("model", help="OpenDSS master file or native model folder")
    f.add_argument("--csv", type=Path, help="write bus,phase,v_pu,angle_deg,v_volts here ('-': stdout)")
    f.add_argument("--json", action="store_true", help="print the totals as JSON")
    f.add_argument("--losses", action="store_true", help="print losses by voltage level, feeder and device")
    f.add_argument("--no-controls", action="store_true",
                   help="keep the model's taps and capacitor states (no regulator/capacitor control loop)")
    f.add_argument("--hour", type=float, help="time of day (0-24 h) for time-controlled capacitors")

    s = sub.add_parser("shortcircuit", help="fault currents at every bus, or one fault and what operates")
    s.add_argument("model", help="OpenDSS master file or native model folder")
    s.add_argument("--bus", help="work out one fault at this bus: currents per phase and the devices that operate")
    s.add_argument("--csv", type=Path, help="write bus,i3ph_a,islg_a,ill_a here ('-': stdout)")
    s.add_argument("--type", choices=[t.name for t in _fault_types()], default="three_phase",
                   help="fault type with --bus (default three_phase)")
    s.add_argument("--phases", help="faulted phases with --bus, e.g. A or BC (default: the bus's first)")
    s.add_argument("--r-fault", type=float, default=0.0, help="fault resistance with --bus, ohms per phase")
    s.add_argument("--temporary", action="store_true", help="with --bus: a temporary fault (gone at the first trip)")

    w = sub.add_parser("simulate", help="run the world alone (no IDMS): a storm or blue sky over a territory")
    w.add_argument("model", help="OpenDSS master file, native model folder, or territory:N (N customers, generated)")
    w.add_argument("--hours", type=float, default=24.0, help="simulated hours (default 24)")
    w.add_argument("--storm", choices=["thunderstorm", "hurricane", "ice"], help="a built-in storm (default: blue sky)")
    w.add_argument("--seed", type=int, default=0, help="seed of every random draw (default 0)")
    w.add_argument("--events", type=Path, help="write the event stream here as JSON lines")
    w.add_argument("--save-model", type=Path, help="an imported feeder: write it, with the customers and protection "
                   "attached for the run, as a native model folder")

    r = sub.add_parser("run", help="a storm with the IDMS on the world, run by the automatic dispatcher, headless")
    r.add_argument("model", help="a scenario (scenarios/*.yaml), OpenDSS master file, native model folder, or "
                   "territory:N (N customers, generated)")
    r.add_argument("--storm", choices=["thunderstorm", "hurricane", "ice"], help="a built-in storm (default: blue sky)")
    r.add_argument("--hours", type=float, default=24.0, help="hours of weather; the run goes on until everyone "
                   "is restored (at most 72 h more)")
    r.add_argument("--seed", type=int, default=0, help="seed of every random draw (default 0)")
    r.add_argument("--report", type=Path, help="folder for the report: reliability.csv and .html, outages.csv, "
                   "summary.txt")
    r.add_argument("--no-ami", action="store_true", help="the IDMS without the AMI head-end (calls and SCADA only)")
    r.add_argument("--rules", choices=["normal", "storm"], help="outage prediction rules (default: storm in a storm)")
    r.add_argument("--store", type=Path, help="the IDMS's outage store (SQLite); an existing one is taken up again")
    r.add_argument("--devices", choices=["virtual", "dnp3"], default="virtual",
                   help="the IDMS's field-device link: virtual (in process, the default) or dnp3 (the world's RTUs "
                        "as DNP3 outstations on loopback in a separate process, the IDMS polling them)")
    r.add_argument("--record", type=Path, help="record the session (a new SQLite file, e.g. recordings/NAME.twinrec)")
    r.add_argument("--flisr", choices=["off", "advisory", "automatic"], default="off",
                   help="the IDMS's FLISR: off (the default), advisory (plans switching orders for the desk) or "
                        "automatic (runs them); territory:N:flisr equips every feeder for it")

    dp = sub.add_parser("dnp3-points", help="the DNP3 points map of a model's RTUs (YAML), for a DNP3 master")
    dp.add_argument("model", help="OpenDSS master file, native model folder, or territory:N")
    dp.add_argument("out", type=Path, help="the YAML file to write")
    dp.add_argument("--seed", type=int, default=0, help="seed of a generated territory (default 0)")
    dp.add_argument("--host", default="127.0.0.1", help="the outstations' address (default loopback)")
    dp.add_argument("--base-port", type=int, default=20000, help="the first outstation's TCP port; one port per RTU")
    dp.add_argument("--first-address", type=int, default=10, help="the first outstation's DNP3 address")
    dp.add_argument("--master-address", type=int, default=1, help="the master's DNP3 address")

    rp = sub.add_parser("replay", help="a recorded session: its timeline, or --verify it re-runs identically")
    rp.add_argument("recording", type=Path)
    rp.add_argument("--verify", action="store_true", help="re-run it headless and compare the event streams")
    rp.add_argument("--view", action="store_true", help="open it in the instructor station: seek bar, play, speed, "
                    "branch (as twin instruct --replay)")
    rp.add_argument("--from", dest="start_h", type=float, default=0.0, help="timeline from this hour")
    rp.add_argument("--to", dest="end_h", type=float, help="timeline to this hour")

    scr = sub.add_parser("score", help="score a recorded trainee session against the automatic dispatcher's run")
    scr.add_argument("recording", type=Path)
    scr.add_argument("--out", type=Path, help="folder for score.csv and score.html (default: RECORDING-score/)")

    sn = sub.add_parser("snapshot", help="save a recorded session's whole state at a moment (twin run SNAPSHOT.json "
                        "goes on from there)")
    sn.add_argument("recording", type=Path)
    sn.add_argument("--at", required=True, help="HH:MM after the start")
    sn.add_argument("out", type=Path)

    t = sub.add_parser("train", help="the trainee console on a session live (the instructor attaches with twin instruct)")
    t.add_argument("source", help="a scenario (scenarios/*.yaml), a model, territory:N, or a snapshot .json to go on from")
    t.add_argument("--storm", choices=["thunderstorm", "hurricane", "ice"], help="a built-in storm on a model")
    t.add_argument("--hours", type=float, default=24.0, help="hours of weather on a model (default 24)")
    t.add_argument("--seed", type=int, default=0, help="seed of every random draw on a model (default 0)")
    t.add_argument("--speed", type=float, default=60.0, help="simulated seconds per wall second, 1 to 3600 (default 60)")
    t.add_argument("--record", type=Path, help="the recording (default recordings/NAME-DATE-TIME.twinrec)")
    t.add_argument("--session-file", type=Path, help="where to write the address and tokens twin instruct reads "
                   "(default: one per user in the temporary folder)")
    t.add_argument("--paused", action="store_true", help="open paused: the instructor starts the session")
    t.add_argument("--frames", type=int, help="stop after this many frames (headless runs)")

    ins = sub.add_parser("instruct", help="the instructor station: attached to twin train, or on a recording")
    ins.add_argument("--session-file", type=Path, help="the session file twin train wrote (default: its default)")
    ins.add_argument("--replay", type=Path, help="a recording to replay, with a seek bar and branching")
    ins.add_argument("--frames", type=int, help="stop after this many frames (headless runs)")

    shot = sub.add_parser("screenshot", help="the trainee console (or --station) at a moment of a session, as a PNG")
    shot.add_argument("source", help="a scenario, a model or territory:N")
    shot.add_argument("out", type=Path, help="the PNG to write")
    shot.add_argument("--at", required=True, help="HH:MM after the start")
    shot.add_argument("--storm", choices=["thunderstorm", "hurricane", "ice"], help="a built-in storm on a model")
    shot.add_argument("--hours", type=float, default=24.0, help="hours of weather on a model (default 24)")
    shot.add_argument("--seed", type=int, default=0, help="seed on a model (default 0)")
    shot.add_argument("--station", action="store_true", help="the instructor station instead")
    shot.add_argument("--select", help="a device to open the dialog of (a switch id)")

    sc = sub.add_parser("scenario", help="storm scenarios (YAML)")
    sc_sub = sc.add_subparsers(dest="action", required=True)
    chk = sc_sub.add_parser("check", help="check scenario files: every problem, with its key, value and what is allowed")
    chk.add_argument("files", nargs="+", type=Path)
    chk.add_argument("--no-model", action="store_true", help="check the file alone, not the names it gives "
                     "against its model")

    d = sub.add_parser("demo", help="generate, validate and query a territory and the IEEE feeders")
    d.add_argument("--out", type=Path, default=Path("out"), help="folder for generated models")
    d.add_argument("--customers", type=int, default=20_000, help="size of the demo territory")
    return p


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the process exit status."""
    args = _parser().parse_args(argv)
    try:
        if args.command == "validate":
            from twin.grid.validate.cli import validate_command

            return validate_command(args.model, as_json=args.json)
        if args.command == "generate":
            from twin.world.territory import generate_command

            generate_command(args.customers, args.seed, args.out)
            return 0
        if args.command == "outage":
            return _outage(args.model, args.device, normal=args.normal)
        if args.command == "powerflow":
            return _powerflow(args.model, csv=args.csv, as_json=args.json, controls=not args.no_controls,
                              losses=args.losses, hour=args.hour)
        if args.command == "shortcircuit":
            return _shortcircuit(args.model, bus=args.bus, csv=args.csv, kind=args.type, phases=args.phases,
                                 r_fault_ohm=args.r_fault, temporary=args.temporary)
        if args.command == "simulate":
            return _simulate(args.model, hours=args.hours, storm=args.storm, seed=args.seed, events=args.events,
                             save_model=args.save_model)
        if args.command == "run":
            return _run(args.model, storm=args.storm, hours=args.hours, seed=args.seed, report=args.report,
                        ami=not args.no_ami, rules=args.rules, store=args.store, record=args.record,
                        devices=args.devices, flisr=args.flisr)
        if args.command == "dnp3-points":
            return _dnp3_points(args)
        if args.command in ("train", "instruct", "screenshot"):
            return _training(args)
        if args.command == "score":
            return _score(args.recording, args.out)
        if args.command == "snapshot":
            return _snapshot(args.recording, args.at, args.out)
        if args.command == "replay":
            if args.view:
                from twin.instructor.training import instruct

                return instruct(replay=args.recording)
            return _replay(args.recording, check=args.verify, start_h=args.start_h, end_h=args.end_h)
        if args.command == "scenario":
            return _scenario_check(args.files, check_model=not args.no_model)
        if args.command == "demo":
            from twin.demo import run_demo

            return run_demo(args.out, customers=args.customers)
    except TwinError as err:
        print(f"twin {args.command}: {err}", file=sys.stderr)
        return 1
    return 2


def _fault_types():
    from twin.grid.shortcircuit import FaultType

    return FaultType


def _shortcircuit(model: str, *, bus: str | None, csv: Path | None, kind: str, phases: str | None,
                  r_fault_ohm: float, temporary: bool) -> int:
    """The fault study (one row per bus), or with ``bus`` one fault and the protection's answer."""
    from twin.grid.io import load_model
    from twin.grid.powerflow import prepare
    from twin.grid.shortcircuit import FaultType, fault_at, fault_study

    net = load_model(model)
    prep = prepare(net)
    out = sys.stderr if str(csv) == "-" else sys.stdout
    if bus is None:
        study = fault_study(prep)
        table = study.buses[["bus", "i3ph_a", "islg_a", "ill_a"]]
        if csv is not None:
            text = table.to_csv(index=False, float_format="%.2f")
            sys.stdout.write(text) if str(csv) == "-" else csv.write_text(text)
        t = study.buses
        k = int(t["i3ph_a"].to_numpy().argmax())
        print(f"{len(t)} buses studied; largest fault {t['i3ph_a'].iloc[k]:,.0f} A at {t['bus'].iloc[k]}; "
              f"{len(study.zones)} protective zones", file=out)
        for z in study.zones.sort_values("min_a").head(10).itertuples():
            print(f"  {z.kind} {z.device}: {z.buses} buses, faults {z.min_a:,.0f} A (at {z.weakest_bus}) to "
                  f"{z.max_a:,.0f} A", file=out)
        return 0
    r = fault_at(prep, bus, FaultType[kind], phases=phases, r_fault_ohm=r_fault_ohm)
    print(f"{r.kind.name} fault at {bus}" + (f" through {r_fault_ohm:g} ohm" if r_fault_ohm else "") + ":", file=out)
    for row in r.currents.itertuples():
        print(f"  phase {row.phase}: {row.i_a:,.1f} A at {row.angle_deg:+.1f} deg", file=out)
    if r.devices.empty:
        print("no protective device carries the fault current", file=out)
        return 0
    print("protective devices carrying fault current (largest phase):", file=out)
    peak = r.devices.groupby("device", sort=False).agg(kind=("kind", "first"), on_path=("on_path", "first"),
                                                       i_a=("i_a", "max"))
    for device, row in peak.iterrows():
        print(f"  {row.kind} {device}: {row.i_a:,.1f} A{'' if row.on_path else ' (not between the fault and the source)'}",
              file=out)
    _protection_response(net, bus, peak, temporary, out)
    return 0


def _protection_response(net, bus: str, peak, temporary: bool, out) -> None:
    """What the devices between the fault and the source do, in time order."""
    from twin.field_devices.protection import simulate
    from twin.grid.tcc import settings_from_switch
    from twin.grid.topology import build_topology

    sw = net.switch
    above = [ref.partition(".")[2] for ref in build_topology(net).path_to_source(f"bus.{bus}")
             if ref.startswith("switch.")]
    path, amps = [], []
    for device in reversed(above):  # source first
        if device not in peak.index:
            continue
        row = peak.loc[device]
        k = sw.position(device)
        try:
            settings = settings_from_switch(int(sw["kind"][k]), sw["curve"][k], float(sw["rated_a"][k]))
        except ValueError as err:
            print(f"  {device}: its setting does not read ({err}); left out of the sequence", file=out)
            continue
        if settings is not None:
            path.append((device, settings))
            amps.append(float(row.i_a))
    if not path:
        return
    response = simulate(path, amps, permanent=not temporary)
    print(f"{'temporary' if temporary else 'permanent'} fault, sequence of operations:", file=out)
    for time_s, device, action in response.timeline(digits=3):
        print(f"  {time_s:8.3f} s  {device} {action}", file=out)
    print(("cleared" if response.cleared else "NOT cleared") + (f", isolated by {response.isolated_by}"
          if response.isolated_by else "") + (" (miscoordinated: expected "
          f"{response.expected})" if response.miscoordinated else ""), file=out)


def _simulate(model: str, *, hours: float, storm: str | None, seed: int, events: Path | None,
              save_model: Path | None = None) -> int:
    from twin.world.simulate import run_world

    net = world_network(model, seed=seed, storm=storm, save_model=save_model)
    _, summary = run_world(net, hours=hours, storm=storm, seed=seed, events_path=events)
    print(summary.text())
    return 0


def _run(model: str, *, storm: str | None, hours: float, seed: int, report: Path | None, ami: bool,
         rules: str | None, store: Path | None, record: Path | None = None, devices: str = "virtual",
         flisr: str = "off") -> int:
    """World and IDMS through a storm, the automatic dispatcher at the desk; prints the summary."""
    from twin.session import run_session

    if devices == "dnp3":
        return _run_dnp3(model, storm=storm, hours=hours, seed=seed, report=report, ami=ami, rules=rules,
                         store=store, record=record)

    if model.endswith(".json"):  # a snapshot: the session restored to its moment, then on from there
        from twin.instructor.snapshots import SnapshotError, restore

        if record is not None:
            raise SnapshotError(f"{model}: a session restored from a snapshot is not recorded on its own (a "
                                "recording starts at the session's start); record the session the snapshot came from")
        net, session = restore(model, session_from)
        print(f"restored {model} at {session.world.now / 3600.0:.2f} h")
    else:
        meta = run_settings(model, storm=storm, hours=hours, seed=seed, ami=ami, rules=rules, flisr=flisr)
    if not model.endswith(".json"):
        net, session = session_from(meta, store=store, model_file=model)
    recorder = None
    if record is not None:
        from twin.instructor.recording import Recorder

        recorder = Recorder(record, meta).attach(session)
    session, summary = run_session(net, session=session)
    if recorder is not None:
        recorder.close(end_s=session.world.now)
        print(f"recorded {recorder.seq:,} events to {record}")
    print(summary.text())
    if session.flisr is not None:
        print(session.flisr.summary())
    if report is not None:
        from twin.session import write_report

        for path in write_report(session, summary, report):
            print(f"wrote {path}")
    return 0


def _run_dnp3(model: str, *, storm: str | None, hours: float, seed: int, report: Path | None, ami: bool,
              rules: str | None, store: Path | None, record: Path | None) -> int:
    """``twin run ... --devices dnp3``: the world in its own process, its RTUs DNP3 outstations on
    loopback, the IDMS here polling them (:func:`twin.remote_session.run_remote`)."""
    from twin.remote_session import RemoteSessionError, run_remote

    if model.endswith(".json") or record is not None:
        raise RemoteSessionError("--devices dnp3 runs a model or a scenario from its start, unrecorded (the recorder "
                                 "and a snapshot need the world in this process): leave out --record, or use "
                                 "--devices virtual")
    meta = run_settings(model, storm=storm, hours=hours, seed=seed, ami=ami, rules=rules)
    session, summary = run_remote(meta, store=store)
    field, totals = session.field, session.world_totals
    print(f"DNP3: {len(field.masters)} outstations on loopback in the world's process; {field.polls:,} polls, "
          f"{field.events_in:,} events, {field.controls:,} controls; {totals['dropped']:,} frames dropped; "
          f"{session.lockstep_calls:,} lock-step calls")
    print(summary.text())
    if report is not None:
        from twin.session import write_report

        for path in write_report(session, summary, report):
            print(f"wrote {path}")
    return 0


def _dnp3_points(args) -> int:
    """``twin dnp3-points``: one outstation per RTU of the model's remote devices, each device's
    points as the points list of its kind lays them out."""
    from twin.field_devices.devices import FieldDevices
    from twin.field_devices.dnp3_field import epoch_ms
    from twin.field_devices.indicators import FaultIndicators
    from twin.field_devices.link import VirtualFieldLink
    from twin.idms.interfaces.dnp3.points import build_points_map
    from twin.world.environment import World

    net = world_network(args.model, seed=args.seed, storm=None)
    world = World(net, seed=0, resolve=False)
    link = VirtualFieldLink(world, FieldDevices(world), FaultIndicators(world))
    pmap = build_points_map(link.devices(), link.read(), base_port=args.base_port, host=args.host,
                            master_address=args.master_address, first_address=args.first_address,
                            epoch_utc_ms=epoch_ms(world))
    pmap.write(args.out)
    points = sum(sum(pmap.sizes(r.name)[:3]) for r in pmap.rtus)
    crobs = sum(pmap.sizes(r.name)[3] for r in pmap.rtus)
    served = sum(1 for d in pmap.devices if d.rtu)
    print(f"wrote {args.out}: {len(pmap.rtus)} outstations ({args.host}:{args.base_port}-"
          f"{args.base_port + max(len(pmap.rtus) - 1, 0)}, addresses {args.first_address}-"
          f"{args.first_address + max(len(pmap.rtus) - 1, 0)}), {served} telemetered devices of {len(pmap.devices)}, "
          f"{points:,} points, {crobs:,} controls")
    return 0


def _training(args) -> int:
    """``twin train``, ``twin instruct`` and ``twin screenshot``."""
    from twin.instructor import training

    if args.command == "train":
        return training.train(args.source, storm=args.storm, hours=args.hours, seed=args.seed, speed=args.speed,
                              record=args.record, session_file=args.session_file, frames=args.frames,
                              paused=args.paused)
    if args.command == "instruct":
        return training.instruct(session_file=args.session_file, replay=args.replay, frames=args.frames)
    training.screenshot(args.source, _hhmm_s(args.at), args.out, storm=args.storm, hours=args.hours, seed=args.seed,
                        station=args.station, select=args.select)
    return 0


def _hhmm_s(at: str) -> float:
    """``--at HH:MM`` in seconds after the start."""
    import re

    m = re.fullmatch(r"(\d{1,3}):([0-5]\d)", at.strip())
    if m is None:
        raise TwinError(f"--at {at!r}: give the time after the start as HH:MM, e.g. 02:30")
    return int(m.group(1)) * 3600.0 + int(m.group(2)) * 60.0


def _score(recording: Path, out: Path | None) -> int:
    """``twin score``: the recorded session's score sheet against the expert's, printed and written."""
    from twin.instructor.assess import score_recording
    from twin.instructor.scoring import sheet_rows, write_score_sheet

    sheet, events, meta = score_recording(recording, session_from)
    out = out or recording.with_name(recording.stem + "-score")
    title = f"{Path(meta.get('scenario_file') or meta.get('model', 'session')).stem}: {recording.name}"
    paths = write_score_sheet(sheet, events, out, title=title)
    print(f"{title}: {sheet.total:.1f} / 100 against the automatic dispatcher")
    for name, trainee, expert, part, weight in sheet_rows(sheet):
        print(f"  {name:22s} trainee {trainee:>14s}  expert {expert:>14s}  sub-score {part}  weight {weight}")
    for v in sheet.trainee.violations:
        print(f"  SAFETY: {v}")
    print("wrote " + ", ".join(str(p) for p in paths))
    return 0


def _snapshot(recording: Path, at: str, out: Path) -> int:
    """``twin snapshot``: the recorded session's state at ``at`` (HH:MM) saved to ``out``."""
    from twin.instructor.snapshots import save_snapshot

    path = save_snapshot(recording, _hhmm_s(at), out)
    print(f"saved {path}: twin run {path} goes on from {at}")
    return 0


def _replay(path: Path, *, check: bool, start_h: float, end_h: float | None) -> int:
    """``twin replay``: the recorded timeline (or, with ``--verify``, the re-run compared)."""
    from twin.instructor.recording import Recording, verify

    if check:
        same, text = verify(path, lambda meta: session_from(meta))
        print(f"{path}: {text}")
        return 0 if same else 1
    recording = Recording(path)
    for row in recording.rows():
        if row.sim_s >= start_h * 3600.0 and (end_h is None or row.sim_s <= end_h * 3600.0):
            print(f"{row.sim_s / 3600.0:8.3f} h  {row.source:10s} {row.kind:14s} {row.data}")
    if not recording.complete:
        print(f"(the session stopped at {recording.last_sim_s() / 3600.0:.3f} h without finishing)")
    return 0


def _scenario_check(files: list[Path], *, check_model: bool) -> int:
    """``twin scenario check``: each file ok, or every problem it has; 1 if any has one."""
    from twin.instructor.checks import DataError
    from twin.instructor.scenario import load_scenario

    bad = 0
    for path in files:
        try:
            scenario = load_scenario(path, check_model=check_model)
        except DataError as err:
            bad += 1
            print(err, file=sys.stderr)
            continue
        print(f"{path}: ok: {scenario.summary()}")
    return 1 if bad else 0



def _outage(model: str, device: str, *, normal: bool) -> int:
    from twin.grid.impact import outage_impact
    from twin.grid.io import load_model
    from twin.grid.topology import build_topology

    topo = build_topology(load_model(model), normal=normal)
    print(outage_impact(topo, device).text())
    return 0


def _powerflow(model: str, *, csv: Path | None, as_json: bool, controls: bool, losses: bool,
               hour: float | None = None) -> int:
    import json

    from twin.grid.io import load_model
    from twin.grid.powerflow import solve, solve_controlled

    net = load_model(model)
    settled = solve_controlled(net, hour=hour) if controls else None
    result = settled.result if settled else solve(net)
    if csv is not None:
        table = result.voltages[["bus", "phase", "v_pu", "angle_deg", "v_volts"]]
        text = table.to_csv(index=False, float_format="%.6f")
        if str(csv) == "-":
            sys.stdout.write(text)
        else:
            csv.write_text(text)
    totals = {
        "source_kw": result.source_kw, "source_kvar": result.source_kvar,
        "losses_kw": result.losses_kw, "losses_kvar": result.losses_kvar,
        "load_kw": result.load_kw, "load_kvar": result.load_kvar,
        "iterations": result.iterations, "max_mismatch": result.max_mismatch,
    }
    if settled:
        totals["control_iterations"] = settled.control_iterations
        totals["taps"] = dict(zip(settled.taps["regulator"], settled.taps["tap"].astype(int).tolist()))
        totals["capacitors_closed"] = dict(zip(settled.capacitors["capacitor"],
                                               settled.capacitors["closed"].astype(bool).tolist()))
    out = sys.stderr if str(csv) == "-" else sys.stdout
    if as_json:
        print(json.dumps(totals, indent=1), file=out)
    else:
        print(f"source {result.source_kw:,.3f} kW {result.source_kvar:,.3f} kvar; "
              f"losses {result.losses_kw:,.3f} kW {result.losses_kvar:,.3f} kvar; "
              f"load {result.load_kw:,.3f} kW {result.load_kvar:,.3f} kvar; "
              f"{result.iterations} iterations", file=out)
        if settled is not None and len(settled.taps):
            taps = ", ".join(f"{r} {t:+d}" for r, t in zip(settled.taps["regulator"], settled.taps["tap"].astype(int)))
            print(f"controls settled in {settled.control_iterations} solves; taps: {taps}", file=out)
    if losses:
        from twin.grid.losses import loss_report

        print(loss_report(settled.network if settled else net, result).text(), file=out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
