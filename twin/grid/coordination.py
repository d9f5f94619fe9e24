"""Coordination of two protective devices in series: margins over a range of fault currents.

For an ``upstream`` (source-side) and a ``downstream`` device, each given by its settings from
:mod:`twin.grid.tcc`, :func:`margin` returns, at every current, the *spare time* of the rule that
applies to the pair: how many seconds the requirement is met by (>= 0: coordinates, < 0:
miscoordinates). The rules:

==============  ===========================  ==============================================================
rule            pair (upstream / downstream)  requirement
==============  ===========================  ==============================================================
``cti``         relay or recloser / relay,    ``t_up - t_down >= CTI`` (default 0.3 s): relays by operating
                recloser or fuse              time, a recloser by its delayed (last) curve, a fuse by total
                                              clearing
``fuse_fuse``   fuse / fuse                   downstream total clearing <= 75 % of upstream minimum melt
``fuse_saving`` recloser / fuse               the recloser's fast (first) curve clears before 75 % of the
                                              fuse's minimum melt (it holds up to the current where they cross)
``fuse_first``  recloser / fuse               the fuse's total clearing is no later than the recloser's
                                              delayed (last) curve: the fuse clears a permanent fault first
``fuse_backup`` fuse / relay or recloser      downstream interruption (a relay with its breaker time, a
                                              recloser's whole sequence: the sum of its clearing times, as
                                              the fuse does not cool between shots) <= 75 % of minimum melt
==============  ===========================  ==============================================================

Where neither device operates the margin is NaN and counts as coordinated; where only the
upstream one operates it is ``-inf`` (the downstream device does not see the fault: the upstream
one trips for it); where only the downstream one does it is ``+inf``. Sectionalisers do not time
out on current, so pairs with one have no rule. :func:`crossing_a` finds the current where the
verdict changes (the miscoordination point).

>>> from twin.grid.tcc import FuseSettings, LinkType
>>> m = margin(FuseSettings(LinkType.T, 100), FuseSettings(LinkType.T, 40), [500.0, 2000.0])
>>> m.rule.value, bool(m.coordinated)
('fuse_fuse', True)
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from twin.grid.tcc import (
    DeviceSettings,
    FuseSettings,
    RecloserSettings,
    RelaySettings,
    fuse_min_melt_s,
    fuse_total_clear_s,
    recloser_clear_s,
    relay_operate_s,
)

__all__ = ["CTI_S", "FUSE_RATIO", "Rule", "Margin", "rules", "margin", "margins", "crossing_a"]

CTI_S = 0.3
"""Default coordination time interval between time-overcurrent devices, seconds."""

FUSE_RATIO = 0.75
"""Share of a fuse's minimum melting time another device must clear within (the 75 % rule)."""


class Rule(enum.Enum):
    """Which coordination requirement a margin measures (see the module docstring)."""

    cti = "cti"
    fuse_fuse = "fuse_fuse"
    fuse_saving = "fuse_saving"
    fuse_first = "fuse_first"
    fuse_backup = "fuse_backup"


@dataclass(frozen=True)
class Margin:
    """Spare time (s) of one rule at currents ``i_a`` (A): ``ok`` where >= 0 or NaN (neither operates)."""

    rule: Rule
    i_a: np.ndarray
    margin_s: np.ndarray
    ok: np.ndarray

    @property
    def coordinated(self) -> bool:
        """True when the rule holds at every current."""
        return bool(self.ok.all())

    @property
    def worst_a(self) -> float:
        """The current (A) with the smallest margin (the first of them); NaN when none is defined."""
        m = np.where(np.isnan(self.margin_s), np.inf, self.margin_s)
        if not m.size or m.min() == np.inf:
            return float("nan")
        return float(self.i_a[int(np.argmin(m))])


def rules(upstream: DeviceSettings, downstream: DeviceSettings) -> tuple[Rule, ...]:
    """The rules that apply to a pair, the one deciding coordination first; () with a sectionaliser."""
    up, down = type(upstream), type(downstream)
    if up is FuseSettings:
        if down is FuseSettings:
            return (Rule.fuse_fuse,)
        return (Rule.fuse_backup,) if down in (RelaySettings, RecloserSettings) else ()
    if up is RecloserSettings and down is FuseSettings:
        return (Rule.fuse_first, Rule.fuse_saving)
    if up in (RelaySettings, RecloserSettings) and down in (RelaySettings, RecloserSettings, FuseSettings):
        return (Rule.cti,)
    return ()


