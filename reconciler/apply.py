"""Carry out one site's plan, verifying every write, and stop at the first surprise.

Level-triggered like a Kubernetes controller: the apply reads the world, plans, and writes
one step at a time. Each write names the version it planned from (the server refuses a
stale one) and a deterministic idempotency key (a retry after a lost response replays the
first answer). The resource each write returns is the state after it, so verification
costs no extra request. When the site moved under us (a stale version, a broken promise, a
version that jumped because someone clicked in the admin console) the apply stops and
re-plans from a fresh read, a bounded number of times. It never guesses.

`apply_site` never raises for a site-level failure: the result carries a Failed condition
with a reason code, so one bad site cannot stop a fleet.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from reconciler.actions import idempotency_key
from reconciler.backend import Backend, ReadBackend
from reconciler.errors import (
    RETRY_STATUSES,
    ApiError,
    BrightbackError,
    CredentialError,
    TransportError,
)
from reconciler.fields import show
from reconciler.live import live_to_api
from reconciler.model import Desired, Live
from reconciler.plan import IN_SYNC, Condition, ConditionType, Plan, Step, plan

_MISSING = object()


class StepStatus(StrEnum):
    APPLIED = "applied"
    FAILED = "failed"
    SKIPPED = "skipped"


@dataclass(frozen=True)
class StepOutcome:
    step: Step
    status: StepStatus
    message: str
    version_after: int | None


@dataclass(frozen=True)
class SiteResult:
    """Everything that happened to one site in one apply, for reports and metrics."""

    desired: Desired
    plan: Plan  # the first plan (what a reviewer saw)
    replans: tuple[Plan, ...]  # plans made after the site moved under us
    outcomes: tuple[StepOutcome, ...]
    final_live: Live | None
    conditions: tuple[Condition, ...]
    error: str | None

    @property
    def changed(self) -> bool:
        return any(o.status is StepStatus.APPLIED for o in self.outcomes)

    @property
    def ok(self) -> bool:
        return self.error is None and not any(
            c.type is ConditionType.FAILED for c in self.conditions
        )

    @property
    def last_plan(self) -> Plan:
        return self.replans[-1] if self.replans else self.plan


class _Restart(Exception):  # control flow only: never escapes this module
    """The site moved under the apply: re-plan from a fresh read."""

    def __init__(self, why: str, fresh: Live | None) -> None:
        super().__init__(why)
        self.why = why
        self.fresh = fresh


def _lookup(document: Mapping[str, Any], dotted: str) -> Any:
    node: Any = document
    for part in dotted.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return _MISSING
        node = node[part]
    return node


def broken_promises(step: Step, live: Live) -> list[str]:
    """The `expect` entries the state after a write does not meet, as readable lines."""
    document = live_to_api(live)
    problems = []
    for path, wanted in step.expect.items():
        actual = _lookup(document, path)
        if actual is _MISSING:
            problems.append(f"{path} is missing (expected {show(wanted)})")
        elif actual != wanted:
            problems.append(f"{path} is {show(actual)} (expected {show(wanted)})")
    return problems


def _failed(reason: str, message: str, unblock: str | None = None) -> Condition:
    return Condition(ConditionType.FAILED, reason, message, unblock)


def _error_reason(exc: BrightbackError) -> str:
    if isinstance(exc, ApiError):
        return exc.api_error_code or "api_error"
    if isinstance(exc, CredentialError):
        return "credential_error"
    if isinstance(exc, TransportError):
        return "transport_error"
    return "error"


def _error_unblock(exc: BrightbackError) -> str | None:
    if isinstance(exc, CredentialError):
        return "provide the API key the spec's credentials reference points at"
    if isinstance(exc, TransportError):
        return "check network access to the API URL, then re-run"
    if isinstance(exc, ApiError) and exc.http_status == 401:
        return "check the site's API key (it may have been rotated or revoked)"
    if isinstance(exc, ApiError) and exc.http_status == 403:
        return (
            "the site's API key is valid but lacks the access this call needs: `plan` needs "
            "a key that can read the site, `apply` and `reconcile` a full-access (read-write) "
            "key; create one in Chargebee (Settings > Configure Chargebee > API Keys) and "
            "point the spec's credentials at it"
        )
    if isinstance(exc, ApiError) and exc.http_status == 404:
        return (
            "check the site name (spec.site) and the API URL template (--api-url or "
            "$BRIGHTBACK_API_URL, default https://{site}.chargebee.com/api/v2, where {site} "
            "becomes spec.site)"
        )
    return None


def failure_condition(exc: BrightbackError) -> Condition:
    """A Failed condition for a site-level error: a stable reason and what to do about it."""
    return _failed(_error_reason(exc), str(exc), _error_unblock(exc))


def final_conditions(last: Plan) -> tuple[Condition, ...]:
    """Conditions after an apply: the last plan's Waiting/Blocked/Drifted, else Ready."""
    kept = tuple(c for c in last.conditions if c.type is not ConditionType.READY)
    if kept:
        return kept
    ready = [c for c in last.conditions if c.type is ConditionType.READY]
    return tuple(ready) or (IN_SYNC,)


