"""The instructor station's map data, as it travels over the channel: the model's geometry once
(bus coordinates, line and switch ends, ids) and, when they change, which buses have power in the
world and which the IDMS believes have (bool arrays, 8 a byte, base64).

>>> unpack_bits(pack_bits(np.array([True, False, True])), 3).tolist()
[True, False, True]
"""

from __future__ import annotations

import base64
from dataclasses import dataclass

import numpy as np

__all__ = ["Geometry", "encode_geometry", "decode_geometry", "pack_bits", "unpack_bits"]


def pack_bits(flags: np.ndarray) -> str:
    """Bool array as base64 text (8 flags a byte)."""
    return base64.b64encode(np.packbits(np.asarray(flags, bool)).tobytes()).decode("ascii")


def unpack_bits(text: str, n: int) -> np.ndarray:
    """:func:`pack_bits`'s text back to ``n`` bools."""
    return np.unpackbits(np.frombuffer(base64.b64decode(text), np.uint8), count=n).astype(bool)


def _text(values, dtype) -> str:
    return base64.b64encode(np.ascontiguousarray(values, dtype=dtype).tobytes()).decode("ascii")


def _array(text: str, dtype) -> np.ndarray:
    return np.frombuffer(base64.b64decode(text), dtype).copy()


@dataclass(frozen=True)
class Geometry:
    """The model as the station draws it: bus coordinates (m), lines and switches by bus row (a
    switch at its from bus ``switch_bus``, to ``switch_to``)."""

    bus_x: np.ndarray
    bus_y: np.ndarray
    line_from: np.ndarray
    line_to: np.ndarray
    line_ids: tuple[str, ...]
    switch_bus: np.ndarray
    switch_to: np.ndarray
    switch_ids: tuple[str, ...]
    switch_remote: np.ndarray
    crews: tuple[str, ...]

    @property
    def buses(self) -> int:
        return len(self.bus_x)


def encode_geometry(net, crews) -> dict:
    """``net``'s geometry (and the crew ids) as plain JSON data."""
    bus, line, sw = net.bus, net.line, net.switch
    return {"bus_x": _text(np.asarray(bus["x"], float), np.float64), "bus_y": _text(np.asarray(bus["y"], float),
                                                                                   np.float64),
            "line_from": _text(bus.index(line["from_bus"]), np.int32), "line_to": _text(bus.index(line["to_bus"]),
                                                                                        np.int32),
            "line_ids": [str(x) for x in line.ids.tolist()], "switch_bus": _text(bus.index(sw["from_bus"]), np.int32),
            "switch_to": _text(bus.index(sw["to_bus"]), np.int32),
            "switch_ids": [str(x) for x in sw.ids.tolist()], "switch_remote": pack_bits(np.asarray(sw["remote"], bool)),
            "crews": [str(c) for c in crews]}


def decode_geometry(data: dict) -> Geometry:
    n_sw = len(data["switch_ids"])
    return Geometry(_array(data["bus_x"], np.float64), _array(data["bus_y"], np.float64),
                    _array(data["line_from"], np.int32), _array(data["line_to"], np.int32), tuple(data["line_ids"]),
                    _array(data["switch_bus"], np.int32), _array(data["switch_to"], np.int32),
                    tuple(data["switch_ids"]),
                    unpack_bits(data["switch_remote"], n_sw), tuple(data["crews"]))
