"""3D pictures render headless and mean something: colours, and the hot colour over the hot die."""

import subprocess
import sys

import numpy as np
import pytest

import pyvista as pv  # noqa: E402
import codesign  # noqa: E402
from _imaging import n_colours, read_png  # noqa: E402
from codesign.viz import render  # noqa: E402
from codesign.results import KELVIN  # noqa: E402

pv.OFF_SCREEN = True


def _to_pixels(renderer, points, height) -> np.ndarray:
    """World points -> (column, row) of the screenshot, through the renderer's world-to-display transform."""
    out = []
    for p in points:
        renderer.SetWorldPoint(*map(float, p), 1.0)
        renderer.WorldToDisplay()
        x, y, _ = renderer.GetDisplayPoint()
        out.append((x, height - 1 - y))  # display y runs up from the bottom, image rows run down
    return np.array(out)


def test_to_pyvista_orders_points_and_cells_like_the_grid(coarse_report):
    g = coarse_report.model.grid
    grid = render.to_pyvista(coarse_report)
    assert isinstance(grid, pv.RectilinearGrid)
    assert grid.n_points == g.n_nodes and grid.n_cells == g.n_elements
    nx, ny, _ = g.node_shape
    for i, j, k in [(0, 0, 0), (3, 5, 7), (nx - 1, ny - 1, len(g.z) - 1)]:
        idx = i + nx * (j + ny * k)
        np.testing.assert_allclose(grid.points[idx], (g.x[i], g.y[j], g.z[k]))
        assert grid.point_data["temperature"][idx] == coarse_report.temperature[i, j, k]
    ex, ey, _ = g.shape
    i, j, k = 4, 6, 8
    assert grid.cell_data["region"][i + ex * (j + ey * k)] == g.region[i, j, k]
    assert list(grid.field_data["region_names"]) == list(g.region_names)
    # A model alone gives the geometry and regions, no temperature.
    bare = render.to_pyvista(coarse_report.model)
    assert "temperature" not in bare.point_data and "region" in bare.cell_data
    with pytest.raises(ValueError, match="shape"):
        render.to_pyvista(coarse_report.model, temperature=np.zeros(3))
    with pytest.raises(TypeError, match="ThermalReport or a Model"):
        render.to_pyvista(42)


def test_hottest_colour_lies_over_the_hottest_chiplet(coarse_report):
    """Top view of the temperature on the plane through the hotspot: the top colour of the colour
    map falls inside the projected rectangle of the hottest chiplet, the bottom colour outside."""
    import matplotlib

    hot = coarse_report.hottest
    grid = render.to_pyvista(coarse_report, length_scale=1e3)
    plane = grid.slice(normal="z", origin=(grid.center[0], grid.center[1], hot.hotspot[2] * 1e3))
    t = plane.point_data["temperature_C"]
    assert np.isclose(t.max(), hot.junction - KELVIN)  # the plane holds the hotspot
    pl = pv.Plotter(off_screen=True, window_size=(640, 512))
    pl.set_background("white")
    pl.add_mesh(plane, scalars="temperature_C", cmap=render.CMAP, clim=(t.min(), t.max()), lighting=False,
                show_scalar_bar=False)
    pl.view_xy()
    pl.enable_parallel_projection()
    img = pl.screenshot(return_img=True)[:, :, :3].astype(float)
    height, width = img.shape[:2]

    rect = codesign.load_layout("demo").chiplet(hot.name).rect
    z = hot.hotspot[2] * 1e3
    corners = [(rect.x * 1e3, rect.y * 1e3, z), (rect.x1 * 1e3, rect.y1 * 1e3, z)]
    (c0, r0), (c1, r1) = _to_pixels(pl.renderer, corners, height)
    pl.close()
    col_lo, col_hi = sorted((c0, c1))
    row_lo, row_hi = sorted((r0, r1))
    assert (col_hi - col_lo) * (row_hi - row_lo) < 0.5 * width * height  # the box is a real constraint

    cmap = matplotlib.colormaps[render.CMAP]
    rows, cols = np.mgrid[0:height, 0:width]
    inside = (cols >= col_lo - 1) & (cols <= col_hi + 1) & (rows >= row_lo - 1) & (rows <= row_hi + 1)
    for end, expect_inside in ((1.0, True), (0.0, False)):
        colour = np.array(cmap(end)[:3]) * 255
        dist = np.linalg.norm(img - colour, axis=2)
        nearest = dist <= dist.min() + 10.0
        assert dist.min() < 30.0, f"no pixel near the colour map's {'top' if end else 'bottom'} colour"
        share = inside[nearest].mean()
        if expect_inside:
            assert share > 0.98, f"{share:.0%} of the hottest-coloured pixels lie over {hot.name}"
        else:
            assert share < 0.02, f"{share:.0%} of the coolest-coloured pixels lie over {hot.name}"


