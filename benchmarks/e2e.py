"""End-to-end latency, stage by stage, of the command line and of the Python API (issue 13).

Each measurement is a whole fresh process, as a user meets it:

* ``cli``: ``codesign run LAYOUT`` (or ``report``); the stages come from its progress lines on
  stderr (load, links, mesh, compile, solve / electro-thermal / derating, PPAC, write or report);
  ``start`` is the rest of the wall time (interpreter start-up, imports, argument parsing).
  ``report``'s warpage runs on a thread of its own beside the pictures: its ``warpage`` and
  ``warpage compile`` columns are part of the ``report`` column's wall time, not added to it.
* ``api``: a fresh interpreter that imports :mod:`codesign`, loads, builds and runs
  :func:`codesign.analyse` (as a notebook kernel would): import, load, mesh, compile, solve.

``cold`` runs start from an empty cache folder (``CODESIGN_COMPILE_CACHE`` pointed at a new
temporary folder); ``warm`` runs follow a first run of the same job with that folder. Every
figure is the median of ``--repeat`` runs. The table is printed and, with ``--append``, added to
``benchmarks/RESULTS.md`` with date, machine and command.

Examples
--------
    python benchmarks/e2e.py                          # every shipped layout, CLI and API, warm and cold
    python benchmarks/e2e.py demo --modes warm --repeat 3 --append
    python benchmarks/e2e.py demo --extra="--lateral-size=0.125 mm" --label demo-655k
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import re
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
STAGE = re.compile(r"^codesign: (?P<what>[\w\- ]+?) (?P<s>[0-9.]+) s")
#: Stages that run on a thread of their own beside the next one (``codesign report``'s warpage, beside the
#: pictures): shown in their own columns, not subtracted from the wall time with the others.
BESIDE = ("warpage",)
API = """
import time, json, sys
t0 = time.perf_counter()
import codesign as cd
t_import_cd = time.perf_counter() - t0
import jax
jax.config.update("jax_enable_x64", True)
from solvers import _cache
t1 = time.perf_counter()
stack = cd.load_layout(sys.argv[1])
t2 = time.perf_counter()
model = cd.build(stack, **json.loads(sys.argv[2]))
t3 = time.perf_counter()
c0 = _cache.STATS["compile_s"]
report = cd.analyse(model)
t4 = time.perf_counter()
compile_s = _cache.STATS["compile_s"] - c0
print(json.dumps({"import codesign": t_import_cd, "import": t1 - t0, "load": t2 - t1, "mesh": t3 - t2,
                  "compile": compile_s, "solve": t4 - t3 - compile_s, "cells": model.n_cells,
                  "traced": _cache.STATS["traced"], "loaded": _cache.STATS["loaded"]}))
