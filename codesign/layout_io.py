"""Reading layout files (TOML) into a validated :class:`~codesign.stack.Stack`.

Every quantity is a string with a unit, converted once to SI. All problems in a file are
collected and raised together as one :class:`LayoutError` naming the file, the field path
(``layers[2].chiplets[0].power``), the value and the fix. Parsing executes nothing and reads no
file outside the layout's own folder. The format is documented in ``docs/layout-format.md``.
"""

from __future__ import annotations

import csv
import dataclasses
import difflib
import io
import math
import tomllib
from importlib import resources
from pathlib import Path
from typing import Any

from .errors import InputFileError
from .homogenise import homogenise_hbm, homogenise_interconnect
from .materials import BUILTIN_MATERIALS
from .stack import (
    CHIPLET_KINDS,
    INTERCONNECT_KINDS,
    Boundary,
    Chiplet,
    HBMStack,
    Interconnect,
    Layer,
    Leakage,
    Link,
    Material,
    MeshControls,
    PowerBlock,
    PowerMap,
    Rect,
    Stack,
)
from .units import DIMENSIONS, UnitError, parse_quantity

__all__ = ["InputFileError", "LayoutError", "load_layout", "loads_layout", "shipped_layouts", "shipped_layout_path"]

SCHEMA_VERSION = 1

# Sanity ranges that catch typos in exponents before they reach the mesher.
_RANGES = {
    "length": (0.0, 1.0, "at most 1 m"),
    "power": (0.0, 1e5, "at most 100 kW"),
    "conductivity": (0.0, 1e4, "at most 1e4 W/m/K (diamond is ~2200)"),
    "heat_transfer_coefficient": (0.0, 1e7, "at most 1e7 W/m^2/K"),
    "volumetric_heat_capacity": (0.0, 1e8, "at most 1e8 J/m^3/K"),
    "temperature": (1.0, 1000.0, "between 1 K and 1000 K"),
    "bandwidth": (0.0, 1e18, "at most 1 Eb/s"),
}
_MAX_CELLS = 30_000_000


class LayoutError(InputFileError):
    """A layout file has one or more problems; ``problems`` lists ``(field path, message)``."""


class _Ctx:
    def __init__(self, source: str, folder: Path | None):
        self.source = source
        self.folder = folder
        self.problems: list[tuple[str, str]] = []

    def err(self, path: str, msg: str) -> None:
        self.problems.append((path, msg))


def _nearest(name: str, options) -> str:
    options = sorted(str(o) for o in options)
    close = difflib.get_close_matches(str(name), options, n=1, cutoff=0.5)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    listing = ", ".join(options) if len(options) <= 30 else ", ".join(options[:30]) + ", ..."
    return f"{hint} Defined: {listing}"


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _table(ctx: _Ctx, value: Any, path: str, allowed: tuple[str, ...], *, required: bool = True) -> dict | None:
    if value is None:
        if required:
            ctx.err(path, "missing table; add it (see docs/layout-format.md)")
        return None
    if not isinstance(value, dict):
        ctx.err(path, f"expected a table, got {value!r} ({type(value).__name__})")
        return None
    for key in value:
        if key not in allowed:
            close = difflib.get_close_matches(str(key), allowed, n=1, cutoff=0.6)
            hint = f"; did you mean {close[0]!r}?" if close else f"; allowed: {', '.join(allowed)}"
            ctx.err(_join(path, str(key)), f"unknown field {key!r}{hint}")
    return value


def _quantity(ctx: _Ctx, tbl: dict, key: str, path: str, kind: str, *, required: bool = True,
              default: float | None = None, positive: bool = False, nonnegative: bool = False) -> float | None:
    p = _join(path, key)
    if key not in tbl:
        if required:
            ctx.err(p, f"missing; give a {kind.replace('_', ' ')} such as {DIMENSIONS[kind][1]}")
        return default
    try:
        v = parse_quantity(tbl[key], kind)
    except UnitError as e:
        ctx.err(p, str(e))
        return default
    if positive and not v > 0:
        ctx.err(p, f"must be positive, got {tbl[key]!r}")
        return default
    if positive and kind == "length" and v < 1e-8:
        ctx.err(p, f"{tbl[key]!r} is below 10 nm, smaller than anything a package model resolves; check the unit")
        return default
    if nonnegative and v < 0:
        ctx.err(p, f"must not be negative, got {tbl[key]!r}")
        return default
    lo_hi = _RANGES.get("length" if kind in ("length",) else kind)
    if lo_hi and not (v <= lo_hi[1] and (kind != "temperature" or v >= lo_hi[0])):
        ctx.err(p, f"{tbl[key]!r} is out of range for a {kind.replace('_', ' ')}: {lo_hi[2]}; check the exponent and the unit")
        return default
    return v


