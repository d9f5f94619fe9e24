"""Time-current characteristics of protective devices: relays, reclosers, fuses, sectionalisers.

Every curve is a pure function over an array of currents (amperes, the largest phase) returning
seconds, with ``np.inf`` where the device does not operate. Settings are frozen dataclasses; the
curve constants and the fuse-link table are data in this module, apart from the functions.

Relays (IEEE C37.112-2018, IEC 60255-151)
-----------------------------------------
An inverse-time element (51) with pickup current ``I_p`` and time dial ``TD`` operates after

    t = TD * (A / (M^p - 1) + B)        for M = I / I_p > 1

and, emulating an induction disk, resets after ``t_r = TD * tr / (1 - M^2)`` for M < 1 (a full
reset from trip travel to zero: ``TD * tr`` seconds with no current). C37.112 gives the form, the
integral equation for varying currents (``sum dt / t(I) = 1``, used by the sequence engine in
:mod:`twin.field_devices.protection`) and the reset. The curves:

====  ==========================  ========  =======  =====  ======  ================================
name  shape                       A         B        p      tr      source
====  ==========================  ========  =======  =====  ======  ================================
U1    moderately inverse          0.0104    0.0226   0.02   1.08    US curves, TD 0.5-15
U2    inverse                     5.95      0.180    2.0    5.95    (the C37.112 form as US
U3    very inverse                3.88      0.0963   2.0    3.88    microprocessor relays set it;
U4    extremely inverse           5.64      0.02434  2.0    5.64    about 1/5 of the table below)
U5    short-time inverse          0.00342   0.00262  0.02   0.323
MI    moderately inverse          0.0515    0.1140   0.02   4.85    C37.112 table, as OpenDSS's
VI    very inverse                19.61     0.491    2.0    21.6    'mod_inv', 'very_inv' and
EI    extremely inverse           28.2      0.1217   2.0    29.1    'ext_inv' TCC curves tabulate it
C1    standard inverse            0.14      0        0.02   13.5    IEC 60255-151
C2    very inverse                13.5      0        1.0    47.3
C3    extremely inverse           80.0      0        2.0    80.0
C4    long-time inverse           120.0     0        1.0    120.0
====  ==========================  ========  =======  =====  ======  ================================

(Older relays and GridLAB-D give U4 as A = 5.67, B = 0.0352.) An instantaneous element (50)
operates when the current reaches its pickup, after an optional definite delay. A relay trips
its breaker, which interrupts the current ``breaker_s`` later (3 cycles by default).

Reclosers
---------
A recloser's curves have the same form with ``TD = 1`` and ``M = I / minimum trip``; the times
are clearing times. The classic hydraulic-recloser curves are modelled by fits of that form:
'A' (fast) and 'D' fit OpenDSS's built-in TCC curves 'a' and 'd' (within 4 % between 2.5 and 14
times minimum trip); 'B' and 'C' (delayed) are fits giving 0.5 s and 2.0 s at twice minimum trip
and 0.1 s and 0.25 s at ten times, the shape of the published hydraulic curves. A sequence such
as ``"2A2C"`` is two operations on A, two on C, then lockout; reclose intervals default to
OpenDSS's 0.5 s, 2 s, 2 s and the reset time to 15 s.

Fuses (ANSI C37.43 expulsion links)
-----------------------------------
:data:`FUSE_LINKS` holds, for K (fast) and T (slow) links of the preferred and intermediate
ratings 6 ... 200 A, the minimum and maximum melting currents at 300 s (600 s above 100 A),
10 s and 0.1 s. The minimum-melt and maximum-melt curves interpolate those three points
log-log; above the 0.1 s point they continue at constant I^2 t (slope -2 in log-log: melting is
adiabatic at high currents). A link does not melt below its minimum melting current at 300 /
600 s (``inf``); the maximum-melt curve continues its first segment down to that current. Total
clearing adds the arcing time: ``t_tc = max(1.1 * t_max_melt, t_max_melt + 1 cycle)`` (one 60 Hz
cycle of arcing at high currents, 10 % of the melting time at long times).

Sectionalisers count the interruptions of an upstream recloser while they carried at least their
minimum actuating current, and open in the dead time after the last count (default 3 counts).

>>> relay = RelaySettings(pickup_a=400.0, curve=CURVES["U3"])
>>> round(float(relay_operate_s(relay, 2000.0)), 4)  # M = 5: 3.88 / 24 + 0.0963
0.258
>>> fuse = FuseSettings(LinkType.T, 40)
>>> fuse_min_melt_s(fuse, [79.0, 80.0, 120.0, 1040.0]).round(9).tolist()  # C37.43: 80 A, 120 A, 1040 A
[inf, 300.0, 10.0, 0.1]
>>> settings_from_switch(SwitchKind.recloser, "2A2C 200A", 630.0).min_trip_a
200.0
"""

