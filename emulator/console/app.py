"""The console's HTTP side: sign-in, page routes and the form posts behind each click.

Every write goes through `service.write(..., source="admin_console")`, the same rules,
versions and events as the API, so a change made in either shows in both. Every request
lands in the same request log as the API's, under `/sites/{site}/console/...` paths: that
is how a test tells a write made through the pages from one made through the API routes.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping
from typing import Any
from urllib.parse import parse_qsl

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from emulator import service
from emulator.api import Receive, Scope, Send
from emulator.console import pages, sessions
from emulator.store import Store

Handler = Callable[[Request, "Ctx"], Awaitable[Response]]
PREFIX = "/sites/{site}/console"


class Ctx:
    """One signed-in request: the site, its console base URL and session token."""

    def __init__(self, store: Store, site: str, token: str, brightback_signed_in: bool) -> None:
        self.store = store
        self.site = site
        self.base = f"/sites/{site}/console"
        self.token = token
        self.brightback_signed_in = brightback_signed_in

    def resource(self) -> dict[str, Any]:
        state = service.site_state(self.store, self.site)
        assert state is not None  # the site existed when the session was opened
        return dict(state["brightback_integration"])

    def write(self, action: str, form: Mapping[str, str]) -> tuple[int, dict[str, Any]]:
        """Write as the signed-in person: Chargebee records a console change as an
        `admin_console` event naming its user (here the site's email, the only sign-in
        the emulated console accepts)."""
        user = self.resource()["site_email"]
        status, body, _ = service.write(
            self.store, self.site, action, dict(form), source="admin_console", user=user
        )
        return status, json.loads(body)


def _html(text: str, status: int = 200) -> HTMLResponse:
    return HTMLResponse(text, status_code=status, headers={"Cache-Control": "no-store"})


async def _form(request: Request) -> dict[str, str]:
    return dict(parse_qsl((await request.body()).decode("utf-8", "replace")))


def _see(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


Render = Callable[..., str]  # a settings page: (base, resource, notice=, alert=) -> HTML
RETENTION: tuple[str, Render] = (pages.RETENTION, pages.brightback_retention)
PORTAL: tuple[str, Render] = (pages.PORTAL, pages.checkout_portal)


def _settings_answer(
    ctx: Ctx, action: str, fields: Mapping[str, str], back: tuple[str, Render], done: str
) -> Response:
    """A settings form's answer: a refusal is shown as an alert on the page the form came
    from (with the refusal's status); success goes back to that page with a notice
    (post/redirect/get, so a reload never posts twice)."""
    path, render = back
    status, body = ctx.write(action, fields)
    if status != 200:
        return _html(render(ctx.base, ctx.resource(), alert=body["message"]), status)
    return _see(f"{ctx.base}{path}?done={done}")


def build(store: Store) -> Starlette:
    """The console application, served under /sites/{site}/console."""

    def signed_in(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            site = request.path_params["site"]
            token = request.cookies.get(sessions.COOKIE)
            found = sessions.session_site(store, token)
            if found is None or found[0] != site or token is None:
                return _see(f"/sites/{site}/console/login")
            return await handler(request, Ctx(store, site, token, found[1]))

        return endpoint

    async def login_page(request: Request) -> Response:
        site = request.path_params["site"]
        if store.key_hash(site) is None:
            return _html("<!doctype html><title>Not found</title><p>No such site</p>", 404)
        return _html(pages.sign_in(f"/sites/{site}/console"))

    async def login(request: Request) -> Response:
        site = request.path_params["site"]
        base = f"/sites/{site}/console"
        form = await _form(request)
        if not sessions.check_password(
            store, site, form.get("email", ""), form.get("password", "")
        ):
            return _html(pages.sign_in(base, "The email or password is not correct."), 401)
        response = _see(f"{base}/")
        response.set_cookie(
            sessions.COOKIE,
            sessions.open_session(store, site),
            path=base,
            httponly=True,
            samesite="lax",
        )
        return response

    async def logout(request: Request, ctx: Ctx) -> Response:
        sessions.close_session(store, ctx.token)
        response = _see(f"{ctx.base}/login")
        response.delete_cookie(sessions.COOKIE, path=ctx.base)
        return response

    def page(render: Callable[[str, dict[str, Any]], str]) -> Handler:
        async def handler(request: Request, ctx: Ctx) -> Response:
            return _html(render(ctx.base, ctx.resource()))

        return handler

    async def retention(request: Request, ctx: Ctx) -> Response:
        notice = pages.NOTICES.get(request.query_params.get("done", ""))
        return _html(pages.brightback_retention(ctx.base, ctx.resource(), notice))

    async def portal(request: Request, ctx: Ctx) -> Response:
        notice = pages.NOTICES.get(request.query_params.get("done", ""))
        return _html(pages.checkout_portal(ctx.base, ctx.resource(), notice))

    async def review_next(request: Request, ctx: Ctx) -> Response:
        await _form(request)  # the company name is informational in the emulator
        status = ctx.resource()["account"]["status"]
        step = "sign_up" if status == "not_found" else "sign_in"
        return _see(f"{ctx.base}{pages.RETENTION}/{step}")

    async def sign_up(request: Request, ctx: Ctx) -> Response:
        form = await _form(request)
        fields = {"brightback_site": form.get("brightback_site", "").strip()}
        if "email" in form:
            fields["email"] = form["email"]
        if not form.get("password"):
            return _html(pages.sign_up(ctx.base, ctx.resource(), "Choose a password."), 400)
        status, body = ctx.write("sign_up", fields)
        if status != 200:
            return _html(pages.sign_up(ctx.base, ctx.resource(), body["message"]), status)
        return _see(f"{ctx.base}{pages.RETENTION}/check_email")

    async def activate(request: Request, ctx: Ctx) -> Response:
        email = ctx.resource()["site_email"]
        service.activate(store, email)
        return _see(f"{ctx.base}{pages.RETENTION}/sign_in?done=activated")

    async def sign_in_page(request: Request, ctx: Ctx) -> Response:
        notice = pages.NOTICES.get(request.query_params.get("done", ""))
        return _html(pages.brightback_sign_in(ctx.base, ctx.resource(), notice=notice))

    async def brightback_sign_in(request: Request, ctx: Ctx) -> Response:
        form = await _form(request)
        res = ctx.resource()
        status = res["account"]["status"]
        problem = None
        if status == "not_found":
            problem = f"No Brightback account exists for {res['site_email']}; sign up first."
        elif status == "pending_activation":
            problem = (
                f"The Brightback account {res['site_email']} is not activated yet; click the "
                "Activate Account link in the email Brightback sent."
            )
        elif not form.get("password"):
            problem = "Type your password."
        if problem:
            return _html(pages.brightback_sign_in(ctx.base, res, alert=problem), 409)
        sessions.mark_brightback_signed_in(store, ctx.token)
        return _see(f"{ctx.base}{pages.RETENTION}/dashboard")

    async def dashboard(request: Request, ctx: Ctx) -> Response:
        if not ctx.brightback_signed_in:
            return _see(f"{ctx.base}{pages.RETENTION}/sign_in")
        return _html(pages.choose_site(ctx.base, ctx.resource()))

    async def connect(request: Request, ctx: Ctx) -> Response:
        if not ctx.brightback_signed_in:
            return _see(f"{ctx.base}{pages.RETENTION}/sign_in")
        form = await _form(request)
        fields = {"brightback_site": form.get("brightback_site", ""), "access_level": "read_write"}
        status, body = ctx.write("connect", fields)
        if status != 200:
            return _html(pages.choose_site(ctx.base, ctx.resource(), body["message"]), status)
        sessions.mark_brightback_signed_in(store, ctx.token, False)
        return _see(f"{ctx.base}{pages.RETENTION}?done=connected")

    async def integrate_via(request: Request, ctx: Ctx) -> Response:
        form = await _form(request)
        mode = form.get("integrate_via", "")
        if not mode:
            alert = "Choose how to integrate Brightback."
            return _html(pages.brightback_retention(ctx.base, ctx.resource(), alert=alert), 400)
        return _settings_answer(ctx, "update", {"integrate_via": mode}, RETENTION, "saved")

    async def disconnect(request: Request, ctx: Ctx) -> Response:
        return _settings_answer(ctx, "disconnect", {"confirm": "true"}, RETENTION, "disconnected")

    async def toggle(request: Request, ctx: Ctx) -> Response:
        fields = {"cancellation_via_brightback": "true"}
        return _settings_answer(ctx, "update", fields, PORTAL, "saved")

    async def cancellation(request: Request, ctx: Ctx) -> Response:
        form = await _form(request)
        fields = {
            name: "true" if form.get(name) == "true" else "false"
            for name in ("reason_codes_enabled", "portal_cancellation_enabled")
        }
        return _settings_answer(ctx, "cancellation_settings", fields, PORTAL, "saved")

    retention_path = PREFIX + pages.RETENTION
    portal_path = PREFIX + pages.PORTAL
    get, post = ["GET"], ["POST"]
    routes = [
        Route(PREFIX + "/login", login_page, methods=get),
        Route(PREFIX + "/login", login, methods=post),
        Route(PREFIX + "/logout", signed_in(logout), methods=post),
        Route(PREFIX + "/", signed_in(page(pages.home)), methods=get),
        Route(PREFIX + "/settings", signed_in(page(pages.settings)), methods=get),
        Route(PREFIX + pages.CONFIGURE, signed_in(page(pages.configure)), methods=get),
        Route(retention_path, signed_in(retention), methods=get),
        Route(retention_path + "/review", signed_in(page(pages.review)), methods=get),
        Route(retention_path + "/review", signed_in(review_next), methods=post),
        Route(retention_path + "/sign_up", signed_in(page(pages.sign_up)), methods=get),
        Route(retention_path + "/sign_up", signed_in(sign_up), methods=post),
        Route(retention_path + "/check_email", signed_in(page(pages.check_email)), methods=get),
        Route(retention_path + "/sign_in", signed_in(sign_in_page), methods=get),
        Route(retention_path + "/sign_in", signed_in(brightback_sign_in), methods=post),
        Route(retention_path + "/dashboard", signed_in(dashboard), methods=get),
        Route(retention_path + "/connect", signed_in(connect), methods=post),
        Route(retention_path + "/integrate_via", signed_in(integrate_via), methods=post),
        Route(retention_path + "/disconnect", signed_in(disconnect), methods=post),
        Route(PREFIX + "/mailbox", signed_in(page(pages.mailbox)), methods=get),
        Route(PREFIX + "/mailbox/activate", signed_in(activate), methods=get),
        Route(portal_path, signed_in(portal), methods=get),
        Route(portal_path + "/cancellation_via_brightback", signed_in(toggle), methods=post),
        Route(portal_path + "/cancellation", signed_in(cancellation), methods=post),
    ]
    return Starlette(routes=routes)


class Console:
    """The console app plus the request log, so page traffic is recorded like API traffic."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.app = build(store)

    @staticmethod
    def handles(path: str) -> bool:
        parts = path.split("/", 4)  # '', 'sites', site, 'console', rest
        return len(parts) >= 4 and parts[1] == "sites" and parts[3] == "console"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        generation = self.store.generation
        seen: dict[str, int] = {}

        async def recording(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                seen["status"] = int(message["status"])
            await send(message)

        await self.app(scope, receive, recording)  # type: ignore[arg-type]
        site = scope["path"].split("/", 4)[2] or None
        self.store.log_request(
            site, scope["method"], scope["path"], seen.get("status", 500), None, False, None,
            generation,
        )  # fmt: skip


__all__ = [
    "Console",
    "build",
]
