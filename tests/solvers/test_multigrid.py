"""Multigrid internals: analytic Galerkin coarse operators, symmetric stencils, no baked-in constants."""

import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from solvers import TensorGrid, ThermalFields, fem, multigrid as mg, steady

FACE_SHAPES = {"zmin": (0, 1), "zmax": (0, 1), "xmin": (1, 2), "xmax": (1, 2), "ymin": (0, 2), "ymax": (0, 2)}


def _random_problem(nx, ny, nz, faces, seed=0):
    rng = np.random.default_rng(seed)
    x = np.cumsum(np.r_[0.0, rng.random(nx) + 0.2]) * 1e-3
    y = np.cumsum(np.r_[0.0, rng.random(ny) + 0.2]) * 1e-3
    z = np.cumsum(np.r_[0.0, rng.random(nz) * 1e-4 + 2e-6])
    shape = (nx, ny, nz)
    region = np.zeros(shape, np.int32)
    grid = TensorGrid(x, y, z, region, ("all",), region, ("m",))
    k = lambda: 10.0 ** rng.uniform(-0.3, 2.6, shape)  # noqa: E731  (0.5 .. 400 W/m/K)
    h = {f: rng.random(tuple(shape[i] for i in FACE_SHAPES[f])) * 1e4 for f in faces}
    fields = ThermalFields(kx=k(), ky=k(), kz=k(), heat_capacity=rng.random(shape) + 1.0,
                           source=np.zeros(shape), h=h, ambient={f: np.zeros(v.shape) for f, v in h.items()})
    return grid, fields


CASES = [   # odd and even node counts on every axis among them; each compile costs seconds, so few cases
    ((7, 6, 3), ("zmin", "zmax", "xmin", "xmax", "ymin", "ymax"), None),
    ((13, 10, 2), ("zmax", "xmax", "ymin"), "consistent"),
    ((12, 11, 3), ("zmin", "ymax"), "lumped"),
]


@pytest.mark.parametrize("shape,faces,mass", CASES)
def test_analytic_galerkin_equals_probed_coarse_operators(shape, faces, mass):
    """Element-by-element P^T A P equals R A P read back by probing, on every level, to round-off.

    Random graded spacing, 800x random anisotropic conductivity, Robin terms on various faces,
    consistent and lumped capacity, odd and even node counts (a coarse element of one fine one).
    """
    grid, fields = _random_problem(*shape, faces)
    op = fem.build_operator(grid, fields)
    if mass:
        op = op.with_mass(fem.to_work(jnp.asarray(fields.heat_capacity)), 3.0, lumped=(mass == "lumped"))
    plan = mg.plan_coarsening((grid.z, grid.x, grid.y), coarse_size=10)
    probed = jax.jit(lambda op: mg.build_hierarchy(op, plan, galerkin="probe"))(op)
    analytic = jax.jit(lambda op: mg.build_hierarchy(op, plan, galerkin="analytic"))(op)
    assert len(analytic.levels) >= 3
    for lp, la in zip(probed.levels[1:], analytic.levels[1:]):
        cp, ca = np.asarray(lp.op.full()), np.asarray(la.op.full())
        assert np.max(np.abs(cp - ca)) <= 1e-13 * np.max(np.abs(cp))
    chol = np.asarray(probed.coarse_chol)
    np.testing.assert_allclose(np.asarray(analytic.coarse_chol), chol, rtol=0, atol=1e-10 * np.max(np.abs(chol)))


@pytest.mark.parametrize("shape", [(25, 94, 107), (3, 5, 5), (10, 40, 41), (24, 200, 3), (30, 2, 2)])
def test_plan_shapes_are_the_shapes_of_the_plan(shape):
    """The level shapes from node counts alone (the cheap hierarchy check) match the plan built
    from coordinates, for odd and even counts and axes too short to coarsen."""
    coords = tuple(np.cumsum(np.r_[0.0, np.linspace(1.0, 2.0, n - 1)]) for n in shape)
    shapes = [shape]
    for tr in mg.plan_coarsening(coords, coarse_size=50):
        shapes.append(tuple(it.n_coarse if it is not None else n for it, n in zip(tr.axes, shapes[-1])))
    assert shapes == mg.plan_shapes(shape, coarse_size=50)


def test_element_maps_on_a_uniform_axis():
    """Uniform linear interpolation halves differences and moves averages by half a difference."""
    it = mg.Interp1D.build(np.linspace(0.0, 1.0, 9))
    beta, gamma = it.element_maps()
    np.testing.assert_allclose(beta, 0.5)
    np.testing.assert_allclose(gamma, [-0.5, 0.5] * 4)
    # an even node count: the last coarse element holds one fine element, mapped identically
    beta, gamma = mg.Interp1D.build(np.linspace(0.0, 1.0, 6)).element_maps()
    assert beta[-1] == 1.0 and gamma[-1] == 0.0


def test_half_stored_stencil_applies_the_symmetric_operator():
    grid, fields = _random_problem(6, 5, 4, ("zmax", "xmin"))
    op = fem.build_operator(grid, fields)
    shape = op.node_shape
    full = jax.jit(lambda op: mg.probe_stencil(op, shape, jnp.float64))(op)
    st = mg.Stencil27.from_full(full)
    np.testing.assert_allclose(np.asarray(st.full()), np.asarray(full), rtol=0, atol=1e-12 * float(jnp.max(jnp.abs(full))))
    u = jnp.asarray(np.random.default_rng(3).random(shape))
    np.testing.assert_allclose(np.asarray(st(u)), np.asarray(op(u)), rtol=1e-12, atol=1e-12 * float(jnp.max(jnp.abs(op(u)))))
    np.testing.assert_allclose(np.asarray(st.diagonal()), np.asarray(op.diagonal()), rtol=1e-12)
    np.testing.assert_allclose(np.asarray(st.z_offdiagonal()), np.asarray(op.z_offdiagonal()), rtol=1e-12, atol=1e-20)


def _largest_constant(text: str) -> int:
    largest = 0
    for m in re.finditer(r"dense<[^>]*> : tensor<([0-9x]+)x[a-z]+[0-9]*>", text):
        largest = max(largest, int(np.prod([int(d) for d in m.group(1).split("x")])))
    return largest


def test_compiled_solver_programs_carry_no_grid_sized_constants():
    """Grid-sized arrays are computed in the program, not compiled in.

    Baking them in (probing masks, cell volumes, a random start vector) made the 2.7M-cell
    programs' text 290 MB, cost ~1 GB of compiler memory and 10 s of compile time.
    """
    grid, fields = _random_problem(40, 36, 6, ("zmax", "zmin", "xmax"))
    f = steady._broadcast_fields(grid, fields, jnp.float64)
    n_lateral = max(len(grid.x), len(grid.y), len(grid.z))
    setup = jax.jit(lambda f: steady._setup(grid, f, jnp.float32, 1, 100)).lower(f).as_text()
    hier = jax.eval_shape(lambda f: steady._setup(grid, f, jnp.float32, 1, 100), f)
    solve = jax.jit(lambda f, h: steady._steady_core(grid, f, h, dtype=jnp.float64, rtol=1e-8,
                                                     max_iterations=50)).lower(f, hier).as_text()
    for text in (setup, solve):
        # 1-D coordinate data and the coarsest level's index lists (27 per coarse node) only
        assert _largest_constant(text) <= max(4 * n_lateral, 27 * 100)
