"""Feeder reconfiguration: where to put the open points of a radial network.

A distribution network is built meshed and run radial: feeders meet at normally open ties, and
every loop has one open point. Close a tie and open another switch on the loop it closes, and the
customers between the two move from one feeder to the other; done in that order (make before
break) nobody is interrupted, the two feeders being in parallel for the moment between. This
module searches such configurations for an objective, on the IDMS's model (a
:class:`~twin.grid.network.Network` and a bool per switch row saying which are open):

* :func:`minimise_losses`: the total losses of the power flow (kW);
* :func:`balance_load`: the feeders evened out, by default Baran and Wu's load-balancing index
  (the sum over feeder heads of the squared loading in per unit of rating), else the spread or the
  maximum of the heads' loadings (%);
* :func:`relieve_overloads`: the fewest moves that bring every element the switching can unload
  within its rating, the lowest losses among those;
* :func:`brute_force`: every admissible configuration of a few devices, the reference for the rest;
* :func:`return_to_normal`: the moves that bring every switch back to its ``normal_open`` state.

Each returns a :class:`Reconfiguration`: the switch states found, the :class:`Move` list in a safe
order (each a close, then an open on the loop that close made) and the objective, losses (kW),
power flows run and the limits violated before and after.

Admissible configurations
-------------------------
Only the switches marked ``switchable`` change (by default the sectionalisers, load-break switches
and disconnects: :data:`SWITCHABLE_KINDS`; never a fuse, and no breaker or recloser, so no
protective device becomes an open point). A configuration is admissible when it is radial (no
closed loop, and no two sources in parallel) and energises exactly the buses the starting one
does: reconfiguration moves customers between feeders, it neither interrupts nor picks up anyone.
The start must itself be radial (:class:`~twin.errors.ModelError` otherwise).

Method: branch exchange
-----------------------
The searches are the branch exchange of Civanlar, Grainger, Yin and Lee (1988) and Baran and Wu
(1989). From a radial configuration, each open switchable device whose two ends are energised is
a tie: the :class:`~twin.grid.topology.Topology` of the configuration gives the loop closing it
makes (the elements on one end's path to its source and not on the other's, both paths when the
ends hang from different sources), and each closed switchable device on that loop is a new open
point for it. Topology alone screens the moves: only loops through switchable devices are tried,
and a move on a loop strands nobody, so no power flow is spent on a move that would. Each move is
then one power flow (:class:`~twin.grid.powerflow.parts.PartSolver`, kept across the search, so
only the substations a move touches are factored again; a configuration seen once is not solved
twice). The best admissible improving move is kept and the search goes on from it until no move
improves (:func:`minimise_losses`, :func:`balance_load`); :func:`relieve_overloads` goes level by
level (all one-move configurations, then two...), keeping the few least overloaded at each level,
and stops at the first level that has configurations within limits.

Limits
------
Voltages stay within ``v_min_pu``/``v_max_pu`` (ANSI C84.1 range A by default,
:data:`~twin.grid.power_quality.RANGE_A`) on every energised bus and phase, and loadings
(:func:`~twin.grid.loading.loading_pct`, the largest phase current in % of
:func:`~twin.grid.loading.ratings_a`) within ``max_loading_pct`` on every element that the
switching can load or unload: the elements on some loop of the network with every switchable
device closed. The rest carry the same customers whatever the open points (their currents move
only with the voltage), so the switching can neither cause nor cure an overload there; those
overloaded at the start are reported (:attr:`Reconfiguration.start_violations`) and left out.
Where the start already violates limits, the search may not make the violation grow: the
overload (% of rating beyond the limit, summed over the elements) and the voltage beyond the
limits (% of nominal, summed over each bus's lowest and highest phase) each stay no larger than
the start's, so a move may improve one bus while costing another less. :func:`relieve_overloads`
instead looks for no overload at all (and voltages no worse in that sum).

Example
-------
On a feeder pair whose loss-optimal open point is ``S23`` rather than the tie ``S34``::

    result = minimise_losses(net, net.switch["open"])
    result.changes           # [('S34', False), ('S23', True)]: close the tie first
    result.losses_kw_after   # lower than result.losses_kw_before
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from twin.errors import ModelError
from twin.grid.loading import loading_pct, ratings_a
from twin.grid.network import Network
from twin.grid.power_quality import RANGE_A
from twin.grid.powerflow.parts import PartSolver
from twin.grid.schema import SwitchKind
from twin.grid.topology import Topology, build_topology

__all__ = [
    "SWITCHABLE_KINDS",
    "Move",
    "Reconfiguration",
    "default_switchable",
    "minimise_losses",
    "balance_load",
    "relieve_overloads",
    "brute_force",
    "return_to_normal",
]

SWITCHABLE_KINDS = frozenset({SwitchKind.sectionaliser, SwitchKind.load_break_switch, SwitchKind.disconnect})
"""Switch kinds a reconfiguration moves by default: switching devices that protect nothing."""

Measure = Literal["index", "spread", "max"]
Objective = Literal["losses", "balance", "relieve"]

_TOL = 1e-6  # how much (% of rating or of nominal voltage) a total beyond limits may grow by: rounding
_TOL_PCT = 1e-6  # loading (%) above a limit that counts as a violation
_TOL_PU = 1e-7  # voltage (pu) likewise
_REL = 1e-9  # an objective improves when it falls by more than this share of itself


@dataclass(frozen=True)
class Move:
    """One step of a switching sequence: close ``close``, then open ``open`` (device ids).

    A move with both is make-before-break: the close makes a loop and the open breaks it, so no
    customer is interrupted. ``sources`` are the sources the loop joins; two of them mean two
    substations in parallel for the moment between (check the angle across the tie before
    closing, or break before make). A move with only ``close`` picks up a dead section, one with
    only ``open`` drops one (only :func:`return_to_normal` makes those)."""

    close: str
    open: str
    sources: tuple[str, ...] = ()

    @property
    def loop(self) -> bool:
        """The close makes a loop the open then breaks."""
        return bool(self.close and self.open)

    @property
    def parallels_sources(self) -> bool:
        """The loop runs through two sources (substations briefly in parallel)."""
        return len(self.sources) > 1


@dataclass(frozen=True, eq=False)
class Reconfiguration:
    """What a search found: ``switch_open`` (bool per switch row) and the :class:`Move` list that
    gets there from the start, in a safe order.

    ``objective`` names what was minimised (``"losses"``: kW; ``"balance"``: the measure over the
    feeder heads' loadings; ``"relieve"``: the overload, % of rating beyond the limit summed over
    the elements the switching reaches, plus any growth of the voltage beyond limits, % of
    nominal; ``"normal"``: devices off their normal state), with its
    values before and after; ``losses_kw_before``/``after`` the total losses (kW);
    ``power_flows`` the solves run; ``start_violations`` and ``violations`` the elements
    (``"line.L3"``) above ``max_loading_pct`` and the buses (``"bus.650"``) outside the voltage
    limits at the start and at the end."""

    switch_open: np.ndarray
    moves: tuple[Move, ...]
    objective: str
    objective_before: float
    objective_after: float
    losses_kw_before: float
    losses_kw_after: float
    power_flows: int
    start_violations: tuple[str, ...]
    violations: tuple[str, ...]

    @property
    def changes(self) -> list[tuple[str, bool]]:
        """The switching order as ``(device id, open)``: each move's close, then its open."""
        out: list[tuple[str, bool]] = []
        for m in self.moves:
            if m.close:
                out.append((m.close, False))
            if m.open:
                out.append((m.open, True))
        return out