from __future__ import annotations

import enum
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Union

import numpy as np
from numpy.typing import ArrayLike

from twin.grid.schema import SwitchKind

__all__ = [
    "InverseCurve",
    "CURVES",
    "RECLOSER_CURVES",
    "LinkType",
    "FuseLink",
    "FUSE_LINKS",
    "FUSE_RATINGS_A",
    "RelaySettings",
    "RecloserSettings",
    "FuseSettings",
    "SectionaliserSettings",
    "DeviceSettings",
    "inverse_time_s",
    "reset_time_s",
    "relay_operate_s",
    "recloser_clear_s",
    "fuse_min_melt_s",
    "fuse_max_melt_s",
    "fuse_total_clear_s",
    "clearing_time_s",
    "min_operating_a",
    "parse_sequence",
    "settings_from_switch",
]

CYCLE_S = 1.0 / 60.0


@dataclass(frozen=True)
class InverseCurve:
    """``t = TD * (a / (M^p - 1) + b)`` for M > 1; reset ``TD * tr / (1 - M^2)`` for M < 1 (seconds)."""

    name: str
    a: float
    b: float
    p: float
    tr: float
    standard: str = ""


def _curves(*curves: InverseCurve) -> Mapping[str, InverseCurve]:
    return MappingProxyType({c.name: c for c in curves})


CURVES: Mapping[str, InverseCurve] = _curves(
    InverseCurve("U1", 0.0104, 0.0226, 0.02, 1.08, "C37.112 US moderately inverse"),
    InverseCurve("U2", 5.95, 0.180, 2.0, 5.95, "C37.112 US inverse"),
    InverseCurve("U3", 3.88, 0.0963, 2.0, 3.88, "C37.112 US very inverse"),
    InverseCurve("U4", 5.64, 0.02434, 2.0, 5.64, "C37.112 US extremely inverse"),
    InverseCurve("U5", 0.00342, 0.00262, 0.02, 0.323, "C37.112 US short-time inverse"),
    InverseCurve("MI", 0.0515, 0.1140, 0.02, 4.85, "C37.112 moderately inverse"),
    InverseCurve("VI", 19.61, 0.491, 2.0, 21.6, "C37.112 very inverse"),
    InverseCurve("EI", 28.2, 0.1217, 2.0, 29.1, "C37.112 extremely inverse"),
    InverseCurve("C1", 0.14, 0.0, 0.02, 13.5, "IEC 60255-151 standard inverse"),
    InverseCurve("C2", 13.5, 0.0, 1.0, 47.3, "IEC 60255-151 very inverse"),
    InverseCurve("C3", 80.0, 0.0, 2.0, 80.0, "IEC 60255-151 extremely inverse"),
    InverseCurve("C4", 120.0, 0.0, 1.0, 120.0, "IEC 60255-151 long-time inverse"),
)
"""Relay inverse-time curves by name (time dial 1)."""

RECLOSER_CURVES: Mapping[str, InverseCurve] = _curves(
    InverseCurve("A", 0.147, 0.0435, 2.0, 0.0, "fast, fit of OpenDSS 'a'"),
    InverseCurve("B", 1.24, 0.0875, 2.0, 0.0, "delayed (intermediate), hydraulic-recloser shape"),
    InverseCurve("C", 5.4, 0.20, 2.0, 0.0, "delayed, hydraulic-recloser shape"),
    InverseCurve("D", 3.68, 0.001, 2.0, 0.0, "delayed, fit of OpenDSS 'd'"),
)
"""Recloser curves by letter, in multiples of minimum trip (clearing times, time dial 1)."""

