"""The outage-management building blocks against hand-made answers: the prediction rule sets and
their validation, the protective-device tree of a generated territory, rolling evidence up small
hand-built trees, restoration-time estimates worked out by hand, outage records as plain data, and
the SQLite outage store (round trip, NaN as NULL, a reopened file, a file that is not a store)."""

from __future__ import annotations

import dataclasses
import math
import sqlite3

import numpy as np
import pytest

from twin.errors import TwinError
from twin.grid.schema import SwitchKind
from twin.grid.topology import build_topology
from twin.idms.oms.etr import EtrParameters, Stage, estimate
from twin.idms.oms.prediction import roll_up
from twin.idms.oms.records import OutageRecord, OutageState
from twin.idms.oms.rules import RULE_SETS, RuleSet, RuleSetError, rule_set
from twin.idms.oms.store import OutageStore, StoreError
from twin.idms.oms.tree import TRANSFORMER, DeviceTree, device_tree
from twin.world.territory import generate_territory

# ---------------------------------------------------------------------------------------------
# Hand-built trees


def hand_tree(spec) -> DeviceTree:
    """A device tree from nested ``(id, kind, children)``; a transformer is ``(id, 'transformer', n)``
    with ``n`` customers. Each node takes one bus position in preorder, each customer one more
    below its transformer, so ranges nest as a topology's would."""
    ids, kind, parent, depth, first, end, customers, leaf, position = [], [], [], [], [], [], [], [], []
    pos = 0

    def walk(node, p: int, d: int) -> int:
        nonlocal pos
        name, k, rest = node
        i = len(ids)
        ids.append(name), kind.append(k), parent.append(p), depth.append(d), first.append(pos)
        end.append(0), customers.append(0)
        pos += 1
        if k == TRANSFORMER:
            for _ in range(rest):
                leaf.append(i), position.append(pos)
                pos += 1
            customers[i] = rest
        else:
            for child in rest:
                customers[i] += customers[walk(child, i, d + 1)]
        end[i] = pos
        return i

    walk(spec, -1, 0)
    switch_row = [r if k != TRANSFORMER else -1 for r, k in enumerate(kind)]
    return DeviceTree(np.array(ids, object), np.array(kind, object), np.array(switch_row, np.int64),
                      np.array(parent, np.int64), np.array(depth, np.int64), np.array(first, np.int64),
                      np.array(end, np.int64), np.array(customers, np.int64), np.array(leaf, np.int64),
                      np.array(position, np.int64), {d: k for k, d in enumerate(ids)})


def predict(tree: DeviceTree, rules: str | RuleSet = "normal", *, out=None, predicted=(), blocked=()) -> list[str]:
    """The ids roll_up answers for evidence ``out`` ({id: customers out}) and predicted/blocked ids."""
    n = len(tree)
    out_a = np.zeros(n, np.int64)
    for d, c in (out or {}).items():
        out_a[tree.node(d)] = c
    pred_a, block_a = np.zeros(n, bool), np.zeros(n, bool)
    pred_a[[tree.node(d) for d in predicted]] = True
    block_a[[tree.node(d) for d in blocked]] = True
    rules = rule_set(rules) if isinstance(rules, str) else rules
    answer = roll_up(tree, out=out_a, predicted=pred_a, blocked=block_a, rules=rules)
    assert answer.dtype == np.int64
    return [str(tree.ids[k]) for k in answer]


def fuse(*transformer_customers: int) -> DeviceTree:
    """A fuse F over transformers T1, T2 ... with the customers given."""
    return hand_tree(("F", "fuse", [(f"T{i + 1}", TRANSFORMER, c) for i, c in enumerate(transformer_customers)]))


# R (recloser) over fuses F1 (T1, T2) and F2 (T3, T4), three customers each.
TWO_LEVELS = ("R", "recloser", [("F1", "fuse", [("T1", TRANSFORMER, 3), ("T2", TRANSFORMER, 3)]),
                                ("F2", "fuse", [("T3", TRANSFORMER, 3), ("T4", TRANSFORMER, 3)])])


def test_hand_tree_is_what_the_prediction_docstring_builds():
    tree = fuse(3, 3)
    assert tree.first.tolist() == [0, 1, 5] and tree.end.tolist() == [9, 5, 9]
    assert tree.customers.tolist() == [6, 3, 3] and tree.parent.tolist() == [-1, 0, 0]
    assert tree.customers_below(1).tolist() == [0, 1, 2] and tree.customers_below(0).tolist() == list(range(6))
    assert tree.contains(0, 2) and not tree.contains(1, 2) and tree.ancestors(2) == [0]