"""


def run_cli(command: str, layout: str, extra: list[str], env: dict) -> dict:
    with tempfile.TemporaryDirectory() as out:
        t0 = time.perf_counter()
        p = subprocess.run([sys.executable, "-m", "codesign.cli", command, layout, "-o", out, *extra],
                           env=env, capture_output=True, text=True)
        wall = time.perf_counter() - t0
    if p.returncode != 0:
        raise SystemExit(f"codesign {command} {layout} failed:\n{p.stderr[-2000:]}")
    stages, beside, last = {}, {}, None
    for line in p.stderr.splitlines():
        m = STAGE.match(line)
        if m:
            what, s = m["what"], float(m["s"])
            if what in BESIDE:  # on its own thread, during the next stage: not part of the wall time's sum
                beside[what] = beside.get(what, 0.0) + s
                if last is not None and last[0] == "compile":  # its own compile line, just before its line
                    stages["compile"] -= last[1]
                    beside[what + " compile"] = last[1]
            else:
                stages[what] = stages.get(what, 0.0) + s
            last = (what, s)
    cells = re.search(r"mesh ([0-9,]+) cells", p.stdout)
    stages["start"] = wall - sum(stages.values())
    stages.update(beside)
    stages["total"] = wall
    stages["cells"] = int(cells[1].replace(",", "")) if cells else 0
    return stages


def run_api(layout: str, mesh: dict, env: dict) -> dict:
    t0 = time.perf_counter()
    p = subprocess.run([sys.executable, "-c", API, layout, json.dumps(mesh)], env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if p.returncode != 0:
        raise SystemExit(f"API run of {layout} failed:\n{p.stderr[-2000:]}")
    out = json.loads(p.stdout.splitlines()[-1])
    out["total"] = wall
    return out


def machine_speed() -> str:
    """Seconds of two fixed workloads (best of 3), to compare tables taken at different hours.

    The shared machine's speed changes by up to ~2x within an hour with nothing else running (this
    loop took 0.081-0.168 s between 03:20 and 04:05 UTC on 2026-12-01; the same steady solve 0.35 s at
    one hour and 0.56 s at another): a Python loop (as start-up and tracing are) and a NumPy 7-point
    stencil sweep (memory-bound, as the solves are). Also used by ``benchmarks/derating.py``.
    Lower is faster; tables are comparable where these agree.
    """
    import numpy as np

    def best(fn):
        times = []
        for _ in range(3):
            t0 = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t0)
        return min(times)

    a = np.random.default_rng(0).random((96, 128, 128))

    def stencil():
        for _ in range(10):
            6.0 * a[1:-1, 1:-1, 1:-1] - a[:-2, 1:-1, 1:-1] - a[2:, 1:-1, 1:-1] - a[1:-1, :-2, 1:-1] \
                - a[1:-1, 2:, 1:-1] - a[1:-1, 1:-1, :-2] - a[1:-1, 1:-1, 2:]

    loop = best(lambda: sum(i * i for i in range(2_000_000)))
    return f"machine speed: Python loop {loop:.3f} s, NumPy stencil {best(stencil):.3f} s"


def median_of(runs: list[dict]) -> dict:
    keys = {k for r in runs for k in r}
    return {k: statistics.median(r.get(k, 0.0) for r in runs) for k in keys}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("layouts", nargs="*", help="shipped layout names or files (default: every shipped layout)")
    ap.add_argument("--modes", default="warm,cold", help="comma-separated: warm, cold")
    ap.add_argument("--what", default="run,api", help="comma-separated: run, report, api")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--extra", action="append", default=[],
                    help="extra CLI flag (e.g. --extra='--lateral-size=0.5 mm'); the API gets it as a build keyword "
                         "only for --max-lateral-size/--lateral-size")
    ap.add_argument("--label", default=None, help="row label instead of the layout name")
    ap.add_argument("--append", action="store_true", help="append the table to benchmarks/RESULTS.md")
    args = ap.parse_args(argv)
    import codesign

    layouts = args.layouts or list(codesign.shipped_layouts())
    mesh = {}
    for flag in args.extra:
        name, _, value = flag.partition("=")
        if name in ("--lateral-size", "--max-lateral-size"):
            v = codesign.parse_quantity(value, "length") if hasattr(codesign, "parse_quantity") else float(value)
            mesh = {"max_lateral_size": v, "min_lateral_size": v} if name == "--lateral-size" else {"max_lateral_size": v}
    speed_before = machine_speed()
    print(f"{speed_before} (before)", file=sys.stderr)
    rows = []
    base_env = dict(os.environ, JAX_PLATFORMS=os.environ.get("JAX_PLATFORMS", "cpu"))
    base_env.pop("CODESIGN_QUIET", None)
    # as users run: Python keeps the modules' bytecode (pip precompiles it at install). With
    # PYTHONDONTWRITEBYTECODE set (some sandboxes set it) a module without a .pyc is compiled from
    # source at every start: ~0.1 s more "start" for the command line's modules
    base_env.pop("PYTHONDONTWRITEBYTECODE", None)
    for layout in layouts:
        for what in args.what.split(","):
            for mode in args.modes.split(","):
                runs = []
                for _ in range(args.repeat):
                    with tempfile.TemporaryDirectory() as cache:
                        env = dict(base_env, CODESIGN_COMPILE_CACHE=cache)
                        job = (lambda: run_api(layout, mesh, env)) if what == "api" else \
                            (lambda: run_cli(what, layout, args.extra, env))
                        if mode == "warm":
                            job()  # fills the cache
                        runs.append(job())
                r = median_of(runs)
                rows.append((args.label or layout, what, mode, r))
                print(f"{args.label or layout:14s} {what:6s} {mode:4s} total {r['total']:6.2f} s", file=sys.stderr)
    cols = ["start", "import", "load", "links", "mesh", "compile", "solve", "electro-thermal solve", "derating",
            "PPAC", "write", "report", "warpage compile", "warpage"]
    used = [c for c in cols if any(c in r for *_, r in rows)]
    header = ["case", "cells", "job", "caches", *used, "total s"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for name, what, mode, r in rows:
        cells = int(r.get("cells", 0))
        lines.append("| " + " | ".join([name, f"{cells:,}", "codesign " + what if what != "api" else "API analyse",
                                         mode, *(f"{r[c]:.2f}" if c in r else "" for c in used),
                                         f"**{r['total']:.2f}**"]) + " |")
    table = "\n".join(lines)
    speed = f"{speed_before} before the runs; {machine_speed().removeprefix('machine speed: ')} after"
    print(table)
    print(speed)
    if args.append:
        stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
        load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
        machine = f"{platform.machine()}, {os.cpu_count()} cores, load average {load:.1f} at the end"
        command = "python benchmarks/e2e.py " + " ".join(shlex.quote(a) for a in (argv or sys.argv[1:]))
        with open(ROOT / "benchmarks" / "RESULTS.md", "a") as fh:
            fh.write(f"\n#### e2e latency, {stamp}; {machine}\n\n`{command}` (median of {args.repeat}; "
                     f"seconds; {speed})\n\n{table}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
