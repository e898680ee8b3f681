"""Partition exploration: set partitions, system parsing, search = exhaustive optimum, the
monolithic/split crossover, Pareto, the package recipe and the stacks built from it, names from
the system file reaching the stack verbatim, and which errors a candidate may report."""

import json
import random
from pathlib import Path

import pytest

from codesign.explore.partition import Candidate, explore_partitions, pareto, screen, set_partitions
from codesign.explore.system import SystemFileError, load_system, loads_system

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "systems"

BELL = [1, 1, 2, 5, 15, 52, 203]


@pytest.mark.parametrize("n", range(1, 7))
def test_set_partitions_bell_numbers(n):
    parts = list(set_partitions([f"b{i}" for i in range(n)]))
    assert len(parts) == BELL[n]
    assert len({tuple(sorted(tuple(sorted(p)) for p in q)) for q in parts}) == BELL[n]
    for q in parts:
        assert sorted(b for p in q for b in p) == sorted(f"b{i}" for i in range(n))
    # at most two parts: S(n,1) + S(n,2) = 1 + (2^(n-1) - 1)
    assert len(list(set_partitions(range(n), 2))) == 2 ** (n - 1)


def _system(blocks, traffic, *, techs=("organic_substrate", "silicon_interposer"), nodes=("N5", "N7"),
            volume=1e6, extra=""):
    lines = ["schema = 1", 'name = "t"', f"volume = {volume:g}", "[options]",
             f"nodes = {list(nodes)!r}".replace("'", '"'), f"technologies = {list(techs)!r}".replace("'", '"'),
             '[node_scaling.N5]', 'area = "1"', 'power = "1"', '[node_scaling.N7]', 'area = "1.8"', 'power = "1.35"']
    for name, area, power, design in blocks:
        lines += ["[[blocks]]", f'name = "{name}"', f'area = "{area} mm^2"', f'power = "{power} W"',
                  f'design = "{design}"']
    for a, b, bw in traffic:
        lines += ["[[traffic]]", f'between = ["{a}", "{b}"]', f'bandwidth = "{bw} GB/s"']
    return loads_system("\n".join(lines) + "\n" + extra)


def test_system_errors_are_collected():
    text = """schema = 1
[[blocks]]
name = "a"
area = 50
power = "10 W"
[[blocks]]
name = "b"
area = "20 mm^2"
power = "3 m"
[[traffic]]
between = ["a", "c"]
bandwidth = "1 TB/s"
"""
    with pytest.raises(SystemFileError) as e:
        loads_system(text, source="sys.toml")
    msg = str(e.value)
    assert "sys.toml: 3 problems" in msg
    assert "blocks[0].area" in msg and "blocks[1].power" in msg and "traffic[0].between" in msg
    with pytest.raises(SystemFileError, match=r"node_scaling\.N7"):
        loads_system('schema = 1\n[[blocks]]\nname = "a"\narea = "1 mm^2"\npower = "1 W"\nnodes = ["N5", "N7"]\n')


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_heuristic_finds_the_exhaustive_optimum(seed):
    rng = random.Random(seed)
    n = 5
    blocks = [(f"b{i}", rng.choice([40, 90, 160, 250]), rng.choice([10, 30, 60]), f"d{i}") for i in range(n)]
    traffic = [(f"b{i}", f"b{j}", rng.choice([50, 200, 600])) for i in range(n) for j in range(i + 1, n)
               if rng.random() < 0.5]
    s = _system(blocks, traffic, volume=3e6)
    ex = screen(s, search="exhaustive")
    he = screen(s, search="heuristic")
    assert len(ex) > len(he)
    best_ex = min(c.cost for c in ex if c.feasible)
    best_he = min(c.cost for c in he if c.feasible)
    assert best_he == pytest.approx(best_ex, rel=1e-9)


def test_identical_blocks_evaluated_once():
    s = _system([("c0", 50, 20, "core"), ("c1", 50, 20, "core"), ("c2", 50, 20, "core")], [])
    labels = [c.label for c in screen(s, search="exhaustive", technologies=("organic_substrate",))]
    # up to relabelling: {3} x 2 nodes, {2,1} x 2 x 2, {1,1,1} x 4 node multisets (instead of 2 + 3*4 + 8)
    assert len(labels) == 2 + 4 + 4


