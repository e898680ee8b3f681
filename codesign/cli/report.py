"""``codesign report LAYOUT -o DIR``: the main job, then a report folder (:func:`codesign.viz.write_report`)."""

from __future__ import annotations

from .._output import Outputs
from .run import add_job_flags, main_job


def add_parser(sub) -> None:
    p = sub.add_parser("report", help="run the main job and write a folder with pictures, JSON, VTU and index.html",
                       description="Run the main job (as `codesign run`) and write a self-contained report folder: "
                                   "index.html with every table, 3D and layer pictures, run.json and temperature.vtu.")
    p.add_argument("layout", help="a .toml file or a shipped layout name")
    p.add_argument("-o", "--output", required=True, help="output folder")
    add_job_flags(p)
    p.add_argument("--no-3d", action="store_true", help="skip the 3D pictures (no OpenGL needed)")
    warp = p.add_mutually_exclusive_group()
    warp.add_argument("--warpage", dest="warpage", action="store_true", default=True,
                      help="solve the package warpage at room temperature, reflow peak and this operating point "
                           "(codesign.analyse_warpage on 4 mm lateral cells; a report section with maps; "
                           "docs/warpage.md) (the default)")
    warp.add_argument("--no-warpage", dest="warpage", action="store_false",
                      help="no warpage solve")
    p.set_defaults(execute=execute)


def execute(args) -> int:
    from ..layout_io import load_layout
    from ..viz.report import write_report

    from .. import progress

    with progress.stage("load"):
        stack = load_layout(args.layout)
    run = main_job(args, stack)
    if args.warpage:  # warpage at room temperature, reflow peak and at this operating point
        import dataclasses

        from ..warpage import REPORT_LATERAL_SIZE, analyse_warpage, warpage_model

        # on its own coarse lateral mesh (plate bending), at this run's operating temperatures
        from ..errors import CodesignError

        with progress.stage("warpage"):
            try:
                run = dataclasses.replace(run, warpage=analyse_warpage(
                    warpage_model(run.stack, lateral_size=REPORT_LATERAL_SIZE), temperature=run.thermal,
                    accuracy=bool(getattr(args, "accuracy", None))))  # --accuracy: the warpage's ± too
            except CodesignError as e:  # no mechanical data, or a solve that did not converge: report the rest
                import warnings

                warnings.warn(f"warpage not computed: {e}", RuntimeWarning, stacklevel=1)
    with progress.stage("report"):
        html = write_report(run, args.output, pictures_3d=not args.no_3d, outputs=Outputs())
    print(f"\nreport: {html} (open it in a browser; pictures, run.json and temperature.vtu beside it)")
    return 0
