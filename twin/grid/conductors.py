"""Conductor and cable data for line-constant calculations, as the tables publish them.

The numbers are W. H. Kersting's, *Distribution System Modeling and Analysis*, appendix A (bare
conductors) and chapter 4 (the concentric-neutral cable of his example 4.2). They keep the units
those tables use, and the names say which: geometric mean radius in feet, AC resistance at 50 C
and 60 Hz in ohm per mile, outside diameter in inches. Keeping the published units lets a reader
check every row against the book; :mod:`twin.grid.line_constants` turns them into the engine's
ohm/m and S/m.

>>> from twin.grid.conductors import ACSR_336_400
>>> ACSR_336_400.gmr_ft, ACSR_336_400.r_ohm_per_mile, ACSR_336_400.diameter_in
(0.0244, 0.306, 0.721)

A concentric-neutral cable is a phase conductor inside ``strands`` bare copper strands laid
round it on a circle; ``outside_diameter_in`` is measured over the strands, so the strands'
centres lie on a circle of diameter ``outside_diameter_in - strand.diameter_in``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

__all__ = [
    "Conductor",
    "ConcentricNeutralCable",
    "ACSR_336_400",
    "ACSR_4_0",
    "ACSR_1_0",
    "AA_1000",
    "AA_750",
    "AA_250",
    "AA_4_0",
    "AA_1_0",
    "CU_10",
    "CU_14",
    "CONDUCTORS",
    "CN_250AA_THIRD",
    "CN_1000AA_THIRD",
    "CN_1_0AA_FULL",
    "CABLES",
]


@dataclass(frozen=True)
class Conductor:
    """One bare conductor (or the metal of an insulated one).

    ``gmr_ft`` is the geometric mean radius (ft), the radius of the thin tube with the same
    internal inductance; ``r_ohm_per_mile`` the AC resistance at 50 C (ohm/mile);
    ``diameter_in`` the outside diameter of the metal (in), which sets the charging capacitance.
    """

    name: str
    gmr_ft: float
    r_ohm_per_mile: float
    diameter_in: float


@dataclass(frozen=True)
class ConcentricNeutralCable:
    """A concentric-neutral cable: a ``phase`` conductor inside ``strands`` copper ``strand`` wires.

    ``outside_diameter_in`` is the diameter over the neutral strands (in).
    """

    name: str
    phase: Conductor
    strand: Conductor
    strands: int
    outside_diameter_in: float


ACSR_336_400 = Conductor("336,400 26/7 ACSR", 0.0244, 0.306, 0.721)
ACSR_4_0 = Conductor("4/0 6/1 ACSR", 0.00814, 0.592, 0.563)
ACSR_1_0 = Conductor("1/0 6/1 ACSR", 0.00446, 1.12, 0.398)
AA_1000 = Conductor("1,000,000 37-strand AA", 0.0368, 0.105, 1.15)
AA_750 = Conductor("750,000 37-strand AA", 0.0289, 0.1288, 0.998)
AA_250 = Conductor("250,000 AA", 0.0171, 0.41, 0.567)
AA_4_0 = Conductor("4/0 7-strand AA", 0.0158, 0.484, 0.522)
AA_1_0 = Conductor("1/0 7-strand AA", 0.0111, 0.97, 0.368)
CU_10 = Conductor("#10 solid copper", 0.00331, 5.90, 0.1019)
CU_14 = Conductor("#14 solid copper", 0.00208, 14.8722, 0.0641)

CONDUCTORS: Mapping[str, Conductor] = MappingProxyType({c.name: c for c in (
    ACSR_336_400, ACSR_4_0, ACSR_1_0, AA_1000, AA_750, AA_250, AA_4_0, AA_1_0, CU_10, CU_14)})
"""The conductors above by name."""

CN_250AA_THIRD = ConcentricNeutralCable("250 kcmil AA 1/3 neutral", AA_250, CU_14, 13, 1.29)
"""Kersting's example 4.2 cable: 13 #14 copper strands, 1.29 in over them."""
CN_1000AA_THIRD = ConcentricNeutralCable("1000 kcmil AA 1/3 neutral", AA_1000, CU_10, 20, 1.92)
"""A 15 kV feeder cable: 20 #10 copper strands carry a third of the phase conductor's current."""
CN_1_0AA_FULL = ConcentricNeutralCable("1/0 AA full neutral", AA_1_0, CU_14, 16, 1.06)
"""A 15 kV URD cable: 16 #14 copper strands, as conductive as the phase conductor."""

CABLES: Mapping[str, ConcentricNeutralCable] = MappingProxyType(
    {c.name: c for c in (CN_250AA_THIRD, CN_1000AA_THIRD, CN_1_0AA_FULL)})
"""The cables above by name."""
