"""The ``codesign`` command line: a thin layer over the public API.

Each subcommand calls into :mod:`codesign`; physics stays in the layout file, flags mirror
keyword arguments. ``main(argv) -> int`` returns the exit status (0 ok, 1 bad input or a
failed solve, 2 usage).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

__all__ = ["main"]


def _fmt_len(v: float) -> str:
    return f"{v * 1e3:.4g} mm" if v >= 1e-3 else f"{v * 1e6:.4g} um"


def _table(rows: list[list[str]], header: list[str]) -> str:
    widths = [max(len(str(r[i])) for r in [header] + rows) for i in range(len(header))]
    line = lambda r: "  ".join(str(c).ljust(w) for c, w in zip(r, widths)).rstrip()  # noqa: E731
    return "\n".join([line(header), line(["-" * w for w in widths])] + [line(r) for r in rows])


def _cmd_layouts(args) -> int:
    from .layout_io import load_layout, shipped_layout_path, shipped_layouts

    rows = []
    for name in shipped_layouts():
        try:
            s = load_layout(name)
            rows.append([name, f"{s.total_power:.0f} W", f"{len(s.chiplets)}", s.description])
        except Exception as e:  # a broken shipped layout must not hide the others
            rows.append([name, "-", "-", f"INVALID: {str(e).splitlines()[0]}"])
    print(_table(rows, ["layout", "power", "chiplets", "description"]))
    print(f"\n(files in {shipped_layout_path('demo').parent})")
    return 0


def _load(arg: str):
    from .layout_io import LayoutError, load_layout

    try:
        return load_layout(arg)
    except LayoutError as e:
        print(f"LayoutError: {e}", file=sys.stderr)
        return None


def check_summary(stack, meshed) -> str:
    """The text `codesign check` prints for a valid layout."""
    out = [f"{stack.name}: {stack.description}", f"  file: {stack.source}",
           f"  package: {_fmt_len(stack.package.width)} x {_fmt_len(stack.package.height)}, "
           f"height {_fmt_len(stack.height)}, total power {stack.total_power:.2f} W", ""]
    rows = []
    for layer in stack.layers:
        ic = ""
        if layer.interconnect is not None:
            i = layer.interconnect
            ic = f"{i.kind} {i.diameter * 1e6:.3g}/{i.pitch * 1e6:.3g} um ({layer.interconnect_region})"
        rows.append([layer.name, _fmt_len(layer.thickness), layer.material, ic,
                     ", ".join(c.name for c in layer.chiplets)])
    out += [_table(rows, ["layer (top to bottom)", "thickness", "fill", "interconnect", "chiplets"]), ""]
    rows = []
    for c in stack.chiplets:
        rows.append([c.name, c.kind, stack.layer_of(c.name).name, f"{_fmt_len(c.rect.width)} x {_fmt_len(c.rect.height)}",
                     f"{c.total_power:.2f} W", f"{c.tj_max - 273.15:.0f} degC" if c.tj_max else "-",
                     "yes" if c.leakage else "-"])
    out += [_table(rows, ["chiplet", "kind", "layer", "size", "power", "Tj,max", "leakage"]), ""]
    derived = [m for m in stack.materials if ":" in m.name]
    if derived:
        rows = [[m.name, f"{m.kx:.4g}", f"{m.ky:.4g}", f"{m.kz:.4g}"] for m in derived if m.name.count(":") == 1]
        out += [_table(rows, ["homogenised material", "kx W/m/K", "ky", "kz"]), ""]
    if stack.links:
        rows = [[l.name, " <-> ".join(l.endpoints), f"{l.bandwidth / 8e9:.4g} GB/s", l.phy] for l in stack.links]
        out += [_table(rows, ["link", "between", "bandwidth", "phy"]), ""]
    b = stack
    out.append(f"  boundaries: top {b.top.kind} h={b.top.heat_transfer_coefficient:.4g} W/m^2/K at "
               f"{b.top.ambient - 273.15:.4g} degC; bottom {b.bottom.kind} h={b.bottom.heat_transfer_coefficient:.4g}; "
               f"sides {b.sides.kind}")
    out.append(f"  mesh: {meshed.summary()}")
    p_grid = meshed.fields.total_power(meshed.grid)
    out.append(f"  power on the grid: {p_grid:.6g} W (layout {stack.total_power:.6g} W)")
    return "\n".join(out)


def _cmd_check(args) -> int:
    from .mesh import mesh_stack

    stack = _load(args.layout)
    if stack is None:
        return 1
    print(check_summary(stack, mesh_stack(stack)))
    print("OK")
    return 0


def _cmd_mesh(args) -> int:
    from .mesh import export_vtu, mesh_stack

    stack = _load(args.layout)
    if stack is None:
        return 1
    meshed = mesh_stack(stack, max_lateral_size=args.max_lateral_size)
    out = Path(args.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    side = export_vtu(meshed, out)
    print(f"{stack.name}: {meshed.summary()}")
    print(f"wrote {out} (region and material names in {side.name})")
    return 0


def _enable_x64() -> None:
    """Entry points (not the library) switch JAX to float64 for reference-quality solves.

    They also keep compiled solver programs in a persistent cache, so that running the same
    layout (mesh) again skips XLA compilation (2.7M cells: first call 22 s -> 6 s, and the
    compiler's ~0.5 GB of memory). The cache is ``$CODESIGN_COMPILE_CACHE``, else
    ``$XDG_CACHE_HOME/chiplet-codesign/xla`` (``~/.cache/...``); ``CODESIGN_COMPILE_CACHE=off``
    switches it off.
    """
    import os

    import jax

    jax.config.update("jax_enable_x64", True)
    where = os.environ.get("CODESIGN_COMPILE_CACHE", "")
    if where.lower() in ("off", "0", "no", "false"):
        return
    if not where:
        base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
        where = os.path.join(base, "chiplet-codesign", "xla")
    try:
        os.makedirs(where, exist_ok=True)
    except OSError:  # read-only home: run without the cache
        return
    if not jax.config.jax_compilation_cache_dir:
        jax.config.update("jax_compilation_cache_dir", where)


def _write_results(run, out_dir: Path, stem: str) -> list[Path]:
    import json

    from .mesh import export_vtu

    out_dir.mkdir(parents=True, exist_ok=True)
    js = out_dir / f"{stem}.json"
    js.write_text(json.dumps(run.to_dict(), indent=1, default=float))
    vtu = out_dir / f"{stem}.vtu"
    export_vtu(run.thermal.meshed, vtu, temperature=run.thermal.temperature)
    return [js, vtu]


def _cmd_links(args) -> int:
    from .interconnect import InterconnectError, evaluate_links
    from .phys import PhyError

    stack = _load(args.layout)
    if stack is None:
        return 1
    try:
        report = evaluate_links(stack)
    except (InterconnectError, PhyError) as e:
        print(f"{type(e).__name__}: {e}", file=sys.stderr)
        return 1
    print(report.table())
    if args.json:
        import json

        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(report.to_dict(), indent=1, default=float))
        print(f"\nwrote {args.json}")
    return 0


def _cmd_run(args) -> int:
    _enable_x64()
    stack = _load(args.layout)
    if stack is None:
        return 1
    if args.transient:
        return _run_transient(args, stack)
    run = _main_job(args, stack)
    if run is None:
        return 1
    out = Path(args.output) if args.output else Path("out") / stack.name
    files = _write_results(run, out, stack.name)
    print("\nwrote " + ", ".join(str(f) for f in files))
    return 0


def _main_job(args, stack):
    """Run the pipeline and print its tables; None (and a message on stderr) on failure."""
    from solvers.thermal import SolveError

    from .electrothermal import ThermalRunawayError
    from .pipeline import run_layout

    mesh = None
    if getattr(args, "max_lateral_size", None):
        mesh = {"max_lateral_size": args.max_lateral_size}
    if getattr(args, "lateral_size", None):
        mesh = {"max_lateral_size": args.lateral_size, "min_lateral_size": args.lateral_size, "grading": 1.0}
    try:
        run = run_layout(stack, method=args.method, phy_heat=args.phy_heat, derating=not args.no_derate,
                         temperature_dependent=args.k_of_t, mesh=mesh)
    except (SolveError, ThermalRunawayError) as e:
        print(f"{type(e).__name__}: {e}", file=sys.stderr)
        return None
    t = run.thermal
    print(f"{stack.name}: steady state, {t.power_in:.2f} W\n")
    print(t.table())
    if run.coupled is not None:
        print("\nLeakage at the operating point\n")
        print(run.coupled.table())
    if run.derating is not None:
        d = run.derating
        print(f"\nDerating: dynamic power x{d.scale:.4f} (clock x{d.frequency_factor:.4f}, {d.pf_model} model) "
              f"keeps every junction within its limit; limiting: {d.limiting}")
        for note in d.notes:
            print(f"  note: {note}")
    if run.links is not None:
        print()
        print(run.links.table())
    if run.ppac is not None and hasattr(run.ppac, "table"):
        print()
        print(run.ppac.table())
    return run


def report_tables(run) -> dict:
    """Extra HTML tables (links, leakage, derating, PPAC) for :func:`codesign.report.write_report`."""
    tables = {}
    if run.links is not None:
        rows = []
        for link in run.links.to_dict()["links"]:
            flags = [k.replace("_exceeded", "").replace("_", " ") for k in
                     ("reach_exceeded", "shoreline_exceeded", "bump_density_exceeded", "bandwidth_short") if link[k]]
            rows.append({"link": link["name"], "phy": link["phy"], "geometry": link["geometry"],
                         "bandwidth GB/s": link["bandwidth"] / 8e9, "utilisation %": 100 * link["utilisation"],
                         "pJ/bit": link["energy_per_bit"] * 1e12, "power W": link["power"],
                         "PHY area mm2": sum(link["phy_area"]) * 1e6, "shoreline mm": link["shoreline"] * 1e3,
                         "latency ns": link["latency"] * 1e9, "flags": ", ".join(flags) or "ok"})
        tables["Links"] = rows
    if run.coupled is not None:
        c = run.coupled
        tables["Leakage at the operating point"] = [
            {"chiplet": n, "dynamic W": c.dynamic.get(n, 0.0), "leakage W": c.leakage.get(n, 0.0),
             "leakage share %": 100 * c.leakage_share.get(n, 0.0)} for n in c.dynamic]
    if run.derating is not None:
        d = run.derating
        tables["Thermal derating"] = [{"dynamic power scale": d.scale, "clock factor": d.frequency_factor,
                                       "P-f model": d.pf_model, "limiting": d.limiting,
                                       "notes": "; ".join(d.notes)}]
    if run.ppac is not None:
        p = run.ppac.to_dict()
        pw, perf, area, cost = p["power_W"], p["performance"], p["area_m2"], p["cost"]
        tables["PPAC"] = [
            {"quantity": "power: total / dynamic / leakage [W]",
             "value": f"{pw['total']:.1f} / {pw['dynamic']:.1f} / {pw['leakage']:.1f}"},
            {"quantity": "power: interconnect / memory [W]", "value": f"{pw['interconnect']:.1f} / {pw['memory']:.1f}"},
            {"quantity": "performance: link bandwidth / HBM [TB/s]",
             "value": f"{perf['aggregate_bandwidth'] / 8e12:.2f} / {perf['hbm_bandwidth'] / 8e12:.2f}"},
            {"quantity": "performance: derating clock factor",
             "value": "-" if perf.get("frequency_factor") is None else f"{perf['frequency_factor']:.3f}"},
            {"quantity": "area: logic silicon / PHY / carrier / package [mm2]",
             "value": " / ".join(f"{area[k] * 1e6:.0f}" for k in ("logic_silicon", "phy", "carrier", "package"))},
            {"quantity": "cost per good package / NRE share / total [$]",
             "value": f"{cost['cost_per_good_package']:,.0f} / {cost['nre_per_unit']:,.0f} / {cost['total_per_unit']:,.0f}"},
            {"quantity": "package yield", "value": f"{cost['package_yield']:.3f}"},
            {"quantity": "technology", "value": p["technology"]["technology"]},
            {"quantity": "feasible", "value": "yes" if p["feasible"] else "no: " + "; ".join(p["infeasible"])},
        ] + [{"quantity": "note", "value": n} for n in p["notes"]]
    return tables


def _cmd_report(args) -> int:
    import json

    from .report import write_report

    _enable_x64()
    stack = _load(args.layout)
    if stack is None:
        return 1
    run = _main_job(args, stack)
    if run is None:
        return 1
    out = Path(args.output)
    html = write_report(run.thermal, out, extra_tables=report_tables(run))
    (out / "run.json").write_text(json.dumps(run.to_dict(), indent=1, default=float))
    print(f"\nreport: {html} (open it in a browser; pictures, results.json, run.json and temperature.vtu beside it)")
    return 0


def _run_transient(args, stack) -> int:
    import json

    from solvers.thermal import SolveError

    from .mesh import export_vtu
    from .transient import PowerTraceError, analyse_transient, read_power_trace

    from .electrothermal import ThermalRunawayError, solve_coupled_transient

    try:
        trace = read_power_trace(args.transient, stack)
        if any(c.leakage is not None for c in stack.chiplets):
            duration = args.duration or (2.0 * float(trace[0][-1]) if trace[0][-1] > 0 else 1.0)
            report = solve_coupled_transient(stack, trace, duration=duration, dt=args.dt or duration / 400,
                                             initial=args.initial)
        else:
            report = analyse_transient(stack, trace, duration=args.duration, dt=args.dt, initial=args.initial)
    except (PowerTraceError, SolveError, ThermalRunawayError) as e:
        print(f"{type(e).__name__}: {e}", file=sys.stderr)
        return 1
    print(f"{stack.name}: transient over {report.times[-1]:.4g} s driven by {args.transient}\n")
    print(report.table())
    out = Path(args.output) if args.output else Path("out") / stack.name
    out.mkdir(parents=True, exist_ok=True)
    js = out / f"{stack.name}_transient.json"
    js.write_text(json.dumps(report.to_dict(), indent=1))
    vtu = out / f"{stack.name}_transient_final.vtu"
    export_vtu(report.meshed, vtu, temperature=report.temperature)
    print(f"\nwrote {js}, {vtu}")
    return 0


def _time_arg(text: str) -> float:
    from .units import UnitError, parse_quantity

    try:
        return parse_quantity(text, "time")
    except UnitError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def _length_arg(text: str) -> float:
    from .units import UnitError, parse_quantity

    try:
        return parse_quantity(text, "length")
    except UnitError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="codesign", description="Early design of chiplet-based 2.5D/3D packages.")
    sub = p.add_subparsers(dest="command", required=True)
    s = sub.add_parser("layouts", help="list the shipped reference layouts")
    s.set_defaults(func=_cmd_layouts)
    s = sub.add_parser("check", help="validate a layout and print a summary (exit 1 on errors)")
    s.add_argument("layout", help="a .toml file or a shipped layout name")
    s.set_defaults(func=_cmd_check)
    s = sub.add_parser("mesh", help="mesh a layout and write a .vtu file")
    s.add_argument("layout")
    s.add_argument("-o", "--output", required=True, help="output .vtu file")
    s.add_argument("--max-lateral-size", type=_length_arg, default=None, help='override, e.g. "250 um"')
    s.set_defaults(func=_cmd_mesh)
    s = sub.add_parser("run", help="solve a layout (steady) and print per-chiplet temperatures; write JSON and VTU")
    s.add_argument("layout")
    s.add_argument("-o", "--output", default=None, help="output folder (default: out/<layout name>)")
    s.add_argument("--method", choices=("jax", "reference"), default="jax",
                   help="jax: matrix-free multigrid-CG (default); reference: scikit-fem + pyamg")
    s.add_argument("--rtol", type=float, default=1e-8, help="relative residual of the linear solve")
    s.add_argument("--k-of-t", action="store_true", help="temperature-dependent conductivity (Picard)")
    s.add_argument("--phy-heat", action="store_true",
                   help="add each link's PHY power as heat in die-edge strips (when die powers exclude I/O)")
    s.add_argument("--no-derate", action="store_true", help="skip the derating root find (leakage layouts)")
    s.add_argument("--max-lateral-size", type=_length_arg, default=None, help='mesh override, e.g. "1 mm"')
    s.add_argument("--lateral-size", type=_length_arg, default=None,
                   help='uniform coarse lateral cells (no grading), e.g. "2 mm", for quick looks')
    s.add_argument("--transient", metavar="TRACE.csv", default=None,
                   help="solve in time, driven by a power trace: 'time [ms], <chiplet> [W], ...'")
    s.add_argument("--duration", type=_time_arg, default=None, help='transient end time, e.g. "10 s"')
    s.add_argument("--dt", type=_time_arg, default=None, help='largest time step, e.g. "20 ms"')
    s.add_argument("--initial", choices=("ambient", "steady"), default="ambient",
                   help="transient start: ambient temperature or the steady state at the t = 0 powers")
    s.set_defaults(func=_cmd_run)
    s = sub.add_parser("report", help="run the main job and write a folder with pictures, JSON, VTU and index.html")
    s.add_argument("layout")
    s.add_argument("-o", "--output", required=True, help="output folder")
    s.add_argument("--method", choices=("jax", "reference"), default="jax")
    s.add_argument("--phy-heat", action="store_true", help="add link PHY power as heat (see `run`)")
    s.add_argument("--no-derate", action="store_true", help="skip the derating root find")
    s.add_argument("--k-of-t", action="store_true", help="temperature-dependent conductivity")
    s.add_argument("--max-lateral-size", type=_length_arg, default=None, help='mesh override, e.g. "1 mm"')
    s.add_argument("--lateral-size", type=_length_arg, default=None, help="uniform coarse lateral cells")
    s.set_defaults(func=_cmd_report)
    for name, (_, _, text) in _DELEGATED.items():
        sub.add_parser(name, help=text + f" (see `codesign {name} --help`)", add_help=False)
    s = sub.add_parser("links", help="evaluate the layout's die-to-die, memory and optical links")
    s.add_argument("layout")
    s.add_argument("--json", default=None, help="also write the link report as JSON")
    s.set_defaults(func=_cmd_links)
    return p


# Subcommands whose flags live with their module: `codesign NAME ...` hands the rest of the line over.
_DELEGATED = {
    "partition": ("codesign.partition", "partition_main", "rank chiplet partitions of a system file (PPAC, Pareto)"),
    "sweep": ("codesign.sweep", "sweep_main", "run a parameter sweep of a layout in batches (resumable)"),
    "optimize": ("codesign.placement", "optimize_main", "gradient-based thermal-aware placement of a layout's dies"),
}


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in _DELEGATED:
        import importlib

        module, func, _ = _DELEGATED[argv[0]]
        if argv[0] in ("sweep", "optimize", "partition"):
            _enable_x64()
        return int(getattr(importlib.import_module(module), func)(argv[1:]) or 0)
    parser = build_parser()
    args = parser.parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
