"""The main job on one layout: interconnect, thermal (or electro-thermal) solve, derating.

Both `codesign run` and `codesign report` call :func:`run_layout`; scripts can too.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

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
        Wall time of each stage.
    """

    stack: Stack
    thermal: object
    links: object = None
    coupled: object = None
    derating: object = None
    ppac: object = None
    seconds: dict = field(default_factory=dict)

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
        return out


def run_layout(stack: Stack, *, method: str = "jax", phy_heat: bool = False, derating: bool = True,
               temperature_dependent: bool = False, ppac: bool = True, mesh: dict | None = None) -> LayoutRun:
    """Run the main job on a stack.

    Parameters
    ----------
    method : {"jax", "reference"}
        Thermal solve path.
    phy_heat : bool
        Add each link's PHY power as heat in strips of its dies. Leave it off when the layout's die
        powers already include their I/O (as the shipped reference layouts do).
    derating : bool
        With leakage data, also find the sustainable dynamic-power scale (several coupled solves).
    temperature_dependent : bool
        Solve with k(T) (no leakage coupling in this mode).
    ppac : bool
        Add the PPAC summary when :mod:`codesign.ppac` is available.
    mesh : dict, optional
        Keyword overrides for :func:`codesign.mesh_stack` (e.g. ``{"max_lateral_size": 1e-3}``).
    """
    from .electrothermal import derate, make_linear_solver, solve_coupled
    from .mesh import mesh_stack
    from .thermal import analyse

    seconds = {}
    t = time.perf_counter()
    links = None
    heat = ()
    if stack.links:
        from .interconnect import evaluate_links, phy_heat_sources

        links = evaluate_links(stack)
        if phy_heat:
            heat = phy_heat_sources(stack, links)
    seconds["interconnect"] = time.perf_counter() - t
    t = time.perf_counter()
    meshed = mesh_stack(stack, heat_sources=heat, **(mesh or {}))
    seconds["mesh"] = time.perf_counter() - t
    coupled = der = None
    t = time.perf_counter()
    if any(c.leakage is not None for c in stack.chiplets) and not temperature_dependent:
        solver = make_linear_solver(meshed, method=method)
        coupled = solve_coupled(meshed, linear_solver=solver, method=method)
        thermal = coupled.report
        seconds["electrothermal"] = time.perf_counter() - t
        if derating:
            t = time.perf_counter()
            der = derate(meshed, method=method, linear_solver=solver)
            seconds["derating"] = time.perf_counter() - t
    else:
        thermal = analyse(meshed, method=method, temperature_dependent=temperature_dependent)
        seconds["thermal"] = time.perf_counter() - t
    summary = None
    if ppac:
        try:
            from .ppac import ppac as _ppac
        except ImportError:  # the cost model is optional until it lands
            _ppac = None
        if _ppac is not None:
            t = time.perf_counter()
            summary = _ppac(stack, thermal=thermal, coupled=coupled, derating=der, links=links)
            seconds["ppac"] = time.perf_counter() - t
    return LayoutRun(stack=stack, thermal=thermal, links=links, coupled=coupled, derating=der, ppac=summary,
                     seconds=seconds)