def default_switchable(net: Network) -> np.ndarray:
    """Bool per switch row: the devices of :data:`SWITCHABLE_KINDS`."""
    return np.isin(net.switch["kind"], np.array(sorted(int(k) for k in SWITCHABLE_KINDS)))


# -- the searches -----------------------------------------------------------------------------


def minimise_losses(
    net: Network,
    switch_open: np.ndarray,
    *,
    switchable: np.ndarray | None = None,
    load_scale: float | np.ndarray = 1.0,
    v_min_pu: float = RANGE_A[0],
    v_max_pu: float = RANGE_A[1],
    max_loading_pct: float = 100.0,
    max_moves: int = 50,
    solver: PartSolver | None = None,
) -> Reconfiguration:
    """The open points that minimise total losses (kW), by branch exchange (module docstring).

    ``switch_open``: the start, bool per switch row; ``switchable``: bool per switch row, the
    devices that may change (default :func:`default_switchable`); ``load_scale``: a multiplier of
    the model's loads, scalar or per load row; ``v_min_pu``/``v_max_pu``: voltage limits (pu);
    ``max_loading_pct``: loading limit (% of rating); ``max_moves``: the most exchanges made;
    ``solver``: a :class:`PartSolver` of ``net`` to reuse (its parts stay prepared).
    """
    study = _Study(net, switch_open, switchable, load_scale=load_scale, v_min_pu=v_min_pu, v_max_pu=v_max_pu,
                   max_loading_pct=max_loading_pct, solver=solver, strict=False)
    return study.descend("losses", lambda e: (e.losses_kw,), max_moves)


