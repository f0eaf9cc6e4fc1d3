"""The machine-readable report: stable keys, documented by schemas/report.schema.json.

No timestamps or host details, so two runs over the same state give the same bytes and a
CI job can diff them.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, TextIO, overload

from reconciler.apply import StepOutcome
from reconciler.live import live_to_api
from reconciler.plan import condition_to_dict
from reconciler.report import RunReport, SiteReport

REPORT_FORMAT = "brightback-gitops/report/v1"
# Reports of more sites than this are printed on one line: only the C encoder is fast, and
# it does not indent (an indented big report takes seconds; a machine reads it).
PRETTY_MAX_SITES = 200


class RawJSON(str):
    """Text that already is compact JSON, written by `iter_json` as it is (an entry kept
    on disk as the file will hold it, copied rather than parsed and re-encoded)."""


# Made once: `json.dumps` with arguments builds an encoder on every call, and a fleet pass
# encodes a few small values per site.
_COMPACT = json.JSONEncoder(separators=(",", ":"))
_COMPACT_SORTED = json.JSONEncoder(sort_keys=True, separators=(",", ":"))


def compact_json(value: Any, *, sort_keys: bool = False) -> str:
    """What `iter_json` writes for a small value: the C encoder, no spaces."""
    return (_COMPACT_SORTED if sort_keys else _COMPACT).encode(value)


def outcome_to_dict(outcome: StepOutcome) -> dict[str, Any]:
    return {
        "action": outcome.step.action.value,
        "status": outcome.status.value,
        "message": outcome.message,
        "destructive": outcome.step.destructive,
        "version_after": outcome.version_after,
    }


def site_to_dict(site: SiteReport) -> dict[str, Any]:
    return {
        "name": site.name,
        "site": site.site,
        "status": site.status.value,
        "source": site.source,
        "plan": site.plan.to_dict() if site.plan is not None else None,
        "replans": [p.to_dict() for p in site.replans],
        "outcomes": [outcome_to_dict(o) for o in site.outcomes],
        "live": live_to_api(site.live) if site.live is not None else None,
        "conditions": [condition_to_dict(c) for c in site.conditions],
        "error": site.error,
    }


class Streamed(Sequence[Any]):
    """A sequence `iter_json` writes item by item at any depth, and `write_document`
    never indents: a big report's entries, made or read one at a time."""


class LazySites(Streamed):
    """A report's per-site entries, each built when it is read and then dropped.

    A 10,000-site report held as dicts costs tens of MB on top of the `SiteReport`s they
    are made from, twice over when stdout and last-report.json each have their copy.
    `iter_json` streams this sequence item by item, so a big report is written to both
    without its entries ever being in memory together (issue 17: memory flat in fleet
    size). `extra(site)` adds keys to an entry (the file's labels).
    """

    def __init__(
        self,
        sites: Sequence[SiteReport],
        extra: Callable[[SiteReport], Mapping[str, Any]] | None = None,
    ) -> None:
        self._sites = sites
        self._extra = extra

    def __len__(self) -> int:
        return len(self._sites)

    @overload
    def __getitem__(self, index: int) -> dict[str, Any]: ...

    @overload
    def __getitem__(self, index: slice) -> list[dict[str, Any]]: ...

    def __getitem__(self, index: int | slice) -> dict[str, Any] | list[dict[str, Any]]:
        if isinstance(index, slice):
            return [self._entry(site) for site in self._sites[index]]
        return self._entry(self._sites[index])

    def _entry(self, site: SiteReport) -> dict[str, Any]:
        entry = site_to_dict(site)
        if self._extra is not None:
            entry.update(self._extra(site))
        return entry


def report_to_dict(report: RunReport, *, lazy: bool = False) -> dict[str, Any]:
    """The report as JSON-ready data; `lazy`: per-site entries as `LazySites`, for
    reports streamed with `write_json`."""
    document = {
        "format": REPORT_FORMAT,
        "command": report.command,
        "exit_code": report.exit_code,
        "refused": report.refused,
        "notes": list(report.notes),
        "summary": report.summary(),
        "sites": LazySites(report.sites) if lazy else [site_to_dict(s) for s in report.sites],
    }
    if report.fleet is not None:
        document["fleet"] = report.fleet.to_dict()
    return document


BIG = 64  # deeper containers with more items than this are streamed item by item too


def iter_json(value: Any, *, sort_keys: bool = False, depth: int = 0) -> Iterator[str]:
    """Compact JSON of `value` in pieces: the top two levels (where a report or state
    file holds its sites) and any big container item by item, everything else with
    `json.dumps` (the C encoder, which only runs one-shot and unindented).

    Same text as `json.dumps(value, sort_keys=..., separators=(",", ":"))`, at C speed,
    without holding a big fleet's document as one string (plus its encoded copy) in
    memory, which would raise the peak RSS at the end of a big pass.
    """
    if isinstance(value, RawJSON):
        yield value
    elif isinstance(value, Mapping) and (depth < 2 or len(value) > BIG):
        # Keys sorted alone, each value fetched as it is written: a lazy mapping (the
        # state's sites) builds one entry at a time.
        keys = sorted(value) if sort_keys else value
        yield "{"
        for index, key in enumerate(keys):
            yield ("," if index else "") + json.dumps(str(key)) + ":"
            yield from iter_json(value[key], sort_keys=sort_keys, depth=depth + 1)
        yield "}"
    elif isinstance(value, list | tuple | Streamed) and (depth < 2 or len(value) > BIG):
        yield "["
        for index, item in enumerate(value):
            if index:
                yield ","
            yield from iter_json(item, sort_keys=sort_keys, depth=depth + 1)
        yield "]"
    else:
        yield compact_json(value, sort_keys=sort_keys)


def write_json(value: Any, stream: TextIO, *, sort_keys: bool = False) -> None:
    """Stream `iter_json` to `stream` in batches (few, large writes)."""
    batch: list[str] = []
    for piece in iter_json(value, sort_keys=sort_keys):
        batch.append(piece)
        if len(batch) >= 512:
            stream.write("".join(batch))
            batch.clear()
    stream.write("".join(batch))


def write_document(document: Mapping[str, Any], stream: TextIO) -> None:
    """Print a report already turned into a dict (the fleet reconciler builds it once
    for stdout and `last-report.json`), indented unless the fleet is big."""
    sites = document.get("sites")
    if not isinstance(sites, list | Streamed) or len(sites) <= PRETTY_MAX_SITES:
        stream.write(json.dumps(document, indent=2))
    else:
        write_json(document, stream)
    stream.write("\n")


def render(report: RunReport, stream: TextIO) -> None:
    write_document(report_to_dict(report), stream)


__all__ = [
    "BIG",
    "PRETTY_MAX_SITES",
    "REPORT_FORMAT",
    "RawJSON",
    "Streamed",
    "compact_json",
    "iter_json",
    "outcome_to_dict",
    "render",
    "report_to_dict",
    "site_to_dict",
    "write_document",
    "write_json",
]
