"""The fleet section of a reconcile report, as typed values.

`schemas/report.schema.json` documents its JSON form (`fleet`): the pass, the safety
decision, orphans, and per site the drift with what the pass did about it and who made it.
The pass builds these values; `to_dict()` is the only place their JSON shape is written.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from reconciler.fields import Drift
from reconciler.fleet.drift import ChangedBy, Resolution
from reconciler.report.json_report import PRETTY_MAX_SITES
from reconciler.report.spool import SpooledFleetSites
from reconciler.rules import OrphanAction


class SkipReason(StrEnum):
    """Why a configured site was not reconciled in this pass."""

    BACKING_OFF = "backing off"  # it failed in earlier passes; retried later
    STOPPED = "stopped"  # a stop was asked before its turn
    LOCKED = "locked by another reconciler"  # another process is applying it
    NOT_REACHED = "not reached"  # the pass deadline (--pass-timeout) came before its turn


@dataclass
class Orphan:
    """A site managed before and gone from the config; `action` moves as the pass runs."""

    site: str
    name: str
    deletion_policy: str
    action: OrphanAction
    message: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "site": self.site,
            "name": self.name,
            "deletion_policy": self.deletion_policy,
            "action": self.action.value,
            "message": self.message,
        }


@dataclass(frozen=True)
class ResolvedDrift:
    """One drifted field, what this pass did about it, and who made it."""

    drift: Drift
    resolution: Resolution
    changed_by: ChangedBy | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "field": self.drift.field,
            "desired": self.drift.desired,
            "live": self.drift.live,
            "resolution": self.resolution.value,
            "changed_by": self.changed_by.to_dict() if self.changed_by is not None else None,
        }


@dataclass(frozen=True)
class FleetSite:
    """What the fleet adds to one configured site's report."""

    drift: tuple[ResolvedDrift, ...]
    failures: int
    retry_after_pass: int
    flapping: Mapping[str, Any] | None
    skipped: SkipReason | None
    probe: Mapping[str, Any] | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "drift": [d.to_dict() for d in self.drift],
            "failures": self.failures,
            "retry_after_pass": self.retry_after_pass,
            "flapping": self.flapping,
            "skipped": self.skipped.value if self.skipped is not None else None,
            "probe": self.probe,
        }


@dataclass(frozen=True)
class Safety:
    """The fleet safety threshold's decision for this pass."""

    refused: bool
    destructive_sites: int
    total_sites: int
    reason: str | None
    forced: bool

    def to_dict(self) -> dict[str, Any]:
        return {
            "refused": self.refused,
            "destructive_sites": self.destructive_sites,
            "total_sites": self.total_sites,
            "reason": self.reason,
            "forced": self.forced,
        }


@dataclass(frozen=True)
class FleetSection:
    """The reconciler's own part of the report (`fleet`), None for plan and apply."""

    pass_no: int
    git: Mapping[str, Any] | None
    safety: Safety
    orphans: tuple[Orphan, ...]
    not_attempted: tuple[str, ...]
    sites: Mapping[str, FleetSite]
    shard: Mapping[str, Any] | None = field(default=None)
    not_reached: tuple[str, ...] = ()  # not started before --pass-timeout

    @property
    def stopped(self) -> bool:
        return bool(self.not_attempted)

    def _site_entries(self) -> Mapping[str, Any]:
        if len(self.sites) <= PRETTY_MAX_SITES:  # an indented report: json.dumps'd, dicts
            return {name: site.to_dict() for name, site in self.sites.items()}
        if isinstance(self.sites, SpooledFleetSites):
            return self.sites.entries()  # the JSON texts made as each site finished
        return _EntriesOnDemand(self.sites)

    def to_dict(self) -> dict[str, Any]:
        document: dict[str, Any] = {
            "pass": self.pass_no,
            "git": dict(self.git) if self.git is not None else None,
            "safety": self.safety.to_dict(),
            "orphans": [o.to_dict() for o in self.orphans],
            "stopped": self.stopped,
            "not_attempted": sorted(self.not_attempted),
            "not_reached": sorted(self.not_reached),
            "sites": self._site_entries(),
        }
        if self.shard is not None:
            document["shard"] = dict(self.shard)
        return document


class _EntriesOnDemand(Mapping[str, dict[str, Any]]):
    """A big fleet's per-site entries, each made when the JSON writer reaches it (the
    report's writer streams big mappings: reconciler/report/json_report.py `iter_json`)."""

    def __init__(self, sites: Mapping[str, FleetSite]) -> None:
        self._sites = sites

    def __getitem__(self, name: str) -> dict[str, Any]:
        return self._sites[name].to_dict()

    def __iter__(self) -> Iterator[str]:
        return iter(self._sites)

    def __len__(self) -> int:
        return len(self._sites)


__all__ = [
    "FleetSection",
    "FleetSite",
    "Orphan",
    "ResolvedDrift",
    "Safety",
    "SkipReason",
]
