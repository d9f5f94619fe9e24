"""Storm scenarios: the YAML files instructors write (``scenarios/*.yaml``), read and checked.

A scenario names the territory (``territory: {customers, seed}``) or a model file (``model:``,
relative to the scenario), the start (``start: 2026-07-15 14:00``, local time), the ``seed`` every
random draw of the world comes from, how many ``hours`` the storm part runs, the ``weather``
(``storm:`` a built-in storm, ``thunderstorm``, ``hurricane`` or ``ice``, or ``blue_sky``; ``over:``
feeders to place it over instead of the whole territory; ``starts:`` when, ``HH:MM`` after the
start), scripted ``events``, the ``crews`` (a roster per depot, as :class:`~twin.world.crews.DepotRoster`),
which ``idms`` functions are on (``ami``; ``rules``: the outage prediction rule set by name or as
a mapping, see :meth:`~twin.idms.oms.rules.RuleSet.from_mapping`) and the ``objectives`` and
``scoring`` weights of the lesson.

Each event happens ``at: HH:MM`` (elapsed since the start; hours may pass 24) or ``when:`` a
condition holds (``customers_out_at_least: N``), and is one of:

=================  ===========================================================================
``fault``          ``line``, ``type`` (slg, ll, llg, three_phase), ``permanent`` (true),
                   ``location`` (0-1 from the line's from-bus, 0.5), ``wire_down`` (false), ``cause``
``comms_outage``   ``x_m``, ``y_m``, ``radius_m``, ``hours``: every RTU and meter within the circle
                   loses its communications for that long
``wrong_status``   ``device``, ``shows`` (open or closed): the IDMS's model is told the device is
                   so, whatever the field says (a model error to find)
``critical_call``  ``service_point``: that customer calls now (out or not)
``call_flood``     ``calls``, ``x_m``, ``y_m``, ``radius_m``, ``minutes``: that many calls from
                   customers within the circle, spread over the minutes
``crew_sick``      ``crew``: the crew calls in sick, off duty for the rest of the session
``fails_to_trip``  ``device`` (a breaker or recloser): it no longer operates on a fault; the
                   device above it clears the next one (a feeder breaker has none: its fault
                   stands uncleared)
``stuck_switch``   ``device`` (a remote switch): a control is taken but the mechanism does not
                   move, so SCADA waits for a status that never comes
=================  ===========================================================================

:func:`load_scenario` reads one file and checks it whole: the structure, every value's type and
range, and, against the model, every line, device, service point, feeder and crew it names. A
broken scenario raises :class:`~twin.instructor.checks.DataError` listing every problem (key path,
bad value, what is allowed), not the first only. ``twin scenario check FILE`` prints them.
"""

from __future__ import annotations

import dataclasses
import functools
import re
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

from twin.instructor.checks import _MISSING, Checker, DataError, Problem

__all__ = ["EVENT_KINDS", "Scenario", "ScriptedEvent", "crew_parameters", "feeder_bounds", "load_scenario",
           "parse_event", "parse_scenario"]

_TOP = ("name", "description", "territory", "model", "start", "seed", "hours", "weather", "events", "crews",
        "idms", "objectives", "scoring")
_WEATHER = ("storm", "over", "starts")
_STORMS = ("blue_sky", "thunderstorm", "hurricane", "ice")
_FAULT_TYPES = ("slg", "ll", "llg", "three_phase")
_SCORES = ("customer_minutes", "first_restoration", "fault_isolation", "crew_idle", "safety", "critical_missed",
           "alarms_unacknowledged")
_SKILLS = ("line", "troubleshooter")
_SHIFTS = ("day", "night")
EVENT_KINDS: dict[str, tuple[str, ...]] = {
    "fault": ("line", "type", "permanent", "location", "wire_down", "cause"),
    "comms_outage": ("x_m", "y_m", "radius_m", "hours"),
    "wrong_status": ("device", "shows"),
    "critical_call": ("service_point",),
    "call_flood": ("calls", "x_m", "y_m", "radius_m", "minutes"),
    "crew_sick": ("crew",),
    "fails_to_trip": ("device",),
    "stuck_switch": ("device",),
}
"""The scripted events and the keys each takes."""
_CONDITIONS = ("customers_out_at_least",)
_TIME = re.compile(r"^(\d{1,3}):([0-5]\d)(?::([0-5]\d))?$")


