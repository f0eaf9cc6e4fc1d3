"""A real fleet: fifty sites with mixed drift made through the admin routes, isolation of
bad sites inside it, a stop in the middle of a pass, and the retention_api probe."""

from __future__ import annotations

import json
import signal
import time
from collections import Counter

import pytest
import yaml

from tests.engine.conftest import KEYS_USED, Fleet, document, env_name
from tests.fleet._stored import last_report, wait_for_report
from tests.fleet.test_reconcile_e2e import by_name, reconcile, writes
from tests.fleet.test_reconcile_loop import start

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def onboard_in_console(fleet: Fleet, site: str) -> None:
    admin = fleet.emulator.admin
    admin.ui(site, "connect", brightback_site=f"{site}-bb", access_level="read_write")
    admin.ui(site, "cancellation_settings", reason_codes_enabled=False)
    admin.ui(site, "update", integrate_via="customer_portal", cancellation_via_brightback=True)


def test_fifty_sites_with_mixed_drift_converge_in_one_pass_and_the_next_is_clean(
    fleet: Fleet,
) -> None:
    fresh = [f"new{n:02d}" for n in range(20)]  # to onboard
    drifted = [f"drift{n:02d}" for n in range(10)]  # mode switched in the console
    observed = [f"watch{n:02d}" for n in range(8)]  # observe-only, mode switched
    blocked = [f"keep{n:02d}" for n in range(5)]  # toggle off wanted: needs a disconnect
    fine = [f"fine{n:02d}" for n in range(7)]  # already as wanted
    fleet.add_sites(fresh + drifted + observed + blocked + fine)
    for site in drifted + observed + blocked + fine:
        onboard_in_console(fleet, site)
    for site in observed:  # published: observed drift, customers can still cancel
        fleet.emulator.admin.publish(f"{site}-bb", "retention_api")
    for site in drifted + observed:
        fleet.emulator.admin.ui(site, "update", integrate_via="retention_api")
    docs = [document(s) for s in fresh + drifted + fine]
    docs += [document(s, management="observe") for s in observed]
    docs += [document(s, toggle=False) for s in blocked]
    fleet.write("fleet.yaml", "---\n".join(docs))

    code, report, _ = reconcile(fleet, "fleet.yaml")

    assert code == 1  # changes made, but Blocked sites are an error (exit-code table)
    statuses = Counter(s["status"] for s in report["sites"])
    assert statuses == {"applied": 30, "drifted": 8, "blocked": 5, "in_sync": 7}
    resolutions = Counter(
        d["resolution"] for site in report["fleet"]["sites"].values() for d in site["drift"]
    )
    assert resolutions["corrected"] >= 10 + 20 and resolutions["observed"] == 8
    assert resolutions["blocked"] >= 5
    for site in observed:
        assert writes(fleet, site) == []  # the API was only read
    assert by_name(report)["keep00-live"]["conditions"][0]["reason"] == "disconnect_not_allowed"

    log_before = len(fleet.emulator.admin.requests())
    code, report, _ = reconcile(fleet, "fleet.yaml")

    assert code == 1, [s for s in report["sites"] if s["status"] not in ("in_sync",)]
    assert Counter(s["status"] for s in report["sites"]) == {
        "in_sync": 37,
        "drifted": 8,
        "blocked": 5,
    }
    new_requests = fleet.emulator.admin.requests()[log_before:]
    assert not [r for r in new_requests if r["method"] == "POST"]


def test_one_bad_key_and_one_failing_api_leave_the_other_48_converged(fleet: Fleet) -> None:
    names = [f"site{n:02d}" for n in range(50)]
    fleet.add_sites(names)
    fleet.env[env_name("site00")] = "key-wrong-0123456789"
    KEYS_USED.add("key-wrong-0123456789")
    fleet.emulator.admin.set_faults(sites={"site01": {"error_rate": 1.0}})
    fleet.write("fleet.yaml", "---\n".join(document(s) for s in names))

    code, report, _ = reconcile(fleet, "fleet.yaml")

    assert code == 1
    sites = by_name(report)
    assert sites["site00-live"]["conditions"][0]["reason"] == "api_authentication_failed"
    assert sites["site01-live"]["status"] == "failed"
    assert Counter(s["status"] for s in report["sites"]) == {"applied": 48, "failed": 2}
    for site in names[2:]:
        assert fleet.state(site)["brightback_integration"]["cancellation_via_brightback"]["enabled"]
    assert report["fleet"]["sites"]["site01-live"]["failures"] == 1


def test_sigterm_during_a_pass_finishes_the_site_in_flight_and_records_the_pass(
    fleet: Fleet,
) -> None:
    names = [f"slow{n:02d}" for n in range(12)]
    fleet.add_sites(names)
    fleet.emulator.admin.set_faults(global_={"latency_ms": 250})
    fleet.write("fleet.yaml", "---\n".join(document(s) for s in names))
    process = start(fleet, "fleet.yaml", "--once", "--concurrency", "1", "--format", "json")
    try:
        deadline_requests = 0
        while deadline_requests == 0:  # the pass has started talking to the API
            assert process.poll() is None, process.communicate()
            deadline_requests = len(fleet.emulator.admin.requests())
            time.sleep(0.02)
        process.send_signal(signal.SIGTERM)
        stdout, stderr = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    report = json.loads(stdout)
    assert "stopped" in stderr
    assert report["fleet"]["stopped"] and report["fleet"]["not_attempted"]
    assert len(report["sites"]) + len(report["fleet"]["not_attempted"]) == 12
    for site in names:  # nothing half-done: each site fully onboarded or untouched
        assert len(writes(fleet, site)) in (0, 4), site
    recorded = last_report(fleet)
    assert recorded is not None
    assert recorded["fleet"]["not_attempted"] == report["fleet"]["not_attempted"]


def test_probe_reports_whether_a_retention_api_site_really_routes_cancels(fleet: Fleet) -> None:
    fleet.add_sites(["routes", "unpublished"])
    fleet.emulator.admin.publish("routes-bb", "retention_api")
    docs = []
    for site in ("routes", "unpublished"):
        doc = yaml.safe_load(document(site, mode="retention_api"))
        doc["spec"]["probe"] = {"subscriptionId": "sub_test_1"}
        docs.append(yaml.safe_dump(doc, sort_keys=False))
    fleet.write("fleet.yaml", "---\n".join(docs))

    report = reconcile(fleet, "fleet.yaml", "--probe")[1]

    probes = {name: s["probe"] for name, s in report["fleet"]["sites"].items()}
    assert probes["routes-live"]["ok"] is True
    assert probes["unpublished-live"]["ok"] is False
    # The toggle waits for the publish, so no pre-cancel session can start yet (rule 11).
    assert "cancellation_via_brightback_disabled" in probes["unpublished-live"]["error"]
    assert any(n.startswith("unpublished-live: probe failed") for n in report["notes"])


def test_status_page_serves_the_last_pass(fleet: Fleet) -> None:
    import httpx

    from tests.fleet.test_reconcile_loop import free_port

    fleet.add_sites(["acme"])
    fleet.write("fleet.yaml", document("acme"))
    port = free_port()
    process = start(fleet, "fleet.yaml", "--interval", "1h", "--serve", str(port))
    try:
        wait_for_report(fleet, process)
        page = httpx.get(f"http://127.0.0.1:{port}/", timeout=10)
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    assert page.status_code == 200
    assert "acme" in page.text
    assert process.returncode == 0
