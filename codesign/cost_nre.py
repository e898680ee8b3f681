"""Non-recurring engineering (NRE) at module, chip, D2D-PHY and package level, shared across a
family of products (the NRE model of Chiplet Actuary), and design NRE by area and function (CATCH).

Chiplet Actuary (Feng & Ma, DAC 2022; ``chiplet_actuary/spec.py``, ``module.py``, ``chip.py``,
``package.py``, ``utils.py``): with ``K(node)`` the NRE of a 300 mm² chip at the node
(:attr:`codesign.cost.NodeParams.design_nre`; Actuary's ``parameter.ini`` ``NRE``),

* a **module** (an IP block) of area ``A_m`` [mm²]: ``β_m · K / 300 · A_m`` with ``β_m = 0.5``;
  a **D2D PHY** is a module of ``a_d2d = 20 mm²`` (Actuary's default), once per node;
* a **chip** of area ``A_c``: ``β_c · K / 300 · A_c + (1 − β_m − β_c) · K`` with ``β_c = 0.3``;
* a **package**: given per product [$] (for example :func:`actuary_package_nre`).

Each design is paid once for the whole family and amortised over every unit that contains it:
a module over ``Σ_products volume × copies of the module``, a chip over ``Σ volume × copies of
the chip``, a package over the products that share it. :func:`family_nre` returns each product's
share per unit, by level.

CATCH (Graening et al. 2023; ``wafer_process_definitions.xml``): design NRE per mm² of core area,
front end + back end, for logic, memory and analog: :func:`design_nre_by_function`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from .cost import DEFAULT_COST_PARAMS, MM2, CostError, CostParams, _check

__all__ = ["ChipDesign", "FamilyNRE", "Module", "NREModel", "Product", "actuary_package_nre",
           "design_nre_by_function", "family_nre"]


@dataclass(frozen=True)
class NREModel:
    """Shares of a chip's NRE: ``module_share`` per module area, ``chip_share`` per chip area, the rest
    fixed per chip (Actuary ``[NRE] module = 0.5, chip = 0.3``); ``d2d_area`` [m²] the D2D PHY
    module (Actuary: 20 mm²)."""

    module_share: float = 0.5
    chip_share: float = 0.3
    d2d_area: float = 20 * MM2
    source: str = "tool: Chiplet Actuary parameter.ini [NRE] module = 0.5, chip = 0.3; module.py D2D 20 mm2"

    def __post_init__(self):
        _check("NREModel", "module_share", self.module_share, kind="fraction")
        _check("NREModel", "chip_share", self.chip_share, kind="fraction")
        _check("NREModel", "d2d_area", self.d2d_area, unit="m^2")
        if self.module_share + self.chip_share > 1:
            raise CostError(f"NREModel: module_share + chip_share = {self.module_share + self.chip_share:g} > 1; "
                            "the fixed share 1 - both must be >= 0")


@dataclass(frozen=True)
class Module:
    """An IP block of ``area`` [m²] designed at ``node``; ``nre`` [$] overrides the model."""

    name: str
    node: str
    area: float
    nre: float | None = None

    def __post_init__(self):
        _check(f"Module({self.name!r})", "area", self.area, unit="m^2")
        _check(f"Module({self.name!r})", "nre", self.nre, unit="$", optional=True)


@dataclass(frozen=True)
class ChipDesign:
    """A chip (chiplet) at ``node`` holding ``modules`` ((Module, copies), ...); ``d2d``: it has a D2D PHY
    (``d2d_copies`` of it). Its area is the modules' plus the PHYs'. ``nre`` [$] overrides the model."""

    name: str
    node: str
    modules: tuple[tuple[Module, int], ...]
    d2d_copies: int = 0
    nre: float | None = None

    def __post_init__(self):
        for m, n in self.modules:
            if not isinstance(m, Module):
                raise CostError(f"ChipDesign({self.name!r}): modules are (Module, copies) pairs, got {m!r}")
            _check(f"ChipDesign({self.name!r})", f"copies of {m.name}", n, kind="count1")
            if m.node != self.node:
                raise CostError(f"ChipDesign({self.name!r}) at {self.node}: module {m.name!r} is designed at {m.node}; "
                                "a chip's modules share its node")
        _check(f"ChipDesign({self.name!r})", "d2d_copies", self.d2d_copies, kind="count")
        _check(f"ChipDesign({self.name!r})", "nre", self.nre, unit="$", optional=True)

    def area(self, model: NREModel) -> float:
        return sum(m.area * n for m, n in self.modules) + self.d2d_copies * model.d2d_area


@dataclass(frozen=True)
class Product:
    """A product of the family: ``chips`` ((ChipDesign, copies), ...), ``volume`` units, its package's NRE
    [$] and ``package`` (a name: products naming the same package share its NRE)."""

    name: str
    chips: tuple[tuple[ChipDesign, int], ...]
    volume: float
    package_nre: float = 0.0
    package: str = ""

    def __post_init__(self):
        _check(f"Product({self.name!r})", "volume", self.volume, kind="positive", unit="units")
        _check(f"Product({self.name!r})", "package_nre", self.package_nre, unit="$")
        for c, n in self.chips:
            if not isinstance(c, ChipDesign):
                raise CostError(f"Product({self.name!r}): chips are (ChipDesign, copies) pairs, got {c!r}")
            _check(f"Product({self.name!r})", f"copies of {c.name}", n, kind="count1")


@dataclass(frozen=True)
class FamilyNRE:
    """NRE per unit of one product [$], by level, and the family's total NRE [$]."""

    product: str
    module: float
    d2d: float
    chip: float
    package: float
    family_total: float = field(default=0.0)

    @property
    def per_unit(self) -> float:
        return self.module + self.d2d + self.chip + self.package


