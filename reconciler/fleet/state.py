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
import hashlib
import json
import os
import tempfile
import time
import weakref
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from reconciler.errors import StateFileError
from reconciler.fleet.lock import open_lock_file
from reconciler.fleet.state_schema import StateShapeError, parse_state
from reconciler.report.json_report import RawJSON, compact_json, write_json

STATE_FORMAT = "brightback-gitops/state/v1"
STATE_FILE = "state.json"
REPORT_FILE = "last-report.json"
HISTORY_LIMIT = 20  # drift events kept per site
FLAP_THRESHOLD = 2  # drift found in this many passes of the history: "keeps drifting back"
DEFAULT_MAX_BACKOFF_PASSES = 8


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


def spec_text(spec: Mapping[str, Any]) -> str:
    """A document as canonical compact JSON: what the state keeps in memory and hashes."""
    return json.dumps(spec, sort_keys=True, separators=(",", ":"))


def spec_hash(spec: Mapping[str, Any] | str) -> str:
    """A stable digest of a document: a changed spec retries a backing-off site at once."""
    text = spec if isinstance(spec, str) else spec_text(spec)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def backoff_passes(failures: int, cap: int = DEFAULT_MAX_BACKOFF_PASSES) -> int:
    """Passes to skip after `failures` consecutive failures: 0, 1, 3, 7, ... capped.

    The first failure is retried on the very next pass (a transient error heals at once);
    a site that keeps failing is tried less and less often, but never given up on.
    """
    if failures <= 0:
        return 0
    return min(cap, int(2 ** (failures - 1)) - 1)


@dataclass
class SiteState:
    """What the reconciler remembers about one Chargebee site."""

    site: str
    name: str
    # desired_to_document() of the last config, as canonical JSON text: a parsed document
    # costs over twice its text's memory (bench/README.md), and it is only parsed for an
    # orphan.
    spec_json: str | None = None
    spec_hash: str | None = None
    managed: bool = True
    last_pass: int = 0
    last_version: int | None = None  # the live version when this pass left the site
    in_sync: bool = False  # the site matched its spec at last_version (drift after is news)
    last_seen_at: float | None = None
    last_success_at: float | None = None
    failures: int = 0  # consecutive failed passes
    retry_after_pass: int = 0  # skipped until the pass number is greater than this
    last_error: str | None = None
    history: list[dict[str, Any]] = field(default_factory=list)

    # ------------------------------------------------------------------ backoff

    @property
    def in_sync_version(self) -> int | None:
        """The version at which the site was last seen in sync, if it was."""
        return self.last_version if self.in_sync else None

    def eligible(self, pass_no: int, current_spec_hash: str | None = None) -> bool:
        """Whether this pass should try the site (a changed spec is always tried)."""
        if current_spec_hash is not None and current_spec_hash != self.spec_hash:
            return True
        return pass_no > self.retry_after_pass

    def record_failure(self, pass_no: int, error: str, cap: int) -> None:
        self.failures += 1
        self.last_error = error
        self.retry_after_pass = pass_no + backoff_passes(self.failures, cap)

    def record_success(self, now: float) -> None:
        self.failures = 0
        self.retry_after_pass = 0
        self.last_error = None
        self.last_success_at = now

    # ------------------------------------------------------------------ drift history

    def record_drift(self, pass_no: int, at: float, fields: list[str], resolution: str) -> None:
        self.history.append(
            {"pass": pass_no, "at": at, "fields": sorted(fields), "resolution": resolution}
        )
        del self.history[:-HISTORY_LIMIT]

    def note_drift(self, pass_no: int, at: float, resolved: list[tuple[str, str]]) -> None:
        """Record this pass's drift (field, resolution) unless it is the same unresolved
        drift as last pass: drift that stays is one event, drift that comes back is two."""
        if not resolved:
            return
        fields = sorted(f for f, _ in resolved)
        hows = {how for _, how in resolved}
        worst = "corrected" if hows == {"corrected"} else sorted(hows - {"corrected"})[0]
        previous = self.history[-1] if self.history else None
        if (
            previous is not None
            and previous["resolution"] != "corrected"
            and previous["fields"] == fields
        ):
            return
        self.record_drift(pass_no, at, fields, worst)

    def flapping(self) -> dict[str, Any] | None:
        """How often and since when the site drifted, when it keeps drifting back."""
        if len(self.history) < FLAP_THRESHOLD:
            return None
        fields = sorted({f for entry in self.history for f in entry["fields"]})
        return {
            "count": len(self.history),
            "since": self.history[0]["at"],
            "since_pass": self.history[0]["pass"],
            "fields": fields,
        }

    @property
    def spec(self) -> dict[str, Any] | None:
        """The last spec as a document (the state file's format)."""
        if self.spec_json is None:
            return None
        document: dict[str, Any] = json.loads(self.spec_json)
        return document

    def to_dict(self) -> dict[str, Any]:
        return {
            "site": self.site,
            "name": self.name,
            "spec": self.spec,
            "spec_hash": self.spec_hash,
            "managed": self.managed,
            "last_pass": self.last_pass,
            "last_version": self.last_version,
            "in_sync": self.in_sync,
            "last_seen_at": self.last_seen_at,
            "last_success_at": self.last_success_at,
            "failures": self.failures,
            "retry_after_pass": self.retry_after_pass,
            "last_error": self.last_error,
            "history": list(self.history),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SiteState:
        known = {k: data[k] for k in cls.__dataclass_fields__ if k in data}
        spec = data.get("spec")
        if isinstance(spec, Mapping):
            known["spec_json"] = spec_text(spec)
        return cls(**known)


class _LazySiteEntries(Mapping[str, dict[str, Any]]):
    """`{site: SiteState.to_dict()}`, each entry made when `iter_json` reads it."""

    def __init__(self, sites: Mapping[str, SiteState]) -> None:
        self._sites = sites

    def __getitem__(self, site: str) -> dict[str, Any]:
        return self._sites[site].to_dict()

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._sites))

    def __len__(self) -> int:
        return len(self._sites)


