r"""Electro-thermal coupling: leakage versus temperature, thermal runaway, junction limits, derating.

A hot die leaks more, which heats it more. Each chiplet with a ``leakage`` table adds

.. math:: q_\mathrm{leak}(x) = w_c(x)\, P_\mathrm{ref}\, f\big(T(x) - T_\mathrm{ref}\big), \qquad
          f(\Delta) = e^{\beta \Delta} \;\text{(exponential)} \;\text{or}\; 1 + \textstyle\sum_i c_i \Delta^i,

where :math:`w_c` is the chiplet's dynamic power map normalised to unit total (uniform over the
die when it has no dynamic power) and :math:`T(x)` is the local element temperature. The coupled
steady state :math:`K T = b_\mathrm{dyn} + b_\mathrm{leak}(T)` is solved by fixed-point iteration
started from the ambient temperature. The map is monotone (leakage grows with temperature and
:math:`K^{-1}` is positive), so from below the iterates rise to the *smallest* operating point
when one exists, with contraction factor :math:`\rho \approx R\,\partial P_\mathrm{leak}/\partial T`.
The iteration stops when the estimated remaining error :math:`\Delta T_n\,\rho/(1-\rho)` is below
the tolerance. When the increments stop shrinking (:math:`\rho \ge 1`) or a junction passes the
runaway cap, no stable operating point exists and :class:`ThermalRunawayError` says which chiplet
ran away, at what temperature and power, and what to change.

**Leakage that decreases with temperature** (a negative polynomial coefficient, or a negative
exponential coefficient given through :class:`~codesign.model.Params`) is not what CMOS leakage
does, and it breaks the argument above: the map :math:`G` then *decreases* with temperature, so the
plain iterates oscillate around the operating point instead of rising to it, and with
:math:`|G'| \ge 1` they bounce between two fields for ever (or overshoot the runaway cap on the
first solve, when the leakage at ambient is large). That used to be reported as thermal runaway,
wrongly: a decreasing :math:`G` has exactly one fixed point (:math:`T - G(T)` is increasing), so no
runaway is possible. The iteration detects it (successive increments of opposite sign, or leakage
that fell while the field heated up), and from then on is *relaxed*,
:math:`T_{n+1} = T_n + \omega_n\,(G(T_n) - T_n)`, with :math:`\omega_n = 1/(1 - s_n)` from the
secant slope :math:`s_n` of :math:`G` along the last step (exact for a linear :math:`G`), allowed to
at most double per step and halved when the residual changes sign; it stops when
:math:`\max|G(T_n) - T_n|` is below the tolerance. Why relax rather than refuse: the operating
point of the model as given is well defined, and a relaxed fixed point reaches it in tens of
solves; the result's ``notes`` (and its table) still say that the leakage decreases with
temperature and to check the sign of the coefficients. If even the relaxed iteration does not
converge, :class:`~codesign.errors.SolveError` says so, not runaway.

**Overflow.** Leakage that is not finite (an exponential or polynomial coefficient so large that
the power overflows, such as 1e300 1/K) raises :class:`~codesign.errors.SolveError` naming the
chiplet and its coefficients; it is never passed on to the solver as Inf or NaN.

**Linear solves.** The conductivity does not depend on temperature here, so every solve has the same
operator :math:`K` (one solver set-up) and the field is affine in the heat: after the first full solve
each iteration solves only the *change* of the leakage heat (zero ambient, to a tolerance relative to
that change, so its error stays ~``tol``/200), and one last full solve, started from the corrected field
with a tolerance from a bound of its residual, gives the field to the solver's ``rtol`` relative to
``||b||`` with its energy balance (these are what the report shows). If that solve disagrees with the
iterate by more than ``tol``, the loop is redone with a full solve every iteration. The iterates are
those of the loop of full solves (the same fixed point to ~1e-7 K on the shipped layouts).

Derating finds the largest scale ``s`` of every chiplet's dynamic power for which all junctions
stay within ``tj_max``, by exact superposition of the dynamic power's response (solved once) with the
scale and the leakage iterated together, confirmed by one full solve (or, where that does not apply,
by a bracketing root find on the coupled solve; see :func:`derate`), and converts it to a frequency
factor under a stated power-frequency model.
"""

from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass, field

import numpy as np

import solvers
from solvers import element_mean

from . import progress
from .errors import ModelError, SolveError, ThermalRunawayError, solve_error
from .model import Model, Params, ensure_model
from .results import KELVIN, chiplet_temperatures, text_table
from .stack import Stack
from .thermal import report_from_solution

__all__ = [
    "TJ_MAX_DEFAULTS",
    "CoupledResult",
    "DeratingResult",
    "ThermalRunawayError",
    "derate",
    "solve_coupled",
    "tj_max",
]

# Junction limits by chiplet kind, used where a chiplet gives no `tj_max` [K]. These are labelled
# placeholders: override them per chiplet in the layout (`tj_max = "..."`).
TJ_MAX_DEFAULTS: dict[str, tuple[float | None, str]] = {
    "logic": (105.0 + KELVIN, "placeholder (est): a common maximum junction temperature for server logic; override"),
    "hbm": (95.0 + KELVIN, "placeholder (est): HBM is commonly rated to 95 degC with doubled refresh above 85 degC; "
                           "check your vendor's datasheet"),
    "optical_engine": (85.0 + KELVIN, "placeholder (est): lasers and ring modulators are usually held below ~85 degC; "
                                      "override from the engine's datasheet"),
    "bridge": (None, "passive bridge: no junction limit"),
    "dummy": (None, "structural silicon: no junction limit"),
}


