"""``python -m seekapi``: the seekapi command line (see :mod:`seekapi.cli`)."""

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
