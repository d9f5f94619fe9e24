"""Line constants against Kersting's published examples, SI physics and invariants.

The references are W. H. Kersting, *Distribution System Modeling and Analysis* (example numbers
as in its second edition), which prints results in ohm/mile and uS/mile to four decimals: the
comparisons convert our ohm/m and S/m back with ``MILE_M`` and allow 1e-4, the last printed
digit, unless a test says why it allows more.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from twin.grid.conductors import (
    AA_4_0,
    AA_750,
    ACSR_4_0,
    ACSR_336_400,
    CN_250AA_THIRD,
    CN_1000AA_THIRD,
    CONDUCTORS,
    CU_14,
    Conductor,
)
from twin.grid.line_constants import (
    MILE_M,
    concentric_neutral_impedance,
    concentric_neutral_susceptance,
    kron_reduce,
    overhead_impedance,
    overhead_susceptance,
    primitive_impedance,
    sequence_impedance_matrix,
    sequence_impedances,
    triplex_impedance,
)

# Example 4.1: 336,400 26/7 ACSR phases a, b, c and a 4/0 6/1 ACSR neutral on spacing ID-500.
# Kersting puts the phases 29 ft and the neutral 25 ft above ground (example 5.1 uses the heights).
ID_500_FT = [(0.0, 29.0), (2.5, 29.0), (7.0, 29.0), (4.0, 25.0)]
WIRES_41 = [ACSR_336_400] * 3 + [ACSR_4_0]
GMR_41 = [w.gmr_ft for w in WIRES_41]
R_41 = [w.r_ohm_per_mile for w in WIRES_41]
DIAMETER_41 = [w.diameter_in for w in WIRES_41]

MU0 = 4e-7 * math.pi  # H/m
EPSILON0 = 8.8541878128e-12  # F/m
F_HZ = 60.0


def per_mile(z: np.ndarray) -> np.ndarray:
    return z * MILE_M


def test_conductor_data_is_kerstings_appendix_a() -> None:
    acsr = CONDUCTORS["336,400 26/7 ACSR"]
    assert (acsr.gmr_ft, acsr.r_ohm_per_mile, acsr.diameter_in) == (0.0244, 0.306, 0.721)
    assert CONDUCTORS["4/0 6/1 ACSR"] == ACSR_4_0
    assert (ACSR_4_0.gmr_ft, ACSR_4_0.r_ohm_per_mile, ACSR_4_0.diameter_in) == (0.00814, 0.592, 0.563)
    assert (CU_14.gmr_ft, CU_14.r_ohm_per_mile, CU_14.diameter_in) == (0.00208, 14.8722, 0.0641)


def test_primitive_matrix_matches_kersting_example_4_1() -> None:
    z = per_mile(primitive_impedance(ID_500_FT, GMR_41, R_41))
    kersting = np.array([
        [0.4013 + 1.4133j, 0.0953 + 0.8515j, 0.0953 + 0.7266j, 0.0953 + 0.7524j],
        [0.0953 + 0.8515j, 0.4013 + 1.4133j, 0.0953 + 0.7802j, 0.0953 + 0.7865j],
        [0.0953 + 0.7266j, 0.0953 + 0.7802j, 0.4013 + 1.4133j, 0.0953 + 0.7674j],
        [0.0953 + 0.7524j, 0.0953 + 0.7865j, 0.0953 + 0.7674j, 0.6873 + 1.5465j],
    ])
    np.testing.assert_allclose(z, kersting, rtol=0, atol=1e-4)


def test_phase_impedance_matrix_matches_kersting_example_4_1() -> None:
    z = per_mile(overhead_impedance(ID_500_FT, GMR_41, R_41, n_phases=3))
    kersting = np.array([
        [0.4576 + 1.0780j, 0.1560 + 0.5017j, 0.1535 + 0.3849j],
        [0.1560 + 0.5017j, 0.4666 + 1.0482j, 0.1580 + 0.4236j],
        [0.1535 + 0.3849j, 0.1580 + 0.4236j, 0.4615 + 1.0651j],
    ])
    np.testing.assert_allclose(z, kersting, rtol=0, atol=1e-4)
    # The heights do not enter the series impedance: only the distances between wires do.
    lower = [(x, y - 1.0) for x, y in ID_500_FT]
    np.testing.assert_allclose(overhead_impedance(lower, GMR_41, R_41, n_phases=3),
                               overhead_impedance(ID_500_FT, GMR_41, R_41, n_phases=3), rtol=1e-12)


def test_sequence_impedances_match_kersting_example_4_1() -> None:
    z_abc = per_mile(overhead_impedance(ID_500_FT, GMR_41, R_41, n_phases=3))
    kersting = np.array([
        [0.7735 + 1.9373j, 0.0256 + 0.0115j, -0.0321 + 0.0159j],
        [-0.0321 + 0.0159j, 0.3061 + 0.6270j, -0.0723 - 0.0060j],
        [0.0256 + 0.0115j, 0.0723 - 0.0059j, 0.3061 + 0.6270j],
    ])
    np.testing.assert_allclose(sequence_impedance_matrix(z_abc), kersting, rtol=0, atol=1e-4)
    z0, z1 = sequence_impedances(z_abc)
    assert z0 == pytest.approx(0.7735 + 1.9373j, abs=1e-4)
    assert z1 == pytest.approx(0.3061 + 0.6270j, abs=1e-4)
    z012 = sequence_impedance_matrix(z_abc)
    assert (z0, z1) == (pytest.approx(z012[0, 0], rel=1e-12), pytest.approx(z012[1, 1], rel=1e-12))


def test_shunt_susceptance_matches_kersting_example_5_1() -> None:
    b = overhead_susceptance(ID_500_FT, DIAMETER_41, n_phases=3) * MILE_M * 1e6  # uS/mile
    kersting = np.array([
        [5.6711, -1.8362, -0.7033],
        [-1.8362, 5.9774, -1.1690],
        [-0.7033, -1.1690, 5.3911],
    ])
    np.testing.assert_allclose(b, kersting, rtol=0, atol=1e-4)


def test_concentric_neutral_matches_kersting_example_4_2() -> None:
    """Three 250 kcmil AA cables, 13 #14 copper strands, 6 in apart in a row."""
    z = per_mile(concentric_neutral_impedance([0.0, 0.5, 1.0], CN_250AA_THIRD))
    kersting = np.array([
        [0.7982 + 0.4463j, 0.3192 + 0.0328j, 0.2849 - 0.0143j],
        [0.3192 + 0.0328j, 0.7891 + 0.4041j, 0.3192 + 0.0328j],
        [0.2849 - 0.0143j, 0.3192 + 0.0328j, 0.7982 + 0.4463j],
    ])
    np.testing.assert_allclose(z, kersting, rtol=0, atol=1e-4)


