"""Compiled-program cache of the fast solvers, and release of the compiler's scratch memory.

Every jitted solver program is created once per process under a name (:func:`jitted`) and
takes the grid's coordinates as data (:class:`solvers.grid.GridGeometry`), so only node counts
are compiled in and meshes with equal counts share programs.
"""

from __future__ import annotations

import contextlib
import ctypes

import jax

__all__ = ["JIT_CACHE", "jitted"]

# name -> _TrimAfterCompile; tests read the compiled-program counts from here
JIT_CACHE: dict = {}


def jitted(name: str, fn, static) -> "_TrimAfterCompile":
    """The process-wide jitted version of ``fn`` stored under ``name``.

    Parameters
    ----------
    name : str
        Cache key; one program family per name (the first ``fn`` given under a name is kept).
    fn : callable
        The function to compile.
    static : tuple of str
        Its static keyword arguments.
    """
    key = (name,)
    f = JIT_CACHE.get(key)
    if f is None:
        f = _TrimAfterCompile(jax.jit(fn, static_argnames=static))
        JIT_CACHE[key] = f
    return f


def _release_compiler_memory() -> None:
    """Hand the memory the XLA compiler freed back to the operating system (glibc only).

    Compiling the solver programs allocates ~0.5-1 GB of small objects; glibc keeps the freed
    heap, so without this the process keeps that much on top of the solve's own arrays
    (measured at 2.7M cells: peak RSS 1.87 GB without, see benchmarks/RESULTS.md).
    """
    with contextlib.suppress(OSError, AttributeError):  # not glibc: nothing to release
        ctypes.CDLL("libc.so.6").malloc_trim(0)


class _TrimAfterCompile:
    """A jitted function that releases the compiler's scratch memory after each new compile."""

    def __init__(self, f):
        self._f = f

    def _cache_size(self) -> int:
        return self._f._cache_size()

    def __call__(self, *args, **kwargs):
        size = getattr(self._f, "_cache_size", lambda: None)
        before = size()
        out = self._f(*args, **kwargs)
        if before is not None and size() != before:
            _release_compiler_memory()
        return out
