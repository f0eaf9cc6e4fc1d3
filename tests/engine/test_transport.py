"""The request path (reconciler/transport.py) against real servers: the emulator for what a
fleet pass does, a tiny local HTTP server for what the emulator never does (compress,
close idle connections, answer through a proxy)."""

from __future__ import annotations

import gzip
import http.server
import json
import socketserver
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpcore
import pytest

from reconciler._peer_json import MAX_BODY_BYTES, PeerAnswerError
from reconciler.client import ClientConfig as Config
from reconciler.client import ReadOnlyClient, tls_context
from reconciler.engine import for_each_site
from reconciler.transport import (
    Connections,
    HttpxTransport,
    Timeouts,
    _origin_and_target,
    open_transport,
)

from ._builders import desired
from .conftest import KEYS_USED, env_name

TIMEOUTS = Timeouts(connect=5.0, io=5.0)


def fast_path(template: str) -> Connections:
    transport = open_transport(
        template,
        timeouts=TIMEOUTS,
        ssl_context=tls_context(Config(url_template=template)),
        user_agent="test",
        max_connections=4,
    )
    assert isinstance(transport, Connections)
    return transport


class _Handler(http.server.BaseHTTPRequestHandler):
    """Answers by path: /gzip (compressed although asked not to), /bomb (a small gzip that
    inflates past the cap), /close (answers, then closes the connection), /echo (the
    request line and headers it got, as JSON)."""

    protocol_version = "HTTP/1.1"
    seen_connections: set[tuple[str, int]] = set()  # client (host, port): one per connection

    def log_message(self, *_: Any) -> None:
        pass

    def do_GET(self) -> None:
        _Handler.seen_connections.add(self.client_address)  # not id(): ids are reused
        if self.path == "/gzip":
            self._send(gzip.compress(b'{"ok": true}'), encoding="gzip")
        elif self.path == "/bomb":
            self._send(gzip.compress(b" " * (MAX_BODY_BYTES + 10)), encoding="gzip")
        elif self.path == "/close":
            self._send(b'{"ok": true}', close=True)
        else:
            seen = {"path": self.path, "headers": dict(self.headers.items())}
            self._send(json.dumps(seen).encode())

    def _send(self, body: bytes, *, encoding: str = "", close: bool = False) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        if encoding:
            self.send_header("Content-Encoding", encoding)
        if close:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        self.wfile.write(body)


class _Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True


