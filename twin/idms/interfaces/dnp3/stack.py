"""The DNP3 protocol stack behind a small interface of our own, so it can be replaced.

Ours is opendnp3 (the C++ reference implementation, Apache-2.0) through its Python bindings
``yadnp3`` (module ``opendnp3``). It was chosen over ``dnp3py`` (pure Python) and
``dnp3-outstation`` (an outstation subset) for conformance (opendnp3 is the stack most
deployed IEDs and masters were tested against, with link, transport and application layers
complete, select-before-operate with its timeout, event buffers and unsolicited responses, and
Secure Authentication types) and for speed (a C++ core on its own threads: a select-before-operate
round trip on loopback is about 0.3 ms). ``dnp3py`` is the independent peer in the
interoperability tests.

What the rest of Twin sees:

* :class:`Dnp3Stack`: one per process; its threads run every channel. Every frame the stack
  drops (a bad CRC, a length that lies, an unknown function or object, a wrong address or
  sequence, a flood) is logged and counted by kind in :attr:`Dnp3Stack.dropped`, the bytes it
  skipped hunting for a frame's start in :attr:`Dnp3Stack.skipped_bytes`.
* :class:`Outstation`: a TCP server endpoint serving one RTU's database: :meth:`Outstation.apply`
  writes values (with or without events), :meth:`Outstation.enable`/:meth:`Outstation.disable`
  make it answer or fall silent; controls (CROB, g12v1) arrive at the ``on_control(index, on,
  stage)`` callback
  given, from the stack's thread.
* :class:`Master`: a TCP client polling one outstation: :meth:`Master.read_static` (class 0 as
  g1v2, g30v6, g20v1), :meth:`Master.read_events` (events with their time: g2v2, g32v8, g22v5),
  :meth:`Master.operate` (select-before-operate or direct operate of a CROB); each blocks until the
  outstation answers or ``response_timeout_s`` passes, and raises :class:`NoResponse` then.

A limit of these bindings (3.2.1): the database's per-point configuration (event class, default
variations, deadbands) cannot be set from Python. So the master assigns the event classes itself
(:meth:`Master.assign_classes`, DNP3's ASSIGN_CLASS: binaries class 1, analogs 2, counters 3, as
the outstation accepts), asks for the variations it needs by name (64-bit analogs, events with
time) rather than by class, and unsolicited responses, when enabled, carry opendnp3's default
variations (32-bit integer analogs, events without time: their time is when they are received).
"""

from __future__ import annotations

import collections
import logging
import re
import threading
from collections.abc import Callable
from typing import Any

import opendnp3 as o

from twin.errors import TwinError

__all__ = ["Dnp3Stack", "Outstation", "Master", "NoResponse", "Measurement", "free_ports"]

log = logging.getLogger("twin.dnp3")

Measurement = tuple[str, int, Any, int, int]
"""``(group, index, value, flags, dnp3_ms)``; group ``binary``, ``analog`` or ``counter``; ms 0
where the object has no time."""

_GROUP_OF = {o.Binary: "binary", o.Analog: "analog", o.Counter: "counter"}
_STATIC = (o.Header.AllObjects(1, 2), o.Header.AllObjects(30, 6), o.Header.AllObjects(20, 1))
_EVENTS = (o.Header.AllObjects(2, 2), o.Header.AllObjects(32, 8), o.Header.AllObjects(22, 5))

_STATUS_NAMES = {s: name.lower() for name, s in o.CommandStatus.__members__.items()}
_STATUS_OF = {name.lower(): s for name, s in o.CommandStatus.__members__.items()}


class NoResponse(TwinError):
    """An outstation did not answer (``completion``: opendnp3's task result, e.g. ``no_comms``,
    ``response_timeout``)."""

    def __init__(self, rtu: str, what: str, completion: str) -> None:
        self.rtu, self.what, self.completion = rtu, what, completion
        super().__init__(f"RTU {rtu}: no answer to {what} ({completion})")


