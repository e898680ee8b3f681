"""Transient verification (V4): lumped body, time-integration order, long transient to the
steady state, superposition in time; run over every path in ``paths.TRANSIENT_PATHS``."""

import numpy as np
import pytest
import scipy.linalg

from paths import STEADY_PATHS, TRANSIENT_ORDER, TRANSIENT_PATHS
from solvers.analytic import lumped_body_temperature
from solvers.grid import TensorGrid, ThermalFields
from solvers.reference import assemble, assemble_capacity, solve_reference_transient

PATHS = pytest.mark.parametrize("path", sorted(TRANSIENT_PATHS))


def make_grid(x, y, z) -> TensorGrid:
    shape = (len(x) - 1, len(y) - 1, len(z) - 1)
    return TensorGrid(np.asarray(x), np.asarray(y), np.asarray(z), np.zeros(shape), ("all",), np.zeros(shape), ("m",))


def volume_mean(grid, T):
    nx, ny, nz = grid.shape
    T = np.asarray(T)
    cell = sum(T[..., i : i + nx, j : j + ny, k : k + nz] for i in (0, 1) for j in (0, 1) for k in (0, 1)) / 8.0
    v = grid.cell_volumes()
    return np.sum(cell * v, axis=(-3, -2, -1)) / v.sum()


# ---------------------------------------------------------------------------------------
# V4 lumped body and the order of the time integrator
# ---------------------------------------------------------------------------------------

# A 2 mm × 2 mm × 50 µm plate, k = 1e5 W/m/K: Biot h·t/k = 5e-7, so the plate is isothermal
# to 5e-7 of the rise and its mean obeys the lumped ODE to that accuracy (the consistent
# capacity matrix conserves ∫ρc T exactly).
LUMP = dict(side=2e-3, thickness=5e-5, k=1e5, rho_c=1.6e6, h=1e3, power=0.1, ambient=300.0)


@pytest.fixture(scope="module")
def lumped():
    p = LUMP
    grid = make_grid(np.linspace(0, p["side"], 3), np.linspace(0, p["side"], 3), np.linspace(0, p["thickness"], 3))
    s = grid.shape
    volume = p["side"] ** 2 * p["thickness"]
    fields = ThermalFields(
        kx=np.full(s, p["k"]), ky=np.full(s, p["k"]), kz=np.full(s, p["k"]), heat_capacity=np.full(s, p["rho_c"]),
        source=np.full(s, p["power"] / volume), h={"zmax": np.full(s[:2], p["h"])}, ambient={"zmax": np.full(s[:2], p["ambient"])},
    )
    tau = p["rho_c"] * p["thickness"] / p["h"]
    exact = lambda t: lumped_body_temperature(  # noqa: E731
        t, power=p["power"], heat_transfer_coefficient=p["h"], area=p["side"] ** 2,
        heat_capacity=p["rho_c"] * volume, ambient=p["ambient"])
    return grid, fields, tau, exact


def _run(path, grid, fields, times, initial):
    n = len(times) - 1
    return np.asarray(TRANSIENT_PATHS[path](
        grid, fields, times=np.asarray(times), source_patterns=np.asarray(fields.source)[None],
        weights=np.ones((n, 1)), initial=np.full(grid.node_shape, initial)))


