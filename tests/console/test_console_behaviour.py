"""What only the console backend has to prove: drift across the two doors, sessions,
missing controls, evidence without secrets, a stuck page failing its site only."""

from __future__ import annotations

import json
import socket
import threading
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from reconciler.apply import StepStatus
from reconciler.console import locators
from reconciler.errors import ApiError, CredentialError
from reconciler.model import Desired
from reconciler.plan import Action, Step

from .conftest import PASSWORD, ConsoleWorld, converge
from .test_engine_scenarios import doc, one

pytestmark = pytest.mark.browser


def _connected(world: ConsoleWorld, site: str) -> Desired:
    world.add_site(
        site, brightback_sites=[f"{site}-bb"], published=[(f"{site}-bb", "retention_api")]
    )
    admin = world.emulator.admin
    admin.ui(site, "connect", brightback_site=f"{site}-bb", access_level="read_write")
    admin.ui(site, "update", integrate_via="retention_api")
    world.login(site)
    return one(world, doc(site, integrateVia="retention_api", cancellationViaBrightback=False))


def test_drift_made_through_the_api_is_corrected_through_the_console(world: ConsoleWorld) -> None:
    desired = _connected(world, "drifty")
    api = world.api()
    api.execute(
        desired,
        _step(Action.SET_INTEGRATION_MODE, integrate_via="customer_portal"),
        expected_version=world.state("drifty")["version"],
        idempotency_key="drift-by-api-1",
    )
    console = world.backend()
    assert console.read(desired).integrate_via is not None
    assert console.read(desired).integrate_via.value == "customer_portal"  # type: ignore[union-attr]
    result = converge(desired, console)
    assert [o.step.action for o in result.outcomes] == [Action.SET_INTEGRATION_MODE]
    assert world.state("drifty")["integrate_via"] == "retention_api"
    assert world.console_writes("drifty")[-1].endswith("/integrate_via")


def test_drift_made_in_the_console_is_corrected_through_the_api(world: ConsoleWorld) -> None:
    desired = _connected(world, "clicky")
    api_writes = world.api_writes("clicky")
    world.person("clicky").choose_integration("Customer Portal")  # a person's real clicks
    assert world.console_writes("clicky")[-1].endswith("/integrate_via")
    assert world.api_writes("clicky") == api_writes  # the drift came through the pages
    (event,) = world.api().events(desired, limit=1)
    assert (event["source"], event["user"]) == ("admin_console", "billing@clicky.example")
    assert world.api().read(desired).integrate_via.value == "customer_portal"  # type: ignore[union-attr]
    result = converge(desired, world.api())
    assert [o.step.action for o in result.outcomes] == [Action.SET_INTEGRATION_MODE]
    console = world.backend()
    assert console.read(desired).integrate_via.value == "retention_api"  # type: ignore[union-attr]


def test_a_persons_clicks_in_the_console_are_drift_the_console_backend_corrects(
    world: ConsoleWorld,
) -> None:
    desired = _connected(world, "meddler")
    world.person("meddler").choose_integration("Customer Portal")
    assert world.state("meddler")["integrate_via"] == "customer_portal"
    result = converge(desired, world.backend())
    assert [o.step.action for o in result.outcomes] == [Action.SET_INTEGRATION_MODE]
    assert world.state("meddler")["integrate_via"] == "retention_api"
    assert world.api_writes("meddler") == []  # drift and correction both through the pages


def test_a_person_can_disconnect_through_the_confirmation_pop_up(world: ConsoleWorld) -> None:
    desired = _connected(world, "leaver")
    world.person("leaver").disconnect()
    assert world.state("leaver")["connection"]["status"] == "disconnected"
    assert not world.backend().read(desired).connected


def test_an_expired_session_fails_the_site_with_the_login_command_and_writes_nothing(
    world: ConsoleWorld,
) -> None:
    desired = _connected(world, "stale")
    backend = world.backend()
    assert backend.read(desired).connected
    world.emulator.admin.expire_console_sessions("stale")
    with pytest.raises(CredentialError, match="session expired: run brightback login --site stale"):
        backend.read(desired)
    before = world.state("stale")["version"]
    wanted = one(
        world, doc("stale", integrateVia="customer_portal", cancellationViaBrightback=False)
    )
    result = converge(wanted, backend)
    assert not result.ok
    assert "run brightback login --site stale" in (result.error or "")
    assert world.state("stale")["version"] == before


def test_a_site_never_logged_in_says_how_to_log_in(world: ConsoleWorld) -> None:
    world.add_site("fresh")
    desired = one(world, doc("fresh", connection={"state": "disconnected"}))
    with pytest.raises(CredentialError, match="run brightback login --site fresh"):
        world.backend().read(desired)


