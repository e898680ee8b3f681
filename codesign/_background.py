"""Background threads that end cleanly when the process exits.

The command line and :func:`codesign.analyse` get programs ready on daemon threads beside the main
solve (:func:`codesign.accuracy.start`, the report's warpage programs). A daemon thread that is still
inside XLA (compiling or loading a program) when Python finalises aborts the whole process
("terminate called after throwing an instance of ''", exit status 134), which turned a clean
error exit (a bad input found by the solve, Ctrl-C) into a crash. Threads started here are asked to
stop (:attr:`Background.cancelled`, which their work checks between steps) and waited for at exit,
so the process exits with its own status once the step in progress ends.
"""

from __future__ import annotations

import atexit
import threading
import weakref

__all__ = ["Background"]

_LIVE: weakref.WeakSet = weakref.WeakSet()


class Background:
    """``target()`` on a daemon thread named ``name``, from :meth:`start`; at exit it is cancelled
    and waited for. ``target`` should return early once :attr:`cancelled` is set (checked between
    its steps)."""

    def __init__(self, target, *, name: str):
        self.cancelled = threading.Event()
        self.thread = threading.Thread(target=target, name=name, daemon=True)

    def start(self) -> "Background":
        _LIVE.add(self)
        self.thread.start()
        return self


@atexit.register
def _finish() -> None:
    """Ask every live background thread to stop, then wait for each (atexit runs before finalisation)."""
    live = list(_LIVE)
    for b in live:
        b.cancelled.set()
    for b in live:
        if b.thread is not threading.current_thread():
            b.thread.join()
