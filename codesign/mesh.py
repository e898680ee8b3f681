"""Meshing a :class:`~codesign.stack.Stack` into a conforming tensor-product hex grid.

Grid lines lie on every layer interface, layer extent, chiplet edge, power-block edge and
power-map cell edge; lateral cells are at most ``mesh.max_lateral_size`` and graded
geometrically away from edges (``mesh.grading``, starting from ``mesh.min_lateral_size``);
every layer gets at least ``mesh.cells_per_layer`` cells through its thickness (a 2 µm bond
layer keeps its own cells), none thicker than ``mesh.max_vertical_size``.

Region names are ``"<layer>"`` (the fill), ``"<layer>/<chiplet>"``, ``"<layer>/<interconnect
kind>"`` (homogenised bumps) and ``"<layer>/surround"`` (outside the layer's extent). A die that
spans several layers (``Chiplet.spans``) is one region ``"<bottom layer>/<chiplet>"`` through all
of them.
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from solvers import TensorGrid, graded_axis

from .errors import ModelError
from .stack import HeatSource, Layer, Rect, Stack

__all__ = ["MAX_CELLS", "MeshGeometry", "active_z", "check_cell_limit", "chiplet_z", "estimate_cells", "export_vtu",
           "mesh_geometry", "read_vtu", "rect_mask", "with_mesh_overrides"]

#: Largest mesh (cells) that :func:`mesh_geometry` (so :func:`codesign.build`, the command line and
#: sweeps) builds unless asked for more with ``max_cells=``. The one source of this limit: the layout
#: reader checks a layout's own ``[mesh]`` against it too. Why 30 million: the default solve peaks
#: at 1.2-1.26 GB for 2.7M cells (benchmarks/RESULTS.md), so ~14 GB here, the most a 16-32 GB
#: workstation can hold; a typo such as ``--lateral-size "1 nm"`` asks for ~1e15 cells and, unguarded,
#: ends in a MemoryError or a kernel OOM kill.
MAX_CELLS = 30_000_000
#: Peak memory of a default steady solve per cell [GB]: 1.26 GB at 2.7M cells (benchmarks/RESULTS.md).
_GB_PER_CELL = 1.26 / 2.7e6

_MESH_KEYWORDS = ("max_lateral_size", "min_lateral_size", "grading", "cells_per_layer", "max_vertical_size")


@dataclass(frozen=True, eq=False)
class MeshGeometry:
    """The conforming grid of a stack: where every layer, chiplet and heat source lies.

    Geometry only; the fields on it come from :meth:`codesign.Model.fields`.

    Attributes
    ----------
    stack : Stack
        The stack as meshed (mesh-control overrides applied).
    grid : solvers.TensorGrid
        Region and material ids per element.
    chiplet_regions : dict
        Chiplet name -> region name in ``grid.region_names``.
    layer_z : dict
        Layer name -> ``(z_bottom, z_top)`` [m].
    heat_sources : tuple
        The extra :class:`~codesign.stack.HeatSource` objects whose edges are grid lines.
    """

    stack: Stack
    grid: TensorGrid
    chiplet_regions: dict
    layer_z: dict
    heat_sources: tuple = ()
    bisect: tuple = (0, 0, 0)  # times every cell was halved along x, y, z after meshing (build(bisect=...))

    def summary(self) -> str:
        nx, ny, nz = self.grid.shape
        dx, dy, dz = self.grid.spacing
        def span(lo: float, hi: float) -> str:  # "141-489 um", "0.5-4 mm": one unit, no exponents
            if hi < 1e-3:
                return f"{lo * 1e6:.3g}-{hi * 1e6:.3g} um"
            return f"{lo * 1e3:.3g}-{hi * 1e3:.3g} mm"

        return (f"{self.grid.n_elements:,} cells ({nx} x {ny} x {nz}), {self.grid.n_nodes:,} nodes; "
                f"lateral cells {span(min(dx.min(), dy.min()), max(dx.max(), dy.max()))}, "
                f"vertical {span(dz.min(), dz.max())}")


def _lateral_breakpoints(stack: Stack) -> tuple[list[float], list[float]]:
    xs, ys = [stack.package.x, stack.package.x1], [stack.package.y, stack.package.y1]

    def add(r: Rect) -> None:
        xs.extend([r.x, r.x1])
        ys.extend([r.y, r.y1])

    for layer in stack.layers:
        add(layer.extent)
        for c in layer.chiplets:
            add(c.rect)
            for b in c.power_blocks:
                add(b.rect)
            if c.power_map is not None:
                nrow, ncol = len(c.power_map.values), len(c.power_map.values[0])
                xs.extend(c.rect.x + c.rect.width * np.arange(ncol + 1) / ncol)
                ys.extend(c.rect.y + c.rect.height * np.arange(nrow + 1) / nrow)
    return xs, ys


def _layer_cells(stack: Stack, layer: Layer) -> int:
    m = stack.mesh
    return layer.cells or max(m.cells_per_layer, math.ceil(layer.thickness / m.max_vertical_size - 1e-9))


def chiplet_z(stack: Stack, layer_z: dict, chiplet) -> tuple[float, float]:
    """``(z_bottom, z_top)`` [m] of a die: its layer's, or those of all the layers it spans."""
    names = chiplet.spans or (stack.layer_of(chiplet.name).name,)
    return min(layer_z[n][0] for n in names), max(layer_z[n][1] for n in names)


