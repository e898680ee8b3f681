"""Chiplet partition exploration: blocks → chiplets × nodes × package technology, ranked by PPAC.

A *system* (:mod:`codesign.explore.system`, ``docs/system-format.md``) lists functional blocks
(area, power, node options), the traffic between them and any HBM stacks. :func:`explore`
generates candidates (set partitions of the blocks into chiplets, monolithic included; a process
node per chiplet; a package technology), evaluates them, and returns them ranked, infeasible ones
kept with their reasons.

Evaluation is a funnel, so that the shipped examples run in seconds to minutes on two CPU cores:

1. **screen** (every candidate): chiplet areas incl. PHY overhead sized from the PHY library
   (modules from the cut bandwidth), die shapes, reticle and carrier-size checks, PHY power,
   cost per good package + NRE (:func:`codesign.cost.package_cost`), and a one-line thermal
   *estimate* (1-D resistance through the package recipe's layers, labelled as such).
2. **PPAC** (the best ``ppac_top`` by cost, the cost–power Pareto set of the screen, the best
   monolithic one): an automatic distance-aware floorplan and the package stack built from the
   sourced recipe (:func:`codesign.explore.floorplan.build_stack`), link evaluation (reach,
   shoreline, bumps) and :func:`codesign.ppac.evaluate_ppac`.
3. **thermal** (the cheapest ``thermal_top`` still feasible, and the best monolithic one): a
   steady solve of the stack on its coarse mesh (:func:`codesign.thermal.analyse`); the peak
   junction temperature, the thermal-limit check, and a clock factor from a linear thermal model
   with DVFS (f ∝ P^(1/3), as in :data:`codesign.electrothermal.PF_MODELS`).

A candidate whose evaluation raises one of the library's documented errors
(:class:`codesign.errors.CodesignError`: a cost, PHY, link or solve that cannot be done) is kept
with the reason ``"evaluation failed: ..."``; any other exception is a bug and propagates.

Partitions that differ only by swapping interchangeable blocks (same design, size, power, node
options and traffic profile) are evaluated once.

Search: exhaustive over set partitions × nodes × technologies while that product is at most
``max_exhaustive``; otherwise a **steepest-descent local search** (moves: one block to another or
a new chiplet, merge two chiplets; nodes chosen by coordinate descent per chiplet and per group
of chiplets of the same designs; every technology tried) from several starts: monolithic, one
chiplet per block, and every level of a traffic-greedy agglomerative clustering. Why: the screen
objective is cheap, good partitions are connected to each other by single-block moves, and the
traffic-aware starts keep high-traffic pairs together (cutting them costs PHY area and power),
which is where optima lie. Every start is screened first and the descents then run from the
cheapest start onwards, so a search cut short by its budget has already refined the best ones.

**Budget.** The number of set partitions grows as the Bell numbers (40 blocks: ~1.6e35), and even
the local search from every start of a 40-block system screens millions of candidates. The search
therefore stops after ``max_candidates`` screened candidates (default :data:`MAX_CANDIDATES`) or
``max_search_time`` seconds (default :data:`MAX_SEARCH_TIME`), whichever comes first, and ranks the
best found so far; the result says so in its notes (``Exploration.complete`` is false). Memory stays
bounded whatever the budget: set partitions are generated one at a time, never listed; every
screened candidate leaves a 16-byte digest (so none is screened twice), but only the best
``max_kept`` (by feasibility and cost), the screen's cost–power Pareto set and the best monolithic
candidate are kept whole, which are all the later stages use.
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import math
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Iterable, Iterator, Sequence

import solvers

from ..cost import DEFAULT_COST_PARAMS, MM2, RETICLE_SIZE, CostError, CostParams, DieSpec, PackageSpec, package_cost
from ..errors import CodesignError, ModelError
from ..phys import get_phy
from .floorplan import BRIDGE_DIE_SIZE, PACKAGE_RECIPES, build_stack, junction_to_lid_resistance
from .system import KELVIN, System

__all__ = ["Candidate", "ChipletPlan", "EVALUATION_ERRORS", "Exploration", "MAX_CANDIDATES", "MAX_KEPT",
           "MAX_SEARCH_TIME", "ScreenResult", "explore_partitions", "pareto", "screen", "set_partitions"]

#: Default candidate budget of the search: screened candidates (partition x nodes x technology).
#: At ~1.5 ms per candidate on one core (40 blocks) the time budget below usually ends first.
MAX_CANDIDATES = 200_000
#: Default time budget of the search (the screen, stage 1) [s].
MAX_SEARCH_TIME = 120.0
#: Default number of screened candidates kept whole (best by feasibility and cost; the Pareto set of
#: the screen and the best monolithic candidate are kept too). A 40-block candidate takes ~27 kB.
MAX_KEPT = 5_000

#: What an evaluation may raise for a candidate that cannot be evaluated: the library's documented
#: errors. ``solvers.SolveError`` too, for solves whose numerics error is not yet converted to
#: :class:`codesign.errors.SolveError` (which is one).
EVALUATION_ERRORS = (CodesignError, solvers.SolveError)


# -- candidates --------------------------------------------------------------------------------------

@dataclass(frozen=True)
class ChipletPlan:
    """One chiplet of a candidate: its blocks, node, size [m], power [W] (incl. its PHYs)."""

    name: str
    blocks: tuple[str, ...]
    node: str
    width: float
    height: float
    logic_area: float
    phy_area: float
    power: float
    phy_power: float
    design: str
    tj_max: float
    hbm: int = 0


@dataclass(frozen=True, eq=False)
class Candidate:
    """One evaluated partition. ``stage``: how far it was evaluated (``screen``, ``ppac``, ``thermal``).

    ``cost`` is per good package incl. the NRE share [$]; ``power`` [W]; ``peak_temperature`` [K]
    (an estimate unless ``stage == "thermal"``); ``performance`` the sustainable clock factor (≤ 1).
    """

    key: tuple
    partition: tuple[tuple[str, ...], ...]
    nodes: tuple[str, ...]
    technology: str
    chiplets: tuple[ChipletPlan, ...]
    cost: float
    cost_per_good_package: float
    power: float
    silicon_area: float
    peak_temperature: float
    performance: float
    reasons: tuple[str, ...]
    stage: str = "screen"
    ppac: object = None
    stack: object = None
    cut_bandwidth: float = 0.0

    @property
    def feasible(self) -> bool:
        return not self.reasons

    @property
    def label(self) -> str:
        if len(self.partition) == 1:
            return f"monolithic[{self.nodes[0]}] on {self.technology}"
        parts = " | ".join(f"{'+'.join(p)}@{n}" for p, n in zip(self.partition, self.nodes))
        return f"{len(self.partition)} chiplets on {self.technology}: {parts}"

    def explain(self) -> str:
        t = "solved" if self.stage == "thermal" else "est."
        why = "; ".join(self.reasons) if self.reasons else (
            "passes the screen (not floorplanned)" if self.stage == "screen" else "feasible")
        return (f"${self.cost:,.0f}/unit, {self.power:.0f} W, Tj {self.peak_temperature - KELVIN:.0f} degC ({t}), "
                f"clock x{self.performance:.2f}, {self.silicon_area / MM2:.0f} mm2 Si, "
                f"{self.cut_bandwidth / 8e12:.2f} TB/s cut: {why}")

    def to_dict(self) -> dict:
        return {"label": self.label, "partition": [list(p) for p in self.partition], "nodes": list(self.nodes),
                "technology": self.technology, "cost_per_unit": self.cost,
                "cost_per_good_package": self.cost_per_good_package, "power_W": self.power,
                "peak_temperature_C": self.peak_temperature - KELVIN, "performance": self.performance,
                "silicon_area_m2": self.silicon_area, "feasible": self.feasible, "reasons": list(self.reasons),
                "stage": self.stage, "cut_bandwidth": self.cut_bandwidth,
                "chiplets": [dataclasses.asdict(c) for c in self.chiplets]}


def set_partitions(items: Sequence[str], max_parts: int | None = None) -> Iterable[tuple[tuple[str, ...], ...]]:
    """Every set partition of ``items`` (restricted growth strings), with at most ``max_parts`` parts.

    Examples
    --------
    >>> len(list(set_partitions("abcd")))     # Bell number B4
    15
    """
    items = list(items)
    n = len(items)
    limit = n if max_parts is None else max_parts

    def rec(i, assign, k):
        if i == n:
            yield tuple(tuple(items[j] for j in range(n) if assign[j] == p) for p in range(k))
            return
        for p in range(min(k + 1, limit)):
            assign.append(p)
            yield from rec(i + 1, assign, max(k, p + 1))
            assign.pop()

    if n:
        yield from rec(0, [], 0)


def _shape(area: float) -> tuple[float, float]:
    """A square die, or one stretched to the reticle's 26 mm width when the square would not fit."""
    side = math.sqrt(area)
    if side <= RETICLE_SIZE[0]:
        return side, side
    return RETICLE_SIZE[0], area / RETICLE_SIZE[0]


