"""Fast JAX steady solves: oracle agreement, iteration counts, errors, gradients, batches."""

import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.sparse.linalg as spla

import solvers
from solvers import SolveError, TensorGrid, ThermalFields, reference


def _graded_problem():
    """Small graded grid with 2 um layers, 650x contrast and Robin on three faces."""
    x = np.array([0.0, 1.0, 2.5, 3.0, 4.5]) * 1e-3
    y = np.array([0.0, 1.5, 2.0, 4.0]) * 1e-3
    z = np.cumsum([0.0, 300e-6, 2e-6, 2e-6, 100e-6, 50e-6, 500e-6])
    shape = (len(x) - 1, len(y) - 1, len(z) - 1)
    region = np.zeros(shape, np.int32)
    region[:, :, 1:3] = 1
    region[1:3, 1:, 3:] = 2
    k = np.select([region == 0, region == 1, region == 2], [390.0, 0.6, 130.0])
    q = np.where(region == 2, 5e9, 0.0)
    q[:, :, 1] = 1e10
    grid = TensorGrid(x, y, z, region, ("lid", "bond", "die"), region, ("cu", "b", "si"))
    fields = ThermalFields(
        kx=k, ky=0.5 * k, kz=2.0 * k, heat_capacity=np.full(shape, 1.7e6), source=q,
        h={"zmax": np.full(shape[:2], 2e4), "zmin": np.full(shape[:2], 500.0), "xmax": np.full((shape[1], shape[2]), 50.0)},
        ambient={"zmax": np.full(shape[:2], 318.0), "zmin": np.full(shape[:2], 330.0),
                 "xmax": np.full((shape[1], shape[2]), 300.0)},
    )
    return grid, fields


@pytest.fixture(scope="module")
def graded():
    grid, fields = _graded_problem()
    K, b = reference.assemble(grid, fields)
    T_ref = spla.spsolve(K.tocsc(), b).reshape(grid.node_shape)
    sol = solvers.solve_steady(grid, fields, rtol=1e-10)
    return grid, fields, T_ref, sol


def test_steady_matches_scikit_fem_direct_solve(graded):
    grid, fields, T_ref, sol = graded
    rise = T_ref.max() - 300.0
    assert bool(sol.converged)
    assert np.max(np.abs(np.asarray(sol.temperature) - T_ref)) < 1e-8 * rise
    assert float(sol.relative_residual) <= 1e-10
    # residual history is recorded and ends at the reported iteration
    assert sol.residuals.shape == (int(sol.iterations) + 1,)
    assert sol.residuals[-1] <= 1e-10 < sol.residuals[0]


def test_energy_balance_is_reported(graded):
    grid, fields, _, sol = graded
    p_in = float(np.sum(np.asarray(fields.source) * grid.cell_volumes()))
    assert float(sol.power_in) == pytest.approx(p_in, rel=1e-12)
    out = sum(float(v) for v in sol.heat_out.values())
    assert out == pytest.approx(p_in, rel=1e-7)
    assert set(sol.heat_out) == {"zmax", "zmin", "xmax"}
    assert float(sol.energy_balance) < 1e-7


def test_region_statistics_are_exact_for_the_trilinear_field(graded):
    grid, _, _, sol = graded
    stats = solvers.region_statistics(grid, sol)
    T = np.asarray(sol.temperature)
    for r, name in enumerate(grid.region_names):
        mask = grid.region == r
        nodes = np.zeros(grid.node_shape, bool)
        for a in (0, 1):
            for b in (0, 1):
                for c in (0, 1):
                    nodes[a:a + mask.shape[0], b:b + mask.shape[1], c:c + mask.shape[2]] |= mask
        assert stats[name]["max"] == pytest.approx(T[nodes].max(), rel=1e-14)
        i = np.argwhere(nodes & (T == T[nodes].max()))[0]
        assert stats[name]["hotspot"] == pytest.approx((grid.x[i[0]], grid.y[i[1]], grid.z[i[2]]))
        # mean of a trilinear field over a box = mean of its corners
        nx, ny, nz = grid.shape
        em = sum(T[a:a + nx, b:b + ny, c:c + nz] for a in (0, 1) for b in (0, 1) for c in (0, 1)) / 8
        v = grid.cell_volumes()
        assert stats[name]["mean"] == pytest.approx(np.sum(em[mask] * v[mask]) / v[mask].sum(), rel=1e-14)


def test_non_convergence_raises_with_history_and_remedy(graded):
    grid, fields, _, _ = graded
    with pytest.raises(SolveError, match=r"did not converge.*Try increasing `max_iterations`") as info:
        solvers.solve_steady(grid, fields, rtol=1e-14, max_iterations=2)
    assert info.value.residual_history is not None
    sol = solvers.solve_steady(grid, fields, rtol=1e-14, max_iterations=2, throw=False)
    assert not bool(sol.converged) and int(sol.iterations) == 2
    assert np.all(np.isfinite(np.asarray(sol.temperature)))


def test_bad_inputs_are_rejected(graded):
    grid, fields, _, _ = graded
    bad = np.asarray(fields.kx).copy()
    bad[1, 2, 3] = np.nan
    with pytest.raises(ValueError, match=r"`kx` is not finite at element \(1, 2, 3\)"):
        solvers.solve_steady(grid, fields.with_(kx=bad))
    with pytest.raises(ValueError, match="no face has a heat-transfer coefficient"):
        solvers.solve_steady(grid, fields.with_(h={}, ambient={}))
    with pytest.raises(ValueError, match=r"`source` has shape \(2, 2\)"):
        solvers.solve_steady(grid, fields.with_(source=np.ones((2, 2))))