def active_z(stack: Stack, layer_z: dict, chiplet) -> tuple[float, float]:
    """``(z_bottom, z_top)`` [m] of the slab where a die makes its heat: ``active_thickness`` at its
    ``active_side``, or the whole die."""
    zb, zt = chiplet_z(stack, layer_z, chiplet)
    t = chiplet.active_thickness or (zt - zb)
    return (zb, zb + t) if chiplet.active_side == "bottom" else (zt - t, zt)


def _z_axis(stack: Stack) -> tuple[np.ndarray, dict]:
    z0, layer_z = 0.0, {}
    for layer in reversed(stack.layers):
        layer_z[layer.name] = (z0, z0 + layer.thickness)
        z0 += layer.thickness
    planes = []  # active-slab faces inside a die
    for c in stack.chiplets:
        if c.active_thickness is not None:
            planes.extend(active_z(stack, layer_z, c))
    nodes = [np.array([0.0])]
    for layer in reversed(stack.layers):
        z0, z1 = layer_z[layer.name]
        tol = 1e-9 * layer.thickness
        pts = [z0, z1] + [p for p in planes if z0 + tol < p < z1 - tol]
        n = _layer_cells(stack, layer)
        axis = graded_axis(pts, max_size=layer.thickness / n, min_cells=1)
        nodes.append(axis[1:])
    z = np.concatenate(nodes)
    return z, layer_z


def estimate_cells(stack: Stack) -> int:
    """Cheap estimate of the cell count, without building the grid."""
    m = stack.mesh
    hmin = m.min_lateral_size or m.max_lateral_size
    extra = 0.0
    if m.grading > 1 and hmin < m.max_lateral_size:
        extra = 2 * math.log(m.max_lateral_size / hmin) / math.log(m.grading)

    def count(bps: list[float]) -> float:
        b = np.unique(np.asarray(bps))
        return float(sum(max(1.0, math.ceil(d / m.max_lateral_size)) + min(extra, d / hmin) for d in np.diff(b)))

    xs, ys = _lateral_breakpoints(stack)
    nz = sum(_layer_cells(stack, layer) + sum(1 for c in layer.chiplets if c.active_thickness) for layer in stack.layers)
    return int(count(xs) * count(ys) * nz)


