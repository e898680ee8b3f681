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
from typing import Callable, Sequence

import numpy as np

from .mesh import MeshedStack, mesh_stack
from .stack import HeatSource, Stack
from solvers.coupled import element_mean as _element_mean
from solvers.coupled import scatter_to_nodes

from .thermal import ThermalReport, chiplet_temperatures, face_heat_out

__all__ = [
    "TJ_MAX_DEFAULTS",
    "CoupledResult",
    "DeratingResult",
    "ThermalRunawayError",
    "derate",
    "solve_coupled_transient",
    "make_linear_solver",
    "solve_coupled",
]

KELVIN = 273.15

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


class ThermalRunawayError(RuntimeError):
    """No stable electro-thermal operating point: leakage outgrows the heat path.

    Attributes: ``chiplet`` (the one whose leakage grew most), ``temperature`` [K] and
    ``power`` [W] reached by it, ``history`` (hottest junction per iteration [K]).
    """

    def __init__(self, message: str, *, chiplet: str, temperature: float, power: float, history):
        super().__init__(message)
        self.chiplet = chiplet
        self.temperature = temperature
        self.power = power
        self.history = list(history)


@dataclass(frozen=True, eq=False)
class CoupledResult:
    """Converged electro-thermal steady state.

    Attributes
    ----------
    report : ThermalReport
        Temperatures and energy balance at the operating point (powers include leakage).
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
        rows = [["chiplet", "dynamic W", "leakage W", "leak share", "Tj degC", "Tj,max degC", "margin K"]]
        for c in sorted(self.report.chiplets, key=lambda c: -c.junction):
            tj_max = _tj_max(self.report.meshed.stack.chiplet(c.name))
            rows.append([c.name, f"{self.dynamic.get(c.name, 0.0):.2f}", f"{self.leakage.get(c.name, 0.0):.2f}",
                         f"{100 * self.leakage_share.get(c.name, 0.0):.1f} %", f"{c.junction - KELVIN:.2f}",
                         f"{tj_max - KELVIN:.0f}" if tj_max else "-",
                         f"{tj_max - c.junction:+.2f}" if tj_max else "-"])
        widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
        lines = ["  ".join(v.ljust(w) for v, w in zip(r, widths)).rstrip() for r in rows]
        lines.insert(1, "  ".join("-" * w for w in widths))
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


def _tj_max(chip) -> float | None:
    return chip.tj_max if chip.tj_max is not None else TJ_MAX_DEFAULTS.get(chip.kind, (None, ""))[0]


# -- the linear solve behind every iteration ---------------------------------------------------------

def make_linear_solver(meshed: MeshedStack, *, method: str = "jax", rtol: float = 1e-9) -> Callable:
    """A function ``source [W/m^3] -> nodal temperature [K]`` on a fixed grid and conductivity.

    The operator (and its preconditioner or AMG hierarchy) is built once and reused for every
    right-hand side, so an electro-thermal iteration costs one preconditioned solve.
    """
    g, f = meshed.grid, meshed.fields
    if method == "reference":
        import pyamg

        from solvers.reference import assemble

        K, b0 = assemble(g, f.with_(source=np.zeros(g.shape)))
        ml = pyamg.smoothed_aggregation_solver(K)
        vol8 = g.cell_volumes() / 8.0

        def solve(q):
            b = b0 + scatter_to_nodes(np.asarray(q) * vol8).ravel()
            x = ml.solve(b, tol=rtol, accel="cg", maxiter=500)
            return x.reshape(g.node_shape)

        return solve
    if method != "jax":
        raise ValueError(f"`make_linear_solver(method={method!r})`: choose 'jax' or 'reference'")
    from solvers.thermal import solve_steady

    def solve(q):
        sol = solve_steady(g, f.with_(source=np.asarray(q)), rtol=rtol, throw=True)
        return np.asarray(sol.temperature)

    return solve


# -- coupled solve -------------------------------------------------------------------------------------

def _leakage_parts(meshed: MeshedStack):
    """Per leaky chiplet: (name, unit-power pattern w_c [1/m^3], Leakage)."""
    parts = []
    g = meshed.grid
    vol = g.cell_volumes()
    for chip in meshed.stack.chiplets:
        if chip.leakage is None:
            continue
        pattern = meshed.source_patterns[chip.name]
        total = float(np.sum(pattern * vol))
        if total <= 0:  # no dynamic power: spread over the die
            mask = g.region_mask(meshed.chiplet_regions[chip.name])
            pattern = mask / float(np.sum(vol[mask]))
        else:
            pattern = pattern / total
        parts.append((chip.name, pattern, chip.leakage))
    return parts


def _leak_factor(leak, dT: np.ndarray) -> np.ndarray:
    if leak.model == "exponential":
        return np.exp(np.minimum(leak.coefficient * dT, 700.0))
    poly = np.ones_like(dT)
    for i, c in enumerate(leak.polynomial, start=1):
        poly = poly + c * dT**i
    return np.maximum(poly, 0.0)


def solve_coupled(
    stack_or_meshed: Stack | MeshedStack,
    *,
    dynamic_scale: float = 1.0,
    heat_sources: Sequence[HeatSource] = (),
    method: str = "jax",
    tol: float = 1e-3,
    max_iterations: int = 300,
    runaway_temperature: float = 600.0 + KELVIN,
    linear_solver: Callable | None = None,
    dynamic_source: tuple[np.ndarray, dict] | None = None,
    initial_temperature: np.ndarray | None = None,
) -> CoupledResult:
    """Converged steady state with temperature-dependent leakage.

    Parameters
    ----------
    stack_or_meshed : Stack or MeshedStack
    dynamic_scale : float
        Multiplies every chiplet's dynamic power (PHY heat sources are not scaled).
    heat_sources : sequence of HeatSource
        Extra heat (PHYs, ...) meshed into named chiplets (needs a Stack).
    method : {"jax", "reference"}
        Linear solve path (see :func:`codesign.thermal.analyse`).
    tol : float
        Estimated remaining temperature error at which to stop [K].
    max_iterations : int
        Fixed-point iterations before a :class:`solvers.thermal.SolveError`-like RuntimeError.
    runaway_temperature : float
        A junction above this [K] is taken as runaway.
    linear_solver : callable, optional
        Reuse a solver from :func:`make_linear_solver` (derating does this).
    dynamic_source : (array, dict), optional
        Replace the layout's dynamic heat by this per-element source [W/m^3] and its per-chiplet
        powers [W] (a transient's powers at t = 0, say); ``dynamic_scale`` is then ignored.
    initial_temperature : array, optional
        Nodal start [K] instead of the ambient. It must lie below the operating point (a solution
        at lower power, say) so the iterates still rise monotonically to the smallest root.

    Raises
    ------
    ThermalRunawayError
        When no stable operating point exists.
    """
    if not (dynamic_scale >= 0 and math.isfinite(dynamic_scale)):
        raise ValueError(f"`solve_coupled(dynamic_scale={dynamic_scale!r})` must be a finite number >= 0")
    meshed = (stack_or_meshed if isinstance(stack_or_meshed, MeshedStack)
              else mesh_stack(stack_or_meshed, heat_sources=heat_sources))
    solve = linear_solver or make_linear_solver(meshed, method=method)
    g = meshed.grid
    vol = g.cell_volumes()
    chips = meshed.stack.chiplets
    if dynamic_source is not None:
        q_dyn, dynamic = np.asarray(dynamic_source[0], dtype=float), dict(dynamic_source[1])
    else:
        q_dyn = np.zeros(g.shape)
        dynamic = {}
        for c in chips:
            q_dyn += dynamic_scale * meshed.source_patterns[c.name]
            dynamic[c.name] = dynamic_scale * c.total_power
        for hs in meshed.heat_sources:
            q_dyn += meshed.source_patterns[f"{hs.chiplet}/{hs.name}"]
            dynamic[hs.chiplet] = dynamic.get(hs.chiplet, 0.0) + hs.power
    parts = _leakage_parts(meshed)
    t_amb = min(float(np.min(a)) for a in meshed.fields.ambient.values()) if meshed.fields.ambient else 300.0
    t_elem = np.full(g.shape, t_amb) if initial_temperature is None else _element_mean(np.asarray(initial_temperature))
    history: list[float] = []
    last_step, rho = None, 0.0
    leak_power: dict[str, float] = {}
    t0 = time.perf_counter()
    temperature = None
    for it in range(1, max_iterations + 1):
        q = q_dyn.copy()
        for name, w, leak in parts:
            ql = w * leak.reference_power * _leak_factor(leak, t_elem - leak.reference_temperature)
            q += ql
            leak_power[name] = float(np.sum(ql * vol))
        new = solve(q)
        if not np.all(np.isfinite(new)):
            raise RuntimeError("the linear solve returned non-finite temperatures inside the electro-thermal loop; "
                               "check conductivities and boundaries")
        hottest = float(np.max(new))
        history.append(hottest)
        step = float(np.max(np.abs(new - temperature))) if temperature is not None else float("inf")
        temperature = new
        t_elem = _element_mean(temperature)
        if hottest > runaway_temperature:
            _runaway(meshed, temperature, leak_power, history, f"a junction passed {runaway_temperature - KELVIN:.0f} degC")
        if not parts:
            break
        if last_step is not None and math.isfinite(last_step) and last_step > 0:
            rho = step / last_step
            if rho < 1 and step * rho / (1 - rho) < tol:
                break
            if rho >= 1 and it > 4 and step > 10 * tol:
                _runaway(meshed, temperature, leak_power, history,
                         f"temperature increments stopped shrinking (ratio {rho:.3f} >= 1)")
        elif step < tol:
            break
        last_step = step
    else:
        raise RuntimeError(
            f"`solve_coupled` did not converge in {max_iterations} iterations (contraction {rho:.4f}, last step "
            f"{last_step:.3g} K): the package is close to thermal runaway. Improve cooling, lower the power or the "
            "leakage, or raise `max_iterations`.")
    # Report the leakage of the last solve, so the temperature field and the powers balance exactly;
    # it differs from leakage re-evaluated at the final field by less than the tolerance allows.
    powers = {n: dynamic.get(n, 0.0) + leak_power.get(n, 0.0) for n in dynamic}
    power_in = sum(powers.values())
    heat_out = face_heat_out(meshed, temperature)
    report = ThermalReport(
        meshed=meshed, temperature=temperature, chiplets=chiplet_temperatures(meshed, temperature, powers),
        power_in=power_in, heat_out=heat_out,
        energy_residual=abs(power_in - sum(heat_out.values())) / max(power_in, 1e-300),
        solver={"method": f"{method} + electro-thermal fixed point", "iterations": it,
                "converged": True, "solve_s": time.perf_counter() - t0})
    return CoupledResult(report=report, dynamic=dynamic, leakage=leak_power, iterations=it, history=history,
                         contraction=rho, solver_seconds=time.perf_counter() - t0)


def _runaway(meshed, temperature, leak_power, history, why):
    temps = {c.name: c.junction for c in chiplet_temperatures(meshed, temperature)}
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
    stack_or_meshed: Stack | MeshedStack,
    *,
    heat_sources: Sequence[HeatSource] = (),
    method: str = "jax",
    pf_model: str = "dvfs",
    max_scale: float = 8.0,
    temperature_tolerance: float = 0.05,
    linear_solver: Callable | None = None,
) -> DeratingResult:
    """Largest dynamic-power scale (and clock factor) that keeps every junction within its limit.

    Brackets the limit between a feasible and an infeasible scale (runaway counts as infeasible)
    and refines it with Brent's method until the limiting junction sits at its ``tj_max`` within
    ``temperature_tolerance`` [K] (or the bracket is below 1e-6 relative). ``linear_solver``
    reuses a solver from :func:`make_linear_solver` built on the same mesh.
    """
    from scipy.optimize import brentq

    if pf_model not in PF_MODELS:
        raise ValueError(f"`derate(pf_model={pf_model!r})`: choose one of {', '.join(PF_MODELS)}")
    meshed = (stack_or_meshed if isinstance(stack_or_meshed, MeshedStack)
              else mesh_stack(stack_or_meshed, heat_sources=heat_sources))
    limits = {c.name: _tj_max(c) for c in meshed.stack.chiplets if _tj_max(c) is not None}
    notes = [f"P-f model: {PF_MODELS[pf_model][0]}"]
    notes += [f"{c.name}: tj_max default for kind {c.kind!r}: {TJ_MAX_DEFAULTS[c.kind][1]}"
              for c in meshed.stack.chiplets if c.tj_max is None and c.name in limits]
    if not limits:
        raise ValueError("`derate`: no chiplet has a junction limit; give `tj_max` to at least one chiplet")
    solve = linear_solver or make_linear_solver(meshed, method=method)
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
                cache[s] = solve_coupled(meshed, dynamic_scale=s, linear_solver=solve, initial_temperature=start,
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


# -- coupled transient ---------------------------------------------------------------------------------

def solve_coupled_transient(
    stack_or_meshed: Stack | MeshedStack,
    trace: tuple[np.ndarray, list, np.ndarray] | None = None,
    *,
    duration: float,
    dt: float,
    initial: str = "ambient",
    n_outputs: int = 100,
    runaway_temperature: float = 600.0 + KELVIN,
):
    """Transient with leakage updated every step (BDF2, leakage at the extrapolated temperature).

    ``trace`` is a power trace from :func:`codesign.transient.read_power_trace` (chiplets not in
    it keep their layout power); without one the layout powers are constant. ``initial`` is
    ``"ambient"`` or ``"steady"`` (the electro-thermal operating point at the t = 0 powers).
    A junction above ``runaway_temperature`` raises :class:`ThermalRunawayError` with the time.

    Returns a :class:`codesign.transient.TransientReport` whose ``solver`` dict also holds the
    leakage power of each chiplet at every output time (``leakage_W``).
    """
    from solvers.coupled import solve_transient_with_source

    from .transient import TransientReport, unit_pattern

    meshed = stack_or_meshed if isinstance(stack_or_meshed, MeshedStack) else mesh_stack(stack_or_meshed)
    g = meshed.grid
    vol = g.cell_volumes()
    names = list(trace[1]) if trace is not None else []
    times = np.asarray(trace[0], dtype=float) if trace is not None else np.zeros(1)
    watts = np.asarray(trace[2], dtype=float) if trace is not None else np.zeros((1, 0))
    base = np.zeros(g.shape)
    for c in meshed.stack.chiplets:
        if c.name not in names:
            base += meshed.source_patterns[c.name]
    for hs in meshed.heat_sources:
        base += meshed.source_patterns[f"{hs.chiplet}/{hs.name}"]
    units = [unit_pattern(meshed, n) for n in names]
    parts = _leakage_parts(meshed)

    def dynamic_at(t: float):
        row = np.searchsorted(times, t, side="right") - 1
        q = base.copy()
        powers = {c.name: c.total_power for c in meshed.stack.chiplets}
        if row >= 0:
            for u, n, w in zip(units, names, watts[row]):
                q += w * u
                powers[n] = float(w)
        else:
            for n in names:
                powers[n] = 0.0
        return q, powers

    leak_log: list[dict] = []

    def source(t_elem: np.ndarray, t: float) -> np.ndarray:
        q, _ = dynamic_at(t - 1e-12 * max(dt, 1.0))  # the power applied over the step ending at t
        leaks = {}
        for name, w, leak in parts:
            ql = w * leak.reference_power * _leak_factor(leak, t_elem - leak.reference_temperature)
            q = q + ql
            leaks[name] = float(np.sum(ql * vol))
        leak_log.append(leaks)
        return q

    if initial == "steady":
        q0, p0 = dynamic_at(0.0)
        start = solve_coupled(meshed, dynamic_source=(q0, p0), method="reference").report.temperature
    elif initial == "ambient":
        t_amb = min(float(np.min(a)) for a in meshed.fields.ambient.values())
        start = np.full(g.node_shape, t_amb)
    else:
        raise ValueError(f"`solve_coupled_transient(initial={initial!r})`: choose 'ambient' or 'steady'")

    def stop(t_nodes, t):
        hottest = float(np.max(t_nodes))
        return f"a junction passed {runaway_temperature - KELVIN:.0f} degC at t = {t:.4g} s" \
            if hottest > runaway_temperature else ""

    n_steps = int(np.ceil(duration / dt - 1e-9))
    t0 = time.perf_counter()
    sol = solve_transient_with_source(g, meshed.fields, source=source, duration=duration, dt=dt, initial=start,
                                      output_every=max(1, n_steps // n_outputs), stop=stop)
    wall = time.perf_counter() - t0
    if sol.stopped:
        _runaway(meshed, sol.temperature[-1], leak_log[-1] if leak_log else {}, [float(np.max(x)) for x in
                                                                               sol.temperature], sol.stopped)
    junction = {c.name: np.empty(len(sol.times)) for c in meshed.stack.chiplets}
    for i in range(len(sol.times)):
        for ct in chiplet_temperatures(meshed, sol.temperature[i]):
            junction[ct.name][i] = ct.junction
    out_every = max(1, n_steps // n_outputs)
    kept = [0] + [k for k in range(1, n_steps + 1) if k % out_every == 0 or k == n_steps]
    leak_series = {name: [leak_log[min(k, len(leak_log) - 1)].get(name, 0.0) for k in kept]
                   for name, _, _ in parts}
    stats = {"steps": n_steps, "iterations": sol.iterations, "method": "reference BDF2 + leakage (extrapolated)",
             "solve_s": wall, "dt_s": duration / n_steps, "converged": True, "max_relative_residual": 1e-9,
             "leakage_W": leak_series}
    return TransientReport(meshed=meshed, times=sol.times, junction=junction, temperature=sol.temperature[-1],
                           power_in=sol.power_in, heat_out=sol.heat_out, solver=stats)
