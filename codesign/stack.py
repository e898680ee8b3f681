"""The package stack as immutable specs, in SI units.

Specs are frozen dataclasses of floats, strings and tuples: hashable, comparable, safe to use
as static metadata. Change one with :func:`dataclasses.replace` or the ``with_*`` helpers.
Coordinates are absolute in the package frame: x, y in the package plane with the origin at
the package's lower-left corner; layers are listed top (heat-sink side) to bottom (board side).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from .errors import UnknownNameError

__all__ = [
    "CHIPLET_KINDS",
    "INTERCONNECT_KINDS",
    "Boundary",
    "HeatSource",
    "Chiplet",
    "HBMStack",
    "Interconnect",
    "Layer",
    "Leakage",
    "Link",
    "Material",
    "MeshControls",
    "PowerBlock",
    "PowerMap",
    "Rect",
    "Stack",
]

CHIPLET_KINDS = ("logic", "hbm", "optical_engine", "bridge", "dummy")
INTERCONNECT_KINDS = ("c4", "microbump", "hybrid_bond", "tsv")


@dataclass(frozen=True)
class Material:
    """A material with principal conductivities [W/m/K] and volumetric heat capacity [J/m^3/K].

    ``k(T) = k·(T / reference_temperature)^temperature_exponent`` (exponent 0: constant).
    """

    name: str
    kx: float
    ky: float
    kz: float
    heat_capacity: float
    temperature_exponent: float = 0.0
    reference_temperature: float = 300.0
    source: str = ""
    # How a homogenised material derives from its parents (codesign.homogenise recipes); None for
    # a plain material. A design model re-homogenises from the parents' parameters with it.
    recipe: object = None
    # -- mechanics (codesign.mechanics; None where the material has no data: it cannot take part
    # in a warpage solve). Values below the glass transition; principal axes x, y, z.
    youngs_modulus: tuple | None = None  # (Ex, Ey, Ez) [Pa]
    poisson_ratio: tuple | None = None  # (nu_xy, nu_yz, nu_xz): contraction along the 2nd axis under load along the 1st
    shear_modulus: tuple | None = None  # (G_xy, G_yz, G_xz) [Pa]; None: sqrt(Ei Ej) / (2 (1 + nu_ij))
    cte: tuple | None = None  # (ax, ay, az) [1/K]
    glass_transition: float | None = None  # Tg [K]; above it E and CTE take the values below
    youngs_modulus_above_tg: tuple | None = None  # (Ex, Ey, Ez) [Pa] above Tg (shear moduli scale alike)
    cte_above_tg: tuple | None = None  # (ax, ay, az) [1/K] above Tg
    mechanical_source: str = ""

    @property
    def isotropic(self) -> bool:
        return self.kx == self.ky == self.kz

    @property
    def has_mechanics(self) -> bool:
        """Whether E, nu and CTE are given (or derive from parents that have them)."""
        return self.recipe is not None or (self.youngs_modulus is not None and self.poisson_ratio is not None
                                           and self.cte is not None)


@dataclass(frozen=True)
class Rect:
    """An axis-aligned rectangle: lower-left corner ``(x, y)`` and size ``(width, height)`` [m]."""

    x: float
    y: float
    width: float
    height: float

    @property
    def x1(self) -> float:
        return self.x + self.width

    @property
    def y1(self) -> float:
        return self.y + self.height

    @property
    def area(self) -> float:
        return self.width * self.height

    @property
    def centre(self) -> tuple[float, float]:
        return (self.x + 0.5 * self.width, self.y + 0.5 * self.height)

    def contains(self, other: "Rect", tol: float = 1e-12) -> bool:
        return (other.x >= self.x - tol and other.y >= self.y - tol
                and other.x1 <= self.x1 + tol and other.y1 <= self.y1 + tol)

    def overlap_area(self, other: "Rect") -> float:
        w = min(self.x1, other.x1) - max(self.x, other.x)
        h = min(self.y1, other.y1) - max(self.y, other.y)
        return max(w, 0.0) * max(h, 0.0)

    def overlaps(self, other: "Rect", tol: float = 1e-15) -> bool:
        return self.overlap_area(other) > tol


@dataclass(frozen=True)
class PowerBlock:
    """A rectangle of uniform power inside a chiplet (absolute coordinates)."""

    name: str
    rect: Rect
    power: float


@dataclass(frozen=True)
class PowerMap:
    """A grid of powers [W] over a chiplet: ``values[row][col]``, row 0 at the die's low-y edge."""

    path: str
    values: tuple[tuple[float, ...], ...]

    @property
    def total(self) -> float:
        return float(sum(sum(r) for r in self.values))


