"""Temporary re-exports for code not yet moved to the split modules (removed in issue 12).

Import from :mod:`solvers` (or :mod:`solvers.steady`, :mod:`solvers.transient`,
:mod:`solvers.post`, :mod:`solvers.backends`) instead.
"""

from .post import region_statistics
from .steady import SolveError, ThermalSolution, solve_batch, solve_nonlinear, solve_steady
from .transient import PowerTrace, TransientSolution, solve_transient

__all__ = ["PowerTrace", "SolveError", "ThermalSolution", "TransientSolution", "region_statistics",
           "solve_batch", "solve_nonlinear", "solve_steady", "solve_transient"]
