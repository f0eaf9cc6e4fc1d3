"""Every product rule, enforced over HTTP: each refusal carries its error code, names its
rule and changes nothing; each allowed write answers the new resource."""

from __future__ import annotations

from collections.abc import Mapping

import httpx
import pytest

from .conftest import EMAIL, Site, SiteFactory, error_of


def refused(site: Site, path: str, form: Mapping[str, object], code: str, rule: str) -> None:
    """Assert the write is refused with `code`, the message names `rule`, nothing changed."""
    before = site.state()
    answer = site.post(path, form)
    body = error_of(answer)
    assert body["api_error_code"] == code, answer.text
    assert rule in body["message"]
    # Chargebee answers a refused request with 400 and names the refused field; 409 is
    # kept only for the contract's stale-version conflict.
    assert answer.status_code == 400 and body["param"], body
    assert body["type"] in ("invalid_request", "operation_failed")
    assert site.state() == before


def test_read_answers_the_resource_of_a_fresh_site(acme: Site) -> None:
    answer = acme.get("/brightback_integration")
    assert answer.status_code == 200
    resource = answer.json()["brightback_integration"]
    assert resource["site"] == "acme" and resource["site_email"] == EMAIL
    assert resource["account"]["status"] == "active"
    assert resource["account"]["brightback_sites"] == [
        {"name": "acme-bb", "experiences": {"customer_portal": "draft", "retention_api": "draft"}}
    ]
    assert resource["connection"]["status"] == "disconnected"
    assert resource["connection"]["brightback_site"] is None
    assert resource["integrate_via"] is None
    assert resource["cancellation_via_brightback"] == {"enabled": False, "traffic_status": "off"}
    assert resource["cancellation_settings"] == {
        "reason_codes_enabled": True,
        "portal_cancellation_enabled": True,
    }


def test_sign_up_refuses_another_email_rule_1(make_site: SiteFactory) -> None:
    solo = make_site("solo", account=None)
    form = {"brightback_site": "solo-bb", "email": "other@solo.example"}
    answer = solo.post("/brightback_integration/sign_up", form)
    assert answer.status_code == 400
    body = error_of(answer)
    assert body["api_error_code"] == "email_not_editable" and body["param"] == "email"
    assert "Rule 1" in body["message"]
    assert solo.state()["account"]["status"] == "not_found"


def test_sign_up_creates_a_pending_account_that_connects_once_activated(
    make_site: SiteFactory,
) -> None:
    solo = make_site("solo", account=None)
    version = solo.version()
    form = {"brightback_site": "solo-bb", "email": "BILLING@solo.example"}
    answer = solo.post("/brightback_integration/sign_up", form)
    assert answer.status_code == 200, answer.text
    account = answer.json()["brightback_integration"]["account"]
    assert account["status"] == "pending_activation"
    assert account["brightback_sites"][0]["name"] == "solo-bb"
    assert solo.version() == version + 1  # the account view changed
    refused(solo, "/brightback_integration/sign_up", {"brightback_site": "x"},
            "account_already_exists", "Rule 1")  # fmt: skip
    connect = {"brightback_site": "solo-bb", "access_level": "read_write"}
    refused(solo, "/brightback_integration/connect", connect, "account_not_activated", "Rule 1")
    solo.emulator.admin.activate_account("billing@solo.example")
    assert solo.connect("solo-bb").status_code == 200


def test_sign_up_refuses_a_malformed_brightback_site_name(make_site: SiteFactory) -> None:
    solo = make_site("solo", account=None)
    for name in ("0*", "-leading", "x" * 101):
        answer = solo.post("/brightback_integration/sign_up", {"brightback_site": name})
        body = error_of(answer)
        assert answer.status_code == 400 and body["api_error_code"] == "invalid_param"
        assert body["param"] == "brightback_site"
    assert solo.state()["account"]["status"] == "not_found"


def test_connect_without_an_account_is_refused_rule_1(make_site: SiteFactory) -> None:
    solo = make_site("solo", account=None)
    connect = {"brightback_site": "solo-bb", "access_level": "read_write"}
    refused(solo, "/brightback_integration/connect", connect, "account_not_found", "Rule 1")


def test_connect_generates_a_key_and_starts_data_sync_rule_2(acme: Site) -> None:
    answer = acme.connect()
    assert answer.status_code == 200
    connection = answer.json()["brightback_integration"]["connection"]
    assert connection["status"] == "connected" and connection["data_sync"] is True
    assert connection["api_key_id"].startswith("bbkey_")
    assert connection["account_email"] == EMAIL and connection["access_level"] == "read_write"
    assert acme.state()["api_keys_generated"] == 1