def _string(ctx: _Ctx, tbl: dict, key: str, path: str, *, required: bool = True, default: str | None = None,
            choices: tuple[str, ...] | None = None) -> str | None:
    p = _join(path, key)
    if key not in tbl:
        if required:
            ctx.err(p, "missing; give a string" + (f" (one of {', '.join(choices)})" if choices else ""))
        return default
    v = tbl[key]
    if not isinstance(v, str):
        ctx.err(p, f"expected a string, got {v!r} ({type(v).__name__})")
        return default
    if choices is not None and v not in choices:
        ctx.err(p, f"unknown value {v!r}" + _nearest(v, choices).replace("Defined", "Allowed"))
        return default
    return v


def _name(ctx: _Ctx, tbl: dict, path: str) -> str | None:
    v = _string(ctx, tbl, "name", path)
    if v is not None and (not v or any(ch in v for ch in "/:\n\t") or v != v.strip()):
        ctx.err(_join(path, "name"), f"names must be non-empty and free of '/', ':' and surrounding spaces; got {v!r}")
        return None
    return v


def _integer(ctx: _Ctx, tbl: dict, key: str, path: str, *, required: bool = True, default: int | None = None,
             lo: int = 1, hi: int = 10_000) -> int | None:
    p = _join(path, key)
    if key not in tbl:
        if required:
            ctx.err(p, "missing; give an integer")
        return default
    v = tbl[key]
    if isinstance(v, bool) or not isinstance(v, int):
        ctx.err(p, f"expected an integer, got {v!r} ({type(v).__name__})")
        return default
    if not lo <= v <= hi:
        ctx.err(p, f"must be between {lo} and {hi}, got {v}")
        return default
    return v


def _number(ctx: _Ctx, tbl: dict, key: str, path: str, *, default: float, lo: float, hi: float) -> float:
    p = _join(path, key)
    if key not in tbl:
        return default
    v = tbl[key]
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
        ctx.err(p, f"expected a plain number, got {v!r}")
        return default
    if not lo <= v <= hi:
        ctx.err(p, f"must be between {lo} and {hi}, got {v}")
        return default
    return float(v)


def _pair(ctx: _Ctx, tbl: dict, key: str, path: str, kind: str, *, required: bool = True,
          positive: bool = False) -> tuple[float, float] | None:
    p = _join(path, key)
    if key not in tbl:
        if required:
            ctx.err(p, f"missing; give two values such as [{DIMENSIONS[kind][1]}, {DIMENSIONS[kind][1]}]")
        return None
    v = tbl[key]
    if not isinstance(v, list) or len(v) != 2:
        ctx.err(p, f"expected a list of two {kind}s such as [\"1 mm\", \"2 mm\"], got {v!r}")
        return None
    out = []
    for i, item in enumerate(v):
        got = _quantity(ctx, {str(i): item}, str(i), p.rstrip(".") + "", kind, positive=positive)
        out.append(got)
    # Fix up paths written as "a.0" into "a[0]".
    for j, (pp, msg) in enumerate(ctx.problems):
        for i in range(2):
            if pp == f"{p}.{i}":
                ctx.problems[j] = (f"{p}[{i}]", msg)
    if any(o is None for o in out):
        return None
    return (out[0], out[1])


def _rect(ctx: _Ctx, tbl: dict, path: str, *, origin_key: str = "origin", size_key: str = "size",
          offset: tuple[float, float] = (0.0, 0.0), required: bool = True) -> Rect | None:
    if not required and origin_key not in tbl and size_key not in tbl:
        return None
    size = _pair(ctx, tbl, size_key, path, "length", positive=True)
    origin_given = origin_key in tbl
    origin = _pair(ctx, tbl, origin_key, path, "length") if (required or origin_given) else (0.0, 0.0)
    if size is None or origin is None:
        return None
    return Rect(origin[0] + offset[0], origin[1] + offset[1], size[0], size[1])


def _list_of_tables(ctx: _Ctx, value: Any, path: str) -> list[dict]:
    if value is None:
        return []
    if not isinstance(value, list):
        ctx.err(path, f"expected an array of tables ([[{path.split('.')[-1]}]]), got {type(value).__name__}")
        return []
    out = []
    for i, item in enumerate(value):
        if not isinstance(item, dict):
            ctx.err(f"{path}[{i}]", f"expected a table, got {item!r}")
        else:
            out.append((i, item))
    return out  # type: ignore[return-value]


# -- sections -------------------------------------------------------------------------------------

_MATERIAL_KEYS = ("conductivity", "heat_capacity", "temperature_exponent", "reference_temperature", "source")


