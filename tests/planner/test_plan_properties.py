"""Property tests: for every (live, desired) the rules allow, the plan converges legally.

Live states are drawn from the states the emulator can actually be in (a toggle that is on
implies a mode, disabled reason codes and hidden portal cancellation), and each plan is run
through `emulator.rules`, the emulator's own rule functions. A refused write fails the
test, so "the plan respects the product's rules" is checked by the rules, not restated.
"""

from __future__ import annotations

from dataclasses import replace

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from emulator import rules
from reconciler.model import Desired, IntegrationMode, Management
from reconciler.plan import ConditionType, plan
from tests.planner._cases import EMAIL, want
from tests.planner._model import World, forbidden

BRIGHTBACK_SITES = ("bb-a", "bb-b")
MODES = (None, *rules.MODES)
OUTSIDE_BLOCKERS = {
    "brightback_site_not_found",
    "account_not_found",
    "email_not_editable",
    "no_cancel_path",  # toggle on, experience unpublished: a person publishes (or disconnects)
}
MAX_STEPS = 8  # the longest legal path: disconnect, restore, connect, mode, codes, toggle


@st.composite
def worlds(draw: st.DrawFn) -> World:
    status = draw(st.sampled_from(["not_found", "pending_activation", "active"]))
    names = (
        []
        if status == "not_found"
        else draw(st.lists(st.sampled_from(BRIGHTBACK_SITES), min_size=1, unique=True))
    )
    account = rules.Account(
        EMAIL,
        status,
        {n: {m: draw(st.sampled_from(["draft", "published"])) for m in rules.MODES} for n in names},
    )
    state = rules.SiteState(
        site="acme",
        email=EMAIL,
        version=draw(st.integers(1, 1000)),
        reason_codes_enabled=draw(st.booleans()),
        portal_cancellation_enabled=draw(st.booleans()),
    )
    if status == "active" and draw(st.booleans()):
        mode = draw(st.sampled_from(MODES))
        toggle = mode is not None and draw(st.booleans())
        state = replace(
            state,
            connected=True,
            brightback_site=draw(st.sampled_from(names)),
            account_email=draw(st.sampled_from([EMAIL, "previous@acme.example"])),
            api_key_id="bbkey_0",
            data_sync=True,
            access_level="read_write",
            integrate_via=mode,
            toggle=toggle,
        )
        if toggle:
            state = replace(state, reason_codes_enabled=False, portal_cancellation_enabled=False)
    return World(state, account)


@st.composite
def desires(draw: st.DrawFn, allow_disconnect: bool = True) -> Desired:
    connected = draw(st.booleans())
    mode = draw(
        st.sampled_from([None, IntegrationMode.CUSTOMER_PORTAL, IntegrationMode.RETENTION_API])
    )
    return want(
        connected=connected,
        brightback_site=draw(st.sampled_from([*BRIGHTBACK_SITES, "bb-missing"])),
        mode=mode,
        toggle=mode is not None and draw(st.booleans()),
        portal=draw(st.booleans()),
        reason_codes=draw(st.booleans()),
        allow_disconnect=allow_disconnect,
        sign_up=draw(st.booleans()),
        toggle_before_publish=draw(st.booleans()),
    )


def run_plan(w: World, desired: Desired, steps_so_far: int) -> tuple[World, int]:
    p = plan(desired, w.live())
    for step in p.steps:
        w = w.run(desired, step)  # raises rules.RuleViolation on an illegal write
        problems = list(forbidden(w.state, w.account))
        assert not problems, (step.action, problems)
    if not w.state.connected and desired.fallback.portal_cancellation:
        assert w.state.portal_cancellation_enabled, "customers left without a way to cancel"
    return w, steps_so_far + len(p.steps)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(worlds(), desires())
def test_every_allowed_plan_converges_legally_in_bounded_steps(w: World, desired: Desired) -> None:
    steps = 0
    for _ in range(6):  # at most: plan, activation, plan, publish, plan
        first = plan(desired, w.live())
        if first.blocked:
            assert {c.reason for c in first.blocked} <= OUTSIDE_BLOCKERS
            return
        w, steps = run_plan(w, desired, steps)
        after = plan(desired, w.live())
        if after.steps:
            continue
        waiting = {c.reason for c in after.conditions if c.type is ConditionType.WAITING}
        if "account_pending_activation" in waiting:
            w = w.activate()  # the person clicks the activation link
            continue
        if after.drift and "experience_not_published" in waiting:
            w = w.publish_all()  # the person publishes; the toggle waited for it
            continue
        assert after.drift == (), after.drift
        assert waiting <= {"experience_not_published"}
        break
    else:
        raise AssertionError("did not converge")
    assert steps <= MAX_STEPS + 1  # + sign_up
    converged = plan(desired, w.live())
    assert converged.steps == () and plan(desired, w.live()) == converged


@settings(max_examples=300, deadline=None)
@given(worlds(), desires(allow_disconnect=False))
def test_without_the_allowance_no_runnable_plan_disconnects(w: World, desired: Desired) -> None:
    p = plan(desired, w.live())
    if p.has_destructive:
        assert "disconnect_not_allowed" in {c.reason for c in p.blocked}
    assert all(s.destructive == (s.action.value == "disconnect") for s in p.steps)


@settings(max_examples=200, deadline=None)
@given(worlds(), desires(), st.sampled_from(["observe", "suspended"]))
def test_observe_only_and_suspended_sites_never_plan_a_step(
    w: World, desired: Desired, how: str
) -> None:
    if how == "observe":
        policy = replace(desired.policy, management=Management.OBSERVE)
    else:
        policy = replace(desired.policy, suspended=True)
    p = plan(replace(desired, policy=policy), w.live(), allow_disconnect=True)
    assert p.steps == ()
    assert bool(p.drift) == any(c.type is ConditionType.DRIFTED for c in p.conditions)
