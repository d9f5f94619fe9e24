"""The SCADA point database: the value, quality and time stamps of every point of every device.

A point is one ``(device, name)`` pair (names as in :mod:`twin.idms.interfaces.field_devices`:
``status``, ``lockout``, ``fault``, ``i_amps``...). For each the database keeps

- the *telemetered* value, its :class:`Quality` from the field, the source time stamp the field
  gave it (``time_s``) and the time SCADA received it (``received_s``), both seconds on the
  IDMS :class:`~twin.idms.interfaces.clock.Clock`;
- an optional *manual entry*: a dispatcher's override (a crew's report on a device with failed
  comms, say). It wins over telemetry until removed, and the point shows quality ``manual`` with
  who entered it, so nobody mistakes it for telemetry. Telemetry keeps arriving underneath.

Quality and the two time stamps are numpy arrays indexed by a row per point, so that "every point
with failed comms" over tens of thousands of points is one mask; values (strings, ints, per-phase
tuples) sit in an object array beside them.

>>> db = PointDatabase()
>>> changes = db.update([PointValue("R1", "status", "closed", Quality.good, 5.0)], received_s=5.2)
>>> db.get("R1", "status").value, db.get("R1", "status").quality
('closed', <Quality.good: 'good'>)
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from twin.errors import TwinError
from twin.idms.interfaces.field_devices import PointValue, Quality, same_value

__all__ = ["ManualEntry", "NoManualEntry", "Point", "PointChange", "PointDatabase", "UnknownPoint", "STATUS_POINTS"]

STATUS_POINTS = frozenset({"status", "lockout", "fault", "mode", "remote"})
"""Points whose changes are events (sequence of events, alarms), as opposed to analogs."""

_QUALITIES: tuple[Quality, ...] = tuple(Quality)
_CODE = {q: i for i, q in enumerate(_QUALITIES)}
_NONE = -1  # quality code of a row created but not yet reported


class UnknownPoint(TwinError):
    """A point the database has never received: ``device`` and ``name``."""

    def __init__(self, device: str, name: str) -> None:
        self.device = device
        self.name = name
        super().__init__(f"device {device}: no point {name!r} in the SCADA database "
                         f"(it has not been reported by the field nor entered by hand)")


class NoManualEntry(TwinError):
    """A manual entry was to be removed from a point that has none: ``device`` and ``name``."""

    def __init__(self, device: str, name: str) -> None:
        self.device = device
        self.name = name
        super().__init__(f"device {device}: point {name!r} has no manual entry to remove")


@dataclass(frozen=True)
class ManualEntry:
    """A dispatcher's manual value for a point: who entered it, when (s) and why."""

    value: Any
    user: str
    time_s: float
    reason: str = ""


@dataclass(frozen=True)
class Point:
    """A point as the control room sees it: ``value`` and ``quality`` are the manual entry's when
    there is one (quality ``manual``), else the telemetry's. ``telemetry_value`` and
    ``telemetry_quality`` are always what the field last said; ``time_s`` its source time stamp
    and ``received_s`` when SCADA received it (s)."""

    device: str
    name: str
    value: Any
    quality: Quality
    time_s: float
    received_s: float
    telemetry_value: Any
    telemetry_quality: Quality | None
    manual: ManualEntry | None = None


@dataclass(frozen=True)
class PointChange:
    """A point whose telemetered value or quality changed in an update. ``old_value`` and
    ``old_quality`` are ``None`` when the point was reported for the first time."""

    device: str
    name: str
    old_value: Any
    value: Any
    old_quality: Quality | None
    quality: Quality
    time_s: float
    received_s: float

    @property
    def value_changed(self) -> bool:
        return self.old_quality is not None and not same_value(self.old_value, self.value)

    @property
    def first_report(self) -> bool:
        return self.old_quality is None


