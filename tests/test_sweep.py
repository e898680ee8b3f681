"""Sweeps: batched rows equal one-by-one solves, resume completes without loss or duplicates,
the dask backend equals the local one, and spec errors name the field."""

import dataclasses

import pytest

from codesign.cli import main as cli_main
from codesign.explore.sweep import (ResultsFileWarning, SweepSpecError, evaluate_variants, load_sweep_spec,
                                    loads_sweep_spec, read_results, run_sweep, sweep_variants, variant_key)
from codesign.thermal import analyse

LAYOUT = """
schema = 1
name = "tiny"
[package]
size = ["12 mm", "8 mm"]
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
  power = "10 W"
  [[layers.chiplets]]
  name = "b"
  kind = "logic"
  material = "silicon_const"
  origin = ["7 mm", "2 mm"]
  size = ["4 mm", "4 mm"]
  power = "5 W"
[[layers]]
name = "interposer"
material = "silicon_const"
thickness = "100 um"
[mesh]
max_lateral_size = "2 mm"
cells_per_layer = 1
max_vertical_size = "1 mm"
"""

SPEC = """
schema = 1
name = "tiny_sweep"
layout = "tiny.toml"
chunk_size = 2
[[parameters]]
kind = "power"
target = "a"
scale = [0.5, 1.5]
[[parameters]]
kind = "heat_transfer_coefficient"
target = "top"
values = ["3e3 W/m^2/K", "8e3 W/m^2/K"]
[[parameters]]
kind = "thickness"
target = "tim"
values = ["50 um", "100 um"]
"""


@pytest.fixture(scope="module")
def spec_path(tmp_path_factory):
    d = tmp_path_factory.mktemp("sweep")
    (d / "tiny.toml").write_text(LAYOUT)
    (d / "spec.toml").write_text(SPEC)
    return d / "spec.toml"


@pytest.fixture(scope="module")
def full(spec_path):
    spec = load_sweep_spec(spec_path)
    res = run_sweep(spec, spec_path.parent / "full.jsonl", progress=None)
    return spec, res


def _by_key(rows):
    return {r["key"]: r for r in rows}


def test_batched_rows_equal_one_by_one_solves(full):
    spec, res = full
    assert res.computed == 8 and len(res.rows) == 8
    assert all(r["converged"] for r in res.rows)
    base = spec.stack
    rows = _by_key(res.rows)
    for v in sweep_variants(spec)[::5]:  # 2 of the 8, one per geometry
        s = base.with_chiplet("a", power=base.chiplet("a").power * v["power:a/scale"])
        s = s.with_layer("tim", thickness=v["thickness:tim"])
        s = dataclasses.replace(s, top=dataclasses.replace(s.top, heat_transfer_coefficient=v["heat_transfer_coefficient:top"]))
        rep = analyse(s)
        row = rows[variant_key(spec, v)]
        assert row["max_temperature_C"] == pytest.approx(rep.max_temperature - 273.15, abs=1e-6)
        assert row["tj_C"]["b"] == pytest.approx(rep.chiplet("b").junction - 273.15, abs=1e-6)
        assert row["total_power_W"] == pytest.approx(rep.power_in, rel=1e-12)
        assert row["energy_residual"] < 1e-6


@pytest.mark.slow
def test_vmap_chunk_equals_loop(full):
    spec, res = full
    vs = sweep_variants(spec)[0::2][:2]  # same geometry (thickness varies fastest)
    a = evaluate_variants(spec, vs, method="vmap")
    b = evaluate_variants(spec, vs, method="loop")
    for ra, rb in zip(a, b):
        assert ra["max_temperature_C"] == pytest.approx(rb["max_temperature_C"], abs=1e-7)


