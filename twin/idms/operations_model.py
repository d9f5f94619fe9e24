"""The network operations model: the connectivity the IDMS believes, and who it believes has power.

The IDMS never sees the grid; it believes. Every switching device (a ``switch`` row of the model:
breakers, reclosers, sectionalisers, fuses, switches, disconnects) has a believed state, open or
closed, and where that belief came from (:class:`Source`): SCADA telemetry, a crew's report of a
manual device, the dispatcher's manual entry, or the model itself (the ``open`` column, at start).
The latest report wins whatever its source: a crew's "fuse F12 found open" overrides SCADA's last
word, and a fresh SCADA status overrides a manual entry; a report older than the belief it would
replace (a late sequence-of-events record) is logged and set aside. Every report is kept in
:attr:`OperationsModel.log`.

Energisation follows each change at the cost of the section it touches, not the network (see
:mod:`twin.grid.energisation`): the topology it works on has every normally closed device closed,
so opening a device and closing it again update one depth-first range each (a storm's trips,
fuses and crews' switching); closing a tie, or changing a device on a loop, rebuilds it (tens of
milliseconds on a 100k-customer territory). Feeders are those of the normal configuration, named by their head breaker (a
customer picked up over a tie still belongs to its own feeder).

>>> from twin.grid.network import Network
>>> model = OperationsModel(Network.empty("empty"))
>>> model.de_energised_customers().tolist()
[]
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from twin.errors import ModelError
from twin.grid.energisation import cover_of, customers_in, incremental_switches, live_buses, switch_ranges
from twin.grid.network import Network
from twin.grid.topology import Topology, build_topology, parse_ref

__all__ = ["Change", "FeederCount", "OperationsModel", "Report", "Source"]

_REF_TABLES = frozenset({"bus", "line", "switch", "transformer", "load", "capacitor", "generator", "source",
                         "service_point"})


class Source(str, enum.Enum):
    """Where a believed device state came from."""

    model = "model"  # the network model's state when the IDMS started
    scada = "scada"  # a telemetered status
    crew = "crew"  # a crew's report of a device in the field (manual devices, fuses)
    manual = "manual"  # the dispatcher's entry by hand


@dataclass(frozen=True)
class Report:
    """One report of a device's state, as logged: ``accepted`` is False for a report older than the
    belief it would have replaced (set aside, not applied)."""

    device: str
    open: bool
    source: Source
    time_s: float
    accepted: bool
    was_open: bool  # the belief before the report
    was_source: Source


@dataclass(frozen=True)
class Change:
    """A change of belief, given to every listener: the device, its new state and source, and the
    customers (service point rows) who lost and regained power because of it, as the IDMS sees it."""

    device: str
    open: bool
    source: Source
    time_s: float
    lost: np.ndarray
    regained: np.ndarray
    cause: str = ""  # as the reporter gave it: ``protective`` (an uncommanded trip), ``commanded``...


@dataclass(frozen=True)
class FeederCount:
    """A feeder's customers: all of them (normal configuration), and how many the IDMS believes are out."""

    customers: int
    out: int

    @property
    def energised(self) -> int:
        return self.customers - self.out