def _materials(ctx: _Ctx, raw: Any) -> dict[str, Material]:
    mats = dict(BUILTIN_MATERIALS)
    tbl = _table(ctx, raw, "materials", tuple(raw) if isinstance(raw, dict) else (), required=False)
    for name, spec in (tbl or {}).items():
        path = f"materials.{name}"
        if any(ch in name for ch in "/:") or not name:
            ctx.err(path, "material names must be non-empty and free of '/' and ':'")
            continue
        s = _table(ctx, spec, path, _MATERIAL_KEYS)
        if s is None:
            continue
        k = s.get("conductivity")
        if isinstance(k, list):
            if len(k) != 3:
                ctx.err(f"{path}.conductivity", f"an anisotropic conductivity is [kx, ky, kz]; got {len(k)} values")
                continue
            ks = [_quantity(ctx, {f"conductivity[{i}]": v}, f"conductivity[{i}]", path, "conductivity", positive=True)
                  for i, v in enumerate(k)]
        else:
            ks = [_quantity(ctx, s, "conductivity", path, "conductivity", positive=True)] * 3
        c = _quantity(ctx, s, "heat_capacity", path, "volumetric_heat_capacity", positive=True)
        n = _number(ctx, s, "temperature_exponent", path, default=0.0, lo=-5.0, hi=5.0)
        t_ref = _quantity(ctx, s, "reference_temperature", path, "temperature", required=False, default=300.0,
                          positive=True)
        src = _string(ctx, s, "source", path, required=False, default="")
        if any(v is None for v in ks) or c is None:
            continue
        mats[name] = Material(name, ks[0], ks[1], ks[2], c, n, t_ref, src or "")
    return mats


def _check_material(ctx: _Ctx, mats: dict, name: str | None, path: str) -> None:
    if name is not None and name not in mats:
        ctx.err(path, f"unknown material {name!r}" + _nearest(name, mats) + " (or define it under [materials])")


_INTERCONNECT_KEYS = ("kind", "pitch", "diameter", "material", "fill")


def _interconnect(ctx: _Ctx, raw: Any, path: str, mats: dict, default_fill: str | None) -> Interconnect | None:
    s = _table(ctx, raw, path, _INTERCONNECT_KEYS)
    if s is None:
        return None
    kind = _string(ctx, s, "kind", path, choices=INTERCONNECT_KINDS)
    pitch = _quantity(ctx, s, "pitch", path, "length", positive=True)
    dia = _quantity(ctx, s, "diameter", path, "length", positive=True)
    mat = _string(ctx, s, "material", path, required=False, default="copper" if kind in ("hybrid_bond", "tsv") else "sac305")
    fill = _string(ctx, s, "fill", path, required=default_fill is None, default=default_fill)
    _check_material(ctx, mats, mat, _join(path, "material"))
    _check_material(ctx, mats, fill, _join(path, "fill"))
    if pitch is not None and dia is not None and dia >= pitch:
        ctx.err(_join(path, "diameter"), f"diameter {s['diameter']!r} must be smaller than the pitch {s['pitch']!r}")
        return None
    if None in (kind, pitch, dia, mat, fill) or mat not in mats or fill not in mats:
        return None
    return Interconnect(kind, pitch, dia, mat, fill)


_LEAKAGE_KEYS = ("reference_power", "reference_temperature", "model", "coefficient", "polynomial")


def _leakage(ctx: _Ctx, raw: Any, path: str) -> Leakage | None:
    s = _table(ctx, raw, path, _LEAKAGE_KEYS)
    if s is None:
        return None
    p0 = _quantity(ctx, s, "reference_power", path, "power", nonnegative=True)
    t0 = _quantity(ctx, s, "reference_temperature", path, "temperature")
    model = _string(ctx, s, "model", path, required=False, default="exponential", choices=("exponential", "polynomial"))
    coef, poly = 0.0, ()
    if model == "exponential":
        coef = _quantity(ctx, s, "coefficient", path, "inverse_temperature", nonnegative=True)
        if "polynomial" in s:
            ctx.err(_join(path, "polynomial"), "only for model = \"polynomial\"; remove it or change the model")
    elif model == "polynomial":
        raw_poly = s.get("polynomial")
        if not isinstance(raw_poly, list) or not raw_poly:
            ctx.err(_join(path, "polynomial"),
                    f"expected a list of coefficients such as [\"0.02 1/K\", \"1e-4 1/K^2\"], got {raw_poly!r}")
        else:
            vals = []
            for i, item in enumerate(raw_poly):
                try:
                    vals.append(_poly_coefficient(item, i + 1))
                except UnitError as e:
                    ctx.err(f"{path}.polynomial[{i}]", str(e))
            poly = tuple(vals)
        if "coefficient" in s:
            ctx.err(_join(path, "coefficient"), "only for model = \"exponential\"; use polynomial = [...]")
    if p0 is None or t0 is None or coef is None:
        return None
    return Leakage(p0, t0, model or "exponential", coef, poly)


