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
