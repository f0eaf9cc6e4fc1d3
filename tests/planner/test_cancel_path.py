"""The cancel-path invariant: customers are never left without a way to cancel.

A site has a cancel path when portal cancellation is on, or Cancellation via Brightback is
on *with traffic* (its experience published, rule 8). Every plan is run through
`emulator.rules` (the emulator's own rule functions), so "a way to cancel" is judged on
the state the emulator would really be in after each write.
"""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from emulator import rules
from reconciler.model import Desired, IntegrationMode, Management
from reconciler.plan import Action, ConditionType, Plan, Step, plan
from tests.planner._cases import live_site, want, world
from tests.planner._model import World
from tests.planner.test_plan_properties import desires, worlds

A = Action
BOTH_PUBLISHED = (("acme-retention", "customer_portal"), ("acme-eu", "customer_portal"))


def actions(p: Plan) -> list[Action]:
    return [s.action for s in p.steps]


def reasons(p: Plan, kind: ConditionType) -> list[str]:
    return [c.reason for c in p.conditions if c.type is kind]


def can_cancel(w: World) -> bool:
    """Judged by the emulator: portal cancellation on, or the toggle on with traffic."""
    return w.state.portal_cancellation_enabled or rules.traffic_status(w.state, w.account) == "on"


def owed(desired: Desired, w: World) -> bool:
    """Whether the spec promises a way to cancel in this state: it "asks otherwise" only
    with `fallbackCancelExperience.portalCancellation: false` (while Brightback does not
    handle cancellations) or `policy.toggleBeforePublish` (while the toggle is on)."""
    if w.state.toggle:
        return not desired.policy.toggle_before_publish
    return desired.fallback.portal_cancellation


def runnable(p: Plan) -> tuple[Step, ...]:
    """What apply and reconcile execute: everything, or only the safe steps when blocked."""
    return p.safe_steps if p.blocked else p.steps


# ---------------------------------------------------------------- safe steps when blocked


def test_a_blocked_plan_still_restores_the_fallback_as_its_safe_first_step() -> None:
    # Disconnected in the console with portal cancellation off; the spec names a
    # Brightback site the account does not have.
    w = world(portal_cancellation_enabled=False, reason_codes_enabled=False)
    p = plan(want(brightback_site="nope"), w.live())
    assert reasons(p, ConditionType.BLOCKED) == ["brightback_site_not_found"]
    assert actions(p) == [A.RESTORE_CANCEL_EXPERIENCE]
    assert p.safe_steps == p.steps
    assert can_cancel(w.run(want(), p.safe_steps[0]))


def test_email_not_editable_still_restores_the_fallback() -> None:
    w = world(portal_cancellation_enabled=False)
    p = plan(want(account_email="someone@else.example"), w.live())
    assert reasons(p, ConditionType.BLOCKED) == ["email_not_editable"]
    assert actions(p) == [A.RESTORE_CANCEL_EXPERIENCE] and p.safe_steps == p.steps


def test_a_disconnect_waiting_for_its_allowance_restores_first_and_only_that_is_safe() -> None:
    w = live_site(toggle=False, portal_cancellation_enabled=False, reason_codes_enabled=True)
    p = plan(want(connected=False), w.live())
    assert reasons(p, ConditionType.BLOCKED) == ["disconnect_not_allowed"]
    assert actions(p) == [A.RESTORE_CANCEL_EXPERIENCE, A.DISCONNECT]
    assert [s.action for s in p.safe_steps] == [A.RESTORE_CANCEL_EXPERIENCE]


def test_a_restore_after_a_disconnect_is_never_a_safe_step() -> None:
    p = plan(want(connected=False), live_site().live())
    assert actions(p) == [A.DISCONNECT, A.RESTORE_CANCEL_EXPERIENCE] and p.blocked
    assert p.safe_steps == ()


# ---------------------------------------------------------------- restore before reconnect


def test_resuming_a_half_done_toggle_off_restores_before_it_reconnects() -> None:
    # The disconnect of a toggle-off went through; the restore did not (a crash).
    w = world(portal_cancellation_enabled=False, reason_codes_enabled=False)
    desired = want(toggle=False)
    p = plan(desired, w.live())
    assert actions(p) == [A.RESTORE_CANCEL_EXPERIENCE, A.CONNECT, A.SET_INTEGRATION_MODE]
    after_restore = w.run(desired, p.steps[0])
    assert can_cancel(after_restore)  # a failed connect now strands nobody


