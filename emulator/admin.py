"""The emulator-only admin routes under /_admin: set up sites and accounts, act as a person
in the admin console or in Brightback, read the request log, inject faults, reset.

Bearer auth with the admin token only; a Chargebee site key is refused here just as the
admin token is refused on the Chargebee routes, so tests can never blur the two.
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from emulator import rules, service
from emulator.console import sessions as console_sessions
from emulator.faults import FaultConfigError, Faults
from emulator.rules import MODES, RuleViolation
from emulator.settings import PLANS, SettingsError, validate
from emulator.store import Conflict, Store, now

Endpoint = Callable[[Request], Awaitable[Response]]
UI_ACTIONS = ("connect", "update", "disconnect", "cancellation_settings")
CONSOLE_USER = "console.user@example.com"  # the `user` of a console event when none is named


def envelope(status: int, code: str, message: str) -> JSONResponse:
    kind = "invalid_request" if status < 409 else "operation_failed"
    if status == 401:
        kind = "api_authentication_failed"
    body = {
        "message": message,
        "type": kind,
        "api_error_code": code,
        "error_code": code,
        "http_status_code": status,
    }
    return JSONResponse(body, status_code=status)


def raw(status: int, body: bytes) -> Response:
    return Response(body, status_code=status, media_type="application/json")


async def json_body(request: Request) -> dict[str, Any]:
    payload = await request.body()
    if not payload:
        return {}
    value = json.loads(payload)
    if not isinstance(value, dict):
        raise ValueError("the body must be a JSON object")
    return value


def as_form(fields: dict[str, Any]) -> dict[str, str]:
    """The console's JSON values as the API's form strings (booleans as true/false)."""
    form = {}
    for name, value in fields.items():
        if isinstance(value, bool):
            form[name] = "true" if value else "false"
        elif value is not None:
            form[name] = str(value)
    return form


def site_entries(body: dict[str, Any]) -> list[dict[str, Any]]:
    entry = {k: body[k] for k in ("site", "email", "api_key") if body.get(k)}
    if len(entry) != 3:
        raise ValueError("site, email and api_key are required")
    plan = body.get("plan", "live")
    if plan not in PLANS:
        raise ValueError(f"plan must be one of {', '.join(PLANS)}")
    for flag in ("reason_codes_enabled", "portal_cancellation_enabled"):
        if flag in body and not isinstance(body[flag], bool):
            raise ValueError(f"{flag} must be a boolean")
    return [{**body, "plan": plan}]


def build(store: Store, faults: Faults, admin_token: str) -> Starlette:
    """The admin application; every route but health needs the Bearer admin token."""

    def guarded(handler: Endpoint) -> Endpoint:
        async def endpoint(request: Request) -> Response:
            given = request.headers.get("authorization", "")
            scheme, _, token = given.partition(" ")
            if scheme.lower() != "bearer" or not hmac.compare_digest(
                token.strip().encode(), admin_token.encode()
            ):
                return envelope(401, "api_authentication_failed", "admin token required")
            try:
                return await handler(request)
            except (ValueError, FaultConfigError, SettingsError, KeyError, TypeError) as problem:
                return envelope(400, "invalid_request", str(problem))
            except Conflict as problem:
                return envelope(409, "conflict", str(problem))

        return endpoint

    async def health(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def create_site(request: Request) -> Response:
        entries = site_entries(await json_body(request))
        with store.transaction() as conn:
            store.create_sites(conn, entries)
        return JSONResponse(service.site_state(store, entries[0]["site"]), status_code=201)

    async def get_site(request: Request) -> Response:
        state = service.site_state(store, request.path_params["site"])
        if state is None:
            return envelope(404, "resource_not_found", "no such site")
        return JSONResponse(state)

    async def create_account(request: Request) -> Response:
        body = await json_body(request)
        names = tuple(str(n) for n in body.get("brightback_sites", ()))
        service.create_account(store, str(body["email"]), body.get("status", "active"), names)
        return JSONResponse({"email": body["email"]}, status_code=201)

    async def activate(request: Request) -> Response:
        service.activate(store, request.path_params["email"])
        return JSONResponse({"email": request.path_params["email"], "status": "active"})

    async def add_bb_site(request: Request) -> Response:
        body = await json_body(request)
        service.add_brightback_site(store, request.path_params["email"], str(body["name"]))
        return JSONResponse({"name": body["name"]}, status_code=201)

    def experience(published: bool) -> Endpoint:
        async def endpoint(request: Request) -> Response:
            mode = request.path_params["mode"]
            if mode not in MODES:
                raise ValueError(f"mode must be one of {', '.join(MODES)}")
            service.set_experience(store, request.path_params["name"], mode, published)
            state = "published" if published else "draft"
            return JSONResponse({"name": request.path_params["name"], mode: state})

        return endpoint

    async def ui(request: Request) -> Response:
        site, action = request.path_params["site"], request.path_params["action"]
        if action not in UI_ACTIONS:
            return envelope(404, "resource_not_found", f"no console action {action}")
        if store.key_hash(site) is None:
            return envelope(404, "resource_not_found", "no such site")
        fields = await json_body(request)
        user = str(fields.pop("user", None) or CONSOLE_USER)  # who clicked (Chargebee's `user`)
        form = as_form(fields)
        form.pop("expected_version", None)  # a person does not send versions
        status, body, _ = service.write(
            store, site, action, form, source="admin_console", user=user
        )
        return raw(status, body)

    async def expire_console_sessions(request: Request) -> Response:
        site = request.path_params["site"]
        return JSONResponse({"expired": console_sessions.expire_sessions(store, site)})

    async def requests(request: Request) -> Response:
        since = request.query_params.get("since_id")
        limit = int(request.query_params.get("limit", "10000"))
        rows = store.requests(
            request.query_params.get("site") or None, int(since) if since else None, limit
        )
        return JSONResponse({"requests": rows})

    async def get_faults(request: Request) -> Response:
        return JSONResponse(faults.snapshot())

    async def set_faults(request: Request) -> Response:
        body = await json_body(request)
        faults.configure(body.get("global"), body.get("sites"))
        return JSONResponse(faults.snapshot())

    async def get_settings(request: Request) -> Response:
        return JSONResponse(store.settings())

    async def set_settings(request: Request) -> Response:
        store.save_settings(validate(await json_body(request), store.settings()))
        faults.reload()  # the rate limiter reads the plan limits
        return JSONResponse(store.settings())

    async def reset(request: Request) -> Response:
        store.reset()
        faults.reload()
        return JSONResponse({"reset": True})

    async def bulk(request: Request) -> Response:
        body = await json_body(request)
        entries = body.get("sites")
        if not isinstance(entries, list):
            raise ValueError("sites must be a list")
        created = await run_in_threadpool(bulk_create, store, entries)
        return JSONResponse({"created": created}, status_code=201)

    routes = [
        Route("/_admin/health", health),
        Route("/_admin/sites", guarded(create_site), methods=["POST"]),
        Route("/_admin/sites/{site}", guarded(get_site)),
        Route("/_admin/sites/{site}/ui/{action}", guarded(ui), methods=["POST"]),
        Route(
            "/_admin/sites/{site}/console_sessions/expire",
            guarded(expire_console_sessions),
            methods=["POST"],
        ),
        Route("/_admin/accounts", guarded(create_account), methods=["POST"]),
        Route("/_admin/accounts/{email}/activate", guarded(activate), methods=["POST"]),
        Route("/_admin/accounts/{email}/brightback_sites", guarded(add_bb_site), methods=["POST"]),
        Route(
            "/_admin/brightback_sites/{name}/experiences/{mode}/publish",
            guarded(experience(True)),
            methods=["POST"],
        ),
        Route(
            "/_admin/brightback_sites/{name}/experiences/{mode}/unpublish",
            guarded(experience(False)),
            methods=["POST"],
        ),
        Route("/_admin/requests", guarded(requests)),
        Route("/_admin/faults", guarded(get_faults), methods=["GET"]),
        Route("/_admin/faults", guarded(set_faults), methods=["POST"]),
        Route("/_admin/settings", guarded(get_settings), methods=["GET"]),
        Route("/_admin/settings", guarded(set_settings), methods=["POST"]),
        Route("/_admin/reset", guarded(reset), methods=["POST"]),
        Route("/_admin/bulk", guarded(bulk), methods=["POST"]),
    ]
    return Starlette(routes=routes)


def bulk_create(store: Store, entries: list[dict[str, Any]]) -> int:
    """Many sites, their accounts, Brightback sites and published experiences in one
    transaction: fleets of thousands for benchmarks without thousands of calls."""
    sites, accounts, bb_sites, published = [], {}, [], []
    for entry in entries:
        sites.extend(site_entries(entry))
        email = str(entry["email"]).lower()
        status = entry.get("account_status", "active")
        if status is not None and status != "not_found":
            accounts[email] = status
        for name in entry.get("brightback_sites", ()):
            bb_sites.append((email, str(name)))
        for name, mode in entry.get("published", ()):
            if mode not in MODES:
                raise ValueError(f"published mode must be one of {', '.join(MODES)}")
            published.append((str(name), mode))
    with store.transaction() as conn:
        store.create_sites(conn, sites)
        conn.executemany(
            "INSERT INTO accounts VALUES (?, ?) "
            "ON CONFLICT(email) DO UPDATE SET status=excluded.status",
            list(accounts.items()),
        )
        for email, name in bb_sites:
            store.add_brightback_site(conn, email, name)
        for name, mode in published:
            store.set_experience(conn, name, mode, "published")
        for entry in entries:
            if "live" in entry:
                _take_live(store, conn, str(entry["site"]), entry["live"])
    return len(sites)


def _take_live(store: Store, conn: Any, site: str, live: Any) -> None:
    """Run a new site through the same rule functions the API's four onboarding writes
    run (connect, mode, reason codes off, toggle on), without HTTP: a benchmark fleet of
    50,000 converged sites in seconds instead of 200,000 requests. No events are logged."""
    if not isinstance(live, dict) or not live.get("brightback_site"):
        raise ValueError("live must be an object with brightback_site and integrate_via")
    state = store.load_site(conn, site)
    assert state is not None  # created just above, in this transaction
    account = store.account(conn, state.email)
    at = now()
    steps: tuple[tuple[Any, dict[str, str]], ...] = (
        (rules.connect, {"brightback_site": str(live["brightback_site"]),
                         "access_level": "read_write"}),
        (rules.update, {"integrate_via": str(live.get("integrate_via", MODES[0]))}),
        (rules.cancellation_settings, {"reason_codes_enabled": "false"}),
        (rules.update, {"cancellation_via_brightback": "true"}),
    )  # fmt: skip
    for rule, params in steps:
        state = rule(state, account, params, at).state
    store.save_site(conn, state)


__all__ = ["RuleViolation", "build", "bulk_create"]
