"""Cost inputs: validation at construction, [cost] tables in layout and system files, dies-per-wafer methods,
test insertion, TSV yield, free dummies, and a property test of bad values through the API and both readers."""

import dataclasses
import math

import jax
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import codesign as cd
from codesign.cost import (DEFAULT_COST_PARAMS, CostError, CostParams, DieSpec, NodeParams, PackageSpec,
                           TechnologyParams, carrier_cost, die_cost, die_yield, dies_per_wafer, package_cost,
                           reticle_utilisation)
from codesign.errors import CodesignError, InputFileError
from codesign.explore.system import loads_system
from codesign.layout_io import loads_layout, shipped_layout_path
from codesign.ppac import evaluate_ppac

MM = 1e-3
MM2 = 1e-6
NAN = float("nan")


# -- the bad inputs of the issue, each now an error naming the field ----------------------------------------------

@pytest.mark.parametrize("build,field", [
    (lambda: dataclasses.replace(DEFAULT_COST_PARAMS.node("N5"), defect_density=-1e3), "defect_density"),
    (lambda: dataclasses.replace(DEFAULT_COST_PARAMS.technology("silicon_interposer"), bond_chip_yield=1.2),
     "bond_chip_yield"),
    (lambda: dataclasses.replace(DEFAULT_COST_PARAMS.node("N5"), wafer_cost=-100.0), "wafer_cost"),
    (lambda: PackageSpec("silicon_interposer", -500 * MM2, 900 * MM2), "carrier_area"),
    (lambda: PackageSpec("organic_substrate", 0.0, NAN), "substrate_area"),
    (lambda: dataclasses.replace(DEFAULT_COST_PARAMS.node("N5"), defect_density=NAN), "defect_density"),
    (lambda: dataclasses.replace(DEFAULT_COST_PARAMS.node("N5"), alpha=0.0), "alpha"),
    (lambda: die_yield(1e-4, 1e3, alpha=0.0), "alpha"),
    (lambda: dataclasses.replace(DEFAULT_COST_PARAMS, edge_exclusion=NAN), "edge_exclusion"),
    (lambda: dies_per_wafer(10 * MM, 10 * MM, edge_exclusion=NAN), "edge_exclusion"),
    (lambda: DieSpec("d", 10 * MM, -1 * MM), "height"),
    (lambda: DieSpec("d", 10 * MM, 10 * MM, count=0), "count"),
    (lambda: dataclasses.replace(DEFAULT_COST_PARAMS, test_coverage=1.5), "test_coverage"),
    (lambda: dataclasses.replace(DEFAULT_COST_PARAMS, dpw_method="exact"), "dpw_method"),
])
def test_bad_input_is_a_cost_error_naming_the_field(build, field):
    with pytest.raises(CostError, match=f"`{field}`"):
        build()


def test_die_larger_than_reticle_gets_a_note():
    c = package_cost([DieSpec("big", 30 * MM, 32 * MM, node="N5")], PackageSpec(substrate_area=(60 * MM) ** 2))
    assert any("larger than the 26 x 33 mm reticle" in n for n in c.notes)
    c = package_cost([DieSpec("ok", 25 * MM, 32 * MM, node="N5")], PackageSpec(substrate_area=(60 * MM) ** 2))
    assert not any("reticle" in n for n in c.notes)


# -- dies per wafer ---------------------------------------------------------------------------------------------

@settings(max_examples=40, deadline=None)
@given(st.floats(1, 60), st.floats(1, 60))
def test_smooth_dpw_is_the_floored_formula_relaxed(w, h):
    a = float(dies_per_wafer(w * MM, h * MM, method="analytic"))
    f = float(dies_per_wafer(w * MM, h * MM, method="analytic_floor"))
    assert f == math.floor(a) and 0 <= a - f < 1


def _centred_grids(w, h, r):
    """Independent count: the four placements with a die or a street on each centre line."""
    best = 0
    for ox in (-w / 2, 0.0):
        for oy in (-h / 2, 0.0):
            n = 0
            for i in range(-80, 81):
                for j in range(-80, 81):
                    x0, y0 = ox + i * w, oy + j * h
                    if x0 * x0 > r * r or y0 * y0 > r * r and (y0 + h) ** 2 > r * r:
                        continue
                    if all(x * x + y * y <= r * r * (1 + 1e-12) for x in (x0, x0 + w) for y in (y0, y0 + h)):
                        n += 1
            best = max(best, n)
    return best


