"""The one error hierarchy of :mod:`codesign`.

Every error a user can cause or meet is a :class:`CodesignError`; the command line catches it
once, prints its message (no traceback) and exits with status 1 (2 for usage errors, which
argparse reports itself)::

    CodesignError
    ├── InputFileError      a layout, sweep spec, system file or power trace with problems
    │   ├── LayoutError, SweepSpecError, SystemFileError, PowerTraceError
    ├── ModelError          a valid file that cannot be built or evaluated as asked
    │   │                   (bad keyword values, PHY/link/cost/placement inputs)
    │   └── UnknownNameError   a layer, chiplet or material name the stack does not have
    └── SolveError          a solve that did not converge or returned non-finite values
        └── ThermalRunawayError   no stable electro-thermal operating point

:class:`SolveError` is also a :class:`solvers.SolveError`, so code written against the
numerics layer still catches it; :func:`solve_error` converts the numerics' error.
``ModelError`` and ``InputFileError`` are also ``ValueError``\\ s (they are bad values).
"""

from __future__ import annotations

import solvers

__all__ = [
    "CodesignError",
    "InputFileError",
    "ModelError",
    "SolveError",
    "ThermalRunawayError",
    "UnknownNameError",
    "solve_error",
]


class CodesignError(Exception):
    """Base of every error raised by :mod:`codesign` for bad input or a failed analysis."""


class ModelError(CodesignError, ValueError):
    """A request that cannot be built or evaluated: names the argument, the value and the fix."""


class UnknownNameError(ModelError, KeyError):
    """A name (layer, chiplet, material) that the stack does not have; the message lists those it has.

    Also a :class:`KeyError`, as a failed lookup by name.
    """

    __str__ = Exception.__str__  # the message, not KeyError's quoted repr


class InputFileError(CodesignError, ValueError):
    """An input file (layout, sweep spec, system file, power trace) with one or more problems.

    ``source`` names the file and ``problems`` lists ``(field path, message)``; the message
    shows every problem on its own line, so a user fixes them all in one pass.
    """

    def __init__(self, source: str, problems: list[tuple[str, str]]):
        self.source = source
        self.problems = list(problems)
        n = len(self.problems)
        lines = [f"{source}: {n} problem{'s' if n != 1 else ''}"]
        lines += [f"  {path}: {msg}" if path else f"  {msg}" for path, msg in self.problems]
        super().__init__("\n".join(lines))


class SolveError(CodesignError, solvers.SolveError):
    """A thermal solve that did not converge, or produced non-finite temperatures.

    ``residual_history`` and ``solution`` carry what the solver measured, for inspection.
    """


class ThermalRunawayError(SolveError):
    """No stable electro-thermal operating point: leakage outgrows the heat path.

    Attributes: ``chiplet`` (the one whose leakage grew most), ``temperature`` [K] and
    ``power`` [W] reached by it, ``history`` (hottest junction per iteration [K]).
    """

    def __init__(self, message: str, *, chiplet: str, temperature: float, power: float, history=()):
        super().__init__(message)
        self.chiplet = chiplet
        self.temperature = temperature
        self.power = power
        self.history = list(history)


def solve_error(err: solvers.SolveError) -> SolveError:
    """The :class:`SolveError` for an error of the numerics layer (same message and data)."""
    if isinstance(err, SolveError):
        return err
    return SolveError(str(err), residual_history=getattr(err, "residual_history", None),
                      solution=getattr(err, "solution", None))
