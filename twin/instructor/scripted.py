"""A scenario's scripted events, played into a running session: the world side (faults,
communications, callers, crews) through the world's own parts, and a model error through the
IDMS's operations model, the way an instructor's console would inject them.

:func:`schedule` starts one SimPy process per event: it waits for the event's time (``at_s``) or
polls its condition once a simulated minute (``when``), then applies it and publishes a
``scripted`` event (kind, path in the file, arguments) so that recordings and score sheets see
it. Random choices (which customers call in a flood, when) come from ``world.streams("scenario")``.

:func:`inject` is the same events by the instructor's hand, at once: checked as a scenario's
are, published as a ``scripted`` event with ``by: instructor`` (recorded as the instructor's
``inject``, and done again at its time on a re-run), then applied; random choices from
``world.streams("instructor")``.
"""

from __future__ import annotations

import numpy as np

from twin.errors import TwinError
from twin.grid.shortcircuit.faults import FaultType
from twin.instructor.scenario import Scenario, ScriptedEvent
from twin.world.events import EventKind
from twin.world.physics import Fault

__all__ = ["INSTRUCTOR", "InjectionError", "inject", "schedule"]

_TYPES = {"slg": FaultType.slg, "ll": FaultType.ll, "llg": FaultType.llg, "three_phase": FaultType.three_phase}
POLL_S = 60.0  # how often a condition is looked at
INSTRUCTOR = "instructor"  # the ``by`` of a scripted event the instructor injected


def schedule(scenario: Scenario, parts, idms) -> None:
    """Start a process for each of ``scenario``'s events on the world of ``parts`` (a
    :class:`~twin.world.simulate.WorldParts`), with ``idms`` for model errors."""
    rng = parts.world.streams("scenario")
    for event in scenario.events:
        parts.world.env.process(_play(event, parts, idms, rng))


def _play(event: ScriptedEvent, parts, idms, rng: np.random.Generator):
    world = parts.world
    env = world.env
    if event.at_s is not None:
        yield env.timeout(max(0.0, event.at_s - env.now))
    else:
        need = int(event.when["customers_out_at_least"])
        while int(np.count_nonzero(~world.grid.energised_customers)) < need:
            yield env.timeout(POLL_S)
    world.events.publish(world.now, EventKind.scripted, event=event.kind, path=event.path, **event.args)
    _APPLY[event.kind](event.args, parts, idms, rng)


class InjectionError(TwinError):
    """An injection that would do nothing (says why and what to do instead)."""


def inject(parts, idms, kind: str, data: dict) -> dict:
    """Apply the event ``kind`` with arguments ``data`` now (see the module docstring); returns
    the arguments as checked. Raises :class:`~twin.instructor.checks.DataError` naming every problem."""
    from twin.instructor.scenario import parse_event

    world = parts.world
    args = parse_event(kind, data, world.grid.net, set(parts.crews.ids.tolist()), source="instructor's injection")
    if kind == "call_flood" and not len(_customers_within(world.grid.net, (args["x_m"], args["y_m"], args["radius_m"]))):
        raise InjectionError(f"call_flood: no customer lives within {args['radius_m']:,.0f} m of "
                             f"({args['x_m']:,.0f}, {args['y_m']:,.0f}) m: zoom out or choose a populated area")
    world.events.publish(world.now, EventKind.scripted, event=kind, by=INSTRUCTOR, **args)
    _APPLY[kind](args, parts, idms, world.streams(INSTRUCTOR))
    return args


def _fault(a: dict, parts, idms, rng) -> None:
    parts.world.inject(Fault(a["line"], _TYPES[a["type"]], a["permanent"], a["location"], a["cause"], a["wire_down"]))


def _comms_outage(a: dict, parts, idms, rng) -> None:
    world = parts.world
    where = (a["x_m"], a["y_m"], a["radius_m"])
    site = f"scripted:{a['x_m']:.0f},{a['y_m']:.0f},{a['radius_m']:.0f}"
    parts.devices.set_comms(where, up=False)
    rows = _customers_within(world.grid.net, where)
    if len(rows):
        parts.fleet.set_comms(rows[parts.fleet.reachable[rows]], up=False)
    world.events.publish(world.now, EventKind.comms, site=site, medium="scripted", up=False, why="scenario")

    def back():
        yield world.env.timeout(a["hours"] * 3600.0)
        parts.devices.set_comms(where, up=True)
        if len(rows):
            parts.fleet.set_comms(rows[~parts.fleet.reachable[rows]], up=True)
        world.events.publish(world.now, EventKind.comms, site=site, medium="scripted", up=True, why="scenario")
        world.events.publish(world.now, EventKind.scripted, event="comms_restored", x_m=a["x_m"], y_m=a["y_m"],
                             radius_m=a["radius_m"])

    world.env.process(back())


def _wrong_status(a: dict, parts, idms, rng) -> None:
    from twin.idms.operations_model import Source

    idms.model.apply(a["device"], a["shows"] == "open", Source.manual, parts.world.now, cause="scenario: wrong status")


def _critical_call(a: dict, parts, idms, rng) -> None:
    callers = parts.world.callers
    row = int(np.flatnonzero(parts.world.grid.net.service_point.ids == a["service_point"])[0])
    callers.call_now(row, "no_power" if not parts.world.grid.energised_customers[row] else "inside_premises")


def _call_flood(a: dict, parts, idms, rng) -> None:
    world = parts.world
    rows = _customers_within(world.grid.net, (a["x_m"], a["y_m"], a["radius_m"]))
    if not len(rows):
        return
    who = rng.choice(rows, size=a["calls"], replace=len(rows) < a["calls"])
    when = np.sort(rng.uniform(0.0, a["minutes"] * 60.0, a["calls"]))

    def calls():
        t0 = world.now
        for row, t in zip(who.tolist(), when.tolist()):
            yield world.env.timeout(max(0.0, t0 + t - world.now))
            out = not world.grid.energised_customers[row]
            world.callers.call_now(row, "no_power" if out else "inside_premises")

    world.env.process(calls())


def _crew_sick(a: dict, parts, idms, rng) -> None:
    parts.crews.call_in_sick(a["crew"])


def _fails_to_trip(a: dict, parts, idms, rng) -> None:
    parts.world.grid.fails_to_trip.add(a["device"])


def _stuck_switch(a: dict, parts, idms, rng) -> None:
    parts.devices.stuck.add(a["device"])


_APPLY = {"fault": _fault, "comms_outage": _comms_outage, "wrong_status": _wrong_status,
          "critical_call": _critical_call, "call_flood": _call_flood, "crew_sick": _crew_sick,
          "fails_to_trip": _fails_to_trip, "stuck_switch": _stuck_switch}


def _customers_within(net, where: tuple[float, float, float]) -> np.ndarray:
    """Service point rows within ``(x, y, radius_m)`` (at their buses)."""
    sp = net.service_point
    if not len(sp):
        return np.zeros(0, np.int64)
    b = net.bus.index(sp["bus"])
    d = np.hypot(np.asarray(net.bus["x"], float)[b] - where[0], np.asarray(net.bus["y"], float)[b] - where[1])
    return np.flatnonzero(d <= where[2])
