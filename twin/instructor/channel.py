"""The local channel between a running training session and its clients.

The session's process runs a :class:`ChannelServer`; the trainee's console and the instructor
station are separate processes, each holding a :class:`ChannelClient`. The server has no thread
of its own: the session's main loop calls :meth:`ChannelServer.poll` once a frame, which accepts
connections, reads what has arrived, answers every complete request through the session's
handler and sends what it can without waiting.

Protocol: newline-delimited JSON (UTF-8), one object a line. The client speaks first::

    -> {"hello": 1, "token": "Jq3..."}
    <- {"hello": 1, "ok": true, "role": "instructor"}
    -> {"id": 1, "cmd": "pause", "args": {}}
    <- {"id": 1, "ok": true, "result": null}
    -> {"id": 2, "cmd": "speed", "args": {"x": "fast"}}
    <- {"id": 2, "ok": false, "error": "speed: x must be a number"}

A refused hello is answered ``{"hello": 1, "ok": false, "error": "..."}`` and the connection is
closed. A frame that cannot be read (not UTF-8, not JSON, not an object, ``id``/``cmd``/``args``
missing or of the wrong type) is counted in :attr:`ChannelServer.bad_frames` and answered with an
error under its ``id`` when that is an integer, else under ``"id": null``; a frame longer than
``max_frame`` bytes closes its connection. Results are plain JSON (``json.dumps`` with no
fallback; NaN and infinities pass as Python's ``json`` writes them): a result that is not JSON
is an error reply naming the command.

Security model: the server listens on loopback only unless told otherwise, so only processes on
the same machine can connect. Each session draws a fresh token per role (:func:`new_tokens`) and
writes them, with the address, to a session file only its owner can read (mode 0600,
:func:`write_session_file`); a client proves its role by the token it sends in its hello, which
the server compares with :func:`hmac.compare_digest` against every role's token. Each role may
send only the commands in its permission set: a trainee's connection cannot pause the world or
inject a fault. Everything refused (a wrong token, a request before hello, a command outside the
role's set) is answered with an error, kept as a :class:`Refusal` in
:attr:`ChannelServer.refusals`, passed to ``on_refusal`` and logged on the ``twin.channel``
logger. Nothing a peer sends makes :meth:`~ChannelServer.poll` raise or block.
"""

from __future__ import annotations

import errno
import hmac
import json
import logging
import os
import secrets
import selectors
import socket
import stat
import time
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any, Callable

from twin.errors import TwinError

__all__ = ["ChannelClient", "ChannelError", "ChannelServer", "Refusal", "Role", "new_tokens",
           "read_session_file", "write_session_file"]

logger = logging.getLogger("twin.channel")

SESSION_FORMAT = "twin-session-1"
_RECV = 1 << 16  # bytes read per connection per poll
_ACCEPTS = 64  # connections accepted per poll, at most
_PUMP_S = 0.005  # s a pumping client waits on its socket before pumping again
_HINT = "start the session with twin train first"


class Role(str, Enum):
    """Who is at the other end of a connection."""

    trainee = "trainee"
    instructor = "instructor"


class ChannelError(TwinError):
    """The channel failed on the client's side: a connection refused, closed or unreachable, an
    error reply (``cmd`` the command, ``reason`` the server's text), or a bad session file."""

    def __init__(self, message: str, *, cmd: str = "", reason: str = "") -> None:
        self.cmd = cmd
        self.reason = reason or message
        super().__init__(message)


@dataclass(frozen=True)
class Refusal:
    """One thing the server refused: when (``wall_s``, :func:`time.time`), from which ``peer``
    (``"127.0.0.1:54321"``), on which ``role`` (``""`` before a hello is accepted), the ``cmd``
    and why (``reason``)."""

    wall_s: float
    peer: str
    role: str
    cmd: str
    reason: str


def new_tokens() -> dict[Role, str]:
    """A fresh random token for each role (one session's)."""
    return {role: secrets.token_urlsafe(24) for role in Role}


