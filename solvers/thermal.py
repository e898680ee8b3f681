"""Fast steady, transient and nonlinear heat-conduction solves on a :class:`TensorGrid`.

The operator is the matrix-free Q1 operator of :mod:`solvers.fem`; linear systems are
solved by conjugate gradients preconditioned with the geometric multigrid V-cycle of
:mod:`solvers.multigrid`. Every solve checks the *true* residual ``||b - A x|| / ||b||`` at the
end (a recursive CG residual can drift from it) and the global energy balance, and reports
both in the result.

Temperatures are in kelvin, powers in watts. All functions take ``(grid, fields)`` and
keyword-only options; see :class:`ThermalSolution` for what comes back.

Gradients of any scalar of a result with respect to ``fields`` (sources, conductivities,
heat-transfer coefficients, ambient temperatures, heat capacities) come from
``jax.grad``; the linear solve is wrapped in :func:`jax.lax.custom_linear_solve`, so the
backward pass is one adjoint solve with the same operator and preconditioner.
"""

from __future__ import annotations

import contextlib
import ctypes
import dataclasses
import math
import time
from dataclasses import dataclass, field

import jax
import jax.numpy as jnp
import numpy as np

from . import fem
from .fem import FACES, from_work, to_work
from .grid import GridGeometry, TensorGrid, ThermalFields, face_shape
from .multigrid import Hierarchy, build_hierarchy, plan_coarsening, vcycle

__all__ = [
    "SolveError",
    "ThermalSolution",
    "TransientSolution",
    "solve_steady",
    "solve_batch",
    "solve_transient",
    "solve_nonlinear",
    "region_statistics",
    "PowerTrace",
]


class SolveError(RuntimeError):
    """A thermal solve did not converge, or its inputs or outputs were not finite.

    Attributes
    ----------
    residual_history : numpy.ndarray or None
        Relative residuals of the conjugate-gradient iterations.
    solution : object or None
        The unconverged result, for inspection.
    """

    def __init__(self, message: str, *, residual_history=None, solution=None):
        super().__init__(message)
        self.residual_history = residual_history
        self.solution = solution


# ======================================================================================
# results
@jax.tree_util.register_dataclass
@dataclass(frozen=True)
class ThermalSolution:
    """Result of a steady solve (a pytree; batched solves add a leading axis to every leaf).

    Attributes
    ----------
    temperature : array
        Nodal temperature, shape ``grid.node_shape`` [K].
    converged : bool array
        True when the true relative residual is at most ``rtol`` and everything is finite.
    iterations : int array
        Conjugate-gradient iterations (all linear solves together for nonlinear solves).
    residual_history : array
        Relative (recursive) CG residual after each iteration; entries past ``iterations``
        are zero. See :attr:`residuals`.
    relative_residual : array
        True relative residual ``||b - K T|| / ||b||`` of the final temperature.
    power_in : array
        Total volumetric heat input ``sum(source * volume)`` [W].
    heat_out : dict of str -> array
        Heat leaving through each convective face ``∫ h (T - T_amb) dA`` [W].
    energy_balance : array
        ``|power_in - sum(heat_out)| / max(|power_in|, sum |heat_out|)`` (dimensionless).
    nonlinear_iterations : int array
        Picard iterations of a temperature-dependent solve (0 for linear solves).
    timings : dict of str -> float
        Wall-clock seconds of ``setup`` (preconditioner), ``solve`` and ``total``, measured
        outside of JAX transformations (empty when the solve was traced).
    """

    temperature: jax.Array
    converged: jax.Array
    iterations: jax.Array
    residual_history: jax.Array
    relative_residual: jax.Array
    power_in: jax.Array
    heat_out: dict
    energy_balance: jax.Array
    nonlinear_iterations: jax.Array
    timings: dict = field(default_factory=dict)

    @property
    def residuals(self) -> np.ndarray:
        """The residual history up to the last iteration (unbatched results only)."""
        return np.asarray(self.residual_history)[: int(self.iterations) + 1]

    @property
    def max_temperature(self) -> jax.Array:
        """Largest nodal temperature [K] (the exact maximum of the trilinear field)."""
        return jnp.max(self.temperature, axis=(-3, -2, -1))


# ======================================================================================
# input checks
def _is_traced(tree) -> bool:
    return any(isinstance(x, jax.core.Tracer) for x in jax.tree_util.tree_leaves(tree))


