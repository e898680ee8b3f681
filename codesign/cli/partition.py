"""``codesign partition SYSTEM.toml``: rank chiplet partitions of a system (PPAC, Pareto; docs/system-format.md)."""

from __future__ import annotations

import dataclasses

from ._common import add_solver_flags, solver, write_json


def add_parser(sub) -> None:
    p = sub.add_parser("partition", help="rank chiplet partitions of a system file (PPAC, Pareto)",
                       description="Split a system's blocks into chiplets, choose nodes and a package technology, "
                                   "and rank the candidates by PPAC; the best feasible ones get a thermal solve.")
    p.add_argument("system", help="system TOML file (docs/system-format.md)")
    p.add_argument("--top", type=int, default=12, help="candidates to print")
    p.add_argument("--search", choices=("auto", "exhaustive", "heuristic"), default="auto")
    p.add_argument("--max-exhaustive", type=int, default=8000,
                   help="largest number of combinations searched exhaustively")
    p.add_argument("--ppac-top", type=int, default=60, help="candidates given floorplan + links + PPAC")
    p.add_argument("--thermal-top", type=int, default=6, help="feasible candidates given a thermal solve")
    p.add_argument("--no-thermal", action="store_true", help="skip the thermal solves")
    add_solver_flags(p)
    p.add_argument("--volume", type=float, default=None, help="override the system's volume [units]")
    p.add_argument("--json", default=None, help="write every candidate to this JSON file")
    p.set_defaults(execute=execute)


def execute(args) -> int:
    from ..explore import explore_partitions, load_system

    system = load_system(args.system)
    if args.volume is not None:
        system = dataclasses.replace(system, volume=args.volume)
    res = explore_partitions(system, search=args.search, max_exhaustive=args.max_exhaustive, ppac_top=args.ppac_top,
                  thermal_top=args.thermal_top, thermal=not args.no_thermal, solver=solver(args))
    print(res.table(top=args.top))
    if args.json:
        print(f"wrote {write_json(args.json, res.to_dict())}")
    return 0