def test_a_missing_control_fails_with_a_screenshot_and_touches_nothing(
    world: ConsoleWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    _connected(world, "renamed")
    wanted = one(
        world, doc("renamed", integrateVia="retention_api", cancellationViaBrightback=True)
    )
    monkeypatch.setitem(locators.WORDS, "save", "Save changes (renamed by Chargebee)")
    before = world.state("renamed")["version"]
    backend = world.backend(action_timeout=2.0)
    result = converge(wanted, backend)
    assert not result.ok
    failed = [o for o in result.outcomes if o.status is StepStatus.FAILED]
    assert [o.step.action for o in failed] == [Action.DISABLE_REASON_CODES]
    assert "reconciler/console/locators.py" in failed[0].message
    assert "Save changes (renamed by Chargebee)" in failed[0].message
    assert world.state("renamed")["version"] == before  # nothing else was touched
    shots = [p for p in backend.evidence if p.suffix == ".png"]
    pages = [p for p in backend.evidence if p.suffix == ".html"]
    assert shots and pages
    assert shots[0].name.startswith("renamed-disable_reason_codes-")
    assert str(shots[0]) in failed[0].message
    assert shots[0].read_bytes().startswith(b"\x89PNG")


def test_a_toggle_the_page_no_longer_names_fails_the_read_instead_of_reading_off(
    world: ConsoleWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    desired = _connected(world, "quiet")
    monkeypatch.setitem(locators.WORDS, "toggle", "Brightback cancellations (renamed)")
    with pytest.raises(ApiError, match="Brightback cancellations") as raised:
        world.backend(action_timeout=2.0).read(desired)
    assert raised.value.api_error_code == "console_control_missing"


def test_traces_and_evidence_never_hold_the_password(
    world: ConsoleWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    world.add_site("traced", brightback_sites=["traced-bb"])
    world.login("traced")
    desired = one(
        world, doc("traced", integrateVia="retention_api", cancellationViaBrightback=False)
    )
    # the connect step types the password, then a renamed control fails the next step
    monkeypatch.setitem(locators.WORDS, "save", "Save (renamed)")
    backend = world.backend(trace=True, action_timeout=2.0)
    result = converge(desired, backend)
    assert [o.step.action for o in result.outcomes][:2] == [
        Action.CONNECT,
        Action.SET_INTEGRATION_MODE,
    ]
    assert backend.traces, "no trace kept"
    assert backend.evidence, "no evidence kept"
    saved = json.loads(world.config().session_file("traced").read_text())
    session_cookies = [c["value"].encode() for c in saved["cookies"]]
    assert session_cookies
    for path in [*backend.traces, *backend.evidence]:
        content = _all_bytes(path)
        assert PASSWORD.encode() not in content, path
        assert not [c for c in session_cookies if c in content], path


def _all_bytes(path: Path) -> bytes:
    if path.suffix != ".zip":
        return path.read_bytes()
    with zipfile.ZipFile(path) as archive:
        return b"".join(archive.read(name) for name in archive.namelist())


@pytest.fixture
def black_hole() -> Iterator[str]:
    """A server that accepts connections and never answers: a stuck console."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(listener.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}/sites/{{site}}/console"
    stop.set()
    thread.join()
    for conn in held:
        conn.close()
    listener.close()


def test_a_stuck_page_fails_its_site_only(world: ConsoleWorld, black_hole: str) -> None:
    healthy = _connected(world, "healthy")
    stuck = world.backend(url_template=black_hole, site_timeout=3.0, action_timeout=30.0)
    errors: list[BaseException] = []

    def read_stuck() -> None:
        try:
            stuck.read(healthy)
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=read_stuck)
    thread.start()
    live = world.backend().read(healthy)  # the same browser keeps serving other sites
    thread.join()
    assert live.connected
    assert len(errors) == 1 and isinstance(errors[0], ApiError)
    assert errors[0].api_error_code == "console_timeout"


def _step(action: Action, **args: str | bool) -> Step:
    return Step(action, args=args)


def test_a_read_on_a_kept_tab_loads_the_pages_again_and_sees_a_change_made_since(
    world: ConsoleWorld,
) -> None:
    """A site's tab is kept between operations; what it still shows must never be taken
    for a fresh read."""
    desired = _connected(world, "kept")
    console = world.backend()
    assert console.read(desired).integrate_via is not None
    world.emulator.admin.ui("kept", "update", integrate_via="customer_portal")
    seen = console.read(desired)
    assert seen.integrate_via is not None and seen.integrate_via.value == "customer_portal"
    assert seen.version == world.state("kept")["version"]


def test_a_later_site_goes_straight_to_the_pages_an_earlier_one_led_to(
    world: ConsoleWorld,
) -> None:
    first, second = _connected(world, "first"), _connected(world, "second")
    console = world.backend()
    console.read(first)
    since = world.emulator.admin.requests()[-1]["id"]
    console.read(second)
    gets = [
        r["path"] for r in world.emulator.admin.requests("second", since_id=since)
        if r["method"] == "GET"
    ]  # fmt: skip
    assert gets == [
        "/sites/second/console/settings/configure_chargebee/brightback_retention",
        "/sites/second/console/settings/configure_chargebee/checkout_portal",
    ]
