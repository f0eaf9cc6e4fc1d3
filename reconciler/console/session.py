"""Console sign-in sessions: `brightback login --site S` saves one, headless runs reuse it.

A person signs in once in a headed browser (SSO and two-factor included: the tool only
waits until the signed-in console shows), and the browser's storage state (cookies) is
saved to `<state-dir>/console/sessions/<site>.json` with mode 0600 in a 0700 directory:
it is a credential. Nothing of it is ever printed. Headless runs load it into each fresh
browser context; when it no longer works the site fails with "session expired: run
brightback login --site S".
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from playwright.async_api import expect

from reconciler.console import locators as L
from reconciler.console.browser import Tab
from reconciler.console.config import ConsoleConfig
from reconciler.errors import CredentialError


def saved_session(config: ConsoleConfig, site: str) -> Path:
    """The site's saved session file, or a CredentialError saying how to make one."""
    path = config.session_file(site)
    if not path.is_file():
        raise CredentialError(
            f"{site}: no console session saved: run brightback login --site {site}"
        )
    return path


def save_session(path: Path, state: dict[str, Any]) -> None:
    """Write atomically with mode 0600 (the directory 0700): it holds session cookies."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    path.parent.chmod(0o700)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            json.dump(state, handle)
        temporary.chmod(0o600)
        temporary.replace(path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


async def sign_in(
    tab: Tab,
    base: str,
    *,
    wait_s: float,
    email: str | None = None,
    password: str | None = None,
) -> dict[str, Any]:
    """Open the console and wait until it shows a signed-in page; return the storage state.

    With `email` and `password` (the emulator's console, or CI) the sign-in form is filled;
    otherwise the person at the headed browser signs in however their site requires.
    """
    page = tab.page
    await page.goto(base + "/")
    if email is not None and password is not None and await L.signed_out(page).count():
        await L.textbox(page, "email").fill(email)
        async with tab.untraced():
            await L.password(page).fill(password)
            async with page.expect_navigation():
                await L.button(page, "sign_in").click()
    await expect(L.signed_in(page)).to_be_visible(timeout=wait_s * 1000)
    return dict(await tab.context.storage_state())


__all__ = ["save_session", "saved_session", "sign_in"]
