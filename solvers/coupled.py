r"""Transient conduction with a temperature-dependent volumetric source.

Solves :math:`C\,\dot T + K T = b_\mathrm{Robin} + b\big(q(T_e, t)\big)` where the source
:math:`q` is any function of the element temperatures and time (leakage, for example), by BDF2
with constant steps (backward Euler for the first step). The source is evaluated at the
second-order extrapolation :math:`T^* = 2T_n - T_{n-1}` (at :math:`T_0` for the first step), so
each step is one linear solve and the scheme stays second order in time for smooth sources.

The operators come from :mod:`solvers.reference` (scikit-fem assembly, the oracle of the JAX
operator) and each system matrix gets one pyamg smoothed-aggregation hierarchy, built once.
Element temperatures are the means of their 8 corner nodes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from .grid import TensorGrid, ThermalFields

__all__ = ["SourceTransientResult", "element_mean", "face_heat_out", "scatter_to_nodes", "solve_transient_with_source"]


@dataclass(frozen=True, eq=False)
class SourceTransientResult:
    """Output of :func:`solve_transient_with_source`.

    Attributes
    ----------
    times : numpy.ndarray
        Output times [s]; ``times[0] = 0`` is the initial state.
    temperature : numpy.ndarray
        ``(n_out, *grid.node_shape)`` nodal temperatures [K].
    power_in : numpy.ndarray
        ``∫ q dV`` of the source used in the step ending at each output time [W] (the initial
        source at t = 0).
    heat_out : numpy.ndarray
        Convective heat leaving at each output time [W].
    iterations : int
        CG iterations over all steps.
    stopped : str
        Empty, or why the integration stopped early (``stop`` returned a reason).
    """

    times: np.ndarray
    temperature: np.ndarray
    power_in: np.ndarray
    heat_out: np.ndarray
    iterations: int
    stopped: str = ""


def element_mean(t: np.ndarray) -> np.ndarray:
    """Mean of the 8 corner values of every element."""
    acc = np.zeros(tuple(s - 1 for s in t.shape))
    for di in (0, 1):
        for dj in (0, 1):
            for dk in (0, 1):
                acc += t[di:t.shape[0] - 1 + di, dj:t.shape[1] - 1 + dj, dk:t.shape[2] - 1 + dk]
    return acc / 8.0


def scatter_to_nodes(e: np.ndarray) -> np.ndarray:
    """Add each element value to its 8 corner nodes (nodal array of the grid's node shape)."""
    nx, ny, nz = e.shape
    out = np.zeros((nx + 1, ny + 1, nz + 1))
    for di in (0, 1):
        for dj in (0, 1):
            for dk in (0, 1):
                out[di:nx + di, dj:ny + dj, dk:nz + dk] += e
    return out


def face_heat_out(grid: TensorGrid, fields: ThermalFields, t: np.ndarray) -> dict:
    """Heat leaving through each convective face, ``∫ h (T − T_amb) dA`` [W] (exact for Q1 on a face)."""
    sl = {"xmin": (0, slice(None), slice(None)), "xmax": (-1, slice(None), slice(None)),
          "ymin": (slice(None), 0, slice(None)), "ymax": (slice(None), -1, slice(None)),
          "zmin": (slice(None), slice(None), 0), "zmax": (slice(None), slice(None), -1)}
    out = {}
    for face, h in fields.h.items():
        tf = np.asarray(t)[sl[face]]
        mean = 0.25 * (tf[:-1, :-1] + tf[1:, :-1] + tf[:-1, 1:] + tf[1:, 1:])
        out[face] = float(np.sum(np.asarray(h) * (mean - np.asarray(fields.ambient[face])) * grid.face_areas(face)))
    return out


_DIRECT_LIMIT = 20_000


def _linear_solver(A, rtol: float):
    """Exact sparse LU for small systems (AMG is unreliable on tiny stiff ones), else SA-AMG CG
    with a true-residual check."""
    import pyamg
    import scipy.sparse.linalg as spla

    if A.shape[0] <= _DIRECT_LIMIT:
        lu = spla.splu(A.tocsc())
        return lambda b, x0: (lu.solve(b), 0)
    ml = pyamg.smoothed_aggregation_solver(A)

    def solve(b, x0):
        res: list = []
        x = ml.solve(b, x0=x0, tol=rtol, accel="cg", maxiter=500, residuals=res)
        rel = np.linalg.norm(b - A @ x) / max(np.linalg.norm(b), 1e-300)
        if not rel <= 10 * rtol:
            raise RuntimeError(f"`solve_transient_with_source`: a step's CG stopped at relative residual {rel:.2e} "
                               f"(wanted {rtol:.1e}) after {len(res) - 1} iterations; try a smaller dt")
        return x, len(res) - 1

    return solve


def solve_transient_with_source(
    grid: TensorGrid,
    fields: ThermalFields,
    *,
    source: Callable[[np.ndarray, float], np.ndarray],
    duration: float,
    dt: float,
    initial: np.ndarray,
    output_every: int = 1,
    rtol: float = 1e-9,
    stop: Callable[[np.ndarray, float], str] | None = None,
) -> SourceTransientResult:
    """BDF2 time integration with a source ``q = source(T_elements [K], t [s])`` [W/m^3].

    ``fields.source`` is ignored (the callable gives the whole source). ``stop(T, t)`` may return
    a non-empty reason to end the integration early (e.g. a temperature cap).

    Parameters
    ----------
    grid, fields : the mesh and its conductivities, heat capacities and Robin faces.
    source : callable
        ``(element temperatures (nx, ny, nz) [K], time [s]) -> source (nx, ny, nz) [W/m^3]``.
    duration, dt : float
        End time and (constant) step [s]; the step count is ``ceil(duration / dt)``.
    initial : numpy.ndarray
        Nodal temperature at t = 0 [K].
    output_every : int
        Keep every n-th step (the last step is always kept).
    rtol : float
        Relative residual of each step's AMG-preconditioned CG.
    """
    from .reference import assemble, assemble_capacity

    if not (duration > 0 and dt > 0):
        raise ValueError(f"`solve_transient_with_source` needs duration > 0 and dt > 0; got {duration!r}, {dt!r}")
    n_steps = int(np.ceil(duration / dt - 1e-9))
    dt = duration / n_steps
    K, b_robin = assemble(grid, fields.with_(source=np.zeros(grid.shape)))
    C = assemble_capacity(grid, fields)
    A_be = (C / dt + K).tocsr()
    A_bdf = (1.5 * C / dt + K).tocsr()
    solve_be, solve_bdf = _linear_solver(A_be, rtol), _linear_solver(A_bdf, rtol)
    vol = grid.cell_volumes()
    vol8 = vol / 8.0
    shape = grid.node_shape

    t_prev = None
    t_now = np.asarray(initial, dtype=float).reshape(shape)
    q0 = source(element_mean(t_now), 0.0)
    times, temps, pins, houts = [0.0], [t_now], [float(np.sum(q0 * vol))], [sum(face_heat_out(grid, fields, t_now).values())]
    iterations = 0
    stopped = ""
    for n in range(1, n_steps + 1):
        time = n * dt
        guess = t_now if t_prev is None else 2.0 * t_now - t_prev
        q = source(element_mean(guess), time)
        if not np.all(np.isfinite(q)):
            stopped = f"the source became non-finite at t = {time:.6g} s"
            break
        b = b_robin + scatter_to_nodes(q * vol8).ravel()
        if t_prev is None:
            rhs = b + (C @ t_now.ravel()) / dt
            x, its = solve_be(rhs, t_now.ravel())
        else:
            rhs = b + (C @ (2.0 * t_now.ravel() - 0.5 * t_prev.ravel())) / dt
            x, its = solve_bdf(rhs, guess.ravel())
        iterations += its
        t_prev, t_now = t_now, x.reshape(shape)
        if n % output_every == 0 or n == n_steps:
            times.append(time)
            temps.append(t_now)
            pins.append(float(np.sum(q * vol)))
            houts.append(sum(face_heat_out(grid, fields, t_now).values()))
        if stop is not None:
            stopped = stop(t_now, time) or ""
            if stopped:
                if times[-1] != time:
                    times.append(time)
                    temps.append(t_now)
                    pins.append(float(np.sum(q * vol)))
                    houts.append(sum(face_heat_out(grid, fields, t_now).values()))
                break
    return SourceTransientResult(times=np.asarray(times), temperature=np.stack(temps), power_in=np.asarray(pins),
                                 heat_out=np.asarray(houts), iterations=iterations, stopped=stopped)
