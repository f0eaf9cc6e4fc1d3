"""A pass's per-site results kept in a temporary file instead of memory.

A fleet pass used to hold every site's `SiteReport` (with its `Live` and `Plan`), its
fleet entry and its labels until the report was written at the end: about 7 KB a site, so
a 50,000-site scan peaked over 400 MB (bench/README.md, issue 17). Here each site is
written to an unnamed temporary file as soon as it is finished, and only its name,
Chargebee site and place in the file stay in memory. The record holds the site's report
entry and fleet entry as the JSON text the report will hold (made once, in the worker that
finished the site; the report writers copy it), and the objects pickled for the renderers
that need them (text, Markdown, metrics). The summary is counted as sites are added.

The file is created by this process, readable only by it (mode 0600, unlinked at once)
and read back by it: pickle is safe here. Reports never hold a key (secrets are redacted
before a report is built), so the file holds nothing the report would not.
"""

from __future__ import annotations

import bisect
import copyreg
import io
import json
import pickle
import struct
import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, overload

from reconciler._append_file import AppendFile
from reconciler.live import live_from_api
from reconciler.plan import Plan, condition_from_dict
from reconciler.report import SiteReport, SiteStatus, add_to_summary, empty_summary
from reconciler.report.json_report import RawJSON, Streamed, compact_json, site_to_dict

# Lengths of a record's parts: objects (pickle), report entry, fleet entry, labels (JSON
# texts), and the site's state while the config loads (pickle, may be empty).
_HEADER = struct.Struct("<5I")


@dataclass(frozen=True, slots=True)
class SpooledSite:
    """One site's whole record: its report, its fleet entry (the reconciler's per-site
    section, any object with `to_dict`) and its labels."""

    report: SiteReport
    fleet: Any = None
    labels: Mapping[str, str] | None = None
    # The site's new state as the store's text (`SiteState.to_text`), kept here only
    # while the config is still loading (nothing is recorded before the whole config is
    # known valid): see `states`.
    state: str | None = None


def _frozen(items: dict[Any, Any]) -> MappingProxyType[Any, Any]:
    return MappingProxyType(items)


def _reduce_mapping_proxy(proxy: MappingProxyType[Any, Any]) -> tuple[Any, tuple[Any, ...]]:
    return _frozen, (dict(proxy),)


class _Pickler(pickle.Pickler):
    """Pickles read-only mappings too (the model freezes its dicts as mapping proxies),
    without registering anything for the rest of the process."""

    dispatch_table = {**copyreg.dispatch_table, MappingProxyType: _reduce_mapping_proxy}


def _pickled(value: Any, *, has_proxies: bool = False) -> bytes:
    """`value` pickled; the subclass with its own dispatch table (twice as slow: 84 µs
    for a no-drift site's record, against 40) only when it holds a read-only mapping:
    at once when the caller knows it does (a plan's steps), else after the plain pickler
    refused it."""
    if not has_proxies:
        try:
            return pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
        except TypeError:  # "cannot pickle 'mappingproxy' object"
            pass
    buffer = io.BytesIO()
    _Pickler(buffer, protocol=pickle.HIGHEST_PROTOCOL).dump(value)
    return buffer.getvalue()


def _unpickled(data: bytes) -> Any:
    # Only this process wrote the file (unnamed, 0600): its pickles are our own.
    return pickle.loads(data)  # noqa: S301


# A record's objects part starts with how its report is kept: pickled with its fleet
# entry, or made again from the report entry's JSON (only the fleet entry pickled).
_PICKLED, _FROM_ENTRY = b"P", b"E"


def _from_entry(report: SiteReport) -> bool:
    """Whether the report is a plain in-sync one that its JSON entry holds whole.

    Most of a no-drift pass's sites: pickling their objects was ~5 % of its CPU (bench/
    README.md, issue 17), and the JSON entry, made anyway, already holds all of them."""
    plan = report.plan
    return (
        report.status is SiteStatus.IN_SYNC
        and plan is not None
        and report.live is not None
        and not plan.steps
        and not plan.drift
        and report.conditions == plan.conditions
        and not report.outcomes
        and not report.replans
        and report.error is None
    )


def _report_from_entry(entry: Mapping[str, Any]) -> SiteReport:
    """The in-sync report `site_to_dict` made `entry` from (see `_from_entry`)."""
    conditions = tuple(condition_from_dict(c) for c in entry["conditions"])
    name, site = entry["name"], entry["site"]
    plan = Plan(name, site, entry["plan"]["live_version"], (), (), conditions)
    live = live_from_api(entry["live"])
    return SiteReport(
        name, site, SiteStatus.IN_SYNC, plan, live, (), conditions, None, (), entry["source"]
    )


