"""Linear thermo-elasticity on a :class:`~solvers.grid.TensorGrid`, matrix-free in JAX.

This module knows displacements, strains and stresses on a rectilinear hex grid, never chiplets.

Element
-------
Every element is an axis-aligned box with an orthotropic material whose axes are the grid
axes. The displacement is trilinear (Q1, 8 nodes x 3 components) enriched by Wilson's nine
incompatible modes ``(1 - s_d^2) a_cd`` (component ``c``, direction ``d``), condensed out per
element. On a box this condensation has a closed form, which is what the operator applies:

Write the gradient of a Q1 field in the eight element functions ``1, ξ, η, ζ, ξη, ηζ, ξζ, ξηζ``
(reference coordinates in [-1, 1]); these are orthogonal on the element, with mean squares
``1, 1/3, 1/3, 1/3, 1/9, 1/9, 1/9, 1/27``, so the strain energy splits into one term per
function, exactly (this is also what 2x2x2 Gauss quadrature gives). The incompatible mode
``(c, d)`` only adds ``-4 s_d a_cd / h_d`` to ``∂u_c/∂x_d``, i.e. a free multiple of the single
linear function ``s_d``, and for an orthotropic, axis-aligned material the nine modes do not
couple to each other (the mode stiffness block is diagonal). Minimising the energy over them
therefore (i) removes the two shear strains ``γ_{d e}`` carried by the linear function ``s_d``
(the parasitic shear of a Q1 element in bending: *shear locking*) and (ii) frees the normal
strain ``ε_dd`` of ``s_d`` so that ``σ_dd`` of that term vanishes (the Poisson part of
locking). The constant, bilinear and trilinear terms keep the full stiffness. The result is the
Wilson/Taylor incompatible-modes hexahedron (QM6 and Wilson's element coincide on boxes): it
passes the patch test and is exact in pure bending, so thin layers (aspect ratio 50 and more,
one or two elements through a layer) bend without locking (see ``tests/solvers/
test_elasticity.py`` and ``docs/verification-mechanics.md``). ``formulation="q1"`` applies the
plain trilinear element (the scikit-fem oracle test compares that one matrix to round-off).

The free thermal strain ``alpha_dT`` is constant per element, so it only loads the constant
term; element strains and stresses are reported at the element centre (the constant term).

Boundary conditions
-------------------
* ``"free"`` (default): the six rigid-body modes are removed by a statically determinate 3-2-1
  constraint on corners of the bottom face (which adds no stress), and the rigid-body part of
  the result is then projected out, so the displacement has zero mean translation and rotation
  over the nodes and does not depend on which corners were held.
* ``"simply_supported"``: ``u_z = 0`` on the supported nodes of the bottom face (``zmin``), plus
  the minimum in-plane constraints (``u_x = u_y = 0`` at one supported node, one in-plane
  component at the supported node farthest from it).

Solver
------
Conjugate gradients (stopping on the true residual, :mod:`solvers._pcg`) preconditioned by one
geometric multigrid V-cycle with lateral semi-coarsening: x and y are coarsened by two per level,
z never (thin layers stay resolved on every level). The operator is formed once per solve as a
27-point node stencil of 3x3 blocks (:func:`_element_stencil`: element matrices with the
incompatible modes condensed, added into the node-pair blocks) and applied from its symmetric
half (14 blocks per node, :func:`_half_apply`), a few shifted multiply-adds per node instead of
element loops. Prolongation is lateral linear interpolation and the coarse operators are Galerkin,
``Pᵀ A P``, formed exactly from the fine stencil by sparse products along x, then y
(:func:`_galerkin_axis`); the smoother is Chebyshev(3) on z-column 3x3-block tridiagonal solves
(factored once per level), and the coarsest level (at most ``plane_nodes`` = 130 nodes per z-plane) is solved
exactly as a block-tridiagonal system over its z-planes. The finest level has a second coarse space,
the same interpolation with alternating signs on the in-plane components (:func:`_modulate`): in
layers of a few µm under mm-wide cells the incompatible modes make node-by-node alternating in-plane
patterns soft, and neither the column smoother nor the linear coarse space reached them (vcache_3d
279-299 CG iterations, 49-76 with it; h100_cowos_s 78-101 -> 26-48). For ``rtol >= SINGLE_PRECISION_RTOL`` the
V-cycle runs in float32 (set up in float64, then rounded); CG, its operator and its stopping test stay
float64. ``maxiter`` is data, not compiled in. Void elements (open space, ``void=``) are removed:
no stiffness, their own nodes held at zero.

Cost (b200_cowos_l, 4 mm lateral cells, 96k DOFs; benchmarks/RESULTS.md): the operator set-up was
~6 s (probing: 36 applications for the column blocks, 81 per Galerkin level, a dense coarsest
Cholesky) and an iteration ~0.15 s; the stencil, the sparse Galerkin products, the plane solve and
the float32 cycle cut the whole solve from 16-26 s to ~7 s at the same iteration count.

Diagnosis of the non-convergence on the shipped packages (issue 15; b200_cowos_l on 8 mm lateral
cells, 18k elements, and an 8 x 8 x 24 homogeneous stand-in with the package's z-grading): the
earlier coarse levels were incompatible-mode elements with volume-averaged stiffness and a
prolongation that added their condensed bubbles. That coarse operator was far from ``Pᵀ A P``:
on the stand-in, two levels, > 300 iterations rediscretised against 73 with the Galerkin matrix
(9 with the bottom face clamped instead of the 3-2-1 point supports). With linear prolongation and
Galerkin coarse operators: b200_cowos_l 8 mm 115 iterations (> 500 before), the thin layered
plate 19 / 16 / 21 at 16 / 32 / 64 lateral cells. What still costs iterations on the packages is
the coarse space itself: linear interpolation over coarse cells much wider than the thin layers
are thick represents plate bending only with locking energy (a homogeneous block with the
package's z-grading on 33 x 23 uniform lateral cells also needs 125); a bending-aware coarse space
(e.g. the bubbles with a Galerkin operator of wider z-stencil) is the next step. Those wide levels
are also what made the count grow with the mesh on h100_cowos_s (142 / 106 / 130 at 8 / 4 / 2 mm
with 4 / 4 / 5 levels): stopping the coarsening at <= 130 nodes per z-plane gives 101 / 90 / 78
(b200_cowos_l 64 / 52 at 4 / 2 mm, was 90 / 88; see :func:`_setup`).
Gradients go through :func:`jax.lax.custom_linear_solve`: one adjoint
solve with the same operator and preconditioner.

Voigt order used throughout: ``(xx, yy, zz, xy, yz, xz)`` with engineering shear strains.
"""

from __future__ import annotations

import contextlib
import dataclasses
from dataclasses import dataclass, field
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from ._jit import jitted
from ._pcg import linear_solve
from .grid import TensorGrid
from .steady import SolveError

__all__ = [
    "VOIGT",
    "ElasticFields",
    "ElasticSolution",
    "solve_thermoelastic",
]

VOIGT: tuple[str, ...] = ("xx", "yy", "zz", "xy", "yz", "xz")
# shear index of the pair of axes (d, e), d < e, in the shear part of VOIGT / ElasticFields.G
_SHEAR = {(0, 1): 0, (1, 2): 1, (0, 2): 2}
_SUPPORTS = ("free", "simply_supported")
#: From this rtol up the multigrid preconditioner runs in float32 (CG itself stays float64 and stops
#: on the float64 true residual, so the answer meets rtol either way); tighter tolerances use a
#: float64 preconditioner, whose rounding cannot stall CG near 1e-12.
SINGLE_PRECISION_RTOL = 1e-9


# ======================================================================================
# inputs
@jax.tree_util.register_dataclass
@dataclass(frozen=True)
class ElasticFields:
    """Per-element elastic constants and free thermal strain (a pytree of arrays).

    All arrays have shape ``(3, nx, ny, nz)`` (the grid's element shape behind an axis of three).

    Parameters
    ----------
    E : array
        Young's moduli ``(Ex, Ey, Ez)`` [Pa] along the grid axes (orthotropic).
    nu : array
        Poisson ratios ``(nu_xy, nu_yz, nu_xz)`` [-]; ``nu_ij`` is the contraction along ``j``
        per unit extension along ``i`` (so ``nu_ji = nu_ij E_j / E_i``).
    G : array
        Shear moduli ``(G_xy, G_yz, G_xz)`` [Pa].
    alpha_dT : array
        Free thermal strain along x, y, z [-]: the integral of the CTE from the stress-free
        temperature to the current temperature.
    """

    E: Any
    nu: Any
    G: Any
    alpha_dT: Any

    @staticmethod
    def isotropic(E, nu, cte, dT) -> "ElasticFields":
        """Fields of an isotropic material per element.

        Parameters
        ----------
        E, nu, cte, dT : array
            Young's modulus [Pa], Poisson ratio [-], linear CTE [1/K] and temperature change
            from the stress-free state [K], each of the element shape ``(nx, ny, nz)`` (or
            broadcastable to the shape of the others).
        """
        E, nu, cte, dT = jnp.broadcast_arrays(*(jnp.asarray(a) for a in (E, nu, cte, dT)))
        g = E / (2.0 * (1.0 + nu))
        return ElasticFields(jnp.stack([E] * 3), jnp.stack([nu] * 3), jnp.stack([g] * 3),
                             jnp.stack([cte * dT] * 3))

    def with_(self, **changes) -> "ElasticFields":
        """A copy with some fields replaced."""
        return dataclasses.replace(self, **changes)


