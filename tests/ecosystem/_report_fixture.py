"""A realistic last-report.json: one site in every status a reconcile pass can leave.

Built as data (not through the planner) so the status page's tests do not depend on how
a plan is made; `test_status_page.py` proves the base report is valid against
schemas/report.schema.json, and the extras (git, timings, labels) are the ones
`brightback reconcile` adds.
"""

from __future__ import annotations

import copy
import hashlib
from collections.abc import Iterable
from typing import Any

PASS_STARTED_AT = 1764079200.0  # 2025-11-25 14:00:00 UTC
NOW = PASS_STARTED_AT + 95.0

REPORT_EXTRAS = ("git", "pass_started_at", "duration_s")


def _plan(
    name: str,
    site: str,
    version: int,
    steps: Iterable[dict[str, Any]] = (),
    drift: Iterable[dict[str, Any]] = (),
    conditions: Iterable[dict[str, Any]] = (),
) -> dict[str, Any]:
    return {
        "name": name,
        "site": site,
        "live_version": version,
        "fingerprint": hashlib.sha256(f"{site}:{version}".encode()).hexdigest()[:32],
        "steps": list(steps),
        "drift": list(drift),
        "conditions": list(conditions),
    }


def _step(
    action: str, rule: str, reason: str, destructive: bool = False, **args: Any
) -> dict[str, Any]:
    return {
        "action": action,
        "args": args,
        "rule": rule,
        "reason": reason,
        "destructive": destructive,
        "depends_on": [],
        "expect": {},
    }


def _condition(kind: str, reason: str, message: str, unblock: str | None = None) -> dict[str, Any]:
    return {"type": kind, "reason": reason, "message": message, "unblock": unblock}


def _site(
    name: str, site: str, status: str, labels: dict[str, str], **fields: Any
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": name,
        "site": site,
        "status": status,
        "source": f"sites/{name}.yaml:1:1",
        "plan": None,
        "replans": [],
        "outcomes": [],
        "live": None,
        "conditions": [],
        "error": None,
        "labels": labels,
    }
    body.update(fields)
    return body


READY = _condition("Ready", "in_sync", "Live matches the desired state.")
TOGGLE_DRIFT = {"field": "spec.cancellationViaBrightback", "desired": True, "live": False}
MODE_DRIFT = {"field": "spec.integrateVia", "desired": "customer_portal", "live": "retention_api"}

SITES = [
    _site(
        "acme-prod",
        "acme",
        "in_sync",
        {"brand": "acme", "env": "prod"},
        plan=_plan("acme-prod", "acme", 12, conditions=[READY]),
        conditions=[READY],
    ),
    _site(
        "acme-eu",
        "acme-eu",
        "applied",
        {"brand": "acme", "env": "prod"},
        plan=_plan(
            "acme-eu",
            "acme-eu",
            4,
            steps=[
                _step(
                    "enable_cancellation_via_brightback",
                    "rule 5: needs a mode",
                    "spec.cancellationViaBrightback is true",
                )
            ],
            drift=[TOGGLE_DRIFT],
        ),
        outcomes=[
            {
                "action": "enable_cancellation_via_brightback",
                "status": "applied",
                "message": "cancellation via Brightback enabled",
                "destructive": False,
                "version_after": 5,
            }
        ],
        conditions=[READY],
    ),
    _site(
        "globex-prod",
        "globex",
        "waiting",
        {"brand": "globex", "env": "prod"},
        plan=_plan("globex-prod", "globex", 8),
        conditions=[
            _condition(
                "Waiting",
                "experience_not_published",
                "Traffic goes to Brightback once the customer_portal experience of "
                "globex-retention is published.",
                "publish the customer_portal experience in Brightback",
            )
        ],
    ),
    _site(
        "initech-staging",
        "initech-test",
        "drifted",
        {"brand": "initech", "env": "staging"},
        plan=_plan("initech-staging", "initech-test", 3, drift=[MODE_DRIFT]),
        conditions=[
            _condition(
                "Drifted",
                "observe_only",
                "Live differs from desired; management is observe-only, so nothing is changed.",
            )
        ],
    ),
    _site(
        "umbrella-prod",
        "umbrella",
        "blocked",
        {"brand": "umbrella", "env": "prod"},
        plan=_plan(
            "umbrella-prod",
            "umbrella",
            21,
            steps=[
                _step(
                    "disconnect",
                    "rule 9: the toggle cannot be switched off",
                    "spec.cancellationViaBrightback is false",
                    destructive=True,
                    confirm=True,
                )
            ],
            drift=[{"field": "spec.cancellationViaBrightback", "desired": False, "live": True}],
        ),
        conditions=[
            _condition(
                "Blocked",
                "disconnect_not_allowed",
                "Turning cancellation via Brightback off needs a disconnect (stops data sync).",
                "set spec.policy.allowDisconnect: true or pass --allow-disconnect",
            )
        ],
    ),
    _site(
        "hooli-prod",
        "hooli",
        "failed",
        {"brand": "hooli", "env": "prod"},
        conditions=[
            _condition(
                "Failed",
                "api_error",
                "GET brightback_integration answered 503 after 4 attempts <script>x</script>",
            )
        ],
        error="GET brightback_integration answered 503 after 4 attempts",
    ),
]


def base_report() -> dict[str, Any]:
    """The schema-valid part: what `brightback apply --format json` prints."""
    sites = [{k: v for k, v in s.items() if k != "labels"} for s in copy.deepcopy(SITES)]
    statuses = [s["status"] for s in sites]
    return {
        "format": "brightback-gitops/report/v1",
        "command": "apply",
        "exit_code": 1,
        "refused": False,
        "notes": [],
        "summary": {
            "sites": len(sites),
            "failed": statuses.count("failed"),
            "blocked": statuses.count("blocked"),
            "changes": statuses.count("changes"),
            "applied": statuses.count("applied"),
            "drifted": statuses.count("drifted"),
            "waiting": statuses.count("waiting"),
            "in_sync": statuses.count("in_sync"),
            "steps_planned": 3,
            "destructive_steps": 1,
            "steps_applied": 1,
            "steps_failed": 0,
        },
        "sites": sites,
    }


def last_report() -> dict[str, Any]:
    """What `brightback reconcile` writes to last-report.json: labels, git and timings too."""
    report = base_report()
    for site, labelled in zip(report["sites"], SITES, strict=True):
        site["labels"] = dict(labelled["labels"])
    report["git"] = {"commit": "3f9c2a71d0be4c55e8a9f0e1d2c3b4a5f6e7d8c9", "dirty": True}
    report["pass_started_at"] = PASS_STARTED_AT
    report["duration_s"] = 2.4
    report["fleet"] = {
        "pass": 41,
        "safety": {"refused": False, "reason": None, "forced": False},
        "sites": {
            "initech-staging": {
                "drift": [
                    {
                        **MODE_DRIFT,
                        "resolution": "observed",
                        "changed_by": {
                            "source": "admin_console",
                            "event_type": "integration_mode_changed",
                            "event_id": "ev_1",
                            "occurred_at": PASS_STARTED_AT - 600,
                        },
                    }
                ],
                "failures": 0,
                "flapping": None,
                "retry_after_pass": 0,
                "skipped": None,
            },
            "hooli-prod": {"drift": [], "failures": 3, "retry_after_pass": 44, "skipped": None},
        },
    }
    return report
