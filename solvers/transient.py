"""Transient heat conduction ``C dT/dt + K T = b(t)`` on a :class:`TensorGrid`.

Two integrators share the matrix-free operator of :mod:`solvers.fem`, the true-residual CG of
:mod:`solvers._pcg` and one multigrid hierarchy per system matrix, built once:

* :func:`solve_transient`: sources that are known in advance (a constant source plus
  :class:`PowerTrace` patterns with piecewise-constant weights); TR-BDF2, BDF2 or backward
  Euler, the whole time loop in one compiled program.
* :func:`solve_transient_coupled`: a source that depends on the temperature (leakage), given
  as a Python callback evaluated once per step at the extrapolated temperature; BDF2 with
  constant steps, one compiled linear solve per step.

Both return a :class:`TransientSolution` with measured statistics (iterations and the true
relative residual of every step's linear solve).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np

from . import fem
from ._jit import jitted
from ._pcg import linear_solve
from .fem import from_work, to_work
from .grid import GridGeometry, TensorGrid, ThermalFields
from .multigrid import vcycle
from .post import element_mean, face_heat_out
from .steady import (
    SolveError,
    _broadcast_fields,
    _check_fields,
    _dtype,
    _reference_temperature,
    _setup_jit,
    solve_steady,
)

__all__ = [
    "PowerTrace",
    "TransientSolution",
    "solve_transient",
    "solve_transient_coupled",
]


# ======================================================================================
# transient
@jax.tree_util.register_dataclass
@dataclass(frozen=True)
class PowerTrace:
    """Time-varying sources: patterns times piecewise-constant weights.

    ``source(t) = fields.source + sum_s weights[i, s] * patterns[s]`` for
    ``times[i] <= t < times[i+1]`` (the last row holds after ``times[-1]``; before
    ``times[0]`` the weights are zero).

    Parameters
    ----------
    patterns : array, shape (n_src, nx, ny, nz)
        Source patterns at unit weight [W/m^3].
    times : array, shape (n_times,)
        Increasing breakpoint times [s].
    weights : array, shape (n_times, n_src)
        Dimensionless weight of each pattern from each breakpoint on.
    """

    patterns: jax.Array
    times: jax.Array
    weights: jax.Array


@jax.tree_util.register_dataclass
@dataclass(frozen=True)
class TransientSolution:
    """Result of a transient solve (a pytree).

    Attributes
    ----------
    times : array, shape (n_out,)
        Output times [s]. :func:`solve_transient`: the requested times. :func:`solve_transient_coupled`:
        ``times[0] = 0`` (the initial state), then every ``output_every``-th step, the last step
        and the step at which ``stop`` ended the run.
    temperature : array, shape (n_out, nx+1, ny+1, nz+1)
        Nodal temperature at the output times [K].
    converged : bool array
        True when every time step's linear solve reached ``rtol`` (measured true residual) and
        the temperatures are finite.
    iterations : int array
        CG iterations over all steps.
    max_step_iterations : int array
        Largest CG iteration count of one step.
    max_relative_residual : array
        Largest measured true relative residual ``||b - A T|| / ||b||`` over the steps.
    power_in : array, shape (n_out,)
        Heat input at the output times [W] (for a coupled solve: of the source used in the step
        ending there; the initial source at ``t = 0``).
    heat_out : array, shape (n_out,)
        Heat leaving through all convective faces at the output times [W].
    steps : int
        Number of time steps taken.
    timings : dict of str -> float
        Wall-clock seconds of ``setup`` (preconditioners), ``solve`` and ``total``.
    stopped : str
        Empty, or why a coupled solve ended before ``duration`` (the reason returned by its
        ``stop`` callback, or a non-finite source). Always empty for :func:`solve_transient`.
    """

    times: jax.Array
    temperature: jax.Array
    converged: jax.Array
    iterations: jax.Array
    max_step_iterations: jax.Array
    max_relative_residual: jax.Array
    power_in: jax.Array
    heat_out: jax.Array
    steps: int = field(default=0, metadata=dict(static=True))
    timings: dict = field(default_factory=dict)
    stopped: str = field(default="", metadata=dict(static=True))


def _time_grid(t_out: np.ndarray, dt: float, breaks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Step end times covering (0, max(t_out)] with every output time and breakpoint a node."""
    t_end = float(np.max(t_out))
    marks = np.unique(np.concatenate([[0.0], t_out, breaks[(breaks > 0) & (breaks < t_end)]]))
    ts = [0.0]
    for a, b in zip(marks[:-1], marks[1:]):
        n = max(1, int(math.ceil((b - a) / dt - 1e-9)))
        ts.extend(a + (b - a) * np.arange(1, n + 1) / n)
    ts = np.asarray(ts)
    idx = np.searchsorted(ts, t_out)
    return ts, idx


