"""One emulator process for the whole session; each test gets it freshly reset."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from emulator.embedded import RunningEmulator, start_emulator


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