def test_monolithic_wins_small_and_splitting_wins_large():
    def best(area):
        s = _system([("x", area, area * 0.3, "x"), ("y", area, area * 0.3, "y")], [("x", "y", 100)],
                    techs=("organic_substrate",), nodes=("N5",), volume=1e7)
        r = explore_partitions(s, thermal=False, ppac_top=10)
        return r.best

    small, large = best(25), best(380)
    assert small.feasible and len(small.partition) == 1
    assert large.feasible and len(large.partition) == 2
    assert large.stage == "ppac" and large.ppac is not None


def test_explore_with_thermal_and_infeasible_kept():
    s = _system([("x", 500, 150, "x"), ("y", 500, 150, "y")], [("x", "y", 200)],
                techs=("organic_substrate",), nodes=("N5",))
    r = explore_partitions(s, thermal=True, ppac_top=4, thermal_top=1)
    mono = [c for c in r.candidates if len(c.partition) == 1]
    assert mono and not mono[0].feasible and any(x.startswith("reticle") for x in mono[0].reasons)
    assert r.best.feasible and r.best.stage == "thermal" and len(r.best.partition) == 2
    assert r.best.peak_temperature > s.ambient
    d = r.to_dict()
    assert d["candidates"][0]["feasible"] and "Pareto" in r.table()


def _cand(cost, power, temp, perf, reasons=()):
    return Candidate(key=(cost, power, temp, perf), partition=(("a",),), nodes=("N5",), technology="x", chiplets=(),
                     cost=cost, cost_per_good_package=cost, power=power, silicon_area=1e-4, peak_temperature=temp,
                     performance=perf, reasons=tuple(reasons), stage="thermal")


def test_pareto():
    a = _cand(100, 50, 350, 1.0)
    b = _cand(90, 60, 350, 1.0)        # cheaper, more power: both on the front
    c = _cand(110, 60, 360, 0.9)       # dominated by a
    d = _cand(80, 40, 340, 1.0, reasons=("reticle",))   # dominates all but infeasible
    front = pareto([a, b, c, d])
    assert front == [b, a]
    assert pareto([a, b, c, d], feasible_only=False) == [d]


def test_pareto_ties_count_once():
    """Two designs $0.06 and 0.06 K apart are one point of the front (the cheaper), not two;
    a real trade-off beyond the ties keeps both."""
    a = _cand(1000.00, 50, 350.06, 1.0)
    b = _cand(1000.06, 50, 350.00, 1.0)
    assert pareto([a, b]) == [a] and pareto([b, a]) == [a]
    c = _cand(1100.0, 50, 345.0, 1.0)  # $100 dearer, 5 K cooler: a trade-off
    assert pareto([a, b, c]) == [a, c]
    assert pareto([a, b], ties={"cost": 0.0, "cost_relative": 0.0, "temperature": 0.0}) == [a, b]


def test_table_and_json_of_an_exploration(tmp_path):
    s = loads_system("""schema = 1
name = "tiny"
[options]
technologies = ["organic_substrate"]
[[blocks]]
name = "a"
area = "60 mm^2"
power = "20 W"
[[blocks]]
name = "b"
area = "40 mm^2"
power = "10 W"
[[traffic]]
between = ["a", "b"]
bandwidth = "100 GB/s"
""")
    r = explore_partitions(s, thermal=False)
    out = r.table()
    assert "Partition exploration: tiny" in out and "Pareto" in out and "monolithic" in out
    d = json.loads(json.dumps(r.to_dict(), default=str))
    assert len(d["candidates"]) == len(r.candidates) == r.evaluated
    assert {c["label"] for c in d["candidates"]} == {c.label for c in r.candidates}