@dataclass(frozen=True, eq=False)
class TransientSchedule:
    """Checked inputs of a transient solve, shared by both backends (internal).

    Attributes
    ----------
    t_out : numpy.ndarray
        Output times [s].
    step_ends : numpy.ndarray
        ``(n_steps + 1,)`` step end times starting at 0 [s]; every output time and power
        breakpoint is one of them.
    output_steps : numpy.ndarray
        Index into ``step_ends`` of every output time.
    weights : numpy.ndarray
        ``(n_steps, n_src)`` power-trace weights during each step.
    initial_weights : numpy.ndarray
        ``(n_src,)`` weights at ``t = 0``.
    initial_mode : str
        ``"ambient"``, ``"steady"`` or ``"field"``.
    initial_field : numpy.ndarray or None
        The given initial nodal temperature [K] (``"field"`` only).
    """

    t_out: np.ndarray
    step_ends: np.ndarray
    output_steps: np.ndarray
    weights: np.ndarray
    initial_weights: np.ndarray
    initial_mode: str
    initial_field: np.ndarray | None


def transient_schedule(grid: TensorGrid, fields: ThermalFields, *, times, dt, power, initial,
                       call: str) -> TransientSchedule:
    """Check the inputs of a transient solve and lay out its time steps (see :func:`solve_transient`)."""
    t_out = np.atleast_1d(np.asarray(times, float))
    if t_out.size == 0 or np.any(t_out <= 0) or np.any(np.diff(t_out) < 0) or not np.all(np.isfinite(t_out)):
        raise ValueError(f"`{call}(times=...)` must be finite, positive and non-decreasing [s]; got {t_out!r}")
    if not (dt > 0 and np.isfinite(dt)):
        raise ValueError(f"`{call}(dt=...)` must be a positive time step [s]; got {dt!r}")
    if np.any(np.asarray(fields.heat_capacity) <= 0):
        raise ValueError(f"`{call}`: `heat_capacity` must be positive [J/m^3/K] in every element")
    if power is not None:
        pt = np.asarray(power.times, float)
        pw = np.asarray(power.weights)
        pp = np.asarray(power.patterns)
        if pp.ndim != 4 or pp.shape[1:] != grid.shape or pw.shape != (pt.size, pp.shape[0]) or np.any(np.diff(pt) <= 0):
            raise ValueError(
                f"`{call}(power=...)`: patterns must be (n_src, {', '.join(map(str, grid.shape))}), times "
                f"increasing (n_times,), weights (n_times, n_src); got patterns {pp.shape}, times {pt.shape}, "
                f"weights {pw.shape}")
        if not (np.all(np.isfinite(pp)) and np.all(np.isfinite(pw))):
            raise ValueError(f"`{call}(power=...)` has non-finite patterns or weights")
        breaks = pt
    else:
        breaks = np.zeros(0)
    ts, out_idx = _time_grid(t_out, float(dt), breaks)
    n_steps = len(ts) - 1
    mids = 0.5 * (ts[1:] + ts[:-1])
    if power is not None:
        seg = np.searchsorted(breaks, mids, side="right") - 1
        w = np.where(seg[:, None] >= 0, np.asarray(power.weights, float)[np.clip(seg, 0, None)], 0.0)
        seg0 = np.searchsorted(breaks, 0.0, side="right") - 1
        w0 = np.asarray(power.weights, float)[seg0] if seg0 >= 0 else np.zeros(np.shape(power.weights)[1])
    else:
        w = np.zeros((n_steps, 0))
        w0 = np.zeros(0)
    if initial is None or (isinstance(initial, str) and initial == "ambient"):
        init_mode, init_field = "ambient", None
    elif isinstance(initial, str) and initial == "steady":
        init_mode, init_field = "steady", None
    elif isinstance(initial, str):
        raise ValueError(f"`{call}(initial=...)` must be 'ambient', 'steady' or a node array [K]; got {initial!r}")
    else:
        init_field = np.asarray(initial, float)
        if init_field.shape != grid.node_shape or not np.all(np.isfinite(init_field)):
            raise ValueError(f"`{call}(initial=...)`: a field must be finite with the node shape "
                             f"{grid.node_shape}; got shape {init_field.shape}")
        init_mode = "field"
    return TransientSchedule(t_out, ts, out_idx, w, w0, init_mode, init_field)


