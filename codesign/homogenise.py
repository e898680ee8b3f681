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
"""

from __future__ import annotations

import math
from typing import Sequence

from .stack import HBMStack, Interconnect, Material

__all__ = ["area_fraction", "homogenise_interconnect", "homogenise_laminate", "homogenise_hbm"]


def area_fraction(pitch: float, diameter: float) -> float:
    """Conductor area fraction ``π d² / (4 p²)`` of a square array."""
    return math.pi * diameter**2 / (4.0 * pitch**2)


def homogenise_interconnect(spec: Interconnect, conductor: Material, fill: Material, *, name: str) -> Material:
    """Effective anisotropic material of an interconnect array (formulas in the module docstring).

    Examples
    --------
    >>> from codesign.materials import BUILTIN_MATERIALS as M
    >>> spec = Interconnect("microbump", pitch=40e-6, diameter=20e-6, material="sac305", fill="underfill")
    >>> m = homogenise_interconnect(spec, M["sac305"], M["underfill"], name="ub")
    >>> round(m.kz, 3)  # f = pi/16 = 0.196: 0.196*58 + 0.804*0.6
    11.871
    """
    f = area_fraction(spec.pitch, spec.diameter)
    kc, km = conductor.kz, fill.kx
    kz = f * kc + (1.0 - f) * fill.kz
    kt = km * ((kc + km) + f * (kc - km)) / ((kc + km) - f * (kc - km))
    rho_c = f * conductor.heat_capacity + (1.0 - f) * fill.heat_capacity
    return Material(
        name=name, kx=kt, ky=kt, kz=kz, heat_capacity=rho_c,
        source=(f"homogenised {spec.kind}: {conductor.name} columns d={spec.diameter * 1e6:.3g} um at "
                f"pitch {spec.pitch * 1e6:.3g} um (f={f:.4f}) in {fill.name}; kz parallel rule, "
                "kx=ky Rayleigh (1892) square array"),
    )


def homogenise_laminate(layers: Sequence[tuple[float, Material]], *, name: str, source: str = "") -> Material:
    """Effective material of a laminate ``[(thickness, material), ...]`` (series in z, parallel in x-y)."""
    total = sum(t for t, _ in layers)
    kz = total / sum(t / m.kz for t, m in layers)
    kx = sum(t * m.kx for t, m in layers) / total
    ky = sum(t * m.ky for t, m in layers) / total
    rho_c = sum(t * m.heat_capacity for t, m in layers) / total
    return Material(name=name, kx=kx, ky=ky, kz=kz, heat_capacity=rho_c,
                    source=source or "laminate: series through thickness, parallel in plane (Wiener bounds)")


def hbm_laminate(hbm: HBMStack, height: float, silicon: Material, bond: Material) -> list[tuple[float, Material]]:
    """Layers of an HBM stack from the bottom: base die, then (bond, DRAM die) × n, then the cap.

    The cap (mold or thick top die, silicon here) fills whatever of ``height`` is left.
    """
    layers = [(hbm.base_die_thickness, silicon)]
    for _ in range(hbm.dram_dies):
        layers += [(hbm.bond_thickness, bond), (hbm.die_thickness, silicon)]
    used = sum(t for t, _ in layers)
    if height - used > 1e-9:
        layers.append((height - used, silicon))
    return layers


def homogenise_hbm(hbm: HBMStack, height: float, silicon: Material, bond: Material, *, name: str) -> Material:
    """Effective anisotropic block of an HBM stack of total ``height`` [m]."""
    return homogenise_laminate(
        hbm_laminate(hbm, height, silicon, bond), name=name,
        source=(f"homogenised {hbm.generation} stack: base die {hbm.base_die_thickness * 1e6:.3g} um + "
                f"{hbm.dram_dies} x (bond {hbm.bond_thickness * 1e6:.3g} um + DRAM {hbm.die_thickness * 1e6:.3g} um)"
                " + silicon cap; series in z, parallel in x-y"),
    )
