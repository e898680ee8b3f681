"""Transient with a temperature-dependent source: exact lumped-body solution and time order.

Every test runs on both backends (``solve_transient_coupled`` of MultigridCG and ReferenceAMG).
"""

import numpy as np
import pytest

from solvers import MultigridCG, ReferenceAMG, TensorGrid, ThermalFields

SOLVERS = {"jax": MultigridCG(rtol=1e-12, max_iterations=50), "reference": ReferenceAMG(rtol=1e-12)}
backends = pytest.mark.parametrize("backend", sorted(SOLVERS))

# A thin, very conductive plate (Biot = h t / k = 1e4 * 1e-4 / 1e4 = 1e-4): lumped.
A, T_PLATE, K, RHO_C, H, T_AMB = 1e-4, 1e-4, 1e4, 2e6, 1e4, 300.0
P0, ALPHA = 20.0, 0.004  # source P0 (1 + alpha (T - T_amb)), W and 1/K


def setup():
    x = np.linspace(0, 1e-2, 3)
    z = np.linspace(0, T_PLATE, 2)
    shape = (2, 2, 1)
    g = TensorGrid(x, x, z, np.zeros(shape), ("plate",), np.zeros(shape), ("m",))
    one = np.ones(shape)
    f = ThermalFields(kx=K * one, ky=K * one, kz=K * one, heat_capacity=RHO_C * one, source=0 * one,
                      h={"zmax": np.full((2, 2), H)}, ambient={"zmax": np.full((2, 2), T_AMB)})
    return g, f


def exact(t):
    # C θ' = P0 + (P0 α − hA) θ  =>  θ = P0/(hA − P0 α) (1 − exp(−(hA − P0 α) t / C))
    c = RHO_C * A * T_PLATE
    lam = H * A - P0 * ALPHA
    return T_AMB + P0 / lam * (1 - np.exp(-lam * t / c))


def run(backend, dt, duration=0.05):
    g, f = setup()
    vol = A * T_PLATE
    src = lambda te, t: np.full(g.shape, P0 * (1 + ALPHA * (float(np.mean(te)) - T_AMB)) / vol)  # noqa: E731
    return SOLVERS[backend].solve_transient_coupled(g, f, source=src, duration=duration, dt=dt,
                                                    initial=np.full(g.node_shape, T_AMB))


# The plate conducts heat to its cooled face, so it is not exactly lumped: its internal drop
# P·t/(k·A) ≈ 2e-3 K bounds the agreement with the lumped formula (Biot number 1e-4).
BIOT_TOL = 2.5e-3


@backends
def test_lumped_body_with_temperature_dependent_source(backend):
    tau = RHO_C * A * T_PLATE / (H * A - P0 * ALPHA)  # 0.0217 s
    # At dt = τ/160 the backward-Euler start step leaves ~dt²·θ''/2 ≈ 4e-4 K; add it to the floor.
    r = run(backend, tau / 160)
    assert bool(r.converged) and r.stopped == "" and r.steps == int(np.ceil(0.05 / (tau / 160) - 1e-9))
    for t, temp in zip(r.times, r.temperature):
        assert float(np.mean(temp)) == pytest.approx(exact(t), abs=BIOT_TOL + 1e-3)


@backends
def test_time_order_is_two_with_the_extrapolated_source(backend):
    # Self-convergence against a very fine step isolates the time error from the Biot floor.
    tau = RHO_C * A * T_PLATE / (H * A - P0 * ALPHA)
    ref = float(np.mean(run(backend, tau / 640).temperature[-1]))
    errors = [abs(float(np.mean(run(backend, tau / n).temperature[-1])) - ref) for n in (10, 20, 40)]
    rate = np.polyfit(np.log([1, 0.5, 0.25]), np.log(errors), 1)[0]
    assert abs(rate - 2) < 0.15, (errors, rate)


@backends
def test_power_and_heat_balance_reach_steady(backend):
    r = run(backend, 0.002, duration=0.5)  # 23 time constants
    theta_inf = P0 / (H * A - P0 * ALPHA)
    assert float(np.mean(r.temperature[-1])) == pytest.approx(T_AMB + theta_inf, abs=BIOT_TOL)
    assert r.heat_out[-1] == pytest.approx(r.power_in[-1], rel=1e-4)


@backends
def test_stop_callback_ends_the_run(backend):
    g, f = setup()
    hot = lambda te, t: np.full(g.shape, 1e12)  # noqa: E731
    r = SOLVERS[backend].solve_transient_coupled(g, f, source=hot, duration=1.0, dt=0.01,
                                                 initial=np.full(g.node_shape, 300.0),
                                                 stop=lambda T, t: "too hot" if T.max() > 400 else "")
    assert r.stopped == "too hot" and r.times[-1] < 1.0
    assert r.steps == round(r.times[-1] / 0.01) and np.asarray(r.temperature)[-1].max() > 400
