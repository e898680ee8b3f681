"""Cost and yield of chiplet packages: dies per wafer, yield, known-good-die test, interposers,
bumps, bonding, assembly flow and test insertion, HBM / optical-engine units and NRE.

Every default lives in a parameter table whose entries carry a ``source`` string, taken from
``shared/reference/parameters.md`` (cited [P§n]) or from the public tools' parameter files. Values
that no source gives are placeholders whose source starts with ``"UNSOURCED placeholder"``;
:meth:`CostParams.placeholders` lists them. Override anything with :meth:`CostParams.with_node`,
:meth:`CostParams.with_technology` or :func:`dataclasses.replace`; every table validates itself
when it is built (:class:`CostError` naming the field, the value and the fix). The published
models (Chiplet Actuary, CATCH, RapidChiplet) are available as presets in
:mod:`codesign.cost_presets`; ``docs/cost.md`` lists their worked examples against ours.

**Cautions** (from [P§5]): the wafer prices are a disputed 2020 leak; every yield and bonding
constant of the public tools is the tool's own assumption; edge-exclusion conventions differ
(5 mm Actuary, 3 mm Google, 0.1 mm CATCH, none RapidChiplet). Treat the defaults as a
consistent, documented parameter set, not as industry truth.

Dies per wafer (:func:`dies_per_wafer`, method chosen by ``CostParams.dpw_method`` everywhere)
----------------------------------------------------------------------------------------------
* ``analytic``: ``π (d/2)² / A − π d / √(2A)`` with ``d`` the usable diameter and ``A`` the die
  plus scribe (de Vries 2005; the formula of Chiplet Actuary, RapidChiplet and most published
  models). Smooth; works on JAX arrays: this is the differentiable path.
* ``analytic_floor``: ``⌊analytic⌋`` (RapidChiplet). The smooth ``analytic`` is the same formula
  with the floor relaxed; the two differ by less than one die (tested).
* ``best_placement``: whole dies of a rectangular grid inside the usable circle, maximised by a
  search over the grid offset (the best x offset for each of 32 row offsets plus the two
  symmetric ones). Rectangular panels count ``⌊(W−2e+s)/p_x⌋·⌊(H−2e+s)/p_y⌋``.

Model (per package; all costs in US dollars, areas in m², defect densities in 1/m²)
--------------------------------------------------------------------------------
* die: ``raw = wafer_cost / DPW · ((1 − L) + L / U)`` with the lithography share ``L`` of the
  wafer cost and the reticle utilisation ``U`` (CATCH; ``L = 0`` by default); yield ``Y``
  (negative binomial by default); KGD test with coverage ``c``: a die passes with
  ``p = Y + (1 − Y)(1 − c)``; cost per passing die ``(raw + test) / p``; a passing die is good
  with probability ``q = Y / p`` (escapes ``1 − q`` are found only after assembly).
* bumps: ``bump_cost_per_area`` of the technology a die is bonded to × die area (C4 on an
  organic substrate, micro-bumps on an interposer; Chiplet Actuary), and the substrate's C4
  cost × carrier area for the carrier's own C4.
* carrier (interposer / RDL / glass / panels): ``raw`` from its own wafer or panel (or $/area),
  yield ``Y_int`` (× TSV yield ``y_tsv^n_tsv``). **chip_last**: the carrier is tested before dies
  are placed: ``raw / Y_int`` per good carrier. **chip_first**: RDL built on the placed dies:
  ``raw`` per attempt and ``Y_int`` scraps the dies with it; no per-die bond yield (no bumps).
* bonding: ``Y_bond = Π y_chip · y_bond^n_bonds · y_tsv^n_tsv`` (hybrid bonding: alignment and a
  void density over the bonded area); the carrier attach to the substrate ``y_attach``; a fixed
  assembly yield of the technology (RapidChiplet's packaging yield).
* test insertion (``PackageSpec.module_test``): **False** (one final test): everything is scrapped
  with any failure: ``(Σ everything) / (Π q · Y_bond · y_attach [· Y_int])``. **True** (the
  die-on-carrier module is tested before substrate attach; Chiplet Actuary's flow): dies and
  carrier are lost with the module yield, the substrate only with its own attach:
  ``((Σ dies + carrier + bonding) / Y_module + substrate + attach + test) / y_attach``.
* dummies: priced as structural silicon that does not lower the yield by default; with
  ``dummy_priced=False, dummy_in_bond_yield=True`` they are free and count in the bonding
  yield (Chiplet Actuary).
* NRE: per distinct chiplet design ``design_nre(node) · area / 300 mm² + mask_set(node)``, shared
  by ``reuse`` products; plus package NRE; divided by volume. Module / chip / D2D-PHY / package
  NRE with reuse across a product family: :mod:`codesign.cost_nre`.
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import math
import numbers
from dataclasses import dataclass, field
from typing import Mapping, Sequence

import jax.numpy as jnp
import numpy as np

from .errors import ModelError
from .units import finite_real

__all__ = [
    "ASSEMBLY_FLOWS",
    "CostError",
    "CostParams",
    "CostBreakdown",
    "DEFAULT_COST_PARAMS",
    "DIE_KINDS",
    "DPW_METHODS",
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
    "carrier_cost",
    "die_cost",
    "die_yield",
    "dies_per_wafer",
    "kgd",
    "nre_per_unit",
    "package_cost",
    "reticle_utilisation",
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
DPW_METHODS = ("analytic", "analytic_floor", "best_placement")
DIE_KINDS = ("logic", "hbm", "optical_engine", "dummy", "bridge")

_ACTUARY = "tool: Chiplet Actuary parameter.ini [P§5]"
_LEAK = "est (leak): TSMC wafer price ~Apr 2020, TechPowerUp via @chiakokhua; disputed (SemiWiki) [P§5]"
_CATCH_MASK = "tool: CATCH layer_definitions.xml, labelled arbitrary by CATCH [P§5]"


class CostError(ModelError):
    """A cost input is out of range or unknown; the message names the value and the fix.

    A :class:`codesign.errors.ModelError` (hence also a ``ValueError``)."""


# -- validation -------------------------------------------------------------------------------------

def _is_number(v) -> bool:
    return isinstance(v, numbers.Real) and not isinstance(v, bool)


def _check(where: str, name: str, v, *, kind: str = "nonneg", unit: str = "", optional: bool = False):
    """Raise :class:`CostError` unless ``v`` is a finite real of ``kind`` (nonneg, positive, fraction)."""
    if v is None and optional:
        return
    fix = {"nonneg": "a finite number >= 0", "positive": "a finite number > 0",
           "fraction": "a fraction in [0, 1]", "count": "a whole number >= 0",
           "count1": "a whole number >= 1"}[kind]
    u = f" [{unit}]" if unit else ""
    if kind in ("count", "count1"):
        ok = isinstance(v, numbers.Integral) and not isinstance(v, bool) and v >= (1 if kind == "count1" else 0)
    else:
        ok = finite_real(v) and (
            v >= 0 if kind == "nonneg" else v > 0 if kind == "positive" else 0 <= v <= 1)
    if not ok:
        raise CostError(f"{where}: `{name}` = {v!r} is not valid; give {fix}{u}")


def _check_choice(where: str, name: str, v, choices) -> None:
    if v not in choices:
        near = difflib.get_close_matches(str(v), list(choices), n=1)
        hint = f" (did you mean {near[0]!r}?)" if near else ""
        raise CostError(f"{where}: `{name}` = {v!r} is not known{hint}; choose one of {', '.join(choices)}")


_WAFER_DOC = ("``wafer_diameter``, ``edge_exclusion``, ``scribe`` [m]: this process's own wafer "
              "(``None``: the global values of :class:`CostParams`)")


#: Largest wafer or panel side accepted [m] (panels are ~0.6 m; beyond 2 m a value is a unit slip).
MAX_WAFER = 2.0


def _check_size(where: str, name: str, v, limit: float = MAX_WAFER) -> None:
    if v is not None and v > limit:
        raise CostError(f"{where}: `{name}` = {v!r} m is larger than {limit:g} m; give metres (300 mm = 0.3)")


def _check_wafer(where: str, obj) -> None:
    _check(where, "wafer_diameter", obj.wafer_diameter, kind="positive", unit="m", optional=True)
    _check_size(where, "wafer_diameter", obj.wafer_diameter)
    _check_size(where, "edge_exclusion", obj.edge_exclusion)
    _check_size(where, "scribe", obj.scribe)
    _check(where, "edge_exclusion", obj.edge_exclusion, unit="m", optional=True)
    _check(where, "scribe", obj.scribe, unit="m", optional=True)
    _check(where, "litho_fraction", obj.litho_fraction, kind="fraction")


# -- parameter tables -------------------------------------------------------------------------------

@dataclass(frozen=True)
class NodeParams:
    """A process node: wafer price [$], defect density [1/m²], clustering α, mask set [$],
    design NRE of a 300 mm² chip [$]; ``sources`` maps each field to its source.

    ``wafer_diameter``, ``edge_exclusion``, ``scribe`` [m]: this node's own wafer (``None``: the
    global values of :class:`CostParams`). ``litho_fraction``: the share of the wafer cost spent
    on lithography, scaled by 1 / reticle utilisation (CATCH; 0: no reticle term).
    """

    name: str
    wafer_cost: float
    defect_density: float
    alpha: float
    mask_set_cost: float
    design_nre: float
    sources: tuple[tuple[str, str], ...] = ()
    wafer_diameter: float | None = None
    edge_exclusion: float | None = None
    scribe: float | None = None
    litho_fraction: float = 0.0

    def __post_init__(self):
        w = f"NodeParams({self.name!r})"
        if not isinstance(self.name, str) or not self.name:
            raise CostError(f"NodeParams: `name` = {self.name!r}; give a non-empty name such as 'N5'")
        _check(w, "wafer_cost", self.wafer_cost, unit="$ per wafer")
        _check(w, "defect_density", self.defect_density, unit="1/m^2")
        _check(w, "alpha", self.alpha, kind="positive")
        _check(w, "mask_set_cost", self.mask_set_cost, unit="$")
        _check(w, "design_nre", self.design_nre, unit="$")
        _check_wafer(w, self)

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
    _node("N4", (16988.0, _LEAK + " (N5 price used: TSMC describes N4 as an enhancement of N5)"),
          (0.11, "vendor: TSMC N5 0.10-0.11 /cm2 (AnandTech 16028); N4 shares N5's design rules and fab lines "
                 "(TSMC press release 2021-10-26: 'N4 ... an enhanced version of N5'), N5 value used"),
          (3e6, _CATCH_MASK + " (5 nm value)"), (542e6, _ACTUARY + ": 5 nm NRE of a 300 mm2 chip, used for N4")),
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
NODE_ALIASES = {"3nm": "N3", "5nm": "N5", "4nm": "N4", "4N": "N4", "7nm": "N7", "10nm": "N10", "12nm": "N16",
                "16nm": "N16", "N12": "N16", "28nm": "N28", "40nm": "N40", "55nm": "N65", "65nm": "N65"}



@dataclass(frozen=True)
class TechnologyParams:
    """A carrier technology (interposer, RDL, glass, bridge, substrate, hybrid bonding).

    ``wafer_cost`` [$ per wafer or panel] or ``cost_per_area`` [$/m²] (one is used: a wafer-built
    carrier is priced by units per wafer); yield by ``defect_density`` [1/m²], ``alpha`` and
    ``yield_model``; ``bond_chip_yield`` per chip placed on it; ``bond_yield_per_bond`` per signal
    bond; ``max_area`` [m²] the largest carrier buildable (``None``: no stated limit); ``nre`` [$]
    for its masks/design. ``bump_cost_per_area`` [$/m² of die]: bumps of a die bonded to this
    technology (C4 on a substrate, micro-bumps on an interposer; Chiplet Actuary).
    ``assembly_cost_per_chip`` [$] per chip placed and bonded (``None``: the global
    :attr:`CostParams.assembly_cost_per_chip`); ``assembly_yield``: a fixed yield of the whole
    assembly on this technology (RapidChiplet's packaging yield; 1 by default). Its own wafer:
    ``wafer_diameter``, ``edge_exclusion``, ``scribe`` [m] (``None``: global) or a rectangular
    ``panel`` (w, h) [m]; ``litho_fraction`` as for :class:`NodeParams`. ``sources`` names a
    source for each.
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
    bump_cost_per_area: float = 0.0
    yield_model: str = "negative_binomial"
    assembly_cost_per_chip: float | None = None
    assembly_yield: float = 1.0
    wafer_diameter: float | None = None
    edge_exclusion: float | None = None
    scribe: float | None = None
    panel: tuple[float, float] | None = None
    litho_fraction: float = 0.0

    def __post_init__(self):
        w = f"TechnologyParams({self.name!r})"
        if not isinstance(self.name, str) or not self.name:
            raise CostError(f"TechnologyParams: `name` = {self.name!r}; give a non-empty name")
        _check(w, "wafer_cost", self.wafer_cost, unit="$ per wafer", optional=True)
        _check(w, "cost_per_area", self.cost_per_area, unit="$/m^2", optional=True)
        _check(w, "defect_density", self.defect_density, unit="1/m^2")
        _check(w, "alpha", self.alpha, kind="positive")
        _check(w, "bond_chip_yield", self.bond_chip_yield, kind="fraction")
        _check(w, "bond_yield_per_bond", self.bond_yield_per_bond, kind="fraction")
        _check(w, "max_area", self.max_area, kind="positive", unit="m^2", optional=True)
        _check(w, "nre", self.nre, unit="$")
        _check(w, "bump_cost_per_area", self.bump_cost_per_area, unit="$/m^2")
        _check_choice(w, "yield_model", self.yield_model, YIELD_MODELS)
        _check(w, "assembly_cost_per_chip", self.assembly_cost_per_chip, unit="$", optional=True)
        _check(w, "assembly_yield", self.assembly_yield, kind="fraction")
        _check_wafer(w, self)
        if self.panel is not None:
            if not (isinstance(self.panel, tuple) and len(self.panel) == 2):
                raise CostError(f"{w}: `panel` = {self.panel!r}; give (width, height) in m or None")
            for v in self.panel:
                _check(w, "panel", v, kind="positive", unit="m")
                _check_size(w, "panel", v)

    def source(self, name: str) -> str:
        return dict(self.sources).get(name, "")


def _tech(name, description, **vals):
    def conv(v):
        return float(v) if _is_number(v) else v
    return TechnologyParams(name=name, description=description, **{k: conv(v[0]) for k, v in vals.items()},
                            sources=tuple((k, v[1]) for k, v in vals.items()))


_C4 = (0.005 / MM2, _ACTUARY + ": C4 bump cost 0.005 $/mm2 of die ([OS] bump_cost_factor)")
_UBUMP = (0.01 / MM2, _ACTUARY + ": micro-bump cost 0.01 $/mm2 of die ([SI] bump_cost_factor, also used for FO)")


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
          bump_cost_per_area=_UBUMP,
          nre=(0.1e6, UNSOURCED + ": interposer mask set, CATCH's 40-45 nm $0.1 M reused")),
    _tech("organic_rdl", "organic redistribution-layer interposer (InFO / CoWoS-R class)",
          wafer_cost=(1200.0, _ACTUARY + ": InFO RDL wafer $1200 [P§5]"), cost_per_area=(None, "priced per wafer"),
          defect_density=(0.05 * PER_CM2, _ACTUARY + ": RDL D0 0.05 /cm2"), alpha=(3.0, _ACTUARY + ": RDL alpha 3"),
          bond_chip_yield=(0.98, "tool: Actuary per-chip bonding yield on RDL/FO [P§2]"),
          bond_yield_per_bond=(0.999999, "tool: CATCH bond yield per bond [P§2]"),
          max_area=(3.3 * RETICLE_AREA, UNSOURCED + ": no public RDL size limit read; CoWoS-S 3.3x reticle reused"),
          bump_cost_per_area=_UBUMP,
          nre=(0.05e6, UNSOURCED + ": RDL mask set")),
    _tech("glass", "glass-core interposer",
          wafer_cost=(None, "priced per area"),
          cost_per_area=(0.043910 / MM2, "tool: CATCH glass interposer 0.043910 $/mm2 [P§5]"),
          defect_density=(0.0, "tool: CATCH dielectric defect density 0 [P§2]"), alpha=(3.0, UNSOURCED + ": unused at D0 = 0"),
          bond_chip_yield=(0.98, UNSOURCED + ": Actuary's RDL/FO per-chip yield reused for glass"),
          bond_yield_per_bond=(0.999999, "tool: CATCH bond yield per bond [P§2]"),
          max_area=(None, "no stated limit (panel-built)"),
          bump_cost_per_area=(0.01 / MM2, UNSOURCED + ": Actuary's micro-bump cost reused for glass"),
          nre=(0.05e6, UNSOURCED + ": glass interposer tooling")),
    _tech("bridge", "silicon bridges (EMIB / CoWoS-L LSI class) embedded in an organic substrate or RDL",
          wafer_cost=_SI_WAFER, cost_per_area=(None, "bridge dies priced per Si-interposer wafer"),
          defect_density=(0.06 * PER_CM2, _ACTUARY + ": Si interposer D0 0.06 /cm2, used for bridge dies"),
          alpha=(6.0, _ACTUARY + ": Si interposer alpha 6"),
          bond_chip_yield=(0.98, UNSOURCED + ": Actuary's RDL/FO per-chip yield used for bridge packages"),
          bond_yield_per_bond=(0.999999, "tool: CATCH bond yield per bond [P§2]"),
          max_area=(120e-3 * 120e-3, "vendor: EMIB-T 120 x 120 mm packages in 2026, Intel at ECTC 2025 [P§2]"),
          bump_cost_per_area=(0.01 / MM2, UNSOURCED + ": Actuary's micro-bump cost reused for bridge-attached dies"),
          nre=(0.1e6, UNSOURCED + ": bridge mask set")),
    _tech("organic_substrate", "dies flip-chipped (C4) directly on an organic build-up substrate",
          wafer_cost=(None, "priced per area"),
          cost_per_area=(_OS_PER_MM2 / MM2, _ACTUARY + ": organic substrate 0.005 $/mm2 x layer factor 1-2 (2 used); "
                         "Google demo $50 for 68.5 x 68.5 mm = 0.0107 $/mm2 [P§5]"),
          defect_density=(0.0, UNSOURCED + ": substrate yield not modelled (D0 = 0)"), alpha=(3.0, "unused at D0 = 0"),
          bond_chip_yield=(0.99, "tool: Actuary per-chip bonding yield on organic substrate [P§2]"),
          bond_yield_per_bond=(1.0, "C4 bonds counted in the per-chip yield"),
          max_area=(120e-3 * 120e-3, "vendor: 120 x 120 mm packages (EMIB-T, Intel ECTC 2025) [P§2]"),
          bump_cost_per_area=_C4,
          nre=(0.05e6, UNSOURCED + ": substrate design")),
    _tech("hybrid_bond", "die-on-die hybrid bonding (SoIC / Foveros Direct class)",
          wafer_cost=(None, "no carrier of its own"), cost_per_area=(None, "no carrier of its own"),
          defect_density=(0.01 * PER_CM2, UNSOURCED + ": bonding void/particle density over the bonded area"),
          alpha=(3.0, UNSOURCED + ": clustering of bonding voids"),
          bond_chip_yield=(0.999, "tool: CATCH alignment yield 0.999 per chip [P§2]"),
          bond_yield_per_bond=(1.0, "hybrid bonds counted by area (defect_density), not per bond"),
          max_area=(None, "limited by the base die"), bump_cost_per_area=(0.0, "bumpless hybrid bonding: no bumps"),
          nre=(0.0, "none")),
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
    source for each scalar field. See :data:`DEFAULT_COST_PARAMS`.

    ``dpw_method`` (one of :data:`DPW_METHODS`) is the dies-per-wafer method used everywhere the
    parameters go (:func:`package_cost`, :func:`codesign.ppac.evaluate_ppac`, partition search).
    ``reticle`` (w, h) [m] the exposure field for the reticle-utilisation term and the oversize
    note. ``tsv_yield_per_tsv``: yield of one TSV (CATCH). ``dummy_priced`` /
    ``dummy_in_bond_yield``: whether structural dummy dies cost silicon / count in the bonding
    yield.
    """

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
    dpw_method: str = "best_placement"
    reticle: tuple[float, float] = RETICLE_SIZE
    tsv_yield_per_tsv: float = 0.999999
    dummy_priced: bool = True
    dummy_in_bond_yield: bool = False
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
        ("dpw_method", "best-placement search: the most whole dies a grid can place (the analytic formula, used by "
                       "Actuary and RapidChiplet, is selectable)"),
        ("reticle", "26 x 33 mm full field (CATCH default; TSMC quotes ~830 mm2) [P§2]"),
        ("tsv_yield_per_tsv", "tool: CATCH TSV yield 0.999999 per TSV [P§2]"),
        ("dummy_priced", "structural silicon costs its wafer area (our choice; Actuary's dummies are free)"),
        ("dummy_in_bond_yield", "dummies carry no signals and do not lower the bond yield (our choice; Actuary "
                                "counts them)"),
    )

    def __post_init__(self):
        w = "CostParams"
        if not isinstance(self.nodes, Mapping) or not all(isinstance(n, NodeParams) for n in self.nodes.values()):
            raise CostError(f"{w}: `nodes` must map names to NodeParams")
        if not isinstance(self.technologies, Mapping) or not all(
                isinstance(t, TechnologyParams) for t in self.technologies.values()):
            raise CostError(f"{w}: `technologies` must map names to TechnologyParams")
        _check(w, "wafer_diameter", self.wafer_diameter, kind="positive", unit="m")
        _check(w, "edge_exclusion", self.edge_exclusion, unit="m")
        _check(w, "scribe", self.scribe, unit="m")
        for k in ("wafer_diameter", "edge_exclusion", "scribe"):
            _check_size(w, k, getattr(self, k))
        if 2 * self.edge_exclusion >= self.wafer_diameter:
            raise CostError(f"{w}: `edge_exclusion` = {self.edge_exclusion!r} m leaves no usable wafer of diameter "
                            f"{self.wafer_diameter!r} m; give less than half the diameter")
        _check_choice(w, "yield_model", self.yield_model, YIELD_MODELS)
        _check(w, "test_cost_per_die", self.test_cost_per_die, unit="$")
        _check(w, "test_cost_per_area", self.test_cost_per_area, unit="$/m^2")
        _check(w, "test_coverage", self.test_coverage, kind="fraction")
        _check(w, "package_test_cost", self.package_test_cost, unit="$")
        _check(w, "assembly_cost_per_chip", self.assembly_cost_per_chip, unit="$")
        if not isinstance(self.hbm_unit_cost, Mapping):
            raise CostError(f"{w}: `hbm_unit_cost` must map HBM generations to $ per stack")
        for g, v in self.hbm_unit_cost.items():
            _check(w, f"hbm_unit_cost[{g!r}]", v, unit="$ per stack")
        _check(w, "optical_engine_unit_cost", self.optical_engine_unit_cost, unit="$")
        _check(w, "package_nre", self.package_nre, unit="$")
        _check_choice(w, "dpw_method", self.dpw_method, DPW_METHODS)
        if not (isinstance(self.reticle, tuple) and len(self.reticle) == 2):
            raise CostError(f"{w}: `reticle` = {self.reticle!r}; give (width, height) in m")
        for v in self.reticle:
            _check(w, "reticle", v, kind="positive", unit="m")
        _check(w, "tsv_yield_per_tsv", self.tsv_yield_per_tsv, kind="fraction")
        for k in ("dummy_priced", "dummy_in_bond_yield"):
            if not isinstance(getattr(self, k), bool):
                raise CostError(f"{w}: `{k}` = {getattr(self, k)!r}; give true or false")

    def source(self, name: str) -> str:
        return dict(self.sources).get(name, "")

    def node(self, name: str, *, where: str = "") -> NodeParams:
        key = NODE_ALIASES.get(name, name)
        if key in self.nodes:
            return self.nodes[key]
        near = difflib.get_close_matches(str(name), list(self.nodes) + list(NODE_ALIASES), n=1)
        hint = f"; did you mean {near[0]!r}?" if near else ""
        raise CostError(f"{where}unknown process node {name!r}{hint} Known: {', '.join(self.nodes)}; "
                        "add one with `CostParams.with_node(NodeParams(...))` or a [cost.nodes.NAME] table")

    def technology(self, name: str, *, where: str = "") -> TechnologyParams:
        key = TECH_ALIASES.get(name, name)
        if key in self.technologies:
            return self.technologies[key]
        near = difflib.get_close_matches(str(name), list(self.technologies) + list(TECH_ALIASES), n=1)
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

def _concrete(*vs) -> bool:
    return all(_is_number(v) or (isinstance(v, np.ndarray) and v.ndim == 0) for v in vs)


def dies_per_wafer(width, height, *, wafer_diameter: float = 0.300, edge_exclusion: float = 3e-3,
                   scribe: float = 0.1e-3, method: str = "best_placement", panel: tuple[float, float] | None = None):
    """Dies per wafer (or panel) for a ``width`` × ``height`` die [m].

    ``method``:

    * ``"analytic"``: ``π (d/2)² / A − π d / √(2 A)`` with ``d = wafer_diameter − 2·edge_exclusion``
      and ``A = (width + scribe)(height + scribe)`` (de Vries, "Investigation of gross die per wafer
      formulas", IEEE TSM 18(1), 2005; the formula of Chiplet Actuary and RapidChiplet); smooth in
      the die size (works on JAX arrays), clipped at 0.
    * ``"analytic_floor"``: ``⌊analytic⌋`` (RapidChiplet). ``analytic`` is this formula with the
      floor relaxed: ``0 <= analytic − analytic_floor < 1``.
    * ``"best_placement"``: whole dies of a rectangular grid of pitch ``(width + scribe, height +
      scribe)`` inside the usable circle, maximised by a search over the grid offset: for each of
      32 evenly spaced row offsets (plus a die or a street on the centre line) the best column
      offset is found exactly among the rows' left limits (the count is piecewise constant in
      it and maximal at one; 4 row offsets for dies under ~3 mm, the two centred column
      offsets under ~1 mm). A search over the row offset, not a proof of the optimum; never
      fewer than the centred placements.

    ``panel`` (w, h) [m]: a rectangular panel instead of a round wafer: ``⌊(W − 2e + s)/p_x⌋ ·
    ⌊(H − 2e + s)/p_y⌋``, the better of the two die orientations, for every method.

    Examples
    --------
    >>> round(float(dies_per_wafer(10e-3, 10e-3, edge_exclusion=0, scribe=0, method="analytic")), 1)
    640.2
    >>> dies_per_wafer(100e-3, 100e-3, edge_exclusion=0, scribe=0)
    4
    """
    if method == "exact":
        raise CostError("`dies_per_wafer(method='exact')` was renamed: use 'best_placement' (a search over grid "
                        "offsets), 'analytic' or 'analytic_floor'")
    _check_choice("`dies_per_wafer`", "method", method, DPW_METHODS)
    concrete = _concrete(width, height)
    where = "`dies_per_wafer`"
    if concrete:
        _check(where, "width", width, kind="positive", unit="m")
        _check(where, "height", height, kind="positive", unit="m")
        if min(width, height) < 1e-6:
            raise CostError(f"{where}: a {width!r} x {height!r} m die is below 1 um; give metres (10 mm = 0.01)")
    _check(where, "edge_exclusion", edge_exclusion, unit="m")
    _check(where, "scribe", scribe, unit="m")
    if panel is not None:
        for v in panel:
            _check(where, "panel", v, kind="positive", unit="m")
        if not concrete:
            raise CostError(f"{where}: panels are counted, not smooth; give concrete sizes")
        px, py = width + scribe, height + scribe
        uw, uh = panel[0] - 2 * edge_exclusion + scribe, panel[1] - 2 * edge_exclusion + scribe
        n1 = math.floor(uw / px + 1e-12) * math.floor(uh / py + 1e-12) if uw > 0 and uh > 0 else 0
        n2 = math.floor(uw / py + 1e-12) * math.floor(uh / px + 1e-12) if uw > 0 and uh > 0 else 0
        return max(n1, n2, 0)
    _check(where, "wafer_diameter", wafer_diameter, kind="positive", unit="m")
    _check_size(where, "wafer_diameter", wafer_diameter)
    d = wafer_diameter - 2 * edge_exclusion
    if not d > 0:
        raise CostError(f"{where}: edge exclusion {edge_exclusion!r} m leaves no usable wafer of diameter "
                        f"{wafer_diameter!r} m; give less than half the diameter")
    if method in ("analytic", "analytic_floor"):
        a = (width + scribe) * (height + scribe)
        n = jnp.maximum(math.pi * (d / 2) ** 2 / a - math.pi * d / jnp.sqrt(2 * a), 0.0)
        return jnp.floor(n) if method == "analytic_floor" else n
    if not concrete:
        raise CostError(f"{where}: 'best_placement' counts dies and is not differentiable; use method='analytic' "
                        "on traced values")
    return _best_placement(float(width), float(height), float(d), float(scribe))


_ROW_OFFSETS = 32


@functools.lru_cache(maxsize=65536)
def _best_placement(width: float, height: float, d: float, scribe: float) -> int:
    r = d / 2
    r2 = r * r * (1 + 1e-12)
    px, py = width + scribe, height + scribe
    if math.hypot(width, height) > d * (1 + 1e-12):
        return 0
    nj = int(math.ceil(r / py)) + 2
    n_off = _ROW_OFFSETS if nj <= 100 else 4             # small dies: many rows, the offset matters little
    oys = np.concatenate([np.linspace(0.0, py, n_off, endpoint=False), [-height / 2 % py, scribe / 2 % py]])
    y0 = oys[:, None] + py * np.arange(-nj, nj + 1)[None, :]             # (offsets, rows): row bottoms
    m = np.maximum(y0 ** 2, (y0 + height) ** 2)
    c = np.sqrt(np.clip(r2 - m, 0.0, None))                               # half-chord at the row's far edge
    ok = (m <= r2) & (2 * c >= width)
    if not ok.any():
        return 0
    # A die at x0 = ox + i·px fits when -c <= x0 and x0 + w <= c. A row's count is piecewise constant in
    # ox and the best ox for a set of rows is some row's left limit ox ≡ -c (mod px): for each row offset,
    # its own rows' left limits are the candidates (exact over ox).
    cand = np.where(ok, np.mod(-c, px), np.nan)                           # (offsets, rows) candidates
    if c.shape[1] > 300:                        # dies below ~1 mm: the two centred column offsets only
        cand = np.tile([np.mod(-width / 2, px), np.mod(scribe / 2, px)], (len(oys), 1))
    cw = np.where(ok, c, 0.0)
    best = 0
    step = max(1, 8_000_000 // max(c.shape[1] ** 2, 1))
    for k in range(0, len(oys), step):                                    # chunks of row offsets bound memory
        ck, okk, ox = cw[k:k + step, None, :], ok[k:k + step, None, :], cand[k:k + step, :, None]
        hi = np.floor((ck - width - ox) / px + 1e-9)
        lo = np.ceil((-ck - ox) / px - 1e-9)
        n = np.where(okk & ~np.isnan(ox), np.maximum(hi - lo + 1, 0), 0).sum(axis=2)
        best = max(best, int(n.max()))
    return best


def reticle_utilisation(area: float, reticle: tuple[float, float] = RETICLE_SIZE) -> float:
    """Fraction of the exposure field used by whole dies (CATCH, Graening et al. 2023).

    The field is the smallest whole number ``k`` of reticles holding the die (stitched when
    ``k > 1``), ``F = k·R``; ``n = ⌊F / A⌋`` dies fit in it; ``U = n·A / F`` in (0.5, 1]. The die's
    lithography share of the wafer cost is divided by ``U`` (:func:`die_cost`).

    >>> reticle_utilisation(429e-6)   # two 429 mm2 dies fill the 858 mm2 field
    1.0
    """
    _check("`reticle_utilisation`", "area", area, kind="positive", unit="m^2")
    field_ = reticle[0] * reticle[1]
    k = max(1, math.ceil(area / field_ * (1 - 1e-12)))
    f = k * field_
    n = math.floor(f / area * (1 + 1e-12))
    return min(n * area / f, 1.0)


# -- yield ------------------------------------------------------------------------------------------

def die_yield(area, defect_density, *, model: str = "negative_binomial", alpha=3.0):
    """Fraction of defect-free dies of ``area`` [m²] at ``defect_density`` [1/m²].

    ``poisson`` e^(−AD); ``murphy`` ((1 − e^(−AD)) / AD)²; ``seeds`` 1 / (1 + AD);
    ``negative_binomial`` (1 + AD/α)^(−α) (α → ∞ gives Poisson). Smooth; works on JAX arrays.
    Concrete inputs are checked: area and D finite and >= 0, α > 0.

    Examples
    --------
    >>> round(float(die_yield(1e-4, 1e3, model="poisson")), 6)   # 1 cm2 at 0.1 /cm2
    0.904837
    """
    _check_choice("`die_yield`", "model", model, YIELD_MODELS)
    if _concrete(area):
        _check("`die_yield`", "area", area, unit="m^2")
    if _concrete(defect_density):
        _check("`die_yield`", "defect_density", defect_density, unit="1/m^2")
    if model == "negative_binomial" and _concrete(alpha):
        _check("`die_yield`", "alpha", alpha, kind="positive")
    ad = area * defect_density
    if model == "poisson":
        return jnp.exp(-ad)
    if model == "murphy":
        safe = jnp.where(ad > 1e-8, ad, 1.0)
        return jnp.where(ad > 1e-8, ((1 - jnp.exp(-safe)) / safe) ** 2, 1 - ad)
    if model == "seeds":
        return 1 / (1 + ad)
    return (1 + ad / alpha) ** (-alpha)


def kgd(raw_cost, test_cost, die_yield_, coverage):
    """Known-good-die test: ``(cost per passing die, probability a passing die is good, pass rate)``.

    A die passes with ``p = Y + (1 − Y)(1 − c)``; cost per passing die ``(raw + test) / p``;
    a passing die is good with ``q = Y / p`` (``1 − q`` are escapes).
    """
    if _concrete(raw_cost, test_cost, die_yield_, coverage):
        _check("`kgd`", "raw_cost", raw_cost, unit="$")
        _check("`kgd`", "test_cost", test_cost, unit="$")
        _check("`kgd`", "die_yield", die_yield_, kind="fraction")
        _check("`kgd`", "coverage", coverage, kind="fraction")
        if die_yield_ == 0:
            raise CostError("`kgd`: die yield 0: no good die is ever made; check the defect density and die area")
    p = die_yield_ + (1 - die_yield_) * (1 - coverage)
    return (raw_cost + test_cost) / p, die_yield_ / p, p


# -- specs of what is priced ------------------------------------------------------------------------

@dataclass(frozen=True)
class DieSpec:
    """One die type in a package: ``count`` copies of a ``width`` × ``height`` [m] die.

    ``kind``: ``logic`` (priced from its ``node``), ``hbm`` (unit cost of ``hbm_generation``),
    ``optical_engine`` (unit cost), ``dummy`` (structural silicon, priced on the bridge
    technology's wafer without yield loss, or free: ``CostParams.dummy_priced``), ``bridge``
    (priced by the bridge technology). ``design`` names the design for NRE sharing (default: the
    name); ``reuse`` is how many products share the design's NRE. ``bonds`` is signal bonds per
    copy to its carrier or peer (microbumps); ``hybrid_area`` [m²] the hybrid-bonded area per copy
    (bonded onto another die); ``tsvs`` the TSVs per copy (each of yield
    ``CostParams.tsv_yield_per_tsv``, found after stacking).
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
    tsvs: int = 0

    def __post_init__(self):
        w = f"DieSpec({self.name!r})"
        _check(w, "width", self.width, kind="positive", unit="m")
        _check(w, "height", self.height, kind="positive", unit="m")
        _check_size(w, "width", self.width, 1.0)
        _check_size(w, "height", self.height, 1.0)
        _check_choice(w, "kind", self.kind, DIE_KINDS)
        _check(w, "count", self.count, kind="count1")
        _check(w, "reuse", self.reuse, kind="count1")
        _check(w, "bonds", self.bonds, kind="count")
        _check(w, "hybrid_area", self.hybrid_area, unit="m^2")
        _check(w, "tsvs", self.tsvs, kind="count")

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
    for a units-per-wafer count of the real shape; ``module_test``: the die-on-carrier module is
    tested before substrate attach (a test insertion; Chiplet Actuary's flow); ``carrier_tsvs``:
    TSVs in the carrier (yield ``y_tsv^n``).
    """

    technology: str = "organic_substrate"
    carrier_area: float = 0.0
    substrate_area: float = 0.0
    flow: str = "chip_last"
    carrier_size: tuple[float, float] | None = None
    module_test: bool = False
    carrier_tsvs: int = 0

    def __post_init__(self):
        w = "PackageSpec"
        _check(w, "carrier_area", self.carrier_area, unit="m^2")
        _check(w, "substrate_area", self.substrate_area, unit="m^2")
        _check_choice(w, "flow", self.flow, ASSEMBLY_FLOWS)
        if self.carrier_size is not None:
            if not (isinstance(self.carrier_size, tuple) and len(self.carrier_size) == 2):
                raise CostError(f"{w}: `carrier_size` = {self.carrier_size!r}; give (width, height) in m or None")
            for v in self.carrier_size:
                _check(w, "carrier_size", v, kind="positive", unit="m")
        if not isinstance(self.module_test, bool):
            raise CostError(f"{w}: `module_test` = {self.module_test!r}; give true or false")
        _check(w, "carrier_tsvs", self.carrier_tsvs, kind="count")


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
    reticle_utilisation: float = 1.0


@dataclass(frozen=True)
class AssemblyStep:
    """One assembly or test step: ``count`` operations costing ``cost`` [$] in all, of yield ``yield_``."""

    name: str
    count: int
    cost: float
    yield_: float


@dataclass(frozen=True)
class CostBreakdown:
    """Cost of one good package [$] and where it comes from (see :func:`package_cost`)."""

    dies: tuple[DieCost, ...]
    die_cost: float              # Σ unit costs of dies + units, per attempted package
    carrier_cost: float          # interposer/RDL (+ its C4) per attempted package (chip-last: per good carrier)
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
    bump_cost: float = 0.0       # die bumps (C4 / micro-bumps) per attempted package
    steps: tuple[AssemblyStep, ...] = ()
    module_test: bool = False
    dpw_method: str = ""

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
        lines.append(f"dies+units ${self.die_cost:.2f}; bumps ${self.bump_cost:.2f}; {self.technology} carrier "
                     f"${self.carrier_cost:.2f} (yield {self.carrier_yield:.3f}, {self.flow}"
                     f"{', module tested before attach' if self.module_test else ''}); substrate "
                     f"${self.substrate_cost:.2f}; assembly ${self.assembly_cost:.2f}; test ${self.test_cost:.2f}")
        lines.append(f"package yield {self.package_yield:.3f} (bonding {self.bond_yield:.3f}, escapes "
                     f"{self.escape_yield:.4f}); ${self.cost_per_good_package:.2f} per good package + NRE "
                     f"${self.nre_per_unit:.2f} (${self.nre_total / 1e6:.1f} M over {self.volume:g} units) = "
                     f"${self.total_per_unit:.2f}")
        return "\n".join(lines)


# -- cost of dies, carriers, packages ----------------------------------------------------------------

def _wafer_of(p: CostParams, obj) -> dict:
    """The wafer (or panel) ``obj`` (a node or technology) is built on."""
    return dict(wafer_diameter=obj.wafer_diameter if obj.wafer_diameter is not None else p.wafer_diameter,
                edge_exclusion=obj.edge_exclusion if obj.edge_exclusion is not None else p.edge_exclusion,
                scribe=obj.scribe if obj.scribe is not None else p.scribe, panel=getattr(obj, "panel", None))


def _litho(obj, area: float, p: CostParams) -> float:
    """Cost factor ``(1 − L) + L / U`` of the lithography share ``L`` at reticle utilisation ``U``."""
    if obj.litho_fraction == 0:
        return 1.0
    return (1 - obj.litho_fraction) + obj.litho_fraction / reticle_utilisation(area, p.reticle)


def _check_method(method: str) -> str:
    if method == "exact":
        raise CostError("`method='exact'` was renamed: use 'best_placement' (a search over grid offsets), "
                        "'analytic' or 'analytic_floor'")
    _check_choice("cost model", "method", method, DPW_METHODS)
    return method


def die_cost(die: DieSpec, params: CostParams = DEFAULT_COST_PARAMS, *, method: str | None = None) -> DieCost:
    """Cost of one copy of ``die`` [$] with its yield and KGD figures (see the module docstring).

    ``method``: dies per wafer (default ``params.dpw_method``)."""
    p = params
    method = _check_method(method or p.dpw_method)
    where = f"`die_cost` ({die.name!r}): "
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
    if die.kind == "dummy" and not p.dummy_priced:
        return DieCost(die.name, die.kind, "free", die.count, area, float("nan"), 0.0, 1.0, 0.0, 0.0, 1.0, 0.0, 0.0)
    if die.kind in ("dummy", "bridge"):
        tech = p.technology("bridge")
        wafer = _wafer_of(p, tech)
        dpw = float(dies_per_wafer(die.width, die.height, method=method, **wafer))
        if dpw < 1:
            raise CostError(f"{where}a {die.width * 1e3:.1f} x {die.height * 1e3:.1f} mm {die.kind} does not fit a wafer")
        raw = tech.wafer_cost / dpw if tech.wafer_cost is not None else tech.cost_per_area * area
        y = float(die_yield(area, tech.defect_density, model=tech.yield_model, alpha=tech.alpha)) \
            if die.kind == "bridge" else 1.0
        if not y > 0:
            raise CostError(f"{where}bridge yield is 0 (defect density {tech.defect_density:g} /m2); check it")
        unit = raw / y
        return DieCost(die.name, die.kind, "Si-passive", die.count, area, dpw, raw, y, 0.0, unit, 1.0, unit, 0.0)
    node = p.node(die.node, where=where)
    wafer = _wafer_of(p, node)
    dpw = float(dies_per_wafer(die.width, die.height, method=method, **wafer))
    if dpw < 1:
        what = (f"{wafer['panel'][0] * 1e3:.0f} x {wafer['panel'][1] * 1e3:.0f} mm panel" if wafer["panel"] else
                f"{wafer['wafer_diameter'] * 1e3:.0f} mm wafer with {wafer['edge_exclusion'] * 1e3:g} mm edge exclusion")
        raise CostError(f"{where}a {die.width * 1e3:.1f} x {die.height * 1e3:.1f} mm die does not fit on a {what}")
    u = reticle_utilisation(area, p.reticle) if node.litho_fraction else 1.0
    raw = node.wafer_cost / dpw * _litho(node, area, p)
    y = float(die_yield(area, node.defect_density, model=p.yield_model, alpha=node.alpha))
    test = p.test_cost_per_die + p.test_cost_per_area * area
    cpp, q, _ = kgd(raw, test, y, p.test_coverage)
    nre = node.design_nre * area / (300 * MM2) + node.mask_set_cost
    return DieCost(die.name, die.kind, node.name, die.count, area, dpw, raw, y, test, cpp, q, cpp, nre, u)


def carrier_cost(spec: PackageSpec, params: CostParams = DEFAULT_COST_PARAMS, *, method: str | None = None):
    """``(raw cost, yield)`` of the 2.5D carrier (interposer / RDL / glass) of ``spec`` [$].

    Built on the technology's own wafer or panel (:func:`dies_per_wafer` with the carrier's
    shape, or a square of its area), or priced per area; the lithography share scaled by the
    reticle utilisation; yield by the technology's model × ``tsv_yield_per_tsv ** carrier_tsvs``."""
    method = _check_method(method or params.dpw_method)
    tech = params.technology(spec.technology, where="`carrier_cost`: ")
    if spec.carrier_area <= 0 or tech.name in ("organic_substrate", "hybrid_bond", "bridge"):
        return 0.0, 1.0
    if tech.wafer_cost is not None:
        wafer = _wafer_of(params, tech)
        size = spec.carrier_size if spec.carrier_size is not None else (math.sqrt(spec.carrier_area),) * 2
        upw = float(dies_per_wafer(*size, method=method, **wafer))
        if upw < 1:
            what = (f"{wafer['panel'][0] * 1e3:.0f} x {wafer['panel'][1] * 1e3:.0f} mm panel" if wafer["panel"]
                    else f"{wafer['wafer_diameter'] * 1e3:.0f} mm wafer")
            raise CostError(f"`carrier_cost`: a {spec.carrier_area / MM2:.0f} mm2 {tech.name} does not fit a {what}; "
                            "give the technology a larger wafer or panel, or a smaller carrier")
        raw = tech.wafer_cost / upw
    else:
        raw = tech.cost_per_area * spec.carrier_area
    raw *= _litho(tech, spec.carrier_area, params)
    y = float(die_yield(spec.carrier_area, tech.defect_density, model=tech.yield_model, alpha=tech.alpha))
    y *= params.tsv_yield_per_tsv ** spec.carrier_tsvs
    if not y > 0:
        raise CostError(f"`carrier_cost`: the {spec.carrier_area / MM2:.0f} mm2 {tech.name} has yield 0 (defect "
                        f"density {tech.defect_density:g} /m2): no good carrier is ever made; check the defect density")
    return raw, y


def nre_per_unit(dies: Sequence[DieCost | tuple[float, int]], volume: float, *, package_nre: float = 0.0) -> float:
    """NRE share per unit [$]: ``(Σ design NRE / reuse + package NRE) / volume``.

    ``dies`` are :class:`DieCost` (reuse 1) or ``(nre, reuse)`` pairs."""
    if not (finite_real(volume) and volume > 0):
        raise CostError(f"`volume` must be a positive number of units, got {volume!r}")
    _check("`nre_per_unit`", "package_nre", package_nre, unit="$")
    total = 0.0
    for d in dies:
        nre, reuse = (d.nre, 1) if isinstance(d, DieCost) else d
        _check("`nre_per_unit`", "nre", nre, unit="$")
        _check("`nre_per_unit`", "reuse", reuse, kind="count1")
        total += nre / reuse
    return (total + package_nre) / volume


def assembly_cost_per_chip(params: CostParams = DEFAULT_COST_PARAMS) -> float:
    return params.assembly_cost_per_chip


def _exceeds_reticle(w: float, h: float, reticle) -> bool:
    a, b = sorted((w, h))
    r0, r1 = sorted(reticle)
    return not (a <= r0 * (1 + 1e-9) and b <= r1 * (1 + 1e-9))


def package_cost(dies: Sequence[DieSpec], package: PackageSpec = PackageSpec(), params: CostParams | None = None, *,
                 volume: float = 1e6, method: str | None = None, nre: bool = True) -> CostBreakdown:
    """Cost of one good package [$] (see the module docstring for the model).

    Parameters
    ----------
    dies : sequence of DieSpec
        The dies (with counts). Bridges may be given as ``kind="bridge"`` dies.
    package : PackageSpec
        Carrier technology, areas, assembly flow and test insertion.
    params : CostParams, optional
        Defaults :data:`DEFAULT_COST_PARAMS`.
    volume : float
        Units over which NRE is amortised.
    method : {"best_placement", "analytic", "analytic_floor"}, optional
        Dies per wafer; default ``params.dpw_method``.
    nre : bool
        Include the NRE share.

    Examples
    --------
    >>> c = package_cost([DieSpec("soc", 20e-3, 20e-3, node="N5")], PackageSpec(substrate_area=(40e-3) ** 2))
    >>> 150 < c.cost_per_good_package < 400
    True
    """
    p = params or DEFAULT_COST_PARAMS
    if not isinstance(p, CostParams):
        raise CostError(f"`package_cost`: `params` must be a CostParams, got {type(p).__name__}")
    if not isinstance(package, PackageSpec):
        raise CostError(f"`package_cost`: `package` must be a PackageSpec, got {type(package).__name__}")
    method = _check_method(method or p.dpw_method)
    if not (finite_real(volume) and volume > 0):
        raise CostError(f"`volume` must be a positive number of units, got {volume!r}")
    dies = list(dies)
    for d in dies:
        if not isinstance(d, DieSpec):
            raise CostError(f"`package_cost`: dies must be DieSpec, got {type(d).__name__}")
    tech = p.technology(package.technology, where="`package_cost`: ")
    substrate = p.technology("organic_substrate")
    hb = p.technology("hybrid_bond")
    costs = [die_cost(d, p, method=method) for d in dies]
    die_total = sum(c.unit_cost * d.count for c, d in zip(costs, dies))
    escape = math.prod(c.good_given_passed ** d.count for c, d in zip(costs, dies))
    raw_c, y_c = carrier_cost(package, p, method=method)
    has_carrier = raw_c > 0
    carrier_c4 = substrate.bump_cost_per_area * package.carrier_area if has_carrier else 0.0
    carrier_unit = raw_c + carrier_c4
    if package.flow == "chip_last":
        carrier = carrier_unit / y_c if has_carrier else 0.0
        flow_yield = 1.0
    else:
        carrier, flow_yield = carrier_unit, y_c
    sub = substrate.cost_per_area * package.substrate_area
    n_chips = sum(d.count for d in dies)
    placed = [d for d in dies if d.kind != "bridge"]
    # Bumps and bonding: dies on the carrier (chip yield of the technology), hybrid-bonded dies (alignment + voids).
    bond, bumps = 1.0, 0.0
    for d in placed:
        bt = hb if d.hybrid_area > 0 else tech
        if d.kind not in ("hbm", "optical_engine") and not (package.flow == "chip_first" and bt is tech):
            bumps += bt.bump_cost_per_area * d.area * d.count     # HBM / OE units arrive bumped
        if d.kind == "dummy" and not p.dummy_in_bond_yield:
            continue                               # structural silicon carries no signals: placement cost only
        if d.hybrid_area > 0:
            y1 = hb.bond_chip_yield * float(die_yield(d.hybrid_area, hb.defect_density, model=hb.yield_model,
                                                      alpha=hb.alpha))
        elif package.flow == "chip_first":
            y1 = 1.0                               # RDL built on the dies: no bumps, its yield is Y_int
        else:
            y1 = tech.bond_chip_yield * tech.bond_yield_per_bond ** d.bonds
        bond *= (y1 * p.tsv_yield_per_tsv ** d.tsvs) ** d.count
    attach = substrate.bond_chip_yield if tech.name != "organic_substrate" and has_carrier else 1.0
    asm_chip = tech.assembly_cost_per_chip if tech.assembly_cost_per_chip is not None else p.assembly_cost_per_chip
    asm_attach_unit = (substrate.assembly_cost_per_chip if substrate.assembly_cost_per_chip is not None
                       else p.assembly_cost_per_chip)
    asm_dies = asm_chip * n_chips
    asm_attach = asm_attach_unit if has_carrier else 0.0
    assembly = asm_dies + asm_attach
    test = p.package_test_cost
    attempt = die_total + bumps + carrier + sub + assembly + test
    module_yield = escape * bond * flow_yield * tech.assembly_yield
    steps = [AssemblyStep(f"place and bond dies on {tech.name}", n_chips, asm_dies, bond * tech.assembly_yield)]
    if has_carrier:
        steps.append(AssemblyStep("attach carrier to substrate", 1, asm_attach, attach))
    if not module_yield * attach > 0:
        raise CostError(f"`package_cost`: package yield is 0 (bonding {bond:g}, attach {attach:g}, escapes {escape:g}, "
                        f"assembly {tech.assembly_yield:g}): no good package is ever made; check the yields")
    if package.module_test and has_carrier:
        module = (die_total + bumps + carrier + asm_dies) / module_yield
        good = (module + sub + asm_attach + test) / attach
        steps.insert(1, AssemblyStep("module test (die-on-carrier, before attach)", 1, 0.0, module_yield))
    else:
        good = attempt / (module_yield * attach)
    steps.append(AssemblyStep("final test", 1, test, 1.0))
    pkg_yield = module_yield * attach
    seen, nre_items = set(), []
    for c, d in zip(costs, dies):
        key = d.design or d.name
        if key in seen:
            continue
        seen.add(key)
        nre_items.append((c.nre, d.reuse))
    pkg_nre = p.package_nre + (tech.nre if has_carrier or tech.name == "bridge" else 0.0)
    nre_total = sum(n / r for n, r in nre_items) + pkg_nre
    share = nre_per_unit(nre_items, volume, package_nre=pkg_nre) if nre else 0.0
    notes = []
    if tech.max_area is not None and package.carrier_area > tech.max_area:
        notes.append(f"{tech.name} of {package.carrier_area / MM2:.0f} mm2 exceeds its limit "
                     f"{tech.max_area / MM2:.0f} mm2 ({tech.source('max_area')})")
    for d in dies:
        if d.kind == "logic" and _exceeds_reticle(d.width, d.height, p.reticle):
            notes.append(f"die {d.name} ({d.width * 1e3:.1f} x {d.height * 1e3:.1f} mm) is larger than the "
                         f"{p.reticle[0] * 1e3:g} x {p.reticle[1] * 1e3:g} mm reticle: priced as if it could be "
                         "exposed (stitching yield not modelled)")
    if not (math.isfinite(good) and math.isfinite(share)):
        raise CostError(f"`package_cost`: the cost overflows ({good!r} per good package, NRE {share!r}); check the "
                        "magnitudes and units of the cost inputs")
    return CostBreakdown(dies=tuple(costs), die_cost=die_total, carrier_cost=carrier, carrier_yield=y_c,
                         substrate_cost=sub, assembly_cost=assembly, test_cost=test, bond_yield=bond * attach,
                         escape_yield=escape, package_yield=pkg_yield, cost_per_attempt=attempt,
                         cost_per_good_package=good, nre_total=nre_total, nre_per_unit=share, volume=volume,
                         technology=tech.name, flow=package.flow, notes=tuple(notes), bump_cost=bumps,
                         steps=tuple(steps), module_test=package.module_test, dpw_method=method)


def split_die_cost(total_area: float, n: int, *, node: str = "N5", phy_overhead: float = 0.10,
                   technology: str = "silicon_interposer", params: CostParams | None = None,
                   volume: float = 1e6, method: str | None = None, bonds_per_chiplet: int = 0) -> CostBreakdown:
    """Cost of a ``total_area`` [m²] design split into ``n`` equal square chiplets.

    ``n = 1`` is the monolithic die on an organic substrate; ``n > 1`` adds ``phy_overhead`` of
    extra silicon per chiplet (AMD EPYC: ~10 % for die-to-die [P§5]) and a carrier of
    ``technology`` sized to the dies plus 10 % (placement gaps, an assumption).
    """
    _check("`split_die_cost`", "n", n, kind="count1")
    _check("`split_die_cost`", "total_area", total_area, kind="positive", unit="m^2")
    _check("`split_die_cost`", "phy_overhead", phy_overhead)
    a = total_area / n * (1 + (phy_overhead if n > 1 else 0.0))
    side = math.sqrt(a)
    die = DieSpec("chiplet" if n > 1 else "monolithic", side, side, node=node, count=n, bonds=bonds_per_chiplet)
    if n == 1:
        pkg = PackageSpec("organic_substrate", 0.0, 4 * a)
    else:
        carrier = 1.1 * n * a
        pkg = PackageSpec(technology, carrier if technology != "organic_substrate" else 0.0, 4 * n * a)
    return package_cost([die], pkg, params, volume=volume, method=method)
