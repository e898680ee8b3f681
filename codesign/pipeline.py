"""The main job on one layout: interconnect, thermal (or electro-thermal) solve, derating.

Both `codesign run` and `codesign report` call :func:`run_layout`; scripts can too.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from . import progress
from .stack import Stack

__all__ = ["LayoutRun", "run_layout"]


@dataclass(frozen=True, eq=False)
class LayoutRun:
    """Everything the main job computes for a layout.

    Attributes
    ----------
    stack : Stack
    thermal : ThermalReport
        Steady temperatures (at the electro-thermal operating point when the layout has leakage).
    links : InterconnectReport or None
        Link evaluation when the layout has links.
    coupled : CoupledResult or None
        Leakage operating point when any chiplet has leakage data.
    derating : DeratingResult or None
        Sustainable dynamic-power scale within the junction limits (when computed).
    ppac : object or None
        The PPAC summary when the cost model is available.
    seconds : dict
        Wall time of each stage [s]; ``compile`` is the time spent getting solver programs ready
        (trace or load, compile), which the solve stages do not include.
    """

    stack: Stack
    thermal: object
    links: object = None
    coupled: object = None
    derating: object = None
    ppac: object = None
    seconds: dict = field(default_factory=dict)
    warpage: object = None  # codesign.warpage.WarpageReport when computed (codesign report; analyse_warpage)

    def to_dict(self) -> dict:
        out = {"thermal": self.thermal.to_dict(), "seconds": dict(self.seconds)}
        if self.links is not None:
            out["links"] = self.links.to_dict()
        if self.coupled is not None:
            out["electrothermal"] = self.coupled.to_dict()
        if self.derating is not None:
            out["derating"] = self.derating.to_dict()
        if self.ppac is not None and hasattr(self.ppac, "to_dict"):
            out["ppac"] = self.ppac.to_dict()
        if self.warpage is not None:
            out["warpage"] = self.warpage.to_dict()
        from .assumptions import run_assumptions  # what the answer rests on (boundaries, materials, mesh, ...)

        out["assumptions"] = run_assumptions(self)
        return out


def run_layout(stack: Stack, *, solver=None, phy_heat: bool = False, derating: bool = True,
               temperature_dependent: bool = False, ppac: bool = True, mesh: dict | None = None,
               accuracy: bool | None = None, on_solved=None) -> LayoutRun:
    """Run the main job on a stack: links, the model, its solve, derating and PPAC.

    Parameters
    ----------
    solver : solvers.ThermalSolver, optional
        ``solvers.MultigridCG()`` (default) or ``solvers.ReferenceAMG()``; its ``rtol`` applies
        to every linear solve. With leakage, one set-up serves the operating point and derating.
    phy_heat : bool
        Add each link's PHY power as heat in strips of its dies. Leave it off when the layout's die
        powers already include their I/O (as the shipped reference layouts do).
    derating : bool
        With leakage data, also find the sustainable dynamic-power scale (several coupled solves).
    temperature_dependent : bool
        Solve with k(T) (no leakage coupling in this mode).
    ppac : bool
        Add the PPAC summary.
    mesh : dict, optional
        Mesh-control overrides for :func:`codesign.build` (e.g. ``{"max_lateral_size": 1e-3}``).
    accuracy : bool, optional
        Default: solve the ``[mesh]`` as given and put the discretisation-error estimate
        (``± K``, and whether it meets the target) on the result (see :mod:`codesign.accuracy`);
        refine until it meets the target when the layout sets ``mesh.target_error``. ``True``:
        refine the mesh until the estimate of the chiplet temperatures meets the layout's target
        (or the cell budget). ``False``: solve the ``[mesh]`` as given, without estimates.
    on_solved : callable, optional
        Called with the thermal report as soon as its temperatures are final (after the solve, or
        the last solve of the refinement), before the error estimate, derating and PPAC: the
        command line starts writing the field there (``codesign run``).
    """
    import solvers

    from .electrothermal import derate, solve_coupled
    from .model import build
    from .ppac import evaluate_ppac
    from .thermal import analyse

    solver = solvers.MultigridCG() if solver is None else solver
    seconds = {}
    links = None
    heat = ()
    if stack.links:
        from .interconnect import evaluate_links, phy_heat_sources

        with progress.stage("links") as st:
            links = evaluate_links(stack)
            if phy_heat:
                heat = phy_heat_sources(stack, links)
        seconds["interconnect"] = st.seconds
    else:
        seconds["interconnect"] = 0.0
    coupled = der = None
    compile_s = 0.0
    leaky = any(c.leakage is not None for c in stack.chiplets) and not temperature_dependent
    solved = {}

    def solve_one(model):
        """The thermal (or electro-thermal) solve of one model; ``solved`` keeps its set-up."""
        nonlocal compile_s
        if leaky:
            with progress.stage("electro-thermal solve") as st:
                solved["state"] = model.init(solver=solver)
                solved["coupled"] = solve_coupled(model, solver=solver, state=solved["state"])
                st.note(f"{solved['coupled'].iterations} fixed-point iterations")
            seconds["electrothermal"] = seconds.get("electrothermal", 0.0) + st.seconds
            compile_s += st.compile_seconds
            return solved["coupled"].report
        with progress.stage("solve") as st:
            report = analyse(model, solver=solver, temperature_dependent=temperature_dependent,
                             leakage=not temperature_dependent, accuracy=False)
        seconds["thermal"] = seconds.get("thermal", 0.0) + st.seconds
        compile_s += st.compile_seconds
        return report

    estimate_only = accuracy is None and stack.mesh.target_error is None  # the default: estimate the [mesh] as given
    if accuracy is None:
        accuracy = True
    if accuracy and not estimate_only:  # the mesh refined until the error estimate meets the target (codesign.accuracy)
        from .accuracy import meet_target

        t0 = time.perf_counter()
        model, thermal = meet_target(stack, solve=solve_one, heat_sources=heat, mesh=mesh, solver=solver)
        seconds["accuracy"] = time.perf_counter() - t0 - seconds.get("thermal", 0.0) - seconds.get("electrothermal", 0.0)
        seconds["mesh"] = 0.0
        if on_solved is not None:
            on_solved(thermal)
    else:
        with progress.stage("mesh") as st:
            model = build(stack, heat_sources=heat, **(mesh or {}))
            st.note(f"{model.n_cells:,} cells")
        seconds["mesh"] = st.seconds
        started = None
        if estimate_only and not temperature_dependent:
            from .accuracy import start  # the estimate's coarse grids and programs do not need this solve: beside it

            started = start(model, solver=solver)
        thermal = solve_one(model)
        if on_solved is not None:  # the temperatures are final: e.g. written while the estimate and derating run
            on_solved(thermal)
        if estimate_only:
            from .accuracy import attach_estimate

            with progress.stage("accuracy estimate") as st:
                thermal = attach_estimate(thermal, solver=solver, started=started)
                st.note(f"± {thermal.accuracy.chiplet_error:.2g} K"
                        + ("; its coarse programs were made ready beside the solve" if started is not None else ""))
            seconds["accuracy"] = st.seconds
            compile_s += st.compile_seconds
    coupled = solved.get("coupled")
    if leaky and derating:
        with progress.stage("derating") as st:
            der = derate(model, solver=solver, state=solved["state"], nominal=coupled)
            st.note(der.work)
        seconds["derating"] = st.seconds
        compile_s += st.compile_seconds
    if compile_s:
        seconds["compile"] = compile_s
    summary = None
    if ppac:
        with progress.stage("PPAC") as st:
            summary = evaluate_ppac(stack, thermal=thermal, coupled=coupled, derating=der, links=links)
        seconds["ppac"] = st.seconds
    return LayoutRun(stack=stack, thermal=thermal, links=links, coupled=coupled, derating=der, ppac=summary,
                     seconds=seconds)
