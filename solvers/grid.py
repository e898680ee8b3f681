"""Tensor-product (rectilinear) hexahedral grids and the fields that live on them.

This module is the contract between the domain layer (`codesign`) and the numerics
(`solvers`): a grid of node coordinates, per-element material fields, named regions and
six named boundary faces carrying a heat-transfer coefficient and an ambient temperature.
It knows nothing of chiplets.

Conventions
-----------
* Nodes are indexed ``(i, j, k)`` along ``(x, y, z)``; node arrays have shape
  ``(nx + 1, ny + 1, nz + 1)`` and element arrays ``(nx, ny, nz)``. Flattening is C order,
  so ``z`` varies fastest and a z-line is contiguous in memory.
* ``z`` grows upwards: ``zmax`` is the top face (heat-sink side), ``zmin`` the bottom face.
* Everything is SI: metres, W/m/K, J/m^3/K, W/m^3, W/m^2/K, kelvin.
* The six faces are named ``xmin, xmax, ymin, ymax, zmin, zmax``. A face field has the
  shape of the cells of that face: ``zmin/zmax -> (nx, ny)``, ``xmin/xmax -> (ny, nz)``,
  ``ymin/ymax -> (nx, nz)``.
"""

from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass, field
from typing import Mapping, Sequence

import jax
import jax.numpy as jnp
import numpy as np

__all__ = [
    "FACES",
    "GridGeometry",
    "MeshError",
    "TensorGrid",
    "ThermalFields",
    "graded_axis",
    "face_shape",
]

FACES: tuple[str, ...] = ("xmin", "xmax", "ymin", "ymax", "zmin", "zmax")


class MeshError(ValueError):
    """A grid could not be built from the given breakpoints and controls."""


