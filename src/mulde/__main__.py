"""`python -m mulde ...`: the `mulde` command (`mulde.cli.main`)."""

import sys

from mulde.cli import main

if __name__ == "__main__":
    sys.exit(main())
