"""One HTTP/1.1 client connection on a plain socket: strict framing, keep-alive, caps.

Why our own: on the 10,000-site no-drift scan the request path was the largest share of the
reconciler's CPU, and most of it was the machinery around a request, not the sockets:
httpcore builds request, URL, header and response models, and h11 runs an event state
machine, per exchange (at c=1, a third of the pass's CPU; bench/README.md, issue 17). The
reconciler's exchange is narrow: one request with a small body, one answer read whole under
a size cap. Here that is a `sendall` of the request's bytes and a parse of the answer's
head with two compiled patterns.

What is kept from h11 (RFC 9112), because a peer is not trusted:
- the status line and every header line must be well formed: no obs-fold, no space before
  the colon, no control characters in a value; the head is at most 64 KiB and 100 lines;
- framing: no body for HEAD, 1xx, 204 and 304; `Transfer-Encoding` must be exactly
  `chunked` (a `Content-Length` beside it is ignored, and then the connection is not
  reused); several `Content-Length` values must agree and be digits; with neither, the
  body runs to the close and the connection is not reused; a body shorter than declared
  is an error;
- interim (1xx) answers are skipped, at most 8 of them; `101 Switching Protocols` is
  refused;
- a request whose target or header values hold CR, LF or NUL is refused before anything
  is sent (header injection).
A connection is reused only when its last answer was read to its declared end, the peer
did not ask to close it, it has been idle under the keep-alive limit and nothing arrived
on it while idle (a server that closed it makes it readable).

Errors are httpcore's exception classes (the client's retry machinery and the httpx path
already speak them): ConnectError/ConnectTimeout (the socket's or TLS's error kept as the
cause, so a failed DNS lookup or certificate stays recognisable), ReadTimeout/WriteTimeout,
ReadError/WriteError, RemoteProtocolError and LocalProtocolError. An answer over the size
cap raises PeerAnswerError. After any error the connection is closed: its framing is unknown.
"""

from __future__ import annotations

import contextlib
import errno
import ipaddress
import os
import re
import select
import socket
import ssl
import time
from dataclasses import dataclass, field
from typing import Any

import httpcore

from reconciler import hub as hubs
from reconciler._peer_json import MAX_BODY_BYTES, too_large
from reconciler.hub import Hub

__all__ = ["Connection", "Origin"]

MAX_HEAD_BYTES = 64 * 1024  # status line and headers (h11's default is 16 KiB)
MAX_HEADER_LINES = 100
MAX_INTERIM_ANSWERS = 8  # 1xx answers before the final one (a peer could send them forever)
_RECV_BYTES = 64 * 1024

_STATUS_LINE = re.compile(rb"HTTP/1\.([01]) ([1-9][0-9][0-9])(?: [\t \x21-\x7e\x80-\xff]*)?")
# token ":" OWS field-value OWS, the value without control characters (RFC 9110 5.5).
_HEADER_LINE = re.compile(
    rb"([!#$%&'*+\-.^_`|~0-9A-Za-z]+):[ \t]*"
    rb"((?:[\x21-\x7e\x80-\xff](?:[\t \x21-\x7e\x80-\xff]*[\x21-\x7e\x80-\xff])?)?)[ \t]*"
)
_CHUNK_SIZE = re.compile(rb"([0-9A-Fa-f]{1,15})[ \t]*(?:;[\t \x21-\x7e\x80-\xff]*)?")
_NO_BODY_STATUSES = frozenset({204, 304})


@dataclass(frozen=True, slots=True)
class Origin:
    """Where a connection goes: scheme ("http" or "https"), host and port."""

    scheme: str
    host: str
    port: int
    # The Host header's value, made once: origins are cached per URL authority
    # (transport._origin), and every request on one sends it.
    host_header: str = field(init=False, compare=False)

    def __post_init__(self) -> None:
        host = f"[{self.host}]" if ":" in self.host else self.host  # an IPv6 literal
        default = 443 if self.scheme == "https" else 80
        header = host if self.port == default else f"{host}:{self.port}"
        object.__setattr__(self, "host_header", header)


