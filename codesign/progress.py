"""Progress of long work on stderr, the same way on every command.

Every stage of a job (load, links, mesh, solve, derating, writing, ...) ends with one line::

    codesign: solve 1.21 s
    codesign: compile 2.35 s (solver programs: 2 loaded from the cache, 0 traced)

Getting solver programs ready (tracing or loading them, compiling them) is reported on its own
``compile`` line and is not part of the stage's time, so "solve" is the solve. On a terminal a
stage also shows what it is doing while it runs (``codesign: solve ... compiling 'steady' (once
per mesh size, then cached)`` while a first run compiles a solver program, :func:`compiling`),
and step loops (:func:`steps`: fixed-point iterations, derating evaluations, candidates) show
``k/total`` and an ETA on that line, rewritten in place; when stderr is not a terminal only the
one line per stage is written. This follows the
line ``codesign sweep`` prints (the standard library is all it needs).

The command line switches it on (``-q``/``--quiet``, or the environment variable
``CODESIGN_QUIET=1``, keeps it off); in Python it is off unless :func:`configure` switches it on. Stage times are measured either way (:class:`Stage.seconds`).
"""

from __future__ import annotations

import math
import os
import sys
import threading
import time

__all__ = ["QUIET_ENV", "Stage", "Steps", "compiling", "configure", "enabled", "quiet_from_environment", "stage",
           "steps"]

#: Environment variable that silences the command line's progress lines (as ``-q`` does).
QUIET_ENV = "CODESIGN_QUIET"

_STATE = {"enabled": False, "stream": None, "open": False, "stage": None}  # stage: the main thread's open stage


def configure(enabled: bool = True, stream=None) -> None:
    """Switch progress lines on or off; ``stream`` defaults to ``sys.stderr`` at the time of writing."""
    _STATE["enabled"] = bool(enabled)
    _STATE["stream"] = stream
    if enabled:
        from solvers import _cache  # light: no JAX import

        if _compiling not in _cache.LISTENERS:
            _cache.LISTENERS.append(_compiling)


def compiling(what: str) -> None:
    """On a terminal, the open stage's line says that it waits for ``what`` to compile: a first run on a
    mesh size waits seconds to tens of seconds for its solver programs, which the line would otherwise
    leave unexplained. Only in the main thread, inside a stage; nothing when progress is off."""
    if not (_STATE["enabled"] and _STATE["stage"]) or threading.current_thread() is not threading.main_thread():
        return
    # short: a line longer than the terminal wraps, and the next rewrite could not clear it
    _write(f"codesign: {_STATE['stage']} ... compiling {what} (once per mesh size, then cached)", transient=True)


def _compiling(name: str) -> None:
    """The listener of :func:`solvers._cache.announce`: a solver program is being traced and compiled."""
    compiling(repr(name))


def quiet_from_environment() -> bool:
    """Whether ``CODESIGN_QUIET`` asks for no progress lines (any value but empty, 0, no, false, off)."""
    return os.environ.get(QUIET_ENV, "").strip().lower() not in ("", "0", "no", "false", "off")


def enabled() -> bool:
    """Whether progress lines are written."""
    return _STATE["enabled"]


def _stream():
    return _STATE["stream"] if _STATE["stream"] is not None else sys.stderr


def _tty() -> bool:
    return bool(getattr(_stream(), "isatty", lambda: False)())


def _write(text: str, *, transient: bool = False) -> None:
    """A line (``transient``: a terminal-only line rewritten in place by the next write)."""
    if not _STATE["enabled"]:
        return
    tty = _tty()
    if transient and not tty:
        return
    out = _stream()
    clear = "\r\x1b[K" if tty and _STATE["open"] else ""
    out.write(f"{clear}{text}" + ("" if transient else "\n"))
    out.flush()
    _STATE["open"] = transient


def _compile_seconds() -> tuple[float, int, int]:
    """This thread's program counts (:func:`solvers._cache.stats`: a stage on a thread of its own that
    counts apart, such as ``codesign report``'s warpage, gives its own compile time)."""
    from solvers import _cache  # light: no JAX import

    counts = _cache.stats()
    return counts["compile_s"], counts["loaded"], counts["traced"]


def _clock(seconds: float) -> str:
    if not math.isfinite(seconds):
        return "?"
    seconds = int(round(seconds))
    return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}" if seconds >= 3600 else \
        f"{seconds // 60}:{seconds % 60:02d}"


class Stage:
    """One stage of a job; use as a context manager (see :func:`stage`).

    Attributes
    ----------
    seconds : float
        Wall time of the stage without the time spent getting solver programs ready.
    compile_seconds : float
        Time spent getting solver programs ready within the stage (trace or load, compile).
    """

    def __init__(self, what: str):
        self.what = what
        self.detail = ""
        self.seconds = 0.0
        self.compile_seconds = 0.0

    def note(self, detail: str) -> None:
        """Text added to the stage's line (e.g. iteration counts)."""
        self.detail = detail

    def __enter__(self) -> "Stage":
        self._t0 = time.perf_counter()
        self._c0 = _compile_seconds()
        self._main = threading.current_thread() is threading.main_thread()
        if self._main:
            self._outer, _STATE["stage"] = _STATE["stage"], self.what
        _write(f"codesign: {self.what} ...", transient=True)
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if self._main:
            _STATE["stage"] = self._outer
        total = time.perf_counter() - self._t0
        c1 = _compile_seconds()
        self.compile_seconds = c1[0] - self._c0[0]
        self.seconds = total - self.compile_seconds
        if exc_type is not None:
            if _STATE["open"]:
                _write(f"codesign: {self.what} stopped after {total:.2f} s")
            return
        if self.compile_seconds > 0.005:
            loaded, traced = c1[1] - self._c0[1], c1[2] - self._c0[2]
            _write(f"codesign: compile {self.compile_seconds:.2f} s (solver programs: {loaded} loaded from the "
                   f"cache, {traced} traced)")
        _write(f"codesign: {self.what} {self.seconds:.2f} s" + (f" ({self.detail})" if self.detail else ""))


def stage(what: str) -> Stage:
    """A stage of a job: ``with progress.stage("mesh") as st: ...`` writes its line at the end."""
    return Stage(what)


class Steps:
    """A loop of steps of one stage: ``update()`` after each writes ``k/total`` and an ETA (terminal only)."""

    def __init__(self, what: str, total: int | None = None, unit: str = "steps"):
        self.what, self.total, self.unit, self.done = what, total, unit, 0
        self._t0 = time.perf_counter()

    def update(self, n: int = 1, note: str = "") -> None:
        self.done += n
        if not _STATE["enabled"] or not _tty():
            return
        dt = time.perf_counter() - self._t0
        rate = self.done / dt if dt > 0 else float("nan")
        if self.total:
            left = max(self.total - self.done, 0)
            eta = left / rate if rate > 0 else float("nan")
            text = f"codesign: {self.what} {self.done}/{self.total} {self.unit}, ETA {_clock(eta)}"
        else:
            text = f"codesign: {self.what} {self.done} {self.unit}, {_clock(dt)} so far"
        _write(text + (f", {note}" if note else ""), transient=True)


def steps(what: str, total: int | None = None, unit: str = "steps") -> Steps:
    """Progress of a loop (``total`` None when open-ended, e.g. a fixed point or a root find)."""
    return Steps(what, total, unit)
