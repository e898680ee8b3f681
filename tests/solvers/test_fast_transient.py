"""Fast JAX transient (V4) and temperature-dependent (V5) solves."""

import numpy as np
import pytest

import solvers
from solvers import PowerTrace, TensorGrid, ThermalFields

# Lumped body: Biot number h t / k = 1e3 * 1e-4 / 4e3 = 2.5e-5
P, H, RHO_C, T_AMB = 1.0, 1e3, 3.45e6, 300.0
SIDE, THICK = 1e-2, 1e-4
TAU = RHO_C * THICK / H


@pytest.fixture(scope="module")
def plate():
    s = (2, 2, 2)
    grid = TensorGrid(np.linspace(0, SIDE, 3), np.linspace(0, SIDE, 3), np.linspace(0, THICK, 3),
                      np.zeros(s, np.int32), ("plate",), np.zeros(s, np.int32), ("cu",))
    e = np.ones(s)
    fields = ThermalFields(kx=4e3 * e, ky=4e3 * e, kz=4e3 * e, heat_capacity=RHO_C * e,
                           source=P / (SIDE * SIDE * THICK) * e,
                           h={"zmax": np.full((2, 2), H)}, ambient={"zmax": np.full((2, 2), T_AMB)})
    return grid, fields


def _exact(t):
    return T_AMB + P / (H * SIDE * SIDE) * (1.0 - np.exp(-np.asarray(t) / TAU))


@pytest.mark.parametrize("method,order", [
    # compile time: one program per step count. TR-BDF2 (the default method) is second order in the
    # default suite through tests/solvers/test_reference_transient.py::test_v4_lumped_body_and_time_order[jax]
    # (the same lumped body on a 2x2x2-cell plate, steps 16/32/64 over one time constant).
    pytest.param("trbdf2", 2, marks=pytest.mark.slow),
    pytest.param("bdf2", 2, marks=pytest.mark.slow),
    pytest.param("euler", 1, marks=pytest.mark.slow),
])
def test_v4_lumped_body_and_time_order(plate, method, order):
    grid, fields = plate
    times = np.array([0.5, 1.0, 2.0]) * TAU
    errors = []
    for n in (10, 20, 40):
        sol = solvers.solve_transient(grid, fields, times=times, dt=TAU / n, method=method)
        assert bool(sol.converged) and sol.steps == 2 * n
        T = np.asarray(sol.temperature).mean(axis=(1, 2, 3))
        errors.append(np.max(np.abs(T - _exact(times))))
    ratios = np.array(errors[:-1]) / np.array(errors[1:])
    assert np.all(np.abs(ratios - 2.0**order) < 0.15 * 2.0**order), (errors, ratios)
    assert errors[-1] < (3e-3 if order == 2 else 5e-2) * P / (H * SIDE * SIDE)


def test_long_transient_reaches_steady_state_and_steady_start_stays(plate):
    grid, fields = plate
    steady = np.asarray(solvers.solve_steady(grid, fields).temperature)
    sol = solvers.solve_transient(grid, fields, times=[40 * TAU], dt=TAU / 2)
    # every step solved to rtol 1e-8 relative to a right-hand side dominated by C T / dt
    assert np.max(np.abs(np.asarray(sol.temperature[-1]) - steady)) < 1e-7 * (steady.max() - T_AMB)
    assert float(sol.heat_out[-1]) == pytest.approx(P, rel=1e-7)
    still = solvers.solve_transient(grid, fields, times=[0.5 * TAU, 2 * TAU], dt=TAU / 4, initial="steady")
    assert np.max(np.abs(np.asarray(still.temperature) - steady)) < 1e-7 * (steady.max() - T_AMB)


def test_power_trace_switches_at_breakpoints(plate):
    """Power off until t1, on after: follows the lumped response shifted by t1."""
    grid, fields = plate
    pattern = np.asarray(fields.source)[None]
    off = fields.with_(source=np.zeros(grid.shape))
    t1 = 0.3 * TAU  # not a multiple of dt: the breakpoint must become a step end
    trace = PowerTrace(patterns=pattern, times=np.array([0.0, t1]), weights=np.array([[0.0], [1.0]]))
    sol = solvers.solve_transient(grid, off, times=[t1, t1 + TAU], dt=TAU / 32, power=trace)
    rise = P / (H * SIDE * SIDE)
    assert np.allclose(np.asarray(sol.temperature[0]), T_AMB, atol=1e-12)
    T = float(np.asarray(sol.temperature[1]).mean())
    assert abs(T - _exact(TAU)) < 1e-3 * rise
    assert np.asarray(sol.power_in) == pytest.approx([0.0, P])


def test_transient_rejects_bad_arguments(plate):
    grid, fields = plate
    with pytest.raises(ValueError, match=r"`solvers.solve_transient\(dt=...\)` must be a positive"):
        solvers.solve_transient(grid, fields, times=[1.0], dt=0.0)
    with pytest.raises(ValueError, match="must be finite, positive and non-decreasing"):
        solvers.solve_transient(grid, fields, times=[-1.0], dt=0.1)


def test_v5_power_law_conductivity_matches_kirchhoff():
    """Uniform source q in a slab on an adiabatic base, Robin top; k = k0 (T/T0)^n.

    Heat flux at height z is q z, so U(T_bottom) - U(T_top) = q L^2 / 2 with the Kirchhoff
    transform U(T) = k0 T0 / (n + 1) ((T/T0)^(n+1) - 1), and T_top = T_amb + q L / h.
    """
    nz, L, k0, t0, n, q, h = 60, 1e-3, 150.0, 300.0, -1.3, 2e10, 1e5
    s = (1, 1, nz)
    grid = TensorGrid(np.array([0, 1e-3]), np.array([0, 1e-3]), np.linspace(0, L, nz + 1),
                      np.zeros(s, np.int32), ("si",), np.zeros(s, np.int32), ("si",))
    e = np.ones(s)
    fields = ThermalFields(kx=k0 * e, ky=k0 * e, kz=k0 * e, heat_capacity=1.6e6 * e, source=q * e,
                           h={"zmax": np.full((1, 1), h)}, ambient={"zmax": np.full((1, 1), t0)})
    sol = solvers.solve_nonlinear(grid, fields, k_exponent=n, reference_temperature=t0, tolerance=1e-8)
    t_top = t0 + q * L / h
    u = lambda T: k0 * t0 / (n + 1) * ((T / t0) ** (n + 1) - 1)  # noqa: E731
    t_bottom = t0 * ((u(t_top) + q * L**2 / 2) * (n + 1) / (k0 * t0) + 1) ** (1 / (n + 1))
    T = np.asarray(sol.temperature)
    assert bool(sol.converged) and 3 <= int(sol.nonlinear_iterations) <= 30
    assert T[0, 0, -1] == pytest.approx(t_top, rel=1e-10)
    # element-mean conductivity: O(dz^2) discretisation error, ~3e-6 of the rise at nz=60
    assert abs(T[0, 0, 0] - t_bottom) < 2e-5 * (t_bottom - t0)
    # n = 0 is the linear problem
    lin = solvers.solve_nonlinear(grid, fields, k_exponent=0.0, reference_temperature=t0)
    assert int(lin.nonlinear_iterations) == 1
    assert np.allclose(np.asarray(lin.temperature), np.asarray(solvers.solve_steady(grid, fields).temperature))
