"""Plausibility checks: designs that load and solve, but are probably not what the user meant.

Each rule gives a warning, never an error (an exotic design may be deliberate); each is stated with
its threshold and source in ``docs/plausibility.md``. Two kinds:

* **Stack rules** (:func:`check_stack`), run by the layout reader on every layout it loads (so
  ``codesign check`` prints them as ``warning: ...`` lines) and callable on any
  :class:`~codesign.stack.Stack` built in Python: the heat sink reaches the dies only through an
  insulating layer (layers listed bottom to top), a logic die without an active thickness, an HBM
  ``tj_max`` above the DRAM limit, a total power beyond any known package.
* **Result rules** (:func:`check_results`, :func:`warn_results`), after a solve: an HBM stack hotter
  than its limit.

Value-level rules of the reader (conductivity, power density, leakage growth) stay in
:mod:`codesign.layout_io`, next to the value they check.
"""

from __future__ import annotations

import warnings
from .stack import Stack

__all__ = ["HBM_LIMIT", "INSULATION_LIMIT", "TOTAL_POWER_LIMIT", "REFERENCE_FLUX", "check_results", "check_stack",
           "warn_results"]

#: Area-specific thermal resistance [m^2·K/W] above which the layers between a heat-removing top face
#: and the first powered die count as insulating the dies from their heat sink: 1 K·cm^2/W. At the
#: ~100 W/cm^2 of production dies (REFERENCE_FLUX) it alone would be a 100 K rise. Derived; for
#: scale, a 2 mm copper lid and a 60 um polymer TIM (5 W/m/K) are 0.05 + 0.12 K·cm^2/W, and a
#: 1.4 mm organic substrate (k_z 0.7 W/m/K) is 20 K·cm^2/W.
INSULATION_LIMIT = 1e-4
#: Die heat flux of production packages [W/m^2] (~100 W/cm^2; see the die-flux rule in
#: codesign.layout_io and docs/layout-format.md): INSULATION_LIMIT as a rise, and the flux a
#: message uses when no die has dynamic power.
REFERENCE_FLUX = 1e6
#: Total dynamic power of a package above which a warning is given [W]: 25 kW, beyond the largest
#: single-package processors known, wafer-scale engines whose whole systems draw ~20 kW (Cerebras
#: CS-1, "about 20 kW of power peak", AnandTech) to ~23 kW (CS-3 with WSE-3, awesomeagents.ai
#: hardware page). GPU packages are ~0.7-1.4 kW.
TOTAL_POWER_LIMIT = 25e3
#: Junction limit of an HBM stack without its own ``tj_max`` [K]: 95 degC. DRAM is specified for a
#: normal range up to 85 degC and an extended range 85-95 degC with the refresh rate doubled (JEDEC
#: DRAM temperature ranges as quoted in vendor datasheets, e.g. Silicon Power DDR3 SODIMM datasheet
#: rev. 1.5a, 2012); HBM dies on DRAM processes are specified to 95 degC against ~105 degC for logic
#: (Huawei 2024 patent disclosure, as reported by PatSnap, "HBM4 thermal resistance solutions in
#: stacked DRAM").
HBM_LIMIT = 273.15 + 95.0
#: Materials of a package substrate or board: a top layer of these under a heat sink suggests layers
#: listed bottom to top.
_SUBSTRATE_MATERIALS = ("organic_substrate", "pcb")


def _best_kz(stack: Stack, layer) -> float:
    """The largest through-thickness conductivity in a layer (fill, interconnect, dies): the best path."""
    names = {layer.material} | {c.material for c in stack.occupants(layer.name)}
    if layer.interconnect is not None:
        names.add(f"{layer.name}:{layer.interconnect.kind}")
    ks = []
    for n in names:
        try:
            ks.append(stack.material(n).kz)
        except KeyError:
            continue
    return max(ks) if ks else 0.0


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if not path.startswith("chiplet ") else f"{path} {key}"


def _powered(c) -> bool:
    return c.total_power > 0 or c.leakage is not None


