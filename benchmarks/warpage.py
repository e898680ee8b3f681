"""Speed and iteration counts of the thermo-elastic solve (solvers.solve_thermoelastic).

Usage: ``python benchmarks/warpage.py [--substrate MM] [--no-design] [lateral_cell_size_mm ...]``

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
``--substrate 85`` runs the same layout on an 85 x 85 mm package (the issue's size): the layers that
cover the whole package (lid, lid TIM, substrate) widen with it, and everything else (interposer, dies,
HBM, their power blocks) moves by half the growth, so it stays where it was relative to the centre
(:func:`widened`, a copy of the design model's spec made with ``dataclasses.replace``). The last column
is the load average (1 min) when the row's solves ended.
Set ``CODESIGN_COMPILE_CACHE=off`` (solvers._cache.ENV) to measure compilation without the program cache.
"""

import argparse
import dataclasses
import os
import platform
import time

os.environ.setdefault("JAX_PLATFORMS", "cpu")
import jax  # noqa: E402

jax.config.update("jax_enable_x64", True)
import numpy as np  # noqa: E402

import codesign  # noqa: E402
from codesign.warpage import bottom_warpage, stress_free_temperature, void_elements, warpage_model  # noqa: E402
from solvers import _cache, solve_thermoelastic  # noqa: E402

ROOM = 298.15


def widened(stack, size_m):
    """A copy of ``stack`` on a square package of side ``size_m`` [m], its contents kept centred.

    Layers whose extent is the whole package (here lid, TIM and substrate) get the new package;
    every other extent, chiplet and power block moves by half the growth along x and y.
    """
    old = stack.package
    dx, dy = 0.5 * (size_m - old.width), 0.5 * (size_m - old.height)
    package = dataclasses.replace(old, width=size_m, height=size_m)
    shift = lambda r: dataclasses.replace(r, x=r.x + dx, y=r.y + dy)  # noqa: E731
    chip = lambda c: dataclasses.replace(c, rect=shift(c.rect), power_blocks=tuple(  # noqa: E731
        dataclasses.replace(b, rect=shift(b.rect)) for b in c.power_blocks))
    layers = tuple(dataclasses.replace(layer, extent=package if layer.extent == old else shift(layer.extent),
                                       chiplets=tuple(chip(c) for c in layer.chiplets)) for layer in stack.layers)
    return dataclasses.replace(stack, package=package, layers=layers)


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
          f"{int(sol.iterations)}{'' if bool(sol.converged) else ' (not converged)'} | {float(sol.relative_residual):.1e} | {cop * 1e6:+.1f} | "
          f"{os.getloadavg()[0]:.1f} |", flush=True)


def main(sizes_mm, design=True, substrate_mm=None, repeats=1):
    print(f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} CPUs, jax {jax.__version__}, load average {os.getloadavg()[0]:.1f}")
    print("| mesh | cells | DOFs | compile [s] | first call (compile + solve) [s] | solve after compile [s] | "
          "CG iterations | true rel. residual | signed warpage [µm] | load |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    stack = codesign.load_layout("b200_cowos_l")
    where = ""
    if substrate_mm is not None:
        stack = widened(stack, substrate_mm * 1e-3)
        where = f", {substrate_mm:g} mm package"
    if design:
        run(codesign.build(stack), f"design grid (codesign.build){where}", repeats)
    for mm in sizes_mm:
        run(warpage_model(stack, lateral_size=mm * 1e-3), f"uniform {mm:g} mm lateral{where}", repeats)


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("sizes", nargs="*", type=float, help="lateral cell sizes [mm] of extra uniform meshes")
    ap.add_argument("--no-design", action="store_true", help="skip the design model's own grid")
    ap.add_argument("--substrate", type=float, default=None, metavar="MM",
                    help="square package (substrate, lid) side [mm]; default: the layout's 75 mm")
    ap.add_argument("--repeat", type=int, default=1, help="solves after compilation to average")
    a = ap.parse_args()
    main(a.sizes, design=not a.no_design, substrate_mm=a.substrate, repeats=a.repeat)
