"""The emulator against its normative contract, schemas/control-plane.openapi.yaml.

Three layers, because each catches what the others miss: the document itself is valid
OpenAPI 3.1 and names every error code the rules can raise; schemathesis sends generated
requests to the running emulator and checks every answer against the document; and a
scripted onboarding walks each rule on purpose, so the error answers (which random
requests rarely reach) are validated too.
"""

from __future__ import annotations

import base64
import re
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import pytest
import schemathesis
import yaml
from hypothesis import HealthCheck, given, settings
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

ROOT = Path(__file__).parents[2]
SPEC = ROOT / "schemas" / "control-plane.openapi.yaml"
DOC: dict[str, Any] = yaml.safe_load(SPEC.read_text(encoding="utf-8"))
SCHEMA = schemathesis.openapi.from_path(SPEC)
CONTRACT_URI = "urn:brightback:control-plane"
REGISTRY: Registry[Any] = Registry().with_resource(
    CONTRACT_URI, Resource.from_contents(DOC, default_specification=DRAFT202012)
)

SITE = "acme"
EMAIL = "billing@acme.example"
KEY = "test_acme_contract_key_0123456789"
BB_SITE = "acme-retention"
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
# 25 examples per operation and starting state, the same ones on every run: enough to
# reach each branch of the rules, small enough for the whole file to take seconds.
BOUNDED = settings(
    max_examples=25,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)
CHARGEBEE_OPERATIONS = [
    (path, method)
    for path, item in DOC["paths"].items()
    if not path.startswith("/_admin")
    for method in item
    if method in {"get", "post"}
]


# --- the document ---------------------------------------------------------------------


def test_contract_is_valid_openapi_3_1() -> None:
    assert str(DOC["openapi"]).startswith("3.1")
    SCHEMA.validate()  # the OpenAPI 3.1 meta-schema; raises on the first violation


def test_every_component_schema_is_valid_json_schema_2020_12() -> None:
    for name, schema in DOC["components"]["schemas"].items():
        try:
            jsonschema.Draft202012Validator.check_schema(schema)
        except jsonschema.SchemaError as exc:  # pragma: no cover - the failure message
            pytest.fail(f"components.schemas.{name}: {exc.message}")


def test_every_error_example_fits_the_error_envelope() -> None:
    checked = 0
    for name, response in DOC["components"]["responses"].items():
        media = response.get("content", {}).get("application/json", {})
        for label, example in media.get("examples", {}).items():
            validate(example["value"], f"#/components/responses/{name}" + _MEDIA)
            assert example["value"]["error_code"] == label, f"{name}.{label}"
            checked += 1
    assert checked >= 20


def test_every_error_code_the_emulator_can_raise_is_documented() -> None:
    """A code added to the rules without the contract would surprise every client."""
    source = "\n".join(
        (ROOT / "emulator" / name).read_text(encoding="utf-8")
        for name in ("rules.py", "service.py", "api.py", "admin.py")
    )
    raised = set(re.findall(r'(?:refused|invalid)\(\s*"([a-z_]+)"', source))
    raised |= set(re.findall(r'RuleViolation\(\s*\d+,\s*"[a-z_]+",\s*"([a-z_]+)"', source))
    raised |= set(re.findall(r'envelope\(\d+, "([a-z_]+)"', source))
    raised |= {"param_missing", "api_authentication_failed", "api_request_limit_exceeded"}
    text = SPEC.read_text(encoding="utf-8")
    assert len(raised) >= 20
    assert sorted(code for code in raised if f"`{code}`" not in text) == []


def test_every_chargebee_write_takes_a_form_and_an_idempotency_key() -> None:
    for path, method in CHARGEBEE_OPERATIONS:
        operation = DOC["paths"][path][method]
        assert operation["description"].strip(), path
        if method == "post":
            assert set(operation["requestBody"]["content"]) == {
                "application/x-www-form-urlencoded"
            }, path
            refs = [p.get("$ref") for p in operation["parameters"]]
            assert "#/components/parameters/IdempotencyKey" in refs, path


# --- helpers --------------------------------------------------------------------------

_MEDIA = "/content/application~1json/schema"


def _pointer(*parts: str) -> str:
    return "/".join(part.replace("~", "~0").replace("/", "~1") for part in parts)


