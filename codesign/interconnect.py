"""The interconnect model: every link of a stack checked against its PHY, placement and package.

:func:`evaluate_links` resolves each :class:`~codesign.stack.Link`'s PHY (by name, or ``"auto"``:
the cheapest feasible one by energy, then area), measures its distance from the placement, sizes
it (modules, lanes, bumps, shoreline, area, integer counts), prices it (power = traffic × energy
per bit + idle, latency) and flags what does not fit. :func:`phy_heat_sources` turns the PHY power
into :class:`~codesign.stack.HeatSource` strips for the thermal model.

Geometry
--------
* **2.5D** (dies in the same layer, or not overlapping): distance = edge-to-edge gap between the
  two rectangles (``link.length`` overrides it). Each die uses the edge facing its peer; the
  shoreline of all links on one die edge is summed and compared with that edge's length.
* **3D** (dies in different layers whose footprints overlap): distance = total thickness of the
  layers between them; the bond field must fit in the overlap.
* **Assembly pitch**: the pitch of the fine-pitch interconnect (``microbump``/``hybrid_bond``)
  directly below a 2.5D die's layer, or of any interconnect layer between two stacked dies. A PHY
  whose bump pitch is finer than that cannot be built on it (``bump_density_exceeded``). C4
  layers are the package attach and do not constrain die-to-die PHYs.

Flags (each is raised strictly above its threshold)
---------------------------------------------------
``reach_exceeded``: distance > PHY reach. ``shoreline_exceeded``: the links' shoreline on a die
edge > the edge's length (both ends checked). ``bump_density_exceeded``: assembly pitch > PHY
pitch, or (3D) bond sites needed > sites in the overlap. ``bandwidth_short``: a PHY with a fixed
module count (one HBM PHY per stack) delivers less than required.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import numpy as np

from .errors import ModelError
from .phys import AUTO_CANDIDATES, PHYS, PhyError, PhySpec, get_phy
from .stack import HeatSource, Link, Rect, Stack

__all__ = [
    "FLAG_NAMES",
    "HBMSummary",
    "InterconnectError",
    "InterconnectReport",
    "LinkResult",
    "OpticsSummary",
    "evaluate_links",
    "phy_heat_sources",
]

FLAG_NAMES = ("reach_exceeded", "shoreline_exceeded", "bump_density_exceeded", "bandwidth_short")
_EDGE_PLACED = ("edge", "memory", "serdes", "optical")
_REL = 1e-12  # relative slack in integer ceilings, so exact multiples are not rounded up by round-off


class InterconnectError(ModelError):
    """A link cannot be evaluated (unknown endpoint or PHY, bad bandwidth); the message names the
    link, the value and the fix. A :class:`codesign.errors.ModelError` (hence also a ``ValueError``)."""


def _ceil(x: float) -> int:
    return max(int(math.ceil(x * (1.0 - _REL))), 0)


# -- results ----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class LinkResult:
    """One evaluated link. Lengths [m], areas [m^2], bandwidth [bit/s], power [W], time [s].

    ``bandwidth`` is the required bandwidth per direction (total for a half-duplex memory bus);
    ``deliverable`` what the modules used provide on the same basis (3D: what the whole overlap
    could carry). ``shoreline`` and ``phy_area`` are per end (``phy_area`` is charged only to
    ``logic`` dies; HBM base dies and optical engines carry their own). For a 3D link
    ``phy_area`` is the bond field (bond sites × pitch^2); it sits over active circuitry, so it is
    not counted in the report's die-area overhead. ``sides`` is the die edge each end uses (``"east"``,
    ``"west"``, ``"north"``, ``"south"``; ``None`` for a 3D bond field), ``edge_length`` its length
    and ``edge_used`` the shoreline of all links sharing that edge.
    """

    name: str
    endpoints: tuple[str, str]
    requested_phy: str
    phy: str
    phy_kind: str
    geometry: str
    bandwidth: float
    deliverable: float
    utilisation: float
    distance: float
    overlap_area: float
    modules: int
    lanes: int
    bumps: int
    bump_sites: int
    shoreline: float
    phy_area: tuple[float, float]
    module_depth: float
    traffic: float
    energy_per_bit: float
    power: float
    latency: float
    sides: tuple[str | None, str | None]
    edge_length: tuple[float, float]
    edge_used: tuple[float, float]
    assembly_pitch: float | None
    reach_exceeded: bool
    shoreline_exceeded: bool
    bump_density_exceeded: bool
    bandwidth_short: bool
    note: str = ""
    spec: PhySpec | None = field(default=None, repr=False, compare=False)

    @property
    def flags(self) -> tuple[str, ...]:
        """Names of the raised flags."""
        return tuple(f for f in FLAG_NAMES if getattr(self, f))

    @property
    def feasible(self) -> bool:
        return not self.flags


@dataclass(frozen=True)
class HBMSummary:
    """Demanded vs deliverable bandwidth of one HBM stack [bit/s]; ``stack_power`` is the power
    the layout gives the stack's chiplet [W] (what the thermal solve uses), so the link table and
    the temperature table show the same number. (The PHY spec's generic per-stack figure,
    ``PhySpec.stack_power``, an UNSOURCED placeholder, is used only where no layout is at hand.)"""

    link: str
    stack: str
    host: str
    phy: str
    demanded: float
    deliverable: float
    stack_power: float | None

    @property
    def utilisation(self) -> float:
        return self.demanded / self.deliverable


@dataclass(frozen=True)
class OpticsSummary:
    """Optical I/O of one link: engines needed, CPO power, and the pluggable alternative's."""

    link: str
    phy: str
    bandwidth: float
    engines: int
    engine_bandwidth: float
    power: float
    alternative: str | None
    alternative_modules: int
    alternative_power: float


