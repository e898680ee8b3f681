"""Test configuration: float64 everywhere, strict dtype promotion (lineax's conftest)."""

import os

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


def pytest_collection_modifyitems(config, items):
    """Deselect slow and GPU tests unless asked for with -m."""
    if config.getoption("-m"):
        return
    skip_slow = pytest.mark.skip(reason="slow test: run with `pytest -m slow`")
    skip_gpu = pytest.mark.skip(reason="needs a CUDA GPU: run with `pytest -m gpu` on a GPU machine")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip_slow)
        if "gpu" in item.keywords:
            item.add_marker(skip_gpu)
