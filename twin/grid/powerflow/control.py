"""The control loop around the power flow: regulator taps and switched capacitors, time-free.

:func:`solve_controlled` settles the network's automatic controls as OpenDSS's *static* control
mode does: solve, let every enabled control sample the solution, carry out the pending actions
with the shortest delay, re-solve, and repeat until no control wants to act. Delays order the
actions (a regulator at 15 s acts before a capacitor at 100 s) but no time passes.

**Regulators** (``regulator`` table, each on one winding of a ``transformer``). The control
voltage is the regulated winding's voltage on the monitored phase (``phase``: a node slot; the
winding's own two ends, so line-to-line for a delta winding, oriented from the monitored
conductor) over ``pt_ratio``, less the line-drop compensation::

    V_c = V_winding / pt_ratio - (ldc_r_v + j ldc_x_v) * I_load / ct_primary_a

with ``I_load`` the current out of the winding on that conductor (phasors, volts on the 120 V
base). When ``|V_c|`` is outside ``v_set_v +- band_v / 2`` the boost needed,
``(v_set_v - |V_c|) * pt_ratio / V_base`` per unit of the winding's base voltage, rounded to
whole steps of ``(tap_max_pu - tap_min_pu) / n_taps``, is the pending change; the control then
moves 70 % of it, at least one step and at most :data:`MAX_TAP_CHANGE` steps, clamped to the
limits (OpenDSS ``AtLeastOneTap``). A three-phase (ganged) unit follows its monitored phase; the
single-phase units of a bank each have their own control and act independently (and monitor
their own conductor). As in OpenDSS the current is the terminal's: a line current, also for a
delta winding.

**Capacitors** (``cap_control`` table): the monitored element's terminal (``element``,
``terminal``) is sampled; voltage (PT secondary volts, close below ``on_value``, open above
``off_value``), kvar (reactive power into the element at that terminal, all phases, in var;
close above ``on_value``, open below ``off_value``), current (CT secondary amperes of the
monitored conductor; close above, open below) and power factor (settings -1..1, leading
negative, as OpenDSS). With ``voltage_override`` a kvar, current or pf control also closes below
``v_min_v`` and opens above ``v_max_v`` (PT secondary volts of the monitored conductor). Closing
waits ``delay_s``, opening ``delay_off_s``. A time control (``kind`` time) holds the bank closed
from ``on_value`` to ``off_value`` hours of the day (past midnight when ``off_value`` is the
smaller) at the ``hour`` the solve is for, and is left as it is when no hour is given; that is
OpenDSS's rule except after midnight in a window through midnight, where OpenDSS leaves an open
bank open until the next on time and a time-of-day relay here is closed. Banks are one step (the ``capacitor`` table has ``closed`` only).

Taps and capacitor states change Y, not the topology: each change is applied to the prepared
network as an update of the changed primitives (a transformer's winding ends scale by
``tap_old / tap_new``; a capacitor adds or removes its susceptance) and Y is refactored; the next
solve starts from the last voltages. The result is exactly :func:`~twin.grid.powerflow.solve` of
the network with the settled taps and states (``ControlResult.network``).

Hunting (a state that comes back) raises :class:`ControlNotSettled`, as does running out of
control iterations; both carry the last result.

:class:`ControlSampler` is one control iteration's sampling on its own (where each control
samples, found once, then what each wants on given voltages and currents): the world's
controllers (``twin.world.controls``) run it after each of the world's solves, in simulated time.

>>> from twin.grid.opendss import load_opendss
>>> r = solve_controlled(load_opendss("../shared/feeders/13bus/ieee13nodeckt.dss"))  # doctest: +SKIP
>>> r.taps[["regulator", "tap_pu", "tap"]], r.control_iterations  # doctest: +SKIP
(  regulator   tap_pu  tap
0      reg1  1.05625    9
1      reg2  1.03750    6
2      reg3  1.05625    9, 3)
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd
import scipy.sparse as sp

from twin.errors import TwinError
from twin.grid.network import Network
from twin.grid.powerflow.factor import Factor
from twin.grid.powerflow.nodes import SQRT3, slot_mask
from twin.grid.powerflow.results import PowerFlowResult
from twin.grid.powerflow.solver import PreparedNetwork, prepare
from twin.grid.powerflow.transformers import PPM_ANTIFLOAT
from twin.grid.powerflow.ybus import assemble, capacitor_entries
from twin.grid.schema import CapControlKind, Conn, TransformerKind
from twin.grid.topology import build_topology

__all__ = ["MAX_CONTROL_ITER", "MAX_TAP_CHANGE", "ControlAction", "ControlNotSettled", "ControlResult",
           "ControlSampler", "solve_controlled", "time_of_day_closed"]

MAX_TAP_CHANGE = 16
"""Most steps a regulator moves in one control iteration (OpenDSS ``MaxTapChange``)."""

MAX_CONTROL_ITER = 30
"""Control iterations (solves) before :class:`ControlNotSettled` is raised."""

STATIC_SHARE = 0.7
"""Share of the pending tap change a static control iteration makes (OpenDSS ``AtLeastOneTap``)."""


@dataclass(frozen=True)
class ControlResult:
    """The power flow after the controls settled.

    ``taps``: one row per regulator: ``regulator, transformer, winding, tap_pu, tap`` (steps from
    the middle of the range, OpenDSS's ``TapNum``), ``v_control_v`` (its last control voltage on
    the 120 V base, NaN when not sampled). ``capacitors``: ``capacitor, closed``.
    ``control_iterations``: solves done (1: nothing acted). ``network``: the input with the settled
    taps and capacitor states.
    """

    result: PowerFlowResult
    taps: pd.DataFrame
    capacitors: pd.DataFrame
    control_iterations: int
    iterations: int  # power-flow iterations over all control iterations
    network: Network = field(repr=False)


class ControlNotSettled(TwinError):
    """The controls did not settle: ``iterations`` done, ``hunting`` True when a state came back,
    ``elements`` the regulators and capacitor controls that acted last, ``last`` the last
    :class:`ControlResult`."""

    def __init__(self, *, iterations: int, hunting: bool, elements: tuple[str, ...], last: ControlResult) -> None:
        self.iterations = iterations
        self.hunting = hunting
        self.elements = elements
        self.last = last
        what = "hunt between states" if hunting else f"still act after {iterations} control iterations"
        super().__init__(f"controls {what}: {', '.join(elements)}")


def solve_controlled(net: Network, *, load_scale: float | np.ndarray = 1.0, tol: float = 1e-8, max_iter: int = 100,
                     max_control_iter: int = MAX_CONTROL_ITER, max_tap_change: int = MAX_TAP_CHANGE,
                     hour: float | None = None) -> ControlResult:
    """Power flow of ``net`` with its regulators and capacitor controls settled (static mode).

    Starts from the taps and capacitor states in ``net`` (not changed); loads scaled by
    ``load_scale`` (one, or one per load row). ``tol``/``max_iter``: each power flow's;
    ``max_control_iter``: solves before :class:`ControlNotSettled`; ``hour``: the time of day
    (hours, 0 to 24) for time-of-day capacitor controls (None: they do not act).
    """
    # the package's tabulation; imported here because the package imports this module
    from twin.grid.powerflow import result_of

    taps = np.array(net.transformer["tap_pu"], dtype=float)
    closed = np.array(net.capacitor["closed"], dtype=bool)
    work = _with_state(net, taps, closed)
    prep = prepare(work)
    sampler = ControlSampler(prep, hour=hour)
    seen = {_state(taps, closed)}
    v_node, acted, total = None, (), 0

    def tabulate(iteration: int, last_iterations: int) -> ControlResult:
        result = result_of(prep, load_scale=load_scale, tol=tol, max_iter=max_iter, start=_Voltages(v_node))
        result = replace(result, iterations=last_iterations)  # the solve's own count, not the tabulation's
        return _settled(work, result, sampler.regulators, taps, closed, iteration, total)

    for iteration in range(1, max_control_iter + 1):
        v_node, iterations, _ = prep.solve_voltages(load_scale=load_scale, tol=tol, max_iter=max_iter, start=v_node)
        total += iterations
        actions = sampler.actions(prep.net, v_node, prep.flow_matrix @ v_node, taps, closed,
                                  max_tap_change=max_tap_change)
        if not actions:
            return tabulate(iteration, iterations)
        first = min(a.delay_s for a in actions)  # static mode: only the nearest actions happen
        now = [a for a in actions if a.delay_s == first]
        new_taps, new_closed = taps.copy(), closed.copy()
        for a in now:
            if a.tap is not None:
                new_taps[a.row, a.winding] = a.tap
            else:
                new_closed[a.row] = a.close
        acted = tuple(a.name for a in now)
        if _state(new_taps, new_closed) in seen:  # hunting: report the state just solved
            raise ControlNotSettled(iterations=iteration, hunting=True, elements=acted,
                                    last=tabulate(iteration, iterations))
        seen.add(_state(new_taps, new_closed))
        old_taps, old_closed, taps, closed = taps, closed, new_taps, new_closed
        work = _with_state(work, taps, closed)
        prep = update_prepared(prep, work, old_taps, taps, old_closed, closed)
    raise ControlNotSettled(iterations=max_control_iter, hunting=False, elements=acted,
                            last=tabulate(max_control_iter, iterations))


@dataclass(frozen=True)
class _Voltages:
    """Where :func:`result_of` starts: it reads only ``node_v``."""

    node_v: np.ndarray


@dataclass(frozen=True)
class ControlAction:
    """What one control wants after a solve: ``name`` ('regulator.<id>' or 'cap_control.<id>'),
    after ``delay_s``; a regulator the new ``tap`` (per unit) of winding ``winding`` (0-based) of
    transformer ``row``, a capacitor control ``close`` (True) or open capacitor ``row``."""

    name: str
    delay_s: float
    row: int  # transformer row (tap) or capacitor row
    winding: int = 0
    tap: float | None = None
    close: bool = False


class ControlSampler:
    """Every enabled regulator and capacitor control of a prepared network, where each one
    samples (found once: tap and capacitor changes do not move them), and their sampling: one
    control iteration of :func:`solve_controlled` on given voltages and currents.

    ``prep`` needs only ``net``, ``nodes`` and ``flows``: the world samples a small network of the
    monitored elements alone, on voltages it takes from its own solution. ``hour``: the time of
    day for time controls (None: they do not act).
    """

    def __init__(self, prep: PreparedNetwork, *, hour: float | None = None) -> None:
        self.regulators, self.capacitors = _Regulators(prep), _CapControls(prep, hour)

    def actions(self, net: Network, v_node: np.ndarray, i_end: np.ndarray, taps: np.ndarray, closed: np.ndarray, *,
                max_tap_change: int = MAX_TAP_CHANGE) -> list[ControlAction]:
        """What the controls want on node voltages ``v_node`` (complex V) and conductor-end
        currents ``i_end`` (A, into the elements: ``flow_matrix @ v_node``) with the taps
        ``taps`` (per transformer row of ``net`` and winding) and capacitor states ``closed``: a
        regulator's move is its static one (70 % of the pending change, at least one step).
        Each regulator's control voltage (120 V base) is left in :attr:`v_control_v`."""
        v = np.concatenate([v_node, [0.0]])  # index -1 (ground) reads 0
        return (self.regulators.sample(net, v, i_end, taps, max_tap_change)
                + self.capacitors.sample(v, i_end, closed))

    @property
    def v_control_v(self) -> np.ndarray:
        """Each regulator's control voltage at the last sampling (120 V base; NaN: not sampled)."""
        return self.regulators.last_v


