"""Reading layout files (TOML) into a validated :class:`~codesign.stack.Stack`.

Every quantity is a string with a unit, converted once to SI. All problems in a file are
collected and raised together as one :class:`LayoutError` naming the file, the field path
(``layers[2].chiplets[0].power``), the value and the fix. Parsing executes nothing and reads no
file outside the layout's own folder. The format is documented in ``docs/layout-format.md``.

The reader is total: any text ends in a :class:`~codesign.stack.Stack` or a :class:`LayoutError`,
in time and memory bounded by :class:`LayoutLimits` (file size, item counts, name and string
lengths, power-map cells, mesh cells), each limit stated in its error and overridable. Values
that load but lie outside sourced plausible ranges (conductivity, power density, leakage growth)
raise a :class:`PlausibilityWarning`; the rules and their sources are in the format document.
"""

from __future__ import annotations

import csv
import dataclasses
import difflib
import io
import math
import os
import re
import reprlib
import stat
import unicodedata
import warnings
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from ._files import parse_toml, read_text
from .errors import InputFileError
from .homogenise import homogenise_hbm, homogenise_interconnect
from .materials import BUILTIN_MATERIALS
from .mesh import MAX_CELLS
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
from .units import DIMENSIONS, MAX_UNIT_EXPONENT, UnitError, finite_real, parse_quantity, split_quantity

__all__ = ["InputFileError", "LayoutError", "LayoutLimits", "PlausibilityWarning", "load_layout", "loads_layout",
           "shipped_layouts", "shipped_layout_path"]

SCHEMA_VERSION = 1

# Sanity ranges that catch typos in exponents before they reach the mesher (errors).
_RANGES = {
    "length": (0.0, 1.0, "at most 1 m"),
    "power": (0.0, 1e5, "at most 100 kW"),
    "conductivity": (0.0, 1e4, "at most 1e4 W/m/K (diamond is ~2200)"),
    "heat_transfer_coefficient": (0.0, 1e7, "at most 1e7 W/m^2/K"),
    "volumetric_heat_capacity": (0.0, 1e8, "at most 1e8 J/m^3/K"),
    "temperature": (1.0, 1000.0, "between 1 K and 1000 K"),
    "bandwidth": (0.0, 1e18, "at most 1 Eb/s"),
}
_MAX_POWER = _RANGES["power"][1]

# -- plausibility rules (warnings; docs/layout-format.md states each with its source) --------------
#: Conductivity below still air, 0.0263 W/m/K at 300 K (Incropera et al., Fundamentals of Heat and
#: Mass Transfer, 6th ed., Table A.4), the least conductive material of a package [W/m/K].
PLAUSIBLE_CONDUCTIVITY_MIN = 0.02
#: Conductivity above type IIa diamond, 2300 W/m/K at 300 K (Incropera, Table A.2), the best bulk
#: conductor known [W/m/K].
PLAUSIBLE_CONDUCTIVITY_MAX = 2300.0
#: A material named like a built-in one whose conductivity differs from it by more than this factor.
PLAUSIBLE_BUILTIN_FACTOR = 10.0
#: Die-average heat flux: 1 kW/cm^2, the die-level flux of DARPA ICECool's embedded-microfluidic
#: thermal demonstration die (Lockheed Martin, ICECool Phase I, reported by Military Embedded
#: Systems, mil-embedded.com); products run near 0.1 kW/cm^2 [W/m^2].
PLAUSIBLE_DIE_FLUX_MAX = 1e7
#: Local heat flux (a power block or power-map cell): 30 kW/cm^2, the hot spots of the same die [W/m^2].
PLAUSIBLE_LOCAL_FLUX_MAX = 3e8
#: Exponential leakage coefficient above which a warning is given [1/K]. Derived from the
#: subthreshold current I ~ T^2 exp(-(V_th(T))/(n k T/q)): with V_th <= 0.7 V, n >= 1 and
#: |dV_th/dT| <= 2 mV/K, d ln I / dT at 300 K is at most 2/T + 0.7/(kT/q)/T + 0.002/(kT/q) ~ 0.17 1/K.
PLAUSIBLE_LEAKAGE_COEFFICIENT_MAX = 0.2
#: Exponential leakage coefficient refused as an error [1/K]: exp(c·ΔT) overflows float64 (exp(709.78))
#: within the 1000 K range the reader accepts for temperatures.
LEAKAGE_COEFFICIENT_LIMIT = 0.7
_LEAKAGE_SPAN = 1000.0  # [K] the temperature span over which a leakage model must stay finite
_LEAKAGE_CHECK = 150.0  # [K] the span above T_ref over which a polynomial leakage is checked for plausibility


class LayoutError(InputFileError):
    """A layout file has one or more problems; ``problems`` lists ``(field path, message)``."""


class PlausibilityWarning(UserWarning):
    """A layout value that loads but lies outside a sourced plausible range (docs/layout-format.md)."""


@dataclass(frozen=True)
class LayoutLimits:
    """Size guards of the layout reader: each limit is named in its error and may be raised on purpose.

    ``load_layout(path, limits=LayoutLimits(power_map_cells=250_000))`` reads a finer power map
    (meshing then takes longer: a ``build`` of a 128 x 128 map takes about 2 s).

    Attributes
    ----------
    layout_bytes : int
        Largest layout file [bytes] (a layout is a few kB).
    layers, chiplets, power_blocks, links, materials, phys : int
        Most items of each kind in one layout (chiplets and power blocks counted over the layout).
    name_length : int
        Longest name [characters]; names also exclude '/', ':' and control characters.
    string_length : int
        Longest other string (descriptions, sources) [characters].
    power_map_cells : int
        Most cells of all power maps of the layout together (default 16,384, e.g. one 128 x 128
        map); a map's file may have at most 64 KiB + 64 bytes per allowed cell, checked before
        it is read.
    mesh_cells : int
        Most cells of the mesh the layout's ``[mesh]`` controls give.
    """

    layout_bytes: int = 1 << 20
    layers: int = 100
    chiplets: int = 1000
    power_blocks: int = 2000
    links: int = 2000
    materials: int = 500
    phys: int = 200
    name_length: int = 100
    string_length: int = 10_000
    power_map_cells: int = 16_384
    mesh_cells: int = MAX_CELLS

    @property
    def power_map_bytes(self) -> int:
        return 64 * 1024 + 64 * self.power_map_cells



_REPR = reprlib.Repr()
_REPR.maxstring = _REPR.maxother = 60
_REPR.maxlist = _REPR.maxtuple = _REPR.maxdict = 4
_REPR.maxlevel = 3


def _show(value: Any) -> str:
    """A short ``repr`` of a value for an error message (long strings and deep tables cut)."""
    r = _REPR.repr(value)
    if isinstance(value, str) and len(value) > 60:
        r += f" ({len(value):,} characters)"
    return r


class _Ctx:
    def __init__(self, source: str, folder: Path | None, limits: LayoutLimits):
        self.source = source
        self.folder = folder
        self.limits = limits
        self.problems: list[tuple[str, str]] = []
        self.warnings: list[tuple[str, str]] = []
        self.failed_materials: set[str] = set()  # defined in the file, but with problems
        self.declared_chiplets: set[str] = set()  # every chiplet name string in the file
        self.map_cells = 0  # cells of the power maps read so far
        self.suggested: set[str] = set()  # field paths offered as the did-you-mean of an unknown key

    def err(self, path: str, msg: str) -> None:
        if msg.startswith("missing") and path in self.suggested:
            return  # the typo'd key's did-you-mean says it already: one mistake, one message
        self.problems.append((path, msg))

    def warn(self, path: str, msg: str) -> None:
        self.warnings.append((path, msg))

    def mark(self) -> int:
        return len(self.problems)

    def failed_since(self, mark: int) -> bool:
        return len(self.problems) > mark


def _nearest(name: str, options) -> str:
    options = sorted(str(o) for o in options)
    close = (difflib.get_close_matches(str(name), options, n=1, cutoff=0.5)
             if isinstance(name, str) and len(name) <= 200 else [])
    hint = f"; did you mean {close[0]!r}?" if close else ""
    if not options:
        return hint
    listing = ", ".join(options) if len(options) <= 30 else ", ".join(options[:30]) + ", ..."
    return f"{hint} Defined: {listing}" if hint else f"; defined: {listing}"  # never "'cpu' Defined: ..."


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _key(key: Any) -> str:
    """A TOML key as it may appear in a field path (shortened, control characters escaped)."""
    k = str(key)
    if len(k) <= 60 and k.isprintable():
        return k
    return _show(k)


