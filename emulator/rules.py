"""The product rules of ARCHITECTURE.md as pure functions over one site's state.

Each write takes the state read from the store plus the request's parameters and returns
either an `Outcome` (the new state and what changed) or raises `RuleViolation` naming the
rule and the way forward. Nothing here touches SQLite or HTTP, so the rules can be read in
one place and the store only persists what they decided.
"""

from __future__ import annotations

import dataclasses
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

MODES = ("customer_portal", "retention_api")
BRIGHTBACK_SITE_NAME = re.compile(r"[A-Za-z0-9]([-A-Za-z0-9_.]{0,98}[A-Za-z0-9])?")


@dataclass(frozen=True)
class Account:
    """The Brightback account whose email equals the site's email (rule 1)."""

    email: str
    status: str  # not_found | pending_activation | active
    brightback_sites: Mapping[str, Mapping[str, str]] = field(default_factory=dict)

    def published(self, brightback_site: str | None, mode: str | None) -> bool:
        if brightback_site is None or mode is None:
            return False
        return self.brightback_sites.get(brightback_site, {}).get(mode) == "published"


@dataclass(frozen=True)
class SiteState:
    site: str
    email: str
    plan: str = "live"
    version: int = 1
    connected: bool = False
    brightback_site: str | None = None
    account_email: str | None = None
    api_key_id: str | None = None
    data_sync: bool = False
    access_level: str | None = None
    connected_at: int | None = None
    integrate_via: str | None = None
    toggle: bool = False
    reason_codes_enabled: bool = True
    portal_cancellation_enabled: bool = True
    updated_at: int = 0
    api_keys_generated: int = 0


class RuleViolation(Exception):
    """A refused write: Chargebee's error envelope fields, and nothing was changed."""

    def __init__(
        self,
        status: int,
        error_type: str,
        code: str,
        message: str,
        param: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.error_type = error_type
        self.code = code
        self.message = message
        self.param = param

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "message": self.message,
            "type": self.error_type,
            "api_error_code": self.code,
            "error_code": self.code,
            "http_status_code": self.status,
        }
        if self.param is not None:
            body["param"] = self.param
        return body


def refused(code: str, message: str, param: str | None = None) -> RuleViolation:
    """400 operation_failed: a state rule says no. Chargebee answers state problems with
    400 (not 409), `param` naming the field whose value the rule refuses; only the
    contract's own stale-version conflict is a 409 (service.py)."""
    return RuleViolation(400, "operation_failed", code, message, param)


def invalid(code: str, message: str, param: str | None = None) -> RuleViolation:
    """400 invalid_request: the request itself is wrong."""
    return RuleViolation(400, "invalid_request", code, message, param)


def missing(param: str) -> RuleViolation:
    return invalid("param_missing", f"{param} : cannot be blank", param)


@dataclass(frozen=True)
class Change:
    field: str
    before: Any
    after: Any

    def to_dict(self) -> dict[str, Any]:
        return {"field": self.field, "from": self.before, "to": self.after}


@dataclass(frozen=True)
class Outcome:
    state: SiteState
    event_type: str
    changes: tuple[Change, ...]
    new_account: Account | None = None  # sign-up creates one


def traffic_status(state: SiteState, account: Account) -> str:
    """Rule 8: enabled is not live until the chosen mode's experience is published."""
    if not state.toggle:
        return "off"
    if account.published(state.brightback_site, state.integrate_via):
        return "on"
    return "waiting_for_publish"


def parse_bool(params: Mapping[str, str], name: str) -> bool | None:
    value = params.get(name)
    if value is None:
        return None
    if value.lower() == "true":
        return True
    if value.lower() == "false":
        return False
    raise invalid("invalid_boolean", f"{name} : must be true or false", name)


def _diff(before: SiteState, after: SiteState) -> tuple[Change, ...]:
    names = {
        "connected": "connection.status",
        "brightback_site": "connection.brightback_site",
        "account_email": "connection.account_email",
        "api_key_id": "connection.api_key_id",
        "data_sync": "connection.data_sync",
        "access_level": "connection.access_level",
        "integrate_via": "integrate_via",
        "toggle": "cancellation_via_brightback.enabled",
        "reason_codes_enabled": "cancellation_settings.reason_codes_enabled",
        "portal_cancellation_enabled": "cancellation_settings.portal_cancellation_enabled",
    }
    changes = []
    for attr, label in names.items():
        old, new = getattr(before, attr), getattr(after, attr)
        if old != new:
            if attr == "connected":
                old = "connected" if old else "disconnected"
                new = "connected" if new else "disconnected"
            changes.append(Change(label, old, new))
    return tuple(changes)


def _bump(before: SiteState, now: int, **changes: Any) -> SiteState:
    return dataclasses.replace(before, version=before.version + 1, updated_at=now, **changes)


