"""What several commands share: quantity arguments, mesh and solver flags, optional extras, JSON output."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ..errors import CodesignError

#: The optional extra that brings optax and dask (pyproject ``[project.optional-dependencies]``).
BATCH_EXTRA = "pip install 'chiplet-codesign[batch]'"


def quantity(kind: str):
    """An argparse ``type`` that parses a quantity with a unit (``"250 um"``) to SI; usage error otherwise."""
    from ..units import UnitError, parse_quantity

    def parse(text: str) -> float:
        try:
            return parse_quantity(text, kind)
        except UnitError as e:
            raise argparse.ArgumentTypeError(str(e)) from None

    return parse


length = quantity("length")
duration = quantity("time")


def require_extra(module: str, what: str) -> None:
    """Raise a one-line :class:`CodesignError` naming the extra to install when ``module`` is missing."""
    import importlib

    try:
        importlib.import_module(module)
    except ImportError:
        raise CodesignError(f"{what} needs {module.split('.')[0]}, which is not installed: {BATCH_EXTRA}") from None


def add_mesh_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--max-lateral-size", type=length, default=None, metavar="LENGTH",
                   help='mesh override, e.g. "1 mm"')
    p.add_argument("--lateral-size", type=length, default=None, metavar="LENGTH",
                   help='uniform coarse lateral cells (no grading), e.g. "2 mm", for quick looks')


def mesh_controls(args) -> dict | None:
    """The mesh keyword overrides of ``--max-lateral-size`` / ``--lateral-size`` (None: the layout's)."""
    if args.lateral_size:
        return {"max_lateral_size": args.lateral_size, "min_lateral_size": args.lateral_size, "grading": 1.0}
    if args.max_lateral_size:
        return {"max_lateral_size": args.max_lateral_size}
    return None


def solver_name(text: str) -> str:
    """An argparse ``type``: a solver name that :func:`solvers.get_solver` accepts (it owns the list)."""
    import solvers

    try:
        solvers.get_solver(text)
    except (ValueError, KeyError) as e:
        raise argparse.ArgumentTypeError(str(e)) from None
    return text


def add_solver_flags(p: argparse.ArgumentParser, *, rtol: bool = True) -> None:
    p.add_argument("--method", type=solver_name, default="jax", metavar="SOLVER",
                   help="linear solver, a name `solvers.get_solver` accepts: jax (matrix-free multigrid-CG, the "
                        "default) or reference (scikit-fem + pyamg, the tests' oracle)")
    if rtol:
        p.add_argument("--rtol", type=float, default=None,
                       help="relative residual of the linear solves (default: the solver's)")


def solver(args):
    """The solver object of ``--method`` and ``--rtol`` (:func:`solvers.get_solver`)."""
    import solvers

    options = {} if getattr(args, "rtol", None) is None else {"rtol": args.rtol}
    return solvers.get_solver(args.method, **options)


def format_length(v: float) -> str:
    return f"{v * 1e3:.4g} mm" if v >= 1e-3 else f"{v * 1e6:.4g} um"


def write_json(path: Path, data) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=1, default=_json_value))
    return path


def _json_value(value):
    """JSON for what ``to_dict`` methods may leave in: NumPy scalars and arrays, else the text."""
    import numpy as np

    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    return str(value)
