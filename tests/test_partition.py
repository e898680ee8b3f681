"""Partition exploration: set partitions, system parsing, search = exhaustive optimum, the
monolithic/split crossover, Pareto, the CLI entry."""

import random

import pytest

from codesign.partition import (Candidate, SystemFileError, explore, loads_system, pareto, partition_main, screen,
                                set_partitions)

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
        r = explore(s, thermal=False, ppac_top=10)
        return r.best

    small, large = best(25), best(380)
    assert small.feasible and len(small.partition) == 1
    assert large.feasible and len(large.partition) == 2
    assert large.stage == "ppac" and large.ppac is not None


def test_explore_with_thermal_and_infeasible_kept():
    s = _system([("x", 500, 150, "x"), ("y", 500, 150, "y")], [("x", "y", 200)],
                techs=("organic_substrate",), nodes=("N5",))
    r = explore(s, thermal=True, ppac_top=4, thermal_top=1)
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


def test_partition_main(tmp_path, capsys):
    f = tmp_path / "sys.toml"
    f.write_text("""schema = 1
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
    assert partition_main([str(f), "--no-thermal", "--json", str(tmp_path / "out.json")]) == 0
    out = capsys.readouterr().out
    assert "Partition exploration: tiny" in out and "Pareto" in out and "monolithic" in out
    assert (tmp_path / "out.json").exists()
    assert partition_main([str(tmp_path / "missing.toml")]) == 2


@pytest.mark.slow
@pytest.mark.parametrize("name", ["server_cpu", "gpu_soc"])
def test_shipped_examples(name):
    import time
    from pathlib import Path

    from codesign.partition import load_system

    path = Path(__file__).resolve().parents[1] / "examples" / "systems" / f"{name}.toml"
    t = time.perf_counter()
    r = explore(load_system(path))
    assert time.perf_counter() - t < 240
    assert r.best.feasible and r.best.stage == "thermal"
    assert len(r.best.partition) > 1          # both examples favour chiplets


def test_heuristic_matches_exhaustive_on_the_server_example():
    from pathlib import Path

    from codesign.partition import load_system

    s = load_system(Path(__file__).resolve().parents[1] / "examples" / "systems" / "server_cpu.toml")
    ex = screen(s, search="exhaustive")
    he = screen(s, search="heuristic")
    assert len(he) < len(ex)
    assert he[0].cost == pytest.approx(ex[0].cost, rel=1e-12) and he[0].label == ex[0].label
