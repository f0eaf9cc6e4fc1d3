"""The only code that talks to the control plane: httpx, retries, idempotency, no leaks.

Two classes on purpose. `ReadOnlyClient` (what `brightback plan` gets) has no write method,
and its transport refuses any method but GET, so a dry run cannot write even by mistake.
`Client` adds `execute()` (one route per planned `Action`) and `pre_cancel_page()`.

What a caller may rely on:
- the API key is resolved from the site's reference at every call (so rotation works) and
  is never part of an exception, a log line or a repr: error messages are built here from
  the site, the route and Chargebee's error envelope, never from httpx's exceptions;
- connect errors, timeouts, lost responses, 5xx and 429 are retried with exponential
  backoff and full jitter (429 honours Retry-After, capped); other 4xx never are;
- every POST carries a `chargebee-idempotency-key`, so a retry after a lost response
  replays the first answer instead of acting twice. Chargebee honours a key for a limited
  window (30 minutes); nothing relies on a replay older than that, because every write
  also names the version it was planned from (a late retry is refused as stale);
- a site that answers 429 is paced from then on (reconciler/pacing.py);
- requests go through reconciler/transport.py: one keep-alive connection per worker
  thread on httpx's own transport (httpcore), or a caller's `httpx.Client`.
"""

from __future__ import annotations

import base64
import email.utils
import functools
import ipaddress
import json
import logging
import os
import random
import socket
import ssl
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self
from urllib.parse import urlsplit

import httpcore

from reconciler import __version__
from reconciler import _peer_json as peer_json
from reconciler import hub as hubs
from reconciler._peer_json import PeerAnswerError
from reconciler.actions import Step, idempotency_key, request_for
from reconciler.backend import BackendKind
from reconciler.credentials import ApiKey, redact_bytes, resolve_api_key
from reconciler.errors import RETRY_STATUSES, ApiError, ClientConfigError, TransportError
from reconciler.fields import Scalar
from reconciler.live import live_from_api
from reconciler.model import Desired, Live
from reconciler.pacing import SMALLEST_PLAN_PER_MINUTE, Pacer
from reconciler.transport import (
    TRANSPORT_ERRORS,
    Answer,
    HttpxTransport,
    Timeouts,
    Transport,
    open_transport,
)

if TYPE_CHECKING:  # httpx is imported only when a caller brings a client or TLS is used
    import httpx

# Under the CLI's `brightback` logger, so retry lines reach stderr and the JSON log.
log = logging.getLogger("brightback.client")

DEFAULT_URL_TEMPLATE = "https://{site}.chargebee.com/api/v2"
URL_ENV = "BRIGHTBACK_API_URL"
IDEMPOTENCY_HEADER = "chargebee-idempotency-key"
PRE_CANCEL_PATH = "/hosted_pages/pre_cancel"  # Chargebee's public Retention API route
EVENTS_PATH = "/events"  # Chargebee's public event list


@dataclass(frozen=True)
class RetryPolicy:
    """Bounded retries: `max_attempts` counts the first try."""

    max_attempts: int = 5
    base_delay: float = 0.2  # seconds; doubled every attempt, full jitter below the cap
    max_delay: float = 10.0
    max_retry_after: float = 30.0  # a Retry-After longer than this is cut to this

    def backoff(self, attempt: int, rng: Callable[[float, float], float]) -> float:
        """Full jitter (AWS architecture blog): uniform in [0, min(cap, base * 2**attempt)]."""
        ceiling = min(self.max_delay, self.base_delay * (2**attempt))
        return rng(0.0, ceiling)


