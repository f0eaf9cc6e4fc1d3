"""The client's contract with a scripted transport: what it sends, when it retries, what it
never shows. The same behaviours are proven against the real emulator in
test_client_emulator.py; these cover the edges a server cannot easily produce."""

from __future__ import annotations

import base64
import ssl
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest

from reconciler.client import (
    IDEMPOTENCY_HEADER,
    Client,
    ClientConfig,
    ClientConfigError,
    ReadOnlyClient,
    RetryPolicy,
    idempotency_key,
    tls_context,
)
from reconciler.errors import ApiError, CredentialError, TransportError
from reconciler.plan import Action, Scalar, Step

from ._builders import desired, integration

SECRET = "key-acme-0123456789"
TEMPLATE = "https://{site}.chargebee.example/api/v2"


def error_body(status: int, code: str, type_: str = "invalid_request") -> dict[str, object]:
    return {
        "message": f"{code} happened",
        "type": type_,
        "api_error_code": code,
        "error_code": code,
        "http_status_code": status,
    }


def limited(retry_after: str) -> httpx.Response:
    body = error_body(429, "api_request_limit_exceeded")
    return httpx.Response(429, headers={"Retry-After": retry_after}, json=body)


class Script:
    """Answers requests from a list of responses (or exceptions), recording each request."""

    def __init__(self, *answers: httpx.Response | Exception | Callable[[], httpx.Response]):
        self.answers = list(answers)
        self.requests: list[httpx.Request] = []
        self.lock = threading.Lock()

    def __call__(self, request: httpx.Request) -> httpx.Response:
        with self.lock:
            self.requests.append(request)
            answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, Exception):
            raise answer
        if callable(answer) and not isinstance(answer, httpx.Response):
            return answer()
        return answer


@pytest.fixture(autouse=True)
def _key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ACME_KEY", SECRET)


@pytest.fixture
def sleeps() -> list[float]:
    return []


def make(
    script: Script, sleeps: list[float], cls: type[ReadOnlyClient] = Client, **config: object
) -> ReadOnlyClient:
    http = httpx.Client(transport=httpx.MockTransport(script))
    return cls(
        ClientConfig(url_template=TEMPLATE, **config),  # type: ignore[arg-type]
        http=http,
        sleep=sleeps.append,
        rng=lambda low, high: high,  # the jitter's ceiling, so delays are predictable
    )


@pytest.fixture
def step() -> Step:
    return Step(Action.CONNECT, args={"brightback_site": "acme-retention"})


def test_read_only_client_has_no_write_methods_at_all() -> None:
    assert not hasattr(ReadOnlyClient, "execute")
    assert not hasattr(ReadOnlyClient, "pre_cancel_page")
    # Methods only: `kind` (the backend seam's name for it, "api") is a value, not a method.
    methods = [n for n in dir(ReadOnlyClient) if callable(getattr(ReadOnlyClient, n))]
    writes = [n for n in methods if not n.startswith("_")]
    assert sorted(writes) == ["close", "events", "read"]


def test_read_only_transport_refuses_a_post_even_through_private_attributes(
    sleeps: list[float],
) -> None:
    script = Script(httpx.Response(200, json=integration()))
    client = make(script, sleeps, ReadOnlyClient)
    with pytest.raises(TypeError, match="read-only"):
        client._session.request(desired(), "POST", "/brightback_integration/connect")
    assert script.requests == []


def test_read_sends_basic_auth_with_the_key_as_user_and_parses_live(sleeps: list[float]) -> None:
    script = Script(httpx.Response(200, json=integration(version=7)))
    live = make(script, sleeps).read(desired())
    assert live.version == 7 and live.site == "acme"
    request = script.requests[0]
    assert str(request.url) == "https://acme.chargebee.example/api/v2/brightback_integration"
    expected = base64.b64encode(f"{SECRET}:".encode()).decode()
    assert request.headers["authorization"] == f"Basic {expected}"


def test_execute_posts_form_with_expected_version_and_idempotency_key(
    sleeps: list[float], step: Step
) -> None:
    script = Script(httpx.Response(200, json=integration(version=8)))
    client = make(script, sleeps)
    assert isinstance(client, Client)
    live = client.execute(desired(), step, expected_version=7, idempotency_key="bbgo-abc")
    request = script.requests[0]
    assert request.method == "POST"
    assert request.url.path == "/api/v2/brightback_integration/connect"
    assert request.headers[IDEMPOTENCY_HEADER] == "bbgo-abc"
    form = dict(httpx.QueryParams(request.content.decode()))
    assert form == {
        "brightback_site": "acme-retention",
        "access_level": "read_write",
        "expected_version": "7",
    }
    assert live.version == 8


