"""Chargebee's official Python SDK (`chargebee` on PyPI) against the emulator's public
routes: the event list, the pre-cancel hosted page and the error envelope parse exactly as
the SDK parses Chargebee's own answers (its typed responses and exception classes).

The SDK addresses a site as `{protocol}://{site}.{domain}/api/v2`, so it reaches the
emulator by the Host form (`acme.localhost:PORT`). Two things this machine needs, both on
the client side only: `*.localhost` names are loopback (RFC 6761) but the resolver here does
not know them, so they are resolved to 127.0.0.1 for the test; and the SDK forces https
while its class attribute `verify_ca_certs` is on (its own `update_protocol("http")` sets an
instance attribute it never reads), so the test turns that off.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any

import pytest
from chargebee import APIError as SdkError
from chargebee import Chargebee, InvalidRequestError, OperationFailedError

from .conftest import KEY, Site

SUBSCRIPTION = {"id": "sub_probe_1"}


@pytest.fixture
def loopback_names(monkeypatch: pytest.MonkeyPatch) -> None:
    real = socket.getaddrinfo

    def resolve(host: Any, *args: Any, **kwargs: Any) -> Any:
        if isinstance(host, str) and host.endswith(".localhost"):
            host = "127.0.0.1"
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", resolve)
    monkeypatch.setattr(Chargebee, "verify_ca_certs", False)


@pytest.fixture
def sdk(acme: Site, loopback_names: None) -> Iterator[Chargebee]:
    yield sdk_for(acme, acme.key)


def sdk_for(site: Site, key: str) -> Chargebee:
    return Chargebee(
        api_key=key,
        site=site.name,
        chargebee_domain=f"localhost:{site.emulator.port}",
        protocol="http",
    )


def live_retention_api(site: Site) -> None:
    site.onboard("retention_api")
    site.emulator.admin.publish(f"{site.name}-bb", "retention_api")


def test_the_sdk_lists_events_with_chargebee_filters_and_typed_events(
    acme: Site, sdk: Chargebee
) -> None:
    acme.onboard()
    acme.emulator.admin.ui("acme", "update", integrate_via="retention_api", user="ann@acme.example")
    page = sdk.Event.list({"limit": 2})
    assert len(page.list) == 2 and page.next_offset  # more pages behind it
    newest = page.list[0].event
    assert (newest.source, newest.user) == ("admin_console", "ann@acme.example")
    assert newest.event_type == "brightback_integration_updated" and newest.api_version == "v2"
    assert newest.content["brightback_integration"]["integrate_via"] == "retention_api"
    assert newest.occurred_at > 0 and newest.id.startswith("ev_")
    rest = sdk.Event.list({"limit": 100, "offset": page.next_offset})
    assert rest.next_offset is None and rest.list

    filtered = sdk.Event.list(
        {
            "event_type": {"in": ["brightback_connected", "cancellation_settings_updated"]},
            "source": {"is": "api"},
        }
    )
    kinds = [item.event.event_type for item in filtered.list]
    assert sorted(kinds) == ["brightback_connected", "cancellation_settings_updated"]
    assert {item.event.source for item in filtered.list} == {"api"}
    assert all(item.event.user is None for item in filtered.list)  # an API call names no one


def test_the_sdk_gets_a_pre_cancel_hosted_page_and_sees_replays(acme: Site, sdk: Chargebee) -> None:
    live_retention_api(acme)
    params = {
        "subscription": SUBSCRIPTION,
        "pass_thru_content": "probe",
        "cancel_url": "https://acme.example/account",
        "redirect_url": "https://acme.example/bye",
    }
    headers = {"chargebee-idempotency-key": "sdk-probe-1"}
    first = sdk.HostedPage.pre_cancel(params, headers)
    page = first.hosted_page
    assert (page.type, page.state, page.pass_thru_content) == ("pre_cancel", "created", "probe")
    assert "/acme-bb/retention_api/" in page.url and page.expires_at > page.created_at
    assert first.is_idempotency_replayed is False and first.http_status_code == 200
    again = sdk.HostedPage.pre_cancel(params, dict(headers))
    assert again.is_idempotency_replayed is True and again.hosted_page.id == page.id


def test_the_sdk_raises_its_own_error_classes_with_code_and_param(
    acme: Site, sdk: Chargebee, loopback_names: None
) -> None:
    acme.onboard("customer_portal")
    with pytest.raises(OperationFailedError) as refused:
        sdk.HostedPage.pre_cancel({"subscription": SUBSCRIPTION})
    assert refused.value.http_status_code == 400
    assert refused.value.api_error_code == "wrong_integration_mode"
    assert refused.value.param == "subscription[id]"
    assert "retention_api" in str(refused.value)

    with pytest.raises(InvalidRequestError) as invalid:
        sdk.Event.list({"limit": 500})
    assert (invalid.value.http_status_code, invalid.value.param) == (400, "limit")

    with pytest.raises(SdkError) as unauthorized:
        sdk_for(acme, "not-" + KEY).Event.list()
    assert unauthorized.value.http_status_code == 401
    assert unauthorized.value.api_error_code == "api_authentication_failed"