@dataclass(frozen=True, eq=False)
class CoupledResult:
    """Converged electro-thermal steady state.

    Attributes
    ----------
    report : ThermalReport
        Temperatures and energy balance at the operating point (powers include leakage;
        ``report.leakage`` holds the leakage per chiplet).
    dynamic : dict
        Dynamic power per chiplet [W] (after any scaling), PHY heat included.
    leakage : dict
        Leakage power per chiplet at the operating point [W].
    iterations : int
        Fixed-point iterations (each one linear solve).
    history : list
        Hottest junction temperature after each iteration [K].
    contraction : float
        Last estimated contraction factor ρ (close to 1: close to runaway).
    notes : tuple
        Diagnoses, such as leakage that decreases with temperature (solved by a relaxed
        iteration; check the sign of the coefficients).
    """

    report: ThermalReport
    dynamic: dict
    leakage: dict
    iterations: int
    history: list
    contraction: float
    solver_seconds: float = 0.0
    notes: tuple = ()
    # the leakage heat [W/m^3] of the last solve (the source that, with the dynamic power, gives
    # ``report.temperature``); derating continues from it
    leakage_source: object = field(default=None, repr=False)

    @property
    def leakage_share(self) -> dict:
        """Leakage as a fraction of each chiplet's total power."""
        return {n: (self.leakage.get(n, 0.0) / (self.dynamic.get(n, 0.0) + self.leakage.get(n, 0.0))
                    if (self.dynamic.get(n, 0.0) + self.leakage.get(n, 0.0)) > 0 else 0.0)
                for n in self.dynamic}

    def table(self) -> str:
        rows = []
        for c in sorted(self.report.chiplets, key=lambda c: -c.junction):
            tj_max = _tj_max(self.report.model.stack.chiplet(c.name))
            rows.append([c.name, f"{self.dynamic.get(c.name, 0.0):.2f}", f"{self.leakage.get(c.name, 0.0):.2f}",
                         f"{100 * self.leakage_share.get(c.name, 0.0):.1f} %", f"{c.junction - KELVIN:.2f}",
                         f"{tj_max - KELVIN:.0f}" if tj_max else "-",
                         f"{tj_max - c.junction:+.2f}" if tj_max else "-"])
        lines = [text_table(rows, ["chiplet", "dynamic W", "leakage W", "leak share", "Tj degC", "Tj,max degC",
                                   "margin K"])]
        lines.append(f"\nelectro-thermal: {self.iterations} fixed-point iterations, contraction {self.contraction:.3f}, "
                     f"total leakage {sum(self.leakage.values()):.2f} W")
        lines += [f"  note: {n}" for n in self.notes]
        return "\n".join(lines)

    def to_dict(self) -> dict:
        return {"dynamic_W": dict(self.dynamic), "leakage_W": dict(self.leakage),
                "leakage_share": self.leakage_share, "iterations": self.iterations,
                "contraction": self.contraction, "history_C": [t - KELVIN for t in self.history],
                "notes": list(self.notes)}


@dataclass(frozen=True, eq=False)
class DeratingResult:
    """Largest sustainable dynamic-power scale within every chiplet's junction limit.

    ``scale`` multiplies every chiplet's dynamic power; ``frequency_factor`` is the matching clock
    factor under ``pf_model``; ``limiting`` names the chiplet at its limit (or ``"runaway"`` when
    thermal runaway, not a junction limit, sets the bound); ``margins`` are ``tj_max − Tj`` [K] at
    the nominal power (scale 1).
    """

    scale: float
    frequency_factor: float
    pf_model: str
    limiting: str
    margins: dict
    at_limit: CoupledResult | None
    evaluations: int
    nominal: CoupledResult | None = None
    notes: list = field(default_factory=list)
    method: str = "root_find"            # "superposition" or "root_find" (see :func:`derate`)
    linear_solves: int | None = None     # superposition: linear solves after the nominal operating point

    @property
    def work(self) -> str:
        """What the derating solved, in words (the CLI's progress line)."""
        if self.method == "superposition":
            return f"superposition: {self.evaluations} iterations, {self.linear_solves} linear solves"
        return f"root find: {self.evaluations} coupled solves"

    def to_dict(self) -> dict:
        return {"scale": self.scale, "frequency_factor": self.frequency_factor, "pf_model": self.pf_model,
                "limiting": self.limiting, "margins_K": dict(self.margins), "evaluations": self.evaluations,
                "method": self.method, "linear_solves": self.linear_solves, "notes": list(self.notes)}


def tj_max(chip) -> float | None:
    """The chiplet's junction limit [K]: its own ``tj_max``, else the labelled default of its kind."""
    return chip.tj_max if chip.tj_max is not None else TJ_MAX_DEFAULTS.get(chip.kind, (None, ""))[0]


_tj_max = tj_max


# -- coupled solve -------------------------------------------------------------------------------------

