r"""Package warpage and bump strain on the design model: process history plus operation.

:func:`analyse_warpage` is the front door (it mirrors :func:`codesign.analyse`). For a stack or a
:class:`codesign.Model` it solves linear thermo-elasticity (:func:`solvers.elasticity.solve_thermoelastic`,
on the model's own grid) for up to three states:

* ``room``: the package cooled from each layer's stress-free temperature (the process history,
  :class:`codesign.mechanics.ProcessStep`) to room temperature (25 degC by default);
* ``reflow``: heated to the reflow peak (260 degC by default, JEDEC J-STD-020 / JESD22-B112);
* ``operation``: at the solved temperature field of the thermal analysis (the operating point of
  :func:`codesign.analyse`), on top of the same process history (the thermal strain runs from
  each layer's stress-free temperature to the local operating temperature, so both loads are
  superposed).

The fields come from :meth:`codesign.Model.elastic_fields`, the one parameter -> mechanical-field
map, so sweeps, gradients and batches reach the mechanics as they reach the thermal solve.

Results
-------
*Warpage* is the coplanarity of the package bottom (the ball side, ``z = 0``) after removing the
least-squares best-fit plane: ``max(r) - min(r)`` of the residual ``r`` of ``u_z`` there. Its sign:
**positive ("cry", convex, dome)** when the centre of the bottom lies above its corners with the
lid up, **negative ("smile", concave, bowl)** when below. JESD22-B112 and JEITA ED-7306 also call
positive warpage convex (SMT Magazine, Aug 2015, p. 42); check which face a supplier's data are
measured on before comparing signs.

*Stresses*: peak von Mises stress at element centres per chiplet and per layer (the interposer
among them). *Bump strain*: in each bump / hybrid-bond layer (a homogenised layer), the largest
transverse shear strain ``gamma = sqrt(gamma_xz^2 + gamma_yz^2)``, where it is and its distance to
the neutral point (the centre of the layer's bump region); a bump takes its layer's shear, so this
is the corner-bump shear strain to within the homogenisation.

*On a board* (``support = "board"``, :func:`codesign.mechanics.with_board`): the ball-grid joints
and the board are appended below the package on the same design model; the warpage is still the
package bottom's (the top of the joints), and each state also gives the board's own bow and the
critical BGA ball shear strain. The reflow state is the package alone (the solder is molten).

*Solder-joint fatigue*: with the room and operating states solved, :func:`solder_fatigue` gives
per solder layer the largest shear-strain range between them and Engelmaier's cycles to failure
(:func:`codesign.mechanics.engelmaier_cycles`), an early-design indicator (docs/warpage.md).

:func:`signed_warpage` is the traceable core: a JAX scalar (signed warpage [m]) that ``jax.grad`` and
``jax.vmap`` apply to, with respect to any :class:`codesign.Params` leaf (moduli, CTEs,
conductivities, powers through the temperature field you pass).
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field

import numpy as np

from .errors import ModelError, solve_error
from .mechanics import (BOARD_LAYERS, KELVIN, BoardSpec, ProcessStep, WarpageSpec, board_step, default_steps,
                        engelmaier_cycles, has_board, layer_stress_free, with_board, without_board)
from .model import Model, Params, _namespace, ensure_model
from .stack import Stack

__all__ = ["CASES", "FATIGUE_LABEL", "WarpageCase", "WarpageReport", "analyse_warpage", "package_bottom_w",
           "package_model", "signed_warpage", "solder_fatigue", "stress_free_temperature",
           "warpage_model"]

#: The states :func:`analyse_warpage` solves, in order.
CASES = ("room", "reflow", "operation")
#: Interconnect kinds whose layer's shear strain is reported as bump strain ("bga": the board's
#: ball-grid joints with ``support = "board"``).
BUMP_KINDS = ("c4", "microbump", "hybrid_bond", "bga")
#: Solder-joint kinds that get the fatigue indicator (hybrid bonds are copper, not solder).
SOLDER_KINDS = ("c4", "microbump", "bga")
#: Lateral cell size of :func:`warpage_model` [m]. Warpage is plate bending of the whole package,
#: which the locking-free element resolves on coarse lateral cells (every layer and die edge is
#: still a grid line); ``codesign warpage`` uses it unless told otherwise.
WARPAGE_LATERAL_SIZE = 2e-3
#: Lateral cell size of the warpage section of ``codesign report`` [m]: half the cells per axis of
#: :data:`WARPAGE_LATERAL_SIZE`, a quarter of the unknowns. b200_cowos_l at room temperature:
#: -260.8 um on 4 mm cells against -258.4 um on 2 mm cells (0.9 %); the other layouts in
#: docs/warpage.md ("report mesh") and benchmarks/RESULTS.md.
REPORT_LATERAL_SIZE = 4e-3
#: Largest CG iterations of an elastic solve.
MAXITER = 3000
#: Materials that stand for open space: their elements are removed from the elastic problem.
#: The built-in "air" is the default ``surround`` of a layer narrower than the package (e.g. the
#: gap between the substrate and a lid beside the interposer). It is open space in a real
#: package (a lid stands on its seal ring, outside the model), so it carries no stress; a gap
#: that the package fills with mould or underfill should say so in the layout
#: (``surround = "mold"``), and is then solved with that material.
VOID_MATERIALS = ("air",)


def void_elements(model: Model) -> np.ndarray:
    """Bool (nx, ny, nz): elements of :data:`VOID_MATERIALS` (open space), removed from the elastic solve."""
    g = model.grid
    ids = [i for i, n in enumerate(g.material_names) if n in VOID_MATERIALS]
    return np.isin(g.material, ids)


def warpage_model(stack: Stack, *, lateral_size: float = WARPAGE_LATERAL_SIZE, spec: WarpageSpec | None = None,
                  **mesh) -> Model:
    """The design model for a warpage solve: the stack on uniform ``lateral_size`` cells (plus its
    own breakpoints) and the layout's vertical controls; ``mesh`` overrides as for :func:`codesign.build`.

    With ``support = "board"`` (in ``spec`` or the layout's ``[warpage]`` table) the ball-grid joints
    and the board are appended below the package (:func:`codesign.mechanics.with_board`)."""
    from .model import build

    spec = spec if spec is not None else (stack.warpage or WarpageSpec())
    if spec.support == "board":
        stack = with_board(stack, spec.board)
    opts = {"max_lateral_size": lateral_size, "min_lateral_size": lateral_size, "grading": 1.0, **mesh}
    return build(stack, **opts)


def package_model(model: Model) -> Model:
    """The model of the package alone (the board layers removed; the same mesh controls), or ``model``."""
    from .model import build

    return build(without_board(model.stack)) if has_board(model.stack) else model


def _subset_params(p: Params, ref: Params) -> Params:
    """``p`` restricted to the keys of ``ref`` (a board model's parameters for its package model)."""
    import dataclasses as dc

    return dc.replace(p, **{f.name: {k: getattr(p, f.name)[k] for k in getattr(ref, f.name)}
                            for f in dc.fields(p) if isinstance(getattr(p, f.name), dict)})


def _ensure_board(model: Model, spec: WarpageSpec, params, call: str) -> Model:
    """The model that ``spec.support`` needs: with the board layers for "board", without otherwise."""
    from .model import build

    if spec.support == "board" and not has_board(model.stack):
        if params is not None:
            raise ModelError(f"`{call}`: support 'board' needs the board layers in the model, and `params` were made "
                             "for the package alone; build the model with codesign.warpage.warpage_model(stack) (it "
                             "appends the board) and take its params")
        return build(with_board(model.stack, spec.board))
    if spec.support != "board" and has_board(model.stack):
        raise ModelError(f"`{call}`: this model has the board layers {list(BOARD_LAYERS)} but the support is "
                         f"{spec.support!r}; use support 'board', or the package's own model")
    return model


# ======================================================================================
# the traceable core
def stress_free_temperature(model: Model, spec: WarpageSpec | None = None) -> tuple[np.ndarray, tuple, bool]:
    """Per-element stress-free temperature [K] from the process steps of ``spec`` (or the stack's
    ``[warpage]`` table, or :func:`codesign.mechanics.default_steps`).

    Returns ``(field (nx, ny, nz), steps, defaults_used)``.
    """
    spec = _spec(model, spec)
    steps = tuple(spec.steps or default_steps(without_board(model.stack)))
    if has_board(model.stack):
        steps = steps + (board_step(spec.board or BoardSpec()),)
    per_layer = layer_stress_free(model.stack, steps)
    zc = model.grid.element_centres()[2]
    t0 = np.full(zc.shape, np.nan)
    for name, (zb, zt) in model.layer_z.items():
        t0[(zc > zb) & (zc < zt)] = per_layer[name]
    if np.isnan(t0).any():  # pragma: no cover - every element lies in a layer
        raise ModelError("warpage: an element lies in no layer; this is a bug, please report it")
    return np.broadcast_to(t0[None, None, :], model.grid.shape).copy(), steps, not spec.steps


def _spec(model: Model, spec: WarpageSpec | None) -> WarpageSpec:
    if spec is None:
        spec = model.stack.warpage if model.stack.warpage is not None else WarpageSpec()
    if not isinstance(spec, WarpageSpec):
        raise ModelError(f"`analyse_warpage(spec=...)` takes a codesign.mechanics.WarpageSpec, not {type(spec).__name__}")
    return spec


def _element_temperature(model: Model, temperature):
    """A scalar, an element field (nx, ny, nz), a nodal field (nx+1, ny+1, nz+1) or a ThermalReport
    -> what Model.elastic_fields takes (the mean of an element's eight nodes for a nodal field; a
    report solved on another grid of the same stack is interpolated trilinearly at the element centres)."""
    other = getattr(temperature, "model", None)
    if other is not None and hasattr(temperature, "temperature"):
        if other.grid is model.grid or (other.grid.shape == model.grid.shape
                                        and all(np.array_equal(a, b) for a, b in
                                                zip((other.grid.x, other.grid.y, other.grid.z),
                                                    (model.grid.x, model.grid.y, model.grid.z)))):
            temperature = temperature.temperature
        else:
            from scipy.interpolate import RegularGridInterpolator

            g = other.grid
            # a board model's package starts above the board: the report of the package alone is shifted up,
            # and the joints and the board take the temperature of the package bottom above them (est)
            zoff = package_bottom_z(model) if has_board(model.stack) and not has_board(other.stack) else 0.0
            if abs(g.z[-1] - (model.grid.z[-1] - zoff)) > 1e-9 or abs(g.x[-1] - model.grid.x[-1]) > 1e-9:
                raise ModelError("warpage: the thermal report was solved on another stack (its extent differs); "
                                 "pass the temperature of this model")
            f = RegularGridInterpolator((g.x, g.y, g.z), np.asarray(temperature.temperature, dtype=float))
            xc, yc, zc = model.grid.element_centres()
            X, Y, Z = np.meshgrid(xc, yc, np.clip(zc - zoff, g.z[0], g.z[-1]), indexing="ij")
            return f(np.stack([X, Y, Z], axis=-1))
    xp = _namespace(temperature)
    t = xp.asarray(temperature, dtype=float) if xp is not np else np.asarray(temperature, dtype=float)
    if t.ndim == 0 or tuple(t.shape) == model.grid.shape:
        return t
    if tuple(t.shape) == model.grid.node_shape:
        return sum(t[a:a + t.shape[0] - 1, b:b + t.shape[1] - 1, c:c + t.shape[2] - 1]
                   for a in (0, 1) for b in (0, 1) for c in (0, 1)) / 8.0
    raise ModelError(f"warpage temperature has shape {tuple(t.shape)}; expected a scalar, the element shape "
                     f"{model.grid.shape} or the node shape {model.grid.node_shape} of the model")


def solve_state(model: Model, params: Params | None, temperature, stress_free, *, support: str = "free",
                rtol: float = 1e-8, throw: bool = True, x0=None, maxiter: int = MAXITER):
    """One elastic solve at ``temperature`` [K] from the per-element ``stress_free`` [K] (an
    :class:`solvers.elasticity.ElasticSolution`)."""
    import solvers
    from solvers.elasticity import solve_thermoelastic

    fields = model.elastic_fields(params, temperature=_element_temperature(model, temperature),
                                  stress_free=stress_free)
    if support == "board":  # the package on its board: the whole is free-free
        support = "free"
    try:
        return solve_thermoelastic(model.grid, fields, support=support, rtol=rtol, throw=throw, x0=x0,
                                   maxiter=maxiter, void=void_elements(model))
    except solvers.SolveError as e:
        raise solve_error(e) from e


def package_bottom_z(model: Model) -> float:
    """z [m] of the package bottom (the ball side): 0, or the top of the ball-grid joints on a board."""
    return float(model.layer_z[without_board(model.stack).layers[-1].name][0])


def _plane_index(model: Model, z: float) -> int:
    return int(np.argmin(np.abs(model.grid.z - z)))


def package_bottom_w(model: Model, sol):
    """``u_z`` of the package-bottom nodes ``(nx+1, ny+1)`` [m] (the model's bottom face without a board)."""
    return sol.displacement[:, :, _plane_index(model, package_bottom_z(model)), 2]


def _bottom_nodes(model: Model, layer=None) -> np.ndarray:
    """Bool (nx+1, ny+1): nodes of the bottom face inside the extent of ``layer`` (default: the
    package's bottom layer)."""
    ext = (layer or without_board(model.stack).layers[-1]).extent
    g = model.grid
    tol = 1e-12
    return (((g.x >= ext.x - tol) & (g.x <= ext.x1 + tol))[:, None]
            & ((g.y >= ext.y - tol) & (g.y <= ext.y1 + tol))[None, :])


def bottom_warpage(model: Model, w, layer=None):
    """``(signed warpage, coplanarity, residual map)`` of bottom-face ``u_z`` ``w`` (nx+1, ny+1) [m].

    The best-fit plane is removed by least squares over the nodes of ``layer`` (default: the
    package's bottom layer); the sign is that of (centre - mean of the four corners) of the
    residual (module docstring). Traceable.
    """
    xp = _namespace(w)
    layer = layer or without_board(model.stack).layers[-1]
    mask = _bottom_nodes(model, layer)
    g = model.grid
    X, Y = np.meshgrid(g.x, g.y, indexing="ij")
    xs, ys = X[mask], Y[mask]
    A = np.stack([np.ones_like(xs), xs - xs.mean(), ys - ys.mean()], axis=1)
    proj = np.linalg.pinv(A)  # (3, n): static, so the fit is a linear map of w
    ws = w[mask]
    coef = proj @ ws
    resid_all = w - (coef[0] + coef[1] * (X - xs.mean()) + coef[2] * (Y - ys.mean()))
    resid = resid_all[mask]
    cop = xp.max(resid) - xp.min(resid)
    ext = layer.extent
    corners = [(ext.x, ext.y), (ext.x1, ext.y), (ext.x, ext.y1), (ext.x1, ext.y1)]
    ic = [(int(np.argmin(np.abs(g.x - cx))), int(np.argmin(np.abs(g.y - cy)))) for cx, cy in corners]
    centre = (int(np.argmin(np.abs(g.x - (ext.x + ext.x1) / 2))), int(np.argmin(np.abs(g.y - (ext.y + ext.y1) / 2))))
    dome = resid_all[centre] - sum(resid_all[i] for i in ic) / 4.0
    signed = xp.where(dome >= 0, cop, -cop)
    return signed, cop, xp.where(mask, resid_all, xp.nan) if xp is np else resid_all


def signed_warpage(model: Model, params: Params | None = None, *, temperature, spec: WarpageSpec | None = None,
            rtol: float = 1e-8):
    """Signed warpage [m] of the package bottom at ``temperature`` (traceable: ``jax.grad``, ``jax.vmap``).

    ``temperature`` is a scalar [K] (e.g. ``spec.room_temperature``) or a nodal / element field
    (the operating temperature). The process history is that of ``spec`` (default: the layout's).
    Needs ``jax_enable_x64`` under a transformation.

    Examples
    --------
    >>> import jax, codesign as cd                                         # doctest: +SKIP
    >>> jax.config.update("jax_enable_x64", True)                           # doctest: +SKIP
    >>> m = cd.build(cd.load_layout("demo"), max_lateral_size=2e-3)        # doctest: +SKIP
    >>> dw = jax.grad(lambda p: cd.signed_warpage(m, p, temperature=298.15))(m.params)   # doctest: +SKIP
    >>> dw.cte["copper"]           # d(warpage)/d(CTE of the lid) [m K]      # doctest: +SKIP
    """
    spec = _spec(model, spec)
    if (spec.support == "board") != has_board(model.stack):
        raise ModelError(f"`signed_warpage`: support {spec.support!r} on a model "
                         f"{'with' if has_board(model.stack) else 'without'} the board layers; build it with "
                         "codesign.warpage.warpage_model(stack) (which appends the board for support 'board')")
    t0, _, _ = stress_free_temperature(model, spec)
    sol = solve_state(model, params, temperature, t0, support=spec.support, rtol=rtol)
    return bottom_warpage(model, package_bottom_w(model, sol))[0]


# ======================================================================================
# the report
@dataclass(frozen=True, eq=False)
class WarpageCase:
    """One solved state (``room``, ``reflow`` or ``operation``).

    Attributes
    ----------
    name : str
    temperature : str
        What the state's temperature was (e.g. ``"25 degC uniform"``).
    warpage : float
        Signed coplanarity of the package bottom [m]: + cry (convex), - smile (concave).
    coplanarity : float
        ``|warpage|`` [m].
    limit : float or None
        The coplanarity limit of this state [m]; ``ok`` is whether ``coplanarity <= limit``.
    chiplet_stress, layer_stress : dict
        Peak von Mises stress [Pa] per chiplet and per layer.
    bump_strain : dict
        Layer -> ``{"shear_strain", "x", "y", "dnp"}`` (largest transverse shear strain [-], where
        [m], its distance to the neutral point [m]).
    map : ndarray
        Bottom-face ``u_z`` minus the best-fit plane, ``(nx+1, ny+1)`` [m] (NaN outside the bottom layer).
    solution : solvers.elasticity.ElasticSolution
    board_warpage : float or None
        With ``support = "board"``: the signed bow of the board's bottom face [m] (same sign
        convention); None without a board, or when the state was solved without it (reflow).
    support : str
        How this state was supported (``"board"``, or ``"free"`` for the reflow state of a board
        analysis: the solder is molten at the reflow peak, the package not yet attached).
    """

    name: str
    temperature: str
    warpage: float
    coplanarity: float
    limit: float | None
    chiplet_stress: dict
    layer_stress: dict
    bump_strain: dict
    map: np.ndarray = field(repr=False)
    solution: object = field(repr=False)
    seconds: float = 0.0
    board_warpage: float | None = None
    support: str = "free"
    #: With ``analyse_warpage(accuracy=True)``: the discretisation-error estimate of ``warpage``
    #: (:class:`codesign.accuracy.ErrorEstimate`, in metres; ``trusted`` False is the flagged "!").
    error: object = None

    @property
    def shape(self) -> str:
        return "flat" if self.coplanarity == 0 else ("cry (convex)" if self.warpage > 0 else "smile (concave)")

    @property
    def ok(self) -> bool | None:
        return None if self.limit is None else bool(self.coplanarity <= self.limit)

    @property
    def corner_bump(self) -> tuple[str, dict] | None:
        """The bump layer with the largest shear strain and its entry in ``bump_strain``."""
        if not self.bump_strain:
            return None
        return max(self.bump_strain.items(), key=lambda kv: kv[1]["shear_strain"])

    def to_dict(self) -> dict:
        return {"temperature": self.temperature, "warpage_um": self.warpage * 1e6,
                "coplanarity_um": self.coplanarity * 1e6, "shape": self.shape,
                "limit_um": None if self.limit is None else self.limit * 1e6, "ok": self.ok,
                "chiplet_peak_von_mises_MPa": {k: v / 1e6 for k, v in self.chiplet_stress.items()},
                "layer_peak_von_mises_MPa": {k: v / 1e6 for k, v in self.layer_stress.items()},
                "bump_shear_strain": {k: {"shear_strain": v["shear_strain"], "x_mm": v["x"] * 1e3,
                                          "y_mm": v["y"] * 1e3, "dnp_mm": v["dnp"] * 1e3}
                                      for k, v in self.bump_strain.items()},
                "support": self.support,
                "board_warpage_um": None if self.board_warpage is None else self.board_warpage * 1e6,
                "cg_iterations": int(np.asarray(self.solution.iterations)),
                "relative_residual": float(np.asarray(self.solution.relative_residual)),
                "seconds": self.seconds,
                "warpage_error_um": None if self.error is None else self.error.error * 1e6,
                "warpage_error_trusted": None if self.error is None else self.error.trusted,
                "warpage_observed_order": None if self.error is None else self.error.order}


@dataclass(frozen=True, eq=False)
class WarpageReport:
    """Result of :func:`analyse_warpage`: the states solved, the process history and the limits."""

    model: Model
    params: Params
    spec: WarpageSpec
    steps: tuple[ProcessStep, ...]
    defaults_used: bool
    cases: dict
    notes: tuple[str, ...] = ()
    #: Solder-joint fatigue indicator per solder bump / ball layer (:func:`solder_fatigue`); empty
    #: unless both the room and the operating states were solved.
    fatigue: dict = field(default_factory=dict)

    @property
    def flags(self) -> list[str]:
        """One line per limit exceeded."""
        out = []
        for c in self.cases.values():
            if c.ok is False:
                out.append(f"{c.name}: coplanarity {c.coplanarity * 1e6:.0f} um exceeds the {c.limit * 1e6:.0f} um limit "
                           f"({self.spec.limit_source})")
            lim = self.spec.bump_shear_strain_limit
            cb = c.corner_bump
            if lim is not None and cb is not None and cb[1]["shear_strain"] > lim:
                out.append(f"{c.name}: bump shear strain {cb[1]['shear_strain']:.4g} in {cb[0]!r} exceeds the limit "
                           f"{lim:.4g}")
        return out

    def to_dict(self) -> dict:
        return {"process_steps": [{"name": s.name, "stress_free_degC": s.temperature - KELVIN, "layers": list(s.layers),
                                   "source": s.source} for s in self.steps],
                "process_steps_are_defaults": self.defaults_used,
                "support": self.spec.support,
                "limits": {"coplanarity_um": self.spec.coplanarity_limit * 1e6,
                           "reflow_coplanarity_um": self.spec.reflow_coplanarity_limit * 1e6,
                           "bump_shear_strain": self.spec.bump_shear_strain_limit, "source": self.spec.limit_source},
                "sign_convention": "+ cry (convex: bottom centre above its corners, lid up), - smile (concave)",
                "board": None if self.spec.support != "board" or self.spec.board is None else {
                    "thickness_mm": self.spec.board.thickness * 1e3, "material": self.spec.board.material,
                    "ball_pitch_mm": self.spec.board.ball_pitch * 1e3,
                    "ball_diameter_mm": self.spec.board.ball_diameter * 1e3,
                    "ball_height_mm": self.spec.board.ball_height * 1e3, "ball_material": self.spec.board.ball_material,
                    "fill": self.spec.board.fill,
                    "stress_free_degC": self.spec.board.stress_free_temperature - KELVIN,
                    "source": self.spec.board.source},
                "cases": {k: c.to_dict() for k, c in self.cases.items()},
                "solder_fatigue": {k: {"indicator": FATIGUE_LABEL, "shear_strain_range": v["range"],
                                       "mean_temperature_degC": v["mean_temperature"] - KELVIN,
                                       "cycles_per_day": v["cycles_per_day"],
                                       "cycles_to_failure": None if not np.isfinite(v["cycles"]) else v["cycles"],
                                       "x_mm": v["x"] * 1e3, "y_mm": v["y"] * 1e3, "dnp_mm": v["dnp"] * 1e3}
                                   for k, v in self.fatigue.items()},
                "flags": self.flags, "notes": list(self.notes)}

    def table(self) -> str:
        """The numbers as text, with units (what ``codesign warpage`` prints)."""
        lines = []
        hist = "; ".join(f"{s.name} {s.temperature - KELVIN:.0f} degC ({', '.join(s.layers)})" for s in self.steps)
        lines.append(f"process history{' (defaults: est; give [warpage.steps] in the layout)' if self.defaults_used else ''}: "
                     f"{hist}")
        lines.append(f"support: {self.spec.support}; sign: + cry (convex), - smile (concave)")
        b = self.spec.board
        if self.spec.support == "board" and b is not None:
            lines.append(f"board: {b.thickness * 1e3:.3g} mm {b.material}; BGA {b.ball_material} balls "
                         f"{b.ball_diameter * 1e3:.3g} mm at {b.ball_pitch * 1e3:.3g} mm pitch, {b.ball_height * 1e3:.3g} mm "
                         f"high, in {b.fill}; stress-free at {b.stress_free_temperature - KELVIN:.0f} degC")
        lines.append("")
        head = f"{'state':<10} {'temperature':<26} {'warpage um':>11} {'shape':<16} {'limit um':>9} {'ok':<4} " \
               f"{'corner bump shear strain':<34} {'CG it':>5}"
        lines.append(head)
        lines.append("-" * len(head))
        for c in self.cases.values():
            cb = c.corner_bump
            bump = "-" if cb is None else f"{cb[1]['shear_strain']:.3e} ({cb[0]}, DNP {cb[1]['dnp'] * 1e3:.1f} mm)"
            lim = "-" if c.limit is None else f"{c.limit * 1e6:.0f}"
            ok = "-" if c.ok is None else ("yes" if c.ok else "NO")
            lines.append(f"{c.name:<10} {c.temperature:<26} {c.warpage * 1e6:>11.1f} {c.shape:<16} {lim:>9} {ok:<4} "
                         f"{bump:<34} {int(np.asarray(c.solution.iterations)):>5}")
        errs = [c for c in self.cases.values() if c.error is not None]
        if errs:
            lines.append("discretisation error of the warpage: " + "; ".join(
                f"{c.name} ± {c.error.error * 1e6:.2g} um{c.error.flag}" for c in errs)
                + ("  (!: order not verified, Roache's two-grid bound)" if any(not c.error.trusted for c in errs) else ""))
        if self.spec.support == "board":
            lines.append("")
            for c in self.cases.values():
                if c.board_warpage is None:
                    lines.append(f"board bow, {c.name}: - (solved without the board: {c.support}; the solder is "
                                 "molten at the reflow peak)")
                else:
                    ball = c.bump_strain.get(BOARD_LAYERS[0], {})
                    lines.append(f"board bow, {c.name}: {c.board_warpage * 1e6:.1f} um; critical BGA ball shear strain "
                                 f"{ball.get('shear_strain', float('nan')):.3e} (DNP "
                                 f"{ball.get('dnp', float('nan')) * 1e3:.1f} mm)")
        if self.fatigue:
            lines.append("")
            lines.append(f"solder-joint fatigue ({FATIGUE_LABEL}):")
            for k, v in self.fatigue.items():
                n = "no cycling strain" if not np.isfinite(v["cycles"]) else f"{v['cycles']:.3g} cycles"
                lines.append(f"  {k:<20} shear strain range {v['range']:.3e} (room <-> operation, DNP "
                             f"{v['dnp'] * 1e3:.1f} mm), mean {v['mean_temperature'] - KELVIN:.0f} degC, "
                             f"{v['cycles_per_day']:g}/day: N_f ~ {n}")
        lines.append("")
        lines.append("peak von Mises stress [MPa]:")
        names = list(next(iter(self.cases.values())).chiplet_stress) if self.cases else []
        lay = list(next(iter(self.cases.values())).layer_stress) if self.cases else []
        lines.append(f"  {'':<22}" + "".join(f"{k:>11}" for k in self.cases))
        for n in names:
            lines.append(f"  {'die ' + n:<22}" + "".join(f"{c.chiplet_stress[n] / 1e6:>11.1f}" for c in self.cases.values()))
        for n in lay:
            lines.append(f"  {'layer ' + n:<22}" + "".join(f"{c.layer_stress.get(n, np.nan) / 1e6:>11.1f}"
                                                           for c in self.cases.values()))
        for f in self.flags:
            lines.append(f"FLAG: {f}")
        for n in self.notes:
            lines.append(f"note: {n}")
        return "\n".join(lines)


def _joint_layers(model: Model, kinds):
    """``(layer, element mask)`` of every layer whose interconnect is of one of ``kinds`` and is on the grid."""
    g = model.grid
    for lay in model.stack.layers:
        ic = lay.interconnect
        mat = None if ic is None or ic.kind not in kinds else f"{lay.name}:{ic.kind}"
        if mat is None or mat not in g.material_names:
            continue
        mask = g.material == g.material_names.index(mat)
        if mask.any():
            yield lay, mask


def _post(model: Model, name: str, what: str, sol, limit, seconds: float, support: str = "free") -> WarpageCase:
    g = model.grid
    signed, cop, resid = bottom_warpage(model, np.asarray(package_bottom_w(model, sol)))
    board = None
    if has_board(model.stack):
        board = float(bottom_warpage(model, np.asarray(sol.bottom_face_w()), layer=model.stack.layers[-1])[0])
    vm = np.asarray(sol.von_mises())
    chip = {}
    for c in model.stack.chiplets:
        region = model.chiplet_regions.get(c.name)
        if region in g.region_names:
            chip[c.name] = float(vm[g.region_mask(region)].max())
    zc = g.element_centres()[2]
    layer = {}
    for lname, (zb, zt) in model.layer_z.items():
        sel = (zc > zb) & (zc < zt)
        layer[lname] = float(vm[:, :, sel].max())
    bumps = {}
    strain = None
    xc, yc, _ = g.element_centres()
    for lay, mask in _joint_layers(model, BUMP_KINDS):
        if strain is None:
            strain = np.asarray(sol.strain())
        gam = np.hypot(strain[..., 4], strain[..., 5])
        gm = np.where(mask, gam, -1.0)
        i, j, k = np.unravel_index(int(np.argmax(gm)), gm.shape)
        X = np.broadcast_to(xc[:, None, None], g.shape)
        Y = np.broadcast_to(yc[None, :, None], g.shape)
        cx, cy = float(X[mask].mean()), float(Y[mask].mean())
        bumps[lay.name] = {"shear_strain": float(gam[i, j, k]), "x": float(xc[i]), "y": float(yc[j]),
                           "dnp": float(np.hypot(xc[i] - cx, yc[j] - cy))}
    return WarpageCase(name=name, temperature=what, warpage=float(signed), coplanarity=float(cop), limit=limit,
                       chiplet_stress=chip, layer_stress=layer, bump_strain=bumps, map=np.asarray(resid), solution=sol,
                       seconds=seconds, board_warpage=board, support=support)


#: What the fatigue indicator is, in reports.
FATIGUE_LABEL = ("Engelmaier modified Coffin-Manson (IPC-D-279), early-design indicator: elastic shear-strain range "
                 "between the room and operating states, no creep; SnPb-fitted")


def solder_fatigue(model: Model, room, operation, t_room, t_operation, cycles_per_day: float) -> dict:
    """Solder-joint fatigue indicator per solder bump / ball layer (:data:`SOLDER_KINDS`).

    The cyclic shear-strain range of each element is the length of the change of its transverse
    shear strain ``(gamma_xz, gamma_yz)`` between the two states (power off at room temperature,
    power on); the joint with the largest range is the critical (corner) joint. Its mean cyclic
    temperature is the mean of its two states' temperatures; :func:`codesign.mechanics.engelmaier_cycles`
    gives the cycles to failure. ``room`` and ``operation`` are :class:`solvers.elasticity.ElasticSolution`
    of ``model``; ``t_room``, ``t_operation`` scalars or element fields [K].
    Returns layer -> ``{"range", "mean_temperature", "cycles_per_day", "cycles", "x", "y", "dnp"}``.
    """
    g = model.grid
    out = {}
    s0 = s1 = None
    xc, yc, _ = g.element_centres()
    for lay, mask in _joint_layers(model, SOLDER_KINDS):
        if s0 is None:
            s0, s1 = np.asarray(room.strain()), np.asarray(operation.strain())
        rng = np.hypot(s1[..., 4] - s0[..., 4], s1[..., 5] - s0[..., 5])
        i, j, k = np.unravel_index(int(np.argmax(np.where(mask, rng, -1.0))), rng.shape)
        t0 = float(np.broadcast_to(np.asarray(t_room, dtype=float), g.shape)[i, j, k])
        t1 = float(np.broadcast_to(np.asarray(t_operation, dtype=float), g.shape)[i, j, k])
        mean = 0.5 * (t0 + t1)
        X = np.broadcast_to(xc[:, None, None], g.shape)
        Y = np.broadcast_to(yc[None, :, None], g.shape)
        cx, cy = float(X[mask].mean()), float(Y[mask].mean())
        r = float(rng[i, j, k])
        out[lay.name] = {"range": r, "mean_temperature": mean, "cycles_per_day": float(cycles_per_day),
                         "cycles": engelmaier_cycles(r, mean - KELVIN, cycles_per_day),
                         "x": float(xc[i]), "y": float(yc[j]), "dnp": float(np.hypot(xc[i] - cx, yc[j] - cy))}
    return out


def analyse_warpage(stack_or_model: Stack | Model, *, params: Params | None = None, temperature=None,
                    spec: WarpageSpec | None = None, cases=CASES, rtol: float = 1e-8,
                    throw: bool = True, accuracy: bool = False) -> WarpageReport:
    """Warpage, stresses and bump strain of a package at room temperature, reflow peak and in operation.

    Parameters
    ----------
    stack_or_model : Stack or Model
        A stack (built here with its own ``[mesh]`` controls) or a model from :func:`codesign.build`.
    params : Params, optional
        The parameters (default ``model.params``): moduli, CTEs and, for the operating state, the
        thermal parameters.
    temperature : array or ThermalReport, optional
        The operating temperature [K]: a nodal field ``(nx+1, ny+1, nz+1)`` (``ThermalReport.temperature``),
        an element field, or a :class:`codesign.ThermalReport` (solved on this model's grid, or on
        another grid of the same stack: then interpolated trilinearly). Default: solved here with
        :func:`codesign.analyse` (leakage operating point included) when ``"operation"`` is asked for.
    spec : codesign.mechanics.WarpageSpec, optional
        Process history, temperatures, support and limits (default: the layout's ``[warpage]``
        table, else defaults, which the report says).
    cases : sequence of str
        Which of ``"room"``, ``"reflow"``, ``"operation"`` to solve.
    rtol : float
        Relative residual of the elastic solves.
    throw : bool
        Raise :class:`codesign.SolveError` when a solve does not converge.
    accuracy : bool
        A discretisation-error estimate of each state's warpage (``WarpageCase.error``):
        :func:`codesign.accuracy.estimate_warpage`, two more solves per state on the grid coarsened
        twice (each new grid compiles its elastic programs once per machine). Off by default.
    """
    if accuracy:
        from .accuracy import estimate_warpage
    if isinstance(stack_or_model, Stack):
        sp = spec if spec is not None else (stack_or_model.warpage or WarpageSpec())
        if sp.support == "board":
            stack_or_model = with_board(stack_or_model, sp.board)
    model = ensure_model(stack_or_model, call="analyse_warpage")
    spec = _spec(model, spec)
    model = _ensure_board(model, spec, params, "analyse_warpage")
    p = model.params if params is None else params
    unknown = [c for c in cases if c not in CASES]
    if unknown or not cases:
        raise ModelError(f"`analyse_warpage(cases=...)`: {unknown or 'none'}; choose from {list(CASES)}")
    t0, steps, defaults = stress_free_temperature(model, spec)
    notes = []
    if defaults:
        notes.append("process history not given in the layout: default steps (estimates) used; add [warpage.steps]")
    notes.append("linear elastic (secant at each state's temperature); no solder creep or polymer viscoelasticity")
    if void_elements(model).any():
        notes.append("air (a layer's surround) is open space and carries no stress: removed from the elastic problem; "
                     "a lid is held only through the TIM (no seal ring modelled)")
    board = has_board(model.stack)
    pkg = None
    if board:
        notes.append(f"on its board: BGA joints and board ({spec.board.thickness * 1e3:.3g} mm {spec.board.material}) "
                     f"appended below the package, stress-free at {spec.board.stress_free_temperature - KELVIN:.0f} degC "
                     "(solder solidus), solved free-free; warpage is the package bottom's (top of the joints)")
        if "operation" in cases and temperature is None:
            notes.append("operation: the package's own thermal solution (its bottom boundary as in the layout); the "
                         "joints and the board take the temperature of the package bottom above them (est)")
    out = {}
    states = {"room": (spec.room_temperature, f"{spec.room_temperature - KELVIN:.0f} degC uniform",
                       spec.coplanarity_limit),
              "reflow": (spec.reflow_peak, f"{spec.reflow_peak - KELVIN:.0f} degC uniform (reflow peak)",
                         spec.reflow_coplanarity_limit)}
    temps = {}
    for name in [c for c in CASES if c in cases]:
        t = time.perf_counter()
        if name == "operation":
            temp = temperature
            if temp is None:
                from .thermal import analyse

                if board:
                    pkg = pkg or package_model(model)
                    temp = analyse(pkg, params=None if params is None else _subset_params(p, pkg.params))
                else:
                    temp = analyse(model, params=p)
            temp = _element_temperature(model, temp)
            tn = np.asarray(temp, dtype=float)
            what = f"operating field {tn.min() - KELVIN:.0f}-{tn.max() - KELVIN:.0f} degC"
            limit = None
        else:
            temp, what, limit = states[name]
        temps[name] = temp
        if board and name == "reflow":
            # the solder is molten at the reflow peak: the package is not attached; solve it free on its own
            pkg = pkg or package_model(model)
            pp = pkg.params if params is None else _subset_params(p, pkg.params)
            pspec = _replace_spec(spec, support="free", board=None)
            t0p, _, _ = stress_free_temperature(pkg, pspec)
            sol = solve_state(pkg, pp, temp, t0p, support="free", rtol=rtol, throw=throw)
            case = _post(pkg, name, what, sol, limit, time.perf_counter() - t, support="free")
            layer_stress = {k: case.layer_stress.get(k, float("nan")) for k in model.layer_z}
            out[name] = dataclasses.replace(case, layer_stress=layer_stress)
            if accuracy:
                out[name] = dataclasses.replace(out[name], error=estimate_warpage(
                    pkg, pp, temp, t0p, case.warpage, support="free", rtol=rtol))
            continue
        sol = solve_state(model, p, temp, t0, support=spec.support, rtol=rtol, throw=throw)
        out[name] = _post(model, name, what, sol, limit, time.perf_counter() - t, support=spec.support)
        if accuracy:
            out[name] = dataclasses.replace(out[name], error=estimate_warpage(
                model, p, temp, t0, out[name].warpage, support=spec.support, rtol=rtol))
    if accuracy:
        notes.append("warpage ±: Richardson from the grid coarsened twice (docs/accuracy.md); '!': no observed order "
                     "in range, Roache's two-grid bound (conservative on coarse lateral grids)")
    fatigue = {}
    if "room" in out and "operation" in out:
        fatigue = solder_fatigue(model, out["room"].solution, out["operation"].solution, temps["room"],
                                 temps["operation"], spec.fatigue_cycles_per_day)
        notes.append("solder fatigue: " + FATIGUE_LABEL + "; no energy-based indicator (Darveaux's needs the "
                     "inelastic work of a creep analysis)")
    return WarpageReport(model=model, params=p, spec=spec, steps=steps, defaults_used=defaults, cases=out,
                         notes=tuple(notes), fatigue=fatigue)


def _replace_spec(spec: WarpageSpec, **changes) -> WarpageSpec:
    return dataclasses.replace(spec, **changes)
