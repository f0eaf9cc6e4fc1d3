"""The HTTP/1.1 connection (reconciler/http11.py) against peers on real loopback sockets that
answer with exact bytes: the framings a server may use, and the malformed, oversized,
truncated and silent answers a hostile or broken peer may send."""

from __future__ import annotations

import socket
import ssl
import subprocess
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpcore
import pytest

from reconciler._peer_json import MAX_BODY_BYTES, PeerAnswerError
from reconciler.http11 import MAX_HEAD_BYTES, Connection, Origin
from reconciler.hub import Hub

Script = Callable[[socket.socket, bytes], None]  # (accepted socket, request head) -> answer


class ScriptedPeer:
    """A loopback server: each accepted connection reads requests and answers each with
    the next script (one script per request, across connections, in order)."""

    def __init__(self, scripts: list[Script]) -> None:
        self.scripts = scripts
        self.requests: list[bytes] = []
        self.connections = 0
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while self.scripts:
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _handle(self, conn: socket.socket) -> None:
        with conn:
            buffer = b""
            while self.scripts:
                while b"\r\n\r\n" not in buffer:
                    data = conn.recv(65536)
                    if not data:
                        return
                    buffer += data
                head, _, buffer = buffer.partition(b"\r\n\r\n")
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":")[1])
                        while len(buffer) < length:
                            buffer += conn.recv(65536)
                        buffer = buffer[length:]
                self.requests.append(head)
                self.scripts.pop(0)(conn, head)

    def close(self) -> None:
        self.scripts.clear()
        self._listener.close()


def answer(raw: bytes, *, then_close: bool = False) -> Script:
    def script(conn: socket.socket, _: bytes) -> None:
        conn.sendall(raw)
        if then_close:
            conn.shutdown(socket.SHUT_WR)

    return script


def silent(conn: socket.socket, _: bytes) -> None:
    threading.Event().wait(3)


Peer = Callable[..., ScriptedPeer]


@pytest.fixture
def peer() -> Iterator[Peer]:
    made: list[ScriptedPeer] = []

    def make(*scripts: Script) -> ScriptedPeer:
        made.append(ScriptedPeer(list(scripts)))
        return made[-1]

    yield make
    for p in made:
        p.close()


_opened: list[Connection] = []
_exchange = Connection.exchange


