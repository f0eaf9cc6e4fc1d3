"""Reaching the settings pages and reading what they show into a `Live` value.

The first visit to a page follows the help page's path (Settings > Configure Chargebee >
Brightback Retention, or > Checkout & Self-Serve Portal); the address it lands on is
remembered for the rest of the run, so later visits are one page load. Every visit checks
that the session still works: a sign-in page means the saved session expired, and the site
fails with the command that fixes it instead of clicking on the wrong page.

A read opens both pages and checks that they show the same settings revision; if the site
changed between the two, it reads again, so a `Live` is never stitched from two states.
"""

from __future__ import annotations

from dataclasses import dataclass

from playwright.async_api import Locator, Page, expect

from reconciler.console import locators as L
from reconciler.errors import ApiError, CredentialError
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

RETENTION = "retention_page"
PORTAL = "portal_page"
READ_ATTEMPTS = 3


def expired(site: str) -> CredentialError:
    return CredentialError(
        f"{site}: session expired: run brightback login --site {site} "
        "(the saved console sign-in no longer works)"
    )


class Navigator:
    """Opens a settings page by the help page's click path, once; then by its address.

    The address a click path led to is the same for every site under one console URL
    template, so after the first site a page is tried at that address first; a site
    whose console does not show the page there gets the click path.
    """

    def __init__(self) -> None:
        self._learned: dict[tuple[str, str], str] = {}  # (base, page key) -> URL
        self._paths: dict[str, str] = {}  # page key -> its path below any site's base

    async def open(self, page: Page, base: str, site: str, key: str) -> None:
        known = self._learned.get((base, key))
        if known is not None:
            await page.goto(known)
            await self._signed_in(page, site)
            await expect(L.heading(page, key)).to_be_visible()
            return
        path = self._paths.get(key)
        if path is not None:
            await page.goto(base + path)
            await self._signed_in(page, site)
            if await L.heading(page, key).count():
                self._learned[(base, key)] = base + path
                return
        await page.goto(base + "/")
        await self._signed_in(page, site)
        await self._follow(page, L.link(page, "settings"))
        await expect(L.heading(page, "settings")).to_be_visible()
        await self._follow(page, L.link(page, "configure"))
        await expect(L.heading(page, "configure")).to_be_visible()
        essentials = page.get_by_role("region", name=L.WORDS["essentials"], exact=True)
        await self._follow(page, essentials.get_by_role("link", name=L.WORDS[key], exact=True))
        await expect(L.heading(page, key)).to_be_visible()
        url = page.url.split("?", 1)[0]
        self._learned[(base, key)] = url
        if url.startswith(base + "/"):
            self._paths[key] = url[len(base) :]

    @staticmethod
    async def _follow(page: Page, link: Locator) -> None:
        """Click a link and wait for the page it opens (not for a poll to notice it)."""
        async with page.expect_navigation():
            await link.click()

    def showing(self, page: Page, base: str) -> str | None:
        """Which settings page the tab shows now (by its learned address), if any."""
        url = page.url.split("?", 1)[0]
        for (learned_base, key), learned in self._learned.items():
            if learned_base == base and learned == url:
                return key
        return None

    @staticmethod
    async def _signed_in(page: Page, site: str) -> None:
        """A page without the signed-in navigation is the sign-in page (or SSO's)."""
        if not await L.signed_in(page).count():
            raise expired(site)


async def revision(page: Page, site: str) -> int:
    return _revision((await L.fact(page, "revision").inner_text()).strip(), site)


