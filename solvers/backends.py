"""Thermal solvers as objects: one interface, two backends.

A solver is a frozen dataclass whose fields are its options (the pattern of lineax's
``AbstractLinearSolver``). It is created once, may prepare a *state* once with
:meth:`ThermalSolver.init` (everything that depends only on the conductivities and the
heat-transfer coefficients), and then solves any number of problems::

    solver = MultigridCG(rtol=1e-8)
    state = solver.init(grid, fields)                 # multigrid set-up, once
    for q in sources:                                 # e.g. an electro-thermal fixed point
        sol = solver.solve(grid, fields.with_(source=q), state=state)

Both backends take the same keywords, return the same result types
(:class:`~solvers.steady.ThermalSolution`, :class:`~solvers.transient.TransientSolution`) with
measured statistics only, and raise the same :class:`~solvers.steady.SolveError`.

* :class:`MultigridCG`: the fast path, matrix-free in JAX; traceable (``jax.grad``, ``jax.vmap``).
* :class:`ReferenceAMG`: scikit-fem assembly and pyamg smoothed-aggregation CG on the host, the
  independent oracle; not traceable.

:func:`get_solver` is the only place that maps a name (``"jax"``, ``"reference"``) to a class.
"""

from __future__ import annotations

import abc
import contextlib
import dataclasses
import math
import time
from dataclasses import dataclass
from typing import Callable

import jax
import numpy as np

from . import reference, steady, transient
from .grid import TensorGrid, ThermalFields
from .post import energy_balance
from .steady import SolveError, ThermalSolution
from .transient import PowerTrace, TransientSolution

__all__ = ["MultigridCG", "ReferenceAMG", "ReferenceState", "ThermalSolver", "get_solver"]


def _is_traced(tree) -> bool:
    return any(isinstance(x, jax.core.Tracer) for x in jax.tree_util.tree_leaves(tree))