@dataclass(frozen=True)
class ScriptedEvent:
    """One scripted event: its ``kind``, when (``at_s`` after the start, or the ``when`` condition),
    its arguments as checked (``args``) and where it stands in the file (``path``, for messages)."""

    kind: str
    at_s: float | None
    when: dict[str, Any] | None
    args: dict[str, Any]
    path: str


@dataclass(frozen=True)
class Scenario:
    """A checked scenario (see the module docstring). Times in seconds after ``start``."""

    source: Path
    name: str
    description: str
    start: datetime
    seed: int
    hours: float
    customers: int | None  # a synthetic territory of this many customers ...
    territory_seed: int
    model: Path | None  # ... or a model file
    storm: str | None  # a built-in storm's name; None: blue sky
    storm_over: tuple[str, ...]  # feeders it is placed over (empty: the whole territory)
    storm_starts_s: float
    events: tuple[ScriptedEvent, ...]
    crews: dict[str, tuple[tuple[str, str, int], ...]]  # depot (source id, or '*' for every depot) -> roster rows
    ami: bool
    rules: Any  # a rule set's name, or a mapping for RuleSet.from_mapping
    objectives: tuple[str, ...]
    weights: dict[str, float] = field(default_factory=dict)

    def network(self):
        """The scenario's network model, built (a territory) or read (a model file)."""
        if self.model is not None:
            from twin.grid.io import load_model

            return load_model(self.model)
        from twin.world.territory import generate_territory

        return generate_territory(self.customers, seed=self.territory_seed)

    def summary(self) -> str:
        where = f"{self.customers:,}-customer territory" if self.model is None else str(self.model)
        weather = self.storm or "blue sky"
        if self.storm_over:
            weather += " over " + ", ".join(self.storm_over)
        return (f"{self.name}: {where}, {weather}, {self.hours:g} h from {self.start:%Y-%m-%d %H:%M}, seed {self.seed}; "
                f"{len(self.events)} scripted events; AMI {'on' if self.ami else 'off'}")


def load_scenario(path: str | Path, *, check_model: bool = True) -> Scenario:
    """Read and check the scenario file at ``path`` (against its model too, unless
    ``check_model`` is False). Raises :class:`DataError` listing every problem."""
    import yaml

    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise DataError(str(path), [_problem("", f"cannot be read: {exc.strerror}", "a readable YAML file")]) from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        raise DataError(str(path), [_problem(where, f"is not valid YAML: {getattr(exc, 'problem', exc)}",
                                             "YAML: key: value lines, '- ' list items, spaces not tabs")]) from None
    return parse_scenario(data, source=path, check_model=check_model)


def parse_scenario(data: Any, *, source: str | Path = "<scenario>", check_model: bool = True) -> Scenario:
    """Check scenario ``data`` (as read from YAML) and make the :class:`Scenario`."""
    source = Path(source)
    c = Checker(str(source))
    top = c.mapping(data, "", known=_TOP, required=("name", "seed", "start"))
    name = c.text(top, "name", path="") or ""
    description = c.text(top, "description", path="", default="") or ""
    seed = c.number(top, "seed", path="", low=0, low_inclusive=True, whole=True)
    hours = c.number(top, "hours", path="", default=24.0, low=0.0, high=720.0)
    start = _start(c, top)
    customers, territory_seed, model = _where(c, top, source)
    storm, over, starts = _weather(c, top)
    events = tuple(_events(c, top))
    crews = _crews(c, top)
    ami, rules = _idms(c, top)
    objectives = tuple(str(o) for o in c.listing(top, "objectives", path=""))
    weights = _weights(c, top)
    where_ok = not any(p.path.split(".")[0] in ("territory", "model") for p in c.problems)
    if check_model and where_ok:  # names against the model, with the other problems (all of them at once)
        _check_against_model(c, Scenario(source, name, description, start, int(seed or 0), float(hours or 1.0),
                                         customers, territory_seed, model, storm, over, starts, events, crews, ami,
                                         rules, objectives, weights))
    c.raise_if_any()
    return Scenario(source, name, description, start, int(seed), float(hours), customers, territory_seed, model,
                    storm, over, starts, events, crews, ami, rules, objectives, weights)


# -- the parts --------------------------------------------------------------------------------------


def _problem(path: str, message: str, allowed: str) -> Problem:
    return Problem(path, _MISSING, message, allowed)


def _start(c: Checker, top: dict) -> datetime:
    value = top.get("start")
    if isinstance(value, datetime):
        return value.replace(tzinfo=None)
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value.strip())
        except ValueError:
            pass
    if "start" in top:
        c.problem("start", value, "is not a date and time", "YYYY-MM-DD HH:MM, local time")
    return datetime(2026, 7, 15, 14, 0)


