"""What the protective devices between the source and a fault do, in what order and when.

:func:`simulate` takes the devices in series from the source to a fault (their settings from
:mod:`twin.grid.tcc`, source first), the fault current each one carries (amperes, the largest
phase; one number for a radial feeder, where all carry the same) and whether the fault is
temporary or permanent, and returns the sequence of operations as frozen :class:`Operation`
records in time order (seconds from fault inception). Loads and pre-fault currents are out of
scope: the currents are those of the fault.

How each device behaves
-----------------------
* **Relay and breaker.** The 51 element integrates ``dt / t(I)`` (the C37.112 integral
  equation) and operates when the sum reaches 1; the 50 element after its definite delay. The
  breaker interrupts ``breaker_s`` later and stays open (no reclosing relay is modelled). While
  the current is below pickup, or off during a recloser's open interval, the travel resets as an
  induction disk does (C37.112 reset: ``TD * tr`` seconds for a full reset without current)
  when ``em_reset`` is set, or at once otherwise.
* **Recloser.** Each operation times on its own curve (the integral of ``dt / t(I)``, restarted
  whenever the fault current stops); it trips, recloses after its interval, and after the last
  operation locks out. Once closed without fault current for ``reset_s`` it resets to its first
  operation.
* **Fuse.** Heating accumulates while the fuse carries fault current, ``sum dt / t_min_melt(I)``
  (no cooling while the circuit is open: conservative); it melts at 1 and clears when
  ``sum dt / t_total_clear(I)`` reaches 1. A fuse that has melted but is left without current
  by another device interrupting (before it clears) is open (``open``): its element has parted.
* **Sectionaliser.** Counts each interruption by a device upstream of it while it carried at
  least its actuating current; at its count it opens in the dead time. Counts are forgotten
  ``reset_s`` after the last one.

A temporary fault is gone at the first interruption (whichever device opens first clears it,
and the reclose that follows holds); a permanent one persists until a device that opens for good
isolates it: a fuse that clears or is left open, a relay-tripped breaker, a recloser at lockout, a
sectionaliser that opens. Miscoordination shows in the operations: an upstream device opening
for good although a device nearer the fault could have isolated it
(:attr:`FaultResponse.miscoordinated`).

>>> from twin.grid.tcc import FuseSettings, LinkType, settings_from_switch
>>> path = [("RCL", settings_from_switch(1, "2A2C 200A", 630.0)), ("FU", FuseSettings(LinkType.T, 40))]
>>> [(round(op.time_s, 3), op.device, op.action.value) for op in simulate(path, 1000.0, permanent=False).operations]
[(0.05, 'RCL', 'trip'), (0.55, 'RCL', 'reclose'), (15.55, 'RCL', 'reset')]
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from twin.grid.tcc import (
    DeviceSettings,
    FuseSettings,
    RecloserSettings,
    RelaySettings,
    SectionaliserSettings,
    clearing_time_s,
    fuse_min_melt_s,
    fuse_total_clear_s,
    inverse_time_s,
    recloser_clear_s,
    reset_time_s,
)

__all__ = ["Action", "Operation", "FaultResponse", "simulate"]

_EPS_S = 1e-12  # events closer than this are simultaneous
_MAX_EVENTS = 10_000


class Action(enum.Enum):
    """What a device did."""

    trip = "trip"  # a breaker or recloser interrupted the fault current
    reclose = "reclose"  # a recloser closed again after its interval
    lockout = "lockout"  # a recloser's last trip: it stays open
    melt = "melt"  # a fuse element melted (arcing starts)
    clear = "clear"  # a fuse interrupted the fault current
    count = "count"  # a sectionaliser counted an interruption upstream
    open = "open"  # a sectionaliser opened in the dead time, or a melted fuse was left open
    reset = "reset"  # a recloser or sectionaliser forgot its operations


@dataclass(frozen=True)
class Operation:
    """One operation: ``time_s`` seconds after the fault began, ``device`` id, ``action``."""

    time_s: float
    device: str
    action: Action


@dataclass(frozen=True)
class FaultResponse:
    """The operations for one fault, and what they came to.

    ``path`` the device ids, source first; ``cleared`` whether fault current has stopped for
    good; ``isolated_by`` the device nearest the source left open for good (None when the fault
    was temporary and every device closed again); ``expected`` the device nearest the fault that
    can isolate it at its current (a sectionaliser only with a recloser upstream that gives it
    its counts).
    """

    operations: tuple[Operation, ...]
    path: tuple[str, ...]
    cleared: bool
    isolated_by: str | None
    expected: str | None

    @property
    def miscoordinated(self) -> bool:
        """True when a device upstream of the expected one isolated the fault."""
        if self.isolated_by is None or self.expected is None:
            return False
        return self.path.index(self.isolated_by) < self.path.index(self.expected)

    def of(self, device: str) -> tuple[Operation, ...]:
        """The operations of one device."""
        return tuple(op for op in self.operations if op.device == device)

    def timeline(self, *, digits: int = 6) -> list[tuple[float, str, str]]:
        """``(time_s, device, action)`` rows, times rounded to ``digits``: for tests and logs."""
        return [(round(op.time_s, digits), op.device, op.action.value) for op in self.operations]


@dataclass
class _State:
    """Mutable state of one device during a simulation (private to :func:`simulate`)."""

    closed: bool = True
    final: bool = False  # open for good
    travel: float = 0.0  # relay 51 travel, 0..1
    inst_s: float = 0.0  # relay 50: time above pickup
    trip_at: float | None = None  # relay operated: breaker interrupts then
    shot: int = 0  # recloser operation under way (0-based)
    timing: float = 0.0  # recloser: integral of dt / t(I) of this operation
    reclose_at: float | None = None
    quiet_since: float | None = None  # recloser closed without fault current since
    melt: float = 0.0  # fuse: integral of dt / t_min_melt(I)
    clear: float = 0.0  # fuse: integral of dt / t_total_clear(I)
    melted: bool = False
    counts: int = 0  # sectionaliser
    last_count: float = 0.0


def _sees(k: int, devices: list[DeviceSettings], amps: np.ndarray) -> bool:
    """Whether device k can isolate the fault by itself at its current."""
    dev = devices[k]
    if isinstance(dev, SectionaliserSettings):
        if amps[k] < dev.actuating_a:
            return False
        return any(isinstance(up, RecloserSettings) and len(up.shots) > dev.counts and amps[j] > up.min_trip_a
                   for j, up in enumerate(devices[:k]))
    return bool(np.isfinite(clearing_time_s(dev, amps[k])))


def simulate(path: Sequence[tuple[str, DeviceSettings]] | Mapping[str, DeviceSettings],
             fault_a: float | Sequence[float], *, permanent: bool = True) -> FaultResponse:
    """Operations of the devices in series from the source (first) to a fault.

    ``fault_a``: the fault current (A) every device carries, or one per device. A fault that no
    device sees is never cleared: no operations and ``cleared`` False.
    """
    pairs = list(path.items()) if isinstance(path, Mapping) else [tuple(p) for p in path]
    ids = [str(p[0]) for p in pairs]
    devices = [p[1] for p in pairs]
    if len(set(ids)) != len(ids):
        raise ValueError(f"device ids repeat along the path: {ids}")
    amps = np.broadcast_to(np.asarray(fault_a, dtype=float), (len(devices),)).copy() \
        if np.ndim(fault_a) == 0 else np.asarray(fault_a, dtype=float)
    if amps.shape != (len(devices),) or not np.all(np.isfinite(amps)) or (amps < 0).any():
        raise ValueError(f"fault_a: one current >= 0 A for all devices or one per device ({len(devices)}), "
                         f"got {fault_a!r}")
    for dev in devices:
        if not isinstance(dev, (RelaySettings, RecloserSettings, FuseSettings, SectionaliserSettings)):
            raise TypeError(f"not a protective device's settings: {dev!r}")

    states = [_State() for _ in devices]
    ops: list[Operation] = []
    t = 0.0
    fault = True

    def record(k: int, action: Action) -> None:
        ops.append(Operation(t, ids[k], action))

    def relay_rate(dev: RelaySettings, i: float) -> float:
        """dtravel/dt of the 51 element at current i (negative: resetting)."""
        if dev.pickup_a is None:
            return 0.0
        m = i / dev.pickup_a
        if m > 1.0:
            return 1.0 / float(inverse_time_s(dev.curve, m, dev.td))
        if m < 1.0 and dev.em_reset and dev.curve.tr > 0:
            return -1.0 / float(reset_time_s(dev.curve, m, dev.td))
        return 0.0

    def current_stops(opened: list[int]) -> None:
        """Fault current has just stopped: devices opened[...] interrupted it."""
        nonlocal fault
        first = min(opened)
        for k, (dev, st) in enumerate(zip(devices, states)):
            if isinstance(dev, RelaySettings):
                st.inst_s = 0.0
                if not dev.em_reset:
                    st.travel = 0.0
            elif isinstance(dev, RecloserSettings):
                st.timing = 0.0
                st.quiet_since = t if st.closed else None
            elif isinstance(dev, FuseSettings):
                if st.melted and not st.final:
                    record(k, Action.open)
                    st.closed, st.final = False, True
            elif k > first and st.closed and amps[k] >= dev.actuating_a:
                st.counts += 1
                st.last_count = t
                record(k, Action.count)
                if st.counts >= dev.counts:
                    record(k, Action.open)
                    st.closed, st.final = False, True
        if not permanent:
            fault = False

    def flowing() -> bool:
        return fault and all(st.closed for st in states)

    for _ in range(_MAX_EVENTS):
        if flowing():
            events: list[tuple[float, int, str]] = []
            for k, (dev, st) in enumerate(zip(devices, states)):
                i = float(amps[k])
                if isinstance(dev, RelaySettings):
                    if st.trip_at is not None:
                        events.append((st.trip_at - t, k, "interrupt"))
                        continue
                    rate = relay_rate(dev, i)
                    if rate > 0:
                        events.append(((1.0 - st.travel) / rate, k, "operate"))
                    if dev.inst_a is not None and i >= dev.inst_a:
                        events.append((max(0.0, dev.inst_delay_s - st.inst_s), k, "operate"))
                elif isinstance(dev, RecloserSettings):
                    t_op = float(recloser_clear_s(dev, i, st.shot))
                    if np.isfinite(t_op):
                        events.append(((1.0 - st.timing) * t_op, k, "trip"))
                elif isinstance(dev, FuseSettings):
                    t_melt, t_clear = float(fuse_min_melt_s(dev, i)), float(fuse_total_clear_s(dev, i))
                    if not st.melted and np.isfinite(t_melt):
                        events.append(((1.0 - st.melt) * t_melt, k, "melt"))
                    if np.isfinite(t_clear):
                        events.append(((1.0 - st.clear) * t_clear, k, "clear"))
            if not events:
                break  # nothing sees the fault: it is never cleared
            dt = max(0.0, min(e[0] for e in events))
            for k, (dev, st) in enumerate(zip(devices, states)):
                i = float(amps[k])
                if isinstance(dev, RelaySettings) and st.trip_at is None:
                    rate = relay_rate(dev, i)
                    st.travel = min(1.0, max(0.0, st.travel + rate * dt)) if (rate or dev.em_reset) else 0.0
                    st.inst_s = st.inst_s + dt if dev.inst_a is not None and i >= dev.inst_a else 0.0
                elif isinstance(dev, RecloserSettings):
                    t_op = float(recloser_clear_s(dev, i, st.shot))
                    st.timing += dt / t_op if np.isfinite(t_op) else 0.0
                elif isinstance(dev, FuseSettings):
                    t_melt, t_clear = float(fuse_min_melt_s(dev, i)), float(fuse_total_clear_s(dev, i))
                    st.melt += dt / t_melt if np.isfinite(t_melt) else 0.0
                    st.clear += dt / t_clear if np.isfinite(t_clear) else 0.0
            t += dt
            opened: list[int] = []
            for _, k, what in sorted(e for e in events if e[0] <= dt + _EPS_S):
                dev, st = devices[k], states[k]
                if what == "operate" and st.trip_at is None:
                    st.trip_at = t + dev.breaker_s  # type: ignore[union-attr]
                elif what == "interrupt":
                    record(k, Action.trip)
                    st.closed, st.final, st.trip_at = False, True, None
                    opened.append(k)
                elif what == "trip":
                    record(k, Action.trip)
                    st.closed, st.timing = False, 0.0
                    if st.shot == len(dev.shots) - 1:  # type: ignore[union-attr]
                        record(k, Action.lockout)
                        st.final = True
                    else:
                        st.reclose_at = t + dev.interval_s(st.shot)  # type: ignore[union-attr]
                        st.shot += 1
                    opened.append(k)
                elif what == "melt":
                    record(k, Action.melt)
                    st.melted, st.melt = True, 1.0
                elif what == "clear" and st.closed:
                    if not st.melted:
                        record(k, Action.melt)
                        st.melted = True
                    record(k, Action.clear)
                    st.closed, st.final = False, True
                    opened.append(k)
            if opened:
                current_stops(opened)
            continue

        # No fault current: breakers finishing a trip, recloses, resets.
        events = []
        for k, (dev, st) in enumerate(zip(devices, states)):
            if isinstance(dev, RelaySettings) and st.trip_at is not None:
                events.append((st.trip_at, k, "interrupt"))
            elif isinstance(dev, RecloserSettings):
                if st.reclose_at is not None:
                    events.append((st.reclose_at, k, "reclose"))
                elif st.closed and st.shot > 0 and st.quiet_since is not None:
                    events.append((st.quiet_since + dev.reset_s, k, "reset"))
            elif isinstance(dev, SectionaliserSettings) and st.counts > 0 and not st.final:
                events.append((st.last_count + dev.reset_s, k, "reset"))
        if not events:
            break
        t_next = max(t, min(e[0] for e in events))
        for dev, st in zip(devices, states):
            if isinstance(dev, RelaySettings) and st.travel > 0:
                rate = relay_rate(dev, 0.0)
                st.travel = max(0.0, st.travel + rate * (t_next - t)) if dev.em_reset else 0.0
        t = t_next
        for _, k, what in sorted(e for e in events if e[0] <= t + _EPS_S):
            dev, st = devices[k], states[k]
            if what == "interrupt":
                record(k, Action.trip)
                st.closed, st.final, st.trip_at = False, True, None
            elif what == "reclose":
                record(k, Action.reclose)
                st.closed, st.reclose_at, st.quiet_since = True, None, t
            else:
                record(k, Action.reset)
                st.shot = st.counts = 0
                st.quiet_since = None
        if flowing():
            for st in states:
                st.quiet_since = None
    else:
        raise RuntimeError(f"protection sequence did not settle after {_MAX_EVENTS} events (a bug)")

    finals = [k for k, st in enumerate(states) if st.final]
    candidates = [k for k in range(len(devices)) if _sees(k, devices, amps)]
    return FaultResponse(
        operations=tuple(ops),
        path=tuple(ids),
        cleared=not flowing(),
        isolated_by=ids[finals[0]] if finals else None,
        expected=ids[candidates[-1]] if candidates else None,
    )