def _with_state(net: Network, taps: np.ndarray, closed: np.ndarray) -> Network:
    return net.replace(transformer=net.transformer.with_columns(tap_pu=taps.copy()),
                       capacitor=net.capacitor.with_columns(closed=closed.copy()))


def _state(taps: np.ndarray, closed: np.ndarray) -> bytes:
    return taps.tobytes() + closed.tobytes()


def _settled(work: Network, result: PowerFlowResult, regs: _Regulators, taps: np.ndarray, closed: np.ndarray,
             iterations: int, total: int) -> ControlResult:
    """The result tables (``result`` solved for ``work``'s taps and states)."""
    xf, rg = work.transformer, work.regulator
    known = regs.k >= 0  # a regulator on an unknown transformer (the validator reports it) has no tap
    k, w = np.maximum(regs.k, 0), regs.w
    tap = np.where(known, taps[k, w], np.nan) if len(xf) else np.full(len(rg), np.nan)
    lo, hi, n = (np.where(known, xf[c][k], np.nan) if len(xf) else np.full(len(rg), np.nan)
                 for c in ("tap_min_pu", "tap_max_pu", "n_taps"))
    steps = np.round((tap - (hi + lo) / 2.0) / ((hi - lo) / np.maximum(n, 1)))
    table = pd.DataFrame({
        "regulator": rg.ids, "transformer": rg["transformer"], "winding": w + 1, "tap_pu": tap,
        "tap": pd.array(np.where(np.isfinite(steps), steps, 0).astype(np.int64), dtype="Int64"),
        "v_control_v": regs.last_v.copy(),
    })
    table.loc[~np.isfinite(steps), "tap"] = pd.NA
    caps = pd.DataFrame({"capacitor": work.capacitor.ids, "closed": closed.copy()})
    return ControlResult(result=result, taps=table, capacitors=caps, control_iterations=iterations,
                         iterations=total, network=work)