def _where(c: Checker, top: dict, source: Path) -> tuple[int | None, int, Path | None]:
    if ("territory" in top) == ("model" in top):
        both = "territory" in top
        c.problem("territory", top["territory"] if both else _MISSING, "give one of territory or model, not both"
                  if both else "is missing", "territory: {customers: N, seed: S} or model: FILE")
        return None, 0, None
    if "model" in top:
        text = c.text(top, "model", path="")
        if text is None:
            return None, 0, None
        model = (source.parent / text) if not Path(text).is_absolute() else Path(text)
        if not model.exists():
            c.problem("model", text, f"does not exist (looked for {model})", "a model file, relative to the scenario")
        return None, 0, model
    t = c.mapping(top["territory"], "territory", known=("customers", "seed"), required=("customers",))
    customers = c.number(t, "customers", path="territory", low=10, high=2_000_000, whole=True, low_inclusive=True)
    tseed = c.number(t, "seed", path="territory", default=1, low=0, whole=True, low_inclusive=True)
    return customers, int(tseed), None


def _weather(c: Checker, top: dict) -> tuple[str | None, tuple[str, ...], float]:
    w = c.mapping(top.get("weather", {"storm": "blue_sky"}), "weather", known=_WEATHER, required=("storm",))
    storm = c.text(w, "storm", path="weather", choices=_STORMS) if w else None
    over = tuple(str(f) for f in c.listing(w, "over", path="weather"))
    starts = _time(c, w, "starts", "weather", default=0.0)
    if storm == "blue_sky" and over:
        c.problem("weather.over", list(over), "is given for blue sky", "feeders for a storm to be placed over")
    return (None if storm in (None, "blue_sky") else storm), over, starts


def _time(c: Checker, data: dict, key: str, path: str, default: float | None = None) -> float | None:
    if not isinstance(data, dict) or key not in data:
        return default
    value = data[key]
    m = _TIME.match(value.strip()) if isinstance(value, str) else None
    if m is None:
        where = f"{path}.{key}" if path else key
        c.problem(where, value, "is not a time", "HH:MM or HH:MM:SS after the start, in quotes: '02:30'")
        return default
    return int(m.group(1)) * 3600.0 + int(m.group(2)) * 60.0 + int(m.group(3) or 0)


def _events(c: Checker, top: dict):
    for k, item in enumerate(c.listing(top, "events", path="")):
        path = f"events[{k}]"
        kinds = [key for key in (item or {}) if key in EVENT_KINDS] if isinstance(item, dict) else []
        e = c.mapping(item, path, known=("at", "when", *EVENT_KINDS))
        if not e:
            continue
        if len(kinds) != 1:
            c.problem(path, sorted(kinds) or None, "needs exactly one event", "one of: " + ", ".join(EVENT_KINDS))
            continue
        if ("at" in e) == ("when" in e):
            c.problem(f"{path}.at", e.get("at"), "give one of at or when" if "at" in e else "is missing",
                      "at: 'HH:MM' after the start, or when: {customers_out_at_least: N}")
        at_s = _time(c, e, "at", path)
        when = None
        if "when" in e:
            w = c.mapping(e["when"], f"{path}.when", known=_CONDITIONS, required=_CONDITIONS)
            n = c.number(w, "customers_out_at_least", path=f"{path}.when", low=1, whole=True, low_inclusive=True)
            when = {"customers_out_at_least": n}
        kind = kinds[0]
        args = _event_args(c, kind, e[kind], f"{path}.{kind}")
        yield ScriptedEvent(kind, at_s, when, args, path)


