"""Open the backend a command asked for: the one place a front end gets a `Backend`.

Every front end (`plan`, `apply`, `reconcile`, `export`, the Pulumi provider) calls
`open_backend` and hands the result to `reconciler.engine`; none of them constructs a
concrete backend. A new way of reaching Chargebee (the browser-driven `console` backend)
is one more branch here and one more option set, nothing else.

`read_only=True` gives a `ReadBackend` that cannot write by construction (for `api`, the
`ReadOnlyClient`, whose transport refuses anything but GET).

`RoutedBackend` is what a run over a fleet hands the engine: each site goes to its
document's `spec.backend`, else the run's `--backend`, and each kind is opened on first
use, so a run over API-only sites never starts a browser or imports Playwright.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Literal, TypeVar, overload

from reconciler import hub as hubs
from reconciler.backend import Backend, BackendKind, Prober, ReadBackend
from reconciler.client import Client, ClientConfig, ClientStats, KeySource, ReadOnlyClient
from reconciler.errors import ApiError, BrightbackError

if TYPE_CHECKING:
    from reconciler.console import ConsoleConfig
    from reconciler.model import Desired, Live
    from reconciler.plan import Step

T = TypeVar("T")


@overload
def open_backend(
    kind: BackendKind | str = ...,
    *,
    read_only: Literal[True],
    api: ClientConfig | None = ...,
    stats: ClientStats | None = ...,
    key_source: KeySource | None = ...,
    sleep: Callable[[float], None] | None = ...,
    console: ConsoleConfig | None = ...,
) -> ReadBackend: ...


@overload
def open_backend(
    kind: BackendKind | str = ...,
    *,
    read_only: Literal[False],
    api: ClientConfig | None = ...,
    stats: ClientStats | None = ...,
    key_source: KeySource | None = ...,
    sleep: Callable[[float], None] | None = ...,
    console: ConsoleConfig | None = ...,
) -> Backend: ...


def open_backend(
    kind: BackendKind | str = BackendKind.API,
    *,
    read_only: bool,
    api: ClientConfig | None = None,
    stats: ClientStats | None = None,
    key_source: KeySource | None = None,
    sleep: Callable[[float], None] | None = None,
    console: ConsoleConfig | None = None,
) -> ReadBackend | Backend:
    """A backend of `kind`; the caller closes it (`with contextlib.closing(...)`).

    `api`: where and how to reach the HTTP API; `stats`: request counters for metrics;
    `key_source`: where keys come from when not from the spec (Pulumi's secret config);
    `sleep`: how retries wait (the fleet's pass deadline cuts a wait short);
    `console`: where the admin console is, sessions, browser (the `console` backend; needs
    Playwright, `pip install 'brightback-gitops[console]'`, else `ConsoleUnavailable`).
    The console backend also gets a read-only API client for Chargebee's public event feed
    (`api`, `key_source`): writes go through the pages, and a site with an API key still
    says who changed it (docs/console-backend.md).
    """
    chosen = BackendKind(kind)
    if chosen is BackendKind.API:
        client_class = ReadOnlyClient if read_only else Client
        if sleep is None:
            return client_class(api, stats=stats, key_source=key_source)
        return client_class(api, stats=stats, key_source=key_source, sleep=sleep)
    if chosen is BackendKind.CONSOLE:
        from reconciler.console import ConsoleBackend, ConsoleReader  # says how to install

        feed = ReadOnlyClient(api, stats=stats, key_source=key_source)
        backend = ConsoleBackend(console, events=feed)
        return ConsoleReader(backend) if read_only else backend
    raise BrightbackError(f"the {chosen.value} backend is not available in this build")


class RoutedBackend:
    """A backend per kind, each opened on first use; each site goes to its document's
    `spec.backend`, else `default`. Safe to call from many threads (a kind is opened
    once, under a lock); under the engine's hub, a backend other than `api` runs on a
    helper thread (`_run`)."""

    def __init__(
        self,
        default: BackendKind | str = BackendKind.API,
        *,
        writes: bool,
        api: ClientConfig | None = None,
        stats: ClientStats | None = None,
        key_source: KeySource | None = None,
        sleep: Callable[[float], None] | None = None,
        console: ConsoleConfig | Callable[[], ConsoleConfig] | None = None,
    ) -> None:
        self.kind = BackendKind(default)
        self._writes = writes
        self._api, self._stats, self._key_source, self._sleep = api, stats, key_source, sleep
        self._console = console
        self._made: dict[BackendKind, ReadBackend] = {}
        # The opened backends that can write: checked once per kind, because an isinstance
        # check against a runtime Protocol walks its attributes (2% of onboarding's CPU).
        self._writers: dict[BackendKind, Backend] = {}
        self._lock = threading.Lock()

    def kind_of(self, desired: Desired) -> BackendKind:
        return desired.backend or self.kind

    def prepare(self, sites: list[Desired] | tuple[Desired, ...]) -> None:
        """Open every backend `sites` need now, in this thread (a browser starts once)."""
        for kind in sorted({self.kind_of(d) for d in sites}):
            self.backend(kind)

    def backend(self, kind: BackendKind) -> ReadBackend:
        made = self._made.get(kind)  # once opened, no lock: every request passes here
        if made is not None:
            return made
        with self._lock:
            made = self._made.get(kind)
            if made is None:
                console = None
                if kind is BackendKind.CONSOLE:  # made only now: it imports Playwright
                    console = self._console() if callable(self._console) else self._console
                options: dict[str, Any] = {
                    "api": self._api,
                    "stats": self._stats,
                    "key_source": self._key_source,
                    "sleep": self._sleep,
                    "console": console,
                }
                if self._writes:
                    made = open_backend(kind, read_only=False, **options)
                else:
                    made = open_backend(kind, read_only=True, **options)
                self._made[kind] = made
            return made

    def opened(self) -> dict[BackendKind, ReadBackend]:
        """The backends opened so far, by kind."""
        with self._lock:
            return dict(self._made)

    def read(self, desired: Desired) -> Live:
        kind = self.kind_of(desired)
        return self._run(kind, lambda: self.backend(kind).read(desired))

    def events(
        self, desired: Desired, *, since: int | None = None, limit: int = 10
    ) -> list[dict[str, Any]]:
        kind = self.kind_of(desired)
        return self._run(kind, lambda: self.backend(kind).events(desired, since=since, limit=limit))

    def execute(
        self, desired: Desired, step: Step, *, expected_version: int, idempotency_key: str
    ) -> Live:
        kind = self.kind_of(desired)
        return self._run(
            kind,
            lambda: self._execute(kind, desired, step, expected_version, idempotency_key),
        )

    @staticmethod
    def _run(kind: BackendKind, call: Callable[[], T]) -> T:
        """The api backend's waits are the hub's (reconciler/hub.py); any other backend
        (a browser) blocks its thread, so under a hub it runs on a helper thread."""
        return call() if kind is BackendKind.API else hubs.blocking(call)

    def _execute(
        self,
        kind: BackendKind,
        desired: Desired,
        step: Step,
        expected_version: int,
        idempotency_key: str,
    ) -> Live:
        backend = self._writers.get(kind)
        if backend is None:
            opened = self.backend(kind)
            if not self._writes or not isinstance(opened, Backend):
                raise TypeError("a read-only run cannot execute steps")
            backend = self._writers[kind] = opened
        return backend.execute(
            desired, step, expected_version=expected_version, idempotency_key=idempotency_key
        )

    def pre_cancel_page(self, desired: Desired, subscription_id: str) -> dict[str, Any]:
        """The health probe, where the site's backend can run it (the api backend)."""
        kind = self.kind_of(desired)
        backend = self._run(kind, lambda: self.backend(kind))
        if not isinstance(backend, Prober):
            raise ApiError(
                f"{desired.site}: the {kind.value} backend has no probe",
                http_status=0,
                api_error_code="probe_unavailable",
                site=desired.site,
            )
        return backend.pre_cancel_page(desired, subscription_id)

    def close(self) -> None:
        for backend in self.opened().values():
            backend.close()


__all__ = ["RoutedBackend", "open_backend"]
