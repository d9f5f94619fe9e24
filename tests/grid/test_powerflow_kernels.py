"""The power flow's compiled pieces against plain numpy and scipy: the factored solves, the ZIP
currents, the injections, the linearised Jacobian and the batch's rolling working sets."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.sparse.linalg import spsolve

from .feeders import FEEDERS_DIR, MASTERS, needs_feeders
from twin.grid.opendss import load_opendss
from twin.grid.powerflow import prepare
from twin.grid.powerflow.batch import BATCH_LINEARISED, predict
from twin.grid.powerflow.factor import PARALLEL_COLUMNS, Factor
from twin.grid.powerflow.jacobian import component_voltages, linearise, real_form
from twin.grid.powerflow.loads import V_LOW_PU, injections, zip_currents
from twin.grid.powerflow.solver import iterate


def _random_matrix(n: int, rng: np.random.Generator, dtype=float) -> sp.csc_matrix:
    """A sparse, non-symmetric matrix that needs row pivoting (small diagonal in places)."""
    m = sp.random(n, n, density=4.0 / n, random_state=np.random.RandomState(int(rng.integers(1 << 31))))
    if dtype is complex:
        m = m + 1j * sp.random(n, n, density=4.0 / n, random_state=np.random.RandomState(int(rng.integers(1 << 31))))
    diag = rng.uniform(0.5, 2.0, n)
    diag[rng.random(n) < 0.1] = 1e-3  # weak pivots: SuperLU swaps rows there
    return sp.csc_matrix(m + sp.diags(diag))


@pytest.mark.parametrize("dtype", [float, complex])
@pytest.mark.parametrize("k", [None, 1, 3, PARALLEL_COLUMNS, 2 * PARALLEL_COLUMNS + 1])
def test_factor_solves_as_scipy_does(dtype, k):
    rng = np.random.default_rng(7)
    a = _random_matrix(300, rng, dtype)
    shape = (300,) if k is None else (300, k)
    b = rng.normal(size=shape) + (1j * rng.normal(size=shape) if dtype is complex else 0.0)
    x = Factor(a).solve(b)
    assert x.shape == shape
    reference = spsolve(a, b)
    assert np.allclose(x, reference.reshape(shape), rtol=1e-9, atol=1e-12)


def test_a_real_factor_solves_a_complex_right_hand_side_and_interleaved_parts():
    rng = np.random.default_rng(8)
    a = _random_matrix(200, rng, complex)
    real = Factor(real_form(a))
    z = rng.normal(size=(200, 20)) + 1j * rng.normal(size=(200, 20))
    assert np.allclose(real.solve_interleaved(z), spsolve(a, z), rtol=1e-9)
    assert np.allclose(real.solve_interleaved(z, share=False), spsolve(a, z), rtol=1e-9)
    assert np.allclose(real.solve_interleaved(z[:, 0]), spsolve(a, z[:, 0]), rtol=1e-9)
    interleaved = np.empty(400, complex)
    interleaved[0::2], interleaved[1::2] = z[:, 0], 1j * z[:, 1]  # a real factor, a complex b: two solves
    b = real_form(a)
    assert np.allclose(Factor(b).solve(interleaved), spsolve(b.tocsc(), interleaved), rtol=1e-9)
    with pytest.raises(ValueError, match="real factor of order"):
        Factor(a).solve_interleaved(z)


def _zip_reference(v, s, zip_p, zip_q, v_base, v_min, v_max, generator):
    """The ZIP model as the loads module's docstring states it, one component at a time."""
    out = np.zeros(len(v), complex)
    for j in range(len(v)):
        mag = abs(v[j])
        if mag == 0:
            continue
        u = mag / v_base[j]
        if v_min[j] < u <= v_max[j]:
            p = s[j].real * (zip_p[j, 0] * u**2 + zip_p[j, 1] * u + zip_p[j, 2])
            q = s[j].imag * (zip_q[j, 0] * u**2 + zip_q[j, 1] * u + zip_q[j, 2])
            out[j] = np.conj(complex(p, q) / v[j])
            continue
        lo, hi, low = v_min[j], v_max[j], V_LOW_PU
        if generator[j]:
            f = 1 / hi**2 if u > hi else 1 / lo**2
        elif u <= low or (zip_p[j, 0] == 1 and zip_q[j, 0] == 1):
            f = 1.0
        elif zip_p[j, 1] == 1 and zip_q[j, 1] == 1:
            f = 1 / hi if u > hi else (low + (1 - low) * (u - low) / (lo - low)) / u
        else:
            f = 1 / hi**2 if u > hi else (low + (1 / lo - low) * (u - low) / (lo - low)) / u
        out[j] = np.conj(s[j]) / v_base[j] ** 2 * f * v[j]
    return out


