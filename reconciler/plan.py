"""The plan: an ordered, explained list of steps from live state to desired state.

This module holds the plan's value types and `plan()`, the pure centre of the project: no
I/O, no clock, no randomness; the same (desired, live) always gives an equal Plan with the
same fingerprint. The rules it follows are those of docs/rules.md, written out
field by field in docs/planning-rules.md.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from functools import cached_property
from types import MappingProxyType
from typing import Any

from reconciler.actions import Action, Step
from reconciler.fields import (
    BRIGHTBACK_SITE,
    CANCELLATION_VIA_BRIGHTBACK,
    CONNECTION_STATE,
    INTEGRATE_VIA,
    PORTAL_CANCELLATION,
    REASON_CODES,
    Drift,
    Scalar,
    compute_drift,
)
from reconciler.model import (
    AccountStatus,
    ConnectionState,
    Desired,
    IntegrationMode,
    Live,
    TrafficStatus,
)
from reconciler.rules import (
    Attachment,
    DisconnectReason,
    disconnect_allowed,
    disconnect_reasons,
    hands_off,
)


class ConditionType(StrEnum):
    """Kubernetes-style condition kinds for one site."""

    READY = "Ready"  # live matches desired
    WAITING = "Waiting"  # nothing to do but wait for an outside event (publish, activation)
    BLOCKED = "Blocked"  # a step needs an allowance or a human action first
    FAILED = "Failed"  # the apply or the read failed
    DRIFTED = "Drifted"  # observe-only or suspended: drift reported, nothing planned


@dataclass(frozen=True, slots=True)
class Condition:
    type: ConditionType
    reason: str  # stable machine code, e.g. experience_not_published
    message: str  # a sentence a person can act on
    unblock: str | None = None  # the exact allowance or action that would clear it


IN_SYNC = Condition(ConditionType.READY, "in_sync", "live matches desired")
NO_CANCEL_PATH = "no_cancel_path"  # condition reason: customers cannot cancel (loud, exit 1)
"""The one Ready condition: live matches desired."""


@dataclass(frozen=True)
class Plan:
    name: str
    site: str
    live_version: int | None
    steps: tuple[Step, ...] = ()
    drift: tuple[Drift, ...] = ()
    conditions: tuple[Condition, ...] = ()

    @property
    def in_sync(self) -> bool:
        return not self.steps and not self.drift

    @property
    def blocked(self) -> tuple[Condition, ...]:
        return tuple(c for c in self.conditions if c.type is ConditionType.BLOCKED)

    @property
    def has_destructive(self) -> bool:
        return any(s.destructive for s in self.steps)

    @property
    def safe_steps(self) -> tuple[Step, ...]:
        """The leading steps that only restore the site's own cancel experience.

        They are never destructive and never a connect, so they run even when the rest of
        the plan is Blocked (or Waiting): a site must not stay without a way to cancel
        because some later step needs an allowance (the cancel-path invariant). Only the
        leading ones count, so each runs on exactly the state it was planned from.
        """
        return leading_restores(self.steps)

    @property
    def waiting(self) -> tuple[Condition, ...]:
        return tuple(c for c in self.conditions if c.type is ConditionType.WAITING)

    def to_dict(self) -> dict[str, Any]:
        """The plan as JSON-ready data (schemas/plan.schema.json); keys in a stable order."""
        return {
            "name": self.name,
            "site": self.site,
            "live_version": self.live_version,
            "fingerprint": self.fingerprint,
            "steps": [step_to_dict(s) for s in self.steps],
            "drift": [{"field": d.field, "desired": d.desired, "live": d.live} for d in self.drift],
            "conditions": [condition_to_dict(c) for c in self.conditions],
        }

    @cached_property
    def fingerprint(self) -> str:
        """A hash of everything the plan would do and the live version it starts from.

        Idempotency keys are derived from it, so a retry of the same step of the same plan
        replays instead of acting twice, while a fresh plan (new version) acts anew. A saved
        plan is still valid exactly when a fresh plan has the same fingerprint.
        """
        material = {
            "site": self.site,
            "live_version": self.live_version,
            "steps": [step_to_dict(s) for s in self.steps],
            "drift": [[d.field, d.desired, d.live] for d in self.drift],
            "blocked": [c.reason for c in self.blocked],
        }
        canonical = json.dumps(material, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()[:32]


def leading_restores(steps: tuple[Step, ...]) -> tuple[Step, ...]:
    """The steps before the first one that is not a plain restore of the fallback."""
    count = 0
    for step in steps:
        if step.action is not Action.RESTORE_CANCEL_EXPERIENCE or step.destructive:
            break
        count += 1
    return steps[:count]


def step_to_dict(step: Step) -> dict[str, Any]:
    return {
        "action": step.action.value,
        "args": dict(step.args),
        "rule": step.rule,
        "reason": step.reason,
        "destructive": step.destructive,
        "depends_on": list(step.depends_on),
        "expect": dict(step.expect),
    }


def condition_to_dict(condition: Condition) -> dict[str, Any]:
    return {
        "type": condition.type.value,
        "reason": condition.reason,
        "message": condition.message,
        "unblock": condition.unblock,
    }


def condition_from_dict(data: Mapping[str, Any]) -> Condition:
    """The inverse of `condition_to_dict`."""
    return Condition(ConditionType(data["type"]), data["reason"], data["message"], data["unblock"])


def plan(desired: Desired, live: Live, *, allow_disconnect: bool = False) -> Plan:
    """Compute the steps that take `live` to `desired` without breaking a product rule.

    `allow_disconnect` is the run-wide allowance (`--allow-disconnect`); the document's own
    `policy.allowDisconnect` counts too. A plan that needs a disconnect without either is
    Blocked but still lists its steps, so a reviewer sees what the allowance would do.
    A site whose customers cannot cancel, and that the runnable part of the plan does not
    fix, is Blocked `no_cancel_path` (see `cancel_path_condition`).
    """
    drift = tuple(compute_drift(desired, live))
    if hands_off(desired):
        conditions = _hands_off_conditions(desired, live, drift)
        lost = cancel_path_condition(desired, live, fixed=False)
        if lost:
            conditions = (*lost, *(c for c in conditions if c.reason != "experience_not_published"))
        return Plan(
            name=desired.name,
            site=desired.site,
            live_version=live.version,
            drift=drift,
            conditions=conditions,
        )
    builder = _Builder(desired, live, disconnect_allowed(desired, allow_disconnect))
    builder.build()
    steps = tuple(builder.steps)
    conditions = tuple(builder.conditions)
    blocked = any(c.type is ConditionType.BLOCKED for c in conditions)
    if blocked:  # only the leading restores run (Plan.safe_steps)
        fixed = bool(leading_restores(steps)) and desired.fallback.portal_cancellation
    else:
        fixed = builder.has_cancel_path()
    conditions = (*cancel_path_condition(desired, live, fixed=fixed), *conditions)
    if not steps and not drift and not conditions:
        conditions = (IN_SYNC,)
    return Plan(
        name=desired.name,
        site=desired.site,
        live_version=live.version,
        steps=steps,
        drift=drift,
        conditions=conditions,
    )


# --------------------------------------------------------------------------- cancel path


def has_cancel_path(live: Live) -> bool:
    """Whether customers can cancel now: portal cancellation on, or Cancellation via
    Brightback on *with traffic* (its experience published, rule 8)."""
    if live.portal_cancellation_enabled:
        return True
    return live.cancellation_via_brightback and live.traffic_status is TrafficStatus.ON


def cancel_path_owed(desired: Desired, live: Live) -> bool:
    """Whether the spec promises customers a way to cancel in the state `live` is in.

    With the toggle off, the fallback is the customer's experience: owed when it has
    portal cancellation. With the toggle on, owed unless the spec opted in to switching
    it on before the publish (`policy.toggleBeforePublish`, sites without customers).
    """
    if live.cancellation_via_brightback:
        return not desired.policy.toggle_before_publish
    return desired.fallback.portal_cancellation


def cancel_path_condition(desired: Desired, live: Live, *, fixed: bool) -> tuple[Condition, ...]:
    """Blocked `no_cancel_path`: customers cannot cancel and this run will not fix it.

    `fixed`: whether what the run may execute leaves a way to cancel. Loud on purpose
    (exit 1, a metric): it needs a person (publish the experience again, or allow the
    disconnect that restores the fallback, or let the reconciler manage the site).
    """
    if fixed or has_cancel_path(live) or not cancel_path_owed(desired, live):
        return ()
    where = f" in {desired.source.file}" if desired.source is not None else ""
    if live.cancellation_via_brightback:
        bb_site = live.connection.brightback_site or "?"
        mode = live.integrate_via.value if live.integrate_via else "its mode"
        message = (
            f"customers of {desired.site} cannot cancel: Cancellation via Brightback is on, "
            f"but the {mode} experience of Brightback site {bb_site} is not published, so it "
            "takes no traffic (rule 8), and portal cancellation is hidden while it is on "
            "(rule 7)"
        )
        unblock = (
            f"publish the {mode} experience of {bb_site} in Brightback again; or, to fall "
            "back to the site's own cancel experience, disconnect (spec.connection.state: "
            f"disconnected with spec.policy.allowDisconnect: true{where}, or run with "
            "--allow-disconnect) so the fallback is restored"
        )
    else:
        message = (
            f"customers of {desired.site} cannot cancel: Brightback is not handling "
            "cancellations and portal cancellation is off"
        )
        unblock = (
            "let the reconciler restore the fallback (spec.policy.management: full and "
            f"spec.policy.suspended: false{where}), or turn portal cancellation on in Chargebee"
        )
    return (Condition(ConditionType.BLOCKED, NO_CANCEL_PATH, message, unblock),)


# --------------------------------------------------------------------------- drift


def _hands_off_conditions(
    desired: Desired, live: Live, drift: tuple[Drift, ...]
) -> tuple[Condition, ...]:
    """Observe-only and suspended sites: say what differs and how to let it be corrected."""
    extra = _publish_condition(desired, live)
    if not drift:
        return extra or (IN_SYNC,)
    if desired.policy.suspended:
        reason, why, unblock = (
            "suspended",
            "the site is suspended (spec.policy.suspended)",
            "set spec.policy.suspended: false to let the reconciler correct it",
        )
    else:
        reason, why, unblock = (
            "observe_only",
            "the site is observe-only (spec.policy.management: observe)",
            "set spec.policy.management: full to let the reconciler correct it",
        )
    fields = ", ".join(d.field.removeprefix("spec.") for d in drift)
    message = f"{len(drift)} field(s) drifted ({fields}); {why}, so nothing is planned"
    return (Condition(ConditionType.DRIFTED, reason, message, unblock), *extra)


def _publish_condition(desired: Desired, live: Live) -> tuple[Condition, ...]:
    """Rule 8 as a waiting condition: enabled, but the experience is not published yet."""
    if not (live.connected and live.cancellation_via_brightback):
        return ()
    if not desired.cancellation_via_brightback:
        return ()
    return _unpublished(live, live.connection.brightback_site, live.integrate_via)


def _unpublished(
    live: Live, brightback_site: str | None, mode: IntegrationMode | None
) -> tuple[Condition, ...]:
    if brightback_site is None or mode is None:
        return ()
    site = live.account.brightback_site(brightback_site)
    if site is not None and mode in site.published:
        return ()
    return (
        Condition(
            ConditionType.WAITING,
            "experience_not_published",
            f"experience for {mode.value} not published in Brightback site {brightback_site}: "
            "Cancellation via Brightback is enabled but receives no traffic until it is "
            "(rule 8)",
            f"publish the {mode.value} experience of {brightback_site} in Brightback",
        ),
    )


# --------------------------------------------------------------------------- steps

RULE_CONNECT = "rules 1-4: connect to a Brightback site of the account of the site's email"
RULE_MODE = "rule 5: choose how cancellations reach Brightback"
RULE_REASON_CODES = "rule 6: reason codes must be disabled before Cancellation via Brightback"
RULE_TOGGLE = "rules 6-8: turn on Cancellation via Brightback (live once published)"
RULE_DISCONNECT = "rule 10: disconnect stops customer-data sync at once"
RULE_RESTORE = "rule 9: customers must keep a way to cancel when Brightback does not handle it"
RULE_SIGN_UP = "rule 1: the Brightback account is the one of the site's email"


class _Builder:
    """Walks a simulated copy of the live state forward, one legal write at a time.

    Each step is added only when the simulated state allows it under the product rules,
    and the simulation is updated as the emulator would, so later steps are planned from
    the state the earlier ones leave behind.
    """

    def __init__(self, desired: Desired, live: Live, allowed: bool) -> None:
        self.desired = desired
        self.live = live
        self.allowed = allowed
        self.steps: list[Step] = []
        self.conditions: list[Condition] = []
        self._index: dict[Action, int] = {}
        self.connected = live.connected
        self.brightback_site = live.connection.brightback_site
        self.mode = live.integrate_via
        self.toggle = live.cancellation_via_brightback
        self.reason_codes = live.reason_codes_enabled
        self.portal = live.portal_cancellation_enabled

    # ------------------------------------------------------------------ helpers

    def add(
        self,
        action: Action,
        *,
        rule: str,
        reason: str,
        after: tuple[Action, ...] = (),
        args: Mapping[str, Scalar] | None = None,
        expect: Mapping[str, Scalar],
        destructive: bool = False,
    ) -> None:
        depends = tuple(sorted(self._index[a] for a in after if a in self._index))
        self._index[action] = len(self.steps)
        self.steps.append(
            Step(
                action=action,
                args=MappingProxyType(dict(args or {})),
                rule=rule,
                reason=reason,
                destructive=destructive,
                depends_on=depends,
                expect=MappingProxyType(dict(expect)),
            )
        )

    def condition(
        self, kind: ConditionType, reason: str, message: str, unblock: str | None = None
    ) -> None:
        self.conditions.append(Condition(kind, reason, message, unblock))

    def _where(self) -> str:
        source = self.desired.source
        return f" in {source.file}" if source is not None else ""

    # ------------------------------------------------------------------ the walk

    def has_cancel_path(self) -> bool:
        """Whether the simulated state, after every step so far, lets customers cancel."""
        return self.portal or (self.toggle and self._published(self.brightback_site, self.mode))

    def _published(self, brightback_site: str | None, mode: IntegrationMode | None) -> bool:
        if brightback_site is None or mode is None:
            return False
        site = self.live.account.brightback_site(brightback_site)
        return site is not None and mode in site.published

    def _restore_first(self) -> None:
        """Customers cannot cancel now (a half-done toggle-off or site change, or a click in
        the console): restore the fallback before anything else, so a blocked or failing
        later step never leaves them stranded. It is the plan's first step, so it runs even
        when the rest of the plan is blocked (`Plan.safe_steps`)."""
        if self.toggle or self.portal or not self.desired.fallback.portal_cancellation:
            return
        self._restore(
            "customers have no way to cancel (Brightback is not handling cancellations and "
            "portal cancellation is off): restore the site's own cancel experience before "
            "anything else"
        )

    def build(self) -> None:
        desired, live = self.desired, self.live
        self._restore_first()
        wanted_email = desired.connection.account_email
        if (
            desired.wants_connected
            and wanted_email is not None
            and wanted_email.lower() != live.site_email.lower()
        ):
            self.condition(
                ConditionType.BLOCKED,
                "email_not_editable",
                f"spec.connection.accountEmail is {wanted_email}, but the Brightback account "
                f"is the one of the site's email {live.site_email} and cannot be edited "
                "(rule 1)",
                f"remove spec.connection.accountEmail or set it to {live.site_email}, or "
                "change the site's email in Chargebee",
            )
            return
        if self.connected:
            why = self._why_disconnect()
            if why is not None:
                if desired.wants_connected and not self._account_ready(sign_up=False):
                    return  # never disconnect when the reconnect cannot happen
                self._disconnect(why)
        if desired.wants_connected:
            if not self.connected:
                if not self._account_ready(sign_up=True):
                    # Until the account can be connected, customers cancel the site's own
                    # way: keep the fallback in force meanwhile (rule 9).
                    self._restore("the site stays disconnected until the account is ready")
                    return
                self._connect()
            self._configure()
        else:
            self._restore(
                "Brightback is disconnected, so the site's own cancel experience is in force"
            )

    def _why_disconnect(self) -> str | None:
        desired, live = self.desired, self.live
        have = Attachment(
            self.connected, self.brightback_site, live.connection.account_email, self.toggle
        )
        reasons = disconnect_reasons(have, Attachment.of_desired(desired, live.site_email))
        if not reasons:
            return None
        reason = reasons[0]
        if reason is DisconnectReason.UNWANTED:
            return "spec.connection.state is disconnected"
        if reason is DisconnectReason.OTHER_BRIGHTBACK_SITE:
            return (
                f"connected to Brightback site {self.brightback_site}, spec wants "
                f"{desired.connection.brightback_site}; a connection picks exactly one site "
                "(rule 3), so it is disconnect + connect"
            )
        if reason is DisconnectReason.OTHER_ACCOUNT:
            return (
                f"connected to the account of {live.connection.account_email}, but the site's "
                f"email is now {live.site_email} (rule 1), so it is disconnect + connect"
            )
        return (
            "Cancellation via Brightback is on and spec wants it off; it cannot be "
            "switched off (rule 9), only disconnected, restored and connected again"
        )

    def _account_ready(self, *, sign_up: bool) -> bool:
        """Rule 1 and 3: an active account of the site's email owning the wanted site."""
        desired, live = self.desired, self.live
        account = live.account
        wanted_site = desired.connection.brightback_site or ""
        if account.status is AccountStatus.NOT_FOUND:
            if desired.connection.sign_up_if_missing and sign_up:
                self.add(
                    Action.SIGN_UP,
                    rule=RULE_SIGN_UP,
                    reason=f"no Brightback account exists for {live.site_email}; "
                    "spec.connection.signUpIfMissing is true",
                    args={BRIGHTBACK_SITE.form: wanted_site},
                    expect={"account.status": AccountStatus.PENDING_ACTIVATION.value},
                )
                self._pending(f"signing up {live.site_email}")
            elif desired.connection.sign_up_if_missing:
                self._pending(f"the site's email is now {live.site_email}, which has no account")
            else:
                self.condition(
                    ConditionType.BLOCKED,
                    "account_not_found",
                    f"no Brightback account exists for the site's email {live.site_email} (rule 1)",
                    f"sign up at Brightback with {live.site_email}, or set "
                    f"spec.connection.signUpIfMissing: true{self._where()}",
                )
            return False
        if account.status is AccountStatus.PENDING_ACTIVATION:
            self._pending(f"the account {account.email} was signed up")
            return False
        if account.brightback_site(wanted_site) is None:
            have = ", ".join(s.name for s in account.brightback_sites) or "none"
            self.condition(
                ConditionType.BLOCKED,
                "brightback_site_not_found",
                f"Brightback site {wanted_site} is not in the account {account.email} "
                f"(it has: {have}) (rule 3)",
                f"create {wanted_site} in Brightback, or set spec.connection.brightbackSite "
                f"to one of: {have}",
            )
            return False
        return True

    def _pending(self, what: str) -> None:
        email = self.live.site_email
        self.condition(
            ConditionType.WAITING,
            "account_pending_activation",
            f"{what}; the Brightback account waits for activation from the email sent to "
            f"{email} before it can be connected (rule 1)",
            f"click the activation link Brightback sent to {email}",
        )

    def _disconnect(self, why: str) -> None:
        if not self.allowed:
            self.condition(
                ConditionType.BLOCKED,
                "disconnect_not_allowed",
                f"{why}; a disconnect stops customer-data sync at once (rule 10) and needs "
                "an explicit allowance",
                f"set spec.policy.allowDisconnect: true{self._where()}, or run with "
                "--allow-disconnect",
            )
        self.add(
            Action.DISCONNECT,
            rule=RULE_DISCONNECT,
            reason=why,
            args={"confirm": True},
            expect={CONNECTION_STATE.api: ConnectionState.DISCONNECTED.value},
            destructive=True,
        )
        self.connected = False
        self.brightback_site = None
        self.mode = None
        self.toggle = False
        self._restore("restore the site's own cancel experience right after the disconnect")

    def _restore(self, why: str) -> None:
        fallback = self.desired.fallback
        if self.toggle:
            return  # hidden while the toggle is on (rule 7); a disconnect comes first
        if (self.reason_codes, self.portal) == (
            fallback.reason_codes,
            fallback.portal_cancellation,
        ):
            return
        self.add(
            Action.RESTORE_CANCEL_EXPERIENCE,
            rule=RULE_RESTORE,
            reason=why,
            after=(Action.DISCONNECT,),
            args={
                REASON_CODES.form: fallback.reason_codes,
                PORTAL_CANCELLATION.form: fallback.portal_cancellation,
            },
            expect={
                REASON_CODES.api: fallback.reason_codes,
                PORTAL_CANCELLATION.api: fallback.portal_cancellation,
            },
        )
        self.reason_codes = fallback.reason_codes
        self.portal = fallback.portal_cancellation

    def _connect(self) -> None:
        wanted_site = self.desired.connection.brightback_site
        self.add(
            Action.CONNECT,
            rule=RULE_CONNECT,
            reason=f"spec wants the site connected to Brightback site {wanted_site}",
            after=(Action.DISCONNECT, Action.RESTORE_CANCEL_EXPERIENCE),
            args={BRIGHTBACK_SITE.form: wanted_site},
            expect={
                CONNECTION_STATE.api: ConnectionState.CONNECTED.value,
                BRIGHTBACK_SITE.api: wanted_site,
            },
        )
        self.connected = True
        self.brightback_site = wanted_site

    def _configure(self) -> None:
        desired = self.desired
        opted_in = desired.policy.toggle_before_publish
        wanted_mode = desired.integrate_via
        if wanted_mode is not None and self.mode is not wanted_mode:
            if (
                self.toggle
                and not opted_in
                and not self._published(self.brightback_site, wanted_mode)
            ):
                self._wait_for_publish(
                    wanted_mode,
                    f"switching the site from {self.mode.value if self.mode else 'nothing'} "
                    f"to {wanted_mode.value} now would leave customers with no way to cancel, "
                    "so it keeps the current mode until then",
                )
            else:
                had = self.mode.value if self.mode else "nothing"
                self.add(
                    Action.SET_INTEGRATION_MODE,
                    rule=RULE_MODE,
                    reason=f"integrates via {had}; spec wants {wanted_mode.value}",
                    after=(Action.CONNECT,),
                    args={INTEGRATE_VIA.form: wanted_mode.value},
                    expect={INTEGRATE_VIA.api: wanted_mode.value},
                )
                self.mode = wanted_mode
        if not desired.cancellation_via_brightback:
            self._restore(
                "Cancellation via Brightback is off, so the site's own cancel experience is "
                "what customers get"
            )
            return
        if not self.toggle:
            if self.mode is None:
                self.condition(
                    ConditionType.BLOCKED,
                    "integration_mode_required",
                    "Cancellation via Brightback needs an integration mode (rule 5)",
                    f"set spec.integrateVia to customer_portal or retention_api{self._where()}",
                )
                return
            if not opted_in and not self._published(self.brightback_site, self.mode):
                self._wait_for_publish(
                    self.mode,
                    "Cancellation via Brightback is switched on only once it is, so the "
                    "site's own cancel experience stays in force meanwhile",
                )
                self._restore(
                    "Cancellation via Brightback waits for the published experience, so the "
                    "site's own cancel experience is what customers get meanwhile"
                )
                return
            if self.reason_codes:
                self.add(
                    Action.DISABLE_REASON_CODES,
                    rule=RULE_REASON_CODES,
                    reason="reason codes are enabled; Cancellation via Brightback needs them off",
                    after=(Action.RESTORE_CANCEL_EXPERIENCE,),
                    args={REASON_CODES.form: False},
                    expect={REASON_CODES.api: False},
                )
                self.reason_codes = False
            self.add(
                Action.ENABLE_CANCELLATION_VIA_BRIGHTBACK,
                rule=RULE_TOGGLE,
                reason="spec wants Cancellation via Brightback on",
                after=(Action.CONNECT, Action.SET_INTEGRATION_MODE, Action.DISABLE_REASON_CODES),
                args={CANCELLATION_VIA_BRIGHTBACK.form: True},
                expect={CANCELLATION_VIA_BRIGHTBACK.api: True},
            )
            self.toggle = True
            self.portal = False  # rule 7: the portal's own options are hidden
        if opted_in:  # switched on ahead of the publish, as the spec asked
            self.conditions.extend(_unpublished(self.live, self.brightback_site, self.mode))

    def _wait_for_publish(self, mode: IntegrationMode, what_meanwhile: str) -> None:
        site = self.brightback_site or "?"
        self.condition(
            ConditionType.WAITING,
            "experience_not_published",
            f"experience for {mode.value} not published in Brightback site {site}: "
            f"{what_meanwhile} (rules 7-8: an enabled toggle hides portal cancellation and "
            "takes no traffic until the publish)",
            f"publish the {mode.value} experience of {site} in Brightback; the next apply "
            "carries on from there (a site with no customers yet may set "
            f"spec.policy.toggleBeforePublish: true{self._where()} instead)",
        )


__all__ = [
    "IN_SYNC",
    "NO_CANCEL_PATH",
    "RULE_CONNECT",
    "RULE_DISCONNECT",
    "RULE_MODE",
    "RULE_REASON_CODES",
    "RULE_RESTORE",
    "RULE_SIGN_UP",
    "RULE_TOGGLE",
    "Action",
    "Condition",
    "ConditionType",
    "Drift",
    "Plan",
    "Scalar",
    "Step",
    "cancel_path_condition",
    "cancel_path_owed",
    "condition_from_dict",
    "condition_to_dict",
    "has_cancel_path",
    "leading_restores",
    "plan",
    "step_to_dict",
]
