"""`python -m emulator ...`: the same as `brightback emulator ...`."""

from __future__ import annotations

import sys

from emulator.cli import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
