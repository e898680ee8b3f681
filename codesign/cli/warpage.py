"""``codesign warpage LAYOUT``: package warpage, stresses and bump strain (:func:`codesign.analyse_warpage`).

Prints the warpage (signed coplanarity of the package bottom) at room temperature, at the reflow
peak and in operation, the corner-bump shear strain, the peak stresses per die and layer and the
flags against the layout's limits, and with ``--support board`` (or ``support = "board"`` in the
layout) the board's bow, the corner BGA ball strain and the solder-joint fatigue indicator; ``-o DIR`` also writes ``<name>_warpage.json`` and the warpage
maps (``<name>_warpage.png``).
"""

from __future__ import annotations

from pathlib import Path

from .._output import Outputs
from ._common import add_mesh_flags, mesh_controls, real, write_json


def add_parser(sub) -> None:
    p = sub.add_parser("warpage", help="package warpage at room temperature, reflow and in operation; bump strain",
                       description="Thermo-mechanical solve on the layout's grid: warpage (coplanarity of the package "
                                   "bottom after removing the best-fit plane; + cry / convex, - smile / concave) at "
                                   "room temperature, at the reflow peak and at the thermal operating point, peak "
                                   "stresses per die and layer, corner-bump shear strain, flags against the layout's "
                                   "[warpage] limits.")
    p.add_argument("layout", help="a .toml file or a shipped layout name")
    p.add_argument("-o", "--output", default=None,
                   help="folder for <name>_warpage.json and the warpage map picture (default: print only)")
    p.add_argument("--cases", default="room,reflow,operation", metavar="LIST",
                   help="states to solve, comma separated, from room, reflow, operation (default: all three)")
    p.add_argument("--support", choices=("free", "simply_supported", "board"), default=None,
                   help="override the layout's [warpage] support: free (default), simply_supported, or board (the "
                        "package soldered to the board of [warpage.board], default a 1.6 mm FR-4 board)")
    p.add_argument("--rtol", type=real(minimum=1e-14, inclusive=False, maximum=1.0), default=1e-8,
                   help="relative residual of the elastic solves (default 1e-8)")
    p.add_argument("--accuracy", action="store_true",
                   help="also estimate each warpage's discretisation error (Richardson from the grid coarsened twice: "
                        "two more solves per state; docs/accuracy.md)")
    add_mesh_flags(p)
    p.set_defaults(execute=execute, parser=p)
    p.epilog = ("Mesh: without mesh flags, uniform 2 mm lateral cells plus every layer and die edge "
                "(codesign.warpage.warpage_model); warpage is plate bending of the whole package.")


def execute(args) -> int:
    from ..layout_io import load_layout
    from ..model import build
    from ..warpage import CASES, analyse_warpage, warpage_model

    cases = tuple(c.strip() for c in args.cases.split(",") if c.strip())
    bad = [c for c in cases if c not in CASES]
    if bad or not cases:
        args.parser.error(f"--cases: unknown state(s) {bad or '(none)'}; choose from {', '.join(CASES)}")
    stack = load_layout(args.layout)
    if args.support is not None:
        import dataclasses

        from ..mechanics import WarpageSpec

        spec = stack.warpage or WarpageSpec()
        stack = dataclasses.replace(stack, warpage=dataclasses.replace(
            spec, support=args.support, board=spec.board if args.support == "board" else None))
    mesh = mesh_controls(args) or {}
    if "max_lateral_size" in mesh:
        model = build(stack, **mesh)
    else:  # plate bending of the whole package: coarse uniform lateral cells (codesign.warpage.warpage_model)
        model = warpage_model(stack, **mesh)
    print(f"{stack.name}: {model.summary()}")
    report = analyse_warpage(model, cases=cases, rtol=args.rtol, accuracy=args.accuracy)
    print(report.table())
    if args.output:
        out = Path(args.output)
        outputs = Outputs()
        path = write_json(out / f"{stack.name}_warpage.json", report.to_dict(), outputs)
        print(f"\nwrote {path}")
        try:
            from ..viz.warpage import plot_warpage_maps
        except ImportError as e:  # pragma: no cover - matplotlib is a dependency
            print(f"(no picture: {e})")
        else:
            pic = plot_warpage_maps(report, out / f"{stack.name}_warpage.png", outputs=outputs)
            print(f"wrote {pic}")
    return 0