def solve_coupled(
    stack_or_model: Stack | Model,
    *,
    params: Params | None = None,
    solver: solvers.ThermalSolver | None = None,
    state=None,
    tol: float = 1e-3,
    max_iterations: int = 300,
    runaway_temperature: float = 600.0 + KELVIN,
    initial_temperature: np.ndarray | None = None,
    _inexact: bool = True,
) -> CoupledResult:
    """Converged steady state with temperature-dependent leakage.

    Parameters
    ----------
    stack_or_model : Stack or Model
    params : Params, optional
        Powers (dynamic and PHY heat), materials, boundaries and leakage coefficients (default:
        the layout's). Derating passes scaled powers here.
    solver : solvers.ThermalSolver, optional
        Default :class:`solvers.MultigridCG`.
    state : optional
        A set-up from ``model.init(params, solver=solver)``, reused for every iteration (only the
        source changes between iterations, so one set-up serves them all; derating passes it on).
    tol : float
        Estimated remaining temperature error at which to stop [K].
    max_iterations : int
        Fixed-point iterations before a :class:`codesign.SolveError`.
    runaway_temperature : float
        A junction above this [K] is taken as runaway.
    initial_temperature : array, optional
        Nodal start [K] instead of the ambient. It must lie below the operating point (a solution
        at lower power, say) so the iterates still rise monotonically to the smallest root.

    Raises
    ------
    ThermalRunawayError
        When no stable operating point exists.
    """
    model = ensure_model(stack_or_model, call="solve_coupled")
    if isinstance(max_iterations, bool) or not isinstance(max_iterations, int) or max_iterations < 1:
        raise ModelError(f"`solve_coupled(max_iterations={max_iterations!r})`: give a positive whole number")
    if not (isinstance(tol, (int, float)) and math.isfinite(tol) and tol > 0):
        raise ModelError(f"`solve_coupled(tol={tol!r})`: give a positive temperature tolerance [K]")
    solver = solvers.MultigridCG() if solver is None else solver
    p = model.params if params is None else params
    dyn = model.fields(p)
    if state is None:
        state = solver.init(model.grid, dyn)
    g = model.grid
    t_amb = min(float(np.min(np.asarray(a))) for a in dyn.ambient.values()) if dyn.ambient else 300.0
    if initial_temperature is None:
        iterate = np.full(g.node_shape, t_amb)
        t_elem = np.full(g.shape, t_amb)
    else:
        iterate = np.asarray(initial_temperature, dtype=float)
        t_elem = element_mean(iterate)
    has_leak = bool(p.leakage_power)
    history: list[float] = []
    last_step, rho = None, 0.0
    leak_power: dict[str, float] = {}
    t0 = time.perf_counter()
    temperature = None       # the last solve, G(iterate)
    previous = None          # (iterate, solve, increment) of the iteration before, for the relaxed steps
    relaxed, omega = False, 1.0
    decreasing: list[str] = []
    iterations = 0
    sol = None
    solved, exact, expected_step = None, True, float("inf")   # (source, field) of the last linear solve
    full_solves = 0
    corrections = _Corrections(model, solver, state, dyn)
    ticker = progress.steps("electro-thermal", None, "fixed-point iterations")
    for it in range(1, max_iterations + 1):
        ticker.update(0 if it == 1 else 1)
        q_leak, leak = model.leakage_source(p, t_elem)
        leak_power = {k: float(v) for k, v in leak.items()}
        _check_finite_leakage(model, p, leak_power, q_leak, t_elem)
        source = dyn.source + q_leak
        # no heat at all (no dynamic power, leakage clamped to zero): start cold, from the ambient, where the
        # solution is exact; a warm start leaves ~1e-10 W of heat flow, relative to 0 W in, which the
        # solvers' energy-balance check rejects
        guess = temperature if np.any(np.asarray(source)) else None
        try:
            if solved is None or not _inexact:
                sol = solver.solve(g, dyn.with_(source=source), state=state, initial_temperature=guess)
                iterations += int(np.asarray(sol.iterations))
                full_solves += 1
                corrections.seconds += _solve_seconds(sol)
                new = np.asarray(sol.temperature, dtype=float)
                solved, exact = (np.asarray(source), new), True
                corrections.solved(source)
            else:
                # the field of the last solve plus the response to the change of heat, solved to a tolerance
                # relative to that change that keeps its error ~tol/200 (exact superposition, one operator)
                rtol = 0.005 * tol / max(expected_step, 1e-300)
                new = solved[1] + corrections.respond(np.asarray(source) - solved[0], rtol)
                solved, exact = (np.asarray(source), new), False
        except solvers.SolveError as e:
            worst = max(leak_power, key=leak_power.get, default=None)
            if worst is None or not leak_power[worst] > 0:
                raise solve_error(e) from e
            raise SolveError(f"{e} At this fixed-point iteration chiplet {worst!r} leaked {leak_power[worst]:.4g} W "
                             f"({_leakage_law(model, p, worst)}); leakage this large makes the solve fail: check the "
                             "leakage coefficients and their units.") from e
        hottest = float(np.max(new))
        history.append(hottest)
        if not has_leak:
            temperature = new
            break
        increment = new - iterate          # G(T_n) - T_n
        if not relaxed:
            step = float(np.max(np.abs(new - temperature))) if temperature is not None else float("inf")
            turned = previous is not None and step > tol and float(np.vdot(increment, previous[2])) < 0
            if turned or hottest > runaway_temperature or (
                    last_step is not None and math.isfinite(last_step) and last_step > 0 and step / last_step >= 1
                    and it > 4 and step > 10 * tol):
                decreasing = _decreasing_leakage(model, p, t_elem, element_mean(new), leak_power)
                if turned and not decreasing:
                    decreasing = _decreasing_leakage(model, p, t_elem, t_elem + 1.0, leak_power)
            if decreasing:
                relaxed = True     # from here on: relaxed steps from `iterate` (the overshoot is not taken)
            else:
                temperature = new
                if hottest > runaway_temperature:
                    _runaway(model, temperature, leak_power, history,
                             f"a junction passed {runaway_temperature - KELVIN:.0f} degC")
                if last_step is not None and math.isfinite(last_step) and last_step > 0:
                    rho = step / last_step
                    if rho < 1 and step * rho / (1 - rho) < tol:
                        break
                    if rho >= 1 and it > 4 and step > 10 * tol:
                        _runaway(model, temperature, leak_power, history,
                                 f"temperature increments stopped shrinking (ratio {rho:.3f} >= 1)")
                elif step < tol:
                    break
                last_step = step
                previous = (iterate, new, increment)
                iterate = new
                t_elem = element_mean(iterate)
                # the next change: a contraction of this one (a tenth of the first rise before any is known)
                expected_step = (step * (rho if 0 < rho < 1 else 0.5) if math.isfinite(step)
                                 else 0.1 * float(np.max(np.abs(increment))))
                continue
        # relaxed fixed point T <- T + omega (G(T) - T) (leakage decreasing with temperature)
        temperature = new
        residual = float(np.max(np.abs(increment)))
        if residual < tol:
            break
        if hottest > runaway_temperature and not _decreasing_leakage(model, p, t_elem, element_mean(new), leak_power) \
                and float(np.mean(increment)) > 0:   # leakage grows again up here (a U-shaped polynomial)
            _runaway(model, new, leak_power, history, f"a junction passed {runaway_temperature - KELVIN:.0f} degC")
        if previous is None:
            omega = 0.5
        else:
            d_t, d_g = iterate - previous[0], new - previous[1]
            slope = float(np.vdot(d_g, d_t)) / max(float(np.vdot(d_t, d_t)), 1e-300)
            last = omega
            omega = min(1.0 / (1.0 - min(slope, 0.0)), 2.0 * last, 1.0)
            if float(np.vdot(increment, previous[2])) < 0:     # the residual changed sign: went too far
                omega = min(omega, 0.5 * last)
            rho = abs(1.0 - omega * (1.0 - slope))
        previous = (iterate, new, increment)
        iterate = iterate + omega * increment
        t_elem = element_mean(iterate)
        expected_step = residual
    else:
        if relaxed:
            raise SolveError(
                f"`solve_coupled`: leakage decreases with temperature ({', '.join(decreasing)}), so the fixed-point "
                f"iteration oscillates instead of rising to the operating point, and even relaxed (factor {omega:.3g}) "
                f"it did not converge in {max_iterations} iterations (last residual "
                f"{float(np.max(np.abs(increment))):.3g} K). Leakage normally grows with temperature: check the sign "
                "of the leakage coefficients; or raise `max_iterations`.")
        raise SolveError(
            f"`solve_coupled` did not converge in {max_iterations} iterations (contraction {rho:.4f}, last step "
            f"{last_step:.3g} K): the package is close to thermal runaway. Improve cooling, lower the power or the "
            "leakage, or raise `max_iterations`.")
    if not exact:
        # ONE full solve confirms the last field: the solver's tolerance relative to ||b|| and its energy balance
        try:
            sol = corrections.confirm(solved[0], temperature)
        except solvers.SolveError as e:
            raise solve_error(e) from e
        full_solves += 1
        confirmed = np.asarray(sol.temperature, dtype=float)
        if float(np.max(np.abs(confirmed - temperature))) > tol:   # the corrections drifted: redo exactly
            return solve_coupled(model, params=params, solver=solver, state=state, tol=tol,
                                 max_iterations=max_iterations, runaway_temperature=runaway_temperature,
                                 initial_temperature=confirmed, _inexact=False)
        temperature = confirmed
    iterations += corrections.cg
    notes = []
    if has_leak:
        # a gently decreasing model converges without relaxation: look at the slope at the operating point too
        decreasing = decreasing or _decreasing_leakage(model, p, t_elem, t_elem + 1.0, leak_power)
    if decreasing:
        notes.append(f"leakage decreases with temperature ({', '.join(decreasing)}): CMOS leakage grows with "
                     "temperature, so check the sign of the leakage coefficients"
                     + (f"; the fixed-point iteration oscillated and was relaxed (factor {omega:.3g}) to converge"
                        if relaxed else ""))
    # The report carries the leakage of the last solve, so the temperature field and the powers balance
    # to the solver's tolerance; it differs from leakage re-evaluated at the final field by less than `tol`.
    wall = time.perf_counter() - t0
    report = report_from_solution(model, p, sol, solver, leakage=leak_power, fixed_point_iterations=it,
                                  iterations=iterations, total_s=wall, linear_solves=full_solves + corrections.solves,
                                  solve_s=corrections.seconds, contraction=float(rho))
    dynamic = {c.name: sum(float(p.power[k]) for k in model.chiplet_sources(c.name, dynamic_only=False))
               for c in model.stack.chiplets}
    return CoupledResult(report=report, dynamic=dynamic, leakage=leak_power, iterations=it, history=history,
                         contraction=rho, solver_seconds=wall, notes=tuple(notes),
                         leakage_source=np.asarray(q_leak) if has_leak else None)