# ---------------------------------------------------------------------------------------------
# roll_up


def test_no_evidence_predicts_nothing():
    assert predict(fuse(3, 3)) == []


def test_evidence_under_one_transformer_predicts_that_transformer():
    assert predict(fuse(3, 3), out={"T1": 1}) == ["T1"]
    assert predict(fuse(3, 3), out={"T2": 2}) == ["T2"]


def test_evidence_under_two_transformers_of_a_fuse_predicts_the_fuse_by_normal_rules():
    assert predict(fuse(3, 3), out={"T1": 1, "T2": 1}) == ["F"]


def test_storm_rules_keep_two_transformers_apart_when_few_customers_are_out():
    # storm: 3 children needed, or 5 customers and 60 % of them
    assert predict(fuse(3, 3), "storm", out={"T1": 1, "T2": 1}) == ["T1", "T2"]
    assert predict(fuse(4, 4), "storm", out={"T1": 3, "T2": 1}) == ["T1", "T2"]  # 4 out: fewer than 5


def test_storm_rules_promote_to_the_fuse_when_the_share_rule_holds():
    assert predict(fuse(4, 4), "storm", out={"T1": 3, "T2": 2}) == ["F"]  # 5 of 8 = 62.5 %
    assert predict(fuse(5, 4), "storm", out={"T1": 3, "T2": 2}) == ["T1", "T2"]  # 5 of 9 = 55.6 %


def test_storm_rules_promote_to_the_fuse_with_three_children_out():
    tree = fuse(10, 10, 10)
    assert predict(tree, "storm", out={"T1": 1, "T2": 1, "T3": 1}) == ["F"]
    assert predict(tree, "storm", out={"T1": 1, "T3": 1}) == ["T1", "T3"]


def test_share_rule_alone_promotes_a_fuse_by_normal_rules():
    # one child only, 3 of 6 customers out: at least 3 and at least half
    assert predict(fuse(5, 1), out={"T1": 3}) == ["F"]
    assert predict(fuse(5, 2), out={"T1": 3}) == ["T1"]  # 3 of 7 is under half


def test_blocked_fuse_is_never_predicted_and_its_children_stay_separate():
    tree = fuse(3, 3)
    assert predict(tree, out={"T1": 1, "T2": 1}, blocked=["F"]) == ["T1", "T2"]
    assert predict(tree, out={"T1": 3, "T2": 3}, blocked=["F"]) == ["T1", "T2"]  # all out: still not the fuse
    assert predict(tree, predicted=["F"], blocked=["F"]) == []


def test_all_customers_out_promotes_and_can_be_switched_off():
    tree = fuse(2)  # one transformer of 2: neither the child count nor the 3-customer rule can hold
    assert predict(tree, out={"T1": 2}) == ["F"]
    # its only transformer predicted: all of the fuse's customers are out, and a fuse is likelier
    assert predict(tree, out={"T1": 1}) == ["F"]
    no_all = RuleSet.from_mapping({"all_customers": False})
    assert predict(tree, no_all, out={"T1": 2}) == ["T1"]
    assert predict(tree, no_all, out={"T1": 1}) == ["T1"]
    assert predict(fuse(2, 3), out={"T1": 2}) == ["T1"]  # one branch of two: not all out


def test_a_predicted_outage_at_a_child_counts_as_all_its_customers_out():
    tree = fuse(4, 1)
    assert predict(tree, out={"T1": 1}) == ["T1"]
    assert predict(tree, predicted=["T1"]) == ["F"]  # 4 of 5 out
    assert predict(fuse(2, 4), predicted=["T1"]) == ["T1"]  # 2 of 6: the outage stays where it is


def test_a_predicted_outage_stays_predicted_without_new_evidence():
    assert predict(fuse(5, 3), predicted=["T2"]) == ["T2"]  # 3 of 8: not enough to move up
    assert predict(fuse(5, 3), out={"T1": 1}, predicted=["T2"]) == ["F"]  # two children out


