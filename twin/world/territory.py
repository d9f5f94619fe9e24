"""Synthetic North American service territories, from a few hundred to millions of customers.

:func:`generate_territory` builds a :class:`~twin.grid.network.Network` that looks and behaves
like a utility's distribution system, seeded and reproducible bit for bit::

    >>> net = generate_territory(3_000, seed=1)
    >>> len(net.service_point)
    3000

What is generated
-----------------
*Substations.* Each is a 115 kV source with a Thevenin impedance at 115 kV (``r1/x1/r0/x0`` in
ohms, from a three-phase fault level of 1.5-5 GVA, X/R 7-12, and a single-line-to-ground level of
0.7-1.1 times that), one or two 115/12.47 kV delta-wye-grounded transformers (10-50 MVA, 9 %
reactance, an on-load tap changer modelled as a ``regulator`` row holding 124 V on the 120 V
base) and one 12.47 kV bus per transformer (``S01-LV1``, ``S01-LV2``) joined by a normally open
bus-tie breaker. A substation has 4-8 feeders (fewer only when the whole territory has fewer).

*Feeders* (``S01-F3``) start with a remote-controlled breaker (``S01-F3-BKR``) and run a
three-phase trunk (336.4 kcmil ACSR overhead, 1000 kcmil underground for the getaway out of the
substation) outwards in their own direction. Along the trunk: a remote recloser half-way
(``-RCL``), load-break sectionalising switches at about a quarter and four fifths of the way
(``-SW1``, ``-SW2``; about half of them remote), a fixed and a switched capacitor bank with its
controller (``-C1``, ``-C2``; on feeders needing at least 300 kvar of each), and, on long or heavily loaded feeders, a bank of three
single-phase 32-step regulators (``-VR-A/B/C``, bank ``-VR``). Two three-phase branches leave
the trunk at three fifths of its length towards the boundaries with the neighbouring feeders of the
same substation, where normally open tie switches (``-TIE1``...) join them; each pair of
neighbouring substations is tied where their outer three-phase lines come nearest, by a tie line
and a normally open switch. Restoration therefore always has somewhere to go.

*Laterals* (one-phase mostly, about an eighth two-phase, overhead 1/0 ACSR or underground 1/0
AA concentric-neutral cable) leave the trunk at right angles, each protected at its tap by a fuse
with a T link sized to 1.3 times its peak current (``-FU012``, ``curve='40T'``, ``rated_a`` the
link rating). Phases are given to laterals so that each feeder is balanced.

*Service transformers* (``S01-F3-T0042``) sit one per lateral node: single-phase centre-tapped
7200 V to 120/240 V units of 10-167 kVA sized to their customers' peak, with the IEEE 8500-node
feeder's impedances. Each feeds 4-12 customers: its secondary terminals (bus ``-X0042``), a 4/0
triplex secondary (line ``-SL0042``, 10-50 m; 750 kcmil and 5-15 m above 40 kVA) and a
split-phase service bus (``-S0042``, phases S1S2, 240 V) carrying one load (``-LD0042``) that
aggregates its customers. Each customer is a ``service_point`` row on that bus naming the
transformer and the load; one load per transformer keeps a 1,000,000-customer model at about
0.45 million buses.

*Fault circuit indicators* (``S01-F3-FCI04``, table ``fault_indicator``) sit at the from end of a
line (the source side), one sensor per phase of it: on the first line past each sectionalising
device of the trunk (recloser, sectionalising switches; the breaker's own relay says as much as one
there would), at the start of each three-phase branch with 500 m or more of line below it, every
1-2 km of trunk between them, and at the start of the major taps (laterals of 1 km or 12
transformers and more). Their trip current is a fixed rating (100 ... 1200 A) of at least twice
the peak current of the most loaded phase below them (200 A at least on the trunk, 100 A on a
lateral); 30 % of those on the trunk and 10 % at taps are communicating (cellular), the rest
visual; 60 % reset once voltage has been back for 60 s, 30 % 4 h after they flag, 10 % by hand.

*Customers* are 88 % residential (2-5 kW coincident peak, power factor 0.95), 11 % small
commercial (2-20 kW, 0.92) and 1 % small industrial (8-40 kW, 0.88) served at 120/240 V;
commercial and industrial customers share transformers, whose total is kept under 120 kVA. The
loads hold this coincident peak: a load shape scales them. About 0.2 % of customers are critical:
life-support customers, hospitals, water and wastewater plants. Names and addresses are composed
from pools drawn once from Faker (a few thousand first names, last names, companies and streets,
one city per substation, one state).

Geography
---------
Coordinates are metres on a flat plane. Each substation owns a disc whose area fits its
customers; the discs are packed outwards from the centre, the dense urban ones (1,500
customers/km^2) first, suburban (500) around them and rural (40) on the edge. Rural feeders serve half as many customers
as suburban ones, urban feeders a little more. Feeders radiate from their substation in
evenly spaced directions; laterals run across the trunk like side streets; a customer's bus lies
beside its transformer.

Line codes
----------
Overhead, cable and triplex impedances and susceptances are computed once by
:mod:`twin.grid.line_constants` (the modified Carson equations with Kron reduction of the
neutral, W. H. Kersting, *Distribution System Modeling and Analysis*, ch. 4 and 5) from the
conductor data of :mod:`twin.grid.conductors`. The 336 ACSR trunk is Kersting's example 4.1
construction and reproduces its published phase impedance matrix. A line code's matrices occupy
slots ``0..n_phases-1``; a line maps them onto its own phases in order, as OpenDSS does.

Randomness
----------
``np.random.SeedSequence(seed).spawn(4)`` gives one stream per concern: layout (counts, places,
shapes), electrical (source strength, demand, device choices), customers (classes, critical
flags, meter numbers, names) and the Faker pools; a fifth (``SeedSequence(seed, spawn_key=(4,))``)
places the fault indicators, so that adding them changed nothing else. Faker is seeded from its
own stream, so the same seed gives the same network, bit for bit, on the same library versions.
"""

from __future__ import annotations

import functools
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from twin.grid.conductors import (
    AA_4_0,
    AA_750,
    ACSR_1_0,
    ACSR_4_0,
    ACSR_336_400,
    CN_1_0AA_FULL,
    CN_1000AA_THIRD,
)
from twin.grid.line_constants import (
    concentric_neutral_impedance,
    concentric_neutral_susceptance,
    overhead_impedance,
    overhead_susceptance,
    sequence_impedances,
    triplex_impedance,
)
from twin.grid.native import save_native
from twin.grid.network import Network
from twin.grid.schema import (
    SCHEMAS,
    CapControlKind,
    Conn,
    CustomerClass,
    IndicatorReset,
    LineKind,
    Phase,
    SwitchKind,
    TransformerKind,
)
from twin.grid.table import Table

__all__ = ["generate_territory", "generate_command", "standard_line_codes", "TerritoryStats"]

V_TRANSMISSION = 115_000.0
V_PRIMARY = 12_470.0
V_PRIMARY_LN = 7_200.0
V_SECONDARY = 240.0

# Standard sizes, ascending: equipment is the smallest size that carries the need.
SERVICE_KVA = (10.0, 15.0, 25.0, 37.5, 50.0, 75.0, 100.0, 167.0)
SUBSTATION_MVA = (10.0, 15.0, 20.0, 25.0, 30.0, 37.5, 50.0)
FUSE_LINKS_A = (10.0, 15.0, 25.0, 40.0, 65.0, 80.0, 100.0, 140.0)  # T (slow) tin links
REGULATOR_A = (219.0, 328.0, 437.0, 548.0, 668.0)  # 32-step single-phase regulators at 7.2 kV
CAP_BANK_KVAR = (300.0, 450.0, 600.0, 900.0, 1200.0)

CUSTOMERS_PER_TRANSFORMER = (4, 12)
MAX_SERVICE_VA = 120e3  # 500 A at 240 V: what a 750 kcmil triplex secondary carries
CRITICAL_SHARE = 0.002
NON_RESIDENTIAL_TRANSFORMER_SHARE = 0.12  # their customers: 11/12 commercial, 1/12 industrial


# -- line codes --------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Code:
    id: str
    n_phases: int
    z_ohm_per_m: np.ndarray
    b_s_per_m: np.ndarray
    rated_a: float
    emerg_a: float