@pytest.mark.parametrize("w,h", [(26, 33), (10, 10), (31.7, 12.3), (7.5, 19)])
def test_best_placement_never_worse_than_centred_grids_and_below_area_bound(w, h):
    n = dies_per_wafer(w * MM, h * MM, edge_exclusion=0, scribe=0)
    assert n >= _centred_grids(w, h, 150.0)
    assert n <= math.pi * 150 ** 2 / (w * h)


def test_panel_count_by_hand():
    # 510 x 515 mm panel, 5 mm edge, 0.1 mm scribe: usable + scribe = 500.1 x 505.1; 40.1 x 40.1 pitch
    n = dies_per_wafer(40 * MM, 40 * MM, edge_exclusion=5 * MM, scribe=0.1 * MM, panel=(510 * MM, 515 * MM))
    assert n == math.floor(500.1 / 40.1) * math.floor(505.1 / 40.1) == 12 * 12


def test_smooth_die_cost_gradient_matches_finite_differences():
    node = DEFAULT_COST_PARAMS.node("N5")

    def cost(side):
        dpw = dies_per_wafer(side, side, method="analytic")
        return node.wafer_cost / dpw / die_yield(side * side, node.defect_density, alpha=node.alpha)

    x, h = 15 * MM, 1e-7
    g = float(jax.grad(cost)(x))
    fd = (float(cost(x + h)) - float(cost(x - h))) / (2 * h)
    assert g == pytest.approx(fd, rel=1e-5) and g > 0


def test_reticle_utilisation_by_hand():
    assert reticle_utilisation(429 * MM2) == pytest.approx(1.0)
    assert reticle_utilisation(500 * MM2) == pytest.approx(500 / 858)
    assert reticle_utilisation(1200 * MM2) == pytest.approx(1200 / 1716)      # stitched over two fields
    p = dataclasses.replace(DEFAULT_COST_PARAMS, test_coverage=1.0)
    n = dataclasses.replace(p.node("N5"), litho_fraction=0.3)
    d = DieSpec("d", 20 * MM, 25 * MM, node="N5")
    base, lit = die_cost(d, p), die_cost(d, p.with_node(n))
    assert lit.raw_cost == pytest.approx(base.raw_cost * (0.7 + 0.3 * 858 / 500), rel=1e-12)


def test_per_node_wafer_is_used():
    big = dataclasses.replace(DEFAULT_COST_PARAMS.node("N7"), wafer_diameter=0.450)
    p = DEFAULT_COST_PARAMS.with_node(big)
    d = die_cost(DieSpec("d", 10 * MM, 10 * MM, node="N7"), p)
    assert d.dies_per_wafer == dies_per_wafer(10 * MM, 10 * MM, wafer_diameter=0.450)
    assert die_cost(DieSpec("d", 10 * MM, 10 * MM, node="N5"), p).dies_per_wafer == dies_per_wafer(10 * MM, 10 * MM)


# -- flows, test insertion, TSVs, dummies --------------------------------------------------------------------------

def _simple():
    p = dataclasses.replace(DEFAULT_COST_PARAMS, test_coverage=1.0, test_cost_per_die=0.0, test_cost_per_area=0.0,
                            package_test_cost=0.0, assembly_cost_per_chip=0.0)
    techs = {k: dataclasses.replace(t, bump_cost_per_area=0.0) for k, t in p.technologies.items()}
    return dataclasses.replace(p, technologies=techs)


def test_module_test_loses_the_substrate_only_on_its_own_attach():
    p = _simple()
    die = DieSpec("d", 10 * MM, 10 * MM, node="N7", count=2)
    pkg = PackageSpec("silicon_interposer", 400 * MM2, 1600 * MM2, carrier_size=(20 * MM, 20 * MM))
    once = package_cost([die], pkg, p, nre=False)
    tested = package_cost([die], dataclasses.replace(pkg, module_test=True), p, nre=False)
    unit = die_cost(DieSpec("d", 10 * MM, 10 * MM, node="N7"), p).unit_cost
    raw, y_int = carrier_cost(pkg, p)
    sub = 0.010 / MM2 * 1600 * MM2
    y2, y3 = 0.95 ** 2, 0.99
    assert once.cost_per_good_package == pytest.approx((2 * unit + raw / y_int + sub) / (y2 * y3), rel=1e-12)
    assert tested.cost_per_good_package == pytest.approx((2 * unit + raw / y_int) / (y2 * y3) + sub / y3, rel=1e-12)
    assert tested.cost_per_good_package < once.cost_per_good_package
    assert [s.name for s in tested.steps][1].startswith("module test")


