"""Emulator settings that model documented Chargebee behaviour (not faults): how long an
idempotency key is honoured, and the per-site request limits of each plan.

Chargebee honours a `chargebee-idempotency-key` for a limited window (30 minutes is the
documented figure) and limits every site to a number of requests a minute that depends on
its plan (150 on test sites and the smallest live plans, 1,000 and 3,500 on larger ones),
answering 429 beyond it. Both are set here, stored with the emulator's state, and changed
by `--settings` or `POST /_admin/settings`; tests shorten the window to seconds.

Rate limits are off unless `rate_limits` is set, so the test suite's own bursts against one
site are not throttled; `{"rate_limits": "chargebee"}` switches on the documented table.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

IDEMPOTENCY_WINDOW_S = 1800  # Chargebee's documented window: 30 minutes
PLANS = ("test", "live", "starter", "performance", "enterprise")
# Requests per minute per site, by plan (`live` without a tier is the smallest plan).
CHARGEBEE_RATE_LIMITS: dict[str, int] = {
    "test": 150,
    "live": 150,
    "starter": 150,
    "performance": 1000,
    "enterprise": 3500,
}
DEFAULTS: dict[str, Any] = {
    "idempotency_window_s": IDEMPOTENCY_WINDOW_S,
    "rate_limits": None,  # None: no plan limit; else {plan: requests per minute}
    "rate_limit_burst": None,  # bucket size; None: a full minute's worth
}


class SettingsError(ValueError):
    """A settings document with an unknown field or an impossible value."""


def _positive_int(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise SettingsError(f"{where}: must be a positive integer")
    return value


def validate(update: Mapping[str, Any], current: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """`current` (defaults if None) with `update` applied; a null value restores a default."""
    merged = dict(DEFAULTS if current is None else current)
    for name, value in update.items():
        if name not in DEFAULTS:
            raise SettingsError(f"settings: unknown field {name!r}")
        if value is None:
            merged[name] = DEFAULTS[name]
        elif name in ("idempotency_window_s", "rate_limit_burst"):
            merged[name] = _positive_int(value, name)
        elif value == "chargebee":
            merged[name] = dict(CHARGEBEE_RATE_LIMITS)
        elif isinstance(value, Mapping):
            limits = {}
            for plan, per_minute in value.items():
                if plan not in PLANS:
                    raise SettingsError(f"rate_limits.{plan}: plan must be one of {PLANS}")
                limits[str(plan)] = _positive_int(per_minute, f"rate_limits.{plan}")
            merged[name] = limits
        else:
            raise SettingsError('rate_limits: must be {plan: per_minute}, "chargebee" or null')
    return merged


__all__ = [
    "CHARGEBEE_RATE_LIMITS",
    "DEFAULTS",
    "IDEMPOTENCY_WINDOW_S",
    "PLANS",
    "SettingsError",
    "validate",
]
