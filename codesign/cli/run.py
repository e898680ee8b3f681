"""``codesign run LAYOUT``: the main job (steady, or transient with ``--transient TRACE.csv``).

Steady: :func:`codesign.run_layout` (interconnect, thermal or electro-thermal solve, derating,
PPAC); prints its tables and writes ``<name>.json`` and ``<name>.vtu``. Transient:
:func:`codesign.analyse_transient` driven by a power trace, with or without leakage (the library
decides); writes ``<name>_transient.json`` and the final field as ``<name>_transient_final.vtu``.
"""

from __future__ import annotations

from pathlib import Path

from .._output import OutputError, Outputs
from ._common import add_mesh_flags, add_solver_flags, duration, mesh_controls, solver, write_json


def add_parser(sub) -> None:
    p = sub.add_parser("run", help="solve a layout (steady or transient), print the tables, write JSON and VTU",
                       description="Steady (default): links, the thermal or electro-thermal solve, derating and "
                                   "PPAC (codesign.run_layout); writes <name>.json and <name>.vtu. Transient "
                                   "(--transient TRACE.csv): the response to a power trace, with leakage when the "
                                   "layout has it (codesign.analyse_transient); writes <name>_transient.json and "
                                   "<name>_transient_final.vtu.")
    p.add_argument("layout", help="a .toml file or a shipped layout name")
    p.add_argument("-o", "--output", default=None, help="output folder (default: out/<layout name>)")
    add_job_flags(p)
    t = p.add_argument_group("transient")
    t.add_argument("--transient", metavar="TRACE.csv", default=None,
                   help="solve in time, driven by a power trace: 'time [ms], <chiplet> [W], ...'")
    t.add_argument("--duration", type=duration, default=None, metavar="TIME",
                   help='transient end time, e.g. "10 s" (default: twice the last breakpoint)')
    t.add_argument("--dt", type=duration, default=None, metavar="TIME",
                   help='largest time step, e.g. "20 ms" (default: duration / 400)')
    t.add_argument("--initial", choices=("ambient", "steady"), default="ambient",
                   help="transient start: ambient temperature or the steady state at the t = 0 powers")
    p.set_defaults(execute=execute, parser=p)


def add_job_flags(p) -> None:
    """Flags of the main job, shared by ``run`` and ``report`` (keywords of :func:`codesign.run_layout`)."""
    add_solver_flags(p)
    p.add_argument("--k-of-t", action="store_true", help="temperature-dependent conductivity (Picard)")
    p.add_argument("--phy-heat", action="store_true",
                   help="add each link's PHY power as heat in die-edge strips (when die powers exclude I/O)")
    p.add_argument("--no-derate", action="store_true", help="skip the derating (leakage layouts)")
    acc = p.add_mutually_exclusive_group()
    acc.add_argument("--accuracy", dest="accuracy", action="store_const", const=True, default=None,
                     help="refine the mesh until the discretisation-error estimate (± K) meets the layout's "
                          "mesh.target_error (default 1 %% of the largest rise) or the cell budget "
                          "(docs/accuracy.md); the default when the layout sets mesh.target_error. Without "
                          "it the [mesh] is solved as it stands, with its ± and whether it meets the target")
    acc.add_argument("--no-accuracy", dest="accuracy", action="store_const", const=False,
                     help="solve the layout's [mesh] as it stands, without the error estimate (saves its "
                          "two coarse-grid solves, ~10-30 %% of a solve)")
    add_mesh_flags(p)


def execute(args) -> int:
    from ..layout_io import load_layout

    steady_only = [f for f, on in (("--k-of-t", args.k_of_t), ("--phy-heat", args.phy_heat),
                                   ("--no-derate", args.no_derate)) if on]
    if args.transient and steady_only:
        args.parser.error(f"{', '.join(steady_only)} apply to the steady job, not to --transient")
    from .. import progress

    with progress.stage("load"):
        stack = load_layout(args.layout)
    out = Path(args.output) if args.output else Path("out") / stack.name
    if args.transient:
        return _transient(args, stack, out)
    from concurrent.futures import ThreadPoolExecutor

    from ..mesh import export_vtu

    outputs = Outputs()
    vtu = out / f"{stack.name}.vtu"
    # the field is final once solved: its VTU is written on a thread while the error estimate, derating
    # and PPAC run (the same bytes; a failure to write it is raised at the "write" stage below)
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="codesign-write-vtu") as pool:
        field = []
        run = main_job(args, stack, on_solved=lambda t: field.append(
            pool.submit(export_vtu, t.model, vtu, temperature=t.temperature, outputs=outputs)))
        with progress.stage("write"):
            js = write_json(out / f"{stack.name}.json", run.to_dict(), outputs)
            for f in field:
                try:
                    f.result()
                except OutputError as e:  # raised on the writing thread: name what is kept now (the JSON too)
                    raise OutputError(e.path, e.cause, outputs.written) from None
    print(f"\nwrote {js}, {vtu}")
    return 0


def main_job(args, stack, *, on_solved=None):
    """:func:`codesign.run_layout` with the flags of :func:`add_job_flags`; prints its tables.
    ``on_solved``: as for :func:`codesign.run_layout`."""
    from ..pipeline import run_layout

    run = run_layout(stack, solver=solver(args), phy_heat=args.phy_heat, derating=not args.no_derate,
                     temperature_dependent=args.k_of_t, mesh=mesh_controls(args),
                     accuracy=getattr(args, "accuracy", None), on_solved=on_solved)
    t = run.thermal
    from ..plausibility import warn_results

    warn_results(t)  # result rules (an HBM stack over its limit), printed as "warning: ..." lines
    print(f"{stack.name}: steady state, {t.power_in:.2f} W\n")
    print(t.table())
    if run.coupled is not None:
        print("\nLeakage at the operating point\n")
        print(run.coupled.table())
    if run.derating is not None:
        from ..viz.report import derating_text

        d = run.derating
        print(f"\n{derating_text(d)[0].upper()}{derating_text(d)[1:]}")
        for note in d.notes:
            print(f"  note: {note}")
    if run.links is not None:
        print()
        print(run.links.table())
    if run.ppac is not None:
        print()
        print(run.ppac.table())
    return run


def _transient(args, stack, out: Path) -> int:
    from ..mesh import export_vtu
    from ..model import build
    from ..transient import analyse_transient, read_power_trace

    trace = read_power_trace(args.transient, stack)
    model = build(stack, **(mesh_controls(args) or {}))
    report = analyse_transient(model, trace, duration=args.duration, dt=args.dt, initial=args.initial,
                               solver=solver(args))
    print(f"{stack.name}: transient over {report.times[-1]:.4g} s driven by {args.transient}\n")
    print(report.table())
    outputs = Outputs()
    js = write_json(out / f"{stack.name}_transient.json", report.to_dict(), outputs)
    vtu = out / f"{stack.name}_transient_final.vtu"
    export_vtu(report.model, vtu, temperature=report.temperature, outputs=outputs)
    print(f"\nwrote {js}, {vtu}")
    return 0