class OperationsModel:
    """The IDMS's copy of the network and its belief of every switching device's state.

    ``net`` is the model as the IDMS holds it; its ``open`` column is the belief at start (source
    ``model``, time ``-inf``). :meth:`apply` takes every report; the queries answer from the
    believed states. Listeners (:meth:`subscribe`) hear every change of belief as a :class:`Change`.
    """

    def __init__(self, net: Network) -> None:
        self.net = net
        sw = net.switch
        self.open = np.array(sw["open"], dtype=bool)
        """Believed state per switch row (True: open)."""
        self.source = np.empty(len(sw), dtype=object)
        """Per switch row: the :class:`Source` of the belief."""
        self.source.fill(Source.model)
        self.since_s = np.full(len(sw), -np.inf)
        """Per switch row: the time (s) of the report the belief rests on."""
        self.log: list[Report] = []
        self.rebuilds = 0
        """How many times the believed topology was rebuilt whole (the rest were range updates)."""
        self._listeners: list[Callable[[Change], None]] = []
        self._line_bus: np.ndarray | None = None  # from-bus row per line, made on first use
        self._switch_index = sw._lookup()
        self._sp_bus = net.bus.index(net.service_point["bus"]) if len(net.service_point) else np.empty(0, np.int64)
        self.normal = build_topology(net, normal=True)
        """The topology of the normal configuration: feeders are its parts."""
        feeders = self.normal.feeder[self._sp_bus].astype(str) if len(self._sp_bus) else np.empty(0, str)
        self._feeder_names, self._customer_feeder = np.unique(feeders, return_inverse=True)
        self._rebase()

    # -- reports ----------------------------------------------------------------------------------

    def apply(self, device: str, open_: bool, source: Source | str, time_s: float, *, cause: str = "") -> Change | None:
        """Take a report that ``device`` (a switch id or ``"switch.<id>"``) is open (``open_``) or
        closed, from ``source``, as of ``time_s`` (s); ``cause`` is passed on to the listeners.
        Returns the :class:`Change` when the belief changed state (also given to the listeners),
        else None."""
        row = self._row(device)
        source = Source(source)
        open_ = bool(open_)
        was_open, was_source = bool(self.open[row]), Source(self.source[row])
        accepted = time_s >= self.since_s[row]
        name = str(self.net.switch.ids[row])
        self.log.append(Report(name, open_, source, float(time_s), bool(accepted), was_open, was_source))
        if not accepted:
            return None
        self.source[row], self.since_s[row] = source, float(time_s)
        if open_ == was_open:
            return None
        self.open[row] = open_
        if (open_ and self._simple[row] and not self._cut[row]) or (not open_ and self._cut[row]):
            inside, was = self._shift(row, +1 if open_ else -1)  # only its own range can change
        else:
            inside, was = np.arange(len(self.customer_live)), self.customer_live.copy()
            self._rebase()
        now = self.customer_live[inside]
        change = Change(name, open_, source, float(time_s), lost=np.sort(inside[was & ~now]),
                        regained=np.sort(inside[~was & now]), cause=cause)
        for listener in self._listeners:
            listener(change)
        return change

    def subscribe(self, listener: Callable[[Change], None]) -> None:
        """Call ``listener(change)`` on every change of a device's believed state."""
        self._listeners.append(listener)

    def belief(self, device: str) -> tuple[bool, Source, float]:
        """``(open, source, time_s)`` the IDMS holds for ``device``."""
        row = self._row(device)
        return bool(self.open[row]), Source(self.source[row]), float(self.since_s[row])

    # -- energisation -----------------------------------------------------------------------------

    def energised(self, customers: np.ndarray | None = None) -> np.ndarray:
        """Bool per service point row (all, or the rows given): believed to have power."""
        return self.customer_live.copy() if customers is None else self.customer_live[np.asarray(customers)]

    def de_energised_customers(self) -> np.ndarray:
        """Service point rows believed to be without power."""
        return np.flatnonzero(~self.customer_live)

    def energised_buses(self) -> np.ndarray:
        """Bool per bus row: believed to have power."""
        return live_buses(self.base, self._cover)

    def energised_lines(self) -> np.ndarray:
        """Bool per line row: in service and believed to have power."""
        live = self.energised_buses()
        if self._line_bus is None:
            self._line_bus = self.net.bus.index(self.net.line["from_bus"])
        return np.asarray(self.net.line["in_service"], bool) & live[self._line_bus]

    def customers_below(self, device: str) -> np.ndarray:
        """Service point rows the device feeds in the believed configuration, whether or not they
        have power now: the customers below it that no other open device below it cuts off. For a
        closed, energised device: who loses power if it opens; for a tripped recloser or a blown
        fuse: who it has cut off (and gets back when it closes, if everything above is closed).
        For a tie closed to pick up a section, that section. Nobody for an open tie, a device on a
        loop, or a device open while a closed tie feeds its section from elsewhere (built into the
        topology, see :meth:`_rebase`). ``energised(customers_below(d))`` tells who is on now."""
        k = self._range_of[self._row(device)]
        if k < 0:
            return np.empty(0, np.int64)
        first, end = int(self._first[k]), int(self._end[k])
        inside = customers_in(self.base, first, end)
        # ancestors' cuts cover the whole range alike; anything more is a device below this one
        return inside[self._cover[self._position[inside]] == self._cover[first]]

    def devices_above(self, ref: str) -> list[str]:
        """Switch ids between a bus or customer (``"bus.<id>"``, ``"service_point.<id>"``) and its
        source, nearest first, in the believed configuration (for a customer cut off by an open
        device, the devices it was fed through, that one included); empty where nothing feeds it."""
        b = self._bus(ref)
        topo, n_line = self.base, len(self.net.line)
        out = []
        while topo.parent_edge[b] >= 0:
            e = int(topo.parent_edge[b])
            if topo.edge_table[e] == "switch":
                out.append(str(self.net.switch.ids[e - n_line]))
            b = int(topo.parent_bus[b])
        return out

    # -- feeders ----------------------------------------------------------------------------------

    def feeder_of(self, ref: str) -> str:
        """The normal feeder (head breaker id, or source id) of a bus, customer or line
        (``"table.id"``) or a switching device (its id or ``"switch.<id>"``): for a device, the
        feeder of the section it feeds normally (a feeder-head breaker is its own feeder; a normally
        open tie, that of its ``from_bus`` side); '' where the normal configuration feeds nothing."""
        table, _, id_ = ref.partition(".")
        if table not in _REF_TABLES or not id_:
            table, id_ = "switch", ref[7:] if ref.startswith("switch.") else ref
        if table != "switch":
            return self.normal.feeder_of(ref)
        row = self._row(id_)
        topo = self.normal
        e = topo.bundle_of[len(self.net.line) + row]
        a, b = int(topo.edge_from[e]), int(topo.edge_to[e])
        below = b if topo.parent_edge[b] == e else a if topo.parent_edge[a] == e else a
        return str(topo.feeder[below])

    def feeders_of(self, customers: np.ndarray) -> np.ndarray:
        """Normal feeder name per service point row given."""
        return self._feeder_names[self._customer_feeder[np.asarray(customers)]]

    def feeder_counts(self) -> dict[str, FeederCount]:
        """Per normal feeder: customers and customers believed out."""
        n = len(self._feeder_names)
        total = np.bincount(self._customer_feeder, minlength=n)
        out = np.bincount(self._customer_feeder[~self.customer_live], minlength=n)
        return {str(f): FeederCount(int(t), int(o)) for f, t, o in zip(self._feeder_names, total, out)}

    # -- internals --------------------------------------------------------------------------------

    def _rebase(self) -> None:
        """Rebuild the topology the range updates work on (the *base*), then lay the devices open
        now over it as ranges. The base has every normally closed device closed, so that a
        device opened in a storm can close again as a range update; devices open now that are not
        bridges of it (a section picked up over a closed tie is on a loop with its own feeder)
        are built into the base instead."""
        normal_open = np.asarray(self.net.switch["normal_open"], bool)
        cuts = self.open & ~normal_open
        base = build_topology(self.net, switch_open=self.open & normal_open)
        baked = cuts & ~incremental_switches(base)
        if baked.any():
            base = build_topology(self.net, switch_open=(self.open & normal_open) | baked)
            if (cuts & ~baked & ~incremental_switches(base)).any():
                baked = cuts
                base = build_topology(self.net, switch_open=self.open)
        self.rebuilds += 1
        self.base: Topology = base
        self._rows, self._first, self._end = switch_ranges(base)
        self._range_of = np.full(len(self.open), -1, np.int64)  # per switch row: its entry in the ranges
        self._range_of[self._rows] = np.arange(len(self._rows))
        self._simple = incremental_switches(base)
        self._cut = cuts & ~baked  # open devices laid over the base as ranges
        self._cover = cover_of(len(base.order), self._first, self._end, self._cut[self._rows])
        # the customers' positions in the base preorder, -1 where the base feeds none
        fed = base.energised[self._sp_bus]
        self._position = np.where(fed, base.tin[self._sp_bus], -1)
        self.customer_live = fed & (self._cover[np.maximum(self._position, 0)] == 0) if len(fed) else fed
        """Bool per service point row: believed to have power (read it, never write it)."""

    def _shift(self, row: int, delta: int) -> tuple[np.ndarray, np.ndarray]:
        """Open (+1) or close (-1) bridge switch ``row`` over its range, updating its customers;
        returns those customers' rows and whether they had power before."""
        self._cut[row] = delta > 0
        k = self._range_of[row]
        first, end = int(self._first[k]), int(self._end[k])
        self._cover[first:end] += delta
        inside = customers_in(self.base, first, end)
        was = self.customer_live[inside]
        self.customer_live[inside] = self._cover[self._position[inside]] == 0
        return inside, was

    def _row(self, device: str) -> int:
        name = device[7:] if device.startswith("switch.") else device
        try:
            return self._switch_index[name]
        except KeyError as err:
            raise ModelError(f"no switching device {name!r} in the operations model", component="switch",
                             element=name, fix="check the device id against the network model") from err

    def _bus(self, ref: str) -> int:
        table, id_ = parse_ref(ref)
        if table == "bus":
            return self.net.bus.position(id_)
        if table == "service_point":
            return int(self._sp_bus[self.net.service_point.position(id_)])
        raise ModelError(f"{ref} is not a bus or a customer", component=table, element=id_,
                         fix="give 'bus.<id>' or 'service_point.<id>'")
