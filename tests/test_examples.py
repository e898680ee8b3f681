"""Each example runs (off-screen, on a coarse mesh) and its key numbers hold."""

import importlib.util
from pathlib import Path

import numpy as np
import pytest

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def load(name):
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_01_design_script(tmp_path):
    """On the layout's own mesh, as the example runs: the README's quick start (tests/test_readme_commands.py,
    started before this file: tests/conftest.py) stored these solver programs in the session's compile cache."""
    r = load("01_design_script").main(out_dir=tmp_path)
    assert r["power_in_W"] == pytest.approx(116.0)
    assert r["heat_out_W"] == pytest.approx(116.0, rel=1e-6)  # energy balance
    assert r["energy_residual"] < 1e-6
    assert r["hottest"] == "logic" and 80.0 < r["logic_junction_C"] < 130.0
    assert r["hbm_deliverable_GBps"] == pytest.approx(819.2)
    assert Path(r["picture"]).stat().st_size > 10_000


@pytest.mark.slow  # ~28 s on 2 cores; the same API path (power trace, transient solve, energy balance) is tested in tests/test_transient_domain.py
def test_03_transient_hotspot(tmp_path):
    r = load("03_transient_hotspot").main(out_dir=tmp_path, max_lateral_size=3e-3, dt=0.1, duration=5.0)
    times, p = np.array(r["times_s"]), np.array(r["power_in_W"])
    # Power in follows the trace: 20 W idle (+16 W HBM) before 1 s, 100 W (+16) during the burst.
    np.testing.assert_allclose(p[times <= 1.0 + 1e-9], 36.0, rtol=1e-9)
    np.testing.assert_allclose(p[(times > 1.0 + 1e-9) & (times <= 3.0 + 1e-9)], 116.0, rtol=1e-9)
    assert r["peak_time_s"] == pytest.approx(3.0, abs=1e-6)  # hottest at the end of the burst
    assert r["start_C"] < r["peak_C"] and r["end_C"] < r["peak_C"]
    assert r["peak_C"] <= r["steady_burst_C"] + 1e-6  # a 2 s burst stays below its steady state
    assert (Path(tmp_path) / "junction.png").is_file()


def test_02_batch_sweep(tmp_path):
    mod = load("02_batch_sweep")
    first = mod.main(out_dir=tmp_path, max_chunks=2)  # interrupted after two chunks ...
    r = mod.main(out_dir=tmp_path)  # ... and resumed
    assert first["computed"] == 12 and r["skipped"] == 12 and r["computed"] == 24
    rows = r["rows"]
    assert len(rows) == 36 and len({row["key"] for row in rows}) == 36
    assert all(row["converged"] and row["energy_residual"] < 1e-6 for row in rows)
    hot = [row for row in rows if row["params"]["power:logic/scale"] == 1.4]
    best = min(hot, key=lambda row: row["max_temperature_C"])
    assert best["params"] == {"power:logic/scale": 1.4, "conductivity:tim_polymer": 8.0,
                              "heat_transfer_coefficient:top": 3e4, "thickness:tim1": 25e-6}
    # Monotone in power at fixed TIM and heat sink.
    def t(scale):
        return next(row["max_temperature_C"] for row in rows if row["params"] == {**best["params"],
                                                                                  "power:logic/scale": scale})
    assert t(0.6) < t(1.0) < t(1.4)
    assert Path(r["pareto"]).stat().st_size > 5_000


@pytest.mark.slow  # ~25 s on 2 cores; explore with thermal solves and infeasible kept: tests/test_partition.py; the CLI: tests/test_readme_commands.py
def test_04_partition():
    r = load("04_partition").main(thermal_top=2)
    assert r["n_candidates"] > 100 and r["n_infeasible"] > 0  # infeasible ones are kept, with reasons
    assert r["best_chiplets"] > 1  # chiplets beat the monolithic die on cost here
    assert r["monolithic_cost"] is not None and r["best_cost"] < r["monolithic_cost"]
    assert 40 < r["best_peak_C"] < 150
    assert r["pareto"] >= 1


@pytest.mark.slow  # ~55 s of compiling on 2 cores; tests/test_model.py checks the same grad and vmap API at the same size
def test_05_gradient_and_batch():
    r = load("05_gradient_and_batch").main(max_lateral_size=3e-3, target_C=90.0, steps=4)
    slopes = [s for _, _, s in r["h_history"]]
    assert all(s < 0 for s in slopes)  # a better heat sink cools the junction
    assert r["tj_final_C"] == pytest.approx(90.0, abs=0.05)  # Newton with the adjoint gradient converged
    assert r["linear_fit_residual_K"] < 1e-6  # linear problem: the vmapped batch lies on a line
    assert np.all(np.diff(r["tj_batch_C"]) > 0)
