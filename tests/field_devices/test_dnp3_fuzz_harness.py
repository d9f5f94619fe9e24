"""The DNP3 frame toolkit (tests/field_devices/dnp3_frames.py) proved against opendnp3 (yadnp3):
CRC check values, the frames opendnp3 accepts and answers, and short fuzz runs against an
opendnp3 outstation (raw TCP client here) and an opendnp3 master (raw TCP server here), each
bad frame counted from the stack's own log and the stack still answering afterwards.

Every socket has a timeout and every wait a deadline; every manager is shut down.

How a bad frame is counted: each one is sent followed by 292 zero octets (the longest link frame,
so a frame that is short or lies about its length is completed by them and then rejected rather
than swallowing what follows) and by a REQUEST LINK STATUS probe; the LINK STATUS answer marks
the end of that frame's log entries, since the stack logs in the order it reads. A frame is
counted when its window holds a drop message (dnp3_frames.OPENDNP3_DROPS), or octets skipped
beyond the 292 of filler (the link layer threw part of the frame away), or a response whose IIN
says the request was refused.
"""

from __future__ import annotations

import collections
import contextlib
import socket
import threading
import time
from dataclasses import dataclass, field

import numpy as np
import pytest

from tests.field_devices import dnp3_frames as d

opendnp3 = pytest.importorskip("opendnp3")

FILLER = bytes(d.MAX_FRAME_SIZE)
OUTSTATION_ADDR = 10
MASTER_ADDR = 1
WAIT_S = 2.0  # the longest wait for any one answer on loopback


# --------------------------------------------------------------------------------------------
# opendnp3 callbacks
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LogEntry:
    module: int  # ModuleId.value (0 for everything seen)
    id: str  # the channel's or the stack's id
    level: int  # LogLevel.value: one of opendnp3.flags.* values
    location: str  # "source.cpp(line)"
    message: str


class LogCollector(opendnp3.ILogHandler):
    """Keeps every log entry; opendnp3 calls ``log`` from its own thread."""

    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.Lock()
        self.entries: list[LogEntry] = []

    def log(self, module, id, level, location, message):  # noqa: A002 (opendnp3's names)
        entry = LogEntry(module.value, id, level.value, location, message)
        with self._lock:
            self.entries.append(entry)

    def mark(self) -> int:
        with self._lock:
            return len(self.entries)

    def since(self, mark: int) -> list[LogEntry]:
        with self._lock:
            return self.entries[mark:]


class CommandHandler(opendnp3.ICommandHandler):
    def __init__(self) -> None:
        super().__init__()
        self.selects: list[tuple[int, object]] = []
        self.operates: list[tuple[int, object, object]] = []

    def Begin(self):
        pass

    def End(self):
        pass

    def Select(self, command, index):
        if isinstance(command, opendnp3.ControlRelayOutputBlock):
            self.selects.append((index, command.opType))
        return opendnp3.CommandStatus.SUCCESS

    def Operate(self, command, index, handler, opType):
        if isinstance(command, opendnp3.ControlRelayOutputBlock):
            self.operates.append((index, command.opType, opType))
        return opendnp3.CommandStatus.SUCCESS


class OutstationApp(opendnp3.IOutstationApplication):
    def __init__(self) -> None:
        super().__init__()

    def SupportsWriteAbsoluteTime(self):
        return False

    def WriteAbsoluteTime(self, timestamp):
        return False

    def SupportsAssignClass(self):
        return False

    def GetApplicationIIN(self):
        return opendnp3.ApplicationIIN()

    def ColdRestartSupport(self):
        return opendnp3.RestartMode.UNSUPPORTED

    def WarmRestartSupport(self):
        return opendnp3.RestartMode.UNSUPPORTED

    def ColdRestart(self):
        return 0

    def WarmRestart(self):
        return 0

    def Now(self):
        return opendnp3.DNPTime(int(time.time() * 1000))


class SOEHandler(opendnp3.ISOEHandler):
    def __init__(self) -> None:
        super().__init__()
        self.values = 0
        self.fragments = 0

    def BeginFragment(self, info):
        self.fragments += 1

    def EndFragment(self, info):
        pass

    def Process(self, info, values):
        self.values += len(values)


