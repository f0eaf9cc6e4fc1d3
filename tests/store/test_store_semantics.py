"""The state store's contract, the same for the directory and for PostgreSQL: what a
pass records is what the next pass loads, and the pieces only PostgreSQL has (schema
migrations, advisory locks that die with their session, pass records, orphans)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from reconciler.fleet.lock import SiteLocked
from reconciler.fleet.shard import Shard
from reconciler.fleet.state import SiteState
from reconciler.store import DirectoryStore, PassNote, Store, StoreError, open_store
from reconciler.store._migrations import LATEST
from reconciler.store.postgres import PostgresStore, schema_version
from tests._postgres import PASSWORD, PostgresServer


@pytest.fixture(params=["directory", "postgres"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    if request.param == "directory":
        opened: Store = DirectoryStore(tmp_path / "state")
    else:
        opened = open_store(tmp_path / "unused", request.getfixturevalue("postgres_url"))
    try:
        yield opened
    finally:
        opened.close()


def site(name: str, **extra: object) -> SiteState:
    state = SiteState(site=name, name=f"{name}-live", spec_json='{"spec":{"site":"' + name + '"}}')
    for key, value in extra.items():
        setattr(state, key, value)
    return state


def test_what_a_pass_records_is_what_the_next_pass_loads(store: Store) -> None:
    assert store.load().passes == 0 and store.load().sites == {}
    acme = site("acme", last_version=7, in_sync=True, failures=2, retry_after_pass=4)
    acme.record_drift(1, 100.0, ["spec.integrateVia"], "corrected")
    store.record_site(acme)
    store.record_site(site("globex", managed=True, last_error="boom"))
    store.finish_pass(PassNote(pass_no=1), (), ())

    loaded = store.load()
    assert loaded.passes == 1
    assert loaded.sites["acme"].to_dict() == acme.to_dict()
    assert loaded.sites["globex"].last_error == "boom"
    assert loaded.writer["pass"] == 1 and loaded.writer["pid"] == os.getpid()


def test_finishing_a_pass_forgets_disconnected_orphans_and_never_lowers_the_count(
    store: Store,
) -> None:
    store.record_site(site("acme"))
    store.record_site(site("gone"))
    store.finish_pass(PassNote(pass_no=5), (), ())
    store.finish_pass(PassNote(pass_no=3), {"gone"}, ())  # a slower reconciler's older pass
    loaded = store.load()
    assert set(loaded.sites) == {"acme"}
    assert loaded.passes == 5


def test_the_last_reports_of_shards_are_kept_apart_and_the_newest_shape_wins(
    store: Store,
) -> None:
    assert not store.has_report() and store.read_reports() == []
    store.write_report({"sites": [{"name": "whole"}]}, Shard())
    time.sleep(0.05)  # the newest report decides the shape (mtime on the directory)
    for index in (1, 0):
        store.write_report({"sites": [{"name": f"s{index}"}]}, Shard(index, 2))
    assert store.has_report()
    names = sorted(r["sites"][0]["name"] for r in store.read_reports())
    assert names == ["s0", "s1"]


def test_shard_counts_are_per_run(store: Store) -> None:
    store.publish_count("run-a", Shard(0, 2), 3)
    store.publish_count("run-a", Shard(1, 2), 0)
    store.publish_count("run-b", Shard(0, 2), 9)
    assert store.shard_counts("run-a", 2) == {0: 3, 1: 0}
    assert store.shard_counts("run-b", 2) == {0: 9}
    assert store.shard_counts("run-a", 4) == {}


# ---------------------------------------------------------------------- PostgreSQL only


@pytest.fixture
def pg_url(postgres_url: str) -> str:
    return postgres_url


def test_a_held_site_lock_refuses_another_reconciler_and_leaves_a_release_note(
    pg_url: str,
) -> None:
    first, second = PostgresStore.connect(pg_url), PostgresStore.connect(pg_url)
    with first.site_lock("acme", 1):
        with pytest.raises(SiteLocked) as caught, second.site_lock("acme", 1):
            pass
        assert caught.value.holder["pid"] == os.getpid() and caught.value.holder["pass"] == 1
        with second.site_lock("globex", 1):
            pass  # other sites are free
    before = time.time()
    with second.site_lock("acme", 2) as lease:
        assert lease.previous["released_at"] >= before - 1
        assert lease.applied_since(before - 10)  # applied after a read made before it
        assert not lease.applied_since(time.time() + 10)
    first.close()
    second.close()


def test_a_fresh_database_is_migrated_to_the_latest_schema_once(pg_url: str) -> None:
    PostgresStore.connect(pg_url).close()
    PostgresStore.connect(pg_url).close()  # a second start applies nothing again
    with psycopg.connect(pg_url) as conn:
        assert schema_version(conn) == LATEST
        rows = conn.execute("SELECT version FROM brightback_migrations ORDER BY 1").fetchall()
    assert [r[0] for r in rows] == list(range(1, LATEST + 1))


def test_an_older_schema_is_migrated_and_keeps_its_data(pg_url: str) -> None:
    old = PostgresStore.connect(pg_url, migrate_to=1)
    old.record_site(site("acme", last_version=3))
    old.finish_pass(PassNote(pass_no=4), (), ())
    with psycopg.connect(pg_url) as conn:
        assert schema_version(conn) == 1
        assert conn.execute("SELECT to_regclass('brightback_shard_counts')").fetchone() == (None,)
    old.close()

    new = PostgresStore.connect(pg_url)
    loaded = new.load()
    assert loaded.passes == 4 and loaded.sites["acme"].last_version == 3
    new.publish_count("r", Shard(0, 2), 1)  # the table migration 2 added
    assert new.shard_counts("r", 2) == {0: 1}
    new.close()


def test_a_schema_newer_than_this_brightback_is_refused_untouched(pg_url: str) -> None:
    PostgresStore.connect(pg_url).close()
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO brightback_migrations (version, description) VALUES (%s, 'future')",
            (LATEST + 1,),
        )
    with pytest.raises(StoreError, match=f"version {LATEST + 1}, newer than this brightback"):
        PostgresStore.connect(pg_url)


def test_pass_records_and_orphans_are_kept(pg_url: str) -> None:
    store = PostgresStore.connect(pg_url)
    store.record_site(site("acme"))
    orphan = {"site": "old", "name": "old-live", "deletion_policy": "orphan"}
    orphan |= {"action": "kept", "message": "removed from the config"}
    note = PassNote(pass_no=1, shard=Shard(1, 4), run_id="r9", commit="abc", dirty=False)
    store.finish_pass(note, (), [orphan])
    store.close()
    with psycopg.connect(pg_url) as conn:
        passes = conn.execute(
            "SELECT pass_no, run_id, shard_index, shard_count, commit, pid FROM brightback_passes"
        ).fetchall()
        orphans = conn.execute("SELECT site, action FROM brightback_orphans").fetchall()
    assert passes == [(1, "r9", 1, 4, "abc", os.getpid())]
    assert orphans == [("old", "kept")]


def test_the_password_is_never_in_a_store_message(postgres_server: PostgresServer) -> None:
    good = postgres_server.create_database()
    store = open_store(Path("unused"), good)
    assert PASSWORD not in store.where and "***" in store.where
    store.close()
    wrong = good.replace("pg-s3cret", "not-the-s3cret")
    with pytest.raises(StoreError) as caught:
        open_store(Path("unused"), wrong)
    message = str(caught.value)
    assert "not-the-s3cret" not in message and "pg-s3cret" not in message
    assert "password authentication failed" in message
    assert "postgresql://brightback:***@127.0.0.1" in message


def test_a_state_url_that_is_not_postgresql_is_refused(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match=r"mysql://u:\*\*\*@db/x is not a postgresql:// URL"):
        open_store(tmp_path, "mysql://u:hunter2@db/x")


HOLDER = """
import sys, time
from pathlib import Path
from reconciler.store import open_store
store = open_store(Path("unused"), sys.argv[1])
with store.site_lock("acme", 7):
    print("locked", flush=True)
    time.sleep(600)
