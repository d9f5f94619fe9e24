"""Shunt elements: OpenDSS ``Capacitor``, ``CapControl``, ``Load``, ``Generator`` and ``PVSystem``.

Each becomes a row of the table of its name (``PVSystem`` a ``generator`` of kind photovoltaic) and a
``Load`` also one ``service_point`` (residential below 50 kW, else commercial).

Loads: the power is split equally over the phases (wye) or the delta branches, a delta branch
going to slot AB = 0, BC = 1 or CA = 2. Models map to ZIP fractions (P; Q): 1 constant PQ, 2
constant Z, 3 (P; Z), 4 CVR (I; Z), 5 constant I, 6 (P; P), 7 (P; Z), 8 the ZIPV coefficients. A
1-phase delta load given one node (``832.1``) is phase-to-ground, as OpenDSS connects it. A 2-phase
wye load on a split-phase bus (8500 ``SX...1.2``, ``kv=0.208``) is two leg-to-neutral loads at
kV/sqrt(3) each, stored with ``v_rated_v`` = 2 kV/sqrt(3) (leg to leg). The power is given by
``kW`` with ``pf`` or ``kvar``, by ``kVA`` with ``pf``, by connected kVA (``xfkVA`` times
``allocationfactor``) or by energy (``kWh`` over ``kWhdays`` times ``Cfactor``), whichever was
given last.

Capacitors: the kvar of all steps, shared over the phases or delta branches; closed when enabled
and a step is on. A capacitor control names the element it monitors by its Twin table
(``line.L1``, ``switch.S1``, ``transformer.T1``); kvar settings are stored in vars.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from twin.grid.opendss import rpn
from twin.grid.opendss.buses import Attached, BusText, Terminal, monitored_slot, terminal
from twin.grid.opendss.script import DssObject
from twin.grid.opendss.values import SQRT3, at, connection, fail, last_values, num, number_in, whole
from twin.grid.schema import CapControlKind, Conn, CustomerClass, GeneratorKind

if TYPE_CHECKING:
    from twin.grid.opendss.build import Build

__all__ = ["add_cap_controls", "add_capacitors", "add_generators", "add_loads"]

_ZIP = {1: ((0, 0, 1), (0, 0, 1)), 2: ((1, 0, 0), (1, 0, 0)), 3: ((0, 0, 1), (1, 0, 0)),
        4: ((0, 1, 0), (1, 0, 0)), 5: ((0, 1, 0), (0, 1, 0)), 6: ((0, 0, 1), (0, 0, 1)),
        7: ((0, 0, 1), (1, 0, 0))}
_CAPCONTROL_KIND = {"c": CapControlKind.current, "v": CapControlKind.voltage, "k": CapControlKind.kvar,
                    "t": CapControlKind.time, "p": CapControlKind.pf}  # by first letter, as OpenDSS reads it
_BRANCH_SLOT = {(1, 2): 0, (2, 1): 0, (2, 3): 1, (3, 2): 1, (3, 1): 2, (1, 3): 2}


def add_capacitors(b: Build) -> None:
    """Capacitor rows: kvar of all steps, shared over phases or delta branches."""
    for o in b.script.of("capacitor"):
        v, where = last_values(o, {"bus1": None, "bus2": None, "phases": "3", "kvar": "1200", "kv": "12.47",
                                   "conn": "wye", "states": "", "enabled": "yes"})
        with at(o, where.get("phases")):
            n = rpn.integer(str(v["phases"]))
        with at(o, where.get("conn")):
            conn = connection(where["conn"]) if "conn" in where else "wye"
        term = terminal(o, (v["bus1"], where.get("bus1")), n if conn == "wye" or n > 1 else 2, n)
        if v["bus2"] is not None:
            term2 = terminal(o, (v["bus2"], where.get("bus2")), len(term.nodes), n)
            if any(term2.nodes):
                raise fail(o, where.get("bus2"), "series capacitors (bus2 on phase nodes) are not supported",
                           fix="connect bus2 to ground nodes (.0) or leave it out")
        with at(o, where.get("kvar")):
            kvar = sum(rpn.numbers(str(v["kvar"])))
        kv = number_in(o, v, where, "kv")
        with at(o, where.get("states")):
            states = rpn.numbers(str(v["states"])) if v["states"] else [1.0]
            enabled = rpn.boolean(str(v["enabled"]))
        slots = _slots(o, term, n, conn)
        q = [0.0, 0.0, 0.0]
        for slot in slots:
            q[slot] += kvar * 1000.0 / len(slots)
        b.terms.append(Attached(term, o, enabled))
        b.rows["capacitor"].append({
            "id": o.name, "bus": term.bus, "phases": (o, term), "conn": Conn.delta if conn == "delta" else Conn.wye,
            "v_rated_v": kv * 1000.0, "q_rated_var": q, "closed": enabled and any(s > 0 for s in states),
        })


def add_cap_controls(b: Build) -> None:
    """Capacitor control rows; the monitored element is named by its Twin table."""
    tables = {("line", r["id"]): "line" for r in b.rows["line"]}
    tables |= {("line", r["id"]): "switch" for r in b.rows["switch"]}
    tables |= {("transformer", r["id"]): "transformer" for r in b.rows["transformer"]}
    line_terms = {ln.obj.name: (ln.term1, ln.term2) for ln in b.lines}
    for o in b.script.of("capcontrol"):
        v, where = last_values(o, {"element": "", "terminal": "1", "capacitor": "", "type": "current",
                                   "ptratio": "60", "ctratio": "60", "onsetting": "120", "offsetting": "140",
                                   "delay": "15", "voltoverride": "no", "vmax": "126", "vmin": "115",
                                   "delayoff": "15", "ptphase": "1", "ctphase": "1", "enabled": "yes"})
        with at(o, where.get("capacitor")):
            cap = str(v["capacitor"]).lower()
            if b.script.find("capacitor", cap) is None:
                raise fail(o, where.get("capacitor"), f"capacitor '{v['capacitor']}' is not defined",
                           fix="set capacitor= to a defined Capacitor")
        with at(o, where.get("type")):
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
            row[col] = number_in(o, v, where, key)
        row["terminal"] = int(row["terminal"])
        if kind == CapControlKind.kvar:
            row["on_value"], row["off_value"] = row["on_value"] * 1000.0, row["off_value"] * 1000.0
        with at(o, where.get("voltoverride")):
            row["voltage_override"] = rpn.boolean(str(v["voltoverride"]))
            row["enabled"] = rpn.boolean(str(v["enabled"]))
        key = "ptphase" if kind == CapControlKind.voltage else "ctphase"
        terms = line_terms.get(name) if cls == "line" else None
        with at(o, where.get(key)):
            term = terms[min(row["terminal"], 2) - 1] if terms else None
            row["phase"] = monitored_slot(b.notes, o, str(v[key]), term)
        b.rows["cap_control"].append(row)


def add_loads(b: Build) -> None:
    """Load rows and one service point per load."""
    for o in b.script.of("load"):
        row, term, enabled = _load(o, b.notes)
        if not enabled:
            b.notes.append(f"{o.where}: {o.label} is disabled: not imported")
            continue
        b.terms.append(Attached(term, o, True))
        if term.bus in b.split and row["phases"] == (1, 2) and row["conn"] == Conn.wye:
            row["v_rated_v"] = 2.0 * row["v_rated_v"] / SQRT3  # two legs, each at kV/sqrt(3)
        row["phases"] = (o, Terminal(term.bus, row["phases"]))
        b.rows["load"].append(row)
        b.rows["service_point"].append({"id": o.name, "meter": f"M-{o.name}", "bus": term.bus,
                                         "load": o.name, "transformer": "", "cls": row["cls"]})


def add_generators(b: Build) -> None:
    """Generator and PV system rows."""
    for o in [*b.script.of("generator"), *b.script.of("pvsystem")]:
        row, term = _generator(o)
        b.terms.append(Attached(term, o, row["in_service"]))
        row["phases"] = (o, term)
        b.rows["generator"].append(row)


def _slots(obj: DssObject, term: Terminal, n: int, conn: str) -> list[int]:
    """Slots of a shunt element: phase slots for wye, branch slots (AB, BC, CA) for delta."""
    nodes = term.nodes
    if conn == "wye":
        return [k - 1 for k in nodes[:n] if k > 0]
    pairs = [(nodes[0], nodes[1])] if n == 1 else [(nodes[k], nodes[(k + 1) % len(nodes)]) for k in range(max(2, n))]
    out = []
    for a, b in pairs:
        if (a, b) not in _BRANCH_SLOT:
            raise fail(obj, None, f"delta branch between nodes {a} and {b} at {term.bus}",
                       fix="a delta element joins two different phases (nodes 1, 2, 3)")
        out.append(_BRANCH_SLOT[(a, b)])
    return out


def _kvar(kw: float, pf: float) -> float:
    """Reactive power of ``kw`` at power factor ``pf``, of the sign of ``pf`` (none at pf 0)."""
    return kw * math.sqrt(max(1.0 / pf**2 - 1.0, 0.0)) * (1.0 if pf >= 0 else -1.0) if pf else 0.0


def _load(o: DssObject, notes: list[str]) -> tuple[dict, Terminal, bool]:
    """Load row with its power split over phases or delta branches; the terminal; enabled."""
    n, kv, kw, pf, kvar, kva, model, conn = 3, 12.47, 10.0, 0.88, 5.0, None, 1, "wye"
    spec, vmin, vmax, zipv, enabled, fixed = "kw_pf", 0.95, 1.05, None, True, False
    xfkva, alloc, kwh, kwhdays, cfactor = 0.0, 0.5, 0.0, 30.0, 4.0
    bus: BusText = (None, None)
    for s in o.settings:
        with at(o, s):
            p = s.prop
            if p == "phases":
                n = whole(s)
            elif p == "bus1":
                bus = (s.text, s)
            elif p == "kv":
                kv = num(s)
            elif p == "kw":
                kw, spec = num(s), "kw_pf"
            elif p == "pf":  # does not change how the load is specified: after kvar=, pf is ignored
                pf = num(s)
            elif p == "kvar":
                kvar, spec = num(s), "kw_kvar"
            elif p == "kva":
                kva, spec = num(s), "kva_pf"
            elif p == "model":
                model = whole(s)
                if model not in (*_ZIP, 8):
                    raise ValueError("load models are 1 to 8")
            elif p == "conn":
                conn = connection(s)
            elif p == "vminpu":
                vmin = num(s)
            elif p == "vmaxpu":
                vmax = num(s)
            elif p == "zipv":
                zipv = rpn.numbers(s.text)
                if len(zipv) != 7:
                    raise ValueError(f"ZIPV needs 7 values, got {len(zipv)}")
            elif p == "enabled":
                enabled = rpn.boolean(s.text)
            elif p == "status":  # variable (the default) and exempt follow multipliers; fixed does not
                status = s.text.strip().lower()[:1]  # OpenDSS reads the first letter
                if status not in ("v", "f", "e"):
                    raise ValueError(f"status must be variable, fixed or exempt, not {s.text!r}")
                fixed = status == "f"
            elif p == "xfkva":
                xfkva, spec = num(s), "connected"
            elif p == "allocationfactor":
                alloc, spec = num(s), "connected"
            elif p == "kwh":
                kwh, spec = num(s), "kwh"
            elif p == "kwhdays":
                kwhdays, spec = num(s), "kwh"
            elif p == "cfactor":
                cfactor, spec = num(s), "kwh"
    with at(o):
        if model == 8 and zipv is None:
            raise fail(o, None, "model=8 (ZIPV) needs zipv=[Zp Ip Pp Zq Iq Pq Vcutoff]",
                       fix="give the seven ZIPV coefficients")
        if spec in ("kva_pf", "connected", "kwh"):
            kva = kva if spec == "kva_pf" else xfkva * alloc if spec == "connected" else None
            kw = kva * abs(pf) if kva is not None else kwh / (kwhdays * 24.0) * cfactor
        if spec != "kw_kvar":
            kvar = _kvar(kw, pf)
        nconds = n + 1 if conn == "wye" or n < 3 else n
        term = terminal(o, bus, nconds, n)
    nodes = term.nodes
    conn_out = Conn.wye
    if conn == "delta" and n == 1 and nodes[1] == 0:
        conn = "wye"
        notes.append(f"{o.where}: {o.label} is a 1-phase delta load on one node ({term.bus}."
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
           "cls": CustomerClass.residential if kw < 50.0 else CustomerClass.commercial, "fixed": fixed}
    return row, term, enabled


def _generator(o: DssObject) -> tuple[dict, Terminal]:
    """Generator or PV system row (total power) and terminal."""
    pv = o.cls == "pvsystem"
    n, kv, conn, enabled = 3, 12.47, "wye", True
    kw, pf = (500.0, 1.0) if pv else (1000.0, 0.88)
    kvar: float | None = None
    kva: float | None = None
    irradiance, pmpp = 1.0, 500.0
    bus: BusText = (None, None)
    for s in o.settings:
        with at(o, s):
            p = s.prop
            if p == "phases":
                n = whole(s)
            elif p == "bus1":
                bus = (s.text, s)
            elif p == "kv":
                kv = num(s)
            elif p == "kw":
                kw = num(s)
            elif p == "pf":
                pf, kvar = num(s), None
            elif p == "kvar":
                kvar = num(s)
            elif p in ("kva", "mva"):
                kva = num(s) * (1000.0 if p == "mva" else 1.0)
            elif p == "conn":
                conn = connection(s)
            elif p == "irradiance":
                irradiance = num(s)
            elif p == "pmpp":
                pmpp = num(s)
            elif p == "enabled":
                enabled = rpn.boolean(s.text)
    with at(o):
        if pv:
            kva = kva if kva is not None else 500.0
            kw = min(pmpp * irradiance, kva)
        kva = kva if kva is not None else kw * 1.2
        if kvar is None:
            kvar = _kvar(kw, pf)
        term = terminal(o, bus, n + 1 if conn == "wye" else n, n)
    row = {"id": o.name, "bus": term.bus, "conn": Conn.delta if conn == "delta" else Conn.wye,
           "kind": GeneratorKind.photovoltaic if pv else GeneratorKind.synchronous, "v_rated_v": kv * 1000.0,
           "p_w": kw * 1000.0, "q_var": kvar * 1000.0, "s_rated_va": kva * 1000.0, "in_service": enabled}
    return row, term

