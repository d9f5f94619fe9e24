"""Outage prediction against the world's ground truth: how soon and how exactly the IDMS found
each real outage, and what it believed that was not so.

:class:`PredictionLog` listens to a session's outage manager and notes, at every change of a
record, the device it is at and the customers the world really had without power then. Real
outages are the world's sustained interruptions (:class:`~twin.world.physics.Outage` lasting
``sustained_s`` or more) held by a protective device: the device isolating its customers five
minutes after it began (a recloser that tripped and reclosed while a fuse below it blew: the fuse). :func:`prediction_accuracy` then gives,
per real outage, the first time the IDMS had an active record at exactly that device (its
*detection*), counted from when it could be seen: a fuse that blew while the recloser above it
locked out (within the settling time) is hidden behind the recloser's outage, with no meter or
customer below it able to tell it apart, until the recloser closes and stays closed (one that
trips again as it closes, into another fault on its section, hides the fuse anew); its clock
starts then (one hidden until its own repair is not counted: ``hidden``). Over the session:

* ``exact_share``: real outages detected exactly within ``within_s`` of their start, and
  ``exact_share_ami_up`` the same among those whose meters the AMI head-end could mostly reach
  five minutes in (where the storm took the AMI network down, only calls tell);
* ``median_detect_s`` and ``p95_detect_s``: time from outage to exact detection (undetected
  outages count as never: infinite);
* ``false``: records made for customers who all had power (a false outage);
* ``inside_premise_crews``: crews sent to a record whose customers all had power (an
  inside-premise call the IDMS did not tell apart);
* ``nested``: real outages whose clock started late, behind an upstream outage.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from twin.idms.oms.records import OutageRecord

__all__ = ["Accuracy", "PredictionLog", "prediction_accuracy"]

_PROTECTIVE = frozenset({"breaker", "recloser", "fuse"})


class PredictionLog:
    """Per record: ``(time_s, device, active)`` at each change, whether its customers were
    really out when it was made, and whether a crew was sent to it while they all had power."""

    def __init__(self, session, *, settle_s: float = 300.0) -> None:
        self.session, self.settle_s = session, settle_s
        self.settled: dict[int, str] = {}
        self.reachable: dict[int, float] = {}
        """Per world outage: the share of its customers' meters the AMI head-end could reach then."""
        """Per world outage (its index): the device isolating it ``settle_s`` after it began
        (the protection's sequence over: a recloser that reclosed while a fuse held, the fuse)."""
        self._seen_outages = 0
        session.world.events.subscribe(self._on_world)
        self.changes: dict[str, list[tuple[float, str, bool]]] = {}
        self.false: set[str] = set()
        self.crew_to_nothing: set[str] = set()
        self._crews: dict[str, str] = {}
        session.idms.oms.subscribe(self._on_record)

    def _on_world(self, event) -> None:
        from twin.world.events import EventKind

        if event.kind != EventKind.outage:
            return
        world = self.session.world
        for k in range(self._seen_outages, len(world.grid.outages)):
            world.env.process(self._settle(k))
        self._seen_outages = len(world.grid.outages)

    def _settle(self, k: int):
        """Note which device isolates world outage ``k`` once its protection has settled."""
        yield self.session.world.env.timeout(self.settle_s)
        o = self.session.world.grid.outages[k]
        self.settled[k] = o.isolated_by if math.isnan(o.restored_s) else ""
        fleet = self.session.parts.fleet
        self.reachable[k] = float(np.mean(fleet.reachable[o.customers])) if len(o.customers) else 1.0

    def _on_record(self, rec: OutageRecord) -> None:
        oms, grid = self.session.idms.oms, self.session.world.grid
        now = oms.clock.now()
        seen = self.changes.setdefault(rec.id, [])
        if not seen or seen[-1][1:] != (rec.device, rec.active):
            seen.append((now, rec.device, rec.active))
        if rec.active:
            customers = oms.customers_of(rec.id)
            really_out = bool(len(customers)) and not grid.energised_customers[customers].all()
            if len(seen) == 1 and not really_out and len(customers):
                self.false.add(rec.id)
            if rec.crew and self._crews.get(rec.id) != rec.crew:
                self._crews[rec.id] = rec.crew
                if not really_out and len(customers):
                    self.crew_to_nothing.add(rec.id)