"""


def test_a_killed_runners_site_lock_vanishes_with_its_session(pg_url: str) -> None:
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, pg_url], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        store = PostgresStore.connect(pg_url)
        with pytest.raises(SiteLocked) as caught, store.site_lock("acme", 8):
            pass
        assert caught.value.holder["pid"] == holder.pid
        assert f"pid {holder.pid}" in str(caught.value)
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=30)
        deadline = time.monotonic() + 30  # the server sees the closed socket at once
        while True:
            try:
                with store.site_lock("acme", 8) as lease:
                    # the dead holder left no release note: its writes are unknown, so
                    # the next holder must read the site again before writing
                    assert lease.applied_since(time.time())
                break
            except SiteLocked:
                assert time.monotonic() < deadline, "the dead runner's lock never went away"
                time.sleep(0.2)
        store.close()
    finally:
        if holder.poll() is None:
            holder.kill()


def test_a_site_recorded_twice_in_a_pass_keeps_its_last_state(store: Store) -> None:
    store.record_site(site("acme", last_version=1))
    store.record_site(site("acme", last_version=2, in_sync=True))
    store.finish_pass(PassNote(pass_no=1), (), ())
    loaded = store.load().sites["acme"]
    assert (loaded.last_version, loaded.in_sync) == (2, True)


def test_a_big_pass_merges_into_the_sites_already_stored(store: Store) -> None:
    """Past 200 sites the directory store streams its file from the pass's buffer: the
    sites it did not touch (an earlier pass's, another reconciler's) stay as they were."""
    first = [site(f"s{n:03d}", last_version=n) for n in range(260)]
    for state in first:
        store.record_site(state)
    store.finish_pass(PassNote(pass_no=1), (), ())
    store.record_site(site("s007", last_version=700, last_error="boom"))
    store.record_site(site("new", last_version=1))
    store.finish_pass(PassNote(pass_no=2), {"s100"}, ())
    loaded = store.load()
    assert len(loaded.sites) == 260 and "s100" not in loaded.sites
    assert (
        loaded.sites["s007"].to_dict()
        == site("s007", last_version=700, last_error="boom").to_dict()
    )
    assert loaded.sites["s259"].to_dict() == first[259].to_dict()
    assert loaded.sites["new"].last_version == 1 and loaded.passes == 2
