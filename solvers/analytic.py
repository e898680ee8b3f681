"""Closed-form and semi-analytic answers for verifying the thermal solvers.

Each function here is an exact (or convergent-series) solution of a problem the finite-element
solvers can also pose, so a user can check a solver, a grid or a change against it:

========  =====================================================  ===============================
case      problem                                                function
========  =====================================================  ===============================
V1        1-D layered slab, flux or layer source, Robin top      :func:`layered_slab_temperature`
V2        rectangular source on a plate (flux-channel series)    :class:`FluxChannel`
V3        manufactured smooth solution, anisotropic box          :class:`ManufacturedBox`
V4        lumped body switched on at t = 0                       :func:`lumped_body_temperature`
V5        power-law k(T) slab via the Kirchhoff transform        :func:`kirchhoff_slab_temperature`
V6        leakage-temperature fixed point, runaway               :func:`leakage_equilibrium`
========  =====================================================  ===============================

Units are SI throughout: m, W, W/m/K, W/m^2/K, J/m^3/K, K, s.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np

from .grid import FACES, TensorGrid, ThermalFields, face_shape

__all__ = [
    "FluxChannel",
    "LeakageEquilibrium",
    "ManufacturedBox",
    "ThermalRunawayError",
    "kirchhoff_slab_temperature",
    "leakage_equilibrium",
    "lumped_body_temperature",
    "layered_slab_temperature",
    "power_law_kirchhoff",
]


# ---------------------------------------------------------------------------------------
# V1: layered slab
# ---------------------------------------------------------------------------------------


def layered_slab_temperature(
    z,
    thicknesses: Sequence[float],
    conductivities: Sequence[float],
    *,
    heat_transfer_coefficient: float,
    ambient: float,
    bottom_flux: float = 0.0,
    layer_sources: Sequence[float] | None = None,
) -> np.ndarray:
    """Temperature of a 1-D layered slab with flux in at the bottom and convection on top.

    Layers are listed bottom (``z = 0``) to top; the top face ``z = Σ t_i`` convects with
    ``h`` to ``T_amb``. The sides are adiabatic, so the answer holds for any lateral extent.
    With ``Q = q_bottom + Σ s_i t_i`` the heat leaving the top, the top temperature is
    ``T_amb + Q/h``; inside layer ``i`` the flux is ``F(z) = q_bottom + Σ_{j<i} s_j t_j +
    s_i (z - z_i)`` and ``T(z) = T(z_i) - ∫ F/k_i dz``, i.e. piecewise quadratic (linear where
    ``s_i = 0``). With ``layer_sources = 0`` this gives ``T_bottom = T_amb + q (1/h + Σ t_i/k_i)``.

    Parameters
    ----------
    z : array_like
        Heights [m] measured from the bottom face, within ``[0, Σ t_i]``.
    thicknesses : sequence of float
        Layer thicknesses ``t_i`` [m], bottom to top.
    conductivities : sequence of float
        Through-plane conductivities ``k_i`` [W/m/K].
    heat_transfer_coefficient : float
        ``h`` on the top face [W/m^2/K].
    ambient : float
        ``T_amb`` [K].
    bottom_flux : float
        Heat flux entering the bottom face [W/m^2].
    layer_sources : sequence of float, optional
        Uniform volumetric source of each layer [W/m^3].

    Returns
    -------
    numpy.ndarray
        ``T(z)`` [K], the shape of ``z``.

    Examples
    --------
    >>> float(layered_slab_temperature(0.0, [1e-3], [100.0], heat_transfer_coefficient=1e4,
    ...                                ambient=300.0, bottom_flux=1e5))
    311.0
    """
    t = np.asarray(thicknesses, dtype=float)
    k = np.asarray(conductivities, dtype=float)
    s = np.zeros_like(t) if layer_sources is None else np.asarray(layer_sources, dtype=float)
    if not (t.shape == k.shape == s.shape and t.ndim == 1 and t.size >= 1):
        raise ValueError(
            f"`layered_slab_temperature`: thicknesses, conductivities and layer_sources need one "
            f"value per layer; got {t.size}, {k.size} and {s.size}."
        )
    if np.any(t <= 0) or np.any(k <= 0) or not heat_transfer_coefficient > 0:
        raise ValueError(
            "`layered_slab_temperature`: thicknesses, conductivities and h must be positive; got "
            f"t={t.tolist()}, k={k.tolist()}, h={heat_transfer_coefficient!r}."
        )
    zi = np.concatenate([[0.0], np.cumsum(t)])
    flux_in = bottom_flux + np.concatenate([[0.0], np.cumsum(s * t)])  # flux at the bottom of each layer
    total = flux_in[-1]
    # Temperature at layer interfaces, from the top down.
    t_if = np.empty(zi.size)
    t_if[-1] = ambient + total / heat_transfer_coefficient
    for i in range(t.size - 1, -1, -1):
        drop = (flux_in[i] * t[i] + 0.5 * s[i] * t[i] ** 2) / k[i]
        t_if[i] = t_if[i + 1] + drop
    zz = np.asarray(z, dtype=float)
    if np.any(zz < -1e-12 * zi[-1]) or np.any(zz > zi[-1] * (1 + 1e-12)):
        raise ValueError(f"`layered_slab_temperature`: z must lie in [0, {zi[-1]:.6g}] m; got range [{zz.min():.6g}, {zz.max():.6g}].")
    i = np.clip(np.searchsorted(zi, zz, side="right") - 1, 0, t.size - 1)
    d = zz - zi[i]
    return t_if[i] - (flux_in[i] * d + 0.5 * s[i] * d**2) / k[i]


# ---------------------------------------------------------------------------------------
# V2: flux channel (Muzychka, Culham & Yovanovich 2003)
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FluxChannel:
    """Rectangular heat source on a plate: the Muzychka–Culham–Yovanovich series.

    A plate ``0 ≤ x ≤ a``, ``0 ≤ y ≤ b``, ``0 ≤ z ≤ t`` of isotropic conductivity ``k``
    carries a uniform flux ``Q/(c d)`` into the face ``z = 0`` over the rectangle of size
    ``c × d`` centred at ``(X_c, Y_c)``; the rest of that face and the four sides are
    adiabatic, and the face ``z = t`` convects with ``h`` to ``T_f``.

    Derivation (separation of variables; Muzychka, Culham & Yovanovich, *J. Electronic
    Packaging* 125 (2003) 178). The adiabatic sides select ``cos(λ_m x) cos(δ_n y)`` with
    ``λ_m = mπ/a``, ``δ_n = nπ/b``; each mode's depth profile solves ``φ'' = ζ² φ`` with
    ``ζ = √(λ_m² + δ_n²)``, ``φ(0) = 1`` and the Robin condition ``-k φ'(t) = h φ(t)``, so

        φ(ζ, z) = [ζ cosh ζ(t - z) + (h/k) sinh ζ(t - z)] / [ζ cosh ζt + (h/k) sinh ζt],

    which equals ``cosh ζz - φ_ζ sinh ζz`` with ``φ_ζ = -φ'(0)/ζ =
    (ζ sinh ζt + (h/k) cosh ζt)/(ζ cosh ζt + (h/k) sinh ζt)``. The flux condition
    ``-k ∂θ/∂z = q(x, y)`` at ``z = 0`` gives each amplitude as the cosine coefficient of
    ``q`` divided by ``k ζ φ_ζ``. With ``∫ cos λx dx`` over the source ``= 2 cos(λ X_c)
    sin(λ c/2)/λ`` the coefficients are (all signs positive)::

        A0  = Q/(ab) (t/k + 1/h),          B0 = -Q/(k a b)
        A_m = 2Q [sin λ(X_c + c/2) - sin λ(X_c - c/2)] / (a b c k λ² φ_λ)
        A_n = 2Q [sin δ(Y_c + d/2) - sin δ(Y_c - d/2)] / (a b d k δ² φ_δ)
        A_mn = 16 Q cos(λ X_c) sin(λ c/2) cos(δ Y_c) sin(δ d/2) / (a b c d k β λ δ φ_β)

    The depth profile is evaluated in the overflow-free form above (scaled by ``e^{-ζt}``).

    Parameters
    ----------
    a, b, t : float
        Plate size along x, y and thickness [m].
    c, d : float
        Source size along x and y [m].
    xc, yc : float
        Source centre [m]; the source must lie on the plate.
    k : float
        Conductivity [W/m/K].
    h : float
        Heat-transfer coefficient on ``z = t`` [W/m^2/K].
    power : float
        Source power ``Q`` [W].
    fluid_temperature : float
        ``T_f`` [K].
    n_terms : int
        Number of terms ``M = N`` in each series. The mean over the source settles like
        ``1/M²``, the point value more slowly and less regularly; for mm-sized sources on a
        1 mm plate, 400 → 800 terms changes either by ~5e-6 of the rise. Check a new case
        with :meth:`series_change`.

    Examples
    --------
    >>> fc = FluxChannel(a=0.01, b=0.01, t=0.001, c=0.01, d=0.01, xc=0.005, yc=0.005,
    ...                  k=100.0, h=1e4, power=1.0)
    >>> round(float(fc.temperature(0.002, 0.007, 0.0)), 9)  # full-face source: 1-D answer
    1.1
    """

    a: float
    b: float
    t: float
    c: float
    d: float
    xc: float
    yc: float
    k: float
    h: float
    power: float
    fluid_temperature: float = 0.0
    n_terms: int = 400

    def __post_init__(self) -> None:
        problems = []
        for name in ("a", "b", "t", "c", "d", "k", "h"):
            if not getattr(self, name) > 0:
                problems.append(f"{name}={getattr(self, name)!r} must be positive")
        if self.xc - self.c / 2 < -1e-12 * self.a or self.xc + self.c / 2 > self.a * (1 + 1e-12):
            problems.append(f"source x-range [{self.xc - self.c / 2:.6g}, {self.xc + self.c / 2:.6g}] leaves [0, a={self.a:.6g}]")
        if self.yc - self.d / 2 < -1e-12 * self.b or self.yc + self.d / 2 > self.b * (1 + 1e-12):
            problems.append(f"source y-range [{self.yc - self.d / 2:.6g}, {self.yc + self.d / 2:.6g}] leaves [0, b={self.b:.6g}]")
        if problems:
            raise ValueError("`FluxChannel`: " + "; ".join(problems) + ".")

    # depth profile φ(ζ, z) and φ_ζ for ζ > 0, overflow-free
    def _phi(self, zeta: np.ndarray, z: float) -> np.ndarray:
        bi = self.h / self.k
        t = self.t
        e = lambda arg: np.exp(-zeta * arg)  # noqa: E731
        num = zeta * (e(z) + e(2 * t - z)) + bi * (e(z) - e(2 * t - z))
        den = zeta * (1 + e(2 * t)) + bi * (1 - e(2 * t))
        return num / den

    def _phi_zeta(self, zeta: np.ndarray) -> np.ndarray:
        bi = self.h / self.k
        th = np.tanh(zeta * self.t)
        return (zeta * th + bi) / (zeta + bi * th)

    def _coefficients(self, n_terms: int):
        m = np.arange(1, n_terms + 1)
        lam = m * np.pi / self.a
        dlt = m * np.pi / self.b
        q, a, b, c, d, k = self.power, self.a, self.b, self.c, self.d, self.k
        a_m = 2 * q * (np.sin(lam * (self.xc + c / 2)) - np.sin(lam * (self.xc - c / 2))) / (a * b * c * k * lam**2 * self._phi_zeta(lam))
        a_n = 2 * q * (np.sin(dlt * (self.yc + d / 2)) - np.sin(dlt * (self.yc - d / 2))) / (a * b * d * k * dlt**2 * self._phi_zeta(dlt))
        beta = np.sqrt(lam[:, None] ** 2 + dlt[None, :] ** 2)
        fx = np.cos(lam * self.xc) * np.sin(lam * c / 2) / lam
        fy = np.cos(dlt * self.yc) * np.sin(dlt * d / 2) / dlt
        a_mn = 16 * q * fx[:, None] * fy[None, :] / (a * b * c * d * k * beta * self._phi_zeta(beta))
        return lam, dlt, beta, a_m, a_n, a_mn

    def _rise(self, x, y, z, n_terms):
        lam, dlt, beta, a_m, a_n, a_mn = self._coefficients(n_terms)
        a0 = self.power / (self.a * self.b) * (self.t / self.k + 1 / self.h)
        b0 = -self.power / (self.k * self.a * self.b)
        x, y, z = np.broadcast_arrays(*(np.asarray(v, dtype=float) for v in (x, y, z)))
        xf, yf, zf = x.ravel(), y.ravel(), z.ravel()
        out = np.empty(xf.shape)
        # Vectorised over points; the depth factors are shared by all points at one height.
        for zi in np.unique(zf):
            sel = zf == zi
            cx = np.cos(np.outer(xf[sel], lam))  # (points, M)
            cy = np.cos(np.outer(yf[sel], dlt))  # (points, N)
            double = np.sum((cx @ (a_mn * self._phi(beta, zi))) * cy, axis=1)
            out[sel] = a0 + b0 * zi + cx @ (a_m * self._phi(lam, zi)) + cy @ (a_n * self._phi(dlt, zi)) + double
        return out.reshape(x.shape)

    def temperature(self, x, y, z, *, n_terms: int | None = None) -> np.ndarray:
        """Temperature ``T_f + θ(x, y, z)`` [K] at points in the plate (broadcast arrays) [m]."""
        return self.fluid_temperature + self._rise(x, y, z, n_terms or self.n_terms)

    def mean_source_temperature(self, *, n_terms: int | None = None) -> float:
        """Mean temperature [K] over the source rectangle on ``z = 0``.

        Uses ``(1/c) ∫ cos(λ x) dx = 2 cos(λ X_c) sin(λ c/2)/(λ c)`` term by term; the
        double series converges like ``Σ 1/(λ² δ² β)``, much faster than the point value.
        """
        lam, dlt, beta, a_m, a_n, a_mn = self._coefficients(n_terms or self.n_terms)
        a0 = self.power / (self.a * self.b) * (self.t / self.k + 1 / self.h)
        gx = 2 * np.cos(lam * self.xc) * np.sin(lam * self.c / 2) / (lam * self.c)
        gy = 2 * np.cos(dlt * self.yc) * np.sin(dlt * self.d / 2) / (dlt * self.d)
        rise = a0 + a_m @ gx + a_n @ gy + gx @ a_mn @ gy
        return float(self.fluid_temperature + rise)

    def centre_temperature(self, *, n_terms: int | None = None) -> float:
        """Temperature [K] at the source centre ``(X_c, Y_c, 0)``."""
        return float(self.temperature(self.xc, self.yc, 0.0, n_terms=n_terms))

    def series_change(self) -> dict[str, float]:
        """Change of the centre and mean rises between ``n_terms/2`` and ``n_terms`` terms,
        relative to the mean rise: an estimate of the truncation error."""
        n = self.n_terms
        rise = self.mean_source_temperature() - self.fluid_temperature
        return {
            "centre": abs(self.centre_temperature() - self.centre_temperature(n_terms=n // 2)) / rise,
            "mean": abs(self.mean_source_temperature() - self.mean_source_temperature(n_terms=n // 2)) / rise,
        }


# ---------------------------------------------------------------------------------------
# V3: manufactured solution
# ---------------------------------------------------------------------------------------

_GAUSS3 = np.polynomial.legendre.leggauss(3)


@dataclass(frozen=True)
class ManufacturedBox:
    """A smooth manufactured temperature on an anisotropic box, with exact data.

    The exact solution on ``[0, Lx] × [0, Ly] × [0, Lz]`` is::

        T = T0 + A · sin(π x/Lx · 0.8 + 0.3) · cos(π y/Ly · 0.6 - 0.2) · exp(-0.7 z/Lz)
              + B · (x/Lx) (z/Lz)

    It is smooth and not a polynomial of low degree, so no Q1 grid reproduces it. For the
    constant principal conductivities ``(kx, ky, kz)`` the source is
    ``q = -(kx T_xx + ky T_yy + kz T_zz)``, and with ``h`` on a face of outward normal ``n``
    the Robin condition ``-k_n ∂T/∂n = h (T - T_amb)`` holds exactly for
    ``T_amb = T + (k_n/h) ∂T/∂n``, which varies along the face.

    :meth:`fields` hands the grid the cell averages of ``q`` and of ``T_amb`` (3-point Gauss
    per direction). Replacing smooth data by cell averages perturbs the discrete solution by
    ``O(h²)`` (the averaging error is orthogonal to constants on each cell), so the second
    order of Q1 in L2 is kept.

    Parameters
    ----------
    lengths : (float, float, float)
        Box size ``(Lx, Ly, Lz)`` [m].
    conductivity : (float, float, float)
        ``(kx, ky, kz)`` [W/m/K].
    heat_transfer_coefficient : float
        ``h`` on every face [W/m^2/K].
    base_temperature, amplitude, linear : float
        ``T0``, ``A`` and ``B`` [K].
    heat_capacity : float
        ``rho c`` written to the fields [J/m^3/K] (unused by steady solves).
    """

    lengths: tuple[float, float, float] = (2e-3, 1e-3, 5e-4)
    conductivity: tuple[float, float, float] = (150.0, 40.0, 5.0)
    heat_transfer_coefficient: float = 2e4
    base_temperature: float = 330.0
    amplitude: float = 20.0
    linear: float = 5.0
    heat_capacity: float = 1.6e6

    def _parts(self, x, y, z):
        lx, ly, lz = self.lengths
        ax, px = 0.8 * np.pi / lx, 0.3
        ay, py = 0.6 * np.pi / ly, -0.2
        az = 0.7 / lz
        sx, cx = np.sin(ax * x + px), np.cos(ax * x + px)
        sy, cy = np.sin(ay * y + py), np.cos(ay * y + py)
        ez = np.exp(-az * z)
        return (ax, ay, az, sx, cx, sy, cy, ez)

    def temperature(self, x, y, z):
        """Exact temperature [K] at points [m]."""
        lx, _, lz = self.lengths
        ax, ay, az, sx, cx, sy, cy, ez = self._parts(x, y, z)
        return self.base_temperature + self.amplitude * sx * cy * ez + self.linear * (x / lx) * (z / lz)

    def gradient(self, x, y, z):
        """Exact ``(∂T/∂x, ∂T/∂y, ∂T/∂z)`` [K/m]."""
        lx, _, lz = self.lengths
        ax, ay, az, sx, cx, sy, cy, ez = self._parts(x, y, z)
        a = self.amplitude
        return (
            a * ax * cx * cy * ez + self.linear * z / (lx * lz),
            -a * ay * sx * sy * ez,
            -a * az * sx * cy * ez + self.linear * x / (lx * lz),
        )

    def source(self, x, y, z):
        """Volumetric source [W/m^3] that makes :meth:`temperature` exact."""
        kx, ky, kz = self.conductivity
        ax, ay, az, sx, cx, sy, cy, ez = self._parts(x, y, z)
        base = self.amplitude * sx * cy * ez
        return -(kx * (-ax**2) + ky * (-ay**2) + kz * az**2) * base

    def ambient(self, face: str, p, q):
        """Exact ambient temperature [K] on a face, at face coordinates ``(p, q)`` [m]: the
        two tangential coordinates in x, y, z order (e.g. ``(y, z)`` on ``xmin``)."""
        lx, ly, lz = self.lengths
        axis = "xyz".index(face[0])
        sign = -1.0 if face.endswith("min") else 1.0
        coord = 0.0 if face.endswith("min") else self.lengths[axis]
        pts = [None, None, None]
        tangential = [i for i in range(3) if i != axis]
        pts[axis] = np.full(np.broadcast(p, q).shape, coord)
        pts[tangential[0]], pts[tangential[1]] = np.broadcast_arrays(p, q)
        grad = self.gradient(*pts)
        return self.temperature(*pts) + self.conductivity[axis] / self.heat_transfer_coefficient * sign * grad[axis]

    def _check_grid(self, grid: TensorGrid) -> None:
        for axis, length in zip("xyz", self.lengths):
            c = getattr(grid, axis)
            if abs(c[0]) > 1e-12 * length or abs(c[-1] - length) > 1e-9 * length:
                raise ValueError(
                    f"`ManufacturedBox`: grid.{axis} spans [{c[0]:.6g}, {c[-1]:.6g}] m but the box is "
                    f"[0, {length:.6g}] m; build the grid on the box."
                )

    def fields(self, grid: TensorGrid) -> ThermalFields:
        """Thermal fields on ``grid`` (which must span the box): constant ``k``, the
        cell-averaged source, and ``h`` with cell-averaged ``T_amb`` on all six faces."""
        self._check_grid(grid)
        xg, wg = _GAUSS3
        def cell_avg(f, edges_list):
            # tensor Gauss average of f over every cell of a (1-, 2- or 3-D) tensor grid
            pts = [0.5 * (e[1:] + e[:-1])[:, None] + 0.5 * np.diff(e)[:, None] * xg[None, :] for e in edges_list]
            shape_c = [len(e) - 1 for e in edges_list]
            grids = np.meshgrid(*[p.ravel() for p in pts], indexing="ij")
            vals = f(*grids)
            vals = vals.reshape([s for n in shape_c for s in (n, 3)])
            for i in range(len(edges_list)):
                vals = np.tensordot(vals, wg / 2.0, axes=([2 * i + 1 - i], [0]))
            return vals

        q = cell_avg(self.source, [grid.x, grid.y, grid.z])
        kx, ky, kz = (np.full(grid.shape, v) for v in self.conductivity)
        h, amb = {}, {}
        for face in FACES:
            axis = "xyz".index(face[0])
            tangential = [getattr(grid, "xyz"[i]) for i in range(3) if i != axis]
            amb[face] = cell_avg(lambda p, s, face=face: self.ambient(face, p, s), tangential)
            h[face] = np.full(face_shape(grid.shape, face), self.heat_transfer_coefficient)
        return ThermalFields(kx=kx, ky=ky, kz=kz, heat_capacity=np.full(grid.shape, self.heat_capacity), source=q, h=h, ambient=amb)

    def errors(self, grid: TensorGrid, temperature) -> dict[str, float]:
        """Errors of a nodal (trilinear) temperature against the exact one.

        Returns
        -------
        dict
            ``max_nodal`` — ``max |T_h - T|`` over the nodes [K];
            ``l2`` — ``‖T_h - T‖_{L2}`` [K·m^1.5];
            ``h1`` — ``‖∇(T_h - T)‖_{L2}`` [K·m^0.5];
            both integrals by 3-point Gauss quadrature per direction on every cell.
        """
        self._check_grid(grid)
        t_h = np.asarray(temperature, dtype=float).reshape(grid.node_shape)
        X, Y, Z = np.meshgrid(grid.x, grid.y, grid.z, indexing="ij")
        max_nodal = float(np.max(np.abs(t_h - self.temperature(X, Y, Z))))
        xg, wg = _GAUSS3
        s = 0.5 * (xg + 1.0)  # reference coordinates in [0, 1]
        dx, dy, dz = grid.spacing
        # corner values of every cell: c[a, b, c] has the cell shape
        corner = {(i, j, k): t_h[i : i + grid.shape[0], j : j + grid.shape[1], k : k + grid.shape[2]] for i in (0, 1) for j in (0, 1) for k in (0, 1)}
        l2 = h1 = 0.0
        for gi, si in enumerate(s):
            for gj, sj in enumerate(s):
                for gk, sk in enumerate(s):
                    w = wg[gi] * wg[gj] * wg[gk] / 8.0
                    lx = (1 - si, si)
                    ly = (1 - sj, sj)
                    lz = (1 - sk, sk)
                    val = sum(corner[i, j, k] * lx[i] * ly[j] * lz[k] for i in (0, 1) for j in (0, 1) for k in (0, 1))
                    gx = sum(corner[i, j, k] * (2 * i - 1) * ly[j] * lz[k] for i in (0, 1) for j in (0, 1) for k in (0, 1)) / dx[:, None, None]
                    gy = sum(corner[i, j, k] * lx[i] * (2 * j - 1) * lz[k] for i in (0, 1) for j in (0, 1) for k in (0, 1)) / dy[None, :, None]
                    gz = sum(corner[i, j, k] * lx[i] * ly[j] * (2 * k - 1) for i in (0, 1) for j in (0, 1) for k in (0, 1)) / dz[None, None, :]
                    px = (grid.x[:-1] + si * dx)[:, None, None]
                    py = (grid.y[:-1] + sj * dy)[None, :, None]
                    pz = (grid.z[:-1] + sk * dz)[None, None, :]
                    vol = grid.cell_volumes()
                    ex = self.temperature(px, py, pz)
                    g = self.gradient(px, py, pz)
                    l2 += float(np.sum(w * vol * (val - ex) ** 2))
                    h1 += float(np.sum(w * vol * ((gx - g[0]) ** 2 + (gy - g[1]) ** 2 + (gz - g[2]) ** 2)))
        return {"max_nodal": max_nodal, "l2": math.sqrt(l2), "h1": math.sqrt(h1)}


# ---------------------------------------------------------------------------------------
# V4: lumped body
# ---------------------------------------------------------------------------------------


def lumped_body_temperature(
    t,
    *,
    power: float,
    heat_transfer_coefficient: float,
    area: float,
    heat_capacity: float,
    ambient: float,
    initial: float | None = None,
) -> np.ndarray:
    """Temperature of a lumped (isothermal) body after a power step at ``t = 0``.

    ``C dT/dt = P - h A (T - T_amb)`` with ``C`` the total heat capacity gives
    ``T(t) = T_amb + P/(hA) + (T_0 - T_amb - P/(hA)) exp(-t/τ)``, ``τ = C/(hA)``; for a plate of
    thickness ``t_p`` cooled on one face, ``τ = ρ c t_p / h``. Valid while the Biot number
    ``h t_p / k ≪ 1``.

    Parameters
    ----------
    t : array_like
        Times since the step [s].
    power : float
        ``P`` [W].
    heat_transfer_coefficient : float
        ``h`` [W/m^2/K].
    area : float
        Convective area ``A`` [m^2].
    heat_capacity : float
        Total heat capacity ``C = ρ c V`` [J/K].
    ambient : float
        ``T_amb`` [K].
    initial : float, optional
        ``T_0`` [K]; defaults to ``T_amb``.

    Returns
    -------
    numpy.ndarray
        ``T(t)`` [K].

    Examples
    --------
    >>> float(lumped_body_temperature(0.0, power=1.0, heat_transfer_coefficient=10.0, area=0.1,
    ...                               heat_capacity=5.0, ambient=300.0))
    300.0
    """
    ha = heat_transfer_coefficient * area
    t0 = ambient if initial is None else initial
    steady = ambient + power / ha
    return steady + (t0 - steady) * np.exp(-np.asarray(t, dtype=float) * ha / heat_capacity)


# ---------------------------------------------------------------------------------------
# V5: Kirchhoff transform for a power-law conductivity
# ---------------------------------------------------------------------------------------


def power_law_kirchhoff(temperature, *, k_ref: float, reference_temperature: float, exponent: float):
    """Kirchhoff transform ``U(T) = ∫_{T_ref}^{T} k_ref (s/T_ref)^n ds`` [W/m].

    ``U = k_ref T_ref ((T/T_ref)^{n+1} - 1)/(n+1)``, or ``k_ref T_ref ln(T/T_ref)`` for
    ``n = -1``.
    """
    r = np.asarray(temperature, dtype=float) / reference_temperature
    n1 = exponent + 1.0
    if n1 == 0.0:
        return k_ref * reference_temperature * np.log(r)
    return k_ref * reference_temperature * (r**n1 - 1.0) / n1


def _inverse_kirchhoff(u, *, k_ref, reference_temperature, exponent):
    n1 = exponent + 1.0
    base = np.asarray(u, dtype=float) / (k_ref * reference_temperature)
    if n1 == 0.0:
        return reference_temperature * np.exp(base)
    inner = 1.0 + n1 * base
    if np.any(inner <= 0):
        bound = k_ref * reference_temperature / abs(n1)
        raise ValueError(
            f"`kirchhoff_slab_temperature`: the conductivity k ∝ T^{exponent:g} integrates to at most "
            f"U = {bound:.6g} W/m above T_ref, but the slab needs U = {float(np.max(u)):.6g} W/m: no finite "
            "temperature carries this flux (conduction runaway). Lower the flux or the thickness."
        )
    return reference_temperature * inner ** (1.0 / n1)


def kirchhoff_slab_temperature(
    z,
    *,
    thickness: float,
    flux: float,
    top_temperature: float,
    k_ref: float,
    reference_temperature: float,
    exponent: float,
) -> np.ndarray:
    """Temperature in a 1-D slab with ``k(T) = k_ref (T/T_ref)^n``, flux in at the bottom.

    Steady 1-D conduction carries the same flux ``q`` at every height, so with the Kirchhoff
    transform ``U`` (:func:`power_law_kirchhoff`) ``dU/dz = -q`` and
    ``U(T(z)) = U(T_top) + q (L - z)`` exactly; ``T`` follows by inverting ``U`` in closed form.
    If the top is convective rather than fixed, ``T_top = T_amb + q/h`` exactly (all the
    heat leaves through the top), so this also solves the Robin problem.

    Parameters
    ----------
    z : array_like
        Height above the heated bottom face [m], in ``[0, L]``.
    thickness : float
        ``L`` [m].
    flux : float
        ``q`` entering at ``z = 0`` [W/m^2].
    top_temperature : float
        ``T(L)`` [K].
    k_ref : float
        Conductivity at ``T_ref`` [W/m/K].
    reference_temperature : float
        ``T_ref`` [K].
    exponent : float
        ``n`` (silicon: about -1.3).

    Returns
    -------
    numpy.ndarray
        ``T(z)`` [K].

    Raises
    ------
    ValueError
        If ``n < -1`` and the flux exceeds what any finite temperature can conduct.

    Examples
    --------
    >>> round(float(kirchhoff_slab_temperature(0.0, thickness=1e-3, flux=1e5, top_temperature=300.0,
    ...       k_ref=100.0, reference_temperature=300.0, exponent=0.0)), 12)
    301.0
    """
    kw = dict(k_ref=k_ref, reference_temperature=reference_temperature, exponent=exponent)
    u_top = power_law_kirchhoff(top_temperature, **kw)
    u = u_top + flux * (thickness - np.asarray(z, dtype=float))
    return _inverse_kirchhoff(u, **kw)


# ---------------------------------------------------------------------------------------
# V6: leakage-temperature coupling
# ---------------------------------------------------------------------------------------


class ThermalRunawayError(RuntimeError):
    """The leakage-temperature fixed point has no solution: the die heats without bound."""


@dataclass(frozen=True)
class LeakageEquilibrium:
    """Solution (or its absence) of ``T = T_amb + R (P_dyn + P_leak0 exp(β (T - T_ref))``.

    Attributes
    ----------
    runaway : bool
        True when no steady temperature exists.
    temperature : float or None
        Smallest (stable) steady temperature [K]; None on runaway.
    power : float or None
        Total power at that temperature [W]; None on runaway.
    tangency_temperature : float
        ``T*`` [K] where ``R β P_leak(T*) = 1``: the loop gain of leakage reaches one.
    tangency_power : float
        Total power at ``T*`` [W].
    margin : float
        ``T* - (T_amb + R P(T*))`` [K]: positive with a solution, negative on runaway (how far
        the heating curve stays above the cooling line at its closest).
    loop_gain : float or None
        ``R β P_leak(T)`` at the solution (< 1 for a stable point); None on runaway.
    """

    runaway: bool
    temperature: float | None
    power: float | None
    tangency_temperature: float
    tangency_power: float
    margin: float
    loop_gain: float | None


def leakage_equilibrium(
    *,
    thermal_resistance: float,
    ambient: float,
    dynamic_power: float,
    leakage_power: float,
    leakage_coefficient: float,
    reference_temperature: float,
    throw: bool = True,
) -> LeakageEquilibrium:
    """Steady die temperature with exponential leakage, or a runaway diagnosis.

    Solves ``T = T_amb + R (P_dyn + P_leak0 e^{β (T - T_ref)})``. Write
    ``T_a' = T_amb + R P_dyn`` and ``u = T - T_a'``: ``u = c/β · e^{β u}`` with
    ``c = β R P_leak0 e^{β (T_a' - T_ref)}``, so ``-βu e^{-βu} = -c`` and the smallest root is
    ``u = -W₀(-c)/β`` (Lambert W, principal branch), real exactly when ``c ≤ 1/e``. The
    right-hand side is convex, so there are zero, one (tangent, ``c = 1/e``) or two roots; the
    smaller is stable (loop gain ``R β P_leak < 1``). At the tangency point
    ``T* = T_ref + ln(1/(R β P_leak0))/β`` the loop gain is one.

    Parameters
    ----------
    thermal_resistance : float
        Junction-to-ambient resistance ``R`` [K/W] (e.g. from :func:`layered_slab_temperature`).
    ambient : float
        ``T_amb`` [K].
    dynamic_power : float
        ``P_dyn`` [W].
    leakage_power : float
        ``P_leak0`` at ``T_ref`` [W].
    leakage_coefficient : float
        ``β`` [1/K] (leakage doubles every ``ln 2/β`` kelvin).
    reference_temperature : float
        ``T_ref`` [K].
    throw : bool
        Raise :class:`ThermalRunawayError` on runaway (default); otherwise return a result
        with ``runaway=True`` and no temperature.

    Returns
    -------
    LeakageEquilibrium

    Examples
    --------
    >>> r = leakage_equilibrium(thermal_resistance=0.2, ambient=318.0, dynamic_power=100.0,
    ...                         leakage_power=20.0, leakage_coefficient=0.02,
    ...                         reference_temperature=358.0)
    >>> r.runaway, round(r.temperature, 3)
    (False, 340.838)
    """
    from scipy.special import lambertw

    R, beta, p0 = thermal_resistance, leakage_coefficient, leakage_power
    if not (R > 0 and beta > 0 and p0 > 0 and dynamic_power >= 0):
        raise ValueError(
            "`leakage_equilibrium`: needs thermal_resistance > 0, leakage_coefficient > 0, "
            f"leakage_power > 0 and dynamic_power >= 0; got R={R!r}, β={beta!r}, P_leak0={p0!r}, "
            f"P_dyn={dynamic_power!r}."
        )
    p_leak = lambda temp: p0 * math.exp(beta * (temp - reference_temperature))  # noqa: E731
    t_star = reference_temperature + math.log(1.0 / (R * beta * p0)) / beta
    p_star = dynamic_power + p_leak(t_star)
    margin = t_star - (ambient + R * p_star)
    t_a = ambient + R * dynamic_power
    c = beta * R * p0 * math.exp(beta * (t_a - reference_temperature))
    if c > math.exp(-1.0):
        if throw:
            raise ThermalRunawayError(
                f"`leakage_equilibrium`: thermal runaway — no steady temperature exists. The loop gain "
                f"R·β·P_leak reaches 1 at T* = {t_star:.2f} K with P = {p_star:.4g} W, where the "
                f"cooling line T_amb + R·P = {ambient + R * p_star:.2f} K is {-margin:.3g} K above T*. "
                "Lower R, P_dyn or P_leak0, or pass throw=False to get this diagnosis as a result."
            )
        return LeakageEquilibrium(True, None, None, t_star, p_star, margin, None)
    u = -float(np.real(lambertw(-c, 0))) / beta
    temp = t_a + u
    return LeakageEquilibrium(
        runaway=False,
        temperature=temp,
        power=dynamic_power + p_leak(temp),
        tangency_temperature=t_star,
        tangency_power=p_star,
        margin=margin,
        loop_gain=R * beta * p_leak(temp),
    )
