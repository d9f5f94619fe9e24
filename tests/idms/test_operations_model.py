"""The operations model: believed states and their sources, and energisation kept change by change
equal to the topology of the believed states worked out anew."""

import time

import numpy as np
import pytest

from tests.grid.feeders import FEEDERS_DIR, MASTERS, needs_feeders
from twin.errors import ModelError
from twin.grid.opendss import load_opendss
from twin.grid.topology import build_topology
from twin.idms.operations_model import OperationsModel, Source
from twin.world.territory import generate_territory


@pytest.fixture(scope="module")
def net():
    return generate_territory(3000, seed=7)


def _exact(model: OperationsModel):
    """The topology of the believed states, made from scratch."""
    return build_topology(model.net, switch_open=model.open)


def _customer_bus(net):
    return net.bus.index(net.service_point["bus"])


def _check(model, net, rows_to_check):
    topo = _exact(model)
    cbus = _customer_bus(net)
    assert np.array_equal(model.energised(), topo.energised[cbus])
    assert np.array_equal(model.energised_buses(), topo.energised)
    to_live = topo.energised[net.bus.index(net.line["to_bus"])]
    assert np.array_equal(model.energised_lines(), to_live & np.asarray(net.line["in_service"], bool))
    assert np.array_equal(np.sort(model.de_energised_customers()), np.flatnonzero(~topo.energised[cbus]))
    for row in rows_to_check:
        name = str(net.switch.ids[row])
        if not model.open[row]:  # a closed device: who loses power if it opens, as the topology says
            expect = np.sort(topo.customers_downstream(f"switch.{name}"))
            below = model.customers_below(name)
            assert np.array_equal(np.sort(below[model.energised(below)]), expect), name
    return topo


def test_random_walk_agrees_with_topology(net):
    model = OperationsModel(net)
    rng = np.random.default_rng(3)
    normal_open = np.asarray(net.switch["normal_open"], bool)
    closed, ties = np.flatnonzero(~normal_open), np.flatnonzero(normal_open)
    assert len(ties)
    lost_total = regained_total = incremental = 0
    changes = []
    model.subscribe(changes.append)
    before = model.energised()
    for step in range(150):
        opened = np.flatnonzero(model.open & ~normal_open)
        if step % 50 in (24, 49):  # now and then a tie toggles: the tree itself changes
            row = int(rng.choice(ties))
        elif len(opened) and rng.random() < 0.4:  # close one again, often with others open below it
            row = int(rng.choice(opened))
        else:
            row = int(rng.choice(closed))
        radial = model.open[ties].all() and not normal_open[row]
        rebuilds = model.rebuilds
        change = model.apply(str(net.switch.ids[row]), not model.open[row], Source.scada, float(step))
        if radial:  # every tie open: opening and closing devices are range updates, never a rebuild
            assert model.rebuilds == rebuilds, step
            incremental += 1
        assert change is not None and changes[-1] is change
        after = model.energised()
        assert np.array_equal(np.sort(change.lost), np.flatnonzero(before & ~after))
        assert np.array_equal(np.sort(change.regained), np.flatnonzero(~before & after))
        lost_total += len(change.lost)
        regained_total += len(change.regained)
        before = after
        sample = rng.choice(len(net.switch), 25, replace=False)
        _check(model, net, [row, *sample.tolist()])
    assert lost_total > 0 and regained_total > 0
    assert incremental > 30 and model.rebuilds > 2


def test_nested_devices(net):
    """A fuse out inside a recloser's section stays out when the recloser closes again."""
    model = OperationsModel(net)
    sp = net.service_point
    for k in range(len(sp)):
        above = model.devices_above(f"service_point.{sp.ids[k]}")
        if len(above) >= 3:
            break
    inner, outer = above[0], above[1]
    inner_lost = model.apply(inner, True, Source.crew, 1.0).lost
    outer_lost = model.apply(outer, True, Source.scada, 2.0).lost
    assert len(inner_lost) and not set(inner_lost.tolist()) & set(outer_lost.tolist())
    assert set(model.customers_below(inner).tolist()) == set(inner_lost.tolist())  # still what the fuse cut
    back = model.apply(outer, False, Source.scada, 3.0)
    assert np.array_equal(np.sort(back.regained), np.sort(outer_lost))
    assert np.array_equal(np.sort(model.de_energised_customers()), np.sort(inner_lost))
    _check(model, net, [net.switch.position(outer)])


