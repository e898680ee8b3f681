"""The command line as users run it: every command on the default (JAX) path, and one exit-code policy.

Exit status: 0 success; 1 a CodesignError, OSError (an output that cannot be written says what
was kept) or MemoryError, printed as one ``TypeName: message`` line (no traceback); 2 a usage
error (argparse); 3 an unexpected exception (a bug: one line, the traceback only with --debug or
CODESIGN_DEBUG=1). Solves use the shipped ``demo`` layout on uniform 4 mm lateral cells, so every
demo solve shares one mesh and its compiled programs.
"""

import contextlib
import errno
import io
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from codesign.cli import main

COARSE = ["--lateral-size", "4 mm"]
COMMANDS = ("layouts", "check", "mesh", "run", "report", "links", "sweep", "optimize", "partition", "warpage")


def cli(*argv) -> tuple[int, str, str]:
    """Run ``codesign ARGV`` in this process: (exit status, stdout, stderr); usage errors give 2."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main([str(a) for a in argv])
        except SystemExit as e:
            code = e.code
    return code, out.getvalue(), err.getvalue()


def _json(path):
    return json.loads(path.read_text())


# -- parser, help, entry point -----------------------------------------------------------------------

def test_every_command_is_listed_and_has_its_own_help():
    code, out, _ = cli("--help")
    assert code == 0
    for name in COMMANDS:
        assert name in out
        code, text, _ = cli(name, "--help")
        assert code == 0 and text.startswith(f"usage: codesign {name}"), name


def test_commands_that_need_the_batch_extra_say_so_in_their_help():
    _, text, _ = cli("sweep", "--help")  # --backend dask; optax (optimize) is a default dependency
    assert "chiplet-codesign[batch]" in text.replace("\n", " ")
    _, text, _ = cli("optimize", "--help")
    assert "pip install optax" in text.replace("\n", " ") and "[batch]" not in text


def test_console_script_entry_point_is_cli_main():
    """The console script runs `main` and exits quickly (`console`: exit handlers, flushed streams, os._exit)."""
    from importlib.metadata import entry_points

    from codesign.cli.main import console

    (ep,) = [e for e in entry_points(group="console_scripts") if e.name == "codesign"]
    assert ep.value == "codesign.cli.main:console" and ep.load() is console


def test_the_console_script_exits_with_mains_status_after_its_output_and_exit_handlers():
    """`console` ends the process with os._exit: the status is main's, everything printed arrives, and the
    exit handlers ran first (a background thread is stopped and waited for, as on an ordinary exit)."""
    code = ("import sys, time\n"
            "import importlib\n"
            "m = importlib.import_module('codesign.cli.main')  # the module (codesign.cli.main is also main)\n"
            "from codesign._background import Background\n"
            "def work():\n"
            "    while not b.cancelled.is_set():\n"
            "        time.sleep(0.01)\n"
            "    time.sleep(0.3)\n"
            "    sys.stderr.write('background step finished\\n')\n"
            "b = Background(work, name='t')\n"
            "def fake_main():\n"
            "    b.start()\n"
            "    sys.stdout.write('x' * 200000 + '\\n')\n"
            "    return 1\n"
            "m.main = fake_main\n"
            "m.console()\n")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert p.returncode == 1, p.stderr
    assert p.stdout == "x" * 200000 + "\n"
    assert "background step finished" in p.stderr


def test_a_reader_that_goes_away_does_not_stop_the_command_before_its_files(tmp_path):
    """`codesign run demo | head`: the output is cut, the work and its files are not (exit 0, no traceback)."""
    out = tmp_path / "r"
    p = subprocess.Popen([sys.executable, "-m", "codesign.cli", "run", "demo", *COARSE, "-o", str(out)],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    p.stdout.close()  # the reader is gone before the first line
    err = p.stderr.read()
    assert p.wait(timeout=600) == 0, err
    assert "BrokenPipeError" not in err
    assert (out / "demo.json").is_file() and (out / "demo.vtu").is_file()


# -- exit-code policy -----------------------------------------------------------------------------------

def test_bad_layout_exits_1_with_one_message_and_no_traceback(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('schema = 1\nname = "x"\n[package]\nsize = ["10 mm", 5]\n')
    r = subprocess.run([sys.executable, "-m", "codesign.cli", "check", str(bad)], capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 1, r.stderr
    assert r.stderr.startswith("LayoutError: ") and "package.size[1]" in r.stderr and "(no unit)" in r.stderr
    assert "Traceback" not in r.stderr and r.stdout == ""


@pytest.mark.parametrize("argv", [
    ["mesh", "demo", "-o", "x.vtu", "--max-lateral-size", "5"],  # a length without a unit
    ["run", "demo", "--no-such-flag"],
    ["run", "demo", "--method", "no-such-solver"],
    ["run", "demo", "--transient", "trace.csv", "--k-of-t"],  # k(T) is a steady option
    ["optimize", "demo", "--min-spacing", "2 W"],
    ["sweep", "spec.toml", "--scheduler", "tcp://h:8786"],  # --scheduler needs --backend dask
    [],
    # values that parsed and then crashed or misbehaved later (issue 17)
    ["run", "demo", "--lateral-size", "-1 mm"],
    ["run", "demo", "--max-lateral-size", "0 mm"],
    ["run", "demo", "--rtol", "-1"],
    ["run", "demo", "--rtol", "nan"],
    ["run", "demo", "--max-cells", "0"],
    ["run", "demo", "--transient", "t.csv", "--dt", "-1 ms"],
    ["mesh", "demo", "-o", "x.vtu", "--max-cells", "1e6"],
    ["optimize", "demo", "--steps", "0"],
    ["optimize", "demo", "--learning-rate", "inf"],
    ["optimize", "demo", "--min-spacing", "-1 mm"],
    ["partition", "s.toml", "--top", "-1"],
    ["partition", "s.toml", "--volume", "-5"],
    ["partition", "s.toml", "--max-candidates", "0"],
    ["partition", "s.toml", "--max-search-time", "0 s"],
    ["sweep", "spec.toml", "--workers", "0"],
    ["sweep", "spec.toml", "--chunk-size", "9" * 5000],
])
def test_usage_errors_exit_2(argv):
    code, out, err = cli(*argv)
    assert code == 2 and "usage: codesign" in err and out == ""


def test_unreadable_input_files_exit_1(tmp_path):
    for argv in (["check", tmp_path / "missing.toml"], ["partition", tmp_path / "missing.toml"],
                 ["run", "demo", "--transient", tmp_path / "missing.csv"]):
        code, out, err = cli(*argv)
        assert code == 1 and out == "", (argv, err)
        assert err.split(":")[0].isidentifier() and "Traceback" not in err and str(tmp_path / "missing") in err


def test_check_reports_every_problem_with_exit_1(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('schema = 1\nname = "x"\n[package]\nsize = ["10 mm", 5]\n')
    code, out, err = cli("check", bad)
    assert code == 1 and out == ""
    assert err.startswith("LayoutError: ") and "package.size[1]" in err and "(no unit)" in err


def test_an_unexpected_exception_exits_3_with_one_line_and_the_traceback_only_on_request(monkeypatch):
    """`codesign check` exited 1 for a clean input error and for a traceback alike."""
    import codesign.layout_io

    def bug(*args, **kwargs):
        raise ZeroDivisionError("float division by zero\nsecond line")

    monkeypatch.setattr(codesign.layout_io, "load_layout", bug)
    monkeypatch.delenv("CODESIGN_DEBUG", raising=False)
    code, out, err = cli("check", "demo")
    assert code == 3 and out == "" and err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith("codesign: internal error: ZeroDivisionError: float division by zero second line — "
                          "this is a bug, please report it (run with --debug or CODESIGN_DEBUG=1 for the traceback)")
    code, _, err = cli("--debug", "check", "demo")
    assert code == 3 and err.startswith("Traceback (most recent call last)") and "in bug" in err
    assert err.rstrip().endswith("this is a bug, please report it")
    monkeypatch.setenv("CODESIGN_DEBUG", "1")
    code, _, err = cli("check", "demo")
    assert code == 3 and "Traceback" in err


def test_running_out_of_memory_exits_1_with_what_to_change(monkeypatch):
    import codesign.layout_io

    def oom(*args, **kwargs):
        raise MemoryError

    monkeypatch.setattr(codesign.layout_io, "load_layout", oom)
    code, out, err = cli("run", "demo")
    assert code == 1 and out == "" and err.count("\n") == 1
    assert err.startswith("MemoryError: `codesign run` ran out of memory; coarsen the mesh (--max-lateral-size")


@contextlib.contextmanager
def _tmpfs(path: Path, options: str):
    """Mount a tmpfs on ``path`` for the block (yields False where that is not allowed)."""
    if os.geteuid() != 0 or not shutil.which("mount"):
        yield False
        return
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)], capture_output=True)
    if r.returncode != 0:
        yield False
        return
    try:
        yield True
    finally:
        subprocess.run(["umount", str(path)], capture_output=True)


@pytest.fixture
def readonly_folder(tmp_path):
    """A folder nobody may write into: chmod for a normal user, a read-only tmpfs for root."""
    ro = tmp_path / "ro"
    ro.mkdir()
    if os.geteuid() != 0:
        ro.chmod(0o500)
        yield ro
        ro.chmod(0o700)
        return
    with _tmpfs(ro, "ro,size=64k") as mounted:
        if not mounted:
            pytest.skip("root without permission to mount a read-only tmpfs: a read-only folder cannot be made")
        yield ro


@pytest.fixture
def full_disk(tmp_path, monkeypatch):
    """A folder on a 64 kB file system: a real tmpfs where mounting is allowed, else simulated
    (a file over 64 kB fails with ENOSPC when it is completed)."""
    d = tmp_path / "full"
    d.mkdir()
    with _tmpfs(d, "size=64k") as mounted:
        if not mounted:
            import codesign._output as output

            real_replace = os.replace

            def replace(src, dst):
                if Path(src).stat().st_size > 64 * 1024:
                    raise OSError(errno.ENOSPC, "No space left on device")
                return real_replace(src, dst)

            monkeypatch.setattr(output.os, "replace", replace)
        yield d


def test_a_read_only_output_folder_exits_1_naming_it(readonly_folder):
    for argv, target in ((["links", "demo", "--json", readonly_folder / "l.json"], readonly_folder),
                         (["mesh", "demo", "-o", readonly_folder / "sub" / "m.vtu", "--max-lateral-size", "4 mm"],
                          readonly_folder / "sub")):
        code, out, err = cli(*argv)
        assert code == 1 and err.count("\n") == 1 and "Traceback" not in err, err
        assert err.startswith(f"OutputError: cannot write to the output folder {target}: "), err
        assert "kept: nothing" in err and "Choose a writable folder with free space (-o/--output)" in err
    # after the solve (one solve: --no-accuracy, the refinement is not what this checks)
    code, out, err = cli("report", "demo", "-o", readonly_folder, "--no-3d", "--no-accuracy", *COARSE)
    assert code == 1 and "logic" in out and err.count("\n") == 1, err
    assert err.startswith(f"OutputError: cannot write to the output folder {readonly_folder}: ") and "kept: nothing" in err
    assert not any(readonly_folder.iterdir())


def test_a_full_disk_exits_1_with_what_was_kept_and_no_partial_file(full_disk):
    code, out, err = cli("run", "demo", "-o", full_disk, *COARSE)
    assert code == 1 and err.count("\n") == 1 and "Traceback" not in err, err
    assert err.startswith(f"OutputError: cannot write {full_disk / 'demo.vtu'}: No space left on device (ENOSPC); "
                          f"kept: {full_disk / 'demo.json'}; no partial file was left"), err
    assert sorted(p.name for p in full_disk.iterdir()) == ["demo.json"]
    assert _json(full_disk / "demo.json")["thermal"]["power_in_W"] == pytest.approx(116.0)


def test_optimize_without_optax_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "optax", None)  # `import optax` raises ImportError
    code, out, err = cli("optimize", "demo", "--steps", "1")
    assert code == 1 and out == ""
    assert err.count("\n") == 1 and "pip install optax" in err and "Traceback" not in err


def test_dask_backend_without_dask_names_the_extra(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "dask", None)
    monkeypatch.setitem(sys.modules, "dask.distributed", None)
    code, out, err = cli("sweep", tmp_path / "spec.toml", "--backend", "dask")
    assert code == 1 and out == ""
    assert err.count("\n") == 1 and "dask" in err and "pip install 'chiplet-codesign[batch]'" in err


def test_solver_names_come_from_the_solver_selection_code(monkeypatch):
    """`--method` accepts what `solvers.get_solver` accepts, and `--rtol` reaches the solver."""
    import solvers

    from codesign.cli import _common
    from codesign.cli.main import build_parser

    made = []

    def get_solver(name, **options):
        if name not in ("jax", "fancy"):
            raise ValueError(f"`solvers.get_solver({name!r})`: unknown solver; choose 'jax' or 'fancy'")
        made.append((name, options))
        return (name, options)

    monkeypatch.setattr(solvers, "get_solver", get_solver, raising=False)
    args = build_parser().parse_args(["run", "demo", "--method", "fancy", "--rtol", "1e-5"])
    assert args.method == "fancy"
    assert _common.solver(args) == ("fancy", {"rtol": 1e-5})
    code, _, err = cli("run", "demo", "--method", "reference")
    assert code == 2 and "choose 'jax' or 'fancy'" in err


# -- commands without a solve ---------------------------------------------------------------------------
# The happy path of every command of the README's table (layouts, check, mesh, links, report, sweep,
# optimize, partition) runs in tests/test_readme_commands.py, as a user runs it: the console script in a
# subprocess. This file keeps the error policy, the flags and what needs the process (monkeypatching).


# -- the main job on the default (JAX) path ----------------------------------------------------------------

@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    """`codesign run demo` once, on the default solver: (exit status, stdout, stderr, run.json data)."""
    out = tmp_path_factory.mktemp("run")
    code, text, err = cli("run", "demo", "-o", out, *COARSE)
    data = _json(out / "demo.json") if code == 0 else None
    return code, text, err, data, out


def test_run_solves_and_writes_json_and_vtu(demo_run):
    code, out, err, data, folder = demo_run
    assert code == 0, err
    assert "logic" in out and "energy balance" in out and "PPAC" in out
    thermal = data["thermal"]
    assert thermal["power_in_W"] == pytest.approx(116.0)
    assert thermal["energy_balance_relative_residual"] < 1e-6
    assert len(data["links"]["links"]) == 2 and "ppac" in data
    hottest = max(thermal["chiplets"], key=lambda c: c["junction_C"])
    assert hottest["name"] == "logic" and 60 < hottest["junction_C"] < 200
    assert (folder / "demo.vtu").is_file()


def test_run_rtol_reaches_the_solver(demo_run, tmp_path):
    """A loose `--rtol` stops the CG earlier than the default (it used to be parsed and ignored)."""
    code, _, err, data, _ = demo_run
    assert code == 0, err
    code, _, err = cli("run", "demo", "-o", tmp_path, "--rtol", "1e-3", *COARSE)
    assert code == 0, err
    loose = _json(tmp_path / "demo.json")["thermal"]["solver"]
    assert loose["relative_residual"] <= 1e-3
    assert loose["iterations"] < data["thermal"]["solver"]["iterations"]


def test_run_k_of_t(demo_run, tmp_path):
    """`--k-of-t` solves with k(T) (it died with a TypeError); silicon conducts less when hot, so the
    logic die runs hotter than with constant conductivities."""
    code, _, err, data, _ = demo_run
    assert code == 0, err
    code, out, err = cli("run", "demo", "-o", tmp_path, "--k-of-t", "--no-accuracy", *COARSE)  # the k(T) estimate compiles Picard programs for 2 more grids
    assert code == 0, err
    assert "Traceback" not in err
    tj = lambda d: {c["name"]: c["junction_C"] for c in d["thermal"]["chiplets"]}["logic"]  # noqa: E731
    assert tj(_json(tmp_path / "demo.json")) > tj(data) + 0.5


@pytest.mark.slow(reason="adds ~25 s on 2 CPU cores (compiling the H100 coupled solve and derating); leakage stays "
                         "in the default suite through test_run_transient_with_leakage")
def test_run_on_a_leakage_layout_shows_leakage_derating_and_ppac(tmp_path):
    code, out, err = cli("run", "h100_cowos_s", "-o", tmp_path, "--lateral-size", "6 mm")
    assert code == 0, err
    assert "Leakage at the operating point" in out and "Derating: dynamic power x" in out
    data = _json(tmp_path / "h100_cowos_s.json")
    leak = data["electrothermal"]["leakage_W"]["gh100"]
    assert 30 < leak < 120  # 55 W at 85 degC in the layout, exponential in temperature
    d = data["derating"]
    assert 0.5 < d["scale"] < 2 and d["frequency_factor"] == pytest.approx(d["scale"] ** (1 / 3))
    assert "ppac" in data


# -- transient ---------------------------------------------------------------------------------------------

def _trace(path, chiplet: str, watts: tuple[float, float]):
    path.write_text(f"time [ms], {chiplet} [W]\n0, {watts[0]}\n5, {watts[1]}\n")
    return path


def test_run_transient_without_leakage(tmp_path):
    trace = _trace(tmp_path / "trace.csv", "logic", (20, 100))
    code, out, err = cli("run", "demo", "-o", tmp_path, "--transient", trace, "--duration", "20 ms",
                         "--dt", "1 ms", *COARSE)
    assert code == 0, err
    assert f"transient over 0.02 s driven by {trace}" in out and "logic" in out
    data = _json(tmp_path / "demo_transient.json")
    logic = data["junction_C"]["logic"]
    assert data["times_s"][-1] == pytest.approx(0.02)
    assert logic[-1] > logic[0] + 1  # the step to 100 W heats the die
    assert (tmp_path / "demo_transient_final.vtu").is_file()


def test_run_transient_with_leakage(tmp_path):
    """A leakage layout goes through the same `analyse_transient` (the CLI no longer switches to
    another function); its result accounts for the leakage power."""
    trace = _trace(tmp_path / "trace.csv", "gh100", (200, 500))
    code, out, err = cli("run", "h100_cowos_s", "-o", tmp_path, "--transient", trace, "--duration", "20 ms",
                         "--dt", "2 ms", "--lateral-size", "6 mm")
    assert code == 0, err
    assert "transient over 0.02 s" in out and "gh100" in out
    data = _json(tmp_path / "h100_cowos_s_transient.json")
    assert data["junction_C"]["gh100"][-1] > data["junction_C"]["gh100"][0]
    assert "leakage" in json.dumps(data)


# -- exploration commands ----------------------------------------------------------------------------------


@pytest.fixture
def sweep_spec(tmp_path):
    spec = tmp_path / "spec.toml"
    spec.write_text('schema = 1\nname = "tiny"\nlayout = "demo"\nmode = "grid"\nchunk_size = 2\n'
                    '[mesh]\nmax_lateral_size = "4 mm"\nmin_lateral_size = "4 mm"\ngrading = 1.0\n'
                    '[[parameters]]\nkind = "power"\ntarget = "logic"\nscale = [0.5, 1.0]\n'
                    '[objectives]\nx = "total_power_W"\ny = "max_temperature_C"\nsense = ["max", "min"]\n')
    return spec


def test_sweep_default_results_path_never_leaves_the_folder(sweep_spec, tmp_path, monkeypatch):
    """The spec's `name` chose where results were written (`name = "../x"`: path traversal)."""
    sweep_spec.write_text(sweep_spec.read_text().replace('name = "tiny"', 'name = "../escape"'))
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    code, text, err = cli("sweep", sweep_spec, "--no-plot")
    assert code == 0, err
    assert (work / "escape.jsonl").is_file() and not (tmp_path / "escape.jsonl").exists()


