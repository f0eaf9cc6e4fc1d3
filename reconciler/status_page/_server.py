"""Serve the status page from the state store's last report (uvicorn, in a thread).

Every request re-reads the store (`<state_dir>/last-report.json`, or the PostgreSQL
store's reports, shards merged), so the server holds no state of its own: the reconciler
writes the report after each pass (atomically) and the next page load shows it. Routes
(GET and HEAD): `/` (the page, `?label=KEY=VALUE` filters), `/report.json` (the report as
written), `/healthz` (the probe: with a reconciler behind it, unhealthy when no pass has
finished for `Liveness.max_age_s`). Connection limits and timeouts: reconciler/serving.py.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from reconciler.errors import BrightbackError
from reconciler.fleet.liveness import Liveness
from reconciler.serving import BackgroundServer
from reconciler.status_page._render import (
    DEFAULT_REFRESH_S,
    parse_label_filter,
    render,
    render_no_report,
)
from reconciler.status_page._source import ReportSource

DEFAULT_HOST = "127.0.0.1"
HOST_ENV = "BRIGHTBACK_SERVE_HOST"

# No script may run at all; inline style is the page's only styling.
_SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}
_TEXT = "text/plain; charset=utf-8"
_JSON = "application/json"


def _send(status: int, content_type: str, body: str) -> Response:
    return Response(body, status_code=status, media_type=content_type, headers=_SECURITY_HEADERS)


def build_app(
    source: ReportSource, *, refresh_s: int = DEFAULT_REFRESH_S, liveness: Liveness | None = None
) -> Starlette:
    """The page as an ASGI app. Endpoints are plain functions: Starlette runs them in its
    thread pool, so a slow store read never stalls the event loop."""

    def unreadable(exc: Exception) -> Response:
        # A half-written or unreadable report is shown as a message, not a traceback.
        return _send(503, _TEXT, f"cannot read the last report from {source.where}: {exc}\n")

    def healthz(request: Request) -> Response:
        try:
            exists = source.store.has_report()
        except (OSError, ValueError, BrightbackError):
            exists = False
        body: dict[str, object] = {"status": "ok", "report": exists}
        healthy = True
        if liveness is not None:
            healthy, detail = liveness.check(time.time())
            body.update(detail, status="ok" if healthy else "stale")
        return _send(200 if healthy else 503, _JSON, json.dumps(body) + "\n")

    def report_json(request: Request) -> Response:
        try:
            report = source.read()
        except (OSError, ValueError, BrightbackError) as exc:
            return unreadable(exc)
        if report is None:
            return _send(404, _JSON, json.dumps({"error": "no reconcile pass has run yet"}) + "\n")
        return _send(200, _JSON, json.dumps(report) + "\n")

    def page(request: Request) -> Response:
        now = time.time()
        try:
            label_filter = parse_label_filter(request.url.query)
        except ValueError as exc:
            return _send(400, _TEXT, f"{exc}\n")
        try:
            report = source.read()
        except (OSError, ValueError, BrightbackError) as exc:
            return unreadable(exc)
        if report is None:
            html = render_no_report(source.where, now=now, refresh_s=refresh_s)
        else:
            html = render(report, label_filter=label_filter, now=now, refresh_s=refresh_s)
        return _send(200, "text/html; charset=utf-8", html)

    async def not_found(request: Request, exc: Exception) -> Response:
        return _send(404, _TEXT, "not found\n")

    async def not_allowed(request: Request, exc: Exception) -> Response:
        return _send(405, _TEXT, "method not allowed\n")

    routes = [
        Route("/healthz", healthz, methods=["GET", "HEAD"]),
        Route("/report.json", report_json, methods=["GET", "HEAD"]),
        Route("/", page, methods=["GET", "HEAD"]),
        Route("/index.html", page, methods=["GET", "HEAD"]),
    ]
    return Starlette(routes=routes, exception_handlers={404: not_found, 405: not_allowed})


class StatusServer:
    """A running status server. `port` is the bound port (useful with port 0)."""

    def __init__(self, server: BackgroundServer) -> None:
        self._server = server
        self.host = server.host
        self.port = server.port

    @property
    def url(self) -> str:
        return self._server.url

    def stop(self) -> None:
        """Stop accepting requests and close the socket; safe to call twice."""
        self._server.stop()

    def __enter__(self) -> StatusServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def serve_status(
    port: int,
    state_dir: Path | ReportSource,
    host: str | None = None,
    *,
    refresh_s: int = DEFAULT_REFRESH_S,
    liveness: Liveness | None = None,
) -> StatusServer:
    """Start serving on host:port (port 0 picks a free one) and return at once; a port in
    use is a `ServeError` here, not later.

    `state_dir`: a state directory, or a `ReportSource` over any state store.
    Loopback by default: the page names sites and accounts, so exposing it is a choice.
    `host=None` reads $BRIGHTBACK_SERVE_HOST (set to 0.0.0.0 in a container behind a
    Service, as examples/kubernetes/ does) and falls back to 127.0.0.1.
    """
    bind = host if host is not None else os.environ.get(HOST_ENV) or DEFAULT_HOST
    app = build_app(ReportSource.of(state_dir), refresh_s=refresh_s, liveness=liveness)
    return StatusServer(BackgroundServer(app, bind, port, name=f"status-page:{port}"))
