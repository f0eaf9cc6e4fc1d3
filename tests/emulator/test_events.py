"""The event feed: what changed, who changed it (API or a person in the admin console),
newest first, with paging and filters, so drift can be attributed."""

from __future__ import annotations

from typing import Any

from .conftest import Site, SiteFactory, error_of


def events(site: Site, **params: Any) -> dict[str, Any]:
    answer = site.get("/events", **params)
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def feed(site: Site, **params: Any) -> list[dict[str, Any]]:
    return [item["event"] for item in events(site, **params)["list"]]


def test_writes_are_events_newest_first_with_their_changes_and_source(acme: Site) -> None:
    acme.connect()
    acme.emulator.admin.ui("acme", "cancellation_settings", portal_cancellation_enabled=False)
    latest, connected = feed(acme)[:2]
    assert latest["event_type"] == "cancellation_settings_updated"
    assert latest["source"] == "admin_console"
    assert latest["content"]["changes"] == [
        {"field": "cancellation_settings.portal_cancellation_enabled", "from": True, "to": False}
    ]
    assert latest["content"]["brightback_integration"]["version"] == acme.version()
    assert connected["event_type"] == "brightback_connected" and connected["source"] == "api"
    assert {"field": "connection.status", "from": "disconnected", "to": "connected"} in (
        connected["content"]["changes"]
    )
    assert latest["id"].startswith("ev_") and latest["api_version"] == "v2"


def test_enabling_and_disconnecting_have_their_own_event_types(acme: Site) -> None:
    acme.onboard()
    acme.post("/brightback_integration/disconnect", {"confirm": True})
    types = [e["event_type"] for e in feed(acme, limit=3)]
    assert types == [
        "brightback_disconnected",
        "cancellation_via_brightback_enabled",
        "cancellation_settings_updated",
    ]
    enabled = feed(acme, **{"event_type[is]": "cancellation_via_brightback_enabled"})
    changes = {c["field"]: c["to"] for c in enabled[0]["content"]["changes"]}
    assert changes["cancellation_via_brightback.enabled"] is True
    assert changes["cancellation_settings.portal_cancellation_enabled"] is False  # rule 7


def test_brightback_side_changes_are_events_of_every_site_of_the_account(
    acme: Site,
) -> None:
    admin = acme.emulator.admin
    admin.create_site("acme-eu", "billing@acme.example", "key-acme-eu-0123456789")
    version = acme.version()
    admin.publish("acme-bb", "customer_portal")
    admin.unpublish("acme-bb", "customer_portal")
    assert acme.version() == version + 2
    assert admin.site_state("acme-eu")["version"] == 3
    published, unpublished = reversed(feed(acme, limit=2))
    assert published["event_type"] == "brightback_experience_published"
    assert unpublished["event_type"] == "brightback_experience_unpublished"
    assert published["source"] == "admin_console"


def test_paging_walks_every_event_once(acme: Site) -> None:
    for value in (False, True, False, True, False):
        acme.post("/cancellation_settings/update", {"reason_codes_enabled": value})
    seen: list[str] = []
    page = events(acme, limit=2)
    while True:
        seen += [item["event"]["id"] for item in page["list"]]
        if "next_offset" not in page:
            break
        page = events(acme, limit=2, offset=page["next_offset"])
    everything = [e["id"] for e in feed(acme, limit=100)]
    assert seen == everything and len(seen) == len(set(seen))
    assert len(everything) >= 5


def test_occurred_after_filters_older_events(acme: Site) -> None:
    acme.connect()
    newest = feed(acme)[0]["occurred_at"]
    assert feed(acme, **{"occurred_at[after]": newest}) == []
    assert feed(acme, **{"occurred_at[after]": newest - 1})


def test_limit_out_of_range_is_a_400(acme: Site) -> None:
    for limit in (0, 101, "many"):
        answer = acme.get("/events", limit=limit)
        assert answer.status_code == 400 and error_of(answer)["param"] == "limit"


def test_filters_beyond_64_bits_are_a_400_not_a_crash(acme: Site) -> None:
    for name, value in (("occurred_at[after]", str(2**63)), ("offset", "[99999999999999999999]")):
        answer = acme.get("/events", **{name: value})
        assert answer.status_code == 400 and error_of(answer)["param"] == name


def test_events_of_one_site_stay_out_of_another(make_site: SiteFactory, acme: Site) -> None:
    globex = make_site("globex")
    acme.connect()
    assert all(e["content"]["brightback_integration"]["site"] == "globex" for e in feed(globex))
    assert not any(e["event_type"] == "brightback_connected" for e in feed(globex))
