r"""Discretisation-error estimates of a steady result, and meshes refined until they meet a target.

Method (``docs/accuracy.md``)
-----------------------------
The grid of a model is coarsened by two along every axis: neighbouring cells are merged in pairs
wherever the two cells are alike (same region, material, conductivity, heat source and boundary
faces), so the coarse grid keeps every layer interface, die edge and power-block edge of the
fine one (it stays conforming, and carries the same heat). On a grid refined by
:func:`codesign.build`'s ``bisect`` every pair is a fine cell's two halves and the coarse grid is
exactly the grid the refinement started from; on a graded grid built from the layout's controls
most cells pair and the cells that cannot (a layer with one cell, an odd run) are counted in
``Accuracy.unpaired``.

For a quantity ``Q`` (a chiplet's peak and mean junction temperature, a layer's maximum) with
the fine value ``Q_1`` and the values ``Q_2``, ``Q_4`` on the two coarser grids, and the
refinement ratios ``r21``, ``r32`` of the quantity's own region (cube root of its cell-count
ratio: 2 where every cell there merged in pairs, less where a die is few cells across):

* observed order ``p`` from the three values and the two ratios (Celik et al. 2008; ``log_r``
  of the difference ratio when the ratios are equal), where the second coarsening is a real step
  (``r32 >= 1.1``), checked against the expected range :data:`ORDER_RANGE` (Q1 elements give 2
  for smooth solutions; die edges with 100-1000x conductivity jumps lower it);
* trusted (``p`` in range, values monotone): ``± 1.25 |Q_1 - Q_2| / (r21^min(p, 2) - 1)``,
  Roache's three-grid grid convergence index;
* flagged otherwise (order off, or not observable): Roache's two-grid bound with the formal
  order, ``± 3 |Q_1 - Q_2| / (r21^2 - 1)``, marked ``!``: a conservative bound that no observed
  order verified (against 4x-finer solves of the shipped layouts it covered 85 % of the chiplet
  quantities, docs/accuracy.md).

The two coarse solves use the solver of the fine one (the same discrete operator, on grids
~5-8x and ~7-25x smaller), so they add a fraction of a steady solve once compiled
(``benchmarks/accuracy.py``). With leakage each coarse grid finds its own electro-thermal
operating point, starting from the fine one's heat; with k(T) the coarse grids solve k(T) too.

:func:`meet_target` refines a model (bisection of every cell along the axes whose error
dominates: the lateral share from one solve on the grid coarsened along x and y alone) until
the largest chiplet estimate is within the target (``mesh.target_error``; default 1 % of the
largest temperature rise) or the next grid would exceed the cell budget (``mesh.max_cells``;
default :data:`DEFAULT_CELL_BUDGET`), and says which.
"""

from __future__ import annotations

import math
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace

import numpy as np

import solvers
from solvers import TensorGrid, ThermalFields
from solvers import _cache as solvers_cache
from solvers._jit import QUICK_COMPILE, compiling_with

from . import progress
from ._background import Background
from .errors import ModelError, SolveError, solve_error

__all__ = ["DEFAULT_CELL_BUDGET", "DEFAULT_TARGET_FRACTION", "EXPECTED_ORDER", "Accuracy", "ErrorEstimate",
           "coarsen", "estimate", "meet_target", "target_kelvin"]

#: Order of convergence of the Q1 elements for temperatures (smooth solution, conforming grid).
EXPECTED_ORDER = 2.0
#: Observed orders accepted as "in the asymptotic range". Below 2 on purpose: at a die edge the
#: conductivity jumps 100-1000x and the temperature gradient is singular there, so functionals
#: converge at a reduced order (measured 1.2-1.5 on the shipped layouts, docs/accuracy.md).
ORDER_RANGE = (1.0, 3.0)
#: Safety factor on a verified Richardson estimate (Roache's three-grid GCI factor, 1.25).
SAFETY = 1.25
#: Safety factor on an estimate whose observed order is off: Roache's two-grid GCI, factor 3 with
#: the formal order 2, ``3 |Q_1 - Q_2| / (2^2 - 1) = |Q_1 - Q_2|``.
FLAGGED_SAFETY = 3.0
#: Default target: this fraction of the largest temperature rise above the ambient.
DEFAULT_TARGET_FRACTION = 0.01
#: Default cell budget of :func:`meet_target`: a default solve peaks at ~0.47 GB per million cells
#: (codesign.mesh._GB_PER_CELL), so ~0.9 GB here, and takes seconds once compiled on a 2-core CPU.
DEFAULT_CELL_BUDGET = 2_000_000


@dataclass(frozen=True)
class ErrorEstimate:
    """The discretisation-error estimate of one quantity [K].

    ``value`` on the grid solved, ``coarse`` and ``coarser`` on the two coarser grids, ``error``
    the ± bound reported, ``order`` the observed order (None when it cannot be computed),
    ``trusted`` False where the observed order is off or could not be observed (``error`` is then
    Roache's two-grid index, marked "!"), ``ratio`` the refinement ratio of the quantity's own
    region between the coarse grid and the grid solved (2 where every cell there merged in pairs
    along every axis; smaller where cells stayed unpaired).
    """

    value: float
    coarse: float
    coarser: float | None
    error: float
    order: float | None
    trusted: bool
    ratio: float = 2.0

    @property
    def flag(self) -> str:
        return "" if self.trusted else "!"

    def to_dict(self) -> dict:
        return {"error_K": self.error, "observed_order": self.order, "trusted": self.trusted,
                "refinement_ratio": self.ratio}


#: A second coarsening whose ratio (in the quantity's region) is below this is too small a step to
#: observe an order from: the estimate is the two-grid one, flagged.
MIN_OBSERVABLE_RATIO = 1.1
#: A region whose cells did not coarsen at all is taken as coarsened by this ratio (the two grids
#: differ only around it): a conservative two-grid bound, flagged.
MIN_RATIO = 1.05


