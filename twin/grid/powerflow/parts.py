"""The power flow part by part: each substation's network solved on its own.

A territory's substations share nothing electrically while their ties are open: each is a part
(:func:`twin.grid.subnetwork.parts`) with its own source, solved on its own. A storm changes a few
feeders at a time, so a re-solve re-factors only the parts whose switch, tap or capacitor states
changed since their last solve (where only taps or banks moved, their Y is updated in place and
refactored), and re-iterates only the parts whose state or loads changed; the others keep their
solution. Each part also keeps the state it had before, and the solver the last few layouts of
the ties, so that a study going back and forth between two switchings (before and after a
close) factors each once. When a tie closes, the parts it joins become one (split anew from the
model, once for that configuration). A part without a source is dead: nothing to solve.

:class:`PartSolver` keeps the parts and their prepared networks; :meth:`PartSolver.solve` returns a
:class:`Solution`, immutable, which reads like a :class:`~twin.grid.powerflow.PowerFlowResult` of
the whole network (``voltages``, ``branches``, ``element_losses``, totals, ``iterations``) with the
tables made on first use, and gives the bus voltages in bulk (:meth:`Solution.bus_v_pu`) without
making them. Each part converges to the power flow's tolerance, so the solution equals the whole
network's solved at once to within it.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pandas as pd

from twin.errors import NotConverged
from twin.grid.network import Network
from twin.grid.powerflow.nodes import SQRT3, is_split, slot_mask
from twin.grid.powerflow.results import voltage_table

__all__ = ["PartSolver", "Solution"]


@dataclass(frozen=True, eq=False)
class PartSolution:
    """One part's solution: its model's rows in the whole network's tables, its prepared network,
    node voltages (complex V) and totals (kW, kvar)."""

    bus: np.ndarray  # rows of the part's buses in the whole network
    rows: dict  # per table: the part's rows in the whole network's table
    prep: object  # a PreparedNetwork
    v: np.ndarray
    iterations: int
    mismatch: float
    sums: dict
    load_scale: float | np.ndarray

    @cached_property
    def _flows(self) -> dict:
        return {}

    def terminal_phases(self, table: str, terminal: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Flows into the part's elements of ``table`` at ``terminal`` (0-based: a line's or
        switch's from end, a transformer's first winding): the whole network's rows, the phase
        currents ((k, 3) complex A, by slot A, B, C) and the complex power summed over the phases
        (VA); 0 for dead elements."""
        key = (table, terminal)
        if key not in self._flows:
            prep, f = self.prep, self.prep.flows
            global_rows = self.rows[table]
            current = np.zeros((len(global_rows), 3), complex)
            power = np.zeros(len(global_rows), complex)
            ends = np.flatnonzero((f.table == table) & (f.terminal == terminal) & (f.node >= 0)
                                  & (f.node < prep.nodes.n))
            if len(ends):
                i_end = prep.flow_matrix[ends] @ self.v
                # ends on one node add up (a delta winding's two ends meet on each phase)
                key_ = f.element[ends].astype(np.int64) * (prep.n + 1) + f.node[ends]
                keys, at = np.unique(key_, return_inverse=True)
                i_node = np.zeros(len(keys), complex)
                np.add.at(i_node, at, i_end)
                element, node = keys // (prep.n + 1), keys % (prep.n + 1)
                current[element, prep.nodes.slot[node]] = i_node
                np.add.at(power, element, self.v[node] * np.conj(i_node))
            self._flows[key] = (global_rows, current, power)
        return self._flows[key]

    @cached_property
    def result(self):
        """The part's result tables (a PowerFlowResult), made on first use."""
        from twin.grid.powerflow import tabulate

        return tabulate(self.prep, self.v, iterations=self.iterations, mismatch=self.mismatch,
                        load_scale=self.load_scale)


@dataclass
class _Part:
    net: Network  # the part's model, in the normal states
    rows: dict[str, np.ndarray]  # per table: the part's rows in the whole network's table
    state: bytes = b""
    scale: bytes = b""
    prep: object = None
    solution: PartSolution | None = None
    earlier: tuple | None = None  # (state, scale, prep, solution) of the state before: a study going back and forth

    def swap(self) -> None:
        """Make the earlier state the present one (and the present the earlier)."""
        now = (self.state, self.scale, self.prep, self.solution)
        self.state, self.scale, self.prep, self.solution = self.earlier
        self.earlier = now


