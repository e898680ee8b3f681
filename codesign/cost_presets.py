"""Presets that configure :mod:`codesign.cost` like the published open chiplet cost models.

Each preset returns a :class:`~codesign.cost.CostParams` whose values come from the tool's own
parameter file (quoted in every ``source``); the package flow each tool assumes is given by
:func:`actuary_package`. ``docs/cost.md`` lists the worked examples reproduced with them and the
documented differences. Use them to compare with the tools, not as industry data [P§5 cautions].

* :func:`actuary` — Chiplet Actuary (Feng & Ma, DAC 2022; github.com/Yinxiao-Feng/chiplet-actuary,
  ``parameter.ini``): analytic dies per wafer (300 mm, 5 mm edge loss, 0.2 mm scribe), negative
  binomial yield with critical level 10 (6 Si interposer, 3 RDL), KGD = wafer / (N·Y), C4 0.005
  and micro-bump 0.01 $/mm² of die, C4 0.005 $/mm² of interposer, substrate 0.005 $/mm²,
  bonding yields 0.99 (OS), 0.98 (FO), 0.95 (SI); free dummies that count in the bonding yield;
  the interposer module tested before substrate attach.
* :func:`rapidchiplet` — RapidChiplet (Iff et al., 2023; github.com/spcl/rapidchiplet,
  ``inputs/technologies/example_technologies.json``, ``inputs/packagings/example_packaging.json``):
  per-technology wafer radius, floored analytic dies per wafer without edge exclusion or scribe,
  Seeds yield ``1/(1 + D·A)``, cost per good die, one packaging yield 0.9 for the whole assembly.
* :func:`catch` — CATCH (Graening, Gupta et al., 2023; github.com/nanocad-lab/CATCH,
  ``layer_definitions.xml``, ``wafer_process_definitions.xml``): "combined" layers as nodes
  (cost per mm² of the whole 300 mm wafer, defect density × critical-area ratio, clustering 2,
  lithography share scaled by the reticle utilisation), 0.1 mm edge exclusion, 0.13 mm dicing.
"""

from __future__ import annotations

import dataclasses
import math

from .cost import (MM2, CostParams, NodeParams, PackageSpec, TechnologyParams, DEFAULT_COST_PARAMS)

__all__ = ["actuary", "actuary_package", "catch", "rapidchiplet", "PRESETS"]

_ACT = "Chiplet Actuary parameter.ini (github.com/Yinxiao-Feng/chiplet-actuary)"
_RC = "RapidChiplet example_technologies.json (github.com/spcl/rapidchiplet)"
_RCP = "RapidChiplet example_packaging.json (github.com/spcl/rapidchiplet)"
_CATCH = "CATCH layer_definitions.xml (github.com/nanocad-lab/CATCH)"
_CATCHW = "CATCH wafer_process_definitions.xml (github.com/nanocad-lab/CATCH)"

# Actuary [node]: (defect density /cm2, wafer cost $, NRE of a 300 mm2 chip $)
_ACTUARY_NODES = {"N3": (0.2, 30000.0, 100e7), "N5": (0.11, 16988.0, 54.2e7), "N7": (0.09, 9346.0, 29.8e7),
                  "N10": (0.08, 5992.0, 17.4e7), "N14": (0.08, 3984.0, 10.6e7), "N20": (0.07, 3677.0, 7e7),
                  "N28": (0.07, 2891.0, 5.1e7), "N40": (0.07, 2274.0, 3.8e7), "N55": (0.07, 1937.0, 2.8e7)}


def _tech(base: TechnologyParams, src: str, **kw) -> TechnologyParams:
    return dataclasses.replace(base, sources=tuple((k, src) for k in kw) + base.sources, **kw)