def _common_nodes(system: System, part: Sequence[str]) -> tuple[str, ...]:
    opts = None
    for b in part:
        s = set(system.block(b).nodes)
        opts = s if opts is None else opts & s
    order = [n for n in system.block(part[0]).nodes if n in (opts or set())]
    return tuple(order)


class _BudgetSpent(Exception):
    """Raised inside the search when its candidate or time budget is spent (caught by :func:`_search`)."""


def _digest(value) -> bytes:
    """A 16-byte digest of a key or signature (tuples of strings), to remember candidates cheaply."""
    return hashlib.blake2b(repr(value).encode(), digest_size=16).digest()


def _rank(c: Candidate) -> tuple:
    return (not c.feasible, c.cost)


class _Evaluator:
    """Screens candidates (stage 1) within a budget; remembers every one, keeps the best whole."""

    def __init__(self, system: System, params: CostParams, *, max_candidates: int = MAX_CANDIDATES,
                 max_search_time: float = MAX_SEARCH_TIME, max_kept: int = MAX_KEPT):
        self.s, self.p = system, params
        self.max_candidates, self.max_kept = max_candidates, max_kept
        self.t0 = time.perf_counter()
        self.deadline = self.t0 + max_search_time
        self.cache: dict[bytes, Candidate] = {}    # key digest -> candidate, the kept ones
        self.by_sig: dict[bytes, Candidate] = {}   # signature digest -> the same kept candidates
        self.known: set[bytes] = set()             # key and signature digests of every screened candidate
        self.recent: OrderedDict = OrderedDict()   # key digest -> candidate, re-screened ones (small LRU)
        self.screened = 0                          # distinct candidates screened
        self.pruned = 0                            # screened candidates not kept whole
        self.spent: str | None = None              # "candidates" or "time" once the budget is spent
        self.phy = {t: get_phy(r.d2d_phy) for t, r in PACKAGE_RECIPES.items()}
        self.hbm_phy = {m.generation: get_phy(m.generation) for m in system.memory}   # checked by loads_system
        self.junction_to_lid = {t: junction_to_lid_resistance(t) for t in PACKAGE_RECIPES}
        self.traffic = {}
        for t in system.traffic:
            k = tuple(sorted(t.between))
            self.traffic[k] = self.traffic.get(k, 0.0) + t.bandwidth
        # Interchangeable blocks: same design, size, power, node options and the same traffic profile
        # (peer design, bandwidth) and HBM. Partitions that differ only by swapping them are evaluated once.
        prof = {b.name: [] for b in system.blocks}
        for (a, b), bw in self.traffic.items():
            prof[a].append((system.block(b).design, bw))
            prof[b].append((system.block(a).design, bw))
        for m in system.memory:
            prof[m.attach].append(("hbm:" + m.generation, m.count * m.bandwidth))
        self.cls = {b.name: (b.design, b.area, b.power, b.nodes, b.scales, b.tj_max, tuple(sorted(prof[b.name])))
                    for b in system.blocks}

    def signature(self, key):
        partition, nodes, tech = key
        return (tuple(sorted((tuple(sorted(self.cls[b] for b in p)), n) for p, n in zip(partition, nodes))), tech)

    def key(self, partition, nodes, tech):
        parts = sorted(zip(partition, nodes))
        return (tuple(tuple(sorted(p)) for p, _ in parts), tuple(n for _, n in parts), tech)

    def tick(self) -> None:
        """Stop the search (:class:`_BudgetSpent`) once its time is up."""
        if time.perf_counter() > self.deadline:
            self.spent = "time"
            raise _BudgetSpent

    def evaluate(self, partition, nodes, tech) -> Candidate:
        k = self.key(partition, nodes, tech)
        dk = _digest(k)
        hit = self.cache.get(dk) or self.recent.get(dk)
        if hit is not None:
            return hit
        ds = _digest(("sig", self.signature(k)))
        if ds in self.by_sig:             # an equivalent partition (identical blocks swapped)
            return self.by_sig[ds]
        if dk in self.known or ds in self.known:
            # screened before (itself, or an equivalent partition with identical blocks swapped) but not
            # kept whole: screen it again (the same result), not counted as a new candidate
            c = self._screen(k)
            self.recent[dk] = c
            if len(self.recent) > 4096:
                self.recent.popitem(last=False)
            return c
        if self.screened >= self.max_candidates:
            self.spent = "candidates"
            raise _BudgetSpent
        self.tick()
        c = self._screen(k)
        self.screened += 1
        self.known.update((dk, ds))
        self.cache[dk] = c
        self.by_sig[ds] = c
        if len(self.cache) > 2 * self.max_kept:
            self._prune()
        return c

    def _prune(self) -> None:
        """Keep the best ``max_kept`` whole, with the screen's cost-power Pareto set and the best monolithic one.

        A candidate dropped here can never re-enter any of these sets, so the later stages see what
        they would see with every candidate kept."""
        ranked = sorted(self.cache.items(), key=lambda kv: _rank(kv[1]))
        keep = dict(ranked[:self.max_kept])
        best_p, mono = float("inf"), False
        for dk, c in ranked:
            if c.feasible and c.power < best_p - 1e-9:
                keep[dk] = c
                best_p = c.power
            if not mono and len(c.partition) == 1:
                keep[dk], mono = c, True
        self.pruned += len(self.cache) - len(keep)
        self.cache = keep
        kept = {id(c) for c in keep.values()}
        self.by_sig = {ds: c for ds, c in self.by_sig.items() if id(c) in kept}

    def candidates(self) -> list[Candidate]:
        """The kept candidates, cheapest feasible first."""
        return sorted(self.cache.values(), key=_rank)

    def _screen(self, k) -> Candidate:
        s, p = self.s, self.p
        partition, nodes, tech = k
        where = {b: i for i, part in enumerate(partition) for b in part}
        phy = self.phy[tech]
        n = len(partition)
        phy_area = [0.0] * n
        phy_power = [0.0] * n
        cut = 0.0
        shore = [0.0] * n
        pair_shore: dict[tuple, float] = {}
        for (a, b), bw in self.traffic.items():
            i, j = where[a], where[b]
            if i == j or bw <= 0:
                continue
            cut += bw
            modules = math.ceil(bw / phy.module_bandwidth * (1 - 1e-12))
            for e in (i, j):
                shore[e] += modules * phy.module_width
            key = (min(i, j), max(i, j))
            pair_shore[key] = pair_shore.get(key, 0.0) + modules * phy.module_width
            pw = bw * phy.traffic_factor * phy.energy_per_bit + modules * phy.idle_power
            for e in (i, j):
                phy_area[e] += modules * phy.module_area
                phy_power[e] += pw / 2
        hbm_count = [0] * n
        for m in s.memory:
            e = where[m.attach]
            hbm_count[e] += m.count
            hp = self.hbm_phy[m.generation]
            phy_area[e] += m.count * hp.module_area
            shore[e] += m.count * hp.module_width
        plans, reasons = [], []
        for i, (part, node) in enumerate(zip(partition, nodes)):
            la = lp = 0.0
            tj = s.tj_max
            for bname in part:
                b = s.block(bname)
                fa, fp = (1.0, 1.0)
                if node != b.node:
                    ra, rp = s.scaling(b.node)
                    na, np_ = s.scaling(node)
                    fa, fp = na / ra, np_ / rp
                la += b.area * (fa if b.scales else 1.0)
                lp += b.power * fp
                if b.tj_max is not None:
                    tj = min(tj, b.tj_max)
            area = la + phy_area[i]
            w, h = _shape(area)
            name = "+".join(part) if n > 1 else "soc"
            design = "+".join(sorted(s.block(b).design for b in part)) + "@" + node
            if len(name) > 40:    # short and still unique: no block name holds '+'
                name = f"{part[0]}+..."
            plans.append(ChipletPlan(name=name, blocks=part, node=node, width=w,
                                     height=h, logic_area=la, phy_area=phy_area[i], power=lp + phy_power[i],
                                     phy_power=phy_power[i], design=design, tj_max=tj, hbm=hbm_count[i]))
            if h > RETICLE_SIZE[1] * (1 + 1e-9):
                reasons.append(f"reticle: {plans[-1].name} needs {area / MM2:.0f} mm2 > 858 mm2")
        for i, c in enumerate(plans):
            if shore[i] > 2 * (c.width + c.height) * 0.9:
                reasons.append(f"shoreline: {c.name} needs {shore[i] * 1e3:.0f} mm of die edge for its PHYs, has "
                               f"{2 * (c.width + c.height) * 1e3:.0f} mm")
        # abutment: a die can abut only so many peers (UCIe-A and HBM reach ~2-5 mm); capacity ~ its
        # perimeter over the mean facing-edge length of its peers, at least 4 (one per side)
        peers = {i: set() for i in range(n)}
        for (i, j) in pair_shore:
            peers[i].add(("d", j))
            peers[j].add(("d", i))
        for m in s.memory:
            for q in range(m.count):
                peers[where[m.attach]].add(("h", m.name, q))
        for i, c in enumerate(plans):
            if not peers[i]:
                continue
            edges = [min(plans[p[1]].width, plans[p[1]].height) if p[0] == "d" else
                     min(next(m for m in s.memory if m.name == p[1]).size) for p in peers[i]]
            cap = max(4, int(2 * (c.width + c.height) / (sum(edges) / len(edges))))
            if len(peers[i]) > cap:
                reasons.append(f"floorplan: {c.name} has {len(peers[i])} neighbours (links + HBM), at most ~{cap} "
                               "can abut it within die-to-die/HBM reach")
        for (i, j), need in pair_shore.items():
            edge = min(max(plans[i].width, plans[i].height), max(plans[j].width, plans[j].height))
            if need > edge:
                reasons.append(f"shoreline: {plans[i].name}-{plans[j].name} needs {need * 1e3:.1f} mm of facing edge, "
                               f"longest shared edge {edge * 1e3:.1f} mm")
        # carrier: dies + HBM, with spacing, + 10 % (assumption)
        hbm_area = sum(m.count * m.size[0] * m.size[1] for m in s.memory)
        die_area = sum(c.width * c.height for c in plans)
        carrier_area = 0.0
        if tech in ("silicon_interposer", "organic_rdl"):
            carrier_area = 1.15 * (die_area + hbm_area) + 4 * s.spacing * math.sqrt(die_area + hbm_area)
        tp = p.technology(tech)
        if carrier_area and tp.max_area is not None and carrier_area > tp.max_area:
            reasons.append(f"carrier: ~{carrier_area / MM2:.0f} mm2 {tech} > its {tp.max_area / MM2:.0f} mm2 limit")
        if s.memory and tech == "organic_substrate":
            reasons.append("HBM on an organic substrate (no fine-pitch carrier)")
        if n == 1 and tech != "organic_substrate" and not s.memory:
            reasons.append("a single die needs no carrier")   # kept, but never better than organic
        side = math.sqrt(die_area + hbm_area) + 2 * s.margin
        dies = []
        bonds_per_module = getattr(phy, "bumps_per_module", 0)
        for c in plans:
            modules = round(c.phy_area / phy.module_area) if n > 1 else 0
            try:
                nd = p.node(c.node).name
            except CostError:
                nd = c.node
            dies.append(DieSpec(c.name, c.width, c.height, node=nd, design=c.design,
                                bonds=int(modules * bonds_per_module) if tech != "organic_substrate" else 0))
        for m in s.memory:
            dies.append(DieSpec(m.name, m.size[0], m.size[1], kind="hbm", hbm_generation=m.generation, count=m.count))
        bridges = 0
        if tech == "bridge":
            pairs = {tuple(sorted((where[a], where[b]))) for (a, b) in self.traffic if where[a] != where[b]}
            bridges = len(pairs) + sum(m.count for m in s.memory)
            if bridges:
                dies.append(DieSpec("bridge", *BRIDGE_DIE_SIZE, kind="bridge", count=bridges))
        fc = s.cost
        pkg = PackageSpec(tech, carrier_area, side * side, flow=(fc.flow if fc is not None and fc.flow else "chip_last"),
                          module_test=bool(fc is not None and fc.module_test))
        cost = package_cost(dies, pkg, p, volume=s.volume) if plans[0].height <= 0.3 else None
        if cost is None:
            reasons.append("die larger than a wafer")
        total_power = sum(c.power for c in plans) + sum(m.count * m.power for m in s.memory)
        # 1-D thermal estimate: sink over the package + through die, TIM and lid of the package recipe
        # under the densest die (labelled est.)
        r_sink = 1.0 / (s.heat_transfer_coefficient * side * side)
        r_area = self.junction_to_lid[tech]            # [m^2 K/W]
        peak = max(s.ambient + total_power * r_sink + c.power / (c.width * c.height) * r_area for c in plans)
        perf = _clock_factor(peak, min(c.tj_max for c in plans), s.ambient)
        return Candidate(key=k, partition=partition, nodes=nodes, technology=tech, chiplets=tuple(plans),
                         cost=(cost.total_per_unit if cost else float("inf")),
                         cost_per_good_package=(cost.cost_per_good_package if cost else float("inf")),
                         power=total_power, silicon_area=sum(c.width * c.height for c in plans),
                         peak_temperature=peak, performance=perf, reasons=tuple(reasons), cut_bandwidth=cut)


