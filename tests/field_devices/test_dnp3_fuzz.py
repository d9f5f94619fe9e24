"""Fuzz: thousands of random and mutated frames at the world's outstations and at SCADA's DNP3
master. Neither crashes or hangs, every bad frame is counted by our stack (a drop of its kind,
octets skipped hunting for a frame, or a request refused in the response's IIN), an outstation
takes no control from another master address, and both still work afterwards.

Each bad frame goes with 292 zero octets (completing any frame that is short or lies about its
length, so that it is rejected rather than swallowing what follows) and a REQUEST LINK STATUS
probe, whose answer closes that frame's window in the stack's counts.
"""

from __future__ import annotations

import socket
import threading
import time

import numpy as np
import pytest

from tests.field_devices import dnp3_frames as d
from tests.field_devices.test_dnp3 import Field, _breaker_points, _Clock
from tests.field_devices.test_dnp3_fuzz_harness import FILLER, Peer, _is_link_status, _responses
from twin.grid.schema import SwitchKind
from twin.idms.interfaces.dnp3.points import PointsMap, Rtu
from twin.idms.interfaces.dnp3.stack import Dnp3Stack, NoResponse
from twin.idms.interfaces.field_devices import Quality
from twin.idms.scada.dnp3_link import Dnp3FieldLink

FRAMES = 3000


def _counts(stack: Dnp3Stack) -> tuple[int, int]:
    return sum(stack.dropped.values()), stack.skipped_bytes


def _fuzz(connect, stack: Dnp3Stack, probe: bytes, frames, *, on_seen=None) -> list[tuple[str, bool, bool]]:
    """Send each ``(kind, bad)``; ``(kind, counted, answered)`` for each."""
    out = []
    peer = connect()
    try:
        for kind, bad in frames:
            before = _counts(stack)
            status, seen, payload = None, [], bad + FILLER + probe
            for _ in range(3):
                if peer.closed:
                    peer.close()
                    peer = connect()
                if peer.send(payload):
                    more, status = peer.read_until(_is_link_status)
                    seen += more
                    if status is not None:
                        break
                payload = FILLER + probe
            if on_seen is not None:
                on_seen(seen)
            dropped, skipped = (a - b for a, b in zip(_counts(stack), before))
            refused = any(a.iin is not None and a.iin & d.IIN_REQUEST_ERRORS for a in _responses(seen))
            out.append((kind, bool(dropped) or skipped > len(FILLER) or refused, status is not None))
    finally:
        peer.close()
    return out


def test_the_worlds_outstation_survives_thousands_of_bad_frames_and_counts_every_one():
    f = Field(lockstep=False, poll_period_s=None)
    try:
        breaker = f.first(SwitchKind.breaker)
        rtu = f.map.rtu(f.map.device(breaker).rtu)
        for m in f.link.masters.values():  # the master steps aside: one connection per outstation
            m.close()
        dest, src = rtu.address, f.map.master_address
        rng = np.random.default_rng(20261204)
        mutator = d.Mutator(rng)

        def frames():
            for i in range(FRAMES):
                seq = i % 16
                base = (d.read_class(dest, src, seq), d.select_crob(dest, src, seq, index=0),
                        d.operate_crob(dest, src, seq, index=0),
                        d.direct_operate_crob(dest, src, seq, index=1, op_type=d.OP_PULSE_ON),
                        d.link_status_request(dest, src))[int(rng.integers(0, 5))]
                yield mutator.mutated(base)

        probe = d.link_status_request(dest, src)
        t0 = time.monotonic()
        results = _fuzz(lambda: Peer.connect(rtu.port), f.stack, probe, frames())
        elapsed = time.monotonic() - t0
        assert len(results) == FRAMES and {k for k, _, _ in results} == set(d.KINDS)
        assert all(answered for _, _, answered in results), "the outstation stopped answering"
        uncounted = [k for k, counted, _ in results if not counted]
        assert not uncounted, uncounted[:10]

        # another master's address: no answer, no control (the breaker stays closed)
        peer = Peer.connect(rtu.port)
        try:
            before = f.stack.dropped["address"]
            trip = d.direct_operate_crob(dest, src + 1, 3, index=f.map.device(breaker).crob["switch"],
                                         op_type=d.OP_PULSE_ON, tcc=d.TCC_TRIP)
            assert peer.send(trip + d.link_status_request(dest, src + 1))
            seen, _ = peer.read_until(lambda fr: False, timeout=0.5)
            assert not _responses(seen) and f.stack.dropped["address"] > before
            assert not f.world.grid.switch_open[f.net.switch.position(breaker)]
            # a flood of valid requests sent back to back
            assert peer.send(b"".join(d.read_class(dest, src, k % 16) for k in range(500)))
            peer.read_until(lambda fr: False, timeout=0.5)
        finally:
            peer.close()

        # a master again: it reads the outstation and trips the breaker
        link = Dnp3FieldLink(f.map, f.link.clock, stack=f.stack, records=f.virtual, response_timeout_s=0.5,
                             poll_period_s=None)
        try:
            status = [p for p in link.read([breaker]) if p.name == "status"][0]
            assert status.value == "closed" and status.quality is Quality.good
            assert link.select(breaker, "trip").status.value == "selected"
            assert link.operate(breaker, "trip").status.value == "executed"
            f.world.run_to(f.world.now + 1.0)
            assert f.world.grid.switch_open[f.net.switch.position(breaker)]
        finally:
            link.close()
        print(f"\noutstation: {FRAMES} frames in {elapsed:.1f} s; dropped {dict(f.stack.dropped)}, "
              f"{f.stack.skipped_bytes:,} octets skipped")
    finally:
        f.close()


