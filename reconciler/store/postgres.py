"""The state store in PostgreSQL (`--state-url postgresql://...`), shared by shards and by
runners that keep no disk (CI, Kubernetes Jobs).

One connection per store, in autocommit: every write is its own short transaction, so a
kill -9 of the reconciler loses at most the sites in flight. A site's row is written the
moment the pass settles it; the pass count, the pass record and the report at the end.
`synchronous_commit` is off for this session: a commit returns before its WAL reaches
the disk, so a crash of the *database server* may lose the last fraction of a second of
state (the next pass reads the sites again and converges from what it finds), while a
crash of the reconciler loses nothing it committed; each site write then costs one round
trip instead of one disk flush.

Site locks are session-level advisory locks: held on this connection while the site is
applied and dropped by the server when the session ends, so a crashed runner's locks
vanish with it. A lock note row says who holds the site, for the "locked by another
reconciler" condition and for the release note that tells the next holder to read again.

The connection is shared by whoever records sites; a lock serialises its use, so one
thread's transaction never takes in another's statement. Under the pass's hub
(reconciler/hub.py) a site's record and its lock run on helper threads (`hub.blocks`,
`hub.blocking`): a round trip to the database holds that site only, not every site in
flight.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import socket
import threading
import time
from collections.abc import Collection, Iterator, Mapping, Sequence
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from reconciler import hub as hubs
from reconciler.errors import StoreError
from reconciler.fleet.lock import Lease, SiteLocked
from reconciler.fleet.shard import Shard
from reconciler.fleet.state import FleetState, SiteFile, SiteState
from reconciler.report.json_report import iter_json
from reconciler.store._base import PassNote
from reconciler.store._migrations import LATEST, MIGRATIONS
from reconciler.store._urls import redact_url, scrub

CONNECT_TIMEOUT_S = 10
# Keys for pg_advisory_lock: a site's is derived from its name; this one guards migrations.
MIGRATION_LOCK = 0x42524B4D  # "BRKM"
_SITE_LOCK_PREFIX = b"brightback-gitops/site/"


def site_lock_key(site: str) -> int:
    """The advisory lock key of a site: 64 bits of SHA-256, so two sites of one fleet never
    share a key in practice (a 32-bit key would collide somewhere in a 10k-site fleet)."""
    digest = hashlib.sha256(_SITE_LOCK_PREFIX + site.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def schema_version(conn: psycopg.Connection[Any]) -> int:
    row = conn.execute("SELECT to_regclass('brightback_migrations') IS NOT NULL").fetchone()
    if row is None or not row[0]:
        return 0
    found = conn.execute("SELECT coalesce(max(version), 0) FROM brightback_migrations").fetchone()
    return int(found[0]) if found is not None else 0


def migrate(conn: psycopg.Connection[Any], target: int = LATEST) -> int:
    """Apply the migrations this store lacks, up to `target`, in one transaction under an
    advisory lock (DDL is transactional in PostgreSQL: a failed migration leaves nothing
    half done). Returns the schema version. Refuses a schema newer than this code."""
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK,))
        conn.execute(
            "CREATE TABLE IF NOT EXISTS brightback_migrations ("
            " version integer PRIMARY KEY, description text NOT NULL,"
            " applied_at timestamptz NOT NULL DEFAULT now())"
        )
        current = schema_version(conn)
        if current > LATEST:
            raise StoreError(
                f"the state store's schema is at version {current}, newer than this "
                f"brightback knows ({LATEST}): upgrade brightback before using this store"
            )
        for migration in MIGRATIONS:
            if current < migration.version <= target:
                conn.execute(migration.sql.encode())
                conn.execute(
                    "INSERT INTO brightback_migrations (version, description) VALUES (%s, %s)",
                    (migration.version, migration.description),
                )
                current = migration.version
    return current


_SITE_COLUMNS = (
    "s.site, s.name, s.spec::text, s.spec_hash, s.managed, s.last_pass, s.last_version,"
    " s.in_sync, s.last_seen_at, s.last_success_at,"
    " h.failures, h.retry_after_pass, h.last_error, h.drift"
)


_LOAD_BATCH = 2000  # rows a load holds at once


def _site_state(row: Sequence[Any]) -> SiteState:
    (site, name, spec, digest, managed, last_pass, version, in_sync, seen, success) = row[:10]
    failures, retry_after, last_error, drift = row[10:]
    return SiteState(
        site=site,
        name=name,
        spec_json=spec,
        spec_hash=digest,
        managed=managed,
        last_pass=last_pass,
        last_version=version,
        in_sync=in_sync,
        last_seen_at=seen,
        last_success_at=success,
        failures=failures or 0,
        retry_after_pass=retry_after or 0,
        last_error=last_error,
        history=list(drift or []),
    )


class PostgresStore:
    """The `Store` interface over one PostgreSQL connection."""

    def __init__(self, conn: psycopg.Connection[Any], url: str) -> None:
        self._conn = conn
        self._url = url
        self._use = threading.RLock()

    @classmethod
    def connect(cls, url: str, *, migrate_to: int = LATEST) -> PostgresStore:
        """Connect, bring the schema up to date, and return the store. Raises StoreError
        with the URL shown without its password."""
        try:
            conn = psycopg.connect(
                url,
                autocommit=True,
                connect_timeout=CONNECT_TIMEOUT_S,
                application_name="brightback",
            )
        except psycopg.Error as exc:
            raise StoreError(
                f"cannot connect to the state store {redact_url(url)}: {scrub(str(exc), url)}"
            ) from None
        store = cls(conn, url)
        try:
            with store._using():
                conn.execute("SET synchronous_commit = off")
                migrate(conn, migrate_to)
        except BaseException:
            conn.close()
            raise
        return store

    @property
    def where(self) -> str:
        return redact_url(self._url)

    @contextlib.contextmanager
    def _using(self) -> Iterator[psycopg.Connection[Any]]:
        """The connection, for one thread at a time; driver errors become StoreError."""
        with self._use:
            try:
                yield self._conn
            except psycopg.Error as exc:
                message = scrub(str(exc).strip(), self._url)
                raise StoreError(f"state store {self.where}: {message}") from None

    # ------------------------------------------------------------------ state

    def load(self) -> FleetState:
        """Every site, read in batches through a server-side cursor into a `SiteFile`:
        a 50,000-site fleet as rows and `SiteState`s at once was hundreds of MB."""
        sites = SiteFile()
        try:
            with self._using() as conn, conn.transaction():
                meta = conn.execute("SELECT passes, writer FROM brightback_meta").fetchone()
                with conn.cursor(name="brightback_load") as cursor:
                    cursor.itersize = _LOAD_BATCH
                    cursor.execute(
                        f"SELECT {_SITE_COLUMNS} FROM brightback_sites s"  # noqa: S608
                        " LEFT JOIN brightback_site_history h USING (site)"
                    )
                    for row in cursor:
                        sites[row[0]] = _site_state(row)
        except BaseException:
            sites.close()
            raise
        passes, writer = (int(meta[0]), dict(meta[1])) if meta is not None else (0, {})
        return FleetState(passes=passes, sites=sites, writer=writer)

    def record_site_text(self, site: str, text: str) -> None:
        self.record_site(SiteState.from_dict(json.loads(text)))

    @hubs.blocks
    def record_site(self, state: SiteState) -> None:
        """One short transaction: the site, its history, and no orphan row any more.

        Under the pass's hub on a helper thread: the database's round trip then holds
        only this site, not every site in flight (reconciler/hub.py)."""
        with self._using() as conn, conn.transaction():
            conn.execute(
                "INSERT INTO brightback_sites (site, name, spec, spec_hash, managed, last_pass,"
                " last_version, in_sync, last_seen_at, last_success_at)"
                " VALUES (%s, %s, %s::jsonb, %s, %s, %s, %s, %s, %s, %s)"
                " ON CONFLICT (site) DO UPDATE SET name = excluded.name, spec = excluded.spec,"
                " spec_hash = excluded.spec_hash, managed = excluded.managed,"
                " last_pass = excluded.last_pass, last_version = excluded.last_version,"
                " in_sync = excluded.in_sync, last_seen_at = excluded.last_seen_at,"
                " last_success_at = excluded.last_success_at",
                (
                    state.site,
                    state.name,
                    state.spec_json,
                    state.spec_hash,
                    state.managed,
                    state.last_pass,
                    state.last_version,
                    state.in_sync,
                    state.last_seen_at,
                    state.last_success_at,
                ),
            )
            conn.execute(
                "INSERT INTO brightback_site_history (site, failures, retry_after_pass,"
                " last_error, drift) VALUES (%s, %s, %s, %s, %s)"
                " ON CONFLICT (site) DO UPDATE SET failures = excluded.failures,"
                " retry_after_pass = excluded.retry_after_pass,"
                " last_error = excluded.last_error, drift = excluded.drift",
                (
                    state.site,
                    state.failures,
                    state.retry_after_pass,
                    state.last_error,
                    Jsonb(state.history),
                ),
            )
            conn.execute("DELETE FROM brightback_orphans WHERE site = %s", (state.site,))

    def finish_pass(
        self, note: PassNote, removed: Collection[str], orphans: Sequence[Mapping[str, Any]]
    ) -> None:
        gone = sorted(removed)
        with self._using() as conn, conn.transaction():
            if gone:
                conn.execute("DELETE FROM brightback_sites WHERE site = ANY(%s)", (gone,))
                conn.execute("DELETE FROM brightback_orphans WHERE site = ANY(%s)", (gone,))
            for orphan in orphans:
                if orphan["site"] in removed:
                    continue
                conn.execute(
                    "INSERT INTO brightback_orphans (site, name, deletion_policy, action,"
                    " message, pass_no) VALUES (%s, %s, %s, %s, %s, %s)"
                    " ON CONFLICT (site) DO UPDATE SET name = excluded.name,"
                    " deletion_policy = excluded.deletion_policy, action = excluded.action,"
                    " message = excluded.message, pass_no = excluded.pass_no",
                    (
                        orphan["site"],
                        orphan["name"],
                        orphan.get("deletion_policy"),
                        orphan.get("action", "kept"),
                        orphan.get("message", ""),
                        note.pass_no,
                    ),
                )
            conn.execute(
                "UPDATE brightback_meta SET passes = GREATEST(passes, %s), writer = %s",
                (note.pass_no, Jsonb(note.writer())),
            )
            conn.execute(
                "INSERT INTO brightback_passes (pass_no, run_id, shard_index, shard_count,"
                " host, pid, started_at, finished_at, commit, dirty, counts)"
                " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
                (
                    note.pass_no,
                    note.run_id,
                    note.shard.index,
                    note.shard.count,
                    note.host,
                    note.pid,
                    note.started_at,
                    note.finished_at,
                    note.commit,
                    note.dirty,
                    Jsonb(dict(note.counts)),
                ),
            )

    # ------------------------------------------------------------------ locks

    @contextlib.contextmanager
    def site_lock(self, site: str, pass_no: int) -> Iterator[Lease]:
        """The site's advisory lock on this session, or `SiteLocked` at once."""
        key = site_lock_key(site)
        me = {"pid": os.getpid(), "host": socket.gethostname(), "pass": pass_no}

        def take() -> dict[str, Any]:
            with self._using() as conn:
                row = conn.execute("SELECT pg_try_advisory_lock(%s)", (key,)).fetchone()
                previous = self._note(conn, site)
                if row is None or not row[0]:
                    raise SiteLocked(site, previous)
                try:
                    self._write_note(conn, site, {**me, "since": time.time()})
                except BaseException:
                    conn.execute("SELECT pg_advisory_unlock(%s)", (key,))
                    raise
            return previous

        def give_back() -> None:
            with self._using() as conn:
                try:
                    self._write_note(conn, site, {**me, "released_at": time.time()})
                finally:
                    conn.execute("SELECT pg_advisory_unlock(%s)", (key,))

        previous = hubs.blocking(take)  # as `record_site`: the hub's other sites go on
        try:
            yield Lease(site, previous)
        finally:
            hubs.blocking(give_back)

    @staticmethod
    def _note(conn: psycopg.Connection[Any], site: str) -> dict[str, Any]:
        row = conn.execute(
            "SELECT note FROM brightback_lock_notes WHERE site = %s", (site,)
        ).fetchone()
        return dict(row[0]) if row is not None and isinstance(row[0], dict) else {}

    @staticmethod
    def _write_note(conn: psycopg.Connection[Any], site: str, note: dict[str, Any]) -> None:
        conn.execute(
            "INSERT INTO brightback_lock_notes (site, note) VALUES (%s, %s)"
            " ON CONFLICT (site) DO UPDATE SET note = excluded.note",
            (site, Jsonb(note)),
        )

    # ------------------------------------------------------------------ reports

    def write_report(self, report: Mapping[str, Any], shard: Shard) -> None:
        text = "".join(iter_json(report))  # the C encoder, piece by piece
        run_id = (report.get("fleet") or {}).get("shard", {}).get("run_id")
        pass_no = (report.get("fleet") or {}).get("pass")
        with self._using() as conn:
            conn.execute(
                "INSERT INTO brightback_reports (shard_count, shard_index, run_id, pass_no,"
                " written_at, document) VALUES (%s, %s, %s, %s, %s, %s::jsonb)"
                " ON CONFLICT (shard_count, shard_index) DO UPDATE SET run_id = excluded.run_id,"
                " pass_no = excluded.pass_no, written_at = excluded.written_at,"
                " document = excluded.document",
                (shard.count, shard.index, run_id, pass_no, time.time(), text),
            )

    def read_reports(self) -> list[dict[str, Any]]:
        with self._using() as conn:
            rows = conn.execute(
                "SELECT document::text FROM brightback_reports WHERE shard_count = ("
                " SELECT shard_count FROM brightback_reports ORDER BY written_at DESC LIMIT 1)"
                " ORDER BY written_at DESC"
            ).fetchall()
        return [json.loads(row[0]) for row in rows]

    def has_report(self) -> bool:
        with self._using() as conn:
            row = conn.execute("SELECT EXISTS (SELECT 1 FROM brightback_reports)").fetchone()
        return bool(row and row[0])

    # ------------------------------------------------------------------ shards

    def publish_count(self, run_id: str, shard: Shard, destructive: int) -> None:
        with self._using() as conn:
            conn.execute(
                "INSERT INTO brightback_shard_counts (run_id, shard_count, shard_index,"
                " destructive, published_at) VALUES (%s, %s, %s, %s, %s)"
                " ON CONFLICT (run_id, shard_count, shard_index)"
                " DO UPDATE SET destructive = excluded.destructive,"
                " published_at = excluded.published_at",
                (run_id, shard.count, shard.index, destructive, time.time()),
            )

    def shard_counts(self, run_id: str, count: int) -> dict[int, int]:
        with self._using() as conn:
            rows = conn.execute(
                "SELECT shard_index, destructive FROM brightback_shard_counts"
                " WHERE run_id = %s AND shard_count = %s",
                (run_id, count),
            ).fetchall()
        return {int(index): int(destructive) for index, destructive in rows}

    def document_cache(self) -> None:
        return None  # a local file would not follow passes from machine to machine

    def close(self) -> None:
        with self._use:
            if not self._conn.closed:
                self._conn.close()


__all__ = [
    "MIGRATION_LOCK",
    "PostgresStore",
    "migrate",
    "schema_version",
    "site_lock_key",
]