def _file_params(system: System) -> CostParams:
    """The system file's cost parameters ([cost] table), else the defaults."""
    return system.cost.params if getattr(system, "cost", None) is not None else DEFAULT_COST_PARAMS


def _clock_factor(tj: float, tj_max: float, ambient: float) -> float:
    """Clock factor that brings ``tj`` to ``tj_max`` with a linear thermal model and f ∝ P^(1/3)."""
    if tj <= tj_max:
        return 1.0
    return max((tj_max - ambient) / (tj - ambient), 0.0) ** (1.0 / 3.0)


# -- floorplan and layout ----------------------------------------------------------------------------
def _full(c: Candidate, system: System, params: CostParams, traffic, *, thermal: bool, solver) -> Candidate:
    """Stage 2 and 3: floorplan, stack, links, PPAC and (optionally) the thermal solve."""
    from ..interconnect import evaluate_links
    from ..ppac import PackageTechnology, evaluate_ppac

    auto = PACKAGE_RECIPES[c.technology].link_phys
    stack = build_stack(c, system, traffic=traffic)
    links = evaluate_links(stack, auto_candidates=auto)
    # put the evaluated PHY power into the dies (the screen used the preferred PHY)
    names = [ch.name for ch in c.chiplets]
    phy_p = [0.0] * len(names)
    for r in links.links:
        for e in r.endpoints:
            if e in names and r.phy_kind != "memory":
                phy_p[names.index(e)] += r.power / 2
    stack = build_stack(c, system, traffic=traffic, phy_power=phy_p)
    links = evaluate_links(stack, auto_candidates=auto)
    reasons = [r for r in c.reasons if not r.startswith("carrier:")]
    ext = stack.layer("dies").extent
    carrier = (ext.width, ext.height) if c.technology in ("silicon_interposer", "organic_rdl") else None
    tech = PackageTechnology(technology=c.technology, carrier_size=carrier,
                             substrate_size=(stack.package.width, stack.package.height), bridges=(),
                             reason="chosen by the partition search")
    report = None
    if thermal:
        from ..model import build
        from ..thermal import analyse

        # meshed with the stack's controls (the system's mesh_size); lateral cell counts rounded up
        # to a multiple of 16 so that candidates of similar size share compiled solver programs
        report = analyse(build(stack, lateral_cells_multiple=16), solver=solver)
    dies_nodes = {ch.name: ch.node for ch in c.chiplets}
    designs = {ch.name: ch.design for ch in c.chiplets}
    bridges = ((DieSpec("bridge", *BRIDGE_DIE_SIZE, kind="bridge", count=len(links.links)),)
               if c.technology == "bridge" and links.links else ())
    stack = dataclasses.replace(stack, cost=system.cost)      # the system file's flow / module test
    res = evaluate_ppac(stack, thermal=report, links=links, cost_params=params, volume=system.volume,
                        nodes=dies_nodes, technology=tech, interconnect_in_dies=True, designs=designs,
                        extra_dies=bridges if c.technology == "bridge" else ())
    reasons += [r for r in res.infeasible if not r.startswith("reticle")]
    peak, perf = c.peak_temperature, c.performance
    if report is not None:
        peak = max(t.junction for t in report.chiplets)
        perf = min((_clock_factor(t.junction, stack.chiplet(t.name).tj_max, system.ambient)
                    for t in report.chiplets if stack.chiplet(t.name).tj_max is not None), default=1.0)
    return dataclasses.replace(c, stage="thermal" if report is not None else "ppac", ppac=res, stack=stack,
                               cost=res.cost.total_per_unit, cost_per_good_package=res.cost.cost_per_good_package,
                               power=res.power["total"], peak_temperature=peak, performance=perf,
                               reasons=tuple(dict.fromkeys(reasons)))


