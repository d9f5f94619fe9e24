"""The DNP3 points map: which DNP3 point of which outstation carries which point of which device.

Both ends read the same map: the world's outstations (:mod:`twin.field_devices.dnp3_outstations`)
to build their databases and decode controls, the IDMS's master
(:mod:`twin.idms.scada.dnp3_link`) to poll them and turn what they say back into the
field-device interface's :class:`~twin.idms.interfaces.field_devices.PointValue`. It is plain
data, written to and read from a YAML file (:meth:`PointsMap.write`, :func:`load_points_map`) so
a utility can hand its own RTU points lists to the master.

Points list per device kind (:data:`LAYOUT`), indices numbered per outstation in device order:

=================  ===========================================  ==================================
kind               binary inputs (g1/g2)                        analog inputs (g30/g32)
=================  ===========================================  ==================================
breaker, recloser  status (1 closed), lockout, fault, remote    i_amps A/B/C, v_volts A/B/C, p_kw,
                                                                q_kvar
sectionaliser      status, fault, remote                        as a breaker
switch, disconnect status, remote                               as a breaker
capacitor          status (1 in service), mode (1 auto), remote v_volts A/B/C, q_kvar
regulator          mode, remote                                 status (the tap, steps from
                                                                neutral), i_amps, v_volts, p_kw,
                                                                q_kvar, v_control_volts
fault_indicator    fault, status (1 live), remote               (none)
=================  ===========================================  ==================================

Breakers and reclosers also have a counter (g20/g22) ``operations``: the trips their outstation
has seen. Controls are CROBs (g12v1), one index per paired control: a switch's trip/close (TRIP or
LATCH_OFF opens, CLOSE or LATCH_ON closes; ``open``/``close`` on a capacitor bank), a regulator's
lower/raise (TRIP/CLOSE), a controller's manual/auto (LATCH_OFF/LATCH_ON) and a reset
(LATCH_ON or PULSE_ON) of a protective device's target or an indicator's flag.

Quality (IEEE 1815 flag octet): ``good`` is ONLINE; ``stale`` (an analog awaiting its
measurement) is neither ONLINE nor COMM_LOST (the value is not current; RESTART reads so too);
``comms_failed`` is COMM_LOST. A master marks an outstation's points ``comms_failed``
itself when the outstation stops answering. Analogs travel as 64-bit floats (g30v6, g32v8), so a
value and NaN (a phase the device does not have, or a measurement not yet made) arrive exactly.

Time: DNP3 time stamps are milliseconds since 1970 UTC; the map's ``epoch_utc_ms`` is the
instant of the session's second 0, so ``time_s = dnp3_ms / 1000 - epoch``; the millisecond is
the resolution (:func:`to_dnp3_ms`, :func:`from_dnp3_ms`).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from twin.errors import ModelError
from twin.idms.interfaces.field_devices import DeviceInfo, PointValue, Quality

__all__ = ["LAYOUT", "ONLINE", "RESTART", "COMM_LOST", "DevicePoints", "Rtu", "PointsMap", "build_points_map",
           "load_points_map", "REASON_STATUS", "STATUS_REASON", "to_dnp3_ms", "from_dnp3_ms", "flags_of", "quality_of",
           "PointsMapError"]

FORMAT = "twin-dnp3-points/1"
ONLINE, RESTART, COMM_LOST = 0x01, 0x02, 0x04

_SWITCH_ANALOGS = (("i_amps", 3), ("v_volts", 3), ("p_kw", 1), ("q_kvar", 1))
_SWITCH_CTL = {"switch": ("close", "trip")}
_RESET = {"reset": ("reset", "")}

LAYOUT: dict[str, dict[str, Any]] = {
    "breaker": dict(binary=("status", "lockout", "fault", "remote"), analog=_SWITCH_ANALOGS,
                    counter=("operations",), controls={**_SWITCH_CTL, **_RESET}),
    "recloser": dict(binary=("status", "lockout", "fault", "remote"), analog=_SWITCH_ANALOGS,
                     counter=("operations",), controls={**_SWITCH_CTL, **_RESET}),
    "sectionaliser": dict(binary=("status", "fault", "remote"), analog=_SWITCH_ANALOGS, counter=(),
                          controls={**_SWITCH_CTL, **_RESET}),
    "load_break_switch": dict(binary=("status", "remote"), analog=_SWITCH_ANALOGS, counter=(),
                              controls={**_SWITCH_CTL, **_RESET}),
    "disconnect": dict(binary=("status", "remote"), analog=_SWITCH_ANALOGS, counter=(),
                       controls={**_SWITCH_CTL, **_RESET}),
    "capacitor": dict(binary=("status", "mode", "remote"), analog=(("v_volts", 3), ("q_kvar", 1)), counter=(),
                      controls={"switch": ("close", "open"), "mode": ("auto", "manual")}),
    "regulator": dict(binary=("mode", "remote"),
                      analog=(("status", 1),) + _SWITCH_ANALOGS + (("v_control_volts", 1),), counter=(),
                      controls={"tap": ("raise", "lower"), "mode": ("auto", "manual")}),
    "fault_indicator": dict(binary=("fault", "status", "remote"), analog=(), counter=(), controls=_RESET),
}
"""Each kind's points: binary and counter names, analog names with their width (3: per phase), and
paired controls ``role: (on action, off action)`` ('' where the control has no off side)."""

REASON_STATUS = {"not_selected": "no_select", "not_remote": "local", "at_limit": "out_of_range",
                 "discharging": "blocked", "de_energised": "hardware_error", "unreachable": "downstream_fail",
                 "not_applicable": "not_supported", "not_switching": "non_participating",
                 "unknown_action": "format_error", "unknown_device": "not_authorized",
                 "no_remote_control": "automation_inhibit"}
"""A refused control's reason as the CROB status an outstation answers (IEEE 1815 table 11-6)..."""
STATUS_REASON = {v: k for k, v in REASON_STATUS.items()}
"""... and back, at the master."""