def sign_up(state: SiteState, account: Account, params: Mapping[str, str], now: int) -> Outcome:
    """Rule 1: the account is the one of the site's email; a new one awaits activation."""
    brightback_site = params.get("brightback_site")
    if not brightback_site:
        raise missing("brightback_site")
    if not BRIGHTBACK_SITE_NAME.fullmatch(brightback_site):
        raise invalid(
            "invalid_param",
            "brightback_site : 1-100 letters, digits, '-', '_' or '.', starting and ending "
            "with a letter or digit",
            "brightback_site",
        )
    email = params.get("email")
    if email is not None and email.lower() != state.email.lower():
        raise invalid(
            "email_not_editable",
            f"Rule 1: the Brightback account is identified by the site's email {state.email} "
            "and cannot be edited; sign up without email or change the site's email in "
            "Chargebee",
            "email",
        )
    if account.status != "not_found":
        raise refused(
            "account_already_exists",
            f"Rule 1: a Brightback account for {state.email} already exists "
            f"({account.status}); connect to one of its Brightback sites instead of signing up",
            "brightback_site",
        )
    created = Account(
        email=state.email,
        status="pending_activation",
        brightback_sites={brightback_site: {m: "draft" for m in MODES}},
    )
    change = Change("account.status", "not_found", "pending_activation")
    return Outcome(_bump(state, now), "brightback_account_signed_up", (change,), created)


def connect(state: SiteState, account: Account, params: Mapping[str, str], now: int) -> Outcome:
    """Rules 1-4: an active account, one of its Brightback sites, read-write access."""
    brightback_site = params.get("brightback_site")
    if not brightback_site:
        raise missing("brightback_site")
    access_level = params.get("access_level")
    if not access_level:
        raise missing("access_level")
    if access_level != "read_write":
        raise invalid(
            "read_write_access_required",
            f"Rule 4: read-write access between Chargebee and Brightback is required "
            f"(got {access_level!r}); send access_level=read_write",
            "access_level",
        )
    if state.connected:
        raise refused(
            "already_connected",
            f"The site is already connected to Brightback site {state.brightback_site}; "
            "disconnect first to connect elsewhere (rule 10)",
            "brightback_site",
        )
    if account.status == "not_found":
        raise refused(
            "account_not_found",
            f"Rule 1: no Brightback account exists for {state.email}; sign up first",
            "brightback_site",
        )
    if account.status == "pending_activation":
        raise refused(
            "account_not_activated",
            f"Rule 1: the Brightback account {state.email} is waiting for email activation; "
            "activate it from the email Brightback sent, then connect",
            "brightback_site",
        )
    if brightback_site not in account.brightback_sites:
        have = ", ".join(sorted(account.brightback_sites)) or "none"
        raise refused(
            "brightback_site_not_found",
            f"Rule 3: Brightback site {brightback_site} is not in the account {state.email} "
            f"(it has: {have}); pick one of those",
            "brightback_site",
        )
    generated = state.api_keys_generated + 1
    after = _bump(
        state,
        now,
        connected=True,
        brightback_site=brightback_site,
        account_email=state.email,
        api_key_id=f"bbkey_{secrets.token_hex(10)}",
        data_sync=True,
        access_level="read_write",
        connected_at=now,
        api_keys_generated=generated,
    )
    return Outcome(after, "brightback_connected", _diff(state, after))


def update(state: SiteState, account: Account, params: Mapping[str, str], now: int) -> Outcome:
    """Rules 5-9: mode, then the toggle, which hides the portal's own cancel options."""
    mode = params.get("integrate_via")
    if mode is not None and mode not in MODES:
        raise invalid(
            "invalid_integration_mode",
            f"integrate_via : must be one of {', '.join(MODES)} (rule 5)",
            "integrate_via",
        )
    toggle = parse_bool(params, "cancellation_via_brightback")
    if not state.connected:
        raise refused(
            "not_connected",
            "The site is not connected to Brightback; connect first (rules 1-4)",
            "integrate_via" if mode is not None else "cancellation_via_brightback",
        )
    if toggle is False and state.toggle:
        raise refused(
            "cancellation_via_brightback_cannot_be_disabled",
            "Rule 9: Cancellation via Brightback cannot be turned off; disconnect the "
            "integration instead, then restore portal cancellation and reason codes",
            "cancellation_via_brightback",
        )
    new_mode = mode if mode is not None else state.integrate_via
    changes: dict[str, Any] = {"integrate_via": new_mode}
    event = "brightback_integration_updated"
    if toggle and not state.toggle:
        if new_mode is None:
            raise refused(
                "integration_mode_required",
                "Rule 5: choose how to integrate Brightback (integrate_via=customer_portal or "
                "retention_api) before turning on Cancellation via Brightback",
                "integrate_via",
            )
        if state.reason_codes_enabled:
            raise refused(
                "reason_codes_must_be_disabled",
                "Rule 6: disable reason codes for subscription cancellations "
                "(cancellation_settings/update reason_codes_enabled=false) before turning on "
                "Cancellation via Brightback",
                "cancellation_via_brightback",
            )
        changes.update(toggle=True, portal_cancellation_enabled=False)
        event = "cancellation_via_brightback_enabled"
    after = _bump(state, now, **changes)
    return Outcome(after, event, _diff(state, after))


