"""Line drawing as array work: segments to the pixels they cover, for the whole map at once.

Drawing tens of thousands of segments a frame one call at a time is too slow for a 100k-customer
territory, so the map is rasterised with numpy: :func:`sample` clips every segment to the map area
(Liang-Barsky, vectorised) and samples each at one point per pixel along its longer axis, giving
the pixel ``(px, py)`` of every sample, the segment it belongs to and its distance along it (for
dashes). The samples depend only on the layout and the view, so they are kept while the view
holds still; a change of state (a section de-energised) only recolours them
(:func:`paint`). Thicker strokes are the same samples offset by a pixel (:func:`thicken`).

>>> px, py, seg, along = sample(np.array([0.0]), np.array([0.0]), np.array([3.0]), np.array([0.0]), 10, 10)
>>> px.tolist(), py.tolist(), seg.tolist()
([0, 1, 2, 3], [0, 0, 0, 0], [0, 0, 0, 0])
"""

from __future__ import annotations

import numpy as np

__all__ = ["clip", "pack", "paint", "sample", "thicken"]

MAX_SAMPLES = 12_000_000  # a guard: beyond this a view is refused rather than allocated


def clip(x0: np.ndarray, y0: np.ndarray, x1: np.ndarray, y1: np.ndarray, width: int, height: int
         ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Segments (pixels) clipped to ``[0, width-1] x [0, height-1]``: ``(keep, x0, y0, x1, y1)``
    with ``keep`` the indices of the segments with anything inside (a segment with an end not
    placed, NaN, has nothing)."""
    dx, dy = x1 - x0, y1 - y0
    t0 = np.zeros(len(x0))
    t1 = np.ones(len(x0))
    ok = np.isfinite(dx) & np.isfinite(dy)
    for p, q in ((-dx, x0), (dx, width - 1 - x0), (-dy, y0), (dy, height - 1 - y0)):
        parallel = p == 0
        ok &= ~(parallel & (q < 0))
        with np.errstate(divide="ignore", invalid="ignore"):
            r = np.where(parallel, 0.0, q / np.where(parallel, 1.0, p))
        enter = ~parallel & (p < 0)
        leave = ~parallel & (p > 0)
        t0 = np.where(enter, np.maximum(t0, r), t0)
        t1 = np.where(leave, np.minimum(t1, r), t1)
    ok &= t0 <= t1
    keep = np.flatnonzero(ok)
    a, b = t0[keep], t1[keep]
    return keep, x0[keep] + a * dx[keep], y0[keep] + a * dy[keep], x0[keep] + b * dx[keep], y0[keep] + b * dy[keep]


def sample(x0: np.ndarray, y0: np.ndarray, x1: np.ndarray, y1: np.ndarray, width: int, height: int
           ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Pixels covered by segments (pixel coordinates, any extent): ``(px, py, seg, along)``, int32
    pixel columns and rows inside the area, the segment index of each and its pixel count from
    the segment's start."""
    keep, cx0, cy0, cx1, cy1 = clip(np.asarray(x0, float), np.asarray(y0, float), np.asarray(x1, float),
                                    np.asarray(y1, float), width, height)
    n = np.maximum(np.abs(cx1 - cx0), np.abs(cy1 - cy0)).astype(np.int64) + 1
    total = int(n.sum())
    if total > MAX_SAMPLES:
        raise ValueError(f"{total:,} pixels to draw exceeds {MAX_SAMPLES:,}: zoom out or in")
    seg = np.repeat(np.arange(len(keep)), n)
    starts = np.cumsum(n) - n
    along = np.arange(total) - np.repeat(starts, n)
    t = along / np.maximum(n - 1, 1)[seg]
    px = np.rint(cx0[seg] + t * (cx1 - cx0)[seg]).astype(np.int32)
    py = np.rint(cy0[seg] + t * (cy1 - cy0)[seg]).astype(np.int32)
    np.clip(px, 0, width - 1, out=px)
    np.clip(py, 0, height - 1, out=py)
    # along from the unclipped start, so that dashes do not crawl while panning
    lead = np.maximum(np.abs(cx0 - np.asarray(x0, float)[keep]), np.abs(cy0 - np.asarray(y0, float)[keep]))
    return px, py, keep[seg], (along + lead.astype(np.int64)[seg]).astype(np.int32)


_OFFSETS = {1: np.zeros((1, 2), np.int32),
            2: np.array([[0, 0], [1, 0], [0, 1], [1, 1]], np.int32),
            3: np.array([[0, 0], [-1, 0], [1, 0], [0, -1], [0, 1]], np.int32),
            5: np.array([[dx, dy] for dx in range(-2, 3) for dy in range(-2, 3) if abs(dx) + abs(dy) <= 3],
                        np.int32)}


def thicken(px: np.ndarray, py: np.ndarray, width_px: int, width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
    """Samples spread to a stroke ``width_px`` wide (1, 2, 3 or 5): ``(index, source)``, the flat
    pixel index (``py * width + px``) of each pixel and the sample it came from."""
    off = _OFFSETS[width_px]
    k = len(off)
    src = np.tile(np.arange(len(px)), k)
    qx = np.repeat(off[:, 0], len(px)) + np.tile(px, k)
    qy = np.repeat(off[:, 1], len(px)) + np.tile(py, k)
    np.clip(qx, 0, width - 1, out=qx)
    np.clip(qy, 0, height - 1, out=qy)
    return qy * width + qx, src


def pack(rgb) -> np.ndarray:
    """Colours (``(n, 3)`` or one ``(3,)``, 0-255) as opaque 32-bit pixels of a ``BGRA`` buffer."""
    c = np.asarray(rgb, np.uint32)
    return (np.uint32(0xFF000000) | (c[..., 0] << 16) | (c[..., 1] << 8) | c[..., 2]).astype(np.uint32)


def paint(buffer: np.ndarray, index: np.ndarray, colours: np.ndarray) -> None:
    """Set the pixels at flat ``index`` of ``buffer`` (a C-contiguous ``(height, width)`` uint32
    array, :func:`pack` ed) to ``colours`` (one per index, or one for all)."""
    if len(index):
        buffer.reshape(-1)[index] = colours
