"""Compiled-program cache of the fast solvers, and release of the compiler's scratch memory.

Every jitted solver program is created once per process under a name (:func:`jitted`) and
takes the grid's coordinates as data (:class:`solvers.grid.GridGeometry`), so only node counts
are compiled in and meshes with equal counts share programs.

With the per-user cache on (the default, :mod:`solvers._cache`), each program is also traced only
once per machine: the first process exports it (:func:`jax.export.export`) and stores it, later
processes load it and only compile it (which JAX's persistent compilation cache then skips too).
The exported program is the same StableHLO that ``jax.jit`` lowers, so answers are the same.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import threading
import time

import jax

from . import _blas, _cache

__all__ = ["JIT_CACHE", "FAST_COMPILE", "QUICK_COMPILE", "compiling_with", "jitted"]

# name -> _TrimAfterCompile; tests read the compiled-program counts from here
JIT_CACHE: dict = {}
_LOCK = threading.Lock()
_LOCAL = threading.local()  # .options: the compiler options of compiling_with in this thread


@contextlib.contextmanager
def compiling_with(options: dict | None):
    """Programs made in this thread inside this block compile with ``options`` over their own (CPU only).

    A program made this way is another program than the same signature made without them (each is
    kept, in the process and in JAX's persistent cache, under its own options). ``None``: no change.
    Used by the accuracy estimate's coarse grids (:data:`QUICK_COMPILE`).
    """
    before = getattr(_LOCAL, "options", None)
    _LOCAL.options = before if options is None else {**(before or {}), **options}
    try:
        yield
    finally:
        _LOCAL.options = before

#: XLA options for a program that runs once per solve and compiles slowly: without XLA:CPU's (MLIR)
#: fusion emitters the older emitters compile the multigrid set-up 30-40 % faster (2.7M cells:
#: 8.0 -> 5.5 s; 614k: 5.4 -> 3.7-4.2 s; the demo: 4.8 -> 3.0 s) and it runs as fast (2.7M: 0.52-0.60 ->
#: 0.52-0.54 s; 614k: 0.19-0.27 -> 0.16 s), to the same bits (benchmarks/RESULTS.md, "XLA:CPU fusion
#: emitters"). Not for the solve programs: they run 3-25 % slower without them. CPU only (the option
#: names XLA:CPU).
FAST_COMPILE = {"xla_cpu_use_fusion_emitters": False}

#: XLA options for auxiliary programs whose compile costs more than their run (the coarse grids of
#: the accuracy estimate, :mod:`codesign.accuracy`: each compiles as slowly as the model's own
#: programs, whatever its size, and runs in ~0.1 s beside it): LLVM at level 1 without its expensive
#: passes, and without the fusion emitters. Measured (benchmarks/RESULTS.md, "The accuracy estimate's
#: coarse grids"): a cold ``codesign run`` 22.8 -> 18.6 s (demo), 28.3 -> 21.8 s (ponte_vecchio), 29.0 -> 23.5 s
#: (b200_cowos_l); the warm estimate as fast (0.36-0.44 against 0.37-0.41 s on ponte_vecchio). Level 0
#: compiles faster still but made the warm estimate 3-4x slower (ponte_vecchio's warm run 3.2 -> 4.3 s).
QUICK_COMPILE = {"xla_backend_optimization_level": 1, "xla_cpu_use_fusion_emitters": False,
                 "xla_llvm_disable_expensive_passes": True}


def _options(compiler_options):
    """``compiler_options`` where the default backend is the CPU, else None (they name XLA:CPU options),
    less those the environment's ``XLA_FLAGS`` set (the user's, or the test suite's, choice wins)."""
    if not compiler_options:
        return None
    try:
        if jax.default_backend() != "cpu":
            return None
    except RuntimeError:  # no backend could be initialised: the compile will say why
        return None
    flags = os.environ.get("XLA_FLAGS", "")
    kept = {k: v for k, v in compiler_options.items() if f"--{k}=" not in flags and f"--{k} " not in f"{flags} "}
    return kept or None


def jitted(name: str, fn, static, *, compiler_options: dict | None = None) -> "_TrimAfterCompile":
    """The process-wide jitted version of ``fn`` stored under ``name``.

    Parameters
    ----------
    name : str
        Cache key; one program family per name (the first ``fn`` given under a name is kept).
    fn : callable
        The function to compile.
    static : tuple of str
        Its static keyword arguments.
    compiler_options : dict, optional
        XLA options of its compiles on the CPU (e.g. :data:`FAST_COMPILE`); the first given under a
        name is kept.
    """
    key = (name,)
    f = JIT_CACHE.get(key)
    if f is None:
        _blas.limit()  # one BLAS thread for the programs' small dense kernels (solvers/_blas.py)
        with _LOCK:  # two threads asking for a new name at once get one object
            f = JIT_CACHE.get(key)
            if f is None:
                options = _options(compiler_options)
                f = _TrimAfterCompile(jax.jit(fn, static_argnames=static, compiler_options=options), name=name,
                                      fn=fn, static=tuple(static), compiler_options=options)
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
    """A jitted function, compiled ahead of time once per input signature, with its compile time measured.

    Each distinct signature (static arguments, input structure, shapes, dtypes) gets one program:
    loaded from the per-user cache or traced now (and exported to the cache when it is on), then
    compiled (:meth:`jax.stages.Lowered.compile`, which JAX's persistent cache may skip). The time
    spent getting a program ready is added to ``_cache.stats()["compile_s"]`` (the solvers report it
    apart from the solve), and the compiler's scratch memory is released after each new program.
    ``_cache_size`` counts the programs of this name in the process.
    """

    def __init__(self, f, *, name: str = "", fn=None, static: tuple = (), compiler_options: dict | None = None):
        self._f = f  # the plain jax.jit, for a signature that cannot be compiled ahead of time
        self._name = name
        self._fn = fn
        self._static = static
        self._options = compiler_options
        self._programs: dict = {}  # signature -> (compiled, out_tree), or None: use the plain jit

    def _cache_size(self) -> int:
        return self._f._cache_size() + sum(p is not None for p in self._programs.values())

    def __call__(self, *args, **kwargs):
        if self._fn is not None:
            static = {k: v for k, v in kwargs.items() if k in self._static}
            dynamic = {k: v for k, v in kwargs.items() if k not in self._static}
            leaves, in_tree = jax.tree_util.tree_flatten((args, dynamic))
            try:
                avals = [jax.typeof(x) for x in leaves]
            except TypeError:  # a leaf that is not an array: the plain jit handles it
                avals = None
            if avals is not None and not any(isinstance(x, jax.core.Tracer) for x in leaves):
                extra = _options(getattr(_LOCAL, "options", None))
                signature = (tuple(sorted((k, repr(v)) for k, v in static.items())), in_tree,
                             tuple((a.shape, a.dtype, a.weak_type) for a in avals),
                             tuple(sorted((extra or {}).items())))
                if signature not in self._programs:
                    t0 = time.perf_counter()
                    self._programs[signature] = self._program(static, in_tree, avals, extra)
                    _cache.count("compile_s", time.perf_counter() - t0)
                    _release_compiler_memory()
                program = self._programs[signature]
                if program is not None:
                    compiled, out_tree = program
                    return jax.tree_util.tree_unflatten(out_tree, compiled(*leaves))
        size = getattr(self._f, "_cache_size", lambda: None)
        before = size()
        out = self._f(*args, **kwargs)
        if before is not None and size() != before:
            _release_compiler_memory()
        return out

    def _program(self, static: dict, in_tree, avals, extra: dict | None = None):
        """``(compiled, out_tree)`` for one signature: from the cache, or traced (and exported) now.

        ``extra``: compiler options over this function's own (:func:`compiling_with`); the exported
        program does not depend on them, the compiled one does (JAX's persistent cache keys it by them).
        """
        fn = self._fn
        box = {}

        def flat(*leaves):
            a, kw = jax.tree_util.tree_unflatten(in_tree, leaves)
            out_leaves, box["out_tree"] = jax.tree_util.tree_flatten(fn(*a, **kw, **static))
            return out_leaves

        specs = [jax.ShapeDtypeStruct(a.shape, a.dtype, weak_type=a.weak_type) for a in avals]
        options = {**(self._options or {}), **extra} if extra else self._options
        try:
            if _cache.cache_dir() is None:
                _cache.count("traced")
                _cache.announce(self._name)
                return jax.jit(flat).lower(*specs).compile(options), box["out_tree"]
            _cache.enable_compilation_cache()
            key = _cache.program_key(self._name, static, in_tree, avals, getattr(self._fn, "__module__", "") or "")
            hit = _cache.load(key)
            if hit is not None:
                _cache.count("loaded")
                exported, out_tree = hit
            else:
                _cache.announce(self._name)
                try:
                    exported = jax.export.export(jax.jit(flat))(*specs)
                except Exception:  # noqa: BLE001 - not exportable (e.g. a host callback): traced every process
                    _cache.count("unexportable")
                    _cache.count("traced")
                    return jax.jit(flat).lower(*specs).compile(options), box["out_tree"]
                _cache.count("traced")
                out_tree = box["out_tree"]
                _cache.store(key, exported, out_tree)
            return jax.jit(exported.call).lower(*specs).compile(options), out_tree
        except Exception:  # noqa: BLE001 - anything ahead-of-time cannot take: the plain jit decides (and raises)
            return None