@dataclass(frozen=True, eq=False)
class TensorGrid:
    """A rectilinear hexahedral grid with named element regions.

    Parameters
    ----------
    x, y, z : numpy.ndarray
        Strictly increasing node coordinates [m].
    region : numpy.ndarray
        ``int32`` array of shape ``(nx, ny, nz)``: the region id of every element.
    region_names : tuple of str
        ``region_names[r]`` names region id ``r`` (for example ``"dies/gpu"``).
    material : numpy.ndarray
        ``int32`` array of shape ``(nx, ny, nz)``: the material id of every element.
    material_names : tuple of str
        Names of the material ids.
    """

    x: np.ndarray
    y: np.ndarray
    z: np.ndarray
    region: np.ndarray
    region_names: tuple[str, ...]
    material: np.ndarray
    material_names: tuple[str, ...]

    def __post_init__(self) -> None:
        for axis in ("x", "y", "z"):
            c = np.asarray(getattr(self, axis), dtype=float)
            if c.ndim != 1 or c.size < 2 or not np.all(np.diff(c) > 0):
                raise MeshError(
                    f"`TensorGrid.{axis}` must be a strictly increasing 1-D array of at least "
                    f"2 node coordinates; got {c!r}."
                )
            object.__setattr__(self, axis, c)
        for name in ("region", "material"):
            a = np.asarray(getattr(self, name), dtype=np.int32)
            if a.shape != self.shape:
                raise MeshError(f"`TensorGrid.{name}` has shape {a.shape}, expected {self.shape}.")
            object.__setattr__(self, name, a)

    # -- identity by content ----------------------------------------------------------------
    # The grid is a static argument of the jitted solvers: compiled programs bake its coordinates
    # in. Hashing by content lets two separately built but identical grids share compiled code
    # (hashing by identity recompiled, 12-50 s, for every new grid object).
    def _content_key(self) -> str:
        key = self.__dict__.get("_key")
        if key is None:
            h = hashlib.blake2b(digest_size=20)
            for a in (self.x, self.y, self.z, self.region, self.material):
                h.update(str(a.shape).encode())
                h.update(np.ascontiguousarray(a).tobytes())
            h.update(repr((self.region_names, self.material_names)).encode())
            key = h.hexdigest()
            object.__setattr__(self, "_key", key)
        return key

    def __hash__(self) -> int:
        return hash(self._content_key())

    def __eq__(self, other: object) -> bool:
        if self is other:
            return True
        if not isinstance(other, TensorGrid):
            return NotImplemented
        return self._content_key() == other._content_key()

    # -- sizes -------------------------------------------------------------------------
    @property
    def shape(self) -> tuple[int, int, int]:
        """Number of elements along x, y, z."""
        return (len(self.x) - 1, len(self.y) - 1, len(self.z) - 1)

    @property
    def node_shape(self) -> tuple[int, int, int]:
        """Number of nodes along x, y, z."""
        return (len(self.x), len(self.y), len(self.z))

    @property
    def n_elements(self) -> int:
        nx, ny, nz = self.shape
        return nx * ny * nz

    @property
    def n_nodes(self) -> int:
        a, b, c = self.node_shape
        return a * b * c

    @property
    def spacing(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Cell sizes ``(dx, dy, dz)`` [m]."""
        return np.diff(self.x), np.diff(self.y), np.diff(self.z)

    def cell_volumes(self) -> np.ndarray:
        """Element volumes [m^3], shape ``(nx, ny, nz)``."""
        dx, dy, dz = self.spacing
        return dx[:, None, None] * dy[None, :, None] * dz[None, None, :]

    def face_areas(self, face: str) -> np.ndarray:
        """Areas [m^2] of the cells of one boundary face (shape from :func:`face_shape`)."""
        dx, dy, dz = self.spacing
        if face in ("zmin", "zmax"):
            return np.outer(dx, dy)
        if face in ("xmin", "xmax"):
            return np.outer(dy, dz)
        if face in ("ymin", "ymax"):
            return np.outer(dx, dz)
        raise MeshError(f"unknown face {face!r}; faces are {', '.join(FACES)}")

    def region_mask(self, name: str) -> np.ndarray:
        """Boolean element mask of one region (exact name, or every region under ``name/``)."""
        ids = [r for r, n in enumerate(self.region_names) if n == name or n.startswith(name + "/")]
        if not ids:
            raise MeshError(
                f"no region named {name!r}; regions are: {', '.join(self.region_names)}"
            )
        return np.isin(self.region, ids)

    def element_centres(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Centre coordinates of the elements along each axis."""
        return tuple(0.5 * (c[1:] + c[:-1]) for c in (self.x, self.y, self.z))  # type: ignore[return-value]

    # -- adapters --------------------------------------------------------------------------
    def to_skfem(self):
        """The same grid as a :class:`skfem.MeshHex` with named subdomains and boundaries.

        Nodes and elements keep this grid's C-order numbering, so a nodal vector or an element
        field can be passed to scikit-fem without permutation.
        """
        from skfem import MeshHex

        X, Y, Z = np.meshgrid(self.x, self.y, self.z, indexing="ij")
        p = np.vstack([X.ravel(), Y.ravel(), Z.ravel()])
        # 32-bit node ids while they fit (VTK and meshio read either): half the memory of the cells
        ids = np.arange(self.n_nodes, dtype=np.int32 if self.n_nodes < 2**31 else np.int64).reshape(self.node_shape)
        c = lambda di, dj, dk: ids[  # noqa: E731
            di : di + self.shape[0], dj : dj + self.shape[1], dk : dk + self.shape[2]
        ].ravel()
        # scikit-fem's corner order for hexahedra (see MeshHex.init_tensor):
        # 0:(0,0,0) 1:(0,1,0) 2:(1,0,0) 3:(0,0,1) 4:(1,1,0) 5:(0,1,1) 6:(1,0,1) 7:(1,1,1)
        t = np.vstack(
            [c(0, 0, 0), c(0, 1, 0), c(1, 0, 0), c(0, 0, 1), c(1, 1, 0), c(0, 1, 1), c(1, 0, 1), c(1, 1, 1)]
        ).astype(np.int32)
        mesh = MeshHex(p, t)
        flat = self.region.ravel()
        subdomains = {n: np.flatnonzero(flat == r) for r, n in enumerate(self.region_names)}
        x0, x1 = self.x[0], self.x[-1]
        y0, y1 = self.y[0], self.y[-1]
        z0, z1 = self.z[0], self.z[-1]
        tol = 1e-9 * max(x1 - x0, y1 - y0, z1 - z0)
        boundaries = {
            "xmin": mesh.facets_satisfying(lambda q: np.abs(q[0] - x0) < tol, boundaries_only=True),
            "xmax": mesh.facets_satisfying(lambda q: np.abs(q[0] - x1) < tol, boundaries_only=True),
            "ymin": mesh.facets_satisfying(lambda q: np.abs(q[1] - y0) < tol, boundaries_only=True),
            "ymax": mesh.facets_satisfying(lambda q: np.abs(q[1] - y1) < tol, boundaries_only=True),
            "zmin": mesh.facets_satisfying(lambda q: np.abs(q[2] - z0) < tol, boundaries_only=True),
            "zmax": mesh.facets_satisfying(lambda q: np.abs(q[2] - z1) < tol, boundaries_only=True),
        }
        return mesh.with_subdomains(subdomains).with_boundaries(boundaries)

    def to_meshio(self, point_data: Mapping[str, np.ndarray] | None = None,
                  cell_data: Mapping[str, np.ndarray] | None = None):
        """The grid as a :class:`meshio.Mesh` of VTK hexahedra (VTK corner order).

        ``point_data`` arrays have the node shape (or are flat), ``cell_data`` arrays the
        element shape (or are flat). ``region`` and ``material`` ids are always included.
        """
        import meshio

        X, Y, Z = np.meshgrid(self.x, self.y, self.z, indexing="ij")
        points = np.column_stack([X.ravel(), Y.ravel(), Z.ravel()])
        # 32-bit node ids while they fit (VTK and meshio read either): half the memory of the cells
        ids = np.arange(self.n_nodes, dtype=np.int32 if self.n_nodes < 2**31 else np.int64).reshape(self.node_shape)
        nx, ny, nz = self.shape
        c = lambda di, dj, dk: ids[di : di + nx, dj : dj + ny, dk : dk + nz].ravel()  # noqa: E731
        # VTK_HEXAHEDRON: bottom quad counter-clockwise, then top quad.
        cells = np.column_stack(
            [c(0, 0, 0), c(1, 0, 0), c(1, 1, 0), c(0, 1, 0), c(0, 0, 1), c(1, 0, 1), c(1, 1, 1), c(0, 1, 1)]
        )
        cd = {"region": [self.region.ravel()], "material": [self.material.ravel()]}
        for k, v in (cell_data or {}).items():
            cd[k] = [np.asarray(v).reshape(-1)]
        pd = {k: np.asarray(v).reshape(-1) for k, v in (point_data or {}).items()}
        return meshio.Mesh(points, [("hexahedron", cells)], point_data=pd, cell_data=cd)


@jax.tree_util.register_dataclass
@dataclass(frozen=True)
class GridGeometry:
    """The node coordinates of a :class:`TensorGrid` as a pytree (no regions, no materials).

    The compiled solver programs take this instead of the grid itself: the coordinates are
    traced arrays and only the numbers of nodes are fixed at compile time, so two meshes with
    the same numbers of nodes along x, y and z share one compiled program (for example the
    variants of a layer-thickness sweep), and a batch may even vary the coordinates. It has
    the geometric part of :class:`TensorGrid`'s interface, computed with ``jax.numpy``.
    """

    x: jax.Array
    y: jax.Array
    z: jax.Array

    @staticmethod
    def of(grid: "TensorGrid | GridGeometry") -> "GridGeometry":
        if isinstance(grid, GridGeometry):
            return grid
        return GridGeometry(jnp.asarray(grid.x), jnp.asarray(grid.y), jnp.asarray(grid.z))

    @property
    def shape(self) -> tuple[int, int, int]:
        return (self.x.shape[-1] - 1, self.y.shape[-1] - 1, self.z.shape[-1] - 1)

    @property
    def node_shape(self) -> tuple[int, int, int]:
        return (self.x.shape[-1], self.y.shape[-1], self.z.shape[-1])

    @property
    def n_nodes(self) -> int:
        return int(np.prod(self.node_shape))

    @property
    def n_elements(self) -> int:
        return int(np.prod(self.shape))

    @property
    def spacing(self):
        """Cell sizes ``(dx, dy, dz)`` [m]."""
        return jnp.diff(self.x), jnp.diff(self.y), jnp.diff(self.z)

    def cell_volumes(self):
        """Element volumes [m^3], shape ``(nx, ny, nz)``."""
        dx, dy, dz = self.spacing
        return dx[:, None, None] * dy[None, :, None] * dz[None, None, :]

    def face_areas(self, face: str):
        """Areas [m^2] of the cells of one boundary face (shape from :func:`face_shape`)."""
        dx, dy, dz = self.spacing
        a, b = {"z": (dx, dy), "x": (dy, dz), "y": (dx, dz)}[face[0]]
        return jnp.outer(a, b)


def face_shape(grid_shape: Sequence[int], face: str) -> tuple[int, int]:
    """Shape of a face field for a grid of ``grid_shape`` elements."""
    nx, ny, nz = grid_shape
    return {
        "xmin": (ny, nz), "xmax": (ny, nz),
        "ymin": (nx, nz), "ymax": (nx, nz),
        "zmin": (nx, ny), "zmax": (nx, ny),
    }[face]


@jax.tree_util.register_dataclass
@dataclass(frozen=True)
class ThermalFields:
    """Everything a thermal solve sweeps or differentiates, as a pytree of arrays.

    All element fields have the grid's element shape ``(nx, ny, nz)``.

    Parameters
    ----------
    kx, ky, kz : array
        Principal conductivities of each element [W/m/K].
    heat_capacity : array
        Volumetric heat capacity rho*c of each element [J/m^3/K].
    source : array
        Volumetric heat source of each element [W/m^3].
    h : dict of str -> array
        Heat-transfer coefficient per boundary face cell [W/m^2/K], keyed by face name
        (``zmax``, ``zmin``, ...). A face that is absent is adiabatic.
    ambient : dict of str -> array
        Ambient temperature per boundary face cell [K], same keys and shapes as ``h``.
    """

    kx: jax.Array
    ky: jax.Array
    kz: jax.Array
    heat_capacity: jax.Array
    source: jax.Array
    h: dict = field(default_factory=dict)
    ambient: dict = field(default_factory=dict)

    def with_(self, **changes) -> "ThermalFields":
        """A copy with some fields replaced."""
        return dataclasses.replace(self, **changes)

    def total_power(self, grid: TensorGrid) -> float:
        """Sum of the volumetric sources times element volumes [W]."""
        return float(np.sum(np.asarray(self.source) * grid.cell_volumes()))


def graded_axis(
    breakpoints: Sequence[float],
    *,
    max_size: float,
    min_size: float | None = None,
    grading: float = 1.0,
    min_cells: int = 1,
) -> np.ndarray:
    """Node coordinates along one axis with a node on every breakpoint.

    Each interval between consecutive breakpoints is split into at least ``min_cells``
    cells, none larger than ``max_size``. With ``grading > 1`` and ``min_size`` given, cells
    start at about ``min_size`` next to each breakpoint and grow geometrically by at most the
    factor ``grading`` towards the middle of the interval (symmetric grading), capped at
    ``max_size``.

    Parameters
    ----------
    breakpoints : sequence of float
        Coordinates that must be nodes [m]; sorted and de-duplicated here.
    max_size : float
        Largest cell size [m].
    min_size : float, optional
        Cell size next to a breakpoint when grading [m]; defaults to ``max_size``.
    grading : float
        Largest ratio between neighbouring cells (>= 1).
    min_cells : int
        Fewest cells in each interval.

    Examples
    --------
    >>> graded_axis([0.0, 1.0], max_size=0.25).tolist()
    [0.0, 0.25, 0.5, 0.75, 1.0]
    """
    if not (max_size > 0 and np.isfinite(max_size)):
        raise MeshError(f"max_size must be a positive length, got {max_size!r}")
    if grading < 1 or not np.isfinite(grading):
        raise MeshError(f"grading must be a finite ratio >= 1, got {grading!r}")
    if min_cells < 1:
        raise MeshError(f"min_cells must be >= 1, got {min_cells!r}")
    min_size = max_size if min_size is None else min(min_size, max_size)
    if not min_size > 0:
        raise MeshError(f"min_size must be a positive length, got {min_size!r}")
    b = np.unique(np.asarray(breakpoints, dtype=float))
    if b.size < 2:
        raise MeshError("an axis needs at least two distinct breakpoints")
    # Merge breakpoints closer than a relative 1e-9 of the span: floating-point duplicates.
    span = b[-1] - b[0]
    keep = np.concatenate([[True], np.diff(b) > 1e-9 * span])
    b = b[keep]
    nodes = [b[:1]]
    for a, c in zip(b[:-1], b[1:]):
        nodes.append(_split_interval(a, c, max_size, min_size, grading, min_cells)[1:])
    return np.concatenate(nodes)


def _split_interval(a: float, b: float, hmax: float, hmin: float, r: float, nmin: int) -> np.ndarray:
    """Nodes on [a, b]: the fewest cells ``c_i = min(hmin·r^min(i, n-1-i), hmax)`` that cover the
    interval, scaled down uniformly to fit it exactly (ratios and the cap are kept)."""
    length = b - a
    if r <= 1.0 or hmin >= hmax:
        n = max(nmin, int(np.ceil(length / hmax - 1e-9)))
        return np.linspace(a, b, n + 1)
    n = max(nmin, 1)
    while True:
        i = np.arange(n)
        cells = np.minimum(hmin * r ** np.minimum(i, n - 1 - i), hmax)
        if cells.sum() >= length * (1 - 1e-12):
            break
        n += 1
    cells *= length / cells.sum()
    x = a + np.concatenate([[0.0], np.cumsum(cells)])
    x[-1] = b
    return x
