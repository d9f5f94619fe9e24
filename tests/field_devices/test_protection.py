"""Operating sequences on hand-built feeders with known answers.

Hand calculations used throughout, for a 1000 A fault:

* recloser "2A2C 200A": M = 5; curve A 0.147 / 24 + 0.0435 = 0.049625 s, curve C 5.4 / 24 + 0.2 =
  0.425 s; reclose intervals 0.5, 2, 2 s; reset 15 s.
* 40T link: minimum melt 0.1 * (1040 / 1000)^2.132533 = 0.108724 s; maximum melt
  0.1 * 1.24^2.372474 = 0.166587 s, total clearing max(1.1 * 0.166587, 0.166587 + 1/60) = 0.183254 s.
* feeder relay "51P 400A U3": M = 2.5, 3.88 / 5.25 + 0.0963 = 0.835348 s; full reset 3.88 s.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from twin.field_devices.protection import Action, Operation, simulate
from twin.grid.tcc import (
    CURVES,
    FUSE_RATINGS_A,
    FuseSettings,
    LinkType,
    RecloserSettings,
    RelaySettings,
    SectionaliserSettings,
    parse_sequence,
    settings_from_switch,
)

RCL = settings_from_switch(1, "2A2C 200A", 630.0)
BKR = settings_from_switch(0, "51P 400A U3; 50P 3200A", 1200.0)
T40 = FuseSettings(LinkType.T, 40)
T_A, T_C = 0.049625, 0.425  # recloser shots at 1000 A
MELT_40T, CLEAR_40T = 0.1087237, 0.1832535  # 40T at 1000 A


def _times_exact(rows):
    """Expected (time, device, action) rows, times to within 1e-6 s."""
    return [(pytest.approx(t, abs=1e-6), d, a) for t, d, a in rows]


def test_temporary_fault_beyond_a_fuse_is_cleared_by_the_fast_curve_with_the_fuse_intact():
    r = simulate([("RCL", RCL), ("FU", T40)], 1000.0, permanent=False)
    # One fast shot heats the link to 0.049625 / 0.108724 = 46 % of melting; the reclose holds.
    assert r.timeline() == _times_exact([(T_A, "RCL", "trip"), (T_A + 0.5, "RCL", "reclose"),
                                         (T_A + 0.5 + 15.0, "RCL", "reset")])
    assert r.of("FU") == () and r.cleared and r.isolated_by is None and not r.miscoordinated


def test_permanent_fault_blows_the_fuse_on_the_delayed_shot_and_the_recloser_resets():
    r = simulate([("RCL", RCL), ("FU", T40)], 1000.0, permanent=True)
    reclose_2 = T_A + 0.5 + T_A + 2.0  # 2.59925 s: the first delayed shot begins
    # Two fast shots heat the link to 2 * 0.049625 / 0.108724 = 91.3 %: it melts
    # 0.108724 - 0.09925 s into the delayed shot and clears 0.183254 - 0.09925 s into it, before
    # the C curve (0.425 s) would trip. The recloser resets 15 s after the fault current stops.
    assert r.timeline() == _times_exact([
        (T_A, "RCL", "trip"),
        (T_A + 0.5, "RCL", "reclose"),
        (T_A + 0.5 + T_A, "RCL", "trip"),
        (reclose_2, "RCL", "reclose"),
        (reclose_2 + MELT_40T - 2 * T_A, "FU", "melt"),
        (reclose_2 + CLEAR_40T - 2 * T_A, "FU", "clear"),
        (reclose_2 + CLEAR_40T - 2 * T_A + 15.0, "RCL", "reset"),
    ])
    assert (r.isolated_by, r.expected, r.miscoordinated, r.cleared) == ("FU", "FU", False, True)


def test_trunk_fault_locks_the_recloser_out_after_its_full_sequence_and_the_breaker_holds():
    r = simulate([("BKR", BKR), ("RCL", RCL)], 1000.0, permanent=True)
    # Shots at 0.049625, 0.049625, 0.425, 0.425 s with 0.5, 2, 2 s between. The relay's disk
    # travels 0.425 / 0.835348 = 51 % on each delayed shot and resets (1 / 3.88 per second)
    # before the next: the breaker does not trip.
    t1 = T_A
    t2 = t1 + 0.5 + T_A
    t3 = t2 + 2.0 + T_C
    t4 = t3 + 2.0 + T_C
    assert r.timeline() == _times_exact([
        (t1, "RCL", "trip"), (t1 + 0.5, "RCL", "reclose"),
        (t2, "RCL", "trip"), (t2 + 2.0, "RCL", "reclose"),
        (t3, "RCL", "trip"), (t3 + 2.0, "RCL", "reclose"),
        (t4, "RCL", "trip"), (t4, "RCL", "lockout"),
    ])
    assert t4 == pytest.approx(5.44925)
    assert (r.isolated_by, r.expected, r.miscoordinated) == ("RCL", "RCL", False)


def test_a_fuse_too_large_behind_a_recloser_is_miscoordination():
    t200 = FuseSettings(LinkType.T, 200)
    r = simulate([("RCL", RCL), ("FU", t200)], 1000.0, permanent=True)
    # 200T at 1000 A melts only after 10 * (850 / 1000)^2.308236 = 6.87 s; the whole recloser
    # sequence lets 2 * 0.049625 + 2 * 0.425 = 0.94925 s through (14 % of it): the recloser
    # locks out, and customers upstream of the fuse lose supply.
    assert [a for _, _, a in r.timeline()] == ["trip", "reclose", "trip", "reclose", "trip", "reclose", "trip",
                                               "lockout"]
    assert r.of("FU") == ()
    assert (r.isolated_by, r.expected, r.miscoordinated) == ("RCL", "FU", True)


def test_a_fast_fuse_below_a_slow_relay_blows_first():
    relay = RelaySettings(pickup_a=400.0, curve=CURVES["U3"])
    k65 = FuseSettings(LinkType.K, 65)
    r = simulate([("BKR", relay), ("FU", k65)], 2000.0)
    # 65K at 2000 A (above its 0.1 s points, I^2 t): melts 0.1 * (918 / 2000)^2 = 0.021068 s,
    # clears max(1.1, ...) -> 0.1 * (1100 / 2000)^2 + 1/60 = 0.046917 s; the relay needs 0.257967 s.
    assert r.timeline() == _times_exact([(0.1 * (918 / 2000) ** 2, "FU", "melt"),
                                         (0.1 * (1100 / 2000) ** 2 + 1 / 60, "FU", "clear")])
    assert (r.isolated_by, r.miscoordinated) == ("FU", False)


def test_an_instantaneous_element_overreaching_a_fuse_trips_the_breaker_too():
    relay = RelaySettings(pickup_a=400.0, curve=CURVES["U3"], inst_a=1500.0)
    k65 = FuseSettings(LinkType.K, 65)
    r = simulate([("BKR", relay), ("FU", k65)], 2000.0)
    # The 50 element operates at once; the breaker opens 3 cycles later (0.05 s), after the
    # fuse cleared at 0.046917 s, but its trip was already given: both operate.
    assert r.timeline() == _times_exact([(0.1 * (918 / 2000) ** 2, "FU", "melt"),
                                         (0.1 * (1100 / 2000) ** 2 + 1 / 60, "FU", "clear"),
                                         (0.05, "BKR", "trip")])
    assert (r.isolated_by, r.expected, r.miscoordinated) == ("BKR", "FU", True)


def test_disk_memory_across_fast_recloses_trips_the_breaker():
    quick = RecloserSettings(min_trip_a=200.0, shots=parse_sequence("2A2C"), reclose_s=(0.5,))
    slow_reset = RelaySettings(pickup_a=400.0, curve=CURVES["U3"], td=0.6)
    # Relay at 1000 A: 0.6 * 0.835348 = 0.501209 s; reset 0.6 * 3.88 = 2.328 s for full travel.
    # Third shot: 0.425 / 0.501209 = 84.8 % travel, 0.5 s open resets 0.5 / 2.328 = 21.5 %;
    # the fourth shot completes the remaining 36.7 % after 0.183857 s: the relay operates at
    # 2.02425 + 0.183857 s and the breaker opens 0.05 s later, before the recloser's 0.425 s.
    r = simulate([("BKR", slow_reset), ("RCL", quick)], 1000.0)
    shot_4 = 3 * 0.5 + 2 * T_A + T_C  # 2.02425 s
    travel = T_C / 0.5012088 - 0.5 / 2.328
    assert r.of("BKR") == (Operation(pytest.approx(shot_4 + (1 - travel) * 0.5012088 + 0.05, abs=1e-6),
                                     "BKR", Action.trip),)
    assert (r.isolated_by, r.expected, r.miscoordinated) == ("BKR", "RCL", True)
    # A relay that resets at once forgets each shot: the recloser locks out and the breaker holds.
    instant = RelaySettings(pickup_a=400.0, curve=CURVES["U3"], td=0.6, em_reset=False)
    r = simulate([("BKR", instant), ("RCL", quick)], 1000.0)
    assert r.of("BKR") == () and r.of("RCL")[-1].action is Action.lockout


def test_sectionaliser_opens_in_the_dead_time_after_its_count():
    sec = SectionaliserSettings(actuating_a=160.0, counts=3)
    r = simulate([("RCL", RCL), ("SEC", sec)], 1000.0, permanent=True)
    t1, t2 = T_A, T_A + 0.5 + T_A
    t3 = t2 + 2.0 + T_C
    assert r.timeline() == _times_exact([
        (t1, "RCL", "trip"), (t1, "SEC", "count"), (t1 + 0.5, "RCL", "reclose"),
        (t2, "RCL", "trip"), (t2, "SEC", "count"), (t2 + 2.0, "RCL", "reclose"),
        (t3, "RCL", "trip"), (t3, "SEC", "count"), (t3, "SEC", "open"),
        (t3 + 2.0, "RCL", "reclose"),  # onto the isolated section: it holds
        (t3 + 2.0 + 15.0, "RCL", "reset"),
    ])
    assert (r.isolated_by, r.expected, r.miscoordinated) == ("SEC", "SEC", False)
    # A temporary fault: one count, forgotten 30 s later; the recloser resets after 15 s.
    r = simulate([("RCL", RCL), ("SEC", sec)], 1000.0, permanent=False)
    assert r.timeline() == _times_exact([(t1, "RCL", "trip"), (t1, "SEC", "count"), (t1 + 0.5, "RCL", "reclose"),
                                         (t1 + 0.5 + 15.0, "RCL", "reset"), (t1 + 30.0, "SEC", "reset")])
    # Below its actuating current it does not count, and the recloser locks out.
    r = simulate([("RCL", RCL), ("SEC", SectionaliserSettings(actuating_a=1200.0))], 1000.0)
    assert r.of("SEC") == () and r.isolated_by == "RCL" and r.expected == "RCL"


def test_a_sectionaliser_does_not_count_what_a_device_beyond_it_clears():
    sec = SectionaliserSettings(actuating_a=160.0, counts=1)
    r = simulate([("RCL", RCL), ("SEC", sec), ("FU", T40)], 1000.0)
    assert [op.action for op in r.of("SEC")] == [Action.count, Action.open]  # the recloser's first trip
    assert r.isolated_by == "SEC"
    r = simulate([("BKR", BKR), ("SEC", sec), ("FU", T40)], 1000.0)  # the fuse clears at 0.183 s
    assert r.of("SEC") == () and r.isolated_by == "FU" and r.of("BKR") == ()


def test_currents_per_device_and_faults_nobody_sees():
    # The recloser sees 150 A (below its 200 A minimum trip), the fuse 1000 A: the fuse clears alone.
    r = simulate({"RCL": RCL, "FU": T40}, [150.0, 1000.0])
    assert r.timeline() == _times_exact([(MELT_40T, "FU", "melt"), (CLEAR_40T, "FU", "clear")])
    r = simulate([("RCL", RCL), ("FU", FuseSettings(LinkType.T, 200))], 150.0)
    assert r.operations == () and not r.cleared and r.expected is None
    with pytest.raises(ValueError, match="one per device"):
        simulate([("RCL", RCL), ("FU", T40)], [1000.0])
    with pytest.raises(ValueError, match="repeat"):
        simulate([("X", RCL), ("X", T40)], 1000.0)


@settings(max_examples=60, deadline=None)
@given(amps=st.floats(50.0, 20000.0), rating=st.sampled_from(FUSE_RATINGS_A), permanent=st.booleans(),
       link=st.sampled_from(list(LinkType)))
def test_sequences_are_ordered_and_clear_whenever_someone_sees_the_fault(amps, rating, permanent, link):
    r = simulate([("BKR", BKR), ("RCL", RCL), ("FU", FuseSettings(link, rating))], amps, permanent=permanent)
    times = [op.time_s for op in r.operations]
    assert times == sorted(times)
    assert r.cleared == (r.expected is not None)
    if not permanent:
        assert r.isolated_by is None or r.isolated_by == "FU" or r.miscoordinated