# The order a device's points are reported in (the virtual devices' own order).
_ORDER = ("status", "mode", "lockout", "fault", "i_amps", "v_volts", "p_kw", "q_kvar", "v_control_volts", "remote")
_BINARY_TRUE = {"status": ("closed", "live"), "mode": ("auto",)}
_BINARY_FALSE = {"status": ("open", "dead"), "mode": ("manual",)}


class PointsMapError(ModelError):
    """A points map file that cannot be used: names the file, the RTU or device and the fix."""


@dataclass(frozen=True)
class Rtu:
    """An outstation: its ``name`` (the field's RTU name), DNP3 link ``address`` and TCP endpoint."""

    name: str
    address: int
    host: str
    port: int


@dataclass(frozen=True)
class DevicePoints:
    """One device's points: DNP3 indices by point name (analogs: one index per phase or one),
    counters, and CROB indices by control role; ``rtu`` '' for a device without telemetry."""

    id: str
    kind: str
    element: str
    rtu: str = ""
    binary: dict[str, int] = field(default_factory=dict)
    analog: dict[str, tuple[int, ...]] = field(default_factory=dict)
    counter: dict[str, int] = field(default_factory=dict)
    crob: dict[str, int] = field(default_factory=dict)

    @property
    def names(self) -> tuple[str, ...]:
        """Its interface point names, in report order."""
        have = set(self.binary) | set(self.analog)
        return tuple(n for n in _ORDER if n in have)

    def control(self, action: str) -> tuple[int, bool] | None:
        """The CROB ``(index, on)`` that performs ``action`` (None: no such control here)."""
        for role, (on, off) in LAYOUT[self.kind]["controls"].items():
            if role not in self.crob:
                continue
            if action == on:
                return self.crob[role], True
            if action == off or (off == "trip" and action == "open"):  # a switch opens by trip or open
                return self.crob[role], False
        return None

    def action(self, index: int, on: bool) -> str | None:
        """The action CROB ``index`` performs, ``on`` (close/raise/auto/reset) or off."""
        for role, k in self.crob.items():
            if k == index:
                on_action, off_action = LAYOUT[self.kind]["controls"][role]
                return (on_action if on else off_action) or None
        return None


