"""The field table and the one definition of drift over it."""

from __future__ import annotations

import dataclasses

from reconciler.apply import broken_promises
from reconciler.fields import BY_EVENT, FIELDS, Drift, compute_drift, differs, normalize
from reconciler.live import live_from_api, live_to_api
from reconciler.model import DesiredConnection, Live
from reconciler.plan import Action, Step, plan
from reconciler.spec import desired_to_document
from tests.engine._builders import desired, integration


class TestDriftNormalization:
    """Moved from the fleet's old second filter: the comparison is now drift's own."""

    def test_email_case_and_blanks_are_not_drift(self) -> None:
        drift = [
            Drift("spec.connection.accountEmail", "Billing@Acme.example ", "billing@acme.example"),
            Drift("spec.integrateVia", "", None),
            Drift("spec.cancellationViaBrightback", True, False),
        ]
        assert [d.field for d in drift if differs(d.desired, d.live)] == [
            "spec.cancellationViaBrightback"
        ]

    def test_ordering_is_not_drift(self) -> None:
        assert normalize(["b", "a"]) == normalize(("a", "b"))

    def test_different_text_is_drift(self) -> None:
        assert differs("a", "b")


def _connected_live(mode: str = "retention_api", toggle: bool = True) -> Live:
    body = integration()["brightback_integration"]
    body["connection"].update(
        status="connected", brightback_site="acme-retention", account_email=body["site_email"]
    )
    body["integrate_via"] = mode
    body["cancellation_via_brightback"] = {"enabled": toggle, "traffic_status": "on"}
    body["cancellation_settings"]["reason_codes_enabled"] = False
    return live_from_api(body)


def test_every_field_reads_the_same_value_from_live_and_from_its_api_path() -> None:
    live = _connected_live()
    document = live_to_api(live)
    for field in FIELDS:
        promise = Step(Action.CONNECT, expect={field.api: field.live(live)})
        assert broken_promises(promise, live) == [], field.spec
        assert field.spec.startswith("spec.")
    assert document["integrate_via"] == "retention_api"


def test_every_spec_path_is_a_key_of_the_exported_document() -> None:
    document = desired_to_document(desired(toggle=False))
    for field in FIELDS:
        node = document
        for part in field.spec.split("."):
            if field.spec == "spec.connection.accountEmail" and part == "accountEmail":
                break  # optional: written only when the spec asserts it
            assert part in node, field.spec
            node = node[part]


def test_event_fields_name_their_spec_field() -> None:
    assert BY_EVENT["integrate_via"].spec == "spec.integrateVia"
    assert BY_EVENT["cancellation_via_brightback"].spec == "spec.cancellationViaBrightback"


def test_the_plan_reports_exactly_the_drift_the_field_table_defines() -> None:
    wanted = desired()
    live = live_from_api(integration())
    assert plan(wanted, live).drift == tuple(compute_drift(wanted, live))
    shouting = dataclasses.replace(
        wanted,
        connection=DesiredConnection(
            wanted.connection.state,
            brightback_site=wanted.connection.brightback_site,
            account_email=live.site_email.upper(),
        ),
    )
    connected = _connected_live("customer_portal")
    fields = [d.field for d in compute_drift(shouting, connected)]
    assert "spec.connection.accountEmail" not in fields
