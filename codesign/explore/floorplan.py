"""Floorplans and package stacks of partition candidates, from one sourced package recipe.

:data:`PACKAGE_RECIPES` is the one table of how each package technology is built: its layers top
(heat-sink side) to bottom (board side) with thickness, material and interconnect array, the
die-to-die PHYs it supports, and the source of every value. :func:`floorplan` places a
candidate's chiplets and HBM stacks; :func:`build_stack` turns candidate + floorplan + recipe
into a :class:`codesign.stack.Stack` directly (no layout text in between, so the names of the
system file's blocks reach the stack verbatim).

Sources are cited as in ``shared/reference/parameters.md`` ([P§n] = its section n); "est" marks
an engineering estimate of this tool, the same values the shipped layouts use.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Mapping, Sequence

from ..homogenise import homogenise_hbm, homogenise_interconnect
from ..materials import BUILTIN_MATERIALS
from ..stack import Boundary, Chiplet, HBMStack, Interconnect, Layer, Link, Material, MeshControls, Rect, Stack

if TYPE_CHECKING:  # types only: partition and system import this module
    from .partition import Candidate
    from .system import System

__all__ = ["BRIDGE_DIE_SIZE", "DIE_ACTIVE_THICKNESS", "HBM_DIES", "LayerRecipe", "PACKAGE_RECIPES", "PackageRecipe",
           "build_stack", "floorplan", "junction_to_lid_resistance"]


# -- the package recipe ------------------------------------------------------------------------------

@dataclass(frozen=True)
class LayerRecipe:
    """One layer of a generated stack.

    ``over``: ``"package"`` (the whole package) or ``"dies"`` (the die field plus half a die
    spacing around it: the carrier). ``holds_dies``: the chiplets and HBM stacks are placed in it.
    ``source`` cites every value of the layer.
    """

    name: str
    material: str
    thickness: float
    over: str
    source: str
    interconnect: Interconnect | None = None
    interconnect_region: str = "extent"
    holds_dies: bool = False


@dataclass(frozen=True)
class PackageRecipe:
    """How a package technology is built: ``layers`` top to bottom; ``d2d_phy`` the PHY the
    screen sizes die-to-die links with; ``link_phys`` the PHYs the link evaluation may choose
    (cheapest feasible first); ``source`` cites the PHY choice."""

    technology: str
    layers: tuple[LayerRecipe, ...]
    d2d_phy: str
    link_phys: tuple[str, ...]
    source: str

    @property
    def die_layer(self) -> LayerRecipe:
        return next(layer for layer in self.layers if layer.holds_dies)


_TAP = "tool: TAP-2.5D bump geometry, parameters.md §2"
_LID = LayerRecipe("lid", "copper", 1.5e-3, "package",
                   "est: copper lid / heat spreader (the shipped layouts use 1-2 mm: demo.toml, h100_cowos_s.toml)")
_TIM1 = LayerRecipe("tim1", "tim_polymer", 50e-6, "package", "est: polymer TIM1 bond line (as demo.toml)")
_DIES = LayerRecipe("dies", "mold", 720e-6, "dies",
                    "HBM stack height <= 720 um through HBM3E (SemiEngineering 'HBM4 sticks with microbumps', "
                    "[P§3]); logic dies thinned to the same height (est); mould between the dies", holds_dies=True)
_MICROBUMPS = LayerRecipe(
    "microbumps", "underfill", 30e-6, "dies",
    "30 um thickness est; 45 um pitch / 25 um diameter: " + _TAP + " (CoWoS microbump pitch UNSOURCED [P§2]); "
    "UCIe-A bump pitch 25-55 um, 45 um typical (HI-2025 report [P§1]); EMIB-T 'below today's 45 um' "
    "(Intel at ECTC 2025 [P§2]); SAC305 columns in underfill",
    interconnect=Interconnect("microbump", pitch=45e-6, diameter=25e-6, material="sac305", fill="underfill"),
    interconnect_region="under_above")
_SI_INTERPOSER = LayerRecipe(
    "interposer", "silicon", 100e-6, "dies",
    "est: thinned TSV interposer (as h100_cowos_s.toml); TSV 10 um diameter (" + _TAP + "), 100 um pitch est "
    "(TAP-2.5D's 50 um is denser)",
    interconnect=Interconnect("tsv", pitch=100e-6, diameter=10e-6, material="copper", fill="silicon"))
_RDL_INTERPOSER = LayerRecipe(
    "interposer", "mold", 100e-6, "dies",
    "est: RDL interposer as a mould layer with copper vias of the TSV geometry (10 um diameter " + _TAP
    + "; 100 um pitch est)",
    interconnect=Interconnect("tsv", pitch=100e-6, diameter=10e-6, material="copper", fill="mold"))
_C4 = LayerRecipe(
    "c4", "underfill", 80e-6, "dies",
    "est: 80 um C4 layer, 150 um pitch / 90 um diameter SAC305 in underfill (as the shipped layouts; "
    "TAP-2.5D's C4 250/600 um diameter/pitch is coarser, " + _TAP + ")",
    interconnect=Interconnect("c4", pitch=150e-6, diameter=90e-6, material="sac305", fill="underfill"))
_SUBSTRATE = LayerRecipe("substrate", "organic_substrate", 1.2e-3, "package", "est: organic build-up substrate")

_UCIE_S = ("UCIe-S (standard package, 100-130 um bump pitch, reach <= 25 mm) on an organic substrate "
           "(HI-2025 report; reach from the HC2023 UCIe tutorial, [P§1])")
_UCIE_A = ("UCIe-A (advanced package, 25-55 um bump pitch, reach <= 2 mm) on a fine-pitch carrier, UCIe-S where "
           "out of reach (HI-2025 report; reach from the HC2023 UCIe tutorial, [P§1])")

#: The package recipe of every technology partition exploration builds (layers top to bottom).
PACKAGE_RECIPES: dict[str, PackageRecipe] = {r.technology: r for r in (
    PackageRecipe("organic_substrate", (_LID, _TIM1, _DIES, _C4, _SUBSTRATE), "UCIe-S-32", ("UCIe-S-32",), _UCIE_S),
    PackageRecipe("silicon_interposer", (_LID, _TIM1, _DIES, _MICROBUMPS, _SI_INTERPOSER, _C4, _SUBSTRATE),
                  "UCIe-A-32", ("UCIe-A-32", "UCIe-S-32"), _UCIE_A),
    PackageRecipe("organic_rdl", (_LID, _TIM1, _DIES, _MICROBUMPS, _RDL_INTERPOSER, _C4, _SUBSTRATE),
                  "UCIe-A-32", ("UCIe-A-32", "UCIe-S-32"), _UCIE_A),
    # bridge (EMIB class): the bridge dies are priced (BRIDGE_DIE_SIZE) but not modelled thermally
    PackageRecipe("bridge", (_LID, _TIM1, _DIES, _MICROBUMPS, _C4, _SUBSTRATE),
                  "UCIe-A-32", ("UCIe-A-32", "UCIe-S-32"), _UCIE_A),
)}

#: Where a logic die makes its heat: the 20 um next to its bumps (flip-chip; est, as the shipped layouts).
DIE_ACTIVE_THICKNESS = 20e-6
#: The dies of a generated HBM stack (generation set per memory): 8 DRAM dies of 55 um on 20 um bonds
#: over a 60 um base die, 660 um in all, inside the 720 um HBM height limit [P§3] (est, as
#: h100_cowos_s.toml); 55 um / 25 um SAC305 microbumps in underfill (HBM microbump pitch UNSOURCED [P§2]).
HBM_DIES = HBMStack("HBM3", dram_dies=8, die_thickness=55e-6, bond_thickness=20e-6, base_die_thickness=60e-6,
                    bond=Interconnect("microbump", pitch=55e-6, diameter=25e-6, material="sac305", fill="underfill"))
#: A bridge die (EMIB class), priced per bridge [m]: est.
BRIDGE_DIE_SIZE = (8e-3, 3e-3)


def junction_to_lid_resistance(technology: str, materials: Mapping[str, Material] = BUILTIN_MATERIALS) -> float:
    """Area resistance [m² K/W] from a die's junction through the die and the layers above it to the
    top of the lid: Σ thickness / k_z, the die taken as silicon over the die layer's thickness."""
    total = 0.0
    for layer in PACKAGE_RECIPES[technology].layers:
        material = "silicon" if layer.holds_dies else layer.material
        total += layer.thickness / materials[material].kz
        if layer.holds_dies:
            return total
    raise ValueError(f"package recipe {technology!r} has no die layer")