def _check_fields(grid: TensorGrid, fields: ThermalFields, *, call: str, batch: int | None = None) -> None:
    """Shapes and finiteness of every field; raises ValueError naming each problem."""
    if _is_traced(fields):
        return
    problems = []
    lead = () if batch is None else (batch,)
    for name in ("kx", "ky", "kz", "heat_capacity", "source"):
        a = np.asarray(getattr(fields, name))
        if a.shape not in (lead + grid.shape,) and not (batch is None and a.ndim == 0):
            problems.append(f"`{name}` has shape {a.shape}, expected {lead + grid.shape} (grid elements)")
            continue
        bad = ~np.isfinite(a)
        if bad.any():
            idx = tuple(int(i) for i in np.argwhere(bad)[0])
            problems.append(f"`{name}` is not finite at element {idx}: {a[idx]!r}; replace NaN/Inf values")
        if name in ("kx", "ky", "kz") and np.any(a <= 0):
            idx = tuple(int(i) for i in np.argwhere(a <= 0)[0])
            problems.append(f"`{name}` must be positive [W/m/K]; element {idx} has {a[idx]!r}")
    for face in list(fields.h) + list(fields.ambient):
        if face not in FACES:
            problems.append(f"unknown face {face!r} in `h`/`ambient`; faces are {', '.join(FACES)}")
    for face in fields.h:
        if face not in FACES:
            continue
        if face not in fields.ambient:
            problems.append(f"face {face!r} has `h` but no `ambient` temperature; add `ambient[{face!r}]` [K]")
        for what, d in (("h", fields.h), ("ambient", fields.ambient)):
            if face not in d:
                continue
            a = np.asarray(d[face])
            want = lead + face_shape(grid.shape, face)
            if a.ndim and a.shape != want and a.shape != lead:
                problems.append(f"`{what}[{face!r}]` has shape {a.shape}, expected {want} or a scalar")
            if not np.all(np.isfinite(a)):
                problems.append(f"`{what}[{face!r}]` has non-finite values; replace NaN/Inf values")
            if what == "h" and np.any(a < 0):
                problems.append(f"`h[{face!r}]` has negative values (min {a.min()!r}) [W/m^2/K]")
    if problems:
        raise ValueError(f"`{call}`: {len(problems)} problem(s) with the fields:\n  " + "\n  ".join(problems))


def _broadcast_fields(grid: TensorGrid, fields: ThermalFields, dtype) -> ThermalFields:
    el = lambda a: jnp.broadcast_to(jnp.asarray(a, dtype), grid.shape)  # noqa: E731
    return ThermalFields(
        kx=el(fields.kx), ky=el(fields.ky), kz=el(fields.kz),
        heat_capacity=el(fields.heat_capacity), source=el(fields.source),
        h={f: jnp.broadcast_to(jnp.asarray(v, dtype), face_shape(grid.shape, f)) for f, v in fields.h.items()},
        ambient={f: jnp.broadcast_to(jnp.asarray(fields.ambient[f], dtype), face_shape(grid.shape, f))
                 for f in fields.h},
    )


def _dtype(dtype, fields):
    if dtype is not None:
        return jnp.dtype(dtype)
    return jnp.result_type(float)  # float64 when x64 is enabled, else float32


# ======================================================================================
# conjugate gradients
def _pcg(A, M, b, x0, *, rtol, max_iterations: int, bnorm):
    """Preconditioned CG that only stops on the *true* residual.

    Returns ``x, iterations, history, true_rel``. When the recursive residual reaches
    ``rtol``, ``b - A x`` is recomputed; if that is still above ``rtol`` CG restarts from
    ``x`` with the true residual (within the same iteration budget). Written with one
    application of ``M`` and two of ``A`` in the loop body, to keep compile times short.
    """
    dtype = b.dtype
    dot = lambda u, v: jnp.sum(u * v)  # noqa: E731
    safe_bnorm = jnp.where(bnorm > 0, bnorm, 1.0)
    r0 = b if x0 is None else b - A(x0)
    x0 = jnp.zeros_like(b) if x0 is None else x0
    rel0 = jnp.sqrt(dot(r0, r0)) / safe_bnorm
    hist0 = jnp.zeros(max_iterations + 1, dtype).at[0].set(rel0)

    def cond(s):
        x, r, p, rz, k, rel, hist, fresh, done, ok = s
        return (k < max_iterations) & ~done & ok

    def body(s):
        x, r, p, rz_prev, k, rel, hist, fresh, done, ok = s
        z = M(r)
        rz = dot(r, z)
        beta = jnp.where(fresh, 0.0, rz / jnp.where(rz_prev != 0, rz_prev, 1.0))
        p = z + beta * p
        Ap = A(p)
        pAp = dot(p, Ap)
        good = jnp.isfinite(pAp) & (pAp > 0)
        alpha = jnp.where(good, rz / jnp.where(good, pAp, 1.0), 0.0)
        x = x + alpha * p
        r = r - alpha * Ap
        rel = jnp.sqrt(dot(r, r)) / safe_bnorm
        k = k + 1
        hist = hist.at[k].set(rel)

        def check(_):
            rt = b - A(x)
            return rt, jnp.sqrt(dot(rt, rt)) / safe_bnorm

        r_true, rel_true = jax.lax.cond(rel <= rtol, check, lambda _: (r, rel), None)
        done = rel_true <= rtol
        restart = (rel <= rtol) & ~done
        r = jnp.where(restart, r_true, r)
        ok = good & jnp.isfinite(rel_true)
        return x, r, p, rz, k, rel_true, hist, restart, done, ok

    s = (x0, r0, jnp.zeros_like(b), jnp.asarray(1.0, dtype), jnp.asarray(0), rel0, hist0,
         jnp.asarray(True), rel0 <= rtol, jnp.isfinite(rel0))
    x, r, p, rz, k, rel, hist, fresh, done, ok = jax.lax.while_loop(cond, body, s)
    # `rel` is the true residual when done; otherwise recompute it once for the report
    true_rel = jax.lax.cond(done, lambda _: rel, lambda _: jnp.sqrt(dot(b - A(x), b - A(x))) / safe_bnorm, None)
    true_rel = jnp.where(bnorm > 0, true_rel, 0.0)
    return x, k, hist, true_rel