class ThermalSolver(abc.ABC):
    """The interface of a heat-conduction solver (steady, k(T), transient, coupled transient).

    Concrete solvers are frozen dataclasses whose fields are their options; they hold no
    mutable state. Temperatures are in kelvin, times in seconds, powers in watts.
    """

    @abc.abstractmethod
    def init(self, grid: TensorGrid, fields: ThermalFields):
        """Set-up that depends only on ``kx, ky, kz`` and ``h`` (not on sources or ambients).

        Pass the result as ``solve(..., state=...)`` to solve many right-hand sides with one
        set-up. A state built for other conductivities or heat-transfer coefficients is the
        caller's responsibility (see each backend for what it then does).
        """

    @abc.abstractmethod
    def solve(self, grid: TensorGrid, fields: ThermalFields, *, state=None, initial_temperature=None,
              throw: bool = True, relative_to_load: bool = False) -> ThermalSolution:
        """Steady temperature of ``K T = b``.

        Parameters
        ----------
        grid : TensorGrid
        fields : ThermalFields
            Conductivities, sources, ``h`` and ambient temperatures; at least one face needs
            ``h > 0``.
        state : optional
            From :meth:`init` with the same ``kx, ky, kz, h``; built here when None.
        initial_temperature : array, optional
            Initial guess [K], ``grid.node_shape``.
        throw : bool
            Raise :class:`SolveError` on failure (default); otherwise ``converged`` is False.
        relative_to_load : bool
            With ``initial_temperature``: reach ``rtol`` relative to the whole load ``||b||`` (a
            good guess then saves iterations), not to the guess's own residual (MultigridCG's
            default). ReferenceAMG always measures against the load (pyamg's own criterion).

        Returns
        -------
        ThermalSolution
        """

    @abc.abstractmethod
    def solve_nonlinear(self, grid: TensorGrid, fields: ThermalFields, *, k_exponent, reference_temperature,
                        tolerance: float = 1e-6, max_nonlinear_iterations: int = 50,
                        throw: bool = True) -> ThermalSolution:
        """Steady temperature with ``k = k_ref (T / T_ref)^n`` by Picard iteration.

        Parameters
        ----------
        grid, fields
            ``kx, ky, kz`` are the conductivities at ``reference_temperature`` [W/m/K].
        k_exponent : float or array
            ``n`` per element (silicon about -1.3).
        reference_temperature : float or array
            ``T_ref`` per element [K].
        tolerance : float
            Stop when the largest nodal change of a Picard iteration is at most this [K].
        max_nonlinear_iterations : int
            Most Picard iterations.
        throw : bool
            Raise :class:`SolveError` when Picard or a linear solve fails.

        Returns
        -------
        ThermalSolution
            ``nonlinear_iterations`` is set; ``iterations`` counts CG iterations of all solves.
        """

    @abc.abstractmethod
    def solve_transient(self, grid: TensorGrid, fields: ThermalFields, *, times, dt: float,
                        power: PowerTrace | None = None, initial="ambient", throw: bool = True) -> TransientSolution:
        """Implicit time integration of ``C dT/dt + K T = b(t)`` from ``t = 0``.

        Parameters are those of :func:`solvers.transient.solve_transient`: output ``times``
        [s] (each one a step end), largest step ``dt`` [s], an optional :class:`PowerTrace`
        added to ``fields.source``, and ``initial`` (``"ambient"``, ``"steady"`` or a nodal
        field [K]).

        Returns
        -------
        TransientSolution
        """

    @abc.abstractmethod
    def solve_transient_coupled(self, grid: TensorGrid, fields: ThermalFields, *,
                                source: Callable[[np.ndarray, float], np.ndarray], duration: float, dt: float,
                                initial, output_every: int = 1,
                                stop: Callable[[np.ndarray, float], str] | None = None,
                                throw: bool = True) -> TransientSolution:
        """BDF2 (backward Euler first step) with a temperature-dependent source.

        ``source(T_elements (nx, ny, nz) [K], t [s]) -> q (nx, ny, nz) [W/m^3]`` is evaluated
        at the extrapolated temperature ``2 T_n - T_{n-1}``; ``stop(T_nodes, t) -> str`` may end
        the run early (the reason is ``TransientSolution.stopped``). Steps are equal,
        ``ceil(duration / dt)`` of them; ``initial`` is the nodal temperature at ``t = 0`` [K].
        See :func:`solvers.transient.solve_transient_coupled`.

        Returns
        -------
        TransientSolution
            ``times[0] = 0`` is the initial state; ``max_relative_residual`` is the largest
            measured true residual of the steps' linear solves.
        """


# ======================================================================================
def _check_options(call: str, rtol, max_iterations) -> None:
    if not (isinstance(rtol, (int, float, np.floating)) and math.isfinite(rtol) and 0 < rtol < 1):
        raise ValueError(f"`{call}(rtol=...)` must be a relative tolerance in (0, 1), e.g. 1e-8; got {rtol!r}")
    if not (isinstance(max_iterations, (int, np.integer)) and max_iterations >= 1):
        raise ValueError(f"`{call}(max_iterations=...)` must be a positive integer; got {max_iterations!r}")


def _to_numpy(tree):
    """Every JAX array of a pytree as a NumPy array (nothing float64 stays a JAX array)."""
    return jax.tree_util.tree_map(lambda x: np.asarray(x) if isinstance(x, jax.Array) else x, tree)


_X64_ADVICE = ('enable it with `jax.config.update("jax_enable_x64", True)` at the start of the script, '
               'or pass `MultigridCG(dtype="float32", rtol=1e-5)`')


