"""The CLI fixtures of the engine tests, for commands run as a user runs them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.engine.conftest import Fleet


@pytest.fixture
def fleet(emulator: Any, tmp_path: Path, request: pytest.FixtureRequest) -> Fleet:
    return Fleet(emulator=emulator, root=tmp_path, test_id=request.node.nodeid)