def _terminal_ends(prep: PreparedNetwork, table: str, row: int, terminal: int) -> np.ndarray:
    """Conductor ends (flow rows) of one element's terminal (0-based), in end order."""
    f = prep.flows
    return np.flatnonzero((f.table == table) & (f.element == row) & (f.terminal == terminal))


class _Regulators:
    """The regulators: settings, where each one samples (fixed by the network's layout, which tap
    and capacitor changes keep), and the sampling."""

    def __init__(self, prep: PreparedNetwork) -> None:
        net = prep.net
        rg, xf = net.regulator, net.transformer
        self.ids, self.rg = rg.ids, rg
        self.k = np.array([xf.get(t) if xf.get(t) is not None else -1 for t in rg["transformer"]], dtype=np.int64)
        self.w = rg["winding"].astype(np.int64) - 1
        self.v_base = np.array([_winding_base(xf, k)[w] if k >= 0 else np.nan for k, w in zip(self.k, self.w)])
        self.last_v = np.full(len(rg), np.nan)
        self.at = [_winding_tap(prep, int(k), int(w), int(slot)) if on and k >= 0 else None
                   for k, w, slot, on in zip(self.k, self.w, rg["phase"], rg["enabled"])]

    def sample(self, net: Network, v: np.ndarray, i_end: np.ndarray, taps: np.ndarray,
               max_tap_change: int) -> list[ControlAction]:
        rg, xf = self.rg, net.transformer
        out = []
        for j, at in enumerate(self.at):
            if at is None:
                continue
            node, other, ends = at
            k, w = int(self.k[j]), int(self.w[j])
            pt, ct = rg["pt_ratio"][j], rg["ct_primary_a"][j]
            # the current into the winding is minus the load current: V - Z I_load = V + Z I_into
            v_c = (v[node] - v[other]) / pt + complex(rg["ldc_r_v"][j], rg["ldc_x_v"][j]) * i_end[ends].sum() / ct
            actual = abs(v_c)
            self.last_v[j] = actual
            if abs(rg["v_set_v"][j] - actual) <= rg["band_v"][j] / 2.0:
                continue
            lo, hi, n = xf["tap_min_pu"][k], xf["tap_max_pu"][k], int(xf["n_taps"][k])
            if n <= 0:
                continue
            step = (hi - lo) / n
            boost = (rg["v_set_v"][j] - actual) * pt / self.v_base[j]  # per unit of the winding's base
            pending = np.round(boost / step) * step
            now = taps[k, w]
            if pending == 0.0 or (pending > 0 and now >= hi) or (pending < 0 and now <= lo):
                continue
            moves = min(max(int(STATIC_SHARE * abs(pending) / step), 1), max_tap_change)
            new = min(max(now + np.sign(pending) * moves * step, lo), hi)
            out.append(ControlAction(f"regulator.{self.ids[j]}", float(rg["delay_s"][j]), k, w, tap=float(new)))
        return out