def test_transformer_rule_asks_for_its_minimum_or_all_of_a_small_transformer():
    rules = RuleSet.from_mapping({"transformer_min_customers": 2, "all_customers": False})
    assert predict(fuse(3, 5), rules, out={"T1": 1}) == []
    assert predict(fuse(3, 5), rules, out={"T1": 2}) == ["T1"]
    assert predict(fuse(1, 5), rules, out={"T1": 1}) == ["T1"]  # its one customer is all of them


def test_outage_moves_up_two_levels_when_enough_children_are_out():
    tree = hand_tree(TWO_LEVELS)
    assert predict(tree, out={"T1": 1, "T2": 1, "T3": 1, "T4": 1}) == ["R"]
    assert predict(tree, out={"T1": 1, "T2": 1, "T3": 1}) == ["R"]  # F1 and F2 both have customers out
    assert predict(tree, out={"T1": 1, "T2": 1}) == ["F1"]  # 2 of 12 below R
    assert predict(tree, out={"T1": 1, "T3": 1}) == ["R"]  # two fuses with customers out


def test_storm_rules_need_more_to_move_up_two_levels():
    tree = hand_tree(TWO_LEVELS)
    assert predict(tree, "storm", out={"T1": 1, "T2": 1, "T3": 1, "T4": 1}) == ["T1", "T2", "T3", "T4"]
    assert predict(tree, "storm", out={"T1": 3, "T2": 3, "T3": 1}) == ["F1", "T3"]  # 6 of 6 below F1


THREE_LATERALS = ("R", "recloser", [(f"F{i}", "fuse", [(f"T{i}{j}", TRANSFORMER, 4) for j in range(1, 5)])
                                    for i in range(1, 4)])


def test_storm_rules_move_up_on_children_predicted_not_on_children_with_a_call():
    tree = hand_tree(THREE_LATERALS)
    one_each = {"T11": 1, "T21": 1, "T31": 1}  # a call under each fuse: in a storm, three laterals' own
    assert predict(tree, "storm", out=one_each) == ["T11", "T21", "T31"]
    assert predict(tree, out=one_each) == ["R"]  # normal: one event on a quiet day
    assert predict(tree, dataclasses.replace(rule_set("storm"), children_predicted=False), out=one_each) == ["R"]
    three_each = {f"T{i}{j}": 1 for i in range(1, 4) for j in range(1, 4)}  # every fuse predicted
    assert predict(tree, "storm", out=three_each) == ["R"]
    two_fuses = {f"T{i}{j}": 1 for i in range(1, 3) for j in range(1, 4)} | {"T31": 1}
    assert predict(tree, "storm", out=two_fuses) == ["F1", "F2", "T31"]


def test_blocked_recloser_leaves_its_fuses_predicted():
    tree = hand_tree(TWO_LEVELS)
    assert predict(tree, out={"T1": 1, "T2": 1, "T3": 1, "T4": 1}, blocked=["R"]) == ["F1", "F2"]


BIG = ("B", "breaker", [
    ("R", "recloser", [("F1", "fuse", [("T1", TRANSFORMER, 3), ("T2", TRANSFORMER, 2)]),
                       ("F2", "fuse", [("T3", TRANSFORMER, 4), ("T4", TRANSFORMER, 1), ("T5", TRANSFORMER, 6)]),
                       ("T6", TRANSFORMER, 2)]),
    ("F3", "fuse", [("T7", TRANSFORMER, 5), ("F4", "fuse", [("T8", TRANSFORMER, 3)])]),
    ("T9", TRANSFORMER, 8)])


@pytest.mark.parametrize("rules", ["normal", "storm"])
def test_answer_never_holds_a_node_and_one_of_its_ancestors(rules):
    tree = hand_tree(BIG)
    n = len(tree)
    rng = np.random.default_rng(11)
    seen = set()
    for _ in range(400):
        out = np.where((tree.kind == TRANSFORMER) & (rng.random(n) < 0.3), rng.integers(1, 4, n), 0)
        out = np.minimum(out, tree.customers)
        predicted = rng.random(n) < 0.1
        blocked = rng.random(n) < 0.1
        answer = roll_up(tree, out=out, predicted=predicted, blocked=blocked, rules=rule_set(rules)).tolist()
        seen.add(tuple(answer))
        assert answer == sorted(set(answer))
        assert not blocked[answer].any()
        for a in answer:
            assert not any(b in answer for b in tree.ancestors(a))
            below = [k for k in range(n) if tree.contains(a, k)]
            assert out[below].sum() > 0 or predicted[below].any()  # something below it is out
        for k in np.flatnonzero(predicted & ~blocked).tolist():  # every standing prediction is covered
            assert any(tree.contains(a, k) for a in answer)
    assert len(seen) > 20  # the draws reach many different answers


