"""The interval loop around passes, and a clean stop on SIGTERM/SIGINT.

A signal only sets an event: the pass in flight stops starting new sites, finishes the
ones it is writing to, records state and its report, and the loop ends. The wait between
passes is the same event, so a stop during the wait is immediate. Jitter spreads many
reconcilers (one per team or region) so they do not hit the API in lockstep.
"""

from __future__ import annotations

import errno
import random
import re
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType

_UNITS = {"": 1.0, "ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|)\s*$")
# Go's time.ParseDuration style, as kubectl and Prometheus write it: 1h30m, 2m30s, 1h0m0.5s.
_COMPOUND = re.compile(r"^\s*(?:\d+(?:\.\d+)?(?:ms|h|m|s))+\s*$")
_COMPOUND_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|h|m|s)")


def parse_duration(text: str) -> float:
    """ "10m", "30s", "1h", "1h30m", "0.2s", "45" (seconds) -> seconds (greater than 0)."""
    match = _DURATION.match(text)
    if match is not None:
        seconds = float(match.group(1)) * _UNITS[match.group(2)]
    elif _COMPOUND.match(text):
        seconds = sum(float(n) * _UNITS[unit] for n, unit in _COMPOUND_PART.findall(text))
    else:
        raise ValueError(f"not a duration: {text!r} (use e.g. 30s, 10m, 1h, 1h30m)")
    if seconds <= 0:
        raise ValueError("the interval must be greater than 0")
    return seconds


def parse_jitter(text: str) -> float:
    """ "10%" or "0.1" -> fraction of the interval in [0, 1)."""
    raw = text.strip()
    value = float(raw[:-1]) / 100.0 if raw.endswith("%") else float(raw)
    if not 0 <= value < 1:
        raise ValueError("jitter must be between 0% and 100% (exclusive)")
    return value


def next_wait(interval: float, jitter: float, rng: Callable[[float, float], float]) -> float:
    """The interval, moved by up to +-jitter of itself."""
    return max(0.0, interval * (1.0 + rng(-jitter, jitter)))


@contextmanager
def stop_on_signals(stop: threading.Event) -> Iterator[None]:
    """Turn SIGTERM/SIGINT into `stop` for the duration (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, _frame: FrameType | None) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def failure_kind(exc: BaseException) -> str:
    """A bounded name for why a pass failed, for logs and a metric label: the errno name of
    an OS error (ENOSPC, EMFILE, EROFS...), else `exception`."""
    if not isinstance(exc, OSError):
        return "exception"
    return errno.errorcode.get(exc.errno, "error") if exc.errno is not None else "error"


def run_loop(
    run_once: Callable[[], int],
    *,
    interval: float | None,
    jitter: float,
    stop: threading.Event,
    max_passes: int | None = None,
    rng: Callable[[float, float], float] = random.uniform,
    on_failure: Callable[[Exception], int] | None = None,
    fatal: tuple[type[Exception], ...] = (),
) -> tuple[int, int]:
    """Run passes until stopped, `max_passes` done, or once without an interval.

    A pass that raises (a full disk, no file descriptors left, an answer nobody foresaw)
    is handed to `on_failure`, which reports it and gives the pass's exit code; the next
    pass comes at the next interval as usual, since a daemon that ends on the first bad
    minute heals nothing after it. Only `fatal` errors, those an operator must fix first
    (a damaged state file), end the loop: retrying them would fail the same way each time.

    Returns (exit code of the last pass, passes run).
    """
    code, runs = 0, 0
    while not stop.is_set():
        try:
            code = run_once()
        except fatal:
            raise
        except Exception as exc:
            if on_failure is None:
                raise
            code = on_failure(exc)
        runs += 1
        if interval is None or (max_passes is not None and runs >= max_passes):
            break
        if stop.wait(next_wait(interval, jitter, rng)):
            break
    return code, runs


__all__ = [
    "failure_kind",
    "next_wait",
    "parse_duration",
    "parse_jitter",
    "run_loop",
    "stop_on_signals",
]
