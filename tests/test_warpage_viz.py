"""Warpage pictures and the report section from a synthetic result (no elastic solve: fast)."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

import codesign as cd
from codesign.mechanics import WarpageSpec, default_steps
from codesign.viz.warpage import _section_warpage, exaggeration
from codesign.warpage import WarpageCase, WarpageReport, bottom_warpage


@pytest.fixture(scope="module")
def synthetic():
    model = cd.build(cd.load_layout("demo"), max_lateral_size=3e-3, min_lateral_size=3e-3, grading=1.0)
    g = model.grid
    X, Y = np.meshgrid(g.x - (g.x[0] + g.x[-1]) / 2, g.y - (g.y[0] + g.y[-1]) / 2, indexing="ij")
    kappa = 0.5  # 1/m: a dome (the centre above the corners)
    cases = {}
    for name, sign in (("room", 1.0), ("reflow", -0.5)):
        w = -sign * kappa * (X**2 + Y**2) / 2 + 1e-5 * X  # a tilt, which the best-fit plane removes
        signed, cop, resid = bottom_warpage(model, w)
        sol = SimpleNamespace(iterations=np.array(42), relative_residual=np.array(1e-9), converged=np.array(True))
        cases[name] = WarpageCase(name, f"{name} test", float(signed), float(cop), 220e-6,
                                  {c.name: 1e8 for c in model.stack.chiplets},
                                  {layer.name: 2e8 for layer in model.stack.layers},
                                  {"c4": {"shear_strain": 1e-3, "x": 1e-3, "y": 2e-3, "dnp": 9e-3}}, resid, sol)
    return WarpageReport(model, model.params, WarpageSpec(), default_steps(model.stack), True, cases,
                         ("a note",)), kappa


def test_bottom_warpage_removes_the_plane_and_signs_a_dome(synthetic):
    report, kappa = synthetic
    g = report.model.grid
    X, Y = np.meshgrid(g.x - (g.x[0] + g.x[-1]) / 2, g.y - (g.y[0] + g.y[-1]) / 2, indexing="ij")
    dome = -kappa * (X**2 + Y**2) / 2
    # the same definition computed independently: least-squares plane over every bottom node
    A = np.stack([np.ones(X.size), X.ravel(), Y.ravel()], axis=1)
    r = dome.ravel() - A @ np.linalg.lstsq(A, dome.ravel(), rcond=None)[0]
    expected = r.max() - r.min()
    ext = report.model.stack.layers[-1].extent
    assert expected == pytest.approx(kappa / 2 * ((ext.width / 2) ** 2 + (ext.height / 2) ** 2), rel=0.05)
    room = report.cases["room"]
    assert room.warpage == pytest.approx(expected, rel=1e-9) and room.shape.startswith("cry")
    assert report.cases["reflow"].warpage == pytest.approx(-0.5 * expected, rel=1e-9)
    assert report.cases["reflow"].shape.startswith("smile")
    assert room.ok is True and report.flags == []


def test_pictures_and_report_section(synthetic, tmp_path):
    report, _ = synthetic
    factor = exaggeration(report)  # 10 % of the package's larger side for the largest coplanarity
    assert factor * report.cases["room"].coplanarity == pytest.approx(0.1 * 27e-3)
    ctx = SimpleNamespace(run=SimpleNamespace(warpage=report, stack=report.model.stack), folder=tmp_path,
                          outputs=None, files=[])
    html = _section_warpage(ctx)
    assert "warpage_maps.png" in html and f"×{factor:.0f}" in html and "defaults" in html
    assert len(ctx.files) == 2
    for name in ("warpage_maps.png", "warpage_3d.png"):  # written by plot_warpage_maps and plot_warpage_3d
        assert (tmp_path / name).stat().st_size > 10_000
    assert _section_warpage(SimpleNamespace(run=SimpleNamespace())) is None
    text = report.table()
    assert "room" in text and "c4" in text and "note: a note" in text


def test_operating_temperature_from_another_grid_is_interpolated(synthetic):
    """`codesign report` solves the warpage on its own coarse grid at the thermal run's temperatures."""
    from codesign.warpage import _element_temperature

    report, _ = synthetic
    coarse = report.model
    fine = cd.build(coarse.stack, max_lateral_size=1.5e-3)
    g = fine.grid
    X, Y, Z = np.meshgrid(g.x, g.y, g.z, indexing="ij")
    linear = 300.0 + 1e3 * X - 2e3 * Y + 5e4 * Z  # trilinear interpolation is exact for it
    got = _element_temperature(coarse, SimpleNamespace(model=fine, temperature=linear))
    xc, yc, zc = coarse.grid.element_centres()
    Xc, Yc, Zc = np.meshgrid(xc, yc, zc, indexing="ij")
    np.testing.assert_allclose(got, 300.0 + 1e3 * Xc - 2e3 * Yc + 5e4 * Zc, rtol=1e-12)
    # on its own grid: the mean of each element's nodes
    own = _element_temperature(fine, SimpleNamespace(model=fine, temperature=linear))
    fx, fy, fz = g.element_centres()
    Fx, Fy, Fz = np.meshgrid(fx, fy, fz, indexing="ij")
    np.testing.assert_allclose(own, 300.0 + 1e3 * Fx - 2e3 * Fy + 5e4 * Fz, rtol=1e-12)
    with pytest.raises(cd.ModelError, match="expected a scalar"):
        _element_temperature(coarse, np.zeros((3, 3)))
    # a board model: the package's report is shifted up by the board and the joints; below the
    # package bottom the joints and the board take the package bottom's temperature
    from codesign.mechanics import with_board
    from codesign.warpage import package_bottom_z

    board = cd.build(with_board(coarse.stack))
    zoff = package_bottom_z(board)
    assert zoff == pytest.approx(1.6e-3 + 0.45e-3)
    got = _element_temperature(board, SimpleNamespace(model=fine, temperature=linear))
    bx, by, bz = board.grid.element_centres()
    Bx, By, Bz = np.meshgrid(bx, by, np.maximum(bz - zoff, 0.0), indexing="ij")
    np.testing.assert_allclose(got, 300.0 + 1e3 * Bx - 2e3 * By + 5e4 * Bz, rtol=1e-12)


