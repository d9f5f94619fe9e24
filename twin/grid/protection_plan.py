"""A default protection scheme for a feeder that has none: a breaker, a recloser, lateral fuses.

Imported feeders (the IEEE test feeders, most planning exports) carry switches but no protective
devices, so a fault there would trip nothing. :func:`default_protection` gives such a model the
scheme a distribution engineer would draw first, set by the same rules the validator checks
(:mod:`twin.grid.validate.rules_protection`, :mod:`twin.grid.coordination`):

* a **breaker** at the head of each feeder (the first line below a source, past the substation's
  transformers, regulators and switches): a 51P relay on the very-inverse curve U3, pickup twice
  the feeder's peak current (at least 1.25 times it, and at most the zone's minimum fault / 1.5 so
  that it sees it), and the smallest time dial of :attr:`ProtectionRule.time_dials` that keeps the
  coordination time interval (0.3 s) over every device below it, at every fault current of their
  zones (the IEEE 123's: ``"51P 1270A U3 TD4"``);
* a **recloser** on the three-phase trunk where about half of the feeder's peak current lies
  beyond (the line nearest half, between a quarter and three quarters; none on a feeder without
  one): two fast and two delayed operations, minimum trip set as the breaker's pickup
  (``"2A2C 630A"``);
* a **fuse** at the start of every single- and two-phase lateral (a primary line of fewer than
  three phases whose nearest line above is three-phase): the next T link (C37.43 ratings) at or
  above 1.5 times the lateral's peak current, smaller where it would not melt for the lateral's
  minimum fault or would not clear before the recloser's delayed curve (fuse first), never below
  the peak current; ``"65T"``. A lateral carrying more than a 200T link takes is left to the
  devices above (a note says so).

Peak currents are the largest phase current of the power flow of the normal configuration at the
model's loads (taps as the model holds them). Each device is *inserted*: a new bus at the position
of the line's source-side bus, named like the device (``fu-l9``), the device from that bus to the
new one and the line re-pointed to the new bus; devices are 10 microohm per phase
(:data:`DEVICE_OHM`), so the power flow does not change. The model's own switches stay as they are
(the IEEE 123's sw1 ... sw8 remain load-break switches). Breakers and reclosers are remote
(SCADA), fuses are not; ratings: breakers 1,200 A continuous, 25 kA interrupting; reclosers
630 A, 12.5 kA; fuse cutouts the link rating, 10 kA.

>>> from twin.grid.opendss import load_opendss  # doctest: +SKIP
>>> net = default_protection(load_opendss("../shared/feeders/13bus/ieee13nodeckt.dss"))  # doctest: +SKIP
>>> sorted(set(net.switch["curve"].tolist()) - {""})  # doctest: +SKIP
['140T', '200T', '2A2C 420A', '51P 1180A U3 TD3']
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from twin.errors import ModelError
from twin.grid.coordination import margin, rules
from twin.grid.network import Network
from twin.grid.schema import SCHEMAS, Phase, SwitchKind
from twin.grid.table import Table
from twin.grid.tcc import FUSE_RATINGS_A, FuseSettings, LinkType, settings_from_switch
from twin.grid.topology import Topology, build_topology

__all__ = ["ProtectionRule", "Placement", "DEVICE_OHM", "needs_protection", "plan_protection", "default_protection"]

DEVICE_OHM = 1e-5
"""Series resistance and reactance per phase of an inserted breaker, recloser or fuse, ohms."""

_PLANNED = (SwitchKind.breaker, SwitchKind.recloser, SwitchKind.fuse, SwitchKind.sectionaliser)
_PREFIX = {SwitchKind.breaker: "bkr", SwitchKind.recloser: "rcl", SwitchKind.fuse: "fu"}
_RATINGS = {SwitchKind.breaker: (1200.0, 25000.0), SwitchKind.recloser: (630.0, 12500.0)}
_FUSE_BREAKING_A = 10000.0
_PRIMARY_V = 1000.0  # lines at or above this nominal voltage are primary


@dataclass(frozen=True)
class ProtectionRule:
    """How the default scheme is placed and set (see the module docstring)."""

    pickup_load_factor: float = 2.0  # breaker pickup and recloser minimum trip: this x peak current
    min_load_factor: float = 1.25  # ... never below this x peak current
    reach_factor: float = 1.5  # ... nor above the zone's minimum fault / this
    fuse_load_factor: float = 1.5  # fuse link: the next T link at or above this x the lateral's peak current
    recloser_share: tuple[float, float] = (0.25, 0.75)  # of the feeder's peak current beyond the recloser
    sequence: str = "2A2C"
    curve: str = "U3"
    time_dials: tuple[float, ...] = (0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 10.0, 12.0, 15.0)
    links_a: tuple[int, ...] = field(default=FUSE_RATINGS_A)

    def __post_init__(self) -> None:
        lo, hi = self.recloser_share
        if not 1.0 <= self.min_load_factor <= self.pickup_load_factor:
            raise ValueError(f"ProtectionRule: need 1 <= min_load_factor ({self.min_load_factor}) <= "
                             f"pickup_load_factor ({self.pickup_load_factor})")
        if not (self.reach_factor >= 1.0 and self.fuse_load_factor >= 1.0):
            raise ValueError("ProtectionRule: reach_factor and fuse_load_factor are 1 or more")
        if not 0.0 < lo < hi < 1.0:
            raise ValueError(f"ProtectionRule.recloser_share {self.recloser_share}: two shares, 0 < low < high < 1")
        bad = [a for a in self.links_a if a not in FUSE_RATINGS_A]
        if bad or not self.time_dials:
            raise ValueError(f"ProtectionRule: links {bad} have no C37.43 data (ratings {FUSE_RATINGS_A}); "
                             "time_dials needs at least one")


@dataclass(frozen=True)
class Placement:
    """Where a device goes: ``device`` id, ``kind``, the ``line`` it heads, the source-side ``bus``
    it stands at, and the largest phase current through that line at peak load (A)."""

    device: str
    kind: SwitchKind
    line: str
    bus: str
    peak_a: float


def needs_protection(net: Network) -> bool:
    """True when no switch of the model is a breaker, recloser, fuse or sectionaliser."""
    return not np.isin(net.switch["kind"], [int(k) for k in _PLANNED]).any()


def plan_protection(net: Network, *, rule: ProtectionRule = ProtectionRule()) -> tuple[list[Placement], list[str]]:
    """Where the default scheme's devices go (breakers first, then reclosers, then fuses), and
    notes on laterals left unfused."""
    from twin.grid.powerflow import solve

    if not len(net.source) or not len(net.line):
        raise ModelError("has no source or no line: there is no feeder to protect", component="network",
                         element=net.name, fix="protect a model with a source and its lines")
    topo = build_topology(net, normal=True)
    child, parent = _tree_ends(topo, len(net.line))
    normal = net.replace(switch=net.switch.with_columns(open=np.asarray(net.switch["normal_open"], bool)))
    branches = solve(normal).branches
    lines = branches[branches["element"].str.startswith("line.")]
    amps = lines.groupby("element")["i_amps"].max()
    peak = amps.reindex([f"line.{i}" for i in net.line.ids]).fillna(0.0).to_numpy()
    above = _line_above(topo, len(net.line))
    n_ph = np.array([bin(int(p) & int(Phase.ABC)).count("1") for p in net.line["phases"]], np.int64)
    v_nom = net.bus["v_nom_v"]
    tree = child >= 0
    primary = tree & (v_nom[np.maximum(parent, 0)] >= _PRIMARY_V)
    up = np.where(tree, above[np.maximum(parent, 0)], -1)  # nearest line above each line's source-side bus
    ids, buses = net.line.ids, net.bus.ids
    taken = set(buses.tolist()) | set(net.switch.ids.tolist())

    def place(kind: SwitchKind, row: int) -> Placement:
        device = _unique(f"{_PREFIX[kind]}-{ids[row]}", taken)
        return Placement(device, kind, str(ids[row]), str(buses[parent[row]]), float(peak[row]))

    heads = np.flatnonzero(primary & (up < 0))
    plan = [place(SwitchKind.breaker, int(r)) for r in heads]
    lo, hi = rule.recloser_share
    for h in heads:
        first, end = topo.tin[child[h]], topo.tin[child[h]] + topo.size[child[h]]
        inside = primary & (n_ph == 3) & (topo.tin[np.maximum(child, 0)] > first) & \
            (topo.tin[np.maximum(child, 0)] < end) & np.isclose(v_nom[np.maximum(parent, 0)], v_nom[parent[h]])
        share = np.where(inside, peak / peak[h], np.nan) if peak[h] > 0 else np.full(len(peak), np.nan)
        ok = np.flatnonzero((share >= lo) & (share <= hi))
        if len(ok):
            best = ok[np.lexsort((topo.tin[child[ok]], np.abs(share[ok] - 0.5)))[0]]
            plan.append(place(SwitchKind.recloser, int(best)))
    notes = []
    biggest = max(rule.links_a)
    laterals = np.flatnonzero(primary & (n_ph < 3) & (up >= 0))
    for r in laterals[n_ph[up[laterals]] == 3]:
        if peak[r] > biggest:
            notes.append(f"lateral {ids[r]} carries {peak[r]:.0f} A at peak, more than a {biggest}T link takes: "
                         "left to the devices above")
            continue
        plan.append(place(SwitchKind.fuse, int(r)))
    return plan, notes


def default_protection(net: Network, *, rule: ProtectionRule = ProtectionRule()) -> Network:
    """The network with the default scheme (see the module docstring). Raises :class:`ModelError`
    when the model has protective devices of its own."""
    if not needs_protection(net):
        sw = net.switch
        own = sw.ids[np.isin(sw["kind"], [int(k) for k in _PLANNED])]
        raise ModelError(f"has protective devices of its own ({', '.join(own[:5].tolist())}"
                         f"{' ...' if len(own) > 5 else ''}): the default scheme is for a feeder without any",
                         component="network", element=net.name, fix="keep the model's protection, or remove it first")
    plan, notes = plan_protection(net, rule=rule)
    out = _insert(net, plan)
    curves = _settings(out, plan, rule, notes)
    sw = out.switch
    rows = sw.index([p.device for p in plan])
    column, rated = sw["curve"].copy(), sw["rated_a"].copy()
    column[rows] = [curves[p.device] for p in plan]
    fuses = rows[[p.kind == SwitchKind.fuse for p in plan]]
    rated[fuses] = [settings_from_switch(int(SwitchKind.fuse), column[k], np.nan).rating_a for k in fuses]
    counts = {k: sum(1 for p in plan if p.kind == k) for k in _PREFIX}
    summary = ", ".join(f"{n} {k.name}{'s' if n != 1 else ''}" for k, n in counts.items())
    return out.replace(switch=sw.with_columns(curve=column, rated_a=rated),
                       notes=(*net.notes, f"default protection by twin.grid.protection_plan: {summary}", *notes))


# -- the tree ---------------------------------------------------------------------------------------


def _tree_ends(topo: Topology, n_lines: int) -> tuple[np.ndarray, np.ndarray]:
    """For each line row (edge k = row k): its load-side and source-side bus rows in the normal
    tree, -1 for lines outside it: open, dead, on a loop (opening one cuts nobody off), or in
    parallel with a transformer (the jumper that carries phase B past the IEEE 37's open-delta
    regulators is part of the regulator bank)."""
    e = np.arange(n_lines)
    a, b = topo.edge_from[e], topo.edge_to[e]
    child = np.where(topo.parent_edge[b] == e, b, np.where(topo.parent_edge[a] == e, a, -1))
    child[~_radial(topo, n_lines)] = -1
    parent = np.where(child >= 0, topo.parent_bus[np.maximum(child, 0)], -1)
    return child, parent


def _line_above(topo: Topology, n_lines: int) -> np.ndarray:
    """For each bus row, the nearest radial line row above it in the tree (through transformers,
    switches and lines beside them), -1 where none is."""
    above = np.full(len(topo.energised), -1, np.int64)
    edge, radial = topo.parent_edge, _radial(topo, n_lines)
    for b in topo.order.tolist():  # depth-first preorder: a parent before its children
        e = edge[b]
        if e >= 0:
            above[b] = topo.edge_row[e] if e < n_lines and radial[e] else above[topo.parent_bus[b]]
    return above


def _radial(topo: Topology, n_lines: int) -> np.ndarray:
    """Per line row: not on a loop and not in parallel with a transformer."""
    xf = np.flatnonzero(topo.edge_table == "transformer")
    pairs = {frozenset(p) for p in zip(topo.edge_from[xf].tolist(), topo.edge_to[xf].tolist())}
    e = np.arange(n_lines)
    beside = np.array([frozenset(p) in pairs for p in zip(topo.edge_from[e].tolist(), topo.edge_to[e].tolist())],
                      bool)
    return ~topo.edge_on_loop[e] & ~beside


def _unique(name: str, taken: set[str]) -> str:
    out, k = name, 1
    while out in taken:
        out, k = f"{name}-{k}", k + 1
    taken.add(out)
    return out


def _insert(net: Network, plan: list[Placement]) -> Network:
    """A new bus and a switch for every placement, its line re-pointed to the new bus."""
    bus, line = net.bus, net.line
    at = bus.index([p.bus for p in plan])
    rows = line.index([p.line for p in plan])
    phases = line["phases"][rows]
    new_bus = Table(SCHEMAS["bus"], {"id": np.array([p.device for p in plan], dtype=object),
                                     "v_nom_v": bus["v_nom_v"][at], "phases": phases,
                                     "x": bus["x"][at], "y": bus["y"][at]})
    kind = np.array([int(p.kind) for p in plan], np.int8)
    fuse = kind == int(SwitchKind.fuse)
    rated = np.array([_RATINGS.get(p.kind, (0.0, 0.0))[0] for p in plan])
    breaking = np.array([_RATINGS.get(p.kind, (0.0, _FUSE_BREAKING_A))[1] for p in plan])
    new_sw = Table(SCHEMAS["switch"], {
        "id": new_bus.ids, "from_bus": bus.ids[at], "to_bus": new_bus.ids, "phases": phases, "kind": kind,
        "r_ohm": np.full(len(plan), DEVICE_OHM), "x_ohm": np.full(len(plan), DEVICE_OHM),
        "rated_a": rated, "breaking_a": breaking, "remote": ~fuse,
        "curve": np.full(len(plan), "", dtype=object),
    })
    from_bus, to_bus = line["from_bus"].copy(), line["to_bus"].copy()
    at_from = from_bus[rows] == bus.ids[at]
    from_bus[rows[at_from]] = new_bus.ids[at_from]
    to_bus[rows[~at_from]] = new_bus.ids[~at_from]
    return net.replace(bus=Table.concat([bus, new_bus]), switch=Table.concat([net.switch, new_sw]),
                       line=line.with_columns(from_bus=from_bus, to_bus=to_bus))


# -- settings ---------------------------------------------------------------------------------------


def _settings(net: Network, plan: list[Placement], rule: ProtectionRule, notes: list[str]) -> dict[str, str]:
    """Each planned device's ``curve`` text, sized on the fault study of the protected model."""
    from twin.grid.shortcircuit import fault_study

    zones = fault_study(net).zones.set_index("device")
    topo = build_topology(net, normal=True)
    upstream = {p.device: topo.upstream_protective(f"switch.{p.device}") for p in plan}
    settings: dict[str, object] = {}
    curves: dict[str, str] = {}

    def zone(device: str) -> tuple[float, float]:
        if device not in zones.index:
            return np.nan, np.nan
        return float(zones.at[device, "min_a"]), float(zones.at[device, "max_a"])

    def pickup(p: Placement) -> int:
        want = rule.pickup_load_factor * p.peak_a
        least = rule.min_load_factor * p.peak_a
        low, _ = zone(p.device)
        if np.isfinite(low):
            want = min(want, low / rule.reach_factor)
        return int(np.ceil(max(want, least, 10.0) / 10.0) * 10)

    for p in plan:
        if p.kind == SwitchKind.recloser:
            curves[p.device] = f"{rule.sequence} {pickup(p)}A"
            settings[p.device] = _read(p, curves[p.device])
    for p in plan:
        if p.kind == SwitchKind.fuse:
            curves[p.device] = _fuse(p, rule, zone(p.device), settings.get(upstream[p.device]))
            settings[p.device] = _read(p, curves[p.device])
    for p in plan:
        if p.kind != SwitchKind.breaker:
            continue
        amps = pickup(p)
        below = [d for d, u in upstream.items() if u == p.device and d in settings]
        for td in rule.time_dials:
            curves[p.device] = f"51P {amps}A {rule.curve} TD{td:g}"
            relay = _read(p, curves[p.device])
            if all(_coordinated(relay, settings[d], zone(d)) for d in below):
                break
        else:
            notes.append(f"breaker {p.device}: no time dial up to {rule.time_dials[-1]:g} coordinates with all the "
                         "devices below it (the validator names them)")
        settings[p.device] = relay
    return curves


