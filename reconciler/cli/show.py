"""`brightback show PLAN.json`: render a saved plan (from `plan --out`) for a person or a
PR comment, without contacting any site.

The saved plan holds each site's plan as JSON (schemas/plan.schema.json); it is turned back
into the planner's own values so the same renderers print it as `plan` did. Exit 0 when
it has nothing to do, 2 when it holds changes, 1 when the file is not a saved plan.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any

from reconciler.actions import Action, Step
from reconciler.cli._common import emit
from reconciler.errors import BrightbackError
from reconciler.fields import Drift
from reconciler.plan import Condition, ConditionType, Plan
from reconciler.report import FORMATS, RunReport, SiteReport, _plan_status
from reconciler.report.saved_plan import is_saved_plan, read_saved_plan


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("plan", metavar="PLAN.json", help="a plan saved by `brightback plan --out`")
    parser.add_argument(
        "-o", "--format", choices=FORMATS, default="text", help="output format (default text)"
    )


def plan_from_dict(data: Mapping[str, Any]) -> Plan:
    """The inverse of Plan.to_dict (the fingerprint is recomputed, so it must agree)."""
    steps = tuple(
        Step(
            Action(s["action"]),
            MappingProxyType(dict(s.get("args") or {})),
            s.get("rule", ""),
            s.get("reason", ""),
            bool(s.get("destructive", False)),
            tuple(s.get("depends_on") or ()),
            MappingProxyType(dict(s.get("expect") or {})),
        )
        for s in data.get("steps") or ()
    )
    drift = tuple(Drift(d["field"], d["desired"], d["live"]) for d in data.get("drift") or ())
    conditions = tuple(
        Condition(ConditionType(c["type"]), c["reason"], c["message"], c.get("unblock"))
        for c in data.get("conditions") or ()
    )
    return Plan(data["name"], data["site"], data.get("live_version"), steps, drift, conditions)


def run(args: argparse.Namespace) -> int:
    path = Path(args.plan)
    if not is_saved_plan(str(path)):
        raise BrightbackError(
            f"{path}: not a saved plan (make one with `brightback plan PATH --out {path.name}`)"
        )
    saved = read_saved_plan(path)
    sites = []
    for site in saved.sites:
        plan = plan_from_dict(site.plan)
        if plan.fingerprint != site.fingerprint:
            raise BrightbackError(f"{path}: the plan of {site.name} does not match its fingerprint")
        sites.append(
            SiteReport(
                name=site.name,
                site=site.site,
                status=_plan_status(plan),
                plan=plan,
                live=None,
                conditions=plan.conditions,
                source=f"{path} ({site.name})",
            )
        )
    return emit(RunReport("plan", tuple(sites)), args.format)


__all__ = [
    "add_arguments",
    "plan_from_dict",
    "run",
]