def _k(params: CostParams, node: str) -> float:
    return params.node(node, where="`family_nre`: ").design_nre


def family_nre(products: list[Product], params: CostParams = DEFAULT_COST_PARAMS,
               model: NREModel = NREModel()) -> list[FamilyNRE]:
    """Each product's NRE share per unit, with modules, D2D PHYs, chips and packages designed once for
    the family and amortised over every unit containing them (module docstring)."""
    if not products:
        raise CostError("`family_nre`: give at least one Product")
    mod_units: dict[tuple, float] = {}
    d2d_units: dict[str, float] = {}
    chip_units: dict[str, float] = {}
    pkg_units: dict[str, float] = {}
    mods: dict[tuple, Module] = {}
    chips: dict[str, ChipDesign] = {}
    for p in products:
        pkg_units[p.package or p.name] = pkg_units.get(p.package or p.name, 0.0) + p.volume
        for c, n in p.chips:
            if c.name in chips and chips[c.name] != c:
                raise CostError(f"`family_nre`: two different chips are named {c.name!r}; rename one")
            chips[c.name] = c
            chip_units[c.name] = chip_units.get(c.name, 0.0) + n * p.volume
            if c.d2d_copies:
                d2d_units[c.node] = d2d_units.get(c.node, 0.0) + n * c.d2d_copies * p.volume
            for m, k in c.modules:
                key = (m.name, m.node)
                mods[key] = m
                mod_units[key] = mod_units.get(key, 0.0) + n * k * p.volume

    def module_nre(m: Module) -> float:
        return m.nre if m.nre is not None else model.module_share * _k(params, m.node) / (300 * MM2) * m.area

    def d2d_nre(node: str) -> float:
        return model.module_share * _k(params, node) / (300 * MM2) * model.d2d_area

    def chip_nre(c: ChipDesign) -> float:
        if c.nre is not None:
            return c.nre
        k = _k(params, c.node)
        return model.chip_share * k / (300 * MM2) * c.area(model) + (1 - model.module_share - model.chip_share) * k

    pkg_nre = {}
    for p in products:
        key = p.package or p.name
        if key in pkg_nre and pkg_nre[key] != p.package_nre:
            raise CostError(f"`family_nre`: products sharing package {key!r} give different package_nre; give one")
        pkg_nre[key] = p.package_nre
    total = (sum(module_nre(m) for m in mods.values()) + sum(d2d_nre(n) for n in d2d_units)
             + sum(chip_nre(c) for c in chips.values()) + sum(pkg_nre.values()))
    out = []
    for p in products:
        m = sum(n * k * module_nre(mm) / mod_units[(mm.name, mm.node)] for c, n in p.chips for mm, k in c.modules)
        d = sum(n * c.d2d_copies * d2d_nre(c.node) / d2d_units[c.node] for c, n in p.chips if c.d2d_copies)
        ch = sum(n * chip_nre(c) / chip_units[c.name] for c, n in p.chips)
        pk = pkg_nre[p.package or p.name] / pkg_units[p.package or p.name]
        out.append(FamilyNRE(p.name, m, d, ch, pk, total))
    return out


