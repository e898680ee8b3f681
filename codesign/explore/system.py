"""System files: what a package has to do (blocks, traffic, HBM), read into a :class:`System`.

The format is documented in ``docs/system-format.md``. Every quantity is a string with a unit;
all problems of a file are collected and raised once as a :class:`SystemFileError` naming the
field path, the value and the fix.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from .._files import parse_toml, read_text
from ..cost import DEFAULT_COST_PARAMS, CostError
from ..cost_io import read_cost_table
from ..errors import InputFileError
from ..phys import PhyError, get_phy
from ._checks import MAX_NAME_CHARS, MAX_TEXT_CHARS, Checker, join, nearest, show
from .floorplan import PACKAGE_RECIPES

__all__ = ["Block", "KELVIN", "Memory", "System", "SystemFileError", "TECHNOLOGIES", "Traffic", "load_system",
           "loads_system"]

KELVIN = 273.15
#: Package technologies a system may list: the keys of the package recipe table.
TECHNOLOGIES = tuple(PACKAGE_RECIPES)
#: Default HBM footprint [m]: est (exact HBM footprints are UNSOURCED, parameters.md §3).
HBM_SIZE = (11e-3, 10e-3)
_HBM_GENERATIONS = ("HBM2", "HBM2E", "HBM3", "HBM3E", "HBM4")
_FORBIDDEN = "/:+"     # '/' and ':' build mesh region and material names; '+' joins block names into chiplets


class SystemFileError(InputFileError):
    """A system file problem; the message lists every problem with its path and the fix."""


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
    """``count`` HBM stacks attached to block ``attach``; per-stack bandwidth [bit/s] and power [W].

    The stacks are named ``f"{name}{k}"``, ``k = 0 … count − 1``."""

    name: str
    generation: str
    count: int
    attach: str
    bandwidth: float
    power: float
    size: tuple[float, float] = HBM_SIZE

    @property
    def stack_names(self) -> tuple[str, ...]:
        return tuple(f"{self.name}{k}" for k in range(self.count))


@dataclass(frozen=True)
class System:
    """A system to partition (see ``docs/system-format.md``). SI units; temperatures in K."""

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
    cost: object = None   # the file's [cost] table (codesign.cost_io.CostInputs); None: cost defaults

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


#: Most HBM stacks one [[memory]] entry may describe (packages carry at most 12 today).
MAX_STACKS = 64
#: Most blocks a system may have (partition search is exponential in the block count).
MAX_BLOCKS = 256
_TOP_KEYS = ("schema", "name", "description", "volume", "options", "node_scaling", "package", "blocks", "traffic",
             "memory", "cost")
_OPTION_KEYS = ("nodes", "technologies", "max_chiplets", "tj_max", "mesh_size")
_PACKAGE_KEYS = ("spacing", "margin", "heat_transfer_coefficient", "ambient", "board_heat_transfer_coefficient",
                 "board_ambient")
_BLOCK_KEYS = ("name", "area", "power", "node", "nodes", "design", "scales", "tj_max")
_MEMORY_KEYS = ("name", "generation", "count", "attach", "bandwidth", "power", "size")
#: Layers of the thinnest generated stack (lid, TIM, dies, C4, substrate): a lower bound for the cell guard.
_MIN_LAYERS = 5


def _node(ck: Checker, name, path: str, params=DEFAULT_COST_PARAMS) -> bool:
    try:
        params.node(name)
        return True
    except CostError as e:
        ck.err(path, str(e))
        return False


def _names(ck: Checker, tbl: dict, key: str, path: str, default, *, what: str, example: str) -> tuple[str, ...]:
    """A non-empty list of distinct names at ``tbl[key]`` (``default`` when absent)."""
    p = join(path, key)
    if key not in tbl:
        return tuple(default)
    v = tbl[key]
    if (not isinstance(v, list) or not v or not all(isinstance(x, str) and 0 < len(x) <= MAX_NAME_CHARS for x in v)):
        ck.err(p, f"give a non-empty list of {what} such as {example}, got {show(v)}")
        return tuple(default)
    if len(set(v)) != len(v):
        ck.err(p, f"{sorted({x for x in v if v.count(x) > 1})} listed twice; list each once")
    return tuple(v)


def _block_name(ck: Checker, tbl: dict, key: str, path: str, *, required: bool, default: str | None) -> str | None:
    v = ck.string(tbl, key, path, required=required, default=None, what="a name such as \"gpc0\"")
    if v is None:
        return default
    if not v or any(ch in v for ch in _FORBIDDEN):
        ck.err(join(path, key), f"give a non-empty name without '/', ':' or '+', got {show(v)}")
        return default
    return v


def loads_system(text: str, *, source: str = "<string>") -> System:
    """Parse a system TOML text (format: ``docs/system-format.md``); all problems raised at once.

    Every key is checked: an unknown key (with a did-you-mean), a value of the wrong type, a unit of
    the wrong kind or a number out of its range is a problem, never replaced by a default.

    Raises
    ------
    SystemFileError
        Listing every problem with its field path, the value and the fix.
    """
    doc = parse_toml(text, error=SystemFileError, source=source)
    ck = Checker()
    ck.table(doc, "", _TOP_KEYS)
    schema = doc.get("schema")
    if isinstance(schema, bool) or schema != 1:
        ck.err("schema", f"must be 1 (schema = 1 at the top of the file), got {show(schema)}")
    name = ck.string(doc, "name", "", default="system", what="a name such as \"gpu_soc\"")
    description = ck.string(doc, "description", "", default="", max_chars=MAX_TEXT_CHARS, what="a text")
    volume = ck.number(doc, "volume", "", lo=0.0, hi=1e12, lo_open=True, default=1e6)
    cost = read_cost_table(doc["cost"], "cost", ck.err, source_file=source) if "cost" in doc else None
    cparams = cost.params if cost is not None else DEFAULT_COST_PARAMS
    if cost is not None and cost.volume is not None:
        if "volume" in doc:
            ck.err("cost.volume", "volume is given twice (top-level volume and [cost] volume); keep one")
        volume = cost.volume

    opts = ck.table(doc.get("options"), "options", _OPTION_KEYS) or {}
    default_nodes = _names(ck, opts, "nodes", "options", ["N5"], what="process nodes", example='["N5", "N7"]')
    for n in default_nodes:
        _node(ck, n, "options.nodes", cparams)
    techs = _names(ck, opts, "technologies", "options", ["organic_substrate", "silicon_interposer"],
                   what="package technologies", example='["organic_substrate", "silicon_interposer"]')
    for t in techs:
        if t not in TECHNOLOGIES:
            ck.err("options.technologies", f"unknown technology {show(t)}{nearest(t, TECHNOLOGIES)}")

    scaling = []
    raw_scaling = doc.get("node_scaling", {})
    if not isinstance(raw_scaling, dict):
        ck.err("node_scaling", f"expected [node_scaling.NODE] tables, got {show(raw_scaling)}")
        raw_scaling = {}
    for node, tbl in raw_scaling.items():
        path = f"node_scaling.{node}"
        if not _node(ck, node, path, cparams):
            continue
        tbl = ck.table(tbl, path, ("area", "power"), example=' such as { area = "1.8", power = "1.35" }')
        if tbl is None:
            continue
        a = ck.number(tbl, "area", path, lo=1e-3, hi=1e3, lo_open=False, required=True, allow_string=True)
        p = ck.number(tbl, "power", path, lo=1e-3, hi=1e3, lo_open=False, required=True, allow_string=True)
        if a is not None and p is not None:
            scaling.append((node, a, p))
    known_scaling = {n for n, _, _ in scaling}

    blocks = []
    raw_blocks = ck.tables(doc.get("blocks"), "blocks", example=' (name, area, power)')
    if len(raw_blocks) > MAX_BLOCKS:
        ck.err("blocks", f"{len(raw_blocks)} blocks, more than the {MAX_BLOCKS} a system may have; merge blocks")
        raw_blocks = []
    for i, (path, b) in enumerate(raw_blocks):
        ck.table(b, path, _BLOCK_KEYS)
        bname = _block_name(ck, b, "name", path, required=True, default=None)
        nodes = _names(ck, b, "nodes", path, default_nodes, what="process nodes", example='["N5", "N7"]')
        node = ck.string(b, "node", path, default=nodes[0], what="a process node such as \"N5\"")
        ok_nodes = all([_node(ck, n, f"{path}.nodes", cparams) for n in nodes]
                       + [_node(ck, node, f"{path}.node", cparams)])
        if ok_nodes and len(set(nodes) | {node}) > 1:
            for n in sorted(set(nodes) | {node}):
                if n not in known_scaling:
                    ck.err(f"{path}.nodes", f"node {n!r} has no [node_scaling.{n}] entry (area and power factors); "
                                            "add one")
        area = ck.quantity(b, "area", path, "area", required=True)
        power = ck.quantity(b, "power", path, "power", required=True)
        design = ck.string(b, "design", path, default=bname, what="a design name such as \"gpc\"")
        scales = ck.boolean(b, "scales", path, default=True)
        tj = ck.quantity(b, "tj_max", path, "temperature")
        if bname is not None and area is not None and power is not None:
            blocks.append(Block(name=bname, area=area, power=power, node=node, nodes=nodes,
                                design=design if design is not None else bname, scales=scales, tj_max=tj))
    names = [b.name for b in blocks]
    if len(set(names)) != len(names):
        ck.err("blocks", f"block names must be unique: {sorted({n for n in names if names.count(n) > 1})} "
                         "used more than once; rename them")
    # every name given, valid or not: a reference to a block with problems of its own is not one more problem
    given = {b.get("name") for _, b in raw_blocks if isinstance(b.get("name"), str)}
    if not raw_blocks and "blocks" not in {p for p, _ in ck.problems}:
        ck.err("blocks", "give at least one [[blocks]] table (name, area, power)")

    traffic = []
    for path, t in ck.tables(doc.get("traffic"), "traffic", example=' (between, bandwidth)'):
        ck.table(t, path, ("between", "bandwidth"))
        between = t.get("between")
        bw = ck.quantity(t, "bandwidth", path, "bandwidth", required=True)
        if (not isinstance(between, list) or len(between) != 2 or not all(isinstance(x, str) for x in between)
                or between[0] == between[1]):
            ck.err(f"{path}.between", f"give two different block names such as [\"a\", \"b\"], got {show(between)}")
            continue
        unknown = [x for x in between if x not in given]
        if unknown:
            ck.err(f"{path}.between", f"unknown block {show(unknown[0])}{nearest(unknown[0], sorted(given))}")
        if any(x not in names for x in between):
            continue
        if bw is not None:
            traffic.append(Traffic((between[0], between[1]), bw))

    memory = []
    stack_names: dict[str, str] = {}
    for i, (path, m) in enumerate(ck.tables(doc.get("memory"), "memory", example=" (attach, bandwidth, power)")):
        ck.table(m, path, _MEMORY_KEYS)
        attach = ck.string(m, "attach", path, required=True, what=f"the name of the block the stacks attach to")
        if attach is not None and attach not in names:
            if attach not in given:
                ck.err(f"{path}.attach", f"unknown block {show(attach)}{nearest(attach, sorted(given))}")
            attach = None
        mname = _block_name(ck, m, "name", path, required=False, default=None if "name" in m else f"hbm{i}")
        generation = ck.string(m, "generation", path, default="HBM3", choices=_HBM_GENERATIONS,
                               what="an HBM generation such as \"HBM3\"", noun="HBM generation")
        count = ck.integer(m, "count", path, lo=1, hi=MAX_STACKS, default=1,
                           hint=f" (at most {MAX_STACKS} stacks per [[memory]] entry)")
        bw = ck.quantity(m, "bandwidth", path, "bandwidth", required=True)
        pw = ck.quantity(m, "power", path, "power", required=True)
        size = m.get("size", ["11 mm", "10 mm"])
        sz = None
        if not isinstance(size, list) or len(size) != 2:
            ck.err(f"{path}.size", f"give [width, height] lengths such as [\"11 mm\", \"10 mm\"], got {show(size)}")
        else:
            w = ck.value(size[0], f"{path}.size[0]", "length", lo=1e-4, hi=0.1)
            h = ck.value(size[1], f"{path}.size[1]", "length", lo=1e-4, hi=0.1)
            sz = (w, h) if w is not None and h is not None else None
        if None in (attach, mname, generation, count, bw, pw, sz):
            continue
        mem = Memory(name=mname, generation=generation, count=count, attach=attach, bandwidth=bw, power=pw, size=sz)
        for s in mem.stack_names:       # HBM stacks become chiplets next to the blocks' chiplets
            clash = "a block" if s in names else stack_names.get(s)
            if clash:
                ck.err(f"{path}.name", f"stack name {s!r} is also the name of {clash}; rename one")
                break
            stack_names[s] = path
        memory.append(mem)
    if memory and techs == ("organic_substrate",):
        ck.err("options.technologies", "HBM needs a fine-pitch carrier: add silicon_interposer, organic_rdl or bridge")

    pkg = ck.table(doc.get("package"), "package", _PACKAGE_KEYS) or {}
    package = dict(
        spacing=ck.quantity(pkg, "spacing", "package", "length", default=1e-3, lo=0.0, hi=0.1),
        margin=ck.quantity(pkg, "margin", "package", "length", default=5e-3, lo=0.0, hi=0.5),
        heat_transfer_coefficient=ck.quantity(pkg, "heat_transfer_coefficient", "package", "heat_transfer_coefficient",
                                              default=2e4),
        ambient=ck.quantity(pkg, "ambient", "package", "temperature", default=35 + KELVIN),
        board_heat_transfer_coefficient=ck.quantity(pkg, "board_heat_transfer_coefficient", "package",
                                                    "heat_transfer_coefficient", default=300.0),
        board_ambient=ck.quantity(pkg, "board_ambient", "package", "temperature", default=45 + KELVIN))
    max_chiplets = ck.integer(opts, "max_chiplets", "options", lo=1, hi=MAX_BLOCKS + MAX_STACKS,
                              default=max(len(blocks), 1))
    tj_max = ck.quantity(opts, "tj_max", "options", "temperature", default=105 + KELVIN)
    mesh_size = ck.quantity(opts, "mesh_size", "options", "length", default=2e-3, lo=1e-5, hi=0.1)
    if None not in (tj_max, package["ambient"]) and tj_max <= package["ambient"]:
        ck.err("options.tj_max", f"the junction limit {tj_max - KELVIN:.4g} degC is not above the heat-sink ambient "
                                 f"{package['ambient'] - KELVIN:.4g} degC (package.ambient); no design can meet it")
    if mesh_size is not None and package["margin"] is not None and not ck.problems:
        # a lower bound of the generated stacks' cell count: the dies alone, square, plus the margin
        area = sum(b.area for b in blocks) + sum(m.count * m.size[0] * m.size[1] for m in memory)
        side = math.sqrt(area) + 2 * package["margin"]
        cells = (math.ceil(side / mesh_size) ** 2) * _MIN_LAYERS
        limit = _cell_limit()
        if cells > limit:
            ck.err("options.mesh_size", f"a {mesh_size * 1e3:g} mm mesh gives every generated stack at least "
                                        f"{cells:,} cells (limit {limit:,}); give a coarser mesh_size")
    if ck.problems:
        raise SystemFileError(source, ck.problems)
    for m in memory:                    # validated above; the PHY library must know the generation
        try:
            get_phy(m.generation)
        except PhyError as e:
            raise SystemFileError(source, [("memory", str(e))]) from None
    return System(
        name=name, description=description, blocks=tuple(blocks), traffic=tuple(traffic), memory=tuple(memory),
        technologies=techs, node_scaling=tuple(scaling), volume=float(volume), max_chiplets=max_chiplets,
        tj_max=tj_max, mesh_size=mesh_size, source=source, cost=cost, **package)


def _cell_limit() -> int:
    """The library's mesh cell limit, :data:`codesign.mesh.MAX_CELLS` (the one source)."""
    from ..mesh import MAX_CELLS

    return MAX_CELLS


def load_system(path: str | Path) -> System:
    """Read a system TOML file (see ``docs/system-format.md``).

    Raises
    ------
    SystemFileError
        When the file cannot be read or has problems (every problem listed).
    """
    p = Path(path)
    text = read_text(p, error=SystemFileError, source=str(p), what="system file")
    return loads_system(text, source=str(p))