def with_mesh_overrides(stack: Stack, *, call: str = "build", **overrides) -> Stack:
    """``stack`` with the mesh controls in ``overrides`` (``None`` values ignored), each checked.

    Keys are the fields of :class:`~codesign.stack.MeshControls`; lengths in metres. A bad key
    or value raises :class:`~codesign.errors.ModelError` naming it (``call`` names the caller).
    """
    overrides = {k: v for k, v in overrides.items() if v is not None}
    problems = []
    for k, v in overrides.items():
        if k not in _MESH_KEYWORDS:
            problems.append(f"unknown mesh control {k!r}; choose from {', '.join(_MESH_KEYWORDS)}")
        elif k == "cells_per_layer":
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
                problems.append(f"cells_per_layer={v!r}: give a positive whole number")
        elif k == "grading":
            if isinstance(v, bool) or not (isinstance(v, (int, float, np.number)) and math.isfinite(v) and v >= 1):
                problems.append(f"grading={v!r}: give a finite ratio >= 1")
        elif not (isinstance(v, (int, float, np.number)) and not isinstance(v, bool) and math.isfinite(v) and v > 0):
            problems.append(f"{k}={v!r}: give a positive, finite length in metres")
    if problems:
        raise ModelError(f"`{call}`: " + "; ".join(problems))
    if not overrides:
        return stack
    return dataclasses.replace(stack, mesh=dataclasses.replace(stack.mesh, **overrides))


def _controls(stack: Stack) -> str:
    m = stack.mesh
    parts = [f"max_lateral_size {m.max_lateral_size:.4g} m"]
    if m.min_lateral_size is not None and m.grading > 1:
        parts.append(f"min_lateral_size {m.min_lateral_size:.4g} m, grading {m.grading:.4g}")
    parts.append(f"max_vertical_size {m.max_vertical_size:.4g} m, cells_per_layer {m.cells_per_layer}")
    return ", ".join(parts)


def _limit(max_cells, call: str) -> int:
    if max_cells is None:
        return MAX_CELLS
    if isinstance(max_cells, bool) or not isinstance(max_cells, (int, np.integer)) or max_cells < 1:
        raise ModelError(f"`{call}(max_cells={max_cells!r})`: give a positive whole number of cells")
    return int(max_cells)


def _too_many(n: int, limit: int, stack: Stack, call: str, how: str) -> ModelError:
    return ModelError(
        f"`{call}`: the mesh would have {how} {n:,} cells, more than the limit of {limit:,} "
        f"({'`codesign.mesh.MAX_CELLS`' if limit == MAX_CELLS else '`max_cells`'}); controls: {_controls(stack)}. "
        "Coarsen it (a larger max_lateral_size, `--max-lateral-size` or `--lateral-size` on the command line, a "
        "larger max_vertical_size or fewer cells_per_layer), or raise the limit on purpose with "
        f"`build(..., max_cells=N)` (`--max-cells N`) on a machine with the memory: a solve needs ~{_GB_PER_CELL * n:.3g} GB "
        "at this size")


def check_cell_limit(stack: Stack, *, max_cells: int | None = None, call: str = "build") -> int:
    """The estimated cell count of ``stack`` (:func:`estimate_cells`); :class:`ModelError` over the limit.

    ``max_cells`` (default :data:`MAX_CELLS`) is the limit. Cheap: nothing mesh-sized is allocated.
    Readers of files with mesh controls (sweep specs) call it at load time.
    """
    limit = _limit(max_cells, call)
    n = estimate_cells(stack)
    if n > limit:
        raise _too_many(n, limit, stack, call, "about")
    return n


def rect_mask(grid: TensorGrid, r: Rect) -> np.ndarray:
    xc, yc, _ = grid.element_centres()
    mx = (xc > r.x) & (xc < r.x1)
    my = (yc > r.y) & (yc < r.y1)
    return mx[:, None] & my[None, :]