def _observed_order(e21: float, e32: float, r21: float, r32: float) -> float | None:
    """The observed order of three grids with ratios ``r21`` (coarse / fine) and ``r32`` (coarser /
    coarse): ``p = |ln|e32/e21| + ln((r21^p - s) / (r32^p - s))| / ln r21`` solved by fixed-point
    iteration, ``s = sign(e32/e21)`` (after Celik et al., "Procedure for estimation and reporting of
    uncertainty due to discretization in CFD applications", J. Fluids Eng. 130, 078001, 2008). With
    ``r21 = r32`` this is ``log_r(e32/e21)``. The logarithm is taken signed, not in absolute value as
    printed there, so that differences that grow with refinement give a negative order (flagged).
    None for oscillating values (``s < 0``) or when the iteration has no solution."""
    s = 1.0 if e32 / e21 > 0 else -1.0
    if s < 0:
        return None
    if abs(r21 - r32) <= 1e-12 * r21:  # equal ratios: closed form
        return math.log(e32 / e21) / math.log(r21)
    p = 2.0
    for _ in range(200):
        a, b = r21 ** p - s, r32 ** p - s
        if a <= 0 or b <= 0 or p < -50:
            return None
        new = (math.log(e32 / e21) + math.log(a / b)) / math.log(r21)  # signed: a diverging series gives p < 0
        if abs(new - p) < 1e-10:
            return new
        p = min(new, 50.0)
    return p


def richardson(q1: float, q2: float, q4: float | None, r21: float = 2.0, r32: float = 2.0) -> ErrorEstimate:
    """The estimate of ``q1`` from its values on a grid coarser by ``r21`` (``q2``) and one coarser
    again by ``r32`` (``q4``): ratios of cell size in the quantity's region (2: bisection).

    Trusted (observed order within :data:`ORDER_RANGE`, the three values monotone, ``r32`` at least
    :data:`MIN_OBSERVABLE_RATIO`): Roache's three-grid bound ``1.25 |q1 - q2| / (r21^p - 1)`` with
    ``p = min(p_obs, 2)`` (an order above the expected one is not credited). Otherwise Roache's
    two-grid bound with the formal order, ``3 |q1 - q2| / (r21^2 - 1)`` (``|q1 - q2|`` at ``r21 = 2``).
    """
    r21 = max(float(r21), MIN_RATIO)
    d12 = q1 - q2
    order = None
    if q4 is not None:
        d24 = q2 - q4
        scale = max(abs(q1), abs(q2), abs(q4), 1.0)
        if abs(d12) <= 1e-12 * scale and abs(d24) <= 1e-12 * scale:
            return ErrorEstimate(q1, q2, q4, 0.0, None, True, r21)  # the same on every grid: nothing to resolve
        if d12 != 0 and d24 != 0 and r32 >= MIN_OBSERVABLE_RATIO:
            order = _observed_order(-d12, -d24, r21, float(r32))
    trusted = order is not None and ORDER_RANGE[0] <= order <= ORDER_RANGE[1]
    if trusted:
        err = SAFETY * abs(d12) / (r21 ** min(order, EXPECTED_ORDER) - 1)
    else:
        err = FLAGGED_SAFETY * abs(d12) / (r21 ** EXPECTED_ORDER - 1)
    return ErrorEstimate(q1, q2, q4, float(err), order, trusted, r21)


# ======================================================================================
# coarsening
def _pairs(alike: np.ndarray) -> np.ndarray:
    """Kept node indices of an axis whose cells ``i, i+1`` may merge where ``alike[i]``."""
    n = alike.size + 1  # cells
    keep = [0]
    i = 0
    while i < n:
        if i + 1 < n and alike[i]:
            i += 2
        else:
            i += 1
        keep.append(i)
    return np.asarray(keep)


def _alike_arrays(arrays, axis: int, n: int) -> np.ndarray:
    """``out[i]``: cells ``i`` and ``i + 1`` along ``axis`` are equal in every array of ``arrays``."""
    ok = np.ones(n - 1, bool)
    for a in arrays:
        a = np.moveaxis(np.asarray(a), axis, 0)
        ok &= np.all((a[1:] == a[:-1]).reshape(n - 1, -1), axis=1)
    return ok


def _alike(grid: TensorGrid, fields: ThermalFields, axis: int) -> np.ndarray:
    """``out[i]``: cells ``i`` and ``i + 1`` along ``axis`` hold the same material, region, heat and faces."""
    n = grid.shape[axis]
    ok = _alike_arrays([grid.region, grid.material, fields.kx, fields.ky, fields.kz, fields.source], axis, n)
    # face fields that vary along this axis: axis 0 (x) in zmin/zmax (0) and ymin/ymax (0); axis 1
    # (y) in zmin/zmax (1) and xmin/xmax (0); axis 2 (z) in xmin/xmax (1) and ymin/ymax (1)
    along = {0: {"zmin": 0, "zmax": 0, "ymin": 0, "ymax": 0}, 1: {"zmin": 1, "zmax": 1, "xmin": 0, "xmax": 0},
             2: {"xmin": 1, "xmax": 1, "ymin": 1, "ymax": 1}}[axis]
    for table in (fields.h, fields.ambient):
        for face, a in table.items():
            if face in along:
                a = np.moveaxis(np.asarray(a), along[face], 0)
                ok &= np.all((a[1:] == a[:-1]).reshape(n - 1, -1), axis=1)
    return ok


@dataclass(frozen=True)
class Coarse:
    """A coarsened problem: the grid, its fields, the kept node indices per axis and the unpaired cells."""

    grid: TensorGrid
    fields: ThermalFields
    keep: tuple
    unpaired: tuple  # per axis: fine cells left unmerged


def coarsen(grid: TensorGrid, fields: ThermalFields, axes=(0, 1, 2), *, source=None) -> Coarse:
    """The problem on the grid coarsened by two along ``axes`` (merging only alike cells, so the
    coarse grid conforms to every interface and carries the same heat).

    ``source`` (per element, W/m^3) replaces ``fields.source`` as the heat carried over (the
    dynamic heat plus leakage at an operating point); which cells are alike is decided on
    ``fields`` alone.
    """
    keep, unpaired, cells = [], [], []
    for ax in range(3):
        n = grid.shape[ax]
        if ax in axes and n > 1:
            k = _pairs(_alike(grid, fields, ax))
        else:
            k = np.arange(n + 1)
        keep.append(k)
        widths = np.diff(k)
        unpaired.append(int(np.sum(widths == 1)) if ax in axes else 0)
        cells.append(k[:-1])  # the first fine cell of each coarse cell
    ix = np.ix_(*cells)
    g = TensorGrid(grid.x[keep[0]], grid.y[keep[1]], grid.z[keep[2]], grid.region[ix], grid.region_names,
                   grid.material[ix], grid.material_names)
    face_axes = {"xmin": (1, 2), "xmax": (1, 2), "ymin": (0, 2), "ymax": (0, 2), "zmin": (0, 1), "zmax": (0, 1)}

    def face(name, a):
        a0, a1 = face_axes[name]
        return np.asarray(a)[np.ix_(cells[a0], cells[a1])]

    # heat: summed over the merged cells (identical densities where the cells were alike; a
    # source that varies cell by cell, as leakage does, is averaged and its total kept)
    heat = np.asarray(source if source is not None else fields.source) * grid.cell_volumes()
    for ax in range(3):
        heat = np.add.reduceat(heat, keep[ax][:-1], axis=ax)
    f = ThermalFields(kx=np.asarray(fields.kx)[ix], ky=np.asarray(fields.ky)[ix], kz=np.asarray(fields.kz)[ix],
                      heat_capacity=np.asarray(fields.heat_capacity)[ix], source=heat / g.cell_volumes(),
                      h={k: face(k, v) for k, v in fields.h.items()},
                      ambient={k: face(k, v) for k, v in fields.ambient.items()})
    return Coarse(g, f, tuple(keep), tuple(unpaired))


