"""Export a :class:`~twin.grid.network.Network` as an OpenDSS script: the importer's inverse.

>>> path = save_opendss(net, "out/ieee13")  # doctest: +SKIP
>>> load_opendss(path).line.equals(net.line)  # doctest: +SKIP
True

:func:`save_opendss` writes ``master.dss`` (and, for big models, one redirected file per group of
classes plus ``buscoords.csv``); :func:`to_dss_lines` gives the same script as one list of lines.
The script is electrically exact: OpenDSS solves the model Twin holds, so that the two engines
can be compared on the same data. Units are metres throughout (``units=m``), numbers are written
with Python's shortest exact ``repr``, so a round trip through :func:`~twin.grid.opendss.load_opendss`
gives the same floats (to the last bit or so, 1e-15 relative).

How Twin maps back onto OpenDSS
-------------------------------
=================  ==============================================================================
``source``         ``New Circuit.<network>`` with the source named ``source``, else the circuit's
                   own ``Vsource.source`` disabled; others ``New Vsource.<id>``; impedance as
                   ``Z1=[r1, x1] Z0=[r0, x0]`` in ohms, ``basekv`` line-to-line, ``angle`` degrees
``line_code``      ``LineCode`` in ``units=m``: ``rmatrix``/``xmatrix`` (ohm/m) and ``cmatrix`` (nF/m,
                   C = b / (2 pi f)). Codes the importer makes are given back the form it read:
                   ``line:<name>`` as the line's own matrices, ``<code>@CB`` as ``<code>`` on a line
                   whose nodes are not ascending (``632.3.2``), ``reactor:<name>`` as the reactor
``line``           ``Line`` with nodes in slot order (A, B, C = 1, 2, 3; S1, S2 = 1, 2), ``length``
                   in m; ``linetype=ug`` for underground; out of service: ``enabled=no``. Kind
                   reactor: a series ``Reactor`` with the line's ohms as ``rmatrix``/``xmatrix``
``switch``         ``Line ... switch=y`` of the switch's ``r_ohm``, ``x_ohm`` per phase,
                   no capacitance; open: ``enabled=no``. The kind is told
                   by a *disabled* ``Fuse``/``Recloser``/``Relay`` (breaker) of the same name on it,
                   remote control by a disabled ``SwtControl``: markers the importer reads, which
                   OpenDSS does not act on (Twin holds no relay settings for it to act with)
``transformer``    ``Transformer`` with ``buses``/``conns``/``kvs``/``kvas``/``%rs``/``taps`` arrays;
                   wye ``.1.2.3.0``, 1-phase wye ``.1.0``, delta ``.1.2.3`` or ``.1.2``; centre tap
                   as the 8500-node feeder: ``L.1.0``, ``X.1.0``, ``X.0.2``; tap limits on the
                   regulated winding
``regulator``      ``RegControl`` (``PTphase`` counts the regulated winding's conductors)
``capacitor``      ``Capacitor`` with the total kvar, ``states=[0]`` when open
``cap_control``    ``CapControl`` (kvar settings in kvar)
``load``           ``Load`` with ``kW``/``kvar`` totals, ``model`` 1, 2, 3, 4, 5 where the ZIP shares are
                   one of those, else 8 (``zipv=[...]``, cut-off 0); kV as OpenDSS reads it (LL for
                   2-3 phases; a two-leg load on a split-phase bus is ``phases=2 kv=0.2078``)
``generator``      ``Generator``; photovoltaic ``PVSystem`` (``pmpp`` = P at irradiance 1); a
                   phase-to-phase unit as ``phases=1`` on both phases' nodes (``bus.1.3``)
(buses)            ``Set voltagebases`` (plus 0.2078 kV when split-phase legs have no base, so that
                   OpenDSS reports a 120 V leg as 1 pu), ``CalcVoltageBases``, ``BusCoords``
=================  ==============================================================================

Load models: OpenDSS's models 1, 2 and 5 behave as ZIPV (model 8) with the same shares at every
voltage; models 3 and 4 do only above ``vminpu``: below it they become the impedance of the *full*
nominal power at ``vminpu`` (as model 1 does), where ZIPV continues from the ZIP power at
``vminpu``. The named models reproduce an OpenDSS source file's solution (the IEEE 37-bus has
model-4 loads below 0.95 pu: 4.5e-4 pu apart otherwise); ``zipv=True`` writes every load as model
8, whose low-voltage behaviour is continuous.

OpenDSS splits a load's (or capacitor's) power equally over its phases. A load whose phases (or
delta branches) carry different powers is therefore written as one single-phase load per phase,
named ``<id>_a``, ``_b``, ``_c`` (``_s1``, ``_s2`` on a split-phase bus, ``_ab``, ``_bc``, ``_ca``
for delta branches; a phase with no power is left out). The loads sum to the same currents.

What does not come back through the importer (it is OpenDSS's model, not the exporter, that
lacks it): ids come back lower-case (OpenDSS names are case-insensitive); names OpenDSS cannot
hold (blanks, dots, quotes...) are changed and listed in ``names.csv``; service points and
``load.cls`` are made anew by the importer; switch kinds sectionaliser and disconnect come back
as load-break switches, ``breaking_a`` and the protection ``curve`` are not read (the curve is
written as a comment); ``normal_open`` of a plain switch is its present state; ``coord_units``
comes back ``unspecified``; loads and capacitors split as above come back as their pieces; a
phase-to-phase generator comes back wye on two phases (the importer reads generators so); a
three-phase ungrounded wye winding is written with its neutral on node 4, which OpenDSS reads and
the importer refuses (Twin buses have nodes 1-3); a single-phase one is written grounded; fault
indicators are not written (OpenDSS has no such element).
"""

