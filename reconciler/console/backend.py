"""`ConsoleBackend`: the `Backend` protocol carried out in Chargebee's admin console.

read = open the settings pages and turn what they show into the same `Live` the api backend
returns; execute = the help page's click sequence for the step, then a fresh read that the
engine verifies against the step's `expect`, exactly as for the api backend. The planner,
rules, reports and safety guards above the seam do not know which backend ran.

What a console cannot give (docs/console-backend.md): idempotency keys (a person sends
none; a stale revision check before clicking stands in), and an event feed. Events come
from Chargebee's public events API instead (`GET /api/v2/events`, the api backend's code),
read with the site's API key where the document names one: the clicks this backend makes
are recorded there as `admin_console` events, like anyone else's. A site without a key has
no source of events, and its drift is reported without "changed by".
"""

from __future__ import annotations

import os
from pathlib import Path
from types import TracebackType
from typing import Any, Protocol, Self

from reconciler.backend import BackendKind
from reconciler.console.browser import BrowserPool, Tab
from reconciler.console.config import ConsoleConfig
from reconciler.console.pages import Navigator, read_live
from reconciler.console.session import saved_session
from reconciler.console.steps import Clicks, click_path
from reconciler.errors import ApiError
from reconciler.model import Desired, Live
from reconciler.plan import Step


class EventFeed(Protocol):
    """Where the site's events come from: the api backend's read-only client."""

    def events(
        self, desired: Desired, *, since: int | None = None, limit: int = 10
    ) -> list[dict[str, Any]]: ...

    def close(self) -> None: ...


class ConsoleBackend:
    """A `reconciler.backend.Backend` driving one browser; safe to call from many threads."""

    kind = BackendKind.CONSOLE

    def __init__(
        self,
        config: ConsoleConfig | None = None,
        *,
        pool: BrowserPool | None = None,
        events: EventFeed | None = None,
    ):
        """`events`: Chargebee's public event feed for drift attribution (closed with this
        backend); None: no source, `events()` says so."""
        self.config = config or ConsoleConfig.from_env()
        self._feed = events
        self._owns_pool = pool is None
        self._pool = pool or BrowserPool(self.config, self.secrets)
        self._nav = Navigator()

    def __repr__(self) -> str:
        return f"ConsoleBackend(url_template={self.config.url_template!r})"

    def secrets(self) -> list[str]:
        """Strings that must never reach evidence files: the Brightback password."""
        value = os.environ.get(self.config.password_env)
        return [value] if value else []

    def read(self, desired: Desired) -> Live:
        site = desired.site
        base = self.config.base_url(site)

        async def work(tab: Tab) -> Live:
            return await read_live(tab.page, self._nav, base, site)

        return self._pool.run(
            site, "read", work, storage_state=saved_session(self.config, site), config=self.config
        )

    def execute(
        self, desired: Desired, step: Step, *, expected_version: int, idempotency_key: str
    ) -> Live:
        site = desired.site
        base = self.config.base_url(site)

        async def work(tab: Tab) -> Live:
            clicks = Clicks(tab, self._nav, base, self.config.password_env)
            await click_path(clicks, desired, step, expected_version)
            return await read_live(tab.page, self._nav, base, site, answer_shown=True)

        return self._pool.run(
            site,
            step.action.value,
            work,
            storage_state=saved_session(self.config, site),
            config=self.config,
        )

    def events(
        self, desired: Desired, *, since: int | None = None, limit: int = 10
    ) -> list[dict[str, Any]]:
        """The site's recent events from Chargebee's public events API, read with the
        site's API key (a site without one fails here with the credential error, so the
        engine reports its drift without "changed by" rather than as made outside: an
        empty answer would claim no event shows the change)."""
        if self._feed is None:
            raise ApiError(
                f"{desired.site}: the console backend was given no event feed",
                http_status=0,
                api_error_code="console_no_events",
                site=desired.site,
            )
        return self._feed.events(desired, since=since, limit=limit)

    @property
    def evidence(self) -> list[Path]:
        return list(self._pool.evidence)

    @property
    def traces(self) -> list[Path]:
        return list(self._pool.traces)

    def close(self) -> None:
        try:
            if self._feed is not None:
                self._feed.close()
        finally:
            if self._owns_pool:
                self._pool.close()
            else:  # a shared browser: only this backend's kept contexts go
                self._pool.release(self.config.sessions_dir)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class ConsoleReader:
    """The console backend for `plan` and drift jobs: reading only, no `execute` to call."""

    kind = BackendKind.CONSOLE

    def __init__(self, inner: ConsoleBackend) -> None:
        self._inner = inner

    def read(self, desired: Desired) -> Live:
        return self._inner.read(desired)

    def events(
        self, desired: Desired, *, since: int | None = None, limit: int = 10
    ) -> list[dict[str, Any]]:
        return self._inner.events(desired, since=since, limit=limit)

    @property
    def traces(self) -> list[Path]:
        return self._inner.traces

    def close(self) -> None:
        self._inner.close()


__all__ = [
    "ConsoleBackend",
    "ConsoleReader",
]
