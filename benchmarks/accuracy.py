"""Benchmark: discretisation-error estimates of the shipped layouts and what they cost.

Usage::

    python benchmarks/accuracy.py                       # every shipped layout
    python benchmarks/accuracy.py demo h100_cowos_s     # some
    python benchmarks/accuracy.py demo --reference-bisect 2   # reference 4x finer per axis (64x cells)

For each layout:

* the mesh that meets the default target (:func:`codesign.analyse` on the stack: refined until
  the largest chiplet ± is within 1 % of the largest rise or the cell budget), its cells and the
  wall time of the whole refine-and-estimate job (cold: compilation included);
* warm timings on that mesh: one steady (or electro-thermal) solve, and the estimate
  (:func:`codesign.accuracy.estimate`: the two coarse solves), and their ratio (the cost);
* the hottest chiplet's Tj with its ±, and the difference to a solve on the same mesh bisected
  ``--reference-bisect`` more times (default 1: 2x finer per axis, 8x cells; ``2`` is 4x finer,
  64x cells) together with the true error that difference implies
  (``|Tj - Tj_ref| * r^p / (r^p - 1)`` with the observed order, ``r`` the refinement factor);
* the Tj on the layout's own ``[mesh]`` as it stands (the pre-accuracy default) and the change.

One process for all layouts: compiled programs are shared where node counts agree. Prints one
table row per layout as it finishes (markdown), then the whole table.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

LAYOUTS = ("demo", "h100_cowos_s", "vcache_3d", "cpo_switch_51t", "b200_cowos_l", "ponte_vecchio", "mi300x_3d")

HEADER = ("| layout | cells (met) | target K | met | largest ± K | hottest | Tj °C ± K | order | "
          "Tj - Tj_ref K (ref cells) | implied true error K | est / true | solve s (warm) | estimate s (warm) | "
          "cost | job s (cold) | Tj on layout [mesh] °C (change K) |")


def measure(name: str, reference_bisect: int) -> str:
    import jax

    jax.config.update("jax_enable_x64", True)
    import codesign as cd
    from codesign import accuracy as acc

    stack = cd.load_layout(name)
    t0 = time.perf_counter()
    report = cd.analyse(stack)
    job = time.perf_counter() - t0
    model, a = report.model, report.accuracy
    # warm timings on the mesh that met the target
    t0 = time.perf_counter()
    warm = cd.analyse(model, accuracy=False)
    t_solve = time.perf_counter() - t0
    t0 = time.perf_counter()
    acc.estimate(model, warm.params, warm.temperature, source=acc.solved_source(warm),
                 temperature_dependent=False)
    t_est = time.perf_counter() - t0
    hot = report.hottest
    e = a.get("junction", hot.name)
    # reference: the same base grid bisected reference_bisect more times along every axis
    bis = tuple(b + reference_bisect for b in model.geometry.bisect)
    ref_model = cd.build(acc.base_stack(stack, 1), bisect=bis, max_cells=10**9)
    ref = cd.analyse(ref_model, accuracy=False)
    q_ref = acc.quantities(model, ref_model.grid, ref.temperature)[("junction", hot.name)]
    diff = hot.junction - q_ref
    p = min(e.order, 2.0) if e.order is not None and e.trusted else 1.0
    r = 2.0 ** reference_bisect
    true = abs(diff) * r ** p / (r ** p - 1)
    plain = cd.analyse(stack, accuracy=False).chiplet(hot.name).junction
    flag = "" if e.trusted else "!"
    return (f"| {name} | {model.grid.n_elements:,} | {a.target:.3g} | {'yes' if a.met else 'NO: ' + a.stop} | "
            f"{a.chiplet_error:.3g} | {hot.name} | {hot.junction - 273.15:.2f} ± {e.error:.3g}{flag} | "
            f"{'-' if e.order is None else f'{e.order:.2f}'} | {diff:+.3g} ({ref_model.grid.n_elements:,}) | "
            f"{true:.3g} | {e.error / true if true > 0 else float('nan'):.2f} | {t_solve:.2f} | {t_est:.2f} | "
            f"{100 * t_est / t_solve:.0f} % | {job:.0f} | {plain - 273.15:.2f} ({hot.junction - plain:+.3g}) |")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("layouts", nargs="*", default=list(LAYOUTS))
    ap.add_argument("--reference-bisect", type=int, default=1, choices=(1, 2))
    args = ap.parse_args(argv)
    print(f"# benchmarks/accuracy.py, {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC, "
          f"{platform.node()} ({os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}), "
          f"`python benchmarks/accuracy.py {' '.join(sys.argv[1:])}`\n")
    rows = []
    print(HEADER)
    print("|" + "---|" * HEADER.count(" | ") + "---|")
    for name in args.layouts:
        rows.append(measure(name, args.reference_bisect))
        print(rows[-1], flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
