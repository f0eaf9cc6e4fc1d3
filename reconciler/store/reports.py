"""One report out of the last reports of every shard, for `brightback status` and the page.

Each shard writes the report of its own sites. Merged, the sites are listed once each
(every site belongs to exactly one shard), counts are summed, and the pass-level facts
take their most serious value: an error in any shard is the fleet's error, a refused
threshold in any shard is the fleet's refusal. `fleet.shards` says which shards were
merged and which are missing, so a shard that never reported is visible, not hidden.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any


def _exit_code(codes: Sequence[int]) -> int:
    """The project's exit-code precedence: any error (1) over changes (2) over none (0)."""
    if 1 in codes:
        return 1
    if 2 in codes:
        return 2
    return max(codes, default=0)


def merge_reports(reports: Sequence[Mapping[str, Any]]) -> dict[str, Any] | None:
    """The fleet's report from its shards' reports (one report is returned as it is)."""
    if not reports:
        return None
    if len(reports) == 1:
        return dict(reports[0])
    ordered = sorted(reports, key=_shard_index)
    first = ordered[0]
    sites = sorted(
        (s for r in ordered for s in r.get("sites") or []), key=lambda s: str(s.get("name"))
    )
    summary: dict[str, int] = {}
    for r in ordered:
        for key, value in (r.get("summary") or {}).items():
            if isinstance(value, int):
                summary[key] = summary.get(key, 0) + value
    merged: dict[str, Any] = {
        **first,
        "exit_code": _exit_code([int(r.get("exit_code", 0)) for r in ordered]),
        "refused": any(bool(r.get("refused")) for r in ordered),
        "notes": [n for r in ordered for n in r.get("notes") or []],
        "summary": summary,
        "sites": sites,
    }
    if "pass_started_at" in first:
        merged["pass_started_at"] = min(float(r.get("pass_started_at") or 0) for r in ordered)
        merged["duration_s"] = max(float(r.get("duration_s") or 0) for r in ordered)
    fleets = [r["fleet"] for r in ordered if isinstance(r.get("fleet"), Mapping)]
    if fleets:
        merged["fleet"] = _merge_fleet(fleets)
    return merged


def _shard_index(report: Mapping[str, Any]) -> int:
    fleet = report.get("fleet")
    shard = fleet.get("shard") if isinstance(fleet, Mapping) else None
    return int(shard.get("index", 0)) if isinstance(shard, Mapping) else 0


def _merge_fleet(fleets: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    safeties = [f.get("safety") or {} for f in fleets]
    refused = [s for s in safeties if s.get("refused")]
    count = max(int((f.get("shard") or {}).get("count", 1)) for f in fleets)
    present = sorted({int((f.get("shard") or {}).get("index", 0)) for f in fleets})
    runs = sorted(
        {str(f["shard"]["run_id"]) for f in fleets if (f.get("shard") or {}).get("run_id")}
    )
    sites: dict[str, Any] = {}
    for f in fleets:
        sites.update(f.get("sites") or {})
    return {
        **fleets[0],
        "pass": max(int(f.get("pass", 1)) for f in fleets),
        "safety": {
            "refused": bool(refused),
            "destructive_sites": max(int(s.get("destructive_sites", 0)) for s in safeties),
            "total_sites": max(int(s.get("total_sites", 0)) for s in safeties),
            "reason": refused[0].get("reason") if refused else None,
            "forced": any(bool(s.get("forced")) for s in safeties),
        },
        "orphans": [o for f in fleets for o in f.get("orphans") or []],
        "stopped": any(bool(f.get("stopped")) for f in fleets),
        "not_attempted": sorted(n for f in fleets for n in f.get("not_attempted") or []),
        "sites": sites,
        "shards": {
            "count": count,
            "merged": present,
            "missing": [i for i in range(count) if i not in present],
            "runs": runs,
        },
    }


__all__ = [
    "merge_reports",
]
