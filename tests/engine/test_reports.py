"""Renderers over one RunReport: plain text off a TTY, schema-valid JSON, escaped Markdown."""

from __future__ import annotations

import io
import json
from pathlib import Path

import jsonschema
import pytest

from reconciler.apply import StepOutcome, StepStatus
from reconciler.live import live_from_api
from reconciler.plan import Action, Condition, ConditionType, Drift, Plan, Step
from reconciler.report import RunReport, SiteReport, SiteStatus, render
from reconciler.report.json_report import (
    PRETTY_MAX_SITES,
    LazySites,
    report_to_dict,
    write_document,
    write_json,
)
from reconciler.report.markdown_report import text as md_text

from ._builders import integration

SCHEMA = json.loads((Path(__file__).parents[2] / "schemas/report.schema.json").read_text())

DISCONNECT = Step(
    Action.DISCONNECT,
    rule="rule 9: the toggle cannot be switched off",
    reason="spec.cancellationViaBrightback is false",
    destructive=True,
)
RESTORE = Step(
    Action.RESTORE_CANCEL_EXPERIENCE,
    args={"reason_codes_enabled": True, "portal_cancellation_enabled": True},
    rule="rule 9: restore the previous cancel experience",
)


def blocked_site(
    name: str = "acme-live", message: str = "disconnect needs an allowance"
) -> SiteReport:
    plan = Plan(
        name=name,
        site="acme",
        live_version=7,
        steps=(DISCONNECT, RESTORE),
        drift=(Drift("spec.cancellationViaBrightback", False, True),),
        conditions=(
            Condition(
                ConditionType.BLOCKED,
                "disconnect_not_allowed",
                message,
                "set spec.policy.allowDisconnect: true or pass --allow-disconnect",
            ),
        ),
    )
    return SiteReport(
        name=name,
        site="acme",
        status=SiteStatus.BLOCKED,
        plan=plan,
        live=live_from_api(integration(version=7)),
        conditions=plan.conditions,
    )


def in_sync_site(name: str) -> SiteReport:
    plan = Plan(name=name, site=name, live_version=3)
    return SiteReport(name, name, SiteStatus.IN_SYNC, plan, live_from_api(integration(name, 3)))


def applied_site() -> SiteReport:
    outcomes = (
        StepOutcome(
            Step(Action.CONNECT, args={"brightback_site": "b-r"}), StepStatus.APPLIED, "ok", 2
        ),
        StepOutcome(Step(Action.SET_INTEGRATION_MODE), StepStatus.FAILED, "boom <b>", None),
    )
    return SiteReport(
        "beta",
        "beta",
        SiteStatus.FAILED,
        None,
        None,
        outcomes=outcomes,
        conditions=(Condition(ConditionType.FAILED, "transport_error", "unreachable"),),
        error="unreachable",
    )


def test_plain_text_has_steps_rule_destructive_marker_drift_and_unblock() -> None:
    out = io.StringIO()
    render(RunReport("plan", (blocked_site(), in_sync_site("zeta"))), "text", out)
    text = out.getvalue()
    assert "\x1b[" not in text  # a StringIO is not a TTY: no colour codes
    assert "acme-live (site acme)  blocked" in text
    assert "1. disconnect  [destructive]" in text
    assert "why: rule 9: the toggle cannot be switched off" in text
    assert "~ spec.cancellationViaBrightback: live true, desired false" in text
    assert "Blocked disconnect_not_allowed: disconnect needs an allowance" in text
    assert "to proceed: set spec.policy.allowDisconnect: true or pass --allow-disconnect" in text
    assert text.rstrip().endswith("Exit code 1.")  # a Blocked site
    assert text.index("acme-live") < text.index("zeta")


def test_coloured_text_is_used_only_when_asked_or_on_a_tty() -> None:
    from reconciler.report.text_report import render as render_text

    out = io.StringIO()
    render_text(RunReport("plan", (blocked_site("a[bold]b"),)), out, colour=True)
    assert "a[bold]b" in out.getvalue()  # rich markup in values is printed, not parsed
    assert "\x1b[" in out.getvalue()


