"""Mesher conformity: every interface and edge is a grid line, power is conserved, thin layers kept."""

import numpy as np
import pytest

import codesign as cd
from codesign.mesh import export_vtu, read_vtu
from solvers import graded_axis


@pytest.fixture(scope="module")
def demo():
    return cd.build(cd.load_layout("demo"))


def on_grid(values, axis):
    return all(np.isclose(axis, v, rtol=0, atol=1e-12).any() for v in values)


def test_every_edge_and_interface_is_a_grid_line(demo):
    s, g = demo.stack, demo.grid
    zs = [z for pair in demo.layer_z.values() for z in pair]
    assert on_grid(zs, g.z)
    for layer in s.layers:
        assert on_grid([layer.extent.x, layer.extent.x1], g.x) and on_grid([layer.extent.y, layer.extent.y1], g.y)
        for c in layer.chiplets:
            assert on_grid([c.rect.x, c.rect.x1], g.x) and on_grid([c.rect.y, c.rect.y1], g.y)
            for b in c.power_blocks:
                assert on_grid([b.rect.x, b.rect.x1], g.x) and on_grid([b.rect.y, b.rect.y1], g.y)
    # Active slab of the logic die (20 um at the bump side) is a grid line too.
    zb, _ = demo.layer_z["dies"]
    assert on_grid([zb + 20e-6], g.z)


def test_total_power_on_grid_equals_layout(demo):
    assert demo.fields().total_power(demo.grid) == pytest.approx(demo.stack.total_power, rel=1e-12)
    for c in demo.stack.chiplets:
        for key in demo.chiplet_sources(c.name):
            p = float(np.sum(demo.source_pattern(key) * demo.grid.cell_volumes()))
            assert p == pytest.approx(1.0, rel=1e-12)  # unit patterns
        assert sum(demo.params.power[k] for k in demo.chiplet_sources(c.name)) == pytest.approx(c.total_power)
        p = float(np.sum(demo.chiplet_pattern(c.name) * demo.grid.cell_volumes()))
        assert p == pytest.approx(1.0, rel=1e-12)


def test_regions_and_materials_match_the_stack(demo):
    g = demo.grid
    mask = g.region_mask("dies/logic")
    assert np.all(np.asarray(demo.fields().kx)[mask] == 148.0)
    assert np.all(g.material[mask] == g.material_names.index("silicon"))
    vol = float(np.sum(g.cell_volumes()[mask]))
    assert vol == pytest.approx(8e-3 * 10e-3 * 700e-6, rel=1e-12)
    # Microbumps only under the dies of the layer above.
    ub = g.region_mask("microbumps/microbump")
    area = float(np.sum(g.cell_volumes()[ub])) / 30e-6
    assert area == pytest.approx(8e-3 * 10e-3 + 2 * 6e-3 * 10e-3, rel=1e-12)


def test_max_cell_sizes_and_cells_per_layer(demo):
    dx, dy, dz = demo.grid.spacing
    assert dx.max() <= 500e-6 * (1 + 1e-12) and dy.max() <= 500e-6 * (1 + 1e-12)
    assert dz.max() <= 200e-6 * (1 + 1e-12)
    for zb, zt in demo.layer_z.values():
        n = np.sum((demo.grid.z > zb + 1e-12) & (demo.grid.z < zt + 1e-12))
        assert n >= 2


def test_thin_bond_layer_gets_its_own_cells():
    stack = cd.load_layout("demo")
    stack = stack.with_layer("tim1", thickness=2e-6)
    m = cd.build(stack)
    zb, zt = m.layer_z["tim1"]
    inside = (m.grid.z >= zb - 1e-15) & (m.grid.z <= zt + 1e-15)
    assert inside.sum() == 3  # two cells of 1 um through the 2 um layer
    assert np.diff(m.grid.z[inside]) == pytest.approx([1e-6, 1e-6])


