"""A pass's per-site results kept in a temporary file instead of memory.

A fleet pass used to hold every site's `SiteReport` (with its `Live` and `Plan`), its
fleet entry and its labels until the report was written at the end: about 7 KB a site, so
a 50,000-site scan peaked over 400 MB (bench/README.md, issue 17). Here each site's
record is pickled to an unnamed temporary file as soon as the site is finished, and only
its name, Chargebee site and file offset stay in memory (~150 bytes). The report's
renderers, the summary and the JSON writers read the records back one at a time, in the
report's order (by name), so memory stays flat in fleet size.

The file is created by this process, readable only by it (mode 0600, unlinked at once)
and read back by it: pickle is safe here. Reports never hold a key (secrets are redacted
before a report is built), so the file holds nothing the report would not.
"""

from __future__ import annotations

import bisect
import copyreg
import io
import os
import pickle
import tempfile
import threading
import weakref
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, overload

from reconciler.report import SiteReport


@dataclass(frozen=True, slots=True)
class SpooledSite:
    """One site's whole record: its report, its fleet entry (the reconciler's per-site
    section, any object with `to_dict`) and its labels."""

    report: SiteReport
    fleet: Any = None
    labels: Mapping[str, str] | None = None
    # The site's new state, kept here only while the config is still loading (nothing
    # is recorded before the whole config is known valid): see `states`.
    state: Any = None


def _frozen(items: dict[Any, Any]) -> MappingProxyType[Any, Any]:
    return MappingProxyType(items)


def _reduce_mapping_proxy(proxy: MappingProxyType[Any, Any]) -> tuple[Any, tuple[Any, ...]]:
    return _frozen, (dict(proxy),)


class _Pickler(pickle.Pickler):
    """Pickles read-only mappings too (the model freezes its dicts as mapping proxies),
    without registering anything for the rest of the process."""

    dispatch_table = {**copyreg.dispatch_table, MappingProxyType: _reduce_mapping_proxy}


class SiteSpool:
    """Append-only store of `SpooledSite` records; safe to append from many threads.

    `sites()` and `fleet_sites()` are read-only views in report order, valid while the
    spool is open (it closes when it is garbage-collected)."""

    def __init__(self) -> None:
        handle = tempfile.TemporaryFile(prefix="brightback-spool-")  # noqa: SIM115 - kept open
        self._file = handle
        self._fd = handle.fileno()
        self._closer = weakref.finalize(self, handle.close)  # closed with the last view
        self._end = 0
        self._lock = threading.Lock()
        # (name, site, offset, length): a tuple of two strings the pass holds anyway.
        self._index: list[tuple[str, str, int, int]] = []
        self._sorted = True
        self._last: tuple[int, SpooledSite] | None = None  # the record read last
        self.with_fleet = 0  # records that have a fleet entry

    def append(self, record: SpooledSite) -> None:
        buffer = io.BytesIO()
        _Pickler(buffer, protocol=pickle.HIGHEST_PROTOCOL).dump(record)
        data = buffer.getvalue()
        key = (record.report.name, record.report.site)
        with self._lock:
            offset = self._end
            os.pwrite(self._fd, data, offset)
            self._end += len(data)
            if self._index and key < self._index[-1][:2]:
                self._sorted = False
            self._index.append((*key, offset, len(data)))
            self.with_fleet += record.fleet is not None

    def __len__(self) -> int:
        return len(self._index)

    def snapshot(self) -> list[tuple[int, int]]:
        """Where the records appended so far are (offset, length), for `states`."""
        with self._lock:
            return [(offset, length) for _, _, offset, length in self._index]

    def states(self, where: list[tuple[int, int]]) -> Iterator[Any]:
        """The states held by the records at `where`, read back one at a time."""
        for offset, length in where:
            found = self._read(offset, length)
            if found.state is not None:
                yield found.state

    def record(self, position: int) -> SpooledSite:
        """The record at `position` in report order (by name, then site)."""
        self._order()
        last = self._last
        if last is not None and last[0] == position:
            return last[1]  # the fleet view and the labels read the record just read
        _, _, offset, length = self._index[position]
        found = self._read(offset, length)
        self._last = (position, found)
        return found

    def position(self, name: str) -> int | None:
        """Where the (first) site named `name` is in report order."""
        self._order()
        at = bisect.bisect_left(self._index, (name,))
        if at < len(self._index) and self._index[at][0] == name:
            return at
        return None

    def names(self) -> Iterator[str]:
        self._order()
        return (entry[0] for entry in self._index)

    def sites(self) -> SpooledSites:
        return SpooledSites(self)

    def fleet_sites(self) -> SpooledFleetSites:
        return SpooledFleetSites(self)

    def close(self) -> None:
        self._closer()

    def _read(self, offset: int, length: int) -> SpooledSite:
        # Only this process wrote the file (unnamed, 0600): its pickles are our own.
        found: SpooledSite = pickle.loads(os.pread(self._fd, length, offset))  # noqa: S301
        return found

    def _order(self) -> None:
        if not self._sorted:
            with self._lock:
                self._index.sort()
                self._sorted = True
                self._last = None


class SpooledSites(Sequence[SiteReport]):
    """The reports of a spool, by name: what `RunReport.sites` holds for a fleet pass."""

    in_report_order = True  # RunReport keeps it as it is

    def __init__(self, spool: SiteSpool) -> None:
        self.spool = spool

    def __len__(self) -> int:
        return len(self.spool)

    @overload
    def __getitem__(self, index: int) -> SiteReport: ...

    @overload
    def __getitem__(self, index: slice) -> list[SiteReport]: ...

    def __getitem__(self, index: int | slice) -> SiteReport | list[SiteReport]:
        if isinstance(index, slice):
            return [self.spool.record(i).report for i in range(len(self))[index]]
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError(index)
        return self.spool.record(index).report

    def __iter__(self) -> Iterator[SiteReport]:
        for position in range(len(self)):
            yield self.spool.record(position).report

    def labels(self, name: str) -> Mapping[str, str]:
        """The labels of the site named `name` (the record just read, normally)."""
        at = self.spool.position(name)
        found = self.spool.record(at).labels if at is not None else None
        return found or {}


class SpooledFleetSites(Mapping[str, Any]):
    """The fleet entries of a spool by site name: what `FleetSection.sites` holds."""

    def __init__(self, spool: SiteSpool) -> None:
        self.spool = spool

    def __len__(self) -> int:
        return self.spool.with_fleet

    def __iter__(self) -> Iterator[str]:
        for position, name in enumerate(self.spool.names()):
            if self.spool.record(position).fleet is not None:
                yield name

    def __getitem__(self, name: str) -> Any:
        at = self.spool.position(name)
        found = self.spool.record(at).fleet if at is not None else None
        if found is None:
            raise KeyError(name)
        return found


__all__ = [
    "SiteSpool",
    "SpooledFleetSites",
    "SpooledSite",
    "SpooledSites",
]
