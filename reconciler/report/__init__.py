"""One result object for a plan or apply run, and renderers (text, JSON, Markdown) over it.

Renderers are plugins keyed by format name, like octoDNS's plan outputs: each takes the
same `RunReport` and writes to a stream, so a new format never touches the engine.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol, TextIO

from reconciler.apply import SiteResult, StepOutcome, StepStatus, failure_condition
from reconciler.errors import BrightbackError
from reconciler.model import Desired, Live
from reconciler.plan import Condition, ConditionType, Plan

EXIT_OK, EXIT_ERROR, EXIT_CHANGES = 0, 1, 2


class Section(Protocol):
    """A command's own part of the report (the reconciler's `fleet`): it knows its JSON."""

    def to_dict(self) -> dict[str, Any]: ...


class SiteStatus(StrEnum):
    """One word per site, worst first when sorting a summary."""

    FAILED = "failed"
    BLOCKED = "blocked"
    CHANGES = "changes"  # plan: steps pending
    APPLIED = "applied"  # apply: steps made and the site converged (or is waiting)
    DRIFTED = "drifted"  # observe-only / suspended with drift
    WAITING = "waiting"
    IN_SYNC = "in_sync"


@dataclass(frozen=True, slots=True)
class SiteReport:
    """What one site looked like in one run. `live` is the state before a plan, or the
    final state after an apply."""

    name: str
    site: str
    status: SiteStatus
    plan: Plan | None
    live: Live | None
    outcomes: tuple[StepOutcome, ...] = ()
    conditions: tuple[Condition, ...] = ()
    error: str | None = None
    replans: tuple[Plan, ...] = ()
    source: str | None = None

    @classmethod
    def from_plan(cls, desired: Desired, plan: Plan, live: Live) -> SiteReport:
        return cls(
            name=desired.name,
            site=desired.site,
            status=_plan_status(plan),
            plan=plan,
            live=live,
            conditions=plan.conditions,
            source=str(desired.source) if desired.source else None,
        )

    @classmethod
    def from_error(cls, desired: Desired, error: BrightbackError) -> SiteReport:
        return cls.failed(desired, failure_condition(error))

    @classmethod
    def failed(cls, desired: Desired, condition: Condition) -> SiteReport:
        """A site that could not be read or reconciled, with the condition saying why."""
        return cls(
            name=desired.name,
            site=desired.site,
            status=SiteStatus.FAILED,
            plan=None,
            live=None,
            conditions=(condition,),
            error=condition.message,
            source=str(desired.source) if desired.source else None,
        )

    @classmethod
    def from_result(cls, result: SiteResult) -> SiteReport:
        desired = result.desired
        return cls(
            name=desired.name,
            site=desired.site,
            status=_result_status(result),
            plan=result.plan if result.plan.live_version is not None else None,
            live=result.final_live,
            outcomes=result.outcomes,
            conditions=result.conditions,
            error=result.error,
            replans=result.replans,
            source=str(desired.source) if desired.source else None,
        )

    @property
    def unblock(self) -> tuple[str, ...]:
        return tuple(c.unblock for c in self.conditions if c.unblock)


def _has(conditions: Sequence[Condition], kind: ConditionType) -> bool:
    return any(c.type is kind for c in conditions)


def site_status(
    conditions: Sequence[Condition],
    *,
    failed: bool = False,
    pending: bool = False,
    changed: bool = False,
    drifted: bool = False,
) -> SiteStatus:
    """The one word for a site, worst first: failed, blocked, changes pending (plan) or
    applied (apply), drifted on a hands-off site, waiting for an outside event, drift that
    nothing closes, in sync."""
    if failed or _has(conditions, ConditionType.FAILED):
        return SiteStatus.FAILED
    if _has(conditions, ConditionType.BLOCKED):
        return SiteStatus.BLOCKED
    if pending:
        return SiteStatus.CHANGES
    if changed:
        return SiteStatus.APPLIED
    if _has(conditions, ConditionType.DRIFTED):
        return SiteStatus.DRIFTED
    if _has(conditions, ConditionType.WAITING):
        return SiteStatus.WAITING  # drift that only an outside event can close
    return SiteStatus.DRIFTED if drifted else SiteStatus.IN_SYNC


def _plan_status(plan: Plan) -> SiteStatus:
    return site_status(plan.conditions, pending=bool(plan.steps), drifted=bool(plan.drift))


def _result_status(result: SiteResult) -> SiteStatus:
    return site_status(result.conditions, failed=not result.ok, changed=result.changed)


@dataclass(frozen=True)
class RunReport:
    """A whole `plan` or `apply` run, sites ordered by name (stable output for diffs)."""

    command: str  # "plan" | "apply" | "reconcile"
    # A tuple, sorted here; or a sequence already in that order that says so with
    # `in_report_order = True` (the fleet pass's spool, reconciler/report/spool.py).
    sites: Sequence[SiteReport]
    notes: tuple[str, ...] = field(default=())  # run-level messages (e.g. refusals)
    refused: bool = False  # the whole run was refused (saved plan mismatch, fleet threshold)
    # Fleet reconciler only: pass number, git commit, drift resolutions and history,
    # orphans, safety decision (schemas/report.schema.json `fleet`). None elsewhere.
    fleet: Section | None = None

    def __post_init__(self) -> None:
        if not getattr(self.sites, "in_report_order", False):
            ordered = tuple(sorted(self.sites, key=lambda s: (s.name, s.site)))
            object.__setattr__(self, "sites", ordered)

    def count(self, status: SiteStatus) -> int:
        return self.summary()[status.value]

    @property
    def exit_code(self) -> int:
        """The one exit-code table of every command (README, `brightback --help`):

        1 a refused run, or any Failed or Blocked site (the fleet did not get where the
        config says, and a person has to act); 2 changes pending (plan) or made (apply,
        reconcile); 0 nothing to do or nothing changed. Drift on an observe-only site and
        sites waiting for an outside event are reported but are not changes pending.
        """
        if self.refused or self.count(SiteStatus.FAILED) or self.count(SiteStatus.BLOCKED):
            return EXIT_ERROR
        changed = SiteStatus.CHANGES if self.command == "plan" else SiteStatus.APPLIED
        return EXIT_CHANGES if self.count(changed) else EXIT_OK

    def summary(self) -> dict[str, int]:
        """Counts by status and of steps, made in one walk over the sites and kept: a
        fleet pass's sites are read back from its spool file, once."""
        known: dict[str, int] | None = self.__dict__.get("_summary")
        if known is None:
            known = getattr(self.sites, "counted", None)  # counted as a spool was written
            if known is None:
                known = empty_summary()
                for site in self.sites:
                    add_to_summary(known, site)
            object.__setattr__(self, "_summary", known)
        return dict(known)


