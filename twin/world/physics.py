"""The world's truth about the grid, and what happens physically when a line faults.

:class:`GridState` holds what is really so: the state of every switching device (open or closed),
the taps and capacitor bank states (which the controllers of :mod:`twin.world.controls` move),
the faults on the lines, and which customers have power. A fault is worked out as the protection
engine says (:func:`twin.field_devices.protection.simulate`): the fault current each protective
device between the fault and its source carries comes from the short-circuit analysis
(:func:`twin.grid.shortcircuit.fault_at`, at the end of the segment nearer the fault point) of the
normal configuration of its substation, made once (devices opened elsewhere change it little; a
fault on a dead section carries none; once a normally open point is closed, of the substations it
joins, and the path to the source as the network stands), and the devices' operations (trips, recloses, lockout, a
fuse that melts and clears, a sectionaliser that opens) are replayed in simulated time, each one
changing the switch states. Every change of state re-derives who has power (the topology of the
network with its present switch states) and publishes who lost and who regained it; the power flow
then re-solves the energised network once for that instant.

A temporary fault is gone at the first interruption (the sequence's first trip or clear); a
permanent one stays on its line until it is repaired (:meth:`GridState.repair`). Faults on the
same feeder at overlapping times are each worked out from the network as it was when they began.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from twin.grid.network import Network
from twin.grid.schema import SwitchKind
from twin.grid.shortcircuit import FaultType
from twin.world.events import EventKind, EventStream

__all__ = ["Fault", "GridState"]

OPENS = {"trip", "clear", "open", "lockout"}  # actions after which the device is open
CLOSES = {"reclose"}


@dataclass(frozen=True)
class Fault:
    """A fault on a line segment: ``line`` id, ``kind``, ``permanent``, ``location`` (0-1 from the
    line's from-bus), ``cause`` (free text: 'tree', 'lightning'...), ``wire_down``."""

    line: str
    kind: FaultType = FaultType.slg
    permanent: bool = True
    location: float = 0.5
    cause: str = ""
    wire_down: bool = False  # a conductor on the ground: a public hazard, people nearby call


@dataclass
class Outage:
    """Ground truth of one interruption: the customers (service_point rows) who lost power at
    ``start_s`` when ``device`` opened for a fault on ``line``; ``remaining`` those still out and
    ``isolated_by`` the open device nearest above them now (after a reclose that restored the
    rest, the fuse that blew); ``restored_s`` when the last of them regained power (NaN while out)."""

    device: str
    line: str
    start_s: float
    customers: np.ndarray
    remaining: np.ndarray
    isolated_by: str
    restored_s: float = float("nan")


@dataclass
class GridState:
    """What is really so on the grid: switch states, faults on lines, customers with power."""

    net: Network
    events: EventStream
    switch_open: np.ndarray = field(init=False)
    tap_pu: np.ndarray = field(init=False)  # per transformer row and winding: the taps now (the regulators move them)
    cap_closed: np.ndarray = field(init=False)  # bool per capacitor row: the banks in service now
    faults: dict[str, Fault] = field(default_factory=dict, init=False)  # by line id: permanent faults standing
    fails_to_trip: set[str] = field(default_factory=set, init=False)  # protective devices that will not operate
    energised_customers: np.ndarray = field(init=False)  # bool per service_point row
    outages: list[Outage] = field(default_factory=list, init=False)
    solves: int = field(default=0, init=False)
    changed_s: float = field(default=float("-inf"), init=False)  # when a switch, tap or capacitor last changed
    _normal: object = field(default=None, init=False, repr=False)  # topology in the normal switch states
    _thevenin: object = field(default=None, init=False, repr=False)  # short-circuit models by part, normal states
    _sp_bus: object = field(default=None, init=False, repr=False)  # bus row of each service point
    _ranges: object = field(default=None, init=False, repr=False)  # switches' depth-first ranges, normal tree
    _cover: object = field(default=None, init=False, repr=False)  # open devices above each depth-first position
    _outage_of: object = field(default=None, init=False, repr=False)  # per customer: its active outage, -1
    _split: object = field(default=None, init=False, repr=False)  # the parts of the ties' present layout
    _layout: bytes = field(default=b"", init=False, repr=False)  # which ties were open when it was split
    _connectivity: object = field(default=None, init=False, repr=False)  # who has power while a tie is closed
    _present: object = field(default=None, init=False, repr=False)  # (switch states, their topology), the last asked
    listeners: list = field(default_factory=list, init=False, repr=False)
    """Called as ``listener(now_s, lost, back)`` (service_point rows) on every change of who has
    power: the meters and the callers react to it."""

    def __post_init__(self) -> None:
        self.switch_open = np.array(self.net.switch["open"], dtype=bool)
        self.tap_pu = np.array(self.net.transformer["tap_pu"], dtype=float)
        self.cap_closed = np.array(self.net.capacitor["closed"], dtype=bool)
        self.energised_customers = self._energised()
        self._outage_of = np.full(len(self.energised_customers), -1, np.int64)

    # -- the network as it stands ----------------------------------------------------------------

    def network(self) -> Network:
        """The model with the present switch states, taps and capacitor states."""
        return self.net.replace(switch=self.net.switch.with_columns(open=self.switch_open.copy()),
                                transformer=self.net.transformer.with_columns(tap_pu=self.tap_pu.copy()),
                                capacitor=self.net.capacitor.with_columns(closed=self.cap_closed.copy()))

    def _energised(self) -> np.ndarray:
        """Who has power (bool per service_point row), worked out for the whole network. While
        every device that is open now is normally closed (the tree of the normal configuration
        still holds), from that tree: the customers below each opened device are a range of its
        depth-first order (kept as :meth:`_cover_now`, which :meth:`_energised_after` then updates
        change by change); else from the topology of the present states."""
        from twin.grid.energisation import live_buses

        sp = self.net.service_point
        if not len(sp):
            return np.zeros(0, bool)
        normal_open = np.asarray(self.net.switch["normal_open"], bool)
        if (normal_open & ~self.switch_open).any():  # a normally open point closed: the tree has changed
            self._cover = None
            return self.buses_live_now()[self._customer_bus()]
        self._cover = self._cover_now()
        return live_buses(self.normal_topology(), self._cover)[self._customer_bus()]

    def _cover_now(self) -> np.ndarray:
        """Per depth-first position of the normal tree: how many open, normally closed devices
        lie above it (0: it has power, where the tree is energised)."""
        from twin.grid.energisation import cover_of

        normal_open = np.asarray(self.net.switch["normal_open"], bool)
        rows, lo, hi = self._subtrees()
        return cover_of(len(self.normal_topology().order), lo, hi, (self.switch_open & ~normal_open)[rows])

    def _energised_after(self, row: int, opened: bool) -> np.ndarray:
        """Who has power once switch ``row`` has opened (or closed), from who had it before: only
        the customers of its depth-first ranges can change, so a change costs its section, not the
        network (the whole network is worked out again where the tree of the normal
        configuration does not hold)."""
        normal_open = np.asarray(self.net.switch["normal_open"], bool)
        if normal_open[row] or (normal_open & ~self.switch_open).any() or self._cover is None:
            return self._energised()
        from twin.grid.energisation import customers_in

        topo = self.normal_topology()
        bus = self._customer_bus()
        rows, lo, hi = self._subtrees()
        after = self.energised_customers.copy()
        for k in np.flatnonzero(rows == row):
            a, b = int(lo[k]), int(hi[k])
            self._cover[a:b] += 1 if opened else -1
            inside = customers_in(topo, a, b)
            after[inside] = topo.energised[bus[inside]] & (self._cover[topo.tin[bus[inside]]] == 0)
        return after

    def _subtrees(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """For each switch of the normal tree, the depth-first range it feeds: (switch rows,
        first, end) arrays, made once (:func:`twin.grid.energisation.switch_ranges`)."""
        from twin.grid.energisation import switch_ranges

        if self._ranges is None:
            self._ranges = switch_ranges(self.normal_topology())
        return self._ranges

    def _customer_bus(self) -> np.ndarray:
        if self._sp_bus is None:
            self._sp_bus = self.net.bus.index(self.net.service_point["bus"])
        return self._sp_bus

    def normal_topology(self):
        """The topology of the normal configuration (made once)."""
        from twin.grid.topology import build_topology

        if self._normal is None:
            self._normal = build_topology(self.net, normal=True)
        return self._normal

    def fault_analysis(self, bus: str):
        """The short-circuit model (a :class:`~twin.grid.shortcircuit.thevenin.Thevenin`) of the
        part of the network ``bus`` lies in (each substation with its feeders, or substations and
        feeders joined by a closed tie: :mod:`twin.grid.subnetwork`), made when a fault there first
        needs it: a part no tie joins with its normally closed devices closed (kept), one a closed
        tie joins with its devices as they stand (a back-feed's isolation points are open).
        Devices opened elsewhere change a fault's current little; a fault whose own section is dead
        carries none (see :meth:`protection_response`)."""
        from twin.grid.powerflow import prepare
        from twin.grid.shortcircuit import thevenin
        from twin.grid.subnetwork import Split, parts

        apart = np.asarray(self.net.switch["normal_open"], bool) & self.switch_open  # the ties open now
        layout = apart.tobytes()
        if self._split is None or self._layout != layout:
            self._split, self._layout = Split(self.net, parts(self.net, apart)), layout
            self._thevenin = self._thevenin if isinstance(self._thevenin, dict) else {}
        label = int(self._split.bus_label[self.net.bus.position(bus)])
        rows = self._split.rows(label)
        normal_open = np.asarray(self.net.switch["normal_open"], bool)[rows["switch"]]
        if (normal_open & ~self.switch_open[rows["switch"]]).any():
            states = self.switch_open[rows["switch"]]  # joined by a tie: as it stands (the isolation points open)
        else:
            states = apart[rows["switch"]]  # a part untouched by a tie: its normal model, kept
        key = (rows["bus"].tobytes(), states.tobytes())
        if key not in self._thevenin:
            net = self._split.network(label, rows)
            prep = prepare(net.replace(switch=net.switch.with_columns(open=states)))
            self._thevenin[key] = thevenin(prep, v_prefault=prep.solve_voltages()[0])
        return self._thevenin[key]

    def buses_live_now(self) -> np.ndarray:
        """Bool per bus row: connected to a source over the devices closed now (by connected
        components: a few milliseconds at 100k customers, whatever is closed)."""
        if self._connectivity is None:
            from twin.grid.connectivity import Connectivity

            self._connectivity = Connectivity(self.net)
        return self._connectivity.energised(self.switch_open)

    def present_topology(self):
        """The topology of the switch states now (made once per set of states)."""
        from twin.grid.topology import build_topology

        key = self.switch_open.tobytes()
        if self._present is None or self._present[0] != key:
            self._present = (key, build_topology(self.net, switch_open=self.switch_open.copy()))
        return self._present[1]

    # -- changes ---------------------------------------------------------------------------------

    def operate(self, now_s: float, device: str, *, open_: bool, why: str, line: str = "") -> None:
        """Open or close a switching device now (``line``: the faulted line it acts for, if any);
        publishes the customers who lost or regained power."""
        row = self.net.switch.position(device)
        if bool(self.switch_open[row]) == open_:
            return
        self.switch_open[row] = open_
        self.changed_s = now_s
        self._energisation_changed(now_s, device, why, line, self._energised_after(row, open_))
        if not open_:  # closed with a device above still open: that one isolates its outages now
            below = self.normal_topology().customers_downstream(f"switch.{device}")
            still = self._outage_of[below[~self.energised_customers[below]]]
            for k in np.unique(still[still >= 0]).tolist():
                o = self.outages[k]
                if o.isolated_by == device and math.isnan(o.restored_s) and len(o.remaining):
                    self._reisolate(k)

    def _reisolate(self, k: int) -> None:
        """Outage ``k``'s customers still out, by the open device nearest above each: those of
        the first stay in it; those behind another device (a second fuse that blew in the same
        recloser sequence) become an outage of their own, since the same start, for the fault
        standing in that device's section."""
        o = self.outages[k]
        by = self._isolating_many(o.remaining)
        keep = by[0]
        o.isolated_by = keep
        for name in sorted(set(by.tolist()) - {keep}):
            part = o.remaining[by == name]
            o.remaining = o.remaining[by != name]
            by = by[by != name]
            self._outage_of[part] = len(self.outages)
            self.outages.append(Outage(device=o.device, line=self._fault_below(name), start_s=o.start_s,
                                       customers=part, remaining=part, isolated_by=name))

    def _isolating_many(self, customers: np.ndarray) -> np.ndarray:
        """Per customer, the open switching device nearest above it on its normal path to the
        source ('' for none), from the subtrees of the open devices in the normal configuration."""
        topo = self.normal_topology()
        pos = topo.tin[self.net.bus.index(self.net.service_point["bus"][customers])]
        best = np.full(len(customers), "", object)
        depth = np.full(len(customers), -1)
        sw = self.net.switch
        for row in np.flatnonzero(self.switch_open).tolist():
            name = str(sw.ids[row])
            for e in topo.edges_of(f"switch.{name}").tolist():
                child = next((b for b in (topo.edge_to[e], topo.edge_from[e]) if topo.parent_edge[b] == e), -1)
                if child < 0:
                    continue  # not on the normal tree (a tie)
                lo = int(topo.tin[child])
                inside = (pos >= lo) & (pos < lo + int(topo.size[child])) & (lo > depth)
                best[inside], depth[inside] = name, lo
        return best

    def _fault_below(self, device: str) -> str:
        """A fault standing in the section below a switching device ('' for none)."""
        if not device or not self.faults:
            return ""
        topo = self.normal_topology()
        below = set(topo.buses_below(f"switch.{device}").tolist())
        lines = self.net.line
        return next((line for line in sorted(self.faults)
                     if int(self.net.bus.position(str(lines["to_bus"][lines.position(line)]))) in below), "")

    def open_above(self, device: str) -> str:
        """The open switching device nearest above a switching device or a transformer (on the
        normal path from its source side), '' when its source side has power."""
        net = self.net
        row = net.switch.get(device)
        bus = net.switch["from_bus"][row] if row is not None else net.transformer["bus"][net.transformer.position(device)][0]
        sw = net.switch
        for ref in self.normal_topology().path_to_source(f"bus.{bus}"):
            table, _, name = ref.partition(".")
            if table == "switch" and name != device and self.switch_open[sw.position(name)]:
                return name
        return ""

    def _energisation_changed(self, now_s: float, device: str, why: str, line: str, after: np.ndarray) -> None:
        before = self.energised_customers
        lost, back = np.flatnonzero(before & ~after), np.flatnonzero(~before & after)
        self.energised_customers = after
        for listener in self.listeners:
            listener(now_s, lost, back)
        if len(lost):
            self._outage_of[lost] = len(self.outages)
            self.outages.append(Outage(device=device, line=line, start_s=now_s, customers=lost, remaining=lost,
                                       isolated_by=device))
            self.events.publish(now_s, EventKind.outage, device=device, customers=int(len(lost)), why=why)
        if len(back):
            for k in np.unique(self._outage_of[back]).tolist():  # each customer out is in one active outage
                if k < 0:
                    continue
                o = self.outages[k]
                o.remaining = np.setdiff1d(o.remaining, back, assume_unique=True)
                if not len(o.remaining):
                    o.restored_s = now_s
                else:
                    self._reisolate(k)
            self._outage_of[back] = -1
            self.events.publish(now_s, EventKind.restore, device=device, customers=int(len(back)), why=why)

    def repair(self, now_s: float, line: str) -> None:
        """A crew has repaired the line: its standing fault is gone (devices stay as they are)."""
        if self.faults.pop(line, None) is not None:
            self.events.publish(now_s, EventKind.fault_cleared, line=line, why="repaired")

    # -- a fault ---------------------------------------------------------------------------------

    def bus_live(self, b: int) -> bool:
        """Whether bus row ``b`` has power now (from the customers' view where it has any, else
        from the tree of the normal configuration)."""
        topo = self.normal_topology()
        if not topo.energised[b]:
            return False
        sw = self.net.switch
        for ref in topo.path_to_source(f"bus.{self.net.bus.ids[b]}"):
            table, _, name = ref.partition(".")
            if table == "switch" and self.switch_open[sw.position(name)]:
                return False
        return True

    def fault_bus(self, fault: Fault) -> str:
        """The bus a fault is worked out at: the end of its segment nearer the fault point."""
        line = self.net.line
        row = line.position(fault.line)
        return str(line["from_bus"][row] if fault.location < 0.5 else line["to_bus"][row])

    def protection_response(self, fault: Fault):
        """The protective devices between the fault and its source, the current each carries, and
        what they do (:class:`~twin.field_devices.protection.FaultResponse`); None where the fault
        is on a dead section (no current flows)."""
        from twin.errors import ModelError
        from twin.field_devices.protection import simulate
        from twin.grid.shortcircuit import fault_at
        from twin.grid.tcc import settings_from_switch

        bus = self.fault_bus(fault)
        b = self.net.bus.position(bus)
        normal_open = np.asarray(self.net.switch["normal_open"], bool)
        exact = bool((normal_open & ~self.switch_open).any())  # a tie closed: the path as the network stands
        net = self.net
        topo = self.present_topology() if exact else self.normal_topology()
        if not (topo.energised[b] if exact else self.bus_live(b)):
            return None  # a dead section: no fault current flows
        kind = fault.kind
        phases = bin(int(net.bus["phases"][b]) & 7).count("1")  # phase conductors at the bus
        if phases < 2 and kind != FaultType.slg:
            kind = FaultType.slg  # a one-phase section can only fault to ground
        try:
            result = fault_at(None, bus, kind, thevenin=self.fault_analysis(bus), topology=topo)
        except ModelError:
            return None
        amps = result.devices.groupby("device")["i_a"].max()
        sw = net.switch
        above = [ref.partition(".")[2] for ref in topo.path_to_source(f"line.{fault.line}") if ref.startswith("switch.")]
        path, currents = [], []
        for device in reversed(above):  # source first
            k = sw.position(device)
            if device not in amps.index or int(sw["kind"][k]) not in _PROTECTIVE or (not exact and self.switch_open[k]) \
                    or device in self.fails_to_trip:  # (a failed relay or mechanism: the device above backs it up)
                continue
            try:
                settings = settings_from_switch(int(sw["kind"][k]), sw["curve"][k], float(sw["rated_a"][k]))
            except ValueError:
                continue  # the validator reports it; the device does not operate
            if settings is not None:
                path.append((device, settings))
                currents.append(float(amps[device]))
        if not path:
            return None
        return simulate(path, currents, permanent=fault.permanent)


_PROTECTIVE = {int(SwitchKind.breaker), int(SwitchKind.recloser), int(SwitchKind.fuse), int(SwitchKind.sectionaliser)}
