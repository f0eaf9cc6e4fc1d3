"""The engine's CLI fixtures (emulated sites, YAML documents, key scanning), reused so the
fleet tests drive `brightback reconcile` exactly as a user or a CronJob would.

Every fleet test runs twice: with the state directory, and with a PostgreSQL state store
(a fresh database of the session's throwaway server, handed to every `brightback` the
test starts through $BRIGHTBACK_STATE_URL). The store's password joins the secrets that
no output may ever contain.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests._postgres import PASSWORD
from tests.engine.conftest import KEYS_USED, Fleet

KEYS_USED.add(PASSWORD)


@pytest.fixture(params=["directory", "postgres"])
def fleet(emulator: Any, tmp_path: Path, request: pytest.FixtureRequest) -> Fleet:
    made = Fleet(emulator=emulator, root=tmp_path, test_id=request.node.nodeid)
    if request.param == "postgres":
        made.state_url = request.getfixturevalue("postgres_url")
        made.env["BRIGHTBACK_STATE_URL"] = made.state_url
    return made