def empty_summary() -> dict[str, int]:
    counts = {status.value: 0 for status in SiteStatus}
    counts.update(sites=0, steps_planned=0, destructive_steps=0, steps_applied=0, steps_failed=0)
    return counts


def add_to_summary(counts: dict[str, int], site: SiteReport) -> None:
    counts[site.status.value] += 1
    counts["sites"] += 1
    if site.plan is not None:
        counts["steps_planned"] += len(site.plan.steps)
        counts["destructive_steps"] += sum(1 for s in site.plan.steps if s.destructive)
    for outcome in site.outcomes:
        if outcome.status is StepStatus.APPLIED:
            counts["steps_applied"] += 1
        elif outcome.status is StepStatus.FAILED:
            counts["steps_failed"] += 1


Renderer = Callable[[RunReport, TextIO], None]


def renderers() -> dict[str, Renderer]:
    """Format name -> renderer. Imported lazily so `--format json` never imports rich."""
    from reconciler.report import json_report, markdown_report, text_report

    return {
        "text": text_report.render,
        "json": json_report.render,
        "markdown": markdown_report.render,
    }


FORMATS = ("text", "json", "markdown")


def render(report: RunReport, fmt: str, stream: TextIO) -> None:
    try:
        renderer = renderers()[fmt]
    except KeyError:
        raise ValueError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}") from None
    renderer(report, stream)


__all__ = [
    "EXIT_CHANGES",
    "EXIT_ERROR",
    "EXIT_OK",
    "FORMATS",
    "RunReport",
    "Section",
    "SiteReport",
    "SiteStatus",
    "add_to_summary",
    "empty_summary",
    "render",
    "site_status",
]
