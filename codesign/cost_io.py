"""The ``[cost]`` section of layout and system files: preset, volume, flow and sourced overrides.

One reader for both file kinds (:func:`read_cost_table`); problems are reported through the
caller's ``err(path, message)`` so they appear with the file's other problems, at load time, with
the file path. Format (``docs/cost.md``)::

    [cost]
    preset = "default"            # default | actuary | catch | rapidchiplet (codesign.cost_presets)
    volume = 1e6                  # units over which NRE is amortised
    dpw_method = "best_placement" # analytic | analytic_floor | best_placement
    flow = "chip_last"            # chip_last | chip_first
    module_test = false           # test the die-on-carrier module before substrate attach
    [cost.set]                    # any scalar of CostParams, each with its source
    package_test_cost = { value = 8.0, source = "our test house quote 2025" }
    [cost.nodes.N4]               # change (or add) a process node: fields of NodeParams
    wafer_cost = { value = 18000, source = "..." }
    [cost.technologies.silicon_interposer]   # fields of TechnologyParams
    bond_chip_yield = { value = 0.97, source = "..." }

Values are SI (m, m², 1/m², $). A new node needs every NodeParams number. Each override carries a
``source`` string, kept next to the value and shown in the report.
"""

from __future__ import annotations

import dataclasses
import difflib
from dataclasses import dataclass
from typing import Any, Callable

from .cost import (ASSEMBLY_FLOWS, DEFAULT_COST_PARAMS, DPW_METHODS, CostError, CostParams, NodeParams,
                   TechnologyParams)
from .units import finite_real

__all__ = ["COST_KEYS", "CostInputs", "read_cost_table", "check_node"]

COST_KEYS = ("preset", "volume", "dpw_method", "flow", "module_test", "set", "nodes", "technologies", "source")
_SCALARS = ("wafer_diameter", "edge_exclusion", "scribe", "yield_model", "test_cost_per_die", "test_cost_per_area",
            "test_coverage", "package_test_cost", "assembly_cost_per_chip", "optical_engine_unit_cost", "package_nre",
            "tsv_yield_per_tsv", "dummy_priced", "dummy_in_bond_yield", "dpw_method")
_NODE_FIELDS = ("wafer_cost", "defect_density", "alpha", "mask_set_cost", "design_nre", "wafer_diameter",
                "edge_exclusion", "scribe", "litho_fraction")
_NODE_REQUIRED = ("wafer_cost", "defect_density", "alpha", "mask_set_cost", "design_nre")
_TECH_FIELDS = ("wafer_cost", "cost_per_area", "defect_density", "alpha", "bond_chip_yield", "bond_yield_per_bond",
                "max_area", "nre", "bump_cost_per_area", "yield_model", "assembly_cost_per_chip", "assembly_yield",
                "wafer_diameter", "edge_exclusion", "scribe", "litho_fraction")
_STRINGS = ("yield_model", "dpw_method")
_BOOLS = ("dummy_priced", "dummy_in_bond_yield")
#: Most nodes / technologies one [cost] table may define.
MAX_ENTRIES = 64

Err = Callable[[str, str], None]


@dataclass(frozen=True)
class CostInputs:
    """What a file's ``[cost]`` table sets.

    ``params`` the resulting :class:`~codesign.cost.CostParams`; ``volume``, ``flow``,
    ``module_test`` (``None``: not given); ``preset`` its name; ``from_file`` one
    ``(field path, value, source)`` per value the file set; ``source_file`` the file.
    """

    params: CostParams
    volume: float | None = None
    flow: str | None = None
    module_test: bool | None = None
    preset: str = "default"
    from_file: tuple[tuple[str, Any, str], ...] = ()
    source_file: str = ""

    def lines(self) -> list[str]:
        out = [f"cost.{p} = {v!r} (from {self.source_file or 'the file'}; source: {s})" for p, v, s in self.from_file]
        return out


def _show(v) -> str:
    s = repr(v)
    return s if len(s) <= 60 else s[:57] + "..."


def _near(key, options) -> str:
    m = difflib.get_close_matches(str(key), list(options), n=1)
    return f"; did you mean {m[0]!r}?" if m else ""