# -- search ------------------------------------------------------------------------------------------

def _objective(c: Candidate) -> float:
    return c.cost + (1e7 if c.reasons else 0.0)


def _node_choices(system: System, partition) -> list[tuple[str, ...]]:
    return [_common_nodes(system, p) for p in partition]


def _best_nodes(ev: _Evaluator, partition, tech) -> Candidate | None:
    opts = _node_choices(ev.s, partition)
    if any(not o for o in opts):
        return None
    nodes = [o[0] for o in opts]
    best = ev.evaluate(partition, tuple(nodes), tech)
    # chiplets of the same designs move together too (copies share NRE only on the same node)
    groups: dict[tuple, list[int]] = {}
    for i, p in enumerate(partition):
        groups.setdefault(tuple(sorted(ev.s.block(b).design for b in p)), []).append(i)
    moves = [[i] for i in range(len(partition))] + [g for g in groups.values() if len(g) > 1]
    for _ in range(3):
        improved = False
        for idx in moves:
            for n in set.intersection(*(set(opts[i]) for i in idx)):
                trial = list(nodes)
                for i in idx:
                    trial[i] = n
                c = ev.evaluate(partition, tuple(trial), tech)
                if _objective(c) < _objective(best) - 1e-9:
                    best, nodes, improved = c, trial, True
        if not improved:
            break
    return best


