"""An independent DNP3 peer for interoperability tests: dnp3py, wrapped so a pytest test can use it.

Our DNP3 stack is opendnp3 (the ``yadnp3`` bindings). A test that only ever talks opendnp3 to
opendnp3 proves nothing about the wire, so the other end of an interoperability test is
`dnp3py <https://pypi.org/project/dnp3py/>`_ (module ``dnp3``, pure Python, asyncio, written
by other people). This module gives it a small synchronous face:

- :class:`PeerMaster` -- a dnp3py master that connects over TCP, polls (``integrity()``) and
  sends CROBs (``operate()``).
- :class:`PeerOutstation` -- a dnp3py outstation that serves TCP, holds binary inputs, analog
  inputs and counters (``set_binary()``, ``set_analog()``, ``set_counter()``) and records the
  CROBs it accepts (``controls``).

Each object runs dnp3py's asyncio code on its own event loop in a daemon thread; every call
blocks the caller for at most its ``timeout`` (5 s by default) and then raises ``TimeoutError``,
so a test never hangs on a silent peer. Use them as context managers (or call ``close()``).

What dnp3py 0.6.0 does and does not do (read from its source; a test relying on more than this
is testing something this peer cannot give):

Master (``dnp3.master.MasterTcpRunner``)
    - Integrity poll: READ g60v2, g60v3, g60v4, g60v1 (class 1, 2, 3 then 0) in one request;
      multi-fragment responses are confirmed; a response asking for CON is confirmed.
    - Decodes binary inputs (g1v1/v2, g2v1-3), binary output status (g10), analog inputs of
      every variation (g30v1-6, g32v1-8, floats and doubles included), analog output status
      (g40), counters (g20/g22) and frozen counters. Values reach a handler without their
      group/variation, so ``integrity()`` cannot tell you which variation the outstation used;
      events and static values of one point are merged, the last one in the response winning
      (an outstation answers events before static data, so that is the static value).
    - An object it cannot frame (no known width) ends the decoding of its fragment: nothing from
      that object onwards is delivered (it logs a warning). opendnp3's class 0 response carries
      g50v4 (time and interval) after binaries, analogs, counters and output status, so those
      arrive but anything after g50v4 in the same fragment (octet strings) does not.
    - Select-before-operate and direct operate of CROBs (g12v1, qualifier 0x17/0x28). dnp3py
      sends them but does not decode the echo in the response; :meth:`PeerMaster.operate` decodes
      the status octet of the echoed g12v1 objects itself.
    - Address checking: it drops frames whose destination is not its own address or whose source
      is not the configured outstation; a wrong outstation address therefore ends in a timeout.
    - Unsolicited responses that arrive mid-request are confirmed and their values kept; it
      sends no ENABLE/DISABLE UNSOLICITED on its own (this wrapper sends none either) and does
      no startup sequence, time sync or restart-IIN clearing.
    - The link layer sends RESET_LINK_STATES once on connect and unconfirmed user data after.

Outstation (``dnp3.outstation.OutstationTcpRunner``)
    - Static responses: binary inputs g1v2, binary outputs g10v2, analog inputs **g30v1 (signed
      32-bit integer)**, counters g20v1. Events: g2v1 (no time), **g32v1 (32-bit integer, no
      time)**, g22v5 (counter with time). dnp3py offers no setting for the variation it sends,
      and answers a READ of a specific variation (e.g. g30v6) in g30v1 anyway. An analog value
      is therefore *truncated toward zero* to an integer on the wire (7.9 -> 7, -7.9 -> -7) and
      clamped, with OVER_RANGE, outside +-2**31.
    - ``PeerOutstation(..., double_analogs=True)`` swaps in g30v6 (static) and g32v8 (event,
      with time) by overriding two private builders of dnp3py's ``Outstation``
      (``_build_analog_input_blocks`` and ``_build_analog_event_blocks``); the bytes are still
      produced by dnp3py's own ``AnalogInputDouble`` / ``AnalogInputEventDoubleTime`` objects.
      That is this wrapper's patch, not a dnp3py feature: it is tied to dnp3py's internals (it
      refuses to start if they are missing), and it does not enlarge dnp3py's event chunking,
      which is sized for 6-octet g32v1 events (fine below ~120 queued analog events).
    - Events are removed when the READ carrying them is answered, not on the master's
      application CONFIRM (single-fragment responses carry no CON bit): a lost response loses
      its events. A READ of an event group (g2, g32, g22) returns the events of class 1, 2, 3
      respectively, whatever their type -- with every point in class 1, as here, read classes.
    - Select-before-operate (SELECT then OPERATE with the next sequence number and identical
      objects, within the select timeout, 10 s) and direct operate are both implemented; a
      mismatched or late OPERATE answers NO_SELECT.
    - Unsolicited responses: ENABLE/DISABLE UNSOLICITED are answered, but the TCP runner never
      sends an unsolicited response. A master must poll this outstation.
    - Address checking: frames not addressed to ``outstation_address`` are ignored, but the
      *source* address of a request is not checked; responses are always addressed to the
      configured ``master_address``.
    - IIN: DEVICE_RESTART is set at start (a master may clear it by writing g80v1); NEED_TIME is
      not set here (``time_sync_required=False``).

Flags everywhere are the DNP3 flag (quality) octet as an ``int``: 0x01 ONLINE, 0x02 RESTART,
0x04 COMM_LOST, 0x08 REMOTE_FORCED, 0x10 LOCAL_FORCED, ... For binaries the state bit (0x80) is
*not* part of ``flags``: the state is the ``bool`` value, and a 0x80 passed to ``set_binary`` is
ignored.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
import time
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from dnp3.application.fragment import ObjectBlock
from dnp3.application.parser import parse_response
from dnp3.application.qualifiers import ObjectHeader
from dnp3.core.enums import CommandStatus, ControlCode, OperationType, TripCloseCode
from dnp3.core.flags import AnalogQuality, BinaryQuality, CounterQuality
from dnp3.core.timestamp import DNP3Timestamp
from dnp3.database import (
    AnalogInputConfig,
    BinaryInputConfig,
    CounterConfig,
    Database,
    DatabaseConfig,
    EventClass,
)
from dnp3.master import CommandBuilder, Master, MasterConfig, MasterTcpRunner
from dnp3.master.handler import AnalogValue, BinaryValue, CounterValue, ResponseInfo
from dnp3.master.tcp_runner import LinkError, MasterRunnerError, ResponseTimeoutError
from dnp3.objects.analog_input import AnalogInputDouble, AnalogInputEventDoubleTime
from dnp3.outstation import CommandResult, Outstation, OutstationConfig, OutstationTcpRunner
from dnp3.outstation import outstation as _outstation_module
from dnp3.transport_io.channel import ChannelError

__all__ = ["CONTROL_CODES", "PeerMaster", "PeerOutstation", "control_name"]

DEFAULT_TIMEOUT = 5.0

T = TypeVar("T")

#: The CROB codes :meth:`PeerMaster.operate` sends: name -> g12v1 control-code octet.
CONTROL_CODES: dict[str, ControlCode] = {
    "latch_on": ControlCode.LATCH_ON,
    "latch_off": ControlCode.LATCH_OFF,
    "pulse_on": ControlCode.PULSE_ON,
    "pulse_off": ControlCode.PULSE_OFF,
    "trip": ControlCode.from_fields(OperationType.PULSE_ON, tcc=TripCloseCode.TRIP),
    "close": ControlCode.from_fields(OperationType.PULSE_ON, tcc=TripCloseCode.CLOSE),
}

_OP_NAMES = {
    OperationType.NUL: "nul",
    OperationType.PULSE_ON: "pulse_on",
    OperationType.PULSE_OFF: "pulse_off",
    OperationType.LATCH_ON: "latch_on",
    OperationType.LATCH_OFF: "latch_off",
}


def control_name(code: int) -> str:
    """The name of a g12v1 control-code octet, as :data:`CONTROL_CODES` spells it.

    A TRIP or CLOSE with another operation than PULSE_ON, or a set Clear bit, is spelled out:

    >>> control_name(0x81), control_name(0x41), control_name(0x03), control_name(0x84)
    ('trip', 'close', 'latch_on', 'trip+latch_off')
    """
    code = ControlCode(code)
    name = _OP_NAMES[code.op_type]
    tcc = code.tcc
    if tcc in (TripCloseCode.TRIP, TripCloseCode.CLOSE):
        prefix = "trip" if tcc == TripCloseCode.TRIP else "close"
        name = prefix if code.op_type == OperationType.PULSE_ON else f"{prefix}+{name}"
    elif tcc == TripCloseCode.RESERVED:
        name = f"reserved_tcc+{name}"
    if code.clear:
        name += "+clear"
    return name


def _status_name(status: int) -> str:
    try:
        return CommandStatus(status).name.lower()
    except ValueError:
        return f"status_{status}"


class _LoopThread:
    """An asyncio event loop in a daemon thread, with blocking, time-limited calls into it."""

    def __init__(self, name: str) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._main, name=name, daemon=True)
        self._thread.start()

    def _main(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    def run(self, coro: Coroutine[Any, Any, T], timeout: float) -> T:
        """Run ``coro`` on the loop and wait for it; ``TimeoutError`` after ``timeout`` seconds."""
        future = asyncio.run_coroutine_threadsafe(asyncio.wait_for(coro, timeout), self.loop)
        try:
            return future.result(timeout + 1.0)
        except (concurrent.futures.TimeoutError, asyncio.TimeoutError) as exc:
            future.cancel()
            raise TimeoutError(f"no answer within {timeout} s") from exc

    def call(self, fn: Callable[..., T], *args: Any, timeout: float = DEFAULT_TIMEOUT) -> T:
        """Call a plain function on the loop's thread (the only thread touching dnp3py's state)."""

        async def wrapper() -> T:
            return fn(*args)

        return self.run(wrapper(), timeout)

    def stop(self, timeout: float = 2.0) -> None:
        """Cancel every task still on the loop, stop it and join the thread."""
        if not self._thread.is_alive():
            return

        async def cancel_all() -> None:
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            if tasks:
                await asyncio.wait(tasks, timeout=timeout)

        try:
            asyncio.run_coroutine_threadsafe(cancel_all(), self.loop).result(timeout + 1.0)
        except Exception:  # noqa: BLE001 - best effort: the loop is being torn down anyway
            pass
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout)
        if not self._thread.is_alive():
            self.loop.close()


# ---------------------------------------------------------------------------------------------
# Master
# ---------------------------------------------------------------------------------------------


class _CollectingHandler:
    """dnp3py SOE handler: the last value of each point, per kind, as ``(value, flags)``."""

    def __init__(self) -> None:
        self.points: dict[str, dict[int, tuple[Any, int]]] = {}
        self.clear()

    def clear(self) -> None:
        self.points = {"binary": {}, "binary_output": {}, "analog": {}, "analog_output": {},
                       "counter": {}, "frozen_counter": {}}

    def snapshot(self) -> dict[str, dict[int, tuple[Any, int]]]:
        return {kind: dict(sorted(points.items())) for kind, points in self.points.items()}

    def _store(self, kind: str, values: list[Any], convert: Callable[[Any], Any]) -> None:
        for v in values:
            self.points[kind][v.index] = (convert(v.value), int(v.quality))

    def on_binary_input(self, values: list[BinaryValue], info: ResponseInfo) -> None:
        self._store("binary", values, bool)

    def on_binary_output(self, values: list[BinaryValue], info: ResponseInfo) -> None:
        self._store("binary_output", values, bool)

    def on_analog_input(self, values: list[AnalogValue], info: ResponseInfo) -> None:
        self._store("analog", values, float)

    def on_analog_output(self, values: list[AnalogValue], info: ResponseInfo) -> None:
        self._store("analog_output", values, float)

    def on_counter(self, values: list[CounterValue], info: ResponseInfo) -> None:
        self._store("counter", values, int)

    def on_frozen_counter(self, values: list[CounterValue], info: ResponseInfo) -> None:
        self._store("frozen_counter", values, int)


class _RecordingMaster(Master):
    """dnp3py's Master, keeping the raw bytes of each solicited response fragment.

    dnp3py does not hand the echo of a control request to any handler, so the command status
    is read from these bytes (see :func:`_crob_statuses`).
    """

    def __post_init__(self) -> None:
        super().__post_init__()
        self.solicited_fragments: list[bytes] = []

    def process_response(self, data: bytes) -> ResponseInfo | None:
        if data and not data[0] & 0x10:  # UNS bit clear: an answer to our request
            self.solicited_fragments.append(bytes(data))
        return super().process_response(data)


_CROB_SIZE = 11  # control code, count, on time (4), off time (4), status
_CROB_FRAMING = {0x17: (1, 1), 0x28: (2, 2), 0x39: (4, 4)}  # qualifier: (count octets, index octets)


def _crob_statuses(fragments: list[bytes]) -> tuple[dict[int, int], int]:
    """The status octet of every g12v1 object echoed in ``fragments``, by index, and their IIN."""
    statuses: dict[int, int] = {}
    iin = 0
    for data in fragments:
        response = parse_response(data)
        iin |= int(response.header.iin)
        for block in response.objects:
            header = block.header
            framing = _CROB_FRAMING.get(header.qualifier)
            if (header.group, header.variation) != (12, 1) or framing is None:
                continue
            count_size, index_size = framing
            count = int.from_bytes(block.data[:count_size], "little")
            offset = count_size
            for _ in range(count):
                index = int.from_bytes(block.data[offset:offset + index_size], "little")
                crob = block.data[offset + index_size:offset + index_size + _CROB_SIZE]
                if len(crob) < _CROB_SIZE:
                    break
                statuses[index] = crob[-1] & 0x7F
                offset += index_size + _CROB_SIZE
    return statuses, iin


class PeerMaster:
    """A DNP3 master by someone else (dnp3py), connected over TCP to ``host:port``.

    It connects (retrying a refused connection) in the constructor, within ``timeout``, and
    raises ``TimeoutError`` if it cannot. Every request waits at most ``timeout`` seconds for
    its answer. ``last_iin`` holds the IIN bits (IIN1 in the low octet, IIN2 in the high) of
    the last response.

    >>> PeerMaster("127.0.0.1", 1, outstation_address=10, timeout=0.2)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    TimeoutError: dnp3py master could not connect to 127.0.0.1:1 ...
    """

    def __init__(self, host: str, port: int, *, master_address: int = 1, outstation_address: int,
                 timeout: float = DEFAULT_TIMEOUT) -> None:
        self.host, self.port, self.timeout = host, port, timeout
        self.last_iin = 0
        self._handler = _CollectingHandler()
        config = MasterConfig(address=master_address, outstation_address=outstation_address,
                              response_timeout=timeout, enable_unsolicited_on_startup=False)
        self._master = _RecordingMaster(config=config, handler=self._handler)
        self._runner = MasterTcpRunner(master=self._master, host=host, port=port, response_timeout=timeout)
        self._loop: _LoopThread | None = _LoopThread(f"dnp3py-master-{host}:{port}")
        try:
            self._loop.run(self._connect(), timeout)
        except TimeoutError as exc:
            self.close()
            raise TimeoutError(f"dnp3py master could not connect to {host}:{port} within {timeout} s") from exc
        except BaseException:
            self.close()
            raise

    async def _connect(self) -> None:
        while True:
            try:
                await self._runner.open()
                return
            except (ChannelError, MasterRunnerError, OSError):
                await asyncio.sleep(0.05)

    def __enter__(self) -> PeerMaster:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the connection and stop the loop's thread. Idempotent."""
        loop, self._loop = self._loop, None
        if loop is None:
            return
        try:
            loop.run(self._runner.close(), 2.0)
        except Exception:  # noqa: BLE001 - closing a dead link is not an error worth a test's time
            pass
        loop.stop()

    def _request(self, coro: Coroutine[Any, Any, list[ResponseInfo]]) -> list[ResponseInfo]:
        if self._loop is None:
            coro.close()
            raise RuntimeError("PeerMaster is closed")
        try:
            infos = self._loop.run(coro, self.timeout)
        except ResponseTimeoutError as exc:
            raise TimeoutError(str(exc)) from exc
        except LinkError as exc:
            raise ConnectionError(str(exc)) from exc
        if infos:
            self.last_iin = int(infos[-1].iin)
        return infos

    def integrity(self) -> dict[str, dict[int, tuple[Any, int]]]:
        """A class 1, 2, 3 and 0 poll: every point the outstation reports, by kind and index.

        Returns ``{"binary": {i: (bool, flags)}, "analog": {i: (float, flags)},
        "counter": {i: (int, flags)}, "binary_output": {...}, "analog_output": {...},
        "frozen_counter": {...}}``; flags are the point's flag octet (binaries without the
        0x80 state bit). Raises ``TimeoutError`` when the outstation does not answer.
        """
        self._handler.clear()
        self._request(self._runner.integrity_poll())
        return self._handler.snapshot()

    def read_range(self, group: int, variation: int, start: int, stop: int) -> dict[str, dict[int, tuple[Any, int]]]:
        """READ one group/variation over ``start..stop`` (qualifier 0x00/0x01), e.g. g30v6.

        Same result shape as :meth:`integrity`. Useful for asking an outstation for a specific
        variation (a dnp3py outstation answers in its fixed variation regardless).
        """
        self._handler.clear()
        self._request(self._runner.request(self._master.build_range_poll(group, variation, start, stop)))
        return self._handler.snapshot()

    def operate(self, index: int, code: str, *, select_before_operate: bool = True, count: int = 1,
                on_time_ms: int = 1000, off_time_ms: int = 0) -> str:
        """Send a CROB (g12v1) to ``index`` and return the outstation's command status.

        ``code`` is one of :data:`CONTROL_CODES`: ``"latch_on"``, ``"latch_off"``,
        ``"pulse_on"``, ``"pulse_off"``, ``"trip"`` (PULSE_ON with trip-close code TRIP, octet
        0x81) or ``"close"`` (PULSE_ON with CLOSE, 0x41). With ``select_before_operate`` it sends
        SELECT, and OPERATE only if the SELECT answered SUCCESS (else that status is returned);
        without it, DIRECT_OPERATE. Returns the status in lower case (``"success"``,
        ``"not_supported"``, ``"no_select"``, ``"local"``...). Raises ``TimeoutError`` when no
        answer comes, and ``RuntimeError`` when the answer echoes no CROB for ``index`` (e.g. an
        outstation that refuses the function with IIN2 bits).
        """
        try:
            control = CONTROL_CODES[code]
        except KeyError:
            raise ValueError(f"unknown control code {code!r}; one of {sorted(CONTROL_CODES)}") from None
        builder = CommandBuilder().add_crob(index, control, count=count, on_time=on_time_ms, off_time=off_time_ms)
        if select_before_operate:
            status = self._control(self._master.build_select(builder.build_select()), index)
            if status != "success":
                return status
            return self._control(self._master.build_operate(builder.build_operate()), index)
        return self._control(self._master.build_direct_operate(builder.build_direct_operate()), index)

    def _control(self, request: Any, index: int) -> str:
        self._master.solicited_fragments.clear()
        self._request(self._runner.request(request))
        statuses, iin = _crob_statuses(self._master.solicited_fragments)
        if index not in statuses:
            raise RuntimeError(f"{request.header.function.name} echoed no CROB for index {index} (IIN 0x{iin:04x})")
        return _status_name(statuses[index])


