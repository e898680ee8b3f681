"""Cost and yield of chiplet packages: dies per wafer, yield, known-good-die test, interposers,
bonding, assembly flow, HBM / optical-engine units and NRE.

Every default lives in a parameter table whose entries carry a ``source`` string, taken from
``shared/reference/parameters.md`` (cited [P§n]). Values that file marks UNSOURCED, or that no
source gives, are placeholders whose source starts with ``"UNSOURCED placeholder"``;
:meth:`CostParams.placeholders` lists them. Override anything with :meth:`CostParams.with_node`,
:meth:`CostParams.with_technology` or :func:`dataclasses.replace`.

**Cautions** (from [P§5]): the wafer prices are a disputed 2020 leak; every yield and bonding
constant of the public tools (Chiplet Actuary, CATCH, RapidChiplet) is the tool's own assumption;
edge-exclusion conventions differ (5 mm Actuary, 3 mm Google, 0.1 mm CATCH, none RapidChiplet).
Treat the defaults as a consistent, documented parameter set, not as industry truth.

Dies per wafer
--------------
:func:`package_cost` counts whole dies on the wafer geometrically (:func:`dies_per_wafer`
``method="exact"``) and whole interposers per wafer; ``method="analytic"`` uses the classic
formula instead. :func:`die_yield` and the analytic :func:`dies_per_wafer` are smooth and work on
JAX arrays.

Model (per package; all costs in US dollars, areas in m², defect densities in 1/m²)
--------------------------------------------------------------------------------
* die: ``raw = wafer_cost / DPW``; yield ``Y`` (negative binomial by default);
  KGD test with coverage ``c``: a die passes with ``p = Y + (1 − Y)(1 − c)``; cost per passing
  die ``(raw + test) / p``; a passing die is good with probability ``q = Y / p`` (escapes
  ``1 − q`` are found only after assembly and scrap the package).
* interposer / RDL / glass / bridges: cost per unit from its wafer (or $/area) and its yield.
  **Chip-last** (interposer tested before dies are placed): cost per good interposer
  ``raw / Y_int`` and no die scrap. **Chip-first** (RDL built on placed dies): ``raw`` per
  attempt and ``Y_int`` multiplies the package yield, so an RDL defect scraps the dies.
* bonding: ``Y_bond = Π_chips y_chip · y_bond^n_bonds`` (microbumps: per signal bump; hybrid
  bonding: per-chip alignment and a void density over the bonded area). Structural (``dummy``)
  silicon carries no signals: it costs its placement but does not lower the yield.
* package: ``cost per good package = (Σ dies + units + interposer + substrate + assembly +
  package test) / (Π q · Y_bond · Y_substrate [· Y_int if chip-first])``.
* NRE: per distinct chiplet design ``design_nre(node) · area / 300 mm² + mask_set(node)``, shared
  by every product that reuses the chiplet; plus package NRE; divided by volume.
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import math
from dataclasses import dataclass, field
from typing import Mapping, Sequence

import jax.numpy as jnp
import numpy as np

from .errors import ModelError

__all__ = [
    "ASSEMBLY_FLOWS",
    "CostError",
    "CostParams",
    "CostBreakdown",
    "DEFAULT_COST_PARAMS",
    "DieCost",
    "DieSpec",
    "NodeParams",
    "PackageSpec",
    "RETICLE_AREA",
    "RETICLE_SIZE",
    "TECHNOLOGIES",
    "TechnologyParams",
    "YIELD_MODELS",
    "assembly_cost_per_chip",
    "die_cost",
    "die_yield",
    "dies_per_wafer",
    "kgd",
    "nre_per_unit",
    "package_cost",
    "split_die_cost",
]

UNSOURCED = "UNSOURCED placeholder"
MM2 = 1e-6          # m^2 per mm^2
PER_CM2 = 1e4       # (1/cm^2) -> (1/m^2)

#: Full reticle field [m]: 26 × 33 mm = 858 mm² (CATCH default; mooreslawisdead.com; TSMC quotes
#: "1 reticle ≈ 830 mm²", 2024 Annual Report p.102) [P§2].
RETICLE_SIZE = (26e-3, 33e-3)
RETICLE_AREA = RETICLE_SIZE[0] * RETICLE_SIZE[1]

YIELD_MODELS = ("poisson", "murphy", "seeds", "negative_binomial")
ASSEMBLY_FLOWS = ("chip_last", "chip_first")

_ACTUARY = "tool: Chiplet Actuary parameter.ini [P§5]"
_LEAK = "est (leak): TSMC wafer price ~Apr 2020, TechPowerUp via @chiakokhua; disputed (SemiWiki) [P§5]"
_CATCH_MASK = "tool: CATCH layer_definitions.xml, labelled arbitrary by CATCH [P§5]"


class CostError(ModelError):
    """A cost input is out of range or unknown; the message names the value and the fix.

    A :class:`codesign.errors.ModelError` (hence also a ``ValueError``)."""


# -- parameter tables -------------------------------------------------------------------------------

@dataclass(frozen=True)
class NodeParams:
    """A process node: 300 mm wafer price [$], defect density [1/m²], clustering α, mask set [$],
    design NRE of a 300 mm² chip [$]; ``sources`` maps each field to its source."""

    name: str
    wafer_cost: float
    defect_density: float
    alpha: float
    mask_set_cost: float
    design_nre: float
    sources: tuple[tuple[str, str], ...] = ()

    def source(self, name: str) -> str:
        return dict(self.sources).get(name, "")


def _node(name, wafer, d0_cm2, mask, nre, *, alpha=(10.0, _ACTUARY + ": alpha = 10 for logic")):
    vals = dict(wafer_cost=wafer, defect_density=(d0_cm2[0] * PER_CM2, d0_cm2[1]), alpha=alpha,
                mask_set_cost=mask, design_nre=nre)
    return NodeParams(name=name, **{k: float(v[0]) for k, v in vals.items()},
                      sources=tuple((k, v[1]) for k, v in vals.items()))


_NRE_PH = UNSOURCED + ": Actuary's per-node NRE series stops at 28 nm; our guess, override it"
DEFAULT_NODES: dict[str, NodeParams] = {n.name: n for n in [
    _node("N3", (30000.0, "tool: Actuary $30,000 marked 'Inaccurate Assumptions'; press says > $20,000 [P§5]"),
          (0.12, UNSOURCED + ": no public N3 D0 found; N5 value + 10 %"),
          (5e6, _CATCH_MASK), (800e6, _NRE_PH)),
    _node("N5", (16988.0, _LEAK), (0.11, "vendor: TSMC N5 0.10-0.11 /cm2 (AnandTech 16028); Actuary 0.11 [P§5]"),
          (3e6, _CATCH_MASK), (542e6, _ACTUARY + ": NRE of a 300 mm2 chip, source not given in the repo")),
    _node("N7", (9346.0, _LEAK), (0.09, "vendor: TSMC N7 0.09 /cm2 (AnandTech 16028, VLSI 2019) [P§5]"),
          (1e6, _CATCH_MASK), (298e6, _ACTUARY + ": NRE of a 300 mm2 chip")),
    _node("N10", (5992.0, _LEAK), (0.08, _ACTUARY + ": 0.08 for 10/14 nm"),
          (0.75e6, UNSOURCED + ": between CATCH's 12 nm $0.5 M and 7 nm $1 M"), (174e6, _ACTUARY)),
    _node("N16", (3984.0, _LEAK + " (16/12 nm)"), (0.08, _ACTUARY + ": 0.08 for 10/14 nm, used for 16/12"),
          (0.5e6, _CATCH_MASK + " (12 nm)"), (106e6, _ACTUARY + " (14 nm)")),
    _node("N28", (2891.0, "est (via tool): Actuary parameter.ini, same 2020 series [P§5]"),
          (0.07, _ACTUARY + ": 0.07 for >= 20 nm"),
          (0.1e6, UNSOURCED + ": CATCH's 40-45 nm $0.1 M used for 28 nm"), (51e6, _ACTUARY)),
    _node("N40", (2274.0, "est (via tool): Actuary parameter.ini [P§5]"), (0.07, _ACTUARY + ": 0.07 for >= 20 nm"),
          (0.1e6, _CATCH_MASK + " (40-45 nm)"), (30e6, _NRE_PH)),
    _node("N65", (1937.0, "est (via tool): Actuary parameter.ini, 55/65 nm [P§5]"),
          (0.07, _ACTUARY + ": 0.07 for >= 20 nm"), (0.1e6, UNSOURCED + ": CATCH's 40-45 nm value reused"),
          (20e6, _NRE_PH)),
]}
NODE_ALIASES = {"3nm": "N3", "5nm": "N5", "4nm": "N5", "N4": "N5", "7nm": "N7", "10nm": "N10", "12nm": "N16",
                "16nm": "N16", "N12": "N16", "28nm": "N28", "40nm": "N40", "55nm": "N65", "65nm": "N65"}


@dataclass(frozen=True)
class TechnologyParams:
    """A carrier technology (interposer, RDL, glass, bridge, substrate, hybrid bonding).

    ``wafer_cost`` [$ per 300 mm wafer] or ``cost_per_area`` [$/m²] (one is used: a wafer-built
    carrier is priced by units per wafer); yield by ``defect_density`` [1/m²] and ``alpha``;
    ``bond_chip_yield`` per chip placed on it; ``bond_yield_per_bond`` per signal bond;
    ``max_area`` [m²] the largest carrier buildable (``None``: no stated limit); ``nre`` [$] for
    its masks/design. ``sources`` names a source for each.
    """

    name: str
    wafer_cost: float | None
    cost_per_area: float | None
    defect_density: float
    alpha: float
    bond_chip_yield: float
    bond_yield_per_bond: float
    max_area: float | None
    nre: float
    description: str = ""
    sources: tuple[tuple[str, str], ...] = ()

    def source(self, name: str) -> str:
        return dict(self.sources).get(name, "")


def _tech(name, description, **vals):
    return TechnologyParams(name=name, description=description,
                            **{k: (None if v[0] is None else float(v[0])) for k, v in vals.items()},
                            sources=tuple((k, v[1]) for k, v in vals.items()))


_SI_WAFER = (1937.0, _ACTUARY + ": Si interposer priced as a 55 nm wafer ($1937); 2012 est $500-650 "
             "(electroiq, Applied Materials) is lower [P§5]")
_OS_PER_MM2 = 0.005 * 2  # Actuary: 0.005 $/mm2 x layer factor 1-2 (upper end used)
TECHNOLOGIES: dict[str, TechnologyParams] = {t.name: t for t in [
    _tech("silicon_interposer", "passive TSV silicon interposer (CoWoS-S class), chips microbumped on it",
          wafer_cost=_SI_WAFER, cost_per_area=(None, "priced per wafer"),
          defect_density=(0.06 * PER_CM2, _ACTUARY + ": Si interposer D0 0.06 /cm2"),
          alpha=(6.0, _ACTUARY + ": Si interposer alpha 6"),
          bond_chip_yield=(0.95, "tool: Actuary per-chip bonding yield on Si [P§2]"),
          bond_yield_per_bond=(0.999999, "tool: CATCH bond yield per bond [P§2]"),
          max_area=(3.3 * RETICLE_AREA, "vendor: CoWoS-S up to 3.3x reticle, TSMC 2024 Annual Report p.102 [P§2]"),
          nre=(0.1e6, UNSOURCED + ": interposer mask set, CATCH's 40-45 nm $0.1 M reused")),
    _tech("organic_rdl", "organic redistribution-layer interposer (InFO / CoWoS-R class)",
          wafer_cost=(1200.0, _ACTUARY + ": InFO RDL wafer $1200 [P§5]"), cost_per_area=(None, "priced per wafer"),
          defect_density=(0.05 * PER_CM2, _ACTUARY + ": RDL D0 0.05 /cm2"), alpha=(3.0, _ACTUARY + ": RDL alpha 3"),
          bond_chip_yield=(0.98, "tool: Actuary per-chip bonding yield on RDL/FO [P§2]"),
          bond_yield_per_bond=(0.999999, "tool: CATCH bond yield per bond [P§2]"),
          max_area=(3.3 * RETICLE_AREA, UNSOURCED + ": no public RDL size limit read; CoWoS-S 3.3x reticle reused"),
          nre=(0.05e6, UNSOURCED + ": RDL mask set")),
    _tech("glass", "glass-core interposer",
          wafer_cost=(None, "priced per area"),
          cost_per_area=(0.043910 / MM2, "tool: CATCH glass interposer 0.043910 $/mm2 [P§5]"),
          defect_density=(0.0, "tool: CATCH dielectric defect density 0 [P§2]"), alpha=(3.0, UNSOURCED + ": unused at D0 = 0"),
          bond_chip_yield=(0.98, UNSOURCED + ": Actuary's RDL/FO per-chip yield reused for glass"),
          bond_yield_per_bond=(0.999999, "tool: CATCH bond yield per bond [P§2]"),
          max_area=(None, "no stated limit (panel-built)"),
          nre=(0.05e6, UNSOURCED + ": glass interposer tooling")),
    _tech("bridge", "silicon bridges (EMIB / CoWoS-L LSI class) embedded in an organic substrate or RDL",
          wafer_cost=_SI_WAFER, cost_per_area=(None, "bridge dies priced per Si-interposer wafer"),
          defect_density=(0.06 * PER_CM2, _ACTUARY + ": Si interposer D0 0.06 /cm2, used for bridge dies"),
          alpha=(6.0, _ACTUARY + ": Si interposer alpha 6"),
          bond_chip_yield=(0.98, UNSOURCED + ": Actuary's RDL/FO per-chip yield used for bridge packages"),
          bond_yield_per_bond=(0.999999, "tool: CATCH bond yield per bond [P§2]"),
          max_area=(120e-3 * 120e-3, "vendor: EMIB-T 120 x 120 mm packages in 2026, Intel at ECTC 2025 [P§2]"),
          nre=(0.1e6, UNSOURCED + ": bridge mask set")),
    _tech("organic_substrate", "dies flip-chipped (C4) directly on an organic build-up substrate",
          wafer_cost=(None, "priced per area"),
          cost_per_area=(_OS_PER_MM2 / MM2, _ACTUARY + ": organic substrate 0.005 $/mm2 x layer factor 1-2 (2 used); "
                         "Google demo $50 for 68.5 x 68.5 mm = 0.0107 $/mm2 [P§5]"),
          defect_density=(0.0, UNSOURCED + ": substrate yield not modelled (D0 = 0)"), alpha=(3.0, "unused at D0 = 0"),
          bond_chip_yield=(0.99, "tool: Actuary per-chip bonding yield on organic substrate [P§2]"),
          bond_yield_per_bond=(1.0, "C4 bonds counted in the per-chip yield"),
          max_area=(120e-3 * 120e-3, "vendor: 120 x 120 mm packages (EMIB-T, Intel ECTC 2025) [P§2]"),
          nre=(0.05e6, UNSOURCED + ": substrate design")),
    _tech("hybrid_bond", "die-on-die hybrid bonding (SoIC / Foveros Direct class)",
          wafer_cost=(None, "no carrier of its own"), cost_per_area=(None, "no carrier of its own"),
          defect_density=(0.01 * PER_CM2, UNSOURCED + ": bonding void/particle density over the bonded area"),
          alpha=(3.0, UNSOURCED + ": clustering of bonding voids"),
          bond_chip_yield=(0.999, "tool: CATCH alignment yield 0.999 per chip [P§2]"),
          bond_yield_per_bond=(1.0, "hybrid bonds counted by area (defect_density), not per bond"),
          max_area=(None, "limited by the base die"), nre=(0.0, "none")),
]}
TECH_ALIASES = {"cowos_s": "silicon_interposer", "si_interposer": "silicon_interposer", "interposer": "silicon_interposer",
                "rdl": "organic_rdl", "info": "organic_rdl", "cowos_r": "organic_rdl", "emib": "bridge",
                "cowos_l": "bridge", "lsi": "bridge", "substrate": "organic_substrate", "organic": "organic_substrate",
                "soic": "hybrid_bond", "foveros_direct": "hybrid_bond"}


def _assembly_per_chip() -> tuple[float, str]:
    # CATCH economics [P§2] (tool, "discussions with Prof. Iyer", rest arbitrary): pick-and-place machine
    # $0.5-1.8 M and bonder $0.2-1.8 M (midpoints used), 5-year life, 90 % uptime, $100k/yr technician,
    # 10 s pick-and-place and 20 s bond per chip, group size 1.
    seconds = 5 * 365 * 86400 * 0.9
    machines = 1.15e6 / seconds * 10 + 1.0e6 / seconds * 20
    labour = 100e3 / (365 * 86400 * 0.9) * 30
    return machines + labour, ("derived from CATCH assembly economics (tool, partly arbitrary) [P§2]: machine "
                               "midpoints, 5-yr life, 90 % uptime, 10 s + 20 s per chip, $100k/yr technician")


@dataclass(frozen=True)
class CostParams:
    """All cost defaults. ``nodes`` and ``technologies`` are keyed by name; ``sources`` gives a
    source for each scalar field. See :data:`DEFAULT_COST_PARAMS`."""

    nodes: Mapping[str, NodeParams] = field(default_factory=lambda: dict(DEFAULT_NODES))
    technologies: Mapping[str, TechnologyParams] = field(default_factory=lambda: dict(TECHNOLOGIES))
    wafer_diameter: float = 0.300
    edge_exclusion: float = 3e-3
    scribe: float = 0.1e-3
    yield_model: str = "negative_binomial"
    test_cost_per_die: float = 1.0
    test_cost_per_area: float = 0.002 / MM2
    test_coverage: float = 0.99
    package_test_cost: float = 5.0
    assembly_cost_per_chip: float = _assembly_per_chip()[0]
    hbm_unit_cost: Mapping[str, float] = field(default_factory=lambda: {
        "HBM2": 60.0, "HBM2E": 80.0, "HBM3": 120.0, "HBM3E": 150.0, "HBM4": 200.0})
    optical_engine_unit_cost: float = 300.0
    package_nre: float = 1e6
    sources: tuple[tuple[str, str], ...] = (
        ("wafer_diameter", "300 mm wafers throughout [P§5]"),
        ("edge_exclusion", "convention: 3 mm as in the Google demo; Actuary uses 5 mm, CATCH 0.1 mm, RapidChiplet "
                           "none [P§5 cautions]"),
        ("scribe", UNSOURCED + ": 100 um scribe street"),
        ("yield_model", "negative binomial with the node's alpha (Actuary uses it with alpha = 10) [P§5]"),
        ("test_cost_per_die", UNSOURCED + ": wafer-sort cost per die"),
        ("test_cost_per_area", UNSOURCED + ": wafer-sort cost per die area (test time grows with area)"),
        ("test_coverage", UNSOURCED + ": KGD fault coverage"),
        ("package_test_cost", UNSOURCED + ": final test per package"),
        ("assembly_cost_per_chip", _assembly_per_chip()[1]),
        ("hbm_unit_cost", UNSOURCED + ": HBM stack prices are not public; user parameter"),
        ("optical_engine_unit_cost", UNSOURCED + ": optical-engine unit cost; user parameter"),
        ("package_nre", UNSOURCED + ": package design, substrate tooling and qualification"),
    )

    def source(self, name: str) -> str:
        return dict(self.sources).get(name, "")

    def node(self, name: str, *, where: str = "") -> NodeParams:
        key = NODE_ALIASES.get(name, name)
        if key in self.nodes:
            return self.nodes[key]
        near = difflib.get_close_matches(name, list(self.nodes) + list(NODE_ALIASES), n=1)
        hint = f"; did you mean {near[0]!r}?" if near else ""
        raise CostError(f"{where}unknown process node {name!r}{hint} Known: {', '.join(self.nodes)}; "
                        "add one with `CostParams.with_node(NodeParams(...))`")

    def technology(self, name: str, *, where: str = "") -> TechnologyParams:
        key = TECH_ALIASES.get(name, name)
        if key in self.technologies:
            return self.technologies[key]
        near = difflib.get_close_matches(name, list(self.technologies) + list(TECH_ALIASES), n=1)
        hint = f"; did you mean {near[0]!r}?" if near else ""
        raise CostError(f"{where}unknown package technology {name!r}{hint} Known: {', '.join(self.technologies)}")

    def with_node(self, node: NodeParams) -> "CostParams":
        return dataclasses.replace(self, nodes={**self.nodes, node.name: node})

    def with_technology(self, tech: TechnologyParams) -> "CostParams":
        return dataclasses.replace(self, technologies={**self.technologies, tech.name: tech})

    def placeholders(self) -> tuple[str, ...]:
        """Names of every value whose source is an UNSOURCED placeholder."""
        out = [k for k, s in self.sources if s.startswith(UNSOURCED)]
        out += [f"nodes.{n.name}.{k}" for n in self.nodes.values() for k, s in n.sources if s.startswith(UNSOURCED)]
        out += [f"technologies.{t.name}.{k}" for t in self.technologies.values() for k, s in t.sources
                if s.startswith(UNSOURCED)]
        return tuple(out)

    def table(self) -> str:
        """Every default with its source, as text."""
        lines = ["scalar parameters:"]
        for f in dataclasses.fields(self):
            if f.name in ("nodes", "technologies", "sources"):
                continue
            lines.append(f"  {f.name:<26} {getattr(self, f.name)!s:<28} {self.source(f.name)}")
        lines.append("process nodes:")
        for n in self.nodes.values():
            lines.append(f"  {n.name}: wafer ${n.wafer_cost:,.0f} [{n.source('wafer_cost')}]; "
                         f"D0 {n.defect_density / PER_CM2:g}/cm2 [{n.source('defect_density')}]; alpha {n.alpha:g}; "
                         f"masks ${n.mask_set_cost / 1e6:g} M [{n.source('mask_set_cost')}]; "
                         f"design NRE ${n.design_nre / 1e6:g} M [{n.source('design_nre')}]")
        lines.append("technologies:")
        for t in self.technologies.values():
            lines.append(f"  {t.name}: " + "; ".join(f"{k}={getattr(t, k)} [{s}]" for k, s in t.sources))
        return "\n".join(lines)


DEFAULT_COST_PARAMS = CostParams()


# -- dies per wafer --------------------------------------------------------------------------------

def dies_per_wafer(width: float, height: float, *, wafer_diameter: float = 0.300, edge_exclusion: float = 3e-3,
                   scribe: float = 0.1e-3, method: str = "exact"):
    """Dies per wafer for a ``width`` × ``height`` die [m].

    ``method="analytic"``: the classic ``π r² / A − π d / √(2 A)`` with ``d = wafer_diameter −
    2·edge_exclusion``, ``r = d/2`` and ``A = (width + scribe)(height + scribe)``; smooth in the
    die size (works on JAX arrays), clipped at 0. ``method="exact"``: the number of whole dies of
    a rectangular grid of pitch ``(width + scribe, height + scribe)`` inside the usable circle,
    maximised over the two usual grid placements per axis (a die centred on the wafer centre or a
    scribe street through it).

    Examples
    --------
    >>> round(float(dies_per_wafer(10e-3, 10e-3, edge_exclusion=0, scribe=0, method="analytic")), 1)
    640.2
    >>> dies_per_wafer(100e-3, 100e-3, edge_exclusion=0, scribe=0)
    4
    """
    d = wafer_diameter - 2 * edge_exclusion
    if method == "analytic":
        a = (width + scribe) * (height + scribe)
        return jnp.maximum(math.pi * (d / 2) ** 2 / a - math.pi * d / jnp.sqrt(2 * a), 0.0)
    if method != "exact":
        raise CostError(f"`dies_per_wafer(method={method!r})`: choose 'exact' or 'analytic'")
    if not (width > 0 and height > 0):
        raise CostError(f"`dies_per_wafer`: die size must be positive, got {width!r} x {height!r} m")
    return _exact_count(float(width), float(height), float(d), float(scribe))


@functools.lru_cache(maxsize=65536)
def _exact_count(width: float, height: float, d: float, scribe: float) -> int:
    r = d / 2
    px, py = width + scribe, height + scribe
    best = 0
    for ox in (-width / 2, scribe / 2):
        for oy in (-height / 2, scribe / 2):
            ni, nj = int(math.ceil(r / px)) + 2, int(math.ceil(r / py)) + 2
            x0 = ox + px * np.arange(-ni, ni + 1)
            y0 = oy + py * np.arange(-nj, nj + 1)
            fx = np.maximum(x0 ** 2, (x0 + width) ** 2)   # farthest corner in x
            fy = np.maximum(y0 ** 2, (y0 + height) ** 2)
            inside = fx[:, None] + fy[None, :] <= r * r * (1 + 1e-12)
            best = max(best, int(inside.sum()))
    return best


# -- yield ------------------------------------------------------------------------------------------

def die_yield(area, defect_density, *, model: str = "negative_binomial", alpha=3.0):
    """Fraction of defect-free dies of ``area`` [m²] at ``defect_density`` [1/m²].

    ``poisson`` e^(−AD); ``murphy`` ((1 − e^(−AD)) / AD)²; ``seeds`` 1 / (1 + AD);
    ``negative_binomial`` (1 + AD/α)^(−α) (α → ∞ gives Poisson). Smooth; works on JAX arrays.

    Examples
    --------
    >>> round(float(die_yield(1e-4, 1e3, model="poisson")), 6)   # 1 cm2 at 0.1 /cm2
    0.904837
    """
    ad = area * defect_density
    if model == "poisson":
        return jnp.exp(-ad)
    if model == "murphy":
        safe = jnp.where(ad > 1e-8, ad, 1.0)
        return jnp.where(ad > 1e-8, ((1 - jnp.exp(-safe)) / safe) ** 2, 1 - ad)
    if model == "seeds":
        return 1 / (1 + ad)
    if model == "negative_binomial":
        return (1 + ad / alpha) ** (-alpha)
    raise CostError(f"`die_yield(model={model!r})`: choose one of {', '.join(YIELD_MODELS)}")


def kgd(raw_cost, test_cost, die_yield_, coverage):
    """Known-good-die test: ``(cost per passing die, probability a passing die is good, pass rate)``.

    A die passes with ``p = Y + (1 − Y)(1 − c)``; cost per passing die ``(raw + test) / p``;
    a passing die is good with ``q = Y / p`` (``1 − q`` are escapes).
    """
    p = die_yield_ + (1 - die_yield_) * (1 - coverage)
    return (raw_cost + test_cost) / p, die_yield_ / p, p


# -- specs of what is priced ------------------------------------------------------------------------

@dataclass(frozen=True)
class DieSpec:
    """One die type in a package: ``count`` copies of a ``width`` × ``height`` [m] die.

    ``kind``: ``logic`` (priced from its ``node``), ``hbm`` (unit cost of ``hbm_generation``),
    ``optical_engine`` (unit cost), ``dummy`` (structural silicon, priced as an N65-class wafer
    without yield loss), ``bridge`` (priced by the bridge technology). ``design`` names the design
    for NRE sharing (default: the name); ``reuse`` is how many products share the design's NRE.
    ``bonds`` is signal bonds per copy to its carrier or peer (microbumps); ``hybrid_area`` [m²]
    the hybrid-bonded area per copy (bonded onto another die).
    """

    name: str
    width: float
    height: float
    node: str = "N5"
    kind: str = "logic"
    count: int = 1
    hbm_generation: str = "HBM3"
    design: str = ""
    reuse: int = 1
    bonds: int = 0
    hybrid_area: float = 0.0

    @property
    def area(self) -> float:
        return self.width * self.height


@dataclass(frozen=True)
class PackageSpec:
    """The carrier of a package.

    ``technology``: a key of :data:`TECHNOLOGIES` for the 2.5D carrier (``silicon_interposer``,
    ``organic_rdl``, ``glass``, ``bridge`` or ``organic_substrate`` for none); ``carrier_area``
    [m²] the interposer/RDL size (0 for a bare substrate); ``substrate_area`` [m²] the organic
    substrate; ``flow``: ``chip_last`` or ``chip_first``; ``carrier_size`` optional (w, h) [m]
    for an exact units-per-wafer count.
    """

    technology: str = "organic_substrate"
    carrier_area: float = 0.0
    substrate_area: float = 0.0
    flow: str = "chip_last"
    carrier_size: tuple[float, float] | None = None


@dataclass(frozen=True)
class DieCost:
    """Per die type (per copy): raw cost, yield, KGD figures; all in $ and fractions."""

    name: str
    kind: str
    node: str
    count: int
    area: float
    dies_per_wafer: float
    raw_cost: float
    die_yield: float
    test_cost: float
    cost_per_passing_die: float
    good_given_passed: float
    unit_cost: float        # what one copy costs the package (KGD cost, or HBM/OE unit cost)
    nre: float


@dataclass(frozen=True)
class CostBreakdown:
    """Cost of one good package [$] and where it comes from (see :func:`package_cost`)."""

    dies: tuple[DieCost, ...]
    die_cost: float              # Σ unit costs of dies + units, per attempted package
    carrier_cost: float          # interposer/RDL/bridges per attempted package (chip-last: per good carrier)
    carrier_yield: float
    substrate_cost: float
    assembly_cost: float
    test_cost: float
    bond_yield: float
    escape_yield: float          # Π q over dies (escapes scrap packages)
    package_yield: float
    cost_per_attempt: float
    cost_per_good_package: float
    nre_total: float
    nre_per_unit: float
    volume: float
    technology: str
    flow: str
    notes: tuple[str, ...] = ()

    @property
    def total_per_unit(self) -> float:
        """Cost per good package plus the NRE share [$]."""
        return self.cost_per_good_package + self.nre_per_unit

    @property
    def scrap_cost(self) -> float:
        """Money lost per good package to packages scrapped after assembly [$]."""
        return self.cost_per_good_package - self.cost_per_attempt

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["total_per_unit"] = self.total_per_unit
        d["scrap_cost"] = self.scrap_cost
        return d

    def table(self) -> str:
        lines = [f"{'die':<16} {'node':<6} {'n':>2} {'mm2':>7} {'DPW':>6} {'yield':>6} {'$ raw':>8} {'$ KGD':>8} "
                 f"{'$ NRE M':>8}"]
        for d in self.dies:
            lines.append(f"{d.name[:16]:<16} {d.node[:6]:<6} {d.count:>2} {d.area / MM2:7.1f} {d.dies_per_wafer:6.0f} "
                         f"{d.die_yield:6.3f} {d.raw_cost:8.2f} {d.unit_cost:8.2f} {d.nre / 1e6:8.2f}")
        lines.append(f"dies+units ${self.die_cost:.2f}; {self.technology} carrier ${self.carrier_cost:.2f} "
                     f"(yield {self.carrier_yield:.3f}, {self.flow}); substrate ${self.substrate_cost:.2f}; "
                     f"assembly ${self.assembly_cost:.2f}; test ${self.test_cost:.2f}")
        lines.append(f"package yield {self.package_yield:.3f} (bonding {self.bond_yield:.3f}, escapes "
                     f"{self.escape_yield:.4f}); ${self.cost_per_good_package:.2f} per good package + NRE "
                     f"${self.nre_per_unit:.2f} (${self.nre_total / 1e6:.1f} M over {self.volume:g} units) = "
                     f"${self.total_per_unit:.2f}")
        return "\n".join(lines)


# -- exact path --------------------------------------------------------------------------------------

def _check_fraction(name, v):
    if not (0 <= v <= 1):
        raise CostError(f"`{name}` must be a fraction in [0, 1], got {v!r}")


def die_cost(die: DieSpec, params: CostParams = DEFAULT_COST_PARAMS, *, method: str = "exact") -> DieCost:
    """Cost of one copy of ``die`` [$] with its yield and KGD figures (see the module docstring)."""
    p = params
    where = f"`die_cost` ({die.name!r}): "
    if not (die.width > 0 and die.height > 0 and die.count >= 1):
        raise CostError(f"{where}die size must be positive and count >= 1, got {die.width!r} x {die.height!r} m, "
                        f"count {die.count!r}")
    area = die.area
    if die.kind == "hbm":
        unit = p.hbm_unit_cost.get(die.hbm_generation)
        if unit is None:
            raise CostError(f"{where}no unit cost for HBM generation {die.hbm_generation!r}; known: "
                            f"{', '.join(p.hbm_unit_cost)}; add it to `CostParams.hbm_unit_cost`")
        return DieCost(die.name, die.kind, die.hbm_generation, die.count, area, float("nan"), unit, 1.0, 0.0, unit,
                       1.0, unit, 0.0)
    if die.kind == "optical_engine":
        u = p.optical_engine_unit_cost
        return DieCost(die.name, die.kind, "-", die.count, area, float("nan"), u, 1.0, 0.0, u, 1.0, u, 0.0)
    if die.kind in ("dummy", "bridge"):
        tech = p.technology("bridge")
        dpw = dies_per_wafer(die.width, die.height, wafer_diameter=p.wafer_diameter,
                             edge_exclusion=p.edge_exclusion, scribe=p.scribe, method=method)
        dpw = float(dpw)
        if dpw < 1:
            raise CostError(f"{where}a {die.width * 1e3:.1f} x {die.height * 1e3:.1f} mm {die.kind} does not fit a wafer")
        raw = tech.wafer_cost / dpw
        y = float(die_yield(area, tech.defect_density, model="negative_binomial", alpha=tech.alpha)) \
            if die.kind == "bridge" else 1.0
        unit = raw / y
        return DieCost(die.name, die.kind, "Si-passive", die.count, area, dpw, raw, y, 0.0, unit, 1.0, unit, 0.0)
    if die.kind != "logic":
        raise CostError(f"{where}unknown die kind {die.kind!r}; use logic, hbm, optical_engine, dummy or bridge")
    node = p.node(die.node, where=where)
    dpw = float(dies_per_wafer(die.width, die.height, wafer_diameter=p.wafer_diameter,
                               edge_exclusion=p.edge_exclusion, scribe=p.scribe, method=method))
    if dpw < 1:
        raise CostError(f"{where}a {die.width * 1e3:.1f} x {die.height * 1e3:.1f} mm die does not fit on a "
                        f"{p.wafer_diameter * 1e3:.0f} mm wafer with {p.edge_exclusion * 1e3:g} mm edge exclusion")
    raw = node.wafer_cost / dpw
    y = float(die_yield(area, node.defect_density, model=p.yield_model, alpha=node.alpha))
    test = p.test_cost_per_die + p.test_cost_per_area * area
    cpp, q, _ = kgd(raw, test, y, p.test_coverage)
    nre = node.design_nre * area / (300 * MM2) + node.mask_set_cost
    return DieCost(die.name, die.kind, node.name, die.count, area, dpw, raw, y, test, cpp, q, cpp, nre)


def _units_per_wafer(p: CostParams, tech: TechnologyParams, spec: PackageSpec, method: str) -> float:
    if spec.carrier_size is not None and method == "exact":
        return float(dies_per_wafer(*spec.carrier_size, wafer_diameter=p.wafer_diameter,
                                    edge_exclusion=p.edge_exclusion, scribe=p.scribe, method="exact"))
    side = math.sqrt(spec.carrier_area)
    return float(dies_per_wafer(side, side, wafer_diameter=p.wafer_diameter, edge_exclusion=p.edge_exclusion,
                                scribe=p.scribe, method=method))


def carrier_cost(spec: PackageSpec, params: CostParams = DEFAULT_COST_PARAMS, *, method: str = "exact"):
    """``(raw cost, yield)`` of the 2.5D carrier (interposer / RDL / glass) of ``spec`` [$]."""
    tech = params.technology(spec.technology, where="`carrier_cost`: ")
    if spec.carrier_area <= 0 or tech.name in ("organic_substrate", "hybrid_bond", "bridge"):
        return 0.0, 1.0
    if tech.wafer_cost is not None:
        upw = _units_per_wafer(params, tech, spec, method)
        if upw < 1:
            raise CostError(f"`carrier_cost`: a {spec.carrier_area / MM2:.0f} mm2 {tech.name} does not fit a "
                            f"{params.wafer_diameter * 1e3:.0f} mm wafer")
        raw = tech.wafer_cost / upw
    else:
        raw = tech.cost_per_area * spec.carrier_area
    y = float(die_yield(spec.carrier_area, tech.defect_density, model="negative_binomial", alpha=tech.alpha))
    return raw, y


def nre_per_unit(dies: Sequence[DieCost | tuple[float, int]], volume: float, *, package_nre: float = 0.0) -> float:
    """NRE share per unit [$]: ``(Σ design NRE / reuse + package NRE) / volume``.

    ``dies`` are :class:`DieCost` (reuse 1) or ``(nre, reuse)`` pairs."""
    if not volume > 0:
        raise CostError(f"`volume` must be a positive number of units, got {volume!r}")
    total = 0.0
    for d in dies:
        nre, reuse = (d.nre, 1) if isinstance(d, DieCost) else d
        total += nre / reuse
    return (total + package_nre) / volume


def assembly_cost_per_chip(params: CostParams = DEFAULT_COST_PARAMS) -> float:
    return params.assembly_cost_per_chip


def package_cost(dies: Sequence[DieSpec], package: PackageSpec = PackageSpec(), params: CostParams | None = None, *,
                 volume: float = 1e6, method: str = "exact", nre: bool = True) -> CostBreakdown:
    """Cost of one good package [$] (exact path; see the module docstring for the model).

    Parameters
    ----------
    dies : sequence of DieSpec
        The dies (with counts). Bridges may be given as ``kind="bridge"`` dies.
    package : PackageSpec
        Carrier technology, areas and assembly flow.
    params : CostParams, optional
        Defaults :data:`DEFAULT_COST_PARAMS`.
    volume : float
        Units over which NRE is amortised.
    method : {"exact", "analytic"}
        Dies per wafer by geometric count or by the analytic formula.
    nre : bool
        Include the NRE share.

    Examples
    --------
    >>> c = package_cost([DieSpec("soc", 20e-3, 20e-3, node="N5")], PackageSpec(substrate_area=(40e-3) ** 2))
    >>> 150 < c.cost_per_good_package < 400
    True
    """
    p = params or DEFAULT_COST_PARAMS
    if package.flow not in ASSEMBLY_FLOWS:
        raise CostError(f"`PackageSpec(flow={package.flow!r})`: choose one of {', '.join(ASSEMBLY_FLOWS)}")
    for name in ("test_coverage",):
        _check_fraction(name, getattr(p, name))
    tech = p.technology(package.technology, where="`package_cost`: ")
    substrate = p.technology("organic_substrate")
    hb = p.technology("hybrid_bond")
    costs = [die_cost(d, p, method=method) for d in dies]
    die_total = sum(c.unit_cost * d.count for c, d in zip(costs, dies))
    escape = math.prod(c.good_given_passed ** d.count for c, d in zip(costs, dies))
    raw_c, y_c = carrier_cost(package, p, method=method)
    if package.flow == "chip_last":
        carrier = raw_c / y_c if raw_c > 0 else 0.0
        flow_yield = 1.0
    else:
        carrier, flow_yield = raw_c, y_c
    sub = substrate.cost_per_area * package.substrate_area
    n_chips = sum(d.count for d in dies)
    placed = [d for d in dies if d.kind != "bridge"]
    # Bonding: dies on the carrier (chip yield of the technology), hybrid-bonded dies (alignment + voids).
    bond = 1.0
    for d in placed:
        if d.kind == "dummy":
            continue                               # structural silicon carries no signals: placement cost only
        if d.hybrid_area > 0:
            y1 = hb.bond_chip_yield * float(die_yield(d.hybrid_area, hb.defect_density, model="negative_binomial",
                                                      alpha=hb.alpha))
        else:
            y1 = tech.bond_chip_yield * tech.bond_yield_per_bond ** d.bonds
        bond *= y1 ** d.count
    if tech.name not in ("organic_substrate",) and raw_c > 0:
        bond *= substrate.bond_chip_yield          # the carrier itself is attached to the substrate
    assembly = p.assembly_cost_per_chip * (n_chips + (1 if raw_c > 0 else 0))
    test = p.package_test_cost
    attempt = die_total + carrier + sub + assembly + test
    pkg_yield = escape * bond * flow_yield
    good = attempt / pkg_yield
    seen, nre_items = set(), []
    for c, d in zip(costs, dies):
        key = d.design or d.name
        if key in seen:
            continue
        seen.add(key)
        nre_items.append((c.nre, max(int(d.reuse), 1)))
    pkg_nre = p.package_nre + (tech.nre if raw_c > 0 or tech.name == "bridge" else 0.0)
    nre_total = sum(n / r for n, r in nre_items) + pkg_nre
    share = nre_per_unit(nre_items, volume, package_nre=pkg_nre) if nre else 0.0
    notes = []
    if tech.max_area is not None and package.carrier_area > tech.max_area:
        notes.append(f"{tech.name} of {package.carrier_area / MM2:.0f} mm2 exceeds its limit "
                     f"{tech.max_area / MM2:.0f} mm2 ({tech.source('max_area')})")
    return CostBreakdown(dies=tuple(costs), die_cost=die_total, carrier_cost=carrier, carrier_yield=y_c,
                         substrate_cost=sub, assembly_cost=assembly, test_cost=test, bond_yield=bond,
                         escape_yield=escape, package_yield=pkg_yield, cost_per_attempt=attempt,
                         cost_per_good_package=good, nre_total=nre_total, nre_per_unit=share, volume=volume,
                         technology=tech.name, flow=package.flow, notes=tuple(notes))


def split_die_cost(total_area: float, n: int, *, node: str = "N5", phy_overhead: float = 0.10,
                   technology: str = "silicon_interposer", params: CostParams | None = None,
                   volume: float = 1e6, method: str = "exact", bonds_per_chiplet: int = 0) -> CostBreakdown:
    """Cost of a ``total_area`` [m²] design split into ``n`` equal square chiplets.

    ``n = 1`` is the monolithic die on an organic substrate; ``n > 1`` adds ``phy_overhead`` of
    extra silicon per chiplet (AMD EPYC: ~10 % for die-to-die [P§5]) and a carrier of
    ``technology`` sized to the dies plus 10 % (placement gaps, an assumption).
    """
    if n < 1:
        raise CostError(f"`split_die_cost(n={n!r})`: give at least one chiplet")
    a = total_area / n * (1 + (phy_overhead if n > 1 else 0.0))
    side = math.sqrt(a)
    die = DieSpec("chiplet" if n > 1 else "monolithic", side, side, node=node, count=n, bonds=bonds_per_chiplet)
    if n == 1:
        pkg = PackageSpec("organic_substrate", 0.0, 4 * a)
    else:
        carrier = 1.1 * n * a
        pkg = PackageSpec(technology, carrier if technology != "organic_substrate" else 0.0, 4 * n * a)
    return package_cost([die], pkg, params, volume=volume, method=method)