def test_evidence_below_a_predicted_fuse_does_not_count_its_customers_twice():
    # R over F (T1 of 3, T2 of 3) and T3 of 1: F predicted (6 out) and one fresh call under T1.
    # The customer under T3 has no evidence, so R must not be predicted by "all customers out"
    # (the only rule left that could hold).
    tree = hand_tree(("R", "recloser", [("F", "fuse", [("T1", TRANSFORMER, 3), ("T2", TRANSFORMER, 3)]),
                                        ("T3", TRANSFORMER, 1)]))
    rules = RuleSet.from_mapping({"device_min_customers": 100})
    assert predict(tree, rules, predicted=["F"]) == ["F"]
    assert predict(tree, rules, out={"T1": 1}, predicted=["F"]) == ["F"]


# ---------------------------------------------------------------------------------------------
# device_tree on a generated territory


@pytest.fixture(scope="module")
def territory():
    net = generate_territory(2000, seed=3)
    topo = build_topology(net, normal=True)
    return net, topo, device_tree(net, topo)


def _bus(topo, tree, k: int) -> int:
    """The bus just below node ``k``."""
    return int(topo.order[tree.first[k]])


def test_every_service_point_leaf_is_its_own_transformer(territory):
    net, _, tree = territory
    assert (tree.leaf >= 0).all() and (tree.position >= 0).all()
    assert tree.ids[tree.leaf].tolist() == np.asarray(net.service_point["transformer"]).tolist()
    assert (tree.kind[tree.leaf] == TRANSFORMER).all()


def test_node_customer_counts_are_the_service_points_below(territory):
    net, _, tree = territory
    counts = [len(tree.customers_below(k)) for k in range(len(tree))]
    assert tree.customers.tolist() == counts
    assert tree.customers[tree.parent < 0].sum() == len(net.service_point)


def test_parents_contain_their_children_and_are_the_innermost_node_above(territory):
    _, _, tree = territory
    n = len(tree)
    assert len(set(tree.first.tolist())) == n  # one node per bus below it
    for k in range(n):
        holders = {j for j in range(n) if j != k and tree.contains(j, k)}
        assert holders == set(tree.ancestors(k))
        p = int(tree.parent[k])
        if p >= 0:
            assert tree.first[p] < tree.first[k] and tree.end[k] <= tree.end[p]
            assert tree.depth[k] == tree.depth[p] + 1
        else:
            assert tree.depth[k] == 0
        assert tree.node(str(tree.ids[k])) == k
    assert tree.node("no such device") == -1


def test_node_kinds_match_their_switches(territory):
    net, _, tree = territory
    assert set(tree.kind.tolist()) == {"breaker", "recloser", "fuse", TRANSFORMER}
    kinds = np.asarray(net.switch["kind"])
    for k in range(len(tree)):
        row = int(tree.switch_row[k])
        if tree.kind[k] == TRANSFORMER:
            assert row == -1 and tree.ids[k] in set(net.transformer.ids.tolist())
        else:
            assert net.switch.ids[row] == tree.ids[k]
            assert SwitchKind(int(kinds[row])).name == tree.kind[k]
    assert (tree.switch_row >= 0).sum() == sum(
        SwitchKind(int(x)) in (SwitchKind.breaker, SwitchKind.recloser, SwitchKind.fuse) for x in kinds)


def test_parent_is_the_protective_device_the_topology_puts_above(territory):
    _, topo, tree = territory
    for k in range(len(tree)):
        bus = _bus(topo, tree, k)
        if tree.kind[k] == TRANSFORMER:
            p = int(tree.parent[k])
            assert int(topo.protective[bus]) == (int(tree.switch_row[p]) if p >= 0 else -1)
        else:
            assert int(topo.protective[bus]) == int(tree.switch_row[k])  # the device itself


def test_leaves_are_transformers_and_protective_devices_have_children(territory):
    _, _, tree = territory
    has_child = np.zeros(len(tree), bool)
    has_child[tree.parent[tree.parent >= 0]] = True
    assert not has_child[tree.leaf].any()  # customers hang below transformers with nothing else below
    assert has_child[tree.kind != TRANSFORMER].all()