def stiffness(fields: ElasticFields):
    """Normal stiffness blocks ``N`` (3, 3, ...) and shear moduli ``G`` (3, ...) per element [Pa].

    ``N`` is the inverse of the orthotropic normal compliance
    ``[[1/Ex, -nu_xy/Ex, -nu_xz/Ex], [-nu_xy/Ex, 1/Ey, -nu_yz/Ey], [-nu_xz/Ex, -nu_yz/Ey, 1/Ez]]``,
    written out by cofactors (differentiable, no batched LAPACK call).
    """
    Ex, Ey, Ez = fields.E[0], fields.E[1], fields.E[2]
    nxy, nyz, nxz = fields.nu[0], fields.nu[1], fields.nu[2]
    s = [[1 / Ex, -nxy / Ex, -nxz / Ex], [-nxy / Ex, 1 / Ey, -nyz / Ey], [-nxz / Ex, -nyz / Ey, 1 / Ez]]
    cof = [[s[(i + 1) % 3][(j + 1) % 3] * s[(i + 2) % 3][(j + 2) % 3]
            - s[(i + 1) % 3][(j + 2) % 3] * s[(i + 2) % 3][(j + 1) % 3] for j in range(3)] for i in range(3)]
    det = s[0][0] * cof[0][0] + s[0][1] * cof[0][1] + s[0][2] * cof[0][2]
    N = jnp.stack([jnp.stack([cof[j][i] / det for j in range(3)]) for i in range(3)])
    return N, fields.G


# ======================================================================================
# the element operator
@jax.tree_util.register_dataclass
@dataclass(frozen=True)
class _Level:
    """One grid of the operator: coordinates, per-element stiffness, DOF mask (1 = free)."""

    x: jax.Array
    y: jax.Array
    z: jax.Array
    N: jax.Array        # (3, 3, nx, ny, nz)
    G: jax.Array        # (3, nx, ny, nz)
    mask: jax.Array     # (3, nx+1, ny+1, nz+1)
    incompatible: bool = field(default=True, metadata=dict(static=True))
    stencil: Any = None  # the constrained operator as 27 node blocks (27, 3, 3, X, Y, Z), while setting up
    half: Any = None     # the same, symmetric half (14, 3, 3, X+2, Y+2, Z+2), applied by the solver

    def sizes(self):
        hx, hy, hz = jnp.diff(self.x), jnp.diff(self.y), jnp.diff(self.z)
        return hx[:, None, None], hy[None, :, None], hz[None, None, :]


# strain component s = (i, j): eps_s = grad[i, j] + grad[j, i] (once for i == j), Voigt order VOIGT
_VOIGT_PAIRS = ((0, 0), (1, 1), (2, 2), (0, 1), (1, 2), (0, 2))
_T = np.zeros((6, 3, 3))
for _s, (_i, _j) in enumerate(_VOIGT_PAIRS):
    _T[_s, _i, _j] = 1.0
    _T[_s, _j, _i] = 1.0
# element function q = (qx, qy, qz), 0: 1, 1: the reference coordinate; mean square (1/3)^(#1)
_WEIGHT = np.array([[[(1.0 / 3.0) ** (a + b + c) for c in (0, 1)] for b in (0, 1)] for a in (0, 1)])


def _strains(u, lev: _Level):
    """Compatible strain coefficients per element function: ``(6, 2, 2, 2, nx, ny, nz)``.

    Axis 1-3 index the element function ``q = (qx, qy, qz)`` (0: factor 1, 1: factor ξ/η/ζ);
    the field is ``Σ_q eps[:, q] ξ^qx η^qy ζ^qz``. ``u`` is a node array ``(3, X, Y, Z)``.
    """
    w = u
    for ax in (1, 2, 3):  # modal coefficients: mean (index 0) and half difference (1) per axis
        k = 1 + 2 * (ax - 1)  # position of this spatial axis after the pattern axes inserted so far
        n = w.shape[k]
        lo = jax.lax.slice_in_dim(w, 0, n - 1, axis=k)
        hi = jax.lax.slice_in_dim(w, 1, n, axis=k)
        w = jnp.stack([0.5 * (lo + hi), 0.5 * (hi - lo)], axis=k)
    # w: (3, 2, nx, 2, ny, 2, nz) -> (3, 2, 2, 2, nx, ny, nz)
    w = jnp.transpose(w, (0, 1, 3, 5, 2, 4, 6))
    hx, hy, hz = lev.sizes()
    zero = jnp.zeros_like(w[:, 0])
    # grad[c, d] on function q exists iff q[d] == 0: (2/h_d) * w[c, q with q[d] -> 1]
    gx = jnp.stack([(2.0 / hx) * w[:, 1], zero[:, :]], axis=1)
    gy = jnp.stack([(2.0 / hy) * w[:, :, 1], zero], axis=2)
    gz = jnp.stack([(2.0 / hz) * w[:, :, :, 1], zero], axis=3)
    grad = jnp.stack([gx, gy, gz], axis=1)  # (c, d, qx, qy, qz, nx, ny, nz)
    return jnp.einsum("scd,cd...->s...", jnp.asarray(_T, u.dtype), grad)


def _stresses(eps, lev: _Level):
    """Weighted stress coefficients ``W_q C_q eps_q`` (same layout as ``eps``) [N/m^2 m^3].

    ``C_q`` is the material stiffness, condensed for the three linear functions when the
    incompatible modes are on (see the module docstring).
    """
    N, G = lev.N, lev.G
    if lev.incompatible:
        for d0 in range(3):
            q = [0, 0, 0]
            q[d0] = 1
            e = eps[(slice(None), *q)]  # (6, nx, ny, nz)
            ndd = jnp.where(N[d0, d0] != 0, N[d0, d0], 1.0)  # void elements (N = 0): no NaN
            en = -(sum(N[d0, j] * e[j] for j in range(3) if j != d0)) / ndd
            rows = [en if s == d0 else e[s] for s in range(3)]
            rows += [jnp.zeros_like(e[s]) if d0 in _VOIGT_PAIRS[s] else e[s] for s in range(3, 6)]
            eps = eps.at[(slice(None), *q)].set(jnp.stack(rows))
    sn = [sum(N[i, j][None, None, None] * eps[j] for j in range(3)) for i in range(3)]
    ss = [G[s][None, None, None] * eps[3 + s] for s in range(3)]
    hx, hy, hz = lev.sizes()
    wgt = jnp.asarray(_WEIGHT, eps.dtype)[..., None, None, None] * (hx * hy * hz)
    return jnp.stack(sn + ss) * wgt


def _strains_T(sig, lev: _Level, node_shape):
    """Transpose of :func:`_strains`: node forces ``(3, X, Y, Z)`` of stress coefficients."""
    zeros = jnp.zeros((3,) + tuple(node_shape), sig.dtype)
    (f,) = jax.linear_transpose(lambda v: _strains(v, lev), zeros)(sig)
    return f


def _apply(lev: _Level, u):
    """``K u`` (unconstrained) [N]."""
    return _strains_T(_stresses(_strains(u, lev), lev), lev, u.shape[1:])


def _energy(u, lev: _Level):
    """Strain energy ``½ uᵀ K u`` of a node displacement ``u`` (3, X, Y, Z) [J]."""
    eps = _strains(u, lev)
    return 0.5 * jnp.sum(eps * _stresses(eps, lev))


def _apply_c(lev: _Level, u):
    """The constrained operator ``m K (m u) + (1 - m) u`` (symmetric positive definite)."""
    if lev.half is not None:
        return _half_apply(lev.half, u)
    if lev.stencil is not None:
        return _stencil_apply(lev.stencil, u)
    m = lev.mask
    return m * _apply(lev, m * u) + (1.0 - m) * u


_OFFSETS = np.array([(a, b, c) for a in (-1, 0, 1) for b in (-1, 0, 1) for c in (-1, 0, 1)])
#: index of the offset (0, 0, 0) and of (0, 0, +1) in _OFFSETS
_CENTRE, _UP = 13, 14


def _stencil_apply(S, u):
    """``A u`` for an operator stored as 3x3 blocks to the 27 neighbours of every node.

    ``S[o, i, j]`` (27, 3, 3, X, Y, Z) holds the blocks ``A[(n, i), (n + _OFFSETS[o], j)]`` at every
    node ``n``; ``u`` is (3, X, Y, Z). 243 shifted multiply-adds per node, which XLA fuses into one
    loop over the nodes (an einsum over a stacked copy was 10x slower on the CPU).
    """
    X, Y, Z = u.shape[1:]
    up = jnp.pad(u, ((0, 0), (1, 1), (1, 1), (1, 1)))
    y = [0.0, 0.0, 0.0]
    for o, (a, b, c) in enumerate(_OFFSETS):
        sh = up[:, 1 + a:1 + a + X, 1 + b:1 + b + Y, 1 + c:1 + c + Z]
        for i in range(3):
            y[i] = y[i] + S[o, i, 0] * sh[0] + S[o, i, 1] * sh[1] + S[o, i, 2] * sh[2]
    return jnp.stack(y)


def _half_stencil(S):
    """The symmetric half of a 27-block stencil: the centre and the 13 offsets after it, zero-padded.

    ``A[(n, i), (n - o, j)] = A[(n - o, j), (n, i)] = S[o](n - o)[j, i]``, so the 13 blocks
    before the centre are the transposes of those after it, read one node back; the padding
    gives the zero blocks beyond the grid. Half the memory traffic per application, and the
    applied operator is exactly symmetric.
    """
    return jnp.pad(S[_CENTRE:], ((0, 0), (0, 0), (0, 0), (1, 1), (1, 1), (1, 1)))


