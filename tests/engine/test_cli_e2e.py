"""`brightback plan` / `apply` in a subprocess against the running emulator, as a user runs
them: exit codes, what the site looks like afterwards, and what the output says."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from .conftest import Fleet, document

pytestmark = pytest.mark.e2e

REPORT_SCHEMA = json.loads(
    (Path(__file__).parents[2] / "schemas" / "report.schema.json").read_text()
)


def integration(fleet: Fleet, site: str) -> dict[str, Any]:
    """The site's state as the admin console sees it, in the contract's resource shape."""
    state = fleet.state(site)
    return dict(state.get("brightback_integration", state))


def onboarded(fleet: Fleet, site: str = "acme", mode: str = "customer_portal") -> Path:
    fleet.add_site(
        site, published=[(f"{site}-bb", "customer_portal"), (f"{site}-bb", "retention_api")]
    )
    path = fleet.write(f"{site}.yaml", document(site, mode=mode))
    assert fleet.cli("apply", path).code == 2
    return path


@pytest.mark.parametrize("mode", ["customer_portal", "retention_api"])
def test_onboarding_connects_sets_the_mode_and_turns_cancellation_via_brightback_on(
    fleet: Fleet, mode: str
) -> None:
    fleet.add_site("acme", published=[("acme-bb", mode)])
    path = fleet.write("acme.yaml", document("acme", mode=mode))

    planned = fleet.cli("plan", path)
    assert planned.code == 2, planned.output
    for action in (
        "connect",
        "set_integration_mode",
        "disable_reason_codes",
        "enable_cancellation_via_brightback",
    ):
        assert action in planned.stdout
    assert (
        integration(fleet, "acme")["connection"]["status"] == "disconnected"
    )  # plan wrote nothing

    applied = fleet.cli("apply", path)
    assert applied.code == 2, applied.output
    live = integration(fleet, "acme")
    assert live["connection"]["status"] == "connected"
    assert live["connection"]["brightback_site"] == "acme-bb"
    assert live["integrate_via"] == mode
    assert live["cancellation_via_brightback"] == {"enabled": True, "traffic_status": "on"}
    assert live["cancellation_settings"]["reason_codes_enabled"] is False
    assert fleet.state("acme")["api_keys_generated"] == 1

    again = fleet.cli("plan", path)
    assert again.code == 0, again.output
    assert "in sync" in again.stdout


def test_apply_waits_for_the_experience_to_be_published(fleet: Fleet) -> None:
    fleet.add_site("acme", published=[("acme-bb", "customer_portal")])
    path = fleet.write("acme.yaml", document("acme", mode="retention_api"))

    applied = fleet.cli("apply", path)
    assert applied.code == 2, applied.output
    assert "experience for retention_api not published" in applied.stdout
    live = integration(fleet, "acme")
    # The toggle waits for the publish (cancel-path invariant); the fallback stays on.
    assert live["cancellation_via_brightback"] == {"enabled": False, "traffic_status": "off"}
    assert live["cancellation_settings"]["portal_cancellation_enabled"] is True

    waiting = fleet.cli("plan", path)
    assert waiting.code == 0, waiting.output  # nothing to do but wait: not drift
    assert "Waiting experience_not_published" in waiting.stdout

    fleet.emulator.admin.publish("acme-bb", "retention_api")
    assert fleet.cli("plan", path).code == 2
    assert fleet.cli("apply", path).code == 2
    published = fleet.cli("plan", path)
    assert published.code == 0 and "in sync" in published.stdout
    assert integration(fleet, "acme")["cancellation_via_brightback"]["traffic_status"] == "on"


def test_mode_switch_changes_only_the_mode_without_reconnecting(fleet: Fleet) -> None:
    path = onboarded(fleet, mode="customer_portal")
    path.write_text(document("acme", mode="retention_api"))

    planned = fleet.cli("plan", path)
    assert planned.code == 2
    assert "set_integration_mode" in planned.stdout and "disconnect" not in planned.stdout

    assert fleet.cli("apply", path).code == 2
    live = integration(fleet, "acme")
    assert live["integrate_via"] == "retention_api"
    assert live["connection"]["status"] == "connected"
    assert fleet.state("acme")["api_keys_generated"] == 1


def test_toggle_off_is_refused_without_the_allowance_then_done_with_it(fleet: Fleet) -> None:
    path = onboarded(fleet)
    path.write_text(document("acme", toggle=False))
    version = fleet.state("acme")["version"]

    planned = fleet.cli("plan", path)
    assert planned.code == 1  # a Blocked site: a person must act (exit-code table)
    assert "disconnect_not_allowed" in planned.stdout
    assert "[destructive]" in planned.stdout
    assert "--allow-disconnect" in planned.stdout

    refused = fleet.cli("apply", path)
    assert refused.code == 1, refused.output
    assert "disconnect_not_allowed" in refused.stdout
    assert fleet.state("acme")["version"] == version  # nothing written
    assert integration(fleet, "acme")["cancellation_via_brightback"]["enabled"] is True

    allowed = fleet.cli("apply", path, "--allow-disconnect")
    assert allowed.code == 2, allowed.output
    live = integration(fleet, "acme")
    assert live["connection"]["status"] == "connected"  # reconnected, as still wanted
    assert live["cancellation_via_brightback"]["enabled"] is False
    assert live["cancellation_settings"] == {
        "reason_codes_enabled": True,
        "portal_cancellation_enabled": True,
    }
    assert fleet.state("acme")["api_keys_generated"] == 2  # a reconnect makes a new key
    assert fleet.cli("plan", path).code == 0


def test_disconnect_restores_the_previous_cancel_experience(fleet: Fleet) -> None:
    path = onboarded(fleet)
    before = integration(fleet, "acme")["cancellation_settings"]
    assert before == {"reason_codes_enabled": False, "portal_cancellation_enabled": False}
    path.write_text(document("acme", state="disconnected", allow_disconnect=True))

    applied = fleet.cli("apply", path)
    assert applied.code == 2, applied.output
    assert "disconnect" in applied.stdout and "restore_cancel_experience" in applied.stdout
    live = integration(fleet, "acme")
    assert live["connection"]["status"] == "disconnected"
    assert live["connection"]["data_sync"] is False
    assert live["cancellation_settings"] == {
        "reason_codes_enabled": True,
        "portal_cancellation_enabled": True,
    }
    assert fleet.cli("plan", path).code == 0


def test_drift_made_in_the_admin_console_is_reported_then_corrected(fleet: Fleet) -> None:
    path = onboarded(fleet, mode="customer_portal")
    response = fleet.emulator.admin.ui("acme", "update", integrate_via="retention_api")
    assert response.status_code == 200, response.text

    drifted = fleet.cli("plan", path)
    assert drifted.code == 2
    assert "spec.integrateVia" in drifted.stdout
    assert "live retention_api, desired customer_portal" in drifted.stdout

    corrected = fleet.cli("apply", path)
    assert corrected.code == 2
    assert integration(fleet, "acme")["integrate_via"] == "customer_portal"
    assert fleet.cli("plan", path).code == 0


def test_saved_plan_is_refused_after_a_change_in_the_admin_console(fleet: Fleet) -> None:
    fleet.add_site("acme", published=[("acme-bb", "customer_portal")])
    path = fleet.write("acme.yaml", document("acme"))
    saved = fleet.root / "plan.json"

    assert fleet.cli("plan", path, "--out", saved).code == 2
    text = saved.read_text()
    assert "key-acme" not in text and json.loads(text)["sites"][0]["fingerprint"]
    response = fleet.emulator.admin.ui(
        "acme", "cancellation_settings", portal_cancellation_enabled=False
    )
    assert response.status_code == 200, response.text
    version = fleet.state("acme")["version"]

    refused = fleet.cli("apply", saved)
    assert refused.code == 1, refused.output
    assert "refused to apply" in refused.stdout
    assert "live version moved from" in refused.stdout
    assert fleet.state("acme")["version"] == version  # nothing applied
    assert integration(fleet, "acme")["connection"]["status"] == "disconnected"


def test_saved_plan_is_applied_when_nothing_changed(fleet: Fleet) -> None:
    fleet.add_site("acme", published=[("acme-bb", "customer_portal")])
    path = fleet.write("acme.yaml", document("acme"))
    saved = fleet.root / "plan.json"
    assert fleet.cli("plan", path, "--out", saved).code == 2
    path.unlink()  # the saved plan carries the reviewed desired state itself

    applied = fleet.cli("apply", saved)
    assert applied.code == 2, applied.output
    assert integration(fleet, "acme")["cancellation_via_brightback"]["enabled"] is True


def test_one_invalid_document_means_nothing_is_applied(fleet: Fleet) -> None:
    fleet.add_site("acme", published=[("acme-bb", "customer_portal")])
    fleet.add_site("globex", published=[("globex-bb", "customer_portal")])
    fleet.write("acme.yaml", document("acme"))
    fleet.write("globex.yaml", document("globex").replace("customer_portal", "portal", 1))

    result = fleet.cli("apply", fleet.root)
    assert result.code == 1
    assert "globex.yaml" in result.stderr and "spec.integrateVia" in result.stderr
    writes = [r for r in fleet.emulator.admin.requests() if r["method"] == "POST"]
    assert writes == []


def test_a_failing_site_does_not_stop_the_others(fleet: Fleet) -> None:
    fleet.add_site("acme", published=[("acme-bb", "customer_portal")])
    fleet.add_site("globex", published=[("globex-bb", "customer_portal")])
    fleet.write("sites.yaml", document("acme") + "---\n" + document("globex"))

    result = fleet.cli("apply", fleet.root, env={"GLOBEX_CHARGEBEE_API_KEY": ""})
    assert result.code == 1
    assert "credential_error" in result.stdout
    assert "env GLOBEX_CHARGEBEE_API_KEY is empty" in result.stdout
    assert integration(fleet, "acme")["cancellation_via_brightback"]["enabled"] is True
    assert integration(fleet, "globex")["connection"]["status"] == "disconnected"


def test_json_report_is_valid_and_carries_plan_outcomes_and_final_state(fleet: Fleet) -> None:
    fleet.add_site("acme", published=[("acme-bb", "customer_portal")])
    path = fleet.write("acme.yaml", document("acme"))

    result = fleet.cli("apply", path, "--format", "json")
    assert result.code == 2
    report = json.loads(result.stdout)
    jsonschema.validate(report, REPORT_SCHEMA)
    (site,) = report["sites"]
    assert report["exit_code"] == 2 and site["status"] == "applied"
    assert [o["status"] for o in site["outcomes"]] == ["applied"] * len(site["plan"]["steps"])
    assert site["live"]["cancellation_via_brightback"]["enabled"] is True
    assert site["conditions"][0]["type"] == "Ready"


def test_markdown_report_for_a_pull_request(fleet: Fleet) -> None:
    fleet.add_site("acme", published=[("acme-bb", "customer_portal")])
    path = fleet.write("acme.yaml", document("acme"))

    result = fleet.cli("plan", path, "--format", "markdown")
    assert result.code == 2
    assert result.stdout.startswith("### brightback plan: 1 sites")
    assert "| Name | Site | Status |" in result.stdout
    assert "<details>" in result.stdout and "**connect**" in result.stdout


def test_plan_site_filter_and_unknown_site(fleet: Fleet) -> None:
    fleet.add_site("acme", published=[("acme-bb", "customer_portal")])
    fleet.add_site("globex", published=[("globex-bb", "customer_portal")])
    fleet.write("sites.yaml", document("acme") + "---\n" + document("globex"))

    only = fleet.cli("plan", fleet.root, "--site", "globex")
    assert only.code == 2 and "globex-live" in only.stdout and "acme-live" not in only.stdout
    unknown = fleet.cli("plan", fleet.root, "--site", "nope")
    assert unknown.code == 1 and "no document or site named 'nope'" in unknown.stderr