def _poly_coefficient(item: Any, order: int) -> float:
    from .units import _dim, _parse_unit, _NUMBER  # local: the only place that needs K^-n

    if not isinstance(item, str):
        raise UnitError(f"expected a coefficient with unit 1/K^{order} such as \"1e-3 1/K^{order}\", got {item!r}")
    m = _NUMBER.match(item)
    if not m or not m.group(2):
        raise UnitError(f"expected a coefficient with unit 1/K^{order}, got {item!r}")
    scale, d = _parse_unit(m.group(2))
    if not d.same(_dim(K=-order)):
        raise UnitError(f"coefficient {order} needs the unit 1/K^{order}, got {item!r}")
    v = float(m.group(1)) * scale
    if not math.isfinite(v):
        raise UnitError(f"{item!r} is not finite")
    return v


_HBM_KEYS = ("generation", "dram_dies", "die_thickness", "bond_thickness", "base_die_thickness", "bond")
_DEFAULT_HBM_BOND = {"kind": "microbump", "pitch": "55 um", "diameter": "25 um", "material": "sac305",
                     "fill": "underfill"}


def _hbm(ctx: _Ctx, raw: Any, path: str, mats: dict) -> HBMStack | None:
    s = _table(ctx, raw, path, _HBM_KEYS)
    if s is None:
        return None
    gen = _string(ctx, s, "generation", path, choices=("HBM2", "HBM2E", "HBM3", "HBM3E", "HBM4"))
    n = _integer(ctx, s, "dram_dies", path, lo=1, hi=24)
    t_die = _quantity(ctx, s, "die_thickness", path, "length", positive=True)
    t_bond = _quantity(ctx, s, "bond_thickness", path, "length", positive=True)
    t_base = _quantity(ctx, s, "base_die_thickness", path, "length", positive=True)
    bond = _interconnect(ctx, s.get("bond", _DEFAULT_HBM_BOND), _join(path, "bond"), mats, "underfill")
    if None in (gen, n, t_die, t_bond, t_base, bond):
        return None
    return HBMStack(gen, n, t_die, t_bond, t_base, bond)


_CHIPLET_KEYS = ("name", "kind", "material", "origin", "size", "power", "power_blocks", "power_map",
                 "active_thickness", "active_side", "leakage", "tj_max", "hbm")
_BLOCK_KEYS = ("name", "origin", "size", "power")


def _read_power_map(ctx: _Ctx, value: Any, path: str) -> PowerMap | None:
    if not isinstance(value, str) or not value:
        ctx.err(path, f"expected a CSV file name relative to the layout, got {value!r}")
        return None
    if ctx.folder is None:
        ctx.err(path, "a power map needs a layout read from a file (the CSV is found next to it)")
        return None
    folder = ctx.folder.resolve()
    target = (folder / value).resolve()
    if not target.is_relative_to(folder):
        ctx.err(path, f"{value!r} lies outside the layout's folder {folder}; copy the CSV next to the layout")
        return None
    if not target.is_file():
        ctx.err(path, f"file {value!r} not found in {folder}")
        return None
    try:
        text = target.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        ctx.err(path, f"cannot read {value!r}: {e}")
        return None
    rows = []
    for r, row in enumerate(csv.reader(io.StringIO(text))):
        if not row or row[0].lstrip().startswith("#"):
            continue
        try:
            vals = tuple(float(c) for c in row)
        except ValueError:
            ctx.err(path, f"{value!r} row {r + 1}: every cell must be a number of watts, got {row!r}")
            return None
        if not all(math.isfinite(v) and v >= 0 for v in vals):
            ctx.err(path, f"{value!r} row {r + 1}: powers must be finite and non-negative, got {row!r}")
            return None
        rows.append(vals)
    if not rows or len({len(r) for r in rows}) != 1:
        ctx.err(path, f"{value!r} must be a non-empty rectangular grid of numbers (one row per line)")
        return None
    if len(rows) * len(rows[0]) > 250_000:
        ctx.err(path, f"{value!r} has {len(rows) * len(rows[0])} cells; at most 250000 are supported")
        return None
    return PowerMap(value, tuple(rows))


