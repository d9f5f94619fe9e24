"""Customers at an imported feeder's loads, and its coordinates in metres: what the world needs.

An OpenDSS model (an IEEE test feeder, a planning export) has loads but no customers: the
importer gives each load one *placeholder* service point named after the load. The world needs
customers, each with a meter, a rate class and a critical flag, to send last gasps and to call,
so :func:`attach_customers` replaces the placeholders by the customers a utility would have
behind each load, by the load's size (:class:`CustomerRule`, peak = the load's ``p_w`` summed
over its phases):

* a load on one or two phases below ``commercial_kw`` (50 kW) is houses: one residential customer
  per ``kw_per_residential`` (5 kW) of peak, rounded (halves up), at least one (a 40 kW spot load of the IEEE
  123 feeder is 8 houses); a share ``small_commercial_share`` of them (a shop or an office among the
  houses) is commercial;
* a three-phase load, or one of at least ``commercial_kw``, is a business: one commercial customer
  per ``kw_per_commercial`` (300 kW) of peak, rounded up (the IEEE 123's 210 kW load at bus 48 is
  one);
* a share ``critical_share`` of all customers (0.5 %) is critical: life support at home, a clinic,
  a water pump.

Each customer is a ``service_point`` row on the load's bus naming the load (which carries all its
customers' demand), with id ``<load>-<k>`` (k from 1), an AMI meter number ``M`` + eight digits
(unique, drawn), the serving transformer where the load is on a secondary (none on a primary), and
no name or address (the callers make those up with faker). The load's ``cls`` becomes the class
most of its customers have (residential on a tie), which the world's load profiles follow. Every
draw comes from the generator passed in, in this order: commercial shares, critical flags, meter
numbers.

Coordinates
-----------
OpenDSS's ``BusCoords`` are bare numbers (the importer marks them ``coord_units="unspecified"``);
the world places storms, crews and callers in metres. :func:`coordinate_unit` tells their unit
from the lines: for most lines the straight distance between the buses is the line's length in
the coordinates' unit, so the median ratio ``length_m / distance`` is the unit's length in metres
(0.3048 for the IEEE 123, 8500-node: feet; 304.8 for the IEEE 37: thousands of feet). A
schematic drawing (the IEEE 13's) matches no unit: it is scaled by that median ratio, so that a
typical line is drawn at its length. :func:`coordinates_in_metres` converts.

>>> import numpy as np
>>> from twin.grid.network import Network
>>> from twin.grid.schema import SCHEMAS
>>> from twin.grid.table import Table
>>> net = Network.from_tables("two loads", {
...     "bus": Table.from_rows(SCHEMAS["bus"], [{"id": "b1", "v_nom_v": 4160.0, "phases": 7}]),
...     "source": Table.from_rows(SCHEMAS["source"], [{"id": "s", "bus": "b1", "v_nom_v": 4160.0}]),
...     "load": Table.from_rows(SCHEMAS["load"], [
...         {"id": "houses", "bus": "b1", "phases": 1, "v_rated_v": 2400.0, "p_w": (40e3, 0.0, 0.0)},
...         {"id": "shop", "bus": "b1", "phases": 7, "v_rated_v": 4160.0, "p_w": (70e3, 70e3, 70e3)}])})
>>> sp = attach_customers(net, np.random.default_rng(1)).service_point
>>> len(sp), sp.ids[-1], sorted(set(sp["load"].tolist()))
(9, 'shop-1', ['houses', 'shop'])
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

from twin.errors import ModelError
from twin.grid.network import Network
from twin.grid.schema import SCHEMAS, CustomerClass, Phase
from twin.grid.table import Table
from twin.grid.topology import build_topology

__all__ = ["CustomerRule", "attach_customers", "needs_customers", "coordinate_unit", "coordinates_in_metres",
           "COORDINATE_UNITS_M"]


@dataclass(frozen=True)
class CustomerRule:
    """How many customers of which class stand behind a load (see the module docstring)."""

    kw_per_residential: float = 5.0  # coincident peak of one house, kW
    commercial_kw: float = 50.0  # a load this big (or three-phase) is a business
    kw_per_commercial: float = 300.0  # a business load this big is several customers
    small_commercial_share: float = 0.05  # of the customers of a residential load
    critical_share: float = 0.005  # of all customers

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name.endswith("_share"):
                if not 0.0 <= value <= 1.0:
                    raise ValueError(f"CustomerRule.{f.name} = {value}: a share, 0 to 1")
            elif not value > 0.0:
                raise ValueError(f"CustomerRule.{f.name} = {value}: kW, more than 0")


def needs_customers(net: Network) -> bool:
    """True when the model has no customers of its own: no service points, or only the OpenDSS
    importer's placeholders (one per load, with the load's id)."""
    sp = net.service_point
    return not len(sp) or bool(np.all(sp.ids == sp["load"]))


def attach_customers(net: Network, rng: np.random.Generator, *, rule: CustomerRule = CustomerRule()) -> Network:
    """The network with customers behind its loads (see the module docstring): placeholders (a
    service point whose id is its load's) are replaced, customers of the model's own are kept and
    loads that have some get no more. Raises :class:`ModelError` naming the load when a load's peak
    is not a number of watts or its bus has no power in the normal configuration."""
    load, sp = net.load, net.service_point
    keep = sp.ids != sp["load"]
    served = set(sp["load"][keep].tolist())
    peak_w = load["p_w"].sum(axis=1)
    bad = np.flatnonzero(~np.isfinite(peak_w) | (peak_w < 0))
    if len(bad):
        raise ModelError(f"peak {peak_w[bad[0]]} W: a load's power is 0 or more watts", component="load",
                         element=str(load.ids[bad[0]]), field="p_w", fix="give its kW (OpenDSS kW=) per phase")
    todo = np.flatnonzero(~np.isin(load.ids, list(served)) & (peak_w > 0))
    _check_live(net, todo)
    n_phases = np.array([bin(int(p) & int(Phase.ABC)).count("1") for p in load["phases"][todo]], np.int64)
    kw = peak_w[todo] / 1e3
    business = (n_phases >= 3) | (kw >= rule.commercial_kw)
    count = np.where(business, np.ceil(kw / rule.kw_per_commercial),
                     np.maximum(1.0, np.floor(kw / rule.kw_per_residential + 0.5))).astype(np.int64)
    owner = np.repeat(todo, count)  # load row of every new customer
    n = len(owner)
    cls = np.where(np.repeat(business, count), CustomerClass.commercial, CustomerClass.residential).astype(np.int8)
    shop = rng.random(n) < rule.small_commercial_share
    cls[shop & (cls == CustomerClass.residential)] = CustomerClass.commercial
    critical = rng.random(n) < rule.critical_share
    taken = {int(m[1:]) for m in sp["meter"][keep].tolist() if m[:1] == "M" and m[1:].isdigit()}
    serial = _serials(rng, n, taken)
    first = np.concatenate([[0], np.cumsum(count)[:-1]]) if len(count) else np.zeros(0, np.int64)
    k = np.arange(n) - np.repeat(first, count) + 1
    ids = np.array([f"{a}-{b}" for a, b in zip(load.ids[owner].tolist(), k.tolist())], dtype=object)
    clash = np.isin(ids, sp.ids[keep])
    if clash.any():
        raise ModelError(f"a new customer's id {ids[clash][0]} is a service point of the model already",
                         component="service_point", element=str(ids[clash][0]),
                         fix="rename that service point, or attach customers to a model without them")
    new = Table(SCHEMAS["service_point"], {
        "id": ids, "meter": np.array([f"M{s}" for s in serial.tolist()], dtype=object),
        "transformer": np.full(n, "", dtype=object), "bus": load["bus"][owner], "load": load.ids[owner],
        "cls": cls, "critical": critical,
    })
    table = Table.concat([sp.take(keep), new])
    out = net.replace(service_point=table)
    out = out.replace(service_point=table.with_columns(transformer=_serving(out, table)),
                      load=load.with_columns(cls=_load_classes(load, table)),
                      notes=(*net.notes, f"{n} customers attached to {len(todo)} loads by twin.grid.customers "
                                         f"({int(np.count_nonzero(cls == CustomerClass.residential))} residential)"))
    return out


def _check_live(net: Network, rows: np.ndarray) -> None:
    """Each load's bus exists and has power in the normal configuration, or a ModelError naming it."""
    bus = net.bus.index(net.load["bus"][rows])  # an unknown bus raises, naming it
    live = build_topology(net, normal=True).energised[bus]
    if not live.all():
        k = rows[np.argmin(live)]
        raise ModelError(f"is on bus {net.load['bus'][k]}, which no source feeds in the normal configuration: "
                         "its customers would never have power", component="load", element=str(net.load.ids[k]),
                         fix="connect the bus (close its normally open switch, add the missing line) or remove "
                             "the load")


def _serials(rng: np.random.Generator, n: int, taken: set[int]) -> np.ndarray:
    """``n`` distinct eight-digit meter numbers none of which is ``taken``."""
    pool = 90_000_000
    picked = rng.choice(pool, n + len(taken), replace=False) + 10_000_000 if n else np.zeros(0, np.int64)
    return picked[~np.isin(picked, list(taken))][:n] if taken else picked[:n]


def _serving(net: Network, sp: Table) -> np.ndarray:
    """Serving transformer of every customer (secondary buses), '' on primaries."""
    from twin.grid.topology import serving_transformers

    given = sp["transformer"]
    serving = serving_transformers(net)
    return np.where(given != "", given, serving).astype(object)


def _load_classes(load: Table, sp: Table) -> np.ndarray:
    """Each load's class: the class most of its customers have (ties residential); its own without any."""
    cls = np.asarray(load["cls"]).copy()
    rows = load.index(sp["load"][sp["load"] != ""])
    codes = np.asarray(sp["cls"][sp["load"] != ""], np.int64)
    counts = np.zeros((len(load), len(CustomerClass)), np.int64)
    np.add.at(counts, (rows, codes), 1)
    has = counts.sum(axis=1) > 0
    cls[has] = counts[has].argmax(axis=1)
    return cls


# -- coordinates ------------------------------------------------------------------------------------

COORDINATE_UNITS_M = {"m": 1.0, "ft": 0.3048, "kft": 304.8, "km": 1000.0, "mi": 1609.344}
"""Length units bus coordinates may be in, in metres."""

_UNIT_TOLERANCE = 0.02  # the lines' median ratio is within 2 % of a unit's length
_AGREE = 0.5  # ... and so is at least half the lines'


def coordinate_unit(net: Network) -> tuple[str, float]:
    """The unit of the buses' coordinates and its length in metres: ``("m", 1.0)`` when the model
    says metres, else inferred from the lines (see the module docstring): ``("ft", 0.3048)``, or
    ``("schematic", scale)`` for a drawing. Raises :class:`ModelError` when no line has both ends
    placed."""
    if net.coord_units in COORDINATE_UNITS_M:
        return net.coord_units, COORDINATE_UNITS_M[net.coord_units]
    line, bus = net.line, net.bus
    a, b = bus.index(line["from_bus"]), bus.index(line["to_bus"])
    d = np.hypot(bus["x"][a] - bus["x"][b], bus["y"][a] - bus["y"][b])
    ok = np.isfinite(d) & (d > 0) & (line["length_m"] > 0)
    if not ok.any():
        raise ModelError(f"no line has both of its buses placed: the coordinates' unit cannot be told (of "
                         f"{int(np.isfinite(bus['x']).sum())} placed buses)", component="bus", field="x",
                         fix="give bus coordinates (in OpenDSS, a BusCoords file) in metres or feet")
    ratio = line["length_m"][ok] / d[ok]
    median = float(np.median(ratio))
    for unit, metres in COORDINATE_UNITS_M.items():
        close = np.abs(ratio / metres - 1.0) <= _UNIT_TOLERANCE
        if abs(median / metres - 1.0) <= _UNIT_TOLERANCE and close.mean() >= _AGREE:
            return unit, metres
    return "schematic", median


def coordinates_in_metres(net: Network) -> Network:
    """The network with bus coordinates in metres (``coord_units="m"``), converted from the unit
    :func:`coordinate_unit` finds; a note says what was done. Unchanged when already in metres."""
    unit, metres = coordinate_unit(net)
    if unit == "m":
        return net
    how = (f"from {unit}" if unit != "schematic" else
           f"a schematic drawing, scaled by {metres:.4g} so that lines are drawn about their length")
    bus = net.bus.with_columns(x=net.bus["x"] * metres, y=net.bus["y"] * metres)
    return net.replace(bus=bus, coord_units="m",
                       notes=(*net.notes, f"bus coordinates converted to metres ({how}) by twin.grid.customers"))

