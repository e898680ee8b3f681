"""Post-processing of nodal temperatures: energy balance, face heat flows, region statistics.

One energy balance serves every solve path: :func:`relative_imbalance` is the formula, and
:func:`energy_balance` evaluates it on NumPy input (float64, what the reference path and users
call) or, under a JAX trace, with the matrix-free integrals of :mod:`solvers.fem` (what the
jitted fast solves call). Both integrals are exact for the Q1 (trilinear) temperature.
"""

from __future__ import annotations

from collections.abc import Mapping

import jax
import jax.numpy as jnp
import numpy as np

from . import fem
from .grid import FACES, TensorGrid, ThermalFields, face_shape

__all__ = [
    "element_mean",
    "energy_balance",
    "face_heat_out",
    "region_statistics",
    "relative_imbalance",
    "scatter_to_nodes",
]


def _is_traced(tree) -> bool:
    return any(isinstance(x, jax.core.Tracer) for x in jax.tree_util.tree_leaves(tree))


def relative_imbalance(power_in, heat_out, stored=0.0):
    """The relative energy imbalance ``|P - Σ_f Q_f - S| / max(|P|, Σ_f |Q_f|, |S|)``.

    The single definition used by every solver of :mod:`solvers`. Zero when all flows are zero.

    Parameters
    ----------
    power_in : float or array
        Heat generated ``P = ∫ q dV`` [W].
    heat_out : dict of str -> float or array, or float or array
        Heat ``Q_f`` leaving through each convective face [W] (a single value is one face).
    stored : float or array
        Rate of heat storage ``S`` [W] (transient solves; zero when steady).

    Returns
    -------
    float or array
        Dimensionless; NumPy for NumPy input, JAX for JAX input (traceable). Time series give
        one value per entry.
    """
    values = list(heat_out.values()) if isinstance(heat_out, Mapping) else [heat_out]
    xp = jnp if any(isinstance(v, jax.Array) for v in [power_in, stored, *values]) else np
    total = sum(values, 0.0)
    size = sum((xp.abs(v) for v in values), 0.0)
    scale = xp.maximum(xp.maximum(xp.abs(power_in), size), xp.abs(stored))
    out = xp.abs(power_in - total - stored) / xp.where(scale > 0, scale, 1.0)
    return float(out) if xp is np and np.ndim(out) == 0 else out


def face_heat_out(grid: TensorGrid, fields: ThermalFields, temperature) -> dict:
    """Heat leaving through each convective face, ``∫ h (T - T_amb) dA`` [W] (NumPy, float64).

    The integral of the bilinear face trace is exact: each face cell contributes
    ``h A (mean of its 4 corner temperatures - T_amb)``.

    Parameters
    ----------
    grid : TensorGrid
    fields : ThermalFields
        Supplies ``h`` and ``ambient`` per face.
    temperature : array
        Nodal temperature [K], shape ``grid.node_shape`` (or flat).

    Returns
    -------
    dict of str -> float
        One entry per face in ``fields.h``, in the order of :data:`solvers.FACES`.
    """
    t = np.asarray(temperature, dtype=float).reshape(grid.node_shape)
    out = {}
    for face in FACES:
        if face not in fields.h:
            continue
        axis = "xyz".index(face[0])
        nodes = np.take(t, 0 if face.endswith("min") else t.shape[axis] - 1, axis=axis)
        mean = 0.25 * (nodes[:-1, :-1] + nodes[1:, :-1] + nodes[:-1, 1:] + nodes[1:, 1:])
        shape = face_shape(grid.shape, face)
        h = np.broadcast_to(np.asarray(fields.h[face], dtype=float), shape)
        t_amb = np.broadcast_to(np.asarray(fields.ambient[face], dtype=float), shape)
        out[face] = float(np.sum(h * (mean - t_amb) * grid.face_areas(face)))
    return out


