"""Each planned step as the help page's click sequence.

One function per `Action`, in the order a person clicks. A submit waits for the page it
leads to; a refusal the console shows (role=alert) becomes an `ApiError` with its words.
The Brightback password is typed only inside `Tab.untraced()`, so no trace holds it.
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable

from playwright.async_api import Locator, Page, expect

from reconciler.console import locators as L
from reconciler.console.browser import Tab
from reconciler.console.pages import PORTAL, RETENTION, Navigator, revision
from reconciler.errors import ApiError, CredentialError
from reconciler.model import Desired, IntegrationMode
from reconciler.plan import Action, Scalar, Step


class Clicks:
    """The click sequences for one site, in one browser tab."""

    def __init__(self, tab: Tab, nav: Navigator, base: str, password_env: str) -> None:
        self.tab = tab
        self.page: Page = tab.page
        self.nav = nav
        self.base = base
        self.site = tab.site
        self.password_env = password_env

    async def open(self, key: str, expected_version: int | None) -> None:
        await self.nav.open(self.page, self.base, self.site, key)
        if expected_version is None:
            return
        shown = await revision(self.page, self.site)
        if shown != expected_version:
            # A person sends no version; checking what the page shows before clicking is
            # the console's optimistic lock (a change in between is not caught: docs).
            raise ApiError(
                f"{self.site}: the site changed since it was read (revision {expected_version} "
                f"planned, the console shows {shown}); read it again and re-plan",
                http_status=409,
                api_error_code="stale_version",
                site=self.site,
            )

    async def submit(self, control: Locator) -> None:
        """Click a control that submits a form; wait for the answer; raise its refusal."""
        async with self.page.expect_navigation():
            await control.click()
        alert = L.refusal(self.page)
        if await alert.count():
            message = (await alert.first.inner_text()).strip()
            raise ApiError(
                f"{self.site}: the console refused: {message}",
                http_status=409,
                api_error_code="console_refused",
                site=self.site,
            )

    def password(self) -> str:
        value = os.environ.get(self.password_env)
        if not value:
            raise CredentialError(
                f"{self.site}: the Brightback sign-in needs the account's password in "
                f"${self.password_env} (it is typed into the page, never written anywhere)"
            )
        return value

    # --- the help page, step by step --------------------------------------------------

    async def start_brightback(self, expected_version: int) -> None:
        """Steps 2-5: Brightback Retention > Sign-up for Brightback > review > Next."""
        await self.open(RETENTION, expected_version)
        async with self.page.expect_navigation():
            await L.link(self.page, "sign_up_for_brightback").click()
        # Step 5 / rule 1: the review shows the site's email, and it cannot be edited.
        await expect(L.textbox(self.page, "email")).not_to_be_editable()
        async with self.page.expect_navigation():
            await L.button(self.page, "next").click()

    async def sign_up(self, brightback_site: str, expected_version: int) -> None:
        await self.start_brightback(expected_version)
        await expect(L.textbox(self.page, "email")).not_to_be_editable()
        await L.textbox(self.page, "brightback_site_name").fill(brightback_site)
        secret = self.password()
        async with self.tab.untraced():
            await L.password(self.page).fill(secret)
            await self.submit(L.button(self.page, "sign_up"))

    async def connect(self, brightback_site: str, expected_version: int) -> None:
        await self.start_brightback(expected_version)
        secret = self.password()
        async with self.tab.untraced():
            await L.password(self.page).fill(secret)
            await self.submit(L.button(self.page, "sign_in"))
        await L.brightback_site_choice(self.page, brightback_site).check()
        await self.submit(L.button(self.page, "connect"))

    async def set_mode(self, mode: IntegrationMode, expected_version: int) -> None:
        await self.open(RETENTION, expected_version)
        await L.integrate_via(self.page).select_option(label=L.MODE_OPTIONS[mode])
        await self.submit(L.button(self.page, "save"))

    async def cancellation_options(
        self, expected_version: int, reason_codes: bool | None, portal: bool | None
    ) -> None:
        await self.open(PORTAL, expected_version)
        if reason_codes is not None:
            await L.checkbox(self.page, "reason_codes").set_checked(reason_codes)
        if portal is not None:
            await L.checkbox(self.page, "portal_cancellation").set_checked(portal)
        await self.submit(L.button(self.page, "save"))

    async def toggle_on(self, expected_version: int) -> None:
        await self.open(PORTAL, expected_version)
        await self.submit(L.toggle(self.page))

    async def disconnect(self, expected_version: int) -> None:
        await self.open(RETENTION, expected_version)
        await L.button(self.page, "disconnect").click()
        await self.submit(L.dialog_proceed(self.page))


def _flag(value: Scalar) -> bool | None:
    return None if value is None else bool(value)


def click_path(
    clicks: Clicks, desired: Desired, step: Step, expected_version: int
) -> Awaitable[None]:
    """The coroutine that carries out `step` (KeyError for an action with no click path)."""
    args = step.args

    def site_arg() -> str:
        name = args.get("brightback_site") or desired.connection.brightback_site
        if not name:
            raise ApiError(
                f"step {step.action.value} has no Brightback site",
                http_status=0,
                api_error_code="invalid_step",
                site=desired.site,
            )
        return str(name)

    def mode_arg() -> IntegrationMode:
        value = args.get("integrate_via") or (
            desired.integrate_via.value if desired.integrate_via else None
        )
        return IntegrationMode(str(value))

    table: dict[Action, Callable[[], Awaitable[None]]] = {
        Action.SIGN_UP: lambda: clicks.sign_up(site_arg(), expected_version),
        Action.CONNECT: lambda: clicks.connect(site_arg(), expected_version),
        Action.SET_INTEGRATION_MODE: lambda: clicks.set_mode(mode_arg(), expected_version),
        Action.DISABLE_REASON_CODES: lambda: clicks.cancellation_options(
            expected_version, False, None
        ),
        Action.ENABLE_CANCELLATION_VIA_BRIGHTBACK: lambda: clicks.toggle_on(expected_version),
        Action.DISCONNECT: lambda: clicks.disconnect(expected_version),
        Action.RESTORE_CANCEL_EXPERIENCE: lambda: clicks.cancellation_options(
            expected_version,
            _flag(args.get("reason_codes_enabled", desired.fallback.reason_codes)),
            _flag(args.get("portal_cancellation_enabled", desired.fallback.portal_cancellation)),
        ),
    }
    return table[step.action]()


__all__ = ["Clicks", "click_path"]