def _chiplet(ctx: _Ctx, raw: dict, path: str, mats: dict, layer_thickness: float | None,
             layer_name: str | None, derived: dict) -> Chiplet | None:
    s = _table(ctx, raw, path, _CHIPLET_KEYS)
    if s is None:
        return None
    name = _name(ctx, s, path)
    kind = _string(ctx, s, "kind", path, required=False, default="logic", choices=CHIPLET_KINDS)
    rect = _rect(ctx, s, path)
    material = _string(ctx, s, "material", path, required=False, default="silicon")
    power = _quantity(ctx, s, "power", path, "power", required=False, default=0.0, nonnegative=True)
    blocks = []
    seen_blocks = set()
    for i, b in _list_of_tables(ctx, s.get("power_blocks"), _join(path, "power_blocks")):
        bp = f"{path}.power_blocks[{i}]"
        bs = _table(ctx, b, bp, _BLOCK_KEYS)
        if bs is None:
            continue
        bname = _name(ctx, bs, bp)
        brect = _rect(ctx, bs, bp, offset=(rect.x, rect.y) if rect else (0.0, 0.0))
        bpow = _quantity(ctx, bs, "power", bp, "power", nonnegative=True)
        if bname in seen_blocks:
            ctx.err(_join(bp, "name"), f"duplicate power block name {bname!r} in this chiplet; rename one")
        seen_blocks.add(bname)
        if rect is not None and brect is not None and not rect.contains(brect, tol=1e-9):
            ctx.err(bp, (f"power block {bname!r} (origin relative to the die) extends outside its die "
                         f"{name!r} of size {rect.width * 1e3:.4g} x {rect.height * 1e3:.4g} mm; move or shrink it"))
        if None not in (bname, brect, bpow):
            blocks.append(PowerBlock(bname, brect, bpow))
    pmap = _read_power_map(ctx, s["power_map"], _join(path, "power_map")) if "power_map" in s else None
    active = _quantity(ctx, s, "active_thickness", path, "length", required=False, positive=True)
    side = _string(ctx, s, "active_side", path, required=False, default="bottom", choices=("bottom", "top"))
    if active is not None and layer_thickness is not None and active > layer_thickness * (1 + 1e-9):
        ctx.err(_join(path, "active_thickness"), f"{s['active_thickness']!r} exceeds the layer thickness; reduce it")
        active = None
    leak = _leakage(ctx, s["leakage"], _join(path, "leakage")) if "leakage" in s else None
    tj = _quantity(ctx, s, "tj_max", path, "temperature", required=False)
    hbm = None
    if "hbm" in s:
        if kind != "hbm":
            ctx.err(_join(path, "hbm"), f"an hbm description needs kind = \"hbm\", got kind = {kind!r}")
        hbm = _hbm(ctx, s["hbm"], _join(path, "hbm"), mats)
        if hbm is not None and layer_thickness is not None:
            used = hbm.base_die_thickness + hbm.dram_dies * (hbm.die_thickness + hbm.bond_thickness)
            if used > layer_thickness * (1 + 1e-9):
                ctx.err(_join(path, "hbm"), (f"the stack is {used * 1e6:.1f} um tall but its layer is "
                                             f"{layer_thickness * 1e6:.1f} um; thicken the layer or thin the dies"))
                hbm = None
    _check_material(ctx, mats, material, _join(path, "material"))
    if None in (name, kind, rect, power, side) or material not in mats:
        return None
    if hbm is not None and layer_thickness is not None:
        m = homogenise_hbm(hbm, layer_thickness, mats[material], (mats[hbm.bond.material], mats[hbm.bond.fill]),
                           name=f"hbm:{name}")
        derived[m.name] = m
        material = m.name
    return Chiplet(name=name, kind=kind, material=material, rect=rect, power=power, power_blocks=tuple(blocks),
                   power_map=pmap, active_thickness=active, active_side=side, leakage=leak, tj_max=tj, hbm=hbm)


_LAYER_KEYS = ("name", "thickness", "material", "origin", "size", "surround", "chiplets", "interconnect",
               "interconnect_region", "cells")


def _boundary(ctx: _Ctx, raw: Any, path: str, kinds: tuple[str, ...], default_kind: str) -> Boundary:
    s = _table(ctx, raw, path, ("kind", "heat_transfer_coefficient", "ambient"), required=False)
    if s is None:
        if raw is None and default_kind != "adiabatic":
            ctx.err(path, f"missing; give [{path}] with heat_transfer_coefficient and ambient")
        return Boundary("adiabatic", 0.0, 298.15)
    kind = _string(ctx, s, "kind", path, required=False, default=default_kind, choices=kinds)
    if kind == "adiabatic":
        for k in ("heat_transfer_coefficient", "ambient"):
            if k in s:
                ctx.err(_join(path, k), "an adiabatic boundary takes no " + k + "; remove it or choose another kind")
        return Boundary("adiabatic", 0.0, 298.15)
    h = _quantity(ctx, s, "heat_transfer_coefficient", path, "heat_transfer_coefficient", positive=True)
    t = _quantity(ctx, s, "ambient", path, "temperature")
    return Boundary(kind or default_kind, h if h is not None else 0.0, t if t is not None else 298.15)