# OpenDSS's default TCC curve names that a relay or recloser row may carry.
_OPENDSS_RELAY = {"mod_inv": "MI", "very_inv": "VI", "ext_inv": "EI"}
_OPENDSS_RECLOSER = {"a": "A", "b": "B", "c": "C", "d": "D"}


class LinkType(enum.Enum):
    """Expulsion fuse-link speed (ANSI C37.43): K fast, T slow."""

    K = "K"
    T = "T"


@dataclass(frozen=True)
class FuseLink:
    """C37.43 melting currents (A) of one link: at ``long_s`` (300 or 600 s), 10 s and 0.1 s."""

    link: LinkType
    rating_a: int
    long_s: float
    min_a: tuple[float, float, float]  # minimum melting current at long_s, 10 s, 0.1 s
    max_a: tuple[float, float, float]  # maximum melting current at long_s, 10 s, 0.1 s


# ANSI C37.43 melting currents: rating, then (minimum, maximum) at 300 s (600 s above 100 A),
# at 10 s and at 0.1 s, in amperes. Preferred ratings 6, 10, 15, 25, 40, 65, 100, 140, 200 and
# intermediate 8, 12, 20, 30, 50, 80.
_K_TABLE = (
    (6, 12.0, 14.4, 13.5, 20.5, 72.0, 86.0),
    (8, 15.0, 18.0, 18.0, 27.0, 97.0, 116.0),
    (10, 19.5, 23.4, 22.5, 34.0, 128.0, 154.0),
    (12, 25.0, 30.0, 29.5, 44.0, 166.0, 199.0),
    (15, 31.0, 37.2, 37.0, 55.0, 215.0, 258.0),
    (20, 39.0, 47.0, 48.0, 71.0, 273.0, 328.0),
    (25, 50.0, 60.0, 60.0, 90.0, 350.0, 420.0),
    (30, 63.0, 76.0, 77.5, 115.0, 447.0, 546.0),
    (40, 80.0, 96.0, 98.0, 146.0, 565.0, 680.0),
    (50, 101.0, 121.0, 126.0, 188.0, 719.0, 862.0),
    (65, 128.0, 153.0, 159.0, 237.0, 918.0, 1100.0),
    (80, 160.0, 192.0, 205.0, 307.0, 1180.0, 1420.0),
    (100, 200.0, 240.0, 258.0, 388.0, 1520.0, 1820.0),
    (140, 310.0, 372.0, 430.0, 650.0, 2470.0, 2970.0),
    (200, 480.0, 576.0, 760.0, 1150.0, 3880.0, 4650.0),
)
_T_TABLE = (
    (6, 12.0, 14.4, 15.3, 23.0, 120.0, 144.0),
    (8, 15.0, 18.0, 20.5, 31.0, 166.0, 199.0),
    (10, 19.5, 23.4, 26.5, 40.0, 224.0, 269.0),
    (12, 25.0, 30.0, 34.5, 52.0, 296.0, 355.0),
    (15, 31.0, 37.2, 44.5, 67.0, 388.0, 466.0),
    (20, 39.0, 47.0, 57.0, 85.0, 496.0, 595.0),
    (25, 50.0, 60.0, 73.5, 109.0, 635.0, 762.0),
    (30, 63.0, 76.0, 93.0, 138.0, 812.0, 975.0),
    (40, 80.0, 96.0, 120.0, 178.0, 1040.0, 1240.0),
    (50, 101.0, 121.0, 152.0, 226.0, 1310.0, 1570.0),
    (65, 128.0, 153.0, 195.0, 291.0, 1650.0, 1975.0),
    (80, 160.0, 192.0, 248.0, 370.0, 2080.0, 2500.0),
    (100, 200.0, 240.0, 319.0, 475.0, 2620.0, 3150.0),
    (140, 310.0, 372.0, 520.0, 775.0, 4000.0, 4800.0),
    (200, 480.0, 576.0, 850.0, 1275.0, 6250.0, 7470.0),
)


