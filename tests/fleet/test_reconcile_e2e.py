"""`brightback reconcile` over the emulator, driven as a scheduled job would drive it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from reconciler.client import Client, ClientConfig
from reconciler.fleet.sites import apply_planned, read_and_plan
from reconciler.spec import load
from tests.engine.conftest import Fleet, document
from tests.fleet._stored import store_of, stored

pytestmark = pytest.mark.e2e

SCHEMA = json.loads(
    (Path(__file__).resolve().parents[2] / "schemas" / "report.schema.json").read_text()
)


def reconcile(fleet: Fleet, *args: str, fmt: str = "json") -> tuple[int, dict[str, Any], str]:
    result = fleet.cli("reconcile", *args, "--state-dir", "state", "--format", fmt)
    data = json.loads(result.stdout) if fmt == "json" else {}
    if fmt == "json":
        jsonschema.validate(data, SCHEMA)
    return result.code, data, result.output


def by_name(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {s["name"]: s for s in report["sites"]}


def connected_site(fleet: Fleet, site: str) -> None:
    """A site already converged to `document(site)` (toggle on, customer portal)."""
    fleet.add_site(site, published=[(f"{site}-bb", "customer_portal")])
    admin = fleet.emulator.admin
    admin.ui(site, "connect", brightback_site=f"{site}-bb", access_level="read_write")
    admin.ui(site, "cancellation_settings", reason_codes_enabled=False)
    admin.ui(site, "update", integrate_via="customer_portal", cancellation_via_brightback=True)


def test_once_pass_heals_drift_and_the_next_pass_is_clean(fleet: Fleet) -> None:
    connected_site(fleet, "acme")
    fleet.add_site("globex", published=[("globex-bb", "customer_portal")])
    fleet.write("sites.yaml", document("acme") + "---\n" + document("globex"))
    code, report, _ = reconcile(fleet, "sites.yaml", "--once")
    assert code == 2, report
    assert by_name(report)["globex-live"]["status"] == "applied"
    assert by_name(report)["acme-live"]["status"] == "in_sync"
    # someone turns reason codes back on... no: the toggle hides them; drift the mode instead
    fleet.emulator.admin.ui("acme", "update", integrate_via="retention_api")

    code, report, _ = reconcile(fleet, "sites.yaml", "--once")
    assert code == 2, report
    sites = by_name(report)
    assert sites["globex-live"]["status"] == "in_sync"
    assert sites["acme-live"]["status"] == "applied"
    drift = report["fleet"]["sites"]["acme-live"]["drift"]
    assert [(d["field"], d["resolution"]) for d in drift] == [("spec.integrateVia", "corrected")]
    assert drift[0]["changed_by"]["source"] == "admin_console"
    assert fleet.state("acme")["brightback_integration"]["integrate_via"] == "customer_portal"

    code, report, _ = reconcile(fleet, "sites.yaml", "--once")
    assert code == 0, report
    assert {s["status"] for s in report["sites"]} == {"in_sync"}
    assert report["fleet"]["pass"] == 3


def gets(fleet: Fleet, site: str) -> list[str]:
    return [r["path"] for r in fleet.emulator.admin.requests(site=site) if r["method"] == "GET"]


def test_onboarding_reads_each_site_once_and_asks_for_no_events(fleet: Fleet) -> None:
    """A site never seen in sync has no drift to attribute, and the phase-1 read is
    trusted under the site lock: one read, then the writes."""
    fleet.add_site("acme", published=[("acme-bb", "customer_portal")])
    fleet.write("sites.yaml", document("acme"))

    code, report, _ = reconcile(fleet, "sites.yaml", "--once")

    assert code == 2, report
    assert by_name(report)["acme-live"]["status"] == "applied"
    assert len(gets(fleet, "acme")) == 1, gets(fleet, "acme")
    assert len(writes(fleet, "acme")) == 4
    assert report["fleet"]["sites"]["acme-live"]["drift"][0]["changed_by"] is None


def test_a_site_drifted_when_first_seen_is_not_attributed(fleet: Fleet) -> None:
    """Drift older than the reconciler's first look has no "since we left it" to explain."""
    connected_site(fleet, "acme")
    fleet.emulator.admin.ui("acme", "update", integrate_via="retention_api")
    fleet.write("sites.yaml", document("acme"))

    code, report, _ = reconcile(fleet, "sites.yaml", "--once")

    assert code == 2, report
    assert [p for p in gets(fleet, "acme") if p.endswith("/events")] == []
    drift = report["fleet"]["sites"]["acme-live"]["drift"]
    assert [(d["field"], d["changed_by"]) for d in drift] == [("spec.integrateVia", None)]


