"""The call-centre interface: trouble calls in, callbacks out.

A customer's call reaches the IDMS as a :class:`TroubleCall`: who (the ``service_point`` id, its
``meter``, ``name``, ``address`` and a ``callback_number``), when (``time_s`` on the IDMS clock)
and what the caller *says* (:class:`Report`), which is not always what is so: a customer whose own
main breaker tripped says "no power" as one out with the grid does (an AMI ping tells them
apart), and a caller reports a wire down near them, not which line it is. ``repeat`` marks a
caller who says they called before about this outage. A wires-down call is a public hazard
whatever else is going on.

Out: :meth:`CallCentre.callback` asks the call centre to call a customer back with a message
("power is back", "a crew is on the way, estimated restoration 14:30"); the call centre keeps it
(an outbound call system or an agent makes it). A customer told their power is back who is still
out says so: that answer comes in as a new (repeat) trouble call.

>>> TroubleCall("CALL-000001", 600.0, "SP000017", "M000017", Report.no_power).hazard
False
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

__all__ = ["CallCentre", "Callback", "Report", "TroubleCall"]


class Report(str, enum.Enum):
    """What the caller says is wrong."""

    no_power = "no_power"  # everything is off
    partial_power = "partial_power"  # some lights or circuits off, some on (a lost phase, a neutral)
    flicker = "flicker"  # the power went off and came back
    low_voltage = "low_voltage"  # lights dim, appliances struggling
    wires_down = "wires_down"  # a conductor on the ground or hanging low: a hazard
    own_breaker = "own_breaker"  # the caller says their own main breaker tripped or will not reset
    other = "other"


@dataclass(frozen=True)
class TroubleCall:
    """One call to the trouble line (see the module docstring); ``near_line`` the line the call
    centre placed a wires-down report on from the caller's description ('' when none)."""

    id: str
    time_s: float
    service_point: str
    meter: str
    report: Report
    repeat: bool = False
    callback_number: str = ""
    name: str = ""
    address: str = ""
    near_line: str = ""

    @property
    def hazard(self) -> bool:
        """Whether the call reports a danger to the public (a crew goes first to these)."""
        return self.report == Report.wires_down


@dataclass(frozen=True)
class Callback:
    """A call back to a customer the IDMS asked for: when (``time_s``), who (``service_point``,
    the ``number`` to ring, '' when the call centre has none) and the ``message``."""

    time_s: float
    service_point: str
    number: str
    message: str
    restored: bool = False


@runtime_checkable
class CallCentre(Protocol):
    """The IDMS's link to the call centre (virtual in simulation, the utility's customer system
    or interactive voice response on a real one)."""

    def subscribe(self, callback: Callable[[list[TroubleCall]], None]) -> None:
        """``callback(calls)`` with each trouble call as it is taken."""

    def callback(self, service_point: str, message: str, *, restored: bool = False) -> Callback:
        """Call a customer back with ``message``; returns what was queued. ``restored``: the
        message says their power is back (the customer answers if it is not: a new call)."""
