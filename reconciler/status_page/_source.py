"""Where the status page and `brightback status` find the last report: a state store.

The directory's `last-report.json` or a PostgreSQL store's reports table, and with
shards the last report of every shard merged into one (`merge_reports`). The page holds
no report of its own: every request reads the store again.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from reconciler.store import DirectoryStore, Store, merge_reports


class ReportSource:
    """The last report of a store, merged across shards."""

    def __init__(self, store: Store) -> None:
        self.store = store

    @classmethod
    def of(cls, where: Path | ReportSource) -> ReportSource:
        """A source from a state directory (what `serve_status` was always given) or as is."""
        return where if isinstance(where, ReportSource) else cls(DirectoryStore(Path(where)))

    @property
    def where(self) -> str:
        return self.store.where

    def read(self) -> dict[str, Any] | None:
        """The merged last report, or None before the first pass. Raises OSError or
        ValueError (unreadable file), StoreError (unreachable server)."""
        return merge_reports(self.store.read_reports())

    def close(self) -> None:
        self.store.close()
