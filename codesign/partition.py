"""Chiplet partition exploration: blocks → chiplets × nodes × package technology, ranked by PPAC.

A *system* file (``docs/system-format.md``) lists functional blocks (area, power, node options),
the traffic between them and any HBM stacks. :func:`explore` generates candidates (set partitions
of the blocks into chiplets, monolithic included; a process node per chiplet; a package
technology), evaluates them, and returns them ranked, infeasible ones kept with their reasons.

Evaluation is a funnel, so that the shipped examples run in minutes on two CPU cores:

1. **screen** (every candidate): chiplet areas incl. PHY overhead sized from the PHY library
   (modules from the cut bandwidth), die shapes, reticle and carrier-size checks, PHY power,
   cost per good package + NRE (:func:`codesign.cost.package_cost`), and a one-line thermal
   *estimate* (1-D resistance, labelled as such).
2. **PPAC** (the best ``ppac_top`` by cost, the cost–power Pareto set of the screen, the best
   monolithic one): an automatic distance-aware floorplan, a generated layout
   (:func:`codesign.loads_layout`), link evaluation (reach, shoreline, bumps) and
   :func:`codesign.ppac.ppac`.
3. **thermal** (the cheapest ``thermal_top`` still feasible, and the best monolithic one): a
   steady solve on a coarse mesh
   (``mesh_stack(stack, max_lateral_size=...)`` then :func:`codesign.thermal.analyse`); the peak
   junction temperature, the thermal-limit check, and a clock factor from a linear thermal model
   with DVFS (f ∝ P^(1/3), as in :data:`codesign.electrothermal.PF_MODELS`).

Partitions that differ only by swapping interchangeable blocks (same design, size, power, node
options and traffic profile) are evaluated once.

Search: exhaustive over set partitions × nodes × technologies while that product is at most
``max_exhaustive``; otherwise a **steepest-descent local search** (moves: one block to another or
a new chiplet, merge two chiplets; nodes chosen by coordinate descent per chiplet and per group
of chiplets of the same designs; every technology tried) from several starts: monolithic, one chiplet per block, and every level of a
traffic-greedy agglomerative clustering. Why: the screen objective is cheap, good partitions are
connected to each other by single-block moves, and the traffic-aware starts keep high-traffic
pairs together (cutting them costs PHY area and power), which is where optima lie.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import time
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Mapping, Sequence

from .cost import (DEFAULT_COST_PARAMS, MM2, RETICLE_SIZE, CostError, CostParams, DieSpec, PackageSpec,
                   package_cost)
from .layout_io import InputFileError
from .units import UnitError, parse_quantity

__all__ = ["Block", "Candidate", "Memory", "System", "SystemFileError", "Traffic", "explore", "load_system",
           "loads_system", "pareto", "screen", "set_partitions", "Exploration"]

KELVIN = 273.15
TECHS = ("organic_substrate", "silicon_interposer", "organic_rdl", "bridge")
_D2D_PHY = {"organic_substrate": "UCIe-S-32", "silicon_interposer": "UCIe-A-32", "organic_rdl": "UCIe-A-32",
            "bridge": "UCIe-A-32"}
_HBM_SIZE = (11e-3, 10e-3)


class SystemFileError(InputFileError):
    """A system file problem; the message lists every problem with its path and the fix."""


# -- the system spec ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class Block:
    """A functional block: ``area`` [m²] and ``power`` [W] on its reference ``node``."""

    name: str
    area: float
    power: float
    node: str
    nodes: tuple[str, ...]
    design: str
    scales: bool = True
    tj_max: float | None = None


@dataclass(frozen=True)
class Traffic:
    """Bandwidth per direction [bit/s] between two blocks."""

    between: tuple[str, str]
    bandwidth: float


@dataclass(frozen=True)
class Memory:
    """``count`` HBM stacks attached to block ``attach``; per-stack bandwidth [bit/s] and power [W]."""

    name: str
    generation: str
    count: int
    attach: str
    bandwidth: float
    power: float
    size: tuple[float, float] = _HBM_SIZE


@dataclass(frozen=True)
class System:
    """A system to partition (see ``docs/system-format.md``)."""

    name: str
    description: str
    blocks: tuple[Block, ...]
    traffic: tuple[Traffic, ...]
    memory: tuple[Memory, ...]
    technologies: tuple[str, ...]
    node_scaling: tuple[tuple[str, float, float], ...]   # (node, area factor, power factor)
    volume: float
    max_chiplets: int
    spacing: float
    margin: float
    heat_transfer_coefficient: float
    ambient: float
    board_heat_transfer_coefficient: float
    board_ambient: float
    tj_max: float
    mesh_size: float
    source: str = ""

    def block(self, name: str) -> Block:
        for b in self.blocks:
            if b.name == name:
                return b
        raise KeyError(name)

    def scaling(self, node: str) -> tuple[float, float]:
        for n, a, p in self.node_scaling:
            if n == node:
                return a, p
        raise KeyError(node)


def _q(problems, tbl, key, path, kind, default=None, required=True):
    if key not in tbl:
        if required and default is None:
            problems.append((f"{path}.{key}" if path else key, f"missing; give a {kind.replace('_', ' ')}"))
        return default
    try:
        return parse_quantity(tbl[key], kind)
    except UnitError as e:
        problems.append((f"{path}.{key}" if path else key, str(e)))
        return default


def loads_system(text: str, *, source: str = "<string>") -> System:
    """Parse a system TOML text (format: ``docs/system-format.md``); all problems raised at once."""
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise SystemFileError(source, [("", f"not valid TOML: {e}")]) from None
    P: list[tuple[str, str]] = []
    if doc.get("schema") != 1:
        P.append(("schema", f"must be 1, got {doc.get('schema')!r}"))
    opts = doc.get("options", {})
    default_nodes = tuple(opts.get("nodes", ["N5"]))
    techs = tuple(opts.get("technologies", ["organic_substrate", "silicon_interposer"]))
    for t in techs:
        if t not in TECHS:
            P.append(("options.technologies", f"unknown technology {t!r}; choose from {', '.join(TECHS)}"))
    scaling = []
    for node, tbl in doc.get("node_scaling", {}).items():
        a = _q(P, tbl, "area", f"node_scaling.{node}", "dimensionless", 1.0)
        p = _q(P, tbl, "power", f"node_scaling.{node}", "dimensionless", 1.0)
        scaling.append((node, a, p))
    known_scaling = {n for n, _, _ in scaling}
    blocks = []
    for i, b in enumerate(doc.get("blocks", [])):
        path = f"blocks[{i}]"
        name = b.get("name")
        if not isinstance(name, str) or not name or "/" in name or ":" in name or "+" in name:
            P.append((f"{path}.name", f"give a unique name without '/', ':' or '+', got {name!r}"))
            name = f"block{i}"
        nodes = tuple(b.get("nodes", default_nodes))
        node = b.get("node", nodes[0] if nodes else "N5")
        for n in set(nodes) | {node}:
            if len(set(nodes) | {node}) > 1 and n not in known_scaling:
                P.append((f"{path}.nodes", f"node {n!r} has no [node_scaling.{n}] entry (area and power factors); "
                                           "add one"))
            try:
                DEFAULT_COST_PARAMS.node(n)
            except CostError as e:
                P.append((f"{path}.nodes", str(e)))
        tj = _q(P, b, "tj_max", path, "temperature", None, required=False)
        blocks.append(Block(name=name, area=_q(P, b, "area", path, "area", 0.0), power=_q(P, b, "power", path, "power", 0.0),
                            node=node, nodes=nodes, design=str(b.get("design", name)), scales=bool(b.get("scales", True)),
                            tj_max=tj))
    names = [b.name for b in blocks]
    if len(set(names)) != len(names):
        P.append(("blocks", f"block names must be unique: {sorted({n for n in names if names.count(n) > 1})}"))
    if not blocks:
        P.append(("blocks", "give at least one [[blocks]] table"))
    traffic = []
    for i, t in enumerate(doc.get("traffic", [])):
        path = f"traffic[{i}]"
        between = tuple(t.get("between", ()))
        if len(between) != 2 or any(x not in names for x in between) or between[0] == between[1]:
            P.append((f"{path}.between", f"give two different block names from {names}, got {list(between)}"))
            continue
        traffic.append(Traffic(between, _q(P, t, "bandwidth", path, "bandwidth", 0.0)))
    memory = []
    for i, m in enumerate(doc.get("memory", [])):
        path = f"memory[{i}]"
        if m.get("attach") not in names:
            P.append((f"{path}.attach", f"name the block the stacks attach to, one of {names}; got {m.get('attach')!r}"))
            continue
        size = m.get("size", ["11 mm", "10 mm"])
        try:
            sz = (parse_quantity(size[0], "length"), parse_quantity(size[1], "length"))
        except (UnitError, IndexError, TypeError) as e:
            P.append((f"{path}.size", f"give [width, height] lengths: {e}"))
            sz = _HBM_SIZE
        memory.append(Memory(name=str(m.get("name", f"hbm{i}")), generation=str(m.get("generation", "HBM3")),
                             count=int(m.get("count", 1)), attach=m["attach"],
                             bandwidth=_q(P, m, "bandwidth", path, "bandwidth", 0.0),
                             power=_q(P, m, "power", path, "power", 0.0), size=sz))
    if memory and techs == ("organic_substrate",):
        P.append(("options.technologies", "HBM needs a fine-pitch carrier: add silicon_interposer, organic_rdl or bridge"))
    pkg = doc.get("package", {})
    vol = doc.get("volume", 1e6)
    if not isinstance(vol, (int, float)) or vol <= 0:
        P.append(("volume", f"give a positive number of units, got {vol!r}"))
        vol = 1e6
    if P:
        raise SystemFileError(source, P)
    return System(
        name=str(doc.get("name", "system")), description=str(doc.get("description", "")), blocks=tuple(blocks),
        traffic=tuple(traffic), memory=tuple(memory), technologies=techs, node_scaling=tuple(scaling),
        volume=float(vol), max_chiplets=int(opts.get("max_chiplets", len(blocks))),
        spacing=_q(P, pkg, "spacing", "package", "length", 1e-3),
        margin=_q(P, pkg, "margin", "package", "length", 5e-3),
        heat_transfer_coefficient=_q(P, pkg, "heat_transfer_coefficient", "package", "heat_transfer_coefficient", 2e4),
        ambient=_q(P, pkg, "ambient", "package", "temperature", 35 + KELVIN),
        board_heat_transfer_coefficient=_q(P, pkg, "board_heat_transfer_coefficient", "package",
                                           "heat_transfer_coefficient", 300.0),
        board_ambient=_q(P, pkg, "board_ambient", "package", "temperature", 45 + KELVIN),
        tj_max=_q(P, opts, "tj_max", "options", "temperature", 105 + KELVIN),
        mesh_size=_q(P, opts, "mesh_size", "options", "length", 2e-3), source=source)


def load_system(path: str | Path) -> System:
    """Read a system TOML file (see ``docs/system-format.md``)."""
    p = Path(path)
    return loads_system(p.read_text(), source=str(p))


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


class _Evaluator:
    """Screens candidates (stage 1), with a cache."""

    def __init__(self, system: System, params: CostParams):
        from .phys import get_phy

        self.s, self.p = system, params
        self.cache: dict[tuple, Candidate] = {}
        self.phy = {t: get_phy(name) for t, name in _D2D_PHY.items()}
        self.hbm_phy = {}
        for m in system.memory:
            try:
                self.hbm_phy[m.generation] = get_phy(m.generation)
            except Exception:
                self.hbm_phy[m.generation] = None
        self.traffic = {}
        for t in system.traffic:
            k = tuple(sorted(t.between))
            self.traffic[k] = self.traffic.get(k, 0.0) + t.bandwidth
        self.seen: dict[tuple, Candidate] = {}
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

    def evaluate(self, partition, nodes, tech) -> Candidate:
        k = self.key(partition, nodes, tech)
        if k in self.cache:
            return self.cache[k]
        sig = self.signature(k)
        if sig in self.seen:              # an equivalent partition (identical blocks swapped)
            return self.seen[sig]
        c = self._screen(k)
        self.cache[k] = c
        self.seen[sig] = c
        return c

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
            hp = self.hbm_phy.get(m.generation)
            if hp is not None:
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
            plans.append(ChipletPlan(name=name if len(name) <= 40 else f"chiplet{i}", blocks=part, node=node, width=w,
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
                dies.append(DieSpec("bridge", 8e-3, 3e-3, kind="bridge", count=bridges))
        pkg = PackageSpec(tech, carrier_area, side * side)
        cost = package_cost(dies, pkg, p, volume=s.volume, method="exact") if plans[0].height <= 0.3 else None
        if cost is None:
            reasons.append("die larger than a wafer")
        total_power = sum(c.power for c in plans) + sum(m.count * m.power for m in s.memory)
        # 1-D thermal estimate: sink over the package + through lid/TIM/die under the densest die (labelled est.)
        r_sink = 1.0 / (s.heat_transfer_coefficient * side * side)
        r_area = 1.5e-3 / 400 + 50e-6 / 5 + 0.7e-3 / 148            # lid, TIM1, die [m^2 K/W]
        peak = max(s.ambient + total_power * r_sink + c.power / (c.width * c.height) * r_area for c in plans)
        perf = _clock_factor(peak, min(c.tj_max for c in plans), s.ambient)
        return Candidate(key=k, partition=partition, nodes=nodes, technology=tech, chiplets=tuple(plans),
                         cost=(cost.total_per_unit if cost else float("inf")),
                         cost_per_good_package=(cost.cost_per_good_package if cost else float("inf")),
                         power=total_power, silicon_area=sum(c.width * c.height for c in plans),
                         peak_temperature=peak, performance=perf, reasons=tuple(reasons), cut_bandwidth=cut)


def _clock_factor(tj: float, tj_max: float, ambient: float) -> float:
    """Clock factor that brings ``tj`` to ``tj_max`` with a linear thermal model and f ∝ P^(1/3)."""
    if tj <= tj_max:
        return 1.0
    return max((tj_max - ambient) / (tj - ambient), 0.0) ** (1.0 / 3.0)


# -- floorplan and layout ----------------------------------------------------------------------------

def _place(size, placed, weights, gap, anchors=None):
    """Best position for a ``size`` rectangle abutting a placed one: the one that minimises
    Σ traffic × Manhattan centre distance to the placed rectangles, plus a small bounding-box
    penalty; positions overlap nothing (with ``gap``)."""
    w, h = size
    if not placed:
        return (0.0, 0.0, w, h)
    xs0 = min(r[0] for r in placed)
    ys0 = min(r[1] for r in placed)
    xs1 = max(r[0] + r[2] for r in placed)
    ys1 = max(r[1] + r[3] for r in placed)
    best, best_cost = None, float("inf")
    for k, (px, py, pw, ph) in enumerate(placed):
        if anchors is not None and k not in anchors:
            continue
        xs = (px + (pw - w) / 2, px, px + pw - w)
        ys = (py + (ph - h) / 2, py, py + ph - h)
        cands = [(px + pw + gap, y) for y in ys] + [(px - gap - w, y) for y in ys] + \
                [(x, py + ph + gap) for x in xs] + [(x, py - gap - h) for x in xs]
        for (x, y) in cands:
            if any(x < r[0] + r[2] + gap * 0.999 and r[0] < x + w + gap * 0.999 and
                   y < r[1] + r[3] + gap * 0.999 and r[1] < y + h + gap * 0.999 for r in placed):
                continue
            cx, cy = x + w / 2, y + h / 2
            cost = sum(wt * (abs(cx - (r[0] + r[2] / 2)) + abs(cy - (r[1] + r[3] / 2)))
                       for r, wt in zip(placed, weights))
            bb = (max(xs1, x + w) - min(xs0, x)) * (max(ys1, y + h) - min(ys0, y))
            cost += 1e-3 * (sum(weights) + 1.0) * math.sqrt(bb)
            if cost < best_cost:
                best, best_cost = (x, y, w, h), cost
    return best


def floorplan(c: Candidate, system: System, traffic: Mapping[tuple, float]) -> dict:
    """Place chiplets and HBM stacks greedily, distance-aware: the chiplet with the most traffic
    first, then each next (most traffic to those placed) abutting a placed one where it minimises
    traffic-weighted distance; HBM stacks last, abutting their host where possible. Returns
    rectangles ``(x, y, w, h)`` [m] relative to an arbitrary origin."""
    s = system
    n = len(c.partition)
    where = {b: i for i, p in enumerate(c.partition) for b in p}
    wmat = [[0.0] * n for _ in range(n)]
    for (a, b), bw in traffic.items():
        i, j = where[a], where[b]
        if i != j:
            wmat[i][j] += bw
            wmat[j][i] += bw
    hbm_list = []
    for m in s.memory:
        for k in range(m.count):
            hbm_list.append((m, k, where[m.attach]))
    # one graph over chiplets (0..n-1) and HBM stacks (n..); HBM links weigh 3x: they have no
    # longer-reach fallback PHY (the UCIe-S fallback of die-to-die links reaches 25 mm)
    N = n + len(hbm_list)
    W = [[0.0] * N for _ in range(N)]
    for i in range(n):
        for j in range(n):
            W[i][j] = wmat[i][j]
    for k, (m, _, host) in enumerate(hbm_list):
        W[host][n + k] = W[n + k][host] = 3.0 * m.bandwidth
    scale = max((max(r) for r in W), default=0.0) or 1.0
    order = [max(range(n), key=lambda i: (sum(W[i]), -i))]
    left = set(range(N)) - set(order)
    while left:
        nxt = max(left, key=lambda j: (sum(W[i][j] for i in order), sum(W[j]), -j))
        order.append(nxt)
        left.remove(nxt)
    rects: dict[int, tuple] = {}
    placed, owners, hbms = [], [], []
    for i in order:
        weights = [W[i][o] / scale + 1e-3 for o in owners]
        if i < n:
            ch = c.chiplets[i]
            r = _place((ch.width, ch.height), placed, weights, s.spacing)
            rects[i] = r
        else:
            m, k, host = hbm_list[i - n]
            anchor = {owners.index(host)} if host in owners else None
            opts = [r for sz in (m.size, m.size[::-1]) for r in (_place(sz, placed, weights, s.spacing, anchor),)
                    if r is not None]
            if not opts:       # no room beside the host: anywhere, the link will say if it is out of reach
                opts = [_place(sz, placed, weights, s.spacing) for sz in (m.size, m.size[::-1])]
            hr = rects.get(host)

            def dist(r):
                if hr is None:
                    return 0.0
                dx = max(hr[0] - (r[0] + r[2]), r[0] - (hr[0] + hr[2]), 0.0)
                dy = max(hr[1] - (r[1] + r[3]), r[1] - (hr[1] + hr[3]), 0.0)
                return dx + dy
            r = min(opts, key=dist)
            hbms.append((m, k, host, r))
        placed.append(r)
        owners.append(i)
    return {"chiplets": rects, "hbm": hbms}


def _mm(v: float) -> str:
    return f'"{v * 1e3:.4f} mm"'


def layout_toml(c: Candidate, system: System, *, traffic: Mapping[tuple, float], phy_power: Sequence[float] | None = None
                ) -> str:
    """The generated layout of a candidate as TOML text (``codesign.loads_layout`` reads it)."""
    s = system
    fp = floorplan(c, s, traffic)
    allr = list(fp["chiplets"].values()) + [r for *_, r in fp["hbm"]]
    x0 = min(r[0] for r in allr)
    y0 = min(r[1] for r in allr)
    x1 = max(r[0] + r[2] for r in allr)
    y1 = max(r[1] + r[3] for r in allr)
    ox, oy = s.margin - x0, s.margin - y0
    ext = (s.margin - 0.5 * s.spacing, s.margin - 0.5 * s.spacing, x1 - x0 + s.spacing, y1 - y0 + s.spacing)
    pw, ph = x1 - x0 + 2 * s.margin, y1 - y0 + 2 * s.margin
    L = [f'schema = 1', f'name = "{s.name}-cand"', f'description = "generated by codesign.partition: {c.label}"',
         "[package]", f"size = [{_mm(pw)}, {_mm(ph)}]",
         "[boundaries.top]", 'kind = "heat_sink"', f'heat_transfer_coefficient = "{s.heat_transfer_coefficient} W/m^2/K"',
         f'ambient = "{s.ambient} K"', "[boundaries.bottom]", 'kind = "board"',
         f'heat_transfer_coefficient = "{s.board_heat_transfer_coefficient} W/m^2/K"', f'ambient = "{s.board_ambient} K"',
         "[boundaries.sides]", 'kind = "adiabatic"',
         "[[layers]]", 'name = "lid"', 'material = "copper"', 'thickness = "1.5 mm"',
         "[[layers]]", 'name = "tim1"', 'material = "tim_polymer"', 'thickness = "50 um"',
         "[[layers]]", 'name = "dies"', 'material = "mold"', 'thickness = "720 um"',
         f"origin = [{_mm(ext[0])}, {_mm(ext[1])}]", f"size = [{_mm(ext[2])}, {_mm(ext[3])}]"]
    for i, (x, y, w, h) in fp["chiplets"].items():
        ch = c.chiplets[i]
        p = ch.power if phy_power is None else ch.power - ch.phy_power + phy_power[i]
        L += ["  [[layers.chiplets]]", f'  name = "{ch.name}"', '  kind = "logic"',
              f"  origin = [{_mm(x + ox)}, {_mm(y + oy)}]", f"  size = [{_mm(w)}, {_mm(h)}]",
              f'  power = "{max(p, 0.0)} W"', '  active_thickness = "20 um"', f'  tj_max = "{ch.tj_max} K"']
    for m, k, i, (x, y, w, h) in fp["hbm"]:
        L += ["  [[layers.chiplets]]", f'  name = "{m.name}{k}"', '  kind = "hbm"',
              f"  origin = [{_mm(x + ox)}, {_mm(y + oy)}]", f"  size = [{_mm(w)}, {_mm(h)}]", f'  power = "{m.power} W"',
              f'  hbm = {{ generation = "{m.generation}", dram_dies = 8, die_thickness = "55 um", '
              'bond_thickness = "20 um", base_die_thickness = "60 um" }']
    extl = f"origin = [{_mm(ext[0])}, {_mm(ext[1])}]\nsize = [{_mm(ext[2])}, {_mm(ext[3])}]"
    if c.technology in ("silicon_interposer", "organic_rdl"):
        L += ["[[layers]]", 'name = "microbumps"', 'material = "underfill"', 'thickness = "30 um"', extl,
              'interconnect = { kind = "microbump", pitch = "45 um", diameter = "25 um" }',
              'interconnect_region = "under_above"',
              "[[layers]]", 'name = "interposer"',
              f'material = "{"silicon" if c.technology == "silicon_interposer" else "mold"}"',
              'thickness = "100 um"', extl,
              'interconnect = { kind = "tsv", pitch = "100 um", diameter = "10 um", material = "copper" }']
    elif c.technology == "bridge":
        L += ["[[layers]]", 'name = "microbumps"', 'material = "underfill"', 'thickness = "30 um"', extl,
              'interconnect = { kind = "microbump", pitch = "45 um", diameter = "25 um" }',
              'interconnect_region = "under_above"']
    L += ["[[layers]]", 'name = "c4"', 'material = "underfill"', 'thickness = "80 um"', extl,
          'interconnect = { kind = "c4", pitch = "150 um", diameter = "90 um" }',
          "[[layers]]", 'name = "substrate"', 'material = "organic_substrate"', 'thickness = "1.2 mm"']
    where = {b: i for i, p in enumerate(c.partition) for b in p}
    seen = {}
    for (a, b), bw in traffic.items():
        i, j = sorted((where[a], where[b]))
        if i != j:
            seen[(i, j)] = seen.get((i, j), 0.0) + bw
    for (i, j), bw in seen.items():
        L += ["[[links]]", f'between = ["{c.chiplets[i].name}", "{c.chiplets[j].name}"]',
              f'bandwidth = "{bw / 8e9:.6g} GB/s"', 'phy = "auto"']
    for m, k, i, _ in fp["hbm"]:
        L += ["[[links]]", f'between = ["{c.chiplets[i].name}", "{m.name}{k}"]',
              f'bandwidth = "{m.bandwidth / 8e9:.6g} GB/s"', f'phy = "{m.generation}"']
    L += ["[mesh]", f'max_lateral_size = {_mm(s.mesh_size)}', 'max_vertical_size = "1 mm"']
    return "\n".join(L) + "\n"


def _full(c: Candidate, system: System, params: CostParams, traffic, *, thermal: bool, method: str) -> Candidate:
    """Stage 2 and 3: floorplan, layout, links, PPAC and (optionally) the thermal solve."""
    from . import loads_layout
    from .interconnect import evaluate_links
    from .ppac import PackageTechnology, ppac

    auto = ("UCIe-S-32",) if c.technology == "organic_substrate" else ("UCIe-A-32", "UCIe-S-32")
    stack = loads_layout(layout_toml(c, system, traffic=traffic), source=f"<{c.label}>")
    links = evaluate_links(stack, auto_candidates=auto)
    # put the evaluated PHY power into the dies (the screen used the preferred PHY)
    names = [ch.name for ch in c.chiplets]
    phy_p = [0.0] * len(names)
    for r in links.links:
        for e in r.endpoints:
            if e in names and r.phy_kind != "memory":
                phy_p[names.index(e)] += r.power / 2
    stack = loads_layout(layout_toml(c, system, traffic=traffic, phy_power=phy_p), source=f"<{c.label}>")
    links = evaluate_links(stack, auto_candidates=auto)
    reasons = [r for r in c.reasons if not r.startswith("carrier:")]
    ext = stack.layer("dies").extent
    carrier = (ext.width, ext.height) if c.technology in ("silicon_interposer", "organic_rdl") else None
    bridges = ()
    tech = PackageTechnology(technology=c.technology, carrier_size=carrier,
                             substrate_size=(stack.package.width, stack.package.height), bridges=bridges,
                             reason="chosen by the partition search")
    report = None
    if thermal:
        from .mesh import mesh_stack
        from .thermal import analyse

        meshed = mesh_stack(stack, max_lateral_size=system.mesh_size, max_vertical_size=1e-3)
        report = analyse(meshed, method=method)
    dies_nodes = {ch.name: ch.node for ch in c.chiplets}
    designs = {ch.name: ch.design for ch in c.chiplets}
    res = ppac(stack, thermal=report, links=links, cost_params=params, volume=system.volume, nodes=dies_nodes,
               technology=tech, interconnect_in_dies=True, designs=designs,
               extra_dies=(DieSpec("bridge", 8e-3, 3e-3, kind="bridge", count=len(links.links))
                           ,) if c.technology == "bridge" else ())
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


def _count_exhaustive(system: System, techs) -> int:
    names = [b.name for b in system.blocks]
    total = 0
    for part in set_partitions(names, system.max_chiplets):
        k = 1
        for p in part:
            k *= max(len(_common_nodes(system, p)), 0)
        total += k * len(techs)
        if total > 10**7:
            break
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


def _starts(system: System, traffic) -> list:
    names = [b.name for b in system.blocks]
    starts = [(tuple(names),), tuple((n,) for n in names)]
    groups = [[n] for n in names]
    while len(groups) > 1:
        best, pair = -1.0, None
        for i in range(len(groups)):
            for j in range(i + 1, len(groups)):
                w = sum(traffic.get(tuple(sorted((a, b))), 0.0) for a in groups[i] for b in groups[j])
                if w > best:
                    best, pair = w, (i, j)
        i, j = pair
        groups = [g for k, g in enumerate(groups) if k not in (i, j)] + [groups[i] + groups[j]]
        starts.append(tuple(tuple(g) for g in groups))
    return starts


def _local_search(ev: _Evaluator, techs, traffic, max_chiplets: int) -> None:
    for start in _starts(ev.s, traffic):
        if len(start) > max_chiplets:
            continue
        for tech in techs:
            cur = _best_nodes(ev, start, tech)
            if cur is None:
                continue
            while True:
                best = cur
                for nb in _neighbours(cur.partition):
                    if len(nb) > max_chiplets:
                        continue
                    c = _best_nodes(ev, nb, tech)
                    if c is not None and _objective(c) < _objective(best) - 1e-9:
                        best = c
                if best is cur:
                    break
                cur = best


def pareto(candidates: Sequence[Candidate], *, feasible_only: bool = True, solved_only: bool = False
           ) -> list[Candidate]:
    """The non-dominated candidates over (cost ↓, power ↓, peak temperature ↓, performance ↑).

    ``feasible_only`` drops infeasible candidates first; ``solved_only`` keeps only those with a
    thermal solve (their peak temperature is not an estimate)."""
    pool = [c for c in candidates if (c.feasible or not feasible_only) and (c.stage == "thermal" or not solved_only)]

    def obj(c):
        return (c.cost, c.power, c.peak_temperature, -c.performance)

    def dominates(a, b):
        oa, ob = obj(a), obj(b)
        return all(x <= y for x, y in zip(oa, ob)) and any(x < y for x, y in zip(oa, ob))

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

    @property
    def best(self) -> Candidate:
        return self.candidates[0]

    def pareto(self, **kw) -> list[Candidate]:
        return pareto(self.candidates, **kw)

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
                         "see to_dict())")
        front = self.pareto(solved_only=True)
        lines.append("")
        if front:
            lines.append(f"Pareto set over (cost, power, peak temperature, clock) among feasible, thermally solved "
                         f"candidates: {len(front)}")
        else:
            front = self.pareto()[:10]
            lines.append("No feasible thermally solved candidate; Pareto set of the screen (estimated temperatures), "
                         f"first {len(front)}:")
        for c in front:
            lines.append(f"  * {c.label}\n      {c.explain()}")
        for n in self.notes:
            lines.append(f"note: {n}")
        return "\n".join(lines)

    def to_dict(self) -> dict:
        return {"system": self.system.name, "method": self.method, "evaluated": self.evaluated,
                "seconds": self.seconds, "candidates": [c.to_dict() for c in self.candidates],
                "pareto": [c.label for c in self.pareto()], "notes": list(self.notes)}


def _search(system: System, params: CostParams, *, search: str = "auto", max_exhaustive: int = 8000,
            technologies: Sequence[str] | None = None):
    techs = tuple(technologies or system.technologies)
    ev = _Evaluator(system, params)
    names = [b.name for b in system.blocks]
    n_comb = _count_exhaustive(system, techs)
    method = search if search != "auto" else ("exhaustive" if n_comb <= max_exhaustive else "heuristic")
    if method == "exhaustive":
        for part in set_partitions(names, system.max_chiplets):
            opts = _node_choices(system, part)
            for nodes in itertools.product(*opts):
                for tech in techs:
                    ev.evaluate(part, nodes, tech)
        label = f"exhaustive ({n_comb} combinations)"
    elif method == "heuristic":
        _local_search(ev, techs, ev.traffic, system.max_chiplets)
        label = (f"heuristic local search ({n_comb if n_comb < 10**7 else '>1e7'} combinations exceed "
                 f"max_exhaustive={max_exhaustive})")
    else:
        raise ValueError(f"`explore(search={search!r})`: choose 'auto', 'exhaustive' or 'heuristic'")
    return ev, label


def screen(system: System, *, cost_params: CostParams | None = None, search: str = "auto",
           max_exhaustive: int = 8000, technologies: Sequence[str] | None = None) -> list[Candidate]:
    """Stage 1 only: every screened candidate of the search, cheapest feasible first."""
    ev, _ = _search(system, cost_params or DEFAULT_COST_PARAMS, search=search, max_exhaustive=max_exhaustive,
                    technologies=technologies)
    return sorted(ev.cache.values(), key=lambda c: (not c.feasible, c.cost))


def explore(system: System, *, cost_params: CostParams | None = None, max_exhaustive: int = 8000,
            search: str = "auto", ppac_top: int = 60, thermal_top: int = 6, thermal: bool = True,
            thermal_method: str = "reference",
            technologies: Sequence[str] | None = None) -> Exploration:
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
    thermal_method : {"reference", "jax"}
        ``"reference"`` (scikit-fem + pyamg) is the default here: on the coarse exploration meshes
        it takes ~0.2-1 s per candidate on 2 CPU cores, while the JAX path recompiles for every new
        mesh (~12-19 s each, measured). Use ``"jax"`` on a GPU or for few candidates.
    """
    t0 = time.perf_counter()
    params = cost_params or DEFAULT_COST_PARAMS
    ev, label = _search(system, params, search=search, max_exhaustive=max_exhaustive, technologies=technologies)
    screened = list(ev.cache.values())
    ranked = sorted(screened, key=lambda c: (not c.feasible, c.cost))
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
    notes = []

    def run(c, with_thermal):
        try:
            full[c.key] = _full(c, system, params, ev.traffic, thermal=with_thermal, method=thermal_method)
        except Exception as exc:   # keep it, with the reason
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
                 f"{system.mesh_size * 1e3:g} mm mesh ({thermal_method})")
    notes.append("costs use the sourced defaults of codesign.cost (wafer prices are a disputed 2020 leak; yields "
                 "and bonding constants are tool assumptions; HBM unit costs are placeholders)")
    return Exploration(system=system, candidates=tuple(allc), method=label, evaluated=len(screened),
                       seconds=time.perf_counter() - t0, notes=tuple(notes))