def mesh_geometry(stack: Stack, *, max_lateral_size: float | None = None, min_lateral_size: float | None = None,
                  grading: float | None = None, cells_per_layer: int | None = None,
                  max_vertical_size: float | None = None, lateral_cells_multiple: int = 1,
                  heat_sources: Sequence[HeatSource] = (), max_cells: int | None = None,
                  bisect: Sequence[int] = (0, 0, 0)) -> MeshGeometry:
    """The conforming grid of a stack; keyword arguments override the layout's ``[mesh]`` controls.

    ``heat_sources`` (heat from other models: interconnect PHYs, ...) lie in rectangles of named
    chiplets; their edges become grid lines. A source outside its chiplet raises
    :class:`~codesign.errors.ModelError`. ``lateral_cells_multiple`` rounds the cell count of each
    lateral axis up to a multiple of it by halving the largest cells (a finer mesh, never a
    coarser one): models of similar size then share compiled solver programs, which are compiled
    per node count (partition exploration uses it). Use :func:`codesign.build` for a model to solve.

    Size guard: with the overrides applied, the estimated cell count (:func:`estimate_cells`) must
    be at most ``max_cells`` (default :data:`MAX_CELLS`), checked before anything mesh-sized is
    allocated, and the real count again once the axes are built (the estimate can be off); over
    it, :class:`~codesign.errors.ModelError` names the count, the limit, the controls and the fix.
    Pass a larger ``max_cells`` to build a bigger mesh on purpose.

    ``bisect = (kx, ky, kz)`` halves every cell ``k`` times along each axis after the grid is
    built from the controls: a uniform refinement by ``2^k`` whose grid holds the unrefined one
    exactly (:mod:`codesign.accuracy` estimates errors and meets targets with it).
    """
    bisect = _check_bisect(bisect)
    stack = with_mesh_overrides(stack, max_lateral_size=max_lateral_size, min_lateral_size=min_lateral_size,
                                grading=grading, cells_per_layer=cells_per_layer, max_vertical_size=max_vertical_size)
    limit = _limit(max_cells, "build")
    check_cell_limit(stack, max_cells=limit)
    _check_spans(stack)
    m = stack.mesh
    heat_sources = tuple(heat_sources)
    for hs in heat_sources:
        chip = stack.chiplet(hs.chiplet)
        if not chip.rect.contains(hs.rect, tol=1e-9) or not (hs.power >= 0 and math.isfinite(hs.power)):
            raise ModelError(f"`build(heat_sources=...)`: source {hs.name!r} ({hs.origin}) of {hs.power!r} W "
                             f"must lie inside chiplet {hs.chiplet!r} with a finite, non-negative power")
    xs, ys = _lateral_breakpoints(stack)
    for hs in heat_sources:
        xs += [hs.rect.x, hs.rect.x1]
        ys += [hs.rect.y, hs.rect.y1]
    kw = dict(max_size=m.max_lateral_size, min_size=m.min_lateral_size, grading=m.grading)
    x = _round_up(graded_axis(xs, **kw), lateral_cells_multiple)
    y = _round_up(graded_axis(ys, **kw), lateral_cells_multiple)
    z, layer_z = _z_axis(stack)
    x, y, z = (_bisected(a, k) for a, k in zip((x, y, z), bisect))

    shape = (len(x) - 1, len(y) - 1, len(z) - 1)
    if math.prod(shape) > limit:
        raise _too_many(math.prod(shape), limit, stack, "build", "exactly")
    region = np.zeros(shape, np.int32)
    material = np.zeros(shape, np.int32)
    region_names: list[str] = []
    material_names = [mat.name for mat in stack.materials]
    grid0 = TensorGrid(x, y, z, region, ("_",), material, ("_",))
    zc = grid0.element_centres()[2]

    def assign(layer_mask_z: np.ndarray, plane: np.ndarray, region_name: str, material_name: str,
               same_as: int | None = None) -> int:
        if same_as is None:
            region_names.append(region_name)
        mask = plane[:, :, None] & layer_mask_z[None, None, :]
        region[mask] = len(region_names) - 1 if same_as is None else same_as
        material[mask] = material_names.index(material_name)
        return len(region_names) - 1 if same_as is None else same_as

    chiplet_regions = {}
    spanning_ids: dict[str, int] = {}  # a die spanning layers is one region in all of them
    above: Layer | None = None
    for layer in stack.layers:
        zb, zt = layer_z[layer.name]
        in_layer = (zc > zb) & (zc < zt)
        everywhere = np.ones(shape[:2], bool)
        inside = rect_mask(grid0, layer.extent)
        if (~inside).any():
            assign(in_layer, ~inside, f"{layer.name}/surround", layer.surround)
        assign(in_layer, inside, layer.name, layer.material)
        if layer.interconnect is not None:
            ic_name = f"{layer.name}:{layer.interconnect.kind}"
            if layer.interconnect_region == "under_above" and above is not None:
                plane = np.zeros(shape[:2], bool)
                for c in stack.occupants(above.name):
                    plane |= rect_mask(grid0, c.rect)
                plane &= inside
            else:
                plane = inside & everywhere
            assign(in_layer, plane, f"{layer.name}/{layer.interconnect.kind}", ic_name)
        for c in stack.occupants(layer.name):
            home = stack.layer_of(c.name).name if c.spans else layer.name
            rid = assign(in_layer, rect_mask(grid0, c.rect), f"{home}/{c.name}", c.material, spanning_ids.get(c.name))
            if c.spans:
                spanning_ids[c.name] = rid
            chiplet_regions[c.name] = f"{home}/{c.name}"
        above = layer

    # Drop regions that ended up empty (a fill wholly covered by its interconnect, say).
    used = np.unique(region)
    renumber = np.full(len(region_names), -1, np.int32)
    renumber[used] = np.arange(used.size, dtype=np.int32)
    region = renumber[region]
    region_names = [region_names[r] for r in used]
    grid = TensorGrid(x, y, z, region, tuple(region_names), material, tuple(material_names))

    return MeshGeometry(stack=stack, grid=grid, chiplet_regions=chiplet_regions, layer_z=layer_z,
                        heat_sources=heat_sources, bisect=bisect)


