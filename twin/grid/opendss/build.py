"""An interpreted script into Twin's :class:`~twin.grid.network.Network`: the steps, in order.

:func:`to_network` *replays* each object's assignments the way OpenDSS applies them (order
matters: ``kW`` after ``kvar`` switches a load back to its power factor, ``r1=`` after ``units=``
forgets the units, ``%loadloss`` sets the %r of windings 1 and 2...) and collects table rows in a
:class:`Build`, in SI units, then makes the tables. Ids are lower-case, as OpenDSS's names.

How OpenDSS maps onto Twin
--------------------------
=================  ==============================================================================
``Vsource``        ``source``: Thevenin ohms from MVAsc3/MVAsc1 (or Isc, or r1/x1/r0/x0) at basekv
                   (:mod:`~twin.grid.opendss.sources`)
``LineCode``       ``line_code``: ohm/m and S/m (b = 2 pi f C); sequence data become matrices
                   (:mod:`~twin.grid.opendss.linecodes`)
``Line``           ``line``; ``switch=y`` lines become ``switch`` rows (load-break switches,
                   ``enabled=false`` = normally open), and so do short lines named ``sw1``,
                   ``sw_...`` defined by in-line impedance (the IEEE 123-bus switches)
                   (:mod:`~twin.grid.opendss.lines`)
``Reactor``        a ``line`` of kind reactor, 1 m long, with its own code ``reactor:<name>``
``Transformer``    ``transformer`` (``XfmrCode`` expanded); kind center_tap for 1-phase 3-winding
                   units whose windings 2 and 3 share a bus, single_phase for 1-phase units
                   (:mod:`~twin.grid.opendss.transformers`)
``RegControl``     ``regulator``;  ``Capacitor`` ``capacitor``;  ``CapControl`` ``cap_control``
``Load``           ``load`` and one ``service_point`` each (residential below 50 kW, else commercial)
``Generator``      ``generator`` (synchronous); ``PVSystem`` ``generator`` (photovoltaic)
                   (:mod:`~twin.grid.opendss.shunts`)
``Fuse`` ...       ``Fuse``/``Recloser``/``Relay`` on ``Line.X``: a switch line changes kind, any
                   other line is split by a new switch at its monitored end; ``SwtControl`` sets
                   the state of its switch and marks it remote-controlled
                   (:mod:`~twin.grid.opendss.protection`)
(buses)            ``bus``: phases, split-phase legs, nominal voltage, coordinates
                   (:mod:`~twin.grid.opendss.buses`)
=================  ==============================================================================
"""

from __future__ import annotations

from twin.grid.network import Network
from twin.grid.opendss.buses import Attached, add_buses, find_split_phase, finish_phases
from twin.grid.opendss.linecodes import LineCode, linecode_state
from twin.grid.opendss.lines import Line, Reactor, add_lines, add_reactors, line_state, reactor_state
from twin.grid.opendss.protection import add_protective_devices
from twin.grid.opendss.script import Script
from twin.grid.opendss.shunts import add_cap_controls, add_capacitors, add_generators, add_loads
from twin.grid.opendss.sources import add_sources
from twin.grid.opendss.transformers import Transformer, add_regulators, add_transformers, read_transformers
from twin.grid.opendss.values import UNITS_M
from twin.grid.schema import SCHEMAS
from twin.grid.table import Table

__all__ = ["Build", "to_network"]


def to_network(script: Script, *, name: str = "", origin: str = "", unitless_length: str = "kft") -> Network:
    """Twin's network for an interpreted script (see the module docstring for the mapping)."""
    if unitless_length not in UNITS_M:
        raise ValueError(f"unitless_length {unitless_length!r}: use one of {', '.join(UNITS_M)}")
    b = Build(script, unitless_length)
    find_split_phase(b)
    add_sources(b)
    add_lines(b)
    add_reactors(b)
    regulated = add_regulators(b)
    add_transformers(b, regulated)
    add_capacitors(b)
    add_cap_controls(b)
    add_loads(b)
    add_generators(b)
    add_protective_devices(b)
    finish_phases(b)
    add_buses(b)
    return b.network(name or script.circuit or "opendss", origin)


class Build:
    """What the conversion collects: replayed elements, rows per table, terminals, notes.

    Line codes, lines, transformers and reactors are replayed first (topology needs them before
    any row is made). Rows hold their ``phases`` as an (object, terminal) placeholder until the
    split-phase buses are known; ``edges`` (buses joined by lines, switches and reactors),
    ``xfmr_ratios`` and ``source_volts`` then give the buses' nominal voltages.
    """

    def __init__(self, script: Script, unitless_length: str) -> None:
        self.script = script
        self.unitless = unitless_length
        self.notes = list(script.notes)
        self.freq = script.base_frequency_hz
        self.terms: list[Attached] = []
        self.rows: dict[str, list[dict]] = {name: [] for name in SCHEMAS}
        self.codes_out: dict[str, dict] = {}
        self.edges: list[tuple[str, str]] = []
        self.xfmr_ratios: list[list[tuple[str, float]]] = []  # (bus, rated volts to ground) per winding
        self.source_volts: list[tuple[str, float]] = []
        self.split: set[str] = set()
        self.split_volts: dict[str, float] = {}
        self.unitless_used = 0
        self.codes: dict[str, LineCode] = {o.name: linecode_state(o) for o in script.of("linecode")}
        self.lines: list[Line] = [line_state(o, self.codes) for o in script.of("line")]
        self.xfmrs: list[Transformer] = read_transformers(script, self.notes)
        self.reactors: list[Reactor] = [reactor_state(o, self.freq) for o in script.of("reactor")]

    def unitless_unit(self) -> str:
        """The unit taken for a length that states none (counted, for the note)."""
        self.unitless_used += 1
        return self.unitless

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