class PendingSites:
    """The sites a pass has settled, as their state-file entries in a temporary file.

    The directory store writes the state file once, at the end of the pass; holding every
    settled `SiteState` until then made memory grow with the fleet (~1 KB a site, issue
    17). Each entry is kept as the exact compact text the state file will hold (the
    writer copies it), and only its offset stays in memory. A site settled twice keeps
    its last entry. The file is unnamed, mode 0600, and holds what the state file holds:
    credential references, never a key.
    """

    def __init__(self) -> None:
        self._file = tempfile.TemporaryFile(prefix="brightback-state-")  # noqa: SIM115
        self._closer = weakref.finalize(self, self._file.close)
        self._end = 0
        self._where: dict[str, tuple[int, int]] = {}

    def add(self, state: SiteState) -> None:
        data = compact_json(state.to_dict(), sort_keys=True).encode()
        os.pwrite(self._file.fileno(), data, self._end)
        self._where[state.site] = (self._end, len(data))
        self._end += len(data)

    def __contains__(self, site: object) -> bool:
        return site in self._where

    def drop(self, site: str) -> None:
        self._where.pop(site, None)

    def __len__(self) -> int:
        return len(self._where)

    def sites(self) -> set[str]:
        return set(self._where)

    def text(self, site: str) -> RawJSON:
        offset, length = self._where[site]
        return RawJSON(os.pread(self._file.fileno(), length, offset).decode())

    def close(self) -> None:
        self._closer()
        self._where = {}


class _MergedSiteEntries(Mapping[str, Any]):
    """The state file's sites after a pass: the pass's own entries copied as text, the
    others (another reconciler's, or sites this pass did not touch) from the file."""

    def __init__(self, kept: Mapping[str, SiteState], pending: PendingSites) -> None:
        self._kept = kept
        self._pending = pending
        self._order = sorted(pending.sites() | set(kept))

    def __getitem__(self, site: str) -> Any:
        if site in self._pending:
            return self._pending.text(site)
        return self._kept[site].to_dict()

    def __iter__(self) -> Iterator[str]:
        return iter(self._order)

    def __len__(self) -> int:
        return len(self._order)


@dataclass
class FleetState:
    passes: int = 0
    sites: dict[str, SiteState] = field(default_factory=dict)  # by Chargebee site
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

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FleetState:
        if data.get("format") != STATE_FORMAT:
            raise ValueError(f"not a {STATE_FORMAT} state file")
        sites = {
            site: SiteState.from_dict(entry) for site, entry in dict(data.get("sites", {})).items()
        }
        return cls(passes=int(data.get("passes", 0)), sites=sites, writer=dict(data["writer"]))


class StateStore:
    """The state directory: state file, last report, and per-site lock files."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.path = directory / STATE_FILE
        self.report_path = directory / REPORT_FILE

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
        """The state as last saved; StateFileError, before any write, if the file is not
        one we wrote (wrong types, not UTF-8, nested too deep: see `parse_state`)."""
        self.clean_orphaned_temp_files()
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return FleetState()
        except OSError as exc:
            raise self._refusal(f"cannot read it: {exc.strerror}") from None
        try:
            return FleetState.from_dict(parse_state(data))
        except StateShapeError as exc:
            raise self._refusal(str(exc)) from None
        except (ValueError, KeyError, TypeError) as exc:
            raise self._refusal(str(exc)) from None

    def _refusal(self, why: str) -> StateFileError:
        return StateFileError(
            f"state file {self.path} is unreadable ({why}); restore it, or move it "
            "aside to start over (orphans of earlier passes will not be known)"
        )

    def save(self, state: FleetState) -> None:
        pretty = len(state.sites) <= PRETTY_MAX_SITES
        write_json_atomic(self.path, state.to_dict(lazy=not pretty), pretty=pretty)

    def save_merged(self, state: FleetState, pending: PendingSites) -> None:
        """Save `state` with a pass's `pending` entries over it, streamed: the pending
        entries are copied from their file, never held as objects."""
        merged = _MergedSiteEntries(state.sites, pending)
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
    "PendingSites",
    "SiteState",
    "StateFileError",
    "StateStore",
    "backoff_passes",
    "spec_hash",
    "spec_text",
    "write_json_atomic",
]
