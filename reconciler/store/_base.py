"""The state store's interface: what a pass asks of the place that remembers passes.

A pass loads everything once at its start (`load`), records each site the moment it is
settled (`record_site`), closes with one `finish_pass`, and writes its report. Per-site
locks, the last reports `brightback status` merges, and the fleet-wide count of
destructive steps that sharded passes add up before any shard writes one go through the
same object, so a directory on one machine and a PostgreSQL server shared by many are
interchangeable behind it. Nothing here knows which one it talks to.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Collection, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any, Protocol

from reconciler.fleet.lock import Lease
from reconciler.fleet.shard import Shard
from reconciler.fleet.state import FleetState, SiteState
from reconciler.spec import DocumentCache


@dataclass(frozen=True)
class PassNote:
    """Who ran a pass, on what, and what it found: a pass record in the store."""

    pass_no: int
    shard: Shard = field(default_factory=Shard)
    run_id: str | None = None
    started_at: float = 0.0
    finished_at: float = field(default_factory=time.time)
    commit: str | None = None
    dirty: bool | None = None
    counts: Mapping[str, int] = field(default_factory=dict)
    host: str = field(default_factory=socket.gethostname)
    pid: int = field(default_factory=os.getpid)

    def writer(self) -> dict[str, Any]:
        """The lease note of the last writer, as the state file has always kept it."""
        return {"pid": self.pid, "host": self.host, "pass": self.pass_no, "at": self.finished_at}


class PassDocumentCache(DocumentCache, Protocol):
    """A `DocumentCache` that a pass ends with `save` (after loading its config)."""

    def save(self, *, complete: bool) -> None:
        """Keep what this pass changed; `complete`: the whole config loaded, so entries
        of files it no longer has may go."""
        ...


class Store(Protocol):
    """Where passes are remembered. Implementations: `DirectoryStore`, `PostgresStore`."""

    @property
    def where(self) -> str:
        """The store as a person reads it in a message: a path, or a URL with no password."""
        ...

    def load(self) -> FleetState:
        """Every remembered site and the pass count, as the pass starts."""
        ...

    def record_site(self, state: SiteState) -> None:
        """A site's state as this pass leaves it. A store that can make it durable at once
        does (PostgreSQL: its own short transaction); the directory keeps it for
        `finish_pass`, which writes the file once."""
        ...

    def record_site_text(self, site: str, text: str) -> None:
        """`record_site` of the state `SiteState.to_text` made `text` from: the state of
        a site finished while the config loaded, kept as text until then (the directory
        keeps the text as it is)."""
        ...

    def finish_pass(
        self, note: PassNote, removed: Collection[str], orphans: Sequence[Mapping[str, Any]]
    ) -> None:
        """Close the pass: forget `removed` sites (disconnected orphans), keep this pass's
        orphans, count the pass, record who ran it."""
        ...

    def site_lock(self, site: str, pass_no: int) -> AbstractContextManager[Lease]:
        """Hold the site for this reconciler or raise `SiteLocked` at once."""
        ...

    def write_report(self, report: Mapping[str, Any], shard: Shard) -> None:
        """Keep this shard's last report (the whole fleet's when not sharded)."""
        ...

    def read_reports(self) -> list[dict[str, Any]]:
        """The last report of each shard of the latest run shape, newest first; empty when
        no pass has written one. `merge_reports` turns them into one."""
        ...

    def has_report(self) -> bool:
        """Whether any pass has written a report (cheap: for liveness probes)."""
        ...

    def publish_count(self, run_id: str, shard: Shard, destructive: int) -> None:
        """Tell the other shards of run `run_id` how many sites this shard would give a
        destructive step."""
        ...

    def shard_counts(self, run_id: str, count: int) -> dict[int, int]:
        """The destructive counts published so far for run `run_id` of `count` shards, by
        shard index."""
        ...

    def document_cache(self) -> PassDocumentCache | None:
        """Where the config's parsed documents are kept between passes, if this store
        keeps them (the directory does; a shared server does not: its passes may run on
        any machine, and the cache is a local file)."""
        ...

    def close(self) -> None:
        """Release connections and locks; safe to call twice."""
        ...
