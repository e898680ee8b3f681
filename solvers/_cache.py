"""The per-user program cache: solver programs traced once per machine, not once per process.

JAX's persistent compilation cache skips XLA's compile of a program seen before, but not JAX's
tracing and lowering of it, which is most of a warm first solve (demo layout: ~4.5 s of 6.6 s; a
655k-cell stack: ~9 s). This module keeps the traced and lowered programs themselves,
serialised with :mod:`jax.export`, next to JAX's compiled ones, so that a second process (another
``codesign`` command, a fresh notebook kernel) loads them instead of tracing again.

Where: ``$CODESIGN_COMPILE_CACHE`` if set, else ``$XDG_CACHE_HOME/chiplet-codesign/xla``
(``~/.cache/chiplet-codesign/xla``); XLA's compiled programs lie in that folder (JAX's own files),
the exported programs in its ``programs/`` subfolder. ``CODESIGN_COMPILE_CACHE=off`` (or ``0``,
``no``, ``false``) switches both off.

An entry is keyed by everything that shapes the program: its name and static arguments, the
structure, shapes and dtypes of its inputs, the JAX and jaxlib versions, the backend and device
kind, the x64 flag, and a hash of the ``solvers`` source it is traced from (a program from an
edited solver is never reused). Entries are written whole (a temporary file renamed into place, so
concurrent processes never read half an entry), a corrupt or unreadable entry is deleted and
rebuilt, and the folder is kept under :data:`MAX_BYTES` (oldest used entries deleted first).

:data:`STATS` counts, per process, what the cache did (tests read it).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import pickle
import tempfile
import threading
import time
from pathlib import Path

__all__ = ["BACKGROUND", "ENV", "LISTENERS", "MAX_BYTES", "STATS", "add_parallel", "announce", "background",
           "cache_dir", "count", "counting", "enable_compilation_cache", "load", "program_key", "stats", "store",
           "zeroed"]

#: Environment variable naming the cache folder, or ``off``.
ENV = "CODESIGN_COMPILE_CACHE"
#: Size bound of the cache folder (exported and compiled programs together), bytes.
MAX_BYTES = int(float(os.environ.get("CODESIGN_COMPILE_CACHE_MAX_MB", "2048")) * 2**20)
_OFF = ("off", "0", "no", "false")
_FORMAT = b"codesign-program-1\n"

#: What the cache did in this process: programs traced (and exported when the cache is on,
#: ``traced``), loaded from disk (``loaded``), written (``written``), entries found corrupt or stale and deleted
#: (``dropped``), programs that could not be exported and ran as plain ``jax.jit`` (``unexportable``).
#: ``compile_s`` is the wall time spent getting programs ready (trace or load, lower, compile).
STATS = {"traced": 0, "loaded": 0, "written": 0, "dropped": 0, "unexportable": 0, "compile_s": 0.0}
#: The same counts for the programs made in background threads (:func:`background`): the solve stages of
#: the main thread report their own compile time, not that of work running beside them.
BACKGROUND = dict.fromkeys(STATS, 0)
BACKGROUND["compile_s"] = 0.0
_LOCAL = threading.local()
_LOCK = threading.Lock()
#: Callables ``f(name)`` told, in the thread that makes it, that the program ``name`` was not in the
#: cache and is being traced and compiled now (seconds to tens of seconds on a CPU), e.g. so that a
#: progress line can say why a stage waits (:mod:`codesign.progress`).
LISTENERS: list = []


def announce(name: str) -> None:
    """Tell :data:`LISTENERS` that the program ``name`` is being traced and compiled now."""
    for listener in tuple(LISTENERS):
        listener(name)


def stats() -> dict:
    """The counts of this thread: the dict of the innermost :func:`counting` (:data:`BACKGROUND`
    inside :func:`background`), else :data:`STATS`."""
    into = getattr(_LOCAL, "into", None)
    return STATS if into is None else into


def count(key: str, amount=1) -> None:
    """Add ``amount`` to this thread's count ``key`` (thread-safe)."""
    with _LOCK:
        stats()[key] += amount


