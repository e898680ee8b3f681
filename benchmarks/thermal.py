"""Benchmark: fast JAX thermal solve vs the scikit-fem + pyamg reference path.

Usage::

    python benchmarks/thermal.py                      # default sizes, table to stdout
    python benchmarks/thermal.py --sizes 65 160 330 --reference-sizes 65 112
    python benchmarks/thermal.py --one jax 160        # one measurement (used internally)

The problem is the realistic 2.5D stack of :mod:`stack` (40 x 40 mm, 9 layers, 340 W,
650x conductivity contrast, 2 um bond layer, top h = 2e4, bottom h = 500 W/m^2/K); ``n``
sets about ``n`` cells along x and y (24 cells through the stack).

Every measurement runs in a fresh subprocess, so ``peak RSS`` (``resource.getrusage``
``ru_maxrss``, the whole process including the Python/JAX runtime, about 0.3 GB) belongs to
that configuration alone.

* ``jax``: :func:`solvers.solve_steady`, float64, ``rtol=1e-8``; the solve is run twice and
  the second (compiled) run is reported: ``setup`` builds the multigrid hierarchy, ``solve``
  is PCG plus the energy balance. The compile time of the first run is reported separately.
* ``reference``: :func:`solvers.reference.assemble` (scikit-fem, ``intorder=3``) then
  ``pyamg.smoothed_aggregation_solver(K).solve(b, tol=1e-8, accel='cg')``; ``setup`` is the
  assembly plus the AMG setup, ``solve`` the AMG-CG solve.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import resource
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def _peak_rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2  # kB on Linux


def run_one(kind: str, n: int) -> dict:
    os.environ.setdefault("JAX_PLATFORMS", "cpu")
    import jax

    jax.config.update("jax_enable_x64", True)
    import numpy as np

    sys.path.insert(0, HERE)
    from stack import make_problem

    import solvers

    grid, fields = make_problem(n)
    out = {"kind": kind, "n": n, "cells": grid.n_elements, "nodes": grid.n_nodes}
    if kind == "jax":
        t0 = time.perf_counter()
        first = solvers.solve_steady(grid, fields)
        out["first_call_s"] = time.perf_counter() - t0
        sol = solvers.solve_steady(grid, fields)
        out.update(iterations=int(sol.iterations), setup_s=sol.timings["setup"], solve_s=sol.timings["solve"],
                   tmax_c=float(np.max(np.asarray(sol.temperature))) - 273.15,
                   residual=float(sol.relative_residual), energy_balance=float(sol.energy_balance),
                   converged=bool(sol.converged))
        del first
    else:
        import pyamg

        from solvers import reference

        t0 = time.perf_counter()
        K, b = reference.assemble(grid, fields)
        t1 = time.perf_counter()
        ml = pyamg.smoothed_aggregation_solver(K)
        t2 = time.perf_counter()
        res: list = []
        x = ml.solve(b, tol=1e-8, accel="cg", residuals=res, maxiter=500)
        t3 = time.perf_counter()
        rel = float(np.linalg.norm(b - K @ x) / np.linalg.norm(b))
        out.update(iterations=len(res) - 1, setup_s=t2 - t0, assembly_s=t1 - t0, solve_s=t3 - t2,
                   tmax_c=float(x.max()) - 273.15, residual=rel, converged=rel < 1e-6)
    out["peak_rss_gb"] = _peak_rss_gb()
    return out


def _subprocess(kind: str, n: int, timeout: float) -> dict:
    cmd = [sys.executable, os.path.abspath(__file__), "--one", kind, str(n)]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([os.path.dirname(HERE), os.environ.get("PYTHONPATH", "")]))
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
    except subprocess.TimeoutExpired:
        return {"kind": kind, "n": n, "error": f"timed out after {timeout:.0f} s"}
    if p.returncode != 0:
        return {"kind": kind, "n": n, "error": p.stderr.strip().splitlines()[-1] if p.stderr else f"rc {p.returncode}"}
    return json.loads(p.stdout.strip().splitlines()[-1])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="*", default=[65, 112, 160, 224, 332])
    ap.add_argument("--reference-sizes", type=int, nargs="*", default=[65, 112])
    ap.add_argument("--timeout", type=float, default=900.0)
    ap.add_argument("--one", nargs=2, metavar=("KIND", "N"))
    args = ap.parse_args(argv)
    if args.one:
        print(json.dumps(run_one(args.one[0], int(args.one[1]))))
        return 0
    rows = []
    for n in args.sizes:
        rows.append(_subprocess("jax", n, args.timeout))
        print(json.dumps(rows[-1]), file=sys.stderr)
        if n in args.reference_sizes:
            rows.append(_subprocess("reference", n, args.timeout))
            print(json.dumps(rows[-1]), file=sys.stderr)
    print(f"# thermal benchmark, {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M UTC}, "
          f"{platform.node()} {platform.machine()}, {os.cpu_count()} cores, load average "
          f"{' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    print(f"# command: python benchmarks/thermal.py {' '.join(sys.argv[1:])}")
    hdr = "| path | cells | iterations | setup s | solve s | total s | first call s | peak RSS GB | Tmax °C | rel. residual |"
    print(hdr)
    print("|" + "---|" * hdr.count("|")[:-1] if False else "|---|---|---|---|---|---|---|---|---|---|")
    ref_total = {r["n"]: r["setup_s"] + r["solve_s"] for r in rows if r.get("kind") == "reference" and "error" not in r}
    for r in rows:
        if "error" in r:
            print(f"| {r['kind']} | n={r['n']} | {r['error']} | | | | | | | |")
            continue
        total = r["setup_s"] + r["solve_s"]
        print(f"| {r['kind']} | {r['cells']:,} | {r['iterations']} | {r['setup_s']:.2f} | {r['solve_s']:.2f} | "
              f"{total:.2f} | {r.get('first_call_s', float('nan')):.1f} | {r['peak_rss_gb']:.2f} | "
              f"{r['tmax_c']:.3f} | {r['residual']:.1e} |")
    for r in rows:
        if r.get("kind") == "jax" and r.get("n") in ref_total and "error" not in r:
            print(f"# speed-up at {r['cells']:,} cells: {ref_total[r['n']] / (r['setup_s'] + r['solve_s']):.1f}x "
                  f"(reference setup+solve / jax setup+solve)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