class MasterApp(opendnp3.IMasterApplication):
    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.Lock()
        self.completed: list[tuple[object, object]] = []

    def OnReceiveIIN(self, iin):
        pass

    def OnTaskStart(self, type, id):  # noqa: A002
        pass

    def OnTaskComplete(self, info):
        with self._lock:
            self.completed.append((info.type, info.result))

    def OnOpen(self):
        pass

    def OnClose(self):
        pass

    def AssignClassDuringStartup(self):
        return False

    def Now(self):
        return opendnp3.UTCTimestamp(int(time.time() * 1000))

    def results(self) -> list[tuple[object, object]]:
        with self._lock:
            return list(self.completed)


# --------------------------------------------------------------------------------------------
# Rigs
# --------------------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Outstation:
    manager: object
    log: LogCollector
    commands: CommandHandler
    port: int
    local: int
    remote: int
    keep: list = field(default_factory=list)  # Python objects opendnp3 calls back into


@contextlib.contextmanager
def outstation_rig(local: int = OUTSTATION_ADDR, remote: int = MASTER_ADDR, levels=None):
    log = LogCollector()
    manager = opendnp3.DNP3Manager(1, log)
    try:
        port = _free_port()
        channel = manager.AddTCPServer(
            "server",
            opendnp3.levels.NORMAL if levels is None else levels,
            opendnp3.ServerAcceptMode.CloseExisting,
            opendnp3.IPEndpoint("127.0.0.1", port),
            None,
        )
        cfg = opendnp3.OutstationStackConfig(opendnp3.DatabaseConfig(10))
        cfg.link.LocalAddr = local
        cfg.link.RemoteAddr = remote
        commands, app = CommandHandler(), OutstationApp()
        outstation = channel.AddOutstation("outstation", commands, app, cfg)
        outstation.Enable()
        yield Outstation(manager, log, commands, port, local, remote, [channel, outstation, app])
    finally:
        manager.Shutdown()