@contextlib.contextmanager
def counting(into: dict):
    """Count the programs made in this thread, inside this block, in ``into`` (a dict with the keys of
    :data:`STATS`, e.g. ``dict(STATS, compile_s=0.0)`` zeroed): for work split over threads whose
    compile times overlap, which the caller merges (:func:`add`)."""
    before = getattr(_LOCAL, "into", None)
    _LOCAL.into = into
    try:
        yield into
    finally:
        _LOCAL.into = before


def background():
    """Count the programs made in this thread, inside this block, in :data:`BACKGROUND`."""
    return counting(BACKGROUND)


def zeroed() -> dict:
    """Counts of nothing yet, with the keys of :data:`STATS` (for :func:`counting`)."""
    return {k: 0.0 if k == "compile_s" else 0 for k in STATS}


def add_parallel(counts: list) -> None:
    """Add to this thread's counts those of threads that ran at the same time (each from
    :func:`counting`): programs add up; their compile times overlapped, so the wall time spent
    compiling is taken as the longest of them (a sum would exceed the wall time of the work)."""
    for key in STATS:
        values = [c[key] for c in counts]
        count(key, max(values) if key == "compile_s" else sum(values))


def cache_dir() -> Path | None:
    """The cache folder, or ``None`` when switched off (``CODESIGN_COMPILE_CACHE=off``)."""
    where = os.environ.get(ENV, "").strip()
    if where.lower() in _OFF:
        return None
    if not where:
        base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
        where = os.path.join(base, "chiplet-codesign", "xla")
    return Path(where)


def _programs_dir() -> Path | None:
    root = cache_dir()
    if root is None:
        return None
    path = root / "programs"
    try:
        path.mkdir(parents=True, exist_ok=True, mode=0o700)
    except OSError:  # read-only home: run without the cache
        return None
    return path


def enable_compilation_cache() -> str | None:
    """Point JAX's persistent compilation cache at :func:`cache_dir` unless it is off or set already.

    Returns the folder in use (``None`` when off or not writable). Called by the entry points and
    by the first solver program of a process (so the Python API shares the cache); a folder the
    user gave JAX themselves is left alone. When it sets the folder it also lowers JAX's
    ``jax_persistent_cache_min_compile_time_secs`` from 1 s to 0.1 s (unless the user set it) and
    prunes the folder to :data:`MAX_BYTES`.
    """
    import jax

    root = cache_dir()
    if root is None:
        return None
    if jax.config.jax_compilation_cache_dir:
        return jax.config.jax_compilation_cache_dir
    try:
        root.mkdir(parents=True, exist_ok=True, mode=0o700)
    except OSError:  # read-only home: run without the cache
        return None
    jax.config.update("jax_compilation_cache_dir", str(root))
    if (jax.config.jax_persistent_cache_min_compile_time_secs == 1.0
            and "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS" not in os.environ):
        # JAX's default keeps only programs that took over 1 s to compile; the smaller solver
        # programs (coarse meshes, 0.2-1 s) are worth keeping too: a warm run is seconds long
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.1)
    prune(root)  # once per process: JAX's files grow without us too
    return str(root)


#: Modules of :mod:`solvers` that no cached thermal program traces: their edits keep the cache.
#: (A module that defines its own programs, such as ``elasticity``, is hashed into its programs' keys.)
_NOT_TRACED = ("analytic.py", "reference.py", "elasticity.py")
_SOURCE_HASHES: dict = {}


def _source_hash(module: str = "") -> str:
    """sha256 of the source the programs are traced from (an edit there gives new keys).

    Every ``solvers/*.py`` except :data:`_NOT_TRACED`, plus ``module``'s file (the module that
    defines the program) when it is one of those.
    """
    if module not in _SOURCE_HASHES:
        here = Path(__file__).parent
        own = module.rpartition(".")[2] + ".py"
        h = hashlib.sha256()
        for path in sorted(here.glob("*.py")):
            if path.name in _NOT_TRACED and path.name != own:
                continue
            h.update(path.name.encode())
            h.update(path.read_bytes())
        _SOURCE_HASHES[module] = h.hexdigest()
    return _SOURCE_HASHES[module]


