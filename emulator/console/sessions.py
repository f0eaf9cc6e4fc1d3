"""Sign-ins to the emulated admin console, kept in the emulator's SQLite database.

A person signs in with the site's email and, standing in for their Chargebee password, the
site's API key (the emulator has no user accounts; the key is only compared as a SHA-256
digest, as the API does). The browser then holds a random session cookie; the database
keeps only its digest, so neither the key nor the cookie is ever stored in clear.
Sessions can be expired from /_admin, which is how tests prove a headless run notices an
expired session instead of acting on a sign-in page.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time

from emulator.store import Store, key_digest

COOKIE = "cb_console_session"
LIFETIME_S = 8 * 3600.0


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def check_password(store: Store, site: str, email: str, password: str) -> bool:
    """The site's email (any case) and its API key."""
    stored = store.key_hash(site)
    if stored is None or not password:
        return False
    with store.reading() as conn:
        state = store.load_site(conn, site)
    if state is None or state.email.lower() != email.strip().lower():
        return False
    return hmac.compare_digest(key_digest(password), stored)


def open_session(store: Store, site: str) -> str:
    token = secrets.token_urlsafe(32)
    with store.transaction() as conn:
        conn.execute(
            "INSERT INTO console_sessions VALUES (?, ?, ?, 0)",
            (_digest(token), site, time.time() + LIFETIME_S),
        )
    return token


def session_site(store: Store, token: str | None) -> tuple[str, bool] | None:
    """(site, signed in to Brightback too) for a live session, else None."""
    if not token:
        return None
    with store.reading() as conn:
        row = conn.execute(
            "SELECT site, expires_at, brightback_signed_in FROM console_sessions "
            "WHERE token_hash=?",
            (_digest(token),),
        ).fetchone()
    if row is None or float(row[1]) < time.time():
        return None
    return str(row[0]), bool(row[2])


def mark_brightback_signed_in(store: Store, token: str, signed_in: bool = True) -> None:
    with store.transaction() as conn:
        conn.execute(
            "UPDATE console_sessions SET brightback_signed_in=? WHERE token_hash=?",
            (int(signed_in), _digest(token)),
        )


def close_session(store: Store, token: str) -> None:
    with store.transaction() as conn:
        conn.execute("DELETE FROM console_sessions WHERE token_hash=?", (_digest(token),))


def expire_sessions(store: Store, site: str) -> int:
    """End every console session of `site` (the admin's "session expired" switch)."""
    with store.transaction() as conn:
        cursor = conn.execute("DELETE FROM console_sessions WHERE site=?", (site,))
    return int(cursor.rowcount)


__all__ = [
    "COOKIE",
    "check_password",
    "close_session",
    "expire_sessions",
    "mark_brightback_signed_in",
    "open_session",
    "session_site",
]
