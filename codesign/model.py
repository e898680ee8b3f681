r"""The design model: build a stack once, then parameterise, solve, differentiate and batch it.

Every analysis in :mod:`codesign` (steady, k(T), electro-thermal, derating, transient, sweeps,
placement) takes the same road from a stack to temperatures::

    model = build(stack)                       # meshes once; the geometry is static
    p = model.params                           # a pytree: everything a design script varies
    p = p.replace(power={**p.power, "gpu": 420.0})
    fields = model.fields(p)                   # the ONLY parameter -> field map
    sol = model.solve(p)                       # one solver interface (solvers.ThermalSolver)

:class:`Params` holds, as arrays,

* ``power``: watts per heat source: one per chiplet (its uniform power and power map, spread
  like the map), one per power block (``"<chiplet>/<block>"``) and one per extra heat source
  (``"<chiplet>/<source>"``, e.g. link PHYs);
* ``conductivity`` ``(kx, ky, kz)`` [W/m/K] and ``heat_capacity`` [J/m^3/K] per *plain*
  material, **including the parents of homogenised materials** (solder, copper, underfill,
  silicon of an HBM stack...): a homogenised bump, TSV, hybrid-bond or HBM material is
  recomputed from its parents inside :meth:`Model.fields` with the formulas of
  :mod:`codesign.homogenise`, so sweeping or differentiating a parent changes it;
* ``h`` [W/m^2/K] and ``ambient`` [K] per boundary (``"top"``, ``"bottom"``, ``"sides"``);
* ``leakage_power`` [W] and ``leakage_coefficients`` per leaky chiplet (the exponential
  coefficient [1/K], or the polynomial's ``c_i`` [1/K^i]).

:meth:`Model.solve` is traceable: ``jax.grad`` of a scalar of the solution with respect to
``Params`` is one adjoint solve, and ``jax.vmap`` over stacked ``Params`` solves a batch (the
fast choice on a GPU; on a CPU a loop of solves is faster). Gradients need float64 (see
:class:`solvers.MultigridCG` for the precision policy).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Sequence

import jax
import numpy as np

import solvers
from solvers import TensorGrid, ThermalFields

from .errors import ModelError, solve_error
from .mesh import MeshGeometry, active_z, mesh_geometry, rect_mask
from .stack import Chiplet, HeatSource, Rect, Stack

__all__ = ["BOUNDARIES", "Model", "Params", "build", "ensure_model"]

#: Boundary names of :class:`Params` and the grid faces they cover.
BOUNDARIES = {"top": ("zmax",), "bottom": ("zmin",), "sides": ("xmin", "xmax", "ymin", "ymax")}


@jax.tree_util.register_dataclass
@dataclass(frozen=True)
class Params:
    """Everything a design script sweeps or differentiates (a pytree of arrays; see module docstring).

    Make a changed copy with :meth:`replace`; dictionaries are replaced whole, so copy and edit
    them: ``p.replace(power={**p.power, "gpu": 420.0})``.
    """

    power: dict
    conductivity: dict
    heat_capacity: dict
    h: dict
    ambient: dict
    leakage_power: dict = field(default_factory=dict)
    leakage_coefficients: dict = field(default_factory=dict)
    # Mechanics (warpage, codesign.warpage), per plain material with mechanical data, below Tg:
    # (Ex, Ey, Ez) [Pa], (nu_xy, nu_yz, nu_xz), (G_xy, G_yz, G_xz) [Pa], (ax, ay, az) [1/K].
    # Homogenised materials are recomputed from them in Model.elastic_fields.
    youngs_modulus: dict = field(default_factory=dict)
    poisson_ratio: dict = field(default_factory=dict)
    shear_modulus: dict = field(default_factory=dict)
    cte: dict = field(default_factory=dict)

    def replace(self, **changes) -> "Params":
        unknown = set(changes) - {f.name for f in dataclasses.fields(self)}
        if unknown:
            raise ModelError(f"`Params.replace`: unknown field(s) {sorted(unknown)}; fields are "
                             f"{[f.name for f in dataclasses.fields(self)]}")
        for name, new in changes.items():
            old = getattr(self, name)
            extra = set(new) - set(old)
            if extra:
                raise ModelError(f"`Params.replace({name}=...)`: unknown key(s) {sorted(extra)}; the model has "
                                 f"{sorted(old)}")
        return dataclasses.replace(self, **changes)

    def scale_power(self, scale, keys: Sequence[str] | None = None) -> "Params":
        """A copy with the powers of ``keys`` (default: every source) multiplied by ``scale``."""
        keys = self.power if keys is None else keys
        return self.replace(power={k: (v * scale if k in keys else v) for k, v in self.power.items()})


@dataclass(frozen=True)
class _Source:
    """One heat source: power [W] times a unit pattern ``plane (nx, ny) [1/m^2] * zweight (nz,) [1/m]``."""

    name: str
    chiplet: str
    kind: str  # "chiplet", "block" or "heat_source"
    plane: np.ndarray
    profile: int  # index into Model._profiles
    nominal: float


@dataclass(frozen=True, eq=False)
class Model:
    """A meshed stack with its parameter -> field map (see the module docstring).

    Build it with :func:`build`. Attributes: ``stack``, ``geometry`` (:class:`MeshGeometry`),
    ``params`` (the layout's nominal :class:`Params`). Geometry is static: a change of layer
    thickness or die position needs a new model.
    """

    stack: Stack
    geometry: MeshGeometry
    params: Params
    _sources: tuple = field(repr=False)
    _profiles: np.ndarray = field(repr=False)
    _leak_patterns: dict = field(repr=False)
    _face_masks: dict = field(repr=False)
    _materials: tuple = field(repr=False)  # (name, recipe or None) per grid material id
    _node_masks: dict = field(repr=False)

    # -- geometry ---------------------------------------------------------------------------------
    @property
    def grid(self) -> TensorGrid:
        return self.geometry.grid

    @property
    def chiplet_regions(self) -> dict:
        return self.geometry.chiplet_regions

    @property
    def layer_z(self) -> dict:
        return self.geometry.layer_z

    @property
    def heat_sources(self) -> tuple:
        return self.geometry.heat_sources

    @property
    def n_cells(self) -> int:
        return self.grid.n_elements

    def summary(self) -> str:
        return self.geometry.summary()

    @property
    def sources(self) -> dict:
        """Heat-source name -> ``(chiplet, kind)`` with kind ``"chiplet"``, ``"block"`` or ``"heat_source"``."""
        return {s.name: (s.chiplet, s.kind) for s in self._sources}

    def chiplet_sources(self, chiplet: str, *, dynamic_only: bool = True) -> tuple[str, ...]:
        """The power keys of a chiplet (its own power and blocks; with ``dynamic_only=False`` also heat sources)."""
        return tuple(s.name for s in self._sources
                     if s.chiplet == chiplet and (s.kind != "heat_source" or not dynamic_only))

    @property
    def dynamic_keys(self) -> tuple[str, ...]:
        """Power keys of the chiplets' own dynamic power (what derating scales; not PHY heat sources)."""
        return tuple(s.name for s in self._sources if s.kind != "heat_source")

    # -- the parameter -> field map ----------------------------------------------------------------
    def material_properties(self, params: Params | None = None) -> dict:
        """Material name -> ``(kx, ky, kz, heat capacity)`` for every material on the grid, homogenised
        materials recomputed from their parents' parameters."""
        p = self.params if params is None else params

        def lookup(name):
            try:
                k = p.conductivity[name]
                return k[0], k[1], k[2], p.heat_capacity[name]
            except KeyError:
                raise ModelError(f"material {name!r} has no parameters; plain materials of this model are "
                                 f"{sorted(p.conductivity)}") from None

        out = {}
        for name, recipe in self._materials:
            out[name] = recipe.properties(lookup) if recipe is not None else lookup(name)
        return out

    def fields(self, params: Params | None = None) -> ThermalFields:
        """The :class:`solvers.ThermalFields` of ``params`` (default: the layout's).

        The ONLY map from parameters to fields: numpy arrays for concrete parameters, JAX arrays
        (differentiable, vmappable) for traced ones.
        """
        p = self.params if params is None else params
        xp = _namespace(p)
        g = self.grid
        props = self.material_properties(p)
        table = xp.stack([xp.stack([xp.asarray(v, dtype=float) for v in props[name]])
                          for name, _ in self._materials])  # (n_materials, 4)
        per = table[g.material]  # (nx, ny, nz, 4)
        planes = [xp.zeros(g.shape[:2]) for _ in range(len(self._profiles))]
        for s in self._sources:
            planes[s.profile] = planes[s.profile] + p.power[s.name] * s.plane
        source = sum((planes[i][:, :, None] * self._profiles[i][None, None, :] for i in range(len(planes))),
                     xp.zeros(g.shape))
        h, amb = {}, {}
        for boundary, faces in BOUNDARIES.items():
            for face in faces:
                if face in self._face_masks:
                    h[face] = p.h[boundary] * self._face_masks[face]
                    amb[face] = p.ambient[boundary] * xp.ones_like(self._face_masks[face])
        return ThermalFields(kx=per[..., 0], ky=per[..., 1], kz=per[..., 2], heat_capacity=per[..., 3],
                             source=source, h=h, ambient=amb)

    # -- the parameter -> mechanical-field map (warpage) -------------------------------------------
    def mechanical_properties(self, params: Params | None = None, *, above_tg: bool = False) -> dict:
        """Material name -> ``(E, nu, G, alpha)`` three-tuples for every material on the grid, glassy
        (default) or rubbery (``above_tg``: the values above each material's glass transition);
        homogenised materials recomputed from their parents' parameters (:mod:`codesign.homogenise`)."""
        from .mechanics import plain_mechanics

        p = self.params if params is None else params

        def lookup(name):
            if name not in p.youngs_modulus:
                self.stack.material(name)
                raise ModelError(f"material {name!r} has no mechanical data (youngs_modulus, poisson_ratio, cte); give "
                                 f"them under [materials.{name}] to include it in a warpage analysis") from None
            return plain_mechanics(self.stack.material(name), above_tg=above_tg, E=p.youngs_modulus[name],
                                   nu=p.poisson_ratio[name], G=p.shear_modulus[name], cte=p.cte[name])

        return {name: (recipe.mechanical(lookup) if recipe is not None else lookup(name))
                for name, recipe in self._materials}

    def elastic_fields(self, params: Params | None = None, *, temperature, stress_free):
        """The :class:`solvers.elasticity.ElasticFields` of ``params`` at ``temperature`` [K].

        The ONLY map from parameters to mechanical fields (:meth:`fields` is the thermal one).
        ``temperature`` and ``stress_free`` (the stress-free temperature of each element, from the
        process history) are scalars or per-element arrays ``(nx, ny, nz)`` [K]. Each element takes
        its glassy or rubbery stiffness at ``temperature`` and the free thermal strain
        ``∫ alpha dT`` from ``stress_free`` to ``temperature`` with the CTE stepping at the glass
        transition (:func:`codesign.mechanics.thermal_strain`). numpy arrays for concrete
        parameters, JAX arrays (differentiable, vmappable) for traced ones.
        """
        from solvers.elasticity import ElasticFields

        from .mechanics import glass_transition, thermal_strain

        p = self.params if params is None else params
        xp = _namespace(p, temperature, stress_free)
        g = self.grid

        def table(props):  # (n_materials, 12): E, nu, G, alpha
            return xp.stack([xp.stack([xp.asarray(v, dtype=float) for part in props[name] for v in part])
                             for name, _ in self._materials])

        glassy = table(self.mechanical_properties(p))
        rubbery = table(self.mechanical_properties(p, above_tg=True))
        tg = np.array([glass_transition(self.stack.material(n), self.stack) for n, _ in self._materials])[g.material]
        t = xp.broadcast_to(xp.asarray(temperature, dtype=float), g.shape)
        t0 = xp.broadcast_to(xp.asarray(stress_free, dtype=float), g.shape)
        lo, hi = glassy[g.material], rubbery[g.material]  # (nx, ny, nz, 12)
        per = xp.where((t > tg)[..., None], hi, lo)
        strain = thermal_strain(lo[..., 9:], hi[..., 9:], tg[..., None], t0[..., None], t[..., None], xp=xp)
        axis0 = (lambda a: xp.moveaxis(a, -1, 0))
        return ElasticFields(E=axis0(per[..., 0:3]), nu=axis0(per[..., 3:6]), G=axis0(per[..., 6:9]),
                             alpha_dT=axis0(strain))

    def source_pattern(self, key: str) -> np.ndarray:
        """The unit (1 W) source [1/m^3] of one power key, per element."""
        for s in self._sources:
            if s.name == key:
                return s.plane[:, :, None] * self._profiles[s.profile][None, None, :]
        raise ModelError(f"no heat source {key!r}; power keys are {[s.name for s in self._sources]}")

    def chiplet_pattern(self, chiplet: str) -> np.ndarray:
        """The chiplet's dynamic power spread as the layout spreads it, at 1 W [1/m^3]; uniform over
        the die when its layout power is zero. Power traces and leakage use it."""
        return self._leak_patterns[chiplet]

    def leakage_source(self, params: Params | None, element_temperature):
        """Leakage heat [W/m^3] at element temperatures [K], and the leakage power per chiplet [W]."""
        p = self.params if params is None else params
        xp = _namespace(p, element_temperature)
        total = xp.zeros(self.grid.shape)
        vol = self.grid.cell_volumes()
        powers = {}
        for c in self.stack.chiplets:
            if c.leakage is None:
                continue
            w = self._leak_patterns[c.name]
            dT = element_temperature - c.leakage.reference_temperature
            coef = p.leakage_coefficients[c.name]
            if c.leakage.model == "exponential":
                factor = xp.exp(xp.minimum(coef[0] * dT, 700.0))
            else:
                factor = xp.ones_like(dT)
                for i in range(len(c.leakage.polynomial)):
                    factor = factor + coef[i] * dT ** (i + 1)
                factor = xp.maximum(factor, 0.0)
            q = w * p.leakage_power[c.name] * factor
            total = total + q
            powers[c.name] = xp.sum(q * vol)
        return total, powers

    @property
    def k_exponent(self) -> np.ndarray:
        """Per-element temperature exponent of conductivity, ``k(T) = k (T/T_ref)^n`` (0: constant)."""
        table = np.array([self.stack.material(n).temperature_exponent for n, _ in self._materials])
        return table[self.grid.material]

    @property
    def reference_temperature(self) -> np.ndarray:
        """Per-element reference temperature of the conductivity law [K]."""
        table = np.array([self.stack.material(n).reference_temperature for n, _ in self._materials])
        return table[self.grid.material]

    # -- solving ----------------------------------------------------------------------------------
    def solve(self, params: Params | None = None, *, solver: solvers.ThermalSolver | None = None,
              state=None, throw: bool = True) -> solvers.ThermalSolution:
        """Steady temperature of ``params`` (a :class:`solvers.ThermalSolution`, a pytree).

        ``solver`` defaults to :class:`solvers.MultigridCG` (rtol 1e-8); ``state`` reuses a
        set-up from ``solver.init(model.grid, model.fields(params))`` made for the same
        conductivities and ``h`` (only powers and ambients may differ). Traceable: ``jax.grad``
        and ``jax.vmap`` apply (with MultigridCG). Raises :class:`codesign.SolveError` when the
        solve fails and ``throw`` is true.
        """
        solver = solvers.MultigridCG() if solver is None else solver
        try:
            return solver.solve(self.grid, self.fields(params), state=state, throw=throw)
        except solvers.SolveError as e:
            raise solve_error(e) from e

    def init(self, params: Params | None = None, *, solver: solvers.ThermalSolver | None = None):
        """``solver.init`` on this model's fields: a set-up to pass as ``state=`` to many solves."""
        solver = solvers.MultigridCG() if solver is None else solver
        return solver.init(self.grid, self.fields(params))

    def junctions(self, temperature) -> dict:
        """Chiplet name -> junction temperature [K]: the largest nodal temperature of the die
        (the exact maximum of the Q1 field there). Traceable and batched (leading axes kept)."""
        xp = _namespace(temperature)
        t = xp.asarray(temperature)
        lead = t.shape[:-3]
        flat = t.reshape(lead + (-1,))
        return {name: xp.max(flat[..., idx], axis=-1) for name, idx in self._node_masks.items()}


def _namespace(*trees):
    """``jax.numpy`` when any leaf is a JAX array or tracer, else ``numpy``."""
    for tree in trees:
        for leaf in jax.tree_util.tree_leaves(tree):
            if isinstance(leaf, jax.Array):
                import jax.numpy as jnp

                return jnp
    return np


# ======================================================================================
# building
def build(stack: Stack, *, heat_sources: Sequence[HeatSource] = (), max_lateral_size: float | None = None,
          min_lateral_size: float | None = None, grading: float | None = None, cells_per_layer: int | None = None,
          max_vertical_size: float | None = None, lateral_cells_multiple: int = 1,
          max_cells: int | None = None, bisect: Sequence[int] = (0, 0, 0)) -> Model:
    """Mesh ``stack`` once and return its :class:`Model`.

    Keyword arguments override the layout's ``[mesh]`` controls; ``heat_sources`` add heat from
    other models (interconnect PHYs, ...) to rectangles of named chiplets (their edges become
    grid lines; each is a power key ``"<chiplet>/<name>"``). ``lateral_cells_multiple`` rounds the
    lateral cell counts up (finer cells) so that models of similar size share compiled solver
    programs (see :func:`codesign.mesh.mesh_geometry`). ``max_cells`` (default
    :data:`codesign.mesh.MAX_CELLS`, 30 million) is the size guard: a mesh over it raises
    :class:`~codesign.errors.ModelError` before anything mesh-sized is allocated; pass a larger
    value to build a bigger mesh on purpose. ``bisect = (kx, ky, kz)`` halves every cell ``k``
    times along each axis (a uniform refinement holding the unrefined grid; see
    :mod:`codesign.accuracy`).

    Examples
    --------
    >>> import codesign as cd
    >>> model = cd.build(cd.load_layout("demo"))
    >>> f = model.fields()
    >>> abs(f.total_power(model.grid) - model.stack.total_power) < 1e-9 * model.stack.total_power
    True
    """
    geo = mesh_geometry(stack, heat_sources=heat_sources, max_lateral_size=max_lateral_size,
                        min_lateral_size=min_lateral_size, grading=grading, cells_per_layer=cells_per_layer,
                        max_vertical_size=max_vertical_size, lateral_cells_multiple=lateral_cells_multiple,
                        max_cells=max_cells, bisect=bisect)
    stack = geo.stack
    g = geo.grid
    zc = g.element_centres()[2]
    dz = np.diff(g.z)
    cell_area = np.outer(np.diff(g.x), np.diff(g.y))

    # z profiles: one per distinct active slab, 1/thickness inside it
    profiles: list[np.ndarray] = []
    profile_keys: list[tuple] = []

    def profile(chip: Chiplet) -> int:
        za, zb_ = active_z(stack, geo.layer_z, chip)  # a die spanning layers: at its active side
        t = chip.active_thickness or (zb_ - za)
        key = (round(za, 15), round(zb_, 15))
        if key not in profile_keys:
            active = (zc > za) & (zc < zb_)
            meshed_t = float(np.sum(dz[active]))
            if not math.isclose(meshed_t, t, rel_tol=1e-9, abs_tol=1e-15):
                raise ModelError(f"chiplet {chip.name!r}: active thickness {t * 1e6:.4g} um is not resolved by the "
                                 f"mesh ({meshed_t * 1e6:.4g} um); check active_thickness")
            profile_keys.append(key)
            profiles.append(active / t)
        return profile_keys.index(key)

    def unit_plane(rect: Rect, what: str) -> np.ndarray:
        mask = rect_mask(g, rect)
        area = float(np.sum(cell_area[mask]))
        if not math.isclose(area, rect.area, rel_tol=1e-9):
            raise ModelError(f"{what}: {rect.area * 1e6:.6g} mm^2 in the layout but {area * 1e6:.6g} mm^2 on the "
                             "grid; a power region is thinner than the mesh resolves")
        return mask / rect.area

    sources: list[_Source] = []
    leak_patterns: dict = {}
    for c in stack.chiplets:
        prof = profile(c)
        base = c.power + (c.power_map.total if c.power_map is not None else 0.0)
        plane = np.zeros(g.shape[:2])
        if c.power:
            plane += unit_plane(c.rect, f"chiplet {c.name!r}") * c.power
        if c.power_map is not None:
            plane += _power_map_plane(g, cell_area, c)
        plane = plane / base if base > 0 else unit_plane(c.rect, f"chiplet {c.name!r}")
        sources.append(_Source(c.name, c.name, "chiplet", plane, prof, base))
        dyn = plane * base
        for b in c.power_blocks:
            bp = unit_plane(b.rect, f"power block {c.name}/{b.name}")
            sources.append(_Source(f"{c.name}/{b.name}", c.name, "block", bp, prof, b.power))
            dyn = dyn + bp * b.power
        total = c.total_power
        leak_plane = dyn / total if total > 0 else unit_plane(c.rect, f"chiplet {c.name!r}")
        leak_patterns[c.name] = leak_plane[:, :, None] * profiles[prof][None, None, :]
    for hs in geo.heat_sources:
        key = f"{hs.chiplet}/{hs.name}"
        if any(s.name == key for s in sources):
            raise ModelError(f"`build(heat_sources=...)`: source {key!r} has the name of a power block; rename it")
        sources.append(_Source(key, hs.chiplet, "heat_source", unit_plane(hs.rect, f"heat source {key}"),
                               profile(stack.chiplet(hs.chiplet)), hs.power))

    # materials: plain ones are parameters, homogenised ones are recomputed from their parents
    materials = tuple((name, stack.material(name).recipe) for name in g.material_names)
    plain: dict = {}

    def add_plain(name: str) -> None:
        m = stack.material(name)
        if m.recipe is not None:
            for parent in m.recipe.parents:
                add_plain(parent)
        elif name not in plain:
            plain[name] = m

    for name, _ in materials:
        try:
            add_plain(name)
        except KeyError:
            raise ModelError(f"material {name!r} (or a parent of it) is not defined in stack {stack.name!r}") from None

    top, bottom = stack.layers[0], stack.layers[-1]
    face_masks: dict = {}
    h0, amb0 = {}, {}
    for boundary, spec in (("top", stack.top), ("bottom", stack.bottom), ("sides", stack.sides)):
        h0[boundary] = float(spec.heat_transfer_coefficient)
        amb0[boundary] = float(spec.ambient)
    if stack.top.heat_transfer_coefficient > 0:
        face_masks["zmax"] = rect_mask(g, top.extent).astype(float)
    if stack.bottom.heat_transfer_coefficient > 0:
        face_masks["zmin"] = rect_mask(g, bottom.extent).astype(float)
    if stack.sides.heat_transfer_coefficient > 0:
        for face in BOUNDARIES["sides"]:
            face_masks[face] = np.ones(solvers.face_shape(g.shape, face))

    nx, ny, nz = g.shape
    node_masks = {}
    for c in stack.chiplets:
        if geo.chiplet_regions[c.name] not in g.region_names:
            continue  # covered by a later die of its layer (placement's fixed grid spreads dies so)
        emask = g.region_mask(geo.chiplet_regions[c.name])
        nmask = np.zeros(g.node_shape, bool)
        for a in (0, 1):
            for b in (0, 1):
                for d in (0, 1):
                    nmask[a:a + nx, b:b + ny, d:d + nz] |= emask
        node_masks[c.name] = np.flatnonzero(nmask)

    leaky = [c for c in stack.chiplets if c.leakage is not None]
    params = Params(
        power={s.name: float(s.nominal) for s in sources},
        conductivity={n: np.array([m.kx, m.ky, m.kz]) for n, m in plain.items()},
        heat_capacity={n: float(m.heat_capacity) for n, m in plain.items()},
        h=h0, ambient=amb0,
        leakage_power={c.name: float(c.leakage.reference_power) for c in leaky},
        leakage_coefficients={c.name: (np.array([c.leakage.coefficient]) if c.leakage.model == "exponential"
                                       else np.array(c.leakage.polynomial, dtype=float)) for c in leaky},
        **_mechanical_params(plain),
    )
    return Model(stack=stack, geometry=geo, params=params, _sources=tuple(sources), _profiles=np.array(profiles),
                 _leak_patterns=leak_patterns, _face_masks=face_masks, _materials=materials, _node_masks=node_masks)


def _mechanical_params(plain: dict) -> dict:
    """The glassy mechanical parameters of the plain materials that have them (codesign.mechanics)."""
    from .mechanics import plain_mechanics

    out: dict = {"youngs_modulus": {}, "poisson_ratio": {}, "shear_modulus": {}, "cte": {}}
    for n, m in plain.items():
        if m.has_mechanics:
            e, nu, g, a = plain_mechanics(m)
            for key, v in zip(out, (e, nu, g, a)):
                out[key][n] = np.array(v, dtype=float)
    return out


def ensure_model(stack_or_model: Stack | Model, *, heat_sources: Sequence[HeatSource] = (), call: str) -> Model:
    """The model of a stack (built here) or the model given; ``heat_sources`` need a stack."""
    if isinstance(stack_or_model, Model):
        if heat_sources:
            raise ModelError(f"`{call}(heat_sources=...)` needs a Stack, which is built with the sources; pass the "
                             "stack, or build the model yourself with `codesign.build(stack, heat_sources=...)`")
        return stack_or_model
    if not isinstance(stack_or_model, Stack):
        raise ModelError(f"`{call}` takes a codesign.Stack (from load_layout) or a codesign.Model (from build), "
                         f"not {type(stack_or_model).__name__}")
    return build(stack_or_model, heat_sources=heat_sources)


def _power_map_plane(g: TensorGrid, cell_area: np.ndarray, c: Chiplet) -> np.ndarray:
    """Heat flux [W/m^2] of a chiplet's power map on the grid's (x, y) cells (vectorised: a
    500 x 500 map builds in about a second).

    Every map cell's edges are grid lines (the mesher puts them there), so each grid cell lies in
    one map cell; a map cell whose area on the grid differs from its area in the layout means the
    mesh does not resolve it.
    """
    vals = np.asarray(c.power_map.values, dtype=float)
    nrow, ncol = vals.shape
    w, hgt = c.rect.width / ncol, c.rect.height / nrow
    xc, yc, _ = g.element_centres()
    inside = ((xc > c.rect.x) & (xc < c.rect.x1))[:, None] & ((yc > c.rect.y) & (yc < c.rect.y1))[None, :]
    ix = np.clip(np.floor((xc - c.rect.x) / w).astype(np.int64), 0, ncol - 1)
    iy = np.clip(np.floor((yc - c.rect.y) / hgt).astype(np.int64), 0, nrow - 1)
    flat = iy[None, :] * ncol + ix[:, None]
    covered = np.bincount(flat[inside], weights=cell_area[inside], minlength=nrow * ncol).reshape(nrow, ncol)
    bad = (vals != 0) & ~np.isclose(covered, w * hgt, rtol=1e-9, atol=0.0)
    if bad.any():
        r, col = np.argwhere(bad)[0]
        raise ModelError(f"chiplet {c.name!r} power map: cell (row {r}, column {col}) is {w * hgt * 1e6:.6g} mm^2 in "
                         f"the layout but {covered[r, col] * 1e6:.6g} mm^2 on the grid; a power region is thinner "
                         "than the mesh resolves")
    return np.where(inside, vals.reshape(-1)[flat] / (w * hgt), 0.0)