def test_board_and_fatigue_in_table_dict_and_section(synthetic, tmp_path):
    """A board analysis's extra results (board bow, critical-ball strain, fatigue) reach the table, the
    dictionary and the report section (synthetic numbers: no solve)."""
    import dataclasses
    import json

    from codesign.mechanics import KELVIN, engelmaier_cycles

    report, _ = synthetic
    room = dataclasses.replace(report.cases["room"], board_warpage=12e-6, support="board",
                               bump_strain={**report.cases["room"].bump_strain,
                                            "bga_joints": {"shear_strain": 2e-3, "x": 0.0, "y": 0.0, "dnp": 15e-3}})
    reflow = dataclasses.replace(report.cases["reflow"], support="free")
    fatigue = {"bga_joints": {"range": 1e-3, "mean_temperature": 50 + KELVIN, "cycles_per_day": 1.0,
                              "cycles": engelmaier_cycles(1e-3, 50.0), "x": 0.0, "y": 0.0, "dnp": 15e-3}}
    r = dataclasses.replace(report, spec=WarpageSpec(support="board"), cases={"room": room, "reflow": reflow},
                            fatigue=fatigue)
    text = r.table()
    assert "board bow, room: 12.0 um" in text and "critical BGA ball shear strain 2.000e-03 (DNP 15.0 mm)" in text
    assert "board bow, reflow: -" in text and "solder-joint fatigue" in text and "Engelmaier" in text
    d = json.loads(json.dumps(r.to_dict()))
    assert d["board"]["thickness_mm"] == pytest.approx(1.6) and d["cases"]["room"]["board_warpage_um"] == 12.0
    assert d["solder_fatigue"]["bga_joints"]["cycles_to_failure"] == pytest.approx(fatigue["bga_joints"]["cycles"])
    ctx = SimpleNamespace(run=SimpleNamespace(warpage=r, stack=r.model.stack), folder=tmp_path, outputs=None, files=[])
    html = _section_warpage(ctx)
    assert "On its board" in html and "board bow" in html and "Engelmaier" in html and "cycles to failure" in html


def test_board_support_needs_the_board_model(synthetic):
    """support 'board' on a package model is rebuilt with the board (or a clear error when params
    made for the package are given); a board model with another support is an error (no solve)."""
    import dataclasses

    from codesign.mechanics import has_board
    from codesign.warpage import _ensure_board, signed_warpage

    report, _ = synthetic
    pkg = report.model
    board = WarpageSpec(support="board")
    rebuilt = _ensure_board(pkg, board, None, "analyse_warpage")
    assert has_board(rebuilt.stack) and rebuilt.grid.shape[:2] == pkg.grid.shape[:2]
    assert rebuilt.grid.shape[2] > pkg.grid.shape[2]
    with pytest.raises(cd.ModelError, match="params` were made for the package alone"):
        _ensure_board(pkg, board, pkg.params, "analyse_warpage")
    with pytest.raises(cd.ModelError, match="has the board layers"):
        _ensure_board(rebuilt, dataclasses.replace(board, support="free", board=None), None, "analyse_warpage")
    with pytest.raises(cd.ModelError, match="without the board layers"):
        signed_warpage(pkg, temperature=300.0, spec=board)
