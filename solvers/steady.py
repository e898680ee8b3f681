"""Steady heat-conduction solves on a :class:`TensorGrid`: linear, batched and k(T).

The operator is the matrix-free Q1 operator of :mod:`solvers.fem`; linear systems are
solved by conjugate gradients (:mod:`solvers._pcg`) preconditioned with the geometric
multigrid V-cycle of :mod:`solvers.multigrid`. Every solve checks the *true* residual
``||b - A x|| / ||b||`` at the end (a recursive CG residual can drift from it) and the global
energy balance (:func:`solvers.post.energy_balance`), and reports both in the result.

Temperatures are in kelvin, powers in watts. All functions take ``(grid, fields)`` and
keyword-only options; see :class:`ThermalSolution` for what comes back. The solver object
:class:`solvers.backends.MultigridCG` wraps these functions (set-up once, solve many).

Gradients of any scalar of a result with respect to ``fields`` (sources, conductivities,
heat-transfer coefficients, ambient temperatures, heat capacities) come from
``jax.grad``; the linear solve is wrapped in :func:`jax.lax.custom_linear_solve`, so the
backward pass is one adjoint solve with the same operator and preconditioner.
"""

from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass, field

import jax
import jax.numpy as jnp
import numpy as np

from . import fem
from . import _cache
from ._jit import FAST_COMPILE, jitted
from ._pcg import linear_solve
from .fem import FACES, from_work, to_work
from .grid import GridGeometry, TensorGrid, ThermalFields, face_shape
from .multigrid import Hierarchy, build_hierarchy, plan_coarsening, plan_shapes, vcycle
from .post import energy_balance

