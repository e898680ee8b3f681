"""Dies that span several layers (``spans``): validated, meshed as one region, seen as one die.

The physics check: a die spanning two layers is the same body as the old workaround (a powered die
in one layer plus a 0 W cap of the same material and footprint above it), so the mesh and every
field must be identical and the temperatures equal to solver tolerance.
"""

import copy
import re
import tomllib

import numpy as np
import pytest
import tomli_w

import codesign as cd
import solvers
from codesign.layout_io import shipped_layout_path

BASE = tomllib.loads(shipped_layout_path("demo").read_text())
MESH = dict(max_lateral_size=1e-3, min_lateral_size=None, grading=1.0)  # coarse: a few thousand cells


def _split(doc):
    """The demo with a 200 um mold layer 'upper' between the TIM and the dies."""
    d = copy.deepcopy(doc)
    dies = d["layers"][2]
    upper = {"name": "upper", "material": "mold", "thickness": "200 um", "origin": dies["origin"],
             "size": dies["size"]}
    d["layers"].insert(2, upper)
    return d


def _logic(d):
    return next(c for layer in d["layers"] for c in layer.get("chiplets", []) if c["name"] == "logic")


def caps_version():
    d = _split(BASE)
    lg = _logic(d)
    d["layers"][2]["chiplets"] = [{"name": "logic_cap", "kind": "dummy", "material": "silicon",
                                   "origin": lg["origin"], "size": lg["size"]}]
    return d


def spans_version():
    d = _split(BASE)
    _logic(d)["spans"] = ["upper", "dies"]
    return d


def load(doc):
    return cd.loads_layout(tomli_w.dumps(doc), source="test.toml")


def test_spanning_die_is_one_die_everywhere():
    s = load(spans_version())
    names = [c.name for c in s.chiplets]
    assert names.count("logic") == 1 and "logic_cap" not in names
    assert s.layer_of("logic").name == "dies"  # its bottom (bump-side) layer
    assert [layer.name for layer in s.layers_of("logic")] == ["upper", "dies"]
    assert [c.name for c in s.occupants("upper")] == ["logic"]
    assert s.chiplet("logic").spans == ("upper", "dies")
    # links to it still resolve (one endpoint), and the thermal report has one row for it
    assert {e for link in s.links for e in link.endpoints} >= {"logic"}


def test_spanning_die_gives_the_same_mesh_fields_and_temperatures_as_caps():
    old = cd.build(load(caps_version()), **MESH)
    new = cd.build(load(spans_version()), **MESH)
    for a, b in ((old.grid.x, new.grid.x), (old.grid.y, new.grid.y), (old.grid.z, new.grid.z)):
        np.testing.assert_array_equal(a, b)
    fo, fn = old.fields(), new.fields()
    for key in ("kx", "ky", "kz", "heat_capacity", "source"):
        np.testing.assert_array_equal(getattr(fo, key), getattr(fn, key), err_msg=key)
    # the die is one region: its cells in both layers, where the old die and its cap were
    g = new.grid
    region = g.region_mask(new.chiplet_regions["logic"])
    both = old.grid.region_mask(old.chiplet_regions["logic"]) | old.grid.region_mask(old.chiplet_regions["logic_cap"])
    np.testing.assert_array_equal(region, both)
    zc = g.element_centres()[2]
    for layer in ("upper", "dies"):
        zb, zt = new.layer_z[layer]
        assert region[:, :, (zc > zb) & (zc < zt)].any(), layer
    # identical grid and fields give the identical solution, so junctions need only the node masks:
    # on any field, the die's junction is the hottest node of die + cap, every other die unchanged
    t = np.random.default_rng(0).random(g.node_shape)
    jo, jn = old.junctions(t), new.junctions(t)
    assert float(jn["logic"]) == max(float(jo["logic"]), float(jo["logic_cap"]))
    assert all(float(jn[k]) == float(jo[k]) for k in jn if k != "logic")
    assert set(jn) == set(jo) - {"logic_cap"}


@pytest.mark.slow
def test_spanning_die_and_caps_solve_to_the_same_temperatures():
    old = cd.build(load(caps_version()), **MESH)
    new = cd.build(load(spans_version()), **MESH)
    solver = solvers.MultigridCG(rtol=1e-10)
    to, tn = old.solve(solver=solver).temperature, new.solve(solver=solver).temperature
    rise = float(np.max(to)) - 298.15
    assert float(np.max(np.abs(np.asarray(to) - np.asarray(tn)))) < 1e-8 * rise
    jo, jn = old.junctions(to), new.junctions(tn)
    assert float(jn["logic"]) == pytest.approx(max(float(jo["logic"]), float(jo["logic_cap"])), abs=1e-8 * rise)


