"""``python -m codesign.cli``: the same as the ``codesign`` console script."""

import sys

from .main import main

sys.exit(main())
