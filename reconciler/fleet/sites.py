"""Per-site work of one pass: read and plan (phase 1), then apply under the site's lock
(phase 2). Every function here turns a site-level failure into that site's report, so one
bad site never stops the fleet.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any

from reconciler.apply import SiteResult
from reconciler.backend import Backend, Prober, ReadBackend
from reconciler.engine import SITE_ERRORS, Observation, converge, observe
from reconciler.errors import SiteLocked
from reconciler.fields import Drift, compute_drift
from reconciler.fleet.drift import ChangedBy, Resolution, attribute
from reconciler.fleet.lock import Lease
from reconciler.fleet.section import SkipReason
from reconciler.fleet.site_state import SiteState
from reconciler.model import Desired, IntegrationMode, Live
from reconciler.plan import Condition, ConditionType, Plan
from reconciler.report import SiteReport, SiteStatus
from reconciler.rules import hands_off, without_disconnect_allowance

EVENTS_LOOKED_AT = 20
# Events from a little before the last in-sync pass are read too: their snapshots hold the
# values that pass left (the desired ones), so they cannot be mistaken for the change.
CLOCK_SLACK_S = 5


@dataclass(slots=True)
class Planned:
    """Phase 1 of one site: what it looked like and what the pass would do."""

    desired: Desired
    live: Live | None = None
    plan: Plan | None = None
    report: SiteReport | None = None  # set when the site is done after phase 1
    events: list[dict[str, Any]] = field(default_factory=list)
    events_checked: bool = False  # the events were read to say who made the drift
    skipped: SkipReason | None = None  # why the site was not reconciled
    orphan: bool = False
    read_at: float = 0.0  # epoch seconds when the phase-1 read started
    order: int = 0  # the site's place in the config (orphans after), for the notes' order
    # What the state store remembers of the site, looked up once, as it is read (a lookup
    # parses the site's entry): `looked_up` is False for a site never read (stopped).
    known: SiteState | None = None
    looked_up: bool = False

    @property
    def applies(self) -> bool:
        """Whether phase 2 has writes to make for this site."""
        if self.report is not None or self.plan is None or hands_off(self.desired):
            return False
        # A blocked plan still runs its safe steps (restoring the fallback), see apply.
        return bool(self.plan.safe_steps if self.plan.blocked else self.plan.steps)

    @property
    def destructive(self) -> bool:
        return (
            self.applies
            and self.plan is not None
            and not self.plan.blocked
            and self.plan.has_destructive
        )


def wants_events(live_version: int, in_sync_version: int | None) -> bool:
    """Whether the site's events can say who made its drift: only when the site was seen
    in sync at `in_sync_version` (from the state file) and has changed since. A site never
    seen, being onboarded, or already drifted when last seen has no drift that is news, so
    it costs no request.
    """
    return in_sync_version is not None and live_version > in_sync_version


def read_and_plan(
    backend: ReadBackend,
    desired: Desired,
    allow_disconnect: bool,
    in_sync_version: int | None = None,
    in_sync_at: float | None = None,
) -> Planned:
    """Read the site, plan it, and fetch recent events when there is drift to explain.

    `in_sync_version`: the live version at which the last pass left the site in sync, if
    it did (see `wants_events`); `in_sync_at`: when (epoch seconds). Only events after it
    are read, so every snapshot they hold is newer than the state the pass saw.
    """
    seen = observe(backend, desired, allow_disconnect=allow_disconnect)
    if seen.live is None or seen.plan is None:
        return Planned(desired, report=seen.report())
    live, site_plan = seen.live, seen.plan
    planned = Planned(desired, live=live, plan=site_plan, read_at=seen.read_at)
    if wants_events(live.version, in_sync_version) and site_plan.drift:
        since = int(in_sync_at) - CLOCK_SLACK_S if in_sync_at is not None else None
        try:
            planned.events = backend.events(desired, since=since, limit=EVENTS_LOOKED_AT)
            planned.events_checked = True
        except SITE_ERRORS:
            planned.events = []  # attribution is a nicety; the drift is still reported
    return planned


def failed_report(desired: Desired, reason: str, message: str, unblock: str | None) -> SiteReport:
    return SiteReport.failed(desired, Condition(ConditionType.FAILED, reason, message, unblock))


def held_report(planned: Planned, status: SiteStatus, condition: Condition) -> SiteReport:
    """The site's plan, not applied, with the condition that says why."""
    assert planned.plan is not None and planned.live is not None
    base = SiteReport.from_plan(planned.desired, planned.plan, planned.live)
    kept = tuple(c for c in base.conditions if c.type is not ConditionType.READY)
    return dataclasses.replace(base, status=status, conditions=(*kept, condition))


THRESHOLD_UNBLOCK = "review the config change, then re-run with --force to apply it"

# A site's lock for a pass, from the state store (lock file or PostgreSQL advisory lock).
SiteLocker = Callable[[str, int], AbstractContextManager[Lease]]