def test_heat_goes_into_the_active_slab_at_the_active_side_of_the_whole_die():
    d = spans_version()
    _logic(d)["active_side"] = "top"
    m = cd.build(load(d), **MESH)
    src = m.source_pattern("logic") + m.source_pattern("logic/cores")
    zc = m.grid.element_centres()[2]
    _, z_top = m.layer_z["upper"]  # the die's top face is the top of its top layer
    heated = np.flatnonzero(src.sum(axis=(0, 1)) > 0)
    assert np.allclose(zc[heated], z_top - 10e-6, atol=10e-6 + 1e-12)  # within the top 20 um
    assert m.fields().total_power(m.grid) == pytest.approx(m.stack.total_power, rel=1e-12)
    # without active_thickness the heat fills the whole die: both layers
    d = spans_version()
    _logic(d).pop("active_thickness")
    with pytest.warns(cd.PlausibilityWarning, match="no active_thickness"):
        m = cd.build(load(d), **MESH)
    zc = m.grid.element_centres()[2]
    heated_z = zc[m.source_pattern("logic").sum(axis=(0, 1)) > 0]
    assert heated_z.min() < m.layer_z["dies"][1] < heated_z.max()


def _problems(doc):
    with pytest.raises(cd.LayoutError) as info:
        load(doc)
    return "\n".join(f"{p}: {m}" for p, m in info.value.problems)


@pytest.mark.parametrize("change, pattern", [
    (lambda d: _logic(d).update(spans=["tim1", "dies"]),
     r"layers\[3\]\.chiplets\[0\]\.spans: \['tim1', 'dies'\] are not consecutive layers listed top to bottom.*"
     r"\['tim1', 'upper', 'dies'\]"),
    (lambda d: _logic(d).update(spans=["dies", "upper"]), r"are not consecutive layers listed top to bottom"),
    (lambda d: _logic(d).update(spans=["uper", "dies"]), r"spans: unknown layer 'uper'; did you mean 'upper'\?"),
    (lambda d: _logic(d).update(spans=["tim1", "upper"]), r"spans: must include 'dies', the layer the die is declared in"),
    (lambda d: _logic(d).update(spans="upper"), r"spans: expected a list of layer names, top to bottom"),
    (lambda d: _logic(d).update(spans=["upper", "upper", "dies"]), r"spans: names a layer twice"),
    (lambda d: d["layers"][2].update(origin=["10 mm", "2 mm"], size=["15 mm", "12 mm"]),
     r"layers\[3\]\.chiplets\[0\]\.spans: chiplet 'logic' .* lies outside layer 'upper', which it spans"),
    (lambda d: _logic(d).update(active_thickness="1 mm"), r"active_thickness: .*exceeds the die's thickness \(900 um"),
])
def test_bad_spans_are_errors_naming_field_value_and_fix(change, pattern):
    doc = spans_version()
    change(doc)
    assert re.search(pattern, _problems(doc)), _problems(doc)


def test_a_cap_dummy_left_beside_spans_is_an_overlap_that_says_to_remove_it():
    d = caps_version()
    _logic(d)["spans"] = ["upper", "dies"]
    got = _problems(d)
    assert re.search(r"chiplet 'logic' overlaps 'logic_cap' \(layers\[2\]\.chiplets\[0\]\) in layer 'upper'.*"
                     r"remove those", got), got


def test_spanning_die_may_be_declared_in_its_top_layer():
    d = spans_version()
    lg = _logic(d)
    d["layers"][3]["chiplets"].remove(lg)
    d["layers"][2]["chiplets"] = [lg]
    s = load(d)
    assert s.layer_of("logic").name == "dies" and s.chiplet("logic").spans == ("upper", "dies")


