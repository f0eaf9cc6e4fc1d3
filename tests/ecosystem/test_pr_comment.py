"""`brightback plan --format markdown` as a PR comment: a 50-site rollout fits on a screen."""

from __future__ import annotations

import io

from reconciler.plan import Action, Condition, ConditionType, Plan, Step
from reconciler.report import RunReport, SiteReport, SiteStatus, render

ENABLE = Step(
    Action.ENABLE_CANCELLATION_VIA_BRIGHTBACK,
    rule="rule 5: needs a mode",
    reason="spec.cancellationViaBrightback is true",
)
DISCONNECT = Step(Action.DISCONNECT, rule="rule 9", reason="toggle off", destructive=True)
BLOCKED = Condition(
    ConditionType.BLOCKED,
    "disconnect_not_allowed",
    "a disconnect stops data sync",
    "set spec.policy.allowDisconnect: true or pass --allow-disconnect",
)


def site(
    name: str, status: SiteStatus, *steps: Step, conditions: tuple[Condition, ...] = ()
) -> SiteReport:
    plan = Plan(name=name, site=name, live_version=3, steps=steps, conditions=conditions)
    return SiteReport(name, name, status, plan, None, conditions=conditions)


def rollout() -> RunReport:
    sites = [site(f"brand-{i:02d}", SiteStatus.CHANGES, ENABLE) for i in range(46)]
    sites += [site("acme-live", SiteStatus.BLOCKED, DISCONNECT, conditions=(BLOCKED,))]
    sites += [site("acme-test", SiteStatus.CHANGES, DISCONNECT)]
    sites += [site(f"quiet-{i}", SiteStatus.IN_SYNC) for i in range(2)]
    return RunReport("plan", tuple(sites))


def markdown(report: RunReport) -> str:
    out = io.StringIO()
    render(report, "markdown", out)
    return out.getvalue()


def visible_lines(text: str) -> list[str]:
    """Non-blank lines a reader sees before expanding anything (summaries of closed blocks)."""
    seen, depth = [], 0
    for line in text.splitlines():
        if line == "<details>":
            depth += 1
            continue
        if line == "</details>":
            depth -= 1
            continue
        if line.strip() and (depth == 0 or (depth == 1 and line.startswith("<summary>"))):
            seen.append(line)
    return seen


def test_fifty_site_rollout_fits_on_a_screen() -> None:
    lines = visible_lines(markdown(rollout()))
    assert len(lines) <= 20, "\n".join(lines)


def test_sites_needing_a_person_stay_visible_in_a_big_rollout() -> None:
    shown = "\n".join(visible_lines(markdown(rollout())))
    assert "acme\\-live" in shown  # blocked
    assert "acme\\-test" in shown  # destructive step
    assert "brand\\-07" not in shown  # one of the 46 routine changes: collapsed


def test_big_rollout_still_names_every_site_and_step_when_expanded() -> None:
    text = markdown(rollout())
    assert "<summary>✏️ 46 changes</summary>" in text
    for i in range(46):
        assert f"<b>brand-{i:02d}</b> (brand-{i:02d}): changes" in text
    assert text.count("**enable\\_cancellation\\_via\\_brightback**") == 46
    assert "<summary>2 in sync</summary>" in text
    # a Blocked site (acme-live) makes a plan exit 1 (the exit-code table: README)
    assert text.rstrip().endswith("Exit code 1.")


def test_a_small_change_keeps_one_row_per_site() -> None:
    report = RunReport("plan", (site("one", SiteStatus.CHANGES, ENABLE),))
    lines = visible_lines(markdown(report))
    assert any(line.startswith("| ✏️ one | one | changes | 1 |") for line in lines)
