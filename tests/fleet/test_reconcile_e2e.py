"""`brightback reconcile` over the emulator, driven as a scheduled job would drive it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from tests.engine.conftest import KEYS_USED, Fleet, document, leaks

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
    # someone turns reason codes back on... no: the toggle hides them; drift the mode instead
    fleet.emulator.admin.ui("acme", "update", integrate_via="retention_api")

    code, report, _ = reconcile(fleet, "sites.yaml", "--once")
    assert code == 2, report
    sites = by_name(report)
    assert sites["globex-live"]["status"] == "applied"
    assert sites["acme-live"]["status"] == "applied"
    drift = report["fleet"]["sites"]["acme-live"]["drift"]
    assert [(d["field"], d["resolution"]) for d in drift] == [("spec.integrateVia", "corrected")]
    assert drift[0]["changed_by"]["source"] == "admin_console"
    assert fleet.state("acme")["brightback_integration"]["integrate_via"] == "customer_portal"

    code, report, _ = reconcile(fleet, "sites.yaml", "--once")
    assert code == 0, report
    assert {s["status"] for s in report["sites"]} == {"in_sync"}
    assert report["fleet"]["pass"] == 2
