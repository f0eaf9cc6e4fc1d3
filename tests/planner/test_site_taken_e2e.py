"""A Brightback site name another account owns: the sign-up is refused and changes
nothing, and apply and reconcile report the site Blocked `brightback_site_taken`, naming
spec.connection.brightbackSite and what to do, on this pass and the next (never a
misleading Waiting for an activation that cannot come)."""

from __future__ import annotations

import json

import pytest

from tests.engine.conftest import Fleet, document

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize("command", [("apply",), ("reconcile", "--once", "--state-dir", "st")])
def test_signing_up_with_a_taken_name_is_blocked_and_leaves_no_pending_account(
    fleet: Fleet, command: tuple[str, ...]
) -> None:
    fleet.add_site("owner")  # its account owns owner-bb
    fleet.add_site("solo", account=None)
    path = fleet.write("solo.yaml", document("solo", brightback_site="owner-bb", sign_up=True))
    for _ in range(2):
        done = fleet.cli(*command, path, "--format", "json")
        assert done.code == 1, done.output
        (site,) = json.loads(done.stdout)["sites"]
        assert site["status"] == "blocked"
        (condition,) = site["conditions"]
        assert condition["reason"] == "brightback_site_taken"
        assert "spec.connection.brightbackSite owner-bb" in condition["message"]
        assert "spec.connection.brightbackSite" in condition["unblock"]
        assert fleet.state("solo")["account"]["status"] == "not_found"