def _count_exhaustive(system: System, techs, limit: int, ev: _Evaluator) -> int:
    """Combinations of the exhaustive search, counted up to ``limit + 1`` (then: "more than ``limit``").

    A set partition with no common node for a chiplet counts as one (it is still visited), so this
    stops after at most ``limit + 1`` partitions."""
    names = [b.name for b in system.blocks]
    total = 0
    for part in set_partitions(names, system.max_chiplets):
        k = 1
        for p in part:
            k *= len(_common_nodes(system, p))
        total += max(k * len(techs), 1)
        if total > limit:
            break
        ev.tick()
    return total


def _neighbours(partition):
    parts = [list(p) for p in partition]
    n = len(parts)
    out = []
    for i in range(n):
        for b in parts[i]:
            for j in list(range(n)) + [n]:
                if j == i or (j == n and len(parts[i]) == 1):
                    continue
                new = [list(p) for p in parts] + [[]]
                new[i].remove(b)
                new[j].append(b)
                out.append(tuple(tuple(p) for p in new if p))
    for i in range(n):
        for j in range(i + 1, n):
            new = [p for k, p in enumerate(parts) if k not in (i, j)] + [parts[i] + parts[j]]
            out.append(tuple(tuple(p) for p in new))
    return out


def _starts(system: System, traffic, ev: _Evaluator) -> Iterator[tuple]:
    """Monolithic, the levels of traffic-greedy clusterings (fewest dies first), one chiplet per block.

    The clusterings merge the pair of dies with the most traffic between them, level by level: once
    without a limit, and once each with a die's block area capped at 80 % and 50 % of a reticle.
    Unlimited, one die absorbs the blocks; capped, the merging ends in a few dies that each fit a
    reticle. Levels with few dies are screened first: they are quick to screen (each start's node
    choice costs a few screens per die) and have few neighbours per die, which is where feasible
    partitions of many blocks lie. (40 random blocks, the guard test's system: the best of the first 50 screens is
    feasible; with the levels finest first, the best of 2,500 was not.)"""
    names = [b.name for b in system.blocks]
    yield (tuple(names),)
    area = {b.name: b.area for b in system.blocks}
    reticle = RETICLE_SIZE[0] * RETICLE_SIZE[1]
    levels: dict[tuple, None] = {}
    for cap in (float("inf"), 0.8 * reticle, 0.5 * reticle):
        groups = [[n] for n in names]
        while len(groups) > 1:
            best, pair = -1.0, None
            for i in range(len(groups)):
                ev.tick()
                ai = sum(area[a] for a in groups[i])
                for j in range(i + 1, len(groups)):
                    if ai + sum(area[b] for b in groups[j]) > cap:
                        continue
                    w = sum(traffic.get(tuple(sorted((a, b))), 0.0) for a in groups[i] for b in groups[j])
                    if w > best:
                        best, pair = w, (i, j)
            if pair is None:
                break
            i, j = pair
            groups = [g for k, g in enumerate(groups) if k not in (i, j)] + [groups[i] + groups[j]]
            if len(groups) > 1:
                levels.setdefault(tuple(tuple(g) for g in groups))
    yield from sorted(levels, key=len)          # stable: equal sizes keep the order found
    yield tuple((n,) for n in names)


