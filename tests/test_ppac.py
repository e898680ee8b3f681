"""PPAC: technology inference, area/reticle/interposer checks, power bookkeeping, every shipped layout."""

import dataclasses
import json
import types

import pytest

import codesign as cd
from codesign.cost import MM2, RETICLE_AREA, CostError
from codesign.ppac import PPAC, PackageTechnology, evaluate_ppac, infer_technology, reticle_check

KELVIN = 273.15

EXPECTED_TECH = {
    "b200_cowos_l": ("organic_rdl", False),
    "cpo_switch_51t": ("organic_substrate", False),
    "demo": ("silicon_interposer", False),
    "h100_cowos_s": ("silicon_interposer", False),
    "mi300x_3d": ("silicon_interposer", True),
    "ponte_vecchio": ("bridge", False),
    "vcache_3d": ("organic_substrate", True),
}


@pytest.mark.parametrize("name", sorted(EXPECTED_TECH))
def test_every_shipped_layout(name):
    stack = cd.load_layout(name)
    r = evaluate_ppac(stack)
    tech, hybrid = EXPECTED_TECH[name]
    assert r.technology.technology == tech and bool(r.technology.hybrid_bonded) == hybrid
    assert r.cost.cost_per_good_package > 0 and 0 < r.cost.package_yield <= 1
    assert r.power["total"] >= r.power["dynamic"] > 0
    assert abs(r.power["dynamic"] - stack.total_power) < 1e-9
    d = json.loads(json.dumps(r.to_dict()))
    assert d["name"] == name and "cost" in d and "power_W" in d
    text = r.table()
    assert "PPAC:" in text and "Cost" in text and "Feasible" in text


def test_specific_inference_details():
    pv = infer_technology(cd.load_layout("ponte_vecchio"))
    assert len(pv.bridges) == 9 and "compute0" in pv.microbumped_3d and pv.carrier_size is None
    mi = infer_technology(cd.load_layout("mi300x_3d"))
    hb = dict(mi.hybrid_bonded)
    assert set(hb) == {f"xcd{i}" for i in range(8)} and hb["xcd0"] == pytest.approx(115 * MM2)
    h100 = infer_technology(cd.load_layout("h100_cowos_s"))
    assert h100.carrier_area == pytest.approx(50e-3 * 33e-3)


def test_caps_and_identical_designs():
    r = evaluate_ppac(cd.load_layout("mi300x_3d"))
    names = {d.name for d in r.cost.dies}
    assert "hbm0_cap_top" not in names and "xcd0" in names
    assert any("share one design" in n for n in r.notes)
    # eight identical XCDs and four IODs: NRE counts two logic designs, not twelve
    r2 = evaluate_ppac(cd.load_layout("mi300x_3d"), nodes={"xcd0": "N5"})
    assert r2.cost.nre_total == pytest.approx(r.cost.nre_total)


def test_reticle_check():
    assert reticle_check(26e-3, 33e-3) is None and reticle_check(33e-3, 26e-3) is None
    assert "reticle" in reticle_check(27e-3, 33e-3)
    assert reticle_check(20e-3, 34e-3) is not None


def test_reticle_and_interposer_limits_flagged():
    stack = cd.load_layout("h100_cowos_s")
    big = stack.with_chiplet("gh100", rect=cd.Rect(17e-3, 14.35e-3, 27e-3, 31.3e-3))
    r = evaluate_ppac(big)
    assert not r.feasible and any(s.startswith("reticle: die gh100") for s in r.infeasible)
    r = evaluate_ppac(stack, max_carrier_area=1.0 * RETICLE_AREA)
    assert any(s.startswith("carrier: silicon_interposer") for s in r.infeasible)
    assert evaluate_ppac(stack).feasible


def test_nodes_change_cost_and_unknown_node_is_explained():
    stack = cd.load_layout("demo")
    a, b = evaluate_ppac(stack, nodes={"logic": "N5"}), evaluate_ppac(stack, nodes={"logic": "N16"})
    assert b.cost.die_cost < a.cost.die_cost
    nodeless = dataclasses.replace(stack, layers=tuple(dataclasses.replace(
        l, chiplets=tuple(dataclasses.replace(c, node=None) for c in l.chiplets)) for l in stack.layers))
    assert any("N5 assumed" in n for n in evaluate_ppac(nodeless).notes)
    # the layout's own node (demo: N7) is used and reported as coming from the file
    r = evaluate_ppac(stack)
    assert dict(r.nodes)["logic"] == "N7" and ("node of logic", "N7", f"file {stack.source}") in r.cost_inputs
    with pytest.raises(CostError, match="unknown process node"):
        evaluate_ppac(stack, nodes={"logic": "N2x"})


def test_volume_and_reuse_lower_nre_share():
    stack = cd.load_layout("demo")
    assert evaluate_ppac(stack, volume=1e7).cost.nre_per_unit < evaluate_ppac(stack, volume=1e5).cost.nre_per_unit
    assert evaluate_ppac(stack, reuse={"logic": 3}).cost.nre_per_unit < evaluate_ppac(stack).cost.nre_per_unit