@dataclass(frozen=True, eq=False)
class Solution:
    """The power flow of the whole network as its parts' solutions (see the module docstring).
    ``failed``: buses of parts that did not converge this time (their last solution is kept)."""

    net: Network
    parts: tuple[PartSolution, ...]
    failed: tuple[str, ...] = ()

    def _sum(self, key: str) -> float:
        return float(sum(p.sums[key] for p in self.parts))

    source_kw = property(lambda self: self._sum("source_kw"))
    source_kvar = property(lambda self: self._sum("source_kvar"))
    load_kw = property(lambda self: self._sum("load_kw"))
    load_kvar = property(lambda self: self._sum("load_kvar"))
    losses_kw = property(lambda self: self._sum("losses_kw"))
    losses_kvar = property(lambda self: self._sum("losses_kvar"))
    generation_kw = property(lambda self: self._sum("generation_kw"))
    generation_kvar = property(lambda self: self._sum("generation_kvar"))
    capacitor_kvar = property(lambda self: self._sum("capacitor_kvar"))

    @property
    def iterations(self) -> int:
        return max((p.iterations for p in self.parts), default=0)

    @property
    def max_mismatch(self) -> float:
        return max((p.mismatch for p in self.parts), default=0.0)

    @cached_property
    def _node_v(self) -> tuple[np.ndarray, np.ndarray]:
        """The whole network's (bus, slot) -> node map over the parts' node voltages joined."""
        of = np.full((len(self.net.bus), 3), -1, np.int64)
        chunks, offset = [], 0
        for p in self.parts:
            nodes = p.prep.nodes
            of[p.bus] = np.where(nodes.of >= 0, nodes.of + offset, -1)
            chunks.append(p.v[: nodes.n])
            offset += nodes.n
        return of, (np.concatenate(chunks) if chunks else np.zeros(0, complex))

    def bus_v(self) -> np.ndarray:
        """Complex volts per bus row and slot (phases A, B, C; legs 1, 2 on a split-phase bus) to
        neutral; 0 where dead, NaN where the bus has no such phase."""
        of, v = self._node_v
        present = slot_mask(self.net.bus["phases"])
        out = np.where(of >= 0, np.concatenate([v, [0.0]])[of], 0.0).astype(complex)
        out[~present] = np.nan
        return out

    def bus_v_pu(self) -> np.ndarray:
        """Per-unit voltage magnitude per bus row and slot (base: nominal phase-to-neutral, or
        the leg's on a split-phase bus); 0 where dead, NaN where the bus has no such phase."""
        return self._v_pu

    @cached_property
    def _v_pu(self) -> np.ndarray:
        bus = self.net.bus
        base = np.where(is_split(bus["phases"]), bus["v_nom_v"] / 2.0, bus["v_nom_v"] / SQRT3)
        return np.abs(self.bus_v()) / base[:, None]

    def terminal_phases(self, table: str, terminal: int = 0) -> tuple[np.ndarray, np.ndarray]:
        """Per row of the whole network's ``table``: the phase currents ((n, 3) complex A, slots
        A, B, C) and the complex power over the phases (VA) flowing in at ``terminal`` (0-based);
        0 for a dead element, NaN for one in no solved part (an open tie, a part without a source)."""
        n = len(self.net.table(table))
        current, power = np.full((n, 3), np.nan, complex), np.full(n, np.nan, complex)
        for p in self.parts:
            rows, i, s = p.terminal_phases(table, terminal)
            current[rows], power[rows] = i, s
        return current, power

    def terminal_flows(self, table: str, terminal: int = 0) -> tuple[np.ndarray, np.ndarray]:
        """Per row of ``table``: the largest phase current (A) and the apparent power (VA) in at
        ``terminal`` (see :meth:`terminal_phases`)."""
        current, power = self.terminal_phases(table, terminal)
        return np.fmax.reduce(np.abs(current), axis=1), np.abs(power)  # fmax: NaN only where all are

    @cached_property
    def voltages(self) -> pd.DataFrame:
        """One row per bus and present phase, as :class:`~twin.grid.powerflow.PowerFlowResult` has."""
        of, v = self._node_v
        bus = self.net.bus
        return voltage_table(bus.ids, bus["phases"], bus["v_nom_v"], of, v)

    @cached_property
    def branches(self) -> pd.DataFrame:
        """Per element, terminal and phase: current and power flowing in (energised elements)."""
        frames = [p.result.branches for p in self.parts]
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()

    @cached_property
    def element_losses(self) -> pd.DataFrame:
        frames = [p.result.element_losses for p in self.parts]
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