@dataclass(frozen=True)
class PointsMap:
    """Every device the field-device interface serves, in the interface's order, and the RTUs
    (outstations) that report them; ``master_address`` the master's DNP3 link address."""

    rtus: tuple[Rtu, ...]
    devices: tuple[DevicePoints, ...]
    master_address: int = 1
    epoch_utc_ms: int = 0

    def __post_init__(self) -> None:
        object.__setattr__(self, "_rtu", {r.name: r for r in self.rtus})
        object.__setattr__(self, "_device", {d.id: d for d in self.devices})
        by: dict[str, list[DevicePoints]] = {r.name: [] for r in self.rtus}
        for d in self.devices:
            if d.rtu:
                by[d.rtu].append(d)
        object.__setattr__(self, "_by_rtu", by)

    def rtu(self, name: str) -> Rtu:
        return self._rtu[name]  # type: ignore[attr-defined]

    def device(self, device: str) -> DevicePoints | None:
        return self._device.get(device)  # type: ignore[attr-defined]

    def served_by(self, rtu: str) -> list[DevicePoints]:
        """The devices outstation ``rtu`` reports, in order."""
        return self._by_rtu[rtu]  # type: ignore[attr-defined]

    def sizes(self, rtu: str) -> tuple[int, int, int, int]:
        """``(binaries, analogs, counters, crobs)`` outstation ``rtu`` holds."""
        devs = self.served_by(rtu)
        return (sum(len(d.binary) for d in devs), sum(len(i) for d in devs for i in d.analog.values()),
                sum(len(d.counter) for d in devs), sum(len(d.crob) for d in devs))

    def infos(self) -> list[DeviceInfo]:
        """The devices as the field-device interface describes them."""
        return [DeviceInfo(d.id, d.kind, d.element, bool(d.rtu), d.rtu) for d in self.devices]

    # -- values ----------------------------------------------------------------------------------

    def encode(self, p: PointValue) -> list[tuple[str, int, Any, int, int]]:
        """``(group, index, value, flags, dnp3_ms)`` for the DNP3 points carrying ``p``."""
        d = self._device[p.device]  # type: ignore[attr-defined]
        flags, ms = flags_of(p.quality), to_dnp3_ms(p.time_s, self.epoch_utc_ms)
        if p.name in d.binary:
            return [("binary", d.binary[p.name], _to_bool(d, p.name, p.value), flags, ms)]
        if p.name in d.analog:
            idx = d.analog[p.name]
            values = tuple(p.value) if isinstance(p.value, tuple) else (p.value,)
            if len(values) != len(idx):
                raise PointsMapError(f"point {p.name} has {len(values)} values, the map {len(idx)} analogs",
                                     component="device", element=p.device, field=p.name,
                                     fix="rebuild the points map from this network")
            return [("analog", k, float(v), flags, ms) for k, v in zip(idx, values)]
        return []

    def decode(self, device: DevicePoints, name: str, values: dict[tuple[str, int], tuple[Any, int, int]],
               now_ms: int) -> PointValue | None:
        """The interface point ``name`` of ``device`` from DNP3 values ``{(group, index): (value,
        flags, dnp3_ms)}`` (ms 0: no time in the object, ``now_ms`` stands); None when absent."""
        if name in device.binary:
            got = values.get(("binary", device.binary[name]))
            if got is None:
                return None
            value, flags, ms = got
            return PointValue(device.id, name, _from_bool(device, name, bool(value)), quality_of(flags),
                              from_dnp3_ms(ms or now_ms, self.epoch_utc_ms))
        idx = device.analog.get(name)
        if idx is None:
            return None
        parts = [values.get(("analog", k)) for k in idx]
        if any(p is None for p in parts):
            return None
        quality = max((quality_of(p[1]) for p in parts), key=_QUALITY_RANK.__getitem__)  # type: ignore[index]
        ms = max(p[2] or now_ms for p in parts)  # type: ignore[index]
        floats = tuple(float(p[0]) for p in parts)  # type: ignore[index]
        value: Any = floats if len(idx) > 1 or name in ("i_amps", "v_volts") else floats[0]
        if name == "status":  # a regulator's tap
            value = int(round(floats[0]))
        return PointValue(device.id, name, value, quality, from_dnp3_ms(ms, self.epoch_utc_ms))

    # -- file ------------------------------------------------------------------------------------

    def to_mapping(self) -> dict[str, Any]:
        return {"format": FORMAT, "master_address": self.master_address, "epoch_utc_ms": self.epoch_utc_ms,
                "rtus": [{"name": r.name, "address": r.address, "host": r.host, "port": r.port} for r in self.rtus],
                "devices": [_device_mapping(d) for d in self.devices]}

    def write(self, path: str | Path) -> Path:
        """The map as YAML at ``path``."""
        import yaml

        path = Path(path)
        path.write_text(yaml.safe_dump(self.to_mapping(), sort_keys=False, width=120))
        return path

    def with_ports(self, ports: dict[str, int]) -> PointsMap:
        """The map with the outstations on other TCP ports (``{rtu: port}``)."""
        rtus = tuple(Rtu(r.name, r.address, r.host, ports.get(r.name, r.port)) for r in self.rtus)
        return PointsMap(rtus, self.devices, self.master_address, self.epoch_utc_ms)


