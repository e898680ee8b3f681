"""``codesign report LAYOUT -o DIR``: the main job, then a report folder (:func:`codesign.viz.write_report`)."""

from __future__ import annotations

from .. import progress
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

    with progress.stage("load"):
        stack = load_layout(args.layout)
    run = main_job(args, stack)
    pool = pending = None
    if args.warpage:  # warpage on a second thread, solved while the temperature pictures are drawn
        from concurrent.futures import ThreadPoolExecutor

        from solvers import _cache

        pool = ThreadPoolExecutor(1, thread_name_prefix="codesign-warpage")
        counts = _cache.zeroed()
        pending = _Pending(pool.submit(_warpage, run, bool(getattr(args, "accuracy", None)), counts), counts)
    try:
        with progress.stage("report"):
            html = write_report(run, args.output, pictures_3d=not args.no_3d, outputs=Outputs(), warpage=pending)
    finally:
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
    print(f"\nreport: {html} (open it in a browser; pictures, run.json and temperature.vtu beside it)")
    return 0


class _Pending:
    """The warpage thread's future for :func:`codesign.viz.write_report`, whose ``result()`` first says (on a
    terminal) when the report waits for the warpage's programs to compile: a first run on a mesh size
    waits ~15-20 s for them after its pictures, which the report's line would otherwise leave unexplained."""

    def __init__(self, future, counts: dict):
        self.future, self.counts = future, counts

    def result(self, timeout=None):
        if not self.future.done() and self.counts["traced"]:
            progress.compiling("the warpage's programs")
        return self.future.result(timeout)


def _warpage(run, accuracy: bool, counts: dict | None = None):
    """The warpage at room temperature, reflow peak and this run's operating point, on its own coarse
    lateral mesh (plate bending); None, with a warning, when it cannot be computed (no mechanical
    data, a solve that did not converge: the rest is reported). ``accuracy``: its ± too (--accuracy).

    Runs on its own thread: its programs are counted apart (:func:`solvers._cache.counting`, in
    ``counts``, which the main thread reads: :class:`_Pending`), so its ``warpage`` line gives its own
    compile time and the report stage's line does not take it."""
    from solvers import _cache

    from ..errors import CodesignError
    from ..warpage import REPORT_LATERAL_SIZE, analyse_warpage, warpage_model

    counts = _cache.zeroed() if counts is None else counts
    try:
        with _cache.counting(counts), progress.stage("warpage") as stage:
            stage.note("on a second thread, beside the pictures")
            return analyse_warpage(warpage_model(run.stack, lateral_size=REPORT_LATERAL_SIZE),
                                   temperature=run.thermal, accuracy=accuracy)
    except CodesignError as e:
        import warnings

        warnings.warn(f"warpage not computed: {e}", RuntimeWarning, stacklevel=1)
        return None
    finally:
        with _cache.background():
            _cache.add_parallel([counts])