def _read(p: Placement, text: str):
    return settings_from_switch(int(p.kind), text, np.nan)


def _coordinated(up, down, zone: tuple[float, float]) -> bool:
    """Whether ``up`` and ``down`` coordinate over the fault currents of ``down``'s zone, on the
    validator's grid of currents and a finer one."""
    lo, hi = zone
    if up is None or not rules(up, down) or not (np.isfinite(lo) and 0 < lo < hi):
        return True
    currents = np.union1d(np.geomspace(lo, hi, 48), np.geomspace(lo, hi, 400))
    return margin(up, down, currents).coordinated


def _fuse(p: Placement, rule: ProtectionRule, zone: tuple[float, float], up) -> str:
    """The link: the next at or above ``fuse_load_factor`` x peak, or the largest smaller one (not
    below the peak current) that melts for the zone's minimum fault and coordinates with ``up``."""
    links = sorted(rule.links_a)
    target = next((a for a in links if a >= rule.fuse_load_factor * p.peak_a), links[-1])
    floor = next((a for a in links if a >= p.peak_a), links[-1])
    lo, _ = zone
    for rating in [a for a in links if floor <= a <= target][::-1]:
        link = FuseSettings(LinkType.T, rating)
        sees = not np.isfinite(lo) or link.data.min_a[0] * rule.reach_factor <= lo
        if sees and _coordinated(up, link, zone):
            return link.name
    return FuseSettings(LinkType.T, floor).name