def quantities(model, grid: TensorGrid, temperature) -> dict:
    """The reported quantities [K] of a nodal temperature on ``grid`` (``model``'s or a coarsening):
    ``("junction", chiplet)``, ``("mean", chiplet)`` and ``("layer_max", layer)``."""
    stats = solvers.region_statistics(grid, np.asarray(temperature, dtype=float))
    out = {}
    for chip, region in model.chiplet_regions.items():
        if region in stats:
            out[("junction", chip)] = stats[region]["max"]
            out[("mean", chip)] = stats[region]["mean"]
    for layer in model.stack.layers:
        vals = [s["max"] for name, s in stats.items() if name == layer.name or name.startswith(layer.name + "/")]
        if vals:
            out[("layer_max", layer.name)] = max(vals)
    return out


# ======================================================================================
# the estimate of a solved model
@dataclass(frozen=True)
class Accuracy:
    """Discretisation-error estimates of a steady result (see the module docstring).

    Attributes
    ----------
    estimates : dict
        ``(kind, name) -> ErrorEstimate`` for ``kind`` in ``"junction"``, ``"mean"`` (chiplets)
        and ``"layer_max"`` (layers) [K].
    cells : tuple
        Cells of the grid solved and of its two coarsenings.
    unpaired : tuple
        Cells per axis (x, y, z) of the grid solved that could not pair with a neighbour (a
        layer with one cell, an odd run): where the coarsening is not a uniform factor of two.
    target : float or None
        The error target [K] (None: no target asked for).
    target_note : str
        How the target was set.
    met : bool or None
        Whether the largest chiplet estimate is within the target.
    history : tuple
        The grids tried by :func:`meet_target`: dicts of cells, shape, largest estimate and seconds.
    stop : str
        Why refinement stopped ("met", "cell budget", "not refined").
    seconds : float
        Wall time of the estimate (the coarse solves).
    """

    estimates: dict
    cells: tuple
    unpaired: tuple
    target: float | None = None
    target_note: str = ""
    met: bool | None = None
    history: tuple = ()
    stop: str = "not refined"
    seconds: float = 0.0

    def get(self, kind: str, name: str) -> ErrorEstimate | None:
        return self.estimates.get((kind, name))

    @property
    def chiplet_error(self) -> float:
        """The largest ± of the chiplet junction and mean temperatures [K]."""
        errs = [e.error for (k, _), e in self.estimates.items() if k in ("junction", "mean")]
        return max(errs) if errs else 0.0

    @property
    def flagged(self) -> tuple:
        """The quantities whose observed order is off (their ± is the two-grid index, not to be trusted)."""
        return tuple(f"{k} {n}" for (k, n), e in self.estimates.items() if not e.trusted)

    def summary(self) -> str:
        """One line: the largest ±, the target and whether it was met, flags."""
        parts = [f"largest chiplet error ± {self.chiplet_error:.2g} K on the mesh of {self.cells[0]:,} cells "
                 f"(Richardson with its grids coarsened to {self.cells[1]:,} and {self.cells[2]:,} cells)"]
        if self.target is not None:
            state = "met" if self.met else "NOT met"
            parts.append(f"target {self.target:.3g} K ({self.target_note}) {state} on this mesh"
                         + (f"; stopped: {self.stop}" if self.stop not in ("met", "not refined") else "")
                         + ("; refine: --accuracy (accuracy=True) or a smaller max_lateral_size"
                            if not self.met and self.stop == "not refined" else ""))
        if self.history and len(self.history) > 1:
            parts.append("refined " + " -> ".join(f"{h['cells']:,}" for h in self.history) + " cells")
        if self.flagged:
            parts.append(f"order not verified for {len(self.flagged)} quantities (!: Roache's two-grid bound, no observed "
                         "order in range; refine to check)")
        return "; ".join(parts)

    def to_dict(self) -> dict:
        return {
            "method": ("Richardson extrapolation from two coarsened grids, with each quantity's own refinement ratio "
                       "(Roache's GCI; docs/accuracy.md)"),
            "cells": list(self.cells), "unpaired_cells_xyz": list(self.unpaired),
            "target_K": self.target, "target": self.target_note, "met": self.met, "stop": self.stop,
            "largest_chiplet_error_K": self.chiplet_error,
            "layer_max": {n: {"value_C": e.value - 273.15, **e.to_dict()}
                          for (k, n), e in self.estimates.items() if k == "layer_max"},
            "flagged": list(self.flagged), "history": [dict(h) for h in self.history], "seconds": self.seconds,
        }


#: Relative residual to which the coarse grids are solved. Their solutions only enter through the
#: differences of quantities between grids (the discretisation error, >= ~0.005 K on the shipped
#: layouts), so they need not be solved to the model's 1e-8: on demo, b200_cowos_l and
#: ponte_vecchio, 1e-6 moves every coarse quantity by <= 4.4e-6 K from its 1e-8 value (1e-5: up to
#: 1.2e-4 K) and takes 25-30 % fewer CG iterations (benchmarks/RESULTS.md).
COARSE_RTOL = 1e-6