def program_key(name: str, static: dict, in_tree, avals, module: str = "") -> str:
    """The cache key of one program (a hex digest; see the module docstring for what it holds)."""
    import jax
    import jaxlib

    device = jax.devices()[0]
    material = repr((
        "v1", name, sorted((k, repr(v)) for k, v in static.items()), str(in_tree),
        tuple((tuple(a.shape), str(a.dtype), bool(getattr(a, "weak_type", False))) for a in avals),
        jax.__version__, jaxlib.__version__, device.platform, getattr(device, "device_kind", ""),
        bool(jax.config.jax_enable_x64), _source_hash(module),
    ))
    return hashlib.sha256(material.encode()).hexdigest()


def load(key: str):
    """The ``(exported, out_tree)`` stored under ``key``, or ``None``; a bad entry is deleted."""
    folder = _programs_dir()
    if folder is None:
        return None
    path = folder / f"{key}.bin"
    try:
        data = path.read_bytes()
    except OSError:
        return None
    try:
        import jax

        if not data.startswith(_FORMAT):
            raise ValueError("not a codesign program entry")
        stored_key, out_tree, blob = pickle.loads(data[len(_FORMAT):])
        if stored_key != key:
            raise ValueError("key mismatch")
        exported = jax.export.deserialize(bytearray(blob))
    except Exception:  # noqa: BLE001 - any damage (truncated, other JAX version, garbage): rebuild
        count("dropped")
        with contextlib.suppress(OSError):
            path.unlink()
        return None
    with contextlib.suppress(OSError):
        os.utime(path)  # most recently used: pruned last
    return exported, out_tree


def store(key: str, exported, out_tree) -> None:
    """Write an entry whole (temporary file, then rename), then keep the folder under :data:`MAX_BYTES`."""
    folder = _programs_dir()
    if folder is None:
        return
    try:
        blob = bytes(exported.serialize())
        data = _FORMAT + pickle.dumps((key, out_tree, blob), protocol=pickle.HIGHEST_PROTOCOL)
    except Exception:  # noqa: BLE001 - a program that cannot be serialised simply is not cached
        return
    try:
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-", suffix=".bin")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            os.replace(tmp, folder / f"{key}.bin")
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
    except OSError:  # full disk, read-only folder: run on without caching
        return
    count("written")
    prune(folder.parent)


def prune(root: Path, max_bytes: int | None = None) -> int:
    """Delete the least recently used files under ``root`` until it holds at most ``max_bytes``.

    Covers the exported programs and JAX's compiled ones (``*-cache`` with their ``*-atime``).
    Returns the number of files deleted. Temporary files of a writer younger than an hour are kept.
    """
    max_bytes = MAX_BYTES if max_bytes is None else max_bytes
    entries = []
    total = 0
    now = time.time()
    for path in [*root.glob("*-cache"), *root.glob("programs/*.bin")]:
        with contextlib.suppress(OSError):
            st = path.stat()
            if path.name.startswith(".tmp-") and now - st.st_mtime < 3600:
                total += st.st_size
                continue
            atime = st.st_mtime
            stamp = path.with_name(path.name.removesuffix("-cache") + "-atime")
            if path.name.endswith("-cache") and stamp.exists():
                atime = max(atime, stamp.stat().st_mtime)
            entries.append((atime, st.st_size, path))
            total += st.st_size
    deleted = 0
    for _, size, path in sorted(entries):
        if total <= max_bytes:
            break
        with contextlib.suppress(OSError):
            path.unlink()
            total -= size
            deleted += 1
            if path.name.endswith("-cache"):
                path.with_name(path.name.removesuffix("-cache") + "-atime").unlink(missing_ok=True)
    return deleted