def test_cli_keeps_compiled_solver_programs_in_a_persistent_cache(tmp_path):
    """The entry points cache compiled programs on disk (a second process on the same mesh skips
    XLA compilation); ``CODESIGN_COMPILE_CACHE=off`` leaves JAX's setting alone."""
    script = (
        "import jax, numpy as np\n"
        "from codesign.cli.main import enable_x64\n"
        "enable_x64()\n"
        "print(jax.config.jax_compilation_cache_dir)\n"
        "from solvers import TensorGrid, ThermalFields, solve_steady\n"
        "g = TensorGrid(np.linspace(0, 1e-2, 5), np.linspace(0, 1e-2, 5), np.linspace(0, 1e-3, 4),\n"
        "               np.zeros((4, 4, 3), np.int32), ('a',), np.zeros((4, 4, 3), np.int32), ('m',))\n"
        "e = np.ones((4, 4, 3))\n"
        "f = ThermalFields(kx=e * 100, ky=e * 100, kz=e * 100, heat_capacity=e, source=e * 1e9,\n"
        "                  h={'zmax': np.full((4, 4), 1e4)}, ambient={'zmax': np.full((4, 4), 300.0)})\n"
        "print(float(solve_steady(g, f).max_temperature))\n"
    )
    import os

    env = dict(os.environ, CODESIGN_COMPILE_CACHE=str(tmp_path / "xla"),
               JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS="0")
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines()[0] == str(tmp_path / "xla")
    assert any((tmp_path / "xla").iterdir()), "no compiled program was written to the cache"
    env["CODESIGN_COMPILE_CACHE"] = "off"
    out = subprocess.run([sys.executable, "-c", script.replace("print(float(solve", "0 and print(float(solve")],
                         env=env, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines()[0] in ("None", "")


def test_output_paths_that_cannot_be_files_exit_1(tmp_path):
    """A folder or a name without a mesh format where a file is expected; an unknown --layer (a KeyError: exit 3)."""
    (tmp_path / "afile").write_text("x")
    for argv, start in ((["mesh", "demo", "-o", tmp_path, "--max-lateral-size", "4 mm"],
                         f"OutputError: cannot write {tmp_path}: this is a folder; give a file name (EISDIR)"),
                        (["links", "demo", "--json", tmp_path], f"OutputError: cannot write {tmp_path}: this is a folder"),
                        (["mesh", "demo", "-o", tmp_path / "m.xyz", "--max-lateral-size", "4 mm"],
                         "ModelError: `export_vtu`: cannot tell a mesh file format from the name 'm.xyz'"),
                        (["run", "demo", "-o", tmp_path / "afile", *COARSE],
                         f"OutputError: cannot write to the output folder {tmp_path / 'afile'}: File exists (EEXIST)"),
                        (["optimize", "demo", "--layer", "nosuch", "--steps", "1"],
                         "ModelError: `codesign optimize --layer nosuch`: demo has no layer 'nosuch'; its layers are lid")):
        code, out, err = cli(*argv)
        assert code == 1 and err.startswith(start) and err.count("\n") == 1, (argv, err)
