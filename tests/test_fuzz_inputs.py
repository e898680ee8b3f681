"""Seeded fuzzing of the sweep-spec and system-file readers (issue 17, items 1 and 6).

Each case corrupts a shipped or seed file (keys deleted, duplicated or added, values of another
type, random unit strings, huge, negative, NaN and infinite numbers, deep nesting, long and
unicode strings, truncated and garbled text) and must end in a result or in the reader's own
error within a per-case time limit: never another exception, never a hang. A spec that is accepted
must also stream its first variants, with a count within ``max_variants`` and finite values; an
accepted system must hold finite, positive sizes and powers.

The cases run in a subprocess under an address-space limit, so a memory bomb fails the test
instead of taking the machine down. The larger run is ``pytest -m slow``; by hand::

    .venv/bin/python tests/test_fuzz_inputs.py --reader sweep --cases 1000 --seed 1
"""

from __future__ import annotations

import copy
import itertools
import json
import math
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
import tomllib
import traceback
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
#: Cases per reader in the default suite (~10 s each) and in the slow run.
DEFAULT_CASES = 2500
SLOW_CASES = 20000
#: A case running longer than this is a hang [s]; a reader takes milliseconds.
CASE_LIMIT_S = 10.0
#: Address-space limit of the fuzzing subprocess [bytes].
MEMORY_LIMIT = 4 << 30

TINY_LAYOUT = """schema = 1
name = "tiny"
[package]
size = ["12 mm", "8 mm"]
[boundaries.top]
heat_transfer_coefficient = "5e3 W/m^2/K"
ambient = "25 degC"
[boundaries.bottom]
heat_transfer_coefficient = "200 W/m^2/K"
ambient = "25 degC"
[[layers]]
name = "tim"
material = "tim_polymer"
thickness = "50 um"
[[layers]]
name = "dies"
material = "mold"
thickness = "300 um"
  [[layers.chiplets]]
  name = "a"
  kind = "logic"
  material = "silicon_const"
  origin = ["1 mm", "2 mm"]
  size = ["4 mm", "4 mm"]
  power = "10 W"
[[layers]]
name = "interposer"
material = "silicon_const"
thickness = "100 um"
[mesh]
max_lateral_size = "2 mm"
cells_per_layer = 1
max_vertical_size = "1 mm"
"""

EXTRA_SWEEP_SEEDS = [
    """schema = 1
name = "random_tiny"
layout = "tiny.toml"
mode = "random"
samples = 50
seed = 3
chunk_size = 4
max_variants = 100
[mesh]
max_lateral_size = "2 mm"
min_lateral_size = "1 mm"
grading = 1.5
[[parameters]]
kind = "power"
target = "a"
scale_range = [0.5, 1.5]
log = true
[[parameters]]
kind = "ambient"
target = "top"
range = ["20 degC", "45 degC"]
[[parameters]]
kind = "material"
target = "interposer"
values = ["silicon_const", "mold"]
[objectives]
x = "power:a/scale"
y = "tj_C.a"
sense = ["max", "min"]
""",
    """layout = "tiny.toml"
[[parameters]]
kind = "thickness"
target = "tim"
scale_range = [0.5, 2.0]
steps = 3
[[parameters]]
kind = "conductivity"
target = "tim_polymer"
values = ["3 W/m/K", "5 W/m/K"]
[[parameters]]
kind = "heat_transfer_coefficient"
target = "bottom"
scale = [0.5, 1.0]
""",
]

WORDS = ["name", "layout", "mode", "samples", "seed", "kind", "target", "values", "scale", "range", "steps", "log",
         "area", "power", "node", "nodes", "blocks", "memory", "traffic", "between", "bandwidth", "count", "attach",
         "tj_max", "mesh_size", "spacing", "margin", "ambient", "technologies", "max_variants", "max_cells"]
UNITS = ["W", "mW", "kW", "mm", "um", "µm", "nm", "m", "km", "mm^2", "m^2", "K", "degC", "degF", "°C", "W/m/K",
         "W/m^2/K", "GB/s", "TB/s", "Tb/s", "bit/s", "%", "1/K", "s", "J", "USD", "parsec", "W/m^-9", "K^999",
         "m^2^2", "(W", "W)", "W//m", "", " ", "W*", "^", "W/(m*K)", "mm^-1"]