def _revision(text: str, site: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise ApiError(
            f"{site}: the console shows settings revision {text!r}, not a number",
            http_status=0,
            api_error_code="console_unreadable",
            site=site,
        ) from None


def _unknown(what: str, text: str, site: str) -> ApiError:
    return ApiError(
        f"{site}: the console shows {what} {text!r}, which this tool does not know; "
        "adapt reconciler/console/locators.py",
        http_status=0,
        api_error_code="console_unreadable",
        site=site,
    )


async def _facts(page: Page, site: str) -> dict[str, str]:
    """Every "name: value" row of the page in one round trip (a row's cells are tab-separated
    in its rendered text); names are the row headers a person reads."""
    found = {}
    for row in await L.rows(page).all_inner_texts():
        cells = [c.strip() for c in row.split("\t")]
        if len(cells) == 2:
            found[cells[0]] = cells[1]
    return found


def _fact(facts: dict[str, str], key: str, site: str) -> str:
    try:
        return facts[L.WORDS[key]]
    except KeyError:
        raise _unknown("no value for", L.WORDS[key], site) from None


async def _brightback_sites(page: Page, site: str) -> tuple[LiveBrightbackSite, ...]:
    rows = [
        [c.strip() for c in row.split("\t")]
        for row in await L.brightback_sites_table(page).get_by_role("row").all_inner_texts()
    ]
    if not rows:
        return ()
    headers, *body = rows
    try:
        columns = {
            mode: headers.index(L.EXPERIENCE_COLUMN.format(mode=label))
            for mode, label in L.MODE_OPTIONS.items()
        }
    except ValueError:
        raise _unknown("Brightback sites columns", " | ".join(headers), site) from None
    return tuple(
        LiveBrightbackSite(
            name=cells[0],
            published=frozenset(
                mode for mode, column in columns.items() if cells[column] == L.PUBLISHED_TEXT
            ),
        )
        for cells in body
    )


@dataclass(frozen=True)
class _Retention:
    revision: int
    email: str
    status: AccountStatus
    connected: bool
    brightback_site: str | None
    api_key_id: str | None
    data_sync: bool
    mode: IntegrationMode | None
    sites: tuple[LiveBrightbackSite, ...]


@dataclass(frozen=True)
class _Portal:
    revision: int
    toggle_shown: bool
    enabled: bool
    traffic: TrafficStatus
    reason_codes: bool
    portal: bool


async def _read_retention(page: Page, site: str) -> _Retention:
    facts = await _facts(page, site)
    account = _fact(facts, "account", site)
    if account not in L.ACCOUNT_TEXT:
        raise _unknown("Brightback account", account, site)
    connected = _fact(facts, "connection", site) == L.CONNECTED_TEXT
    mode: IntegrationMode | None = None
    if connected:
        chosen = await L.integrate_via(page).evaluate(
            "select => select.selectedOptions.length ? select.selectedOptions[0].text : ''"
        )
        labels = {label: m for m, label in L.MODE_OPTIONS.items()}
        mode = labels.get(str(chosen).strip())
    return _Retention(
        revision=_revision(_fact(facts, "revision", site), site),
        email=_fact(facts, "site_email", site),
        status=L.ACCOUNT_TEXT[account],
        connected=connected,
        brightback_site=_fact(facts, "connected_site", site) if connected else None,
        api_key_id=_fact(facts, "api_key", site) if connected else None,
        data_sync=_fact(facts, "data_sync", site) == L.ON_TEXT,
        mode=mode,
        sites=await _brightback_sites(page, site),
    )


async def _read_portal(page: Page, site: str) -> _Portal:
    facts = await _facts(page, site)
    states = await L.toggle(page).evaluate_all(
        "switches => switches.map(s => s.getAttribute('aria-checked'))"
    )
    enabled = states == ["true"]
    shown = bool(states)
    if enabled:
        traffic_text = _fact(facts, "traffic", site)
        if traffic_text not in L.TRAFFIC_TEXT:
            raise _unknown("traffic status", traffic_text, site)
        # Rule 7: the site's own options are hidden while the toggle is on; turning it on
        # needed reason codes off and switched portal cancellation off.
        return _Portal(
            _revision(_fact(facts, "revision", site), site),
            shown,
            True,
            L.TRAFFIC_TEXT[traffic_text],
            reason_codes=False,
            portal=False,
        )
    return _Portal(
        _revision(_fact(facts, "revision", site), site),
        shown,
        False,
        TrafficStatus.OFF,
        reason_codes=await L.checkbox(page, "reason_codes").is_checked(),
        portal=await L.checkbox(page, "portal_cancellation").is_checked(),
    )


async def read_live(
    page: Page, nav: Navigator, base: str, site: str, *, answer_shown: bool = False
) -> Live:
    """Both settings pages, as one consistent `Live`. With `answer_shown` (the tab shows
    the console's answer to the step just submitted, loaded by this operation) that page
    is read as it is, without loading it again; otherwise every page is loaded afresh (a
    kept tab may still show what an earlier operation loaded)."""
    here = nav.showing(page, base) if answer_shown else None
    for _ in range(READ_ATTEMPTS):
        order = [PORTAL, RETENTION] if here == PORTAL else [RETENTION, PORTAL]
        retention: _Retention | None = None
        portal: _Portal | None = None
        for key in order:
            if key != here:
                await nav.open(page, base, site, key)
            if key == RETENTION:
                retention = await _read_retention(page, site)
            else:
                portal = await _read_portal(page, site)
        here = None
        assert retention is not None and portal is not None
        if retention.revision != portal.revision:
            continue  # changed between the two pages: read both again
        if retention.connected and not portal.toggle_shown:
            # A connected site always shows the switch; not finding it means the console
            # changed, and reading "off" from its absence would plan a wrong step.
            raise ApiError(
                f"{site}: no switch named {L.WORDS['toggle']!r} on the "
                f"{L.WORDS['portal_page']} page of a connected site; the console may have "
                "changed: adapt reconciler/console/locators.py",
                http_status=0,
                api_error_code="console_control_missing",
                site=site,
            )
        return Live(
            site=site,
            site_email=retention.email,
            version=retention.revision,
            account=LiveAccount(
                email=retention.email, status=retention.status, brightback_sites=retention.sites
            ),
            connection=LiveConnection(
                state=(
                    ConnectionState.CONNECTED
                    if retention.connected
                    else ConnectionState.DISCONNECTED
                ),
                brightback_site=retention.brightback_site,
                account_email=retention.email if retention.connected else None,
                api_key_id=retention.api_key_id,
                data_sync=retention.data_sync,
            ),
            integrate_via=retention.mode,
            cancellation_via_brightback=portal.enabled,
            traffic_status=portal.traffic,
            reason_codes_enabled=portal.reason_codes,
            portal_cancellation_enabled=portal.portal,
        )
    raise ApiError(
        f"{site}: the settings kept changing while the console was read ({READ_ATTEMPTS} attempts)",
        http_status=503,  # transient: the engine reads again later
        api_error_code="console_unstable_read",
        site=site,
    )


__all__ = ["PORTAL", "RETENTION", "Navigator", "expired", "read_live", "revision"]