def test_float32_is_selectable(graded):
    grid, fields, T_ref, _ = graded
    sol = solvers.solve_steady(grid, fields, dtype=np.float32, rtol=1e-4)  # float32 floor ~1e-5..1e-4
    assert sol.temperature.dtype == jnp.float32
    rise = T_ref.max() - 300.0
    assert np.max(np.abs(np.asarray(sol.temperature, float) - T_ref)) < 1e-3 * rise


def test_iterations_are_few_and_independent_of_grid_size():
    sys.path.insert(0, "benchmarks")
    try:
        from stack import make_problem
    finally:
        sys.path.pop(0)
    its = []
    for n in (8, 16):
        grid, fields = make_problem(n)
        sol = solvers.solve_steady(grid, fields)
        its.append(int(sol.iterations))
        assert float(sol.energy_balance) < 1e-7
        assert float(sol.power_in) == pytest.approx(340.0)
    assert max(its) <= 30, its
    assert abs(its[0] - its[1]) <= 3, its


def test_gradients_match_central_differences(graded):
    """Adjoint gradients (custom_linear_solve) against float64 central differences."""
    grid, fields, _, _ = graded
    die = jnp.asarray(grid.region == 2)
    nx, ny, nz = grid.shape

    def mean_die_rise(f):
        T = solvers.solve_steady(grid, f, rtol=1e-13, max_iterations=400).temperature
        em = sum(T[a:a + nx, b:b + ny, c:c + nz] for a in (0, 1) for b in (0, 1) for c in (0, 1)) / 8
        return jnp.sum(jnp.where(die, em, 0.0)) / jnp.sum(die.astype(em.dtype)) - 318.0

    f64 = jax.tree_util.tree_map(lambda a: jnp.asarray(a, float), fields)
    grads = jax.jit(jax.grad(mean_die_rise))(f64)  # one adjoint solve for every parameter
    rng = np.random.default_rng(0)
    checked = {}
    for name in ("source", "kx", "kz", "h"):
        x0 = f64.h["zmax"] if name == "h" else getattr(f64, name)
        g = grads.h["zmax"] if name == "h" else getattr(grads, name)
        d = jnp.asarray(rng.uniform(0.5, 1.0, x0.shape)) * x0  # relative perturbation pattern
        eps = np.sqrt(np.finfo(float).eps)  # d is already scaled by the parameter values

        def at(t, name=name, d=d, x0=x0):
            x = x0 + t * d
            f = f64.with_(h={**f64.h, "zmax": x}) if name == "h" else f64.with_(**{name: x})
            return float(mean_die_rise(f))

        fd = (at(eps) - at(-eps)) / (2 * eps)
        ad = float(jnp.vdot(g, d))
        checked[name] = (ad, fd)
        assert ad == pytest.approx(fd, rel=1e-5), (name, ad, fd)
    assert checked["source"][0] > 0 and checked["kz"][0] < 0 and checked["h"][0] < 0


def test_batch_equals_one_by_one(graded):
    grid, fields, _, _ = graded
    variants = [fields.with_(source=np.asarray(fields.source) * s, kz=np.asarray(fields.kz) * c)
                for s, c in ((1.0, 1.0), (0.5, 2.0), (2.0, 0.7))]
    singles = [np.asarray(solvers.solve_steady(grid, v).temperature) for v in variants]
    for method in ("loop", "vmap"):
        batch = solvers.solve_batch(grid, variants, method=method)
        assert batch.temperature.shape == (3, *grid.node_shape)
        assert np.all(np.asarray(batch.converged))
        for i, T in enumerate(singles):
            assert np.max(np.abs(np.asarray(batch.temperature[i]) - T)) < 1e-6 * (T.max() - 300.0), (method, i)
    stacked = jax.tree_util.tree_map(lambda *a: np.stack([np.asarray(x) for x in a]), *variants)
    batch = solvers.solve_batch(grid, stacked, method="loop")
    assert np.max(np.abs(np.asarray(batch.temperature[2]) - singles[2])) < 1e-6 * (singles[2].max() - 300.0)
    with pytest.raises(ValueError, match="must be 'auto', 'vmap' or 'loop'"):
        solvers.solve_batch(grid, variants, method="threads")


def test_import_has_no_side_effects_and_public_api_resolves():
    code = ("import sys, jax, solvers; print(jax.config.jax_enable_x64); "
            "print(any(m.startswith('codesign') for m in sys.modules)); "
            "print(all(hasattr(solvers, n) for n in solvers.__all__))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False", "True"]
    for name in ("solve_steady", "solve_transient", "solve_nonlinear", "solve_batch", "SolveError",
                 "region_statistics", "ThermalSolution", "PowerTrace", "TensorGrid"):
        assert name in solvers.__all__


def test_float32_preconditioner_keeps_float64_accuracy(graded):
    grid, fields, T_ref, sol64 = graded
    sol = solvers.solve_steady(grid, fields, rtol=1e-10, preconditioner_dtype=np.float32)
    assert sol.temperature.dtype == jnp.float64
    assert float(sol.relative_residual) <= 1e-10
    assert np.max(np.abs(np.asarray(sol.temperature) - T_ref)) < 1e-8 * (T_ref.max() - 300.0)
    assert int(sol.iterations) <= int(sol64.iterations) + 3
