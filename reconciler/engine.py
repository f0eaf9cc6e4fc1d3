"""The engine: one read -> plan -> apply path that every front end calls.

`brightback plan`, `apply`, `reconcile` and the Pulumi provider are argument handling
around these functions; none of them calls the planner or reads live state by itself.
The engine reaches a site only through a `reconciler.backend.Backend`, never a concrete
client, so a browser-driven console backend can stand where the HTTP client stands.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from reconciler import hub as hubs
from reconciler.apply import SiteResult, apply_site, failure_condition, read_patiently
from reconciler.backend import Backend, ReadBackend
from reconciler.errors import (
    ApiError,
    BrightbackError,
    CredentialError,
    SpecError,
    SpecProblem,
    TransportError,
)
from reconciler.model import Desired, Live
from reconciler.plan import Plan, plan
from reconciler.report import SiteReport

T = TypeVar("T")
Item = TypeVar("Item")

SITE_ERRORS = (CredentialError, ApiError, TransportError)
"""What one site can fail with; it becomes that site's Failed report, never the run's end."""


@dataclass(frozen=True)
class Observation:
    """One site as read now, and what the engine would do about it.

    Either `live` and `plan` are set, or `error` says why the site could not be read.
    `allow_disconnect` is the run-wide allowance the plan was made with.
    """

    desired: Desired
    live: Live | None = None
    plan: Plan | None = None
    error: BrightbackError | None = None
    allow_disconnect: bool = False
    read_at: float = 0.0  # epoch seconds when the read started

    def report(self) -> SiteReport:
        """The site's report for `plan`: its plan, or the Failed condition of the read."""
        if self.error is not None or self.plan is None or self.live is None:
            assert self.error is not None
            return SiteReport.from_error(self.desired, self.error)
        return SiteReport.from_plan(self.desired, self.plan, self.live)


def observe(
    backend: ReadBackend,
    desired: Desired,
    *,
    allow_disconnect: bool = False,
    patient: bool = True,
) -> Observation:
    """Read the site and plan it. Site-level errors become `Observation.error`.

    `patient` gives transient failures several retry budgets (`read_patiently`: what
    stands between a half-done detour and its end); a dry run reads once.
    """
    read_at = time.time()
    try:
        live = read_patiently(backend, desired) if patient else backend.read(desired)
    except SITE_ERRORS as exc:
        return Observation(desired, error=exc, allow_disconnect=allow_disconnect, read_at=read_at)
    site_plan = plan(desired, live, allow_disconnect=allow_disconnect)
    return Observation(desired, live, site_plan, None, allow_disconnect, read_at)


def converge(
    backend: Backend,
    observation: Observation,
    *,
    allow_disconnect: bool | None = None,
    max_replans: int = 3,
) -> SiteResult:
    """Run the observed plan, verifying every write; re-plan only when the world moved.

    `allow_disconnect` overrides the allowance the observation was planned with (the fleet
    threshold withdraws it); the plan is then made again from the observed state.
    """
    allow = observation.allow_disconnect if allow_disconnect is None else allow_disconnect
    if observation.error is not None or observation.live is None:
        assert observation.error is not None
        return failed_result(observation.desired, observation.error)
    given = observation.plan if allow == observation.allow_disconnect else None
    return apply_site(
        observation.desired,
        backend,
        allow_disconnect=allow,
        max_replans=max_replans,
        live=observation.live,
        planned=given,
    )


def failed_result(desired: Desired, error: BrightbackError) -> SiteResult:
    """The result of a site that could not be read: nothing planned, nothing written."""
    condition = failure_condition(error)
    shown = Plan(name=desired.name, site=desired.site, live_version=None)
    return SiteResult(desired, shown, (), (), None, (condition,), str(error))


def select_sites(desired: Sequence[Desired], wanted: Sequence[str] | None) -> list[Desired]:
    """Filter by document name or site; an unknown name is an error, not an empty run."""
    if not wanted:
        return list(desired)
    chosen = [d for d in desired if d.name in wanted or d.site in wanted]
    known = {d.name for d in desired} | {d.site for d in desired}
    unknown = [w for w in wanted if w not in known]
    if unknown:
        raise SpecError(
            [
                SpecProblem("--site", 1, 1, "", f"no document or site named {name!r}")
                for name in unknown
            ]
        )
    return chosen


def for_each_site(items: Sequence[Item], work: Callable[[Item], T], concurrency: int) -> list[T]:
    """Run `work` per site, at most `concurrency` at once; results in input order.

    The sites share this thread, each in a greenlet driven by a hub (reconciler/hub.py):
    a site waiting on the network lets the others run. `work` must turn site-level errors
    into results itself; anything it raises is a bug and propagates, once every site
    started has ended.
    """
    if not items:
        return []
    workers = max(1, min(concurrency, len(items)))
    if workers == 1 or hubs.current() is not None:  # one at a time, or already on a hub
        return [work(item) for item in items]
    results: list[T] = []
    hub = hubs.Hub()

    def one(index: int, item: Item) -> None:
        results[index] = work(item)

    def start_each() -> None:
        slots = hubs.Slots(hub, workers)
        for index, item in enumerate(items):
            slots.spawn(one, index, item)

    results.extend([None] * len(items))  # type: ignore[list-item]
    hub.run(start_each)
    return results


__all__ = [
    "SITE_ERRORS",
    "Observation",
    "converge",
    "failed_result",
    "for_each_site",
    "observe",
    "select_sites",
]
