"""Builders for planner tests: desired documents and live worlds in a line each."""

from __future__ import annotations

from typing import Any

from emulator import rules
from reconciler.model import (
    ConnectionState,
    Credentials,
    Desired,
    DesiredConnection,
    FallbackCancelExperience,
    IntegrationMode,
    Management,
    Policy,
)
from tests.planner._model import World

EMAIL = "billing@acme.example"


def want(
    *,
    connected: bool = True,
    brightback_site: str = "acme-retention",
    mode: IntegrationMode | None = IntegrationMode.CUSTOMER_PORTAL,
    toggle: bool = True,
    portal: bool = True,
    reason_codes: bool = True,
    allow_disconnect: bool = False,
    management: Management = Management.FULL,
    suspended: bool = False,
    sign_up: bool = False,
    account_email: str | None = None,
    toggle_before_publish: bool = False,
) -> Desired:
    return Desired(
        name="acme-live",
        site="acme",
        credentials=Credentials(api_key_env="ACME_CHARGEBEE_API_KEY"),
        connection=DesiredConnection(
            state=ConnectionState.CONNECTED if connected else ConnectionState.DISCONNECTED,
            brightback_site=brightback_site if connected else None,
            account_email=account_email,
            sign_up_if_missing=sign_up,
        ),
        integrate_via=mode if connected else None,
        cancellation_via_brightback=toggle and connected,
        fallback=FallbackCancelExperience(portal_cancellation=portal, reason_codes=reason_codes),
        policy=Policy(
            management=management,
            allow_disconnect=allow_disconnect,
            suspended=suspended,
            toggle_before_publish=toggle_before_publish,
        ),
    )


def world(
    *,
    account: str = "active",
    brightback_sites: tuple[str, ...] = ("acme-retention", "acme-eu"),
    published: tuple[tuple[str, str], ...] = (("acme-retention", "customer_portal"),),
    **state: Any,
) -> World:
    """A site as the emulator holds it; `state` overrides SiteState fields."""
    sites = {
        name: {
            mode: ("published" if (name, mode) in published else "draft") for mode in rules.MODES
        }
        for name in brightback_sites
    }
    base = rules.SiteState(site="acme", email=EMAIL, version=5)
    fields: dict[str, Any] = {**base.__dict__, **state}
    return World(rules.SiteState(**fields), rules.Account(EMAIL, account, sites))


def live_site(
    brightback_site: str = "acme-retention", mode: str = "customer_portal", **state: Any
) -> World:
    """A connected site with Cancellation via Brightback on, as onboarding leaves it."""
    fields: dict[str, Any] = {
        "connected": True,
        "brightback_site": brightback_site,
        "account_email": EMAIL,
        "api_key_id": "bbkey_1",
        "data_sync": True,
        "access_level": "read_write",
        "integrate_via": mode,
        "toggle": True,
        "reason_codes_enabled": False,
        "portal_cancellation_enabled": False,
        **state,
    }
    return world(**fields)