class _Conn:
    """One client's socket, what it has sent that is not yet a whole frame, and what is waiting
    to be sent to it."""

    __slots__ = ("sock", "peer", "role", "inbuf", "outbuf", "closing", "events")

    def __init__(self, sock: socket.socket, peer: str) -> None:
        self.sock, self.peer = sock, peer
        self.role: Role | None = None
        self.inbuf, self.outbuf = bytearray(), bytearray()
        self.closing = False  # close once outbuf is sent; read nothing more
        self.events = selectors.EVENT_READ


def _peer_name(addr: Any) -> str:
    if isinstance(addr, tuple) and len(addr) >= 2:
        return f"{addr[0]}:{addr[1]}"
    return str(addr)


def _encode(obj: dict[str, Any]) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode("ascii") + b"\n"


class ChannelServer:
    """The session's end of the channel (see the module docstring).

    ``tokens`` maps each role to its token, ``permissions`` each role to the commands it may send
    (a role missing there may send none). ``max_frame`` is the longest frame read, in bytes.
    ``on_refusal`` is called with each :class:`Refusal` as it happens.
    """

    def __init__(self, tokens: dict[Role, str], permissions: dict[Role, set[str]], *,
                 host: str = "127.0.0.1", port: int = 0, max_frame: int = 1 << 20,
                 on_refusal: Callable[[Refusal], None] | None = None) -> None:
        roles = {Role(r): t for r, t in tokens.items()}
        if not roles or any(not isinstance(t, str) or not t for t in roles.values()):
            raise ChannelError("every role given a token needs a non-empty token string "
                               "(use new_tokens())")
        if len(set(roles.values())) != len(roles):
            raise ChannelError("two roles share a token: each role needs its own (use new_tokens())")
        if max_frame < 64:
            raise ChannelError(f"max_frame is {max_frame} bytes: a frame needs at least 64")
        self._tokens = [(role, token.encode("utf-8")) for role, token in roles.items()]
        self._permissions = {Role(r): frozenset(cmds) for r, cmds in permissions.items()}
        self.host, self.port, self.max_frame = host, port, max_frame
        self.on_refusal = on_refusal
        self.refusals: list[Refusal] = []
        self.bad_frames = 0
        self._out_limit = max(4 * max_frame, 1 << 18)  # stop reading a client this far behind
        self._sel: selectors.BaseSelector | None = None
        self._listener: socket.socket | None = None
        self._conns: dict[int, _Conn] = {}

    # -- life ------------------------------------------------------------------------------------

    def start(self) -> ChannelServer:
        """Bind and listen (without blocking); returns the server."""
        if self._listener is not None:
            return self
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        try:
            listener = socket.create_server((self.host, self.port), family=family)
        except OSError as err:
            raise ChannelError(f"cannot listen on {self.host}:{self.port}: {err.strerror or err} "
                               "(is another session using that port? port=0 picks a free one)") from err
        listener.setblocking(False)
        self._sel = selectors.DefaultSelector()
        self._sel.register(listener, selectors.EVENT_READ, None)
        self._listener = listener
        if self.host not in ("127.0.0.1", "::1", "localhost"):
            logger.warning("channel listening on %s:%d, beyond this machine: only the tokens guard it",
                           *self.address)
        return self

    @property
    def address(self) -> tuple[str, int]:
        """``(host, port)`` the server listens on (after :meth:`start`)."""
        if self._listener is None:
            raise ChannelError("the channel server is not started: call start() first")
        host, port = self._listener.getsockname()[:2]
        return host, port

    @property
    def clients(self) -> int:
        """Connections open now (authenticated or not)."""
        return len(self._conns)

    def close(self) -> None:
        """Close every connection and stop listening."""
        for conn in list(self._conns.values()):
            self._drop(conn)
        if self._sel is not None:
            if self._listener is not None:
                self._sel.unregister(self._listener)
            self._sel.close()
        if self._listener is not None:
            self._listener.close()
        self._sel, self._listener = None, None

    def __enter__(self) -> ChannelServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the loop --------------------------------------------------------------------------------

    def poll(self, handler: Callable[[Role, str, dict], object], timeout: float = 0.0) -> int:
        """Serve what is waiting, waiting at most ``timeout`` seconds for something to arrive:
        accept, read, answer each complete request with ``handler(role, cmd, args)``, send.
        Returns how many requests were passed to ``handler``."""
        if self._sel is None:
            raise ChannelError("the channel server is not started: call start() first")
        handled = 0
        try:
            ready = self._sel.select(max(0.0, timeout))
        except InterruptedError:
            return 0
        for key, events in ready:
            if key.data is None:
                self._accept()
                continue
            conn: _Conn = key.data
            if events & selectors.EVENT_WRITE:
                self._flush(conn)
            if events & selectors.EVENT_READ and self._alive(conn):
                self._recv(conn)
            if self._alive(conn):
                handled += self._process(conn, handler)
                self._flush(conn)
        return handled

    def _alive(self, conn: _Conn) -> bool:
        return self._conns.get(conn.sock.fileno()) is conn

    def _accept(self) -> None:
        assert self._listener is not None and self._sel is not None
        for _ in range(_ACCEPTS):
            try:
                sock, addr = self._listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as err:  # ECONNABORTED, EMFILE...: try again next poll
                logger.warning("channel: cannot accept a connection: %s", err)
                return
            sock.setblocking(False)
            conn = _Conn(sock, _peer_name(addr))
            self._conns[sock.fileno()] = conn
            self._sel.register(sock, selectors.EVENT_READ, conn)
            logger.debug("channel: %s connected", conn.peer)

    def _recv(self, conn: _Conn) -> None:
        try:
            data = conn.sock.recv(_RECV)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as err:  # ECONNRESET and the like: the peer has gone
            logger.debug("channel: %s gone (%s)", conn.peer, err)
            self._drop(conn)
            return
        if not data:
            logger.debug("channel: %s disconnected%s", conn.peer, " mid-frame" if conn.inbuf else "")
            self._drop(conn)
        elif not conn.closing:
            conn.inbuf += data

    def _process(self, conn: _Conn, handler: Callable[[Role, str, dict], object]) -> int:
        """Answer the complete frames waiting, while the client keeps up with its replies."""
        handled, start, buf = 0, 0, conn.inbuf
        while not conn.closing and len(conn.outbuf) < self._out_limit:
            end = buf.find(b"\n", start)
            if end < 0:
                if len(buf) - start > self.max_frame:
                    self._oversized(conn)
                break
            if end - start > self.max_frame:
                self._oversized(conn)
                break
            line = bytes(buf[start:end])
            start = end + 1
            if line.strip():
                handled += self._frame(conn, line, handler)
        if conn.closing:
            buf.clear()
        else:
            del buf[:start]
        return handled

    # -- frames ----------------------------------------------------------------------------------

    def _frame(self, conn: _Conn, line: bytes, handler: Callable[[Role, str, dict], object]) -> int:
        """Answer one frame; returns 1 if it went to the handler."""
        try:
            obj = json.loads(line.decode("utf-8"))
        except UnicodeDecodeError:
            obj, problem = None, "frame is not valid UTF-8"
        except (ValueError, RecursionError) as err:
            obj, problem = None, f"frame is not JSON ({err.__class__.__name__}: {str(err)[:80]})"
        else:
            problem = "" if isinstance(obj, dict) else "frame is not a JSON object"
        if conn.role is None:
            self._hello(conn, obj if not problem else None, problem)
            return 0
        if not problem:
            rid, cmd, args = obj.get("id"), obj.get("cmd"), obj.get("args")
            if not isinstance(rid, int) or isinstance(rid, bool):
                problem = "a request needs an integer id"
            elif not isinstance(cmd, str) or not cmd:
                problem = "a request needs a cmd string"
            elif not isinstance(args, dict):
                problem = f"{cmd}: a request needs args, a JSON object"
        if problem:
            rid = obj.get("id") if isinstance(obj, dict) else None
            self._bad(conn, rid if isinstance(rid, int) and not isinstance(rid, bool) else None, problem)
            return 0
        if cmd not in self._permissions.get(conn.role, ()):
            reason = f"{cmd}: not allowed from a {conn.role.value} connection"
            self._refuse(conn, cmd, reason)
            self._send(conn, {"id": rid, "ok": False, "error": reason})
            return 0
        conn.outbuf += self._call(handler, conn.role, rid, cmd, args)
        return 1

    def _call(self, handler: Callable[[Role, str, dict], object], role: Role, rid: int, cmd: str,
              args: dict) -> bytes:
        """The reply to one permitted request, encoded."""
        try:
            result = handler(role, cmd, args)
        except TwinError as err:
            return _encode({"id": rid, "ok": False, "error": str(err) or f"{cmd}: {err.__class__.__name__}"})
        except Exception as err:
            logger.exception("channel: %s from a %s connection failed", cmd, role.value)
            return _encode({"id": rid, "ok": False,
                            "error": f"internal error in {cmd}: {err.__class__.__name__}: {err}"})
        try:
            return _encode({"id": rid, "ok": True, "result": result})
        except (TypeError, ValueError, RecursionError, OverflowError) as err:
            logger.error("channel: the result of %s is not JSON: %s", cmd, err)
            return _encode({"id": rid, "ok": False,
                            "error": f"internal error in {cmd}: its result is not JSON ({err})"})

    def _hello(self, conn: _Conn, obj: dict | None, problem: str) -> None:
        if problem:
            self.bad_frames += 1
            logger.warning("channel: bad frame from %s before hello: %s", conn.peer, problem)
        if obj is None or "hello" not in obj:
            cmd = obj.get("cmd") if obj is not None else None
            reason = "no hello: the first frame must be {\"hello\": 1, \"token\": ...}"
            self._refuse(conn, cmd if isinstance(cmd, str) else "", reason)
            rid = obj.get("id") if obj is not None else None
            self._send(conn, {"id": rid if isinstance(rid, int) and not isinstance(rid, bool) else None,
                              "ok": False, "error": reason})
            conn.closing = True
            return
        token = obj.get("token")
        if obj.get("hello") != 1:
            reason = f"unsupported hello version {str(obj.get('hello'))[:20]} (this session speaks 1)"
        elif not isinstance(token, str):
            reason = "wrong token: the hello carries no token string"
        else:
            given = token.encode("utf-8", "surrogatepass")
            role = None
            for r, expected in self._tokens:  # compare with every role's token, in constant time
                if hmac.compare_digest(given, expected) and role is None:
                    role = r
            if role is not None:
                conn.role = role
                logger.info("channel: %s connected as %s", conn.peer, role.value)
                self._send(conn, {"hello": 1, "ok": True, "role": role.value})
                return
            reason = "wrong token (use the session file of the session running now)"
        self._refuse(conn, "hello", reason)
        self._send(conn, {"hello": 1, "ok": False, "error": reason})
        conn.closing = True

    def _bad(self, conn: _Conn, rid: int | None, problem: str) -> None:
        self.bad_frames += 1
        logger.warning("channel: bad frame from %s: %s", conn.peer, problem)
        self._send(conn, {"id": rid, "ok": False, "error": problem})

    def _oversized(self, conn: _Conn) -> None:
        self._bad(conn, None, f"frame longer than {self.max_frame} bytes: closing the connection")
        conn.closing = True

    def _refuse(self, conn: _Conn, cmd: str, reason: str) -> None:
        role = conn.role.value if conn.role is not None else ""
        refusal = Refusal(time.time(), conn.peer, role, cmd, reason)
        self.refusals.append(refusal)
        logger.warning("channel: refused %s from %s%s: %s", cmd or "a frame", conn.peer,
                       f" ({role})" if role else "", reason)
        if self.on_refusal is not None:
            try:
                self.on_refusal(refusal)
            except Exception:
                logger.exception("channel: on_refusal failed")

    # -- sending ---------------------------------------------------------------------------------

    def _send(self, conn: _Conn, reply: dict[str, Any]) -> None:
        conn.outbuf += _encode(reply)

    def _flush(self, conn: _Conn) -> None:
        """Send what the socket takes now; then watch for writability only while there is more."""
        while conn.outbuf:
            try:
                sent = conn.sock.send(conn.outbuf)
            except (BlockingIOError, InterruptedError):
                break
            except OSError as err:  # EPIPE, ECONNRESET: the peer has gone
                if err.errno not in (errno.EPIPE, errno.ECONNRESET):
                    logger.debug("channel: cannot send to %s: %s", conn.peer, err)
                self._drop(conn)
                return
            del conn.outbuf[:sent]
        if conn.closing and not conn.outbuf:
            self._drop(conn)
            return
        events = selectors.EVENT_WRITE if conn.outbuf else 0
        if not conn.closing and len(conn.outbuf) < self._out_limit:
            events |= selectors.EVENT_READ  # a client far behind is not read until it catches up
        if events != conn.events:
            assert self._sel is not None
            self._sel.modify(conn.sock, events, conn)
            conn.events = events

    def _drop(self, conn: _Conn) -> None:
        fd = conn.sock.fileno()
        if self._conns.pop(fd, None) is None:
            return
        if self._sel is not None:
            try:
                self._sel.unregister(conn.sock)
            except (KeyError, ValueError):
                pass
        try:
            conn.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        conn.sock.close()