# -- floorplan -----------------------------------------------------------------------------------------

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
    traffic-weighted distance; HBM stacks last, abutting their host where possible.

    Returns ``{"chiplets": {index: (x, y, w, h)}, "hbm": [(memory, k, host index, (x, y, w, h))]}``
    with rectangles [m] relative to an arbitrary origin, in placement order.
    """
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


# -- the stack -------------------------------------------------------------------------------------------

def _materials(layers: Sequence[Layer], derived: Mapping[str, Material]) -> tuple[Material, ...]:
    """The stack's materials as :func:`codesign.load_layout` lists them: every material the layers
    name and the parents of the derived (HBM) materials, sorted by name, then each interconnect
    layer's homogenised material ``"<layer>:<kind>"`` (the name the mesher looks up)."""
    library = {**BUILTIN_MATERIALS, **derived}
    used = set(derived)
    for layer in layers:
        used |= {layer.material, layer.surround} | {c.material for c in layer.chiplets}
        if layer.interconnect is not None:
            used |= {layer.interconnect.material, layer.interconnect.fill}
    for m in derived.values():
        used |= set(m.recipe.parents)
    homogenised = tuple(homogenise_interconnect(layer.interconnect, library[layer.interconnect.material],
                                                library[layer.interconnect.fill],
                                                name=f"{layer.name}:{layer.interconnect.kind}")
                        for layer in layers if layer.interconnect is not None)
    return tuple(library[name] for name in sorted(used)) + homogenised


