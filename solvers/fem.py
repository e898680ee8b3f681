"""Matrix-free Q1 (trilinear hexahedron) heat-conduction operators in JAX.

The operators here are the same as :func:`solvers.reference.assemble` builds with
scikit-fem, applied without a matrix.

How it works
------------
On a box element with sides ``h0, h1, h2`` the Q1 element matrices are Kronecker products
of the 1-D stiffness ``S = [[1, -1], [-1, 1]] / h`` and mass ``M = h [[2, 1], [1, 2]] / 6``.
With the two 1-D vectors ``a = [1/2, 1/2]`` (average) and ``d = [-1/2, 1/2]``
(half-difference), ``S = 4 d d^T / h`` and ``M = h (a a^T + d d^T / 3)``. The eight tensor
products ``p ⊗ q ⊗ r`` (``p, q, r`` in ``{a, d}``) are orthogonal, so every element matrix of
conduction (with a diagonal conductivity) and of heat capacity is *diagonal* in that basis:

``K_e = sum_pqr lam_pqr (p⊗q⊗r)(p⊗q⊗r)^T``

with, for ``G_i = k_i V / h_i^2`` (``V`` the element volume) and ``t = 1/3``,

* ``lam_pqr = sum over axes i where the pattern has d of 4 G_i * t^(number of other d's)``
  for conduction (``lam_aaa = 0``), and
* ``lam_pqr = rho c V t^(number of d's)`` for the consistent capacity.

Applying an operator is then three butterfly passes (averages and half-differences along each
axis), one multiplication by the eight per-element ``lam`` arrays, and three transposed
butterfly passes that scatter back to the nodes: about 60 flops per node, all as fused
shifted-array expressions. Robin faces ``∫ h T v ds`` use the same construction in 2-D.

Array layout
------------
The public helpers take and return node arrays in the grid's layout ``(nx+1, ny+1, nz+1)``.
Internally, solvers work in the *working layout* ``(z, x, y)`` (node arrays of shape
``(nz+1, nx+1, ny+1)``) so that a z-line is strided by a whole plane and a sweep along z
(the tridiagonal line solves of :mod:`solvers.multigrid`) touches contiguous planes.
:func:`to_work` and :func:`from_work` convert.
"""

from __future__ import annotations

import dataclasses
import itertools
from dataclasses import dataclass, field

import jax
import jax.numpy as jnp
import numpy as np

from .grid import FACES, TensorGrid, ThermalFields, face_shape

__all__ = [
    "Q1Operator",
    "build_operator",
    "load_vector",
    "to_work",
    "from_work",
    "stiffness_matvec",
    "capacity_matvec",
    "lumped_capacity",
    "face_heat_flow",
    "face_integral",
    "volume_integral",
]

#: grid axis (0=x, 1=y, 2=z) of each working axis
WORK_AXES = (2, 0, 1)
#: working axis of each face's normal
_FACE_WORK_AXIS = {"x": 1, "y": 2, "z": 0}
_PATTERNS = tuple("".join(p) for p in itertools.product("ad", repeat=3))
_PATTERNS2 = tuple("".join(p) for p in itertools.product("ad", repeat=2))


def to_work(u):
    """Grid layout ``(x, y, z)`` -> working layout ``(z, x, y)`` (last three axes)."""
    return jnp.moveaxis(u, -1, -3)


def from_work(u):
    """Working layout ``(z, x, y)`` -> grid layout ``(x, y, z)`` (last three axes)."""
    return jnp.moveaxis(u, -3, -1)


def _face_to_work(a, face: str):
    """A face field in grid convention -> the order of the remaining working axes."""
    # zmin/zmax: (nx, ny) is already (x, y); x faces (ny, nz) -> (z, y); y faces (nx, nz) -> (z, x)
    return a if face[0] == "z" else jnp.swapaxes(a, -1, -2)


