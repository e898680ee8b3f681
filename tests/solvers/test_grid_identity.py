"""Grids are equal and hash by content, so identical meshes share compiled solver programs."""

import numpy as np

from solvers import TensorGrid, ThermalFields
from solvers import thermal


def grid(nx=4, top=1e-3):
    x = np.linspace(0, 1e-2, nx + 1)
    z = np.linspace(0, top, 3)
    shape = (nx, nx, 2)
    return TensorGrid(x, x, z, np.zeros(shape), ("a",), np.zeros(shape), ("m",))


def fields(g):
    one = np.ones(g.shape)
    return ThermalFields(one, one, one, one, one * 1e6, {"zmax": np.full(g.shape[:2], 1e3)},
                         {"zmax": np.full(g.shape[:2], 300.0)})


def test_equal_by_content():
    a, b, c = grid(), grid(), grid(top=2e-3)
    assert a is not b and a == b and hash(a) == hash(b)
    assert a != c and a != grid(nx=5)
    relabelled = TensorGrid(a.x, a.y, a.z, a.region, ("b",), a.material, a.material_names)
    assert relabelled != a  # names are part of the identity


def test_identical_grids_reuse_compiled_programs():
    a, b = grid(), grid()
    thermal.solve_steady(a, fields(a))
    size = thermal._JIT_CACHE[("steady",)]._cache_size()
    tb = thermal.solve_steady(b, fields(b)).temperature
    assert thermal._JIT_CACHE[("steady",)]._cache_size() == size  # no new compilation for an equal grid
    ta = thermal.solve_steady(a, fields(a)).temperature
    np.testing.assert_array_equal(np.asarray(ta), np.asarray(tb))