@dataclass(frozen=True)
class InterconnectReport:
    """All links of a stack, evaluated (see :func:`evaluate_links`)."""

    stack: str
    links: tuple[LinkResult, ...]
    hbm: tuple[HBMSummary, ...]
    optics: tuple[OpticsSummary, ...]
    die_phy_area: tuple[tuple[str, float, float], ...]  # (die, PHY area, die area) [m^2]
    activity: float = 1.0

    def link(self, name: str) -> LinkResult:
        for r in self.links:
            if r.name == name:
                return r
        raise KeyError(f"no link {name!r}; links are {[r.name for r in self.links]}")

    # -- totals ---------------------------------------------------------------------------------
    @property
    def io_power(self) -> float:
        """Total link power [W]."""
        return float(sum(r.power for r in self.links))

    @property
    def aggregate_bandwidth(self) -> float:
        """Sum of the links' required bandwidth [bit/s]."""
        return float(sum(r.bandwidth for r in self.links))

    @property
    def phy_area(self) -> float:
        """Total edge-placed PHY area on logic dies [m^2] (3D bond fields excluded)."""
        return float(sum(a for _, a, _ in self.die_phy_area))

    @property
    def d2d_area_overhead(self) -> float:
        """Edge-placed PHY area / area of the logic dies that carry it (a fraction; × 100 for %).

        3D bond fields are not included (they overlap the dies' circuits)."""
        die = sum(d for _, _, d in self.die_phy_area)
        return self.phy_area / die if die > 0 else 0.0

    @property
    def hbm_demanded(self) -> float:
        return float(sum(h.demanded for h in self.hbm))

    @property
    def hbm_deliverable(self) -> float:
        return float(sum(h.deliverable for h in self.hbm))

    @property
    def optical_power(self) -> float:
        return float(sum(o.power for o in self.optics))

    @property
    def pluggable_power(self) -> float:
        return float(sum(o.alternative_power for o in self.optics))

    @property
    def flagged(self) -> tuple[LinkResult, ...]:
        return tuple(r for r in self.links if r.flags)

    # -- output ----------------------------------------------------------------------------------
    def table(self) -> str:
        """A text table of the links, then the HBM and optics summaries and the totals."""
        head = (f"{'link':<18} {'phy':<13} {'geo':<4} {'dist mm':>7} {'BW GB/s':>9} {'util %':>6} {'pJ/b':>6} "
                f"{'power W':>8} {'area mm2':>8} {'shore mm':>8} {'lat ns':>6}  flags")
        lines = [f"Interconnect report: {self.stack} ({len(self.links)} links)", head, "-" * len(head)]
        short = {"reach_exceeded": "REACH", "shoreline_exceeded": "SHORELINE",
                 "bump_density_exceeded": "BUMPS", "bandwidth_short": "BW-SHORT"}
        for r in self.links:
            flags = ",".join(short[f] for f in r.flags) or "ok"
            lines.append(
                f"{r.name[:18]:<18} {r.phy[:13]:<13} {r.geometry:<4} {r.distance * 1e3:7.3f} "
                f"{r.bandwidth / 8e9:9.1f} {100 * r.utilisation:6.1f} {r.energy_per_bit * 1e12:6.3f} "
                f"{r.power:8.2f} {sum(r.phy_area) * 1e6:8.3f} {r.shoreline * 1e3:8.2f} {r.latency * 1e9:6.2f}  {flags}")
        if self.hbm:
            lines.append("")
            lines.append(f"HBM: {len(self.hbm)} stacks, demanded {self.hbm_demanded / 8e12:.3f} TB/s of "
                         f"{self.hbm_deliverable / 8e12:.3f} TB/s deliverable "
                         f"({100 * self.hbm_demanded / self.hbm_deliverable:.1f} %)")
            for h in self.hbm:
                sp = f", {h.stack_power:.3g} W (layout power of the stack)" if h.stack_power is not None else ""
                lines.append(f"  {h.stack:<10} {h.phy:<6} {h.demanded / 8e9:8.1f} of {h.deliverable / 8e9:8.1f} GB/s{sp}")
        if self.optics:
            lines.append("")
            eng = sum(o.engines for o in self.optics)
            alt = sum(o.alternative_modules for o in self.optics)
            lines.append(f"Optics: {eng} engines, optical I/O {self.optical_power:.1f} W vs "
                         f"{self.pluggable_power:.1f} W with {alt} pluggable ports "
                         f"({self.pluggable_power / self.optical_power:.2f}x)" if self.optical_power > 0 else
                         f"Optics: {eng} engines")
        lines.append("")
        lines.append(f"Totals: I/O power {self.io_power:.2f} W; aggregate bandwidth {self.aggregate_bandwidth / 8e12:.3f} "
                     f"TB/s; PHY area {self.phy_area * 1e6:.2f} mm2 = {100 * self.d2d_area_overhead:.2f} % of "
                     f"the logic dies; {len(self.flagged)} link(s) flagged")
        return "\n".join(lines)

    def to_dict(self) -> dict:
        """A JSON-serialisable dict (SI units), with the totals."""
        def conv(x: Any) -> Any:
            if dataclasses.is_dataclass(x):
                return {f.name: conv(getattr(x, f.name)) for f in dataclasses.fields(x)}
            if isinstance(x, (tuple, list)):
                return [conv(v) for v in x]
            if isinstance(x, (np.floating, np.integer)):
                return x.item()
            return x

        d = conv(self)
        for r, rd in zip(self.links, d["links"]):
            rd["flags"] = list(r.flags)
        d["die_phy_area"] = [dict(die=n, phy_area=a, die_area=da) for n, a, da in self.die_phy_area]
        d["totals"] = dict(io_power=self.io_power, aggregate_bandwidth=self.aggregate_bandwidth,
                           phy_area=self.phy_area, d2d_area_overhead=self.d2d_area_overhead,
                           hbm_demanded=self.hbm_demanded, hbm_deliverable=self.hbm_deliverable,
                           optical_power=self.optical_power, pluggable_power=self.pluggable_power,
                           flagged=[r.name for r in self.flagged])
        return d


