"""``codesign sweep SPEC.toml``: a parameter sweep of a layout in batches, resumable (docs/sweep-format.md)."""

from __future__ import annotations

from pathlib import Path

from .._output import Outputs
from ._common import BATCH_EXTRA, require_extra, whole


def add_parser(sub) -> None:
    p = sub.add_parser("sweep", help="run a parameter sweep of a layout in batches (resumable)",
                       description="Run a thermal design sweep (docs/sweep-format.md): variants are solved in "
                                   "batches and appended to a JSONL file, so an interrupted sweep resumes with "
                                   "--resume.",
                       epilog=f"--backend dask needs the `batch` extra: {BATCH_EXTRA}")
    p.add_argument("spec", help="sweep spec TOML file")
    p.add_argument("-o", "--output", default=None,
                   help="results JSONL (default: <spec name>.jsonl in this folder, the name reduced to safe "
                        "characters so that it can never choose another folder)")
    p.add_argument("--resume", action="store_true", help="skip variants already in the results file")
    p.add_argument("--backend", choices=("local", "dask"), default="local",
                   help="local: this process; dask: a dask.distributed cluster (the `batch` extra)")
    p.add_argument("--scheduler", default=None, help="dask scheduler address (default: a LocalCluster)")
    p.add_argument("--workers", type=whole(1), default=2, help="LocalCluster workers (dask backend)")
    p.add_argument("--chunk-size", type=whole(1), default=None, help="variants per batch (default: the spec's)")
    p.add_argument("--method", choices=("auto", "vmap", "loop"), default="auto",
                   help="how a batch is solved: one vmapped program, a loop of solves, or chosen by the device")
    p.add_argument("--pareto", default=None, help="Pareto PNG path (default: next to the results)")
    p.add_argument("--no-plot", action="store_true", help="skip the Pareto PNG")
    p.set_defaults(execute=execute, parser=p)


def execute(args) -> int:
    from ..explore.sweep import default_results_path, load_sweep_spec, plot_sweep_pareto, run_sweep, summary_table

    if args.scheduler and args.backend != "dask":
        args.parser.error("--scheduler needs --backend dask")
    if args.backend == "dask":
        require_extra("dask.distributed", "`codesign sweep --backend dask`")
    spec = load_sweep_spec(args.spec)
    out = Path(args.output) if args.output else default_results_path(spec)
    res = run_sweep(spec, out, resume=args.resume, backend=args.backend, scheduler=args.scheduler,
                    chunk_size=args.chunk_size, method=args.method, n_workers=args.workers)
    print(summary_table(spec, res.rows))
    print(f"\n{res.computed} variants solved in {res.seconds:.1f} s ({res.rate * 60:.0f} variants/min), "
          f"{res.skipped} already in {res.path}")
    if not args.no_plot and res.rows:
        png = Path(args.pareto) if args.pareto else out.with_suffix(".pareto.png")
        Outputs().write(png, lambda tmp: plot_sweep_pareto(spec, res.rows, tmp))
        print(f"Pareto front ({spec.objectives[0]} vs {spec.objectives[1]}): {png}")
    return 0
