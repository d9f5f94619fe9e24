"""The lock-step connection between the IDMS's process and the world's: calls both ways to any
depth, callbacks as handles, one-way timers, work handed over from other threads, and frames it
must refuse (a wrong token, a type that is not the interfaces' data, an unknown method)."""

from __future__ import annotations

import io
import pickle
import socket
import struct
import threading

import pytest

from twin.idms.interfaces.field_devices import PointValue, Quality
from twin.idms.interfaces.lockstep import LockstepError, Peer, RemoteError, accept, connect, once


class World:
    def __init__(self) -> None:
        self.now = 0.0
        self.later: list = []
        self.subscribers: list = []

    def call_later(self, delay_s, callback) -> None:  # noqa: ANN001
        self.later.append((self.now + delay_s, callback))

    def subscribe(self, callback) -> None:  # noqa: ANN001
        self.subscribers.append(callback)

    def run(self, until_s: float) -> int:
        """Fire the timers due and report a point to every subscriber at each; how many fired."""
        fired = 0
        while self.later and min(at for at, _ in self.later) <= until_s:
            at, callback = min(self.later, key=lambda x: x[0])
            self.later.remove((at, callback))
            self.now = at
            callback()
            for s in self.subscribers:
                s([PointValue("B1", "status", "open", Quality.good, at)])
            fired += 1
        return fired

    def fail(self) -> None:
        raise ValueError("no such feeder")


@pytest.fixture
def pair():
    a, b = socket.socketpair()
    world = World()
    w = Peer(a, name="world", time=lambda: world.now)
    i = Peer(b, name="idms")
    w.expose("world", world, {"call_later", "subscribe", "run", "fail"})
    t = threading.Thread(target=w.serve, daemon=True)
    t.start()
    yield world, w, i
    i.close()
    t.join(2.0)


def test_calls_both_ways_callbacks_and_one_way_timers(pair):
    world, w, idms = pair
    seen: list = []
    times: list = []

    def timer() -> None:  # runs in the IDMS, in the middle of the world's run, and calls back into it
        times.append(idms.remote_time)
        idms.cast("world", "call_later", 5.0, once(lambda: times.append(idms.remote_time)))

    idms.call("world", "subscribe", seen.extend)
    idms.cast("world", "call_later", 10.0, once(timer))
    assert idms.call("world", "run", 12.0) == 1
    assert times == [10.0] and seen == [PointValue("B1", "status", "open", Quality.good, 10.0)]
    assert idms.call("world", "run", 20.0) == 1  # the timer set from inside the first
    assert times == [10.0, 15.0]
    assert idms.handles == 1  # the timers, called once, are forgotten; the subscription stays
    with pytest.raises(RemoteError, match="ValueError.*no such feeder"):
        idms.call("world", "fail")
    with pytest.raises(RemoteError, match="offers no world.__init__"):
        idms.call("world", "__init__")


def test_work_handed_over_from_another_thread_runs_on_the_serving_thread(pair):
    world, w, idms = pair
    ran_on: list = []
    future = w.submit(lambda: ran_on.append(threading.current_thread().name) or 42)
    assert future.result(timeout=2.0) == 42 and ran_on and ran_on[0] != threading.main_thread().name


def test_a_frame_carrying_a_function_is_refused_and_the_connection_closed():
    a, b = socket.socketpair()
    w = Peer(a, name="world")
    evil = pickle.dumps(("call", 1, 0.0, "world", "run", (print,), {}), protocol=5)  # builtins.print: a function
    b.sendall(struct.pack(">I", len(evil)) + evil)
    with pytest.raises(LockstepError, match="print is not a type the interfaces carry"):
        w.serve(until=lambda: False)
    assert w.closed
    b.close()


def test_a_function_of_the_interfaces_own_modules_is_refused_too():
    a, b = socket.socketpair()
    w = Peer(a, name="world")
    from twin.idms.interfaces.dnp3 import points

    buf = io.BytesIO()
    pickle.Pickler(buf, protocol=5).dump(("call", 1, 0.0, "world", "run", (points.load_points_map,), {}))
    b.sendall(struct.pack(">I", len(buf.getvalue())) + buf.getvalue())
    with pytest.raises(LockstepError, match="load_points_map is not a type"):
        w.serve(until=lambda: False)
    b.close()


def test_a_wrong_token_is_refused_and_the_right_one_accepted():
    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]
    got: dict = {}
    t = threading.Thread(target=lambda: got.update(peer=accept(server, "right", name="idms", timeout_s=5.0)))
    t.start()
    bad = socket.create_connection(("127.0.0.1", port))
    bad.sendall(struct.pack(">I", 5) + b"wrong")
    good = connect("127.0.0.1", port, "right", name="world")
    t.join(5.0)
    assert bad.recv(1) == b""  # closed on it
    assert isinstance(got["peer"], Peer)
    for s in (bad, server):
        s.close()
    good.close()
    got["peer"].close()
