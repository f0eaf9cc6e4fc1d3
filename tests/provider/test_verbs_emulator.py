"""The provider's verbs called in-process, as the SDK server calls them, against the emulator.

Each test asserts what a user would check in the admin console afterwards: the live state
the emulator holds, not just what the provider returned.
"""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from pulumi.dynamic import ConfigureRequest
from pulumi.dynamic.config import Config

from provider import BrightbackProvider, IntegrationError
from provider._provider import CONFIG_API_KEYS, CONFIG_API_URL
from tests.provider._builders import (
    add_site,
    env_name,
    inputs,
    integration,
    key_for,
    secret_forms,
)

Props = dict[str, Any]


def provider_for(emulator: Any, keys: dict[str, str] | None = None) -> BrightbackProvider:
    raw: dict[str, Any] = {CONFIG_API_URL: emulator.url_template}
    if keys is not None:
        raw[CONFIG_API_KEYS] = keys
    provider = BrightbackProvider()
    provider.configure(ConfigureRequest(Config(raw_config=raw, project_name="demo")))
    return provider


def checked(provider: BrightbackProvider, news: Props) -> Props:
    result = provider.check({}, news)
    assert result.failures == []
    return result.inputs


@pytest.fixture
def acme(emulator: Any, monkeypatch: pytest.MonkeyPatch) -> str:
    """Site acme with an active account, its portal experience published, key in the env."""
    monkeypatch.setenv(env_name("acme"), add_site(emulator, "acme"))
    return "acme"


def assert_no_key(value: object, key: str) -> None:
    text = json.dumps(value, default=str)
    assert not [form for form in secret_forms(key) if form in text]


def test_create_connects_and_returns_live_outputs(emulator: Any, acme: str) -> None:
    provider = provider_for(emulator)
    result = provider.create(checked(provider, inputs(acme)))
    live = integration(emulator, acme)
    assert result.id == "acme"
    assert live["connection"]["status"] == "connected"
    assert live["connection"]["brightback_site"] == "acme-retention"
    assert live["cancellation_via_brightback"] == {"enabled": True, "traffic_status": "on"}
    assert live["cancellation_settings"]["reason_codes_enabled"] is False  # rule 6
    outs = result.outs or {}
    assert outs["live"]["connection"] == {
        k: live["connection"][k] for k in outs["live"]["connection"]
    }
    assert outs["connectedBrightbackSite"] == "acme-retention"
    assert outs["apiKeyId"] == live["connection"]["api_key_id"]
    assert outs["trafficStatus"] == "on"
    assert outs["inSync"] is True
    assert [c["type"] for c in outs["conditions"]] == ["Ready"]
    assert outs["cancellationViaBrightback"] is True  # inputs are echoed
    assert_no_key(outs, key_for(acme))
    assert "credentials" in outs and outs["credentials"] == {"apiKeyFromEnv": env_name(acme)}


def test_create_adopts_a_connection_that_already_matches(emulator: Any, acme: str) -> None:
    emulator.admin.ui(acme, "connect", brightback_site="acme-retention", access_level="read_write")
    emulator.admin.ui(acme, "cancellation_settings", reason_codes_enabled=False)
    emulator.admin.ui(
        acme, "update", integrate_via="customer_portal", cancellation_via_brightback=True
    )
    before = emulator.admin.site_state(acme)
    provider = provider_for(emulator)
    outs = provider.create(checked(provider, inputs(acme))).outs or {}
    after = emulator.admin.site_state(acme)
    assert after["version"] == before["version"]  # nothing written
    assert after["api_keys_generated"] == before["api_keys_generated"] == 1
    assert outs["apiKeyId"] == before["brightback_integration"]["connection"]["api_key_id"]