class ChannelClient:
    """A blocking client: connects to ``address``, says hello with ``token`` and learns its
    :attr:`role`. Every wait is bounded by ``timeout`` seconds.

    ``pump``, when given, is called over and over while a reply is awaited: a test that runs the
    server and the client in one thread passes the server's poll here."""

    def __init__(self, address: tuple[str, int], token: str, *, timeout: float = 10.0,
                 pump: Callable[[], object] | None = None) -> None:
        self.address = (address[0], int(address[1]))
        self.timeout = timeout
        self._pump = pump
        self._next_id = 0
        self._buf = bytearray()
        where = f"{self.address[0]}:{self.address[1]}"
        try:
            self._sock: socket.socket | None = socket.create_connection(self.address, timeout=timeout)
            if pump is not None:
                self._sock.settimeout(_PUMP_S)
        except OSError as err:
            raise ChannelError(f"cannot reach the training session at {where}: "
                               f"{err.strerror or err} ({_HINT})") from err
        try:
            self._write({"hello": 1, "token": token})
            reply = self._read()
        except ChannelError:
            self.close()
            raise
        if reply.get("hello") != 1 or not isinstance(reply.get("ok"), bool):
            self.close()
            raise ChannelError(f"{where} did not answer the hello as a twin session does")
        if not reply["ok"]:
            self.close()
            reason = str(reply.get("error", "no reason given"))
            raise ChannelError(f"the training session at {where} refused the connection: {reason}",
                               cmd="hello", reason=reason)
        try:
            self.role = Role(reply.get("role"))
        except ValueError as err:
            self.close()
            raise ChannelError(f"{where} answered the hello with an unknown role "
                               f"{reply.get('role')!r}") from err

    def request(self, cmd: str, /, **args: Any) -> object:
        """Send ``cmd`` with ``args`` and wait for its reply: the result, or :class:`ChannelError`
        with the server's error text."""
        self._next_id += 1
        rid = self._next_id
        self._write({"id": rid, "cmd": cmd, "args": args})
        while True:
            reply = self._read()
            if reply.get("id") != rid:
                continue  # the late reply to a request that timed out
            if reply.get("ok") is True:
                return reply.get("result")
            reason = str(reply.get("error", "no reason given"))
            raise ChannelError(reason, cmd=cmd, reason=reason)

    def request_within(self, timeout: float, cmd: str, /, **args: Any) -> object:
        """:meth:`request`, waiting up to ``timeout`` seconds for this one reply (a snapshot
        restored runs the session to its moment first)."""
        if self._pump is not None or self._sock is None:
            return self.request(cmd, **args)
        before = self.timeout
        self.timeout = timeout
        self._sock.settimeout(timeout)
        try:
            return self.request(cmd, **args)
        finally:
            self.timeout = before
            if self._sock is not None:
                self._sock.settimeout(before)

    def close(self) -> None:
        """Close the connection (again is harmless)."""
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def __enter__(self) -> ChannelClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _write(self, obj: dict[str, Any]) -> None:
        if self._sock is None:
            raise ChannelError("the connection to the training session is closed")
        try:
            data = _encode(obj)
        except (TypeError, ValueError) as err:
            raise ChannelError(f"{obj.get('cmd', 'hello')}: the arguments are not JSON ({err})",
                               cmd=str(obj.get("cmd", ""))) from err
        try:
            self._sock.sendall(data)
        except OSError as err:
            self.close()
            raise ChannelError(f"the training session closed the connection ({err})") from err

    def _read(self) -> dict[str, Any]:
        deadline = time.monotonic() + self.timeout
        while True:
            end = self._buf.find(b"\n")
            if end >= 0:
                line = bytes(self._buf[:end])
                del self._buf[:end + 1]
                try:
                    obj = json.loads(line)
                except (ValueError, RecursionError) as err:
                    raise ChannelError(f"the training session sent a frame that is not JSON ({err})") from err
                if isinstance(obj, dict):
                    return obj
                raise ChannelError("the training session sent a frame that is not a JSON object")
            if self._sock is None:
                raise ChannelError("the connection to the training session is closed")
            if self._pump is not None:
                self._pump()
            try:
                data = self._sock.recv(_RECV)
            except socket.timeout as err:
                if self._pump is not None and time.monotonic() < deadline:
                    continue
                raise ChannelError(f"no reply from the training session within {self.timeout:g} s "
                                   "(is it paused in a debugger, or stopped?)") from err
            except OSError as err:
                self.close()
                raise ChannelError(f"the training session closed the connection ({err})") from err
            if not data:
                self.close()
                raise ChannelError("the training session closed the connection")
            self._buf += data


