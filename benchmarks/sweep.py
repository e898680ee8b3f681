"""Sweep throughput: variants per second on a ~256k-cell stack, by batching method.

The shipped ``demo`` layout (27 x 16 mm, logic + 2 HBM3 on a silicon interposer, 116 W) meshed with
200 um lateral cells and 2 cells per layer: 250,240 cells (136 x 80 x 23). The variants scale the
logic power and the heat-sink coefficient (random draws), so they share one mesh and run through
``codesign.explore.sweep.evaluate_variants`` exactly as a sweep does (field assembly, solve, per-chiplet
junction temperatures). Compilation is excluded: one chunk per method is solved first as a warm-up.

Usage::

    python benchmarks/sweep.py [--variants 16] [--chunk 8] [--methods loop,vmap] [--precision float64]
                               [--append benchmarks/RESULTS.md]

``loop`` is a loop of jitted solves (the CPU default); ``vmap`` vectorises a chunk (the GPU
default). On a GPU the default methods are ``vmap,loop``; the target there is >= 1000 variants/min.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--variants", type=int, default=16, help="timed variants per method")
    ap.add_argument("--chunk", type=int, default=8, help="variants per batch")
    ap.add_argument("--methods", default=None, help="comma list of loop,vmap (default: by backend)")
    ap.add_argument("--precision", choices=("float32", "float64"), default=None,
                    help="default: float32 on GPU, float64 on CPU")
    ap.add_argument("--lateral", default="200 um", help="lateral cell size (200 um: 250k cells)")
    ap.add_argument("--append", default=None, help="append a dated table to this Markdown file")
    args = ap.parse_args(argv)

    import jax

    jax.config.update("jax_enable_x64", True)
    import numpy as np

    from codesign.explore.sweep import evaluate_variants, loads_sweep_spec, sweep_variants

    backend = jax.default_backend()
    precision = args.precision or ("float64" if backend == "cpu" else "float32")
    methods = (args.methods or ("loop,vmap" if backend == "cpu" else "vmap,loop")).split(",")
    n_total = args.variants + args.chunk
    spec = loads_sweep_spec(f"""
layout = "demo"
mode = "random"
samples = {n_total * len(methods)}
seed = 1
precision = "{precision}"
[mesh]
max_lateral_size = "{args.lateral}"
grading = 1.0
cells_per_layer = 2
[[parameters]]
kind = "power"
target = "logic"
scale_range = [0.5, 1.5]
[[parameters]]
kind = "heat_transfer_coefficient"
target = "top"
range = ["1e4 W/m^2/K", "4e4 W/m^2/K"]
""", source="benchmarks/sweep.py")
    variants = sweep_variants(spec)
    rows_out = []
    cells = None
    for mi, method in enumerate(methods):
        vs = variants[mi * n_total:(mi + 1) * n_total]
        t0 = time.perf_counter()
        warm = evaluate_variants(spec, vs[:args.chunk], method=method)  # compile + first chunk
        t_warm = time.perf_counter() - t0
        if cells is None:
            from codesign.explore.sweep import _MODEL_CACHE

            cells = next(iter(_MODEL_CACHE.values())).grid.n_elements
        t0 = time.perf_counter()
        rows = []
        for i in range(args.chunk, n_total, args.chunk):
            rows += evaluate_variants(spec, vs[i:i + args.chunk], method=method)
        dt = time.perf_counter() - t0
        conv = all(r["converged"] for r in rows + warm)
        its = np.mean([r["iterations"] for r in rows])
        rate = len(rows) / dt
        rows_out.append({"method": method, "variants": len(rows), "seconds": dt, "per_s": rate, "per_min": rate * 60,
                         "warmup_s": t_warm, "iterations": its, "converged": conv})
        print(f"{method:5s}: {len(rows)} variants in {dt:.2f} s = {rate:.3f} variants/s ({rate * 60:.1f}/min); "
              f"mean CG iterations {its:.1f}; all converged: {conv}; warm-up chunk {t_warm:.1f} s", flush=True)
    info = {
        "date": datetime.date.today().isoformat(), "backend": backend,
        "device": str(jax.devices()[0].device_kind if hasattr(jax.devices()[0], "device_kind") else jax.devices()[0]),
        "cpus": os.cpu_count(), "machine": platform.machine(), "precision": precision, "cells": cells,
        "chunk": args.chunk, "command": "python benchmarks/sweep.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "results": rows_out,
    }
    if args.append:
        lines = [f"\n### {info['date']}: {info['backend']} ({info['device']}, {info['cpus']} CPUs), {info['precision']}, "
                 f"{cells:,} cells, chunk {args.chunk}\n", f"`{info['command'].strip()}`\n", "",
                 "| method | variants | seconds | variants/s | variants/min | mean CG its | warm-up chunk s |",
                 "|---|---|---|---|---|---|---|"]
        for r in rows_out:
            lines.append(f"| {r['method']} | {r['variants']} | {r['seconds']:.2f} | {r['per_s']:.3f} | "
                         f"{r['per_min']:.1f} | {r['iterations']:.1f} | {r['warmup_s']:.1f} |")
        with open(args.append, "a", encoding="utf-8") as fh:
            fh.write("\n".join(lines) + "\n")
    return info


if __name__ == "__main__":
    main()
