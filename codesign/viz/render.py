"""3D pictures of a thermal result, through pyvista (the only module of codesign that imports it).

:func:`to_pyvista` turns a model (and its temperature) into a ``pv.RectilinearGrid``, like
dolfinx's ``plot.vtk_mesh``; :func:`plot_hotspots` draws the temperature field of a
:class:`~codesign.thermal.ThermalReport` in 3D and returns the ``pv.Plotter`` so that the caller can
keep adding to it. pyvista is imported lazily, inside the functions: importing codesign stays light.

Headless machines (no ``DISPLAY``) render off-screen through EGL: the first call sets
``VTK_DEFAULT_OPENGL_WINDOW=vtkEGLRenderWindow`` unless it is already set, before vtk is imported.

World coordinates of :func:`plot_hotspots` pictures are millimetres in x and y; z is a display
height (exaggerated, see ``z_scale``). :func:`world_coordinates` maps physical points [m] to them.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    import pyvista as pv

    from ..model import Model
    from ..thermal import ThermalReport

__all__ = ["CMAP", "has_display", "plot_hotspots", "to_pyvista", "world_coordinates"]

KELVIN = 273.15
#: Colour map of every temperature picture (3D and 2D): blue is cool, dark red is hot.
CMAP = "turbo"
#: Smallest on-screen thickness of a layer, as a fraction of the package's larger side (auto z scale).
MIN_LAYER_FRACTION = 0.02
#: Displayed stack height, as a fraction of the package's larger side (auto z scale).
STACK_FRACTION = 0.30
#: Opacity of the layers above the top die layer (lid, TIM), so the dies show through.
COVER_OPACITY = 0.3
#: Gap between exploded layer slices, as a fraction of the package's larger side.
SLICE_GAP_FRACTION = 0.3
#: Most chiplets flagged with their junction temperature in a 3D picture (hottest first).
MAX_LABELS = 8


def has_display() -> bool:
    """Whether an interactive window can be opened (X11/Wayland on Linux; assumed elsewhere)."""
    if sys.platform.startswith("linux") or "bsd" in sys.platform:
        return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
    return True


def _pyvista():
    """Import pyvista, choosing EGL off-screen rendering first when there is no display."""
    if "vtkmodules" not in sys.modules and not has_display():
        os.environ.setdefault("VTK_DEFAULT_OPENGL_WINDOW", "vtkEGLRenderWindow")
    import pyvista as pv

    if not has_display():
        pv.OFF_SCREEN = True  # what DESIGN.md prescribes for headless machines; plotters made later agree
    return pv


def _model_and_temperature(report_or_model, temperature):
    from ..model import Model

    if isinstance(report_or_model, Model):
        return report_or_model, temperature
    model = getattr(report_or_model, "model", None)
    if not isinstance(model, Model):
        raise TypeError("`to_pyvista(report_or_model=...)` should be a ThermalReport or a Model, "
                        f"not {type(report_or_model).__name__}")
    return model, report_or_model.temperature if temperature is None else temperature


def to_pyvista(report_or_model: "ThermalReport | Model", temperature=None, *,
               length_scale: float = 1.0) -> "pv.RectilinearGrid":
    """The mesh and its fields as a ``pyvista.RectilinearGrid``.

    Parameters
    ----------
    report_or_model : ThermalReport or Model
        A thermal result (its model, parameters and temperature are used) or a model (its nominal parameters).
    temperature : array_like, optional
        Nodal temperature [K], shape ``grid.node_shape``; overrides the report's.
    length_scale : float
        Multiplies the coordinates: 1 gives metres, 1e3 millimetres.

    Returns
    -------
    pyvista.RectilinearGrid
        Point data ``temperature`` [K] and ``temperature_C`` [degC] when a temperature is known;
        cell data ``region``, ``material`` and ``layer`` ids, ``power_density`` [W/m^3] and ``kz``
        [W/m/K]. The id -> name tables are in ``field_data`` (``region_names``, ``material_names``,
        ``layer_names``, top layer first).

    Examples
    --------
    >>> import codesign
    >>> from codesign.viz.render import to_pyvista
    >>> grid = to_pyvista(codesign.build(codesign.load_layout("demo"), max_lateral_size=2e-3,
    ...                                  min_lateral_size=2e-3))
    >>> grid.n_cells == grid.cell_data["region"].size
    True
    """
    pv = _pyvista()
    model, temperature = _model_and_temperature(report_or_model, temperature)
    fields = model.fields(getattr(report_or_model, "params", None))
    g = model.grid
    grid = pv.RectilinearGrid(g.x * length_scale, g.y * length_scale, g.z * length_scale)
    # VTK orders points and cells with x fastest: Fortran order of the (i, j, k) arrays.
    if temperature is not None:
        t = np.asarray(temperature, dtype=float)
        if t.shape != g.node_shape:
            raise ValueError(f"`to_pyvista(temperature=...)` has shape {t.shape}; the grid's nodes are {g.node_shape}")
        grid.point_data["temperature"] = t.ravel(order="F")
        grid.point_data["temperature_C"] = t.ravel(order="F") - KELVIN
    grid.cell_data["region"] = g.region.ravel(order="F")
    grid.cell_data["material"] = g.material.ravel(order="F")
    grid.cell_data["layer"] = _layer_ids(model).ravel(order="F")
    grid.cell_data["power_density"] = np.asarray(fields.source, dtype=float).ravel(order="F")
    grid.cell_data["kz"] = np.asarray(fields.kz, dtype=float).ravel(order="F")
    grid.field_data["region_names"] = np.array(g.region_names)
    grid.field_data["material_names"] = np.array(g.material_names)
    grid.field_data["layer_names"] = np.array([layer.name for layer in model.stack.layers])
    return grid


def _layer_ids(model: "Model") -> np.ndarray:
    """Per-element index of the layer (top layer 0), shape ``grid.shape``."""
    g = model.grid
    zc = g.element_centres()[2]
    ids = np.zeros(g.shape[2], np.int32)
    for i, layer in enumerate(model.stack.layers):
        zb, zt = model.layer_z[layer.name]
        ids[(zc > zb) & (zc < zt)] = i
    return np.broadcast_to(ids[None, None, :], g.shape).copy()


# -- display coordinates -------------------------------------------------------------------------

@dataclass(frozen=True)
class _ZMap:
    """Physical z [m] -> display z [mm], piecewise linear over the layers (bottom first)."""

    z_phys: np.ndarray     # layer interfaces [m], increasing
    z_disp: np.ndarray     # their display heights [mm]
    scale: float           # uniform exaggeration (before thin layers are inflated)
    inflated: bool         # whether some layers were drawn thicker than scale * thickness
    gap: float             # exploded-view gap between layers [mm] (0 when not exploded)

    def __call__(self, z) -> np.ndarray:
        z = np.asarray(z, dtype=float)
        zd = np.interp(z, self.z_phys, self.z_disp)
        if self.gap:
            # Each layer moves up by gap * (its index from the bottom); interfaces go with the layer above.
            k = np.clip(np.searchsorted(self.z_phys, z, side="right") - 1, 0, len(self.z_phys) - 2)
            zd = zd + self.gap * k
        return zd

    def layer_range(self, index_from_bottom: int) -> tuple[float, float]:
        lo = self.z_disp[index_from_bottom] + self.gap * index_from_bottom
        hi = self.z_disp[index_from_bottom + 1] + self.gap * index_from_bottom
        return float(lo), float(hi)


def _z_map(model: "Model", z_scale: float | None, exploded: bool, slices: bool = False) -> _ZMap:
    stack = model.stack
    layers = list(reversed(stack.layers))  # bottom first
    z_phys = np.array([model.layer_z[layers[0].name][0]] + [model.layer_z[l.name][1] for l in layers])
    size_mm = max(stack.package.width, stack.package.height) * 1e3
    height_mm = (z_phys[-1] - z_phys[0]) * 1e3
    thick_mm = np.diff(z_phys) * 1e3
    if z_scale is None:
        scale = max(1.0, STACK_FRACTION * size_mm / height_mm)
        shown = np.maximum(thick_mm * scale, MIN_LAYER_FRACTION * size_mm)
        inflated = bool(np.any(shown > thick_mm * scale * (1 + 1e-9)))
    else:
        if not (z_scale > 0 and np.isfinite(z_scale)):
            raise ValueError(f"`plot_hotspots(z_scale={z_scale!r})` should be a positive number, or None for automatic")
        scale, shown, inflated = float(z_scale), thick_mm * float(z_scale), False
    z_disp = np.concatenate([[z_phys[0] * 1e3 * scale], z_phys[0] * 1e3 * scale + np.cumsum(shown)])
    gap = 0.0
    if exploded:
        gap = SLICE_GAP_FRACTION * size_mm if slices else 0.5 * float(np.mean(shown))
    return _ZMap(z_phys, z_disp, scale, inflated, gap)


def world_coordinates(report: "ThermalReport | Model", points, *, z_scale: float | None = None,
                      exploded: bool = False, slices: bool = False) -> np.ndarray:
    """Map physical points ``(..., 3)`` [m] to the world coordinates of :func:`plot_hotspots`.

    x and y become millimetres; z becomes the display height for the same ``z_scale``,
    ``exploded`` and ``slices`` arguments.
    """
    model = report if not hasattr(report, "model") else report.model
    p = np.asarray(points, dtype=float)
    zmap = _z_map(model, z_scale, exploded, slices)
    out = np.empty_like(p)
    out[..., 0] = p[..., 0] * 1e3
    out[..., 1] = p[..., 1] * 1e3
    out[..., 2] = zmap(p[..., 2])
    return out


def _display_blocks(model: "Model", temperature: np.ndarray, zmap: _ZMap, pv) -> list:
    """One display grid per layer (mm, display z), air surround cells removed, temperature in degC."""
    g = model.grid
    air = {i for i, n in enumerate(g.material_names) if n == "air"}
    surround = {i for i, n in enumerate(g.region_names) if n.endswith("/surround")}
    hide = np.array(sorted(r for r in surround if np.all(np.isin(g.material[g.region == r], list(air))))
                    if air else [], dtype=np.int32)
    blocks = []
    layers = list(reversed(model.stack.layers))
    for kb, layer in enumerate(layers):
        zb, zt = model.layer_z[layer.name]
        k0 = int(np.argmin(np.abs(g.z - zb)))
        k1 = int(np.argmin(np.abs(g.z - zt)))
        z = g.z[k0:k1 + 1]
        lo, hi = zmap.layer_range(kb)
        zd = lo + (z - zb) / (zt - zb) * (hi - lo)
        block = pv.RectilinearGrid(g.x * 1e3, g.y * 1e3, zd)
        block.point_data["temperature_C"] = temperature[:, :, k0:k1 + 1].ravel(order="F") - KELVIN
        region = g.region[:, :, k0:k1]
        block.cell_data["region"] = region.ravel(order="F")
        block.field_data["layer"] = np.array([layer.name])
        keep = ~np.isin(region.ravel(order="F"), hide)
        if not keep.all():
            block = block.extract_cells(np.flatnonzero(keep))
        if block.n_cells:
            blocks.append((layer, block))
    return blocks


def _chiplet_box(model: "Model", name: str, zmap: _ZMap) -> tuple[float, ...]:
    bottom_up = list(reversed(model.stack.layers))
    spans = [zmap.layer_range(bottom_up.index(layer)) for layer in model.stack.layers_of(name)]  # all its layers
    lo, hi = min(r[0] for r in spans), max(r[1] for r in spans)
    r = model.stack.chiplet(name).rect
    return (r.x * 1e3, r.x1 * 1e3, r.y * 1e3, r.y1 * 1e3, lo, hi)


def plot_hotspots(report: "ThermalReport", *, screenshot=None, off_screen: bool | None = None,
                  z_scale: float | None = None, clip: bool = True, exploded: bool = False,
                  slices: bool = False, window_size: Sequence[int] = (1400, 900),
                  plotter: "pv.Plotter | None" = None) -> "pv.Plotter":
    """Draw the temperature field of a thermal result in 3D, with the hotspot of every chiplet labelled.

    The picture: every layer coloured by temperature (degC, colour map :data:`CMAP`, one scale
    with a bar), air outside a layer's extent left out, layers above the top die layer (lid, TIM)
    translucent so the dies show through, chiplet outlines in black, the corner in front of the
    hottest chiplet's hotspot cut away down through the stack, layer names and thicknesses beside
    the stack, and a flag at the hottest point of each powered chiplet (name, junction temperature,
    margin to Tj,max; the hottest in red). The camera looks down into the cutaway from its corner.

    Parameters
    ----------
    report : ThermalReport
        The result of :func:`codesign.thermal.analyse`.
    screenshot : str or path-like, optional
        Write a PNG of the picture to this path (rendered at once).
    off_screen : bool, optional
        Render without a window. Default: off-screen when a ``screenshot`` is asked for or there is
        no display (see :func:`has_display`); otherwise the returned plotter opens an interactive
        window on ``pl.show()``. ``off_screen=False`` with a ``screenshot`` opens the window at once
        and saves the picture when it is closed.
    z_scale : float, optional
        Vertical exaggeration of the drawing. Default (None): the stack is drawn about
        ``STACK_FRACTION`` of the package's larger side tall, and layers thinner than
        ``MIN_LAYER_FRACTION`` of it on screen are drawn at that thickness (the picture says
        "z not to scale"). A number gives a uniform exaggeration and nothing else.
    clip : bool
        Cut away the corner of the package in front of the hottest chiplet's hotspot, down through
        every layer, so the hotspot and the sections through the stack face the camera.
    exploded : bool
        Separate the layers vertically.
    slices : bool
        Draw a horizontal slice of the temperature through the middle of every layer (with layer
        outlines) instead of the solid layers; best with ``exploded=True``.
    window_size : (int, int)
        Picture size in pixels.
    plotter : pyvista.Plotter, optional
        A plotter returned by an earlier call to draw into instead of a new one: its actors are
        removed and its camera replaced, and the picture is the same as from a new plotter. Reusing
        one saves the set-up of a render window (an OpenGL context) per picture; ``off_screen`` is
        then the plotter's own.

    Returns
    -------
    pyvista.Plotter
        Add to it, then ``pl.show()`` (interactive when there is a display) or ``pl.screenshot(path)``.
        World coordinates are millimetres in x and y and display heights in z
        (:func:`world_coordinates`).

    Examples
    --------
    >>> import codesign
    >>> from codesign.thermal import analyse
    >>> from codesign.viz.render import plot_hotspots
    >>> pl = plot_hotspots(analyse(codesign.load_layout("demo")), screenshot="hotspots.png")  # doctest: +SKIP
    >>> pl.show()  # interactive where there is a display  # doctest: +SKIP
    """
    pv = _pyvista()
    model = report.model
    stack = model.stack
    temperature = np.asarray(report.temperature, dtype=float)
    if off_screen is None:
        off_screen = screenshot is not None or bool(pv.OFF_SCREEN) or not has_display()
    zmap = _z_map(model, z_scale, exploded, slices)
    hottest = report.hottest if report.chiplets else None
    clim = (float(temperature.min()) - KELVIN, float(temperature.max()) - KELVIN)

    if plotter is None:
        pl = pv.Plotter(off_screen=off_screen, window_size=list(window_size))
    else:
        pl = _cleared(plotter, pv, window_size)
        off_screen = pl.off_screen
        pl.suppress_rendering = True  # a window already shown renders on every add: once, at the end, is enough
    try:
        _draw(pl, pv, report, model, stack, temperature, zmap, hottest, clim, z_scale, clip, exploded, slices,
              window_size)
    finally:
        pl.suppress_rendering = False
    if plotter is not None:
        pl.render()  # the window shows the last picture until it renders again (a new plotter renders on its screenshot)
    if screenshot is not None:
        if off_screen:
            shot = Path(screenshot)
            if shot.suffix.lower() == ".png" and (shot.is_absolute() or not isinstance(pv.FIGURE_PATH, str)):
                from .plots import save_image

                save_image(pl.screenshot(None, return_img=True), shot)  # the same pixels, written faster
            else:
                pl.screenshot(str(screenshot))
        else:  # a window was asked for: show it, and save the picture when it is closed
            pl.show(screenshot=str(screenshot), auto_close=False)
    return pl


def _draw(pl, pv, report, model, stack, temperature, zmap, hottest, clim, z_scale, clip, exploded, slices,
          window_size) -> None:
    """The scene of :func:`plot_hotspots` in ``pl``."""
    pl.set_background("white")
    blocks = _display_blocks(model, temperature, zmap, pv)

    # The cutaway: remove the quadrant between the hotspot and the nearer package corner.
    if hottest is not None:
        hx, hy = hottest.hotspot[0] * 1e3, hottest.hotspot[1] * 1e3
    else:  # no chiplets: cut through the hottest node
        i, j, _ = np.unravel_index(int(np.argmax(temperature)), temperature.shape)
        hx, hy = model.grid.x[i] * 1e3, model.grid.y[j] * 1e3
    px0, px1 = stack.package.x * 1e3, stack.package.x1 * 1e3
    py0, py1 = stack.package.y * 1e3, stack.package.y1 * 1e3
    sx = -1.0 if hx - px0 <= px1 - hx else 1.0
    sy = -1.0 if hy - py0 <= py1 - hy else 1.0
    big = 10.0 * max(px1 - px0, py1 - py0) + 10.0 * float(zmap.z_disp[-1] + zmap.gap * len(stack.layers))
    cut = ((px0 - big, hx) if sx < 0 else (hx, px1 + big)) + ((py0 - big, hy) if sy < 0 else (hy, py1 + big)) \
        + (-big, big)

    scalar_bar = dict(title="Temperature [°C]", vertical=True, position_x=0.885, position_y=0.18, width=0.045,
                      height=0.62, title_font_size=20, label_font_size=18, fmt="%.0f", color="black", n_labels=6)
    # Layers above the top die layer (lid, TIM) are drawn translucent, so the dies show through.
    top_die = min((i for i, l in enumerate(stack.layers) if l.chiplets), default=0)
    cover = {l.name for l in stack.layers[:top_die]}
    first = True
    for layer, block in blocks:
        kw = dict(scalars="temperature_C", cmap=CMAP, clim=clim, show_scalar_bar=first,
                  scalar_bar_args=scalar_bar, smooth_shading=False)
        if slices:
            lo, hi = zmap.layer_range(list(reversed(stack.layers)).index(layer))
            sl = block.slice(normal="z", origin=(block.center[0], block.center[1], 0.5 * (lo + hi)))
            if sl.n_points:
                pl.add_mesh(sl, **kw)
                first = False
            pl.add_mesh(block.outline(), color="grey", line_width=1)
            continue
        shown = _cut_away(block, cut, pv) if clip else block
        if shown is None or shown.n_cells == 0:
            continue
        if layer.name in cover:
            kw["opacity"] = COVER_OPACITY
        pl.add_mesh(shown, **kw)
        first = False
        # Dark edges of the layer's outline: the layer stack reads at a glance.
        pl.add_mesh(shown.extract_feature_edges(boundary_edges=False, feature_edges=True, manifold_edges=False,
                                                feature_angle=60), color="#303030", line_width=1,
                    opacity=0.3 if layer.name in cover else 0.7)

    # Chiplet outlines (outside the cutaway), then the hotspot labels, hottest first and red.
    for chip in stack.chiplets:
        b = _chiplet_box(model, chip.name, zmap)
        if slices:  # the die's rectangle on its layer's slice
            zm = 0.5 * (b[4] + b[5])
            box = pv.Rectangle([(b[0], b[2], zm), (b[1], b[2], zm), (b[1], b[3], zm)]).extract_feature_edges(
                boundary_edges=True, feature_edges=False, manifold_edges=False)
        else:
            box = pv.Box(bounds=b).extract_feature_edges(feature_angle=60)
        if clip and not slices:
            box = box.clip_box(cut, invert=True)
        if box.n_points:
            pl.add_mesh(box, color="black", line_width=2.5)

    # Camera: from the cutaway's corner, above, so the notch and its sections face the viewer; the
    # bounds leave headroom above the stack for the hotspot flags.
    top = float(zmap.z_disp[-1] + zmap.gap * (len(stack.layers) - 1))
    size = max(px1 - px0, py1 - py0)
    centre = np.array([(px0 + px1) / 2, (py0 + py1) / 2, 0.5 * (zmap.z_disp[0] + top)])
    direction = np.array([sx * 1.0, sy * 1.35, 0.75 if slices and exploded else 1.05])
    pl.camera.focal_point = tuple(centre)
    pl.camera.position = tuple(centre + direction / np.linalg.norm(direction))
    pl.camera.up = (0.0, 0.0, 1.0)
    pl.reset_camera(bounds=(px0, px1, py0, py1, float(zmap.z_disp[0]), top + 0.16 * size))
    pl.camera.zoom(0.95 if slices and exploded else 1.15)
    _layer_legend(pl, stack, zmap, (px0, px1, py0, py1), window_size)

    # Hotspot flags: a marker at a chiplet's hottest point, a pole up to above the stack and the
    # label on top, raised until it clears the labels already placed (hottest first, in red), so no
    # label covers the cutaway. Dummy dies without power or limit get no flag. Of the other dies
    # the hottest of each kind in each layer is flagged, and every die over its limit; the rest of a kind are
    # summarised in the note line ("4 more hbm: 60.9-61.8 °C"), so alike dies do not crowd the
    # picture; at most MAX_LABELS flags.
    candidates = [c for c in sorted(report.chiplets, key=lambda c: -c.junction)
                  if c.power > 0 or c.tj_max is not None or c.kind != "dummy"]
    flagged, kinds = [], set()
    for c in candidates:
        if (c.kind, c.layer) not in kinds or (c.margin is not None and c.margin < 0):
            flagged.append(c)
            kinds.add((c.kind, c.layer))
    if hottest is not None:
        flagged = [hottest] + [c for c in flagged if c.name != hottest.name]
    flagged = flagged[:MAX_LABELS]
    placed: list[tuple[float, float, float, float]] = []
    for rank, c in enumerate(flagged):
        hot = rank == 0
        font = 19 if hot else 15
        point = world_coordinates(model, c.hotspot, z_scale=z_scale, exploded=exploded, slices=slices)
        margin = "" if c.margin is None else f"  ({c.margin:+.1f} K to Tj,max)"
        text = f"{c.name}  {c.junction - KELVIN:.1f} °C{margin}"
        width, height = 0.52 * font * len(text) + 12.0, 1.5 * font
        flag = point.copy()
        for step in range(48):
            flag[2] = top + (0.035 + 0.01 * step) * size
            (x, y), = _to_display(pl.renderer, [flag])
            box = (x - 4.0, y - 4.0, x + width, y + height)
            if not any(box[0] < b[2] and b[0] < box[2] and box[1] < b[3] and b[1] < box[3] for b in placed):
                break
        placed.append(box)
        pl.add_mesh(pv.Line(point, flag), color="#b00000" if hot else "black", line_width=2.5 if hot else 1.5,
                    reset_camera=False)
        pl.add_points(point[None, :], color="#b00000" if hot else "black", point_size=16 if hot else 11,
                      render_points_as_spheres=True, reset_camera=False)
        style = (dict(text_color="white", shape_color="#b00000") if hot else
                 dict(text_color="black", shape_color="white"))
        pl.add_point_labels(flag[None, :], [text], font_size=font, shape_opacity=0.9, show_points=False,
                            always_visible=True, margin=4, reset_camera=False, **style)

    pl.add_text(f"{stack.name}: {report.power_in:.0f} W, max {report.max_temperature - KELVIN:.1f} °C"
                + (f" in {hottest.name}" if hottest else ""), position="upper_left", font_size=14, color="black")
    notes = [f"z x{zmap.scale:.3g}" + (" (thin layers thickened: z not to scale)" if zmap.inflated else "")]
    if exploded:
        notes.append("layers exploded")
    if slices:
        notes.append("slices through the middle of each layer")
    elif clip:
        notes.append(f"corner cut away through the {hottest.name if hottest else 'hottest'} hotspot")
    if cover and not slices:
        notes.append(f"{', '.join(sorted(cover, key=[l.name for l in stack.layers].index))} translucent")
    notes += unflagged_notes(report.chiplets, flagged)
    notes.append(f"ambient {stack.top.ambient - KELVIN:.0f} °C")
    pl.add_text("; ".join(notes), position="lower_left", font_size=10, color="#404040")


def _cut_away(block, box, pv):
    """``block.clip_box(box, invert=True)``, the part of ``block`` outside ``box``, clipping only by the
    faces of the box that cross the block (pyvista clips by all six, and each clip is a pass over every
    cell; here four of them lie far outside): the same cells, four times faster."""
    from vtkmodules.vtkFiltersCore import vtkAppendFilter

    b = block.bounds
    inside, outside = block, []
    for axis in range(3):
        for sign, at in ((-1.0, box[2 * axis]), (1.0, box[2 * axis + 1])):
            if (at <= b[2 * axis]) if sign < 0 else (at >= b[2 * axis + 1]):
                continue  # the whole block lies on the box's side of this face
            normal = [0.0, 0.0, 0.0]
            normal[axis] = sign
            origin = [0.0, 0.0, 0.0]
            origin[axis] = at
            inside, piece = inside.clip(normal=normal, origin=origin, invert=True, return_clipped=True)
            if piece.n_cells:
                outside.append(piece)
    if not outside:
        return None
    append = vtkAppendFilter()
    append.SetMergePoints(True)
    for piece in outside:
        append.AddInputData(piece)
    append.Update()
    return pv.wrap(append.GetOutput())


def _cleared(pl, pv, window_size) -> "pv.Plotter":
    """A plotter of an earlier picture, emptied as if new: no actors or scalar bars, a fresh camera
    (reset_camera, zoom and the legend's window shift of the last picture change the old one); the
    render window, its OpenGL context and the lights stay."""
    for title in list(pl.scalar_bars.keys()):
        pl.remove_scalar_bar(title, render=False)
    pl.renderer.clear_actors()
    pl.renderer.camera = pv.Camera(pl.renderer)
    if list(pl.window_size) != list(window_size):
        pl.window_size = list(window_size)
    return pl


def unflagged_notes(chiplets, flagged) -> list[str]:
    """One note per chiplet kind for the dies without a flag: ``"4 more hbm: 60.9-61.8 °C"``."""
    names = {c.name for c in flagged}
    by_kind: dict[str, list] = {}
    for c in chiplets:
        if c.name not in names:
            by_kind.setdefault(c.kind, []).append(c)
    notes = []
    for kind, cs in by_kind.items():
        tj = [c.junction - KELVIN for c in cs]
        what = kind.replace("_", " ")
        span = f"{min(tj):.1f} °C" if max(tj) - min(tj) < 0.05 else f"{min(tj):.1f}-{max(tj):.1f} °C"
        notes.append(f"{len(cs)} more {what} {'die' if len(cs) == 1 else 'dies'}: {span}")
    return notes


def _to_display(renderer, points) -> np.ndarray:
    """World points -> display pixels (origin at the lower left) through the renderer's camera."""
    out = []
    for p in np.atleast_2d(points):
        renderer.SetWorldPoint(float(p[0]), float(p[1]), float(p[2]), 1.0)
        renderer.WorldToDisplay()
        out.append(renderer.GetDisplayPoint()[:2])
    return np.array(out)


def _layer_legend(pl, stack, zmap: _ZMap, package_mm, window_size) -> None:
    """Layer names and thicknesses beside the left-most vertical edge of the package, on screen."""
    x0, x1, y0, y1 = package_mm
    layers = list(reversed(stack.layers))  # bottom first
    mids = [0.5 * sum(zmap.layer_range(kb)) for kb in range(len(layers))]
    corners = [(x, y) for x in (x0, x1) for y in (y0, y1)]
    disp = [_to_display(pl.renderer, [(x, y, m) for m in mids]) for x, y in corners]
    edge = min(range(4), key=lambda i: disp[i][:, 0].mean())
    font = 9
    step = 2.2 * font
    texts = []
    for layer in layers:
        t = layer.thickness * 1e6
        texts.append(f"{layer.name} {t:.0f} um" if t < 1000 else f"{layer.name} {t / 1e3:.3g} mm")
    # Shift the scene right when the legend would run off the left edge of the picture.
    need = 14.0 + 1.15 * font * max(len(t) for t in texts) - float(disp[edge][:, 0].min())
    if need > 0:
        wx, wy = pl.camera.GetWindowCenter()
        pl.camera.SetWindowCenter(wx - 2.0 * need / window_size[0], wy)
        disp[edge] = _to_display(pl.renderer, [(corners[edge][0], corners[edge][1], m) for m in mids])
    xs, ys = disp[edge][:, 0], disp[edge][:, 1].copy()
    for i in range(1, len(ys)):              # push labels apart, bottom up
        ys[i] = max(ys[i], ys[i - 1] + step)
    for text, x, y in zip(texts, xs, ys):
        actor = pl.add_text(text, position=(float(x) - 10.0, float(y) - 0.5 * font), font_size=font,
                            color="#202020")
        actor.prop.justification_horizontal = "right"
