"""The `console` backend: Chargebee's admin console driven in a real browser.

Chargebee has no public API for the Brightback integration settings; a person sets them
by following the help page click by click. This package does the same with Playwright and
Chromium, behind the engine's `Backend` seam (reconciler/backend.py). Playwright is an
optional extra: `pip install 'brightback-gitops[console]'`. Importing this package without
it raises `ConsoleUnavailable` with that instruction.
"""

from __future__ import annotations

from reconciler.errors import BrightbackError

INSTALL_HINT = (
    "the console backend needs Playwright: pip install 'brightback-gitops[console]' "
    "(then `playwright install chromium`, or point --browser-path / $BRIGHTBACK_BROWSER at "
    "a system Chromium)"
)


class ConsoleUnavailable(BrightbackError):
    """Playwright is not installed."""


try:
    import playwright  # noqa: F401
except ImportError as missing:  # pragma: no cover - exercised in a venv without the extra
    raise ConsoleUnavailable(INSTALL_HINT) from missing

from reconciler.console.backend import ConsoleBackend, ConsoleReader  # noqa: E402
from reconciler.console.browser import BrowserPool  # noqa: E402
from reconciler.console.config import ConsoleConfig  # noqa: E402

__all__ = [
    "INSTALL_HINT",
    "BrowserPool",
    "ConsoleBackend",
    "ConsoleConfig",
    "ConsoleReader",
    "ConsoleUnavailable",
]