@dataclass(frozen=True)
class ClientConfig:
    """Where and how to reach the control plane. Holds no secret, so it can be logged."""

    url_template: str = DEFAULT_URL_TEMPLATE
    timeout: float = 30.0  # read/write/pool seconds per request
    connect_timeout: float = 10.0
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    max_connections: int = 32  # the httpx path's pool (proxies); size it to the concurrency
    verify: bool = True  # TLS verification; never turned off by the CLI
    # After a site's first 429, pace it at no more than this (reconciler/pacing.py).
    rate_limit_per_minute: int = SMALLEST_PLAN_PER_MINUTE

    def __post_init__(self) -> None:
        if "{site}" not in self.url_template:
            raise ClientConfigError(
                f"API URL template {_without_password(self.url_template)!r} must contain {{site}}, "
                "e.g. https://{site}.chargebee.com/api/v2"
            )
        _check_url(self.url_template.replace("{site}", "site"))

    @classmethod
    def from_env(cls, url_template: str | None = None, **overrides: Any) -> ClientConfig:
        """Explicit template first (the --api-url option), then $BRIGHTBACK_API_URL, then
        Chargebee's own per-site URL."""
        template = url_template or os.environ.get(URL_ENV) or DEFAULT_URL_TEMPLATE
        return cls(url_template=template, **overrides)

    def base_url(self, site: str) -> str:
        if not site or not all(c.isalnum() or c == "-" for c in site):
            raise ClientConfigError(f"site name {site!r} is not a valid Chargebee site name")
        return self.url_template.replace("{site}", site).rstrip("/")

    def with_options(self, **changes: Any) -> ClientConfig:
        return replace(self, **changes)


def _without_password(url: str) -> str:
    """`url` as it may be printed: any user:password@ part becomes ***@."""
    head, sep, rest = url.partition("://")
    if not sep:
        return url
    authority, slash, path = rest.partition("/")
    if "@" in authority:
        authority = "***@" + authority.rpartition("@")[2]
    return f"{head}{sep}{authority}{slash}{path}"


def _check_url(url: str) -> None:
    try:
        parts = urlsplit(url)
        hostname = parts.hostname
        parts.port  # noqa: B018 (raises ValueError on a bad port)
    except ValueError as exc:  # a malformed IPv6 literal, a bad port
        raise ClientConfigError(
            f"API URL {_without_password(url)!r} is malformed ({exc})"
        ) from None
    if parts.scheme not in ("https", "http") or not hostname:
        raise ClientConfigError(
            f"API URL {_without_password(url)!r} must be an http(s) URL with a host"
        )
    if parts.username or parts.password:
        raise ClientConfigError("API URL must not carry credentials; use the spec's reference")
    if parts.scheme == "http" and not _is_loopback(hostname):
        raise ClientConfigError(
            f"refusing plain http:// to {hostname}: API keys would travel in clear; "
            "use https:// (plain http is allowed for loopback emulators only)"
        )


def _is_loopback(host: str) -> bool:
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


# Distinct error kinds ClientStats counts by name; later new ones are counted as `other`.
MAX_ERROR_KINDS_COUNTED = 64


class ClientStats:
    """Thread-safe counters for the fleet's Prometheus metrics."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._requests: Counter[str] = Counter()  # by method
        self._responses: Counter[str] = Counter()  # by status code
        self._retries: Counter[str] = Counter()  # by reason
        self._errors: Counter[str] = Counter()  # by kind (api_error_code or transport kind)

    def _bump(self, counter: Counter[str], key: str) -> None:
        with self._lock:
            counter[key] += 1

    def request(self, method: str) -> None:
        self._bump(self._requests, method)

    def response(self, status: int) -> None:
        self._bump(self._responses, str(status))

    def retry(self, reason: str) -> None:
        self._bump(self._retries, reason)

    def error(self, kind: str) -> None:
        with self._lock:
            # Kinds include the peer's api_error_code: a peer inventing codes must not
            # grow a daemon's counters (and the metrics' copy of them) without end.
            if kind not in self._errors and len(self._errors) >= MAX_ERROR_KINDS_COUNTED:
                kind = "other"
            self._errors[kind] += 1

    def snapshot(self) -> dict[str, dict[str, int]]:
        with self._lock:
            return {
                "requests": dict(self._requests),
                "responses": dict(self._responses),
                "retries": dict(self._retries),
                "errors": dict(self._errors),
            }


def _retry_after_seconds(value: str | None, now: float) -> float | None:
    """Retry-After is either delta-seconds or an HTTP date (RFC 9110 10.2.3)."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, when.timestamp() - now)


