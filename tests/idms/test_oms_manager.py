"""The outage manager on its own, fed by hand: a clock that runs when told, the operations model,
and trouble calls and SCADA reports given directly (no world)."""

from __future__ import annotations

import heapq

import numpy as np
import pytest

from twin.idms.interfaces.call_centre import Report, TroubleCall
from twin.idms.oms.manager import OutageManager
from twin.idms.oms.records import OutageState
from twin.idms.oms.store import OutageStore
from twin.idms.operations_model import OperationsModel, Source
from twin.world.territory import generate_territory

FUSE = "S01-F1-FU008"  # 10 transformers, 76 customers, not below the recloser
FUSE_BELOW_RECLOSER = "S01-F1-FU017"


class Clock:
    """Seconds that pass only when :meth:`run_to` says so."""

    def __init__(self) -> None:
        self.t, self._due, self._seq = 0.0, [], 0

    def now(self) -> float:
        return self.t

    def call_later(self, delay_s, callback) -> None:
        self._seq += 1
        heapq.heappush(self._due, (self.t + max(0.0, delay_s), self._seq, callback))

    def run_to(self, t: float) -> None:
        while self._due and self._due[0][0] <= t:
            self.t, _, callback = heapq.heappop(self._due)
            callback()
        self.t = t


@pytest.fixture(scope="module")
def net():
    return generate_territory(2000, seed=4)


def _manager(net, store=None, rules="normal"):
    clock = Clock()
    model = OperationsModel(net)
    return clock, model, OutageManager(model, clock, store=store, rules=rules)


def _two_callers(net, oms):
    """Two customers of the fuse under different transformers."""
    tree = oms.tree
    node = tree.node(FUSE)
    below = tree.customers_below(node)
    first = below[0]
    other = next(c for c in below if tree.leaf[c] != tree.leaf[first])
    return int(first), int(other)


def _call(net, c, t, n):
    sp = net.service_point
    return TroubleCall(f"CALL-{n}", t, str(sp.ids[c]), str(sp["meter"][c]), Report.no_power)


def test_calls_from_two_transformers_of_a_fuse_within_the_window_predict_the_fuse(net):
    clock, _, oms = _manager(net)
    a, b = _two_callers(net, oms)
    oms.on_calls([_call(net, a, 0.0, 1)])
    clock.run_to(100.0)
    assert [r.device_kind for r in oms.outages()] == ["transformer"]  # one call: its transformer
    oms.on_calls([_call(net, b, 100.0, 2)])
    clock.run_to(200.0)
    (rec,) = oms.outages()
    assert rec.device == FUSE and rec.calls == 2 and rec.state == OutageState.predicted
    assert set(oms.customers_of(rec.id).tolist()) == set(oms.tree.customers_below(oms.tree.node(FUSE)).tolist())


def test_calls_further_apart_than_the_window_are_two_outages(net):
    clock, _, oms = _manager(net)
    a, b = _two_callers(net, oms)
    oms.on_calls([_call(net, a, 0.0, 1)])
    clock.run_to(100.0)
    far = 100.0 + oms.rules.window_s + 60.0
    clock.run_to(far)
    oms.on_calls([_call(net, b, far, 2)])
    clock.run_to(far + 100.0)
    assert sorted(r.device_kind for r in oms.outages()) == ["transformer", "transformer"]


def test_a_scada_trip_is_confirmed_at_once_and_its_close_restores_every_customer_once(net, tmp_path):
    store = OutageStore(tmp_path / "oms.sqlite")
    clock, model, oms = _manager(net, store=store)
    clock.run_to(50.0)
    model.apply("S01-F1-RCL", True, Source.scada, 50.0, cause="protective")
    (rec,) = oms.outages()
    out = set(model.customers_below("S01-F1-RCL").tolist())
    assert rec.state == OutageState.confirmed and rec.confirmed_by == "scada" and rec.detected_s == 50.0
    assert set(oms.customers_of(rec.id).tolist()) == out
    clock.run_to(650.0)
    model.apply("S01-F1-RCL", False, Source.scada, 650.0, cause="commanded")
    rec = oms.get(rec.id)
    assert rec.state == OutageState.restored and rec.restored_s == 650.0 and not oms.outages()
    intr = oms.interruptions()
    assert sorted(intr.customer.tolist()) == sorted(out) and np.allclose(intr.end_s - intr.start_s, 600.0)
    assert rec.customer_minutes == pytest.approx(len(out) * 10.0)
    stored = OutageStore(tmp_path / "oms.sqlite").load()  # what a restart would read
    assert [r.id for r in stored.outages] == [rec.id] and stored.outages[0].state == OutageState.restored
    assert len(stored.interruption_id) == len(out) and np.allclose(stored.interruption_end_s, 650.0)


def test_a_fuse_out_inside_a_recloser_outage_stays_out_when_the_recloser_closes(net):
    clock, model, oms = _manager(net)
    fuse_customers = set(model.customers_below(FUSE_BELOW_RECLOSER).tolist())
    assert fuse_customers < set(model.customers_below("S01-F1-RCL").tolist())  # nested
    clock.run_to(10.0)
    model.apply(FUSE_BELOW_RECLOSER, True, Source.crew, 10.0, cause="found open")
    clock.run_to(20.0)
    model.apply("S01-F1-RCL", True, Source.scada, 20.0, cause="protective")
    fuse_rec = next(r for r in oms.outages() if r.device == FUSE_BELOW_RECLOSER)
    rcl_rec = next(r for r in oms.outages() if r.device == "S01-F1-RCL")
    assert set(oms.customers_of(fuse_rec.id).tolist()) == fuse_customers
    assert not set(oms.customers_of(rcl_rec.id).tolist()) & fuse_customers  # one record each
    clock.run_to(300.0)
    model.apply("S01-F1-RCL", False, Source.scada, 300.0, cause="commanded")
    assert oms.get(rcl_rec.id).state == OutageState.restored
    assert oms.get(fuse_rec.id).active and set(oms.customers_of(fuse_rec.id).tolist()) == fuse_customers