def _check_bisect(bisect) -> tuple[int, int, int]:
    try:
        out = tuple(int(k) for k in bisect)
        ok = len(out) == 3 and all(k == b and 0 <= k <= 6 for k, b in zip(out, bisect))
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise ModelError(f"`build(bisect={bisect!r})`: give three whole numbers 0-6, the times every cell is "
                         "halved along x, y and z, e.g. (1, 1, 1)")
    return out


def _bisected(axis: np.ndarray, times: int) -> np.ndarray:
    """``axis`` with every cell halved ``times`` times (a node added at each cell's middle)."""
    for _ in range(times):
        mid = 0.5 * (axis[1:] + axis[:-1])
        axis = np.insert(axis, np.arange(1, len(axis)), mid)
    return axis


def _check_spans(stack: Stack) -> None:
    """A die's ``spans`` (set in Python, e.g. with ``Stack.with_chiplet``) names consecutive layers, top to
    bottom, its bottom one the layer holding it; the layout reader checks the same for files."""
    names = [layer.name for layer in stack.layers]
    for layer in stack.layers:
        for c in layer.chiplets:
            if not c.spans:
                continue
            idx = [names.index(n) if n in names else -1 for n in c.spans]
            if -1 in idx or idx != list(range(idx[0], idx[0] + len(idx))) or c.spans[-1] != layer.name:
                raise ModelError(f"chiplet {c.name!r}: spans={c.spans!r} must name consecutive layers of the stack, "
                                 f"top to bottom, ending with {layer.name!r} (the layer holding it); layers are {names}")


