"""The emulator's operations, each one transaction: the rules of `rules.py` applied to the
stored state, with idempotency, optimistic versions and events around them.

Shared by the Chargebee routes (`api.py`, source `api`) and the admin console
(`admin.py`, source `admin_console`), so a click in the console obeys the same rules as the
API and leaves the same trail of events.
"""

from __future__ import annotations

import dataclasses
import hashlib
import secrets
import sqlite3
from collections.abc import Mapping
from typing import Any

from emulator.rules import (
    WRITES,
    Account,
    RuleViolation,
    SiteState,
    invalid,
    pre_cancel_check,
    refused,
    traffic_status,
)
from emulator.store import Conflict, Store, dumps, now

Answer = tuple[int, bytes, bool]  # status, body, replayed
PAGE_BASE = "https://retention.brightback.example"  # where pre-cancel pages lead by default
PAGE_LIFETIME_S = 3600  # a pre-cancel hosted page expires an hour after it is made


def integration(state: SiteState, account: Account) -> dict[str, Any]:
    """The contract's `brightback_integration` resource for one site."""
    connected = state.connected
    return {
        "site": state.site,
        "site_email": state.email,
        "version": state.version,
        "account": {
            "email": state.email,
            "status": account.status,
            "brightback_sites": [
                {"name": name, "experiences": dict(experiences)}
                for name, experiences in sorted(account.brightback_sites.items())
            ],
        },
        "connection": {
            "status": "connected" if connected else "disconnected",
            "brightback_site": state.brightback_site if connected else None,
            "account_email": state.account_email if connected else None,
            "api_key_id": state.api_key_id if connected else None,
            "data_sync": state.data_sync,
            "access_level": state.access_level if connected else None,
            "connected_at": state.connected_at if connected else None,
        },
        "integrate_via": state.integrate_via,
        "cancellation_via_brightback": {
            "enabled": state.toggle,
            "traffic_status": traffic_status(state, account),
        },
        "cancellation_settings": {
            "reason_codes_enabled": state.reason_codes_enabled,
            "portal_cancellation_enabled": state.portal_cancellation_enabled,
        },
        "updated_at": state.updated_at,
    }


def body_hash(params: Mapping[str, str]) -> str:
    """Same key + same route + same parameters (in any order) is a replay."""
    canonical = "&".join(f"{k}={v}" for k, v in sorted(params.items()))
    return hashlib.sha256(canonical.encode()).hexdigest()


def error(violation: RuleViolation) -> tuple[int, bytes]:
    return violation.status, dumps(violation.body())


def write(
    store: Store,
    site: str,
    action: str,
    params: Mapping[str, str],
    *,
    source: str = "api",
    idempotency_key: str | None = None,
    user: str | None = None,
    page_base: str = PAGE_BASE,
) -> Answer:
    """Run one POST. A replayed key answers the stored bytes and changes nothing, for
    `idempotency_window_s` (settings.py); after that the key is new again."""
    route = action
    digest = body_hash(params)
    window = float(store.settings()["idempotency_window_s"])
    with store.transaction() as conn:
        if idempotency_key:
            prior = store.idempotent_answer(conn, site, idempotency_key, window_s=window)
            if prior is not None:
                if (prior[0], prior[1]) != (route, digest):
                    reused = RuleViolation(
                        400,
                        "invalid_request",
                        "idempotency_key_reused",
                        "The chargebee-idempotency-key was already used for a different "
                        "request (route or parameters differ); use a new key for a new request",
                    )
                    return (*error(reused), False)
                return prior[2], prior[3], True
        status, body = _decide(store, conn, site, action, params, source, user, page_base)
        if idempotency_key and status < 500:
            store.remember_answer(conn, site, idempotency_key, route, digest, status, body)
        return status, body, False


def _decide(
    store: Store,
    conn: sqlite3.Connection,
    site: str,
    action: str,
    params: Mapping[str, str],
    source: str,
    user: str | None,
    page_base: str,
) -> tuple[int, bytes]:
    state = store.load_site(conn, site)
    if state is None:
        return 404, dumps(not_found(f"site {site}").body())
    account = store.account(conn, state.email)
    try:
        _check_version(state, params.get("expected_version"))
        if action == "pre_cancel":
            page = _pre_cancel_page(store, conn, state, account, params, page_base)
            return 200, dumps({"hosted_page": page})
        outcome = WRITES[action](state, account, params, now())
        if action == "sign_up":  # a connect to another's site fails its own rule first
            _check_not_taken(store, conn, state, params.get("brightback_site"))
    except RuleViolation as violation:
        if violation.code == "brightback_site_not_found":  # say why, when another owns it
            try:
                _check_not_taken(store, conn, state, params.get("brightback_site"))
            except RuleViolation as taken:
                return error(taken)
        return error(violation)
    if outcome.new_account is not None:
        store.save_account(conn, outcome.new_account)  # its name was checked: no Conflict
        account = store.account(conn, state.email)
    store.save_site(conn, outcome.state)
    resource = integration(outcome.state, account)
    store.add_event(conn, site, source, outcome.event_type, resource, now(), user)
    if outcome.new_account is not None:  # other sites of the same email see the account too
        touch_sites_of(store, conn, state.email, outcome.event_type, source, skip=site, user=user)
    return 200, dumps({"brightback_integration": resource})


def _check_not_taken(
    store: Store, conn: sqlite3.Connection, state: SiteState, name: str | None
) -> None:
    """Rule 3: a Brightback site name belongs to exactly one account. Signing up with, or
    connecting to, a name another account owns is refused before anything is written: no
    account is created, the version does not move, no event is recorded."""
    if not name:
        return
    owner = store.brightback_site_owner(conn, name)
    if owner is None or owner == state.email.lower():
        return
    raise refused(
        "brightback_site_taken",
        f"Rule 3: Brightback site {name} belongs to another Brightback account, not to the "
        f"account of {state.email}; pick a name of your own (sign up) or one of your "
        "account's sites (connect)",
        "brightback_site",
    )


