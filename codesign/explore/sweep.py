"""Design sweeps: many thermal variants of one layout, batched, streamed to disk, resumable.

A sweep spec (TOML, see ``docs/sweep-format.md``) names a base layout and the parameters to vary:
chiplet powers, material conductivities, boundary heat-transfer coefficients and ambients (these
keep the mesh), layer thicknesses and layer fill materials (these change the stack and are
re-meshed). Variants are a grid product or seeded random samples.

How the work is done
--------------------
* Variants are grouped by their *geometry* (the thickness and material values): each group is
  built once (:func:`codesign.build`), and every variant of the group is a :class:`codesign.Params`
  (powers, conductivities -- homogenised materials re-homogenised from swept parents --, face
  coefficients, ambients) mapped to fields by :meth:`codesign.Model.fields`.
* Each group is cut into chunks of ``chunk_size`` variants and solved by
  :func:`solvers.solve_batch`: ``jax.vmap`` over the chunk on a GPU, a loop of jitted solves on
  CPU (DESIGN.md: 1.8x faster there).
* Every finished chunk is appended to a JSONL file, one line per variant, keyed by a stable hash
  of its parameters. ``resume=True`` skips the keys already in the file, so an interrupted sweep
  finishes without losing or repeating a point.
* ``backend="dask"`` sends the chunks to a :mod:`dask.distributed` cluster (a ``LocalCluster``
  by default, or a scheduler address); each worker meshes its group once and batches its chunk
  on its own device. The rows are the same as the local run's.
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
import math
import os
import sys
import time
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from ..errors import InputFileError
from ..layout_io import LayoutError, load_layout
from ..model import BOUNDARIES, Model, Params, build
from ..results import KELVIN
from ..stack import Stack
from ..units import UnitError, parse_quantity

__all__ = [
    "SweepSpecError",
    "SweepParameter",
    "SweepSpec",
    "SweepResult",
    "load_sweep_spec",
    "loads_sweep_spec",
    "sweep_variants",
    "variant_key",
    "evaluate_variants",
    "run_sweep",
    "read_results",
    "summary_table",
    "flatten_row",
    "plot_sweep_pareto",
]


#: parameter kind -> (what it names, quantity kind of absolute values, keeps the mesh)
PARAMETER_KINDS: dict[str, tuple[str, str | None, bool]] = {
    "power": ("chiplet", "power", True),
    "conductivity": ("material", "conductivity", True),
    "heat_transfer_coefficient": ("boundary", "heat_transfer_coefficient", True),
    "ambient": ("boundary", "temperature", True),
    "thickness": ("layer", "length", False),
    "material": ("layer", None, False),
}
_MESH_KEYS = {"max_lateral_size": "length", "min_lateral_size": "length", "grading": "number",
              "cells_per_layer": "int", "max_vertical_size": "length"}


class SweepSpecError(InputFileError):
    """A sweep spec has problems; ``problems`` lists ``(field path, message)``."""


@dataclass(frozen=True)
class SweepParameter:
    """One swept quantity.

    Attributes
    ----------
    kind : str
        ``power``, ``conductivity``, ``heat_transfer_coefficient``, ``ambient``, ``thickness``
        or ``material`` (a layer's fill material, e.g. a silicon vs glass interposer).
    target : str
        The chiplet, material, boundary (``top``/``bottom``/``sides``) or layer it acts on.
    mode : str
        ``"value"`` (absolute SI values, or material names) or ``"scale"`` (factors on the
        layout's value).
    choices : tuple
        Discrete values (grid product; random mode picks among them).
    low, high : float or None
        A continuous range (random mode; grid mode with ``steps``).
    log : bool
        Sample the range log-uniformly.
    """

    kind: str
    target: str
    mode: str
    choices: tuple = ()
    low: float | None = None
    high: float | None = None
    log: bool = False

    @property
    def label(self) -> str:
        """Column name in the results, e.g. ``power:logic`` or ``thickness:tim1/scale``."""
        return f"{self.kind}:{self.target}" + ("/scale" if self.mode == "scale" else "")

    @property
    def keeps_mesh(self) -> bool:
        return PARAMETER_KINDS[self.kind][2]


@dataclass(frozen=True)
class SweepSpec:
    """A validated sweep (see :func:`load_sweep_spec`). Plain data: picklable for dask workers."""

    name: str
    stack: Stack
    parameters: tuple[SweepParameter, ...]
    mode: str = "grid"
    samples: int = 0
    seed: int = 0
    chunk_size: int = 16
    precision: str | None = None
    rtol: float | None = None
    max_iterations: int = 400
    mesh: tuple[tuple[str, float], ...] = ()
    objectives: tuple[str, str] = ("total_power_W", "max_temperature_C")
    sense: tuple[str, str] = ("max", "min")
    source: str = "<spec>"

    def dtype(self):
        """The solve precision: the spec's, else float64 when ``jax_enable_x64`` is on."""
        import jax

        if self.precision is not None:
            return np.dtype(self.precision)
        return np.dtype(np.float64 if jax.config.jax_enable_x64 else np.float32)

    def tolerance(self) -> float:
        if self.rtol is not None:
            return self.rtol
        return 1e-8 if self.dtype() == np.float64 else 1e-4


# ======================================================================================
# reading specs
def _q(problems, value, kind: str, path: str) -> float | None:
    try:
        return parse_quantity(value, kind)
    except UnitError as e:
        problems.append((path, str(e)))
        return None


def _parameter(problems, raw, path: str, stack: Stack) -> SweepParameter | None:
    if not isinstance(raw, dict):
        problems.append((path, f"expected a table, got {raw!r}"))
        return None
    allowed = {"kind", "target", "values", "scale", "range", "scale_range", "steps", "log"}
    for k in sorted(set(raw) - allowed):
        problems.append((f"{path}.{k}", f"unknown key; allowed: {', '.join(sorted(allowed))}"))
    kind = raw.get("kind")
    if kind not in PARAMETER_KINDS:
        problems.append((f"{path}.kind", f"expected one of {', '.join(PARAMETER_KINDS)}, got {kind!r}"))
        return None
    what, qkind, _ = PARAMETER_KINDS[kind]
    target = raw.get("target")
    names = {"chiplet": [c.name for c in stack.chiplets], "material": [m.name for m in stack.materials],
             "boundary": list(BOUNDARIES), "layer": [l.name for l in stack.layers]}[what]
    if target not in names:
        problems.append((f"{path}.target", f"a {kind} parameter names a {what}; got {target!r}, "
                                           f"the layout has: {', '.join(names)}"))
        return None
    given = [k for k in ("values", "scale", "range", "scale_range") if k in raw]
    if len(given) != 1:
        problems.append((path, f"give exactly one of values = [...], scale = [...], range = [lo, hi] or "
                               f"scale_range = [lo, hi]; got {given or 'none'}"))
        return None
    key = given[0]
    mode = "scale" if key.startswith("scale") else "value"
    seq = raw[key]
    if not isinstance(seq, list) or not seq:
        problems.append((f"{path}.{key}", f"expected a non-empty list, got {seq!r}"))
        return None
    if kind == "material":
        if mode == "scale" or key == "range":
            problems.append((f"{path}.{key}", "a material swap takes values = [\"name\", ...]"))
            return None
        mats = [m.name for m in stack.materials]
        bad = [v for v in seq if v not in mats]
        if bad:
            problems.append((f"{path}.values", f"unknown material(s) {bad}; defined: {', '.join(mats)}"))
            return None
        return SweepParameter(kind, target, "value", tuple(seq))
    if kind == "conductivity" and stack.material(target).recipe is not None:
        parents = stack.material(target).recipe.parents
        problems.append((f"{path}.target", f"material {target!r} is homogenised from {', '.join(parents)}; sweep "
                                           f"the conductivity of one of those (it is re-homogenised for every "
                                           f"variant)"))
        return None
    if kind == "ambient" and mode == "scale":
        problems.append((f"{path}.{key}", "an ambient temperature takes absolute values such as \"45 degC\""))
        return None
    if kind == "heat_transfer_coefficient":
        b = getattr(stack, target)
        if b.heat_transfer_coefficient <= 0:
            problems.append((f"{path}.target", f"boundary {target!r} is adiabatic in the layout, so its faces "
                                               f"are not meshed as convective; give it a heat_transfer_coefficient "
                                               f"in the layout first"))
            return None
    if kind == "power" and stack.chiplet(target).total_power <= 0:
        problems.append((f"{path}.target", f"chiplet {target!r} has 0 W in the layout, so it has no power pattern "
                                           f"to set; give it a nominal power in the layout"))
        return None
    conv = []
    for i, v in enumerate(seq):
        p = f"{path}.{key}[{i}]"
        if mode == "scale":
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v <= 0:
                problems.append((p, f"expected a positive number (a factor), got {v!r}"))
                continue
            conv.append(float(v))
        else:
            x = _q(problems, v, qkind, p)
            if x is None:
                continue
            if kind != "ambient" and not x > 0:
                problems.append((p, f"expected a positive {qkind.replace('_', ' ')}, got {v!r}"))
                continue
            conv.append(x)
    if len(conv) != len(seq):
        return None
    log = raw.get("log", False)
    if not isinstance(log, bool):
        problems.append((f"{path}.log", f"expected true or false, got {log!r}"))
        log = False
    if key in ("range", "scale_range"):
        if len(conv) != 2 or not conv[0] < conv[1]:
            problems.append((f"{path}.{key}", f"expected [low, high] with low < high, got {seq!r}"))
            return None
        steps = raw.get("steps")
        if steps is not None:
            if isinstance(steps, bool) or not isinstance(steps, int) or steps < 2:
                problems.append((f"{path}.steps", f"expected an integer >= 2, got {steps!r}"))
                return None
            pts = (np.geomspace if log else np.linspace)(conv[0], conv[1], steps)
            return SweepParameter(kind, target, mode, tuple(float(x) for x in pts), conv[0], conv[1], log)
        return SweepParameter(kind, target, mode, (), conv[0], conv[1], log)
    return SweepParameter(kind, target, mode, tuple(conv))


def loads_sweep_spec(text: str, *, source: str = "<string>", folder: str | Path | None = None) -> SweepSpec:
    """Parse sweep-spec TOML text; ``folder`` resolves a relative ``layout`` path."""
    problems: list[tuple[str, str]] = []
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise SweepSpecError(source, [("", f"not valid TOML: {e}")]) from None
    allowed = {"schema", "name", "layout", "mode", "samples", "seed", "chunk_size", "precision", "rtol",
               "max_iterations", "mesh", "parameters", "objectives"}
    for k in sorted(set(doc) - allowed):
        problems.append((k, f"unknown key; allowed: {', '.join(sorted(allowed))}"))
    if doc.get("schema", 1) != 1:
        problems.append(("schema", f"must be 1, got {doc.get('schema')!r}"))
    layout = doc.get("layout")
    stack = None
    if not isinstance(layout, str):
        problems.append(("layout", f"expected a layout path (relative to the spec) or a shipped layout name, "
                                   f"got {layout!r}"))
    else:
        p = Path(folder) / layout if folder is not None and not Path(layout).is_absolute() else Path(layout)
        try:
            stack = load_layout(p if p.is_file() else layout)
        except LayoutError as e:
            problems.append(("layout", f"cannot load {layout!r}: {e}"))
    if stack is None:
        raise SweepSpecError(source, problems)

    mode = doc.get("mode", "grid")
    if mode not in ("grid", "random"):
        problems.append(("mode", f"expected \"grid\" or \"random\", got {mode!r}"))

    def integer(key, default, lo, hi):
        v = doc.get(key, default)
        if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
            problems.append((key, f"expected an integer in [{lo}, {hi}], got {v!r}"))
            return default
        return v

    samples = integer("samples", 0, 0, 10**8)
    seed = integer("seed", 0, 0, 2**63 - 1)
    chunk = integer("chunk_size", 16, 1, 100000)
    max_it = integer("max_iterations", 400, 1, 100000)
    precision = doc.get("precision")
    if precision not in (None, "float32", "float64"):
        problems.append(("precision", f"expected \"float32\" or \"float64\", got {precision!r}"))
        precision = None
    rtol = doc.get("rtol")
    if rtol is not None and (isinstance(rtol, bool) or not isinstance(rtol, (int, float)) or not 0 < rtol < 1):
        problems.append(("rtol", f"expected a number in (0, 1), got {rtol!r}"))
        rtol = None
    mesh = []
    raw_mesh = doc.get("mesh", {})
    if not isinstance(raw_mesh, dict):
        problems.append(("mesh", f"expected a table, got {raw_mesh!r}"))
        raw_mesh = {}
    for k, v in raw_mesh.items():
        kind = _MESH_KEYS.get(k)
        if kind is None:
            problems.append((f"mesh.{k}", f"unknown key; allowed: {', '.join(_MESH_KEYS)}"))
        elif kind == "length":
            x = _q(problems, v, "length", f"mesh.{k}")
            if x is not None:
                mesh.append((k, x))
        elif kind == "int":
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                problems.append((f"mesh.{k}", f"expected a positive integer, got {v!r}"))
            else:
                mesh.append((k, v))
        else:
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not 1 <= v <= 3:
                problems.append((f"mesh.{k}", f"expected a number in [1, 3], got {v!r}"))
            else:
                mesh.append((k, float(v)))
    raw_params = doc.get("parameters")
    params = []
    if not isinstance(raw_params, list) or not raw_params:
        problems.append(("parameters", "expected at least one [[parameters]] table"))
    else:
        for i, r in enumerate(raw_params):
            p = _parameter(problems, r, f"parameters[{i}]", stack)
            if p is not None:
                params.append(p)
        labels = [p.label for p in params]
        for lab in sorted({x for x in labels if labels.count(x) > 1}):
            problems.append(("parameters", f"{lab} is swept twice; merge the two tables"))
    if mode == "grid":
        for i, p in enumerate(params):
            if not p.choices:
                problems.append((f"parameters[{i}]", f"{p.label}: a range in grid mode needs steps = N"))
    elif mode == "random" and samples < 1:
        problems.append(("samples", "random mode needs samples = N (N >= 1)"))
    obj = doc.get("objectives", {})
    x, y = "total_power_W", "max_temperature_C"
    sense = ("max", "min")
    if not isinstance(obj, dict):
        problems.append(("objectives", f"expected a table, got {obj!r}"))
    else:
        for k in sorted(set(obj) - {"x", "y", "sense"}):
            problems.append((f"objectives.{k}", "unknown key; allowed: x, y, sense"))
        x, y = obj.get("x", x), obj.get("y", y)
        s = obj.get("sense", list(sense))
        if not (isinstance(s, list) and len(s) == 2 and all(v in ("min", "max") for v in s)):
            problems.append(("objectives.sense", f"expected [\"min\"|\"max\", \"min\"|\"max\"], got {s!r}"))
        else:
            sense = tuple(s)
        cols = _columns(stack, params)
        for k, v in (("x", x), ("y", y)):
            if v not in cols:
                problems.append((f"objectives.{k}", f"unknown column {v!r}; columns: {', '.join(cols)}"))
    if problems:
        raise SweepSpecError(source, problems)
    return SweepSpec(name=str(doc.get("name", stack.name)), stack=stack, parameters=tuple(params), mode=mode,
                     samples=samples, seed=seed, chunk_size=chunk, precision=precision, rtol=rtol,
                     max_iterations=max_it, mesh=tuple(mesh), objectives=(x, y), sense=sense, source=source)


def load_sweep_spec(path: str | Path) -> SweepSpec:
    """Load and validate a sweep spec file (``docs/sweep-format.md``).

    Raises
    ------
    SweepSpecError
        Listing every problem with its field path, the value given and the fix.
    """
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise SweepSpecError(str(p), [("", f"cannot read the file: {e}")]) from None
    return loads_sweep_spec(text, source=str(p), folder=p.parent)


def _columns(stack: Stack, params: Sequence[SweepParameter]) -> list[str]:
    return ([p.label for p in params] + ["max_temperature_C", "total_power_W", "energy_residual"]
            + [f"tj_C.{c.name}" for c in stack.chiplets])


# ======================================================================================
# variants
def sweep_variants(spec: SweepSpec) -> list[dict]:
    """Every variant of the sweep, in order: ``{label: value}`` (SI floats or material names).

    Grid mode takes the product of every parameter's choices (the last parameter varies
    fastest); random mode draws ``samples`` variants with ``numpy.random.default_rng(seed)``,
    uniformly among choices or over ``[low, high]`` (log-uniformly with ``log = true``).

    Examples
    --------
    >>> spec = loads_sweep_spec('''
    ... layout = "demo"
    ... [[parameters]]
    ... kind = "power"
    ... target = "logic"
    ... scale = [0.5, 2.0]
    ... [[parameters]]
    ... kind = "thickness"
    ... target = "tim1"
    ... values = ["25 um", "75 um"]
    ... ''')
    >>> [tuple(v.values()) for v in sweep_variants(spec)]
    [(0.5, 2.5e-05), (0.5, 7.5e-05), (2.0, 2.5e-05), (2.0, 7.5e-05)]
    >>> variant_key(spec, sweep_variants(spec)[0]) == variant_key(spec, {"thickness:tim1": 2.5e-05, "power:logic/scale": 0.5})
    True
    """
    labels = [p.label for p in spec.parameters]
    if spec.mode == "grid":
        return [dict(zip(labels, combo)) for combo in itertools.product(*(p.choices for p in spec.parameters))]
    rng = np.random.default_rng(spec.seed)
    out = []
    for _ in range(spec.samples):
        v = {}
        for p in spec.parameters:
            if p.choices:
                v[p.label] = p.choices[int(rng.integers(len(p.choices)))]
            elif p.log:
                v[p.label] = float(math.exp(rng.uniform(math.log(p.low), math.log(p.high))))
            else:
                v[p.label] = float(rng.uniform(p.low, p.high))
        out.append(v)
    return out


def variant_key(spec: SweepSpec, variant: dict) -> str:
    """Stable 16-hex-digit hash of a variant: the layout name, mesh overrides and parameter values."""
    doc = {"layout": spec.stack.name, "mesh": [list(m) for m in spec.mesh],
           "params": {k: (repr(float(v)) if not isinstance(v, str) else v) for k, v in sorted(variant.items())}}
    return hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()[:16]


def _geometry_key(spec: SweepSpec, variant: dict) -> tuple:
    return tuple((p.label, variant[p.label]) for p in spec.parameters if not p.keeps_mesh)


def _geometry_stack(spec: SweepSpec, variant: dict) -> Stack:
    stack = spec.stack
    for p in spec.parameters:
        if p.keeps_mesh:
            continue
        v = variant[p.label]
        if p.kind == "thickness":
            t = v * stack.layer(p.target).thickness if p.mode == "scale" else v
            stack = stack.with_layer(p.target, thickness=t)
        elif p.kind == "material":
            stack = stack.with_layer(p.target, material=v)
    return stack


_MODEL_CACHE: dict = {}


def _model(spec: SweepSpec, gkey: tuple, variant: dict) -> Model:
    """The model of a geometry group (cached per process: dask workers build each group once)."""
    key = (spec.stack, spec.mesh, gkey)
    hit = _MODEL_CACHE.get(key)
    if hit is None:
        if len(_MODEL_CACHE) > 64:
            _MODEL_CACHE.clear()
        hit = _MODEL_CACHE[key] = build(_geometry_stack(spec, variant), **dict(spec.mesh))
    return hit


def variant_params(spec: SweepSpec, model: Model, variant: dict) -> Params:
    """The :class:`codesign.Params` of one variant: the model's nominal parameters with the
    mesh-keeping parameters of ``variant`` applied."""
    p = model.params
    power, k = dict(p.power), dict(p.conductivity)
    h, amb = dict(p.h), dict(p.ambient)
    for q in spec.parameters:
        v = variant[q.label]
        if q.kind == "power":
            keys = model.chiplet_sources(q.target)
            nominal = sum(p.power[key] for key in keys)
            scale = v if q.mode == "scale" else v / nominal
            power.update({key: p.power[key] * scale for key in keys})
        elif q.kind == "conductivity":
            k[q.target] = k[q.target] * v if q.mode == "scale" else np.full(3, v)
        elif q.kind == "heat_transfer_coefficient":
            h[q.target] = h[q.target] * v if q.mode == "scale" else v
        elif q.kind == "ambient":
            amb[q.target] = v
    return p.replace(power=power, conductivity=k, h=h, ambient=amb)


def evaluate_variants(spec: SweepSpec, variants: Sequence[dict], *, method: str = "auto") -> list[dict]:
    """Solve variants that share one geometry and return one result row each.

    All ``variants`` must have the same thickness/material values (one mesh). The solves run
    through :func:`solvers.solve_batch` (``method="auto"``: vmap on GPU, loop on CPU).

    Returns
    -------
    list of dict
        ``key``, ``params`` (SI values), ``tj_C`` (per-chiplet junction [degC]),
        ``max_temperature_C``, ``total_power_W``, ``energy_residual``, ``converged``,
        ``iterations``, ``relative_residual``.
    """
    from solvers import solve_batch

    if not variants:
        return []
    gkeys = {_geometry_key(spec, v) for v in variants}
    if len(gkeys) != 1:
        raise ValueError(f"`evaluate_variants`: the variants span {len(gkeys)} geometries; group them by their "
                         f"thickness/material values first (run_sweep does)")
    model = _model(spec, gkeys.pop(), variants[0])
    fields = [model.fields(variant_params(spec, model, v)) for v in variants]
    sol = solve_batch(model.grid, fields, method=method, rtol=spec.tolerance(), max_iterations=spec.max_iterations,
                      throw=False, dtype=spec.dtype())
    T = np.asarray(sol.temperature, dtype=float)
    tj = model.junctions(T)
    rows = []
    for i, v in enumerate(variants):
        rows.append({
            "key": variant_key(spec, v),
            "params": {k: (x if isinstance(x, str) else float(x)) for k, x in v.items()},
            "tj_C": {name: float(t[i]) - KELVIN for name, t in tj.items()},
            "max_temperature_C": float(T[i].max()) - KELVIN,
            "total_power_W": float(np.asarray(sol.power_in)[i]),
            "energy_residual": float(np.asarray(sol.energy_balance)[i]),
            "converged": bool(np.asarray(sol.converged)[i]),
            "iterations": int(np.asarray(sol.iterations)[i]),
            "relative_residual": float(np.asarray(sol.relative_residual)[i]),
        })
    return rows


# ======================================================================================
# results file
def read_results(path: str | Path) -> list[dict]:
    """Rows of a results JSONL file (a torn last line from an interrupted run is skipped)."""
    p = Path(path)
    if not p.is_file():
        return []
    rows = []
    for line in p.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line:
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(row, dict) and "key" in row:
            rows.append(row)
    return rows


def flatten_row(row: dict) -> dict:
    """A result row as flat columns: parameter labels, ``tj_C.<chiplet>``, and the scalars."""
    out = dict(row.get("params", {}))
    out.update({f"tj_C.{k}": v for k, v in row.get("tj_C", {}).items()})
    for k in ("max_temperature_C", "total_power_W", "energy_residual", "converged", "iterations", "key"):
        if k in row:
            out[k] = row[k]
    return out


class _Writer:
    def __init__(self, path: Path, resume: bool):
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        if resume and path.is_file():
            data = path.read_bytes()
            self.fh = open(path, "ab")
            if data and not data.endswith(b"\n"):
                self.fh.write(b"\n")  # close a torn line so the next row starts clean
        else:
            self.fh = open(path, "wb")

    def write(self, rows: Iterable[dict]) -> None:
        for r in rows:
            self.fh.write((json.dumps(r, sort_keys=True) + "\n").encode())
        self.fh.flush()
        os.fsync(self.fh.fileno())

    def close(self) -> None:
        self.fh.close()


class _Progress:
    def __init__(self, total: int, stream, label: str = "sweep"):
        self.total, self.done, self.stream, self.label = total, 0, stream, label
        self.t0 = time.perf_counter()

    def update(self, n: int) -> None:
        self.done += n
        if self.stream is None:
            return
        dt = time.perf_counter() - self.t0
        rate = self.done / dt if dt > 0 else float("nan")
        eta = (self.total - self.done) / rate if rate > 0 else float("nan")
        eta_s = f"{int(eta // 60)}:{int(eta % 60):02d}" if math.isfinite(eta) else "?"
        end = "\r" if getattr(self.stream, "isatty", lambda: False)() and self.done < self.total else "\n"
        self.stream.write(f"{self.label}: {self.done}/{self.total} variants, {rate:.2f} variants/s, "
                          f"{rate * 60:.0f} /min, ETA {eta_s}{end}")
        self.stream.flush()


@dataclass
class SweepResult:
    """What :func:`run_sweep` did.

    Attributes
    ----------
    path : pathlib.Path
        The JSONL results file (every row, including rows of earlier runs when resuming).
    rows : list of dict
        The rows in the file that belong to this spec's variants (earlier runs included).
    computed : int
        Variants solved in this run.
    skipped : int
        Variants found in the file already (resume).
    seconds : float
        Wall-clock seconds of this run.
    """

    path: Path
    rows: list
    computed: int
    skipped: int
    seconds: float

    @property
    def rate(self) -> float:
        """Variants per second solved in this run."""
        return self.computed / self.seconds if self.seconds > 0 else float("nan")


def _chunks(spec: SweepSpec, todo: list[dict], chunk_size: int) -> list[list[dict]]:
    groups: dict = {}
    for v in todo:
        groups.setdefault(_geometry_key(spec, v), []).append(v)
    out = []
    for vs in groups.values():
        out += [vs[i:i + chunk_size] for i in range(0, len(vs), chunk_size)]
    return out


def run_sweep(spec: SweepSpec, output: str | Path, *, resume: bool = False, backend: str = "local",
              scheduler: str | None = None, chunk_size: int | None = None, method: str = "auto",
              n_workers: int = 2, processes: bool = True, max_chunks: int | None = None,
              progress=sys.stderr) -> SweepResult:
    """Run a sweep, appending each finished chunk to ``output`` (JSONL).

    Parameters
    ----------
    spec : SweepSpec
    output : path
        Results file. It must not exist unless ``resume=True``.
    resume : bool
        Skip the variants whose keys are already in ``output`` and append the rest.
    backend : {"local", "dask"}
        ``local`` solves chunk after chunk here; ``dask`` submits every chunk to a
        :mod:`dask.distributed` cluster and writes each as it completes.
    scheduler : str, optional
        Address of a running dask scheduler (``tcp://host:8786``); without it a
        ``LocalCluster(n_workers, processes=processes)`` is started and closed here.
    chunk_size : int, optional
        Variants per batch (defaults to the spec's ``chunk_size``).
    method : {"auto", "vmap", "loop"}
        Passed to :func:`solvers.solve_batch`.
    max_chunks : int, optional
        Stop after this many chunks (to test resuming; the file is then incomplete).
    progress : file or None
        Where the progress line goes (stderr by default).
    """
    if backend not in ("local", "dask"):
        raise ValueError(f"`run_sweep(backend={backend!r})`: choose 'local' or 'dask'")
    if method not in ("auto", "vmap", "loop"):
        raise ValueError(f"`run_sweep(method={method!r})`: choose 'auto', 'vmap' or 'loop'")
    path = Path(output)
    if path.exists() and not resume:
        raise FileExistsError(f"`run_sweep`: {path} exists; pass resume=True (`--resume`) to continue it, "
                              f"or choose another output file")
    t0 = time.perf_counter()
    variants = sweep_variants(spec)
    done = {r["key"] for r in read_results(path)} if resume else set()
    todo, seen = [], set(done)
    for v in variants:
        k = variant_key(spec, v)
        if k not in seen:  # also drops duplicate draws of a random sweep
            seen.add(k)
            todo.append(v)
    skipped = len(variants) - len(todo)
    chunks = _chunks(spec, todo, chunk_size or spec.chunk_size)
    if max_chunks is not None:
        chunks = chunks[:max_chunks]
    bar = _Progress(sum(len(c) for c in chunks), progress)
    writer = _Writer(path, resume)
    computed = 0
    try:
        if backend == "local":
            for c in chunks:
                rows = evaluate_variants(spec, c, method=method)
                writer.write(rows)
                computed += len(rows)
                bar.update(len(rows))
        else:
            computed = _run_dask(spec, chunks, writer, bar, scheduler=scheduler, method=method,
                                 n_workers=n_workers, processes=processes)
    finally:
        writer.close()
    wanted = {variant_key(spec, v) for v in variants}
    rows = [r for r in read_results(path) if r["key"] in wanted]  # rows of this spec only
    return SweepResult(path=path, rows=rows, computed=computed, skipped=skipped,
                       seconds=time.perf_counter() - t0)


def _enable_x64() -> None:
    import jax

    jax.config.update("jax_enable_x64", True)


def _dask_chunk(spec: SweepSpec, chunk: list[dict], method: str, x64: bool) -> list[dict]:
    if x64:
        _enable_x64()
    return evaluate_variants(spec, chunk, method=method)


def _run_dask(spec, chunks, writer, bar, *, scheduler, method, n_workers, processes) -> int:
    try:
        from dask.distributed import Client, LocalCluster, as_completed
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise ImportError("`run_sweep(backend='dask')` needs dask.distributed: pip install 'distributed'") from e
    import jax

    x64 = spec.dtype() == np.float64
    if x64 and not jax.config.jax_enable_x64:
        raise ValueError("`run_sweep`: the spec asks for precision = \"float64\" but jax_enable_x64 is off; "
                         "enable it (jax.config.update('jax_enable_x64', True)) or use float32")
    cluster = None
    if scheduler:
        client = Client(scheduler)
    else:
        cluster = LocalCluster(n_workers=n_workers, threads_per_worker=1, processes=processes,
                               dashboard_address=None)
        client = Client(cluster)
    computed = 0
    try:
        if chunks:
            spec_f = client.scatter(spec, broadcast=True)
            futures = [client.submit(_dask_chunk, spec_f, c, method, x64, pure=False) for c in chunks]
            for fut in as_completed(futures):
                rows = fut.result()
                writer.write(rows)
                computed += len(rows)
                bar.update(len(rows))
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
    return computed


# ======================================================================================
# summaries and the command line
def summary_table(spec: SweepSpec, rows: Sequence[dict], *, top: int = 5) -> str:
    """Text summary: counts, the range of every output, and the ``top`` coolest variants."""
    if not rows:
        return "no results"
    flat = [flatten_row(r) for r in rows]
    n_bad = sum(1 for r in rows if not r.get("converged", True))
    lines = [f"sweep {spec.name!r} on layout {spec.stack.name!r}: {len(rows)} variants"
             + (f" ({n_bad} did not converge: see 'converged' in the file)" if n_bad else "")]
    cols = ["max_temperature_C", "total_power_W", "energy_residual"] + [f"tj_C.{c.name}" for c in spec.stack.chiplets]
    w = max(len(c) for c in cols)
    lines.append(f"{'output'.ljust(w)}  {'min':>11}  {'max':>11}")
    for c in cols:
        vals = np.array([r[c] for r in flat if c in r], dtype=float)
        if vals.size:
            lines.append(f"{c.ljust(w)}  {vals.min():11.4g}  {vals.max():11.4g}")
    order = sorted(flat, key=lambda r: r["max_temperature_C"])[:top]
    labels = [p.label for p in spec.parameters]
    lines.append("")
    lines.append(f"coolest {len(order)} variants (max temperature degC | parameters in SI):")
    for r in order:
        ps = ", ".join(f"{k}={r[k]:.4g}" if not isinstance(r[k], str) else f"{k}={r[k]}" for k in labels)
        lines.append(f"  {r['max_temperature_C']:8.2f}  {ps}")
    return "\n".join(lines)


def plot_sweep_pareto(spec: SweepSpec, rows: Sequence[dict], path) -> Path:
    """Pareto front PNG of the spec's two objectives (:func:`codesign.viz.plot_pareto`)."""
    from ..viz.plots import plot_pareto

    x, y = spec.objectives
    return plot_pareto([flatten_row(r) for r in rows], x, y, path, sense=spec.sense,
                       title=f"{spec.name}: {len(rows)} variants")