# --------------------------------------------------------------------------------------
# butterflies
def _fwd(u, axis):
    """Averages and half-differences of neighbouring nodes along ``axis`` (nodes -> cells)."""
    n = u.shape[axis]
    lo = jax.lax.slice_in_dim(u, 0, n - 1, axis=axis)
    hi = jax.lax.slice_in_dim(u, 1, n, axis=axis)
    return 0.5 * (hi + lo), 0.5 * (hi - lo)


def _bwd(ra, rd, axis):
    """Transpose of :func:`_fwd`: scatter cell coefficients of ``a`` and ``d`` back to nodes."""
    lower = 0.5 * (ra - rd)
    upper = 0.5 * (ra + rd)
    pad_lo = [(0, 0)] * lower.ndim
    pad_hi = [(0, 0)] * lower.ndim
    pad_lo[axis] = (0, 1)
    pad_hi[axis] = (1, 0)
    return jnp.pad(lower, pad_lo) + jnp.pad(upper, pad_hi)


def _transform3(u, axes=(-3, -2, -1)):
    """Element coefficients ``w[pqr]`` of a node array (working axes given)."""
    out = {"": u}
    for ax in axes:
        nxt = {}
        for key, v in out.items():
            a, d = _fwd(v, ax)
            nxt[key + "a"] = a
            nxt[key + "d"] = d
        out = nxt
    return out


def _untransform(coef: dict, axes, zero_like=None):
    """Transpose of :func:`_transform3` (any number of axes); missing patterns are zero."""
    n = len(axes)
    cur = coef
    for level in range(n - 1, -1, -1):
        ax = axes[level]
        nxt = {}
        for key in {k[:level] for k in cur}:
            ra = cur.get(key + "a")
            rd = cur.get(key + "d")
            if ra is None:
                ra = jnp.zeros_like(rd)
            if rd is None:
                rd = jnp.zeros_like(ra)
            nxt[key] = _bwd(ra, rd, ax)
        cur = nxt
    return cur[""]


_CORNERS = tuple(itertools.product((0, 1), repeat=3))
_SIGN = {
    (p, c): int(np.prod([1 if ch == "a" or ci == 1 else -1 for ch, ci in zip(p, c)]))
    for p in _PATTERNS
    for c in _CORNERS
}


def _pattern_scales(coeffs: dict) -> dict:
    """Per pattern, the (coefficient array, scale) pairs whose sum is ``lam[p]``."""
    third = 1.0 / 3.0
    out = {}
    for p in _PATTERNS:
        nd = p.count("d")
        terms = [(coeffs[f"g{i}"], third ** (nd - 1)) for i in range(3) if p[i] == "d"]
        if "m" in coeffs:
            terms.append((coeffs["m"], third**nd))
        if terms:
            out[p] = terms
    return out


def _element_apply(u, lam: dict, *, coeffs: dict | None = None):
    """``sum_e sum_p lam_p[e] (p·u_e) p`` for a 3-D node array ``u``.

    Written as one weighted 8-corner sum per pattern and one shifted sum back to the nodes:
    XLA on CPU fuses each of these into a single loop, which measured 2.5x faster than the
    separable butterflies of :func:`_transform3` (those materialise 14 intermediates).
    """
    n = tuple(s - 1 for s in u.shape)
    cs = {c: u[c[0]:c[0] + n[0], c[1]:c[1] + n[1], c[2]:c[2] + n[2]] for c in _CORNERS}
    r = {}
    items = lam.items() if coeffs is None else _pattern_scales(coeffs).items()
    for p, lp in items:
        acc = None
        for c in _CORNERS:
            term = cs[c] if _SIGN[(p, c)] > 0 else -cs[c]
            acc = term if acc is None else acc + term
        if coeffs is None:
            r[p] = lp * acc
        else:
            # sum_i g_i * (acc * scale): every product involves `u`, so nothing here is
            # loop-invariant for XLA to hoist out of a CG loop and store (the eight pattern
            # coefficients would be 2.7x the memory of the three conductances)
            parts = [(a * (acc * sc) if sc != 1.0 else a * acc) for a, sc in lp]
            r[p] = sum(parts[1:], parts[0])
    out = None
    for c in _CORNERS:
        acc = None
        for p, rp in r.items():
            term = rp if _SIGN[(p, c)] > 0 else -rp
            acc = term if acc is None else acc + term
        padded = jnp.pad(acc, [(c[0], 1 - c[0]), (c[1], 1 - c[1]), (c[2], 1 - c[2])])
        out = padded if out is None else out + padded
    return out * (1.0 / 64.0)