def test_shipped_layouts_need_no_cap_dummies():
    """No 0 W silicon block continues a die (or another such block) of the same footprint in the layer above or
    below it (the old cap workaround; a bond of another material under structural silicon is not one)."""
    for name in cd.shipped_layouts():
        s = cd.load_layout(name)
        for i, layer in enumerate(s.layers):
            for c in layer.chiplets:
                if c.kind != "dummy" or c.material != "silicon" or c.total_power:
                    continue
                near = [s.layers[j] for j in (i - 1, i + 1) if 0 <= j < len(s.layers)]
                assert not any(d.rect == c.rect and (d.material == c.material or d.kind in ("logic", "hbm"))
                               for n in near for d in n.chiplets), (name, c.name)
    mi = cd.load_layout("mi300x_3d")
    assert len(mi.chiplets) == 20  # 8 XCDs + 4 IODs + 8 HBM3 stacks
    assert all(mi.chiplet(f"hbm{i}").spans == ("xcd_layer", "hybrid_bond", "iod_layer") for i in range(8))
    assert len(cd.load_layout("ponte_vecchio").chiplets) == 45


@pytest.mark.parametrize("value", [[], [1, 2], [True], {"a": 1}, ["x" * 300], ["dies"] * 1000, [["dies"]], "", 3.5])
def test_odd_spans_values_are_layout_errors_naming_the_field(value):
    """The reader stays total: odd `spans` values end in a LayoutError naming the field, never a crash."""
    doc = spans_version()
    _logic(doc)["spans"] = value
    assert "layers[3].chiplets[0].spans: " in _problems(doc)


def test_spans_of_one_own_layer_is_the_same_as_none():
    doc = spans_version()
    _logic(doc)["spans"] = ["dies"]
    with pytest.warns(cd.PlausibilityWarning, match="reaches the first powered die"):  # 200 um of mold over it now
        s = load(doc)
    assert s.chiplet("logic").spans == () and s.layer_of("logic").name == "dies"


def _as_caps(doc):
    """The layout as it was before `spans`: each spanning die in its bottom layer, 0 W silicon caps above."""
    doc = copy.deepcopy(doc)
    layers = {layer["name"]: layer for layer in doc["layers"]}
    for layer in doc["layers"]:
        for c in layer.get("chiplets", []):
            for other in c.pop("spans", [])[:-1]:
                layers[other].setdefault("chiplets", []).append(
                    {"name": f"{c['name']}_cap_{other}", "kind": "dummy", "material": "silicon",
                     "origin": c["origin"], "size": c["size"]})
    return doc


@pytest.mark.parametrize("name", ["vcache_3d", "ponte_vecchio", "mi300x_3d"])
def test_migrated_layouts_keep_the_physics_of_their_cap_versions(name):
    """Against the cap workaround built from the same file (same active thicknesses): the same grid and heat
    sources, the same conductivities and heat capacities everywhere except inside an HBM stack, now homogenised
    over its whole height (the V-Cache IOD, a silicon die: identical everywhere). The shipped files before the
    migration put the HBM heat through their whole layer instead; their measured temperature differences are in
    docs/layout-format.md."""
    path = shipped_layout_path(name)
    doc = tomllib.loads(path.read_text())
    new = cd.build(cd.load_layout(name), **MESH)
    old = cd.build(cd.loads_layout(tomli_w.dumps(_as_caps(doc)), source="caps.toml", folder=path.parent), **MESH)
    for a, b in ((old.grid.x, new.grid.x), (old.grid.y, new.grid.y), (old.grid.z, new.grid.z)):
        np.testing.assert_array_equal(a, b)
    fo, fn = old.fields(), new.fields()
    np.testing.assert_array_equal(fo.source, fn.source)
    hbm = np.zeros(new.grid.shape, bool)
    for c in new.stack.chiplets:
        if c.spans and c.hbm is not None:
            hbm |= new.grid.region_mask(new.chiplet_regions[c.name])
    for key in ("kx", "ky", "kz", "heat_capacity"):
        np.testing.assert_array_equal(np.asarray(getattr(fo, key))[~hbm], np.asarray(getattr(fn, key))[~hbm], key)
    assert hbm.any() == (name != "vcache_3d")
    assert len(new.stack.chiplets) == len(old.stack.chiplets) - sum(len(c.spans) - 1 for c in new.stack.chiplets if c.spans)


def test_spans_set_in_python_are_checked_when_meshing():
    s = load(spans_version())
    for bad in (("tim1", "dies"), ("nope", "dies"), ("dies", "upper"), ("upper",)):
        with pytest.raises(cd.ModelError, match=r"chiplet 'logic': spans=.* must name consecutive layers"):
            cd.build(s.with_chiplet("logic", spans=bad), **MESH)
