""" "Keeps drifting back" is about real drift only: a site that matched its spec and was
changed behind the reconciler's back. Onboarding, a site waiting for an outside event and
a config edit also differ from the spec, and must never be flagged."""

from __future__ import annotations

from typing import Any

import pytest

from tests.engine.conftest import Fleet, document
from tests.fleet._stored import stored
from tests.fleet.test_reconcile_e2e import connected_site, reconcile

pytestmark = pytest.mark.e2e


def history(fleet: Fleet, site: str = "acme") -> list[dict[str, Any]]:
    """The site's drift history, from whichever store the fleet runs on."""
    return list(stored(fleet).sites[site].history)


def flagged(report: dict[str, Any]) -> list[str]:
    return [n for n in report["notes"] if "keeps drifting back" in n]


def test_a_site_waiting_for_its_publish_is_never_flagged_as_drifting_back(fleet: Fleet) -> None:
    fleet.add_site("acme")  # nothing published: onboarding stops and waits
    fleet.write("sites.yaml", document("acme"))
    for _ in range(4):
        code, report, _ = reconcile(fleet, "sites.yaml")
        assert code in (0, 2), report
        assert flagged(report) == []
        assert report["fleet"]["sites"]["acme-live"]["flapping"] is None
    assert history(fleet) == []


def test_config_edits_are_not_drift(fleet: Fleet) -> None:
    connected_site(fleet, "acme")
    fleet.emulator.admin.publish("acme-bb", "retention_api")
    path = fleet.write("sites.yaml", document("acme"))
    assert reconcile(fleet, "sites.yaml")[0] == 0
    for mode in ("retention_api", "customer_portal", "retention_api"):  # a team changing its mind
        path.write_text(document("acme", mode=mode))
        code, report, _ = reconcile(fleet, "sites.yaml")
        assert code == 2, report
        assert flagged(report) == []
    assert history(fleet) == []


def test_real_drift_is_flagged_listing_only_the_fields_that_drifted(fleet: Fleet) -> None:
    connected_site(fleet, "acme")
    fleet.emulator.admin.publish("acme-bb", "retention_api")
    path = fleet.write("sites.yaml", document("acme"))
    assert reconcile(fleet, "sites.yaml")[0] == 0
    path.write_text(document("acme", reason_codes=False))  # a config edit: not drift
    assert reconcile(fleet, "sites.yaml")[0] in (0, 2)
    for _ in range(2):  # someone keeps switching the mode in the admin console
        fleet.emulator.admin.ui("acme", "update", integrate_via="retention_api")
        code, report, _ = reconcile(fleet, "sites.yaml")
        assert code == 2, report
    notes = flagged(report)
    assert len(notes) == 1 and notes[0].endswith("(spec.integrateVia)"), notes
    assert [h["fields"] for h in history(fleet)] == [["spec.integrateVia"]] * 2
