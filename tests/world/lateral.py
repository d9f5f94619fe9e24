"""A small territory and a fused lateral on it, shared by the world's, meters' and callers' tests."""

from __future__ import annotations

from functools import cache

from twin.grid.topology import build_topology
from twin.world.territory import generate_territory


@cache
def fused_lateral():
    """The territory (2,000 customers, seed 3), its topology, the fused lateral below a recloser
    with the least fault current (far out: within the recloser's fuse-saving range), the recloser,
    and the line at the lateral's weakest point."""
    from twin.grid.shortcircuit import fault_study

    net = generate_territory(2000, seed=3)
    topo = build_topology(net)
    zones = fault_study(net).zones.set_index("device")
    below = [f for f in zones.index
             if zones.at[f, "kind"] == "fuse" and topo.upstream_protective(f"switch.{f}").endswith("-RCL")]
    fuse = min(below, key=lambda f: zones.at[f, "max_a"])
    weakest = zones.at[fuse, "weakest_bus"]
    line = next(str(l) for l, b in zip(net.line.ids, net.line["to_bus"]) if b == weakest)
    return net, topo, fuse, topo.upstream_protective(f"switch.{fuse}"), line
