"""Protective devices and switch controls: ``Fuse``, ``Recloser``, ``Relay``, ``SwtControl``.

Twin has no separate protection table: a device is a ``switch`` row of its kind (fuse, recloser,
breaker for a relay), on the line it names (``SwitchedObj=Line.X``, else ``MonitoredObj``). On a
switch line it changes that switch's kind; any other line is split by a new switch, named as the
device, at the device's terminal (bus -> new bus ``<bus>_<device>`` -> line). A ``SwtControl``
finds its switch the same way and marks it remote-controlled. ``normal``, ``state`` and
``action`` set the switch's state; the device's curve (``fusecurve``, ``phasedelayed``,
``phasecurve``) and ``ratedcurrent`` go onto the switch row.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from twin.grid.opendss import rpn
from twin.grid.opendss.buses import Attached, Terminal
from twin.grid.opendss.script import DssObject
from twin.grid.opendss.values import at, fail, last_values
from twin.grid.schema import SwitchKind

if TYPE_CHECKING:
    from twin.grid.opendss.build import Build

__all__ = ["add_protective_devices"]


def add_protective_devices(b: Build) -> None:
    """Fuses, reclosers and relays on lines become (or re-kind) switches; SwtControl sets states."""
    lines = {r["id"]: r for r in b.rows["line"]}
    switches = {r["id"]: r for r in b.rows["switch"]}
    for cls, kind in (("fuse", SwitchKind.fuse), ("recloser", SwitchKind.recloser), ("relay", SwitchKind.breaker),
                      ("swtcontrol", None)):
        for o in b.script.of(cls):
            v, where = last_values(o, {"monitoredobj": "", "switchedobj": "", "monitoredterm": "1",
                                       "switchedterm": "", "normal": "", "state": "", "action": "",
                                       "fusecurve": "", "phasedelayed": "", "phasecurve": "", "ratedcurrent": ""})
            target_key = "switchedobj" if v["switchedobj"] else "monitoredobj"
            s = where.get(target_key)
            target = str(v[target_key]).strip().lower()
            tcls, _, name = target.partition(".")
            if tcls != "line" or (name not in lines and name not in switches):
                raise fail(o, s, f"{target or 'no element'}: Twin places protective devices and switch "
                           "controls on lines", fix="name the line it protects: SwitchedObj=Line.X")
            with at(o, where.get("switchedterm") or where.get("monitoredterm")):
                terminal = rpn.integer(str(v["switchedterm"] or v["monitoredterm"]))
            row = switches.get(name) or _split_line(b, o, lines[name], terminal, switches)
            if kind is not None:
                row["kind"] = kind
            else:
                row["remote"] = True
            curve = v["fusecurve"] or v["phasedelayed"] or v["phasecurve"]
            if curve:
                row["curve"] = str(curve)
            if v["ratedcurrent"]:
                with at(o, where["ratedcurrent"]):
                    row["rated_a"] = rpn.number(str(v["ratedcurrent"]))
            for key, col in (("normal", "normal_open"), ("state", "open"), ("action", "open")):
                if v[key]:
                    row[col] = str(v[key]).strip().lower().startswith("o")
    b.rows["line"] = list(lines.values())
    b.rows["switch"] = list(switches.values())


def _split_line(b: Build, o: DssObject, line: dict, terminal: int, switches: dict[str, dict]) -> dict:
    """Insert a switch at one end of a line: bus -> new bus '<bus>_<device>' -> line."""
    if o.name in switches:
        raise fail(o, None, f"a switch named '{o.name}' exists already", fix="rename the device")
    end = "to_bus" if terminal == 2 else "from_bus"
    bus = line[end]
    new_bus = f"{bus}_{o.name}"
    line[end] = new_bus
    src, dst = (bus, new_bus) if end == "from_bus" else (new_bus, bus)
    owner, term = line["phases"]
    row = {"id": o.name, "from_bus": src, "to_bus": dst, "phases": (owner, term),
           "kind": SwitchKind.load_break_switch, "normal_open": False, "open": False, "rated_a": np.nan}
    switches[o.name] = row
    b.terms.append(Attached(Terminal(new_bus, term.nodes), owner, line["in_service"]))
    b.edges.append((bus, new_bus))
    b.notes.append(f"{o.where}: {o.label} inserted as switch {o.name} between {src} and {dst} "
                   f"({owner.label} now {'starts' if end == 'from_bus' else 'ends'} at {new_bus})")
    return row
