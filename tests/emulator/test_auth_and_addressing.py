"""Who may call what, and how a request names its site: Basic with the site key on the
Chargebee routes, Bearer with the admin token on /_admin, never one for the other; the
site from the path form or from the Host header's first label."""

from __future__ import annotations

import httpx

from emulator.embedded import RunningEmulator

from .conftest import KEY, Site, SiteFactory, error_of


def test_missing_or_wrong_key_is_a_401_in_chargebees_words(acme: Site) -> None:
    url = acme.base + "/brightback_integration"
    for auth in (None, ("not-the-key", ""), ("key-globex-0123456789", "")):
        answer = httpx.get(url, auth=auth)
        body = error_of(answer)
        assert answer.status_code == 401
        assert body["api_error_code"] == "api_authentication_failed"
        assert body["message"] == "Sorry, authentication failed. Invalid api key"


def test_one_sites_key_does_not_open_another_site(make_site: SiteFactory) -> None:
    acme, globex = make_site("acme"), make_site("globex")
    answer = acme.http.get(globex.base + "/brightback_integration")
    assert answer.status_code == 401


def test_the_admin_token_is_refused_on_chargebee_routes(acme: Site) -> None:
    token = acme.emulator.admin_token
    url = acme.base + "/brightback_integration"
    assert httpx.get(url, headers={"Authorization": f"Bearer {token}"}).status_code == 401
    assert httpx.get(url, auth=(token, "")).status_code == 401


def test_a_site_key_is_refused_on_admin_routes(acme: Site) -> None:
    url = f"{acme.emulator.base_url}/_admin/sites/acme"
    assert httpx.get(url, auth=(KEY, "")).status_code == 401
    assert httpx.get(url, headers={"Authorization": f"Bearer {KEY}"}).status_code == 401
    assert httpx.post(f"{acme.emulator.base_url}/_admin/reset").status_code == 401
    assert acme.state()["site"] == "acme"  # the unauthorised reset did nothing


def test_the_host_header_names_the_site_like_chargebees_subdomains(acme: Site) -> None:
    url = f"{acme.emulator.base_url}/api/v2/brightback_integration"
    answer = httpx.get(url, auth=(KEY, ""), headers={"Host": "acme.localhost"})
    assert answer.status_code == 200
    assert answer.json()["brightback_integration"]["site"] == "acme"
    form = {"brightback_site": "acme-bb", "access_level": "read_write"}
    posted = httpx.post(
        f"{acme.emulator.base_url}/api/v2/brightback_integration/connect",
        data=form,
        auth=(KEY, ""),
        headers={"Host": "acme.chargebee.localhost:8080"},
    )
    assert posted.status_code == 200
    assert acme.state()["connection"]["status"] == "connected"


def test_a_bare_ip_host_names_no_site(acme: Site) -> None:
    answer = httpx.get(f"{acme.emulator.base_url}/api/v2/brightback_integration", auth=(KEY, ""))
    assert answer.status_code == 404
    assert error_of(answer)["api_error_code"] == "resource_not_found"


def test_unknown_site_and_unknown_route_are_404(acme: Site) -> None:
    other = acme.emulator.url_template.format(site="nosuchsite")
    assert acme.http.get(other + "/brightback_integration").status_code == 404
    assert acme.get("/subscriptions").status_code == 404
    wrong_method = acme.http.delete(acme.base + "/brightback_integration")
    assert wrong_method.status_code == 405
    assert error_of(wrong_method)["api_error_code"] == "method_not_allowed"


def test_every_chargebee_request_is_in_the_request_log(acme: Site) -> None:
    acme.get("/brightback_integration")
    httpx.get(acme.base + "/brightback_integration")  # no key
    acme.post("/brightback_integration/connect", {"brightback_site": "x"}, key="k-1")
    log = acme.emulator.admin.requests(site="acme")
    assert [(r["method"], r["status"]) for r in log] == [("GET", 200), ("GET", 401), ("POST", 400)]
    assert log[-1]["idempotency_key"] == "k-1"
    assert log[0]["path"] == "/sites/acme/api/v2/brightback_integration"
    since = acme.emulator.admin.requests(since_id=log[0]["id"])
    assert [r["id"] for r in since] == [r["id"] for r in log[1:]]


def test_admin_calls_are_not_in_the_request_log(emulator: RunningEmulator) -> None:
    emulator.admin.create_site("acme", "billing@acme.example", KEY)
    emulator.admin.site_state("acme")
    assert emulator.admin.requests() == []


def test_console_clicks_obey_the_same_rules_as_the_api(acme: Site) -> None:
    admin = acme.emulator.admin
    refused = admin.ui("acme", "update", integrate_via="customer_portal")
    assert refused.status_code == 400 and refused.json()["api_error_code"] == "not_connected"
    clicked = admin.ui("acme", "connect", brightback_site="acme-bb", access_level="read_write")
    assert clicked.status_code == 200
    assert clicked.json()["brightback_integration"]["connection"]["status"] == "connected"
    assert admin.ui("acme", "delete_everything").status_code == 404
    assert admin.ui("nosuchsite", "update").status_code == 404
