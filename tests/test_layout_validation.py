"""Every validation rule of the layout format ends in one LayoutError naming field, value and fix."""

import copy
import tomllib

import pytest
import tomli_w

import codesign as cd
from codesign.layout_io import shipped_layout_path

BASE = tomllib.loads(shipped_layout_path("demo").read_text())


def load(doc, tmp_path=None, name="layout.toml"):
    if tmp_path is None:
        return cd.loads_layout(tomli_w.dumps(doc), source="test.toml")
    p = tmp_path / name
    p.write_text(tomli_w.dumps(doc))
    return cd.load_layout(p)


def mutated(fn):
    doc = copy.deepcopy(BASE)
    fn(doc)
    return doc


def logic(doc):
    return doc["layers"][2]["chiplets"][0]


def test_base_layout_is_valid():
    stack = load(BASE)
    assert stack.name == "demo"
    assert stack.total_power == pytest.approx(116.0)


@pytest.mark.parametrize(
    "change, path, message",
    [
        (lambda d: d["layers"][1].update(material="silcon"), r"layers\[1\]\.material",
         r"unknown material 'silcon'; did you mean 'silicon'\?"),
        (lambda d: logic(d).update(power=100), r"layers\[2\]\.chiplets\[0\]\.power",
         r'expected a power such as "350 W", got 100 \(no unit\)'),
        (lambda d: logic(d).update(power="100 V"), r"chiplets\[0\]\.power", r"unknown unit 'V'"),
        (lambda d: logic(d).update(power="100 mm"), r"chiplets\[0\]\.power", r"'mm' is not a power"),
        (lambda d: d["layers"][0].update(thickness="0 mm"), r"layers\[0\]\.thickness", r"must be positive"),
        (lambda d: d["layers"][0].update(thickness="-1 mm"), r"layers\[0\]\.thickness", r"must be positive"),
        (lambda d: logic(d).update(size=["-8 mm", "10 mm"]), r"chiplets\[0\]\.size\[0\]", r"must be positive"),
        (lambda d: d["layers"][0].pop("thickness"), r"layers\[0\]\.thickness", r"missing; give a length"),
        (lambda d: d["package"].update(size=["20 mm"]), r"package\.size", r"expected a list of two"),
        (lambda d: logic(d).update(origin=["5 mm", "3 mm"]), r"chiplets\[1\]",
         r"chiplet 'hbm0' overlaps 'logic' \(layers\[2\]\.chiplets\[0\]\)"),
        (lambda d: logic(d).update(origin=["20 mm", "3 mm"]), r"chiplets\[0\]",
         r"lies outside its layer 'dies'; move it inside or enlarge the layer"),
        (lambda d: d["layers"][3].update(size=["6 mm", "12 mm"]), r"layers\[2\]\.chiplets\[0\]",
         r"chiplet '(logic|hbm0|hbm1)' is stacked over nothing"),
        (lambda d: logic(d)["power_blocks"][0].update(origin=["5 mm", "5 mm"]),
         r"chiplets\[0\]\.power_blocks\[0\]", r"extends outside its die 'logic'"),
        (lambda d: d["layers"][2]["chiplets"][1].update(name="logic"), r"chiplets\[1\]\.name",
         r"duplicate name 'logic'"),
        (lambda d: d["layers"][1].update(name="lid"), r"layers\[1\]\.name", r"duplicate name 'lid'"),
        (lambda d: d["links"][0].update(between=["logic", "hbm7"]), r"links\[0\]\.between",
         r"unknown link endpoint 'hbm7'; did you mean 'hbm[01]'\?"),
        (lambda d: d["links"][0].update(between=["logic", "logic"]), r"links\[0\]\.between",
         r"two different chiplets"),
        (lambda d: d["links"][1].update(name="logic-hbm0"), r"links\[1\]\.name", r"duplicate link name"),
        (lambda d: logic(d).update(thicknes="1 mm"), r"chiplets\[0\]\.thicknes", r"unknown field 'thicknes'"),
        (lambda d: d["layers"][0].update(thicknes="1 mm"), r"layers\[0\]\.thicknes",
         r"did you mean 'thickness'\?"),
        (lambda d: logic(d).update(kind="gpu"), r"chiplets\[0\]\.kind", r"unknown value 'gpu'"),
        (lambda d: d.update(schema=2), r"schema", r"expected schema = 1"),
        (lambda d: d["boundaries"]["top"].update(ambient="35 W"), r"boundaries\.top\.ambient",
         r"expected a temperature"),
        (lambda d: d["boundaries"]["top"].update(heat_transfer_coefficient="1e4 W/m^2"),
         r"boundaries\.top\.heat_transfer_coefficient", r"is not a heat transfer coefficient"),
        (lambda d: d["boundaries"].update(top={"kind": "adiabatic"}, bottom={"kind": "adiabatic"}),
         r"boundaries", r"heat has no way out"),
        (lambda d: d["layers"][3]["interconnect"].update(diameter="50 um"), r"layers\[3\]\.interconnect\.diameter",
         r"must be smaller than the pitch"),
        (lambda d: d["layers"][3]["interconnect"].update(kind="wirebond"), r"interconnect\.kind",
         r"unknown value 'wirebond'"),
        (lambda d: d["layers"][2]["chiplets"][1]["hbm"].update(dram_dies=20), r"chiplets\[1\]\.hbm",
         r"um tall but its layer is"),
        (lambda d: d["layers"][2]["chiplets"][1]["hbm"].update(dram_dies="8"), r"hbm\.dram_dies",
         r"expected an integer"),
        (lambda d: logic(d).update(hbm=d["layers"][2]["chiplets"][1]["hbm"]), r"chiplets\[0\]\.hbm",
         r'needs kind = "hbm"'),
        (lambda d: logic(d).update(leakage={"reference_power": "10 W", "reference_temperature": "60 degC",
                                            "coefficient": "0.02 K"}),
         r"leakage\.coefficient", r"inverse temperature"),
        (lambda d: logic(d).update(leakage={"reference_power": "10 W", "reference_temperature": "60 degC",
                                            "model": "polynomial", "polynomial": ["0.02 1/K", "1e-4 1/K"]}),
         r"leakage\.polynomial\[1\]", r"1/K\^2"),
        (lambda d: logic(d).update(tj_max="105 W"), r"chiplets\[0\]\.tj_max", r"expected a temperature"),
        (lambda d: logic(d).update(active_thickness="2 mm"), r"active_thickness", r"exceeds the layer thickness"),
        (lambda d: d["mesh"].update(max_lateral_size="1 um"), r"mesh", r"cells \(limit"),
        (lambda d: d["mesh"].update(grading=0.5), r"mesh\.grading", r"between 1.0 and 3.0"),
        (lambda d: d["layers"][0].update(thickness="1e9 m"), r"layers\[0\]\.thickness", r"out of range"),
        (lambda d: d.setdefault("materials", {}).update(foo={"conductivity": ["1 W/m/K", "2 W/m/K"], "heat_capacity": "1 MJ/m^3/K"}),
         r"materials\.foo\.conductivity", r"\[kx, ky, kz\]"),
        (lambda d: d["layers"][0].update(interconnect_region="under_above"), r"layers\[0\]\.interconnect_region",
         r"only meaningful with an interconnect"),
        (lambda d: d.pop("layers"), r"layers", r"missing; list the layers"),
        (lambda d: d.update(layers=[]), r"layers", r"no layers given"),
        (lambda d: d["layers"][2].update(chiplets={"name": "x"}), r"layers\[2\]\.chiplets",
         r"expected an array of tables"),
        (lambda d: d["layers"][0].update(name="a/b"), r"layers\[0\]\.name", r"free of '/'"),
    ],
)
def test_each_problem_is_reported_with_path_and_fix(change, path, message):
    doc = mutated(change)
    with pytest.raises(cd.LayoutError, match=path + r".*" + message) as info:
        load(doc)
    assert str(info.value).startswith("test.toml:")