def _event_args(c: Checker, kind: str, data: Any, path: str) -> dict[str, Any]:
    known = EVENT_KINDS[kind]
    if kind == "fault":
        a = c.mapping(data, path, known=known, required=("line",))
        return {"line": c.text(a, "line", path=path), "type": c.text(a, "type", path=path, default="slg",
                                                                     choices=_FAULT_TYPES),
                "permanent": c.flag(a, "permanent", path=path, default=True),
                "location": c.number(a, "location", path=path, default=0.5, low=0.0, high=1.0, low_inclusive=True),
                "wire_down": c.flag(a, "wire_down", path=path, default=False),
                "cause": c.text(a, "cause", path=path, default="scripted")}
    if kind in ("comms_outage", "call_flood"):
        extra = ("hours",) if kind == "comms_outage" else ("calls", "minutes")
        a = c.mapping(data, path, known=known, required=("x_m", "y_m", "radius_m", *extra))
        args = {key: c.number(a, key, path=path) for key in ("x_m", "y_m")}
        args["radius_m"] = c.number(a, "radius_m", path=path, low=0.0, high=1e6)
        if kind == "comms_outage":
            args["hours"] = c.number(a, "hours", path=path, low=0.0, high=720.0)
        else:
            args["calls"] = c.number(a, "calls", path=path, low=1, high=100_000, whole=True, low_inclusive=True)
            args["minutes"] = c.number(a, "minutes", path=path, low=0.0, high=24 * 60.0)
        return args
    if kind == "wrong_status":
        a = c.mapping(data, path, known=known, required=known)
        return {"device": c.text(a, "device", path=path), "shows": c.text(a, "shows", path=path,
                                                                         choices=("open", "closed"))}
    a = c.mapping(data, path, known=known, required=known)  # the rest: one name each
    return {known[0]: c.text(a, known[0], path=path)}


def _crews(c: Checker, top: dict) -> dict[str, tuple[tuple[str, str, int], ...]]:
    if "crews" not in top:
        return {}
    crews = c.mapping(top["crews"], "crews", known=("every_depot", "depots"))
    out: dict[str, tuple[tuple[str, str, int], ...]] = {}
    rosters = [("*", crews.get("every_depot"), "crews.every_depot")] if "every_depot" in crews else []
    depots = c.mapping(crews.get("depots", {}), "crews.depots", known=list(crews.get("depots", {}) or {}))
    rosters += [(str(d), r, f"crews.depots.{d}") for d, r in depots.items()]
    for depot, rows, path in rosters:
        if not isinstance(rows, list) or not rows:
            c.problem(path, rows, "is not a roster", "a list of {shift, skill, count}")
            continue
        got = []
        for k, row in enumerate(rows):
            p = f"{path}[{k}]"
            r = c.mapping(row, p, known=("shift", "skill", "count"), required=("shift", "skill", "count"))
            shift = c.text(r, "shift", path=p, choices=_SHIFTS)
            skill = c.text(r, "skill", path=p, choices=_SKILLS)
            count = c.number(r, "count", path=p, low=0, high=200, whole=True, low_inclusive=True)
            if shift and skill and count is not None:
                got.append((shift, skill, count))
        out[depot] = tuple(got)
    return out


def _idms(c: Checker, top: dict) -> tuple[bool, Any]:
    i = c.mapping(top.get("idms", {}), "idms", known=("ami", "rules", "flisr", "vvo"))
    ami = c.flag(i, "ami", path="idms", default=True)
    for later, issue in (("flisr", 10), ("vvo", 10)):
        if c.flag(i, later, path="idms", default=False):
            c.problem(f"idms.{later}", True, "is not built yet", f"false (it comes with issue {issue})")
    rules = i.get("rules")
    if rules is not None:
        from twin.idms.oms.rules import RuleSet, RuleSetError, rule_set

        try:
            rule_set(rules) if isinstance(rules, str) else RuleSet.from_mapping(rules)
        except (RuleSetError, TypeError, AttributeError) as exc:
            c.problem("idms.rules", rules, f"is not a rule set: {exc}", "normal, storm, or a mapping of rules")
    return ami, rules


def _weights(c: Checker, top: dict) -> dict[str, float]:
    s = c.mapping(top.get("scoring", {}), "scoring", known=("weights",))
    w = c.mapping(s.get("weights", {}), "scoring.weights", known=_SCORES)
    return {k: c.number(w, k, path="scoring.weights", low=0.0, low_inclusive=True, high=1000.0) for k in w
            if k in _SCORES}


# -- against the model ------------------------------------------------------------------------------


def _check_against_model(c: Checker, s: Scenario) -> None:
    """Every name the scenario gives is an element of its model."""
    try:
        net = s.network()
    except Exception as exc:  # a broken model file: its own error, named
        c.problem("model", str(s.model), f"cannot be read: {exc}", "a model twin validate accepts")
        return
    crews = _crew_ids(s, net)
    feeders = set(_feeders(net)) - {""}
    for k, f in enumerate(s.storm_over):
        c.element(f, f"weather.over[{k}]", kind="feeder", exists=feeders.__contains__, names=lambda: feeders)
    names = _Names(net, crews)
    for e in s.events:
        _check_event_names(c, e.kind, e.args, f"{e.path}.{e.kind}", names)
    sources = set(net.source.ids.tolist())
    for depot in s.crews:
        if depot != "*" and depot not in sources:
            c.element(depot, f"crews.depots.{depot}", kind="depot (source)", exists=sources.__contains__,
                      names=lambda: sources)