@needs_feeders
@pytest.mark.parametrize("feeder", ["123bus", "8500-node"])
def test_ieee_feeders_any_switch_toggled(feeder):
    """Every switch, ties and loops included, toggled at random: still the topology's answer."""
    net = load_opendss(FEEDERS_DIR / MASTERS[feeder])
    model = OperationsModel(net)
    rng = np.random.default_rng(11)
    for step in range(60):
        row = int(rng.integers(len(net.switch)))
        model.apply(str(net.switch.ids[row]), not model.open[row], Source.manual, float(step))
        _check(model, net, range(len(net.switch)))


def test_tie_closed_then_opened(net):
    """A section cut off, picked up over its tie, then the tie opened and the section restored."""
    model = OperationsModel(net)
    normal_open = np.asarray(net.switch["normal_open"], bool)
    tie = int(np.flatnonzero(normal_open)[0])
    tie_name = str(net.switch.ids[tie])
    tie_bus = [net.switch["from_bus"][tie], net.switch["to_bus"][tie]]
    # an upstream device of one side of the tie, not a breaker on the way to its source
    above = model.devices_above(f"bus.{tie_bus[0]}")
    assert above
    cut = above[0]
    opened = model.apply(cut, True, Source.scada, 10.0)
    assert len(opened.lost)
    _check(model, net, [])
    picked = model.apply(tie_name, False, Source.manual, 20.0)
    assert set(picked.regained.tolist()) <= set(opened.lost.tolist()) and len(picked.regained)
    topo = _check(model, net, [tie])
    # the picked-up customers now hang below the tie
    below_tie = np.sort(model.customers_below(tie_name))
    assert np.array_equal(below_tie, np.sort(topo.customers_downstream(f"switch.{tie_name}")))
    assert set(picked.regained.tolist()) <= set(below_tie.tolist())
    # feeders stay those of the normal configuration
    assert set(model.feeders_of(picked.regained).tolist()) == {model.feeder_of(cut)}
    back = model.apply(tie_name, True, Source.manual, 30.0)
    assert np.array_equal(np.sort(back.lost), np.sort(picked.regained))
    _check(model, net, [])
    restored = model.apply(cut, False, Source.crew, 40.0)
    assert np.array_equal(np.sort(restored.regained), np.sort(opened.lost))
    assert not model.de_energised_customers().size


def test_customers_below_an_open_device_are_those_it_cut_off(net):
    model = OperationsModel(net)
    kinds = net.switch["kind"]
    row = int(np.flatnonzero((kinds == 1) & ~np.asarray(net.switch["open"], bool))[0])  # a recloser
    name = str(net.switch.ids[row])
    fed = np.sort(model.customers_below(name))
    assert len(fed)
    change = model.apply(name, True, Source.scada, 5.0)
    assert np.array_equal(np.sort(change.lost), fed)
    assert np.array_equal(np.sort(model.customers_below(name)), fed)
    assert not model.energised(fed).any()


def test_source_precedence_latest_report_wins(net):
    model = OperationsModel(net)
    name = str(net.switch.ids[np.flatnonzero(~np.asarray(net.switch["open"], bool))[0]])
    assert model.belief(name) == (False, Source.model, -np.inf)
    model.apply(name, True, Source.scada, 100.0)
    assert model.belief(name) == (True, Source.scada, 100.0)
    model.apply(name, False, Source.crew, 200.0)  # the crew finds it closed: overrides SCADA
    assert model.belief(name) == (False, Source.crew, 200.0)
    assert model.apply(name, True, Source.scada, 150.0) is None  # older than the crew's word: set aside
    assert model.belief(name) == (False, Source.crew, 200.0)
    model.apply(name, True, Source.scada, 250.0)  # fresh telemetry overrides the crew's report
    assert model.belief(name) == (True, Source.scada, 250.0)
    model.apply(f"switch.{name}", False, "manual", 300.0)
    assert model.belief(name) == (False, Source.manual, 300.0)
    assert [(r.source, r.accepted) for r in model.log] == [
        (Source.scada, True), (Source.crew, True), (Source.scada, False), (Source.scada, True),
        (Source.manual, True)]
    assert model.log[1].was_open and model.log[1].was_source is Source.scada
    assert not model.de_energised_customers().size