@dataclass(frozen=True)
class MultigridCG(ThermalSolver):
    """Matrix-free Q1 operator in JAX, CG preconditioned by a geometric multigrid V-cycle.

    The fast backend: :func:`solvers.steady.solve_steady` and friends behind the solver
    interface. :meth:`solve` is traceable: ``jax.grad`` (an adjoint solve through
    ``jax.lax.custom_linear_solve``), ``jax.vmap`` and ``jax.jit`` apply to it.

    Parameters
    ----------
    rtol : float
        Relative tolerance of the *true* residual ``||b - A x|| / ||b||`` of every linear solve.
    max_iterations : int
        Most CG iterations of one linear solve.
    dtype : None, "float64" or "float32"
        Precision of the solve; see *Precision* below.
    smoothing_steps : int
        z-line relaxation sweeps before and after each coarse correction.
    coarse_size : int
        Largest number of nodes solved densely on the coarsest level.
    preconditioner_dtype : "auto" or dtype
        Precision of the multigrid hierarchy (``"auto"``: float32 for concrete float64 solves,
        with a float64 retry if that fails; see :func:`solvers.steady.solve_steady`).
    transient_method : {"trbdf2", "bdf2", "euler"}
        Time integrator of :meth:`solve_transient` (:meth:`solve_transient_coupled` is always
        BDF2 with a backward-Euler first step).

    Notes
    -----
    **Precision.** A library must not need a global JAX flag. With ``dtype`` None (or
    ``"float64"``) the solve runs in float64:

    * with ``jax_enable_x64`` on, as is;
    * with it off and *concrete* input, the whole call runs inside ``jax.enable_x64(True)`` and
      every array of the result (and of a state from :meth:`init`) comes back as a NumPy
      float64 array, so no float64 JAX array escapes into the float32 session;
    * with it off and *traced* input (the caller's ``jit``/``grad``/``vmap``), float64 cannot
      be switched on inside the trace, so the call fails at once, before compiling, with a
      ``ValueError`` that says how to fix it: enable x64 at the start of the script, or pass
      ``MultigridCG(dtype="float32", rtol=1e-5)`` (float32 bottoms out near 1e-5 to 1e-4).

    With ``dtype="float32"`` the solve runs in float32 whatever the flag.

    **State.** :meth:`init` returns the multigrid hierarchy of ``K``. With it, :meth:`solve`
    builds nothing: CG applies the operator of the ``fields`` it is given, preconditioned by
    the stored hierarchy. A hierarchy from other conductivities therefore still gives the
    right answer, only in more iterations; one from a grid with other node counts is refused.

    Examples
    --------
    >>> import numpy as np
    >>> from solvers import MultigridCG, TensorGrid, ThermalFields
    >>> g = TensorGrid(np.linspace(0, 1e-2, 3), np.linspace(0, 1e-2, 3), np.linspace(0, 1e-3, 3),
    ...                np.zeros((2, 2, 2), np.int32), ("all",), np.zeros((2, 2, 2), np.int32), ("si",))
    >>> e = np.ones((2, 2, 2))
    >>> f = ThermalFields(kx=150 * e, ky=150 * e, kz=150 * e, heat_capacity=1.6e6 * e, source=1e9 * e,
    ...                   h={"zmax": np.full((2, 2), 1e4)}, ambient={"zmax": np.full((2, 2), 300.0)})
    >>> solver = MultigridCG()
    >>> state = solver.init(g, f)
    >>> [round(float(solver.solve(g, f.with_(source=s * e), state=state).temperature[..., -1].mean()), 3)
    ...  for s in (1e9, 2e9)]                  # T_amb + P/(h A)
    [400.0, 500.0]
    """

    rtol: float = 1e-8
    max_iterations: int = 200
    dtype: object = None
    smoothing_steps: int = 1
    coarse_size: int = 1200
    preconditioner_dtype: object = "auto"
    transient_method: str = "trbdf2"

    def __post_init__(self):
        call = "MultigridCG"
        _check_options(call, self.rtol, self.max_iterations)
        if self.dtype is not None and np.dtype(self.dtype) not in (np.dtype(np.float32), np.dtype(np.float64)):
            raise ValueError(f"`{call}(dtype=...)` must be None, 'float64' or 'float32'; got {self.dtype!r}")
        if self.transient_method not in ("trbdf2", "bdf2", "euler"):
            raise ValueError(f"`{call}(transient_method=...)` must be 'trbdf2', 'bdf2' or 'euler'; "
                             f"got {self.transient_method!r}")
        if not (isinstance(self.smoothing_steps, (int, np.integer)) and self.smoothing_steps >= 1):
            raise ValueError(f"`{call}(smoothing_steps=...)` must be a positive integer; got {self.smoothing_steps!r}")
        if not (isinstance(self.coarse_size, (int, np.integer)) and self.coarse_size >= 8):
            raise ValueError(f"`{call}(coarse_size=...)` must be an integer >= 8; got {self.coarse_size!r}")

    # -- precision policy ----------------------------------------------------------------
    def _wants_x64(self) -> bool:
        return self.dtype is None or np.dtype(self.dtype) == np.dtype(np.float64)

    def _precision(self, tree, method: str):
        """``(context, to_numpy)`` for a call: see *Precision* in the class docstring."""
        if not self._wants_x64() or jax.config.jax_enable_x64:
            return contextlib.nullcontext(), False
        if _is_traced(tree):
            raise ValueError(
                f"`MultigridCG.{method}` was called inside a JAX transformation (jit, grad or vmap) while "
                f"jax_enable_x64 is off, and MultigridCG(dtype=None) solves in float64, which cannot be "
                f"switched on inside a trace: {_X64_ADVICE}.")
        return jax.enable_x64(True), True

    def _dtype(self):
        return None if self.dtype is None else np.dtype(self.dtype)

    def _steady_options(self) -> dict:
        return dict(rtol=self.rtol, max_iterations=self.max_iterations, dtype=self._dtype(),
                    smoothing_steps=self.smoothing_steps, coarse_size=self.coarse_size)

    @staticmethod
    def _not_traceable(tree, method: str) -> None:
        if _is_traced(tree):
            raise TypeError(f"`MultigridCG.{method}` runs a host-side loop and is not traceable (it got JAX "
                            f"tracers from jit/grad/vmap); call it on concrete arrays, or differentiate "
                            f"`MultigridCG.solve`.")

    # -- interface ------------------------------------------------------------------------
    def init(self, grid: TensorGrid, fields: ThermalFields):
        """The multigrid hierarchy of ``K`` (a pytree; NumPy leaves when x64 was switched on locally)."""
        ctx, to_np = self._precision(fields, "init")
        with ctx:
            hier = steady.setup_preconditioner(grid, fields, dtype=self._dtype(),
                                               preconditioner_dtype=self.preconditioner_dtype,
                                               smoothing_steps=self.smoothing_steps, coarse_size=self.coarse_size)
            return _to_numpy(hier) if to_np else hier

    def solve(self, grid, fields, *, state=None, initial_temperature=None, throw=True,
              relative_to_load=False) -> ThermalSolution:
        ctx, to_np = self._precision((fields, initial_temperature, state), "solve")
        with ctx:
            try:
                sol = steady.solve_steady(grid, fields, throw=throw, initial_temperature=initial_temperature,
                                          preconditioner_dtype=self.preconditioner_dtype, hierarchy=state,
                                          relative_to_load=relative_to_load, **self._steady_options())
            except SolveError as err:
                if to_np and err.solution is not None:
                    err.solution = _to_numpy(err.solution)
                raise
            return _to_numpy(sol) if to_np else sol

    def solve_nonlinear(self, grid, fields, *, k_exponent, reference_temperature, tolerance=1e-6,
                        max_nonlinear_iterations=50, throw=True) -> ThermalSolution:
        self._not_traceable((fields, k_exponent, reference_temperature), "solve_nonlinear")
        ctx, to_np = self._precision(fields, "solve_nonlinear")
        with ctx:
            sol = steady.solve_nonlinear(grid, fields, k_exponent=k_exponent, reference_temperature=reference_temperature,
                                         tolerance=tolerance, max_nonlinear_iterations=max_nonlinear_iterations,
                                         throw=throw, **self._steady_options())
            return _to_numpy(sol) if to_np else sol

    def solve_transient(self, grid, fields, *, times, dt, power=None, initial="ambient",
                        throw=True) -> TransientSolution:
        self._not_traceable((fields, power, initial if not isinstance(initial, str) else None), "solve_transient")
        ctx, to_np = self._precision(fields, "solve_transient")
        with ctx:
            sol = transient.solve_transient(grid, fields, times=times, dt=dt, power=power, initial=initial,
                                            method=self.transient_method, throw=throw, **self._steady_options())
            return _to_numpy(sol) if to_np else sol

    def solve_transient_coupled(self, grid, fields, *, source, duration, dt, initial, output_every=1, stop=None,
                                throw=True) -> TransientSolution:
        self._not_traceable((fields, initial), "solve_transient_coupled")
        ctx, _ = self._precision(fields, "solve_transient_coupled")
        with ctx:  # the result has NumPy leaves already
            return transient.solve_transient_coupled(grid, fields, source=source, duration=duration, dt=dt,
                                                     initial=initial, output_every=output_every, stop=stop,
                                                     throw=throw, **self._steady_options())


