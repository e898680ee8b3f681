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
# XLA options of the suite (set in `pytest_configure`, before the first computation starts XLA; the
# subprocesses the tests start inherit them). The default suite is bound by XLA compiling its ~150
# programs (issue 13: 5 minutes on 2 cores), so it compiles them cheaply: XLA:CPU's older fusion
# emitters instead of its (MLIR) fusion emitters, about half the compile time, and optimisation level 0.
# With the fusion emitters, level 0 made programs run up to 20x slower and cost the run-bound tests more
# than it saved; without them it costs 4-5x (the demo's solve 0.25 -> 1.1 s) and saves 3x in compile
# (6.8 -> 2.4 CPU s for the demo's two programs). The idle 2-core machine, `pytest -q -n auto`, 859
# passed each time: level 1 without LLVM's expensive passes 431 s wall (848 CPU s), the same without the
# fusion emitters 338 s (662), level 0 without them 239 s (468) (benchmarks/RESULTS.md, "Test-suite
# speed, third pass"). The programs compute the same arithmetic; every tolerance is met.
# A selection with -m (slow refinement studies, GPU tests) solves larger grids and keeps level 1.
# Users' runs and the benchmarks keep XLA's defaults (the multigrid set-up alone compiles without the
# fusion emitters, solvers._jit.FAST_COMPILE); CODESIGN_TEST_XLA_OPT=full (or XLA_FLAGS set by the
# caller) runs the suite with them too.
DEFAULT_SUITE_XLA_FLAGS = "--xla_backend_optimization_level=0 --xla_cpu_use_fusion_emitters=false"
SELECTED_XLA_FLAGS = ("--xla_backend_optimization_level=1 --xla_llvm_disable_expensive_passes=true "
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
#: --durations=0` on the idle 2-core machine, 2026-11-30 22:15 UTC, the default suite's XLA options;
#: 428 s in all, 226 s wall). See `_two_halves`.
HEAVY_FILES = {
    "test_readme_commands.py": 59, "test_partition.py": 37, "solvers/test_backends.py": 28,
    "solvers/test_multigrid.py": 26, "test_cli.py": 25, "solvers/test_reference_steady.py": 24,
    "solvers/test_elasticity.py": 23, "test_model.py": 22, "solvers/test_fast_solve.py": 20, "test_guards.py": 16,
    "test_accuracy.py": 15, "solvers/test_reference_transient.py": 13, "test_placement.py": 12,
    "test_examples.py": 11, "test_fuzz_inputs.py": 11, "solvers/test_fast_transient.py": 9, "test_cache.py": 7,
    "test_electrothermal.py": 7, "test_fuzz_layouts.py": 7, "test_sweep.py": 6,
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


def pytest_configure(config):
    """The suite's XLA options (see :data:`DEFAULT_SUITE_XLA_FLAGS`), unless the caller chose them."""
    if os.environ.get("CODESIGN_TEST_XLA_OPT", "") != "full" and "XLA_FLAGS" not in os.environ:
        os.environ["XLA_FLAGS"] = SELECTED_XLA_FLAGS if config.getoption("-m") else DEFAULT_SUITE_XLA_FLAGS


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