def test_all_problems_are_collected_in_one_error():
    def change(d):
        d["layers"][1]["material"] = "silcon"
        logic(d)["power"] = 100
        d["links"][0]["between"] = ["logic", "nope"]

    with pytest.raises(cd.LayoutError, match="3 problems") as info:
        load(mutated(change))
    paths = [p for p, _ in info.value.problems]
    assert paths == ["layers[1].material", "layers[2].chiplets[0].power", "links[0].between"]


def test_not_toml_is_a_layout_error():
    with pytest.raises(cd.LayoutError, match="not valid TOML"):
        cd.loads_layout("name = [unclosed", source="x.toml")


def test_unknown_file_or_name_suggests_shipped_layouts():
    with pytest.raises(cd.LayoutError, match="did you mean 'demo'"):
        cd.load_layout("dmeo")


def test_power_map_csv_is_read_next_to_the_layout(tmp_path):
    (tmp_path / "map.csv").write_text("# watts per cell, row 0 at low y\n1,2\n3,4\n")
    doc = mutated(lambda d: logic(d).update(power_map="map.csv"))
    stack = load(doc, tmp_path)
    assert stack.chiplet("logic").total_power == pytest.approx(100 + 10)
    model = cd.build(stack)
    assert model.fields().total_power(model.grid) == pytest.approx(126.0, rel=1e-12)


