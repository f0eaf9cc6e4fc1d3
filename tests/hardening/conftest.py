"""The fleet fixtures (emulated sites, CLI in a subprocess), for the hardening tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.engine.conftest import Fleet
from tests.fleet.conftest import fleet


@pytest.fixture
def directory_fleet(emulator: Any, tmp_path: Path, request: pytest.FixtureRequest) -> Fleet:
    """A fleet on the local directory store only: for damage done to its files (a report
    path that is a directory, a hand-edited state.json), which the PostgreSQL store has not."""
    return Fleet(emulator=emulator, root=tmp_path, test_id=request.node.nodeid)


__all__ = ["directory_fleet", "fleet"]
