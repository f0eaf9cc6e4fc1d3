"""The engine: one read -> plan -> apply path that every front end calls.

`brightback plan`, `apply`, `reconcile` and the Pulumi provider are argument handling
around these functions; none of them calls the planner or reads live state by itself.
The engine reaches a site only through a `reconciler.backend.Backend`, never a concrete
client, so a browser-driven console backend can stand where the HTTP client stands.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from reconciler.errors import SpecError, SpecProblem
from reconciler.model import Desired

T = TypeVar("T")
Item = TypeVar("Item")


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
    """Run `work` per site on a bounded pool; results in input order.

    `work` must turn site-level errors into results itself; anything it raises is a bug
    and propagates.
    """
    if not items:
        return []
    workers = max(1, min(concurrency, len(items)))
    if workers == 1:
        return [work(item) for item in items]
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="site") as pool:
        return list(pool.map(work, items))


__all__ = ["for_each_site", "select_sites"]
