"""apply_site's control flow with a scripted planner and an in-memory control plane: the
order of writes, the versions and keys they carry, and every way it stops and re-plans."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

import reconciler.apply as apply_module
from reconciler.apply import StepStatus, apply_site
from reconciler.errors import ApiError, CredentialError, TransportError
from reconciler.live import live_from_api
from reconciler.model import ConnectionState, Desired, IntegrationMode, Live, LiveConnection
from reconciler.plan import Action, Condition, ConditionType, Plan, Step

from ._builders import desired, integration

CONNECT = Step(Action.CONNECT, expect={"connection.status": "connected"})
SET_MODE = Step(Action.SET_INTEGRATION_MODE, expect={"integrate_via": "customer_portal"})


def scripted_plan(target: Desired, live: Live, *, allow_disconnect: bool = False) -> Plan:
    """Connect, then set the mode: enough rules to exercise apply's control flow."""
    steps = []
    if not live.connected:
        steps.append(CONNECT)
    if live.integrate_via is not IntegrationMode.CUSTOMER_PORTAL:
        steps.append(SET_MODE)
    return Plan(name=target.name, site=target.site, live_version=live.version, steps=tuple(steps))


class FakeControlPlane:
    """Applies steps to an in-memory Live, enforcing expected_version like the server."""

    def __init__(self, live: Live) -> None:
        self.live = live
        self.calls: list[tuple[Action, int, str]] = []
        self.reads = 0
        self.before_write: list[Any] = []  # callables run before the n-th write
        self.lie: set[Action] = set()  # answer without making the change

    def read(self, target: Desired) -> Live:
        self.reads += 1
        return self.live

    def execute(
        self, target: Desired, step: Step, *, expected_version: int, idempotency_key: str
    ) -> Live:
        if self.before_write:
            self.before_write.pop(0)(self)
        self.calls.append((step.action, expected_version, idempotency_key))
        if expected_version != self.live.version:
            raise ApiError(
                "stale", http_status=409, api_error_code="stale_version", site=target.site
            )
        live = self.live
        if step.action not in self.lie:
            if step.action is Action.CONNECT:
                live = replace(live, connection=LiveConnection(ConnectionState.CONNECTED, "bb"))
            elif step.action is Action.SET_INTEGRATION_MODE:
                live = replace(live, integrate_via=IntegrationMode.CUSTOMER_PORTAL)
        self.live = replace(live, version=self.live.version + 1)
        return self.live

    def someone_clicks(self, mode: IntegrationMode | None = IntegrationMode.RETENTION_API) -> None:
        self.live = replace(self.live, integrate_via=mode, version=self.live.version + 1)