def _round_up(axis: np.ndarray, multiple: int) -> np.ndarray:
    """``axis`` with its largest cells halved until its cell count is a multiple of ``multiple``."""
    if not (isinstance(multiple, int) and multiple >= 1):
        raise ModelError(f"`lateral_cells_multiple={multiple!r}` must be a positive integer")
    axis = np.asarray(axis, dtype=float)
    while (len(axis) - 1) % multiple:
        i = int(np.argmax(np.diff(axis)))
        axis = np.insert(axis, i + 1, 0.5 * (axis[i] + axis[i + 1]))
    return axis


def export_vtu(model, path, *, temperature=None, extra_point_data=None, outputs=None) -> Path:
    """Write the mesh and its fields to a ``.vtu`` file for ParaView, through meshio.

    Cell data: ``region`` and ``material`` ids, ``kx``, ``ky``, ``kz`` [W/m/K],
    ``heat_capacity`` [J/m^3/K], ``power_density`` [W/m^3]. Point data: ``temperature`` [K] when
    given (``temperature_C`` [degC] too). VTU files written by meshio carry no string tables, so
    the id -> name tables go to a sidecar ``<name>.regions.json``; :func:`read_vtu` reads both.
    Returns the sidecar's path.

    Each file is written whole or not at all (a temporary name, then a rename); a folder that
    cannot be written or a full disk raises :class:`codesign._output.OutputError` (an
    :class:`OSError`) naming the file and what was kept. ``outputs`` (a
    :class:`codesign._output.Outputs`) records the files with those of the rest of a job.
    """
    import meshio

    from ._output import Outputs

    path = Path(path)
    if path.suffix.lower() not in meshio.extension_to_filetypes and not path.is_dir():
        raise ModelError(f"`export_vtu`: cannot tell a mesh file format from the name {path.name!r}; give a file "
                         "name ending in .vtu (ParaView), such as 'model.vtu'")
    outputs = Outputs() if outputs is None else outputs
    f = model.fields()
    cell = {"kx": np.asarray(f.kx), "ky": np.asarray(f.ky), "kz": np.asarray(f.kz),
            "heat_capacity": np.asarray(f.heat_capacity), "power_density": np.asarray(f.source)}
    point = dict(extra_point_data or {})
    if temperature is not None:
        point["temperature"] = np.asarray(temperature, dtype=float)
        point["temperature_C"] = np.asarray(temperature, dtype=float) - 273.15
    grid = model.grid.to_meshio(point_data=point, cell_data=cell)
    if path.suffix.lower() == ".vtu":
        outputs.write(path, lambda tmp: _write_vtu(tmp, grid))
    else:  # any other format meshio writes
        outputs.write(path, lambda tmp: grid.write(str(tmp)))
    side = path.with_suffix(".regions.json")
    outputs.text(side, json.dumps({"region_names": list(model.grid.region_names),
                                   "material_names": list(model.grid.material_names)}, indent=1))
    return side


#: numpy dtype kind+size -> VTK XML type name
_VTK_TYPES = {"f8": "Float64", "f4": "Float32", "i8": "Int64", "i4": "Int32", "i2": "Int16", "i1": "Int8",
              "u8": "UInt64", "u4": "UInt32", "u2": "UInt16", "u1": "UInt8", "b1": "UInt8"}
#: bytes per compressed block (VTK reads any block size; 32 KiB is its own default)
_VTU_BLOCK = 1 << 20


