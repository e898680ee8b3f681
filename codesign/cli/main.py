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
import os
import sys
import traceback
import warnings

from ..errors import CodesignError
from . import check, layouts, links, mesh, optimize, partition, report, run, sweep

__all__ = ["EXIT_BUG", "EXIT_ERROR", "EXIT_OK", "EXIT_USAGE", "build_parser", "enable_x64", "main"]

EXIT_OK, EXIT_ERROR, EXIT_USAGE, EXIT_BUG = 0, 1, 2, 3
#: Environment variable that adds the traceback to an internal error (as ``--debug`` does).
DEBUG_ENV = "CODESIGN_DEBUG"

#: The commands in the order ``codesign --help`` lists them.
COMMANDS = (layouts, check, mesh, run, report, links, sweep, optimize, partition)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="codesign", description="Early design of chiplet-based 2.5D/3D packages.",
                                epilog="`codesign COMMAND --help` describes each command. Exit status: 0 ok, "
                                       "1 bad input, a failed analysis or an output that cannot be written, 2 usage "
                                       "error, 3 an internal error (a bug; --debug or CODESIGN_DEBUG=1 shows its "
                                       "traceback).")
    p.add_argument("--debug", action="store_true",
                   help=f"on an internal error, print the traceback too (same as {DEBUG_ENV}=1)")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in COMMANDS:
        command.add_parser(sub)
    return p


def enable_x64() -> None:
    """Entry points (not the library) switch JAX to float64 for reference-quality solves.

    They also keep compiled solver programs in a persistent cache, so that running the same
    layout (mesh) again skips XLA compilation (2.7M cells: first call 22 s -> 6 s, and the
    compiler's ~0.5 GB of memory). The cache is ``$CODESIGN_COMPILE_CACHE``, else
    ``$XDG_CACHE_HOME/chiplet-codesign/xla`` (``~/.cache/...``); ``CODESIGN_COMPILE_CACHE=off``
    switches it off.
    """
    import os

    import jax

    jax.config.update("jax_enable_x64", True)
    where = os.environ.get("CODESIGN_COMPILE_CACHE", "")
    if where.lower() in ("off", "0", "no", "false"):
        return
    if not where:
        base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
        where = os.path.join(base, "chiplet-codesign", "xla")
    try:
        os.makedirs(where, exist_ok=True)
    except OSError:  # read-only home: run without the cache
        return
    if not jax.config.jax_compilation_cache_dir:
        jax.config.update("jax_compilation_cache_dir", where)


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


def _plain_warning(message, category, filename, lineno, line=None) -> str:
    return f"warning: {message}\n"
