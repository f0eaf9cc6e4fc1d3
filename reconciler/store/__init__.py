"""Where a reconciler remembers its passes: a local directory or a PostgreSQL server.

`open_store(state_dir, state_url)` picks one: a `postgresql://` URL (from `--state-url`
or $BRIGHTBACK_STATE_URL) opens the shared PostgreSQL store, anything else the
directory. Callers depend on the `Store` protocol only.
"""

from __future__ import annotations

from pathlib import Path

from reconciler.errors import StoreError
from reconciler.store._base import PassDocumentCache, PassNote, Store
from reconciler.store._urls import STATE_URL_ENV, is_postgres_url, redact_url
from reconciler.store.directory import DirectoryStore
from reconciler.store.reports import merge_reports

__all__ = [
    "STATE_URL_ENV",
    "DirectoryStore",
    "PassDocumentCache",
    "PassNote",
    "Store",
    "StoreError",
    "merge_reports",
    "open_store",
    "redact_url",
]


def open_store(state_dir: Path, state_url: str | None = None) -> Store:
    """The store a command was pointed at. Raises `StoreError` (password-free message)
    when a URL is given that is not PostgreSQL, or its server cannot be reached."""
    if not state_url:
        return DirectoryStore(state_dir)
    if not is_postgres_url(state_url):
        raise StoreError(
            f"state URL {redact_url(state_url)} is not a postgresql:// URL "
            "(leave it out to keep state in --state-dir)"
        )
    try:
        from reconciler.store.postgres import PostgresStore  # psycopg only when asked for
    except ImportError:
        raise StoreError(
            "the PostgreSQL state store needs psycopg: pip install 'brightback-gitops[postgres]'"
        ) from None
    return PostgresStore.connect(state_url)