from __future__ import annotations

import csv
import math
import re
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from twin.grid.network import Network
from twin.grid.schema import (
    CapControlKind,
    Conn,
    GeneratorKind,
    LineKind,
    Phase,
    SwitchKind,
    TransformerKind,
    phase_slots,
)

__all__ = ["save_opendss", "to_dss_lines"]

SQRT3 = math.sqrt(3.0)
"""Impedance per phase of a closed switch: OpenDSS's ``switch=y`` line (1 + j1 ohm/unit x 0.001), as
the power flow (:mod:`twin.grid.powerflow`) takes it by default. The switch table holds none."""

SECTIONS = ("linecodes", "lines", "transformers", "regulators", "capacitors", "loads", "generators", "protection")
"""The groups written to their own ``<name>.dss`` when a model is big, in the order of the master."""

_SAFE = re.compile(r"[A-Za-z0-9_\-@:/]+")
_LEG = Phase.S1 | Phase.S2
_DELTA_BRANCH_NODES = {0: (1, 2), 1: (2, 3), 2: (3, 1)}
_BRANCH_OF_PAIR = {frozenset((0, 1)): 0, frozenset((1, 2)): 1, frozenset((0, 2)): 2}
_MODEL_OF_ZIP = {((0, 0, 1), (0, 0, 1)): 1, ((1, 0, 0), (1, 0, 0)): 2, ((0, 0, 1), (1, 0, 0)): 3,
                 ((0, 1, 0), (1, 0, 0)): 4, ((0, 1, 0), (0, 1, 0)): 5}
_SWITCH_LINETYPE = {SwitchKind.breaker: "swt_brk", SwitchKind.recloser: "swt_rec", SwitchKind.sectionaliser: "swt_sect",
                    SwitchKind.fuse: "swt_fuse", SwitchKind.load_break_switch: "swt_ld",
                    SwitchKind.disconnect: "swt_disc"}
_MARKER_CLASS = {SwitchKind.fuse: "Fuse", SwitchKind.recloser: "Recloser", SwitchKind.breaker: "Relay"}
_CAPCONTROL_TYPE = {CapControlKind.voltage: "voltage", CapControlKind.kvar: "kvar", CapControlKind.current: "current",
                    CapControlKind.pf: "pf", CapControlKind.time: "time"}
_ELEMENT_CLASS = {"line": "Line", "switch": "Line", "transformer": "Transformer"}