def balance_load(
    net: Network,
    switch_open: np.ndarray,
    *,
    measure: Measure = "index",
    switchable: np.ndarray | None = None,
    load_scale: float | np.ndarray = 1.0,
    v_min_pu: float = RANGE_A[0],
    v_max_pu: float = RANGE_A[1],
    max_loading_pct: float = 100.0,
    max_moves: int = 50,
    solver: PartSolver | None = None,
) -> Reconfiguration:
    """The open points that even out the feeders' loadings, by branch exchange; losses break ties.

    The feeders are those the start's topology names by their head breaker (a rated switch).
    ``measure``: ``"index"`` the sum of the heads' squared loadings in per unit of rating (Baran
    and Wu's load-balancing index), ``"spread"`` the highest head loading less the lowest (%),
    ``"max"`` the highest (%). Other options as :func:`minimise_losses`.
    """
    study = _Study(net, switch_open, switchable, load_scale=load_scale, v_min_pu=v_min_pu, v_max_pu=v_max_pu,
                   max_loading_pct=max_loading_pct, solver=solver, strict=False)
    balance = study.balance(measure)
    return study.descend("balance", lambda e: (balance(e), e.losses_kw), max_moves)


def relieve_overloads(
    net: Network,
    switch_open: np.ndarray,
    *,
    switchable: np.ndarray | None = None,
    load_scale: float | np.ndarray = 1.0,
    v_min_pu: float = RANGE_A[0],
    v_max_pu: float = RANGE_A[1],
    max_loading_pct: float = 100.0,
    max_moves: int = 4,
    beam_width: int = 8,
    solver: PartSolver | None = None,
) -> Reconfiguration:
    """The fewest moves that bring every element the switching can unload within
    ``max_loading_pct``, the voltage beyond limits growing no larger (module docstring, Limits);
    the lowest losses (kW) among configurations with as few moves.

    The search goes level by level: every configuration one move from the start, then two moves
    from the ``beam_width`` least overloaded of those, and so on, up to ``max_moves``. Where no
    configuration within limits is found the least overloaded one is returned, its remaining
    overloads in :attr:`Reconfiguration.violations`; where the start is within limits, no move.
    Other options as :func:`minimise_losses`.
    """
    study = _Study(net, switch_open, switchable, load_scale=load_scale, v_min_pu=v_min_pu, v_max_pu=v_max_pu,
                   max_loading_pct=max_loading_pct, solver=solver, strict=True)
    start = study.start
    first = study.evaluate(start)
    best = (study.excess(first), first.losses_kw, start, [])
    beam = [best]
    seen = {start.tobytes()}
    for _ in range(max_moves if best[0] > 0 else 0):
        children = []
        for _, _, config, path in beam:
            for tie, new_open, sources in study.moves_from(config):
                child = _exchanged(config, tie, new_open)
                if child.tobytes() in seen:
                    continue
                seen.add(child.tobytes())
                e = study.evaluate(child)
                children.append((study.excess(e), e.losses_kw, child, [*path, study.move(tie, new_open, sources)]))
        if not children:
            break
        children.sort(key=lambda c: (c[0], c[1]))
        if children[0][0] < best[0]:
            best = children[0]
        if best[0] == 0.0:  # the first level within limits: the lowest losses there
            break
        beam = children[:beam_width]
    return study.result("relieve", best[2], tuple(best[3]), study.excess)


