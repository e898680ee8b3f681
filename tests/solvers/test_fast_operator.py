"""V8: the matrix-free JAX operator equals scikit-fem's assembled Q1 matrix to round-off."""

import numpy as np
import pytest

from solvers import TensorGrid, ThermalFields, fem, reference


def _random_problem(seed: int):
    rng = np.random.default_rng(seed)
    x = np.cumsum(np.r_[0, rng.uniform(0.5e-3, 2e-3, 5)])
    y = np.cumsum(np.r_[0, rng.uniform(0.5e-3, 2e-3, 4)])
    z = np.cumsum(np.r_[0, rng.uniform(2e-6, 8e-4, 6)])  # graded, down to micrometre layers
    shape = (5, 4, 6)
    grid = TensorGrid(x, y, z, np.zeros(shape, np.int32), ("all",), np.zeros(shape, np.int32), ("m",))
    fields = ThermalFields(
        kx=rng.uniform(0.5, 400, shape), ky=rng.uniform(0.5, 400, shape), kz=rng.uniform(0.5, 400, shape),
        heat_capacity=rng.uniform(1e6, 3e6, shape), source=rng.uniform(0, 1e8, shape),
        h={"zmax": rng.uniform(1e3, 2e4, (5, 4)), "xmin": rng.uniform(1, 10, (4, 6)),
           "ymax": rng.uniform(1, 10, (5, 6)), "zmin": rng.uniform(100, 500, (5, 4))},
        ambient={"zmax": rng.uniform(290, 300, (5, 4)), "xmin": np.full((4, 6), 300.0),
                 "ymax": rng.uniform(290, 300, (5, 6)), "zmin": np.full((5, 4), 310.0)},
    )
    return grid, fields


@pytest.fixture(scope="module", params=[0, 1])
def problem(request):
    grid, fields = _random_problem(request.param)
    K, b = reference.assemble(grid, fields)
    C = reference.assemble_capacity(grid, fields)
    return grid, fields, K, b, C


def _rel(a, b):
    return np.max(np.abs(np.ravel(a) - np.ravel(b))) / np.max(np.abs(b))


def test_stiffness_matches_scikit_fem(problem):
    grid, fields, K, _, _ = problem
    rng = np.random.default_rng(5)
    for _ in range(3):
        v = rng.standard_normal(grid.node_shape)
        assert _rel(fem.stiffness_matvec(grid, fields, v), K @ v.ravel()) < 1e-12


def test_prepared_operator_is_the_same(problem):
    grid, fields, K, _, _ = problem
    v = np.random.default_rng(6).standard_normal(grid.node_shape)
    op = fem.build_operator(grid, fields).prepared()
    out = fem.from_work(op(fem.to_work(v)))
    assert _rel(out, K @ v.ravel()) < 1e-12


def test_load_vector_matches_scikit_fem(problem):
    grid, fields, _, b, _ = problem
    assert _rel(fem.from_work(fem.load_vector(grid, fields)), b) < 1e-12


def test_diagonal_and_z_couplings_match(problem):
    grid, fields, K, _, _ = problem
    op = fem.build_operator(grid, fields)
    assert _rel(fem.from_work(op.diagonal()), K.diagonal()) < 1e-12
    ids = np.arange(grid.n_nodes).reshape(grid.node_shape)
    upper = np.asarray(K[ids[:, :, :-1].ravel(), ids[:, :, 1:].ravel()]).ravel()
    assert _rel(fem.from_work(op.z_offdiagonal()), upper) < 1e-12


def test_capacity_matches_scikit_fem(problem):
    grid, fields, _, _, C = problem
    v = np.random.default_rng(7).standard_normal(grid.node_shape)
    assert _rel(fem.capacity_matvec(grid, fields, v), C @ v.ravel()) < 1e-12
    assert _rel(fem.lumped_capacity(grid, fields), np.asarray(C.sum(axis=1)).ravel()) < 1e-12


def test_operator_with_mass(problem):
    grid, fields, K, _, C = problem
    v = np.random.default_rng(8).standard_normal(grid.node_shape)
    op = fem.build_operator(grid, fields)
    c = fem.to_work(np.asarray(fields.heat_capacity))
    a = op.with_mass(c, 250.0)
    assert _rel(fem.from_work(a(fem.to_work(v))), (K + 250.0 * C) @ v.ravel()) < 1e-12
    lumped = np.asarray(C.sum(axis=1)).ravel()
    al = op.with_mass(c, 250.0, lumped=True)
    assert _rel(fem.from_work(al(fem.to_work(v))), K @ v.ravel() + 250.0 * lumped * v.ravel()) < 1e-12
    assert _rel(fem.from_work(al.diagonal()), K.diagonal() + 250.0 * lumped) < 1e-12
