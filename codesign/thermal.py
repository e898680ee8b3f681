"""Thermal analysis of a stack: solve, then report per-chiplet junction temperatures.

This is the domain side of the thermal solver: it meshes a :class:`~codesign.stack.Stack`, calls
:mod:`solvers` (the fast JAX path by default, the scikit-fem + pyamg reference path on request),
and turns nodal temperatures into per-chiplet figures: junction (maximum) temperature, mean,
hotspot location, margin to ``tj_max``, and the energy balance of the solve.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from solvers.coupled import element_mean
from solvers.coupled import face_heat_out as _face_heat_out

from .mesh import MeshedStack, mesh_stack
from .stack import HeatSource, Stack

__all__ = ["ChipletTemperature", "ThermalReport", "analyse", "chiplet_temperatures", "element_max"]

KELVIN = 273.15


@dataclass(frozen=True)
class ChipletTemperature:
    """Temperatures of one chiplet [K]; ``margin`` is ``tj_max − junction`` [K] (None without a limit)."""

    name: str
    kind: str
    layer: str
    power: float
    junction: float
    mean: float
    hotspot: tuple[float, float, float]
    tj_max: float | None
    margin: float | None


@dataclass(frozen=True, eq=False)
class ThermalReport:
    """The outcome of a thermal analysis (steady state).

    Attributes
    ----------
    meshed : MeshedStack
    temperature : numpy.ndarray
        Nodal temperature [K], ``meshed.grid.node_shape``.
    chiplets : tuple of ChipletTemperature
    power_in : float
        Heat generated [W].
    heat_out : dict
        Heat leaving through each convective face [W].
    energy_residual : float
        ``|power_in − Σ heat_out| / power_in``: checked on every solve.
    solver : dict
        Method, iterations, final relative residual, converged flag, setup and solve seconds.
    """

    meshed: MeshedStack
    temperature: np.ndarray
    chiplets: tuple[ChipletTemperature, ...]
    power_in: float
    heat_out: dict
    energy_residual: float
    solver: dict = field(default_factory=dict)

    @property
    def max_temperature(self) -> float:
        return float(np.max(self.temperature))

    @property
    def hottest(self) -> ChipletTemperature:
        return max(self.chiplets, key=lambda c: c.junction)

    def chiplet(self, name: str) -> ChipletTemperature:
        for c in self.chiplets:
            if c.name == name:
                return c
        raise KeyError(f"no chiplet {name!r}; chiplets are {[c.name for c in self.chiplets]}")

    def table(self) -> str:
        """Per-chiplet temperatures as a text table (degC)."""
        rows = [["chiplet", "kind", "power W", "Tj degC", "Tmean degC", "Tj,max degC", "margin K", "hotspot x,y mm"]]
        for c in sorted(self.chiplets, key=lambda c: -c.junction):
            rows.append([c.name, c.kind, f"{c.power:.2f}", f"{c.junction - KELVIN:.2f}", f"{c.mean - KELVIN:.2f}",
                         f"{c.tj_max - KELVIN:.0f}" if c.tj_max else "-",
                         f"{c.margin:+.2f}" if c.margin is not None else "-",
                         f"{c.hotspot[0] * 1e3:.2f},{c.hotspot[1] * 1e3:.2f}"])
        widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
        lines = ["  ".join(v.ljust(w) for v, w in zip(r, widths)).rstrip() for r in rows]
        lines.insert(1, "  ".join("-" * w for w in widths))
        s = self.solver
        lines += ["", (f"energy balance: {self.power_in:.4f} W in, {sum(self.heat_out.values()):.4f} W out "
                       f"({', '.join(f'{k} {v:.3f}' for k, v in self.heat_out.items())}); "
                       f"relative residual {self.energy_residual:.2e}"),
                  "solver: " + ", ".join(_solver_parts(s)) + f"; mesh {self.meshed.summary()}"]
        return "\n".join(lines)

    def to_dict(self) -> dict:
        """JSON-ready summary (temperatures in degC, lengths in mm, powers in W)."""
        return {
            "layout": self.meshed.stack.name,
            "source": self.meshed.stack.source,
            "max_temperature_C": self.max_temperature - KELVIN,
            "power_in_W": self.power_in,
            "heat_out_W": dict(self.heat_out),
            "energy_balance_relative_residual": self.energy_residual,
            "chiplets": [
                {"name": c.name, "kind": c.kind, "layer": c.layer, "power_W": c.power,
                 "junction_C": c.junction - KELVIN, "mean_C": c.mean - KELVIN,
                 "hotspot_mm": [v * 1e3 for v in c.hotspot],
                 "tj_max_C": c.tj_max - KELVIN if c.tj_max else None, "margin_K": c.margin}
                for c in self.chiplets],
            "solver": dict(self.solver),
            "mesh": {"cells": self.meshed.grid.n_elements, "nodes": self.meshed.grid.n_nodes,
                     "shape": list(self.meshed.grid.shape)},
        }


def _solver_parts(s: dict) -> list[str]:
    parts = [str(s.get("method"))]
    if "iterations" in s:
        parts.append(f"{s['iterations']} iterations")
    if "relative_residual" in s:
        parts.append(f"relative residual {s['relative_residual']:.2e}")
    for key, label in (("setup_s", "setup"), ("solve_s", "solve")):
        if key in s:
            parts.append(f"{label} {s[key]:.2f} s")
    return parts


def element_max(temperature: np.ndarray) -> np.ndarray:
    """Largest nodal value over the 8 corners of every element, shape ``(nx, ny, nz)``."""
    t = np.asarray(temperature)
    out = t[:-1, :-1, :-1].copy()
    for di in (0, 1):
        for dj in (0, 1):
            for dk in (0, 1):
                np.maximum(out, t[di:t.shape[0] - 1 + di, dj:t.shape[1] - 1 + dj, dk:t.shape[2] - 1 + dk], out=out)
    return out


def chiplet_temperatures(meshed: MeshedStack, temperature: np.ndarray,
                         powers: dict | None = None) -> tuple[ChipletTemperature, ...]:
    """Per-chiplet junction (maximum over the die's nodes), volume-mean and hotspot location."""
    t = np.asarray(temperature, dtype=float)
    g = meshed.grid
    emax = element_max(t)
    emean = element_mean(t)
    vol = g.cell_volumes()
    out = []
    for chip in meshed.stack.chiplets:
        mask = g.region_mask(meshed.chiplet_regions[chip.name])
        idx = np.flatnonzero(mask)
        hot = idx[np.argmax(emax.ravel()[idx])]
        i, j, k = np.unravel_index(hot, g.shape)
        # Hotspot: the hottest of the element's corners.
        corners = [(i + a, j + b, k + c) for a in (0, 1) for b in (0, 1) for c in (0, 1)]
        ci = max(corners, key=lambda n: t[n])
        junction = float(t[ci])
        mean = float(np.sum(emean[mask] * vol[mask]) / np.sum(vol[mask]))
        power = chip.total_power if powers is None else float(powers.get(chip.name, chip.total_power))
        out.append(ChipletTemperature(
            name=chip.name, kind=chip.kind, layer=meshed.stack.layer_of(chip.name).name, power=power,
            junction=junction, mean=mean, hotspot=(float(g.x[ci[0]]), float(g.y[ci[1]]), float(g.z[ci[2]])),
            tj_max=chip.tj_max, margin=(chip.tj_max - junction) if chip.tj_max else None))
    return tuple(out)


def face_heat_out(meshed: MeshedStack, temperature: np.ndarray) -> dict:
    """Heat leaving through each convective face, ``∫ h (T − T_amb) dA`` [W] (exact for Q1 on a face)."""
    return _face_heat_out(meshed.grid, meshed.fields, np.asarray(temperature, dtype=float))


def analyse(stack_or_meshed: Stack | MeshedStack, *, method: str = "jax", rtol: float = 1e-8,
            temperature_dependent: bool = False, heat_sources: Sequence[HeatSource] = (),
            throw: bool = True) -> ThermalReport:
    """Steady thermal analysis of a stack.

    Parameters
    ----------
    stack_or_meshed : Stack or MeshedStack
        A stack (meshed here with its own ``[mesh]`` controls) or an already meshed one.
    method : {"jax", "reference"}
        ``"jax"``: the matrix-free JAX solver with multigrid-preconditioned CG;
        ``"reference"``: scikit-fem assembly + pyamg smoothed-aggregation CG (slow, independent).
    rtol : float
        Relative residual tolerance of the linear solve.
    temperature_dependent : bool
        Solve with the materials' k(T) laws (e.g. silicon ~T^-1.3) by Picard iteration.
    heat_sources : sequence of HeatSource
        Extra heat (PHYs, ...) added to named chiplets before meshing (needs a Stack).
    throw : bool
        Raise on non-convergence (default); otherwise report ``solver["converged"] = False``.
    """
    if isinstance(stack_or_meshed, MeshedStack):
        if heat_sources:
            raise ValueError("`analyse(heat_sources=...)` needs a Stack, which is meshed with the sources; "
                             "pass the stack, or mesh it yourself with `mesh_stack(stack, heat_sources=...)`")
        meshed = stack_or_meshed
    else:
        meshed = mesh_stack(stack_or_meshed, heat_sources=heat_sources)
    if method not in ("jax", "reference"):
        raise ValueError(f"`analyse(method={method!r})`: choose 'jax' or 'reference'")
    t0 = time.perf_counter()
    temperature, stats = _solve(meshed, method=method, rtol=rtol, nonlinear=temperature_dependent, throw=throw)
    stats.setdefault("total_s", time.perf_counter() - t0)
    if not np.all(np.isfinite(temperature)):
        from solvers.thermal import SolveError

        raise SolveError("the solve returned non-finite temperatures; check the conductivities and the boundary "
                         "heat-transfer coefficients (every region needs a heat path to a convective face)")
    power_in = meshed.fields.total_power(meshed.grid)
    heat_out = face_heat_out(meshed, temperature)
    residual = abs(power_in - sum(heat_out.values())) / max(power_in, 1e-300)
    powers = {c.name: c.total_power for c in meshed.stack.chiplets}
    for hs in meshed.heat_sources:
        powers[hs.chiplet] = powers.get(hs.chiplet, 0.0) + hs.power
    return ThermalReport(meshed=meshed, temperature=np.asarray(temperature), power_in=power_in, heat_out=heat_out,
                         energy_residual=residual, chiplets=chiplet_temperatures(meshed, temperature, powers),
                         solver=stats)


def _solve(meshed: MeshedStack, *, method: str, rtol: float, nonlinear: bool, throw: bool):
    g, f = meshed.grid, meshed.fields
    if method == "reference":
        from solvers import reference

        t0 = time.perf_counter()
        if nonlinear:
            r = reference.solve_reference_nonlinear(g, f, k_exponent=meshed.k_exponent,
                                                    reference_temperature=float(np.max(meshed.reference_temperature)),
                                                    linear_rtol=rtol)
            stats = {"method": "reference (scikit-fem + pyamg, Picard)", "iterations": int(r.linear_iterations),
                     "nonlinear_iterations": int(r.iterations), "relative_residual": float(r.relative_residual)}
        else:
            r = reference.solve_reference_steady(g, f, rtol=rtol)
            stats = {"method": "reference (scikit-fem + pyamg SA-CG)", "iterations": int(r.iterations),
                     "relative_residual": float(r.relative_residual)}
        stats.update(converged=True, setup_s=0.0, solve_s=time.perf_counter() - t0)
        return np.asarray(r.temperature), stats
    return _solve_jax(meshed, rtol=rtol, nonlinear=nonlinear, throw=throw)


def _solve_jax(meshed: MeshedStack, *, rtol: float, nonlinear: bool, throw: bool):
    from solvers import thermal as solvers_thermal

    g, f = meshed.grid, meshed.fields
    t0 = time.perf_counter()
    if nonlinear:
        sol = solvers_thermal.solve_nonlinear(g, f, k_exponent=meshed.k_exponent,
                                      reference_temperature=meshed.reference_temperature, rtol=rtol, throw=throw)
    else:
        sol = solvers_thermal.solve_steady(g, f, rtol=rtol, throw=throw)
    wall = time.perf_counter() - t0
    stats = {"method": "jax (matrix-free Q1, multigrid-preconditioned CG)" + (", Picard k(T)" if nonlinear else "")}
    stats.update(_solution_stats(sol))
    stats.setdefault("solve_s", wall)
    return np.asarray(sol.temperature), stats


def _solution_stats(sol) -> dict:
    """Plain-number statistics from a solvers solution object (whatever fields it carries)."""
    out = {}
    for key in ("iterations", "nonlinear_iterations", "converged", "relative_residual", "setup_s", "solve_s"):
        v = getattr(sol, key, None)
        if v is None and hasattr(sol, "stats"):
            v = getattr(sol.stats, key, None) if not isinstance(sol.stats, dict) else sol.stats.get(key)
        if v is not None:
            v = np.asarray(v)
            out[key] = v.item() if v.ndim == 0 else v.tolist()
    return out