@pytest.mark.slow
@pytest.mark.parametrize("name", ["server_cpu", "gpu_soc"])
def test_shipped_examples(name):
    import time

    t = time.perf_counter()
    r = explore_partitions(load_system(EXAMPLES / f"{name}.toml"))
    assert time.perf_counter() - t < 240
    assert r.best.feasible and r.best.stage == "thermal"
    assert len(r.best.partition) > 1          # both examples favour chiplets
    assert not [c.label for c in r.candidates if any("evaluation failed" in x for x in c.reasons)]


def test_heuristic_matches_exhaustive_on_the_server_example():
    s = load_system(EXAMPLES / "server_cpu.toml")
    ex = screen(s, search="exhaustive")
    he = screen(s, search="heuristic")
    assert len(he) < len(ex)
    assert he[0].cost == pytest.approx(ex[0].cost, rel=1e-12) and he[0].label == ex[0].label


# -- the package recipe and the stacks built from it ---------------------------------------------------

def test_every_recipe_value_is_sourced_and_the_layers_are_sane():
    from codesign.explore.floorplan import PACKAGE_RECIPES
    from codesign.explore.system import TECHNOLOGIES
    from codesign.materials import BUILTIN_MATERIALS
    from codesign.phys import get_phy

    assert set(PACKAGE_RECIPES) == set(TECHNOLOGIES) == {"organic_substrate", "silicon_interposer", "organic_rdl",
                                                          "bridge"}
    for tech, r in PACKAGE_RECIPES.items():
        assert r.technology == tech and r.source and get_phy(r.d2d_phy) and all(get_phy(p) for p in r.link_phys)
        assert [layer.name for layer in r.layers][:3] == ["lid", "tim1", "dies"] and r.layers[-1].name == "substrate"
        assert sum(layer.holds_dies for layer in r.layers) == 1
        for layer in r.layers:
            assert len(layer.source) > 10 and layer.thickness > 0 and layer.over in ("package", "dies")
            assert layer.material in BUILTIN_MATERIALS
            ic = layer.interconnect
            if ic is not None:
                assert 0 < ic.diameter < ic.pitch and ic.material in BUILTIN_MATERIALS and ic.fill == layer.material
    # fine-pitch carriers have microbumps under the dies; the organic substrate has C4 only
    assert "microbumps" not in [layer.name for layer in PACKAGE_RECIPES["organic_substrate"].layers]
    assert PACKAGE_RECIPES["silicon_interposer"].layers[4].material == "silicon"


def test_junction_to_lid_resistance_by_hand():
    from codesign.explore.floorplan import junction_to_lid_resistance

    # die 720 um of silicon (148 W/m/K), TIM1 50 um (5 W/m/K), lid 1.5 mm copper (401 W/m/K)
    want = 720e-6 / 148 + 50e-6 / 5 + 1.5e-3 / 401
    for tech in ("organic_substrate", "silicon_interposer"):
        assert junction_to_lid_resistance(tech) == pytest.approx(want, rel=1e-12)


def test_built_stack_follows_the_recipe_and_homogenises_like_layout_files():
    from codesign.explore.floorplan import PACKAGE_RECIPES
    from codesign.homogenise import homogenise_interconnect
    from codesign.materials import BUILTIN_MATERIALS as M

    s = load_system(EXAMPLES / "gpu_soc.toml")
    built = [c for tech in ("silicon_interposer", "organic_rdl", "bridge")
             for c in explore_partitions(s, thermal=False, ppac_top=3, technologies=(tech,)).candidates if c.stack is not None]
    assert {c.technology for c in built} == {"silicon_interposer", "organic_rdl", "bridge"}
    for c in built:
        stack, recipe = c.stack, PACKAGE_RECIPES[c.technology]
        assert [(layer.name, layer.material, layer.thickness) for layer in stack.layers] == \
            [(lr.name, lr.material, lr.thickness) for lr in recipe.layers]
        names = {m.name for m in stack.materials}
        for layer in stack.layers:
            ic = layer.interconnect
            if ic is None:
                continue
            # the homogenised material under the mesher's name, and its parents, as load_layout gives them
            assert stack.material(f"{layer.name}:{ic.kind}") == homogenise_interconnect(
                ic, M[ic.material], M[ic.fill], name=f"{layer.name}:{ic.kind}")
            assert {ic.material, ic.fill} <= names
        hbm = [ch for ch in stack.chiplets if ch.kind == "hbm"]
        assert len(hbm) == 6 and all(stack.material(ch.material).recipe is not None for ch in hbm)
        assert {"silicon", "sac305", "underfill"} <= names       # the parents of the HBM blocks
        dies = stack.layer("dies")
        assert all(dies.extent.contains(ch.rect) for ch in dies.chiplets)
        assert sum(ch.power for ch in dies.chiplets) == pytest.approx(c.ppac.power["dynamic"])


