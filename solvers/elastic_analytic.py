"""Closed-form thermo-elastic references for the verification of :mod:`solvers.elasticity`.

Layers are listed from the bottom (``zmin``) up; z grows upwards. Curvatures are returned as
the second derivative of the deflection, ``w''`` [1/m]: positive when the body bends concave
upwards ("smile", the edges rise), the quantity a finite-element test fits to ``u_z`` of the
bottom face.

* :func:`laminate_curvature`: classical laminate (plate) theory for a stack of isotropic
  layers under one uniform temperature change: the in-plane strain ``ε(z) = ε0 - z w''`` is
  linear in z (Kirchhoff), and the force and moment resultants of ``M_i (ε(z) - α_i ΔT)``
  vanish. ``M_i = E_i / (1 - ν_i)`` for a plate bent equally in both directions (spherical
  bending, which an isotropic thermal load on isotropic layers gives away from the edges) and
  ``M_i = E_i`` for a narrow beam (with ``ν = 0`` both agree; for two layers this is
  Timoshenko's bimetal strip, S. Timoshenko, "Analysis of bi-metal thermostats", J. Opt. Soc.
  Am. 11 (1925) 233-255).
* :func:`stoney_curvature`: Stoney's thin-film formula (G. G. Stoney, Proc. R. Soc. Lond. A 82
  (1909) 172-175), ``w'' = 6 σ_f h_f / (M_s h_s^2)`` for a film stress ``σ_f`` (tensile
  positive) of thickness ``h_f`` on a substrate ``h_s``; exact in the limit ``h_f / h_s -> 0``,
  with a relative error of order ``4 (M_f h_f) / (M_s h_s)`` otherwise (Freund & Suresh, "Thin
  Film Materials", Cambridge 2003, sec. 2.2).
"""

from __future__ import annotations

import numpy as np

__all__ = ["laminate_curvature", "stoney_curvature", "timoshenko_bimetal_curvature"]


def laminate_curvature(E, nu, alpha, thickness, dT, *, biaxial: bool = True) -> tuple[float, float]:
    """Mid-plane strain at ``z = 0`` (the bottom) and curvature ``w''`` of a free laminate.

    Parameters
    ----------
    E, nu, alpha, thickness : sequence of float
        Young's modulus [Pa], Poisson ratio, CTE [1/K] and thickness [m] of each layer, bottom
        first.
    dT : float
        Uniform temperature change from the stress-free state [K].
    biaxial : bool
        Plate in spherical bending (``M = E/(1-ν)``) or narrow beam (``M = E``).

    Returns
    -------
    eps0, curvature : float
        In-plane strain at the bottom face [-] and ``w''`` [1/m].
    """
    E, nu, alpha, h = (np.asarray(v, float) for v in (E, nu, alpha, thickness))
    M = E / (1.0 - nu) if biaxial else E
    z = np.concatenate([[0.0], np.cumsum(h)])
    z0, z1 = z[:-1], z[1:]
    A = np.sum(M * (z1 - z0))
    B = np.sum(M * (z1 ** 2 - z0 ** 2) / 2.0)
    D = np.sum(M * (z1 ** 3 - z0 ** 3) / 3.0)
    NT = np.sum(M * alpha * dT * (z1 - z0))
    MT = np.sum(M * alpha * dT * (z1 ** 2 - z0 ** 2) / 2.0)
    eps0, kappa = np.linalg.solve([[A, B], [B, D]], [NT, MT])  # ε(z) = eps0 + z kappa
    return float(eps0), float(-kappa)


def timoshenko_bimetal_curvature(E1, alpha1, h1, E2, alpha2, h2, dT) -> float:
    """Timoshenko's bimetal strip (layer 1 at the bottom): ``w''`` [1/m] (beam, ν = 0).

    ``1/ρ = 6 (α2 - α1) ΔT (1 + m)^2 / (h (3 (1 + m)^2 + (1 + m n) (m^2 + 1/(m n))))`` with
    ``m = h1/h2``, ``n = E1/E2``, ``h = h1 + h2``; a hotter strip bends towards the layer of
    lower expansion, so heating (ΔT > 0) with ``α2 > α1`` on top gives ``w'' < 0`` (cry).
    """
    m, n, h = h1 / h2, E1 / E2, h1 + h2
    inv_rho = 6.0 * (alpha2 - alpha1) * dT * (1 + m) ** 2 / (h * (3 * (1 + m) ** 2 + (1 + m * n) * (m * m + 1.0 / (m * n))))
    return float(-inv_rho)


def stoney_curvature(E_s, nu_s, h_s, sigma_f, h_f) -> float:
    """Stoney's ``w'' = 6 σ_f h_f / (M_s h_s^2)`` [1/m] for a film on top (tensile film: smile)."""
    M_s = E_s / (1.0 - nu_s)
    return float(6.0 * sigma_f * h_f / (M_s * h_s ** 2))