@dataclass(frozen=True)
class Leakage:
    """Leakage power versus temperature, spread like the chiplet's power map.

    ``exponential``: ``P(T) = reference_power·exp(coefficient·(T − reference_temperature))``.
    ``polynomial``: ``P(T) = reference_power·(1 + Σ c_i (T − T_ref)^i)``, ``c_i`` in
    ``polynomial`` [1/K^i].
    """

    reference_power: float
    reference_temperature: float
    model: str = "exponential"
    coefficient: float = 0.0
    polynomial: tuple[float, ...] = ()


@dataclass(frozen=True)
class HeatSource:
    """Extra heat from any model (PHYs, voltage regulators, ...) deposited in part of a chiplet.

    ``rect`` (absolute coordinates) must lie inside the chiplet ``chiplet``; the power is spread
    uniformly over that rectangle and the chiplet's active thickness. ``origin`` names the model
    that produced it (e.g. ``"interconnect"``), so reports can split the heat by cause.
    """

    name: str
    chiplet: str
    rect: Rect
    power: float
    origin: str = "user"


@dataclass(frozen=True)
class Interconnect:
    """A physical interconnect array: conductor columns in a fill, homogenised automatically."""

    kind: str
    pitch: float
    diameter: float
    material: str
    fill: str


@dataclass(frozen=True)
class HBMStack:
    """An HBM stack described by its DRAM dies; homogenised into one anisotropic block."""

    generation: str
    dram_dies: int
    die_thickness: float
    bond_thickness: float
    base_die_thickness: float
    bond: Interconnect


@dataclass(frozen=True)
class Chiplet:
    """A die (or bridge, or dummy) filling its layer's full thickness over ``rect``.

    ``spans`` names the consecutive layers (top to bottom) a die fills when it is taller than one
    layer (an HBM stack beside a 3D stack, a die split into active and bulk layers); ``()`` means
    its own layer only. A spanning die is one die: one region of the mesh across all its layers,
    one junction temperature, listed once in :attr:`Stack.chiplets`, in the ``chiplets`` of its
    *bottom* (bump-side) layer. Its active slab (``active_thickness``) lies at ``active_side`` of
    the whole die.
    """

    name: str
    kind: str
    material: str
    rect: Rect
    power: float = 0.0
    power_blocks: tuple[PowerBlock, ...] = ()
    power_map: PowerMap | None = None
    active_thickness: float | None = None
    active_side: str = "bottom"
    leakage: Leakage | None = None
    tj_max: float | None = None
    hbm: HBMStack | None = None
    spans: tuple[str, ...] = ()
    node: str | None = None  # process node for the cost model (codesign.cost); None: the cost default

    @property
    def total_power(self) -> float:
        """Dynamic power [W]: uniform + blocks + map."""
        return (self.power + sum(b.power for b in self.power_blocks)
                + (self.power_map.total if self.power_map else 0.0))


@dataclass(frozen=True)
class Layer:
    """One layer of the stack: a fill material over ``extent``, chiplets placed in it.

    Outside ``extent`` the layer holds ``surround`` (air by default). ``chiplets`` are the dies
    whose bottom layer this is; :meth:`Stack.occupants` adds those spanning it from above. An interconnect layer
    carries ``interconnect``, homogenised and applied over the whole extent
    (``interconnect_region = "extent"``) or only under the chiplets of the layer above
    (``"under_above"``).
    """

    name: str
    thickness: float
    material: str
    extent: Rect
    surround: str = "air"
    chiplets: tuple[Chiplet, ...] = ()
    interconnect: Interconnect | None = None
    interconnect_region: str = "extent"
    cells: int | None = None