def _solve_seconds(sol) -> float:
    t = getattr(sol, "timings", None) or {}
    return float(t.get("solve", 0.0)) + float(t.get("float32_attempt", 0.0))


def _load_norm(grid, source, fields=None) -> float:
    """``||b||_2`` of the Q1 load vector of element sources [W/m^3] (an element gives ``q V / 8`` to each of its
    8 nodes) and, with ``fields``, of its Robin faces ``h (T_amb - T_ref)`` (a face cell gives a quarter of
    ``h (T_amb - T_ref) area`` to each of its 4 nodes) with ``T_ref`` the h-area-weighted mean ambient: the
    norm the solvers' relative residual is measured against (:func:`solvers.fem.load_vector`), in NumPy."""
    dx, dy, dz = (np.asarray(a, dtype=float) for a in grid.spacing)
    nx, ny, nz = grid.shape
    b = np.zeros((nx + 1, ny + 1, nz + 1))
    w = np.asarray(source, dtype=float) * (dx[:, None, None] * dy[None, :, None] * dz[None, None, :]) / 8
    for i in (0, 1):
        for j in (0, 1):
            for k in (0, 1):
                b[i:i + nx, j:j + ny, k:k + nz] += w
    if fields is not None and fields.h:
        area = {"x": dy[:, None] * dz[None, :], "y": dx[:, None] * dz[None, :], "z": dx[:, None] * dy[None, :]}
        h = {f: np.broadcast_to(np.asarray(v, dtype=float), area[f[0]].shape) for f, v in fields.h.items()}
        amb = {f: np.broadcast_to(np.asarray(fields.ambient[f], dtype=float), area[f[0]].shape) for f in h}
        den = sum(float(np.sum(h[f] * area[f[0]])) for f in h)
        ref = sum(float(np.sum(h[f] * amb[f] * area[f[0]])) for f in h) / den if den > 0 else 0.0
        for f in h:
            v = h[f] * (amb[f] - ref) * area[f[0]] / 4
            m, n = v.shape
            end = 0 if f.endswith("min") else -1
            face = {"x": b[end, :, :], "y": b[:, end, :], "z": b[:, :, end]}[f[0]]   # a view into b
            for i in (0, 1):
                for j in (0, 1):
                    face[i:i + m, j:j + n] += v
    return float(np.linalg.norm(b))