def test_feeder_head_breakers_are_at_the_top(territory):
    _, topo, tree = territory
    heads = [k for k in range(len(tree)) if tree.kind[k] == "breaker"
             and topo.feeder[_bus(topo, tree, k)] == tree.ids[k]]
    assert len(heads) == 2
    assert all(tree.parent[k] == -1 and tree.depth[k] == 0 for k in heads)
    assert (tree.parent < 0).sum() == len(heads)


def test_one_last_gasp_on_the_territory_predicts_its_own_transformer(territory):
    _, _, tree = territory
    assert predict(tree, out={"S01-F1-T0001": 1}) == ["S01-F1-T0001"]


# ---------------------------------------------------------------------------------------------
# RuleSet


def test_built_in_rule_sets():
    assert set(RULE_SETS) == {"normal", "storm"}
    normal, storm = rule_set("normal"), rule_set("storm")
    assert normal is RULE_SETS["normal"] and normal.name == "normal" and not normal.storm
    assert (storm.device_min_children, storm.device_min_customers, storm.device_min_share) == (3, 5, 0.6)
    assert (storm.window_s, storm.hold_s, storm.storm) == (1800.0, 30.0, True)
    assert normal.device_min_children == 2 and normal.transformer_min_customers == 1
    with pytest.raises(dataclasses.FrozenInstanceError):
        normal.hold_s = 1.0  # type: ignore[misc]


@pytest.mark.parametrize(("key", "value"), [
    ("transformer_min_customers", 0), ("device_min_children", -1), ("device_min_customers", 2.5),
    ("ping_sample", True), ("device_min_customers", "3"),
    ("device_min_share", 0.0), ("device_min_share", 1.5), ("ping_energised_share", -0.1),
    ("device_min_share", "half"),
    ("window_s", -1.0), ("hold_s", "30"), ("verify_window_s", -0.5),
    ("children_predicted", "yes"), ("all_customers", 1),
])
def test_bad_rule_values_raise_naming_the_key(key, value):
    with pytest.raises(RuleSetError) as err:
        RuleSet("x", **{key: value})
    assert err.value.key == key and err.value.value == value and err.value.allowed
    assert key in str(err.value)
    assert isinstance(err.value, TwinError)


def test_edge_values_are_accepted():
    rules = RuleSet("x", device_min_share=1.0, ping_energised_share=1, window_s=0, hold_s=0.0)
    assert rules.device_min_share == 1.0 and rules.hold_s == 0.0


def test_from_mapping_changes_the_keys_given():
    rules = RuleSet.from_mapping({"hold_s": 10.0, "device_min_children": 4})
    assert rules.hold_s == 10.0 and rules.device_min_children == 4
    assert rules == dataclasses.replace(RULE_SETS["normal"], hold_s=10.0, device_min_children=4)


def test_from_mapping_on_storm_keeps_the_storm_values():
    for rules in (RuleSet.from_mapping({"base": "storm", "hold_s": 10.0}),
                  RuleSet.from_mapping({"hold_s": 10.0}, base="storm")):
        assert rules.hold_s == 10.0
        assert rules == dataclasses.replace(RULE_SETS["storm"], hold_s=10.0)
        assert rules.storm and rules.device_min_children == 3 and rules.window_s == 1800.0
    assert RuleSet.from_mapping({}) == RULE_SETS["normal"]


def test_from_mapping_with_an_unknown_key_raises_naming_it():
    with pytest.raises(RuleSetError) as err:
        RuleSet.from_mapping({"hold_s": 1.0, "hold": 3})
    assert err.value.key == "hold" and "hold" in str(err.value)
    assert "hold_s" in err.value.allowed.split(", ")


def test_from_mapping_with_a_bad_value_raises_naming_the_key():
    with pytest.raises(RuleSetError) as err:
        RuleSet.from_mapping({"base": "storm", "device_min_share": 2})
    assert err.value.key == "device_min_share"


def test_unknown_rule_set_raises():
    with pytest.raises(RuleSetError) as err:
        rule_set("nope")
    assert err.value.key == "rules" and err.value.value == "nope" and "normal" in err.value.allowed
    with pytest.raises(RuleSetError):
        RuleSet.from_mapping({"base": "nope"})


# ---------------------------------------------------------------------------------------------
# Estimated restoration times (defaults: travel 1800 s, assess 2700 s, repair 5400 s, close 600 s)


P = EtrParameters()
BASE_REPAIR = 5400.0 + 600.0  # repair of an unknown cause, and closing
NOW = 1000.0


