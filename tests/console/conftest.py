"""One emulator and one headless Chromium for the whole console suite.

The browser (Debian's chromium-headless-shell, else its chromium, driven by Playwright;
Playwright cannot download its own here) is started once per session and shared by every
test's `ConsoleBackend`;
each test gets a clean emulator (reset), its own state directory and saved sessions.
Without Chromium the suite skips on a workstation and fails in CI, where .ci/run installs it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from emulator.embedded import RunningEmulator, start_emulator
from reconciler.apply import SiteResult, apply_site
from reconciler.client import Client, ClientConfig
from reconciler.console import BrowserPool, ConsoleBackend, ConsoleConfig
from reconciler.console.browser import Tab
from reconciler.console.config import system_browser
from reconciler.console.session import save_session, sign_in
from reconciler.model import Desired
from reconciler.spec import load
from tests.console.person import Person
from tests.engine.conftest import seed_site

# What a headless run picks on this system: Debian's chromium-headless-shell first (what
# .ci/run installs beside chromium), else the full chromium.
CHROMIUM = system_browser(headless=True)
PASSWORD = "bb-account-password-7c1d"  # the Brightback account password the flows type
PASSWORD_ENV = "BRIGHTBACK_ACCOUNT_PASSWORD"

pytestmark = pytest.mark.browser


def _need_chromium() -> str:
    if CHROMIUM is None:
        message = (
            "no chromium executable (apt-get install chromium-headless-shell chromium; "
            ".ci/run installs them)"
        )
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return CHROMIUM


@pytest.fixture(scope="session")
def console_emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningEmulator]:
    with start_emulator(tmp_path_factory.mktemp("console-emulator") / "emulator.db") as running:
        yield running


@pytest.fixture(scope="session")
def browser_pool(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrowserPool]:
    config = ConsoleConfig(
        state_dir=tmp_path_factory.mktemp("console-pool"), browser_path=_need_chromium()
    )
    pool = BrowserPool(config, lambda: [PASSWORD])
    yield pool
    pool.close()


@dataclass
class ConsoleWorld:
    """The emulator, the shared browser and everything one test set up in them."""

    emulator: RunningEmulator
    pool: BrowserPool
    state_dir: Path
    root: Path
    keys: dict[str, str] = field(default_factory=dict)
    _backends: list[ConsoleBackend] = field(default_factory=list)
    _clients: list[Client] = field(default_factory=list)

    def add_site(
        self,
        site: str,
        *,
        brightback_sites: Sequence[str] = (),
        account: str | None = "active",
        published: Sequence[tuple[str, str]] = (),
        reason_codes: bool = True,
        portal_cancellation: bool = True,
        email: str | None = None,
    ) -> str:
        key = f"key-{site}-5a1f0c9e77"
        email = email or f"billing@{site}.example"
        seed_site(
            self.emulator.admin,
            site,
            email,
            key,
            brightback_sites=brightback_sites,
            account=account,
            published=published,
            reason_codes=reason_codes,
            portal_cancellation=portal_cancellation,
        )
        self.keys[site] = key
        os.environ[env_name(site)] = key
        return key

    def config(self, **overrides: Any) -> ConsoleConfig:
        values: dict[str, Any] = {
            "url_template": self.emulator.console_url_template,
            "state_dir": self.state_dir,
            "browser_path": CHROMIUM,
            "action_timeout": 10.0,
            "site_timeout": 90.0,
        }
        values.update(overrides)
        return ConsoleConfig(**values)

    def login(self, site: str, config: ConsoleConfig | None = None) -> Path:
        """What `brightback login --site S` does, with the form filled (the emulator's)."""
        config = config or self.config()
        base = config.base_url(site)
        email = self.emulator.admin.site_state(site)["site_email"]

        async def work(tab: Tab) -> dict[str, Any]:
            return await sign_in(tab, base, wait_s=20, email=email, password=self.keys[site])

        state = self.pool.run(site, "login", work, storage_state=None, config=config)
        path = config.session_file(site)
        save_session(path, state)
        return path

    def person(self, site: str) -> Person:
        """Someone who signs in to `site`'s console and clicks (the real-click counterpart
        of the emulator's `admin.ui` route)."""
        email = self.emulator.admin.site_state(site)["site_email"]
        return Person(self.pool, self.config(), site, email, self.keys[site])

    def backend(self, **overrides: Any) -> ConsoleBackend:
        made = ConsoleBackend(self.config(**overrides), pool=self.pool)
        self._backends.append(made)
        return made

    def api(self) -> Client:
        made = Client(ClientConfig(url_template=self.emulator.url_template))
        self._clients.append(made)
        return made

    def state(self, site: str) -> dict[str, Any]:
        return dict(self.emulator.admin.site_state(site))

    def desired(self, text: str) -> list[Desired]:
        path = self.root / "sites.yaml"
        path.write_text(text, encoding="utf-8")
        return load([str(path)])

    def console_writes(self, site: str) -> list[str]:
        return [
            r["path"]
            for r in self.emulator.admin.requests(site)
            if r["method"] == "POST" and "/console/" in r["path"]
        ]

    def api_writes(self, site: str) -> list[str]:
        return [
            r["path"]
            for r in self.emulator.admin.requests(site)
            if r["method"] == "POST" and "/api/v2/" in r["path"]
        ]

    def close(self) -> None:
        for client in self._clients:
            client.close()
        for site in self.keys:
            os.environ.pop(env_name(site), None)


def env_name(site: str) -> str:
    return site.upper().replace("-", "_") + "_CHARGEBEE_API_KEY"


@pytest.fixture
def world(
    console_emulator: RunningEmulator,
    browser_pool: BrowserPool,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[ConsoleWorld]:
    console_emulator.admin.reset()
    monkeypatch.setenv(PASSWORD_ENV, PASSWORD)
    made = ConsoleWorld(console_emulator, browser_pool, tmp_path / "state", tmp_path)
    yield made
    made.close()


def converge(desired: Desired, backend: Any, **options: Any) -> SiteResult:
    return apply_site(desired, backend, **options)