def _links(link: LinkType, table: tuple[tuple[float, ...], ...]) -> dict[tuple[LinkType, int], FuseLink]:
    return {(link, int(r[0])): FuseLink(link, int(r[0]), 600.0 if r[0] > 100 else 300.0,
                                        (r[1], r[3], r[5]), (r[2], r[4], r[6])) for r in table}


FUSE_LINKS: Mapping[tuple[LinkType, int], FuseLink] = MappingProxyType(
    _links(LinkType.K, _K_TABLE) | _links(LinkType.T, _T_TABLE))
"""C37.43 melting-current points by ``(LinkType, rating_a)``."""

FUSE_RATINGS_A: tuple[int, ...] = tuple(int(r[0]) for r in _T_TABLE)
"""Link ratings with C37.43 data, in amperes (the same for K and T)."""


@dataclass(frozen=True)
class RelaySettings:
    """A phase overcurrent relay (51 and optional 50) tripping a breaker.

    ``pickup_a`` is the 51 pickup in primary amperes (None: no inverse-time element), ``td`` its
    time dial, ``inst_a`` the 50 pickup (None: no instantaneous element) with ``inst_delay_s``,
    ``breaker_s`` the breaker's interrupting time after the relay operates, and ``em_reset``
    whether the 51 element resets like an induction disk (C37.112 reset, over ``td * tr`` seconds
    with no current) or at once, as digital relays may be set to.
    """

    pickup_a: float | None
    curve: InverseCurve = CURVES["U3"]
    td: float = 1.0
    inst_a: float | None = None
    inst_delay_s: float = 0.0
    breaker_s: float = 3 * CYCLE_S
    em_reset: bool = True

    def __post_init__(self) -> None:
        if self.pickup_a is None and self.inst_a is None:
            raise ValueError("a relay needs a 51 pickup or a 50 pickup (or both)")
        for name in ("pickup_a", "inst_a"):
            value = getattr(self, name)
            if value is not None and not value > 0:
                raise ValueError(f"{name} is {value}: a pickup current must be positive (amperes)")
        if not self.td > 0:
            raise ValueError(f"time dial {self.td}: must be positive")
        if self.inst_delay_s < 0 or self.breaker_s < 0:
            raise ValueError("delays must be zero or positive (seconds)")


@dataclass(frozen=True)
class RecloserSettings:
    """A recloser: minimum trip, the curve of each operation in order, reclose intervals, reset.

    ``shots`` lists the curve of every operation (``parse_sequence("2A2C")`` = A, A, C, C); after
    the last it locks out. ``reclose_s[k]`` is the open interval after operation k (the last one
    repeats when the sequence is longer); ``reset_s`` the time without fault current after which
    the sequence starts again from its first operation.
    """

    min_trip_a: float
    shots: tuple[InverseCurve, ...] = ()
    reclose_s: tuple[float, ...] = (0.5, 2.0, 2.0)
    reset_s: float = 15.0

    def __post_init__(self) -> None:
        if not self.shots:
            object.__setattr__(self, "shots", parse_sequence("2A2C"))
        if not self.min_trip_a > 0:
            raise ValueError(f"minimum trip {self.min_trip_a}: must be positive (amperes)")
        if not self.reclose_s or min(self.reclose_s) < 0 or self.reset_s < 0:
            raise ValueError("reclose intervals (at least one) and the reset time must be zero or positive")

    @property
    def fast(self) -> InverseCurve:
        """The first operation's curve."""
        return self.shots[0]

    @property
    def delayed(self) -> InverseCurve:
        """The last operation's curve."""
        return self.shots[-1]

    def interval_s(self, shot: int) -> float:
        """Open interval after operation ``shot`` (0-based), seconds."""
        return self.reclose_s[min(shot, len(self.reclose_s) - 1)]


