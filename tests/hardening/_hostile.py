"""A hostile control plane on a real loopback socket: answers chosen per site by a test.

Each site's answer is a function of the request path, so one test can give one site a
poison answer and the others something ordinary, and prove only that site fails.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Answer = tuple[int, dict[str, str], bytes]  # status, headers, body


@dataclass
class Hostile:
    url_template: str
    answers: dict[str, Callable[[str], Answer]] = field(default_factory=dict)
    requests: list[tuple[str, str, dict[str, str]]] = field(default_factory=list)


@contextmanager
def hostile_peer() -> Iterator[Hostile]:
    peer = Hostile(url_template="")

    class Handler(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            site = self.path.strip("/").split("/", 1)[0]
            length = int(self.headers.get("Content-Length") or 0)
            self.rfile.read(length)
            peer.requests.append((self.command, self.path, dict(self.headers)))
            status, headers, body = peer.answers.get(site, not_found)(self.path)
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            if "Content-Length" not in headers:
                self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = _answer

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    peer.url_template = f"http://127.0.0.1:{server.server_address[1]}/{{site}}/api/v2"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield peer
    finally:
        server.shutdown()
        server.server_close()


def not_found(_path: str) -> Answer:
    body = (
        b'{"message": "no such site", "type": "invalid_request", '
        b'"api_error_code": "resource_not_found", "http_status_code": 404}'
    )
    return 404, {"Content-Type": "application/json"}, body


def json_answer(
    body: bytes, *, status: int = 200, headers: dict[str, str] | None = None
) -> Callable[[str], Answer]:
    return lambda _path: (status, {"Content-Type": "application/json", **(headers or {})}, body)