def validate(instance: Any, pointer: str) -> None:
    """Validate against a schema inside the contract, $refs resolved in the document."""
    validator = jsonschema.Draft202012Validator(
        {"$ref": f"{CONTRACT_URI}{pointer}"},
        registry=REGISTRY,
        format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER,
    )
    errors = sorted(validator.iter_errors(instance), key=lambda e: list(e.absolute_path))
    assert not errors, "; ".join(f"{list(e.absolute_path)}: {e.message}" for e in errors)


def conforms(response: httpx.Response, path: str) -> dict[str, Any]:
    """Check a real answer against the contract's schema for its route and status."""
    method = response.request.method.lower()
    declared = DOC["paths"][path][method]["responses"]
    status = str(response.status_code)
    assert status in declared, f"{method.upper()} {path} answered undeclared {status}"
    ref = declared[status].get("$ref")
    base = ref if ref else "#" + _pointer("", "paths", path, method, "responses", status)
    assert response.headers["content-type"].startswith("application/json")
    body: dict[str, Any] = response.json()
    validate(body, base + _MEDIA)
    if response.status_code == 429:
        assert int(response.headers["Retry-After"]) >= 0
    return body


def basic(key: str) -> str:
    return "Basic " + base64.b64encode(f"{key}:".encode()).decode()


def api(emulator: Any, key: str = KEY, site: str = SITE) -> httpx.Client:
    return httpx.Client(
        base_url=emulator.url_template.format(site=site), auth=(key, ""), timeout=10
    )


def post(client: httpx.Client, path: str, **form: str) -> httpx.Response:
    return client.post(path, data=form)


def expect_error(response: httpx.Response, path: str, status: int, code: str) -> None:
    body = conforms(response, path)
    assert (response.status_code, body["error_code"]) == (status, code), body
    assert body["api_error_code"] == code
    assert body["http_status_code"] == status
    if status == 400 and code != "idempotency_key_reused":  # a header, not a parameter
        assert body.get("param"), f"{code}: a 400 names the refused field in `param`"


# --- schemathesis against the running emulator ----------------------------------------


def _prepare(emulator: Any, start: str) -> None:
    """One site in a known starting state, reached through the API itself."""
    emulator.admin.create_site(SITE, EMAIL, KEY)
    if start == "no_account":
        return
    emulator.admin.create_account(EMAIL, status="active", brightback_sites=(BB_SITE, "acme-b"))
    if start == "disconnected":
        return
    with api(emulator) as client:
        steps = [
            (
                "/brightback_integration/connect",
                {"brightback_site": BB_SITE, "access_level": "read_write"},
            ),
            ("/brightback_integration/update", {"integrate_via": "retention_api"}),
            ("/cancellation_settings/update", {"reason_codes_enabled": "false"}),
            ("/brightback_integration/update", {"cancellation_via_brightback": "true"}),
        ]
        for path, form in steps:
            assert client.post(path, data=form).status_code == 200, path
    emulator.admin.publish(BB_SITE, "retention_api")


@pytest.mark.slow
@pytest.mark.parametrize("start", ["no_account", "disconnected", "live"])
@pytest.mark.parametrize(("path", "method"), CHARGEBEE_OPERATIONS)
def test_generated_requests_get_answers_the_contract_declares(
    emulator: Any, start: str, path: str, method: str
) -> None:
    """No 5xx without injected faults; every status, header and body as documented."""
    _prepare(emulator, start)
    operation = SCHEMA[path][method.upper()]
    base_url = emulator.url_template.format(site=SITE)
    headers = {"Authorization": basic(KEY)}  # the generated Basic credentials are random
    sent: list[int] = []
    logged_before = len(emulator.admin.requests(site=SITE))

    @BOUNDED
    @given(case=operation.as_strategy())
    def answer_conforms(case: schemathesis.Case[Any]) -> None:
        answer = case.call_and_validate(
            base_url=base_url, headers=headers, checks=CHECKS, timeout=10
        )
        sent.append(answer.status_code)

    answer_conforms()
    # Every generated request really reached the emulator (none was answered elsewhere).
    assert sent
    assert len(emulator.admin.requests(site=SITE)) - logged_before == len(sent)


INT64_MAX = 2**63 - 1