class _Corrections:
    """Responses to changes of heat on one set-up: ``K^-1 dq`` with zero ambient (the same operator, so the
    field of a changed source is the old field plus this response: exact superposition).

    ``drift`` bounds ``||b - K T||`` of a field built from a full solve plus corrections: the full solve's
    residual plus, for each correction, its tolerance times the norm of its load (the solvers stop on the
    true residual). :meth:`confirm` solves the full problem from that field to the solver's tolerance
    relative to ``||b||``, which needs only a few CG iterations."""

    def __init__(self, model, solver, state, fields):
        self.grid, self.solver, self.state = model.grid, solver, state
        self.full = fields
        self.fields = fields.with_(ambient={f: np.zeros(np.shape(a)) for f, a in fields.ambient.items()})
        self.solves = 0
        self.cg = 0
        self.seconds = 0.0       # in the solvers' "solve" (set-up and compile apart)
        self.drift = 0.0
        self.last_residual = 0.0

    def solved(self, source) -> None:
        """A full solve of ``source`` at the solver's tolerance is the new base of the corrections."""
        self.drift = getattr(self.solver, "rtol", 0.0) * _load_norm(self.grid, source, self.full)

    def confirm(self, source, field):
        """The full solve of ``source`` (fields as given) to the solver's tolerance relative to ``||b||``,
        from ``field`` (the result of the corrections), and the bound of its true relative residual."""
        solver, b = self.solver, _load_norm(self.grid, source, self.full)
        full = self.full.with_(source=source)
        if isinstance(solver, solvers.MultigridCG) and 0 < self.drift < b:
            # MultigridCG measures a warm start's tolerance on the correction's load, at most `drift`
            sol = _with_rtol(solver, solver.rtol * b / self.drift).solve(self.grid, full, state=self.state,
                                                                        initial_temperature=field, throw=False)
            relative = float(np.asarray(sol.relative_residual)) * self.drift / b
            if not (bool(np.all(np.asarray(sol.converged))) and relative <= solver.rtol
                    and np.all(np.isfinite(np.asarray(sol.temperature)))):
                sol = solver.solve(self.grid, full, state=self.state)
            else:
                sol = dataclasses.replace(sol, relative_residual=np.asarray(relative))
                tolerance = max(1e-6, 10.0 * math.sqrt(self.grid.n_nodes) * solver.rtol)  # as the solvers check
                if float(np.max(np.asarray(sol.energy_balance))) > tolerance:
                    sol = solver.solve(self.grid, full, state=self.state)
        else:
            sol = solver.solve(self.grid, full, state=self.state,
                               initial_temperature=None if isinstance(solver, solvers.MultigridCG) else field)
        self.cg += int(np.asarray(sol.iterations))
        self.seconds += _solve_seconds(sol)
        self.solved(source)
        return sol

    def respond(self, dq, rtol: float) -> np.ndarray:
        """``K^-1 dq`` to a relative residual ``rtol`` of ``dq``'s load (no looser than 1e-2, no tighter than the
        solver's own); zero for no change. Raises :class:`solvers.SolveError` when it does not converge."""
        dq = np.asarray(dq, dtype=float)
        if not np.any(dq):
            return np.zeros(self.grid.node_shape)
        solver = _with_rtol(self.solver, min(rtol, 1e-2))
        sol = solver.solve(self.grid, self.fields.with_(source=dq), state=self.state, throw=False)
        self.solves += 1
        self.cg += int(np.asarray(sol.iterations))
        self.seconds += _solve_seconds(sol)
        self.last_residual = getattr(solver, "rtol", 0.0) * _load_norm(self.grid, dq)
        self.drift += self.last_residual
        t = np.asarray(sol.temperature, dtype=float)
        if not (bool(np.all(np.asarray(sol.converged))) and np.all(np.isfinite(t))):
            raise solvers.SolveError(f"a correction solve (the response to a change of the leakage heat of "
                                     f"{float(np.max(np.abs(dq))):.3g} W/m^3) did not converge to rtol {rtol:.2g}")
        return t


def _leakage_law(model, p, name: str) -> str:
    c = model.stack.chiplet(name)
    coef = np.asarray(p.leakage_coefficients[name], dtype=float).ravel()
    if c.leakage.model == "exponential":
        return f"exponential, coefficient {coef[0]:.4g} 1/K"
    return "polynomial [" + ", ".join(f"{v:.4g} 1/K^{i + 1}" for i, v in enumerate(coef)) + "]"


def _check_finite_leakage(model, p, leak_power: dict, q_leak, t_elem) -> None:
    """:class:`SolveError` when the leakage overflowed (never hand Inf/NaN heat to the solver)."""
    bad = [n for n, v in leak_power.items() if not math.isfinite(v)]
    if not bad and not np.all(np.isfinite(np.asarray(q_leak))):
        bad = list(leak_power)
    if not bad:
        return
    name = bad[0]
    c = model.stack.chiplet(name)
    raise SolveError(
        f"`solve_coupled`: the leakage of chiplet {name!r} is not finite ({leak_power.get(name, float('nan')):.4g} W) "
        f"at temperatures up to {float(np.max(t_elem)) - KELVIN:.4g} degC: its leakage model "
        f"({_leakage_law(model, p, name)}, {c.leakage.reference_power:.4g} W at "
        f"{c.leakage.reference_temperature - KELVIN:.4g} degC) overflows. Check the coefficients and their units "
        "(1/K for the exponential, 1/K^i for the polynomial's i-th).")


def _decreasing_leakage(model, p, t_from, t_to, leak_from: dict) -> list[str]:
    """Leaky chiplets whose leakage fell from field ``t_from`` to the hotter field ``t_to`` (element [K])."""
    if float(np.mean(t_to - t_from)) <= 0:
        return []
    _, leak_to = model.leakage_source(p, t_to)
    out = []
    for name, before in leak_from.items():
        after = float(leak_to[name])
        if math.isfinite(after) and after < before * (1 - 1e-9) - 1e-12:
            out.append(f"{name!r}: {before:.4g} W -> {after:.4g} W when {float(np.mean(t_to - t_from)):.3g} K "
                       f"hotter on average; {_leakage_law(model, p, name)}")
    return out


