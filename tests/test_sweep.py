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
    # each chunk of this tiny sweep solves in a few ms once its programs are loaded, faster than the
    # loop below looks: the child pauses 0.3 s after writing each chunk (its results file is written
    # as always), so the kill lands between chunks, after the second, whatever the machine's speed
    code = ("import sys, time; import codesign.explore.sweep as s; from codesign.cli import main; "
            "write = s._ResultsFile.append; "
            "s._ResultsFile.append = lambda self, rows: (write(self, rows), time.sleep(0.3))[0]; "
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


# -- resource guards and total spec reading (issue 17) ------------------------------------------------

DEMO_SPEC = """
layout = "demo"
[[parameters]]
kind = "power"
target = "logic"
scale = [0.5, 1.0]
"""


def _limited(code: str, memory: int = 1536 << 20, timeout: float = 300) -> dict:
    """Run ``code`` (which prints one ``@@{json}`` line) in a fresh interpreter under RLIMIT_AS = ``memory``."""
    import json
    import os
    import subprocess
    import sys

    prog = f"import resource\nresource.setrlimit(resource.RLIMIT_AS, ({memory}, {memory}))\n" + code
    p = subprocess.run([sys.executable, "-c", prog], capture_output=True, text=True, timeout=timeout,
                       env={**os.environ, "JAX_PLATFORMS": "cpu"}, stdin=subprocess.DEVNULL)
    lines = [ln for ln in p.stdout.splitlines() if ln.startswith("@@")]
    assert p.returncode == 0 and lines, f"exit {p.returncode}:\n{p.stderr[-3000:]}"
    return json.loads(lines[-1][2:])


def test_variant_count_is_capped_by_max_variants():
    """`samples = 1e8` was accepted (and 1e7 built 6.7 GB of variants before the first solve)."""
    random_spec = 'mode = "random"\n' + DEMO_SPEC.replace("scale = [0.5, 1.0]", "scale_range = [0.5, 1.0]")
    with pytest.raises(SweepSpecError, match=r"samples: the sweep has 100,000,000 variants, more than max_variants = "
                                             r"1,000,000 .* set max_variants = 100000000 at the top"):
        loads_sweep_spec("samples = 100000000\n" + random_spec, source="s.toml")
    grid = DEMO_SPEC + "".join(f'[[parameters]]\nkind = "{k}"\ntarget = "{t}"\nscale = {list(range(1, 101))}\n'
                               for k, t in [("power", "hbm0"), ("power", "hbm1"), ("heat_transfer_coefficient", "top")])
    with pytest.raises(SweepSpecError, match=r"parameters: the sweep has 2,000,000 variants \(2 x 100 x 100 x 100\)"):
        loads_sweep_spec(grid, source="s.toml")
    assert loads_sweep_spec("max_variants = 2000000\n" + grid).count == 2_000_000
    with pytest.raises(SweepSpecError, match=r"steps: expected a whole number in \[2, 100,000\], got 1000000000"):
        loads_sweep_spec("samples = 10\n" + random_spec + "steps = 1000000000\n", source="s.toml")


STREAM = """
import json, sys, time, itertools


def peak_rss_mb():
    # this process's own peak (VmHWM): ru_maxrss also holds the parent's peak, kept across fork + exec on Linux
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024


t0 = time.perf_counter()
import codesign.explore.sweep as sw
spec = sw.loads_sweep_spec('''{spec}''')
t1 = time.perf_counter()
first = next(sw._chunks(spec, sw.iter_variants(spec), 64))
t2 = time.perf_counter()
n = sum(1 for _ in itertools.islice(sw.iter_variants(spec), 200_000))
t3 = time.perf_counter()

class Stop(Exception):
    pass

def first_solve(spec, chunk, method="auto"):
    raise Stop(len(chunk))

sw.evaluate_variants = first_solve
t4 = time.perf_counter()
try:
    sw.run_sweep(spec, sys.argv[1] if len(sys.argv) > 1 else "{out}", progress=None)
except Stop as e:
    reached = e.args[0]
t5 = time.perf_counter()
import resource
print("@@" + json.dumps(dict(count=spec.count, chunk=len(first), first_s=t2 - t1, per_variant_s=(t3 - t2) / n,
                             first_solve_s=t5 - t4, reached=reached,
                             rss_mb=peak_rss_mb())))
"""


@pytest.mark.parametrize("mode", ["random", "grid"])
def test_ten_million_variants_stream_in_bounded_memory(mode, tmp_path):
    """A 1e7-variant sweep reaches its first chunk (and its first solve) at once, under a 1.5 GB address-space
    limit: nothing builds the whole variant list (1e7 random samples took 5.4 min and 6.7 GB)."""
    if mode == "random":
        spec = ('max_variants = 10000000\nmode = "random"\nsamples = 10000000\nseed = 5\n' +
                DEMO_SPEC.replace("scale = [0.5, 1.0]", "scale_range = [0.5, 1.5]") +
                '[[parameters]]\nkind = "ambient"\ntarget = "top"\nrange = ["20 degC", "45 degC"]\n')
    else:
        spec = 'max_variants = 10000000\nlayout = "demo"\n' + "".join(
            f'[[parameters]]\nkind = "{k}"\ntarget = "{t}"\nscale = {[round(0.5 + 0.1 * i, 2) for i in range(10)]}\n'
            for k, t in [("power", "logic"), ("power", "hbm0"), ("power", "hbm1"), ("heat_transfer_coefficient", "top"),
                         ("heat_transfer_coefficient", "bottom"), ("conductivity", "tim_polymer"),
                         ("conductivity", "copper")])
    res = _limited(STREAM.format(spec=spec, out=tmp_path / "r.jsonl"))
    assert res["count"] == 10_000_000 and res["chunk"] == 64 and res["reached"] == 16
    assert res["first_s"] < 5 and res["first_solve_s"] < 10, res
    assert res["per_variant_s"] < 50e-6, res        # 1e7 variants stream in minutes, not hours
    assert res["rss_mb"] < 1000, res


def test_random_variants_are_drawn_in_seeded_blocks():
    """A variant depends only on the seed and its index: raising samples keeps the earlier ones (so a resumed,
    extended random sweep skips them), and blocks beyond the first differ."""
    from codesign.explore.sweep import RANDOM_BLOCK, iter_variants

    text = ('mode = "random"\nseed = 11\n' + DEMO_SPEC.replace("scale = [0.5, 1.0]", "scale_range = [0.5, 1.5]")
            + '[[parameters]]\nkind = "material"\ntarget = "interposer"\nvalues = ["silicon", "mold"]\n')
    small = sweep_variants(loads_sweep_spec("samples = 5\n" + text))
    big = sweep_variants(loads_sweep_spec(f"samples = {RANDOM_BLOCK + 10}\n" + text))
    assert big[:5] == small and len(big) == RANDOM_BLOCK + 10
    assert big[RANDOM_BLOCK:RANDOM_BLOCK + 5] != big[:5]
    assert {v["material:interposer"] for v in big} == {"silicon", "mold"}
    other = sweep_variants(loads_sweep_spec("samples = 5\n" + text.replace("seed = 11", "seed = 12")))
    assert other != small
    assert list(iter_variants(loads_sweep_spec(f"samples = {RANDOM_BLOCK + 10}\n" + text))) == big


def test_mesh_overrides_are_checked_against_the_cell_limit_when_the_spec_is_read():
    """Sweep mesh overrides skipped the cell limit and ended in MemoryError or an OOM kill."""
    with pytest.raises(SweepSpecError, match=r"mesh: the largest variant meshes to about [\d,]+ cells, more than the "
                                             r"limit of [\d,]+; raise mesh.max_lateral_size .* set max_cells = \d+"):
        loads_sweep_spec(DEMO_SPEC + '[mesh]\nmax_lateral_size = "10 um"\nmin_lateral_size = "10 um"\n',
                         source="s.toml")
    # a swept thickness is checked at its largest value: 1 mm of TIM in 1 um cells
    thick = DEMO_SPEC + ('[mesh]\nmax_vertical_size = "1 um"\n[[parameters]]\nkind = "thickness"\ntarget = "tim1"\n'
                         'values = ["50 um", "5 mm"]\n')
    with pytest.raises(SweepSpecError, match="the largest variant meshes to about"):
        loads_sweep_spec(thick, source="s.toml")
    # the limit is stated and can be raised on purpose
    with pytest.raises(SweepSpecError, match=r"mesh: the largest variant meshes to about 238,645 cells, more than the "
                                             r"limit of 1,000"):
        loads_sweep_spec("max_cells = 1000\n" + DEMO_SPEC, source="s.toml")
    assert loads_sweep_spec("max_cells = 240000\nchunk_size = 1\n" + DEMO_SPEC).max_cells == 240000
    with pytest.raises(SweepSpecError, match=r"chunk_size: a chunk of 16 variants of about 238,645 cells holds "
                                             r"3,818,320 cells .* chunk_size <= 4"):
        loads_sweep_spec("max_cells = 1000000\n" + DEMO_SPEC, source="s.toml")
    with pytest.raises(SweepSpecError, match=r"mesh.min_lateral_size: 0.002 m is larger than max_lateral_size"):
        loads_sweep_spec(DEMO_SPEC + '[mesh]\nmin_lateral_size = "2 mm"\nmax_lateral_size = "1 mm"\n', source="s.toml")


def test_run_sweep_checks_a_chunk_size_override(spec_path):
    from codesign.errors import ModelError

    spec = dataclasses.replace(load_sweep_spec(spec_path), max_cells=500)
    with pytest.raises(ModelError, match=r"`run_sweep\(chunk_size=1000\)`: a chunk of 1000 variants"):
        run_sweep(spec, spec_path.parent / "never.jsonl", chunk_size=1000, progress=None)
    assert not (spec_path.parent / "never.jsonl").exists()


@pytest.mark.parametrize("change, message", [
    (lambda t: t.replace('kind = "power"', 'kind = ["power"]'),
     r"parameters\[0\].kind: expected a parameter kind .* got an array \['power'\]"),         # was: unhashable type
    (lambda t: t.replace('kind = "power"', 'kind = {x = 1}'), r"parameters\[0\].kind: expected"),
    (lambda t: t.replace('kind = "power"', 'kind = "powr"'),
     r"parameters\[0\].kind: unknown parameter kind 'powr'; did you mean 'power'\?"),
    (lambda t: t.replace('target = "logic"', 'target = "logik"'),
     r"parameters\[0\].target: .* got 'logik'; did you mean 'logic'\?; the layout has: logic, hbm0, hbm1"),
    (lambda t: "sampels = 3\n" + t, r"sampels: unknown key 'sampels'; did you mean 'samples'\?"),
    (lambda t: t + "[mesh]\nmax_lateral_sise = \"1 mm\"\n",
     r"mesh.max_lateral_sise: unknown key .* did you mean 'max_lateral_size'\?"),
    (lambda t: t + "scael = [1.0]\n", r"parameters\[0\].scael: unknown key 'scael'; did you mean 'scale'\?"),
    (lambda t: t + "[mesh]\nmax_lateral_size = \"0 mm\"\n", r"mesh.max_lateral_size: '0 mm' is out of range"),
    (lambda t: t + "[mesh]\ngrading = nan\n", r"mesh.grading: expected a number in \[1, 3\], got nan"),
    (lambda t: t + "[mesh]\ncells_per_layer = 100000\n", r"mesh.cells_per_layer: expected a whole number in \[1, 64\]"),
    (lambda t: "samples = 4\n" + t, r"samples: samples = N is the size of a random sweep"),
    (lambda t: t + "steps = 3\n", r"parameters\[0\].steps: steps applies to a range"),
    (lambda t: t.replace("[0.5, 1.0]", "[0.5, 0.5]"), r"parameters\[0\].scale: the value 0.5 \(SI\) is listed twice"),
    (lambda t: t.replace("[0.5, 1.0]", "[0.5, 1e300]"), r"scale\[1\]: expected a positive factor \(a number in \(0, 1e6\]\)"),
    (lambda t: t.replace("[0.5, 1.0]", "[0.5, 1e5]"),
     r"scale\[1\]: a factor of 100000 on the layout's power of 'logic' gives 1e\+07 \(SI\), out of range: between 0 and "
     r"100 kW"),
    (lambda t: t.replace("scale = [0.5, 1.0]", 'values = ["1e300 W"]'), r"'1e300 W' is out of range for a power"),
    (lambda t: t.replace("scale = [0.5, 1.0]", 'values = ["1 W", "' + " " * 40000 + '2 W"]'),
     r"values\[1\]: a 40,003-character string is not a power; give a value such as \"350 W\""),
    (lambda t: "x = " + "[" * 500 + "]" * 500 + "\n" + t, r"TOML nested more than 32 levels deep"),
    (lambda t: 'name = "a\\u0000b"\n' + t, r"name: contains a control character"),
    (lambda t: "layout = 3\n" + t.replace('layout = "demo"\n', ""), r"layout: expected a layout path"),
    (lambda t: t.replace('"demo"', '"' + "d" * 4000 + '"'), r"layout: cannot load 'ddd"),
    (lambda t: t.replace('"demo"', '"' + "d" * 5000 + '"'), r"layout: 5,000 characters, more than the 4,096 allowed"),
    (lambda t: t.replace('"demo"', '"/dev/stdin"'), r"layout: cannot load"),
    (lambda t: t + '[objectives]\nx = "max_temperature"\n',
     r"objectives.x: unknown column 'max_temperature'; did you mean 'max_temperature_C'\?"),
])
def test_spec_problems_name_the_field_and_the_fix(change, message):
    with pytest.raises(SweepSpecError, match=message):
        loads_sweep_spec(change(DEMO_SPEC), source="s.toml")


def test_load_sweep_spec_reads_files_safely(tmp_path):
    """A missing file, a folder, a symlink loop, non-UTF-8 or oversized text: the spec's error, not a traceback."""
    with pytest.raises(SweepSpecError, match="no such sweep spec; check the path"):
        load_sweep_spec(tmp_path / "missing.toml")
    with pytest.raises(SweepSpecError, match="not a regular file"):
        load_sweep_spec(tmp_path)
    (tmp_path / "loop").symlink_to(tmp_path / "loop")
    with pytest.raises(SweepSpecError, match="cannot open the sweep spec"):
        load_sweep_spec(tmp_path / "loop")
    (tmp_path / "latin1.toml").write_bytes(b'name = "d\xe9bit"\n')
    with pytest.raises(SweepSpecError, match="not UTF-8"):
        load_sweep_spec(tmp_path / "latin1.toml")
    with open(tmp_path / "huge.toml", "wb") as fh:
        fh.truncate(64 << 20)
    with pytest.raises(SweepSpecError, match="67,108,864 bytes, more than"):
        load_sweep_spec(tmp_path / "huge.toml")
