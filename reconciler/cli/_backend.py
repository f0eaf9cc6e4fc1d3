"""`--backend api|console` for `plan` and `apply`: which backend reaches each site.

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

from reconciler.backend import Backend, BackendKind, ReadBackend
from reconciler.backends import open_backend as factory
from reconciler.cli._common import DEFAULT_CONCURRENCY, client_config
from reconciler.model import Desired, Live
from reconciler.plan import Step

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
        help="Chromium to drive (default $BRIGHTBACK_BROWSER, else Playwright's own)",
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


class Routed:
    """One backend per kind from `reconciler.backends.open_backend`, created on first use;
    each site goes to its document's kind, else the run's `--backend`."""

    def __init__(self, args: argparse.Namespace, *, writes: bool) -> None:
        self._args = args
        self._writes = writes
        self._default = BackendKind(args.backend)
        self._made: dict[BackendKind, ReadBackend] = {}
        self.kind = self._default

    def prepare(self, sites: Sequence[Desired]) -> None:
        """Create every backend the sites need now, in this thread (the browser starts once)."""
        for kind in sorted({self.kind_of(d) for d in sites}):
            self._get(kind)

    def kind_of(self, desired: Desired) -> BackendKind:
        return desired.backend or self._default

    def _get(self, kind: BackendKind) -> ReadBackend:
        made = self._made.get(kind)
        if made is None:
            console = console_config(self._args) if kind is BackendKind.CONSOLE else None
            api = client_config(self._args)
            if self._writes:
                made = factory(kind, read_only=False, api=api, console=console)
            else:
                made = factory(kind, read_only=True, api=api, console=console)
            self._made[kind] = made
        return made

    def read(self, desired: Desired) -> Live:
        return self._get(self.kind_of(desired)).read(desired)

    def events(
        self, desired: Desired, *, since: int | None = None, limit: int = 10
    ) -> list[dict[str, Any]]:
        return self._get(self.kind_of(desired)).events(desired, since=since, limit=limit)

    def execute(
        self, desired: Desired, step: Step, *, expected_version: int, idempotency_key: str
    ) -> Live:
        backend = self._get(self.kind_of(desired))
        if not self._writes or not isinstance(backend, Backend):
            raise TypeError("a read-only run cannot execute steps")
        return backend.execute(
            desired, step, expected_version=expected_version, idempotency_key=idempotency_key
        )

    def close(self) -> None:
        for backend in self._made.values():
            backend.close()
        traces = getattr(self._made.get(BackendKind.CONSOLE), "traces", None)
        if traces:
            folder = traces[0].parent
            print(f"kept {len(traces)} Playwright trace file(s) in {folder}", file=sys.stderr)


def open_backend(args: argparse.Namespace, sites: Sequence[Desired], *, writes: bool) -> Routed:
    """The backend a front end hands the engine for `sites` (until the engine's factory)."""
    routed = Routed(args, writes=writes)
    routed.prepare(sites)
    return routed


__all__ = ["Routed", "add_backend_arguments", "console_config", "open_backend"]
