"""The fleet safety threshold (octoDNS's update/delete thresholds, for disconnects).

A config change that would disconnect a large share of the fleet in one pass is far more
likely a mistake (a deleted directory, a bad merge) than an intent. Above the threshold the
pass applies nothing destructive and says why, unless the operator passes `--force`.
"""

from __future__ import annotations

from dataclasses import dataclass

# Like octoDNS's MIN_EXISTING_RECORDS: in a tiny fleet one site is already many percent,
# so the percentage only applies from this many sites up (the absolute limit always does).
MIN_SITES_FOR_PERCENT = 10


@dataclass(frozen=True)
class SafetyDecision:
    allowed: bool
    destructive_sites: int
    total_sites: int
    reason: str | None = None  # why destructive steps were refused

    @property
    def refused(self) -> bool:
        return not self.allowed


def check_threshold(
    destructive_sites: int,
    total_sites: int,
    *,
    max_percent: float = 10.0,
    max_sites: int | None = None,
    force: bool = False,
) -> SafetyDecision:
    """Decide whether this pass may apply its destructive steps."""
    if destructive_sites == 0 or force:
        return SafetyDecision(True, destructive_sites, total_sites)
    if max_sites is not None and destructive_sites > max_sites:
        return SafetyDecision(
            False,
            destructive_sites,
            total_sites,
            f"{destructive_sites} site(s) would be disconnected, more than "
            f"--max-destructive-sites {max_sites}",
        )
    if total_sites >= MIN_SITES_FOR_PERCENT:
        percent = 100.0 * destructive_sites / total_sites
        if percent > max_percent:
            return SafetyDecision(
                False,
                destructive_sites,
                total_sites,
                f"{destructive_sites} of {total_sites} sites ({percent:.0f}%) would be "
                f"disconnected, more than --max-destructive-percent {max_percent:g}%",
            )
    return SafetyDecision(True, destructive_sites, total_sites)


__all__ = [
    "MIN_SITES_FOR_PERCENT",
    "SafetyDecision",
    "check_threshold",
]