def test_waiting_for_publish_is_an_output_condition_not_a_wait(
    emulator: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(env_name("initech"), add_site(emulator, "initech", published=()))
    provider = provider_for(emulator)
    outs = provider.create(checked(provider, inputs("initech"))).outs or {}
    # The toggle waits for the publish (cancel-path invariant): the fallback stays on.
    live = integration(emulator, "initech")
    assert live["cancellation_via_brightback"] == {"enabled": False, "traffic_status": "off"}
    assert live["cancellation_settings"]["portal_cancellation_enabled"] is True
    assert outs["trafficStatus"] == "off"
    waiting = [c for c in outs["conditions"] if c["type"] == "Waiting"]
    assert [c["reason"] for c in waiting] == ["experience_not_published"]
    assert "initech-retention" in waiting[0]["message"]


def test_create_fails_with_the_reason_and_the_way_forward_when_blocked(
    emulator: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = add_site(emulator, "hooli", account=False)
    monkeypatch.setenv(env_name("hooli"), key)
    provider = provider_for(emulator)
    with pytest.raises(IntegrationError, match="account_not_found") as caught:
        provider.create(checked(provider, inputs("hooli")))
    assert "signUpIfMissing" in str(caught.value)
    assert_no_key(str(caught.value), key)
    assert integration(emulator, "hooli")["connection"]["status"] == "disconnected"


def test_update_converges_and_returns_full_outputs(emulator: Any, acme: str) -> None:
    provider = provider_for(emulator)
    first = checked(provider, inputs(acme, cancellationViaBrightback=False))
    created = provider.create(first).outs or {}
    assert integration(emulator, acme)["cancellation_via_brightback"]["enabled"] is False
    news = checked(provider, inputs(acme))
    outs = provider.update(acme, created, news).outs or {}
    assert integration(emulator, acme)["cancellation_via_brightback"]["enabled"] is True
    assert {"live", "conditions", "drift", "apiKeyId", "trafficStatus", "declared"} <= set(outs)
    assert outs["trafficStatus"] == "on"
    assert outs["cancellationViaBrightback"] is True


def test_delete_refuses_unless_the_inputs_allow_disconnect(emulator: Any, acme: str) -> None:
    provider = provider_for(emulator)
    outs = provider.create(checked(provider, inputs(acme))).outs or {}
    with pytest.raises(IntegrationError, match="allowDisconnect") as caught:
        provider.delete(acme, outs)
    assert "pulumi state delete" in str(caught.value)
    assert integration(emulator, acme)["connection"]["status"] == "connected"


def test_delete_disconnects_and_restores_the_fallback(emulator: Any, acme: str) -> None:
    provider = provider_for(emulator)
    news = checked(provider, inputs(acme, policy={"allowDisconnect": True}))
    outs = provider.create(news).outs or {}
    provider.delete(acme, outs)
    live = integration(emulator, acme)
    assert live["connection"]["status"] == "disconnected"
    assert live["cancellation_settings"] == {
        "reason_codes_enabled": True,
        "portal_cancellation_enabled": True,
    }


def test_delete_of_a_site_disconnected_in_the_console_restores_and_succeeds(
    emulator: Any, acme: str
) -> None:
    provider = provider_for(emulator)
    outs = provider.create(checked(provider, inputs(acme, policy={"allowDisconnect": True}))).outs
    emulator.admin.ui(acme, "disconnect", confirm=True)  # leaves customers no way to cancel
    provider.delete(acme, outs or {})
    live = integration(emulator, acme)
    assert live["connection"]["status"] == "disconnected"
    assert live["cancellation_settings"]["portal_cancellation_enabled"] is True
    provider.delete(acme, outs or {})  # and again: already gone is success


def test_read_of_a_site_that_is_gone_returns_no_id_and_empty_outputs(
    emulator: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(env_name("vanished"), key_for("vanished"))
    provider = provider_for(emulator)
    stored = checked(provider, inputs("vanished"))
    result = provider.read("vanished", {**stored, "declared": stored})
    assert result.id is None
    assert result.outs == {}


def test_refresh_records_drift_so_the_next_up_corrects_it(emulator: Any, acme: str) -> None:
    provider = provider_for(emulator)
    news = checked(provider, inputs(acme, policy={"allowDisconnect": True}))
    created = provider.create(news).outs or {}
    emulator.admin.ui(acme, "disconnect", confirm=True)
    refreshed = provider.read(acme, created)
    outs = refreshed.outs or {}
    assert refreshed.id == acme
    assert outs["inSync"] is False
    assert outs["connection"]["state"] == "disconnected"  # the live value, for the diff
    assert outs["declared"] == created["declared"]
    assert {d["field"] for d in outs["drift"]} >= {"spec.connection.state"}
    diff = provider.diff(acme, outs, news)
    assert diff.changes is True
    assert diff.replaces == []  # reconnecting is not a replace
    provider.update(acme, outs, news)
    assert integration(emulator, acme)["connection"]["status"] == "connected"


def test_a_missing_key_says_where_it_may_come_from(emulator: Any, acme: str) -> None:
    provider = provider_for(emulator)
    stored = checked(provider, inputs("globex"))
    with pytest.raises(IntegrationError, match="GLOBEX_CHARGEBEE_API_KEY") as caught:
        provider.read("globex", stored)
    assert "brightback:apiKeys.globex" in str(caught.value)


def test_keys_from_pulumi_config_need_no_environment(
    emulator: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = add_site(emulator, "globex")
    monkeypatch.delenv(env_name("globex"), raising=False)
    provider = provider_for(emulator, keys={"globex": key})
    outs = provider.create(checked(provider, inputs("globex"))).outs or {}
    assert integration(emulator, "globex")["connection"]["status"] == "connected"
    assert_no_key(outs, key)
    refreshed = provider.read("globex", outs)
    assert refreshed.outs and refreshed.outs["inSync"] is True


def test_a_wrong_config_key_fails_without_showing_it(
    emulator: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    add_site(emulator, "globex")
    wrong = "test_globex_not_the_key_Yq81Lr"
    provider = provider_for(emulator, keys={"globex": wrong})
    with pytest.raises(IntegrationError) as caught:
        provider.create(checked(provider, inputs("globex")))
    assert "401" in str(caught.value) or "authentication" in str(caught.value)
    assert_no_key(str(caught.value), wrong)


def test_one_provider_serves_concurrent_calls_on_many_sites(
    emulator: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    sites = [f"shard-{i}" for i in range(8)]
    keys = {site: add_site(emulator, site) for site in sites}
    provider = provider_for(emulator, keys=keys)
    with ThreadPoolExecutor(max_workers=4) as pool:  # the SDK server's worker count
        ids = list(pool.map(lambda s: provider.create(checked(provider, inputs(s))).id, sites))
    assert ids == sites
    for site in sites:
        assert integration(emulator, site)["cancellation_via_brightback"]["traffic_status"] == "on"


def test_declaring_disconnected_needs_the_allowance(emulator: Any, acme: str) -> None:
    provider = provider_for(emulator)
    created = provider.create(checked(provider, inputs(acme))).outs or {}
    disconnected = inputs(acme, connection={"state": "disconnected"}, integrateVia=None)
    disconnected["cancellationViaBrightback"] = False
    with pytest.raises(IntegrationError, match="disconnect_not_allowed"):
        provider.update(acme, created, checked(provider, disconnected))
    assert integration(emulator, acme)["connection"]["status"] == "connected"

    allowed = {**disconnected, "policy": {"allowDisconnect": True}}
    outs = provider.update(acme, created, checked(provider, allowed)).outs or {}
    live = integration(emulator, acme)
    assert live["connection"]["status"] == "disconnected"
    assert live["cancellation_settings"]["portal_cancellation_enabled"] is True
    assert outs["apiKeyId"] is None
    assert outs["connectedBrightbackSite"] is None


def test_an_observed_site_is_reported_never_written(emulator: Any, acme: str) -> None:
    provider = provider_for(emulator)
    before = emulator.admin.site_state(acme)["version"]
    observed = inputs(acme, policy={"management": "observe"})
    outs = provider.create(checked(provider, observed)).outs or {}
    assert emulator.admin.site_state(acme)["version"] == before
    assert outs["inSync"] is False
    assert [c["reason"] for c in outs["conditions"]] == ["observe_only"]
    assert {d["field"] for d in outs["drift"]} >= {"spec.connection.state"}
    provider.delete(acme, outs)  # deleting an observed site only forgets it
    assert emulator.admin.site_state(acme)["version"] == before