def solve_transient(
    grid: TensorGrid,
    fields: ThermalFields,
    *,
    times,
    dt: float,
    power: PowerTrace | None = None,
    initial="ambient",
    method: str = "trbdf2",
    capacity: str = "consistent",
    rtol: float = 1e-8,
    max_iterations: int = 200,
    throw: bool = True,
    dtype=None,
    smoothing_steps: int = 1,
    coarse_size: int = 1200,
) -> TransientSolution:
    """Implicit time integration of ``C dT/dt + K T = b(t)`` from ``t = 0``.

    Parameters
    ----------
    grid : TensorGrid
        The mesh.
    fields : ThermalFields
        Conductivities, heat capacities [J/m^3/K], a constant source [W/m^3] and faces.
    times : array_like
        Output times [s], > 0. Every output time and every breakpoint of ``power`` is a
        step end, so outputs are exact step values (no interpolation).
    dt : float
        Largest time step [s]; intervals between marks are split into equal steps.
    power : PowerTrace, optional
        Time-varying sources added to ``fields.source``.
    initial : {"ambient", "steady"} or array
        Start from the uniform h·A-weighted mean ambient temperature, from the steady state
        with the sources at ``t = 0``, or from a given nodal field [K].
    method : {"trbdf2", "bdf2", "euler"}
        ``"trbdf2"`` (default): TR-BDF2 with ``gamma = 2 - sqrt(2)``, a one-step, L-stable,
        second-order method (a trapezoidal stage to ``t + gamma dt`` then BDF2; both stages
        use the same matrix ``C/(dt (1 - 1/sqrt 2)) + K``, two solves per step). Being one-step
        it stays second order across power switches and is exactly linear in the power
        weights. ``"bdf2"``: variable-step BDF2 (one solve per step), started by one
        backward-Euler step and restarted the same way wherever the power weights change
        (so it is not exactly linear in the weights). ``"euler"``: backward Euler (first order).
    capacity : {"consistent", "lumped"}
        Capacity matrix.
    rtol, max_iterations, throw, dtype, smoothing_steps, coarse_size
        As for :func:`solve_steady`, per time step. The preconditioner is built once for
        ``1.5 C/dt + K`` and reused for every step (also for steps of other sizes).

    Returns
    -------
    TransientSolution
    """
    call = "solvers.solve_transient"
    dtype = _dtype(dtype, fields)
    _check_fields(grid, fields, call=call)
    if method not in ("trbdf2", "bdf2", "euler"):
        raise ValueError(f"`{call}(method=...)` must be 'trbdf2', 'bdf2' or 'euler', not {method!r}")
    if capacity not in ("consistent", "lumped"):
        raise ValueError(f"`{call}(capacity=...)` must be 'consistent' or 'lumped', not {capacity!r}")
    sch = transient_schedule(grid, fields, times=times, dt=dt, power=power, initial=initial, call=call)
    t_out, ts, out_idx, w, w0, init_mode, init_field = (sch.t_out, sch.step_ends, sch.output_steps, sch.weights,
                                                        sch.initial_weights, sch.initial_mode, sch.initial_field)
    n_steps = len(ts) - 1
    fields = _broadcast_fields(grid, fields, dtype)
    h_nom = float(np.max(np.diff(ts)))
    a_nom = {"bdf2": 1.5, "euler": 1.0, "trbdf2": 1.0 / _TRBDF2_D}[method] / h_nom
    lumped = capacity == "lumped"

    t0 = time.perf_counter()
    hier = _setup_jit(grid, fields, dtype=dtype, smoothing_steps=smoothing_steps, coarse_size=coarse_size,
                      capacity_scale=jnp.asarray(a_nom, dtype), lumped=lumped)
    jax.block_until_ready(hier)
    t1 = time.perf_counter()

    # per-step inputs
    hs = np.diff(ts)
    patterns = jnp.asarray(power.patterns, dtype) if power is not None else jnp.zeros((0,) + grid.shape, dtype)
    slot = np.full(n_steps, len(t_out), np.int32)  # trash slot by default
    for j, i in enumerate(out_idx):
        slot[i - 1] = j  # output j is the end of step i-1 (several outputs may share a step)
    first = np.zeros(n_steps, bool)
    first[0] = True
    if power is not None and method == "bdf2":
        # restart BDF2 (one backward-Euler step) after every change of the weights: across a
        # source discontinuity dT/dt jumps, and BDF2's two-step difference would make an O(dt)
        # error there (measured: 6e-3 of the rise at dt = tau/32 without the restart).
        changed = np.any(w[1:] != w[:-1], axis=1)
        first[1:] |= changed
    if method == "euler":
        first[:] = True
    if init_mode == "steady":
        src0 = fields.source + jnp.tensordot(jnp.asarray(w0, dtype), patterns, axes=1)
        steady = solve_steady(grid, fields.with_(source=src0), rtol=rtol, max_iterations=max_iterations,
                              throw=throw, dtype=dtype, smoothing_steps=smoothing_steps, coarse_size=coarse_size)
        init_field = steady.temperature

    fn = jitted("transient", _transient_core, ("dtype", "max_iterations", "lumped", "n_out",
                                                 "init_mode", "method"))
    res = fn(GridGeometry.of(grid), fields, hier, jnp.asarray(hs, dtype), jnp.asarray(w, dtype), patterns,
             jnp.asarray(slot), jnp.asarray(first),
             None if init_field is None else jnp.asarray(init_field, dtype),
             dtype=dtype, rtol=rtol, max_iterations=max_iterations, lumped=lumped, n_out=len(t_out),
             init_mode=init_mode, method=method)
    jax.block_until_ready(res)
    t2 = time.perf_counter()
    T_out, conv, its, max_its, max_rel = res
    # powers at the output times
    vol = grid.cell_volumes()
    p_in = []
    q_out = []
    for j, i in enumerate(out_idx):
        src = np.asarray(fields.source) + (np.tensordot(w[i - 1], np.asarray(patterns), axes=1) if w.shape[1] else 0.0)
        p_in.append(float(np.sum(src * vol)))
        q_out.append(sum(face_heat_out(grid, fields, T_out[j]).values()))
    sol = TransientSolution(jnp.asarray(t_out), T_out, conv, its, max_its, max_rel,
                            jnp.asarray(p_in), jnp.asarray(q_out), n_steps,
                            {"setup": t1 - t0, "solve": t2 - t1, "total": t2 - t0})
    if throw:
        if not np.all(np.isfinite(np.asarray(T_out))):
            raise SolveError(f"`{call}` produced non-finite temperatures; check the fields and `dt`.", solution=sol)
        if not bool(conv):
            raise SolveError(
                f"`{call}`: a time step did not converge (largest true relative residual "
                f"{float(max_rel):.3e} > rtol={rtol:g}, most CG iterations in a step {int(max_its)} of "
                f"max_iterations={max_iterations}). Try increasing `max_iterations`, or a smaller `dt`.",
                solution=sol)
    return sol