@dataclass(frozen=True)
class Boundary:
    """A convective boundary: ``q = h (T − ambient)``; ``h = 0`` is adiabatic."""

    kind: str
    heat_transfer_coefficient: float
    ambient: float


@dataclass(frozen=True)
class Link:
    """A required connection between two chiplets (used by the interconnect model)."""

    name: str
    endpoints: tuple[str, str]
    bandwidth: float
    phy: str = "auto"
    length: float | None = None


@dataclass(frozen=True)
class MeshControls:
    """Mesh size controls [m]; ``grading`` is the largest neighbour-cell size ratio."""

    max_lateral_size: float = 1e-3
    min_lateral_size: float | None = None
    grading: float = 1.0
    cells_per_layer: int = 1
    max_vertical_size: float = 2e-4
    # accuracy (codesign.accuracy): the error target of the chiplet temperatures, in K or as a
    # fraction of the largest rise (neither: 1 % of the rise), and the cell budget of refinement
    target_error: float | None = None
    target_fraction: float | None = None
    max_cells: int | None = None


@dataclass(frozen=True)
class Stack:
    """A validated package stack (see :func:`codesign.load_layout`)."""

    name: str
    description: str
    package: Rect
    layers: tuple[Layer, ...]
    materials: tuple[Material, ...]
    top: Boundary
    bottom: Boundary
    sides: Boundary
    links: tuple[Link, ...] = ()
    mesh: MeshControls = field(default_factory=MeshControls)
    source: str = ""
    phys: tuple = ()  # PHY specs defined by the layout's [phys.NAME] tables (codesign.phys.PhySpec)
    warpage: object = None  # the layout's [warpage] table (codesign.mechanics.WarpageSpec); None: defaults
    cost: object = None  # the layout's [cost] table (codesign.cost_io.CostInputs); None: cost defaults

    # -- lookups -----------------------------------------------------------------------------
    def material(self, name: str) -> Material:
        for m in self.materials:
            if m.name == name:
                return m
        raise UnknownNameError(f"no material {name!r} in stack {self.name!r}; materials are {[m.name for m in self.materials]}")

    def layer(self, name: str) -> Layer:
        for layer in self.layers:
            if layer.name == name:
                return layer
        raise UnknownNameError(f"no layer {name!r}; layers are {[l.name for l in self.layers]}")

    @property
    def chiplets(self) -> tuple[Chiplet, ...]:
        return tuple(c for layer in self.layers for c in layer.chiplets)

    def chiplet(self, name: str) -> Chiplet:
        for c in self.chiplets:
            if c.name == name:
                return c
        raise UnknownNameError(f"no chiplet {name!r}; chiplets are {[c.name for c in self.chiplets]}")

    def layer_of(self, chiplet: str) -> Layer:
        """The layer whose ``chiplets`` hold the die: for a die spanning layers, its bottom one."""
        for layer in self.layers:
            if any(c.name == chiplet for c in layer.chiplets):
                return layer
        raise UnknownNameError(f"no chiplet {chiplet!r}; chiplets are {[c.name for c in self.chiplets]}")

    def layers_of(self, chiplet: str) -> tuple[Layer, ...]:
        """Every layer the die fills, top to bottom (one unless it spans several, see :class:`Chiplet`)."""
        home = self.layer_of(chiplet)
        spans = self.chiplet(chiplet).spans
        return tuple(layer for layer in self.layers if layer.name in spans) if spans else (home,)

    def occupants(self, layer: str) -> tuple[Chiplet, ...]:
        """The dies that fill part of ``layer``: its own chiplets and those spanning it from other layers."""
        own = self.layer(layer).chiplets
        names = {c.name for c in own}
        return own + tuple(c for c in self.chiplets if layer in c.spans and c.name not in names)

    @property
    def total_power(self) -> float:
        """Total dynamic power of all chiplets [W]."""
        return sum(c.total_power for c in self.chiplets)

    @property
    def height(self) -> float:
        return sum(layer.thickness for layer in self.layers)

    def layer_bottoms(self) -> dict[str, float]:
        """z of each layer's bottom face [m], with z = 0 at the board side."""
        z, out = 0.0, {}
        for layer in reversed(self.layers):
            out[layer.name] = z
            z += layer.thickness
        return out

    # -- copies ---------------------------------------------------------------------------------
    def with_chiplet(self, name: str, **changes) -> "Stack":
        """A copy with one chiplet's fields replaced (e.g. ``power="120 W"``, ``rect=...``).

        Quantities take the layout file's unit strings (``power="120 W"``, ``tj_max="105 degC"``,
        ``active_thickness="20 um"``) or SI floats (``power=120.0``, ``tj_max=378.15``).

        ``power`` is the chiplet's *uniform* power, as in the layout file: its power blocks and
        power map add on top (:attr:`Chiplet.total_power` = power + blocks + map). On the demo,
        whose logic die has 40 W uniform and a 60 W block, ``power="120 W"`` gives 180 W. To set
        the die's total and keep how it is spread, pass ``total_power="120 W"`` instead: the
        uniform power, every block and every power-map cell are scaled by the same factor.
        """
        chip = self.chiplet(name)
        changes = _si_changes(f"Stack.with_chiplet({name!r}, ...)", changes, _CHIPLET_QUANTITIES)
        if "total_power" in changes:
            changes.update(_scaled_power(chip, changes.pop("total_power")))
        layers = tuple(
            dataclasses.replace(layer, chiplets=tuple(
                dataclasses.replace(c, **changes) if c.name == name else c for c in layer.chiplets))
            for layer in self.layers)
        return dataclasses.replace(self, layers=layers)

    def with_layer(self, name: str, **changes) -> "Stack":
        """A copy with one layer's fields replaced (e.g. ``thickness="50 um"`` or ``thickness=5e-5``)."""
        self.layer(name)
        changes = _si_changes(f"Stack.with_layer({name!r}, ...)", changes, _LAYER_QUANTITIES)
        return dataclasses.replace(self, layers=tuple(
            dataclasses.replace(l, **changes) if l.name == name else l for l in self.layers))