def _caused_by(exc: BaseException, kind: type[BaseException]) -> bool:
    """Whether `kind` is anywhere in the chain of causes (httpx wraps the socket's error)."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, kind):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _is_certificate_error(exc: BaseException) -> bool:
    """Whether a connect error is a failed TLS verification."""
    return _caused_by(exc, ssl.SSLCertVerificationError) or "CERTIFICATE_VERIFY_FAILED" in str(exc)


def _is_name_error(exc: BaseException) -> bool:
    """Whether a connect error is a failed DNS lookup (socket.gaierror)."""
    return _caused_by(exc, socket.gaierror)


def tls_context(config: ClientConfig) -> ssl.SSLContext:
    """The TLS context for a client of `config`, made once per process and kind.

    Loading the CA bundle costs ~0.1 s of CPU per context, paid by every client before.
    A plain-http template (loopback only, see `_check_url`) never does TLS, so it gets a
    verifying context with no CA loaded.
    """
    plain = config.url_template.startswith("http://")
    return _tls_context(
        plain, config.verify, os.environ.get("SSL_CERT_FILE"), os.environ.get("SSL_CERT_DIR")
    )


@functools.lru_cache(maxsize=8)
def _tls_context(
    plain: bool, verify: bool, cert_file: str | None, cert_dir: str | None
) -> ssl.SSLContext:
    if plain and verify:
        return ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # verifies; trusts nothing
    import httpx  # its CA bundle handling (certifi, SSL_CERT_FILE/DIR); only for https

    return httpx.create_ssl_context(verify=verify)


def _basic_auth(secret: str) -> str:
    return "Basic " + base64.b64encode(f"{secret}:".encode()).decode("ascii")


def _form_value(value: Scalar) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


KeySource = Callable[[Desired], ApiKey]
"""Where a site's key comes from. The default reads the spec's credential reference;
the Pulumi provider passes keys from the stack's secret config instead."""


def _key_from_spec(desired: Desired) -> ApiKey:
    return resolve_api_key(desired.credentials)


