"""The command line: layouts, check (summary or errors, exit status), mesh."""

import subprocess
import sys

import pytest

from codesign.cli import main


def test_layouts_lists_demo(capsys):
    assert main(["layouts"]) == 0
    out = capsys.readouterr().out
    assert "demo" in out and "INVALID" not in out


def test_check_prints_summary(capsys):
    assert main(["check", "demo"]) == 0
    out = capsys.readouterr().out
    assert "total power 116.00 W" in out
    assert "microbumps:microbump" in out
    assert "power on the grid: 116 W" in out
    assert out.rstrip().endswith("OK")


def test_check_reports_errors_with_exit_1(tmp_path, capsys):
    bad = tmp_path / "bad.toml"
    bad.write_text('schema = 1\nname = "x"\n[package]\nsize = ["10 mm", 5]\n')
    assert main(["check", str(bad)]) == 1
    err = capsys.readouterr().err
    assert "LayoutError" in err and "package.size[1]" in err and "(no unit)" in err


def test_mesh_writes_vtu(tmp_path, capsys):
    out = tmp_path / "m" / "demo.vtu"
    assert main(["mesh", "demo", "-o", str(out), "--max-lateral-size", "1 mm"]) == 0
    assert out.is_file() and out.with_suffix(".regions.json").is_file()


def test_bad_flag_value_is_a_usage_error(tmp_path):
    with pytest.raises(SystemExit) as e:
        main(["mesh", "demo", "-o", str(tmp_path / "x.vtu"), "--max-lateral-size", "5"])
    assert e.value.code == 2


def test_console_script_entry_point_runs():
    r = subprocess.run([sys.executable, "-m", "codesign.cli", "check", "demo"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


def test_run_solves_and_writes_json_and_vtu(tmp_path, capsys):
    import json

    assert main(["run", "demo", "-o", str(tmp_path), "--method", "reference"]) == 0
    out = capsys.readouterr().out
    assert "logic" in out and "energy balance" in out
    data = json.loads((tmp_path / "demo.json").read_text())
    thermal = data["thermal"]
    assert thermal["power_in_W"] == pytest.approx(116.0)
    assert thermal["energy_balance_relative_residual"] < 1e-6
    assert len(data["links"]["links"]) == 2
    hottest = max(thermal["chiplets"], key=lambda c: c["junction_C"])
    assert hottest["name"] == "logic" and 60 < hottest["junction_C"] < 200
    assert (tmp_path / "demo.vtu").is_file()


def test_links_prints_table_and_json(tmp_path, capsys):
    import json

    assert main(["links", "h100_cowos_s", "--json", str(tmp_path / "l.json")]) == 0
    out = capsys.readouterr().out
    assert "gh100-hbm0" in out and "HBM: 5 stacks" in out
    assert len(json.loads((tmp_path / "l.json").read_text())["links"]) == 5


def test_report_writes_a_folder_with_html_pictures_json_and_vtu(tmp_path, capsys):
    import re

    out = tmp_path / "rep"
    assert main(["report", "demo", "-o", str(out), "--method", "reference", "--max-lateral-size", "2 mm"]) == 0
    html = (out / "index.html").read_text()
    for ref in re.findall(r'(?:src|href)="([^"#:]+)"', html):
        assert (out / ref).is_file(), ref
    assert "Links" in html and "logic-hbm0" in html
    assert "PPAC" in html and "cost per good package" in html
    for name in ("hotspots.png", "layer_maps.png", "run.json", "temperature.vtu"):
        assert (out / name).is_file()


def test_run_on_a_leakage_layout_shows_leakage_derating_and_ppac(tmp_path, capsys):
    import json

    assert main(["run", "h100_cowos_s", "-o", str(tmp_path), "--method", "reference",
                 "--lateral-size", "3 mm"]) == 0
    out = capsys.readouterr().out
    assert "Leakage at the operating point" in out and "Derating: dynamic power x" in out
    data = json.loads((tmp_path / "h100_cowos_s.json").read_text())
    leak = data["electrothermal"]["leakage_W"]["gh100"]
    assert 30 < leak < 120  # 55 W at 85 degC in the layout, exponential in temperature
    d = data["derating"]
    assert 0.5 < d["scale"] < 2 and d["frequency_factor"] == pytest.approx(d["scale"] ** (1 / 3))
    assert "ppac" in data


def test_delegated_subcommands_reach_their_modules(capsys):
    with pytest.raises(SystemExit) as e:
        main(["partition", "--help"])
    assert e.value.code == 0 and "usage: codesign partition" in capsys.readouterr().out


def test_cli_keeps_compiled_solver_programs_in_a_persistent_cache(tmp_path):
    """The entry points cache compiled programs on disk (a second process on the same mesh skips
    XLA compilation); ``CODESIGN_COMPILE_CACHE=off`` leaves JAX's setting alone."""
    script = (
        "import jax, numpy as np\n"
        "from codesign.cli import _enable_x64\n"
        "_enable_x64()\n"
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
