"""Reference (oracle) assembly and solves of the Q1 heat-conduction problem with scikit-fem.

The fast path in :mod:`solvers` applies the same operator matrix-free in JAX; this module
assembles it as a sparse matrix on the same grid (quadrature ``intorder=3``) so the two can be
compared to round-off, and it solves it by an independent route (pyamg smoothed-aggregation
CG, BDF2 in time, Picard for k(T)) so the fast solver has something to be checked against.

Node numbering is the grid's C order (see :mod:`solvers.grid`).

All solves are carried out for the deviation ``theta = T - T_0`` from a reference temperature
``T_0`` (the h·A-weighted mean ambient). Without the shift the right-hand side is dominated by
``∫ h T_amb v ds`` (about ``h·A·300 K``), and a relative residual of 1e-8 of *that* could be as
large as the power itself; with it, the tolerance applies to the heat that actually flows.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from .grid import FACES, TensorGrid, ThermalFields
from .post import energy_balance, relative_imbalance
from .steady import SolveError

__all__ = [
    "EnergyBalance",
    "NonlinearReferenceResult",
    "SteadyReferenceResult",
    "TransientReferenceResult",
    "amg_hierarchy",
    "amg_solve",
    "assemble",
    "assemble_capacity",
    "load",
    "solve_reference_nonlinear",
    "solve_reference_steady",
    "solve_reference_transient",
]


def _bases(grid: TensorGrid):
    from skfem import Basis, ElementHex0, ElementHex1

    mesh = grid.to_skfem()
    basis = Basis(mesh, ElementHex1(), intorder=3)
    basis0 = basis.with_element(ElementHex0())
    return mesh, basis, basis0


def _facet_cell_index(grid: TensorGrid, mesh, facets: np.ndarray, face: str) -> tuple[np.ndarray, ...]:
    """Face-cell (a, b) indices of boundary facets of one face, from the facet centres."""
    centres = mesh.p[:, mesh.facets[:, facets]].mean(axis=1)
    axes = {"x": 0, "y": 1, "z": 2}
    normal = face[0]
    tangential = [a for a in "xyz" if a != normal]
    idx = []
    for a in tangential:
        coords = getattr(grid, a)
        idx.append(np.searchsorted(coords, centres[axes[a]]) - 1)
    return tuple(idx)


def assemble(grid: TensorGrid, fields: ThermalFields) -> tuple[sp.csr_matrix, np.ndarray]:
    """Assemble the steady operator ``K`` and the load ``b`` so that ``K T = b``.

    ``K`` holds conduction (per-element diagonal conductivity) plus the Robin terms
    ``∫ h T v ds``; ``b`` holds ``∫ q v dx + ∫ h T_amb v ds``.

    Returns
    -------
    K : scipy.sparse.csr_matrix
        ``(n_nodes, n_nodes)`` symmetric positive (semi-)definite matrix.
    b : numpy.ndarray
        ``(n_nodes,)`` load vector [W].
    """
    from skfem import BilinearForm, FacetBasis, ElementHex1, LinearForm, asm

    mesh, basis, basis0 = _bases(grid)

    @BilinearForm
    def conduction(u, v, w):
        du, dv = u.grad, v.grad
        return w.kx * du[0] * dv[0] + w.ky * du[1] * dv[1] + w.kz * du[2] * dv[2]

    @LinearForm
    def source(v, w):
        return w.q * v

    fx = lambda a: basis0.interpolate(np.asarray(a, dtype=float).ravel())  # noqa: E731
    K = asm(conduction, basis, kx=fx(fields.kx), ky=fx(fields.ky), kz=fx(fields.kz))
    b = asm(source, basis, q=fx(fields.source))

    @BilinearForm
    def robin(u, v, w):
        return w.h * u * v

    @LinearForm
    def robin_load(v, w):
        return w.h * w.t_amb * v

    for face in FACES:
        if face not in fields.h:
            continue
        facets = mesh.boundaries[face]
        fb = FacetBasis(mesh, ElementHex1(), facets=facets, intorder=3)
        ia, ib = _facet_cell_index(grid, mesh, facets, face)
        # h and the ambient may be scalars or face-cell arrays (face_shape of the grid).
        h = _face_field(grid, fields.h[face], face)[ia, ib]
        t_amb = _face_field(grid, fields.ambient[face], face)[ia, ib]
        nqp = fb.X.shape[-1]
        hq = np.repeat(h[:, None], nqp, axis=1)
        tq = np.repeat(t_amb[:, None], nqp, axis=1)
        K = K + asm(robin, fb, h=hq)
        b = b + asm(robin_load, fb, h=hq, t_amb=tq)
    return sp.csr_matrix(K), np.asarray(b)


def assemble_capacity(grid: TensorGrid, fields: ThermalFields) -> sp.csr_matrix:
    """Consistent heat-capacity matrix ``C_ij = ∫ rho*c φ_i φ_j dx`` [J/K]."""
    from skfem import BilinearForm, asm

    mesh, basis, basis0 = _bases(grid)

    @BilinearForm
    def capacity(u, v, w):
        return w.c * u * v

    C = asm(capacity, basis, c=basis0.interpolate(np.asarray(fields.heat_capacity, dtype=float).ravel()))
    return sp.csr_matrix(C)


# ---------------------------------------------------------------------------------------
# Results and diagnostics
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class EnergyBalance:
    """Global heat balance of a solution [W].

    For steady solves the fields are floats; for transient solves they are arrays with one
    entry per time step (evaluated at the end of the step).

    Attributes
    ----------
    power_in : float or numpy.ndarray
        Heat generated, ``∫ q dV`` [W].
    heat_out : dict of str -> float or numpy.ndarray
        Heat leaving through each convective face, ``∫ h (T - T_amb) dA`` [W].
    stored : float or numpy.ndarray
        Rate of increase of the stored heat, ``∫ rho c dT/dt dV`` as the time integrator
        discretises it [W]; zero for steady solves.
    """

    power_in: float | np.ndarray
    heat_out: dict
    stored: float | np.ndarray = 0.0

    @property
    def total_heat_out(self):
        """Heat leaving through all convective faces [W]."""
        return sum(self.heat_out.values(), 0.0)

    @property
    def residual(self):
        """``power_in - total_heat_out - stored`` [W]; zero up to the linear-solver tolerance."""
        return self.power_in - self.total_heat_out - self.stored

    @property
    def relative(self):
        """:func:`solvers.post.relative_imbalance` of the three flows (dimensionless)."""
        return relative_imbalance(self.power_in, self.heat_out, self.stored)


@dataclass(frozen=True, eq=False)
class SteadyReferenceResult:
    """Result of :func:`solve_reference_steady`.

    Attributes
    ----------
    temperature : numpy.ndarray
        Nodal temperature [K], shape ``grid.node_shape``.
    iterations : int
        Preconditioned-CG iterations.
    residuals : numpy.ndarray
        Relative (recursive) CG residuals ``||r_i|| / ||b||``, ``iterations + 1`` of them.
    relative_residual : float
        True residual ``||b - K T|| / ||b||`` of the shifted system, recomputed after the solve.
    energy_balance : EnergyBalance
        Power in against convective heat out.
    """

    temperature: np.ndarray
    iterations: int
    residuals: np.ndarray
    relative_residual: float
    energy_balance: EnergyBalance


@dataclass(frozen=True, eq=False)
class TransientReferenceResult:
    """Result of :func:`solve_reference_transient`.

    Attributes
    ----------
    times : numpy.ndarray
        ``(n_steps + 1,)`` output times [s], ``times[0]`` the initial time.
    temperature : numpy.ndarray
        ``(n_steps + 1, *grid.node_shape)`` nodal temperatures [K]; ``temperature[0]`` is the
        initial state.
    iterations : numpy.ndarray
        CG iterations of each step.
    relative_residuals : numpy.ndarray
        True relative residual of each step's linear solve.
    energy_balance : EnergyBalance
        Per-step arrays: power in, heat out, and the discrete rate of heat storage.
    """

    times: np.ndarray
    temperature: np.ndarray
    iterations: np.ndarray
    relative_residuals: np.ndarray
    energy_balance: EnergyBalance


@dataclass(frozen=True, eq=False)
class NonlinearReferenceResult:
    """Result of :func:`solve_reference_nonlinear`.

    Attributes
    ----------
    temperature : numpy.ndarray
        Nodal temperature [K], shape ``grid.node_shape``.
    iterations : int
        Picard iterations (linear solves) until the update fell below the tolerance.
    updates : numpy.ndarray
        ``max |T_{i+1} - T_i|`` of every Picard iteration [K].
    linear_iterations : int
        Total CG iterations over all Picard iterations.
    relative_residual : float
        Nonlinear residual ``||b - K(T) T|| / ||b||`` at the returned temperature.
    energy_balance : EnergyBalance
        Power in against convective heat out.
    converged : bool
        Whether the Picard update reached the tolerance.
    residuals : numpy.ndarray
        Relative (recursive) CG residuals of the last linear solve.
    """

    temperature: np.ndarray
    iterations: int
    updates: np.ndarray
    linear_iterations: int
    relative_residual: float
    energy_balance: EnergyBalance
    converged: bool = True
    residuals: np.ndarray | None = None


# ---------------------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------------------


def _face_field(grid: TensorGrid, value, face: str) -> np.ndarray:
    from .grid import face_shape

    shape = face_shape(grid.shape, face)
    return np.broadcast_to(np.asarray(value, dtype=float), shape)


def _balance(grid: TensorGrid, fields: ThermalFields, temperature, source=None) -> EnergyBalance:
    power_in, heat_out, _ = energy_balance(grid, fields, temperature, source=source)
    return EnergyBalance(power_in=power_in, heat_out=heat_out)


def _element_load(grid: TensorGrid, q) -> np.ndarray:
    """Consistent Q1 load ``∫ q φ_i dV`` of a piecewise-constant source: each element gives
    ``q V / 8`` to each of its corners (exact)."""
    share = np.broadcast_to(np.asarray(q, dtype=float), grid.shape) * grid.cell_volumes() / 8.0
    nx, ny, nz = grid.shape
    load = np.zeros(grid.node_shape)
    for di in (0, 1):
        for dj in (0, 1):
            for dk in (0, 1):
                load[di : di + nx, dj : dj + ny, dk : dk + nz] += share
    return load.ravel()


def load(grid: TensorGrid, fields: ThermalFields, *, source=None) -> np.ndarray:
    """The load ``b = ∫ q v dx + ∫ h T_amb v ds`` of :func:`assemble`, without assembling ``K``.

    Both integrals are exact for piecewise-constant ``q``, ``h`` and ``T_amb``: each element
    gives ``q V / 8`` to each of its 8 corners, each face cell ``h T_amb A / 4`` to each of
    its 4 corners. Equal to :func:`assemble`'s ``b`` to round-off (tested); used to solve many
    right-hand sides with one assembled ``K``.

    Parameters
    ----------
    grid : TensorGrid
    fields : ThermalFields
    source : array, optional
        Element source [W/m^3] to use instead of ``fields.source``.

    Returns
    -------
    numpy.ndarray
        ``(n_nodes,)`` [W].
    """
    from .grid import face_shape

    b = _element_load(grid, fields.source if source is None else source).reshape(grid.node_shape)
    for face in FACES:
        if face not in fields.h:
            continue
        share = (_face_field(grid, fields.h[face], face) * _face_field(grid, fields.ambient[face], face)
                 * grid.face_areas(face) / 4.0)
        na, nb = face_shape(grid.shape, face)
        nodal = np.zeros((na + 1, nb + 1))
        for da in (0, 1):
            for db in (0, 1):
                nodal[da : da + na, db : db + nb] += share
        axis = "xyz".index(face[0])
        index = [slice(None)] * 3
        index[axis] = 0 if face.endswith("min") else grid.node_shape[axis] - 1
        b[tuple(index)] += nodal
    return b.ravel()


def _reference_temperature(grid: TensorGrid, fields: ThermalFields, caller: str, *, required: bool = True) -> float:
    """The h·A-weighted mean ambient temperature [K] (the shift of every solve).

    Without a face with ``h > 0`` it raises, or returns 0 when not ``required`` (transients).
    """
    num = den = 0.0
    for face in FACES:
        if face not in fields.h:
            continue
        ha = _face_field(grid, fields.h[face], face) * grid.face_areas(face)
        num += float(np.sum(ha * _face_field(grid, fields.ambient[face], face)))
        den += float(np.sum(ha))
    if not den > 0 and not required:
        return 0.0
    if not den > 0:
        raise ValueError(
            f"`{caller}`: no face carries a positive heat-transfer coefficient (fields.h has "
            f"faces {sorted(fields.h)}), so the steady problem has no unique solution. Give at "
            "least one face, e.g. 'zmax', a positive `h` and an `ambient` temperature."
        )
    return num / den


def amg_hierarchy(A):
    """The smoothed-aggregation hierarchy (pyamg) of a symmetric positive definite matrix.

    Systems of up to ``max_coarse`` unknowns are solved exactly on the coarsest level by
    sparse LU: a one-aggregate hierarchy on a tiny, strongly contrasted system (a thin plate
    of k = 1e5) made CG stagnate at 1e-5 in testing.
    """
    import pyamg

    return pyamg.smoothed_aggregation_solver(A, symmetry="hermitian", max_coarse=1000, coarse_solver="splu")


_MAX_RESTARTS = 5


def amg_solve(A, rhs, *, x0=None, rtol: float, maxiter: int, caller: str, ml=None, throw: bool = True):
    """Solve ``A x = rhs`` by SA-AMG preconditioned CG that stops on the *true* residual.

    The one AMG-CG of :mod:`solvers` (steady, transient and coupled reference solves, and
    :class:`solvers.backends.ReferenceAMG`). pyamg's CG updates its residual recursively; when
    it stops, ``||rhs - A x|| / ||rhs||`` is recomputed and, while that is above ``rtol``, CG
    restarts from ``x`` within the same ``maxiter`` budget (at most a few times).

    Parameters
    ----------
    A : scipy.sparse matrix
        The matrix that CG applies and the true residual is measured with.
    rhs : numpy.ndarray
    x0 : numpy.ndarray, optional
        Initial guess (zero by default).
    rtol : float
        Relative tolerance of the true residual.
    maxiter : int
        Most CG iterations in total.
    caller : str
        Named in the error message.
    ml : pyamg MultilevelSolver, optional
        A hierarchy from :func:`amg_hierarchy` to reuse (built from ``A`` when None).
    throw : bool
        Raise :class:`solvers.SolveError` when the true residual stays above ``rtol``.

    Returns
    -------
    x, iterations, history, relative_residual, converged
        ``history`` holds the relative (recursive) residuals, ``iterations + 1`` of them.
    """
    if ml is None:
        ml = amg_hierarchy(A)
    norm_b = float(np.linalg.norm(rhs))
    if norm_b == 0.0:
        return np.zeros_like(rhs), 0, np.zeros(1), 0.0, True
    x = None if x0 is None else np.asarray(x0, dtype=float)
    history: list[float] = []
    its = 0
    true_rel = np.inf
    for _ in range(_MAX_RESTARTS + 1):
        res: list[float] = []
        x = ml.solve(rhs, x0=x, tol=rtol, accel="cg", maxiter=max(maxiter - its, 1), residuals=res)
        history.extend(res if not history else res[1:])
        its += len(res) - 1
        true_rel = float(np.linalg.norm(rhs - A @ x) / norm_b)
        if not np.isfinite(true_rel) or true_rel <= rtol or its >= maxiter or len(res) <= 1:
            break
    history_rel = np.asarray(history) / norm_b
    converged = bool(np.isfinite(true_rel) and true_rel <= rtol and np.all(np.isfinite(x)))
    if throw and not converged:
        last = ", ".join(f"{r:.2e}" for r in history_rel[-8:])
        raise SolveError(
            f"`{caller}`: smoothed-aggregation CG did not converge: true relative residual "
            f"{true_rel:.3e} > rtol={rtol:.1e} after {its} iterations (max_iterations={maxiter}); "
            f"last relative residuals [{last}]. Check that conductivities and h are positive and "
            "finite; otherwise raise the iteration limit (`maxiter`, `max_iterations`) or loosen `rtol`.",
            residual_history=history_rel,
        )
    return x, its, history_rel, true_rel, converged


# ---------------------------------------------------------------------------------------
# Steady
# ---------------------------------------------------------------------------------------


def solve_reference_steady(
    grid: TensorGrid, fields: ThermalFields, *, rtol: float = 1e-8, maxiter: int = 500
) -> SteadyReferenceResult:
    """Solve the steady problem ``K T = b`` with smoothed-aggregation AMG + CG (pyamg).

    Parameters
    ----------
    grid : TensorGrid
    fields : ThermalFields
        Conductivities, source and the Robin data (at least one face with ``h > 0``).
    rtol : float
        Relative tolerance of the true residual of the shifted system (see the module
        docstring).
    maxiter : int
        Most CG iterations.

    Returns
    -------
    SteadyReferenceResult

    Raises
    ------
    solvers.SolveError
        If the true relative residual stays above ``rtol``; the message has the history.

    Examples
    --------
    A 1 mm silicon slab, 1e5 W/m^2 into the bottom layer, h = 1e4 on top: the bottom sits at
    T_amb + q (1/h + t/k) = 300 + 10 + 1 K (Q1 is exact for this 1-D problem).

    >>> import numpy as np
    >>> from solvers.grid import TensorGrid, ThermalFields
    >>> g = TensorGrid(np.linspace(0, 1e-3, 3), np.linspace(0, 1e-3, 3), np.array([-1e-5, 0.0, 5e-4, 1e-3]),
    ...                np.zeros((2, 2, 3)), ("all",), np.zeros((2, 2, 3)), ("si",))
    >>> e = np.ones((2, 2, 3))
    >>> q = np.zeros((2, 2, 3)); q[:, :, 0] = 1e5 / 1e-5
    >>> f = ThermalFields(kx=100 * e, ky=100 * e, kz=100 * e, heat_capacity=1.6e6 * e, source=q,
    ...                   h={"zmax": np.full((2, 2), 1e4)}, ambient={"zmax": np.full((2, 2), 300.0)})
    >>> r = solve_reference_steady(g, f, rtol=1e-12)
    >>> round(float(r.temperature[0, 0, 1]), 9), abs(r.energy_balance.residual) < 1e-9
    (311.0, True)
    """
    K, b = assemble(grid, fields)
    t0 = _reference_temperature(grid, fields, "solve_reference_steady")
    rhs = b - t0 * (K @ np.ones(K.shape[0]))
    theta, its, res, rel, _ = amg_solve(K, rhs, rtol=rtol, maxiter=maxiter, caller="solve_reference_steady")
    temperature = (t0 + theta).reshape(grid.node_shape)
    return SteadyReferenceResult(
        temperature=temperature,
        iterations=its,
        residuals=res,
        relative_residual=rel,
        energy_balance=_balance(grid, fields, temperature),
    )


# ---------------------------------------------------------------------------------------
# Transient
# ---------------------------------------------------------------------------------------


def solve_reference_transient(
    grid: TensorGrid,
    fields: ThermalFields,
    *,
    times=None,
    dt: float | None = None,
    n_steps: int | None = None,
    source_patterns=None,
    weights=None,
    initial=None,
    rtol: float = 1e-10,
    maxiter: int = 500,
    throw: bool = True,
) -> TransientReferenceResult:
    """Integrate ``C dT/dt + K T = b(t)`` with BDF2 (backward Euler for the first step).

    ``C`` is the consistent capacity matrix (:func:`assemble_capacity`). Variable steps use
    the variable-step BDF2 formula with ``ω = dt_n / dt_{n-1}``::

        (1+2ω)/(1+ω) T_{n+1} - (1+ω) T_n + ω²/(1+ω) T_{n-1} = dt_n C⁻¹ (b_{n+1} - K T_{n+1})

    which is zero-stable for step ratios ``ω < 1 + √2``.

    Parameters
    ----------
    grid : TensorGrid
    fields : ThermalFields
        Conductivities, ``heat_capacity`` (must be positive) and Robin data.
    times : array, optional
        Strictly increasing times [s]; ``times[0]`` is the initial time. Give either ``times``
        or ``dt`` and ``n_steps`` (then ``times = dt * arange(n_steps + 1)``).
    dt : float, optional
        Constant step [s].
    n_steps : int, optional
        Number of constant steps.
    source_patterns : array, optional
        ``(n_patterns, nx, ny, nz)`` element sources [W/m^3]; defaults to ``fields.source``.
    weights : array, optional
        ``(n_steps, n_patterns)`` dimensionless weights, piecewise constant: during
        ``(times[i], times[i+1]]`` the source is ``Σ_p weights[i, p] source_patterns[p]``.
        Defaults to all ones.
    initial : float or array, optional
        Initial nodal temperature [K] (scalar or ``grid.node_shape``); defaults to the
        h·A-weighted mean ambient temperature.
    rtol : float
        Relative residual tolerance of every step's linear solve.
    maxiter : int
        Most CG iterations per step.
    throw : bool
        Raise :class:`solvers.SolveError` when a step's linear solve does not reach ``rtol``
        (default); with ``False`` the run continues and ``relative_residuals`` shows it.

    Returns
    -------
    TransientReferenceResult
    """
    caller = "solve_reference_transient"
    if times is None:
        if dt is None or n_steps is None:
            raise ValueError(f"`{caller}`: give `times`, or both `dt` and `n_steps`; got times=None, dt={dt!r}, n_steps={n_steps!r}.")
        times = float(dt) * np.arange(int(n_steps) + 1)
    times = np.asarray(times, dtype=float)
    steps = np.diff(times)
    if times.ndim != 1 or times.size < 2 or not np.all(steps > 0):
        raise ValueError(f"`{caller}(times=...)` must be a strictly increasing 1-D array of at least two times; got {times!r}.")
    if steps.size > 1 and np.max(steps[1:] / steps[:-1]) >= 1 + np.sqrt(2):
        i = int(np.argmax(steps[1:] / steps[:-1]))
        raise ValueError(
            f"`{caller}(times=...)`: step ratio dt[{i + 1}]/dt[{i}] = {steps[i + 1] / steps[i]:.3f} "
            "makes variable-step BDF2 unstable (needs < 1 + √2 ≈ 2.414); grow the steps more gradually."
        )
    if np.any(np.asarray(fields.heat_capacity) <= 0):
        raise ValueError(f"`{caller}`: `fields.heat_capacity` must be positive everywhere (rho*c in J/m^3/K); min is {np.min(fields.heat_capacity)!r}.")
    n = steps.size
    patterns = np.asarray(fields.source if source_patterns is None else source_patterns, dtype=float)
    if patterns.shape == grid.shape:
        patterns = patterns[None]
    if patterns.shape[1:] != grid.shape:
        raise ValueError(f"`{caller}(source_patterns=...)` must have shape (n_patterns, {', '.join(map(str, grid.shape))}); got {patterns.shape}.")
    w = np.ones((n, patterns.shape[0])) if weights is None else np.asarray(weights, dtype=float)
    if w.shape != (n, patterns.shape[0]):
        raise ValueError(f"`{caller}(weights=...)` must have shape (n_steps, n_patterns) = ({n}, {patterns.shape[0]}); got {w.shape}.")

    zero = np.zeros(grid.shape)
    K, b_robin = assemble(grid, fields.with_(source=zero))
    C = assemble_capacity(grid, fields)
    loads = np.stack([_element_load(grid, p) for p in patterns])  # (n_patterns, n_nodes)
    t0 = _reference_temperature(grid, fields, caller)
    b_fixed = b_robin - t0 * (K @ np.ones(K.shape[0]))
    init = t0 if initial is None else initial
    theta = np.broadcast_to(np.asarray(init, dtype=float), grid.node_shape).ravel() - t0

    out = np.empty((n + 1, grid.n_nodes))
    out[0] = theta
    its = np.zeros(n, dtype=int)
    rels = np.zeros(n)
    power = np.zeros(n)
    heat_out = {face: np.zeros(n) for face in FACES if face in fields.h}
    stored = np.zeros(n)
    cache: dict[float, object] = {}
    ones = np.ones(K.shape[0])
    prev = None
    for i in range(n):
        h_i = steps[i]
        if i == 0:
            a0, a1, a2 = 1.0, -1.0, 0.0
        else:
            om = h_i / steps[i - 1]
            a0, a1, a2 = (1 + 2 * om) / (1 + om), -(1 + om), om * om / (1 + om)
        # One hierarchy per distinct a0/dt (to 12 significant digits, so that equal steps from
        # `linspace` share it); CG runs on the hierarchy's own level-0 matrix, so the solved
        # system and the residual check use the same operator.
        key = float(f"{a0 / h_i:.12e}")
        if key not in cache:
            cache[key] = amg_hierarchy(((a0 / h_i) * C + K).tocsr())
        A = cache[key].levels[0].A
        src = w[i] @ loads
        hist = -a1 * out[i] - (a2 * prev if prev is not None else 0.0)
        rhs = b_fixed + src + (C @ hist) / h_i
        x, its[i], _, rels[i], _ = amg_solve(A, rhs, x0=out[i], rtol=rtol, maxiter=maxiter, ml=cache[key],
                                             caller=f"{caller} (step {i}, t={times[i + 1]:.6g} s)", throw=throw)
        stored_rate = C @ (a0 * x + a1 * out[i] + (a2 * prev if prev is not None else 0.0)) / h_i
        stored[i] = float(ones @ stored_rate)
        q_elem = np.tensordot(w[i], patterns, axes=1)
        power[i], faces, _ = energy_balance(grid, fields, (t0 + x).reshape(grid.node_shape), source=q_elem)
        for face, v in faces.items():
            heat_out[face][i] = v
        prev = out[i]
        out[i + 1] = x
    temperature = (t0 + out).reshape((n + 1, *grid.node_shape))
    return TransientReferenceResult(
        times=times,
        temperature=temperature,
        iterations=its,
        relative_residuals=rels,
        energy_balance=EnergyBalance(power_in=power, heat_out=heat_out, stored=stored),
    )


# ---------------------------------------------------------------------------------------
# Temperature-dependent conductivity
# ---------------------------------------------------------------------------------------


def solve_reference_nonlinear(
    grid: TensorGrid,
    fields: ThermalFields,
    *,
    k_exponent=0.0,
    reference_temperature=300.0,
    tol: float = 1e-9,
    max_iterations: int = 100,
    linear_rtol: float = 1e-11,
    initial=None,
    atol: float = 0.0,
    linear_maxiter: int = 500,
    throw: bool = True,
) -> NonlinearReferenceResult:
    """Steady conduction with power-law conductivity, by Picard (fixed-point) iteration.

    The conductivity of element ``e`` is ``k_e(T) = k_e · (T / T_ref) ** n_e`` for each of
    ``kx, ky, kz``, evaluated at the quadrature points of the trilinear temperature (the
    standard Galerkin discretisation; in 1-D it reproduces the Kirchhoff solution at the
    nodes up to the 2-point Gauss error, about ``k''''·ΔT_e⁴``). Each iteration solves
    ``K(T_i) T_{i+1} = b`` with :func:`solve_reference_steady`'s AMG-CG.

    Parameters
    ----------
    grid : TensorGrid
    fields : ThermalFields
        ``kx, ky, kz`` are the conductivities at ``reference_temperature`` [W/m/K].
    k_exponent : float or array
        Exponent ``n`` per element (scalar or ``grid.shape``); silicon is about -1.3.
    reference_temperature : float or array
        ``T_ref`` [K] at which the conductivities are given (scalar or ``grid.shape``).
    tol : float
        Stop when ``max|T_{i+1} - T_i|`` ≤ ``max(atol, tol · max|T_{i+1} - T_0|)`` (``T_0`` the
        mean ambient).
    max_iterations : int
        Most Picard iterations.
    linear_rtol : float
        Relative residual tolerance of each linear solve.
    initial : float or array, optional
        Starting temperature [K]; defaults to the solution with ``k(T_ref)``.
    atol : float
        Absolute tolerance of the update [K] (see ``tol``).
    linear_maxiter : int
        Most CG iterations of each linear solve.
    throw : bool
        Raise when Picard does not converge (default); with ``False`` the result has
        ``converged=False``. Linear solves that fail and non-positive temperatures always raise.

    Returns
    -------
    NonlinearReferenceResult

    Raises
    ------
    solvers.SolveError
        If Picard has not converged after ``max_iterations`` (the update history is in the
        message), or if a temperature is not positive (absolute kelvin are required).
    """
    from skfem import BilinearForm, asm

    caller = "solve_reference_nonlinear"
    t_ref = np.broadcast_to(np.asarray(reference_temperature, dtype=float), grid.shape)
    if not np.all(t_ref > 0):
        raise ValueError(f"`{caller}(reference_temperature=...)` must be an absolute temperature > 0 K; got "
                         f"min {np.min(t_ref)!r}.")
    zero = np.zeros(grid.shape)
    K_robin, b = assemble(grid, fields.with_(kx=zero, ky=zero, kz=zero))
    mesh, basis, basis0 = _bases(grid)
    el = lambda a: basis0.interpolate(np.broadcast_to(np.asarray(a, dtype=float), grid.shape).ravel())  # noqa: E731
    kx, ky, kz, n_exp, tref = el(fields.kx), el(fields.ky), el(fields.kz), el(k_exponent), el(t_ref)

    @BilinearForm
    def conduction(u, v, w):
        scale = (w.T / w.tref) ** w.n
        du, dv = u.grad, v.grad
        return scale * (w.kx * du[0] * dv[0] + w.ky * du[1] * dv[1] + w.kz * du[2] * dv[2])

    def stiffness(t_flat):
        if t_flat is None:  # k at T_ref
            return (asm(conduction, basis, T=tref, kx=kx, ky=ky, kz=kz, n=n_exp, tref=tref) + K_robin).tocsr()
        if np.min(t_flat) <= 0:
            raise SolveError(
                f"`{caller}`: a Picard iterate reached a non-positive temperature {np.min(t_flat):.4g} K; "
                "the power law (T/T_ref)**n needs absolute temperatures. Check that `ambient` is in kelvin."
            )
        return (asm(conduction, basis, T=basis.interpolate(t_flat), kx=kx, ky=ky, kz=kz, n=n_exp, tref=tref)
                + K_robin).tocsr()

    t0 = _reference_temperature(grid, fields, caller)
    ones = np.ones(grid.n_nodes)
    if initial is None:
        K = stiffness(None)
        theta, lin, hist, _, _ = amg_solve(K, b - t0 * (K @ ones), rtol=linear_rtol, maxiter=linear_maxiter,
                                           caller=caller)
        t = t0 + theta
    else:
        t = np.broadcast_to(np.asarray(initial, dtype=float), grid.node_shape).ravel().copy()
        lin = 0
        hist = np.zeros(1)
    updates = []
    converged = False
    for it in range(1, max_iterations + 1):
        K = stiffness(t)
        theta, li, hist, _, _ = amg_solve(K, b - t0 * (K @ ones), x0=t - t0, rtol=linear_rtol,
                                          maxiter=linear_maxiter, caller=caller)
        lin += li
        t_new = t0 + theta
        upd = float(np.max(np.abs(t_new - t)))
        updates.append(upd)
        t = t_new
        if upd <= max(atol, tol * max(float(np.max(np.abs(t - t0))), 1e-300)):
            converged = True
            break
    if throw and not converged:
        hist = ", ".join(f"{u:.2e}" for u in updates[-8:])
        raise SolveError(
            f"`{caller}`: Picard did not converge in {max_iterations} iterations (tol={tol:.1e}); "
            f"last updates [K]: [{hist}]. Strong k(T) nonlinearity can make Picard diverge: raise "
            "`max_iterations`, or start closer with `initial=`."
        )
    K = stiffness(t)
    rhs = b - t0 * (K @ ones)
    rel = float(np.linalg.norm(rhs - K @ (t - t0)) / max(np.linalg.norm(rhs), 1e-300))
    temperature = t.reshape(grid.node_shape)
    return NonlinearReferenceResult(
        temperature=temperature,
        iterations=len(updates),
        updates=np.asarray(updates),
        linear_iterations=int(lin),
        relative_residual=rel,
        energy_balance=_balance(grid, fields, temperature),
        converged=converged,
        residuals=hist,
    )