def test_resume_after_interruption_completes_without_duplicates(full, spec_path):
    spec, res = full
    out = spec_path.parent / "partial.jsonl"
    first = run_sweep(spec, out, max_chunks=2, progress=None)
    assert first.computed == 4
    with open(out, "a") as fh:  # a torn line, as a kill during a write leaves
        fh.write('{"key": "dead')
    with pytest.raises(FileExistsError, match="--resume"):
        run_sweep(spec, out, progress=None)
    with pytest.warns(ResultsFileWarning, match="kept 4 rows; cut off a damaged tail of 13 bytes"):
        second = run_sweep(spec, out, resume=True, progress=None)
    assert second.skipped == 4 and second.computed == 4
    keys = [r["key"] for r in read_results(out)]
    assert len(keys) == len(set(keys)) == 8
    assert set(keys) == {r["key"] for r in res.rows}
    full_rows = _by_key(res.rows)
    for r in read_results(out):
        assert r["max_temperature_C"] == pytest.approx(full_rows[r["key"]]["max_temperature_C"], abs=1e-9)
    again = run_sweep(spec, out, resume=True, progress=None)
    assert again.computed == 0 and len(again.rows) == 8


def test_dask_backend_equals_local(full, spec_path):
    spec, res = full
    out = spec_path.parent / "dask.jsonl"
    d = run_sweep(spec, out, backend="dask", n_workers=1, processes=False, progress=None)
    assert d.computed == 8
    local = _by_key(res.rows)
    for r in d.rows:
        assert r["params"] == local[r["key"]]["params"]
        assert r["max_temperature_C"] == pytest.approx(local[r["key"]]["max_temperature_C"], abs=1e-9)
        assert r["tj_C"] == pytest.approx(local[r["key"]]["tj_C"], abs=1e-9)


def test_random_mode_is_seeded_and_keys_are_stable(spec_path):
    text = SPEC.replace("chunk_size = 2", "chunk_size = 2\nmode = \"random\"\nsamples = 5\nseed = 7").replace(
        'scale = [0.5, 1.5]', 'scale_range = [0.5, 1.5]')
    a = loads_sweep_spec(text, folder=spec_path.parent)
    b = loads_sweep_spec(text, folder=spec_path.parent)
    va, vb = sweep_variants(a), sweep_variants(b)
    assert va == vb and len(va) == 5
    assert all(0.5 <= v["power:a/scale"] <= 1.5 for v in va)
    assert [variant_key(a, v) for v in va] == [variant_key(b, v) for v in vb]


def test_spec_errors_name_field_value_and_fix(spec_path):
    bad = SPEC.replace('target = "a"', 'target = "zz"').replace('"50 um", "100 um"', '"50 um", 100')
    with pytest.raises(SweepSpecError) as e:
        loads_sweep_spec(bad, source="bad.toml", folder=spec_path.parent)
    msg = str(e.value)
    assert "bad.toml: 2 problems" in msg
    assert "parameters[0].target" in msg and "'zz'" in msg and "a, b" in msg
    assert "parameters[2].values[1]" in msg and "no unit" in msg


def test_sweep_command_writes_summary_and_pareto(full, spec_path, tmp_path, capsys):
    out = tmp_path / "r.jsonl"
    assert cli_main(["sweep", str(spec_path), "-o", str(out)]) == 0
    text = capsys.readouterr().out
    assert "8 variants" in text and "Pareto" in text
    assert (tmp_path / "r.pareto.png").stat().st_size > 1000
    assert cli_main(["sweep", str(spec_path), "-o", str(out)]) == 1  # exists, no --resume: a clean error
    assert "--resume" in capsys.readouterr().err


@pytest.mark.slow
def test_resume_after_killing_a_sweep_process(full, spec_path, tmp_path):
    """Kill a real `codesign sweep` process after its first chunks, then resume: all 8, no duplicates."""
    import os
    import signal
    import subprocess
    import sys
    import time

    out = tmp_path / "killed.jsonl"
    code = ("import sys; from codesign.cli import main; "
            f"sys.exit(main(['sweep', {str(spec_path)!r}, '-o', {str(out)!r}, '--chunk-size', '1', '--no-plot']))")
    proc = subprocess.Popen([sys.executable, "-c", code], stderr=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            cwd=os.path.dirname(os.path.dirname(__file__)))
    t0 = time.time()
    while time.time() - t0 < 120 and proc.poll() is None:
        if out.is_file() and len(read_results(out)) >= 2:
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    n_before = len(read_results(out))
    assert 2 <= n_before < 8
    spec, res = full
    r = run_sweep(spec, out, resume=True, progress=None)
    keys = [row["key"] for row in read_results(out)]
    assert r.computed == 8 - n_before
    assert len(keys) == len(set(keys)) == 8 and set(keys) == {row["key"] for row in res.rows}