@dataclass(frozen=True, slots=True)
class _Texts:
    entry: str  # site_to_dict(report), compact
    fleet: str  # the fleet entry's to_dict(), compact; "" when the site has none
    labels: str  # compact JSON object


class SiteSpool:
    """Append-only store of `SpooledSite` records; safe to append from many threads.

    `sites()` and `fleet_sites()` are read-only views in report order, valid while the
    spool is open (it closes when it is garbage-collected)."""

    def __init__(self) -> None:
        self._file = AppendFile("brightback-spool-")  # closed with the last view
        self._lock = threading.Lock()
        # (name, site, offset, length): two strings the pass holds anyway, two ints.
        self._index: list[tuple[str, str, int, int]] = []
        self._sorted = True
        self.with_fleet = 0  # records that have a fleet entry
        self.counts = empty_summary()  # RunReport.summary() of the records so far
        self._last_fleet: tuple[Any, bytes, bytes] | None = None  # see `_fleet_parts`

    def append(self, record: SpooledSite) -> None:
        report = record.report
        entry = compact_json(site_to_dict(report)).encode()
        fleet, fleet_pickled = self._fleet_parts(record.fleet)
        labels = compact_json(dict(record.labels or {})).encode()
        state = record.state.encode() if record.state is not None else b""
        if _from_entry(report):
            objects = _FROM_ENTRY + fleet_pickled
        else:
            steps = report.plan is not None and bool(report.plan.steps)  # their args: proxies
            objects = _PICKLED + _pickled((report, record.fleet), has_proxies=steps)
        parts = (objects, entry, fleet, labels, state)
        data = _HEADER.pack(*(len(part) for part in parts)) + b"".join(parts)
        key = (report.name, report.site)
        with self._lock:
            offset = self._file.append(data)
            if self._index and key < self._index[-1][:2]:
                self._sorted = False
            self._index.append((*key, offset, len(data)))
            self.with_fleet += record.fleet is not None
            add_to_summary(self.counts, report)

    def _fleet_parts(self, fleet: Any) -> tuple[bytes, bytes]:
        """The fleet entry's JSON and pickle. Most sites of a pass have the same one (no
        drift, no failures): made again only when it differs from the last one made."""
        last = self._last_fleet
        if last is not None and last[0] == fleet:
            return last[1], last[2]
        text = b"" if fleet is None else compact_json(fleet.to_dict()).encode()
        parts = (fleet, text, _pickled(fleet))
        self._last_fleet = parts  # appenders may race here: either one is right
        return parts[1], parts[2]

    def __len__(self) -> int:
        return len(self._index)

    def snapshot(self) -> list[tuple[str, int, int]]:
        """Which records were appended so far (site, offset, length), for `states`."""
        with self._lock:
            return [(site, offset, length) for _, site, offset, length in self._index]

    def states(self, where: list[tuple[str, int, int]]) -> Iterator[tuple[str, str]]:
        """The states held by the records at `where` (site, text), one at a time."""
        for site, offset, length in where:
            state = self._split(offset, length)[4]
            if state:
                yield site, state.decode()

    def record(self, position: int) -> SpooledSite:
        """The record at `position` in report order (by name, then site)."""
        objects, entry, _, labels = self._parts(position)
        if objects[:1] == _FROM_ENTRY:
            report, fleet = _report_from_entry(json.loads(entry)), _unpickled(objects[1:])
        else:
            report, fleet = _unpickled(objects[1:])
        return SpooledSite(report, fleet, json.loads(labels))

    def texts(self, position: int) -> _Texts:
        """The JSON texts of the record at `position`, as the report holds them."""
        _, entry, fleet, labels = self._parts(position)
        return _Texts(entry.decode(), fleet.decode(), labels.decode())

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
        self._file.close()

    def _parts(self, position: int) -> tuple[bytes, bytes, bytes, bytes]:
        self._order()
        _, _, offset, length = self._index[position]
        objects, entry, fleet, labels, _ = self._split(offset, length)
        return objects, entry, fleet, labels

    def _split(self, offset: int, length: int) -> list[bytes]:
        """The five parts of the record at `offset` (see `_HEADER`)."""
        window, at = self._file.read_ahead(offset, length)
        sizes = _HEADER.unpack_from(window, at)
        found: list[bytes] = []
        start = at + _HEADER.size
        for size in sizes:
            found.append(window[start : start + size])
            start += size
        return found

    def _order(self) -> None:
        if not self._sorted:
            with self._lock:
                self._index.sort()
                self._sorted = True


