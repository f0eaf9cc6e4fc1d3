"""The engine's CLI fixtures (emulated sites, YAML documents, key scanning), reused so the
fleet tests drive `brightback reconcile` exactly as a user or a CronJob would."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.engine.conftest import Fleet


@pytest.fixture
def fleet(emulator: Any, tmp_path: Path, request: pytest.FixtureRequest) -> Fleet:
    return Fleet(emulator=emulator, root=tmp_path, test_id=request.node.nodeid)