def _sourced(raw: Any, path: str, err: Err, field_: str) -> tuple[Any, str] | None:
    """``(value, source)`` of a ``{ value = ..., source = "..." }`` override."""
    if not isinstance(raw, dict):
        err(path, f"give {{ value = {_show(raw)}, source = \"where the number comes from\" }}; every cost override "
                  "carries its source")
        return None
    bad = [k for k in raw if k not in ("value", "source")]
    for k in bad:
        err(f"{path}.{k}", f"unknown key {k!r}{_near(k, ('value', 'source'))}; an override has `value` and `source`")
    if "value" not in raw:
        err(f"{path}.value", "missing; give the value")
        return None
    src = raw.get("source")
    if not isinstance(src, str) or not src.strip():
        err(f"{path}.source", f"give a non-empty source string (a document, tool or quote), got {_show(src)}")
        return None
    v = raw["value"]
    if field_ in _STRINGS:
        if not isinstance(v, str):
            err(f"{path}.value", f"expected a name, got {_show(v)}")
            return None
    elif field_ in _BOOLS:
        if not isinstance(v, bool):
            err(f"{path}.value", f"expected true or false, got {_show(v)}")
            return None
    elif not finite_real(v):
        err(f"{path}.value", f"expected a finite number (SI units), got {_show(v)}")
        return None
    elif not isinstance(v, bool):
        v = float(v)
    if bad:
        return None
    return v, src.strip()


def _cost_error(err: Err, path: str, e: CostError) -> None:
    err(path, str(e))


