"""Lines, switches and series reactors: OpenDSS ``Line`` and ``Reactor`` objects into table rows.

A ``Line`` becomes a ``line`` row. ``switch=y`` lines become ``switch`` rows (load-break switches,
``enabled=false`` = normally open), and so do short lines named ``sw1``, ``sw_...`` defined by
in-line impedance (the IEEE 123-bus switches). A line opened by an ``Open`` command is imported
out of service. A series ``Reactor`` becomes a ``line`` of kind reactor, 1 m long, with its own code
``reactor:<name>``; a shunt reactor (no bus2) is refused.

Codes (see :mod:`twin.grid.opendss.linecodes`): a line whose nodes are not ascending
(``632.3.2``) gets a permuted variant of its code, ``<code>@CB``; a sequence-data code used with
another phase count gets ``<code>@2ph``; a code without units used by a line with units gets
``<code>@ft``. Lines with in-line impedance get their own code ``line:<name>``.

Lengths: OpenDSS multiplies per-length impedance by length, converting only when both the code and
the line state units. Twin needs metres, so a length or code that states no units is taken in
``unitless_length`` (default ``kft``, the convention of the IEEE test feeders' ``ieeelinecodes``)
and the network notes it. The total impedance is OpenDSS's whatever the unit chosen.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from twin.grid.opendss import rpn
from twin.grid.opendss.buses import Attached, BusText, Terminal, terminal
from twin.grid.opendss.linecodes import (
    SEQ_DEFAULT,
    SEQ_INDEX,
    LineCode,
    Matrices,
    code_row,
    line_kind,
    nf_from_us,
    pad,
    seq_matrices,
    with_defaults,
)
from twin.grid.opendss.script import DssObject
from twin.grid.opendss.values import UNITS_M, at, complex_pair, fail, keyword, length_unit, num, whole
from twin.grid.schema import LineKind, SwitchKind

if TYPE_CHECKING:
    from twin.grid.opendss.build import Build

__all__ = ["Line", "Reactor", "add_lines", "add_reactors", "line_state", "reactor_state"]

_SWITCH_NAME = re.compile(r"sw(\d|_|-|$)")  # IEEE 123-bus: Sw1..Sw8, short lines with in-line impedance


@dataclass
class Line:
    """A Line's assignments replayed; ``mode`` says where its impedance comes from."""

    obj: DssObject
    bus1: BusText = (None, None)
    bus2: BusText = (None, None)
    n: int = 3
    code: LineCode | None = None
    length: float = 1.0
    units: str | None = None
    stated_units: str | None = None
    seq: list[float] = field(default_factory=lambda: list(SEQ_DEFAULT))
    cap_set: bool = False
    mats: dict[str, np.ndarray] = field(default_factory=dict)
    mode: str = "seq"  # seq | matrix (in-line impedance) | code
    switch: bool = False
    enabled: bool = True
    normamps: float | None = None
    kind: LineKind | None = None
    term1: Terminal | None = None
    term2: Terminal | None = None

    def own_matrices(self) -> Matrices:
        """R, X (ohm/unit) and C (nF/unit) of a line given by its own impedance, not a code."""
        seq = list(self.seq)
        if not self.cap_set and self.mode == "seq":  # default C is per kft (OpenDSS rescales it)
            factor = UNITS_M["kft"] / UNITS_M[self.units] if self.units else 1.0
            seq[4], seq[5] = seq[4] / factor, seq[5] / factor
        defaults = seq_matrices(seq, self.n)
        if self.mode == "seq":
            return defaults
        return with_defaults(self.mats, defaults)