def _winding_tap(prep: PreparedNetwork, k: int, w: int, slot: int) -> tuple[int, int, np.ndarray] | None:
    """Where a regulator samples winding ``w`` of transformer ``k`` on ``slot``: the monitored
    node, the winding's other end (-1: ground) and the flow ends into the winding on that node;
    None when not energised."""
    net = prep.net
    bus = net.bus.get(net.transformer["bus"][k, w])
    node = prep.nodes.of[bus, slot] if bus is not None else -1
    ends = _terminal_ends(prep, "transformer", k, w)
    if len(ends) % 2 or not len(ends):
        return None
    at = prep.flows.node[ends]
    pairs = at.reshape(-1, 2)  # each phase's winding: (end 1, end 2)
    if len(pairs) == 1 and node not in pairs[0]:  # a single-phase unit monitors its own conductor
        node = pairs[0, 0] if pairs[0, 0] >= 0 else pairs[0, 1]
    if node < 0:
        return None
    # the winding of that phase starts there (a delta's other winding on the node ends there);
    # a single-phase winding named the other way round (799.3.2) is read from its end 2
    hit = np.concatenate([np.flatnonzero(pairs[:, 0] == node), np.flatnonzero(pairs[:, 1] == node)])
    if not len(hit):
        return None
    a, b = pairs[hit[0]]
    return int(node), int(b if a == node else a), ends[at == node]


