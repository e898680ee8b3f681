"""What a thermal answer rests on, as plain data: the assumptions a reviewer needs beside the result.

:func:`model_assumptions` lists, for a model and the parameters solved, the boundary conditions
(heat-transfer coefficient, ambient and the faces each applies to), every material on the grid
with its source and the values the solve used (homogenised layers recomputed from their parents),
the mesh, and the defaults the layout left to the tool; :func:`run_assumptions` adds the solver
settings, the process nodes and the model notes of a :func:`codesign.run_layout` run.
``LayoutRun.to_dict()`` (``run.json``, ``codesign run``'s JSON) and the report's HTML are written
from it, so the page and the files state the same assumptions.

Units follow the JSON of the results: temperatures in degC, lengths in mm, powers in W,
conductivities in W/m/K, heat capacities in J/m^3/K, heat-transfer coefficients in W/m^2/K.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["model_assumptions", "run_assumptions"]

KELVIN = 273.15

#: What each boundary kind of a layout file models (docs/layout-format.md).
BOUNDARY_MEANING = {
    "heat_sink": "heat sink (lumped fin-and-air or vapour-chamber coefficient on the top face)",
    "cold_plate": "liquid cold plate (lumped coefficient on the top face)",
    "board": "printed-circuit board and the air around it (lumped coefficient on the bottom face)",
    "convective": "convection to the ambient",
    "adiabatic": "adiabatic: no heat crosses these faces",
}
_FACES = {"top": "top face (z max) over the top layer's extent", "bottom": "bottom face (z min) over the bottom "
          "layer's extent", "sides": "the four side faces (x min, x max, y min, y max)"}


def _num(v) -> float:
    return float(np.asarray(v, dtype=float).reshape(-1)[0]) if np.ndim(v) else float(v)


def model_assumptions(model, params=None) -> dict[str, Any]:
    """The boundary conditions, materials, mesh and defaults a solve of ``model`` at ``params`` used.

    Parameters
    ----------
    model : codesign.Model
    params : codesign.Params, optional
        The parameters solved (default: the layout's, ``model.params``). The values reported are
        these, so a sweep or design-script change shows.

    Returns
    -------
    dict
        ``boundary_conditions`` (one entry per boundary: kind, meaning, faces,
        ``h_W_per_m2K``, ``ambient_C``, ``heat_out_faces``), ``materials`` (name, kx/ky/kz, heat
        capacity, source, and for homogenised ones the parents they were computed from), ``mesh``
        (cells, nodes, shape, size controls) and ``defaults`` (sentences naming what the layout
        left to the tool).
    """
    stack = model.stack
    p = model.params if params is None else params
    bcs = []
    for name, spec in (("top", stack.top), ("bottom", stack.bottom), ("sides", stack.sides)):
        h = _num(p.h.get(name, spec.heat_transfer_coefficient))
        amb = _num(p.ambient.get(name, spec.ambient))
        adiabatic = h == 0.0
        bcs.append({"boundary": name, "kind": spec.kind, "meaning": BOUNDARY_MEANING.get(spec.kind, spec.kind),
                    "faces": _FACES[name], "h_W_per_m2K": h, "ambient_C": None if adiabatic else amb - KELVIN,
                    "applied": not adiabatic})
    props = model.material_properties(p)
    materials = []
    for name, (kx, ky, kz, c) in props.items():
        m = stack.material(name)
        parents = list(m.recipe.parents) if m.recipe is not None else []
        materials.append({"name": name, "kx_W_per_mK": _num(kx), "ky_W_per_mK": _num(ky), "kz_W_per_mK": _num(kz),
                          "heat_capacity_J_per_m3K": _num(c),
                          "homogenised_from": parents,
                          "temperature_exponent": m.temperature_exponent,
                          "source": m.source or ("homogenised by codesign.homogenise from " + ", ".join(parents)
                                                 if parents else "no source given in the layout")})
    for name in sorted(set(p.conductivity) - set(props)):  # parents of homogenised materials only
        m = stack.material(name)
        k = np.broadcast_to(np.asarray(p.conductivity[name], dtype=float).reshape(-1), (3,))
        materials.append({"name": name, "kx_W_per_mK": float(k[0]), "ky_W_per_mK": float(k[1]),
                          "kz_W_per_mK": float(k[2]), "heat_capacity_J_per_m3K": _num(p.heat_capacity[name]),
                          "homogenised_from": [], "temperature_exponent": m.temperature_exponent,
                          "source": (m.source or "no source given in the layout") + " (a parent of a homogenised layer)"})
    g = model.grid
    mc = stack.mesh
    mesh = {"cells": int(g.n_elements), "nodes": int(g.n_nodes), "shape": [int(n) for n in g.shape],
            "summary": model.summary(),
            "controls": {"max_lateral_size_mm": mc.max_lateral_size * 1e3,
                         "min_lateral_size_mm": None if mc.min_lateral_size is None else mc.min_lateral_size * 1e3,
                         "grading": mc.grading, "cells_per_layer": mc.cells_per_layer,
                         "max_vertical_size_mm": mc.max_vertical_size * 1e3},
            "element": "trilinear hexahedra (Q1) on a conforming tensor grid"}
    return {"boundary_conditions": bcs, "materials": materials, "mesh": mesh, "defaults": _defaults(stack)}


def _defaults(stack) -> list[str]:
    out = []
    for c in stack.chiplets:
        if c.kind == "logic" and c.total_power > 0 and c.active_thickness is None:
            out.append(f"{c.name}: no active_thickness, so its heat is spread through the die's whole thickness")
        if c.total_power > 0 and c.tj_max is None:
            out.append(f"{c.name}: no tj_max, so no junction margin is computed")
        if c.power_blocks and c.power > 0:
            out.append(f"{c.name}: power {c.power:g} W is spread uniformly over the die and its "
                       f"{len(c.power_blocks)} power block(s) ({sum(b.power for b in c.power_blocks):g} W) "
                       "add on top")
    if stack.sides.kind == "adiabatic":
        out.append("sides: adiabatic (no [boundaries.sides] table, or kind = \"adiabatic\")")
    air = sorted({layer.name for layer in stack.layers if layer.surround == "air"
                  and not _covers(layer.extent, stack.package)})
    if air:
        out.append("outside their extent these layers hold still air: " + ", ".join(air))
    return out


def _covers(extent, package) -> bool:
    return extent.contains(package)


def run_assumptions(run) -> dict[str, Any]:
    """:func:`model_assumptions` of a :class:`codesign.pipeline.LayoutRun`'s solve, with the solver
    settings, the process nodes and the model notes (PPAC, derating) of the run."""
    report = run.thermal
    out = model_assumptions(report.model, getattr(report, "params", None))
    solver = dict(report.solver)
    out["solver"] = {"method": solver.get("method"), "settings": solver.get("solver"),
                     "electrothermal": run.coupled is not None, "derating": run.derating is not None}
    nodes, notes = {}, []
    if run.ppac is not None and hasattr(run.ppac, "to_dict"):
        p = run.ppac.to_dict()
        nodes = dict(p.get("nodes", {}))
        notes += [str(n) for n in p.get("notes", [])]
        tech = p.get("technology", {})
        if tech:
            out["package_technology"] = {"technology": tech.get("technology"), "reason": tech.get("reason"),
                                         "flow": tech.get("flow")}
    out["process_nodes"] = nodes
    if run.derating is not None:
        notes += [str(n) for n in run.derating.notes]
    out["notes"] = notes
    return out
