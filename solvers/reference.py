"""Reference (oracle) assembly of the Q1 heat-conduction operator with scikit-fem.

The fast path in :mod:`solvers` applies the same operator matrix-free in JAX; this module
assembles it as a sparse matrix on the same grid (quadrature ``intorder=3``) so the two can be
compared to round-off, and so a slow, independent solve path stays available.

Node numbering is the grid's C order (see :mod:`solvers.grid`).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from .grid import FACES, TensorGrid, ThermalFields

__all__ = ["assemble", "assemble_capacity"]


def _bases(grid: TensorGrid):
    from skfem import Basis, ElementHex0, ElementHex1

    mesh = grid.to_skfem()
    basis = Basis(mesh, ElementHex1(), intorder=3)
    basis0 = basis.with_element(ElementHex0())
    return mesh, basis, basis0


def _facet_cell_index(grid: TensorGrid, mesh, facets: np.ndarray, face: str) -> tuple[np.ndarray, ...]:
    """Face-cell (a, b) indices of boundary facets of one face, from the facet centres."""
    centres = mesh.p[:, mesh.facets[:, facets]].mean(axis=1)
    axes = {"x": 0, "y": 1, "z": 2}
    normal = face[0]
    tangential = [a for a in "xyz" if a != normal]
    idx = []
    for a in tangential:
        coords = getattr(grid, a)
        idx.append(np.searchsorted(coords, centres[axes[a]]) - 1)
    return tuple(idx)


def assemble(grid: TensorGrid, fields: ThermalFields) -> tuple[sp.csr_matrix, np.ndarray]:
    """Assemble the steady operator ``K`` and the load ``b`` so that ``K T = b``.

    ``K`` holds conduction (per-element diagonal conductivity) plus the Robin terms
    ``∫ h T v ds``; ``b`` holds ``∫ q v dx + ∫ h T_amb v ds``.

    Returns
    -------
    K : scipy.sparse.csr_matrix
        ``(n_nodes, n_nodes)`` symmetric positive (semi-)definite matrix.
    b : numpy.ndarray
        ``(n_nodes,)`` load vector [W].
    """
    from skfem import BilinearForm, FacetBasis, ElementHex1, LinearForm, asm

    mesh, basis, basis0 = _bases(grid)

    @BilinearForm
    def conduction(u, v, w):
        du, dv = u.grad, v.grad
        return w.kx * du[0] * dv[0] + w.ky * du[1] * dv[1] + w.kz * du[2] * dv[2]

    @LinearForm
    def source(v, w):
        return w.q * v

    fx = lambda a: basis0.interpolate(np.asarray(a, dtype=float).ravel())  # noqa: E731
    K = asm(conduction, basis, kx=fx(fields.kx), ky=fx(fields.ky), kz=fx(fields.kz))
    b = asm(source, basis, q=fx(fields.source))

    @BilinearForm
    def robin(u, v, w):
        return w.h * u * v

    @LinearForm
    def robin_load(v, w):
        return w.h * w.t_amb * v

    for face in FACES:
        if face not in fields.h:
            continue
        facets = mesh.boundaries[face]
        fb = FacetBasis(mesh, ElementHex1(), facets=facets, intorder=3)
        ia, ib = _facet_cell_index(grid, mesh, facets, face)
        h = np.asarray(fields.h[face], dtype=float)[ia, ib]
        t_amb = np.broadcast_to(np.asarray(fields.ambient[face], dtype=float), h.shape if np.ndim(fields.ambient[face]) == 0 else np.shape(fields.ambient[face]))
        t_amb = np.asarray(t_amb)[ia, ib] if t_amb.ndim == 2 else np.full_like(h, float(t_amb))
        nqp = fb.X.shape[-1]
        hq = np.repeat(h[:, None], nqp, axis=1)
        tq = np.repeat(t_amb[:, None], nqp, axis=1)
        K = K + asm(robin, fb, h=hq)
        b = b + asm(robin_load, fb, h=hq, t_amb=tq)
    return sp.csr_matrix(K), np.asarray(b)


def assemble_capacity(grid: TensorGrid, fields: ThermalFields) -> sp.csr_matrix:
    """Consistent heat-capacity matrix ``C_ij = ∫ rho*c φ_i φ_j dx`` [J/K]."""
    from skfem import BilinearForm, asm

    mesh, basis, basis0 = _bases(grid)

    @BilinearForm
    def capacity(u, v, w):
        return w.c * u * v

    C = asm(capacity, basis, c=basis0.interpolate(np.asarray(fields.heat_capacity, dtype=float).ravel()))
    return sp.csr_matrix(C)
