"""The Chargebee-style routes of docs/api-contract.md as a plain ASGI callable.

Written against raw ASGI rather than a router because faults need control a framework
hides: a lost response must commit the write and then close the socket without a single
byte of answer, and every request (401s and 404s included) lands in the request log.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hmac
import html
import json
import logging
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import parse_qsl

from emulator import service
from emulator.faults import Decision, Faults
from emulator.rules import RuleViolation, invalid
from emulator.store import Store, dumps, key_digest

log = logging.getLogger("emulator")
Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

POSTS = {
    "/brightback_integration/sign_up": "sign_up",
    "/brightback_integration/connect": "connect",
    "/brightback_integration/update": "update",
    "/brightback_integration/disconnect": "disconnect",
    "/hosted_pages/pre_cancel": "pre_cancel",  # Chargebee's public Retention API route
    "/cancellation_settings/update": "cancellation_settings",
}
GETS = ("/brightback_integration", "/events")
INT64 = 2**63
# Chargebee's event `source` values (API v2); `source[is]` accepts exactly these.
EVENT_SOURCES = frozenset({
    "admin_console", "api", "bulk_operation", "scheduled_job", "hosted_page", "portal",
    "system", "js_api", "migration", "external_service", "none",
})  # fmt: skip
UNAUTHORIZED = RuleViolation(
    401,
    "api_authentication_failed",
    "api_authentication_failed",
    "Sorry, authentication failed. Invalid api key",
)
FAULT_ANSWERS = {
    429: RuleViolation(
        429,
        "api_request_limit_exceeded",
        "api_request_limit_exceeded",
        "Sorry, access has been blocked temporarily due to request count exceeding "
        "acceptable limits.",
    ),
    500: RuleViolation(500, "internal_error", "internal_error", "Sorry, something went wrong."),
    503: RuleViolation(
        503, "service_unavailable", "service_unavailable", "Sorry, the service is unavailable."
    ),
    504: RuleViolation(504, "gateway_timeout", "gateway_timeout", "Sorry, the request timed out."),
}


def split_site(scope: Scope) -> tuple[str | None, str]:
    """(site, path below /api/v2): the path form first, else the Host header's first label."""
    path: str = scope["path"]
    if path.startswith("/sites/"):
        site, _, rest = path[len("/sites/") :].partition("/")
        if rest.startswith("api/v2"):
            return site or None, rest[len("api/v2") :]
        return None, path
    if not path.startswith("/api/v2"):
        return None, path
    host = ""
    for name, value in scope.get("headers", ()):
        if name == b"host":
            host = value.decode("latin-1")
    label = host.split(":", 1)[0].split(".", 1)[0]
    if not label or label.isdigit() or "." not in host.split(":", 1)[0]:
        return None, path[len("/api/v2") :]
    return label, path[len("/api/v2") :]


def header(scope: Scope, wanted: bytes) -> str | None:
    for name, value in scope.get("headers", ()):
        if name == wanted:
            return str(value.decode("latin-1"))
    return None


