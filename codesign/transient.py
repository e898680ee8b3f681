"""Transient thermal analysis of a stack driven by per-chiplet power traces.

A power trace is a CSV file with a unit in every header::

    time [ms], logic [W], hbm0 [W]
    0,   100, 8
    5,    20, 8
    12,  100, 8

Each row sets the chiplets' dynamic power from its time on (piecewise constant); chiplets not in
the file keep their layout power. Powers are spread like each chiplet's power map (uniformly
over the die when it has none): :meth:`codesign.Model.chiplet_pattern`.

:func:`analyse_transient` is the one front door, with or without leakage: without it the solve is
the solver's ``solve_transient`` (TR-BDF2 on the JAX path, the set-up built once); with leakage
data it is ``solve_transient_coupled`` (BDF2, leakage at the extrapolated temperature each step),
on the same solver.
"""

from __future__ import annotations

import csv
import math
import difflib
import io
import re
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

import solvers
from solvers import PowerTrace

from ._files import read_text
from .errors import InputFileError, ModelError, solve_error
from .model import Model, Params, ensure_model
from .results import KELVIN, text_table
from .stack import Stack
from .units import UnitError, _show, si_converter

#: Most time steps one transient may take (overridable: ``analyse_transient(max_steps=...)``); a
#: million steps of a small model already take hours on a CPU.
MAX_STEPS = 1_000_000

__all__ = ["MAX_STEPS", "PowerTraceError", "TransientReport", "analyse_transient", "read_power_trace"]


class PowerTraceError(InputFileError):
    """A power-trace file that cannot be used; the message names the file, row and fix."""


def _trace_error(path, message: str) -> PowerTraceError:
    return PowerTraceError(str(path), [("", message)])


#: Most data rows of a power trace (time steps); overridable with ``read_power_trace(..., max_rows=)``.
MAX_TRACE_ROWS = 100_000
#: Largest power-trace file [bytes], checked before it is read; overridable with ``max_bytes=``.
MAX_TRACE_BYTES = 8 * 1024 * 1024
#: Largest power in one cell of a trace [W]: the layout reader's range for any power.
_MAX_TRACE_POWER = 1e5
# A cell: a plain decimal number (no "nan", "inf", digit separators or other scripts).
_CELL = re.compile(r"[-+]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?")


def _column(header: str) -> tuple[str, str] | None:
    """``(name, unit)`` of a header cell ``"name [unit]"``, or None (a linear scan, no regex)."""
    h = header.strip()
    if len(h) > 200 or not h.endswith("]"):
        return None
    i = h.rfind("[")
    name, unit = h[:i].strip(), h[i + 1:-1].strip()
    if i <= 0 or not name or not unit or "[" in name or "]" in name or "]" in unit:
        return None
    return name, unit


def _cell(text: str) -> float | None:
    c = text.strip()
    if len(c) > 40 or not _CELL.fullmatch(c):
        return None
    return float(c)