#: Fields of :class:`Chiplet` and :class:`Layer` that are quantities, with their kind
#: (:data:`codesign.units.DIMENSIONS`): the ``with_*`` helpers accept unit strings for them.
_CHIPLET_QUANTITIES = {"power": "power", "total_power": "power", "active_thickness": "length",
                       "tj_max": "temperature"}
_LAYER_QUANTITIES = {"thickness": "length"}


def _si_changes(call: str, changes: dict, kinds: dict) -> dict:
    """``changes`` with unit strings of quantity fields parsed to SI floats (UnitError naming the call)."""
    from .units import UnitError, parse_quantity

    out = dict(changes)
    for key, kind in kinds.items():
        v = out.get(key)
        if isinstance(v, str):
            try:
                out[key] = parse_quantity(v, kind)
            except UnitError as e:
                raise UnitError(f"`{call}` {key}={v!r}: {e}") from None
        elif isinstance(v, (bool, list, tuple, dict, set)):
            raise UnitError(f"`{call}` {key}={v!r}: expected a {kind.replace('_', ' ')} as a unit string "
                            f"(e.g. {_EXAMPLES[kind]!r}) or an SI number")
    return out


_EXAMPLES = {"power": "120 W", "length": "50 um", "temperature": "105 degC"}


def _scaled_power(chip: Chiplet, total: float) -> dict:
    """The ``power``, ``power_blocks`` and ``power_map`` of ``chip`` scaled so that they add up to ``total``."""
    from .errors import ModelError

    if total < 0:
        raise ModelError(f"`with_chiplet({chip.name!r}, total_power=...)`: a power is at least 0 W, got {total:g} W")
    now = chip.total_power
    if now <= 0:  # nothing to scale: the total becomes uniform power
        return {"power": float(total)}
    f = total / now
    out = {"power": chip.power * f,
           "power_blocks": tuple(dataclasses.replace(b, power=b.power * f) for b in chip.power_blocks)}
    if chip.power_map is not None:
        out["power_map"] = dataclasses.replace(
            chip.power_map, values=tuple(tuple(v * f for v in row) for row in chip.power_map.values))
    return out