def _name_problem(v: str, limit: int) -> str | None:
    """Why ``v`` cannot be a name, or None."""
    if not v:
        return "names must not be empty"
    if len(v) > limit:
        return f"names are at most {limit} characters (LayoutLimits.name_length); got {len(v):,}"
    if v != v.strip():
        return f"names must not start or end with white space; got {_show(v)}"
    bad = next((ch for ch in v if ch in "/:" or unicodedata.category(ch)[0] == "C"), None)
    if bad is not None:
        return f"names must be free of '/', ':' and control characters; {_show(v)} contains {bad!r}"
    return None


def _table(ctx: _Ctx, value: Any, path: str, allowed: tuple[str, ...], *, required: bool = True) -> dict | None:
    if value is None:
        if required:
            ctx.err(path, "missing table; add it (see docs/layout-format.md)")
        return None
    if not isinstance(value, dict):
        ctx.err(path, f"expected a table, got {_show(value)} ({type(value).__name__})")
        return None
    for key in value:
        if key not in allowed:
            close = (difflib.get_close_matches(str(key), allowed, n=1, cutoff=0.6) if len(str(key)) <= 200 else [])
            hint = f"; did you mean {close[0]!r}?" if close else f"; allowed: {', '.join(allowed)}"
            if close and close[0] not in value:
                ctx.suggested.add(_join(path, close[0]))
            ctx.err(_join(path, _key(key)), f"unknown field {_show(key)}{hint}")
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
    shown = _show(tbl[key])
    if positive and not v > 0:
        ctx.err(p, f"must be positive, got {shown}")
        return default
    if positive and kind == "length" and v < 1e-8:
        ctx.err(p, f"{shown} is below 10 nm, smaller than anything a package model resolves; check the unit")
        return default
    if nonnegative and v < 0:
        ctx.err(p, f"must not be negative, got {shown}")
        return default
    lo_hi = _RANGES.get(kind)
    if lo_hi and not (v <= lo_hi[1] and (kind != "temperature" or v >= lo_hi[0])):
        ctx.err(p, f"{shown} is out of range for a {kind.replace('_', ' ')}: {lo_hi[2]}; check the exponent and the unit")
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
        ctx.err(p, f"expected a string, got {_show(v)} ({type(v).__name__})")
        return default
    if choices is not None and v not in choices:
        ctx.err(p, f"unknown value {_show(v)}" + _nearest(v, choices).replace("Defined", "Allowed"))
        return default
    limit = ctx.limits.string_length
    if len(v) > limit:
        ctx.err(p, f"strings are at most {limit:,} characters (LayoutLimits.string_length); got {len(v):,}")
        return default
    if any(unicodedata.category(ch) == "Cc" and ch not in "\n\t" for ch in v):
        ctx.err(p, f"control characters are not allowed in {key}; got {_show(v)}")
        return default
    return v


def _name(ctx: _Ctx, tbl: dict, path: str, key: str = "name", *, required: bool = True,
          default: str | None = None) -> str | None:
    v = tbl.get(key)
    if isinstance(v, str):
        why = _name_problem(v, ctx.limits.name_length)
        if why is not None:
            ctx.err(_join(path, key), why)
            return None
    return _string(ctx, tbl, key, path, required=required, default=default)


def _integer(ctx: _Ctx, tbl: dict, key: str, path: str, *, required: bool = True, default: int | None = None,
             lo: int = 1, hi: int = 10_000) -> int | None:
    p = _join(path, key)
    if key not in tbl:
        if required:
            ctx.err(p, "missing; give an integer")
        return default
    v = tbl[key]
    if isinstance(v, bool) or not isinstance(v, int):
        ctx.err(p, f"expected an integer, got {_show(v)} ({type(v).__name__})")
        return default
    if not lo <= v <= hi:
        ctx.err(p, f"must be between {lo} and {hi}, got {_show(v)}")
        return default
    return v


def _number(ctx: _Ctx, tbl: dict, key: str, path: str, *, default: float, lo: float, hi: float) -> float:
    p = _join(path, key)
    if key not in tbl:
        return default
    v = tbl[key]
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not lo <= v <= hi:  # NaN fails the range
        if finite_real(v):
            ctx.err(p, f"must be between {lo} and {hi}, got {_show(v)}")
        else:
            ctx.err(p, f"expected a plain number between {lo} and {hi}, got {_show(v)}")
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
        ctx.err(p, f"expected a list of two {kind}s such as [\"1 mm\", \"2 mm\"], got {_show(v)}")
        return None
    out = [_quantity(ctx, {f"{p}[{i}]": item}, f"{p}[{i}]", "", kind, positive=positive) for i, item in enumerate(v)]
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


def _list_of_tables(ctx: _Ctx, value: Any, path: str, *, limit: int, what: str) -> list[tuple[int, dict]]:
    if value is None:
        return []
    if not isinstance(value, list):
        ctx.err(path, f"expected an array of tables ([[{path.split('.')[-1]}]]), got {type(value).__name__}")
        return []
    if len(value) > limit:
        ctx.err(path, f"{len(value):,} {what}, more than the {limit:,} a layout may have (LayoutLimits.{what}); "
                      "is this the right file?")
        return []
    out = []
    for i, item in enumerate(value):
        if not isinstance(item, dict):
            ctx.err(f"{path}[{i}]", f"expected a table, got {_show(item)}")
        else:
            out.append((i, item))
    return out


# -- sections -------------------------------------------------------------------------------------

_MATERIAL_KEYS = ("conductivity", "heat_capacity", "temperature_exponent", "reference_temperature", "source",
                  *("youngs_modulus", "poisson_ratio", "shear_modulus", "cte", "glass_transition",
                    "youngs_modulus_above_tg", "cte_above_tg", "mechanical_source"))


def _materials(ctx: _Ctx, raw: Any) -> dict[str, Material]:
    mats = dict(BUILTIN_MATERIALS)
    tbl = _table(ctx, raw, "materials", tuple(raw) if isinstance(raw, dict) else (), required=False)
    if tbl is not None and len(tbl) > ctx.limits.materials:
        ctx.err("materials", f"{len(tbl):,} materials, more than the {ctx.limits.materials:,} a layout may have "
                             "(LayoutLimits.materials)")
        ctx.failed_materials.update(tbl)
        return mats
    for name, spec in (tbl or {}).items():
        path = f"materials.{_key(name)}"
        mark = ctx.mark()
        why = _name_problem(name, ctx.limits.name_length)
        if why is not None:
            ctx.err(path, why.replace("names", "material names", 1))
            ctx.failed_materials.add(name)
            continue
        s = _table(ctx, spec, path, _MATERIAL_KEYS)
        if s is None:
            ctx.failed_materials.add(name)
            continue
        k = s.get("conductivity")
        if isinstance(k, list):
            if len(k) != 3:
                ctx.err(f"{path}.conductivity", f"an anisotropic conductivity is [kx, ky, kz]; got {len(k)} values")
                ctx.failed_materials.add(name)
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
        if any(v is None for v in ks) or c is None or ctx.failed_since(mark):
            ctx.failed_materials.add(name)
            continue
        _plausible_material(ctx, path, name, ks)
        mech = _material_mechanics(ctx, s, path, name)
        if mech is None:
            ctx.failed_materials.add(name)
            continue
        mats[name] = dataclasses.replace(Material(name, ks[0], ks[1], ks[2], c, n, t_ref, src or ""), **mech)
    return mats


# Mechanical keys of [materials.NAME] (warpage): key -> (unit kind, lowest, highest, what the range says).
_MECH_KEYS = {
    "youngs_modulus": ("modulus", 0.0, 2e12, "positive and at most 2 TPa (diamond is ~1.1 TPa)"),
    "shear_modulus": ("modulus", 0.0, 1e12, "positive and at most 1 TPa"),
    "youngs_modulus_above_tg": ("modulus", 0.0, 2e12, "positive and at most 2 TPa"),
    "poisson_ratio": ("dimensionless", -1.0, 1.0, "between -1 and 1"),
    "cte": ("inverse_temperature", -1e-4, 1e-3, "between -100 and 1000 ppm/K"),
    "cte_above_tg": ("inverse_temperature", -1e-4, 1e-3, "between -100 and 1000 ppm/K"),
}