# -- geometry ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class _Geometry:
    three_d: bool
    distance: float
    overlap: Rect | None
    sides: tuple[str, str]
    edge_length: tuple[float, float]
    assembly_pitch: float | None
    fine_pitch_path: bool


def _intersection(a: Rect, b: Rect) -> Rect | None:
    x0, y0 = max(a.x, b.x), max(a.y, b.y)
    x1, y1 = min(a.x1, b.x1), min(a.y1, b.y1)
    return Rect(x0, y0, x1 - x0, y1 - y0) if x1 > x0 and y1 > y0 else None


_OPPOSITE = {"east": "west", "west": "east", "north": "south", "south": "north"}


def _facing_side(a: Rect, b: Rect) -> str:
    gx = max(b.x - a.x1, a.x - b.x1, 0.0)
    gy = max(b.y - a.y1, a.y - b.y1, 0.0)
    (cax, cay), (cbx, cby) = a.centre, b.centre
    if gx > gy:
        horizontal = True
    elif gy > gx:
        horizontal = False
    else:  # touching, or stacked: the dominant normalised centre offset decides
        horizontal = abs(cbx - cax) / (a.width + b.width) >= abs(cby - cay) / (a.height + b.height)
    if horizontal:
        return "east" if cbx >= cax else "west"
    return "north" if cby >= cay else "south"