_TRBDF2_GAMMA = 2.0 - math.sqrt(2.0)
_TRBDF2_D = _TRBDF2_GAMMA / 2.0  # = 1 - 1/sqrt(2)


def _transient_core(grid, fields, hier, hs, w, patterns, slot, first, init_field, *, dtype, rtol,
                    max_iterations, lumped, n_out, init_mode, method):
    t_ref, _ = _reference_temperature(fields, grid, dtype)
    base = fem.build_operator(grid, fields, dtype=dtype)
    lamK = base.element_lambdas()
    cap = to_work(fields.heat_capacity)
    unit_mass = base.with_mass(cap, 1.0, lumped=lumped)
    if lumped:
        lam_c = None
        mdiag = unit_mass.lumped_diagonal()
        cmul = lambda u: mdiag * u  # noqa: E731
    else:
        lam_c = {p: v for p, v in unit_mass.element_lambdas().items()}
        for p, v in lamK.items():
            lam_c[p] = lam_c[p] - v  # capacity part only
        cmul = lambda u: fem._element_apply(u, lam_c)  # noqa: E731
        mdiag = None
    b_static = fem.load_vector(grid, fields, dtype=dtype, ambient_shift=t_ref)
    pat_loads = jax.vmap(lambda q: fem.load_vector(grid, fields.with_(h={}, ambient={}), dtype=dtype, source=q))(patterns) \
        if patterns.shape[0] else None
    M = lambda r: vcycle(hier, r)  # noqa: E731
    if init_mode == "ambient":
        th0 = jnp.zeros(base.node_shape, dtype)
    else:
        th0 = to_work(init_field) - t_ref

    tiny = jnp.finfo(dtype).tiny
    k_only = Q1OperatorLike(lamK, base, None)

    def operator(a):
        if lumped:
            return Q1OperatorLike(lamK, base, a * mdiag)
        return Q1OperatorLike({p: lamK.get(p, 0.0) + a * lam_c[p] for p in lam_c}, base, None)

    def solve(op, rhs, guess):
        """Correction solve from ``guess``; returns the solution, iterations and true rel. residual."""
        r0 = rhs - op(guess)
        rn, r0n = jnp.sqrt(jnp.sum(rhs * rhs)), jnp.sqrt(jnp.sum(r0 * r0))
        d, k, _, rel0 = linear_solve(op, M, r0, rtol=rtol * rn / jnp.maximum(r0n, tiny),
                                     max_iterations=max_iterations)
        return guess + d, k, rel0 * r0n / jnp.maximum(rn, tiny)

    def step(carry, x):
        th_n, th_nm1, h_prev = carry
        h, wk, sl, is_first = x
        b = b_static
        if pat_loads is not None:
            b = b + jnp.tensordot(wk, pat_loads, axes=1)
        if method == "trbdf2":
            g = _TRBDF2_GAMMA
            a = 1.0 / (_TRBDF2_D * h)
            op = operator(a)
            th_g, k1, rel1 = solve(op, a * cmul(th_n) + 2.0 * b - k_only(th_n), th_n)
            cg, cn = 1.0 / (g * (2.0 - g)), (1.0 - g) ** 2 / (g * (2.0 - g))
            th_new, k2, rel2 = solve(op, a * cmul(cg * th_g - cn * th_n) + b, 2.0 * th_g - th_n)
            return (th_new, th_n, h), (th_new, sl, k1 + k2, jnp.maximum(rel1, rel2))
        om = h / jnp.where(h_prev > 0, h_prev, h)
        a = jnp.where(is_first, 1.0 / h, (1.0 + 2.0 * om) / ((1.0 + om) * h))
        c1 = jnp.where(is_first, 1.0 / h, (1.0 + om) / h)
        c2 = jnp.where(is_first, 0.0, om * om / ((1.0 + om) * h))
        guess = jnp.where(is_first, th_n, th_n + om * (th_n - th_nm1))
        th_new, k, rel = solve(operator(a), b + cmul(c1 * th_n - c2 * th_nm1), guess)
        return (th_new, th_n, h), (th_new, sl, k, rel)

    out = jnp.zeros((n_out + 1,) + base.node_shape, dtype)

    def step_out(carry, x):
        c, out = carry
        c, (th_new, sl, k, rel) = step(c, x)
        out = out.at[sl].set(th_new)
        return (c, out), (k, rel)

    (_, out), (ks, rels) = jax.lax.scan(step_out, ((th0, th0, jnp.asarray(0.0, dtype)), out), (hs, w, slot, first))
    T_out = from_work(out[:n_out]) + t_ref
    conv = jnp.all(rels <= rtol * (1 + 1e-6)) & jnp.all(jnp.isfinite(T_out))
    return T_out, conv, jnp.sum(ks), jnp.max(ks), jnp.max(rels)