def _material_mechanics(ctx: _Ctx, s: dict, path: str, name: str) -> dict | None:
    """Mechanical fields of a [materials.NAME] table: the layout's values, the rest from the built-in
    material of the same name (codesign.materials); ``None`` when a value is bad."""
    ref = BUILTIN_MATERIALS.get(name)
    out = {k: getattr(ref, k) for k in (*_MECH_KEYS, "glass_transition", "mechanical_source")} if ref else {}
    mark = ctx.mark()
    for key, (kind, lo, hi, says) in _MECH_KEYS.items():
        if key not in s:
            continue
        raw = s[key]
        items = raw if isinstance(raw, list) else [raw]
        if isinstance(raw, list) and len(raw) != 3:
            ctx.err(f"{path}.{key}", f"an orthotropic value is three values [x, y, z] (Poisson ratios and shear "
                                     f"moduli: [xy, yz, xz]); got {len(raw)}")
            continue
        vals = []
        for i, item in enumerate(items):
            sub = f"{key}[{i}]" if isinstance(raw, list) else key
            v = _quantity(ctx, {sub: item}, sub, path, kind)
            if v is not None and not (lo < v <= hi if kind == "modulus" else lo <= v <= hi):
                ctx.err(f"{path}.{sub}", f"{_show(item)} is out of range: {says}; check the exponent and the unit")
                v = None
            vals.append(v)
        if None not in vals:
            out[key] = tuple(vals) * (3 if len(vals) == 1 else 1)
    if "glass_transition" in s:
        out["glass_transition"] = _quantity(ctx, s, "glass_transition", path, "temperature", positive=True)
    if "mechanical_source" in s:
        out["mechanical_source"] = _string(ctx, s, "mechanical_source", path, required=False, default="")
    if ctx.failed_since(mark):
        return None
    given = [k for k in ("youngs_modulus", "poisson_ratio", "cte") if out.get(k) is not None]
    if given and len(given) < 3:
        missing = [k for k in ("youngs_modulus", "poisson_ratio", "cte") if k not in given]
        ctx.err(path, f"mechanical data needs youngs_modulus, poisson_ratio and cte together; {', '.join(missing)} "
                      "missing (no built-in material of this name to take them from)")
        return None
    above = [k for k in ("youngs_modulus_above_tg", "cte_above_tg") if out.get(k) is not None]
    if above and out.get("glass_transition") is None:
        ctx.err(f"{path}.{above[0]}", "values above Tg need glass_transition (e.g. \"120 degC\")")
        return None
    return out


def _plausible_material(ctx: _Ctx, path: str, name: str, ks: list[float]) -> None:
    axes = ("",) if len(set(ks)) == 1 else ("[0]", "[1]", "[2]")
    for axis, k in zip(axes, ks):
        where = f"{path}.conductivity{axis}"
        if k < PLAUSIBLE_CONDUCTIVITY_MIN:
            ctx.warn(where, f"{k:.3g} W/m/K is below still air (0.0263 W/m/K, Incropera Table A.4), less than any "
                            "material of a package; check the exponent and the unit")
        elif k > PLAUSIBLE_CONDUCTIVITY_MAX:
            ctx.warn(where, f"{k:.4g} W/m/K is above diamond (2300 W/m/K, Incropera Table A.2), the best bulk "
                            "conductor known; check the exponent and the unit")
    ref = BUILTIN_MATERIALS.get(name)
    if ref is not None:
        for axis, k, k0 in zip(("[0]", "[1]", "[2]") if len(axes) == 3 else ("",), ks, (ref.kx, ref.ky, ref.kz)):
            f = k / k0
            if not 1 / PLAUSIBLE_BUILTIN_FACTOR <= f <= PLAUSIBLE_BUILTIN_FACTOR:
                ctx.warn(f"{path}.conductivity{axis}",
                         f"{k:.4g} W/m/K is {_ratio(max(f, 1 / f))}x {'above' if f > 1 else 'below'} the built-in "
                         f"{name!r} ({k0:.4g} W/m/K; {ref.source.split(';')[0]}); this definition replaces the "
                         "built-in one for this layout. Check the value, or give the material another name")


def _ratio(r: float) -> str:
    return f"{r:.3g}" if r < 1000 else f"{r:,.0f}"


def _check_material(ctx: _Ctx, mats: dict, name: str | None, path: str) -> None:
    if name is not None and name not in mats and name not in ctx.failed_materials:
        ctx.err(path, f"unknown material {_show(name)}" + _nearest(name, mats) + " (or define it under [materials])")


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
    if "fill" in s:  # an inherited fill is the layer's material, reported there
        _check_material(ctx, mats, fill, _join(path, "fill"))
    if pitch is not None and dia is not None and dia >= pitch:
        ctx.err(_join(path, "diameter"), f"diameter {_show(s['diameter'])} must be smaller than the pitch "
                                         f"{_show(s['pitch'])}")
        return None
    if None in (kind, pitch, dia, mat, fill) or mat not in mats or fill not in mats:
        return None
    return Interconnect(kind, pitch, dia, mat, fill)


_LEAKAGE_KEYS = ("reference_power", "reference_temperature", "model", "coefficient", "polynomial")


def _leakage(ctx: _Ctx, raw: Any, path: str) -> Leakage | None:
    s = _table(ctx, raw, path, _LEAKAGE_KEYS)
    if s is None:
        return None
    mark = ctx.mark()
    p0 = _quantity(ctx, s, "reference_power", path, "power", nonnegative=True)
    t0 = _quantity(ctx, s, "reference_temperature", path, "temperature")
    model = _string(ctx, s, "model", path, required=False, default="exponential", choices=("exponential", "polynomial"))
    coef, poly = 0.0, ()
    if model == "exponential":
        coef = _quantity(ctx, s, "coefficient", path, "inverse_temperature", nonnegative=True)
        if coef is not None:
            coef = _check_leakage_coefficient(ctx, _join(path, "coefficient"), coef)
        if "polynomial" in s:
            ctx.err(_join(path, "polynomial"), "only for model = \"polynomial\"; remove it or change the model")
    elif model == "polynomial":
        raw_poly = s.get("polynomial")
        if not isinstance(raw_poly, list) or not raw_poly or len(raw_poly) > MAX_UNIT_EXPONENT:
            ctx.err(_join(path, "polynomial"),
                    f"expected a list of 1 to {MAX_UNIT_EXPONENT} coefficients such as [\"0.02 1/K\", \"1e-4 1/K^2\"], "
                    f"got {_show(raw_poly)}")
        else:
            vals = []
            for i, item in enumerate(raw_poly):
                try:
                    vals.append(_poly_coefficient(item, i + 1))
                except UnitError as e:
                    ctx.err(f"{path}.polynomial[{i}]", str(e))
            poly = tuple(vals)
            if len(vals) == len(raw_poly):
                _check_polynomial(ctx, _join(path, "polynomial"), poly)
        if "coefficient" in s:
            ctx.err(_join(path, "coefficient"), "only for model = \"exponential\"; use polynomial = [...]")
    if p0 is None or t0 is None or coef is None or ctx.failed_since(mark):
        return None
    return Leakage(p0, t0, model or "exponential", coef, poly)


def _check_leakage_coefficient(ctx: _Ctx, path: str, c: float) -> float | None:
    if c > LEAKAGE_COEFFICIENT_LIMIT:
        ctx.err(path, (f"{c:.3g} 1/K makes the leakage P_ref·exp(c·ΔT) overflow within {math.log(1.7e308) / c:.3g} K "
                       f"of the reference temperature; coefficients above {LEAKAGE_COEFFICIENT_LIMIT} 1/K are refused "
                       f"(measured leakage grows by at most ~{PLAUSIBLE_LEAKAGE_COEFFICIENT_MAX} 1/K); "
                       "check the exponent and the unit"))
        return None
    if c > PLAUSIBLE_LEAKAGE_COEFFICIENT_MAX:
        ctx.warn(path, (f"{c:.3g} 1/K multiplies the leakage by {math.exp(10 * c):.3g} every 10 K, faster than "
                        f"subthreshold leakage grows (at most ~{PLAUSIBLE_LEAKAGE_COEFFICIENT_MAX} 1/K; "
                        "docs/layout-format.md); check the value"))
    return c