class _Session:
    """Retry and error machinery over one transport (reconciler/transport.py).

    A read-only session refuses anything but GET, so `ReadOnlyClient` cannot write even
    through private attributes.
    """

    def __init__(
        self,
        config: ClientConfig,
        http: httpx.Client | None,
        *,
        read_only: bool,
        sleep: Callable[[float], None],
        rng: Callable[[float, float], float],
        stats: ClientStats,
        key_source: KeySource | None = None,
    ) -> None:
        self.config = config
        self.read_only = read_only
        self._key_source = key_source or _key_from_spec
        self.stats = stats
        self._sleep = sleep
        self._rng = rng
        self.pacer = Pacer(config.rate_limit_per_minute, sleep=sleep)
        # A caller's own httpx.Client is used as given (proxies, mounts, test transports);
        # otherwise the fast path of reconciler/transport.py.
        timeouts = Timeouts(connect=config.connect_timeout, io=config.timeout)
        self._transport: Transport = (
            HttpxTransport(http, timeouts=timeouts)
            if http is not None
            else open_transport(
                config.url_template,
                timeouts=timeouts,
                ssl_context=tls_context(config),
                user_agent=f"brightback-gitops/{__version__}",
                max_connections=config.max_connections,
            )
        )

    def close(self) -> None:
        self._transport.close()

    def request(
        self,
        desired: Desired,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        form: Mapping[str, str] | None = None,
        idempotency_key: str | None = None,
    ) -> dict[str, Any]:
        if self.read_only and method != "GET":
            raise TypeError("a read-only client cannot send " + method)
        site = desired.site
        url = self.config.base_url(site) + path
        key = self._key_source(desired)  # at call time: rotation just works
        headers = {"Authorization": _basic_auth(key.reveal()), "Accept": "application/json"}
        if idempotency_key is not None:
            headers[IDEMPOTENCY_HEADER] = idempotency_key
        policy = self.config.retry
        what = f"{site}: {method} {path}"
        last_problem = ""
        timeouts = 0  # all of them: a silent peer, not worth another round (TransportError)
        for attempt in range(policy.max_attempts):
            self.pacer.before_request(site)  # waits only for a site that answered 429
            self.stats.request(method)
            delay: float | None = None
            try:
                response = self._send(method, url, params=params, form=form, headers=headers)
            except PeerAnswerError as exc:
                # Not a transient fault: the same peer gives the same answer. This site
                # fails; the others go on.
                self.stats.error("unexpected_response")
                raise ApiError(
                    f"{what}: {exc}; refused (is {self.config.base_url(site)} a Chargebee API?)",
                    http_status=0,
                    api_error_code="unexpected_response",
                    site=site,
                ) from None
            except httpcore.TimeoutException as exc:
                reason, last_problem = "timeout", f"timed out ({type(exc).__name__})"
                timeouts += 1
            except httpcore.ConnectError as exc:
                if _is_certificate_error(exc):
                    # Not a transient fault: retrying cannot make a certificate trusted.
                    self.stats.error("tls")
                    raise TransportError(
                        f"{what}: TLS certificate verification failed for "
                        f"{self.config.base_url(site)}; the server's certificate is not "
                        "trusted (set SSL_CERT_FILE to a CA bundle that signs it)",
                        attempts=attempt + 1,
                        retryable=False,
                    ) from None
                if _is_name_error(exc):
                    # A name that does not resolve will not resolve in a second either:
                    # retrying cost ~35 s a site at --timeout 2 (1,000 sites: 285 s).
                    self.stats.error("dns")
                    raise TransportError(
                        f"{what}: host name does not resolve",
                        attempts=attempt + 1,
                        where=self.config.base_url(site),
                        retryable=False,
                    ) from None
                reason, last_problem = "connect", "connection refused or unreachable"
            except TRANSPORT_ERRORS as exc:
                # RemoteProtocolError here is the lost response: the write may have
                # committed; the idempotency key makes the retry a replay.
                reason, last_problem = "network", f"connection lost ({type(exc).__name__})"
            else:
                self.stats.response(response.status_code)
                if response.is_success:
                    return self._json(response, what)
                if response.status_code not in RETRY_STATUSES:
                    raise self._api_error(response, site)
                reason = "http_429" if response.status_code == 429 else "http_5xx"
                last_problem = f"HTTP {response.status_code}"
                if response.status_code == 429:
                    retry_after = _retry_after_seconds(
                        response.headers.get("retry-after"), time.time()
                    )
                    if retry_after is not None:
                        delay = min(retry_after, policy.max_retry_after)
                if attempt == policy.max_attempts - 1:
                    raise self._api_error(response, site)
            if attempt == policy.max_attempts - 1:
                break
            if delay is None:
                delay = policy.backoff(attempt, self._rng)
            self.stats.retry(reason)
            if reason == "http_429":  # from now on the site's requests wait their turn
                self.pacer.rate_limited(site, waiting_s=delay)
            log.info(
                "%s: %s, retry %d/%d in %.2fs",
                what,
                last_problem,
                attempt + 1,
                policy.max_attempts - 1,
                delay,
            )
            self._sleep(delay)
        self.stats.error("transport")
        raise TransportError(
            f"{what}: {last_problem}",
            attempts=policy.max_attempts,
            where=self.config.base_url(site),
            silent=timeouts == policy.max_attempts,
        )

    def _send(
        self,
        method: str,
        url: str,
        *,
        params: Mapping[str, str] | None,
        form: Mapping[str, str] | None,
        headers: Mapping[str, str],
    ) -> Answer:
        """One request, its body read under `MAX_BODY_BYTES` (the transport's cap, decoded,
        so a compressed bomb is cut off too); a larger answer raises PeerAnswerError."""
        answer = self._transport.send(method, url, params=params, form=form, headers=headers)
        # Whatever the peer says is redacted before anyone reads it: an error message or
        # event that echoes a key never reaches a log, the state or a report.
        return replace(answer, content=redact_bytes(answer.content))

    def _json(self, response: Answer, what: str) -> dict[str, Any]:
        try:
            body = peer_json.loads(response.content)
        except PeerAnswerError as exc:
            self.stats.error("unexpected_response")
            raise ApiError(
                f"{what}: {exc}; refused",
                http_status=response.status_code,
                api_error_code="unexpected_response",
            ) from None
        except ValueError:
            body = None
        if not isinstance(body, dict):
            self.stats.error("unexpected_response")
            raise ApiError(
                f"{what}: answer is not a JSON object",
                http_status=response.status_code,
                api_error_code="unexpected_response",
            )
        return body

    def _api_error(self, response: Answer, site: str) -> ApiError:
        """Chargebee's envelope -> ApiError. Never the request, never the headers."""
        try:
            body = peer_json.loads(response.content)
        except ValueError:  # PeerAnswerError included: no envelope to trust
            body = None
        hint = self._status_hint(response, site)
        if isinstance(body, dict) and body.get("api_error_code"):
            code = str(body["api_error_code"])
            error = ApiError(
                str(body.get("message") or code) + hint,
                http_status=int(body.get("http_status_code") or response.status_code),
                type=str(body["type"]) if body.get("type") else None,
                api_error_code=code,
                param=str(body["param"]) if body.get("param") else None,
                site=site,
            )
        else:
            code = "unexpected_response"
            error = ApiError(
                f"HTTP {response.status_code} without a Chargebee error body "
                f"(is {self.config.base_url(site)} a Chargebee API?){hint}",
                http_status=response.status_code,
                api_error_code=code,
                site=site,
            )
        self.stats.error(code)
        return error

    def _status_hint(self, response: Answer, site: str) -> str:
        """What a 403 or 404 means here, added to the server's message: which access the
        call needs, or which URL the template made (the usual cause of a 404)."""
        if response.status_code == 403:
            write = response.method != "GET"
            need = "full (read-write) access" if write else "read access"
            return f" [this {response.method} needs an API key with {need}]"
        if response.status_code == 404:
            return (
                f" [URL {self.config.base_url(site)}, made from the API URL template "
                f"{self.config.url_template}]"
            )
        return ""