def _coarse_solver(solver):
    """The solver of the coarse grids: ``solver`` (default :class:`solvers.MultigridCG`) with its
    relative tolerance loosened to :data:`COARSE_RTOL` where it is tighter."""
    solver = solvers.MultigridCG() if solver is None else solver
    rtol = getattr(solver, "rtol", None)
    if isinstance(rtol, float) and rtol < COARSE_RTOL:
        solver = replace(solver, rtol=COARSE_RTOL)
    return solver


def _solve(solver, grid, fields, kt=None, initial=None, state=None, relative_to_load=False, throw=True):
    """A solve of a coarse grid; its programs compile quickly (:data:`solvers._jit.QUICK_COMPILE`)."""
    try:
        with compiling_with(QUICK_COMPILE):
            if kt is not None:
                sol = solver.solve_nonlinear(grid, fields, k_exponent=kt[0], reference_temperature=kt[1])
            else:
                sol = solver.solve(grid, fields, initial_temperature=initial, state=state,
                                   relative_to_load=relative_to_load, throw=throw)
            return np.asarray(sol.temperature, dtype=float)
    except solvers.SolveError as e:
        raise solve_error(e) from e


def _init(solver, grid, fields):
    """``solver.init(grid, fields)``: the set-up every solve of one operator can share (a coarse grid's:
    its program compiles quickly, :data:`solvers._jit.QUICK_COMPILE`)."""
    try:
        with compiling_with(QUICK_COMPILE):
            return solver.init(grid, fields)
    except solvers.SolveError as e:
        raise solve_error(e) from e


def _numpy_fields(fields: ThermalFields) -> ThermalFields:
    return ThermalFields(**{k: (np.asarray(v) if k not in ("h", "ambient") else {f: np.asarray(a) for f, a in v.items()})
                            for k, v in vars(fields).items()})


#: Leakage on a coarse grid: fixed-point iterations stop when the largest change of the nodal
#: temperature is below this [K] ...
LEAKAGE_TOLERANCE = 1e-4
#: ... or when the remaining error, ``step * rho / (1 - rho)`` with ``rho`` the ratio of the last two
#: steps (the loop gain of the leakage feedback, ~0.1 on the shipped layouts), is below this
#: fraction of the largest change of a chiplet quantity between the grid solved and this one (the
#: change the estimate measures).
LEAKAGE_FRACTION = 0.01
#: ... or after this many iterations (a :class:`codesign.SolveError` then: the coarse grid is close to runaway).
LEAKAGE_ITERATIONS = 50


class _Chain:
    """The grids coarsened from a model's grid, each from the one before, and the map of the
    model's elements to each (so per-element data of the model can be carried down exactly)."""

    def __init__(self, model, fields: ThermalFields, axes, levels: int, source=None):
        self.model, self.levels = model, []
        #: per level, the solver's set-up of that grid (``solver.init``), where one was made (:class:`Started`)
        self.states: list | None = None
        g, f = model.grid, fields
        keep = [np.arange(n + 1) for n in model.grid.shape]
        for _ in range(levels):
            c = coarsen(g, f, axes)  # pairs decided on the model's fields at every level (not on a carried heat)
            keep = [k[c_k] for k, c_k in zip(keep, c.keep)]  # the model's node indices of the coarse nodes
            g, f = c.grid, c.fields
            self.levels.append((c, tuple(keep)))
        if source is not None:
            self.levels = self._carried(source)

    def _carried(self, source) -> list:
        """The levels with the heat ``source`` [W/m^3 per model element] (the heat solved: leakage at an
        operating point) summed onto each coarse grid; the grids themselves do not depend on it."""
        vol = np.asarray(source) * self.model.grid.cell_volumes()
        return [(replace(c, fields=c.fields.with_(source=self.restrict(keep, vol) / c.grid.cell_volumes())), keep)
                for c, keep in self.levels]

    def with_source(self, source) -> "_Chain":
        """The same coarse grids carrying the heat ``source`` (see :meth:`_carried`)."""
        out = object.__new__(_Chain)
        out.model, out.levels, out.states = self.model, self._carried(source), self.states  # same operators
        return out

    @staticmethod
    def restrict(keep, per_element_heat) -> np.ndarray:
        """Heat [W] per element of the model summed over each coarse element."""
        out = np.asarray(per_element_heat)
        for ax in range(3):
            out = np.add.reduceat(out, keep[ax][:-1], axis=ax)
        return out

    @staticmethod
    def prolong(keep, shape, coarse_elements) -> np.ndarray:
        """A coarse per-element array on the model's elements (each takes its coarse element's value)."""
        parent = [np.searchsorted(keep[ax], np.arange(shape[ax]), side="right") - 1 for ax in range(3)]
        return np.asarray(coarse_elements)[np.ix_(*parent)]


