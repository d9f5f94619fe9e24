"""A hand-made pair of feeders with a tie, for the switching, safety and FLISR tests.

Feeder A (source SA, 12.47 kV) runs BKA - a1 - SWA1 - a3 - RCA - a5 - SWA2 - a7 - a8, with a fused
lateral FA at a5 (a9 - a10); feeder B (source SB) runs BKB - b1 - SWB1 - b3 - b4. The normally open
tie T1 joins a8 to b4. Every device but the fuse is remote. Loads (3-phase, kW per phase in
``KW``) and two customers sit at a2, a4, a6, a8, a10, b2 and b4; the customers at a6 are critical.
"""

from __future__ import annotations

from tests.grid.nets import network
from twin.grid import Phase
from twin.grid.schema import SwitchKind

KW = {"a2": 300.0, "a4": 300.0, "a6": 300.0, "a8": 300.0, "a10": 100.0, "b2": 300.0, "b4": 300.0}

CHAIN_A = [("BKA", "sa", "a1", SwitchKind.breaker), ("LA1", "a1", "a2", None), ("LA1b", "a2", "a2x", None),
           ("SWA1", "a2x", "a3", SwitchKind.load_break_switch), ("LA2", "a3", "a4", None),
           ("RCA", "a4", "a5", SwitchKind.recloser), ("LA3", "a5", "a6", None), ("LA3b", "a6", "a6x", None),
           ("SWA2", "a6x", "a7", SwitchKind.load_break_switch), ("LA4", "a7", "a8", None),
           ("FA", "a5", "a9", SwitchKind.fuse), ("LA5", "a9", "a10", None)]
CHAIN_B = [("BKB", "sb", "b1", SwitchKind.breaker), ("LB1", "b1", "b2", None),
           ("SWB1", "b2", "b3", SwitchKind.load_break_switch), ("LB2", "b3", "b4", None)]


def feeders(*, rated_a: dict[str, float] | None = None, kw: dict[str, float] | None = None):
    """The two feeders (see the module docstring); ``rated_a`` line ratings (A) by line id."""
    kw = {**KW, **(kw or {})}
    rated_a = rated_a or {}
    lines, switches = [], []
    for id_, a, b, kind in CHAIN_A + CHAIN_B:
        if kind is None:
            lines.append({"id": id_, "from_bus": a, "to_bus": b, "length_m": 800.0, "rated_a": rated_a.get(id_, 400.0)})
        else:
            switches.append({"id": id_, "from_bus": a, "to_bus": b, "kind": kind, "remote": kind != SwitchKind.fuse,
                             "rated_a": 600.0})
    switches.append({"id": "T1", "from_bus": "a8", "to_bus": "b4", "kind": SwitchKind.load_break_switch,
                     "remote": True, "normal_open": True, "open": True, "rated_a": 600.0})
    loads, customers = [], []
    for bus, p in kw.items():
        loads.append({"id": f"LD-{bus}", "bus": bus, "phases": Phase.ABC, "v_rated_v": 12470.0, "p_w": p * 1e3,
                      "q_var": 0.3 * p * 1e3})
        for k in (1, 2):
            customers.append({"id": f"C-{bus}-{k}", "meter": f"M-{bus}-{k}", "bus": bus, "load": f"LD-{bus}",
                              "critical": bus == "a6"})
    return network("two-feeders-tie",
                   source=[{"id": "SA", "bus": "sa", "v_nom_v": 12470.0}, {"id": "SB", "bus": "sb", "v_nom_v": 12470.0}],
                   line=lines, switch=switches, load=loads, service_point=customers)