def line_state(obj: DssObject, codes: dict[str, LineCode]) -> Line:
    """A Line's assignments replayed (``r1=`` after ``linecode=`` leaves the code, and so on)."""
    ln = Line(obj)
    for s in obj.settings:
        with at(obj, s):
            p = s.prop
            if p == "bus1":
                ln.bus1 = (s.text, s)
            elif p == "bus2":
                ln.bus2 = (s.text, s)
            elif p == "linecode":
                code = codes.get(keyword(s))
                if code is None:
                    raise fail(obj, s, f"line code '{s.text}' is not defined",
                               fix="define 'New LineCode.name ...' before the lines that use it")
                ln.code, ln.mode, ln.n, ln.normamps = code, "code", code.n, None
            elif p == "length":
                ln.length = num(s)
            elif p == "phases":
                n = whole(s)
                fixed = (ln.mode == "code" and ln.code.is_matrix) or ln.mode == "matrix"
                if n != ln.n and fixed:
                    raise fail(obj, s, f"phases={n} contradicts its {ln.n}-phase impedance matrix",
                               fix="use a line code with the right number of phases")
                ln.n = n
            elif p in SEQ_INDEX or p in ("b1", "b0"):
                if ln.mode == "code":
                    ln.seq = list(ln.code.seq) if not ln.code.is_matrix else list(SEQ_DEFAULT)
                    ln.cap_set = not ln.code.is_matrix
                value = num(s)
                if p in ("b1", "b0"):
                    p, value = ("c1" if p == "b1" else "c0"), nf_from_us(value, 60.0)
                ln.seq[SEQ_INDEX[p]] = value
                ln.cap_set = ln.cap_set or p in ("c1", "c0")
                ln.mode, ln.code, ln.units = "seq", None, None
            elif p in ("rmatrix", "xmatrix", "cmatrix"):
                if ln.mode != "matrix":
                    ln.mats = {}
                ln.mats[p[0]] = rpn.matrix(s.text, ln.n)
                ln.cap_set = ln.cap_set or p == "cmatrix"
                ln.mode, ln.code, ln.units = "matrix", None, None
            elif p == "switch":
                ln.switch = rpn.boolean(s.text)
                if ln.switch:
                    ln.seq, ln.cap_set, ln.length, ln.units = [1.0, 1.0, 1.0, 1.0, 1.1, 1.0], True, 0.001, None
                    ln.mode, ln.code = "seq", None
            elif p == "units":
                ln.units = ln.stated_units = length_unit(s)
            elif p == "enabled":
                ln.enabled = rpn.boolean(s.text)
            elif p == "normamps":
                ln.normamps = num(s)
            elif p == "linetype":
                ln.kind = line_kind(s)
            elif p in ("geometry", "spacing", "wires", "cncables", "tscables"):
                raise fail(obj, s, f"lines defined by {p} are not supported",
                           fix="compute the impedance (OpenDSS 'Show LineConstants') and use a LineCode")
    with at(obj):
        ln.term1 = terminal(obj, ln.bus1, ln.n, ln.n)
        ln.term2 = terminal(obj, ln.bus2, ln.n, ln.n)
    return ln


def add_lines(b: Build) -> None:
    """Every defined line code, then line and switch rows (with code variants as needed)."""
    for code in b.codes.values():
        b.codes_out[code.obj.name] = code.row(code.obj.name, code.n, code.units or b.unitless, None, b.freq)
    for ln in b.lines:
        o = ln.obj
        t1, t2 = ln.term1, ln.term2
        with at(o):
            if 0 in t1.nodes or 0 in t2.nodes:
                raise fail(o, ln.bus1[1], "a line conductor on node 0 (ground) is not supported",
                           fix="Kron-reduce the neutral into the line code and connect phases only")
            if t1.nodes != t2.nodes:
                raise fail(o, ln.bus2[1], f"conductors join different nodes ({'.'.join(map(str, t1.nodes))} "
                           f"to {'.'.join(map(str, t2.nodes))}); Twin lines keep their phases",
                           fix="connect the same nodes at both ends")
        is_switch = ln.switch or bool(_SWITCH_NAME.match(o.name) and ln.mode != "code" and ln.length <= 0.01)
        if len(set(t1.nodes)) != len(t1.nodes):
            if not is_switch:
                raise fail(o, ln.bus1[1], f"a node is used twice ({ln.bus1[0]} on {ln.n} conductors)",
                           fix="list each node once, or set phases= to the number of nodes")
            b.notes.append(f"{o.where}: {o.label} has {ln.n} conductors on nodes "
                           f"{'.'.join(map(str, t1.nodes))} (phases= missing?): imported on the nodes it "
                           "joins, as OpenDSS connects it")
        opened = _opened(b, o)
        live = ln.enabled and not opened
        rated = ln.normamps if ln.normamps is not None else np.nan
        b.terms += [Attached(t1, o, ln.enabled), Attached(t2, o, ln.enabled)]
        b.edges.append((t1.bus, t2.bus))
        if is_switch:
            z1 = _positive_sequence(ln) * ln.length
            b.rows["switch"].append({
                "id": o.name, "from_bus": t1.bus, "to_bus": t2.bus, "phases": (o, t1),
                "kind": SwitchKind.load_break_switch, "normal_open": not live, "open": not live, "rated_a": rated,
                "r_ohm": z1.real, "x_ohm": z1.imag,
            })
            continue
        code_id, unit = _code_for(b, ln)
        if opened:
            b.notes.append(f"{o.label} opened by a script command: imported out of service")
        kind = ln.kind or (ln.code.kind if ln.code else None) or LineKind.overhead
        b.rows["line"].append({
            "id": o.name, "from_bus": t1.bus, "to_bus": t2.bus, "phases": (o, t1), "code": code_id,
            "length_m": ln.length * UNITS_M[unit], "kind": kind, "rated_a": rated, "in_service": live,
        })


def _positive_sequence(ln: Line) -> complex:
    """Positive-sequence series impedance per unit length of a line's own or coded matrices
    (self minus mutual): what a switch keeps of the short line OpenDSS models it as."""
    r, x, _ = ln.code.matrices(ln.n) if ln.mode == "code" else ln.own_matrices()
    z = np.asarray(r, float)[: ln.n, : ln.n] + 1j * np.asarray(x, float)[: ln.n, : ln.n]
    mutual = (z.sum() - np.trace(z)) / (ln.n * (ln.n - 1)) if ln.n > 1 else 0.0
    return complex(np.trace(z) / ln.n - mutual)