def test_concentric_neutral_susceptance_matches_kersting_example_5_2() -> None:
    """Kersting rounds the radii to four decimals before taking logarithms, which moves his
    96.5569 uS/mile by a few parts in 10^4: hence rel=1e-3."""
    b = concentric_neutral_susceptance(CN_250AA_THIRD, n_phases=3) * MILE_M * 1e6
    np.testing.assert_allclose(np.diag(b), 96.5569, rtol=1e-3)
    assert not (b - np.diag(np.diag(b))).any()


def test_carson_constants_are_si_physics() -> None:
    """Earth-return resistance omega mu0 / 8, and reactance falling by mu0 f per unit of ln D.

    Kersting's constants are rounded to five significant figures: rel=1e-4.
    """
    two = primitive_impedance([(0.0, 30.0), (1.0, 30.0)], [0.01, 0.01], [0.3, 0.3])
    assert two[0, 1].real == pytest.approx(2 * math.pi * F_HZ * MU0 / 8, rel=1e-4)
    far = primitive_impedance([(0.0, 30.0), (math.e, 30.0)], [0.01, 0.01], [0.3, 0.3])
    assert two[0, 1].imag - far[0, 1].imag == pytest.approx(MU0 * F_HZ, rel=1e-4)
    assert two[0, 0].real == pytest.approx(0.3 / MILE_M + 2 * math.pi * F_HZ * MU0 / 8, rel=1e-4)


def test_single_wire_susceptance_is_a_wire_over_its_image() -> None:
    """b = omega 2 pi epsilon0 / ln(2 h / r); Kersting's 11.17689 mile/uF implies an epsilon0
    0.07 % small: rel=1e-3."""
    h_ft, d_in = 30.0, 0.721
    b = overhead_susceptance([(0.0, h_ft)], [d_in], n_phases=1)
    exact = 2 * math.pi * F_HZ * 2 * math.pi * EPSILON0 / math.log(2 * h_ft / (d_in / 24.0))
    assert b[0, 0] == pytest.approx(exact, rel=1e-3)


