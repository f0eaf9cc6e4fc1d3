"""The product's rules, decided once: every front end and the planner ask here.

Each function is one rule of docs/rules.md, pure and small, so the planner, the fleet, the
Pulumi provider and `export` cannot drift apart on what the product allows:

- `hands_off`: an observe-only or suspended site is never written (derived rule D2);
- `disconnect_allowed`: the run-wide `--allow-disconnect` and the document's own
  `policy.allowDisconnect` each allow a disconnect; nothing else does (rule 10, D3);
- `disconnect_reasons`: what makes a disconnect the only way from one attachment to
  another (rules 1, 3 and 9);
- `disconnected`: a spec turned into "disconnected, fallback restored" (rule 9, D5);
- `desired_from_live`: the spec that plans nothing against a live site (export, D6);
- `orphan_decision`: what the fleet does with a site removed from the config (D5).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from enum import StrEnum

from reconciler.model import (
    ConnectionState,
    Credentials,
    DeletionPolicy,
    Desired,
    DesiredConnection,
    FallbackCancelExperience,
    Live,
    Management,
)


def hands_off(desired: Desired) -> bool:
    """Observe-only or suspended: drift is reported, nothing is ever planned or written."""
    policy = desired.policy
    return policy.suspended or policy.management is Management.OBSERVE


def disconnect_allowed(desired: Desired, run_wide: bool = False) -> bool:
    """Rule 10: a disconnect needs an explicit allowance, the run's or the document's."""
    return run_wide or desired.policy.allow_disconnect


def without_disconnect_allowance(desired: Desired) -> Desired:
    """The document with its own `allowDisconnect` withdrawn: what the fleet threshold
    plans with when it holds disconnects back (D3), so the safe steps still run."""
    return dataclasses.replace(
        desired, policy=dataclasses.replace(desired.policy, allow_disconnect=False)
    )


@dataclass(frozen=True)
class Attachment:
    """What a site is (or should be) attached to: the facts the disconnect rules read.

    `account_email` is None when unknown or unasserted; the comparison is then skipped.
    """

    connected: bool
    brightback_site: str | None = None
    account_email: str | None = None
    toggle: bool = False

    @classmethod
    def of_live(cls, live: Live) -> Attachment:
        return cls(
            connected=live.connected,
            brightback_site=live.connection.brightback_site,
            account_email=live.connection.account_email,
            toggle=live.cancellation_via_brightback,
        )

    @classmethod
    def of_desired(cls, desired: Desired, site_email: str | None = None) -> Attachment:
        """The attachment a spec asks for; the account is the site's email unless asserted."""
        return cls(
            connected=desired.wants_connected,
            brightback_site=desired.connection.brightback_site,
            account_email=desired.connection.account_email or site_email,
            toggle=desired.cancellation_via_brightback,
        )


class DisconnectReason(StrEnum):
    """Why only a disconnect (and a new connect) gets from one attachment to the other."""

    UNWANTED = "unwanted"  # the spec wants the site disconnected
    OTHER_BRIGHTBACK_SITE = "other_brightback_site"  # rule 3: a connection picks one site
    OTHER_ACCOUNT = "other_account"  # rule 1: the account is the site's email's
    TOGGLE_OFF = "toggle_off"  # rule 9: the toggle cannot be switched off


def disconnect_reasons(have: Attachment, want: Attachment) -> tuple[DisconnectReason, ...]:
    """Every reason `have` cannot become `want` without a disconnect, most basic first.

    Nothing when `have` is not connected: there is nothing to disconnect.
    """
    if not have.connected:
        return ()
    if not want.connected:
        return (DisconnectReason.UNWANTED,)
    found: list[DisconnectReason] = []
    if have.brightback_site != want.brightback_site:
        found.append(DisconnectReason.OTHER_BRIGHTBACK_SITE)
    elif (
        have.account_email is not None
        and want.account_email is not None
        and have.account_email.lower() != want.account_email.lower()
    ):
        found.append(DisconnectReason.OTHER_ACCOUNT)
    if have.toggle and not want.toggle:
        found.append(DisconnectReason.TOGGLE_OFF)
    return tuple(found)


def disconnected(desired: Desired) -> Desired:
    """The spec turned into "disconnected, fallback restored" (rule 9): what deleting a
    resource or disconnecting an orphan converges to."""
    return dataclasses.replace(
        desired,
        connection=DesiredConnection(ConnectionState.DISCONNECTED),
        integrate_via=None,
        cancellation_via_brightback=False,
    )


def desired_from_live(live: Live, name: str, credentials: Credentials) -> Desired:
    """The spec that plans nothing against `live` (what `export` writes).

    While the toggle is on the site's own cancel options are hidden (rule 7) and not
    compared, so the fallback is written as the product's default (everything restored);
    otherwise it is what the site has now, which the engine would enforce.
    """
    if live.connected:
        connection = DesiredConnection(
            ConnectionState.CONNECTED, brightback_site=live.connection.brightback_site
        )
    else:
        connection = DesiredConnection(ConnectionState.DISCONNECTED)
    if live.cancellation_via_brightback:
        fallback = FallbackCancelExperience()
    else:
        fallback = FallbackCancelExperience(
            portal_cancellation=live.portal_cancellation_enabled,
            reason_codes=live.reason_codes_enabled,
        )
    return Desired(
        name=name,
        site=live.site,
        credentials=credentials,
        connection=connection,
        integrate_via=live.integrate_via if live.connected else None,
        cancellation_via_brightback=live.cancellation_via_brightback,
        fallback=fallback,
    )


class OrphanAction(StrEnum):
    """What became of a site that was managed and is gone from the config."""

    KEPT = "kept"  # left as it is, unmanaged (deletionPolicy orphan, or not allowed)
    DISCONNECT = "disconnect"  # to be disconnected this pass (reported as kept until done)
    DISCONNECTED = "disconnected"  # disconnected and the fallback restored
    BLOCKED = "blocked"  # deletionPolicy disconnect without an allowance
    REFUSED = "refused"  # the fleet safety threshold held the disconnect back
    FAILED = "failed"  # the disconnect was tried and failed


def orphan_decision(last: Desired, run_wide_allow: bool) -> tuple[OrphanAction, str]:
    """(action, message) for an orphan before anything is read, from its last spec."""
    if last.policy.deletion_policy is not DeletionPolicy.DISCONNECT:
        return (
            OrphanAction.KEPT,
            "removed from the config; deletionPolicy orphan: left as it is, unmanaged",
        )
    if hands_off(last):
        return (
            OrphanAction.KEPT,
            "deletionPolicy disconnect, but the last spec was observe-only/suspended",
        )
    if not disconnect_allowed(last, run_wide_allow):
        return (
            OrphanAction.BLOCKED,
            "deletionPolicy disconnect needs allowDisconnect in the last spec or "
            "--allow-disconnect; left as it is",
        )
    return (
        OrphanAction.DISCONNECT,
        "deletionPolicy disconnect: disconnecting and restoring the fallback",
    )


__all__ = [
    "Attachment",
    "DisconnectReason",
    "OrphanAction",
    "desired_from_live",
    "disconnect_allowed",
    "disconnect_reasons",
    "disconnected",
    "hands_off",
    "orphan_decision",
    "without_disconnect_allowance",
]