def _check_version(state: SiteState, expected: str | None) -> None:
    if expected is None:
        return
    try:
        wanted = int(expected)
    except ValueError:
        raise invalid(
            "invalid_param", "expected_version : must be an integer", "expected_version"
        ) from None
    if wanted != state.version:
        raise RuleViolation(
            409,
            "operation_failed",
            "stale_version",
            f"The site changed since it was read (expected version {wanted}, it is now "
            f"{state.version}); read it again and re-plan",
        )


def _pre_cancel_page(
    store: Store,
    conn: sqlite3.Connection,
    state: SiteState,
    account: Account,
    params: Mapping[str, str],
    page_base: str,
) -> dict[str, Any]:
    """Rule 11: Chargebee's `hosted_page` of type pre_cancel, for a live Retention API
    integration only. Its url leads to the Brightback page of the site's published
    retention_api experience (served by this emulator under /retention/)."""
    subscription_id = pre_cancel_check(state, account, params)
    page_id = f"hp_{secrets.token_hex(10)}"
    created = now()
    url = f"{page_base}/retention/{state.brightback_site}/retention_api/{page_id}"
    page: dict[str, Any] = {
        "id": page_id,
        "type": "pre_cancel",
        "url": url,
        "state": "created",
        "embed": False,
        "created_at": created,
        "expires_at": created + PAGE_LIFETIME_S,
        "updated_at": created,
        "resource_version": created * 1000,
        "object": "hosted_page",
    }
    if params.get("pass_thru_content"):
        page["pass_thru_content"] = params["pass_thru_content"]
    store.add_session(conn, {
        "id": page_id, "site": state.site, "subscription_id": subscription_id,
        "brightback_site": state.brightback_site, "url": url, "created_at": created,
    })  # fmt: skip
    return page


def not_found(what: str) -> RuleViolation:
    return RuleViolation(404, "invalid_request", "resource_not_found", f"{what} not found")


def touch_sites_of(
    store: Store,
    conn: sqlite3.Connection,
    email: str,
    event_type: str,
    source: str,
    skip: str | None = None,
    user: str | None = None,
) -> None:
    """An account change is a change of every site's view of it: new version, an event."""
    account = store.account(conn, email)
    at = now()
    for state in store.sites_of(conn, email):
        if state.site == skip:
            continue
        bumped = dataclasses.replace(state, version=state.version + 1, updated_at=at)
        store.save_site(conn, bumped)
        resource = integration(bumped, account)
        store.add_event(conn, state.site, source, event_type, resource, at, user)


def read(store: Store, site: str) -> tuple[int, bytes]:
    with store.reading() as conn:
        state = store.load_site(conn, site)
        if state is None:
            return error(not_found(f"site {site}"))
        resource = integration(state, store.account(conn, state.email))
    return 200, dumps({"brightback_integration": resource})


def site_state(store: Store, site: str) -> dict[str, Any] | None:
    """What the admin console sees: the resource plus the counters tests assert on."""
    with store.reading() as conn:
        state = store.load_site(conn, site)
        if state is None:
            return None
        resource = integration(state, store.account(conn, state.email))
    return {
        "brightback_integration": resource,
        "version": state.version,
        "api_keys_generated": state.api_keys_generated,
        "plan": state.plan,
    }


def create_account(
    store: Store, email: str, status: str = "active", brightback_sites: tuple[str, ...] = ()
) -> None:
    if status not in ("active", "pending_activation"):
        raise Conflict(f"status must be active or pending_activation, not {status}")
    with store.transaction() as conn:
        if store.account(conn, email).status != "not_found":
            raise Conflict(f"account {email} already exists")
        store.save_account(conn, Account(email=email, status=status))
        for name in brightback_sites:
            store.add_brightback_site(conn, email, name)
        touch_sites_of(store, conn, email, "brightback_account_signed_up", "admin_console")


def activate(store: Store, email: str) -> None:
    with store.transaction() as conn:
        account = store.account(conn, email)
        if account.status == "not_found":
            raise Conflict(f"no account {email}")
        if account.status == "active":
            return
        store.save_account(conn, dataclasses.replace(account, status="active"))
        touch_sites_of(store, conn, email, "brightback_account_activated", "admin_console")


def add_brightback_site(store: Store, email: str, name: str) -> None:
    with store.transaction() as conn:
        if store.account(conn, email).status == "not_found":
            raise Conflict(f"no account {email}")
        store.add_brightback_site(conn, email, name)
        touch_sites_of(store, conn, email, "brightback_integration_updated", "admin_console")


def set_experience(store: Store, name: str, mode: str, published: bool) -> None:
    value = "published" if published else "draft"
    with store.transaction() as conn:
        row = conn.execute(f"SELECT {mode} FROM bb_sites WHERE name=?", (name,)).fetchone()  # noqa: S608
        if row is None:
            raise Conflict(f"no Brightback site {name}")
        if row[0] == value:
            return
        email = store.set_experience(conn, name, mode, value)
        event = "brightback_experience_" + ("published" if published else "unpublished")
        touch_sites_of(store, conn, email, event, "admin_console")


__all__ = [
    "PAGE_BASE",
    "PAGE_LIFETIME_S",
    "Answer",
    "activate",
    "add_brightback_site",
    "body_hash",
    "create_account",
    "error",
    "integration",
    "not_found",
    "read",
    "set_experience",
    "site_state",
    "touch_sites_of",
    "write",
]
