"""The solver interface: MultigridCG and ReferenceAMG give the same answers, types and errors.

Also: state reuse (one set-up, many right-hand sides), measured statistics, the coupled
transient, the one energy balance, get_solver, and MultigridCG's precision policy.
"""

import os
import subprocess
import sys
import textwrap

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import solvers
from solvers import (
    MultigridCG,
    ReferenceAMG,
    SolveError,
    TensorGrid,
    ThermalFields,
    ThermalSolution,
    ThermalSolver,
    TransientSolution,
    get_solver,
    reference,
    steady,
)
from solvers.post import energy_balance, relative_imbalance

SOLVERS = {"jax": MultigridCG, "reference": ReferenceAMG}
backends = pytest.mark.parametrize("name", sorted(SOLVERS))


def _problem():
    """Small graded stack: 2 um bond layer, 650x contrast, Robin on three faces."""
    x = np.array([0.0, 1.0, 2.5, 3.0, 4.5]) * 1e-3
    y = np.array([0.0, 1.5, 2.0, 4.0]) * 1e-3
    z = np.cumsum([0.0, 300e-6, 2e-6, 2e-6, 100e-6, 50e-6, 500e-6])
    shape = (len(x) - 1, len(y) - 1, len(z) - 1)
    region = np.zeros(shape, np.int32)
    region[:, :, 1:3] = 1
    region[1:3, 1:, 3:] = 2
    k = np.select([region == 0, region == 1, region == 2], [390.0, 0.6, 130.0])
    q = np.where(region == 2, 5e9, 0.0)
    grid = TensorGrid(x, y, z, region, ("lid", "bond", "die"), region, ("cu", "b", "si"))
    fields = ThermalFields(
        kx=k, ky=0.5 * k, kz=2.0 * k, heat_capacity=np.full(shape, 1.7e6), source=q,
        h={"zmax": np.full(shape[:2], 2e4), "zmin": np.full(shape[:2], 500.0), "xmax": np.full((shape[1], shape[2]), 50.0)},
        ambient={"zmax": np.full(shape[:2], 318.0), "zmin": np.full(shape[:2], 330.0),
                 "xmax": np.full((shape[1], shape[2]), 300.0)},
    )
    return grid, fields


@pytest.fixture(scope="module")
def problem():
    return _problem()


# --------------------------------------------------------------------------------------
# steady
def test_backends_agree_with_the_same_result_type(problem):
    grid, fields = problem
    fast, ref = MultigridCG().solve(grid, fields), ReferenceAMG().solve(grid, fields)
    assert type(fast) is type(ref) is ThermalSolution
    rise = float(ref.max_temperature) - 300.0
    assert abs(float(fast.max_temperature) - float(ref.max_temperature)) < 1e-6 * rise
    np.testing.assert_allclose(np.asarray(fast.temperature), ref.temperature, rtol=0, atol=1e-6 * rise)
    for sol in (fast, ref):
        assert bool(sol.converged) and 0 < int(sol.iterations) and float(sol.relative_residual) <= 1e-8
        assert set(sol.heat_out) == {"zmax", "zmin", "xmax"} and float(sol.energy_balance) < 1e-7
        assert sol.residuals.shape == (int(sol.iterations) + 1,) and sol.residuals[0] > 1e-8
        assert {"setup", "solve", "total"} <= set(sol.timings)
        # the energy balance in the result is the one of its temperature, by the one formula
        assert float(sol.energy_balance) == pytest.approx(energy_balance(grid, fields, sol.temperature)[2],
                                                          rel=1e-3, abs=1e-13)
    # measured, not constant: the reference's true residual is recomputed from its answer
    K, b = reference.assemble(grid, fields)
    t0 = reference._reference_temperature(grid, fields, "test")
    rhs = b - t0 * (K @ np.ones(grid.n_nodes))
    measured = np.linalg.norm(rhs - K @ (ref.temperature.ravel() - t0)) / np.linalg.norm(rhs)
    assert float(ref.relative_residual) == pytest.approx(measured, rel=1e-6)


def test_reference_load_equals_the_assembled_load(problem):
    grid, fields = problem
    _, b = reference.assemble(grid, fields)
    np.testing.assert_allclose(reference.load(grid, fields), b, rtol=1e-13, atol=1e-13 * np.abs(b).max())


