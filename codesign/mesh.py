"""Meshing a :class:`~codesign.stack.Stack` into a conforming tensor-product hex grid.

Grid lines lie on every layer interface, layer extent, chiplet edge, power-block edge and
power-map cell edge; lateral cells are at most ``mesh.max_lateral_size`` and graded
geometrically away from edges (``mesh.grading``, starting from ``mesh.min_lateral_size``);
every layer gets at least ``mesh.cells_per_layer`` cells through its thickness (a 2 µm bond
layer keeps its own cells), none thicker than ``mesh.max_vertical_size``.

Region names are ``"<layer>"`` (the fill), ``"<layer>/<chiplet>"``, ``"<layer>/<interconnect
kind>"`` (homogenised bumps) and ``"<layer>/surround"`` (outside the layer's extent).
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from solvers import MeshError, TensorGrid, ThermalFields, graded_axis

from .stack import Chiplet, HeatSource, Layer, PowerBlock, Rect, Stack

__all__ = ["MeshedStack", "mesh_stack", "estimate_cells", "export_vtu", "read_vtu"]


@dataclass(frozen=True, eq=False)
class MeshedStack:
    """A meshed stack: the grid, the fields, and where each chiplet's elements are.

    Attributes
    ----------
    stack : Stack
    grid : solvers.TensorGrid
    fields : solvers.ThermalFields
        Conductivities, heat capacity, source [W/m^3], boundary h and ambient.
    chiplet_regions : dict
        Chiplet name -> region name in ``grid.region_names``.
    layer_z : dict
        Layer name -> ``(z_bottom, z_top)`` [m].
    k_exponent : numpy.ndarray
        Per-element temperature exponent of conductivity (0 where constant).
    reference_temperature : numpy.ndarray
        Per-element reference temperature of the conductivity law [K].
    source_patterns : dict
        Chiplet name (or ``"<chiplet>/<heat source>"``) -> per-element source [W/m^3] of that
        contribution alone; they sum to ``fields.source``.
    heat_sources : tuple
        The extra :class:`~codesign.stack.HeatSource` objects meshed in.
    """

    stack: Stack
    grid: TensorGrid
    fields: ThermalFields
    chiplet_regions: dict
    layer_z: dict
    k_exponent: np.ndarray
    reference_temperature: np.ndarray
    source_patterns: dict
    heat_sources: tuple = ()

    @property
    def n_cells(self) -> int:
        return self.grid.n_elements

    def summary(self) -> str:
        nx, ny, nz = self.grid.shape
        dx, dy, dz = self.grid.spacing
        return (f"{self.grid.n_elements:,} cells ({nx} x {ny} x {nz}), {self.grid.n_nodes:,} nodes; "
                f"lateral cells {min(dx.min(), dy.min()) * 1e6:.3g}-{max(dx.max(), dy.max()) * 1e6:.3g} um, "
                f"vertical {dz.min() * 1e6:.3g}-{dz.max() * 1e6:.3g} um")


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


def _z_axis(stack: Stack) -> tuple[np.ndarray, dict]:
    z0, nodes, layer_z = 0.0, [np.array([0.0])], {}
    for layer in reversed(stack.layers):
        z1 = z0 + layer.thickness
        layer_z[layer.name] = (z0, z1)
        pts = [z0, z1]
        for c in layer.chiplets:
            if c.active_thickness is not None and c.active_thickness < layer.thickness * (1 - 1e-9):
                pts.append(z0 + c.active_thickness if c.active_side == "bottom" else z1 - c.active_thickness)
        n = _layer_cells(stack, layer)
        axis = graded_axis(pts, max_size=layer.thickness / n, min_cells=1)
        nodes.append(axis[1:])
        z0 = z1
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


def _rect_mask(grid: TensorGrid, r: Rect) -> np.ndarray:
    xc, yc, _ = grid.element_centres()
    mx = (xc > r.x) & (xc < r.x1)
    my = (yc > r.y) & (yc < r.y1)
    return mx[:, None] & my[None, :]


def mesh_stack(stack: Stack, *, max_lateral_size: float | None = None, min_lateral_size: float | None = None,
               grading: float | None = None, cells_per_layer: int | None = None,
               max_vertical_size: float | None = None,
               heat_sources: Sequence[HeatSource] = ()) -> MeshedStack:
    """Mesh a stack; keyword arguments override the layout's ``[mesh]`` controls.

    ``heat_sources`` add heat from other models (interconnect PHYs, ...) to rectangles of named
    chiplets; their edges become grid lines, and each appears in ``source_patterns`` under
    ``"<chiplet>/<name>"``. A source outside its chiplet raises ``ValueError``.

    Examples
    --------
    >>> from codesign import load_layout
    >>> m = mesh_stack(load_layout("demo"))
    >>> abs(m.fields.total_power(m.grid) - m.stack.total_power) < 1e-9 * m.stack.total_power
    True
    """
    overrides = {k: v for k, v in dict(max_lateral_size=max_lateral_size, min_lateral_size=min_lateral_size,
                                       grading=grading, cells_per_layer=cells_per_layer,
                                       max_vertical_size=max_vertical_size).items() if v is not None}
    if overrides:
        stack = dataclasses.replace(stack, mesh=dataclasses.replace(stack.mesh, **overrides))
    m = stack.mesh
    heat_sources = tuple(heat_sources)
    for hs in heat_sources:
        chip = stack.chiplet(hs.chiplet)
        if not chip.rect.contains(hs.rect, tol=1e-9) or not (hs.power >= 0 and math.isfinite(hs.power)):
            raise ValueError(f"`mesh_stack(heat_sources=...)`: source {hs.name!r} ({hs.origin}) of {hs.power!r} W "
                             f"must lie inside chiplet {hs.chiplet!r} with a finite, non-negative power")
    xs, ys = _lateral_breakpoints(stack)
    for hs in heat_sources:
        xs += [hs.rect.x, hs.rect.x1]
        ys += [hs.rect.y, hs.rect.y1]
    kw = dict(max_size=m.max_lateral_size, min_size=m.min_lateral_size, grading=m.grading)
    x = graded_axis(xs, **kw)
    y = graded_axis(ys, **kw)
    z, layer_z = _z_axis(stack)

    shape = (len(x) - 1, len(y) - 1, len(z) - 1)
    region = np.zeros(shape, np.int32)
    material = np.zeros(shape, np.int32)
    region_names: list[str] = []
    material_names = [mat.name for mat in stack.materials]
    mats = {mat.name: mat for mat in stack.materials}
    grid0 = TensorGrid(x, y, z, region, ("_",), material, ("_",))
    zc = grid0.element_centres()[2]

    def assign(layer_mask_z: np.ndarray, plane: np.ndarray, region_name: str, material_name: str) -> None:
        region_names.append(region_name)
        mask = plane[:, :, None] & layer_mask_z[None, None, :]
        region[mask] = len(region_names) - 1
        material[mask] = material_names.index(material_name)

    chiplet_regions = {}
    above: Layer | None = None
    for layer in stack.layers:
        zb, zt = layer_z[layer.name]
        in_layer = (zc > zb) & (zc < zt)
        everywhere = np.ones(shape[:2], bool)
        inside = _rect_mask(grid0, layer.extent)
        if (~inside).any():
            assign(in_layer, ~inside, f"{layer.name}/surround", layer.surround)
        assign(in_layer, inside, layer.name, layer.material)
        if layer.interconnect is not None:
            ic_name = f"{layer.name}:{layer.interconnect.kind}"
            if layer.interconnect_region == "under_above" and above is not None:
                plane = np.zeros(shape[:2], bool)
                for c in above.chiplets:
                    plane |= _rect_mask(grid0, c.rect)
                plane &= inside
            else:
                plane = inside & everywhere
            assign(in_layer, plane, f"{layer.name}/{layer.interconnect.kind}", ic_name)
        for c in layer.chiplets:
            assign(in_layer, _rect_mask(grid0, c.rect), f"{layer.name}/{c.name}", c.material)
            chiplet_regions[c.name] = f"{layer.name}/{c.name}"
        above = layer

    # Drop regions that ended up empty (a fill wholly covered by its interconnect, say).
    used = np.unique(region)
    renumber = np.full(len(region_names), -1, np.int32)
    renumber[used] = np.arange(used.size, dtype=np.int32)
    region = renumber[region]
    region_names = [region_names[r] for r in used]
    grid = TensorGrid(x, y, z, region, tuple(region_names), material, tuple(material_names))

    # Material fields, per element.
    table = np.array([[mats[n].kx, mats[n].ky, mats[n].kz, mats[n].heat_capacity,
                       mats[n].temperature_exponent, mats[n].reference_temperature] for n in material_names])
    per = table[material]
    patterns = {c.name: _source_pattern(grid, c, layer_z[stack.layer_of(c.name).name])
                for c in stack.chiplets}
    for hs in heat_sources:
        chip = stack.chiplet(hs.chiplet)
        extra = dataclasses.replace(chip, power=0.0, power_map=None,
                                    power_blocks=(PowerBlock(hs.name, hs.rect, hs.power),))
        patterns[f"{hs.chiplet}/{hs.name}"] = _source_pattern(grid, extra, layer_z[stack.layer_of(hs.chiplet).name])
    source = np.zeros(shape)
    for q in patterns.values():
        source += q

    top, bottom = stack.layers[0], stack.layers[-1]
    h: dict[str, np.ndarray] = {}
    amb: dict[str, np.ndarray] = {}
    if stack.top.heat_transfer_coefficient > 0:
        h["zmax"] = np.where(_rect_mask(grid, top.extent), stack.top.heat_transfer_coefficient, 0.0)
        amb["zmax"] = np.full(shape[:2], stack.top.ambient)
    if stack.bottom.heat_transfer_coefficient > 0:
        h["zmin"] = np.where(_rect_mask(grid, bottom.extent), stack.bottom.heat_transfer_coefficient, 0.0)
        amb["zmin"] = np.full(shape[:2], stack.bottom.ambient)
    if stack.sides.heat_transfer_coefficient > 0:
        for face, fshape in (("xmin", (shape[1], shape[2])), ("xmax", (shape[1], shape[2])),
                             ("ymin", (shape[0], shape[2])), ("ymax", (shape[0], shape[2]))):
            h[face] = np.full(fshape, stack.sides.heat_transfer_coefficient)
            amb[face] = np.full(fshape, stack.sides.ambient)

    fields = ThermalFields(kx=per[..., 0], ky=per[..., 1], kz=per[..., 2], heat_capacity=per[..., 3],
                           source=source, h=h, ambient=amb)
    return MeshedStack(stack=stack, grid=grid, fields=fields, chiplet_regions=chiplet_regions, layer_z=layer_z,
                       k_exponent=per[..., 4], reference_temperature=per[..., 5], source_patterns=patterns,
                       heat_sources=heat_sources)


def _source_pattern(grid: TensorGrid, c: Chiplet, z_range: tuple[float, float]) -> np.ndarray:
    """Volumetric source [W/m^3] of one chiplet, over its active thickness."""
    zb, zt = z_range
    t = c.active_thickness or (zt - zb)
    za, zb_ = (zb, zb + t) if c.active_side == "bottom" else (zt - t, zt)
    zc = grid.element_centres()[2]
    active = (zc > za) & (zc < zb_)
    plane = np.zeros(grid.shape[:2])
    if c.power:
        plane += _rect_mask(grid, c.rect) * (c.power / c.rect.area)
    for b in c.power_blocks:
        plane += _rect_mask(grid, b.rect) * (b.power / b.rect.area)
    if c.power_map is not None:
        vals = c.power_map.values
        nrow, ncol = len(vals), len(vals[0])
        w, hgt = c.rect.width / ncol, c.rect.height / nrow
        for r in range(nrow):
            for col in range(ncol):
                if vals[r][col]:
                    cell = Rect(c.rect.x + col * w, c.rect.y + r * hgt, w, hgt)
                    plane += _rect_mask(grid, cell) * (vals[r][col] / cell.area)
    q = plane[:, :, None] * active[None, None, :] / t
    # Every grid line of the die, block and map cells is on the grid, so the power is exact;
    # guard the invariant rather than lose heat silently.
    meshed_power = float(np.sum(q * grid.cell_volumes()))
    if not np.isclose(meshed_power, c.total_power, rtol=1e-9, atol=1e-12):
        raise MeshError(f"chiplet {c.name!r}: {c.total_power:.6g} W in the layout but {meshed_power:.6g} W on the grid; "
                        "a power region is thinner than the mesh resolves (check active_thickness and block sizes)")
    return q


def export_vtu(meshed: MeshedStack, path, *, temperature=None, extra_point_data=None) -> Path:
    """Write the mesh and its fields to a ``.vtu`` file for ParaView, through meshio.

    Cell data: ``region`` and ``material`` ids, ``kx``, ``ky``, ``kz`` [W/m/K],
    ``heat_capacity`` [J/m^3/K], ``power_density`` [W/m^3]. Point data: ``temperature`` [K] when
    given (``temperature_C`` [degC] too). VTU files written by meshio carry no string tables, so
    the id -> name tables go to a sidecar ``<name>.regions.json``; :func:`read_vtu` reads both.
    Returns the sidecar's path.
    """
    f = meshed.fields
    cell = {"kx": np.asarray(f.kx), "ky": np.asarray(f.ky), "kz": np.asarray(f.kz),
            "heat_capacity": np.asarray(f.heat_capacity), "power_density": np.asarray(f.source)}
    point = dict(extra_point_data or {})
    if temperature is not None:
        point["temperature"] = np.asarray(temperature, dtype=float)
        point["temperature_C"] = np.asarray(temperature, dtype=float) - 273.15
    path = Path(path)
    meshed.grid.to_meshio(point_data=point, cell_data=cell).write(str(path))
    side = path.with_suffix(".regions.json")
    side.write_text(json.dumps({"region_names": list(meshed.grid.region_names),
                                "material_names": list(meshed.grid.material_names)}, indent=1))
    return side


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
