r"""Effective (homogenised) conductivities of interconnect arrays and die stacks.

Interconnect arrays (C4 bumps, microbumps, hybrid-bond pads, TSV fields)
-----------------------------------------------------------------------
Conductor columns of diameter ``d`` on a square pitch ``p`` through a fill (underfill, oxide,
silicon). The conductor area fraction is

.. math:: f = \frac{\pi d^2}{4 p^2} \qquad (d < p, \; f < \pi/4).

*Along the columns* (z) heat flows through conductor and fill in parallel, which is exact for
straight prismatic columns under a uniform axial gradient:

.. math:: k_z = f\,k_c + (1 - f)\,k_m .

*Across the columns* (x, y) we use Rayleigh's result for a square array of parallel cylinders
(Lord Rayleigh, "On the influence of obstacles arranged in rectangular order upon the
properties of a medium", Phil. Mag. 34, 481-502 (1892)), to first order in ``f``; it coincides
with the two-dimensional Maxwell-Garnett formula and with the Hashin-Shtrikman bound on the side
of the matrix phase (Hashin & Shtrikman, J. Appl. Phys. 33, 3125 (1962)):

.. math:: k_{x} = k_y = k_m \, \frac{(k_c + k_m) + f (k_c - k_m)}{(k_c + k_m) - f (k_c - k_m)} .

It lies between the series (lower) and parallel (upper) Wiener bounds and is markedly better
than the series rule for the dilute arrays found in bump layers. Heat capacity mixes by volume.

Stacks of dies (HBM)
--------------------
A laminate of layers of thickness ``t_i`` is series through the thickness and parallel in plane
(the Wiener bounds, which are exact for a laminate):

.. math:: k_z = \frac{\sum t_i}{\sum t_i / k_{z,i}}, \qquad
          k_x = \frac{\sum t_i k_{x,i}}{\sum t_i}.

Elastic constants and CTEs (warpage)
------------------------------------
The same recipes give effective orthotropic elastic constants ``E = (Ex, Ey, Ez)``, Poisson ratios
``nu = (nu_xy, nu_yz, nu_xz)`` (``nu_ij = -eps_j / eps_i`` under a stress along ``i``), shear moduli
``G = (G_xy, G_yz, G_xz)`` and CTEs ``alpha = (ax, ay, az)`` (:meth:`InterconnectRecipe.mechanical`,
:meth:`LaminateRecipe.mechanical`), so a design model re-homogenises them from the parents' moduli
and CTEs exactly as it does the conductivities.

*Columns in a fill* (a unidirectional fibre composite with the fibres along z; subscripts c
conductor, m fill; ``nu_zx = nu_xz Ez / Ex`` of each parent):

* along the columns, the rule of mixtures (Voigt; exact for prismatic columns under an axial strain):
  ``Ez = f Ec_z + (1 - f) Em_z``, ``nu_zx = f nu_zx,c + (1 - f) nu_zx,m``;
* across, Halpin-Tsai (Halpin & Kardos, Polym. Eng. Sci. 16, 344 (1976)):
  ``P = Pm (1 + xi eta f) / (1 - eta f)``, ``eta = (Pc/Pm - 1) / (Pc/Pm + xi)``, with ``xi = 2`` for
  ``Ex = Ey`` (circular fibres in a square array) and ``xi = 1`` for ``G_xz = G_yz`` (which is then the
  Hashin-Rosen / Hashin-Shtrikman lower bound) and ``G_xy``; ``nu_xy`` by the rule of mixtures (est);
  ``nu_xz = nu_yz = nu_zx Ex / Ez`` (reciprocity);
* CTEs by Schapery (J. Compos. Mater. 2, 380 (1968)): along the columns
  ``az = (f Ec_z ac_z + (1 - f) Em_z am_z) / Ez`` (Turner's formula, exact for a 1D stack), across
  ``ax = ay = (ac_x + nu_zx,c ac_z) f + (am_x + nu_zx,m am_z) (1 - f) - az nu_zx`` (Schapery's form for
  transversely isotropic phases; ``(1 + nu) a`` per phase when it is isotropic).

*Laminates* (HBM stacks; layers of thickness ``t_i`` in z; ``T = sum t_i``): in plane the layers
strain together (Voigt): ``Ex = sum t Ex_i / T`` (likewise Ey, G_xy), ``nu_xy = sum t Ex_i nu_xy,i /
sum t Ex_i``, ``ax = sum t Ex_i ax_i / sum t Ex_i`` (Turner; ``ay`` with Ey); through the thickness
they carry the same stress (Reuss): ``Ez = T / sum (t / Ez_i)`` (likewise G_yz, G_xz), and
``az = sum t az_i / T``, ``nu_yz``, ``nu_xz`` thickness averages (Poisson coupling between the layers
neglected; est). Every formula returns the parent's values when both parents are the same material
(tests/test_mechanics.py checks this and hand-computed cases).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Sequence

from .stack import HBMStack, Interconnect, Material

__all__ = [
    "InterconnectRecipe",
    "LaminateRecipe",
    "area_fraction",
    "fibre_composite",
    "laminate_mechanics",
    "homogenise_hbm",
    "homogenise_interconnect",
    "homogenise_laminate",
    "hbm_recipe",
]

# A lookup from a material name to its (kx, ky, kz, heat capacity): floats, or JAX scalars when a
# design model re-homogenises inside a traced map (the formulas below are plain arithmetic).
Lookup = Callable[[str], tuple]


def area_fraction(pitch: float, diameter: float) -> float:
    """Conductor area fraction ``π d² / (4 p²)`` of a square array."""
    return math.pi * diameter**2 / (4.0 * pitch**2)


@dataclass(frozen=True)
class InterconnectRecipe:
    """How an interconnect layer's material derives from its conductor and fill (module docstring)."""

    spec: Interconnect

    @property
    def parents(self) -> tuple[str, ...]:
        return (self.spec.material, self.spec.fill)

    def properties(self, lookup: Lookup) -> tuple:
        """``(kx, ky, kz, heat capacity)`` from the parents' properties."""
        f = area_fraction(self.spec.pitch, self.spec.diameter)
        _, _, kc, cc = lookup(self.spec.material)
        km, _, kmz, cm = lookup(self.spec.fill)
        kz = f * kc + (1.0 - f) * kmz
        kt = km * ((kc + km) + f * (kc - km)) / ((kc + km) - f * (kc - km))
        return kt, kt, kz, f * cc + (1.0 - f) * cm

    def mechanical(self, lookup: Lookup) -> tuple:
        """``(E, nu, G, alpha)`` (three-tuples) from the parents' (module docstring: columns in a fill)."""
        return fibre_composite(area_fraction(self.spec.pitch, self.spec.diameter), lookup(self.spec.material),
                               lookup(self.spec.fill))


