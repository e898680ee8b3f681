"""Gradients and batches of a package analysis, from the public API only.

`cd.build` meshes the shipped ``demo`` layout once; `model.params` is a pytree of everything a
design script varies, and `model.solve` is differentiable and vectorisable:

* **A gradient-based design step.** The heat-sink coefficient ``h`` is the expensive knob (fan,
  fin area). We look for the smallest ``h`` that keeps the logic junction at a target, by Newton
  steps on ``Tj(h) − target`` with ``dTj/dh`` from `jax.grad` (one adjoint solve each). Physics
  to expect: ``Tj`` falls as ``h`` rises (``dTj/dh < 0``) and flattens (the conduction part of the
  resistance stays), so a few steps converge.
* **A vmapped batch.** `jax.vmap(model.solve)` over stacked parameters solves five logic powers
  at once (the fast path on a GPU; on a CPU a loop is faster, see `solvers.solve_batch`). The
  problem is linear (constant k), so the five junction temperatures lie on a straight line.

Gradients and vmap trace the solve, so they need float64 switched on in JAX (the library does not
change global settings; a traced call without it stops at once and says so).
"""

# %%
import jax

jax.config.update("jax_enable_x64", True)  # traced solves (grad, vmap) need float64

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

import codesign as cd  # noqa: E402


def main(max_lateral_size=None, target_C=90.0, steps=4):
    mesh = {} if max_lateral_size is None else dict(max_lateral_size=max_lateral_size,
                                                   min_lateral_size=max_lateral_size, grading=1.0)
    model = cd.build(cd.load_layout("demo"), **mesh)
    p0 = jax.tree_util.tree_map(jnp.asarray, model.params)

    def junction(p):
        return model.junctions(model.solve(p).temperature)["logic"]

    # %%
    # Newton on h: Tj(h) = target, with dTj/dh from jax.grad.
    def tj_of_h(h):
        return junction(p0.replace(h={**p0.h, "top": h}))

    value_and_slope = jax.value_and_grad(tj_of_h)
    h = p0.h["top"]
    history = []
    for _ in range(steps):
        tj, slope = value_and_slope(h)
        history.append((float(h), float(tj) - 273.15, float(slope)))
        h = h - (tj - (target_C + 273.15)) / slope
    tj_final = float(tj_of_h(h)) - 273.15
    for h_i, t_i, s_i in history:
        print(f"h = {h_i:10.1f} W/m^2/K   Tj = {t_i:7.3f} degC   dTj/dh = {s_i:.3e} K m^2 K/W")
    print(f"h = {float(h):10.1f} W/m^2/K   Tj = {tj_final:7.3f} degC (target {target_C} degC)")

    # %%
    # A batch of five logic powers in one vmapped solve.
    watts = np.array([60.0, 80.0, 100.0, 120.0, 140.0])
    keys = model.chiplet_sources("logic")  # the die's own power and its power blocks
    nominal = sum(model.params.power[k] for k in keys)
    batch = jax.tree_util.tree_map(lambda *a: jnp.stack(a),
                                   *[p0.scale_power(w / nominal, keys) for w in watts])
    tj_batch = np.asarray(jax.vmap(junction)(batch)) - 273.15
    for w, t in zip(watts, tj_batch):
        print(f"logic {w:5.0f} W -> Tj {t:7.3f} degC")
    slope, intercept = np.polyfit(watts, tj_batch, 1)
    return {"h_history": history, "h_final": float(h), "tj_final_C": tj_final, "watts": watts.tolist(),
            "tj_batch_C": tj_batch.tolist(), "linear_fit_residual_K": float(np.max(np.abs(
                np.polyval([slope, intercept], watts) - tj_batch)))}


if __name__ == "__main__":
    print(main())