def presented_key(scope: Scope) -> str | None:
    """The Basic user name, or None (missing, not Basic, undecodable)."""
    value = header(scope, b"authorization")
    if not value or not value.lower().startswith("basic "):
        return None
    try:
        decoded = base64.b64decode(value[6:].strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return None
    return decoded.partition(":")[0] or None


# Chargebee's forms are a few hundred bytes; a 20 MB form took 765 MB and stalled every
# other request while it was parsed on the event loop. Past this, 413 and nothing parsed.
MAX_BODY_BYTES = 64 * 1024
# Parsing a form of many short pairs costs ~1 ms per KiB (47 ms for 64 KiB on the loaded
# 2-core machine): a body larger than any real form is handled on a worker thread, so the
# event loop keeps answering everyone else meanwhile. Smaller ones stay on the loop (a
# thread hand-off costs more than parsing a few hundred bytes).
FORM_ON_LOOP_BYTES = 1024


async def read_body(receive: Receive, limit: int = MAX_BODY_BYTES) -> bytes | None:
    """The request body, or None once it passes `limit` (the rest is not read)."""
    chunks = []
    size = 0
    while True:
        message = await receive()
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
        if not message.get("more_body"):
            return b"".join(chunks)


async def respond(
    send: Send,
    status: int,
    body: bytes,
    extra: list[tuple[bytes, bytes]] | None = None,
    content_type: bytes = b"application/json;charset=utf-8",
) -> None:
    headers = [
        (b"content-type", content_type),
        (b"content-length", str(len(body)).encode()),
        *(extra or []),
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def drop_connection(send: Send) -> None:
    """Close the socket without an answer. Uvicorn's `send` is a bound method of the
    request cycle that owns the transport; any other server gets headers then a cut body."""
    transport = getattr(getattr(send, "__self__", None), "transport", None)
    if transport is not None:
        transport.close()
        for _ in range(3):  # let connection_lost run so the server does not answer a 500
            await asyncio.sleep(0)
        return
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-length", b"1000")]})  # fmt: skip
    await send({"type": "http.response.body", "body": b"{", "more_body": True})
    raise ConnectionAbortedError("lost response injected")


class Api:
    """Serves /api/v2 (Host form) and /sites/{site}/api/v2 (path form)."""

    def __init__(self, store: Store, faults: Faults) -> None:
        self.store = store
        self.faults = faults

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        method: str = scope["method"]
        generation = self.store.generation
        site, rest = split_site(scope)
        key = header(scope, b"chargebee-idempotency-key") if method == "POST" else None
        if site is not None and not self.authentic(scope, site):
            # Before the body is read: a stranger's upload costs nothing.
            status, body = service.error(UNAUTHORIZED)
            self.store.log_request(
                site, method, scope["path"], status, key, False, None, generation
            )
            await respond(send, status, body, [(b"connection", b"close")])
            return
        payload = await read_body(receive)
        if payload is None:
            too_large = RuleViolation(
                413, "invalid_request", "request_too_large", f"body over {MAX_BODY_BYTES} bytes"
            )
            status, body = service.error(too_large)
            await respond(send, status, body, [(b"connection", b"close")])
            return
        if site is None and rest.startswith(RETENTION_PAGES):
            status, page = retention_page(self.store, rest)
            await respond(send, status, page, content_type=b"text/html;charset=utf-8")
            return
        decision = self.faults.decide(site) if site else Decision()
        if decision.delay_s:
            await asyncio.sleep(decision.delay_s)
        if decision.timeout_s is not None:
            await asyncio.sleep(decision.timeout_s)
            decision.status = 504
        extra: list[tuple[bytes, bytes]] = []
        replayed = False
        if generation != self.store.generation:  # reset while this request slept
            decision.status = 503
        if decision.status is not None:
            status, body = service.error(FAULT_ANSWERS[decision.status])
            if decision.retry_after_s is not None:
                extra.append((b"retry-after", str(decision.retry_after_s).encode()))
        else:
            args = (scope, site, rest, method, payload, key)
            try:
                if len(payload) > FORM_ON_LOOP_BYTES:  # the store is locked, thread-safe
                    status, body, replayed = await asyncio.to_thread(self.handle, *args)
                else:
                    status, body, replayed = self.handle(*args)
            except Exception:  # a bug must still answer in the envelope, and be logged
                log.exception("unhandled error on %s %s", method, scope["path"])
                status, body = service.error(FAULT_ANSWERS[500])
            if replayed:
                extra.append((b"chargebee-idempotency-replayed", b"true"))
        self.store.log_request(
            site, method, scope["path"], status, key, replayed, decision.fault, generation
        )
        if decision.lose_response:
            await drop_connection(send)
            return
        await respond(send, status, body, extra)

    def authentic(self, scope: Scope, site: str) -> bool:
        """Whether the request carries the site's key (unknown sites answer 404 later)."""
        stored = self.store.key_hash(site)
        if stored is None:
            return True  # handle() answers resource_not_found
        given = presented_key(scope)
        return given is not None and hmac.compare_digest(key_digest(given), stored)

    def handle(
        self,
        scope: Scope,
        site: str | None,
        rest: str,
        method: str,
        payload: bytes,
        key: str | None,
    ) -> tuple[int, bytes, bool]:
        """Auth, routing and the operation itself (synchronous: SQLite is microseconds)."""
        stored = self.store.key_hash(site) if site else None
        if stored is None:
            return (*service.error(service.not_found(f"site {site or '(none)'}")), False)
        given = presented_key(scope)
        if given is None or not hmac.compare_digest(key_digest(given), stored):
            return (*service.error(UNAUTHORIZED), False)
        assert site is not None
        rest = rest.rstrip("/") or "/"
        try:
            if method == "GET" and rest == "/brightback_integration":
                return (*service.read(self.store, site), False)
            if method == "GET" and rest == "/events":
                return (*self.events(site, scope), False)
            if method == "POST" and rest in POSTS:
                params = self.form(payload)
                return service.write(
                    self.store,
                    site,
                    POSTS[rest],
                    params,
                    idempotency_key=key,
                    page_base=page_base(scope),
                )
        except RuleViolation as violation:
            return (*service.error(violation), False)
        if rest in POSTS or rest in GETS:
            wrong = RuleViolation(405, "invalid_request", "method_not_allowed",
                                  f"{method} is not allowed on {rest}")  # fmt: skip
            return (*service.error(wrong), False)
        return (*service.error(service.not_found(f"route {rest}")), False)

    @staticmethod
    def form(payload: bytes) -> dict[str, str]:
        try:
            pairs = parse_qsl(payload.decode(), keep_blank_values=True, strict_parsing=False)
        except UnicodeDecodeError:
            raise invalid("invalid_request", "the body must be form-encoded UTF-8") from None
        return dict(pairs)

    def events(self, site: str, scope: Scope) -> tuple[int, bytes]:
        """GET /events with Chargebee's list parameters and filters."""
        query = dict(parse_qsl(scope.get("query_string", b"").decode(), keep_blank_values=True))
        limit = _int_param(query, "limit", 10)
        if not 1 <= limit <= 100:
            raise invalid("invalid_param", "limit : must be between 1 and 100", "limit")
        offset = _int_param(query, "offset", None)
        after = _int_param(query, "occurred_at[after]", None)
        kinds = _list_param(query, "event_type[in]")
        if query.get("event_type[is]"):
            kinds = [*(kinds or []), query["event_type[is]"]]
        source = query.get("source[is]") or None
        if source is not None and source not in EVENT_SOURCES:
            raise invalid("invalid_param", "source[is] : not a known event source", "source[is]")
        events, more = self.store.events(
            site, limit=limit, offset=offset, after=after, event_types=kinds, source=source
        )
        body: dict[str, Any] = {"list": [{"event": e} for e in events]}
        if more is not None:
            body["next_offset"] = json.dumps([more])
        return 200, dumps(body)


RETENTION_PAGES = "/retention/"
PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>Before you cancel</title>
</head><body><main data-brightback-site="{site}" data-experience="retention_api"
data-hosted-page="{page}"><h1>Before you cancel</h1>
<p>Brightback site {site}: published retention_api experience.</p></main></body></html>"""


def retention_page(store: Store, rest: str) -> tuple[int, bytes]:
    """The Brightback page a pre-cancel hosted page's url leads to: found only for a page
    that was handed out, while the retention_api experience is still published."""
    parts = rest[len(RETENTION_PAGES) :].split("/")
    if len(parts) != 3 or parts[1] != "retention_api":
        return 404, b"<!doctype html><title>Not found</title>"
    name, _, page_id = parts
    if not store.published_page(name, page_id):
        return 404, b"<!doctype html><title>Not found</title>"
    return 200, PAGE.format(site=html.escape(name), page=html.escape(page_id)).encode()


def page_base(scope: Scope) -> str:
    """Where the emulator is reached from the client's side (scheme and Host header), so a
    hosted page's url can be followed; Chargebee's own host otherwise."""
    host = header(scope, b"host")
    if not host or not all(c.isalnum() or c in ".-:[]" for c in host):
        return service.PAGE_BASE
    return f"{scope.get('scheme', 'http')}://{host}"


def _list_param(query: dict[str, str], name: str) -> list[str] | None:
    """A Chargebee list filter: `["a","b"]` as JSON, or `[a,b]` / `a,b` as sent by hand
    (the official SDK writes Python's repr of a list: `['a', 'b']`)."""
    value = query.get(name)
    if value is None or value.strip() == "":
        return None
    items = [i.strip().strip("'\"").strip() for i in value.strip().strip("[]").split(",")]
    if not all(items):
        raise invalid("invalid_param", f"{name} : not a list of values", name)
    return items


def _int_param(query: dict[str, str], name: str, default: int | None) -> Any:
    value = query.get(name)
    if value is None or value == "":
        return default
    if name == "offset":  # opaque to clients: a JSON list holding the row id
        try:
            offset = int(json.loads(value)[0])
            if not 0 <= offset < INT64:
                raise ValueError(value)
            return offset
        except (ValueError, TypeError, IndexError, KeyError):
            raise invalid("invalid_param", "offset : invalid", "offset") from None
    try:
        number = int(value)
    except ValueError:
        raise invalid("invalid_param", f"{name} : must be an integer", name) from None
    if not -INT64 <= number < INT64:  # SQLite integers are 64-bit
        raise invalid("invalid_param", f"{name} : out of range", name)
    return number


__all__ = [
    "EVENT_SOURCES",
    "FAULT_ANSWERS",
    "FORM_ON_LOOP_BYTES",
    "GETS",
    "INT64",
    "PAGE",
    "POSTS",
    "RETENTION_PAGES",
    "UNAUTHORIZED",
    "Api",
    "Message",
    "Receive",
    "Scope",
    "Send",
    "drop_connection",
    "header",
    "page_base",
    "presented_key",
    "read_body",
    "respond",
    "retention_page",
    "split_site",
]
