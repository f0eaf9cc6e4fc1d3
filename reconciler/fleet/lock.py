"""One applier per site: two reconcilers on the same state directory never write to the
same site at once.

A non-blocking `flock` on `<state-dir>/locks/<site>.lock`, held for the whole apply of the
site. The kernel drops it when the process dies, so a crashed reconciler never leaves a
stale lock. The holder writes a lease note (pid, host, since) into the file so the other
one can say who has the site. The control plane's version check stays the last line of
defence for reconcilers that do not share a state directory.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any


class SiteLocked(Exception):
    """Another process holds the site's lock."""

    def __init__(self, site: str, holder: dict[str, Any]) -> None:
        self.site = site
        self.holder = holder
        who = f"pid {holder.get('pid', '?')} on {holder.get('host', '?')}" if holder else "?"
        super().__init__(f"site {site} is being applied by another reconciler ({who})")


def _read_note(handle: IO[str]) -> dict[str, Any]:
    try:
        handle.seek(0)
        data = json.loads(handle.read() or "{}")
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


@contextlib.contextmanager
def site_lock(directory: Path, site: str, pass_no: int = 0) -> Iterator[None]:
    """Hold the site's lock or raise `SiteLocked` at once (never wait: the other
    reconciler is converging the site already, and this pass has a fleet to do)."""
    locks = directory / "locks"
    locks.mkdir(parents=True, exist_ok=True)
    with (locks / f"{site}.lock").open("a+", encoding="utf-8") as handle:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise SiteLocked(site, _read_note(handle)) from None
        try:
            handle.seek(0)
            handle.truncate()
            note = {"pid": os.getpid(), "host": socket.gethostname(), "since": time.time()}
            handle.write(json.dumps({**note, "pass": pass_no}))
            handle.flush()
            yield
        finally:
            handle.seek(0)
            handle.truncate()
            handle.flush()
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