def actuary_package_nre(technology: str, die_area: float, n_chips: int) -> float:
    """Package NRE [$] by Chiplet Actuary's formulas (``package.py``; ``parameter.ini`` [OS], [FO], [SI]).

    Organic substrate (area 4 × dies): ``A · 3000 $/mm² · f + $300k``, ``f`` = 1 (one chip), 1.5, 1.75 (above
    17² mm²), 2 (above 30² mm²). InFO RDL (interposer 1.2 × dies): ``A_int · (0.5 · 1.5e7/300) +
    0.5 · 1.5e7/300 + A_sub · 0.005``. Si interposer (1.1 × dies): ``A_int · 1.2 · 0.3 · K55/300 + 1.2 · 0.2 ·
    K55 + A_sub · 0.005`` with ``K55 = 2.8e7``. Areas in m² in, formulas in mm².
    """
    _check("`actuary_package_nre`", "die_area", die_area, kind="positive", unit="m^2")
    _check("`actuary_package_nre`", "n_chips", n_chips, kind="count1")
    a = die_area / MM2
    if technology == "organic_substrate":
        area = 4 * a
        f = 1.0 if n_chips == 1 else 2.0 if area > 30 * 30 else 1.75 if area > 17 * 17 else 1.5
        return area * 3e3 * f + 3e5
    if technology == "organic_rdl":
        ai = 1.2 * a
        return ai * 0.5 * 1.5e7 / 300 + 0.5 * 1.5e7 / 300 + 4 * ai * 0.005
    if technology == "silicon_interposer":
        ai = 1.1 * a
        return ai * 0.3 * 2.8e7 / 300 * 1.2 + (1 - 0.5 - 0.3) * 2.8e7 * 1.2 + 4 * ai * 0.005
    raise CostError(f"`actuary_package_nre`: Actuary models organic_substrate, organic_rdl and silicon_interposer, "
                    f"not {technology!r}")


def design_nre_by_function(area: float, fractions: dict[str, float], per_area: dict[str, float]) -> float:
    """CATCH's design NRE [$]: ``Σ_f fraction_f · area · (front-end + back-end cost per area)_f``.

    ``fractions`` of the core area by function (``logic``, ``memory``, ``analog``; sum 1);
    ``per_area`` [$/m²] the front + back-end design cost of each (CATCH ``wafer_process`` fields
    ``nre_front_end_cost_per_mm2_*`` + ``nre_back_end_cost_per_mm2_*``).
    """
    _check("`design_nre_by_function`", "area", area, unit="m^2")
    if not fractions or abs(sum(fractions.values()) - 1) > 1e-9:
        raise CostError(f"`design_nre_by_function`: fractions {fractions!r} must sum to 1")
    total = 0.0
    for k, f in fractions.items():
        _check("`design_nre_by_function`", f"fractions[{k!r}]", f, kind="fraction")
        if k not in per_area:
            raise CostError(f"`design_nre_by_function`: no cost per area for {k!r}; give per_area[{k!r}]")
        _check("`design_nre_by_function`", f"per_area[{k!r}]", per_area[k], unit="$/m^2")
        total += f * area * per_area[k]
    if not math.isfinite(total):
        raise CostError("`design_nre_by_function`: the NRE overflows; check the units ($/m^2)")
    return total