def _edge_len(r: Rect, side: str) -> float:
    return r.height if side in ("east", "west") else r.width


def _geometry(stack: Stack, a: str, b: str) -> _Geometry:
    ca, cb = stack.chiplet(a), stack.chiplet(b)
    names = [layer.name for layer in stack.layers]
    ia, ib = names.index(stack.layer_of(a).name), names.index(stack.layer_of(b).name)
    overlap = _intersection(ca.rect, cb.rect)
    side_a = _facing_side(ca.rect, cb.rect)
    side_b = _OPPOSITE[side_a]
    edges = (_edge_len(ca.rect, side_a), _edge_len(cb.rect, side_b))
    if ia != ib and overlap is not None:
        lo, hi = sorted((ia, ib))
        between = stack.layers[lo + 1:hi]
        pitches = [l.interconnect.pitch for l in between if l.interconnect is not None]
        return _Geometry(True, float(sum(l.thickness for l in between)), overlap, (side_a, side_b), edges,
                         max(pitches) if pitches else None, True)
    gx = max(cb.rect.x - ca.rect.x1, ca.rect.x - cb.rect.x1, 0.0)
    gy = max(cb.rect.y - ca.rect.y1, ca.rect.y - cb.rect.y1, 0.0)
    pitches, fine = [], []
    for i in (ia, ib):
        below = stack.layers[i + 1] if i + 1 < len(stack.layers) else None
        ok = below is not None and below.interconnect is not None and below.interconnect.kind in (
            "microbump", "hybrid_bond")
        fine.append(ok)
        if ok:
            pitches.append(below.interconnect.pitch)
    bridge = any(c.kind == "bridge" and c.rect.overlaps(ca.rect) and c.rect.overlaps(cb.rect)
                 for layer in stack.layers for c in layer.chiplets)
    return _Geometry(False, math.hypot(gx, gy), None, (side_a, side_b), edges,
                     max(pitches) if pitches else None, all(fine) or bridge)


# -- one link ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class _Sized:
    spec: PhySpec
    modules: int
    modules_needed: int
    lanes: int
    bumps: int
    sites: int
    area: float
    shoreline: float
    deliverable: float
    traffic: float
    power: float
    latency: float
    distance: float
    reach: bool
    bumps_flag: bool
    short: bool


def _size(link: Link, spec: PhySpec, geo: _Geometry, activity: float) -> _Sized:
    bw = link.bandwidth
    distance = link.length if link.length is not None else geo.distance
    needed = max(_ceil(bw / spec.module_bandwidth), 1)
    modules = min(needed, spec.max_modules) if spec.max_modules is not None else needed
    lanes = modules * spec.lanes * spec.directions
    coarse = geo.assembly_pitch is not None and geo.assembly_pitch > spec.bump_pitch * (1 + _REL)
    if spec.kind == "areal":
        pitch = max(spec.bump_pitch, geo.assembly_pitch or 0.0)
        bumps = _ceil(lanes / spec.signal_fraction)
        sites = int(math.floor(geo.overlap.area / pitch**2 * (1 + _REL))) if geo.overlap is not None else 0
        area = bumps * pitch**2
        shoreline = 0.0
        bumps_flag = coarse or bumps > sites
    else:
        bumps = modules * spec.bumps_per_module
        sites = bumps
        area = modules * spec.module_area
        shoreline = modules * spec.module_width
        bumps_flag = coarse
    traffic = bw * spec.traffic_factor * activity
    power = traffic * spec.energy_per_bit + modules * spec.idle_power
    if spec.kind == "areal":  # what the overlap can carry, per direction
        deliverable = math.floor(sites * spec.signal_fraction / spec.directions * (1 + _REL)) * spec.lane_rate
    else:
        deliverable = modules * spec.module_bandwidth
    return _Sized(spec, modules, needed, lanes, bumps, sites, area, shoreline, deliverable,
                  traffic, power, spec.latency + distance * spec.propagation_delay, distance,
                  distance > spec.reach * (1 + _REL), bumps_flag, needed > modules)


