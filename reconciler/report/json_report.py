"""The machine-readable report: stable keys, documented by schemas/report.schema.json.

No timestamps or host details, so two runs over the same state give the same bytes and a
CI job can diff them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, TextIO

from reconciler.apply import StepOutcome
from reconciler.live import live_to_api
from reconciler.plan import condition_to_dict
from reconciler.report import RunReport, SiteReport

REPORT_FORMAT = "brightback-gitops/report/v1"
# Reports of more sites than this are printed on one line: only the C encoder is fast, and
# it does not indent (an indented 10,000-site report takes seconds; a machine reads it).
PRETTY_MAX_SITES = 200


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


def report_to_dict(report: RunReport) -> dict[str, Any]:
    document = {
        "format": REPORT_FORMAT,
        "command": report.command,
        "exit_code": report.exit_code,
        "refused": report.refused,
        "notes": list(report.notes),
        "summary": report.summary(),
        "sites": [site_to_dict(s) for s in report.sites],
    }
    if report.fleet is not None:
        document["fleet"] = dict(report.fleet)
    return document


def write_document(document: Mapping[str, Any], stream: TextIO) -> None:
    """Print a report already turned into a dict (the fleet reconciler builds it once
    for stdout and `last-report.json`), indented unless the fleet is big."""
    sites = document.get("sites")
    pretty = not isinstance(sites, list) or len(sites) <= PRETTY_MAX_SITES
    if pretty:
        stream.write(json.dumps(document, indent=2))
    else:
        stream.write(json.dumps(document, separators=(",", ":")))
    stream.write("\n")


def render(report: RunReport, stream: TextIO) -> None:
    write_document(report_to_dict(report), stream)