@PATHS
def test_v4_lumped_body_and_time_order(path, lumped):
    grid, fields, tau, exact = lumped
    rise = LUMP["power"] / (LUMP["h"] * LUMP["side"] ** 2)
    steps = [16, 32, 64]  # over one time constant
    errors, path_errors = [], []
    for n in steps:
        times = np.linspace(0.0, tau, n + 1)
        T = _run(path, grid, fields, times, LUMP["ambient"])
        assert T.shape == (n + 1, *grid.node_shape)
        assert np.all(T[0] == LUMP["ambient"])
        dev = np.abs(volume_mean(grid, T) - exact(times))
        errors.append(float(dev[-1]))
        path_errors.append(float(dev.max()))
    errors = np.array(errors)
    rate = float(np.polyfit(np.log(tau / np.array(steps)), np.log(errors), 1)[0])
    ratios = errors[:-1] / errors[1:]
    print(f"{path}: errors at t = τ {errors / rise} (of the rise), ratios {ratios}, rate {rate:.3f}; "
          f"max over [0, τ] {np.array(path_errors) / rise}")
    order = TRANSIENT_ORDER[path]
    # Global error at a fixed time is O(dt^p); BDF2 started by one backward-Euler step stays
    # O(dt²) (the first step's local error is O(dt²)). Halving dt divides the error by ~2^p
    # (the scalar recursion gives 4.10, 4.04 here); the lumping error (~Bi·rise = 1e-5 K) is
    # far below the finest time error (~1e-3 of the rise). The maximum over the path is
    # reached in the first steps, where the start-up error dominates; it is reported only.
    assert abs(rate - order) < 0.15, (errors, rate)
    assert abs(ratios[-1] - 2.0**order) < 0.15 * 2.0**order, ratios
    assert errors[-1] < 5e-4 * rise


def _bdf2_decay(lam, steps):
    """Amplitude after the steps of the scalar test equation y' = -λ y, y0 = 1, under
    variable-step BDF2 with a backward-Euler start: the discrete decay of one mode."""
    y_prev, y = None, 1.0
    for i, dt in enumerate(steps):
        if i == 0:
            y_new = y / (1 + lam * dt)
        else:
            om = dt / steps[i - 1]
            a0, a1, a2 = (1 + 2 * om) / (1 + om), -(1 + om), om * om / (1 + om)
            y_new = (-a1 * y - a2 * y_prev) / (a0 + lam * dt)
        y_prev, y = y, y_new
    return abs(y)


@pytest.fixture(scope="module")
def stack():
    """A small two-material stack with an off-centre heater, h on top and bottom."""
    grid = make_grid(np.linspace(0, 4e-3, 6), np.linspace(0, 3e-3, 5), np.array([0, 1e-4, 5e-4, 1.2e-3]))
    s = grid.shape
    k = np.broadcast_to(np.array([120.0, 3.0, 400.0]), s).copy()
    rho_c = np.broadcast_to(np.array([1.6e6, 2.0e6, 3.4e6]), s).copy()
    q1 = np.zeros(s)
    q1[1:3, 1:3, 0] = 5e9
    q2 = np.zeros(s)
    q2[3:5, 0:2, 0] = 2e9
    fields = ThermalFields(kx=k, ky=k, kz=k, heat_capacity=rho_c, source=q1,
                           h={"zmax": np.full(s[:2], 5e3), "zmin": np.full(s[:2], 50.0)},
                           ambient={"zmax": np.full(s[:2], 300.0), "zmin": np.full(s[:2], 300.0)})
    K, _ = assemble(grid, fields)
    C = assemble_capacity(grid, fields)
    lam = scipy.linalg.eigh(K.toarray(), C.toarray(), eigvals_only=True)
    return grid, fields, q1, q2, lam


@PATHS
def test_v4_long_transient_reaches_steady_state(path, stack):
    grid, fields, q1, _, lam = stack
    tau_slow = 1.0 / lam.min()
    # Steps grow by 1.25 (BDF2 needs a step ratio < 1 + √2) from 1e-3·τ_slow to past 100·τ_slow.
    steps = [1e-3 * tau_slow]
    while sum(steps) < 100 * tau_slow:
        steps.append(1.25 * steps[-1])
    times = np.concatenate([[0.0], np.cumsum(steps)])
    # Every generalized eigenmode of (K, C) decays under the same scalar recursion; the
    # largest remaining amplitude bounds what is left of the initial deviation.
    left = max(_bdf2_decay(lv, steps) for lv in lam)
    assert left < 1e-9
    T = _run(path, grid, fields, times, 300.0)
    T_ss = np.asarray(STEADY_PATHS[path](grid, fields, rtol=1e-10))
    rise = T_ss.max() - 300.0
    err = float(np.max(np.abs(T[-1] - T_ss)))
    print(f"{path}: {len(steps)} steps to {times[-1] / tau_slow:.0f} τ_slow; |T_end - T_steady| = {err:.2e} K of rise {rise:.2f} K")
    # Remaining modal amplitude (< 1e-9) plus the linear-solve tolerances: 1e-7 of the rise.
    assert err < 1e-7 * rise