def test_graded_axis_keeps_ratio_and_breakpoints():
    x = graded_axis([0.0, 1e-3, 1.2e-3, 5e-3], max_size=4e-4, min_size=2e-5, grading=1.3)
    for b in (0.0, 1e-3, 1.2e-3, 5e-3):
        assert np.isclose(x, b, atol=1e-15).any()
    d = np.diff(x)
    assert d.max() <= 4e-4 * (1 + 1e-12)
    # Within each interval between breakpoints, neighbouring cells differ by at most the grading.
    for lo, hi in ((0.0, 1e-3), (1e-3, 1.2e-3), (1.2e-3, 5e-3)):
        di = np.diff(x[(x >= lo - 1e-15) & (x <= hi + 1e-15)])
        assert np.max(np.maximum(di[1:] / di[:-1], di[:-1] / di[1:])) <= 1.3 + 1e-9
    assert d.min() <= 2e-5 * (1 + 1e-9)


def test_mesh_overrides_refine(demo):
    fine = cd.build(demo.stack, max_lateral_size=250e-6)
    assert fine.grid.n_elements > demo.grid.n_elements
    assert fine.fields().total_power(fine.grid) == pytest.approx(116.0, rel=1e-12)


def test_vtu_round_trip(demo, tmp_path):
    t = 300.0 + np.arange(demo.grid.n_nodes, dtype=float).reshape(demo.grid.node_shape) * 1e-3
    path = tmp_path / "demo.vtu"
    export_vtu(demo, path, temperature=t)
    back = read_vtu(path)
    assert back["cells"].shape == (demo.grid.n_elements, 8)
    np.testing.assert_array_equal(back["cell_data"]["region"], demo.grid.region.ravel())
    np.testing.assert_array_equal(back["cell_data"]["material"], demo.grid.material.ravel())
    np.testing.assert_allclose(back["cell_data"]["kz"], np.asarray(demo.fields().kz).ravel(), rtol=0)
    np.testing.assert_allclose(back["cell_data"]["power_density"], np.asarray(demo.fields().source).ravel(), rtol=0)
    np.testing.assert_allclose(back["point_data"]["temperature"], t.ravel(), rtol=0)
    assert back["region_names"] == list(demo.grid.region_names)
    assert back["material_names"] == list(demo.grid.material_names)
    import pyvista as pv

    vol = pv.read(path).volume  # VTK's own volume: the hexahedra are well oriented
    assert vol == pytest.approx(27e-3 * 16e-3 * demo.grid.z[-1], rel=1e-9)


def test_vtu_written_by_our_writer_reads_like_meshios(demo, tmp_path):
    """The fast .vtu writer (zlib level 1 in blocks, on every core) gives VTK, pyvista and meshio
    the same mesh and data as meshio's own writer."""
    import meshio
    import pyvista as pv

    rng = np.random.default_rng(1)
    t = 300.0 + rng.random(demo.grid.node_shape)
    disp = rng.random(demo.grid.node_shape)
    ours, theirs = tmp_path / "ours.vtu", tmp_path / "theirs.vtu"
    export_vtu(demo, ours, temperature=t, extra_point_data={"displacement": disp})
    demo.grid.to_meshio(point_data={"temperature": t, "displacement": disp}).write(str(theirs))
    a, b = meshio.read(str(ours)), meshio.read(str(theirs))
    np.testing.assert_array_equal(a.points, b.points)
    np.testing.assert_array_equal(a.cells[0].data, b.cells[0].data)
    for k in ("temperature", "displacement"):
        np.testing.assert_array_equal(a.point_data[k], b.point_data[k])
    np.testing.assert_array_equal(a.cell_data["region"][0], b.cell_data["region"][0])
    pa, pb = pv.read(ours), pv.read(theirs)
    assert (pa.n_points, pa.n_cells) == (pb.n_points, pb.n_cells) == (demo.grid.n_nodes, demo.grid.n_elements)
    assert set(pa.celltypes) == {pv.CellType.HEXAHEDRON}
    np.testing.assert_array_equal(np.asarray(pa.point_data["displacement"]), disp.ravel())
    np.testing.assert_array_equal(np.asarray(pa.cell_data["material"]), demo.grid.material.ravel())
    assert pa.volume == pytest.approx(pb.volume, rel=1e-14)


