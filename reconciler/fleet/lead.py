"""How far the config's loader may run ahead of the reads, woken in batches.

The loader and the reads share one GIL. A loader running flat out beside the reads takes
it from them (each read waits a switch interval at every wake-up), so loading stays only
a little ahead: at most `high` loaded sites wait for a worker. It used to be a
`threading.Semaphore` of `high`: once full, every read that started woke the loader to
load one more document, a GIL hand-over each way per site. Measured side by side on the
no-drift scan (bench/README.md, issue 17), those hand-overs cost ~15 % of the pass's CPU
(0.95 against 1.12 ms a site at 10,000 sites, the wall time unchanged). Here the blocked
loader is woken only when the waiting sites have fallen to `low`, and then loads
`high - low` documents in one go.
"""

from __future__ import annotations

import threading

__all__ = ["Lead"]


class Lead:
    """A count of loaded sites waiting for a worker, between `low` and `high`."""

    def __init__(self, high: int, low: int) -> None:
        if not 0 <= low < high:
            raise ValueError(f"need 0 <= low < high (low={low}, high={high})")
        self._changed = threading.Condition(threading.Lock())
        self._waiting = 0
        self._high = high
        self._low = low

    def acquire(self) -> None:
        """Before queueing a loaded site: waits while `high` sites are waiting, and once
        it has waited, until they are down to `low`."""
        with self._changed:
            while self._waiting >= self._high:
                self._changed.wait()
            self._waiting += 1

    def release(self) -> None:
        """A queued site was taken by a worker."""
        with self._changed:
            self._waiting -= 1
            if self._waiting == self._low:
                self._changed.notify()
