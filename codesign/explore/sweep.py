"""Design sweeps: many thermal variants of one layout, batched, streamed to disk, resumable.

A sweep spec (TOML, see ``docs/sweep-format.md``) names a base layout and the parameters to vary:
chiplet powers, material conductivities, boundary heat-transfer coefficients and ambients (these
keep the mesh), layer thicknesses and layer fill materials (these change the stack and are
re-meshed). Variants are a grid product or seeded random samples.

How the work is done
--------------------
* Variants are **streamed** (:func:`iter_variants`): a grid is walked with :func:`itertools.product`,
  random samples are drawn block by block (:data:`RANDOM_BLOCK` variants, each block from its own
  seed ``(seed, block index)``), so no list of every variant is ever built and the first chunk is
  solved at once. A spec states how many variants it may have (``max_variants``, default
  :data:`MAX_VARIANTS`) and the spec's mesh overrides are checked against the cell limit when it is
  read.
* Variants are grouped by their *geometry* (the thickness and material values): each group is
  built once (:func:`codesign.build`), and every variant of the group is a :class:`codesign.Params`
  (powers, conductivities -- homogenised materials re-homogenised from swept parents --, face
  coefficients, ambients) mapped to fields by :meth:`codesign.Model.fields`.
* Each group is cut into chunks of ``chunk_size`` variants and solved by
  :func:`solvers.solve_batch`: ``jax.vmap`` over the chunk on a GPU, a loop of jitted solves on
  CPU (DESIGN.md: 1.8x faster there).
* Every finished chunk is appended to a JSONL file, one line per variant, keyed by a stable hash
  of its parameters, in one write on an append-only descriptor, then synced. One process writes a
  results file at a time (an advisory lock; a second writer is told which process holds it).
  ``resume=True`` skips the keys already in the file, so an interrupted sweep finishes without
  losing or repeating a point; a damaged tail (a torn or non-UTF-8 last line) is cut off with a
  warning that says what was kept.
* ``backend="dask"`` sends the chunks to a :mod:`dask.distributed` cluster (a ``LocalCluster``
  by default, or a scheduler address); each worker meshes its group once and batches its chunk
  on its own device. The rows are the same as the local run's.
"""

from __future__ import annotations

import collections
import dataclasses
import hashlib
import itertools
import json
import math
import os
import re
import socket
import stat
import sys
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator, Sequence

import numpy as np

from .._files import parse_toml, read_text
from ..errors import CodesignError, InputFileError, ModelError
from ..layout_io import load_layout
from ..model import BOUNDARIES, Model, Params, build
from ..results import KELVIN
from ..units import finite_real
from ..stack import Stack
from ._checks import MAX_TEXT_CHARS, Checker, nearest, range_problem, show, typename

try:  # POSIX advisory locks; elsewhere a results file is not locked
    import fcntl
except ImportError:  # pragma: no cover - not POSIX
    fcntl = None