def test_tsv_yield_by_hand():
    p = _simple()
    a = package_cost([DieSpec("d", 10 * MM, 10 * MM, node="N7")], PackageSpec(substrate_area=900 * MM2), p)
    b = package_cost([DieSpec("d", 10 * MM, 10 * MM, node="N7", tsvs=20000)], PackageSpec(substrate_area=900 * MM2), p)
    assert b.bond_yield == pytest.approx(a.bond_yield * 0.999999 ** 20000, rel=1e-12)


def test_free_dummies_count_in_bond_yield():
    p = dataclasses.replace(_simple(), dummy_priced=False, dummy_in_bond_yield=True)
    dies = [DieSpec("d", 10 * MM, 10 * MM, node="N7"), DieSpec("x", 10 * MM, 10 * MM, kind="dummy")]
    pkg = PackageSpec("silicon_interposer", 300 * MM2, 1600 * MM2)
    c = package_cost(dies, pkg, p, nre=False)
    assert c.dies[1].unit_cost == 0.0 and c.bond_yield == pytest.approx(0.95 ** 2 * 0.99, rel=1e-12)
    d = package_cost(dies, pkg, _simple(), nre=False)
    assert d.dies[1].unit_cost > 0 and d.bond_yield == pytest.approx(0.95 * 0.99, rel=1e-12)


# -- [cost] in files -------------------------------------------------------------------------------------------------

def _demo(extra: str) -> str:
    return shipped_layout_path("demo").read_text() + "\n" + extra


_COST = '''
[cost]
volume = 2e5
source = "illustrative volume for a test"
module_test = true
[cost.set]
package_test_cost = { value = 8.0, source = "a test-house quote (test value)" }
[cost.nodes.N7]
wafer_cost = { value = 10000.0, source = "a newer price (test value)" }
'''


def test_layout_cost_section_is_used_and_reported():
    stack = loads_layout(_demo(_COST), source="demo_cost.toml", folder=shipped_layout_path("demo").parent)
    r = evaluate_ppac(stack)
    assert r.cost.volume == 2e5 and r.cost.test_cost == 8.0 and r.cost.module_test
    assert r.cost.dies[0].raw_cost == pytest.approx(10000.0 / r.cost.dies[0].dies_per_wafer, rel=1e-12)
    origins = {n: o for n, _, o in r.cost_inputs}
    assert origins["volume"] == "file demo_cost.toml" and origins["node of logic"] == "file demo_cost.toml"
    assert "a newer price" in origins["cost.nodes.N7.wafer_cost"]
    assert "Cost inputs" in r.table()
    plain = evaluate_ppac(cd.load_layout("demo"))
    assert dict((n, o) for n, _, o in plain.cost_inputs)["volume"] == "default"


@pytest.mark.parametrize("extra,where", [
    ('[cost]\nvolume = -3\n', "cost.volume"),
    ('[cost]\nvolum = 3\n', "cost.volum"),
    ('[cost.set]\nscribe = 1e-4\n', "cost.set.scribe"),
    ('[cost.set]\ntest_coverage = { value = 1.5, source = "x" }\n', "cost.set"),
    ('[cost.nodes.N5]\nalpha = { value = 0.0, source = "x" }\n', "cost.nodes.N5"),
    ('[cost.nodes.N2]\nwafer_cost = { value = 1.0, source = "x" }\n', "cost.nodes.N2"),
    ('[cost.technologies.warp_drive]\nnre = { value = 1.0, source = "x" }\n', "cost.technologies.warp_drive"),
    ('[cost]\npreset = "actuarie"\n', "cost.preset"),
])
def test_bad_cost_section_fails_at_load_naming_file_and_field(extra, where):
    with pytest.raises(InputFileError) as e:
        loads_layout(_demo(extra), source="bad.toml", folder=shipped_layout_path("demo").parent)
    assert "bad.toml" in str(e.value) and where in str(e.value)