def disconnect(state: SiteState, account: Account, params: Mapping[str, str], now: int) -> Outcome:
    """Rule 10: sync stops at once; the cancel settings stay as they are (rule 9's trap)."""
    confirm = params.get("confirm")
    if confirm is None:
        raise missing("confirm")
    if confirm.lower() != "true":
        raise invalid(
            "confirmation_required",
            "Rule 10: disconnecting stops customer-data sync immediately; send confirm=true",
            "confirm",
        )
    if not state.connected:
        raise refused(
            "not_connected", "The site is not connected to Brightback; nothing to do", "confirm"
        )
    after = _bump(
        state,
        now,
        connected=False,
        brightback_site=None,
        account_email=None,
        api_key_id=None,
        data_sync=False,
        access_level=None,
        connected_at=None,
        integrate_via=None,
        toggle=False,
    )
    return Outcome(after, "brightback_disconnected", _diff(state, after))


def cancellation_settings(
    state: SiteState, account: Account, params: Mapping[str, str], now: int
) -> Outcome:
    """Rule 7: while the toggle is on these options are hidden and cannot change."""
    reason_codes = parse_bool(params, "reason_codes_enabled")
    portal = parse_bool(params, "portal_cancellation_enabled")
    if state.toggle:
        wants = [
            (name, value, current)
            for name, value, current in (
                ("reason_codes_enabled", reason_codes, state.reason_codes_enabled),
                ("portal_cancellation_enabled", portal, state.portal_cancellation_enabled),
            )
            if value is not None and value != current
        ]
        if wants:
            raise refused(
                "cancellation_settings_hidden",
                f"Rule 7: {wants[0][0]} is hidden while Cancellation via Brightback is on; "
                "disconnect the integration to change the site's own cancel options",
                wants[0][0],
            )
    changes: dict[str, Any] = {}
    if reason_codes is not None:
        changes["reason_codes_enabled"] = reason_codes
    if portal is not None:
        changes["portal_cancellation_enabled"] = portal
    after = _bump(state, now, **changes)
    return Outcome(after, "cancellation_settings_updated", _diff(state, after))


SUBSCRIPTION_ID = "subscription[id]"  # Chargebee's form name on hosted_pages/pre_cancel


def pre_cancel_check(state: SiteState, account: Account, params: Mapping[str, str]) -> str:
    """Rule 11: only a live Retention API integration gets a pre-cancel page; returns the
    subscription id. Refusals name `subscription[id]`: that subscription's site cannot
    give a Brightback page now."""
    subscription_id = params.get(SUBSCRIPTION_ID)
    if not subscription_id:
        raise missing(SUBSCRIPTION_ID)
    if not state.connected:
        raise refused(
            "not_connected",
            "The site is not connected to Brightback; connect first",
            SUBSCRIPTION_ID,
        )
    if state.integrate_via != "retention_api":
        raise refused(
            "wrong_integration_mode",
            f"Rule 11: pre-cancel pages need integrate_via=retention_api (the site "
            f"integrates via {state.integrate_via or 'nothing yet'}); change the mode",
            SUBSCRIPTION_ID,
        )
    if not state.toggle:
        raise refused(
            "cancellation_via_brightback_disabled",
            "Rule 11: turn on Cancellation via Brightback before requesting pre-cancel pages",
            SUBSCRIPTION_ID,
        )
    if not account.published(state.brightback_site, state.integrate_via):
        raise refused(
            "experience_not_published",
            f"Rule 8: the retention_api experience of Brightback site {state.brightback_site} "
            "is not published; publish it in Brightback",
            SUBSCRIPTION_ID,
        )
    return subscription_id


WRITES = {
    "sign_up": sign_up,
    "connect": connect,
    "update": update,
    "disconnect": disconnect,
    "cancellation_settings": cancellation_settings,
}


__all__ = [
    "BRIGHTBACK_SITE_NAME",
    "MODES",
    "SUBSCRIPTION_ID",
    "WRITES",
    "Account",
    "Change",
    "Outcome",
    "RuleViolation",
    "SiteState",
    "cancellation_settings",
    "connect",
    "disconnect",
    "invalid",
    "missing",
    "parse_bool",
    "pre_cancel_check",
    "refused",
    "sign_up",
    "traffic_status",
    "update",
]
