"""The ``codesign`` command line: one thin module per command over the public API.

``main(argv) -> int`` returns the exit status: 0 success, 1 an input, model or solve error
(printed as ``TypeName: message``, no traceback), 2 a usage error (argparse). See
:mod:`codesign.cli.main`.
"""

from .main import main as main

__all__ = ["main"]
