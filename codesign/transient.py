"""Transient thermal analysis of a stack driven by per-chiplet power traces.

A power trace is a CSV file with a unit in every header::

    time [ms], logic [W], hbm0 [W]
    0,   100, 8
    5,    20, 8
    12,  100, 8

Each row sets the chiplets' dynamic power from its time on (piecewise constant); chiplets not in
the file keep their layout power. Powers are spread like each chiplet's power map (uniformly
over the die when it has none). The solve is :func:`solvers.thermal.solve_transient` (BDF2 with a
backward-Euler start, the multigrid preconditioner built once).
"""

from __future__ import annotations

import csv
import io
import re
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .mesh import MeshedStack, mesh_stack
from .stack import Stack
from .thermal import chiplet_temperatures
from .units import UnitError, parse_quantity

__all__ = ["PowerTraceError", "TransientReport", "analyse_transient", "read_power_trace", "unit_pattern"]

KELVIN = 273.15


class PowerTraceError(ValueError):
    """A power-trace file or table could not be used; the message names the file, row and fix."""


def unit_pattern(meshed: MeshedStack, chiplet: str) -> np.ndarray:
    """The chiplet's source pattern scaled to 1 W total [1/m^3] (uniform over the die if it has no power)."""
    g = meshed.grid
    vol = g.cell_volumes()
    q = meshed.source_patterns[chiplet]
    total = float(np.sum(q * vol))
    if total > 0:
        return q / total
    mask = g.region_mask(meshed.chiplet_regions[chiplet])
    return mask / float(np.sum(vol[mask]))


_HEADER = re.compile(r"^\s*([^\[\]]+?)\s*\[\s*([^\]]+)\s*\]\s*$")


def read_power_trace(source: str | Path, stack: Stack) -> tuple[np.ndarray, list[str], np.ndarray]:
    """Read a power-trace CSV: ``(times [s], chiplet names, powers [W] of shape (n_times, n_chiplets))``."""
    path = Path(source)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise PowerTraceError(f"{path}: cannot read the power trace: {e}") from None
    rows = [r for r in csv.reader(io.StringIO(text)) if r and not r[0].lstrip().startswith("#")]
    if len(rows) < 2:
        raise PowerTraceError(f"{path}: needs a header row and at least one data row")
    header = rows[0]
    units = []
    for i, h in enumerate(header):
        m = _HEADER.match(h)
        if not m:
            raise PowerTraceError(f"{path}: header {h!r} needs a unit in brackets, like 'time [ms]' or 'logic [W]'")
        units.append((m.group(1), m.group(2)))
    if units[0][0] != "time":
        raise PowerTraceError(f"{path}: the first column must be 'time [unit]', got {header[0]!r}")
    names = [n for n, _ in units[1:]]
    known = {c.name for c in stack.chiplets}
    for n in names:
        if n not in known:
            import difflib

            close = difflib.get_close_matches(n, sorted(known), n=1)
            raise PowerTraceError(f"{path}: column {n!r} is not a chiplet of {stack.name!r}"
                                  + (f"; did you mean {close[0]!r}?" if close else f"; chiplets: {', '.join(sorted(known))}"))
    if len(set(names)) != len(names):
        raise PowerTraceError(f"{path}: a chiplet appears in two columns")
    times, powers = [], []
    for r, row in enumerate(rows[1:], start=2):
        if len(row) != len(header):
            raise PowerTraceError(f"{path}: row {r} has {len(row)} cells, the header has {len(header)}")
        try:
            t = parse_quantity(f"{row[0].strip()} {units[0][1]}", "time")
            p = [parse_quantity(f"{c.strip()} {u}", "power") for c, (_, u) in zip(row[1:], units[1:])]
        except UnitError as e:
            raise PowerTraceError(f"{path}: row {r}: {e}") from None
        if any(v < 0 for v in p) or t < 0:
            raise PowerTraceError(f"{path}: row {r}: times and powers must not be negative")
        times.append(t)
        powers.append(p)
    times = np.asarray(times)
    if np.any(np.diff(times) <= 0):
        raise PowerTraceError(f"{path}: times must increase strictly from row to row")
    return times, names, np.asarray(powers, dtype=float)