def _validate(stack: Stack, link: Link, index: int) -> None:
    names = [c.name for c in stack.chiplets]
    where = f"`evaluate_links`: link {link.name!r} (links[{index}])"
    if not (isinstance(link.endpoints, tuple) and len(link.endpoints) == 2):
        raise InterconnectError(f"{where}: endpoints must be two chiplet names, got {link.endpoints!r}")
    for e in link.endpoints:
        if e not in names:
            close = difflib.get_close_matches(str(e), names, n=1, cutoff=0.5)
            hint = f"did you mean {close[0]!r}? " if close else ""
            raise InterconnectError(f"{where}: unknown endpoint {e!r}; {hint}Chiplets: {', '.join(sorted(names))}")
    if link.endpoints[0] == link.endpoints[1]:
        raise InterconnectError(f"{where}: both endpoints are {link.endpoints[0]!r}; a link joins two different "
                                "chiplets")
    if not (isinstance(link.bandwidth, (int, float)) and math.isfinite(link.bandwidth) and link.bandwidth > 0):
        raise InterconnectError(f"{where}: bandwidth must be a positive number of bit/s, got {link.bandwidth!r}; "
                                "e.g. 819 GB/s = 6.552e12")
    if link.length is not None and not (math.isfinite(link.length) and link.length >= 0):
        raise InterconnectError(f"{where}: length must be a non-negative number of metres, got {link.length!r}")


def _candidates(stack: Stack, link: Link, geo: _Geometry, table: Mapping[str, PhySpec],
                names: Sequence[str]) -> list[PhySpec]:
    chips = [stack.chiplet(e) for e in link.endpoints]
    specs = [table[n] for n in names if n in table]
    hbm = [c for c in chips if c.kind == "hbm"]
    if hbm:
        gen = hbm[0].hbm.generation if hbm[0].hbm is not None else None
        if gen is not None and gen in table and table[gen].kind == "memory":
            return [table[gen]]
        return [s for s in specs if s.kind == "memory"]
    if any(c.kind == "optical_engine" for c in chips):
        return [s for s in specs if s.kind == "optical" and s.alternative is not None]
    if geo.three_d:
        return [s for s in specs if s.kind == "areal"]
    return [s for s in specs if s.kind in ("edge", "serdes")
            and (geo.fine_pitch_path or s.bump_pitch >= 100e-6)]


def _edge_key(die: str, side: str) -> tuple[str, str]:
    return (die, side)