def _runaway(model, temperature, leak_power, history, why):
    temps = {c.name: c.junction for c in chiplet_temperatures(model, temperature)}
    leaky = [n for n in leak_power] or list(temps)
    worst = max(leaky, key=lambda n: (leak_power.get(n, 0.0), temps.get(n, 0.0)))
    t, p = temps.get(worst, float(np.max(temperature))), leak_power.get(worst, 0.0)
    raise ThermalRunawayError(
        f"thermal runaway: {why}. Chiplet {worst!r} reached {t - KELVIN:.1f} degC with {p:.1f} W of leakage and "
        "still rising: no stable operating point exists. Improve the cooling (a higher heat_transfer_coefficient or "
        "a thinner/better TIM), lower the dynamic power, or lower the leakage (reference_power or coefficient).",
        chiplet=worst, temperature=t, power=p, history=history)


# -- derating ------------------------------------------------------------------------------------------

PF_MODELS = {
    "dvfs": ("P_dyn ∝ C V² f with V ∝ f across the DVFS range, so f ∝ P^(1/3)", 1.0 / 3.0),
    "fixed_voltage": ("P_dyn ∝ C V² f at fixed V, so f ∝ P", 1.0),
}


def derate(
    stack_or_model: Stack | Model,
    *,
    params: Params | None = None,
    solver: solvers.ThermalSolver | None = None,
    state=None,
    pf_model: str = "dvfs",
    max_scale: float = 8.0,
    temperature_tolerance: float = 0.05,
    nominal: CoupledResult | None = None,
    method: str = "auto",
) -> DeratingResult:
    r"""Largest dynamic-power scale (and clock factor) that keeps every junction within its limit.

    The limiting junction ends at its ``tj_max`` within ``temperature_tolerance`` [K], never above
    it. Everything runs through ONE solver set-up (``state``, built here when not given).

    ``method="superposition"`` (what ``"auto"`` tries first). The conductivity does not depend on
    temperature here (the k(T) solve does not couple leakage at all), so the field is affine in the
    sources with one operator :math:`K`: at scale :math:`s` and leakage heat :math:`q`,
    :math:`T = T_0 + s\,D + K^{-1} q` with :math:`D = K^{-1} b_\mathrm{dyn}` the response to the
    layout's dynamic power, solved ONCE (exact superposition). From the nominal operating point the
    scale and the leakage are iterated together: each iteration solves only the *change* of the
    leakage heat (a zero-ambient correction, to a relative tolerance of that change), then sets
    :math:`s` in closed form so that the hottest limited junction node sits at its limit
    (:math:`\max_j (F_j + \delta D_j) = T_\mathrm{max}`, i.e. :math:`\delta = \min_j (T_\mathrm{max}
    - F_j)/D_j`). When the iterates have settled, ONE full solve at the final scale (the solver's
    own tolerance, energy balance checked as in every solve) confirms the field; the answer is taken
    only when it agrees with the iterate within the fixed-point tolerance (otherwise the iteration
    continues from the full solve). A last correction solve checks that the operating point is a
    stable one (loop gain :math:`\max_j (K^{-1} J D)_j / D_j < 0.9` along :math:`D`, an upper bound
    of the fixed point's contraction by Collatz–Wielandt where :math:`K^{-1}J` is positive):
    near runaway, with leakage that decreases with temperature, with runaway at the nominal power,
    or when any step fails, derating falls back to the root find below and says so in ``notes``.

    ``method="root_find"``: brackets the limit between a feasible and an infeasible scale (runaway
    counts as infeasible) and refines it with Brent's method; every evaluation is a
    :func:`solve_coupled` at scaled dynamic powers (PHY heat sources are not scaled). It handles a
    bound set by thermal runaway (``limiting == "runaway"``). Several times slower.

    ``nominal`` passes the operating point at scale 1 when it is already solved (with the same
    ``solver`` and ``state``), so it is not solved twice.
    """
    if pf_model not in PF_MODELS:
        raise ModelError(f"`derate(pf_model={pf_model!r})`: choose one of {', '.join(PF_MODELS)}")
    if method not in ("auto", "superposition", "root_find"):
        raise ModelError(f"`derate(method={method!r})`: choose 'auto', 'superposition' or 'root_find'")
    if not (isinstance(temperature_tolerance, (int, float)) and math.isfinite(temperature_tolerance)
            and temperature_tolerance > 0):
        raise ModelError(f"`derate(temperature_tolerance={temperature_tolerance!r})`: give a positive temperature "
                         "tolerance [K]")
    model = ensure_model(stack_or_model, call="derate")
    solver = solvers.MultigridCG() if solver is None else solver
    p0 = model.params if params is None else params
    if state is None:
        state = model.init(p0, solver=solver)
    limits = {c.name: _tj_max(c) for c in model.stack.chiplets if _tj_max(c) is not None}
    notes = [f"P-f model: {PF_MODELS[pf_model][0]}"]
    notes += [f"{c.name}: tj_max default for kind {c.kind!r}: {TJ_MAX_DEFAULTS[c.kind][1]}"
              for c in model.stack.chiplets if c.tj_max is None and c.name in limits]
    if not limits:
        raise ModelError("`derate`: no chiplet has a junction limit; give `tj_max` to at least one chiplet")
    tol = min(0.01, temperature_tolerance / 5)
    if nominal is not None and (nominal.report.model is not model or nominal.report.params is not p0):
        nominal = None                       # solved for another mesh or other parameters: solve it here
    if nominal is None:
        try:
            nominal = solve_coupled(model, params=p0, solver=solver, state=state, tol=tol)
        except ThermalRunawayError:
            nominal = None
    if method != "root_find":
        fast = _derate_superposition(model, p0, solver, state, limits, nominal, tol=tol, max_scale=max_scale)
        if not isinstance(fast, str):
            s, at_limit, iterations, linear = fast
            limiting = max(limits, key=lambda n: at_limit.report.chiplet(n).junction - limits[n])
            notes.append(f"derating by superposition: the dynamic power's response solved once, scale and leakage "
                         f"iterated together ({iterations} iterations, {linear} linear solves on one set-up), "
                         "confirmed by a full solve at the limit")
            margins = {n: t - nominal.report.chiplet(n).junction for n, t in limits.items()}
            return DeratingResult(scale=s, frequency_factor=s ** PF_MODELS[pf_model][1], pf_model=pf_model,
                                  limiting=limiting, margins=margins, at_limit=at_limit, evaluations=iterations,
                                  nominal=nominal, notes=notes, method="superposition", linear_solves=linear)
        if method == "superposition":
            raise SolveError(f"`derate(method='superposition')`: {fast}; use method='auto' or 'root_find'")
        notes.append(f"derating by root find on coupled solves: {fast}")
    return _derate_root_find(model, p0, solver, state, limits, nominal, notes, pf_model=pf_model,
                             max_scale=max_scale, temperature_tolerance=temperature_tolerance, tol=tol)


