"""Test configuration: float64 everywhere, strict dtype promotion (lineax's conftest)."""

import os
from pathlib import Path

os.environ.setdefault("JAX_PLATFORMS", "cpu")
# Tests must not write the user's compile cache (tests/test_cli.py checks the cache), but one cache
# for the session, shared by this process and every subprocess the tests start (`codesign ...` runs
# of the README commands, examples), lets a child that solves a mesh solved before load the traced
# and compiled programs instead of tracing and compiling them again (seconds per child).
if "CODESIGN_COMPILE_CACHE" not in os.environ:
    import atexit
    import shutil
    import tempfile

    _SESSION_CACHE = tempfile.mkdtemp(prefix="codesign-test-cache-")
    os.environ["CODESIGN_COMPILE_CACHE"] = _SESSION_CACHE
    atexit.register(shutil.rmtree, _SESSION_CACHE, True)
# The default suite is bound by XLA compiling its many small programs (issue 13: 5 minutes on 2 cores):
# without LLVM's expensive passes a compile takes 22-50 % less (benchmarks/RESULTS.md, "Test-suite
# speed, second pass"); the programs compute the same arithmetic (the 1e-13 Galerkin checks pass), only
# slower to run. Optimisation level 1, not 0: at level 0 the programs ran up to 20x slower (one chunk of
# the demo sweep: 6.7 s CPU against 0.37 s), which cost the run-bound tests (sweeps, transients, CLI
# runs) more than the compile-bound ones saved. CPU seconds per file, level 0 -> 1, 2026-11-30 under
# load: test_examples.py 87 -> 36, test_transient_domain.py 44 -> 16, test_cli.py 120 -> 106,
# test_readme_commands.py 161 -> 148; test_multigrid.py 67 -> 71, test_model.py 74 -> 80,
# test_elasticity.py 68 -> 73. Users' runs and the benchmarks keep XLA's defaults;
# CODESIGN_TEST_XLA_OPT=full (or XLA_FLAGS set by the caller) runs the suite with them too.
# Without XLA:CPU's (MLIR) fusion emitters, the older emitters compile the same fusions in about half
# the time (the demo's two solver programs: 15.6 -> 8.1 CPU seconds at level 1; a 5x4x7-cell grid's:
# 5.3 -> 2.1) and the programs solve 3-25 % slower (benchmarks/RESULTS.md, "XLA:CPU fusion
# emitters"): a win for a suite that compiles ~150 programs and solves small grids, not for users.
if os.environ.get("CODESIGN_TEST_XLA_OPT", "") != "full" and "XLA_FLAGS" not in os.environ:
    os.environ["XLA_FLAGS"] = ("--xla_backend_optimization_level=1 --xla_llvm_disable_expensive_passes=true "
                               "--xla_cpu_use_fusion_emitters=false")
os.environ.setdefault("VTK_DEFAULT_OPENGL_WINDOW", "vtkEGLRenderWindow")
# the CLI's progress lines on stderr would mix with the messages tests check (tests/test_progress.py checks them)
os.environ.setdefault("CODESIGN_QUIET", "1")

import jax  # noqa: E402
import pytest  # noqa: E402

jax.config.update("jax_enable_x64", True)
jax.config.update("jax_numpy_dtype_promotion", "strict")


@pytest.fixture(scope="session")
def coarse_report():
    """The demo layout solved once per session on a coarse mesh (default solver), for picture tests.

    The mesh of `codesign run demo --lateral-size 4 mm` (tests/test_cli.py, tests/test_model.py): its
    solver programs are usually in the session's compile cache already."""
    import codesign

    model = codesign.build(codesign.load_layout("demo"), max_lateral_size=4e-3, min_lateral_size=4e-3, grading=1.0)
    return codesign.analyse(model)


#: Files whose tests take the longest (seconds summed over the file's setup and calls: `pytest -n auto
#: --durations=0` on the idle 2-core machine, 2026-11-30 20:59 UTC, XLA optimisation level 1; 929 s in
#: all, 482 s wall). See `_two_halves`.
HEAVY_FILES = {
    "test_readme_commands.py": 132, "solvers/test_multigrid.py": 72, "solvers/test_fast_solve.py": 68,
    "solvers/test_reference_steady.py": 68, "solvers/test_backends.py": 63, "solvers/test_elasticity.py": 59,
    "test_partition.py": 56, "test_model.py": 55, "test_cli.py": 44, "test_placement.py": 36,
    "solvers/test_reference_transient.py": 33, "test_accuracy.py": 28, "solvers/test_fast_transient.py": 26,
    "test_cache.py": 20, "test_examples.py": 17, "test_fuzz_inputs.py": 16, "test_guards.py": 16, "test_sweep.py": 15,
    "test_electrothermal.py": 12, "solvers/test_reference_nonlinear.py": 11, "solvers/test_one_steady_program.py": 11,
}


def _two_halves(items: list) -> list:
    """The collected tests in an order that keeps both xdist workers busy to the end.

    `--dist worksteal` (pyproject.toml) hands the first half of the list (by count) to one worker and the
    second half to the other; an idle worker then takes the back half of the other's queue. Left in file
    order, the long files met at random places and one long file could start last and decide the wall
    time. Here the long files (:data:`HEAVY_FILES`) are shared between the halves by their cost (longest
    first into the cheaper half) and start each half, each file kept whole (its module fixtures and its
    in-process compiled programs serve all its tests); the many short files fill both halves up to the
    split, last, where stealing evens out the end. Any selection (-k, -m slow) is ordered the same way.
    """
    root = Path(__file__).resolve().parent
    files: dict[str, list] = {}
    for item in items:
        try:
            name = Path(item.path).resolve().relative_to(root).as_posix()
        except ValueError:
            name = str(item.path)
        files.setdefault(name, []).append(item)
    heavy = sorted((f for f in files if f in HEAVY_FILES), key=lambda f: -HEAVY_FILES[f])
    halves, cost = ([], []), [0, 0]
    for f in heavy:
        i = 0 if cost[0] <= cost[1] else 1
        halves[i].extend(files[f])
        cost[i] += HEAVY_FILES[f]
    light = [item for f, its in files.items() if f not in HEAVY_FILES for item in its]
    need = len(items) // 2 - len(halves[0])
    if not 0 <= need <= len(light):  # a selection of a few files: long ones first is all that can be done
        return halves[0] + halves[1] + light
    return halves[0] + light[:need] + halves[1] + light[need:]


def pytest_collection_modifyitems(config, items):
    """Long files first in both halves of the run (`_two_halves`); deselect slow and GPU tests unless asked for with -m."""
    items[:] = _two_halves(items)
    if config.getoption("-m"):
        return
    skip_slow = pytest.mark.skip(reason="slow test: run with `pytest -m slow`")
    skip_gpu = pytest.mark.skip(reason="needs a CUDA GPU: run with `pytest -m gpu` on a GPU machine")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip_slow)
        if "gpu" in item.keywords:
            item.add_marker(skip_gpu)