class _CapControls:
    """The enabled capacitor controls: settings, where each samples, sampling; time controls
    only when the solve is for an ``hour`` of the day."""

    def __init__(self, prep: PreparedNetwork, hour: float | None = None) -> None:
        net = prep.net
        cc, cap = net.cap_control, net.capacitor
        self.cc, self.ids = cc, cc.ids
        self.cap = np.array([cap.get(c) if cap.get(c) is not None else -1 for c in cc["capacitor"]], dtype=np.int64)
        self.q_total = np.array([cap["q_rated_var"][c].sum() if c >= 0 else 0.0 for c in self.cap])
        delta = np.array([cap["conn"][c] == Conn.delta if c >= 0 else False for c in self.cap], bool)
        self.at = []
        for j in range(len(cc)):
            term = None
            if cc["enabled"][j] and self.cap[j] >= 0 and cc["kind"][j] != CapControlKind.time:
                term = _monitored(prep, str(cc["element"][j]), int(cc["terminal"][j]) - 1, int(cc["phase"][j]),
                                  bool(delta[j]))
            self.at.append(term)
        self.timed = (cc["enabled"] & (self.cap >= 0) & (cc["kind"] == CapControlKind.time) if hour is not None
                      else np.zeros(len(cc), bool))
        self.hour = hour

    def sample(self, v: np.ndarray, i_end: np.ndarray, closed: np.ndarray) -> list[ControlAction]:
        cc, out = self.cc, []
        for j, at in enumerate(self.at):
            c = int(self.cap[j])
            if self.timed[j]:
                change = time_of_day_closed(cc["on_value"][j], cc["off_value"][j], float(self.hour))
                if change != bool(closed[c]):
                    delay = cc["delay_s"][j] if change else cc["delay_off_s"][j]
                    out.append(ControlAction(f"cap_control.{self.ids[j]}", float(delay), c, close=change))
                continue
            if at is None:
                continue
            ends, nodes, node, other = at
            was = bool(closed[c])
            volts = abs(v[node] - v[other]) / cc["pt_ratio"][j]
            kind, on, off = cc["kind"][j], cc["on_value"][j], cc["off_value"][j]
            change = None
            if cc["voltage_override"][j] and kind != CapControlKind.voltage:
                change = True if (not was and volts < cc["v_min_v"][j]) else (
                    False if (was and volts > cc["v_max_v"][j]) else None)
            if change is None:
                change = self._decide(j, kind, on, off, was, volts, v, i_end, ends, nodes, node)
            if change is None or change == was:
                continue
            delay = cc["delay_s"][j] if change else cc["delay_off_s"][j]
            out.append(ControlAction(f"cap_control.{self.ids[j]}", float(delay), c, close=change))
        return out

    def _decide(self, j: int, kind: int, on: float, off: float, was: bool, volts: float, v: np.ndarray,
                i_end: np.ndarray, ends: np.ndarray, nodes: np.ndarray, node: int) -> bool | None:
        """Close (True), open (False) or nothing (None), by the control's kind."""
        if kind == CapControlKind.voltage:
            return True if (not was and volts < on) else False if (was and volts > off) else None
        if kind == CapControlKind.current:
            amps = abs(i_end[ends[nodes == node]].sum()) / self.cc["ct_ratio"][j]
            return True if (not was and amps > on) else False if (was and amps < off) else None
        s = complex((v[nodes] * np.conj(i_end[ends])).sum())  # into the element at the terminal, all phases
        if kind == CapControlKind.kvar:
            return True if (not was and s.imag > on) else False if (was and s.imag < off) else None
        if kind == CapControlKind.pf:  # settings -1..1 on OpenDSS's 0..2 scale; close with at least half the bank's kvar
            pf = _pf_1to2(s)
            pf_on, pf_off = (x if x > 0 else 2.0 + x for x in (on, off))
            if not was and pf < pf_on and s.imag > 0.5 * self.q_total[j]:
                return True
            return False if (was and pf > pf_off) else None
        return None


