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

Derating finds the largest scale ``s`` of every chiplet's dynamic power for which all junctions
stay within ``tj_max``, by a bracketing root find (Brent) on the coupled solve, and converts it to a
frequency factor under a stated power-frequency model.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np

import solvers
from solvers import element_mean

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
    """

    report: ThermalReport
    dynamic: dict
    leakage: dict
    iterations: int
    history: list
    contraction: float
    solver_seconds: float = 0.0

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
        return "\n".join(lines)

    def to_dict(self) -> dict:
        return {"dynamic_W": dict(self.dynamic), "leakage_W": dict(self.leakage),
                "leakage_share": self.leakage_share, "iterations": self.iterations,
                "contraction": self.contraction, "history_C": [t - KELVIN for t in self.history]}


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

    def to_dict(self) -> dict:
        return {"scale": self.scale, "frequency_factor": self.frequency_factor, "pf_model": self.pf_model,
                "limiting": self.limiting, "margins_K": dict(self.margins), "evaluations": self.evaluations,
                "notes": list(self.notes)}


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
    solver = solvers.MultigridCG() if solver is None else solver
    p = model.params if params is None else params
    dyn = model.fields(p)
    if state is None:
        state = solver.init(model.grid, dyn)
    g = model.grid
    t_amb = min(float(np.min(np.asarray(a))) for a in dyn.ambient.values()) if dyn.ambient else 300.0
    t_elem = np.full(g.shape, t_amb) if initial_temperature is None else element_mean(np.asarray(initial_temperature))
    has_leak = bool(p.leakage_power)
    history: list[float] = []
    last_step, rho = None, 0.0
    leak_power: dict[str, float] = {}
    t0 = time.perf_counter()
    temperature = None
    iterations = 0
    sol = None
    for it in range(1, max_iterations + 1):
        q_leak, leak = model.leakage_source(p, t_elem)
        leak_power = {k: float(v) for k, v in leak.items()}
        try:
            sol = solver.solve(g, dyn.with_(source=dyn.source + q_leak), state=state,
                               initial_temperature=temperature)
        except solvers.SolveError as e:
            raise solve_error(e) from e
        iterations += int(np.asarray(sol.iterations))
        new = np.asarray(sol.temperature, dtype=float)
        hottest = float(np.max(new))
        history.append(hottest)
        step = float(np.max(np.abs(new - temperature))) if temperature is not None else float("inf")
        temperature = new
        t_elem = element_mean(temperature)
        if hottest > runaway_temperature:
            _runaway(model, temperature, leak_power, history, f"a junction passed {runaway_temperature - KELVIN:.0f} degC")
        if not has_leak:
            break
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
    else:
        raise SolveError(
            f"`solve_coupled` did not converge in {max_iterations} iterations (contraction {rho:.4f}, last step "
            f"{last_step:.3g} K): the package is close to thermal runaway. Improve cooling, lower the power or the "
            "leakage, or raise `max_iterations`.")
    # The report carries the leakage of the last solve, so the temperature field and the powers balance
    # to the solver's tolerance; it differs from leakage re-evaluated at the final field by less than `tol`.
    wall = time.perf_counter() - t0
    report = report_from_solution(model, p, sol, solver, leakage=leak_power, fixed_point_iterations=it,
                                  iterations=iterations, total_s=wall)
    dynamic = {c.name: sum(float(p.power[k]) for k in model.chiplet_sources(c.name, dynamic_only=False))
               for c in model.stack.chiplets}
    return CoupledResult(report=report, dynamic=dynamic, leakage=leak_power, iterations=it, history=history,
                         contraction=rho, solver_seconds=wall)


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
) -> DeratingResult:
    """Largest dynamic-power scale (and clock factor) that keeps every junction within its limit.

    Brackets the limit between a feasible and an infeasible scale (runaway counts as infeasible)
    and refines it with Brent's method until the limiting junction sits at its ``tj_max`` within
    ``temperature_tolerance`` [K] (or the bracket is below 1e-6 relative). Every evaluation is a
    :func:`solve_coupled` at scaled dynamic powers (PHY heat sources are not scaled), all through
    ONE solver set-up (``state``, built here when not given).
    """
    from scipy.optimize import brentq

    if pf_model not in PF_MODELS:
        raise ModelError(f"`derate(pf_model={pf_model!r})`: choose one of {', '.join(PF_MODELS)}")
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
    evaluations = 0
    cache: dict[float, CoupledResult | None] = {}

    def run(s: float):
        nonlocal evaluations
        if s not in cache:
            evaluations += 1
            # Warm start from the solved scale just below: still below the root, so monotone.
            below = [k for k, v in cache.items() if v is not None and k < s]
            start = cache[max(below)].report.temperature if below else None
            try:
                cache[s] = solve_coupled(model, params=p0.scale_power(s, model.dynamic_keys), solver=solver,
                                         state=state, initial_temperature=start,
                                         tol=min(0.01, temperature_tolerance / 5))
            except ThermalRunawayError:
                cache[s] = None
        return cache[s]

    def excess(s: float) -> float:
        r = run(s)
        if r is None:
            return 1e3  # runaway: far beyond every limit
        return max(r.report.chiplet(n).junction - t for n, t in limits.items())

    nominal = run(1.0)
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