@functools.cache
def _codes() -> tuple[_Code, ...]:
    crossarm = [(0.0, 28.0), (2.5, 28.0), (7.0, 28.0), (4.0, 24.0)]  # Kersting ID-500 (ft), 1 ft lower than his
    two = [(0.0, 28.0), (7.0, 28.0), (4.0, 24.0)]
    one = [(0.5, 29.0), (0.0, 24.0)]
    out: list[_Code] = []
    for code_id, xy, wires, n, amps in (
        ("336ACSR-3PH-OH", crossarm, [ACSR_336_400] * 3 + [ACSR_4_0], 3, 530.0),
        ("1/0ACSR-2PH-OH", two, [ACSR_1_0] * 3, 2, 230.0),
        ("1/0ACSR-1PH-OH", one, [ACSR_1_0] * 2, 1, 230.0),
    ):
        z = overhead_impedance(xy, [w.gmr_ft for w in wires], [w.r_ohm_per_mile for w in wires], n_phases=n)
        b = overhead_susceptance(xy, [w.diameter_in for w in wires], n_phases=n)
        out.append(_Code(code_id, n, z, b, amps, amps * 1.25))
    for code_id, n, cable, amps in (
        ("1000AA-CN-3PH-UG", 3, CN_1000AA_THIRD, 505.0),  # 15 kV, 6 in apart
        ("1/0AA-CN-2PH-UG", 2, CN_1_0AA_FULL, 170.0),  # 15 kV URD
        ("1/0AA-CN-1PH-UG", 1, CN_1_0AA_FULL, 170.0),
    ):
        z = concentric_neutral_impedance([0.5 * i for i in range(n)], cable)
        out.append(_Code(code_id, n, z, concentric_neutral_susceptance(cable, n_phases=n), amps, amps * 1.2))
    for code_id, leg, amps, emerg in (("4/0AA-TPX", AA_4_0, 240.0, 300.0), ("750AA-TPX", AA_750, 580.0, 700.0)):
        out.append(_Code(code_id, 2, triplex_impedance(leg, ACSR_4_0, insulation_in=0.08), np.zeros((2, 2)),
                         amps, emerg))
    return tuple(out)


def standard_line_codes() -> Table:
    """The territory's line codes as a ``line_code`` table (ohm/m and S/m over slots 0..n-1)."""
    rows = []
    for c in _codes():
        r, x, b = (np.zeros((3, 3)) for _ in range(3))
        n = c.n_phases
        r[:n, :n] = c.z_ohm_per_m.real
        x[:n, :n] = c.z_ohm_per_m.imag
        b[:n, :n] = c.b_s_per_m
        rows.append({"id": c.id, "n_phases": n, "r_ohm_per_m": r, "x_ohm_per_m": x, "b_s_per_m": b,
                     "rated_a": c.rated_a, "emerg_a": c.emerg_a})
    return Table.from_rows(SCHEMAS["line_code"], rows)


TRUNK_OH, TRUNK_UG = "336ACSR-3PH-OH", "1000AA-CN-3PH-UG"
LATERAL_CODES = {(1, False): "1/0ACSR-1PH-OH", (2, False): "1/0ACSR-2PH-OH",
                 (1, True): "1/0AA-CN-1PH-UG", (2, True): "1/0AA-CN-2PH-UG"}
TRIPLEX, TRIPLEX_HEAVY = "4/0AA-TPX", "750AA-TPX"
HEAVY_SECONDARY_VA = 40e3
"""Above this peak a secondary is 750 kcmil triplex, 5-15 m long (big services sit by the pole).

A secondary stands for the transformer's service drops: the aggregated load sits at the end of one
triplex as long as the customers' load-weighted distance (10-50 m by density), not at the farthest.
"""

# Fault circuit indicators: where utilities put them, and their settings.
FCI_TRUNK_SPACING_M = (1000.0, 2000.0)  # along the trunk, one every 1-2 km of line
FCI_BRANCH_MIN_M = 500.0  # a three-phase branch with at least this much line below it gets one at its start
FCI_MAJOR_TAP = (1000.0, 12)  # a lateral of at least this length (m) or transformers is a major tap
FCI_TRIP_A = (100.0, 200.0, 400.0, 600.0, 800.0, 1000.0, 1200.0)  # fixed trip ratings on offer
FCI_TRIP_MIN_A = (200.0, 100.0)  # trunk, lateral: the lowest rating fitted
FCI_REMOTE_SHARE = (0.3, 0.1)  # trunk, lateral: communicating (cellular) indicators; the rest visual

TRUNK_STANDARD = (0.25, 0.4, 0.5, 0.6, 0.8)
"""Where along the trunk (share of its stations) SW1, the regulator, the recloser, the tie branches
and SW2 sit, by default."""
TRUNK_FLISR = (0.25, 0.4, 0.5, 0.75, 0.85)
"""SW1, the regulator, the recloser, SW2 and the tie branches on a feeder equipped for FLISR: SW2
ahead of the tie branches, so that every zone between two remote devices but the last has a tie
beyond it."""

AUTOMATION = ("standard", "flisr")
"""Feeder automation levels. ``standard``: the mix of the module docstring. ``flisr``: every
feeder equipped for FLISR, as a utility automates the feeders it puts under FLISR: SW1, SW2 and
every tie remote, each sectionalising device's fault indicator (the first line past it)
communicating (the switch control's own fault-passage sensor), and the tie branches beyond SW2
(:data:`TRUNK_FLISR`). The random draws are the same: a seed gives the same customers, lines and
loads at either level, bar the positions those changes move."""
FCI_RESETS = ((IndicatorReset.voltage, 60.0, 0.6), (IndicatorReset.timed, 4 * 3600.0, 0.3),
              (IndicatorReset.manual, 0.0, 0.1))  # reset mode, reset_s, share



# -- the plan: counts, densities, places ----------------------------------------------------------


@dataclass(frozen=True)
class _Density:
    """How a substation's area is built: density, trunk section, lateral spacing, cable shares."""

    name: str
    feeder_size: float  # customers per feeder relative to the territory's mean
    customers_per_km2: float
    section_m: float
    tx_spacing_m: tuple[float, float]
    ug_trunk_share: float
    ug_lateral_share: float
    triplex_m: tuple[float, float]


_DENSITIES = (
    _Density("urban", 1.1, 1500.0, 120.0, (25.0, 60.0), 0.4, 0.6, (10.0, 25.0)),
    _Density("suburban", 1.0, 500.0, 200.0, (40.0, 120.0), 0.1, 0.35, (15.0, 35.0)),
    _Density("rural", 0.5, 40.0, 450.0, (100.0, 400.0), 0.0, 0.05, (20.0, 50.0)),
)

LONG_FEEDER_M = 4000.0
"""A trunk at least this long gets a regulator bank, as does one whose estimated drop exceeds 3 %."""


@dataclass(frozen=True)
class TerritoryStats:
    """What :func:`generate_command` reports: counts and the time taken."""

    customers: int
    substations: int
    feeders: int
    buses: int
    seconds: float


def generate_territory(
    customers: int,
    *,
    seed: int,
    name: str = "",
    customers_per_feeder: int = 2000,
    feeders_per_substation: tuple[int, int] = (4, 8),
    automation: str = "standard",
) -> Network:
    """A synthetic service territory of exactly ``customers`` customers (see the module docstring).

    ``customers_per_feeder`` sets the number of feeders (at least two, so that every feeder has a
    tie); ``feeders_per_substation`` the range of feeders per substation; ``automation``
    ``"standard"`` (the module docstring's mix) or ``"flisr"`` (every feeder equipped for FLISR:
    see :data:`AUTOMATION`).
    """
    return _generate(customers, seed=seed, name=name, customers_per_feeder=customers_per_feeder,
                     feeders_per_substation=feeders_per_substation, automation=automation)[0]


def generate_command(customers: int, seed: int, out: Path) -> Network:
    """Generate a territory, save it with :func:`~twin.grid.native.save_native` and print a summary."""
    start = time.perf_counter()
    net, stats = _generate(customers, seed=seed)
    save_native(net, out)
    seconds = time.perf_counter() - start
    print(f"{net.name}: {stats.customers:,} customers, {stats.feeders} feeders, {stats.substations} "
          f"substations, {stats.buses:,} buses; generated in {stats.seconds:.1f} s, saved to {out} "
          f"in {seconds - stats.seconds:.1f} s")
    return net


def _generate(customers: int, *, seed: int, name: str = "", customers_per_feeder: int = 2000,
              feeders_per_substation: tuple[int, int] = (4, 8), automation: str = "standard"
              ) -> tuple[Network, TerritoryStats]:
    start = time.perf_counter()
    if automation not in AUTOMATION:
        raise ValueError(f"automation={automation!r}: use one of {', '.join(AUTOMATION)}")
    if customers < 100:
        raise ValueError(f"customers={customers}: a territory needs at least 100 customers")
    if customers_per_feeder < 100:
        raise ValueError(f"customers_per_feeder={customers_per_feeder}: use at least 100")
    lo, hi = feeders_per_substation
    if not 2 <= lo <= hi:
        raise ValueError(f"feeders_per_substation={feeders_per_substation}: use (low, high) with 2 <= low <= high")
    layout, electrical, people, pools = (np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(4))

    b = _Builder(customers=customers, seed=seed, flisr_ready=automation == "flisr")
    b.plan_counts(customers_per_feeder, (lo, hi), layout)
    b.draw_customers(people)
    b.draw_demand(electrical)
    b.place_substations(layout)
    b.build_substations(electrical)
    for f in range(b.n_feeders):
        b.build_feeder(f, layout, electrical)
    b.build_ties(electrical)
    b.build_laterals(layout)
    b.name_customers(people, _Pools.draw(pools, b.n_subs, customers))
    b.place_fault_indicators(np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(4,))))
    net = b.network(name or f"territory-{customers}-s{seed}")
    stats = TerritoryStats(customers, b.n_subs, b.n_feeders, len(net.bus), time.perf_counter() - start)
    return net, stats