@dataclass(frozen=True)
class FuseSettings:
    """An expulsion fuse link of C37.43 type and rating (``FuseSettings(LinkType.T, 40)`` is a 40T)."""

    link: LinkType
    rating_a: int

    def __post_init__(self) -> None:
        if (self.link, self.rating_a) not in FUSE_LINKS:
            raise ValueError(f"{self.rating_a}{self.link.value} link: C37.43 ratings are "
                             f"{', '.join(map(str, FUSE_RATINGS_A))} A, types K and T")

    @property
    def data(self) -> FuseLink:
        """The link's C37.43 melting points."""
        return FUSE_LINKS[(self.link, self.rating_a)]

    @property
    def name(self) -> str:
        """As engineers write it: ``'40T'``."""
        return f"{self.rating_a}{self.link.value}"


@dataclass(frozen=True)
class SectionaliserSettings:
    """A sectionaliser: opens after ``counts`` upstream interruptions of at least ``actuating_a``.

    Counts are forgotten ``reset_s`` after the last one.
    """

    actuating_a: float
    counts: int = 3
    reset_s: float = 30.0

    def __post_init__(self) -> None:
        if not self.actuating_a > 0:
            raise ValueError(f"actuating current {self.actuating_a}: must be positive (amperes)")
        if self.counts < 1 or self.reset_s < 0:
            raise ValueError(f"counts {self.counts}, reset {self.reset_s} s: need at least 1 count and a reset >= 0")


DeviceSettings = Union[RelaySettings, RecloserSettings, FuseSettings, SectionaliserSettings]


# --- curves -----------------------------------------------------------------------------------


