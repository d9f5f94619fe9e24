"""A run's settings and what they make: the network a world runs on and the session of world and
IDMS on it.

A run's settings (``meta``, as a recording and a snapshot keep them) are a scenario's text, or a
model (``territory:N`` or a file) with its storm, hours, seed and IDMS settings
(:func:`run_settings`). :func:`session_from` makes ``(net, session)`` from them, the same every
time: ``twin run``, ``twin train``, a replay's verify and a snapshot restored all start here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

__all__ = ["network_from", "ready_for_world", "run_settings", "scenario_from", "session_from", "world_network",
           "world_parts"]


def run_settings(model: str, *, storm: str | None = None, hours: float = 24.0, seed: int = 0, ami: bool = True,
                 rules: str | None = None, dispatcher: bool = True, flisr: str = "off") -> dict[str, Any]:
    """The settings of a run on ``model`` (a scenario file, a model file, ``territory:N`` or
    ``territory:N:flisr``, a territory equipped for FLISR); ``dispatcher`` False for a trainee's
    session (the trainee at the desk); ``flisr`` the IDMS's FLISR mode (off, advisory, automatic)."""
    if model.endswith((".yaml", ".yml")):
        meta: dict[str, Any] = {"scenario": Path(model).read_text(encoding="utf-8") if Path(model).exists() else "",
                                "scenario_file": str(Path(model).resolve()), "rules": rules}
    else:
        meta = {"model": model if model.startswith("territory:") else str(Path(model).resolve()), "storm": storm,
                "hours": hours, "seed": seed, "ami": ami, "rules": rules}
    if not dispatcher:
        meta["dispatcher"] = False
    if flisr != "off":
        meta["flisr"] = flisr
    return meta


def scenario_from(meta: dict[str, Any]):
    """The :class:`~twin.instructor.scenario.Scenario` a run's settings hold (None: a model run)."""
    if "scenario" not in meta:
        return None
    import yaml

    from twin.instructor.scenario import parse_scenario

    return parse_scenario(yaml.safe_load(meta["scenario"]), source=meta["scenario_file"])


def _scenario_network(scenario):
    net = scenario.network()
    return ready_for_world(net, storm=scenario.storm, save_model=None) if scenario.model is not None else net


def network_from(meta: dict[str, Any]):
    """The network of a run's settings (without its world: for a replay's map)."""
    scenario = scenario_from(meta)
    if scenario is not None:
        return _scenario_network(scenario)
    return world_network(str(meta["model"]), seed=int(meta["seed"]), storm=meta.get("storm"))


def session_from(meta: dict, *, store: Path | None = None, model_file: str | None = None):
    """``(net, session)`` for a run's settings (as a recording's meta keeps them): a scenario's
    text, or a model (``territory:N`` or a file) with its storm, hours, seed and IDMS settings;
    ``dispatcher`` False for a trainee's session (no automatic dispatcher at the desk), or
    ``dispatcher_until_s`` when a trainee took the desk over from it (a branched replay)."""
    from twin.session import build_session

    dispatcher = bool(meta.get("dispatcher", True))
    if "scenario" in meta:
        if model_file is not None:
            from twin.instructor.scenario import load_scenario

            scenario = load_scenario(model_file)
            print(scenario.summary())
        else:
            scenario = scenario_from(meta)
        net = _scenario_network(scenario)
        session = build_session(net, scenario=scenario, store=store, rules=meta.get("rules"), dispatcher=dispatcher,
                                flisr=meta.get("flisr", "off"))
    else:
        seed = int(meta["seed"])
        net = world_network(str(meta["model"]), seed=seed, storm=meta.get("storm"))
        session = build_session(net, hours=float(meta["hours"]), storm=meta.get("storm"), seed=seed,
                                ami=bool(meta.get("ami", True)), rules=meta.get("rules"), store=store,
                                dispatcher=dispatcher, flisr=meta.get("flisr", "off"))
    until = meta.get("dispatcher_until_s")
    if until is not None and session.dispatcher is not None:
        session.idms.clock.call_later(float(until) - session.idms.clock.now(), session.dispatcher.stop)
    return net, session


def world_network(model: str, *, seed: int, storm: str | None, save_model: Path | None = None):
    """The network a world runs on: ``territory:N`` (or ``territory:N:flisr``, equipped for FLISR)
    generated with ``seed``, or a model file made ready for the world (:func:`ready_for_world`)."""
    if model.startswith("territory:"):
        from twin.world.territory import generate_territory

        size, _, automation = model.partition(":")[2].partition(":")
        return generate_territory(int(size.replace("_", "")), seed=seed, automation=automation or "standard")
    from twin.grid.io import load_model

    return ready_for_world(load_model(model), storm=storm, save_model=save_model)


def ready_for_world(net, *, storm: str | None, save_model: Path | None):
    """An imported feeder as the world needs it: coordinates in metres, customers at its loads and a
    default protection scheme, each only where the model has none (customers from a fixed seed, so
    that every --seed lives on the same feeder); one line says what was done."""
    import numpy as np

    from twin.errors import ModelError
    from twin.grid.customers import attach_customers, coordinate_unit, coordinates_in_metres, needs_customers
    from twin.grid.protection_plan import default_protection, needs_protection

    done = []
    placed = bool(np.isfinite(net.bus["x"]).any())
    if storm and not placed:
        raise ModelError("no bus has coordinates, so no storm can be placed over it", component="network",
                         element=net.name, fix="load a script that reads BusCoords (the IEEE feeders' run_*.dss) or "
                                               "give the buses x, y")
    if placed and net.coord_units != "m":
        unit, _ = coordinate_unit(net)
        net = coordinates_in_metres(net)
        done.append("schematic coordinates scaled to metres" if unit == "schematic" else
                    f"coordinates from {unit} to metres")
    if needs_customers(net):
        net = attach_customers(net, np.random.default_rng(0))
        done.append(f"{len(net.service_point):,} customers at its {len(net.load)} loads")
    if needs_protection(net):
        before = len(net.switch)
        net = default_protection(net)
        kinds = net.switch["kind"][before:]
        done.append(f"default protection ({int((kinds == 0).sum())} breaker(s), {int((kinds == 1).sum())} "
                    f"recloser(s), {int((kinds == 3).sum())} fuse(s))")
    if save_model is not None:
        from twin.grid.native import save_native

        save_native(net, save_model)
    if done:
        keep = (f"saved with them to {save_model}: simulate that folder from now on" if save_model is not None else
                "add --save-model DIR to keep them, in a native model folder")
        print(f"{net.name}: for this run, {'; '.join(done)} ({keep})")
    return net


def world_parts(meta: dict[str, Any], *, events_path: str | None = None):
    """The world of a run's settings alone, as :func:`session_from` builds it (the same draws), for
    a world in its own process: ``(net, parts, scenario, storm, ami)``."""
    from twin.session import world_for

    scenario = scenario_from(meta)
    if scenario is not None:
        net = _scenario_network(scenario)
        parts, _, storm, ami, _ = world_for(net, scenario=scenario, events_path=events_path)
    else:
        seed = int(meta["seed"])
        net = world_network(str(meta["model"]), seed=seed, storm=meta.get("storm"))
        parts, _, storm, ami, _ = world_for(net, hours=float(meta["hours"]), storm=meta.get("storm"), seed=seed,
                                           ami=bool(meta.get("ami", True)), events_path=events_path)
    return net, parts, scenario, storm or "", ami
