"""SQLite state of the emulator: sites, accounts, Brightback sites, events, idempotency
records, the request log and the fault configuration.

One connection guarded by a lock, WAL journal, every write inside `BEGIN IMMEDIATE`: the
read-check-write of a request (idempotency lookup, version check, rule, save, event) is one
transaction, so concurrent requests on a site are serialized and a version check can never
pass for two writers. Restarting on the same file keeps everything. API keys are stored
only as SHA-256 digests so the database never holds a secret.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import secrets
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from emulator.rules import BRIGHTBACK_SITE_NAME, MODES, Account, SiteState
from emulator.settings import DEFAULTS

SCHEMA = """
CREATE TABLE IF NOT EXISTS sites (
    site TEXT PRIMARY KEY, email TEXT NOT NULL, key_hash TEXT NOT NULL, state TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS sites_email ON sites(email);
CREATE TABLE IF NOT EXISTS accounts (email TEXT PRIMARY KEY, status TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS bb_sites (
    name TEXT PRIMARY KEY, email TEXT NOT NULL,
    customer_portal TEXT NOT NULL DEFAULT 'draft', retention_api TEXT NOT NULL DEFAULT 'draft');
CREATE INDEX IF NOT EXISTS bb_sites_email ON bb_sites(email);
CREATE TABLE IF NOT EXISTS idempotency (
    site TEXT NOT NULL, key TEXT NOT NULL, route TEXT NOT NULL, body_hash TEXT NOT NULL,
    status INTEGER NOT NULL, body BLOB NOT NULL, created_at REAL NOT NULL DEFAULT 0,
    PRIMARY KEY (site, key));
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY AUTOINCREMENT, ev_id TEXT NOT NULL, site TEXT NOT NULL,
    occurred_at INTEGER NOT NULL, source TEXT NOT NULL, event_type TEXT NOT NULL,
    content TEXT NOT NULL, user TEXT);
CREATE INDEX IF NOT EXISTS events_site ON events(site, id);
CREATE TABLE IF NOT EXISTS requests (
    id INTEGER PRIMARY KEY AUTOINCREMENT, time REAL NOT NULL, site TEXT, method TEXT NOT NULL,
    path TEXT NOT NULL, status INTEGER NOT NULL, idempotency_key TEXT,
    replayed INTEGER NOT NULL, fault TEXT);
CREATE INDEX IF NOT EXISTS requests_site ON requests(site, id);
CREATE TABLE IF NOT EXISTS sessions (
    id TEXT PRIMARY KEY, site TEXT NOT NULL, subscription_id TEXT NOT NULL,
    brightback_site TEXT NOT NULL, url TEXT NOT NULL, created_at INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS faults (scope TEXT PRIMARY KEY, config TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS settings (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS console_sessions (
    token_hash TEXT PRIMARY KEY, site TEXT NOT NULL, expires_at REAL NOT NULL,
    brightback_signed_in INTEGER NOT NULL DEFAULT 0);
"""
# Columns added after the first release: a database from before gets them on open (an old
# idempotency record has created_at 0, so it has expired, as it would have by now).
MIGRATIONS = (
    (
        "idempotency",
        "created_at",
        "ALTER TABLE idempotency ADD COLUMN created_at REAL NOT NULL DEFAULT 0",
    ),
    ("events", "user", "ALTER TABLE events ADD COLUMN user TEXT"),
)
TABLES = (
    "sites",
    "accounts",
    "bb_sites",
    "idempotency",
    "events",
    "requests",
    "sessions",
    "console_sessions",  # sign-ins to the emulated admin console (emulator/console/)
)


def _event(row: sqlite3.Row) -> dict[str, Any]:
    """One stored event in Chargebee's event shape (API v2)."""
    event: dict[str, Any] = {
        "id": row["ev_id"],
        "occurred_at": row["occurred_at"],
        "source": row["source"],
    }
    if row["user"] is not None:
        event["user"] = row["user"]
    event.update(
        webhook_status="not_configured",  # the emulator sends no webhooks
        event_type=row["event_type"],
        api_version="v2",
        content=json.loads(row["content"]),
        object="event",
    )
    return event


class Conflict(Exception):
    """An admin call that collides with existing state (duplicate site, unknown account)."""


def key_digest(api_key: str) -> str:
    return hashlib.sha256(api_key.encode()).hexdigest()


def dumps(value: Any) -> bytes:
    """The one JSON encoding of every answer, so a replay is byte-for-byte the original."""
    return json.dumps(value, separators=(",", ":"), sort_keys=False).encode()


def now() -> int:
    return int(time.time())


class Store:
    """All persistence; callers use `transaction()` for anything that must be atomic."""

    def __init__(self, path: str | Path) -> None:
        self._lock = threading.RLock()
        self.generation = 0  # bumped by reset(): requests begun before it are not logged
        self._settings: dict[str, Any] | None = None
        self._conn = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._conn.row_factory = sqlite3.Row
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=NORMAL")
        self._conn.execute("PRAGMA busy_timeout=5000")
        self._conn.executescript(SCHEMA)
        for table, column, statement in MIGRATIONS:
            columns = {r[1] for r in self._conn.execute(f"PRAGMA table_info({table})")}
            if column not in columns:
                self._conn.execute(statement)

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """BEGIN IMMEDIATE ... COMMIT under the lock; rolled back on any exception."""
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    @contextmanager
    def reading(self) -> Iterator[sqlite3.Connection]:
        """A consistent read (one deferred transaction) under the lock."""
        with self._lock:
            self._conn.execute("BEGIN")
            try:
                yield self._conn
            finally:
                self._conn.execute("COMMIT")

    def is_empty(self) -> bool:
        with self.reading() as conn:
            return conn.execute("SELECT 1 FROM sites LIMIT 1").fetchone() is None

    def reset(self) -> None:
        self.generation += 1
        with self.transaction() as conn:
            for table in (*TABLES, "faults", "settings"):
                conn.execute(f"DELETE FROM {table}")  # noqa: S608 - fixed table names
            self._settings = None
            conn.execute("DELETE FROM sqlite_sequence")

    # --- sites and accounts -----------------------------------------------------------

    def key_hash(self, site: str) -> str | None:
        with self._lock:
            row = self._conn.execute("SELECT key_hash FROM sites WHERE site=?", (site,)).fetchone()
        return None if row is None else str(row[0])

    def create_sites(self, conn: sqlite3.Connection, sites: Iterable[Mapping[str, Any]]) -> int:
        """Insert sites ({site, email, api_key, plan?, reason_codes_enabled?,
        portal_cancellation_enabled?}); a duplicate name raises Conflict."""
        rows = []
        for entry in sites:
            state = SiteState(
                site=str(entry["site"]),
                email=str(entry["email"]),
                plan=str(entry.get("plan", "live")),
                reason_codes_enabled=bool(entry.get("reason_codes_enabled", True)),
                portal_cancellation_enabled=bool(entry.get("portal_cancellation_enabled", True)),
                updated_at=now(),
            )
            rows.append((state.site, state.email.lower(), key_digest(str(entry["api_key"])),
                         json.dumps(dataclasses.asdict(state))))  # fmt: skip
        try:
            conn.executemany("INSERT INTO sites VALUES (?, ?, ?, ?)", rows)
        except sqlite3.IntegrityError as error:
            raise Conflict("site already exists") from error
        return len(rows)

    def load_site(self, conn: sqlite3.Connection, site: str) -> SiteState | None:
        row = conn.execute("SELECT state FROM sites WHERE site=?", (site,)).fetchone()
        return None if row is None else SiteState(**json.loads(row[0]))

    def save_site(self, conn: sqlite3.Connection, state: SiteState) -> None:
        conn.execute(
            "UPDATE sites SET state=? WHERE site=?",
            (json.dumps(dataclasses.asdict(state)), state.site),
        )

    def account(self, conn: sqlite3.Connection, email: str) -> Account:
        email = email.lower()
        row = conn.execute("SELECT status FROM accounts WHERE email=?", (email,)).fetchone()
        if row is None:
            return Account(email=email, status="not_found")
        sites = {
            r["name"]: {m: r[m] for m in MODES}
            for r in conn.execute("SELECT * FROM bb_sites WHERE email=? ORDER BY name", (email,))
        }
        return Account(email=email, status=str(row[0]), brightback_sites=sites)

    def save_account(self, conn: sqlite3.Connection, account: Account) -> None:
        conn.execute(
            "INSERT INTO accounts VALUES (?, ?) ON CONFLICT(email) DO UPDATE SET status=?",
            (account.email.lower(), account.status, account.status),
        )
        for name, experiences in account.brightback_sites.items():
            self.add_brightback_site(conn, account.email, name, experiences)

    def brightback_site_owner(self, conn: sqlite3.Connection, name: str) -> str | None:
        """The email of the account that owns Brightback site `name`, if any."""
        row = conn.execute("SELECT email FROM bb_sites WHERE name=?", (name,)).fetchone()
        return None if row is None else str(row[0])

    def add_brightback_site(
        self,
        conn: sqlite3.Connection,
        email: str,
        name: str,
        experiences: Mapping[str, str] | None = None,
    ) -> None:
        if not BRIGHTBACK_SITE_NAME.fullmatch(name):
            raise ValueError(f"invalid Brightback site name {name!r}")
        owner = conn.execute("SELECT email FROM bb_sites WHERE name=?", (name,)).fetchone()
        if owner is not None and owner[0] != email.lower():
            raise Conflict(f"Brightback site {name} belongs to another account")
        states = {m: (experiences or {}).get(m, "draft") for m in MODES}
        # Adding a site the account already has keeps what is published there.
        verb = "INSERT OR IGNORE" if experiences is None else "INSERT OR REPLACE"
        conn.execute(
            f"{verb} INTO bb_sites VALUES (?, ?, ?, ?)",
            (name, email.lower(), states["customer_portal"], states["retention_api"]),
        )

    def set_experience(self, conn: sqlite3.Connection, name: str, mode: str, value: str) -> str:
        """Publish/unpublish; returns the owning account's email (Conflict if unknown)."""
        row = conn.execute("SELECT email FROM bb_sites WHERE name=?", (name,)).fetchone()
        if row is None:
            raise Conflict(f"no Brightback site {name}")
        conn.execute(f"UPDATE bb_sites SET {mode}=? WHERE name=?", (value, name))  # noqa: S608
        return str(row[0])

    def sites_of(self, conn: sqlite3.Connection, email: str) -> list[SiteState]:
        rows = conn.execute("SELECT state FROM sites WHERE email=? ORDER BY site", (email.lower(),))
        return [SiteState(**json.loads(r[0])) for r in rows]

    # --- events --------------------------------------------------------------------------

    def add_event(
        self,
        conn: sqlite3.Connection,
        site: str,
        source: str,
        event_type: str,
        resource: dict[str, Any],
        occurred_at: int,
        user: str | None = None,
    ) -> None:
        """Record what Chargebee's events carry: who (`source`, `user`), what kind, when,
        and a snapshot of the resource after the change; no diff, no version of its own."""
        snapshot = {k: v for k, v in resource.items() if k != "version"}
        content = json.dumps({"brightback_integration": snapshot})
        conn.execute(
            "INSERT INTO events (ev_id, site, occurred_at, source, event_type, content, user) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            (f"ev_{secrets.token_hex(10)}", site, occurred_at, source, event_type, content, user),
        )

    def events(
        self,
        site: str,
        *,
        limit: int,
        offset: int | None,
        after: int | None,
        event_types: Sequence[str] | None = None,
        source: str | None = None,
    ) -> tuple[list[dict[str, Any]], int | None]:
        """Newest first; the offset is the row id to continue below (opaque to clients)."""
        sql = "SELECT * FROM events WHERE site=?"
        args: list[Any] = [site]
        if offset is not None:
            sql += " AND id<?"
            args.append(offset)
        if after is not None:
            sql += " AND occurred_at>?"
            args.append(after)
        if event_types:
            sql += f" AND event_type IN ({','.join('?' * len(event_types))})"
            args.extend(event_types)
        if source is not None:
            sql += " AND source=?"
            args.append(source)
        sql += " ORDER BY id DESC LIMIT ?"
        args.append(limit + 1)
        with self.reading() as conn:
            rows = conn.execute(sql, args).fetchall()
        more = len(rows) > limit
        rows = rows[:limit]
        events = [_event(r) for r in rows]
        return events, (int(rows[-1]["id"]) if more and rows else None)

    # --- idempotency, sessions, request log, faults ------------------------------------

    def idempotent_answer(
        self, conn: sqlite3.Connection, site: str, key: str, *, window_s: float
    ) -> tuple[str, str, int, bytes] | None:
        """The answer first given for `key`, if it is younger than `window_s` seconds.
        An older record is deleted: after the window the key is new again."""
        row = conn.execute(
            "SELECT route, body_hash, status, body, created_at FROM idempotency "
            "WHERE site=? AND key=?",
            (site, key),
        ).fetchone()
        if row is None:
            return None
        if time.time() - float(row[4]) >= window_s:
            conn.execute("DELETE FROM idempotency WHERE site=? AND key=?", (site, key))
            return None
        return str(row[0]), str(row[1]), int(row[2]), bytes(row[3])

    def remember_answer(
        self,
        conn: sqlite3.Connection,
        site: str,
        key: str,
        route: str,
        body_hash: str,
        status: int,
        body: bytes,
    ) -> None:
        conn.execute(
            "INSERT INTO idempotency VALUES (?, ?, ?, ?, ?, ?, ?)",
            (site, key, route, body_hash, status, body, time.time()),
        )

    def add_session(self, conn: sqlite3.Connection, session: Mapping[str, Any]) -> None:
        conn.execute(
            "INSERT INTO sessions VALUES (?, ?, ?, ?, ?, ?)",
            (session["id"], session["site"], session["subscription_id"],
             session["brightback_site"], session["url"], session["created_at"]),
        )  # fmt: skip

    def published_page(self, brightback_site: str, page_id: str) -> bool:
        """Whether `page_id` is a pre-cancel page of `brightback_site` and its
        retention_api experience is published now."""
        with self._lock:
            row = self._conn.execute(
                "SELECT b.retention_api FROM sessions s JOIN bb_sites b "
                "ON b.name = s.brightback_site WHERE s.id=? AND s.brightback_site=?",
                (page_id, brightback_site),
            ).fetchone()
        return row is not None and row[0] == "published"

    def log_request(
        self,
        site: str | None,
        method: str,
        path: str,
        status: int,
        idempotency_key: str | None,
        replayed: bool,
        fault: str | None,
        generation: int | None = None,
    ) -> None:
        """Append to the request log, unless a reset happened since the request began (a
        request still sleeping in a fault must not appear in the next test's log)."""
        if generation is not None and generation != self.generation:
            return
        with self.transaction() as conn:
            conn.execute(
                "INSERT INTO requests (time, site, method, path, status, idempotency_key, "
                "replayed, fault) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (time.time(), site, method, path, status, idempotency_key, int(replayed), fault),
            )

    def requests(
        self, site: str | None = None, since_id: int | None = None, limit: int = 10000
    ) -> list[dict[str, Any]]:
        sql = "SELECT * FROM requests WHERE id>?"
        args: list[Any] = [since_id or 0]
        if site is not None:
            sql += " AND site=?"
            args.append(site)
        sql += " ORDER BY id LIMIT ?"
        args.append(limit)
        with self.reading() as conn:
            rows = conn.execute(sql, args).fetchall()
        return [
            {
                "id": r["id"],
                "time": r["time"],
                "site": r["site"],
                "method": r["method"],
                "path": r["path"],
                "status": r["status"],
                "idempotency_key": r["idempotency_key"],
                "replayed": bool(r["replayed"]),
                "fault": r["fault"],
            }
            for r in rows
        ]

    def faults(self) -> dict[str, dict[str, Any]]:
        with self.reading() as conn:
            rows = conn.execute("SELECT scope, config FROM faults").fetchall()
        return {str(r[0]): json.loads(r[1]) for r in rows}

    def settings(self) -> dict[str, Any]:
        """The emulator settings (emulator/settings.py), defaults filled in; read from the
        database once, then from memory (only `save_settings` and `reset` change them)."""
        with self._lock:
            if self._settings is None:
                rows = self._conn.execute("SELECT name, value FROM settings").fetchall()
                self._settings = {**DEFAULTS, **{str(r[0]): json.loads(r[1]) for r in rows}}
            return dict(self._settings)

    def save_settings(self, values: Mapping[str, Any]) -> None:
        with self.transaction() as conn:
            conn.execute("DELETE FROM settings")
            conn.executemany(
                "INSERT INTO settings VALUES (?, ?)",
                [(name, json.dumps(value)) for name, value in values.items()],
            )
            self._settings = None

    def plan_of(self, site: str) -> str | None:
        with self._lock:
            row = self._conn.execute("SELECT state FROM sites WHERE site=?", (site,)).fetchone()
        return None if row is None else str(json.loads(row[0]).get("plan", "live"))

    def save_faults(self, scopes: Mapping[str, Mapping[str, Any]]) -> None:
        """Replace the whole configuration: scope '' is global, others are site names."""
        with self.transaction() as conn:
            conn.execute("DELETE FROM faults")
            conn.executemany(
                "INSERT INTO faults VALUES (?, ?)",
                [(scope, json.dumps(dict(config))) for scope, config in scopes.items()],
            )


__all__ = [
    "MIGRATIONS",
    "SCHEMA",
    "TABLES",
    "Conflict",
    "Store",
    "dumps",
    "key_digest",
    "now",
]