def read_power_trace(source: str | Path, stack: Stack, *, max_rows: int = MAX_TRACE_ROWS,
                     max_bytes: int = MAX_TRACE_BYTES) -> tuple[np.ndarray, list[str], np.ndarray]:
    """Read a power-trace CSV: ``(times [s], chiplet names, powers [W] of shape (n_times, n_chiplets))``.

    Any file ends in this result or a :class:`PowerTraceError` naming the file, the row and the
    fix: the size is checked before reading (``max_bytes``), rows are counted while reading
    (``max_rows``), every cell must be a plain finite number (powers 0 to 100 kW, times not
    negative and strictly increasing), and messages quote column names, never other content.
    """
    path = Path(source)
    text = read_text(path, error=PowerTraceError, what="power trace", max_bytes=max_bytes)
    reader = csv.reader(io.StringIO(text))
    header: list[str] | None = None
    columns: list[tuple[str, str]] = []
    convert = []
    times: list[float] = []
    powers: list[list[float]] = []
    try:
        for row in reader:
            r = reader.line_num
            if not row or row[0].lstrip().startswith("#"):
                continue
            if header is None:
                header = row
                columns = _header(path, row, stack)
                try:
                    convert = [si_converter(columns[0][1], "time")]
                    convert += [si_converter(u, "power") for _, u in columns[1:]]
                except UnitError as e:
                    raise _trace_error(path, f"row {r} (the header): {e}") from None
                continue
            if len(row) != len(header):
                raise _trace_error(path, f"row {r} has {len(row)} cells, the header has {len(header)}")
            if len(times) >= max_rows:
                raise _trace_error(path, f"more than {max_rows:,} data rows (max_rows); resample the trace, or raise "
                                         "the limit on purpose")
            values = []
            for j, (cell, to_si) in enumerate(zip(row, convert)):
                v = _cell(cell)
                if v is None:
                    raise _trace_error(path, f"row {r}, column {j + 1}: not a number; every cell after the header is "
                                             "a plain number such as 12.5 (the unit is in the header)")
                try:
                    values.append(to_si(v))
                except UnitError as e:
                    raise _trace_error(path, f"row {r}, column {j + 1}: {e}") from None
            t, p = values[0], values[1:]
            if any(v < 0 for v in p) or t < 0:
                raise _trace_error(path, f"row {r}: times and powers must not be negative")
            if any(v > _MAX_TRACE_POWER for v in p):
                raise _trace_error(path, f"row {r}: a power above {_MAX_TRACE_POWER:g} W (100 kW); check the unit in "
                                         "the header and the exponents")
            if times and not t > times[-1]:
                raise _trace_error(path, f"row {r}: times must increase strictly from row to row")
            times.append(t)
            powers.append(p)
    except csv.Error as e:
        raise _trace_error(path, f"row {reader.line_num}: not a readable CSV file ({str(e).split(' - ')[0]})") from None
    if header is None or not times:
        raise _trace_error(path, "needs a header row and at least one data row")
    return np.asarray(times, dtype=float), [n for n, _ in columns[1:]], np.asarray(powers, dtype=float).reshape(
        len(times), len(columns) - 1)


