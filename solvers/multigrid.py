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
* **Coarse operators:** Galerkin ``A_c = P^T A P``, stored as symmetric 27-point stencils
  (half the offsets). For x-y coarsening steps they are formed analytically, element by
  element (:class:`ElementBlocks`): the Q1 element matrices are diagonal in the a/d pattern
  basis and linear interpolation maps that basis by two numbers per fine element, so
  ``P^T K_e P`` costs a few multiplications per entry. Steps that coarsen z (near the
  coarsest level only) are computed by probing with 27 coloured vectors. Either way they
  carry the 1000x conductivity jumps and the Robin terms without any rediscretisation; the
  two routes agree to round-off (tests/solvers/test_multigrid.py). At 2.7M cells the
  analytic route took the setup from 1.5 s to 0.55 s.
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

from .fem import _FACE_WORK_AXIS, Q1Operator

__all__ = ["Stencil27", "HALF_OFFSETS", "ElementBlocks", "Level", "Hierarchy", "build_hierarchy", "plan_coarsening", "vcycle"]

OFFSETS = tuple(itertools.product((-1, 0, 1), repeat=3))
#: the stored offsets of a symmetric stencil: the centre, then the 13 lexicographically positive
HALF_OFFSETS = ((0, 0, 0),) + tuple(o for o in OFFSETS if o > (0, 0, 0))
_UP_Z = HALF_OFFSETS.index((1, 0, 0))


# --------------------------------------------------------------------------------------
@jax.tree_util.register_dataclass
@dataclass(frozen=True)
class Stencil27:
    """A symmetric 27-point operator ``(A u)[i] = sum_o A[i, i+o] u[i + o]`` on a node array.

    Only half is stored: ``coef`` holds the offsets of :data:`HALF_OFFSETS` (centre, then the
    13 positive ones); ``A[i, i-o] = A[i-o, i]`` is the stored ``coef[o]`` read at ``i - o``.
    Half the memory of the full stencil. Each array carries a one-node halo of zeros, shape
    ``(14, N0+2, N1+2, N2+2)``, so an application reads both ``coef[o]`` at ``i`` and at
    ``i - o`` as plain slices (padding at every application cost 13 slow pad kernels, 16 ms per
    V-cycle at 2.7M cells). Entries that would reach outside the array are zero.
    """

    coef: jax.Array

    @staticmethod
    def from_half(coef14) -> "Stencil27":
        """From the 14 offsets of :data:`HALF_OFFSETS` without halo, shape ``(14, N0, N1, N2)``."""
        return Stencil27(jnp.pad(coef14, ((0, 0), (1, 1), (1, 1), (1, 1))))

    @staticmethod
    def from_full(coef27) -> "Stencil27":
        """From all 27 offsets (:data:`OFFSETS` order) of a symmetric operator."""
        return Stencil27.from_half(jnp.stack([coef27[OFFSETS.index(o)] for o in HALF_OFFSETS]))

    @property
    def shape(self) -> tuple:
        return tuple(s - 2 for s in self.coef.shape[1:])

    def _at(self, m, o):
        """``coef[m]`` read at ``i + o`` for every node ``i``."""
        n = self.shape
        return self.coef[m, 1 + o[0]:1 + o[0] + n[0], 1 + o[1]:1 + o[1] + n[1], 1 + o[2]:1 + o[2] + n[2]]

    def __call__(self, u):
        n = u.shape
        up = jnp.pad(u, 1)

        def at(o):
            return up[1 + o[0]:1 + o[0] + n[0], 1 + o[1]:1 + o[1] + n[1], 1 + o[2]:1 + o[2] + n[2]]

        out = self._at(0, (0, 0, 0)) * u
        for m, o in enumerate(HALF_OFFSETS[1:], 1):
            mo = tuple(-x for x in o)
            out = out + self._at(m, (0, 0, 0)) * at(o) + self._at(m, mo) * at(mo)
        return out

    def half(self):
        """The 14 stored offsets without halo, shape ``(14, N0, N1, N2)``."""
        return self.coef[:, 1:-1, 1:-1, 1:-1]

    def full(self):
        """All 27 offsets, shape ``(27, N0, N1, N2)`` in :data:`OFFSETS` order."""
        by = {o: m for m, o in enumerate(HALF_OFFSETS)}
        return jnp.stack([self._at(by[o], (0, 0, 0)) if o in by else self._at(by[tuple(-x for x in o)], o)
                          for o in OFFSETS])

    def diagonal(self):
        return self._at(0, (0, 0, 0))

    def z_offdiagonal(self):
        return self._at(_UP_Z, (0, 0, 0))[:-1]


