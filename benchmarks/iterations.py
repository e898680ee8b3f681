"""Iteration counts of the multigrid-preconditioned CG (timing-independent).

Usage: ``python benchmarks/iterations.py [n ...]`` prints, for the 2.5D stack of
:mod:`stack` at several lateral resolutions, the CG iterations to a true relative residual
of 1e-8 with the real materials (650x contrast, 2 um bond layer) and with every material
replaced by isotropic k = 130 W/m/K (no contrast, same thin layers).
"""

import os
import sys

os.environ.setdefault("JAX_PLATFORMS", "cpu")
import jax  # noqa: E402

jax.config.update("jax_enable_x64", True)
import numpy as np  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from stack import make_problem  # noqa: E402

import solvers  # noqa: E402


def main(sizes):
    print("| lateral n | cells | iterations, 650x contrast | iterations, uniform k | iterations, float32 preconditioner |")
    print("|---|---|---|---|---|")
    for n in sizes:
        grid, fields = make_problem(n)
        uni = fields.with_(kx=np.full(grid.shape, 130.0), ky=np.full(grid.shape, 130.0), kz=np.full(grid.shape, 130.0))
        a = solvers.solve_steady(grid, fields)
        b = solvers.solve_steady(grid, uni)
        c = solvers.solve_steady(grid, fields, preconditioner_dtype=np.float32)
        print(f"| {n} | {grid.n_elements:,} | {int(a.iterations)} | {int(b.iterations)} | {int(c.iterations)} |")


if __name__ == "__main__":
    main([int(a) for a in sys.argv[1:]] or [8, 16, 32, 64, 128])
