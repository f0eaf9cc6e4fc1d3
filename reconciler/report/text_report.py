"""The report for people: one block per site, colours only when the stream is a terminal.

Lines are built once as (text, style) segments; the same segments print plain to a pipe or
a CI log and through rich on a TTY. Rich's `Text` never parses markup from values, so a
site name with brackets prints as it is.
"""

from __future__ import annotations

import os
from typing import TextIO

from reconciler.apply import StepStatus
from reconciler.fields import printable, show
from reconciler.plan import Condition, ConditionType, Drift, Step
from reconciler.report import RunReport, SiteReport, SiteStatus

Segment = tuple[str, str | None]
Line = list[Segment]

STATUS_STYLE: dict[SiteStatus, str] = {
    SiteStatus.FAILED: "bold red",
    SiteStatus.BLOCKED: "bold red",
    SiteStatus.CHANGES: "bold yellow",
    SiteStatus.APPLIED: "bold green",
    SiteStatus.DRIFTED: "bold magenta",
    SiteStatus.WAITING: "bold cyan",
    SiteStatus.IN_SYNC: "green",
}
CONDITION_STYLE: dict[ConditionType, str] = {
    ConditionType.READY: "green",
    ConditionType.WAITING: "cyan",
    ConditionType.BLOCKED: "red",
    ConditionType.FAILED: "red",
    ConditionType.DRIFTED: "magenta",
}
OUTCOME_MARK: dict[StepStatus, Segment] = {
    StepStatus.APPLIED: ("+ applied", "green"),
    StepStatus.FAILED: ("x failed ", "red"),
    StepStatus.SKIPPED: ("- skipped", "dim"),
}


def step_line(step: Step) -> Line:
    args = " ".join(f"{k}={show(v)}" for k, v in sorted(step.args.items()))
    line: Line = [(step.action.value, "bold")]
    if args:
        line.append(("  " + args, None))
    if step.destructive:
        line.append(("  [destructive]", "bold red"))
    return line


def drift_line(drift: Drift) -> Line:
    return [
        ("~ ", "yellow"),
        (drift.field, "bold"),
        (f": live {show(drift.live)}, desired {show(drift.desired)}", None),
    ]


def condition_lines(condition: Condition) -> list[Line]:
    lines: list[Line] = [
        [
            (condition.type.value, CONDITION_STYLE.get(condition.type)),
            (f" {condition.reason}: ", "bold"),
            (condition.message, None),
        ]
    ]
    if condition.unblock:
        lines.append([("  to proceed: ", "bold"), (condition.unblock, None)])
    return lines


def site_lines(site: SiteReport, command: str) -> list[Line]:
    head: Line = [
        (site.name, "bold"),
        (f" (site {site.site})  ", None),
        (site.status.value.replace("_", " "), STATUS_STYLE[site.status]),
    ]
    if site.plan is not None and site.plan.live_version is not None:
        head.append((f"  live version {site.plan.live_version}", "dim"))
    lines: list[Line] = [head]
    indent: Segment = ("  ", None)
    plan = site.plan
    if plan is not None and plan.drift:
        lines.append([indent, ("drift:", "bold")])
        lines.extend([indent, indent, *drift_line(d)] for d in plan.drift)
    if not site.outcomes and plan is not None and plan.steps:
        lines.append([indent, ("steps:", "bold")])
        for number, step in enumerate(plan.steps, start=1):
            lines.append([indent, indent, (f"{number}. ", None), *step_line(step)])
            why = " - ".join(part for part in (step.rule, step.reason) if part)
            if why:
                lines.append([indent, indent, ("   why: ", "dim"), (why, "dim")])
    if site.outcomes:
        lines.append([indent, ("steps:", "bold")])
        for outcome in site.outcomes:
            mark = OUTCOME_MARK[outcome.status]
            line: Line = [indent, indent, mark, ("  ", None), *step_line(outcome.step)]
            if outcome.version_after is not None:
                line.append((f"  (version {outcome.version_after})", "dim"))
            lines.append(line)
            if outcome.status is not StepStatus.APPLIED:
                lines.append([indent, indent, ("   ", None), (outcome.message, "dim")])
    if site.replans:
        lines.append([indent, (f"re-planned {len(site.replans)} time(s): the site changed", "dim")])
    for condition in site.conditions:
        lines.extend([indent, *line] for line in condition_lines(condition))
    return lines


def summary_line(report: RunReport) -> Line:
    counts = report.summary()
    parts = []
    for status in SiteStatus:
        n = counts[status.value]
        if n:
            label = status.value.replace("_", " ")
            if status is SiteStatus.CHANGES:
                label += (
                    f" ({counts['steps_planned']} steps, {counts['destructive_steps']} destructive)"
                )
            elif status is SiteStatus.APPLIED:
                label += f" ({counts['steps_applied']} steps)"
            parts.append(f"{n} {label}")
    title = "Plan" if report.command == "plan" else "Apply"
    sites = counts["sites"]
    return [
        (f"{title}: {sites} site{'s' if sites != 1 else ''}", "bold"),
        (": " + ", ".join(parts) if parts else "", None),
        (f". Exit code {report.exit_code}.", None),
    ]


def report_lines(report: RunReport) -> list[Line]:
    lines: list[Line] = []
    for note in report.notes:
        lines.append([(note, "bold red" if report.refused else "bold")])
    if report.notes:
        lines.append([])
    for site in report.sites:
        lines.extend(site_lines(site, report.command))
        lines.append([])
    lines.append(summary_line(report))
    return lines


def _use_colour(stream: TextIO) -> bool:
    if os.environ.get("NO_COLOR"):
        return False
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


def render(report: RunReport, stream: TextIO, *, colour: bool | None = None) -> None:
    lines = report_lines(report)
    if colour if colour is not None else _use_colour(stream):
        from rich.console import Console
        from rich.text import Text

        console = Console(file=stream, highlight=False, soft_wrap=True, force_terminal=True)
        for line in lines:
            console.print(Text.assemble(*[(printable(text), style or "") for text, style in line]))
        return
    for line in lines:
        stream.write("".join(printable(text) for text, _ in line) + "\n")


__all__ = [
    "CONDITION_STYLE",
    "OUTCOME_MARK",
    "STATUS_STYLE",
    "Line",
    "Segment",
    "condition_lines",
    "drift_line",
    "render",
    "report_lines",
    "site_lines",
    "step_line",
    "summary_line",
]