def test_scadas_master_survives_thousands_of_bad_responses_and_counts_every_one():
    """A raw server in an RTU's place answers with mutated frames; the master survives, counts
    them, marks the RTU failed, and reads it again once a proper responder answers."""
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(5.0)
    port = server.getsockname()[1]
    pmap = PointsMap((Rtu("rtu:1", 10, "127.0.0.1", port),), (
        _breaker_points("B1", "rtu:1"),), master_address=1)
    stack = Dnp3Stack()
    requests: list = []
    try:
        holder: dict = {}
        accepted = threading.Thread(target=lambda: holder.update(conn=server.accept()[0]), daemon=True)
        accepted.start()
        link = Dnp3FieldLink(pmap, _Clock(), stack=stack, poll_period_s=None, response_timeout_s=0.3,
                             connect_timeout_s=5.0)
        accepted.join(5.0)
        conn = holder["conn"]
        first = [True]

        def connect():
            if first[0]:
                first[0] = False
                return Peer(conn)
            c, _ = server.accept()
            return Peer(c)

        stop = threading.Event()

        def keep_asking():  # requests outstanding, so responses with their sequence get parsed
            while not stop.is_set():
                try:
                    link.masters["rtu:1"].read_events()
                except NoResponse:
                    pass

        asker = threading.Thread(target=keep_asking, daemon=True)
        asker.start()
        rng = np.random.default_rng(99)
        mutator = d.Mutator(rng)

        def on_seen(frames):
            requests.extend(fr.app() for fr in frames if fr.ok and fr.user_data and fr.dir)

        def frames():
            for _ in range(FRAMES // 3):
                seq = requests[-1].seq if requests and requests[-1].seq is not None else int(rng.integers(0, 16))
                base = (d.response(1, 10, seq, d.binary_inputs([True, False, True])),
                        d.response(1, 10, seq, d.analog_inputs([7, -3])),
                        d.response(1, 10, (seq + 1) % 16, d.binary_inputs([False]), unsolicited=True),
                        d.link_status(1, 10))[int(rng.integers(0, 4))]
                yield mutator.mutated(base)

        probe = d.link_frame(1, 10, d.link_control(d.LinkFunction.REQUEST_LINK_STATUS, dir_=False))
        results = _fuzz(connect, stack, probe, frames(), on_seen=on_seen)
        stop.set()
        asker.join(5.0)
        assert not asker.is_alive()
        assert all(answered for _, _, answered in results), "the master's link layer stopped answering"
        uncounted = [k for k, counted, _ in results if not counted]
        assert not uncounted, uncounted[:10]
        assert requests, "the master asked nothing during the fuzz"
        # the RTU now answers properly: the master reads it and reports it good
        assert all(p.quality is Quality.comms_failed for p in link.read(["B1"]))  # nobody answers now
        good = threading.Thread(target=_answer_properly, args=(server, 6.0), daemon=True)
        good.start()
        assert link.masters["rtu:1"].wait_connected(5.0)  # the stack reconnects after its back-off
        points = {p.name: p for p in link.read(["B1"])}
        assert points["status"].value == "closed" and points["lockout"].value is False
        assert points["i_amps"].value == (7.0, -3.0, 0.0)
        link.close()
        good.join(5.0)
        print(f"\nmaster: {len(results)} frames; dropped {dict(stack.dropped)}, {stack.skipped_bytes:,} octets "
              f"skipped; {len(requests)} requests seen")
    finally:
        server.close()
        stack.shutdown()


def _answer_properly(server: socket.socket, seconds: float) -> None:
    """An RTU written from the standard alone: answers reads with four binaries and eight analogs
    (for ``seconds``, or until the master goes)."""
    conn, _ = server.accept()
    peer = Peer(conn)
    end = time.monotonic() + seconds
    try:
        while time.monotonic() < end and not peer.closed:
            seen, _ = peer.read_until(lambda fr: False, timeout=0.05)
            for fr in seen:
                if not (fr.ok and fr.user_data and fr.dir):
                    continue
                a = fr.app()
                if a.seq is None or a.function != d.AppFunction.READ:
                    continue
                objects = d.binary_inputs([True, False, False, True]) + d.analog_inputs([7, -3, 0, 7200, 7190,
                                                                                          7210, 500, 100])
                peer.send(d.response(1, 10, a.seq, objects))
    finally:
        peer.close()


@pytest.fixture(autouse=True)
def _no_leftover_threads():
    before = threading.active_count()
    yield
    time.sleep(0.05)
    assert threading.active_count() <= before + 1
