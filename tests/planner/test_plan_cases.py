"""The planner's hard cases, one behaviour per test, each checked against the rules model."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from reconciler.model import Desired, IntegrationMode, Management
from reconciler.plan import Action, ConditionType, Plan, plan
from tests.planner._cases import EMAIL, live_site, want, world
from tests.planner._model import World, forbidden

PLAN_SCHEMA = json.loads(
    (Path(__file__).parents[2] / "schemas" / "plan.schema.json").read_text(encoding="utf-8")
)
A = Action


def actions(p: Plan) -> list[Action]:
    return [s.action for s in p.steps]


def reasons(p: Plan, kind: ConditionType) -> list[str]:
    return [c.reason for c in p.conditions if c.type is kind]


def run(w: World, p: Plan, desired: Desired) -> World:
    for step in p.steps:
        w = w.run(desired, step)
        assert not list(forbidden(w.state, w.account))
    return w


def test_onboarding_connects_sets_mode_disables_reason_codes_then_enables_the_toggle() -> None:
    desired, w = want(), world()
    p = plan(desired, w.live())
    assert actions(p) == [
        A.CONNECT,
        A.SET_INTEGRATION_MODE,
        A.DISABLE_REASON_CODES,
        A.ENABLE_CANCELLATION_VIA_BRIGHTBACK,
    ]
    assert p.steps[1].depends_on == (0,)
    assert set(p.steps[3].depends_on) == {0, 1, 2}
    assert not p.has_destructive and not p.blocked
    after = run(w, p, desired)
    assert plan(desired, after.live()).in_sync


def test_onboarding_skips_reason_codes_when_already_disabled() -> None:
    p = plan(want(), world(reason_codes_enabled=False).live())
    assert A.DISABLE_REASON_CODES not in actions(p)


def test_unpublished_experience_is_a_waiting_condition_not_drift_to_fix() -> None:
    desired = want(mode=IntegrationMode.RETENTION_API)
    w = world()
    p = plan(desired, w.live())
    waiting = [c for c in p.conditions if c.type is ConditionType.WAITING]
    assert [c.reason for c in waiting] == ["experience_not_published"]
    assert "experience for retention_api not published in Brightback" in waiting[0].message
    after = run(w, p, desired)
    again = plan(desired, after.live())
    assert again.steps == ()
    assert reasons(again, ConditionType.WAITING) == ["experience_not_published"]
    published = plan(desired, after.publish_all().live())
    assert actions(published) == [A.DISABLE_REASON_CODES, A.ENABLE_CANCELLATION_VIA_BRIGHTBACK]
    done = run(after.publish_all(), published, desired)
    assert plan(desired, done.live()).conditions[0].type is ConditionType.READY


def test_toggle_on_to_off_is_disconnect_restore_reconnect_and_blocked_without_allowance() -> None:
    w = live_site()
    desired = want(toggle=False)
    blocked = plan(desired, w.live())
    assert actions(blocked) == [
        A.DISCONNECT,
        A.RESTORE_CANCEL_EXPERIENCE,
        A.CONNECT,
        A.SET_INTEGRATION_MODE,
    ]
    assert reasons(blocked, ConditionType.BLOCKED) == ["disconnect_not_allowed"]
    assert blocked.blocked[0].unblock is not None
    assert "--allow-disconnect" in blocked.blocked[0].unblock
    allowed = plan(desired, w.live(), allow_disconnect=True)
    assert not allowed.blocked and allowed.steps == blocked.steps
    assert allowed.steps[0].destructive and "rule 9" in allowed.steps[0].reason
    after = run(w, allowed, desired)
    assert after.state.connected and not after.state.toggle
    assert after.state.portal_cancellation_enabled and after.state.reason_codes_enabled
    assert plan(desired, after.live()).in_sync


def test_policy_allow_disconnect_in_the_document_counts_as_the_allowance() -> None:
    p = plan(want(toggle=False, allow_disconnect=True), live_site().live())
    assert not p.blocked and p.has_destructive


def test_changing_the_brightback_site_is_disconnect_and_reconnect_with_restore_between() -> None:
    w = live_site(published=(("acme-retention", "customer_portal"), ("acme-eu", "customer_portal")))
    desired = want(brightback_site="acme-eu", allow_disconnect=True)
    p = plan(desired, w.live())
    assert actions(p) == [
        A.DISCONNECT,
        A.RESTORE_CANCEL_EXPERIENCE,
        A.CONNECT,
        A.SET_INTEGRATION_MODE,
        A.DISABLE_REASON_CODES,
        A.ENABLE_CANCELLATION_VIA_BRIGHTBACK,
    ]
    assert p.steps[2].args["brightback_site"] == "acme-eu"
    after = run(w, p, desired)
    assert after.state.brightback_site == "acme-eu"
    assert plan(desired, after.live()).steps == ()


def test_a_changed_site_email_means_a_different_account_and_a_reconnect() -> None:
    w = live_site(account_email="old-owner@acme.example")
    p = plan(want(allow_disconnect=True), w.live())
    assert actions(p)[:3] == [A.DISCONNECT, A.RESTORE_CANCEL_EXPERIENCE, A.CONNECT]
    assert any(d.field == "spec.connection.accountEmail" for d in p.drift)


def test_desired_disconnect_restores_the_fallback_in_the_same_plan() -> None:
    w = live_site()
    desired = want(connected=False, allow_disconnect=True)
    p = plan(desired, w.live())
    assert actions(p) == [A.DISCONNECT, A.RESTORE_CANCEL_EXPERIENCE]
    assert p.steps[1].depends_on == (0,)
    after = run(w, p, desired)
    assert not after.state.connected
    assert after.state.portal_cancellation_enabled and after.state.reason_codes_enabled


def test_desired_disconnect_is_blocked_without_the_allowance() -> None:
    p = plan(want(connected=False), live_site().live())
    assert p.blocked and p.has_destructive


def test_disconnected_in_the_ui_with_portal_cancellation_off_is_restored_without_destruction() -> (
    None
):
    w = world(portal_cancellation_enabled=False, reason_codes_enabled=False)
    p = plan(want(connected=False), w.live())
    assert actions(p) == [A.RESTORE_CANCEL_EXPERIENCE]
    assert not p.has_destructive and not p.blocked


def test_connected_with_toggle_off_enforces_the_fallback() -> None:
    w = live_site(toggle=False, portal_cancellation_enabled=False, reason_codes_enabled=True)
    p = plan(want(toggle=False), w.live())
    assert actions(p) == [A.RESTORE_CANCEL_EXPERIENCE]


def test_mode_change_while_the_toggle_is_on_is_a_plain_update_into_a_published_experience() -> None:
    w = live_site(
        published=(("acme-retention", "customer_portal"), ("acme-retention", "retention_api"))
    )
    desired = want(mode=IntegrationMode.RETENTION_API)
    p = plan(desired, w.live())
    assert actions(p) == [A.SET_INTEGRATION_MODE]
    assert not p.blocked and not p.waiting


def test_pending_activation_waits_and_plans_nothing() -> None:
    p = plan(want(), world(account="pending_activation").live())
    assert p.steps == () and reasons(p, ConditionType.WAITING) == ["account_pending_activation"]


def test_missing_account_is_blocked_unless_sign_up_is_allowed() -> None:
    w = world(account="not_found", brightback_sites=())
    blocked = plan(want(), w.live())
    assert blocked.steps == () and reasons(blocked, ConditionType.BLOCKED) == ["account_not_found"]
    desired = want(sign_up=True)
    signing = plan(desired, w.live())
    assert actions(signing) == [A.SIGN_UP]
    assert reasons(signing, ConditionType.WAITING) == ["account_pending_activation"]
    after = run(w, signing, desired)
    assert after.account.status == "pending_activation"
    assert plan(desired, after.live()).steps == ()
    onboarding = plan(desired, after.activate().live())
    assert actions(onboarding)[0] is A.CONNECT


def test_unknown_brightback_site_is_blocked_naming_the_sites_the_account_has() -> None:
    p = plan(want(brightback_site="nope"), world().live())
    blocked = p.blocked
    assert [c.reason for c in blocked] == ["brightback_site_not_found"]
    assert "acme-retention" in blocked[0].message and "acme-eu" in blocked[0].message


def test_no_disconnect_is_planned_when_the_reconnect_could_not_happen() -> None:
    p = plan(want(brightback_site="nope", allow_disconnect=True), live_site().live())
    assert p.steps == () and p.blocked


def test_account_email_that_is_not_the_sites_email_is_blocked() -> None:
    p = plan(want(account_email="someone@else.example"), world().live())
    assert reasons(p, ConditionType.BLOCKED) == ["email_not_editable"] and p.steps == ()


def test_account_email_compares_case_insensitively() -> None:
    p = plan(want(account_email=EMAIL.upper()), live_site().live())
    assert p.in_sync


@pytest.mark.parametrize(
    ("management", "suspended", "reason"),
    [(Management.OBSERVE, False, "observe_only"), (Management.FULL, True, "suspended")],
)
def test_observe_and_suspended_sites_plan_nothing_and_report_drift(
    management: Management, suspended: bool, reason: str
) -> None:
    p = plan(want(management=management, suspended=suspended), world().live())
    assert p.steps == ()
    assert reasons(p, ConditionType.DRIFTED) == [reason]
    assert {d.field for d in p.drift} >= {"spec.connection.state", "spec.cancellationViaBrightback"}
    converged = plan(want(management=management, suspended=suspended), live_site().live())
    assert converged.conditions[0].type is ConditionType.READY


def test_a_converged_site_plans_nothing_and_is_ready() -> None:
    p = plan(want(), live_site().live())
    assert p.in_sync and [c.reason for c in p.conditions] == ["in_sync"]


def test_plans_are_deterministic_and_the_fingerprint_follows_the_live_version() -> None:
    w = world()
    first, second = plan(want(), w.live()), plan(want(), w.live())
    assert first == second and first.fingerprint == second.fingerprint
    bumped = World(w.state.__class__(**{**w.state.__dict__, "version": 6}), w.account)
    assert plan(want(), bumped.live()).fingerprint != first.fingerprint


@pytest.mark.parametrize(
    "desired_and_world",
    [
        (want(), world()),
        (want(toggle=False), live_site()),
        (want(connected=False, allow_disconnect=True), live_site()),
        (want(management=Management.OBSERVE), world()),
        (want(sign_up=True), world(account="not_found", brightback_sites=())),
    ],
)
def test_plan_documents_match_the_published_plan_schema(
    desired_and_world: tuple[Desired, World],
) -> None:
    desired, w = desired_and_world
    document = plan(desired, w.live()).to_dict()
    jsonschema.validate(document, PLAN_SCHEMA)
    assert json.loads(json.dumps(document)) == document