# ======================================================================================
# steady solve
def _reference_temperature(fields: ThermalFields, grid: TensorGrid, dtype):
    """h·A-weighted mean ambient temperature [K] (a constant shift that keeps b small)."""
    num = jnp.asarray(0.0, dtype)
    den = jnp.asarray(0.0, dtype)
    for face, hf in fields.h.items():
        num = num + fem.face_integral(grid, face, hf * fields.ambient[face], dtype=dtype)
        den = den + fem.face_integral(grid, face, hf, dtype=dtype)
    return jax.lax.stop_gradient(jnp.where(den > 0, num / jnp.where(den > 0, den, 1.0), 0.0)), den


def _setup(grid: TensorGrid, fields: ThermalFields, dtype, smoothing_steps: int, coarse_size: int,
           capacity_scale=None, lumped=False) -> Hierarchy:
    op = fem.build_operator(grid, jax.lax.stop_gradient(fields), dtype=dtype)
    if capacity_scale is not None:
        op = op.with_mass(to_work(jax.lax.stop_gradient(fields.heat_capacity)), capacity_scale, lumped=lumped)
    op = op.prepared()
    plan = _plan(grid, coarse_size)
    return build_hierarchy(op, plan, smoothing_steps=smoothing_steps)


def _plan(grid, coarse_size: int):
    """The coarsening plan of a grid (node counts static, weights from its coordinates)."""
    return plan_coarsening((grid.z, grid.x, grid.y), coarse_size=coarse_size)


def _linear_solve(op, hierarchy, b, *, rtol, max_iterations, precond_is_fn=False):
    """``op^-1 b`` by PCG, differentiable (custom_linear_solve, symmetric)."""
    M = hierarchy if precond_is_fn else (lambda r: vcycle(hierarchy, r))

    def solve(matvec, rhs):
        rn = jnp.sqrt(jnp.sum(rhs * rhs))
        x, k, hist, true_rel = _pcg(matvec, M, rhs, None, rtol=rtol,
                                    max_iterations=max_iterations, bnorm=rn)
        return x, (k, hist, true_rel)

    x, (k, hist, true_rel) = jax.lax.custom_linear_solve(op, b, solve, symmetric=True, has_aux=True)
    return x, k, hist, true_rel


def _energy(grid, fields, T, dtype):
    p_in = fem.volume_integral(grid, fields.source, dtype=dtype)
    out = fem.face_heat_flow(grid, fields, T, dtype=dtype)
    total = sum(out.values(), jnp.asarray(0.0, dtype))
    scale = jnp.maximum(jnp.abs(p_in), sum((jnp.abs(v) for v in out.values()), jnp.asarray(0.0, dtype)))
    bal = jnp.abs(p_in - total) / jnp.where(scale > 0, scale, 1.0)
    return p_in, out, bal


def _steady_core(grid, fields, hierarchy, *, dtype, rtol, max_iterations, x0=None):
    """Traceable steady solve: returns a ThermalSolution (no timings, no raising)."""
    t_ref, hsum = _reference_temperature(fields, grid, dtype)
    op = fem.build_operator(grid, fields, dtype=dtype).prepared()
    b = fem.load_vector(grid, fields, dtype=dtype, ambient_shift=t_ref)
    if x0 is not None:
        # solve for the correction: K d = b - K (x0 - t_ref)
        base = to_work(jnp.asarray(x0, dtype)) - t_ref
        b = b - op(base)
    else:
        base = None
    theta, k, hist, true_rel = _linear_solve(op, hierarchy, b, rtol=rtol, max_iterations=max_iterations)
    if base is not None:
        theta = theta + base
    T = from_work(theta) + t_ref
    p_in, out, bal = _energy(grid, fields, T, dtype)
    ok = (true_rel <= rtol) & jnp.all(jnp.isfinite(T)) & (hsum > 0)
    return ThermalSolution(T, ok, k, hist, true_rel, p_in, out, bal, jnp.asarray(0), {})


_JIT_CACHE: dict = {}


def _jitted(name, fn, static):
    key = (name,)
    f = _JIT_CACHE.get(key)
    if f is None:
        f = _TrimAfterCompile(jax.jit(fn, static_argnames=static))
        _JIT_CACHE[key] = f
    return f


