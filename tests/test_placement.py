"""Placement: gradients of the soft model equal finite differences; the optimiser cools a
crowded layout while keeping the dies inside the extent and apart."""

import jax.numpy as jnp
import numpy as np
import pytest

import codesign as cd
from codesign import loads_layout
from codesign.explore.placement import (PlacementError, PlacementWeights, build_soft_model, legalize, move_chiplets,
                                optimize_placement, wirelength)

CROWDED = """
schema = 1
name = "crowded"
[package]
size = ["20 mm", "8 mm"]
[boundaries.top]
heat_transfer_coefficient = "5e3 W/m^2/K"
ambient = "25 degC"
[boundaries.bottom]
heat_transfer_coefficient = "200 W/m^2/K"
ambient = "25 degC"
[[layers]]
name = "tim"
material = "tim_polymer"
thickness = "50 um"
[[layers]]
name = "dies"
material = "mold"
thickness = "300 um"
  [[layers.chiplets]]
  name = "a"
  kind = "logic"
  material = "silicon_const"
  origin = ["1 mm", "2 mm"]
  size = ["4 mm", "4 mm"]
  power = "20 W"
  active_thickness = "100 um"
    [[layers.chiplets.power_blocks]]
    name = "core"
    origin = ["1 mm", "1 mm"]
    size = ["2 mm", "2 mm"]
    power = "5 W"
  [[layers.chiplets]]
  name = "b"
  kind = "logic"
  material = "silicon_const"
  origin = ["5.5 mm", "2 mm"]
  size = ["4 mm", "4 mm"]
  power = "20 W"
[[layers]]
name = "interposer"
material = "silicon_const"
thickness = "100 um"
[[links]]
between = ["a", "b"]
bandwidth = "100 GB/s"
[mesh]
max_lateral_size = "1 mm"
cells_per_layer = 1
max_vertical_size = "1 mm"
"""


@pytest.fixture(scope="module")
def stack():
    return loads_layout(CROWDED)


def test_soft_model_conserves_power(stack):
    m = build_soft_model(stack)
    f = m.fields(jnp.asarray(m.start + 0.37))
    assert f.total_power(m.model.grid) == pytest.approx(stack.total_power, rel=1e-10)


def test_placement_gradient_matches_central_differences(stack):
    import jax

    m = build_soft_model(stack, weights=PlacementWeights(footprint=0.01))
    p0 = m.start + np.array([[0.3, 0.2], [0.1, -0.4]])  # off-grid, dies overlapping softly
    # one compiled program gives the values (its forward solve) and the gradient
    vg = jax.jit(jax.value_and_grad(lambda p: m.objective(p, rtol=1e-12)))
    fun = lambda p: vg(p)[0]  # noqa: E731
    g = np.asarray(vg(jnp.asarray(p0))[1])
    eps = 1e-4  # mm; the objective is smooth on the scale of the 0.5 mm edge width
    for i, j in [(0, 0), (1, 1)]:
        pp, pm = p0.copy(), p0.copy()
        pp[i, j] += eps
        pm[i, j] -= eps
        fd = (float(fun(jnp.asarray(pp))) - float(fun(jnp.asarray(pm)))) / (2 * eps)
        assert g[i, j] == pytest.approx(fd, rel=1e-5, abs=1e-6)


def test_optimiser_cools_crowded_layout_and_keeps_constraints(stack):
    res = optimize_placement(stack, steps=12, learning_rate=0.5, progress=None)
    assert res.after["peak_C"] < res.before["peak_C"] - 5.0
    ext = stack.layer("dies").extent
    rects = [res.stack_after.chiplet(n).rect for n in ("a", "b")]
    for r in rects:
        assert ext.contains(r, tol=1e-12)
    assert not rects[0].overlaps(rects[1])
    # the power block moved with its die
    a = res.stack_after.chiplet("a")
    assert a.rect.contains(a.power_blocks[0].rect, tol=1e-12)
    assert res.after["wirelength_mm"] == pytest.approx(wirelength(res.stack_after))


def test_legalize_separates_and_reports_what_cannot_fit(stack):
    m = build_soft_model(stack)
    p = legalize(m, np.array([[3.0, 2.0], [4.0, 2.5]]))
    assert p[1, 0] - p[0, 0] >= 4.0 - 1e-9 or abs(p[1, 1] - p[0, 1]) >= 4.0 - 1e-9
    tight = move_chiplets(stack, {})
    m2 = build_soft_model(tight, min_spacing=15e-3)
    with pytest.raises(PlacementError, match="min_spacing"):
        legalize(m2, m2.start)


def test_soft_model_matches_the_conforming_model_on_a_coarse_grid(stack):
    """Default-suite version of the next test (1 mm cells). Die edges fall between grid lines here,
    so the soft dies are smeared over up to half a cell at each edge: the peak rise agrees to 2 %
    (measured 1.2 %); the slow test puts the edges on grid lines and gets within 1 K."""
    m = build_soft_model(stack, cell_size=1e-3, edge_width=1e-6)
    soft = float(np.max(np.asarray(m.temperature(jnp.asarray(m.start)))))
    exact = cd.analyse(cd.build(stack, max_lateral_size=1e-3, min_lateral_size=1e-3, grading=1.0))
    ambient = float(m.base_fields.ambient["zmax"].min())
    assert soft - ambient == pytest.approx(exact.max_temperature - ambient, rel=0.02)


@pytest.mark.slow
def test_soft_model_tends_to_the_conforming_model(stack):
    """With die edges on the fixed grid and sharp soft edges, the soft temperature is the
    conforming mesh's (the fields agree to the edge leak, the peak to about a kelvin)."""
    from codesign.thermal import analyse

    m = build_soft_model(stack, cell_size=0.5e-3, edge_width=1e-6)
    soft = float(np.max(np.asarray(m.temperature(jnp.asarray(m.start)))))
    exact = analyse(cd.build(stack, max_lateral_size=0.5e-3, min_lateral_size=0.5e-3, grading=1.0)).max_temperature
    assert soft == pytest.approx(exact, abs=1.0)
