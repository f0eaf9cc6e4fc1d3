"""The emulated console as a person meets it: every page passes axe-core, and the product's
promises show on the page (read-only email, a toggle that cannot be switched off and hides
the other cancellation options, Disconnect asks for confirmation)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from importlib import resources
from typing import Any

import pytest
from playwright.async_api import Page, expect

from reconciler.console import locators as L
from reconciler.console.browser import Tab

from .conftest import ConsoleWorld

pytestmark = pytest.mark.browser
AXE = (resources.files("axe_playwright_python") / "axe.min.js").read_text(encoding="utf-8")


async def axe_violations(page: Page) -> list[str]:
    """axe-core (WCAG 2.x A/AA and best practices), injected into the page, run offline."""
    await page.add_script_tag(content=AXE)
    result: dict[str, Any] = await page.evaluate("async () => await axe.run(document)")
    return [
        f"{v['id']}: {v['help']} ({', '.join(n['target'][0] for n in v['nodes'])})"
        for v in result["violations"]
    ]


def run_in_console(
    world: ConsoleWorld, site: str, work: Callable[[Page, str], Awaitable[Any]]
) -> Any:
    config = world.config()

    async def job(tab: Tab) -> Any:
        return await work(tab.page, config.base_url(site))

    return world.pool.run(
        site, "pages", job, storage_state=config.session_file(site), config=config
    )


def test_every_console_page_passes_axe_core(world: ConsoleWorld) -> None:
    world.add_site("a11y", account=None)
    world.login("a11y")
    retention = "/settings/configure_chargebee/brightback_retention"
    portal = "/settings/configure_chargebee/checkout_portal"

    async def walk(page: Page, base: str) -> dict[str, list[str]]:
        found: dict[str, list[str]] = {}

        async def check(name: str) -> None:
            found[name] = await axe_violations(page)

        for path in ("/", "/settings", "/settings/configure_chargebee", retention, portal):
            await page.goto(base + path)
            await check(path)
        await page.goto(base + retention + "/review")
        await check("review")
        await page.goto(base + retention + "/sign_up")
        await check("sign up")
        await L.textbox(page, "brightback_site_name").fill("a11y-bb")
        await L.password(page).fill("x-password")
        async with page.expect_navigation():
            await L.button(page, "sign_up").click()
        await check("check email")
        await page.goto(base + "/mailbox")
        await check("mailbox")
        async with page.expect_navigation():
            await page.get_by_role("link", name="Activate Account", exact=True).click()
        await check("brightback sign in")
        await L.password(page).fill("x-password")
        async with page.expect_navigation():
            await L.button(page, "sign_in").click()
        await check("brightback dashboard")
        async with page.expect_navigation():
            await L.button(page, "connect").click()
        await check("retention, connected")
        await L.button(page, "disconnect").click()
        await expect(page.get_by_role("dialog")).to_be_visible()
        await check("disconnect dialog")
        await page.goto(base + portal)
        await check("portal, connected")
        context = page.context
        await context.clear_cookies()
        await page.goto(base + "/")
        await check("sign in")
        return found

    found = run_in_console(world, "a11y", walk)
    assert {page: problems for page, problems in found.items() if problems} == {}
    assert len(found) == 15


def test_review_and_sign_up_show_the_sites_email_read_only(world: ConsoleWorld) -> None:
    world.add_site("ro", account=None)
    world.login("ro")

    async def look(page: Page, base: str) -> None:
        await page.goto(base + "/settings/configure_chargebee/brightback_retention")
        async with page.expect_navigation():
            await L.link(page, "sign_up_for_brightback").click()
        email = L.textbox(page, "email")
        await expect(email).to_have_value("billing@ro.example")
        await expect(email).not_to_be_editable()
        async with page.expect_navigation():
            await L.button(page, "next").click()
        await expect(L.textbox(page, "email")).not_to_be_editable()
        await expect(L.button(page, "sign_up")).to_be_visible()

    run_in_console(world, "ro", look)


def test_toggle_cannot_be_switched_off_and_hides_the_other_cancellation_options(
    world: ConsoleWorld,
) -> None:
    world.add_site("on", brightback_sites=["on-bb"])
    admin = world.emulator.admin
    admin.ui("on", "connect", brightback_site="on-bb", access_level="read_write")
    admin.ui("on", "cancellation_settings", reason_codes_enabled=False)
    admin.ui("on", "update", integrate_via="customer_portal")
    world.login("on")
    portal = "/settings/configure_chargebee/checkout_portal"

    async def toggle(page: Page, base: str) -> None:
        await page.goto(base + portal)
        await expect(L.checkbox(page, "portal_cancellation")).to_be_visible()
        async with page.expect_navigation():
            await L.toggle(page).click()
        switch = L.toggle(page)
        await expect(switch).to_have_attribute("aria-checked", "true")
        await expect(switch).to_have_attribute("aria-disabled", "true")
        await expect(L.checkbox(page, "portal_cancellation")).to_have_count(0)
        await expect(L.checkbox(page, "reason_codes")).to_have_count(0)
        await expect(L.fact(page, "traffic")).to_have_text(
            "Enabled, waiting for the Brightback experience to be published"
        )
        version = await L.fact(page, "revision").inner_text()
        await switch.click(force=True)  # a person insisting: nothing is sent
        await page.reload()
        await expect(L.fact(page, "revision")).to_have_text(version)

    run_in_console(world, "on", toggle)
    assert world.state("on")["cancellation_via_brightback"]["enabled"] is True


def test_disconnect_asks_for_confirmation_and_cancel_keeps_the_connection(
    world: ConsoleWorld,
) -> None:
    world.add_site("careful", brightback_sites=["careful-bb"])
    world.emulator.admin.ui(
        "careful", "connect", brightback_site="careful-bb", access_level="read_write"
    )
    world.login("careful")

    async def cancel(page: Page, base: str) -> None:
        await page.goto(base + "/settings/configure_chargebee/brightback_retention")
        await L.button(page, "disconnect").click()
        dialog = page.get_by_role("dialog")
        await expect(dialog).to_contain_text("stops the sync of customer data")
        await dialog.get_by_role("button", name="Cancel").click()
        await expect(dialog).to_be_hidden()

    run_in_console(world, "careful", cancel)
    assert world.state("careful")["connection"]["status"] == "connected"
