"""The report for pull-request comments: a summary table, then one collapsed block per site.

Sites in sync are only counted and named in one collapsed line, so 50 sites with a handful
of changes still fit on a screen; when more than `ROWS_LIMIT` sites changed (a fleet-wide
rollout), they are grouped by status in collapsed blocks and only the sites that need a
person (failed, blocked, destructive) stay at the top level.

Every value that came from a user or the API goes through `text()` (Markdown and HTML
escaping) or `html_text()`; structure is built by the small helpers below, never by pasting
raw values into markup.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable, Sequence
from typing import TextIO

from reconciler.apply import StepStatus
from reconciler.fields import printable, show
from reconciler.plan import Condition, Step
from reconciler.report import RunReport, SiteReport, SiteStatus

_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|~>])")

STATUS_ICON: dict[SiteStatus, str] = {
    SiteStatus.FAILED: "\N{CROSS MARK}",
    SiteStatus.BLOCKED: "\N{NO ENTRY}",
    SiteStatus.CHANGES: "\N{PENCIL}\N{VARIATION SELECTOR-16}",
    SiteStatus.APPLIED: "\N{WHITE HEAVY CHECK MARK}",
    SiteStatus.DRIFTED: "\N{WARNING SIGN}\N{VARIATION SELECTOR-16}",
    SiteStatus.WAITING: "\N{HOURGLASS WITH FLOWING SAND}",
    SiteStatus.IN_SYNC: "\N{HEAVY CHECK MARK}\N{VARIATION SELECTOR-16}",
}


def text(value: object) -> str:
    """Escape a value for Markdown body text (also safe inside table cells): a line break
    becomes `<br>`, any other control character its visible escape (`printable`)."""
    lines = str(value).replace("\r", "").split("\n")
    escaped = (html.escape(printable(line), quote=False) for line in lines)
    return "<br>".join(_MARKDOWN_SPECIAL.sub(r"\\\1", line) for line in escaped)


def html_text(value: object) -> str:
    """Escape a value for an HTML context such as <summary>."""
    return html.escape(printable(str(value).replace("\n", " ")), quote=True)


def table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> list[str]:
    """Cells must already be escaped with `text()`."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines.extend("| " + " | ".join(row) + " |" for row in rows)
    return lines


def details(summary_html: str, body: Sequence[str]) -> list[str]:
    return ["<details>", f"<summary>{summary_html}</summary>", "", *body, "", "</details>"]


def step_text(step: Step) -> str:
    args = ", ".join(f"{k}={show(v)}" for k, v in sorted(step.args.items()))
    out = f"**{text(step.action.value)}**"
    if args:
        out += f" ({text(args)})"
    if step.destructive:
        out += " **destructive**"
    return out


def condition_text(condition: Condition) -> str:
    out = f"**{text(condition.type.value)}** {text(condition.reason)}: {text(condition.message)}"
    if condition.unblock:
        out += f"<br>to proceed: {text(condition.unblock)}"
    return out


def site_body(site: SiteReport, command: str) -> list[str]:
    body: list[str] = []
    plan = site.plan
    if plan is not None and plan.drift:
        body.append("Drift:")
        body.extend(
            f"- {text(d.field)}: live {text(show(d.live))}, desired {text(show(d.desired))}"
            for d in plan.drift
        )
        body.append("")
    if not site.outcomes and plan is not None and plan.steps:
        body.append("Steps:")
        for number, step in enumerate(plan.steps, start=1):
            why = " - ".join(part for part in (step.rule, step.reason) if part)
            body.append(f"{number}. {step_text(step)}" + (f"<br>why: {text(why)}" if why else ""))
        body.append("")
    if site.outcomes:
        body.append("Steps:")
        for outcome in site.outcomes:
            line = f"- {text(outcome.status.value)}: {step_text(outcome.step)}"
            if outcome.status is not StepStatus.APPLIED:
                line += f"<br>{text(outcome.message)}"
            body.append(line)
        body.append("")
    if site.conditions:
        body.extend(f"- {condition_text(c)}" for c in site.conditions)
    return body


