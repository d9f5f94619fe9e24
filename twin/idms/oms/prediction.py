"""Outage prediction: roll the evidence of customers out up the device tree to the most likely
common protective device, by the rules of a :class:`~twin.idms.oms.rules.RuleSet`.

:func:`roll_up` is a pure function over the :class:`~twin.idms.oms.tree.DeviceTree`'s arrays:
``out`` counts the customers with fresh evidence (a last gasp, a call, a silent ping) at their
leaf node; ``predicted`` marks the nodes where an unconfirmed outage is already predicted (all of
their customers count as out); ``blocked`` the nodes that may not be predicted (SCADA shows them
closed; a ping found their customers energised). Walking from the leaves up, each node is
predicted by the rules (see :mod:`twin.idms.oms.rules`; for "all customers out", a node whose
only branch is predicted counts as all out: a fuse over a single transformer predicted is the
fuse, fuses blow far more often than transformers fail); the answer is the predicted nodes with no
predicted node above them: each of those is one outage, holding all the evidence and predicted
outages below it.

>>> import numpy as np
>>> from twin.idms.oms.rules import rule_set
>>> from twin.idms.oms.tree import DeviceTree
>>> # a fuse (node 0) over two transformers (1, 2) of 3 customers each
>>> tree = DeviceTree(np.array(["F", "T1", "T2"], object), np.array(["fuse", "transformer", "transformer"], object),
...                   np.array([0, -1, -1]), np.array([-1, 0, 0]), np.array([0, 1, 1]), np.array([0, 1, 5]),
...                   np.array([9, 5, 9]), np.array([6, 3, 3]), np.zeros(6, int), np.zeros(6, int), {})
>>> roll_up(tree, out=np.array([0, 1, 0]), predicted=np.zeros(3, bool), blocked=np.zeros(3, bool),
...         rules=rule_set("normal")).tolist()  # one call: its transformer
[1]
>>> roll_up(tree, out=np.array([0, 1, 1]), predicted=np.zeros(3, bool), blocked=np.zeros(3, bool),
...         rules=rule_set("normal")).tolist()  # calls under two transformers: the fuse above them
[0]
"""

from __future__ import annotations

import numpy as np

from twin.idms.oms.rules import RuleSet
from twin.idms.oms.tree import TRANSFORMER, DeviceTree

__all__ = ["roll_up"]


def roll_up(tree: DeviceTree, *, out: np.ndarray, predicted: np.ndarray, blocked: np.ndarray,
            rules: RuleSet, doubtful: np.ndarray | None = None) -> np.ndarray:
    """The nodes to predict outages at (see the module docstring), sorted. ``out`` int per node
    (fresh evidence customers whose leaf it is), ``predicted`` and ``blocked`` bool per node;
    ``doubtful`` (bool per node, optional): devices SCADA last saw closed before their
    communications failed, predicted on the share of their customers out only, not on a count of
    children (several laterals out under them are likelier their own fuses)."""
    touched = np.flatnonzero((out > 0) | predicted)
    if not len(touched):
        return np.empty(0, np.int64)
    count: dict[int, int] = {}
    for k in touched.tolist():
        count[k] = int(tree.customers[k]) if predicted[k] else int(out[k])
    nodes = set(count)
    for k in touched.tolist():  # every ancestor of the evidence takes part
        p = int(tree.parent[k])
        while p >= 0 and p not in nodes:
            nodes.add(p)
            p = int(tree.parent[p])
    hits: dict[int, int] = dict.fromkeys(nodes, 0)
    covered = dict(count)  # customers out, counting a chosen only child's customers whole (for 'all out')
    chosen: dict[int, bool] = {}
    for k in sorted(nodes, key=lambda n: -int(tree.depth[n])):  # children before parents
        n_out = min(count.get(k, 0), int(tree.customers[k]))  # a predicted node's customers count once
        n_all = min(max(covered.get(k, 0), n_out), int(tree.customers[k]))
        children = 0 if doubtful is not None and doubtful[k] else hits[k]
        chosen[k] = bool(predicted[k] and not blocked[k]) or (not blocked[k] and _holds(tree, k, n_out, n_all,
                                                                                         children, rules))
        p = int(tree.parent[k])
        if p >= 0 and n_out > 0:
            count[p] = count.get(p, 0) + n_out
            whole = chosen[k] and tree.customers[k] == tree.customers[p]  # the only branch, all of it out
            covered[p] = covered.get(p, 0) + (int(tree.customers[k]) if whole else n_out)
            hits[p] += int(chosen[k] or not rules.children_predicted)
    top = [k for k, c in chosen.items() if c and not any(chosen.get(a, False) for a in tree.ancestors(k))]
    return np.array(sorted(top), np.int64)


def _holds(tree: DeviceTree, k: int, n_out: int, n_all: int, hits: int, rules: RuleSet) -> bool:
    """Whether node ``k`` is predicted: ``n_out`` customers below it with evidence, ``n_all``
    counting the nodes chosen below it whole, ``hits`` children that count (see
    :attr:`~twin.idms.oms.rules.RuleSet.children_predicted`)."""
    total = int(tree.customers[k])
    if n_out <= 0 or total <= 0:
        return False
    if tree.kind[k] == TRANSFORMER:
        return n_out >= min(rules.transformer_min_customers, total)
    if hits >= rules.device_min_children:
        return True
    if n_out >= rules.device_min_customers and n_out >= rules.device_min_share * total:
        return True
    return rules.all_customers and n_all >= total
