"""The session channel: roles by token, permissions, bad frames, a client that never reads, and
a fuzz of random bytes the server must shrug off.

The server is single-threaded and served only when polled; these tests poll it from a background
thread so that the blocking client can run in the test's own.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import stat
import threading
import time
from typing import Any

import numpy as np
import pytest

from twin.errors import TwinError
from twin.instructor.channel import (ChannelClient, ChannelError, ChannelServer, Refusal, Role,
                                     new_tokens, read_session_file, write_session_file)

PERMISSIONS = {Role.trainee: {"echo"},
               Role.instructor: {"echo", "inject", "twin_error", "value_error", "not_json", "big"}}


class Served:
    """A started server polled by a background thread, with every handler call recorded."""

    def __init__(self, **options: Any) -> None:
        self.tokens = new_tokens()
        self.calls: list[tuple[Role, str, dict]] = []
        self.seen: list[Refusal] = []
        self.errors: list[BaseException] = []
        self.server = ChannelServer(self.tokens, PERMISSIONS, on_refusal=self.seen.append,
                                    **options).start()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def handler(self, role: Role, cmd: str, args: dict) -> object:
        self.calls.append((role, cmd, args))
        if cmd == "twin_error":
            raise TwinError("inject: no such device R9")
        if cmd == "value_error":
            raise ValueError("bad value")
        if cmd == "not_json":
            return {1, 2}
        if cmd == "big":
            return "x" * args["n"]
        return {"cmd": cmd, "args": args}

    def _loop(self) -> None:
        try:
            while not self._stop.is_set():
                self.server.poll(self.handler, timeout=0.01)
        except BaseException as err:  # the test fails on it: poll must never raise
            self.errors.append(err)

    def client(self, role: Role, **options: Any) -> ChannelClient:
        return ChannelClient(self.server.address, self.tokens[role], timeout=5.0, **options)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5.0)
        self.server.close()
        assert not self.errors, f"poll raised {self.errors[0]!r}"


@pytest.fixture
def serve():
    made: list[Served] = []

    def make(**options: Any) -> Served:
        made.append(Served(**options))
        return made[-1]

    yield make
    for s in made:
        s.stop()


def raw(served: Served, role: Role | None = None) -> tuple[socket.socket, Any]:
    """A bare socket (and a line reader on it), having said hello as ``role`` when given."""
    sock = socket.create_connection(served.server.address, timeout=5.0)
    lines = sock.makefile("rb")
    if role is not None:
        sock.sendall(json.dumps({"hello": 1, "token": served.tokens[role]}).encode() + b"\n")
        assert json.loads(lines.readline())["ok"] is True
    return sock, lines


def wait_for(condition, timeout: float = 2.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.005)
    return condition()


def closed(sock: socket.socket, lines) -> bool:
    """True when the server has closed ``sock`` (after any lines it sent first)."""
    try:
        while lines.readline():
            pass
    except ConnectionResetError:
        pass
    return True


def test_instructor_request_reaches_the_handler(serve) -> None:
    s = serve()
    with s.client(Role.instructor) as c:
        assert c.role is Role.instructor
        assert c.request("echo", a=1, b=[2, "x"]) == {"cmd": "echo", "args": {"a": 1, "b": [2, "x"]}}
        assert c.request("inject", cmd="fault") == {"cmd": "inject", "args": {"cmd": "fault"}}
    assert s.calls[0] == (Role.instructor, "echo", {"a": 1, "b": [2, "x"]})
    assert type(s.calls[0][0]) is Role
    assert s.server.refusals == [] and s.server.bad_frames == 0


def test_trainee_cannot_send_an_instructor_command(serve, caplog) -> None:
    s = serve()
    caplog.set_level(logging.WARNING, logger="twin.channel")
    with s.client(Role.trainee) as c:
        assert c.role is Role.trainee
        with pytest.raises(ChannelError, match="inject: not allowed from a trainee connection") as err:
            c.request("inject", device="R9")
        assert err.value.cmd == "inject"
        assert c.request("echo") == {"cmd": "echo", "args": {}}  # the connection stays usable
    assert [cmd for _, cmd, _ in s.calls] == ["echo"]
    [refusal] = s.server.refusals
    assert (refusal.role, refusal.cmd) == ("trainee", "inject")
    assert refusal.peer.startswith("127.0.0.1:") and abs(refusal.wall_s - time.time()) < 60
    assert s.seen == [refusal]
    assert any("inject" in r.getMessage() and r.levelno == logging.WARNING and r.name == "twin.channel"
               for r in caplog.records)


def test_wrong_token_is_refused(serve) -> None:
    s = serve()
    with pytest.raises(ChannelError, match="refused the connection: wrong token"):
        ChannelClient(s.server.address, s.tokens[Role.instructor] + "x", timeout=5.0)
    [refusal] = s.server.refusals
    assert refusal.role == "" and "token" in refusal.reason
    assert s.calls == []
    assert wait_for(lambda: s.server.clients == 0)


def test_a_request_before_hello_is_refused_and_closed(serve) -> None:
    s = serve()
    sock, lines = raw(s)
    sock.sendall(b'{"id": 1, "cmd": "inject", "args": {}}\n')
    reply = json.loads(lines.readline())
    assert reply == {"id": 1, "ok": False, "error": reply["error"]} and "no hello" in reply["error"]
    assert closed(sock, lines)
    sock.close()
    assert [r.reason[:8] for r in s.server.refusals] == ["no hello"]
    assert s.calls == []


def test_bad_frames_are_answered_and_counted(serve) -> None:
    s = serve()
    sock, lines = raw(s, Role.instructor)
    bad = [b"\x00garbage{{", b"[1,2]", b'{"id":"x"}', b'{"id": 7, "cmd": "echo"}', b'{"id":8,"cmd":"\xff\xfe"}']
    sock.sendall(b"\n".join(bad) + b"\n" + b'{"id": 9, "cmd": "echo", "args": {"k": 1}}\n')
    replies = [json.loads(lines.readline()) for _ in range(len(bad) + 1)]
    assert [(r["id"], r["ok"]) for r in replies] == [(None, False), (None, False), (None, False),
                                                      (7, False), (None, False), (9, True)]
    assert "not JSON" in replies[0]["error"] and "not a JSON object" in replies[1]["error"]
    assert "integer id" in replies[2]["error"] and "args" in replies[3]["error"]
    assert "UTF-8" in replies[4]["error"]
    assert replies[5]["result"] == {"cmd": "echo", "args": {"k": 1}}
    assert s.server.bad_frames == len(bad)
    assert [cmd for _, cmd, _ in s.calls] == ["echo"]
    sock.close()


def test_an_oversized_frame_closes_only_its_connection(serve) -> None:
    s = serve(max_frame=256)
    with s.client(Role.instructor) as good:
        sock, lines = raw(s, Role.instructor)
        sock.sendall(b'{"id": 1, "cmd": "echo", "args": {"pad": "' + b"y" * 600)  # no newline
        assert closed(sock, lines)
        sock.close()
        assert s.server.bad_frames == 1
        assert good.request("echo", n=1) == {"cmd": "echo", "args": {"n": 1}}
    with pytest.raises(ChannelError, match="closed"):
        c = s.client(Role.instructor)
        c.request("echo", pad="z" * 600)


def test_handler_errors_become_error_replies(serve, caplog) -> None:
    s = serve()
    with s.client(Role.instructor) as c:
        with pytest.raises(ChannelError, match="^inject: no such device R9$"):
            c.request("twin_error")
        with pytest.raises(ChannelError, match="^internal error in value_error: ValueError: bad value$"):
            c.request("value_error")
        with pytest.raises(ChannelError, match="not_json"):
            c.request("not_json")
        assert c.request("echo") == {"cmd": "echo", "args": {}}
    assert any(r.exc_info and r.exc_info[0] is ValueError for r in caplog.records)


def test_a_client_that_never_reads_does_not_stall_the_server(serve) -> None:
    s = serve()
    sock, _ = raw(s, Role.instructor)
    request = json.dumps({"id": 1, "cmd": "big", "args": {"n": 500_000}}).encode() + b"\n"
    sock.sendall(request * 100)  # 50 MB of replies it never reads
    with s.client(Role.instructor) as c:
        for k in range(20):
            assert c.request("echo", k=k) == {"cmd": "echo", "args": {"k": k}}
    assert len(s.calls) < 100 + 20  # the reader is held back until it reads
    sock.close()


def test_poll_waits_no_longer_than_its_timeout() -> None:
    server = ChannelServer(new_tokens(), PERMISSIONS).start()
    try:
        t0 = time.monotonic()
        assert server.poll(lambda *a: None, timeout=0.05) == 0
        assert server.poll(lambda *a: None) == 0
        assert time.monotonic() - t0 < 0.5
    finally:
        server.close()


def test_random_bytes_never_break_the_server(serve) -> None:
    s = serve(max_frame=512)
    rng = np.random.default_rng(0)
    hello = json.dumps({"hello": 1, "token": s.tokens[Role.instructor]}).encode() + b"\n"
    good = b'{"id": 1, "cmd": "echo", "args": {"a": [1, 2.5, "x"]}}\n'
    for k in range(300):
        if k % 3 == 0:
            junk = rng.integers(0, 256, size=int(rng.integers(1, 1200)), dtype=np.uint8).tobytes()
        else:  # a good frame with a few bytes changed gets further into the parser
            frame = bytearray(good)
            for i in rng.integers(0, len(frame), size=int(rng.integers(1, 6))):
                frame[i] = int(rng.integers(0, 256))
            junk = bytes(frame)
        sock = socket.create_connection(s.server.address, timeout=5.0)
        sock.sendall((hello if k % 2 else b"") + junk)
        sock.close()
    with s.client(Role.instructor) as c:
        assert c.request("echo", k=1) == {"cmd": "echo", "args": {"k": 1}}
    assert wait_for(lambda: s.server.clients == 0, timeout=3.0), f"{s.server.clients} left open"
    assert s.server.bad_frames > 0


def test_session_file_round_trip(tmp_path) -> None:
    tokens = new_tokens()
    assert set(tokens) == set(Role) and len(set(tokens.values())) == 2
    path = write_session_file(tmp_path / "run" / "session.json", ("127.0.0.1", 40123), tokens)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert json.loads(path.read_text())["format"] == "twin-session-1"
    assert read_session_file(path) == (("127.0.0.1", 40123), tokens)
    os.chmod(path, 0o644)
    write_session_file(path, ("127.0.0.1", 40124), tokens)  # a wider mode left over is narrowed
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600


def test_session_file_errors_say_what_to_do(tmp_path) -> None:
    missing = tmp_path / "nope.json"
    with pytest.raises(ChannelError, match="twin train") as err:
        read_session_file(missing)
    assert str(missing) in str(err.value)
    wrong = tmp_path / "wrong.json"
    wrong.write_text('{"format": "other"}')
    with pytest.raises(ChannelError, match="not a twin session file.*twin train"):
        read_session_file(wrong)
    wrong.write_text("{not json")
    with pytest.raises(ChannelError, match="wrong.json"):
        read_session_file(wrong)


def test_the_client_connects_through_the_session_file(serve, tmp_path) -> None:
    s = serve()
    address, tokens = read_session_file(write_session_file(tmp_path / "s.json", s.server.address, s.tokens))
    with ChannelClient(address, tokens[Role.trainee], timeout=5.0) as c:
        assert c.role is Role.trainee and c.request("echo") == {"cmd": "echo", "args": {}}


def test_no_session_listening_is_a_channel_error() -> None:
    server = ChannelServer(new_tokens(), PERMISSIONS).start()
    address = server.address
    server.close()
    with pytest.raises(ChannelError, match="cannot reach the training session"):
        ChannelClient(address, "t", timeout=1.0)


def test_a_pumping_client_needs_no_thread() -> None:
    tokens = new_tokens()
    seen = []
    with ChannelServer(tokens, {Role.instructor: {"ping"}}).start() as server:
        pump = lambda: server.poll(lambda role, cmd, args: seen.append((role, cmd)) or "pong")
        with ChannelClient(server.address, tokens[Role.instructor], timeout=5.0, pump=pump) as client:
            assert client.role is Role.instructor
            assert client.request("ping") == "pong"
    assert seen == [(Role.instructor, "ping")]