class ReadOnlyClient:
    """Reads a site's integration and events. Has no write method, by construction.

    This is the `api` backend (reconciler/backend.py): `ReadOnlyClient` is a `ReadBackend`,
    `Client` a `Backend`.
    """

    kind = BackendKind.API
    _read_only = True

    def __init__(
        self,
        config: ClientConfig | None = None,
        *,
        http: httpx.Client | None = None,
        sleep: Callable[[float], None] = hubs.sleep,
        rng: Callable[[float, float], float] = random.uniform,
        stats: ClientStats | None = None,
        key_source: KeySource | None = None,
    ) -> None:
        self.config = config or ClientConfig.from_env()
        self.stats = stats or ClientStats()
        self._session = _Session(
            self.config,
            http,
            read_only=self._read_only,
            sleep=sleep,
            rng=rng,
            stats=self.stats,
            key_source=key_source,
        )

    def __repr__(self) -> str:
        return f"{type(self).__name__}(url_template={self.config.url_template!r})"

    def read(self, desired: Desired) -> Live:
        """The site's whole integration state in one GET (the planner's only input)."""
        body = self._session.request(desired, "GET", "/brightback_integration")
        return _live(body, desired.site)

    def events(
        self,
        desired: Desired,
        *,
        since: int | None = None,
        limit: int = 10,
        event_types: Sequence[str] = (),
        source: str | None = None,
    ) -> list[dict[str, Any]]:
        """Recent events, newest first, from Chargebee's public `GET /events`: `since` is
        epoch seconds (exclusive, `occurred_at[after]`), `event_types` is `event_type[in]`,
        `source` is `source[is]`. Each is Chargebee's event object (`id`, `occurred_at`,
        `source`, `user`, `event_type`, `api_version`, `content`); entries that are not
        are dropped rather than guessed at."""
        params = {"limit": str(max(1, min(100, limit)))}
        if since is not None:
            params["occurred_at[after]"] = str(since)
        if event_types:
            params["event_type[in]"] = json.dumps(list(event_types), separators=(",", ":"))
        if source is not None:
            params["source[is]"] = source
        body = self._session.request(desired, "GET", EVENTS_PATH, params=params)
        entries = body.get("list", [])
        return [
            e["event"]
            for e in (entries if isinstance(entries, list) else [])
            if isinstance(e, dict) and _is_event(e.get("event"))
        ]

    def close(self) -> None:
        self._session.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def _is_event(value: Any) -> bool:
    return (
        isinstance(value, dict)
        and isinstance(value.get("id"), str)
        and isinstance(value.get("occurred_at"), int)
        and isinstance(value.get("content"), dict)
    )