def _check_polynomial(ctx: _Ctx, path: str, poly: tuple[float, ...]) -> None:
    # finite over the whole temperature span: |c_i|·(1000 K)^i below 1e300
    for i, c in enumerate(poly, start=1):
        if c and math.log10(abs(c)) + i * math.log10(_LEAKAGE_SPAN) > 300:
            ctx.err(f"{path}[{i - 1}]", (f"{c:.3g} 1/K^{i} makes the leakage overflow within {_LEAKAGE_SPAN:g} K of the "
                                         "reference temperature; check the exponent and the unit"))
            return

    def factor(dt: float) -> float:
        return 1.0 + sum(c * dt ** i for i, c in enumerate(poly, start=1))

    steps = [float(d) for d in range(0, int(_LEAKAGE_CHECK) + 1)]
    values = [factor(d) for d in steps]
    negative = next((d for d, v in zip(steps, values) if v < 0), None)
    if negative is not None:
        ctx.warn(path, (f"the leakage factor 1 + Σ c_i ΔT^i is negative at ΔT = {negative:g} K above the reference "
                        "temperature (a negative leakage power); check the signs"))
        return
    falling = next((d for d, a, b in zip(steps[1:], values, values[1:]) if b < a), None)
    if falling is not None:
        ctx.warn(path, (f"the leakage falls with temperature (at ΔT = {falling:g} K above the reference temperature); "
                        "subthreshold leakage rises with temperature; check the signs"))
        return
    fast = next((d for d, v in zip(steps[1:], values[1:]) if v > math.exp(PLAUSIBLE_LEAKAGE_COEFFICIENT_MAX * d)), None)
    if fast is not None:
        ctx.warn(path, (f"the leakage grows faster than exp({PLAUSIBLE_LEAKAGE_COEFFICIENT_MAX} 1/K · ΔT) (at ΔT = "
                        f"{fast:g} K), faster than subthreshold leakage grows (docs/layout-format.md); check the values"))


def _poly_coefficient(item: Any, order: int) -> float:
    from .units import _dim, _parse_unit

    if not isinstance(item, str):
        raise UnitError(f"expected a coefficient with unit 1/K^{order} such as \"1e-3 1/K^{order}\", got {_show(item)}")
    number, unit = split_quantity(item)
    if not unit:
        raise UnitError(f"expected a coefficient with unit 1/K^{order}, got {_show(item)}")
    scale, d = _parse_unit(unit)
    if not d.same(_dim(K=-order)):
        raise UnitError(f"coefficient {order} needs the unit 1/K^{order}, got {_show(item)}")
    v = number * scale
    if not math.isfinite(v):
        raise UnitError(f"{_show(item)} is not finite")
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
                 "active_thickness", "active_side", "leakage", "tj_max", "hbm", "spans", "node")
_BLOCK_KEYS = ("name", "origin", "size", "power")
# A power-map cell: a plain decimal number (no "nan", "inf", digit separators or other scripts).
_CELL = re.compile(r"[-+]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?")


def _shipped_folder(folder: Path) -> bool:
    try:
        return folder.is_relative_to(_layouts_root().resolve())
    except (OSError, RuntimeError, ValueError):
        return False


def _read_power_map(ctx: _Ctx, value: Any, path: str) -> PowerMap | None:
    """The power map named by ``value``, read from the layout's folder; problems name the file, never its content."""
    lim = ctx.limits
    if not isinstance(value, str) or not value.strip():
        ctx.err(path, f"expected a CSV file name relative to the layout, got {_show(value)}")
        return None
    if len(value) > 255 or any(unicodedata.category(ch)[0] == "C" for ch in value):
        ctx.err(path, f"a power-map file name is at most 255 characters, without control characters; got {_show(value)}")
        return None
    if ctx.folder is None:
        ctx.err(path, "a power map needs a layout read from a file (the CSV is found next to it)")
        return None
    name = _show(value)
    try:
        folder = ctx.folder.resolve()
        target = (folder / value).resolve()
    except (OSError, RuntimeError, ValueError) as e:  # a symbolic-link loop is a RuntimeError before Python 3.13
        ctx.err(path, f"cannot resolve {name} in the layout's folder ({type(e).__name__}: a symbolic-link loop or a "
                      "bad name); give the name of a CSV file next to the layout")
        return None
    if not target.is_relative_to(folder):
        ctx.err(path, f"{name} lies outside the layout's folder {folder} (following '..' and symbolic links); "
                      "copy the CSV next to the layout")
        return None
    try:
        st = target.stat()
    except FileNotFoundError:
        ctx.err(path, f"file {name} not found in {folder}")
        return None
    except OSError as e:
        ctx.err(path, f"cannot open {name}: {e.strerror or type(e).__name__}")
        return None
    if stat.S_ISREG(st.st_mode) and st.st_nlink > 1 and not _shipped_folder(folder):
        ctx.err(path, (f"{name} has {st.st_nlink} hard links, so the reader cannot tell that the file belongs to the "
                       f"layout's folder; replace the link by a copy (cp {value} {value}.tmp && mv {value}.tmp {value})"))
        return None
    try:
        text = read_text(target, error=LayoutError, source=value, what="power map", max_bytes=lim.power_map_bytes)
    except LayoutError as e:
        for _, msg in e.problems:
            hint = (f" (a map may have {lim.power_map_cells:,} cells; raise LayoutLimits.power_map_cells for a finer one)"
                    if "bytes" in msg else "")
            ctx.err(path, f"{name}: {msg}{hint}")
        return None

    def fail(msg: str) -> None:
        ctx.err(path, f"{name} {msg}")

    rows: list[tuple[float, ...]] = []
    ncol = 0
    budget = lim.power_map_cells - ctx.map_cells
    reader = csv.reader(io.StringIO(text))
    try:
        for row in reader:
            line = reader.line_num
            if not row or row[0].lstrip().startswith("#"):
                continue
            if not rows:
                ncol = len(row)
            elif len(row) != ncol:
                return fail(f"line {line} has {len(row)} cells, the first row {ncol}; a power map is a rectangular "
                            "grid of numbers (one row per line)")
            if (len(rows) + 1) * ncol > budget:
                others = (f" ({ctx.map_cells:,} are used by the layout's other maps)" if ctx.map_cells else "")
                return fail(f"has more than {budget:,} cells{others}; the power maps of a layout may have "
                            f"{lim.power_map_cells:,} cells in all (LayoutLimits.power_map_cells, e.g. one 128 x 128 "
                            "map); coarsen the map, or raise the limit on purpose (meshing time grows with the cells)")
            vals = []
            for j, cell in enumerate(row):
                c = cell.strip()
                if len(c) > 40 or not _CELL.fullmatch(c):
                    return fail(f"line {line}, column {j + 1}: not a number; every cell must be a number of watts "
                                "such as 0.25")
                v = float(c)
                if not 0.0 <= v <= _MAX_POWER:  # inf from 1e400 fails too
                    return fail(f"line {line}, column {j + 1}: powers must be finite and non-negative, at most "
                                f"{_MAX_POWER:g} W (100 kW) a cell; check the exponent")
                vals.append(v)
            rows.append(tuple(vals))
    except csv.Error as e:
        return fail(f"line {reader.line_num}: not a readable CSV file ({str(e).split(' - ')[0]})")
    if not rows or ncol == 0:
        return fail("must be a non-empty rectangular grid of numbers (one row per line)")
    total = sum(sum(r) for r in rows)
    if total > _MAX_POWER:
        return fail(f"adds up to {total:.4g} W, more than the {_MAX_POWER:g} W (100 kW) a chiplet may dissipate; "
                    "check the unit (watts per cell) and the exponents")
    ctx.map_cells += len(rows) * ncol
    return PowerMap(value, tuple(rows))


