"""The small state file that makes a reconciler remember across passes and restarts.

It holds only what the config cannot tell: which sites were managed (to find orphans, with
their last spec so a `deletionPolicy: disconnect` can still be honoured), a short per-site
drift history (to flag sites that keep drifting back), and retry backoff. Specs hold
credential *references* only, so the file never contains a key. Written atomically (temp
file in the same directory, fsync, os.replace) under a lock, so a crash or a second
reconciler never leaves half a file.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import tempfile
import time
from collections.abc import Collection, Iterator, Mapping, MutableMapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from reconciler.errors import StateFileError
from reconciler.fleet.lock import open_lock_file
from reconciler.fleet.site_file import SiteFile, entry_text
from reconciler.fleet.site_state import (
    DEFAULT_MAX_BACKOFF_PASSES,
    FLAP_THRESHOLD,
    HISTORY_LIMIT,
    SiteState,
    backoff_passes,
    spec_hash,
    spec_text,
)
from reconciler.fleet.state_schema import StateShapeError, read_state
from reconciler.report.json_report import RawJSON, write_json

STATE_FORMAT = "brightback-gitops/state/v1"
STATE_FILE = "state.json"
REPORT_FILE = "last-report.json"


# Above this many sites the state file and last report are written on one line: the C
# JSON encoder only runs without indentation, and indenting a big fleet's file costs
# several times the time to write while nobody reads it by eye (`brightback status`
# and the page do).
PRETTY_MAX_SITES = 200


def write_json_atomic(path: Path, data: Mapping[str, Any], *, pretty: bool = True) -> None:
    """Replace `path` with `data` in one step: readers see the old or the new file, never
    a partial one (the status page reads while we write). `pretty=False`: compact, and
    streamed at C-encoder speed (`iter_json`) for big fleets."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            if pretty:
                json.dump(data, handle, indent=2, sort_keys=True)
            else:
                write_json(data, handle, sort_keys=True)
            handle.write("\n")
            handle.flush()
            os.fsync(handle.fileno())
        Path(tmp).replace(path)  # os.replace: atomic within one filesystem
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            Path(tmp).unlink()
        raise


class _LazySiteEntries(Mapping[str, Any]):
    """A fleet's state-file entries in site order, each made (or copied, from a
    `SiteFile`) when `iter_json` reads it; `left_out` sites are dropped."""

    def __init__(
        self,
        sites: Mapping[str, SiteState],
        pending: SiteFile | None = None,
        left_out: Collection[str] = (),
    ) -> None:
        self._sites = sites
        self._pending = pending
        names = set(sites) if pending is None else set(sites) | set(pending)
        self._order = sorted(names.difference(left_out))

    def __getitem__(self, site: str) -> Any:
        if self._pending is not None and site in self._pending:
            return self._pending.text(site)
        return entry_text(self._sites, site)

    def __iter__(self) -> Iterator[str]:
        return iter(self._order)

    def __len__(self) -> int:
        return len(self._order)


@dataclass
class FleetState:
    passes: int = 0
    # By Chargebee site: a `SiteFile` when loaded (kept on disk), a dict when built.
    sites: MutableMapping[str, SiteState] = field(default_factory=dict)
    writer: dict[str, Any] = field(default_factory=dict)  # lease note of the last writer

    def to_dict(self, *, lazy: bool = False) -> dict[str, Any]:
        """The state file's document; `lazy`: each site's entry is built as it is written
        and dropped (a 10,000-site state as dicts is tens of MB at the end of a pass)."""
        sites: Mapping[str, Any] = (
            _LazySiteEntries(self.sites)
            if lazy
            else {site: s.to_dict() for site, s in sorted(self.sites.items())}
        )
        return {
            "format": STATE_FORMAT,
            "passes": self.passes,
            "writer": self.writer,
            "sites": sites,
        }


def _stamp(stat: os.stat_result) -> tuple[int, ...]:
    """What changes when a writer replaces the file (a new inode) or edits it in place."""
    return (stat.st_dev, stat.st_ino, stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns)


