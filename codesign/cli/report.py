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
    from ..viz.report import ReportPictures, write_report

    from .. import progress

    # the pictures are drawn in a background thread: it imports pyvista and matplotlib while JAX solves,
    # then renders the thermal pictures while the warpage is solved (write_report waits for them)
    pictures = ReportPictures(pictures_3d=not args.no_3d)
    try:
        outputs = Outputs()
        with progress.stage("load"):
            stack = load_layout(args.layout)
        warm = _WarpagePrograms(stack) if args.warpage else None
        run = main_job(args, stack)
        pictures.render(run.thermal, args.output, outputs)
        if args.warpage:  # warpage at room temperature, reflow peak and at this operating point
            import dataclasses

            from ..warpage import REPORT_LATERAL_SIZE, analyse_warpage, warpage_model

            # on its own coarse lateral mesh (plate bending), at this run's operating temperatures
            from ..errors import CodesignError

            warm.wait()  # its programs are ready: the warpage stage loads and compiles none
            with progress.stage("warpage"):
                try:
                    run = dataclasses.replace(run, warpage=analyse_warpage(
                        warpage_model(run.stack, lateral_size=REPORT_LATERAL_SIZE), temperature=run.thermal,
                        accuracy=bool(getattr(args, "accuracy", None))))  # --accuracy: the warpage's ± too
                except CodesignError as e:  # no mechanical data, or a solve that did not converge: report the rest
                    import warnings

                    warnings.warn(f"warpage not computed: {e}", RuntimeWarning, stacklevel=1)
        with progress.stage("report"):
            html = write_report(run, args.output, pictures_3d=not args.no_3d, outputs=outputs, pictures=pictures)
    finally:
        pictures.close()  # stops its thread (an error left pictures unfinished: they end first)
    print(f"\nreport: {html} (open it in a browser; pictures, run.json and temperature.vtu beside it)")
    return 0


class _WarpagePrograms:
    """Get the programs of the report's warpage solve ready in a background thread, beside the
    thermal solve: one CG iteration of the room state on the warpage model (its answer is not
    used) loads or compiles the elastic solve and the strain and stress programs, and the
    interpolation of the thermal field onto the warpage grid is imported. The warpage stage then
    runs them (same programs: same grid, options and tolerance; its answers do not change)."""

    def __init__(self, stack) -> None:
        import threading

        self._thread = threading.Thread(target=self._run, args=(stack,), name="codesign-warpage-programs",
                                        daemon=True)
        self._thread.start()

    @staticmethod
    def _run(stack) -> None:
        try:
            import scipy.interpolate  # noqa: F401 - the operating field is interpolated onto the warpage grid

            from solvers import _cache

            from ..mechanics import WarpageSpec
            from ..warpage import REPORT_LATERAL_SIZE, solve_state, stress_free_temperature, warpage_model

            with _cache.background():  # its compile time is not the main thread's stages'
                model = warpage_model(stack, lateral_size=REPORT_LATERAL_SIZE)
                spec = stack.warpage or WarpageSpec()
                t0, _, _ = stress_free_temperature(model, spec)
                sol = solve_state(model, None, spec.room_temperature, t0, support=spec.support, throw=False,
                                  maxiter=1)
                sol.von_mises()
                sol.strain()
        except Exception:  # noqa: BLE001 - the warpage stage solves (and reports) on its own
            pass

    def wait(self) -> None:
        """Wait for the thread (the main thread then finds the programs in memory, loaded once)."""
        self._thread.join()