def actuary() -> CostParams:
    """Chiplet Actuary's parameters (see the module docstring).

    The organic substrate is priced at 0.005 $/mm² (layer factor 1, Actuary's single-die
    package); Actuary multiplies by 1.5 / 1.75 / 2 for multi-die packages above 0 / 289 /
    900 mm²: scale ``technologies['organic_substrate'].cost_per_area`` for those.
    """
    d = DEFAULT_COST_PARAMS
    nodes = {n: NodeParams(n, wc, d0 * 1e4, 10.0, 0.0, nre, sources=tuple(
        (k, f"tool: {_ACT} [{n[1:]}]") for k in ("wafer_cost", "defect_density", "alpha", "mask_set_cost",
                                                  "design_nre")))
             for n, (d0, wc, nre) in _ACTUARY_NODES.items()}
    t = d.technologies
    techs = dict(t)
    techs["organic_substrate"] = _tech(t["organic_substrate"], f"tool: {_ACT} [OS]", cost_per_area=0.005 / MM2,
                                       bond_chip_yield=0.99, bond_yield_per_bond=1.0, bump_cost_per_area=0.005 / MM2,
                                       assembly_cost_per_chip=0.0, nre=0.0)
    techs["silicon_interposer"] = _tech(t["silicon_interposer"], f"tool: {_ACT} [SI]; wafer = [55]",
                                        wafer_cost=1937.0, defect_density=0.06e4, alpha=6.0, bond_chip_yield=0.95,
                                        bond_yield_per_bond=1.0, bump_cost_per_area=0.01 / MM2,
                                        assembly_cost_per_chip=0.0, nre=0.0, max_area=None)
    techs["organic_rdl"] = _tech(t["organic_rdl"], f"tool: {_ACT} [FO]", wafer_cost=1200.0, defect_density=0.05e4,
                                 alpha=3.0, bond_chip_yield=0.98, bond_yield_per_bond=1.0,
                                 bump_cost_per_area=0.01 / MM2, assembly_cost_per_chip=0.0, nre=0.0, max_area=None)
    src = f"tool: {_ACT} [Manufacture]"
    return dataclasses.replace(
        d, nodes=nodes, technologies=techs, wafer_diameter=0.300, edge_exclusion=5e-3, scribe=0.2e-3,
        yield_model="negative_binomial", test_cost_per_die=0.0, test_cost_per_area=0.0, test_coverage=1.0,
        package_test_cost=0.0, assembly_cost_per_chip=0.0, package_nre=0.0, dpw_method="analytic",
        tsv_yield_per_tsv=1.0, dummy_priced=False, dummy_in_bond_yield=True,
        sources=(("wafer_diameter", src), ("edge_exclusion", src + " edge_loss = 5"),
                 ("scribe", src + " scribe_lane = 0.2"), ("yield_model", src + " critical_level = 10"),
                 ("test_cost_per_die", "Actuary: KGD = wafer / (N * Y), no test cost"),
                 ("test_cost_per_area", "Actuary: no test cost"), ("test_coverage", "Actuary: perfect KGD"),
                 ("package_test_cost", "Actuary: none"), ("assembly_cost_per_chip", "Actuary: none"),
                 ("package_nre", "Actuary: package NRE by area (codesign.cost_nre)"),
                 ("dpw_method", "Actuary: analytic N_die_total"), ("tsv_yield_per_tsv", "Actuary: no TSV term"),
                 ("dummy_priced", "Actuary: class dummy costs 0"),
                 ("dummy_in_bond_yield", "Actuary: dummies count in chip_num (bonding yield)")) + tuple(
                     (k, s) for k, s in d.sources if k in ("hbm_unit_cost", "optical_engine_unit_cost", "reticle")))


def actuary_package(technology: str, die_area: float, *, flow: str = "chip_last") -> PackageSpec:
    """Actuary's package geometry for dies of total area ``die_area`` [m²].

    Interposer = 1.1 × die area (SI) or 1.2 × (FO, RDL); substrate = 4 × interposer (or 4 × die
    area on a bare organic substrate); the module is tested before substrate attach.
    """
    scale = {"silicon_interposer": 1.1, "organic_rdl": 1.2, "organic_substrate": 0.0}[technology]
    carrier = scale * die_area
    return PackageSpec(technology, carrier, 4 * (carrier if carrier else die_area), flow=flow,
                       module_test=carrier > 0)


# RapidChiplet example technologies: wafer radius mm, wafer cost $, defect density /mm2
_RC_TECHS = {"tech_1": (101.6, 500.0, 0.005), "tech_2": (101.6, 750.0, 0.01), "tech_3": (250.0, 1100.0, 0.0005)}


