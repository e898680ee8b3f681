"""Plausibility rules (docs/plausibility.md): each fires on a minimal bad layout, none on a shipped one,
and a field that already failed causes no follow-on errors."""

import copy
import re
import subprocess
import sys
import tomllib
import warnings

import pytest
import tomli_w

import codesign as cd
import solvers
from codesign import plausibility
from codesign.layout_io import shipped_layout_path
from codesign.results import ChipletTemperature

BASE = tomllib.loads(shipped_layout_path("demo").read_text())


def _logic(d):
    return d["layers"][2]["chiplets"][0]


def warned(change=None, doc=None):
    doc = copy.deepcopy(BASE if doc is None else doc)
    if change is not None:
        change(doc)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        cd.loads_layout(tomli_w.dumps(doc), source="test.toml")
    return [str(w.message) for w in caught if issubclass(w.category, cd.PlausibilityWarning)]


def test_the_demo_is_quiet():
    assert warned() == []


def test_layers_listed_bottom_to_top_are_warned_about():
    """The issue's example: the demo's layers reversed passed `check` and solved to 268 degC, silently."""
    found = warned(lambda d: d["layers"].reverse())
    msg = [w for w in found if "reaches the first powered die" in w]
    assert len(msg) == 1, found
    assert re.search(r"test\.toml: layers: the heat sink on top reaches the first powered die \(layer 'dies'\) only "
                     r"through 1[0-9.]+ K·cm\^2/W of layers above it \(most in 'substrate': 1000 um of "
                     r"organic_substrate, 14.3 K·cm\^2/W\), more than 1 K·cm\^2/W", msg[0]), msg[0]
    assert "the layers look listed bottom to top" in msg[0] and "reverse the list" in msg[0]


def test_an_insulating_layer_under_the_heat_sink_is_warned_about_whatever_its_name():
    """A user material: 1 mm at 0.5 W/m/K between lid and dies (20 K·cm^2/W)."""
    def change(d):
        d["materials"] = {"gap_filler": {"conductivity": "0.5 W/m/K", "heat_capacity": "2 MJ/m^3/K",
                                         "source": "test"}}
        d["layers"][1].update(material="gap_filler", thickness="1 mm")
    found = warned(change)
    assert any("most in 'tim1': 1000 um of gap_filler, 20 K·cm^2/W" in w for w in found), found
    assert not any("bottom to top" in w for w in found)  # the order itself looks right


def test_a_logic_die_without_active_thickness_is_warned_about():
    found = warned(lambda d: _logic(d).pop("active_thickness"))
    assert found == [
        "test.toml: layers[2].chiplets[0]: logic die 'logic' has no active_thickness, so its heat is spread through "
        "its whole 700 um; a die makes its heat in the transistor and wiring layers at its active side, a few um to "
        "tens of um. Give active_thickness (e.g. \"20 um\", with active_side \"bottom\" for flip-chip), or "
        "active_thickness = \"700 um\" to keep the spread on purpose"]
    # giving the whole thickness on purpose silences it; an unpowered logic die needs none
    assert warned(lambda d: _logic(d).update(active_thickness="700 um")) == []
    assert warned(lambda d: (_logic(d).pop("active_thickness"), _logic(d).update(power="0 W"),
                             _logic(d).pop("power_blocks"))) == []


def test_a_total_power_beyond_any_package_is_warned_about():
    found = warned(lambda d: _logic(d).update(power="30 kW"))
    assert any(re.search(r"layers: the chiplets dissipate 30.08 kW in all, more than the 25 kW of any known package",
                         w) for w in found), found
    assert not any("in all" in w for w in warned(lambda d: _logic(d).update(power="20 kW")))


def test_an_hbm_tj_max_above_the_dram_limit_is_warned_about():
    found = warned(lambda d: d["layers"][2]["chiplets"][1].update(tj_max="105 degC"))
    assert found == ["test.toml: layers[2].chiplets[1].tj_max: 105 degC for an HBM stack is above the 95 degC DRAM "
                     "is specified for (JEDEC extended range, refresh doubled above 85 degC); the result check then "
                     "accepts an HBM the memory cannot run at. Check the value"]


def _report(junction_c, tj_max_c=None, kind="hbm"):
    c = ChipletTemperature(name="hbm0", kind=kind, layer="dies", power=8.0, junction=273.15 + junction_c,
                           mean=273.15 + junction_c - 1, hotspot=(0.0, 0.0, 0.0),
                           tj_max=None if tj_max_c is None else 273.15 + tj_max_c, margin=None)

    class Report:
        chiplets = (c,)
    return Report()


def test_an_hbm_stack_hotter_than_its_limit_is_warned_about_after_the_solve():
    assert plausibility.check_results(_report(94.0)) == []
    (msg,) = plausibility.check_results(_report(96.0))
    assert msg.startswith("HBM stack 'hbm0' reaches 96.0 degC, above the 95 degC DRAM limit (JEDEC extended range)")
    (msg,) = plausibility.check_results(_report(91.0, tj_max_c=90.0))
    assert "above its tj_max of 90.0 degC" in msg
    assert plausibility.check_results(_report(120.0, kind="logic")) == []
    with pytest.warns(cd.PlausibilityWarning, match="HBM stack 'hbm0' reaches 96.0 degC"):
        assert len(plausibility.warn_results(_report(96.0))) == 1


