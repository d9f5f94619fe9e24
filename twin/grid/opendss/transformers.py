"""Transformers and regulators: OpenDSS ``Transformer``, ``XfmrCode`` and ``RegControl`` into rows.

A ``Transformer`` becomes a ``transformer`` row of 2 or 3 windings, its ``XfmrCode`` expanded where
it is named (the transformer's own assignments before and after it apply in order). Its kind is
center_tap for a 1-phase 3-winding unit whose windings 2 and 3 share a bus, single_phase for other
1-phase units, three_phase otherwise. Assignments interact as in OpenDSS: ``kva`` of winding 1 sets
the others, ``%loadloss`` sets the %r of windings 1 and 2 (half each), arrays (``kvs=[...]``) set
one value per winding and ``wdg=`` picks the winding that ``bus``, ``kv``, ``tap``... apply to.

A winding is delta if so connected or if it joins two phases (a 1-phase unit with no node on 0);
otherwise a wye grounded when its neutral node is 0 and ungrounded when not.

A ``RegControl`` becomes a ``regulator`` row on its transformer's winding; the transformer's tap
limits are those of the regulated winding. The monitored phase (``PTphase``) counts the conductors
of that winding's terminal.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from twin.grid.opendss import rpn
from twin.grid.opendss.buses import Attached, BusText, Terminal, monitored_slot, phase_flags, terminal
from twin.grid.opendss.script import DssObject, Script, Setting
from twin.grid.opendss.values import SQRT3, at, connection, fail, keyword, last_values, num, number_in, whole
from twin.grid.schema import Conn, TransformerKind

if TYPE_CHECKING:
    from twin.grid.opendss.build import Build

__all__ = ["Transformer", "Winding", "add_regulators", "add_transformers", "read_transformers"]


@dataclass
class Winding:
    """One winding as the assignments leave it (kV, kVA, tap, %r, bus and tap limits)."""

    conn: str = "wye"
    kv: float = 12.47
    kva: float = 1000.0
    tap: float = 1.0
    r_pct: float = 0.2
    bus: BusText = (None, None)
    maxtap: float = 1.1
    mintap: float = 0.9
    numtaps: int = 32
    limits_set: bool = False
    term: Terminal | None = None


@dataclass
class Transformer:
    """A Transformer's assignments replayed; ``active`` is the winding ``wdg=`` picked."""

    obj: DssObject
    phases: int = 3
    windings: list[Winding] = field(default_factory=lambda: [Winding(), Winding()])
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


def read_transformers(script: Script, notes: list[str]) -> list[Transformer]:
    """The script's transformers replayed, in definition order; disabled ones noted and left out."""
    xfmrcodes = {o.name: o for o in script.of("xfmrcode")}
    out = []
    for o in script.of("transformer"):
        t = _transformer_state(o, xfmrcodes)
        if t.enabled:
            out.append(t)
        else:
            notes.append(f"{o.where}: {o.label} is disabled: not imported")
    return out


def _transformer_state(obj: DssObject, xfmrcodes: dict[str, DssObject]) -> Transformer:
    t = Transformer(obj)
    _apply_xfmr(t, obj, obj.settings, xfmrcodes)
    with at(obj):
        for w in t.windings:
            w.term = terminal(obj, w.bus, t.phases + 1, t.phases)
    return t


def _apply_xfmr(t: Transformer, obj: DssObject, settings: list[Setting], xfmrcodes: dict[str, DssObject]) -> None:
    for s in settings:
        with at(obj, s):
            p, w = s.prop, t.windings[t.active]
            if p == "phases":
                t.phases = whole(s)
            elif p == "windings":
                n = whole(s)
                if n not in (2, 3):
                    raise ValueError("Twin models 2- and 3-winding transformers")
                buses = [x.bus for x in t.windings] + [(None, None)] * 3
                t.windings = [Winding(bus=buses[k]) for k in range(n)]
                t.active = 0
            elif p == "wdg":
                k = whole(s)
                if not 1 <= k <= len(t.windings):
                    raise ValueError(f"winding {k} does not exist (windings={len(t.windings)})")
                t.active = k - 1
            elif p == "bus":
                w.bus = (s.text, s)
            elif p == "conn":
                w.conn = connection(s)
            elif p == "kv":
                w.kv = num(s)
            elif p == "kva":
                w.kva = num(s)
                if t.active == 0:
                    for other in t.windings[1:]:
                        other.kva = w.kva
                elif len(t.windings) == 2:
                    t.windings[0].kva = w.kva
            elif p == "tap":
                w.tap = num(s)
            elif p == "%r":
                w.r_pct = num(s)
            elif p in ("maxtap", "mintap", "numtaps"):
                setattr(w, p, whole(s) if p == "numtaps" else num(s))
                w.limits_set = True
            elif p == "buses":
                for x, text in zip(t.windings, _array(s, len(t.windings))):
                    x.bus = (text, s)
            elif p == "conns":
                for x, text in zip(t.windings, _array(s, len(t.windings))):
                    x.conn = connection(Setting(p, text, False, s.file, s.line))
            elif p in _PER_WINDING_ARRAY:
                values = [rpn.number(v) for v in _array(s, len(t.windings))]
                for x, v in zip(t.windings, values):
                    setattr(x, _PER_WINDING_ARRAY[p], v)
            elif p in _X_DEFAULT:
                k, default = _X_DEFAULT[p]
                t.x_pct[k] = num(s) or default
            elif p == "xscarray":
                for k, v in enumerate(rpn.numbers(s.text)[:3]):
                    t.x_pct[k] = v
            elif p == "%loadloss":
                t.windings[0].r_pct = t.windings[1].r_pct = num(s) / 2.0
            elif p == "%noloadloss":
                t.noload_pct = num(s)
            elif p == "%imag":
                t.imag_pct = num(s)
            elif p == "bank":
                t.bank = s.text.strip()
            elif p == "enabled":
                t.enabled = rpn.boolean(s.text)
            elif p == "xfmrcode":
                code = xfmrcodes.get(keyword(s))
                if code is None:
                    raise fail(obj, s, f"XfmrCode '{s.text}' is not defined",
                                fix="define 'New XfmrCode.name ...' before the transformers that use it")
                active = t.active
                _apply_xfmr(t, code, code.settings, xfmrcodes)
                t.active = active