__all__ = [
    "MAX_VARIANTS",
    "RANDOM_BLOCK",
    "ResultsFileError",
    "ResultsFileWarning",
    "SweepSpecError",
    "SweepParameter",
    "SweepSpec",
    "SweepResult",
    "count_variants",
    "default_results_path",
    "load_sweep_spec",
    "loads_sweep_spec",
    "iter_variants",
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
_TOP_KEYS = ("schema", "name", "layout", "mode", "samples", "seed", "chunk_size", "precision", "rtol",
             "max_iterations", "max_variants", "max_cells", "mesh", "parameters", "objectives")
_PARAMETER_KEYS = ("kind", "target", "values", "scale", "range", "scale_range", "steps", "log")

#: Default most variants a spec may have (``max_variants`` raises it on purpose): each variant is
#: one solve, so a million is days of work on one device.
MAX_VARIANTS = 1_000_000
#: Most grid steps one range may have (``steps``); a denser axis is a random-mode sweep.
MAX_STEPS = 100_000
#: Random-mode variants drawn per block; block ``b`` is drawn from ``default_rng([seed, b])``, so a
#: variant depends only on the seed and its index (raising ``samples`` keeps the earlier variants).
RANDOM_BLOCK = 1024
#: Longest line of a results file [bytes]; a row is well under 10 kB, a longer line is damage.
MAX_RESULT_LINE = 1 << 20


def _cell_limit() -> int:
    """The library's mesh cell limit, :data:`codesign.mesh.MAX_CELLS` (the one source)."""
    from ..mesh import MAX_CELLS

    return MAX_CELLS


class SweepSpecError(InputFileError):
    """A sweep spec has problems; ``problems`` lists ``(field path, message)``."""


class ResultsFileError(CodesignError):
    """A sweep's results file cannot be used: held by another writer, not a results file, or an
    I/O error (a read-only folder, a full disk). The message says what the file keeps."""


class ResultsFileWarning(UserWarning):
    """A results file had damage that was skipped or cut off (the message says what was kept)."""


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

    @property
    def largest(self):
        """The largest value the parameter takes (None for a material swap)."""
        if self.kind == "material":
            return None
        return max(self.choices) if self.choices else self.high


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
    max_variants: int = MAX_VARIANTS
    max_cells: int | None = None     # None: the library's cell limit (_cell_limit())

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

    @property
    def count(self) -> int:
        """Number of variants (:func:`count_variants`)."""
        return count_variants(self)


# ======================================================================================
# reading specs
def _names_of(stack: Stack, what: str) -> list[str]:
    return {"chiplet": [c.name for c in stack.chiplets], "material": [m.name for m in stack.materials],
            "boundary": list(BOUNDARIES), "layer": [layer.name for layer in stack.layers]}[what]


def _listing(names: Sequence[str]) -> str:
    return ", ".join(names[:30]) + (", ..." if len(names) > 30 else "")


def _nominal(stack: Stack, kind: str, target: str) -> tuple[float, float]:
    """The smallest and largest layout value a scale factor of ``kind`` multiplies."""
    if kind == "power":
        v = stack.chiplet(target).total_power
        return v, v
    if kind == "conductivity":
        m = stack.material(target)
        return min(m.kx, m.ky, m.kz), max(m.kx, m.ky, m.kz)
    if kind == "heat_transfer_coefficient":
        v = getattr(stack, target).heat_transfer_coefficient
        return v, v
    v = stack.layer(target).thickness
    return v, v


def _parameter(ck: Checker, raw: dict, path: str, stack: Stack) -> SweepParameter | None:
    ck.table(raw, path, _PARAMETER_KEYS)
    kind = ck.string(raw, "kind", path, required=True, choices=PARAMETER_KINDS, noun="parameter kind",
                     what=f"a parameter kind ({', '.join(PARAMETER_KINDS)})")
    if kind is None:
        return None
    what, qkind, _ = PARAMETER_KINDS[kind]
    names = _names_of(stack, what)
    target = ck.string(raw, "target", path, required=True, what=f"the name of a {what} of the layout")
    if target is None:
        return None
    if target not in names:
        close = nearest(target, names)
        ck.err(f"{path}.target", f"a {kind} parameter names a {what}; got {show(target)}"
                                 f"{close if 'did you mean' in close else ''}; the layout has: {_listing(names)}")
        return None
    given = [k for k in ("values", "scale", "range", "scale_range") if k in raw]
    if len(given) != 1:
        ck.err(path, f"give exactly one of values = [...], scale = [...], range = [low, high] or "
                     f"scale_range = [low, high]; got {', '.join(given) if given else 'none'}")
        return None
    key = given[0]
    mode = "scale" if key.startswith("scale") else "value"
    is_range = key in ("range", "scale_range")
    for k in ("steps", "log"):
        if k in raw and not is_range:
            ck.err(f"{path}.{k}", f"{k} applies to a range (range = [low, high] or scale_range = [low, high]), "
                                  f"not to a list of {key}; remove it")
    seq = raw[key]
    if not isinstance(seq, list) or not seq:
        ck.err(f"{path}.{key}", f"expected a non-empty list, got {typename(seq)} {show(seq)}")
        return None
    if len(seq) > MAX_STEPS:
        ck.err(f"{path}.{key}", f"{len(seq):,} values, more than the {MAX_STEPS:,} one parameter may list; "
                                "use a random-mode sweep over a range")
        return None
    if kind == "material":
        if mode == "scale" or is_range:
            ck.err(f"{path}.{key}", 'a material swap takes values = ["name", ...] (material names of the layout)')
            return None
        mats = [m.name for m in stack.materials]
        bad = [v for v in seq if not isinstance(v, str) or v not in mats]
        if bad:
            ck.err(f"{path}.values", f"unknown material {show(bad[0])}{nearest(bad[0], mats)}"
                   + (f" (and {len(bad) - 1} more)" if len(bad) > 1 else ""))
            return None
        if len(set(seq)) != len(seq):
            ck.err(f"{path}.values", f"material {sorted({v for v in seq if seq.count(v) > 1})[0]!r} is listed twice; "
                                     "list each once")
            return None
        return SweepParameter(kind, target, "value", tuple(seq))
    if kind == "conductivity" and stack.material(target).recipe is not None:
        parents = stack.material(target).recipe.parents
        ck.err(f"{path}.target", f"material {target!r} is homogenised from {', '.join(parents)}; sweep the "
                                 f"conductivity of one of those (it is re-homogenised for every variant)")
        return None
    if kind == "ambient" and mode == "scale":
        ck.err(f"{path}.{key}", 'an ambient temperature takes absolute values such as "45 degC"')
        return None
    if kind == "heat_transfer_coefficient" and not getattr(stack, target).heat_transfer_coefficient > 0:
        ck.err(f"{path}.target", f"boundary {target!r} is adiabatic in the layout, so its faces are not meshed as "
                                 f"convective; give it a heat_transfer_coefficient in the layout first")
        return None
    if kind == "power" and not stack.chiplet(target).total_power > 0:
        ck.err(f"{path}.target", f"chiplet {target!r} has 0 W in the layout, so it has no power pattern to set; "
                                 f"give it a nominal power in the layout")
        return None
    n_before = len(ck.problems)
    conv = []
    for i, v in enumerate(seq):
        p = f"{path}.{key}[{i}]"
        if mode == "scale":
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not (math.isfinite(v) and 0 < v <= 1e6):
                ck.err(p, f"expected a positive factor (a number in (0, 1e6]), got {typename(v)} {show(v)}")
                continue
            x = float(v)
            lo, hi = _nominal(stack, kind, target)
            rk = "length" if kind == "thickness" else kind
            bad = next((y for y in (lo * x, hi * x) if range_problem(rk, y)), None)
            if bad is not None:
                ck.err(p, f"a factor of {x:g} on the layout's {kind.replace('_', ' ')} of {target!r} gives "
                          f"{bad:.4g} (SI), out of range: {range_problem(rk, bad)}")
                continue
            conv.append(x)
        else:
            x = ck.value(v, p, qkind)
            if x is None:
                continue
            if kind != "ambient" and not x > 0:
                ck.err(p, f"expected a positive {qkind.replace('_', ' ')}, got {show(v)}")
                continue
            conv.append(x)
    if len(ck.problems) > n_before:
        return None
    if len(set(conv)) != len(conv):
        twice = sorted({x for x in conv if conv.count(x) > 1})
        ck.err(f"{path}.{key}", f"the value {twice[0]:g} (SI) is listed twice; list each value once")
        return None
    log = ck.boolean(raw, "log", path, default=False)
    if not is_range:
        return SweepParameter(kind, target, mode, tuple(conv))
    if len(conv) != 2 or not conv[0] < conv[1]:
        ck.err(f"{path}.{key}", f"expected [low, high] with low < high, got {show(seq)}")
        return None
    if "steps" in raw:
        steps = ck.integer(raw, "steps", path, lo=2, hi=MAX_STEPS,
                           hint="; a denser axis is a random-mode sweep (mode = \"random\")")
        if steps is None:
            return None
        pts = (np.geomspace if log else np.linspace)(conv[0], conv[1], steps)
        pts[0], pts[-1] = conv[0], conv[1]
        return SweepParameter(kind, target, mode, tuple(float(x) for x in pts), conv[0], conv[1], log)
    return SweepParameter(kind, target, mode, (), conv[0], conv[1], log)


def _base_layout(ck: Checker, layout: str, folder) -> Stack | None:
    """The layout a spec names: a path relative to the spec's folder, else a shipped layout name."""
    p = Path(folder) / layout if folder is not None and not Path(layout).is_absolute() else Path(layout)
    try:
        is_file = p.is_file()
    except (OSError, ValueError):  # a name too long for a path, a NUL: not a file
        is_file = False
    try:
        return load_layout(p if is_file else layout)
    except InputFileError as e:
        ck.err("layout", f"cannot load {show(layout)}: {e}")
        return None


def _mesh_overrides(ck: Checker, doc: dict, stack: Stack | None) -> list[tuple[str, float]]:
    raw = ck.table(doc.get("mesh"), "mesh", _MESH_KEYS) or {}
    mesh = []
    for k, v in raw.items():
        kind = _MESH_KEYS.get(k)
        if kind == "length":
            x = ck.value(v, f"mesh.{k}", "length")
        elif kind == "int":
            x = ck.integer(raw, k, "mesh", lo=1, hi=64)
        elif kind == "number":
            x = ck.number(raw, k, "mesh", lo=1.0, hi=3.0)
        else:
            continue  # reported by ck.table
        if x is not None:
            mesh.append((k, x))
    if stack is not None:
        m = dataclasses.replace(stack.mesh, **dict(mesh))
        if m.min_lateral_size is not None and m.min_lateral_size > m.max_lateral_size:
            ck.err("mesh.min_lateral_size", f"{m.min_lateral_size:.4g} m is larger than max_lateral_size "
                                            f"{m.max_lateral_size:.4g} m; give min_lateral_size <= max_lateral_size")
    return mesh


def _largest_geometry(stack: Stack, mesh: Sequence[tuple[str, float]], params: Sequence[SweepParameter]) -> Stack:
    """The base stack with the spec's mesh overrides and every swept layer at its thickest (the most cells)."""
    s = dataclasses.replace(stack, mesh=dataclasses.replace(stack.mesh, **dict(mesh)))
    for p in params:
        if p.kind == "thickness":
            t = p.largest * stack.layer(p.target).thickness if p.mode == "scale" else p.largest
            s = s.with_layer(p.target, thickness=t)
    return s


def count_variants(spec: SweepSpec) -> int:
    """Number of variants of ``spec``: the grid product, or ``samples`` (duplicates included)."""
    if spec.mode == "grid":
        return math.prod(len(p.choices) for p in spec.parameters)
    return spec.samples


def loads_sweep_spec(text: str, *, source: str = "<string>", folder: str | Path | None = None) -> SweepSpec:
    """Parse sweep-spec TOML text; ``folder`` resolves a relative ``layout`` path.

    Every key is checked (an unknown key is a problem with a did-you-mean), the variant count is
    held to ``max_variants`` and the largest variant's mesh to the cell limit (``max_cells``),
    before anything is built.

    Raises
    ------
    SweepSpecError
        Listing every problem with its field path, the value given and the fix.
    """
    doc = parse_toml(text, error=SweepSpecError, source=source)
    ck = Checker()
    ck.table(doc, "", _TOP_KEYS)
    if "schema" in doc and (isinstance(doc["schema"], bool) or doc["schema"] != 1):
        ck.err("schema", f"must be 1, got {show(doc['schema'])}")
    mode = ck.string(doc, "mode", "", default="grid", choices=("grid", "random"), noun="mode",
                     what='"grid" or "random"')
    if mode == "grid" and "samples" in doc:
        ck.err("samples", 'samples = N is the size of a random sweep; a grid sweep has the product of its values. '
                          'Remove samples or set mode = "random"')
    samples = ck.integer(doc, "samples", "", lo=1, hi=2**63 - 1, default=0)
    if mode == "random" and "samples" not in doc:
        ck.err("samples", "random mode needs samples = N (N >= 1)")
    seed = ck.integer(doc, "seed", "", lo=0, hi=2**63 - 1, default=0)
    chunk = ck.integer(doc, "chunk_size", "", lo=1, hi=100_000, default=16)
    max_it = ck.integer(doc, "max_iterations", "", lo=1, hi=100_000, default=400)
    max_variants = ck.integer(doc, "max_variants", "", lo=1, hi=2**63 - 1, default=MAX_VARIANTS)
    max_cells = ck.integer(doc, "max_cells", "", lo=1, hi=2**63 - 1, default=None)
    precision = ck.string(doc, "precision", "", choices=("float32", "float64"), noun="precision",
                          what='"float32" or "float64"')
    rtol = ck.number(doc, "rtol", "", lo=0.0, hi=0.5, lo_open=True)
    layout = ck.string(doc, "layout", "", required=True, max_chars=MAX_TEXT_CHARS,
                       what='a layout path (relative to the spec) or a shipped layout name such as "demo"')
    stack = _base_layout(ck, layout, folder) if layout is not None else None
    mesh = _mesh_overrides(ck, doc, stack)
    name = ck.string(doc, "name", "", default=None, what='a name such as "demo_sweep"')
    if stack is None:
        raise SweepSpecError(source, ck.problems)

    params = []
    raw_params = ck.tables(doc.get("parameters"), "parameters")
    if not raw_params and "parameters" not in {p for p, _ in ck.problems}:
        ck.err("parameters", "expected at least one [[parameters]] table (kind, target, values)")
    for path, r in raw_params:
        p = _parameter(ck, r, path, stack)
        if p is not None:
            params.append(p)
    labels = [p.label for p in params]
    for lab in sorted({x for x in labels if labels.count(x) > 1}):
        ck.err("parameters", f"{lab} is swept twice; merge the two tables")
    if mode == "grid":
        for i, p in enumerate(params):
            if not p.choices:
                ck.err(f"parameters[{i}]", f"{p.label}: a range in grid mode needs steps = N")
    if params and len(params) == len(raw_params) and not ck.problems:
        n = math.prod(len(p.choices) for p in params) if mode == "grid" else samples
        if n > max_variants:
            where = "samples" if mode == "random" else "parameters"
            sizes = " x ".join(str(len(p.choices)) for p in params) if mode == "grid" else ""
            ck.err(where, f"the sweep has {n:,} variants{f' ({sizes})' if sizes else ''}, more than max_variants = "
                          f"{max_variants:,} (one solve each); sweep fewer values, or set max_variants = {n} at the "
                          f"top of the spec to run them all")
        limit = max_cells if max_cells is not None else _cell_limit()
        big = _largest_geometry(stack, mesh, params)
        from ..mesh import estimate_cells

        try:
            cells = estimate_cells(big)
        except (ValueError, ZeroDivisionError, OverflowError, MemoryError) as e:
            ck.err("mesh", f"cannot estimate the mesh of the largest variant: {e}; check the [mesh] overrides")
            cells = 0
        if cells > limit:
            ck.err("mesh", f"the largest variant meshes to about {cells:,} cells, more than the limit of {limit:,}; "
                           f"raise mesh.max_lateral_size or mesh.max_vertical_size, lower mesh.cells_per_layer, or "
                           f"set max_cells = {cells} at the top of the spec to allow it")
        elif cells * chunk > limit:
            ck.err("chunk_size", f"a chunk of {chunk} variants of about {cells:,} cells holds {cells * chunk:,} cells "
                                 f"of fields at once, more than the limit of {limit:,}; give chunk_size <= "
                                 f"{max(limit // max(cells, 1), 1)} or set max_cells = {cells * chunk}")

    x, y = "total_power_W", "max_temperature_C"
    sense = ("max", "min")
    obj = ck.table(doc.get("objectives"), "objectives", ("x", "y", "sense"))
    if obj is not None:
        cols = _columns(stack, params)
        x = ck.string(obj, "x", "objectives", default=x, choices=cols, noun="column", what="a result column")
        y = ck.string(obj, "y", "objectives", default=y, choices=cols, noun="column", what="a result column")
        s = obj.get("sense", list(sense))
        if not (isinstance(s, list) and len(s) == 2 and all(v in ("min", "max") for v in s)):
            ck.err("objectives.sense", f'expected ["min"|"max", "min"|"max"], got {show(s)}')
        else:
            sense = tuple(s)
    if ck.problems:
        raise SweepSpecError(source, ck.problems)
    return SweepSpec(name=name if name is not None else stack.name, stack=stack, parameters=tuple(params),
                     mode=mode, samples=samples, seed=seed, chunk_size=chunk, precision=precision, rtol=rtol,
                     max_iterations=max_it, mesh=tuple(mesh), objectives=(x, y), sense=sense, source=source,
                     max_variants=max_variants, max_cells=max_cells)


def load_sweep_spec(path: str | Path) -> SweepSpec:
    """Load and validate a sweep spec file (``docs/sweep-format.md``).

    Raises
    ------
    SweepSpecError
        Listing every problem with its field path, the value given and the fix (also for a file
        that cannot be read: missing, a directory, too large, not UTF-8).
    """
    p = Path(path)
    text = read_text(p, error=SweepSpecError, source=str(p), what="sweep spec")
    return loads_sweep_spec(text, source=str(p), folder=p.parent)


def _columns(stack: Stack, params: Sequence[SweepParameter]) -> list[str]:
    return ([p.label for p in params] + ["max_temperature_C", "total_power_W", "energy_residual"]
            + [f"tj_C.{c.name}" for c in stack.chiplets])


_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


def default_results_path(spec: SweepSpec, folder: str | Path = ".") -> Path:
    """A safe results path for ``spec`` when none is given: ``<folder>/<name>.jsonl``, where the
    spec's ``name`` is reduced to letters, digits, ``.``, ``_`` and ``-`` (at most 100 of them, no
    leading dot), so a name can never choose another folder (``"../x"`` gives ``x.jsonl``).

    Examples
    --------
    >>> import dataclasses
    >>> spec = loads_sweep_spec('layout = "demo"\\n[[parameters]]\\nkind = "power"\\ntarget = "logic"\\nscale = [1.0]\\n')
    >>> default_results_path(dataclasses.replace(spec, name="../../etc/cron.d/job")).as_posix()
    'etc_cron.d_job.jsonl'
    """
    stem = _SAFE_NAME.sub("_", spec.name)[:100].lstrip("._-") or "sweep"
    return Path(folder) / f"{stem}.jsonl"


# ======================================================================================
# variants
def iter_variants(spec: SweepSpec) -> Iterator[dict]:
    """The variants of the sweep, one at a time and in order: ``{label: value}`` (SI floats or
    material names). Nothing is built up front: memory stays that of one random block.

    Grid mode walks the product of every parameter's choices (the last parameter varies fastest).
    Random mode draws ``samples`` variants in blocks of :data:`RANDOM_BLOCK`: block ``b`` comes from
    ``numpy.random.default_rng([seed, b])``, uniformly among choices or over ``[low, high]``
    (log-uniformly with ``log = true``). A variant depends only on the seed and its index, so the
    keys are stable across runs, chunk sizes and backends, and raising ``samples`` keeps the
    variants drawn before.
    """
    labels = [p.label for p in spec.parameters]
    if spec.mode == "grid":
        for combo in itertools.product(*(p.choices for p in spec.parameters)):
            yield dict(zip(labels, combo))
        return
    n_blocks = -(-spec.samples // RANDOM_BLOCK)
    for b in range(n_blocks):
        rng = np.random.default_rng([spec.seed, b])
        columns = []
        for p in spec.parameters:
            if p.choices:
                idx = rng.integers(len(p.choices), size=RANDOM_BLOCK)
                columns.append([p.choices[i] for i in idx.tolist()])
            elif p.log:
                x = np.exp(rng.uniform(math.log(p.low), math.log(p.high), RANDOM_BLOCK))
                columns.append(np.clip(x, p.low, p.high).tolist())
            else:
                columns.append(np.clip(rng.uniform(p.low, p.high, RANDOM_BLOCK), p.low, p.high).tolist())
        n = min(RANDOM_BLOCK, spec.samples - b * RANDOM_BLOCK)
        for i in range(n):
            yield {lab: col[i] for lab, col in zip(labels, columns)}


def sweep_variants(spec: SweepSpec, limit: int | None = None) -> list[dict]:
    """The first ``limit`` variants (default: every one) as a list; see :func:`iter_variants`,
    which a large sweep should use instead (a list holds every variant in memory).

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
    return list(itertools.islice(iter_variants(spec), limit))


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
        hit = _MODEL_CACHE[key] = build(_geometry_stack(spec, variant), **_build_kwargs(spec))
    return hit


def _build_kwargs(spec: SweepSpec) -> dict:
    """The spec's mesh overrides and its ``max_cells`` for :func:`codesign.build`."""
    kw = dict(spec.mesh)
    if spec.max_cells is not None:
        kw["max_cells"] = spec.max_cells
    return kw


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
        raise ModelError(f"`evaluate_variants`: the variants span {len(gkeys)} geometries; group them by their "
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
_KEY = re.compile(r"[0-9a-f]{16}")


def _is_number(x) -> bool:
    """A float (a failed variant's NaN included) or an integer a float holds (not a damaged 10^400)."""
    return isinstance(x, float) or finite_real(x)


def _row(line: bytes) -> dict | None:
    """The result row on one complete line, or None when the line is damaged or not a row."""
    try:
        row = json.loads(line.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        return None
    ok = (isinstance(row, dict) and isinstance(row.get("key"), str) and _KEY.fullmatch(row["key"]) is not None
          and isinstance(row.get("params"), dict) and _is_number(row.get("max_temperature_C"))
          and _is_number(row.get("total_power_W")))
    return row if ok else None


@dataclass
class _Scan:
    rows: int = 0            # valid rows
    good_end: int = 0        # byte offset just after the last valid row
    size: int = 0            # bytes read
    damaged_inside: int = 0  # damaged lines with a valid row after them
    tail_lines: int = 0      # damaged lines after the last valid row
    tail_looks_like_row: bool = True


def _scan(fh, on_row=None) -> _Scan:
    """Read a results file line by line (binary, each line at most :data:`MAX_RESULT_LINE` bytes)."""
    sc = _Scan()
    pos = pending = 0
    looks = True
    while True:
        line = fh.readline(MAX_RESULT_LINE + 1)
        if not line:
            break
        pos += len(line)
        if not line.endswith(b"\n"):  # a torn last line, or an overlong one: skip to its end
            while len(line) > MAX_RESULT_LINE:
                line = fh.readline(MAX_RESULT_LINE + 1)
                pos += len(line)
                if not line or line.endswith(b"\n"):
                    break
            pending += 1
            looks = False
            continue
        if not line.strip():
            continue
        row = _row(line)
        if row is None:
            if not pending:
                looks = line.lstrip().startswith(b"{")
            pending += 1
            continue
        sc.damaged_inside += pending
        pending = 0
        sc.rows += 1
        sc.good_end = pos
        if on_row is not None:
            on_row(row)
    sc.size, sc.tail_lines, sc.tail_looks_like_row = pos, pending, looks or pending == 0
    return sc


def _why(e: OSError) -> str:
    return e.strerror or str(e)


def read_results(path: str | Path) -> list[dict]:
    """The result rows of a results JSONL file ([] when it does not exist).

    Damaged lines (a torn last line from an interrupted run, invalid UTF-8, anything that is not a
    result row) are skipped; :func:`run_sweep` with ``resume=True`` reports and cuts off a damaged
    tail.

    Raises
    ------
    ResultsFileError
        When the file exists but cannot be read (a folder, no permission, an I/O error).
    """
    p = Path(path)
    rows: list[dict] = []
    try:
        if not stat.S_ISREG(os.stat(p).st_mode):  # before opening: a FIFO would block the open
            raise ResultsFileError(f"{p} is not a regular file; give the path of a results (.jsonl) file")
        with open(p, "rb") as fh:
            _scan(fh, rows.append)
    except FileNotFoundError:
        return []
    except OSError as e:
        raise ResultsFileError(f"{p}: cannot read the results file: {_why(e)}") from None
    return rows


def flatten_row(row: dict) -> dict:
    """A result row as flat columns: parameter labels, ``tj_C.<chiplet>``, and the scalars."""
    out = dict(row.get("params", {}))
    out.update({f"tj_C.{k}": v for k, v in row.get("tj_C", {}).items()})
    for k in ("max_temperature_C", "total_power_W", "energy_residual", "converged", "iterations", "key"):
        if k in row:
            out[k] = row[k]
    return out


class _ResultsFile:
    """The one writer of a results file: an advisory lock held from open to close (the holder's pid in
    ``<file>.lock``), whole chunks appended with one write on an ``O_APPEND`` descriptor and synced,
    a damaged tail cut off on resume, and every I/O error one :class:`ResultsFileError` that says what
    the file keeps."""

    def __init__(self, path: Path, *, resume: bool):
        self.path = path
        self.rows = 0              # complete rows in the file
        self.written = 0           # rows appended by this run
        self.keys: set[int] = set()
        self.notes: list[str] = []
        self.fd: int | None = None
        self._lockfile: Path | None = None
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise ResultsFileError(f"{path}: cannot create the folder {path.parent}: {_why(e)}; nothing was written. "
                                   "Give a results file in a writable folder (-o)") from None
        flags = os.O_RDWR | os.O_APPEND | os.O_CREAT | getattr(os, "O_CLOEXEC", 0) | (0 if resume else os.O_EXCL)
        try:
            self.fd = os.open(path, flags, 0o644)
        except FileExistsError:
            raise FileExistsError(f"`run_sweep`: {path} exists; pass resume=True (`--resume`) to continue it, or "
                                  f"choose another output file") from None
        except OSError as e:
            raise ResultsFileError(f"{path}: cannot open the results file for writing: {_why(e)}; nothing was "
                                   "written. Give a writable results file (-o)") from None
        try:
            if not stat.S_ISREG(os.fstat(self.fd).st_mode):
                raise ResultsFileError(f"{path} is not a regular file; give the path of a results (.jsonl) file")
            self._lock()
            if resume:
                self._resume()
        except BaseException:
            self.close()
            raise

    def _lock(self) -> None:
        if fcntl is None:  # pragma: no cover - not POSIX
            return
        try:
            fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise ResultsFileError(f"{self.path} is being written by another sweep ({self._owner()}); wait for it to "
                                   "finish, or give another results file (-o)") from None
        except OSError as e:  # a file system without locks
            self.notes.append(f"{self.path}: cannot be locked ({_why(e)}); make sure no other sweep writes to it")
            return
        lockfile = self.path.with_name(self.path.name + ".lock")
        note = f"pid {os.getpid()} on {socket.gethostname()}, since {time.strftime('%Y-%m-%d %H:%M:%S')}\n"
        try:  # a note for the next writer; never through a symbolic link
            fd = os.open(lockfile, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_NOFOLLOW", 0)
                         | getattr(os, "O_CLOEXEC", 0), 0o644)
            try:
                os.write(fd, note.encode())
            finally:
                os.close(fd)
            self._lockfile = lockfile
        except OSError:
            pass

    def _owner(self) -> str:
        try:
            with open(self.path.with_name(self.path.name + ".lock"), "rb") as fh:
                text = fh.read(200).decode("utf-8", "replace").strip()
        except OSError:
            text = ""
        return text if text.startswith("pid ") else "another process"

    def _resume(self) -> None:
        try:
            with open(self.fd, "rb", closefd=False) as fh:
                fh.seek(0)
                sc = _scan(fh, lambda r: self.keys.add(int(r["key"], 16)))
        except OSError as e:
            raise ResultsFileError(f"{self.path}: cannot read the results file: {_why(e)}") from None
        self.rows = sc.rows
        if sc.rows == 0 and sc.tail_lines and (sc.tail_lines > 1 or not sc.tail_looks_like_row):
            raise ResultsFileError(f"{self.path} is not a sweep results file (no result row in its {sc.size:,} "
                                   "bytes); it was left as it is. Give another results file (-o), or delete it to "
                                   "start afresh")
        if sc.damaged_inside:
            self.notes.append(f"{self.path}: skipped {sc.damaged_inside} damaged line(s) between result rows "
                              "(left in place)")
        if sc.tail_lines:
            try:
                os.ftruncate(self.fd, sc.good_end)
            except OSError as e:
                raise ResultsFileError(f"{self.path}: cannot cut off its damaged last line: {_why(e)}; the file "
                                       f"keeps {sc.rows:,} rows") from None
            self.notes.append(f"{self.path}: kept {sc.rows:,} rows; cut off a damaged tail of "
                              f"{sc.size - sc.good_end:,} bytes ({sc.tail_lines} line(s): a torn or unreadable "
                              "last line from an interrupted run)")

    def append(self, rows: Sequence[dict]) -> None:
        """Append ``rows`` in one write and sync; on an error the file is cut back to its last whole row."""
        if not rows:
            return
        data = "".join(json.dumps(r, sort_keys=True) + "\n" for r in rows).encode()
        start = None
        try:
            start = os.fstat(self.fd).st_size
            view = memoryview(data)
            while view:
                n = os.write(self.fd, view)
                if n <= 0:
                    raise OSError(28, "no space left on device")
                view = view[n:]
            os.fsync(self.fd)
        except OSError as e:
            if start is not None:
                try:
                    os.ftruncate(self.fd, start)   # no torn row is left behind
                except OSError:
                    pass
            raise ResultsFileError(f"{self.path}: cannot write the results: {_why(e)}; the file keeps "
                                   f"{self.rows:,} complete rows ({self.written:,} from this run) and not the "
                                   f"{len(rows)} of the chunk being written. Free space or fix the folder's "
                                   "permissions, then run again with --resume") from None
        self.rows += len(rows)
        self.written += len(rows)

    def close(self) -> None:
        if self.fd is None:
            return
        if self._lockfile is not None:  # removed while the lock is held: never another writer's file
            try:
                self._lockfile.unlink()
            except OSError:
                pass
        try:
            os.close(self.fd)   # releases the lock
        finally:
            self.fd = None


class _Progress:
    def __init__(self, total: int, stream, counts: dict, label: str = "sweep"):
        self.total, self.solved, self.stream, self.counts, self.label = total, 0, stream, counts, label
        self.t0 = time.perf_counter()

    def update(self, n: int) -> None:
        self.solved += n
        if self.stream is None:
            return
        skipped = self.counts["skipped"]
        dt = time.perf_counter() - self.t0
        rate = self.solved / dt if dt > 0 else float("nan")
        left = max(self.total - self.solved - skipped, 0)
        eta = left / rate if rate > 0 else float("nan")
        eta_s = f"{int(eta // 3600)}:{int(eta % 3600 // 60):02d}:{int(eta % 60):02d}" if math.isfinite(eta) else "?"
        end = "\r" if getattr(self.stream, "isatty", lambda: False)() and left else "\n"
        done = f" ({skipped} already done)" if skipped else ""
        self.stream.write(f"{self.label}: {self.solved + skipped}/{self.total} variants{done}, {rate:.2f} variants/s, "
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
        Variants found in the file already (resume), and repeated draws of a random sweep.
    seconds : float
        Wall-clock seconds of this run.
    notes : list of str
        What was found wrong with the results file and done about it (also warned).
    """

    path: Path
    rows: list
    computed: int
    skipped: int
    seconds: float
    notes: list = dataclasses.field(default_factory=list)

    @property
    def rate(self) -> float:
        """Variants per second solved in this run."""
        return self.computed / self.seconds if self.seconds > 0 else float("nan")


def _chunks(spec: SweepSpec, variants: Iterable[dict], chunk_size: int, max_open: int = 64) -> Iterator[list[dict]]:
    """Chunks of at most ``chunk_size`` variants of one geometry, cut as the variants stream in; when more
    than ``max_open`` geometries wait for variants, the fullest is sent as it is (memory stays bounded)."""
    groups: dict = {}
    for v in variants:
        key = _geometry_key(spec, v)
        g = groups.setdefault(key, [])
        g.append(v)
        if len(g) >= chunk_size:
            yield groups.pop(key)
        elif len(groups) > max_open:
            yield groups.pop(max(groups, key=lambda k: len(groups[k])))
    yield from groups.values()


def _check_chunk(spec: SweepSpec, chunk: int, where: str) -> None:
    from ..mesh import estimate_cells

    limit = spec.max_cells if spec.max_cells is not None else _cell_limit()
    cells = estimate_cells(_largest_geometry(spec.stack, spec.mesh, spec.parameters))
    if cells * chunk > limit:
        raise ModelError(f"`{where}`: a chunk of {chunk} variants of about {cells:,} cells holds {cells * chunk:,} "
                         f"cells of fields at once, more than the limit of {limit:,}; give a chunk size of at most "
                         f"{max(limit // max(cells, 1), 1)} (or raise the spec's max_cells)")


def _note(msg: str, progress) -> None:
    if progress is not None:
        progress.write(f"warning: {msg}\n")
        progress.flush()
    else:
        warnings.warn(msg, ResultsFileWarning, stacklevel=3)


def run_sweep(spec: SweepSpec, output: str | Path, *, resume: bool = False, backend: str = "local",
              scheduler: str | None = None, chunk_size: int | None = None, method: str = "auto",
              n_workers: int = 2, processes: bool = True, max_chunks: int | None = None,
              progress=sys.stderr) -> SweepResult:
    """Run a sweep, appending each finished chunk to ``output`` (JSONL).

    Variants are streamed (:func:`iter_variants`) and cut into chunks as they come, so the first
    chunk is solved at once whatever the sweep's size. One process writes ``output`` at a time.

    Parameters
    ----------
    spec : SweepSpec
    output : path
        Results file. It must not exist unless ``resume=True``; :func:`default_results_path`
        gives a safe name from the spec's.
    resume : bool
        Skip the variants whose keys are already in ``output`` and append the rest. A damaged
        tail (a torn or non-UTF-8 last line) is cut off, with a warning that says what was kept.
    backend : {"local", "dask"}
        ``local`` solves chunk after chunk here; ``dask`` submits the chunks to a
        :mod:`dask.distributed` cluster (a bounded number at a time) and writes each as it completes.
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
        Where the progress line and the results-file warnings go (stderr by default); with None the
        warnings are :class:`ResultsFileWarning`\\ s.

    Raises
    ------
    FileExistsError
        ``output`` exists and ``resume`` is False.
    ResultsFileError
        ``output`` is written by another process, is not a results file, or cannot be written (the
        message says how many rows it keeps).
    """
    if backend not in ("local", "dask"):
        raise ModelError(f"`run_sweep(backend={backend!r})`: choose 'local' or 'dask'")
    if method not in ("auto", "vmap", "loop"):
        raise ModelError(f"`run_sweep(method={method!r})`: choose 'auto', 'vmap' or 'loop'")
    chunk = spec.chunk_size if chunk_size is None else chunk_size
    if isinstance(chunk, bool) or not isinstance(chunk, int) or chunk < 1:
        raise ModelError(f"`run_sweep(chunk_size={chunk_size!r})`: give a positive whole number")
    if chunk_size is not None:
        _check_chunk(spec, chunk, f"run_sweep(chunk_size={chunk_size})")
    path = Path(output)
    if path.exists() and not resume:
        raise FileExistsError(f"`run_sweep`: {path} exists; pass resume=True (`--resume`) to continue it, "
                              f"or choose another output file")
    t0 = time.perf_counter()
    out = _ResultsFile(path, resume=resume)
    seen: set[int] = set()
    counts = {"skipped": 0}
    computed = 0
    try:
        for msg in out.notes:
            _note(msg, progress)

        def todo() -> Iterator[dict]:
            for v in iter_variants(spec):
                k = int(variant_key(spec, v), 16)
                if k in seen or k in out.keys:  # done already, or a repeated draw of a random sweep
                    counts["skipped"] += 1
                    seen.add(k)
                    continue
                seen.add(k)
                yield v

        pending = todo()
        chunks = _chunks(spec, pending, chunk)
        if max_chunks is not None:
            chunks = itertools.islice(chunks, max_chunks)
        bar = _Progress(count_variants(spec), progress, counts)
        if backend == "local":
            for c in chunks:
                rows = evaluate_variants(spec, c, method=method)
                out.append(rows)
                computed += len(rows)
                bar.update(len(rows))
        else:
            computed = _run_dask(spec, chunks, out, bar, scheduler=scheduler, method=method,
                                 n_workers=n_workers, processes=processes)
        # Stopped early (max_chunks): run the generator to its end, so that `seen` also holds the keys
        # of the variants not solved now (their rows already in the file belong to this spec).
        collections.deque(pending, maxlen=0)
    finally:
        out.close()
    rows = [r for r in read_results(path) if int(r["key"], 16) in seen]  # rows of this spec only
    return SweepResult(path=path, rows=rows, computed=computed, skipped=counts["skipped"],
                       seconds=time.perf_counter() - t0, notes=list(out.notes))


def _enable_x64() -> None:
    import jax

    jax.config.update("jax_enable_x64", True)


def _dask_chunk(spec: SweepSpec, chunk: list[dict], method: str, x64: bool) -> list[dict]:
    if x64:
        _enable_x64()
    return evaluate_variants(spec, chunk, method=method)


def _run_dask(spec, chunks, out, bar, *, scheduler, method, n_workers, processes) -> int:
    try:
        from dask.distributed import Client, LocalCluster, as_completed
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise ImportError("`run_sweep(backend='dask')` needs dask.distributed: pip install 'distributed'") from e
    import jax

    x64 = spec.dtype() == np.float64
    if x64 and not jax.config.jax_enable_x64:
        raise ModelError("`run_sweep`: the spec asks for precision = \"float64\" but jax_enable_x64 is off; "
                         "enable it (jax.config.update('jax_enable_x64', True)) or use float32")
    cluster = None
    if scheduler:
        client = Client(scheduler)
    else:
        cluster = LocalCluster(n_workers=n_workers, threads_per_worker=1, processes=processes,
                               dashboard_address=None)
        client = Client(cluster)
    computed = 0

    def write(fut) -> None:
        nonlocal computed
        rows = fut.result()
        out.append(rows)
        computed += len(rows)
        bar.update(len(rows))

    try:
        workers = len(client.scheduler_info().get("workers", {})) or n_workers
        window = max(4, 2 * workers)  # chunks in flight: the variant stream is never submitted whole
        spec_f = None
        done = as_completed()
        in_flight = 0
        for c in chunks:
            if spec_f is None:
                spec_f = client.scatter(spec, broadcast=True)
            done.add(client.submit(_dask_chunk, spec_f, c, method, x64, pure=False))
            in_flight += 1
            if in_flight >= window:
                write(next(done))
                in_flight -= 1
        for fut in done:
            write(fut)
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
    lines.append(f"coolest {len(order)} variants (max temperature degC | parameters):")
    for r in order:
        ps = ", ".join(f"{p.label} = {format_parameter(p, r[p.label])}" for p in spec.parameters)
        lines.append(f"  {r['max_temperature_C']:8.2f}  {ps}")
    return "\n".join(lines)


def format_parameter(param: SweepParameter, value) -> str:
    """A parameter's value as a user writes it: ``25 um``, ``1.5 mm``, ``120 W``, ``40 degC``,
    ``2e+04 W/m^2/K`` -> ``20,000 W/m^2/K``, ``x0.8`` for a scale, the name for a material."""
    if isinstance(value, str):
        return value
    v = float(value)
    if param.mode == "scale":
        return f"x{v:.4g}"
    qkind = PARAMETER_KINDS[param.kind][1]
    if qkind == "length":
        return f"{v * 1e6:.4g} um" if abs(v) < 1e-3 else f"{v * 1e3:.4g} mm"
    if qkind == "temperature":
        return f"{v - 273.15:.4g} degC"
    unit = {"power": "W", "conductivity": "W/m/K", "heat_transfer_coefficient": "W/m^2/K"}.get(qkind, "")
    number = f"{v:,.0f}" if 1e4 <= abs(v) < 1e9 else f"{v:.4g}"
    return f"{number} {unit}".strip()


def plot_sweep_pareto(spec: SweepSpec, rows: Sequence[dict], path) -> Path:
    """Pareto front PNG of the spec's two objectives (:func:`codesign.viz.plot_pareto`)."""
    from ..viz.plots import plot_pareto

    x, y = spec.objectives
    flat = [flatten_row(r) for r in rows]
    labels = [", ".join(format_parameter(p, r[p.label]) for p in spec.parameters if p.label in r) for r in flat]
    limits = []  # the junction limit a temperature objective is judged against (dashed line)
    for obj, axis in ((x, "x"), (y, "y")):
        lim = _tj_limit(spec.stack, obj, flat)
        if lim is not None:
            limits.append((axis, lim[0] - 273.15, lim[1]))
    return plot_pareto(flat, x, y, path, sense=spec.sense, labels=labels, limits=limits,
                       title=f"{spec.name}: {len(rows)} variants (front points labelled with their parameters)")


def _tj_limit(stack, objective: str, rows: Sequence[dict] = ()):
    """``(tj_max [K], label)`` for a temperature objective: the chiplet's limit for ``tj_C.NAME``; for
    ``max_temperature_C`` the limit of the die hottest in most variants (else the smallest limit);
    None otherwise or without limits."""
    if objective.startswith("tj_C."):
        name = objective[len("tj_C."):]
        c = next((c for c in stack.chiplets if c.name == name), None)
        return None if c is None or c.tj_max is None else (c.tj_max, f"{name} Tj,max")
    if objective == "max_temperature_C":
        limited = [c for c in stack.chiplets if c.tj_max is not None]
        hottest = [max(limited, key=lambda c: r.get(f"tj_C.{c.name}", -np.inf)).name for r in rows] if limited else []
        if hottest:
            name = max(set(hottest), key=hottest.count)
            c = next(c for c in limited if c.name == name)
            return c.tj_max, f"{name} Tj,max (the hottest die)"
        if limited:
            c = min(limited, key=lambda c: c.tj_max)
            return c.tj_max, f"lowest Tj,max ({c.name})"
    return None
