"""Who has power, change by change: the incremental update equals the topology worked out anew."""

import numpy as np

from twin.grid.topology import build_topology
from twin.world.events import EventStream
from twin.world.physics import GridState
from twin.world.territory import generate_territory


def test_every_change_agrees_with_the_topology():
    net = generate_territory(6000, seed=5)
    grid = GridState(net, EventStream())
    out_at_start = ~grid.energised_customers.copy()
    rng = np.random.default_rng(2)
    normal_open = np.asarray(net.switch["normal_open"], bool)
    closed = np.flatnonzero(~normal_open)
    ties = np.flatnonzero(normal_open)
    customer_bus = net.bus.index(net.service_point["bus"])
    out_total = 0
    for step in range(120):
        if step % 40 == 39 and len(ties):  # now and then a tie closes (the tree changes) and opens again
            row = int(rng.choice(ties))
        else:
            row = int(rng.choice(closed))
        grid.operate(float(step), str(net.switch.ids[row]), open_=not grid.switch_open[row], why="test")
        exact = build_topology(grid.network()).energised[customer_bus]
        assert np.array_equal(grid.energised_customers, exact), step
        out_total += int((~exact).sum())
    assert out_total > 0  # the walk did take customers off
    active = [o for o in grid.outages if np.isnan(o.restored_s)]
    remaining = np.concatenate([o.remaining for o in active]) if active else np.zeros(0, np.int64)
    assert len(np.unique(remaining)) == len(remaining)  # nobody in two active outages
    assert np.array_equal(np.sort(remaining), np.flatnonzero(~grid.energised_customers & ~out_at_start))
