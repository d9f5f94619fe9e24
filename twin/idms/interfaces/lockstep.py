"""Two processes in lock step: the IDMS in one, the world in another, over a local socket.

The IDMS sees the world only through its interfaces; this module carries those interfaces
between processes so that a session runs with the world (and its RTUs as DNP3 outstations) in a
process of its own and gives the same result as in one process. It is a small remote call in
both directions on one connection, *in lock step*: a side that calls waits for the answer and,
while it waits, answers the calls the other side makes (to any depth). The world calls the IDMS
when a timer the IDMS set falls due or a subscription reports (a trouble call, an AMI last gasp,
a crew's report, field devices that changed); the IDMS calls the world to ping meters, dispatch
crews, or run to an hour. Simulated time stands still while the IDMS works, as it does in one
process, so the two runs see the same world.

:class:`Peer` is one end. :meth:`Peer.expose` names an object whose listed methods the other
side may call; :meth:`Peer.call` calls one there. A callable in the arguments (a subscription's
callback) travels as a handle: calling it on the far side calls it back here. Every message
carries the sender's simulated time, so the IDMS's :class:`RemoteClock` knows the time without
asking. A callback wrapped in :class:`once` (a timer, an AMI request's answer) is forgotten
once called. :meth:`Peer.submit` hands work from another thread (a DNP3 stack's) to the thread that
serves the connection, which runs it while it waits.

Frames: a 4-byte big-endian length, then a pickle (protocol 5) of a tuple: ``("call", id, time,
target, method, args, kwargs)``, ``("cast", ...)`` the same without an answer (a timer set), or
``("reply", id, time, ok, value)``. Unpickling admits only
the interfaces' own data types (their dataclasses and enums), plain containers, numbers, strings
and numpy arrays: anything else (a function, any other class) is refused as a
:class:`LockstepError`, and so are unknown targets and methods. The connection is local
(loopback) and its first frame must carry the session's token.
"""

from __future__ import annotations

import dataclasses
import enum
import hmac
import io
import logging
import os
import pickle
import queue
import selectors
import socket
import struct
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future
from typing import Any

from twin.errors import TwinError

__all__ = ["LockstepError", "PeerLost", "RemoteError", "Peer", "once", "RemoteClock", "RemoteHeadEnd",
           "RemoteCallCentre", "RemoteWorkforce", "RemoteFieldLink", "connect", "accept"]

log = logging.getLogger("twin.lockstep")

_HEADER = struct.Struct(">I")
MAX_FRAME = 256 * 1024 * 1024

_SAFE_MODULES = ("twin.idms.interfaces.", "twin.errors")
_SAFE_BUILTINS = frozenset({"tuple", "list", "dict", "set", "frozenset", "str", "bytes", "int", "float", "bool",
                            "complex", "slice", "range", "NoneType"})
_SAFE_NUMPY = frozenset({("numpy", "ndarray"), ("numpy", "dtype"), ("numpy.core.multiarray", "_reconstruct"),
                         ("numpy._core.multiarray", "_reconstruct"), ("numpy.core.multiarray", "scalar"),
                         ("numpy._core.multiarray", "scalar"), ("numpy", "float64"), ("numpy", "int64"),
                         ("numpy", "bool_"), ("datetime", "datetime"), ("datetime", "timedelta"),
                         ("collections", "OrderedDict"), ("copyreg", "_reconstructor"), ("builtins", "object")})


class LockstepError(TwinError):
    """A frame or call the other process should not have sent (named in the message)."""


class PeerLost(LockstepError):
    """The other process closed the connection or died."""


class RemoteError(TwinError):
    """The call raised on the other side: ``kind`` its exception's type name, ``message`` its text."""

    def __init__(self, kind: str, message: str) -> None:
        self.kind, self.message = kind, message
        super().__init__(f"{kind} in the other process: {message}")


class _Handle:
    """A callable that lives on the far side."""

    def __init__(self, peer: Peer, handle: int) -> None:
        self.peer, self.handle = peer, handle

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.peer.call("@", str(self.handle), *args, **kwargs)


class once:  # noqa: N801 (used as a marker, like a function)
    """A callback the other side calls at most once (a timer, a request's answer): its handle is
    forgotten once called, so a long session does not pile them up."""

    def __init__(self, fn: Callable[..., Any]) -> None:
        self.fn = fn

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.fn(*args, **kwargs)


class _Pickler(pickle.Pickler):
    def __init__(self, file: io.BytesIO, peer: Peer) -> None:
        super().__init__(file, protocol=5)
        self.peer = peer

    def persistent_id(self, obj: Any) -> Any:
        if isinstance(obj, once):
            return ("cb", self.peer._handle_of(obj, once=True))
        if callable(obj) and not isinstance(obj, type) and (hasattr(obj, "__code__") or hasattr(obj, "__self__")
                                                           or isinstance(obj, _Handle)):
            return ("cb", self.peer._handle_of(obj))
        return None