def _write_vtu(path, mesh) -> None:
    """Write a meshio hexahedral mesh as a VTK XML ``.vtu`` file: binary, zlib level 1 in blocks
    compressed on every core (meshio's writer compresses at zlib's default level on one core: 3.9x
    slower for a 472k-cell demo, 1.84 s of a 1.97 s write, for a file 6 % smaller). The format is
    VTK's "XML file formats" (UnstructuredGrid, ``header_type="UInt64"``,
    ``vtkZLibDataCompressor``); meshio, pyvista and ParaView read it."""
    import base64
    import os
    import zlib
    from concurrent.futures import ThreadPoolExecutor

    def blocks(a: np.ndarray) -> list:  # views of the array's bytes, not copies
        raw = memoryview(np.ascontiguousarray(a.astype(a.dtype.newbyteorder("<"), copy=False))).cast("B")
        return [raw[i:i + _VTU_BLOCK] for i in range(0, len(raw), _VTU_BLOCK)] or [b""], len(raw)

    arrays = []  # (section, name, array)
    arrays.append(("Points", "Points", np.asarray(mesh.points, dtype=np.float64)))
    (ctype, conn), = [(c.type, c.data) for c in mesh.cells]
    if ctype != "hexahedron":
        raise ModelError(f"`export_vtu`: the fast writer takes hexahedra, not {ctype!r}")
    # 32-bit ids while they fit (VTK reads either): half the bytes to compress and write
    index = np.int32 if 8 * len(conn) < 2**31 and len(mesh.points) < 2**31 else np.int64
    conn = np.asarray(conn, dtype=index)
    arrays += [("Cells", "connectivity", conn.reshape(-1)),
               ("Cells", "offsets", np.arange(8, 8 * len(conn) + 1, 8, dtype=index)),
               ("Cells", "types", np.full(len(conn), 12, dtype=np.uint8))]  # 12: VTK_HEXAHEDRON
    arrays += [("PointData", k, np.asarray(v)) for k, v in mesh.point_data.items()]
    arrays += [("CellData", k, np.asarray(v[0])) for k, v in mesh.cell_data.items()]
    arrays = [(sec, name, a.astype(np.uint8) if a.dtype == bool else a) for sec, name, a in arrays]
    split = [blocks(a) for _, _, a in arrays]
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:  # zlib releases the GIL
        packed = list(pool.map(lambda b: zlib.compress(b, 1), [b for bl, _ in split for b in bl]))
    out = [f'<?xml version="1.0"?>\n<VTKFile type="UnstructuredGrid" version="1.0" byte_order="LittleEndian" '
           f'header_type="UInt64" compressor="vtkZLibDataCompressor">\n<UnstructuredGrid>\n'
           f'<Piece NumberOfPoints="{len(mesh.points)}" NumberOfCells="{len(conn)}">\n'.encode()]
    section, at = None, 0
    for (sec, name, a), (bl, n) in zip(arrays, split):
        if sec != section:
            if section is not None:
                out.append(f"</{section}>\n".encode())
            out.append(f"<{sec}>\n".encode())
            section = sec
        comp = packed[at:at + len(bl)]
        at += len(bl)
        header = np.array([len(bl), _VTU_BLOCK if len(bl) > 1 else n, n - _VTU_BLOCK * (len(bl) - 1)]
                          + [len(c) for c in comp], dtype="<u8")
        ncomp = f' NumberOfComponents="{a.shape[1]}"' if a.ndim == 2 else ""
        vtk_type = _VTK_TYPES[f"{a.dtype.kind}{a.dtype.itemsize}"]
        out += [f'<DataArray type="{vtk_type}" Name="{name}"{ncomp} format="binary">\n'.encode(),
                base64.b64encode(header.tobytes()), base64.b64encode(b"".join(comp)), b"\n</DataArray>\n"]
    out.append(f"</{section}>\n</Piece>\n</UnstructuredGrid>\n</VTKFile>\n".encode())
    with open(path, "wb") as fh:  # ASCII: the base64 bytes as they are, not decoded and encoded again
        fh.writelines(out)


def read_vtu(path) -> dict:
    """Read a file written by :func:`export_vtu` back: points, cells, data and name tables."""
    import meshio

    path = Path(path)
    mesh = meshio.read(str(path))
    out = {"points": mesh.points, "cells": mesh.cells[0].data,
           "cell_data": {k: v[0] for k, v in mesh.cell_data.items()}, "point_data": dict(mesh.point_data)}
    side = path.with_suffix(".regions.json")
    if side.is_file():
        out.update(json.loads(side.read_text()))
    return out