def _half_apply(H, u):
    """``A u`` for the symmetric half-stencil ``H`` of :func:`_half_stencil`; ``u`` is (3, X, Y, Z)."""
    X, Y, Z = u.shape[1:]
    up = jnp.pad(u, ((0, 0), (1, 1), (1, 1), (1, 1)))
    y = [0.0, 0.0, 0.0]
    for k, (a, b, c) in enumerate(_OFFSETS[_CENTRE:]):
        Hk = H[k, :, :, 1:1 + X, 1:1 + Y, 1:1 + Z]
        sh = up[:, 1 + a:1 + a + X, 1 + b:1 + b + Y, 1 + c:1 + c + Z]
        for i in range(3):
            y[i] = y[i] + Hk[i, 0] * sh[0] + Hk[i, 1] * sh[1] + Hk[i, 2] * sh[2]
        if k:
            Hm = H[k, :, :, 1 - a:1 - a + X, 1 - b:1 - b + Y, 1 - c:1 - c + Z]
            sm = up[:, 1 - a:1 - a + X, 1 - b:1 - b + Y, 1 - c:1 - c + Z]
            for i in range(3):
                y[i] = y[i] + Hm[0, i] * sm[0] + Hm[1, i] * sm[1] + Hm[2, i] * sm[2]
    return jnp.stack(y)


def _unit_strains() -> np.ndarray:
    """``B[r, s, qx, qy, qz, d]``: strain ``s`` on element function ``q`` of the unit displacement ``r``.

    ``r = 8 j + 4 a + 2 b + c`` is component ``j`` of the element's local node ``(a, b, c)``; the
    strain is ``Σ_d B[r, ..., d] 2 / h_d`` (the compatible strains of :func:`_strains`, per element).
    """
    m = lambda a, q: 0.5 if q == 0 else 0.5 * (2 * a - 1)  # noqa: E731 - modal coefficient of a node value
    B = np.zeros((24, 6, 2, 2, 2, 3))
    for j in range(3):
        for a in (0, 1):
            for b in (0, 1):
                for c in (0, 1):
                    r, node = 8 * j + 4 * a + 2 * b + c, (a, b, c)
                    for q in np.ndindex(2, 2, 2):
                        for d in range(3):
                            if q[d]:
                                continue
                            v = m(node[d], 1) * np.prod([m(node[e], q[e]) for e in range(3) if e != d])
                            B[r, :, q[0], q[1], q[2], d] = _T[:, j, d] * v
    return B


_B = _unit_strains()


def _element_stencil(lev: _Level):
    """The (unconstrained) operator ``K`` of ``lev``'s elements as a 27-block node stencil (27, 3, 3, X, Y, Z).

    Element matrices are formed column by column (24 unit displacements of the local nodes, the
    energy ``Σ_q ε_r · W_q C_q ε_c`` of :func:`_stresses`, incompatible modes condensed as in
    :func:`_apply`) and added into the blocks of the node pairs they couple. One pass over the
    elements: the cost of ~24 element-operator applications, done once per solve; afterwards
    every application of ``K`` is :func:`_stencil_apply`.
    """
    dt = lev.N.dtype
    hx, hy, hz = lev.sizes()
    g = (2.0 / hx, 2.0 / hy, 2.0 / hz)
    nx, ny, nz = lev.N.shape[2:]
    B = jnp.asarray(_B, dt)
    rows = [(a, b, c) for a in (0, 1) for b in (0, 1) for c in (0, 1)]

    def column(S, r):
        Br = jax.lax.dynamic_index_in_dim(B, r, 0, keepdims=False)  # (6, 2, 2, 2, 3)
        eps = sum(Br[..., d][..., None, None, None] * g[d] for d in range(3))  # (6, 2, 2, 2, nx, ny, nz)
        sig = _stresses(eps, lev)
        K = sum(jnp.einsum("rsabc,sabc...->r...", B[..., d], sig * g[d]) for d in range(3))  # (24, nx, ny, nz)
        K = K.reshape((3, 8) + K.shape[1:])
        j, a2, b2, c2 = r // 8, (r // 4) % 2, (r // 2) % 2, r % 2
        for n, (a, b, c) in enumerate(rows):
            o = (a2 - a + 1) * 9 + (b2 - b + 1) * 3 + (c2 - c + 1)
            start = (o, 0, j, a, b, c)
            size = (1, 3, 1, nx, ny, nz)
            cur = jax.lax.dynamic_slice(S, start, size)
            S = jax.lax.dynamic_update_slice(S, cur + K[:, n][None, :, None], start)
        return S, None

    S0 = jnp.zeros((27, 3, 3, nx + 1, ny + 1, nz + 1), dt)
    S, _ = jax.lax.scan(column, S0, jnp.arange(24))
    return S


def _scale_stencil(S, d):
    """The stencil of ``D K D`` from that of ``K``, ``D`` diagonal with the nodal DOF values ``d``
    (shape ``(3, X, Y, Z)``): each block row scaled by ``d`` at its node, each column at the neighbour's."""
    X, Y, Z = d.shape[1:]
    dp = jnp.pad(d, ((0, 0), (1, 1), (1, 1), (1, 1)))
    return jnp.stack([d[:, None] * S[o] * dp[:, 1 + a:1 + a + X, 1 + b:1 + b + Y, 1 + c:1 + c + Z][None, :]
                      for o, (a, b, c) in enumerate(_OFFSETS)])


def _constrain_stencil(S, mask):
    """The stencil of ``m K m + (1 - m)`` (held DOFs decoupled, unit diagonal) from that of ``K``."""
    S = _scale_stencil(S, mask)
    return S.at[_CENTRE].add(jnp.eye(3, dtype=S.dtype)[:, :, None, None, None] * (1.0 - mask)[:, None])


def _thermal_load(lev: _Level, alpha_dT):
    """``b = ∫ Bᵀ C ε_th`` (node forces of the free thermal strain) [N]."""
    hx, hy, hz = lev.sizes()
    vol = hx * hy * hz
    sn = [vol * sum(lev.N[i, j] * alpha_dT[j] for j in range(3)) for i in range(3)]
    sig = jnp.zeros((6, 2, 2, 2) + alpha_dT.shape[1:], lev.N.dtype)
    sig = sig.at[:3, 0, 0, 0].set(jnp.stack(sn))
    return _strains_T(sig, lev, (lev.x.shape[0], lev.y.shape[0], lev.z.shape[0]))


# ======================================================================================
# multigrid (lateral semi-coarsening, z-column block smoother)
def _coarse_nodes(n_nodes: int) -> np.ndarray:
    idx = np.arange(0, n_nodes, 2)
    if idx[-1] != n_nodes - 1:
        idx = np.append(idx, n_nodes - 1)
    return idx


def _interp_1d(xf, idx):
    """Linear interpolation matrix (fine nodes x coarse nodes) for coarse nodes ``xf[idx]``."""
    nf, nc = xf.shape[0], len(idx)
    lo = np.clip(np.searchsorted(idx, np.arange(nf), side="right") - 1, 0, nc - 2)
    x0, x1 = xf[idx[lo]], xf[idx[lo + 1]]
    t = (xf - x0) / (x1 - x0)
    rows = np.arange(nf)
    return jnp.zeros((nf, nc), xf.dtype).at[rows, lo].set(1.0 - t).at[rows, lo + 1].add(t)


def _coarsen(lev: _Level):
    """The next level: x and y nodes ``0, 2, 4, ...`` (and the last), z unchanged; P (x) and (y)."""
    ix = _coarse_nodes(lev.x.shape[0])
    iy = _coarse_nodes(lev.y.shape[0])
    hx, hy, hz = lev.sizes()
    w = hx * hy  # (nx, ny, 1) lateral areas: volume weights (hz common)
    ex = np.arange(lev.x.shape[0] - 1) // 2
    ey = np.arange(lev.y.shape[0] - 1) // 2
    ncx, ncy = len(ix) - 1, len(iy) - 1

    def avg(a):  # (..., nx, ny, nz) -> (..., ncx, ncy, nz), area-weighted mean
        s = jnp.zeros(a.shape[:-3] + (ncx, a.shape[-2], a.shape[-1]), a.dtype).at[..., ex, :, :].add(a * w)
        s = jnp.zeros(a.shape[:-3] + (ncx, ncy, a.shape[-1]), a.dtype).at[..., :, ey, :].add(s)
        ww = jnp.zeros((ncx, w.shape[1], 1), a.dtype).at[ex].add(w)
        ww = jnp.zeros((ncx, ncy, 1), a.dtype).at[:, ey].add(ww)
        return s / ww

    # a coarse DOF is held if the fine DOF at it or next to it laterally is held by a support
    # (keeps the coarse problem non-singular whatever the fine support pattern); nodes that touch
    # only void elements are held too, but are not spread to their neighbours: void is found
    # again on the coarse level from the coarse elements' stiffness
    solid_f = (lev.G[0] > 0).astype(lev.mask.dtype)
    body_f = _node_body(solid_f)
    held = (1.0 - lev.mask) * body_f[None]
    pad = jnp.pad(held, ((0, 0), (1, 1), (1, 1), (0, 0)))
    X, Y = held.shape[1], held.shape[2]
    near = sum(pad[:, 1 + a: 1 + a + X, 1 + b: 1 + b + Y] for a in (-1, 0, 1) for b in (-1, 0, 1))
    mask_c = jnp.where(near[:, ix][:, :, iy] > 0, 0.0, 1.0).astype(lev.mask.dtype)
    Gc = avg(lev.G)
    mask_c = mask_c * _node_body((Gc[0] > 0).astype(lev.mask.dtype))[None]
    # the coarse levels are plain Q1 (see _prolong): with linear prolongation the coarse space is
    # nested in the fine Q1 space, so the rediscretised coarse operator is close to the Galerkin one
    coarse = _Level(lev.x[ix], lev.y[iy], lev.z, avg(lev.N), Gc, mask_c, incompatible=False)
    return coarse, _Transfer(*_transfer_1d(lev.x, ix), *_transfer_1d(lev.y, iy), _node_average(lev.z.shape[0]))


