"""Per-site request pacing under Chargebee's rate limits, learnt from the first 429.

Chargebee limits each site to a number of requests a minute set by its plan (150 on test
sites and the smallest live plans, more on larger ones) and sends no counter headers: the
first sign of the limit is a 429. A site is therefore not slowed at all until it answers
429 once; from then on its requests are spaced evenly at a rate no higher than the
smallest plan's (`assumed_per_minute`, with a margin), starting after the Retry-After.

Why that gives no second 429: right after a 429 the site's budget is (nearly) empty and
refills at the plan's rate, which is at least 150 a minute; the client then sends one
request per 1/rate seconds with rate below that, so every request finds at least one
request's worth of budget refilled since the previous one. Only traffic the tool does not
see (the site's own application using the same budget) can still exhaust it; each further
429 halves that site's rate (down to `floor_per_minute`), so the tool yields to it.

Thread-safe; each site has its own schedule, so a slow site never slows another.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from reconciler import hub as hubs

SMALLEST_PLAN_PER_MINUTE = 150  # Chargebee: test sites and the smallest live plans
MARGIN = 0.9  # pace a little under the limit: clocks and queues are not exact


@dataclass
class _Schedule:
    interval_s: float  # seconds between two requests to the site
    next_at: float  # monotonic time before which the next request waits


class Pacer:
    """Spaces the requests of each site that answered 429; others go unhindered."""

    def __init__(
        self,
        assumed_per_minute: int = SMALLEST_PLAN_PER_MINUTE,
        *,
        floor_per_minute: int = 10,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = hubs.sleep,
    ) -> None:
        if assumed_per_minute < 1 or floor_per_minute < 1:
            raise ValueError("rates must be at least 1 request a minute")
        self.assumed_per_minute = assumed_per_minute
        self.floor_per_minute = floor_per_minute
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._sites: dict[str, _Schedule] = {}

    def paced(self, site: str) -> bool:
        with self._lock:
            return site in self._sites

    def rate_per_minute(self, site: str) -> float | None:
        """The site's current pace, or None while it is not paced."""
        with self._lock:
            schedule = self._sites.get(site)
        return None if schedule is None else 60 / schedule.interval_s

    def before_request(self, site: str) -> float:
        """Wait for the site's next slot, if it is paced; returns the seconds waited."""
        with self._lock:
            schedule = self._sites.get(site)
            if schedule is None:
                return 0.0
            now = self._clock()
            slot = max(now, schedule.next_at)
            schedule.next_at = slot + schedule.interval_s  # claim the slot before waiting
        wait = slot - now
        if wait > 0:
            self._sleep(wait)
        return wait

    def rate_limited(self, site: str, waiting_s: float = 0.0) -> None:
        """The site answered 429 and the caller now waits `waiting_s` (the Retry-After)
        before retrying: pace the site from then on (or, if it already was, halve its
        rate). The retry itself goes at once after that wait if the wait covers one
        interval of refill, else it waits the rest of the interval."""
        with self._lock:
            now = self._clock()
            schedule = self._sites.get(site)
            if schedule is None:
                interval = 60 / (self.assumed_per_minute * MARGIN)
                schedule = self._sites[site] = _Schedule(interval, now)
            else:
                slowest = 60 / self.floor_per_minute
                schedule.interval_s = min(slowest, schedule.interval_s * 2)
            # The budget is empty now: the retry needs at least one interval of refill.
            schedule.next_at = now + max(0.0, schedule.interval_s - waiting_s)


__all__ = ["MARGIN", "SMALLEST_PLAN_PER_MINUTE", "Pacer"]