def write_session_file(path: str | os.PathLike, address: tuple[str, int], tokens: dict[Role, str]) -> Path:
    """Write the session's address and tokens to ``path``, readable by its owner only (0600)."""
    path = Path(path)
    doc = {"format": SESSION_FORMAT, "host": address[0], "port": int(address[1]),
           "tokens": {Role(r).value: t for r, t in tokens.items()}}
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        if hasattr(os, "fchmod"):
            os.fchmod(fd, 0o600)  # a file left over with a wider mode is narrowed too
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            fd = -1
            json.dump(doc, f, indent=2)
            f.write("\n")
    finally:
        if fd >= 0:
            os.close(fd)
    os.replace(tmp, path)  # a reader sees the old file or the new one, never half of one
    return path


def read_session_file(path: str | os.PathLike) -> tuple[tuple[str, int], dict[Role, str]]:
    """The ``(host, port)`` and the tokens written by :func:`write_session_file`."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as err:
        raise ChannelError(f"no session file at {path}: {_HINT}") from err
    except (OSError, UnicodeDecodeError) as err:
        raise ChannelError(f"cannot read the session file {path} ({err}): {_HINT}") from err
    try:
        doc = json.loads(text)
    except ValueError as err:
        raise ChannelError(f"{path} is not a twin session file (not JSON: {err}): {_HINT}") from err
    if not isinstance(doc, dict) or doc.get("format") != SESSION_FORMAT:
        found = doc.get("format") if isinstance(doc, dict) else None
        raise ChannelError(f"{path} is not a twin session file (format {found!r}, expected "
                           f"{SESSION_FORMAT!r}): {_HINT}")
    host, port, raw = doc.get("host"), doc.get("port"), doc.get("tokens")
    if not isinstance(host, str) or not isinstance(port, int) or isinstance(port, bool) \
            or not 0 < port < 65536:
        raise ChannelError(f"{path}: host must be a string and port an integer 1..65535 "
                           f"(found {host!r}, {port!r}): {_HINT}")
    roles = {r.value for r in Role}
    if not isinstance(raw, dict) or not raw or set(raw) - roles \
            or not all(isinstance(t, str) and t for t in raw.values()):
        raise ChannelError(f"{path}: tokens must map roles ({', '.join(sorted(roles))}) to token "
                           f"strings: {_HINT}")
    try:
        mode = path.stat().st_mode
    except OSError:
        mode = 0
    if os.name == "posix" and mode & (stat.S_IRWXG | stat.S_IRWXO):
        logger.warning("session file %s is readable by others (mode %o): its tokens are exposed",
                       path, stat.S_IMODE(mode))
    return (host, port), {Role(r): t for r, t in raw.items()}