def build_stack(c: Candidate, system: System, *, traffic: Mapping[tuple, float],
                phy_power: Sequence[float] | None = None) -> Stack:
    """The package stack of candidate ``c``: its floorplan (:func:`floorplan`) in the layers of
    ``PACKAGE_RECIPES[c.technology]``, with the system's boundaries and links.

    Parameters
    ----------
    c : Candidate
    system : System
    traffic : mapping (block, block) → bandwidth [bit/s]
        Per direction, keyed by the sorted block pair.
    phy_power : sequence of float, optional
        Die-to-die PHY power per chiplet [W], replacing the screen's estimate in the die powers.
    """
    s = system
    recipe = PACKAGE_RECIPES[c.technology]
    fp = floorplan(c, s, traffic)
    allr = list(fp["chiplets"].values()) + [r for *_, r in fp["hbm"]]
    x0 = min(r[0] for r in allr)
    y0 = min(r[1] for r in allr)
    x1 = max(r[0] + r[2] for r in allr)
    y1 = max(r[1] + r[3] for r in allr)
    ox, oy = s.margin - x0, s.margin - y0
    package = Rect(0.0, 0.0, x1 - x0 + 2 * s.margin, y1 - y0 + 2 * s.margin)
    carrier = Rect(s.margin - 0.5 * s.spacing, s.margin - 0.5 * s.spacing, x1 - x0 + s.spacing, y1 - y0 + s.spacing)
    die_layer = recipe.die_layer
    chips: list[Chiplet] = []
    for i, (x, y, w, h) in fp["chiplets"].items():
        ch = c.chiplets[i]
        p = ch.power if phy_power is None else ch.power - ch.phy_power + phy_power[i]
        chips.append(Chiplet(name=ch.name, kind="logic", material="silicon", rect=Rect(x + ox, y + oy, w, h),
                             power=max(p, 0.0), active_thickness=DIE_ACTIVE_THICKNESS, tj_max=ch.tj_max))
    derived: dict[str, Material] = {}
    for m, k, _, (x, y, w, h) in fp["hbm"]:
        name = f"{m.name}{k}"
        hbm = dataclasses.replace(HBM_DIES, generation=m.generation)
        block = homogenise_hbm(hbm, die_layer.thickness, BUILTIN_MATERIALS["silicon"],
                               (BUILTIN_MATERIALS[hbm.bond.material], BUILTIN_MATERIALS[hbm.bond.fill]),
                               name=f"hbm:{name}")
        derived[block.name] = block
        chips.append(Chiplet(name=name, kind="hbm", material=block.name, rect=Rect(x + ox, y + oy, w, h),
                             power=m.power, hbm=hbm))
    layers = tuple(
        Layer(name=lr.name, thickness=lr.thickness, material=lr.material,
              extent=package if lr.over == "package" else carrier,
              chiplets=tuple(chips) if lr.holds_dies else (), interconnect=lr.interconnect,
              interconnect_region=lr.interconnect_region)
        for lr in recipe.layers)
    where = {b: i for i, p in enumerate(c.partition) for b in p}
    cut: dict[tuple[int, int], float] = {}
    for (a, b), bw in traffic.items():
        i, j = sorted((where[a], where[b]))
        if i != j:
            cut[(i, j)] = cut.get((i, j), 0.0) + bw
    pairs = [((c.chiplets[i].name, c.chiplets[j].name), bw, "auto") for (i, j), bw in cut.items()]
    pairs += [((c.chiplets[host].name, f"{m.name}{k}"), m.bandwidth, m.generation) for m, k, host, _ in fp["hbm"]]
    links, seen = [], set()
    for ends, bw, phy in pairs:
        name = "-".join(ends)
        while name in seen:            # block names may hold '-': keep link names unique
            name += "'"
        seen.add(name)
        links.append(Link(name=name, endpoints=ends, bandwidth=bw, phy=phy))
    return Stack(
        name=f"{s.name}-cand", description=f"generated by codesign.explore: {c.label}", package=package,
        layers=layers, materials=_materials(layers, derived),
        top=Boundary("heat_sink", s.heat_transfer_coefficient, s.ambient),
        bottom=Boundary("board", s.board_heat_transfer_coefficient, s.board_ambient),
        sides=Boundary("adiabatic", 0.0, 298.15), links=tuple(links),
        mesh=MeshControls(max_lateral_size=s.mesh_size, max_vertical_size=1e-3), source=f"<{c.label}>")
