"""How one HTTP request reaches the control plane, at the least CPU a request can cost.

Why not `httpx.Client` for every request: profiled on the 10,000-site no-drift scan, a GET
through httpx cost ~4 ms of CPU on a loaded 2-core machine, most of the reconciler's CPU
per site. Two things made it so: httpx builds request and response models (URL, headers,
cookies, auth and redirect machinery) per request, and its pool, shared by 64 threads,
scans every connection under one lock per request (a cost that grows with concurrency).
The fast path is one keep-alive HTTP/1.1 connection per site in flight
(reconciler/http11.py): first httpcore's, now our own, because httpcore's request models and
h11's state machine were still a third of the scan's CPU at c=1 (issue 17); nothing in it
grows with the concurrency.

What that gives up, and how it is kept:
- proxies: httpx honours HTTP(S)_PROXY/ALL_PROXY/NO_PROXY; when one applies to the API URL,
  `open_transport` gives the httpx path instead (`HttpxTransport`), so a user behind a
  proxy loses nothing but speed;
- content decoding: the fast path asks for an uncompressed answer (`Accept-Encoding:
  identity`) and decodes gzip/deflate anyway, under the same size cap, should a peer
  compress regardless;
- errors: both paths raise httpcore's exception classes (`TRANSPORT_ERRORS`); the httpx
  path maps httpx's classes to httpcore's of the same name, the cause kept. So the fast
  path never imports httpx (0.15 s of start-up: it also imports its command-line tool's
  libraries);
- HTTP/1.1 only, as httpx's default: no HTTP/2.

A thread keeps one connection, to the origin it last used; under a hub (the fleet pass,
`plan`, `apply`: reconciler/hub.py) a request takes an idle connection to its origin and
gives it back after. The emulator is one origin, so every request reuses a connection;
real Chargebee is one origin per site, so a connection serves one site's read and writes,
and the number of open connections is never more than the sites in flight.
"""

from __future__ import annotations

import ssl
import threading
import zlib
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Protocol
from urllib.parse import urlencode, urlsplit
from urllib.request import getproxies, proxy_bypass

import httpcore

from reconciler import hub as hubs
from reconciler._peer_json import MAX_BODY_BYTES, PeerAnswerError, read_capped, too_large
from reconciler.http11 import Connection, Origin

if TYPE_CHECKING:
    import httpx

__all__ = [
    "TRANSPORT_ERRORS",
    "Answer",
    "Connections",
    "HttpxTransport",
    "Timeouts",
    "Transport",
    "open_transport",
]

# Describe the body as sent; an Answer's content is already decoded and whole.
_BODY_HEADERS = frozenset({"content-encoding", "content-length", "transfer-encoding"})
# Every exception a transport raises for a failed exchange (timeouts, connect errors, lost
# connections, protocol errors), as httpcore's classes.
TRANSPORT_ERRORS: tuple[type[Exception], ...] = (
    httpcore.TimeoutException,
    httpcore.NetworkError,
    httpcore.ProtocolError,
    httpcore.ProxyError,
    httpcore.UnsupportedProtocol,
)
# Idle seconds after which a kept connection is not reused (servers close idle ones: uvicorn
# after 5 s); reusing one the server is closing costs a retry.
_KEEPALIVE_S = 4.0


@dataclass(frozen=True, slots=True)
class Timeouts:
    """Seconds: connecting, and each read or write (also waiting for a pooled connection)."""

    connect: float
    io: float


@dataclass(frozen=True, slots=True)
class Answer:
    """A whole response: status, headers (names lower-cased, body framing removed) and the
    decoded body, already under the size cap."""

    method: str
    status_code: int
    headers: Mapping[str, str]
    content: bytes

    @property
    def is_success(self) -> bool:
        return 200 <= self.status_code < 300


class Transport(Protocol):
    """Sends one request and returns its whole answer, or raises an httpx exception
    (httpx.TransportError and its subclasses) or PeerAnswerError (answer too large)."""

    def send(
        self,
        method: str,
        url: str,
        *,
        params: Mapping[str, str] | None,
        form: Mapping[str, str] | None,
        headers: Mapping[str, str],
    ) -> Answer: ...

    def close(self) -> None: ...


def open_transport(
    url_template: str,
    *,
    timeouts: Timeouts,
    ssl_context: ssl.SSLContext,
    user_agent: str,
    max_connections: int,
) -> Transport:
    """The fast path, unless a proxy applies to the API's URLs (then httpx, which speaks
    to proxies): proxies are read from the environment as httpx reads them."""
    parts = urlsplit(url_template.replace("{site}", "site"))
    proxies = getproxies()
    proxied = bool(proxies.get(parts.scheme) or proxies.get("all"))
    if proxied and not proxy_bypass(parts.hostname or ""):
        import httpx

        http = httpx.Client(
            timeout=httpx.Timeout(timeouts.io, connect=timeouts.connect),
            verify=ssl_context,
            follow_redirects=False,  # a redirect would resend the Authorization header
            headers={"User-Agent": user_agent},
            limits=httpx.Limits(
                max_connections=max_connections, max_keepalive_connections=max_connections
            ),
        )
        return HttpxTransport(http, timeouts=timeouts, owned=True)
    return Connections(
        timeouts=timeouts,
        ssl_context=ssl_context,
        user_agent=user_agent,
        max_idle=max_connections,
    )