def probe_stencil(apply: Callable, shape: tuple[int, int, int], dtype) -> jax.Array:
    """The 27-point stencil of a linear operator whose couplings reach one node at most.

    Applies ``apply`` to the 27 vectors that are 1 on one residue class ``(i mod 3)`` per
    axis; within a 3x3x3 neighbourhood each class holds exactly one node, so each column
    entry is read back unambiguously. Every index array is computed in the program (from
    ``iota``), so nothing of the grid's size is baked into the compiled code as a constant.
    """
    res = [jnp.asarray(np.arange(s) % 3, jnp.int32).reshape(_axis_shape(ax)) for ax, s in enumerate(shape)]

    def one(color):
        c0, c1, c2 = color // 9, (color // 3) % 3, color % 3
        e = (res[0] == c0) & (res[1] == c1) & (res[2] == c2)
        return apply(e.astype(dtype))

    Y = jax.lax.map(one, jnp.arange(27, dtype=jnp.int32))  # (27, *shape)
    coefs = []
    for o in OFFSETS:
        # per axis: colour and validity of the neighbour i + o as tiny 1-D constants, combined
        # by broadcasting (3-D index arithmetic in the program compiled 1 s slower)
        j = [np.arange(s) + oi for s, oi in zip(shape, o)]
        col = [jnp.asarray((jj % 3) * w, jnp.int32).reshape(_axis_shape(ax)) for ax, (jj, w) in enumerate(zip(j, (9, 3, 1)))]
        ok = [jnp.asarray((jj >= 0) & (jj < s)).reshape(_axis_shape(ax)) for ax, (jj, s) in enumerate(zip(j, shape))]
        cidx = jnp.broadcast_to(col[0] + col[1] + col[2], shape)
        vals = jnp.take_along_axis(Y, cidx[None], axis=0)[0]
        coefs.append(jnp.where(ok[0] & ok[1] & ok[2], vals, 0.0))
    return jnp.stack(coefs)


def _axis_shape(ax: int) -> tuple:
    shp = [1, 1, 1]
    shp[ax] = -1
    return tuple(shp)


# --------------------------------------------------------------------------------------
@jax.tree_util.register_dataclass
@dataclass(frozen=True)
class Interp1D:
    """Linear interpolation from the even nodes (plus the last node) along one axis.

    Coarse nodes are the fine nodes ``0, 2, 4, ...`` and always the last one. Fine node
    ``2j+1`` takes ``w_left[j] * coarse[j] + w_right[j] * coarse[j+1]`` (weights from the
    coordinates; when the number of fine nodes is even the last odd node *is* the last
    coarse node, with weights ``(0, 1)``). Both directions are written with strided slices
    and interior padding, which XLA fuses (gathers were 5x slower on CPU). The node counts
    are static; the weights are data, so they may come from traced coordinates.
    """

    w_left: jax.Array  # per odd fine node
    w_right: jax.Array
    n_fine: int = field(metadata=dict(static=True))
    coarse: tuple = field(metadata=dict(static=True))  # fine index of each coarse node

    @staticmethod
    def build(x) -> "Interp1D":
        x = jnp.asarray(x)
        n = x.shape[0]
        coarse = list(range(0, n, 2))
        if coarse[-1] != n - 1:
            coarse.append(n - 1)
        odd = np.arange(1, n, 2)
        inner = odd[odd < n - 1]
        wl = (x[inner + 1] - x[inner]) / (x[inner + 1] - x[inner - 1])
        wr = 1.0 - wl
        if n % 2 == 0:  # even n: the last (odd) node is the last coarse node
            wl = jnp.concatenate([wl, jnp.zeros(1, wl.dtype)])
            wr = jnp.concatenate([wr, jnp.ones(1, wr.dtype)])
        return Interp1D(wl, wr, n, tuple(coarse))

    @property
    def n_coarse(self) -> int:
        return len(self.coarse)

    def element_maps(self):
        """Per fine element ``e`` (nodes ``e, e+1``, inside coarse element ``e // 2``): the
        coefficients of ``d -> beta d`` and ``a -> a + gamma d`` in the coarse element's basis."""
        n_el = self.n_fine - 1
        # weights of every fine node on the left / right node of the coarse element e // 2
        wl_odd = jnp.zeros(self.n_fine, self.w_left.dtype).at[1::2].set(self.w_left)
        wr_odd = jnp.zeros(self.n_fine, self.w_right.dtype).at[1::2].set(self.w_right)
        e = np.arange(n_el)
        even = e % 2 == 0
        # node e: weight 1 on the left node (even e) or its own interpolation weights (odd e)
        l0 = jnp.where(even, 1.0, wl_odd[e])
        r0 = jnp.where(even, 0.0, wr_odd[e])
        # node e+1: interpolation weights (even e) or weight 1 on the right node (odd e)
        l1 = jnp.where(even, wl_odd[e + 1], 0.0)
        r1 = jnp.where(even, wr_odd[e + 1], 1.0)
        beta = 0.5 * ((r1 - r0) - (l1 - l0))
        gamma = 0.5 * ((r0 + r1) - (l0 + l1))
        return beta, gamma

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