def apply_site(
    desired: Desired,
    client: Backend,
    *,
    allow_disconnect: bool = False,
    max_replans: int = 3,
    live: Live | None = None,
    planned: Plan | None = None,
) -> SiteResult:
    """Converge one site. `live` skips the first read (a caller that just planned), and
    `planned` (the plan made from `live`) the first plan: it is run as it is."""
    outcomes: list[StepOutcome] = []
    replans: list[Plan] = []
    first: Plan | None = None
    current = live

    def result(
        conditions: tuple[Condition, ...], error: str | None, final: Live | None
    ) -> SiteResult:
        shown = first or Plan(name=desired.name, site=desired.site, live_version=None)
        return SiteResult(desired, shown, tuple(replans), tuple(outcomes), final, conditions, error)

    try:
        if current is None:
            current = read_patiently(client, desired)
        given = planned if planned is not None and live is not None else None
        active = given or plan(desired, current, allow_disconnect=allow_disconnect)
        first = active
        while True:
            # A blocked plan still runs its safe steps (the leading restores of the
            # fallback): customers must not stay without a way to cancel because a later
            # step waits for an allowance or a person. The rest is skipped.
            runnable = len(active.safe_steps) if active.blocked else len(active.steps)
            try:
                current = _run_steps(desired, client, active, current, outcomes, runnable)
            except _Restart as restart:
                if len(replans) >= max_replans:
                    condition = _failed(
                        "replan_limit_exceeded",
                        f"the site kept changing or not answering during the apply "
                        f"({restart.why}); gave up after {max_replans} re-plans",
                        "re-run apply; if someone is editing the site in the admin console, "
                        "once they are done",
                    )
                    return result((condition,), condition.message, restart.fresh or current)
                current = read_patiently(client, desired)
                active = plan(desired, current, allow_disconnect=allow_disconnect)
                replans.append(active)
                continue
            if active.blocked:
                outcomes.extend(
                    StepOutcome(s, StepStatus.SKIPPED, "not run: the plan is blocked", None)
                    for s in active.steps[runnable:]
                )
                if not runnable:
                    return result(active.conditions, None, current)
                # The safe steps ran: say what the site is waiting for now, from the state
                # the last write returned (no extra request).
                again = plan(desired, current, allow_disconnect=allow_disconnect)
                if again.steps:
                    replans.append(again)
                return result(final_conditions(again), None, current)
            # Every step ran and kept its promise: plan again from the state the last
            # write returned (no extra request). Normally nothing is left to do.
            if not active.steps:
                return result(final_conditions(active), None, current)
            again = plan(desired, current, allow_disconnect=allow_disconnect)
            if not again.steps or again.blocked:
                if again.steps:
                    replans.append(again)
                return result(final_conditions(again), None, current)
            if len(replans) >= max_replans:
                condition = _failed(
                    "not_converged",
                    f"{len(again.steps)} step(s) still planned after {max_replans} re-plans",
                )
                return result((condition,), condition.message, current)
            replans.append(again)
            active = again
    except (CredentialError, ApiError, TransportError) as exc:
        blocked = refusal_condition(desired, exc)
        if blocked is not None:  # nothing was written: a person must choose, not retry
            return result((blocked,), None, current)
        return result((failure_condition(exc),), str(exc), current)


def refusal_condition(desired: Desired, exc: BrightbackError) -> Condition | None:
    """A refusal that only the spec can fix, as the Blocked condition it is.

    The planner cannot see it coming (a Brightback site name is taken by *another*
    account, which a site's read does not show), so apply turns the server's answer into
    what the planner would have said: Blocked, naming the field and what to do.
    """
    if not isinstance(exc, ApiError) or exc.api_error_code != "brightback_site_taken":
        return None
    name = desired.connection.brightback_site
    where = f" in {desired.source.file}" if desired.source is not None else ""
    return Condition(
        ConditionType.BLOCKED,
        "brightback_site_taken",
        f"spec.connection.brightbackSite {name} belongs to another Brightback account "
        "(rule 3: a name belongs to one account), so the site cannot sign up with it or "
        "connect to it; nothing was written",
        f"set spec.connection.brightbackSite{where} to a name of your own account (or a new, "
        "unused name to sign up with)",
    )