def _mesh(ctx: _Ctx, raw: Any) -> MeshControls:
    s = _table(ctx, raw, "mesh", ("max_lateral_size", "min_lateral_size", "grading", "cells_per_layer",
                                  "max_vertical_size"), required=False)
    if s is None:
        return MeshControls()
    d = MeshControls()
    return MeshControls(
        max_lateral_size=_quantity(ctx, s, "max_lateral_size", "mesh", "length", required=False,
                                   default=d.max_lateral_size, positive=True),
        min_lateral_size=_quantity(ctx, s, "min_lateral_size", "mesh", "length", required=False, positive=True),
        grading=_number(ctx, s, "grading", "mesh", default=d.grading, lo=1.0, hi=3.0),
        cells_per_layer=_integer(ctx, s, "cells_per_layer", "mesh", required=False, default=d.cells_per_layer,
                                 lo=1, hi=64),
        max_vertical_size=_quantity(ctx, s, "max_vertical_size", "mesh", "length", required=False,
                                    default=d.max_vertical_size, positive=True),
    )


def _phys(ctx: _Ctx, raw: Any) -> dict:
    """The layout's [phys.NAME] tables, through codesign.phys.phys_from_toml (every value sourced)."""
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        ctx.err("phys", f"expected tables [phys.NAME], got {raw!r}")
        return {}
    from .phys import PhyError, phys_from_toml

    try:
        return phys_from_toml(raw)
    except PhyError as e:
        for line in str(e).splitlines()[1:]:
            path, _, msg = line.strip().partition(": ")
            ctx.err(path, msg)
        return {}
    except (TypeError, ValueError) as e:  # a malformed table the PHY reader did not anticipate
        ctx.err("phys", f"cannot read the PHY tables: {e}")
        return {}


