"""Injected faults: latency, 5xx, 429, timeouts, lost responses and a per-site rate limit.

The configuration lives in the store (so it survives a restart); the random streams and
token buckets live in memory. Every request draws the same two numbers from its scope's
stream (the outcome, then the latency jitter) whatever is switched on, so a given `seed`
yields the same sequence of faults for the same sequence of requests.
"""

from __future__ import annotations

import math
import random
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from emulator.store import Store

FIELDS: dict[str, type] = {
    "latency_ms": float,
    "latency_jitter_ms": float,
    "error_rate": float,
    "rate_429": float,
    "retry_after_s": int,
    "timeout_rate": float,
    "timeout_s": float,
    "lost_response_rate": float,
    "rate_limit_per_minute": int,
    "seed": int,
}
RATES = ("error_rate", "rate_429", "timeout_rate", "lost_response_rate")
GLOBAL = ""  # the store's scope name for the global configuration


class FaultConfigError(ValueError):
    """A fault configuration that names an unknown field or an impossible value."""


def validate(config: Mapping[str, Any], where: str) -> dict[str, Any]:
    clean: dict[str, Any] = {}
    for name, value in config.items():
        kind = FIELDS.get(name)
        if kind is None:
            raise FaultConfigError(f"{where}: unknown fault field {name!r}")
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise FaultConfigError(f"{where}.{name}: must be a number")
        if value < 0 or (name in RATES and value > 1):
            raise FaultConfigError(f"{where}.{name}: out of range")
        clean[name] = kind(value)
    return clean


@dataclass
class Decision:
    """What happens to one request; `fault` is what the request log records."""

    delay_s: float = 0.0
    status: int | None = None  # answer this instead of handling the request
    retry_after_s: int | None = None
    timeout_s: float | None = None  # sleep this long, then answer 504
    lose_response: bool = False  # handle (commit) the request, then drop the connection
    fault: str | None = None


class _Bucket:
    """`per_minute` tokens a minute, at most `burst` (a minute's worth unless set) saved."""

    def __init__(self, per_minute: int, burst: int | None = None) -> None:
        self.per_minute = per_minute
        self.capacity = float(burst or per_minute)
        self.tokens = self.capacity
        self.stamp = time.monotonic()

    def take(self) -> bool:
        moment = time.monotonic()
        refill = (moment - self.stamp) * self.per_minute / 60
        self.tokens = min(self.capacity, self.tokens + refill)
        self.stamp = moment
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        return False

    def wait_s(self) -> int:
        """Whole seconds until the next token (what Retry-After says), at least 1."""
        return max(1, math.ceil((1 - self.tokens) * 60 / self.per_minute))


def _slice(draw: float, config: Mapping[str, Any]) -> tuple[str | None, float]:
    """One uniform draw picks at most one fault: the rates are consecutive slices of [0, 1)
    (timeouts, then 429s, then 5xx, then lost responses); also where in its slice it fell."""
    start = 0.0
    for name in ("timeout_rate", "rate_429", "error_rate", "lost_response_rate"):
        width = float(config.get(name, 0.0))
        if width > 0 and start <= draw < start + width:
            return name, (draw - start) / width
        start += width
    return None, 0.0


class Faults:
    """Decides each request's fault; thread-safe, cheap when nothing is configured."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self._lock = threading.Lock()
        self._load(store.faults())

    def _load(self, scopes: Mapping[str, dict[str, Any]]) -> None:
        self._scopes = dict(scopes)
        self._random = {
            scope: random.Random(config.get("seed")) for scope, config in self._scopes.items()
        }
        self._buckets: dict[str, _Bucket] = {}
        settings = self._store.settings()
        self._plan_limits: dict[str, int] = dict(settings["rate_limits"] or {})
        self._plan_burst: int | None = settings["rate_limit_burst"]
        self._plan_buckets: dict[str, _Bucket] = {}
        self._plans: dict[str, str | None] = {}  # a site's plan never changes once created

    def reload(self) -> None:
        with self._lock:
            self._load(self._store.faults())

    def configure(
        self, global_: Mapping[str, Any] | None, sites: Mapping[str, Mapping[str, Any]] | None
    ) -> None:
        """Replace the configuration (a missing part keeps what is set now)."""
        current = self.snapshot()
        new_global = validate(global_, "global") if global_ is not None else current["global"]
        if sites is not None:
            new_sites = {site: validate(c, f"sites.{site}") for site, c in sites.items()}
        else:
            new_sites = current["sites"]
        scopes = {GLOBAL: new_global} if new_global else {}
        scopes.update({site: c for site, c in new_sites.items() if c})
        with self._lock:
            self._store.save_faults(scopes)
            self._load(scopes)

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            scopes = dict(self._scopes)
        return {
            "global": scopes.pop(GLOBAL, {}),
            "sites": scopes,
        }

    def decide(self, site: str | None) -> Decision:
        if self._plan_limits and site is not None:
            wait = self._plan_limited(site)
            if wait is not None:
                return Decision(status=429, retry_after_s=wait, fault="plan_rate_limit")
        if not self._scopes:
            return Decision()
        with self._lock:
            scope = site if site in self._scopes else GLOBAL
            config = {**self._scopes.get(GLOBAL, {}), **self._scopes.get(site or GLOBAL, {})}
            if not config:
                return Decision()
            rng = self._random.setdefault(scope, random.Random(config.get("seed")))
            draw, jitter = rng.random(), rng.random()
            limited = self._limited(site, config)
        decision = Decision()
        faults: list[str] = []
        latency = config.get("latency_ms", 0.0) + jitter * config.get("latency_jitter_ms", 0.0)
        if latency > 0:
            decision.delay_s = latency / 1000
            faults.append("latency")
        retry_after = int(config.get("retry_after_s", 1))
        if limited:
            decision.status, decision.retry_after_s = 429, retry_after
            faults.append("rate_limit")
        else:
            kind, within = _slice(draw, config)
            if kind == "timeout_rate":
                decision.timeout_s = config.get("timeout_s", 30.0)
                faults.append("timeout")
            elif kind == "rate_429":
                decision.status, decision.retry_after_s = 429, retry_after
                faults.append("rate_429")
            elif kind == "error_rate":
                decision.status = 503 if within < 0.5 else 500
                faults.append(f"error_{decision.status}")
            elif kind == "lost_response_rate":
                decision.lose_response = True
                faults.append("lost_response")
        decision.fault = "+".join(faults) or None
        return decision

    def _plan_limited(self, site: str) -> int | None:
        """Chargebee's per-site limit for the site's plan: None (go on) or the Retry-After."""
        if self._plans.get(site) is None:  # a site created later is looked up again
            self._plans[site] = self._store.plan_of(site)
        per_minute = self._plan_limits.get(self._plans[site] or "")
        if per_minute is None:
            return None
        with self._lock:
            bucket = self._plan_buckets.get(site)
            if bucket is None:
                bucket = self._plan_buckets[site] = _Bucket(per_minute, self._plan_burst)
            return None if bucket.take() else bucket.wait_s()

    def _limited(self, site: str | None, config: Mapping[str, Any]) -> bool:
        per_minute = int(config.get("rate_limit_per_minute", 0))
        if per_minute <= 0 or site is None:
            return False
        bucket = self._buckets.get(site)
        if bucket is None or bucket.capacity != per_minute:
            bucket = self._buckets[site] = _Bucket(per_minute)
        return not bucket.take()


__all__ = [
    "FIELDS",
    "GLOBAL",
    "RATES",
    "Decision",
    "FaultConfigError",
    "Faults",
    "validate",
]
