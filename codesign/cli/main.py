"""Parser, dispatch and the one error policy of the ``codesign`` command.

Each command is a module of this package with ``add_parser(subparsers)`` and ``execute(args) -> int``;
:func:`main` builds the parser from them, runs the chosen command and turns its errors into exit
statuses, the same for every command:

* 0: success;
* 1: a :class:`codesign.CodesignError` (bad input file, impossible request, failed solve, a
  missing optional extra) or an :class:`OSError` (a file that cannot be read or written),
  printed as one ``TypeName: message`` on stderr, without a traceback;
* 2: a usage error (unknown flag, bad flag value), reported by argparse.

Anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import argparse
import sys

from ..errors import CodesignError
from . import check, layouts, links, mesh, optimize, partition, report, run, sweep

__all__ = ["build_parser", "enable_x64", "main"]

#: The commands in the order ``codesign --help`` lists them.
COMMANDS = (layouts, check, mesh, run, report, links, sweep, optimize, partition)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="codesign", description="Early design of chiplet-based 2.5D/3D packages.",
                                epilog="`codesign COMMAND --help` describes each command. Exit status: 0 ok, "
                                       "1 bad input or a failed analysis, 2 usage error.")
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
    """Run ``codesign`` with ``argv`` (default: ``sys.argv[1:]``) and return the exit status."""
    args = build_parser().parse_args(argv)  # usage errors exit 2 here
    enable_x64()
    try:
        return int(args.execute(args) or 0)
    except (CodesignError, OSError) as e:
        print(f"{type(e).__name__}: {e}", file=sys.stderr)
        return 1