def brute_force(
    net: Network,
    switch_open: np.ndarray,
    switchable: np.ndarray,
    *,
    objective: Objective = "losses",
    measure: Measure = "index",
    load_scale: float | np.ndarray = 1.0,
    v_min_pu: float = RANGE_A[0],
    v_max_pu: float = RANGE_A[1],
    max_loading_pct: float = 100.0,
    max_combinations: int = 2**16,
    solver: PartSolver | None = None,
) -> Reconfiguration:
    """The best of every admissible configuration of the ``switchable`` devices (bool per switch
    row), each solved: the reference the searches are checked against, for a few devices.

    ``objective``: ``"losses"`` (kW), ``"balance"`` (by ``measure``, as :func:`balance_load`;
    losses break ties) or ``"relieve"`` (the fewest moves, one move per device closed, to within
    limits, as :func:`relieve_overloads`; losses break ties). Configurations are enumerated as
    spanning trees over the pieces of network the switchable devices join; more candidate sets
    than ``max_combinations`` raise ``ValueError``. The moves are ordered make-before-break from
    the start to the best; their intermediate configurations are not checked against the limits.
    """
    if objective not in ("losses", "balance", "relieve"):
        raise ValueError(f"objective {objective!r}: use 'losses', 'balance' or 'relieve'")
    study = _Study(net, switch_open, switchable, load_scale=load_scale, v_min_pu=v_min_pu, v_max_pu=v_max_pu,
                   max_loading_pct=max_loading_pct, solver=solver, strict=objective == "relieve")
    balance = study.balance(measure) if objective == "balance" else None
    start = study.start

    def key(config: np.ndarray) -> tuple[float, ...] | None:
        e = study.evaluate(config)
        excess = study.excess(e)
        if objective == "relieve":
            return (excess, float(np.count_nonzero(start & ~config)), e.losses_kw)
        if excess > 0.0:
            return None
        return (balance(e), e.losses_kw) if balance else (e.losses_kw,)

    best, best_key = start, key(start)
    for config in study.radial_configurations(max_combinations):
        k = key(config)
        if k is not None and (best_key is None or _better(k, best_key)):
            best, best_key = config, k
    score = study.excess if objective == "relieve" else balance or (lambda e: e.losses_kw)
    return study.result(objective, best, tuple(study.sequence(start, best)), score)


def return_to_normal(
    net: Network,
    switch_open: np.ndarray,
    *,
    load_scale: float | np.ndarray = 1.0,
    v_min_pu: float = RANGE_A[0],
    v_max_pu: float = RANGE_A[1],
    max_loading_pct: float = 100.0,
    solver: PartSolver | None = None,
) -> Reconfiguration:
    """The moves that bring every switch from ``switch_open`` back to its ``normal_open`` state,
    make-before-break where a close makes a loop that a device going back to open breaks; a section
    dead now and live normally is picked up (a move with only a close), one live now and dead
    normally dropped last (only an open). Both configurations must be radial. The objective is the
    number of devices off normal; losses (kW) and violations are those of the power flow before and
    after (two solves)."""
    start = np.asarray(switch_open, bool)
    normal = np.asarray(net.switch["normal_open"], bool)
    if len(start) != len(normal):
        raise ValueError(f"switch_open has {len(start)} entries for {len(normal)} switches")
    _radial(build_topology(net, switch_open=normal), "the normal configuration")
    study = _Study(net, start, start != normal, load_scale=load_scale, v_min_pu=v_min_pu, v_max_pu=v_max_pu,
                   max_loading_pct=max_loading_pct, solver=solver, strict=False)
    return study.result("normal", normal.copy(), tuple(study.sequence(start, normal)),
                        lambda e: float(np.count_nonzero(e.switch_open != normal)))


