"""One BLAS/LAPACK thread for the dense kernels inside the solver programs.

The compiled solver programs call LAPACK and BLAS (through jaxlib, from SciPy's OpenBLAS) only
for small dense work: the Cholesky factor of the coarsest multigrid level (at most
``coarse_size`` = 1,200 nodes) at set-up and its two triangular solves in every V-cycle. At
that size a second OpenBLAS thread gains nothing, and its spin-waiting workers compete with
XLA's own thread pool (and, on a shared machine, with every other process) for the cores.
Measured on the 2-core machine under load (benchmarks/RESULTS.md, "OpenBLAS threads"):
a float32 Cholesky of 756 nodes took 0.33-0.55 s with OpenBLAS's default 2 threads and 4.5 ms
with one; the set-up of b200_cowos_l's coarsest estimate grid 0.58 s against 0.05 s.

So before the first solver program runs, :func:`limit` sets every loaded BLAS library to one
thread (with ``threadpoolctl``, which finds OpenBLAS, MKL and BLIS under their vendors' symbol
names). It is process-wide: NumPy and SciPy calls of the user's own code run single-threaded
too. ``CODESIGN_BLAS_THREADS=N`` sets N threads instead; ``CODESIGN_BLAS_THREADS=keep`` leaves
the libraries as they are.
"""

from __future__ import annotations

import os
import threading

__all__ = ["ENV", "limit"]

#: Environment variable: a thread count, or ``keep`` to leave BLAS libraries as loaded.
ENV = "CODESIGN_BLAS_THREADS"

_DONE = False
_LOCK = threading.Lock()


def _threads() -> int | None:
    raw = os.environ.get(ENV, "").strip().lower()
    if raw in ("", "1"):
        return 1
    if raw == "keep":
        return None
    try:
        n = int(raw)
    except ValueError:
        n = 0
    if n < 1:
        raise ValueError(f"environment variable {ENV}={raw!r}: expected a positive thread count (default 1) or "
                         "'keep' to leave the BLAS libraries' own thread counts; unset it or fix its value")
    return n


def limit() -> None:
    """Set the BLAS libraries loaded in this process to :data:`ENV`'s thread count (default 1),
    once per process; later calls do nothing."""
    global _DONE
    if _DONE:
        return
    with _LOCK:
        if _DONE:
            return
        n = _threads()
        if n is not None:
            import scipy.linalg.cython_lapack  # noqa: F401  (the LAPACK jaxlib calls: load it before limiting)
            import threadpoolctl

            threadpoolctl.ThreadpoolController().select(user_api="blas").limit(limits=n)
        _DONE = True