def test_a_write_refused_as_stale_is_replanned_from_a_fresh_read(
    fleet: Fleet, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The phase-1 read is trusted under the lock; a change made after it makes the server
    refuse the first write (expected_version), and the apply re-reads and re-plans."""
    connected_site(fleet, "acme")
    fleet.write("sites.yaml", document("acme"))
    fleet.emulator.admin.ui("acme", "update", integrate_via="retention_api")
    for name, value in fleet.env.items():
        monkeypatch.setenv(name, value)
    desired = load([str(fleet.root / "sites.yaml")])[0]
    with (
        Client(ClientConfig(url_template=fleet.emulator.url_template)) as client,
        store_of(fleet) as store,
    ):
        planned = read_and_plan(client, desired, allow_disconnect=False)
        # someone clicks save in the admin console between our read and our write
        fleet.emulator.admin.ui("acme", "cancellation_settings", reason_codes_enabled=False)
        report, result = apply_planned(
            client,
            planned,
            site_lock=store.site_lock,
            pass_no=1,
            allow_disconnect=False,
            refuse_destructive=None,
            max_replans=3,
        )

    assert result is not None and result.ok, report
    assert len(result.replans) == 1
    assert result.outcomes[0].status.value == "skipped"
    assert fleet.state("acme")["brightback_integration"]["integrate_via"] == "customer_portal"


def writes(fleet: Fleet, site: str) -> list[dict[str, Any]]:
    return [r for r in fleet.emulator.admin.requests(site=site) if r["method"] == "POST"]


def with_policy(text: str, **policy: Any) -> str:
    """A `document()` with extra policy fields (deletionPolicy, suspended)."""
    doc = yaml.safe_load(text)
    doc["spec"]["policy"].update(policy)
    return yaml.safe_dump(doc, sort_keys=False)


def test_observe_only_site_reports_drift_and_is_never_written(fleet: Fleet) -> None:
    connected_site(fleet, "acme")
    # Published, so customers can still cancel (else it is Blocked no_cancel_path).
    fleet.emulator.admin.publish("acme-bb", "retention_api")
    fleet.emulator.admin.ui("acme", "update", integrate_via="retention_api")
    fleet.write("sites.yaml", document("acme", management="observe"))
    before = len(writes(fleet, "acme"))

    code, report, _ = reconcile(fleet, "sites.yaml", "--once")

    assert code == 0, report  # observed drift is reported, not an error
    assert by_name(report)["acme-live"]["status"] == "drifted"
    drift = report["fleet"]["sites"]["acme-live"]["drift"]
    assert [(d["field"], d["live"], d["resolution"]) for d in drift] == [
        ("spec.integrateVia", "retention_api", "observed")
    ]
    assert len(writes(fleet, "acme")) == before
    assert fleet.state("acme")["brightback_integration"]["integrate_via"] == "retention_api"


def test_a_missing_key_and_a_failing_api_do_not_stop_the_other_sites(fleet: Fleet) -> None:
    for site in ("nokey", "broken", "healthy"):
        fleet.add_site(site, published=[(f"{site}-bb", "customer_portal")])
    del fleet.env["NOKEY_CHARGEBEE_API_KEY"]
    fleet.emulator.admin.set_faults(sites={"broken": {"error_rate": 1.0}})
    fleet.write("sites.yaml", "---\n".join(document(s) for s in ("nokey", "broken", "healthy")))

    code, report, _ = reconcile(fleet, "sites.yaml", "--once")

    assert code == 1
    sites = by_name(report)
    assert sites["nokey-live"]["status"] == "failed"
    assert sites["nokey-live"]["conditions"][0]["reason"] == "credential_error"
    assert sites["broken-live"]["status"] == "failed"
    assert sites["healthy-live"]["status"] == "applied"
    assert fleet.state("healthy")["brightback_integration"]["cancellation_via_brightback"][
        "enabled"
    ]


def test_fleet_threshold_holds_back_disconnects_until_forced(fleet: Fleet) -> None:
    for site in ("a1", "a2", "a3"):
        connected_site(fleet, site)
    leaving = [document(s, state="disconnected", allow_disconnect=True) for s in ("a1", "a2")]
    fleet.write("sites.yaml", "---\n".join([*leaving, document("a3")]))

    code, report, _ = reconcile(fleet, "sites.yaml", "--max-destructive-sites", "1")

    assert code == 1 and report["refused"]
    assert report["fleet"]["safety"]["refused"]
    assert "more than --max-destructive-sites 1" in report["fleet"]["safety"]["reason"]
    sites = by_name(report)
    for name in ("a1-live", "a2-live"):
        assert sites[name]["status"] == "blocked"
        assert sites[name]["conditions"][-1]["reason"] == "fleet_safety_threshold"
    for site in ("a1", "a2"):
        assert not [w for w in writes(fleet, site) if w["path"].endswith("/disconnect")]
        assert fleet.state(site)["brightback_integration"]["connection"]["status"] == "connected"

    code, report, _ = reconcile(fleet, "sites.yaml", "--max-destructive-sites", "1", "--force")

    assert code == 2, report
    for site in ("a1", "a2"):
        integration = fleet.state(site)["brightback_integration"]
        assert integration["connection"]["status"] == "disconnected"
        assert integration["cancellation_settings"] == {
            "reason_codes_enabled": True,
            "portal_cancellation_enabled": True,
        }


def test_a_site_removed_from_the_config_is_reported_as_an_orphan_and_left_alone(
    fleet: Fleet,
) -> None:
    connected_site(fleet, "stay")
    connected_site(fleet, "gone")
    fleet.write("sites.yaml", document("stay") + "---\n" + document("gone"))
    assert reconcile(fleet, "sites.yaml")[0] == 0
    fleet.write("sites.yaml", document("stay"))
    before = len(writes(fleet, "gone"))

    code, report, _ = reconcile(fleet, "sites.yaml")

    assert code == 0
    assert [(o["site"], o["action"]) for o in report["fleet"]["orphans"]] == [("gone", "kept")]
    assert any("orphan gone-live" in n for n in report["notes"])
    assert len(writes(fleet, "gone")) == before


def test_orphan_with_deletion_policy_disconnect_is_disconnected_and_restored(
    fleet: Fleet,
) -> None:
    connected_site(fleet, "stay")
    connected_site(fleet, "gone")
    leaving = with_policy(document("gone", allow_disconnect=True), deletionPolicy="disconnect")
    fleet.write("sites.yaml", document("stay") + "---\n" + leaving)
    assert reconcile(fleet, "sites.yaml")[0] == 0
    fleet.write("sites.yaml", document("stay"))

    code, report, _ = reconcile(fleet, "sites.yaml")

    assert code == 2, report
    assert [(o["site"], o["action"]) for o in report["fleet"]["orphans"]] == [
        ("gone", "disconnected")
    ]
    integration = fleet.state("gone")["brightback_integration"]
    assert integration["connection"]["status"] == "disconnected"
    assert integration["cancellation_settings"]["portal_cancellation_enabled"] is True
    assert "gone" not in stored(fleet).sites  # no longer managed: not an orphan again
    assert reconcile(fleet, "sites.yaml")[1]["fleet"]["orphans"] == []


def test_an_invalid_config_applies_nothing_and_is_reported(fleet: Fleet) -> None:
    fleet.add_site("acme", published=[("acme-bb", "customer_portal")])
    fleet.write("sites.yaml", document("acme").replace("customer_portal", "carrier_pigeon"))

    code, report, _ = reconcile(fleet, "sites.yaml")

    assert code == 1 and report["refused"] and report["sites"] == []
    assert "invalid config" in report["notes"][0]
    assert writes(fleet, "acme") == []