# -- one search's model, limits and evaluations -----------------------------------------------


@dataclass(frozen=True, eq=False)
class _Evaluation:
    """One configuration's power flow: losses (kW), loading (% per element reference), the lowest
    and highest live phase voltage per bus (pu; +inf and -inf where dead), converged or not."""

    switch_open: np.ndarray
    losses_kw: float
    loading: pd.Series
    v_low: np.ndarray
    v_high: np.ndarray
    converged: bool


class _Study:
    """A search's network, start, switchable devices, limits and solved configurations."""

    def __init__(self, net: Network, switch_open: np.ndarray, switchable: np.ndarray | None, *,
                 load_scale: float | np.ndarray, v_min_pu: float, v_max_pu: float, max_loading_pct: float,
                 solver: PartSolver | None, strict: bool) -> None:
        n = len(net.switch)
        start = np.array(switch_open, dtype=bool)
        if start.shape != (n,):
            raise ValueError(f"switch_open has {start.size} entries for {n} switches")
        movable = default_switchable(net) if switchable is None else np.array(switchable, dtype=bool)
        if movable.shape != (n,):
            raise ValueError(f"switchable has {movable.size} entries for {n} switches")
        if solver is not None and solver.net is not net:
            raise ValueError("solver is a PartSolver of another network")
        self.net, self.start, self.switchable = net, start, movable
        self.load_scale = load_scale
        self.v_min_pu, self.v_max_pu, self.max_loading_pct = v_min_pu, v_max_pu, max_loading_pct
        self.solver = solver if solver is not None else PartSolver(net)
        self.power_flows = 0
        self._cache: dict[bytes, _Evaluation] = {}
        self._row = {str(s): k for k, s in enumerate(net.switch.ids)}
        self._from = net.bus.index(net.switch["from_bus"]) if n else np.zeros(0, np.int64)
        self._to = net.bus.index(net.switch["to_bus"]) if n else np.zeros(0, np.int64)

        topo = self.topology(start)
        _radial(topo, "the starting configuration")
        self.start_topology = topo
        self.energised = topo.energised.copy()
        # The elements the switching can load or unload: on a loop with every switchable device closed.
        meshed = build_topology(net, switch_open=start & ~movable)
        on_loop = meshed.edge_on_loop
        refs = [f"{t}.{net.table(t).ids[r]}" for t, r in zip(meshed.edge_table[on_loop], meshed.edge_row[on_loop])]
        reach = pd.Index(sorted(set(refs)))
        rating = ratings_a(net).reindex(reach)
        self.reach = reach[np.isfinite(rating.to_numpy()) & (rating.to_numpy() > 0)]

        self.strict = strict
        first = self.evaluate(start)
        if not first.converged:
            raise ModelError("the power flow of the starting configuration does not converge",
                             fix="check the model and the load scale before reconfiguring")
        self.start_overload, self.start_off_voltage = self._beyond(first)

    # -- topology -----------------------------------------------------------------------------

    def topology(self, switch_open: np.ndarray) -> Topology:
        return build_topology(self.net, switch_open=switch_open)

    def loop(self, topo: Topology, a: int, b: int) -> tuple[list[int], tuple[str, ...]]:
        """Switch rows on the loop that joining bus rows ``a`` and ``b`` closes, and the sources
        the loop runs through (one, or two when the ends hang from different sources)."""
        ids = self.net.bus.ids
        up_a, up_b = topo.path_to_source(f"bus.{ids[a]}"), topo.path_to_source(f"bus.{ids[b]}")
        ring = set(up_a) ^ set(up_b)
        sources = tuple(sorted({up_a[-1].partition(".")[2], up_b[-1].partition(".")[2]}))
        rows = sorted(self._row[r.partition(".")[2]] for r in ring if r.startswith("switch."))
        return rows, sources

    def moves_from(self, config: np.ndarray) -> list[tuple[int, int, tuple[str, ...]]]:
        """Every exchange from ``config``: (tie row to close, row to open, sources of the loop)."""
        topo = self.topology(config)
        live = topo.energised
        out = []
        for tie in np.flatnonzero(config & self.switchable).tolist():
            a, b = int(self._from[tie]), int(self._to[tie])
            if not (live[a] and live[b]):
                continue  # closing it would pick up a dead section, not move a loop's open point
            rows, sources = self.loop(topo, a, b)
            out += [(tie, d, sources) for d in rows if d != tie and self.switchable[d] and not config[d]]
        return out

    def move(self, close: int, open_: int, sources: tuple[str, ...]) -> Move:
        ids = self.net.switch.ids
        return Move(str(ids[close]) if close >= 0 else "", str(ids[open_]) if open_ >= 0 else "", sources)

    def sequence(self, start: np.ndarray, target: np.ndarray) -> list[Move]:
        """Moves from ``start`` to ``target`` (both radial), make-before-break wherever a device to
        close makes a loop through a device to open; then pick-ups, then drops."""
        config, moves = start.copy(), []
        while True:
            to_close = np.flatnonzero(config & ~target).tolist()
            to_open = np.flatnonzero(~config & target).tolist()
            if not to_close and not to_open:
                return moves
            topo = self.topology(config)
            live = topo.energised
            step = None
            for c in to_close:
                a, b = int(self._from[c]), int(self._to[c])
                if live[a] and live[b]:
                    rows, sources = self.loop(topo, a, b)
                    opens = [d for d in rows if d in to_open]
                    if opens:
                        step = (c, opens[0], sources)
                        break
            if step is None:
                pickups = [c for c in to_close if live[self._from[c]] != live[self._to[c]]]
                dead = [c for c in to_close if not (live[self._from[c]] or live[self._to[c]])]
                if pickups or dead:
                    step = ((pickups or dead)[0], -1, ())
                elif to_close:
                    raise ModelError("closing it makes a loop that no switch to open breaks", component="switch",
                                     element=str(self.net.switch.ids[to_close[0]]),
                                     fix="the target configuration must be radial")
                else:
                    step = (-1, to_open[0], ())
            close, open_, sources = step
            if close >= 0:
                config[close] = False
            if open_ >= 0:
                config[open_] = True
            moves.append(self.move(close, open_, sources))

    def radial_configurations(self, max_combinations: int):
        """Every admissible configuration of the switchable devices (see :func:`brute_force`)."""
        topo = self.start_topology
        n_bus = len(self.net.bus)
        sw_edge = len(self.net.line) + np.arange(len(self.net.switch))
        fixed = topo.edge_closed.copy()
        fixed[sw_edge[self.switchable]] = False
        src = self.net.bus.index(self.net.source["bus"])
        rows = np.concatenate([topo.edge_from[fixed], np.full(len(src), n_bus)])
        cols = np.concatenate([topo.edge_to[fixed], src])
        graph = coo_matrix((np.ones(len(rows)), (rows, cols)), shape=(n_bus + 1, n_bus + 1))
        _, piece = connected_components(graph, directed=False)
        live_piece = np.unique(np.concatenate([piece[:n_bus][self.energised], piece[[n_bus]]]))
        ends = np.stack([piece[self._from], piece[self._to]], axis=1) if len(self._from) else np.zeros((0, 2), int)
        free = [int(r) for r in np.flatnonzero(self.switchable)
                if ends[r, 0] != ends[r, 1] and np.isin(ends[r], live_piece).all()]
        need = len(live_piece) - 1  # a spanning tree over the live pieces
        count = math.comb(len(free), need) if 0 <= need <= len(free) else 0
        if count > max_combinations:
            raise ValueError(f"{count} candidate configurations of {len(free)} devices exceed max_combinations="
                             f"{max_combinations}: mark fewer devices switchable")
        label = {int(p): k for k, p in enumerate(live_piece)}
        for closed in itertools.combinations(free, need):
            parent = list(range(len(live_piece)))

            def root(x: int) -> int:
                while parent[x] != x:
                    parent[x] = parent[parent[x]]
                    x = parent[x]
                return x

            tree = True
            for r in closed:
                x, y = root(label[int(ends[r, 0])]), root(label[int(ends[r, 1])])
                if x == y:
                    tree = False
                    break
                parent[x] = y
            if not tree:
                continue
            config = self.start.copy()
            config[free] = True
            config[list(closed)] = False
            yield config

    # -- power flow and limits ----------------------------------------------------------------

    def evaluate(self, config: np.ndarray) -> _Evaluation:
        """The power flow of a configuration (solved once, then remembered)."""
        key = config.tobytes()
        if key not in self._cache:
            solution = self.solver.solve(config, load_scale=self.load_scale)
            self.power_flows += 1
            v = solution.bus_v_pu()
            live = np.nan_to_num(v, nan=0.0) > 0.0
            self._cache[key] = _Evaluation(
                config.copy(), float(solution.losses_kw), loading_pct(self.net, solution.branches),
                np.where(live, v, np.inf).min(axis=1), np.where(live, v, -np.inf).max(axis=1),
                not solution.failed)
        return self._cache[key]

    def _beyond(self, e: _Evaluation) -> tuple[float, float]:
        """Loading beyond ``max_loading_pct`` over the elements the switching reaches (% of
        rating, summed) and voltage beyond the limits over the energised buses (% of nominal,
        summed over each bus's lowest and highest phase)."""
        pct = e.loading.reindex(self.reach).fillna(0.0).to_numpy()
        over = np.maximum(pct - self.max_loading_pct, 0.0).sum()
        live = self.energised
        low = np.maximum(self.v_min_pu - e.v_low[live], 0.0).sum()
        high = np.maximum(e.v_high[live] - self.v_max_pu, 0.0).sum()
        return float(over), float(100.0 * (low + high))

    def excess(self, e: _Evaluation) -> float:
        """How far a configuration is from admissible (module docstring, Limits): the growth of
        the overload and of the voltage beyond limits over the start's, or for a strict search the
        whole overload; 0 when admissible, inf when not solved."""
        if not e.converged:
            return math.inf
        overload, off_voltage = self._beyond(e)
        extra_v = off_voltage - self.start_off_voltage
        extra_v = extra_v if extra_v > _TOL * (1.0 + self.start_off_voltage) else 0.0
        if not self.strict:
            extra_l = overload - self.start_overload
            overload = extra_l if extra_l > _TOL * (1.0 + self.start_overload) else 0.0
        elif overload <= _TOL:
            overload = 0.0
        return float(overload + extra_v)

    def violations(self, e: _Evaluation) -> tuple[str, ...]:
        """Elements above ``max_loading_pct`` and buses outside the voltage limits."""
        over = e.loading.index[e.loading.to_numpy() > self.max_loading_pct + _TOL_PCT]
        live = self.energised
        bad = live & ((e.v_low < self.v_min_pu - _TOL_PU) | (e.v_high > self.v_max_pu + _TOL_PU))
        return tuple(sorted(over)) + tuple(f"bus.{b}" for b in self.net.bus.ids[bad])

    def balance(self, measure: Measure):
        """The balance measure over the start's feeder heads, as a function of an evaluation."""
        if measure not in ("index", "spread", "max"):
            raise ValueError(f"measure {measure!r}: use 'index', 'spread' or 'max'")
        feeders = {str(f) for f in self.start_topology.feeder[self.energised]}
        heads = [f"switch.{f}" for f in sorted(feeders) if f in self._row]
        rating = ratings_a(self.net).reindex(heads).to_numpy()
        heads = [h for h, r in zip(heads, rating) if np.isfinite(r) and r > 0]
        if not heads:
            raise ModelError("no feeder starts at a rated breaker, so there is no feeder loading to balance",
                             component="switch", field="rated_a", fix="give the feeder-head breakers a rated_a")

        def value(e: _Evaluation) -> float:
            pct = e.loading.reindex(heads).fillna(0.0).to_numpy()
            if measure == "index":
                return float(np.sum((pct / 100.0) ** 2))
            return float(pct.max() - pct.min()) if measure == "spread" else float(pct.max())

        return value

    # -- searches and results -----------------------------------------------------------------

    def descend(self, name: str, key, max_moves: int) -> Reconfiguration:
        """Branch exchange: the best admissible improving move, again until none improves."""
        config = self.start.copy()
        current = key(self.evaluate(config))
        path: list[Move] = []
        for _ in range(max_moves):
            best = None
            for tie, new_open, sources in self.moves_from(config):
                child = _exchanged(config, tie, new_open)
                e = self.evaluate(child)
                if self.excess(e) > 0.0:
                    continue
                k = key(e)
                if _better(k, current if best is None else best[0]):
                    best = (k, child, self.move(tie, new_open, sources))
            if best is None:
                break
            current, config = best[0], best[1]
            path.append(best[2])
        moves = tuple(path)
        if len(path) > 1:  # the direct order, if shorter and within limits at every step
            direct = self.sequence(self.start, config)
            if len(direct) < len(path) and self._within_limits_along(direct):
                moves = tuple(direct)
        return self.result(name, config, moves, lambda e: key(e)[0])

    def _within_limits_along(self, moves: list[Move]) -> bool:
        config = self.start.copy()
        for m in moves:
            config[self._row[m.close]] = False
            config[self._row[m.open]] = True
            if self.excess(self.evaluate(config)) > 0.0:
                return False
        return True

    def result(self, name: str, config: np.ndarray, moves: tuple[Move, ...], score) -> Reconfiguration:
        before, after = self.evaluate(self.start), self.evaluate(config)
        return Reconfiguration(
            switch_open=config.copy(), moves=moves, objective=name,
            objective_before=float(score(before)), objective_after=float(score(after)),
            losses_kw_before=before.losses_kw, losses_kw_after=after.losses_kw, power_flows=self.power_flows,
            start_violations=self.violations(before), violations=self.violations(after))


def _exchanged(config: np.ndarray, close: int, open_: int) -> np.ndarray:
    out = config.copy()
    out[close], out[open_] = False, True
    return out


def _better(a: tuple[float, ...], b: tuple[float, ...]) -> bool:
    """``a`` lexicographically below ``b``, each term by more than its rounding."""
    for x, y in zip(a, b):
        tol = _REL * max(1.0, abs(y))
        if x < y - tol:
            return True
        if x > y + tol:
            return False
    return False


def _radial(topo: Topology, what: str) -> None:
    """Raise :class:`ModelError` naming a loop when the configuration is not radial."""
    if not len(topo.chords):
        return
    loop = topo.loops()[0]
    switches = [r.partition(".")[2] for r in loop if r.startswith("switch.")]
    raise ModelError(f"{what} is not radial: a closed loop runs through {', '.join(loop)}",
                     component="switch" if switches else loop[0].partition(".")[0],
                     element=switches[0] if switches else loop[0].partition(".")[2],
                     fix="open one switch on the loop so that every bus is fed one way")