def _timed_s(device: DeviceSettings, i: np.ndarray) -> np.ndarray:
    """Time a device is compared on under the CTI rule: relay operate, recloser delayed, fuse total clear."""
    if isinstance(device, RelaySettings):
        return relay_operate_s(device, i)
    if isinstance(device, RecloserSettings):
        return recloser_clear_s(device, i, len(device.shots) - 1)
    return fuse_total_clear_s(device, i)  # type: ignore[arg-type]


def _interrupt_s(device: DeviceSettings, i: np.ndarray) -> np.ndarray:
    """Fault duration a device lets through: relay plus breaker, a recloser's whole sequence."""
    if isinstance(device, RelaySettings):
        return relay_operate_s(device, i) + device.breaker_s
    if isinstance(device, RecloserSettings):
        return sum((recloser_clear_s(device, i, k) for k in range(len(device.shots))), np.zeros(i.shape))
    return fuse_total_clear_s(device, i)  # type: ignore[arg-type]


def margin(upstream: DeviceSettings, downstream: DeviceSettings, i_a: ArrayLike, *,
           rule: Rule | None = None, cti_s: float = CTI_S) -> Margin:
    """Spare time (s) of ``rule`` (default: the pair's deciding rule) at fault currents ``i_a`` (A).

    Raises ``ValueError`` when the rule does not apply to the pair (or no rule does).
    """
    allowed = rules(upstream, downstream)
    rule = rule or (allowed[0] if allowed else None)
    if rule is None or rule not in allowed:
        names = ", ".join(r.value for r in allowed) or "none (a sectionaliser counts, it does not time out)"
        raise ValueError(f"rule {rule.value if rule else None} does not apply to {type(upstream).__name__} "
                         f"upstream of {type(downstream).__name__}; rules for this pair: {names}")
    i = np.atleast_1d(np.asarray(i_a, dtype=float))
    with np.errstate(invalid="ignore"):
        if rule is Rule.cti:
            m = _timed_s(upstream, i) - _timed_s(downstream, i) - cti_s
        elif rule is Rule.fuse_fuse or rule is Rule.fuse_backup:
            m = FUSE_RATIO * fuse_min_melt_s(upstream, i) - _interrupt_s(downstream, i)  # type: ignore[arg-type]
        elif rule is Rule.fuse_saving:
            m = FUSE_RATIO * fuse_min_melt_s(downstream, i) - recloser_clear_s(upstream, i, 0)  # type: ignore[arg-type]
        else:  # fuse_first
            last = len(upstream.shots) - 1  # type: ignore[union-attr]
            m = recloser_clear_s(upstream, i, last) - fuse_total_clear_s(downstream, i)  # type: ignore[arg-type]
    return Margin(rule, i, m, np.isnan(m) | (m >= 0.0))


def margins(upstream: DeviceSettings, downstream: DeviceSettings, i_a: ArrayLike, *,
            cti_s: float = CTI_S) -> tuple[Margin, ...]:
    """Every rule that applies to the pair, the deciding one first (``()`` when none does)."""
    return tuple(margin(upstream, downstream, i_a, rule=r, cti_s=cti_s) for r in rules(upstream, downstream))


def crossing_a(upstream: DeviceSettings, downstream: DeviceSettings, i_min: float, i_max: float, *,
               rule: Rule | None = None, cti_s: float = CTI_S, points: int = 512) -> float | None:
    """The current (A) in ``[i_min, i_max]`` where the verdict of ``rule`` first changes, or None.

    With the default (deciding) rule this is where the pair starts (or stops) miscoordinating;
    with ``Rule.fuse_saving`` it is the upper limit of fuse saving. Found on a logarithmic grid
    of ``points`` currents and refined by bisection to 1e-9 relative.
    """
    if not 0 < i_min < i_max:
        raise ValueError(f"current range {i_min} - {i_max} A: need 0 < i_min < i_max")
    grid = np.geomspace(i_min, i_max, points)
    ok = margin(upstream, downstream, grid, rule=rule, cti_s=cti_s).ok
    change = np.flatnonzero(ok[1:] != ok[:-1])
    if change.size == 0:
        return None
    k = int(change[0])
    lo, hi, ok_lo = np.log(grid[k]), np.log(grid[k + 1]), bool(ok[k])
    while hi - lo > 1e-9:
        mid = 0.5 * (lo + hi)
        if bool(margin(upstream, downstream, np.exp(mid), rule=rule, cti_s=cti_s).ok[0]) == ok_lo:
            lo = mid
        else:
            hi = mid
    return float(np.exp(hi))