def _pick(standard: Sequence[float], need: np.ndarray | float) -> np.ndarray:
    """Smallest standard size at least ``need`` (the largest when none is)."""
    sizes = np.asarray(standard)
    return sizes[np.minimum(np.searchsorted(sizes, need, side="left"), len(sizes) - 1)]


def _ids(prefix: np.ndarray | Sequence[str], numbers: np.ndarray, width: int) -> np.ndarray:
    """``prefix[i] + zero-padded numbers[i]`` as an object array."""
    return np.array([f"{p}{n:0{width}d}" for p, n in zip(list(prefix), numbers.tolist())], dtype=object)


# -- names ----------------------------------------------------------------------------------------

_STREET_WORDS = ("Oak", "Maple", "Pine", "Cedar", "Elm", "Walnut", "Willow", "Birch", "Spruce", "Hickory",
                 "Chestnut", "Magnolia", "Park", "Lake", "Hill", "River", "Meadow", "Forest", "Spring",
                 "Sunset", "Highland", "Ridge", "Valley", "Church", "Mill", "Main", "Washington", "Lincoln",
                 "Jefferson", "Madison", "Jackson", "Franklin", "Center", "School", "Railroad", "Market")
_STREET_SUFFIXES = ("St", "Ave", "Rd", "Dr", "Ln", "Ct", "Way", "Blvd", "Pl", "Cir", "Pkwy", "Ter")
_FACILITIES = ("General Hospital", "Regional Medical Center", "Water Treatment Plant",
               "Wastewater Treatment Plant", "Water Pumping Station", "Fire Station", "Police Headquarters",
               "Emergency Operations Center", "Nursing Home", "Dialysis Center")
_INDUSTRIES = ("Manufacturing", "Industries", "Plastics", "Foods", "Metal Works", "Packaging", "Fabrication",
               "Mills", "Cold Storage", "Printing")


