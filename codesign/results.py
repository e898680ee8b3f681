"""Result types of the thermal analyses, and the one text-table helper every result uses.

Every statistic in a result is measured by the solve that produced it (iterations, true
relative residual, energy balance, timings); nothing is written as a constant.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

import solvers

from .errors import UnknownNameError

__all__ = ["KELVIN", "ChipletTemperature", "ThermalReport", "chiplet_temperatures", "solver_stats", "text_table"]

KELVIN = 273.15


def text_table(rows: Sequence[Sequence], header: Sequence[str]) -> str:
    """Left-aligned columns with a dashed rule under the header (every result's ``table()``)."""
    rows = [[str(v) for v in r] for r in rows]
    header = [str(h) for h in header]
    widths = [max(len(r[i]) for r in [header] + rows) for i in range(len(header))]

    def line(r):
        return "  ".join(v.ljust(w) for v, w in zip(r, widths)).rstrip()

    return "\n".join([line(header), line(["-" * w for w in widths])] + [line(r) for r in rows])


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
    # discretisation-error estimates [K] (codesign.accuracy; None when not estimated)
    junction_error: float | None = None
    mean_error: float | None = None
    error_trusted: bool | None = None  # False: no observed order in range verified the ± (a two-grid bound)
    junction_order: float | None = None  # observed order of convergence of the junction temperature


def chiplet_temperatures(model, temperature, powers: dict | None = None) -> tuple[ChipletTemperature, ...]:
    """Per-chiplet junction (largest nodal temperature of the die), volume mean and hotspot.

    Uses :func:`solvers.region_statistics` (the exact maximum and mean of the Q1 field over each
    region); :meth:`codesign.Model.junctions` is the traceable equivalent of the junction.
    """
    stats = solvers.region_statistics(model.grid, np.asarray(temperature, dtype=float))
    out = []
    for chip in model.stack.chiplets:
        s = stats[model.chiplet_regions[chip.name]]
        power = chip.total_power if powers is None else float(powers.get(chip.name, chip.total_power))
        out.append(ChipletTemperature(
            name=chip.name, kind=chip.kind, layer=model.stack.layer_of(chip.name).name, power=power,
            junction=s["max"], mean=s["mean"], hotspot=s["hotspot"], tj_max=chip.tj_max,
            margin=(chip.tj_max - s["max"]) if chip.tj_max else None))
    return tuple(out)


def solver_stats(solver, sol, **extra) -> dict:
    """The measured statistics of a :class:`solvers.ThermalSolution` as plain numbers."""
    out = {"method": type(solver).__name__, "solver": repr(solver)}
    for key in ("iterations", "nonlinear_iterations", "converged", "relative_residual", "energy_balance"):
        v = getattr(sol, key, None)
        if v is not None:
            v = np.asarray(v)
            out[key] = v.item() if v.ndim == 0 else v.tolist()
    for key, v in (getattr(sol, "timings", None) or {}).items():
        if isinstance(v, (int, float)):
            out[f"{key}_s"] = float(v)
    out.update(extra)
    return out


def _pm(error: float | None, c: ChipletTemperature) -> str:
    """`` ± 0.12`` (`` ± 0.12!`` where the observed order is off), or nothing without an estimate."""
    if error is None:
        return ""
    return f" ± {error:.2g}" + ("" if c.error_trusted is not False else "!")


_LABELS = {"iterations": "CG iterations", "nonlinear_iterations": "Picard iterations",
           "fixed_point_iterations": "fixed-point iterations", "relative_residual": "relative residual",
           "energy_balance": "energy balance", "setup_s": "set-up s", "solve_s": "solve s", "compile_s": "compile s",
           "total_s": "total s"}


@dataclass(frozen=True, eq=False)
class ThermalReport:
    """The outcome of a steady thermal analysis.

    Attributes
    ----------
    model : codesign.Model
    params : codesign.Params
        The parameters solved.
    temperature : numpy.ndarray
        Nodal temperature [K], ``model.grid.node_shape``.
    chiplets : tuple of ChipletTemperature
    power_in : float
        Heat generated [W] (leakage included when solved).
    heat_out : dict
        Heat leaving through each convective face [W].
    energy_residual : float
        ``|power_in − Σ heat_out| / max(power_in, Σ|heat_out|)``, measured on every solve
        (:func:`solvers.energy_balance`).
    solver : dict
        Solver, iterations, true relative residual, converged flag, timings (all measured).
    leakage : dict
        Leakage power per leaky chiplet at the operating point [W] (empty without leakage).
    accuracy : codesign.accuracy.Accuracy or None
        Discretisation-error estimates (± K) of the chiplet and layer temperatures, the target and
        the mesh that met it (None when not estimated: ``analyse(model)`` without ``accuracy=True``).
    """

    model: object
    params: object
    temperature: np.ndarray
    chiplets: tuple[ChipletTemperature, ...]
    power_in: float
    heat_out: dict
    energy_residual: float
    solver: dict = field(default_factory=dict)
    leakage: dict = field(default_factory=dict)
    accuracy: object = None

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
        raise UnknownNameError(f"no chiplet {name!r}; chiplets are {[c.name for c in self.chiplets]}")

    def table(self) -> str:
        """Per-chiplet temperatures as a text table (degC), the energy balance and the solver line."""
        rows = []
        for c in sorted(self.chiplets, key=lambda c: -c.junction):
            rows.append([c.name, c.kind, f"{c.power:.2f}", f"{c.junction - KELVIN:.2f}" + _pm(c.junction_error, c),
                         f"{c.mean - KELVIN:.2f}" + _pm(c.mean_error, c),
                         f"{c.tj_max - KELVIN:.0f}" if c.tj_max else "-",
                         f"{c.margin:+.2f}" if c.margin is not None else "-",
                         f"{c.hotspot[0] * 1e3:.2f},{c.hotspot[1] * 1e3:.2f}"])
        lines = [text_table(rows, ["chiplet", "kind", "power W", "Tj degC", "Tmean degC", "Tj,max degC", "margin K",
                                   "hotspot x,y mm"])]
        s = self.solver
        parts = [str(s.get("method"))] + [
            f"{_LABELS[k]} {s[k]:.2e}" if isinstance(s[k], float) and k in ("relative_residual", "energy_balance")
            else f"{_LABELS[k]} {s[k]:.2f}" if isinstance(s[k], float) else f"{_LABELS[k]} {s[k]}"
            for k in _LABELS if k in s and k != "energy_balance"]
        lines += ["", (f"energy balance: {self.power_in:.4f} W in, {sum(self.heat_out.values()):.4f} W out "
                       f"({', '.join(f'{k} {v:.3f}' for k, v in self.heat_out.items())}); "
                       f"relative residual {self.energy_residual:.2e}"),
                  "solver: " + ", ".join(parts) + f"; mesh {self.model.summary()}"]
        if self.accuracy is not None:
            lines.append("accuracy: " + self.accuracy.summary()
                         + "; the energy balance is not an accuracy, the ± is (docs/accuracy.md)")
        return "\n".join(lines)

    def to_dict(self) -> dict:
        """JSON-ready summary (temperatures in degC, lengths in mm, powers in W)."""
        return {
            "layout": self.model.stack.name,
            "source": self.model.stack.source,
            "max_temperature_C": self.max_temperature - KELVIN,
            "power_in_W": self.power_in,
            "heat_out_W": dict(self.heat_out),
            "energy_balance_relative_residual": self.energy_residual,
            "leakage_W": dict(self.leakage),
            "chiplets": [
                {"name": c.name, "kind": c.kind, "layer": c.layer, "power_W": c.power,
                 "junction_C": c.junction - KELVIN, "mean_C": c.mean - KELVIN,
                 "hotspot_mm": [v * 1e3 for v in c.hotspot],
                 "tj_max_C": c.tj_max - KELVIN if c.tj_max else None, "margin_K": c.margin,
                 "junction_error_K": c.junction_error, "mean_error_K": c.mean_error,
                 "error_trusted": c.error_trusted, "junction_observed_order": c.junction_order}
                for c in self.chiplets],
            "accuracy": None if self.accuracy is None else self.accuracy.to_dict(),
            "solver": dict(self.solver),
            "mesh": {"cells": self.model.grid.n_elements, "nodes": self.model.grid.n_nodes,
                     "shape": list(self.model.grid.shape)},
            "boundary_conditions": _boundary_conditions(self.model, self.params),
        }


def _boundary_conditions(model, params) -> list:
    """h, ambient and faces of each boundary as solved (:func:`codesign.assumptions.model_assumptions`)."""
    from .assumptions import model_assumptions

    return model_assumptions(model, params)["boundary_conditions"]
