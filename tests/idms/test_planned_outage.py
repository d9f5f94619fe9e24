"""The planned outage study on the hand-made pair of feeders: the section, its isolation points,
the customers out with and without the back-feed over the tie, the orders and the clearance,
and the whole plan run through SCADA on the world."""

from __future__ import annotations

import pytest

from tests.idms.test_switching import Session
from tests.idms.ties import feeders
from twin.idms.planned_outage import PlannedWork, PlannedWorkError, study_outage
from twin.idms.switching import ClearanceState, OrderState


def _ids(net, rows):
    return sorted(net.service_point.ids[rows].astype(str).tolist())


def test_work_at_the_far_end_puts_its_customers_out_behind_two_points():
    s = Session()
    st = study_outage(s.desk, PlannedWork("LA4", 3600.0, 4.0, "LC1", "reconductor LA4"), user="planner")
    assert st.section == ["a7", "a8"] and st.upstream == "SWA2" and sorted(st.points) == ["SWA2", "T1"]
    assert _ids(s.net, st.customers_out) == ["C-a8-1", "C-a8-2"] and not st.back_feeds
    assert st.customer_minutes == 2 * 4 * 60 and not st.critical_out
    assert st.rehearsal.ok, st.rehearsal.text()
    assert st.clearance.state == ClearanceState.draft and st.isolation.state == OrderState.draft


def test_a_back_feed_over_the_tie_spares_the_area_beyond_the_work():
    s = Session()
    st = study_outage(s.desk, PlannedWork("LA3", 0.0, 3.0, "LC1", "replace pole"), user="planner")
    assert st.upstream == "RCA" and sorted(st.points) == ["RCA", "SWA2"]  # FA: a dead-end lateral
    assert st.back_feeds == [("SWA2", "T1")]
    assert _ids(s.net, st.customers_out) == ["C-a10-1", "C-a10-2", "C-a6-1", "C-a6-2"]
    assert st.customers_without_back_feeds == 6 and st.customer_minutes_saved == 2 * 3 * 60
    assert st.critical_out == ["C-a6-1", "C-a6-2"]
    # the critical customers must be acknowledged by the dispatcher before the order is approved
    assert any("critical" in p for p in st.rehearsal.problems)


def test_the_forecast_peak_over_the_work_decides_the_back_feed():
    s = Session(feeders(rated_a={"LB1": 110.0}))  # feeder B's first line: 110 A
    light = study_outage(s.desk, PlannedWork("LA3", 0.0, 3.0, "LC1"), user="p", load_scale=lambda t: 0.8, create=False)
    assert light.back_feeds == [("SWA2", "T1")] and light.load_scale == pytest.approx(0.8)
    s2 = Session(feeders(rated_a={"LB1": 110.0}))
    peak = study_outage(s2.desk, PlannedWork("LA3", 0.0, 3.0, "LC1"), user="p",
                        load_scale=lambda t: 0.8 if t < 7200 else 1.0, create=False)
    assert peak.back_feeds == [] and peak.load_scale == pytest.approx(1.0)
    assert any("T1 cannot carry it" in n and "LB1" in n for n in peak.notes)


def test_the_planned_work_runs_end_to_end_through_scada():
    s = Session()
    st = study_outage(s.desk, PlannedWork("LA4", 0.0, 2.0, "LC1", "reconductor LA4"), user="planner")
    order = st.isolation
    s.desk.approve(order.id, "supervisor")
    s.desk.execute(order.id, "dispatcher")
    s.run()
    s.desk.confirm(order.id, "dispatcher", "LC1: grounds on")
    assert order.state == OrderState.done, order.text()
    assert s.desk.register.get(st.clearance.id).state == ClearanceState.issued
    assert s.customers_out() == {"C-a8-1", "C-a8-2"}
    home = st.restoration
    s.desk.approve(home.id, "supervisor")
    s.desk.execute(home.id, "dispatcher")
    s.desk.confirm(home.id, "dispatcher", "LC1: men and tools clear")
    s.desk.confirm(home.id, "dispatcher", "LC1: grounds off")
    s.run()
    assert home.state == OrderState.done, home.text()
    assert s.desk.register.get(st.clearance.id).state == ClearanceState.closed and not s.customers_out()


def test_work_the_model_cannot_isolate_is_refused_with_the_reason():
    s = Session()
    with pytest.raises(PlannedWorkError, match="no line or bus"):
        study_outage(s.desk, PlannedWork("L-NOPE", 0.0, 1.0, "LC1"), user="p")
    with pytest.raises(PlannedWorkError, match="duration"):
        study_outage(s.desk, PlannedWork("LA4", 0.0, 0.0, "LC1"), user="p")


def test_where_the_tie_cannot_carry_the_whole_area_it_is_split_and_the_far_part_picked_up():
    s = Session(feeders(rated_a={"LB1": 200.0}))  # B carries 83 A; the whole of a3-a10 would add 153 A
    st = study_outage(s.desk, PlannedWork("LA1b", 0.0, 2.0, "LC1", "replace insulators"), user="p", create=False)
    assert st.upstream == "BKA" and sorted(st.points) == ["BKA", "SWA1"]
    assert len(st.back_feeds) == 1 and st.back_feeds[0][1] == "T1" and st.back_feeds[0][0] in ("RCA", "SWA2")
    out = set(_ids(s.net, st.customers_out))
    assert {"C-a2-1", "C-a4-1"} <= out and not {"C-a8-1", "C-a8-2"} & out
    assert len(st.customers_out) < st.customers_without_back_feeds