def _header(path: Path, header: list[str], stack: Stack) -> list[tuple[str, str]]:
    columns = []
    for i, h in enumerate(header):
        col = _column(h)
        if col is None:
            raise _trace_error(path, f"header column {i + 1} needs a unit in brackets after its name, like 'time [ms]' "
                                     "or 'logic [W]'")
        columns.append(col)
    if columns[0][0] != "time":
        raise _trace_error(path, f"the first column must be 'time [unit]', got {_show(header[0].strip())}")
    names = [n for n, _ in columns[1:]]
    known = {c.name for c in stack.chiplets}
    for n in names:
        if n not in known:
            close = difflib.get_close_matches(n, sorted(known), n=1)
            raise _trace_error(path, f"column {_show(n)} is not a chiplet of {stack.name!r}"
                                     + (f"; did you mean {close[0]!r}?" if close
                                        else f"; chiplets: {', '.join(sorted(known))}"))
    if len(set(names)) != len(names):
        raise _trace_error(path, "a chiplet appears in two columns")
    return columns


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
    solver : dict
        Measured statistics: steps, CG iterations, largest true relative residual of a step,
        converged flag, seconds; with leakage also ``leakage_W`` per chiplet at the output times.
    """

    model: Model
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
        rows = []
        for c in self.model.stack.chiplets:
            j = self.junction[c.name]
            pk, at = self.peak(c.name)
            rows.append([c.name, f"{j[0] - KELVIN:.2f}", f"{pk - KELVIN:.2f}", f"{at:.4g}", f"{j[-1] - KELVIN:.2f}",
                         f"{c.tj_max - KELVIN:.0f}" if c.tj_max else "-"])
        lines = [text_table(rows, ["chiplet", f"T({self.times[0]:.3g} s) degC", "peak degC", "at s", "final degC",
                                   "Tj,max degC"])]
        s = self.solver
        lines.append(f"\ntransient: {s.get('steps')} steps ({s.get('scheme')}), {s.get('iterations')} CG iterations, "
                     f"largest step residual {s.get('max_relative_residual', float('nan')):.1e}, "
                     f"{s.get('solve_s', 0):.2f} s")
        return "\n".join(lines)

    def to_dict(self) -> dict:
        return {"layout": self.model.stack.name, "times_s": self.times.tolist(),
                "junction_C": {k: (v - KELVIN).tolist() for k, v in self.junction.items()},
                "power_in_W": self.power_in.tolist(), "heat_out_W": self.heat_out.tolist(),
                "solver": dict(self.solver)}


def analyse_transient(
    stack_or_model: Stack | Model,
    trace: tuple[np.ndarray, list[str], np.ndarray] | None = None,
    *,
    params: Params | None = None,
    solver: solvers.ThermalSolver | None = None,
    duration: float | None = None,
    dt: float | None = None,
    n_outputs: int = 60,
    initial: str = "ambient",
    leakage: bool = True,
    runaway_temperature: float = 600.0 + KELVIN,
    max_steps: int = MAX_STEPS,
) -> TransientReport:
    """Transient response to a power trace (see :func:`read_power_trace`).

    ``duration`` defaults to twice the last breakpoint (at least one breakpoint interval past
    it; 1 s without a trace); ``dt`` to ``duration / 400``. Outputs at ``n_outputs`` evenly
    spaced times plus every breakpoint. ``initial`` is ``"ambient"`` or ``"steady"`` (the steady
    state, or electro-thermal operating point, at the t = 0 powers). Chiplets not in the trace keep
    the powers of ``params`` (default: the layout's).

    With leakage data (and ``leakage=True``) leakage follows the temperature every step, and a
    junction above ``runaway_temperature`` raises :class:`codesign.ThermalRunawayError` with the time.
    More than ``max_steps`` time steps (``duration / dt``) is refused before anything is allocated.
    """
    model = ensure_model(stack_or_model, call="analyse_transient")
    solver = solvers.MultigridCG() if solver is None else solver
    p = model.params if params is None else params
    if trace is None:
        trace = (np.zeros(1), [], np.zeros((1, 0)))
    times, names, watts = trace
    times = np.asarray(times, dtype=float)
    watts = np.asarray(watts, dtype=float)
    last = float(times[-1])
    if duration is None:
        duration = 2.0 * last if last > 0 else 1.0
    if not duration > 0:
        raise ModelError(f"`analyse_transient(duration={duration!r})` must be positive")
    dt = dt or duration / 400.0
    if not dt > 0:
        raise ModelError(f"`analyse_transient(dt={dt!r})` must be positive")
    steps = math.ceil(duration / dt - 1e-9)
    if steps > max_steps:
        raise ModelError(f"`analyse_transient`: duration {duration:.4g} s at dt = {dt:.4g} s is {steps:,} time steps, "
                         f"more than max_steps = {max_steps:,}; use a larger dt, a shorter duration, or raise "
                         "max_steps on purpose")
    if initial not in ("ambient", "steady"):
        raise ModelError(f"`analyse_transient(initial={initial!r})`: choose 'ambient' or 'steady'")
    # Chiplets in the trace: their own power keys are zeroed in the base fields and their power
    # follows the trace, spread like the layout spreads it.
    traced_keys = [k for n in names for k in model.chiplet_sources(n)]
    base = p.replace(power={k: (0.0 * v if k in traced_keys else v) for k, v in p.power.items()})
    fields = model.fields(base)
    patterns = np.stack([model.chiplet_pattern(n) for n in names]) if names else np.zeros((0,) + model.grid.shape)
    leaky = leakage and bool(p.leakage_power)
    t0 = time.perf_counter()

    def powers_at(t: float) -> np.ndarray:
        row = np.searchsorted(times, t, side="right") - 1
        return watts[row] if row >= 0 else np.zeros(len(names))

    if initial == "steady":
        start_params = base.replace(power={**base.power, **_trace_powers(model, names, powers_at(0.0))})
        from .thermal import analyse

        start = analyse(model, params=start_params, solver=solver, leakage=leakage).temperature
    else:
        start = "ambient"
    try:
        if leaky:
            sol, stats = _coupled(model, p, solver, fields, patterns, powers_at, duration=duration, dt=dt,
                                  initial=start, n_outputs=n_outputs, runaway_temperature=runaway_temperature)
        else:
            t_out = np.unique(np.concatenate([np.linspace(0, duration, n_outputs + 1)[1:], times[times > 0],
                                              times[times > 0] - 1e-9 * duration]))
            t_out = t_out[(t_out > 0) & (t_out <= duration)]
            power = PowerTrace(patterns=patterns, times=times, weights=watts) if names else None
            sol = solver.solve_transient(model.grid, fields, times=t_out, dt=dt, power=power, initial=start)
            stats = {"scheme": "TR-BDF2" if isinstance(solver, solvers.MultigridCG) else "BDF2"}
    except solvers.SolveError as e:
        raise solve_error(e) from e
    wall = time.perf_counter() - t0
    temps = np.asarray(sol.temperature, dtype=float)
    out_times = np.asarray(sol.times, dtype=float)
    tj = model.junctions(temps)
    junction = {c.name: np.asarray(tj[c.name], dtype=float) for c in model.stack.chiplets}
    stats = {"method": type(solver).__name__, "solver": repr(solver), "steps": int(sol.steps), "iterations": int(np.asarray(sol.iterations)),
             "max_relative_residual": float(np.asarray(sol.max_relative_residual)),
             "converged": bool(np.asarray(sol.converged)), "solve_s": wall, "dt_s": dt, **stats}
    return TransientReport(model=model, times=out_times, junction=junction, temperature=temps[-1],
                           power_in=np.asarray(sol.power_in, dtype=float),
                           heat_out=np.asarray(sol.heat_out, dtype=float), solver=stats)


def _trace_powers(model: Model, names, watts) -> dict:
    """Power keys of the traced chiplets at the trace's powers: the chiplet's own key takes the
    whole power, spread like its layout pattern (blocks share it through that pattern)."""
    out = {}
    for n, w in zip(names, watts):
        keys = model.chiplet_sources(n)
        nominal = sum(model.params.power[k] for k in keys)
        for k in keys:
            out[k] = float(w) * (model.params.power[k] / nominal if nominal > 0 else (1.0 if k == n else 0.0))
    return out


def _coupled(model, p, solver, fields, patterns, powers_at, *, duration, dt, initial, n_outputs, runaway_temperature):
    """Transient with leakage re-evaluated every step (solver.solve_transient_coupled)."""
    from .electrothermal import _runaway

    leak_log: list[dict] = []

    def source(t_elem: np.ndarray, t: float) -> np.ndarray:
        w = powers_at(t - 1e-12 * max(dt, 1.0))  # the power applied over the step ending at t
        q = np.asarray(fields.source) + np.tensordot(w, patterns, axes=1) if len(w) else np.asarray(fields.source)
        q_leak, leaks = model.leakage_source(p, t_elem)
        leak_log.append({k: float(v) for k, v in leaks.items()})
        return q + q_leak

    def stop(t_nodes, t):
        return (f"a junction passed {runaway_temperature - KELVIN:.0f} degC at t = {t:.4g} s"
                if float(np.max(t_nodes)) > runaway_temperature else "")

    n_steps = int(np.ceil(duration / dt - 1e-9))
    every = max(1, n_steps // n_outputs)
    if isinstance(initial, str):
        amb = min(float(np.min(np.asarray(a))) for a in fields.ambient.values())
        initial = np.full(model.grid.node_shape, amb)
    sol = solver.solve_transient_coupled(model.grid, fields, source=source, duration=duration, dt=dt,
                                         initial=initial, output_every=every, stop=stop)
    if getattr(sol, "stopped", ""):
        temps = np.asarray(sol.temperature)
        _runaway(model, temps[-1], leak_log[-1] if leak_log else {}, [float(np.max(x)) for x in temps], sol.stopped)
    kept = [0] + [k for k in range(1, n_steps + 1) if k % every == 0 or k == n_steps]
    leak_series = {name: [leak_log[min(k, len(leak_log) - 1)].get(name, 0.0) for k in kept]
                   for name in p.leakage_power}
    return sol, {"scheme": "BDF2 + leakage at the extrapolated temperature", "leakage_W": leak_series}