@backends
def test_state_reuse_gives_the_fresh_answer_without_a_new_setup(name, problem, monkeypatch):
    grid, fields = problem
    solver = SOLVERS[name]()
    calls = []
    if name == "jax":
        setup = steady._setup_jit
        monkeypatch.setattr(steady, "_setup_jit", lambda *a, **k: calls.append(1) or setup(*a, **k))
    else:
        assemble = reference.assemble
        monkeypatch.setattr(reference, "assemble", lambda *a, **k: calls.append(1) or assemble(*a, **k))
    state = solver.init(grid, fields)
    assert len(calls) == 1
    q = np.asarray(fields.source)
    for i, (scale, shift) in enumerate(((1.0, 0.0), (2.5, 0.0), (0.3, 5.0))):
        f = fields.with_(source=scale * q, ambient={k: v + shift for k, v in fields.ambient.items()})
        reused = solver.solve(grid, f, state=state)
        assert "setup" not in reused.timings
        assert len(calls) == 1 + i  # nothing rebuilt by the solve with the state
        fresh = solver.solve(grid, f)
        rise = float(fresh.max_temperature) - 300.0
        np.testing.assert_allclose(np.asarray(reused.temperature), np.asarray(fresh.temperature), rtol=0,
                                   atol=1e-7 * rise)
        assert bool(reused.converged) and float(reused.relative_residual) <= solver.rtol
    assert len(calls) == 4  # one set-up per fresh solve


def test_state_for_another_grid_is_refused(problem):
    grid, fields = problem
    small = TensorGrid(grid.x[:3], grid.y, grid.z, grid.region[:2], grid.region_names, grid.material[:2],
                       grid.material_names)
    state = MultigridCG(coarse_size=8).init(grid, fields)
    sub = fields.with_(kx=fields.kx[:2], ky=fields.ky[:2], kz=fields.kz[:2], heat_capacity=fields.heat_capacity[:2],
                       source=fields.source[:2], h={"zmax": fields.h["zmax"][:2]}, ambient={"zmax": fields.ambient["zmax"][:2]})
    with pytest.raises(ValueError, match="built for another grid"):
        MultigridCG(coarse_size=8).solve(small, sub, state=state)
    with pytest.raises(ValueError, match="built for .* nodes"):
        ReferenceAMG().solve(small, sub, state=ReferenceAMG().init(grid, fields))


@backends
def test_non_convergence_raises_solve_error_with_measured_residuals(name, problem):
    grid, fields = problem
    solver = SOLVERS[name](rtol=1e-13, max_iterations=1)
    with pytest.raises(SolveError, match=r"did not converge: true relative residual .* after 1 .*max_iterations=1"
                       ) as info:
        solver.solve(grid, fields)
    err = info.value
    assert err.residual_history is not None and np.asarray(err.residual_history)[0] > 0
    sol = solver.solve(grid, fields, throw=False)
    assert not bool(sol.converged) and int(sol.iterations) == 1
    assert 1e-13 < float(sol.relative_residual) < 1.0


def test_nonlinear_backends_agree(problem):
    grid, fields = problem
    kw = dict(k_exponent=np.where(grid.region == 2, -1.3, 0.0), reference_temperature=300.0, tolerance=1e-7)
    fast = MultigridCG().solve_nonlinear(grid, fields, **kw)
    ref = ReferenceAMG().solve_nonlinear(grid, fields, **kw)
    assert type(fast) is type(ref) is ThermalSolution
    for sol in (fast, ref):
        assert bool(sol.converged) and int(sol.nonlinear_iterations) >= 2 and int(sol.iterations) > 0
    # k at the element mean (fast) vs at quadrature points (reference): discretisation-level agreement
    rise = float(ref.max_temperature) - 300.0
    assert abs(float(fast.max_temperature) - float(ref.max_temperature)) < 1e-3 * rise
    linear = ReferenceAMG().solve(grid, fields)
    assert float(ref.max_temperature) > float(linear.max_temperature)  # silicon conducts less when hot


# --------------------------------------------------------------------------------------
# traceability
def test_multigrid_solve_is_differentiable_and_vmappable(problem):
    grid, fields = problem
    solver = MultigridCG(rtol=1e-12, max_iterations=100)
    state = solver.init(grid, fields)
    q = jnp.asarray(fields.source)

    def tmean(s, state=None):
        return jnp.mean(solver.solve(grid, fields.with_(source=s * q), state=state).temperature)

    both = jax.jit(jax.value_and_grad(tmean))   # values and gradients from one program per state argument
    value = lambda s: both(s)[0]  # noqa: E731
    # T is affine in the source: d mean(T) / ds = mean(T(1)) - mean(T(0))
    slope = float(value(1.0) - value(0.0))
    for st in (None, state):
        assert float(both(0.7, st)[1]) == pytest.approx(slope, rel=1e-8)
    batched = jax.vmap(lambda s: tmean(s, state))(jnp.asarray([0.5, 2.0]))
    np.testing.assert_allclose(np.asarray(batched), [float(value(0.5)), float(value(2.0))], rtol=1e-12)