PLANNED_ARGS: dict[Action, dict[str, Scalar]] = {
    Action.SIGN_UP: {"brightback_site": "acme-retention"},
    Action.CONNECT: {"brightback_site": "acme-retention"},
    Action.SET_INTEGRATION_MODE: {"integrate_via": "customer_portal"},
    Action.DISABLE_REASON_CODES: {"reason_codes_enabled": False},
    Action.ENABLE_CANCELLATION_VIA_BRIGHTBACK: {"cancellation_via_brightback": True},
    Action.DISCONNECT: {"confirm": True},
    Action.RESTORE_CANCEL_EXPERIENCE: {
        "reason_codes_enabled": True,
        "portal_cancellation_enabled": True,
    },
}


@pytest.mark.parametrize(
    ("action", "path", "form"),
    [
        (Action.SIGN_UP, "/brightback_integration/sign_up", {"brightback_site": "acme-retention"}),
        (
            Action.SET_INTEGRATION_MODE,
            "/brightback_integration/update",
            {"integrate_via": "customer_portal"},
        ),
        (
            Action.DISABLE_REASON_CODES,
            "/cancellation_settings/update",
            {"reason_codes_enabled": "false"},
        ),
        (
            Action.ENABLE_CANCELLATION_VIA_BRIGHTBACK,
            "/brightback_integration/update",
            {"cancellation_via_brightback": "true"},
        ),
        (Action.DISCONNECT, "/brightback_integration/disconnect", {"confirm": "true"}),
        (
            Action.RESTORE_CANCEL_EXPERIENCE,
            "/cancellation_settings/update",
            {"reason_codes_enabled": "true", "portal_cancellation_enabled": "true"},
        ),
    ],
)
def test_each_action_goes_to_its_documented_route(
    sleeps: list[float], action: Action, path: str, form: dict[str, str]
) -> None:
    script = Script(httpx.Response(200, json=integration(version=2)))
    client = make(script, sleeps)
    assert isinstance(client, Client)
    # The plan carries every value its writes need (reconciler/actions.py); these are the
    # args the planner gives each action for this spec.
    args = PLANNED_ARGS.get(action, {})
    client.execute(desired(), Step(action, args=args), expected_version=1, idempotency_key="k")
    request = script.requests[0]
    assert request.url.path == "/api/v2" + path
    sent = dict(httpx.QueryParams(request.content.decode()))
    assert sent.pop("expected_version") == "1"
    assert sent == form


def test_retries_5xx_with_the_same_idempotency_key_then_succeeds(
    sleeps: list[float], step: Step
) -> None:
    script = Script(
        httpx.Response(503, json=error_body(503, "service_unavailable", "service")),
        httpx.Response(500, json=error_body(500, "internal_error", "service")),
        httpx.Response(200, json=integration(version=2)),
    )
    client = make(script, sleeps, retry=RetryPolicy(base_delay=0.1, max_attempts=4))
    assert isinstance(client, Client)
    client.execute(desired(), step, expected_version=1, idempotency_key="bbgo-1")
    assert len(script.requests) == 3
    assert {r.headers[IDEMPOTENCY_HEADER] for r in script.requests} == {"bbgo-1"}
    assert sleeps == [0.1, 0.2]  # exponential, at the jitter ceiling
    assert client.stats.snapshot()["retries"] == {"http_5xx": 2}


@pytest.mark.parametrize(
    ("status", "code"),
    [
        (400, "param_invalid"),
        (401, "api_authentication_failed"),
        (404, "resource_not_found"),
        (409, "stale_version"),
    ],
)
def test_never_retries_other_4xx_and_maps_the_envelope(
    sleeps: list[float], step: Step, status: int, code: str
) -> None:
    script = Script(httpx.Response(status, json=error_body(status, code, "operation_failed")))
    client = make(script, sleeps)
    assert isinstance(client, Client)
    with pytest.raises(ApiError) as caught:
        client.execute(desired(), step, expected_version=1, idempotency_key="k")
    assert len(script.requests) == 1 and sleeps == []
    error = caught.value
    assert (error.http_status, error.api_error_code, error.type, error.site) == (
        status,
        code,
        "operation_failed",
        "acme",
    )
    assert f"{code} happened" in str(error)


