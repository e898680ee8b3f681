"""Solve paths that the verification tests are parametrised over.

Every verification test (``test_analytic*.py``, ``test_reference_*.py``) runs once per entry
of these dictionaries, so adding a solver here puts it through the whole analytic suite.
Each entry maps a name to a function with the call signature documented below; the function
returns plain NumPy arrays (convert JAX arrays with ``np.asarray``).

The tolerances in the tests assume a path solves its linear systems to a relative residual
of at least the requested ``rtol`` (default 1e-8) in float64, and that the nodal numbering and
shapes follow :mod:`solvers.grid` (C order, ``grid.node_shape``).

STEADY_PATHS
    ``fn(grid, fields, *, rtol=1e-8) -> T``. ``T`` is the nodal temperature [K] with shape
    ``grid.node_shape``. ``rtol`` is the relative residual tolerance of the linear solve; the
    round-off test (V1) asks for ``rtol=1e-12``.

TRANSIENT_PATHS
    ``fn(grid, fields, *, times, source_patterns, weights, initial) -> T``.
    ``times``: ``(n_steps + 1,)`` strictly increasing [s]; ``source_patterns``:
    ``(n_patterns, nx, ny, nz)`` [W/m^3]; ``weights``: ``(n_steps, n_patterns)``, the source
    during ``(times[i], times[i+1]]`` being ``Σ_p weights[i, p] · source_patterns[p]``;
    ``initial``: nodal temperature [K] (``grid.node_shape``). Returns ``(n_steps + 1,
    *grid.node_shape)`` with ``T[0] = initial``. The time-order test expects a second-order
    method (BDF2 or Crank–Nicolson); a path of another order should declare it in
    ``TRANSIENT_ORDER``.

NONLINEAR_PATHS
    ``fn(grid, fields, *, k_exponent, reference_temperature, tol=1e-9) -> (T, iterations)``.
    Conductivity ``k_e(T) = k_e · (T / T_ref) ** n_e`` with ``n_e = k_exponent`` (scalar or
    ``grid.shape``). Returns the nodal temperature [K] and the number of nonlinear
    iterations taken (reported by the tests).
"""

from __future__ import annotations

import numpy as np

from solvers.reference import (
    solve_reference_nonlinear,
    solve_reference_steady,
    solve_reference_transient,
)


def _reference_steady(grid, fields, *, rtol=1e-8):
    return solve_reference_steady(grid, fields, rtol=rtol).temperature


def _reference_transient(grid, fields, *, times, source_patterns, weights, initial):
    return solve_reference_transient(
        grid, fields, times=times, source_patterns=source_patterns, weights=weights, initial=initial
    ).temperature


def _reference_nonlinear(grid, fields, *, k_exponent, reference_temperature, tol=1e-9):
    r = solve_reference_nonlinear(
        grid, fields, k_exponent=k_exponent, reference_temperature=reference_temperature, tol=tol
    )
    return np.asarray(r.temperature), r.iterations


STEADY_PATHS = {"reference": _reference_steady}
TRANSIENT_PATHS = {"reference": _reference_transient}
TRANSIENT_ORDER = {"reference": 2}
NONLINEAR_PATHS = {"reference": _reference_nonlinear}


# -- fast JAX path (solvers.steady, solvers.transient) -----------------------------------
def _jax_steady(grid, fields, *, rtol=1e-8):
    import solvers

    return np.asarray(solvers.solve_steady(grid, fields, rtol=rtol, max_iterations=400).temperature)


def _jax_transient(grid, fields, *, times, source_patterns, weights, initial):
    import solvers

    t = np.asarray(times, dtype=float) - float(times[0])
    trace = solvers.PowerTrace(patterns=np.asarray(source_patterns, dtype=float), times=t[:-1],
                               weights=np.asarray(weights, dtype=float))
    sol = solvers.solve_transient(grid, fields.with_(source=np.zeros(grid.shape)), times=t[1:],
                                  dt=float(np.max(np.diff(t))), power=trace, initial=np.asarray(initial, float),
                                  rtol=1e-10, max_iterations=400)
    return np.concatenate([np.asarray(initial, float)[None], np.asarray(sol.temperature)])


def _jax_nonlinear(grid, fields, *, k_exponent, reference_temperature, tol=1e-9):
    import solvers

    sol = solvers.solve_nonlinear(grid, fields, k_exponent=k_exponent, reference_temperature=reference_temperature,
                                  tolerance=tol, rtol=1e-12, max_nonlinear_iterations=100, max_iterations=400)
    return np.asarray(sol.temperature), int(sol.nonlinear_iterations)


STEADY_PATHS["jax"] = _jax_steady
TRANSIENT_PATHS["jax"] = _jax_transient
TRANSIENT_ORDER["jax"] = 2
NONLINEAR_PATHS["jax"] = _jax_nonlinear
