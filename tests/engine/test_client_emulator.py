"""The client against the real emulator with injected faults, proven with its request log:
retries happen, writes do not repeat, one connect makes one API key, 4xx is final, and the
key never shows."""

from __future__ import annotations

import time
from typing import Any

import pytest

from reconciler.client import Client, ClientConfig, RetryPolicy, idempotency_key
from reconciler.errors import ApiError, TransportError
from reconciler.plan import Action, Step

from ._builders import desired
from .conftest import KEYS_USED, env_name, leaks

SITE = "acme"
KEY = "key-acme-0123456789"
CONNECT = Step(Action.CONNECT, args={"brightback_site": "acme-bb"})


@pytest.fixture
def site(emulator: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    KEYS_USED.add(KEY)
    emulator.admin.create_site(SITE, f"billing@{SITE}.example", KEY)
    emulator.admin.create_account(f"billing@{SITE}.example", brightback_sites=("acme-bb",))
    monkeypatch.setenv(env_name(SITE), KEY)
    return emulator


def make_client(emulator: Any, sleeps: list[float] | None = None, attempts: int = 8) -> Client:
    record = sleeps.append if sleeps is not None else (lambda _: None)
    config = ClientConfig(
        url_template=emulator.url_template,
        timeout=2.0,
        connect_timeout=2.0,
        retry=RetryPolicy(max_attempts=attempts, base_delay=0.01, max_delay=0.05),
    )
    return Client(config, sleep=record)


def the_desired() -> Any:
    return desired(SITE, env=env_name(SITE), brightback_site="acme-bb")


def connect_once(client: Client, version: int) -> Any:
    key = idempotency_key(SITE, "fingerprint", 0, CONNECT.action.value, version)
    return client.execute(the_desired(), CONNECT, expected_version=version, idempotency_key=key)


def posts(emulator: Any) -> list[dict[str, Any]]:
    return [r for r in emulator.admin.requests(site=SITE) if r["method"] == "POST"]


def test_lost_responses_are_retried_as_replays_and_connect_makes_one_key(site: Any) -> None:
    site.admin.set_faults(sites={SITE: {"lost_response_rate": 0.6, "seed": 7}})
    with make_client(site, attempts=12) as client:
        version = client.read(the_desired()).version
        live = connect_once(client, version)
    site.admin.set_faults(global_={}, sites={})
    assert live.connected
    state = site.admin.site_state(SITE)
    assert state["api_keys_generated"] == 1
    assert state["version"] == version + 1  # one write, however many attempts
    log = posts(site)
    assert len({r["idempotency_key"] for r in log}) == 1
    assert len(log) >= 2, "the fault seed should have lost at least one response"
    assert sum(1 for r in log if not r["replayed"]) == 1  # every retry was a replay


def test_5xx_is_retried_until_it_succeeds_without_a_duplicate_write(site: Any) -> None:
    site.admin.set_faults(sites={SITE: {"error_rate": 0.6, "seed": 3}})
    with make_client(site, attempts=12) as client:
        version = client.read(the_desired()).version
        connect_once(client, version)
        retries = client.stats.snapshot()["retries"]
    site.admin.set_faults(global_={}, sites={})
    assert retries.get("http_5xx", 0) >= 1
    state = site.admin.site_state(SITE)
    assert state["api_keys_generated"] == 1 and state["version"] == version + 1
    assert any(r["status"] >= 500 for r in posts(site))


def test_429_is_retried_after_the_server_given_delay(site: Any) -> None:
    site.admin.set_faults(sites={SITE: {"rate_429": 0.6, "retry_after_s": 2, "seed": 5}})
    sleeps: list[float] = []
    with make_client(site, sleeps, attempts=12) as client:
        for _ in range(4):
            client.read(the_desired())
        retries = client.stats.snapshot()["retries"]
    site.admin.set_faults(global_={}, sites={})
    assert retries.get("http_429", 0) >= 1
    assert sleeps and all(delay == 2 for delay in sleeps)  # Retry-After, not the backoff


def test_other_4xx_is_final_and_sent_once(site: Any) -> None:
    wrong = Step(Action.CONNECT, args={"brightback_site": "not-ours"})
    with make_client(site) as client:
        version = client.read(the_desired()).version
        with pytest.raises(ApiError) as caught:
            client.execute(the_desired(), wrong, expected_version=version, idempotency_key="k1")
    assert caught.value.api_error_code == "brightback_site_not_found"
    assert caught.value.http_status == 400 and caught.value.site == SITE
    assert len(posts(site)) == 1


def test_stale_version_is_refused_and_not_retried(site: Any) -> None:
    with make_client(site) as client:
        version = client.read(the_desired()).version
        with pytest.raises(ApiError) as caught:
            connect_once(client, version - 1)
    assert caught.value.api_error_code == "stale_version"
    assert site.admin.site_state(SITE)["api_keys_generated"] == 0
    assert len(posts(site)) == 1


def test_wrong_key_is_a_401_whose_error_never_shows_the_key(
    site: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    wrong_key = "key-acme-wrong-99999"
    KEYS_USED.add(wrong_key)
    monkeypatch.setenv(env_name(SITE), wrong_key)
    with make_client(site) as client, pytest.raises(ApiError) as caught:
        client.read(the_desired())
    error = caught.value
    assert error.http_status == 401 and error.api_error_code == "api_authentication_failed"
    shown = f"{error} {error!r} {error.args!r} {error.__cause__!r} {error.__context__!r}"
    assert not leaks(shown, {wrong_key, KEY})
    assert len(site.admin.requests(site=SITE)) == 1


def test_unreachable_server_is_a_transport_error_without_the_key(site: Any) -> None:
    config = ClientConfig(
        url_template="http://127.0.0.1:9/sites/{site}/api/v2",
        connect_timeout=0.5,
        timeout=0.5,
        retry=RetryPolicy(max_attempts=2, base_delay=0.01),
    )
    with Client(config, sleep=lambda _: None) as client, pytest.raises(TransportError) as caught:
        client.read(the_desired())
    assert "after 2 attempts" in str(caught.value)
    assert not leaks(f"{caught.value} {caught.value!r}", {KEY})


def test_timeouts_are_retried_with_a_bounded_wait(site: Any) -> None:
    site.admin.set_faults(sites={SITE: {"timeout_rate": 0.5, "timeout_s": 3, "seed": 11}})
    config = ClientConfig(
        url_template=site.url_template,
        timeout=0.5,
        connect_timeout=0.5,
        retry=RetryPolicy(max_attempts=10, base_delay=0.01),
    )
    with Client(config, sleep=lambda _: None) as client:
        for _ in range(3):
            client.read(the_desired())
        retries = client.stats.snapshot()["retries"]
    site.admin.set_faults(global_={}, sites={})
    assert retries.get("timeout", 0) >= 1


def test_a_write_retried_after_the_idempotency_window_is_refused_not_done_twice(
    site: Any,
) -> None:
    """The engine never relies on a replay older than the window: the key is new again
    then, but the write names the version it was planned from, so it is stale."""
    site.admin.set_settings(idempotency_window_s=1)
    with make_client(site) as client:
        version = client.read(the_desired()).version
        assert connect_once(client, version).connected
        time.sleep(1.2)  # the window passes (say, a crashed run resumed later)
        with pytest.raises(ApiError) as caught:
            connect_once(client, version)
    assert caught.value.api_error_code == "stale_version" and caught.value.http_status == 409
    state = site.admin.site_state(SITE)
    assert state["api_keys_generated"] == 1 and state["version"] == version + 1
    assert [r["replayed"] for r in posts(site)] == [False, False]
