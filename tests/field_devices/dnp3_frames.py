"""A self-contained DNP3 (IEEE 1815) frame toolkit for fuzzing: builders of valid frames, a parser,
and a seeded mutator of bad frames, written from the standard's description of the three layers.

Data link layer (the FT3 frame format): ``05 64`` start octets, a LENGTH octet that counts
the control, destination, source and user-data octets (5..255, CRCs not counted), a CONTROL octet
(DIR 0x80, PRM 0x40, FCB 0x20 / reserved, FCV 0x10 / DFC, four bits of function code), destination
and source addresses as 16-bit little-endian integers and a 2-octet CRC over those eight header
octets; then the user data in blocks of 16 octets (the last block shorter), each followed by its
own CRC. The CRC is CRC-16/DNP: polynomial 0x3D65, processed reflected (0xA6BC), initial value
0, the final value complemented and sent low octet first.

Transport function: one header octet per link frame, FIN 0x80, FIR 0x40 and a 6-bit
sequence number.

Application layer: a control octet (FIR 0x80, FIN 0x40, CON 0x20, UNS 0x10, 4-bit
sequence), a function code and, in responses (0x81, 0x82, 0x83), two octets of internal
indications (IIN1, IIN2); then object headers: group, variation, qualifier (object prefix code in
bits 4..6, range specifier code in bits 0..3) and the range or count.

Nothing here imports opendnp3: this module only needs numpy for the mutator's Generator.

>>> hex(crc16(b"123456789"))  # the CRC-16/DNP check value
'0xea82'
>>> link_status_request(1, 1024).hex(" ")
'05 64 05 c9 01 00 00 04 a6 57'
>>> [f.function for f in parse_link_frames(read_class(10, 1, 0))]
[4]
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass, field
from typing import Iterable, Sequence

import numpy as np

# --------------------------------------------------------------------------------------------
# Constants from the standard
# --------------------------------------------------------------------------------------------

START = b"\x05\x64"
HEADER_SIZE = 10  # start(2) length(1) control(1) dest(2) src(2) crc(2)
BLOCK_SIZE = 16
MIN_LENGTH = 5  # control + dest + src
MAX_LENGTH = 255
MAX_USER_DATA = MAX_LENGTH - MIN_LENGTH  # 250 octets of user data in one link frame
MAX_FRAME_SIZE = HEADER_SIZE + MAX_USER_DATA + 2 * ((MAX_USER_DATA + BLOCK_SIZE - 1) // BLOCK_SIZE)  # 292
MAX_TPDU_PAYLOAD = MAX_USER_DATA - 1  # one octet of transport header

# link control bits
DIR = 0x80
PRM = 0x40
FCB = 0x20
FCV = 0x10  # primary frames; DFC in secondary frames


class LinkFunction:
    """Link-layer function codes (the control octet's low 4 bits)."""

    # primary-to-secondary (PRM = 1)
    RESET_LINK_STATES = 0
    TEST_LINK_STATES = 2
    CONFIRMED_USER_DATA = 3
    UNCONFIRMED_USER_DATA = 4
    REQUEST_LINK_STATUS = 9
    PRIMARY = (0, 2, 3, 4, 9)
    # secondary-to-primary (PRM = 0)
    ACK = 0
    NACK = 1
    LINK_STATUS = 11
    NOT_SUPPORTED = 15
    SECONDARY = (0, 1, 11, 15)


class AppFunction:
    """Application-layer function codes."""

    CONFIRM = 0x00
    READ = 0x01
    WRITE = 0x02
    SELECT = 0x03
    OPERATE = 0x04
    DIRECT_OPERATE = 0x05
    DIRECT_OPERATE_NR = 0x06
    COLD_RESTART = 0x0D
    WARM_RESTART = 0x0E
    ENABLE_UNSOLICITED = 0x14
    DISABLE_UNSOLICITED = 0x15
    DELAY_MEASURE = 0x17
    RESPONSE = 0x81
    UNSOLICITED_RESPONSE = 0x82
    AUTHENTICATE_RESPONSE = 0x83
    # requests are 0x00..0x21 in IEEE 1815-2012; 0x81..0x83 are responses; the rest is undefined
    DEFINED = frozenset(range(0x00, 0x22)) | {0x81, 0x82, 0x83}
    RESPONSES = frozenset({0x81, 0x82, 0x83})


# transport header bits
TH_FIN = 0x80
TH_FIR = 0x40

# application control bits
AC_FIR = 0x80
AC_FIN = 0x40
AC_CON = 0x20
AC_UNS = 0x10

# qualifiers used here
Q_START_STOP_1 = 0x00  # 1-octet start and stop indexes
Q_START_STOP_2 = 0x01  # 2-octet start and stop indexes
Q_ALL = 0x06  # no range: all objects
Q_COUNT_1 = 0x07  # 1-octet count, no prefix
Q_COUNT_2 = 0x08  # 2-octet count, no prefix
Q_INDEX_1_COUNT_1 = 0x17  # 1-octet count of objects each prefixed by a 1-octet index
Q_INDEX_2_COUNT_2 = 0x28  # 2-octet count of objects each prefixed by a 2-octet index

# CROB (group 12 variation 1) operation types (control code low 4 bits)
OP_NUL = 0
OP_PULSE_ON = 1
OP_PULSE_OFF = 2
OP_LATCH_ON = 3
OP_LATCH_OFF = 4
# trip-close code (control code bits 6..7)
TCC_NUL = 0x00
TCC_CLOSE = 0x40
TCC_TRIP = 0x80


# --------------------------------------------------------------------------------------------
# CRC
# --------------------------------------------------------------------------------------------


def _crc_table() -> tuple[int, ...]:
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA6BC if crc & 1 else crc >> 1
        table.append(crc)
    return tuple(table)


_CRC_TABLE = _crc_table()


def crc16(data: bytes) -> int:
    """CRC-16/DNP of ``data``: polynomial 0x3D65 reflected (0xA6BC), initial 0, complemented.

    >>> hex(crc16(bytes.fromhex("056405c901000004")))
    '0x57a6'
    """
    crc = 0
    for byte in data:
        crc = (crc >> 8) ^ _CRC_TABLE[(crc ^ byte) & 0xFF]
    return ~crc & 0xFFFF


def crc_bytes(data: bytes) -> bytes:
    """The two CRC octets as sent on the wire (low octet first)."""
    return struct.pack("<H", crc16(data))


# --------------------------------------------------------------------------------------------
# Link layer
# --------------------------------------------------------------------------------------------


def link_control(
    function: int, *, dir_: bool = True, prm: bool = True, fcb: bool = False, fcv: bool = False
) -> int:
    """The link CONTROL octet. ``dir_`` is set on frames from a master; ``prm`` on primary frames."""
    return (DIR if dir_ else 0) | (PRM if prm else 0) | (FCB if fcb else 0) | (FCV if fcv else 0) | (function & 0x0F)


def _blocks_with_crc(user_data: bytes) -> bytes:
    out = bytearray()
    for i in range(0, len(user_data), BLOCK_SIZE):
        block = user_data[i : i + BLOCK_SIZE]
        out += block
        out += crc_bytes(block)
    return bytes(out)


def link_header(dest: int, src: int, control: int, length: int) -> bytes:
    """The 10 header octets (with their CRC) for a stated LENGTH, true or not."""
    head = START + struct.pack("<BBHH", length & 0xFF, control & 0xFF, dest & 0xFFFF, src & 0xFFFF)
    return head + crc_bytes(head)


def link_frame(dest: int, src: int, control: int, user_data: bytes = b"") -> bytes:
    """A complete link frame: header, header CRC, then 16-octet data blocks each with its CRC."""
    if len(user_data) > MAX_USER_DATA:
        raise ValueError(f"user data of {len(user_data)} octets exceeds {MAX_USER_DATA}")
    return link_header(dest, src, control, MIN_LENGTH + len(user_data)) + _blocks_with_crc(user_data)


def link_status_request(dest: int, src: int) -> bytes:
    """REQUEST LINK STATUS (primary function 9) from a master."""
    return link_frame(dest, src, link_control(LinkFunction.REQUEST_LINK_STATUS))


def reset_link_states(dest: int, src: int) -> bytes:
    """RESET LINK STATES (primary function 0) from a master."""
    return link_frame(dest, src, link_control(LinkFunction.RESET_LINK_STATES))


def link_status(dest: int, src: int, *, from_master: bool = False) -> bytes:
    """LINK STATUS (secondary function 11), the answer to a REQUEST LINK STATUS."""
    return link_frame(dest, src, link_control(LinkFunction.LINK_STATUS, dir_=from_master, prm=False))


# --------------------------------------------------------------------------------------------
# Transport and application layers
# --------------------------------------------------------------------------------------------


def transport_header(seq: int, *, fir: bool = True, fin: bool = True) -> int:
    return (TH_FIN if fin else 0) | (TH_FIR if fir else 0) | (seq & 0x3F)


def app_control(seq: int, *, fir: bool = True, fin: bool = True, con: bool = False, uns: bool = False) -> int:
    return (AC_FIR if fir else 0) | (AC_FIN if fin else 0) | (AC_CON if con else 0) | (AC_UNS if uns else 0) | (seq & 0x0F)


def apdu_request(seq: int, function: int, objects: bytes = b"", *, con: bool = False, uns: bool = False) -> bytes:
    """A request APDU: application control, function code, object headers and objects."""
    return bytes((app_control(seq, con=con, uns=uns), function & 0xFF)) + objects


def apdu_response(
    seq: int,
    objects: bytes = b"",
    *,
    function: int = AppFunction.RESPONSE,
    iin: int = 0,
    fir: bool = True,
    fin: bool = True,
    con: bool = False,
    uns: bool = False,
) -> bytes:
    """A response APDU: control, function code, IIN1 then IIN2 (``iin`` = IIN1 | IIN2 << 8)."""
    return bytes((app_control(seq, fir=fir, fin=fin, con=con, uns=uns), function & 0xFF, iin & 0xFF, (iin >> 8) & 0xFF)) + objects


def tpdu_frames(
    dest: int,
    src: int,
    apdu: bytes,
    *,
    control: int,
    transport_seq: int = 0,
    segment: int = MAX_TPDU_PAYLOAD,
) -> list[bytes]:
    """Split an APDU into transport segments, one link frame each (FIR on the first, FIN on the last)."""
    if not 1 <= segment <= MAX_TPDU_PAYLOAD:
        raise ValueError("segment size must be 1..249")
    chunks = [apdu[i : i + segment] for i in range(0, len(apdu), segment)] or [b""]
    frames = []
    for n, chunk in enumerate(chunks):
        th = transport_header(transport_seq + n, fir=n == 0, fin=n == len(chunks) - 1)
        frames.append(link_frame(dest, src, control, bytes((th,)) + chunk))
    return frames


def _user_data_control(from_master: bool, confirmed: bool, fcb: bool) -> int:
    if confirmed:
        return link_control(LinkFunction.CONFIRMED_USER_DATA, dir_=from_master, fcb=fcb, fcv=True)
    return link_control(LinkFunction.UNCONFIRMED_USER_DATA, dir_=from_master)


def request(
    dest: int,
    src: int,
    seq: int,
    function: int,
    objects: bytes = b"",
    *,
    confirmed: bool = False,
    fcb: bool = False,
    transport_seq: int | None = None,
) -> bytes:
    """One link frame carrying a single-segment request APDU from a master.

    ``confirmed`` selects link function CONFIRMED USER DATA (3, FCV set, FCB as given; a secondary
    only accepts it after RESET LINK STATES) instead of UNCONFIRMED USER DATA (4, what DNP3 over
    TCP uses in practice). The transport sequence defaults to the application sequence.
    """
    apdu = apdu_request(seq, function, objects)
    if len(apdu) > MAX_TPDU_PAYLOAD:
        raise ValueError("request does not fit one link frame; use tpdu_frames")
    th = transport_header(seq if transport_seq is None else transport_seq)
    return link_frame(dest, src, _user_data_control(True, confirmed, fcb), bytes((th,)) + apdu)


def class_objects(classes: Iterable[int] = (0, 1, 2, 3)) -> bytes:
    """Object headers g60v1..g60v4 (class 0 data, class 1..3 events), qualifier 0x06 (all).

    The standard's order for an integrity poll is the event classes first, then class 0; the
    order of ``classes`` is kept.
    """
    out = bytearray()
    for c in classes:
        if c not in (0, 1, 2, 3):
            raise ValueError(f"class {c} is not 0..3")
        out += bytes((60, c + 1, Q_ALL))
    return bytes(out)


def read_class(
    dest: int,
    src: int,
    seq: int,
    classes: Sequence[int] = (0, 1, 2, 3),
    *,
    confirmed: bool = False,
    fcb: bool = False,
) -> bytes:
    """A READ of g60v1..v4 (class data) from a master, in one link frame."""
    return request(dest, src, seq, AppFunction.READ, class_objects(classes), confirmed=confirmed, fcb=fcb)


def crob(
    op_type: int = OP_LATCH_ON,
    *,
    tcc: int = TCC_NUL,
    queue: bool = False,
    clear: bool = False,
    count: int = 1,
    on_time_ms: int = 100,
    off_time_ms: int = 100,
    status: int = 0,
) -> bytes:
    """The 11 octets of a control relay output block, g12v1."""
    code = (tcc & 0xC0) | (0x20 if clear else 0) | (0x10 if queue else 0) | (op_type & 0x0F)
    return struct.pack("<BBIIB", code, count & 0xFF, on_time_ms & 0xFFFFFFFF, off_time_ms & 0xFFFFFFFF, status & 0xFF)


def crob_objects(index: int, block: bytes | None = None) -> bytes:
    """Object header g12v1, qualifier 0x28 (2-octet count, 2-octet index prefix), one CROB."""
    block = crob() if block is None else block
    return bytes((12, 1, Q_INDEX_2_COUNT_2)) + struct.pack("<HH", 1, index & 0xFFFF) + block


def _crob_request(function: int, dest: int, src: int, seq: int, index: int, op_type: int, kw: dict) -> bytes:
    confirmed = kw.pop("confirmed", False)
    fcb = kw.pop("fcb", False)
    return request(dest, src, seq, function, crob_objects(index, crob(op_type, **kw)), confirmed=confirmed, fcb=fcb)


def select_crob(dest: int, src: int, seq: int, index: int = 0, op_type: int = OP_LATCH_ON, **kw) -> bytes:
    """SELECT (0x03) of one CROB; keywords go to :func:`crob` (plus ``confirmed``, ``fcb``)."""
    return _crob_request(AppFunction.SELECT, dest, src, seq, index, op_type, kw)


def operate_crob(dest: int, src: int, seq: int, index: int = 0, op_type: int = OP_LATCH_ON, **kw) -> bytes:
    """OPERATE (0x04) of one CROB; must repeat the SELECT's objects exactly, with the next sequence."""
    return _crob_request(AppFunction.OPERATE, dest, src, seq, index, op_type, kw)


def direct_operate_crob(dest: int, src: int, seq: int, index: int = 0, op_type: int = OP_LATCH_ON, **kw) -> bytes:
    """DIRECT OPERATE (0x05) of one CROB."""
    return _crob_request(AppFunction.DIRECT_OPERATE, dest, src, seq, index, op_type, kw)


def response(
    dest: int,
    src: int,
    seq: int,
    objects: bytes = b"",
    unsolicited: bool = False,
    *,
    iin: int = 0,
    con: bool | None = None,
    transport_seq: int | None = None,
) -> bytes:
    """A single-fragment RESPONSE (0x81), or UNSOLICITED RESPONSE (0x82, UNS and CON set), from an
    outstation, in one link frame (DIR = 0, UNCONFIRMED USER DATA)."""
    function = AppFunction.UNSOLICITED_RESPONSE if unsolicited else AppFunction.RESPONSE
    con = unsolicited if con is None else con
    apdu = apdu_response(seq, objects, function=function, iin=iin, con=con, uns=unsolicited)
    if len(apdu) > MAX_TPDU_PAYLOAD:
        raise ValueError("response does not fit one link frame; use tpdu_frames")
    th = transport_header(seq if transport_seq is None else transport_seq)
    return link_frame(dest, src, _user_data_control(False, False, False), bytes((th,)) + apdu)


def confirm(dest: int, src: int, seq: int, unsolicited: bool = False) -> bytes:
    """An application CONFIRM (0x00) from a master, for a response that asked for one."""
    apdu = bytes((app_control(seq, uns=unsolicited), AppFunction.CONFIRM))
    return link_frame(dest, src, _user_data_control(True, False, False), bytes((transport_header(seq),)) + apdu)


def binary_inputs(values: Sequence[bool], start: int = 0) -> bytes:
    """g1v2 (binary input with flags) with a 1-octet start-stop range; ONLINE (0x01) plus STATE (0x80)."""
    if not values:
        return b""
    stop = start + len(values) - 1
    flags = bytes(0x81 if v else 0x01 for v in values)
    return bytes((1, 2, Q_START_STOP_1, start & 0xFF, stop & 0xFF)) + flags


def analog_inputs(values: Sequence[int], start: int = 0) -> bytes:
    """g30v1 (32-bit analog input with flag, ONLINE) with a 1-octet start-stop range."""
    if not values:
        return b""
    stop = start + len(values) - 1
    body = b"".join(struct.pack("<Bi", 0x01, int(v)) for v in values)
    return bytes((30, 1, Q_START_STOP_1, start & 0xFF, stop & 0xFF)) + body


# --------------------------------------------------------------------------------------------
# Parser
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LinkFrame:
    """One link frame found in a byte stream.

    ``header_crc_ok`` False: the 10 octets at ``offset`` started with 05 64 but their CRC failed,
    so ``length`` and everything after it are not to be trusted (``user_data`` is empty and the
    parser moved on by one octet). ``data_crc_ok`` is False when any data block's CRC failed;
    ``bad_blocks`` lists those blocks' numbers.
    """

    offset: int
    length: int
    control: int
    dest: int
    src: int
    user_data: bytes
    header_crc_ok: bool
    data_crc_ok: bool
    raw: bytes
    bad_blocks: tuple[int, ...] = ()

    @property
    def ok(self) -> bool:
        return self.header_crc_ok and self.data_crc_ok and self.length >= MIN_LENGTH

    @property
    def dir(self) -> bool:
        return bool(self.control & DIR)

    @property
    def prm(self) -> bool:
        return bool(self.control & PRM)

    @property
    def fcb(self) -> bool:
        return bool(self.control & FCB)

    @property
    def fcv(self) -> bool:
        """FCV on a primary frame, DFC on a secondary one."""
        return bool(self.control & FCV)

    @property
    def function(self) -> int:
        return self.control & 0x0F

    def app(self) -> "Fragment":
        """The transport header and APDU of this frame's user data (see :func:`parse_user_data`)."""
        return parse_user_data(self.user_data)


def frame_size(length: int) -> int:
    """Octets on the wire of a frame whose LENGTH octet is ``length`` (>= 5)."""
    n = length - MIN_LENGTH
    return HEADER_SIZE + n + 2 * ((n + BLOCK_SIZE - 1) // BLOCK_SIZE)


def split_link_frames(data: bytes) -> tuple[list[LinkFrame], bytes]:
    """Frames found in ``data`` and the unconsumed tail (a frame not yet complete, for streams).

    Octets before a 05 64 are skipped. A header whose CRC fails gives a frame with
    ``header_crc_ok`` False and the search resumes one octet later; so does a header with a valid
    CRC and a LENGTH below 5.
    """
    frames: list[LinkFrame] = []
    i = 0
    n = len(data)
    while True:
        j = data.find(START, i)
        if j < 0:
            # keep a trailing 0x05 which may be the start of the next frame
            tail = data[-1:] if n and data[-1] == START[0] and n - 1 >= i else b""
            return frames, tail
        if n - j < HEADER_SIZE:
            return frames, data[j:]
        head = data[j : j + HEADER_SIZE]
        length, control, dest, src = struct.unpack_from("<BBHH", head, 2)
        header_ok = crc_bytes(head[:8]) == head[8:10]
        if not header_ok or length < MIN_LENGTH:
            frames.append(LinkFrame(j, length, control, dest, src, b"", header_ok, False, bytes(head)))
            i = j + 1
            continue
        size = frame_size(length)
        if n - j < size:
            return frames, data[j:]
        user = bytearray()
        bad: list[int] = []
        pos = j + HEADER_SIZE
        remaining = length - MIN_LENGTH
        block_no = 0
        while remaining > 0:
            k = min(BLOCK_SIZE, remaining)
            block = data[pos : pos + k]
            if crc_bytes(block) != data[pos + k : pos + k + 2]:
                bad.append(block_no)
            user += block
            pos += k + 2
            remaining -= k
            block_no += 1
        frames.append(
            LinkFrame(j, length, control, dest, src, bytes(user), True, not bad, bytes(data[j : j + size]), tuple(bad))
        )
        i = j + size


def parse_link_frames(data: bytes) -> list[LinkFrame]:
    """Every link frame in ``data`` (see :func:`split_link_frames`; an incomplete tail is dropped)."""
    return split_link_frames(data)[0]


class FrameReader:
    """Incremental parser for a TCP stream: ``feed`` octets, get the frames completed so far."""

    def __init__(self) -> None:
        self._buf = b""

    def feed(self, data: bytes) -> list[LinkFrame]:
        frames, self._buf = split_link_frames(self._buf + data)
        return frames

    @property
    def pending(self) -> bytes:
        return self._buf


@dataclass(frozen=True)
class Fragment:
    """The transport header and application fields of one link frame's user data."""

    transport: int
    control: int | None
    function: int | None
    iin: int | None  # IIN1 | IIN2 << 8, responses only
    objects: bytes = b""
    truncated: bool = False

    @property
    def fin(self) -> bool:
        return bool(self.transport & TH_FIN)

    @property
    def fir(self) -> bool:
        return bool(self.transport & TH_FIR)

    @property
    def transport_seq(self) -> int:
        return self.transport & 0x3F

    @property
    def seq(self) -> int | None:
        return None if self.control is None else self.control & 0x0F

    @property
    def con(self) -> bool:
        return bool(self.control and self.control & AC_CON)

    @property
    def uns(self) -> bool:
        return bool(self.control and self.control & AC_UNS)

    @property
    def is_response(self) -> bool:
        return self.function in AppFunction.RESPONSES


def parse_user_data(user_data: bytes) -> Fragment:
    """Split one frame's user data into transport header, application control, function, IIN and
    the rest. Only meaningful for a single-segment fragment (FIR and FIN set)."""
    if not user_data:
        raise ValueError("no user data")
    th = user_data[0]
    apdu = user_data[1:]
    if len(apdu) < 2:
        return Fragment(th, apdu[0] if apdu else None, None, None, b"", True)
    control, function = apdu[0], apdu[1]
    if function in AppFunction.RESPONSES:
        if len(apdu) < 4:
            return Fragment(th, control, function, None, b"", True)
        return Fragment(th, control, function, apdu[2] | apdu[3] << 8, bytes(apdu[4:]))
    return Fragment(th, control, function, None, bytes(apdu[2:]))


def reassemble(frames: Iterable[LinkFrame]) -> list[bytes]:
    """APDUs rebuilt from the transport segments of good user-data frames, in order.

    A segment with FIR starts a fragment (dropping one left unfinished); a segment without FIR
    must carry the next sequence number (mod 64) or the fragment is dropped; FIN completes it.
    Frames with a bad CRC or no user data are skipped.
    """
    apdus: list[bytes] = []
    buf: bytearray | None = None
    next_seq = 0
    for f in frames:
        if not f.ok or not f.user_data:
            continue
        th, payload = f.user_data[0], f.user_data[1:]
        if th & TH_FIR:
            buf = bytearray(payload)
        elif buf is not None and (th & 0x3F) == next_seq:
            buf += payload
        else:
            buf = None
            continue
        next_seq = ((th & 0x3F) + 1) & 0x3F
        if th & TH_FIN:
            apdus.append(bytes(buf))
            buf = None
    return apdus


@dataclass(frozen=True)
class Apdu:
    """A whole application fragment (after transport reassembly)."""

    control: int
    function: int
    iin: int | None
    objects: bytes

    @property
    def seq(self) -> int:
        return self.control & 0x0F

    @property
    def fir(self) -> bool:
        return bool(self.control & AC_FIR)

    @property
    def fin(self) -> bool:
        return bool(self.control & AC_FIN)

    @property
    def con(self) -> bool:
        return bool(self.control & AC_CON)

    @property
    def uns(self) -> bool:
        return bool(self.control & AC_UNS)


def parse_apdu(apdu: bytes) -> Apdu:
    """Control, function, IIN (responses only: IIN1 | IIN2 << 8) and the object octets."""
    if len(apdu) < 2:
        raise ValueError("an APDU has at least a control octet and a function code")
    function = apdu[1]
    if function in AppFunction.RESPONSES:
        if len(apdu) < 4:
            raise ValueError("a response has two IIN octets")
        return Apdu(apdu[0], function, apdu[2] | apdu[3] << 8, bytes(apdu[4:]))
    return Apdu(apdu[0], function, None, bytes(apdu[2:]))


# IIN bits (IIN1 in the low octet, IIN2 in the high one)
IIN_BROADCAST = 0x0001
IIN_CLASS1_EVENTS = 0x0002
IIN_CLASS2_EVENTS = 0x0004
IIN_CLASS3_EVENTS = 0x0008
IIN_NEED_TIME = 0x0010
IIN_LOCAL_CONTROL = 0x0020
IIN_DEVICE_TROUBLE = 0x0040
IIN_DEVICE_RESTART = 0x0080
IIN_NO_FUNC_CODE_SUPPORT = 0x0100
IIN_OBJECT_UNKNOWN = 0x0200
IIN_PARAMETER_ERROR = 0x0400
IIN_EVENT_BUFFER_OVERFLOW = 0x0800
IIN_ALREADY_EXECUTING = 0x1000
IIN_CONFIG_CORRUPT = 0x2000
IIN_REQUEST_ERRORS = IIN_NO_FUNC_CODE_SUPPORT | IIN_OBJECT_UNKNOWN | IIN_PARAMETER_ERROR


# --------------------------------------------------------------------------------------------
# What opendnp3 logs when it drops or refuses a frame
# --------------------------------------------------------------------------------------------
#
# Not from the standard: the messages yadnp3 3.2.1.4 (opendnp3 3.x) passes to ILogHandler.log
# (module, id, level, location, message), observed by sending this module's bad frames to an
# outstation and to a master. ``id`` is the channel's id for link-layer messages and the stack's
# (outstation or master) id for transport and application ones; ``level`` is one of the flag
# values (EVENT 1, ERR 2, WARN 4, INFO 8, DBG 16, LINK_RX 32, ..., APP_HEADER_RX 2048, ...).
# Every frame the link layer rejects is also followed by "Skipped N bytes seaching for start
# bytes" (sic) as the parser hunts for the next 05 64; those messages come per read, so their N
# add up to the octets discarded, not to a count of frames.

OPENDNP3_DROPS: tuple[tuple[str, str], ...] = (
    # link layer (channel id), one per rejected frame
    ("link_header_crc", r"CRC failure in header"),  # WARN
    ("link_body_crc", r"CRC failure in body"),  # ERR
    ("link_length", r"LENGTH out of range \[5,255\]: \d+"),  # ERR, LENGTH < 5
    ("link_length", r"Unexpected LENGTH in frame: \d+ with FUNCTION: \S+"),  # ERR, length vs function
    ("link_length", r"User data with no payload\. FUNCTION: \S+"),  # ERR, user data of length 0
    ("link_unknown_function", r"Unknown (?:PriToSec|SecToPri) FUNCTION: \S+"),  # WARN / ERR
    ("link_unknown_route", r"Frame w/ unknown route, source: \d+, dest \d+"),  # WARN, wrong addresses
    ("link_wrong_direction", r"(?:Outstation|Master) frame received for (?:outstation|master)"),  # WARN, DIR bit
    ("link_not_reset", r"ConfirmedUserData ignored: secondary not reset"),  # WARN, function 3 before reset
    ("link_flooding", r"Ignoring link frame, remote is flooding"),  # WARN
    # transport (stack id)
    ("transport_overflow", r"Exceeded the buffer size before a complete fragment was read"),  # WARN
    ("transport_sequence", r"non-FIR packet with \d+ prior bytes"),  # WARN, follows an overflow too
    # application (stack id)
    ("app_unknown_function", r"Ignoring unsupported function code: \S+"),  # WARN, master
    ("app_unknown_function", r"FIR: \d FIN: \d CON: \d UNS: \d SEQ: \d+ FUNC: UNKNOWN"),  # APP_HEADER_RX, outstation
    ("app_object", r"Unknown object \d+ / \d+"),
    ("app_object", r"Unknown qualifier \S+"),  # the qualifier in hex, no 0x
    ("app_object", r"Header \(\d+\) w/ Object \(\d+,\d+\) and qualifier \(\d+\) failed whitelist"),
    ("app_object", r"Not enough data for .+"),  # header, start / stop, specified objects, ... indices
    ("app_object", r"start \(\d+\) > stop \(\d+\)"),
    ("app_object", r"Unsupported qualifier/object - .+ - \d+ / \d+"),  # master, e.g. g12v1 q28 in a response
    ("app_object", r"Received unexpected response object headers for task: .+"),  # master
    ("app_unexpected", r"Not expecting a response, sequence: \d+"),  # master
    ("app_unexpected", r"Response with bad sequence: \d+"),  # master
    ("app_unexpected", r"unexpected confirm while IDLE with sequence: \d+"),  # outstation
)
_DROP_RES = tuple((cat, re.compile(pat + r"\Z")) for cat, pat in OPENDNP3_DROPS)
_SKIPPED_RE = re.compile(r"Skipped (\d+) bytes seaching for start bytes\Z")


def classify_opendnp3_log(message: str) -> str | None:
    """The drop category of an opendnp3 log message (see ``OPENDNP3_DROPS``), or None."""
    for cat, rx in _DROP_RES:
        if rx.match(message):
            return cat
    return None


def skipped_octets(message: str) -> int:
    """N of a "Skipped N bytes seaching for start bytes" message, else 0."""
    m = _SKIPPED_RE.match(message)
    return int(m.group(1)) if m else 0


# --------------------------------------------------------------------------------------------
# Mutator
# --------------------------------------------------------------------------------------------

KINDS: tuple[str, ...] = (
    "random_bytes",
    "truncated",
    "bad_header_crc",
    "bad_data_crc",
    "length_lie",
    "unknown_link_function",
    "unknown_app_function",
    "bad_object_header",
    "oversized",
    "bit_flip",
)

# link function codes that IEEE 1815 leaves undefined, per direction
_UNDEFINED_PRIMARY = tuple(f for f in range(16) if f not in LinkFunction.PRIMARY)
_UNDEFINED_SECONDARY = tuple(f for f in range(16) if f not in LinkFunction.SECONDARY)
_UNDEFINED_APP = tuple(f for f in range(256) if f not in AppFunction.DEFINED)


@dataclass
class Mutator:
    """Seeded maker of bad frames from a valid one. All randomness comes from ``rng``.

    ``mutated(frame)`` picks a kind (uniformly, or by ``weights``) and returns ``(kind, bad)``;
    ``mutate(frame, kind)`` makes one of a given kind. ``frame`` must be one valid link frame (as
    the builders above make); kinds that need user data or an APDU build a READ with the frame's
    addresses and direction when the frame has none.

    The kinds and what each produces:

    - ``random_bytes``: 1..300 random octets, half the time starting with 05 64;
    - ``truncated``: the frame cut short anywhere after its first octet (the stack waits for more);
    - ``bad_header_crc``: the header CRC changed (a nonzero XOR);
    - ``bad_data_crc``: one data block's CRC changed;
    - ``length_lie``: the LENGTH octet changed (header CRC recomputed, so the header passes): below
      5, shorter or longer than the real user data;
    - ``unknown_link_function``: a control octet whose function code the standard leaves undefined
      for that PRM (CRCs valid);
    - ``unknown_app_function``: the APDU's function code undefined (CRCs valid);
    - ``bad_object_header``: a request or response whose object headers are wrong (unknown group or
      variation, reserved qualifier, start > stop, counts and ranges past the end, a header cut
      in the middle) with valid CRCs;
    - ``oversized``: a fragment of 2049..4096 octets (opendnp3's default maximum is 2048) in valid
      full-size transport segments, all CRCs valid, with or without FIN on the last one;
    - ``bit_flip``: 1..8 random bits of the frame flipped (CRCs left as they were).
    """

    rng: np.random.Generator
    kinds: tuple[str, ...] = KINDS
    weights: Sequence[float] | None = None
    last_detail: str = field(default="", init=False)

    def __post_init__(self) -> None:
        unknown = set(self.kinds) - set(KINDS)
        if unknown:
            raise ValueError(f"unknown kinds: {sorted(unknown)}")
        if self.weights is not None:
            w = np.asarray(self.weights, dtype=float)
            if w.shape != (len(self.kinds),) or (w < 0).any() or w.sum() <= 0:
                raise ValueError("weights must be one non-negative number per kind")
            self._p = w / w.sum()
        else:
            self._p = None

    # ---- helpers ----

    def _int(self, lo: int, hi: int) -> int:
        """A random integer in [lo, hi]."""
        return int(self.rng.integers(lo, hi + 1))

    def _choice(self, seq: Sequence):
        return seq[int(self.rng.integers(0, len(seq)))]

    def _bytes(self, n: int) -> bytes:
        return self.rng.integers(0, 256, size=n, dtype=np.uint8).tobytes()

    @staticmethod
    def _parse_one(frame: bytes) -> LinkFrame:
        frames = parse_link_frames(frame)
        if len(frames) != 1 or not frames[0].ok:
            raise ValueError("mutate needs one valid link frame")
        return frames[0]

    def _with_user_data(self, lf: LinkFrame) -> LinkFrame:
        """The frame itself when it carries user data, else a READ with its addresses."""
        if lf.user_data and lf.function in (LinkFunction.CONFIRMED_USER_DATA, LinkFunction.UNCONFIRMED_USER_DATA):
            return lf
        seq = self._int(0, 15)
        if lf.dir:
            built = read_class(lf.dest, lf.src, seq)
        else:
            built = response(lf.dest, lf.src, seq, binary_inputs([True, False]))
        return self._parse_one(built)

    @staticmethod
    def _rebuild(lf: LinkFrame, user_data: bytes, control: int | None = None) -> bytes:
        return link_frame(lf.dest, lf.src, lf.control if control is None else control, user_data)

    # ---- public ----

    def mutated(self, frame: bytes) -> tuple[str, bytes]:
        """A bad frame of a randomly chosen kind: ``(kind, octets)``."""
        i = int(self.rng.choice(len(self.kinds), p=self._p)) if self._p is not None else int(self.rng.integers(0, len(self.kinds)))
        kind = self.kinds[i]
        return kind, self.mutate(frame, kind)

    def mutate(self, frame: bytes, kind: str) -> bytes:
        """A bad frame of ``kind`` made from ``frame``."""
        if kind not in KINDS:
            raise ValueError(f"unknown kind {kind!r}")
        self.last_detail = ""
        return getattr(self, "_" + kind)(frame)

    # ---- kinds ----

    def _random_bytes(self, frame: bytes) -> bytes:
        n = self._int(1, 300)
        body = self._bytes(n)
        if self.rng.random() < 0.5:
            self.last_detail = "sync"
            return START + body
        self.last_detail = "noise"
        return body

    def _truncated(self, frame: bytes) -> bytes:
        self._parse_one(frame)
        cut = self._int(1, len(frame) - 1)
        self.last_detail = f"cut@{cut}/{len(frame)}"
        return frame[:cut]

    def _bad_header_crc(self, frame: bytes) -> bytes:
        self._parse_one(frame)
        x = self._int(1, 0xFFFF)
        bad = bytearray(frame)
        bad[8] ^= x & 0xFF
        bad[9] ^= x >> 8
        return bytes(bad)

    def _bad_data_crc(self, frame: bytes) -> bytes:
        lf = self._with_user_data(self._parse_one(frame))
        raw = bytearray(lf.raw)
        nblocks = (len(lf.user_data) + BLOCK_SIZE - 1) // BLOCK_SIZE
        b = self._int(0, nblocks - 1)
        # position of block b's CRC
        pos = HEADER_SIZE + b * (BLOCK_SIZE + 2) + min(BLOCK_SIZE, len(lf.user_data) - b * BLOCK_SIZE)
        x = self._int(1, 0xFFFF)
        raw[pos] ^= x & 0xFF
        raw[pos + 1] ^= x >> 8
        self.last_detail = f"block{b}"
        return bytes(raw)

    def _length_lie(self, frame: bytes) -> bytes:
        lf = self._parse_one(frame)
        real = lf.length
        choice = self._int(0, 2)
        if choice == 0:
            lie = self._int(0, MIN_LENGTH - 1)
            self.last_detail = "below5"
        elif choice == 1 and real > MIN_LENGTH:
            lie = self._int(MIN_LENGTH, real - 1)
            self.last_detail = "shorter"
        else:
            lie = self._int(real + 1, MAX_LENGTH) if real < MAX_LENGTH else MIN_LENGTH
            self.last_detail = "longer"
        return link_header(lf.dest, lf.src, lf.control, lie) + lf.raw[HEADER_SIZE:]

    def _unknown_link_function(self, frame: bytes) -> bytes:
        lf = self._parse_one(frame)
        prm = lf.prm if self.rng.random() < 0.75 else not lf.prm
        func = self._choice(_UNDEFINED_PRIMARY if prm else _UNDEFINED_SECONDARY)
        control = (lf.control & (DIR | FCB | FCV)) | (PRM if prm else 0) | func
        self.last_detail = f"{'pri' if prm else 'sec'}:{func}"
        return self._rebuild(lf, lf.user_data, control)

    def _unknown_app_function(self, frame: bytes) -> bytes:
        lf = self._with_user_data(self._parse_one(frame))
        ud = bytearray(lf.user_data)
        if len(ud) < 3:
            ud += bytes(3 - len(ud))
        func = self._choice(_UNDEFINED_APP)
        ud[2] = func
        self.last_detail = f"fc=0x{func:02x}"
        return self._rebuild(lf, bytes(ud))

    def _bad_object_header(self, frame: bytes) -> bytes:
        lf = self._with_user_data(self._parse_one(frame))
        frag = parse_user_data(lf.user_data)
        is_resp = frag.is_response
        head_len = 5 if is_resp else 3  # transport + control + function (+ IIN)
        prefix = bytes(lf.user_data[:head_len])
        variants = (
            "unknown_group",
            "unknown_variation",
            "reserved_qualifier",
            "start_after_stop",
            "range_overflow",
            "count_overflow",
            "cut_header",
            "random_header",
        )
        v = self._choice(variants)
        if v == "unknown_group":
            group = self._choice((5, 6, 7, 8, 14, 15, 19, 27, 28, 29, 36, 37, 38, 39, 47, 48, 49, 59, 64, 67, 71, 79, 84, 89, 94, 99, 119, 130, 199, 255))
            objs = bytes((group, self._int(0, 255), Q_ALL))
        elif v == "unknown_variation":
            group, variation = self._choice(((60, 5), (60, 0xFF), (1, 99), (12, 9), (30, 77), (50, 200), (2, 0x7F), (20, 0xEE)))
            objs = bytes((group, variation, Q_START_STOP_1, 0, self._int(0, 255)))
        elif v == "reserved_qualifier":
            q = self._choice((0x0A, 0x0C, 0x0D, 0x0E, 0x0F, 0x80, 0x86, 0x70, 0x7F, 0x5B, 0xFF))
            objs = bytes((1, 2, q)) + self._bytes(self._int(0, 8))
        elif v == "start_after_stop":
            if self.rng.random() < 0.5:
                objs = bytes((1, 2, Q_START_STOP_1, self._int(1, 255), 0))
            else:
                objs = bytes((30, 1, Q_START_STOP_2)) + struct.pack("<HH", self._int(1, 0xFFFF), 0)
        elif v == "range_overflow":
            # a range that claims far more objects than octets follow, or indexes near the top
            q = self._choice((Q_START_STOP_1, Q_START_STOP_2, 0x02))
            if q == Q_START_STOP_1:
                objs = bytes((1, 2, q, 0, 0xFF))
            elif q == Q_START_STOP_2:
                objs = bytes((30, 1, q)) + struct.pack("<HH", 0, 0xFFFF)
            else:
                objs = bytes((20, 1, q)) + struct.pack("<II", 0, 0xFFFFFFFF)
            objs += self._bytes(self._int(0, 4))
        elif v == "count_overflow":
            q = self._choice((Q_COUNT_1, Q_COUNT_2, Q_INDEX_1_COUNT_1, Q_INDEX_2_COUNT_2, 0x09, 0x39))
            if q in (Q_COUNT_1, Q_INDEX_1_COUNT_1):
                cnt = struct.pack("<B", self._int(2, 255))
            elif q in (Q_COUNT_2, Q_INDEX_2_COUNT_2):
                cnt = struct.pack("<H", self._int(2, 0xFFFF))
            else:
                cnt = struct.pack("<I", self._int(2, 0xFFFFFFFF))
            objs = bytes((12, 1, q)) + cnt + self._bytes(self._int(0, 12))
        elif v == "cut_header":
            full = bytes((30, 1, Q_START_STOP_2)) + struct.pack("<HH", 0, 3)
            objs = full[: self._int(1, len(full) - 1)]
        else:
            # an undefined group, then random octets for variation, qualifier and range
            group = self._choice((5, 7, 19, 27, 38, 47, 59, 64, 79, 99, 130, 255))
            objs = bytes((group,)) + self._bytes(self._int(1, 24))
        self.last_detail = v
        ud = prefix + objs
        if len(ud) > MAX_USER_DATA:
            ud = ud[:MAX_USER_DATA]
        return self._rebuild(lf, ud)

    def _oversized(self, frame: bytes) -> bytes:
        lf = self._with_user_data(self._parse_one(frame))
        if self.rng.random() < 0.6:
            # a fragment over 2048 octets in valid transport segments (FIR first, FIN last)
            apdu_len = self._int(2049, 4096)
            apdu = bytes(lf.user_data[1:3]) + self._bytes(apdu_len - 2)
            tseq = lf.user_data[0] & 0x3F
            frames = tpdu_frames(lf.dest, lf.src, apdu, control=lf.control, transport_seq=tseq)
            self.last_detail = f"fragment{apdu_len}"
            return b"".join(frames)
        # the same, but the fragment never ends: non-FIN segments until past the maximum
        apdu_len = self._int(2049, 4096)
        apdu = bytes(lf.user_data[1:3]) + self._bytes(apdu_len - 2)
        tseq = lf.user_data[0] & 0x3F
        frames = tpdu_frames(lf.dest, lf.src, apdu, control=lf.control, transport_seq=tseq)
        last = parse_link_frames(frames[-1])[0]
        frames[-1] = self._rebuild(last, bytes((last.user_data[0] & ~TH_FIN & 0xFF,)) + last.user_data[1:])
        self.last_detail = f"no_fin{apdu_len}"
        return b"".join(frames)

    def _bit_flip(self, frame: bytes) -> bytes:
        self._parse_one(frame)
        bad = bytearray(frame)
        nbits = self._int(1, 8)
        positions = self.rng.choice(len(bad) * 8, size=min(nbits, len(bad) * 8), replace=False)
        for p in positions:
            bad[int(p) // 8] ^= 1 << (int(p) % 8)
        self.last_detail = f"{len(positions)}bits"
        return bytes(bad)