class _LogCounter(o.ILogHandler):
    """Counts the stack's warnings and errors (frames it dropped) by message."""

    def __init__(self, stack: Dnp3Stack) -> None:
        super().__init__()
        self.stack = stack

    def log(self, module, where: str, level, location: str, message: str) -> None:  # noqa: ANN001
        try:
            bits = int(level.value)
        except Exception:  # a level we cannot read: count the entry as a warning
            bits = _WARN
        self.stack.note(bits, str(where), str(message))


_WARN = int(o.flags.WARN.value)
_ERR = int(o.flags.ERR.value)


class Dnp3Stack:
    """The stack's manager: threads and the log of what it dropped."""

    def __init__(self, threads: int = 1, *, log_level=o.levels.NORMAL) -> None:
        self.dropped: collections.Counter[str] = collections.Counter()
        self.skipped_bytes = 0
        self._lock = threading.Lock()
        self._handler = _LogCounter(self)
        self.manager = o.DNP3Manager(max(1, int(threads)), self._handler)
        self.log_level = log_level
        self._closed = False

    def note(self, level: int, where: str, message: str) -> None:
        """A log entry from the stack: a frame it dropped is counted by kind (:data:`DROPS`) and
        logged (the first :data:`LOG_FIRST` of each kind, then every thousandth); the bytes it
        skipped hunting for a frame's start are summed; the rest goes to the debug log."""
        if not level & (_WARN | _ERR):
            log.debug("dnp3 %s: %s", where, message)
            return
        skipped = _SKIPPED.search(message)
        if skipped:
            with self._lock:
                self.skipped_bytes += int(skipped.group(1))
            return
        kind = next((k for k, pattern in DROPS if pattern.search(message)), None)
        if kind is None:
            log.info("dnp3 %s: %s", where, message)  # connections opening and closing
            return
        with self._lock:
            self.dropped[kind] += 1
            n = self.dropped[kind]
        if n <= LOG_FIRST or n % 1000 == 0:
            log.warning("dnp3 %s: dropped (%s, %d so far): %s", where, kind, n, message)

    def outstation(self, name: str, *, host: str, port: int, address: int, master_address: int,
                   binaries: int, analogs: int, counters: int, on_control: Callable[[int, bool, str], str],
                   now_ms: Callable[[], int] | None = None, unsolicited: bool = False,
                   select_timeout_s: float = 30.0, event_buffer: int = 2000) -> Outstation:
        """An outstation serving ``binaries``/``analogs``/``counters`` points on ``host:port``."""
        return Outstation(self, name, host, port, address, master_address, (binaries, analogs, counters), on_control,
                          now_ms, unsolicited, select_timeout_s, event_buffer)

    def master(self, name: str, *, host: str, port: int, address: int, outstation_address: int,
               response_timeout_s: float = 2.0, retry_min_s: float = 0.05, retry_max_s: float = 2.0,
               on_unsolicited: Callable[[list[Measurement]], None] | None = None,
               on_state: Callable[[bool], None] | None = None) -> Master:
        """A master polling the outstation at ``host:port`` (reconnecting from ``retry_min_s``,
        doubling up to ``retry_max_s``)."""
        return Master(self, name, host, port, address, outstation_address, response_timeout_s, retry_min_s,
                      retry_max_s, on_unsolicited, on_state)

    def shutdown(self) -> None:
        if not self._closed:
            self._closed = True
            self.manager.Shutdown()


LOG_FIRST = 20
DROPS = tuple((kind, re.compile(pattern, re.I)) for kind, pattern in (
    ("crc", r"CRC failure"),
    ("length", r"LENGTH out of range|Unexpected LENGTH|User data with no payload"),
    ("function", r"Unknown \w+ FUNCTION|unsupported function|FUNC: UNKNOWN"),
    ("object", r"Unknown object|Unknown qualifier|failed whitelist|Not enough data|start \(\d+\) > stop|"
               r"Unsupported qualifier|unexpected response object"),
    ("oversized", r"Exceeded the buffer size|non-FIR packet"),
    ("address", r"unknown route|frame received for outstation|frame received for master"),
    ("sequence", r"bad sequence|Not expecting a response|unexpected confirm|secondary not reset"),
    ("flood", r"remote is flooding"),
))
"""What opendnp3 logs when it drops a frame, by kind of fault."""
_SKIPPED = re.compile(r"Skipped (\d+) bytes")