def inverse_time_s(curve: InverseCurve, multiple: ArrayLike, td: float = 1.0) -> np.ndarray:
    """Operating time (s) at multiples ``M`` of pickup: ``td * (a / (M^p - 1) + b)``; inf for M <= 1."""
    m = np.asarray(multiple, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        t = td * (curve.a / (m**curve.p - 1.0) + curve.b)
    return np.where(m > 1.0, t, np.inf)


def reset_time_s(curve: InverseCurve, multiple: ArrayLike, td: float = 1.0) -> np.ndarray:
    """Full reset time (s) of an induction-disk emulation: ``td * tr / (1 - M^2)`` for M < 1, else inf."""
    m = np.asarray(multiple, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        t = td * curve.tr / (1.0 - m**2)
    return np.where(m < 1.0, t, np.inf)


def relay_operate_s(relay: RelaySettings, i_a: ArrayLike) -> np.ndarray:
    """Time (s) for the relay to operate (51 or 50, whichever is first); add ``breaker_s`` to interrupt."""
    i = np.asarray(i_a, dtype=float)
    t = np.full(i.shape, np.inf)
    if relay.pickup_a is not None:
        t = inverse_time_s(relay.curve, i / relay.pickup_a, relay.td)
    if relay.inst_a is not None:
        t = np.minimum(t, np.where(i >= relay.inst_a, relay.inst_delay_s, np.inf))
    return t


def recloser_clear_s(recloser: RecloserSettings, i_a: ArrayLike, shot: int = 0) -> np.ndarray:
    """Clearing time (s) of operation ``shot`` (0-based) at currents ``i_a``; inf below minimum trip."""
    curve = recloser.shots[min(shot, len(recloser.shots) - 1)]
    return inverse_time_s(curve, np.asarray(i_a, dtype=float) / recloser.min_trip_a)


def _loglog(i_a: ArrayLike, points_a: tuple[float, float, float], long_s: float, *,
            extend_down: bool) -> np.ndarray:
    """Log-log interpolation through (points_a, (long_s, 10, 0.1)); I^2 t constant above the last."""
    i = np.asarray(i_a, dtype=float)
    x = np.log(np.where(i > 0, i, np.nan))
    xp = np.log(np.asarray(points_a))
    yp = np.log(np.array([long_s, 10.0, 0.1]))
    y = np.interp(x, xp, yp)
    y = np.where(x > xp[-1], yp[-1] - 2.0 * (x - xp[-1]), y)
    if extend_down:
        slope = (yp[1] - yp[0]) / (xp[1] - xp[0])
        y = np.where(x < xp[0], yp[0] + slope * (x - xp[0]), y)
    else:
        y = np.where(x < xp[0], np.inf, y)
    return np.where(np.isnan(x), np.inf, np.exp(y))


def fuse_min_melt_s(fuse: FuseSettings, i_a: ArrayLike) -> np.ndarray:
    """Minimum melting time (s); inf below the minimum melting current at 300 s (600 s above 100 A)."""
    d = fuse.data
    return _loglog(i_a, d.min_a, d.long_s, extend_down=False)


def fuse_max_melt_s(fuse: FuseSettings, i_a: ArrayLike) -> np.ndarray:
    """Maximum melting time (s); continues its first segment down to the minimum melting current."""
    d = fuse.data
    i = np.asarray(i_a, dtype=float)
    t = _loglog(i, d.max_a, d.long_s, extend_down=True)
    return np.where(i >= d.min_a[0], t, np.inf)


def fuse_total_clear_s(fuse: FuseSettings, i_a: ArrayLike) -> np.ndarray:
    """Total clearing time (s): ``max(1.1 * t_max_melt, t_max_melt + 1 cycle)``; inf where it never melts."""
    t = fuse_max_melt_s(fuse, i_a)
    return np.maximum(1.1 * t, t + CYCLE_S)


def clearing_time_s(settings: DeviceSettings, i_a: ArrayLike) -> np.ndarray:
    """Time (s) for a device to interrupt a fault current on its first operation.

    Relay: operate plus breaker time; recloser: its first operation's curve; fuse: total clearing;
    sectionaliser: inf (it never interrupts fault current).
    """
    if isinstance(settings, RelaySettings):
        return relay_operate_s(settings, i_a) + settings.breaker_s
    if isinstance(settings, RecloserSettings):
        return recloser_clear_s(settings, i_a, 0)
    if isinstance(settings, FuseSettings):
        return fuse_total_clear_s(settings, i_a)
    if isinstance(settings, SectionaliserSettings):
        return np.full(np.shape(i_a), np.inf)
    raise TypeError(f"not a protective device's settings: {settings!r}")


def min_operating_a(settings: DeviceSettings) -> float:
    """The smallest current (A) a device responds to: relay pickup (51 or 50), minimum trip,
    a fuse's minimum melting current at 300 / 600 s, a sectionaliser's actuating current."""
    if isinstance(settings, RelaySettings):
        return min(x for x in (settings.pickup_a, settings.inst_a) if x is not None)
    if isinstance(settings, RecloserSettings):
        return settings.min_trip_a
    if isinstance(settings, FuseSettings):
        return settings.data.min_a[0]
    if isinstance(settings, SectionaliserSettings):
        return settings.actuating_a
    raise TypeError(f"not a protective device's settings: {settings!r}")


# --- settings from a switch row ----------------------------------------------------------------

_AMPS = re.compile(r"^(\d+(?:\.\d+)?)A$", re.IGNORECASE)
_TD = re.compile(r"^TD(\d+(?:\.\d+)?)$", re.IGNORECASE)
_SECONDS = re.compile(r"^(\d+(?:\.\d+)?)S$", re.IGNORECASE)
_SEQUENCE = re.compile(r"^(?:\d+[A-Z])+$", re.IGNORECASE)
_FUSE = re.compile(r"^(\d+)\s*([KT])$", re.IGNORECASE)
_SECTIONALISER = re.compile(
    r"^(?:(\d+)\s*counts?)?\s*(?:(\d+(?:\.\d+)?)\s*A)?\s*(?:(\d+(?:\.\d+)?)\s*s)?$", re.IGNORECASE)


def parse_sequence(text: str) -> tuple[InverseCurve, ...]:
    """Curves of each operation from a sequence such as ``"2A2C"`` (two on A, two on C, then lockout)."""
    if not _SEQUENCE.match(text.strip()):
        raise ValueError(f"sequence {text!r}: write counts and curve letters, for example '2A2C' or '1A3D' "
                         f"(curves {', '.join(RECLOSER_CURVES)})")
    shots: list[InverseCurve] = []
    for count, letter in re.findall(r"(\d+)([A-Z])", text.strip().upper()):
        if letter not in RECLOSER_CURVES:
            raise ValueError(f"sequence {text!r}: no recloser curve {letter!r} (use {', '.join(RECLOSER_CURVES)})")
        shots += [RECLOSER_CURVES[letter]] * int(count)
    if not 1 <= len(shots) <= 8:
        raise ValueError(f"sequence {text!r}: {len(shots)} operations; a recloser makes 1 to 8 before lockout")
    return tuple(shots)


def _text(curve: object) -> str:
    if curve is None or (isinstance(curve, float) and math.isnan(curve)):
        return ""
    return str(curve).strip()


def _rating(rated_a: float, what: str) -> float:
    if rated_a is None or not np.isfinite(rated_a) or rated_a <= 0:
        raise ValueError(f"{what} takes its setting from the continuous rating, and rated_a is {rated_a} "
                         "(give the rating or the setting)")
    return float(rated_a)


def _amps(token: str) -> float | None:
    m = _AMPS.match(token)
    return float(m.group(1)) if m else None


def settings_from_switch(kind: int, curve: object, rated_a: float) -> DeviceSettings | None:
    """Protection settings of a ``switch`` row from its ``kind``, ``curve`` text and ``rated_a``.

    The forms (case-insensitive):

    * breaker: ``"51P 400A U3 TD0.5; 50P 3200A 0.05s"`` (51P pickup, curve of :data:`CURVES`,
      default U3, time dial default 1; 50P pickup with an optional definite delay; either element
      may be left out); a bare curve name (``"U2"``, or OpenDSS's ``"mod_inv"``, ``"very_inv"``,
      ``"ext_inv"``) with pickup 2 x ``rated_a``; empty: 51P at 2 x ``rated_a`` on U3, no 50.
    * recloser: ``"2A2C 200A"`` (sequence and minimum trip); either may be left out: the sequence
      defaults to 2A2C and the minimum trip to 2 x ``rated_a``. An OpenDSS curve name alone
      (``"a"``, ``"d"``) is the delayed curve of OpenDSS's default sequence, one fast (A) and three
      delayed.
    * fuse: ``"40T"``, ``"65K"``; OpenDSS's ``"tlink"`` / ``"klink"`` or nothing take the link
      rating from ``rated_a`` (T when nothing is given).
    * sectionaliser: ``"3 counts 140A 30s"`` (counts, actuating current, reset time; each may be
      left out): defaults 3 counts, 1.6 x ``rated_a`` (the usual actuating level of a coil
      rating), 30 s.

    Load-break switches and disconnects protect nothing: None. A string that cannot be read
    raises ``ValueError`` saying what is wrong and what is allowed (the caller adds the element id).
    """
    kind = SwitchKind(int(kind))
    text = _text(curve)
    if kind is SwitchKind.breaker:
        return _breaker(text, rated_a)
    if kind is SwitchKind.recloser:
        return _recloser(text, rated_a)
    if kind is SwitchKind.fuse:
        return _fuse(text, rated_a)
    if kind is SwitchKind.sectionaliser:
        return _sectionaliser(text, rated_a)
    return None


def _breaker(text: str, rated_a: float) -> RelaySettings:
    name = _OPENDSS_RELAY.get(text.lower(), text.upper())
    if not text or name in CURVES:
        return RelaySettings(pickup_a=2.0 * _rating(rated_a, "a breaker without a 51P pickup"),
                             curve=CURVES[name or "U3"])
    elements: dict[str, dict[str, object]] = {}
    for part in text.split(";"):
        tokens = part.split()
        head = tokens[0].upper() if tokens else ""
        if head not in ("51P", "50P"):
            raise ValueError(f"relay setting {text!r}: element {part.strip()!r} should start with 51P "
                             "(time overcurrent) or 50P (instantaneous), for example '51P 400A U3; 50P 3200A', "
                             f"or the setting should name a curve alone ({', '.join(CURVES)}, mod_inv, very_inv, "
                             "ext_inv)")
        if head in elements:
            raise ValueError(f"relay setting {text!r}: {head} is given twice")
        got: dict[str, object] = {}
        for token in tokens[1:]:
            if (amps := _amps(token)) is not None and "amps" not in got:
                got["amps"] = amps
            elif head == "51P" and token.upper() in CURVES and "curve" not in got:
                got["curve"] = CURVES[token.upper()]
            elif head == "51P" and (m := _TD.match(token)) and "td" not in got:
                got["td"] = float(m.group(1))
            elif head == "50P" and (m := _SECONDS.match(token)) and "delay" not in got:
                got["delay"] = float(m.group(1))
            else:
                allowed = (f"a pickup such as 400A, a curve ({', '.join(CURVES)}) and a time dial such as TD0.5"
                           if head == "51P" else "a pickup such as 3200A and a delay such as 0.05s")
                raise ValueError(f"relay setting {text!r}: {head} cannot read {token!r}; it takes {allowed}")
        if "amps" not in got:
            raise ValueError(f"relay setting {text!r}: {head} has no pickup current (write it as 400A)")
        elements[head] = got
    t51, t50 = elements.get("51P"), elements.get("50P")
    return RelaySettings(
        pickup_a=t51["amps"] if t51 else None,  # type: ignore[arg-type]
        curve=t51.get("curve", CURVES["U3"]) if t51 else CURVES["U3"],  # type: ignore[arg-type]
        td=t51.get("td", 1.0) if t51 else 1.0,  # type: ignore[arg-type]
        inst_a=t50["amps"] if t50 else None,  # type: ignore[arg-type]
        inst_delay_s=t50.get("delay", 0.0) if t50 else 0.0,  # type: ignore[arg-type]
    )


def _recloser(text: str, rated_a: float) -> RecloserSettings:
    if text.lower() in _OPENDSS_RECLOSER:
        delayed = RECLOSER_CURVES[_OPENDSS_RECLOSER[text.lower()]]
        return RecloserSettings(min_trip_a=2.0 * _rating(rated_a, "a recloser without a minimum trip"),
                                shots=(RECLOSER_CURVES["A"],) + (delayed,) * 3)
    shots: tuple[InverseCurve, ...] | None = None
    trip: float | None = None
    for token in text.split():
        if (amps := _amps(token)) is not None and trip is None:
            trip = amps
        elif _SEQUENCE.match(token) and shots is None:
            shots = parse_sequence(token)
        else:
            raise ValueError(f"recloser setting {text!r}: cannot read {token!r}; write a sequence and a minimum "
                             f"trip, for example '2A2C 200A' (curves {', '.join(RECLOSER_CURVES)}), or an "
                             "OpenDSS curve name ('a', 'd')")
    if trip is None:
        trip = 2.0 * _rating(rated_a, "a recloser without a minimum trip")
    return RecloserSettings(min_trip_a=trip, shots=shots or parse_sequence("2A2C"))


def _link_rating(rated_a: float, what: str) -> int:
    rating = _rating(rated_a, what)
    if rating != round(rating) or int(round(rating)) not in FUSE_RATINGS_A:
        raise ValueError(f"{what}: rated_a {rated_a} is not a C37.43 link rating "
                         f"({', '.join(map(str, FUSE_RATINGS_A))} A)")
    return int(round(rating))


def _fuse(text: str, rated_a: float) -> FuseSettings:
    if m := _FUSE.match(text):
        return FuseSettings(LinkType(m.group(2).upper()), int(m.group(1)))
    low = text.lower()
    if low in ("", "tlink", "klink"):
        link = LinkType.K if low == "klink" else LinkType.T
        return FuseSettings(link, _link_rating(rated_a, f"fuse link {text or '(none given)'}"))
    raise ValueError(f"fuse link {text!r}: write a rating and a type such as '40T' or '65K' (ratings "
                     f"{', '.join(map(str, FUSE_RATINGS_A))} A, types K and T), or OpenDSS's 'tlink' / 'klink'")


def _sectionaliser(text: str, rated_a: float) -> SectionaliserSettings:
    m = _SECTIONALISER.match(text)
    if m is None or (text and not any(m.groups())):
        raise ValueError(f"sectionaliser setting {text!r}: write counts, actuating current and reset time, "
                         "for example '3 counts 140A 30s' (each may be left out)")
    counts, amps, reset = m.groups()
    actuating = float(amps) if amps else 1.6 * _rating(rated_a, "a sectionaliser without an actuating current")
    return SectionaliserSettings(actuating_a=actuating, counts=int(counts) if counts else 3,
                                 reset_s=float(reset) if reset else 30.0)
