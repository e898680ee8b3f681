"""Geometric multigrid preconditioner for thin-layer, high-contrast heat conduction.

Design (numbers in ``benchmarks/RESULTS.md``):

* **Smoother:** damped z-line Jacobi. Every (x, y) column of nodes is solved exactly
  (tridiagonal, Thomas algorithm as a ``lax.scan`` over z planes, factorised once). Thin
  layers make the z-coupling orders of magnitude stronger than the in-plane coupling, which a
  pointwise smoother cannot handle; a line smoother removes that anisotropy exactly. The
  damping ``omega = 1.45 / lambda_max(T^-1 A)`` comes from a short power iteration per level.
* **Coarsening:** x-y semi-coarsening by two (z is never coarsened while x or y can be), with
  linear interpolation in the grid coordinates; when x and y cannot be coarsened further and
  the level is still large, z is coarsened too.
* **Coarse operators:** Galerkin ``A_c = P^T A P`` stored as 27-point stencils, computed by
  probing with 27 coloured vectors (one fine application each); they carry the 1000x
  conductivity jumps and the Robin terms without any rediscretisation.
* **Coarsest level:** dense Cholesky (at most ``coarse_size`` nodes).

One V(1,1)-cycle with symmetric smoothing is a symmetric positive definite preconditioner for
conjugate gradients. All arrays are in the working layout ``(z, x, y)`` of :mod:`solvers.fem`.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np

from .fem import Q1Operator

__all__ = ["Stencil27", "Level", "Hierarchy", "build_hierarchy", "plan_coarsening", "vcycle"]

OFFSETS = tuple(itertools.product((-1, 0, 1), repeat=3))
_CENTRE = OFFSETS.index((0, 0, 0))
_UP_Z = OFFSETS.index((1, 0, 0))


# --------------------------------------------------------------------------------------
@jax.tree_util.register_dataclass
@dataclass(frozen=True)
class Stencil27:
    """A 27-point operator ``(A u)[i] = sum_o coef[o, i] u[i + o]`` on a node array.

    ``coef`` has shape ``(27, N0, N1, N2)``, offsets in :data:`OFFSETS` order; entries that
    would reach outside the array are zero.
    """

    coef: jax.Array

    def __call__(self, u):
        n0, n1, n2 = u.shape
        up = jnp.pad(u, 1)
        out = None
        for m, (a, b, c) in enumerate(OFFSETS):
            term = self.coef[m] * up[1 + a:1 + a + n0, 1 + b:1 + b + n1, 1 + c:1 + c + n2]
            out = term if out is None else out + term
        return out

    def diagonal(self):
        return self.coef[_CENTRE]

    def z_offdiagonal(self):
        return self.coef[_UP_Z][:-1]


def probe_stencil(apply: Callable, shape: tuple[int, int, int], dtype) -> jax.Array:
    """The 27-point stencil of a linear operator whose couplings reach one node at most.

    Applies ``apply`` to the 27 vectors that are 1 on one residue class ``(i mod 3)`` per
    axis; within a 3x3x3 neighbourhood each class holds exactly one node, so each column
    entry is read back unambiguously.
    """
    idx = [np.arange(s) for s in shape]

    def one(color):
        c0, c1, c2 = color // 9, (color // 3) % 3, color % 3
        e = ((jnp.arange(shape[0]) % 3 == c0)[:, None, None]
             & (jnp.arange(shape[1]) % 3 == c1)[None, :, None]
             & (jnp.arange(shape[2]) % 3 == c2)[None, None, :]).astype(dtype)
        return apply(e)

    Y = jax.lax.map(one, jnp.arange(27))  # (27, *shape)
    coefs = []
    for o in OFFSETS:
        j = [(ix + oi) for ix, oi in zip(idx, o)]
        valid = ((j[0] >= 0) & (j[0] < shape[0]))[:, None, None] \
            & ((j[1] >= 0) & (j[1] < shape[1]))[None, :, None] \
            & ((j[2] >= 0) & (j[2] < shape[2]))[None, None, :]
        cidx = ((j[0] % 3) * 9)[:, None, None] + ((j[1] % 3) * 3)[None, :, None] + (j[2] % 3)[None, None, :]
        vals = jnp.take_along_axis(Y, jnp.asarray(cidx[None], dtype=jnp.int32), axis=0)[0]
        coefs.append(jnp.where(jnp.asarray(valid), vals, 0.0))
    return jnp.stack(coefs)


# --------------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class Interp1D:
    """Linear interpolation from the even nodes (plus the last node) along one axis (static).

    Coarse nodes are the fine nodes ``0, 2, 4, ...`` and always the last one. Fine node
    ``2j+1`` takes ``w_left[j] * coarse[j] + w_right[j] * coarse[j+1]`` (weights from the
    coordinates; when the number of fine nodes is even the last odd node *is* the last
    coarse node, with weights ``(0, 1)``). Both directions are written with strided slices
    and interior padding, which XLA fuses (gathers were 5x slower on CPU).
    """

    n_fine: int
    coarse: np.ndarray  # fine index of each coarse node
    w_left: np.ndarray  # per odd fine node
    w_right: np.ndarray

    @staticmethod
    def build(x: np.ndarray) -> "Interp1D":
        n = len(x)
        coarse = np.arange(0, n, 2)
        if coarse[-1] != n - 1:
            coarse = np.append(coarse, n - 1)
        odd = np.arange(1, n, 2)
        wl = np.zeros(len(odd))
        wr = np.zeros(len(odd))
        for j, i in enumerate(odd):
            if i == n - 1:  # even n: the last node is coarse
                wl[j], wr[j] = 0.0, 1.0
            else:
                wl[j] = (x[i + 1] - x[i]) / (x[i + 1] - x[i - 1])
                wr[j] = 1.0 - wl[j]
        return Interp1D(n, coarse, wl, wr)

    @property
    def n_coarse(self) -> int:
        return len(self.coarse)

    def _w(self, w, axis, dtype):
        shp = [1, 1, 1]
        shp[axis] = -1
        return jnp.asarray(w, dtype).reshape(shp)

    def prolong(self, u, axis: int):
        n = self.n_fine
        n_even = (n + 1) // 2
        n_odd = n // 2
        wl = self._w(self.w_left, axis, u.dtype)
        wr = self._w(self.w_right, axis, u.dtype)
        c_lo = jax.lax.slice_in_dim(u, 0, n_odd, axis=axis)
        c_hi = jax.lax.slice_in_dim(u, 1, n_odd + 1, axis=axis)
        odd = wl * c_lo + wr * c_hi
        even = jax.lax.slice_in_dim(u, 0, n_even, axis=axis)
        zero = jnp.zeros((), u.dtype)
        pe = [(0, 0, 0)] * 3
        po = [(0, 0, 0)] * 3
        pe[axis] = (0, n - (2 * n_even - 1), 1)
        po[axis] = (1, n - (2 * n_odd), 1)
        return jax.lax.pad(even, zero, pe) + jax.lax.pad(odd, zero, po)

    def restrict(self, f, axis: int):
        n, nc = self.n_fine, self.n_coarse
        wl = self._w(self.w_left, axis, f.dtype)
        wr = self._w(self.w_right, axis, f.dtype)
        even = jax.lax.slice_in_dim(f, 0, n, stride=2, axis=axis)
        odd = jax.lax.slice_in_dim(f, 1, n, stride=2, axis=axis)
        zero = jnp.zeros((), f.dtype)

        def pad(a, lo, total):
            cfg = [(0, 0, 0)] * 3
            cfg[axis] = (lo, total - lo - a.shape[axis], 0)
            return jax.lax.pad(a, zero, cfg)

        return pad(even, 0, nc) + pad(wl * odd, 0, nc) + pad(wr * odd, 1, nc)


@dataclass(frozen=True, eq=False)
class Transfer:
    """Interpolation between two levels: one :class:`Interp1D` (or None) per working axis."""

    axes: tuple

    def prolong(self, u):
        for ax, it in enumerate(self.axes):
            if it is not None:
                u = it.prolong(u, ax)
        return u

    def restrict(self, f):
        for ax, it in reversed(list(enumerate(self.axes))):
            if it is not None:
                f = it.restrict(f, ax)
        return f


def plan_coarsening(coords: tuple, *, coarse_size: int = 1200, min_nodes: int = 3) -> list[Transfer]:
    """Static list of transfers from the fine working-layout coordinates ``(z, x, y)``."""
    coords = [np.asarray(c, float) for c in coords]
    plan = []
    while int(np.prod([len(c) for c in coords])) > coarse_size:
        lateral = [ax for ax in (1, 2) if len(coords[ax]) > min_nodes]
        axes_to = lateral if lateral else ([0] if len(coords[0]) > min_nodes else [])
        if not axes_to:
            break
        its = [None, None, None]
        for ax in axes_to:
            its[ax] = Interp1D.build(coords[ax])
            coords[ax] = coords[ax][its[ax].coarse]
        plan.append(Transfer(tuple(its)))
    return plan


# --------------------------------------------------------------------------------------
def _thomas_factor(diag, upper):
    """Factor z-line tridiagonal systems (axis 0): returns (c', 1/denominator, lower)."""
    lower = jnp.concatenate([jnp.zeros_like(diag[:1]), upper], axis=0)  # A[k, k-1] = A[k-1, k]
    up = jnp.concatenate([upper, jnp.zeros_like(diag[:1])], axis=0)

    def step(cp_prev, x):
        a, b, c = x
        inv = 1.0 / (b - a * cp_prev)
        cp = c * inv
        return cp, (cp, inv)

    _, (cp, inv) = jax.lax.scan(step, jnp.zeros_like(diag[0]), (lower, diag, up))
    return cp, inv, lower


def _thomas_solve(factors, r):
    cp, inv, lower = factors

    def fwd(y_prev, x):
        a, b, iv = x
        y = (b - a * y_prev) * iv
        return y, y

    _, y = jax.lax.scan(fwd, jnp.zeros_like(r[0]), (lower, r, inv))

    def bwd(x_next, x):
        yy, c = x
        xx = yy - c * x_next
        return xx, xx

    _, xs = jax.lax.scan(bwd, jnp.zeros_like(r[0]), (y, cp), reverse=True)
    return xs


@jax.tree_util.register_dataclass
@dataclass(frozen=True)
class Level:
    """One multigrid level: operator, line-smoother factors, damping."""

    op: object  # Q1Operator (finest) or Stencil27
    factors: tuple
    omega: jax.Array


@jax.tree_util.register_dataclass
@dataclass(frozen=True)
class Hierarchy:
    """A multigrid hierarchy, built by :func:`build_hierarchy`."""

    levels: list
    coarse_chol: jax.Array
    transfers: tuple = field(metadata=dict(static=True))
    smoothing_steps: int = field(default=1, metadata=dict(static=True))

    @property
    def n_levels(self) -> int:
        return len(self.levels) + 1


def _line_jacobi_omega(op, factors, shape, dtype, iters: int = 8):
    """Damping for z-line Jacobi from a power-iteration estimate of lambda_max(T^-1 A)."""
    v = jnp.asarray(np.random.default_rng(0).random(shape), dtype)

    def body(_, s):
        v, _lam = s
        w = _thomas_solve(factors, op(v))
        lam = jnp.sum(v * w) / jnp.sum(v * v)
        return w / jnp.sqrt(jnp.sum(w * w)), lam

    _, lam = jax.lax.fori_loop(0, iters, body, (v / jnp.sqrt(jnp.sum(v * v)), jnp.asarray(1.0, dtype)))
    return 1.45 / lam


def _without_k(op: Q1Operator) -> Q1Operator:
    import dataclasses

    return dataclasses.replace(op, k=(None, None, None), capacity=op.capacity if op.lumped else None)


def build_hierarchy(fine: Q1Operator, transfers: list[Transfer], *, smoothing_steps: int = 1) -> Hierarchy:
    """Set up the V-cycle for ``fine`` (traceable; transfers from :func:`plan_coarsening`)."""
    dtype = fine.dtype
    shape = fine.node_shape
    levels = []
    op = fine
    for tr in transfers:
        factors = _thomas_factor(op.diagonal(), op.z_offdiagonal())
        omega = _line_jacobi_omega(op, factors, shape, dtype)
        # a prepared fine operator only needs its stored coefficients: drop the conductivities
        kept = op if isinstance(op, Stencil27) or op.cached is None else _without_k(op)
        levels.append(Level(kept, factors, omega))
        cshape = tuple(it.n_coarse if it is not None else s for it, s in zip(tr.axes, shape))
        coef = probe_stencil(lambda e, op=op, tr=tr: tr.restrict(op(tr.prolong(e))), cshape, dtype)
        op = Stencil27(coef)
        shape = cshape
    # coarsest: dense Cholesky
    if isinstance(op, Stencil27):
        coef = op.coef
    else:
        coef = probe_stencil(op, shape, dtype)
    n = int(np.prod(shape))
    ids = np.arange(n).reshape(shape)
    rows, cols, sel = [], [], []
    for m, o in enumerate(OFFSETS):
        j = [np.arange(s) + oi for s, oi in zip(shape, o)]
        ok = [(jj >= 0) & (jj < s) for jj, s in zip(j, shape)]
        mask = ok[0][:, None, None] & ok[1][None, :, None] & ok[2][None, None, :]
        ii = np.broadcast_to(ids, shape)[mask]
        jj = ids[np.ix_(np.clip(j[0], 0, shape[0] - 1), np.clip(j[1], 0, shape[1] - 1),
                        np.clip(j[2], 0, shape[2] - 1))][mask]
        rows.append(ii)
        cols.append(jj)
        sel.append(m * n + ids[mask])
    rows, cols, sel = (np.concatenate(a) for a in (rows, cols, sel))
    dense = jnp.zeros((n, n), dtype).at[rows, cols].add(coef.reshape(-1)[sel])
    dense = 0.5 * (dense + dense.T)
    chol = jnp.linalg.cholesky(dense)
    return Hierarchy(levels, chol, tuple(transfers), smoothing_steps)


def _coarse_solve(chol, r):
    y = jax.scipy.linalg.solve_triangular(chol, r.reshape(-1), lower=True)
    x = jax.scipy.linalg.solve_triangular(chol.T, y, lower=False)
    return x.reshape(r.shape)


def vcycle(h: Hierarchy, r, level: int = 0):
    """One symmetric V-cycle: an approximation of ``A^-1 r`` (working layout).

    A hierarchy built in another precision (e.g. float32 for a float64 solve) is applied in
    its own precision; ``r`` is cast in and the result cast back.
    """
    hd = h.coarse_chol.dtype
    if level == 0 and r.dtype != hd:
        return vcycle(h, r.astype(hd), 0).astype(r.dtype)
    if level == len(h.levels):
        return _coarse_solve(h.coarse_chol, r)
    lv = h.levels[level]
    tr = h.transfers[level]
    x = lv.omega * _thomas_solve(lv.factors, r)
    for _ in range(h.smoothing_steps - 1):
        x = x + lv.omega * _thomas_solve(lv.factors, r - lv.op(x))
    rc = tr.restrict(r - lv.op(x))
    x = x + tr.prolong(vcycle(h, rc, level + 1))
    for _ in range(h.smoothing_steps):
        x = x + lv.omega * _thomas_solve(lv.factors, r - lv.op(x))
    return x