def _coarse_temperature(chain: _Chain, level: int, params, solver, *, kt=None, leakage: bool = False,
                        dynamic=None, fine: dict | None = None, fine_temperature=None,
                        contraction: float | None = None) -> np.ndarray:
    """The nodal temperature on coarse grid ``level`` of ``chain``: the same problem as the model's.

    ``leakage``: the coarse grid finds its own electro-thermal operating point (fixed-point
    iterations from the model's operating-point heat, which the chain carries as its source),
    as :func:`codesign.electrothermal.solve_coupled` would on that grid; ``dynamic`` is the
    model's dynamic heat [W/m^3] per element, ``fine`` its quantities (:func:`quantities`): the
    iterations stop when a step is below :data:`LEAKAGE_TOLERANCE` or the remaining error is
    below :data:`LEAKAGE_FRACTION` of the largest change of a chiplet quantity from ``fine``.
    """
    c, keep = chain.levels[level]
    made = None if chain.states is None else chain.states[level]  # set up beside the model's solve (Started)
    if not leakage:
        if kt is None and fine_temperature is not None:
            # linear: start from the fine solution at the coarse nodes (every coarse node is a fine
            # node), which is within the discretisation error of the coarse one, and stop at the
            # tolerance relative to the load, as from nothing: fewer CG iterations, the same answer
            # to the tolerance
            start = np.asarray(fine_temperature, dtype=float)[np.ix_(*keep)]
            return _solve(solver, c.grid, c.fields, initial=start, state=made, relative_to_load=True)
        return _solve(solver, c.grid, c.fields, kt)
    # one set-up of the grid's multigrid hierarchy for every solve of the loop (the heat changes, the
    # operator does not): the same two programs as a solve without one (set-up, then the solve), the
    # set-up run once instead of once per iteration (h100_cowos_s: estimate 0.66 -> 0.48 s under load)
    state = made if made is not None else _init(solver, c.grid, c.fields)
    # every solve of the loop starts from a field (the first from the fine solution at the coarse nodes), so the
    # loop runs one compiled program per grid, not two (one without and one with a start: 2 fewer programs to
    # load per run, ~0.3-0.5 s each warm, seconds cold); a start does not change what CG converges to. Each
    # stops at COARSE_RTOL of the whole load, as the linear coarse solves do, not of the (small) residual
    # of its start: a fixed-point update from the last field starts close to its answer, and measured
    # against its own start residual it was solved ~100x deeper than the grid's answer needs (h100_cowos_s:
    # 137 -> 65 CG iterations over both grids, every ± within 6e-6 K of the deeper solves)
    start = None if fine_temperature is None else np.asarray(fine_temperature, dtype=float)[np.ix_(*keep)]
    t = _solve(solver, c.grid, c.fields, initial=start, state=state, relative_to_load=start is not None)
    model = chain.model
    vol, cvol = model.grid.cell_volumes(), c.grid.cell_volumes()
    dyn = chain.restrict(keep, np.asarray(dynamic) * vol) / cvol
    last = None
    for _ in range(LEAKAGE_ITERATIONS):
        t_elem = chain.prolong(keep, model.grid.shape, solvers.element_mean(t))
        q, _ = model.leakage_source(params, t_elem)
        source = dyn + chain.restrict(keep, np.asarray(q) * vol) / cvol
        new = _solve(solver, c.grid, c.fields.with_(source=source), initial=t, state=state, relative_to_load=True)
        step = float(np.max(np.abs(new - t)))
        t = new
        if step < LEAKAGE_TOLERANCE:
            return t
        # the contraction of the loop: measured from two steps, or before that the fine grid's own (the same
        # feedback on a slightly different grid: `contraction`, from the fine electro-thermal solve)
        rho = step / last if (last is not None and step < last) else (
            contraction if last is None and contraction is not None and 0 < contraction < 0.5 else None)
        if fine and rho is not None:
            q = quantities(model, c.grid, t)
            change = max((abs(q[k] - v) for k, v in fine.items() if k[0] in ("junction", "mean") and k in q),
                         default=0.0)
            if step * rho / (1 - rho) < LEAKAGE_FRACTION * change:
                return t
        last = step
    raise SolveError(f"accuracy estimate: the leakage operating point on the coarse grid of {c.grid.n_elements:,} "
                     f"cells did not converge in {LEAKAGE_ITERATIONS} iterations (last change {step:.3g} K); the "
                     "package is close to thermal runaway on that grid")


def _kt_chain(model, chain: _Chain):
    """k(T) exponents and reference temperatures on each coarse grid of ``chain``."""
    out = []
    for c, keep in chain.levels:
        ix = np.ix_(*(k[:-1] for k in keep))
        out.append((np.asarray(model.k_exponent)[ix], np.asarray(model.reference_temperature)[ix]))
    return out


def _quantity_regions(model) -> dict:
    """The regions each quantity of :func:`quantities` is taken over."""
    names = model.grid.region_names
    out = {}
    for chip, region in model.chiplet_regions.items():
        out[("junction", chip)] = out[("mean", chip)] = [region]
    for layer in model.stack.layers:
        out[("layer_max", layer.name)] = [n for n in names if n == layer.name or n.startswith(layer.name + "/")]
    return out


def _ratios(model, grids) -> dict:
    """Per quantity, the refinement ratios ``(r21, r32)`` between the grids (fine first) in the
    quantity's own regions: ``(N_fine / N_coarse)^(1/3)`` of their cell counts, the ratio of the
    representative cell size ``h = (V / N)^(1/3)`` (Celik et al. 2008). 2 where every cell there
    merged in pairs along every axis; less where a die is too few cells across to pair."""
    index = {n: i for i, n in enumerate(model.grid.region_names)}
    counts = [np.bincount(np.asarray(g.region).ravel(), minlength=len(index)) for g in grids]
    out = {}
    for key, regions in _quantity_regions(model).items():
        ids = [index[r] for r in regions if r in index]
        n = [float(sum(c[i] for i in ids)) for c in counts]
        if ids and all(v > 0 for v in n):
            out[key] = ((n[0] / n[1]) ** (1 / 3), (n[1] / n[2]) ** (1 / 3))
    return out


#: Tolerance of the warm-up solves of :class:`Started`: a few iterations that only get the coarse
#: grids' programs ready (their answers are not used).
WARM_UP_RTOL = 0.5
#: (node shape, solver) of the coarse grids whose programs this process has made ready.
_WARMED: set = set()


class Started:
    """The coarse grids of a linear estimate and their programs, made ready in a background thread
    (:func:`start`)."""

    def __init__(self, model, params, solver):
        self.model, self.params, self.solver = model, params, solver
        self._done = threading.Event()
        self._result = self._error = None
        self._counts = solvers_cache.zeroed()  # this thread's programs (read by result(), then added to BACKGROUND)
        # a daemon thread, waited for at exit (an exit while it is inside XLA would abort the process)
        self._background = Background(self._run, name="codesign-accuracy-estimate")
        self._background.start()

    def _run(self):
        try:
            with solvers_cache.counting(self._counts):  # its compile time is not the main thread's solve stage's
                fields = _numpy_fields(self.model.fields(self.params))
                chain = _Chain(self.model, fields, (0, 1, 2), 2)
                # the programs the coarse solves will run (set-up, and a solve from a start field
                # measured against the load), loaded or compiled now by a solve to a loose tolerance;
                # each grid's set-up (it depends on the conductivities only) made here too, so the
                # coarse solves after the model's run CG only (demo: ~0.03 s of each grid's ~0.06 s)
                warm = replace(self.solver, rtol=WARM_UP_RTOL) if isinstance(getattr(self.solver, "rtol", None),
                                                                             float) else self.solver
                states = []
                for c, _ in chain.levels:
                    if self._background.cancelled.is_set():  # the process is exiting: the solves would not run
                        break
                    state = _init(self.solver, c.grid, c.fields)
                    key = (tuple(c.grid.node_shape), repr(warm))  # programs are per node counts and options
                    if key not in _WARMED:  # once per process: afterwards they are in memory
                        _solve(warm, c.grid, c.fields, initial=np.zeros(c.grid.node_shape), state=state,
                               relative_to_load=True, throw=False)
                        _WARMED.add(key)
                    states.append(state)
                chain.states = states if len(states) == len(chain.levels) else None
                self._result = chain
        except BaseException as e:  # noqa: BLE001 - handed to the thread that asks for the result
            self._error = e
        finally:
            with solvers_cache.background():
                solvers_cache.add_parallel([self._counts])
            self._done.set()

    def result(self):
        """The coarse grids (a ``_Chain``), their programs ready; re-raises what the thread raised."""
        if not self._done.is_set() and self._counts["traced"]:
            progress.compiling("the coarse grids' programs")  # a first run on this mesh size waits for them
        self._done.wait()
        if self._error is not None:
            raise self._error
        return self._result