def test_leakage_and_derating_bookkeeping():
    stack = cd.load_layout("h100_cowos_s")
    r = evaluate_ppac(stack)      # no thermal: leakage at its reference temperature
    assert r.power["leakage"] == pytest.approx(55.0)
    # a fake coupled result and derating
    fake_report = types.SimpleNamespace(
        hottest=types.SimpleNamespace(name="gh100", junction=100 + KELVIN),
        chiplets=[types.SimpleNamespace(name="gh100", junction=100 + KELVIN)],
        chiplet=lambda n: types.SimpleNamespace(name="gh100", junction=100 + KELVIN, mean=90 + KELVIN))
    coupled = types.SimpleNamespace(dynamic={"gh100": 570.0, "hbm0": 15.0}, leakage={"gh100": 60.0}, report=fake_report)
    der = types.SimpleNamespace(scale=0.8, frequency_factor=0.8 ** (1 / 3), limiting="gh100")
    r = evaluate_ppac(stack, coupled=coupled, derating=der, compute=1e15)
    assert r.power["dynamic"] == 585.0 and r.power["leakage"] == 60.0
    assert r.performance["throughput"] == pytest.approx(1e15 * 0.8 ** (1 / 3))
    assert r.temperatures["max_junction"] == pytest.approx(100.0)
    assert any(s.startswith("thermal limit: gh100") for s in r.infeasible)     # tj_max 92 degC


SMALL = """
schema = 1
name = "small"
[package]
size = ["20 mm", "20 mm"]
[boundaries.top]
heat_transfer_coefficient = "1e4 W/m^2/K"
ambient = "35 degC"
[boundaries.bottom]
heat_transfer_coefficient = "300 W/m^2/K"
ambient = "45 degC"
[[layers]]
name = "lid"
material = "copper"
thickness = "1 mm"
[[layers]]
name = "dies"
material = "mold"
thickness = "500 um"
  [[layers.chiplets]]
  name = "a"
  origin = ["3 mm", "5 mm"]
  size = ["6 mm", "10 mm"]
  power = "40 W"
  tj_max = "60 degC"
  leakage = { reference_power = "5 W", reference_temperature = "85 degC", coefficient = "0.02 1/K" }
  [[layers.chiplets]]
  name = "b"
  origin = ["11 mm", "5 mm"]
  size = ["6 mm", "10 mm"]
  power = "10 W"
[[layers]]
name = "c4"
material = "underfill"
thickness = "80 um"
interconnect = { kind = "c4", pitch = "150 um", diameter = "90 um" }
[[layers]]
name = "substrate"
material = "organic_substrate"
thickness = "1 mm"
[[links]]
between = ["a", "b"]
bandwidth = "64 GB/s"
phy = "auto"
"""


def test_with_a_real_thermal_solve():
    from codesign.thermal import analyse

    stack = cd.loads_layout(SMALL)
    stack = dataclasses.replace(stack, mesh=dataclasses.replace(stack.mesh, max_lateral_size=2e-3))
    rep = analyse(stack, accuracy=False)  # PPAC of a solve; the error estimate (on by default) is not under test
    r = evaluate_ppac(stack, thermal=rep, nodes={"a": "N7", "b": "N7"})
    assert r.technology.technology == "organic_substrate"
    assert r.temperatures["max_junction"] == pytest.approx(rep.max_temperature - KELVIN, abs=1e-6) or \
        r.temperatures["max_junction"] <= rep.max_temperature - KELVIN
    # leakage evaluated at the solved mean temperature of die a
    tmean = rep.chiplet("a").mean
    import math
    assert r.power["leakage"] == pytest.approx(5 * math.exp(0.02 * (tmean - 85 - KELVIN)))
    assert r.performance["aggregate_bandwidth"] == pytest.approx(64e9 * 8)
    assert r.area["logic_silicon"] == pytest.approx(120 * MM2)
    hot = rep.chiplet("a").junction - KELVIN
    assert (hot > 60) == any(s.startswith("thermal limit: a") for s in r.infeasible)


def test_the_module_is_not_shadowed_by_the_function():
    """`codesign.ppac` is the module (it was the function, which hid the module's other names)."""
    import importlib

    import codesign

    module = importlib.import_module("codesign.ppac")
    assert isinstance(codesign.ppac, types.ModuleType) and codesign.ppac is module
    assert codesign.evaluate_ppac is module.evaluate_ppac and codesign.PPAC is module.PPAC


def test_cost_errors_name_the_stack_and_stay_cost_errors():
    stack = cd.load_layout("demo")
    with pytest.raises(CostError, match=r"`evaluate_ppac` \(demo\).*`volume` must be a positive"):
        evaluate_ppac(stack, volume=0)