# ---------------------------------------------------------------------------------------------
# Outstation
# ---------------------------------------------------------------------------------------------


class _DoubleAnalogOutstation(Outstation):
    """dnp3py's Outstation sending analog inputs as g30v6 / g32v8 instead of g30v1 / g32v1.

    A patch of two private builders of dnp3py 0.6.0 (see the module docstring); the encoding
    itself is dnp3py's (``AnalogInputDouble``, ``AnalogInputEventDoubleTime``).
    """

    def _build_analog_input_blocks(self, points: list[Any]) -> list[Any]:
        return _outstation_module._build_static_blocks(
            group=AnalogInputDouble.GROUP,
            variation=AnalogInputDouble.VARIATION,
            points=points,
            serialize=lambda p: AnalogInputDouble(quality=p.quality, value=float(p.value)).to_bytes(),
            max_points_per_block=_outstation_module._static_block_capacity(self.config.max_fragment_size,
                                                                          AnalogInputDouble.SIZE),
        )

    def _build_analog_event_blocks(self, events: list[Any]) -> list[Any]:
        if not events:
            return []
        index_size, count_data, qualifier = self._event_framing(events)
        data = bytearray(count_data)
        for event in events:
            data.extend(event.index.to_bytes(index_size, "little"))
            stamp = event.timestamp if event.timestamp is not None else DNP3Timestamp.now()
            data.extend(AnalogInputEventDoubleTime(quality=event.quality, value=float(event.value),
                                                   timestamp=stamp).to_bytes())
        header = ObjectHeader(group=AnalogInputEventDoubleTime.GROUP,
                                                 variation=AnalogInputEventDoubleTime.VARIATION,
                                                 qualifier=qualifier)
        return [ObjectBlock(header=header, data=bytes(data))]