def _position(index: int, length: int) -> int:
    """A sequence index (negative from the end) as a position in the spool."""
    position = index + length if index < 0 else index
    if not 0 <= position < length:
        raise IndexError(index)
    return position


class SpooledSites(Sequence[SiteReport]):
    """The reports of a spool, by name: what `RunReport.sites` holds for a fleet pass."""

    in_report_order = True  # RunReport keeps it as it is

    def __init__(self, spool: SiteSpool) -> None:
        self.spool = spool

    @property
    def counted(self) -> dict[str, int]:
        """`RunReport.summary()` of these sites, counted as they were added."""
        return dict(self.spool.counts)

    def __len__(self) -> int:
        return len(self.spool)

    @overload
    def __getitem__(self, index: int) -> SiteReport: ...

    @overload
    def __getitem__(self, index: slice) -> list[SiteReport]: ...

    def __getitem__(self, index: int | slice) -> SiteReport | list[SiteReport]:
        if isinstance(index, slice):
            return [self.spool.record(i).report for i in range(len(self))[index]]
        return self.spool.record(_position(index, len(self))).report

    def __iter__(self) -> Iterator[SiteReport]:
        for position in range(len(self)):
            yield self.spool.record(position).report

    def labels(self, name: str) -> Mapping[str, str]:
        """The labels of the site named `name`."""
        at = self.spool.position(name)
        found: dict[str, str] = json.loads(self.spool.texts(at).labels) if at is not None else {}
        return found

    def entries(self, *, labelled: bool) -> RawEntries:
        """The report's per-site JSON entries, copied from the spool (with the file's
        `labels` key when `labelled`)."""
        return RawEntries(self.spool, labelled)


class RawEntries(Streamed):
    """A spool's report entries as JSON text, for `iter_json` to copy one at a time."""

    def __init__(self, spool: SiteSpool, labelled: bool) -> None:
        self._spool = spool
        self._labelled = labelled

    def __len__(self) -> int:
        return len(self._spool)

    @overload
    def __getitem__(self, index: int) -> RawJSON: ...

    @overload
    def __getitem__(self, index: slice) -> list[RawJSON]: ...

    def __getitem__(self, index: int | slice) -> RawJSON | list[RawJSON]:
        if isinstance(index, slice):
            return [self._entry(i) for i in range(len(self))[index]]
        return self._entry(_position(index, len(self)))

    def _entry(self, position: int) -> RawJSON:
        texts = self._spool.texts(position)
        if not self._labelled:
            return RawJSON(texts.entry)
        return RawJSON(f'{texts.entry[:-1]},"labels":{texts.labels}}}')


class SpooledFleetSites(Mapping[str, Any]):
    """The fleet entries of a spool by site name: what `FleetSection.sites` holds."""

    def __init__(self, spool: SiteSpool) -> None:
        self.spool = spool

    def __len__(self) -> int:
        return self.spool.with_fleet

    def __iter__(self) -> Iterator[str]:
        for position, name in enumerate(self.spool.names()):
            if self.spool.texts(position).fleet:
                yield name

    def __getitem__(self, name: str) -> Any:
        at = self.spool.position(name)
        found = self.spool.record(at).fleet if at is not None else None
        if found is None:
            raise KeyError(name)
        return found

    def entries(self) -> Mapping[str, RawJSON]:
        """The fleet entries as the report's JSON texts, by name."""
        return RawFleetEntries(self)


class RawFleetEntries(Mapping[str, RawJSON]):
    """`SpooledFleetSites` as JSON text, for `iter_json` to copy one at a time."""

    def __init__(self, sites: SpooledFleetSites) -> None:
        self._sites = sites
        self._spool = sites.spool

    def __len__(self) -> int:
        return len(self._sites)

    def __iter__(self) -> Iterator[str]:
        return iter(self._sites)

    def __getitem__(self, name: str) -> RawJSON:
        at = self._spool.position(name)
        text = self._spool.texts(at).fleet if at is not None else ""
        if not text:
            raise KeyError(name)
        return RawJSON(text)


__all__ = [
    "RawEntries",
    "RawFleetEntries",
    "SiteSpool",
    "SpooledFleetSites",
    "SpooledSite",
    "SpooledSites",
]
