"""A steady solve with and without a starting field runs one compiled program per node count."""

import jax
import numpy as np

from solvers import MultigridCG, TensorGrid, ThermalFields
from solvers._jit import JIT_CACHE


def _problem(n=6):
    x = np.linspace(0, 4e-3, n + 1)
    z = np.linspace(0, 1e-3, 4)
    g = TensorGrid(x, x, z, np.zeros((n, n, 3), np.int32), ("all",), np.zeros((n, n, 3), np.int32), ("si",))
    e = np.ones((n, n, 3))
    src = np.zeros((n, n, 3))
    src[: n // 2, : n // 2, 2] = 2e9
    return g, ThermalFields(kx=150 * e, ky=150 * e, kz=150 * e, heat_capacity=1.6e6 * e, source=src,
                            h={"zmin": np.full((n, n), 5e3)}, ambient={"zmin": np.full((n, n), 300.0)})


# a multigrid hierarchy (not one dense solve), in float64 as the traced path builds it
_SOLVER = MultigridCG(rtol=1e-6, coarse_size=100, preconditioner_dtype="float64")


def test_a_start_field_does_not_add_a_program_and_no_start_is_the_plain_solve():
    g, f = _problem(8)
    solver = _SOLVER
    plain = solver.solve(g, f)
    programs = JIT_CACHE[("steady",)]._cache_size()
    started = solver.solve(g, f, initial_temperature=np.asarray(plain.temperature) + 1.0)
    assert JIT_CACHE[("steady",)]._cache_size() == programs  # the same program, started from a field
    # both reach the same field to the solver's tolerance
    rise = float(np.max(plain.temperature) - 300.0)
    assert np.max(np.abs(started.temperature - plain.temperature)) < 1e-4 * rise
    # no start: the same answer as the traceable solve, which takes no start at all (x0=None path)
    traced = jax.jit(lambda ff: solver.solve(g, ff).temperature)(f)
    assert np.allclose(plain.temperature, traced, rtol=1e-12, atol=0)


def test_relative_to_load_stops_at_the_tolerance_of_the_whole_load_so_a_good_start_saves_iterations():
    g, f = _problem(8)
    solver = _SOLVER
    plain = solver.solve(g, f)
    near = np.asarray(plain.temperature) + 1e-3 * np.sin(np.arange(g.n_nodes)).reshape(g.node_shape)
    strict = solver.solve(g, f, initial_temperature=near)  # rtol of the start's own (small) residual
    loose = solver.solve(g, f, initial_temperature=near, relative_to_load=True)
    assert int(loose.iterations) < int(strict.iterations)
    # the answer is the plain solve's to the tolerance: a relative residual of 1e-6 of the load
    rise = float(np.max(plain.temperature) - 300.0)
    assert np.max(np.abs(loose.temperature - plain.temperature)) < 1e-4 * rise
    assert float(loose.relative_residual) <= 1e-6 and bool(loose.converged)


def test_the_set_up_program_compiles_with_its_own_xla_options_to_the_same_hierarchy():
    """The multigrid set-up is compiled without XLA:CPU's fusion emitters (`FAST_COMPILE`: 30-40 % less
    compile time, benchmarks/RESULTS.md); the hierarchy it builds is the one the emitters build."""
    from solvers import _jit, steady
    from solvers.grid import GridGeometry

    g, f = _problem(8)
    _SOLVER.solve(g, f)
    # FAST_COMPILE on the CPU, less what XLA_FLAGS sets (the suite turns the emitters off for every program)
    assert JIT_CACHE[("setup",)]._options == (_jit._options(_jit.FAST_COMPILE) if jax.default_backend() == "cpu" else None)
    geom = GridGeometry.of(g)
    fn = jax.jit(lambda geom, f: steady._setup(geom, f, np.float64, 1, 100))
    lowered = fn.lower(geom, f)
    built = [jax.tree_util.tree_leaves(lowered.compile(compiler_options={"xla_cpu_use_fusion_emitters": on})(geom, f))
             for on in (True, False)]
    assert len(built[0]) == len(built[1]) > 3
    for a, b in zip(*built):
        a, b = np.asarray(a), np.asarray(b)
        assert a.shape == b.shape and a.dtype == b.dtype
        if np.issubdtype(a.dtype, np.floating):
            np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12 * float(np.max(np.abs(a)) or 1.0))
        else:
            np.testing.assert_array_equal(a, b)