def test_connect_to_a_brightback_site_of_another_account_is_refused_rule_3(acme: Site) -> None:
    form = {"brightback_site": "elsewhere", "access_level": "read_write"}
    refused(acme, "/brightback_integration/connect", form, "brightback_site_not_found", "Rule 3")
    assert "acme-bb" in error_of(acme.post("/brightback_integration/connect", form))["message"]


def test_connect_needs_read_write_access_rule_4(acme: Site) -> None:
    form = {"brightback_site": "acme-bb", "access_level": "read_only"}
    answer = acme.post("/brightback_integration/connect", form)
    assert answer.status_code == 400
    body = error_of(answer)
    assert body["api_error_code"] == "read_write_access_required" and "Rule 4" in body["message"]
    assert body["param"] == "access_level"


def test_connect_twice_is_refused(acme: Site) -> None:
    acme.connect()
    form = {"brightback_site": "acme-bb", "access_level": "read_write"}
    refused(acme, "/brightback_integration/connect", form, "already_connected", "disconnect")


def test_missing_parameter_names_it(acme: Site) -> None:
    answer = acme.post("/brightback_integration/connect", {"access_level": "read_write"})
    assert answer.status_code == 400
    body = error_of(answer)
    assert body["param"] == "brightback_site" and body["type"] == "invalid_request"


def test_toggle_needs_a_mode_rule_5(acme: Site) -> None:
    acme.connect()
    acme.post("/cancellation_settings/update", {"reason_codes_enabled": False})
    form = {"cancellation_via_brightback": True}
    refused(acme, "/brightback_integration/update", form, "integration_mode_required", "Rule 5")


def test_toggle_needs_reason_codes_disabled_rule_6(acme: Site) -> None:
    acme.connect()
    form = {"integrate_via": "customer_portal", "cancellation_via_brightback": True}
    refused(acme, "/brightback_integration/update", form, "reason_codes_must_be_disabled", "Rule 6")


def test_enabling_the_toggle_hides_portal_cancellation_rule_7(acme: Site) -> None:
    resource = acme.onboard()
    assert resource["cancellation_settings"]["portal_cancellation_enabled"] is False
    form = {"portal_cancellation_enabled": True}
    refused(acme, "/cancellation_settings/update", form, "cancellation_settings_hidden", "Rule 7")
    form = {"reason_codes_enabled": True}
    refused(acme, "/cancellation_settings/update", form, "cancellation_settings_hidden", "Rule 7")
    same = acme.post("/cancellation_settings/update", {"reason_codes_enabled": False})
    assert same.status_code == 200  # setting the value it already has is not a change


def test_traffic_waits_for_the_chosen_modes_experience_rule_8(acme: Site) -> None:
    resource = acme.onboard("customer_portal")
    assert resource["cancellation_via_brightback"]["traffic_status"] == "waiting_for_publish"
    acme.emulator.admin.publish("acme-bb", "customer_portal")
    status = acme.get("/brightback_integration").json()["brightback_integration"]
    assert status["cancellation_via_brightback"]["traffic_status"] == "on"
    switched = acme.post("/brightback_integration/update", {"integrate_via": "retention_api"})
    assert switched.status_code == 200  # the mode may change while enabled
    after = switched.json()["brightback_integration"]["cancellation_via_brightback"]
    assert after == {"enabled": True, "traffic_status": "waiting_for_publish"}


def test_the_toggle_cannot_be_turned_off_rule_9(acme: Site) -> None:
    acme.onboard()
    form = {"cancellation_via_brightback": False}
    refused(
        acme,
        "/brightback_integration/update",
        form,
        "cancellation_via_brightback_cannot_be_disabled",
        "Rule 9",
    )


def test_disconnect_stops_sync_and_leaves_portal_cancellation_off_rule_9_trap(acme: Site) -> None:
    acme.onboard()
    answer = acme.post("/brightback_integration/disconnect", {"confirm": True})
    assert answer.status_code == 200
    resource = answer.json()["brightback_integration"]
    assert resource["connection"] == {
        "status": "disconnected",
        "brightback_site": None,
        "account_email": None,
        "api_key_id": None,
        "data_sync": False,
        "access_level": None,
        "connected_at": None,
    }
    assert resource["integrate_via"] is None
    assert resource["cancellation_via_brightback"] == {"enabled": False, "traffic_status": "off"}
    # The trap: customers now have no way to cancel until someone restores these.
    assert resource["cancellation_settings"] == {
        "reason_codes_enabled": False,
        "portal_cancellation_enabled": False,
    }
    restored = acme.post(
        "/cancellation_settings/update",
        {"reason_codes_enabled": True, "portal_cancellation_enabled": True},
    )
    assert restored.status_code == 200


def test_disconnect_needs_confirmation_and_a_connection_rule_10(acme: Site) -> None:
    refused(acme, "/brightback_integration/disconnect", {"confirm": True}, "not_connected", "")
    acme.connect()
    answer = acme.post("/brightback_integration/disconnect", {"confirm": False})
    body = error_of(answer)
    assert body["api_error_code"] == "confirmation_required" and "Rule 10" in body["message"]
    assert acme.state()["connection"]["status"] == "connected"


