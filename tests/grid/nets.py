"""Small hand-made networks for tests: rows in, a Network out."""

from __future__ import annotations

from typing import Any

import numpy as np

from twin.grid import SCHEMAS, Network, Phase, Table

EYE = np.eye(3)


def code(id_: str = "c3", r: float = 3e-4, x: float = 6e-4) -> dict[str, Any]:
    """A three-phase line code with only self impedance, in ohm/m."""
    return {"id": id_, "n_phases": 3, "r_ohm_per_m": r * EYE, "x_ohm_per_m": x * EYE}


def network(name: str = "test", **rows: list[dict[str, Any]]) -> Network:
    """A network from rows per table; buses named by any element are created at 12.47 kV."""
    rows = {k: list(v) for k, v in rows.items()}
    known = {b["id"] for b in rows.get("bus", [])}
    for table in ("line", "switch"):
        for r in rows.get(table, []):
            r.setdefault("phases", Phase.ABC)
            for end in ("from_bus", "to_bus"):
                if r[end] not in known:
                    rows.setdefault("bus", []).append({"id": r[end], "v_nom_v": 12470.0, "phases": Phase.ABC})
                    known.add(r[end])
    for r in rows.get("line", []):
        r.setdefault("code", "c3")
        r.setdefault("length_m", 100.0)
    if rows.get("line") and not rows.get("line_code"):
        rows["line_code"] = [code()]
    tables = {name_: Table.from_rows(SCHEMAS[name_], r) for name_, r in rows.items()}
    return Network.from_tables(name, tables)
