"""Protection rules: settings readable, devices in series coordinated, every fault seen.

Run on a model without errors, after the power flow, for the devices whose switch row gives a
setting (``curve``): a fault study of the model as it stands
(:func:`~twin.grid.shortcircuit.fault_study`, pre-fault voltages from the power flow) gives each
protective device's zone (the buses it is the nearest upstream protective device of) and the
range of fault currents there, from its minimum fault (the smaller of SLG and LL at its weakest
bus) to its largest bolted fault. Each device and the protective device above it are then
checked over that range by the coordination rules of :mod:`twin.grid.coordination`.

=======================  ========  ============================================================
code                     severity  what
=======================  ========  ============================================================
protection-setting       error     a breaker, recloser, fuse or sectionaliser setting that does
                                   not read (the ``curve`` of its switch row)
fuse-cannot-see-fault    error     a fuse whose minimum melting current is above the minimum
                                   fault at the end of its zone
device-cannot-see-fault  warning   a relay's pickup or a recloser's minimum trip above it
miscoordination          warning   a device and the one above it miscoordinate at fault currents
                                   of its zone: one finding per upstream device, naming the
                                   currents at which each pair fails its rule
shortcircuit-skipped     warning   the fault study could not be run (its error says why)
=======================  ========  ============================================================
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np

from twin.errors import ModelError
from twin.grid.coordination import margin, rules
from twin.grid.network import Network
from twin.grid.schema import SwitchKind
from twin.grid.tcc import FuseSettings, min_operating_a, settings_from_switch
from twin.grid.validate.context import Context
from twin.grid.validate.findings import Finding, Severity

__all__ = ["PROTECTION_RULES", "check_protection"]

_SHOWN = 20
_POINTS = 48  # currents per zone on which a pair is checked (log-spaced), before the crossing is refined

PROTECTION_KINDS = (SwitchKind.breaker, SwitchKind.recloser, SwitchKind.fuse, SwitchKind.sectionaliser)


def check_protection(net: Network, ctx: Context) -> list[Finding]:
    """Settings, coordination of devices in series and fault reach, over a fault study."""
    from twin.grid.shortcircuit import fault_study
    from twin.grid.topology import build_topology

    sw = net.switch
    if not len(sw) or not len(net.source):
        return []
    settings, findings = _settings(net)
    if not settings:
        return findings
    try:
        study = fault_study(net)
    except ModelError as err:
        return findings + [Finding(Severity.warning, "shortcircuit-skipped", err.component,
                                   (err.element,) if err.element else (), message=f"the fault study was not run: {err}",
                                   fix="correct the model so that it solves, then validate again")]
    zones = study.zones.set_index("device")
    topo = build_topology(net)
    return findings + _reach(settings, zones) + _coordination(net, topo, settings, zones)


def _settings(net: Network) -> tuple[dict[str, object], list[Finding]]:
    """Each protective device's settings (closed or open: an open one protects once closed);
    devices whose switch row gives no setting are not checked (an imported model often has none,
    and defaults would only make findings of the importer's guesses)."""
    sw = net.switch
    out, bad = {}, []
    given = np.array([bool(str(c).strip()) and str(c).lower() != "nan" for c in sw["curve"]], bool)
    for k in np.flatnonzero(np.isin(sw["kind"], [int(x) for x in PROTECTION_KINDS]) & given):
        device = str(sw.ids[k])
        try:
            s = settings_from_switch(int(sw["kind"][k]), sw["curve"][k], float(sw["rated_a"][k]))
        except ValueError as err:
            bad.append(Finding(Severity.error, "protection-setting", "switch", (device,), field="curve",
                               value=sw["curve"][k], message=f"the protection setting does not read: {err}",
                               fix="write it as the territory does: '51P 400A U3; 50P 3200A', '2A2C 200A', '40T'"))
            continue
        if s is not None:
            out[device] = s
    return out, bad


def _reach(settings: dict[str, object], zones) -> list[Finding]:
    """Devices whose least operating current is above their zone's minimum fault."""
    blind = defaultdict(list)
    for device, s in settings.items():
        if device not in zones.index:
            continue
        least, weakest = min_operating_a(s), float(zones.at[device, "min_a"])
        if np.isfinite(least) and least > weakest:
            blind[isinstance(s, FuseSettings)].append((least / weakest, device, least, weakest,
                                                       str(zones.at[device, "weakest_bus"])))
    out = []
    for fuse, rows in blind.items():
        rows.sort(reverse=True)
        _, device, least, weakest, bus = rows[0]
        what = "fuse(s) melt" if fuse else "relay(s) or recloser(s) pick up"
        out.append(Finding(
            Severity.error if fuse else Severity.warning, "fuse-cannot-see-fault" if fuse else "device-cannot-see-fault",
            "switch", tuple(r[1] for r in rows[:_SHOWN]), field="curve", value=least, count=len(rows),
            message=f"{len(rows)} {what} above the minimum fault at the end of their zone: {device} from "
                    f"{least:,.0f} A, the fault at bus {bus} is {weakest:,.0f} A",
            fix="use a smaller link or a lower pickup, or add a protective device further out"))
    return out


def _coordination(net: Network, topo, settings: dict[str, object], zones) -> list[Finding]:
    """Each device against the protective device above it, over its zone's fault currents."""
    by_upstream = defaultdict(list)
    for device, down in settings.items():
        if device not in zones.index:
            continue
        up_id = topo.upstream_protective(f"switch.{device}")
        up = settings.get(up_id)
        if up is None or not rules(up, down):
            continue
        lo, hi = float(zones.at[device, "min_a"]), float(zones.at[device, "max_a"])
        if not 0 < lo < hi:
            continue
        grid = np.geomspace(lo, hi, _POINTS)
        m = margin(up, down, grid)
        if m.coordinated:
            continue
        bad = grid[~m.ok]
        by_upstream[up_id].append((float(bad[0]), float(bad[-1]), device, m.rule.value, float(np.nanmin(m.margin_s)),
                                   m.worst_a))
    out = []
    for up_id, pairs in by_upstream.items():
        pairs.sort(key=lambda p: p[4])  # the worst margin first
        _, _, device, rule, worst_s, worst_a = pairs[0]
        shown = "; ".join(f"{d} ({r}) at {a:,.0f}-{b:,.0f} A" for a, b, d, r, _, _ in pairs[:5])
        out.append(Finding(
            Severity.warning, "miscoordination", "switch", (up_id, *[p[2] for p in pairs[: _SHOWN - 1]]),
            field="curve", value=worst_a, count=len(pairs) + 1,
            message=f"{len(pairs)} device(s) below {up_id} miscoordinate with it at fault currents of their zones: "
                    f"{shown}{' ...' if len(pairs) > 5 else ''} (worst {worst_s:+.2f} s at {worst_a:,.0f} A)",
            fix=f"raise {up_id}'s time dial or pickup, or lower the devices below it, until the curves "
                f"clear each other at every fault current of their zones"))
    return out


PROTECTION_RULES = (check_protection,)