# -- names from the system file reach the stack verbatim ------------------------------------------------

_INJECTED = 'x"]\n= "1e9 W"'


def _named_system(name):
    return loads_system(f"""schema = 1
name = "inj"
volume = 1e6
[options]
nodes = ["N5"]
technologies = ["organic_substrate"]
[[blocks]]
name = {json.dumps(name)}
area = "420 mm^2"
power = "120 W"
[[blocks]]
name = "y"
area = "420 mm^2"
power = "120 W"
[[traffic]]
between = [{json.dumps(name)}, "y"]
bandwidth = "200 GB/s"
""")


def test_a_block_name_with_toml_syntax_gives_the_same_candidates_as_a_plain_one():
    """Block names used to be pasted into layout TOML: an injected name made every candidate read
    10,000 degC, and a double quote dropped every multi-chiplet candidate ("evaluation failed")."""
    def summary(name):
        r = explore_partitions(_named_system(name), ppac_top=4, thermal_top=1)
        return {c.label.replace(name, "x"): (c.stage, c.cost, c.power, c.peak_temperature,
                                              tuple(x.replace(name, "x") for x in c.reasons)) for c in r.candidates}, r

    plain, _ = summary("x")
    injected, r = summary(_INJECTED)
    assert plain.keys() == injected.keys()
    for label, (stage, cost, power, peak, reasons) in plain.items():
        i_stage, i_cost, i_power, i_peak, i_reasons = injected[label]
        assert (stage, reasons) == (i_stage, i_reasons), label
        assert i_cost == pytest.approx(cost, rel=1e-12) and i_power == pytest.approx(power, rel=1e-12)
        assert i_peak == pytest.approx(peak, rel=1e-9, abs=1e-9)
    split = [c for c in r.candidates if len(c.partition) == 2 and c.stage == "thermal"]
    assert split and split[0].feasible and split[0].peak_temperature < 150 + 273.15
    assert _INJECTED in [ch.name for ch in split[0].stack.chiplets]
    assert split[0].stack.chiplet(_INJECTED).total_power == pytest.approx(120 + split[0].chiplets[0].phy_power, rel=0.5)


# -- which errors become candidate reasons --------------------------------------------------------------

def _two_blocks():
    return _system([("a", 300, 90, "a"), ("b", 300, 90, "b")], [("a", "b", 200)], techs=("organic_substrate",),
                   nodes=("N5",))


def test_a_programming_error_in_an_evaluation_propagates(monkeypatch):
    import codesign.explore.partition as part

    def broken(*args, **kwargs):
        raise TypeError("a bug")

    monkeypatch.setattr(part, "build_stack", broken)
    with pytest.raises(TypeError, match="a bug"):
        explore_partitions(_two_blocks(), thermal=False, ppac_top=2)


def test_a_documented_domain_error_becomes_the_candidate_reason(monkeypatch):
    import codesign.explore.partition as part
    from codesign.cost import CostError

    def infeasible(*args, **kwargs):
        raise CostError("no price for this")

    monkeypatch.setattr(part, "build_stack", infeasible)
    r = explore_partitions(_two_blocks(), thermal=False, ppac_top=2)
    failed = [c for c in r.candidates if "evaluation failed: no price for this" in c.reasons]
    assert len(failed) >= 2 and all(not c.feasible and c.stage == "screen" for c in failed)