def test_estimate_repaired_is_closing_only():
    assert estimate(P, Stage.repaired, now_s=NOW, cause="vehicle") == NOW + 600.0


def test_estimate_found_is_the_repair_of_the_cause_and_closing():
    assert estimate(P, Stage.found, now_s=NOW, cause="tree") == NOW + 7200.0 + 600.0
    assert estimate(P, Stage.found, now_s=NOW, cause="vehicle") == NOW + 14400.0 + 600.0
    assert estimate(P, Stage.found, now_s=NOW) == NOW + BASE_REPAIR
    assert estimate(P, Stage.found, now_s=NOW, cause="meteor") == NOW + BASE_REPAIR  # unknown: the average


def test_estimate_needs_line_crew_adds_the_wait():
    assert estimate(P, Stage.needs_line_crew, now_s=NOW) == NOW + 3600.0 + BASE_REPAIR
    assert estimate(P, Stage.needs_line_crew, now_s=NOW, cause="animal") == NOW + 3600.0 + 3600.0 + 600.0


def test_estimate_arrived_adds_the_patrol():
    assert estimate(P, Stage.arrived, now_s=NOW) == NOW + 2700.0 + BASE_REPAIR


def test_estimate_dispatched_uses_average_travel_or_the_distance():
    assert estimate(P, Stage.dispatched, now_s=NOW) == NOW + 1800.0 + 2700.0 + BASE_REPAIR
    # 6700 m straight, 1.4 detour, 13.4 m/s: 700 s
    assert estimate(P, Stage.dispatched, now_s=NOW, distance_m=6700.0) == pytest.approx(
        NOW + 700.0 + 2700.0 + BASE_REPAIR)
    assert estimate(P, Stage.dispatched, now_s=NOW, distance_m=0.0) == NOW + 2700.0 + BASE_REPAIR


def test_estimate_waiting_without_storm_ignores_the_backlog():
    one_job = 1800.0 + 2700.0 + BASE_REPAIR  # 10500 s
    assert estimate(P, Stage.waiting, now_s=NOW) == NOW + one_job
    assert estimate(P, Stage.waiting, now_s=NOW, ahead=5, crews=2) == NOW + one_job
    assert estimate(P, Stage.waiting, now_s=NOW, ahead=0, crews=2, storm=True) == NOW + one_job


def test_storm_backlog_adds_rounds_of_the_jobs_ahead():
    one_job = 1800.0 + 2700.0 + BASE_REPAIR
    assert estimate(P, Stage.waiting, now_s=NOW, ahead=5, crews=2, storm=True) == NOW + 3 * one_job + one_job
    assert estimate(P, Stage.waiting, now_s=NOW, ahead=4, crews=2, storm=True) == NOW + 2 * one_job + one_job
    assert estimate(P, Stage.waiting, now_s=NOW, ahead=1, crews=10, storm=True) == NOW + 2 * one_job
    assert estimate(P, Stage.waiting, now_s=NOW, ahead=3, crews=0, storm=True) == NOW + 4 * one_job


def test_storm_backlog_rounds_use_average_travel_and_this_job_its_distance():
    one_job = 1800.0 + 2700.0 + BASE_REPAIR
    got = estimate(P, Stage.waiting, now_s=NOW, ahead=2, crews=2, storm=True, distance_m=6700.0, cause="tree")
    own = 700.0 + 2700.0 + 7200.0 + 600.0
    rounds = 1800.0 + 2700.0 + 7200.0 + 600.0  # the rounds ahead use this outage's repair guess
    assert got == pytest.approx(NOW + rounds + own)
    assert one_job != rounds


def test_estimate_reads_changed_parameters():
    p = EtrParameters(travel_s=600.0, assess_s=300.0, repair_s={"": 1200.0}, close_s=60.0)
    assert estimate(p, Stage.waiting, now_s=0.0) == 600.0 + 300.0 + 1200.0 + 60.0
    assert estimate(p, Stage.found, now_s=0.0, cause="tree") == 1260.0


def test_estimate_stages_later_are_sooner():
    order = [Stage.dispatched, Stage.arrived, Stage.found, Stage.repaired]
    times = [estimate(P, s, now_s=0.0) for s in order]
    assert times == sorted(times, reverse=True) and len(set(times)) == len(times)
    assert estimate(P, Stage.waiting, now_s=0.0) == times[0]  # no backlog outside a storm