@jax.tree_util.register_dataclass
@dataclass(frozen=True)
class Q1OperatorLike:
    """``A u`` from stored element coefficients (and an optional nodal diagonal): internal."""

    lam: dict
    base: object
    extra_diag: jax.Array | None = None

    def __call__(self, u):
        out = fem._element_apply(u, self.lam)
        for face in self.base.robin:
            out = fem._face_add(out, face, self.base._face_apply(u, face))
        if self.extra_diag is not None:
            out = out + self.extra_diag * u
        return out



# ======================================================================================
# temperature-dependent source
def _coupled_step(grid, fields, hier, th_n, th_nm1, q, a, c1, c2, extrapolate, *, dtype, rtol, max_iterations):
    """One implicit step ``(a C + K) th = b(q) + C (c1 th_n - c2 th_nm1)`` from the extrapolated guess.

    ``th`` is ``T - t_ref`` in the working layout. Returns the new ``th``, the nodal temperature
    (grid layout) [K], the CG iterations and the measured true relative residual of the step.
    """
    t_ref, _ = _reference_temperature(fields, grid, dtype)
    base = fem.build_operator(grid, fields, dtype=dtype)
    cap = to_work(fields.heat_capacity)
    lam_k = base.element_lambdas()
    lam_c = base.with_mass(cap, 1.0).element_lambdas()
    lam_c = {p: lam_c[p] - lam_k.get(p, 0.0) for p in lam_c}  # the capacity part only
    op = base.with_mass(cap, a).prepared()
    rhs = fem.load_vector(grid, fields, dtype=dtype, source=q, ambient_shift=t_ref)
    rhs = rhs + fem._element_apply(c1 * th_n - c2 * th_nm1, lam_c)
    guess = th_n + extrapolate * (th_n - th_nm1)
    tiny = jnp.finfo(dtype).tiny
    r0 = rhs - op(guess)
    rn, r0n = jnp.sqrt(jnp.sum(rhs * rhs)), jnp.sqrt(jnp.sum(r0 * r0))
    d, k, _, rel0 = linear_solve(op, lambda r: vcycle(hier, r), r0, rtol=rtol * rn / jnp.maximum(r0n, tiny),
                                 max_iterations=max_iterations)
    th = guess + d
    rel = jnp.where(rn > 0, rel0 * r0n / jnp.maximum(rn, tiny), 0.0)
    return th, from_work(th) + t_ref, k, rel


