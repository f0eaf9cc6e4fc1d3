"""The engine's scenarios, once through the API and once through the console pages.

Same planner, same apply, same expectations: only the backend differs. For the console
runs the emulator's request log must show every write under /console/ and none on the API
routes, which proves the browser did the work.
"""

from __future__ import annotations

from typing import Any

import pytest

from reconciler.apply import StepStatus
from reconciler.model import AccountStatus, Desired
from reconciler.plan import Action, ConditionType

from .conftest import ConsoleWorld, converge, env_name

pytestmark = pytest.mark.browser
BACKENDS = ["api", "console"]


def doc(site: str, **spec: Any) -> str:
    connection = spec.pop("connection", {"state": "connected", "brightbackSite": f"{site}-bb"})
    lines = [
        "apiVersion: brightback-gitops/v1alpha1",
        "kind: BrightbackIntegration",
        f"metadata: {{name: {site}-live}}",
        "spec:",
        f"  site: {site}",
        f"  credentials: {{apiKeyFromEnv: {env_name(site)}}}",
        "  connection:",
        *(f"    {k}: {_yaml(v)}" for k, v in connection.items()),
    ]
    for key, value in spec.items():
        if isinstance(value, dict):
            lines.append(f"  {key}:")
            lines += [f"    {k}: {_yaml(v)}" for k, v in value.items()]
        else:
            lines.append(f"  {key}: {_yaml(value)}")
    return "\n".join(lines) + "\n"


def _yaml(value: object) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


def backend_for(world: ConsoleWorld, kind: str, *sites: str) -> Any:
    if kind == "api":
        return world.api()
    for site in sites:
        world.login(site)
    return world.backend()


def only_console_wrote(world: ConsoleWorld, kind: str, site: str) -> None:
    if kind == "console":
        assert world.api_writes(site) == []
        assert [p for p in world.console_writes(site) if not p.endswith("/login")]
    else:
        assert world.console_writes(site) == []


def one(world: ConsoleWorld, text: str) -> Desired:
    (desired,) = world.desired(text)
    return desired


@pytest.mark.parametrize("kind", BACKENDS)
def test_onboarding_connects_sets_mode_and_turns_the_toggle_on(
    world: ConsoleWorld, kind: str
) -> None:
    world.add_site("acme", brightback_sites=["acme-bb"], published=[("acme-bb", "customer_portal")])
    desired = one(
        world,
        doc("acme", integrateVia="customer_portal", cancellationViaBrightback=True),
    )
    backend = backend_for(world, kind, "acme")
    result = converge(desired, backend)
    assert result.ok, result.error
    assert [o.step.action for o in result.outcomes] == [
        Action.CONNECT,
        Action.SET_INTEGRATION_MODE,
        Action.DISABLE_REASON_CODES,
        Action.ENABLE_CANCELLATION_VIA_BRIGHTBACK,
    ]
    state = world.state("acme")
    assert state["connection"]["brightback_site"] == "acme-bb"
    assert state["integrate_via"] == "customer_portal"
    assert state["cancellation_via_brightback"] == {"enabled": True, "traffic_status": "on"}
    assert result.final_live == world.api().read(desired)
    assert not converge(desired, backend).changed
    only_console_wrote(world, kind, "acme")


@pytest.mark.parametrize("kind", BACKENDS)
def test_sign_up_waits_for_activation_then_connects(world: ConsoleWorld, kind: str) -> None:
    world.add_site("newco", account=None)
    desired = one(
        world,
        doc(
            "newco",
            connection={
                "state": "connected",
                "brightbackSite": "newco-bb",
                "signUpIfMissing": True,
            },
            integrateVia="retention_api",
            cancellationViaBrightback=False,
        ),
    )
    backend = backend_for(world, kind, "newco")
    first = converge(desired, backend)
    assert [o.step.action for o in first.outcomes] == [Action.SIGN_UP]
    assert first.final_live is not None
    assert first.final_live.account.status is AccountStatus.PENDING_ACTIVATION
    assert [c.type for c in first.conditions] == [ConditionType.WAITING]
    if kind == "console":
        _activate_in_mailbox(world, "newco")
    else:
        world.emulator.admin.activate_account("billing@newco.example")
    second = converge(desired, backend)
    assert second.ok, second.error
    assert [o.step.action for o in second.outcomes] == [
        Action.CONNECT,
        Action.SET_INTEGRATION_MODE,
    ]
    assert world.state("newco")["connection"]["brightback_site"] == "newco-bb"
    only_console_wrote(world, kind, "newco")


