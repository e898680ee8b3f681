"""Progress lines of long commands (codesign/progress.py): one line per stage when stderr is not a
terminal, compile time on its own line, in-place step lines with an ETA on a terminal, -q silences."""

from __future__ import annotations

import contextlib
import io
import re
import time

import pytest

from codesign import progress
from codesign.cli.main import main

# the mesh tests/test_cli.py solves (its compiled programs are shared), as given: no refinement to an error target
COARSE = ["--lateral-size", "4 mm", "--no-accuracy"]


def _cli(*argv) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main([str(a) for a in argv])
    return code, out.getvalue(), err.getvalue()


def test_run_prints_one_line_per_stage_and_q_silences_it(tmp_path, monkeypatch):
    monkeypatch.delenv(progress.QUIET_ENV, raising=False)
    code, out, err = _cli("run", "demo", "-o", tmp_path, *COARSE)
    assert code == 0, err
    lines = err.splitlines()
    assert "\r" not in err and all(line.startswith("codesign: ") for line in lines), err
    stages = [re.match(r"codesign: ([\w\- ]+?) [0-9.]+ s", line)[1] for line in lines]
    assert stages[:3] == ["load", "links", "mesh"] and stages[-2:] == ["PPAC", "write"], stages
    assert "solve" in stages and len(stages) == len(set(stages)), stages  # one line per stage
    if "compile" in stages:  # programs compiled in this process: their time is not the solve's
        assert stages.index("compile") == stages.index("solve") - 1
    assert not progress.enabled()  # the in-process call left the library default (off)
    for argv in (["-q", "run", "demo"], ["run", "demo", "-q"]):  # before or after the command
        code, _, err = _cli(*argv, "-o", tmp_path, *COARSE)
        assert code == 0 and err == "", (argv, err)
    monkeypatch.setenv(progress.QUIET_ENV, "1")
    code, _, err = _cli("run", "demo", "-o", tmp_path, *COARSE)
    assert code == 0 and err == ""


def test_stage_line_separates_compile_time(monkeypatch):
    from solvers import _cache

    err = io.StringIO()
    progress.configure(True, stream=err)
    try:
        with progress.stage("solve") as st:
            time.sleep(0.3)  # of which 0.2 s "compiling"
            monkeypatch.setitem(_cache.STATS, "compile_s", _cache.STATS["compile_s"] + 0.2)
            monkeypatch.setitem(_cache.STATS, "loaded", _cache.STATS["loaded"] + 2)
            st.note("19 CG iterations")
    finally:
        progress.configure(False)
    compile_line, solve_line = err.getvalue().splitlines()
    assert compile_line == "codesign: compile 0.20 s (solver programs: 2 loaded from the cache, 0 traced)"
    assert re.fullmatch(r"codesign: solve 0\.\d\d s \(19 CG iterations\)", solve_line)
    assert st.compile_seconds == pytest.approx(0.2) and 0.09 < st.seconds < 1.0


class _Terminal(io.StringIO):
    def isatty(self):
        return True


def test_steps_on_a_terminal_rewrite_one_line_with_an_eta():
    term, pipe = _Terminal(), io.StringIO()
    for stream in (term, pipe):
        progress.configure(True, stream=stream)
        try:
            with progress.stage("derating"):
                bar = progress.steps("derating", 4, "coupled solves")
                for _ in range(4):
                    bar.update()
        finally:
            progress.configure(False)
    assert "codesign: derating 2/4 coupled solves, ETA" in term.getvalue()
    assert term.getvalue().count("\r\x1b[K") >= 4 and term.getvalue().endswith(" s\n")
    assert re.fullmatch(r"codesign: derating [0-9.]+ s\n", pipe.getvalue())  # not a terminal: the stage line only


def test_a_stage_that_compiles_a_program_says_so_on_a_terminal_only():
    """A first run on a mesh size waits seconds to tens of seconds for its solver programs: the stage's line
    says so on a terminal (solvers._cache.announce, called when a program is traced and compiled); not on a
    pipe, not for a program made on another thread, not outside a stage."""
    import threading

    from solvers import _cache

    term, pipe = _Terminal(), io.StringIO()
    for stream in (term, pipe):
        progress.configure(True, stream=stream)
        try:
            _cache.announce("outside")
            with progress.stage("solve"):
                _cache.announce("steady")
                other = threading.Thread(target=_cache.announce, args=("beside",))
                other.start()
                other.join()
        finally:
            progress.configure(False)
    assert "codesign: solve ... compiling 'steady' (once per mesh size, then cached)" in term.getvalue()
    assert "outside" not in term.getvalue() and "beside" not in term.getvalue()
    assert re.fullmatch(r"codesign: solve [0-9.]+ s\n", pipe.getvalue())
    _cache.announce("steady")  # progress off: nothing written, nothing raised


def test_programs_are_announced_when_traced_not_when_loaded(tmp_path, monkeypatch):
    """solvers._jit tells solvers._cache.LISTENERS of each program it traces and compiles, in the thread that
    makes it, and of none it loads from the per-user cache."""
    import jax.numpy as jnp
    import numpy as np

    from solvers import _cache, _jit

    heard = []
    monkeypatch.setattr(_cache, "LISTENERS", [heard.append])
    monkeypatch.setenv(_cache.ENV, str(tmp_path))

    def twice(x, k):
        return 2 * x + k

    f = _jit.jitted("test_announce_twice", twice, ("k",))
    x = np.arange(5.0)
    assert np.allclose(f(x, k=1), 2 * x + 1) and heard == ["test_announce_twice"]
    assert np.allclose(f(x, k=1), 2 * x + 1) and heard == ["test_announce_twice"]  # made once per process
    _jit.JIT_CACHE.pop(("test_announce_twice",))
    g = _jit.jitted("test_announce_twice", twice, ("k",))   # as a new process would: from the cache folder
    loaded = _cache.stats()["loaded"]
    assert np.allclose(g(jnp.asarray(x), k=1), 2 * x + 1)
    assert _cache.stats()["loaded"] == loaded + 1 and heard == ["test_announce_twice"]


def test_the_estimate_says_when_it_waits_for_its_coarse_programs_to_compile():
    """``accuracy.Started.result`` in the main thread, while its thread still compiles (it traced a program):
    the estimate's line says so on a terminal; once the thread is done, nothing is added."""
    import threading

    from codesign import accuracy
    from solvers import _cache

    def started(done: bool):
        s = accuracy.Started.__new__(accuracy.Started)
        s._done, s._result, s._error = threading.Event(), "grids", None
        s._counts = dict(_cache.zeroed(), traced=0 if done else 1)  # its thread traced a program, still compiling
        if done:
            s._done.set()
        else:
            threading.Timer(0.05, s._done.set).start()
        return s

    for done, expected in ((False, True), (True, False)):
        term = _Terminal()
        progress.configure(True, stream=term)
        try:
            with progress.stage("accuracy estimate"):
                assert started(done).result() == "grids"
        finally:
            progress.configure(False)
        said = "accuracy estimate ... compiling the coarse grids' programs (once per mesh size, then cached)"
        assert (said in term.getvalue()) is expected, term.getvalue()