# --------------------------------------------------------------------------------------
@jax.tree_util.register_dataclass
@dataclass(frozen=True)
class Q1Operator:
    """``A = K + mass_scale * C`` on a tensor grid, applied matrix-free (working layout).

    ``K`` is Q1 conduction with per-element diagonal conductivity plus Robin terms; ``C``
    the heat capacity (consistent or lumped). All arrays are in the working layout
    ``(z, x, y)``: element arrays ``(nz, nx, ny)``, node arrays ``(nz+1, nx+1, ny+1)``.

    Parameters
    ----------
    h : tuple of three 1-D arrays
        Cell sizes along the working axes (z, x, y) [m].
    k : tuple of three element arrays
        Conductivity along the working axes (kz, kx, ky) [W/m/K].
    robin : dict of str -> array
        Heat-transfer coefficient per face cell, face fields in working-axis order [W/m^2/K].
    capacity : element array or None
        Volumetric heat capacity [J/m^3/K]; used only when ``mass_scale`` is not None.
    mass_scale : scalar array or None
        Multiplier of the capacity term [1/s], e.g. ``1/dt``.
    lumped : bool
        Lump the capacity onto the nodes (row sums) instead of the consistent matrix.
    """

    h: tuple
    k: tuple
    robin: dict
    capacity: jax.Array | None = None
    mass_scale: jax.Array | None = None
    lumped: bool = field(default=False, metadata=dict(static=True))
    cached: dict | None = None

    def prepared(self) -> "Q1Operator":
        """The same operator with its per-element coefficients computed once and stored.

        Stores the three directional conductances ``G_i = 4 k_i V / h_i^2`` (and the capacity
        coefficient when there is a consistent mass term); the eight pattern coefficients are
        cheap sums of those and are formed inside each application. Computing ``G_i`` from
        ``k`` and the cell sizes on the fly instead measured 5x slower on CPU (XLA recomputes
        them in every consumer), storing all eight pattern coefficients no faster than three.
        """
        return dataclasses.replace(self, cached=self._coefficients())

    def _coefficients(self) -> dict:
        if self.cached is not None:
            return self.cached
        hs, vol = self._geometry()
        out = {f"g{i}": 4.0 * self.k[i] * (vol / hs[i] ** 2) for i in range(3)}
        if self.mass_scale is not None and not self.lumped:
            out["m"] = self.mass_scale * self.capacity * vol
        return out

    @property
    def node_shape(self) -> tuple[int, int, int]:
        return tuple(len(hh) + 1 for hh in self.h)  # type: ignore[return-value]

    @property
    def dtype(self):
        return self.h[0].dtype

    def with_mass(self, capacity, mass_scale, *, lumped: bool = False) -> "Q1Operator":
        """``K + mass_scale * C`` with the given capacity [J/m^3/K] and scale [1/s]."""
        return Q1Operator(self.h, self.k, self.robin, capacity, jnp.asarray(mass_scale, self.dtype),
                          lumped, None)

    # -- per-element coefficients ------------------------------------------------------
    def _geometry(self):
        h0 = self.h[0][:, None, None]
        h1 = self.h[1][None, :, None]
        h2 = self.h[2][None, None, :]
        return (h0, h1, h2), h0 * h1 * h2

    def element_lambdas(self, *, include_mass: bool = True) -> dict:
        """The eight per-element eigen-coefficients ``lam[pqr]`` (see module docstring)."""
        c = self._coefficients()
        if not include_mass:
            c = {k: v for k, v in c.items() if k != "m"}
        return {p: sum((a * sc for a, sc in terms[1:]), terms[0][0] * terms[0][1])
                for p, terms in _pattern_scales(c).items()}

    def face_lambdas(self, face: str) -> dict:
        """``lam[pq]`` of the Robin face mass ``∫ h φ_i φ_j ds`` on one face (working order)."""
        ax = _FACE_WORK_AXIS[face[0]]
        t = [i for i in range(3) if i != ax]
        area = self.h[t[0]][:, None] * self.h[t[1]][None, :]
        ha = self.robin[face] * area
        return {"aa": ha, "ad": ha / 3.0, "da": ha / 3.0, "dd": ha / 9.0}

    def lumped_diagonal(self):
        """Nodal lumped capacity times ``mass_scale`` [W/K], or None."""
        if self.mass_scale is None or not self.lumped:
            return None
        _, vol = self._geometry()
        return self.mass_scale * _untransform({"aaa": self.capacity * vol}, (0, 1, 2))

    # -- application ------------------------------------------------------------------
    def __call__(self, u):
        """``A u`` for a node array ``u`` in the working layout [W]."""
        if self.cached is not None:
            out = _element_apply(u, {}, coeffs=self.cached)
        else:
            out = _element_apply(u, self.element_lambdas())
        for face in self.robin:
            out = _face_add(out, face, self._face_apply(u, face))
        ld = self.lumped_diagonal()
        if ld is not None:
            out = out + ld * u
        return out

    def _face_apply(self, u, face):
        ax = _FACE_WORK_AXIS[face[0]]
        idx = 0 if face.endswith("min") else u.shape[ax] - 1
        s = jax.lax.index_in_dim(u, idx, axis=ax, keepdims=False)
        w2 = {}
        for ka, va in zip("ad", _fwd(s, 0)):
            for kb, vb in zip("ad", _fwd(va, 1)):
                w2[ka + kb] = vb
        lam = self.face_lambdas(face)
        return _untransform({p: lam[p] * w2[p] for p in _PATTERNS2}, (0, 1))

    def diagonal(self):
        """The diagonal of ``A`` (node array, working layout) [W/K]."""
        lam = self.element_lambdas()
        # each (p⊗q⊗r) entry is ±1/8, squared 1/64; spread S/64 to the 8 corners = 'aaa' coef 8*S/64
        s = sum(lam.values())
        out = _untransform({"aaa": s / 8.0}, (0, 1, 2))
        for face in self.robin:
            lf = self.face_lambdas(face)
            sf = sum(lf.values())
            out = _face_add(out, face, _untransform({"aa": sf / 4.0}, (0, 1)))
        ld = self.lumped_diagonal()
        if ld is not None:
            out = out + ld
        return out

    def z_offdiagonal(self):
        """``A[(k, i, j), (k+1, i, j)]`` for every node with a neighbour above: shape (nz, nx+1, ny+1)."""
        lam = self.element_lambdas()
        # entry between the two z-ends of an element edge: sum lam_p * (±1/8)^2 with sign of p[0]
        s = sum((-v if p[0] == "d" else v) for p, v in lam.items()) / 64.0
        # spread the element value to its 4 z-edges (x-y corners): 'aa' coef gives value/4 per corner
        out = _untransform({"aa": 4.0 * s}, (1, 2))
        for face in self.robin:
            if face[0] == "z":
                continue
            # x or y faces have z-edges: working face axes (z, other)
            lf = self.face_lambdas(face)
            sf = (lf["aa"] + lf["ad"] - lf["da"] - lf["dd"]) / 16.0  # pattern order (z, other)
            edge = _untransform({"a": 2.0 * sf}, (1,))  # (nz, n_other+1)
            ax = _FACE_WORK_AXIS[face[0]]
            idx = 0 if face.endswith("min") else out.shape[ax] - 1
            out = _face_add(out, face, edge, idx=idx)
        return out