class Peer:
    """A raw TCP peer of an opendnp3 stack: sends octets, reads link frames with deadlines."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.reader = d.FrameReader()
        self.queue: collections.deque[d.LinkFrame] = collections.deque()
        self.closed = False

    @classmethod
    def connect(cls, port: int, deadline_s: float = 5.0) -> "Peer":
        end = time.monotonic() + deadline_s
        while True:
            try:
                return cls(socket.create_connection(("127.0.0.1", port), timeout=1.0))
            except OSError:
                if time.monotonic() > end:
                    raise
                time.sleep(0.02)

    def send(self, data: bytes) -> bool:
        try:
            self.sock.settimeout(WAIT_S)
            self.sock.sendall(data)
            return True
        except OSError:
            self.closed = True
            return False

    def read_until(self, done, timeout: float = WAIT_S) -> tuple[list[d.LinkFrame], d.LinkFrame | None]:
        """Frames read until ``done(frame)`` is true for one (returned apart) or the time is up;
        frames read after that one wait for the next call."""
        seen: list[d.LinkFrame] = []
        end = time.monotonic() + timeout
        while True:
            while self.queue:
                f = self.queue.popleft()
                if done(f):
                    return seen, f
                seen.append(f)
            left = end - time.monotonic()
            if self.closed or left <= 0:
                return seen, None
            self.sock.settimeout(min(left, 0.25))
            try:
                data = self.sock.recv(65536)
            except socket.timeout:
                continue
            except OSError:
                self.closed = True
                continue
            if not data:
                self.closed = True
                continue
            self.queue.extend(self.reader.feed(data))

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.close()
        self.closed = True


def _is_link_status(f: d.LinkFrame) -> bool:
    return f.ok and not f.prm and f.function == d.LinkFunction.LINK_STATUS


def _responses(frames: list[d.LinkFrame]) -> list[d.Apdu]:
    return [d.parse_apdu(a) for a in d.reassemble(frames) if len(a) >= 2]


def _read_response(peer: Peer, seq: int, timeout: float = WAIT_S) -> tuple[list[d.LinkFrame], d.Apdu | None]:
    """Frames until a whole RESPONSE with sequence ``seq`` arrives."""
    frames: list[d.LinkFrame] = []
    end = time.monotonic() + timeout
    while time.monotonic() < end and not peer.closed:
        seen, last = peer.read_until(lambda f: f.ok and bool(f.user_data) and bool(f.user_data[0] & d.TH_FIN), end - time.monotonic())
        frames += seen + ([last] if last else [])
        for apdu in _responses(frames):
            if apdu.function == d.AppFunction.RESPONSE and apdu.seq == seq:
                return frames, apdu
    return frames, None


# --------------------------------------------------------------------------------------------
# The toolkit alone
# --------------------------------------------------------------------------------------------


def test_crc_check_values():
    assert d.crc16(b"123456789") == 0xEA82  # CRC-16/DNP's published check value
    assert d.crc16(b"") == 0xFFFF
    # the link-status request 05 64 05 C9 01 00 00 04 has header CRC A6 57; E9 21 is the CRC of
    # RESET LINK STATES (control C0) with the same addresses
    assert d.link_status_request(1, 1024) == bytes.fromhex("056405C901000004A657")
    assert d.reset_link_states(1, 1024) == bytes.fromhex("056405C001000004E921")


def test_link_frame_layout_and_parser_round_trip():
    rng = np.random.default_rng(7)
    for n in (0, 1, 15, 16, 17, 31, 32, 33, 249, 250):
        ud = rng.integers(0, 256, n, dtype=np.uint8).tobytes()
        raw = d.link_frame(0x1234, 0xBEEF, 0xC4, ud)
        assert raw[:2] == b"\x05\x64" and raw[2] == 5 + n and raw[3] == 0xC4
        assert raw[4:8] == bytes((0x34, 0x12, 0xEF, 0xBE))
        assert len(raw) == d.frame_size(5 + n) == 10 + n + 2 * (-(-n // 16))
        (f,) = d.parse_link_frames(b"\xff\x00" + raw + raw[:7])
        assert f.ok and f.offset == 2 and (f.dest, f.src, f.user_data) == (0x1234, 0xBEEF, ud)
        frames, tail = d.split_link_frames(raw + raw[:-1])
        assert len(frames) == 1 and tail == raw[:-1]
    with pytest.raises(ValueError):
        d.link_frame(1, 2, 0xC4, bytes(251))
    # segments and reassembly
    apdu = d.apdu_response(3, bytes(range(256)) * 3)
    frames = d.tpdu_frames(1, 10, apdu, control=0x44, transport_seq=62)
    assert len(frames) == 4
    assert d.reassemble(f for raw in frames for f in d.parse_link_frames(raw)) == [apdu]


def test_builders_follow_the_standard():
    f = d.parse_link_frames(d.read_class(10, 1, 5))[0]
    assert f.ok and f.dir and f.prm and f.function == d.LinkFunction.UNCONFIRMED_USER_DATA
    assert f.user_data == bytes.fromhex("c5 c5 01 3c 01 06 3c 02 06 3c 03 06 3c 04 06")
    f = d.parse_link_frames(d.read_class(10, 1, 5, classes=(1, 2, 3, 0), confirmed=True, fcb=True))[0]
    assert f.control == 0xF3 and f.user_data[3:] == bytes.fromhex("3c 02 06 3c 03 06 3c 04 06 3c 01 06")
    for build, fc in ((d.select_crob, 3), (d.operate_crob, 4), (d.direct_operate_crob, 5)):
        a = d.parse_link_frames(build(10, 1, 2, index=0x0102, op_type=d.OP_PULSE_ON, on_time_ms=250, off_time_ms=0))[0].app()
        assert a.function == fc and a.seq == 2
        assert a.objects == bytes.fromhex("0c 01 28 01 00 02 01") + bytes.fromhex("01 01 fa 00 00 00 00 00 00 00 00")
    r = d.parse_link_frames(d.response(1, 10, 9, b"\x01\x02", unsolicited=True, iin=0x0180))[0]
    assert not r.dir and r.prm and r.function == 4
    a = r.app()
    assert (a.function, a.iin, a.objects, a.seq, a.uns, a.con) == (0x82, 0x0180, b"\x01\x02", 9, True, True)
    s = d.parse_link_frames(d.link_status_request(10, 1))[0]
    assert s.ok and s.control == 0xC9 and s.length == 5 and s.user_data == b""


def test_mutator_is_seeded_and_makes_each_kind_bad():
    bases = [d.read_class(10, 1, 3), d.direct_operate_crob(10, 1, 4, 7), d.link_status_request(10, 1), d.response(1, 10, 2, d.binary_inputs([True] * 20))]

    def run(seed):
        m = d.Mutator(np.random.default_rng(seed))
        return [m.mutated(bases[i % len(bases)]) for i in range(400)]

    assert run(11) == run(11)
    assert run(11) != run(12)
    m = d.Mutator(np.random.default_rng(3))
    for kind in d.KINDS:
        for i in range(120):
            base = bases[i % len(bases)]
            bad = m.mutate(base, kind)
            assert bad != base, kind
            frames = d.parse_link_frames(bad)
            if kind == "bad_header_crc":
                assert not frames[0].header_crc_ok
            elif kind == "bad_data_crc":
                assert frames[0].header_crc_ok and not frames[0].data_crc_ok
            elif kind == "truncated":
                assert len(bad) < len(base) and not frames
            elif kind == "length_lie":
                assert bad[2] != base[2] and d.crc_bytes(bad[:8]) == bad[8:10]
            elif kind == "unknown_link_function":
                f = frames[0]
                assert f.ok and f.function not in (d.LinkFunction.PRIMARY if f.prm else d.LinkFunction.SECONDARY)
            elif kind == "unknown_app_function":
                assert frames[0].ok and frames[0].app().function not in d.AppFunction.DEFINED
            elif kind == "bad_object_header":
                assert frames[0].ok and frames[0].user_data[:2] != b""
            elif kind == "oversized":
                assert all(f.ok for f in frames) and sum(len(f.user_data) - 1 for f in frames) > 2048
            elif kind == "bit_flip":
                assert len(bad) == len(base) and bin(int.from_bytes(bytes(x ^ y for x, y in zip(bad, base)), "big")).count("1") <= 8
    with pytest.raises(ValueError):
        d.Mutator(np.random.default_rng(0), kinds=("no_such_kind",))


# --------------------------------------------------------------------------------------------
# Against an opendnp3 outstation
# --------------------------------------------------------------------------------------------


def test_crc_vectors_against_opendnp3_and_log_entry_fields():
    """The brief's link-status request with our CRC (A6 57) is answered; with E9 21 it is a header
    CRC failure; and opendnp3's own answer passes our CRC check."""
    with outstation_rig(local=1, remote=1024) as rig:
        peer = Peer.connect(rig.port)
        try:
            mark = rig.log.mark()
            assert peer.send(bytes.fromhex("056405C901000004E921"))
            assert peer.send(bytes.fromhex("056405C901000004A657"))
            seen, status = peer.read_until(_is_link_status)
            assert status is not None and not seen
            assert status.raw == d.link_status(1024, 1) == bytes.fromhex("0564050B00040100") + d.crc_bytes(bytes.fromhex("0564050B00040100"))
            entries = rig.log.since(mark)
            crc = [e for e in entries if e.message == "CRC failure in header"]
            assert len(crc) == 1
            e = crc[0]
            assert (e.module, e.id, e.level) == (0, "server", opendnp3.flags.WARN.value)
            assert e.location.endswith(")") and "LinkLayerParser.cpp(" in e.location
        finally:
            peer.close()


