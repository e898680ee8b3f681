"""Grids are equal and hash by content, so identical meshes share compiled solver programs."""

import numpy as np

from solvers import TensorGrid, ThermalFields
from solvers import _jit, steady


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
    steady.solve_steady(a, fields(a))
    size = _jit.JIT_CACHE[("steady",)]._cache_size()
    tb = steady.solve_steady(b, fields(b)).temperature
    assert _jit.JIT_CACHE[("steady",)]._cache_size() == size  # no new compilation for an equal grid
    ta = steady.solve_steady(a, fields(a)).temperature
    np.testing.assert_array_equal(np.asarray(ta), np.asarray(tb))


def test_meshes_with_equal_node_counts_share_compiled_programs():
    """Only node counts are compiled in: a thicker stack (other z coordinates) and other x-y
    spacing reuse the programs, and the answers still follow the geometry exactly."""
    a = grid(top=1e-3)
    thin = steady.solve_steady(a, fields(a))
    sizes = {k: f._cache_size() for k, f in _jit.JIT_CACHE.items() if k in (("setup",), ("steady",))}
    x = np.cumsum(np.r_[0.0, [1.0, 3.0, 2.0, 4.0]]) * 1e-3  # graded, same 4 cells
    for g in (grid(top=2e-3), TensorGrid(x, x, np.linspace(0, 1.5e-3, 3), a.region, ("a",), a.material, ("m",))):
        sol = steady.solve_steady(g, fields(g))
        assert {k: _jit.JIT_CACHE[k]._cache_size() for k in sizes} == sizes
        # 1-D check: all heat leaves at the top
        area = (g.x[-1] - g.x[0]) * (g.y[-1] - g.y[0])
        power = 1e6 * area * (g.z[-1] - g.z[0])
        top = np.asarray(sol.temperature)[..., -1]
        assert float(sol.energy_balance) < 1e-8
        assert abs(float(np.asarray(sol.power_in)) - power) < 1e-9 * power
        rise = power / (1e3 * area)  # laterally uniform: the top face is at T_amb + P / (h A)
        np.testing.assert_allclose(top, 300.0 + rise, rtol=0, atol=1e-6 * rise)
    # the thicker stack is hotter (uniform k = 1: the rise through the stack grows with t^2)
    thick = steady.solve_steady(grid(top=2e-3), fields(grid(top=2e-3)))
    assert float(thick.max_temperature) > float(thin.max_temperature) + 1.0