class _Fallback(Exception):
    """The superposition path cannot answer (the reason is the message); the root find takes over."""


def _with_rtol(solver, rtol: float):
    """``solver`` with relative tolerance ``rtol`` (a looser one for correction solves), when it has one."""
    if not (dataclasses.is_dataclass(solver) and isinstance(getattr(solver, "rtol", None), float)):
        return solver
    return dataclasses.replace(solver, rtol=float(min(max(rtol, solver.rtol), 0.5)))


def _derate_superposition(model, p0, solver, state, limits: dict, nominal, *, tol: float, max_scale: float,
                          max_iterations: int = 60):
    """``(scale, CoupledResult at the limit, iterations, linear solves)``, or the reason (str) to fall back."""
    if nominal is None:
        return "the nominal power runs away"
    if nominal.notes:
        return "leakage decreases with temperature"
    g = model.grid
    keys = model.dynamic_keys
    base = model.fields(p0.scale_power(0.0, keys))        # ambient and PHY heat, no dynamic power
    dyn_source = np.asarray(model.fields(p0).source) - np.asarray(base.source)
    corrections = _Corrections(model, solver, state, base)
    masks = model._node_masks
    counts = {"solves": 0, "cg": 0}
    ticker = progress.steps("derating", None, "linear solves")
    t0 = time.perf_counter()

    def respond(dq, rtol: float) -> np.ndarray:
        """K^-1 dq with zero ambient: the change of the field when the heat changes by dq."""
        ticker.update()
        try:
            return corrections.respond(dq, rtol)
        except solvers.SolveError as e:
            raise _Fallback(str(e)) from e

    def pin(field):
        """Scale change that puts the hottest limited junction node at its limit less ``tol``."""
        flat_f, flat_d = field.ravel(), dyn.ravel()
        best = math.inf
        for name, limit in limits.items():
            if name not in masks:
                continue
            f, d = flat_f[masks[name]], flat_d[masks[name]]
            heated = d > 1e-12 * max(float(np.max(flat_d)), 1e-300)
            if np.any(f[~heated] > limit - tol):
                raise _Fallback(f"chiplet {name!r} is over its limit without dynamic power")
            if np.any(heated):
                best = min(best, float(np.min((limit - tol - f[heated]) / d[heated])))
        if not math.isfinite(best):
            raise _Fallback("no limited junction is heated by the dynamic power")
        return best

    try:
        dyn = respond(dyn_source, rtol=1e-6)          # D: the field per unit scale of the dynamic power
        if not np.any(dyn > 0):
            return "the layout has no dynamic power to scale"
        dyn_residual = corrections.last_residual      # bounds ||b_dyn - K D||: a step delta adds |delta| of it
        temperature = np.asarray(nominal.report.temperature, dtype=float)   # at (s = 1, q_prev)
        q_prev = nominal.leakage_source if nominal.leakage_source is not None else np.zeros(g.shape)
        corrections.solved(np.asarray(model.fields(p0).source) + q_prev)
        s, last_step, history, confirmed = 1.0, None, [], None
        for it in range(1, max_iterations + 1):
            if it == 1:    # the nominal field with its own leakage heat: pin the scale first
                q, leak, field_q = q_prev, dict(nominal.leakage), temperature
            else:
                q, leak = model.leakage_source(p0, element_mean(temperature))
                q = np.asarray(q)
                leak = {k: float(v) for k, v in leak.items()}
                _check_finite_leakage(model, p0, leak, q, element_mean(temperature))
                # correction to a fraction of the change itself: its error shrinks with the steps
                field_q = temperature + respond(q - q_prev, rtol=1e-3)          # at (s, q)
            delta = pin(field_q)
            new, s_new = field_q + delta * dyn, s + delta
            corrections.drift += abs(delta) * dyn_residual
            if not 0 < s_new <= max_scale:
                return f"the scale left (0, {max_scale}]"
            step = float(np.max(np.abs(new - temperature)))
            history.append(float(np.max(new)))
            temperature, s, q_prev = new, s_new, q
            rho = step / last_step if last_step else 0.0
            if last_step is not None and rho >= 1 and it > 4 and step > 10 * tol:
                return f"the joint iteration stopped contracting (ratio {rho:.3f})"
            done = (rho < 1 and step * rho / (1 - rho) < tol) if last_step else step < tol
            last_step = step
            if not done:
                continue
            # confirm: ONE full solve at (s, q) from the iterate
            p_s = p0.scale_power(s, keys)
            full = model.fields(p_s)
            ticker.update(note=f"confirming scale {s:.5g}")
            try:
                sol = corrections.confirm(np.asarray(full.source) + q, temperature)
            except solvers.SolveError as e:
                raise _Fallback(f"the confirming solve failed ({e})") from e
            counts["solves"] += 1
            exact = np.asarray(sol.temperature, dtype=float)
            junctions = model.junctions(exact)
            if float(np.max(np.abs(exact - temperature))) <= tol and all(
                    float(junctions[n]) <= t for n, t in limits.items() if n in junctions):
                confirmed = (p_s, sol, exact, q, leak)
                break
            temperature, last_step = exact, None        # continue from the exact field at (s, q)
        else:
            return f"the joint iteration did not settle in {max_iterations} iterations"
        p_s, sol, exact, q, leak = confirmed
        # stability at the limit (past runaway the pinned iteration can settle on the upper, unstable branch)
        if _below_a_stable_point(model, p0, exact, nominal, tol):
            gain = nominal.contraction
        else:   # the loop gain along D: an upper bound of the fixed point's contraction (Collatz-Wielandt)
            eps = 1e-3 / float(np.max(dyn))
            q_eps, _ = model.leakage_source(p0, element_mean(exact + eps * dyn))
            q_at, _ = model.leakage_source(p0, element_mean(exact))
            gain_field = respond((np.asarray(q_eps) - np.asarray(q_at)) / eps, rtol=1e-3)
            big = dyn > 1e-2 * float(np.max(dyn))
            gain = float(np.max(gain_field[big] / dyn[big])) if np.any(gain_field) else 0.0
            if gain >= 0.9:
                return f"close to thermal runaway at the limit (loop gain up to {gain:.2f} along the dynamic response)"
    except _Fallback as e:
        return str(e)
    except ThermalRunawayError as e:    # pragma: no cover - the iteration raises none itself
        return str(e)
    wall = time.perf_counter() - t0
    counts["solves"] += corrections.solves
    counts["cg"] += corrections.cg
    report = report_from_solution(model, p_s, sol, solver, leakage=leak, fixed_point_iterations=it,
                                  iterations=counts["cg"], total_s=wall, linear_solves=counts["solves"],
                                  solve_s=corrections.seconds)
    dynamic = {c.name: sum(float(p_s.power[k]) for k in model.chiplet_sources(c.name, dynamic_only=False))
               for c in model.stack.chiplets}
    at_limit = CoupledResult(report=report, dynamic=dynamic, leakage=leak, iterations=it, history=history,
                             contraction=gain, solver_seconds=wall, leakage_source=q)
    return s, at_limit, it, counts["solves"]


