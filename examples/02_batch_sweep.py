"""A batch optimisation job: sweep power, TIM and heat sink of the demo package, keep the Pareto set.

`examples/sweeps/demo_sweep.toml` varies the logic die's power (×0.6, ×1, ×1.4), the TIM
conductivity (3, 5, 8 W/m/K), the heat-sink coefficient (1e4, 3e4 W/m²/K) and the TIM thickness
(25, 75 µm): 36 variants. Variants on one mesh are batched (a loop of jitted solves on CPU, `vmap`
on a GPU); results stream to a JSONL file, so an interrupted sweep resumes where it stopped.
Physics to expect:

* Peak temperature rises with power and falls with a better TIM or heat sink: the coolest variant
  at the highest power has k_TIM = 8 W/m/K, 25 µm and h = 3e4 W/m²/K.
* At fixed TIM and heat sink the temperature rise is linear in the power (superposition).
"""

# %%
import jax

jax.config.update("jax_enable_x64", True)

from pathlib import Path  # noqa: E402

from codesign.explore.sweep import load_sweep_spec, plot_sweep_pareto, run_sweep, summary_table  # noqa: E402

SPEC = Path(__file__).resolve().parent / "sweeps" / "demo_sweep.toml"


def main(out_dir="out/02_batch_sweep", max_chunks=None):
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    results = out / "demo_sweep.jsonl"
    spec = load_sweep_spec(SPEC)
    # %%
    # Run (or resume) the sweep; each chunk is appended to the JSONL file as it finishes.
    r = run_sweep(spec, results, resume=results.exists(), max_chunks=max_chunks, progress=None)
    print(summary_table(spec, r.rows))
    png = plot_sweep_pareto(spec, r.rows, out / "pareto.png")
    print(f"{r.computed} solved, {r.skipped} resumed, {r.rate:.2f} variants/s; Pareto plot {png}")
    return {"rows": r.rows, "computed": r.computed, "skipped": r.skipped, "pareto": str(png)}


if __name__ == "__main__":
    main()
