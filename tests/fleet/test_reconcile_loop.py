"""The long-running reconciler: interval passes, SIGTERM, metrics, logs; and export."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess

import httpx
import pytest

from tests.engine.conftest import BRIGHTBACK, Fleet, document
from tests.fleet._stored import stored, wait_for_report
from tests.fleet.test_reconcile_e2e import connected_site, reconcile

pytestmark = pytest.mark.e2e


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start(fleet: Fleet, *args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "BRIGHTBACK_API_URL": fleet.emulator.url_template, **fleet.env}
    return subprocess.Popen(
        [BRIGHTBACK, "reconcile", *args, "--state-dir", "state"],
        cwd=fleet.root,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_interval_mode_runs_the_asked_number_of_passes(fleet: Fleet) -> None:
    fleet.add_site("acme", published=[("acme-bb", "customer_portal")])
    fleet.write("sites.yaml", document("acme"))

    result = fleet.cli(
        "reconcile", "sites.yaml", "--interval", "0.2s", "--passes", "2", "--state-dir", "state"
    )

    assert result.code == 0  # the last pass found nothing to do
    assert "pass 1: 1 sites, 1 applied; exit 2" in result.stderr
    assert "pass 2: 1 sites, 1 in_sync; exit 0" in result.stderr
    assert stored(fleet).passes == 2


def test_sigterm_ends_the_loop_cleanly_and_metrics_are_served(fleet: Fleet) -> None:
    connected_site(fleet, "acme")
    fleet.emulator.admin.ui("acme", "update", integrate_via="retention_api")
    fleet.write("sites.yaml", document("acme"))
    port = free_port()
    process = start(
        fleet, "sites.yaml", "--interval", "1h", "--metrics-port", str(port), "--log-format", "json"
    )
    try:
        wait_for_report(fleet, process)
        metrics = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0
    assert "stopped" in stderr
    assert 'brightback_passes_total{result="2"} 1.0' in metrics
    assert "brightback_drift_corrected_total 1.0" in metrics
    assert 'brightback_api_requests_total{method="POST"}' in metrics
    assert 'brightback_sites{status="applied"} 1.0' in metrics
    logs = [json.loads(line) for line in stderr.splitlines() if line.startswith("{")]
    finished = [entry for entry in logs if entry["message"] == "pass 1 finished"]
    assert finished and finished[0]["exit_code"] == 2


def test_text_and_markdown_reports_carry_the_fleet_notes(fleet: Fleet) -> None:
    connected_site(fleet, "acme")
    fleet.write("sites.yaml", document("acme"))
    assert fleet.cli("reconcile", "sites.yaml", "--state-dir", "state").code == 0
    fleet.emulator.admin.ui("acme", "update", integrate_via="retention_api")
    text = fleet.cli("reconcile", "sites.yaml", "--state-dir", "state", "--format", "text")
    assert text.code == 2
    assert "spec.integrateVia was changed via the admin console" in text.stdout
    fleet.emulator.admin.ui("acme", "update", integrate_via="retention_api")
    markdown = fleet.cli("reconcile", "sites.yaml", "--state-dir", "state", "--format", "markdown")
    assert markdown.code == 2
    assert "spec\\.integrateVia was changed via the admin console" in markdown.stdout
    assert "acme\\-live keeps drifting back: 2 times since pass 2" in markdown.stdout


def test_exported_live_state_plans_nothing(fleet: Fleet) -> None:
    connected_site(fleet, "portal")
    fleet.add_site("plain", reason_codes=False)  # disconnected, its own settings
    fleet.add_site("retention", published=[("retention-bb", "retention_api")])
    admin = fleet.emulator.admin
    admin.ui("retention", "connect", brightback_site="retention-bb", access_level="read_write")
    admin.ui("retention", "update", integrate_via="retention_api")

    exported = fleet.cli("export", "--site", "portal", "--site", "plain", "--site", "retention")

    assert exported.code == 0, exported.stderr
    assert "apiKeyFromEnv: PORTAL_CHARGEBEE_API_KEY" in exported.stdout
    fleet.write("exported.yaml", exported.stdout)
    planned = fleet.cli("plan", "exported.yaml")
    assert planned.code == 0, planned.output
    code, report, _ = reconcile(fleet, "exported.yaml")
    assert code == 0 and {s["status"] for s in report["sites"]} == {"in_sync"}


def test_export_of_an_unreadable_site_fails_without_stopping_the_others(fleet: Fleet) -> None:
    fleet.add_site("acme")
    exported = fleet.cli("export", "--site", "acme", "--site", "nosuch")
    assert exported.code == 1
    assert "metadata:\n  name: acme" in exported.stdout
    assert "nosuch" in exported.stderr


def test_interval_mode_in_json_prints_one_parseable_report_per_pass(fleet: Fleet) -> None:
    fleet.add_site("acme", published=[("acme-bb", "customer_portal")])
    fleet.write("sites.yaml", document("acme"))
    result = fleet.cli(
        "reconcile", "sites.yaml", "--interval", "0.1s", "--passes", "2",
        "--state-dir", "state", "--format", "json",
    )  # fmt: skip
    decoder = json.JSONDecoder()
    reports, at = [], 0
    while at < len(result.stdout.rstrip()):
        report, at = decoder.raw_decode(result.stdout, at)
        reports.append(report)
        at = len(result.stdout) - len(result.stdout[at:].lstrip())
    assert [r["fleet"]["pass"] for r in reports] == [1, 2]
    assert [r["exit_code"] for r in reports] == [2, 0]
