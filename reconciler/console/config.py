"""Where the console is, where its sessions and evidence go, how long a site may take.

Holds no secret, so it can be logged. The Brightback account password the connect flow
types is read from the environment variable named here at the moment it is typed.
"""

from __future__ import annotations

import os
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from reconciler.client import ClientConfigError, _is_loopback

DEFAULT_CONSOLE_URL = "https://{site}.chargebee.com"
CONSOLE_URL_ENV = "BRIGHTBACK_CONSOLE_URL"
BROWSER_ENV = "BRIGHTBACK_BROWSER"
PASSWORD_ENV = "BRIGHTBACK_ACCOUNT_PASSWORD"  # noqa: S105 - the variable's name, not a value
DEFAULT_CONCURRENCY = 4
SITE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]*")
# Chromium flags for a quiet, reproducible headless run: no GPU, no sandbox (containers,
# root in CI), and nothing that phones home or updates itself while we drive it.
# Chromium keeps only the last --enable-features it is given, and Playwright passes its
# own before ours: ours repeats Playwright's list (PLAYWRIGHT_ENABLED_FEATURES, Playwright
# 1.65's chromiumSwitches; tests/console/test_browser_memory.py compares it with what
# Playwright passes) and adds NetworkServiceInProcess2, which runs the network service
# inside the browser process rather than in a process of its own (about 10 MB less;
# bench/README.md). Each browser context keeps its own network context and cookie jar
# there, as in a separate process; what is lost is only that a crash of the network
# stack takes the browser down with it instead of a restart of the service.
PLAYWRIGHT_ENABLED_FEATURES = ("CDPScreenshotNewSurface", "SkipListAccountsWithoutGaiaCookies")
ENABLED_FEATURES = (*PLAYWRIGHT_ENABLED_FEATURES, "NetworkServiceInProcess2")
BROWSER_ARGS = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--enable-features=" + ",".join(ENABLED_FEATURES),
)
# System browsers, best first, when neither --browser-path nor $BRIGHTBACK_BROWSER names
# one and Playwright's own Chromium is not installed. A headless run prefers Chromium's
# headless shell (Debian's chromium-headless-shell): it has no browser UI, so it renders
# pages faster and does not open Chromium's second, WebUI renderer per browser context
# (bench/README.md measures both). A headed run (`brightback login`) needs a window,
# which only the full browser has.
HEADLESS_SHELLS = ("chromium-headless-shell",)
FULL_BROWSERS = ("chromium", "chromium-browser", "google-chrome")


def is_headless_shell(path: str) -> bool:
    return Path(path).name in HEADLESS_SHELLS


def system_browser(*, headless: bool) -> str | None:
    """The system Chromium to drive: the headless shell first for headless runs, then the
    full browser; None when the system has neither."""
    names = (*HEADLESS_SHELLS, *FULL_BROWSERS) if headless else FULL_BROWSERS
    for name in names:
        found = shutil.which(name)
        if found:
            return found
    return None


@dataclass(frozen=True)
class ConsoleConfig:
    url_template: str = DEFAULT_CONSOLE_URL
    state_dir: Path = Path(".brightback")
    # None: Playwright's own Chromium where installed, else `system_browser(headless=...)`
    browser_path: str | None = None
    concurrency: int = DEFAULT_CONCURRENCY  # browser contexts open at once
    site_timeout: float = 120.0  # seconds for one read or one step of one site
    action_timeout: float = 15.0  # seconds for one control to become actionable
    trace: bool = False  # keep a Playwright trace per site operation
    headless: bool = True
    password_env: str = PASSWORD_ENV
    viewport: tuple[int, int] = field(default=(1280, 900))

    def __post_init__(self) -> None:
        if not self.headless and self.browser_path and is_headless_shell(self.browser_path):
            raise ClientConfigError(
                f"{self.browser_path} is Chromium's headless shell, which cannot open the "
                "window a headed sign-in needs: pass --browser-path with a full Chromium "
                "(e.g. /usr/bin/chromium)"
            )
        if "{site}" not in self.url_template:
            raise ClientConfigError(
                f"console URL template {self.url_template!r} must contain {{site}}, "
                "e.g. https://{site}.chargebee.com"
            )
        parts = urlsplit(self.url_template.replace("{site}", "site"))
        if parts.scheme not in ("https", "http") or not parts.hostname:
            raise ClientConfigError(f"console URL {self.url_template!r} must be http(s)")
        if parts.username or parts.password:
            raise ClientConfigError("the console URL must not carry credentials")
        if parts.scheme == "http" and not _is_loopback(parts.hostname):
            raise ClientConfigError(
                f"refusing plain http:// to {parts.hostname}: the session cookie would travel "
                "in clear (plain http is allowed for loopback emulators only)"
            )

    @classmethod
    def from_env(cls, url_template: str | None = None, **overrides: object) -> ConsoleConfig:
        template = url_template or os.environ.get(CONSOLE_URL_ENV) or DEFAULT_CONSOLE_URL
        if overrides.get("browser_path") is None:
            overrides["browser_path"] = os.environ.get(BROWSER_ENV) or None
        return cls(url_template=template, **overrides)  # type: ignore[arg-type]

    def base_url(self, site: str) -> str:
        if not SITE_NAME.fullmatch(site):
            raise ClientConfigError(f"site name {site!r} is not a valid Chargebee site name")
        return self.url_template.replace("{site}", site).rstrip("/")

    @property
    def sessions_dir(self) -> Path:
        return self.state_dir / "console" / "sessions"

    @property
    def evidence_dir(self) -> Path:
        return self.state_dir / "console" / "evidence"

    @property
    def traces_dir(self) -> Path:
        return self.state_dir / "console" / "traces"

    def session_file(self, site: str) -> Path:
        self.base_url(site)  # validates the name before it becomes a file name
        return self.sessions_dir / f"{site}.json"


__all__ = [
    "BROWSER_ARGS",
    "BROWSER_ENV",
    "CONSOLE_URL_ENV",
    "DEFAULT_CONSOLE_URL",
    "ENABLED_FEATURES",
    "PASSWORD_ENV",
    "ConsoleConfig",
    "is_headless_shell",
    "system_browser",
]
