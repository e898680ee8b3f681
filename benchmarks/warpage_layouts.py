"""Warpage of every shipped layout in the report's three states, and the report mesh against 2 mm.

Usage: ``python benchmarks/warpage_layouts.py LAYOUT[,LAYOUT...] [--board]``

``--board``: each package soldered to the default board (``support = "board"``: BGA joints and a
1.6 mm FR-4 board appended below it; the reflow state is the package alone), 4 mm cells only;
the table then also gives the board's bow and the critical BGA ball strain.

For each layout: the thermal operating point (``codesign.analyse(codesign.build(stack),
accuracy=False)``), then ``codesign.analyse_warpage(warpage_model(stack, lateral_size=4 mm),
temperature=that)`` twice (the second call is timed: the compiled program is reused), and for
demo, h100_cowos_s and b200_cowos_l also on 2 mm cells. Prints one table row per state: cells,
DOFs, compilation of the elastic program, CG iterations, seconds after compilation, signed
warpage, shape, corner-bump shear strain (layer, distance to the neutral point).
"""
import dataclasses, os, sys, time
os.environ.setdefault("JAX_PLATFORMS", "cpu")
import jax; jax.config.update("jax_enable_x64", True)
import numpy as np
import codesign
from codesign.mechanics import WarpageSpec
from codesign.warpage import analyse_warpage, warpage_model
from solvers import _cache
board = "--board" in sys.argv
args = [a for a in sys.argv[1:] if a != "--board"]
layouts = args[0].split(",") if args else [
    "demo", "h100_cowos_s", "b200_cowos_l", "cpo_switch_51t", "vcache_3d", "ponte_vecchio", "mi300x_3d"]
sizes = {l: [4.0] for l in layouts}
for l in ("demo", "h100_cowos_s", "b200_cowos_l"):
    if l in sizes and not board: sizes[l].append(2.0)
print(time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime()), "load", os.getloadavg()[0], flush=True)
print("| layout | lateral mm | cells | DOFs | compile s | state | CG it | s (after compile) | warpage um | shape | corner bump shear strain (layer, DNP mm) |", flush=True)
for lay in layouts:
    stack = codesign.load_layout(lay)
    if board:
        stack = dataclasses.replace(stack, warpage=dataclasses.replace(stack.warpage or WarpageSpec(), support="board"))
    t = time.perf_counter()
    th = codesign.analyse(codesign.build(stack), accuracy=False)
    print(f"# {lay}: thermal {time.perf_counter()-t:.1f} s", flush=True)
    for mm in sizes[lay]:
        m = warpage_model(stack, lateral_size=mm * 1e-3)
        c0 = _cache.STATS["compile_s"]
        r = analyse_warpage(m, temperature=th)
        comp = _cache.STATS["compile_s"] - c0
        t = time.perf_counter()
        r = analyse_warpage(m, temperature=th)
        tot = time.perf_counter() - t
        for k, c in r.cases.items():
            cb = c.corner_bump
            bump = "-" if cb is None else f"{cb[1]['shear_strain']:.2e} ({cb[0]}, {cb[1]['dnp']*1e3:.1f})"
            extra = ""
            if board:
                ball = c.bump_strain.get("bga_joints")
                extra = (f" board {c.support}: bow " + ("-" if c.board_warpage is None else f"{c.board_warpage*1e6:+.1f} um")
                         + ("" if ball is None else f", BGA {ball['shear_strain']:.2e} (DNP {ball['dnp']*1e3:.1f})") + " |")
            print(f"| {lay} | {mm:g} | {m.grid.shape} = {m.grid.n_elements:,} | {3*m.grid.n_nodes:,} | {comp:.0f} | {k} | "
                  f"{int(c.solution.iterations)} | {c.seconds:.2f} | {c.warpage*1e6:+.1f} | {c.shape} | {bump} |{extra}",
                  flush=True)
        print(f"# {lay} {mm} mm: all three states {tot:.2f} s after compile; load {os.getloadavg()[0]:.1f}", flush=True)