def test_resuming_a_half_done_site_change_restores_before_it_reconnects() -> None:
    w = world(
        portal_cancellation_enabled=False, reason_codes_enabled=False, published=BOTH_PUBLISHED
    )
    desired = want(brightback_site="acme-eu")
    p = plan(desired, w.live())
    assert actions(p) == [
        A.RESTORE_CANCEL_EXPERIENCE,
        A.CONNECT,
        A.SET_INTEGRATION_MODE,
        A.DISABLE_REASON_CODES,
        A.ENABLE_CANCELLATION_VIA_BRIGHTBACK,
    ]
    for step in p.steps:
        w = w.run(desired, step)
        assert can_cancel(w), step.action


# ---------------------------------------------------------------- toggle waits for publish


def test_the_toggle_waits_for_the_published_experience_and_the_fallback_stays() -> None:
    w = world(published=())
    desired = want()
    p = plan(desired, w.live())
    assert actions(p) == [A.CONNECT, A.SET_INTEGRATION_MODE]
    assert reasons(p, ConditionType.WAITING) == ["experience_not_published"]
    waiting = p.waiting[0]
    assert "customer_portal" in waiting.message and "acme-retention" in waiting.message
    assert waiting.unblock is not None
    assert "publish the customer_portal experience of acme-retention" in waiting.unblock
    for step in p.steps:
        w = w.run(desired, step)
        assert can_cancel(w)
    assert w.state.portal_cancellation_enabled and not w.state.toggle


def test_the_toggle_waits_with_the_whole_fallback_in_force() -> None:
    w = world(published=(), reason_codes_enabled=False)
    p = plan(want(), w.live())
    assert actions(p) == [A.CONNECT, A.SET_INTEGRATION_MODE, A.RESTORE_CANCEL_EXPERIENCE]


def test_policy_toggle_before_publish_keeps_the_help_pages_order() -> None:
    w = world(published=())
    desired = want(toggle_before_publish=True)
    p = plan(desired, w.live())
    assert actions(p) == [
        A.CONNECT,
        A.SET_INTEGRATION_MODE,
        A.DISABLE_REASON_CODES,
        A.ENABLE_CANCELLATION_VIA_BRIGHTBACK,
    ]
    assert reasons(p, ConditionType.WAITING) == ["experience_not_published"]
    assert not p.blocked


def test_a_mode_switch_of_a_toggled_site_waits_for_the_new_modes_experience() -> None:
    w = live_site()  # customer_portal published, retention_api not
    desired = want(mode=IntegrationMode.RETENTION_API)
    p = plan(desired, w.live())
    assert p.steps == () and not p.blocked
    assert reasons(p, ConditionType.WAITING) == ["experience_not_published"]
    assert "retention_api" in p.waiting[0].message
    assert can_cancel(w)
    opted = plan(want(mode=IntegrationMode.RETENTION_API, toggle_before_publish=True), w.live())
    assert actions(opted) == [A.SET_INTEGRATION_MODE]


def test_a_mode_switch_of_a_toggle_off_site_does_not_wait() -> None:
    w = live_site(toggle=False, portal_cancellation_enabled=True, reason_codes_enabled=True)
    p = plan(want(mode=IntegrationMode.RETENTION_API, toggle=False), w.live())
    assert actions(p) == [A.SET_INTEGRATION_MODE]


# ---------------------------------------------------------------- no_cancel_path


def test_a_toggled_site_whose_experience_was_unpublished_is_blocked_no_cancel_path() -> None:
    w = live_site(published=())
    p = plan(want(), w.live())
    assert not can_cancel(w)
    assert reasons(p, ConditionType.BLOCKED) == ["no_cancel_path"]
    assert reasons(p, ConditionType.WAITING) == []
    condition = p.blocked[0]
    assert "cannot cancel" in condition.message
    assert condition.unblock is not None
    assert "publish the customer_portal experience of acme-retention" in condition.unblock
    assert "allowDisconnect" in condition.unblock


