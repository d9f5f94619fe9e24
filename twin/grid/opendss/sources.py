"""Sources: OpenDSS ``Vsource`` (and the source a ``Circuit`` comes with) into ``source`` rows.

A source is a Thevenin equivalent, grounded wye, at ``basekv`` (line-to-line) times ``pu``. Its
impedance is computed as OpenDSS computes it from whichever was given last: short-circuit MVA
(``MVAsc3``, ``MVAsc1`` with ``x1r1``, ``x0r0``), short-circuit currents (``Isc3``, ``Isc1``),
ohms (``r1``, ``x1``, ``r0``, ``x0`` or ``z1``, ``z0``), or per unit on ``baseMVA`` (``puZ1``,
``puZ0``). The source buses start the spread of nominal voltages (see
:mod:`twin.grid.opendss.buses`).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from twin.grid.opendss import rpn
from twin.grid.opendss.buses import Attached, BusText, Terminal, terminal
from twin.grid.opendss.script import DssObject
from twin.grid.opendss.values import SQRT3, at, complex_pair, fail, num, whole

if TYPE_CHECKING:
    from twin.grid.opendss.build import Build

__all__ = ["add_sources"]


def add_sources(b: Build) -> None:
    """Source rows; their buses start the voltage propagation."""
    for o in b.script.of("vsource"):
        row, enabled, term = _vsource(o)
        if not enabled:
            b.notes.append(f"{o.where}: {o.label} is disabled: not imported")
            continue
        b.rows["source"].append(row)
        b.terms.append(Attached(term, o, True))
        n = len(term.nodes)
        b.source_volts.append((term.bus, row["v_nom_v"] / (SQRT3 if n > 1 else 1.0)))


def _vsource(o: DssObject) -> tuple[dict, bool, Terminal]:
    """Source row (Thevenin ohms as OpenDSS computes them), enabled flag and terminal."""
    kv, pu, angle, phases = 115.0, 1.0, 0.0, 3
    mvasc3, mvasc1, x1r1, x0r0, isc3, isc1, base_mva = 2000.0, 2100.0, 4.0, 3.0, 10000.0, 10540.0, 100.0
    z = {"r1": 1.65, "x1": 6.6, "r0": 1.9, "x0": 5.7}
    puz: dict[str, tuple[float, float]] = {}
    spec, z0_set, enabled = 1, False, True
    bus1: BusText = ("sourcebus", None)
    for s in o.settings:
        with at(o, s):
            p = s.prop
            if p == "bus1":
                bus1 = (s.text, s)
            elif p == "bus2":
                if any(k != "0" for k in s.text.split(".")[1:]) or "." not in s.text:
                    raise fail(o, s, "a source with bus2 (ungrounded) is not supported",
                                fix="leave bus2 out: the source is grounded wye")
            elif p == "basekv":
                kv = num(s)
            elif p == "pu":
                pu = num(s)
            elif p == "angle":
                angle = num(s)
            elif p == "phases":
                phases = whole(s)
            elif p in ("mvasc3", "mvasc1"):
                mvasc3, mvasc1 = (num(s), mvasc1) if p == "mvasc3" else (mvasc3, num(s))
                spec = 1
            elif p in ("isc3", "isc1"):
                isc3, isc1 = (num(s), isc1) if p == "isc3" else (isc3, num(s))
                spec = 2
            elif p == "x1r1":
                x1r1 = num(s)
            elif p == "x0r0":
                x0r0 = num(s)
            elif p in z:
                z[p] = num(s)
                z0_set = z0_set or p in ("r0", "x0")
                spec = 3
            elif p in ("z1", "z0"):
                r, x = complex_pair(s)
                z["r" + p[1]], z["x" + p[1]] = r, x
                if p == "z1" and not z0_set:
                    z["r0"], z["x0"] = r, x
                z0_set = z0_set or p == "z0"
                spec = 3
            elif p in ("puz1", "puz0"):
                puz[p] = complex_pair(s)
                spec = 4
            elif p == "basemva":
                base_mva = num(s)
            elif p == "enabled":
                enabled = rpn.boolean(s.text)
    with at(o):
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
        term = terminal(o, bus1, phases, phases)
    row = {"id": o.name, "bus": term.bus, "v_nom_v": kv * 1000.0, "v_pu": pu, "angle_rad": math.radians(angle),
           "r1_ohm": z["r1"], "x1_ohm": z["x1"], "r0_ohm": z["r0"], "x0_ohm": z["x0"]}
    return row, enabled, term

