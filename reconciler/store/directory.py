"""The state store in a local directory (`--state-dir`, the default `.brightback`).

The state file, the last report and the site lock files stay exactly what they were
(reconciler/fleet/state.py and lock.py do the file work, schema checks included); this
class only puts them behind the `Store` interface. Sites are buffered (in a temporary
file, so memory does not grow with the fleet) and written in one atomic replace at the end
of the pass, so a kill -9 loses that pass's memory and nothing else: the file is whole,
from the pass before. Shards on one machine share the directory:
each keeps its own `last-report.shard-I-of-N.json`, and the fleet-wide destructive counts
are small files under `runs/`.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from reconciler.fleet.lock import Lease, site_lock
from reconciler.fleet.shard import Shard
from reconciler.fleet.state import REPORT_FILE, FleetState, SiteFile, SiteState, StateStore
from reconciler.fleet.state import write_json_atomic as _write_json_atomic
from reconciler.store._base import PassNote
from reconciler.store.document_cache import CACHE_FILE, FileDocumentCache

_SHARD_REPORT = re.compile(r"^last-report\.shard-(\d+)-of-(\d+)\.json$")
_SAFE_RUN_ID = re.compile(r"[^A-Za-z0-9._-]")


def shard_report_name(shard: Shard) -> str:
    if not shard.sharded:
        return REPORT_FILE
    return f"last-report.shard-{shard.index}-of-{shard.count}.json"


class DirectoryStore:
    """Today's `.brightback` directory behind the `Store` interface."""

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)
        self.files = StateStore(self.directory)
        self._pending = SiteFile()
        self._loaded: FleetState | None = None  # the last `load`, while the file is its
        self._guard = threading.Lock()
        self._documents = FileDocumentCache(self.directory / CACHE_FILE)

    @property
    def where(self) -> str:
        return str(self.directory)

    def document_cache(self) -> FileDocumentCache:
        return self._documents

    def load(self) -> FleetState:
        with self.files.locked():
            self._loaded = self.files.load()  # its temporary file closes when unused
            return self._loaded

    def record_site(self, state: SiteState) -> None:
        with self._guard:
            self._pending[state.site] = state

    def record_site_text(self, site: str, text: str) -> None:
        with self._guard:
            self._pending.put_text(site, text)

    def finish_pass(
        self, note: PassNote, removed: Collection[str], orphans: Sequence[Mapping[str, Any]]
    ) -> None:
        """Merge this pass's sites into the file as it is now (another reconciler may have
        written other sites meanwhile; if none has, the sites `load` read are the file's,
        and it is not read again). Orphans live in the report, as they always have."""
        with self._guard:
            pending, self._pending = self._pending, SiteFile()
        try:
            with self.files.locked():
                loaded = self._loaded
                if loaded is not None and self.files.unchanged_since_load():
                    current = loaded
                else:
                    current = self.files.load()
                merged = FleetState(
                    passes=max(current.passes, note.pass_no),
                    sites=current.sites,
                    writer=note.writer(),
                )
                self.files.save_merged(merged, pending, left_out=removed)
                if current is not loaded and isinstance(current.sites, SiteFile):
                    current.sites.close()
        finally:
            pending.close()

    @contextmanager
    def site_lock(self, site: str, pass_no: int) -> Iterator[Lease]:
        with site_lock(self.directory, site, pass_no) as lease:
            yield lease

    def write_report(self, report: Mapping[str, Any], shard: Shard) -> None:
        if not shard.sharded:
            self.files.write_report(report)
            return
        sites = report.get("sites")
        pretty = not isinstance(sites, Sequence) or len(sites) <= 200
        _write_json_atomic(self.directory / shard_report_name(shard), report, pretty=pretty)

    def read_reports(self) -> list[dict[str, Any]]:
        """The newest report decides the shape: unsharded, or the N shard files of its N."""
        candidates: list[tuple[float, Path, int]] = []  # (mtime, path, shard count)
        single = self.directory / REPORT_FILE
        if single.is_file():
            candidates.append((single.stat().st_mtime, single, 1))
        if self.directory.is_dir():
            for path in self.directory.iterdir():
                match = _SHARD_REPORT.match(path.name)
                if match is not None:
                    candidates.append((path.stat().st_mtime, path, int(match.group(2))))
        if not candidates:
            return []
        candidates.sort(key=lambda c: c[0], reverse=True)
        count = candidates[0][2]
        return [_read_object(path) for _, path, n in candidates if n == count]

    def has_report(self) -> bool:
        if (self.directory / REPORT_FILE).is_file():
            return True
        return self.directory.is_dir() and any(
            _SHARD_REPORT.match(p.name) for p in self.directory.iterdir()
        )

    def _runs(self, run_id: str) -> Path:
        return self.directory / "runs" / _SAFE_RUN_ID.sub("_", run_id)

    def publish_count(self, run_id: str, shard: Shard, destructive: int) -> None:
        note = {"index": shard.index, "count": shard.count, "destructive": destructive}
        _write_json_atomic(self._runs(run_id) / f"{shard.index}-of-{shard.count}.json", note)

    def shard_counts(self, run_id: str, count: int) -> dict[int, int]:
        found: dict[int, int] = {}
        folder = self._runs(run_id)
        for index in range(count):
            path = folder / f"{index}-of-{count}.json"
            try:
                found[index] = int(json.loads(path.read_text(encoding="utf-8"))["destructive"])
            except (FileNotFoundError, ValueError, KeyError, TypeError):
                continue
        return found

    def close(self) -> None:
        """Lock files are released by their `with` blocks; only the buffer of settled
        sites (a temporary file) is held between calls."""
        with self._guard:
            self._pending.close()
            self._loaded = None
        self._documents.close()


def _read_object(path: Path) -> dict[str, Any]:
    data = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise ValueError(f"{path} does not hold a JSON object")
    return data


__all__ = [
    "DirectoryStore",
    "shard_report_name",
]