def test_unknown_chiplet_node_fails_at_load():
    text = shipped_layout_path("demo").read_text().replace('node = "N7"', 'node = "N77"', 1)
    with pytest.raises(InputFileError, match=r"(?s)bad\.toml.*node.*N77"):
        loads_layout(text, source="bad.toml", folder=shipped_layout_path("demo").parent)


def test_h100_gpu_priced_at_its_own_node():
    r = evaluate_ppac(cd.load_layout("h100_cowos_s"))
    assert dict(r.nodes)["gh100"] == "N4"
    assert ("node of gh100", "N4", f"file {cd.load_layout('h100_cowos_s').source}") in r.cost_inputs
    assert not any("N5 assumed" in n for n in r.notes)


def test_every_shipped_layout_states_its_logic_nodes():
    from codesign.layout_io import shipped_layouts

    for name in shipped_layouts():
        stack = cd.load_layout(name)
        assert all(c.node for c in stack.chiplets if c.kind == "logic"), name


_SYSTEM = '''
schema = 1
name = "t"
[[blocks]]
name = "a"
area = "100 mm^2"
power = "50 W"
[[blocks]]
name = "b"
area = "120 mm^2"
power = "40 W"
'''


def test_system_cost_section():
    s = loads_system(_SYSTEM + '[cost]\npreset = "actuary"\nvolume = 3e5\n', source="sys.toml")
    assert s.volume == 3e5 and s.cost.params.dpw_method == "analytic"
    with pytest.raises(InputFileError, match="given twice"):
        loads_system(_SYSTEM.replace('name = "t"', 'name = "t"\nvolume = 1e6') + '[cost]\nvolume = 3e5\n',
                     source="sys.toml")
    with pytest.raises(InputFileError, match=r"(?s)sys\.toml.*cost\.nodes\.N5"):
        loads_system(_SYSTEM + '[cost.nodes.N5]\ndefect_density = { value = -1.0, source = "x" }\n',
                     source="sys.toml")


# -- property test: random bad values never give NaN, yields outside [0, 1] or raw errors ------------------------

_BAD = [-1.0, -1e-12, 0.0, 1.0, 1.5, 1e300, NAN, float("inf"), -float("inf"), 3]
_NODE_F = ["wafer_cost", "defect_density", "alpha", "mask_set_cost", "design_nre", "wafer_diameter",
           "edge_exclusion", "scribe", "litho_fraction"]
_TECH_F = ["wafer_cost", "defect_density", "alpha", "bond_chip_yield", "bond_yield_per_bond", "bump_cost_per_area",
           "assembly_yield", "nre", "max_area"]
_SCALAR_F = ["wafer_diameter", "edge_exclusion", "scribe", "test_cost_per_die", "test_coverage", "package_test_cost",
             "assembly_cost_per_chip", "package_nre", "tsv_yield_per_tsv"]
_DIE_F = ["width", "height", "hybrid_area"]
_PKG_F = ["carrier_area", "substrate_area"]


def _priced(p: CostParams, die=None, pkg=None):
    die = die or DieSpec("d", 12 * MM, 12 * MM, node="N5", bonds=100)
    pkg = pkg or PackageSpec("silicon_interposer", 400 * MM2, 1600 * MM2)
    c = package_cost([die, DieSpec("h", 11 * MM, 10 * MM, kind="hbm")], pkg, p)
    vals = [c.cost_per_good_package, c.total_per_unit, c.package_yield, c.bond_yield, c.carrier_yield]
    assert all(math.isfinite(v) for v in vals)
    assert 0 <= c.package_yield <= 1 and 0 <= c.bond_yield <= 1 and 0 <= c.carrier_yield <= 1
    assert all(0 <= d.die_yield <= 1 for d in c.dies)


def _outcome(fn):
    try:
        fn()
    except CodesignError:
        return "error"
    except (ZeroDivisionError, ValueError, OverflowError, TypeError) as e:   # raw errors are defects
        raise AssertionError(f"raw {type(e).__name__}: {e}") from e
    return "ok"


