r"""Elastic material model, thermal strain with a glass transition, and the process history of a package.

Material data
-------------
Each plain :class:`~codesign.stack.Material` may carry Young's moduli ``(Ex, Ey, Ez)`` [Pa], Poisson
ratios ``(nu_xy, nu_yz, nu_xz)`` (``nu_ij = -eps_j / eps_i`` under a stress along ``i``), shear moduli
``(G_xy, G_yz, G_xz)`` [Pa] and CTEs ``(ax, ay, az)`` [1/K], below its glass transition ``Tg``; above
``Tg`` the moduli and CTEs given for that state apply (shear moduli and Poisson ratios: the moduli
scale alike, the ratios stay). Missing shear moduli follow ``G_ij = sqrt(Ei Ej) / (2 (1 + nu_ij))``,
which is exact for an isotropic material (Huber's approximation otherwise).

Thermal strain
--------------
The free thermal strain of an element from its stress-free temperature ``T0`` to ``T`` is the
integral of the CTE, which takes the glass transition into account exactly for a CTE that steps at
``Tg``:

.. math:: \varepsilon_{th} = \int_{T_0}^{T} \alpha(T')\,dT' = F(T) - F(T_0), \qquad
          F(T) = \alpha_1 \min(T, T_g) + \alpha_2 \max(T - T_g, 0).

The stiffness is taken at the load temperature ``T`` (the glassy or the rubbery moduli): a linear
(secant) model, without the viscoelastic relaxation of polymers.

Process history
---------------
Layers are stress-free at the temperature of the assembly step that bonds them
(:class:`ProcessStep`): die bonding, underfill cure, mould, lid attach. A layout lists the steps in
its ``[warpage]`` table (``docs/layout-format.md``); without them :func:`default_steps` applies.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from .errors import ModelError
from .stack import Material, Stack

__all__ = [
    "DEFAULT_COPLANARITY_LIMIT",
    "DEFAULT_REFLOW_PEAK",
    "DEFAULT_ROOM_TEMPERATURE",
    "ProcessStep",
    "WarpageSpec",
    "default_steps",
    "plain_mechanics",
    "thermal_strain",
]

KELVIN = 273.15
#: Room temperature [K] (25 degC, JEDEC JESD22-B112's room-temperature point).
DEFAULT_ROOM_TEMPERATURE = 25.0 + KELVIN
#: Lead-free reflow peak [K]: 260 degC, the peak of the JEDEC J-STD-020 profile for small packages
#: (large packages 245-250 degC); JESD22-B112 measures warpage over this profile.
DEFAULT_REFLOW_PEAK = 260.0 + KELVIN
#: BGA coplanarity limit [m]: 0.22 mm, JEITA ED-7306's allowance at 1.0 mm ball pitch regardless of
#: package size (as compared with JESD22-B112 in SMT Magazine, Aug 2015, p. 42 "Warpage acceptance
#: proposal"); parameters.md: board-assembly limits are of order 100-200 um.
DEFAULT_COPLANARITY_LIMIT = 0.22e-3
_LIMIT_SOURCE = "JEITA ED-7306, 1.0 mm pitch BGA (SMT Magazine, Aug 2015, p. 42)"
#: A stress-free temperature much above any Tg: a material without a glass transition.
_NO_TG = 1e6


@dataclass(frozen=True)
class ProcessStep:
    """An assembly step: the layers it bonds become stress-free at ``temperature`` [K]."""

    name: str
    temperature: float
    layers: tuple[str, ...]
    source: str = ""


@dataclass(frozen=True)
class WarpageSpec:
    """The ``[warpage]`` table of a layout (SI units; see ``docs/layout-format.md``).

    ``steps`` empty: :func:`default_steps`. ``support``: ``"free"`` (free-free, rigid-body modes
    removed) or ``"simply_supported"`` (on the ball grid: the bottom face held in z at its corners).
    Limits [m] are checked at room temperature and at the reflow peak; ``bump_shear_strain_limit``
    (none by default: no sourced value) flags the corner bump strain.
    """

    steps: tuple[ProcessStep, ...] = ()
    room_temperature: float = DEFAULT_ROOM_TEMPERATURE
    reflow_peak: float = DEFAULT_REFLOW_PEAK
    support: str = "free"
    coplanarity_limit: float = DEFAULT_COPLANARITY_LIMIT
    reflow_coplanarity_limit: float = DEFAULT_COPLANARITY_LIMIT
    bump_shear_strain_limit: float | None = None
    limit_source: str = _LIMIT_SOURCE
    source: str = ""


def default_steps(stack: Stack) -> tuple[ProcessStep, ...]:
    """The process history assumed when a layout gives none (estimates; say so in reports).

    * ``flip_chip_underfill`` at 150 degC: the top layer with chiplets and every layer below it. The
      underfill cure locks dies, bumps, interposer and substrate together; solder alone relaxes by
      creep above it (est: capillary underfills cure at 150-165 degC).
    * ``lid_attach`` at 150 degC: the layers above (lid, TIM, stiffener ring): adhesive / TIM cure
      (est: 125-150 degC).
    """
    names = [layer.name for layer in stack.layers]
    first = next((i for i, layer in enumerate(stack.layers) if layer.chiplets), 0)
    steps = [ProcessStep("flip_chip_underfill", 150.0 + KELVIN, tuple(names[first:]),
                         "est: capillary underfill cure 150-165 degC")]
    if first > 0:
        steps.insert(0, ProcessStep("lid_attach", 150.0 + KELVIN, tuple(names[:first]),
                                    "est: lid adhesive / TIM cure 125-150 degC"))
    return tuple(steps)


def layer_stress_free(stack: Stack, steps: tuple[ProcessStep, ...]) -> dict[str, float]:
    """Layer name -> stress-free temperature [K] from ``steps``; every layer must be in one step."""
    out: dict[str, float] = {}
    for step in steps:
        for name in step.layers:
            stack.layer(name)  # UnknownNameError naming the layers
            if name in out:
                raise ModelError(f"warpage process steps: layer {name!r} is bonded by two steps; list it in one")
            out[name] = float(step.temperature)
    missing = [layer.name for layer in stack.layers if layer.name not in out]
    if missing:
        raise ModelError(f"warpage process steps: layer(s) {missing} are bonded by no step; add them to a step's "
                         "layers")
    return out


def _three(v) -> tuple:
    """A three-tuple from a scalar, a sequence or an array of three (kept as JAX scalars when traced)."""
    if isinstance(v, (tuple, list)):
        return tuple(v)
    if getattr(v, "ndim", 0) == 1:
        return (v[0], v[1], v[2])
    return (v, v, v)


def plain_mechanics(m: Material, *, above_tg: bool = False, E=None, nu=None, G=None, cte=None) -> tuple:
    """``(E, nu, G, alpha)`` three-tuples of a plain material, glassy or rubbery.

    ``E``, ``nu``, ``G``, ``cte`` override the material's glassy values (a design model's parameters,
    floats or JAX arrays); ``G=None`` with no shear moduli on the material follows the module's rule.
    """
    if not (m.youngs_modulus is not None and m.poisson_ratio is not None and m.cte is not None):
        raise ModelError(f"material {m.name!r} has no mechanical data (youngs_modulus, poisson_ratio, cte); give them "
                         f"under [materials.{m.name}] to include it in a warpage analysis")
    e = _three(m.youngs_modulus if E is None else E)
    n = _three(m.poisson_ratio if nu is None else nu)
    a = _three(m.cte if cte is None else cte)
    if G is not None:
        g = _three(G)
    elif m.shear_modulus is not None:
        g = _three(m.shear_modulus)
    else:
        g = tuple(_sqrt(e[i] * e[j]) / (2.0 * (1.0 + n[k])) for k, (i, j) in enumerate(((0, 1), (1, 2), (0, 2))))
    if above_tg and m.glass_transition is not None:
        if m.youngs_modulus_above_tg is not None:
            ratio = [r / s for r, s in zip(_three(m.youngs_modulus_above_tg), _three(m.youngs_modulus))]
            e = tuple(ei * r for ei, r in zip(e, ratio))
            g = (g[0] * _sqrt(ratio[0] * ratio[1]), g[1] * _sqrt(ratio[1] * ratio[2]),
                 g[2] * _sqrt(ratio[0] * ratio[2]))
        if m.cte_above_tg is not None:
            a = tuple(ai * (r / s) for ai, r, s in zip(a, _three(m.cte_above_tg), _three(m.cte)))
    return e, n, g, a


def _sqrt(x):
    return math.sqrt(x) if isinstance(x, (int, float)) else x ** 0.5


def glass_transition(m: Material, stack: Stack) -> float:
    """The temperature [K] at which a (possibly homogenised) material turns rubbery: the lowest Tg
    of it or its parents; a large number when none has one."""
    if m.recipe is None:
        return float(m.glass_transition) if m.glass_transition is not None else _NO_TG
    return min([glass_transition(stack.material(p), stack) for p in m.recipe.parents] + [_NO_TG])


def thermal_strain(cte, cte_above, tg, t_ref, t, xp=np):
    """Free thermal strain ``∫ alpha dT`` from ``t_ref`` to ``t`` with a CTE step at ``tg`` (module docstring)."""
    def antiderivative(temp):
        return cte * xp.minimum(temp, tg) + cte_above * xp.maximum(temp - tg, 0.0)

    return antiderivative(t) - antiderivative(t_ref)