def test_reference_is_not_traceable(problem):
    grid, fields = problem
    with pytest.raises(TypeError, match=r"not traceable.*MultigridCG"):
        jax.grad(lambda s: ReferenceAMG().solve(grid, fields.with_(source=s * fields.source)).temperature.max())(1.0)


# --------------------------------------------------------------------------------------
# transients
def _plate():
    """A 3-D plate with a patch source (1352 nodes: more than both backends solve directly)."""
    x = np.linspace(0, 4e-3, 13)
    z = np.array([0.0, 2e-6, 1e-4, 2e-4, 3e-4, 5e-4, 6e-4, 8e-4])
    shape = (12, 12, 7)
    g = TensorGrid(x, x, z, np.zeros(shape, np.int32), ("all",), np.zeros(shape, np.int32), ("si",))
    k = np.full(shape, 150.0)
    k[:, :, 0] = 0.6
    q = np.zeros(shape)
    q[3:8, 4:9, 1] = 4e9
    f = ThermalFields(kx=k, ky=k, kz=k, heat_capacity=np.full(shape, 1.6e6), source=np.zeros(shape),
                      h={"zmax": np.full((12, 12), 2e4)}, ambient={"zmax": np.full((12, 12), 300.0)})
    return g, f, q


@pytest.fixture(scope="module")
def plate_runs():
    g, f, q = _plate()
    dt, n = 2e-3, 12
    T0 = np.full(g.node_shape, 300.0)
    times = dt * np.arange(1, n + 1)
    out = {}
    for name, solver in (("jax", MultigridCG(rtol=1e-11, transient_method="bdf2")), ("reference", ReferenceAMG(rtol=1e-11))):
        out[name, "transient"] = solver.solve_transient(g, f.with_(source=q), times=times, dt=dt, initial=T0)
        out[name, "coupled"] = solver.solve_transient_coupled(g, f, source=lambda te, t: q, duration=n * dt, dt=dt,
                                                              initial=T0)
    return g, q, out


def test_coupled_with_a_constant_source_matches_bdf2(plate_runs):
    g, q, out = plate_runs
    reference_T = np.asarray(out["reference", "transient"].temperature)
    rise = reference_T.max() - 300.0
    for key, sol in out.items():
        assert isinstance(sol, TransientSolution) and bool(sol.converged) and sol.stopped == ""
        T = np.asarray(sol.temperature)
        if key[1] == "coupled":
            assert np.asarray(sol.times)[0] == 0.0 and sol.steps == 12
            np.testing.assert_allclose(T[0], 300.0)
            T = T[1:]
        np.testing.assert_allclose(T, reference_T, rtol=0, atol=1e-8 * rise, err_msg=str(key))
        p = float(np.sum(q * g.cell_volumes()))
        np.testing.assert_allclose(np.asarray(sol.power_in)[-1], p, rtol=1e-12)
        assert 0 < float(np.asarray(sol.heat_out)[-1]) < p  # still heating up


def test_coupled_reports_the_measured_residual():
    g, f, q = _plate()
    T0 = np.full(g.node_shape, 300.0)
    src = lambda te, t: q * (1 + 0.004 * (te - 300.0))  # noqa: E731  (leakage-like)
    for solver_cls in (MultigridCG, ReferenceAMG):
        got = {}
        for rtol in (1e-5, 1e-10):
            sol = solver_cls(rtol=rtol).solve_transient_coupled(g, f, source=src, duration=0.02, dt=2e-3, initial=T0)
            assert bool(sol.converged) and 0 < float(sol.max_relative_residual) <= rtol
            got[rtol] = sol
        assert float(got[1e-10].max_relative_residual) < 1e-3 * float(got[1e-5].max_relative_residual)
        assert int(got[1e-10].iterations) > int(got[1e-5].iterations)
        assert int(got[1e-10].max_step_iterations) >= 1


@backends
def test_coupled_non_convergence_raises(name):
    g, f, q = _plate()
    solver = SOLVERS[name](rtol=1e-14, max_iterations=1)
    with pytest.raises(SolveError, match=r"step 1 .* did not converge: true relative residual") as info:
        solver.solve_transient_coupled(g, f, source=lambda te, t: q, duration=4e-3, dt=2e-3,
                                       initial=np.full(g.node_shape, 300.0))
    assert not bool(info.value.solution.converged) and float(info.value.solution.max_relative_residual) > 1e-14


