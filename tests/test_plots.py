"""2D pictures: layer maps, transients, Pareto plots; written with the Agg canvas, no pyplot state."""

import numpy as np
import pytest


from _imaging import n_colours, read_png  # noqa: E402
from codesign.viz import plots  # noqa: E402
from codesign.results import KELVIN  # noqa: E402


def _assert_not_blank(path, colours=50):
    img = read_png(path)
    assert n_colours(img) > colours
    assert (np.abs(img.astype(int) - 255).sum(axis=2) > 30).mean() > 0.05


def test_layer_maps_data(coarse_report):
    maps = plots.layer_maps(coarse_report)
    stack = coarse_report.model.stack
    assert [m["name"] for m in maps] == [layer.name for layer in stack.layers]
    by_name = {m["name"]: m for m in maps}
    hot = coarse_report.hottest
    assert np.isclose(by_name[stack.layer_of(hot.name).name]["max"], hot.junction)
    dies = by_name["dies"]
    ext = stack.layer("dies").extent
    outside = dies["x"] < ext.x - 1e-9
    assert np.all(np.isnan(dies["temperature"][outside, :]))   # air around the die layer is blank
    assert not np.any(np.isnan(by_name["lid"]["temperature"]))


def test_plot_layer_maps_png(coarse_report, tmp_path):
    import matplotlib.pyplot as plt

    before = plt.get_fignums()
    path = plots.plot_layer_maps(coarse_report, tmp_path / "sub" / "layers.png")
    assert path.is_file()
    _assert_not_blank(path, colours=500)
    # The picture spends many pixels on the hot end of the colour map (the logic die and below).
    img = read_png(path).astype(float)
    top = np.array(__import__("matplotlib").colormaps[plots.CMAP](1.0)[:3]) * 255
    assert (np.linalg.norm(img - top, axis=2) < 40).sum() > 200
    one = plots.plot_layer_maps(coarse_report, tmp_path / "dies.png", layers=["dies"], shared_scale=False)
    _assert_not_blank(one)
    with pytest.raises(ValueError, match="unknown layers"):
        plots.plot_layer_maps(coarse_report, tmp_path / "x.png", layers=["nope"])
    assert plt.get_fignums() == before  # nothing left in pyplot's registry


def test_plot_transient(tmp_path):
    t = np.linspace(0.0, 10.0, 50)
    temps = {"logic": KELVIN + 35 + 70 * (1 - np.exp(-t / 2)), "hbm0": KELVIN + 35 + 30 * (1 - np.exp(-t / 4))}
    path = plots.plot_transient(t, temps, tmp_path / "transient.png", tj_max={"logic": KELVIN + 105})
    _assert_not_blank(path)
    log = plots.plot_transient(np.geomspace(1e-4, 10, 30), {"a": np.linspace(300, 350, 30)}, tmp_path / "log.png")
    _assert_not_blank(log)
    with pytest.raises(ValueError, match="'logic' has"):
        plots.plot_transient(t, {"logic": np.zeros(3)}, tmp_path / "bad.png")
    with pytest.raises(ValueError, match="empty"):
        plots.plot_transient(t, {}, tmp_path / "bad.png")


def test_pareto_front_by_hand():
    v = np.array([[1.0, 5.0], [2.0, 3.0], [3.0, 4.0], [4.0, 1.0], [2.0, 3.0], [5.0, 5.0]])
    np.testing.assert_array_equal(plots.pareto_front(v), [True, True, False, True, True, False])
    # Maximising y: (1, 5) and (5, 5) tie on y; the cheaper one dominates.
    np.testing.assert_array_equal(plots.pareto_front(v, ("min", "max")), [True, False, False, False, False, False])
    with pytest.raises(ValueError, match="'min' or 'max'"):
        plots.pareto_front(v, ("min", "up"))


def test_plot_pareto(tmp_path):
    rng = np.random.default_rng(0)
    points = [{"name": f"d{i}", "cost": float(c), "t_max": float(60 + 300 / c + rng.normal(0, 3)),
               "area": float(rng.uniform(100, 900))} for i, c in enumerate(rng.uniform(5, 40, 30))]
    path = plots.plot_pareto(points, "cost", "t_max", tmp_path / "pareto.png", labels="name",
                             xlabel="cost [$]", ylabel="T max [°C]", title="sweep")
    _assert_not_blank(path)
    coloured = plots.plot_pareto(points, "cost", "area", tmp_path / "pareto2.png", colour="t_max",
                                 sense=("min", "max"), labels=[p["name"] for p in points])
    _assert_not_blank(coloured)
    with pytest.raises(ValueError, match="missing"):
        plots.plot_pareto(points, "cost", "power", tmp_path / "bad.png")
    with pytest.raises(ValueError, match="labels"):
        plots.plot_pareto(points, "cost", "t_max", tmp_path / "bad.png", labels=["a"])
