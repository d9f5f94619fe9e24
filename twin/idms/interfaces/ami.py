"""The AMI head-end interface: what the IDMS hears from the customers' smart meters and asks them.

Meters are named by the model's ids: ``meter`` (the meter's id) and ``service_point`` (the
service point it measures), never by row numbers. Three things come from the head-end:

* **Events** (:meth:`AmiHeadEnd.subscribe`), as :class:`AmiEvent`: a *last gasp* (the meter lost
  power and said so on its capacitor's reserve), a *power restore*, a *low voltage* (brown-out)
  exception and its *voltage normal*. Each carries two times: ``meter_time_s``, the meter's own
  time stamp of what happened, and ``received_s``, when the head-end received it (a storm's burst
  of last gasps queues at the head-end for minutes: the outage began at the first, not the second).
  A meter that lost power without a last gasp reaching the head-end is silent: the IDMS has to
  live with missing gasps.
* **Answers** to on-demand requests (:meth:`AmiHeadEnd.ping`, :meth:`AmiHeadEnd.read_voltage`):
  each request returns its number at once and is answered later, by ``callback(reply)`` with an
  :class:`AmiReply`. Only a meter with power and communications answers; no answer within the
  head-end's timeout reads ``answered=False``: out or lost, which a ping cannot tell apart; a
  meter the head-end has no route to (its collector down) says so (``routed=False``).
* **Interval data** from the meter data management system (:meth:`AmiHeadEnd.load_profile`):
  kWh and mean voltage per interval, as far as the head-end has collected them (NaN: not yet).

>>> AmiEvent(AmiEventKind.last_gasp, "M000017", "SP000017", 125.0, 140.5).kind.value
'last_gasp'
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np

__all__ = ["AmiEvent", "AmiEventKind", "AmiHeadEnd", "AmiReply", "IntervalData", "MeterAnswer", "MeterInfo",
           "RequestKind"]


class AmiEventKind(str, enum.Enum):
    """What a meter reported of itself."""

    last_gasp = "last_gasp"  # lost power (after the meter's qualification: not a momentary)
    power_restore = "power_restore"  # power back after a qualified outage
    low_voltage = "low_voltage"  # below the brown-out threshold for a while, with power
    voltage_normal = "voltage_normal"  # back above it


class RequestKind(str, enum.Enum):
    """What the IDMS asked the meters."""

    ping = "ping"  # are you energised?
    voltage = "voltage"  # your voltage now


@dataclass(frozen=True)
class MeterInfo:
    """A meter the head-end serves: its ``meter`` id and its ``service_point`` id."""

    meter: str
    service_point: str


@dataclass(frozen=True)
class AmiEvent:
    """One message from one meter: ``meter_time_s`` the meter's time stamp of the event,
    ``received_s`` when the head-end received it (s on the IDMS clock)."""

    kind: AmiEventKind
    meter: str
    service_point: str
    meter_time_s: float
    received_s: float


@dataclass(frozen=True)
class MeterAnswer:
    """One meter's part of a reply: ``answered`` (True: it has power and heard), ``delay_s`` the
    round trip (NaN: no answer), ``v_pu`` its voltage for a read (per unit of the service voltage,
    mean of its phases; NaN for a ping or no answer), ``routed`` (False: the head-end had no route
    to the meter, its collector or back-haul being down, as head-ends report: its silence says
    nothing of its power)."""

    meter: str
    service_point: str
    answered: bool
    delay_s: float
    v_pu: float = float("nan")
    routed: bool = True


@dataclass(frozen=True)
class AmiReply:
    """The head-end's answer to request ``request`` (a ping or a voltage read) at ``time_s``, when
    the last meter answered or the head-end gave up; ``answers`` in the order asked."""

    request: int
    kind: RequestKind
    time_s: float
    answers: tuple[MeterAnswer, ...]

    @property
    def energised(self) -> list[str]:
        """Meters that answered: they have power."""
        return [a.meter for a in self.answers if a.answered]

    @property
    def silent(self) -> list[str]:
        """Meters that did not answer: out, unreachable or lost."""
        return [a.meter for a in self.answers if not a.answered]


@dataclass(frozen=True)
class IntervalData:
    """Load profiles from the meter data management system: ``meters`` and ``service_points``
    [m], ``start_s`` [k] the intervals' starts (s), ``kwh`` [k, m] energy in each interval and
    ``v_pu`` [k, m] mean voltage over its energised time (0: out all interval); NaN where the
    head-end has not collected the interval yet."""

    meters: tuple[str, ...]
    service_points: tuple[str, ...]
    start_s: np.ndarray
    kwh: np.ndarray
    v_pu: np.ndarray


@runtime_checkable
class AmiHeadEnd(Protocol):
    """The IDMS's link to the AMI head-end and the MDM (virtual in simulation, the vendor's
    head-end API on a real system)."""

    def meters(self) -> Sequence[MeterInfo]:
        """Every meter the head-end serves."""

    def subscribe(self, callback: Callable[[list[AmiEvent]], None]) -> None:
        """``callback(events)`` with the meters' messages as the head-end receives them."""

    def ping(self, meters: Iterable[str], callback: Callable[[AmiReply], None]) -> int:
        """Ping meters (by meter id); returns the request's number, answered by ``callback``."""

    def read_voltage(self, meters: Iterable[str], callback: Callable[[AmiReply], None]) -> int:
        """Read meters' voltages now; returns the request's number, answered by ``callback``."""

    def load_profile(self, meters: Iterable[str], t0_s: float, t1_s: float) -> IntervalData:
        """The MDM's interval data of the intervals starting in ``[t0_s, t1_s)``."""
