"""Switching orders: an ordered list of steps, and the state an order is in.

A :class:`SwitchingOrder` is what a dispatcher writes (or an optimisation function generates) to
change the network's configuration: each :class:`Step` says what to do (:class:`StepKind`: open,
close, tag, untag, ground, remove a ground, verify, a crew instruction, issue or take back a
clearance), to what (a device id, a bus id for grounds) and who does it (:class:`Performer`:
SCADA for a remote device, a crew in the field who confirms, the dispatcher at the desk). An order
moves ``draft -> approved -> in_progress -> done`` (or ``aborted`` at any point before done); its
history says who did what when. Orders and their steps are plain data that round-trip through
JSON records (:meth:`SwitchingOrder.record`, :meth:`SwitchingOrder.from_record`), so the store
keeps them across a restart.

>>> order = SwitchingOrder("SO-0001", "Isolate SW2", steps=[Step(StepKind.open, "S01-F1-SW2")])
>>> SwitchingOrder.from_record(order.record()) == order
True
"""

from __future__ import annotations

import enum
import math
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from twin.errors import TwinError

__all__ = ["OrderError", "OrderState", "Performer", "Step", "StepKind", "StepState", "SwitchingOrder"]


class OrderError(TwinError):
    """A switching order cannot be written, approved or run as asked (says why)."""

    def __init__(self, message: str, *, fix: str = "") -> None:
        self.fix = fix
        super().__init__(f"{message}; {fix}" if fix else message)


class StepKind(str, enum.Enum):
    open = "open"  # open a switching device (target: device id)
    close = "close"  # close a switching device
    tag = "tag"  # hang a hold tag on a device (for a clearance when ``clearance`` is set)
    untag = "untag"  # take it off again
    ground = "ground"  # apply working grounds at a bus (target: bus id), dead and isolated only
    remove_ground = "remove_ground"
    verify = "verify"  # check the device is believed open (``expect_open``) or closed, or a bus dead
    instruct = "instruct"  # a crew instruction (``note``), confirmed when done
    issue = "issue"  # issue the clearance ``clearance`` to its crew: the section is theirs
    take_back = "take_back"  # the crew hands the clearance back


class Performer(str, enum.Enum):
    scada = "scada"  # a remote control through SCADA
    crew = "crew"  # a crew in the field, who confirms by radio
    dispatcher = "dispatcher"  # at the desk (tags, verifications, clearances)


class StepState(str, enum.Enum):
    pending = "pending"
    running = "running"  # sent, waiting for the field or the crew
    done = "done"
    failed = "failed"
    skipped = "skipped"  # already so when its turn came (a device found open)


class OrderState(str, enum.Enum):
    draft = "draft"
    approved = "approved"
    in_progress = "in_progress"
    done = "done"
    aborted = "aborted"


SWITCHING = (StepKind.open, StepKind.close)


@dataclass
class Step:
    """One step of an order (see the module docstring). ``allow_loop``: a close that may join two
    live islands (make-before-break: a brief loop, or two sources in parallel); ``acknowledged``:
    the dispatcher accepts that an open puts critical customers out; ``expect_open``: what a
    ``verify`` of a device expects (None for a bus: dead)."""

    kind: StepKind
    target: str = ""
    by: Performer = Performer.scada
    crew: str = ""
    note: str = ""
    allow_loop: bool = False
    acknowledged: bool = False
    clearance: str = ""
    expect_open: bool | None = None
    state: StepState = StepState.pending
    done_s: float = math.nan
    result: str = ""

    def __post_init__(self) -> None:
        self.kind, self.by, self.state = StepKind(self.kind), Performer(self.by), StepState(self.state)
        if self.kind in SWITCHING and self.by == Performer.dispatcher:
            raise OrderError(f"step {self.kind.value} {self.target}: a device is operated by SCADA or a crew, "
                             "not at the desk", fix="set by='scada' (remote) or by='crew'")
        if self.by == Performer.crew and self.kind in SWITCHING + (StepKind.ground, StepKind.remove_ground) \
                and not self.crew:
            raise OrderError(f"step {self.kind.value} {self.target} is a field step with no crew named",
                             fix="name the crew that carries it out")

    def text(self) -> str:
        """The step as a dispatcher reads it."""
        who = self.crew if self.by == Performer.crew else self.by.value
        what = {StepKind.remove_ground: "remove grounds at", StepKind.ground: "ground",
                StepKind.take_back: "take back clearance", StepKind.issue: "issue clearance"}.get(self.kind,
                                                                                                  self.kind.value)
        target = self.clearance if self.kind in (StepKind.issue, StepKind.take_back) else self.target
        extra = " (loop allowed)" if self.allow_loop else ""
        return f"{who}: {what} {target}{extra}{': ' + self.note if self.note else ''}".replace("  ", " ")

    def record(self) -> dict[str, Any]:
        out = asdict(self)
        out["kind"], out["by"], out["state"] = self.kind.value, self.by.value, self.state.value
        out["done_s"] = None if math.isnan(self.done_s) else self.done_s
        return out

    @classmethod
    def from_record(cls, rec: dict[str, Any]) -> Step:
        names = {f.name for f in fields(cls)}
        data = {k: v for k, v in rec.items() if k in names}
        data["done_s"] = math.nan if data.get("done_s") is None else float(data["done_s"])
        return cls(**data)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Step) and self.record() == other.record()


@dataclass
class SwitchingOrder:
    """An order (see the module docstring): ``purpose`` what it is for (``planned``, ``flisr``,
    ``restore``, ``reconfigure``, ``manual``), ``next`` the index of the step to run next."""

    id: str
    title: str
    steps: list[Step] = field(default_factory=list)
    purpose: str = "manual"
    state: OrderState = OrderState.draft
    created_by: str = ""
    created_s: float = 0.0
    approved_by: str = ""
    next: int = 0
    history: list[tuple[float, str, str]] = field(default_factory=list)  # (time s, user, what)
    clearances: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.state = OrderState(self.state)
        self.history = [tuple(h) for h in self.history]  # type: ignore[misc]

    @property
    def finished(self) -> bool:
        return self.state in (OrderState.done, OrderState.aborted)

    def note(self, time_s: float, user: str, what: str) -> None:
        self.history.append((float(time_s), user, what))

    def text(self) -> str:
        """The order as printed for the desk: title, state, one numbered line per step."""
        lines = [f"{self.id} {self.title} [{self.state.value}]"]
        for k, s in enumerate(self.steps, 1):
            mark = {StepState.done: "x", StepState.failed: "!", StepState.skipped: "-", StepState.running: ">"}.get(
                s.state, " ")
            lines.append(f"  [{mark}] {k:2d}. {s.text()}{'  -- ' + s.result if s.result else ''}")
        return "\n".join(lines)

    def record(self) -> dict[str, Any]:
        return {"id": self.id, "title": self.title, "steps": [s.record() for s in self.steps],
                "purpose": self.purpose, "state": self.state.value, "created_by": self.created_by,
                "created_s": self.created_s, "approved_by": self.approved_by, "next": self.next,
                "history": [list(h) for h in self.history], "clearances": list(self.clearances)}

    @classmethod
    def from_record(cls, rec: dict[str, Any]) -> SwitchingOrder:
        data = dict(rec)
        data["steps"] = [Step.from_record(s) for s in rec.get("steps", [])]
        return cls(**data)