def test_an_hbm_limit_exceeded_in_a_real_solve_is_warned_about():
    """The demo with its heat sink 20x weaker: the HBM stacks pass 95 degC (coarse mesh, a second)."""
    doc = copy.deepcopy(BASE)
    doc["boundaries"]["top"]["heat_transfer_coefficient"] = "1000 W/m^2/K"
    stack = cd.loads_layout(tomli_w.dumps(doc))
    model = cd.build(stack, max_lateral_size=2e-3, min_lateral_size=None, grading=1.0)
    report = cd.analyse(model, solver=solvers.ReferenceAMG())  # ~1 s here; the JAX solver would compile first
    hbm = [c for c in report.chiplets if c.kind == "hbm"]
    assert all(c.junction > plausibility.HBM_LIMIT for c in hbm)
    found = plausibility.check_results(report)
    assert [m.split("'")[1] for m in found] == [c.name for c in hbm]


def test_the_stack_rules_run_on_a_stack_built_in_python():
    stack = cd.load_layout("demo")
    assert plausibility.check_stack(stack) == []
    bad = stack.with_chiplet("logic", active_thickness=None)
    (found,) = plausibility.check_stack(bad)
    assert found[0] == "chiplet 'logic'" and "no active_thickness" in found[1]


def test_a_typo_gives_one_error_and_no_follow_on_errors():
    """The issue's example: `thicknes` gave two false follow-on errors (`unknown link endpoint 'cpu' Defined: `)."""
    doc = {"schema": 1, "name": "t", "package": {"size": ["20 mm", "20 mm"]},
           "boundaries": {"top": {"heat_transfer_coefficient": "1e4 W/m^2/K", "ambient": "25 degC"},
                          "bottom": {"heat_transfer_coefficient": "100 W/m^2/K", "ambient": "25 degC"}},
           "layers": [{"name": "dies", "material": "mold", "thicknes": "700 um",
                       "chiplets": [{"name": "cpu", "origin": ["1 mm", "1 mm"], "size": ["5 mm", "5 mm"],
                                     "power": "50 W", "active_thickness": "20 um"},
                                    {"name": "io", "origin": ["8 mm", "1 mm"], "size": ["5 mm", "5 mm"],
                                     "power": "5 W", "active_thickness": "20 um"}]},
                      {"name": "substrate", "material": "organic_substrate", "thickness": "1 mm"}],
           "links": [{"between": ["cpu", "io"], "bandwidth": "100 GB/s"}]}
    with pytest.raises(cd.LayoutError) as info:
        cd.loads_layout(tomli_w.dumps(doc), source="t.toml")
    assert info.value.problems == [("layers[0].thicknes", "unknown field 'thicknes'; did you mean 'thickness'?")]
    # the typo'd key of a die, a boundary and a material: one message each, never also "missing"
    for change, path in [
        (lambda d: d["boundaries"]["top"].update(ambientt=d["boundaries"]["top"].pop("ambient")),
         "boundaries.top.ambientt"),
        (lambda d: d["layers"][0]["chiplets"][0].update(sise=d["layers"][0]["chiplets"][0].pop("size")),
         "layers[0].chiplets[0].sise"),
    ]:
        d = copy.deepcopy(doc)
        d["layers"][0]["thickness"] = d["layers"][0].pop("thicknes")
        change(d)
        with pytest.raises(cd.LayoutError) as info:
            cd.loads_layout(tomli_w.dumps(d), source="t.toml")
        assert [p for p, _ in info.value.problems] == [path], info.value.problems


def test_codesign_check_prints_the_warnings_as_warning_lines(tmp_path):
    doc = copy.deepcopy(BASE)
    doc["layers"].reverse()
    p = tmp_path / "reversed.toml"
    p.write_text(tomli_w.dumps(doc))
    r = subprocess.run([sys.executable, "-m", "codesign.cli", "check", str(p)], capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0, r.stderr
    lines = [line for line in r.stderr.splitlines() if line.startswith("warning: ")]
    assert any("reaches the first powered die" in line and "bottom to top" in line for line in lines), r.stderr


@pytest.mark.slow
@pytest.mark.parametrize("name", cd.shipped_layouts())
def test_no_shipped_layout_has_an_hbm_stack_over_its_limit(name):
    """The result rule stays quiet on every shipped layout (coarse 2 mm mesh, leakage coupled; ~4 min in all)."""
    model = cd.build(cd.load_layout(name), max_lateral_size=2e-3, min_lateral_size=None, grading=1.0)
    report = cd.analyse(model, solver=solvers.ReferenceAMG())
    assert plausibility.check_results(report) == []
