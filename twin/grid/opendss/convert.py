"""OpenDSS objects to Twin's network tables.

Two steps. :func:`interpret` runs the script's commands (``New``, ``Edit``, ``~``,
``Class.name.prop=value``, ``Set``, ``BusCoords``...) into a :class:`Script`: every object with
the ordered list of its property assignments, each remembering file and line. Positional values
and abbreviated names are resolved here against OpenDSS's property lists (:data:`PROPERTIES`), and
``like=`` copies the other object's assignments. :func:`to_network` then *replays* each object's
assignments the way OpenDSS applies them (order matters: ``kW`` after ``kvar`` switches a load
back to its power factor, ``r1=`` after ``units=`` forgets the units, ``%loadloss`` sets the %r of
windings 1 and 2...) and builds the tables, in SI units. Ids are lower-case, as OpenDSS's names.

How OpenDSS maps onto Twin
--------------------------
=================  ==============================================================================
``Vsource``        ``source``: Thevenin ohms from MVAsc3/MVAsc1 (or Isc, or r1/x1/r0/x0) at basekv
``LineCode``       ``line_code``: ohm/m and S/m (b = 2 pi f C); sequence data become matrices
``Line``           ``line``; ``switch=y`` lines become ``switch`` rows (load-break switches,
                   ``enabled=false`` = normally open), and so do short lines named ``sw1``,
                   ``sw_...`` defined by in-line impedance (the IEEE 123-bus switches)
``Reactor``        a ``line`` of kind reactor, 1 m long, with its own code ``reactor:<name>``
``Transformer``    ``transformer`` (``XfmrCode`` expanded); kind center_tap for 1-phase 3-winding
                   units whose windings 2 and 3 share a bus, single_phase for 1-phase units
``RegControl``     ``regulator``;  ``Capacitor`` ``capacitor``;  ``CapControl`` ``cap_control``
``Load``           ``load`` and one ``service_point`` each (residential below 50 kW, else commercial)
``Generator``      ``generator`` (synchronous); ``PVSystem`` ``generator`` (photovoltaic)
``Fuse`` ...       ``Fuse``/``Recloser``/``Relay`` on ``Line.X``: a switch line changes kind, any
                   other line is split by a new switch at its monitored end; ``SwtControl`` sets
                   the state of its switch and marks it remote-controlled
=================  ==============================================================================

Line codes are stored compactly: a code's n x n matrix fills the top-left of the 3 x 3 and row k
belongs to the k-th phase of the line in ascending slot order. A line whose nodes are not
ascending (``632.3.2``) gets a permuted variant of its code, ``<code>@CB``; a sequence-data code
used with another phase count gets ``<code>@2ph``; a code without units used by a line with units
gets ``<code>@ft``. Lines with in-line impedance get their own code ``line:<name>``.

Lengths: OpenDSS multiplies per-length impedance by length, converting only when both the code and
the line state units. Twin needs metres, so a length or code that states no units is taken in
``unitless_length`` (default ``kft``, the convention of the IEEE test feeders' ``ieeelinecodes``)
and the network notes it. The total impedance is OpenDSS's whatever the unit chosen.

Phases: node 1, 2, 3 of a bus are phases A, B, C, node 0 ground. A bus is *split-phase* (legs S1,
S2 in slots 0, 1) when it is the secondary of a centre-tap transformer or is connected to one
through lines only (lines do not change voltage, so the whole secondary/service network behind a
centre tap is one 120/240 V system); lines there are of kind triplex. ``bus.phases`` is the union
of the nodes used by in-service elements (OpenDSS builds its bus list the same way).

Loads: the power is split equally over the phases (wye) or the delta branches, a delta branch
going to slot AB = 0, BC = 1 or CA = 2. Models map to ZIP fractions (P; Q): 1 constant PQ, 2
constant Z, 3 (P; Z), 4 CVR (I; Z), 5 constant I, 6 (P; P), 7 (P; Z), 8 the ZIPV coefficients. A
1-phase delta load given one node (``832.1``) is phase-to-ground, as OpenDSS connects it. A 2-phase
wye load on a split-phase bus (8500 ``SX...1.2``, ``kv=0.208``) is two leg-to-neutral loads at
kV/sqrt(3) each, stored with ``v_rated_v`` = 2 kV/sqrt(3) (leg to leg).

Voltages: ``bus.v_nom_v`` follows CalcVoltageBases: voltages spread from the sources through lines
(ratio 1) and transformers (ratio of the windings' kV and taps), then snap to the nearest
``Set voltagebases`` value (line-to-line). Split-phase buses take the leg-to-leg rating of their
centre-tap transformer (2 x 120 V = 240 V).
"""

from __future__ import annotations

import math
import re
from collections import deque
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from twin.errors import ParseError
from twin.grid.network import Network
from twin.grid.opendss import rpn
from twin.grid.opendss.lexer import Command, Param
from twin.grid.schema import (
    SCHEMAS,
    CapControlKind,
    Conn,
    CustomerClass,
    GeneratorKind,
    LineKind,
    SwitchKind,
    TransformerKind,
)
from twin.grid.table import Table

__all__ = ["PROPERTIES", "Script", "interpret", "to_network"]

SQRT3 = math.sqrt(3.0)

# ----------------------------------------------------------------------------------------------
# Classes and properties understood, in OpenDSS's order (positional values follow this order)
# ----------------------------------------------------------------------------------------------

_PD = ("normamps", "emergamps", "faultrate", "pctperm", "repair", "basefreq", "enabled", "like")
_PC = ("spectrum", "basefreq", "enabled", "like")
_CONTROL = ("basefreq", "enabled", "like")
_WINDING = ("wdg", "bus", "conn", "kv", "kva", "tap", "%r", "rneut", "xneut")
_XFMR_DATA = ("conns", "kvs", "kvas", "taps", "xhl", "xht", "xlt", "xscarray", "thermal", "n", "m",
              "flrise", "hsrise", "%loadloss", "%noloadloss", "normhkva", "emerghkva")

PROPERTIES: dict[str, tuple[str, ...]] = {
    "vsource": ("bus1", "basekv", "pu", "angle", "frequency", "phases", "mvasc3", "mvasc1", "x1r1", "x0r0",
                "isc3", "isc1", "r1", "x1", "r0", "x0", "scantype", "sequence", "bus2", "z1", "z0", "z2",
                "puz1", "puz0", "puz2", "basemva", "yearly", "daily", "duty", "model", "puzideal") + _PC,
    "linecode": ("nphases", "r1", "x1", "r0", "x0", "c1", "c0", "units", "rmatrix", "xmatrix", "cmatrix",
                 "basefreq", "normamps", "emergamps", "faultrate", "pctperm", "repair", "kron", "rg", "xg",
                 "rho", "neutral", "b1", "b0", "seasons", "ratings", "linetype", "like"),
    "line": ("bus1", "bus2", "linecode", "length", "phases", "r1", "x1", "r0", "x0", "c1", "c0", "rmatrix",
             "xmatrix", "cmatrix", "switch", "rg", "xg", "rho", "geometry", "units", "spacing", "wires",
             "earthmodel", "cncables", "tscables", "b1", "b0", "seasons", "ratings", "linetype") + _PD,
    "transformer": ("phases", "windings") + _WINDING + ("buses",) + _XFMR_DATA
    + ("sub", "maxtap", "mintap", "numtaps", "subname", "%imag", "ppm_antifloat", "%rs", "bank", "xfmrcode",
       "xrconst", "x12", "x13", "x23", "leadlag", "wdgcurrents", "core", "rdcohms", "seasons", "ratings") + _PD,
    "xfmrcode": ("phases", "windings") + tuple(p for p in _WINDING if p != "bus") + _XFMR_DATA
    + ("maxtap", "mintap", "numtaps", "%imag", "ppm_antifloat", "%rs", "x12", "x13", "x23", "rdcohms",
       "seasons", "ratings", "like"),
    "regcontrol": ("transformer", "winding", "vreg", "band", "ptratio", "ctprim", "r", "x", "bus", "delay",
                   "reversible", "revvreg", "revband", "revr", "revx", "tapdelay", "debugtrace", "maxtapchange",
                   "inversetime", "tapwinding", "vlimit", "ptphase", "revthreshold", "revdelay", "revneutral",
                   "eventlog", "remoteptratio", "tapnum", "reset", "ldc_z", "rev_z", "cogen") + _CONTROL,
    "capacitor": ("bus1", "bus2", "phases", "kvar", "kv", "conn", "cmatrix", "cuf", "r", "xl", "harm",
                  "numsteps", "states") + _PD,
    "capcontrol": ("element", "terminal", "capacitor", "type", "ptratio", "ctratio", "onsetting", "offsetting",
                   "delay", "voltoverride", "vmax", "vmin", "delayoff", "deadtime", "ctphase", "ptphase", "vbus",
                   "eventlog", "usermodel", "userdata", "pctminkvar", "reset") + _CONTROL,
    "load": ("phases", "bus1", "kv", "kw", "pf", "model", "yearly", "daily", "duty", "growth", "conn", "kvar",
             "rneut", "xneut", "status", "class", "vminpu", "vmaxpu", "vminnorm", "vminemerg", "xfkva",
             "allocationfactor", "kva", "%mean", "%stddev", "cvrwatts", "cvrvars", "kwh", "kwhdays", "cfactor",
             "cvrcurve", "numcust", "zipv", "%seriesrl", "relweight", "vlowpu", "puxharm", "xrharm") + _PC,
    "reactor": ("bus1", "bus2", "phases", "kvar", "kv", "conn", "rmatrix", "xmatrix", "parallel", "r", "x",
                "rp", "z1", "z2", "z0", "z", "rcurve", "lcurve", "lmh") + _PD,
    "generator": ("phases", "bus1", "kv", "kw", "pf", "kvar", "model", "vminpu", "vmaxpu", "yearly", "daily",
                  "duty", "dispmode", "dispvalue", "conn", "rneut", "xneut", "status", "class", "vpu",
                  "maxkvar", "minkvar", "pvfactor", "forceon", "kva", "mva", "xd", "xdp", "xdpp", "h", "d")
    + _PC,
    "pvsystem": ("phases", "bus1", "kv", "irradiance", "pmpp", "%pmpp", "temperature", "pf", "conn", "kvar",
                 "kva", "%cutin", "%cutout", "effcurve", "p-tcurve", "%r", "%x", "model", "vminpu", "vmaxpu",
                 "balanced", "limitcurrent", "yearly", "daily", "duty", "tyearly", "tdaily", "tduty", "class")
    + _PC,
    "fuse": ("monitoredobj", "monitoredterm", "switchedobj", "switchedterm", "fusecurve", "ratedcurrent",
             "delay", "action", "normal", "state") + _CONTROL,
    "recloser": ("monitoredobj", "monitoredterm", "switchedobj", "switchedterm", "numfast", "phasefast",
                 "phasedelayed", "groundfast", "grounddelayed", "phasetrip", "groundtrip", "phaseinst",
                 "groundinst", "reset", "shots", "recloseintervals", "delay", "action", "tdphfast", "tdgrfast",
                 "tdphdelayed", "tdgrdelayed", "normal", "state") + _CONTROL,
    "relay": ("monitoredobj", "monitoredterm", "switchedobj", "switchedterm", "type", "phasecurve",
              "groundcurve", "phasetrip", "groundtrip", "tdphase", "tdground", "phaseinst", "groundinst", "reset",
              "shots", "recloseintervals", "delay", "overvoltcurve", "undervoltcurve", "kvbase", "47%pickup",
              "46baseamps", "46%pickup", "46isqt", "variable", "overtrip", "undertrip", "breakertime", "action",
              "z1mag", "z1ang", "z0mag", "z0ang", "mphase", "mground", "eventlog", "debugtrace", "distreverse",
              "normal", "state") + _CONTROL,
    "swtcontrol": ("switchedobj", "switchedterm", "action", "lock", "delay", "normal", "state", "reset")
    + _CONTROL,
}

