"""Benchmark: the dense LAPACK kernels of the solver programs with one BLAS thread and with the
library's default, on an idle machine and beside a busy process (solvers/_blas.py).

Usage::

    python benchmarks/blas_threads.py            # prints a markdown table
    python benchmarks/blas_threads.py --busy 1   # the same with one busy-looping process beside it

Each row: the fastest of 5 calls of the jitted ``jnp.linalg.cholesky`` (the coarsest multigrid
level's factor, float32 as the default V-cycle's) and of the set-up of b200_cowos_l's coarsest
accuracy grid (31,878 cells, a 756-node coarsest level), with BLAS at 1 thread and at the count
it had when the process started (OpenBLAS: the number of cores).
"""

from __future__ import annotations

import argparse
import datetime
import multiprocessing as mp
import os
import platform
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
os.environ.setdefault("CODESIGN_BLAS_THREADS", "keep")  # this script sets the count itself


def _busy(stop):
    while not stop.is_set():
        sum(i * i for i in range(10_000))


def _fastest(f, repeat=5):
    f()
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        f()
        best = min(best, time.perf_counter() - t0)
    return best


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--busy", type=int, default=0, help="busy-looping processes beside the measurement")
    args = ap.parse_args(argv)
    import jax

    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp
    import numpy as np
    import scipy.linalg.cython_lapack  # noqa: F401
    import threadpoolctl

    import codesign as cd
    from codesign import accuracy as acc
    from solvers import steady

    blas = threadpoolctl.ThreadpoolController().select(user_api="blas")
    default = max(i["num_threads"] for i in blas.info())
    chol = jax.jit(jnp.linalg.cholesky)
    rng = np.random.default_rng(0)
    mats = {}
    for n in (450, 756, 1188):
        a = rng.random((n, n), dtype=np.float32)
        mats[n] = jnp.asarray(a @ a.T + n * np.eye(n, dtype=np.float32))
    m = cd.build(cd.load_layout("b200_cowos_l"))
    chain = acc._Chain(m, acc._numpy_fields(m.fields(m.params)), (0, 1, 2), 2)
    c = chain.levels[1][0]
    fields = steady._broadcast_fields(c.grid, c.fields, np.float64)

    def setup():
        jax.block_until_ready(steady._setup_jit(c.grid, fields, dtype=np.float32, smoothing_steps=1,
                                                coarse_size=1200))

    stop = mp.Event()
    procs = [mp.Process(target=_busy, args=(stop,), daemon=True) for _ in range(args.busy)]
    for p in procs:
        p.start()
    try:
        rows = []
        for threads in (default, 1):
            blas.limit(limits=threads)
            t = {n: _fastest(lambda a=a: chol(a).block_until_ready()) for n, a in mats.items()}
            rows.append((threads, t, _fastest(setup)))
    finally:
        stop.set()
        for p in procs:
            p.join(timeout=5)
    print(f"`python benchmarks/blas_threads.py{' --busy ' + str(args.busy) if args.busy else ''}`, "
          f"{datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC, {platform.machine()}, "
          f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}, {args.busy} busy process(es) beside\n")
    print("| BLAS threads | Cholesky 450 ms | Cholesky 756 ms | Cholesky 1188 ms | b200 coarsest accuracy grid set-up ms |")
    print("|---|---|---|---|---|")
    for threads, t, s in rows:
        print(f"| {threads} | {t[450] * 1e3:.1f} | {t[756] * 1e3:.1f} | {t[1188] * 1e3:.1f} | {s * 1e3:.0f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