@dataclass(frozen=True, eq=False)
class TransientReport:
    """Per-chiplet junction temperature against time, plus the final field.

    Attributes
    ----------
    times : numpy.ndarray
        Output times [s] (``times[0] = 0`` is the initial state).
    junction : dict
        Chiplet name -> junction temperature at each output time [K].
    temperature : numpy.ndarray
        Nodal temperature at the last output time [K].
    power_in, heat_out : numpy.ndarray
        Heat input and convective heat output at the output times [W].
    """

    meshed: MeshedStack
    times: np.ndarray
    junction: dict
    temperature: np.ndarray
    power_in: np.ndarray
    heat_out: np.ndarray
    solver: dict

    def peak(self, name: str) -> tuple[float, float]:
        """(peak junction temperature [K], time of the peak [s]) of one chiplet."""
        j = self.junction[name]
        i = int(np.argmax(j))
        return float(j[i]), float(self.times[i])

    def table(self) -> str:
        rows = [["chiplet", f"T({self.times[0]:.3g} s) degC", "peak degC", "at s", "final degC", "Tj,max degC"]]
        for c in self.meshed.stack.chiplets:
            j = self.junction[c.name]
            pk, at = self.peak(c.name)
            rows.append([c.name, f"{j[0] - KELVIN:.2f}", f"{pk - KELVIN:.2f}", f"{at:.4g}", f"{j[-1] - KELVIN:.2f}",
                         f"{c.tj_max - KELVIN:.0f}" if c.tj_max else "-"])
        widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
        lines = ["  ".join(v.ljust(w) for v, w in zip(r, widths)).rstrip() for r in rows]
        lines.insert(1, "  ".join("-" * w for w in widths))
        s = self.solver
        lines.append(f"\ntransient: {s.get('steps')} steps (BDF2), {s.get('iterations')} CG iterations, "
                     f"largest step residual {s.get('max_relative_residual', float('nan')):.1e}, "
                     f"{s.get('solve_s', 0):.2f} s")
        return "\n".join(lines)

    def to_dict(self) -> dict:
        return {"layout": self.meshed.stack.name, "times_s": self.times.tolist(),
                "junction_C": {k: (v - KELVIN).tolist() for k, v in self.junction.items()},
                "power_in_W": self.power_in.tolist(), "heat_out_W": self.heat_out.tolist(),
                "solver": dict(self.solver)}


def analyse_transient(
    stack_or_meshed: Stack | MeshedStack,
    trace: tuple[np.ndarray, list[str], np.ndarray],
    *,
    duration: float | None = None,
    dt: float | None = None,
    n_outputs: int = 60,
    initial: str = "ambient",
    rtol: float = 1e-8,
) -> TransientReport:
    """Transient response to a power trace (see :func:`read_power_trace`).

    ``duration`` defaults to twice the last breakpoint (at least one breakpoint interval past
    it); ``dt`` to ``duration / 400``. Outputs at ``n_outputs`` evenly spaced times plus every
    breakpoint. ``initial`` is ``"ambient"`` or ``"steady"`` (steady state at the t = 0 powers).
    """
    from solvers.thermal import PowerTrace, solve_transient

    meshed = stack_or_meshed if isinstance(stack_or_meshed, MeshedStack) else mesh_stack(stack_or_meshed)
    times, names, watts = trace
    last = float(times[-1])
    if duration is None:
        duration = 2.0 * last if last > 0 else 1.0
    if not duration > 0:
        raise PowerTraceError(f"`analyse_transient(duration={duration!r})` must be positive")
    dt = dt or duration / 400.0
    f = meshed.fields
    base = np.zeros(meshed.grid.shape)
    for c in meshed.stack.chiplets:
        if c.name not in names:
            base += meshed.source_patterns[c.name]
    for hs in meshed.heat_sources:
        base += meshed.source_patterns[f"{hs.chiplet}/{hs.name}"]
    patterns = np.stack([unit_pattern(meshed, n) for n in names])
    t_out = np.unique(np.concatenate([np.linspace(0, duration, n_outputs + 1)[1:], times[times > 0],
                                      times[times > 0] - 1e-9 * duration]))
    t_out = t_out[(t_out > 0) & (t_out <= duration)]
    trace_obj = PowerTrace(patterns=patterns, times=np.asarray(times, dtype=float), weights=watts)
    t0 = time.perf_counter()
    sol = solve_transient(meshed.grid, f.with_(source=base), times=t_out, dt=dt, power=trace_obj,
                          initial=initial, rtol=rtol)
    wall = time.perf_counter() - t0
    temps = np.asarray(sol.temperature)
    out_times = np.asarray(sol.times)
    junction = {c.name: np.empty(len(out_times)) for c in meshed.stack.chiplets}
    for i in range(len(out_times)):
        for ct in chiplet_temperatures(meshed, temps[i]):
            junction[ct.name][i] = ct.junction
    stats = {"steps": int(sol.steps), "iterations": int(np.asarray(sol.iterations)),
             "max_relative_residual": float(np.asarray(sol.max_relative_residual)),
             "converged": bool(np.asarray(sol.converged)), "solve_s": wall, "dt_s": dt}
    return TransientReport(meshed=meshed, times=out_times, junction=junction, temperature=temps[-1],
                           power_in=np.asarray(sol.power_in), heat_out=np.asarray(sol.heat_out), solver=stats)