__all__ = [
    "SolveError",
    "ThermalSolution",
    "solve_batch",
    "solve_nonlinear",
    "solve_steady",
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
    """Result of a steady solve, from either backend (a pytree; batched solves add a leading axis).

    Every field is measured by the solve that made it. ``MultigridCG`` fills it with JAX
    arrays (NumPy when it ran float64 without a global x64 flag), ``ReferenceAMG`` with NumPy.

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
        ``|power_in - sum(heat_out)| / max(|power_in|, sum |heat_out|)`` (dimensionless;
        :func:`solvers.post.relative_imbalance`).
    nonlinear_iterations : int array
        Picard iterations of a temperature-dependent solve (0 for linear solves).
    timings : dict of str -> float
        Wall-clock seconds of ``setup`` (preconditioner; absent when a prepared state was
        reused), ``solve`` and ``total``, measured outside of JAX transformations (empty when
        the solve was traced); ``compile`` (present when this call had to get a program ready:
        trace or load it and compile it) is not part of ``setup`` or ``solve``, only of ``total``.
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
    def max_temperature(self):
        """Largest nodal temperature [K] (the exact maximum of the trilinear field).

        A NumPy value for NumPy results (``ReferenceAMG``, ``MultigridCG`` without x64), else JAX.
        """
        xp = np if isinstance(self.temperature, np.ndarray) else jnp
        return xp.max(self.temperature, axis=(-3, -2, -1))


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


def _steady_core(grid, fields, hierarchy, *, dtype, rtol, max_iterations, x0=None, use_x0=None, load_relative=None,
                 history_size=None):
    """Traceable steady solve: returns a ThermalSolution (no timings, no raising).

    ``history_size`` (static): the residual history's length; ``max_iterations`` may then be a
    traced integer (:func:`solvers._pcg.pcg`).

    ``use_x0`` (a traced bool, with ``x0`` always given): start from ``x0`` where true, from
    nothing where false: one program for both (the correction ``x0 - t_ref`` is then exactly 0,
    so the iterates are those of a solve without ``x0``, bit for bit). ``load_relative`` (a
    traced bool, with ``x0``): measure the residual against the whole load ``||b||`` where true,
    against the start's residual ``||b - K x0||`` (stricter) where false."""
    t_ref, hsum = _reference_temperature(fields, grid, dtype)
    op = fem.build_operator(grid, fields, dtype=dtype).prepared()
    b = fem.load_vector(grid, fields, dtype=dtype, ambient_shift=t_ref)
    if x0 is not None:
        # solve for the correction: K d = b - K (x0 - t_ref)
        base = to_work(jnp.asarray(x0, dtype)) - t_ref
        if use_x0 is not None:
            base = jnp.where(use_x0, base, jnp.zeros_like(base))
        load = b
        b = b - op(base)
    else:
        base = None
    bnorm = None
    if base is not None and load_relative is not None:
        bnorm = jnp.where(load_relative, jnp.sqrt(jnp.sum(load * load)), jnp.sqrt(jnp.sum(b * b)))
    theta, k, hist, true_rel = linear_solve(op, lambda r: vcycle(hierarchy, r), b, rtol=rtol,
                                            max_iterations=max_iterations, bnorm=bnorm, history_size=history_size)
    if base is not None:
        theta = theta + base
    T = from_work(theta) + t_ref
    p_in, out, bal = energy_balance(grid, fields, T, dtype=dtype)
    ok = (true_rel <= rtol) & jnp.all(jnp.isfinite(T)) & (hsum > 0)
    return ThermalSolution(T, ok, k, hist, true_rel, p_in, out, bal, jnp.asarray(0), {})


# The compiled programs take the grid's coordinates as data (GridGeometry): only the node
# counts are compiled in, so meshes with equal counts share programs.
def _setup_jit(grid, fields, *, dtype, smoothing_steps, coarse_size, capacity_scale=None, lumped=False):
    f = jitted("setup", lambda geom, fields, dtype, smoothing_steps, coarse_size, capacity_scale, lumped:
                _setup(geom, fields, dtype, smoothing_steps, coarse_size, capacity_scale, lumped),
                ("dtype", "smoothing_steps", "coarse_size", "lumped"), compiler_options=FAST_COMPILE)
    return f(GridGeometry.of(grid), fields, dtype=dtype, smoothing_steps=smoothing_steps,
             coarse_size=coarse_size, capacity_scale=capacity_scale, lumped=lumped)


def _history_size(max_iterations: int) -> int:
    """The residual history's length in the compiled steady program: ``max_iterations + 1`` rounded up
    to a power of two, at least 1024, so every iteration budget up to 1023 (the default 200, the
    placement optimiser's 400, a user's larger budget after a `did not converge`) runs one program."""
    return max(1024, 1 << int(max_iterations).bit_length())


def _steady_jit(grid, fields, hierarchy, *, dtype, rtol, max_iterations, x0=None, load_relative=False):
    # one program whether or not the solve starts from a field (electro-thermal and derating loops
    # do, their first solve does not): a solve without one passes zeros and use_x0=False, which
    # gives the same iterates bit for bit (_steady_core), and the process loads one program per
    # node count instead of two. The iteration budget is data, not compiled in (_history_size).
    f = jitted("steady", lambda geom, fields, hierarchy, dtype, rtol, max_iterations, x0, use_x0, load_relative,
                history_size:
                _steady_core(geom, fields, hierarchy, dtype=dtype, rtol=rtol, max_iterations=max_iterations, x0=x0,
                             use_x0=use_x0, load_relative=load_relative, history_size=history_size),
                ("dtype", "history_size"))
    use = x0 is not None
    if use:
        x0 = jnp.asarray(x0, dtype) if isinstance(x0, jax.Array) else np.asarray(x0, dtype)
    else:
        x0 = np.zeros(grid.node_shape, dtype)
    return f(GridGeometry.of(grid), fields, hierarchy, dtype=dtype, rtol=rtol,
             max_iterations=np.asarray(max_iterations, dtype=jnp.asarray(0).dtype), x0=x0, use_x0=np.asarray(use),
             load_relative=np.asarray(bool(load_relative) and use), history_size=_history_size(max_iterations))


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


def _preconditioner_dtype(preconditioner_dtype, dtype, traced: bool):
    """The hierarchy's precision: ``"auto"`` is float32 for concrete float64 solves, else ``dtype``."""
    if isinstance(preconditioner_dtype, str) and preconditioner_dtype == "auto":
        return jnp.dtype(jnp.float32) if (dtype == jnp.float64 and not traced) else dtype
    return jnp.dtype(preconditioner_dtype) if preconditioner_dtype is not None else dtype


def _level_shapes(node_shape: tuple, coarse_size: int) -> list[tuple[int, int, int]]:
    """Node shapes of every level of a grid's coarsening plan (working layout z, x, y): from the
    node counts alone (``plan_shapes``), so the electro-thermal loop may check one hierarchy often."""
    return plan_shapes(node_shape, coarse_size=coarse_size)


def _check_hierarchy(grid: TensorGrid, hierarchy: Hierarchy, coarse_size: int, *, call: str) -> None:
    """A hierarchy must have been built for a grid with this one's node counts (cheap check).

    Compares the node shape of every level (from the grid's coarsening plan) with the shapes
    of the hierarchy's line-smoother factors and its coarsest matrix.
    """
    shapes = _level_shapes((len(grid.z), len(grid.x), len(grid.y)), coarse_size)
    n = int(np.prod(shapes[-1]))
    got = [tuple(np.shape(level.factors[1])) for level in hierarchy.levels]
    if got != shapes[:-1] or tuple(np.shape(hierarchy.coarse_chol)) != (n, n):
        raise ValueError(
            f"`{call}(hierarchy=...)` was built for another grid or `coarse_size` (level node shapes "
            f"{got + [np.shape(hierarchy.coarse_chol)[0]]}; this grid needs {shapes[:-1] + [n]}). Build it "
            f"for this grid with `MultigridCG(...).init(grid, fields)`.")


def setup_preconditioner(
    grid: TensorGrid,
    fields: ThermalFields,
    *,
    dtype=None,
    preconditioner_dtype="auto",
    smoothing_steps: int = 1,
    coarse_size: int = 1200,
) -> Hierarchy:
    """The multigrid hierarchy of the steady operator ``K``, for reuse over many solves.

    It depends on the conductivities ``kx, ky, kz`` and the heat-transfer coefficients ``h``
    only (not on sources or ambient temperatures), so a sequence of solves that changes only
    those (electro-thermal fixed points, power sweeps) needs one set-up: pass the result as
    ``solve_steady(..., hierarchy=...)``. Whether it matches the conductivities of a later
    solve is the caller's responsibility: a stale hierarchy still converges to the right
    answer (CG is preconditioned by it, the operator is always the current one), only slower.

    Parameters
    ----------
    grid, fields
        As for :func:`solve_steady`.
    dtype, preconditioner_dtype, smoothing_steps, coarse_size
        As for :func:`solve_steady` (``dtype`` is the solve's precision; ``"auto"`` builds the
        hierarchy in float32 for a concrete float64 solve).

    Returns
    -------
    Hierarchy
        A pytree (traceable; under a JAX trace it is built inside the trace).
    """
    dtype = _dtype(dtype, fields)
    traced = _is_traced(fields)
    pdtype = _preconditioner_dtype(preconditioner_dtype, dtype, traced)
    fields = _broadcast_fields(grid, fields, dtype)
    if traced:
        return _setup(grid, fields, pdtype, smoothing_steps, coarse_size)
    hier = _setup_jit(grid, fields, dtype=pdtype, smoothing_steps=smoothing_steps, coarse_size=coarse_size)
    return jax.block_until_ready(hier)


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
    hierarchy: Hierarchy | None = None,
    relative_to_load: bool = False,
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
        Initial guess, node shape [K]. The solve then reaches ``rtol`` relative to the residual
        of that guess, ``||b - K T0||`` (stricter than ``||b||``), unless ``relative_to_load``.
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
    hierarchy : Hierarchy, optional
        A preconditioner from :func:`setup_preconditioner` to reuse instead of building one
        (``timings`` then has no ``"setup"``). It must come from a grid with the same node
        counts (checked) and should come from the same ``kx, ky, kz, h`` (not checked: a
        stale one only costs iterations).
    relative_to_load : bool
        With ``initial_temperature``: stop at ``rtol`` relative to the whole load ``||b||``, as
        without a guess, so that a good guess saves iterations (the accuracy estimate's coarse
        solves start from the fine solution); the relative residual reported is then relative
        to ``||b||`` too.

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
    traced = _is_traced((fields, initial_temperature))
    if not _is_traced(fields):
        if not fields.h or all(float(np.max(np.asarray(v))) <= 0 for v in fields.h.values()):
            raise ValueError(
                f"`{call}`: no face has a heat-transfer coefficient h > 0 (faces given: "
                f"{sorted(fields.h) or 'none'}); the steady problem has no unique solution. "
                f"Add e.g. `h={{'zmax': ...}}` with `ambient`.")
    if hierarchy is not None:
        _check_hierarchy(grid, hierarchy, coarse_size, call=call)
    fields = _broadcast_fields(grid, fields, dtype)
    auto = isinstance(preconditioner_dtype, str) and preconditioner_dtype == "auto"
    pdtype = _preconditioner_dtype(preconditioner_dtype, dtype, traced)
    if traced:
        hier = _setup(grid, fields, pdtype, smoothing_steps, coarse_size) if hierarchy is None else hierarchy
        sol = _steady_core(grid, fields, hier, dtype=dtype, rtol=rtol, max_iterations=max_iterations,
                           x0=initial_temperature,
                           load_relative=True if (relative_to_load and initial_temperature is not None) else None)
        if throw:
            jax.debug.callback(lambda c, r, i: _callback_raise(c, r, i, call=call, rtol=rtol),
                               sol.converged, sol.relative_residual, sol.iterations)
        return sol
    t0, c0 = time.perf_counter(), _cache.stats()["compile_s"]
    if hierarchy is None:
        hier = _setup_jit(grid, fields, dtype=pdtype, smoothing_steps=smoothing_steps, coarse_size=coarse_size)
        jax.block_until_ready(hier)
    else:
        hier = hierarchy
    t1, c1 = time.perf_counter(), _cache.stats()["compile_s"]
    sol = _steady_jit(grid, fields, hier, dtype=dtype, rtol=rtol, max_iterations=max_iterations,
                      x0=initial_temperature, load_relative=relative_to_load)
    jax.block_until_ready(sol)
    t2, c2 = time.perf_counter(), _cache.stats()["compile_s"]
    # "setup" and "solve" are the work itself; getting the programs ready (trace or load, compile) is "compile"
    timings = {"setup": (t1 - t0) - (c1 - c0)} if hierarchy is None else {}
    if c2 > c0:
        timings["compile"] = c2 - c0
    sol = dataclasses.replace(sol, timings={**timings, "solve": (t2 - t1) - (c2 - c1), "total": t2 - t0})
    hier_dtype = jnp.dtype(np.asarray(hier.coarse_chol).dtype if hierarchy is not None else pdtype)
    if auto and hier_dtype != dtype and not (bool(sol.converged) and bool(np.all(np.isfinite(np.asarray(sol.temperature))))):
        retry = solve_steady(grid, fields, rtol=rtol, max_iterations=max_iterations, throw=False, dtype=dtype,
                             initial_temperature=initial_temperature, smoothing_steps=smoothing_steps,
                             coarse_size=coarse_size, preconditioner_dtype=dtype, relative_to_load=relative_to_load)
        sol = dataclasses.replace(retry, timings={**retry.timings, "total": time.perf_counter() - t0,
                                                  "float32_attempt": t2 - t0})
    if throw:
        _raise_if_failed(sol, call=call, rtol=rtol, max_iterations=max_iterations,
                         energy_tolerance=_default_energy_tol(rtol, grid.n_nodes))
    return sol


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

        fn = jitted("batch_vmap", lambda geom, f, dtype, rtol, max_iterations, smoothing_steps, coarse_size:
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
# temperature-dependent conductivity
def solve_nonlinear(
    grid: TensorGrid,
    fields: ThermalFields,
    *,
    k_exponent,
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
    k_exponent : float or array
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
    n_exp = np.broadcast_to(np.asarray(k_exponent, float), grid.shape)
    t_ref = np.broadcast_to(np.asarray(reference_temperature, float), grid.shape)
    if not (np.all(np.isfinite(n_exp)) and np.all(np.isfinite(t_ref)) and np.all(t_ref > 0)):
        raise ValueError(f"`{call}`: `k_exponent` must be finite and `reference_temperature` positive [K]")
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

