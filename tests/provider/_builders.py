"""Inputs and emulator sites for the provider tests."""

from __future__ import annotations

import base64
import copy
from typing import Any

from provider._inputs import PROVIDER_VERSION


def inputs(site: str = "acme", **changes: Any) -> dict[str, Any]:
    """Valid resource inputs for `site`, connected with the toggle on, as a program passes
    them (defaults left out). `changes` replaces top-level inputs; None removes one."""
    base: dict[str, Any] = {
        "name": f"{site}-live",
        "site": site,
        "credentials": {"apiKeyFromEnv": env_name(site)},
        "connection": {"state": "connected", "brightbackSite": f"{site}-retention"},
        "integrateVia": "customer_portal",
        "cancellationViaBrightback": True,
    }
    out = copy.deepcopy(base)
    for key, value in changes.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = value
    return out


def env_name(site: str) -> str:
    return site.upper().replace("-", "_") + "_CHARGEBEE_API_KEY"


def key_for(site: str) -> str:
    return f"test_{site.replace('-', '_')}_Zk3qP9sX2mVbN7"


def add_site(
    emulator: Any,
    site: str,
    *,
    bb_sites: tuple[str, ...] | None = None,
    published: tuple[tuple[str, str], ...] | None = None,
    account: bool = True,
) -> str:
    """A site whose account owns `<site>-retention` with the portal experience published;
    returns its API key."""
    email = f"billing@{site}.example"
    key = key_for(site)
    names = bb_sites if bb_sites is not None else (f"{site}-retention",)
    emulator.admin.create_site(site, email, key)
    if account:
        emulator.admin.create_account(email, brightback_sites=names)
        for bb, mode in published if published is not None else ((names[0], "customer_portal"),):
            emulator.admin.publish(bb, mode)
    return key


def integration(emulator: Any, site: str) -> dict[str, Any]:
    """The site's `brightback_integration` resource as the admin console sees it."""
    state = emulator.admin.site_state(site)
    return dict(state["brightback_integration"])


__all__ = [
    "PROVIDER_VERSION",
    "add_site",
    "env_name",
    "inputs",
    "integration",
    "key_for",
    "secret_forms",
]


def secret_forms(key: str) -> set[str]:
    """The key and the encodings it would take in a leaked Basic header or blob."""
    forms = {key}
    for raw in (key, f"{key}:"):
        encoded = raw.encode()
        forms.add(base64.b64encode(encoded).decode().rstrip("="))
        forms.add(base64.urlsafe_b64encode(encoded).decode().rstrip("="))
    return forms