def _chiplet(ctx: _Ctx, raw: dict, path: str, mats: dict, layer_thickness: float | None,
             layer_name: str | None, derived: dict) -> Chiplet | None:
    s = _table(ctx, raw, path, _CHIPLET_KEYS)
    if s is None:
        return None
    name = _name(ctx, s, path)
    mark = ctx.mark()
    kind = _string(ctx, s, "kind", path, required=False, default="logic", choices=CHIPLET_KINDS)
    kind_failed = ctx.failed_since(mark)
    rect = _rect(ctx, s, path)
    material = _string(ctx, s, "material", path, required=False, default="silicon")
    power = _quantity(ctx, s, "power", path, "power", required=False, default=0.0, nonnegative=True)
    blocks = []
    seen_blocks = set()
    for i, b in _list_of_tables(ctx, s.get("power_blocks"), _join(path, "power_blocks"),
                                limit=ctx.limits.power_blocks, what="power_blocks"):
        bp = f"{path}.power_blocks[{i}]"
        bs = _table(ctx, b, bp, _BLOCK_KEYS)
        if bs is None:
            continue
        bname = _name(ctx, bs, bp)
        brect = _rect(ctx, bs, bp, offset=(rect.x, rect.y) if rect else (0.0, 0.0))
        bpow = _quantity(ctx, bs, "power", bp, "power", nonnegative=True)
        if bname is not None and bname in seen_blocks:
            ctx.err(_join(bp, "name"), f"duplicate power block name {bname!r} in this chiplet; rename one")
        seen_blocks.add(bname)
        if rect is not None and brect is not None and not rect.contains(brect, tol=1e-9):
            ctx.err(bp, (f"power block {bname!r} (origin relative to the die) extends outside its die "
                         f"{name!r} of size {rect.width * 1e3:.4g} x {rect.height * 1e3:.4g} mm; move or shrink it"))
        elif bpow and brect is not None and bpow / brect.area > PLAUSIBLE_LOCAL_FLUX_MAX:
            ctx.warn(bp, _flux_warning(bpow / brect.area, PLAUSIBLE_LOCAL_FLUX_MAX, "hot-spot heat flux"))
        if None not in (bname, brect, bpow):
            blocks.append(PowerBlock(bname, brect, bpow))
    pmap = _read_power_map(ctx, s["power_map"], _join(path, "power_map")) if "power_map" in s else None
    active = _quantity(ctx, s, "active_thickness", path, "length", required=False, positive=True)
    side = _string(ctx, s, "active_side", path, required=False, default="bottom", choices=("bottom", "top"))
    if active is not None and layer_thickness is not None and active > layer_thickness * (1 + 1e-9):
        ctx.err(_join(path, "active_thickness"), f"{_show(s['active_thickness'])} exceeds the die's thickness "
                                                 f"({layer_thickness * 1e6:.4g} um: its layer, or the layers it spans); "
                                                 "reduce it")
        active = None
    leak = _leakage(ctx, s["leakage"], _join(path, "leakage")) if "leakage" in s else None
    tj = _quantity(ctx, s, "tj_max", path, "temperature", required=False)
    node = _string(ctx, s, "node", path, required=False, default=None)  # checked against [cost] in _parse
    hbm = None
    if "hbm" in s:
        if not kind_failed and kind != "hbm":
            ctx.err(_join(path, "hbm"), f"an hbm description needs kind = \"hbm\", got kind = {kind!r}")
        hbm = _hbm(ctx, s["hbm"], _join(path, "hbm"), mats)
        if hbm is not None and layer_thickness is not None:
            used = hbm.base_die_thickness + hbm.dram_dies * (hbm.die_thickness + hbm.bond_thickness)
            if used > layer_thickness * (1 + 1e-9):
                ctx.err(_join(path, "hbm"), (f"the stack is {used * 1e6:.1f} um tall but the die (its layer, or the "
                                             f"layers it spans) is {layer_thickness * 1e6:.1f} um; thicken the layer, "
                                             "let the die span the layers above (spans = [...]) or thin the dies"))
                hbm = None
    _check_material(ctx, mats, material, _join(path, "material"))
    if rect is not None and power is not None:
        if pmap is not None:
            cell_area = rect.area / (len(pmap.values) * len(pmap.values[0]))
            peak = max(max(r) for r in pmap.values) / cell_area
            if peak > PLAUSIBLE_LOCAL_FLUX_MAX:
                ctx.warn(_join(path, "power_map"), _flux_warning(peak, PLAUSIBLE_LOCAL_FLUX_MAX, "hot-spot heat flux"))
        total = power + sum(b.power for b in blocks) + (pmap.total if pmap is not None else 0.0)
        if total / rect.area > PLAUSIBLE_DIE_FLUX_MAX:
            ctx.warn(path, _flux_warning(total / rect.area, PLAUSIBLE_DIE_FLUX_MAX, "die-level heat flux",
                                         f"{total:.4g} W on {rect.width * 1e3:.4g} x {rect.height * 1e3:.4g} mm: "))
    if None in (name, kind, rect, power, side) or material not in mats:
        return None
    if hbm is not None and layer_thickness is not None:
        m = homogenise_hbm(hbm, layer_thickness, mats[material], (mats[hbm.bond.material], mats[hbm.bond.fill]),
                           name=f"hbm:{name}")
        derived[m.name] = m
        material = m.name
    return Chiplet(name=name, kind=kind, material=material, rect=rect, power=power, power_blocks=tuple(blocks),
                   power_map=pmap, active_thickness=active, active_side=side, leakage=leak, tj_max=tj, hbm=hbm,
                   node=node)


def _flux_warning(flux: float, limit: float, what: str, prefix: str = "") -> str:
    return (f"{prefix}{flux / 1e4:.4g} W/cm^2 is beyond {limit / 1e4:.4g} W/cm^2, the {what} of DARPA ICECool's "
            "microfluidically cooled demonstration die (production packages run near 100 W/cm^2); check the power, "
            "the size and their units")


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
                                  "max_vertical_size", "target_error", "max_cells"), required=False)
    if s is None:
        return MeshControls()
    d = MeshControls()
    target, fraction = _target_error(ctx, s)
    return MeshControls(
        target_error=target, target_fraction=fraction,
        max_cells=_integer(ctx, s, "max_cells", "mesh", required=False, default=None, lo=1000, hi=MAX_CELLS),
        max_lateral_size=_quantity(ctx, s, "max_lateral_size", "mesh", "length", required=False,
                                   default=d.max_lateral_size, positive=True),
        min_lateral_size=_quantity(ctx, s, "min_lateral_size", "mesh", "length", required=False, positive=True),
        grading=_number(ctx, s, "grading", "mesh", default=d.grading, lo=1.0, hi=3.0),
        cells_per_layer=_integer(ctx, s, "cells_per_layer", "mesh", required=False, default=d.cells_per_layer,
                                 lo=1, hi=64),
        max_vertical_size=_quantity(ctx, s, "max_vertical_size", "mesh", "length", required=False,
                                    default=d.max_vertical_size, positive=True),
    )


def _target_error(ctx: _Ctx, s: dict) -> tuple[float | None, float | None]:
    """``mesh.target_error``: a temperature difference ("0.5 K") or a fraction of the largest rise
    ("1 %"); returns ``(kelvin, fraction)``, one of them None (both None when absent or wrong)."""
    if "target_error" not in s:
        return None, None
    v, p = s["target_error"], "mesh.target_error"
    fix = 'give a temperature difference such as "0.5 K" or a fraction of the largest rise such as "1 %"'
    if not isinstance(v, str):
        ctx.err(p, f"expected a quantity string, got {_show(v)}; {fix}")
        return None, None
    for kind in ("temperature_difference", "dimensionless"):
        try:
            x = parse_quantity(v, kind)
        except UnitError:
            continue
        if kind == "dimensionless" and not v.strip().endswith("%"):
            break  # a bare number: which unit was meant is unclear
        if not (math.isfinite(x) and x > 0) or (kind == "dimensionless" and x >= 0.5):
            rule = "give a positive number of kelvin" if kind == "temperature_difference" else \
                "a fraction must lie between 0 and 50 %"
            ctx.err(p, f"{_show(v)} is out of range: {rule}")
            return None, None
        return (x, None) if kind == "temperature_difference" else (None, x)
    ctx.err(p, f"cannot read {_show(v)}; {fix}")
    return None, None


def _phys(ctx: _Ctx, raw: Any) -> dict:
    """The layout's [phys.NAME] tables, through codesign.phys.phys_from_toml (every value sourced)."""
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        ctx.err("phys", f"expected tables [phys.NAME], got {_show(raw)}")
        return {}
    if len(raw) > ctx.limits.phys:
        ctx.err("phys", f"{len(raw):,} PHY tables, more than the {ctx.limits.phys:,} a layout may have (LayoutLimits.phys)")
        return {}
    good = {}
    for name, tbl in raw.items():
        why = _name_problem(name, ctx.limits.name_length)
        if why is not None:
            ctx.err(f"phys.{_key(name)}", why.replace("names", "PHY names", 1))
        else:
            good[name] = tbl
    from .phys import PhyError, phys_from_toml

    try:
        return phys_from_toml(good)
    except PhyError as e:
        for line in str(e).splitlines()[1:]:
            path, _, msg = line.strip().partition(": ")
            ctx.err(path, msg)
        return {}
    except (TypeError, ValueError, ArithmeticError, RecursionError) as e:  # a table the PHY reader did not anticipate
        ctx.err("phys", f"cannot read the PHY tables ({type(e).__name__}); check each [phys.NAME] against "
                        "docs/layout-format.md")
        return {}


def _survey(raw_layers: Any) -> tuple[set[str], int, int]:
    """``(every chiplet name string, chiplet count, power-block count)`` of the file, valid or not.

    A link to a declared chiplet that failed is not an unknown endpoint (its own problem is reported).
    """
    names: set[str] = set()
    n_chips = n_blocks = 0
    if isinstance(raw_layers, list):
        for layer in raw_layers:
            chips = layer.get("chiplets") if isinstance(layer, dict) else None
            if not isinstance(chips, list):
                continue
            n_chips += len(chips)
            for c in chips:
                if isinstance(c, dict):
                    if isinstance(c.get("name"), str):
                        names.add(c["name"])
                    if isinstance(c.get("power_blocks"), list):
                        n_blocks += len(c["power_blocks"])
    return names, n_chips, n_blocks


