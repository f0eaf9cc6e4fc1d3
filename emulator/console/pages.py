"""The console's pages, rendered from the same `brightback_integration` resource the API
returns, in the help page's own words (Settings, Configure Chargebee, Brightback Retention,
Sign-up for Brightback, Integrate Brightback via, Checkout & Self-Serve Portal,
Cancellation via Brightback, Disconnect, Proceed).

Pure functions: resource in, HTML out. The emulator shows more than a real console may
(each Brightback site's published experiences, a settings revision): docs/console-backend.md
says which of these a real console is not known to show.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from emulator.console.html import (
    button,
    checkbox,
    e,
    facts,
    form,
    layout,
    select,
    table,
    text_input,
)

MODE_LABELS = {"customer_portal": "Customer Portal", "retention_api": "Retention API"}
ACCOUNT_LABELS = {
    "not_found": "No account",
    "pending_activation": "Pending activation",
    "active": "Active",
}
TRAFFIC_LABELS = {
    "off": "Off",
    "waiting_for_publish": "Enabled, waiting for the Brightback experience to be published",
    "on": "On, receiving traffic",
}
NOTICES = {
    "saved": "Saved",
    "connected": "Brightback is connected",
    "disconnected": "Brightback is disconnected",
    "activated": "Your Brightback account is activated; sign in to continue",
}
CONFIGURE = "/settings/configure_chargebee"
RETENTION = CONFIGURE + "/brightback_retention"
PORTAL = CONFIGURE + "/checkout_portal"

Resource = Mapping[str, Any]


def sign_in(base: str, alert: str | None = None) -> str:
    body = form(
        f"{base}/login",
        text_input("email", "Email", kind="email", required=True, autocomplete="username")
        + text_input(
            "password", "Password", kind="password", required=True, autocomplete="current-password"
        )
        + button("Sign in"),
        label="Sign in",
    )
    return layout("Sign in to Chargebee", body, base=base, alert=alert, signed_in=False)


def home(base: str, res: Resource) -> str:
    body = f"<p>Signed in to the Chargebee site {e(res['site'])}.</p>" + form(
        f"{base}/logout", button("Sign out")
    )
    return layout("Home", body, base=base, revision=res["version"])


def settings(base: str, res: Resource) -> str:
    body = f'<ul><li><a href="{e(base + CONFIGURE)}">Configure Chargebee</a></li></ul>'
    return layout("Settings", body, base=base, revision=res["version"])


def configure(base: str, res: Resource) -> str:
    body = (
        '<section aria-labelledby="essentials"><h2 id="essentials">Customer-Facing Essentials'
        f'</h2><ul><li><a href="{e(base + PORTAL)}">Checkout &amp; Self-Serve Portal</a></li>'
        f'<li><a href="{e(base + RETENTION)}">Brightback Retention</a></li></ul></section>'
    )
    return layout("Configure Chargebee", body, base=base, revision=res["version"])


def _account_table(res: Resource) -> str:
    sites = res["account"]["brightback_sites"]
    if not sites:
        return ""
    rows = [
        [
            bb["name"],
            *(
                "Published" if bb["experiences"].get(mode) == "published" else "Draft"
                for mode in MODE_LABELS
            ),
        ]
        for bb in sites
    ]
    headers = ["Brightback site", *(f"{label} experience" for label in MODE_LABELS.values())]
    return table("Brightback sites", headers, rows)


def brightback_retention(
    base: str, res: Resource, notice: str | None = None, alert: str | None = None
) -> str:
    connection = res["connection"]
    connected = connection["status"] == "connected"
    rows: list[tuple[str, str, object]] = [
        ("site-email", "Chargebee site email", res["site_email"]),
        ("account", "Brightback account", ACCOUNT_LABELS[res["account"]["status"]]),
        ("connection", "Connection", "Connected" if connected else "Not connected"),
    ]
    if connected:
        rows += [
            ("brightback-site", "Brightback site", connection["brightback_site"]),
            ("api-key", "API key", connection["api_key_id"]),
        ]
    rows.append(("data-sync", "Customer data sync", "On" if connection["data_sync"] else "Off"))
    body = facts("Brightback connection", rows)
    if connected:
        options = [("", "Choose one"), *MODE_LABELS.items()]
        body += form(
            f"{base}{RETENTION}/integrate_via",
            select("integrate_via", "Integrate Brightback via", options, res["integrate_via"])
            + button("Save"),
            label="Integration",
        )
        body += (
            button(
                "Disconnect",
                kind="button",
                extra=" onclick=\"document.getElementById('disconnect-dialog').showModal()\"",
            )
            + '<dialog id="disconnect-dialog" aria-labelledby="disconnect-title">'
            '<h2 id="disconnect-title">Disconnect Brightback?</h2>'
            "<p>This immediately stops the sync of customer data from Chargebee to "
            "Brightback and affects your revenue reporting. Using the integration again "
            "means connecting and integrating anew.</p>"
            + form(f"{base}{RETENTION}/disconnect", button("Proceed"))
            + '<form method="dialog">'
            + button("Cancel")
            + "</form></dialog>"
        )
    else:
        body += (
            f'<p><a href="{e(base + RETENTION)}/review">Sign-up for Brightback</a> '
            "to create a Brightback account or sign in to an existing one.</p>"
        )
    body += _account_table(res)
    return layout(
        "Brightback Retention",
        body,
        base=base,
        revision=res["version"],
        notice=notice,
        alert=alert,
    )


def review(base: str, res: Resource) -> str:
    body = "<p>Review the details retrieved with the email address of your Chargebee site.</p>"
    body += form(
        f"{base}{RETENTION}/review",
        text_input("email", "Email", kind="email", value=res["site_email"], readonly=True)
        + text_input("company", "Company name", value=res["site"])
        + button("Next"),
        label="Your details",
    )
    return layout("Review your details", body, base=base, revision=res["version"])


def sign_up(base: str, res: Resource, alert: str | None = None) -> str:
    body = form(
        f"{base}{RETENTION}/sign_up",
        text_input("email", "Email", kind="email", value=res["site_email"], readonly=True)
        + text_input("brightback_site", "Brightback site name", required=True)
        + text_input(
            "password", "Password", kind="password", required=True, autocomplete="new-password"
        )
        + button("Sign up"),
        label="Sign up",
    )
    body += (
        button("Join with Google", kind="button", extra=" disabled")
        + ' <span class="note">(not available in the emulator)</span>'
    )
    return layout("Sign up for Brightback", body, base=base, revision=res["version"], alert=alert)


def check_email(base: str, res: Resource) -> str:
    body = (
        f"<p>We sent an email to {e(res['site_email'])}. Click the Activate Account link in "
        "it to activate your Brightback account.</p>"
        f'<p><a href="{e(base)}/mailbox">Open mailbox</a> (emulated email client)</p>'
    )
    return layout("Check your email", body, base=base, revision=res["version"])


def mailbox(base: str, res: Resource) -> str:
    if res["account"]["status"] == "pending_activation":
        body = (
            '<article aria-labelledby="mail-subject"><h2 id="mail-subject">Activate your '
            "Brightback account</h2><p>From: Brightback</p><p>Welcome to Brightback. "
            f'<a href="{e(base)}/mailbox/activate">Activate Account</a></p></article>'
        )
    else:
        body = "<p>No messages.</p>"
    return layout(f"Mailbox of {res['site_email']}", body, base=base, revision=res["version"])


def brightback_sign_in(
    base: str, res: Resource, alert: str | None = None, notice: str | None = None
) -> str:
    body = form(
        f"{base}{RETENTION}/sign_in",
        text_input("email", "Email", kind="email", value=res["site_email"], readonly=True)
        + text_input(
            "password", "Password", kind="password", required=True, autocomplete="current-password"
        )
        + button("Sign in"),
        label="Sign in to Brightback",
    )
    return layout(
        "Sign in to Brightback",
        body,
        base=base,
        revision=res["version"],
        alert=alert,
        notice=notice,
    )


def choose_site(base: str, res: Resource, alert: str | None = None) -> str:
    radios = "".join(
        f'<p><input type="radio" id="bb-{i}" name="brightback_site" value="{e(bb["name"])}"'
        f'{" checked" if i == 0 else ""}> <label for="bb-{i}">{e(bb["name"])}</label></p>'
        for i, bb in enumerate(res["account"]["brightback_sites"])
    )
    body = form(
        f"{base}{RETENTION}/connect",
        f"<fieldset><legend>Brightback site</legend>{radios}</fieldset>"
        "<p>Connecting gives Brightback read-write access to this Chargebee site and "
        "generates an API key.</p>" + button("Connect"),
        label="Choose a Brightback site",
    )
    return layout("Brightback Dashboard", body, base=base, revision=res["version"], alert=alert)


def checkout_portal(
    base: str, res: Resource, notice: str | None = None, alert: str | None = None
) -> str:
    toggle = res["cancellation_via_brightback"]
    settings_ = res["cancellation_settings"]
    connected = res["connection"]["status"] == "connected"
    body = (
        '<section aria-labelledby="cancellation">'
        '<h2 id="cancellation">Subscription cancellation</h2>'
    )
    if toggle["enabled"]:
        body += (
            '<p><button type="button" role="switch" aria-checked="true" aria-disabled="true" '
            'aria-describedby="toggle-note">Cancellation via Brightback</button></p>'
            '<p id="toggle-note" class="note">This toggle cannot be turned off. To stop routing '
            "cancellations to Brightback, disconnect the Brightback integration and re-enable "
            "your previous cancel experience.</p>"
            + facts(
                "Brightback traffic",
                [("traffic", "Traffic status", TRAFFIC_LABELS[toggle["traffic_status"]])],
            )
        )
    else:
        if connected:
            body += form(
                f"{base}{PORTAL}/cancellation_via_brightback",
                '<p><button type="submit" role="switch" aria-checked="false">'
                "Cancellation via Brightback</button></p>",
                label="Cancellation via Brightback",
            )
        else:
            body += "<p>Connect Brightback Retention to route cancellations to Brightback.</p>"
        body += form(
            f"{base}{PORTAL}/cancellation",
            checkbox(
                "reason_codes_enabled",
                "Reason Codes for subscription cancellations",
                settings_["reason_codes_enabled"],
            )
            + checkbox(
                "portal_cancellation_enabled",
                "Allow customers to cancel subscriptions in the portal",
                settings_["portal_cancellation_enabled"],
            )
            + button("Save"),
            label="Cancellation options",
        )
    body += "</section>"
    return layout(
        "Checkout & Self-Serve Portal",
        body,
        base=base,
        revision=res["version"],
        notice=notice,
        alert=alert,
    )


__all__ = [
    "CONFIGURE",
    "PORTAL",
    "RETENTION",
    "brightback_retention",
    "brightback_sign_in",
    "check_email",
    "checkout_portal",
    "choose_site",
    "configure",
    "home",
    "mailbox",
    "review",
    "settings",
    "sign_in",
    "sign_up",
]