def _face_add(out, face, val, idx=None):
    ax = _FACE_WORK_AXIS[face[0]]
    if idx is None:
        idx = 0 if face.endswith("min") else out.shape[ax] - 1
    sl = [slice(None)] * out.ndim
    sl[ax] = idx
    return out.at[tuple(sl)].add(val)


# --------------------------------------------------------------------------------------
def _as(a, dtype):
    return jnp.asarray(a, dtype=dtype)


def _ambient(fields: ThermalFields, grid_shape, face, dtype):
    amb = fields.ambient.get(face) if isinstance(fields.ambient, dict) else None
    if amb is None:
        raise ValueError(
            f"`ThermalFields.ambient` has no entry for face {face!r}, which has a heat-transfer "
            f"coefficient; give an ambient temperature [K] for every face in `h`."
        )
    return jnp.broadcast_to(_as(amb, dtype), face_shape(grid_shape, face))


def build_operator(grid: TensorGrid, fields: ThermalFields, *, dtype=None) -> Q1Operator:
    """The steady operator ``K`` of ``grid`` and ``fields`` (working layout).

    Parameters
    ----------
    grid : TensorGrid
        The mesh.
    fields : ThermalFields
        Conductivities [W/m/K] and face heat-transfer coefficients [W/m^2/K]; sources and
        capacities are not used here.
    dtype : numpy dtype, optional
        Floating type of the operator; defaults to ``fields.kx``'s floating type.
    """
    dtype = dtype or _float_dtype(fields.kx)
    hx, hy, hz = (_as(s, dtype) for s in grid.spacing)
    k = tuple(to_work(_as(a, dtype)) for a in (fields.kz, fields.kx, fields.ky))
    robin = {}
    for face in FACES:
        if face in fields.h:
            hf = jnp.broadcast_to(_as(fields.h[face], dtype), face_shape(grid.shape, face))
            robin[face] = _face_to_work(hf, face)
    return Q1Operator((hz, hx, hy), k, robin)


