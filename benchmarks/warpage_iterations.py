"""CG iteration counts of the thermo-elastic solve against the mesh, for variants of its multigrid.

Usage: ``python benchmarks/warpage_iterations.py LAYOUT MM[,MM...] ['{"plane_nodes": 130, ...}']``

For each lateral cell size MM [mm]: ``codesign.warpage.warpage_model(stack, lateral_size=MM mm)`` at
room temperature (298.15 K) from the process's stress-free temperatures, free-free, rtol 1e-8, voids
removed, solved by the same steps as ``solvers.elasticity._core`` (stencil, ``_setup``, CG on the
true residual) with the hierarchy options of the JSON argument: ``plane_nodes`` (coarsest level's
nodes per z-plane), ``degree`` and ``ratio`` (Chebyshev smoother), ``single`` (float32 V-cycle),
``lscale`` (scale of the smoother's eigenvalue bound), ``mod`` (the finest level's sign-modulated
coarse space, ``solvers.elasticity._modulate``; on by default as in the solver: ``{"mod": false}``
gives the hierarchy before it), ``q1`` (the plain trilinear element instead of the incompatible
modes: another operator, for the diagnosis only). Prints levels, iterations, true relative
residual, the first call (compilation + solve) and one more solve (after compilation). Written for
issue 15 (benchmarks/RESULTS.md, "iteration count against the mesh").
"""
import json
import os
import sys
import time

os.environ.setdefault("JAX_PLATFORMS", "cpu")
import jax  # noqa: E402

jax.config.update("jax_enable_x64", True)
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

import codesign  # noqa: E402
from codesign.warpage import stress_free_temperature, void_elements, warpage_model  # noqa: E402
from solvers import elasticity as el  # noqa: E402
from solvers._pcg import linear_solve  # noqa: E402


def problem(stack, mm):
    m = warpage_model(stack, lateral_size=mm * 1e-3)
    t0, _, _ = stress_free_temperature(m)
    f = m.elastic_fields(temperature=298.15, stress_free=t0)
    f = el.ElasticFields(*(jnp.asarray(getattr(f, k)) for k in ("E", "nu", "G", "alpha_dT")))
    void = void_elements(m)
    mask = el._dof_mask(void.shape, "free", None, "benchmark", void)
    g = m.grid
    return jnp.asarray(g.x), jnp.asarray(g.y), jnp.asarray(g.z), f, jnp.asarray(mask), jnp.asarray((~void).astype(float))


def make(plane_nodes=130, degree=3, ratio=10.0, single=True, lscale=1.0, maxiter=1000, mod=True, q1=False):
    def run(x, y, z, fields, mask, solid):
        N, G = el.stiffness(fields)
        lev = el._Level(x, y, z, N * solid, G * solid, mask, incompatible=not q1)
        b = mask * el._thermal_load(lev, fields.alpha_dT)
        lev = el.dataclasses.replace(lev, stencil=el._constrain_stencil(el._element_stencil(lev), lev.mask))
        hier = el._setup(lev, plane_nodes=plane_nodes, degree=degree, ratio=ratio, modulated=mod)
        hier = el.dataclasses.replace(hier, lmax=tuple(v * lscale for v in hier.lmax))
        lev = el.dataclasses.replace(lev, stencil=None, half=el._half_stencil(lev.stencil))
        dt = jnp.float32 if single else jnp.float64
        h = el._single(hier) if single else hier
        _, k, _, rel = linear_solve(lambda v: el._apply_c(lev, v), lambda r: el._vcycle(h, r.astype(dt)).astype(r.dtype),
                                    b, rtol=1e-8, max_iterations=maxiter, history_size=1)
        return k, rel, len(hier.levels)

    return jax.jit(run)


def main(layout, sizes_mm, opts):
    stack = codesign.load_layout(layout)
    fn = make(**opts)
    print(f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, load average {os.getloadavg()[0]:.1f}, options {opts}")
    for mm in sizes_mm:
        args = problem(stack, mm)
        t = time.perf_counter()
        jax.block_until_ready(fn(*args))
        first = time.perf_counter() - t
        t = time.perf_counter()
        k, rel, nlev = jax.block_until_ready(fn(*args))
        print(f"{layout} {mm:g} mm: cells {tuple(int(n) - 1 for n in args[4].shape[1:])}, levels {nlev}, "
              f"CG iterations {int(k)}, true rel. residual {float(rel):.1e}, first call {first:.1f} s, "
              f"solve {time.perf_counter() - t:.2f} s", flush=True)


if __name__ == "__main__":
    if len(sys.argv) < 3 or sys.argv[1] in ("-h", "--help"):
        print(__doc__)
        sys.exit(0)
    main(sys.argv[1], [float(a) for a in sys.argv[2].split(",")], json.loads(sys.argv[3]) if len(sys.argv) > 3 else {})