class _Unpickler(pickle.Unpickler):
    def __init__(self, file: io.BytesIO, peer: Peer) -> None:
        super().__init__(file)
        self.peer = peer

    def persistent_load(self, pid: Any) -> Any:
        if isinstance(pid, tuple) and len(pid) == 2 and pid[0] == "cb" and isinstance(pid[1], int):
            return _Handle(self.peer, pid[1])
        raise pickle.UnpicklingError(f"unknown persistent id {pid!r}")

    def find_class(self, module: str, name: str) -> Any:
        if module == "builtins" and name in _SAFE_BUILTINS:
            return super().find_class(module, name)
        if (module, name) in _SAFE_NUMPY:
            return super().find_class(module, name)
        if module.startswith(_SAFE_MODULES):
            found = super().find_class(module, name)
            if isinstance(found, type) and (dataclasses.is_dataclass(found)
                                            or issubclass(found, (enum.Enum, TwinError))):
                return found  # the interfaces' messages and codes: data, never a function to call
        raise pickle.UnpicklingError(f"{module}.{name} is not a type the interfaces carry")


class Peer:
    """One end of a lock-step connection (see the module docstring). ``time`` gives this side's
    simulated time for the messages it sends (the world's); the other side's arrives as
    :attr:`remote_time`."""

    def __init__(self, sock: socket.socket, *, name: str, time: Callable[[], float] | None = None) -> None:
        self.sock, self.name, self._time = sock, name, time
        if sock.family in (socket.AF_INET, socket.AF_INET6):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # small frames, at once
        sock.setblocking(True)
        self.remote_time = 0.0
        self._targets: dict[str, tuple[Any, frozenset[str]]] = {}
        self._handles: dict[int, Callable[..., Any]] = {}
        self._handle_ids: dict[int, int] = {}
        self._once: set[int] = set()
        self._next_id = 1
        self._replies: dict[int, tuple[bool, Any]] = {}
        self._work: queue.SimpleQueue[tuple[Callable[[], Any], Future]] = queue.SimpleQueue()
        self._wake_r, self._wake_w = os.pipe()
        self._selector = selectors.DefaultSelector()
        self._selector.register(sock, selectors.EVENT_READ, "sock")
        self._selector.register(self._wake_r, selectors.EVENT_READ, "wake")
        self._buffer = bytearray()
        self.closed = False
        self.calls_in = self.calls_out = 0

    # -- what this side offers -------------------------------------------------------------------

    def expose(self, target: str, obj: Any, methods: Iterable[str]) -> None:
        """Let the other side call ``obj``'s ``methods`` as ``target``."""
        self._targets[target] = (obj, frozenset(methods))

    def _handle_of(self, fn: Callable[..., Any], *, once: bool = False) -> int:
        if isinstance(fn, _Handle) and fn.peer is self:
            raise pickle.PicklingError("a handle cannot be sent back to its own side")
        key = id(fn)
        handle = self._handle_ids.get(key)
        if handle is None or self._handles.get(handle) is not fn:
            handle = self._next_id
            self._next_id += 1
            self._handles[handle] = fn
            self._handle_ids[key] = handle
            if once:
                self._once.add(handle)
        return handle

    @property
    def handles(self) -> int:
        """Callbacks the other side may still call."""
        return len(self._handles)

    # -- calls -----------------------------------------------------------------------------------

    def call(self, target: str, method: str, *args: Any, **kwargs: Any) -> Any:
        """Call ``target.method(*args, **kwargs)`` on the other side and wait for its answer,
        answering its calls meanwhile; its exception is raised here as :class:`RemoteError`."""
        call_id = self._next_id
        self._next_id += 1
        self.calls_out += 1
        self._send(("call", call_id, self._now(), target, method, args, kwargs))
        while call_id not in self._replies:
            self._step()
        ok, value = self._replies.pop(call_id)
        if ok:
            return value
        raise RemoteError(*value)

    def cast(self, target: str, method: str, *args: Any, **kwargs: Any) -> None:
        """Call ``target.method(...)`` on the other side without waiting for an answer: it runs
        there before anything this side sends after it (an error there is logged there)."""
        call_id = self._next_id
        self._next_id += 1
        self.calls_out += 1
        self._send(("cast", call_id, self._now(), target, method, args, kwargs))

    def serve(self, until: Callable[[], bool] | None = None) -> None:
        """Answer the other side's calls until ``until()`` is true or the connection closes."""
        try:
            while not self.closed and (until is None or not until()):
                self._step()
        except PeerLost:
            if until is not None:
                raise

    def submit(self, fn: Callable[[], Any]) -> Future:
        """Run ``fn()`` on the thread serving this connection (from any thread); its Future."""
        future: Future = Future()
        self._work.put((fn, future))
        os.write(self._wake_w, b"x")
        return future

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            try:
                self.sock.close()
            finally:
                self._selector.close()
                os.close(self._wake_r)
                os.close(self._wake_w)

    # -- the loop --------------------------------------------------------------------------------

    def _now(self) -> float:
        return float(self._time()) if self._time is not None else 0.0

    def _step(self) -> None:
        if self.closed:
            raise PeerLost(f"{self.name}: the connection is closed")
        frame = self._frame_ready()
        while frame is None:
            for key, _ in self._selector.select():
                if key.data == "wake":
                    os.read(self._wake_r, 4096)
                    self._run_work()
                else:
                    chunk = self.sock.recv(1 << 20)
                    if not chunk:
                        self.close()
                        raise PeerLost(f"{self.name}: the other process closed the connection")
                    self._buffer += chunk
            frame = self._frame_ready()
        self._run_work()
        self._handle(frame)

    def _frame_ready(self) -> bytes | None:
        if len(self._buffer) < _HEADER.size:
            return None
        (n,) = _HEADER.unpack_from(self._buffer)
        if n > MAX_FRAME:
            self.close()
            raise LockstepError(f"{self.name}: a frame of {n:,} bytes (at most {MAX_FRAME:,})")
        if len(self._buffer) < _HEADER.size + n:
            return None
        frame = bytes(self._buffer[_HEADER.size:_HEADER.size + n])
        del self._buffer[:_HEADER.size + n]
        return frame

    def _run_work(self) -> None:
        while True:
            try:
                fn, future = self._work.get_nowait()
            except queue.Empty:
                return
            try:
                future.set_result(fn())
            except BaseException as err:  # the submitter gets it
                future.set_exception(err)

    def _handle(self, frame: bytes) -> None:
        try:
            message = _Unpickler(io.BytesIO(frame), self).load()
            kind, msg_id, time_s = message[0], int(message[1]), float(message[2])
        except Exception as err:
            self.close()
            log.error("%s: an unreadable frame, connection closed: %s", self.name, err)
            raise LockstepError(f"{self.name}: an unreadable frame ({err})") from err
        self.remote_time = time_s
        if kind == "reply":
            self._replies[msg_id] = (bool(message[3]), message[4])
            return
        if kind not in ("call", "cast"):
            self.close()
            raise LockstepError(f"{self.name}: a frame of unknown kind {kind!r}")
        _, _, _, target, method, args, kwargs = message
        self.calls_in += 1
        if kind == "cast":
            try:
                self._dispatch(str(target), str(method), args, kwargs)
            except LockstepError:
                if self.closed:
                    raise
                log.exception("%s: %s.%s, called without waiting, refused", self.name, target, method)
            except Exception:
                log.exception("%s: %s.%s, called without waiting, raised", self.name, target, method)
            return
        try:
            result = self._dispatch(str(target), str(method), args, kwargs)
            reply = ("reply", msg_id, self._now(), True, result)
        except LockstepError as err:
            if self.closed:
                raise  # the connection itself failed: nothing to answer on
            reply = ("reply", msg_id, self._now(), False, (type(err).__name__, str(err)))
        except Exception as err:
            log.debug("%s: %s.%s raised %r", self.name, target, method, err)
            reply = ("reply", msg_id, self._now(), False, (type(err).__name__, str(err)))
        self._send(reply)

    def _dispatch(self, target: str, method: str, args: Sequence[Any], kwargs: dict[str, Any]) -> Any:
        if target == "@":
            handle = int(method)
            fn = self._handles.get(handle)
            if fn is None:
                raise LockstepError(f"no callback {method}")
            if handle in self._once:  # called once: forget it
                self._once.discard(handle)
                del self._handles[handle]
                self._handle_ids.pop(id(fn), None)
            fn(*args, **kwargs)
            return None  # the interfaces' callbacks return nothing: whatever one gives back stays here
        entry = self._targets.get(target)
        if entry is None or method not in entry[1]:
            raise LockstepError(f"{self.name} offers no {target}.{method}")
        return getattr(entry[0], method)(*args, **kwargs)

    def _send(self, message: tuple) -> None:
        buf = io.BytesIO()
        buf.write(b"\0" * _HEADER.size)
        _Pickler(buf, self).dump(message)
        data = buf.getbuffer()
        _HEADER.pack_into(data, 0, len(data) - _HEADER.size)
        try:
            self.sock.sendall(data)
        except OSError as err:
            self.close()
            raise PeerLost(f"{self.name}: cannot send ({err})") from err