def _release_compiler_memory() -> None:
    """Hand the memory the XLA compiler freed back to the operating system (glibc only).

    Compiling the solver programs allocates ~0.5-1 GB of small objects; glibc keeps the freed
    heap, so without this the process keeps that much on top of the solve's own arrays
    (measured at 2.7M cells: peak RSS 1.87 GB without, see benchmarks/RESULTS.md).
    """
    with contextlib.suppress(OSError, AttributeError):  # not glibc: nothing to release
        ctypes.CDLL("libc.so.6").malloc_trim(0)


class _TrimAfterCompile:
    """A jitted function that releases the compiler's scratch memory after each new compile."""

    def __init__(self, f):
        self._f = f

    def _cache_size(self) -> int:
        return self._f._cache_size()

    def __call__(self, *args, **kwargs):
        size = getattr(self._f, "_cache_size", lambda: None)
        before = size()
        out = self._f(*args, **kwargs)
        if before is not None and size() != before:
            _release_compiler_memory()
        return out


# The compiled programs take the grid's coordinates as data (GridGeometry): only the node
# counts are compiled in, so meshes with equal counts share programs.
def _setup_jit(grid, fields, *, dtype, smoothing_steps, coarse_size, capacity_scale=None, lumped=False):
    f = _jitted("setup", lambda geom, fields, dtype, smoothing_steps, coarse_size, capacity_scale, lumped:
                _setup(geom, fields, dtype, smoothing_steps, coarse_size, capacity_scale, lumped),
                ("dtype", "smoothing_steps", "coarse_size", "lumped"))
    return f(GridGeometry.of(grid), fields, dtype=dtype, smoothing_steps=smoothing_steps,
             coarse_size=coarse_size, capacity_scale=capacity_scale, lumped=lumped)


def _steady_jit(grid, fields, hierarchy, *, dtype, rtol, max_iterations, x0=None):
    f = _jitted("steady", lambda geom, fields, hierarchy, dtype, rtol, max_iterations, x0:
                _steady_core(geom, fields, hierarchy, dtype=dtype, rtol=rtol,
                             max_iterations=max_iterations, x0=x0),
                ("dtype", "max_iterations"))
    return f(GridGeometry.of(grid), fields, hierarchy, dtype=dtype, rtol=rtol, max_iterations=max_iterations,
             x0=x0)


def _raise_if_failed(sol: ThermalSolution, *, call: str, rtol: float, max_iterations: int,
                     energy_tolerance: float) -> None:
    conv = np.asarray(sol.converged)
    hist = np.asarray(sol.residual_history)
    T = np.asarray(sol.temperature)
    if not np.all(np.isfinite(T)):
        raise SolveError(
            f"`{call}` produced non-finite temperatures. The inputs were finite, so the operator "
            f"is probably singular or wildly scaled: check that some face has h > 0 and that "
            f"conductivities are positive and physically sized [W/m/K].",
            residual_history=hist, solution=sol)
    if not np.all(conv):
        it = int(np.max(np.asarray(sol.iterations)))
        rel = float(np.max(np.asarray(sol.relative_residual)))
        raise SolveError(
            f"`{call}` did not converge: true relative residual {rel:.3e} > rtol={rtol:g} after "
            f"{it} of max_iterations={max_iterations} CG iterations (last recursive residuals: "
            f"{np.array2string(hist.reshape(-1, hist.shape[-1])[0][max(0, it - 3):it + 1], precision=3)}). "
            f"Try increasing `max_iterations`, loosening `rtol` (float32 bottoms out near 1e-5 to 1e-4), "
            f"or check that at least one face has a heat-transfer coefficient h > 0.",
            residual_history=hist, solution=sol)
    bal = float(np.max(np.asarray(sol.energy_balance)))
    if bal > energy_tolerance:
        raise SolveError(
            f"`{call}`: energy balance off by a relative {bal:.3e} (> {energy_tolerance:.1e}) although "
            f"the linear residual is {float(np.max(np.asarray(sol.relative_residual))):.2e}: power in "
            f"{float(np.sum(np.asarray(sol.power_in))):.6g} W vs heat out "
            f"{float(sum(np.sum(np.asarray(v)) for v in sol.heat_out.values())):.6g} W. "
            f"Tighten `rtol`, or use float64 (`dtype=numpy.float64` with jax_enable_x64).",
            residual_history=hist, solution=sol)


def _callback_raise(converged, rel, iterations, *, call, rtol):
    if not np.all(np.asarray(converged)):
        raise SolveError(
            f"`{call}` did not converge (traced call): true relative residual "
            f"{float(np.max(rel)):.3e} > rtol={rtol:g} after {int(np.max(iterations))} CG iterations. "
            f"Try increasing `max_iterations`, or pass throw=False and inspect `converged`.")


def _default_energy_tol(rtol, n_nodes):
    # |1^T r| <= sqrt(n) ||r||, and ||b||_2 <= power scale for the shifted problem; the 1e-6
    # floor covers round-off in h (T - T_amb) when h is huge (Dirichlet-like faces)
    return max(1e-6, 10.0 * math.sqrt(n_nodes) * rtol)