def _request_body(
    url: str, params: Mapping[str, str] | None, form: Mapping[str, str] | None
) -> tuple[str, bytes | None]:
    if params:
        url += ("&" if "?" in url else "?") + urlencode(params)
    return url, (urlencode(form).encode("ascii") if form is not None else None)


class Connections:
    """One HTTP/1.1 keep-alive connection per calling thread (reconciler/http11.py), to
    the origin that thread last used. Thread-safe because nothing is shared but the
    registry.

    Under a hub (reconciler/hub.py) the greenlets share one thread, so they take a
    connection from the origin's idle ones for each request and give it back after, if
    it can take another: as many connections as requests in flight, no more.
    """

    def __init__(
        self,
        *,
        timeouts: Timeouts,
        ssl_context: ssl.SSLContext,
        user_agent: str,
        max_idle: int = 32,
    ) -> None:
        self._timeouts = timeouts
        self._max_idle = max(1, max_idle)
        self._ssl_context = ssl_context
        self._user_agent = user_agent
        self._local = threading.local()
        self._lock = threading.Lock()
        self._open: set[Connection] = set()
        # Under a hub only: idle connections by origin, and all of them oldest first (real
        # Chargebee is an origin per site: without a bound, one open socket per site read).
        self._idle: dict[Origin, list[Connection]] = {}
        self._idle_order: OrderedDict[Connection, None] = OrderedDict()
        self._closed = False

    def send(
        self,
        method: str,
        url: str,
        *,
        params: Mapping[str, str] | None,
        form: Mapping[str, str] | None,
        headers: Mapping[str, str],
    ) -> Answer:
        url, body = _request_body(url, params, form)
        origin, target = _origin_and_target(url)
        wire = [
            ("Host", origin.host_header),
            ("User-Agent", self._user_agent),
            ("Accept-Encoding", "identity"),
            *headers.items(),
        ]
        if body is not None:
            wire.append(("Content-Type", "application/x-www-form-urlencoded"))
        hub = hubs.current()
        connection = self._connection_for(origin) if hub is None else self._idle_for(origin)
        try:
            status, answer_headers, content = connection.exchange(method, target, wire, body)
        except BaseException:
            self._forget(connection)  # closed already: its framing is unknown
            raise
        if hub is not None:
            self._give_back(connection)
        encoding = answer_headers.get("content-encoding", "").strip().lower()
        for name in _BODY_HEADERS:
            answer_headers.pop(name, None)
        return Answer(method, status, answer_headers, _decoded(encoding, content))

    def _connection_for(self, origin: Origin) -> Connection:
        """This thread's connection if it goes to `origin` and may take a request, else a
        new one (the old one closed: a thread never holds more than one)."""
        held: Connection | None = getattr(self._local, "connection", None)
        if held is not None:
            if held.origin == origin and held.usable():
                return held
            self._forget(held)
        connection = self._local.connection = self._new_connection(origin)
        return connection

    def _idle_for(self, origin: Origin) -> Connection:
        """An idle connection to `origin` that may take a request, else a new one."""
        idle = self._idle.get(origin)
        while idle:
            connection = idle.pop()  # the most recently used: the least likely closed
            del self._idle_order[connection]
            if not idle:
                del self._idle[origin]
            if connection.usable():
                return connection
            self._forget(connection)
        return self._new_connection(origin)

    def _new_connection(self, origin: Origin) -> Connection:
        connection = Connection(
            origin,
            ssl_context=self._ssl_context,
            connect_timeout=self._timeouts.connect,
            io_timeout=self._timeouts.io,
            keepalive_s=_KEEPALIVE_S,
        )
        with self._lock:
            if self._closed:
                raise httpcore.ConnectError("the client is closed")
            self._open.add(connection)
        return connection

    def _give_back(self, connection: Connection) -> None:
        if not connection.reusable or self._closed:
            self._forget(connection)
            return
        self._idle.setdefault(connection.origin, []).append(connection)
        self._idle_order[connection] = None
        if len(self._idle_order) > self._max_idle:  # the longest idle goes
            oldest, _ = self._idle_order.popitem(last=False)
            same_origin = self._idle[oldest.origin]
            same_origin.remove(oldest)
            if not same_origin:
                del self._idle[oldest.origin]
            self._forget(oldest)

    def _forget(self, connection: Connection) -> None:
        with self._lock:
            self._open.discard(connection)
        if getattr(self._local, "connection", None) is connection:
            self._local.connection = None
        connection.close()

    def close(self) -> None:
        """Close every thread's connection (threads may be gone; their sockets are not)."""
        with self._lock:
            self._closed = True
            held, self._open = self._open, set()
            self._idle, self._idle_order = {}, OrderedDict()
        for connection in held:
            connection.close()


