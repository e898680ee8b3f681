"""Seeded fuzzing of the readers of layouts, power maps, power traces and unit strings (issue 17).

Every case must end in a result or the reader's own input error (an ``InputFileError`` or a
``UnitError``) within :data:`READ_LIMIT_S`, never in another exception, a hang or a silently wrong
value; a layout that loads must also build (a clean ``ModelError`` is allowed) and put its power on
the grid. The cases run in a child process under a memory limit (``RLIMIT_AS``) and a wall-clock
timeout, so that a failure cannot take the machine down. The default suite runs a small sample of
each reader; ``pytest -m slow`` runs at least 1000 variants per reader and prints the counts.

By hand (one reader, 1000 variants, seed 1; ``--start`` replays one case)::

    python tests/test_fuzz_layouts.py layouts --n 1000 --seed 1
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import os
import random
import re
import signal
import string
import subprocess
import sys
import tempfile
import time
import tomllib
import warnings
from pathlib import Path

import pytest

READERS = ("layouts", "power_maps", "traces", "units")
READ_LIMIT_S = 2.0  # a read (load, parse) slower than this is a hang
BUILD_LIMIT_S = 10.0  # a build of an accepted layout slower than this is a hang
HARD_STOP_S = 20.0  # a case still running after this is interrupted (SIGALRM)
BUILD_CELLS = 1_500_000  # accepted layouts estimated above this are not built (time and memory)
MEMORY_LIMIT = 6 << 30  # RLIMIT_AS of the child process [bytes]
DEFAULT_N = {"layouts": 200, "power_maps": 150, "traces": 200, "units": 2000}
SLOW_N = {"layouts": 1200, "power_maps": 1000, "traces": 1000, "units": 5000}


# -- random inputs --------------------------------------------------------------------------------

_UNIT_TOKENS = ["m", "mm", "um", "µm", "nm", "cm", "mil", "W", "kW", "mW", "MW", "J", "MJ", "pJ", "K", "s", "ms",
                "h", "min", "Hz", "GHz", "bit", "b", "B", "GB", "Tb", "USD", "$", "%", "1", "g", "kg", "GT/s",
                "degC", "°C", "C", "V", "parsec", "Wb", "kk", "mmm", "T", "P"]
_OPS = ["*", "/", "^", "(", ")", "·", " ", "^-", "^2", "^3", "^-1", "^999", "^" + "9" * 30, "^-0", "^+2", "**"]
_NUMBERS = ["1", "0", "-1", "2.5", ".5", "5.", "1e3", "-3e-4", "1e308", "1e309", "1e-320", "1e99999", "-0", "+7",
            "1" * 80, "0." + "0" * 60 + "1", "1e" + "9" * 40, "nan", "inf", "-inf", "0x10", "1_000", "١٢", "", "e5",
            "1e", "..1", "1.2.3", "\u00a0" + "3"]
_NASTY = ["", " ", "\x00", "a\x00b", "\u202e", "\u200b", "x" * 300, "é", "日本", "🔥", "\n", "\t", "/", ":", "..",
          "../../etc/passwd", "/etc/passwd", "silicon", "hbm", "logic", "under_above", "\ufeff", "\r", "'", '"',
          "\\", "a" * 100_001]


def _quantity_text(rng: random.Random) -> str:
    """A random quantity string: mostly plausible, sometimes pathological."""
    unit = "".join(rng.choice(_UNIT_TOKENS + _OPS) for _ in range(rng.choice([0, 1, 1, 2, 3, 5, 12])))
    if rng.random() < 0.2:
        unit = rng.choice(["W/m/K", "W/m^2/K", "MJ/m^3/K", "1/K", "GB/s", "pJ/bit", "W/(m*K)", "(((m)))",
                           "(" * 60 + "m" + ")" * 60, "m" + "/m" * 40, "1/K^2", "K^-9", "K^-10"])
    text = rng.choice(_NUMBERS) + rng.choice(["", " ", " ", "  ", "\t"]) + unit
    pad = rng.choice([0] * 12 + [1, 3, 40_000, 150_000])
    where = rng.random()
    if pad and where < 0.4:
        text = " " * pad + text + " " * pad
    elif pad and where < 0.7:
        text = text.replace(" ", " " * pad, 1) if " " in text else text + " " * pad + "x"
    elif pad:
        text = text + " " * pad + rng.choice(["", "m", "x"])
    if rng.random() < 0.05:
        text = rng.choice(_NASTY) + text
    return text


def _value(rng: random.Random, depth: int = 0):
    """A random TOML value of any type."""
    r = rng.random()
    if r < 0.35:
        return _quantity_text(rng)
    if r < 0.5:
        return rng.choice([0, 1, -1, 2**63 - 1, -(2**63), 10**30, 3, 64, 65, 10**4000])
    if r < 0.62:
        return rng.choice([0.0, -0.0, 1.5, 1e308, -1e308, 5e-324, math.nan, math.inf, -math.inf, 0.5, 3.0])
    if r < 0.68:
        return rng.choice([True, False])
    if r < 0.8:
        return rng.choice(_NASTY) if rng.random() < 0.7 else "".join(
            chr(rng.randrange(0, 0x3000)) for _ in range(rng.randrange(1, 30)))
    if r < 0.9 and depth < 3:
        return [_value(rng, depth + 1) for _ in range(rng.choice([0, 1, 2, 2, 3, 5]))]
    if depth < 3:
        keys = ["name", "kind", "pitch", "x", "material", "size", "origin", "power", "thickness"]
        return {rng.choice(keys): _value(rng, depth + 1) for _ in range(rng.randrange(0, 4))}
    return "1 mm"


def _nested(rng: random.Random):
    d = rng.choice([5, 31, 33, 100, 500])
    v = "1 mm"
    for _ in range(d):
        v = [v] if rng.random() < 0.5 else {"x": v}
    return v


def _typo(rng: random.Random, key: str) -> str:
    if not key:
        return "x"
    i = rng.randrange(len(key))
    op = rng.random()
    if op < 0.3:
        return key[:i] + key[i + 1:] or "x"
    if op < 0.6:
        return key[:i] + rng.choice(string.ascii_lowercase) + key[i:]
    if op < 0.8 and len(key) > 1:
        j = min(i + 1, len(key) - 1)
        return key[:i] + key[j] + key[i] + key[j + 1:]
    return key + rng.choice(["s", "_", "2", " "])


def _positions(node, prefix=()):
    """Every (path) to a value in a parsed TOML document."""
    if isinstance(node, dict):
        for k, v in node.items():
            yield prefix + (k,)
            yield from _positions(v, prefix + (k,))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield prefix + (i,)
            yield from _positions(v, prefix + (i,))


def _rescale(rng: random.Random, doc: dict) -> None:
    """Give one or two quantities of the document the same unit and any magnitude (most still load)."""
    quantities = []
    for path in _positions(doc):
        parent = doc
        for k in path[:-1]:
            parent = parent[k]
        v = parent[path[-1]]
        number, _, unit = v.partition(" ") if isinstance(v, str) else ("", "", "")
        if unit and re.fullmatch(r"[0-9.]+(e[+-]?[0-9]+)?", number):
            quantities.append((parent, path[-1], float(number), unit))
    for parent, key, number, unit in rng.sample(quantities, min(len(quantities), rng.choice([1, 1, 2]))):
        parent[key] = f"{number * 10 ** rng.uniform(-6, 6):.6g} {unit}"


def _mutate_doc(rng: random.Random, doc: dict, folder: Path) -> None:
    if rng.random() < 0.3:
        return _rescale(rng, doc)
    for _ in range(rng.choice([1, 1, 2, 3])):
        positions = list(_positions(doc))
        if not positions:
            return
        path = rng.choice(positions)
        parent = doc
        for k in path[:-1]:
            parent = parent[k]
        key = path[-1]
        op = rng.random()
        v = parent[key]
        number, _, unit = v.partition(" ") if isinstance(v, str) else ("", "", "")
        if unit and re.fullmatch(r"[0-9.eE+-]+", number) and rng.random() < 0.35:  # same unit, any magnitude
            try:
                parent[key] = f"{float(number) * 10 ** rng.uniform(-9, 9):.6g} {unit}"
                continue
            except ValueError:
                pass
        if op < 0.15:
            del parent[key]
        elif op < 0.4:
            parent[key] = _value(rng)
        elif op < 0.5:  # swap the type
            v = parent[key]
            parent[key] = rng.choice([[v], {"x": v}, str(v)[:200], 1, 1.5, True])
        elif op < 0.6 and isinstance(key, str):  # a key typo
            parent[_typo(rng, key)] = parent.pop(key)
        elif op < 0.67 and isinstance(parent[key], dict):  # an unknown key in a nested table
            parent[key][_typo(rng, rng.choice(list(parent[key]) or ["x"]))] = _value(rng)
        elif op < 0.74 and isinstance(parent, list):  # duplicate an array element (names, overlaps)
            parent.insert(key, copy.deepcopy(parent[key]))
        elif op < 0.78:
            parent[key] = _nested(rng)
        elif op < 0.84:
            parent[key] = rng.choice(["x" * rng.choice([101, 10_001, 100_000]), "\x00", "a/b", " padded ",
                                      "\u0301\u0301", "日本語" * 50, "\ud7ff", "tab\there"])
        elif op < 0.9 and isinstance(parent, dict) and "name" in parent and "size" in parent:  # a power map
            name = rng.choice(["map.csv", "map.csv", "../outside.csv", "sub/../map.csv", "missing.csv", "/etc/hostname"])
            parent["power_map"] = name
            (folder / "map.csv").write_text(_map_text(rng, small=True))
        else:
            v = parent[key]
            if isinstance(v, str):
                parent[key] = _quantity_text(rng) if rng.random() < 0.7 else v * rng.choice([2, 50])
            else:
                parent[key] = _value(rng)


def _mutate_text(rng: random.Random, text: str) -> str:
    lines = text.splitlines(keepends=True)
    op = rng.random()
    if op < 0.2:
        return text[:rng.randrange(len(text) + 1)]
    if op < 0.35:
        i = rng.randrange(len(text) + 1)
        junk = "".join(rng.choice(string.printable + "\x00\u200b日[]{}=\"'") for _ in range(rng.randrange(1, 20)))
        return text[:i] + junk + text[i:]
    if op < 0.5 and lines:  # duplicate a line: duplicate keys, tables
        i = rng.randrange(len(lines))
        return "".join(lines[:i + 1] + lines[i:])
    if op < 0.6 and lines:
        i = rng.randrange(len(lines))
        return "".join(lines[:i] + lines[i + 1:])
    if op < 0.7:
        depth = rng.choice([31, 33, 500, 5000])
        form = rng.random()
        if form < 0.4:
            deep = "x = " + "[" * depth + "]" * depth + "\n"
        elif form < 0.7:
            deep = "x = " + "{a = " * depth + "1" + "}" * depth + "\n"
        else:
            deep = "a" + ".a" * depth + " = 1\n"
        return deep + text if rng.random() < 0.5 else text + "\n" + deep
    if op < 0.85:  # pad or replace a quoted value
        quoted = [i for i, ch in enumerate(text) if ch == '"']
        if len(quoted) >= 2:
            k = rng.randrange(len(quoted) - 1)
            a, b = quoted[k], quoted[k + 1]
            inner = _quantity_text(rng).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
            inner = "".join(ch if ch.isprintable() or ch == " " else f"\\u{ord(ch):04x}" for ch in inner
                            if ord(ch) < 0xD800 or ord(ch) > 0xDFFF)
            return text[:a + 1] + inner + text[b:]
        return text
    if op < 0.93:  # a number with many digits or a huge exponent
        return text + rng.choice(["\nzz = " + "9" * 5000 + "\n", "\nzz = 1e99999\n", "\nzz = -0x" + "f" * 100 + "\n",
                                  "\n[mesh]\nmax_lateral_size = \"1 nm\"\n"])
    return text.replace("\n", rng.choice(["\r\n", "\r", "\n\n", "\n# \x7f\n"]))


def _map_text(rng: random.Random, small: bool = False) -> str:
    rows = rng.choice([0, 1, 2, 3, 8] if small else [0, 1, 2, 5, 20, 64, 129, 200, 600])
    cols = rng.choice([1, 2, 3, 8] if small else [1, 2, 7, 64, 129, 300, 20_000])
    pool = ["0", "1", "0.25", "2.5e-3", "100", "1e4", "5e4", "1e5", "1e300", "1e400", "-1", "-0", "nan", "inf",
            "abc", "", " 1 ", "1_000", "0x10", "١", "1" * 60, '"1"', "1;2", "1e", "+.5", "\u00a01", "1e-320"]
    weights = [30, 20, 10, 10, 3] + [1] * (len(pool) - 5)
    out = []
    if rng.random() < 0.3:
        out.append("# watts per cell" + rng.choice(["", "\x7f", ",x,y", " " * 1000]))
    if rows * cols > 100_000:  # a big grid: one random row repeated (generating every cell is slow)
        row = ",".join(rng.choices(pool[:5], k=cols))
        return "\n".join([row] * rows) + "\n"
    for _ in range(rows):
        n = cols if rng.random() < 0.97 else max(1, cols + rng.choice([-1, 1]))
        cells = rng.choices(pool[:5], k=n) if rng.random() < 0.8 else rng.choices(pool, weights=weights, k=n)
        out.append(",".join(cells) + rng.choice(["", "", "", ",", " "]))
        if rng.random() < 0.05:
            out.append(rng.choice(["", "#", "   ", ","]))
    text = "\n".join(out) + rng.choice(["\n", "", "\r\n"])
    r = rng.random()
    if r < 0.05:
        text = "\ufeff" + text
    elif r < 0.08:
        text = '"' + "1" * 140_000 + '"\n' + text
    elif r < 0.1:
        text = text.replace(",", "\t")
    return text


# -- running one case -----------------------------------------------------------------------------

_WARNED: list = []  # one entry per read that gave a result with a PlausibilityWarning


class _HardStop(Exception):
    pass


def _alarm(signum, frame):
    raise _HardStop(f"still running after {HARD_STOP_S} s")


def _timed(call):
    """``(value, error, seconds, unexpected warnings)`` of ``call()`` under a hard stop."""
    try:
        from codesign.layout_io import PlausibilityWarning
    except ImportError:  # an older codesign (a before/after comparison)
        PlausibilityWarning = ()  # noqa: N806

    signal.signal(signal.SIGALRM, _alarm)
    signal.setitimer(signal.ITIMER_REAL, HARD_STOP_S)
    t0 = time.perf_counter()
    value = error = None
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            value = call()
        except (KeyboardInterrupt, SystemExit):
            raise
        except BaseException as e:  # noqa: BLE001 - classifying every outcome is the point
            error = e
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
    seconds = time.perf_counter() - t0
    plausibility = [w for w in caught if PlausibilityWarning and issubclass(w.category, PlausibilityWarning)]
    other = [f"{w.category.__name__}: {w.message}" for w in caught if w not in plausibility]
    if plausibility and error is None:
        _WARNED.append(1)
    return value, error, seconds, other


def _outcome(value, error, seconds, other, clean, limit, check=None) -> tuple[str, str]:
    if isinstance(error, _HardStop) or seconds > limit:
        return "hang", f"{seconds:.2f} s ({type(error).__name__ if error else 'result'})"
    if error is not None:
        if isinstance(error, clean):
            return "clean", ""
        return "crash", f"{type(error).__name__}: {str(error)[:300]}"
    if other:
        return "crash", "unexpected warning: " + other[0][:300]
    if check is not None:
        problem = check(value)
        if problem:
            return "crash", "silently wrong: " + problem
    return "accepted", ""


def _layout_case(rng: random.Random, folder: Path, texts: dict[str, str]) -> tuple[str, str]:
    import codesign as cd
    from codesign.errors import InputFileError, ModelError
    from codesign.mesh import estimate_cells
    from codesign.units import UnitError

    text = texts[rng.choice(sorted(texts))]
    if rng.random() < 0.7:
        doc = tomllib.loads(text)
        try:
            import tomli_w

            _mutate_doc(rng, doc, folder)
            text = tomli_w.dumps(doc)
        except (TypeError, ValueError, RecursionError):  # not representable as TOML (or too deep to copy or write)
            text = _mutate_text(rng, text)
    else:
        text = _mutate_text(rng, text)
    path = folder / "layout.toml"
    if rng.random() < 0.7:
        try:
            path.write_text(text, encoding="utf-8", errors="surrogatepass")
        except OSError:
            return "clean", ""

        def call():
            return cd.load_layout(path)
    else:
        def call():
            return cd.loads_layout(text, source="fuzz.toml", folder=folder)
    result = _timed(call)
    out = _outcome(*result, (InputFileError, UnitError), READ_LIMIT_S)
    if out[0] != "accepted":
        return out
    stack = result[0]
    if estimate_cells(stack) > BUILD_CELLS:
        return out

    def build():
        model = cd.build(stack)
        return model, model.fields().total_power(model.grid)

    def check(result):
        _, on_grid = result
        if not math.isclose(on_grid, stack.total_power, rel_tol=1e-9, abs_tol=1e-9):
            return f"power on the grid {on_grid!r} W, layout {stack.total_power!r} W"
        return ""

    kind, detail = _outcome(*_timed(build), (ModelError,), BUILD_LIMIT_S, check)
    if kind == "clean":  # a clean ModelError from build: the layout was accepted
        return "accepted", ""
    return (kind, "build: " + detail) if kind != "accepted" else out


def _power_map_case(rng: random.Random, folder: Path, texts: dict[str, str]) -> tuple[str, str]:
    import codesign as cd
    from codesign.errors import InputFileError
    from codesign.units import UnitError

    doc = tomllib.loads(texts["demo"])
    sub = folder / "lay"
    sub.mkdir()
    name = "map.csv"
    r = rng.random()
    target = sub / name
    if r < 0.75:
        data = _map_text(rng).encode("utf-8")
        if rng.random() < 0.05:
            i = rng.randrange(len(data) + 1)
            data = data[:i] + rng.choice([b"\x00", b"\xff\xfe", b"\xc3", b"\r"]) + data[i:]
        target.write_bytes(data)
    else:
        (folder / "outside.csv").write_text("1,2\n3,4\n")
        fs = rng.choice(["symlink_out", "hardlink_out", "dir", "loop", "missing", "fifo", "dotdot", "absolute",
                         "long", "nul", "newline", "symlink_in", "empty", "huge"])
        if fs == "symlink_out":
            target.symlink_to(folder / "outside.csv")
        elif fs == "hardlink_out":
            os.link(folder / "outside.csv", target)
        elif fs == "dir":
            target.mkdir()
        elif fs == "loop":
            target.symlink_to(target)
        elif fs == "fifo":
            os.mkfifo(target)
        elif fs == "dotdot":
            name = "../outside.csv"
        elif fs == "absolute":
            name = str(folder / "outside.csv")
        elif fs == "long":
            name = "m" * 300 + ".csv"
        elif fs == "nul":
            name = "map\x00.csv"
        elif fs == "newline":
            name = "map\n.csv"
        elif fs == "symlink_in":
            (sub / "real.csv").write_text("1,2\n3,4\n")
            target.symlink_to(sub / "real.csv")
        elif fs == "empty":
            target.write_text("")
        elif fs == "huge":
            target.write_text("1," * 700_000 + "1\n")
    chip = doc["layers"][2]["chiplets"][0]
    chip["power_map"] = name
    import tomli_w

    (sub / "layout.toml").write_text(tomli_w.dumps(doc))

    def call():
        return cd.load_layout(sub / "layout.toml")

    def check(stack):
        pm = stack.chiplet("logic").power_map
        if not all(math.isfinite(v) and v >= 0 for row in pm.values for v in row):
            return "a non-finite or negative cell"
        return ""

    return _outcome(*_timed(call), (InputFileError, UnitError), READ_LIMIT_S, check)


def _trace_case(rng: random.Random, folder: Path, texts: dict[str, str], stack) -> tuple[str, str]:
    from codesign.errors import InputFileError
    from codesign.transient import read_power_trace
    from codesign.units import UnitError

    names = ["logic", "hbm0", "hbm1"]
    cols = rng.sample(names, rng.randrange(0, 4))
    if rng.random() < 0.1:
        cols.append(rng.choice(names + ["logik", "x" * 300, "lo\x00gic", "", "time"]))
    units = ["W", "mW", "kW", "W", "K", "W^999", "", "MW", "1", "(W)", "W" + " " * 50_000]
    tunits = ["s", "ms", "us", "s", "min", "h", "K", "", "s^2", "ms" + " " * 50_000]
    header = [f"time [{rng.choice(tunits)}]" if rng.random() < 0.93 else rng.choice(["time", "t [s]", "time[s]",
                                                                                     "time [s", " time [ s ] "])]
    header += [f"{c} [{rng.choice(units)}]" if rng.random() < 0.95 else rng.choice([c, f"{c} [W] x", f"[W]"])
               for c in cols]
    lines = [", ".join(header)]
    n_rows = rng.choice([0, 1, 2, 5, 50, 300] + ([100_001] if rng.random() < 0.01 else []))
    t = 0.0
    pool = ["0", "1", "2.5", "100", "1e4", "1e5", "1e300", "-1", "nan", "inf", "", "x", "1e400", "1" * 60]
    for _ in range(n_rows):
        t += rng.choice([1.0, 1.0, 0.5, 0.0, -1.0]) if rng.random() < 0.1 else 1.0
        cells = [repr(t) if rng.random() < 0.97 else rng.choice(pool)]
        cells += [rng.choice(pool[:6]) if rng.random() < 0.95 else rng.choice(pool) for _ in cols]
        if rng.random() < 0.02:
            cells.append("1")
        lines.append(", ".join(cells))
    text = "\n".join(lines) + "\n"
    if rng.random() < 0.15:
        text = _mutate_text(rng, text)
    path = folder / "trace.csv"
    r = rng.random()
    if r < 0.03:
        path.symlink_to(path)
    elif r < 0.05:
        path.mkdir()
    elif r < 0.07:
        path.write_bytes(text.encode("utf-8", "surrogatepass")[:50] + b"\xff\x00")
    else:
        path.write_text(text, encoding="utf-8", errors="surrogatepass")

    def call():
        return read_power_trace(path, stack)

    def check(result):
        times, names_, powers = result
        if powers.shape != (len(times), len(names_)):
            return f"shape {powers.shape} for {len(times)} times and {len(names_)} names"
        if not (all(math.isfinite(v) and v >= 0 for v in times) and all(b > a for a, b in zip(times, times[1:]))):
            return "times not finite, non-negative and increasing"
        if not all(math.isfinite(v) and 0 <= v <= 1e5 for v in powers.flat):
            return "a power not finite in 0..100 kW"
        return ""

    return _outcome(*_timed(call), (InputFileError, UnitError), READ_LIMIT_S, check)


def _unit_case(rng: random.Random) -> tuple[str, str]:
    from codesign.units import DIMENSIONS, UnitError, parse_quantity

    try:
        from codesign.units import si_converter
    except ImportError:  # an older codesign (a before/after comparison)
        si_converter = None

    kind = rng.choice(sorted(DIMENSIONS))
    r = rng.random()
    if r < 0.3:  # a valid example of the kind, rescaled, re-prefixed or padded
        number, _, unit = DIMENSIONS[kind][1].split('"')[1].partition(" ")
        prefix = rng.choice(["", "", "k", "m", "u", "G", "p", "T"]) if unit[:1] in "WJsmgbB" else ""
        value = (f"{float(number) * 10 ** rng.uniform(-30, 30):.6g}" + rng.choice([" ", "", "   "]) + prefix + unit
                 + rng.choice(["", "", "^2", "/s", " "]))
        if rng.random() < 0.1:
            value = " " * rng.choice([10, 40_000]) + value + " " * rng.choice([0, 40_000])
    elif r < 0.85:
        value = _quantity_text(rng)
    elif r < 0.95:
        value = _value(rng)
    else:
        value = "".join(chr(rng.randrange(0, 0x2FFF)) for _ in range(rng.randrange(0, 60)))

    def check(v):
        return "" if isinstance(v, float) and math.isfinite(v) else f"{v!r} is not a finite float"

    if isinstance(value, str) and rng.random() < 0.15 and si_converter is not None:
        unit = value.strip().partition(" ")[2] or value
        number = rng.choice([1.0, 0.0, -2.5, 1e300, 1e-300])
        return _outcome(*_timed(lambda: si_converter(unit, kind)(number)), (UnitError,), READ_LIMIT_S, check)
    return _outcome(*_timed(lambda: parse_quantity(value, kind)), (UnitError,), READ_LIMIT_S, check)


def fuzz(reader: str, n: int, seed: int, start: int = 0) -> dict:
    """Run ``n`` seeded cases of one reader; the counts and the first failures."""
    import codesign as cd
    from codesign.layout_io import shipped_layout_path, shipped_layouts

    texts = {name: shipped_layout_path(name).read_text(encoding="utf-8") for name in shipped_layouts()}
    stack = cd.load_layout("demo") if reader == "traces" else None
    counts = {"tried": 0, "clean": 0, "accepted": 0, "warned": 0, "crash": 0, "hang": 0}
    failures = []
    slowest, slowest_case = 0.0, start
    for i in range(start, start + n):
        rng = random.Random(f"{reader}-{seed}-{i}")
        t0 = time.perf_counter()
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            if reader == "layouts":
                kind, detail = _layout_case(rng, folder, texts)
            elif reader == "power_maps":
                kind, detail = _power_map_case(rng, folder, texts)
            elif reader == "traces":
                kind, detail = _trace_case(rng, folder, texts, stack)
            else:
                kind, detail = _unit_case(rng)
        took = time.perf_counter() - t0
        if took > slowest:
            slowest, slowest_case = took, i
        counts["tried"] += 1
        counts[kind] += 1
        if kind == "accepted" and _WARNED:
            counts["warned"] += 1
        _WARNED.clear()
        if kind in ("crash", "hang") and len(failures) < 20:
            failures.append({"case": i, "outcome": kind, "detail": detail,
                             "replay": f"python tests/test_fuzz_layouts.py {reader} --n 1 --seed {seed} --start {i}"})
    return {"reader": reader, "seed": seed, **counts, "slowest_case_s": round(slowest, 3),
            "slowest_case": slowest_case, "failures": failures}


# -- pytest ---------------------------------------------------------------------------------------

def _limit_memory():  # runs in the child before exec
    import resource

    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))


def _run_child(sizes: dict, seed: int, timeout: float) -> dict:
    args = [sys.executable, __file__, *sizes, "--sizes", json.dumps(sizes), "--seed", str(seed), "--json"]
    env = {**os.environ, "JAX_PLATFORMS": "cpu", "CODESIGN_COMPILE_CACHE": "off"}
    proc = subprocess.run(args, capture_output=True, text=True, timeout=timeout, env=env, preexec_fn=_limit_memory,
                          cwd=Path(__file__).resolve().parent.parent)
    assert proc.returncode == 0, f"fuzz child failed (exit {proc.returncode}):\n{proc.stderr[-3000:]}"
    return {r["reader"]: r for r in json.loads(proc.stdout.strip().splitlines()[-1])}


def _table(results: dict) -> str:
    head = (f"{'reader':12s} {'tried':>6s} {'clean error':>12s} {'accepted':>9s} {'(warned)':>9s} {'crashes':>8s} "
            f"{'hangs':>6s} {'slowest s':>10s}")
    rows = [f"{r:12s} {v['tried']:6d} {v['clean']:12d} {v['accepted']:9d} {v.get('warned', 0):9d} {v['crash']:8d} "
            f"{v['hang']:6d} {v['slowest_case_s']:10.3f}" for r, v in results.items()]
    return "\n".join([head, *rows])


@pytest.fixture(scope="module")
def default_run():
    return _run_child(DEFAULT_N, seed=17, timeout=240)


@pytest.mark.parametrize("reader", READERS)
def test_fuzzed_inputs_end_in_a_result_or_an_input_error(default_run, reader):
    r = default_run[reader]
    assert r["tried"] == DEFAULT_N[reader]
    assert r["crash"] == 0 and r["hang"] == 0, json.dumps(r["failures"], indent=1, ensure_ascii=True)
    assert r["clean"] > 0 and r["accepted"] > 0  # the sample reaches both outcomes


@pytest.mark.slow
def test_fuzz_at_least_1000_variants_per_reader():
    results = _run_child(SLOW_N, seed=2024, timeout=3600)
    print("\n" + _table(results))
    for reader, r in results.items():
        assert r["tried"] >= 1000
        assert r["crash"] == 0 and r["hang"] == 0, json.dumps(r["failures"], indent=1, ensure_ascii=True)


# -- command line ---------------------------------------------------------------------------------

def main(argv=None) -> int:
    p = argparse.ArgumentParser(description="Seeded fuzzing of the codesign readers (see the module docstring).")
    p.add_argument("readers", nargs="+", choices=READERS)
    p.add_argument("--n", type=int, default=None, help="cases per reader (default: the default suite's sizes)")
    p.add_argument("--sizes", default=None, help="JSON {reader: cases}")
    p.add_argument("--seed", type=int, default=17)
    p.add_argument("--start", type=int, default=0, help="first case index (replay one case with --n 1)")
    p.add_argument("--json", action="store_true", help="print one JSON line (for the test)")
    args = p.parse_args(argv)
    # run as a script, tests/ is on sys.path first, and tests/solvers would shadow the solvers package
    here = Path(__file__).resolve().parent
    sys.path[:] = [q for q in sys.path if Path(q or ".").resolve() != here]
    os.environ.setdefault("JAX_PLATFORMS", "cpu")
    import jax

    jax.config.update("jax_enable_x64", True)
    sizes = json.loads(args.sizes) if args.sizes else {}
    results = {}
    for reader in args.readers:
        n = args.n or sizes.get(reader) or DEFAULT_N[reader]
        t0 = time.perf_counter()
        results[reader] = fuzz(reader, n, args.seed, args.start)
        results[reader]["seconds"] = round(time.perf_counter() - t0, 1)
        if not args.json:
            print(json.dumps(results[reader], indent=1, ensure_ascii=True), file=sys.stderr)
    if args.json:
        print(json.dumps(list(results.values()), ensure_ascii=True))
    else:
        print(_table(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