# --------------------------------------------------------------------------------------
# energy balance, get_solver
def test_energy_balance_numpy_and_traced_agree(problem):
    grid, fields = problem
    T = np.asarray(ReferenceAMG().solve(grid, fields).temperature) + np.linspace(0, 1, grid.n_nodes).reshape(grid.node_shape)
    p, out, rel = energy_balance(grid, fields, T)
    assert isinstance(p, float) and isinstance(rel, float)
    pj, outj, relj = jax.jit(lambda T: energy_balance(grid, fields, T))(jnp.asarray(T))
    assert float(pj) == pytest.approx(p, rel=1e-13)
    assert set(outj) == set(out)
    for face in out:
        assert float(outj[face]) == pytest.approx(out[face], rel=1e-12)
    assert float(relj) == pytest.approx(rel, rel=1e-10) and rel > 1e-3
    # the formula
    assert relative_imbalance(10.0, {"a": 7.0, "b": -1.0}) == pytest.approx(4.0 / 10.0)
    assert relative_imbalance(1.0, {"a": 3.0}, stored=-2.0) == pytest.approx(0.0)
    assert relative_imbalance(0.0, {}) == 0.0


def test_get_solver():
    assert get_solver("jax") == MultigridCG() and isinstance(get_solver("jax"), ThermalSolver)
    assert get_solver("reference", rtol=1e-10) == ReferenceAMG(rtol=1e-10)
    with pytest.raises(ValueError, match=r"unknown solver; choose one of 'jax' \(MultigridCG\), 'reference'"):
        get_solver("amg")
    with pytest.raises(ValueError, match=r"unknown option\(s\) tol; ReferenceAMG takes rtol, max_iterations"):
        get_solver("reference", tol=1e-3)
    with pytest.raises(ValueError, match=r"`MultigridCG\(rtol=...\)` must be"):
        MultigridCG(rtol=0.0)
    assert "get_solver" in solvers.__all__ and "MultigridCG" in solvers.__all__


# --------------------------------------------------------------------------------------
# precision policy (a fresh interpreter without the x64 flag of tests/conftest.py)
_NO_X64 = textwrap.dedent("""
    import time
    import jax, numpy as np
    from solvers import MultigridCG, TensorGrid, ThermalFields
    assert not jax.config.jax_enable_x64
    x = np.linspace(0, 4e-3, 5); z = np.array([0.0, 2e-6, 3e-4, 8e-4]); shape = (4, 4, 3)
    g = TensorGrid(x, x, z, np.zeros(shape, np.int32), ("a",), np.zeros(shape, np.int32), ("m",))
    k = np.ones(shape) * 150.0; k[:, :, 0] = 0.6
    f = ThermalFields(kx=k, ky=k, kz=k, heat_capacity=np.full(shape, 1.6e6), source=np.full(shape, 1e9),
                      h={"zmax": np.full((4, 4), 2e4)}, ambient={"zmax": np.full((4, 4), 300.0)})
    solver = MultigridCG()
    sol = solver.solve(g, f)
    leaves = jax.tree_util.tree_leaves(sol)
    assert not any(isinstance(a, jax.Array) for a in leaves), [type(a) for a in leaves]
    assert sol.temperature.dtype == np.float64 and bool(sol.converged), sol.temperature.dtype
    assert float(sol.relative_residual) <= 1e-8, float(sol.relative_residual)
    state = solver.init(g, f)
    assert not any(isinstance(a, jax.Array) for a in jax.tree_util.tree_leaves(state))
    again = solver.solve(g, f, state=state)
    assert again.temperature.dtype == np.float64 and float(again.relative_residual) <= 1e-8
    assert not jax.config.jax_enable_x64
    t0 = time.perf_counter()
    try:
        jax.grad(lambda s: solver.solve(g, f.with_(source=s * f.source)).temperature.max())(1.0)
    except ValueError as e:
        msg = str(e)
    else:
        raise SystemExit("no error")
    took = time.perf_counter() - t0
    print(f"RAISED in {took:.3f} s: {msg}")
    assert took < 1.0, took
    low = MultigridCG(dtype="float32", rtol=1e-5)
    g32 = jax.grad(lambda s: low.solve(g, f.with_(source=s * f.source)).temperature.max())(1.0)
    assert np.isfinite(float(g32)) and float(g32) > 0
""")


def test_precision_policy_without_the_x64_flag():
    env = {k: v for k, v in os.environ.items() if k != "JAX_ENABLE_X64"}
    env["JAX_PLATFORMS"] = "cpu"
    p = subprocess.run([sys.executable, "-c", _NO_X64], capture_output=True, text=True, env=env, timeout=300)
    assert p.returncode == 0, p.stdout + p.stderr
    assert 'enable it with `jax.config.update("jax_enable_x64", True)` at the start of the script, or pass ' \
           '`MultigridCG(dtype="float32", rtol=1e-5)`' in p.stdout