DISPLAY = {
    "vsource": "Vsource", "linecode": "LineCode", "line": "Line", "transformer": "Transformer",
    "xfmrcode": "XfmrCode", "regcontrol": "RegControl", "capacitor": "Capacitor", "capcontrol": "CapControl",
    "load": "Load", "reactor": "Reactor", "generator": "Generator", "pvsystem": "PVSystem", "fuse": "Fuse",
    "recloser": "Recloser", "relay": "Relay", "swtcontrol": "SwtControl",
}

IGNORED = {
    **dict.fromkeys(("energymeter", "monitor", "sensor"), "a measurement object"),
    **dict.fromkeys(("loadshape", "growthshape", "tshape", "priceshape", "xycurve", "spectrum", "tcc_curve"),
                    "a curve or time series, not equipment"),
    **dict.fromkeys(("linegeometry", "wiredata", "cndata", "tsdata", "linespacing"),
                    "conductor data, used only by lines that name a geometry"),
    **dict.fromkeys(("invcontrol", "expcontrol", "storagecontroller", "gendispatcher", "genctrl",
                     "upfccontrol", "esvplcontrol", "vvcontrol", "capusercontrol"), "a DER or dispatch control"),
    "fault": "a fault study object",
}

UNSUPPORTED = ("isource", "autotrans", "gictransformer", "gicline", "gicsource", "upfc", "vsconverter",
               "indmach012", "storage", "windgen", "vccs", "dynamiceq", "generic5", "equivalent")

_UNITS_M = {"mi": 1609.344, "kft": 304.8, "km": 1000.0, "m": 1.0, "ft": 0.3048, "in": 0.0254, "cm": 0.01,
            "mm": 0.001}


def resolve_property(cls: str, name: str) -> str | None:
    """Canonical property of ``cls`` that ``name`` spells (exact, ``pct`` for ``%``, or a prefix)."""
    props = PROPERTIES[cls]
    word = name.lower()
    if word in props:
        return word
    if word.startswith("pct") and "%" + word[3:] in props:
        return "%" + word[3:]
    for prop in props:  # OpenDSS takes the first property the abbreviation starts
        if prop.startswith(word):
            return prop
    return None


# ----------------------------------------------------------------------------------------------
# Running the script
# ----------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Setting:
    """One property assignment as written, with where it was written."""

    prop: str
    text: str
    quoted: bool
    file: str
    line: int


@dataclass
class DssObject:
    """An OpenDSS object: its class, lower-case name, label for messages and assignments."""

    cls: str
    name: str
    label: str
    file: str
    line: int
    settings: list[Setting] = field(default_factory=list)