def test_429_honours_retry_after_seconds(sleeps: list[float]) -> None:
    script = Script(
        limited("3"),
        httpx.Response(200, json=integration()),
    )
    make(script, sleeps).read(desired())
    assert sleeps == [3.0]


def test_429_honours_retry_after_http_date(sleeps: list[float]) -> None:
    when = format_datetime(datetime.now(UTC) + timedelta(seconds=20), usegmt=True)
    script = Script(
        limited(when),
        httpx.Response(200, json=integration()),
    )
    make(script, sleeps).read(desired())
    assert len(sleeps) == 1 and 15 <= sleeps[0] <= 20


def test_retry_after_is_capped(sleeps: list[float]) -> None:
    script = Script(
        httpx.Response(
            429,
            headers={"Retry-After": "86400"},
            json=error_body(429, "api_request_limit_exceeded"),
        ),
        httpx.Response(200, json=integration()),
    )
    make(script, sleeps, retry=RetryPolicy(max_retry_after=5)).read(desired())
    assert sleeps == [5]


def test_attempts_are_bounded_and_the_last_error_is_reported(sleeps: list[float]) -> None:
    script = Script(httpx.Response(503, json=error_body(503, "service_unavailable", "service")))
    client = make(script, sleeps, retry=RetryPolicy(max_attempts=3))
    with pytest.raises(ApiError, match="service_unavailable"):
        client.read(desired())
    assert len(script.requests) == 3 and len(sleeps) == 2


def test_connect_errors_end_in_transport_error_without_the_key(sleeps: list[float]) -> None:
    def refuse() -> httpx.Response:
        raise httpx.ConnectError(f"refused, Authorization: Basic {SECRET}")

    script = Script(refuse)
    client = make(script, sleeps, retry=RetryPolicy(max_attempts=3))
    with pytest.raises(TransportError) as caught:
        client.read(desired())
    error = caught.value
    text = f"{error} {error!r} {error.__cause__!r} {error.__context__!r}"
    assert "after 3 attempts" in str(error) and "acme" in str(error)
    assert SECRET not in text
    assert error.__cause__ is None and error.__context__ is None
    assert client.stats.snapshot()["retries"] == {"connect": 2}


def test_timeouts_and_lost_responses_are_retried(sleeps: list[float], step: Step) -> None:
    script = Script(
        httpx.ReadTimeout("slow"),
        httpx.RemoteProtocolError("Server disconnected without sending a response."),
        httpx.Response(200, json=integration(version=2)),
    )
    client = make(script, sleeps)
    assert isinstance(client, Client)
    client.execute(desired(), step, expected_version=1, idempotency_key="bbgo-7")
    assert [r.headers[IDEMPOTENCY_HEADER] for r in script.requests] == ["bbgo-7"] * 3
    assert client.stats.snapshot()["retries"] == {"timeout": 1, "network": 1}


def test_an_answer_that_is_not_chargebee_is_an_api_error_not_a_crash(sleeps: list[float]) -> None:
    script = Script(httpx.Response(403, text="<html>forbidden</html>"))
    with pytest.raises(ApiError) as caught:
        make(script, sleeps).read(desired())
    assert caught.value.api_error_code == "unexpected_response"


