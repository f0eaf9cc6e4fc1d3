"""Open the backend a command asked for: the one place a front end gets a `Backend`.

Every front end (`plan`, `apply`, `reconcile`, `export`, the Pulumi provider) calls
`open_backend` and hands the result to `reconciler.engine`; none of them constructs a
concrete backend. A new way of reaching Chargebee (the browser-driven `console` backend)
is one more branch here and one more option set, nothing else.

`read_only=True` gives a `ReadBackend` that cannot write by construction (for `api`, the
`ReadOnlyClient`, whose transport refuses anything but GET).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Literal, overload

from reconciler.backend import Backend, BackendKind, ReadBackend
from reconciler.client import Client, ClientConfig, ClientStats, KeySource, ReadOnlyClient
from reconciler.errors import BrightbackError

if TYPE_CHECKING:
    from reconciler.console import ConsoleConfig


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
    """
    chosen = BackendKind(kind)
    if chosen is BackendKind.API:
        client_class = ReadOnlyClient if read_only else Client
        if sleep is None:
            return client_class(api, stats=stats, key_source=key_source)
        return client_class(api, stats=stats, key_source=key_source, sleep=sleep)
    if chosen is BackendKind.CONSOLE:
        from reconciler.console import ConsoleBackend, ConsoleReader  # says how to install

        backend = ConsoleBackend(console)
        return ConsoleReader(backend) if read_only else backend
    raise BrightbackError(f"the {chosen.value} backend is not available in this build")


__all__ = ["open_backend"]