def test_the_iteration_budget_is_data_so_another_budget_reuses_the_program():
    """`max_iterations` is not compiled in: a solve that ran out of iterations and the retry with a
    larger budget (the remedy its error names) run one program."""
    g, f = _problem(8)
    full = _SOLVER.solve(g, f)
    programs = JIT_CACHE[("steady",)]._cache_size()
    short = MultigridCG(rtol=1e-6, coarse_size=100, preconditioner_dtype="float64", max_iterations=1)
    cut = short.solve(g, f, throw=False)
    assert not bool(cut.converged) and int(cut.iterations) == 1 and cut.residuals.shape == (2,)
    longer = MultigridCG(rtol=1e-6, coarse_size=100, preconditioner_dtype="float64", max_iterations=900)
    again = longer.solve(g, f)
    assert JIT_CACHE[("steady",)]._cache_size() == programs
    assert int(again.iterations) == int(full.iterations) > 1
    np.testing.assert_array_equal(np.asarray(again.temperature), np.asarray(full.temperature))
    np.testing.assert_array_equal(again.residuals, full.residuals)


def test_compiling_with_makes_its_own_program_with_the_same_answer():
    """`compiling_with(QUICK_COMPILE)` (the accuracy estimate's coarse grids) makes another program of the
    same signature, compiled with those options over the function's own; it solves to the same answer
    (other LLVM optimisations only reorder floating-point operations) and leaves the plain program alone."""
    from solvers import _jit

    g, f = _problem(8)
    plain = _SOLVER.solve(g, f)
    sizes = {k: JIT_CACHE[k]._cache_size() for k in (("setup",), ("steady",))}
    expected = _jit._options(_jit.QUICK_COMPILE)  # less what XLA_FLAGS sets (the suite sets some)
    new = 0 if expected is None else 1
    with _jit.compiling_with(_jit.QUICK_COMPILE):
        quick = _SOLVER.solve(g, f)
        with _jit.compiling_with(None):  # None changes nothing
            again = _SOLVER.solve(g, f)
    assert {k: JIT_CACHE[k]._cache_size() for k in sizes} == {k: n + new for k, n in sizes.items()}
    if expected is not None:
        assert dict([sig[-1] for sig in JIT_CACHE[("steady",)]._programs if sig[-1]][-1]) == expected
    assert int(quick.iterations) == int(plain.iterations)
    rise = float(np.max(plain.temperature) - 300.0)
    np.testing.assert_allclose(np.asarray(quick.temperature), np.asarray(plain.temperature), rtol=0, atol=1e-10 * rise)
    np.testing.assert_array_equal(np.asarray(again.temperature), np.asarray(quick.temperature))
    _SOLVER.solve(g, f)  # outside the block: the plain program again, no new one
    assert {k: JIT_CACHE[k]._cache_size() for k in sizes} == {k: n + new for k, n in sizes.items()}


def test_options_set_in_xla_flags_win_over_the_programs_own(monkeypatch):
    from solvers import _jit

    if jax.default_backend() != "cpu":
        assert _jit._options(_jit.QUICK_COMPILE) is None  # XLA:CPU options: not for another backend
        return
    monkeypatch.setenv("XLA_FLAGS", "--xla_backend_optimization_level=0 --xla_cpu_use_fusion_emitters=false")
    assert _jit._options(_jit.QUICK_COMPILE) == {"xla_llvm_disable_expensive_passes": True}
    assert _jit._options(_jit.FAST_COMPILE) is None
    monkeypatch.setenv("XLA_FLAGS", "")
    assert _jit._options(_jit.QUICK_COMPILE) == _jit.QUICK_COMPILE