def solve_steady(
    grid: TensorGrid,
    fields: ThermalFields,
    *,
    rtol: float = 1e-8,
    max_iterations: int = 200,
    throw: bool = True,
    dtype=None,
    initial_temperature=None,
    smoothing_steps: int = 1,
    coarse_size: int = 1200,
    preconditioner_dtype="auto",
) -> ThermalSolution:
    """Steady temperature of ``K T = b`` (conduction + Robin faces + volumetric sources).

    Parameters
    ----------
    grid : TensorGrid
        The mesh.
    fields : ThermalFields
        Conductivities [W/m/K], sources [W/m^3], face heat-transfer coefficients [W/m^2/K]
        and ambient temperatures [K]. At least one face needs ``h > 0``.
    rtol : float
        Relative residual ``||b - K T|| / ||b||`` to reach (checked on the true residual).
    max_iterations : int
        Largest number of CG iterations.
    throw : bool
        Raise :class:`SolveError` when the solve fails (default). With ``False`` the result
        carries ``converged=False`` instead. Under ``jax.jit``/``grad``/``vmap`` the check runs
        as a host callback.
    dtype : numpy dtype, optional
        ``float64`` (default when ``jax_enable_x64`` is on) or ``float32``.
    initial_temperature : array, optional
        Initial guess, node shape [K].
    smoothing_steps : int
        Line-relaxation sweeps before and after each coarse correction.
    coarse_size : int
        Largest number of nodes solved densely on the coarsest multigrid level.
    preconditioner_dtype : "auto" or numpy dtype
        Precision of the multigrid hierarchy. ``float32`` halves its memory and traffic; CG,
        the operator and the true-residual check stay in ``dtype``, so the answer is as
        accurate (same iteration counts on the benchmark stack, see benchmarks/RESULTS.md).
        ``"auto"`` (default): float32 for float64 solves outside of JAX transformations, with
        an automatic retry in float64 if that solve fails; otherwise ``dtype``.

    Returns
    -------
    ThermalSolution

    Examples
    --------
    >>> import numpy as np, jax
    >>> from solvers import TensorGrid, ThermalFields, solve_steady
    >>> g = TensorGrid(np.linspace(0, 1e-2, 3), np.linspace(0, 1e-2, 3), np.linspace(0, 1e-3, 3),
    ...                np.zeros((2, 2, 2), np.int32), ("all",), np.zeros((2, 2, 2), np.int32), ("si",))
    >>> e = np.ones((2, 2, 2))
    >>> f = ThermalFields(kx=150 * e, ky=150 * e, kz=150 * e, heat_capacity=1.6e6 * e, source=1e9 * e,
    ...                   h={"zmax": np.full((2, 2), 1e4)}, ambient={"zmax": np.full((2, 2), 300.0)})
    >>> sol = solve_steady(g, f, dtype=np.float32, rtol=1e-5)
    >>> round(float(sol.temperature[..., -1].mean()), 1)   # T_amb + P/(h A) = 300 + 0.1 W / 1 W/K
    400.0
    """
    call = "solvers.solve_steady"
    dtype = _dtype(dtype, fields)
    _check_fields(grid, fields, call=call)
    if not _is_traced(fields):
        if not fields.h or all(float(np.max(np.asarray(v))) <= 0 for v in fields.h.values()):
            raise ValueError(
                f"`{call}`: no face has a heat-transfer coefficient h > 0 (faces given: "
                f"{sorted(fields.h) or 'none'}); the steady problem has no unique solution. "
                f"Add e.g. `h={{'zmax': ...}}` with `ambient`.")
    fields = _broadcast_fields(grid, fields, dtype)
    auto = isinstance(preconditioner_dtype, str) and preconditioner_dtype == "auto"
    if auto:
        pdtype = jnp.dtype(jnp.float32) if (dtype == jnp.float64 and not _is_traced(fields)) else dtype
    else:
        pdtype = jnp.dtype(preconditioner_dtype) if preconditioner_dtype is not None else dtype
    if _is_traced(fields):
        hier = _setup(grid, fields, pdtype, smoothing_steps, coarse_size)
        sol = _steady_core(grid, fields, hier, dtype=dtype, rtol=rtol, max_iterations=max_iterations,
                           x0=initial_temperature)
        if throw:
            jax.debug.callback(lambda c, r, i: _callback_raise(c, r, i, call=call, rtol=rtol),
                               sol.converged, sol.relative_residual, sol.iterations)
        return sol
    t0 = time.perf_counter()
    hier = _setup_jit(grid, fields, dtype=pdtype, smoothing_steps=smoothing_steps, coarse_size=coarse_size)
    jax.block_until_ready(hier)
    t1 = time.perf_counter()
    sol = _steady_jit(grid, fields, hier, dtype=dtype, rtol=rtol, max_iterations=max_iterations,
                      x0=initial_temperature)
    jax.block_until_ready(sol)
    t2 = time.perf_counter()
    sol = dataclasses.replace(sol, timings={"setup": t1 - t0, "solve": t2 - t1, "total": t2 - t0})
    if auto and pdtype != dtype and not (bool(sol.converged) and bool(np.all(np.isfinite(np.asarray(sol.temperature))))):
        retry = solve_steady(grid, fields, rtol=rtol, max_iterations=max_iterations, throw=False, dtype=dtype,
                             initial_temperature=initial_temperature, smoothing_steps=smoothing_steps,
                             coarse_size=coarse_size, preconditioner_dtype=dtype)
        sol = dataclasses.replace(retry, timings={**retry.timings, "total": time.perf_counter() - t0,
                                                  "float32_attempt": t2 - t0})
    if throw:
        _raise_if_failed(sol, call=call, rtol=rtol, max_iterations=max_iterations,
                         energy_tolerance=_default_energy_tol(rtol, grid.n_nodes))
    return sol