def _layer_survey(raw_layers: Any) -> list[tuple[str | None, float | None]]:
    """``(name, thickness)`` of every ``[[layers]]`` table in file order, read leniently (None where a
    value is bad: its problem is reported where the layer is read). Spanning dies need the layers
    below theirs before those are read."""
    out: list[tuple[str | None, float | None]] = []
    if isinstance(raw_layers, list):
        for layer in raw_layers:
            name = thickness = None
            if isinstance(layer, dict):
                name = layer.get("name") if isinstance(layer.get("name"), str) else None
                try:
                    thickness = parse_quantity(layer.get("thickness"), "length")
                except UnitError:
                    pass
                if thickness is not None and not 1e-8 <= thickness <= _RANGES["length"][1]:
                    thickness = None
            out.append((name, thickness))
    return out


def _spans(ctx: _Ctx, tbl: dict, path: str, i: int, survey: list, own_thickness: float | None
           ) -> tuple[tuple[str, ...], float | None] | None:
    """The layers a die fills (``()``: its own only) and the die's thickness; None when ``spans`` failed."""
    if "spans" not in tbl:
        return (), own_thickness
    p = _join(path, "spans")
    v = tbl["spans"]
    names = [n for n, _ in survey]
    own = names[i]
    example = "[\"xcd\", \"bond\", \"iod\"]"
    if not (isinstance(v, list) and v and all(isinstance(e, str) for e in v)) or len(v) > ctx.limits.layers:
        ctx.err(p, f"expected a list of layer names, top to bottom, such as {example}: the consecutive layers the "
                   f"die fills, its own among them; got {_show(v)}")
        return None
    bad = [e for e in v if e not in names]
    for e in bad:
        ctx.err(p, f"unknown layer {_show(e)}" + _nearest(e, [n for n in names if n is not None]))
    if bad or own is None:  # a layer without a valid name is reported at the layer
        return None
    if own not in v:
        ctx.err(p, f"must include {own!r}, the layer the die is declared in; got {_show(v)}")
        return None
    if len(set(v)) != len(v):
        ctx.err(p, f"names a layer twice: {_show(v)}; list each layer the die fills once, top to bottom")
        return None
    idx = [names.index(e) for e in v]
    if idx != list(range(idx[0], idx[0] + len(idx))):
        run = [n for n in names[min(idx):max(idx) + 1]]
        ctx.err(p, f"{_show(v)} are not consecutive layers listed top to bottom; a die fills an unbroken run of "
                   f"layers in the file's order, e.g. {run!r}")
        return None
    ts = [survey[j][1] for j in idx]
    thickness = sum(ts) if all(t is not None for t in ts) else None
    return (tuple(v) if len(v) > 1 else ()), thickness


def _place_spanning(ctx: _Ctx, layers: list[tuple[int, Layer]], chip_paths: dict) -> list[tuple[int, Layer]]:
    """Check the dies that span several layers in every layer they span (inside its extent, overlapping
    no die there) and move each into the ``chiplets`` of its bottom layer, so that it is one die."""
    loaded = {layer.name: layer for _, layer in layers}
    occupied = {layer.name: [(c, chip_paths[c.name]) for c in layer.chiplets] for _, layer in layers}
    reported: set[frozenset] = set()
    moved: dict[str, list[Chiplet]] = {}
    for _, layer in layers:
        for c in layer.chiplets:
            if not c.spans:
                continue
            cpath = chip_paths[c.name]
            for other in c.spans:
                if other == layer.name or other not in loaded:  # a failed layer is reported already
                    continue
                ext = loaded[other].extent
                if not ext.contains(c.rect, tol=1e-9):
                    ctx.err(_join(cpath, "spans"), (
                        f"chiplet {c.name!r} at ({c.rect.x * 1e3:.4g}, {c.rect.y * 1e3:.4g}) mm of size "
                        f"{c.rect.width * 1e3:.4g} x {c.rect.height * 1e3:.4g} mm lies outside layer {other!r}, which "
                        "it spans; move it inside, enlarge that layer, or span fewer layers"))
                for d, dpath in occupied[other]:
                    pair = frozenset((c.name, d.name))
                    if c.rect.overlaps(d.rect) and pair not in reported:
                        reported.add(pair)
                        ctx.err(cpath, f"chiplet {c.name!r} overlaps {d.name!r} ({dpath}) in layer {other!r}, which "
                                       f"{c.name!r} spans; move one of them (a die spanning layers replaces the 0 W "
                                       "cap blocks older layouts put above it: remove those)")
                occupied[other].append((c, cpath))
            if c.spans[-1] != layer.name:
                moved.setdefault(c.spans[-1], []).append(c)
    if not any(c.spans for _, layer in layers for c in layer.chiplets):
        return layers
    return [(i, dataclasses.replace(layer, chiplets=tuple(c for c in layer.chiplets if not c.spans
                                                          or c.spans[-1] == layer.name)
                                    + tuple(moved.get(layer.name, ()))))
            for i, layer in layers]


def _cost_section(ctx: _Ctx, doc: dict, layers: list):
    """The [cost] table (codesign.cost_io) and each chiplet's ``node`` checked against its nodes."""
    from .cost import DEFAULT_COST_PARAMS
    from .cost_io import check_node, read_cost_table

    cost = read_cost_table(doc["cost"], "cost", ctx.err, source_file=ctx.source) if "cost" in doc else None
    params = cost.params if cost is not None else DEFAULT_COST_PARAMS
    for layer in layers:
        for c in layer.chiplets:
            if c.node is not None:
                check_node(c.node, f"chiplet {c.name!r}.node", ctx.err, params)
    return cost