def _ms(t) -> int:  # noqa: ANN001 (opendnp3.DNPTime)
    try:
        return int(t.value)
    except Exception:
        return 0


class _Collector(o.ISOEHandler):
    """Gathers the measurements of one response (or of every unsolicited one)."""

    def __init__(self, sink: Callable[[list[Measurement]], None] | None = None) -> None:
        super().__init__()
        self.values: list[Measurement] = []
        self.sink = sink
        self.unsolicited = False

    def BeginFragment(self, info) -> None:  # noqa: N802, ANN001
        self.unsolicited = bool(info.unsolicited)

    def EndFragment(self, info) -> None:  # noqa: N802, ANN001
        if self.sink is not None and self.unsolicited and self.values:
            batch, self.values = self.values, []
            self.sink(batch)

    def Process(self, info, values) -> None:  # noqa: N802, ANN001
        for v in values:
            meas = v.value
            group = _GROUP_OF.get(type(meas))
            if group is None:
                continue
            flags = meas.flags
            flags = int(flags.value) if hasattr(flags, "value") else int(flags)
            self.values.append((group, int(v.index), meas.value, flags & 0x7F if group == "binary" else flags,
                                _ms(meas.time) if info.isEventVariation else 0))


class _OutstationApp(o.IOutstationApplication):
    def __init__(self, now_ms: Callable[[], int] | None) -> None:
        super().__init__()
        self.now_ms = now_ms
        self.assigned: list[tuple[str, int, int, int]] = []

    def Now(self):  # noqa: N802
        return o.DNPTime(int(self.now_ms()) if self.now_ms else 0)

    def SupportsWriteAbsoluteTime(self) -> bool:  # noqa: N802
        return False

    def WriteAbsoluteTime(self, timestamp) -> bool:  # noqa: N802, ANN001
        return False

    def SupportsAssignClass(self) -> bool:  # noqa: N802
        return True  # the master assigns the event classes (the bindings cannot configure them here)

    def RecordClassAssignment(self, kind, clazz, start, stop) -> None:  # noqa: N802, ANN001
        self.assigned.append((str(kind.name), int(clazz.value), int(start), int(stop)))

    def GetApplicationIIN(self):  # noqa: N802
        return o.ApplicationIIN()

    def ColdRestartSupport(self):  # noqa: N802
        return o.RestartMode.UNSUPPORTED

    def WarmRestartSupport(self):  # noqa: N802
        return o.RestartMode.UNSUPPORTED

    def ColdRestart(self) -> int:  # noqa: N802
        return 0

    def WarmRestart(self) -> int:  # noqa: N802
        return 0


def _crob_on(crob) -> bool | None:  # noqa: ANN001
    """Whether a CROB asks for the 'on' side (close, raise, auto, reset), the 'off' side, or neither."""
    op, tcc = crob.opType, crob.tcc
    if tcc == o.TripCloseCode.CLOSE:
        return True
    if tcc == o.TripCloseCode.TRIP:
        return False
    if op in (o.OperationType.LATCH_ON, o.OperationType.PULSE_ON):
        return True
    if op in (o.OperationType.LATCH_OFF, o.OperationType.PULSE_OFF):
        return False
    return None