def _run_steps(
    desired: Desired,
    client: Backend,
    active: Plan,
    start: Live,
    outcomes: list[StepOutcome],
    count: int | None = None,
) -> Live:
    """Run the first `count` steps of `active` (all by default) from `start`; return the
    state after the last write. Idempotency keys are those of the whole plan, so running
    a prefix now and the rest later never replays the wrong answer.

    Raises `_Restart` when the site moved; lets site-level errors through after recording
    the failed step and skipping the rest.
    """
    current = start
    fingerprint = active.fingerprint
    steps = active.steps if count is None else active.steps[:count]
    for index, step in enumerate(steps):
        version = current.version
        key = idempotency_key(desired.site, fingerprint, index, step.action.value, version)
        try:
            after = client.execute(desired, step, expected_version=version, idempotency_key=key)
        except ApiError as exc:
            if exc.api_error_code == "stale_version":
                outcomes.append(
                    StepOutcome(
                        step,
                        StepStatus.SKIPPED,
                        "not run: the site changed since it was read; re-planned",
                        None,
                    )
                )
                raise _Restart(f"version {version} is stale", None) from None
            if is_transient(exc):
                raise _transient(step, exc, outcomes) from None
            outcomes.append(StepOutcome(step, StepStatus.FAILED, str(exc), None))
            _skip_rest(active.steps[index + 1 :], outcomes)
            raise
        except TransportError as exc:
            raise _transient(step, exc, outcomes) from None
        except CredentialError as exc:
            outcomes.append(StepOutcome(step, StepStatus.FAILED, str(exc), None))
            _skip_rest(active.steps[index + 1 :], outcomes)
            raise
        problems = broken_promises(step, after)
        jumped = after.version > version + 1
        if problems:
            outcomes.append(
                StepOutcome(
                    step,
                    StepStatus.FAILED,
                    "written, but the site does not show it: " + "; ".join(problems),
                    after.version,
                )
            )
            raise _Restart("; ".join(problems), after)
        outcomes.append(
            StepOutcome(step, StepStatus.APPLIED, step.reason or "applied", after.version)
        )
        current = after
        if jumped and index + 1 < len(steps):
            raise _Restart(
                f"version went from {version} to {after.version}: changed by someone else",
                after,
            )
    return current


READ_ROUNDS = 3


def is_transient(exc: BaseException) -> bool:
    """Network trouble or an overloaded server: worth another round later, unlike a 4xx."""
    if isinstance(exc, TransportError):
        return exc.retryable
    return isinstance(exc, ApiError) and exc.http_status in RETRY_STATUSES


def read_patiently(client: ReadBackend, desired: Desired, rounds: int = READ_ROUNDS) -> Live:
    """Read the site, giving transient failures up to `rounds` full client retry budgets.

    A read is what stands between a half-done detour (disconnected, fallback not yet
    restored) and finishing it, so giving up after one budget would strand the site until
    the next pass. Reads are safe to repeat; other errors are raised at once, and so is a
    round in which every attempt timed out.
    """
    attempts = 0  # requests made over all rounds: what a message must say
    for round_left in range(rounds - 1, -1, -1):
        try:
            return client.read(desired)
        except TransportError as exc:
            attempts += exc.attempts
            # A silent peer (every attempt timed out) would only make the site wait
            # another full budget: three rounds cost 46 s a site at --timeout 2.
            if not is_transient(exc) or exc.silent or round_left == 0:
                raise exc.after(attempts) from None
        except ApiError as exc:
            if not is_transient(exc) or round_left == 0:
                raise
    raise AssertionError("unreachable")  # pragma: no cover


def _transient(step: Step, exc: BrightbackError, outcomes: list[StepOutcome]) -> _Restart:
    """A write still unanswered after the client's retries: re-read and re-plan.

    The client's budget is per request; giving up on the site here would leave it half-way
    through a detour (disconnected, fallback not yet restored) until the next pass. A fresh
    read also settles whether a lost write committed. Bounded by `max_replans`.
    """
    outcomes.append(
        StepOutcome(
            step, StepStatus.SKIPPED, f"not confirmed ({exc}); re-read and re-planned", None
        )
    )
    return _Restart(f"{step.action.value} was not confirmed: {exc}", None)


def _skip_rest(steps: tuple[Step, ...], outcomes: list[StepOutcome]) -> None:
    outcomes.extend(
        StepOutcome(s, StepStatus.SKIPPED, "not run: an earlier step failed", None) for s in steps
    )


__all__ = [
    "SiteResult",
    "StepOutcome",
    "StepStatus",
    "apply_site",
    "broken_promises",
    "failure_condition",
    "final_conditions",
    "is_transient",
    "read_patiently",
]
