"""The ``codesign`` command line: one thin module per command over the public API.

``main(argv) -> int`` returns the exit status: 0 success; 1 an input, model or solve error, an
output that cannot be written or running out of memory (printed as ``TypeName: message``, no
traceback); 2 a usage error (argparse); 3 an internal error, i.e. a bug (one line; the traceback
with ``--debug`` or ``CODESIGN_DEBUG=1``). See :mod:`codesign.cli.main`.
"""

from .main import main as main

__all__ = ["main"]
