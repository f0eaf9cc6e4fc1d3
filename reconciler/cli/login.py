"""`brightback login --site S`: sign in to a site's admin console once, for the console backend.

Opens a headed browser at the site's console and waits while the person signs in however
the site requires (SSO, two-factor); once the console shows a signed-in page, the
browser's storage state is saved under `<state-dir>/console/sessions/` with mode 0600, and
headless runs reuse it. With `--email` and `--password-env` the sign-in form is filled
instead (the emulator's console, or a CI account without SSO); the password is read from
that variable and never printed, traced or saved.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
from pathlib import Path
from typing import Any

from reconciler.errors import BrightbackError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--site", required=True, metavar="SITE", help="the Chargebee site")
    parser.add_argument("--console-url", metavar="TEMPLATE", help="console URL template")
    parser.add_argument("--browser-path", metavar="PATH", help="Chromium to drive")
    parser.add_argument(
        "--state-dir",
        type=Path,
        default=Path(".brightback"),
        help="where the session is saved (DIR/console/sessions; default .brightback)",
    )
    parser.add_argument(
        "--wait",
        type=float,
        default=300.0,
        metavar="SECONDS",
        help="how long to wait for the sign-in to finish (default 300)",
    )
    parser.add_argument(
        "--headless",
        action="store_true",
        help="no window (only useful with --email/--password-env)",
    )
    parser.add_argument("--email", help="fill the sign-in form with this email")
    parser.add_argument(
        "--password-env",
        metavar="NAME",
        help="fill the sign-in form with the password in this environment variable",
    )


def run(args: argparse.Namespace) -> int:
    from reconciler.console import BrowserPool, ConsoleConfig
    from reconciler.console.browser import Tab
    from reconciler.console.session import save_session, sign_in

    password = None
    if args.password_env:
        password = os.environ.get(args.password_env)
        if not password:
            raise BrightbackError(f"--password-env: ${args.password_env} is not set")
        if not args.email:
            raise BrightbackError("--password-env needs --email")
    config = ConsoleConfig.from_env(
        args.console_url,
        state_dir=args.state_dir,
        browser_path=args.browser_path,
        headless=args.headless,
        concurrency=1,
    )
    config = dataclasses.replace(
        config, site_timeout=args.wait + 60, action_timeout=min(30.0, args.wait)
    )
    base = config.base_url(args.site)
    pool = BrowserPool(config, lambda: [password] if password else [])
    try:

        async def work(tab: Tab) -> dict[str, Any]:
            return await sign_in(tab, base, wait_s=args.wait, email=args.email, password=password)

        state = pool.run(args.site, "login", work, storage_state=None)
    finally:
        pool.close()
    path = config.session_file(args.site)
    save_session(path, state)
    print(f"signed in to {args.site}'s console; session saved to {path} (mode 0600)")
    return 0


__all__ = ["add_arguments", "run"]