@pytest.fixture(autouse=True)
def _planner(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(apply_module, "plan", scripted_plan)


@pytest.fixture
def plane() -> FakeControlPlane:
    return FakeControlPlane(live_from_api(integration(version=5)))


def run(plane: FakeControlPlane, **options: Any) -> apply_module.SiteResult:
    return apply_site(desired(), plane, **options)  # type: ignore[arg-type]


def test_steps_run_in_order_each_from_the_version_it_planned_from(plane: FakeControlPlane) -> None:
    result = run(plane)
    assert [(a, v) for a, v, _ in plane.calls] == [
        (Action.CONNECT, 5),
        (Action.SET_INTEGRATION_MODE, 6),
    ]
    keys = [k for _, _, k in plane.calls]
    assert len(set(keys)) == 2 and all(k.startswith("bbgo-") for k in keys)
    assert [o.status for o in result.outcomes] == [StepStatus.APPLIED] * 2
    assert [o.version_after for o in result.outcomes] == [6, 7]
    assert result.final_live is not None and result.final_live.version == 7
    assert result.conditions[0].type is ConditionType.READY
    assert result.changed and result.ok and result.replans == ()
    assert plane.reads == 1  # verification uses the answers, not extra reads


def test_a_stale_version_re_plans_from_a_fresh_read(plane: FakeControlPlane) -> None:
    plane.before_write = [lambda p: None, lambda p: p.someone_clicks()]
    result = run(plane)
    assert len(result.replans) == 1
    assert [o.status for o in result.outcomes] == [
        StepStatus.APPLIED,
        StepStatus.SKIPPED,
        StepStatus.APPLIED,
    ]
    assert "re-planned" in result.outcomes[1].message
    assert result.ok and plane.live.integrate_via is IntegrationMode.CUSTOMER_PORTAL


def test_a_broken_promise_stops_and_re_plans(plane: FakeControlPlane) -> None:
    plane.lie = {Action.CONNECT}
    result = run(plane, max_replans=2)
    first = result.outcomes[0]
    assert first.status is StepStatus.FAILED
    assert "connection.status is disconnected (expected connected)" in first.message
    assert len(result.outcomes) >= 2 and len(result.replans) == 2
    assert result.conditions[0].reason == "replan_limit_exceeded"
    assert not result.ok


def test_a_version_jump_means_someone_else_wrote_and_the_apply_re_plans(
    plane: FakeControlPlane,
) -> None:
    original = plane.execute

    def execute_and_click(target: Desired, step: Step, **kw: Any) -> Live:
        live = original(target, step, **kw)
        if step.action is Action.CONNECT:
            plane.live = replace(live, version=live.version + 1)  # a UI change rode along
            return plane.live
        return live

    plane.execute = execute_and_click  # type: ignore[method-assign]
    result = run(plane)
    assert len(result.replans) == 1
    assert [a for a, _, _ in plane.calls] == [Action.CONNECT, Action.SET_INTEGRATION_MODE]
    assert plane.calls[1][1] == 7 and result.ok


def test_a_site_that_keeps_moving_fails_after_max_replans(plane: FakeControlPlane) -> None:
    plane.before_write = [lambda p: p.someone_clicks(None)] * 10
    result = run(plane, max_replans=2)
    assert len(result.replans) == 2
    (condition,) = result.conditions
    assert condition.type is ConditionType.FAILED and condition.reason == "replan_limit_exceeded"
    assert condition.unblock and "admin console" in condition.unblock
    assert not result.changed


def test_a_blocked_plan_writes_nothing(
    plane: FakeControlPlane, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocked = Condition(ConditionType.BLOCKED, "disconnect_not_allowed", "no", "--allow-disconnect")

    def blocking(target: Desired, live: Live, *, allow_disconnect: bool = False) -> Plan:
        return replace(scripted_plan(target, live), conditions=(blocked,))

    monkeypatch.setattr(apply_module, "plan", blocking)
    result = run(plane)
    assert plane.calls == []
    assert result.conditions == (blocked,)
    assert {o.status for o in result.outcomes} == {StepStatus.SKIPPED}
    assert result.ok and not result.changed


def test_an_api_error_fails_the_site_and_skips_the_rest(plane: FakeControlPlane) -> None:
    def refuse(p: FakeControlPlane) -> None:
        raise ApiError("nope", http_status=400, api_error_code="account_not_found", site="acme")

    plane.before_write = [refuse]
    result = run(plane)
    assert [o.status for o in result.outcomes] == [StepStatus.FAILED, StepStatus.SKIPPED]
    (condition,) = result.conditions
    assert condition.type is ConditionType.FAILED and condition.reason == "account_not_found"
    assert not result.ok and "account_not_found" in (result.error or "")


def test_a_credential_error_on_read_is_a_failed_condition_not_an_exception(
    plane: FakeControlPlane,
) -> None:
    def no_key(target: Desired) -> Live:
        raise CredentialError("API key env ACME_KEY is not set")

    plane.read = no_key  # type: ignore[method-assign]
    result = run(plane)
    (condition,) = result.conditions
    assert condition.reason == "credential_error"
    assert condition.unblock and "API key" in condition.unblock
    assert result.final_live is None and result.plan.live_version is None


def test_given_live_state_skips_the_first_read(plane: FakeControlPlane) -> None:
    run(plane, live=plane.live)
    assert plane.reads == 0


@pytest.mark.parametrize(
    "error",
    [
        ApiError("down", http_status=503, api_error_code="service_unavailable", site="acme"),
        TransportError("acme: POST /brightback_integration/connect: connection lost"),
    ],
)
def test_a_write_still_unanswered_after_retries_is_re_read_and_finished(
    plane: FakeControlPlane, error: Exception
) -> None:
    def unavailable(p: FakeControlPlane) -> None:
        raise error

    plane.before_write = [unavailable]
    result = run(plane)
    assert [o.status for o in result.outcomes] == [
        StepStatus.SKIPPED,
        StepStatus.APPLIED,
        StepStatus.APPLIED,
    ]
    assert result.ok and plane.live.connected and plane.reads == 2


def test_a_site_that_never_answers_fails_after_max_replans(plane: FakeControlPlane) -> None:
    def unavailable(p: FakeControlPlane) -> None:
        raise ApiError("down", http_status=500, api_error_code="internal_error", site="acme")

    plane.before_write = [unavailable] * 10
    result = run(plane, max_replans=2)
    (condition,) = result.conditions
    assert condition.reason == "replan_limit_exceeded" and not result.ok
    assert not plane.live.connected


def test_reads_get_more_than_one_retry_budget_for_transient_failures(
    plane: FakeControlPlane,
) -> None:
    from reconciler.apply import read_patiently

    failures = [TransportError("lost"), ApiError("busy", http_status=429, site="acme")]
    real_read = plane.read

    def flaky(target: Desired) -> Live:
        if failures:
            raise failures.pop(0)
        return real_read(target)

    plane.read = flaky  # type: ignore[method-assign]
    assert read_patiently(plane, desired()) is plane.live  # type: ignore[arg-type]


def test_a_refused_read_is_not_repeated(plane: FakeControlPlane) -> None:
    from reconciler.apply import read_patiently

    calls: list[int] = []

    def unauthorized(target: Desired) -> Live:
        calls.append(1)
        raise ApiError("bad key", http_status=401, site="acme")

    plane.read = unauthorized  # type: ignore[method-assign]
    with pytest.raises(ApiError):
        read_patiently(plane, desired())  # type: ignore[arg-type]
    assert calls == [1]