def _node_body(solid):
    """1 at nodes that touch an element with ``solid > 0``, else 0: (nx, ny, nz) -> (X, Y, Z)."""
    pad = jnp.pad(solid, 1)
    X, Y, Z = (n + 1 for n in solid.shape)
    s = sum(pad[a:a + X, b:b + Y, c:c + Z] for a in (0, 1) for b in (0, 1) for c in (0, 1))
    return (s > 0).astype(solid.dtype)


def _transfer_1d(xf, idx):
    """1-D pieces of the prolongation along a coarsened axis.

    Returns the linear interpolation ``P`` (fine nodes x coarse nodes), the element-of-node
    matrix ``E`` (fine node -> the coarse element it lies in), the node average ``A`` (fine node
    -> mean of the coarse elements touching it) and the bubble ``b = 1 - s^2`` of every fine node
    in its coarse element (0 at coarse nodes).
    """
    nf, nc = xf.shape[0], len(idx)
    lo = np.clip(np.searchsorted(idx, np.arange(nf), side="right") - 1, 0, nc - 2)
    x0, x1 = xf[idx[lo]], xf[idx[lo + 1]]
    t = (xf - x0) / (x1 - x0)
    rows = np.arange(nf)
    P = jnp.zeros((nf, nc), xf.dtype).at[rows, lo].set(1.0 - t).at[rows, lo + 1].add(t)
    E = np.zeros((nf, nc - 1))
    E[rows, lo] = 1.0
    A = np.zeros((nf, nc - 1))
    for i in range(nf):
        if i in set(idx.tolist()):
            c = int(np.searchsorted(idx, i))
            touching = [e for e in (c - 1, c) if 0 <= e < nc - 1]
            A[i, touching] = 1.0 / len(touching)
        else:
            A[i, lo[i]] = 1.0
    s = 2.0 * t - 1.0
    return P, jnp.asarray(E, xf.dtype), jnp.asarray(A, xf.dtype), 1.0 - s * s


def _node_average(n_nodes: int):
    """(nodes x elements) mean of the elements touching each node along an axis."""
    A = np.zeros((n_nodes, n_nodes - 1))
    for k in range(n_nodes):
        touching = [e for e in (k - 1, k) if 0 <= e < n_nodes - 1]
        A[k, touching] = 1.0 / len(touching)
    return jnp.asarray(A)


@jax.tree_util.register_dataclass
@dataclass(frozen=True)
class _Transfer:
    """Prolongation data between a level and the next coarser one (see :func:`_prolong`)."""

    px: jax.Array
    ex: jax.Array
    ax: jax.Array
    bx: jax.Array
    py: jax.Array
    ey: jax.Array
    ay: jax.Array
    by: jax.Array
    az: jax.Array


def _prolong(t: _Transfer, coarse: _Level, fine_mask, uc):
    """Coarse -> fine displacement: lateral linear interpolation (z is not coarsened).

    The coarse levels are plain trilinear elements, so the interpolated field lies in the fine
    space and the coarse operator approximates the Galerkin one ``Pᵀ A P``. An earlier version
    added the coarse elements' condensed incompatible modes (bubbles) and solved incompatible-mode
    coarse problems: on the shipped packages that coarse operator differed from ``Pᵀ A P`` enough
    that CG did not converge in 500 iterations (benchmarks/RESULTS.md, issue 15).
    """
    u = jnp.einsum("ia,jb,cabk->cijk", t.px, t.py, uc)
    return fine_mask * u


def _column_blocks(lev: _Level):
    """Diagonal and upper z-blocks of the constrained operator within every z-column.

    Probed with 36 operator applications: unit vectors on the nodes of one colour
    ``(i mod 2, j mod 2, k mod 3)`` and one component, which touch every node's own column at
    exactly one of ``k-1, k, k+1``. Returns ``D`` (X, Y, Z, 3, 3) and ``U`` (X, Y, Z-1, 3, 3),
    ``U[k] = A[(k), (k+1)]``.
    """
    X, Y, Z = lev.x.shape[0], lev.y.shape[0], lev.z.shape[0]
    dt = lev.N.dtype
    if lev.stencil is not None:
        blk = lambda o: jnp.moveaxis(lev.stencil[o], (0, 1), (-2, -1))  # noqa: E731 - (X, Y, Z, 3, 3)
        return blk(_CENTRE), blk(_UP)[:, :, :-1]
    i = np.arange(X)[:, None, None]
    j = np.arange(Y)[None, :, None]
    k = np.arange(Z)[None, None, :]
    probes = [(a, b, r, c) for a in range(2) for b in range(2) for r in range(3) for c in range(3)]
    P = np.array(probes)

    def one(carry, p):
        D, U = carry
        a, b, r, c = p[0], p[1], p[2], p[3]
        col = (i % 2 == a) & (j % 2 == b)
        v = jnp.where(col & (k % 3 == r), 1.0, 0.0).astype(dt)
        v = jnp.zeros((3, X, Y, Z), dt).at[c].set(v)
        y = jnp.moveaxis(_apply_c(lev, v), 0, -1)  # (X, Y, Z, 3): row component last
        sel_d = (col & (k % 3 == r))[..., None]
        onehot = (jnp.arange(3) == c).astype(dt)  # column c'
        D = D + jnp.where(sel_d, y, 0.0)[..., :, None] * onehot
        sel_u = (col & ((k[..., :-1] + 1) % 3 == r))[..., None]
        U = U + jnp.where(sel_u, y[:, :, :-1], 0.0)[..., :, None] * onehot
        return (D, U), None

    D0 = jnp.zeros((X, Y, Z, 3, 3), dt)
    U0 = jnp.zeros((X, Y, Z - 1, 3, 3), dt)
    (D, U), _ = jax.lax.scan(one, (D0, U0), jnp.asarray(P))
    return D, U


def _factor_columns(D, U):
    """Block LU of the block-tridiagonal column matrices: inverses of the pivots (Z, X, Y, 3, 3)."""
    Dz = jnp.moveaxis(D, 2, 0)
    Uz = jnp.moveaxis(U, 2, 0)

    def step(pinv_prev, du):
        d, u_prev = du
        piv = d - jnp.einsum("xyji,xyjk,xykl->xyil", u_prev, pinv_prev, u_prev)
        pinv = jnp.linalg.inv(piv)
        return pinv, pinv

    p0 = jnp.linalg.inv(Dz[0])
    _, rest = jax.lax.scan(step, p0, (Dz[1:], Uz))
    return jnp.concatenate([p0[None], rest]), Uz


def _column_solve(pinv, Uz, r):
    """Solve the column systems for ``r`` (3, X, Y, Z) -> (3, X, Y, Z)."""
    rz = jnp.moveaxis(r, (0, 3), (3, 0))  # (Z, X, Y, 3)

    def fwd(y_prev, a):
        rk, pinv_prev, u_prev = a
        yk = rk - jnp.einsum("xyji,xyjk,xyk->xyi", u_prev, pinv_prev, y_prev)
        return yk, yk

    y0 = rz[0]
    _, ys = jax.lax.scan(fwd, y0, (rz[1:], pinv[:-1], Uz))
    y = jnp.concatenate([y0[None], ys])

    def bwd(x_next, a):
        yk, pk, uk = a
        xk = jnp.einsum("xyij,xyj->xyi", pk, yk - jnp.einsum("xyij,xyj->xyi", uk, x_next))
        return xk, xk

    xN = jnp.einsum("xyij,xyj->xyi", pinv[-1], y[-1])
    _, xs = jax.lax.scan(bwd, xN, (y[:-1], pinv[:-1], Uz), reverse=True)
    x = jnp.concatenate([xs, xN[None]])
    return jnp.moveaxis(x, (0, 3), (3, 0))


def _mv3(M, v):
    """``M v`` for 3x3 blocks ``M`` (..., 3, 3) and vectors ``v`` (..., 3), elementwise (one fused loop)."""
    return jnp.stack([M[..., i, 0] * v[..., 0] + M[..., i, 1] * v[..., 1] + M[..., i, 2] * v[..., 2]
                      for i in range(3)], axis=-1)


def _column_factors(D, U):
    """Block LU of the 3x3-block column matrices, ready for :func:`_column_solve3`.

    Returns the pivot inverses ``P`` (Z, X, Y, 3, 3) and, per step, ``L_k = U_kᵀ P_k`` (forward)
    and ``W_k = P_k U_k`` (backward), (Z-1, X, Y, 3, 3): each sweep step is then one elementwise
    3x3 product per column (the einsum form cost 2-3x more on the CPU, in float32 most).
    """
    pinv, Uz = _factor_columns(D, U)
    L = jnp.einsum("zxyji,zxyjk->zxyik", Uz, pinv[:-1])
    W = jnp.einsum("zxyij,zxyjk->zxyik", pinv[:-1], Uz)
    return pinv, (L, W)


