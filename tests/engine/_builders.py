"""Small builders shared by the engine tests (no I/O)."""

from __future__ import annotations

from typing import Any

from reconciler.model import (
    ConnectionState,
    Credentials,
    Desired,
    DesiredConnection,
    FallbackCancelExperience,
    IntegrationMode,
    Policy,
)


def desired(
    site: str = "acme",
    *,
    env: str = "ACME_KEY",
    connected: bool = True,
    brightback_site: str = "acme-retention",
    mode: IntegrationMode | None = IntegrationMode.CUSTOMER_PORTAL,
    toggle: bool = True,
    allow_disconnect: bool = False,
    **extra: Any,
) -> Desired:
    return Desired(
        name=f"{site}-doc",
        site=site,
        credentials=Credentials(api_key_env=env),
        connection=DesiredConnection(
            state=ConnectionState.CONNECTED if connected else ConnectionState.DISCONNECTED,
            brightback_site=brightback_site if connected else None,
        ),
        integrate_via=mode if connected else None,
        cancellation_via_brightback=toggle and connected,
        fallback=FallbackCancelExperience(),
        policy=Policy(allow_disconnect=allow_disconnect),
        **extra,
    )


def integration(site: str = "acme", version: int = 1, **changes: Any) -> dict[str, Any]:
    """A `brightback_integration` body as the contract describes it (disconnected site)."""
    body: dict[str, Any] = {
        "site": site,
        "site_email": f"billing@{site}.example",
        "version": version,
        "account": {
            "email": f"billing@{site}.example",
            "status": "active",
            "brightback_sites": [
                {
                    "name": f"{site}-retention",
                    "experiences": {"customer_portal": "published", "retention_api": "draft"},
                }
            ],
        },
        "connection": {
            "status": "disconnected",
            "brightback_site": None,
            "account_email": None,
            "api_key_id": None,
            "data_sync": False,
            "access_level": None,
            "connected_at": None,
        },
        "integrate_via": None,
        "cancellation_via_brightback": {"enabled": False, "traffic_status": "off"},
        "cancellation_settings": {
            "reason_codes_enabled": True,
            "portal_cancellation_enabled": True,
        },
        "updated_at": 1764040000,
    }
    body.update(changes)
    return {"brightback_integration": body}