def _parse(ctx: _Ctx, doc: dict) -> Stack | None:
    lim = ctx.limits
    top = _table(ctx, doc, "", ("schema", "name", "description", "materials", "package", "boundaries", "layers",
                                "links", "mesh", "phys", "warpage", "cost"))
    if top is None:
        return None
    schema = doc.get("schema")
    if isinstance(schema, bool) or schema != SCHEMA_VERSION:
        ctx.err("schema", f"expected schema = {SCHEMA_VERSION} (this tool's layout format version), got {_show(schema)}")
    name = _name(ctx, doc, "")
    description = _string(ctx, doc, "description", "", required=False, default="")
    mats = _materials(ctx, doc.get("materials"))
    derived: dict[str, Material] = {}

    pkg = _table(ctx, doc.get("package"), "package", ("size",))
    pkg_size = _pair(ctx, pkg, "size", "package", "length", positive=True) if pkg is not None else None
    package = Rect(0.0, 0.0, *pkg_size) if pkg_size else None

    mark = ctx.mark()
    b = _table(ctx, doc.get("boundaries"), "boundaries", ("top", "bottom", "sides"))
    b = b or {}
    top_b = _boundary(ctx, b.get("top"), "boundaries.top", ("heat_sink", "cold_plate", "convective", "adiabatic"),
                      "heat_sink")
    bot_b = _boundary(ctx, b.get("bottom"), "boundaries.bottom", ("board", "convective", "adiabatic"), "board")
    side_b = _boundary(ctx, b.get("sides"), "boundaries.sides", ("adiabatic", "convective"), "adiabatic")
    if not ctx.failed_since(mark) and max(top_b.heat_transfer_coefficient, bot_b.heat_transfer_coefficient,
                                          side_b.heat_transfer_coefficient) <= 0:
        ctx.err("boundaries", "every boundary is adiabatic, so heat has no way out and no steady state exists; "
                              "give the top or bottom a heat_transfer_coefficient")

    raw_layers = doc.get("layers")
    if raw_layers is None:
        ctx.err("layers", "missing; list the layers top to bottom as [[layers]] tables")
    ctx.declared_chiplets, n_chips, n_blocks = _survey(raw_layers)
    for n, limit, what in ((n_chips, lim.chiplets, "chiplets"), (n_blocks, lim.power_blocks, "power_blocks")):
        if n > limit:
            ctx.err("layers", f"{n:,} {what.replace('_', ' ')} in all, more than the {limit:,} a layout may have "
                              f"(LayoutLimits.{what}); is this the right file?")
            return None
    layers: list[tuple[int, Layer]] = []
    names_seen: dict[str, str] = {}
    chip_paths: dict[str, str] = {}
    survey = _layer_survey(raw_layers)
    layer_items = _list_of_tables(ctx, raw_layers, "layers", limit=lim.layers, what="layers")
    if isinstance(raw_layers, list) and not raw_layers:
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
        if "origin" in s or "size" in s:
            extent = _rect(ctx, s, path, required=False)  # None when it failed: nothing is checked against it
        else:
            extent = package
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
        for j, craw in _list_of_tables(ctx, s.get("chiplets"), _join(path, "chiplets"), limit=lim.chiplets,
                                       what="chiplets"):
            cpath = f"{path}.chiplets[{j}]"
            span = _spans(ctx, craw, cpath, i, survey, thickness) if isinstance(craw, dict) else ((), thickness)
            c = _chiplet(ctx, craw, cpath, mats, span[1] if span else None, lname, derived)
            if c is None or span is None:
                continue
            if span[0]:
                c = dataclasses.replace(c, spans=span[0])
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
        layers.append((i, Layer(lname, thickness, material, extent, surround, tuple(c for c, _ in chips), ic,
                                region, cells)))

    layers = _place_spanning(ctx, layers, chip_paths)

    # A die must sit on something: the layer below's extent must cover its footprint (checked only
    # between neighbours that both loaded, so a failed layer causes no follow-on errors).
    for (i_up, upper), (i_low, lower) in zip(layers[:-1], layers[1:]):
        if i_low != i_up + 1:
            continue
        for c in upper.chiplets:
            if not lower.extent.contains(c.rect, tol=1e-9):
                ctx.err(chip_paths[c.name],
                        f"chiplet {c.name!r} is stacked over nothing: its footprint is not inside the extent of layer "
                        f"{lower.name!r} below; enlarge that layer or move the chiplet")

    layout_phys = _phys(ctx, doc.get("phys"))
    chip_names = {c.name for _, layer in layers for c in layer.chiplets}
    links = []
    link_names: set[str] = set()
    for i, raw in _list_of_tables(ctx, doc.get("links"), "links", limit=lim.links, what="links"):
        path = f"links[{i}]"
        s = _table(ctx, raw, path, ("name", "between", "bandwidth", "phy", "length"))
        if s is None:
            continue
        between = s.get("between")
        ok = True
        if not (isinstance(between, list) and len(between) == 2 and all(isinstance(e, str) for e in between)):
            ctx.err(_join(path, "between"), f"expected two chiplet names such as [\"gpu\", \"hbm0\"], got {_show(between)}")
            ok = False
        else:
            for e in between:
                if e not in chip_names:
                    ok = False
                    if e not in ctx.declared_chiplets:  # a declared chiplet that failed is reported already
                        ctx.err(_join(path, "between"), f"unknown link endpoint {_show(e)}" + _nearest(e, chip_names))
            if between[0] == between[1]:
                ctx.err(_join(path, "between"), f"a link needs two different chiplets, got {_show(between)}")
                ok = False
        lname = _name(ctx, s, path, required=False, default="-".join(between) if ok else None)
        if lname is not None and lname in link_names:
            ctx.err(_join(path, "name"), f"duplicate link name {lname!r}; give each link a unique name")
        link_names.add(lname)
        bw = _quantity(ctx, s, "bandwidth", path, "bandwidth", positive=True)
        phy = _string(ctx, s, "phy", path, required=False, default="auto")
        raw_phys = doc.get("phys") if isinstance(doc.get("phys"), dict) else {}
        if phy is not None and len(phy) > lim.name_length:
            ctx.err(_join(path, "phy"), f"PHY names are at most {lim.name_length} characters; got {len(phy):,}")
            phy = None
        elif phy not in (None, "auto") and phy not in raw_phys:  # a failed [phys] table is reported already
            from .phys import PhyError, get_phy

            try:
                get_phy(phy, layout_phys, where=f"{path}.phy")
            except PhyError as e:
                ctx.err(_join(path, "phy"), str(e).split(": ", 1)[-1] + " (or define it under [phys.NAME])")
        length = _quantity(ctx, s, "length", path, "length", required=False, positive=True)
        if ok and bw is not None and lname is not None and phy is not None:
            links.append(Link(lname, (between[0], between[1]), bw, phy, length))

    mesh = _mesh(ctx, doc.get("mesh"))
    warpage = _warpage(ctx, doc.get("warpage"), [layer.name for _, layer in layers], _survey_layers(raw_layers), mats)
    cost = _cost_section(ctx, doc, [layer for _, layer in layers])
    if ctx.problems or package is None or name is None:
        return None
    layers_ = [layer for _, layer in layers]
    used = {layer.material for layer in layers_} | {layer.surround for layer in layers_}
    used |= {c.material for layer in layers_ for c in layer.chiplets}
    for layer in layers_:
        if layer.interconnect is not None:
            used |= {layer.interconnect.material, layer.interconnect.fill}
    for m in derived.values():  # the parents of homogenised materials are parameters of the model
        used |= set(m.recipe.parents)
    if warpage is not None and warpage.board is not None:  # the board's materials (codesign.mechanics.with_board)
        used |= {warpage.board.material, warpage.board.ball_material, warpage.board.fill}
    all_mats = {**mats, **derived}
    stack = Stack(name=name, description=description or "", package=package, layers=tuple(layers_),
                  materials=tuple(all_mats[m] for m in sorted(set(all_mats) & (used | set(derived)))),
                  top=top_b, bottom=bot_b, sides=side_b, links=tuple(links), mesh=mesh, source=ctx.source,
                  phys=tuple(layout_phys.values()), warpage=warpage, cost=cost)
    # Derived interconnect materials are added under "<layer>:<kind>".
    extra = []
    for layer in layers_:
        if layer.interconnect is not None:
            ic = layer.interconnect
            extra.append(homogenise_interconnect(ic, mats[ic.material], mats[ic.fill],
                                                 name=f"{layer.name}:{ic.kind}"))
    stack = dataclasses.replace(stack, materials=stack.materials + tuple(extra))
    # Guard against meshes that cannot fit in memory (typos such as "1 nm" cells).
    from .mesh import estimate_cells

    n = estimate_cells(stack)
    if n > lim.mesh_cells:
        ctx.err("mesh", f"these controls give about {n:,} cells (limit {lim.mesh_cells:,}, LayoutLimits.mesh_cells); "
                        "raise mesh.max_lateral_size or mesh.max_vertical_size, or lower mesh.cells_per_layer")
        return None
    from .plausibility import check_stack  # stack-level plausibility rules (docs/plausibility.md)

    for path, msg in check_stack(stack, chip_paths):
        ctx.warn(path, msg)
    return stack


_WARPAGE_KEYS = ("steps", "room_temperature", "reflow_peak", "support", "coplanarity_limit",
                 "reflow_coplanarity_limit", "bump_shear_strain_limit", "limit_source", "source", "board",
                 "fatigue_cycles_per_day")
_BOARD_KEYS = ("thickness", "material", "ball_pitch", "ball_diameter", "ball_height", "ball_material", "fill",
               "stress_free_temperature", "source")


def _survey_layers(raw_layers: Any) -> set:
    """Every layer name the file declares (loaded or not: a failed layer is reported already)."""
    if not isinstance(raw_layers, list):
        return set()
    return {r["name"] for r in raw_layers if isinstance(r, dict) and isinstance(r.get("name"), str)}


def _warpage_board(ctx: _Ctx, raw: Any, mats: dict):
    """The [warpage.board] table (codesign.mechanics.BoardSpec); defaults for every key left out."""
    from .mechanics import BoardSpec

    path = "warpage.board"
    b = _table(ctx, raw, path, _BOARD_KEYS)
    if b is None:
        return None
    base = BoardSpec()
    mark = ctx.mark()
    vals = {}
    for key in ("thickness", "ball_pitch", "ball_diameter", "ball_height"):
        vals[key] = _quantity(ctx, b, key, path, "length", required=False, default=getattr(base, key), positive=True)
    vals["stress_free_temperature"] = _quantity(ctx, b, "stress_free_temperature", path, "temperature",
                                                required=False, default=base.stress_free_temperature)
    for key in ("material", "ball_material", "fill"):
        name = _string(ctx, b, key, path, required=False, default=getattr(base, key))
        if name is None:
            continue
        if name not in mats:
            ctx.err(_join(path, key), f"unknown material {_show(name)}" + _nearest(name, list(mats))
                    + "; use a built-in material or define it under [materials.NAME]")
        elif not mats[name].has_mechanics:
            ctx.err(_join(path, key), f"material {name!r} has no mechanical data; give youngs_modulus, poisson_ratio "
                                      f"and cte under [materials.{name}]")
        vals[key] = name
    source = _string(ctx, b, "source", path, required=False, default=None)
    if ctx.failed_since(mark):
        return None
    if not vals["ball_diameter"] < vals["ball_pitch"]:
        ctx.err(_join(path, "ball_diameter"), f"{_show(b.get('ball_diameter', '0.6 mm'))} is not below the ball pitch "
                                              f"({vals['ball_pitch'] * 1e3:g} mm); give a diameter smaller than the "
                                              "pitch (e.g. 0.6 mm balls at 1.0 mm pitch)")
        return None
    return BoardSpec(**vals, source=source if source is not None else ("layout" if set(b) - {"source"} else base.source))