@dataclass(frozen=True)
class LaminateRecipe:
    """A laminate ``((thickness, part), ...)``; a part is a material name or an InterconnectRecipe."""

    layers: tuple

    @property
    def parents(self) -> tuple[str, ...]:
        out: list[str] = []
        for _, part in self.layers:
            for n in (part.parents if isinstance(part, InterconnectRecipe) else (part,)):
                if n not in out:
                    out.append(n)
        return tuple(out)

    def properties(self, lookup: Lookup) -> tuple:
        """Series through the thickness, parallel in plane (the Wiener bounds, exact for a laminate)."""
        props = [(t, part.properties(lookup) if isinstance(part, InterconnectRecipe) else lookup(part))
                 for t, part in self.layers]
        total = sum(t for t, _ in props)
        kx = sum(t * p[0] for t, p in props) / total
        ky = sum(t * p[1] for t, p in props) / total
        kz = total / sum(t / p[2] for t, p in props)
        return kx, ky, kz, sum(t * p[3] for t, p in props) / total

    def mechanical(self, lookup: Lookup) -> tuple:
        """``(E, nu, G, alpha)`` (three-tuples) from the parts' (module docstring: laminates)."""
        return laminate_mechanics([(t, part.mechanical(lookup) if isinstance(part, InterconnectRecipe)
                                    else lookup(part)) for t, part in self.layers])


def _halpin_tsai(pc, pm, f, xi):
    eta = (pc / pm - 1.0) / (pc / pm + xi)
    return pm * (1.0 + xi * eta * f) / (1.0 - eta * f)


def fibre_composite(f, conductor: tuple, fill: tuple) -> tuple:
    """Effective ``(E, nu, G, alpha)`` of columns (area fraction ``f``) along z in a fill.

    ``conductor`` and ``fill`` are ``(E, nu, G, alpha)`` three-tuples (see the module docstring for
    the axes and formulas). Plain arithmetic: floats or JAX scalars.
    """
    (Ec, nuc, Gc, ac), (Em, num, Gm, am) = conductor, fill
    nuzx_c = nuc[2] * Ec[2] / Ec[0]
    nuzx_m = num[2] * Em[2] / Em[0]
    ez = f * Ec[2] + (1.0 - f) * Em[2]
    nuzx = f * nuzx_c + (1.0 - f) * nuzx_m
    ex = _halpin_tsai(Ec[0], Em[0], f, 2.0)
    gxz = _halpin_tsai(Gc[2], Gm[2], f, 1.0)
    gxy = _halpin_tsai(Gc[0], Gm[0], f, 1.0)
    nuxy = f * nuc[0] + (1.0 - f) * num[0]
    nuxz = nuzx * ex / ez
    az = (f * Ec[2] * ac[2] + (1.0 - f) * Em[2] * am[2]) / ez
    ax = (ac[0] + nuzx_c * ac[2]) * f + (am[0] + nuzx_m * am[2]) * (1.0 - f) - az * nuzx
    return (ex, ex, ez), (nuxy, nuxz, nuxz), (gxy, gxz, gxz), (ax, ax, az)


