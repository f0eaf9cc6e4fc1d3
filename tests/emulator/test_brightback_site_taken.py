"""Rule 3's other half: a Brightback site name belongs to one account. Signing up with,
or connecting to, a name another account owns is refused with 400 brightback_site_taken,
and a refused write changes nothing: no pending account, no new version, no event."""

from __future__ import annotations

import httpx

from emulator.embedded import RunningEmulator

from .conftest import Site, SiteFactory, error_of


def test_a_refused_sign_up_creates_no_pending_account_and_moves_nothing(
    make_site: SiteFactory,
) -> None:
    make_site("owner")  # its account owns owner-bb
    solo = make_site("solo", account=None)
    before, events = solo.state(), solo.get("/events").json()["list"]
    answer = solo.post("/brightback_integration/sign_up", {"brightback_site": "owner-bb"})
    assert answer.status_code == 400
    body = error_of(answer)
    assert body["api_error_code"] == "brightback_site_taken"
    assert "Rule 3" in body["message"] and "owner-bb" in body["message"]
    assert solo.state() == before  # account still not_found, same version
    assert solo.state()["account"]["status"] == "not_found"
    assert solo.get("/events").json()["list"] == events
    # Nothing half-made stands in the way of a good name afterwards.
    again = solo.post("/brightback_integration/sign_up", {"brightback_site": "solo-bb"})
    assert again.status_code == 200, again.text


def test_connecting_to_another_accounts_site_says_it_is_taken(make_site: SiteFactory) -> None:
    make_site("owner")
    acme = make_site("acme")
    before = acme.state()
    answer = acme.connect("owner-bb")
    assert answer.status_code == 400
    assert error_of(answer)["api_error_code"] == "brightback_site_taken"
    assert acme.state() == before


def test_a_name_nobody_owns_is_still_not_found(make_site: SiteFactory) -> None:
    acme = make_site("acme")
    answer = acme.connect("nobody-bb")
    assert error_of(answer)["api_error_code"] == "brightback_site_not_found"


def test_two_sites_of_one_account_may_connect_to_the_same_brightback_site(
    make_site: SiteFactory, emulator: RunningEmulator
) -> None:
    acme = make_site("acme")
    assert acme.connect("acme-bb").status_code == 200
    key = "key-acme-eu-0123456789"
    emulator.admin.create_site("acme-eu", str(acme.state()["site_email"]), key)
    with httpx.Client(auth=(key, ""), timeout=10) as http:
        assert Site(emulator, "acme-eu", key, http).connect("acme-bb").status_code == 200
