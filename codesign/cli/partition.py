"""``codesign partition SYSTEM.toml``: rank chiplet partitions of a system (PPAC, Pareto; docs/system-format.md)."""

from __future__ import annotations

import dataclasses

from ._common import add_solver_flags, duration, real, solver, whole, write_json


def add_parser(sub) -> None:
    p = sub.add_parser("partition", help="rank chiplet partitions of a system file (PPAC, Pareto)",
                       description="Split a system's blocks into chiplets, choose nodes and a package technology, "
                                   "and rank the candidates by PPAC; the best feasible ones get a thermal solve.")
    p.add_argument("system", help="system TOML file (docs/system-format.md)")
    from ..explore.partition import MAX_CANDIDATES, MAX_KEPT, MAX_SEARCH_TIME

    p.add_argument("--top", type=whole(1), default=12, help="candidates to print")
    p.add_argument("--search", choices=("auto", "exhaustive", "heuristic"), default="auto",
                   help="exhaustive: every partition x node x technology; heuristic: greedy merges and local "
                        "moves; auto (default): exhaustive when the count is at most --max-exhaustive")
    p.add_argument("--max-exhaustive", type=whole(0), default=8000,
                   help="largest number of combinations searched exhaustively")
    p.add_argument("--max-candidates", type=whole(1), default=MAX_CANDIDATES, metavar="N",
                   help=f"search budget: candidates screened (default {MAX_CANDIDATES:,}); when spent, the best "
                        "found so far are ranked and a note says so")
    p.add_argument("--max-search-time", type=duration, default=MAX_SEARCH_TIME, metavar="TIME",
                   help=f'search budget: time, e.g. "10 min" (default {MAX_SEARCH_TIME:g} s); when spent, as above')
    p.add_argument("--max-kept", type=whole(1), default=MAX_KEPT, metavar="N",
                   help=f"screened candidates kept for ranking and the JSON (default {MAX_KEPT:,}; bounds memory)")
    p.add_argument("--ppac-top", type=whole(0), default=60, help="candidates given floorplan + links + PPAC")
    p.add_argument("--thermal-top", type=whole(0), default=6, help="feasible candidates given a thermal solve")
    p.add_argument("--no-thermal", action="store_true", help="skip the thermal solves")
    add_solver_flags(p)
    p.add_argument("--volume", type=real(minimum=0.0, inclusive=False), default=None,
                   help="override the system's volume [units]")
    p.add_argument("--json", default=None, metavar="FILE", help="write every kept candidate to this JSON file")
    p.set_defaults(execute=execute)


def execute(args) -> int:
    from ..explore import explore_partitions, load_system

    system = load_system(args.system)
    if args.volume is not None:
        system = dataclasses.replace(system, volume=args.volume)
    res = explore_partitions(system, search=args.search, max_exhaustive=args.max_exhaustive, ppac_top=args.ppac_top,
                             thermal_top=args.thermal_top, thermal=not args.no_thermal, solver=solver(args),
                             max_candidates=args.max_candidates, max_search_time=args.max_search_time,
                             max_kept=args.max_kept)
    print(res.table(top=args.top))
    if args.json:
        print(f"wrote {write_json(args.json, res.to_dict())}")
    return 0
