"""Parser, dispatch and the one error policy of the ``codesign`` command.

Each command is a module of this package with ``add_parser(subparsers)`` and ``execute(args) -> int``;
:func:`main` builds the parser from them, runs the chosen command and turns its errors into exit
statuses, the same for every command:

* 0 (:data:`EXIT_OK`): success;
* 1 (:data:`EXIT_ERROR`): a :class:`codesign.CodesignError` (bad input file, impossible request
  such as a mesh over the cell limit, failed solve, a missing optional extra), an
  :class:`OSError` (a file that cannot be read; an output that cannot be written, with what was
  kept: :class:`codesign._output.OutputError`) or running out of memory, printed as one
  ``TypeName: message`` on stderr, without a traceback;
* 2 (:data:`EXIT_USAGE`): a usage error (unknown flag, bad flag value), reported by argparse;
* 3 (:data:`EXIT_BUG`): any other exception, which is a bug: one line
  ``codesign: internal error: Type: message — this is a bug, please report it``; the traceback
  follows only with ``--debug`` or the environment variable ``CODESIGN_DEBUG=1``;
* 130: interrupted (Ctrl-C).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import traceback
import warnings

from ..errors import CodesignError
from . import check, layouts, links, mesh, optimize, partition, report, run, sweep
from . import warpage as warpage_command

__all__ = ["EXIT_BUG", "EXIT_ERROR", "EXIT_OK", "EXIT_USAGE", "build_parser", "console", "enable_x64", "main"]

EXIT_OK, EXIT_ERROR, EXIT_USAGE, EXIT_BUG = 0, 1, 2, 3
#: Environment variable that adds the traceback to an internal error (as ``--debug`` does).
DEBUG_ENV = "CODESIGN_DEBUG"

#: The commands in the order ``codesign --help`` lists them.
COMMANDS = (layouts, check, mesh, run, report, links, sweep, optimize, partition, warpage_command)


def version() -> str:
    """The installed chiplet-codesign version (the ``[project] version`` of pyproject.toml)."""
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as installed

    try:
        return installed("chiplet-codesign")
    except PackageNotFoundError:  # run from a source tree that is not installed
        return "unknown (not installed)"


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="codesign", description="Early design of chiplet-based 2.5D/3D packages.",
                                epilog="`codesign COMMAND --help` describes each command. Exit status: 0 ok, "
                                       "1 bad input, a failed analysis or an output that cannot be written, 2 usage "
                                       "error, 3 an internal error (a bug; --debug or CODESIGN_DEBUG=1 shows its "
                                       "traceback).")
    p.add_argument("--version", action="version", version=f"codesign (chiplet-codesign) {version()}",
                   help="print the version and exit")
    p.add_argument("--debug", action="store_true",
                   help=f"on an internal error, print the traceback too (same as {DEBUG_ENV}=1)")
    p.add_argument("-q", "--quiet", action="store_true",
                   help="no progress lines on stderr (stage times, compile time, iterations)")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in COMMANDS:
        command.add_parser(sub)
    for command_parser in sub.choices.values():  # -q also after the command: `codesign run demo -q`
        command_parser.add_argument("-q", "--quiet", action="store_true", default=argparse.SUPPRESS,
                                    help="no progress lines on stderr")
    return p


def enable_x64() -> None:
    """Entry points (not the library) switch JAX to float64 for reference-quality solves.

    They also keep compiled solver programs in a persistent cache, so that running the same
    layout (mesh) again skips XLA compilation (2.7M cells: first call 22 s -> 6 s, and the
    compiler's ~0.5 GB of memory). The cache is ``$CODESIGN_COMPILE_CACHE``, else
    ``$XDG_CACHE_HOME/chiplet-codesign/xla`` (``~/.cache/...``); ``CODESIGN_COMPILE_CACHE=off``
    switches it off. The traced solver programs are kept there too (:mod:`solvers._cache`), so a
    second run of the same mesh neither traces nor compiles them.
    """
    import jax

    from solvers import _cache

    jax.config.update("jax_enable_x64", True)
    _cache.enable_compilation_cache()  # the one place that decides the folder (the Python API uses it too)


def check_jax_platform() -> None:
    """When ``JAX_PLATFORMS`` names a platform, check that JAX can start it, before any work.

    JAX fails late and obscurely otherwise (``JAX_PLATFORMS=cuda`` without a CUDA device or
    ``jax[cuda]`` raises a bare ``AssertionError`` at the first solve). Without the variable JAX
    chooses the device itself and nothing is checked.
    """
    wanted = os.environ.get("JAX_PLATFORMS", "").strip()
    if not wanted:
        return
    import jax

    try:
        devices = jax.devices()
    except Exception as e:  # noqa: BLE001 - JAX raises RuntimeError or a bare AssertionError here
        detail = " ".join(str(e).split())[:200]
        raise CodesignError(
            f"JAX_PLATFORMS={wanted}: JAX cannot start that platform on this machine"
            + (f" ({type(e).__name__}: {detail})" if detail else "")
            + "; unset JAX_PLATFORMS to let JAX choose (the CPU works everywhere), or for 'cuda' install "
              "the CUDA build of JAX (pip install 'jax[cuda12]') on a machine with an NVIDIA GPU") from None
    if not devices:
        raise CodesignError(f"JAX_PLATFORMS={wanted}: JAX found no device; unset JAX_PLATFORMS")


def main(argv: list[str] | None = None) -> int:
    """Run ``codesign`` with ``argv`` (default: ``sys.argv[1:]``) and return the exit status.

    Usage errors raise :class:`SystemExit` with status 2 (argparse's own behaviour); every other
    outcome is returned (see the module docstring for the statuses).
    """
    args = build_parser().parse_args(argv)  # usage errors exit 2 here
    shown = warnings.formatwarning
    warnings.formatwarning = _plain_warning  # "warning: <message>", not a source line
    try:
        enable_x64()
        check_jax_platform()
        from .. import progress

        progress.configure(enabled=not (args.quiet or progress.quiet_from_environment()))
        return int(args.execute(args) or 0)
    except (CodesignError, OSError) as e:
        print(f"{type(e).__name__}: {e}", file=sys.stderr)
        return EXIT_ERROR
    except MemoryError:
        print(f"MemoryError: `codesign {args.command}` ran out of memory; coarsen the mesh (--max-lateral-size, "
              "--max-cells), narrow the search or sweep, or use a machine with more memory", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("codesign: interrupted", file=sys.stderr)
        return 130
    except Exception as e:  # noqa: BLE001 - the one place where an unexpected exception becomes a bug report
        message = " ".join(str(e).split())
        if len(message) > 300:
            message = message[:300] + "..."
        debug = args.debug or os.environ.get(DEBUG_ENV, "").strip().lower() not in ("", "0", "no", "false", "off")
        if debug:
            traceback.print_exc(file=sys.stderr)
        print(f"codesign: internal error: {type(e).__name__}: {message} — this is a bug, please report it"
              + ("" if debug else f" (run with --debug or {DEBUG_ENV}=1 for the traceback)"), file=sys.stderr)
        return EXIT_BUG
    finally:
        warnings.formatwarning = shown
        from .. import progress

        progress.configure(enabled=False)  # in-process callers (tests, scripts) get the library default back


def _plain_warning(message, category, filename, lineno, line=None) -> str:
    return f"warning: {message}\n"


class _ClosedPipeSafe:
    """Standard output that goes quiet when its reader has gone (``codesign run demo | head``).

    Without it the first print after ``head`` exits raised ``BrokenPipeError``, which stopped the
    command before it wrote its result files (``BrokenPipeError: [Errno 32] Broken pipe``, exit 1).
    Now the rest of the output is dropped and the command finishes its work and its files."""

    def __init__(self, stream):
        self._stream = stream
        self.reader_gone = False

    def write(self, text: str) -> int:
        if not self.reader_gone:
            try:
                return self._stream.write(text)
            except BrokenPipeError:
                self.reader_gone = True
        return len(text)

    def flush(self) -> None:
        if not self.reader_gone:
            try:
                self._stream.flush()
            except BrokenPipeError:
                self.reader_gone = True

    def __getattr__(self, name):
        return getattr(self._stream, name)


def console() -> None:
    """The ``codesign`` console script (and ``python -m codesign.cli``): :func:`main`, then a quick exit.

    After the work is done, an ordinary interpreter exit spends 0.26-0.38 s finalising: it tears
    down every module and XLA's client with its compiled programs and thread pools (measured on
    the 2-core machine: ``codesign run demo`` 2.64-2.70 -> 2.29-2.35 s, ``run h100_cowos_s``
    4.18-4.24 -> 3.96-4.02 s; benchmarks/RESULTS.md). None of it is needed once the outputs are
    written: the exit handlers still run (background threads are stopped and waited for, logging is
    flushed, JAX waits for its pending effects: ~0.03 s), the standard streams are flushed, and the
    process ends with :func:`os._exit`, the operating system reclaiming its memory. Usage errors and
    ``--help`` (argparse's :class:`SystemExit`) exit the ordinary way.
    """
    import atexit

    sys.stdout = _ClosedPipeSafe(sys.stdout)
    code = main()
    run_exit_handlers = getattr(atexit, "_run_exitfuncs", None)
    if run_exit_handlers is None:  # not CPython: the ordinary exit
        sys.exit(code)
    run_exit_handlers()
    for stream in (sys.stdout, sys.stderr):
        # a closed pipe (`codesign run ... | head`) or stream: nothing left to say
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
    os._exit(code)
