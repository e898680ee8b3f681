"""Test configuration: float64 everywhere, strict dtype promotion (lineax's conftest)."""

import os

os.environ.setdefault("JAX_PLATFORMS", "cpu")
os.environ.setdefault("VTK_DEFAULT_OPENGL_WINDOW", "vtkEGLRenderWindow")

import jax  # noqa: E402

jax.config.update("jax_enable_x64", True)


def pytest_collection_modifyitems(config, items):
    """Deselect slow and GPU tests unless asked for with -m."""
    import pytest

    if config.getoption("-m"):
        return
    skip_slow = pytest.mark.skip(reason="slow test: run with `pytest -m slow`")
    skip_gpu = pytest.mark.skip(reason="needs a CUDA GPU: run with `pytest -m gpu` on a GPU machine")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip_slow)
        if "gpu" in item.keywords:
            item.add_marker(skip_gpu)