def _local_search(ev: _Evaluator, techs, traffic, max_chiplets: int) -> None:
    starts = []
    for start in _starts(ev.s, traffic, ev):   # screen every start first ...
        if len(start) > max_chiplets:
            continue
        for tech in techs:
            cur = _best_nodes(ev, start, tech)
            if cur is not None:
                starts.append((cur, tech))
    # ... then descend from the cheapest start onwards (a stable sort: ties keep the order above)
    for cur, tech in sorted(starts, key=lambda st: _objective(st[0])):
        while True:
            best = cur
            for nb in _neighbours(cur.partition):
                if len(nb) > max_chiplets:
                    continue
                ev.tick()
                c = _best_nodes(ev, nb, tech)
                if c is not None and _objective(c) < _objective(best) - 1e-9:
                    best = c
            if best is cur:
                break
            cur = best


#: Differences the Pareto set treats as ties, per objective (cost [$/unit], power [W], peak
#: temperature [K], clock factor): below the resolution of the models (cost inputs carry a few %
#: uncertainty; temperature estimates ~1 K). Cost ties are ``max(absolute, relative x cost)``.
PARETO_TIES = {"cost": 0.5, "cost_relative": 1e-3, "power": 0.5, "temperature": 0.5, "clock": 0.005}


def pareto(candidates: Sequence[Candidate], *, feasible_only: bool = True, solved_only: bool = False,
           ties: dict | None = None) -> list[Candidate]:
    """The non-dominated candidates over (cost ↓, power ↓, peak temperature ↓, performance ↑).

    ``feasible_only`` drops infeasible candidates first; ``solved_only`` keeps only those with a
    thermal solve (their peak temperature is not an estimate). Differences within ``ties``
    (default :data:`PARETO_TIES`) do not count: a candidate no worse than another beyond the ties
    in every objective dominates it when it is better beyond a tie in one, or, when the two are
    tied in all, when it is the cheaper (so of two designs $0.06 and 0.06 K apart one is kept)."""
    t = dict(PARETO_TIES, **(ties or {}))
    pool = [c for c in candidates if (c.feasible or not feasible_only) and (c.stage == "thermal" or not solved_only)]

    def obj(c):
        return (c.cost, c.power, c.peak_temperature, -c.performance)

    def tol(a, b):
        return (max(t["cost"], t["cost_relative"] * min(abs(a.cost), abs(b.cost))), t["power"], t["temperature"],
                t["clock"])

    def dominates(a, b):
        oa, ob, eps = obj(a), obj(b), tol(a, b)
        if not all(x <= y + e for x, y, e in zip(oa, ob, eps)):
            return False
        if any(x < y - e for x, y, e in zip(oa, ob, eps)):
            return True
        return oa < ob  # tied in every objective: the first by cost (then power, ...) stands for both

    front = [c for c in pool if not any(dominates(o, c) for o in pool if o is not c)]
    return sorted(front, key=lambda c: c.cost)


@dataclass(frozen=True, eq=False)
class Exploration:
    """The outcome of :func:`explore`: every candidate ranked (feasible first, by cost per unit)."""

    system: System
    candidates: tuple[Candidate, ...]
    method: str
    evaluated: int
    seconds: float
    notes: tuple[str, ...] = ()
    complete: bool = True      # False: the search budget ended it; the candidates are the best found so far

    @property
    def best(self) -> Candidate:
        return self.candidates[0]

    def pareto(self, **kw) -> list[Candidate]:
        return pareto(self.candidates, **kw)

    def pareto_set(self) -> tuple[list[Candidate], str]:
        """The Pareto set the table prints and the JSON lists, and what it was taken among: the
        feasible, thermally solved candidates, or (when none was solved) the feasible screened ones."""
        front = self.pareto(solved_only=True)
        if front:
            return front, "feasible, thermally solved candidates"
        return self.pareto(), "feasible candidates (no thermal solve: estimated temperatures)"

    def table(self, top: int = 15) -> str:
        s = self.system
        lines = [f"Partition exploration: {s.name} ({len(s.blocks)} blocks, {len(s.traffic)} traffic pairs, "
                 f"{sum(m.count for m in s.memory)} HBM); search: {self.method}; {self.evaluated} candidates screened, "
                 f"{sum(c.stage != 'screen' for c in self.candidates)} floorplanned, "
                 f"{sum(c.stage == 'thermal' for c in self.candidates)} thermally solved; {self.seconds:.1f} s; "
                 f"volume {s.volume:g}",
                 f"{'#':>3} {'$/unit':>9} {'W':>6} {'Tj C':>6} {'clock':>5} {'stage':<7} candidate"]
        for k, c in enumerate(self.candidates[:top]):
            lines.append(f"{k + 1:>3} {c.cost:9,.0f} {c.power:6.0f} {c.peak_temperature - KELVIN:6.1f} "
                         f"{c.performance:5.2f} {c.stage:<7} {c.label}")
            lines.append(f"{'':>3} {'':>9} {'':>6} {'':>6} {'':>5} {'':<7}   -> {c.explain()}")
        if len(self.candidates) > top:
            nin = sum(1 for c in self.candidates if not c.feasible)
            lines.append(f"... {len(self.candidates) - top} more ({nin} infeasible in all, each with its reason; "
                         "all of them in the JSON: codesign partition ... --json FILE)")
        front, basis = self.pareto_set()
        lines.append("")
        lines.append(f"Pareto set over (cost, power, peak temperature, clock) among {basis}: {len(front)} "
                     f"candidate{'' if len(front) == 1 else 's'} (differences within $"
                     f"{PARETO_TIES['cost']:g} or {100 * PARETO_TIES['cost_relative']:g} %, {PARETO_TIES['power']:g} W, "
                     f"{PARETO_TIES['temperature']:g} K and {PARETO_TIES['clock']:g} clock count as ties)")
        for c in front[:top]:
            lines.append(f"  * {c.label}\n      {c.explain()}")
        if len(front) > top:
            lines.append(f"  ... {len(front) - top} more in the JSON ('pareto'; --json FILE)")
        for n in self.notes:
            lines.append(f"note: {n}")
        return "\n".join(lines)

    def to_dict(self) -> dict:
        return {"system": self.system.name, "method": self.method, "evaluated": self.evaluated,
                "complete": self.complete, "seconds": self.seconds,
                "candidates": [c.to_dict() for c in self.candidates],
                "pareto": [c.label for c in self.pareto_set()[0]], "pareto_basis": self.pareto_set()[1],
                "pareto_ties": dict(PARETO_TIES), "notes": list(self.notes)}