class Connection:
    """One keep-alive connection to one origin, used by one thread (or, under a hub, one
    greenlet) at a time.

    Used under a hub (`reconciler/hub.py`), its socket is non-blocking and every wait
    (name lookup, connect, TLS handshake, send, receive) suspends only the calling
    greenlet; the timeouts and errors are the same as a blocking socket's.
    """

    def __init__(
        self,
        origin: Origin,
        *,
        ssl_context: ssl.SSLContext,
        connect_timeout: float,
        io_timeout: float,
        keepalive_s: float,
    ) -> None:
        self.origin = origin
        self.hub: Hub | None = None  # the hub of the request under way, if any
        self._ssl_context = ssl_context
        self._connect_timeout = connect_timeout
        self._io_timeout = io_timeout
        self._keepalive_s = keepalive_s
        self._sock: socket.socket | None = None
        self._buffer = bytearray()  # bytes received past the last answer: none if reusable
        self._idle_since = 0.0
        self._reusable = False

    def usable(self) -> bool:
        """Whether the next request may go on this connection: never used yet, or its last
        answer ended cleanly, it is within the keep-alive limit and the peer sent nothing
        (an idle connection the server closed is readable)."""
        if self._sock is None:
            return True
        if not self._reusable or time.monotonic() - self._idle_since > self._keepalive_s:
            return False
        readable, _, _ = select.select([self._sock], [], [], 0)
        return not readable

    @property
    def reusable(self) -> bool:
        """Whether its last answer left it open for another request (`usable` also asks
        the socket, just before a request)."""
        return self._sock is not None and self._reusable

    def exchange(
        self, method: str, target: str, headers: list[tuple[str, str]], body: bytes | None
    ) -> tuple[int, dict[str, str], bytes]:
        """Send one request; return the final answer's status, headers (names lower-cased;
        the last of repeated names) and whole body, under MAX_BODY_BYTES."""
        request = _request_bytes(method, target, headers, body)
        hub = hubs.current()
        if hub is not self.hub:  # a kept connection, first used by a thread or another hub
            self.hub = hub
            if self._sock is not None:
                self._sock.settimeout(self._io_timeout if hub is None else 0.0)
        try:
            return self._exchange(method, request)
        except BaseException:
            self.close()  # its framing is unknown
            raise

    def _exchange(self, method: str, request: bytes) -> tuple[int, dict[str, str], bytes]:
        if self._sock is None:
            self._sock = self._connect()
        elif not self._reusable:
            raise httpcore.LocalProtocolError("the connection cannot take another request")
        self._reusable = False
        self._send(request)
        for _ in range(MAX_INTERIM_ANSWERS + 1):
            version, status, fields, lengths, codings, close = self._read_head()
            if status >= 200:
                break
            if status == 101:
                raise httpcore.RemoteProtocolError("the server switched protocols")
        else:
            raise httpcore.RemoteProtocolError("too many interim (1xx) answers")
        if method == "HEAD" or status in _NO_BODY_STATUSES:
            content, framed = b"", True
        elif codings:
            if [c.strip().lower() for c in b",".join(codings).split(b",")] != [b"chunked"]:
                raise httpcore.RemoteProtocolError("unsupported Transfer-Encoding")
            # With a Content-Length beside it, the peer's framing is ambiguous (request
            # smuggling's shape): the answer is read as chunked and the connection closed.
            content, framed = self._read_chunked(), True
            close = close or bool(lengths)
        elif lengths:
            content, framed = self._read_length(_content_length(lengths)), True
        else:
            content, framed = self._read_to_close(), False
        if framed and not close and version == b"1":
            self._reusable = not self._buffer
            self._idle_since = time.monotonic()
        else:
            self.close()
        return status, fields, content

    def close(self) -> None:
        sock, self._sock = self._sock, None
        self._reusable = False
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.close()

    # --- the socket

    def _connect(self) -> socket.socket:
        if self.hub is not None:
            return self._connect_under(self.hub)
        origin = self.origin
        try:
            sock = socket.create_connection(
                (origin.host, origin.port), timeout=self._connect_timeout
            )
        except TimeoutError as exc:
            raise httpcore.ConnectTimeout(str(exc) or "timed out connecting") from exc
        except OSError as exc:  # refused, unreachable, a name that does not resolve
            raise httpcore.ConnectError(str(exc)) from exc
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if origin.scheme == "https":
                sock = self._ssl_context.wrap_socket(sock, server_hostname=origin.host)
            sock.settimeout(self._io_timeout)
        except TimeoutError as exc:
            sock.close()
            raise httpcore.ConnectTimeout(str(exc) or "timed out in the TLS handshake") from exc
        except OSError as exc:  # ssl.SSLError is an OSError: certificate, handshake
            sock.close()
            raise httpcore.ConnectError(str(exc)) from exc
        return sock

    def _connect_under(self, hub: Hub) -> socket.socket:
        """`_connect` without blocking the hub: the name looked up on a helper thread (a
        resolver can take seconds), then a non-blocking connect and TLS handshake, both
        within the connect timeout, as `socket.create_connection` tries each address."""
        origin, timeout = self.origin, self._connect_timeout
        try:
            addresses = _addresses(hub, origin.host, origin.port)
        except OSError as exc:  # socket.gaierror: a name that does not resolve
            raise httpcore.ConnectError(str(exc)) from exc
        problem: OSError = OSError("no address to connect to")
        for family, kind, proto, _, address in addresses:
            sock = socket.socket(family, kind, proto)
            try:
                sock.setblocking(False)
                status = sock.connect_ex(address)
                if status not in (0, errno.EINPROGRESS, errno.EWOULDBLOCK):
                    raise OSError(status, os.strerror(status))
                if status and not hub.wait_writable(sock, timeout):
                    raise TimeoutError("timed out connecting")
                status = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                if status:
                    raise OSError(status, os.strerror(status))
            except OSError as exc:  # refused, unreachable, timed out: the next address
                sock.close()
                problem = exc
                continue
            break
        else:
            if isinstance(problem, TimeoutError):
                raise httpcore.ConnectTimeout(str(problem)) from problem
            raise httpcore.ConnectError(str(problem)) from problem
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if origin.scheme == "https":
                sock = self._handshake(hub, sock)
        except BaseException:
            sock.close()
            raise
        return sock

    def _handshake(self, hub: Hub, sock: socket.socket) -> ssl.SSLSocket:
        tls = self._ssl_context.wrap_socket(
            sock, server_hostname=self.origin.host, do_handshake_on_connect=False
        )
        while True:
            try:
                tls.do_handshake()
                return tls
            except ssl.SSLWantReadError:
                ready = hub.wait_readable(tls, self._connect_timeout)
            except ssl.SSLWantWriteError:
                ready = hub.wait_writable(tls, self._connect_timeout)
            except OSError as exc:  # ssl.SSLError is an OSError: certificate, handshake
                raise httpcore.ConnectError(str(exc)) from exc
            if not ready:
                raise httpcore.ConnectTimeout("timed out in the TLS handshake")

    def _send(self, data: bytes) -> None:
        sock = self._sock
        if sock is None:  # closed by another thread (the client closing)
            raise httpcore.WriteError("the connection was closed")
        if self.hub is not None:
            self._send_under(self.hub, sock, data)
            return
        try:
            sock.sendall(data)
        except TimeoutError as exc:
            raise httpcore.WriteTimeout(str(exc) or "timed out writing") from exc
        except OSError as exc:
            raise httpcore.WriteError(str(exc)) from exc

    def _send_under(self, hub: Hub, sock: socket.socket, data: bytes) -> None:
        view = memoryview(data)
        while view:
            try:
                view = view[sock.send(view) :]
                continue
            except (BlockingIOError, ssl.SSLWantWriteError):
                ready = hub.wait_writable(sock, self._io_timeout)
            except ssl.SSLWantReadError:
                ready = hub.wait_readable(sock, self._io_timeout)
            except OSError as exc:
                raise httpcore.WriteError(str(exc)) from exc
            if not ready:
                raise httpcore.WriteTimeout("timed out writing")

    def _receive(self) -> bytes:
        """The next bytes from the peer; b"" when it closed the connection."""
        sock = self._sock
        if sock is None:  # closed by another thread (the client closing)
            raise httpcore.ReadError("the connection was closed")
        if self.hub is not None:
            return self._receive_under(self.hub, sock)
        try:
            return sock.recv(_RECV_BYTES)
        except TimeoutError as exc:
            raise httpcore.ReadTimeout(str(exc) or "timed out reading") from exc
        except OSError as exc:
            raise httpcore.ReadError(str(exc)) from exc

    def _receive_under(self, hub: Hub, sock: socket.socket) -> bytes:
        while True:
            try:
                return sock.recv(_RECV_BYTES)
            except (BlockingIOError, ssl.SSLWantReadError):
                ready = hub.wait_readable(sock, self._io_timeout)
            except ssl.SSLWantWriteError:  # TLS renegotiation
                ready = hub.wait_writable(sock, self._io_timeout)
            except OSError as exc:
                raise httpcore.ReadError(str(exc)) from exc
            if not ready:
                raise httpcore.ReadTimeout("timed out reading")

    def _fill(self, what: str) -> None:
        data = self._receive()
        if not data:
            raise httpcore.RemoteProtocolError(f"peer closed the connection {what}")
        self._buffer += data

    # --- the answer

    def _read_head(
        self,
    ) -> tuple[bytes, int, dict[str, str], list[bytes], list[bytes], bool]:
        """(minor version, status, headers, Content-Length values, Transfer-Encoding
        values, whether the peer asked to close), the head consumed from the buffer."""
        lines = self._take_until(b"\r\n\r\n", "head").split(b"\r\n")
        status_line = _STATUS_LINE.fullmatch(lines[0])
        if status_line is None:
            raise httpcore.RemoteProtocolError("malformed status line")
        if len(lines) > MAX_HEADER_LINES + 1:
            raise httpcore.RemoteProtocolError("too many header lines")
        fields: dict[str, str] = {}
        lengths: list[bytes] = []
        codings: list[bytes] = []
        close = False
        for line in lines[1:]:
            match = _HEADER_LINE.fullmatch(line)
            if match is None:  # also obs-fold: a line starting with a space
                raise httpcore.RemoteProtocolError("malformed header line")
            name, value = match.group(1).lower(), match.group(2)
            if name == b"content-length":
                lengths.append(value)
            elif name == b"transfer-encoding":
                codings.append(value)
            elif name == b"connection":
                close = close or b"close" in (t.strip().lower() for t in value.split(b","))
            fields[name.decode("ascii")] = value.decode("latin-1")
        return status_line.group(1), int(status_line.group(2)), fields, lengths, codings, close

    def _read_length(self, length: int) -> bytes:
        if length > MAX_BODY_BYTES:
            raise too_large()
        while len(self._buffer) < length:
            self._fill("before the end of the answer's body")
        content = bytes(self._buffer[:length])
        del self._buffer[:length]
        return content

    def _read_to_close(self) -> bytes:
        while True:
            if len(self._buffer) > MAX_BODY_BYTES:
                raise too_large()
            data = self._receive()
            if not data:
                content = bytes(self._buffer)
                self._buffer.clear()
                return content
            self._buffer += data

    def _take_until(self, terminator: bytes, what: str) -> bytes:
        """The buffered bytes before `terminator`, consumed with it, reading on until it
        arrives; the answer's head and each chunk-size or trailer line, so at most
        MAX_HEAD_BYTES of them."""
        searched = 0
        while True:
            end = self._buffer.find(terminator, searched)
            if end >= 0:
                break
            if len(self._buffer) > MAX_HEAD_BYTES:
                raise httpcore.RemoteProtocolError(f"answer's {what} too large")
            searched = max(0, len(self._buffer) - len(terminator) + 1)
            started = self._buffer or what != "head"
            self._fill(f"in the answer's {what}" if started else "without sending an answer")
        if end > MAX_HEAD_BYTES:
            raise httpcore.RemoteProtocolError(f"answer's {what} too large")
        taken = bytes(self._buffer[:end])
        del self._buffer[: end + len(terminator)]
        return taken

    def _read_chunked(self) -> bytes:
        parts: list[bytes] = []
        total = 0
        while True:
            size_line = _CHUNK_SIZE.fullmatch(self._take_until(b"\r\n", "chunk size"))
            if size_line is None:
                raise httpcore.RemoteProtocolError("malformed chunk size")
            size = int(size_line.group(1), 16)
            if size == 0:
                break
            total += size
            if total > MAX_BODY_BYTES:
                raise too_large()
            parts.append(self._read_length(size))
            if self._take_until(b"\r\n", "chunk end") != b"":
                raise httpcore.RemoteProtocolError("chunk longer than its size")
        trailers = 0
        while self._take_until(b"\r\n", "trailer") != b"":  # trailers are read and dropped
            trailers += 1
            if trailers > MAX_HEADER_LINES:
                raise httpcore.RemoteProtocolError("too many trailer lines")
        return b"".join(parts)