class _Commands(o.ICommandHandler):
    """CROBs to ``on_control(index, on, stage)`` (stage ``select``, ``operate`` after a select, or
    ``direct``; a status name back); analog outputs refused."""

    def __init__(self, outstation: Outstation) -> None:
        super().__init__()
        self.outstation = outstation

    def Begin(self) -> None:  # noqa: N802
        pass

    def End(self) -> None:  # noqa: N802
        pass

    def Select(self, command, index):  # noqa: N802, ANN001
        return self._handle(command, index, "select")

    def Operate(self, command, index, handler, op_type):  # noqa: N802, ANN001
        return self._handle(command, index, "operate" if op_type == o.OperateType.SelectBeforeOperate else "direct")

    def _handle(self, command, index, stage: str):  # noqa: ANN001
        if not isinstance(command, o.ControlRelayOutputBlock):
            return o.CommandStatus.NOT_SUPPORTED
        on = _crob_on(command)
        if on is None:
            return o.CommandStatus.NOT_SUPPORTED
        try:
            status = self.outstation.on_control(int(index), on, stage)
        except Exception:  # never let a handler's error reach the stack's thread
            log.exception("RTU %s: control on CROB %d failed", self.outstation.name, index)
            return o.CommandStatus.HARDWARE_ERROR
        return _STATUS_OF.get(status, o.CommandStatus.UNDEFINED)


class Outstation:
    """One RTU's outstation on a TCP server endpoint (see the module docstring)."""

    def __init__(self, stack: Dnp3Stack, name: str, host: str, port: int, address: int, master_address: int,
                 sizes: tuple[int, int, int], on_control: Callable[[int, bool, str], str],
                 now_ms: Callable[[], int] | None, unsolicited: bool, select_timeout_s: float,
                 event_buffer: int) -> None:
        self.name, self.on_control, self.sizes = name, on_control, sizes
        self.channel = stack.manager.AddTCPServer(f"rtu:{name}", stack.log_level, o.ServerAcceptMode.CloseExisting,
                                                  o.IPEndpoint(host, int(port)), None)
        cfg = o.OutstationStackConfig(o.DatabaseConfig(max(sizes) or 1))
        cfg.link.LocalAddr, cfg.link.RemoteAddr = int(address), int(master_address)
        params = cfg.outstation.params
        params.allowUnsolicited = bool(unsolicited)
        params.respondToAnyMaster = False
        params.selectTimeout = o.TimeDuration.Milliseconds(int(select_timeout_s * 1000))
        cfg.outstation.eventBufferConfig = o.EventBufferConfig.AllTypes(int(event_buffer))
        self._commands, self._app = _Commands(self), _OutstationApp(now_ms)
        self.stack = self.channel.AddOutstation(f"outstation:{name}", self._commands, self._app, cfg)
        self.enabled = False

    def apply(self, values: list[Measurement], *, events: bool | list[bool] = True) -> None:
        """Write ``values`` to the database; ``events`` (for all, or one flag each): each is also
        an event, even unchanged, or none is made."""
        if not values:
            return
        flags_each = [events] * len(values) if isinstance(events, bool) else list(events)
        b = o.UpdateBuilder()
        for (group, index, value, flags, ms), event in zip(values, flags_each):
            mode = o.EventMode.Force if event else o.EventMode.Suppress
            f, t = o.Flags(int(flags)), o.DNPTime(int(ms))
            if group == "binary":
                b.Update(o.Binary(bool(value), f, t), int(index), mode)
            elif group == "analog":
                b.Update(o.Analog(float(value), f, t), int(index), mode)
            else:
                b.Update(o.Counter(int(value), f, t), int(index), mode)
        self.stack.Apply(b.Build())

    def enable(self) -> None:
        if not self.enabled:
            self.stack.Enable()
            self.enabled = True

    def disable(self) -> None:
        if self.enabled:
            self.stack.Disable()
            self.enabled = False


class _MasterApp(o.IMasterApplication):
    def __init__(self, master: Master) -> None:
        super().__init__()
        self.master = master

    def OnReceiveIIN(self, iin) -> None:  # noqa: N802, ANN001
        pass

    def OnTaskStart(self, kind, task_id) -> None:  # noqa: N802, ANN001
        pass

    def OnTaskComplete(self, info) -> None:  # noqa: N802, ANN001
        if info.type == o.MasterTaskType.USER_TASK:
            self.master._done(info.result)

    def OnOpen(self) -> None:  # noqa: N802
        self.master._state(True)

    def OnClose(self) -> None:  # noqa: N802
        self.master._state(False)

    def AssignClassDuringStartup(self) -> bool:  # noqa: N802
        return False

    def Now(self):  # noqa: N802
        import time

        return o.UTCTimestamp(int(time.time() * 1000))