def _serve() -> tuple[str, _Server]:
    server = _Server(("127.0.0.1", 0), _Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{server.server_address[1]}", server


@pytest.fixture
def local_server() -> Iterator[str]:
    _Handler.seen_connections = set()
    url, server = _serve()
    try:
        yield url
    finally:
        server.shutdown()
        server.server_close()


def get(transport: Any, url: str) -> Any:
    return transport.send("GET", url, params=None, form=None, headers={})


def test_a_thread_reuses_one_connection_and_never_holds_more(local_server: str) -> None:
    transport = fast_path(local_server + "/{site}")
    try:
        with ThreadPoolExecutor(4) as pool:
            answers = list(pool.map(lambda _: get(transport, local_server + "/echo"), range(40)))
    finally:
        transport.close()
    assert {a.status_code for a in answers} == {200}
    assert len(_Handler.seen_connections) <= 4  # one per thread, reused for the other 36


def test_under_a_hub_sites_in_flight_share_idle_connections_and_never_hold_more(
    local_server: str,
) -> None:
    transport = fast_path(local_server + "/{site}")
    try:
        answers = for_each_site(
            list(range(40)), lambda _: get(transport, local_server + "/echo"), concurrency=4
        )
        assert len(transport._open) <= 4
    finally:
        transport.close()
    assert {a.status_code for a in answers} == {200}
    assert len(_Handler.seen_connections) <= 4  # one per site in flight, reused after


def test_under_a_hub_idle_connections_to_many_origins_are_bounded() -> None:
    """Real Chargebee is an origin per site: a pass over 10,000 sites must not keep 10,000
    sockets open. Past `max_connections` idle ones, the longest idle is closed."""
    servers = [_serve() for _ in range(5)]
    transport = fast_path(servers[0][0] + "/{site}")  # max_connections=4
    try:
        urls = [url + "/echo" for url, _ in servers] * 2
        answers = for_each_site(urls, lambda url: get(transport, url), concurrency=2)
        assert {a.status_code for a in answers} == {200}
        assert len(transport._open) == len(transport._idle_order) == 4
        assert sum(len(kept) for kept in transport._idle.values()) == 4
    finally:
        transport.close()
        for _, server in servers:
            server.shutdown()
            server.server_close()


def test_a_connection_the_server_closed_is_replaced_not_failed(local_server: str) -> None:
    transport = fast_path(local_server + "/{site}")
    try:
        first = get(transport, local_server + "/close")
        second = get(transport, local_server + "/echo")
    finally:
        transport.close()
    assert (first.status_code, second.status_code) == (200, 200)
    assert len(_Handler.seen_connections) == 2


def test_the_request_names_its_host_asks_for_identity_and_sends_its_headers(
    local_server: str,
) -> None:
    transport = fast_path(local_server + "/{site}")
    try:
        answer = transport.send(
            "GET", local_server + "/echo", params={"a": "1 2"}, form=None, headers={"X-T": "v"}
        )
    finally:
        transport.close()
    seen = json.loads(answer.content)
    assert seen["path"] == "/echo?a=1+2"
    assert seen["headers"]["Host"] == local_server.removeprefix("http://")
    assert seen["headers"]["Accept-Encoding"] == "identity"
    assert seen["headers"]["X-T"] == "v"
    assert "content-length" not in answer.headers  # body framing is the transport's


def test_a_compressed_answer_is_decoded_and_a_compression_bomb_refused(local_server: str) -> None:
    transport = fast_path(local_server + "/{site}")
    try:
        assert json.loads(get(transport, local_server + "/gzip").content) == {"ok": True}
        with pytest.raises(PeerAnswerError, match="larger than"):
            get(transport, local_server + "/bomb")
        assert get(transport, local_server + "/echo").status_code == 200  # still usable
    finally:
        transport.close()


def test_an_unreachable_api_raises_httpcores_connect_error() -> None:
    transport = fast_path("http://127.0.0.1:9/{site}")  # discard port: nothing listens
    try:
        with pytest.raises(httpcore.ConnectError):
            get(transport, "http://127.0.0.1:9/x")
    finally:
        transport.close()


def test_a_proxy_in_the_environment_takes_the_httpx_path(
    monkeypatch: pytest.MonkeyPatch, local_server: str
) -> None:
    monkeypatch.setenv("HTTPS_PROXY", local_server)
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    template = "https://{site}.chargebee.com/api/v2"
    config = Config(url_template=template)
    transport = open_transport(
        template,
        timeouts=TIMEOUTS,
        ssl_context=tls_context(config),
        user_agent="test",
        max_connections=4,
    )
    try:
        assert isinstance(transport, HttpxTransport)
    finally:
        transport.close()
    monkeypatch.setenv("NO_PROXY", ".chargebee.com")
    assert isinstance(
        open_transport(
            template,
            timeouts=TIMEOUTS,
            ssl_context=tls_context(config),
            user_agent="test",
            max_connections=4,
        ),
        Connections,
    )


def test_a_fleet_of_reads_on_the_emulator_uses_at_most_one_connection_per_thread(
    emulator: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    sites = [f"conn{n}" for n in range(24)]
    for site in sites:
        key = f"key-{site}-0123456789"
        KEYS_USED.add(key)
        emulator.admin.create_site(site, f"billing@{site}.example", key)
        monkeypatch.setenv(env_name(site), key)
    config = Config(url_template=emulator.url_template, timeout=10, connect_timeout=5)
    with ReadOnlyClient(config) as client, ThreadPoolExecutor(3) as pool:
        lives = list(
            pool.map(lambda s: client.read(desired(s, env=env_name(s), brightback_site="x")), sites)
        )
        transport = client._session._transport
        assert isinstance(transport, Connections)
        assert len(transport._open) <= 3
    assert [live.site for live in lives] == sites
    assert transport._open == set()  # closed with the client


@pytest.mark.parametrize(
    ("url", "origin", "target"),
    [
        (
            "http://127.0.0.1:8080/acme/api/v2/x?a=1#frag",
            ("http", "127.0.0.1", 8080),
            "/acme/api/v2/x?a=1",
        ),
        ("https://acme.chargebee.com/api/v2", ("https", "acme.chargebee.com", 443), "/api/v2"),
        ("http://h.example?x=1", ("http", "h.example", 80), "/?x=1"),
        ("http://[::1]:9/p", ("http", "::1", 9), "/p"),
        ("HTTPS://Acme.Example/p", ("https", "acme.example", 443), "/p"),
    ],
)
def test_a_url_splits_into_its_origin_and_the_target_sent(
    url: str, origin: tuple[str, str, int], target: str
) -> None:
    found, sent = _origin_and_target(url)
    assert (found.scheme, found.host, found.port) == origin
    assert sent == target


@pytest.mark.parametrize("url", ["ftp://h.example/x", "h.example/x", "http://h.example:9x/"])
def test_a_url_that_is_not_http_is_refused_before_connecting(url: str) -> None:
    with pytest.raises(httpcore.UnsupportedProtocol):
        _origin_and_target(url)
