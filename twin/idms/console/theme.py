"""The console's look: a high-performance HMI after ISA-101.

A muted grey background and greys for everything normal, so that colour means something: colour
is kept for abnormal states (a de-energised section, a device out of its normal state, stale data)
and for alarms, whose priority is told by colour *and* shape (ISA-18.2 practice, readable by a
colour-blind dispatcher): priority 1 a red triangle, 2 an orange diamond, 3 a yellow square, 4 a
blue-grey circle. Feeders are told apart by desaturated hues, dim enough not to compete with
alarms. Sizes are for a 1600x900 screen.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Theme", "THEME", "feeder_palette"]

Rgb = tuple[int, int, int]


@dataclass(frozen=True)
class Theme:
    background: Rgb = (176, 178, 180)  # the map's muted grey
    panel: Rgb = (196, 198, 200)
    panel_edge: Rgb = (150, 152, 155)
    header: Rgb = (160, 162, 166)
    text: Rgb = (24, 26, 30)
    text_dim: Rgb = (84, 88, 94)
    selected: Rgb = (230, 232, 236)
    de_energised: Rgb = (40, 44, 52)  # dark, dashed: no power
    outage_area: Rgb = (214, 160, 210)  # the halo over an outage's area (magenta: abnormal)
    abnormal: Rgb = (232, 118, 0)  # a device out of its normal state
    stale: Rgb = (0, 150, 170)  # data not current (comms failed, stale)
    manual: Rgb = (90, 60, 160)  # a value entered by hand
    tag: Rgb = (250, 210, 0)
    overload: Rgb = (210, 30, 30)
    voltage_low: Rgb = (30, 90, 220)
    voltage_high: Rgb = (210, 30, 30)
    crew: Rgb = (20, 60, 140)
    crew_busy: Rgb = (20, 110, 60)
    device: Rgb = (28, 30, 34)
    priority: tuple[Rgb, ...] = ((220, 30, 30), (240, 120, 0), (235, 200, 0), (110, 130, 150))
    priority_shape: tuple[str, ...] = ("triangle", "diamond", "square", "circle")
    font_size: int = 15
    small_font_size: int = 13
    row_h: int = 18


THEME = Theme()


def feeder_palette(n: int, *, seed_hue: float = 0.08) -> np.ndarray:
    """``(n, 3)`` uint8 colours for ``n`` feeders: hues spread by the golden angle, low saturation,
    mid value (muted; none close to the alarm colours' full saturation)."""
    hue = (seed_hue + 0.618034 * np.arange(n)) % 1.0
    s, v = 0.38, 0.50
    i = np.floor(hue * 6.0).astype(int) % 6
    f = hue * 6.0 - np.floor(hue * 6.0)
    p, q, t = v * (1 - s), v * (1 - s * f), v * (1 - s * (1 - f))
    table = np.stack([np.select([i == k for k in range(6)], c) for c in
                      ([v, q, p, p, t, v], [t, v, v, q, p, p], [p, p, t, v, v, q])], axis=1)
    return np.round(table * 255).astype(np.uint8)