def save_opendss(net: Network, folder: str | Path, *, split: bool | None = None, zipv: bool = False) -> Path:
    """Write ``net`` as an OpenDSS script in ``folder``; returns the path of ``master.dss``.

    ``split`` puts each group of classes (:data:`SECTIONS`) in its own redirected file; by default
    models of more than 1,000 elements are split. ``zipv`` writes every load as OpenDSS model 8
    (see the module docstring). Bus coordinates, where any exist, go to ``buscoords.csv``; renamed
    ids to ``names.csv``.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    script = _Writer(net, zipv=zipv)
    if split is None:
        split = sum(len(t) for _, t in net.tables()) > 1000
    lines = list(script.head)
    for name in SECTIONS:
        body = script.sections[name]
        if not body:
            continue
        if split:
            (folder / f"{name}.dss").write_text("\n".join(body) + "\n", encoding="utf-8")
            lines.append(f"Redirect {name}.dss")
        else:
            lines += ["", *body]
    lines += ["", *script.tail]
    coords = script.coordinates()
    if coords:
        with (folder / "buscoords.csv").open("w", newline="", encoding="utf-8") as fh:
            csv.writer(fh).writerows(coords)
        lines.append("BusCoords buscoords.csv")
    renamed = script.names.renamed()
    if renamed:
        with (folder / "names.csv").open("w", newline="", encoding="utf-8") as fh:
            w = csv.writer(fh)
            w.writerow(("table", "id", "opendss_name"))
            w.writerows(renamed)
    master = folder / "master.dss"
    master.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return master


def to_dss_lines(net: Network, *, zipv: bool = False) -> list[str]:
    """The whole script as lines, every class in line (no ``BusCoords``: coordinates need a file).

    Options as :func:`save_opendss`.
    """
    script = _Writer(net, zipv=zipv)
    out = list(script.head)
    for name in SECTIONS:
        if script.sections[name]:
            out += ["", *script.sections[name]]
    return out + ["", *script.tail]


# -- names ------------------------------------------------------------------------------------


class _Names:
    """OpenDSS-safe names, unique without regard to case within each OpenDSS class (or buses)."""

    def __init__(self) -> None:
        self._given: dict[tuple[str, str], str] = {}
        self._taken: dict[str, set[str]] = {}
        self._renamed: list[tuple[str, str, str]] = []

    def __call__(self, space: str, id_: str, *, table: str = "") -> str:
        key = (space, id_)
        if key in self._given:
            return self._given[key]
        taken = self._taken.setdefault(space, set())
        name = id_ if _SAFE.fullmatch(id_) and "//" not in id_ else (re.sub(r"[^A-Za-z0-9_\-@:]", "_", id_) or "_")
        base, k = name, 1
        while name.lower() in taken:
            k += 1
            name = f"{base}_{k}"
        taken.add(name.lower())
        self._given[key] = name
        if name != id_:
            self._renamed.append((table or space, id_, name))
        return name

    def renamed(self) -> list[tuple[str, str, str]]:
        return list(self._renamed)


# -- numbers ----------------------------------------------------------------------------------


def _f(x: float) -> str:
    """A number as its shortest exact decimal (``repr``); integers without the ``.0``."""
    x = float(x)
    if not math.isfinite(x):
        raise ValueError(f"{x} cannot be written to OpenDSS")
    if x == int(x) and abs(x) < 1e15:
        return str(int(x))
    return repr(x)


def _array(values: Iterable[float]) -> str:
    return "[" + " ".join(_f(v) for v in values) + "]"


def _matrix(m: np.ndarray) -> str:
    """Lower triangle when symmetric (OpenDSS's usual form), else every row."""
    n = len(m)
    if np.array_equal(m, m.T):
        rows = [" ".join(_f(m[i, j]) for j in range(i + 1)) for i in range(n)]
    else:
        rows = [" ".join(_f(v) for v in m[i]) for i in range(n)]
    return "[" + " | ".join(rows) + "]"


def _nodes(slots: Iterable[int]) -> str:
    return "".join(f".{s + 1}" for s in slots)


def _yes(flag: bool) -> str:
    return "yes" if flag else "no"


# -- the writer -------------------------------------------------------------------------------


class _Writer:
    """The script of one network, built once: ``head``, one list per section, ``tail``."""

    def __init__(self, net: Network, *, zipv: bool) -> None:
        self.net = net
        self.zipv = zipv
        self.switch_z = net.switch["r_ohm"] + 1j * net.switch["x_ohm"]
        self.names = _Names()
        self.sections: dict[str, list[str]] = {name: [] for name in SECTIONS}
        self.freq = float(net.base_frequency_hz)
        self.line_nodes: dict[str, list[int]] = {}  # OpenDSS line name -> node of each conductor
        self._reduced: set[str] = set()
        self.head = self._head()
        self._line_codes()
        self._lines()
        self._switches()
        self._transformers()
        self._regulators()
        self._capacitors()
        self._cap_controls()
        self._loads()
        self._generators()
        self.tail = self._tail()

    def bus(self, id_: str) -> str:
        return self.names("bus", id_, table="bus")

    # head and tail

    def _head(self) -> list[str]:
        net = self.net
        name = self.names("circuit", net.name or "twin", table="network")
        out = [f"! {net.name}: written by twin.grid.opendss.export from {net.origin or 'a Twin model'}"]
        out += [f"! note: {n}".replace("/*", "/ *") for note in net.notes for n in str(note).splitlines()]
        out += ["Clear", f"Set DefaultBaseFrequency={_f(self.freq)}"]
        src = net.source
        ids = [str(i) for i in src.ids]
        main = next((k for k, i in enumerate(ids) if i.lower() == "source"), None)
        if main is not None:
            self.names("Vsource", ids[main], table="source")
            out.append(f"New Circuit.{name} " + self._source_props(main))
        else:
            bus = self.bus(src["bus"][0]) if len(src) else "sourcebus"
            out.append(f"New Circuit.{name} bus1={bus}")
            out.append("Disable Vsource.source")
        for k in range(len(src)):
            if k != main:
                out.append(f"New Vsource.{self.names('Vsource', ids[k], table='source')} " + self._source_props(k))
        return out

    def _source_props(self, k: int) -> str:
        s = self.net.source
        return (f"bus1={self.bus(s['bus'][k])} phases=3 basekv={_f(s['v_nom_v'][k] / 1000.0)} pu={_f(s['v_pu'][k])} "
                f"angle={_f(math.degrees(s['angle_rad'][k]))} Z1=[{_f(s['r1_ohm'][k])}, {_f(s['x1_ohm'][k])}] "
                f"Z0=[{_f(s['r0_ohm'][k])}, {_f(s['x0_ohm'][k])}]")

    def _tail(self) -> list[str]:
        bases = sorted({v / 1000.0 for v in self.net.voltage_bases_v}, reverse=True)
        if not bases:
            bases = sorted({v / 1000.0 for v in self.net.bus["v_nom_v"] if np.isfinite(v) and v > 0}, reverse=True)
        b = self.net.bus
        legs = (b["phases"].astype(np.int64) & int(_LEG)) != 0
        for v in sorted({float(v) for v in b["v_nom_v"][legs] if np.isfinite(v) and v > 0}):
            leg_ll = v / 2.0 * SQRT3 / 1000.0  # OpenDSS reports a 120 V leg on the base 120 V x sqrt(3)
            if all(abs(1.0 - leg_ll / x) > 0.01 for x in bases):
                bases.append(leg_ll)
        return [f"Set voltagebases={_array(bases)}", "CalcVoltageBases"]

    def coordinates(self) -> list[tuple[str, str, str]]:
        b = self.net.bus
        x, y = b["x"], b["y"]
        return [(self.bus(b.ids[k]), repr(float(x[k])), repr(float(y[k])))
                for k in range(len(b)) if np.isfinite(x[k]) and np.isfinite(y[k])]

    # line codes and lines

    def _line_codes(self) -> None:
        """Which codes are written as LineCodes, which in the form the importer made them from."""
        net = self.net
        codes = net.line_code
        users: dict[str, list[int]] = {}
        for k, c in enumerate(net.line["code"]):
            users.setdefault(c, []).append(k)
        self.inline: set[str] = set()  # line:<name>, used by that line only: the line's own matrices
        self.variant: dict[str, tuple[str, list[int]]] = {}  # <code>@CB: base code and node order
        self.reactor_code: set[str] = set()
        for k, cid in enumerate(codes.ids):
            used = users.get(cid, [])
            if cid.startswith("line:") and [net.line.ids[i] for i in used] == [cid[5:]]:
                self.inline.add(cid)
            elif cid.startswith("reactor:") and all(net.line["kind"][i] == LineKind.reactor for i in used) and used:
                self.reactor_code.add(cid)
            elif used and (found := self._permuted_base(cid)) is not None:
                self.variant[cid] = found
        out = self.sections["linecodes"]
        for k, cid in enumerate(codes.ids):
            if cid in self.inline or cid in self.variant or cid in self.reactor_code:
                continue
            n = int(codes["n_phases"][k])
            r, x, c = self._code_matrices(k, n)
            props = [f"New LineCode.{self.names('LineCode', cid, table='line_code')} nphases={n} units=m",
                     f"rmatrix={_matrix(r)}", f"xmatrix={_matrix(x)}", f"cmatrix={_matrix(c)}"]
            for col, prop in (("rated_a", "normamps"), ("emerg_a", "emergamps")):
                if np.isfinite(codes[col][k]):
                    props.append(f"{prop}={_f(codes[col][k])}")
            out.append(" ".join(props))

    def _code_matrices(self, k: int, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """R, X (ohm/m) and C (nF/m) of code row ``k`` over its ``n`` conductor positions."""
        codes = self.net.line_code
        r = codes["r_ohm_per_m"][k][:n, :n]
        x = codes["x_ohm_per_m"][k][:n, :n]
        c = codes["b_s_per_m"][k][:n, :n] / (2.0 * math.pi * self.freq) * 1e9
        return r, x, c

    def _permuted_base(self, cid: str) -> tuple[str, list[int]] | None:
        """``(base, order)`` when ``cid`` is the importer's ``<base>@CB``: base's rows in node order."""
        base, at, tag = cid.partition("@")
        if not at or not tag:
            return None
        letters = re.findall(r"S1|S2|A|B|C", tag)
        if "".join(letters) != tag or len(set(letters)) != len(letters):
            return None
        codes = self.net.line_code
        kb, kv = codes.get(base), codes.get(cid)
        if kb is None or kv is None or codes["n_phases"][kb] != len(letters) or codes["n_phases"][kv] != len(letters):
            return None
        nodes = [{"A": 1, "B": 2, "C": 3, "S1": 1, "S2": 2}[x] for x in letters]
        order = sorted(range(len(nodes)), key=nodes.__getitem__)
        n = len(nodes)
        for col in ("r_ohm_per_m", "x_ohm_per_m", "b_s_per_m"):
            a = codes[col][kb][:n, :n][np.ix_(order, order)]
            if not np.allclose(a, codes[col][kv][:n, :n], rtol=1e-12, atol=0.0):
                return None
        if not (_same(codes["rated_a"][kb], codes["rated_a"][kv]) and _same(codes["emerg_a"][kb], codes["emerg_a"][kv])):
            return None
        return base, nodes

    def _lines(self) -> None:
        net, ln = self.net, self.net.line
        codes = net.line_code
        out = self.sections["lines"]
        for k in range(len(ln)):
            lid, code = ln.ids[k], ln["code"][k]
            slots = phase_slots(int(ln["phases"][k]))
            f, t = self.bus(ln["from_bus"][k]), self.bus(ln["to_bus"][k])
            kc = codes.get(code)
            if ln["kind"][k] == LineKind.reactor:
                out.append(self._reactor(k, slots, kc))
                continue
            name = self.names("Line", lid, table="line")
            n = len(slots)
            node_list = [s + 1 for s in slots]
            if code in self.variant:  # the importer's <code>@CB: the base code on nodes in that order
                base, order_nodes = self.variant[code]
                if sorted(order_nodes) == node_list:
                    node_list, code = order_nodes, base
                else:
                    code = self._plain_code(code)
            self.line_nodes[name] = node_list
            nodes = "".join(f".{v}" for v in node_list)
            props = [f"New Line.{name} phases={n} bus1={f}{nodes} bus2={t}{nodes}"]
            if code in self.inline:
                r, x, c = self._code_matrices(kc, n)
                props += [f"rmatrix={_matrix(r)}", f"xmatrix={_matrix(x)}", f"cmatrix={_matrix(c)}", "units=m"]
            else:
                if code not in self.variant and kc is not None and int(codes["n_phases"][kc]) != n:
                    code = self._reduced_code(code, n)
                props.append(f"linecode={self.names('LineCode', code, table='line_code')}")
                props.append("units=m")
            props.append(f"length={_f(ln['length_m'][k])}")
            if ln["kind"][k] == LineKind.underground:
                props.append("linetype=ug")
            if np.isfinite(ln["rated_a"][k]):
                props.append(f"normamps={_f(ln['rated_a'][k])}")
            if not ln["in_service"][k]:
                props.append("enabled=no")
            out.append(" ".join(props))

    def _plain_code(self, cid: str) -> str:
        """A variant code written as a LineCode of its own after all (a line it does not fit)."""
        if cid not in self.variant:
            return cid
        del self.variant[cid]
        k = self.net.line_code.position(cid)
        n = int(self.net.line_code["n_phases"][k])
        r, x, c = self._code_matrices(k, n)
        self.sections["linecodes"].append(
            f"New LineCode.{self.names('LineCode', cid, table='line_code')} nphases={n} units=m rmatrix={_matrix(r)} "
            f"xmatrix={_matrix(x)} cmatrix={_matrix(c)} normamps={_f(self.net.line_code['rated_a'][k])}")
        return cid

    def _reduced_code(self, cid: str, n: int) -> str:
        """A code's first ``n`` conductor positions as a code of its own (a line with fewer phases)."""
        new = f"{cid}_{n}ph"
        if new not in self._reduced:
            self._reduced.add(new)
            k = self.net.line_code.position(cid)
            r, x, c = self._code_matrices(k, n)
            self.sections["linecodes"].append(
                f"New LineCode.{self.names('LineCode', new, table='line_code')} nphases={n} units=m "
                f"rmatrix={_matrix(r)} xmatrix={_matrix(x)} cmatrix={_matrix(c)}")
        return new

    def _reactor(self, k: int, slots: list[int], kc: int | None) -> str:
        """A series reactor: the line's total ohms (code per metre times length)."""
        ln, n = self.net.line, len(slots)
        name = self.names("Reactor", ln.ids[k], table="line")
        nodes = _nodes(slots)
        length = float(ln["length_m"][k])
        r = self.net.line_code["r_ohm_per_m"][kc][:n, :n] * length
        x = self.net.line_code["x_ohm_per_m"][kc][:n, :n] * length
        rated = ln["rated_a"][k] if np.isfinite(ln["rated_a"][k]) else self.net.line_code["rated_a"][kc]
        props = [f"New Reactor.{name} phases={n} bus1={self.bus(ln['from_bus'][k])}{nodes}",
                 f"bus2={self.bus(ln['to_bus'][k])}{nodes} rmatrix={_matrix(r)} xmatrix={_matrix(x)}"]
        if np.isfinite(rated):
            props.append(f"normamps={_f(rated)}")
        if not ln["in_service"][k]:
            props.append("enabled=no")
        return " ".join(props)

    def _switches(self) -> None:
        sw = self.net.switch
        out, marks = self.sections["lines"], self.sections["protection"]
        for k in range(len(sw)):
            sid = sw.ids[k]
            name = self.names("Line", sid, table="switch")
            slots = phase_slots(int(sw["phases"][k]))
            nodes = _nodes(slots)
            kind = SwitchKind(int(sw["kind"][k]))
            r, x = _f(self.switch_z[k].real * 1000.0), _f(self.switch_z[k].imag * 1000.0)  # per unit, 0.001 units
            props = [f"New Line.{name} phases={len(slots)} bus1={self.bus(sw['from_bus'][k])}{nodes}",
                     f"bus2={self.bus(sw['to_bus'][k])}{nodes} switch=y r1={r} r0={r} x1={x} x0={x} c1=0 c0=0",
                     f"length=0.001 linetype={_SWITCH_LINETYPE[kind]}"]
            self.line_nodes[name] = [s + 1 for s in slots]
            if np.isfinite(sw["rated_a"][k]):
                props.append(f"normamps={_f(sw['rated_a'][k])}")
            is_open, normal_open = bool(sw["open"][k]), bool(sw["normal_open"][k])
            if is_open:
                props.append("enabled=no")
            out.append(" ".join(props))
            state = "" if is_open == normal_open else \
                f" normal={'open' if normal_open else 'closed'} state={'open' if is_open else 'closed'}"
            target = f"MonitoredObj=Line.{name} SwitchedObj=Line.{name} SwitchedTerm=1"
            curve = str(sw["curve"][k])
            if curve:
                marks.append(f"! {kind.name} {name}: curve {curve}")
            if kind in _MARKER_CLASS:
                extra = f" ratedcurrent={_f(sw['rated_a'][k])}" if kind == SwitchKind.fuse and np.isfinite(
                    sw["rated_a"][k]) else ""
                marks.append(f"New {_MARKER_CLASS[kind]}.{name} {target}{extra}{state} enabled=no")
                state = ""
            if sw["remote"][k]:
                marks.append(f"New SwtControl.{name} SwitchedObj=Line.{name} SwitchedTerm=1{state} enabled=no")

    # transformers and regulators

    def _transformers(self) -> None:
        net, tr = self.net, self.net.transformer
        reg_of: dict[str, tuple[int, int]] = {}  # transformer -> (winding, monitored slot)
        for k in range(len(net.regulator)):
            reg_of.setdefault(net.regulator["transformer"][k], (int(net.regulator["winding"][k]),
                                                               int(net.regulator["phase"][k])))
        self.winding_nodes: dict[tuple[str, int], list[int]] = {}
        out = self.sections["transformers"]
        for k in range(len(tr)):
            tid = tr.ids[k]
            name = self.names("Transformer", tid, table="transformer")
            kind = TransformerKind(int(tr["kind"][k]))
            nw = int(tr["n_windings"][k])
            flags = [int(tr["phases"][k][w]) for w in range(nw)]
            conns = [Conn(int(tr["conn"][k][w])) for w in range(nw)]
            single = kind != TransformerKind.three_phase
            nph = 1 if single else len(phase_slots(flags[0]))
            reg = reg_of.get(tid)
            buses, conn_words = [], []
            for w in range(nw):
                nodes = self._winding_nodes(kind, w, flags[w], conns[w], reg[1] if reg else None)
                self.winding_nodes[(tid, w + 1)] = nodes
                buses.append(self.bus(tr["bus"][k][w]) + "".join(f".{v}" for v in nodes))
                conn_words.append("delta" if conns[w] == Conn.delta else "wye")
            props = [f"New Transformer.{name} phases={nph} windings={nw}"]
            if tr["bank"][k]:
                props.append(f"bank={self.names('bank', tr['bank'][k], table='transformer.bank')}")
            props.append(f"buses=[{', '.join(buses)}] conns=[{', '.join(conn_words)}]")
            per = {c: [float(tr[c][k][w]) for w in range(nw)] for c in ("v_rated_v", "s_rated_va", "r_pct", "tap_pu")}
            props.append(f"kvs={_array(v / 1000.0 for v in per['v_rated_v'])} "
                         f"kvas={_array(v / 1000.0 for v in per['s_rated_va'])} %rs={_array(per['r_pct'])} "
                         f"taps={_array(per['tap_pu'])}")
            props.append(f"xhl={_f(tr['x_hl_pct'][k])}")
            if nw == 3:
                props.append(f"xht={_f(tr['x_ht_pct'][k])} xlt={_f(tr['x_lt_pct'][k])}")
            props.append(f"%noloadloss={_f(tr['no_load_loss_pct'][k])} %imag={_f(tr['imag_pct'][k])}")
            props.append(f"wdg={reg[0] if reg else 1} maxtap={_f(tr['tap_max_pu'][k])} "
                         f"mintap={_f(tr['tap_min_pu'][k])} numtaps={int(tr['n_taps'][k])}")
            out.append(" ".join(props))

    @staticmethod
    def _winding_nodes(kind: TransformerKind, w: int, flags: int, conn: Conn, monitored: int | None) -> list[int]:
        """Nodes of one winding's conductors: phases in slot order, then the neutral (0 grounded)."""
        slots = phase_slots(flags)
        nodes = [s + 1 for s in slots]
        if kind == TransformerKind.center_tap and w > 0 and len(nodes) == 1:
            return [nodes[0], 0] if w == 1 else [0, nodes[0]]  # X.1.0 and X.0.2: legs in opposition
        if len(nodes) == 2 and kind != TransformerKind.three_phase:  # phase to phase: monitored phase first
            if monitored is not None and monitored + 1 == nodes[1]:
                nodes.reverse()
            return nodes
        if conn == Conn.delta:
            return nodes
        return nodes + [4 if conn == Conn.wye_ungrounded and len(nodes) > 1 else 0]

    def _regulators(self) -> None:
        rg, out = self.net.regulator, self.sections["regulators"]
        for k in range(len(rg)):
            tid, w = rg["transformer"][k], int(rg["winding"][k])
            nodes = self.winding_nodes.get((tid, w), [])
            slot = int(rg["phase"][k])
            ptphase = nodes.index(slot + 1) + 1 if slot + 1 in nodes else slot + 1
            out.append(
                f"New RegControl.{self.names('RegControl', rg.ids[k], table='regulator')} "
                f"transformer={self.names('Transformer', tid, table='transformer')} winding={w} "
                f"vreg={_f(rg['v_set_v'][k])} band={_f(rg['band_v'][k])} ptratio={_f(rg['pt_ratio'][k])} "
                f"ctprim={_f(rg['ct_primary_a'][k])} R={_f(rg['ldc_r_v'][k])} X={_f(rg['ldc_x_v'][k])} "
                f"delay={_f(rg['delay_s'][k])} PTphase={ptphase} enabled={_yes(bool(rg['enabled'][k]))}")

    # shunt elements

    def _pieces(self, flags: int, conn: Conn, values: list[np.ndarray]) -> list[tuple[str, int, list[int], bool]]:
        """How a load or capacitor is written: ``(suffix, n_phases, nodes, delta)`` per OpenDSS element.

        One element when its phases (or delta branches) carry equal values, else one per phase.
        """
        slots = phase_slots(flags)
        legs = bool(flags & _LEG)
        if conn == Conn.delta and len(slots) >= 2:
            branches = [0, 1, 2] if len(slots) == 3 else [_BRANCH_OF_PAIR[frozenset(slots)]]
            if len(branches) == 1 or all(np.array_equal(v[branches], np.full(3, v[0])) for v in values):
                if len(branches) == 3:
                    return [("", 3, [1, 2, 3], True)]
                return [("", 1, list(_DELTA_BRANCH_NODES[branches[0]]), True)]
            return [(f"_{('ab', 'bc', 'ca')[b]}", 1, list(_DELTA_BRANCH_NODES[b]), True) for b in branches
                    if any(v[b] != 0 for v in values)]
        if all(np.all(v[slots] == v[slots[0]]) for v in values):
            return [("", len(slots), [s + 1 for s in slots], False)]
        labels = ("s1", "s2", "") if legs else ("a", "b", "c")
        return [(f"_{labels[s]}", 1, [s + 1], False) for s in slots if any(v[s] != 0 for v in values)]

    @staticmethod
    def _piece_kv(v_rated: float, flags: int, n_slots: int, piece_phases: int, delta: bool) -> float:
        """kV OpenDSS expects of one piece: LL for 2-3 phases, the element voltage for one."""
        if delta or piece_phases == n_slots:
            if not delta and flags & _LEG and piece_phases == 2:
                return v_rated * SQRT3 / 2.0 / 1000.0  # two 120 V legs written as 2-phase wye
            return v_rated / 1000.0
        return v_rated / (2.0 if flags & _LEG else SQRT3) / 1000.0

    def _capacitors(self) -> None:
        cap, out = self.net.capacitor, self.sections["capacitors"]
        self.cap_names: dict[str, str] = {}
        for k in range(len(cap)):
            flags, conn = int(cap["phases"][k]), Conn(int(cap["conn"][k]))
            q = cap["q_rated_var"][k]
            slots = phase_slots(flags)
            pieces = self._pieces(flags, conn, [q])
            if flags & _LEG and conn != Conn.delta and pieces[0][1] == 2:  # 2-leg wye: one per leg
                pieces = [(f"_{('s1', 's2')[s]}", 1, [s + 1], False) for s in slots]
            for suffix, n, nodes, delta in pieces:
                name = self.names("Capacitor", cap.ids[k] + suffix, table="capacitor")
                self.cap_names.setdefault(cap.ids[k], name)
                kvar = sum(q[s] for s in _chosen(slots, suffix, n, nodes, delta)) / 1000.0
                kv = self._piece_kv(float(cap["v_rated_v"][k]), flags, len(slots) if not delta else n, n, delta)
                props = [f"New Capacitor.{name} bus1={self.bus(cap['bus'][k])}{''.join(f'.{v}' for v in nodes)}",
                         f"phases={n} kvar={_f(kvar)} kv={_f(kv)} conn={'delta' if delta else 'wye'}"]
                if not cap["closed"][k]:
                    props.append("states=[0]")
                out.append(" ".join(props))

    def _cap_controls(self) -> None:
        cc, out = self.net.cap_control, self.sections["capacitors"]
        for k in range(len(cc)):
            kind = CapControlKind(int(cc["kind"][k]))
            scale = 1000.0 if kind == CapControlKind.kvar else 1.0
            cap = self.cap_names.get(cc["capacitor"][k]) or self.names("Capacitor", cc["capacitor"][k],
                                                                       table="capacitor")
            props = [f"New CapControl.{self.names('CapControl', cc.ids[k], table='cap_control')} capacitor={cap}"]
            element = str(cc["element"][k])
            slot = int(cc["phase"][k])
            ph = slot + 1
            if element:
                table, _, eid = element.partition(".")
                cls = _ELEMENT_CLASS.get(table, table.capitalize())
                name = self.names(cls, eid, table=table)
                props.append(f"element={cls}.{name} terminal={int(cc['terminal'][k])}")
                nodes = self.line_nodes.get(name, [])  # PTphase/CTphase count the line's conductors
                if slot + 1 in nodes:
                    ph = nodes.index(slot + 1) + 1
            props.append(f"type={_CAPCONTROL_TYPE[kind]}")
            for col, prop, f in (("on_value", "onsetting", scale), ("off_value", "offsetting", scale),
                                 ("v_min_v", "vmin", 1.0), ("v_max_v", "vmax", 1.0), ("pt_ratio", "ptratio", 1.0),
                                 ("ct_ratio", "ctratio", 1.0), ("delay_s", "delay", 1.0),
                                 ("delay_off_s", "delayoff", 1.0)):
                if np.isfinite(cc[col][k]):
                    props.append(f"{prop}={_f(cc[col][k] / f)}")
            props.append(f"voltoverride={_yes(bool(cc['voltage_override'][k]))}")
            props.append(f"{'PTphase' if kind == CapControlKind.voltage else 'CTphase'}={ph}")
            props.append(f"enabled={_yes(bool(cc['enabled'][k]))}")
            out.append(" ".join(props))

    def _loads(self) -> None:
        ld, out = self.net.load, self.sections["loads"]
        for k in range(len(ld)):
            flags, conn = int(ld["phases"][k]), Conn(int(ld["conn"][k]))
            p, q = ld["p_w"][k], ld["q_var"][k]
            slots = phase_slots(flags)
            zp, zq = tuple(float(v) for v in ld["zip_p"][k]), tuple(float(v) for v in ld["zip_q"][k])
            model = 8 if self.zipv else _MODEL_OF_ZIP.get((zp, zq), 8)
            tail = f"model={model}" + (f" zipv={_array([*zp, *zq, 0.0])}" if model == 8 else "")
            tail += f" vminpu={_f(ld['v_min_pu'][k])} vmaxpu={_f(ld['v_max_pu'][k])}"
            tail += " status=fixed" if ld["fixed"][k] else ""
            for suffix, n, nodes, delta in self._pieces(flags, conn, [p, q]):
                name = self.names("Load", ld.ids[k] + suffix, table="load")
                chosen = _chosen(slots, suffix, n, nodes, delta)
                kw, kvar = sum(p[s] for s in chosen) / 1000.0, sum(q[s] for s in chosen) / 1000.0
                kv = self._piece_kv(float(ld["v_rated_v"][k]), flags, len(slots) if not delta else n, n, delta)
                out.append(f"New Load.{name} phases={n} bus1={self.bus(ld['bus'][k])}"
                           f"{''.join(f'.{v}' for v in nodes)} conn={'delta' if delta else 'wye'} kv={_f(kv)} "
                           f"kW={_f(kw)} kvar={_f(kvar)} {tail}")

    def _generators(self) -> None:
        g, out = self.net.generator, self.sections["generators"]
        for k in range(len(g)):
            flags, conn = int(g["phases"][k]), Conn(int(g["conn"][k]))
            slots = phase_slots(flags)
            delta = conn == Conn.delta and len(slots) == 3
            # phase to phase: a 1-phase element whose second conductor is on the other phase
            n = 1 if conn == Conn.delta and len(slots) == 2 else len(slots)
            nodes = "".join(f".{s + 1}" for s in slots)
            pv = g["kind"][k] == GeneratorKind.photovoltaic
            cls = "PVSystem" if pv else "Generator"
            name = self.names("PC", g.ids[k], table="generator")
            props = [f"New {cls}.{name} phases={n} bus1={self.bus(g['bus'][k])}{nodes}",
                     f"kv={_f(g['v_rated_v'][k] / 1000.0)} conn={'delta' if delta else 'wye'}"]
            kva = g["s_rated_va"][k]
            if pv:
                props.append(f"irradiance=1 pmpp={_f(g['p_w'][k] / 1000.0)}")
                if np.isfinite(kva):
                    props.append(f"kVA={_f(kva / 1000.0)}")
            else:
                if np.isfinite(kva):
                    props.append(f"kVA={_f(kva / 1000.0)}")
                props.append(f"kW={_f(g['p_w'][k] / 1000.0)} model=1")
            props.append(f"kvar={_f(g['q_var'][k] / 1000.0)}")
            if not g["in_service"][k]:
                props.append("enabled=no")
            out.append(" ".join(props))


_DELTA_BRANCH_NODES_INV = {v: k for k, v in _DELTA_BRANCH_NODES.items()}


def _chosen(slots: list[int], suffix: str, n: int, nodes: list[int], delta: bool) -> list[int]:
    """Slots (wye) or branches (delta) whose values one written piece carries."""
    if delta:
        return [0, 1, 2] if n == 3 else [_DELTA_BRANCH_NODES_INV[tuple(nodes)]]
    return slots if not suffix else [nodes[0] - 1]


def _same(a: float, b: float) -> bool:
    return (np.isnan(a) and np.isnan(b)) or a == b