class _ChannelState(o.IChannelListener):
    def __init__(self, master: Master) -> None:
        super().__init__()
        self.master = master

    def OnStateChange(self, state) -> None:  # noqa: N802, ANN001
        self.master._channel(state == o.ChannelState.OPEN)


class Master:
    """A master session polling one outstation (see the module docstring). One request at a time."""

    def __init__(self, stack: Dnp3Stack, name: str, host: str, port: int, address: int, outstation_address: int,
                 response_timeout_s: float, retry_min_s: float, retry_max_s: float,
                 on_unsolicited: Callable[[list[Measurement]], None] | None,
                 on_state: Callable[[bool], None] | None) -> None:
        self.name, self.timeout_s = name, float(response_timeout_s)
        self.on_state = on_state
        self.channel_open = False
        self._listener = _ChannelState(self)
        retry = o.ChannelRetry(o.TimeDuration.Milliseconds(int(retry_min_s * 1000)),
                               o.TimeDuration.Milliseconds(int(retry_max_s * 1000)))
        self.channel = stack.manager.AddTCPClient(f"master:{name}", stack.log_level, retry,
                                                  [o.IPEndpoint(host, int(port))], "0.0.0.0", self._listener)
        cfg = o.MasterStackConfig()
        cfg.link.LocalAddr, cfg.link.RemoteAddr = int(address), int(outstation_address)
        cfg.master.responseTimeout = o.TimeDuration.Milliseconds(int(self.timeout_s * 1000))
        cfg.master.disableUnsolOnStartup = on_unsolicited is None
        self._unsolicited = _Collector(on_unsolicited)
        self._app = _MasterApp(self)
        self.stack = self.channel.AddMaster(f"master:{name}", self._unsolicited, self._app, cfg)
        self._lock = threading.Lock()
        self._finished = threading.Event()
        self._result = None
        self._opened = threading.Event()
        self.closed = False
        self.stack.Enable()

    # -- callbacks from the stack's threads ------------------------------------------------------

    def _done(self, result) -> None:  # noqa: ANN001
        self._result = result
        self._finished.set()

    def _channel(self, up: bool) -> None:
        self.channel_open = up
        if up:
            self._opened.set()
        else:
            self._opened.clear()

    def _state(self, up: bool) -> None:
        if self.on_state is not None:
            self.on_state(up)

    # -- requests --------------------------------------------------------------------------------

    def wait_connected(self, timeout_s: float) -> bool:
        """Wait until the TCP connection is up (False: not within ``timeout_s``)."""
        return self._opened.wait(timeout_s)

    def read_static(self) -> list[Measurement]:
        """Every point's present value (no time stamps: DNP3's static objects carry none)."""
        return self._scan(_STATIC, "integrity poll")

    def read_events(self) -> list[Measurement]:
        """Every buffered event, in the order the outstation gives them, with its time."""
        return self._scan(_EVENTS, "event poll")

    def read_classes(self, *classes: int) -> list[Measurement]:
        """A class poll (0 static, 1-3 events), the objects in the outstation's default variations."""
        field = o.ClassField(0 in classes, 1 in classes, 2 in classes, 3 in classes)
        with self._lock:
            collector = _Collector()
            self._finished.clear()
            self.stack.ScanClasses(field, collector)
            return self._wait(collector, f"class {classes} poll")

    def assign_classes(self, *, binary: int = 1, analog: int = 2, counter: int = 3) -> None:
        """ASSIGN_CLASS (function 22): the event class of every binary input, analog input and
        counter of the outstation."""
        headers = []
        for group, clazz in ((1, binary), (30, analog), (20, counter)):
            headers += [o.Header.AllObjects(60, 1 + int(clazz)), o.Header.AllObjects(group, 0)]
        with self._lock:
            self._finished.clear()
            self.stack.PerformFunction("assign class", o.FunctionCode.ASSIGN_CLASS, headers)
            self._wait(None, "class assignment")

    def _scan(self, headers, what: str) -> list[Measurement]:  # noqa: ANN001
        with self._lock:
            collector = _Collector()
            self._finished.clear()
            self.stack.Scan(list(headers), collector)
            return self._wait(collector, what)

    def _wait(self, collector: _Collector | None, what: str) -> list[Measurement]:
        """The task's outcome (under the lock): its measurements, or :class:`NoResponse`."""
        if not self._finished.wait(self.timeout_s + 1.0):
            raise NoResponse(self.name, what, "no_task_completion")
        if self._result != o.TaskCompletion.SUCCESS:
            raise NoResponse(self.name, what, _completion(self._result))
        return collector.values if collector is not None else []

    def operate(self, index: int, on: bool, *, pulse: bool, select_before_operate: bool = True) -> tuple[str, str]:
        """A CROB to ``index``: the on side (close/raise/auto/reset) or the off side, as a trip/close
        pulse (``pulse``) or a latch; returns ``(point state, command status)`` in lower case
        (``success``/``select_fail``/``operate_fail``..., ``success``/``local``/``out_of_range``...)."""
        if pulse:
            crob = o.ControlRelayOutputBlock(o.OperationType.PULSE_ON,
                                             o.TripCloseCode.CLOSE if on else o.TripCloseCode.TRIP)
        else:
            crob = o.ControlRelayOutputBlock(o.OperationType.LATCH_ON if on else o.OperationType.LATCH_OFF)
        done = threading.Event()
        out: list[Any] = []

        def finished(result) -> None:  # noqa: ANN001
            points = [(p.state, p.status) for p in result.to_list()]
            out.append((result.summary, points))
            done.set()

        with self._lock:
            if select_before_operate:
                self.stack.SelectAndOperate(crob, int(index), finished)
            else:
                self.stack.DirectOperate(crob, int(index), finished)
            if not done.wait(2 * self.timeout_s + 1.0):
                raise NoResponse(self.name, f"control of CROB {index}", "no_task_completion")
        summary, points = out[0]
        if summary != o.TaskCompletion.SUCCESS and not points:
            raise NoResponse(self.name, f"control of CROB {index}", _completion(summary))
        state, status = points[0] if points else (o.CommandPointState.INIT, o.CommandStatus.UNDEFINED)
        if summary in (o.TaskCompletion.FAILURE_NO_COMMS, o.TaskCompletion.FAILURE_RESPONSE_TIMEOUT):
            raise NoResponse(self.name, f"control of CROB {index}", _completion(summary))
        return state.name.lower(), _STATUS_NAMES.get(status, "undefined")

    def close(self) -> None:
        """End the session and its connection (once; again is nothing)."""
        if not self.closed:
            self.closed = True
            self.stack.Disable()
            self.channel.Shutdown()


def _completion(result) -> str:  # noqa: ANN001
    name = getattr(result, "name", str(result))
    return name.lower().removeprefix("failure_")


def free_ports(n: int, host: str = "127.0.0.1", *, first: int = 20000, last: int = 32767) -> list[int]:
    """``n`` TCP ports free on ``host`` now, the lowest from ``first`` up (below the usual
    ephemeral range, so that no outgoing connection takes one before its outstation binds it)."""
    import socket

    ports: list[int] = []
    for port in range(first, last + 1):
        if len(ports) == n:
            break
        with socket.socket() as s:
            try:
                s.bind((host, port))
            except OSError:
                continue
        ports.append(port)
    if len(ports) < n:
        raise OSError(f"only {len(ports)} of {n} TCP ports free on {host} between {first} and {last}")
    return ports