@pytest.mark.parametrize("name", ["server_cpu", "gpu_soc"])
def test_no_candidate_of_the_shipped_systems_fails_to_evaluate(name):
    # every floorplanned candidate: stack, links, PPAC (the thermal stage: test_shipped_examples, slow)
    r = explore_partitions(load_system(EXAMPLES / f"{name}.toml"), thermal=False)
    assert sum(c.stage == "ppac" for c in r.candidates) >= 60
    assert r.best.stage == "ppac" and r.best.feasible
    assert not [(c.label, c.reasons) for c in r.candidates if any("evaluation failed" in x for x in c.reasons)]


# -- system files ---------------------------------------------------------------------------------------

def test_system_file_problems_reported_once_with_their_fix(tmp_path):
    text = """schema = 1
[options]
max_chiplets = 0
technologies = ["silicon_interposer", "glass_core"]
[package]
spacing = "1 parsec"
[[blocks]]
name = "hbm0"
area = "50 mm^2"
power = "10 W"
[[memory]]
attach = "hbm0"
generation = "HBM9"
bandwidth = "800 GB/s"
power = "15 W"
[[memory]]
name = "hbm"
attach = "hbm0"
bandwidth = "800 GB/s"
power = "15 W"
count = 2
"""
    with pytest.raises(SystemFileError) as e:
        loads_system(text, source="s.toml")
    msg = str(e.value)
    assert "s.toml: 5 problems" in msg
    assert "options.max_chiplets: expected a whole number in [1, 320], got 0" in msg
    assert "unknown technology 'glass_core'" in msg
    assert "package.spacing" in msg                                     # used to be dropped silently
    assert "memory[0].generation: unknown HBM generation 'HBM9'; did you mean 'HBM4'?" in msg
    assert "memory[1].name: stack name 'hbm0' is also the name of a block; rename one" in msg
    with pytest.raises(SystemFileError, match="no such system file; check the path"):
        load_system(tmp_path / "missing.toml")


SERVER = (EXAMPLES / "server_cpu.toml").read_text()