class PointDatabase:
    """Every point of every device, in rows of bulk arrays (see the module docstring)."""

    def __init__(self, *, capacity: int = 1024) -> None:
        self._row: dict[tuple[str, str], int] = {}
        self._by_device: dict[str, list[int]] = {}
        self._keys: list[tuple[str, str]] = []
        self._manual: dict[int, ManualEntry] = {}
        self._alloc(max(capacity, 16))

    def _alloc(self, n: int) -> None:
        old = len(self._keys)
        quality = np.full(n, _NONE, dtype=np.int8)
        time_s = np.full(n, np.nan)
        received_s = np.full(n, np.nan)
        value = np.empty(n, dtype=object)
        if old:
            quality[:old] = self._quality[:old]
            time_s[:old] = self._time_s[:old]
            received_s[:old] = self._received_s[:old]
            value[:old] = self._value[:old]
        self._quality, self._time_s, self._received_s, self._value = quality, time_s, received_s, value

    def _row_of(self, device: str, name: str) -> int:
        key = (device, name)
        row = self._row.get(key)
        if row is None:
            row = len(self._keys)
            if row >= len(self._quality):
                self._alloc(2 * len(self._quality))
            self._row[key] = row
            self._keys.append(key)
            self._by_device.setdefault(device, []).append(row)
        return row

    def __len__(self) -> int:
        return len(self._keys)

    def __contains__(self, key: tuple[str, str]) -> bool:
        return key in self._row

    def update(self, points: Iterable[PointValue], *, received_s: float) -> list[PointChange]:
        """Store telemetered points received at ``received_s`` (s); return those whose value or
        quality changed (first reports included). A report older than the stored one (by source
        time stamp) is ignored: an exception and a scan can cross in flight."""
        changes: list[PointChange] = []
        for p in points:
            row = self._row_of(p.device, p.name)
            code = int(self._quality[row])
            if code != _NONE and p.time_s < self._time_s[row]:
                continue
            old_value = self._value[row]
            old_quality = _QUALITIES[code] if code != _NONE else None
            self._value[row] = p.value
            self._quality[row] = _CODE[p.quality]
            self._time_s[row] = p.time_s
            self._received_s[row] = received_s
            if old_quality is None or old_quality is not p.quality or not same_value(old_value, p.value):
                changes.append(PointChange(p.device, p.name, old_value, p.value, old_quality,
                                           p.quality, p.time_s, received_s))
        return changes

    def get(self, device: str, name: str) -> Point:
        """The point as the control room sees it (raises :class:`UnknownPoint`)."""
        row = self._row.get((device, name))
        if row is None:
            raise UnknownPoint(device, name)
        return self._point(row)

    def value(self, device: str, name: str, default: Any = None) -> Any:
        """The displayed value of a point, ``default`` when there is none."""
        row = self._row.get((device, name))
        if row is None:
            return default
        entry = self._manual.get(row)
        return entry.value if entry is not None else self._value[row]

    def telemetry(self, device: str, name: str, default: Any = None) -> Any:
        """What the field last reported for a point, ignoring any manual entry."""
        row = self._row.get((device, name))
        return default if row is None or self._quality[row] == _NONE else self._value[row]

    def _point(self, row: int) -> Point:
        device, name = self._keys[row]
        code = int(self._quality[row])
        tq = _QUALITIES[code] if code != _NONE else None
        entry = self._manual.get(row)
        if entry is not None:
            return Point(device, name, entry.value, Quality.manual, entry.time_s, entry.time_s,
                         self._value[row], tq, entry)
        return Point(device, name, self._value[row], tq if tq is not None else Quality.stale,
                     float(self._time_s[row]), float(self._received_s[row]), self._value[row], tq)

    def device_points(self, device: str) -> list[Point]:
        """Every point of one device, in the order they were first reported."""
        return [self._point(r) for r in self._by_device.get(device, [])]

    def devices(self) -> list[str]:
        return list(self._by_device)

    def with_quality(self, quality: Quality) -> list[Point]:
        """Every point showing ``quality`` (``manual``: every manually entered point)."""
        n = len(self._keys)
        if quality is Quality.manual:
            rows: Sequence[int] = sorted(self._manual)
        else:
            mask = self._quality[:n] == _CODE[quality]
            if self._manual:
                mask[list(self._manual)] = False
            rows = np.flatnonzero(mask).tolist()
        return [self._point(r) for r in rows]

    def devices_with_quality(self, quality: Quality) -> list[str]:
        """Devices with at least one point showing ``quality``, sorted."""
        return sorted({p.device for p in self.with_quality(quality)})

    def quality_counts(self) -> dict[Quality, int]:
        """How many points show each quality (the control room's data-quality summary)."""
        n = len(self._keys)
        codes = self._quality[:n].copy()
        if self._manual:
            codes[list(self._manual)] = _CODE[Quality.manual]
        counts = np.bincount(codes[codes >= 0].astype(np.int64), minlength=len(_QUALITIES))
        return {q: int(counts[i]) for i, q in enumerate(_QUALITIES)}

    def set_manual(self, device: str, name: str, value: Any, *, user: str, time_s: float,
                   reason: str = "") -> Point:
        """Enter ``value`` by hand; it wins over telemetry until :meth:`clear_manual`."""
        row = self._row_of(device, name)
        self._manual[row] = ManualEntry(value, user, time_s, reason)
        return self._point(row)

    def clear_manual(self, device: str, name: str) -> Point:
        """Remove a manual entry: the point shows its telemetry again."""
        row = self._row.get((device, name))
        if row is None or row not in self._manual:
            raise NoManualEntry(device, name)
        del self._manual[row]
        return self._point(row)

