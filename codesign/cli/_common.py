"""What several commands share: checked argument types, mesh and solver flags, optional extras, outputs."""

from __future__ import annotations

import argparse
import math
from pathlib import Path

from .._output import Outputs, json_text
from ..errors import CodesignError

#: The optional extra that brings dask.distributed (pyproject ``[project.optional-dependencies]``);
#: optax, for ``codesign optimize``, is a default dependency.
BATCH_EXTRA = "pip install 'chiplet-codesign[batch]' (from a clone of the repository: pip install '.[batch]')"


def quantity(kind: str, *, positive: bool = True):
    """An argparse ``type`` that parses a quantity with a unit (``"250 um"``) to SI; usage error otherwise.

    The value must be finite and positive (``positive=False``: at least zero)."""
    from ..units import UnitError, parse_quantity

    def parse(text: str) -> float:
        try:
            v = parse_quantity(text, kind)
        except UnitError as e:
            raise argparse.ArgumentTypeError(str(e)) from None
        if not math.isfinite(v) or v < 0 or (positive and v == 0):
            raise argparse.ArgumentTypeError(f"expected a {'positive' if positive else 'non-negative'} finite "
                                             f"{kind}, got {text!r}")
        return v

    return parse


length = quantity("length")
duration = quantity("time")
nonnegative_length = quantity("length", positive=False)


def whole(minimum: int):
    """An argparse ``type``: a whole number of at least ``minimum``."""

    def parse(text: str) -> int:
        try:
            v = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
        if v < minimum:
            raise argparse.ArgumentTypeError(f"expected a whole number >= {minimum}, got {text!r}")
        return v

    return parse


def real(*, minimum: float = 0.0, inclusive: bool = True, maximum: float = math.inf):
    """An argparse ``type``: a finite number ``> minimum`` (``>=`` when ``inclusive``) and ``< maximum``."""

    def parse(text: str) -> float:
        try:
            v = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
        low_ok = v >= minimum if inclusive else v > minimum
        if not (math.isfinite(v) and low_ok and v < maximum):
            bound = f"{'>=' if inclusive else '>'} {minimum:g}" + (f" and < {maximum:g}" if maximum < math.inf else "")
            raise argparse.ArgumentTypeError(f"expected a finite number {bound}, got {text!r}")
        return v

    return parse


def require_extra(module: str, what: str, install: str = BATCH_EXTRA) -> None:
    """Raise a one-line :class:`CodesignError` naming what to install when ``module`` is missing."""
    import importlib

    try:
        importlib.import_module(module)
    except ImportError:
        raise CodesignError(f"{what} needs {module.split('.')[0]}, which is not installed: {install}") from None


def add_mesh_flags(p: argparse.ArgumentParser, *, lateral_size: bool = True) -> None:
    p.add_argument("--max-lateral-size", type=length, default=None, metavar="LENGTH",
                   help='mesh override, e.g. "1 mm"')
    if lateral_size:
        p.add_argument("--lateral-size", type=length, default=None, metavar="LENGTH",
                       help='uniform coarse lateral cells (no grading), e.g. "2 mm", for quick looks')
    add_max_cells_flag(p)


def add_max_cells_flag(p: argparse.ArgumentParser) -> None:
    from ..mesh import MAX_CELLS

    p.add_argument("--max-cells", type=whole(1), default=None, metavar="N",
                   help=f"size guard of the mesh (default {MAX_CELLS:,} cells): a finer mesh is refused with the "
                        "estimated count; raise it on purpose on a machine with the memory")


def mesh_controls(args) -> dict | None:
    """The :func:`codesign.build` keywords of the mesh flags (None: the layout's mesh, default guard)."""
    out = {}
    if getattr(args, "lateral_size", None):
        out = {"max_lateral_size": args.lateral_size, "min_lateral_size": args.lateral_size, "grading": 1.0}
    elif args.max_lateral_size:
        out = {"max_lateral_size": args.max_lateral_size}
    if args.max_cells is not None:
        out["max_cells"] = args.max_cells
    return out or None


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
        p.add_argument("--rtol", type=real(minimum=0.0, inclusive=False, maximum=1.0), default=None,
                       help="relative residual of the linear solves, in (0, 1) (default: the solver's)")


def solver(args):
    """The solver object of ``--method`` and ``--rtol`` (:func:`solvers.get_solver`)."""
    import solvers

    options = {} if getattr(args, "rtol", None) is None else {"rtol": args.rtol}
    return solvers.get_solver(args.method, **options)


def format_number(v: float, digits: int = 4) -> str:
    """A number as people write it: ``20,000`` and ``12,800`` rather than ``2e+04``, ``0.026``; the
    exponent form only outside 1e-3 .. 1e9."""
    v = float(v)
    if v == 0 or not math.isfinite(v):
        return f"{v:g}"
    if 1e4 <= abs(v) < 1e9:
        return f"{v:,.0f}"
    if abs(v) < 1e-3 or abs(v) >= 1e9:
        return f"{v:.{digits - 1}e}"
    return f"{v:.{digits}g}"


def format_length(v: float) -> str:
    return f"{v * 1e3:.4g} mm" if v >= 1e-3 else f"{v * 1e6:.4g} um"


def write_json(path: Path, data, outputs: Outputs | None = None) -> Path:
    """Write ``data`` as JSON to ``path``, whole or not at all (:class:`codesign._output.Outputs`)."""
    return (outputs or Outputs()).text(path, json_text(data, default=_json_value))


def _json_value(value):
    """JSON for what ``to_dict`` methods may leave in: NumPy scalars and arrays, else the text."""
    import numpy as np

    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    return str(value)
