"""Serve the status page from the state store's last report on a daemon thread.

Every request re-reads the store (`<state_dir>/last-report.json`, or the PostgreSQL
store's reports, shards merged), so the server holds no state of its own: the reconciler
writes the report after each pass (atomically) and the next page load shows it. Routes:
`/` (the page, `?label=KEY=VALUE` filters), `/report.json` (the file as written),
`/healthz` (liveness: the server answers; says whether a report exists).
"""

from __future__ import annotations

import json
import os
import threading
import time
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from reconciler.errors import BrightbackError
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


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    server_version = "brightback-status"
    sys_version = ""

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        try:
            if url.path == "/healthz":
                exists = self.server.source.store.has_report()
                body = {"status": "ok", "report": exists}
                self._send(HTTPStatus.OK, "application/json", json.dumps(body) + "\n")
            elif url.path == "/report.json":
                self._report_json()
            elif url.path in {"/", "/index.html"}:
                self._page(url.query)
            else:
                self._send(HTTPStatus.NOT_FOUND, "text/plain; charset=utf-8", "not found\n")
        except (OSError, ValueError, BrightbackError) as exc:
            # A half-written or unreadable report is shown as a message, not a traceback.
            message = f"cannot read the last report from {self.server.source.where}: {exc}\n"
            self._send(HTTPStatus.SERVICE_UNAVAILABLE, "text/plain; charset=utf-8", message)

    def _report_json(self) -> None:
        report = self.server.source.read()
        if report is None:
            body = json.dumps({"error": "no reconcile pass has run yet"}) + "\n"
            self._send(HTTPStatus.NOT_FOUND, "application/json", body)
            return
        self._send(HTTPStatus.OK, "application/json", json.dumps(report) + "\n")

    def _page(self, query: str) -> None:
        now = time.time()
        try:
            label_filter = parse_label_filter(query)
        except ValueError as exc:
            self._send(HTTPStatus.BAD_REQUEST, "text/plain; charset=utf-8", f"{exc}\n")
            return
        report = self.server.source.read()
        refresh = self.server.refresh_s
        if report is None:
            page = render_no_report(self.server.source.where, now=now, refresh_s=refresh)
        else:
            page = render(report, label_filter=label_filter, now=now, refresh_s=refresh)
        self._send(HTTPStatus.OK, "text/html; charset=utf-8", page)

    def _send(self, status: HTTPStatus, content_type: str, body: str) -> None:
        data = body.encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        for name, value in _SECURITY_HEADERS.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the reconciler's own output is the log; page loads are not news."""


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], source: ReportSource, refresh_s: int) -> None:
        self.source = source
        self.refresh_s = refresh_s
        super().__init__(address, _Handler)


class StatusServer:
    """A running status server. `port` is the bound port (useful with port 0)."""

    def __init__(self, server: _Server, thread: threading.Thread) -> None:
        self._server = server
        self._thread = thread
        self.host = str(server.server_address[0])
        self.port = int(server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/"

    def stop(self) -> None:
        """Stop accepting requests and close the socket; safe to call twice."""
        if self._thread.is_alive():
            self._server.shutdown()
            self._thread.join(timeout=5)
        self._server.server_close()

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
) -> StatusServer:
    """Start serving on host:port (port 0 picks a free one) and return at once.

    `state_dir`: a state directory, or a `ReportSource` over any state store.
    Loopback by default: the page names sites and accounts, so exposing it is a choice.
    `host=None` reads $BRIGHTBACK_SERVE_HOST (set to 0.0.0.0 in a container behind a
    Service, as examples/kubernetes/ does) and falls back to 127.0.0.1.
    """
    bind = host if host is not None else os.environ.get(HOST_ENV) or DEFAULT_HOST
    server = _Server((bind, port), ReportSource.of(state_dir), refresh_s)
    thread = threading.Thread(target=server.serve_forever, name=f"status-page:{port}", daemon=True)
    thread.start()
    return StatusServer(server, thread)