def _double_analog_patch_fits() -> bool:
    needed = ("_build_static_blocks", "_static_block_capacity")
    return (all(hasattr(_outstation_module, n) for n in needed)
            and all(hasattr(Outstation, n) for n in ("_build_analog_input_blocks", "_build_analog_event_blocks",
                                                     "_event_framing")))


class _ControlRecorder:
    """dnp3py command handler: SUCCESS for a CROB to an index below ``limit`` while accepting."""

    def __init__(self, owner: PeerOutstation) -> None:
        self._owner = owner

    def _judge(self, index: int) -> CommandResult:
        if self._owner.accept_controls and 0 <= index < self._owner.binaries:
            return CommandResult.success()
        return CommandResult.not_supported(f"CROB index {index} refused")

    def select_binary_output(self, index: int, code: ControlCode, count: int, on_time: int,
                             off_time: int) -> CommandResult:
        result = self._judge(index)
        if result.is_success:
            self._owner.selects.append((index, control_name(code)))
        return result

    def operate_binary_output(self, index: int, code: ControlCode, count: int, on_time: int, off_time: int,
                              select_sequence: int) -> CommandResult:
        return self._operate(index, code)

    def direct_operate_binary_output(self, index: int, code: ControlCode, count: int, on_time: int,
                                     off_time: int) -> CommandResult:
        return self._operate(index, code)

    def _operate(self, index: int, code: ControlCode) -> CommandResult:
        result = self._judge(index)
        if result.is_success:
            self._owner.controls.append((index, control_name(code)))
        return result

    def select_analog_output(self, index: int, value: float) -> CommandResult:
        return CommandResult.not_supported("no analog outputs")

    def operate_analog_output(self, index: int, value: float, select_sequence: int) -> CommandResult:
        return CommandResult.not_supported("no analog outputs")

    def direct_operate_analog_output(self, index: int, value: float) -> CommandResult:
        return CommandResult.not_supported("no analog outputs")

    def cold_restart(self) -> int | None:
        return None

    def warm_restart(self) -> int | None:
        return None

    def freeze_counters(self, start: int, stop: int, clear: bool) -> CommandResult:
        return CommandResult.not_supported("no freeze")