def test_plot_hotspots_writes_a_meaningful_png(coarse_report, tmp_path):
    path = tmp_path / "hot.png"
    pl = render.plot_hotspots(coarse_report, screenshot=path, window_size=(900, 600))
    assert isinstance(pl, pv.Plotter)  # returned for the caller to add to
    img = read_png(path)
    assert img.shape == (600, 900, 3)
    assert n_colours(img) > 500
    assert (np.abs(img.astype(int) - 255).sum(axis=2) > 30).mean() > 0.2  # not a white page
    # The red hotspot flag of the hottest chiplet is on the picture, at its hotspot.
    point = render.world_coordinates(coarse_report, coarse_report.hottest.hotspot)
    (col, row), = _to_pixels(pl.renderer, [point], img.shape[0])
    assert 0 <= col < img.shape[1] and 0 <= row < img.shape[0]
    patch = img[int(row) - 4:int(row) + 5, int(col) - 4:int(col) + 5].reshape(-1, 3).astype(int)
    assert np.any((patch[:, 0] > 140) & (patch[:, 1] < 60) & (patch[:, 2] < 60)), "no red marker at the hotspot"
    pl.add_text("the caller can keep adding", position="upper_right")
    pl.close()


def test_exploded_and_slice_views_render(coarse_report, tmp_path):
    for kw in (dict(exploded=True), dict(exploded=True, slices=True, clip=False), dict(z_scale=1.0)):
        path = tmp_path / f"view{len(kw)}{kw.get('z_scale', '')}.png"
        render.plot_hotspots(coarse_report, screenshot=path, window_size=(700, 450), **kw).close()
        assert n_colours(read_png(path)) > 300, kw


def test_world_coordinates_stack_layers_in_order(coarse_report):
    model = coarse_report.model
    zs = [model.layer_z[layer.name][0] for layer in model.stack.layers]  # top layer first
    for kw in ({}, {"exploded": True}, {"z_scale": 3.0}):
        w = render.world_coordinates(coarse_report, [(0.0, 0.0, z) for z in zs], **kw)
        assert np.all(np.diff(w[:, 2]) < 0), kw
    w = render.world_coordinates(coarse_report, (0.001, 0.002, 0.0), z_scale=3.0)
    np.testing.assert_allclose(w, (1.0, 2.0, 0.0))
    with pytest.raises(ValueError, match="z_scale"):
        render.plot_hotspots(coarse_report, z_scale=-1.0)


def test_off_screen_is_chosen_without_a_display(coarse_report, monkeypatch):
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    if sys.platform.startswith("linux"):
        assert not render.has_display()
    pl = render.plot_hotspots(coarse_report, window_size=(300, 200))
    assert pl.off_screen
    pl.close()


def test_importing_codesign_loads_no_plotting_library():
    code = ("import sys, codesign, codesign.viz, codesign.viz.render, codesign.viz.plots, codesign.viz.report; "
            "import codesign.cli; "
            "bad = [m for m in ('pyvista', 'vtkmodules', 'matplotlib') if m in sys.modules]; "
            "assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_a_result_without_chiplets_still_renders(coarse_report, tmp_path):
    import dataclasses

    bare = dataclasses.replace(coarse_report, chiplets=())
    path = tmp_path / "bare.png"
    render.plot_hotspots(bare, screenshot=path, window_size=(400, 300)).close()
    assert n_colours(read_png(path)) > 100


def test_a_reused_plotter_draws_the_same_picture(coarse_report, tmp_path):
    """write_report draws both 3D pictures with one plotter: the second picture is the one a new plotter draws."""
    fresh = tmp_path / "fresh.png"
    render.plot_hotspots(coarse_report, screenshot=fresh, window_size=(500, 320), exploded=True).close()
    pl = render.plot_hotspots(coarse_report, screenshot=tmp_path / "first.png", window_size=(500, 320))
    again = render.plot_hotspots(coarse_report, screenshot=tmp_path / "again.png", window_size=(500, 320),
                                 exploded=True, plotter=pl)
    assert again is pl
    pl.close()
    np.testing.assert_array_equal(read_png(tmp_path / "again.png"), read_png(fresh))