def _addresses(hub: Hub, host: str, port: int) -> list[Any]:
    """`getaddrinfo` for a TCP connection; on a helper thread unless `host` is an address."""
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return hub.blocking(lambda: socket.getaddrinfo(host, port, 0, socket.SOCK_STREAM))
    return socket.getaddrinfo(host, port, 0, socket.SOCK_STREAM)


def _content_length(values: list[bytes]) -> int:
    """The body's length: every Content-Length value (a list too) is the same digits."""
    seen = {v.strip() for value in values for v in value.split(b",")}
    if len(seen) != 1:
        raise httpcore.RemoteProtocolError("conflicting Content-Length values")
    (length,) = seen
    if not length.isdigit() or len(length) > 18:
        raise httpcore.RemoteProtocolError("malformed Content-Length")
    return int(length)


def _request_bytes(
    method: str, target: str, headers: list[tuple[str, str]], body: bytes | None
) -> bytes:
    """The request's bytes; refuses CR, LF and NUL anywhere in them (header injection)."""
    lines = [f"{method} {target} HTTP/1.1"]
    lines += [f"{name}: {value}" for name, value in headers]
    if body is not None:
        lines.append(f"Content-Length: {len(body)}")
    text = "\r\n".join(lines)
    # Each line's CR and LF are the separators' alone (three C-level counts, not a scan
    # per header).
    if (
        text.count("\r") != len(lines) - 1
        or text.count("\n") != len(lines) - 1
        or "\x00" in text
        or " " in target
    ):
        raise httpcore.LocalProtocolError("CR, LF, NUL or a space in the request's line or headers")
    try:
        head = text.encode("latin-1")
    except UnicodeEncodeError:
        raise httpcore.LocalProtocolError("a request header is not Latin-1") from None
    return head + b"\r\n\r\n" + (body or b"")