def _column_solve3(pinv, LW, r):
    """Solve the 3x3-block column systems of :func:`_column_factors` for ``r`` (3, X, Y, Z)."""
    L, W = LW
    rz = jnp.moveaxis(r, (0, 3), (3, 0))  # (Z, X, Y, 3)

    def fwd(y_prev, a):
        yk = a[0] - _mv3(a[1], y_prev)
        return yk, yk

    _, ys = jax.lax.scan(fwd, rz[0], (rz[1:], L))
    y = jnp.concatenate([rz[0][None], ys])

    def bwd(x_next, a):
        yk, pk, wk = a
        xk = _mv3(pk, yk) - _mv3(wk, x_next)
        return xk, xk

    xN = _mv3(pinv[-1], y[-1])
    _, xs = jax.lax.scan(bwd, xN, (y[:-1], pinv[:-1], W), reverse=True)
    x = jnp.concatenate([xs, xN[None]])
    return jnp.moveaxis(x, (0, 3), (3, 0))


@jax.tree_util.register_dataclass
@dataclass(frozen=True)
class _Hierarchy:
    levels: tuple          # _Level per level, finest first
    pinv: tuple            # column pivots per smoothed level
    upper: tuple           # column sweep blocks (L, W) per smoothed level (:func:`_column_factors`)
    transfer: tuple        # _Transfer to each level from the next coarser one
    lmax: tuple            # largest eigenvalue estimate of S^-1 A per smoothed level
    coarse: tuple           # block LU (pivot inverses, upper blocks) of the coarsest level over its z-planes
    mod: Any = None         # hierarchy of the finest level's sign-modulated coarse problem (:func:`_modulate`)
    degree: int = field(default=3, metadata=dict(static=True))
    ratio: float = field(default=10.0, metadata=dict(static=True))


def _lmax(lev: _Level, pinv, upper, iterations: int = 12):
    """Power-iteration estimate of the largest eigenvalue of ``S^-1 A`` (S: column blocks)."""
    shape = (3, lev.x.shape[0], lev.y.shape[0], lev.z.shape[0])
    # a fixed, rough start vector (no random-number program to compile): every mode present
    v0 = lev.mask * jnp.cos(1.0 + 0.7548776662 * jnp.arange(int(np.prod(shape)), dtype=lev.N.dtype) ** 1.5
                            ).reshape(shape)

    def body(_, v):
        w = _column_solve3(pinv, upper, _apply_c(lev, v))
        return w / jnp.sqrt(jnp.sum(w * w))

    v = jax.lax.fori_loop(0, iterations, body, v0 / jnp.sqrt(jnp.sum(v0 * v0)))
    Av = _apply_c(lev, v)
    # Rayleigh quotient of S^-1 A in the A inner product: (Av)^T S^-1 (Av) / v^T A v
    return jnp.sum(_column_solve3(pinv, upper, Av) * Av) / jnp.sum(v * Av)


def _galerkin_axis(S, P, idx, axis: int):
    """``Pᵀ A P`` along one lateral axis for an operator ``A`` stored as a 27-block stencil.

    ``S`` is (27, 3, 3, X, Y, Z); ``P`` (fine x coarse nodes along ``axis``) interpolates linearly
    from the coarse nodes ``idx`` (every other fine node and the last). Every fine node lies next
    to at most one coarse node on each side, so the product keeps a 3-point stencil along the axis
    and is a sum of 27 gathered terms: for each offset ``oc`` of a coarse pair ``(I, I + oc)`` and
    each pair of fine nodes ``idx[I] + k``, ``idx[I + oc] + k2`` next to them, the fine block
    between those two (fine offset ``d``), weighted by their two interpolation weights. The index
    pattern is fixed by the grid (numpy); the weights are traced (differentiable coordinates).
    """
    nf, nc = P.shape
    T = S.reshape((3, 3, 3, 3, 3) + S.shape[3:])
    T = jnp.moveaxis(T, (axis, 5 + axis), (0, 1))  # (3 offsets, nf, ...rest)
    rest = T.shape[2:]
    I = np.arange(nc)
    terms = []  # (oc, d, fine i, fine i2, valid) per coarse node
    for oc in (-1, 0, 1):
        J = I + oc
        Jc = np.clip(J, 0, nc - 1)
        for k in (-1, 0, 1):
            for k2 in (-1, 0, 1):
                i, i2 = idx + k, idx[Jc] + k2
                ok = (J >= 0) & (J < nc) & (i >= 0) & (i < nf) & (i2 >= 0) & (i2 < nf) & (np.abs(i2 - i) <= 1)
                if ok.any():
                    terms.append((oc + 1, np.clip(i2 - i, -1, 1) + 1, np.clip(i, 0, nf - 1), np.clip(i2, 0, nf - 1),
                                  Jc, ok))
    oc_t, d_t, i_t, i2_t, J_t, ok_t = (np.stack(a) for a in zip(*terms))
    # interpolation weights of every term (n_terms, nc)
    w = jnp.where(jnp.asarray(ok_t), P[i_t, I[None, :]] * P[i2_t, J_t], 0.0)
    onehot = jnp.asarray(np.eye(3)[oc_t], S.dtype)  # (n_terms, 3): which coarse offset a term adds to

    def add(acc, t):
        wt, d, i, sel = t
        g = T[d, i] * wt.reshape((nc,) + (1,) * len(rest))  # (nc, ...rest)
        return acc + sel.reshape((3,) + (1,) * (1 + len(rest))) * g[None], None

    acc, _ = jax.lax.scan(add, jnp.zeros((3, nc) + rest, S.dtype),
                          (w, jnp.asarray(d_t), jnp.asarray(i_t), onehot))
    T = jnp.moveaxis(acc, (0, 1), (axis, 5 + axis))
    return T.reshape((27, 3, 3) + T.shape[5:])


def _galerkin(fine: _Level, coarse: _Level, tr: "_Transfer", ix, iy):
    """The constrained coarse stencil ``Mc Pᵀ (Mf K Mf) P Mc + (1 - Mc)`` from the fine stencil."""
    m = fine.mask
    S = fine.stencil.at[_CENTRE].add(-jnp.eye(3, dtype=m.dtype)[:, :, None, None, None] * (1.0 - m)[:, None])
    S = _galerkin_axis(S, tr.px, ix, 0)
    S = _galerkin_axis(S, tr.py, iy, 1)
    return _constrain_stencil(S, coarse.mask)


def _node_signs(shape):
    """``D`` as (3, X, Y, 1) for nodes of ``shape`` (3, X, Y, Z): ``(-1)^i`` on u_x, ``(-1)^j`` on u_y, 1 on u_z."""
    X, Y = shape[1], shape[2]
    sx = np.broadcast_to((1.0 - 2.0 * (np.arange(X) % 2))[:, None, None], (X, Y, 1))
    sy = np.broadcast_to((1.0 - 2.0 * (np.arange(Y) % 2))[None, :, None], (X, Y, 1))
    return jnp.asarray(np.stack([sx, sy, np.ones((X, Y, 1))]))


def _modulate(S, mask):
    """The 27-block stencil of ``D A D``, ``D = diag(`` :func:`_node_signs` ``)``, from that of ``A``.

    Why (issue 15, vcache_3d; benchmarks/RESULTS.md): the incompatible modes free the shear that a
    bilinear pattern ``u_y ~ η ζ`` (``u_x ~ ξ ζ``) carries in an element, so in layers much thinner
    than the cells are wide (2.5-5 µm bond and device layers under 2-5 mm cells) ``u_y`` alternating
    node by node along y (``u_x`` along x), with a sign that alternates from one thin layer to the
    next, costs only the layers' own bending energy. These soft modes sit at the highest lateral
    frequency: the z-column smoother cannot reach them (a column moved alone shears its thin layers)
    and linear interpolation cannot represent them. With the signs ``D`` they are smooth, so ``D P``
    (P: the same linear interpolation) spans them and ``Pᵀ (D A D) P`` is an ordinary coarse problem.
    On the plain trilinear element (``q1``) these modes are stiff (vcache_3d 8 mm: 37 iterations
    against 279 with incompatible modes and no modulated space).
    """
    return _scale_stencil(S, jnp.broadcast_to(_node_signs(mask.shape).astype(S.dtype), mask.shape))


def _plane_blocks(lev: _Level):
    """The coarsest operator as a block-tridiagonal matrix over its z-planes of ``3 X Y`` DOFs.

    Scattered from the level's 27-block stencil: the blocks of the nine in-plane offsets give the
    diagonal blocks, those of the nine offsets to the plane above the upper ones. Returns ``D``
    (1, 1, Z, n, n) and ``U`` (1, 1, Z-1, n, n) in the layout of :func:`_factor_columns`, DOFs of a
    plane ordered ``(component, x, y)``. (An earlier version probed the stencil with ``9 X Y`` unit
    vectors, a large constant that XLA folded slowly once the coarsest level grew.)
    """
    S = lev.stencil
    X, Y, Z = lev.x.shape[0], lev.y.shape[0], lev.z.shape[0]
    n = 3 * X * Y
    xi, yi = np.meshgrid(np.arange(X), np.arange(Y), indexing="ij")
    comp = np.arange(3)
    out = []
    for c in (0, 1):  # z offset of the neighbour: 0 -> D, 1 -> U
        vals, rows, cols = [], [], []
        for a in (-1, 0, 1):
            for b in (-1, 0, 1):
                ok = (xi + a >= 0) & (xi + a < X) & (yi + b >= 0) & (yi + b < Y)
                x0, y0 = xi[ok], yi[ok]
                o = (a + 1) * 9 + (b + 1) * 3 + (c + 1)
                r = comp[:, None, None] * X * Y + (x0 * Y + y0)[None, None, :]               # (3, 1, m): row DOFs
                k = comp[None, :, None] * X * Y + ((x0 + a) * Y + y0 + b)[None, None, :]     # (1, 3, m): column DOFs
                r, k = np.broadcast_arrays(r, k)
                rows.append(r.ravel())
                cols.append(k.ravel())
                vals.append(S[o][:, :, x0, y0, :].reshape(9 * len(x0), Z))  # A[(n, i), (n + o, j)] per plane
        M = jnp.zeros((Z, n, n), S.dtype).at[:, np.concatenate(rows), np.concatenate(cols)].add(
            jnp.concatenate(vals).T)
        out.append(M if c == 0 else M[:-1])
    return out[0][None, None], out[1][None, None]


