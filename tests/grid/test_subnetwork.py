"""Parts of a network: split by substation, each part's model complete and solvable alone."""

import numpy as np
import pytest

from twin.grid.powerflow import solve
from twin.grid.subnetwork import WHOLE, Split, parts, row_parts, split
from twin.world.territory import generate_territory


@pytest.fixture(scope="module")
def net():
    return generate_territory(25_000, seed=3)  # two substations, a normally open tie between them


def test_parts_follow_the_open_ties(net):
    normal_open = np.asarray(net.switch["normal_open"], bool)
    label = parts(net, normal_open)
    assert label.max() + 1 == len(net.source)  # one part per substation
    assert label[0] == 0
    together = parts(net, np.zeros(len(net.switch), bool))  # every tie closed: one network
    assert (together == 0).all()


def test_every_row_is_in_its_buses_part(net):
    label = parts(net, np.asarray(net.switch["normal_open"], bool))
    rows = row_parts(net, label)
    sw = net.switch
    a, b = label[net.bus.index(sw["from_bus"])], label[net.bus.index(sw["to_bus"])]
    assert np.array_equal(rows["switch"] == -1, a != b)  # only ties between substations span two parts
    assert (rows["line_code"] == WHOLE).all()
    sp = net.service_point
    assert np.array_equal(rows["service_point"], label[net.bus.index(sp["bus"])])
    reg = net.regulator
    assert np.array_equal(rows["regulator"], rows["transformer"][net.transformer.index(reg["transformer"])])


def test_split_keeps_every_element_once_and_solves_alike(net):
    label = parts(net, np.asarray(net.switch["normal_open"], bool))
    subs = split(net, label)
    for name, table in net.tables():
        counted = sum(len(s.table(name)) for s in subs.values())
        if name == "line_code":
            assert all(len(s.line_code) == len(table) for s in subs.values())
        elif name == "switch":
            assert counted == len(table) - int(np.sum(row_parts(net, label)["switch"] == -1))
        else:
            assert counted == len(table), name
    whole = solve(net).voltages.set_index(["bus", "phase"])["v_pu"]
    for sub in subs.values():
        alone = solve(sub).voltages.set_index(["bus", "phase"])["v_pu"]
        assert np.abs(alone - whole.reindex(alone.index)).max() < 1e-7


def test_a_part_keeps_only_what_lies_among_its_buses(net):
    keep = np.zeros(len(net.bus), bool)
    keep[:10] = True
    sub = Split(net, np.where(keep, 0, -1)).network(0)
    assert len(sub.bus) == 10
    inside = set(sub.bus.ids.tolist())
    assert all(f in inside and t in inside for f, t in zip(sub.line["from_bus"], sub.line["to_bus"]))
    assert set(sub.service_point["bus"].tolist()) <= inside