@pytest.mark.slow
@pytest.mark.parametrize(("path", "method"), CHARGEBEE_OPERATIONS)
def test_malformed_requests_are_refused_without_a_server_error(
    emulator: Any, path: str, method: str
) -> None:
    """Schema-breaking requests (wrong types, missing fields, bad enums) get a documented
    4xx in the JSON envelope, never a 5xx or a text answer."""
    _prepare(emulator, "live")
    operation = SCHEMA[path][method.upper()]
    base_url = emulator.url_template.format(site=SITE)
    headers = {"Authorization": basic(KEY)}
    checks = [not_a_server_error, status_code_conformance, content_type_conformance]
    sent: list[int] = []

    @BOUNDED
    @given(case=operation.as_strategy(generation_mode=schemathesis.GenerationMode.NEGATIVE))
    def refused_cleanly(case: schemathesis.Case[Any]) -> None:
        answer = case.call_and_validate(
            base_url=base_url, headers=headers, checks=checks, timeout=10
        )
        sent.append(answer.status_code)

    refused_cleanly()
    assert sent


# --- scripted onboarding: every rule's answer, validated ------------------------------

INTEGRATION = "/brightback_integration"
SIGN_UP = "/brightback_integration/sign_up"
CONNECT = "/brightback_integration/connect"
UPDATE = "/brightback_integration/update"
DISCONNECT = "/brightback_integration/disconnect"
SETTINGS = "/cancellation_settings/update"
PRE_CANCEL = "/hosted_pages/pre_cancel"
EVENTS = "/events"
IDEMPOTENCY = "chargebee-idempotency-key"


def resource(response: httpx.Response, path: str) -> dict[str, Any]:
    body = conforms(response, path)
    assert response.status_code == 200, body
    integration: dict[str, Any] = body["brightback_integration"]
    return integration


def test_onboarding_from_sign_up_to_live_answers_as_the_contract_declares(emulator: Any) -> None:
    emulator.admin.create_site(SITE, EMAIL, KEY)
    with api(emulator) as c:
        assert resource(c.get(INTEGRATION), INTEGRATION)["account"]["status"] == "not_found"
        connect = {"brightback_site": BB_SITE, "access_level": "read_write"}
        expect_error(post(c, CONNECT, **connect), CONNECT, 400, "account_not_found")
        expect_error(post(c, SIGN_UP), SIGN_UP, 400, "param_missing")
        other_email = {"brightback_site": BB_SITE, "email": "someone@else.example"}
        expect_error(post(c, SIGN_UP, **other_email), SIGN_UP, 400, "email_not_editable")
        signed_up = resource(post(c, SIGN_UP, brightback_site=BB_SITE), SIGN_UP)
        assert signed_up["account"]["status"] == "pending_activation"
        expect_error(
            post(c, SIGN_UP, brightback_site=BB_SITE), SIGN_UP, 400, "account_already_exists"
        )
        expect_error(post(c, CONNECT, **connect), CONNECT, 400, "account_not_activated")

        emulator.admin.activate_account(EMAIL)
        read_only = {**connect, "access_level": "read_only"}
        expect_error(post(c, CONNECT, **read_only), CONNECT, 400, "read_write_access_required")
        elsewhere = {**connect, "brightback_site": "not-mine"}
        expect_error(post(c, CONNECT, **elsewhere), CONNECT, 400, "brightback_site_not_found")
        answer = post(c, CONNECT, **connect)
        assert KEY not in answer.text
        connected = resource(answer, CONNECT)["connection"]
        assert (connected["status"], connected["data_sync"]) == ("connected", True)
        assert connected["api_key_id"]
        expect_error(post(c, CONNECT, **connect), CONNECT, 400, "already_connected")

        toggle_on = {"cancellation_via_brightback": "true"}
        expect_error(post(c, UPDATE, **toggle_on), UPDATE, 400, "integration_mode_required")
        bad_mode = {"integrate_via": "phone"}
        expect_error(post(c, UPDATE, **bad_mode), UPDATE, 400, "invalid_integration_mode")
        resource(post(c, UPDATE, integrate_via="retention_api"), UPDATE)
        expect_error(post(c, UPDATE, **toggle_on), UPDATE, 400, "reason_codes_must_be_disabled")
        version = resource(post(c, SETTINGS, reason_codes_enabled="false"), SETTINGS)["version"]
        stale = {**toggle_on, "expected_version": str(version - 1)}
        expect_error(post(c, UPDATE, **stale), UPDATE, 409, "stale_version")
        enabled = resource(post(c, UPDATE, **toggle_on, expected_version=str(version)), UPDATE)
        assert enabled["cancellation_via_brightback"]["traffic_status"] == "waiting_for_publish"
        assert enabled["cancellation_settings"]["portal_cancellation_enabled"] is False

        sub = {"subscription[id]": "sub_probe_1"}
        expect_error(post(c, PRE_CANCEL, **sub), PRE_CANCEL, 400, "experience_not_published")
        emulator.admin.publish(BB_SITE, "retention_api")
        pages = [conforms(post(c, PRE_CANCEL, **sub), PRE_CANCEL) for _ in range(2)]
        assert len({p["hosted_page"]["url"] for p in pages}) == 2
        assert {p["hosted_page"]["type"] for p in pages} == {"pre_cancel"}
        live = resource(c.get(INTEGRATION), INTEGRATION)
        assert live["cancellation_via_brightback"]["traffic_status"] == "on"
        portal_on = {"portal_cancellation_enabled": "true"}
        expect_error(post(c, SETTINGS, **portal_on), SETTINGS, 400, "cancellation_settings_hidden")
        off = {"cancellation_via_brightback": "false"}
        expect_error(
            post(c, UPDATE, **off), UPDATE, 400, "cancellation_via_brightback_cannot_be_disabled"
        )