def solve_transient_coupled(
    grid: TensorGrid,
    fields: ThermalFields,
    *,
    source: Callable[[np.ndarray, float], np.ndarray],
    duration: float,
    dt: float,
    initial,
    output_every: int = 1,
    stop: Callable[[np.ndarray, float], str] | None = None,
    rtol: float = 1e-8,
    max_iterations: int = 200,
    throw: bool = True,
    dtype=None,
    smoothing_steps: int = 1,
    coarse_size: int = 1200,
) -> TransientSolution:
    r"""BDF2 time integration with a temperature-dependent source ``q = source(T_elements, t)``.

    Solves :math:`C\,\dot T + K T = b_\mathrm{Robin} + b\big(q(T_e, t)\big)` with constant steps:
    backward Euler for the first step, BDF2 after. The source is evaluated at the second-order
    extrapolation :math:`T^* = 2T_n - T_{n-1}` (at :math:`T_0` for the first step), so each step
    is one linear solve and the scheme stays second order for smooth sources. The multigrid
    hierarchies of ``C/dt + K`` and ``1.5 C/dt + K`` are built once; every step's CG starts from
    the extrapolated temperature and its true relative residual is measured.

    Parameters
    ----------
    grid : TensorGrid
        The mesh.
    fields : ThermalFields
        Conductivities, heat capacities [J/m^3/K] and Robin faces; ``fields.source`` is ignored
        (the callback gives the whole source).
    source : callable
        ``(element temperatures (nx, ny, nz) [K], time [s]) -> source (nx, ny, nz) [W/m^3]``,
        called once per step with NumPy arrays (element temperatures are the means of their 8
        corner nodes).
    duration, dt : float
        End time and largest step [s]; the step count is ``ceil(duration / dt)`` and the steps
        are equal.
    initial : array
        Nodal temperature at ``t = 0`` [K], shape ``grid.node_shape``.
    output_every : int
        Keep every n-th step (the last step is always kept).
    stop : callable, optional
        ``(nodal temperature [K], time [s]) -> str``; a non-empty reason ends the run after that
        step (e.g. a temperature cap), reported in ``TransientSolution.stopped``.
    rtol, max_iterations, throw, dtype, smoothing_steps, coarse_size
        As for :func:`solvers.steady.solve_steady`, per step.

    Returns
    -------
    TransientSolution
        NumPy leaves; ``times[0] = 0`` is the initial state. A source that turns non-finite ends
        the run with a ``stopped`` reason (not an error).

    Raises
    ------
    SolveError
        With ``throw``, when a step's true relative residual stays above ``rtol`` or the
        temperature is not finite.
    """
    call = "solvers.solve_transient_coupled"
    dtype = _dtype(dtype, fields)
    _check_fields(grid, fields, call=call)
    n_steps, dt, T0 = coupled_inputs(grid, fields, duration=duration, dt=dt, initial=initial,
                                     output_every=output_every, call=call)
    fields = _broadcast_fields(grid, fields.with_(source=np.zeros(grid.shape)), dtype)
    t0 = time.perf_counter()
    hier = {}
    for first, scale in ((True, 1.0), (False, 1.5)):
        if first or n_steps > 1:
            hier[first] = _setup_jit(grid, fields, dtype=dtype, smoothing_steps=smoothing_steps,
                                     coarse_size=coarse_size, capacity_scale=jnp.asarray(scale / dt, dtype))
    jax.block_until_ready(hier)
    setup = time.perf_counter() - t0
    step = jitted("coupled_step", _coupled_step, ("dtype", "max_iterations"))
    geom = GridGeometry.of(grid)
    t_ref, _ = _reference_temperature(fields, grid, dtype)
    th = [to_work(jnp.asarray(T0, dtype)) - t_ref] * 2  # [theta_n, theta_{n-1}], working layout

    def advance(q, first):
        a, c1, c2, e = (1.0 / dt, 1.0 / dt, 0.0, 0.0) if first else (1.5 / dt, 2.0 / dt, 0.5 / dt, 1.0)
        new, T, k, rel = step(geom, fields, hier[first], th[0], th[1], jnp.asarray(q, dtype),
                              *(jnp.asarray(v, dtype) for v in (a, c1, c2, e)),
                              dtype=dtype, rtol=jnp.asarray(rtol, dtype), max_iterations=max_iterations)
        th[:] = [new, th[0]]
        return np.asarray(T, float), int(k), float(rel)

    return coupled_bdf2(grid, fields, advance=advance, source=source, n_steps=n_steps, dt=dt, initial=T0,
                        output_every=output_every, stop=stop, rtol=rtol, max_iterations=max_iterations,
                        throw=throw, call=call, setup_seconds=setup, start=t0)