def test_read_class_answered_by_opendnp3_outstation():
    with outstation_rig() as rig:
        peer = Peer.connect(rig.port)
        try:
            assert peer.send(d.read_class(OUTSTATION_ADDR, MASTER_ADDR, 6))
            frames, apdu = _read_response(peer, 6)
            assert apdu is not None
            assert all(f.ok for f in frames) and all((f.dest, f.src) == (MASTER_ADDR, OUTSTATION_ADDR) for f in frames)
            assert all(not f.dir and f.prm and f.function == d.LinkFunction.UNCONFIRMED_USER_DATA for f in frames)
            assert apdu.function == 0x81 and apdu.fir and apdu.fin and apdu.iin & d.IIN_DEVICE_RESTART
            assert not apdu.iin & d.IIN_REQUEST_ERRORS
            assert apdu.objects.startswith(bytes((1, 2, 0x00, 0, 9)))  # g1v2, 8-bit start-stop 0..9
            # link-layer confirmed user data: ignored until RESET LINK STATES, then ACKed and answered
            assert peer.send(d.read_class(OUTSTATION_ADDR, MASTER_ADDR, 7, confirmed=True, fcb=True))
            assert _read_response(peer, 7, timeout=0.3)[1] is None
            assert peer.send(d.reset_link_states(OUTSTATION_ADDR, MASTER_ADDR))
            seen, ack = peer.read_until(lambda f: f.ok and not f.prm and f.function == d.LinkFunction.ACK)
            assert ack is not None
            assert peer.send(d.read_class(OUTSTATION_ADDR, MASTER_ADDR, 8, confirmed=True, fcb=True))
            frames, apdu = _read_response(peer, 8)
            assert apdu is not None and apdu.function == 0x81
            assert any(f.ok and not f.prm and f.function == d.LinkFunction.ACK for f in frames)
            messages = [e.message for e in rig.log.entries]
            assert "ConfirmedUserData ignored: secondary not reset" in messages
        finally:
            peer.close()