def test_json_report_matches_its_schema_and_is_stable() -> None:
    report = RunReport("apply", (applied_site(), blocked_site()))
    first, second = io.StringIO(), io.StringIO()
    render(report, "json", first)
    render(report, "json", second)
    assert first.getvalue() == second.getvalue()
    document = json.loads(first.getvalue())
    jsonschema.validate(document, SCHEMA)
    assert document["exit_code"] == 1
    assert [s["name"] for s in document["sites"]] == ["acme-live", "beta"]
    assert document["summary"]["blocked"] == 1 and document["summary"]["failed"] == 1
    assert document["sites"][1]["outcomes"][1]["status"] == "failed"


def test_markdown_escapes_user_and_server_text() -> None:
    hostile = "evil | <script>alert(1)</script> *bold* [x](http://e)"
    out = io.StringIO()
    render(RunReport("plan", (blocked_site(message=hostile),)), "markdown", out)
    markdown = out.getvalue()
    assert "<script>" not in markdown
    assert "&lt;script&gt;" in markdown
    assert "evil \\| " in markdown
    assert "\\*bold\\*" in markdown and "\\[x\\]\\(http" in markdown
    assert md_text("a\nb") == "a<br>b"


def test_markdown_for_fifty_sites_fits_on_a_screen() -> None:
    sites = [in_sync_site(f"site-{i:02d}") for i in range(48)]
    sites += [blocked_site("acme-live"), blocked_site("acme-test")]
    out = io.StringIO()
    render(RunReport("plan", tuple(sites)), "markdown", out)
    lines = out.getvalue().splitlines()
    visible = [line for line in lines if line.startswith(("|", "<summary>", "###", "Exit"))]
    assert len(visible) <= 12  # header, table of the 2 that need attention, collapsed rest
    assert "48 in sync" in out.getvalue()


@pytest.mark.parametrize(
    ("command", "statuses", "code"),
    [
        ("plan", [SiteStatus.IN_SYNC, SiteStatus.WAITING], 0),
        ("plan", [SiteStatus.IN_SYNC, SiteStatus.CHANGES], 2),
        ("plan", [SiteStatus.DRIFTED], 0),  # observe-only drift: reported, nothing pending
        ("plan", [SiteStatus.CHANGES, SiteStatus.BLOCKED], 1),
        ("reconcile", [SiteStatus.APPLIED, SiteStatus.IN_SYNC], 2),
        ("reconcile", [SiteStatus.APPLIED, SiteStatus.BLOCKED], 1),
        ("reconcile", [SiteStatus.DRIFTED, SiteStatus.WAITING], 0),
        ("plan", [SiteStatus.CHANGES, SiteStatus.FAILED], 1),
        ("apply", [SiteStatus.APPLIED, SiteStatus.IN_SYNC], 2),
        ("apply", [SiteStatus.APPLIED, SiteStatus.BLOCKED], 1),
        ("apply", [SiteStatus.WAITING, SiteStatus.IN_SYNC], 0),
    ],
)
def test_exit_codes_follow_terraform(command: str, statuses: list[SiteStatus], code: int) -> None:
    sites = tuple(
        SiteReport(f"s{i}", f"s{i}", status, None, None) for i, status in enumerate(statuses)
    )
    assert RunReport(command, sites).exit_code == code


def test_a_big_report_streams_site_entries_built_one_at_a_time_with_the_same_bytes() -> None:
    """Issue 17: a 10,000-site report's entries are never all held as dicts; the streamed
    text is exactly the eager one, for stdout and for the file (with its labels)."""
    sites = tuple(in_sync_site(f"site-{n:04d}") for n in range(PRETTY_MAX_SITES + 50))
    report = RunReport("reconcile", sites)
    eager = report_to_dict(report)
    lazy = report_to_dict(report, lazy=True)
    assert isinstance(lazy["sites"], LazySites) and lazy["sites"][3] == eager["sites"][3]
    printed = io.StringIO()
    write_document(lazy, printed)
    assert json.loads(printed.getvalue()) == eager
    assert printed.getvalue() == json.dumps(eager, separators=(",", ":")) + "\n"
    labelled = LazySites(report.sites, lambda site: {"labels": {"name": site.name}})
    file = io.StringIO()
    write_json({"sites": labelled}, file, sort_keys=True)
    assert json.loads(file.getvalue())["sites"][-1] == {
        **eager["sites"][-1],
        "labels": {"name": sites[-1].name},
    }