def coupled_inputs(grid: TensorGrid, fields: ThermalFields, *, duration, dt, initial, output_every, call: str):
    """Checked ``(n_steps, dt, initial)`` of a coupled transient (shared by both backends)."""
    if not (np.isfinite(duration) and np.isfinite(dt) and duration > 0 and dt > 0):
        raise ValueError(f"`{call}` needs finite duration > 0 and dt > 0 [s]; got duration={duration!r}, dt={dt!r}")
    if not (isinstance(output_every, (int, np.integer)) and output_every >= 1):
        raise ValueError(f"`{call}(output_every=...)` must be a positive integer; got {output_every!r}")
    if np.any(np.asarray(fields.heat_capacity) <= 0):
        raise ValueError(f"`{call}`: `heat_capacity` must be positive [J/m^3/K] in every element")
    T0 = np.asarray(initial, dtype=float)
    if T0.shape != grid.node_shape or not np.all(np.isfinite(T0)):
        raise ValueError(f"`{call}(initial=...)` must be a finite nodal temperature [K] of shape {grid.node_shape}; "
                         f"got shape {T0.shape}")
    n_steps = int(np.ceil(duration / dt - 1e-9))
    return n_steps, duration / n_steps, T0


def coupled_bdf2(grid: TensorGrid, fields: ThermalFields, *, advance, source, n_steps: int, dt: float, initial,
                 output_every: int, stop, rtol: float, max_iterations: int, throw: bool, call: str,
                 setup_seconds: float, start: float) -> TransientSolution:
    """The time loop of a coupled transient, independent of the linear solver.

    ``advance(q, first) -> (T_new [K] nodal NumPy, iterations, true relative residual)`` takes
    one step with source ``q`` [W/m^3] (backward Euler when ``first``, else BDF2) and keeps its
    own history. This loop evaluates the source at the extrapolated temperature, applies
    ``stop``, collects the outputs and the measured statistics, and raises on failure.
    """
    vol = grid.cell_volumes()

    def heat_out(T):
        return sum(face_heat_out(grid, fields, T).values())

    def checked(q, t):
        q = np.asarray(q, dtype=float)
        if q.shape != grid.shape:
            raise ValueError(f"`{call}(source=...)` returned shape {q.shape} at t = {t:.6g} s; it must return "
                             f"the element source of shape {grid.shape} [W/m^3]")
        return q

    T_prev, T_now = None, initial
    q0 = checked(source(element_mean(T_now), 0.0), 0.0)
    times, temps, pins, houts = [0.0], [T_now], [float(np.sum(q0 * vol))], [heat_out(T_now)]
    its = []
    rels = []
    stopped = ""
    for n in range(1, n_steps + 1):
        t = n * dt
        guess = T_now if T_prev is None else 2.0 * T_now - T_prev
        q = checked(source(element_mean(guess), t), t)
        if not np.all(np.isfinite(q)):
            stopped = f"the source became non-finite at t = {t:.6g} s"
            break
        T_new, k, rel = advance(q, T_prev is None)
        its.append(k)
        rels.append(rel)
        T_prev, T_now = T_now, T_new
        reason = (stop(T_now, t) or "") if stop is not None else ""
        if n % output_every == 0 or n == n_steps or reason:
            times.append(t)
            temps.append(T_now)
            pins.append(float(np.sum(q * vol)))
            houts.append(heat_out(T_now))
        if reason:
            stopped = reason
            break
    its_arr, rel_arr = np.asarray(its, dtype=np.int64), np.asarray(rels, dtype=float)
    temperature = np.stack(temps)
    converged = bool(np.all(rel_arr <= rtol * (1 + 1e-6)) and np.all(np.isfinite(temperature)))
    end = time.perf_counter()
    sol = TransientSolution(
        times=np.asarray(times), temperature=temperature, converged=np.asarray(converged),
        iterations=np.asarray(int(its_arr.sum())), max_step_iterations=np.asarray(int(its_arr.max(initial=0))),
        max_relative_residual=np.asarray(float(rel_arr.max(initial=0.0))), power_in=np.asarray(pins),
        heat_out=np.asarray(houts), steps=len(its), stopped=stopped,
        timings={"setup": setup_seconds, "solve": end - start - setup_seconds, "total": end - start})
    if throw:
        if not np.all(np.isfinite(temperature)):
            raise SolveError(f"`{call}` produced non-finite temperatures; check the fields, the source and `dt`.",
                             solution=sol)
        if not converged:
            bad = int(np.argmax(rel_arr > rtol * (1 + 1e-6)))
            raise SolveError(
                f"`{call}`: the linear solve of step {bad + 1} (t = {(bad + 1) * dt:.6g} s) did not converge: "
                f"true relative residual {rel_arr[bad]:.3e} > rtol={rtol:g} after {its_arr[bad]} of "
                f"max_iterations={max_iterations} CG iterations (largest over the run {float(rel_arr.max()):.3e}). "
                f"Try increasing `max_iterations`, loosening `rtol`, or a smaller `dt`.",
                residual_history=rel_arr, solution=sol)
    return sol