@pytest.mark.parametrize("change, message", [
    # ill-typed input used to crash the loader (AttributeError, TypeError)
    (lambda t: t.replace("[node_scaling.N5]", "[node_scaling_x]"),
     r"node_scaling_x: unknown key 'node_scaling_x'; did you mean 'node_scaling'\?"),
    (lambda t: 'node_scaling = "x"\n' + t.replace('[node_scaling.N5]\narea = "1"\npower = "1"\n', "")
     .replace("[node_scaling.N7]", "[ns7]").replace("[node_scaling.N16]", "[ns16]"),
     r"node_scaling: expected \[node_scaling.NODE\] tables, got 'x'"),
    (lambda t: t.replace('[node_scaling.N5]\narea = "1"\npower = "1"', "[node_scaling]\nN5 = 3"),
     r"node_scaling.N5: expected a table such as \{ area = \"1.8\", power = \"1.35\" \}, got an integer 3"),
    (lambda t: t.replace('between = ["l3", "io"]', "between = 5"),
     r"traffic\[4\].between: give two different block names such as \[\"a\", \"b\"\], got 5"),
    (lambda t: t.replace('node = "N7"', "node = 7"),
     r"blocks\[5\].node: expected a process node such as \"N5\", got an integer 7"),
    (lambda t: t.replace('nodes = ["N5", "N7"]                   # default', "nodes = 5 #"),
     r"options.nodes: give a non-empty list of process nodes such as \[\"N5\", \"N7\"\], got 5"),
    (lambda t: "blocks = [1]\n" + t.replace("[[blocks]]", "[[blockz]]"),
     r"blocks\[0\]: expected a table \(a \[\[blocks\]\] entry\), got an integer 1"),
    (lambda t: 'memory = ["x"]\n' + t, r"memory\[0\]: expected a table \(a \[\[memory\]\] entry\), got a string 'x'"),
    (lambda t: 'options = "x"\n' + t.replace("[options]", "[optionz]"), r"options: expected a table, got a string 'x'"),
    (lambda t: t.replace('name = "l3"', 'name = ["l3"]'),
     r"blocks\[4\].name: expected a name such as \"gpc0\", got an array"),
    # invalid values used to be replaced by defaults or converted silently
    (lambda t: t.replace('tj_max = "95 degC"', 'tj_max = "95 degF"'),
     r"options.tj_max: .* got '95 degF': unknown unit 'degF'"),
    (lambda t: t.replace('tj_max = "95 degC"', "tj_max = 95"),
     r"options.tj_max: expected a temperature .* got 95 \(no unit\)"),
    (lambda t: t.replace('tj_max = "95 degC"', 'tj_max = "20 degC"'),
     r"options.tj_max: the junction limit 20 degC is not above the heat-sink ambient 35 degC"),
    (lambda t: t.replace('ambient = "35 degC"', 'ambient = "hot"'), r"package.ambient: expected a temperature"),
    (lambda t: t.replace('margin = "6 mm"', 'margin = "-6 mm"'), r"package.margin: '-6 mm' is out of range"),
    (lambda t: t.replace('mesh_size = "2 mm"', 'mesh_size = "0 mm"'), r"options.mesh_size: '0 mm' is out of range"),
    (lambda t: t.replace('mesh_size = "2 mm"', 'mesh_size = "10 um"'),
     r"options.mesh_size: a 0.01 mm mesh gives every generated stack at least [\d,]+ cells \(limit [\d,]+\)"),
    (lambda t: t.replace('[node_scaling.N7]\narea = "1.8"\n', "[node_scaling.N7]\n"),
     r"node_scaling.N7.area: missing; give a number"),
    (lambda t: t.replace("scales = false", 'scales = "no"'),
     r"blocks\[5\].scales: expected true or false, got a string 'no'"),
    (lambda t: t.replace('name = "server_cpu"', "name = [1]"), r"name: expected a name such as \"gpu_soc\", got an array"),
    (lambda t: t.replace("volume = 2000000", "volume = nan"), r"volume: expected a number in \(0, 1e\+12\], got nan"),
    (lambda t: t.replace('area = "110 mm^2"', 'area = "-110 mm^2"'), r"blocks\[4\].area: '-110 mm\^2' is out of range"),
    # unknown keys used to be ignored
    (lambda t: t.replace('name = "l3"', 'name = "l3"\narae = "1 mm^2"'),
     r"blocks\[4\].arae: unknown key 'arae'; did you mean 'area'\?"),
    (lambda t: t.replace("[options]", '[options]\ntj_mx = "90 degC"'),
     r"options.tj_mx: unknown key 'tj_mx'; did you mean 'tj_max'\?"),
    (lambda t: t.replace("[package]", '[package]\nspaceing = "1 mm"'),
     r"package.spaceing: unknown key 'spaceing'; did you mean 'spacing'\?"),
    (lambda t: "volum = 3\n" + t, r"volum: unknown key 'volum'; did you mean 'volume'\?"),
    (lambda t: t.replace('between = ["l3", "io"]', 'between = ["l3", "io"]\nbandwith = "1 GB/s"'),
     r"traffic\[4\].bandwith: unknown key 'bandwith'; did you mean 'bandwidth'\?"),
    (lambda t: t.replace('[node_scaling.N16]\narea = "5"', '[node_scaling.N16]\narea = "5"\npowr = "2"'),
     r"node_scaling.N16.powr: unknown key 'powr'; did you mean 'power'\?"),
    (lambda t: "x = " + "[" * 500 + "]" * 500 + "\n" + t, r"TOML nested more than 32 levels deep"),
])
def test_system_file_problems_are_errors_never_crashes_or_defaults(change, message):
    text = change(SERVER)
    assert text != SERVER
    with pytest.raises(SystemFileError, match=message):
        loads_system(text, source="s.toml")


MANY_STACKS = """schema = 1
[options]
technologies = ["silicon_interposer"]
[[blocks]]
name = "a"
area = "1 mm^2"
power = "1 W"
[[memory]]
attach = "a"
count = 100000000000
bandwidth = "1 GB/s"
power = "1 W"
"""