def _setup(fine: _Level, *, plane_nodes: int = 130, degree: int = 3, ratio: float = 10.0,
           modulated: bool = True) -> _Hierarchy:
    """The multigrid hierarchy: lateral semi-coarsening until a z-plane has at most ``plane_nodes`` nodes.

    The coarsest level is solved exactly over its z-planes (dense ``3 X Y`` blocks: ~390 DOFs per
    plane at 130 nodes, negligible next to one fine-level sweep). It was 30 nodes (e.g. 4 x 4 or 5 x 6)
    until the h100_cowos_s iteration counts grew with refinement (issue 15, benchmarks/RESULTS.md
    "coarsest level"): the deeper Galerkin levels over cells much wider than the package is thick
    represent the plate modes of the package poorly, and each extra level cost iterations (2 mm:
    130 with 5 levels, 78 with 3); stopping at ~10 x 10 nodes keeps the count flat and cuts the
    number of levels, so the compiled program is smaller as well.

    ``modulated``: the finest level also gets the sign-modulated coarse space of :func:`_modulate`
    (its Galerkin problem ``Pᵀ D A D P`` on the first coarse grid, with a hierarchy of its own),
    added to the linear coarse correction in :func:`_vcycle`; in a float32 cycle that hierarchy's
    coarsest level stays float64 (:func:`_single`).
    """
    levels, px = [fine], []
    lev = fine
    while lev.x.shape[0] * lev.y.shape[0] > plane_nodes and (lev.x.shape[0] > 3 or lev.y.shape[0] > 3):
        f = lev
        ix, iy = _coarse_nodes(f.x.shape[0]), _coarse_nodes(f.y.shape[0])
        lev, tr = _coarsen(f)
        # Galerkin coarse operator Pᵀ A P (as a 27-block stencil): the coarse space's energy seen by
        # the fine operator, so the coarse correction neither over- nor undershoots
        lev = dataclasses.replace(lev, stencil=_galerkin(f, lev, tr, ix, iy))
        levels.append(lev)
        px.append(tr)
    mod = None
    if modulated and len(levels) > 1:
        f = dataclasses.replace(fine, stencil=_modulate(fine.stencil, fine.mask))
        cm, tr = _coarsen(f)
        cm = dataclasses.replace(cm, stencil=_galerkin(f, cm, tr, _coarse_nodes(f.x.shape[0]),
                                                       _coarse_nodes(f.y.shape[0])))
        mod = _setup(cm, plane_nodes=plane_nodes, degree=degree, ratio=ratio, modulated=False)
    pinv, upper, lmax = [], [], []
    for lv in levels[:-1]:
        p, u = _column_factors(*_column_blocks(lv))
        pinv.append(p)
        upper.append(u)
        lmax.append(_lmax(lv, p, u))
    # the coarsest level (a few nodes across, every z-plane): exact block-tridiagonal solve over the planes
    coarse = _factor_columns(*_plane_blocks(levels[-1]))
    # the cycle applies each level's operator by its symmetric half
    levels = [dataclasses.replace(lv, stencil=None, half=_half_stencil(lv.stencil)) for lv in levels]
    return _Hierarchy(tuple(levels), tuple(pinv), tuple(upper), tuple(px), tuple(lmax), coarse, mod,
                      degree, ratio)


def _single(h: _Hierarchy) -> _Hierarchy:
    """The hierarchy for a float32 V-cycle: every float array rounded, except the modulated coarse
    problem's coarsest-level factors.

    Those stay float64: the modulated Galerkin operator holds both the soft modes and, sign-flipped,
    the stiffest ones, and its exact solve in float32 could cost iterations instead of saving them (a
    2.5 µm Si/Cu pair on 200 µm organic, 20 x 20 cells: 155 iterations in float32 against 112 without
    the modulated space, 78 with it in float64). Its smoothed levels in float64 cost more than they
    saved (b200_cowos_l 4 mm: fastest solve 10.3 s against 6.3 s in float32, 6.7 s without the space).
    """
    f32 = lambda a: a.astype(jnp.float32) if jnp.issubdtype(a.dtype, jnp.floating) else a  # noqa: E731
    out = jax.tree_util.tree_map(f32, h)
    if h.mod is not None:
        out = dataclasses.replace(out, mod=dataclasses.replace(out.mod, coarse=h.mod.coarse))
    return out


def _chebyshev(h: _Hierarchy, l: int, r, x=None):
    """``degree`` steps of Chebyshev iteration on ``S^-1 A`` over ``[lmax/ratio, 1.1 lmax]``.

    A fixed polynomial in ``S^-1 A``: the same before and after the coarse correction keeps
    the V-cycle symmetric. The steps after the first are a loop (one operator application and
    one column solve in the compiled program, whatever the degree).
    """
    lev = h.levels[l]
    S = lambda res: _column_solve3(h.pinv[l], h.upper[l], res)  # noqa: E731
    beta = 1.1 * h.lmax[l]
    alpha = beta / h.ratio
    theta, delta = 0.5 * (beta + alpha), 0.5 * (beta - alpha)
    sigma = theta / delta
    res = r if x is None else r - _apply_c(lev, x)
    d = S(res) / theta
    x = d if x is None else x + d

    def step(_, c):
        x, d, res, rho = c
        res = res - _apply_c(lev, d)
        rho_new = 1.0 / (2.0 * sigma - rho)
        d = rho_new * rho * d + (2.0 * rho_new / delta) * S(res)
        return x + d, d, res, rho_new

    x, *_ = jax.lax.fori_loop(0, h.degree - 1, step, (x, d, res, 1.0 / sigma))
    return x


def _vcycle(h: _Hierarchy, r, l: int = 0):
    lev = h.levels[l]
    if l == len(h.levels) - 1:
        n, Z = r.shape[0] * r.shape[1] * r.shape[2], r.shape[3]
        y = _column_solve(*h.coarse, r.reshape(n, 1, 1, Z).astype(h.coarse[0].dtype))
        return y.reshape(r.shape).astype(r.dtype)
    x = _chebyshev(h, l, r)
    res = r - _apply_c(lev, x)
    coarse = h.levels[l + 1]
    cshape = (3, coarse.x.shape[0], coarse.y.shape[0], coarse.z.shape[0])
    prolong = lambda v: _prolong(h.transfer[l], coarse, lev.mask, v)  # noqa: E731
    (rc,) = jax.linear_transpose(prolong, jnp.zeros(cshape, r.dtype))(res)
    xc = _vcycle(h, coarse.mask * rc, l + 1)
    dx = prolong(coarse.mask * xc)
    if l == 0 and h.mod is not None:
        # the sign-modulated coarse space D P, from the same residual: the two corrections are added,
        # so the V-cycle stays symmetric (the spaces are nearly A-orthogonal: smooth against
        # alternating node by node)
        sg = _node_signs(lev.mask.shape).astype(r.dtype)
        (rm,) = jax.linear_transpose(prolong, jnp.zeros(cshape, r.dtype))(sg * res)
        dx = dx + sg * prolong(coarse.mask * _vcycle(h.mod, coarse.mask * rm))
    x = x + dx
    return _chebyshev(h, l, r, x)


# ======================================================================================
# results
@jax.tree_util.register_dataclass
@dataclass(frozen=True)
class ElasticSolution:
    """Result of :func:`solve_thermoelastic` (a pytree; a batched solve adds a leading axis).

    Attributes
    ----------
    displacement : array
        Node displacements ``(nx+1, ny+1, nz+1, 3)`` [m].
    iterations : int array
        CG iterations.
    relative_residual : array
        True relative residual ``||b - A u|| / ||b||`` of the constrained system.
    converged : bool array
        Whether ``relative_residual <= rtol`` was reached.
    x, y, z : array
        The node coordinates the solve used [m].
    fields : ElasticFields
        The fields the solve used.
    incompatible : bool
        Element formulation (True: incompatible modes, False: plain Q1).
    """

    displacement: Any
    iterations: Any
    relative_residual: Any
    converged: Any
    x: Any
    y: Any
    z: Any
    fields: ElasticFields
    incompatible: bool = field(default=True, metadata=dict(static=True))

    def _xp(self):
        return np if isinstance(self.displacement, np.ndarray) else jnp

    def _one(self, fn, name: str):
        xp = self._xp()
        u = jnp.moveaxis(jnp.asarray(self.displacement), -1, -4)
        if u.ndim == 5:  # batched
            out = jax.vmap(fn)(u, jnp.asarray(self.x), jnp.asarray(self.y), jnp.asarray(self.z), self.fields)
        elif xp is np:  # concrete: one compiled program per grid (kept in the program cache), not ~100 eager ops
            fields = jax.tree_util.tree_map(jnp.asarray, self.fields)
            out = jitted(f"elastic_{name}", fn, ())(u, jnp.asarray(self.x), jnp.asarray(self.y), jnp.asarray(self.z),
                                                  fields)
        else:
            out = fn(u, jnp.asarray(self.x), jnp.asarray(self.y), jnp.asarray(self.z), self.fields)
        return np.asarray(out) if xp is np else out

    def strain(self):
        """Total strain at element centres, ``(nx, ny, nz, 6)`` in :data:`VOIGT` order [-]."""

        def f(u, x, y, z, fields):
            lev = _Level(x, y, z, jnp.zeros((3, 3) + fields.G.shape[1:], u.dtype), fields.G, jnp.ones_like(u))
            return jnp.moveaxis(_strains(u, lev)[:, 0, 0, 0], 0, -1)

        with _x64_if(self.displacement):
            return self._one(f, "strain")

    def stress(self):
        """Stress at element centres, ``(nx, ny, nz, 6)`` in :data:`VOIGT` order [Pa]."""

        def f(u, x, y, z, fields):
            N, G = stiffness(fields)
            lev = _Level(x, y, z, N, G, jnp.ones_like(u))
            e = _strains(u, lev)[:, 0, 0, 0]
            en = e[:3] - fields.alpha_dT
            sn = jnp.einsum("ij...,j...->i...", N, en)
            ss = G * e[3:]
            return jnp.moveaxis(jnp.concatenate([sn, ss]), 0, -1)

        with _x64_if(self.displacement):
            return self._one(f, "stress")

    def von_mises(self):
        """Von Mises equivalent stress at element centres, ``(nx, ny, nz)`` [Pa]."""
        s = self.stress()
        xp = np if isinstance(s, np.ndarray) else jnp
        sxx, syy, szz, sxy, syz, sxz = (s[..., i] for i in range(6))
        return xp.sqrt(0.5 * ((sxx - syy) ** 2 + (syy - szz) ** 2 + (szz - sxx) ** 2)
                       + 3.0 * (sxy ** 2 + syz ** 2 + sxz ** 2))

    def bottom_face_w(self):
        """``u_z`` of the bottom (``zmin``) face nodes, ``(nx+1, ny+1)`` [m]."""
        return self.displacement[..., 0, 2]