@jax.tree_util.register_dataclass
@dataclass(frozen=True)
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


def _coarsened_axes(shape, coarse_size: int, min_nodes: int) -> list[int]:
    """The working axes the next level coarsens (none: this level is the coarsest)."""
    if int(np.prod(shape)) <= coarse_size:
        return []
    lateral = [ax for ax in (1, 2) if shape[ax] > min_nodes]
    return lateral if lateral else ([0] if shape[0] > min_nodes else [])


def plan_shapes(node_shape, *, coarse_size: int = 1200, min_nodes: int = 3) -> list[tuple[int, int, int]]:
    """Node shapes (working layout ``(z, x, y)``) of every level :func:`plan_coarsening` makes,
    from the node counts alone (no arrays, nothing compiled)."""
    shapes = [tuple(int(n) for n in node_shape)]
    while axes := _coarsened_axes(shapes[-1], coarse_size, min_nodes):
        shapes.append(tuple((n + 2) // 2 if ax in axes else n for ax, n in enumerate(shapes[-1])))
    return shapes


def plan_coarsening(coords: tuple, *, coarse_size: int = 1200, min_nodes: int = 3) -> list[Transfer]:
    """Transfers from the fine working-layout coordinates ``(z, x, y)``.

    Which axes are coarsened depends only on the node counts (static, :func:`plan_shapes`); the
    interpolation weights come from the coordinates, which may be traced.
    """
    coords = [jnp.asarray(c) for c in coords]
    plan = []
    while axes_to := _coarsened_axes([c.shape[0] for c in coords], coarse_size, min_nodes):
        its = [None, None, None]
        for ax in axes_to:
            its[ax] = Interp1D.build(coords[ax])
            coords[ax] = coords[ax][np.asarray(its[ax].coarse)]
        plan.append(Transfer(tuple(its)))
    return plan


# --------------------------------------------------------------------------------------
# analytic Galerkin coarsening of element operators
#
# A Q1 element matrix is diagonal in the basis of the eight tensor products p⊗q⊗r of the 1-D
# vectors a = [1/2, 1/2] and d = [-1/2, 1/2] (see solvers.fem). Linear interpolation maps a
# fine element's pair of nodes into the pair of its coarse element, and maps those 1-D vectors
# to ``d -> beta d`` and ``a -> a + gamma d`` (coarse a, d), with ``beta`` and ``gamma``
# from the interpolation weights. So ``P^T K_e P`` is again a small matrix in the pattern
# basis of the coarse element: the Galerkin operator ``P^T A P`` is formed element by element
# with a few multiplications per entry, instead of 27 probing applications of ``A`` on the fine
# grid. It is then written out as a 27-point node stencil for the V-cycle.

def _canon(p: str, q: str) -> tuple[str, str]:
    return (p, q) if p <= q else (q, p)


@dataclass(frozen=True, eq=False)
class ElementBlocks:
    """Symmetric element matrices in the a/d pattern basis, with boundary-face terms.

    ``vol[(P, Q)]`` (patterns of three letters over the working axes, ``P <= Q``) is an
    element array; an off-diagonal key stands for the symmetric pair ``E_PQ + E_QP``. Pattern
    vectors have entries ``±1/8``. ``faces[face][(P, Q)]`` are the same for the Robin terms of
    one boundary face: two-letter patterns over the face's remaining working axes (in order),
    entries ``±1/4``. ``node_shape`` is the level's node shape (working layout).
    """

    vol: dict
    faces: dict
    node_shape: tuple

    @staticmethod
    def from_q1(op: Q1Operator) -> "ElementBlocks":
        lam = dict(op.element_lambdas())
        if op.lumped and op.mass_scale is not None:
            # the lumped capacity diag(c V / 8) per element is c V times the identity in the
            # pattern basis (the eight pattern vectors are orthogonal with squared norm 1/8)
            _, vol = op._geometry()
            cm = op.mass_scale * op.capacity * vol
            lam = {p: lam.get(p, 0.0) + cm for p in _PATTERNS3}
        faces = {f: {(p, p): v for p, v in op.face_lambdas(f).items()} for f in op.robin}
        return ElementBlocks({(p, p): v for p, v in lam.items()}, faces, op.node_shape)

    def coarsen(self, axis: int, it: "Interp1D") -> "ElementBlocks":
        """``P^T (.) P`` for linear interpolation ``it`` along working axis ``axis`` (1 or 2)."""
        beta, gamma = it.element_maps()
        vol = _coarsen_blocks(self.vol, axis, beta, gamma)
        faces = {}
        for face, blocks in self.faces.items():
            rest = [i for i in range(3) if i != _FACE_WORK_AXIS[face[0]]]
            if axis in rest:
                faces[face] = _coarsen_blocks(blocks, rest.index(axis), beta, gamma)
            else:
                faces[face] = blocks
        shape = list(self.node_shape)
        shape[axis] = it.n_coarse
        return ElementBlocks(vol, faces, tuple(shape))

    def stencil(self) -> "Stencil27":
        """The assembled operator as a 27-point node stencil."""
        dtype = next(iter(self.vol.values())).dtype
        coef = {o: None for o in HALF_OFFSETS}
        if all(P[0] == Q[0] for P, Q in self.vol):
            entries = _nodal_entries_zdiag(self.vol)
        else:
            entries = _nodal_entries(self.vol, 3)
        for (c, c2), val in entries.items():
            _stencil_add(coef, c, c2, val, self.node_shape, None)
        for face, blocks in self.faces.items():
            nax = _FACE_WORK_AXIS[face[0]]
            rest = [i for i in range(3) if i != nax]
            plane = 0 if face.endswith("min") else self.node_shape[nax] - 1
            for (c, c2), val in _nodal_entries(blocks, 2).items():
                _stencil_add(coef, _lift(c, nax, rest), _lift(c2, nax, rest), val, self.node_shape,
                             (nax, plane))
        zero = jnp.zeros(self.node_shape, dtype)
        return Stencil27.from_half(jnp.stack([zero if coef[o] is None else coef[o] for o in HALF_OFFSETS]))


_PATTERNS3 = tuple("".join(p) for p in itertools.product("ad", repeat=3))


def _coarsen_blocks(blocks: dict, pos: int, beta, gamma) -> dict:
    """Transform the letter at ``pos`` of every pattern (array axis ``pos`` of the element
    arrays: the letters follow the array axes), then sum the fine elements of each coarse
    element."""
    axis = pos
    nd = next(iter(blocks.values())).ndim
    shp = [1] * nd
    shp[axis] = -1
    dt = next(iter(blocks.values())).dtype
    b = jnp.asarray(beta, dt).reshape(shp)
    g = jnp.asarray(gamma, dt).reshape(shp)
    # column of the 1-D map for each letter: a -> {a: 1, d: gamma}, d -> {d: beta}
    col = {"a": (("a", None), ("d", g)), "d": (("d", b),)}
    out: dict = {}

    def add(key, val):
        out[key] = val if key not in out else out[key] + val

    def times(x, f):
        return x if f is None else x * f

    for (P, Q), m in blocks.items():
        sub = lambda s, ch: s[:pos] + ch + s[pos + 1:]  # noqa: E731
        if P == Q:
            terms = col[P[pos]]
            for i, (x, fx) in enumerate(terms):
                for y, fy in terms[i:]:
                    add(_canon(sub(P, x), sub(P, y)), times(times(m, fx), fy))
        else:
            for x, fx in col[P[pos]]:
                for y, fy in col[Q[pos]]:
                    Px, Qy = sub(P, x), sub(Q, y)
                    v = times(times(m, fx), fy)
                    add(_canon(Px, Qy), 2.0 * v if Px == Qy else v)
    # sum pairs of fine elements into coarse elements (the last may be alone)
    n = next(iter(out.values())).shape[axis]
    nc = (n + 1) // 2

    def pair_sum(a):
        if n % 2:
            pad = [(0, 0)] * a.ndim
            pad[axis] = (0, 1)
            a = jnp.pad(a, pad)
        new = a.shape[:axis] + (nc, 2) + a.shape[axis + 1:]
        return jnp.sum(a.reshape(new), axis=axis + 1)

    return {k: pair_sum(v) for k, v in out.items()}


def _nodal_entries(blocks: dict, ndim: int) -> dict:
    """Element matrix entries ``K[c, c2]`` (corner tuples, ``c <= c2``) from pattern blocks."""
    scale = 1.0 / 4.0 ** ndim  # pattern vectors have entries ±(1/2)^ndim
    sgn = {("a", 0): 1.0, ("a", 1): 1.0, ("d", 0): -1.0, ("d", 1): 1.0}
    corners = list(itertools.product((0, 1), repeat=ndim))
    out = {}
    for i, c in enumerate(corners):
        for c2 in corners[i:]:
            acc = None
            for (P, Q), m in blocks.items():
                s = np.prod([sgn[(p, ci)] * sgn[(q, cj)] for p, q, ci, cj in zip(P, Q, c, c2)])
                if P != Q:
                    s = s + np.prod([sgn[(q, ci)] * sgn[(p, cj)] for p, q, ci, cj in zip(P, Q, c, c2)])
                if s == 0:
                    continue
                term = m * (float(s) * scale)
                acc = term if acc is None else acc + term
            if acc is not None:
                out[(c, c2)] = acc
    return out


def _nodal_entries_zdiag(blocks: dict) -> dict:
    """:func:`_nodal_entries` for blocks that do not couple the z letters (x-y coarsening only).

    Then ``K = (N_a + N_d) / 4`` between corners on the same z side and ``(N_a - N_d) / 4``
    across, with ``N_p`` the 4x4 x-y corner matrix of the z-letter-``p`` block: about 200
    products per element instead of 1400, which keeps the compiled setup program small.
    """
    xy = {p: _nodal_entries({(P[1:], Q[1:]): m for (P, Q), m in blocks.items() if P[0] == p}, 2)
          for p in "ad" if any(P[0] == p for P, _ in blocks)}
    na, nd = xy.get("a", {}), xy.get("d", {})
    corners = list(itertools.product((0, 1), repeat=2))
    out = {}
    for i, c in enumerate(corners):
        for j, c2 in enumerate(corners):
            key = (c, c2) if i <= j else (c2, c)
            a, d = na.get(key), nd.get(key)
            if a is None and d is None:
                continue
            same = a + d if (a is not None and d is not None) else (a if a is not None else d)
            diff = a - d if (a is not None and d is not None) else (a if a is not None else -d)
            if i <= j:
                out[((0,) + c, (0,) + c2)] = 0.25 * same
                out[((1,) + c, (1,) + c2)] = 0.25 * same
            out[((0,) + c, (1,) + c2)] = 0.25 * diff
    return out


def _lift(c2d, nax, rest):
    c = [0, 0, 0]
    for ax, ci in zip(rest, c2d):
        c[ax] = ci
    return tuple(c)


def _stencil_add(coef: dict, c, c2, val, node_shape, plane):
    """Scatter element entries ``K_e[c, c2]`` into the stored half of a symmetric node stencil."""
    for a, b in ((c, c2), (c2, c)) if c != c2 else ((c, c2),):
        o = tuple(bi - ai for ai, bi in zip(a, b))
        if o not in coef:  # the mirrored entry is stored at the other node
            continue
        if plane is None:
            pad = [(ai, 1 - ai) for ai in a]
            v = jnp.pad(val, pad)
        else:
            nax, idx = plane
            rest = [i for i in range(3) if i != nax]
            pad2 = [(a[ax], 1 - a[ax]) for ax in rest]
            v2 = jnp.pad(val, pad2)
            pad = [(0, 0)] * 3
            pad[nax] = (idx, node_shape[nax] - 1 - idx)
            v = jnp.pad(jnp.expand_dims(v2, nax), pad)
        coef[o] = v if coef[o] is None else coef[o] + v


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
    transfers: tuple
    smoothing_steps: int = field(default=1, metadata=dict(static=True))

    @property
    def n_levels(self) -> int:
        return len(self.levels) + 1


def _line_jacobi_omega(op, factors, shape, dtype, iters: int = 8):
    """Damping for z-line Jacobi from a power-iteration estimate of lambda_max(T^-1 A).

    The start vector is a fixed pseudo-random field in [0.5, 1.5) computed in the program (an
    integer hash of the node index), not a host array: under ``jit`` a host array of the
    grid's size would be compiled in as a constant.
    """
    h = jnp.zeros(shape, jnp.uint32)
    for ax, m in enumerate((73856093, 19349663, 83492791)):
        h = h ^ (jax.lax.broadcasted_iota(jnp.uint32, shape, ax) * jnp.uint32(m))
    h = (h ^ (h >> 15)) * jnp.uint32(2246822519)
    h = h ^ (h >> 13)
    v = (h >> 8).astype(dtype) * (1.0 / 2**24) + 0.5

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


def build_hierarchy(fine: Q1Operator, transfers: list[Transfer], *, smoothing_steps: int = 1,
                    galerkin: str = "auto", analytic_min_nodes: int = 100_000) -> Hierarchy:
    """Set up the V-cycle for ``fine`` (traceable; transfers from :func:`plan_coarsening`).

    ``galerkin`` chooses how the coarse operators ``P^T A P`` are formed:

    * ``"analytic"``: element by element (:class:`ElementBlocks`) for every x-y coarsening step;
    * ``"probe"``: by probing, 27 applications of ``R A P`` per level;
    * ``"auto"`` (default): analytic while the coarse level has at least
      ``analytic_min_nodes`` nodes, probing below. The analytic route runs faster on large
      levels (2.7M cells: setup 1.5 s -> 0.55 s) but compiles into a larger program (+1.5 s
      of compile time on a 30k-cell grid), which does not pay off on small levels.

    Steps that coarsen z (only near the coarsest level) are always probed. Both routes give
    the same operators to round-off.
    """
    if galerkin not in ("auto", "analytic", "probe"):
        raise ValueError(f"`galerkin` must be 'auto', 'analytic' or 'probe', got {galerkin!r}")
    dtype = fine.dtype
    shape = fine.node_shape
    levels = []
    op = fine
    blocks = ElementBlocks.from_q1(fine) if (galerkin != "probe" and isinstance(fine, Q1Operator)) else None
    for tr in transfers:
        factors = _thomas_factor(op.diagonal(), op.z_offdiagonal())
        omega = _line_jacobi_omega(op, factors, shape, dtype)
        # a prepared fine operator only needs its stored coefficients: drop the conductivities
        kept = op if isinstance(op, Stencil27) or op.cached is None else _without_k(op)
        levels.append(Level(kept, factors, omega))
        cshape = tuple(it.n_coarse if it is not None else s for it, s in zip(tr.axes, shape))
        large = galerkin == "analytic" or int(np.prod(cshape)) >= analytic_min_nodes
        if blocks is not None and tr.axes[0] is None and large:
            for ax in (1, 2):
                if tr.axes[ax] is not None:
                    blocks = blocks.coarsen(ax, tr.axes[ax])
            op = blocks.stencil()
        else:
            blocks = None
            coef = probe_stencil(lambda e, op=op, tr=tr: tr.restrict(op(tr.prolong(e))), cshape, dtype)
            op = Stencil27.from_full(coef)
        shape = cshape
    # coarsest: dense Cholesky
    if isinstance(op, Stencil27):
        coef = op.full()
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


def _materialize(a, ok):
    """``a`` (``ok`` is true), computed into memory before its consumers read it.

    XLA on CPU otherwise fuses a stencil residual into the restriction that reads it at three
    offsets per axis and recomputes it for each read: restricting a level-1 residual took
    16.6 ms instead of 2.4 ms at 2.7M fine cells. A conditional is a fusion boundary; ``ok``
    must be a run-time value so that the compiler cannot remove it (here ``omega > 0``, true
    for every SPD operator; otherwise the result is NaN and the solve fails loudly).
    """
    return jax.lax.cond(ok, lambda v: v, lambda v: jnp.full_like(v, jnp.nan), a)


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
    res = r - lv.op(x)
    if isinstance(lv.op, Stencil27):  # a Q1 product ends in pads, which XLA does not fuse onwards
        res = _materialize(res, lv.omega > 0)
    rc = tr.restrict(res)
    x = x + tr.prolong(vcycle(h, rc, level + 1))
    for _ in range(h.smoothing_steps):
        x = x + lv.omega * _thomas_solve(lv.factors, r - lv.op(x))
    return x
