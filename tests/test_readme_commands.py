"""The README's commands work as written, run as a user runs them: the installed ``codesign`` console
script in a subprocess, on the shipped layouts (the small ``demo`` where possible, coarse meshes
except for the quick start, which runs exactly as the README says). Each check looks at the exit status
and the lines a user reads.

The README's command table and its shell blocks are parsed: a command added to the README without a
case here fails ``test_every_readme_command_has_a_case``. One report run (the quick start) is shared by
every report assertion; the happy paths of the commands live here rather than in test_cli.py, which
keeps the error policy and the flags.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
import tomllib
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
SYSTEMS = ROOT / "examples" / "systems"
COARSE = ["--lateral-size", "4 mm"]


def _codesign() -> str:
    """The console script `pip install .` put beside this Python (what a user's shell finds)."""
    exe = Path(sys.executable).parent / "codesign"
    return str(exe) if exe.is_file() else shutil.which("codesign")


def run(*argv, cwd=None) -> subprocess.CompletedProcess:
    """``codesign ARGV`` as a user's shell runs it (no progress lines: ``-q``), with a generous time limit."""
    env = {k: v for k, v in os.environ.items() if k not in ("JAX_PLATFORMS", "CODESIGN_DEBUG")}
    quiet = [] if argv[:1] == ("--version",) else ["-q"]
    return subprocess.run([_codesign(), *quiet, *[str(a) for a in argv]], capture_output=True, text=True,
                          cwd=cwd, env=env, timeout=1800)


def _table_commands() -> list[str]:
    """The first cell of every row of the README's command table (without the backticks)."""
    section = README.read_text(encoding="utf-8").split("## Command line", 1)[1].split("\n## ", 1)[0]
    return [m.group(1) for m in re.finditer(r"^\| `([^`]+)` \|", section, flags=re.M)]


def _shell_blocks() -> list[str]:
    return re.findall(r"```bash\n(.*?)```", README.read_text(encoding="utf-8"), flags=re.S)


#: The README's table entries, each with the case below that runs it.
CASES = {
    "codesign --version": "test_version",
    "codesign layouts": "test_layouts",
    "codesign check LAYOUT": "test_check",
    "codesign mesh LAYOUT -o FILE.vtu": "test_mesh",
    "codesign run LAYOUT [-o DIR]": "test_run",
    "codesign links LAYOUT": "test_links",
    "codesign warpage LAYOUT [-o DIR]": "test_warpage",
    "codesign report LAYOUT -o DIR": "test_quick_start_report_*",
    "codesign sweep SPEC.toml [-o results.jsonl] [--resume] [--backend dask]": "test_sweep",
    "codesign optimize LAYOUT [-o DIR]": "test_optimize",
    "codesign partition SYSTEM.toml": "test_partition",
}
QUICK_START = ("python3 -m venv .venv && . .venv/bin/activate && pip install . && "
               "codesign report demo -o demo-report")
TESTS = "python3 -m venv .venv && . .venv/bin/activate && pip install '.[test]' && python -m pytest -q -n auto"


def test_every_readme_command_has_a_case():
    assert sorted(_table_commands()) == sorted(CASES), "a README command without a case here (or a stale case)"
    blocks = [b.strip() for b in _shell_blocks()]
    assert blocks[:2] == [QUICK_START, TESTS], blocks
    names = {n for n in globals() if n.startswith("test_")}
    for case in CASES.values():
        assert any(re.fullmatch(case.replace("*", ".*"), n) for n in names), case


def test_pip_install_gives_every_command():
    """`pip install .` (no extra) brings what every listed command imports; only dask is an extra."""
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    deps = " ".join(meta["dependencies"])
    assert "optax" in deps  # codesign optimize
    assert any("dask" in d for d in meta["optional-dependencies"]["batch"])  # sweep --backend dask
    assert meta["scripts"]["codesign"] == "codesign.cli.main:console"


# -- the quick start: one report run, shared ----------------------------------------------------------------

@pytest.fixture(scope="module")
def quick_start(tmp_path_factory):
    """`codesign report demo -o demo-report`, exactly as the README's quick start, in a fresh folder."""
    cwd = tmp_path_factory.mktemp("quickstart")
    p = run("report", "demo", "-o", "demo-report", cwd=cwd)
    return p, cwd / "demo-report"


def test_quick_start_report_runs_and_says_where_the_page_is(quick_start):
    p, out = quick_start
    assert p.returncode == 0, p.stderr
    assert "Traceback" not in p.stderr
    assert f"report: demo-report{os.sep}index.html" in p.stdout
    assert "demo: steady state, 116.00 W" in p.stdout
    for name in ("index.html", "hotspots.png", "hotspots_exploded.png", "layer_maps.png", "run.json",
                 "temperature.vtu", "temperature.regions.json", "layout/demo.toml", "warpage_maps.png",
                 "warpage_3d.png"):
        assert (out / name).is_file(), name
    # the warpage, solved on a second thread beside the temperature pictures, is in the run and on the page
    assert set(json.loads((out / "run.json").read_text())["warpage"]["cases"]) == {"room", "reflow", "operation"}
    assert "<h2>Warpage" in (out / "index.html").read_text(encoding="utf-8")


def test_quick_start_report_states_its_assumptions(quick_start):
    """The report stands alone: boundary conditions (h, ambient, faces), materials with sources, mesh,
    solver, nodes and defaults in the JSON and on the page; the layout is copied beside it."""
    p, out = quick_start
    assert p.returncode == 0, p.stderr
    data = json.loads((out / "run.json").read_text())
    a = data["assumptions"]
    bc = {b["boundary"]: b for b in a["boundary_conditions"]}
    layout = tomllib.loads((out / "layout" / "demo.toml").read_text())
    assert bc["top"]["kind"] == "heat_sink" and bc["top"]["h_W_per_m2K"] == pytest.approx(2e4)
    assert bc["top"]["ambient_C"] == pytest.approx(35.0) and bc["bottom"]["h_W_per_m2K"] == pytest.approx(300.0)
    assert bc["sides"]["applied"] is False and "z max" in bc["top"]["faces"]
    assert data["thermal"]["boundary_conditions"] == a["boundary_conditions"]
    assert layout["name"] == "demo"
    mats = {m["name"]: m for m in a["materials"]}
    assert mats["silicon"]["kx_W_per_mK"] == pytest.approx(148.0) and "Incropera" in mats["silicon"]["source"]
    hbm = mats["hbm:hbm0"]
    assert hbm["homogenised_from"] and hbm["kz_W_per_mK"] < hbm["kx_W_per_mK"]  # anisotropic, as solved
    nodes = {c["name"]: c["node"] for layer in layout["layers"] for c in layer.get("chiplets", []) if "node" in c}
    assert a["mesh"]["cells"] == data["thermal"]["mesh"]["cells"]
    assert a["process_nodes"]["logic"] == nodes.get("logic", "N5")  # the file's node, else the assumed one
    assert any("power block" in d for d in a["defaults"])  # the demo's 40 W uniform + 60 W block, said
    page = (out / "index.html").read_text(encoding="utf-8")
    for heading in ("Chiplet temperatures", "Energy balance", "Boundary conditions", "Materials",
                    "Mesh, solver and model assumptions", "Solver", "Layers (top first)", "Links", "HBM stacks",
                    "PPAC", "Files"):
        assert f"<h2>{heading}</h2>" in page, heading
    assert "20,000" in page and "How to read this" in page and "not an accuracy estimate" in page
    assert 'href="layout/demo.toml"' in page and "a copy of the shipped layout &#x27;demo&#x27;" in page
    for raw in ("nonlinear_iterations", "solve_s", "setup_s", "site-packages", ".venv", "e+0"):
        assert raw not in page, raw  # human labels, no path into the installation, no 1e+03 numbers
    for ref in re.findall(r'(?:src|href)="([^"#:]+)"', page):
        assert (out / ref).is_file(), ref


def test_quick_start_pictures_have_no_crowded_labels(quick_start):
    """The 3D picture flags one die of each kind per layer (the demo's two alike HBMs: one flag, one note)."""
    from PIL import Image

    p, out = quick_start
    assert p.returncode == 0, p.stderr
    for name in ("hotspots.png", "layer_maps.png"):
        with Image.open(out / name) as im:
            pixels = np.asarray(im.convert("RGB")).reshape(-1, 3)
            assert im.size[0] > 800 and len(np.unique(pixels, axis=0)) > 500, name


def test_readme_python_snippet_runs_verbatim_without_jax_flags(tmp_path):
    """The README's Python example, in a fresh process with no JAX configuration, reaches rtol 1e-8.

    It solves the demo on the default mesh, as the quick start's report above did (it runs after it in
    this module's order, without depending on it): with the session's compile cache (tests/conftest.py)
    it loads those programs instead of compiling them again (~30 s on 2 cores). Tracing a solve in a
    process without the x64 flag is tested in
    tests/solvers/test_backends.py::test_precision_policy_without_the_x64_flag.
    """
    readme = README.read_text()
    start = readme.index("```python\nimport codesign as cd")
    code = readme[start + len("```python\n"):readme.index("```", start + 10)]
    probe = code + textwrap.dedent("""
        import jax
        assert not jax.config.jax_enable_x64, "the snippet must not need the global flag"
        assert result.solver["converged"] and result.solver["relative_residual"] <= 1e-8, result.solver
        print("SNIPPET-OK", result.solver["relative_residual"])
    """)
    env = {k: v for k, v in os.environ.items() if not k.startswith("JAX_ENABLE")}
    env.update(JAX_PLATFORMS="cpu")
    out = subprocess.run([sys.executable, "-c", probe], cwd=tmp_path, env=env, capture_output=True, text=True,
                         timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "SNIPPET-OK" in out.stdout


# -- the command table ------------------------------------------------------------------------------------------

def test_version():
    p = run("--version")
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    assert p.returncode == 0 and p.stdout.strip() == f"codesign (chiplet-codesign) {version}", p


def test_layouts():
    p = run("layouts")
    assert p.returncode == 0, p.stderr
    assert "dynamic W" in p.stdout and "INVALID" not in p.stdout
    row = next(line for line in p.stdout.splitlines() if line.startswith("demo "))
    assert row.split()[1] == "116"


def test_check():
    p = run("check", "demo")
    assert p.returncode == 0, p.stderr
    assert "total power 116.00 W" in p.stdout and "microbumps:microbump" in p.stdout
    assert "power on the grid: 116 W" in p.stdout and p.stdout.rstrip().endswith("OK")


def test_mesh(tmp_path):
    out = tmp_path / "m" / "demo.vtu"
    p = run("mesh", "demo", "-o", out, "--max-lateral-size", "4 mm")
    assert p.returncode == 0, p.stderr
    assert f"wrote {out}" in p.stdout and out.is_file() and out.with_suffix(".regions.json").is_file()


def test_run(tmp_path):
    p = run("run", "demo", "-o", tmp_path, "--no-accuracy", *COARSE)
    assert p.returncode == 0, p.stderr
    assert "logic" in p.stdout and "energy balance" in p.stdout and "PPAC" in p.stdout
    data = json.loads((tmp_path / "demo.json").read_text())
    assert data["thermal"]["power_in_W"] == pytest.approx(116.0)
    assert {b["boundary"] for b in data["assumptions"]["boundary_conditions"]} == {"top", "bottom", "sides"}
    assert (tmp_path / "demo.vtu").is_file()


@pytest.mark.slow  # the thermo-elastic V-cycle compiles for minutes on a 2-core CPU
def test_warpage(tmp_path):
    p = run("warpage", "demo", "-o", tmp_path)
    assert p.returncode == 0, p.stderr
    assert re.search(r"(smile|cry)", p.stdout), p.stdout
    assert re.search(r"um", p.stdout), p.stdout
    assert list(Path(tmp_path).glob("*warpage*.json")), list(Path(tmp_path).iterdir())


def test_links(tmp_path):
    p = run("links", "h100_cowos_s", "--json", tmp_path / "l.json")
    assert p.returncode == 0, p.stderr
    assert "gh100-hbm0" in p.stdout and "HBM: 5 stacks" in p.stdout
    assert len(json.loads((tmp_path / "l.json").read_text())["links"]) == 5
    assert "15 W (layout power of the stack)" in p.stdout and "placeholder" not in p.stdout


def test_sweep(tmp_path):
    spec = tmp_path / "spec.toml"
    spec.write_text('schema = 1\nname = "tiny"\nlayout = "demo"\nmode = "grid"\nchunk_size = 2\n'
                    '[mesh]\nmax_lateral_size = "4 mm"\nmin_lateral_size = "4 mm"\ngrading = 1.0\n'
                    '[[parameters]]\nkind = "thickness"\ntarget = "tim1"\nvalues = ["25 um", "75 um"]\n'
                    '[objectives]\nx = "total_power_W"\ny = "max_temperature_C"\nsense = ["max", "min"]\n')
    out = tmp_path / "r.jsonl"
    p = run("sweep", spec, "-o", out)
    assert p.returncode == 0, p.stderr
    assert len(out.read_text().splitlines()) == 2 and out.with_suffix(".pareto.png").is_file()
    assert "2 variants solved" in p.stdout
    assert "thickness:tim1 = 25 um" in p.stdout and "2.5e-05" not in p.stdout  # the unit the spec was written in
    p = run("sweep", spec, "-o", out)  # the results exist: without --resume it refuses to overwrite them
    assert p.returncode == 1 and "--resume" in p.stderr and "Traceback" not in p.stderr


def test_optimize(tmp_path):
    p = run("optimize", "demo", "--steps", "2", "-o", tmp_path, "--cell-size", "2 mm", *COARSE)
    assert p.returncode == 0, p.stderr
    data = json.loads((tmp_path / "placement.json").read_text())
    assert set(data["after"]["positions"]) == {"logic", "hbm0", "hbm1"}
    assert (tmp_path / "placement.png").is_file() and "wrote" in p.stdout


def test_partition(tmp_path):
    p = run("partition", SYSTEMS / "server_cpu.toml", "--top", "3", "--no-thermal", "--json", tmp_path / "p.json")
    assert p.returncode == 0, p.stderr
    data = json.loads((tmp_path / "p.json").read_text())
    printed = int(re.search(r"^Pareto set over .*: (\d+) candidates? \(differences within", p.stdout, re.M).group(1))
    assert printed == len(data["pareto"]) and data["pareto_basis"] in p.stdout  # the same set in both
    assert "to_dict" not in p.stdout and "wrote" in p.stdout
