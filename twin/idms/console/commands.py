"""What a dispatcher can ask of the IDMS from the console, as values.

The console turns clicks and keys into these and hands them to the
:class:`~twin.idms.console.desk.Desk`, which carries them out through SCADA, the outage manager
and the workforce link, as the dispatcher's user; the answer is a :class:`Result`. Nothing else
changes the IDMS from the console.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["AbortOrder", "Acknowledge", "CallOut", "Close", "Command", "ConfirmStep", "Dispatch", "PlaceTag",
           "RemoveTag", "Result", "RunOrder", "Trip"]


@dataclass(frozen=True)
class Trip:
    """Open a remotely controlled switching device (select-before-operate through SCADA)."""

    device: str


@dataclass(frozen=True)
class Close:
    """Close a remotely controlled switching device."""

    device: str


@dataclass(frozen=True)
class PlaceTag:
    """Tag a device (``hold``: a crew works under its protection; ``do_not_operate``)."""

    device: str
    kind: str = "hold"
    reason: str = ""


@dataclass(frozen=True)
class RemoveTag:
    tag_id: str


@dataclass(frozen=True)
class Acknowledge:
    """Acknowledge alarms (one, or a page of them)."""

    alarm_ids: tuple[str, ...]


@dataclass(frozen=True)
class Dispatch:
    """Send a crew to an outage: patrol, repair, restore."""

    crew: str
    outage_id: str


@dataclass(frozen=True)
class CallOut:
    """Call the crews off duty in (a storm): each goes on duty when it reports at its depot."""


@dataclass(frozen=True)
class RunOrder:
    """Approve a draft switching order (a FLISR proposal, say: its rehearsal must be clean) and run it."""

    order_id: str


@dataclass(frozen=True)
class ConfirmStep:
    """Enter a crew's confirmation of the step a running order waits on."""

    order_id: str
    note: str = ""


@dataclass(frozen=True)
class AbortOrder:
    order_id: str
    reason: str = "aborted at the console"


Command = Trip | Close | PlaceTag | RemoveTag | Acknowledge | Dispatch | CallOut | RunOrder | ConfirmStep | AbortOrder


@dataclass(frozen=True)
class Result:
    """The IDMS's answer to a command: done (or under way), or refused and why."""

    ok: bool
    text: str