def start(model, params=None, *, solver=None) -> Started:
    """Make the two coarse grids of the default estimate of a steady solve of ``model`` (linear, or
    with leakage at an electro-thermal operating point; not k(T)) and get their programs ready
    (loaded or compiled) in a background thread, beside the solve of the model itself. Pass the
    result to :func:`attach_estimate` (``started=``): the coarse solves then run after the model's,
    from its solution (fewer iterations than from nothing, measured faster warm than running them
    beside it), with no program left to compile (cold, the compiles overlap the model's own on the
    2-core machine; benchmarks/RESULTS.md). With leakage, the grids take the operating point's heat
    when the estimate runs (the grids do not depend on it) and each finds its own operating point
    with the same programs."""
    p = model.params if params is None else params
    return Started(model, p, _coarse_solver(solver))


def _both(solve) -> list:
    """``[solve(0), solve(1)]``: the two coarse grids, solved at the same time on two threads.

    The two solves are independent, and on grids this small (1/6 and 1/11 of the model's cells) a
    CG iteration is bound by the overhead of its many small kernels, which one core runs, not by
    arithmetic: on two threads the second grid's solve runs on the otherwise idle core (the
    estimate's wall time on the idle 2-core machine: benchmarks/RESULTS.md). Each thread runs the
    same program on the same inputs as a sequential loop would, so the answers are identical; an
    error in either is raised here. Programs loaded or compiled on the two threads are counted
    in this thread's stage, their compile times as overlapping (:func:`solvers._cache.add_parallel`)."""
    counts = [solvers_cache.zeroed() for _ in range(2)]

    def run(i):
        with solvers_cache.counting(counts[i]):
            return solve(i)

    try:
        with ThreadPoolExecutor(max_workers=2, thread_name_prefix="codesign-coarse-grid") as pool:
            futures = [pool.submit(run, i) for i in range(2)]
            return [f.result() for f in futures]
    finally:
        solvers_cache.add_parallel(counts)


def estimate(model, params, temperature, *, source=None, solver=None, axes=(0, 1, 2),
             temperature_dependent: bool = False, leakage: bool = False,
             contraction: float | None = None, started: Started | None = None) -> Accuracy:
    """Richardson estimates of ``model``'s quantities at ``temperature`` (the solve of ``params``).

    The two coarse grids solve the problem solved on the model's grid: ``temperature_dependent``
    (k(T), Picard) and ``leakage`` (each grid finds its own electro-thermal operating point,
    starting from the heat of the model's, ``source``) as the model's solve did. ``source`` (per
    element, W/m^3): the heat solved when it is not ``model.fields(params).source`` (with
    ``leakage``: the dynamic heat plus the leakage at ``temperature``, :func:`solved_source`).
    ``solver``: the solver of the coarse grids (default :class:`solvers.MultigridCG`; a tolerance
    tighter than :data:`COARSE_RTOL` is loosened to it). ``axes``:
    the axes coarsened (all three by default). ``contraction``: the contraction of the model's own
    electro-thermal fixed point (``report.solver["contraction"]``): with it a coarse grid's loop may
    stop after its first update instead of measuring its own contraction from two. ``started``: the
    coarse grids made, and their programs made ready, beside the model's solve (:func:`start`; on
    all three axes, without k(T); with ``leakage`` the grids carry ``source``).
    """
    t0 = time.perf_counter()
    q1 = quantities(model, model.grid, temperature)
    if leakage and source is None:
        raise ModelError("`estimate(leakage=True)` needs the operating-point heat as `source` (see `solved_source`)")
    fields = _numpy_fields(model.fields(params)) if (leakage or started is None) else None
    if started is not None:
        if temperature_dependent or tuple(axes) != (0, 1, 2) or started.model is not model \
                or started.params is not params:
            raise ModelError("`estimate(started=...)`: the started coarse grids are those of this model and params "
                             "on all three axes, without k(T); start them with `accuracy.start(model, params)`")
        chain = started.result()
        if source is not None:
            chain = chain.with_source(source)
        solver = started.solver  # the coarse solver whose programs the thread made ready
    else:
        solver = _coarse_solver(solver)
        chain = _Chain(model, fields, axes, 2, source=source)
    kt = _kt_chain(model, chain) if temperature_dependent else [None, None]
    temps = _both(lambda i: _coarse_temperature(chain, i, params, solver, kt=kt[i], leakage=leakage,
                                                dynamic=None if fields is None else fields.source, fine=q1,
                                                fine_temperature=temperature, contraction=contraction))
    q2, q4 = (quantities(model, chain.levels[i][0].grid, temps[i]) for i in range(2))
    ratio = _ratios(model, [model.grid] + [c.grid for c, _ in chain.levels])
    est = {k: richardson(q1[k], q2[k], q4.get(k), *ratio.get(k, (2.0, 2.0))) for k in q1 if k in q2}
    c1, c2 = chain.levels[0][0], chain.levels[1][0]
    return Accuracy(estimates=est, cells=(model.grid.n_elements, c1.grid.n_elements, c2.grid.n_elements),
                    unpaired=c1.unpaired, seconds=time.perf_counter() - t0)


def solved_source(report) -> np.ndarray | None:
    """The heat [W/m^3] per element a report solved when it differs from its fields' (leakage), else None."""
    if not report.leakage:
        return None
    model, params = report.model, report.params
    leak, _ = model.leakage_source(params, np.asarray(solvers.element_mean(np.asarray(report.temperature, dtype=float))))
    return np.asarray(model.fields(params).source) + np.asarray(leak)


