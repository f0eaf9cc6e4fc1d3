"""A person changing a setting in the emulator's console: real clicks in real Chromium.

The emulator's `/_admin/sites/{site}/ui/{action}` route simulates "someone clicked in the
console" by writing the state directly; tests without a browser keep using it. Where a
browser is at hand, `Person` makes the same change the way a person does: signs in to the
site's console in a fresh browser context of its own (never the backend's saved session),
follows Settings > Configure Chargebee > the settings page, and clicks. The change then
goes through the console's form posts, so the emulator records an `admin_console` event by
the site's user and the request log shows a console page write, as for a real person.

Its locators are written here from the help page's words, not imported from
`reconciler.console`: the drift a test makes must not depend on the code it tests.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from playwright.async_api import Page, expect

from reconciler.console import BrowserPool, ConsoleConfig
from reconciler.console.browser import Tab


class Person:
    """Someone signed in to one site's console, clicking through its pages."""

    def __init__(
        self, pool: BrowserPool, config: ConsoleConfig, site: str, email: str, password: str
    ) -> None:
        self.pool = pool
        self.config = config
        self.site = site
        self.email = email
        self.password = password

    def _clicks(self, label: str, work: Callable[[Page], Awaitable[None]]) -> None:
        base = self.config.base_url(self.site)

        async def session(tab: Tab) -> None:
            page = tab.page
            await page.goto(base + "/")
            await page.get_by_role("textbox", name="Email", exact=True).fill(self.email)
            await page.get_by_label("Password", exact=True).fill(self.password)
            async with page.expect_navigation():
                await page.get_by_role("button", name="Sign in", exact=True).click()
            await work(page)

        # storage_state=None: a context of its own, closed afterwards (never kept).
        self.pool.run(self.site, f"person-{label}", session, storage_state=None, config=self.config)

    @staticmethod
    async def _open(page: Page, settings_page: str) -> None:
        for name in ("Settings", "Configure Chargebee", settings_page):
            async with page.expect_navigation():
                await page.get_by_role("link", name=name, exact=True).click()
        await expect(page.get_by_role("heading", name=settings_page, level=1)).to_be_visible()

    @staticmethod
    async def _save(page: Page, button: str = "Save") -> None:
        async with page.expect_navigation():
            await page.get_by_role("button", name=button, exact=True).click()
        await expect(page.get_by_role("alert")).to_have_count(0)  # the console accepted it

    def choose_integration(self, shown_as: str) -> None:
        """Brightback Retention > "Integrate Brightback via" > `shown_as` > Save."""

        async def work(page: Page) -> None:
            await self._open(page, "Brightback Retention")
            combo = page.get_by_role("combobox", name="Integrate Brightback via", exact=True)
            await combo.select_option(label=shown_as)
            await self._save(page)

        self._clicks("integrate-via", work)

    def set_reason_codes(self, on: bool) -> None:
        """Checkout & Self-Serve Portal > Reason Codes checkbox > Save."""

        async def work(page: Page) -> None:
            await self._open(page, "Checkout & Self-Serve Portal")
            box = page.get_by_role(
                "checkbox", name="Reason Codes for subscription cancellations", exact=True
            )
            await box.set_checked(on)
            await self._save(page)

        self._clicks("reason-codes", work)

    def disconnect(self) -> None:
        """Brightback Retention > Disconnect > Proceed in the confirmation pop-up."""

        async def work(page: Page) -> None:
            await self._open(page, "Brightback Retention")
            await page.get_by_role("button", name="Disconnect", exact=True).click()
            dialog = page.get_by_role("dialog")
            async with page.expect_navigation():
                await dialog.get_by_role("button", name="Proceed", exact=True).click()
            await expect(page.get_by_role("alert")).to_have_count(0)

        self._clicks("disconnect", work)


__all__ = ["Person"]