def _float_dtype(a):
    dt = jnp.asarray(a).dtype
    return dt if jnp.issubdtype(dt, jnp.floating) else jnp.result_type(float)


def load_vector(grid: TensorGrid, fields: ThermalFields, *, dtype=None, source=None,
                ambient_shift=0.0):
    """``b = ∫ q v dx + ∫ h (T_amb - shift) v ds`` in the working layout [W].

    ``source`` overrides ``fields.source`` [W/m^3] (element shape, grid layout). With
    ``ambient_shift`` the right-hand side is that of ``T - shift`` (a constant reference
    temperature [K]), which keeps the relative residual meaningful when temperatures are large.
    """
    dtype = dtype or _float_dtype(fields.kx)
    q = to_work(_as(fields.source if source is None else source, dtype))
    hx, hy, hz = (_as(s, dtype) for s in grid.spacing)
    vol = hz[:, None, None] * hx[None, :, None] * hy[None, None, :]
    b = _untransform({"aaa": q * vol}, (0, 1, 2))
    hs = (hz, hx, hy)
    for face in FACES:
        if face not in fields.h:
            continue
        hf = _face_to_work(jnp.broadcast_to(_as(fields.h[face], dtype), face_shape(grid.shape, face)), face)
        amb = _face_to_work(_ambient(fields, grid.shape, face, dtype), face) - ambient_shift
        ax = _FACE_WORK_AXIS[face[0]]
        t = [i for i in range(3) if i != ax]
        area = hs[t[0]][:, None] * hs[t[1]][None, :]
        b = _face_add(b, face, _untransform({"aa": hf * amb * area}, (0, 1)))
    return b