# ======================================================================================
# post-processing
def region_statistics(grid: TensorGrid, temperature) -> dict:
    """Maximum, mean and hotspot of the temperature in every named region.

    The Q1 temperature is trilinear in each element, so its maximum over a region is
    attained at a node: ``max`` is the largest *nodal* temperature over the nodes of the
    region's elements (the exact maximum of the finite-element field there), and
    ``hotspot`` is that node's coordinates. ``mean`` is the exact volume average of the
    field over the region (each element contributes the mean of its 8 corners, weighted by
    its volume).

    Parameters
    ----------
    grid : TensorGrid
        The mesh, with ``region`` ids and ``region_names``.
    temperature : array or ThermalSolution
        Nodal temperature [K], shape ``grid.node_shape``.

    Returns
    -------
    dict of str -> dict
        ``{name: {"max": K, "mean": K, "hotspot": (x, y, z) [m], "volume": m^3}}`` for every
        region that has elements.
    """
    if isinstance(temperature, ThermalSolution):
        temperature = temperature.temperature
    T = np.asarray(temperature, dtype=float)
    if T.shape != grid.node_shape:
        raise ValueError(f"`solvers.region_statistics`: temperature has shape {T.shape}, expected "
                         f"the node shape {grid.node_shape}")
    nx, ny, nz = grid.shape
    corners = [T[a:a + nx, b:b + ny, c:c + nz] for a in (0, 1) for b in (0, 1) for c in (0, 1)]
    emean = sum(corners) / 8.0
    emax = np.maximum.reduce(corners)
    vol = grid.cell_volumes()
    out = {}
    for r, name in enumerate(grid.region_names):
        mask = grid.region == r
        if not mask.any():
            continue
        v = vol[mask]
        mean = float(np.sum(emean[mask] * v) / np.sum(v))
        # nodal maximum: the element with the largest corner, then that corner
        flat = np.flatnonzero(mask)
        e = flat[np.argmax(emax.ravel()[flat])]
        i, j, k = np.unravel_index(e, grid.shape)
        block = T[i:i + 2, j:j + 2, k:k + 2]
        a, b, c = np.unravel_index(np.argmax(block), (2, 2, 2))
        out[name] = {
            "max": float(block[a, b, c]),
            "mean": mean,
            "hotspot": (float(grid.x[i + a]), float(grid.y[j + b]), float(grid.z[k + c])),
            "volume": float(np.sum(v)),
        }
    return out


