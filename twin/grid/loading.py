"""Loading of lines, switches and transformers against their ratings, from a power flow's branches.

A line's rating is its own ``rated_a`` or else its code's; a switch's its ``rated_a``; a
transformer's the rated current of winding 1 (S / (V * sqrt 3) for a three-phase unit, S / V for a
single-phase one). An element is loaded by its largest phase current (a transformer on winding 1;
the other elements at their worse end). Elements without a rating are left out.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from twin.grid.network import Network

__all__ = ["loading_pct", "ratings_a"]


def ratings_a(net: Network) -> pd.Series:
    """Rating in A per element reference (``line.L1``, ``switch.S1``, ``transformer.T1``)."""
    rating: dict[str, float] = {}
    line = net.line
    if len(line):
        code_rating = net.line_code["rated_a"][net.line_code.index(line["code"].tolist())] if len(net.line_code) \
            else np.full(len(line), np.nan)
        rated = np.where(np.isnan(line["rated_a"]), code_rating, line["rated_a"])
        rating.update(zip("line." + line.ids.astype(str), rated))
    sw = net.switch
    rating.update(zip("switch." + sw.ids.astype(str), sw["rated_a"]))
    xf = net.transformer
    if len(xf):
        n_ph = np.where(xf["kind"] == 0, np.sqrt(3.0), 1.0)
        rating.update(zip("transformer." + xf.ids.astype(str), xf["s_rated_va"][:, 0] / (xf["v_rated_v"][:, 0] * n_ph)))
    return pd.Series(rating, dtype=float)


def loading_pct(net: Network, branches: pd.DataFrame) -> pd.Series:
    """Per energised, rated element (its reference): largest phase current in % of its rating."""
    if branches.empty:
        return pd.Series(dtype=float)
    primary = ~branches["element"].str.startswith("transformer.") | (branches["terminal"] == 1)
    amps = branches[primary].groupby("element")["i_amps"].max()
    limit = amps.index.map(ratings_a(net)).to_numpy(dtype=float)
    rated = np.isfinite(limit) & (limit > 0)
    return pd.Series(amps.to_numpy()[rated] / limit[rated] * 100.0, index=amps.index[rated])
