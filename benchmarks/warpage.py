"""Speed and iteration counts of the thermo-elastic solve (solvers.solve_thermoelastic).

Usage: ``python benchmarks/warpage.py [lateral_cell_size_mm ...]``

The case is the shipped layout ``b200_cowos_l`` (the issue's 85 mm / 2,800 mm^2 / 8 HBM / lid case; the
layout's package is 75 x 75 mm, its CoWoS-L interposer 2,745 mm^2, 8 HBM3E stacks, a copper lid) on the
design model's own grid,
``codesign.build(codesign.load_layout("b200_cowos_l")).grid``, cooled from the process's
stress-free temperatures to room temperature (298.15 K), free-free, rtol 1e-8. The elastic
fields come from the design model (``Model.elastic_fields`` with
``codesign.warpage.stress_free_temperature``: sourced material data, homogenised bump/TSV/HBM
layers). Each extra argument adds a run on a uniform lateral mesh of that cell size [mm]
(``codesign.warpage.warpage_model``), for the iteration counts over a refinement series.

Prints one table row per mesh: cells, DOFs, compilation (``solvers._cache.STATS``), first call
(compilation + solve), solve after compilation (one more call on the same grid: the compiled
program is reused), CG iterations, true relative residual, signed warpage. Air (open space) is
removed as in ``codesign.warpage`` (``void_elements``). ``--no-design`` skips the design grid.
Set ``CODESIGN_COMPILE_CACHE=off`` (solvers._cache.ENV) to measure compilation without the program cache.
"""

import os
import platform
import sys
import time

os.environ.setdefault("JAX_PLATFORMS", "cpu")
import jax  # noqa: E402

jax.config.update("jax_enable_x64", True)
import numpy as np  # noqa: E402

import codesign  # noqa: E402
from codesign.warpage import bottom_warpage, stress_free_temperature, void_elements, warpage_model  # noqa: E402
from solvers import _cache, solve_thermoelastic  # noqa: E402

ROOM = 298.15


def run(model, label, repeats=1):
    g = model.grid
    t0, _, _ = stress_free_temperature(model)
    fields = model.elastic_fields(temperature=ROOM, stress_free=t0)
    void = void_elements(model)
    c0 = _cache.STATS["compile_s"]
    t = time.perf_counter()
    sol = solve_thermoelastic(g, fields, rtol=1e-8, maxiter=1000, throw=False, void=void)
    first = time.perf_counter() - t
    compile_s = _cache.STATS["compile_s"] - c0
    times = []
    for _ in range(max(repeats, 1)):
        t = time.perf_counter()
        sol = solve_thermoelastic(g, fields, rtol=1e-8, maxiter=1000, throw=False, void=void)
        times.append(time.perf_counter() - t)
    cop = float(bottom_warpage(model, sol.bottom_face_w())[0])
    print(f"| {label} | {g.shape} = {g.n_elements:,} | {3 * g.n_nodes:,} | {compile_s:.1f} | {first:.1f} | {np.mean(times):.2f} | "
          f"{int(sol.iterations)}{'' if bool(sol.converged) else ' (not converged)'} | {float(sol.relative_residual):.1e} | {cop * 1e6:+.1f} |", flush=True)


def main(sizes_mm, design=True):
    print(f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} CPUs, jax {jax.__version__}, load average {os.getloadavg()[0]:.1f}")
    print("| mesh | cells | DOFs | compile [s] | first call (compile + solve) [s] | solve after compile [s] | "
          "CG iterations | true rel. residual | signed warpage [µm] |")
    print("|---|---|---|---|---|---|---|---|---|")
    stack = codesign.load_layout("b200_cowos_l")
    if design:
        run(codesign.build(stack), "design grid (codesign.build)")
    for mm in sizes_mm:
        run(warpage_model(stack, lateral_size=mm * 1e-3), f"uniform {mm:g} mm lateral")


if __name__ == "__main__":
    main([float(a) for a in sys.argv[1:] if not a.startswith("--")], design="--no-design" not in sys.argv)