def test_skfem_mesh_has_named_subdomains_and_boundaries(demo):
    m = demo.grid.to_skfem()
    assert set(m.boundaries) == {"xmin", "xmax", "ymin", "ymax", "zmin", "zmax"}
    nx, ny, nz = demo.grid.shape
    assert len(m.boundaries["zmax"]) == nx * ny
    assert "dies/logic" in m.subdomains
    np.testing.assert_array_equal(m.subdomains["dies/logic"], np.flatnonzero(demo.grid.region_mask("dies/logic")))


def test_extra_heat_sources_land_in_their_strip_and_conserve_power(demo):
    logic = demo.stack.chiplet("logic").rect
    strip = cd.Rect(logic.x1 - 0.7e-3, logic.y + 1e-3, 0.7e-3, 4e-3)
    hs = cd.HeatSource("phy_hbm0", "logic", strip, 3.5, origin="interconnect")
    m = cd.build(demo.stack, heat_sources=[hs])
    assert m.fields().total_power(m.grid) == pytest.approx(116.0 + 3.5, rel=1e-12)
    assert m.params.power["logic/phy_hbm0"] == 3.5 and m.sources["logic/phy_hbm0"] == ("logic", "heat_source")
    q = m.source_pattern("logic/phy_hbm0") * 3.5
    assert float(np.sum(q * m.grid.cell_volumes())) == pytest.approx(3.5, rel=1e-12)
    xc, yc, _ = m.grid.element_centres()
    ix, iy, _ = np.nonzero(q)
    assert xc[ix].min() > strip.x and xc[ix].max() < strip.x1 and yc[iy].min() > strip.y and yc[iy].max() < strip.y1
    assert on_grid([strip.x, strip.x1], m.grid.x) and on_grid([strip.y, strip.y1], m.grid.y)


def test_heat_source_outside_its_chiplet_is_refused(demo):
    hs = cd.HeatSource("bad", "hbm0", cd.Rect(0.0, 0.0, 1e-3, 1e-3), 1.0)
    with pytest.raises(cd.ModelError, match="must lie inside chiplet 'hbm0'"):
        cd.build(demo.stack, heat_sources=[hs])


def test_the_real_cell_count_is_checked_once_the_axes_are_built(demo, monkeypatch):
    """The estimate can be off: the count of the built axes is checked too, before the 3-D arrays."""
    import codesign.mesh as mesh

    monkeypatch.setattr(mesh, "estimate_cells", lambda stack: 1)
    with pytest.raises(cd.ModelError, match=rf"the mesh would have exactly {demo.n_cells:,} cells, more than the "
                                            r"limit of 1,000 \(`max_cells`\)"):
        cd.build(demo.stack, max_cells=1000)
    assert cd.build(demo.stack, max_cells=demo.n_cells).n_cells == demo.n_cells


def test_mesh_overrides_are_checked(demo):
    with pytest.raises(cd.ModelError, match=r"`build`: cells_per_layer=2.5: give a positive whole number; "
                                            r"max_vertical_size=inf: give a positive, finite length"):
        cd.build(demo.stack, cells_per_layer=2.5, max_vertical_size=float("inf"))
    with pytest.raises(cd.ModelError, match=r"unknown mesh control 'lateral'"):
        cd.mesh.with_mesh_overrides(demo.stack, lateral=1e-3)


def test_a_vtu_write_that_fails_leaves_no_partial_file(demo, tmp_path, monkeypatch):
    import errno

    from codesign._output import OutputError

    def full_disk(filename, *args, **kwargs):
        with open(filename, "w") as f:
            f.write("<VTKFile")          # a torn start, then the disk is full
        raise OSError(errno.ENOSPC, "No space left on device")

    import codesign.mesh

    monkeypatch.setattr(codesign.mesh, "_write_vtu", full_disk)
    with pytest.raises(OutputError, match=r"cannot write .*demo.vtu: No space left on device \(ENOSPC\); kept: "
                                          r"nothing; no partial file was left"):
        export_vtu(demo, tmp_path / "demo.vtu")
    assert list(tmp_path.iterdir()) == []
