"""The status page as a person sees it: headless Chromium (Debian's) driven by Playwright.

Asserts rendered, visible text (not HTML source): the site rows and their statuses, the
drift lines, the label filter narrowing the rows through the form and through a label
link. Saves a screenshot to tests/artifacts/ (git-ignored; CI can upload it).
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from reconciler.status_page import StatusServer, serve_status

from ._report_fixture import last_report

pytestmark = pytest.mark.browser

CHROMIUM = next(
    (p for p in ("/usr/bin/chromium", shutil.which("chromium")) if p and Path(p).is_file()),
    None,
)
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(__file__).parents[1] / "artifacts"


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if CHROMIUM is None:
        pytest.skip("no chromium executable (apt-get install chromium; .ci/run does it as root)")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield launched
        launched.close()


@pytest.fixture
def server(tmp_path: Path) -> Iterator[StatusServer]:
    report = last_report()
    report["pass_started_at"] = time.time() - 40  # a pass that just ran, as in real use
    (tmp_path / "last-report.json").write_text(json.dumps(report))
    with serve_status(0, tmp_path) as running:
        yield running


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(10_000)
    yield context.new_page()
    context.close()


def site_rows(page: Page) -> list[str]:
    return [row.split("\t")[0].split("\n")[0] for row in page.locator("tr.site").all_inner_texts()]


def test_person_sees_every_site_with_its_status_and_drift(page: Page, server: StatusServer) -> None:
    page.goto(server.url)
    expect(page).to_have_title("brightback: 6 sites, failing")
    assert site_rows(page) == [
        "acme-prod",
        "acme-eu",
        "globex-prod",
        "initech-staging",
        "umbrella-prod",
        "hooli-prod",
    ]
    statuses = page.locator("tr.site .badge").all_inner_texts()
    assert statuses == [
        "in sync",
        "applied",
        "waiting for publish",
        "drifted",
        "blocked",
        "failing",
    ]
    drift = page.get_by_text("spec.integrateVia: live retention_api, desired customer_portal")
    expect(drift).to_be_visible()
    expect(page.locator("#git")).to_contain_text("3f9c2a71d0be (dirty")
    expect(page.get_by_text("disconnect_not_allowed", exact=False)).to_be_visible()
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "status-page.png"), full_page=True)


def test_person_filters_by_label_with_the_form_and_clears_it(
    page: Page, server: StatusServer
) -> None:
    page.goto(server.url)
    page.get_by_label("Filter by label").fill("brand=acme")
    page.get_by_role("button", name="Filter").click()
    page.wait_for_url("**label=brand%3Dacme")
    assert site_rows(page) == ["acme-prod", "acme-eu"]
    expect(page.locator("#filter-summary")).to_have_text(
        " showing 2 of 6 sites matching brand=acme"
    )
    expect(page.get_by_label("Filter by label")).to_have_value("brand=acme")
    page.get_by_role("link", name="clear").click()
    expect(page.locator("tr.site")).to_have_count(6)


def test_person_clicks_a_label_to_see_sites_sharing_it(page: Page, server: StatusServer) -> None:
    page.goto(server.url)
    page.get_by_role("link", name="env=staging").click()
    expect(page.locator("tr.site")).to_have_count(1)
    assert site_rows(page) == ["initech-staging"]
    expect(page.locator("tr.site .badge")).to_have_text("drifted")


def test_person_sees_a_clear_message_before_the_first_pass(
    page: Page, tmp_path: Path, browser: Browser
) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    with serve_status(0, empty) as running:
        page.goto(running.url)
        expect(page.locator("#no-report")).to_have_text("No reconcile pass has run yet.")
        expect(page.locator("tr.site")).to_have_count(0)