def _opened(b: Build, o: DssObject) -> bool:
    state = b.script.switching.get((o.cls, o.name))
    return bool(state and state[0])


def _code_for(b: Build, ln: Line) -> tuple[str, str]:
    """Id of the code a line uses (a variant when needed, its row added) and the line's length unit."""
    nodes = ln.term1.nodes
    order = sorted(range(len(nodes)), key=nodes.__getitem__)
    permuted = order != list(range(len(nodes)))
    if ln.mode != "code":
        unit = ln.stated_units or b.unitless_unit()
        code_id = f"line:{ln.obj.name}"
        b.codes_out[code_id] = code_row(code_id, ln.n, ln.own_matrices(), unit=unit, freq=b.freq,
                                        rated_a=ln.normamps if ln.normamps is not None else 400.0,
                                        emerg_a=np.nan, order=order)
        return code_id, unit
    code = ln.code
    unit = ln.units or code.units or b.unitless_unit()
    code_unit = code.units or unit
    tags = []
    if permuted:
        split = ln.term1.bus in b.split
        tags.append("".join((("S1", "S2") if split else ("A", "B", "C"))[k - 1] for k in nodes))
    if ln.n != code.n:
        tags.append(f"{ln.n}ph")
    if code_unit != (code.units or b.unitless):
        tags.append(code_unit)
    code_id = "@".join([code.obj.name, *tags])
    if code_id not in b.codes_out:
        b.codes_out[code_id] = code.row(code_id, ln.n, code_unit, order, b.freq)
    return code_id, unit


@dataclass
class Reactor:
    """A series reactor, read: its line row (phases to come), its own code row and terminals."""

    obj: DssObject
    row: dict
    code: dict
    terms: tuple[Terminal, Terminal]


def reactor_state(o: DssObject, freq: float) -> Reactor:
    """A series reactor as a 1 m line of kind reactor with its own code."""
    n, kvar, kv, r, x, normamps, enabled = 3, 1200.0, 12.47, 0.0, None, 400.0, True
    mats: dict[str, np.ndarray] = {}
    seq: dict[str, tuple[float, float]] = {}
    bus1: BusText = (None, None)
    bus2: BusText = (None, None)
    for s in o.settings:
        with at(o, s):
            p = s.prop
            if p == "bus1":
                bus1 = (s.text, s)
            elif p == "bus2":
                bus2 = (s.text, s)
            elif p == "phases":
                n = whole(s)
            elif p == "kvar":
                kvar = num(s)
            elif p == "kv":
                kv = num(s)
            elif p == "r":
                r = num(s)
            elif p == "x":
                x = num(s)
            elif p == "lmh":
                x = 2 * math.pi * freq * num(s) / 1000.0
            elif p == "z":
                r, x = complex_pair(s)
            elif p in ("z1", "z0"):
                seq[p] = complex_pair(s)
            elif p in ("rmatrix", "xmatrix"):
                mats[p[0]] = rpn.matrix(s.text, n)
            elif p == "normamps":
                normamps = num(s)
            elif p == "enabled":
                enabled = rpn.boolean(s.text)
    if bus2[0] is None:
        raise fail(o, bus1[1], "shunt reactors (no bus2) are not in Twin's model",
                   fix="remove it, or give bus2 for a series reactor")
    with at(o):
        if "z1" in seq:
            (r1, x1), (r0, x0) = seq["z1"], seq.get("z0", seq["z1"])
            rm, xm, _ = seq_matrices((r1, x1, r0, x0, 0.0, 0.0), n)
        elif mats:
            rm, xm = mats.get("r", np.zeros((n, n))), mats.get("x", np.zeros((n, n)))
        else:
            reactance = x if x is not None else kv**2 * 1000.0 / kvar
            rm, xm = r * np.eye(n), reactance * np.eye(n)
        term1 = terminal(o, bus1, n, n)
        term2 = terminal(o, bus2, n, n)
    code_id = f"reactor:{o.name}"
    code = {"id": code_id, "n_phases": n, "r_ohm_per_m": pad(rm), "x_ohm_per_m": pad(xm),
            "b_s_per_m": np.zeros((3, 3)), "rated_a": normamps, "emerg_a": np.nan}
    row = {"id": o.name, "from_bus": term1.bus, "to_bus": term2.bus, "code": code_id, "length_m": 1.0,
           "kind": LineKind.reactor, "rated_a": normamps, "in_service": enabled}
    return Reactor(o, row, code, (term1, term2))


def add_reactors(b: Build) -> None:
    """Series reactors as 1 m lines of kind reactor."""
    for r in b.reactors:
        b.terms += [Attached(t, r.obj, r.row["in_service"]) for t in r.terms]
        b.edges.append((r.terms[0].bus, r.terms[1].bus))
        b.codes_out[r.code["id"]] = r.code
        r.row["phases"] = (r.obj, r.terms[0])
        b.rows["line"].append(r.row)
