"""The independent DNP3 peer (dnp3py, tests/field_devices/dnp3py_peer.py) works: against itself, and
against opendnp3 (our stack) in both directions -- its master reads an opendnp3 outstation and
operates CROBs its command handler sees; an opendnp3 master reads its outstation's points and events
and operates its CROBs. Everything on loopback TCP, on free ephemeral ports, with short timeouts."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator

import pytest

pytest.importorskip("dnp3", reason="dnp3py (the independent DNP3 peer) is not installed")
opendnp3 = pytest.importorskip("opendnp3", reason="yadnp3 (opendnp3 bindings) is not installed")

from tests.field_devices.dnp3py_peer import PeerMaster, PeerOutstation  # noqa: E402

OUTSTATION, MASTER = 10, 1


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError("condition not met in time")
        time.sleep(0.01)


@pytest.fixture
def manager() -> Iterator[object]:
    manager = opendnp3.DNP3Manager(1)
    try:
        yield manager
    finally:
        manager.Shutdown()


# --- opendnp3 callbacks -------------------------------------------------------------------------


class CommandHandler(opendnp3.ICommandHandler):
    """Accepts CROBs to indices 0-3, refuses the rest; records (stage, index, opType, tcc)."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[tuple[str, int, object, object]] = []

    def Begin(self) -> None:
        pass

    def End(self) -> None:
        pass

    def _status(self, index: int):
        return opendnp3.CommandStatus.SUCCESS if index < 4 else opendnp3.CommandStatus.NOT_SUPPORTED

    def Select(self, command, index):
        self.seen.append(("select", index, command.opType, command.tcc))
        return self._status(index)

    def Operate(self, command, index, handler, op_type):
        self.seen.append(("operate", index, command.opType, command.tcc))
        return self._status(index)


class OutstationApp(opendnp3.IOutstationApplication):
    pass


class SOE(opendnp3.ISOEHandler):
    """Collects (value, flags) by kind and index, and the group/variation they came in."""

    def __init__(self) -> None:
        super().__init__()
        self.lock = threading.Lock()
        self.points: dict[str, dict[int, tuple[object, int]]] = {}
        self.variations: set[str] = set()
        self.fragments = 0

    def BeginFragment(self, info) -> None:
        pass

    def EndFragment(self, info) -> None:
        with self.lock:
            self.fragments += 1

    def Process(self, info, values) -> None:
        with self.lock:
            self.variations.add(info.gv.name)
            for v in values:
                kind = type(v).__name__.removeprefix("Indexed").lower()
                self.points.setdefault(kind, {})[v.index] = (v.value.value, v.value.flags.value)


class MasterApp(opendnp3.IMasterApplication):
    def Now(self):
        return opendnp3.UTCTimestamp(int(time.time() * 1000))


def opendnp3_outstation(manager, port: int, handler: CommandHandler, app: OutstationApp):
    channel = manager.AddTCPServer("server", opendnp3.levels.NOTHING, opendnp3.ServerAcceptMode.CloseExisting,
                                   opendnp3.IPEndpoint("127.0.0.1", port), None)
    config = opendnp3.OutstationStackConfig(opendnp3.DatabaseConfig(5))
    config.link.LocalAddr, config.link.RemoteAddr = OUTSTATION, MASTER
    outstation = channel.AddOutstation("outstation", handler, app, config)
    outstation.Enable()
    return outstation


def opendnp3_master(manager, port: int, soe: SOE, app: MasterApp):
    channel = manager.AddTCPClient("client", opendnp3.levels.NOTHING, opendnp3.ChannelRetry.Default(),
                                   [opendnp3.IPEndpoint("127.0.0.1", port)], "0.0.0.0", None)
    config = opendnp3.MasterStackConfig()
    config.link.LocalAddr, config.link.RemoteAddr = MASTER, OUTSTATION
    master = channel.AddMaster("master", soe, app, config)
    master.Enable()
    return master


# --- dnp3py against dnp3py ----------------------------------------------------------------------


def test_peer_master_reads_and_operates_peer_outstation():
    with PeerOutstation(0, outstation_address=OUTSTATION, binaries=4, analogs=3, counters=2) as out:
        out.set_binary(1, True)
        out.set_binary(3, False, flags=0x05)  # ONLINE | COMM_LOST
        out.set_analog(2, 7.9)
        out.set_analog(0, -7.9)
        out.set_counter(1, 42)
        assert out.pending_events() == 5
        with PeerMaster("127.0.0.1", out.port, outstation_address=OUTSTATION) as master:
            points = master.integrity()
            assert points["binary"] == {0: (False, 1), 1: (True, 1), 2: (False, 1), 3: (False, 5)}
            # dnp3py sends g30v1/g32v1: analog values are truncated toward zero to integers
            assert points["analog"] == {0: (-7.0, 1), 1: (0.0, 1), 2: (7.0, 1)}
            assert points["counter"] == {0: (0, 1), 1: (42, 1)}
            assert out.pending_events() == 0  # the poll read (and removed) the events

            assert master.operate(2, "trip") == "success"
            assert master.operate(1, "close", select_before_operate=False) == "success"
            assert master.operate(3, "latch_on") == "success"
            assert master.operate(4, "latch_off") == "not_supported"  # beyond the binaries
            assert out.controls == [(2, "trip"), (1, "close"), (3, "latch_on")]
            assert out.selects == [(2, "trip"), (3, "latch_on")]
            out.accept_controls = False
            assert master.operate(0, "pulse_on") == "not_supported"
            assert len(out.controls) == 3


