"""The network model's tables, declared once.

A network is one table per component type (see :mod:`twin.grid.network`). This module declares
every table's columns: name, dtype, trailing shape, unit, meaning and valid range. The table
class, the native file format, the model validator and the documentation all read these
declarations; nothing else restates them.

Conventions
-----------
* SI units inside the engine: volts, amperes, ohms, siemens, watts, vars, volt-amperes, metres,
  seconds, radians. A column in any other unit says so in its name (``r_pct``, ``tap_pu``).
  Voltages of buses, windings and equipment ratings are line-to-line for three-phase and
  two-phase equipment and the winding/element voltage for single-phase equipment, as in OpenDSS;
  on a split-phase (120/240 V) bus they are leg to leg (240 V).
* Phases are :class:`Phase` bit flags. A per-phase quantity has a trailing axis of length 3
  indexed by *node slot*: slot 0, 1, 2 are phases A, B, C on a primary bus and legs 1, 2 (slot 0,
  1) on a split-phase secondary bus. For delta-connected loads and capacitors the slots are the
  branches A-B, B-C, C-A (legs 1-2 in slot 0 on a split-phase bus).
* A line code's 3x3 matrices are over *conductor positions* 0..n_phases-1 (unused rows and
  columns zero); a line maps position k to its k-th phase in ascending order (A, B, C or S1, S2).
  A line whose conductors meet the phases in another order gets a permuted copy of the code.
* Transformer winding data has a trailing winding axis of length 3 (windings 1, 2, 3); a
  two-winding transformer leaves the third empty.

Example
-------
>>> SCHEMAS["line"].field("length_m").unit
'm'
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field as dc_field
from typing import Any

import numpy as np

__all__ = [
    "Phase",
    "Conn",
    "LineKind",
    "SwitchKind",
    "TransformerKind",
    "CapControlKind",
    "GeneratorKind",
    "CustomerClass",
    "IndicatorReset",
    "Field",
    "TableSchema",
    "SCHEMAS",
    "PROTECTIVE_KINDS",
    "phase_slots",
    "phase_text",
    "parse_phases",
]


class Phase(enum.IntFlag):
    """Conductors a bus or element uses. S1 and S2 are the legs of a 120/240 V split-phase service."""

    NONE = 0
    A = 1
    B = 2
    C = 4
    S1 = 8
    S2 = 16
    ABC = A | B | C
    S12 = S1 | S2


class Conn(enum.IntEnum):
    """Winding or element connection."""

    wye = 0  # star, neutral solidly grounded (the usual distribution connection)
    delta = 1
    wye_ungrounded = 2


class LineKind(enum.IntEnum):
    """Construction of a line segment; reactors are lumped series elements stored as lines."""

    overhead = 0
    underground = 1
    triplex = 2  # overhead 120/240 V service drop
    reactor = 3


class SwitchKind(enum.IntEnum):
    """Switching devices, from the most capable interrupter to a no-load disconnect."""

    breaker = 0
    recloser = 1
    sectionaliser = 2
    fuse = 3
    load_break_switch = 4
    disconnect = 5


PROTECTIVE_KINDS = frozenset({SwitchKind.breaker, SwitchKind.recloser, SwitchKind.fuse})
"""Devices that interrupt fault current on their own (a sectionaliser counts, it does not clear)."""


class TransformerKind(enum.IntEnum):
    """Transformer construction."""

    three_phase = 0  # one three-phase unit (or a bank modelled as one)
    single_phase = 1  # one single-phase unit, wye (phase-neutral) or delta (phase-phase) primary
    center_tap = 2  # single-phase, three windings: primary, leg 1 - neutral, neutral - leg 2


class CapControlKind(enum.IntEnum):
    """Quantity a capacitor controller switches on."""

    voltage = 0
    kvar = 1
    current = 2
    pf = 3
    time = 4


class GeneratorKind(enum.IntEnum):
    """Distributed generation technology (all modelled as power injections for now)."""

    synchronous = 0
    photovoltaic = 1
    wind = 2
    battery = 3


class CustomerClass(enum.IntEnum):
    """Customer rate class."""

    residential = 0
    commercial = 1
    industrial = 2


class IndicatorReset(enum.IntEnum):
    """How a fault circuit indicator clears its flag."""

    voltage = 0  # once line voltage has been present for reset_s (it sees the section re-energised)
    timed = 1  # reset_s after it flagged (typically 2, 4, 8 or 24 h), whatever the voltage
    manual = 2  # only by hand (a crew's reset tool) or a remote reset command


_SLOT_OF = {Phase.A: 0, Phase.B: 1, Phase.C: 2, Phase.S1: 0, Phase.S2: 1}


def phase_slots(phases: int) -> list[int]:
    """Node slots (0, 1, 2) used by a phase set, ascending: ``phase_slots(Phase.B | Phase.C) == [1, 2]``."""
    return sorted(slot for flag, slot in _SLOT_OF.items() if phases & flag)


def phase_text(phases: int) -> str:
    """Phase set as engineers write it: ``"ABC"``, ``"BC"``, ``"S1S2"``, ``""`` for none."""
    return "".join(flag.name for flag in (Phase.A, Phase.B, Phase.C, Phase.S1, Phase.S2) if phases & flag)


def parse_phases(text: str) -> Phase:
    """Inverse of :func:`phase_text`; raises ``ValueError`` naming what is allowed."""
    value = Phase.NONE
    rest = text.strip().upper()
    for name in ("S1", "S2", "A", "B", "C"):
        if name in rest:
            value |= Phase[name]
            rest = rest.replace(name, "", 1)
    if rest:
        raise ValueError(f"phases {text!r}: use letters A, B, C or S1, S2 (for example 'ABC', 'AC', 'S1S2')")
    return value


# Trailing axes: their labels name the flattened columns in files and DataFrames.
PHASE_AXIS = ("a", "b", "c")
WINDING_AXIS = ("1", "2", "3")
ZIP_AXIS = ("z", "i", "p")
MATRIX_AXIS = ("aa", "ab", "ac", "ba", "bb", "bc", "ca", "cb", "cc")


@dataclass(frozen=True)
class Field:
    """One column of a table.

    ``kind`` is ``"str"``, ``"float"``, ``"int"``, ``"bool"`` or ``"enum"``; ``shape`` the trailing
    shape of one row's value; ``ref`` the table an id column refers to (empty: none);
    ``low``/``high`` the valid range (inclusive) for numbers; ``required`` columns have no default.
    """

    name: str
    kind: str
    doc: str
    unit: str = ""
    shape: tuple[int, ...] = ()
    default: Any = None
    enum: type[enum.IntEnum] | type[enum.IntFlag] | None = None
    ref: str = ""
    low: float | None = None
    high: float | None = None
    required: bool = False
    axis: tuple[str, ...] = ()

    @property
    def dtype(self) -> np.dtype:
        """Numpy dtype of the column."""
        return np.dtype(
            {"str": object, "float": np.float64, "int": np.int64, "bool": np.bool_, "enum": np.int8}[self.kind]
        )

    def fill(self) -> Any:
        """Value of a row that does not give this column."""
        if self.default is not None:
            return self.default
        return {"str": "", "float": np.nan, "int": 0, "bool": False, "enum": 0}[self.kind]


@dataclass(frozen=True)
class TableSchema:
    """Columns of one component table; ``id`` is always first and unique."""

    name: str
    doc: str
    fields: tuple[Field, ...]
    _by_name: dict[str, Field] = dc_field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        self._by_name.update({f.name: f for f in self.fields})

    def field(self, name: str) -> Field:
        """The declaration of column ``name``."""
        return self._by_name[name]

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.fields)

    def __contains__(self, name: object) -> bool:
        return name in self._by_name


def _id(doc: str) -> Field:
    return Field("id", "str", doc, required=True)


def _bus(name: str, doc: str, **kw: Any) -> Field:
    return Field(name, "str", doc, ref="bus", required=True, **kw)


def _phases(doc: str = "conductors used (Phase flags)") -> Field:
    return Field("phases", "enum", doc, enum=Phase, required=True, low=1, high=31)


_PER_PHASE = {"shape": (3,), "axis": PHASE_AXIS}
_PER_WINDING = {"shape": (3,), "axis": WINDING_AXIS}
_MATRIX = {"shape": (3, 3), "axis": MATRIX_AXIS}


SCHEMAS: dict[str, TableSchema] = {
    s.name: s
    for s in (
        TableSchema(
            "bus",
            "Connectivity nodes: where conductors of lines, switches and transformers meet.",
            (
                _id("bus name"),
                Field("v_nom_v", "float", "nominal voltage, line-to-line (240 V for split-phase)", "V", low=0.0),
                _phases("phases present at the bus"),
                Field("x", "float", "east coordinate (metres in generated territories)", "coord"),
                Field("y", "float", "north coordinate", "coord"),
            ),
        ),
        TableSchema(
            "line_code",
            "Per-length impedance of a conductor arrangement, over node slots.",
            (
                _id("line code name"),
                Field("n_phases", "int", "number of phase conductors", low=1, high=3, required=True),
                Field("r_ohm_per_m", "float", "series resistance matrix", "ohm/m", required=True, **_MATRIX),
                Field("x_ohm_per_m", "float", "series reactance matrix", "ohm/m", required=True, **_MATRIX),
                Field("b_s_per_m", "float", "shunt susceptance matrix", "S/m", default=0.0, **_MATRIX),
                Field("rated_a", "float", "normal ampacity", "A", low=0.0),
                Field("emerg_a", "float", "emergency ampacity", "A", low=0.0),
            ),
        ),
        TableSchema(
            "line",
            "Line segments: overhead, underground, service drops and series reactors.",
            (
                _id("line name"),
                _bus("from_bus", "sending-end bus (towards the source under normal states)"),
                _bus("to_bus", "receiving-end bus"),
                _phases(),
                Field("code", "str", "line code giving the per-length impedance", ref="line_code", required=True),
                Field("length_m", "float", "length", "m", low=0.0, required=True),
                Field("kind", "enum", "construction", enum=LineKind, default=LineKind.overhead),
                Field("rated_a", "float", "normal ampacity (NaN: the code's)", "A", low=0.0),
                Field("in_service", "bool", "false when the segment is out of the model", default=True),
            ),
        ),
        TableSchema(
            "switch",
            "Switching devices: breakers, reclosers, sectionalisers, fuses, switches.",
            (
                _id("device name"),
                _bus("from_bus", "source-side bus"),
                _bus("to_bus", "load-side bus"),
                _phases(),
                Field("kind", "enum", "device type", enum=SwitchKind, required=True),
                Field("normal_open", "bool", "open in the normal configuration", default=False),
                Field("open", "bool", "open now", default=False),
                Field("r_ohm", "float", "series resistance per phase when closed", "ohm", low=0.0, default=1e-3),
                Field("x_ohm", "float", "series reactance per phase when closed", "ohm", low=0.0, default=1e-3),
                Field("rated_a", "float", "continuous current rating", "A", low=0.0),
                Field("breaking_a", "float", "interrupting rating (fault current it can break)", "A", low=0.0),
                Field("remote", "bool", "operable from the control room (SCADA)", default=False),
                Field("curve", "str", "protection setting or fuse link (for example '65T')"),
            ),
        ),
        TableSchema(
            "transformer",
            "Two- and three-winding transformers, including regulating transformers.",
            (
                _id("transformer name"),
                Field("kind", "enum", "construction", enum=TransformerKind, required=True),
                Field("n_windings", "int", "2 or 3", low=2, high=3, default=2),
                Field("bus", "str", "bus of each winding ('' for an absent winding)", ref="bus", **_PER_WINDING),
                Field("phases", "enum", "phases each winding connects to", enum=Phase, **_PER_WINDING),
                Field("conn", "enum", "connection of each winding", enum=Conn, **_PER_WINDING),
                Field("v_rated_v", "float", "winding rated voltage (line-to-line for 3 phases)", "V",
                      low=0.0, **_PER_WINDING),
                Field("s_rated_va", "float", "winding rating", "VA", low=0.0, **_PER_WINDING),
                Field("r_pct", "float", "winding resistance on its own rating", "%", low=0.0, default=0.0,
                      **_PER_WINDING),
                Field("tap_pu", "float", "present tap ratio of each winding", "pu", low=0.5, high=1.5,
                      default=1.0, **_PER_WINDING),
                Field("x_hl_pct", "float", "leakage reactance winding 1-2", "%", low=0.0, required=True),
                Field("x_ht_pct", "float", "leakage reactance winding 1-3", "%", low=0.0, default=0.0),
                Field("x_lt_pct", "float", "leakage reactance winding 2-3", "%", low=0.0, default=0.0),
                Field("no_load_loss_pct", "float", "core loss on rating", "%", low=0.0, default=0.0),
                Field("imag_pct", "float", "magnetising current on rating", "%", low=0.0, default=0.0),
                Field("tap_min_pu", "float", "lowest tap", "pu", default=0.9),
                Field("tap_max_pu", "float", "highest tap", "pu", default=1.1),
                Field("n_taps", "int", "number of tap steps between min and max", low=0, default=32),
                Field("bank", "str", "bank name shared by single-phase units operated together"),
            ),
        ),
        TableSchema(
            "regulator",
            "Voltage regulator controls (line-drop compensated), each acting on one transformer's taps.",
            (
                _id("regulator control name"),
                Field("transformer", "str", "regulating transformer", ref="transformer", required=True),
                Field("winding", "int", "regulated winding (1-based)", low=1, high=3, default=2),
                Field("v_set_v", "float", "set point on the 120 V base", "V", low=60.0, high=180.0, default=120.0),
                Field("band_v", "float", "bandwidth on the 120 V base", "V", low=0.0, high=20.0, default=3.0),
                Field("pt_ratio", "float", "potential transformer ratio", low=0.0, default=60.0),
                Field("ct_primary_a", "float", "current transformer primary rating", "A", low=0.0, default=300.0),
                Field("ldc_r_v", "float", "line-drop compensator R setting", "V", default=0.0),
                Field("ldc_x_v", "float", "line-drop compensator X setting", "V", default=0.0),
                Field("delay_s", "float", "time delay before a tap change", "s", low=0.0, default=15.0),
                Field("phase", "int", "monitored phase slot of a multi-phase unit (0, 1, 2)", low=0, high=2),
                Field("enabled", "bool", "automatic control on", default=True),
            ),
        ),
        TableSchema(
            "capacitor",
            "Shunt capacitor banks.",
            (
                _id("capacitor name"),
                _bus("bus", "connection bus"),
                _phases(),
                Field("conn", "enum", "connection", enum=Conn, default=Conn.wye),
                Field("v_rated_v", "float", "rated voltage (line-to-line for 2-3 phases)", "V", low=0.0, required=True),
                Field("q_rated_var", "float", "rated reactive power per phase at rated voltage", "var",
                      low=0.0, **_PER_PHASE),
                Field("closed", "bool", "in service now", default=True),
            ),
        ),
        TableSchema(
            "cap_control",
            "Capacitor controllers.",
            (
                _id("controller name"),
                Field("capacitor", "str", "controlled capacitor", ref="capacitor", required=True),
                Field("kind", "enum", "controlled quantity", enum=CapControlKind, required=True),
                Field("element", "str", "monitored element, 'table.id' (for example 'line.L12')"),
                Field("terminal", "int", "monitored terminal (1-based)", low=1, high=3, default=1),
                Field("on_value", "float", "switch on at (V, var, A, pf or hour, by kind, on the PT/CT secondary)"),
                Field("off_value", "float", "switch off at (same unit)"),
                Field("v_min_v", "float", "voltage override: close below", "V"),
                Field("v_max_v", "float", "voltage override: open above", "V"),
                Field("voltage_override", "bool", "voltage override enabled", default=False),
                Field("pt_ratio", "float", "potential transformer ratio", low=0.0, default=60.0),
                Field("ct_ratio", "float", "current transformer ratio", low=0.0, default=60.0),
                Field("delay_s", "float", "delay before closing", "s", low=0.0, default=15.0),
                Field("delay_off_s", "float", "delay before opening", "s", low=0.0, default=15.0),
                Field("phase", "int", "monitored phase slot (0, 1, 2)", low=0, high=2),
                Field("enabled", "bool", "automatic control on", default=True),
            ),
        ),
        TableSchema(
            "load",
            "Loads as ZIP fractions of their nominal power per phase (delta: per branch AB, BC, CA).",
            (
                _id("load name"),
                _bus("bus", "connection bus"),
                _phases(),
                Field("conn", "enum", "connection", enum=Conn, default=Conn.wye),
                Field("v_rated_v", "float", "rated voltage (line-to-line for 2-3 phases)", "V", low=0.0, required=True),
                Field("p_w", "float", "active power at rated voltage per phase or delta branch", "W",
                      default=0.0, **_PER_PHASE),
                Field("q_var", "float", "reactive power at rated voltage per phase or delta branch", "var",
                      default=0.0, **_PER_PHASE),
                Field("zip_p", "float", "constant impedance, current and power shares of P (sum 1)",
                      shape=(3,), axis=ZIP_AXIS, low=-1.0, high=2.0, default=(0.0, 0.0, 1.0)),
                Field("zip_q", "float", "constant impedance, current and power shares of Q (sum 1)",
                      shape=(3,), axis=ZIP_AXIS, low=-1.0, high=2.0, default=(0.0, 0.0, 1.0)),
                Field("v_min_pu", "float", "below this the load becomes constant impedance", "pu", default=0.95),
                Field("v_max_pu", "float", "above this the load becomes constant impedance", "pu", default=1.05),
                Field("cls", "enum", "customer class of the load", enum=CustomerClass,
                      default=CustomerClass.residential),
                Field("fixed", "bool", "keeps its power when load multipliers and shapes scale the others",
                      default=False),
            ),
        ),
        TableSchema(
            "generator",
            "Distributed generation, modelled as power injections.",
            (
                _id("generator name"),
                _bus("bus", "connection bus"),
                _phases(),
                Field("conn", "enum", "connection", enum=Conn, default=Conn.wye),
                Field("kind", "enum", "technology", enum=GeneratorKind, default=GeneratorKind.photovoltaic),
                Field("v_rated_v", "float", "rated voltage", "V", low=0.0, required=True),
                Field("p_w", "float", "active power output (total over phases)", "W", default=0.0),
                Field("q_var", "float", "reactive power output (total over phases)", "var", default=0.0),
                Field("s_rated_va", "float", "inverter or machine rating", "VA", low=0.0),
                Field("in_service", "bool", "connected", default=True),
            ),
        ),
        TableSchema(
            "source",
            "Sources: the transmission system behind a substation, as a Thevenin equivalent.",
            (
                _id("source name"),
                _bus("bus", "connection bus"),
                Field("v_nom_v", "float", "base voltage, line-to-line", "V", low=0.0, required=True),
                Field("v_pu", "float", "operating voltage", "pu", low=0.5, high=1.5, default=1.0),
                Field("angle_rad", "float", "phase A angle", "rad", default=0.0),
                Field("r1_ohm", "float", "positive-sequence resistance", "ohm", low=0.0, default=0.0),
                Field("x1_ohm", "float", "positive-sequence reactance", "ohm", low=0.0, default=0.0),
                Field("r0_ohm", "float", "zero-sequence resistance", "ohm", low=0.0, default=0.0),
                Field("x0_ohm", "float", "zero-sequence reactance", "ohm", low=0.0, default=0.0),
            ),
        ),
        TableSchema(
            "service_point",
            "Customers: one metered service each.",
            (
                _id("service point id"),
                Field("meter", "str", "AMI meter id", required=True),
                Field("transformer", "str", "service transformer ('' for primary-metered)", ref="transformer"),
                _bus("bus", "bus the service is fed from"),
                Field("load", "str", "load that carries this customer's demand (shared when aggregated)",
                      ref="load"),
                Field("name", "str", "customer name"),
                Field("address", "str", "service address"),
                Field("cls", "enum", "rate class", enum=CustomerClass, default=CustomerClass.residential),
                Field("critical", "bool", "critical customer (hospital, life support, water)", default=False),
            ),
        ),
        TableSchema(
            "fault_indicator",
            "Fault circuit indicators (FCIs): a set of one sensor per phase clamped on a line, flagging "
            "when a sensed phase carries more than the trip current; non-directional, fixed trip.",
            (
                _id("indicator name"),
                Field("line", "str", "line it is mounted on", ref="line", required=True),
                Field("terminal", "int", "end of the line it sits at: 1 the from end (the source side under "
                      "normal states), 2 the to end", low=1, high=2, default=1),
                _phases("phases it senses (one sensor each); a subset of its line's"),
                Field("trip_a", "float", "fault current pickup: flags when a sensed phase carries more (set "
                      "above the line's peak load and below the least fault current it must see)", "A",
                      low=0.0, required=True),
                Field("reset", "enum", "how the flag clears", enum=IndicatorReset, default=IndicatorReset.voltage),
                Field("reset_s", "float", "voltage present this long (voltage reset) or time since the flag "
                      "(timed reset); unused for manual reset", "s", low=0.0, default=60.0),
                Field("remote", "bool", "communicating (reports by cellular); false: visual, read by a crew",
                      default=False),
            ),
        ),
    )
}
