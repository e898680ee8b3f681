"""Electro-thermal operating point and derating against one steady solve, on the same mesh (issue 13).

For each layout (with leakage data), in one process, after a warm-up pass (so that no figure
contains tracing or compiling):

* ``steady``: one steady solve as a user's first ``analyse(leakage=False)`` does it: the solver
  set-up (``model.init``) plus one linear solve of the dynamic power;
* ``electro-thermal``: the set-up plus :func:`codesign.electrothermal.solve_coupled` (what the
  ``electro-thermal solve`` stage of ``codesign run`` does);
* ``derating``: :func:`codesign.electrothermal.derate` on that set-up (the ``derating`` stage),
  given the operating point just solved when the code accepts it (``nominal=``).

Each figure is the median of ``--repeat`` runs; the ratios are to ``steady``. ``linear`` and
``CG`` count linear solves and CG iterations. The same script runs on older code (it checks
what ``derate`` accepts). ``--before`` also times, in the same runs (so under the same machine
load), the algorithms this replaced: the fixed-point loop with a full linear solve every iteration
(``solve_coupled(..., _inexact=False)``, bit for bit the loop before issue 13) and derating by the
root find on coupled solves (``derate(method="root_find")``, its nominal point solved inside, as
``run_layout`` did).

Examples
--------
    python benchmarks/derating.py h100_cowos_s mi300x_3d --repeat 3
    python benchmarks/derating.py h100_cowos_s --repeat 3 --append --label after
"""

from __future__ import annotations

import argparse
import datetime
import inspect
import os
import platform
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def measure(name: str, repeat: int, before: bool = False) -> dict:
    import jax

    jax.config.update("jax_enable_x64", True)
    import numpy as np

    import codesign as cd
    import solvers
    from codesign.electrothermal import derate, solve_coupled

    model = cd.build(cd.load_layout(name))
    solver = solvers.MultigridCG()
    takes_nominal = "nominal" in inspect.signature(derate).parameters
    rows = {"steady": [], "solve only": [], "electro-thermal": [], "derating": []}
    if before:
        rows.update({"before: electro-thermal": [], "before: derating": []})
    out = {}
    for rep in range(repeat + 1):          # pass 0 warms up (tracing, compiling, caches)
        t0 = time.perf_counter()
        state = model.init(solver=solver)
        jax.block_until_ready(state)
        t1 = time.perf_counter()
        sol = model.solve(solver=solver, state=state)
        np.asarray(sol.temperature)
        t2 = time.perf_counter()
        state = model.init(solver=solver)
        jax.block_until_ready(state)
        t3 = time.perf_counter()
        coupled = solve_coupled(model, solver=solver, state=state)
        t4 = time.perf_counter()
        d = derate(model, solver=solver, state=state, **({"nominal": coupled} if takes_nominal else {}))
        t5 = time.perf_counter()
        if before:
            t6 = time.perf_counter()
            state = model.init(solver=solver)
            jax.block_until_ready(state)
            full = solve_coupled(model, solver=solver, state=state, _inexact=False)
            t7 = time.perf_counter()
            old = derate(model, solver=solver, state=state, method="root_find")
            t8 = time.perf_counter()
        if rep == 0:
            continue
        if before:
            rows["before: electro-thermal"].append(t7 - t6)
            rows["before: derating"].append(t8 - t7)
            out["before: scale"] = old.scale
            out["before: et CG"] = full.report.solver.get("iterations")
            out["max abs dT vs before K"] = float(np.max(np.abs(coupled.report.temperature - full.report.temperature)))
        rows["steady"].append(t2 - t0)
        rows["solve only"].append(t2 - t1)
        rows["electro-thermal"].append(t4 - t2)
        rows["derating"].append(t5 - t4)
        lim = d.at_limit.report
        out |= {"cells": model.n_cells, "steady CG": int(np.asarray(sol.iterations)),
               "et fixed-point": coupled.iterations, "et CG": coupled.report.solver.get("iterations"),
               "et linear": coupled.report.solver.get("linear_solves", coupled.iterations),
               "derating method": getattr(d, "method", "root_find"),
               "derating linear": getattr(d, "linear_solves", None) or f"{d.evaluations} coupled",
               "derating CG": lim.solver.get("iterations") if getattr(d, "method", "") == "superposition" else "-",
               "scale": d.scale, "limiting": d.limiting,
               "Tj at limit C": lim.chiplet(d.limiting).junction - 273.15 if d.limiting in
               {c.name for c in lim.chiplets} else float("nan"),
               "Tj nominal C": max(c.junction for c in coupled.report.chiplets) - 273.15,
               "energy residual": lim.energy_residual}
    med = {k: statistics.median(v) for k, v in rows.items()}
    out.update({f"{k} s": v for k, v in med.items()})

    def ratio(*keys):
        """Median over the runs of each run's own ratio: a run's steady solve and loops are seconds apart, so
        a change of the shared machine's speed between runs does not enter it (as a ratio of medians it did)."""
        return statistics.median(sum(rows[k][i] for k in keys) / rows["steady"][i] for i in range(len(rows["steady"])))

    out["ET / steady"] = ratio("electro-thermal")
    out["derating / steady"] = ratio("derating")
    out["both / steady"] = ratio("electro-thermal", "derating")
    if before:
        out["before: ET / steady"] = ratio("before: electro-thermal")
        out["before: derating / steady"] = ratio("before: derating")
        out["before: both / steady"] = ratio("before: electro-thermal", "before: derating")
    return out