def laminate_mechanics(parts) -> tuple:
    """Effective ``(E, nu, G, alpha)`` of a laminate ``[(thickness, (E, nu, G, alpha)), ...]`` in z."""
    total = sum(t for t, _ in parts)
    sx = sum(t * p[0][0] for t, p in parts)
    sy = sum(t * p[0][1] for t, p in parts)
    e = (sx / total, sy / total, total / sum(t / p[0][2] for t, p in parts))
    nu = (sum(t * p[0][0] * p[1][0] for t, p in parts) / sx,
          sum(t * p[1][1] for t, p in parts) / total, sum(t * p[1][2] for t, p in parts) / total)
    g = (sum(t * p[2][0] for t, p in parts) / total, total / sum(t / p[2][1] for t, p in parts),
         total / sum(t / p[2][2] for t, p in parts))
    a = (sum(t * p[0][0] * p[3][0] for t, p in parts) / sx, sum(t * p[0][1] * p[3][1] for t, p in parts) / sy,
         sum(t * p[3][2] for t, p in parts) / total)
    return e, nu, g, a


def _material_lookup(materials: Sequence[Material]) -> Lookup:
    table = {m.name: (m.kx, m.ky, m.kz, m.heat_capacity) for m in materials}
    return table.__getitem__


def _derived(name: str, recipe, materials: Sequence[Material], source: str) -> Material:
    kx, ky, kz, c = recipe.properties(_material_lookup(materials))
    return Material(name=name, kx=float(kx), ky=float(ky), kz=float(kz), heat_capacity=float(c), source=source,
                    recipe=recipe)


def homogenise_interconnect(spec: Interconnect, conductor: Material, fill: Material, *, name: str) -> Material:
    """Effective anisotropic material of an interconnect array (formulas in the module docstring).

    The result carries its :class:`InterconnectRecipe`, so a design model re-homogenises it when
    the conductor's or the fill's conductivity changes.

    Examples
    --------
    >>> from codesign.materials import BUILTIN_MATERIALS as M
    >>> spec = Interconnect("microbump", pitch=40e-6, diameter=20e-6, material="sac305", fill="underfill")
    >>> m = homogenise_interconnect(spec, M["sac305"], M["underfill"], name="ub")
    >>> round(m.kz, 3)  # f = pi/16 = 0.196: 0.196*58 + 0.804*0.6
    11.871
    """
    if (conductor.name, fill.name) != (spec.material, spec.fill):
        raise ValueError(f"`homogenise_interconnect`: the spec names conductor {spec.material!r} and fill "
                         f"{spec.fill!r}, but materials {conductor.name!r} and {fill.name!r} were given")
    f = area_fraction(spec.pitch, spec.diameter)
    return _derived(name, InterconnectRecipe(spec), (conductor, fill), source=(
        f"homogenised {spec.kind}: {conductor.name} columns d={spec.diameter * 1e6:.3g} um at "
        f"pitch {spec.pitch * 1e6:.3g} um (f={f:.4f}) in {fill.name}; kz parallel rule, "
        "kx=ky Rayleigh (1892) square array"))


def homogenise_laminate(layers: Sequence[tuple[float, Material]], *, name: str, source: str = "") -> Material:
    """Effective material of a laminate ``[(thickness, material), ...]`` (series in z, parallel in x-y)."""
    recipe = LaminateRecipe(tuple((t, m.name) for t, m in layers))
    return _derived(name, recipe, [m for _, m in layers],
                    source=source or "laminate: series through thickness, parallel in plane (Wiener bounds)")


def hbm_recipe(hbm: HBMStack, height: float, die_material: str) -> LaminateRecipe:
    """An HBM stack from the bottom: base die, then (bond, DRAM die) × n, then the cap.

    The cap (mold or thick top die; the die material here) fills whatever of ``height`` is left.
    """
    bond = InterconnectRecipe(hbm.bond)
    layers: list = [(hbm.base_die_thickness, die_material)]
    for _ in range(hbm.dram_dies):
        layers += [(hbm.bond_thickness, bond), (hbm.die_thickness, die_material)]
    used = sum(t for t, _ in layers)
    if height - used > 1e-9:
        layers.append((height - used, die_material))
    return LaminateRecipe(tuple(layers))


def homogenise_hbm(hbm: HBMStack, height: float, die: Material, materials: Sequence[Material], *,
                   name: str) -> Material:
    """Effective anisotropic block of an HBM stack of total ``height`` [m].

    ``materials`` must hold ``die`` and the bond's conductor and fill.
    """
    return _derived(name, hbm_recipe(hbm, height, die.name), list(materials) + [die], source=(
        f"homogenised {hbm.generation} stack: base die {hbm.base_die_thickness * 1e6:.3g} um + "
        f"{hbm.dram_dies} x (bond {hbm.bond_thickness * 1e6:.3g} um + DRAM {hbm.die_thickness * 1e6:.3g} um)"
        f" + {die.name} cap; series in z, parallel in x-y"))