def time_of_day_closed(on_h: float, off_h: float, hour: float) -> bool:
    """Whether a time control holds its bank closed at ``hour`` (of the day, wrapped to 0-24 h):
    from ``on_h`` up to ``off_h``, through midnight when ``off_h`` is not after ``on_h``.

    >>> time_of_day_closed(7.0, 19.0, 12.0), time_of_day_closed(7.0, 19.0, 19.0)
    (True, False)
    >>> time_of_day_closed(22.0, 6.0, 23.5), time_of_day_closed(22.0, 6.0, 3.0), time_of_day_closed(22.0, 6.0, 12.0)
    (True, True, False)
    """
    h = hour % 24.0
    if off_h > on_h:
        return bool(on_h <= h < off_h)
    return bool(h >= on_h or h < off_h)


def _pf_1to2(s: complex) -> float:
    """Power factor on OpenDSS's 0..2 scale: lagging 0..1, leading 1..2."""
    pf = abs(s.real) / abs(s) if abs(s) else 1.0
    return 2.0 - pf if s.imag < 0 else pf


def _monitored(prep: PreparedNetwork, element: str, terminal: int, slot: int,
               delta: bool) -> tuple[np.ndarray, np.ndarray, int, int] | None:
    """Where a capacitor control samples ('table.id', 0-based terminal): the terminal's ends on
    nodes and their nodes, the monitored node on ``slot``, and the node its voltage is measured
    from (ground, or the terminal's next conductor for a delta capacitor); None if not energised."""
    table, _, id_ = element.partition(".")
    row = prep.net.table(table).get(id_) if table in ("line", "switch", "transformer") else None
    if row is None:
        return None
    ends = _terminal_ends(prep, table, row, terminal)
    nodes = prep.flows.node[ends]
    keep = (nodes >= 0) & (nodes < prep.nodes.n)
    ends, nodes = ends[keep], nodes[keep]
    hit = np.flatnonzero(prep.nodes.slot[nodes] == slot)
    if not len(hit):
        return None
    node = int(nodes[hit[0]])
    distinct = list(dict.fromkeys(nodes.tolist()))
    other = distinct[(distinct.index(node) + 1) % len(distinct)] if delta and len(distinct) > 1 else -1
    return ends, nodes, node, int(other)