# ---------------------------------------------------------------------------------------------
# Outage records


def _same(a: OutageRecord, b: OutageRecord) -> None:
    for f in dataclasses.fields(OutageRecord):
        x, y = getattr(a, f.name), getattr(b, f.name)
        if isinstance(x, float) and math.isnan(x):
            assert isinstance(y, float) and math.isnan(y), f.name
        else:
            assert x == y, f.name


def _record(i: int = 1, **changes) -> OutageRecord:
    rec = OutageRecord(f"OUT-{i:04d}", "S01-F1-FU001", "fuse", "S01-F1-BKR", OutageState.confirmed, start_s=100.5,
                       detected_s=130.0, confirmed_by="ami", confirmed_s=190.0, cause="tree", line="S01-F1-L0024",
                       crew="C07", crew_activity="repairing", etr_s=7300.0, customers_out=12,
                       customers_interrupted=15, customer_minutes=345.25, critical_out=1, calls=3, gasps=9,
                       hazard=True, reason="")
    rec.note(130.0, "predicted at S01-F1-FU001")
    rec.note(190, "confirmed by ami")
    return dataclasses.replace(rec, **changes) if changes else rec


def test_outage_state_active():
    assert {s for s in OutageState if s.active} == {OutageState.predicted, OutageState.confirmed}
    assert _record().active
    assert not _record(state=OutageState.restored).active
    assert not _record(state=OutageState.inside_premise).active


def test_record_is_plain_data_without_history():
    rec = _record()
    data = rec.record()
    assert data["state"] == "confirmed" and type(data["state"]) is str
    assert "history" not in data
    assert data["hazard"] is True and data["customer_minutes"] == 345.25
    assert rec.history == [(130.0, "predicted at S01-F1-FU001"), (190.0, "confirmed by ami")]
    assert all(type(t) is float for t, _ in rec.history)


def test_record_round_trip_keeps_every_field_and_history():
    rec = _record()
    back = OutageRecord.from_record(rec.record(), rec.history)
    _same(rec, back)
    assert back.state is OutageState.confirmed and back.history is not rec.history


def test_record_round_trip_with_nan_times():
    rec = OutageRecord("OUT-9", "T1", TRANSFORMER, "F", OutageState.predicted, start_s=5.0, detected_s=6.0)
    assert math.isnan(rec.confirmed_s) and math.isnan(rec.restored_s) and math.isnan(rec.etr_s)
    _same(rec, OutageRecord.from_record(rec.record()))
    assert OutageRecord.from_record(rec.record()).history == []


def test_from_record_reads_database_nulls_ints_and_ignores_extra_keys():
    data = _record().record() | {"confirmed_s": None, "restored_s": None, "etr_s": None, "hazard": 1,
                                 "state": "restored", "something_else": 3}
    back = OutageRecord.from_record(data)
    assert math.isnan(back.confirmed_s) and math.isnan(back.restored_s) and math.isnan(back.etr_s)
    assert back.hazard is True and back.state is OutageState.restored and not back.active


# ---------------------------------------------------------------------------------------------
# The outage store


ALARM_A = {"id": "A-001", "device": "S01-F1-BKR", "text": "breaker open", "acknowledged": False, "time_s": 10.0}
ALARM_B = {"id": "A-002", "device": "S01-F1-RCL", "text": "lockout", "acknowledged": True, "time_s": 12.5}


def _fill(store: OutageStore) -> tuple[OutageRecord, OutageRecord]:
    a = _record(1)
    b = OutageRecord("OUT-0002", "S01-F2-T0060", TRANSFORMER, "S01-F2-BKR", OutageState.predicted, start_s=40.0,
                     detected_s=70.0)
    store.save_outage(b)
    store.save_outage(a)
    store.save_interruptions([(1, a.id, 17, 100.5, 900.0), (2, a.id, 18, 100.5, math.nan),
                              (3, b.id, 40, 40.0, np.nan)])
    store.save_alarm(ALARM_B)
    store.save_alarm(ALARM_A)
    store.commit()
    return a, b