@dataclass(frozen=True)
class Accuracy:
    """Prediction accuracy over a session (see the module docstring)."""

    real_outages: int
    exact_share: float
    median_detect_s: float
    p95_detect_s: float
    undetected: int
    false: int
    exact_share_ami_up: float  # of the real outages whose meters the head-end could mostly reach
    ami_up: int
    inside_premise_crews: int
    records: int
    nested: int = 0  # counted from when the outage above them ended
    hidden: int = 0  # not counted: behind an outage above until their own end

    def line(self) -> str:
        """The one line `benchmarks/oms.py` ends each setting with."""
        return (f"exact_5min={100.0 * self.exact_share:.1f}% median_detect_s={self.median_detect_s:.0f} "
                f"p95_detect_s={self.p95_detect_s:.0f} false={self.false}")


def prediction_accuracy(log: PredictionLog, *, within_s: float = 300.0, sustained_s: float = 300.0,
                        until_s: float | None = None) -> Accuracy:
    """Score the log's session against the world's outages (see the module docstring)."""
    world = log.session.world
    net = world.grid.net
    end = world.now if until_s is None else until_s
    kinds = _switch_kinds(net)
    outages = world.grid.outages
    # after a reclose that brought most back, the fuse that held
    devices = [log.settled.get(k, o.device) for k, o in enumerate(outages)]
    above = _ancestors(world)
    by_device: dict[str, list[int]] = {}
    for k, d in enumerate(devices):
        by_device.setdefault(d, []).append(k)
    detect: list[float] = []
    reachable: list[float] = []
    nested = hidden = 0
    for k, o in enumerate(outages):
        device = devices[k]
        if kinds.get(device) not in _PROTECTIVE:
            continue
        restored = end if math.isnan(o.restored_s) else o.restored_s
        if restored - o.start_s < sustained_s or o.start_s > end - within_s:
            continue
        seen_s = _seen(o.start_s, [outages[j] for a in above.get(device, ()) for j in by_device.get(a, ())],
                       log.settle_s, end)
        if seen_s >= restored:
            hidden += 1
            continue
        nested += seen_s > o.start_s
        first = math.inf
        for changes in log.changes.values():
            for t, seen, active in changes:
                if seen == device and active and o.start_s - 1.0 <= t <= restored and t - seen_s < first:
                    first = t - seen_s
                    break
        detect.append(max(0.0, first))
        reachable.append(log.reachable.get(k, 1.0))
    d = np.asarray(detect, float)
    n = len(d)
    up = np.asarray(reachable, float) >= 0.5
    records = len(log.changes)
    return Accuracy(real_outages=n, exact_share=float(np.mean(d <= within_s)) if n else 1.0,
                    median_detect_s=_quantile(d, 0.5), p95_detect_s=_quantile(d, 0.95),
                    undetected=int(np.count_nonzero(np.isinf(d))), false=len(log.false),
                    exact_share_ami_up=float(np.mean(d[up] <= within_s)) if up.any() else 1.0,
                    ami_up=int(np.count_nonzero(up)),
                    inside_premise_crews=len(log.crew_to_nothing), records=records, nested=nested, hidden=hidden)


def _seen(start_s: float, upstream: list, settle_s: float, end_s: float) -> float:
    """When an outage that began at ``start_s`` could first be told apart from the ``upstream``
    outages (of devices above it): once none of them is open, nor opens again within ``settle_s``
    (a recloser closed into another fault on its section trips again at once, and its lockout
    hides the fuse below it anew)."""
    seen_s = start_s
    moved = True
    while moved:
        moved = False
        for u in upstream:
            u_end = end_s if math.isnan(u.restored_s) else u.restored_s
            if u.start_s <= seen_s + settle_s and u_end > seen_s:
                seen_s, moved = u_end, True
    return seen_s


def _ancestors(world) -> dict[str, list[str]]:
    """Per protective device of the world's normal configuration, the protective devices above it."""
    from twin.idms.oms.tree import device_tree

    tree = device_tree(world.grid.net, world.grid.normal_topology())
    return {str(tree.ids[n]): [str(tree.ids[a]) for a in tree.ancestors(n)] for n in range(len(tree))
            if tree.kind[n] != "transformer"}


def _quantile(d: np.ndarray, q: float) -> float:
    """The ``q`` quantile by rank (the lowest value with a share ``q`` at or below it), which
    stays infinite where undetected outages reach it; 0 for none."""
    if not len(d):
        return 0.0
    return float(np.sort(d)[max(0, math.ceil(q * len(d)) - 1)])


def _switch_kinds(net) -> dict[str, str]:
    from twin.grid.schema import SwitchKind

    sw = net.switch
    return {str(i): SwitchKind(int(k)).name for i, k in zip(sw.ids.tolist(), np.asarray(sw["kind"]).tolist())}