class PartSolver:
    """The parts of a network and their prepared networks, kept between solves."""

    def __init__(self, net: Network, *, tol: float = 1e-8, max_iter: int = 100) -> None:
        self.net, self.tol, self.max_iter = net, tol, max_iter
        self._normal_open = np.asarray(net.switch["normal_open"], bool)
        self._layouts: dict[bytes, list[_Part]] = {}  # by which ties are open: the few seen last
        self._parts: dict[bytes, _Part] = {}  # by the rows of its buses
        self.prepared = 0  # parts prepared anew (a count for benchmarks)
        self.updated = 0  # parts whose taps or capacitor banks changed: Y updated, refactored
        self.solved = 0  # parts iterated

    def _layout_for(self, switch_open: np.ndarray) -> list[_Part]:
        """The parts for the present states of the normally open points (made once per layout)."""
        from twin.grid.subnetwork import Split, parts

        apart = self._normal_open & np.asarray(switch_open, bool)  # open ties keep parts apart
        key = apart.tobytes()
        if key in self._layouts:
            return self._layouts[key]
        label = parts(self.net, apart)
        order = np.argsort(label, kind="stable")
        bounds = np.searchsorted(label[order], np.arange(label.max() + 2))
        wanted = [(k, order[bounds[k]:bounds[k + 1]].tobytes()) for k in range(len(bounds) - 1)]
        missing = [(k, b) for k, b in wanted if b not in self._parts]
        if missing:
            split = Split(self.net, label)
            for k, b in missing:
                rows = split.rows(k)
                self._parts[b] = _Part(split.network(k, rows), rows)
        layout = [self._parts[b] for _, b in wanted if len(self._parts[b].net.source)]  # no source: dead
        if len(self._layouts) >= 8:  # a study tries a few ties at a time: keep the last few layouts
            self._layouts.pop(next(iter(self._layouts)))
        self._layouts[key] = layout
        return layout

    def solve(self, switch_open: np.ndarray, tap_pu: np.ndarray | None = None, cap_closed: np.ndarray | None = None,
              load_scale: float | np.ndarray = 1.0) -> Solution:
        """The power flow for these switch states (bool per switch row), taps (the transformer
        table's ``tap_pu``), capacitor states (bool per capacitor row) and load multipliers (scalar
        or per load row); parts whose state and loads did not change keep their solution."""
        from twin.grid.powerflow import prepare, summarise
        from twin.grid.powerflow.control import update_prepared

        net = self.net
        tap_pu = np.asarray(net.transformer["tap_pu"] if tap_pu is None else tap_pu, float)
        cap_closed = np.asarray(net.capacitor["closed"] if cap_closed is None else cap_closed, bool)
        switch_open = np.asarray(switch_open, bool)
        scale = np.asarray(load_scale, float)
        failed, out = [], []
        for part in self._layout_for(switch_open):
            r = part.rows
            sw_open, taps, closed = switch_open[r["switch"]], tap_pu[r["transformer"]], cap_closed[r["capacitor"]]
            state = sw_open.tobytes() + taps.tobytes() + closed.tobytes()
            part_scale = scale if scale.ndim == 0 else scale[r["load"]]
            scale_key = np.asarray(part_scale).tobytes()
            if state != part.state and part.earlier is not None and part.earlier[0] == state:
                part.swap()  # back to the state before (a study comparing before and after a switching)
            elif state != part.state and part.prep is not None:
                part.earlier = (part.state, part.scale, part.prep, part.solution)
            if part.solution is not None and state == part.state and scale_key == part.scale:
                out.append(part.solution)
                continue
            start = None
            if state != part.state or part.prep is None:
                pn = part.net
                net_now = pn.replace(switch=pn.switch.with_columns(open=sw_open),
                                     transformer=pn.transformer.with_columns(tap_pu=taps),
                                     capacitor=pn.capacitor.with_columns(closed=closed))
                if part.prep is not None and np.array_equal(sw_open, part.prep.net.switch["open"]):
                    # only taps or banks moved: Y updated in place of those elements, refactored
                    # (the earlier state shares that prepared network: it is dropped)
                    part.earlier = None
                    old = part.prep.net
                    part.prep = update_prepared(part.prep, net_now, np.asarray(old.transformer["tap_pu"], float), taps,
                                                np.asarray(old.capacitor["closed"], bool), closed)
                    self.updated += 1
                else:
                    part.prep = prepare(net_now)
                    self.prepared += 1
                part.state = state
            elif part.solution is not None:
                start = part.solution.v  # the same prepared network: start from its last solution
            try:
                v, iterations, mismatch = part.prep.solve_voltages(load_scale=part_scale, tol=self.tol,
                                                                   max_iter=self.max_iter, start=start)
            except NotConverged as err:  # the part keeps its last solution (if it has one)
                failed.append(err.worst_bus or str(part.net.bus.ids[0]))
                part.scale = b""
                if part.solution is not None:
                    out.append(part.solution)
                continue
            self.solved += 1
            part.scale = scale_key
            part.solution = PartSolution(bus=r["bus"], rows=r, prep=part.prep, v=v, iterations=iterations, mismatch=mismatch,
                                         sums=summarise(part.prep, v, load_scale=part_scale), load_scale=part_scale)
            out.append(part.solution)
        return Solution(net, tuple(out), tuple(failed))