_QUALITY_RANK = {Quality.good: 0, Quality.manual: 1, Quality.stale: 2, Quality.comms_failed: 3}


def flags_of(quality: Quality) -> int:
    """The DNP3 flag octet of a quality (see the module docstring)."""
    return {Quality.good: ONLINE, Quality.stale: 0, Quality.comms_failed: COMM_LOST, Quality.manual: ONLINE}[quality]


def quality_of(flags: int) -> Quality:
    """The quality a DNP3 flag octet says (COMM_LOST first, then not ONLINE or RESTART: stale)."""
    if flags & COMM_LOST:
        return Quality.comms_failed
    if not flags & ONLINE or flags & RESTART:
        return Quality.stale
    return Quality.good


def to_dnp3_ms(time_s: float, epoch_utc_ms: int) -> int:
    """Session seconds as DNP3 time (ms since 1970 UTC), to the millisecond below."""
    return int(epoch_utc_ms + math.floor(time_s * 1000.0 + 1e-6)) if math.isfinite(time_s) else int(epoch_utc_ms)


def from_dnp3_ms(ms: int, epoch_utc_ms: int) -> float:
    """DNP3 time back to session seconds."""
    return (int(ms) - int(epoch_utc_ms)) / 1000.0


def _to_bool(d: DevicePoints, name: str, value: Any) -> bool:
    if name in _BINARY_TRUE:
        if value in _BINARY_TRUE[name]:
            return True
        if value in _BINARY_FALSE[name]:
            return False
        raise PointsMapError(f"point {name} value {value!r} has no binary state", component="device",
                             element=d.id, field=name, fix="the points map carries statuses open/closed, live/dead, "
                                                           "auto/manual")
    return bool(value)


def _from_bool(d: DevicePoints, name: str, on: bool) -> Any:
    if name == "status":
        return ("live" if on else "dead") if d.kind == "fault_indicator" else ("closed" if on else "open")
    if name == "mode":
        return "auto" if on else "manual"
    return on


def build_points_map(devices: Sequence[DeviceInfo], sample: Iterable[PointValue], *, base_port: int = 20000,
                     host: str = "127.0.0.1", master_address: int = 1, first_address: int = 10,
                     epoch_utc_ms: int = 0) -> PointsMap:
    """The points map of a field link's ``devices``: one outstation per RTU (link addresses from
    ``first_address``, ports from ``base_port``), each device's points as :data:`LAYOUT` lists
    them where ``sample`` (an integrity read) shows the device has them (a single-phase switch
    keeps its three analogs, NaN on the absent phases)."""
    has: dict[str, dict[str, Any]] = {}
    for p in sample:
        has.setdefault(p.device, {})[p.name] = p.value
    rtus: dict[str, Rtu] = {}
    counts: dict[str, list[int]] = {}
    out: list[DevicePoints] = []
    for info in devices:
        if not info.remote or not info.rtu:
            out.append(DevicePoints(info.id, info.kind, info.element))
            continue
        if info.kind not in LAYOUT:
            raise PointsMapError(f"no DNP3 points list for kind {info.kind!r}", component="device", element=info.id,
                                 fix=f"use one of {', '.join(LAYOUT)}")
        if info.rtu not in rtus:
            rtus[info.rtu] = Rtu(info.rtu, first_address + len(rtus), host, base_port + len(rtus))
            counts[info.rtu] = [0, 0, 0, 0]
        n = counts[info.rtu]
        layout, present = LAYOUT[info.kind], has.get(info.id, {})
        binary, analog, counter, crob = {}, {}, {}, {}
        for name in layout["binary"]:
            if name in present:
                binary[name], n[0] = n[0], n[0] + 1
        for name, width in layout["analog"]:
            if name in present:
                analog[name] = tuple(range(n[1], n[1] + width))
                n[1] += width
        for name in layout["counter"]:
            counter[name], n[2] = n[2], n[2] + 1
        for role in layout["controls"]:
            if role == "mode" and "mode" not in present:
                continue
            crob[role], n[3] = n[3], n[3] + 1
        out.append(DevicePoints(info.id, info.kind, info.element, info.rtu, binary, analog, counter, crob))
    return PointsMap(tuple(rtus.values()), tuple(out), master_address, epoch_utc_ms)