@pytest.fixture(autouse=True, params=["thread", "hub"])
def way(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Every case twice: on a blocking socket in this thread, and with each exchange run by
    a hub (reconciler/hub.py) on a non-blocking socket, as the fleet pass runs it. A new
    hub per exchange, so a kept connection moves between hubs as it does between passes."""
    if request.param == "hub":

        def under_a_hub(connection: Connection, *args: Any) -> tuple[int, dict[str, str], bytes]:
            return Hub().run(lambda: _exchange(connection, *args))

        monkeypatch.setattr(Connection, "exchange", under_a_hub)
    return str(request.param)


@pytest.fixture(autouse=True)
def close_connections() -> Iterator[None]:
    yield
    while _opened:
        _opened.pop().close()


def connect(
    port: int, *, io_timeout: float = 5.0, context: ssl.SSLContext | None = None
) -> Connection:
    scheme = "https" if context else "http"
    connection = Connection(
        Origin(scheme, "127.0.0.1", port),
        ssl_context=context or ssl.create_default_context(),
        connect_timeout=5.0,
        io_timeout=io_timeout,
        keepalive_s=4.0,
    )
    _opened.append(connection)
    return connection


def get(connection: Connection, target: str = "/x", method: str = "GET") -> tuple[int, bytes]:
    status, _, body = connection.exchange(method, target, [("Host", "h")], None)
    return status, body


OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"


def test_a_content_length_answer_is_read_exactly_and_the_connection_reused(peer: Peer) -> None:
    server = peer(answer(OK), answer(OK))
    connection = connect(server.port)
    assert get(connection) == (200, b"ok")
    assert connection.usable()
    assert get(connection) == (200, b"ok")
    assert server.connections == 1
    connection.close()


CHUNKED_BODY = b"4;ext=1\r\nwiki\r\n5\r\npedia\r\n0\r\nX-Trailer: t\r\n\r\n"


def test_a_chunked_answer_is_joined_with_extensions_and_trailers_dropped_and_reused(
    peer: Peer,
) -> None:
    chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + CHUNKED_BODY
    server = peer(answer(chunked), answer(OK))
    connection = connect(server.port)
    status, headers, content = connection.exchange("GET", "/x", [], None)
    assert (status, content) == (200, b"wikipedia")
    assert headers["transfer-encoding"] == "chunked"
    assert get(connection) == (200, b"ok")
    assert server.connections == 1  # a chunked answer ends where its framing says


def test_chunked_with_a_content_length_beside_it_is_read_as_chunked_and_not_reused(
    peer: Peer,
) -> None:
    both = (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n" + CHUNKED_BODY
    )
    server = peer(answer(both), answer(OK))
    connection = connect(server.port)
    assert get(connection) == (200, b"wikipedia")
    assert get(connection) == (200, b"ok")
    assert server.connections == 2


def test_an_answer_without_length_runs_to_the_close_and_the_connection_is_not_reused(
    peer: Peer,
) -> None:
    server = peer(answer(b"HTTP/1.1 200 OK\r\n\r\nall of it", then_close=True), answer(OK))
    connection = connect(server.port)
    assert get(connection) == (200, b"all of it")
    assert get(connection) == (200, b"ok")  # a new connection, not an error
    assert server.connections == 2


def test_connection_close_and_http_1_0_answers_are_not_reused(peer: Peer) -> None:
    server = peer(
        answer(b"HTTP/1.1 200 OK\r\nConnection: keep-alive, close\r\nContent-Length: 2\r\n\r\nok"),
        answer(b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok"),
        answer(OK),
    )
    connection = connect(server.port)
    for _ in range(3):
        assert get(connection) == (200, b"ok")
    assert server.connections == 3


def test_interim_answers_are_skipped_and_bodiless_statuses_read_no_body(peer: Peer) -> None:
    server = peer(
        answer(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n"),
        answer(b"HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n"),
        answer(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n"),
        answer(OK),
    )
    connection = connect(server.port)
    assert get(connection) == (204, b"")
    assert get(connection) == (304, b"")
    assert get(connection, method="HEAD") == (200, b"")
    assert get(connection) == (200, b"ok")
    assert server.connections == 1  # every answer ended where its framing said


@pytest.mark.parametrize(
    "raw",
    [
        b"HTTP/1.1 2000 OK\r\nContent-Length: 2\r\n\r\nok",  # status not three digits
        b"HTTP/2 200 OK\r\nContent-Length: 2\r\n\r\nok",  # not HTTP/1.x
        b"HTTP/1.1 200 OK\r\nContent-Length : 2\r\n\r\nok",  # space before the colon
        b"HTTP/1.1 200 OK\r\nX-A: 1\r\n  folded\r\nContent-Length: 2\r\n\r\nok",  # obs-fold
        b"HTTP/1.1 200 OK\r\nno colon here\r\nContent-Length: 2\r\n\r\nok",
        b"HTTP/1.1 200 OK\r\nX-A: a\x00b\r\nContent-Length: 2\r\n\r\nok",  # NUL in a value
        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nok",
        b"HTTP/1.1 200 OK\r\nContent-Length: -2\r\n\r\nok",
        b"HTTP/1.1 200 OK\r\nContent-Length: 0x2\r\n\r\nok",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",  # bad chunk size
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nokX\r\n0\r\n\r\n",
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\n\r\n",
        b"HTTP/1.1 100 Continue\r\n\r\n" * 9 + OK,  # interim answers without end
    ],
)
def test_a_malformed_answer_is_a_protocol_error_and_closes_the_connection(
    peer: Peer, raw: bytes
) -> None:
    server = peer(answer(raw, then_close=True))
    connection = connect(server.port)
    with pytest.raises(httpcore.RemoteProtocolError):
        get(connection)
    assert connection._sock is None


def test_a_head_over_the_cap_is_refused_without_reading_on(peer: Peer) -> None:
    huge = b"HTTP/1.1 200 OK\r\n" + b"X-Pad: " + b"a" * MAX_HEAD_BYTES + b"\r\n\r\n"
    server = peer(answer(huge))
    with pytest.raises(httpcore.RemoteProtocolError, match="too large"):
        get(connect(server.port))


@pytest.mark.parametrize(
    "raw",
    [
        b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % (MAX_BODY_BYTES + 1),
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n%x\r\n" % (MAX_BODY_BYTES + 1),
        b"HTTP/1.1 200 OK\r\n\r\n" + b"x" * (MAX_BODY_BYTES + 70_000),
    ],
    ids=["declared", "chunked", "to-close"],
)
def test_a_body_over_the_cap_is_refused_by_every_framing(peer: Peer, raw: bytes) -> None:
    server = peer(answer(raw, then_close=True))
    connection = connect(server.port)
    with pytest.raises(PeerAnswerError, match="larger than"):
        get(connection)
    assert connection._sock is None


@pytest.mark.parametrize(
    "raw",
    [b"", b"HTTP/1.1 200 OK\r\nContent-Len", b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nshort"],
    ids=["nothing", "half-a-head", "short-body"],
)
def test_a_peer_that_closes_early_is_a_protocol_error(peer: Peer, raw: bytes) -> None:
    server = peer(answer(raw, then_close=True))
    with pytest.raises(httpcore.RemoteProtocolError, match="closed the connection"):
        get(connect(server.port))


def test_a_silent_peer_is_a_read_timeout(peer: Peer) -> None:
    server = peer(silent)
    with pytest.raises(httpcore.ReadTimeout):
        get(connect(server.port, io_timeout=0.3))


def test_an_idle_connection_the_server_closed_is_not_used_again(peer: Peer) -> None:
    def ok_then_close(conn: socket.socket, _: bytes) -> None:
        conn.sendall(OK)
        conn.shutdown(socket.SHUT_RDWR)  # no Connection: close, just gone

    server = peer(ok_then_close, answer(OK))
    connection = connect(server.port)
    assert get(connection) == (200, b"ok")
    threading.Event().wait(0.2)
    assert not connection.usable()  # readable while idle: the peer closed it


@pytest.mark.parametrize(
    "target, header",
    [
        ("/x\r\nX-Injected: 1", ("A", "b")),
        ("/x", ("A", "b\r\nX-Injected: 1")),
        ("/x", ("A", "b\nX-Injected: 1")),
        ("/x", ("A", "b\x00c")),
        ("/a b", ("A", "b")),
    ],
)
def test_a_request_with_cr_lf_or_space_where_it_would_split_is_refused_unsent(
    peer: Peer, target: str, header: tuple[str, str]
) -> None:
    server = peer(answer(OK))
    connection = connect(server.port)
    with pytest.raises(httpcore.LocalProtocolError):
        connection.exchange("GET", target, [header], None)
    assert server.requests == []


def test_the_request_carries_its_headers_and_body_length(peer: Peer) -> None:
    server = peer(answer(OK))
    connection = connect(server.port)
    connection.exchange("POST", "/y?a=1", [("Host", "h"), ("Authorization", "Basic x y")], b"k=v")
    assert server.requests == [
        b"POST /y?a=1 HTTP/1.1\r\nHost: h\r\nAuthorization: Basic x y\r\nContent-Length: 3"
    ]


def test_nothing_listening_is_a_connect_error() -> None:
    with socket.create_server(("127.0.0.1", 0)) as probe:
        port = probe.getsockname()[1]  # closed again: nothing listens there
    with pytest.raises(httpcore.ConnectError):
        get(connect(port))


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [
            *("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"),
            *("-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"),
            *("-keyout", str(key), "-out", str(cert)),
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


@pytest.fixture
def tls_port(certificate: tuple[Path, Path]) -> Iterator[int]:
    """A TLS server on loopback answering every request with OK, keep-alive."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*certificate)
    listener = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def handle(raw: socket.socket) -> None:
        try:
            with context.wrap_socket(raw, server_side=True) as conn:
                buffer = b""
                while not stop.is_set():
                    data = conn.recv(65536)
                    if not data:
                        return
                    buffer += data
                    while b"\r\n\r\n" in buffer:
                        _, _, buffer = buffer.partition(b"\r\n\r\n")
                        conn.sendall(OK)
        except (OSError, ssl.SSLError):
            return

    def serve() -> None:
        while not stop.is_set():
            try:
                raw, _ = listener.accept()
            except OSError:
                return
            threading.Thread(target=handle, args=(raw,), daemon=True).start()

    threading.Thread(target=serve, daemon=True).start()
    yield listener.getsockname()[1]
    stop.set()
    listener.close()


def test_tls_with_a_trusted_certificate_is_spoken_and_kept_alive(
    tls_port: int, certificate: tuple[Path, Path]
) -> None:
    trusting = ssl.create_default_context(cafile=str(certificate[0]))
    connection = connect(tls_port, context=trusting)
    assert get(connection) == (200, b"ok")
    assert connection.usable()
    assert get(connection) == (200, b"ok")
    connection.close()


def test_an_untrusted_certificate_is_a_connect_error_caused_by_verification(tls_port: int) -> None:
    with pytest.raises(httpcore.ConnectError) as raised:
        get(connect(tls_port, context=ssl.create_default_context()))
    assert isinstance(raised.value.__cause__, ssl.SSLCertVerificationError)


def test_a_connection_closed_under_a_reader_or_writer_fails_as_a_transport_error(
    peer: Peer,
) -> None:
    """The client closing while a worker is between its send and its read (the race's end
    state, set up directly): a transport error the retry machinery knows, not a crash."""
    server = peer(answer(OK))
    connection = connect(server.port)
    assert get(connection) == (200, b"ok")
    connection.close()
    with pytest.raises(httpcore.ReadError):
        connection._receive()
    with pytest.raises(httpcore.WriteError):
        connection._send(b"GET / HTTP/1.1\r\n\r\n")


def test_a_connection_kept_by_a_hub_blocks_again_with_its_timeout_in_a_thread(
    peer: Peer, way: str
) -> None:
    """A connection last used under a hub has a non-blocking socket; used next by a plain
    thread it must wait with its timeout again, not fail at once or hang."""
    server = peer(answer(OK), silent)
    connection = connect(server.port, io_timeout=0.3)
    assert Hub().run(lambda: _exchange(connection, "GET", "/x", [("Host", "h")], None))[0] == 200
    with pytest.raises(httpcore.ReadTimeout):
        _exchange(connection, "GET", "/x", [("Host", "h")], None)
    assert server.connections == 1


def test_a_name_that_does_not_resolve_keeps_its_cause_under_a_hub(way: str) -> None:
    """The name is looked up on a helper thread under a hub; the client still tells a
    name that does not resolve (no retries) from a refused connection."""
    connection = Connection(
        Origin("http", "no-such-site.brightback-gitops.invalid", 80),
        ssl_context=ssl.create_default_context(),
        connect_timeout=5.0,
        io_timeout=5.0,
        keepalive_s=4.0,
    )
    with pytest.raises(httpcore.ConnectError) as raised:
        get(connection)
    assert isinstance(raised.value.__cause__, socket.gaierror)


def test_a_host_name_is_resolved_and_connected_to(peer: Peer, way: str) -> None:
    server = peer(answer(OK))
    connection = Connection(
        Origin("http", "localhost", server.port),
        ssl_context=ssl.create_default_context(),
        connect_timeout=5.0,
        io_timeout=5.0,
        keepalive_s=4.0,
    )
    _opened.append(connection)
    assert get(connection) == (200, b"ok")
