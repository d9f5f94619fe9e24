"""The ``twin`` command line.

    twin validate MODEL [--json]              check a network model before it goes live
    twin generate --customers N --seed S OUT  write a synthetic service territory (native format)
    twin outage MODEL DEVICE                  who loses power if DEVICE (e.g. switch.R12) opens
    twin demo [--out DIR]                     the end-to-end demonstration behind `make demo`
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from twin.errors import TwinError

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
        if args.command == "demo":
            from twin.demo import run_demo

            return run_demo(args.out, customers=args.customers)
    except TwinError as err:
        print(f"twin {args.command}: {err}", file=sys.stderr)
        return 1
    return 2


def _outage(model: str, device: str, *, normal: bool) -> int:
    from twin.grid.impact import outage_impact
    from twin.grid.io import load_model
    from twin.grid.topology import build_topology

    topo = build_topology(load_model(model), normal=normal)
    print(outage_impact(topo, device).text())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