def read_cost_table(raw: Any, path: str, err: Err, *, source_file: str = "") -> CostInputs | None:
    """Read a ``[cost]`` table (``raw``: the parsed TOML value at ``path``); problems go to ``err``."""
    from .cost_presets import PRESETS

    if not isinstance(raw, dict):
        err(path, f"expected a table [{path}], got {_show(raw)}")
        return None
    n0 = [0]

    def e(p, m):
        n0[0] += 1
        err(p, m)

    for k in raw:
        if k not in COST_KEYS:
            e(f"{path}.{k}", f"unknown key {k!r}{_near(k, COST_KEYS)}; allowed: {', '.join(COST_KEYS)}")
    preset = raw.get("preset", "default")
    if preset not in PRESETS:
        e(f"{path}.preset", f"unknown preset {_show(preset)}{_near(preset, PRESETS)}; choose one of "
                            f"{', '.join(PRESETS)}")
        preset = "default"
    params = PRESETS[preset]()
    from_file: list[tuple[str, Any, str]] = []
    top_src = raw.get("source", "")
    if "source" in raw and (not isinstance(top_src, str) or not top_src.strip()):
        e(f"{path}.source", f"give a non-empty string, got {_show(top_src)}")
    src_of_top = top_src if isinstance(top_src, str) and top_src.strip() else "set in the file"
    if "preset" in raw:
        from_file.append(("preset", preset, src_of_top))
    volume = None
    if "volume" in raw:
        v = raw["volume"]
        if not finite_real(v) or not 0 < v <= 1e12:
            e(f"{path}.volume", f"give the number of units (0 < volume <= 1e12), got {_show(v)}")
        else:
            volume = float(v)
            from_file.append(("volume", volume, src_of_top))
    dpw = raw.get("dpw_method")
    if dpw is not None:
        if dpw not in DPW_METHODS:
            e(f"{path}.dpw_method", f"unknown method {_show(dpw)}{_near(dpw, DPW_METHODS)}; choose one of "
                                    f"{', '.join(DPW_METHODS)}")
        else:
            params = dataclasses.replace(params, dpw_method=dpw)
            from_file.append(("dpw_method", dpw, src_of_top))
    flow = raw.get("flow")
    if flow is not None and flow not in ASSEMBLY_FLOWS:
        e(f"{path}.flow", f"unknown flow {_show(flow)}{_near(flow, ASSEMBLY_FLOWS)}; choose one of "
                          f"{', '.join(ASSEMBLY_FLOWS)}")
        flow = None
    elif flow is not None:
        from_file.append(("flow", flow, src_of_top))
    mt = raw.get("module_test")
    if mt is not None and not isinstance(mt, bool):
        e(f"{path}.module_test", f"give true or false, got {_show(mt)}")
        mt = None
    elif mt is not None:
        from_file.append(("module_test", mt, src_of_top))
    # scalar overrides
    sets = raw.get("set", {})
    if not isinstance(sets, dict):
        e(f"{path}.set", f"expected a table [{path}.set], got {_show(sets)}")
        sets = {}
    changes, srcs = {}, dict(params.sources)
    for k, v in sets.items():
        p = f"{path}.set.{k}"
        if k not in _SCALARS:
            e(p, f"unknown cost parameter {k!r}{_near(k, _SCALARS)}; settable: {', '.join(_SCALARS)}")
            continue
        got = _sourced(v, p, e, k)
        if got is not None:
            changes[k], srcs[k] = got
            from_file.append((f"set.{k}", got[0], got[1]))
    if changes:
        try:
            params = dataclasses.replace(params, **changes, sources=tuple(srcs.items()))
        except CostError as ex:
            e(f"{path}.set", str(ex))
    # nodes
    for group, fields, cls, getter, adder in (
            ("nodes", _NODE_FIELDS, NodeParams, "node", "with_node"),
            ("technologies", _TECH_FIELDS, TechnologyParams, "technology", "with_technology")):
        tbl = raw.get(group, {})
        if not isinstance(tbl, dict):
            e(f"{path}.{group}", f"expected tables [{path}.{group}.NAME], got {_show(tbl)}")
            continue
        if len(tbl) > MAX_ENTRIES:
            e(f"{path}.{group}", f"{len(tbl)} entries; at most {MAX_ENTRIES}")
            continue
        for name, fields_raw in tbl.items():
            p = f"{path}.{group}.{name}"
            if not isinstance(fields_raw, dict):
                e(p, f"expected a table of {cls.__name__} fields, got {_show(fields_raw)}")
                continue
            vals, vsrc = {}, {}
            for k, v in fields_raw.items():
                if k not in fields:
                    e(f"{p}.{k}", f"unknown field {k!r}{_near(k, fields)}; allowed: {', '.join(fields)}")
                    continue
                got = _sourced(v, f"{p}.{k}", e, k)
                if got is not None:
                    vals[k], vsrc[k] = got
                    from_file.append((f"{group}.{name}.{k}", got[0], got[1]))
            try:
                base = getattr(params, getter)(name)
            except CostError:
                base = None
            if base is None and group == "technologies":
                e(p, f"unknown technology {name!r}{_near(name, params.technologies)}; technologies can be changed, "
                     f"not added: {', '.join(params.technologies)}")
                continue
            if base is None:
                missing = [f for f in _NODE_REQUIRED if f not in vals]
                if missing:
                    e(p, f"new process node {name!r} needs {', '.join(missing)} (or use a known node: "
                         f"{', '.join(params.nodes)})")
                    continue
                srcs_t = tuple(vsrc.items())
                try:
                    node = NodeParams(name=name, **vals, sources=srcs_t)
                except CostError as ex:
                    e(p, str(ex))
                    continue
                params = params.with_node(node)
                continue
            old = dict(base.sources)
            old.update(vsrc)
            try:
                new = dataclasses.replace(base, **vals, sources=tuple(old.items()))
            except CostError as ex:
                e(p, str(ex))
                continue
            params = getattr(params, adder)(new)
    if n0[0]:
        return None
    return CostInputs(params=params, volume=volume, flow=flow, module_test=mt, preset=preset,
                      from_file=tuple(from_file), source_file=source_file)


def check_node(name: Any, path: str, err: Err, params: CostParams = DEFAULT_COST_PARAMS) -> str | None:
    """``name`` if it is a process node of ``params`` (aliases resolved), else an error at ``path``."""
    if not isinstance(name, str) or not name:
        err(path, f"give a process node name such as \"N5\", got {_show(name)}")
        return None
    try:
        return params.node(name).name
    except CostError as ex:
        err(path, str(ex))
        return None