def test_crob_select_operate_and_direct_operate_reach_the_command_handler():
    with outstation_rig() as rig:
        peer = Peer.connect(rig.port)
        try:
            for seq, build, index in ((1, d.select_crob, 3), (2, d.operate_crob, 3), (3, d.direct_operate_crob, 5)):
                assert peer.send(build(OUTSTATION_ADDR, MASTER_ADDR, seq, index=index, op_type=d.OP_LATCH_ON))
                _, apdu = _read_response(peer, seq)
                assert apdu is not None and not apdu.iin & d.IIN_REQUEST_ERRORS
                # the echo of the request's objects with status 0 (SUCCESS)
                assert apdu.objects == d.crob_objects(index, d.crob(d.OP_LATCH_ON, status=0))
        finally:
            peer.close()
        latch_on = opendnp3.OperationType.LATCH_ON
        assert rig.commands.selects == [(3, latch_on)]
        assert rig.commands.operates == [
            (3, latch_on, opendnp3.OperateType.SelectBeforeOperate),
            (5, latch_on, opendnp3.OperateType.DirectOperate),
        ]


@dataclass
class FrameResult:
    kind: str
    detail: str
    drops: collections.Counter
    skipped_excess: int
    refused: bool  # a response carried an IIN request-error bit
    synced: bool
    other: tuple[str, ...] = ()  # messages in the window that are neither drops nor skips

    @property
    def counted(self) -> bool:
        return bool(self.drops) or self.skipped_excess > 0 or self.refused


def _window(entries: list[LogEntry]) -> tuple[collections.Counter, int, tuple[str, ...]]:
    drops: collections.Counter = collections.Counter()
    skipped = 0
    other = []
    for e in entries:
        n = d.skipped_octets(e.message)
        if n:
            skipped += n
            continue
        cat = d.classify_opendnp3_log(e.message)
        if cat:
            drops[cat] += 1
        elif e.level != opendnp3.flags.APP_HEADER_RX.value:
            other.append(e.message)
    return drops, skipped - len(FILLER), tuple(other)


def _fuzz(peer_factory, log: LogCollector, probe: bytes, frames, on_seen=None):
    """Send each (kind, detail, bad) with filler and probe; one FrameResult each."""
    results: list[FrameResult] = []
    reconnects = 0
    peer = peer_factory()
    try:
        for kind, detail, bad in frames:
            mark = log.mark()
            status = None
            seen: list[d.LinkFrame] = []
            payload = bad + FILLER + probe
            for _attempt in range(3):
                if peer.closed:
                    peer.close()
                    peer = peer_factory()
                    reconnects += 1
                if not peer.send(payload):
                    continue
                more, status = peer.read_until(_is_link_status)
                seen += more
                if status is not None:
                    break
                payload = FILLER + probe  # a lost probe: ask again
            if on_seen:
                on_seen(seen)
            drops, excess, other = _window(log.since(mark))
            refused = any(a.iin is not None and a.iin & d.IIN_REQUEST_ERRORS for a in _responses(seen))
            results.append(FrameResult(kind, detail, drops, excess, refused, status is not None, other))
    finally:
        peer.close()
    return results, reconnects


def _report(results: list[FrameResult]) -> dict[str, collections.Counter]:
    table: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    for r in results:
        table[r.kind].update(r.drops)
    return table