NUMBERS = ["0", "-0", "1", "-1", "1e308", "-1e308", "1e-320", "nan", "inf", "-inf", "1e999", "0x10", "1_000",
           "3.", ".5", "1" + "0" * 400, "9" * 5000, "1e" + "9" * 3000, "+-1", "1.2.3", "١٢"]


def _values(rng: random.Random):
    """A random replacement value: another type, an absurd number, a random quantity, a long or odd string."""
    k = rng.randrange(14)
    if k == 0:
        return rng.choice([0, -1, 1, 2, 3, 10**6, 10**12, 2**63 - 1, -2**63, 10**18])
    if k == 1:
        return rng.choice([0.0, -1.0, 1e308, -1e308, 5e-324, math.nan, math.inf, -math.inf, 0.5, 1e-30])
    if k == 2:
        return rng.choice([True, False])
    if k in (3, 4, 5):
        return f"{rng.choice(NUMBERS)} {rng.choice(UNITS)}"
    if k == 6:
        return rng.choice(["", " ", "x" * rng.choice([201, 5000, 100_000]), " " * 40_000 + "1 W", "日本語", "\u202e",
                           "a\nb", "\x00", "\x7f", "..", "../../etc/passwd", "/dev/zero", "/dev/stdin", "/",
                           "/proc/self/mem", "demo", "tiny.toml", "N5", "N3", "HBM3", "silicon_const", "top", "a",
                           "gpc0", "l3", "io", "a/b", "a:b", "a+b", "grid", "random", "float32"])
    if k == 7:
        return [rng.choice([1, "1 mm", "x", 2.5, True, [], {}]) for _ in range(rng.randrange(0, 5))]
    if k == 8:
        return {rng.choice(WORDS): rng.choice(["1 mm", 2, "x", [1]]) for _ in range(rng.randrange(0, 3))}
    if k == 9:
        depth = rng.choice([2, 10, 30, 40, 100])
        v = rng.choice([[], {}, "1 W"])
        for _ in range(depth):
            v = [v] if rng.random() < 0.5 else {"x": v}
        return v
    if k == 10:
        return [f"{rng.choice(NUMBERS)} {rng.choice(UNITS)}" for _ in range(rng.randrange(0, 4))]
    if k == 11:
        return rng.choice(["W", "K", "degC", "5 W/m/K", "2e4 W/m^2/K", "45 degC", "0 K", "-300 degC", "1e9 degC",
                           "100 W", "1e6 W", "0 W", "25 um", "1 nm", "1e-30 m", "2 km", "1 m", "800 GB/s", "0 GB/s",
                           "1e30 TB/s", "120 mm^2", "1 m^2", "1e-20 mm^2"])
    if k == 12:
        return [rng.uniform(-2, 3) if rng.random() < 0.7 else rng.choice([0, -1, math.nan, 1e300])
                for _ in range(rng.randrange(0, 4))]
    return rng.randrange(-5, 10**rng.randrange(1, 12))


def _paths(node, prefix=()):
    if isinstance(node, dict):
        for key, v in node.items():
            yield prefix + (key,)
            yield from _paths(v, prefix + (key,))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield prefix + (i,)
            yield from _paths(v, prefix + (i,))


def _tables(node, prefix=()):
    if isinstance(node, dict):
        yield node
        for v in node.values():
            yield from _tables(v)
    elif isinstance(node, list):
        for v in node:
            yield from _tables(v)


def _mutate_doc(rng: random.Random, doc: dict) -> None:
    paths = list(_paths(doc))
    op = rng.choice(["delete", "replace", "replace", "replace", "retype", "add_key", "dup_entry", "swap"])
    if op == "add_key":
        tbl = rng.choice(list(_tables(doc)))
        key = rng.choice(WORDS + [k + "s" for k in WORDS] + ["x", "ü", "a.b", ""])
        tbl[key] = _values(rng)
        return
    if not paths:
        return
    path = rng.choice(paths)
    parent = doc
    for k in path[:-1]:
        parent = parent[k]
    key = path[-1]
    if op == "delete":
        del parent[key]
    elif op == "replace":
        parent[key] = _values(rng)
    elif op == "retype":
        v = parent[key]
        parent[key] = rng.choice([[v], {"x": v}, str(v), json.dumps(v) if not isinstance(v, float) else v, 1])
    elif op == "dup_entry" and isinstance(parent, list):
        parent.insert(key, copy.deepcopy(parent[key]))
    elif op == "swap":
        other = rng.choice(paths)
        o_parent = doc
        for k in other[:-1]:
            o_parent = o_parent[k]
        parent[key] = copy.deepcopy(o_parent[other[-1]])


