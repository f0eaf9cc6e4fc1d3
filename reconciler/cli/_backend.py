"""`--backend api|console` for `plan`, `apply`, `reconcile` and `export`: which backend
reaches each site.

A document's `spec.backend` wins; otherwise the run's `--backend` (default `api`). The
console backend is created only when some site needs it, so `plan` over API-only sites
never imports Playwright; and when Playwright is missing, the error says how to install it.
`plan` gets read-only backends by construction (`ReadOnlyClient`, and a console reader with
no `execute`).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from reconciler.backend import BackendKind
from reconciler.backends import RoutedBackend
from reconciler.cli._common import DEFAULT_CONCURRENCY, client_config
from reconciler.model import Desired

CONSOLE_DEFAULT_CONTEXTS = 4


def add_backend_arguments(parser: argparse.ArgumentParser, *, state_dir: bool = True) -> None:
    group = parser.add_argument_group("backend (how sites are reached)")
    group.add_argument(
        "--backend",
        choices=[k.value for k in BackendKind],
        default=BackendKind.API.value,
        help="api: HTTP with each site's API key (default); console: Chargebee's admin console "
        "in a browser (needs `brightback login --site S` first); spec.backend overrides",
    )
    group.add_argument(
        "--console-url",
        metavar="TEMPLATE",
        help="console URL template with {site} (default $BRIGHTBACK_CONSOLE_URL, else "
        "https://{site}.chargebee.com)",
    )
    group.add_argument(
        "--browser-path",
        metavar="PATH",
        help="Chromium to drive (default $BRIGHTBACK_BROWSER, else Playwright's own, else "
        "the system's chromium-headless-shell or chromium)",
    )
    group.add_argument(
        "--trace",
        action="store_true",
        help="console: keep a Playwright trace of every site operation under the state dir",
    )
    if state_dir:
        group.add_argument(
            "--state-dir",
            type=Path,
            default=Path(".brightback"),
            help="console sessions, evidence and traces live under DIR/console "
            "(default .brightback)",
        )


def console_config(args: argparse.Namespace) -> Any:
    """The console's configuration from the command line (imports Playwright's side)."""
    from reconciler.console import ConsoleConfig  # ConsoleUnavailable says how to install

    contexts = args.concurrency
    if contexts == DEFAULT_CONCURRENCY:  # not given: the browser's own default
        contexts = CONSOLE_DEFAULT_CONTEXTS
    return ConsoleConfig.from_env(
        args.console_url,
        state_dir=args.state_dir,
        browser_path=args.browser_path,
        concurrency=contexts,
        trace=args.trace,
    )


class Routed(RoutedBackend):
    """`reconciler.backends.RoutedBackend` with its options from the command line; on
    close it says where the Playwright traces of a `--trace` run were kept."""

    def __init__(self, args: argparse.Namespace, *, writes: bool) -> None:
        super().__init__(
            args.backend,
            writes=writes,
            api=client_config(args),
            console=lambda: console_config(args),
        )

    def close(self) -> None:
        super().close()
        traces = getattr(self.opened().get(BackendKind.CONSOLE), "traces", None)
        if traces:
            folder = traces[0].parent
            print(f"kept {len(traces)} Playwright trace file(s) in {folder}", file=sys.stderr)


def open_backend(args: argparse.Namespace, sites: Sequence[Desired], *, writes: bool) -> Routed:
    """The backend a front end hands the engine for `sites` (until the engine's factory)."""
    routed = Routed(args, writes=writes)
    routed.prepare(list(sites))
    return routed


__all__ = ["Routed", "add_backend_arguments", "console_config", "open_backend"]