def accept(server: socket.socket, token: str, *, name: str, time: Callable[[], float] | None = None,
           timeout_s: float = 120.0) -> Peer:
    """Accept one connection on ``server`` whose first frame is ``token`` (others are refused)."""
    server.settimeout(timeout_s)
    while True:
        sock, _ = server.accept()
        sock.settimeout(10.0)
        try:
            got = _read_exact(sock, _HEADER.size)
            (n,) = _HEADER.unpack(got)
            hello = _read_exact(sock, n) if n <= 256 else b""
        except OSError:
            sock.close()
            continue
        if hmac.compare_digest(hello, token.encode()):
            sock.settimeout(None)
            return Peer(sock, name=name, time=time)
        log.warning("%s: a connection with a wrong token refused", name)
        sock.close()


def connect(host: str, port: int, token: str, *, name: str, time: Callable[[], float] | None = None,
            timeout_s: float = 120.0) -> Peer:
    """Connect to the peer listening at ``host:port`` and prove the session's ``token``."""
    sock = socket.create_connection((host, port), timeout=timeout_s)
    sock.sendall(_HEADER.pack(len(token.encode())) + token.encode())
    sock.settimeout(None)
    return Peer(sock, name=name, time=time)


def _read_exact(sock: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise OSError("closed")
        data += chunk
    return data


# -- the interfaces, served from the other process ------------------------------------------------

class RemoteClock:
    """:class:`~twin.idms.interfaces.clock.Clock` of the world in the other process."""

    def __init__(self, peer: Peer) -> None:
        self.peer = peer

    def now(self) -> float:
        """The world's time (s), as its last message said (it stands still while the IDMS works)."""
        return self.peer.remote_time

    def call_later(self, delay_s: float, callback: Callable[[], None]) -> None:
        """A timer in the world's time (sent without waiting: the world sets it before it goes on)."""
        self.peer.cast("clock", "call_later", float(delay_s), once(callback))


class RemoteHeadEnd:
    """:class:`~twin.idms.interfaces.ami.AmiHeadEnd` in the other process (meters read once)."""

    def __init__(self, peer: Peer) -> None:
        self.peer = peer
        self._meters: Sequence[Any] | None = None

    def meters(self):
        if self._meters is None:
            self._meters = self.peer.call("ami", "meters")
        return self._meters

    def subscribe(self, callback) -> None:
        self.peer.call("ami", "subscribe", callback)

    def ping(self, meters, callback) -> int:
        return self.peer.call("ami", "ping", list(meters), once(callback))

    def read_voltage(self, meters, callback) -> int:
        return self.peer.call("ami", "read_voltage", list(meters), once(callback))

    def load_profile(self, meters, t0_s: float, t1_s: float):
        return self.peer.call("ami", "load_profile", list(meters), t0_s, t1_s)


class RemoteCallCentre:
    """:class:`~twin.idms.interfaces.call_centre.CallCentre` in the other process."""

    def __init__(self, peer: Peer) -> None:
        self.peer = peer

    def subscribe(self, callback) -> None:
        self.peer.call("calls", "subscribe", callback)

    def callback(self, service_point: str, message: str, *, restored: bool = False):
        return self.peer.call("calls", "callback", service_point, message, restored=restored)


class RemoteWorkforce:
    """:class:`~twin.idms.interfaces.workforce.Workforce` in the other process."""

    def __init__(self, peer: Peer) -> None:
        self.peer = peer

    def crews(self):
        return self.peer.call("workforce", "crews")

    def subscribe_status(self, callback) -> None:
        self.peer.call("workforce", "subscribe_status", callback)

    def subscribe(self, callback) -> None:
        self.peer.call("workforce", "subscribe", callback)

    def send_to_outage(self, crew: str, device: str, line: str = "") -> None:
        self.peer.call("workforce", "send_to_outage", crew, device, line)

    def switch(self, crew: str, device: str, open_: bool) -> None:
        self.peer.call("workforce", "switch", crew, device, open_)

    def call_out(self, crews=None) -> list[str]:
        return self.peer.call("workforce", "call_out", None if crews is None else list(crews))


class RemoteFieldLink:
    """The field records in the other process: the devices, their points as last read and their
    changes (a :class:`~twin.idms.interfaces.field_devices.FieldDeviceLink` without controls;
    the DNP3 master serves the telemetered devices and their controls)."""

    def __init__(self, peer: Peer, target: str = "field") -> None:
        self.peer, self.target = peer, target
        self._devices = None

    def devices(self):
        if self._devices is None:
            self._devices = self.peer.call(self.target, "devices")
        return self._devices

    def read(self, devices=None):
        return self.peer.call(self.target, "read", None if devices is None else
                              ([devices] if isinstance(devices, str) else list(devices)))

    def subscribe(self, callback) -> None:
        self.peer.call(self.target, "subscribe", callback)