@PATHS
def test_transient_superposition_of_switched_patterns(path, stack):
    grid, fields, q1, q2, _ = stack
    times = np.linspace(0.0, 0.4, 21)
    n = len(times) - 1
    w = np.zeros((n, 2))
    w[:8, 0] = 1.0          # heater 1 on, then off
    w[5:, 1] = 0.5          # heater 2 on at half power from step 5
    w[14:, 0] = 2.0         # heater 1 back at double power
    patterns = np.stack([q1, q2])
    run = lambda weights: np.asarray(TRANSIENT_PATHS[path](  # noqa: E731
        grid, fields, times=times, source_patterns=patterns, weights=weights, initial=np.full(grid.node_shape, 300.0))) - 300.0
    both = run(w)
    only1 = run(w * np.array([1.0, 0.0]))
    only2 = run(w * np.array([0.0, 1.0]))
    scale = np.max(np.abs(both))
    # Linear problem, zero initial deviation: responses add; each step solved to ~1e-10.
    np.testing.assert_allclose(both, only1 + only2, rtol=0, atol=1e-7 * scale)
    # Heater 1 is off during steps 8..13: the hottest node under it cools there.
    under1 = both[:, 2, 2, 0]
    assert under1[13] < under1[8]


# ---------------------------------------------------------------------------------------
# The reference integrator's own reporting and checks
# ---------------------------------------------------------------------------------------


def test_reference_transient_energy_balance_every_step(stack):
    grid, fields, q1, q2, _ = stack
    times = np.concatenate([[0.0], np.cumsum(0.01 * 1.2 ** np.arange(20))])
    r = solve_reference_transient(grid, fields, times=times, source_patterns=np.stack([q1, q2]),
                                  weights=np.tile([1.0, 0.3], (20, 1)), initial=310.0)
    eb = r.energy_balance
    assert r.temperature.shape == (21, *grid.node_shape) and np.all(r.temperature[0] == 310.0)
    assert np.all(r.iterations > 0) and np.all(r.relative_residuals <= 1e-9)
    # 1ᵀ(C·BDF2(T)/dt + K T - b) = stored + out - in = 1ᵀr ≤ √N·rtol·||rhs||.
    np.testing.assert_allclose(eb.residual, 0.0, atol=1e-7 * np.max(eb.power_in))
    # Constant power: the stored-heat rate decays towards zero as the stack approaches steady state.
    assert abs(eb.stored[-1]) < abs(eb.stored[0])


def test_reference_transient_rejects_unstable_step_ratio_and_bad_weights(stack):
    grid, fields, _, _, _ = stack
    with pytest.raises(ValueError, match=r"step ratio dt\[1\]/dt\[0\] = 3.000 makes variable-step BDF2 unstable"):
        solve_reference_transient(grid, fields, times=[0.0, 1.0, 4.0])
    with pytest.raises(ValueError, match=r"weights=...\)` must have shape \(n_steps, n_patterns\) = \(3, 1\); got \(2, 1\)"):
        solve_reference_transient(grid, fields, dt=0.1, n_steps=3, weights=np.ones((2, 1)))
    with pytest.raises(ValueError, match="give `times`, or both `dt` and `n_steps`"):
        solve_reference_transient(grid, fields, dt=0.1)