# Up to this many sites needing attention get a row each at the top level; beyond it they
# are grouped by status into collapsed blocks so a 50-site rollout still fits on a screen.
ROWS_LIMIT = 10


def words(status: SiteStatus) -> str:
    return status.value.replace("_", " ")


def site_rows(sites: Sequence[SiteReport]) -> list[str]:
    rows = []
    for site in sites:
        steps = len(site.plan.steps) if site.plan is not None else 0
        destructive = destructive_steps(site)
        first = site.conditions[0] if site.conditions else None
        condition = f"{first.type.value}: {first.reason}" if first else ""
        rows.append(
            [
                f"{STATUS_ICON[site.status]} {text(site.name)}",
                text(site.site),
                text(words(site.status)),
                str(steps),
                str(destructive) if destructive else "",
                text(condition),
            ]
        )
    return table(["Name", "Site", "Status", "Steps", "Destructive", "Condition"], rows)


def destructive_steps(site: SiteReport) -> int:
    return sum(1 for s in site.plan.steps if s.destructive) if site.plan is not None else 0


def site_blocks(sites: Sequence[SiteReport], command: str) -> list[str]:
    lines: list[str] = []
    for site in sites:
        summary = (
            f"<b>{html_text(site.name)}</b> ({html_text(site.site)}): "
            f"{html_text(words(site.status))}"
        )
        lines.extend(details(summary, site_body(site, command)))
    return lines


def needs_a_person(site: SiteReport) -> bool:
    """Failed, blocked or destructive: shown at the top level however many sites changed."""
    return site.status in (SiteStatus.FAILED, SiteStatus.BLOCKED) or destructive_steps(site) > 0


def grouped(attention: Sequence[SiteReport], command: str) -> list[str]:
    """Many sites: a count per status, the sites needing a person, the rest collapsed."""
    lines = table(
        ["Status", "Sites", "Steps"],
        [
            [
                f"{STATUS_ICON[status]} {text(words(status))}",
                str(len(group)),
                str(sum(len(s.plan.steps) for s in group if s.plan is not None)),
            ]
            for status in SiteStatus
            if (group := [s for s in attention if s.status is status])
        ],
    )
    lines.append("")
    urgent = [s for s in attention if needs_a_person(s)]
    if urgent:
        lines.append("**Needs a person:**")
        lines.append("")
        lines.extend(site_rows(urgent))
        lines.append("")
        lines.extend(site_blocks(urgent, command))
    for status in SiteStatus:
        group = [s for s in attention if s.status is status and not needs_a_person(s)]
        if group:
            summary = html_text(f"{STATUS_ICON[status]} {len(group)} {words(status)}")
            lines.extend(details(summary, [*site_rows(group), "", *site_blocks(group, command)]))
    return lines


def render(report: RunReport, stream: TextIO) -> None:
    counts = report.summary()
    parts = [f"{counts[s.value]} {words(s)}" for s in SiteStatus if counts[s.value]]
    title = f"brightback {report.command}: {counts['sites']} sites"
    lines = [f"### {text(title)}: {text(', '.join(parts) or 'nothing to do')}", ""]
    lines.extend(f"> {text(note)}" for note in report.notes)
    if report.notes:
        lines.append("")
    attention = [s for s in report.sites if s.status is not SiteStatus.IN_SYNC]
    if len(attention) > ROWS_LIMIT:
        lines.extend(grouped(attention, report.command))
    elif attention:
        lines.extend(site_rows(attention))
        lines.append("")
        lines.extend(site_blocks(attention, report.command))
    in_sync = [s for s in report.sites if s.status is SiteStatus.IN_SYNC]
    if in_sync:
        names = ", ".join(text(s.name) for s in in_sync)
        lines.extend(details(html_text(f"{len(in_sync)} in sync"), [names]))
    lines.append("")
    lines.append(f"Exit code {report.exit_code}.")
    stream.write("\n".join(lines) + "\n")


__all__ = [
    "ROWS_LIMIT",
    "STATUS_ICON",
    "condition_text",
    "destructive_steps",
    "details",
    "grouped",
    "html_text",
    "needs_a_person",
    "render",
    "site_blocks",
    "site_body",
    "site_rows",
    "step_text",
    "table",
    "text",
    "words",
]