def test_peer_outstation_can_send_double_analogs():
    with PeerOutstation(0, outstation_address=OUTSTATION, binaries=1, analogs=2, double_analogs=True) as out:
        out.set_analog(1, 7199.123456789)
        with PeerMaster("127.0.0.1", out.port, outstation_address=OUTSTATION) as master:
            assert master.integrity()["analog"] == {0: (0.0, 1), 1: (7199.123456789, 1)}


def test_peer_master_times_out_on_a_silent_outstation():
    with PeerOutstation(0, outstation_address=OUTSTATION, binaries=1, analogs=1) as out:
        # the outstation ignores frames addressed to another outstation, so nothing ever answers
        with PeerMaster("127.0.0.1", out.port, outstation_address=OUTSTATION + 1, timeout=0.5) as master:
            started = time.monotonic()
            with pytest.raises(TimeoutError):
                master.integrity()
            assert time.monotonic() - started < 2.0


# --- dnp3py master against an opendnp3 outstation -----------------------------------------------


def test_peer_master_reads_an_opendnp3_outstation(manager):
    port = free_port()
    handler, app = CommandHandler(), OutstationApp()
    outstation = opendnp3_outstation(manager, port, handler, app)
    updates = opendnp3.UpdateBuilder()
    updates.Update(opendnp3.Binary(True, opendnp3.Flags(0x01)), 3)
    updates.Update(opendnp3.Analog(12.75, opendnp3.Flags(0x01)), 1)
    updates.Update(opendnp3.Counter(77, opendnp3.Flags(0x01)), 2)
    outstation.Apply(updates.Build())

    with PeerMaster("127.0.0.1", port, outstation_address=OUTSTATION) as master:
        points = master.integrity()
        assert points["binary"][3] == (True, 0x01)
        assert points["binary"][0] == (False, 0x02)  # never updated: RESTART, not ONLINE
        assert points["counter"][2] == (77, 0x01)
        # opendnp3's default static analog variation is g30v1 (32-bit integer), and yadnp3's
        # DatabaseConfig cannot change it (its per-point configs are not bound to Python)
        assert points["analog"][1] == (12.0, 0x01)
        # a READ of g30v6 gets the double
        assert master.read_range(30, 6, 0, 4)["analog"][1] == (12.75, 0x01)


def test_peer_master_operates_an_opendnp3_outstation(manager):
    port = free_port()
    handler, app = CommandHandler(), OutstationApp()
    opendnp3_outstation(manager, port, handler, app)
    op, tcc = opendnp3.OperationType, opendnp3.TripCloseCode

    with PeerMaster("127.0.0.1", port, outstation_address=OUTSTATION) as master:
        assert master.operate(2, "trip") == "success"
        assert master.operate(3, "latch_on", select_before_operate=False) == "success"
        assert master.operate(1, "close") == "success"
        assert master.operate(4, "latch_off") == "not_supported"  # the handler refuses the select
    assert handler.seen == [
        ("select", 2, op.PULSE_ON, tcc.TRIP), ("operate", 2, op.PULSE_ON, tcc.TRIP),
        ("operate", 3, op.LATCH_ON, tcc.NUL),
        ("select", 1, op.PULSE_ON, tcc.CLOSE), ("operate", 1, op.PULSE_ON, tcc.CLOSE),
        ("select", 4, op.LATCH_OFF, tcc.NUL),
    ]


# --- an opendnp3 master against the dnp3py outstation -------------------------------------------


@pytest.mark.parametrize("double_analogs", [False, True], ids=["g30v1", "g30v6"])
def test_opendnp3_master_reads_and_operates_a_peer_outstation(manager, double_analogs):
    with PeerOutstation(0, outstation_address=OUTSTATION, binaries=3, analogs=2,
                        double_analogs=double_analogs) as out:
        out.set_binary(2, True)
        out.set_analog(1, 7199.123456789)
        startup, app = SOE(), MasterApp()
        master = opendnp3_master(manager, out.port, startup, app)
        wait_until(lambda: startup.fragments > 0)  # opendnp3's startup integrity poll

        soe = SOE()
        master.ScanClasses(opendnp3.ClassField.AllClasses(), soe)
        wait_until(lambda: soe.fragments > 0)
        expected_analog = 7199.123456789 if double_analogs else 7199.0
        assert soe.points["binary"] == {0: (False, 0x01), 1: (False, 0x01), 2: (True, 0x81)}  # 0x80: state
        assert soe.points["analog"] == {0: (0.0, 0x01), 1: (expected_analog, 0x01)}
        assert ("Group30Var6" if double_analogs else "Group30Var1") in soe.variations

        out.set_analog(0, -3.25)  # an event, read by a class 1 scan
        events = SOE()
        master.ScanClasses(opendnp3.ClassField.AllEventClasses(), events)
        wait_until(lambda: events.fragments > 0)
        assert events.points == {"analog": {0: (-3.25 if double_analogs else -3.0, 0x01)}}
        assert events.variations == {"Group32Var8" if double_analogs else "Group32Var1"}

        results: list[object] = []
        crob = opendnp3.ControlRelayOutputBlock(opendnp3.OperationType.PULSE_ON, opendnp3.TripCloseCode.TRIP)
        master.SelectAndOperate(crob, 1, lambda result: results.append(
            [(p.index, p.status) for p in result.to_list()]))
        wait_until(lambda: results)
        assert results == [[(1, opendnp3.CommandStatus.SUCCESS)]]
        assert out.controls == [(1, "trip")]