def solved_temperature_dependent(report) -> bool:
    """Whether ``report`` was solved with k(T) (Picard iterations > 0).

    Every solution carries ``nonlinear_iterations`` (0 for a linear solve), so the key's presence
    says nothing: testing for it made the coarse grids of every linear and electro-thermal result
    solve k(T), a different problem, 1.6 K hotter on h100_cowos_s (fixed 2026-11-30).
    """
    return int(report.solver.get("nonlinear_iterations") or 0) > 0


def target_kelvin(stack, report) -> tuple[float, str]:
    """The error target [K] of ``stack`` for ``report`` and how it was set."""
    m = stack.mesh
    absolute = getattr(m, "target_error", None)
    if absolute is not None:
        return float(absolute), f"mesh.target_error {absolute:.3g} K"
    fraction = getattr(m, "target_fraction", None)
    frac = DEFAULT_TARGET_FRACTION if fraction is None else fraction
    ambients = [float(np.min(np.asarray(v))) for face, v in report.params.ambient.items()
                if float(report.params.h[face]) > 0] or [float(np.min(np.asarray(v))) for v in report.params.ambient.values()]
    rise = max(report.max_temperature - min(ambients), 0.0)
    how = "default" if fraction is None else "mesh.target_error"
    return frac * rise, f"{how}: {frac * 100:.3g} % of the largest rise {rise:.3g} K"


def with_accuracy(report, acc: Accuracy):
    """``report`` with the estimates on its chiplets and in ``report.accuracy``."""
    chips = []
    for c in report.chiplets:
        j, mn = acc.get("junction", c.name), acc.get("mean", c.name)
        chips.append(replace(c, junction_error=None if j is None else j.error,
                             mean_error=None if mn is None else mn.error,
                             error_trusted=None if j is None else (j.trusted and (mn is None or mn.trusted)),
                             junction_order=None if j is None else j.order))
    return replace(report, chiplets=tuple(chips), accuracy=acc)


def attach_estimate(report, *, solver=None, target: bool = True, started: Started | None = None):
    """``report`` with Richardson estimates of its quantities (no refinement; the target, if any, judged).
    ``started``: the coarse grids started beside the report's solve (:func:`start`), used when they
    are this report's model and params and it has no k(T) (else they are ignored and the estimate
    makes its own)."""
    source, kt, leak = solved_source(report), solved_temperature_dependent(report), bool(report.leakage)
    if started is not None and (kt or started.model is not report.model or started.params is not report.params):
        started = None
    acc = estimate(report.model, report.params, report.temperature, source=source, solver=solver,
                   temperature_dependent=kt, leakage=leak, contraction=report.solver.get("contraction"),
                   started=started)
    if target:
        t, note = target_kelvin(report.model.stack, report)
        acc = replace(acc, target=t, target_note=note, met=acc.chiplet_error <= t)
    return with_accuracy(report, acc)


def _axis_errors(report, solver) -> tuple[float, float]:
    """The largest chiplet error that the lateral axes carry and the rest (the vertical axis).

    One extra solve: the grid coarsened along x and y only; each quantity's lateral share is its
    change there scaled like the full estimate (same order and safety, with its region's lateral
    refinement ratio), the vertical share the remainder.
    """
    model, acc = report.model, report.accuracy
    fields = _numpy_fields(model.fields(report.params))
    chain = _Chain(model, fields, (0, 1), 1, source=solved_source(report))
    kt = _kt_chain(model, chain)[0] if solved_temperature_dependent(report) else None
    t = _coarse_temperature(chain, 0, report.params, _coarse_solver(solver), kt=kt,
                            leakage=bool(report.leakage), dynamic=fields.source,
                            fine=quantities(model, model.grid, report.temperature), fine_temperature=report.temperature)
    grid = chain.levels[0][0].grid
    q = quantities(model, grid, t)
    # the lateral cell-size ratio of each quantity's region: square root of its cell-count ratio (z kept)
    ratio = {k: r21 ** 1.5 for k, (r21, _) in _ratios(model, [model.grid, grid, grid]).items()}
    lateral = vertical = 0.0
    for key, e in acc.estimates.items():
        if key[0] not in ("junction", "mean") or key not in q:
            continue
        r = max(ratio.get(key, 2.0), MIN_RATIO)
        if e.trusted and e.order:  # scaled like the full estimate: its order and safety
            lat = SAFETY * abs(e.value - q[key]) / (r ** min(e.order, EXPECTED_ORDER) - 1)
        else:
            lat = richardson(e.value, q[key], None, r).error
        lateral, vertical = max(lateral, lat), max(vertical, e.error - lat)
    return lateral, vertical


#: An axis group is refined only where it carries at least this fraction of the larger share.
MIN_SHARE = 0.3


def _refine_axes(lateral: float, vertical: float, target: float, cells: int, budget: int) -> list[int]:
    """The axes to bisect next (x and y: ``[0, 1]``; z: ``[2]``; all three), or none.

    Each option's error after bisection is predicted conservatively at first order (the share of
    each bisected group halves; the observed orders of the shipped layouts are 1.2-2). The
    cheapest option predicted to meet ``target`` within ``budget`` is taken; when none is, the
    one that removes the most error per doubling of the cells. A group that carries less than
    :data:`MIN_SHARE` of the larger share is not refined on its own (it would spend the budget
    where the error is not).
    """
    top = max(lateral, vertical)
    options = []
    for axes, cost in (([0, 1], 2), ([2], 1), ([0, 1, 2], 3)):
        lat = lateral / 2 if 0 in axes else lateral
        ver = vertical / 2 if 2 in axes else vertical
        shares = ([lateral] if 0 in axes else []) + ([vertical] if 2 in axes else [])
        if cells * 2 ** cost > budget or min(shares) < MIN_SHARE * top or top <= 0:
            continue
        options.append((axes, cost, lat + ver))
    meets = [o for o in options if o[2] <= target]
    if meets:
        return min(meets, key=lambda o: (o[1], o[2]))[0]
    if not options:
        return []
    return max(options, key=lambda o: (lateral + vertical - o[2]) / o[1])[0]