def test_missing_key_fails_before_any_request(
    sleeps: list[float], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ACME_KEY")
    script = Script(httpx.Response(200, json=integration()))
    with pytest.raises(CredentialError, match="env ACME_KEY"):
        make(script, sleeps).read(desired())
    assert script.requests == []


@pytest.mark.parametrize(
    "template",
    ["http://{site}.chargebee.com/api/v2", "http://10.0.0.5/sites/{site}/api/v2"],
)
def test_plain_http_to_a_remote_host_is_refused(template: str) -> None:
    with pytest.raises(ClientConfigError, match="plain http"):
        ClientConfig(url_template=template)


@pytest.mark.parametrize(
    "template",
    [
        "http://127.0.0.1:8080/sites/{site}/api/v2",
        "http://{site}.localhost:8080/api/v2",
        "http://[::1]:9/sites/{site}/api/v2",
        "https://{site}.chargebee.com/api/v2",
    ],
)
def test_https_and_loopback_http_are_accepted(template: str) -> None:
    assert ClientConfig(url_template=template).base_url("acme").endswith("/api/v2")


def test_template_must_name_the_site_and_carry_no_credentials() -> None:
    with pytest.raises(ClientConfigError, match="site"):
        ClientConfig(url_template="https://chargebee.com/api/v2")
    with pytest.raises(ClientConfigError, match="credentials"):
        ClientConfig(url_template="https://user:pw@{site}.chargebee.com/api/v2")


def test_url_comes_from_option_then_environment_then_default(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("BRIGHTBACK_API_URL", raising=False)
    assert ClientConfig.from_env().base_url("acme") == "https://acme.chargebee.com/api/v2"
    monkeypatch.setenv("BRIGHTBACK_API_URL", "http://127.0.0.1:1/sites/{site}/api/v2")
    assert ClientConfig.from_env().base_url("acme") == "http://127.0.0.1:1/sites/acme/api/v2"
    explicit = ClientConfig.from_env("https://{site}.example.test/api/v2")
    assert explicit.base_url("acme") == "https://acme.example.test/api/v2"


def test_site_names_cannot_smuggle_a_host_or_path() -> None:
    config = ClientConfig(url_template=TEMPLATE)
    for bad in ("acme.evil.com/x", "acme@evil", "", "a/../b"):
        with pytest.raises(ClientConfigError):
            config.base_url(bad)


def test_idempotency_key_is_deterministic_and_distinct_for_every_part_of_the_body() -> None:
    base = idempotency_key("acme", "f" * 64, 0, "connect", 3)
    assert base == idempotency_key("acme", "f" * 64, 0, "connect", 3)
    others = {
        idempotency_key("acme-test", "f" * 64, 0, "connect", 3),
        idempotency_key("acme", "e" * 64, 0, "connect", 3),
        idempotency_key("acme", "f" * 64, 1, "connect", 3),
        idempotency_key("acme", "f" * 64, 0, "disconnect", 3),
        # The same step of the same plan naming another version is another request: a
        # shared key would be refused by Chargebee as idempotency_key_reused.
        idempotency_key("acme", "f" * 64, 0, "connect", 4),
    }
    assert base not in others and len(others) == 5


def test_client_repr_shows_no_key(sleeps: list[float]) -> None:
    client = make(Script(httpx.Response(200, json=integration())), sleeps)
    client.read(desired())
    assert SECRET not in repr(client) and SECRET not in repr(client.__dict__)


def test_one_client_serves_many_threads(sleeps: list[float]) -> None:
    script = Script(httpx.Response(200, json=integration()))
    client = make(script, sleeps)
    errors: list[BaseException] = []

    def work() -> None:
        try:
            for _ in range(10):
                client.read(desired())
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert client.stats.snapshot()["requests"] == {"GET": 160}
    assert len(script.requests) == 160


def test_a_key_source_replaces_the_spec_reference(sleeps: list[float]) -> None:
    """The Pulumi provider passes keys from secret config; the spec's reference is unused."""
    from reconciler.credentials import ApiKey

    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers["Authorization"])
        return httpx.Response(200, json=integration())

    http = httpx.Client(transport=httpx.MockTransport(handler))
    source = ApiKey("key-from-config-0123", reference="pulumi config")
    with ReadOnlyClient(ClientConfig(), http=http, key_source=lambda _d: source) as client:
        client.read(desired(env="UNSET_VARIABLE_FOR_THIS_TEST"))
    assert seen == ["Basic " + base64.b64encode(b"key-from-config-0123:").decode()]


def test_clients_share_one_tls_context_and_plain_http_loads_no_ca_bundle() -> None:
    """Issue 17: loading the CA bundle cost ~0.1 s of CPU per client; made once per process
    now, and never for a loopback http emulator (whose context still verifies)."""
    plain = ClientConfig(url_template="http://127.0.0.1:1/sites/{site}/api/v2")
    tls = ClientConfig(url_template="https://{site}.chargebee.com/api/v2")
    assert tls_context(plain) is tls_context(plain)
    assert tls_context(plain).cert_store_stats()["x509_ca"] == 0
    assert tls_context(plain).verify_mode is ssl.CERT_REQUIRED
    assert tls_context(tls) is tls_context(tls) is not tls_context(plain)
    assert tls_context(tls).cert_store_stats()["x509_ca"] > 0
    assert tls_context(tls).verify_mode is ssl.CERT_REQUIRED and tls_context(tls).check_hostname