def evaluate_links(stack: Stack, *, phys: Mapping[str, PhySpec] | None = None, activity: float = 1.0,
                   auto_candidates: Sequence[str] | None = None) -> InterconnectReport:
    """Evaluate every link of ``stack`` against its PHY, its placement and the package.

    Parameters
    ----------
    stack : Stack
    phys : mapping of str to PhySpec, optional
        PHYs added to (or replacing, by name) the built-in :data:`codesign.phys.PHYS`; a link's
        ``phy`` is looked up here first (``{"optical": PHYS["CPO-Bailly"]}`` re-points a name).
    activity : float
        Fraction of the required bandwidth actually moved on average (1: power at full demand).
    auto_candidates : sequence of str, optional
        PHY names ``phy = "auto"`` chooses from (default :data:`codesign.phys.AUTO_CANDIDATES`
        plus every name in ``phys``).

    Returns
    -------
    InterconnectReport

    Raises
    ------
    InterconnectError
        For an unknown endpoint or PHY name (suggesting the nearest), or a bad bandwidth.

    Examples
    --------
    >>> from codesign import load_layout
    >>> rep = evaluate_links(load_layout("h100_cowos_s"))
    >>> round(rep.hbm_demanded / 8e12, 2), round(rep.hbm_deliverable / 8e12, 3)
    (3.35, 4.096)
    """
    if not (isinstance(activity, (int, float)) and 0 <= activity <= 1):
        raise InterconnectError(f"`evaluate_links(activity={activity!r})`: give a fraction between 0 and 1")
    # The layout's own [phys] tables come first; `phys=` overrides both them and the library.
    phys = {**{p.name: p for p in getattr(stack, "phys", ())}, **dict(phys or {})}
    table: dict[str, PhySpec] = {**PHYS, **phys}
    names = list(auto_candidates) if auto_candidates is not None else list(AUTO_CANDIDATES) + [
        n for n in phys if n not in AUTO_CANDIDATES]
    geos: list[_Geometry] = []
    sized: list[_Sized | None] = []
    notes: list[str] = []
    used: dict[tuple[str, str], float] = {}

    def add_use(link: Link, geo: _Geometry, s: _Sized) -> None:
        if s.spec.kind in _EDGE_PLACED:
            for die, side in zip(link.endpoints, geo.sides):
                used[_edge_key(die, side)] = used.get(_edge_key(die, side), 0.0) + s.shoreline

    # Pass 1: links with a named PHY.
    for i, link in enumerate(stack.links):
        _validate(stack, link, i)
        geo = _geometry(stack, *link.endpoints)
        geos.append(geo)
        if link.phy == "auto":
            sized.append(None)
            notes.append("")
            continue
        try:
            spec = get_phy(link.phy, table, where=f"`evaluate_links`: link {link.name!r} (links[{i}]).phy")
        except PhyError as e:
            raise InterconnectError(str(e)) from None
        s = _size(link, spec, geo, activity)
        sized.append(s)
        notes.append("")
        add_use(link, geo, s)

    # Pass 2: "auto" links, greedily in file order, each seeing the shoreline already used.
    for i, link in enumerate(stack.links):
        if sized[i] is not None:
            continue
        geo = geos[i]
        cands = _candidates(stack, link, geo, table, names)
        if not cands:
            raise InterconnectError(f"`evaluate_links`: link {link.name!r} (links[{i}]) has phy = \"auto\" but no "
                                    "candidate PHY fits its geometry; name a PHY or pass `auto_candidates=`")
        scored = []
        for spec in cands:
            s = _size(link, spec, geo, activity)
            shore = any(s.spec.kind in _EDGE_PLACED
                        and used.get(_edge_key(d, side), 0.0) + s.shoreline > length * (1 + _REL)
                        for d, side, length in zip(link.endpoints, geo.sides, geo.edge_length))
            nflags = int(s.reach) + int(s.bumps_flag) + int(s.short) + int(shore)
            scored.append((nflags, s.power, 2 * s.area, spec.name, s))
        scored.sort(key=lambda t: t[:4])
        best = scored[0][4]
        sized[i] = best
        notes[i] = (f"auto: {best.spec.name} of {len(cands)} candidates"
                    + ("" if scored[0][0] == 0 else "; no candidate is feasible, fewest flags chosen"))
        add_use(link, geo, best)

    results, hbm, optics = [], [], []
    die_area: dict[str, float] = {}
    for link, geo, s, note in zip(stack.links, geos, sized, notes):
        assert s is not None
        spec = s.spec
        edge_placed = spec.kind in _EDGE_PLACED
        edge_used = tuple(used.get(_edge_key(d, side), 0.0) if edge_placed else 0.0
                          for d, side in zip(link.endpoints, geo.sides))
        shore_flag = edge_placed and any(u > length * (1 + _REL) for u, length in zip(edge_used, geo.edge_length))
        chips = [stack.chiplet(e) for e in link.endpoints]
        area = tuple(s.area if c.kind == "logic" else 0.0 for c in chips)
        for c, a in zip(chips, area):
            if a > 0 and edge_placed:
                die_area[c.name] = die_area.get(c.name, 0.0) + a
        r = LinkResult(
            name=link.name, endpoints=link.endpoints, requested_phy=link.phy, phy=spec.name, phy_kind=spec.kind,
            geometry="3D" if geo.three_d else "2.5D", bandwidth=link.bandwidth, deliverable=s.deliverable,
            utilisation=link.bandwidth / s.deliverable, distance=s.distance,
            overlap_area=geo.overlap.area if geo.overlap is not None else 0.0, modules=s.modules, lanes=s.lanes,
            bumps=s.bumps, bump_sites=s.sites, shoreline=s.shoreline if edge_placed else 0.0, phy_area=area,
            module_depth=spec.module_depth, traffic=s.traffic, energy_per_bit=spec.energy_per_bit, power=s.power,
            latency=s.latency, sides=geo.sides if (edge_placed or not geo.three_d) else (None, None),
            edge_length=geo.edge_length if edge_placed else (0.0, 0.0), edge_used=edge_used,
            assembly_pitch=geo.assembly_pitch, reach_exceeded=s.reach, shoreline_exceeded=shore_flag,
            bump_density_exceeded=s.bumps_flag, bandwidth_short=s.short, note=note, spec=spec)
        results.append(r)
        if spec.kind == "memory":
            stack_chip = next((c for c in chips if c.kind == "hbm"), chips[1])
            host = next(c for c in chips if c is not stack_chip)
            hbm.append(HBMSummary(link.name, stack_chip.name, host.name, spec.name, link.bandwidth,
                                  s.deliverable, stack_chip.total_power))
        if spec.kind == "optical":
            alt_spec = table.get(spec.alternative) if spec.alternative else None
            if alt_spec is not None:
                alt = _size(link, alt_spec, geo, activity)
                optics.append(OpticsSummary(link.name, spec.name, link.bandwidth, s.modules, spec.module_bandwidth,
                                            s.power, alt_spec.name, alt.modules, alt.power))
            else:
                optics.append(OpticsSummary(link.name, spec.name, link.bandwidth, s.modules, spec.module_bandwidth,
                                            s.power, None, 0, 0.0))
    die_phy = tuple((n, a, stack.chiplet(n).rect.area) for n, a in sorted(die_area.items()))
    return InterconnectReport(stack.name, tuple(results), tuple(hbm), tuple(optics), die_phy, float(activity))