def parse_event(kind: str, data: Any, net, crews: set[str], *, source: str = "instructor") -> dict[str, Any]:
    """One event's arguments, checked as a scenario's are (values and the names of ``net``'s
    elements and of the ``crews``): an instructor's injection. Raises a :class:`DataError` with
    every problem."""
    c = Checker(source)
    if kind not in EVENT_KINDS:
        c.problem("event", kind, "is not an event", "one of: " + ", ".join(EVENT_KINDS))
        c.raise_if_any()
    args = _event_args(c, kind, data, kind)
    c.raise_if_any()
    _check_event_names(c, kind, args, kind, _Names(net, crews))
    c.raise_if_any()
    return args


class _Names:
    """The element names events refer to, gathered from a model when first asked for."""

    def __init__(self, net, crews: set[str]) -> None:
        self.net, self.crews = net, crews

    @functools.cached_property
    def lines(self) -> set[str]:
        return set(self.net.line.ids.tolist())

    @functools.cached_property
    def switches(self) -> set[str]:
        return set(self.net.switch.ids.tolist())

    @functools.cached_property
    def remote(self) -> set[str]:
        sw = self.net.switch
        return set(np.asarray(sw.ids, object)[np.asarray(sw["remote"], bool)].tolist())

    @functools.cached_property
    def tripping(self) -> set[str]:
        from twin.grid.schema import SwitchKind

        sw = self.net.switch
        kinds = np.asarray(sw["kind"])
        return set(np.asarray(sw.ids, object)[np.isin(kinds, [int(SwitchKind.breaker),
                                                                int(SwitchKind.recloser)])].tolist())

    @functools.cached_property
    def points(self) -> set[str]:
        return set(self.net.service_point.ids.tolist())


_NAMED = {"fault": ("line", "line", "lines"), "wrong_status": ("device", "switching device", "switches"),
          "stuck_switch": ("device", "remote switching device", "remote"),
          "fails_to_trip": ("device", "breaker or recloser", "tripping"),
          "critical_call": ("service_point", "service point", "points"), "crew_sick": ("crew", "crew", "crews")}


def _check_event_names(c: Checker, kind: str, args: dict[str, Any], path: str, names: _Names) -> None:
    """The element an event names is one of the model's (of the right kind)."""
    if kind not in _NAMED:
        return
    key, what, table = _NAMED[kind]
    known = getattr(names, table)
    c.element(args[key], f"{path}.{key}", kind=what, exists=known.__contains__, names=lambda: known)


def crew_parameters(s: Scenario):
    """The world's :class:`~twin.world.crews.CrewParameters` for the scenario's rosters."""
    from twin.world.crews import CrewParameters, DepotRoster, Skill

    base = CrewParameters()
    if not s.crews:
        return base
    def roster(rows):
        return DepotRoster(tuple((shift, Skill(skill), count) for shift, skill, count in rows))

    every = roster(s.crews["*"]) if "*" in s.crews else base.roster
    return dataclasses.replace(base, roster=every, depots={d: roster(r) for d, r in s.crews.items() if d != "*"})


def _feeders(net) -> np.ndarray:
    """Per bus, the feeder (its head breaker's id) that feeds it normally ('' none)."""
    from twin.grid.topology import build_topology

    return np.asarray(build_topology(net, normal=True).feeder, object)


def feeder_bounds(net, feeders: tuple[str, ...]) -> tuple[float, float, float, float]:
    """``(x0, y0, x1, y1)`` in metres of the buses of ``feeders`` (a storm placed over them)."""
    on = np.isin(_feeders(net), list(feeders))
    x, y = np.asarray(net.bus["x"], float)[on], np.asarray(net.bus["y"], float)[on]
    ok = np.isfinite(x) & np.isfinite(y)
    if not ok.any():
        raise ValueError(f"feeders {', '.join(feeders)} have no bus coordinates to place a storm over")
    return float(x[ok].min()), float(y[ok].min()), float(x[ok].max()), float(y[ok].max())


def _crew_ids(s: Scenario, net) -> set[str]:
    """The crews the scenario's rosters make (named as :class:`~twin.world.crews.Crews` names them)."""
    from twin.world.crews import roster_rows

    return {crew for crew, *_ in roster_rows(net.source.ids.tolist(), crew_parameters(s))}