def _warpage(ctx: _Ctx, raw: Any, layer_names: list[str], declared: set, mats: dict | None = None):
    """The [warpage] table (codesign.mechanics.WarpageSpec); ``None`` when absent (defaults apply)."""
    from .mechanics import ProcessStep, WarpageSpec

    if raw is None:
        return None
    s = _table(ctx, raw, "warpage", _WARPAGE_KEYS)
    if s is None:
        return None
    base = WarpageSpec()
    mark = ctx.mark()
    room = _quantity(ctx, s, "room_temperature", "warpage", "temperature", required=False,
                     default=base.room_temperature)
    peak = _quantity(ctx, s, "reflow_peak", "warpage", "temperature", required=False, default=base.reflow_peak)
    support = _string(ctx, s, "support", "warpage", required=False, default="free",
                      choices=("free", "simply_supported", "board"))
    board = None
    if "board" in s:
        board = _warpage_board(ctx, s["board"], mats or {})
        if support is not None and support != "board":
            ctx.err("warpage.board", f"a board is given but support = {support!r}; set support = \"board\" in "
                                     "[warpage] to solder the package to it, or remove [warpage.board]")
    cycles = _quantity(ctx, s, "fatigue_cycles_per_day", "warpage", "dimensionless", required=False, default=1.0,
                       positive=True)
    if cycles is not None and cycles > 1000:
        ctx.err("warpage.fatigue_cycles_per_day", f"{_show(s.get('fatigue_cycles_per_day'))} is above 1000, the "
                                                  "range of Engelmaier's model; give the cycles per day (e.g. 1)")
    lim = _quantity(ctx, s, "coplanarity_limit", "warpage", "length", required=False,
                    default=base.coplanarity_limit, positive=True)
    rlim = _quantity(ctx, s, "reflow_coplanarity_limit", "warpage", "length", required=False,
                     default=lim if lim is not None else base.reflow_coplanarity_limit, positive=True)
    strain = _quantity(ctx, s, "bump_shear_strain_limit", "warpage", "dimensionless", required=False, positive=True)
    own = {"coplanarity_limit", "reflow_coplanarity_limit"} & set(s)
    limit_source = _string(ctx, s, "limit_source", "warpage", required=False,
                           default="layout" if own else base.limit_source)
    source = _string(ctx, s, "source", "warpage", required=False, default="")
    steps = []
    seen: dict[str, str] = {}
    for i, sraw in _list_of_tables(ctx, s.get("steps"), "warpage.steps", limit=64, what="steps"):
        path = f"warpage.steps[{i}]"
        t = _table(ctx, sraw, path, ("name", "temperature", "layers", "source"))
        if t is None:
            continue
        sname = _name(ctx, t, path)
        temp = _quantity(ctx, t, "temperature", path, "temperature")
        lay = t.get("layers")
        if not (isinstance(lay, list) and lay and all(isinstance(x, str) for x in lay)):
            ctx.err(_join(path, "layers"), f"expected a list of layer names such as [\"dies\", \"c4\"], got {_show(lay)}")
            continue
        for x in lay:
            if x not in layer_names:
                if x not in declared:
                    ctx.err(_join(path, "layers"), f"unknown layer {_show(x)}" + _nearest(x, layer_names))
            elif x in seen:
                ctx.err(_join(path, "layers"), f"layer {x!r} is bonded by two steps ({seen[x]} and {path}); list it "
                                               "in one")
            seen.setdefault(x, path)
        step_src = _string(ctx, t, "source", path, required=False, default="")
        if sname is not None and temp is not None:
            steps.append(ProcessStep(sname, temp, tuple(lay), step_src or ""))
    if "steps" in s and not ctx.failed_since(mark):
        missing = [n for n in layer_names if n not in seen]
        if missing:
            ctx.err("warpage.steps", f"layer(s) {missing} are bonded by no step; add each layer to the step that "
                                     "bonds it (its stress-free temperature)")
    if peak is not None and room is not None and not peak > room:
        ctx.err("warpage.reflow_peak", f"{_show(s.get('reflow_peak'))} is not above the room temperature; give the "
                                       "reflow peak (e.g. \"260 degC\")")
    if ctx.failed_since(mark):
        return None
    return WarpageSpec(steps=tuple(steps), room_temperature=room, reflow_peak=peak, support=support,
                       coplanarity_limit=lim, reflow_coplanarity_limit=rlim, bump_shear_strain_limit=strain,
                       limit_source=limit_source or "", source=source or "", board=board,
                       fatigue_cycles_per_day=cycles)


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


def _load(text: str, source: str, folder: Path | None, limits: LayoutLimits | None, stacklevel: int) -> Stack:
    limits = limits or LayoutLimits()
    if not isinstance(text, str):
        raise LayoutError(source, [("", f"expected the layout as TOML text, got {type(text).__name__}")])
    if len(text) > limits.layout_bytes:
        raise LayoutError(source, [("", f"the layout is {len(text):,} characters, more than the {limits.layout_bytes:,} "
                                        "a layout may have (LayoutLimits.layout_bytes); is it the right file?")])
    doc = parse_toml(text, error=LayoutError, source=source)
    ctx = _Ctx(source, folder, limits)
    try:
        stack = _parse(ctx, doc)
    except RecursionError:
        raise LayoutError(source, [("", "the file nests too deeply to be a layout")]) from None
    if ctx.problems or stack is None:
        raise LayoutError(source, ctx.problems or [("", "the layout could not be read")])
    for path, msg in ctx.warnings:
        warnings.warn(PlausibilityWarning(f"{source}: {path}: {msg}"), stacklevel=stacklevel)
    return stack


def loads_layout(text: str, *, source: str = "<string>", folder: str | Path | None = None,
                 limits: LayoutLimits | None = None) -> Stack:
    """Parse layout TOML text. ``folder`` is where power-map CSV files are looked up.

    ``limits`` (a :class:`LayoutLimits`) raises the reader's size guards on purpose. Values outside
    plausible ranges load with a :class:`PlausibilityWarning`.
    """
    return _load(text, source, Path(folder) if folder is not None else None, limits, stacklevel=3)


def load_layout(path_or_name: str | Path, *, limits: LayoutLimits | None = None) -> Stack:
    """Load and validate a layout from a file path or a shipped layout name.

    Parameters
    ----------
    path_or_name : str or pathlib.Path
        A ``.toml`` file, or the name of a shipped layout (see :func:`shipped_layouts`).
    limits : LayoutLimits, optional
        Size guards (file size, item counts, power-map cells, mesh cells); the defaults suit
        every layout shipped, and each error names the limit it hit.

    Raises
    ------
    LayoutError
        Listing every problem with its field path, the value and the fix.

    Warns
    -----
    PlausibilityWarning
        For each value outside a sourced plausible range (docs/layout-format.md).

    Examples
    --------
    >>> stack = load_layout("demo")
    >>> stack.name
    'demo'
    """
    limits = limits or LayoutLimits()
    p = Path(path_or_name)
    shown = str(p) if len(str(p)) <= 200 else _show(str(p))
    try:
        present = os.path.lexists(p)
    except (OSError, ValueError):  # a NUL in the path
        present = False
    if present and p.is_dir() and str(path_or_name) in shipped_layouts():
        present = False  # a folder named like a shipped layout (e.g. an output folder 'demo/') is not a layout
    if not present:
        shipped = shipped_layouts()
        if str(path_or_name) in shipped:
            p = shipped_layout_path(str(path_or_name))
            shown = str(p)
        else:
            raise LayoutError(shown, [("", "no such file, and no shipped layout of that name"
                                           + _nearest(str(path_or_name), shipped).replace("Defined", "Shipped"))])
    text = read_text(p, error=LayoutError, source=shown, what="layout", max_bytes=limits.layout_bytes)
    return _load(text, shown, p.parent, limits, stacklevel=3)
