"""Write tests/data/same_answers.json: today's temperatures of every shipped layout on fixed mesh controls.

Run once (``python tests/data/make_same_answers.py``) before a change to the solvers' compile or
cache path; ``tests/test_cache.py`` then checks that the change kept every value to 1e-9 relative.
The mesh controls are fixed here (not the layouts' own ``[mesh]``) and the layouts are copies
(``tests/data/same_answers/*.toml``, the shipped files of 2026-11-30) so that later edits of a
shipped layout or of its default mesh do not invalidate the stored values. Each entry also stores
a fingerprint of the model's inputs (grid, fields, parameters): the test compares temperatures
only while that fingerprint is unchanged (a changed material library changes the inputs, not the
solver path under test).
"""

from __future__ import annotations

import hashlib
import inspect
import json
import sys
from pathlib import Path

import numpy as np

#: Fixed, coarse mesh controls (a few thousand to ~20k cells per layout: quick to solve and compile).
MESH = {"max_lateral_size": 2e-3, "min_lateral_size": 1e-3, "grading": 1.4, "cells_per_layer": 1,
        "max_vertical_size": 1e-3}
#: Node indices sampled from the full field (evenly spaced, both ends included).
SAMPLES = 25


HERE = Path(__file__).parent / "same_answers"


def fingerprint(model) -> str:
    """sha256 of everything the thermal solve reads: grid coordinates, the fields and the thermal parameters.

    (Only the thermal and leakage entries of ``Params``: fields added for other analyses, such as
    the mechanical moduli of warpage, do not change a temperature.)
    """
    import jax

    p = model.params
    thermal = [getattr(p, k) for k in ("power", "conductivity", "heat_capacity", "h", "ambient", "leakage_power",
                                        "leakage_coefficients")]
    h = hashlib.sha256()
    leaves = jax.tree_util.tree_leaves((model.grid.x, model.grid.y, model.grid.z, model.fields(), thermal))
    for leaf in leaves:
        a = np.ascontiguousarray(np.asarray(leaf, dtype=float))
        h.update(str(a.shape).encode())
        h.update(a.tobytes())
    return h.hexdigest()


def answers(name: str) -> dict:
    """The run of one stored layout reduced to numbers (junctions, field samples, leakage, derating)."""
    import codesign as cd

    stack = cd.load_layout(HERE / f"{name}.toml")
    fixed = {"accuracy": False} if "accuracy" in inspect.signature(cd.run_layout).parameters else {}
    run = cd.run_layout(stack, mesh=MESH, ppac=False, **fixed)  # on MESH as given: no refinement to a target
    t = np.asarray(run.thermal.temperature, dtype=float).ravel()
    idx = np.unique(np.linspace(0, t.size - 1, SAMPLES).round().astype(int))
    out = {"fingerprint": fingerprint(run.thermal.model), "n_nodes": int(t.size), "max": float(t.max()), "mean": float(t.mean()),
           "junctions": {c.name: float(c.junction) for c in run.thermal.chiplets},
           "samples": {str(i): float(t[i]) for i in idx}}
    if run.coupled is not None:
        out["leakage"] = {k: float(v) for k, v in run.thermal.leakage.items()} if run.thermal.leakage else {}
    if run.derating is not None:
        out["derating_scale"] = float(run.derating.scale)
    return out


def refingerprint() -> None:
    """Rewrite only the stored fingerprints (after a change of :func:`fingerprint` itself, run on the
    code that computed the stored temperatures)."""
    import jax

    jax.config.update("jax_enable_x64", True)
    import codesign as cd

    path = Path(__file__).with_name("same_answers.json")
    data = json.loads(path.read_text())
    for name, entry in data["layouts"].items():
        entry["fingerprint"] = fingerprint(cd.build(cd.load_layout(HERE / f"{name}.toml"), **MESH))
    path.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")


def main() -> int:
    import jax

    jax.config.update("jax_enable_x64", True)
    names = sys.argv[1:] or sorted(p.stem for p in HERE.glob("*.toml"))
    data = {"mesh": MESH, "layouts": {name: answers(name) for name in names}}
    path = Path(__file__).with_name("same_answers.json")
    path.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    if sys.argv[1:] == ["--fingerprints"]:
        refingerprint()
        raise SystemExit(0)
    raise SystemExit(main())