# ======================================================================================
@dataclass(frozen=True, eq=False)
class ReferenceState:
    """What :meth:`ReferenceAMG.init` prepares: the assembled operator and its AMG hierarchy.

    Attributes
    ----------
    matrix : scipy.sparse.csr_matrix
        ``K`` (conduction + Robin), ``(n_nodes, n_nodes)``, as used by CG and the residual check.
    hierarchy : pyamg.MultilevelSolver
        Smoothed-aggregation hierarchy of ``matrix``.
    setup_seconds : float
        Measured wall-clock time of the assembly and the hierarchy.
    """

    matrix: object
    hierarchy: object
    setup_seconds: float


@dataclass(frozen=True)
class ReferenceAMG(ThermalSolver):
    """scikit-fem assembly (``intorder=3``) and pyamg smoothed-aggregation CG: the oracle.

    An independent route to the same discrete problem as :class:`MultigridCG` (the matrices
    agree to round-off), on the host in NumPy float64. Results have NumPy leaves. Not
    traceable: under ``jax.jit``/``grad``/``vmap`` every method raises a ``TypeError``.

    Parameters
    ----------
    rtol : float
        Relative tolerance of the *true* residual of every linear solve (CG restarts from its
        iterate while the recomputed residual is above it).
    max_iterations : int
        Most CG iterations of one linear solve.

    Notes
    -----
    **State.** :meth:`init` assembles ``K`` and builds its hierarchy; :meth:`solve` with that
    state only forms the load vector and runs CG. Unlike :class:`MultigridCG`, the state *is*
    the operator: a state from other conductivities or ``h`` solves the problem with *those*.

    **k(T).** :meth:`solve_nonlinear` evaluates the conductivity at the quadrature points of
    the trilinear temperature (:func:`solvers.reference.solve_reference_nonlinear`), the
    fast path at the element's mean temperature: the two agree to the discretisation error,
    not to round-off. Its ``relative_residual`` is the nonlinear residual ``||b - K(T) T|| / ||b||``.

    **Transients.** :meth:`solve_transient` is variable-step BDF2 with a backward-Euler first
    step (:func:`solvers.reference.solve_reference_transient`), without a restart at power
    switches; step ratios must stay below 1 + √2 (choose output times on the ``dt`` grid).
    """

    rtol: float = 1e-8
    max_iterations: int = 500

    def __post_init__(self):
        _check_options("ReferenceAMG", self.rtol, self.max_iterations)

    @staticmethod
    def _concrete(tree, method: str) -> None:
        if _is_traced(tree):
            raise TypeError(
                f"`ReferenceAMG.{method}` got JAX tracers (it was called inside jax.jit, grad or vmap); it "
                f"assembles with scikit-fem and solves with pyamg on the host and is not traceable. Use "
                f"`MultigridCG()` to differentiate, batch or jit a solve.")

    def init(self, grid: TensorGrid, fields: ThermalFields) -> ReferenceState:
        """Assemble ``K`` (scikit-fem) and its smoothed-aggregation hierarchy."""
        self._concrete(fields, "init")
        t0 = time.perf_counter()
        K, _ = reference.assemble(grid, fields.with_(source=np.zeros(grid.shape)))
        ml = reference.amg_hierarchy(K)
        return ReferenceState(ml.levels[0].A, ml, time.perf_counter() - t0)

    def solve(self, grid, fields, *, state=None, initial_temperature=None, throw=True,
              relative_to_load=False) -> ThermalSolution:
        # pyamg measures the residual of a start against the whole load whatever this keyword says
        # (accepted for the common interface; see ThermalSolver.solve)
        call = "ReferenceAMG.solve"
        self._concrete((fields, initial_temperature), "solve")
        steady._check_fields(grid, fields, call=call)
        t_start = time.perf_counter()
        t0 = reference._reference_temperature(grid, fields, call)
        built = state is None
        if built:
            state = self.init(grid, fields)
        if state.matrix.shape[0] != grid.n_nodes:
            raise ValueError(f"`{call}(state=...)` was built for {state.matrix.shape[0]} nodes, this grid has "
                             f"{grid.n_nodes}; build it with `ReferenceAMG(...).init(grid, fields)`.")
        t1 = time.perf_counter()
        K = state.matrix
        rhs = reference.load(grid, fields) - t0 * (K @ np.ones(grid.n_nodes))
        x0 = None if initial_temperature is None else np.asarray(initial_temperature, float).ravel() - t0
        theta, its, hist, rel, ok = reference.amg_solve(K, rhs, x0=x0, rtol=self.rtol, maxiter=self.max_iterations,
                                                        ml=state.hierarchy, caller=call, throw=False)
        temperature = (t0 + theta).reshape(grid.node_shape)
        t2 = time.perf_counter()
        timings = {"setup": state.setup_seconds} if built else {}
        sol = self._solution(grid, fields, temperature, ok, its, hist, rel, 0,
                             {**timings, "solve": t2 - t1, "total": t2 - t_start})
        if throw:
            steady._raise_if_failed(sol, call=call, rtol=self.rtol, max_iterations=self.max_iterations,
                                    energy_tolerance=steady._default_energy_tol(self.rtol, grid.n_nodes))
        return sol

    def _solution(self, grid, fields, temperature, converged, iterations, history, relative, nonlinear, timings):
        p_in, heat_out, bal = energy_balance(grid, fields, temperature)
        padded = np.zeros(max(self.max_iterations, iterations) + 1)
        padded[: len(history)] = history
        ok = bool(converged) and bool(np.all(np.isfinite(temperature)))
        return ThermalSolution(
            temperature=temperature, converged=np.asarray(ok), iterations=np.asarray(int(iterations)),
            residual_history=padded, relative_residual=np.asarray(float(relative)), power_in=np.asarray(p_in),
            heat_out={f: np.asarray(v) for f, v in heat_out.items()}, energy_balance=np.asarray(bal),
            nonlinear_iterations=np.asarray(int(nonlinear)), timings=timings)

    def solve_nonlinear(self, grid, fields, *, k_exponent, reference_temperature, tolerance=1e-6,
                        max_nonlinear_iterations=50, throw=True) -> ThermalSolution:
        call = "ReferenceAMG.solve_nonlinear"
        self._concrete((fields, k_exponent, reference_temperature), "solve_nonlinear")
        steady._check_fields(grid, fields, call=call)
        t_start = time.perf_counter()
        r = reference.solve_reference_nonlinear(
            grid, fields, k_exponent=k_exponent, reference_temperature=reference_temperature, tol=0.0,
            atol=tolerance, max_iterations=max_nonlinear_iterations, linear_rtol=self.rtol,
            linear_maxiter=self.max_iterations, throw=False)
        sol = self._solution(grid, fields, r.temperature, r.converged, r.linear_iterations, r.residuals,
                             r.relative_residual, r.iterations, {"total": time.perf_counter() - t_start})
        if throw and not bool(sol.converged):
            raise SolveError(
                f"`{call}`: Picard iteration did not converge: last change {r.updates[-1]:.3e} K > tolerance "
                f"{tolerance:g} K after {r.iterations} of max_nonlinear_iterations={max_nonlinear_iterations} "
                f"(changes: {', '.join(f'{c:.2e}' for c in r.updates[-5:])}). Try a larger "
                f"`max_nonlinear_iterations`; strong exponents with large temperature rises converge slowly.",
                residual_history=r.residuals, solution=sol)
        return sol

    def solve_transient(self, grid, fields, *, times, dt, power=None, initial="ambient",
                        throw=True) -> TransientSolution:
        call = "ReferenceAMG.solve_transient"
        self._concrete((fields, power, initial if not isinstance(initial, str) else None), "solve_transient")
        steady._check_fields(grid, fields, call=call)
        t_start = time.perf_counter()
        sch = transient.transient_schedule(grid, fields, times=times, dt=dt, power=power, initial=initial, call=call)
        source = np.broadcast_to(np.asarray(fields.source, float), grid.shape)
        patterns = source[None]
        weights = np.ones((len(sch.step_ends) - 1, 1))
        if power is not None:
            patterns = np.concatenate([patterns, np.asarray(power.patterns, float)])
            weights = np.concatenate([weights, sch.weights], axis=1)
        if sch.initial_mode == "steady":
            q0 = source + np.tensordot(sch.initial_weights, np.asarray(power.patterns, float), axes=1) \
                if power is not None else source
            init = self.solve(grid, fields.with_(source=q0), throw=throw).temperature
        else:
            init = sch.initial_field  # None: the h·A-weighted mean ambient, as MultigridCG
        r = reference.solve_reference_transient(grid, fields, times=sch.step_ends, source_patterns=patterns,
                                                weights=weights, initial=init, rtol=self.rtol,
                                                maxiter=self.max_iterations, throw=False)
        idx = sch.output_steps
        temperature = r.temperature[idx]
        rels = r.relative_residuals
        converged = bool(np.all(rels <= self.rtol) and np.all(np.isfinite(temperature)))
        heat = np.broadcast_to(r.energy_balance.total_heat_out, rels.shape)
        end = time.perf_counter()
        sol = TransientSolution(
            times=sch.t_out, temperature=temperature, converged=np.asarray(converged),
            iterations=np.asarray(int(r.iterations.sum())), max_step_iterations=np.asarray(int(r.iterations.max())),
            max_relative_residual=np.asarray(float(rels.max())), power_in=np.asarray(r.energy_balance.power_in)[idx - 1],
            heat_out=np.asarray(heat)[idx - 1], steps=len(rels), timings={"total": end - t_start})
        if throw:
            if not np.all(np.isfinite(temperature)):
                raise SolveError(f"`{call}` produced non-finite temperatures; check the fields and `dt`.",
                                 solution=sol)
            if not converged:
                bad = int(np.argmax(rels > self.rtol))
                raise SolveError(
                    f"`{call}`: the linear solve of step {bad + 1} did not converge: true relative residual "
                    f"{rels[bad]:.3e} > rtol={self.rtol:g} after {r.iterations[bad]} of "
                    f"max_iterations={self.max_iterations} CG iterations. Try increasing `max_iterations`, "
                    f"loosening `rtol`, or a smaller `dt`.", residual_history=rels, solution=sol)
        return sol

    def solve_transient_coupled(self, grid, fields, *, source, duration, dt, initial, output_every=1, stop=None,
                                throw=True) -> TransientSolution:
        call = "ReferenceAMG.solve_transient_coupled"
        self._concrete((fields, initial), "solve_transient_coupled")
        steady._check_fields(grid, fields, call=call)
        n_steps, dt, T0 = transient.coupled_inputs(grid, fields, duration=duration, dt=dt, initial=initial,
                                                   output_every=output_every, call=call)
        start = time.perf_counter()
        K, b_robin = reference.assemble(grid, fields.with_(source=np.zeros(grid.shape)))
        C = reference.assemble_capacity(grid, fields)
        t0 = reference._reference_temperature(grid, fields, call, required=False)
        b_fixed = b_robin - t0 * (K @ np.ones(grid.n_nodes))
        ml = {True: reference.amg_hierarchy((C / dt + K).tocsr())}
        if n_steps > 1:
            ml[False] = reference.amg_hierarchy((1.5 * C / dt + K).tocsr())
        setup = time.perf_counter() - start
        theta = [T0.ravel() - t0] * 2  # [theta_n, theta_{n-1}]

        def advance(q, first):
            c1, c2, e = (1.0 / dt, 0.0, 0.0) if first else (2.0 / dt, 0.5 / dt, 1.0)
            rhs = b_fixed + reference._element_load(grid, q) + C @ (c1 * theta[0] - c2 * theta[1])
            guess = theta[0] + e * (theta[0] - theta[1])
            x, its, _, rel, _ = reference.amg_solve(ml[first].levels[0].A, rhs, x0=guess, rtol=self.rtol,
                                                    maxiter=self.max_iterations, ml=ml[first], caller=call,
                                                    throw=False)
            theta[:] = [x, theta[0]]
            return (t0 + x).reshape(grid.node_shape), its, rel

        return transient.coupled_bdf2(grid, fields, advance=advance, source=source, n_steps=n_steps, dt=dt,
                                      initial=T0, output_every=output_every, stop=stop, rtol=self.rtol,
                                      max_iterations=self.max_iterations, throw=throw, call=call,
                                      setup_seconds=setup, start=start)


