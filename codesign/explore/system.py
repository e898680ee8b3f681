"""System files: what a package has to do (blocks, traffic, HBM), read into a :class:`System`.

The format is documented in ``docs/system-format.md``. Every quantity is a string with a unit;
all problems of a file are collected and raised once as a :class:`SystemFileError` naming the
field path, the value and the fix.
"""

from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass
from pathlib import Path

from ..cost import DEFAULT_COST_PARAMS, CostError
from ..errors import InputFileError
from ..phys import PhyError, get_phy
from ..units import UnitError, parse_quantity
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


def _strings(problems, value, path, default):
    if value is None:
        return tuple(default)
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        problems.append((path, f"give a list of names such as [\"N5\", \"N7\"], got {value!r}"))
        return tuple(default)
    return tuple(value)


def _count(problems, tbl, key, path, default):
    v = tbl.get(key, default)
    if isinstance(v, bool) or not isinstance(v, int) or v < 1:
        problems.append((f"{path}.{key}" if path else key, f"give a positive whole number, got {v!r}"))
        return default
    return v


def _bad_name(name) -> bool:
    return not isinstance(name, str) or not name or any(ch in name for ch in _FORBIDDEN)


def loads_system(text: str, *, source: str = "<string>") -> System:
    """Parse a system TOML text (format: ``docs/system-format.md``); all problems raised at once.

    Raises
    ------
    SystemFileError
        Listing every problem with its field path, the value and the fix.
    """
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise SystemFileError(source, [("", f"not valid TOML: {e}")]) from None
    P: list[tuple[str, str]] = []
    if doc.get("schema") != 1:
        P.append(("schema", f"must be 1, got {doc.get('schema')!r}"))
    opts = doc.get("options", {})
    default_nodes = _strings(P, opts.get("nodes"), "options.nodes", ["N5"])
    techs = _strings(P, opts.get("technologies"), "options.technologies", ["organic_substrate", "silicon_interposer"])
    for t in techs:
        if t not in TECHNOLOGIES:
            P.append(("options.technologies", f"unknown technology {t!r}; choose from {', '.join(TECHNOLOGIES)}"))
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
        if _bad_name(name):
            P.append((f"{path}.name", f"give a unique name without '/', ':' or '+', got {name!r}"))
            name = f"block{i}"
        nodes = _strings(P, b.get("nodes"), f"{path}.nodes", default_nodes)
        node = b.get("node", nodes[0] if nodes else "N5")
        for n in sorted(set(nodes) | {node}):
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
    stack_names: dict[str, str] = {}
    for i, m in enumerate(doc.get("memory", [])):
        path = f"memory[{i}]"
        if m.get("attach") not in names:
            P.append((f"{path}.attach", f"name the block the stacks attach to, one of {names}; got {m.get('attach')!r}"))
            continue
        mname = m.get("name", f"hbm{i}")
        if _bad_name(mname):
            P.append((f"{path}.name", f"give a name without '/', ':' or '+', got {mname!r}"))
            continue
        generation = m.get("generation", "HBM3")
        if generation not in _HBM_GENERATIONS:
            P.append((f"{path}.generation", f"unknown HBM generation {generation!r}; choose from "
                                            f"{', '.join(_HBM_GENERATIONS)}"))
            continue
        size = m.get("size", ["11 mm", "10 mm"])
        try:
            sz = (parse_quantity(size[0], "length"), parse_quantity(size[1], "length"))
        except (UnitError, IndexError, TypeError, KeyError) as e:
            P.append((f"{path}.size", f"give [width, height] lengths such as [\"11 mm\", \"10 mm\"]: {e}"))
            sz = HBM_SIZE
        mem = Memory(name=mname, generation=generation, count=_count(P, m, "count", path, 1), attach=m["attach"],
                     bandwidth=_q(P, m, "bandwidth", path, "bandwidth", 0.0),
                     power=_q(P, m, "power", path, "power", 0.0), size=sz)
        for s in mem.stack_names:       # HBM stacks become chiplets next to the blocks' chiplets
            clash = "a block" if s in names else stack_names.get(s)
            if clash:
                P.append((f"{path}.name", f"stack name {s!r} is also the name of {clash}; rename one"))
            stack_names[s] = path
        memory.append(mem)
    if memory and techs == ("organic_substrate",):
        P.append(("options.technologies", "HBM needs a fine-pitch carrier: add silicon_interposer, organic_rdl or bridge"))
    pkg = doc.get("package", {})
    vol = doc.get("volume", 1e6)
    if isinstance(vol, bool) or not isinstance(vol, (int, float)) or not math.isfinite(vol) or vol <= 0:
        P.append(("volume", f"give a positive number of units, got {vol!r}"))
        vol = 1e6
    max_chiplets = _count(P, opts, "max_chiplets", "options", max(len(blocks), 1))
    package = dict(
        spacing=_q(P, pkg, "spacing", "package", "length", 1e-3),
        margin=_q(P, pkg, "margin", "package", "length", 5e-3),
        heat_transfer_coefficient=_q(P, pkg, "heat_transfer_coefficient", "package", "heat_transfer_coefficient", 2e4),
        ambient=_q(P, pkg, "ambient", "package", "temperature", 35 + KELVIN),
        board_heat_transfer_coefficient=_q(P, pkg, "board_heat_transfer_coefficient", "package",
                                           "heat_transfer_coefficient", 300.0),
        board_ambient=_q(P, pkg, "board_ambient", "package", "temperature", 45 + KELVIN))
    tj_max = _q(P, opts, "tj_max", "options", "temperature", 105 + KELVIN)
    mesh_size = _q(P, opts, "mesh_size", "options", "length", 2e-3)
    if P:
        raise SystemFileError(source, P)
    for m in memory:                    # validated above; the PHY library must know the generation
        try:
            get_phy(m.generation)
        except PhyError as e:
            raise SystemFileError(source, [("memory", str(e))]) from None
    return System(
        name=str(doc.get("name", "system")), description=str(doc.get("description", "")), blocks=tuple(blocks),
        traffic=tuple(traffic), memory=tuple(memory), technologies=techs, node_scaling=tuple(scaling),
        volume=float(vol), max_chiplets=max_chiplets, tj_max=tj_max, mesh_size=mesh_size, source=source, **package)


def load_system(path: str | Path) -> System:
    """Read a system TOML file (see ``docs/system-format.md``).

    Raises
    ------
    SystemFileError
        When the file cannot be read or has problems (every problem listed).
    """
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise SystemFileError(str(p), [("", f"cannot read the file: {e}")]) from None
    return loads_system(text, source=str(p))
