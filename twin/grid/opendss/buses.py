"""Buses: the terminals on them, their phases, split-phase secondaries, nominal voltages, coordinates.

Phases: node 1, 2, 3 of a bus are phases A, B, C, node 0 ground. An element's terminal is a bus and
one node per conductor (``650.1.2``; unnamed nodes are 1..phases, then 0). A bus is *split-phase*
(legs S1, S2 in slots 0, 1) when it is the secondary of a centre-tap transformer or is connected to
one through lines only (lines do not change voltage, so the whole secondary/service network behind
a centre tap is one 120/240 V system); lines there are of kind triplex. ``bus.phases`` is the union
of the nodes used by in-service elements (OpenDSS builds its bus list the same way); a bus with only
out-of-service elements takes theirs.

Voltages: ``bus.v_nom_v`` follows CalcVoltageBases: voltages spread from the sources through lines
(ratio 1) and transformers (ratio of the windings' kV and taps), then snap to the nearest
``Set voltagebases`` value (line-to-line). Split-phase buses take the leg-to-leg rating of their
centre-tap transformer (2 x 120 V = 240 V). Coordinates come from ``BusCoords`` files.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from twin.grid.opendss import rpn
from twin.grid.opendss.script import DssObject, Setting
from twin.grid.opendss.values import SQRT3, fail
from twin.grid.schema import LineKind

if TYPE_CHECKING:
    from twin.grid.opendss.build import Build

__all__ = ["Attached", "BusText", "Terminal", "add_buses", "find_split_phase", "finish_phases", "monitored_slot",
           "phase_flags", "terminal"]


BusText = tuple[str | None, Setting | None]
"""What a ``bus=`` assignment wrote, and the assignment (None before any: errors name the object)."""


@dataclass
class Terminal:
    """A bus and the node each conductor of an element joins there (0: ground)."""

    bus: str
    nodes: tuple[int, ...]


@dataclass
class Attached:
    """An element's terminal at a bus; in-service ones make the bus's phases (as in OpenDSS)."""

    term: Terminal
    obj: DssObject
    in_service: bool


def terminal(obj: DssObject, bus: BusText, nconds: int, nphases: int) -> Terminal:
    """Bus and node of each conductor: ``"650.1.2"``; unnamed nodes 1..phases then 0 (ground)."""
    text, s = bus
    if not 1 <= nphases <= 3:
        raise fail(obj, None, f"{nphases} phases: Twin models elements of 1, 2 or 3 phases",
                   fix="set phases= to 1, 2 or 3")
    nodes = [*range(1, nphases + 1), *([0] * (nconds - nphases))][:nconds]
    text = (text or "").strip()
    name, _, rest = text.partition(".")
    if not name:
        raise fail(obj, s, "no bus given", fix="set bus1=... (and bus2=... for two-terminal elements)")
    if rest:
        given = rest.split(".")
        if len(given) > nconds:
            raise fail(obj, s, f"bus '{text}' names {len(given)} nodes but {obj.label} has {nconds} conductor(s)",
                       fix="give one node per conductor")
        for k, word in enumerate(given):
            if not word.strip().isdigit():
                raise fail(obj, s, f"bus '{text}': node '{word}' is not a whole number",
                           fix="write nodes as bus.1.2.3")
            nodes[k] = int(word)
            if nodes[k] > 3:
                raise fail(obj, s, f"bus '{text}': node {nodes[k]}; Twin buses have nodes 1-3 (phases A, B, C, or "
                           "legs 1, 2 of a split-phase bus) and 0 (ground)",
                           fix="use nodes 1, 2, 3 for phases A, B, C and 0 for ground")
    return Terminal(name.lower(), tuple(nodes))


def phase_flags(split: set[str], obj: DssObject, term: Terminal) -> int:
    """Phase flags of the non-zero nodes of a terminal: A, B, C, or S1, S2 on a split-phase bus."""
    on_split = term.bus in split
    out = 0
    for k in term.nodes:
        if k == 0:
            continue
        if k > (2 if on_split else 3):
            kind = "split-phase (120/240 V) bus, which has legs 1 and 2" if on_split else "bus, which has nodes 1-3"
            raise fail(obj, None, f"node {k} at {term.bus}: a {kind}",
                       fix="use nodes 1, 2, 3 for phases A, B, C and 0 for ground")
        out |= (8 if on_split else 1) << (k - 1)
    return out


def monitored_slot(notes: list[str], o: DssObject, text: str, term: Terminal | None) -> int:
    """Slot of the monitored phase: PTphase/CTphase counts conductors of the monitored terminal."""
    word = text.strip().lower()
    if word in ("max", "min", "avg"):
        notes.append(f"{o.where}: {o.label} monitors the {word} phase; stored as phase 0")
        return 0
    k = rpn.integer(word)
    if term is not None and 1 <= k <= len(term.nodes) and term.nodes[k - 1] > 0:
        return term.nodes[k - 1] - 1
    return max(0, min(2, k - 1))


def find_split_phase(b: Build) -> None:
    """Centre-tap secondaries and every bus joined to them by lines, switches or reactors."""
    adjacency: dict[str, list[str]] = {}
    for term1, term2 in [(ln.term1, ln.term2) for ln in b.lines] + [r.terms for r in b.reactors]:
        adjacency.setdefault(term1.bus, []).append(term2.bus)
        adjacency.setdefault(term2.bus, []).append(term1.bus)
    for t in b.xfmrs:
        if not t.center_tap:
            continue
        seed = t.windings[1].term.bus
        volts = (t.windings[1].kv + t.windings[2].kv) * 1000.0
        queue = deque([seed])
        while queue:
            bus = queue.popleft()
            if bus in b.split:
                continue
            b.split.add(bus)
            b.split_volts[bus] = volts
            queue.extend(adjacency.get(bus, ()))


def finish_phases(b: Build) -> None:
    """Replace (object, terminal) placeholders by phase flags, now split-phase buses are known."""
    for name in ("line", "switch", "capacitor", "load", "generator"):
        for row in b.rows[name]:
            obj, term = row["phases"]
            row["phases"] = phase_flags(b.split, obj, term)
            if name == "line" and term.bus in b.split and row["kind"] == LineKind.overhead:
                row["kind"] = LineKind.triplex


def add_buses(b: Build) -> None:
    """Bus rows: phases from in-service terminals, nominal voltage, coordinates."""
    phases: dict[str, int] = {}
    fallback: dict[str, int] = {}
    for t in b.terms:
        bits = phase_flags(b.split, t.obj, t.term)
        target = phases if t.in_service else fallback
        target[t.term.bus] = target.get(t.term.bus, 0) | bits
    for bus, bits in fallback.items():
        if bus not in phases:
            phases[bus] = bits
            b.notes.append(f"bus {bus} has only out-of-service elements; its phases come from them")
    volts = _propagate(b)
    bases = sorted(kv * 1000.0 for kv in b.script.voltage_bases_kv)
    for bus, bits in phases.items():
        if bus in b.split:
            v_nom = b.split_volts[bus]
        elif bus in volts:
            v_nom = _snap(volts[bus] * SQRT3, bases)
        else:
            v_nom = np.nan
            b.notes.append(f"bus {bus}: no path from a source, nominal voltage unknown")
        x, y = b.script.coords.get(bus, (np.nan, np.nan))
        b.rows["bus"].append({"id": bus, "v_nom_v": v_nom, "phases": bits, "x": x, "y": y})
    _check_open_points(b, phases)


def _propagate(b: Build) -> dict[str, float]:
    """Volts to ground at each bus from the sources through lines and transformers (no load)."""
    links: dict[str, list[tuple[str, float]]] = {}
    for x, y in b.edges:
        links.setdefault(x, []).append((y, 1.0))
        links.setdefault(y, []).append((x, 1.0))
    for windings in b.xfmr_ratios:
        for bus_a, va in windings:
            for bus_b, vb in windings:
                if bus_a != bus_b and va > 0:
                    links.setdefault(bus_a, []).append((bus_b, vb / va))
    volts: dict[str, float] = {}
    queue = deque()
    for bus, v in b.source_volts:
        if bus not in volts:
            volts[bus] = v
            queue.append(bus)
    while queue:
        bus = queue.popleft()
        for other, ratio in links.get(bus, ()):
            if other not in volts:
                volts[other] = volts[bus] * ratio
                queue.append(other)
    return volts


def _snap(volts_ll: float, bases: list[float]) -> float:
    """The voltage base nearest (in ratio) to a line-to-line voltage, as CalcVoltageBases picks it."""
    if not bases:
        return volts_ll
    return min(bases, key=lambda base: abs(1.0 - volts_ll / base))


def _check_open_points(b: Build, phases: dict[str, int]) -> None:
    for row in b.rows["switch"]:
        bits = row["phases"]
        for end in ("from_bus", "to_bus"):
            if bits & ~phases.get(row[end], 0):
                b.notes.append(f"switch {row['id']} ({'open' if row['open'] else 'closed'}) uses phases "
                               f"its bus {row[end]} does not have")
