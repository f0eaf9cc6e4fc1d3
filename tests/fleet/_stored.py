"""What a fleet test's reconciler remembered, read from whichever store it used."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from reconciler.fleet.state import FleetState
from reconciler.store import Store, merge_reports, open_store
from tests.engine.conftest import Fleet


@contextmanager
def store_of(fleet: Fleet) -> Iterator[Store]:
    store = open_store(fleet.root / "state", fleet.state_url)
    try:
        yield store
    finally:
        store.close()


def stored(fleet: Fleet) -> FleetState:
    with store_of(fleet) as store:
        return store.load()


def last_report(fleet: Fleet) -> dict[str, Any] | None:
    with store_of(fleet) as store:
        return merge_reports(store.read_reports())


def has_report(fleet: Fleet) -> bool:
    with store_of(fleet) as store:
        return store.has_report()


def stored_texts(fleet: Fleet) -> dict[str, str]:
    """Everything the store holds, as text by file or table (to scan for secrets)."""
    if fleet.state_url is None:
        files = (p for p in (fleet.root / "state").rglob("*") if p.is_file())
        return {str(p): p.read_text(encoding="utf-8") for p in files}
    import psycopg

    texts: dict[str, str] = {}
    with psycopg.connect(fleet.state_url) as conn:
        tables = conn.execute(
            "SELECT tablename FROM pg_tables WHERE tablename LIKE 'brightback_%'"
        ).fetchall()
        for (table,) in tables:
            rows = conn.execute(f"SELECT t::text FROM {table} t").fetchall()  # noqa: S608
            texts[table] = "\n".join(row[0] for row in rows)
    return texts


def wait_for_report(fleet: Fleet, process: subprocess.Popen[str]) -> None:
    """The first pass has been recorded (or the process died, which fails the test)."""
    deadline = time.monotonic() + 60
    while not has_report(fleet):
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "no pass recorded within 60 s"
        time.sleep(0.1)