def test_pre_cancel_pages_need_the_retention_api_mode_and_the_toggle(emulator: Any) -> None:
    _prepare(emulator, "disconnected")
    sub = {"subscription[id]": "sub_probe_1"}
    with api(emulator) as c:
        expect_error(post(c, PRE_CANCEL), PRE_CANCEL, 400, "param_missing")
        expect_error(post(c, PRE_CANCEL, **sub), PRE_CANCEL, 400, "not_connected")
        resource(post(c, CONNECT, brightback_site=BB_SITE, access_level="read_write"), CONNECT)
        resource(post(c, UPDATE, integrate_via="customer_portal"), UPDATE)
        expect_error(post(c, PRE_CANCEL, **sub), PRE_CANCEL, 400, "wrong_integration_mode")
        resource(post(c, UPDATE, integrate_via="retention_api"), UPDATE)
        expect_error(
            post(c, PRE_CANCEL, **sub), PRE_CANCEL, 400, "cancellation_via_brightback_disabled"
        )


def test_disconnect_replays_and_events_answer_as_the_contract_declares(emulator: Any) -> None:
    _prepare(emulator, "live")
    with api(emulator) as c:
        expect_error(post(c, DISCONNECT), DISCONNECT, 400, "param_missing")
        expect_error(post(c, DISCONNECT, confirm="yes"), DISCONNECT, 400, "confirmation_required")
        first = c.post(DISCONNECT, data={"confirm": "true"}, headers={IDEMPOTENCY: "k-1"})
        after = resource(first, DISCONNECT)
        assert after["connection"]["status"] == "disconnected"
        assert after["connection"]["data_sync"] is False
        assert after["integrate_via"] is None
        assert after["cancellation_settings"] == {  # rule 9's trap, left for the engine
            "reason_codes_enabled": False,
            "portal_cancellation_enabled": False,
        }
        replay = c.post(DISCONNECT, data={"confirm": "true"}, headers={IDEMPOTENCY: "k-1"})
        conforms(replay, DISCONNECT)
        assert (replay.status_code, replay.content) == (first.status_code, first.content)
        assert replay.headers["chargebee-idempotency-replayed"] == "true"
        reused = {"confirm": "true", "expected_version": "1"}
        answer = c.post(DISCONNECT, data=reused, headers={IDEMPOTENCY: "k-1"})
        expect_error(answer, DISCONNECT, 400, "idempotency_key_reused")
        expect_error(post(c, DISCONNECT, confirm="true"), DISCONNECT, 400, "not_connected")
        expect_error(post(c, UPDATE, integrate_via="retention_api"), UPDATE, 400, "not_connected")
        both = {"reason_codes_enabled": "true", "portal_cancellation_enabled": "true"}
        restored = resource(post(c, SETTINGS, **both), SETTINGS)["cancellation_settings"]
        assert restored == {"reason_codes_enabled": True, "portal_cancellation_enabled": True}

        page = conforms(c.get(EVENTS, params={"limit": 3}), EVENTS)
        newest = [item["event"] for item in page["list"]]
        assert newest[0]["event_type"] == "cancellation_settings_updated"
        assert len(newest) == 3 and "next_offset" in page
        rest = conforms(c.get(EVENTS, params={"limit": 100, "offset": page["next_offset"]}), EVENTS)
        events = newest + [item["event"] for item in rest["list"]]
        assert "next_offset" not in rest
        times = [e["occurred_at"] for e in events]
        assert times == sorted(times, reverse=True)
        assert len({e["id"] for e in events}) == len(events)
        kinds = {e["event_type"] for e in events}
        assert {"brightback_connected", "brightback_disconnected"} <= kinds
        assert {"brightback_experience_published"} <= kinds
        only = conforms(c.get(EVENTS, params={"event_type[is]": "brightback_disconnected"}), EVENTS)
        assert [item["event"]["event_type"] for item in only["list"]] == ["brightback_disconnected"]
        too_many = c.get(EVENTS, params={"limit": 101})
        conforms(too_many, EVENTS)
        assert too_many.status_code == 400