def _activate_in_mailbox(world: ConsoleWorld, site: str) -> None:
    """A person opens the emulated mailbox and clicks Activate Account."""
    from playwright.async_api import expect

    from reconciler.console.browser import Tab

    config = world.config()
    base = config.base_url(site)

    async def work(tab: Tab) -> None:
        await tab.page.goto(base + "/mailbox")
        async with tab.page.expect_navigation():
            await tab.page.get_by_role("link", name="Activate Account", exact=True).click()
        await expect(tab.page.get_by_role("status")).to_contain_text("activated")

    world.pool.run(site, "activate", work, storage_state=config.session_file(site), config=config)


@pytest.mark.parametrize("kind", BACKENDS)
def test_connects_the_brightback_site_the_spec_names_among_several(
    world: ConsoleWorld, kind: str
) -> None:
    world.add_site("multi", brightback_sites=["multi-eu", "multi-us", "multi-apac"])
    desired = one(
        world,
        doc(
            "multi",
            connection={"state": "connected", "brightbackSite": "multi-us"},
            integrateVia="retention_api",
            cancellationViaBrightback=False,
        ),
    )
    result = converge(desired, backend_for(world, kind, "multi"))
    assert result.ok, result.error
    assert world.state("multi")["connection"]["brightback_site"] == "multi-us"
    names = [bb.name for bb in result.final_live.account.brightback_sites]  # type: ignore[union-attr]
    assert names == ["multi-apac", "multi-eu", "multi-us"]
    only_console_wrote(world, kind, "multi")


def _toggled_on(world: ConsoleWorld, site: str) -> None:
    """Connected, Customer Portal, toggle on: set up by a person in the console."""
    published = [(f"{site}-bb", "customer_portal")]
    world.add_site(site, brightback_sites=[f"{site}-bb"], published=published)
    admin = world.emulator.admin
    admin.ui(site, "connect", brightback_site=f"{site}-bb", access_level="read_write")
    admin.ui(site, "cancellation_settings", reason_codes_enabled=False)
    admin.ui(site, "update", integrate_via="customer_portal", cancellation_via_brightback=True)


@pytest.mark.parametrize("kind", BACKENDS)
def test_toggle_off_takes_the_disconnect_detour_only_with_the_allowance(
    world: ConsoleWorld, kind: str
) -> None:
    _toggled_on(world, "detour")
    text = doc(
        "detour",
        integrateVia="customer_portal",
        cancellationViaBrightback=False,
        fallbackCancelExperience={"portalCancellation": True, "reasonCodes": True},
    )
    backend = backend_for(world, kind, "detour")
    before = world.state("detour")["version"]
    refused = converge(one(world, text), backend)
    assert [c.reason for c in refused.conditions] == ["disconnect_not_allowed"]
    assert world.state("detour")["version"] == before  # nothing written
    allowed = converge(one(world, text), backend, allow_disconnect=True)
    assert allowed.ok, allowed.error
    applied = [o.step.action for o in allowed.outcomes if o.status is StepStatus.APPLIED]
    assert applied[:2] == [Action.DISCONNECT, Action.RESTORE_CANCEL_EXPERIENCE]
    assert Action.CONNECT in applied
    state = world.state("detour")
    assert state["connection"]["status"] == "connected"
    assert state["cancellation_via_brightback"]["enabled"] is False
    assert state["cancellation_settings"] == {
        "reason_codes_enabled": True,
        "portal_cancellation_enabled": True,
    }
    only_console_wrote(world, kind, "detour")


@pytest.mark.parametrize("kind", BACKENDS)
def test_disconnect_restores_the_sites_own_cancel_experience(
    world: ConsoleWorld, kind: str
) -> None:
    _toggled_on(world, "leaving")
    text = doc(
        "leaving",
        connection={"state": "disconnected"},
        fallbackCancelExperience={"portalCancellation": True, "reasonCodes": False},
        policy={"allowDisconnect": True},
    )
    result = converge(one(world, text), backend_for(world, kind, "leaving"))
    assert result.ok, result.error
    assert [o.step.action for o in result.outcomes] == [
        Action.DISCONNECT,
        Action.RESTORE_CANCEL_EXPERIENCE,
    ]
    state = world.state("leaving")
    assert state["connection"]["status"] == "disconnected"
    assert state["cancellation_settings"] == {
        "reason_codes_enabled": False,
        "portal_cancellation_enabled": True,
    }
    only_console_wrote(world, kind, "leaving")
