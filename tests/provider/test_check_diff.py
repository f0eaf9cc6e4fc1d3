"""check and diff, called as the SDK server calls them (pure: no emulator needed)."""

from __future__ import annotations

from typing import Any

import pytest
from pulumi.output import Unknown

from provider import PROVIDER_VERSION, BrightbackProvider
from provider._inputs import PROVIDER_KEY, UNKNOWN_WIRE
from tests.provider._builders import inputs

PROVIDER = BrightbackProvider()


def checked(news: dict[str, Any]) -> dict[str, Any]:
    result = PROVIDER.check({}, {**news, PROVIDER_KEY: "blob"})
    assert result.failures == [], [(f.property, f.reason) for f in result.failures]
    return result.inputs


def failures(news: dict[str, Any]) -> dict[str, str]:
    result = PROVIDER.check({}, news)
    return {f.property: f.reason for f in result.failures}


def outputs_of(stored_inputs: dict[str, Any]) -> dict[str, Any]:
    """What state holds after create: the inputs plus computed outputs."""
    return {**stored_inputs, "live": {}, "conditions": [], PROVIDER_KEY: "blob"}


def test_check_writes_defaults_out_so_state_matches_what_the_engine_means() -> None:
    result = checked(inputs("acme"))
    assert result["fallbackCancelExperience"] == {"portalCancellation": True, "reasonCodes": True}
    assert result["policy"] == {
        "management": "full",
        "allowDisconnect": False,
        "suspended": False,
        "deletionPolicy": "orphan",
    }
    assert result["connection"]["signUpIfMissing"] is False
    assert result["version"] == PROVIDER_VERSION
    assert PROVIDER_KEY not in result  # the server puts it back itself


def test_check_is_idempotent_so_an_unchanged_program_never_shows_a_diff() -> None:
    once = checked(inputs("acme"))
    twice = checked(once)
    assert once == twice
    diff = PROVIDER.diff("acme", outputs_of(once), {**twice, PROVIDER_KEY: "blob"})
    assert diff.changes is False
    assert diff.replaces == []


def test_check_lowercases_the_account_email_as_the_api_reports_it() -> None:
    news = inputs(
        "acme",
        connection={
            "state": "connected",
            "brightbackSite": "acme-retention",
            "accountEmail": "Billing@Acme.Example",
        },
    )
    assert checked(news)["connection"]["accountEmail"] == "billing@acme.example"


def test_check_keeps_a_key_file_reference_as_written_not_resolved_to_this_machine() -> None:
    news = inputs("acme", credentials={"apiKeyFromFile": "secrets/acme-key"})
    assert checked(news)["credentials"] == {"apiKeyFromFile": "secrets/acme-key"}


def test_check_failure_names_the_property_and_the_expected_values() -> None:
    found = failures(inputs("acme", integrateVia="carrier_pigeon"))
    assert list(found) == ["integrateVia"]
    assert "customer_portal" in found["integrateVia"]


def test_check_failure_names_a_nested_property() -> None:
    found = failures(inputs("acme", connection={"state": "sideways"}))
    assert any(prop.startswith("connection") for prop in found), found


def test_check_rejects_an_unknown_input_naming_it() -> None:
    found = failures({**inputs("acme"), "apiKey": "whatever"})
    assert "apiKey" in found


def test_check_refuses_an_inline_key_without_echoing_it() -> None:
    secret = "live_Q8xk2LmN4pR7sT1vW3yZ5aB"
    found = failures(inputs("acme", credentials={"apiKeyFromEnv": secret}))
    assert found
    assert all(secret not in reason for reason in found.values())


def test_check_lets_unknowns_through_during_preview() -> None:
    news = inputs("acme", connection={"state": "connected", "brightbackSite": Unknown()})
    result = PROVIDER.check({}, news)
    assert result.failures == []
    assert isinstance(result.inputs["connection"]["brightbackSite"], Unknown)


def diff(old: dict[str, Any], new: dict[str, Any]) -> tuple[bool | None, list[str], bool | None]:
    result = PROVIDER.diff(
        old["site"], outputs_of(checked(old)), {**checked(new), PROVIDER_KEY: "blob"}
    )
    return result.changes, list(result.replaces or []), result.delete_before_replace


def test_toggle_on_to_off_while_connected_is_a_replace_deleting_first() -> None:
    changes, replaces, dbr = diff(inputs("acme"), inputs("acme", cancellationViaBrightback=False))
    assert changes is True
    assert replaces == ["cancellationViaBrightback"]
    assert dbr is True


def test_toggle_off_to_on_is_an_in_place_update() -> None:
    changes, replaces, dbr = diff(inputs("acme", cancellationViaBrightback=False), inputs("acme"))
    assert (changes, replaces, dbr) == (True, [], False)


def test_another_brightback_site_is_a_replace_deleting_first() -> None:
    new = inputs("acme", connection={"state": "connected", "brightbackSite": "acme-other"})
    changes, replaces, dbr = diff(inputs("acme"), new)
    assert (changes, replaces, dbr) == (True, ["connection"], True)


def test_another_account_email_is_a_replace() -> None:
    def with_email(email: str) -> dict[str, Any]:
        connection = {"state": "connected", "brightbackSite": "acme-retention"}
        return inputs("acme", connection={**connection, "accountEmail": email})

    _, replaces, _ = diff(with_email("a@acme.example"), with_email("b@acme.example"))
    assert replaces == ["connection"]


def test_another_chargebee_site_is_a_replace() -> None:
    _, replaces, dbr = diff(inputs("acme"), {**inputs("acme"), "site": "acme-eu"})
    assert "site" in replaces
    assert dbr is True


def test_changing_the_brightback_site_of_a_disconnected_site_needs_no_replace() -> None:
    old = inputs(
        "acme",
        connection={"state": "disconnected"},
        integrateVia=None,
        cancellationViaBrightback=False,
    )
    changes, replaces, _ = diff(old, inputs("acme"))
    assert changes is True
    assert replaces == []


def test_a_policy_change_is_an_update() -> None:
    new = inputs("acme", policy={"allowDisconnect": True})
    assert diff(inputs("acme"), new) == (True, [], False)


def test_bumping_the_provider_version_is_an_update() -> None:
    assert diff(inputs("acme"), inputs("acme", version="2")) == (True, [], False)


def test_diff_ignores_computed_outputs_and_the_provider_blob() -> None:
    stored = checked(inputs("acme"))
    olds = {**outputs_of(stored), "trafficStatus": "on", PROVIDER_KEY: "old-blob"}
    result = PROVIDER.diff("acme", olds, {**stored, PROVIDER_KEY: "new-blob"})
    assert result.changes is False


@pytest.mark.parametrize("unknown", [Unknown(), UNKNOWN_WIRE])
def test_an_unknown_new_value_is_a_change_never_a_guessed_replace(unknown: object) -> None:
    stored = checked(inputs("acme"))
    news = {**stored, "connection": {"state": "connected", "brightbackSite": unknown}}
    result = PROVIDER.diff("acme", outputs_of(stored), news)
    assert result.changes is True
    assert result.replaces == []
