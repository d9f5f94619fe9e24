"""Prediction accuracy against the world's truth, on a hand-made log: exact detection, its time,
and nested outages counted from when the outage above them ended."""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pytest

from twin.instructor.oms_truth import prediction_accuracy
from twin.world.environment import World
from twin.world.physics import Outage
from twin.world.territory import generate_territory

RECLOSER, FUSE, OTHER_FUSE = "S01-F1-RCL", "S01-F1-FU017", "S01-F2-FU003"


@pytest.fixture(scope="module")
def world():
    return World(generate_territory(2000, seed=4), seed=1, resolve=False)


def _log(world, outages, changes):
    """A prediction log of ``changes`` ({record: [(time_s, device, active)]}) over the world
    ``outages`` ([(device, start_s, restored_s)])."""
    world.grid.outages[:] = [Outage(d, "", start, np.arange(3), np.arange(3), d, end) for d, start, end in outages]
    session = SimpleNamespace(world=world)
    return SimpleNamespace(session=session, settled={}, reachable={}, changes=changes, false=set(),
                           crew_to_nothing=set(), settle_s=300.0)


def test_exact_detection_and_its_time(world):
    log = _log(world, [(FUSE, 1000.0, 5000.0), (OTHER_FUSE, 2000.0, 6000.0)],
               {"A": [(1100.0, "S01-F1-T0120", True), (1150.0, FUSE, True)],  # moved up to the fuse at +150 s
                "B": [(2000.0, RECLOSER, True), (2900.0, RECLOSER, False)]})  # never at the right device
    acc = prediction_accuracy(log, within_s=300.0, until_s=20000.0)
    assert acc.real_outages == 2 and acc.exact_share == 0.5 and acc.undetected == 1
    assert acc.median_detect_s == 150.0 and math.isinf(acc.p95_detect_s)


def test_a_fuse_behind_a_recloser_lockout_is_timed_from_the_recloser_closing(world):
    log = _log(world, [(FUSE, 1000.0, 9000.0), (RECLOSER, 1002.0, 4000.0)],
               {"R": [(1003.0, RECLOSER, True), (4000.0, RECLOSER, False)],
                "F": [(4120.0, FUSE, True)]})  # found 120 s after the recloser closed
    acc = prediction_accuracy(log, within_s=300.0, until_s=20000.0)
    assert acc.real_outages == 2 and acc.nested == 1 and acc.exact_share == 1.0
    assert acc.median_detect_s == 1.0 and acc.p95_detect_s == 120.0  # the recloser at once, the fuse in 120 s


def test_a_fuse_hidden_until_its_own_repair_is_not_counted_and_a_later_lockout_does_not_hide(world):
    hidden = _log(world, [(FUSE, 1000.0, 3000.0), (RECLOSER, 1002.0, 4000.0)],
                  {"R": [(1003.0, RECLOSER, True), (4000.0, RECLOSER, False)]})
    acc = prediction_accuracy(hidden, within_s=300.0, until_s=20000.0)
    assert acc.real_outages == 1 and acc.hidden == 1 and acc.exact_share == 1.0
    later = _log(world, [(FUSE, 1000.0, 9000.0), (RECLOSER, 5000.0, 6000.0)],  # the lockout came hours later
                 {"R": [(5001.0, RECLOSER, True), (6000.0, RECLOSER, False)], "F": [(7000.0, FUSE, True)]})
    acc = prediction_accuracy(later, within_s=300.0, until_s=20000.0)
    assert acc.nested == 0 and acc.exact_share == 0.5  # the fuse was there to find from 1000 s


def test_a_recloser_that_trips_again_as_it_closes_hides_the_fuse_anew(world):
    # the recloser closed at 4000 s into another fault on its section and locked out again at
    # once; the fuse below could be told apart only from its second closing, at 7000 s
    log = _log(world, [(FUSE, 1000.0, 20000.0), (RECLOSER, 1002.0, 4000.0), (RECLOSER, 4030.0, 7000.0)],
               {"R": [(1003.0, RECLOSER, True), (4000.0, RECLOSER, False)],
                "S": [(4100.0, RECLOSER, True), (7000.0, RECLOSER, False)],
                "F": [(7200.0, FUSE, True)]})
    acc = prediction_accuracy(log, within_s=300.0, until_s=30000.0)
    assert acc.real_outages == 3 and acc.nested == 1 and acc.exact_share == 1.0
    assert acc.p95_detect_s == 200.0  # the fuse 200 s after the recloser's second closing
    stays = _log(world, [(FUSE, 1000.0, 20000.0), (RECLOSER, 1002.0, 4000.0), (RECLOSER, 6000.0, 7000.0)],
                 {"R": [(1003.0, RECLOSER, True), (4000.0, RECLOSER, False)],
                  "S": [(6001.0, RECLOSER, True), (7000.0, RECLOSER, False)],
                  "F": [(7200.0, FUSE, True)]})  # closed for half an hour first: the fuse was there to find
    acc = prediction_accuracy(stays, within_s=300.0, until_s=30000.0)
    assert acc.exact_share == pytest.approx(2 / 3)