class ScreenResult(list):
    """What :func:`screen` returns: the kept candidates (a list, cheapest feasible first), and

    ``evaluated`` (candidates screened), ``complete`` (False when the budget ended the search)
    and ``notes`` (why it ended, what was kept)."""

    def __init__(self, candidates, *, evaluated: int, complete: bool, notes: Sequence[str]):
        super().__init__(candidates)
        self.evaluated, self.complete, self.notes = evaluated, complete, tuple(notes)


def _check_budget(call: str, max_candidates, max_search_time, max_kept) -> None:
    problems = []
    for name, v in (("max_candidates", max_candidates), ("max_kept", max_kept)):
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            problems.append(f"`{call}({name}={v!r})`: give a positive whole number")
    if isinstance(max_search_time, bool) or not isinstance(max_search_time, (int, float)) or not (
            max_search_time > 0):
        problems.append(f"`{call}(max_search_time={max_search_time!r})`: give a positive time in seconds "
                        "(math.inf for no time limit)")
    if problems:
        raise ModelError("; ".join(problems))


def _search(system: System, params: CostParams, *, search: str = "auto", max_exhaustive: int = 8000,
            technologies: Sequence[str] | None = None, max_candidates: int = MAX_CANDIDATES,
            max_search_time: float = MAX_SEARCH_TIME, max_kept: int = MAX_KEPT, call: str = "explore_partitions"):
    """Run the search; returns the evaluator, the method label and the notes (budget, pruning)."""
    techs = tuple(technologies or system.technologies)
    unknown = [t for t in techs if t not in PACKAGE_RECIPES]
    if unknown:
        raise ModelError(f"`explore_partitions(technologies=...)`: unknown technology {unknown[0]!r}; choose from "
                         f"{', '.join(PACKAGE_RECIPES)}")
    if search not in ("auto", "exhaustive", "heuristic"):
        raise ModelError(f"`explore_partitions(search={search!r})`: choose 'auto', 'exhaustive' or 'heuristic'")
    _check_budget(call, max_candidates, max_search_time, max_kept)
    ev = _Evaluator(system, params, max_candidates=max_candidates, max_search_time=max_search_time,
                    max_kept=max_kept)
    names = [b.name for b in system.blocks]
    method, label = search, ""
    try:
        n_comb = _count_exhaustive(system, techs, max_exhaustive, ev)
        count = f"{n_comb}" if n_comb <= max_exhaustive else f"more than {max_exhaustive}"
        method = search if search != "auto" else ("exhaustive" if n_comb <= max_exhaustive else "heuristic")
        if method == "exhaustive":
            label = f"exhaustive ({count} combinations)"
            for part in set_partitions(names, system.max_chiplets):   # one at a time, never listed
                ev.tick()
                opts = _node_choices(system, part)
                for nodes in itertools.product(*opts):
                    for tech in techs:
                        ev.evaluate(part, nodes, tech)
        else:
            label = f"heuristic local search ({count} combinations exceed max_exhaustive={max_exhaustive})"
            _local_search(ev, techs, ev.traffic, system.max_chiplets)
    except _BudgetSpent:
        pass
    if len(ev.cache) > max_kept:
        ev._prune()
    notes = []
    if ev.spent is not None:
        label = (label or f"{method} search") + ", stopped by its budget"
        limit = (f"{ev.max_candidates:,} candidates (`max_candidates`, --max-candidates)" if ev.spent == "candidates"
                 else f"{ev.deadline - ev.t0:g} s (`max_search_time`, --max-search-time)")
        notes.append(f"search budget spent: {ev.screened:,} candidates screened in {time.perf_counter() - ev.t0:.1f} s "
                     f"reached the limit of {limit}; the ranking is the best found so far, not the optimum. "
                     "Raise the budget for a wider search, or group blocks into fewer, larger ones")
    if ev.pruned:
        notes.append(f"{ev.screened:,} candidates screened; the best {ev.max_kept:,} (`max_kept`), the screen's "
                     "cost-power Pareto set and the best monolithic one were kept, the rest dropped after screening")
    if not ev.cache:
        raise ModelError(f"`{call}`: the search budget ({ev.deadline - ev.t0:g} s, {ev.max_candidates:,} candidates) "
                         "ran out before any candidate was screened; raise `max_search_time` (--max-search-time)")
    return ev, label, notes


def screen(system: System, *, cost_params: CostParams | None = None, search: str = "auto",
           max_exhaustive: int = 8000, technologies: Sequence[str] | None = None,
           max_candidates: int = MAX_CANDIDATES, max_search_time: float = MAX_SEARCH_TIME,
           max_kept: int = MAX_KEPT) -> ScreenResult:
    """Stage 1 only: the screened candidates of the search, cheapest feasible first.

    The search stops after ``max_candidates`` candidates or ``max_search_time`` seconds and keeps
    the best ``max_kept`` whole (see the module docstring); the result's ``complete`` and ``notes``
    say whether and why it stopped early.
    """
    ev, _, notes = _search(system, cost_params or _file_params(system), search=search, max_exhaustive=max_exhaustive,
                           technologies=technologies, max_candidates=max_candidates,
                           max_search_time=max_search_time, max_kept=max_kept, call="screen")
    return ScreenResult(ev.candidates(), evaluated=ev.screened, complete=ev.spent is None, notes=notes)


