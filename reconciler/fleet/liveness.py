"""Whether the reconciler is still finishing passes: what `/healthz` answers a probe.

A reconciler whose passes stopped finishing (wedged on a lock, a peer that never
answers) still answers HTTP; only this tells a liveness probe it should be restarted.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

# /healthz turns unhealthy when no pass finished for this many intervals.
STALE_INTERVALS = 3


@dataclass
class Liveness:
    """When the reconciler last finished a pass, for `/healthz`.

    Healthy until `max_age_s` (STALE_INTERVALS x interval) passes without a pass; the
    first pass gets the same time from the start.
    """

    interval_s: float
    started_at: float = field(default_factory=time.time)
    last_pass_at: float | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def max_age_s(self) -> float:
        return STALE_INTERVALS * self.interval_s

    def pass_finished(self, at: float | None = None) -> None:
        with self._lock:
            self.last_pass_at = time.time() if at is None else at

    def check(self, now: float) -> tuple[bool, dict[str, float | None]]:
        with self._lock:
            since = self.last_pass_at if self.last_pass_at is not None else self.started_at
            last = self.last_pass_at
        age = max(0.0, now - since)
        detail = {"last_pass_at": last, "age_s": round(age, 3), "max_age_s": self.max_age_s}
        return age <= self.max_age_s, detail


__all__ = [
    "STALE_INTERVALS",
    "Liveness",
]