def test_kron_reduction_is_the_schur_complement() -> None:
    m = np.array([[4.0, 1.0, 0.5], [1.0, 3.0, 0.2], [0.5, 0.2, 2.0]])
    expected = m[:2, :2] - np.outer(m[:2, 2], m[2, :2]) / m[2, 2]
    np.testing.assert_allclose(kron_reduce(m, 2), expected, rtol=1e-14)
    np.testing.assert_array_equal(kron_reduce(m, 3), m)
    primitive = primitive_impedance(ID_500_FT, GMR_41, R_41)
    np.testing.assert_allclose(kron_reduce(primitive, 3), overhead_impedance(ID_500_FT, GMR_41, R_41, n_phases=3),
                               rtol=1e-12)


def test_a_grounded_neutral_lowers_the_phase_impedance() -> None:
    """The neutral carries part of the return current: less reactance than earth return alone."""
    without = overhead_impedance(ID_500_FT[:3], GMR_41[:3], R_41[:3], n_phases=3)
    with_neutral = overhead_impedance(ID_500_FT, GMR_41, R_41, n_phases=3)
    assert (np.diag(with_neutral.imag) < np.diag(without.imag)).all()


def test_triplex_legs_are_alike() -> None:
    for leg in (AA_4_0, AA_750):
        z = triplex_impedance(leg, ACSR_4_0, insulation_in=0.08)
        assert z.shape == (2, 2)
        assert z[0, 0] == pytest.approx(z[1, 1], rel=1e-12) and z[0, 1] == pytest.approx(z[1, 0], rel=1e-12)
        assert z[0, 0].real > leg.r_ohm_per_mile / MILE_M and z[0, 1].imag > 0


def test_cables_apart_couple_less() -> None:
    z = concentric_neutral_impedance([0.0, 0.5, 1.0], CN_1000AA_THIRD)
    assert abs(z[0, 1]) > abs(z[0, 2])
    single = concentric_neutral_impedance([0.0], CN_1000AA_THIRD)
    assert single.shape == (1, 1) and single[0, 0].real > 0


def test_bad_shapes_are_refused() -> None:
    with pytest.raises(ValueError, match="one value per wire"):
        overhead_impedance(ID_500_FT, GMR_41[:3], R_41, n_phases=3)
    with pytest.raises(ValueError, match="not within"):
        overhead_impedance(ID_500_FT, GMR_41, R_41, n_phases=5)
    with pytest.raises(ValueError, match="one \\(x, y\\) per wire"):
        overhead_susceptance([0.0, 28.0], [0.721], n_phases=1)
    with pytest.raises(ValueError, match="3 x 3"):
        sequence_impedances(np.eye(2))


coordinate = st.floats(min_value=-6.0, max_value=6.0, allow_nan=False)
height = st.floats(min_value=20.0, max_value=40.0, allow_nan=False)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(coordinate, height), min_size=2, max_size=5), st.integers(1, 4),
       st.sampled_from(sorted(CONDUCTORS)))
def test_passive_and_reciprocal(xy_ft: list[tuple[float, float]], n_phases: int, name: str) -> None:
    """Any construction: symmetric matrices, a resistance that dissipates, positive capacitance."""
    xy = np.array(xy_ft)
    n_wires = len(xy)
    assume(n_phases <= n_wires)
    gap = np.hypot(*(xy[:, None, :] - xy[None, :, :]).transpose(2, 0, 1))
    assume(gap[np.triu_indices(n_wires, 1)].min() >= 0.5)
    wire: Conductor = CONDUCTORS[name]
    z = overhead_impedance(xy, [wire.gmr_ft] * n_wires, [wire.r_ohm_per_mile] * n_wires, n_phases=n_phases)
    b = overhead_susceptance(xy, [wire.diameter_in] * n_wires, n_phases=n_phases)
    np.testing.assert_allclose(z, z.T, rtol=1e-10)
    np.testing.assert_allclose(b, b.T, rtol=1e-10)
    assert np.linalg.eigvalsh(z.real).min() > 0
    assert np.linalg.eigvalsh(z.imag).min() > 0
    assert (np.diag(b) > 0).all() and (b.sum(axis=1) > 0).all()
    assert (b[~np.eye(n_phases, dtype=bool)] < 0).all()