def _components(m: int, rng: np.random.Generator):
    v = rng.uniform(0.0, 1.3, m) * 120.0 * np.exp(1j * rng.uniform(-np.pi, np.pi, m))
    v[0] = 0.0
    s = rng.normal(size=m) * 1e3 + 1j * rng.normal(size=m) * 5e2
    zip_p, zip_q = rng.dirichlet([1, 1, 1], m), rng.dirichlet([1, 1, 1], m)
    for rows, pure in ((slice(1, 40), [1, 0, 0]), (slice(40, 80), [0, 1, 0]), (slice(80, 120), [0, 0, 1])):
        zip_p[rows], zip_q[rows] = pure, pure
    return v, s, zip_p, zip_q, np.full(m, 120.0), np.full(m, 0.9), np.full(m, 1.1), rng.random(m) < 0.1


def test_zip_currents_follow_the_model_in_every_regime():
    """Zero volts, below V_LOW_PU, below v_min, in the band and above v_max; Z, I, P and mixed
    loads, and generators."""
    v, s, zip_p, zip_q, v_base, v_min, v_max, gen = _components(400, np.random.default_rng(9))
    got = zip_currents(v, s, zip_p, zip_q, v_base, v_min, v_max, generator=gen)
    want = _zip_reference(v, s, zip_p, zip_q, v_base, v_min, v_max, gen)
    assert np.allclose(got, want, rtol=1e-12, atol=1e-12)
    stacked = zip_currents(np.stack([v, 0.9 * v], axis=1), s, zip_p, zip_q, v_base, v_min, v_max, generator=gen)
    assert np.allclose(stacked[:, 1], _zip_reference(0.9 * v, s, zip_p, zip_q, v_base, v_min, v_max, gen), rtol=1e-12)


@needs_feeders
def test_injections_are_sources_plus_the_loads_linear_part_less_their_currents():
    net = load_opendss(FEEDERS_DIR / MASTERS["123bus"])
    prep = prepare(net)
    c = prep.comps
    rng = np.random.default_rng(10)
    v = prep.solve_voltages()[0][:, None] * (1 + 0.01 * rng.normal(size=(prep.n, 3)))
    s = prep.component_power(np.array([0.5, 1.0, 1.2])[:, None] * np.ones(len(net.load)))
    alpha, beta = rng.normal(size=c.n) + 1j * rng.normal(size=c.n), rng.normal(size=c.n) + 1j * rng.normal(size=c.n)
    v_c = component_voltages(v, c)
    i_c = zip_currents(v_c, s, c.zip_p, c.zip_q, c.v_base, c.v_min_pu, c.v_max_pu, generator=c.generator)
    want = prep.i_source[:, None] + prep.incidence @ (alpha[:, None] * v_c + beta[:, None] * np.conj(v_c) - i_c)
    assert np.allclose(injections(v, c, s, alpha, beta, prep.i_source), want, rtol=1e-12, atol=1e-9)


