"""solvers._blas: the solver programs' BLAS libraries run one thread unless the user says otherwise."""

import subprocess
import sys

import pytest

from solvers import _blas

_PROBE = """
import numpy as np, threadpoolctl, solvers
from solvers import MultigridCG, TensorGrid, ThermalFields
g = TensorGrid(np.linspace(0, 1e-2, 3), np.linspace(0, 1e-2, 3), np.linspace(0, 1e-3, 3),
               np.zeros((2, 2, 2), np.int32), ("all",), np.zeros((2, 2, 2), np.int32), ("si",))
e = np.ones((2, 2, 2))
f = ThermalFields(kx=150 * e, ky=150 * e, kz=150 * e, heat_capacity=1.6e6 * e, source=1e9 * e,
                  h={"zmax": np.full((2, 2), 1e4)}, ambient={"zmax": np.full((2, 2), 300.0)})
MultigridCG().solve(g, f)
print(sorted({i["num_threads"] for i in threadpoolctl.threadpool_info() if i["user_api"] == "blas"}))
"""


def test_a_solve_in_a_fresh_process_leaves_every_blas_library_at_one_thread():
    import os

    env = {k: v for k, v in os.environ.items() if k != _blas.ENV}  # the session's program cache is kept
    env["OPENBLAS_NUM_THREADS"] = "2"
    out = subprocess.run([sys.executable, "-c", _PROBE], env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "[1]"


@pytest.mark.parametrize("value, expected", [(None, 1), ("3", 3), ("keep", 2)])
def test_limit_sets_the_count_once_and_keep_leaves_the_libraries_alone(monkeypatch, value, expected):
    import scipy.linalg.cython_lapack  # noqa: F401  (loaded first, as limit() does: the controller sees it)
    import threadpoolctl

    blas = threadpoolctl.ThreadpoolController().select(user_api="blas")
    before = {i["num_threads"] for i in threadpoolctl.threadpool_info() if i["user_api"] == "blas"}
    monkeypatch.delenv(_blas.ENV, raising=False)
    if value is not None:
        monkeypatch.setenv(_blas.ENV, value)
    monkeypatch.setattr(_blas, "_DONE", False)
    try:
        blas.limit(limits=2)
        _blas.limit()
        assert {i["num_threads"] for i in threadpoolctl.threadpool_info() if i["user_api"] == "blas"} == {expected}
        blas.limit(limits=5)
        _blas.limit()  # once per process: a second call changes nothing
        assert {i["num_threads"] for i in threadpoolctl.threadpool_info() if i["user_api"] == "blas"} == {5}
    finally:
        blas.limit(limits=min(before))


@pytest.mark.parametrize("bad", ["0", "-2", "many"])
def test_a_bad_thread_count_names_the_variable_and_the_fix(monkeypatch, bad):
    monkeypatch.setenv(_blas.ENV, bad)
    with pytest.raises(ValueError, match=rf"{_blas.ENV}=.*{bad}.*positive thread count.*'keep'"):
        _blas._threads()