class PeerOutstation:
    """A DNP3 outstation by someone else (dnp3py), serving TCP on ``host:port``.

    It holds ``binaries`` binary inputs, ``analogs`` analog inputs and ``counters`` counters,
    indices from 0, all ONLINE (flags 0x01) with value 0 at start and all assigned to event
    class 1. ``start()`` (or entering the context) begins listening; ``port=0`` picks a free
    port, then read ``.port``.

    Controls: a CROB to an index below ``binaries`` answers SUCCESS to SELECT, OPERATE and
    DIRECT_OPERATE while ``accept_controls`` is true (the default; set it to False, at any time,
    to answer NOT_SUPPORTED to everything). Any other index answers NOT_SUPPORTED. Each executed
    CROB (OPERATE after SELECT, or DIRECT_OPERATE) is appended to ``controls`` as
    ``(index, control_name)``, e.g. ``(2, "trip")``; accepted SELECTs go to ``selects``.

    ``double_analogs=True`` sends analog inputs as g30v6/g32v8 (a patch on dnp3py, see the
    module docstring); otherwise dnp3py sends g30v1/g32v1 and truncates values to integers.

    >>> with PeerOutstation(0, outstation_address=10, binaries=2, analogs=1) as out:
    ...     out.set_analog(0, 7.9)
    ...     out.port > 0
    True
    """

    def __init__(self, port: int, *, outstation_address: int, master_address: int = 1, binaries: int,
                 analogs: int, counters: int = 0, host: str = "127.0.0.1", accept_controls: bool = True,
                 double_analogs: bool = False, timeout: float = DEFAULT_TIMEOUT) -> None:
        if double_analogs and not _double_analog_patch_fits():
            raise NotImplementedError("this dnp3py version lacks the internals double_analogs patches")
        self.host, self.port, self.timeout = host, port, timeout
        self.binaries, self.analogs, self.counters = binaries, analogs, counters
        self.accept_controls = accept_controls
        self.double_analogs = double_analogs
        self.controls: list[tuple[int, str]] = []
        self.selects: list[tuple[int, str]] = []

        database = Database(config=DatabaseConfig(max_binary_inputs=max(binaries, 1),
                                                  max_analog_inputs=max(analogs, 1),
                                                  max_counters=max(counters, 1)))
        for i in range(binaries):
            database.add_binary_input(i, BinaryInputConfig(event_class=EventClass.CLASS_1),
                                      quality=BinaryQuality.ONLINE)
        for i in range(analogs):
            database.add_analog_input(i, AnalogInputConfig(event_class=EventClass.CLASS_1, deadband=0.0))
            database.analog_inputs[i].quality = AnalogQuality.ONLINE
        for i in range(counters):
            database.add_counter(i, CounterConfig(event_class=EventClass.CLASS_1, deadband=0))
            database.counters[i].quality = CounterQuality.ONLINE
        self.database = database
        config = OutstationConfig(address=outstation_address, master_address=master_address,
                                  time_sync_required=False)
        cls = _DoubleAnalogOutstation if double_analogs else Outstation
        self.outstation = cls(config=config, database=database, handler=_ControlRecorder(self))
        self._runner = OutstationTcpRunner(outstation=self.outstation, host=host, port=port)
        self._task: asyncio.Task[None] | None = None
        self._loop: _LoopThread | None = None

    def __enter__(self) -> PeerOutstation:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def start(self) -> PeerOutstation:
        """Listen on ``host:port`` (returns once the socket is bound; ``TimeoutError`` if not)."""
        if self._loop is not None:
            return self
        self._loop = _LoopThread(f"dnp3py-outstation-{self.host}:{self.port}")
        try:
            self.port = self._loop.run(self._start(), self.timeout)
        except BaseException:
            self.close()
            raise
        return self

    async def _start(self) -> int:
        self._task = asyncio.get_running_loop().create_task(self._runner.run())
        while not self._runner.is_running:
            if self._task.done():
                self._task.result()  # raises the reason it could not listen
                raise RuntimeError("dnp3py outstation stopped before listening")
            await asyncio.sleep(0.01)
        address = self._runner.local_address
        return address[1] if address else self.port

    def close(self) -> None:
        """Stop serving, drop the connection and stop the loop's thread. Idempotent."""
        loop, self._loop = self._loop, None
        if loop is None:
            return

        async def stop() -> None:
            await self._runner.stop()
            if self._task is not None:
                self._task.cancel()
                await asyncio.gather(self._task, return_exceptions=True)

        try:
            loop.run(stop(), 2.0)
        except Exception:  # noqa: BLE001 - the loop's teardown cancels whatever is left
            pass
        loop.stop()

    def _on_loop(self, fn: Callable[..., T], *args: Any) -> T:
        if self._loop is None:
            return fn(*args)  # not started: nothing else touches the database
        return self._loop.call(fn, *args, timeout=self.timeout)

    def set_binary(self, index: int, value: bool, flags: int = 0x01) -> None:
        """Set binary input ``index``; a change of value or flags queues a class 1 event (g2v1)."""
        self._on_loop(self.database.update_binary_input, index, bool(value), BinaryQuality(flags & 0x7F))

    def set_analog(self, index: int, value: float, flags: int = 0x01) -> None:
        """Set analog input ``index``; every call queues a class 1 event (deadband 0).

        On the wire the value is an integer (g30v1/g32v1, truncated toward zero) unless the
        outstation was made with ``double_analogs=True`` (g30v6/g32v8).
        """
        self._on_loop(self.database.update_analog_input, index, float(value), AnalogQuality(flags & 0xFF),
                      DNP3Timestamp.now())

    def set_counter(self, index: int, value: int, flags: int = 0x01) -> None:
        """Set counter ``index`` (0 .. 2**32-1); every call queues a class 1 event (g22v5)."""
        self._on_loop(self.database.update_counter, index, int(value), CounterQuality(flags & 0xFF))

    def pending_events(self) -> int:
        """How many events wait in the outstation's buffer for a master to read them."""
        return self._on_loop(lambda: self.database.event_buffer.total_count)

    def wait_for_controls(self, n: int, timeout: float | None = None) -> list[tuple[int, str]]:
        """Wait until ``controls`` holds at least ``n`` entries; ``TimeoutError`` otherwise."""
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while len(self.controls) < n:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{len(self.controls)} of {n} controls arrived: {self.controls}")
            time.sleep(0.01)
        return list(self.controls)