def meet_target(stack, *, solve, heat_sources=(), mesh: dict | None = None, solver=None, max_cells: int | None = None):
    """A model of ``stack`` whose chiplet temperatures meet the error target, and its report.

    The first grid is the layout's own (``[mesh]``, or the overrides in ``mesh``): the default
    grid, with the default estimate (its coarse grids merge alike cells). ``solve(model) ->
    ThermalReport`` solves one model (steady or electro-thermal). While the largest chiplet
    estimate exceeds the target, the axes that carry the error (lateral, vertical or both: one
    extra solve on the grid coarsened along x and y alone) are bisected (every cell halved, so
    the coarse grid of the estimate is then exactly the grid before; where those axes together
    would exceed the budget, the axes of the larger share alone); the loop stops when the
    target is met or when the next grid would exceed the cell budget (``max_cells``, else
    ``mesh.max_cells`` of the layout, else :data:`DEFAULT_CELL_BUDGET`), and says which.
    """
    from .mesh import MAX_CELLS, with_mesh_overrides
    from .model import build

    mesh = dict(mesh or {})
    guard = mesh.pop("max_cells", None)  # the size guard of build (--max-cells), not the budget
    stack = with_mesh_overrides(stack, call="meet_target", **mesh)
    budget = max_cells or stack.mesh.max_cells or DEFAULT_CELL_BUDGET
    bisect = [0, 0, 0]
    history = []
    while True:
        t0 = time.perf_counter()
        model = build(stack, heat_sources=heat_sources, bisect=tuple(bisect),
                      max_cells=guard or (budget if budget > MAX_CELLS else None))
        report = attach_estimate(solve(model), solver=solver)
        acc = report.accuracy
        history.append({"cells": model.grid.n_elements, "shape": list(model.grid.shape), "bisect": list(bisect),
                        "largest_error_K": acc.chiplet_error, "seconds": time.perf_counter() - t0})
        if acc.met:
            stop = "met"
            break
        if model.grid.n_elements * 2 > budget:  # not even one axis can be bisected within the budget
            stop = f"cell budget {budget:,} (the next grid would have at least {model.grid.n_elements * 2:,} cells)"
            break
        lateral, vertical = _axis_errors(report, solver)
        axes = _refine_axes(lateral, vertical, acc.target, model.grid.n_elements, budget)
        if not axes:
            grow = 4 if lateral >= vertical else 2
            stop = (f"cell budget {budget:,} (bisecting the axes that carry the error would give "
                    f"{model.grid.n_elements * grow:,} cells)")
            break
        for ax in axes:
            bisect[ax] += 1
    acc = replace(report.accuracy, history=tuple(history), stop=stop)
    return model, replace(report, accuracy=acc)


# ======================================================================================
# warpage: the same estimate for the thermo-elastic solve (codesign.warpage)
@dataclass(frozen=True)
class CoarseElastic:
    """A coarsened elastic problem: the grid, its fields, its open-space elements and the kept node indices."""

    grid: TensorGrid
    fields: object  # solvers.elasticity.ElasticFields
    void: np.ndarray
    keep: tuple


def coarsen_elastic(grid: TensorGrid, fields, void, axes=(0, 1, 2)) -> CoarseElastic:
    """The elastic problem on ``grid`` coarsened by two along ``axes`` as :func:`coarsen` does the
    thermal one: cells merge in pairs where they are alike in region, material, open space and
    elastic constants (moduli, Poisson ratios), so the coarse grid keeps every layer interface and
    die edge. The free thermal strain is averaged over the merged cells (volume-weighted: the same
    at a uniform temperature, the mean of an operating field that varies cell by cell)."""
    from solvers.elasticity import ElasticFields

    E, nu, G, a = (np.asarray(x, dtype=float) for x in (fields.E, fields.nu, fields.G, fields.alpha_dT))
    void = np.zeros(grid.shape, bool) if void is None else np.asarray(void, bool)
    same = [grid.region, grid.material, void] + [c for arr in (E, nu, G) for c in arr]
    keep, cells = [], []
    for ax in range(3):
        n = grid.shape[ax]
        k = _pairs(_alike_arrays(same, ax, n)) if (ax in axes and n > 1) else np.arange(n + 1)
        keep.append(k)
        cells.append(k[:-1])
    ix = np.ix_(*cells)
    g = TensorGrid(grid.x[keep[0]], grid.y[keep[1]], grid.z[keep[2]], grid.region[ix], grid.region_names,
                   grid.material[ix], grid.material_names)
    vol, strain = grid.cell_volumes(), []
    for i in range(3):
        s = a[i] * vol
        for ax in range(3):
            s = np.add.reduceat(s, keep[ax][:-1], axis=ax)
        strain.append(s / g.cell_volumes())
    every = (slice(None),) + ix
    f = ElasticFields(E[every], nu[every], G[every], np.stack(strain))
    return CoarseElastic(g, f, void[ix], tuple(keep))


def estimate_warpage(model, params, temperature, stress_free, value: float, *, support: str = "free",
                     rtol: float = 1e-8) -> ErrorEstimate:
    """The discretisation-error estimate [m] of the signed warpage ``value`` solved on ``model``.

    The state (``temperature``: a scalar or an element field [K]; ``stress_free``: the per-element
    stress-free temperature) is solved again on the two grids :func:`coarsen_elastic` makes, and
    :func:`richardson` takes the three values with the ratio ``(N1 / N2)^(1/3)`` of solid cell
    counts (Celik et al. 2008): the same method and the same flag as the temperatures' estimates
    (docs/accuracy.md). Expected order 2 (Q1 displacements with incompatible modes, smooth field).
    """
    from types import SimpleNamespace

    from solvers.elasticity import solve_thermoelastic

    from .warpage import MAXITER, bottom_warpage, package_bottom_w, void_elements

    fields = model.elastic_fields(params, temperature=temperature, stress_free=stress_free)
    support = "free" if support == "board" else support  # a package on its board is solved free-free
    grid, void = model.grid, void_elements(model)
    counts, values = [float(np.sum(~void))], []
    for _ in range(2):
        c = coarsen_elastic(grid, fields, void)
        try:
            sol = solve_thermoelastic(c.grid, c.fields, support=support, rtol=max(rtol, COARSE_RTOL),
                                      maxiter=MAXITER, void=c.void)
        except solvers.SolveError as e:
            raise solve_error(e) from e
        shim = SimpleNamespace(grid=c.grid, stack=model.stack, layer_z=model.layer_z)
        values.append(float(bottom_warpage(shim, np.asarray(package_bottom_w(shim, sol)))[0]))
        counts.append(float(np.sum(~c.void)))
        grid, fields, void = c.grid, c.fields, c.void
    r21, r32 = ((counts[i] / counts[i + 1]) ** (1 / 3) for i in range(2))
    return richardson(float(value), values[0], values[1], r21, r32)