def rapidchiplet(interposer_technology: str = "tech_3", packaging_yield: float = 0.9) -> CostParams:
    """RapidChiplet's example technologies as nodes ``tech_1`` … ``tech_3`` and its packaging.

    The interposer (``silicon_interposer``) is built in ``interposer_technology`` (its own wafer
    radius, cost and defect density, Seeds yield); the whole assembly has one yield
    ``packaging_yield``; no bumps, substrate, assembly or test costs (RapidChiplet has none).
    """
    d = DEFAULT_COST_PARAMS
    nodes = {n: NodeParams(n, wc, dd / MM2, 1.0, 0.0, 0.0, wafer_diameter=2 * r * 1e-3, edge_exclusion=0.0, scribe=0.0,
                           sources=tuple((k, f"tool: {_RC} [{n}]") for k in ("wafer_cost", "defect_density")) + (
                               ("alpha", "unused: Seeds yield"), ("mask_set_cost", "RapidChiplet: no NRE"),
                               ("design_nre", "RapidChiplet: no NRE")))
             for n, (r, wc, dd) in _RC_TECHS.items()}
    r, wc, dd = _RC_TECHS[interposer_technology]
    t = d.technologies
    src = f"tool: {_RC} [{interposer_technology}]"
    techs = dict(t)
    techs["silicon_interposer"] = _tech(
        t["silicon_interposer"], src, wafer_cost=wc, cost_per_area=None, defect_density=dd / MM2, yield_model="seeds",
        wafer_diameter=2 * r * 1e-3, edge_exclusion=0.0, scribe=0.0, bond_chip_yield=1.0, bond_yield_per_bond=1.0,
        bump_cost_per_area=0.0, assembly_yield=packaging_yield, max_area=None, nre=0.0)
    techs["organic_substrate"] = _tech(t["organic_substrate"], "RapidChiplet: no substrate term", cost_per_area=0.0,
                                       bond_chip_yield=1.0, bump_cost_per_area=0.0, nre=0.0,
                                       assembly_yield=packaging_yield)
    return dataclasses.replace(
        d, nodes=nodes, technologies=techs, edge_exclusion=0.0, scribe=0.0, yield_model="seeds",
        test_cost_per_die=0.0, test_cost_per_area=0.0, test_coverage=1.0, package_test_cost=0.0,
        assembly_cost_per_chip=0.0, package_nre=0.0, dpw_method="analytic_floor", tsv_yield_per_tsv=1.0,
        sources=(("yield_model", "RapidChiplet: manufacturing_yield = 1 / (1 + dd * area)"),
                 ("dpw_method", "RapidChiplet: int(floor(pi r^2 / A - 2 pi r / sqrt(2 A)))"),
                 ("edge_exclusion", "RapidChiplet: none"), ("scribe", "RapidChiplet: none"),
                 ("test_coverage", "RapidChiplet: cost per known-good die = wafer / (DPW * yield)"),
                 ("assembly_cost_per_chip", f"RapidChiplet: none; packaging_yield {packaging_yield} ({_RCP})")))


# CATCH combined layers: cost per mm2 of the 300 mm wafer, defect density /mm2, critical-area ratio,
# clustering factor, litho percent, mask cost
_CATCH_LAYERS = {"N40": (0.033497, 0.005, 0.5, 2.0, 0.15, 1e5), "N12": (0.05636207, 0.005, 0.6, 2.0, 0.25, 5e5),
                 "N10": (0.084769, 0.005, 0.62, 2.0, 0.25, 5e5), "N7": (0.132219, 0.005, 0.64, 2.0, 0.27, 1e6),
                 "N5": (0.25024, 0.005, 0.67, 2.0, 0.30, 3e6), "N3": (0.29461, 0.005, 0.7, 2.0, 0.35, 5e6)}


def catch() -> CostParams:
    """CATCH's "combined" layers as nodes N40 … N3 and its 300 mm wafer process.

    Wafer cost = cost_per_mm2 × π (150 mm)² (CATCH prices the whole circle); D = defect density ×
    critical-area ratio; α = clustering factor 2; ``litho_fraction`` = litho percent. CATCH's own
    grid-fill die count is a heuristic; this preset counts by best placement (``docs/cost.md``).
    """
    d = DEFAULT_COST_PARAMS
    circle = math.pi * 150.0 ** 2
    nodes = {}
    for n, (cpm, dd, car, cf, litho, mask) in _CATCH_LAYERS.items():
        s = f"tool: {_CATCH} [combined_{n[1:]}nm]"
        nodes[n] = NodeParams(n, cpm * circle, dd * car / MM2, cf, mask, 0.0, litho_fraction=litho,
                              sources=(("wafer_cost", s + " cost_per_mm2 x pi 150^2"),
                                       ("defect_density", s + " defect_density x critical_area_ratio"),
                                       ("alpha", s + " clustering_factor"), ("mask_set_cost", s + " nre_mask_cost"),
                                       ("design_nre", "CATCH: design NRE per mm2 (codesign.cost_nre)")))
    techs = dict(d.technologies)
    techs["silicon_interposer"] = _tech(
        techs["silicon_interposer"], f"tool: {_CATCH} [combined_interposer_silicon]", wafer_cost=0.021905 * circle,
        defect_density=0.00001 * 0.3 / MM2, alpha=2.0, litho_fraction=0.10, max_area=None)
    src = f"tool: {_CATCHW} [process_1]"
    return dataclasses.replace(
        d, nodes=nodes, technologies=techs, edge_exclusion=0.1e-3, scribe=0.13e-3, test_cost_per_die=0.0,
        test_cost_per_area=0.0, test_coverage=1.0, dpw_method="best_placement",
        sources=(("edge_exclusion", src + " edge_exclusion = 0.1"), ("scribe", src + " dicing_distance = 0.13"),
                 ("reticle", src + " reticle 26 x 33"), ("yield_model", "CATCH: negative binomial"),
                 ("dpw_method", "CATCH grid fill (a heuristic); best placement used here")) + tuple(
                     (k, s) for k, s in d.sources if k not in ("edge_exclusion", "scribe", "reticle", "yield_model",
                                                               "dpw_method")))


PRESETS = {"actuary": actuary, "catch": catch, "rapidchiplet": rapidchiplet, "default": lambda: DEFAULT_COST_PARAMS}