def test_a_new_connect_generates_a_new_key_id(acme: Site) -> None:
    first = acme.connect().json()["brightback_integration"]["connection"]["api_key_id"]
    acme.post("/brightback_integration/disconnect", {"confirm": True})
    second = acme.connect().json()["brightback_integration"]["connection"]["api_key_id"]
    assert first != second and acme.state()["api_keys_generated"] == 2


def test_update_without_a_connection_is_refused(acme: Site) -> None:
    form = {"integrate_via": "customer_portal"}
    refused(acme, "/brightback_integration/update", form, "not_connected", "connect first")


@pytest.mark.parametrize(
    ("setup", "code", "rule"),
    [
        ("disconnected", "not_connected", "connect first"),
        ("portal", "wrong_integration_mode", "Rule 11"),
        ("toggle_off", "cancellation_via_brightback_disabled", "Rule 11"),
        ("unpublished", "experience_not_published", "Rule 8"),
    ],
)
def test_pre_cancel_pages_need_a_live_retention_api_integration_rule_11(
    acme: Site, setup: str, code: str, rule: str
) -> None:
    if setup == "portal":
        acme.onboard("customer_portal")
    elif setup == "toggle_off":
        acme.connect()
        acme.post("/brightback_integration/update", {"integrate_via": "retention_api"})
    elif setup == "unpublished":
        acme.onboard("retention_api")
    form = {"subscription[id]": "sub_1"}
    refused(acme, PRE_CANCEL, form, code, rule)
    assert error_of(acme.post(PRE_CANCEL, form))["param"] == "subscription[id]"


PRE_CANCEL = "/hosted_pages/pre_cancel"
HOSTED_PAGE_FIELDS = {
    "id",
    "type",
    "url",
    "state",
    "failure_reason",
    "pass_thru_content",
    "embed",
    "created_at",
    "expires_at",
    "updated_at",
    "resource_version",
    "checkout_info",
    "business_entity_id",
    "content",
    "object",
}  # fmt: skip  (the fields of Chargebee's hosted_page resource)


def test_pre_cancel_answers_a_chargebee_hosted_page_with_a_unique_url(acme: Site) -> None:
    acme.onboard("retention_api")
    acme.emulator.admin.publish("acme-bb", "retention_api")
    version = acme.version()
    form = {
        "subscription[id]": "sub_1",
        "pass_thru_content": "from-the-probe",
        "cancel_url": "https://acme.example/account",
        "redirect_url": "https://acme.example/bye",
    }
    pages = []
    for _ in range(2):
        answer = acme.post(PRE_CANCEL, form)
        assert answer.status_code == 200, answer.text
        assert set(answer.json()) == {"hosted_page"}
        pages.append(answer.json()["hosted_page"])
    for page in pages:
        assert set(page) <= HOSTED_PAGE_FIELDS
        assert (page["type"], page["state"], page["object"]) == (
            "pre_cancel",
            "created",
            "hosted_page",
        )
        assert page["pass_thru_content"] == "from-the-probe"
        assert page["expires_at"] > page["created_at"]
        assert "/acme-bb/retention_api/" in page["url"]
    assert len({p["url"] for p in pages}) == 2 and len({p["id"] for p in pages}) == 2
    assert acme.version() == version  # a hosted page is not a settings change


def test_a_pre_cancel_page_url_leads_to_the_published_retention_api_experience(
    acme: Site,
) -> None:
    acme.onboard("retention_api")
    acme.emulator.admin.publish("acme-bb", "retention_api")
    page = acme.post(PRE_CANCEL, {"subscription[id]": "sub_1"}).json()["hosted_page"]
    shown = httpx.get(page["url"], timeout=10)
    assert shown.status_code == 200 and shown.headers["content-type"].startswith("text/html")
    assert 'data-brightback-site="acme-bb"' in shown.text
    assert 'data-experience="retention_api"' in shown.text
    acme.emulator.admin.unpublish("acme-bb", "retention_api")
    assert httpx.get(page["url"], timeout=10).status_code == 404  # no longer published
    forged = page["url"].rsplit("/", 1)[0] + "/hp_not_handed_out"
    assert httpx.get(forged, timeout=10).status_code == 404


def test_invalid_boolean_and_mode_are_400_naming_the_param(acme: Site) -> None:
    acme.connect()
    answer = acme.post("/brightback_integration/update", {"cancellation_via_brightback": "yes"})
    assert error_of(answer)["param"] == "cancellation_via_brightback"
    answer = acme.post("/brightback_integration/update", {"integrate_via": "portal"})
    assert answer.status_code == 400 and error_of(answer)["param"] == "integrate_via"