def test_fuzz_opendnp3_outstation_then_it_still_answers():
    """2,000 mutated master requests over four connections: none hangs the outstation, each is
    counted, the deterministic kinds by exactly one log message of their own category."""
    rng = np.random.default_rng(20240601)
    mutator = d.Mutator(rng)
    n, connections = 2000, 4

    def frames():
        for i in range(n):
            seq = i % 16
            base = (
                d.read_class(OUTSTATION_ADDR, MASTER_ADDR, seq),
                d.select_crob(OUTSTATION_ADDR, MASTER_ADDR, seq, index=seq % 4),
                d.operate_crob(OUTSTATION_ADDR, MASTER_ADDR, seq, index=seq % 4),
                d.direct_operate_crob(OUTSTATION_ADDR, MASTER_ADDR, seq, index=seq % 4, op_type=d.OP_PULSE_ON),
                d.link_status_request(OUTSTATION_ADDR, MASTER_ADDR),
            )[int(rng.integers(0, 5))]
            kind, bad = mutator.mutated(base)
            yield kind, mutator.last_detail, bad

    levels = opendnp3.levels.NORMAL | opendnp3.flags.APP_HEADER_RX
    with outstation_rig(levels=levels) as rig:
        probe = d.link_status_request(OUTSTATION_ADDR, MASTER_ADDR)
        results, reconnects = [], 0
        gen = frames()
        t0 = time.monotonic()
        for _ in range(connections):  # a fresh connection for each quarter
            chunk = [next(gen) for _ in range(n // connections)]
            r, k = _fuzz(lambda: Peer.connect(rig.port), rig.log, probe, chunk)
            results += r
            reconnects += k
        elapsed = time.monotonic() - t0

        # the outstation still answers a valid integrity poll, on a new connection
        peer = Peer.connect(rig.port)
        try:
            assert peer.send(d.read_class(OUTSTATION_ADDR, MASTER_ADDR, 0))
            frames_, apdu = _read_response(peer, 0)
            assert apdu is not None and apdu.function == 0x81 and all(f.ok for f in frames_)
            assert not apdu.iin & d.IIN_REQUEST_ERRORS
        finally:
            peer.close()

    assert len(results) == n and elapsed < 20
    assert all(r.synced for r in results), [r for r in results if not r.synced][:5]
    assert {r.kind for r in results} == set(d.KINDS)
    uncounted = [r for r in results if not r.counted]
    assert not uncounted, uncounted[:5]
    expected = {
        "bad_header_crc": "link_header_crc",
        "bad_data_crc": "link_body_crc",
        "unknown_link_function": "link_unknown_function",
        "unknown_app_function": "app_unknown_function",
        "oversized": "transport_overflow",
    }
    for r in results:
        if r.kind in expected:
            assert r.drops[expected[r.kind]] == 1, r
        if r.kind == "unknown_app_function":
            assert r.refused, r  # IIN2 NO_FUNC_CODE_SUPPORT as well
        if r.kind in ("bad_header_crc", "bad_data_crc", "length_lie", "unknown_link_function", "truncated", "bit_flip", "random_bytes"):
            assert r.skipped_excess > 0, r  # the link layer threw octets away
    table = _report(results)
    print(f"\n{n} frames in {elapsed:.2f} s, {reconnects} reconnects")
    for kind in d.KINDS:
        print(f"  {kind:22s} {sum(1 for r in results if r.kind == kind):4d} frames  {dict(table[kind])}")


# --------------------------------------------------------------------------------------------
# Against an opendnp3 master
# --------------------------------------------------------------------------------------------


def test_fuzz_opendnp3_master_then_it_completes_an_integrity_scan():
    """A raw TCP server that an opendnp3 master connects to answers with 1,000 mutated responses
    (built on the sequence numbers of the master's own requests); the master survives and then
    completes a class scan against a good responder."""
    n = 1000
    log = LogCollector()
    manager = opendnp3.DNP3Manager(1, log)
    server = socket.socket()
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("127.0.0.1", 0))
    server.listen(2)
    server.settimeout(WAIT_S)
    try:
        port = server.getsockname()[1]
        channel = manager.AddTCPClient(
            "client",
            opendnp3.levels.NORMAL,
            opendnp3.ChannelRetry(opendnp3.TimeDuration.Milliseconds(100), opendnp3.TimeDuration.Milliseconds(500)),
            [opendnp3.IPEndpoint("127.0.0.1", port)],
            "0.0.0.0",
            None,
        )
        cfg = opendnp3.MasterStackConfig()
        cfg.link.LocalAddr = MASTER_ADDR
        cfg.link.RemoteAddr = OUTSTATION_ADDR
        cfg.master.responseTimeout = opendnp3.TimeDuration.Milliseconds(300)
        cfg.master.taskRetryPeriod = opendnp3.TimeDuration.Milliseconds(100)
        soe, app = SOEHandler(), MasterApp()
        master = channel.AddMaster("master", soe, app, cfg)
        master.Enable()

        def accept() -> Peer:
            conn, _ = server.accept()
            return Peer(conn)

        requests: list[d.Fragment] = []

        def on_seen(frames):
            requests.extend(f.app() for f in frames if f.ok and f.user_data and f.dir)

        rng = np.random.default_rng(99)
        mutator = d.Mutator(rng)

        def frames():
            for i in range(n):
                if i % 20 == 0:  # keep a request outstanding, so responses with its sequence get parsed
                    master.ScanClasses(opendnp3.ClassField.AllClasses(), soe)
                seq = requests[-1].seq if requests and requests[-1].seq is not None else int(rng.integers(0, 16))
                base = (
                    d.response(MASTER_ADDR, OUTSTATION_ADDR, seq, d.binary_inputs([True, False, True])),
                    d.response(MASTER_ADDR, OUTSTATION_ADDR, seq, d.analog_inputs([7, -3])),
                    d.response(MASTER_ADDR, OUTSTATION_ADDR, (seq + 1) % 16, d.binary_inputs([False]), unsolicited=True),
                    d.link_status(MASTER_ADDR, OUTSTATION_ADDR),
                )[int(rng.integers(0, 4))]
                kind, bad = mutator.mutated(base)
                yield kind, mutator.last_detail, bad

        # a REQUEST LINK STATUS from the outstation's side (DIR = 0): the master's link layer answers
        probe = d.link_frame(MASTER_ADDR, OUTSTATION_ADDR, d.link_control(d.LinkFunction.REQUEST_LINK_STATUS, dir_=False))
        t0 = time.monotonic()
        results, reconnects = _fuzz(accept, log, probe, frames(), on_seen)
        elapsed = time.monotonic() - t0
        assert all(r.synced for r in results), [r for r in results if not r.synced][:5]
        assert not [r for r in results if not r.counted][:5]
        assert requests, "the master sent no request during the fuzz"
        for r in results:
            if r.kind == "bad_header_crc":
                assert r.drops["link_header_crc"] == 1, r
            elif r.kind == "bad_data_crc":
                assert r.drops["link_body_crc"] == 1, r
            elif r.kind == "unknown_link_function":
                assert r.drops["link_unknown_function"] == 1, r
            elif r.kind == "oversized":
                assert r.drops["transport_overflow"] == 1, r
            elif r.kind == "unknown_app_function":
                assert r.drops["app_unknown_function"] == 1, r

        # the master's application layer saw (and refused) responses that matched its requests
        failed = collections.Counter(res for _, res in app.results())
        assert failed[opendnp3.TaskCompletion.FAILURE_BAD_RESPONSE] > 0, failed

        # now a good responder; a class scan must complete
        before = len(app.results())
        peer = accept()
        try:
            master.ScanClasses(opendnp3.ClassField.AllClasses(), soe)
            end = time.monotonic() + 5.0
            done = False
            while time.monotonic() < end and not done:
                seen, _ = peer.read_until(lambda f: False, timeout=0.05)
                for f in seen:
                    if not (f.ok and f.user_data and f.dir):
                        continue
                    a = f.app()
                    if a.function == d.AppFunction.CONFIRM or a.seq is None:
                        continue
                    objs = d.binary_inputs([True, False, True]) + d.analog_inputs([5, -7]) if a.function == d.AppFunction.READ else b""
                    assert peer.send(d.response(MASTER_ADDR, OUTSTATION_ADDR, a.seq, objs))
                done = any(
                    t == opendnp3.MasterTaskType.USER_TASK and res == opendnp3.TaskCompletion.SUCCESS
                    for t, res in app.results()[before:]
                )
            assert done, app.results()[before:]
            assert soe.values >= 5
        finally:
            peer.close()
        table = _report(results)
        print(f"\nmaster: {n} frames in {elapsed:.2f} s, {len(requests)} requests seen, {reconnects} reconnects, tasks {dict((str(k), v) for k, v in failed.items())}")
        for kind in d.KINDS:
            print(f"  {kind:22s} {sum(1 for r in results if r.kind == kind):4d} frames  {dict(table[kind])}")
    finally:
        server.close()
        manager.Shutdown()