@contextlib.contextmanager
def _x64_if(a):
    if isinstance(a, np.ndarray) and a.dtype == np.float64 and not jax.config.jax_enable_x64:
        with jax.enable_x64(True):
            yield
    else:
        yield


# ======================================================================================
# solve
def _is_traced(tree) -> bool:
    return any(isinstance(leaf, jax.core.Tracer) for leaf in jax.tree_util.tree_leaves(tree))


def _check_fields(grid: TensorGrid, fields: ElasticFields, call: str) -> None:
    want = (3,) + grid.shape
    for name in ("E", "nu", "G", "alpha_dT"):
        a = getattr(fields, name)
        if a is None or tuple(np.shape(a)) != want:
            raise ValueError(f"`{call}`: `ElasticFields.{name}` has shape {tuple(np.shape(a)) if a is not None else None}, "
                             f"expected (3, nx, ny, nz) = {want} (the grid's element shape behind an axis of 3).")
    if _is_traced(fields):
        return
    for name in ("E", "nu", "G", "alpha_dT"):
        a = np.asarray(getattr(fields, name), dtype=float)
        if not np.all(np.isfinite(a)):
            bad = tuple(int(v) for v in np.argwhere(~np.isfinite(a))[0])
            raise ValueError(f"`{call}`: `ElasticFields.{name}` is not finite at index {bad} (value {a[bad]}); "
                             f"give finite moduli [Pa], Poisson ratios and thermal strains.")
    for name in ("E", "G"):
        a = np.asarray(getattr(fields, name), dtype=float)
        if np.any(a <= 0):
            bad = tuple(int(v) for v in np.argwhere(a <= 0)[0])
            raise ValueError(f"`{call}`: `ElasticFields.{name}` must be > 0 [Pa]; got {a[bad]:g} at index {bad}. "
                             f"Give every element (also gaps and air) a positive modulus.")
    E = np.asarray(fields.E, float)
    nu = np.asarray(fields.nu, float)
    nxy, nyz, nxz = nu
    # positive definite compliance: 1 - nxy nyx - nyz nzy - nxz nzx - 2 nyx nzy nxz > 0 and |nij| < sqrt(Ei/Ej)
    nyx, nzy, nzx = nxy * E[1] / E[0], nyz * E[2] / E[1], nxz * E[2] / E[0]
    det = 1 - nxy * nyx - nyz * nzy - nxz * nzx - 2 * nyx * nzy * nxz
    ok = (det > 0) & (nxy * nyx < 1) & (nyz * nzy < 1) & (nxz * nzx < 1)
    if not np.all(ok):
        bad = tuple(int(v) for v in np.argwhere(~ok)[0])
        raise ValueError(f"`{call}`: `ElasticFields.nu` = {tuple(float(v) for v in nu[(slice(None),) + bad])} with "
                         f"E = {tuple(float(v) for v in E[(slice(None),) + bad])} at element {bad} gives a material "
                         f"that is not positive definite (isotropic: -1 < nu < 0.5); check the Poisson ratios.")


def _node_solid(void) -> np.ndarray:
    """Bool (X, Y, Z): nodes that touch at least one element that is not void."""
    solid = ~np.asarray(void, bool)
    pad = np.pad(solid, 1)
    X, Y, Z = (n + 1 for n in solid.shape)
    return np.any([pad[a:a + X, b:b + Y, c:c + Z] for a in (0, 1) for b in (0, 1) for c in (0, 1)], axis=0)


def _dof_mask(grid_shape, support: str, support_mask, call: str, void=None) -> np.ndarray:
    """1 for free DOFs, 0 for held ones and for nodes that touch only void elements, (3, X, Y, Z)."""
    nx, ny, nz = grid_shape
    m = np.ones((3, nx + 1, ny + 1, nz + 1))
    body = np.ones((nx + 1, ny + 1, nz + 1), bool) if void is None else _node_solid(void)
    m *= body[None]
    if support == "free":
        if support_mask is not None:
            raise ValueError(f"`{call}`: `support_mask` is only used with support='simply_supported'.")
        pts = np.argwhere(body[:, :, 0])
        if len(pts) < 3:
            raise ValueError(f"`{call}`: the bottom face has {len(pts)} solid node(s); the free support holds "
                             f"three of them (3-2-1) and needs at least three not on one line.")
        near = lambda cx, cy: tuple(pts[np.argmin((pts[:, 0] - cx) ** 2 + (pts[:, 1] - cy) ** 2)])  # noqa: E731
        a, b, c = near(0, 0), near(nx, 0), near(0, ny)
        m[:, a[0], a[1], 0] = 0.0     # 3: translations
        m[1:, b[0], b[1], 0] = 0.0    # 2: rotations about z and y
        m[2, c[0], c[1], 0] = 0.0     # 1: rotation about x
        return m
    sm = np.ones((nx + 1, ny + 1), bool) if support_mask is None else np.asarray(support_mask)
    if sm.shape != (nx + 1, ny + 1) or sm.dtype != bool:
        raise ValueError(f"`{call}`: `support_mask` must be a bool array of the bottom-face node shape "
                         f"(nx+1, ny+1) = {(nx + 1, ny + 1)}; got {sm.dtype} {sm.shape}.")
    pts = np.argwhere(sm)
    if len(pts) < 3 or np.linalg.matrix_rank(np.column_stack([pts, np.ones(len(pts))])) < 3:
        raise ValueError(f"`{call}`: `support_mask` holds {len(pts)} node(s) "
                         f"{'on one line' if len(pts) >= 3 else ''}; a simple support needs at least three "
                         f"supported nodes not on one line, or the package can rotate freely.")
    sm = sm & body[:, :, 0]
    pts = np.argwhere(sm)
    if len(pts) < 3 or np.linalg.matrix_rank(np.column_stack([pts, np.ones(len(pts))])) < 3:
        raise ValueError(f"`{call}`: `support_mask` holds {len(pts)} solid node(s) (nodes of void elements "
                         f"only do not count); a simple support needs at least three not on one line.")
    m[2, :, :, 0][sm] = 0.0
    a = pts[0]
    m[0, a[0], a[1], 0] = m[1, a[0], a[1], 0] = 0.0
    far = pts[np.argmax(np.sum((pts - a) ** 2, axis=1))]
    dx, dy = far - a
    m[1 if abs(dx) >= abs(dy) else 0, far[0], far[1], 0] = 0.0
    return m


def _rigid_modes(x, y, z):
    X, Y, Z = jnp.meshgrid(x - jnp.mean(x), y - jnp.mean(y), z - jnp.mean(z), indexing="ij")
    o, one = jnp.zeros_like(X), jnp.ones_like(X)
    modes = [(one, o, o), (o, one, o), (o, o, one), (-Y, X, o), (o, -Z, Y), (Z, o, -X)]
    return jnp.stack([jnp.stack(m) for m in modes])  # (6, 3, X, Y, Z)


def _remove_rigid(u, x, y, z):
    R = _rigid_modes(x, y, z)
    gram = jnp.einsum("a...,b...->ab", R, R)
    c = jnp.linalg.solve(gram, jnp.einsum("a...,...->a", R, u))
    return u - jnp.einsum("a,a...->...", c, R)