def test_devices_above_and_feeders(net):
    model = OperationsModel(net)
    topo = build_topology(net)
    sp = net.service_point
    for k in range(0, len(sp), 97):
        ref = f"service_point.{sp.ids[k]}"
        path = [r.partition(".")[2] for r in topo.path_to_source(ref) if r.startswith("switch.")]
        assert model.devices_above(ref) == path
        assert model.feeder_of(ref) == topo.feeder_of(ref)
    counts = model.feeder_counts()
    assert sum(c.customers for c in counts.values()) == len(sp)
    assert all(c.out == 0 for c in counts.values())
    breaker = model.devices_above(f"service_point.{sp.ids[0]}")[-1]
    assert model.feeder_of(breaker) == breaker
    change = model.apply(breaker, True, Source.scada, 1.0)
    counts = model.feeder_counts()
    assert counts[breaker].out == counts[breaker].customers == len(change.lost)
    assert sum(c.out for c in counts.values()) == len(change.lost)
    topo = _exact(model)
    line_live = topo.energised[net.bus.index(net.line["from_bus"])] & np.asarray(net.line["in_service"], bool)
    assert np.array_equal(model.energised_lines(), line_live) and not line_live.all()


def test_unknown_device_names_itself(net):
    model = OperationsModel(net)
    with pytest.raises(ModelError) as err:
        model.apply("NO-SUCH", True, Source.scada, 0.0)
    assert err.value.element == "NO-SUCH"


def test_timing_100k(capsys):
    """Mean time per change on a 100k-customer territory (printed, not asserted)."""
    big = generate_territory(100_000, seed=1)
    t0 = time.perf_counter()
    model = OperationsModel(big)
    build_s = time.perf_counter() - t0
    rng = np.random.default_rng(0)
    normal_open = np.asarray(big.switch["normal_open"], bool)
    closed = np.flatnonzero(~normal_open)
    ids = big.switch.ids
    rows = rng.choice(closed, 400, replace=False)
    t0 = time.perf_counter()
    for k, row in enumerate(rows.tolist()):
        model.apply(str(ids[row]), True, Source.scada, float(k))
    opening_s = time.perf_counter() - t0
    out = model.de_energised_customers()
    assert len(out) and np.array_equal(out, np.flatnonzero(~_exact(model).energised[_customer_bus(big)]))
    t0 = time.perf_counter()
    for k, row in enumerate(rows[::-1].tolist()):
        model.apply(str(ids[row]), False, Source.scada, float(1000 + k))
    range_us = (opening_s + time.perf_counter() - t0) / (2 * len(rows)) * 1e6
    ties = np.flatnonzero(normal_open)[:5]
    t0 = time.perf_counter()
    for k, row in enumerate(ties.tolist()):
        model.apply(str(ids[row]), False, Source.manual, 2000.0 + k)
        model.apply(str(ids[row]), True, Source.manual, 2000.5 + k)
    tie_us = (time.perf_counter() - t0) / (2 * len(ties)) * 1e6
    assert not model.de_energised_customers().size
    with capsys.disabled():
        print(f"\noperations model 100k: {len(big.bus)} buses, {len(big.switch)} switches; "
              f"build {build_s:.2f} s; range update {range_us:.0f} us/change ({len(out)} customers out at the "
              f"worst); "
              f"tie close/open {tie_us / 1000:.1f} ms/change")