def _mutate_text(rng: random.Random, text: str) -> str:
    lines = text.split("\n")
    op = rng.randrange(8)
    i = rng.randrange(len(lines)) if lines else 0
    if op == 0:
        return text[:rng.randrange(len(text) + 1)]
    if op == 1:
        junk = "".join(rng.choice("[]{}\"'=#.,\\\n \t\x0bé€😀0123456789abc") for _ in range(rng.randrange(1, 12)))
        p = rng.randrange(len(text) + 1)
        return text[:p] + junk + text[p:]
    if op == 2 and lines:
        lines.insert(i, lines[i])                          # a duplicated key or table
    elif op == 3 and lines:
        del lines[i]
    elif op == 4 and lines and "=" in lines[i]:
        k = lines[i].split("=", 1)[0]
        quantity = '"' + rng.choice(NUMBERS) + " " + rng.choice(UNITS) + '"'
        value = rng.choice([quantity, "nan", "inf", "-0", "1e400", "[", "{}", "true", '"""', "0o777",
                            "1979-05-27T07:32:00Z", "[" * 40 + "]" * 40])
        lines[i] = f"{k}= {value}"
    elif op == 5:
        depth = rng.choice([10, 33, 200, 2000])
        lines.insert(rng.randrange(len(lines) + 1), "deep = " + "[" * depth + "]" * depth)
    elif op == 6:
        lines.insert(rng.randrange(len(lines) + 1), rng.choice(["[mesh]", "[[parameters]]", "[objectives]",
                                                                 "[options]", "[package]", "[[blocks]]",
                                                                 "[[memory]]", "[node_scaling.N5]", "[x.y.z]"]))
    else:
        p = rng.randrange(len(text) + 1)
        return text[:p] + rng.choice(["\ufeff", "\u0000", "\ud7ff", "\u2028", "\r", "\\u0000"]) + text[p:]
    return "\n".join(lines)


def mutate(rng: random.Random, text: str) -> str:
    """One to three corruptions of ``text``: on the parsed document (re-serialised) or on the text."""
    import tomli_w

    for _ in range(rng.randrange(1, 4)):
        if rng.random() < 0.65:
            try:
                doc = tomllib.loads(text)
                _mutate_doc(rng, doc)
                text = tomli_w.dumps(doc)
                continue
            except Exception:  # not TOML any more, or not representable: corrupt the text instead
                pass
        text = _mutate_text(rng, text)
    return text


# -- checking one case ---------------------------------------------------------------------------

def check_sweep(text: str, folder: Path) -> str:
    """``"accepted"`` or ``"error"`` (SweepSpecError); anything else propagates. Accepted specs are run
    through the variant stream and checked for absurd values."""
    from codesign.explore.sweep import (SweepSpecError, count_variants, default_results_path, iter_variants,
                                        loads_sweep_spec, variant_key)

    try:
        spec = loads_sweep_spec(text, source="fuzz.toml", folder=folder)
    except SweepSpecError as e:
        assert e.problems and str(e).startswith("fuzz.toml: "), str(e)
        return "error"
    n = count_variants(spec)
    assert 1 <= n <= spec.max_variants, (n, spec.max_variants)
    first = list(itertools.islice(iter_variants(spec), 5))
    assert len(first) == min(n, 5)
    for v in first:
        assert set(v) == {p.label for p in spec.parameters}
        assert all(isinstance(x, str) or (math.isfinite(x) and x > 0) for x in v.values()), v
        assert len(variant_key(spec, v)) == 16
    out = default_results_path(spec)
    assert out.parent == Path(".") and out.name.endswith(".jsonl") and not out.name.startswith("."), out
    return "accepted"