def _winding_base(xf, k: int) -> np.ndarray:
    """Base voltage of each winding (across it) as the transformer model scales it."""
    v = np.asarray(xf["v_rated_v"][k], float)
    if xf["kind"][k] != TransformerKind.three_phase:
        return v
    nph = int(slot_mask(xf["phases"][k:k + 1, 0])[0].sum())
    return np.where((xf["conn"][k] != Conn.delta) & (nph > 1), v / SQRT3, v)


def update_prepared(prep: PreparedNetwork, net: Network, old_taps: np.ndarray, taps: np.ndarray,
            old_closed: np.ndarray, closed: np.ndarray) -> PreparedNetwork:
    """The prepared network with changed taps and capacitor states, Y updated and refactored.

    A transformer's primitive is ``M' Y1 M`` with ``M`` one over each winding's turns, plus a
    tap-free anti-float susceptance on each end: a tap change scales the entries of that
    winding's ends by ``tap_old / tap_new`` (once per end). The flow matrix gets the same values.
    """
    f = prep.flows
    values = f.values.copy()
    n = prep.n
    xf = net.transformer
    for k in np.flatnonzero((old_taps != taps).any(axis=1)):
        scale = old_taps[k] / taps[k]
        ends = np.flatnonzero((f.table == "transformer") & (f.element == k))
        trip = np.flatnonzero(np.isin(f.ends, ends))
        winding_of = {int(node): int(t) for node, t in zip(f.node[ends], f.terminal[ends]) if node >= 0}
        if len({(node, t) for node, t in zip(f.node[ends], f.terminal[ends]) if node >= 0}) != len(winding_of):
            return prepare(net)
        s_row = scale[f.terminal[f.ends[trip]]]
        s_col = scale[[winding_of[int(c)] for c in f.cols[trip]]]
        diagonal = f.node[f.ends[trip]] == f.cols[trip]
        nph = 1 if xf["kind"][k] != TransformerKind.three_phase else int(slot_mask(xf["phases"][k:k + 1, 0])[0].sum())
        base = np.nan_to_num(_winding_base(xf, k), nan=1.0)  # an absent third winding has no ends
        ppm = -1j * PPM_ANTIFLOAT * xf["s_rated_va"][k, 0] / nph / base ** 2 / 2.0
        d = np.where(diagonal, ppm[f.terminal[f.ends[trip]]], 0.0)
        values[trip] = (f.values[trip] - d) * s_row * s_col + d
    rows = f.node[f.ends]
    changed = np.flatnonzero((values != f.values) & (rows >= 0))
    d_branch = sp.csc_matrix(sp.coo_matrix((values[changed] - f.values[changed], (rows[changed], f.cols[changed])),
                                           shape=(n, n)))
    d_cap = sp.csc_matrix((n, n), dtype=complex)
    switched = np.flatnonzero(old_closed != closed)
    if len(switched):
        live = build_topology(net).energised
        cap = net.capacitor
        on = cap.take(switched).with_columns(closed=np.ones(len(switched), bool))
        sign = np.where(closed[switched], 1.0, -1.0)
        for s, c in zip(sign, range(len(switched))):
            one = net.replace(capacitor=on.take([c]))
            d_cap = d_cap + s * assemble([capacitor_entries(one, prep.nodes, live)], n)
    y = sp.csc_matrix(prep.y + d_branch + d_cap)
    return replace(prep, net=net, y=y, y_branch=sp.csc_matrix(prep.y_branch + d_branch),
                   y_capacitor=sp.csc_matrix(prep.y_capacitor + d_cap), lu=Factor(y),
                   flows=replace(f, values=values),
                   flow_matrix=sp.csr_matrix((values, (f.ends, f.cols)), shape=prep.flow_matrix.shape))