@dataclass(frozen=True)
class _Pools:
    """Name pools drawn once from Faker; customers' names are composed from them with numpy."""

    first: np.ndarray
    last: np.ndarray
    companies: np.ndarray
    streets: np.ndarray
    cities: np.ndarray
    places: np.ndarray  # "City, ST 12345" per city

    @classmethod
    def draw(cls, rng: np.random.Generator, n_cities: int, customers: int) -> _Pools:
        """Pools sized to the territory: up to 3,000 names and 2,000 companies."""
        from faker import Faker  # the world may use Faker; import it only when names are wanted

        fake = Faker("en_US")
        fake.seed_instance(int(rng.integers(2**62)))
        n_names, n_companies = int(np.clip(customers // 10, 300, 3000)), int(np.clip(customers // 50, 100, 2000))
        first = [fake.first_name() for _ in range(n_names)]  # drawn by frequency, so common names repeat
        last = [fake.last_name() for _ in range(n_names)]
        companies = [fake.company() for _ in range(n_companies)]
        bases = np.array(sorted(set(last))[:600] + list(_STREET_WORDS) * 4
                         + [f"{k}{_ordinal(k)}" for k in range(1, 41)], dtype=object)
        streets = np.array([f"{bases[i]} {_STREET_SUFFIXES[j]}" for i, j in zip(
            rng.integers(len(bases), size=2000).tolist(),
            rng.integers(len(_STREET_SUFFIXES), size=2000).tolist())], dtype=object)
        state = fake.state_abbr(include_territories=False)
        cities: list[str] = []
        for attempt in range(50 * n_cities):
            city = fake.city()
            if city not in cities or attempt >= 20 * n_cities:  # give up on uniqueness eventually
                cities.append(city)
            if len(cities) == n_cities:
                break
        places = [f"{c}, {state} {fake.zipcode_in_state(state)}" for c in cities]
        return cls(np.array(first, dtype=object), np.array(last, dtype=object),
                   np.array(companies, dtype=object), streets, np.array(cities, dtype=object),
                   np.array(places, dtype=object))


def _ordinal(k: int) -> str:
    return "th" if 10 <= k % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(k % 10, "th")


# -- the builder ----------------------------------------------------------------------------------


def _fill_rows(name: str, rows: Sequence[Mapping[str, Any]]) -> Table:
    """``Table.from_rows`` for rows that may leave out per-phase values (given full-shaped here)."""
    schema = SCHEMAS[name]
    shaped = [f for f in schema.fields if f.shape and any(f.name in r for r in rows)]
    full = [{f.name: np.broadcast_to(f.fill(), f.shape) for f in shaped} | dict(r) for r in rows]
    return Table.from_rows(schema, full)


@dataclass
class _Builder:
    """Accumulates the territory table by table: skeleton rows one by one, bulk rows as arrays."""

    customers: int
    seed: int
    flisr_ready: bool = False
    rows: dict[str, list[dict[str, Any]]] = field(default_factory=lambda: {n: [] for n in SCHEMAS})
    bulk: dict[str, list[Table]] = field(default_factory=lambda: {n: [] for n in SCHEMAS})
    bus_xy: dict[str, tuple[float, float]] = field(default_factory=dict)

    # counts --------------------------------------------------------------------------------------

    def plan_counts(self, customers_per_feeder: int, fps: tuple[int, int], rng: np.random.Generator) -> None:
        """Feeders per substation, transformers per feeder, customers per transformer (sums exact)."""
        lo, hi = fps
        n_feeders = max(2, round(self.customers / customers_per_feeder))
        n_subs = max(1, round(n_feeders / ((lo + hi) / 2)))
        n_subs = max(1, min(max(n_subs, -(-n_feeders // hi)), n_feeders // lo)) if n_feeders >= lo else 1
        per_sub = np.full(n_subs, n_feeders // n_subs)
        per_sub[rng.choice(n_subs, n_feeders - per_sub.sum(), replace=False)] += 1
        for _ in range(2 * n_subs):  # shuffle feeders between substations within the allowed range
            i, j = rng.integers(n_subs, size=2)
            if per_sub[i] > lo and per_sub[j] < hi:
                per_sub[i] -= 1
                per_sub[j] += 1
        self.n_subs, self.n_feeders = n_subs, n_feeders
        self.feeder_sub = np.repeat(np.arange(n_subs), per_sub)
        self.feeder_rank = np.arange(n_feeders) - np.repeat(np.cumsum(per_sub) - per_sub, per_sub)
        self.per_sub = per_sub
        rank = (np.arange(n_subs) + 0.5) / n_subs  # the first substations are the town centre
        self.sub_density = np.where(rank < 0.15, 0, np.where(rank < 0.6, 1, 2))

        low, high = CUSTOMERS_PER_TRANSFORMER
        n_tx = int(np.clip(round(self.customers / 7.2), -(-self.customers // high), self.customers // low))
        extra = rng.binomial(high - low, (self.customers - low * n_tx) / ((high - low) * n_tx), n_tx)
        while (short := self.customers - low * n_tx - int(extra.sum())) != 0:
            room = np.flatnonzero(extra < high - low) if short > 0 else np.flatnonzero(extra > 0)
            pick = rng.choice(room, min(abs(short), len(room)), replace=False)
            extra[pick] += 1 if short > 0 else -1
        self.tx_customers = low + extra

        size = np.array([d.feeder_size for d in _DENSITIES])[self.sub_density[self.feeder_sub]]
        weights = rng.uniform(0.8, 1.2, n_feeders) * size
        share = weights / weights.sum() * n_tx
        per_feeder = np.maximum(np.floor(share).astype(np.int64), 1)
        while (rest := n_tx - int(per_feeder.sum())) != 0:
            order = np.argsort(per_feeder - share) if rest > 0 else np.argsort(share - per_feeder)
            order = order[per_feeder[order] > 1] if rest < 0 else order
            per_feeder[order[: abs(rest)]] += 1 if rest > 0 else -1
        self.feeder_tx = per_feeder
        self.tx_feeder = np.repeat(np.arange(n_feeders), per_feeder)
        self.n_tx = n_tx

    # customers and demand -------------------------------------------------------------------------

    def draw_customers(self, rng: np.random.Generator) -> None:
        """Rate class and critical flag of every customer; non-residential customers share transformers."""
        tx_business = rng.random(self.n_tx) < NON_RESIDENTIAL_TRANSFORMER_SHARE
        self.sp_tx = np.repeat(np.arange(self.n_tx), self.tx_customers)
        n = self.customers
        industrial = rng.random(n) < 1.0 / 12.0
        cls = np.where(tx_business[self.sp_tx],
                       np.where(industrial, CustomerClass.industrial, CustomerClass.commercial),
                       CustomerClass.residential).astype(np.int8)
        self.sp_cls = cls
        self.sp_critical = rng.random(n) < CRITICAL_SHARE

    def draw_demand(self, rng: np.random.Generator) -> None:
        """Coincident peak demand per customer, summed per transformer; transformer sizes from it."""
        n, cls = self.customers, self.sp_cls
        median = np.array([2.8e3, 6e3, 15e3])[cls]
        spread = np.array([0.25, 0.5, 0.5])[cls]
        low = np.array([2e3, 2e3, 8e3])[cls]
        high = np.array([5e3, 20e3, 40e3])[cls]
        p = np.clip(median * np.exp(spread * rng.standard_normal(n)), low, high)
        pf = np.array([0.95, 0.92, 0.88])[cls]
        q = p * np.tan(np.arccos(pf))
        tx_p = np.bincount(self.sp_tx, weights=p, minlength=self.n_tx)
        tx_q = np.bincount(self.sp_tx, weights=q, minlength=self.n_tx)
        # A 120/240 V secondary carries at most 500 A; busier groups are trimmed to that.
        scale = np.minimum(1.0, MAX_SERVICE_VA / np.hypot(tx_p, tx_q))
        self.tx_p, self.tx_q = tx_p * scale, tx_q * scale
        self.tx_kva = _pick(SERVICE_KVA, np.hypot(self.tx_p, self.tx_q) / 1e3)
        by_class = np.bincount(self.sp_tx * 3 + cls, minlength=self.n_tx * 3).reshape(self.n_tx, 3)
        self.tx_cls = by_class.argmax(axis=1).astype(np.int8)
        self.feeder_p = np.bincount(self.tx_feeder, weights=self.tx_p, minlength=self.n_feeders)
        self.feeder_q = np.bincount(self.tx_feeder, weights=self.tx_q, minlength=self.n_feeders)
        self.tx_split = rng.uniform(0.45, 0.55, self.n_tx)  # leg 1's share of the load

    # substations ---------------------------------------------------------------------------------

    def place_substations(self, rng: np.random.Generator) -> None:
        """Density class, service radius and position of each substation; feeder directions and lengths."""
        s = self.n_subs
        sub_customers = np.bincount(self.feeder_sub, weights=np.bincount(
            self.tx_feeder, weights=self.tx_customers, minlength=self.n_feeders), minlength=s)
        area = sub_customers / np.array([d.customers_per_km2 for d in _DENSITIES])[self.sub_density] * 1e6
        self.sub_radius = np.sqrt(area / np.pi)
        self.sub_xy = _pack(self.sub_radius, rng)

        n_at = self.per_sub[self.feeder_sub]
        spread = 2 * np.pi / n_at
        start = rng.uniform(0, 2 * np.pi, s)[self.feeder_sub]
        self.feeder_angle = start + spread * self.feeder_rank + rng.uniform(-0.125, 0.125, self.n_feeders) * spread
        self.feeder_length = self.sub_radius[self.feeder_sub] * rng.uniform(0.8, 1.0, self.n_feeders)
        section = np.array([d.section_m for d in _DENSITIES])[self.sub_density[self.feeder_sub]]
        # Enough stations for a lateral of about 8 transformers on each side of most of them.
        wanted = np.ceil(self.feeder_tx / 8 / 2) + 1
        self.feeder_stations = np.maximum.reduce([np.full(self.n_feeders, 8.0), np.round(self.feeder_length / section),
                                                  wanted]).astype(np.int64)
        self.sub_ids = np.array([f"S{k + 1:0{max(2, len(str(s)))}d}" for k in range(s)], dtype=object)
        self.feeder_ids = np.array([f"{self.sub_ids[k]}-F{r + 1}" for k, r in
                                    zip(self.feeder_sub.tolist(), self.feeder_rank.tolist())], dtype=object)
        laterals = np.minimum(np.maximum(1, np.round(self.feeder_tx / 8)), 2 * (self.feeder_stations - 1))
        self.feeder_laterals = laterals.astype(np.int64)
        bound = int((self.feeder_tx + laterals + 4 * self.feeder_stations + 30).max())
        self.bus_width = max(4, len(str(bound)))
        self.tx_width = max(4, len(str(int(self.feeder_tx.max()))))
        self.next_bus = np.zeros(self.n_feeders, dtype=np.int64)
        self.main: list[tuple[int, str, float, float]] = []  # outer three-phase buses: where ties may go
        self.spur_end: dict[tuple[int, int], tuple[str, np.ndarray]] = {}
        self.ties = np.zeros(self.n_feeders, dtype=np.int64)
        self.laterals: list[dict[str, Any]] = []

    def build_substations(self, rng: np.random.Generator) -> None:
        """Source, transformers, buses and bus tie of every substation."""
        self.feeder_lv: list[str] = [""] * self.n_feeders
        for s in range(self.n_subs):
            sid, (x, y) = self.sub_ids[s], self.sub_xy[s]
            s3 = math.exp(rng.uniform(math.log(1.5e9), math.log(5e9)))
            xr1, xr0 = rng.uniform(7, 12), rng.uniform(3, 6)
            slg = s3 * rng.uniform(0.7, 1.1)
            z1 = V_TRANSMISSION**2 / s3
            r1 = z1 / math.hypot(1, xr1)
            # |Z0 + 2 Z1| = 3 V^2 / S_slg fixes |Z0| once its angle is chosen.
            k, phi = 3 * V_TRANSMISSION**2 / slg, math.atan(xr0) - math.atan(xr1)
            z0 = -2 * z1 * math.cos(phi) + math.sqrt((2 * z1 * math.cos(phi)) ** 2 - 4 * z1**2 + k**2)
            r0 = z0 / math.hypot(1, xr0)
            hv = f"{sid}-HV"
            self._bus(hv, V_TRANSMISSION, Phase.ABC, x - 40.0, y)
            self.rows["source"].append({"id": sid, "bus": hv, "v_nom_v": V_TRANSMISSION,
                                        "v_pu": round(rng.uniform(1.0, 1.03), 4), "r1_ohm": r1, "x1_ohm": r1 * xr1,
                                        "r0_ohm": r0, "x0_ohm": r0 * xr0})
            feeders = np.flatnonzero(self.feeder_sub == s)
            n_tr = 1 if len(feeders) <= 4 else 2
            groups = np.array_split(feeders, n_tr)
            for t, group in enumerate(groups, start=1):
                lv, tr = f"{sid}-LV{t}", f"{sid}-TR{t}"
                self._bus(lv, V_PRIMARY, Phase.ABC, x, y + (15.0 if t == 1 else -15.0))
                peak = math.hypot(self.feeder_p[group].sum(), self.feeder_q[group].sum())
                mva = float(_pick(SUBSTATION_MVA, peak / 1e6))
                self.rows["transformer"].append({
                    "id": tr, "kind": TransformerKind.three_phase, "n_windings": 2, "bus": [hv, lv, ""],
                    "phases": [Phase.ABC, Phase.ABC, 0], "conn": [Conn.delta, Conn.wye, Conn.wye],
                    "v_rated_v": [V_TRANSMISSION, V_PRIMARY, np.nan], "s_rated_va": [mva * 1e6, mva * 1e6, np.nan],
                    "r_pct": [0.25, 0.25, 0.0], "x_hl_pct": 9.0, "no_load_loss_pct": 0.1, "imag_pct": 0.5,
                    "tap_min_pu": 0.9, "tap_max_pu": 1.1, "n_taps": 32})
                self.rows["regulator"].append({
                    "id": tr, "transformer": tr, "winding": 2, "v_set_v": 124.0, "band_v": 2.0,
                    "pt_ratio": V_PRIMARY_LN / 120.0, "ct_primary_a": round(mva * 1e6 / (math.sqrt(3) * V_PRIMARY)),
                    "delay_s": 30.0})
                for f in group:
                    self.feeder_lv[f] = lv
            if n_tr == 2:
                self._switch(f"{sid}-BT", f"{sid}-LV1", f"{sid}-LV2", Phase.ABC, SwitchKind.breaker, 2000.0,
                             25000.0, remote=True, open_=True)

    # feeders -------------------------------------------------------------------------------------

    def build_feeder(self, f: int, layout: np.random.Generator, electrical: np.random.Generator) -> None:
        """Breaker, trunk with its devices, capacitors, regulators, tie branches; plans the laterals."""
        fid, s = self.feeder_ids[f], int(self.feeder_sub[f])
        density = _DENSITIES[self.sub_density[s]]
        theta, length, stations = self.feeder_angle[f], self.feeder_length[f], int(self.feeder_stations[f])
        along = np.array([math.cos(theta), math.sin(theta)])
        across = np.array([-along[1], along[0]])
        origin = self.sub_xy[s]
        p_f, q_f = self.feeder_p[f], self.feeder_q[f]
        amps = math.hypot(p_f, q_f) / (math.sqrt(3) * V_PRIMARY)

        head = self._feeder_bus(f, V_PRIMARY, Phase.ABC, origin + 40.0 * along)
        pickup = int(max(200, round(2 * amps / 10) * 10))
        self._switch(f"{fid}-BKR", self.feeder_lv[f], head, Phase.ABC, SwitchKind.breaker, 1200.0, 25000.0,
                     remote=True, curve=f"51P {pickup}A U3 TD5")

        if self.flisr_ready:  # SW2 ahead of the tie branches
            sw1, vr, rcl, sw2, spur = _distinct(np.round(np.array(TRUNK_FLISR) * stations).astype(int), stations)
        else:
            sw1, vr, rcl, spur, sw2 = _distinct(np.round(np.array(TRUNK_STANDARD) * stations).astype(int), stations)
        z1 = _positive_sequence(TRUNK_OH)
        drop = (p_f * z1.real + q_f * z1.imag) * length / 2 / V_PRIMARY**2
        has_regulator = length >= LONG_FEEDER_M or drop >= 0.03
        cap_fixed, cap_switched = max(2, round(0.35 * stations)), max(3, round(0.7 * stations))
        n_ug = max(1, round(density.ug_trunk_share * stations))

        # Lateral slots: stations 2..J on both sides, more of them (and longer) far out, as area grows.
        radius = np.arange(stations + 1) * length / stations
        slot_station = np.repeat(np.arange(2, stations + 1), 2)
        slot_side = np.tile([1, -1], stations - 1)
        weight = radius[slot_station] / radius[slot_station].sum()
        m = int(self.feeder_laterals[f])
        chosen = np.sort(layout.choice(len(slot_station), m, replace=False, p=weight))
        n_tx = int(self.feeder_tx[f])
        per_lateral = 1 + layout.multinomial(n_tx - m, weight[chosen] / weight[chosen].sum())
        lateral_at = slot_station[chosen]
        share_beyond = np.array([per_lateral[lateral_at >= j].sum() for j in range(stations + 1)]) / n_tx

        wander = np.cumsum(layout.normal(0.0, 0.06 * density.section_m, stations + 1))
        wander[0] = 0.0
        prev, out_bus = head, {}
        out_xy: dict[int, np.ndarray] = {}
        for j in range(1, stations + 1):
            xy = origin + radius[j] * along + wander[j] * across
            ug = j <= n_ug
            bus = self._feeder_bus(f, V_PRIMARY, Phase.ABC, xy)
            line = self._line_into(f, prev, bus, Phase.ABC, TRUNK_UG if ug else TRUNK_OH,
                                   LineKind.underground if ug else LineKind.overhead)
            if j in (sw1, rcl, sw2) or (has_regulator and j == vr):
                out = self._feeder_bus(f, V_PRIMARY, Phase.ABC, xy)
                if j == rcl:
                    trip = int(max(100, round(2 * amps * share_beyond[j] / 10) * 10))
                    self._switch(f"{fid}-RCL", bus, out, Phase.ABC, SwitchKind.recloser, 630.0, 12500.0,
                                 remote=True, curve=f"2A2C {trip}A")
                elif j == vr:
                    self._regulator_bank(fid, bus, out, amps * max(share_beyond[j], 0.5), electrical)
                else:
                    remote = bool(electrical.random() < 0.5) or self.flisr_ready
                    self._switch(f"{fid}-SW{1 if j == sw1 else 2}", bus, out, Phase.ABC,
                                 SwitchKind.load_break_switch, 600.0, 600.0, remote=remote)
                bus = out
            if j in (cap_fixed, cap_switched):
                self._capacitor(fid, j == cap_switched, bus, line, q_f, electrical)
            out_bus[j], out_xy[j], prev = bus, xy, bus
        self.main += [(f, out_bus[j], *out_xy[j]) for j in range(stations // 2, stations + 1)]
        self._tie_branches(f, out_bus[spur], out_xy[spur], radius[spur], density)

        for k, c in enumerate(chosen.tolist()):
            j = int(slot_station[c])
            self.laterals.append({"feeder": f, "station": j, "tap": out_bus[j], "xy": out_xy[j],
                                  "side": int(slot_side[c]), "n": int(per_lateral[k]), "radius": radius[j]})

    def _tie_branches(self, f: int, bus: str, xy: np.ndarray, r_start: float, density: _Density) -> None:
        """Three-phase branches from the trunk towards both neighbouring feeders of the substation."""
        s = int(self.feeder_sub[f])
        mates = np.flatnonzero(self.feeder_sub == s)
        n, k = len(mates), int(self.feeder_rank[f])
        angles = self.feeder_angle[mates]
        for side, other in ((1, (k + 1) % n), (-1, (k - 1) % n)):
            gap = (angles[other] - angles[k]) % (2 * np.pi) if side == 1 else (angles[k] - angles[other]) % (2 * np.pi)
            boundary = angles[k] + side * gap / 2
            r_end = 0.6 * min(self.feeder_length[f], self.feeder_length[mates[other]])
            steps = max(2, round(abs(boundary - angles[k]) * r_start / density.section_m))
            prev = bus
            end_xy = xy
            for i in range(1, steps + 1):
                t = i / steps
                phi = angles[k] + (boundary - angles[k]) * t - (side * 12.0 / max(r_end, 1.0) if i == steps else 0.0)
                r = r_start + (r_end - r_start) * t
                end_xy = self.sub_xy[s] + r * np.array([math.cos(phi), math.sin(phi)])
                nxt = self._feeder_bus(f, V_PRIMARY, Phase.ABC, end_xy)
                self.main.append((f, nxt, *end_xy))
                self._line_into(f, prev, nxt, Phase.ABC, TRUNK_OH, LineKind.overhead)
                prev = nxt
            self.spur_end[(f, side)] = (prev, end_xy)

    def _regulator_bank(self, fid: str, bus: str, out: str, amps: float, rng: np.random.Generator) -> None:
        unit = float(_pick(REGULATOR_A, 1.25 * amps))
        for letter, phase in (("A", Phase.A), ("B", Phase.B), ("C", Phase.C)):
            tid = f"{fid}-VR-{letter}"
            self.rows["transformer"].append({
                "id": tid, "kind": TransformerKind.single_phase, "n_windings": 2, "bus": [bus, out, ""],
                "phases": [phase, phase, 0], "conn": [Conn.wye, Conn.wye, Conn.wye],
                "v_rated_v": [V_PRIMARY_LN, V_PRIMARY_LN, np.nan],
                "s_rated_va": [V_PRIMARY_LN * unit, V_PRIMARY_LN * unit, np.nan],
                "r_pct": [0.005, 0.005, 0.0], "x_hl_pct": 0.01, "tap_min_pu": 0.9, "tap_max_pu": 1.1,
                "n_taps": 32, "bank": f"{fid}-VR"})
            self.rows["regulator"].append({
                "id": tid, "transformer": tid, "winding": 2, "v_set_v": float(rng.choice([123.0, 124.0, 125.0])),
                "band_v": 2.0, "pt_ratio": V_PRIMARY_LN / 120.0, "ct_primary_a": unit, "delay_s": 45.0})

    def _capacitor(self, fid: str, switched: bool, bus: str, line: str, q_feeder: float,
                   rng: np.random.Generator) -> None:
        need = (0.45 if switched else 0.3) * q_feeder / 1e3
        if need < CAP_BANK_KVAR[0]:  # a feeder this light needs no bank of this kind
            return
        kvar = float(_pick(CAP_BANK_KVAR, need))
        cid = f"{fid}-C{2 if switched else 1}"
        self.rows["capacitor"].append({"id": cid, "bus": bus, "phases": Phase.ABC, "conn": Conn.wye,
                                       "v_rated_v": V_PRIMARY, "q_rated_var": [kvar * 1e3 / 3] * 3})
        if not switched:
            return
        kind = CapControlKind(int(rng.choice([CapControlKind.voltage, CapControlKind.kvar, CapControlKind.time],
                                             p=[0.55, 0.25, 0.2])))
        row: dict[str, Any] = {"id": cid, "capacitor": cid, "kind": kind, "element": f"line.{line}", "terminal": 1,
                               "delay_s": 30.0, "delay_off_s": 30.0}
        if kind == CapControlKind.voltage:
            row |= {"on_value": 118.0, "off_value": 126.0, "pt_ratio": V_PRIMARY_LN / 120.0}
        elif kind == CapControlKind.kvar:  # var flow at the primary (PT and CT ratio 1), as IEEE 8500
            # the band wider than the bank (1.35 x its rating), or the bank switching would hunt
            row |= {"on_value": 0.75 * kvar * 1e3, "off_value": -0.6 * kvar * 1e3, "pt_ratio": 1.0, "ct_ratio": 1.0,
                    "voltage_override": True, "v_min_v": 7110.0, "v_max_v": 7740.0}
        else:
            row |= {"on_value": 7.0, "off_value": 22.0}
        self.rows["cap_control"].append(row)

    def build_ties(self, electrical: np.random.Generator) -> None:
        """Normally open ties: between neighbouring feeders of a substation and across substations."""
        for f in range(self.n_feeders):
            s = int(self.feeder_sub[f])
            mates = np.flatnonzero(self.feeder_sub == s)
            g = int(mates[(int(self.feeder_rank[f]) + 1) % len(mates)])
            self._tie(f, self.spur_end[(f, 1)][0], self.spur_end[(g, -1)][0], electrical)
        # Across substations: a tie line between the nearest outer three-phase buses of the two.
        feeder = np.array([m[0] for m in self.main])
        bus = np.array([m[1] for m in self.main], dtype=object)
        xy = np.array([m[2:] for m in self.main])
        sub = self.feeder_sub[feeder]
        for a, b in _neighbours(self.sub_xy, self.sub_radius):
            ia, ib = np.flatnonzero(sub == a), np.flatnonzero(sub == b)
            gaps = np.hypot(*(xy[ia][:, None, :] - xy[ib][None, :, :]).transpose(2, 0, 1))
            i, j = np.unravel_index(np.argmin(gaps), gaps.shape)
            gap, i, j = float(gaps[i, j]), int(ia[i]), int(ib[j])
            if gap > 0.5 * (self.sub_radius[a] + self.sub_radius[b]):
                continue
            fa = int(feeder[i])
            near_b = xy[j] + (xy[i] - xy[j]) * min(1.0, 10.0 / max(gap, 1e-9))
            tie_bus = self._feeder_bus(fa, V_PRIMARY, Phase.ABC, near_b)
            self._line_into(fa, str(bus[i]), tie_bus, Phase.ABC, TRUNK_OH, LineKind.overhead)
            self._tie(fa, tie_bus, str(bus[j]), electrical)

    def _tie(self, f: int, bus: str, other: str, rng: np.random.Generator) -> None:
        """A normally open load-break switch from ``bus`` (on feeder ``f``) to another feeder's bus."""
        self.ties[f] += 1
        self._switch(f"{self.feeder_ids[f]}-TIE{self.ties[f]}", bus, other, Phase.ABC, SwitchKind.load_break_switch,
                     600.0, 600.0, remote=bool(rng.random() < 0.6) or self.flisr_ready, open_=True)

    # laterals, transformers, services (vectorised) -----------------------------------------------

    def build_laterals(self, layout: np.random.Generator) -> None:
        """Fuses, lateral lines, service transformers, secondaries and loads, all as arrays."""
        lat = self.laterals
        m = len(lat)
        l_feeder = np.array([d["feeder"] for d in lat])
        l_n = np.array([d["n"] for d in lat])
        l_xy = np.array([d["xy"] for d in lat])
        l_radius = np.array([d["radius"] for d in lat])
        l_side = np.array([d["side"] for d in lat])
        density = self.sub_density[self.feeder_sub[l_feeder]]
        assert int(l_n.sum()) == self.n_tx

        # Phases: a share of two-phase laterals, then each lateral onto the least-loaded phases.
        two = (layout.random(m) < 0.12) & (l_n >= 4)
        l_phases = np.zeros(m, dtype=np.int64)
        first = np.concatenate([[0], np.cumsum(np.bincount(l_feeder, minlength=self.n_feeders))])
        load_of = np.bincount(np.repeat(np.arange(m), l_n), weights=self.tx_p, minlength=m)
        for f in range(self.n_feeders):
            seen = np.zeros(3)
            idx = np.arange(first[f], first[f + 1])
            for i in idx[np.argsort(-load_of[idx], kind="stable")].tolist():
                order = np.argsort(seen, kind="stable")
                use = order[:2] if two[i] else order[:1]
                seen[use] += load_of[i] / len(use)
                l_phases[i] = int(sum(1 << int(u) for u in use))
        ug = layout.random(m) < np.array([d.ug_lateral_share for d in _DENSITIES])[density]

        # Geometry: a lateral runs across the trunk, transformers evenly spaced along it.
        n_at = self.per_sub[self.feeder_sub[l_feeder]]
        half_width = l_radius * np.sin(np.minimum(np.pi / n_at, np.pi / 3)) * 0.9
        s_min = np.array([d.tx_spacing_m[0] for d in _DENSITIES])[density]
        s_max = np.array([d.tx_spacing_m[1] for d in _DENSITIES])[density]
        spacing = np.clip(half_width / l_n, s_min, s_max) * layout.uniform(0.85, 1.15, m)
        direction = self.feeder_angle[l_feeder] + l_side * np.pi / 2 + layout.uniform(-0.08, 0.08, m)
        unit = np.column_stack([np.cos(direction), np.sin(direction)])
        head_xy = l_xy + 8.0 * unit

        t_lat = np.repeat(np.arange(m), l_n)
        t_first = np.cumsum(l_n) - l_n
        t_ord = np.arange(self.n_tx) - t_first[t_lat] + 1  # 1..n along the lateral
        t_xy = head_xy[t_lat] + (t_ord * spacing[t_lat])[:, None] * unit[t_lat] + \
            layout.normal(0.0, 0.08, (self.n_tx, 1)) * spacing[t_lat, None] * unit[t_lat][:, ::-1] * [-1, 1]
        t_xy = np.round(t_xy, 1)
        head_xy = np.round(head_xy, 1)

        # Numbers: after the skeleton's buses, each lateral takes 1 + n bus numbers in order.
        l_base = self.next_bus[l_feeder]
        size = 1 + l_n
        cum = np.cumsum(size) - size
        l_head_no = l_base + cum - cum[first[l_feeder]]
        t_bus_no = l_head_no[t_lat] + t_ord
        tcum = np.cumsum(l_n) - l_n
        t_no = (tcum - tcum[first[l_feeder]])[t_lat] + t_ord  # transformer number within its feeder
        l_no = np.arange(m) - first[l_feeder] + 1

        fid = self.feeder_ids
        w, tw = self.bus_width, self.tx_width
        t_fid = fid[self.tx_feeder]
        head_bus = _ids([f"{p}-B" for p in fid[l_feeder]], l_head_no, w)
        t_bus = _ids([f"{p}-B" for p in t_fid], t_bus_no, w)
        up_bus = np.where(t_ord == 1, head_bus[t_lat], np.roll(t_bus, 1))
        t_line = _ids([f"{p}-L" for p in t_fid], t_bus_no, w)
        t_id = _ids([f"{p}-T" for p in t_fid], t_no, tw)
        x_bus = _ids([f"{p}-X" for p in t_fid], t_no, tw)
        s_bus = _ids([f"{p}-S" for p in t_fid], t_no, tw)
        sl_id = _ids([f"{p}-SL" for p in t_fid], t_no, tw)
        ld_id = _ids([f"{p}-LD" for p in t_fid], t_no, tw)
        fuse_id = _ids([f"{p}-FU" for p in fid[l_feeder]], l_no, max(3, len(str(int(l_no.max())))))

        # Transformer phase: one of its lateral's phases, alternating along two-phase laterals.
        low_bit = l_phases & -l_phases
        t_phase = np.where((t_ord % 2 == 0) & (l_phases != low_bit)[t_lat], (l_phases - low_bit)[t_lat],
                           low_bit[t_lat]).astype(np.int8)

        # Fuse links: 1.3 times the lateral's peak current per phase.
        lat_amps = np.hypot(np.bincount(t_lat, weights=self.tx_p, minlength=m),
                            np.bincount(t_lat, weights=self.tx_q, minlength=m)) / (V_PRIMARY_LN * (1 + two))
        link = _pick(FUSE_LINKS_A, 1.3 * lat_amps).astype(int)

        prev_xy = np.where((t_ord == 1)[:, None], head_xy[t_lat], np.roll(t_xy, 1, axis=0))
        t_len = np.maximum(5.0, np.round(np.hypot(*(t_xy - prev_xy).T) * 1.05, 1))
        heavy = np.hypot(self.tx_p, self.tx_q) > HEAVY_SECONDARY_VA
        drop_len = np.where(heavy, layout.uniform(5.0, 15.0, self.n_tx), layout.uniform(
            np.array([d.triplex_m[0] for d in _DENSITIES])[density[t_lat]],
            np.array([d.triplex_m[1] for d in _DENSITIES])[density[t_lat]]))
        drop_side = np.where(t_ord % 2 == 0, 1.0, -1.0)[:, None] * unit[t_lat][:, ::-1] * [-1, 1]
        s_xy = np.round(t_xy + drop_len[:, None] * drop_side, 1)
        drop_len = np.round(drop_len, 1)

        n_t = self.n_tx
        t_phases_l = l_phases[t_lat].astype(np.int8)
        self.bulk["bus"].append(Table(SCHEMAS["bus"], {
            "id": np.concatenate([head_bus, t_bus, x_bus, s_bus]),
            "v_nom_v": np.concatenate([np.full(m + n_t, V_PRIMARY), np.full(2 * n_t, V_SECONDARY)]),
            "phases": np.concatenate([l_phases.astype(np.int8), t_phases_l, np.full(2 * n_t, Phase.S12, np.int8)]),
            "x": np.concatenate([head_xy[:, 0], t_xy[:, 0], t_xy[:, 0], s_xy[:, 0]]),
            "y": np.concatenate([head_xy[:, 1], t_xy[:, 1], t_xy[:, 1], s_xy[:, 1]]),
        }))
        codes = np.array([LATERAL_CODES[(1 + int(t), bool(u))] for t, u in zip(two, ug)], dtype=object)
        self.bulk["line"].append(Table(SCHEMAS["line"], {
            "id": np.concatenate([t_line, sl_id]),
            "from_bus": np.concatenate([up_bus, x_bus]),
            "to_bus": np.concatenate([t_bus, s_bus]),
            "phases": np.concatenate([t_phases_l, np.full(n_t, Phase.S12, np.int8)]),
            "code": np.concatenate([codes[t_lat], np.where(heavy, TRIPLEX_HEAVY, TRIPLEX).astype(object)]),
            "length_m": np.concatenate([t_len, drop_len]),
            "kind": np.concatenate([np.where(ug[t_lat], LineKind.underground, LineKind.overhead),
                                    np.full(n_t, LineKind.triplex)]).astype(np.int8),
        }))
        self.bulk["switch"].append(Table(SCHEMAS["switch"], {
            "id": fuse_id,
            "from_bus": np.array([d["tap"] for d in lat], dtype=object),
            "to_bus": head_bus,
            "phases": l_phases.astype(np.int8),
            "kind": np.full(m, SwitchKind.fuse, np.int8),
            "rated_a": link.astype(float),
            "breaking_a": np.full(m, 10000.0),
            "curve": np.array([f"{k}T" for k in link.tolist()], dtype=object),
        }))
        kva = self.tx_kva * 1e3
        self.bulk["transformer"].append(Table(SCHEMAS["transformer"], {
            "id": t_id,
            "kind": np.full(n_t, TransformerKind.center_tap, np.int8),
            "n_windings": np.full(n_t, 3),
            "bus": np.column_stack([t_bus, x_bus, x_bus]),
            "phases": np.column_stack([t_phase, np.full(n_t, Phase.S1, np.int8), np.full(n_t, Phase.S2, np.int8)]),
            "conn": np.zeros((n_t, 3), np.int8),
            "v_rated_v": np.broadcast_to([V_PRIMARY_LN, 120.0, 120.0], (n_t, 3)).copy(),
            "s_rated_va": np.column_stack([kva, kva, kva]),
            "r_pct": np.broadcast_to([0.6, 1.2, 1.2], (n_t, 3)).copy(),  # IEEE 8500-node CT codes
            "x_hl_pct": np.full(n_t, 2.04),
            "x_ht_pct": np.full(n_t, 2.04),
            "x_lt_pct": np.full(n_t, 1.36),
            "no_load_loss_pct": np.full(n_t, 0.2),
            "imag_pct": np.full(n_t, 0.5),
            "tap_min_pu": np.full(n_t, 0.95),  # no-load taps, +-2 x 2.5 %
            "tap_max_pu": np.full(n_t, 1.05),
            "n_taps": np.full(n_t, 4),
        }))
        split = np.column_stack([self.tx_split, 1 - self.tx_split, np.zeros(n_t)])
        self.bulk["load"].append(Table(SCHEMAS["load"], {
            "id": ld_id,
            "bus": s_bus,
            "phases": np.full(n_t, Phase.S12, np.int8),
            "v_rated_v": np.full(n_t, V_SECONDARY),
            "p_w": np.round(split * self.tx_p[:, None], 1),
            "q_var": np.round(split * self.tx_q[:, None], 1),
            "cls": self.tx_cls,
        }))
        self.t_id, self.s_bus, self.ld_id = t_id, s_bus, ld_id
        self.tx_lateral = t_lat
        self.n_laterals = m

    def name_customers(self, rng: np.random.Generator, pools: _Pools) -> None:
        """Service points: ids, meter numbers, names and addresses composed from the pools."""
        n, t = self.customers, self.sp_tx
        width = max(7, len(str(n)))
        sp_id = np.array([f"SP{i:0{width}d}" for i in range(1, n + 1)], dtype=object)
        digits = max(8, len(str(4 * n)))
        serial = rng.choice(9 * 10 ** (digits - 1), n, replace=False) + 10 ** (digits - 1)
        meter = np.array([f"M{s}" for s in serial.tolist()], dtype=object)

        cls, critical = self.sp_cls, self.sp_critical
        sub = self.feeder_sub[self.tx_feeder[t]]
        names = np.empty(n, dtype=object)
        home = cls == CustomerClass.residential
        k = int(home.sum())
        first = pools.first[rng.integers(len(pools.first), size=k)]
        last = pools.last[rng.integers(len(pools.last), size=k)]
        names[home] = [f"{a} {b}" for a, b in zip(first.tolist(), last.tolist())]
        shop = cls == CustomerClass.commercial
        names[shop] = pools.companies[rng.integers(len(pools.companies), size=int(shop.sum()))]
        plant = cls == CustomerClass.industrial
        kinds = np.array(_INDUSTRIES, dtype=object)[rng.integers(len(_INDUSTRIES), size=int(plant.sum()))]
        owners = pools.last[rng.integers(len(pools.last), size=int(plant.sum()))]
        names[plant] = [f"{a} {b}" for a, b in zip(owners.tolist(), kinds.tolist())]
        facility = critical & ~home
        what = np.array(_FACILITIES, dtype=object)[rng.integers(len(_FACILITIES), size=int(facility.sum()))]
        names[facility] = [f"{c} {w}" for c, w in zip(pools.cities[sub[facility]].tolist(), what.tolist())]

        # Addresses: one street per lateral, house numbers rising along it, the substation's town.
        lat = self.tx_lateral[t]
        street = pools.streets[rng.integers(len(pools.streets), size=self.n_laterals)]
        base = rng.integers(1, 90, size=self.n_laterals) * 100
        first_of_lateral = np.cumsum(np.bincount(lat, minlength=self.n_laterals))
        first_of_lateral = np.concatenate([[0], first_of_lateral[:-1]])
        house = base[lat] + np.arange(n) - first_of_lateral[lat]  # consecutive: alternate sides
        addresses = [f"{h} {s}, {p}" for h, s, p in zip(house.tolist(), street[lat].tolist(),
                                                       pools.places[sub].tolist())]
        self.bulk["service_point"].append(Table(SCHEMAS["service_point"], {
            "id": sp_id,
            "meter": meter,
            "transformer": self.t_id[t],
            "bus": self.s_bus[t],
            "load": self.ld_id[t],
            "name": names,
            "address": np.array(addresses, dtype=object),
            "cls": cls,
            "critical": critical,
        }))

    # fault indicators ----------------------------------------------------------------------------

    def place_fault_indicators(self, rng: np.random.Generator) -> None:
        """Fault circuit indicators on the trunks and at the major taps (see the module docstring),
        from their own stream ``rng``: the rest of the territory does not depend on them."""
        down: dict[str, list[tuple[str, Any]]] = {}  # bus: edges leaving it under normal states
        for r in self.rows["line"]:
            down.setdefault(r["from_bus"], []).append(("line", r))
        for r in self.rows["switch"]:
            if not r["normal_open"] and r["kind"] != SwitchKind.breaker:
                down.setdefault(r["from_bus"], []).append(("device", r["to_bus"]))
        for r in self.rows["transformer"]:
            if r.get("bank"):  # a line regulator: the trunk runs on through it
                down.setdefault(r["bus"][0], []).append(("through", r["bus"][1]))
        m = self.n_laterals
        lines = self.bulk["line"][0]  # the laterals' primary lines first, in lateral order
        n_tx = np.bincount(self.tx_lateral, minlength=m)
        first = np.cumsum(n_tx) - n_tx
        lat_ph = lines["phases"][first].astype(np.int64)
        lat_va = np.hypot(np.bincount(self.tx_lateral, weights=self.tx_p, minlength=m),
                          np.bincount(self.tx_lateral, weights=self.tx_q, minlength=m))
        on = (lat_ph[:, None] >> np.arange(3)) & 1  # the phases each lateral takes
        lat_va3 = lat_va[:, None] * on / on.sum(axis=1, keepdims=True)  # VA per phase
        tap_va: dict[str, np.ndarray] = {}
        for d, va in zip(self.laterals, lat_va3):
            tap_va[d["tap"]] = tap_va.get(d["tap"], 0.0) + va
        heads = {r["id"]: r["to_bus"] for r in self.rows["switch"] if r["id"].endswith("-BKR")}
        trunk_min, lateral_min = FCI_TRIP_MIN_A
        placed: list[list[tuple[str, int, float, bool]]] = [[] for _ in range(self.n_feeders)]  # line, phases, A
        for f in range(self.n_feeders):
            head = heads[f"{self.feeder_ids[f]}-BKR"]
            order, kids, seen = [], {}, {head}
            stack = [head]
            while stack:  # the feeder's three-phase tree, parents before children
                b = stack.pop()
                order.append(b)
                kids[b] = []
                for kind, x in down.get(b, []):
                    c = x["to_bus"] if kind == "line" else x
                    if c not in seen:
                        seen.add(c)
                        kids[b].append((kind, x, c))
                        stack.append(c)
            va, below_m = {}, {}
            for b in reversed(order):  # what hangs below each bus: load (VA per phase) and line length (m)
                va[b] = tap_va.get(b, np.zeros(3)) + sum((va[c] for _, _, c in kids[b]), np.zeros(3))
                below_m[b] = sum(below_m[c] + (x["length_m"] if k == "line" else 0.0) for k, x, c in kids[b])
            dist, gap, fresh = {head: 0.0}, {head: float(rng.uniform(*FCI_TRUNK_SPACING_M))}, {head: False}
            for b in order:
                long_branches = [x for k, x, c in kids[b] if k == "line" and x["length_m"] + below_m[c] >= FCI_BRANCH_MIN_M]
                branching = len(long_branches) >= 2
                for kind, x, c in kids[b]:
                    if kind != "line":  # past a sectionalising device the next line gets one; a regulator: on
                        dist[c], gap[c], fresh[c] = (0.0, gap[b], True) if kind == "device" else (dist[b], gap[b], fresh[b])
                        continue
                    long = x["length_m"] + below_m[c] >= FCI_BRANCH_MIN_M
                    if long and (fresh[b] or (branching and x in long_branches) or dist[b] >= gap[b]):
                        amps = float(va[c].max()) / V_PRIMARY_LN  # the most loaded phase
                        placed[f].append((x["id"], int(x["phases"]), float(_pick(FCI_TRIP_A, max(2 * amps, trunk_min))),
                                          True, bool(fresh[b])))
                        dist[c], gap[c] = x["length_m"], float(rng.uniform(*FCI_TRUNK_SPACING_M))
                    else:
                        dist[c], gap[c] = dist[b] + x["length_m"], gap[b]
                    fresh[c] = False
        lat_m = np.bincount(self.tx_lateral, weights=lines["length_m"][: self.n_tx], minlength=m)
        major = (lat_m >= FCI_MAJOR_TAP[0]) | (n_tx >= FCI_MAJOR_TAP[1])
        for k in np.flatnonzero(major).tolist():
            ph = int(lat_ph[k])
            amps = float(lat_va3[k].max()) / V_PRIMARY_LN
            placed[self.laterals[k]["feeder"]].append((str(lines.ids[first[k]]), ph,
                                                      float(_pick(FCI_TRIP_A, max(2 * amps, lateral_min))), False,
                                                      False))
        rows = [(f"{self.feeder_ids[f]}-FCI{k + 1:02d}", *row) for f in range(self.n_feeders)
                for k, row in enumerate(placed[f])]
        if not rows:
            return
        ids, line, phases, trip, trunk, past_device = (np.array(c, dtype=object) for c in zip(*rows))
        trunk = trunk.astype(bool)
        n = len(ids)
        remote = rng.random(n) < np.where(trunk, FCI_REMOTE_SHARE[0], FCI_REMOTE_SHARE[1])
        if self.flisr_ready:  # the sensors of the automated switches' controls, reporting through their RTU
            remote |= past_device.astype(bool)
        mode = rng.choice(len(FCI_RESETS), n, p=[share for _, _, share in FCI_RESETS])
        self.bulk["fault_indicator"].append(Table(SCHEMAS["fault_indicator"], {
            "id": ids, "line": line, "terminal": np.ones(n, np.int64), "phases": phases.astype(np.int8),
            "trip_a": trip.astype(float), "reset": np.array([int(FCI_RESETS[k][0]) for k in mode], np.int8),
            "reset_s": np.array([FCI_RESETS[k][1] for k in mode]), "remote": remote,
        }))

    # assembly ------------------------------------------------------------------------------------

    def network(self, name: str) -> Network:
        tables: dict[str, Table] = {"line_code": standard_line_codes()}
        for t in SCHEMAS:
            if t == "line_code":
                continue
            parts = ([_fill_rows(t, self.rows[t])] if self.rows[t] else []) + self.bulk[t]
            if parts:
                tables[t] = Table.concat(parts) if len(parts) > 1 else parts[0]
        return Network.from_tables(
            name, tables, voltage_bases_v=(V_TRANSMISSION, V_PRIMARY, V_SECONDARY), coord_units="m",
            origin="generated",
            notes=(f"generated by twin.world.territory.generate_territory({self.customers}, seed={self.seed})",),
        )

    # row helpers ---------------------------------------------------------------------------------

    def _bus(self, bus: str, v: float, phases: int, x: float, y: float) -> str:
        x, y = round(float(x), 1), round(float(y), 1)
        self.rows["bus"].append({"id": bus, "v_nom_v": v, "phases": int(phases), "x": x, "y": y})
        self.bus_xy[bus] = (x, y)
        return bus

    def _feeder_bus(self, f: int, v: float, phases: int, xy: np.ndarray) -> str:
        number = int(self.next_bus[f])
        self.next_bus[f] += 1
        return self._bus(f"{self.feeder_ids[f]}-B{number:0{self.bus_width}d}", v, phases, xy[0], xy[1])

    def _line_into(self, f: int, from_bus: str, to_bus: str, phases: int, code: str, kind: LineKind) -> str:
        """A line named after the bus it feeds (line ``-L0123`` feeds bus ``-B0123``), 5 % longer
        than the straight distance (routes follow roads)."""
        (xa, ya), (xb, yb) = self.bus_xy[from_bus], self.bus_xy[to_bus]
        length = max(5.0, round(math.hypot(xb - xa, yb - ya) * 1.05, 1))
        line = f"{self.feeder_ids[f]}-L{to_bus.rsplit('-B', 1)[1]}"
        self.rows["line"].append({"id": line, "from_bus": from_bus, "to_bus": to_bus, "phases": int(phases),
                                  "code": code, "length_m": length, "kind": int(kind)})
        return line

    def _switch(self, sid: str, a: str, b: str, phases: int, kind: SwitchKind, rated: float, breaking: float, *,
                remote: bool = False, open_: bool = False, curve: str = "") -> None:
        self.rows["switch"].append({"id": sid, "from_bus": a, "to_bus": b, "phases": int(phases), "kind": int(kind),
                                    "normal_open": open_, "open": open_, "rated_a": rated, "breaking_a": breaking,
                                    "remote": remote, "curve": curve})


def _pack(radius: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Centres of discs placed in order, each as near the origin as it fits beside those before.

    Neighbouring service areas may overlap by a tenth of their radii, as real ones interleave.
    """
    golden = np.pi * (3.0 - math.sqrt(5.0))
    xy = np.zeros((len(radius), 2))
    for i in range(1, len(radius)):
        angles = i * golden + np.linspace(0.0, 2 * np.pi, 48, endpoint=False)
        ray = np.column_stack([np.cos(angles), np.sin(angles)])
        need = 0.9 * (radius[:i] + radius[i])
        r = 0.0
        while True:
            r += 0.1 * radius[i]
            gap = np.hypot(*(r * ray[:, None, :] - xy[None, :i, :]).transpose(2, 0, 1))
            fits = np.flatnonzero((gap >= need).all(axis=1))
            if len(fits):
                xy[i] = r * ray[fits[0]]
                break
    jitter = rng.uniform(-0.03, 0.03, xy.shape) * radius[:, None]
    return np.round(xy + jitter, 1)


def _distinct(at: np.ndarray, stations: int) -> list[int]:
    """Station numbers made strictly increasing and within 2..stations."""
    out, last = [], 1
    for a in at.tolist():
        last = min(max(a, last + 1), stations)
        out.append(last)
    return out


def _positive_sequence(code_id: str) -> complex:
    """Positive-sequence impedance (ohm/m) of a three-phase code, as if transposed."""
    return sequence_impedances(next(c for c in _codes() if c.id == code_id).z_ohm_per_m)[1]


def _neighbours(xy: np.ndarray, radius: np.ndarray) -> list[tuple[int, int]]:
    """Pairs of substations next to each other (Delaunay edges not much longer than their radii)."""
    s = len(xy)
    if s < 2:
        return []
    if s == 2:
        pairs = {(0, 1)}
    else:
        from scipy.spatial import Delaunay

        tri = Delaunay(xy)
        pairs = {(int(min(a, b)), int(max(a, b))) for simplex in tri.simplices.tolist()
                 for a, b in ((simplex[0], simplex[1]), (simplex[1], simplex[2]), (simplex[0], simplex[2]))}
    return [(a, b) for a, b in sorted(pairs)
            if np.hypot(*(xy[a] - xy[b])) <= 1.6 * (radius[a] + radius[b])]