@needs_feeders
def test_newton_steps_on_a_jacobian_at_the_solution_converge_quadratically():
    """Taken at a solution of the load level, the Jacobian's steps lose the error as Newton's do:
    each change is below the square of the one before (in per unit, with a margin)."""
    net = load_opendss(FEEDERS_DIR / MASTERS["123bus"])
    prep = prepare(net)
    s = prep.component_power(1.0)
    v1 = prep.solve_voltages(load_scale=1.0, tol=1e-10)[0]
    lin = linearise(prep.y, prep.incidence, prep.comps, s, v1)
    v = prep.solve_voltages(load_scale=0.8, tol=1e-10)[0]
    changes = []
    for _ in range(3):
        g, _, change = iterate(prep, s, tol=np.inf, max_iter=1, start=v, lin=lin, depth=0)
        changes.append(change)
        v = g
    assert changes[0] > 1e-3
    assert changes[1] < 10 * changes[0] ** 2
    assert changes[2] < max(10 * changes[1] ** 2, 1e-11)
    assert np.abs(v - v1).max() / prep.base_v.max() < 1e-9


@needs_feeders
def test_a_warm_re_solve_at_a_level_solved_before_uses_its_jacobian():
    net = load_opendss(FEEDERS_DIR / MASTERS["123bus"])
    prep = prepare(net)
    v_full, first, _ = prep.solve_voltages(load_scale=1.0)
    v_low, _, _ = prep.solve_voltages(load_scale=0.8, start=v_full)
    assert not prep._jacobians  # levels seen once: no factorisation yet
    again, newton, _ = prep.solve_voltages(load_scale=1.0, start=v_low)
    assert 10 in prep._jacobians
    assert newton < first
    assert np.all(np.abs(again - v_full)[: prep.nodes.n] / prep.base_v[: prep.nodes.n] < 1e-7)


@needs_feeders
def test_long_batches_of_per_load_scales_keep_the_nodes_asked_for_and_replay_exactly():
    net = load_opendss(FEEDERS_DIR / MASTERS["123bus"])
    prep = prepare(net)
    rng = np.random.default_rng(11)
    k = 3 * BATCH_LINEARISED  # long enough for one working set per core
    scales = rng.uniform(0.3, 1.1, (k, 1)) * rng.uniform(0.8, 1.2, (k, len(net.load)))
    nodes = np.array([0, 5, prep.nodes.n - 1])
    batch = prep.solve_batch(scales, nodes=nodes)
    assert batch.v.shape == (k, 3)
    base = prep.base_v[nodes]
    for row in (0, 1, int(np.argmin(scales.mean(axis=1))), int(np.argmax(scales.mean(axis=1))), k - 1):
        single = prep.solve_voltages(load_scale=scales[row])[0]
        assert np.all(np.abs(batch.v[row] - single[nodes]) / base < 1e-7)
    assert np.array_equal(prep.solve_batch(scales, nodes=nodes).v, batch.v)  # threads, yet bit for bit
    with pytest.raises(ValueError, match="load_scale must be"):
        prep.solve_batch(np.ones((4, 3)))
    assert prep.solve_batch(np.ones(0)).v.shape == (0, prep.nodes.n)


def test_the_predictor_is_exact_for_a_quadratic_and_falls_back_far_away():
    v = np.array([1.0, 2.0])
    anchors = [(x, v * (1 + x + x**2)) for x in (0.50, 0.51, 0.52)]
    levels = np.array([0.53, 0.56])
    assert np.allclose(predict(anchors, levels), np.outer(v, 1 + levels + levels**2))
    far = predict(anchors, np.array([0.9]))  # beyond a tenth of the rated load: the nearest anchor
    assert np.allclose(far[:, 0], anchors[-1][1])


@needs_feeders
def test_not_converged_names_the_bus_that_changed_most_in_the_last_iteration():
    from twin.errors import NotConverged

    prep = prepare(load_opendss(FEEDERS_DIR / MASTERS["13bus"]))
    s = prep.component_power(1.0)
    g1, _, _ = iterate(prep, s, tol=np.inf, max_iter=1)
    g2, _, _ = iterate(prep, s, tol=np.inf, max_iter=1, start=g1)
    change = np.abs(g2 - g1) / prep.base_v
    worst = prep.net.bus.ids[prep.nodes.bus[int(np.argmax(change[: prep.nodes.n]))]]
    with pytest.raises(NotConverged) as err:
        iterate(prep, s, tol=1e-14, max_iter=2)
    assert err.value.worst_bus == worst
    assert err.value.mismatch == pytest.approx(change.max())
