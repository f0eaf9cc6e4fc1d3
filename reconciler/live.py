"""Parse the control plane's `brightback_integration` resource into a `Live` value.

The JSON shape is the contract in `schemas/control-plane.openapi.yaml`. Parsing is strict:
an answer that does not fit is an `ApiError`, not a half-filled object the planner would
then act on.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from reconciler.errors import ApiError
from reconciler.model import (
    AccountStatus,
    ConnectionState,
    IntegrationMode,
    Live,
    LiveAccount,
    LiveBrightbackSite,
    LiveConnection,
    TrafficStatus,
)


def live_from_api(payload: Mapping[str, Any]) -> Live:
    """Build `Live` from `{"brightback_integration": {...}}` (or the inner object)."""
    body = payload.get("brightback_integration", payload)
    try:
        account = body["account"]
        connection = body["connection"]
        toggle = body["cancellation_via_brightback"]
        settings = body["cancellation_settings"]
        mode = body.get("integrate_via")
        return Live(
            site=str(body["site"]),
            site_email=str(body["site_email"]),
            version=int(body["version"]),
            account=LiveAccount(
                email=str(account["email"]),
                status=AccountStatus(account["status"]),
                brightback_sites=tuple(
                    LiveBrightbackSite(
                        name=str(bb["name"]),
                        published=frozenset(
                            IntegrationMode(m)
                            for m, state in bb.get("experiences", {}).items()
                            if state == "published"
                        ),
                    )
                    for bb in account.get("brightback_sites", [])
                ),
            ),
            connection=LiveConnection(
                state=ConnectionState(connection["status"]),
                brightback_site=connection.get("brightback_site"),
                account_email=connection.get("account_email"),
                api_key_id=connection.get("api_key_id"),
                data_sync=bool(connection.get("data_sync", False)),
            ),
            integrate_via=IntegrationMode(mode) if mode else None,
            cancellation_via_brightback=bool(toggle["enabled"]),
            traffic_status=TrafficStatus(toggle["traffic_status"]),
            reason_codes_enabled=bool(settings["reason_codes_enabled"]),
            portal_cancellation_enabled=bool(settings["portal_cancellation_enabled"]),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise ApiError(
            f"unexpected brightback_integration payload: {exc!r}",
            http_status=200,
            api_error_code="unexpected_response",
        ) from exc


# Iterating an Enum class walks its members through EnumType.__iter__ each time: a few
# microseconds a call that showed up in every site of a 10,000-site report.
_MODES = tuple(IntegrationMode)


def live_to_api(live: Live) -> dict[str, Any]:
    """The inverse of `live_from_api`, for reports, saved plans and Pulumi outputs."""
    return {
        "site": live.site,
        "site_email": live.site_email,
        "version": live.version,
        "account": {
            "email": live.account.email,
            "status": live.account.status.value,
            "brightback_sites": [
                {
                    "name": bb.name,
                    "experiences": {
                        m.value: ("published" if m in bb.published else "draft") for m in _MODES
                    },
                }
                for bb in live.account.brightback_sites
            ],
        },
        "connection": {
            "status": live.connection.state.value,
            "brightback_site": live.connection.brightback_site,
            "account_email": live.connection.account_email,
            "api_key_id": live.connection.api_key_id,
            "data_sync": live.connection.data_sync,
        },
        "integrate_via": live.integrate_via.value if live.integrate_via else None,
        "cancellation_via_brightback": {
            "enabled": live.cancellation_via_brightback,
            "traffic_status": live.traffic_status.value,
        },
        "cancellation_settings": {
            "reason_codes_enabled": live.reason_codes_enabled,
            "portal_cancellation_enabled": live.portal_cancellation_enabled,
        },
    }


__all__ = [
    "live_from_api",
    "live_to_api",
]
