"""Safety documents: clearances (permits to work) that hand a section of network to a named crew.

A :class:`Clearance` names the crew, the work, its isolation points (the devices that bound the
section, open) and its grounds (buses where working grounds go). Its section is worked out from
the model: the buses connected to the work location with every isolation point open
with every other switching device closed (:meth:`Connectivity.section
<twin.grid.connectivity.Connectivity.section>`): the points must bound it whatever else is
switched, ties and fuses included; a set that leaves it connected to a source is refused when the
clearance is written, naming the source.

Its life, step by step of a switching order::

    draft --(first isolation point tagged)--> in_force --(issued to the crew: proven dead,
    grounded)--> issued --(the crew hands it back)--> returned --(last tag and ground
    removed)--> closed

From ``in_force`` until ``closed`` the section is *held*: :meth:`SafetyRegister.refusal` refuses
any operation that would energise a bus of it, whoever asks (SCADA's controls, a crew's switching,
a switching order's step), and every refusal is logged (:attr:`SafetyRegister.refusals`). The
clearance's own tags come off only once the crew has handed it back and its grounds are removed;
a ground goes on only on a dead bus of the section, and comes off only after the hand-back.

>>> Clearance("C0001", crew="S01-LC1", work="replace pole 17", points=["S01-F1-SW2"]).state.value
'draft'
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from twin.errors import TwinError
from twin.grid.connectivity import Connectivity
from twin.grid.network import Network

__all__ = ["Clearance", "ClearanceError", "ClearanceState", "Refusal", "SafetyRegister", "study_register"]

log = logging.getLogger(__name__)


class ClearanceError(TwinError):
    """A clearance cannot be written or moved on as asked (says why and what to do)."""

    def __init__(self, message: str, *, fix: str = "") -> None:
        self.fix = fix
        super().__init__(f"{message}; {fix}" if fix else message)


class ClearanceState(str, enum.Enum):
    draft = "draft"
    in_force = "in_force"  # isolation under way: its section may not be energised
    issued = "issued"  # held by the crew
    returned = "returned"  # handed back; tags and grounds still on
    closed = "closed"
    cancelled = "cancelled"


HELD = (ClearanceState.in_force, ClearanceState.issued, ClearanceState.returned)


@dataclass
class Clearance:
    """A permit to work (see the module docstring): ``points`` isolation devices (switch ids),
    ``grounds`` bus ids, ``location`` a bus id inside the section (default: the far side of the
    first point), ``section`` the section's bus ids (worked out when registered), ``tags`` the
    tag ids placed for it, ``grounded`` the buses grounded now."""

    id: str
    crew: str
    work: str
    points: list[str]
    grounds: list[str] = field(default_factory=list)
    location: str = ""
    state: ClearanceState = ClearanceState.draft
    section: list[str] = field(default_factory=list)
    tags: dict[str, str] = field(default_factory=dict)  # device -> tag id
    grounded: list[str] = field(default_factory=list)
    history: list[tuple[float, str, str]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.state = ClearanceState(self.state)
        self.history = [tuple(h) for h in self.history]  # type: ignore[misc]

    @property
    def held(self) -> bool:
        return self.state in HELD

    def record(self) -> dict[str, Any]:
        return {"id": self.id, "crew": self.crew, "work": self.work, "points": list(self.points),
                "grounds": list(self.grounds), "location": self.location, "state": self.state.value,
                "section": list(self.section), "tags": dict(self.tags), "grounded": list(self.grounded),
                "history": [list(h) for h in self.history]}

    @classmethod
    def from_record(cls, rec: dict[str, Any]) -> Clearance:
        return cls(**rec)


@dataclass(frozen=True)
class Refusal:
    """An operation refused for a clearance: who asked, what, when and why."""

    time_s: float
    user: str
    device: str
    action: str
    clearance: str
    reason: str


class SafetyRegister:
    """The clearances of one IDMS and the check every operation goes through (see the module
    docstring). ``states()`` gives the believed switch states (bool per switch row, True: open)."""

    def __init__(self, net: Network, connectivity: Connectivity, states: Callable[[], np.ndarray],
                 now: Callable[[], float]) -> None:
        self.net, self.connectivity, self._states, self._now = net, connectivity, states, now
        self.clearances: dict[str, Clearance] = {}
        self.refusals: list[Refusal] = []
        self.listeners: list[Callable[[Clearance], None]] = []  # told of every change (the store keeps them)
        self._section_rows: dict[str, np.ndarray] = {}
        self._seq = 0

    # -- writing -----------------------------------------------------------------------------------
    def new_id(self) -> str:
        self._seq += 1
        while f"C{self._seq:04d}" in self.clearances:
            self._seq += 1
        return f"C{self._seq:04d}"

    def register(self, clearance: Clearance, user: str) -> Clearance:
        """Check a clearance's points and grounds against the model, work out its section and keep
        it (draft). Raises :class:`ClearanceError` for points that do not isolate."""
        if clearance.id in self.clearances:
            raise ClearanceError(f"clearance {clearance.id} exists already", fix="give the new one another id")
        rows = self._point_rows(clearance)
        location = clearance.location or str(self.net.switch["to_bus"][rows[0]])
        if self.net.bus.get(location) is None:
            raise ClearanceError(f"clearance {clearance.id}: no bus {location!r} for the work location",
                                 fix="name a bus of the model inside the section")
        # every other device closed: the points must bound the section whatever else is switched
        section = self.connectivity.section(np.zeros(len(self.net.switch), bool), self.net.bus.position(location), rows)
        live_sources = np.intersect1d(section, self.connectivity.source_bus)
        if len(live_sources):
            raise ClearanceError(
                f"clearance {clearance.id}: the isolation points {', '.join(clearance.points)} do not isolate "
                f"bus {location}: it stays connected to the source at bus {self.net.bus.ids[live_sources[0]]}",
                fix="add the devices that still connect the section (normally open ties, parallel feeds) to its "
                    "isolation points")
        ids = self.net.bus.ids[section].astype(str)
        for g in clearance.grounds:
            if g not in set(ids.tolist()):
                raise ClearanceError(f"clearance {clearance.id}: ground at bus {g!r} is outside its section",
                                     fix="ground buses inside the isolated section")
        clearance.location, clearance.section = location, ids.tolist()
        self._section_rows[clearance.id] = section
        clearance.history.append((self._now(), user, "written"))
        self.clearances[clearance.id] = clearance
        self._changed(clearance)
        return clearance

    def restore(self, clearances: list[Clearance]) -> None:
        """Take up stored clearances (a restart)."""
        for c in clearances:
            self.clearances[c.id] = c
            self._section_rows[c.id] = self.net.bus.index(c.section) if c.section else np.empty(0, np.int64)
            self._seq = max(self._seq, int(c.id[1:]) if c.id[1:].isdigit() else 0)

    # -- the check every operation goes through --------------------------------------------------
    def held_buses(self) -> np.ndarray:
        """Bus rows of every section held now."""
        held = [self._section_rows[c.id] for c in self.clearances.values() if c.held]
        return np.unique(np.concatenate(held)) if held else np.empty(0, np.int64)

    def violation(self, states: np.ndarray, row: int, open_: bool) -> tuple[str, str] | None:
        """``(clearance id, reason)`` when setting switch ``row`` open (``open_``) or closed from
        ``states`` would energise a held section or operate a held clearance's isolation point;
        None when it may go ahead."""
        device = str(self.net.switch.ids[row])
        for c in self.clearances.values():
            if c.held and device in c.points and not open_:
                return c.id, (f"{device} is an isolation point of clearance {c.id} held for {c.crew} "
                              f"({c.work}); it stays open until the clearance is closed")
        if open_:
            return None
        held = [c for c in self.clearances.values() if c.held]
        if not held:
            return None
        after = np.asarray(states, bool).copy()
        after[row] = False
        live = self.connectivity.energised(after)
        for c in held:
            rows = self._section_rows[c.id]
            if len(rows) and live[rows].any():
                bus = self.net.bus.ids[rows[live[rows]][0]]
                return c.id, (f"closing {device} would energise bus {bus}, in the section of clearance {c.id} "
                              f"held for {c.crew} ({c.work})")
        return None

    def refusal(self, device: str, open_: bool, user: str, *, states: np.ndarray | None = None) -> str | None:
        """Check an operation of switch ``device`` against the held clearances, log a refusal; the
        reason, or None when it may go ahead."""
        row = self.net.switch.get(device)
        if row is None:
            return None
        found = self.violation(self._states() if states is None else states, row, open_)
        if found is None:
            return None
        cid, reason = found
        refusal = Refusal(self._now(), user, device, "open" if open_ else "close", cid, reason)
        self.refusals.append(refusal)
        log.warning("refused %s %s asked by %s: %s", refusal.action, device, user, reason)
        return reason

    # -- moving a clearance on -------------------------------------------------------------------
    def get(self, cid: str) -> Clearance:
        try:
            return self.clearances[cid]
        except KeyError:
            raise ClearanceError(f"no clearance {cid}", fix="choose one from the clearance list") from None

    def tagged(self, cid: str, device: str, tag_id: str, user: str) -> None:
        """A hold tag ``tag_id`` went on isolation point ``device``; the section is held from now."""
        c = self.get(cid)
        if device not in c.points:
            raise ClearanceError(f"{device} is not an isolation point of clearance {cid}",
                                 fix=f"tag one of {', '.join(c.points)}")
        if c.state not in (ClearanceState.draft, ClearanceState.in_force):
            raise ClearanceError(f"clearance {cid} is {c.state.value}: its isolation is already done")
        c.tags[device] = tag_id
        if c.state == ClearanceState.draft:
            c.state = ClearanceState.in_force
        self._note(c, user, f"tag {tag_id} on {device}")

    def check_untag(self, cid: str, device: str) -> str | None:
        """Why a clearance's tag may not come off now (None: it may)."""
        c = self.get(cid)
        if c.state in (ClearanceState.in_force, ClearanceState.issued):
            return f"clearance {cid} is {c.state.value}: its tags stay on until {c.crew} hands it back"
        if c.grounded:
            return f"clearance {cid} still has grounds at {', '.join(c.grounded)}: remove them first"
        if device not in c.tags:
            return f"clearance {cid} has no tag on {device}"
        return None

    def untagged(self, cid: str, device: str, user: str) -> None:
        c = self.get(cid)
        why = self.check_untag(cid, device)
        if why:
            raise ClearanceError(why)
        tag = c.tags.pop(device)
        self._note(c, user, f"tag {tag} off {device}")
        if not c.tags and c.state == ClearanceState.returned:
            c.state = ClearanceState.closed
            self._note(c, user, "closed: tags and grounds removed")

    def check_ground(self, cid: str, bus: str, states: np.ndarray | None = None) -> str | None:
        """Why grounds may not go on ``bus`` now (None: they may): the bus must be in the
        section, the section isolated (every point tagged) and the bus dead."""
        c = self.get(cid)
        if bus not in c.section:
            return f"bus {bus} is outside the section of clearance {cid}"
        if c.state != ClearanceState.in_force or set(c.tags) != set(c.points):
            untagged = sorted(set(c.points) - set(c.tags))
            return f"clearance {cid} is not isolated yet: tag {', '.join(untagged) or 'its points'} first"
        live = self.connectivity.energised(self._states() if states is None else states)
        if live[self.net.bus.position(bus)]:
            return f"bus {bus} is live: prove it dead before grounding"
        return None

    def grounded_at(self, cid: str, bus: str, user: str) -> None:
        why = self.check_ground(cid, bus)
        if why:
            raise ClearanceError(why)
        c = self.get(cid)
        c.grounded.append(bus)
        self._note(c, user, f"grounds on at {bus}")

    def check_remove_ground(self, cid: str, bus: str) -> str | None:
        c = self.get(cid)
        if bus not in c.grounded:
            return f"clearance {cid} has no grounds at {bus}"
        if c.state != ClearanceState.returned:
            return f"clearance {cid} is {c.state.value}: grounds come off only after {c.crew} hands it back"
        return None

    def ground_removed(self, cid: str, bus: str, user: str) -> None:
        why = self.check_remove_ground(cid, bus)
        if why:
            raise ClearanceError(why)
        c = self.get(cid)
        c.grounded.remove(bus)
        self._note(c, user, f"grounds off at {bus}")

    def check_issue(self, cid: str, states: np.ndarray | None = None) -> str | None:
        """Why the clearance may not be issued now: every point tagged, the section dead, every
        listed ground on."""
        c = self.get(cid)
        if c.state != ClearanceState.in_force:
            return f"clearance {cid} is {c.state.value}, not isolated and tagged"
        if set(c.tags) != set(c.points):
            return f"clearance {cid}: tag {', '.join(sorted(set(c.points) - set(c.tags)))} first"
        rows = self._section_rows[c.id]
        live = self.connectivity.energised(self._states() if states is None else states)
        if len(rows) and live[rows].any():
            return f"clearance {cid}: bus {self.net.bus.ids[rows[live[rows]][0]]} of the section is live"
        missing = sorted(set(c.grounds) - set(c.grounded))
        if missing:
            return f"clearance {cid}: ground {', '.join(missing)} first"
        return None

    def issued(self, cid: str, user: str) -> None:
        why = self.check_issue(cid)
        if why:
            raise ClearanceError(why)
        c = self.get(cid)
        c.state = ClearanceState.issued
        self._note(c, user, f"issued to {c.crew}")

    def returned(self, cid: str, user: str) -> None:
        c = self.get(cid)
        if c.state != ClearanceState.issued:
            raise ClearanceError(f"clearance {cid} is {c.state.value}: only an issued clearance is handed back")
        c.state = ClearanceState.returned
        self._note(c, user, f"handed back by {c.crew}")

    def cancel(self, cid: str, user: str) -> None:
        """Withdraw a clearance never put in force."""
        c = self.get(cid)
        if c.state != ClearanceState.draft:
            raise ClearanceError(f"clearance {cid} is {c.state.value}: only a draft is cancelled",
                                 fix="have the crew hand it back, then remove its grounds and tags")
        c.state = ClearanceState.cancelled
        self._note(c, user, "cancelled")

    # -- internals --------------------------------------------------------------------------------
    def _point_rows(self, c: Clearance) -> np.ndarray:
        if not c.points:
            raise ClearanceError(f"clearance {c.id} names no isolation points", fix="list the devices that isolate it")
        rows = []
        for p in c.points:
            row = self.net.switch.get(p)
            if row is None:
                raise ClearanceError(f"clearance {c.id}: no switching device {p!r} in the model",
                                     fix="name the isolation points by their device ids")
            rows.append(row)
        return np.array(rows, np.int64)

    def _note(self, c: Clearance, user: str, what: str) -> None:
        c.history.append((self._now(), user, what))
        log.info("clearance %s: %s (%s)", c.id, what, user)
        self._changed(c)

    def _changed(self, c: Clearance) -> None:
        for listener in self.listeners:
            listener(c)


def study_register(register: SafetyRegister, states: Callable[[], np.ndarray]) -> SafetyRegister:
    """A copy of ``register`` for a rehearsal: the same clearances (copied: what the rehearsal does
    to them stays in it), the study's switch states, no listeners."""
    import copy

    clone = SafetyRegister(register.net, register.connectivity, states, register._now)
    clone.clearances = copy.deepcopy(register.clearances)
    clone._section_rows = dict(register._section_rows)
    clone._seq = register._seq
    return clone