def energy_balance(grid: TensorGrid, fields: ThermalFields, temperature, *, source=None, dtype=None):
    """Heat generated against heat convected away, and their relative imbalance.

    Parameters
    ----------
    grid : TensorGrid
    fields : ThermalFields
        Supplies ``h`` and ``ambient`` per face and, unless ``source`` is given, the source.
    temperature : array
        Nodal temperature [K], shape ``grid.node_shape``.
    source : array, optional
        Element source [W/m^3] to use instead of ``fields.source``.
    dtype : numpy dtype, optional
        Precision of the traced evaluation (default: that of ``temperature``); NumPy input is
        always evaluated in float64.

    Returns
    -------
    power_in : float or array
        ``∫ q dV`` [W].
    heat_out : dict of str -> float or array
        ``∫ h (T - T_amb) dA`` per convective face [W].
    relative : float or array
        :func:`relative_imbalance` of the two (no storage term).

    Notes
    -----
    On concrete input the values are Python floats computed with NumPy in float64; when any
    input is a JAX tracer (inside ``jit``/``grad``/``vmap``) they are JAX scalars computed with
    :func:`solvers.fem.volume_integral` and :func:`solvers.fem.face_heat_flow`. The formula is
    the same; ``tests/solvers/test_backends.py`` checks that the two agree.

    Examples
    --------
    >>> import numpy as np
    >>> from solvers import TensorGrid, ThermalFields
    >>> from solvers.post import energy_balance
    >>> g = TensorGrid(np.linspace(0, 1e-2, 3), np.linspace(0, 1e-2, 3), np.linspace(0, 1e-3, 2),
    ...                np.zeros((2, 2, 1), np.int32), ("all",), np.zeros((2, 2, 1), np.int32), ("si",))
    >>> e = np.ones((2, 2, 1))
    >>> f = ThermalFields(kx=e, ky=e, kz=e, heat_capacity=e, source=1e6 * e,
    ...                   h={"zmax": np.full((2, 2), 1e3)}, ambient={"zmax": np.full((2, 2), 300.0)})
    >>> p, q, rel = energy_balance(g, f, np.full(g.node_shape, 400.0))   # 0.1 W in, 10 W out
    >>> round(p, 6), round(q["zmax"], 6), round(rel, 6)
    (0.1, 10.0, 0.99)
    """
    q = fields.source if source is None else source
    if _is_traced((fields, temperature, q)):
        dtype = dtype or jnp.result_type(temperature)
        power_in = fem.volume_integral(grid, jnp.broadcast_to(jnp.asarray(q, dtype), grid.shape), dtype=dtype)
        heat_out = fem.face_heat_flow(grid, fields, temperature, dtype=dtype)
    else:
        power_in = float(np.sum(np.broadcast_to(np.asarray(q, dtype=float), grid.shape) * grid.cell_volumes()))
        heat_out = face_heat_out(grid, fields, temperature)
    return power_in, heat_out, relative_imbalance(power_in, heat_out)


def element_mean(temperature) -> np.ndarray:
    """Mean of the 8 corner values of every element (the element temperature [K]).

    Parameters
    ----------
    temperature : array, shape (nx+1, ny+1, nz+1)
        Nodal values.

    Returns
    -------
    numpy.ndarray, shape (nx, ny, nz)
    """
    t = np.asarray(temperature, dtype=float)
    nx, ny, nz = (s - 1 for s in t.shape)
    return sum(t[a:a + nx, b:b + ny, c:c + nz] for a in (0, 1) for b in (0, 1) for c in (0, 1)) / 8.0


def scatter_to_nodes(values) -> np.ndarray:
    """Add each element value to its 8 corner nodes.

    ``scatter_to_nodes(q * grid.cell_volumes() / 8)`` is the consistent Q1 load of a
    piecewise-constant source ``q`` [W/m^3] (exact).

    Parameters
    ----------
    values : array, shape (nx, ny, nz)

    Returns
    -------
    numpy.ndarray, shape (nx+1, ny+1, nz+1)
    """
    e = np.asarray(values, dtype=float)
    nx, ny, nz = e.shape
    out = np.zeros((nx + 1, ny + 1, nz + 1))
    for a in (0, 1):
        for b in (0, 1):
            for c in (0, 1):
                out[a:nx + a, b:ny + b, c:nz + c] += e
    return out


def region_statistics(grid: TensorGrid, temperature) -> dict:
    """Maximum, mean and hotspot of the temperature in every named region.

    The Q1 temperature is trilinear in each element, so its maximum over a region is
    attained at a node: ``max`` is the largest *nodal* temperature over the nodes of the
    region's elements (the exact maximum of the finite-element field there), and
    ``hotspot`` is that node's coordinates. ``mean`` is the exact volume average of the
    field over the region (each element contributes the mean of its 8 corners, weighted by
    its volume).

    Parameters
    ----------
    grid : TensorGrid
        The mesh, with ``region`` ids and ``region_names``.
    temperature : array or ThermalSolution
        Nodal temperature [K], shape ``grid.node_shape``.

    Returns
    -------
    dict of str -> dict
        ``{name: {"max": K, "mean": K, "hotspot": (x, y, z) [m], "volume": m^3}}`` for every
        region that has elements.
    """
    from .steady import ThermalSolution

    if isinstance(temperature, ThermalSolution):
        temperature = temperature.temperature
    T = np.asarray(temperature, dtype=float)
    if T.shape != grid.node_shape:
        raise ValueError(f"`solvers.region_statistics`: temperature has shape {T.shape}, expected "
                         f"the node shape {grid.node_shape}")
    nx, ny, nz = grid.shape
    corners = [T[a:a + nx, b:b + ny, c:c + nz] for a in (0, 1) for b in (0, 1) for c in (0, 1)]
    emean = sum(corners) / 8.0
    emax = np.maximum.reduce(corners)
    vol = grid.cell_volumes()
    out = {}
    for r, name in enumerate(grid.region_names):
        mask = grid.region == r
        if not mask.any():
            continue
        v = vol[mask]
        mean = float(np.sum(emean[mask] * v) / np.sum(v))
        # nodal maximum: the element with the largest corner, then that corner
        flat = np.flatnonzero(mask)
        e = flat[np.argmax(emax.ravel()[flat])]
        i, j, k = np.unravel_index(e, grid.shape)
        block = T[i:i + 2, j:j + 2, k:k + 2]
        a, b, c = np.unravel_index(np.argmax(block), (2, 2, 2))
        out[name] = {
            "max": float(block[a, b, c]),
            "mean": mean,
            "hotspot": (float(grid.x[i + a]), float(grid.y[j + b]), float(grid.z[k + c])),
            "volume": float(np.sum(v)),
        }
    return out