def test_no_cancel_path_is_reported_for_observe_only_and_suspended_sites_too() -> None:
    for desired in (want(management=Management.OBSERVE), want(suspended=True)):
        p = plan(desired, live_site(published=()).live())
        assert "no_cancel_path" in reasons(p, ConditionType.BLOCKED) and p.steps == ()
    hidden = world(portal_cancellation_enabled=False)
    p = plan(want(connected=False, management=Management.OBSERVE), hidden.live())
    assert reasons(p, ConditionType.BLOCKED) == ["no_cancel_path"]
    assert "portal cancellation is off" in p.blocked[0].message


def test_no_cancel_path_is_not_raised_when_the_plan_fixes_it_or_the_spec_asks_otherwise() -> None:
    w = live_site(published=())
    assert plan(want(toggle_before_publish=True), w.live()).blocked == ()
    fixed = plan(want(connected=False, allow_disconnect=True), w.live())
    assert fixed.blocked == () and actions(fixed)[-1] is A.RESTORE_CANCEL_EXPERIENCE
    no_portal = world(portal_cancellation_enabled=False)
    assert plan(want(connected=False, portal=False), no_portal.live()).blocked == ()


# ---------------------------------------------------------------- the property

# The one named exception: between a disconnect and the restore that follows it, the site
# is disconnected with its settings as they were (rule 9's trap) for one write.
EXCEPTION = "between a disconnect and its restore"


def check_run(desired: Desired, w: World, p: Plan, steps: tuple[Step, ...]) -> World:
    """Run `steps`, asserting the cancel path after every write that is not the named
    exception. A site that could not cancel before the plan must be reported."""
    if not can_cancel(w) and owed(desired, w):
        # Either this run restores it, or the plan says so loudly.
        reported = "no_cancel_path" in reasons(p, ConditionType.BLOCKED)
        restores = bool(steps)
        assert reported or restores, "a site without a cancel path went unreported"
        if reported:
            for step in steps:
                w = w.run(desired, step)
            return w
    previous: Step | None = None
    for step in steps:
        w = w.run(desired, step)
        in_exception = step.action is A.DISCONNECT
        if not in_exception and owed(desired, w):
            assert can_cancel(w), (step.action, previous and previous.action, w.state)
        if previous is not None and previous.action is A.DISCONNECT and owed(desired, w):
            assert step.action is A.RESTORE_CANCEL_EXPERIENCE or can_cancel(w), EXCEPTION
        previous = step
    return w


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(worlds(), desires(allow_disconnect=True), st.booleans())
def test_after_every_write_and_every_pass_each_site_has_a_cancel_path(
    w: World, desired: Desired, allowance: bool
) -> None:
    if not allowance:
        from dataclasses import replace

        desired = replace(desired, policy=replace(desired.policy, allow_disconnect=False))
    for _ in range(5):  # passes, with a person activating and publishing between them
        p = plan(desired, w.live())
        w = check_run(desired, w, p, runnable(p))
        # The end of the pass: a way to cancel, unless the spec asks otherwise or the
        # plan reported that it could not give one.
        if owed(desired, w) and not can_cancel(w):
            assert "no_cancel_path" in reasons(p, ConditionType.BLOCKED)
            return
        if w.account.status == "pending_activation":
            w = w.activate()
        elif p.waiting:
            w = w.publish_all()
        elif not runnable(p):
            return


def test_sites_without_a_cancel_path_are_a_prometheus_gauge_to_alert_on() -> None:
    from prometheus_client import generate_latest

    from reconciler.client import ClientStats
    from reconciler.fleet.metrics import FleetMetrics
    from reconciler.report import RunReport, SiteReport

    desired = want()
    w = live_site(published=())
    stranded = SiteReport.from_plan(desired, plan(desired, w.live()), w.live())
    fine = SiteReport.from_plan(desired, plan(desired, live_site().live()), live_site().live())
    metrics = FleetMetrics()
    metrics.observe_pass(RunReport("reconcile", (stranded,)), 0.1, 0, 0, ClientStats())
    text = generate_latest(metrics.registry).decode()
    assert "brightback_sites_without_cancel_path 1.0" in text
    metrics.observe_pass(RunReport("reconcile", (fine,)), 0.1, 0, 0, ClientStats())
    assert "brightback_sites_without_cancel_path 0.0" in generate_latest(metrics.registry).decode()