def check_system(text: str, folder: Path) -> str:
    from codesign.explore.system import SystemFileError, loads_system

    try:
        s = loads_system(text, source="fuzz.toml")
    except SystemFileError as e:
        assert e.problems and str(e).startswith("fuzz.toml: "), str(e)
        return "error"
    assert s.blocks and all(isinstance(b.name, str) and b.name for b in s.blocks)
    for b in s.blocks:
        assert math.isfinite(b.area) and b.area > 0 and math.isfinite(b.power) and b.power >= 0, b
    for m in s.memory:
        assert 1 <= m.count <= 64 and all(math.isfinite(x) and x > 0 for x in (*m.size, m.bandwidth)), m
    for x in (s.tj_max, s.mesh_size, s.ambient, s.board_ambient, s.heat_transfer_coefficient, s.volume):
        assert math.isfinite(x) and x > 0
    assert s.tj_max > s.ambient
    return "accepted"


SEEDS = {
    "sweep": lambda: [(ROOT / "examples" / "sweeps" / "demo_sweep.toml").read_text()] + EXTRA_SWEEP_SEEDS,
    "system": lambda: [p.read_text() for p in sorted((ROOT / "examples" / "systems").glob("*.toml"))],
}
CHECKS = {"sweep": check_sweep, "system": check_system}


class _Hang(BaseException):
    """Raised by the per-case alarm (a BaseException, so no reader's handler can swallow it)."""


def _alarm(signum, frame):
    raise _Hang()


def fuzz(reader: str, cases: int, seed: int, limit_s: float = CASE_LIMIT_S) -> dict:
    """Run ``cases`` corrupted inputs through ``reader`` (``"sweep"`` or ``"system"``); the counts and
    the first failures (their input text and traceback)."""
    import jax

    jax.config.update("jax_enable_x64", True)
    rng = random.Random(seed)
    seeds = SEEDS[reader]()
    check = CHECKS[reader]
    counts = {"tried": 0, "error": 0, "accepted": 0, "crash": 0, "absurd": 0, "hang": 0}
    failures = []
    slowest = 0.0
    old = signal.signal(signal.SIGALRM, _alarm)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "tiny.toml").write_text(TINY_LAYOUT)
        try:
            for i in range(cases):
                text = mutate(rng, rng.choice(seeds))
                counts["tried"] += 1
                t0 = time.perf_counter()
                signal.setitimer(signal.ITIMER_REAL, limit_s)
                try:
                    counts[check(text, folder)] += 1
                except _Hang:
                    counts["hang"] += 1
                    failures.append({"case": i, "kind": "hang", "text": text[:3000]})
                except AssertionError:
                    counts["absurd"] += 1
                    failures.append({"case": i, "kind": "absurd", "text": text[:3000],
                                     "traceback": traceback.format_exc()[-2000:]})
                except Exception:
                    counts["crash"] += 1
                    failures.append({"case": i, "kind": "crash", "text": text[:3000],
                                     "traceback": traceback.format_exc()[-2000:]})
                finally:
                    signal.setitimer(signal.ITIMER_REAL, 0)
                slowest = max(slowest, time.perf_counter() - t0)
        finally:
            signal.signal(signal.SIGALRM, old)
    return {"reader": reader, "seed": seed, **counts, "slowest_case_s": round(slowest, 3), "failures": failures[:5]}


def run_isolated(reader: str, cases: int, seed: int, *, memory: int = MEMORY_LIMIT, timeout: float = 900) -> dict:
    """:func:`fuzz` in a fresh interpreter under an address-space limit of ``memory`` bytes."""
    code = ("import json, resource, sys; "
            f"resource.setrlimit(resource.RLIMIT_AS, ({memory}, {memory})); "
            f"sys.path.insert(0, {str(Path(__file__).parent)!r}); "
            "import test_fuzz_inputs as f; "
            f"print('@@' + json.dumps(f.fuzz({reader!r}, {cases}, {seed})))")
    env = {**os.environ, "JAX_PLATFORMS": "cpu"}
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=timeout, cwd=ROOT,
                       env=env, stdin=subprocess.DEVNULL)
    lines = [ln for ln in p.stdout.splitlines() if ln.startswith("@@")]
    assert p.returncode == 0 and lines, f"fuzz process failed (exit {p.returncode}):\n{p.stderr[-3000:]}"
    return json.loads(lines[-1][2:])


