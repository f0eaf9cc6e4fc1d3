"""`python -m reconciler.cli` runs the `brightback` command."""

import sys

from reconciler.cli import main

sys.exit(main())
