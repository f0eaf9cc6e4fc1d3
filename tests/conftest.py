"""One emulator process for the whole session; each test gets it freshly reset. One
throwaway PostgreSQL server for the session too, with a fresh database per test that asks."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from emulator.embedded import RunningEmulator, start_emulator
from tests._postgres import PostgresServer, start_postgres


@pytest.fixture(scope="session")
def emulator_process(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningEmulator]:
    db = Path(tmp_path_factory.mktemp("emulator")) / "emulator.sqlite3"
    with start_emulator(db) as running:
        yield running


@pytest.fixture
def emulator(emulator_process: RunningEmulator) -> RunningEmulator:
    """The session's emulator, wiped (sites, log, faults) so every test starts empty."""
    emulator_process.admin.reset()
    return emulator_process


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """initdb'd and started by the suite itself (tests/_postgres.py); never skipped."""
    with start_postgres() as server:
        yield server


@pytest.fixture
def postgres_url(postgres_server: PostgresServer) -> str:
    """A URL (with its password) of a fresh, empty database."""
    return postgres_server.create_database()