def _array(s: Setting, n: int) -> list[str]:
    items = rpn.split(s.text)
    if len(items) > n:
        raise ValueError(f"{len(items)} values for {n} windings")
    return items




def add_regulators(b: Build) -> dict[str, int]:
    """Regulator rows; returns the regulated winding of each transformer."""
    regulated: dict[str, int] = {}
    by_name = {t.obj.name: t for t in b.xfmrs}
    for o in b.script.of("regcontrol"):
        v, where = last_values(o, {"transformer": "", "winding": "1", "vreg": "120", "band": "3", "ptratio": "60",
                                   "ctprim": "300", "r": "0", "x": "0", "delay": "15", "ptphase": "1",
                                   "enabled": "yes"})
        with at(o, where.get("transformer")):
            name = str(v["transformer"]).lower()
            t = by_name.get(name)
            if t is None:
                raise fail(o, where.get("transformer"), f"transformer '{v['transformer']}' is not defined"
                           if name else "no transformer given", fix="set transformer= to a defined Transformer")
        row = {"id": o.name, "transformer": name}
        for key, col in (("vreg", "v_set_v"), ("band", "band_v"), ("ptratio", "pt_ratio"),
                         ("ctprim", "ct_primary_a"), ("r", "ldc_r_v"), ("x", "ldc_x_v"), ("delay", "delay_s")):
            row[col] = number_in(o, v, where, key)
        with at(o, where.get("winding")):
            row["winding"] = rpn.integer(str(v["winding"]))
            if not 1 <= row["winding"] <= len(t.windings):
                raise ValueError(f"{t.obj.label} has {len(t.windings)} windings")
        with at(o, where.get("enabled")):
            row["enabled"] = rpn.boolean(str(v["enabled"]))
        with at(o, where.get("ptphase")):
            row["phase"] = monitored_slot(b.notes, o, str(v["ptphase"]), t.windings[row["winding"] - 1].term)
        regulated[name] = row["winding"]
        b.rows["regulator"].append(row)
    return regulated


def add_transformers(b: Build, regulated: dict[str, int]) -> None:
    """Transformer rows; tap limits are the regulated winding's (``regulated``: name -> winding)."""
    for t in b.xfmrs:
        o, ws = t.obj, t.windings
        volts = []
        buses, phases, conns = [], [], []
        for w in ws:
            nodes = w.term.nodes
            b.terms.append(Attached(w.term, o, True))
            both = t.phases == 1 and nodes[0] != 0 and nodes[1] != 0
            to_ground = w.kv * 1000.0 * w.tap / (SQRT3 if t.phases > 1 or both else 1.0)
            volts.append((w.term.bus, to_ground))
            buses.append(w.term.bus)
            phases.append(phase_flags(b.split, o, w.term))
            if w.conn == "delta" or both:
                conns.append(Conn.delta)
            else:  # a 1-phase winding with one end on node 0 is grounded, whichever end it is
                grounded = 0 in nodes if t.phases == 1 else nodes[t.phases] == 0
                conns.append(Conn.wye if grounded else Conn.wye_ungrounded)
        b.xfmr_ratios.append(volts)
        k = regulated.get(o.name)
        limits = ws[k - 1] if k and k <= len(ws) else next((w for w in ws if w.limits_set), ws[0])
        kind = (TransformerKind.center_tap if t.center_tap else
                TransformerKind.single_phase if t.phases == 1 else TransformerKind.three_phase)
        pad = 3 - len(ws)
        b.rows["transformer"].append({
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