# -- heat -------------------------------------------------------------------------------------------

def _strip(die: Rect, side: str, length: float, depth: float, towards: tuple[float, float]) -> Rect:
    """A ``length × depth`` strip inside ``die`` along ``side``, centred on ``towards``."""
    along = die.height if side in ("east", "west") else die.width
    across = die.width if side in ("east", "west") else die.height
    length = min(length, along) if length > 0 else along
    depth = min(depth, across) if depth > 0 else across
    if side in ("east", "west"):
        y = min(max(towards[1] - 0.5 * length, die.y), die.y1 - length)
        x = die.x1 - depth if side == "east" else die.x
        return Rect(x, y, depth, length)
    x = min(max(towards[0] - 0.5 * length, die.x), die.x1 - length)
    y = die.y1 - depth if side == "north" else die.y
    return Rect(x, y, length, depth)


def phy_heat_sources(stack: Stack, report: InterconnectReport, *, split: float = 0.5) -> tuple[HeatSource, ...]:
    """Each link's PHY power as heat in its two dies, for :func:`codesign.build`.

    A 2.5D link puts ``split`` of its power in the first endpoint and the rest in the second,
    each as a strip along the die edge facing the peer: as long as the link's shoreline (the whole
    edge if that is longer), as deep as one PHY module, centred on the peer. A 3D link puts it
    over the overlap of the two dies. Names are ``"phy:<link>"`` and ``origin`` is
    ``"interconnect"``.

    The shipped layouts already include some PHY power in their chiplets' ``power_blocks``; add
    these sources only where the chiplet powers exclude I/O, or the heat is counted twice.

    Examples
    --------
    >>> from codesign import load_layout
    >>> stack = load_layout("demo")
    >>> rep = evaluate_links(stack)
    >>> hs = phy_heat_sources(stack, rep)
    >>> abs(sum(h.power for h in hs) - rep.io_power) < 1e-9
    True
    """
    if not 0 <= split <= 1:
        raise InterconnectError(f"`phy_heat_sources(split={split!r})`: give a fraction between 0 and 1")
    out = []
    for r in report.links:
        chips = [stack.chiplet(e) for e in r.endpoints]
        for k, (chip, peer, frac) in enumerate(zip(chips, chips[::-1], (split, 1 - split))):
            p = r.power * frac
            if p <= 0:
                continue
            if r.phy_kind == "areal" or r.sides[k] is None:
                rect = _intersection(chip.rect, peer.rect) or chip.rect
            else:
                rect = _strip(chip.rect, r.sides[k], r.shoreline, r.module_depth, peer.rect.centre)
            out.append(HeatSource(name=f"phy:{r.name}", chiplet=chip.name, rect=rect, power=p, origin="interconnect"))
    return tuple(out)
