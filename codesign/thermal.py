"""Steady thermal analysis of a stack: per-chiplet junction temperatures, margins, energy balance.

:func:`analyse` is the front door. It builds the :class:`codesign.Model` (or takes one), solves
it through one :class:`solvers.ThermalSolver` (the JAX multigrid-CG by default) and, when any
chiplet has leakage data, finds the electro-thermal operating point (the same answer as
:func:`codesign.run_layout`). ``temperature_dependent=True`` solves with the materials' k(T).
"""

from __future__ import annotations

import time
from typing import Sequence

import numpy as np

import solvers

from .errors import ModelError, SolveError, solve_error
from .model import Model, Params, ensure_model
from .results import ThermalReport, chiplet_temperatures, solver_stats
from .stack import HeatSource, Stack

__all__ = ["analyse", "report_from_solution"]


def analyse(stack_or_model: Stack | Model, *, params: Params | None = None,
            solver: solvers.ThermalSolver | None = None, temperature_dependent: bool = False,
            leakage: bool = True, heat_sources: Sequence[HeatSource] = (), throw: bool = True,
            accuracy: bool | None = None, max_cells: int | None = None) -> ThermalReport:
    """Steady thermal analysis of a stack.

    Parameters
    ----------
    stack_or_model : Stack or Model
        A stack (built here with its own ``[mesh]`` controls) or a model from :func:`codesign.build`.
    params : Params, optional
        The parameters to solve (default: the layout's, ``model.params``).
    solver : solvers.ThermalSolver, optional
        ``solvers.MultigridCG()`` (default: matrix-free JAX, multigrid-preconditioned CG, rtol
        1e-8) or ``solvers.ReferenceAMG()`` (scikit-fem + pyamg; slow, independent).
    temperature_dependent : bool
        Solve with the materials' k(T) laws (e.g. silicon ~T^-1.3) by Picard iteration.
    leakage : bool
        With leakage data in the layout, solve the electro-thermal operating point (default);
        ``False`` solves the dynamic power alone (and says so in ``solver["note"]``).
    heat_sources : sequence of HeatSource
        Extra heat (PHYs, ...) added to named chiplets (needs a Stack).
    throw : bool
        Raise :class:`codesign.SolveError` on non-convergence (default); otherwise report
        ``solver["converged"] = False``.
    accuracy : bool, optional
        Discretisation-error estimates (``report.accuracy``, ``± K`` on every chiplet; see
        :mod:`codesign.accuracy` and ``docs/accuracy.md``). Default with a Stack: the layout's
        ``[mesh]`` solved as it stands, with its estimate and whether it meets the target
        (``mesh.target_error``, default 1 % of the largest rise); refined until it does when the
        layout sets ``mesh.target_error``. ``True`` with a Stack: refined until the estimate meets
        the target or the cell budget. With a Model: estimates on its mesh (no refinement) only
        when ``True``. ``False``: no estimate.
    max_cells : int, optional
        Cell budget of the refinement (default: the layout's ``mesh.max_cells``, else
        :data:`codesign.accuracy.DEFAULT_CELL_BUDGET`).
    """
    kw = dict(params=params, solver=solver, temperature_dependent=temperature_dependent, leakage=leakage,
              throw=throw)
    estimate_only = False
    if isinstance(stack_or_model, Stack) and accuracy is None:  # the default: the estimate on the layout's mesh
        accuracy = True
        estimate_only = stack_or_model.mesh.target_error is None
    if isinstance(stack_or_model, Stack) and accuracy and not estimate_only:
        from .accuracy import meet_target

        _, report = meet_target(stack_or_model, solve=lambda m: _analyse_model(m, **kw), heat_sources=heat_sources,
                                solver=solver, max_cells=max_cells)
        return report
    model = ensure_model(stack_or_model, heat_sources=heat_sources, call="analyse")
    started = None
    if accuracy and not temperature_dependent:  # linear, or leakage: the coarse grids are made beside the solve
        from .accuracy import start  # the estimate's coarse grids and programs do not need the model's solve: beside it

        started = start(model, model.params if params is None else params, solver=solver)
    report = _analyse_model(model, **kw)
    if accuracy:
        from .accuracy import attach_estimate

        report = attach_estimate(report, solver=solver, started=started)
    return report


def _analyse_model(model: Model, *, params, solver, temperature_dependent, leakage, throw) -> ThermalReport:
    solver = solvers.MultigridCG() if solver is None else solver
    has_leakage = any(c.leakage is not None for c in model.stack.chiplets)
    if has_leakage and leakage:
        if temperature_dependent:
            raise ModelError("`analyse(temperature_dependent=True)` with leakage data: the k(T) solve does not couple "
                             "leakage; pass leakage=False to solve k(T) with the dynamic power alone")
        from .electrothermal import solve_coupled

        return solve_coupled(model, params=params, solver=solver).report
    p = model.params if params is None else params
    fields = model.fields(p)
    t0 = time.perf_counter()
    try:
        if temperature_dependent:
            sol = solver.solve_nonlinear(model.grid, fields, k_exponent=model.k_exponent,
                                         reference_temperature=model.reference_temperature, throw=throw)
        else:
            sol = solver.solve(model.grid, fields, throw=throw)
    except solvers.SolveError as e:
        raise solve_error(e) from e
    extra = {"total_s": time.perf_counter() - t0}
    if has_leakage:
        extra["note"] = "leakage not included (leakage=False)"
    return report_from_solution(model, p, sol, solver, **extra)


def report_from_solution(model: Model, params: Params, sol: solvers.ThermalSolution, solver, *,
                         leakage: dict | None = None, **extra) -> ThermalReport:
    """A :class:`ThermalReport` from a solution of ``model`` at ``params`` (statistics as measured)."""
    temperature = np.asarray(sol.temperature, dtype=float)
    if not np.all(np.isfinite(temperature)):
        raise SolveError("the solve returned non-finite temperatures; check the conductivities and the boundary "
                         "heat-transfer coefficients (every region needs a heat path to a convective face)")
    leakage = dict(leakage or {})
    powers = {c.name: sum(float(params.power[k]) for k in model.chiplet_sources(c.name, dynamic_only=False))
              + leakage.get(c.name, 0.0) for c in model.stack.chiplets}
    return ThermalReport(model=model, params=params, temperature=temperature,
                         chiplets=chiplet_temperatures(model, temperature, powers),
                         power_in=float(np.asarray(sol.power_in)),
                         heat_out={k: float(np.asarray(v)) for k, v in sol.heat_out.items()},
                         energy_residual=float(np.asarray(sol.energy_balance)),
                         solver=solver_stats(solver, sol, **extra), leakage=leakage)