def _below_a_stable_point(model, p, field, nominal, tol: float) -> bool:
    """True when ``field`` lies nowhere above the stable nominal operating point (within ``tol``) and every
    leakage law is exponential with a non-negative coefficient: its slope grows with temperature, so the loop
    gain (the spectral radius of the positive operator K^-1 J) there is at most the nominal one, below 1."""
    for c in model.stack.chiplets:
        if c.leakage is None:
            continue
        if c.leakage.model != "exponential" or float(np.ravel(p.leakage_coefficients[c.name])[0]) < 0:
            return False
    return bool(nominal.contraction < 1 and np.all(field <= np.asarray(nominal.report.temperature) + tol))


def _derate_root_find(model, p0, solver, state, limits, nominal, notes, *, pf_model, max_scale,
                      temperature_tolerance, tol) -> DeratingResult:
    """Brent's root find on coupled solves at scaled dynamic powers (see :func:`derate`)."""
    from scipy.optimize import brentq

    evaluations = 0
    cache: dict[float, CoupledResult | None] = {1.0: nominal}
    ticker = progress.steps("derating", None, "coupled solves")

    def run(s: float):
        nonlocal evaluations
        if s not in cache:
            evaluations += 1
            ticker.update(note=f"trying power scale {s:.4g}")
            # Warm start from the solved scale just below: still below the root, so monotone.
            below = [k for k, v in cache.items() if v is not None and k < s]
            start = cache[max(below)].report.temperature if below else None
            try:
                cache[s] = solve_coupled(model, params=p0.scale_power(s, model.dynamic_keys), solver=solver,
                                         state=state, initial_temperature=start, tol=tol)
            except ThermalRunawayError:
                cache[s] = None
        return cache[s]

    def excess(s: float) -> float:
        r = run(s)
        if r is None:
            return 1e3  # runaway: far beyond every limit
        return max(r.report.chiplet(n).junction - t for n, t in limits.items())

    margins = ({n: t - nominal.report.chiplet(n).junction for n, t in limits.items()} if nominal else {})
    lo, hi = 0.0, 1.0
    if excess(lo) > 0:
        raise ThermalRunawayError(
            "even with no dynamic power the leakage alone exceeds a junction limit or runs away; improve the cooling "
            "or lower the leakage", chiplet="-", temperature=float("nan"), power=float("nan"), history=[])
    while excess(hi) <= 0:
        lo, hi = hi, 2 * hi
        if hi > max_scale:
            notes.append(f"every junction stays within its limit up to the largest scale tried ({max_scale}x)")
            r = run(lo)
            return DeratingResult(scale=lo, frequency_factor=lo ** PF_MODELS[pf_model][1], pf_model=pf_model,
                                  limiting="none", margins=margins, at_limit=r, evaluations=evaluations,
                                  nominal=nominal, notes=notes)
    # Temperature rises about linearly with s; convert the K tolerance into a scale tolerance.
    e_lo, e_hi = excess(lo), excess(hi)
    slope = (e_hi - e_lo) / (hi - lo) if e_hi < 1e3 else abs(e_lo) / max(hi - lo, 1e-12)
    xtol = max(temperature_tolerance / max(slope, 1e-12), 1e-9 * hi)
    s = brentq(excess, lo, hi, xtol=xtol, rtol=1e-12, maxiter=100)
    r = run(s)
    if r is None or excess(s) > 0:  # land on the feasible side of the bracket
        s = max(k for k, v in cache.items() if v is not None and excess(k) <= 0)
        r = run(s)
    limiting = max(limits, key=lambda n: r.report.chiplet(n).junction - limits[n])
    if limits[limiting] - r.report.chiplet(limiting).junction > 10 * temperature_tolerance:
        limiting = "runaway"
        notes.append("thermal runaway, not a junction limit, bounds the power")
    return DeratingResult(scale=s, frequency_factor=s ** PF_MODELS[pf_model][1], pf_model=pf_model,
                          limiting=limiting, margins=margins, at_limit=r, evaluations=evaluations,
                          nominal=nominal, notes=notes)