def face_heat_flow(grid: TensorGrid, fields: ThermalFields, temperature, *, dtype=None) -> dict:
    """Heat leaving through each convective face, ``∫ h (T - T_amb) dA`` [W].

    ``temperature`` is a node array in the grid layout [K]. The face integral of the bilinear
    trace is exact: each face cell contributes ``h A (mean of its 4 corner temperatures - T_amb)``.
    """
    dtype = dtype or _float_dtype(fields.kx)
    T = jnp.asarray(temperature, dtype)
    out = {}
    axis_of = {"x": 0, "y": 1, "z": 2}
    for face in FACES:
        if face not in fields.h:
            continue
        ax = axis_of[face[0]]
        idx = 0 if face.endswith("min") else T.shape[ax] - 1
        s = jax.lax.index_in_dim(T, idx, axis=ax, keepdims=False)
        mean = 0.25 * (s[1:, 1:] + s[1:, :-1] + s[:-1, 1:] + s[:-1, :-1])
        hf = jnp.broadcast_to(_as(fields.h[face], dtype), face_shape(grid.shape, face))
        amb = _ambient(fields, grid.shape, face, dtype)
        out[face] = face_integral(grid, face, hf * (mean - amb), dtype=dtype)
    return out


def _face_spacings(grid: TensorGrid, face: str, dtype):
    dx, dy, dz = (_as(s, dtype) for s in grid.spacing)
    return {"z": (dx, dy), "x": (dy, dz), "y": (dx, dz)}[face[0]]


def face_integral(grid: TensorGrid, face: str, values, *, dtype=None):
    """``sum(values * face cell areas)`` over one boundary face [values x m^2].

    Written as a contraction with the 1-D cell sizes, so that under ``jit`` no face-sized
    array of areas is baked into the program as a constant.
    """
    dtype = dtype or _float_dtype(values)
    d0, d1 = _face_spacings(grid, face, dtype)
    return jnp.einsum("...ij,i,j->...", jnp.asarray(values, dtype), d0, d1)


def volume_integral(grid: TensorGrid, values, *, dtype=None):
    """``sum(values * cell volumes)`` over the elements (grid layout, leading batch axes allowed).

    A contraction with the 1-D cell sizes: no element-sized constant under ``jit``.
    """
    dtype = dtype or _float_dtype(values)
    dx, dy, dz = (_as(s, dtype) for s in grid.spacing)
    return jnp.einsum("...ijk,i,j,k->...", jnp.asarray(values, dtype), dx, dy, dz)


# -- grid-layout convenience wrappers (tests, users) ------------------------------------
def stiffness_matvec(grid: TensorGrid, fields: ThermalFields, v, *, dtype=None):
    """``K v`` for a node array ``v`` in the grid layout (conduction + Robin) [W]."""
    op = build_operator(grid, fields, dtype=dtype)
    return from_work(op(to_work(jnp.asarray(v, op.dtype).reshape(grid.node_shape))))


def capacity_matvec(grid: TensorGrid, fields: ThermalFields, v, *, lumped: bool = False, dtype=None):
    """``C v`` with the consistent (or lumped) capacity matrix, grid layout [W/s·s/K·K = J]."""
    op = build_operator(grid, fields, dtype=dtype)
    c = to_work(_as(fields.heat_capacity, op.dtype))
    u = to_work(jnp.asarray(v, op.dtype).reshape(grid.node_shape))
    if lumped:
        m = Q1Operator(op.h, op.k, {}, c, jnp.asarray(1.0, op.dtype), True).lumped_diagonal()
        return from_work(m * u)
    _, vol = op._geometry()
    w = _transform3(u, (0, 1, 2))
    lam = {p: c * vol * (1.0 / 3.0) ** p.count("d") for p in _PATTERNS}
    return from_work(_untransform({p: lam[p] * w[p] for p in _PATTERNS}, (0, 1, 2)))


def lumped_capacity(grid: TensorGrid, fields: ThermalFields, *, dtype=None):
    """Nodal lumped heat capacity (row sums of the consistent matrix), grid layout [J/K]."""
    return capacity_matvec(grid, fields, jnp.ones(grid.node_shape), lumped=True, dtype=dtype)