def _live(body: Mapping[str, Any], site: str) -> Live:
    try:
        return live_from_api(body)
    except ApiError as exc:
        raise ApiError(
            exc.message,
            http_status=exc.http_status,
            api_error_code=exc.api_error_code,
            site=site,
        ) from None


class Client(ReadOnlyClient):
    """Adds the writes. Each write names the version it planned from and its idempotency key."""

    _read_only = False

    def execute(
        self, desired: Desired, step: Step, *, expected_version: int, idempotency_key: str
    ) -> Live:
        """Run one planned step; returns the resource the server answered with (the state
        right after the write, so apply can verify without another read)."""
        path, form, missing = request_for(step.action, step.args)
        if missing:
            raise ApiError(
                f"step {step.action.value} has no value for {', '.join(missing)}",
                http_status=0,
                api_error_code="invalid_step",
                site=desired.site,
            )
        encoded = {name: _form_value(value) for name, value in form.items()}
        encoded["expected_version"] = str(expected_version)
        body = self._session.request(
            desired, "POST", path, form=encoded, idempotency_key=idempotency_key
        )
        return _live(body, desired.site)

    def pre_cancel_page(
        self,
        desired: Desired,
        subscription_id: str,
        *,
        pass_thru_content: str | None = None,
        cancel_url: str | None = None,
        redirect_url: str | None = None,
    ) -> dict[str, Any]:
        """Chargebee's public `POST /hosted_pages/pre_cancel` (Retention API, rule 11): the
        `hosted_page` whose url starts a Brightback cancel session. The probe."""
        form = {"subscription[id]": subscription_id}
        optional = {
            "pass_thru_content": pass_thru_content,
            "cancel_url": cancel_url,
            "redirect_url": redirect_url,
        }
        form.update({name: value for name, value in optional.items() if value is not None})
        body = self._session.request(
            desired,
            "POST",
            PRE_CANCEL_PATH,
            form=form,
            idempotency_key=f"bbgo-probe-{uuid.uuid4()}",  # one per call, stable across retries
        )
        page = body.get("hosted_page")
        if not (isinstance(page, dict) and page.get("type") == "pre_cancel" and page.get("url")):
            raise ApiError(
                "answer has no pre_cancel hosted_page with a url",
                http_status=200,
                api_error_code="unexpected_response",
                site=desired.site,
            )
        return page


__all__ = [
    "DEFAULT_URL_TEMPLATE",
    "EVENTS_PATH",
    "IDEMPOTENCY_HEADER",
    "MAX_ERROR_KINDS_COUNTED",
    "PRE_CANCEL_PATH",
    "RETRY_STATUSES",
    "URL_ENV",
    "Client",
    "ClientConfig",
    "ClientConfigError",
    "ClientStats",
    "KeySource",
    "ReadOnlyClient",
    "RetryPolicy",
    "idempotency_key",
]