class HttpxTransport:
    """A request through an httpx.Client: the path for proxies, and for a caller that
    brings its own client (custom transports, mounts, tests' httpx.MockTransport)."""

    def __init__(
        self, http: httpx.Client, *, timeouts: Timeouts | None = None, owned: bool = False
    ) -> None:
        self._http = http
        self._owned = owned
        # None: the client's own timeouts (a caller's client is used as configured).
        self._timeout = timeouts

    @hubs.blocks  # httpx blocks its thread: under a hub, on a helper thread
    def send(
        self,
        method: str,
        url: str,
        *,
        params: Mapping[str, str] | None,
        form: Mapping[str, str] | None,
        headers: Mapping[str, str],
    ) -> Answer:
        import httpx

        timeout = self._timeout
        request = self._http.build_request(
            method,
            url,
            params=params,
            data=form,
            headers=headers,
            timeout=(
                httpx.Timeout(timeout.io, connect=timeout.connect)
                if timeout is not None
                else httpx.USE_CLIENT_DEFAULT
            ),
        )
        try:
            streamed = self._http.send(request, stream=True)
            try:
                _refuse_declared_oversize(streamed.headers.get("content-length", ""))
                content = read_capped(streamed.iter_bytes())  # decoded by httpx as it streams
            finally:
                streamed.close()
        except httpx.TransportError as exc:
            raise _as_httpcore(exc) from exc
        kept = {
            k.lower(): v
            for k, v in streamed.headers.multi_items()
            if k.lower() not in _BODY_HEADERS
        }
        return Answer(method, streamed.status_code, kept, content)

    def close(self) -> None:
        if self._owned:
            self._http.close()


def _origin_and_target(url: str) -> tuple[Origin, str]:
    """The origin a URL's request goes to, and its request target (path and query; a
    fragment is never sent). The origin is parsed once per scheme and authority."""
    authority_at = url.find("://") + 3
    if authority_at < 3:
        raise httpcore.UnsupportedProtocol("not an http(s) URL: no scheme")
    ends = [at for at in (url.find(c, authority_at) for c in "/?#") if at >= 0]
    split = min(ends) if ends else len(url)
    target = url[split:].partition("#")[0]
    if not target.startswith("/"):
        target = "/" + target
    return _origin(url[:split]), target


@lru_cache(maxsize=1024)  # real Chargebee: one origin per site; the emulator: one
def _origin(base: str) -> Origin:
    parts = urlsplit(base)
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not parts.hostname:
        raise httpcore.UnsupportedProtocol(f"not an http(s) URL: {scheme or 'no scheme'}")
    try:
        port = parts.port or (443 if scheme == "https" else 80)
    except ValueError:
        raise httpcore.UnsupportedProtocol("the URL's port is not a number") from None
    host = parts.hostname
    if not host.isascii():
        try:
            host = host.encode("idna").decode("ascii")
        except UnicodeError:
            raise httpcore.UnsupportedProtocol("the URL's host name is not valid") from None
    return Origin(scheme, host, port)


def _as_httpcore(exc: Exception) -> Exception:
    """httpx's exception as httpcore's class of the same name (ConnectError, ReadTimeout,
    RemoteProtocolError, ...), the inverse of httpx's own mapping; others as NetworkError."""
    kind = getattr(httpcore, type(exc).__name__, None)
    if not (isinstance(kind, type) and issubclass(kind, TRANSPORT_ERRORS)):
        kind = httpcore.NetworkError
    return kind(str(exc))


def _refuse_declared_oversize(declared: str) -> None:
    if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise too_large()


def _decoded(encoding: str, content: bytes) -> bytes:
    """A body a peer compressed although asked not to, decoded under the same cap."""
    if encoding in ("", "identity"):
        return content
    if encoding not in ("gzip", "deflate", "x-gzip"):
        raise PeerAnswerError(f"answer in an encoding that was not asked for ({encoding})")
    wbits = 16 + zlib.MAX_WBITS if encoding != "deflate" else zlib.MAX_WBITS
    decompressor = zlib.decompressobj(wbits)
    try:
        out = decompressor.decompress(content, MAX_BODY_BYTES + 1)
    except zlib.error:
        raise PeerAnswerError(f"answer is not valid {encoding}") from None
    if len(out) > MAX_BODY_BYTES or decompressor.unconsumed_tail:
        raise too_large()
    return out
