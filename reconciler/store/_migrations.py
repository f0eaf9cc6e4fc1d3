"""The PostgreSQL store's schema, as numbered migrations applied on start.

Each migration runs once, in order, in its own transaction, and is recorded in
`brightback_migrations`. Starting reconcilers take a transaction-level advisory lock
first, so two shards starting together never apply one twice. A store whose schema is
newer than this brightback knows is refused, never written: an old binary could
otherwise drop what a newer one relies on. Never edit a released migration; add one.

Tables (prefixed, so the store can share a database):
- `brightback_meta`: the pass count and the last writer (one row).
- `brightback_sites`: every managed site, its last spec (jsonb) and where the last pass
  left it (version, in sync).
- `brightback_site_history`: per-site drift history (flapping) and backoff counters.
- `brightback_passes`: one row per pass and shard: who ran it, on which commit, counts.
- `brightback_orphans`: sites removed from the config, and what the last pass did.
- `brightback_reports`: the last report of each shard shape, for `status` and `--serve`.
- `brightback_lock_notes`: who holds or last released a site's advisory lock.
- `brightback_shard_counts`: destructive steps per shard of a run (the fleet threshold).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Migration:
    version: int
    description: str
    sql: str


MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        1,
        "sites, history, passes, orphans, reports, lock notes",
        """
        CREATE TABLE brightback_meta (
            id boolean PRIMARY KEY DEFAULT true CHECK (id),
            passes integer NOT NULL DEFAULT 0,
            writer jsonb NOT NULL DEFAULT '{}'::jsonb
        );
        INSERT INTO brightback_meta DEFAULT VALUES;
        CREATE TABLE brightback_sites (
            site text PRIMARY KEY,
            name text NOT NULL,
            spec jsonb,
            spec_hash text,
            managed boolean NOT NULL DEFAULT true,
            last_pass integer NOT NULL DEFAULT 0,
            last_version bigint,
            in_sync boolean NOT NULL DEFAULT false,
            last_seen_at double precision,
            last_success_at double precision
        );
        CREATE TABLE brightback_site_history (
            site text PRIMARY KEY REFERENCES brightback_sites (site) ON DELETE CASCADE,
            failures integer NOT NULL DEFAULT 0,
            retry_after_pass integer NOT NULL DEFAULT 0,
            last_error text,
            drift jsonb NOT NULL DEFAULT '[]'::jsonb
        );
        CREATE TABLE brightback_passes (
            id bigserial PRIMARY KEY,
            pass_no integer NOT NULL,
            run_id text,
            shard_index integer NOT NULL,
            shard_count integer NOT NULL,
            host text NOT NULL,
            pid integer NOT NULL,
            started_at double precision NOT NULL,
            finished_at double precision NOT NULL,
            commit text,
            dirty boolean,
            counts jsonb NOT NULL
        );
        CREATE TABLE brightback_orphans (
            site text PRIMARY KEY,
            name text NOT NULL,
            deletion_policy text,
            action text NOT NULL,
            message text NOT NULL,
            pass_no integer NOT NULL
        );
        CREATE TABLE brightback_reports (
            shard_count integer NOT NULL,
            shard_index integer NOT NULL,
            run_id text,
            pass_no integer,
            written_at double precision NOT NULL,
            document jsonb NOT NULL,
            PRIMARY KEY (shard_count, shard_index)
        );
        CREATE TABLE brightback_lock_notes (
            site text PRIMARY KEY,
            note jsonb NOT NULL
        );
        """,
    ),
    Migration(
        2,
        "destructive-step counts of sharded runs",
        """
        CREATE TABLE brightback_shard_counts (
            run_id text NOT NULL,
            shard_count integer NOT NULL,
            shard_index integer NOT NULL,
            destructive integer NOT NULL,
            published_at double precision NOT NULL,
            PRIMARY KEY (run_id, shard_count, shard_index)
        );
        CREATE INDEX brightback_passes_by_run ON brightback_passes (run_id);
        """,
    ),
)

LATEST = MIGRATIONS[-1].version