def explore_partitions(system: System, *, cost_params: CostParams | None = None, max_exhaustive: int = 8000,
            search: str = "auto", ppac_top: int = 60, thermal_top: int = 6, thermal: bool = True,
            solver: solvers.ThermalSolver | None = None, technologies: Sequence[str] | None = None,
            max_candidates: int = MAX_CANDIDATES, max_search_time: float = MAX_SEARCH_TIME,
            max_kept: int = MAX_KEPT) -> Exploration:
    """Generate, evaluate and rank partitions of ``system`` (see the module docstring).

    Parameters
    ----------
    system : System
    cost_params : CostParams, optional
    max_exhaustive : int
        Largest number of (partition, nodes, technology) combinations searched exhaustively.
    search : {"auto", "exhaustive", "heuristic"}
    ppac_top : int
        How many of the cheapest screened candidates (plus the screen's cost–power Pareto set and
        the best monolithic one) get the floorplan, link evaluation and PPAC (stage 2).
    thermal_top : int
        How many of the cheapest candidates feasible after stage 2 get the thermal solve (more
        when a solve makes one infeasible); the best monolithic one is always solved.
    thermal : bool
        Run the thermal solves.
    solver : solvers.ThermalSolver, optional
        Solver of the thermal solves, passed to :func:`codesign.thermal.analyse` (default: the
        library's, the JAX multigrid-CG). Each candidate has its own mesh; on CPU the JAX solver
        compiles a program per new mesh (~10 s each, measured on 2 cores), so for many solves on
        a CPU ``solvers.ReferenceAMG()`` (``solvers.get_solver("reference")``) can be faster.
    technologies : sequence of str, optional
        Package technologies to try (default: the system's).
    max_candidates : int
        Budget of the search (stage 1): candidates screened (default :data:`MAX_CANDIDATES`).
    max_search_time : float
        Budget of the search (stage 1) [s] (default :data:`MAX_SEARCH_TIME`; ``math.inf``: none).
        Stages 2 and 3 work on at most ``ppac_top`` + Pareto + 1 candidates and are not counted.
    max_kept : int
        Screened candidates kept whole, the best by feasibility and cost (default
        :data:`MAX_KEPT`); the screen's cost–power Pareto set and the best monolithic one are kept
        too. The rest are dropped after screening, which bounds memory.

    Returns
    -------
    Exploration
        The kept candidates, ranked; a candidate whose evaluation raised a documented library error
        (:data:`EVALUATION_ERRORS`) keeps the reason ``"evaluation failed: <message>"``. Any other
        exception propagates. When the budget ended the search, ``complete`` is false and the
        first note says so: the ranking is then the best found so far.
    """
    t0 = time.perf_counter()
    params = cost_params or _file_params(system)
    ev, label, notes = _search(system, params, search=search, max_exhaustive=max_exhaustive,
                               technologies=technologies, max_candidates=max_candidates,
                               max_search_time=max_search_time, max_kept=max_kept)
    ranked = screened = ev.candidates()
    chosen = ranked[:ppac_top]
    pf, best_p = [], float("inf")
    for c in ranked:                       # cost-power Pareto of the screen
        if c.feasible and c.power < best_p - 1e-9:
            pf.append(c)
            best_p = c.power
    chosen += [c for c in pf if c not in chosen]
    mono = [c for c in ranked if len(c.partition) == 1]
    if mono and mono[0] not in chosen:
        chosen.append(mono[0])
    full: dict = {}

    def run(c, with_thermal):
        try:
            full[c.key] = _full(c, system, params, ev.traffic, thermal=with_thermal, solver=solver)
        except EVALUATION_ERRORS as exc:   # a documented domain error: keep the candidate, with the reason
            full[c.key] = dataclasses.replace(c, reasons=c.reasons + (f"evaluation failed: {exc}",))

    for c in chosen:                       # stage 2: floorplan, links, PPAC
        run(c, False)
    if thermal:                            # stage 3: thermal solve of the best feasible ones (and monolithic)
        solved = 0
        for _ in range(3 * thermal_top):
            pool = sorted((f for f in full.values() if f.stage == "ppac" and f.feasible), key=lambda f: f.cost)
            if not pool or solved >= thermal_top and all(
                    f.cost > min((g.cost for g in full.values() if g.stage == "thermal" and g.feasible),
                                 default=float("inf")) for f in pool):
                break
            c = next(x for x in screened if x.key == pool[0].key)
            run(c, True)
            solved += 1
        if mono and full.get(mono[0].key) is not None and full[mono[0].key].stage != "thermal":
            run(mono[0], True)
    allc = [full.get(c.key, c) for c in screened]
    allc.sort(key=lambda c: (not c.feasible, {"thermal": 0, "ppac": 1, "screen": 2}[c.stage], c.cost))
    notes.append("'est.' temperatures come from a 1-D resistance estimate; 'solved' ones from the thermal solve on a "
                 f"{system.mesh_size * 1e3:g} mm mesh ({'the default solver' if solver is None else solver})")
    if cost_params is None and system.cost is not None:
        notes.append(f"cost inputs from {system.source}'s [cost] table (preset {system.cost.preset!r}): "
                     + "; ".join(f"{p_} = {v!r} [{src}]" for p_, v, src in system.cost.from_file)
                     + "; every other value is a sourced default of codesign.cost")
    notes.append("costs use the sourced defaults of codesign.cost unless the system file's [cost] table sets them "
                 "(wafer prices are a disputed 2020 leak; yields and bonding constants are tool assumptions; HBM unit "
                 "costs are placeholders)")
    return Exploration(system=system, candidates=tuple(allc), method=label, evaluated=ev.screened,
                       seconds=time.perf_counter() - t0, notes=tuple(notes), complete=ev.spent is None)