def check_stack(stack: Stack, paths: dict | None = None) -> list[tuple[str, str]]:
    """The stack rules: ``(field path, message)`` for each one that fires (empty when none).

    ``paths`` maps a chiplet name to its field path in the layout file (the reader passes it);
    without it chiplets are named as ``chiplet 'name'``.
    """
    paths = paths or {}
    out: list[tuple[str, str]] = []
    layers = stack.layers
    # 1. the heat sink reaches the dies only through an insulating layer (layers listed bottom to top?)
    first = next((i for i, layer in enumerate(layers) if any(_powered(c) for c in stack.occupants(layer.name))), None)
    if stack.top.heat_transfer_coefficient > 0 and first:
        parts = []
        for layer in layers[:first]:
            k = _best_kz(stack, layer)
            parts.append((layer.thickness / k if k > 0 else float("inf"), layer))
        r = sum(p for p, _ in parts)
        if r > INSULATION_LIMIT:
            worst, wl = max(parts, key=lambda p: p[0])
            top = layers[0]
            hint = ""
            if top.material in _SUBSTRATE_MATERIALS or (layers[-1].material in ("copper", "aluminium")
                                                        and not layers[-1].chiplets):
                hint = (f" The top layer {top.name!r} is {top.material} and the bottom layer {layers[-1].name!r} is "
                        f"{layers[-1].material}: the layers look listed bottom to top.")
            flux, hot = max(((c.total_power / c.rect.area, c.name) for c in stack.chiplets if _powered(c)),
                            default=(0.0, ""))
            at = (f"at the {flux / 1e4:.3g} W/cm^2 of {hot!r} that alone is a {flux * r:.3g} K rise" if flux > 0 else
                  f"at {REFERENCE_FLUX / 1e4:g} W/cm^2 that alone is a {REFERENCE_FLUX * r:.3g} K rise")
            out.append(("layers", (
                f"the {stack.top.kind.replace('_', ' ')} on top reaches the first powered die (layer "
                f"{layers[first].name!r}) only through {r * 1e4:.3g} K·cm^2/W of layers above it (most in "
                f"{wl.name!r}: {wl.thickness * 1e6:.4g} um of {wl.material}, {worst * 1e4:.3g} K·cm^2/W), more than "
                f"{INSULATION_LIMIT * 1e4:g} K·cm^2/W ({at}).{hint} Layers are listed top (heat-sink side) to bottom "
                "(board side); reverse the list if it runs the other way, or check the layers' materials")))
    # 2. logic dies without an active thickness
    for c in stack.chiplets:
        if c.kind == "logic" and c.active_thickness is None and _powered(c):
            zs = stack.layers_of(c.name)
            t = sum(layer.thickness for layer in zs)
            out.append((paths.get(c.name, f"chiplet {c.name!r}"), (
                f"logic die {c.name!r} has no active_thickness, so its heat is spread through its whole "
                f"{t * 1e6:.4g} um; a die makes its heat in the transistor and wiring layers at its active side, "
                "a few um to tens of um. Give active_thickness (e.g. \"20 um\", with active_side \"bottom\" for "
                f"flip-chip), or active_thickness = \"{t * 1e6:.4g} um\" to keep the spread on purpose")))
    # 2b. an HBM limit above what DRAM is specified for
    for c in stack.chiplets:
        if c.kind == "hbm" and c.tj_max is not None and c.tj_max > HBM_LIMIT + 1e-9:
            out.append((_join(paths.get(c.name, f"chiplet {c.name!r}"), "tj_max"), (
                f"{c.tj_max - 273.15:.4g} degC for an HBM stack is above the {HBM_LIMIT - 273.15:g} degC DRAM is "
                "specified for (JEDEC extended range, refresh doubled above 85 degC); the result check then accepts "
                "an HBM the memory cannot run at. Check the value")))
    # 3. total power beyond any known package
    total = stack.total_power
    if total > TOTAL_POWER_LIMIT:
        out.append(("layers", (
            f"the chiplets dissipate {total / 1e3:.4g} kW in all, more than the {TOTAL_POWER_LIMIT / 1e3:g} kW of any "
            "known package (wafer-scale engines draw ~20-23 kW for a whole system; GPU packages ~1 kW); check the "
            "powers and their units")))
    return out


def check_results(report, stack: Stack | None = None) -> list[str]:
    """The result rules on a solved report (a :class:`codesign.results.ThermalReport`, or anything with
    ``chiplets`` of :class:`~codesign.results.ChipletTemperature`): one message per rule that fires.

    An HBM stack (``kind = "hbm"``) hotter than its ``tj_max``, or than :data:`HBM_LIMIT` (95 degC)
    when it has none.
    """
    stack = stack if stack is not None else getattr(getattr(report, "model", None), "stack", None)
    out = []
    for c in report.chiplets:
        if c.kind != "hbm":
            continue
        limit = c.tj_max if c.tj_max is not None else HBM_LIMIT
        if c.junction > limit:
            whose = "its tj_max" if c.tj_max is not None else "the 95 degC DRAM limit (JEDEC extended range)"
            out.append(f"HBM stack {c.name!r} reaches {c.junction - 273.15:.1f} degC, above {whose} of "
                       f"{limit - 273.15:.1f} degC; DRAM above 85 degC already needs doubled refresh. Cool it (a "
                       "better heat sink, more distance from the logic die) or lower its power")
    return out


def warn_results(report, stack: Stack | None = None, *, stacklevel: int = 2) -> list[str]:
    """:func:`check_results`, each message also issued as a :class:`codesign.PlausibilityWarning`
    (the command line prints them as ``warning: ...`` lines). Returns the messages."""
    from .layout_io import PlausibilityWarning

    msgs = check_results(report, stack)
    name = getattr(stack if stack is not None else getattr(getattr(report, "model", None), "stack", None),
                   "name", "")
    for m in msgs:
        warnings.warn(PlausibilityWarning(f"{name}: {m}" if name else m), stacklevel=stacklevel)
    return msgs