def test_system_memory_count_is_bounded():
    """`count = 1e11` stacks made the loader name every stack (an OOM kill); run under a memory limit."""
    import os
    import subprocess
    import sys

    code = ("import resource, sys; resource.setrlimit(resource.RLIMIT_AS, (1536 << 20, 1536 << 20))\n"
            "from codesign.explore.system import loads_system, SystemFileError\n"
            "try:\n    loads_system(sys.stdin.read(), source='m.toml')\nexcept SystemFileError as e:\n    print(e)\n")
    p = subprocess.run([sys.executable, "-c", code], input=MANY_STACKS, capture_output=True, text=True, timeout=120,
                       env={**os.environ, "JAX_PLATFORMS": "cpu"})
    assert p.returncode == 0, p.stderr[-2000:]
    assert "memory[0].count: expected a whole number in [1, 64], got 100000000000 (at most 64 stacks" in p.stdout


def test_load_system_reads_files_safely(tmp_path):
    with pytest.raises(SystemFileError, match="not a regular file"):
        load_system(tmp_path)
    (tmp_path / "latin1.toml").write_bytes(b'schema = 1\nname = "d\xe9bit"\n')
    with pytest.raises(SystemFileError, match="not UTF-8"):
        load_system(tmp_path / "latin1.toml")
    (tmp_path / "loop").symlink_to(tmp_path / "loop")
    with pytest.raises(SystemFileError, match="cannot open the system file"):
        load_system(tmp_path / "loop")


def test_unknown_search_or_technology_is_a_model_error():
    from codesign.errors import ModelError

    s = _two_blocks()
    with pytest.raises(ModelError, match=r"`explore_partitions\(search='best'\)`: choose 'auto', 'exhaustive' or 'heuristic'"):
        screen(s, search="best")
    with pytest.raises(ModelError, match="unknown technology 'glass'"):
        screen(s, technologies=("glass",))


# -- search budget (issue 17; the 40-block run under a memory limit is in test_guards.py) ---------------------

def _random_system(seed, n=6):
    rng = random.Random(seed)
    blocks = [(f"b{i}", rng.choice([40, 90, 160, 250]), rng.choice([10, 30, 60]), f"d{i % 4}") for i in range(n)]
    traffic = [(f"b{i}", f"b{j}", rng.choice([50, 200, 600])) for i in range(n) for j in range(i + 1, n)
               if rng.random() < 0.5]
    return _system(blocks, traffic, volume=3e6)


def test_keeping_few_candidates_changes_nothing_the_later_stages_use():
    """Only the best `max_kept` are kept whole (bounded memory); the ranking head, the screen's cost-power
    Pareto set and the best monolithic candidate are those of the full screen."""
    s = _random_system(3)
    full = screen(s, search="exhaustive")
    few = screen(s, search="exhaustive", max_kept=25)
    assert full.complete and few.complete and few.evaluated == full.evaluated == len(full) > 100
    assert len(few) < len(full) and "the best 25 (`max_kept`)" in few.notes[0]
    assert [c.label for c in few[:25]] == [c.label for c in full[:25]]

    def front(cs):
        out, best = [], float("inf")
        for c in cs:
            if c.feasible and c.power < best - 1e-9:
                out.append(c.label)
                best = c.power
        return out

    assert front(few) == front(full)
    mono = lambda cs: next(c.label for c in cs if len(c.partition) == 1)  # noqa: E731
    assert mono(few) == mono(full)
    a = explore_partitions(s, thermal=False, ppac_top=10)
    b = explore_partitions(s, thermal=False, ppac_top=10, max_kept=25)
    assert a.best.label == b.best.label and a.best.cost == b.best.cost and b.complete


def test_a_candidate_budget_stops_the_search_with_the_best_so_far():
    s = _random_system(4)
    full = screen(s, search="heuristic")
    cut = screen(s, search="heuristic", max_candidates=40)
    assert full.complete and not cut.complete and cut.evaluated == 40 == len(cut)
    assert cut.notes[0].startswith("search budget spent: 40 candidates screened in ")
    assert cut[0].cost >= full[0].cost                     # the best so far, never better than the full search
    r = explore_partitions(s, thermal=False, ppac_top=5, max_candidates=40)
    assert not r.complete and r.notes[0].startswith("search budget spent: 40 candidates screened in ")
    assert "stopped by its budget" in r.method and "note: search budget spent" in r.table()
