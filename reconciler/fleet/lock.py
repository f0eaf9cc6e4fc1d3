"""One applier per site: two reconcilers on the same state directory never write to the
same site at once.

A non-blocking `flock` on `<state-dir>/locks/<site>.lock`, held for the whole apply of the
site. The kernel drops it when the process dies, so a crashed reconciler never leaves a
stale lock. The holder writes a lease note (pid, host, since) into the file so the other
one can say who has the site, and on release leaves a release note (released_at): the
next holder learns from it whether another reconciler applied the site after it read it,
and only then reads the site again. The control plane's version check stays the last line
of defence for reconcilers that do not share a state directory.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from reconciler.errors import BrightbackError, SiteLocked

# Slack for clocks of hosts sharing a state directory: a release note this close to our
# read counts as "after it" (a needless re-read costs one request; a missed one, a 409).
CLOCK_SKEW_S = 2.0


# A lease note is a few dozen bytes; anything past this is not a note of ours.
_NOTE_MAX_BYTES = 4096


def _read_note(fd: int) -> dict[str, Any]:
    try:
        data = json.loads(os.pread(fd, _NOTE_MAX_BYTES, 0) or b"{}")
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


@dataclass(frozen=True)
class Lease:
    """A held site lock and the note the previous holder left in it."""

    site: str
    previous: dict[str, Any]

    def applied_since(self, read_at: float) -> bool:
        """Whether another holder may have written the site after `read_at` (epoch s).

        No note: nobody held the lock before. A note without `released_at`: a holder died
        mid-apply, its writes are unknown. A release at or after the read (less the clock
        slack): someone applied the site since. Each means the read may be stale.
        """
        if not self.previous:
            return False
        released = self.previous.get("released_at")
        if not isinstance(released, int | float):
            return True
        return released >= read_at - CLOCK_SKEW_S


def _write_note(fd: int, note: dict[str, Any]) -> None:
    """Replace the note in place: a reader that catches it half-written gets no JSON, and
    reads that as no note (as it would an empty file)."""
    data = json.dumps(note).encode()
    os.pwrite(fd, data, 0)
    os.ftruncate(fd, len(data))


def open_lock_fd(path: Path | str) -> int:
    """Open (or create, mode 0600) a lock file without following a symlink: a link
    planted at `locks/<site>.lock` would otherwise have any file it points at truncated by
    the lease note. A plain descriptor: a site lock costs a few system calls, no file
    object (onboarding takes one per site)."""
    try:
        return os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise LockFileRefused(
                f"{path} is a symbolic link; refusing to write through it"
            ) from None
        raise


def open_lock_file(path: Path) -> IO[str]:
    """`open_lock_fd` as a file object, for a `with` block."""
    return os.fdopen(open_lock_fd(path), "r+", encoding="utf-8")


class LockFileRefused(BrightbackError):
    """A lock file that is not a plain file of ours (a symlink planted in its place)."""


@contextlib.contextmanager
def site_lock(directory: Path, site: str, pass_no: int = 0) -> Iterator[Lease]:
    """Hold the site's lock or raise `SiteLocked` at once (never wait: the other
    reconciler is converging the site already, and this pass has a fleet to do)."""
    path = f"{directory}/locks/{site}.lock"  # a string: no path object per site
    try:
        fd = open_lock_fd(path)
    except FileNotFoundError:  # the first lock in this directory
        (Path(directory) / "locks").mkdir(parents=True, exist_ok=True)
        fd = open_lock_fd(path)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise SiteLocked(site, _read_note(fd)) from None
        lease = Lease(site, _read_note(fd))
        me = {"pid": os.getpid(), "host": socket.gethostname(), "pass": pass_no}
        try:
            _write_note(fd, {**me, "since": time.time()})
            yield lease
        finally:
            _write_note(fd, {**me, "released_at": time.time()})
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


__all__ = [
    "CLOCK_SKEW_S",
    "Lease",
    "SiteLocked",
    "site_lock",
]