def _parse(ctx: _Ctx, doc: dict) -> Stack | None:
    top = _table(ctx, doc, "", ("schema", "name", "description", "materials", "package", "boundaries", "layers",
                                "links", "mesh", "phys"))
    if top is None:
        return None
    schema = doc.get("schema")
    if schema != SCHEMA_VERSION:
        ctx.err("schema", f"expected schema = {SCHEMA_VERSION} (this tool's layout format version), got {schema!r}")
    name = _name(ctx, doc, "")
    description = _string(ctx, doc, "description", "", required=False, default="")
    mats = _materials(ctx, doc.get("materials"))
    derived: dict[str, Material] = {}

    pkg = _table(ctx, doc.get("package"), "package", ("size",))
    pkg_size = _pair(ctx, pkg, "size", "package", "length", positive=True) if pkg is not None else None
    package = Rect(0.0, 0.0, *pkg_size) if pkg_size else None

    b = _table(ctx, doc.get("boundaries"), "boundaries", ("top", "bottom", "sides"))
    b = b or {}
    top_b = _boundary(ctx, b.get("top"), "boundaries.top", ("heat_sink", "cold_plate", "convective", "adiabatic"),
                      "heat_sink")
    bot_b = _boundary(ctx, b.get("bottom"), "boundaries.bottom", ("board", "convective", "adiabatic"), "board")
    side_b = _boundary(ctx, b.get("sides"), "boundaries.sides", ("adiabatic", "convective"), "adiabatic")
    if isinstance(doc.get("boundaries"), dict) and max(top_b.heat_transfer_coefficient,
                                                       bot_b.heat_transfer_coefficient,
                                                       side_b.heat_transfer_coefficient) <= 0:
        ctx.err("boundaries", "every boundary is adiabatic, so heat has no way out and no steady state exists; "
                              "give the top or bottom a heat_transfer_coefficient")

    raw_layers = doc.get("layers")
    if raw_layers is None:
        ctx.err("layers", "missing; list the layers top to bottom as [[layers]] tables")
    layers: list[Layer] = []
    names_seen: dict[str, str] = {}
    chip_paths: dict[str, str] = {}
    layer_items = _list_of_tables(ctx, raw_layers, "layers")
    if raw_layers is not None and not layer_items and isinstance(raw_layers, list):
        ctx.err("layers", "no layers given; list at least one [[layers]] table")
    for i, raw in layer_items:
        path = f"layers[{i}]"
        s = _table(ctx, raw, path, _LAYER_KEYS)
        if s is None:
            continue
        lname = _name(ctx, s, path)
        thickness = _quantity(ctx, s, "thickness", path, "length", positive=True)
        material = _string(ctx, s, "material", path)
        _check_material(ctx, mats, material, _join(path, "material"))
        surround = _string(ctx, s, "surround", path, required=False, default="air")
        _check_material(ctx, mats, surround, _join(path, "surround"))
        extent = _rect(ctx, s, path, required=False) or package
        if extent is not None and package is not None and not package.contains(extent, tol=1e-9):
            ctx.err(path, f"layer extent lies outside the package of {package.width * 1e3:.4g} x "
                          f"{package.height * 1e3:.4g} mm; move or shrink it")
        cells = _integer(ctx, s, "cells", path, required=False, lo=1, hi=64)
        ic = None
        if "interconnect" in s:
            ic = _interconnect(ctx, s["interconnect"], _join(path, "interconnect"), mats, material)
        region = _string(ctx, s, "interconnect_region", path, required=False, default="extent",
                         choices=("extent", "under_above"))
        if "interconnect_region" in s and "interconnect" not in s:
            ctx.err(_join(path, "interconnect_region"), "only meaningful with an interconnect; remove it or add one")
        if region == "under_above" and i == 0:
            ctx.err(_join(path, "interconnect_region"), "\"under_above\" needs a layer above; the top layer has none")
        if lname is not None:
            if lname in names_seen:
                ctx.err(_join(path, "name"), f"duplicate name {lname!r} (also {names_seen[lname]}); names must be unique")
            names_seen[lname] = path
        chips = []
        for j, craw in _list_of_tables(ctx, s.get("chiplets"), _join(path, "chiplets")):
            cpath = f"{path}.chiplets[{j}]"
            c = _chiplet(ctx, craw, cpath, mats, thickness, lname, derived)
            if c is None:
                continue
            if c.name in names_seen:
                ctx.err(_join(cpath, "name"), f"duplicate name {c.name!r} (also {names_seen[c.name]}); names must be unique")
                continue
            names_seen[c.name] = cpath
            chip_paths[c.name] = cpath
            if extent is not None and not extent.contains(c.rect, tol=1e-9):
                ctx.err(cpath, (f"chiplet {c.name!r} at ({c.rect.x * 1e3:.4g}, {c.rect.y * 1e3:.4g}) mm of size "
                                f"{c.rect.width * 1e3:.4g} x {c.rect.height * 1e3:.4g} mm lies outside its layer "
                                f"{lname!r}; move it inside or enlarge the layer"))
            for other, opath in chips:
                if c.rect.overlaps(other.rect):
                    ctx.err(cpath, f"chiplet {c.name!r} overlaps {other.name!r} ({opath}) in layer {lname!r}; "
                                   "move one of them")
            chips.append((c, cpath))
        if None in (lname, thickness, material, extent) or material not in mats or surround not in mats:
            continue
        layers.append(Layer(lname, thickness, material, extent, surround, tuple(c for c, _ in chips), ic,
                            region, cells))

    # A die must sit on something: the layer below's extent must cover its footprint.
    for upper, lower in zip(layers[:-1], layers[1:]):
        for c in upper.chiplets:
            if not lower.extent.contains(c.rect, tol=1e-9):
                ctx.err(chip_paths[c.name],
                        f"chiplet {c.name!r} is stacked over nothing: its footprint is not inside the extent of layer "
                        f"{lower.name!r} below; enlarge that layer or move the chiplet")

    layout_phys = _phys(ctx, doc.get("phys"))
    chip_names = {c.name for layer in layers for c in layer.chiplets}
    links = []
    link_names: set[str] = set()
    for i, raw in _list_of_tables(ctx, doc.get("links"), "links"):
        path = f"links[{i}]"
        s = _table(ctx, raw, path, ("name", "between", "bandwidth", "phy", "length"))
        if s is None:
            continue
        between = s.get("between")
        ok = True
        if not (isinstance(between, list) and len(between) == 2 and all(isinstance(e, str) for e in between)):
            ctx.err(_join(path, "between"), f"expected two chiplet names such as [\"gpu\", \"hbm0\"], got {between!r}")
            ok = False
        else:
            for e in between:
                if e not in chip_names:
                    ctx.err(_join(path, "between"), f"unknown link endpoint {e!r}" + _nearest(e, chip_names))
                    ok = False
            if between[0] == between[1]:
                ctx.err(_join(path, "between"), f"a link needs two different chiplets, got {between!r}")
                ok = False
        lname = _string(ctx, s, "name", path, required=False,
                        default="-".join(between) if ok else None)
        if lname is not None and lname in link_names:
            ctx.err(_join(path, "name"), f"duplicate link name {lname!r}; give each link a unique name")
        link_names.add(lname)
        bw = _quantity(ctx, s, "bandwidth", path, "bandwidth", positive=True)
        phy = _string(ctx, s, "phy", path, required=False, default="auto")
        raw_phys = doc.get("phys") if isinstance(doc.get("phys"), dict) else {}
        if phy not in (None, "auto") and phy not in raw_phys:  # a failed [phys] table is reported already
            from .phys import PhyError, get_phy

            try:
                get_phy(phy, layout_phys, where=f"{path}.phy")
            except PhyError as e:
                ctx.err(_join(path, "phy"), str(e).split(": ", 1)[-1] + " (or define it under [phys.NAME])")
        length = _quantity(ctx, s, "length", path, "length", required=False, positive=True)
        if ok and bw is not None and lname is not None:
            links.append(Link(lname, (between[0], between[1]), bw, phy or "auto", length))

    mesh = _mesh(ctx, doc.get("mesh"))
    if ctx.problems or package is None or name is None:
        return None
    used = {layer.material for layer in layers} | {layer.surround for layer in layers}
    used |= {c.material for layer in layers for c in layer.chiplets}
    for layer in layers:
        if layer.interconnect is not None:
            used |= {layer.interconnect.material, layer.interconnect.fill}
    for m in derived.values():  # the parents of homogenised materials are parameters of the model
        used |= set(m.recipe.parents)
    all_mats = {**mats, **derived}
    stack = Stack(name=name, description=description or "", package=package, layers=tuple(layers),
                  materials=tuple(all_mats[m] for m in sorted(set(all_mats) & (used | set(derived)))),
                  top=top_b, bottom=bot_b, sides=side_b, links=tuple(links), mesh=mesh, source=ctx.source,
                  phys=tuple(layout_phys.values()))
    # Derived interconnect materials are added under "<layer>:<kind>".
    extra = []
    for layer in layers:
        if layer.interconnect is not None:
            ic = layer.interconnect
            extra.append(homogenise_interconnect(ic, mats[ic.material], mats[ic.fill],
                                                 name=f"{layer.name}:{ic.kind}"))
    stack = dataclasses.replace(stack, materials=stack.materials + tuple(extra))
    # Guard against meshes that cannot fit in memory (typos such as "1 nm" cells).
    from .mesh import estimate_cells

    n = estimate_cells(stack)
    if n > _MAX_CELLS:
        ctx.err("mesh", f"these controls give about {n:,} cells (limit {_MAX_CELLS:,}); raise mesh.max_lateral_size "
                        "or mesh.max_vertical_size, or lower mesh.cells_per_layer")
        return None
    return stack