def _device_mapping(d: DevicePoints) -> dict[str, Any]:
    m: dict[str, Any] = {"id": d.id, "kind": d.kind, "element": d.element}
    if d.rtu:
        m.update(rtu=d.rtu, binary=dict(d.binary), analog={k: list(v) for k, v in d.analog.items()},
                 counter=dict(d.counter), crob=dict(d.crob))
    return m


def load_points_map(path: str | Path) -> PointsMap:
    """Read a points map file; every problem is a :class:`PointsMapError` naming the file, the
    entry and the fix."""
    import yaml

    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as err:
        raise PointsMapError(f"cannot read the points map: {err}", component="file", element=str(path),
                             fix="give a YAML file written by `twin dnp3-points` or of the same layout") from err

    def bad(what: str, element: str, fix: str) -> PointsMapError:
        return PointsMapError(f"{path}: {what}", component="points map", element=element, fix=fix)

    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise bad(f"not a points map (format must be {FORMAT!r})", "format", f"start the file with format: {FORMAT}")
    rtus, names, addresses = [], set(), set()
    for k, r in enumerate(data.get("rtus") or []):
        try:
            rtu = Rtu(str(r["name"]), int(r["address"]), str(r.get("host", "127.0.0.1")), int(r["port"]))
        except (KeyError, TypeError, ValueError) as err:
            raise bad(f"rtu #{k + 1} needs name, address and port ({err})", f"rtus[{k}]",
                      "give each RTU name:, address: (0-65519) and port:") from err
        if rtu.name in names or rtu.address in addresses or not 0 <= rtu.address <= 65519:
            raise bad(f"rtu {rtu.name}: name or address {rtu.address} repeated or out of range", rtu.name,
                      "give each RTU its own name and a DNP3 address 0-65519")
        names.add(rtu.name)
        addresses.add(rtu.address)
        rtus.append(rtu)
    devices = []
    taken: dict[tuple[str, str, int], str] = {}
    for k, d in enumerate(data.get("devices") or []):
        try:
            dev = DevicePoints(str(d["id"]), str(d["kind"]), str(d.get("element", "")), str(d.get("rtu", "") or ""),
                               {str(a): int(b) for a, b in (d.get("binary") or {}).items()},
                               {str(a): tuple(int(x) for x in (b if isinstance(b, list) else [b]))
                                for a, b in (d.get("analog") or {}).items()},
                               {str(a): int(b) for a, b in (d.get("counter") or {}).items()},
                               {str(a): int(b) for a, b in (d.get("crob") or {}).items()})
        except (KeyError, TypeError, ValueError, AttributeError) as err:
            raise bad(f"device #{k + 1} is malformed ({err})", f"devices[{k}]",
                      "give id:, kind:, and for a telemetered device rtu:, binary:, analog:, counter:, crob:") from err
        if dev.rtu and dev.rtu not in names:
            raise bad(f"device {dev.id} names RTU {dev.rtu!r}, which is not listed", dev.id, "add it under rtus:")
        if dev.rtu and dev.kind not in LAYOUT:
            raise bad(f"device {dev.id} has kind {dev.kind!r}", dev.id, f"use one of {', '.join(LAYOUT)}")
        unknown = set(dev.crob) - set(LAYOUT.get(dev.kind, {}).get("controls", {}))
        if unknown:
            raise bad(f"device {dev.id}: no control role {sorted(unknown)} on a {dev.kind}", dev.id,
                      f"roles: {', '.join(LAYOUT[dev.kind]['controls'])}")
        for group, indices in (("binary", list(dev.binary.values())),
                               ("analog", [k for ks in dev.analog.values() for k in ks]),
                               ("counter", list(dev.counter.values())), ("crob", list(dev.crob.values()))):
            for k in indices:
                other = taken.setdefault((dev.rtu, group, k), dev.id)
                if other != dev.id or indices.count(k) > 1 or k < 0:
                    raise bad(f"device {dev.id}: {group} index {k} of RTU {dev.rtu} is taken by {other} or invalid",
                              dev.id, "give each point of an RTU its own index, 0 or more, per group")
        devices.append(dev)
    return PointsMap(tuple(rtus), tuple(devices), int(data.get("master_address", 1)), int(data.get("epoch_utc_ms", 0)))
