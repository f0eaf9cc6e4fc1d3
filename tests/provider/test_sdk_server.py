"""`pulumi up` without the CLI: the SDK's gRPC dynamic-provider server, driven verb by verb.

The server process unpickles our `__provider` (made by the SDK's `serialize_provider`),
configures it from the stack config (API keys as secrets), and runs the verbs; after each
one the test checks what the emulator now holds.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import grpc
import pytest
from pulumi.output import Unknown
from pulumi.runtime import proto, rpc

from provider._inputs import UNKNOWN_WIRE
from provider._provider import CONFIG_API_KEYS, CONFIG_API_URL
from tests.provider._builders import add_site, env_name, inputs, integration, key_for, secret_forms
from tests.provider._grpc import PROVIDER_KEY, DynamicProviderServer, secret

CONFIG_SITES = ("acme", "vanished")  # keys from the stack config (secret)
ENV_SITES = ("globex",)  # keys from the provider process's environment


@pytest.fixture(scope="module")
def server(emulator_process: Any) -> Iterator[DynamicProviderServer]:
    env = {"PULUMI_PROJECT": "brightback-demo"}
    env.update({env_name(site): key_for(site) for site in ENV_SITES})
    running = DynamicProviderServer(env)
    try:
        keys = {site: key_for(site) for site in CONFIG_SITES}
        answer = running.configure(
            {CONFIG_API_URL: emulator_process.url_template, CONFIG_API_KEYS: secret(keys)},
            {CONFIG_API_URL: emulator_process.url_template, CONFIG_API_KEYS: json.dumps(keys)},
        )
        assert answer.acceptSecrets is False  # so the engine sends plain values from now on
        yield running
    finally:
        running.close()


def outputs_without_blob(outs: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in outs.items() if k != PROVIDER_KEY}


def test_preview_up_refresh_update_replace_destroy(emulator: Any, server: Any) -> None:
    add_site(emulator, "acme")
    name = "acme-live"
    program = inputs("acme")

    # preview of a program whose Brightback site is computed: Check lets the unknown through
    preview = inputs("acme", connection={"state": "connected", "brightbackSite": Unknown()})
    checked, failures = server.check(name, {}, preview)
    assert failures == []
    assert isinstance(checked["connection"]["brightbackSite"], Unknown)
    assert integration(emulator, "acme")["connection"]["status"] == "disconnected"

    # up: Check + Create
    checked, failures = server.check(name, {}, program)
    assert failures == []
    id_, outs = server.create(name, checked)
    assert id_ == "acme"
    live = integration(emulator, "acme")
    assert live["connection"]["status"] == "connected"
    assert live["cancellation_via_brightback"]["traffic_status"] == "on"
    assert outs["apiKeyId"] == live["connection"]["api_key_id"]
    assert outs[PROVIDER_KEY] == server.blob
    stored_inputs = checked

    # up again with the same program: no diff
    checked, _ = server.check(name, stored_inputs, program)
    diff = server.diff(name, id_, outs, checked, stored_inputs)
    assert diff.changes == proto.DiffResponse.DIFF_NONE

    # preview of a change to a value not known yet: an update, never a guessed replace
    checked, _ = server.check(name, stored_inputs, preview)
    diff = server.diff(name, id_, outs, checked, stored_inputs)
    assert diff.changes == proto.DiffResponse.DIFF_SOME
    assert list(diff.replaces) == []

    # someone turns reason codes back on... not allowed while the toggle is on (rule 7), so
    # they disconnect in the console instead; refresh records it, up corrects it
    emulator.admin.ui("acme", "disconnect", confirm=True)
    version_before_read = emulator.admin.site_state("acme")["version"]
    read_id, refreshed = server.read(name, id_, outs, stored_inputs)
    assert read_id == "acme"
    assert emulator.admin.site_state("acme")["version"] == version_before_read  # read only
    assert refreshed["inSync"] is False
    assert refreshed["connection"]["state"] == "disconnected"
    checked, _ = server.check(name, stored_inputs, program)
    diff = server.diff(name, id_, refreshed, checked, stored_inputs)
    assert diff.changes == proto.DiffResponse.DIFF_SOME
    assert list(diff.replaces) == []
    outs = server.update(name, id_, refreshed, checked, stored_inputs)
    assert integration(emulator, "acme")["connection"]["status"] == "connected"
    assert outs["inSync"] is True and outs["live"]["connection"]["status"] == "connected"

    # allow disconnects (an in-place update), then turn the toggle off: a replace
    allowing = inputs("acme", policy={"allowDisconnect": True})
    checked, _ = server.check(name, stored_inputs, allowing)
    diff = server.diff(name, id_, outs, checked, stored_inputs)
    assert (diff.changes, list(diff.replaces)) == (proto.DiffResponse.DIFF_SOME, [])
    outs = server.update(name, id_, outs, checked, stored_inputs)
    stored_inputs = checked
    keys_before = emulator.admin.site_state("acme")["api_keys_generated"]

    toggle_off = inputs("acme", cancellationViaBrightback=False, policy={"allowDisconnect": True})
    checked, _ = server.check(name, stored_inputs, toggle_off)
    diff = server.diff(name, id_, outs, checked, stored_inputs)
    assert list(diff.replaces) == ["cancellationViaBrightback"]
    assert diff.deleteBeforeReplace is True
    server.delete(name, id_, outs, stored_inputs)  # delete first ...
    live = integration(emulator, "acme")
    assert live["connection"]["status"] == "disconnected"
    assert live["cancellation_settings"] == {
        "reason_codes_enabled": True,
        "portal_cancellation_enabled": True,
    }
    id_, outs = server.create(name, checked)  # ... then create
    state = emulator.admin.site_state("acme")
    live = state["brightback_integration"]
    assert live["connection"]["status"] == "connected"
    assert live["cancellation_via_brightback"]["enabled"] is False
    assert live["cancellation_settings"]["portal_cancellation_enabled"] is True  # the fallback
    assert state["api_keys_generated"] == keys_before + 1  # connecting anew makes a new key
    assert outs["apiKeyId"] == live["connection"]["api_key_id"]
    stored_inputs = checked

    # destroy
    server.delete(name, id_, outs, stored_inputs)
    assert integration(emulator, "acme")["connection"]["status"] == "disconnected"
    for form in secret_forms(key_for("acme")):
        assert form not in json.dumps(outputs_without_blob(outs))


def test_check_failures_come_back_naming_the_property(server: Any) -> None:
    _, failures = server.check("acme-live", {}, inputs("acme", integrateVia="fax"))
    assert [prop for prop, _ in failures] == ["integrateVia"]


def test_keys_from_the_provider_environment_work_too(emulator: Any, server: Any) -> None:
    add_site(emulator, "globex")
    checked, _ = server.check("globex-live", {}, inputs("globex"))
    _, outs = server.create("globex-live", checked)
    assert integration(emulator, "globex")["connection"]["status"] == "connected"
    assert outs["trafficStatus"] == "on"


def test_refresh_of_a_site_that_no_longer_exists_reports_it_gone(
    emulator: Any, server: Any
) -> None:
    checked, _ = server.check("vanished", {}, inputs("vanished"))
    stored = {**checked, "declared": {k: v for k, v in checked.items() if k != PROVIDER_KEY}}
    read_id, props = server.read("vanished", "vanished", stored, checked)
    assert read_id == ""  # the engine drops the resource from state
    assert set(props) <= {PROVIDER_KEY}


def test_destroy_of_a_site_without_allow_disconnect_fails_clearly(
    emulator: Any, server: Any
) -> None:
    add_site(emulator, "acme")
    checked, _ = server.check("acme-live", {}, inputs("acme"))
    id_, outs = server.create("acme-live", checked)
    with pytest.raises(grpc.RpcError) as caught:
        server.delete("acme-live", id_, outs, checked)
    details = caught.value.details()
    assert caught.value.code() is grpc.StatusCode.UNKNOWN
    assert "refusing to disconnect" in details
    assert "allowDisconnect" in details
    assert not [form for form in secret_forms(key_for("acme")) if form in details]
    assert integration(emulator, "acme")["connection"]["status"] == "connected"


def test_the_provider_recognises_the_sdk_unknown_sentinel() -> None:
    """check/diff detect unknowns sent as the raw wire sentinel, not only as Unknown()."""
    assert UNKNOWN_WIRE == rpc.UNKNOWN