# -- entry points ---------------------------------------------------------------------------------

def _layouts_root() -> Path:
    """The shipped layouts: package data ``codesign.layouts`` once installed, else the source tree's."""
    try:
        return Path(str(resources.files("codesign.layouts")))
    except ModuleNotFoundError:
        return Path(__file__).resolve().parent.parent / "layouts"


def shipped_layouts() -> list[str]:
    """Names of the reference layouts shipped with the package."""
    return sorted(p.name[:-5] for p in _layouts_root().iterdir() if p.name.endswith(".toml"))


def shipped_layout_path(name: str) -> Path:
    """Path of a shipped layout by name (``"demo"``)."""
    return _layouts_root() / f"{name}.toml"


def loads_layout(text: str, *, source: str = "<string>", folder: str | Path | None = None) -> Stack:
    """Parse layout TOML text. ``folder`` is where power-map CSV files are looked up."""
    ctx = _Ctx(source, Path(folder) if folder is not None else None)
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise LayoutError(source, [("", f"not valid TOML: {e}")]) from None
    try:
        stack = _parse(ctx, doc)
    except RecursionError:
        raise LayoutError(source, [("", "the file nests too deeply to be a layout")]) from None
    if ctx.problems or stack is None:
        raise LayoutError(source, ctx.problems or [("", "the layout could not be read")])
    return stack


def load_layout(path_or_name: str | Path) -> Stack:
    """Load and validate a layout from a file path or a shipped layout name.

    Parameters
    ----------
    path_or_name : str or pathlib.Path
        A ``.toml`` file, or the name of a shipped layout (see :func:`shipped_layouts`).

    Raises
    ------
    LayoutError
        Listing every problem with its field path, the value and the fix.

    Examples
    --------
    >>> stack = load_layout("demo")
    >>> stack.name
    'demo'
    """
    p = Path(path_or_name)
    if not p.is_file():
        shipped = shipped_layouts()
        if str(path_or_name) in shipped:
            p = shipped_layout_path(str(path_or_name))
        else:
            raise LayoutError(str(path_or_name), [("", f"no such file, and no shipped layout of that name"
                                                       + _nearest(str(path_or_name), shipped).replace("Defined",
                                                                                                      "Shipped"))])
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise LayoutError(str(p), [("", f"cannot read the file: {e}")]) from None
    return loads_layout(text, source=str(p), folder=p.parent)