def apply_planned(
    backend: Backend,
    planned: Planned,
    *,
    site_lock: SiteLocker,
    pass_no: int,
    allow_disconnect: bool,
    refuse_destructive: str | None,
    max_replans: int,
) -> tuple[SiteReport, SiteResult | None]:
    """Phase 2 of one site: under its lock, check the threshold and apply from the phase-1
    read.

    The phase-1 read is trusted, not repeated: every write names the version it was
    planned from (`expected_version`), so if the site changed since (the admin console, a
    reconciler with another state directory) the server refuses the first write with
    `stale_version`, and `apply_site` records it as skipped, reads again and re-plans
    (`_run_steps` raises `_Restart`; bounded by `max_replans`). Nothing stale is ever
    written; at worst one write is refused. The site is read again up front only when the
    lock's release note says another reconciler applied it after our read (two reconcilers
    on one state directory then make no refused write at all).
    """
    desired = planned.desired
    assert planned.live is not None and planned.plan is not None  # `applies` holds
    try:
        with site_lock(desired.site, pass_no) as lease:
            seen = Observation(desired, planned.live, planned.plan, None, allow_disconnect)
            if lease.applied_since(planned.read_at):
                seen = observe(backend, desired, allow_disconnect=allow_disconnect)
                if seen.error is not None:
                    raise seen.error
            assert seen.live is not None and seen.plan is not None
            fresh, fresh_plan = seen.live, seen.plan
            if refuse_destructive and fresh_plan.has_destructive and not fresh_plan.blocked:
                planned.live, planned.plan = fresh, fresh_plan
                condition = Condition(
                    ConditionType.BLOCKED,
                    "fleet_safety_threshold",
                    f"destructive steps held back for the whole fleet: {refuse_destructive}",
                    THRESHOLD_UNBLOCK,
                )
                if not fresh_plan.safe_steps:
                    return held_report(planned, SiteStatus.BLOCKED, condition), None
                # Held back like a missing allowance, so the safe steps still run.
                withdrawn = dataclasses.replace(
                    seen, desired=without_disconnect_allowance(desired), plan=None
                )
                held = converge(backend, withdrawn, allow_disconnect=False, max_replans=max_replans)
                return threshold_report(held, desired, condition), held
            # A refused threshold holds back every destructive step of the pass, also one
            # that a re-plan after a refused (stale) write would come up with.
            result = converge(
                backend,
                seen,
                allow_disconnect=allow_disconnect and not refuse_destructive,
                max_replans=max_replans,
            )
    except SiteLocked as exc:
        planned.skipped = SkipReason.LOCKED
        condition = Condition(
            ConditionType.WAITING,
            "locked_by_another_reconciler",
            str(exc),
            "nothing to do: the other reconciler is converging the site",
        )
        return held_report(planned, SiteStatus.WAITING, condition), None
    except SITE_ERRORS as exc:
        return SiteReport.from_error(desired, exc), None
    return SiteReport.from_result(result), result


def threshold_report(result: SiteResult, desired: Desired, condition: Condition) -> SiteReport:
    """A site whose safe steps ran while the threshold held its destructive ones back."""
    base = SiteReport.from_result(dataclasses.replace(result, desired=desired))
    if not result.ok:
        return base
    kept = tuple(
        c
        for c in base.conditions
        if c.type is not ConditionType.READY and c.reason != "disconnect_not_allowed"
    )
    return dataclasses.replace(base, status=SiteStatus.BLOCKED, conditions=(*kept, condition))


def resolve_drift(
    planned: Planned, report: SiteReport, result: SiteResult | None
) -> list[tuple[Drift, Resolution, ChangedBy | None]]:
    """Each real drift of the first plan, what the pass did about it, and who made it
    (None when the events were not read: the drift is not news, see `wants_events`)."""
    if planned.plan is None:
        return []
    drift = planned.plan.drift
    remaining: set[str] = {d.field for d in drift}
    remaining_blocked = False
    if result is not None and result.final_live is not None and result.ok:
        remaining = {d.field for d in compute_drift(planned.desired, result.final_live)}
        remaining_blocked = bool(result.last_plan.blocked)
    resolved = []
    for item in drift:
        if hands_off(planned.desired):
            how = Resolution.OBSERVED
        elif report.status is SiteStatus.BLOCKED or (item.field in remaining and remaining_blocked):
            how = Resolution.BLOCKED
        elif result is not None and item.field not in remaining:
            how = Resolution.CORRECTED
        else:
            how = Resolution.PENDING
        # The site was in sync when last seen, so the field then held its desired value.
        who = attribute(item.field, planned.events, item.desired)
        resolved.append((item, how, who if planned.events_checked else None))
    return resolved


def probe_sites(
    backend: ReadBackend, entries: list[Planned], reports: list[SiteReport | None]
) -> dict[str, dict[str, Any]]:
    """Ask Chargebee's pre-cancel hosted page for each retention_api site with a test
    subscription: a page answered proves cancellations reach Brightback."""
    found: dict[str, dict[str, Any]] = {}
    for entry, report in zip(entries, reports, strict=True):
        d = entry.desired
        if d.probe is None or d.integrate_via is not IntegrationMode.RETENTION_API:
            continue
        if report is None or report.status is SiteStatus.FAILED:
            continue
        if not isinstance(backend, Prober):
            found[d.name] = {"ok": False, "error": f"the {backend.kind} backend has no probe"}
            continue
        try:
            page = backend.pre_cancel_page(d, d.probe.subscription_id)
        except SITE_ERRORS as exc:
            found[d.name] = {"ok": False, "error": str(exc)}
        else:
            found[d.name] = {"ok": True, "session_id": str(page.get("id", ""))}
    return found


__all__ = [
    "CLOCK_SLACK_S",
    "EVENTS_LOOKED_AT",
    "THRESHOLD_UNBLOCK",
    "Planned",
    "SiteLocker",
    "apply_planned",
    "failed_report",
    "held_report",
    "probe_sites",
    "read_and_plan",
    "resolve_drift",
    "wants_events",
]