@dataclass
class Script:
    """What a script defines: objects by class and name, options, coordinates and notes."""

    circuit: str = ""
    objects: dict[str, dict[str, DssObject]] = field(default_factory=dict)
    voltage_bases_kv: list[float] = field(default_factory=list)
    base_frequency_hz: float = 60.0
    coords: dict[str, tuple[float, float]] = field(default_factory=dict)
    switching: dict[tuple[str, str], tuple[bool, str, int]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def of(self, cls: str) -> list[DssObject]:
        """Objects of one class in definition order."""
        return list(self.objects.get(cls, {}).values())

    def find(self, cls: str, name: str) -> DssObject | None:
        return self.objects.get(cls, {}).get(name.lower())


def _where(file: str, line: int) -> str:
    return f"{Path(file).name}:{line}"


def interpret(commands: Iterable[Command]) -> Script:
    """Run the commands of a script into a :class:`Script` (see the module docstring)."""
    script = Script()
    active: DssObject | None = None
    last_cls = ""
    for cmd in commands:
        verb = cmd.verb
        if verb == "clear":
            script, active = Script(), None
            continue
        if verb in ("new", "edit"):
            target = cmd.params[0] if cmd.params else None
            if target is None or (target.name and target.name.lower() != "object"):
                raise ParseError(f"{verb.capitalize()} needs the object first, as Class.name", file=cmd.file,
                                 line=cmd.line, element="", fix=f"write '{verb.capitalize()} Line.L1 bus1=...'")
            active = _new(script, target.text, cmd, last_cls) if verb == "new" else _existing(
                script, target.text, cmd, last_cls)
            last_cls = active.cls
            _assign(script, active, cmd.params[1:], cmd)
        elif verb in ("more", "m", "~"):
            if active is None:
                raise ParseError("'~' (More) continues no object", file=cmd.file, line=cmd.line, element="",
                                 fix="start with 'New Class.name' before the continuation lines")
            _assign(script, active, cmd.params, cmd)
        elif not verb and cmd.params and cmd.params[0].name:
            ref, _, prop = cmd.params[0].name.rpartition(".")
            if not ref:
                raise ParseError(f"'{cmd.params[0].name}={cmd.params[0].text}' is not a command", file=cmd.file,
                                 line=cmd.line, element="", fix="edit objects as Class.name.property=value")
            active = _existing(script, ref, cmd, last_cls)
            last_cls = active.cls
            first = cmd.params[0]
            _assign(script, active, (Param(prop, first.text, first.quoted), *cmd.params[1:]), cmd)
        else:
            _command(script, verb, cmd, active)
    return script


def _split_ref(ref: str, cmd: Command, last_cls: str) -> tuple[str, str]:
    """Class and name of ``Class.name`` (a bare name is of the last class used, as in OpenDSS)."""
    cls, dot, name = ref.partition(".")
    if not dot:
        if not last_cls:
            raise ParseError(f"'{ref}' names no class", file=cmd.file, line=cmd.line, element=ref,
                             fix="write Class.name, for example Line.L1")
        return last_cls, ref
    cls = cls.lower()
    return ("vsource", "source") if cls == "circuit" else (cls, name)


def _new(script: Script, ref: str, cmd: Command, last_cls: str) -> DssObject:
    cls, name = _split_ref(ref, cmd, last_cls)
    if ref.lower().startswith("circuit."):  # a circuit comes with its source, Vsource.source
        script.circuit = ref.partition(".")[2]
    label = f"{DISPLAY.get(cls, cls.capitalize())}.{name}"
    if cls not in PROPERTIES and cls not in IGNORED:
        if cls in UNSUPPORTED:
            raise ParseError(f"OpenDSS class '{cls}' is equipment Twin cannot represent", file=cmd.file,
                             line=cmd.line, element=label, fix="remove it or replace it by supported elements")
        raise ParseError(f"unknown element class '{cls}'", file=cmd.file, line=cmd.line, element=label,
                         fix="supported classes: " + ", ".join(DISPLAY.values()) + ", Circuit")
    if cmd.problem:
        raise ParseError(cmd.problem, file=cmd.file, line=cmd.line, element=label, fix="check the brackets")
    objects = script.objects.setdefault(cls, {})
    if name.lower() in objects:
        script.notes.append(f"{_where(cmd.file, cmd.line)}: {label} defined again; the new definition replaces it")
    obj = DssObject(cls, name.lower(), label, cmd.file, cmd.line)
    objects[obj.name] = obj
    if cls in IGNORED:
        script.notes.append(f"{_where(cmd.file, cmd.line)}: {label} ignored: {IGNORED[cls]}")
    return obj


def _existing(script: Script, ref: str, cmd: Command, last_cls: str) -> DssObject:
    cls, name = _split_ref(ref, cmd, last_cls)
    obj = script.find(cls, name)
    if obj is None:
        label = f"{DISPLAY.get(cls, cls.capitalize())}.{name}"
        raise ParseError(f"{label} is not defined", file=cmd.file, line=cmd.line, element=label,
                         fix="define it with New before editing it")
    if cmd.problem:
        raise ParseError(cmd.problem, file=cmd.file, line=cmd.line, element=obj.label, fix="check the brackets")
    return obj


def _assign(script: Script, obj: DssObject, params: Iterable[Param], cmd: Command) -> None:
    """Append the assignments of one command to ``obj``, resolving names and positions."""
    if cmd.problem:
        raise ParseError(cmd.problem, file=cmd.file, line=cmd.line, element=obj.label, fix="check the brackets")
    if obj.cls in IGNORED:
        return
    props = PROPERTIES[obj.cls]
    pointer = -1
    for p in params:
        if p.name:
            prop = resolve_property(obj.cls, p.name)
            if prop is None:
                raise ParseError(f"unknown property '{p.name}' for {DISPLAY[obj.cls]}", file=cmd.file,
                                 line=cmd.line, element=obj.label,
                                 fix=f"{DISPLAY[obj.cls]} properties are: {', '.join(props)}")
            pointer = props.index(prop)
        else:
            pointer += 1
            if pointer >= len(props):
                raise ParseError(f"too many values: '{p.text}' follows the last property", file=cmd.file,
                                 line=cmd.line, element=obj.label, fix="name the property: prop=value")
            prop = props[pointer]
        if prop == "like":
            other = script.find(obj.cls, p.text)
            if other is None:
                raise ParseError(f"like={p.text}: {DISPLAY[obj.cls]}.{p.text} is not defined", file=cmd.file,
                                 line=cmd.line, element=obj.label, fix="define the model object first")
            obj.settings.extend(other.settings)
            continue
        obj.settings.append(Setting(prop, p.text, p.quoted, cmd.file, cmd.line))


def _command(script: Script, verb: str, cmd: Command, active: DssObject | None) -> None:
    """Commands other than object definitions: options, coordinates, switching, the rest noted."""
    where = _where(cmd.file, cmd.line)
    if cmd.problem:
        raise ParseError(cmd.problem, file=cmd.file, line=cmd.line, element=verb.capitalize(),
                         fix="check the brackets")
    if verb == "set":
        _set(script, cmd)
    elif verb in ("calcvoltagebases", "solve"):
        return
    elif verb in ("buscoords", "latlongcoords"):
        if not cmd.params:
            raise ParseError("BusCoords names no file", file=cmd.file, line=cmd.line, element="BusCoords",
                             fix="write 'BusCoords buscoords.csv'")
        _read_coords(script, cmd.folder / cmd.params[0].text.strip(), cmd)
    elif verb in ("open", "close", "disable", "enable"):
        if not cmd.params:
            raise ParseError(f"{verb.capitalize()} names no element", file=cmd.file, line=cmd.line,
                             element=verb.capitalize(), fix=f"write '{verb.capitalize()} Line.X'")
        obj = _existing(script, cmd.params[0].text, cmd, "")
        if verb in ("disable", "enable"):
            obj.settings.append(Setting("enabled", "yes" if verb == "enable" else "no", False, cmd.file, cmd.line))
        else:
            script.switching[(obj.cls, obj.name)] = (verb == "open", cmd.file, cmd.line)
    else:
        script.notes.append(f"{where}: command '{cmd.verb}' ignored")


def _set(script: Script, cmd: Command) -> None:
    for p in cmd.params:
        option = p.name.lower()
        try:
            if option.startswith("voltageb"):
                script.voltage_bases_kv = rpn.numbers(p.text)
            elif option in ("defaultbasefrequency", "defaultbasefreq", "basefrequency", "basefreq"):
                script.base_frequency_hz = rpn.number(p.text, quoted=p.quoted)
            else:
                script.notes.append(f"{_where(cmd.file, cmd.line)}: Set {p.name or p.text}={p.text} ignored "
                                    "(a solution or display option)")
        except ValueError as err:
            raise ParseError(f"Set {p.name}={p.text}: {err}", file=cmd.file, line=cmd.line, element="Set",
                             fix="give numbers, for example voltagebases=[115, 12.47]") from err


def _read_coords(script: Script, path: Path, cmd: Command) -> None:
    """Bus coordinates from a ``name, x, y`` file (commas or blanks; ``!`` and ``//`` comments)."""
    if not path.is_file():
        raise ParseError(f"BusCoords: file not found: {path}", file=cmd.file, line=cmd.line, element="BusCoords",
                         fix="check the name; it is relative to the folder of the script")
    with path.open(encoding="utf-8", errors="replace") as fh:
        for number, raw in enumerate(fh, start=1):
            text = raw.split("!", 1)[0].split("//", 1)[0].replace(",", " ").split()
            if not text:
                continue
            try:
                script.coords[text[0].lower()] = (float(text[1]), float(text[2]))
            except (IndexError, ValueError) as err:
                raise ParseError(f"'{raw.strip()}' is not 'bus, x, y'", file=str(path), line=number,
                                 element="BusCoords", fix="each line: bus name, x, y") from err


# ----------------------------------------------------------------------------------------------
# Reading values of one object's assignments
# ----------------------------------------------------------------------------------------------


@contextmanager
def _at(obj: DssObject, s: Setting | None = None) -> Iterator[None]:
    """Turn a value error inside into a ParseError at the assignment (or the object)."""
    try:
        yield
    except ParseError:
        raise
    except (ValueError, KeyError, IndexError, TypeError, ZeroDivisionError) as err:
        file, line = (s.file, s.line) if s else (obj.file, obj.line)
        what = f"{s.prop}={s.text}: " if s else ""
        message = err.args[0] if isinstance(err, KeyError) and err.args else str(err)
        raise ParseError(f"{what}{message}", file=file, line=line, element=obj.label) from err


def _fail(obj: DssObject, s: Setting | None, message: str, fix: str = "") -> ParseError:
    file, line = (s.file, s.line) if s else (obj.file, obj.line)
    return ParseError(message, file=file, line=line, element=obj.label, fix=fix)


def _num(s: Setting) -> float:
    return rpn.number(s.text, quoted=s.quoted)


def _int(s: Setting) -> int:
    return rpn.integer(s.text, quoted=s.quoted)


def _word(s: Setting) -> str:
    return s.text.strip().lower()


def _units(s: Setting) -> str | None:
    word = _word(s)
    if word.startswith("no"):
        return None
    for prefix, unit in (("mi", "mi"), ("kf", "kft"), ("km", "km"), ("me", "m"), ("ft", "ft"), ("in", "in"),
                         ("cm", "cm"), ("mm", "mm")):
        if word.startswith(prefix):
            return unit
    if word == "m":
        return "m"
    raise ValueError(f"'{s.text}' is not a length unit (none, mi, kft, km, m, ft, in, cm, mm)")


def _conn(s: Setting) -> str:
    word = _word(s)
    if word.startswith(("w", "y", "ln")):
        return "wye"
    if word.startswith(("d", "ll")):
        return "delta"
    raise ValueError(f"'{s.text}' is not a connection (wye or delta)")


def _complex(s: Setting) -> tuple[float, float]:
    values = rpn.numbers(s.text)
    if len(values) != 2:
        raise ValueError("give [real imaginary]")
    return values[0], values[1]


@dataclass
class _Terminal:
    bus: str
    nodes: tuple[int, ...]


def _terminal(obj: DssObject, s: Setting | None, text: str | None, nconds: int, nphases: int,
              default_bus: str = "") -> _Terminal:
    """Bus and node of each conductor: ``"650.1.2"``; unnamed nodes 1..phases then 0 (ground)."""
    if not 1 <= nphases <= 3:
        raise _fail(obj, None, f"{nphases} phases: Twin models elements of 1, 2 or 3 phases",
                    fix="set phases= to 1, 2 or 3")
    nodes = [*range(1, nphases + 1), *([0] * (nconds - nphases))][:nconds]
    text = (text or default_bus).strip()
    name, _, rest = text.partition(".")
    if not name:
        raise _fail(obj, s, "no bus given", fix="set bus1=... (and bus2=... for two-terminal elements)")
    if rest:
        given = rest.split(".")
        if len(given) > nconds:
            raise _fail(obj, s, f"bus '{text}' names {len(given)} nodes but {obj.label} has {nconds} conductor(s)",
                        fix="give one node per conductor")
        for k, word in enumerate(given):
            if not word.strip().isdigit():
                raise _fail(obj, s, f"bus '{text}': node '{word}' is not a whole number",
                            fix="write nodes as bus.1.2.3")
            nodes[k] = int(word)
            if nodes[k] > 3:
                raise _fail(obj, s, f"bus '{text}': node {nodes[k]}; Twin buses have nodes 1-3 (phases A, B, C, or "
                            "legs 1, 2 of a split-phase bus) and 0 (ground)",
                            fix="use nodes 1, 2, 3 for phases A, B, C and 0 for ground")
    return _Terminal(name.lower(), tuple(nodes))


# ----------------------------------------------------------------------------------------------
# Element states: each object's assignments replayed as OpenDSS applies them
# ----------------------------------------------------------------------------------------------

_SEQ_DEFAULT = (0.058, 0.1206, 0.1784, 0.4047, 3.4, 1.6)  # r1 x1 r0 x0 ohm/unit, c1 c0 nF/unit
_SEQ_INDEX = {"r1": 0, "x1": 1, "r0": 2, "x0": 3, "c1": 4, "c0": 5}


def _seq_matrices(seq: Iterable[float], n: int, *, line: bool = True) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """R, X and C (nF) per unit length from sequence data.

    A 1-phase *line* takes the positive sequence; a LineCode object applies the 3-phase formula
    even to one phase (OpenDSS does both; it matters for the default C of matrix codes).
    """
    r1, x1, r0, x0, c1, c0 = seq
    if n == 1 and line:
        return np.array([[r1]]), np.array([[x1]]), np.array([[c1]])
    eye, off = np.eye(n), 1.0 - np.eye(n)
    return ((2 * r1 + r0) / 3 * eye + (r0 - r1) / 3 * off, (2 * x1 + x0) / 3 * eye + (x0 - x1) / 3 * off,
            (2 * c1 + c0) / 3 * eye + (c0 - c1) / 3 * off)


def _kron(m: np.ndarray, k: int) -> np.ndarray:
    keep = [i for i in range(len(m)) if i != k]
    return m[np.ix_(keep, keep)] - np.outer(m[keep, k], m[k, keep]) / m[k, k]


@dataclass
class _LineCode:
    obj: DssObject
    n: int = 3
    seq: list[float] = field(default_factory=lambda: list(_SEQ_DEFAULT))
    mats: dict[str, np.ndarray] = field(default_factory=dict)
    is_matrix: bool = False
    units: str | None = None
    freq: float | None = None
    normamps: float = 400.0
    emergamps: float = 600.0
    kind: LineKind | None = None

    def matrices(self, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """R, X (ohm/unit) and C (nF/unit) with ``n`` phases (sequence codes adapt to any n)."""
        if not self.is_matrix:
            return _seq_matrices(self.seq, n)
        defaults = _seq_matrices(self.seq, self.n, line=False)
        return tuple(self.mats.get(k, d) for k, d in zip("rxc", defaults))  # type: ignore[return-value]


def _linecode(obj: DssObject) -> _LineCode:
    code = _LineCode(obj)
    kron, neutral = False, None
    for s in obj.settings:
        with _at(obj, s):
            p = s.prop
            if p == "nphases":
                n = _int(s)
                if n < 1:
                    raise ValueError("a line code needs at least one phase")
                if n != code.n:
                    code.n, code.mats, code.is_matrix = n, {}, False
            elif p in _SEQ_INDEX:
                code.seq[_SEQ_INDEX[p]] = _num(s)
                code.is_matrix = False
            elif p in ("b1", "b0"):
                code.seq[4 if p == "b1" else 5] = _num(s) / (2 * math.pi * (code.freq or 60.0)) * 1e3
                code.is_matrix = False
            elif p in ("rmatrix", "xmatrix", "cmatrix"):
                code.mats[p[0]] = rpn.matrix(s.text, code.n)
                code.is_matrix = True
            elif p == "units":
                code.units = _units(s)
            elif p == "basefreq":
                code.freq = _num(s)
            elif p == "normamps":
                code.normamps = _num(s)
            elif p == "emergamps":
                code.emergamps = _num(s)
            elif p == "linetype":
                code.kind = LineKind.underground if _word(s).startswith("ug") else None
            elif p == "kron":
                kron = rpn.boolean(s.text)
            elif p == "neutral":
                neutral = _int(s)
    if kron and code.is_matrix and code.n > 1:
        with _at(obj):
            k = (neutral or code.n) - 1
            r, x, c = code.matrices(code.n)
            z = _kron(r + 1j * x, k)
            c_red = np.linalg.inv(_kron(np.linalg.inv(c), k)) if np.any(c) else np.zeros_like(z.real)
            code.mats, code.n = {"r": z.real, "x": z.imag, "c": c_red}, code.n - 1
    return code


@dataclass
class _Line:
    obj: DssObject
    bus1: tuple[str | None, Setting | None] = (None, None)
    bus2: tuple[str | None, Setting | None] = (None, None)
    n: int = 3
    code: _LineCode | None = None
    length: float = 1.0
    units: str | None = None
    stated_units: str | None = None
    seq: list[float] = field(default_factory=lambda: list(_SEQ_DEFAULT))
    cap_set: bool = False
    mats: dict[str, np.ndarray] = field(default_factory=dict)
    mode: str = "seq"  # seq | matrix (in-line impedance) | code
    switch: bool = False
    enabled: bool = True
    normamps: float | None = None
    kind: LineKind | None = None
    term1: _Terminal | None = None
    term2: _Terminal | None = None

    def own_matrices(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        seq = list(self.seq)
        if not self.cap_set and self.mode == "seq":  # default C is per kft (OpenDSS rescales it)
            factor = _UNITS_M["kft"] / _UNITS_M[self.units] if self.units else 1.0
            seq[4], seq[5] = seq[4] / factor, seq[5] / factor
        defaults = _seq_matrices(seq, self.n)
        if self.mode == "seq":
            return defaults
        return tuple(self.mats.get(k, d) for k, d in zip("rxc", defaults))  # type: ignore[return-value]


def _line(obj: DssObject, codes: dict[str, _LineCode]) -> _Line:
    ln = _Line(obj)
    for s in obj.settings:
        with _at(obj, s):
            p = s.prop
            if p == "bus1":
                ln.bus1 = (s.text, s)
            elif p == "bus2":
                ln.bus2 = (s.text, s)
            elif p == "linecode":
                code = codes.get(_word(s))
                if code is None:
                    raise _fail(obj, s, f"line code '{s.text}' is not defined",
                                fix="define 'New LineCode.name ...' before the lines that use it")
                ln.code, ln.mode, ln.n, ln.normamps = code, "code", code.n, None
            elif p == "length":
                ln.length = _num(s)
            elif p == "phases":
                n = _int(s)
                fixed = (ln.mode == "code" and ln.code.is_matrix) or ln.mode == "matrix"
                if n != ln.n and fixed:
                    raise _fail(obj, s, f"phases={n} contradicts its {ln.n}-phase impedance matrix",
                                fix="use a line code with the right number of phases")
                ln.n = n
            elif p in _SEQ_INDEX or p in ("b1", "b0"):
                if ln.mode == "code":
                    ln.seq = list(ln.code.seq) if not ln.code.is_matrix else list(_SEQ_DEFAULT)
                    ln.cap_set = not ln.code.is_matrix
                value = _num(s)
                if p in ("b1", "b0"):
                    p, value = ("c1" if p == "b1" else "c0"), value / (2 * math.pi * 60.0) * 1e3
                ln.seq[_SEQ_INDEX[p]] = value
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
                ln.units = ln.stated_units = _units(s)
            elif p == "enabled":
                ln.enabled = rpn.boolean(s.text)
            elif p == "normamps":
                ln.normamps = _num(s)
            elif p == "linetype":
                ln.kind = LineKind.underground if _word(s).startswith("ug") else None
            elif p in ("geometry", "spacing", "wires", "cncables", "tscables"):
                raise _fail(obj, s, f"lines defined by {p} are not supported",
                            fix="compute the impedance (OpenDSS 'Show LineConstants') and use a LineCode")
    with _at(obj):
        ln.term1 = _terminal(obj, ln.bus1[1], ln.bus1[0], ln.n, ln.n)
        ln.term2 = _terminal(obj, ln.bus2[1], ln.bus2[0], ln.n, ln.n)
    return ln


@dataclass
class _Winding:
    conn: str = "wye"
    kv: float = 12.47
    kva: float = 1000.0
    tap: float = 1.0
    r_pct: float = 0.2
    bus: tuple[str | None, Setting | None] = (None, None)
    maxtap: float = 1.1
    mintap: float = 0.9
    numtaps: int = 32
    limits_set: bool = False
    term: _Terminal | None = None


@dataclass
class _Xfmr:
    obj: DssObject
    phases: int = 3
    windings: list[_Winding] = field(default_factory=lambda: [_Winding(), _Winding()])
    active: int = 0
    x_pct: list[float] = field(default_factory=lambda: [7.0, 35.0, 30.0])
    noload_pct: float = 0.0
    imag_pct: float = 0.0
    bank: str = ""
    enabled: bool = True

    @property
    def center_tap(self) -> bool:
        w = self.windings
        return self.phases == 1 and len(w) == 3 and w[1].term.bus == w[2].term.bus


_X_DEFAULT = {"xhl": (0, 7.0), "x12": (0, 7.0), "xht": (1, 35.0), "x13": (1, 35.0), "xlt": (2, 30.0),
              "x23": (2, 30.0)}
_PER_WINDING_ARRAY = {"kvs": "kv", "kvas": "kva", "taps": "tap", "%rs": "r_pct"}


def _transformer(obj: DssObject, xfmrcodes: dict[str, DssObject]) -> _Xfmr:
    t = _Xfmr(obj)
    _apply_xfmr(t, obj, obj.settings, xfmrcodes)
    with _at(obj):
        for k, w in enumerate(t.windings):
            w.term = _terminal(obj, w.bus[1], w.bus[0], t.phases + 1, t.phases)
    return t


def _apply_xfmr(t: _Xfmr, obj: DssObject, settings: list[Setting], xfmrcodes: dict[str, DssObject]) -> None:
    for s in settings:
        with _at(obj, s):
            p, w = s.prop, t.windings[t.active]
            if p == "phases":
                t.phases = _int(s)
            elif p == "windings":
                n = _int(s)
                if n not in (2, 3):
                    raise ValueError("Twin models 2- and 3-winding transformers")
                buses = [x.bus for x in t.windings] + [(None, None)] * 3
                t.windings = [_Winding(bus=buses[k]) for k in range(n)]
                t.active = 0
            elif p == "wdg":
                k = _int(s)
                if not 1 <= k <= len(t.windings):
                    raise ValueError(f"winding {k} does not exist (windings={len(t.windings)})")
                t.active = k - 1
            elif p == "bus":
                w.bus = (s.text, s)
            elif p == "conn":
                w.conn = _conn(s)
            elif p == "kv":
                w.kv = _num(s)
            elif p == "kva":
                w.kva = _num(s)
                if t.active == 0:
                    for other in t.windings[1:]:
                        other.kva = w.kva
                elif len(t.windings) == 2:
                    t.windings[0].kva = w.kva
            elif p == "tap":
                w.tap = _num(s)
            elif p == "%r":
                w.r_pct = _num(s)
            elif p in ("maxtap", "mintap", "numtaps"):
                setattr(w, p, _int(s) if p == "numtaps" else _num(s))
                w.limits_set = True
            elif p == "buses":
                for x, text in zip(t.windings, _array(s, len(t.windings))):
                    x.bus = (text, s)
            elif p == "conns":
                for x, text in zip(t.windings, _array(s, len(t.windings))):
                    x.conn = _conn(Setting(p, text, False, s.file, s.line))
            elif p in _PER_WINDING_ARRAY:
                values = [rpn.number(v) for v in _array(s, len(t.windings))]
                for x, v in zip(t.windings, values):
                    setattr(x, _PER_WINDING_ARRAY[p], v)
            elif p in _X_DEFAULT:
                k, default = _X_DEFAULT[p]
                t.x_pct[k] = _num(s) or default
            elif p == "xscarray":
                for k, v in enumerate(rpn.numbers(s.text)[:3]):
                    t.x_pct[k] = v
            elif p == "%loadloss":
                t.windings[0].r_pct = t.windings[1].r_pct = _num(s) / 2.0
            elif p == "%noloadloss":
                t.noload_pct = _num(s)
            elif p == "%imag":
                t.imag_pct = _num(s)
            elif p == "bank":
                t.bank = s.text.strip()
            elif p == "enabled":
                t.enabled = rpn.boolean(s.text)
            elif p == "xfmrcode":
                code = xfmrcodes.get(_word(s))
                if code is None:
                    raise _fail(obj, s, f"XfmrCode '{s.text}' is not defined",
                                fix="define 'New XfmrCode.name ...' before the transformers that use it")
                active = t.active
                _apply_xfmr(t, code, code.settings, xfmrcodes)
                t.active = active


def _array(s: Setting, n: int) -> list[str]:
    items = rpn.split(s.text)
    if len(items) > n:
        raise ValueError(f"{len(items)} values for {n} windings")
    return items


def _state(obj: DssObject, defaults: dict[str, object]) -> tuple[dict[str, object], dict[str, Setting]]:
    """Last text of each property (for classes whose properties do not interact)."""
    values, where = dict(defaults), {}
    for s in obj.settings:
        values[s.prop] = s.text
        where[s.prop] = s
    return values, where


# ----------------------------------------------------------------------------------------------
# Building the network
# ----------------------------------------------------------------------------------------------

_ZIP = {1: ((0, 0, 1), (0, 0, 1)), 2: ((1, 0, 0), (1, 0, 0)), 3: ((0, 0, 1), (1, 0, 0)),
        4: ((0, 1, 0), (1, 0, 0)), 5: ((0, 1, 0), (0, 1, 0)), 6: ((0, 0, 1), (0, 0, 1)),
        7: ((0, 0, 1), (1, 0, 0))}
_CAPCONTROL_KIND = {"c": CapControlKind.current, "v": CapControlKind.voltage, "k": CapControlKind.kvar,
                    "t": CapControlKind.time, "p": CapControlKind.pf}  # by first letter, as OpenDSS reads it
_SWITCH_NAME = re.compile(r"sw(\d|_|-|$)")  # IEEE 123-bus: Sw1..Sw8, short lines with in-line impedance
_BRANCH_SLOT = {(1, 2): 0, (2, 1): 0, (2, 3): 1, (3, 2): 1, (3, 1): 2, (1, 3): 2}


@dataclass
class _Attached:
    """An element's terminal at a bus; in-service ones make the bus's phases (as in OpenDSS)."""

    term: _Terminal
    obj: DssObject
    in_service: bool


class _Builder:
    """Turns a :class:`Script` into table rows; one method per component type."""

    def __init__(self, script: Script, unitless_length: str) -> None:
        self.script = script
        self.unitless = unitless_length
        self.notes = list(script.notes)
        self.terms: list[_Attached] = []
        self.rows: dict[str, list[dict]] = {name: [] for name in SCHEMAS}
        self.codes_out: dict[str, dict] = {}
        self.edges: list[tuple[str, str]] = []  # buses joined by lines, switches and reactors
        self.xfmr_ratios: list[list[tuple[str, float]]] = []  # (bus, rated volts to ground) per winding
        self.source_volts: list[tuple[str, float]] = []
        self.split: set[str] = set()
        self.split_volts: dict[str, float] = {}
        self.unitless_used = 0
        self.freq = script.base_frequency_hz

    # -- states --------------------------------------------------------------------------------

    def parse(self) -> None:
        """Replay line codes, lines, transformers and reactors (what topology needs first)."""
        s = self.script
        self.codes = {o.name: _linecode(o) for o in s.of("linecode")}
        self.lines = [_line(o, self.codes) for o in s.of("line")]
        xfmrcodes = {o.name: o for o in s.of("xfmrcode")}
        self.xfmrs = []
        for o in s.of("transformer"):
            t = _transformer(o, xfmrcodes)
            if t.enabled:
                self.xfmrs.append(t)
            else:
                self.notes.append(f"{_where(o.file, o.line)}: {o.label} is disabled: not imported")
        self.xfmr_by_name = {t.obj.name: t for t in self.xfmrs}
        self.reactor_parts = [(o, *_reactor(o, self.freq)) for o in s.of("reactor")]

    def find_split_phase(self) -> None:
        """Centre-tap secondaries and every bus joined to them by lines, switches or reactors."""
        adjacency: dict[str, list[str]] = {}
        for ln in self.lines:
            adjacency.setdefault(ln.term1.bus, []).append(ln.term2.bus)
            adjacency.setdefault(ln.term2.bus, []).append(ln.term1.bus)
        for _, _, _, (term1, term2) in self.reactor_parts:
            adjacency.setdefault(term1.bus, []).append(term2.bus)
            adjacency.setdefault(term2.bus, []).append(term1.bus)
        for t in self.xfmrs:
            if not t.center_tap:
                continue
            seed = t.windings[1].term.bus
            volts = (t.windings[1].kv + t.windings[2].kv) * 1000.0
            queue = deque([seed])
            while queue:
                bus = queue.popleft()
                if bus in self.split:
                    continue
                self.split.add(bus)
                self.split_volts[bus] = volts
                queue.extend(adjacency.get(bus, ()))

    def flags(self, obj: DssObject, term: _Terminal) -> int:
        """Phase flags of the non-zero nodes of a terminal: A, B, C, or S1, S2 on a split-phase bus."""
        split = term.bus in self.split
        out = 0
        for k in term.nodes:
            if k == 0:
                continue
            if k > (2 if split else 3):
                kind = "split-phase (120/240 V) bus, which has legs 1 and 2" if split else "bus, which has nodes 1-3"
                raise _fail(obj, None, f"node {k} at {term.bus}: a {kind}",
                            fix="use nodes 1, 2, 3 for phases A, B, C and 0 for ground")
            out |= (8 if split else 1) << (k - 1)
        return out

    # -- sources -------------------------------------------------------------------------------

    def sources(self) -> None:
        """Source rows; their buses start the voltage propagation."""
        for o in self.script.of("vsource"):
            row, enabled, term = _vsource(o)
            if not enabled:
                self.notes.append(f"{_where(o.file, o.line)}: {o.label} is disabled: not imported")
                continue
            self.rows["source"].append(row)
            self.terms.append(_Attached(term, o, True))
            n = len(term.nodes)
            self.source_volts.append((term.bus, row["v_nom_v"] / (SQRT3 if n > 1 else 1.0)))

    # -- lines, switches, reactors -------------------------------------------------------------

    def lines_and_switches(self) -> None:
        """Every defined line code, then line and switch rows (with code variants as needed)."""
        for code in self.codes.values():
            self._code_row(code.obj.name, code, code.n, code.units or self.unitless, None)
        for ln in self.lines:
            o = ln.obj
            t1, t2 = ln.term1, ln.term2
            with _at(o):
                if 0 in t1.nodes or 0 in t2.nodes:
                    raise _fail(o, ln.bus1[1], "a line conductor on node 0 (ground) is not supported",
                                fix="Kron-reduce the neutral into the line code and connect phases only")
                if t1.nodes != t2.nodes:
                    raise _fail(o, ln.bus2[1], f"conductors join different nodes ({'.'.join(map(str, t1.nodes))} "
                                f"to {'.'.join(map(str, t2.nodes))}); Twin lines keep their phases",
                                fix="connect the same nodes at both ends")
            is_switch = ln.switch or bool(_SWITCH_NAME.match(o.name) and ln.mode != "code" and ln.length <= 0.01)
            if len(set(t1.nodes)) != len(t1.nodes):
                if not is_switch:
                    raise _fail(o, ln.bus1[1], f"a node is used twice ({ln.bus1[0]} on {ln.n} conductors)",
                                fix="list each node once, or set phases= to the number of nodes")
                self.notes.append(f"{_where(o.file, o.line)}: {o.label} has {ln.n} conductors on nodes "
                                  f"{'.'.join(map(str, t1.nodes))} (phases= missing?): imported on the nodes it "
                                  "joins, as OpenDSS connects it")
            live = ln.enabled and not self._opened(o)
            self.terms += [_Attached(t1, o, ln.enabled), _Attached(t2, o, ln.enabled)]
            self.edges.append((t1.bus, t2.bus))
            if is_switch:
                self.rows["switch"].append({
                    "id": o.name, "from_bus": t1.bus, "to_bus": t2.bus, "phases": (o, t1),
                    "kind": SwitchKind.load_break_switch, "normal_open": not live, "open": not live,
                    "rated_a": ln.normamps if ln.normamps is not None else np.nan,
                })
                continue
            code_id, unit = self._line_code(ln)
            if self._opened(o):
                self.notes.append(f"{o.label} opened by a script command: imported out of service")
            kind = ln.kind or (ln.code.kind if ln.code else None) or LineKind.overhead
            self.rows["line"].append({
                "id": o.name, "from_bus": t1.bus, "to_bus": t2.bus, "phases": (o, t1), "code": code_id,
                "length_m": ln.length * _UNITS_M[unit], "kind": kind,
                "rated_a": ln.normamps if ln.normamps is not None else np.nan, "in_service": live,
            })

    def _opened(self, o: DssObject) -> bool:
        state = self.script.switching.get((o.cls, o.name))
        return bool(state and state[0])

    def _line_code(self, ln: _Line) -> tuple[str, str]:
        """Id of the code a line uses (a variant when needed) and the line's length unit."""
        nodes = ln.term1.nodes
        order = sorted(range(len(nodes)), key=nodes.__getitem__)
        permuted = order != list(range(len(nodes)))
        if ln.mode != "code":
            unit = ln.stated_units or self._unitless()
            self._code_row(f"line:{ln.obj.name}", None, ln.n, unit, order, line=ln)
            return f"line:{ln.obj.name}", unit
        code = ln.code
        unit = ln.units or code.units or self._unitless()
        code_unit = code.units or unit
        tags = []
        if permuted:
            split = ln.term1.bus in self.split
            tags.append("".join((("S1", "S2") if split else ("A", "B", "C"))[k - 1] for k in nodes))
        if ln.n != code.n:
            tags.append(f"{ln.n}ph")
        if code_unit != (code.units or self.unitless):
            tags.append(code_unit)
        code_id = "@".join([code.obj.name, *tags])
        if code_id not in self.codes_out:
            self._code_row(code_id, code, ln.n, code_unit, order)
        return code_id, unit

    def _unitless(self) -> str:
        self.unitless_used += 1
        return self.unitless

    def _code_row(self, code_id: str, code: _LineCode | None, n: int, unit: str, order: list[int] | None,
                  *, line: _Line | None = None) -> None:
        if code is not None:
            r, x, c = code.matrices(n)
            freq = code.freq or self.freq
            rated, emerg = code.normamps, code.emergamps
        else:
            r, x, c = line.own_matrices()
            freq, rated, emerg = self.freq, line.normamps if line.normamps is not None else 400.0, np.nan
        if order is not None:
            r, x, c = (m[np.ix_(order, order)] for m in (r, x, c))
        per_m = 1.0 / _UNITS_M[unit]
        self.codes_out[code_id] = {
            "id": code_id, "n_phases": n, "r_ohm_per_m": _pad(r * per_m), "x_ohm_per_m": _pad(x * per_m),
            "b_s_per_m": _pad(c * 1e-9 * 2 * math.pi * freq * per_m), "rated_a": rated, "emerg_a": emerg,
        }

    def reactors(self) -> None:
        """Series reactors as 1 m lines of kind reactor."""
        for o, row, code, terms in self.reactor_parts:
            self.terms += [_Attached(t, o, row["in_service"]) for t in terms]
            self.edges.append((terms[0].bus, terms[1].bus))
            self.codes_out[code["id"]] = code
            row["phases"] = (o, terms[0])
            self.rows["line"].append(row)

    # -- transformers and regulators -----------------------------------------------------------

    def transformers(self, regulated: dict[str, int]) -> None:
        """Transformer rows; tap limits are the regulated winding's (``regulated``: name -> winding)."""
        for t in self.xfmrs:
            o, ws = t.obj, t.windings
            volts = []
            buses, phases, conns = [], [], []
            for w in ws:
                nodes = w.term.nodes
                self.terms.append(_Attached(w.term, o, True))
                both = t.phases == 1 and nodes[0] != 0 and nodes[1] != 0
                to_ground = w.kv * 1000.0 * w.tap / (SQRT3 if t.phases > 1 or both else 1.0)
                volts.append((w.term.bus, to_ground))
                buses.append(w.term.bus)
                phases.append(self.flags(o, w.term))
                if w.conn == "delta" or both:
                    conns.append(Conn.delta)
                else:  # a 1-phase winding with one end on node 0 is grounded, whichever end it is
                    grounded = 0 in nodes if t.phases == 1 else nodes[t.phases] == 0
                    conns.append(Conn.wye if grounded else Conn.wye_ungrounded)
            self.xfmr_ratios.append(volts)
            k = regulated.get(o.name)
            limits = ws[k - 1] if k and k <= len(ws) else next((w for w in ws if w.limits_set), ws[0])
            kind = (TransformerKind.center_tap if t.center_tap else
                    TransformerKind.single_phase if t.phases == 1 else TransformerKind.three_phase)
            pad = 3 - len(ws)
            self.rows["transformer"].append({
                "id": o.name, "kind": kind, "n_windings": len(ws), "bus": buses + [""] * pad,
                "phases": phases + [0] * pad, "conn": conns + [Conn.wye] * pad,
                "v_rated_v": [w.kv * 1000.0 for w in ws] + [np.nan] * pad,
                "s_rated_va": [w.kva * 1000.0 for w in ws] + [np.nan] * pad,
                "r_pct": [w.r_pct for w in ws] + [0.0] * pad, "tap_pu": [w.tap for w in ws] + [1.0] * pad,
                "x_hl_pct": t.x_pct[0], "x_ht_pct": t.x_pct[1] if len(ws) == 3 else 0.0,
                "x_lt_pct": t.x_pct[2] if len(ws) == 3 else 0.0, "no_load_loss_pct": t.noload_pct,
                "imag_pct": t.imag_pct, "tap_min_pu": limits.mintap, "tap_max_pu": limits.maxtap,
                "n_taps": limits.numtaps, "bank": t.bank.lower(),
            })

    def regulators(self) -> dict[str, int]:
        """Regulator rows; returns the regulated winding of each transformer."""
        regulated: dict[str, int] = {}
        for o in self.script.of("regcontrol"):
            v, where = _state(o, {"transformer": "", "winding": "1", "vreg": "120", "band": "3", "ptratio": "60",
                                  "ctprim": "300", "r": "0", "x": "0", "delay": "15", "ptphase": "1",
                                  "enabled": "yes"})
            with _at(o, where.get("transformer")):
                name = str(v["transformer"]).lower()
                t = self.xfmr_by_name.get(name)
                if t is None:
                    raise _fail(o, where.get("transformer"), f"transformer '{v['transformer']}' is not defined"
                                if name else "no transformer given", fix="set transformer= to a defined Transformer")
            row = {"id": o.name, "transformer": name}
            for key, col in (("vreg", "v_set_v"), ("band", "band_v"), ("ptratio", "pt_ratio"),
                             ("ctprim", "ct_primary_a"), ("r", "ldc_r_v"), ("x", "ldc_x_v"), ("delay", "delay_s")):
                with _at(o, where.get(key)):
                    row[col] = rpn.number(str(v[key]), quoted=_quoted(where.get(key)))
            with _at(o, where.get("winding")):
                row["winding"] = rpn.integer(str(v["winding"]))
                if not 1 <= row["winding"] <= len(t.windings):
                    raise ValueError(f"{t.obj.label} has {len(t.windings)} windings")
            with _at(o, where.get("enabled")):
                row["enabled"] = rpn.boolean(str(v["enabled"]))
            with _at(o, where.get("ptphase")):
                row["phase"] = self._monitored_slot(o, str(v["ptphase"]), t.windings[row["winding"] - 1].term)
            regulated[name] = row["winding"]
            self.rows["regulator"].append(row)
        return regulated

    def _monitored_slot(self, o: DssObject, text: str, term: _Terminal | None) -> int:
        """Slot of the monitored phase: PTphase/CTphase counts conductors of the monitored terminal."""
        word = text.strip().lower()
        if word in ("max", "min", "avg"):
            self.notes.append(f"{_where(o.file, o.line)}: {o.label} monitors the {word} phase; stored as phase 0")
            return 0
        k = rpn.integer(word)
        if term is not None and 1 <= k <= len(term.nodes) and term.nodes[k - 1] > 0:
            return term.nodes[k - 1] - 1
        return max(0, min(2, k - 1))

    # -- shunt elements ------------------------------------------------------------------------

    def capacitors(self) -> None:
        """Capacitor rows: kvar of all steps, shared over phases or delta branches."""
        for o in self.script.of("capacitor"):
            v, where = _state(o, {"bus1": None, "bus2": None, "phases": "3", "kvar": "1200", "kv": "12.47",
                                  "conn": "wye", "states": "", "enabled": "yes"})
            with _at(o, where.get("phases")):
                n = rpn.integer(str(v["phases"]))
            with _at(o, where.get("conn")):
                conn = _conn(where["conn"]) if "conn" in where else "wye"
            term = _terminal(o, where.get("bus1"), v["bus1"], n if conn == "wye" or n > 1 else 2, n)
            if v["bus2"] is not None:
                term2 = _terminal(o, where.get("bus2"), v["bus2"], len(term.nodes), n)
                if any(term2.nodes):
                    raise _fail(o, where.get("bus2"), "series capacitors (bus2 on phase nodes) are not supported",
                                fix="connect bus2 to ground nodes (.0) or leave it out")
            with _at(o, where.get("kvar")):
                kvar = sum(rpn.numbers(str(v["kvar"])))
            with _at(o, where.get("kv")):
                kv = rpn.number(str(v["kv"]), quoted=_quoted(where.get("kv")))
            with _at(o, where.get("states")):
                states = rpn.numbers(str(v["states"])) if v["states"] else [1.0]
                enabled = rpn.boolean(str(v["enabled"]))
            slots = _slots(o, term, n, conn)
            q = [0.0, 0.0, 0.0]
            for slot in slots:
                q[slot] += kvar * 1000.0 / len(slots)
            self.terms.append(_Attached(term, o, enabled))
            self.rows["capacitor"].append({
                "id": o.name, "bus": term.bus, "phases": (o, term), "conn": Conn.delta if conn == "delta" else Conn.wye,
                "v_rated_v": kv * 1000.0, "q_rated_var": q, "closed": enabled and any(s > 0 for s in states),
            })

    def cap_controls(self) -> None:
        """Capacitor control rows; the monitored element is named by its Twin table."""
        tables = {("line", r["id"]): "line" for r in self.rows["line"]}
        tables |= {("line", r["id"]): "switch" for r in self.rows["switch"]}
        tables |= {("transformer", r["id"]): "transformer" for r in self.rows["transformer"]}
        line_terms = {ln.obj.name: (ln.term1, ln.term2) for ln in self.lines}
        for o in self.script.of("capcontrol"):
            v, where = _state(o, {"element": "", "terminal": "1", "capacitor": "", "type": "current",
                                  "ptratio": "60", "ctratio": "60", "onsetting": "120", "offsetting": "140",
                                  "delay": "15", "voltoverride": "no", "vmax": "126", "vmin": "115",
                                  "delayoff": "15", "ptphase": "1", "ctphase": "1", "enabled": "yes"})
            with _at(o, where.get("capacitor")):
                cap = str(v["capacitor"]).lower()
                if self.script.find("capacitor", cap) is None:
                    raise _fail(o, where.get("capacitor"), f"capacitor '{v['capacitor']}' is not defined",
                                fix="set capacitor= to a defined Capacitor")
            with _at(o, where.get("type")):
                kind = _CAPCONTROL_KIND.get(str(v["type"]).strip().lower()[:1])
                if kind is None:
                    raise ValueError(f"'{v['type']}' is not a control type (current, voltage, kvar, pf, time)")
            element = str(v["element"]).strip().lower()
            cls, _, name = element.partition(".")
            table = tables.get((cls, name), cls)
            row = {"id": o.name, "capacitor": cap, "kind": kind, "element": f"{table}.{name}" if name else ""}
            for key, col in (("terminal", "terminal"), ("ptratio", "pt_ratio"), ("ctratio", "ct_ratio"),
                             ("onsetting", "on_value"), ("offsetting", "off_value"), ("vmin", "v_min_v"),
                             ("vmax", "v_max_v"), ("delay", "delay_s"), ("delayoff", "delay_off_s")):
                with _at(o, where.get(key)):
                    row[col] = rpn.number(str(v[key]), quoted=_quoted(where.get(key)))
            row["terminal"] = int(row["terminal"])
            if kind == CapControlKind.kvar:
                row["on_value"], row["off_value"] = row["on_value"] * 1000.0, row["off_value"] * 1000.0
            with _at(o, where.get("voltoverride")):
                row["voltage_override"] = rpn.boolean(str(v["voltoverride"]))
                row["enabled"] = rpn.boolean(str(v["enabled"]))
            key = "ptphase" if kind == CapControlKind.voltage else "ctphase"
            terms = line_terms.get(name) if cls == "line" else None
            with _at(o, where.get(key)):
                term = terms[min(row["terminal"], 2) - 1] if terms else None
                row["phase"] = self._monitored_slot(o, str(v[key]), term)
            self.rows["cap_control"].append(row)

    def loads(self) -> None:
        """Load rows and one service point per load."""
        for o in self.script.of("load"):
            row, term, enabled = _load(o, self.notes)
            if not enabled:
                self.notes.append(f"{_where(o.file, o.line)}: {o.label} is disabled: not imported")
                continue
            self.terms.append(_Attached(term, o, True))
            if term.bus in self.split and row["phases"] == (1, 2) and row["conn"] == Conn.wye:
                row["v_rated_v"] = 2.0 * row["v_rated_v"] / SQRT3  # two legs, each at kV/sqrt(3)
            row["phases"] = (o, _Terminal(term.bus, row["phases"]))
            self.rows["load"].append(row)
            self.rows["service_point"].append({"id": o.name, "meter": f"M-{o.name}", "bus": term.bus,
                                                "load": o.name, "transformer": "", "cls": row["cls"]})

    def generators(self) -> None:
        """Generator and PV system rows."""
        for o in [*self.script.of("generator"), *self.script.of("pvsystem")]:
            row, term = _generator(o)
            self.terms.append(_Attached(term, o, row["in_service"]))
            row["phases"] = (o, term)
            self.rows["generator"].append(row)

    # -- protective devices --------------------------------------------------------------------

    def protective_devices(self) -> None:
        """Fuses, reclosers and relays on lines become (or re-kind) switches; SwtControl sets states."""
        lines = {r["id"]: r for r in self.rows["line"]}
        switches = {r["id"]: r for r in self.rows["switch"]}
        for cls, kind in (("fuse", SwitchKind.fuse), ("recloser", SwitchKind.recloser), ("relay", SwitchKind.breaker),
                          ("swtcontrol", None)):
            for o in self.script.of(cls):
                v, where = _state(o, {"monitoredobj": "", "switchedobj": "", "monitoredterm": "1",
                                      "switchedterm": "", "normal": "", "state": "", "action": "",
                                      "fusecurve": "", "phasedelayed": "", "phasecurve": "", "ratedcurrent": ""})
                target_key = "switchedobj" if v["switchedobj"] else "monitoredobj"
                s = where.get(target_key)
                target = str(v[target_key]).strip().lower()
                tcls, _, name = target.partition(".")
                if tcls != "line" or (name not in lines and name not in switches):
                    raise _fail(o, s, f"{target or 'no element'}: Twin places protective devices and switch "
                                "controls on lines", fix="name the line it protects: SwitchedObj=Line.X")
                with _at(o, where.get("switchedterm") or where.get("monitoredterm")):
                    terminal = rpn.integer(str(v["switchedterm"] or v["monitoredterm"]))
                row = switches.get(name) or self._split_line(o, lines[name], terminal, switches)
                if kind is not None:
                    row["kind"] = kind
                else:
                    row["remote"] = True
                curve = v["fusecurve"] or v["phasedelayed"] or v["phasecurve"]
                if curve:
                    row["curve"] = str(curve)
                if v["ratedcurrent"]:
                    with _at(o, where["ratedcurrent"]):
                        row["rated_a"] = rpn.number(str(v["ratedcurrent"]))
                for key, col in (("normal", "normal_open"), ("state", "open"), ("action", "open")):
                    if v[key]:
                        row[col] = str(v[key]).strip().lower().startswith("o")
        self.rows["line"] = list(lines.values())
        self.rows["switch"] = list(switches.values())

    def _split_line(self, o: DssObject, line: dict, terminal: int, switches: dict[str, dict]) -> dict:
        """Insert a switch at one end of a line: bus -> new bus '<bus>_<device>' -> line."""
        if o.name in switches:
            raise _fail(o, None, f"a switch named '{o.name}' exists already", fix="rename the device")
        end = "to_bus" if terminal == 2 else "from_bus"
        bus = line[end]
        new_bus = f"{bus}_{o.name}"
        line[end] = new_bus
        src, dst = (bus, new_bus) if end == "from_bus" else (new_bus, bus)
        owner, term = line["phases"]
        row = {"id": o.name, "from_bus": src, "to_bus": dst, "phases": (owner, term),
               "kind": SwitchKind.load_break_switch, "normal_open": False, "open": False, "rated_a": np.nan}
        switches[o.name] = row
        self.terms.append(_Attached(_Terminal(new_bus, term.nodes), owner, line["in_service"]))
        self.edges.append((bus, new_bus))
        self.notes.append(f"{_where(o.file, o.line)}: {o.label} inserted as switch {o.name} between {src} and {dst} "
                          f"({owner.label} now {'starts' if end == 'from_bus' else 'ends'} at {new_bus})")
        return row

    # -- buses ---------------------------------------------------------------------------------

    def buses(self) -> None:
        """Bus rows: phases from in-service terminals, nominal voltage, coordinates."""
        phases: dict[str, int] = {}
        fallback: dict[str, int] = {}
        for t in self.terms:
            bits = self.flags(t.obj, t.term)
            target = phases if t.in_service else fallback
            target[t.term.bus] = target.get(t.term.bus, 0) | bits
        for bus, bits in fallback.items():
            if bus not in phases:
                phases[bus] = bits
                self.notes.append(f"bus {bus} has only out-of-service elements; its phases come from them")
        volts = self._propagate()
        bases = sorted(kv * 1000.0 for kv in self.script.voltage_bases_kv)
        for bus, bits in phases.items():
            if bus in self.split:
                v_nom = self.split_volts[bus]
            elif bus in volts:
                v_nom = _snap(volts[bus] * SQRT3, bases)
            else:
                v_nom = np.nan
                self.notes.append(f"bus {bus}: no path from a source, nominal voltage unknown")
            x, y = self.script.coords.get(bus, (np.nan, np.nan))
            self.rows["bus"].append({"id": bus, "v_nom_v": v_nom, "phases": bits, "x": x, "y": y})
        self._check_open_points(phases)

    def _propagate(self) -> dict[str, float]:
        """Volts to ground at each bus from the sources through lines and transformers (no load)."""
        links: dict[str, list[tuple[str, float]]] = {}
        for a, b in self.edges:
            links.setdefault(a, []).append((b, 1.0))
            links.setdefault(b, []).append((a, 1.0))
        for windings in self.xfmr_ratios:
            for bus_a, va in windings:
                for bus_b, vb in windings:
                    if bus_a != bus_b and va > 0:
                        links.setdefault(bus_a, []).append((bus_b, vb / va))
        volts: dict[str, float] = {}
        queue = deque()
        for bus, v in self.source_volts:
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

    def _check_open_points(self, phases: dict[str, int]) -> None:
        for row in self.rows["switch"]:
            bits = row["phases"]
            for end in ("from_bus", "to_bus"):
                if bits & ~phases.get(row[end], 0):
                    self.notes.append(f"switch {row['id']} ({'open' if row['open'] else 'closed'}) uses phases "
                                      f"its bus {row[end]} does not have")

    # -- assembling ----------------------------------------------------------------------------

    def finish_phases(self) -> None:
        """Replace (object, terminal) placeholders by phase flags, now split-phase buses are known."""
        for name in ("line", "switch", "capacitor", "load", "generator"):
            for row in self.rows[name]:
                obj, term = row["phases"]
                row["phases"] = self.flags(obj, term)
                if name == "line" and term.bus in self.split and row["kind"] == LineKind.overhead:
                    row["kind"] = LineKind.triplex

    def network(self, name: str, origin: str) -> Network:
        """The tables, built once from the row lists."""
        self.rows["line_code"] = list(self.codes_out.values())
        if self.unitless_used:
            self.notes.append(f"{self.unitless_used} line(s) state no length units, nor do their codes: taken as "
                              f"{self.unitless} (pass unitless_length= to load_opendss to change)")
        tables = {t: Table.from_rows(SCHEMAS[t], rows) for t, rows in self.rows.items()}
        return Network.from_tables(
            name, tables, base_frequency_hz=self.freq,
            voltage_bases_v=tuple(kv * 1000.0 for kv in self.script.voltage_bases_kv),
            coord_units="unspecified", origin=origin, notes=tuple(self.notes),
        )


def _pad(m: np.ndarray) -> np.ndarray:
    out = np.zeros((3, 3))
    n = min(len(m), 3)
    out[:n, :n] = m[:n, :n]
    return out


def _quoted(s: Setting | None) -> bool:
    return bool(s and s.quoted)


def _snap(volts_ll: float, bases: list[float]) -> float:
    """The voltage base nearest (in ratio) to a line-to-line voltage, as CalcVoltageBases picks it."""
    if not bases:
        return volts_ll
    return min(bases, key=lambda b: abs(1.0 - volts_ll / b))


def _slots(obj: DssObject, term: _Terminal, n: int, conn: str) -> list[int]:
    """Slots of a shunt element: phase slots for wye, branch slots (AB, BC, CA) for delta."""
    nodes = term.nodes
    if conn == "wye":
        return [k - 1 for k in nodes[:n] if k > 0]
    pairs = [(nodes[0], nodes[1])] if n == 1 else [(nodes[k], nodes[(k + 1) % len(nodes)])
                                                     for k in range(n if n > 2 else 2)]
    out = []
    for a, b in pairs:
        if (a, b) not in _BRANCH_SLOT:
            raise _fail(obj, None, f"delta branch between nodes {a} and {b} at {term.bus}",
                        fix="a delta element joins two different phases (nodes 1, 2, 3)")
        out.append(_BRANCH_SLOT[(a, b)])
    return out


def _vsource(o: DssObject) -> tuple[dict, bool, _Terminal]:
    """Source row (Thevenin ohms as OpenDSS computes them), enabled flag and terminal."""
    kv, pu, angle, phases = 115.0, 1.0, 0.0, 3
    mvasc3, mvasc1, x1r1, x0r0, isc3, isc1, base_mva = 2000.0, 2100.0, 4.0, 3.0, 10000.0, 10540.0, 100.0
    z = {"r1": 1.65, "x1": 6.6, "r0": 1.9, "x0": 5.7}
    puz: dict[str, tuple[float, float]] = {}
    spec, z0_set, enabled = 1, False, True
    bus1: tuple[str, Setting | None] = ("sourcebus", None)
    for s in o.settings:
        with _at(o, s):
            p = s.prop
            if p == "bus1":
                bus1 = (s.text, s)
            elif p == "bus2":
                if any(k != "0" for k in s.text.split(".")[1:]) or "." not in s.text:
                    raise _fail(o, s, "a source with bus2 (ungrounded) is not supported",
                                fix="leave bus2 out: the source is grounded wye")
            elif p == "basekv":
                kv = _num(s)
            elif p == "pu":
                pu = _num(s)
            elif p == "angle":
                angle = _num(s)
            elif p == "phases":
                phases = _int(s)
            elif p in ("mvasc3", "mvasc1"):
                mvasc3, mvasc1 = (_num(s), mvasc1) if p == "mvasc3" else (mvasc3, _num(s))
                spec = 1
            elif p in ("isc3", "isc1"):
                isc3, isc1 = (_num(s), isc1) if p == "isc3" else (isc3, _num(s))
                spec = 2
            elif p == "x1r1":
                x1r1 = _num(s)
            elif p == "x0r0":
                x0r0 = _num(s)
            elif p in z:
                z[p] = _num(s)
                z0_set = z0_set or p in ("r0", "x0")
                spec = 3
            elif p in ("z1", "z0"):
                r, x = _complex(s)
                z["r" + p[1]], z["x" + p[1]] = r, x
                if p == "z1" and not z0_set:
                    z["r0"], z["x0"] = r, x
                z0_set = z0_set or p == "z0"
                spec = 3
            elif p in ("puz1", "puz0"):
                puz[p] = _complex(s)
                spec = 4
            elif p == "basemva":
                base_mva = _num(s)
            elif p == "enabled":
                enabled = rpn.boolean(s.text)
    with _at(o):
        factor = 1.0 if phases == 1 else SQRT3
        if spec in (1, 2):
            if spec == 2:
                mvasc3, mvasc1 = SQRT3 * kv * isc3 / 1000.0, factor * kv * isc1 / 1000.0
            x1 = kv**2 / mvasc3 / math.sqrt(1.0 + 1.0 / x1r1**2)
            r1 = x1 / x1r1
            isc1 = mvasc1 * 1000.0 / (factor * kv)
            a, b = 1.0 + x0r0**2, 4.0 * (r1 + x1 * x0r0)
            c = 4.0 * (r1**2 + x1**2) - (3.0 * kv * 1000.0 / factor / isc1) ** 2
            r0 = (-b + math.sqrt(b * b - 4 * a * c)) / (2 * a)
            z = {"r1": r1, "x1": x1, "r0": r0, "x0": r0 * x0r0}
        elif spec == 4:
            zbase = kv**2 / base_mva
            one = puz.get("puz1", (0.0, 0.0))
            zero = puz.get("puz0", one)
            z = {"r1": one[0] * zbase, "x1": one[1] * zbase, "r0": zero[0] * zbase, "x0": zero[1] * zbase}
        term = _terminal(o, bus1[1], bus1[0], phases, phases)
    row = {"id": o.name, "bus": term.bus, "v_nom_v": kv * 1000.0, "v_pu": pu, "angle_rad": math.radians(angle),
           "r1_ohm": z["r1"], "x1_ohm": z["x1"], "r0_ohm": z["r0"], "x0_ohm": z["x0"]}
    return row, enabled, term


def _reactor(o: DssObject, freq: float) -> tuple[dict, dict, tuple[_Terminal, _Terminal]]:
    """A series reactor as a 1 m line of kind reactor with its own code."""
    n, kvar, kv, r, x, normamps, enabled = 3, 1200.0, 12.47, 0.0, None, 400.0, True
    mats: dict[str, np.ndarray] = {}
    seq: dict[str, tuple[float, float]] = {}
    bus1: tuple[str | None, Setting | None] = (None, None)
    bus2: tuple[str | None, Setting | None] = (None, None)
    for s in o.settings:
        with _at(o, s):
            p = s.prop
            if p == "bus1":
                bus1 = (s.text, s)
            elif p == "bus2":
                bus2 = (s.text, s)
            elif p == "phases":
                n = _int(s)
            elif p == "kvar":
                kvar = _num(s)
            elif p == "kv":
                kv = _num(s)
            elif p == "r":
                r = _num(s)
            elif p == "x":
                x = _num(s)
            elif p == "lmh":
                x = 2 * math.pi * freq * _num(s) / 1000.0
            elif p == "z":
                r, x = _complex(s)
            elif p in ("z1", "z0"):
                seq[p] = _complex(s)
            elif p in ("rmatrix", "xmatrix"):
                mats[p[0]] = rpn.matrix(s.text, n)
            elif p == "normamps":
                normamps = _num(s)
            elif p == "enabled":
                enabled = rpn.boolean(s.text)
    if bus2[0] is None:
        raise _fail(o, bus1[1], "shunt reactors (no bus2) are not in Twin's model",
                    fix="remove it, or give bus2 for a series reactor")
    with _at(o):
        if "z1" in seq:
            (r1, x1), (r0, x0) = seq["z1"], seq.get("z0", seq["z1"])
            rm, xm, _ = _seq_matrices((r1, x1, r0, x0, 0.0, 0.0), n)
        elif mats:
            rm, xm = mats.get("r", np.zeros((n, n))), mats.get("x", np.zeros((n, n)))
        else:
            reactance = x if x is not None else kv**2 * 1000.0 / kvar
            rm, xm = r * np.eye(n), reactance * np.eye(n)
        term1 = _terminal(o, bus1[1], bus1[0], n, n)
        term2 = _terminal(o, bus2[1], bus2[0], n, n)
    code_id = f"reactor:{o.name}"
    code = {"id": code_id, "n_phases": n, "r_ohm_per_m": _pad(rm), "x_ohm_per_m": _pad(xm),
            "b_s_per_m": np.zeros((3, 3)), "rated_a": normamps, "emerg_a": np.nan}
    row = {"id": o.name, "from_bus": term1.bus, "to_bus": term2.bus, "code": code_id, "length_m": 1.0,
           "kind": LineKind.reactor, "rated_a": normamps, "in_service": enabled}
    return row, code, (term1, term2)


def _load(o: DssObject, notes: list[str]) -> tuple[dict, _Terminal, bool]:
    """Load row with its power split over phases or delta branches; the terminal; enabled."""
    n, kv, kw, pf, kvar, kva, model, conn = 3, 12.47, 10.0, 0.88, 5.0, None, 1, "wye"
    spec, vmin, vmax, zipv, enabled = "kw_pf", 0.95, 1.05, None, True
    xfkva, alloc, kwh, kwhdays, cfactor = 0.0, 0.5, 0.0, 30.0, 4.0
    bus: tuple[str | None, Setting | None] = (None, None)
    for s in o.settings:
        with _at(o, s):
            p = s.prop
            if p == "phases":
                n = _int(s)
            elif p == "bus1":
                bus = (s.text, s)
            elif p == "kv":
                kv = _num(s)
            elif p == "kw":
                kw, spec = _num(s), "kw_pf"
            elif p == "pf":  # does not change how the load is specified: after kvar=, pf is ignored
                pf = _num(s)
            elif p == "kvar":
                kvar, spec = _num(s), "kw_kvar"
            elif p == "kva":
                kva, spec = _num(s), "kva_pf"
            elif p == "model":
                model = _int(s)
                if model not in (*_ZIP, 8):
                    raise ValueError("load models are 1 to 8")
            elif p == "conn":
                conn = _conn(s)
            elif p == "vminpu":
                vmin = _num(s)
            elif p == "vmaxpu":
                vmax = _num(s)
            elif p == "zipv":
                zipv = rpn.numbers(s.text)
                if len(zipv) != 7:
                    raise ValueError(f"ZIPV needs 7 values, got {len(zipv)}")
            elif p == "enabled":
                enabled = rpn.boolean(s.text)
            elif p == "xfkva":
                xfkva, spec = _num(s), "connected"
            elif p == "allocationfactor":
                alloc, spec = _num(s), "connected"
            elif p == "kwh":
                kwh, spec = _num(s), "kwh"
            elif p == "kwhdays":
                kwhdays, spec = _num(s), "kwh"
            elif p == "cfactor":
                cfactor, spec = _num(s), "kwh"
    with _at(o):
        if model == 8 and zipv is None:
            raise _fail(o, None, "model=8 (ZIPV) needs zipv=[Zp Ip Pp Zq Iq Pq Vcutoff]",
                        fix="give the seven ZIPV coefficients")
        if spec in ("kva_pf", "connected", "kwh"):
            kva = kva if spec == "kva_pf" else xfkva * alloc if spec == "connected" else None
            kw = kva * abs(pf) if kva is not None else kwh / (kwhdays * 24.0) * cfactor
        if spec != "kw_kvar":
            kvar = kw * math.sqrt(max(1.0 / pf**2 - 1.0, 0.0)) * (1.0 if pf >= 0 else -1.0) if pf else 0.0
        nconds = n + 1 if conn == "wye" or n < 3 else n
        term = _terminal(o, bus[1], bus[0], nconds, n)
    nodes = term.nodes
    conn_out = Conn.wye
    if conn == "delta" and n == 1 and nodes[1] == 0:
        conn = "wye"
        notes.append(f"{_where(o.file, o.line)}: {o.label} is a 1-phase delta load on one node ({term.bus}."
                     f"{nodes[0]}); OpenDSS joins its second conductor to ground: imported phase-to-ground")
    elif conn == "wye" and n == 1 and nodes[1] != 0:
        conn = "delta"  # a 1-phase "wye" load between two phases is a phase-to-phase load
    if conn == "delta":
        conn_out = Conn.delta
    slots = _slots(o, term, n, conn)
    p_w, q_var = [0.0] * 3, [0.0] * 3
    for slot in slots:
        p_w[slot] += kw * 1000.0 / len(slots)
        q_var[slot] += kvar * 1000.0 / len(slots)
    used = tuple(sorted({k for k in (nodes[: n + 1] if conn == "delta" and n < 3 else nodes[:n]) if k > 0}))
    zip_p, zip_q = (tuple(zipv[:3]), tuple(zipv[3:6])) if model == 8 else _ZIP[model]
    row = {"id": o.name, "bus": term.bus, "phases": used, "conn": conn_out, "v_rated_v": kv * 1000.0,
           "p_w": p_w, "q_var": q_var, "zip_p": zip_p, "zip_q": zip_q, "v_min_pu": vmin, "v_max_pu": vmax,
           "cls": CustomerClass.residential if kw < 50.0 else CustomerClass.commercial}
    return row, term, enabled


def _generator(o: DssObject) -> tuple[dict, _Terminal]:
    """Generator or PV system row (total power) and terminal."""
    pv = o.cls == "pvsystem"
    n, kv, conn, enabled = 3, 12.47, "wye", True
    kw, pf = (500.0, 1.0) if pv else (1000.0, 0.88)
    kvar: float | None = None
    kva: float | None = None
    irradiance, pmpp = 1.0, 500.0
    bus: tuple[str | None, Setting | None] = (None, None)
    for s in o.settings:
        with _at(o, s):
            p = s.prop
            if p == "phases":
                n = _int(s)
            elif p == "bus1":
                bus = (s.text, s)
            elif p == "kv":
                kv = _num(s)
            elif p == "kw":
                kw = _num(s)
            elif p == "pf":
                pf, kvar = _num(s), None
            elif p == "kvar":
                kvar = _num(s)
            elif p in ("kva", "mva"):
                kva = _num(s) * (1000.0 if p == "mva" else 1.0)
            elif p == "conn":
                conn = _conn(s)
            elif p == "irradiance":
                irradiance = _num(s)
            elif p == "pmpp":
                pmpp = _num(s)
            elif p == "enabled":
                enabled = rpn.boolean(s.text)
    with _at(o):
        if pv:
            kva = kva if kva is not None else 500.0
            kw = min(pmpp * irradiance, kva)
        kva = kva if kva is not None else kw * 1.2
        if kvar is None:
            kvar = kw * math.sqrt(max(1.0 / pf**2 - 1.0, 0.0)) * (1.0 if pf >= 0 else -1.0) if pf else 0.0
        term = _terminal(o, bus[1], bus[0], n + 1 if conn == "wye" else n, n)
    row = {"id": o.name, "bus": term.bus, "conn": Conn.delta if conn == "delta" else Conn.wye,
           "kind": GeneratorKind.photovoltaic if pv else GeneratorKind.synchronous, "v_rated_v": kv * 1000.0,
           "p_w": kw * 1000.0, "q_var": kvar * 1000.0, "s_rated_va": kva * 1000.0, "in_service": enabled}
    return row, term


def to_network(script: Script, *, name: str = "", origin: str = "", unitless_length: str = "kft") -> Network:
    """Twin's network for an interpreted script (see the module docstring for the mapping)."""
    if unitless_length not in _UNITS_M:
        raise ValueError(f"unitless_length {unitless_length!r}: use one of {', '.join(_UNITS_M)}")
    b = _Builder(script, unitless_length)
    b.parse()
    b.find_split_phase()
    b.sources()
    b.lines_and_switches()
    b.reactors()
    regulated = b.regulators()
    b.transformers(regulated)
    b.capacitors()
    b.cap_controls()
    b.loads()
    b.generators()
    b.protective_devices()
    b.finish_phases()
    b.buses()
    return b.network(name or script.circuit or "opendss", origin)
