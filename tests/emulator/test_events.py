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


CHARGEBEE_EVENT_FIELDS = {
    "id", "occurred_at", "source", "user", "webhook_status", "event_type", "api_version",
    "content", "object",
}  # fmt: skip
SOURCES = {
    "admin_console", "api", "bulk_operation", "scheduled_job", "hosted_page", "portal",
    "system", "js_api", "migration", "external_service", "none",
}  # fmt: skip


def test_writes_are_chargebee_events_newest_first_with_source_user_and_a_snapshot(
    acme: Site,
) -> None:
    acme.connect()
    acme.emulator.admin.ui(
        "acme", "cancellation_settings", portal_cancellation_enabled=False, user="ann@acme.example"
    )
    body = events(acme)
    assert set(body) <= {"list", "next_offset"}
    latest, connected = [item["event"] for item in body["list"]][:2]
    assert set(latest) <= CHARGEBEE_EVENT_FIELDS and latest["object"] == "event"
    assert latest["event_type"] == "cancellation_settings_updated"
    assert latest["source"] == "admin_console" and latest["user"] == "ann@acme.example"
    assert latest["id"].startswith("ev_") and latest["api_version"] == "v2"
    snapshot = latest["content"]["brightback_integration"]
    assert snapshot["cancellation_settings"]["portal_cancellation_enabled"] is False
    assert connected["event_type"] == "brightback_connected" and connected["source"] == "api"
    assert connected["content"]["brightback_integration"]["connection"]["status"] == "connected"
    assert {e["source"] for e in feed(acme, limit=100)} <= SOURCES


def test_events_carry_no_invented_diff_or_version(acme: Site) -> None:
    """A real Chargebee event has a resource snapshot, not a change list or a version."""
    acme.connect()
    for event in feed(acme, limit=100):
        assert set(event["content"]) == {"brightback_integration"}
        assert "changes" not in event and "version" not in event
        assert "version" not in event["content"]["brightback_integration"]


def test_enabling_and_disconnecting_have_their_own_event_types(acme: Site) -> None:
    acme.onboard()
    acme.post("/brightback_integration/disconnect", {"confirm": True})
    types = [e["event_type"] for e in feed(acme, limit=3)]
    assert types == [
        "brightback_disconnected",
        "cancellation_via_brightback_enabled",
        "cancellation_settings_updated",
    ]
    enabled = feed(acme, **{"event_type[in]": '["cancellation_via_brightback_enabled"]'})
    snapshot = enabled[0]["content"]["brightback_integration"]
    assert snapshot["cancellation_via_brightback"]["enabled"] is True
    assert snapshot["cancellation_settings"]["portal_cancellation_enabled"] is False  # rule 7


def test_event_type_in_and_source_is_filter_like_chargebee(acme: Site) -> None:
    acme.onboard()
    acme.emulator.admin.ui("acme", "update", integrate_via="retention_api")
    wanted = '["brightback_connected","brightback_integration_updated"]'
    kinds = {e["event_type"] for e in feed(acme, limit=100, **{"event_type[in]": wanted})}
    assert kinds == {"brightback_connected", "brightback_integration_updated"}
    # the official SDK writes the list as Python's repr; hand-written curl as [a,b]
    for spelling in ("['brightback_connected']", "[brightback_connected]"):
        found = feed(acme, **{"event_type[in]": spelling})
        assert [e["event_type"] for e in found] == ["brightback_connected"]
    console = feed(acme, limit=100, **{"source[is]": "admin_console"})
    assert console[0]["event_type"] == "brightback_integration_updated"
    assert all(e["source"] == "admin_console" for e in console)
    assert all(e["source"] == "api" for e in feed(acme, limit=100, **{"source[is]": "api"}))
    answer = acme.get("/events", **{"source[is]": "telepathy"})
    assert answer.status_code == 400 and error_of(answer)["param"] == "source[is]"


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