def _report(res: dict) -> str:
    head = (f"{res['reader']}: tried {res['tried']}, clean error {res['error']}, accepted {res['accepted']}, "
            f"crash {res['crash']}, absurd {res['absurd']}, hang {res['hang']} (slowest {res['slowest_case_s']} s)")
    return head + "".join(f"\n--- case {f['case']} ({f['kind']}):\n{f['text'][:800]}\n{f.get('traceback', '')}"
                          for f in res["failures"])


@pytest.mark.parametrize("reader", ["sweep", "system"])
def test_corrupted_inputs_end_in_a_result_or_the_readers_error(reader):
    res = run_isolated(reader, DEFAULT_CASES, seed=17)
    print(_report(res))
    assert res["crash"] == res["hang"] == res["absurd"] == 0, _report(res)
    assert res["error"] > DEFAULT_CASES // 3 and res["accepted"] > 0   # the corruptions reach both outcomes


@pytest.mark.slow
@pytest.mark.parametrize("reader", ["sweep", "system"])
def test_corrupted_inputs_large_run(reader):
    res = run_isolated(reader, SLOW_CASES, seed=2024, timeout=1800)
    print(_report(res))
    assert res["tried"] >= 1000
    assert res["crash"] == res["hang"] == res["absurd"] == 0, _report(res)


# -- every field is checked: a wrong type or an unknown key is never ignored or defaulted ------------

def _leaves(doc, prefix=()):
    for path in _paths(doc):
        v = doc
        for k in path:
            v = v[k]
        if not isinstance(v, dict) and not (isinstance(v, list) and v and all(isinstance(x, dict) for x in v)):
            yield path


def _dotted(path) -> str:
    out = ""
    for k in path:
        out += f"[{k}]" if isinstance(k, int) else (f".{k}" if out else str(k))
    return out


def _cases(kind):
    seeds = SEEDS[kind]()
    for text in seeds:
        doc = tomllib.loads(text)
        for path in _leaves(doc):
            if isinstance(path[-1], int):
                continue
            yield text, path


@pytest.mark.parametrize("kind", ["sweep", "system"])
def test_every_field_of_the_seed_files_rejects_a_wrong_type_and_names_it(kind, tmp_path):
    """Each leaf value of the shipped/seed files replaced by a table must be an error at that path, and an
    unknown key in each table an error with a did-you-mean (it used to be ignored, or defaulted)."""
    import tomli_w

    from codesign.explore.sweep import SweepSpecError, loads_sweep_spec
    from codesign.explore.system import SystemFileError, loads_system

    (tmp_path / "tiny.toml").write_text(TINY_LAYOUT)
    load = ((lambda t: loads_sweep_spec(t, source="f.toml", folder=tmp_path)) if kind == "sweep"
            else (lambda t: loads_system(t, source="f.toml")))
    error = SweepSpecError if kind == "sweep" else SystemFileError
    n = 0
    for text, path in _cases(kind):
        doc = tomllib.loads(text)
        parent = doc
        for k in path[:-1]:
            parent = parent[k]
        parent[path[-1]] = {"bogus": 1}
        with pytest.raises(error) as e:
            load(tomli_w.dumps(doc))
        where = _dotted(path)
        assert any(p == where or p.startswith(where + ".") or p.startswith(where + "[") for p, _ in e.value.problems), \
            (where, e.value.problems)
        n += 1
    assert n > 20
    for text in SEEDS[kind]():
        doc = tomllib.loads(text)
        for tbl in list(_tables(doc)):
            if not tbl or tbl is doc.get("node_scaling"):
                continue
            key = next(iter(tbl)) + "x"
            tbl[key] = 1
            with pytest.raises(error, match="did you mean"):
                load(tomli_w.dumps(doc))
            del tbl[key]


if __name__ == "__main__":
    import argparse

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reader", choices=("sweep", "system"), required=True)
    ap.add_argument("--cases", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    print(_report(run_isolated(a.reader, a.cases, a.seed, timeout=3600)))