def _core(x, y, z, fields, mask, solid, *, rtol, maxiter, x0, incompatible, free, single=False):
    N, G = stiffness(fields)
    N, G = N * solid, G * solid  # void elements (open space) carry nothing
    lev = _Level(x, y, z, N, G, mask.astype(N.dtype), incompatible=incompatible)
    b = mask * _thermal_load(lev, fields.alpha_dT)
    # the operator as a 27-block node stencil, formed once: every later application is a few
    # shifted multiply-adds instead of element loops with the incompatible-mode condensation
    lev = dataclasses.replace(lev, stencil=_constrain_stencil(_element_stencil(lev), lev.mask))
    # the sign-modulated coarse space is for the incompatible modes' soft patterns (see _modulate)
    hier = jax.lax.stop_gradient(_setup(lev, modulated=incompatible))
    lev = dataclasses.replace(lev, stencil=None, half=_half_stencil(lev.stencil))
    A = lambda v: _apply_c(lev, v)  # noqa: E731
    if single:
        # the V-cycle in float32 (set up in float64, then rounded): half the memory traffic of every
        # stencil application; CG, its operator and its true-residual test stay in float64
        h32 = _single(hier)
        M = lambda r: _vcycle(h32, r.astype(jnp.float32)).astype(r.dtype)  # noqa: E731
    else:
        M = lambda r: _vcycle(hier, r)  # noqa: E731
    if x0 is None:
        u, k, _, rel = linear_solve(A, M, b, rtol=rtol, max_iterations=maxiter, history_size=1)
    else:
        # solve for the correction from x0 (its value is not differentiated)
        u0 = jax.lax.stop_gradient(mask * x0)
        du, k, _, rel = linear_solve(A, M, b - A(u0), rtol=rtol, max_iterations=maxiter, history_size=1)
        u = u0 + du
        rel = rel * jnp.linalg.norm(b - A(u0)) / jnp.where(jnp.linalg.norm(b) > 0, jnp.linalg.norm(b), 1.0)
    if free:
        u = _remove_rigid(u, x, y, z)
    disp = jnp.moveaxis(u, 0, -1)
    return disp, k, rel, rel <= rtol


def solve_thermoelastic(grid: TensorGrid, fields: ElasticFields, *, support: str = "free", support_mask=None,
                        rtol: float = 1e-8, maxiter: int = 500, x0=None, z=None, throw: bool = True,
                        formulation: str = "incompatible", void=None) -> ElasticSolution:
    """Displacement of a body on ``grid`` under the free thermal strain of ``fields``.

    Parameters
    ----------
    grid : TensorGrid
        The mesh (its x and y coordinates, node counts and, unless ``z`` is given, z).
    fields : ElasticFields
        Orthotropic constants and free thermal strain per element, each ``(3, nx, ny, nz)``.
    support : {"free", "simply_supported"}
        ``"free"``: free-free, rigid-body modes removed (zero mean translation and rotation).
        ``"simply_supported"``: ``u_z = 0`` on the supported bottom-face nodes plus the minimum
        in-plane constraints.
    support_mask : bool array (nx+1, ny+1), optional
        Supported nodes of the bottom face (``simply_supported`` only; default all).
    rtol : float
        Relative true residual of the constrained system to reach.
    maxiter : int
        Largest number of CG iterations.
    x0 : array (nx+1, ny+1, nz+1, 3), optional
        Initial guess [m] (e.g. the previous solution of a sweep).
    z : array (nz+1,), optional
        Node z-coordinates to use instead of ``grid.z`` (may be traced: differentiate with
        respect to layer thicknesses).
    throw : bool
        Raise :class:`solvers.SolveError` when CG does not reach ``rtol`` (under a JAX
        transformation: from a host callback); with False, ``converged`` says so.
    formulation : {"incompatible", "q1"}
        Element: Wilson/Taylor incompatible modes (default, locking-free) or plain trilinear.
    void : bool array (nx, ny, nz), optional
        Elements that are open space (e.g. air beside an interposer under a lid): removed from the
        problem (no stiffness, no load); nodes that touch only void elements are held at zero and
        carry no meaning. Their ``fields`` entries are ignored. The solid elements must form one
        connected body (the free support holds it by three bottom-face nodes).

    Returns
    -------
    ElasticSolution
        NumPy float64 arrays for concrete input; JAX arrays under ``jit``/``grad``/``vmap``
        (which need ``jax_enable_x64``).

    Examples
    --------
    >>> import numpy as np
    >>> from solvers import TensorGrid
    >>> from solvers.elasticity import ElasticFields, solve_thermoelastic
    >>> g = TensorGrid(np.linspace(0, 1e-3, 5), np.linspace(0, 1e-3, 5), np.linspace(0, 1e-4, 3),
    ...                np.zeros((4, 4, 2), np.int32), ("all",), np.zeros((4, 4, 2), np.int32), ("si",))
    >>> e = np.ones((4, 4, 2))
    >>> f = ElasticFields.isotropic(130e9 * e, 0.28 * e, 2.6e-6 * e, -100.0 * e)
    >>> sol = solve_thermoelastic(g, f)      # uniform cooling of a free body: no stress
    >>> bool(np.abs(sol.stress()).max() < 1e-3)
    True
    """
    call = "solvers.solve_thermoelastic"
    if support not in _SUPPORTS:
        raise ValueError(f"`{call}`: support={support!r}; expected one of {', '.join(_SUPPORTS)}.")
    if formulation not in ("incompatible", "q1"):
        raise ValueError(f"`{call}`: formulation={formulation!r}; expected 'incompatible' or 'q1'.")
    if not (isinstance(maxiter, (int, np.integer)) and maxiter >= 1):
        raise ValueError(f"`{call}`: maxiter must be a positive integer; got {maxiter!r}.")
    if not (np.isscalar(rtol) and 0 < float(rtol) < 1):
        raise ValueError(f"`{call}`: rtol must be in (0, 1); got {rtol!r}.")
    _check_fields(grid, fields, call)
    if z is not None and tuple(np.shape(z)) != (grid.shape[2] + 1,):
        raise ValueError(f"`{call}`: `z` has shape {np.shape(z)}, expected ({grid.shape[2] + 1},) node coordinates.")
    if x0 is not None and tuple(np.shape(x0)) != grid.node_shape + (3,):
        raise ValueError(f"`{call}`: `x0` has shape {np.shape(x0)}, expected {grid.node_shape + (3,)}.")
    if void is not None and (np.shape(void) != grid.shape or np.asarray(void).dtype != bool):
        raise ValueError(f"`{call}`: `void` must be a bool array of the element shape {grid.shape}; got "
                         f"{np.asarray(void).dtype} {np.shape(void)}.")
    mask = _dof_mask(grid.shape, support, support_mask, call, void)
    solid = np.ones(grid.shape) if void is None else (~np.asarray(void, bool)).astype(float)
    traced = _is_traced((fields, x0, z))
    if traced and not jax.config.jax_enable_x64:
        raise ValueError(f"`{call}` was called inside a JAX transformation (jit, grad or vmap) with jax_enable_x64 "
                         f"off; the elastic solve needs float64: enable it with "
                         f'`jax.config.update("jax_enable_x64", True)` at the start of the script.')
    ctx = contextlib.nullcontext() if jax.config.jax_enable_x64 else jax.enable_x64(True)
    opts = dict(rtol=float(rtol), maxiter=int(maxiter), incompatible=formulation == "incompatible",
                free=support == "free", single=float(rtol) >= SINGLE_PRECISION_RTOL)
    with ctx:
        f64 = lambda a: None if a is None else jnp.asarray(a, jnp.float64)  # noqa: E731
        fl = ElasticFields(*(f64(getattr(fields, n)) for n in ("E", "nu", "G", "alpha_dT")))
        zz = f64(grid.z if z is None else z)
        xx, yy = f64(grid.x), f64(grid.y)
        u0 = None if x0 is None else jnp.moveaxis(f64(x0), -1, 0)
        m = jnp.asarray(mask)
        if traced:
            disp, k, rel, conv = _core(xx, yy, zz, fl, m, jnp.asarray(solid), x0=u0, **opts)
            if throw:
                jax.debug.callback(lambda c, r, i: _raise_unconverged(c, r, i, call, rtol, maxiter), conv, rel, k)
            return ElasticSolution(disp, k, rel, conv, xx, yy, zz, fl, opts["incompatible"])
        fn = jitted("thermoelastic", lambda x, y, z, f, m, s, x0, rtol, maxiter, incompatible, free, single:
                    _core(x, y, z, f, m, s, rtol=rtol, maxiter=maxiter, x0=x0, incompatible=incompatible, free=free,
                          single=single),
                    ("incompatible", "free", "single"))
        disp, k, rel, conv = fn(xx, yy, zz, fl, m, jnp.asarray(solid), u0, rtol=opts["rtol"], maxiter=opts["maxiter"],
                                incompatible=opts["incompatible"], free=opts["free"], single=opts["single"])
        disp = np.asarray(disp)
        sol = ElasticSolution(disp, np.asarray(k), np.asarray(rel), np.asarray(conv) & np.all(np.isfinite(disp)),
                              np.asarray(xx), np.asarray(yy), np.asarray(zz),
                              ElasticFields(*(np.asarray(getattr(fl, n)) for n in ("E", "nu", "G", "alpha_dT"))),
                              opts["incompatible"])
    if throw and not bool(sol.converged):
        raise SolveError(
            f"`{call}` did not converge: true relative residual {float(sol.relative_residual):.3e} > rtol={rtol:g} "
            f"after {int(sol.iterations)} of maxiter={maxiter} CG iterations. Check the moduli (a near-zero "
            f"modulus, e.g. for air, makes the problem nearly singular), or raise `maxiter`; pass throw=False "
            f"to inspect the result.", solution=sol)
    return sol


def _raise_unconverged(converged, rel, iterations, call, rtol, maxiter):
    if not np.all(np.asarray(converged)):
        raise SolveError(f"`{call}` did not converge (traced call): true relative residual {float(np.max(rel)):.3e} "
                         f"> rtol={rtol:g} after {int(np.max(iterations))} of maxiter={maxiter} CG iterations.")
