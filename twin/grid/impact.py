"""What opening one device does to customers: the question a dispatcher asks before every switch.

>>> from twin.grid.network import Network
>>> from twin.grid.topology import build_topology
>>> topo = build_topology(Network.empty("empty"))
>>> outage_impact(topo, "bus.nowhere")  # doctest: +IGNORE_EXCEPTION_DETAIL
Traceback (most recent call last):
twin.errors.ModelError: bus nowhere: no element with id 'nowhere'
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from twin.grid.schema import CustomerClass
from twin.grid.topology import Topology

__all__ = ["OutageImpact", "outage_impact"]


@dataclass(frozen=True)
class OutageImpact:
    """Customers interrupted if ``ref`` opens (an edge) or loses supply (a bus or point element)."""

    ref: str
    customers: np.ndarray  # service_point rows
    critical: tuple[str, ...]  # ids of critical customers among them
    by_class: dict[str, int]
    load_w: float  # rated active load of the customers' loads
    feeder: str
    upstream_protective: str
    path_to_source: tuple[str, ...]

    def text(self, *, limit: int = 10) -> str:
        """A short report for the console."""
        classes = ", ".join(f"{n} {c}" for c, n in self.by_class.items() if n)
        lines = [
            f"{self.ref}: {len(self.customers)} customers would lose supply"
            + (f" ({classes})" if classes else ""),
            f"  feeder {self.feeder or '-'}; nearest upstream protective device: "
            f"{self.upstream_protective or 'none'}",
            f"  interrupted load {self.load_w / 1e3:.1f} kW",
        ]
        if self.critical:
            shown = ", ".join(self.critical[:limit]) + (" ..." if len(self.critical) > limit else "")
            lines.append(f"  critical customers ({len(self.critical)}): {shown}")
        if self.path_to_source:
            lines.append("  path to source: " + " <- ".join(self.path_to_source))
        return "\n".join(lines)


def outage_impact(topo: Topology, ref: str) -> OutageImpact:
    """Customers, critical customers and load behind ``ref`` for the topology's switch states."""
    rows = topo.customers_downstream(ref)
    sp = topo.net.service_point
    classes = np.bincount(sp["cls"][rows].astype(np.int64), minlength=len(CustomerClass))
    loads = sp["load"][rows]
    load_rows = topo.net.load.index(np.unique(loads[loads != ""]).tolist()) if len(rows) else []
    return OutageImpact(
        ref=ref,
        customers=rows,
        critical=tuple(sp.ids[rows][sp["critical"][rows]].tolist()),
        by_class={c.name: int(classes[c]) for c in CustomerClass},
        load_w=float(topo.net.load["p_w"][load_rows].sum()) if len(load_rows) else 0.0,
        feeder=topo.feeder_of(ref),
        upstream_protective=topo.upstream_protective(ref),
        path_to_source=tuple(topo.path_to_source(ref)),
    )