# ======================================================================================
# batches
def solve_batch(
    grid: TensorGrid,
    fields,
    *,
    method: str = "auto",
    rtol: float = 1e-8,
    max_iterations: int = 200,
    throw: bool = True,
    dtype=None,
    smoothing_steps: int = 1,
    coarse_size: int = 1200,
) -> ThermalSolution:
    """Steady solves of many variants (sources, conductivities, h, ambient) on one grid.

    Parameters
    ----------
    grid : TensorGrid
        The shared mesh.
    fields : sequence of ThermalFields, or ThermalFields with a leading batch axis
        The variants. A stacked ``ThermalFields`` must have the batch axis on every leaf
        (element fields ``(B, nx, ny, nz)``, face fields ``(B, *face_shape)``), and every
        variant must have the same set of convective faces.
    method : {"auto", "vmap", "loop"}
        ``"vmap"`` vectorises the whole solve (the fast choice on a GPU); ``"loop"`` runs the
        jitted single solve once per variant (1.8x faster than vmap on CPU, DESIGN.md).
        ``"auto"`` picks ``"vmap"`` on GPU/TPU and ``"loop"`` on CPU.
    rtol, max_iterations, throw, dtype, smoothing_steps, coarse_size
        As for :func:`solve_steady`.

    Returns
    -------
    ThermalSolution
        Every leaf has a leading batch axis of length ``B`` (timings are for the batch).
    """
    call = "solvers.solve_batch"
    dtype = _dtype(dtype, fields)
    if isinstance(fields, ThermalFields):
        n = int(np.shape(fields.kx)[0])
        variants = None
        stacked = fields
    else:
        variants = list(fields)
        n = len(variants)
        if n == 0:
            raise ValueError(f"`{call}`: no variants given")
        faces = [tuple(sorted(v.h)) for v in variants]
        if len(set(faces)) != 1:
            raise ValueError(f"`{call}`: every variant needs the same convective faces; got {sorted(set(faces))}")
        variants = [_broadcast_fields(grid, v, dtype) for v in variants]
        stacked = None
    if method == "auto":
        method = "loop" if jax.default_backend() == "cpu" else "vmap"
    if method not in ("vmap", "loop"):
        raise ValueError(f"`{call}(method=...)` must be 'auto', 'vmap' or 'loop', not {method!r}")
    t0 = time.perf_counter()
    if method == "loop":
        if variants is None:
            variants = [jax.tree_util.tree_map(lambda a, i=i: a[i], stacked) for i in range(n)]
        sols = [solve_steady(grid, v, rtol=rtol, max_iterations=max_iterations, throw=throw, dtype=dtype,
                             smoothing_steps=smoothing_steps, coarse_size=coarse_size) for v in variants]
        sols = [dataclasses.replace(s, timings={}) for s in sols]
        out = jax.tree_util.tree_map(lambda *a: jnp.stack(a), *sols)
    else:
        if stacked is None:
            stacked = jax.tree_util.tree_map(lambda *a: jnp.stack(a), *variants)
        _check_fields(grid, stacked, call=call, batch=n)
        stacked = jax.vmap(lambda f: _broadcast_fields(grid, f, dtype))(stacked)

        fn = _jitted("batch_vmap", lambda geom, f, dtype, rtol, max_iterations, smoothing_steps, coarse_size:
                     jax.vmap(lambda ff: _steady_core(geom, ff, _setup(geom, ff, dtype, smoothing_steps, coarse_size),
                                                      dtype=dtype, rtol=rtol, max_iterations=max_iterations))(f),
                     ("dtype", "max_iterations", "smoothing_steps", "coarse_size"))
        out = fn(GridGeometry.of(grid), stacked, dtype=dtype, rtol=rtol, max_iterations=max_iterations,
                 smoothing_steps=smoothing_steps, coarse_size=coarse_size)
        jax.block_until_ready(out)
        if throw:
            _raise_if_failed(out, call=call, rtol=rtol, max_iterations=max_iterations,
                             energy_tolerance=_default_energy_tol(rtol, grid.n_nodes))
    t1 = time.perf_counter()
    return dataclasses.replace(out, timings={"total": t1 - t0, "method": method})


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
    """Result of :func:`solve_transient`.

    Attributes
    ----------
    times : array, shape (n_out,)
        Output times [s].
    temperature : array, shape (n_out, nx+1, ny+1, nz+1)
        Nodal temperature at the output times [K].
    converged : bool array
        True when every time step's linear solve reached ``rtol`` (true residual).
    iterations : int array
        CG iterations over all steps.
    max_step_iterations : int array
        Largest CG iteration count of one step.
    max_relative_residual : array
        Largest true relative residual over the steps.
    steps : int
        Number of time steps taken.
    power_in : array, shape (n_out,)
        Heat input at the output times [W].
    heat_out : array, shape (n_out,)
        Heat leaving through all convective faces at the output times [W].
    timings : dict of str -> float
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
    mids = 0.5 * (ts[1:] + ts[:-1])
    if power is not None:
        seg = np.searchsorted(breaks, mids, side="right") - 1
        w = np.where(seg[:, None] >= 0, np.asarray(power.weights)[np.clip(seg, 0, None)], 0.0)
        seg0 = np.searchsorted(breaks, 0.0, side="right") - 1
        w0 = np.asarray(power.weights)[seg0] if seg0 >= 0 else np.zeros(np.shape(power.weights)[1])
        patterns = jnp.asarray(power.patterns, dtype)
    else:
        w = np.zeros((n_steps, 0))
        w0 = np.zeros(0)
        patterns = jnp.zeros((0,) + grid.shape, dtype)
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
    if init_mode == "steady":
        src0 = fields.source + jnp.tensordot(jnp.asarray(w0, dtype), patterns, axes=1)
        steady = solve_steady(grid, fields.with_(source=src0), rtol=rtol, max_iterations=max_iterations,
                              throw=throw, dtype=dtype, smoothing_steps=smoothing_steps, coarse_size=coarse_size)
        init_field = steady.temperature

    fn = _jitted("transient", _transient_core, ("dtype", "max_iterations", "lumped", "n_out",
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
    vol = np.asarray(grid.cell_volumes())
    p_in = []
    q_out = []
    for j, i in enumerate(out_idx):
        src = np.asarray(fields.source) + (np.tensordot(w[i - 1], np.asarray(patterns), axes=1) if w.shape[1] else 0.0)
        p_in.append(float(np.sum(src * vol)))
        q_out.append(float(sum(np.asarray(v) for v in fem.face_heat_flow(grid, fields, T_out[j], dtype=dtype).values())))
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
        d, k, _, rel0 = _linear_solve(op, M, r0, rtol=rtol * rn / jnp.maximum(r0n, tiny),
                                      max_iterations=max_iterations, precond_is_fn=True)
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
# temperature-dependent conductivity
def solve_nonlinear(
    grid: TensorGrid,
    fields: ThermalFields,
    *,
    exponent,
    reference_temperature,
    tolerance: float = 1e-6,
    max_nonlinear_iterations: int = 50,
    rtol: float = 1e-10,
    max_iterations: int = 200,
    throw: bool = True,
    dtype=None,
    smoothing_steps: int = 1,
    coarse_size: int = 1200,
) -> ThermalSolution:
    """Steady temperature with power-law conductivities ``k = k_ref (T / T_ref)^n``.

    Picard iteration: each element's conductivities are evaluated at the mean of its 8
    corner temperatures, the linear problem is solved (starting from the previous
    temperature, with a freshly built preconditioner), until the largest nodal change is at
    most ``tolerance``.

    Parameters
    ----------
    grid : TensorGrid
        The mesh.
    fields : ThermalFields
        ``kx, ky, kz`` are the conductivities at the reference temperature [W/m/K].
    exponent : float or array
        Power-law exponent ``n`` per element (0 = constant conductivity; silicon is about
        -1.3).
    reference_temperature : float or array
        ``T_ref`` per element [K].
    tolerance : float
        Stop when ``max |T_new - T_old| <= tolerance`` [K].
    max_nonlinear_iterations : int
        Largest number of Picard iterations.
    rtol : float
        Relative residual of each linear solve (tighter than ``tolerance`` needs).
    max_iterations, throw, dtype, smoothing_steps, coarse_size
        As for :func:`solve_steady`.

    Returns
    -------
    ThermalSolution
        With ``nonlinear_iterations`` set; ``iterations`` counts CG iterations of all linear
        solves; ``converged`` is False when the Picard iteration did not reach ``tolerance``.
    """
    call = "solvers.solve_nonlinear"
    dtype = _dtype(dtype, fields)
    _check_fields(grid, fields, call=call)
    n_exp = np.broadcast_to(np.asarray(exponent, float), grid.shape)
    t_ref = np.broadcast_to(np.asarray(reference_temperature, float), grid.shape)
    if not (np.all(np.isfinite(n_exp)) and np.all(np.isfinite(t_ref)) and np.all(t_ref > 0)):
        raise ValueError(f"`{call}`: `exponent` must be finite and `reference_temperature` positive [K]")
    k0 = [np.asarray(np.broadcast_to(getattr(fields, a), grid.shape), float) for a in ("kx", "ky", "kz")]
    t_start = time.perf_counter()
    sol = solve_steady(grid, fields, rtol=rtol, max_iterations=max_iterations, throw=throw, dtype=dtype,
                       smoothing_steps=smoothing_steps, coarse_size=coarse_size)
    total_its = int(sol.iterations)
    T = np.asarray(sol.temperature)
    nx, ny, nz = grid.shape
    change = np.inf
    m = 0
    history = []
    for m in range(1, max_nonlinear_iterations + 1):
        te = sum(T[a:a + nx, b:b + ny, c:c + nz] for a in (0, 1) for b in (0, 1) for c in (0, 1)) / 8.0
        if np.any(te <= 0):
            raise SolveError(f"`{call}`: temperature reached {te.min():.4g} K <= 0 at Picard iteration {m}; "
                             f"the power law k = k_ref (T/T_ref)^n needs T > 0. Check the units [K].")
        factor = (te / t_ref) ** n_exp
        if not np.all(np.isfinite(factor) & (factor > 1e-300)):
            raise SolveError(
                f"`{call}`: Picard iteration diverged at iteration {m}: temperatures up to {te.max():.4g} K "
                f"made k = k_ref (T/T_ref)^n vanish or overflow. The nonlinear problem may have no "
                f"physical solution at this power (thermal runaway), or the exponent is too strong.",
                solution=sol)
        f_m = fields.with_(kx=k0[0] * factor, ky=k0[1] * factor, kz=k0[2] * factor)
        sol = solve_steady(grid, f_m, rtol=rtol, max_iterations=max_iterations, throw=throw, dtype=dtype,
                           initial_temperature=T, smoothing_steps=smoothing_steps, coarse_size=coarse_size)
        total_its += int(sol.iterations)
        T_new = np.asarray(sol.temperature)
        change = float(np.max(np.abs(T_new - T)))
        history.append(change)
        T = T_new
        if not np.isfinite(change):
            break
        if change <= tolerance:
            break
    ok = bool(sol.converged) and change <= tolerance
    sol = dataclasses.replace(sol, converged=jnp.asarray(ok), iterations=jnp.asarray(total_its),
                              nonlinear_iterations=jnp.asarray(m),
                              timings={"total": time.perf_counter() - t_start})
    if throw and not ok:
        raise SolveError(
            f"`{call}`: Picard iteration did not converge: last change {change:.3e} K > tolerance "
            f"{tolerance:g} K after {m} of max_nonlinear_iterations={max_nonlinear_iterations} "
            f"(changes: {', '.join(f'{c:.2e}' for c in history[-5:])}). Try a larger "
            f"`max_nonlinear_iterations`; strong exponents with large temperature rises converge slowly "
            f"(rate about |n| * rise / T).", solution=sol)
    return sol