def _check_filled(stored, a: OutageRecord, b: OutageRecord) -> None:
    assert [r.id for r in stored.outages] == [a.id, b.id]  # by id
    _same(stored.outages[0], a)
    _same(stored.outages[1], b)
    assert stored.interruption_id.tolist() == [1, 2, 3]
    assert stored.interruption_outage.tolist() == [a.id, a.id, b.id]
    assert stored.interruption_customer.tolist() == [17, 18, 40]
    assert stored.interruption_start_s.tolist() == [100.5, 100.5, 40.0]
    end = stored.interruption_end_s
    assert end[0] == 900.0 and np.isnan(end[1:]).all()
    assert stored.alarms == [ALARM_A, ALARM_B]


def test_empty_store_loads_empty_arrays():
    stored = OutageStore(":memory:").load()
    assert stored.outages == [] and stored.alarms == []
    assert stored.interruption_id.dtype == np.int64 and len(stored.interruption_id) == 0
    assert stored.interruption_end_s.dtype == float and len(stored.interruption_end_s) == 0


def test_store_round_trip_in_the_same_session(tmp_path):
    store = OutageStore(tmp_path / "oms.sqlite")
    a, b = _fill(store)
    _check_filled(store.load(), a, b)
    store.close()


def test_nan_is_stored_as_null(tmp_path):
    path = tmp_path / "oms.sqlite"
    store = OutageStore(path)
    a, b = _fill(store)
    store.close()
    db = sqlite3.connect(path)
    assert db.execute("SELECT confirmed_s, restored_s, etr_s FROM outage WHERE id = ?", (b.id,)).fetchone() == (
        None, None, None)
    assert db.execute("SELECT restored_s, confirmed_s FROM outage WHERE id = ?", (a.id,)).fetchone() == (None, 190.0)
    assert db.execute("SELECT id FROM interruption WHERE end_s IS NULL ORDER BY id").fetchall() == [(2,), (3,)]
    assert db.execute("SELECT hazard FROM outage WHERE id = ?", (a.id,)).fetchone() == (1,)
    db.close()


def test_reopened_store_keeps_everything(tmp_path):
    path = tmp_path / "oms.sqlite"
    store = OutageStore(path)
    a, b = _fill(store)
    store.close()
    again = OutageStore(path)
    _check_filled(again.load(), a, b)
    again.close()


def test_committed_changes_are_seen_by_another_connection_before_close(tmp_path):
    path = tmp_path / "oms.sqlite"
    store = OutageStore(path)
    a, b = _fill(store)
    other = OutageStore(path)  # as after a crash: no close
    _check_filled(other.load(), a, b)
    other.close()
    store.close()


def test_saving_a_record_again_replaces_it_and_appends_only_new_history(tmp_path):
    path = tmp_path / "oms.sqlite"
    store = OutageStore(path)
    rec = _record(1)
    store.save_outage(rec)
    rec.state, rec.restored_s = OutageState.restored, 5000.0
    rec.note(5000.0, "restored")
    store.save_outage(rec)
    store.save_outage(rec)  # nothing new to append
    store.close()
    again = OutageStore(path)
    (back,) = again.load().outages
    _same(back, rec)
    assert len(back.history) == 3
    rec.note(6000.0, "closed by the dispatcher")  # a restarted IDMS goes on with the same record
    again.save_outage(rec)
    again.close()
    (back,) = OutageStore(path).load().outages
    assert back.history == rec.history and len(back.history) == 4


def test_deleting_interruptions_and_alarms(tmp_path):
    store = OutageStore(tmp_path / "oms.sqlite")
    a, _ = _fill(store)
    store.delete_interruptions([2, 3, 99])
    store.delete_alarm("A-001")
    store.save_interruptions([(1, "OUT-0003", 17, 100.5, 950.0)])  # moved to another outage, ended
    store.commit()
    stored = store.load()
    assert stored.interruption_id.tolist() == [1]
    assert stored.interruption_outage.tolist() == ["OUT-0003"] and stored.interruption_end_s.tolist() == [950.0]
    assert stored.alarms == [ALARM_B]
    store.save_alarm(ALARM_A | {"acknowledged": True})
    store.close()
    assert OutageStore(tmp_path / "oms.sqlite").load().alarms == [ALARM_A | {"acknowledged": True}, ALARM_B]


def test_a_file_that_is_not_sqlite_gives_store_error(tmp_path):
    path = tmp_path / "notes.sqlite"
    path.write_bytes(b"these are my notes, not a database\n" * 100)
    with pytest.raises(StoreError) as err:
        OutageStore(path)
    assert str(path) in str(err.value)
    assert isinstance(err.value, TwinError) and isinstance(err.value.__cause__, sqlite3.DatabaseError)
