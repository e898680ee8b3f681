"""On a GPU: vmapped batches, gradients, and float32 / float64 results of the design model.

Run with ``python -m pytest -m gpu`` on a machine with CUDA (the default suite deselects them).
Each test first checks that JAX really runs on a GPU, so a CPU-only run fails loudly instead of
passing on the wrong device.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import codesign as cd
import solvers

pytestmark = pytest.mark.gpu

MESH = dict(max_lateral_size=1e-3, min_lateral_size=1e-3, grading=1.0)


@pytest.fixture(scope="module")
def model():
    assert jax.default_backend() == "gpu", f"gpu tests need a CUDA device; JAX runs on {jax.default_backend()}"
    return cd.build(cd.load_layout("demo"), **MESH)


def test_float64_matches_the_cpu_reference(model):
    gpu = cd.analyse(model)
    ref = cd.analyse(model, solver=solvers.ReferenceAMG())
    assert gpu.solver["relative_residual"] <= 1e-8
    for c in gpu.chiplets:
        assert c.junction == pytest.approx(ref.chiplet(c.name).junction, abs=1e-5)


def test_float32_is_within_its_tolerance(model):
    f64 = cd.analyse(model)
    f32 = cd.analyse(model, solver=solvers.MultigridCG(dtype="float32", rtol=1e-5))
    for c in f64.chiplets:
        assert f32.chiplet(c.name).junction == pytest.approx(c.junction, abs=1e-2)


def test_vmap_batch_equals_a_loop(model):
    p0 = jax.tree_util.tree_map(jnp.asarray, model.params)
    scales = [0.5, 0.75, 1.0, 1.25, 1.5, 2.0, 2.5, 3.0]
    batch = jax.tree_util.tree_map(lambda *a: jnp.stack(a), *[p0.scale_power(s) for s in scales])
    sols = jax.jit(jax.vmap(lambda p: model.solve(p, throw=False)))(batch)
    assert bool(np.all(np.asarray(sols.converged)))
    for i in (0, len(scales) - 1):
        one = model.solve(model.params.scale_power(scales[i]))
        np.testing.assert_allclose(np.asarray(sols.temperature[i]), np.asarray(one.temperature), rtol=1e-8)


def test_gradient_matches_central_differences(model):
    p0 = jax.tree_util.tree_map(jnp.asarray, model.params)

    def tj(h):
        p = p0.replace(h={**p0.h, "top": h})
        return model.junctions(model.solve(p, solver=solvers.MultigridCG(rtol=1e-11)).temperature)["logic"]

    h = p0.h["top"]
    g = float(jax.grad(tj)(h))
    step = 50.0
    fd = (float(tj(h + step)) - float(tj(h - step))) / (2 * step)
    assert g == pytest.approx(fd, rel=1e-4)