# ======================================================================================
_SOLVERS = {"jax": MultigridCG, "reference": ReferenceAMG}


def get_solver(name: str, **options) -> ThermalSolver:
    """The solver called ``name``, with ``options`` as its fields.

    The only place that maps names to solver classes (the command line's ``--method`` uses it).

    Parameters
    ----------
    name : {"jax", "reference"}
        ``"jax"``: :class:`MultigridCG`; ``"reference"``: :class:`ReferenceAMG`.
    **options
        Fields of that class, e.g. ``rtol=1e-10``.

    Returns
    -------
    ThermalSolver

    Raises
    ------
    ValueError
        For an unknown name (the message lists the choices) or an unknown option (the message
        lists the options of that solver).

    Examples
    --------
    >>> from solvers import get_solver
    >>> get_solver("reference", rtol=1e-10)
    ReferenceAMG(rtol=1e-10, max_iterations=500)
    """
    cls = _SOLVERS.get(name)
    if cls is None:
        choices = ", ".join(f"{k!r} ({c.__name__})" for k, c in _SOLVERS.items())
        raise ValueError(f"`solvers.get_solver({name!r})`: unknown solver; choose one of {choices}")
    known = [f.name for f in dataclasses.fields(cls)]
    unknown = sorted(set(options) - set(known))
    if unknown:
        raise ValueError(f"`solvers.get_solver({name!r}, ...)`: unknown option(s) {', '.join(unknown)}; "
                         f"{cls.__name__} takes {', '.join(known)}")
    return cls(**options)
