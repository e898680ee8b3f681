"""``python -m codesign.cli``: the same as the ``codesign`` console script."""

from .main import console

console()
