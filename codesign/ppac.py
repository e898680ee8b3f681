"""PPAC: power, performance, area and cost of a package, with its feasibility checks.

:func:`evaluate_ppac` gathers what the other models computed (thermal report, electro-thermal operating
point, derating, interconnect report) and adds the area checks and the cost model
(:mod:`codesign.cost`). It never runs a thermal solve itself; pass the results you have (the
``codesign run`` pipeline does). Missing pieces are reported as ``None`` with a note.

Package technology inference (:func:`infer_technology`)
-------------------------------------------------------
The layout format has no "technology" key; the stack says it implicitly. Rules, in order:

1. **bridges**: any chiplet of kind ``bridge``. If the bridges sit in an organic-substrate layer
   the package is EMIB-class (``bridge`` technology, no interposer); otherwise (a mould/RDL
   interposer layer holding LSI bridges) it is CoWoS-L-class: an ``organic_rdl`` carrier the size
   of that layer's extent plus the bridge dies.
2. **silicon interposer**: a layer of material ``silicon`` (or ``glass``) with no chiplets and a
   ``tsv`` interconnect below the dies: CoWoS-S-class (``glass`` → glass interposer); carrier
   area = the layer's extent.
3. otherwise the dies sit on the **organic substrate**.

Independently, dies in a layer directly above a ``hybrid_bond`` interconnect layer that overlap a
die two layers below are **hybrid-bonded** onto it (``hybrid_area`` = the overlap); above a
``microbump`` layer they are microbumped (3D, Foveros-class). The substrate area is the bottom
organic layer's extent. Override the result with ``evaluate_ppac(..., technology=PackageTechnology(...))``.

Cost inputs come, in this order, from the arguments, the layout (each chiplet's ``node``, the
``[cost]`` table: preset, volume, flow, sourced overrides; :mod:`codesign.cost_io`) and the
defaults; logic dies with no node take ``default_node`` ("N5"). :attr:`PPAC.cost_inputs` says for
each value where it came from (``argument``, ``file`` or ``default``), and the report shows it.
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass
from typing import Mapping, Sequence

from .cost import (DEFAULT_COST_PARAMS, MM2, RETICLE_AREA, RETICLE_SIZE, CostBreakdown, CostError, CostParams,
                   DieSpec, PackageSpec, package_cost)
from .stack import Chiplet, Rect, Stack

__all__ = ["PPAC", "PackageTechnology", "evaluate_ppac", "infer_technology", "reticle_check"]

KELVIN = 273.15


@dataclass(frozen=True)
class PackageTechnology:
    """How the package is built (see the module docstring for the inference rules).

    ``technology`` is a :data:`codesign.cost.TECHNOLOGIES` key for the 2.5D carrier;
    ``carrier_size`` (w, h) [m] its extent (``None``: no carrier); ``substrate_size`` [m];
    ``bridges`` the bridge chiplets; ``hybrid_bonded`` maps a die to its hybrid-bonded area [m²];
    ``microbumped_3d`` the dies microbumped onto another die; ``reason`` says how it was inferred.
    """

    technology: str
    carrier_size: tuple[float, float] | None
    substrate_size: tuple[float, float]
    bridges: tuple[str, ...] = ()
    hybrid_bonded: tuple[tuple[str, float], ...] = ()
    microbumped_3d: tuple[str, ...] = ()
    flow: str = "chip_last"
    reason: str = ""

    @property
    def carrier_area(self) -> float:
        return self.carrier_size[0] * self.carrier_size[1] if self.carrier_size else 0.0

    @property
    def label(self) -> str:
        parts = [self.technology]
        if self.hybrid_bonded:
            parts.append("hybrid bonding")
        if self.microbumped_3d:
            parts.append("3D microbumps")
        return " + ".join(parts)


def _overlap(a: Rect, b: Rect) -> float:
    return a.overlap_area(b)


def infer_technology(stack: Stack) -> PackageTechnology:
    """Infer the package technology from the stack (rules in the module docstring)."""
    layers = stack.layers
    die_layers = [i for i, l in enumerate(layers) if any(c.kind in ("logic", "hbm", "optical_engine") for c in l.chiplets)]
    lowest_die = max(die_layers) if die_layers else 0
    organic = [l for l in layers if l.material == "organic_substrate" and not l.chiplets]
    sub = organic[-1].extent if organic else layers[-1].extent
    substrate_size = (sub.width, sub.height)
    bridges = tuple(c.name for l in layers for c in l.chiplets if c.kind == "bridge")
    # 3D bonding
    hybrid, micro = [], []
    for i in range(1, len(layers) - 1):
        ic = layers[i].interconnect
        if ic is None or ic.kind not in ("hybrid_bond", "microbump"):
            continue
        above, below = layers[i - 1], layers[i + 1]
        for c in above.chiplets:
            if c.kind not in ("logic", "hbm", "optical_engine"):
                continue
            ov = sum(_overlap(c.rect, d.rect) for d in below.chiplets if d.kind in ("logic", "dummy"))
            if ov > 0:
                (hybrid.append((c.name, ov)) if ic.kind == "hybrid_bond" else micro.append(c.name))
    carrier_size, tech, reason = None, "organic_substrate", "dies flip-chipped on the organic substrate"
    if bridges:
        bl = stack.layer_of(bridges[0])
        if bl.material == "organic_substrate":
            tech, reason = "bridge", f"{len(bridges)} bridge dies embedded in substrate layer {bl.name!r} (EMIB class)"
        else:
            tech = "organic_rdl"
            carrier_size = (bl.extent.width, bl.extent.height)
            reason = (f"{len(bridges)} bridge dies in {bl.material} interposer layer {bl.name!r}: RDL interposer with "
                      "local silicon bridges (CoWoS-L class); bridges priced as bridge dies")
    else:
        for l in layers[lowest_die + 1:]:
            if l.chiplets or l.material not in ("silicon", "glass"):
                continue
            if l.interconnect is not None and l.interconnect.kind == "tsv" or l.material == "silicon":
                tech = "silicon_interposer" if l.material == "silicon" else "glass"
                carrier_size = (l.extent.width, l.extent.height)
                reason = f"{l.material} layer {l.name!r} below the dies ({tech.replace('_', ' ')}, CoWoS-S class)"
                break
    return PackageTechnology(technology=tech, carrier_size=carrier_size, substrate_size=substrate_size,
                             bridges=bridges, hybrid_bonded=tuple(hybrid), microbumped_3d=tuple(micro),
                             reason=reason)


def reticle_check(width: float, height: float, *, reticle: tuple[float, float] = RETICLE_SIZE) -> str | None:
    """``None`` if a ``width`` × ``height`` die fits one reticle field (either orientation), else why not."""
    a, b = sorted((width, height))
    r0, r1 = sorted(reticle)
    if a <= r0 * (1 + 1e-9) and b <= r1 * (1 + 1e-9):
        return None
    return (f"{width * 1e3:.1f} x {height * 1e3:.1f} mm exceeds the {reticle[0] * 1e3:g} x {reticle[1] * 1e3:g} mm "
            "reticle field [P§2]")


@dataclass(frozen=True, eq=False)
class PPAC:
    """Power [W], performance, area [m²] and cost [$] of one package, with feasibility.

    ``power``: dynamic, leakage, interconnect, memory, total. ``performance``: aggregate and HBM
    bandwidth [bit/s], mean/max link latency [s], derating scale and frequency factor,
    throughput. ``area``: logic silicon, PHY, memory, interposer, package. ``cost``: the
    :class:`~codesign.cost.CostBreakdown`. ``infeasible``: reasons (empty when feasible).
    """

    name: str
    technology: PackageTechnology
    power: Mapping[str, float | None]
    performance: Mapping[str, float | None]
    area: Mapping[str, float | None]
    cost: CostBreakdown
    temperatures: Mapping[str, float | None]
    infeasible: tuple[str, ...]
    notes: tuple[str, ...] = ()
    nodes: tuple[tuple[str, str], ...] = ()
    cost_inputs: tuple[tuple[str, str, str], ...] = ()   # (quantity, value, origin: argument / file / default)

    @property
    def feasible(self) -> bool:
        return not self.infeasible

    @property
    def cost_per_unit(self) -> float:
        """Cost per good package including the NRE share [$]."""
        return self.cost.total_per_unit

    def to_dict(self) -> dict:
        """JSON-serialisable (SI units; temperatures in degC, keys say so)."""
        return {"name": self.name, "feasible": self.feasible, "infeasible": list(self.infeasible),
                "technology": dataclasses.asdict(self.technology), "nodes": dict(self.nodes),
                "power_W": dict(self.power), "performance": dict(self.performance), "area_m2": dict(self.area),
                "temperatures_C": dict(self.temperatures), "cost": self.cost.to_dict(), "notes": list(self.notes),
                "cost_inputs": [{"name": n, "value": v, "origin": o} for n, v, o in self.cost_inputs]}

    def to_json(self, **kw) -> str:
        return json.dumps(self.to_dict(), **kw)

    def table(self) -> str:
        """A terminal summary."""
        p, f, a, t, c = self.power, self.performance, self.area, self.temperatures, self.cost

        def w(v):
            return "-" if v is None else f"{v:.1f}"

        lines = [f"PPAC: {self.name}  [{self.technology.label}; {self.technology.reason}]",
                 f"  Power  total {w(p['total'])} W = dynamic {w(p['dynamic'])} + leakage {w(p['leakage'])} W "
                 f"(leakage at {p.get('leakage_basis')}); memory {w(p['memory'])} W; interconnect "
                 f"{w(p['interconnect'])} W ({'included in die powers' if p.get('interconnect_in_dies') else 'added'})"]
        bw = f["aggregate_bandwidth"]
        lat = "-" if f["max_latency"] is None else f"{f['max_latency'] * 1e9:.2f} ns"
        der = ("-" if f["frequency_factor"] is None else
               f"f x{f['frequency_factor']:.3f} (P x{f['power_scale']:.3f}, limited by {f['limiting']})")
        thr = f"; throughput {f['throughput']:.4g} (user units)" if f.get("throughput") is not None else ""
        rating = ("derating" if f["power_scale"] is None or f["power_scale"] <= 1 else "up-rating (headroom)")
        lines.append(f"  Perf   link bandwidth {0 if bw is None else bw / 8e12:.2f} TB/s; HBM "
                     f"{(f['hbm_bandwidth'] or 0) / 8e12:.2f} TB/s; latency max {lat}; {rating} {der}{thr}")
        lines.append(f"  Temp   max {w(t.get('max_junction'))} degC (hottest {t.get('hottest')}); worst margin "
                     f"{w(t.get('worst_margin'))} K")
        lines.append(f"  Area   logic silicon {a['logic_silicon'] / MM2:.0f} mm2 (PHY {a['phy'] / MM2:.1f} mm2); memory "
                     f"{a['memory'] / MM2:.0f} mm2; carrier {a['carrier'] / MM2:.0f} mm2; package {a['package'] / MM2:.0f} mm2")
        lines.append(f"  Cost   ${c.cost_per_good_package:,.0f} per good package (yield {c.package_yield:.3f}) + NRE "
                     f"${c.nre_per_unit:,.0f} at {c.volume:,.0f} units = ${c.total_per_unit:,.0f}")
        lines.append("  " + "; ".join(f"{d.name} {d.node} {d.area / MM2:.0f}mm2 x{d.count} ${d.unit_cost:,.0f}"
                                       for d in c.dies[:8]) + (" ..." if len(c.dies) > 8 else ""))
        lines.append(f"  Feasible: {'yes' if self.feasible else 'NO'}" + "".join(f"\n    - {r}" for r in self.infeasible))
        if self.cost_inputs:
            lines.append("  Cost inputs:" + "".join(f"\n    - {n} = {v} ({o})" for n, v, o in self.cost_inputs))
        if self.notes:
            lines.append("  Notes:" + "".join(f"\n    - {n}" for n in self.notes))
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.table()


def _same(a: Rect, b: Rect, tol: float = 1e-9) -> bool:
    return (abs(a.x - b.x) < tol and abs(a.y - b.y) < tol and abs(a.width - b.width) < tol
            and abs(a.height - b.height) < tol)


def _leakage_at(chip: Chiplet, temperature: float) -> float:
    lk = chip.leakage
    if lk is None:
        return 0.0
    dt = temperature - lk.reference_temperature
    if lk.model == "exponential":
        return lk.reference_power * math.exp(lk.coefficient * dt)
    return lk.reference_power * (1 + sum(c * dt ** (i + 1) for i, c in enumerate(lk.polynomial)))


def _die_specs(stack: Stack, tech: PackageTechnology, nodes: Mapping[str, str], default_node: str,
               links, reuse: Mapping[str, int], given: Mapping[str, str]) -> tuple[list[DieSpec], list[str]]:
    notes = []
    bonds: dict[str, int] = {}
    if links is not None:
        for r in links.links:
            if r.geometry != "3d":
                for e in r.endpoints:
                    bonds[e] = bonds.get(e, 0) + int(r.bumps)
    hybrid = dict(tech.hybrid_bonded)
    specs, assumed = [], []
    rects_below: dict[str, list[Rect]] = {}
    layers = stack.layers
    for i, layer in enumerate(layers):
        rects_below[layer.name] = [c.rect for l in layers[i + 1:] for c in l.chiplets
                                   if c.kind != "dummy" or c.material in ("silicon", "silicon_const")]
    skipped = []
    designs: dict[tuple, str] = {}
    for c in stack.chiplets:
        kind = c.kind
        if kind == "dummy":
            if c.material not in ("silicon", "silicon_const"):
                continue                     # TIM blocks, oxide fills: not dies
            if any(_same(c.rect, r) for r in rects_below[stack.layer_of(c.name).name]):
                skipped.append(c.name)       # a thickness extension of the die below (caps, upper halves)
                continue
        node = nodes.get(c.name)
        if kind == "logic" and node is None and c.node is not None:
            node = c.node
        if kind == "logic" and node is None:
            node = default_node
            assumed.append(c.name)
        key = (kind, node, round(c.rect.width * 1e6), round(c.rect.height * 1e6))
        design = given[c.name] if c.name in given else designs.setdefault(key, c.name)
        specs.append(DieSpec(name=c.name, width=c.rect.width, height=c.rect.height, node=node or "-", kind=kind,
                             hbm_generation=c.hbm.generation if c.hbm else "HBM3", bonds=bonds.get(c.name, 0),
                             hybrid_area=hybrid.get(c.name, 0.0), design=design,
                             reuse=int(reuse.get(design, reuse.get(c.name, 1)))))
    if skipped:
        notes.append(f"not priced as separate dies (same footprint as the die below: thickness extensions): "
                     f"{', '.join(skipped)}")
    shared = sorted({d.design for d in specs if sum(e.design == d.design for e in specs) > 1 and d.kind == "logic"})
    if shared and not given:
        notes.append(f"identical logic dies share one design's NRE: {', '.join(shared)} (same size and node)")
    if assumed:
        notes.append(f"process node not given for {', '.join(assumed)}: {default_node} assumed "
                     "(set `node = \"...\"` on the chiplet or pass `nodes={...}`)")
    return specs, notes


def evaluate_ppac(stack: Stack, *, thermal=None, coupled=None, derating=None, links=None,
                  cost_params: CostParams | None = None, volume: float | None = None,
                  nodes: Mapping[str, str] | None = None,
                  default_node: str = "N5", technology: PackageTechnology | None = None,
                  reuse: Mapping[str, int] | None = None, compute: float | None = None,
                  interconnect_in_dies: bool = True, max_carrier_area: float | None = None,
                  designs: Mapping[str, str] | None = None, extra_dies: Sequence[DieSpec] = ()) -> PPAC:
    """Power, performance, area and cost of ``stack``.

    Parameters
    ----------
    stack : Stack
    thermal : ThermalReport, optional
        Steady temperatures (without it, temperatures are ``None`` and leakage is taken at its
        reference temperature).
    coupled : CoupledResult, optional
        Electro-thermal operating point: dynamic and leakage powers and temperatures from it.
    derating : DeratingResult, optional
        Gives the sustainable power scale and clock factor.
    links : InterconnectReport, optional
        Evaluated here with :func:`codesign.interconnect.evaluate_links` when omitted.
    cost_params : CostParams, optional
    volume : float, optional
        Units over which NRE is amortised (default: the layout's ``[cost] volume``, else 1e6).
    nodes : mapping chiplet → process node, optional
        Overrides the chiplets' ``node`` fields.
    default_node : str
        Node of logic dies with no node from ``nodes`` or the layout.
    technology : PackageTechnology, optional
        Overrides :func:`infer_technology`.
    reuse : mapping chiplet → number of products sharing its NRE, optional
    compute : float, optional
        Peak throughput at nominal clock in any unit (e.g. FLOP/s); reported × the derating
        frequency factor.
    interconnect_in_dies : bool
        The chiplet powers already include their PHY power (true of the shipped layouts); if
        false, link power is added to the total.
    max_carrier_area : float, optional
        Overrides the technology's interposer size limit [m²].
    designs : mapping chiplet → design name, optional
        Which dies share a design (and its NRE). By default logic dies of the same size and node
        are taken as copies of one design (noted in the report).
    extra_dies : sequence of DieSpec
        Priced dies not in the stack (e.g. bridges the thermal model leaves out).
    """
    file_cost = getattr(stack, "cost", None)
    params = cost_params or (file_cost.params if file_cost is not None else DEFAULT_COST_PARAMS)
    inputs = _cost_inputs(stack, file_cost, cost_params, volume, nodes, default_node)
    if volume is None:
        volume = file_cost.volume if file_cost is not None and file_cost.volume is not None else 1e6
    nodes = dict(nodes or {})
    tech = technology or infer_technology(stack)
    if technology is None and file_cost is not None and (file_cost.flow or file_cost.module_test is not None):
        tech = dataclasses.replace(tech, flow=file_cost.flow or tech.flow)
    notes: list[str] = []
    infeasible: list[str] = []
    if links is None and stack.links:
        from .interconnect import evaluate_links

        links = evaluate_links(stack)
    report = coupled.report if coupled is not None else thermal
    # -- power ----------------------------------------------------------------------------------
    if coupled is not None:
        dynamic = float(sum(coupled.dynamic.values()))
        leakage = float(sum(coupled.leakage.values()))
        basis = "the electro-thermal operating point"
    else:
        dynamic = stack.total_power
        if report is not None:
            leakage = sum(_leakage_at(c, report.chiplet(c.name).mean) for c in stack.chiplets if c.leakage)
            basis = "the solved mean die temperatures (not iterated)"
        else:
            leakage = sum(_leakage_at(c, c.leakage.reference_temperature) for c in stack.chiplets if c.leakage)
            basis = "the reference temperatures (no thermal result given)"
    io = links.io_power if links is not None else 0.0
    memory = sum(c.total_power for c in stack.chiplets if c.kind == "hbm")
    total = dynamic + leakage + (0.0 if interconnect_in_dies else io)
    power = {"dynamic": dynamic, "leakage": leakage, "interconnect": io, "memory": memory, "total": total,
             "leakage_basis": basis, "interconnect_in_dies": interconnect_in_dies}
    # -- temperatures -----------------------------------------------------------------------------
    temps: dict = {"max_junction": None, "hottest": None, "worst_margin": None}
    if report is not None:
        from .electrothermal import _tj_max

        hot = report.hottest
        temps = {"max_junction": hot.junction - KELVIN, "hottest": hot.name}
        margins = {}
        for c in report.chiplets:
            lim = _tj_max(stack.chiplet(c.name))
            if lim is not None:
                margins[c.name] = lim - c.junction
        temps["worst_margin"] = min(margins.values()) if margins else None
        for n, m in margins.items():
            if m < 0:
                sustain = (f"; sustainable at power x{derating.scale:.3f}, clock x{derating.frequency_factor:.3f}"
                           if derating is not None else "; pass `derating=` for the sustainable clock")
                infeasible.append(f"thermal limit: {n} at {report.chiplet(n).junction - KELVIN:.1f} degC, "
                                  f"{-m:.1f} K over its tj_max at nominal power{sustain}")
    # -- performance -------------------------------------------------------------------------------
    perf = {"aggregate_bandwidth": links.aggregate_bandwidth if links is not None else None,
            "hbm_bandwidth": links.hbm_demanded if links is not None and links.hbm else 0.0,
            "hbm_deliverable": links.hbm_deliverable if links is not None and links.hbm else 0.0,
            "mean_latency": (sum(r.latency for r in links.links) / len(links.links)) if links and links.links else None,
            "max_latency": max((r.latency for r in links.links), default=None) if links else None,
            "power_scale": derating.scale if derating is not None else None,
            "frequency_factor": derating.frequency_factor if derating is not None else None,
            "limiting": derating.limiting if derating is not None else None,
            "throughput": None}
    if compute is not None:
        perf["throughput"] = compute * (derating.frequency_factor if derating is not None else 1.0)
        if derating is None:
            notes.append("throughput at nominal clock (no derating result given)")
    if links is not None:
        for r in links.flagged:
            infeasible.append(f"link {r.name}: {', '.join(r.flags)}")
    # -- area ------------------------------------------------------------------------------------
    logic = [c for c in stack.chiplets if c.kind == "logic"]
    area = {"logic_silicon": sum(c.rect.area for c in logic),
            "phy": links.phy_area if links is not None else 0.0,
            "memory": sum(c.rect.area for c in stack.chiplets if c.kind == "hbm"),
            "optical": sum(c.rect.area for c in stack.chiplets if c.kind == "optical_engine"),
            "carrier": tech.carrier_area,
            "package": stack.package.area}
    for c in logic:
        why = reticle_check(c.rect.width, c.rect.height)
        if why:
            infeasible.append(f"reticle: die {c.name} {why}")
    tp = params.technology(tech.technology)
    limit = max_carrier_area if max_carrier_area is not None else tp.max_area
    if tech.carrier_area > 0 and limit is not None and tech.carrier_area > limit * (1 + 1e-9):
        infeasible.append(f"carrier: {tech.technology} of {tech.carrier_area / MM2:.0f} mm2 exceeds the "
                          f"{limit / MM2:.0f} mm2 limit ({limit / RETICLE_AREA:.1f} x reticle; {tp.source('max_area')})")
    # -- cost ------------------------------------------------------------------------------------
    specs, n2 = _die_specs(stack, tech, nodes, default_node, links, reuse or {}, dict(designs or {}))
    specs += list(extra_dies)
    notes += n2
    module_test = bool(file_cost.module_test) if file_cost is not None and file_cost.module_test is not None else False
    pkg = PackageSpec(technology=tech.technology, carrier_area=tech.carrier_area,
                      substrate_area=tech.substrate_size[0] * tech.substrate_size[1], flow=tech.flow,
                      carrier_size=tech.carrier_size, module_test=module_test)
    try:
        cost = package_cost(specs, pkg, params, volume=volume)
    except CostError as exc:  # a die that does not fit a wafer, an unknown node: name the stack
        raise CostError(f"`evaluate_ppac` ({stack.name}): {exc}") from exc
    notes += list(cost.notes)
    if any(d.kind == "hbm" for d in specs):
        notes.append("HBM unit costs are UNSOURCED placeholders (`CostParams.hbm_unit_cost`)")
    if any(d.kind == "optical_engine" for d in specs):
        notes.append("optical-engine unit cost is an UNSOURCED placeholder (`CostParams.optical_engine_unit_cost`)")
    return PPAC(name=stack.name, technology=tech, power=power, performance=perf, area=area, cost=cost,
                temperatures=temps, infeasible=tuple(infeasible), notes=tuple(notes),
                nodes=tuple((s.name, s.node) for s in specs if s.kind == "logic"), cost_inputs=inputs)


def _cost_inputs(stack: Stack, file_cost, cost_params, volume, nodes, default_node) -> tuple:
    """Where each cost input comes from: ``(quantity, value, origin)`` with origin argument / file / default."""
    src = stack.source or "the layout"
    out = []
    if cost_params is not None:
        out.append(("cost parameters", "CostParams passed in", "argument"))
    elif file_cost is not None:
        out.append(("cost parameters", f"preset {file_cost.preset!r} with the file's overrides", f"file {src}"))
    else:
        out.append(("cost parameters", "codesign.cost defaults (sources: CostParams.table())", "default"))
    if volume is not None:
        out.append(("volume", f"{volume:,.0f}", "argument"))
    elif file_cost is not None and file_cost.volume is not None:
        out.append(("volume", f"{file_cost.volume:,.0f}", f"file {src}"))
    else:
        out.append(("volume", "1,000,000", "default"))
    for c in stack.chiplets:
        if c.kind != "logic":
            continue
        if nodes and c.name in nodes:
            out.append((f"node of {c.name}", str(nodes[c.name]), "argument"))
        elif c.node is not None:
            out.append((f"node of {c.name}", c.node, f"file {src}"))
        else:
            out.append((f"node of {c.name}", default_node, "default"))
    if file_cost is not None and cost_params is None:
        for path, value, source in file_cost.from_file:
            if path != "volume":
                out.append((f"cost.{path}", repr(value), f"file {src}; source: {source}"))
    return tuple(out)