@settings(max_examples=60, deadline=None)
@given(st.sampled_from(["node", "tech", "scalar", "die", "pkg"]), st.data())
def test_property_bad_values_through_the_api(where, data):
    v = data.draw(st.sampled_from(_BAD))
    if where == "node":
        f = data.draw(st.sampled_from(_NODE_F))
        fn = lambda: _priced(DEFAULT_COST_PARAMS.with_node(dataclasses.replace(DEFAULT_COST_PARAMS.node("N5"), **{f: v})))
    elif where == "tech":
        f = data.draw(st.sampled_from(_TECH_F))
        t = DEFAULT_COST_PARAMS.technology("silicon_interposer")
        fn = lambda: _priced(DEFAULT_COST_PARAMS.with_technology(dataclasses.replace(t, **{f: v})))
    elif where == "scalar":
        f = data.draw(st.sampled_from(_SCALAR_F))
        fn = lambda: _priced(dataclasses.replace(DEFAULT_COST_PARAMS, **{f: v}))
    elif where == "die":
        f = data.draw(st.sampled_from(_DIE_F))
        fn = lambda: _priced(DEFAULT_COST_PARAMS, die=dataclasses.replace(DieSpec("d", 12 * MM, 12 * MM), **{f: v}))
    else:
        f = data.draw(st.sampled_from(_PKG_F))
        fn = lambda: _priced(DEFAULT_COST_PARAMS, pkg=dataclasses.replace(PackageSpec("silicon_interposer"), **{f: v}))
    _outcome(fn)


def _toml(v) -> str:
    if isinstance(v, float) and math.isnan(v):
        return "nan"
    if isinstance(v, float) and math.isinf(v):
        return "inf" if v > 0 else "-inf"
    return repr(v)


@settings(max_examples=30, deadline=None)
@given(st.sampled_from(["set", "nodes.N5", "technologies.silicon_interposer", "volume"]), st.data())
def test_property_bad_values_through_both_readers(table, data):
    v = data.draw(st.sampled_from(_BAD))
    if table == "volume":
        extra = f"[cost]\nvolume = {_toml(v)}\n"
    else:
        f = data.draw(st.sampled_from({"set": _SCALAR_F, "nodes.N5": _NODE_F,
                                       "technologies.silicon_interposer": _TECH_F}[table]))
        extra = f"[cost.{table}]\n{f} = {{ value = {_toml(v)}, source = \"fuzz\" }}\n"

    def layout():
        stack = loads_layout(_demo(extra), source="fuzz.toml", folder=shipped_layout_path("demo").parent)
        r = evaluate_ppac(stack)
        assert math.isfinite(r.cost.total_per_unit) and 0 <= r.cost.package_yield <= 1

    def system():
        s = loads_system(_SYSTEM + extra, source="fuzz.toml")
        _priced(s.cost.params)

    assert _outcome(layout) in ("ok", "error")
    assert _outcome(system) in ("ok", "error")


def test_report_ppac_table_says_where_cost_inputs_came_from():
    import types

    from codesign.viz.report import run_tables

    stack = loads_layout(_demo(_COST), source="demo_cost.toml", folder=shipped_layout_path("demo").parent)
    run = types.SimpleNamespace(stack=stack, links=None, coupled=None, derating=None, ppac=evaluate_ppac(stack))
    rows = {r["quantity"]: r["value"] for r in run_tables(run)["PPAC"]}
    # the page names its own copy of the layout file, not a path into the installation
    assert rows["cost input: volume"] == "200,000 (the layout file (copied under layout/))"
    assert rows["cost input: node of logic"] == "N7 (the layout file (copied under layout/))"
    assert "a test-house quote" in rows["cost input: cost.set.package_test_cost"]
    demo = cd.load_layout("demo")
    plain = types.SimpleNamespace(stack=demo, links=None, coupled=None, derating=None, ppac=evaluate_ppac(demo))
    rows = {r["quantity"]: r["value"] for r in run_tables(plain)["PPAC"]}
    assert rows["cost input: volume"] == "1,000,000 (default)"
    assert rows["cost input: cost parameters"].endswith("(default)")


def test_partition_screen_uses_the_system_files_cost_table():
    from codesign.explore.partition import screen

    plain = loads_system(_SYSTEM, source="sys.toml")
    filed = loads_system(_SYSTEM + '[cost.nodes.N5]\nwafer_cost = { value = 30000.0, source = "test value" }\n',
                         source="sys.toml")
    a = {c.label: c.cost for c in screen(plain, technologies=("organic_substrate",))}
    b = {c.label: c.cost for c in screen(filed, technologies=("organic_substrate",))}
    assert a.keys() == b.keys() and all(b[k] > a[k] for k in a)