def test_wrong_credentials_and_unknown_sites_answer_the_documented_errors(emulator: Any) -> None:
    emulator.admin.create_site(SITE, EMAIL, KEY)
    for key in ("not-the-key", emulator.admin_token):
        with api(emulator, key=key) as c:
            answer = c.get(INTEGRATION)
            expect_error(answer, INTEGRATION, 401, "api_authentication_failed")
            assert answer.json()["message"] == "Sorry, authentication failed. Invalid api key"
            assert key not in answer.text
    with api(emulator, site="no-such-site") as c:
        expect_error(c.get(INTEGRATION), INTEGRATION, 404, "resource_not_found")


def test_injected_429_and_5xx_answer_the_documented_envelopes(emulator: Any) -> None:
    emulator.admin.create_site(SITE, EMAIL, KEY)
    with api(emulator) as c:
        emulator.admin.set_faults(sites={SITE: {"rate_429": 1.0, "retry_after_s": 3}})
        limited = c.get(INTEGRATION)
        expect_error(limited, INTEGRATION, 429, "api_request_limit_exceeded")
        assert limited.headers["Retry-After"] == "3"
        emulator.admin.set_faults(sites={SITE: {"rate_429": 0.0, "error_rate": 1.0}})
        broken = c.get(INTEGRATION)
        body = conforms(broken, INTEGRATION)
        assert (broken.status_code, body["error_code"]) in {
            (500, "internal_error"),
            (503, "service_unavailable"),
        }


def test_injected_timeouts_answer_504_after_holding_the_request(emulator: Any) -> None:
    emulator.admin.create_site(SITE, EMAIL, KEY)
    emulator.admin.set_faults(sites={SITE: {"timeout_rate": 1.0, "timeout_s": 0.05}})
    with api(emulator) as c:
        expect_error(c.get(INTEGRATION), INTEGRATION, 504, "gateway_timeout")


def test_admin_answers_fit_their_documented_schemas(emulator: Any) -> None:
    emulator.admin.create_site(SITE, EMAIL, KEY)
    bearer = {"Authorization": f"Bearer {emulator.admin_token}"}
    with httpx.Client(base_url=emulator.base_url, headers=bearer, timeout=10) as admin:
        state = conforms(admin.get(f"/_admin/sites/{SITE}"), "/_admin/sites/{site}")
        assert (state["version"], state["api_keys_generated"]) == (1, 0)
        faults = {"sites": {SITE: {"latency_ms": 1.0, "seed": 7}}}
        conforms(admin.post("/_admin/faults", json=faults), "/_admin/faults")
        snapshot = conforms(admin.get("/_admin/faults"), "/_admin/faults")
        assert snapshot["sites"][SITE] == {"latency_ms": 1.0, "seed": 7}
        missing = admin.get("/_admin/sites/no-such-site")
        assert missing.status_code == 404
        conforms(missing, "/_admin/sites/{site}")
    with httpx.Client(base_url=emulator.base_url, auth=(KEY, ""), timeout=10) as chargebee:
        refused = chargebee.get("/_admin/faults")
        expect_error(refused, "/_admin/faults", 401, "api_authentication_failed")


def test_an_out_of_range_events_filter_is_refused_as_invalid(emulator: Any) -> None:
    emulator.admin.create_site(SITE, EMAIL, KEY)
    with api(emulator) as c:
        answer = c.get(EVENTS, params={"occurred_at[after]": str(INT64_MAX + 1)})
        expect_error(answer, EVENTS, 400, "invalid_param")


def test_sign_up_refuses_a_brightback_site_name_outside_the_contract(emulator: Any) -> None:
    emulator.admin.create_site(SITE, EMAIL, KEY)
    with api(emulator) as c:
        answer = post(c, SIGN_UP, brightback_site="0*")
        expect_error(answer, SIGN_UP, 400, "invalid_param")
        state = resource(c.get(INTEGRATION), INTEGRATION)
        assert state["account"]["status"] == "not_found"