COLUMNS = ["cells", "steady s", "solve only s", "electro-thermal s", "derating s", "ET / steady", "derating / steady",
           "both / steady", "et fixed-point", "et linear", "et CG", "derating method", "derating linear",
           "derating CG", "scale", "limiting", "Tj nominal C", "Tj at limit C", "energy residual"]


BEFORE = ["cells", "steady s", "before: electro-thermal s", "before: derating s", "before: ET / steady",
          "before: derating / steady", "before: both / steady", "before: et CG", "before: scale", "scale",
          "max abs dT vs before K"]


def fmt(v) -> str:
    if isinstance(v, float):
        if abs(v) < 1e-3 and v != 0:
            return f"{v:.1e}"
        return f"{v:.7g}" if abs(v) < 1 and v > 0.5 else f"{v:,.3f}" if abs(v) < 1e4 else f"{v:,.0f}"
    if isinstance(v, int):
        return f"{v:,}"
    return str(v)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("layouts", nargs="*", default=["h100_cowos_s"], help="shipped layout names or .toml files")
    ap.add_argument("--repeat", type=int, default=3, help="measured runs per layout (median; after a warm-up)")
    ap.add_argument("--before", action="store_true",
                    help="also time the replaced algorithms (full-solve loop, root-find derating) in the same runs")
    ap.add_argument("--label", default="", help="a label for the table (e.g. before / after)")
    ap.add_argument("--append", action="store_true", help="append the table to benchmarks/RESULTS.md")
    args = ap.parse_args()
    from e2e import machine_speed  # benchmarks/ is the script's folder, first on sys.path

    speed_before = machine_speed()
    results = [(name, measure(name, args.repeat, args.before)) for name in args.layouts]
    speed = f"{speed_before} before the runs; {machine_speed().removeprefix('machine speed: ')} after"
    tables = []
    for columns in (COLUMNS, BEFORE if args.before else None):
        if columns is None:
            continue
        lines = ["| layout | " + " | ".join(columns) + " |", "|---" * (len(columns) + 1) + "|"]
        for name, r in results:
            lines.append(f"| {name} | " + " | ".join(fmt(r.get(c, "")) for c in columns) + " |")
        tables.append("\n".join(lines))
    table = "\n\n".join(tables)
    print(table)
    print(speed)
    if args.append:
        load = os.getloadavg() if hasattr(os, "getloadavg") else (float("nan"),) * 3
        when = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
        command = "python benchmarks/derating.py " + " ".join(sys.argv[1:])
        with open(ROOT / "benchmarks" / "RESULTS.md", "a") as fh:
            fh.write(f"\n{args.label + ': ' if args.label else ''}`{command}`, {when}, {platform.machine()}, "
                     f"{os.cpu_count()} cores, load average {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f} at the "
                     f"end; {speed}\n\n{table}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