class StateStore:
    """The state directory: state file, last report, and per-site lock files."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.path = directory / STATE_FILE
        self.report_path = directory / REPORT_FILE
        self.loaded_stamp: tuple[int, ...] | None = None  # the file `load` last read

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """Serialise read-modify-write of the state file between reconcilers."""
        self.directory.mkdir(parents=True, exist_ok=True)
        self._check_owner()
        with open_lock_file(self.directory / "state.lock") as handle:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle.fileno(), fcntl.LOCK_UN)

    def _check_owner(self) -> None:
        """Refuse a state directory another user owns: whoever owns it can plant links and
        files the reconciler would then trust or write through."""
        owner = self.directory.stat().st_uid
        if owner != os.geteuid():
            raise StateFileError(
                f"state directory {self.directory} belongs to uid {owner}, not to this user "
                f"(uid {os.geteuid()}); use a directory of your own (--state-dir)"
            )

    def clean_orphaned_temp_files(self, older_than_s: float = 600.0) -> list[str]:
        """Remove what an atomic write killed midway (kill -9) left behind: `.NAME.*.tmp`
        files older than `older_than_s` (a younger one may be another writer's, live)."""
        removed: list[str] = []
        cutoff = time.time() - older_than_s
        try:
            entries = list(os.scandir(self.directory))
        except FileNotFoundError:
            return removed
        for entry in entries:
            if not (entry.name.startswith(".") and entry.name.endswith(".tmp")):
                continue
            with contextlib.suppress(OSError):
                if entry.is_file(follow_symlinks=False) and entry.stat().st_mtime < cutoff:
                    Path(entry.path).unlink()
                    removed.append(entry.name)
        return removed

    def load(self) -> FleetState:
        """The state as last saved, its sites kept on disk (`SiteFile`); StateFileError,
        before any write, if the file is not one we wrote (wrong types, not UTF-8, nested
        too deep: see `read_state`)."""
        self.clean_orphaned_temp_files()
        sites = SiteFile()
        try:
            with self.path.open("rb") as handle:
                top = read_state(handle, sites.put_text)
                self.loaded_stamp = _stamp(os.fstat(handle.fileno()))
        except FileNotFoundError:
            sites.close()
            self.loaded_stamp = None
            return FleetState()
        except OSError as exc:
            sites.close()
            raise self._refusal(f"cannot read it: {exc.strerror}") from None
        except StateShapeError as exc:
            sites.close()
            raise self._refusal(str(exc)) from None
        return FleetState(passes=int(top["passes"]), sites=sites, writer=dict(top["writer"]))

    def unchanged_since_load(self) -> bool:
        """Whether the file is still the one `load` read (no other writer since): then
        the loaded sites can be merged without reading the file again."""
        try:
            now: tuple[int, ...] | None = _stamp(self.path.stat())
        except FileNotFoundError:
            now = None
        return self.loaded_stamp is not None and now == self.loaded_stamp

    def _refusal(self, why: str) -> StateFileError:
        return StateFileError(
            f"state file {self.path} is unreadable ({why}); restore it, or move it "
            "aside to start over (orphans of earlier passes will not be known)"
        )

    def save(self, state: FleetState) -> None:
        pretty = len(state.sites) <= PRETTY_MAX_SITES
        write_json_atomic(self.path, state.to_dict(lazy=not pretty), pretty=pretty)

    def save_merged(
        self, state: FleetState, pending: SiteFile, left_out: Collection[str] = ()
    ) -> None:
        """Save `state` with a pass's `pending` entries over it and without the
        `left_out` sites, streamed: entries kept on disk are copied, never parsed."""
        merged = _LazySiteEntries(state.sites, pending, left_out)
        pretty = len(merged) <= PRETTY_MAX_SITES
        sites: Mapping[str, Any] = merged
        if pretty:  # indented with json.dump: plain dicts
            sites = {
                site: json.loads(entry) if isinstance(entry, RawJSON) else entry
                for site, entry in merged.items()
            }
        document = {**state.to_dict(lazy=True), "sites": sites}
        write_json_atomic(self.path, document, pretty=pretty)

    def write_report(self, report: Mapping[str, Any]) -> None:
        sites = report.get("sites")
        pretty = not isinstance(sites, Sequence) or len(sites) <= PRETTY_MAX_SITES
        write_json_atomic(self.report_path, report, pretty=pretty)


__all__ = [
    "DEFAULT_MAX_BACKOFF_PASSES",
    "FLAP_THRESHOLD",
    "HISTORY_LIMIT",
    "PRETTY_MAX_SITES",
    "REPORT_FILE",
    "STATE_FILE",
    "STATE_FORMAT",
    "FleetState",
    "SiteFile",
    "SiteState",
    "StateFileError",
    "StateStore",
    "backoff_passes",
    "spec_hash",
    "spec_text",
    "write_json_atomic",
]
