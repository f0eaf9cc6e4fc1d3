"""The per-site sections of the status page: conditions, drift, plan steps, outcomes.

Each takes plain report dicts (schemas/report.schema.json plus the reconciler's `fleet`
section) and returns escaped Markup, or None when there is nothing to show.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from reconciler.fields import show
from reconciler.status_page._html import Markup, el


def steps_section(plan: Mapping[str, Any]) -> Markup | None:
    steps = plan.get("steps") or []
    if not steps:
        return None
    items = []
    for step in steps:
        args = step.get("args") or {}
        arg_text = ", ".join(f"{k}={show(v)}" for k, v in sorted(args.items()))
        why = " - ".join(str(p) for p in (step.get("rule"), step.get("reason")) if p)
        items.append(
            el(
                "li",
                el("b", str(step.get("action", "?"))),
                f" ({arg_text})" if arg_text else None,
                el("span", " destructive", class_="destructive")
                if step.get("destructive")
                else None,
                el("div", why, class_="muted") if why else None,
            )
        )
    return el("div", "Plan:", el("ol", items), class_="steps")


def fleet_entry(report: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    """What the reconciler adds per site under `fleet.sites` (drift provenance, backoff)."""
    fleet = report.get("fleet")
    sites = fleet.get("sites") if isinstance(fleet, Mapping) else None
    entry = sites.get(name) if isinstance(sites, Mapping) else None
    return entry if isinstance(entry, Mapping) else {}


def _provenance(entry: Mapping[str, Any] | None) -> str:
    """` (corrected; changed via admin_console: cancellation_via_brightback_enabled)`."""
    if not entry:
        return ""
    parts = [str(entry["resolution"])] if entry.get("resolution") else []
    by = entry.get("changed_by")
    if isinstance(by, Mapping) and by.get("source") == "outside_this_tool":
        parts.append("changed outside this tool")
    elif isinstance(by, Mapping):
        who = f" by {by['user']}" if by.get("user") else ""
        parts.append(f"changed via {by.get('source', '?')}{who}: {by.get('event_type', '?')}")
    return f" ({'; '.join(parts)})" if parts else ""


def drift_section(plan: Mapping[str, Any], fleet_site: Mapping[str, Any]) -> Markup | None:
    drift = plan.get("drift") or []
    if not drift:
        return None
    known = {
        str(d.get("field")): d for d in fleet_site.get("drift") or [] if isinstance(d, Mapping)
    }
    items = [
        el(
            "li",
            f"{d.get('field')}: live {show(d.get('live'))}, desired {show(d.get('desired'))}",
            _provenance(known.get(str(d.get("field")))),
            class_="drift",
        )
        for d in drift
    ]
    return el("div", "Drift:", el("ul", items))


def backoff_section(fleet_site: Mapping[str, Any]) -> Markup | None:
    """Why the reconciler left a site alone or watches it (skipped, backing off, flapping)."""
    notes: list[str] = []
    if fleet_site.get("skipped"):
        notes.append(f"not reconciled this pass: {fleet_site['skipped']}")
    retry = fleet_site.get("retry_after_pass")
    if isinstance(retry, int) and retry > 0:
        notes.append(f"backing off after failures: next attempt in pass {retry + 1}")
    flapping = fleet_site.get("flapping")
    if isinstance(flapping, Mapping):
        fields = ", ".join(str(f) for f in flapping.get("fields") or [])
        notes.append(
            f"keeps drifting back: {flapping.get('count')} times since pass "
            f"{flapping.get('since_pass')}" + (f" ({fields})" if fields else "")
        )
    return el("div", "; ".join(notes), class_="muted") if notes else None


def outcomes_section(site: Mapping[str, Any]) -> Markup | None:
    outcomes = site.get("outcomes") or []
    if not outcomes:
        return None
    items = [
        el(
            "li",
            f"{o.get('status')}: ",
            el("b", str(o.get("action"))),
            f" - {o.get('message')}" if o.get("message") else None,
        )
        for o in outcomes
    ]
    return el("div", "Applied:", el("ul", items))


def conditions_section(site: Mapping[str, Any]) -> Markup | None:
    conditions = [c for c in site.get("conditions") or [] if isinstance(c, Mapping)]
    if not conditions and not site.get("error"):
        return None
    items = [
        el(
            "li",
            el("b", str(c.get("type"))),
            f" {c.get('reason')}: {c.get('message')}",
            el("div", f"to proceed: {c['unblock']}", class_="muted") if c.get("unblock") else None,
        )
        for c in conditions
    ]
    if site.get("error") and not conditions:
        items.append(el("li", str(site["error"])))
    return el("ul", items, class_="conditions")
