"""Every control the console backend touches, found the way a person finds it.

Each locator is a role plus an accessible name, in the words of Chargebee's help page
("Brightback with Chargebee"): Settings, Configure Chargebee, Brightback Retention,
Sign-up for Brightback, Next, Sign up, Sign in, Integrate Brightback via, Customer Portal,
Retention API, Reason Codes, Checkout & Self-Serve Portal, Cancellation via Brightback,
Disconnect, Proceed. No CSS paths, no XPath, no sleeps: Playwright waits for each control
to be actionable, and a control that never appears fails the step with evidence.

When Chargebee renames a control, this is the one file to change: the words live in
`WORDS`, the roles next to them. docs/console-backend.md explains how.
"""

from __future__ import annotations

from typing import Final

from playwright.async_api import Locator, Page

from reconciler.model import AccountStatus, IntegrationMode, TrafficStatus

WORDS: Final = {
    # navigation (help page: "Click Settings > Configure Chargebee > ...")
    "settings": "Settings",
    "configure": "Configure Chargebee",
    "essentials": "Customer-Facing Essentials",
    "retention_page": "Brightback Retention",
    "portal_page": "Checkout & Self-Serve Portal",
    # Chargebee's own sign-in (a session that no longer works lands here)
    "console_sign_in": "Sign in to Chargebee",
    "email": "Email",
    "password": "Password",
    "sign_in": "Sign in",
    # connect flow
    "sign_up_for_brightback": "Sign-up for Brightback",
    "next": "Next",
    "brightback_site_name": "Brightback site name",
    "sign_up": "Sign up",
    "activate_account": "Activate Account",
    "brightback_site_choice": "Brightback site",
    "connect": "Connect",
    # Brightback Retention page
    "site_email": "Chargebee site email",
    "account": "Brightback account",
    "connection": "Connection",
    "connected_site": "Brightback site",
    "api_key": "API key",
    "data_sync": "Customer data sync",
    "integrate_via": "Integrate Brightback via",
    "save": "Save",
    "disconnect": "Disconnect",
    "proceed": "Proceed",
    "brightback_sites": "Brightback sites",
    # Checkout & Self-Serve Portal
    "toggle": "Cancellation via Brightback",
    "traffic": "Traffic status",
    "reason_codes": "Reason Codes for subscription cancellations",
    "portal_cancellation": "Allow customers to cancel subscriptions in the portal",
    # every page
    "revision": "Settings revision",
}

# What the pages say for each value the engine knows.
MODE_OPTIONS: Final = {
    IntegrationMode.CUSTOMER_PORTAL: "Customer Portal",
    IntegrationMode.RETENTION_API: "Retention API",
}
ACCOUNT_TEXT: Final = {
    "No account": AccountStatus.NOT_FOUND,
    "Pending activation": AccountStatus.PENDING_ACTIVATION,
    "Active": AccountStatus.ACTIVE,
}
TRAFFIC_TEXT: Final = {
    "Off": TrafficStatus.OFF,
    "Enabled, waiting for the Brightback experience to be published": (
        TrafficStatus.WAITING_FOR_PUBLISH
    ),
    "On, receiving traffic": TrafficStatus.ON,
}
CONNECTED_TEXT: Final = "Connected"
ON_TEXT: Final = "On"
PUBLISHED_TEXT: Final = "Published"
EXPERIENCE_COLUMN: Final = "{mode} experience"  # column header per mode in Brightback sites


def link(page: Page, key: str) -> Locator:
    return page.get_by_role("link", name=WORDS[key], exact=True)


def button(page: Page, key: str) -> Locator:
    return page.get_by_role("button", name=WORDS[key], exact=True)


def textbox(page: Page, key: str) -> Locator:
    return page.get_by_role("textbox", name=WORDS[key], exact=True)


def password(page: Page) -> Locator:
    """Password fields have no ARIA role; their label is what a person reads."""
    return page.get_by_label(WORDS["password"], exact=True)


def fact(page: Page, key: str) -> Locator:
    """A value shown next to its name: the cell of the row whose header is the name."""
    header = page.get_by_role("rowheader", name=WORDS[key], exact=True)
    return page.get_by_role("row").filter(has=header).get_by_role("cell")


def rows(page: Page) -> Locator:
    """Every table row: values are shown as rows headed by their names."""
    return page.get_by_role("row")


def heading(page: Page, key: str) -> Locator:
    return page.get_by_role("heading", name=WORDS[key], exact=True, level=1)


def page_title(page: Page, text: str) -> Locator:
    return page.get_by_role("heading", name=text, exact=True, level=1)


def integrate_via(page: Page) -> Locator:
    return page.get_by_role("combobox", name=WORDS["integrate_via"], exact=True)


def checkbox(page: Page, key: str) -> Locator:
    return page.get_by_role("checkbox", name=WORDS[key], exact=True)


def toggle(page: Page) -> Locator:
    return page.get_by_role("switch", name=WORDS["toggle"], exact=True)


def brightback_site_choice(page: Page, name: str) -> Locator:
    group = page.get_by_role("group", name=WORDS["brightback_site_choice"], exact=True)
    return group.get_by_role("radio", name=name, exact=True)


def brightback_sites_table(page: Page) -> Locator:
    return page.get_by_role("table", name=WORDS["brightback_sites"], exact=True)


def dialog_proceed(page: Page) -> Locator:
    return page.get_by_role("dialog").get_by_role("button", name=WORDS["proceed"], exact=True)


def refusal(page: Page) -> Locator:
    """The console's error message after a submit (role=alert)."""
    return page.get_by_role("alert")


def signed_out(page: Page) -> Locator:
    """Chargebee's sign-in page: where an expired session lands."""
    return page_title(page, WORDS["console_sign_in"])


def signed_in(page: Page) -> Locator:
    """What a signed-in person sees on every page: the Settings entry."""
    return link(page, "settings")


__all__ = [
    "ACCOUNT_TEXT",
    "MODE_OPTIONS",
    "TRAFFIC_TEXT",
    "WORDS",
    "brightback_site_choice",
    "brightback_sites_table",
    "button",
    "checkbox",
    "dialog_proceed",
    "fact",
    "heading",
    "integrate_via",
    "link",
    "password",
    "refusal",
    "rows",
    "signed_in",
    "signed_out",
    "textbox",
    "toggle",
]