@pytest.mark.parametrize(
    "csv_text, target, message",
    [
        (None, "../outside.csv", "lies outside the layout's folder"),
        (None, "/etc/passwd", "lies outside the layout's folder"),
        (None, "missing.csv", "not found"),
        ("1,a\n", "map.csv", "every cell must be a number"),
        ("1,2\n3\n", "map.csv", "rectangular grid"),
        ("1,-2\n", "map.csv", "non-negative"),
    ],
)
def test_power_map_problems(tmp_path, csv_text, target, message):
    sub = tmp_path / "layout"
    sub.mkdir()
    (tmp_path / "outside.csv").write_text("1,1\n")
    if csv_text is not None:
        (sub / target).write_text(csv_text)
    doc = mutated(lambda d: logic(d).update(power_map=target))
    with pytest.raises(cd.LayoutError, match=r"chiplets\[0\]\.power_map: .*" + message):
        load(doc, sub)


def test_sub_resolution_sizes_are_refused():
    doc = mutated(lambda d: logic(d)["power_blocks"][0].update(size=["1e-30 um", "1 mm"]))
    with pytest.raises(cd.LayoutError, match=r"power_blocks\[0\]\.size\[0\]: .*below 10 nm"):
        load(doc)


def test_layout_phys_tables_override_the_library():
    def change(d):
        d["phys"] = {"my_hbm3": {"base": "HBM3", "energy_per_bit": "0.8 pJ/bit", "source": "vendor X datasheet"}}
        d["links"][0]["phy"] = "my_hbm3"

    stack = load(mutated(change))
    assert [p.name for p in stack.phys] == ["my_hbm3"]
    report = cd.evaluate_links(stack)
    assert report.link("logic-hbm0").energy_per_bit == pytest.approx(0.8e-12)
    assert report.link("logic-hbm1").energy_per_bit == pytest.approx(0.5e-12)  # the library's HBM3


@pytest.mark.parametrize("change, message", [
    (lambda d: d["links"][1].update(phy="HMB3"), r"links\[1\]\.phy: unknown PHY 'HMB3'; did you mean 'HBM3'\?"),
    (lambda d: d.update(phys={"x": {"base": "HBM3", "reach": "3 mm"}}), r"phys\.x\.source: give a source string"),
    (lambda d: d.update(phys={"x": {"base": "HBM3", "reach": "3 W", "source": "s"}}), r"phys\.x\.reach: .*length"),
    (lambda d: d.update(phys={"x": {"base": "HMB3"}}), r"did you mean 'HBM3'"),
    (lambda d: d.update(phys=3), r"phys: expected tables"),
])
def test_phy_problems_are_layout_errors(change, message):
    with pytest.raises(cd.LayoutError, match=message):
        load(mutated(change))


def test_layout_sweep_and_system_errors_share_one_problem_list_format():
    """One base class collects and prints the problems of every input file kind."""
    from codesign import InputFileError, LayoutError, SystemFileError
    from codesign.explore.sweep import SweepSpecError

    for cls in (LayoutError, SweepSpecError, SystemFileError):
        err = cls("f.toml", [("a.b", "bad value 3; use 4"), ("", "missing [mesh]")])
        assert isinstance(err, InputFileError) and isinstance(err, ValueError)
        assert str(err) == "f.toml: 2 problems\n  a.b: bad value 3; use 4\n  missing [mesh]"
        assert err.source == "f.toml" and err.problems == [("a.b", "bad value 3; use 4"), ("", "missing [mesh]")]
