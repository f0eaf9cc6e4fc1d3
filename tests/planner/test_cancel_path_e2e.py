"""The cancel-path promises as a user meets them: `brightback plan`, `apply` and
`reconcile --once` in a subprocess against the running emulator."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.engine.conftest import Fleet, document

pytestmark = pytest.mark.e2e


def settings(fleet: Fleet, site: str = "acme") -> dict[str, Any]:
    state = fleet.state(site)
    return dict(state["cancellation_settings"])


def reasons(output: str) -> list[str]:
    report = json.loads(output)
    return [c["reason"] for s in report["sites"] for c in s["conditions"]]


def with_policy(text: str, **policy: Any) -> str:
    body = yaml.safe_load(text)
    body["spec"]["policy"].update(policy)
    return yaml.safe_dump(body, sort_keys=False)


@pytest.mark.parametrize("command", [("apply",), ("reconcile", "--once", "--state-dir", "st")])
def test_a_blocked_site_still_gets_its_fallback_restored(
    fleet: Fleet, command: tuple[str, ...]
) -> None:
    # Disconnected in the console with portal cancellation off, and the spec names a
    # Brightback site the account does not have: blocked, but customers must cancel.
    fleet.add_site("acme", portal_cancellation=False, reason_codes=False)
    path = fleet.write("acme.yaml", document("acme", brightback_site="not-in-account"))
    done = fleet.cli(*command, path, "--format", "json")
    assert done.code == 1, done.output
    assert "brightback_site_not_found" in reasons(done.stdout)
    assert settings(fleet) == {"portal_cancellation_enabled": True, "reason_codes_enabled": True}
    again = fleet.cli(*command, path, "--format", "json")
    assert again.code == 1 and settings(fleet)["portal_cancellation_enabled"]


def test_a_waiting_site_gets_its_fallback_restored(fleet: Fleet) -> None:
    fleet.add_site("acme", account="pending_activation", portal_cancellation=False)
    path = fleet.write("acme.yaml", document("acme"))
    done = fleet.cli("apply", path, "--format", "json")
    assert done.code == 2, done.output
    assert "account_pending_activation" in reasons(done.stdout)
    assert settings(fleet)["portal_cancellation_enabled"] is True


def test_onboarding_into_an_unpublished_experience_waits_with_the_fallback_in_force(
    fleet: Fleet,
) -> None:
    fleet.add_site("acme")
    path = fleet.write("acme.yaml", document("acme"))
    done = fleet.cli("apply", path)
    assert done.code == 2, done.output
    assert "Waiting experience_not_published" in done.stdout
    assert "publish the customer_portal experience of acme-bb" in done.stdout
    state = fleet.state("acme")
    assert state["connection"]["status"] == "connected"
    assert state["cancellation_via_brightback"]["enabled"] is False
    assert state["cancellation_settings"]["portal_cancellation_enabled"] is True
    fleet.emulator.admin.publish("acme-bb", "customer_portal")
    after = fleet.cli("apply", path)
    assert after.code == 2, after.output
    assert fleet.state("acme")["cancellation_via_brightback"] == {
        "enabled": True,
        "traffic_status": "on",
    }


def test_toggle_before_publish_opt_in_switches_the_toggle_on_first(fleet: Fleet) -> None:
    fleet.add_site("acme")
    path = fleet.write("acme.yaml", with_policy(document("acme"), toggleBeforePublish=True))
    assert fleet.cli("validate", path).code == 0
    done = fleet.cli("apply", path)
    assert done.code == 2, done.output
    assert fleet.state("acme")["cancellation_via_brightback"] == {
        "enabled": True,
        "traffic_status": "waiting_for_publish",
    }


def test_an_unpublished_experience_under_a_live_toggle_is_loud(
    fleet: Fleet, tmp_path: Path
) -> None:
    fleet.add_site("acme", published=[("acme-bb", "customer_portal")])
    path = fleet.write("acme.yaml", document("acme"))
    assert fleet.cli("apply", path).code == 2
    fleet.emulator.admin.unpublish("acme-bb", "customer_portal")
    planned = fleet.cli("plan", path)
    assert planned.code == 1, planned.output
    assert "Blocked no_cancel_path" in planned.stdout
    assert "cannot cancel" in planned.stdout
    assert "publish the customer_portal experience of acme-bb" in planned.stdout
    passed = fleet.cli("reconcile", "--once", path, "--state-dir", tmp_path / "state")
    assert passed.code == 1, passed.output
    assert "no_cancel_path" in passed.stdout
