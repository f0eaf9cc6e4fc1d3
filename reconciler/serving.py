"""The reconciler's small HTTP servers (status page, metrics) on uvicorn, in a thread.

The standard library's threaded server gave each connection a thread and no timeout, with
a listen backlog of 5: 200 concurrent GETs timed out by the dozen, and 125 idle
connections under `ulimit -n 128` used the descriptors the reconciler needed for its state
file (EMFILE). Here one event-loop thread serves every connection (sync endpoints run in
a small thread pool), and:
- connections are capped at `connection_cap()`, a quarter of the descriptor limit, so
  however many clients connect, the reconcile pass keeps most descriptors for its sites
  and files; at the cap a new connection closes the connection idle longest, if idle
  for a second (silent clients cannot lock out a real request), else is answered 503;
- a connection that has not sent a whole request within `HEADER_TIMEOUT_S` is closed, and
  an idle keep-alive connection after `KEEP_ALIVE_S` (slow or silent clients hold nothing);
- the listen backlog is the kernel's usual 1024, not 5;
- the port is bound before the thread starts, so "address in use" is a `ServeError`
  message at start-up, not a traceback in a thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import resource
import socket
import threading
import time
from typing import Any

import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

from reconciler.errors import ServeError

HEADER_TIMEOUT_S = 10.0
KEEP_ALIVE_S = 5.0
IDLE_GRACE_S = 1.0  # idle this long before a new connection may push it out at the cap
BACKLOG = 1024
_ACCEPT_BATCH = 8
_BUSY = (
    b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: text/plain; charset=utf-8\r\n"
    b"connection: close\r\ncontent-length: 21\r\n\r\ntoo many connections\n"
)

__all__ = ["BACKLOG", "HEADER_TIMEOUT_S", "KEEP_ALIVE_S", "BackgroundServer", "ServeError"]


def connection_cap() -> int:
    """Connections one server may hold: a quarter of the soft descriptor limit, 4 to 1024
    (under `ulimit -n 128`: 32 each for the page and metrics, 64 left for the pass)."""
    soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return 1024
    return max(4, min(1024, soft // 4))


class _GuardedH11(H11Protocol):
    """uvicorn's h11 protocol with a connection cap and a deadline for the request head."""

    cap = 64  # replaced per server by a subclass (see `_protocol_for`)
    _deadline: asyncio.TimerHandle | None = None
    _since = 0.0  # when the connection opened or its last answer went out

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._since = time.monotonic()
        if len(self.connections) > self.cap and not self._evict_idle():
            transport.write(_BUSY)
            transport.close()
            return
        self._arm()

    def _idle(self) -> bool:
        """Connected but not being answered: nothing of ours is lost by closing it."""
        return self.cycle is None or self.cycle.response_complete

    def _evict_idle(self) -> bool:
        """At the cap, the connection idle longest (for a second at least) makes room, so
        silent clients cannot lock out a real request, nor a burst of new clients push
        each other out before sending theirs; False when none may go."""
        settled = time.monotonic() - IDLE_GRACE_S  # a client that just connected is not idle
        idle = [
            c
            for c in self.connections
            if isinstance(c, _GuardedH11) and c is not self and c._idle() and c._since < settled
        ]
        if not idle:
            return False
        oldest = min(idle, key=lambda c: c._since)
        oldest.transport.close()
        oldest.connections.discard(oldest)  # its connection_lost comes on the next turn
        return True

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._since = time.monotonic()
        self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
        super().connection_lost(exc)

    def _arm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
        self._deadline = self.loop.call_later(HEADER_TIMEOUT_S, self._expire)

    def _expire(self) -> None:
        """No complete request since the connection opened (or the last answer)."""
        self._deadline = None
        if self._idle() and not self.transport.is_closing():
            self.transport.close()


def _protocol_for(cap: int) -> type[_GuardedH11]:
    return type("_CappedH11", (_GuardedH11,), {"cap": cap})


def _bind(host: str, port: int) -> socket.socket:
    if not 0 <= port <= 65535:
        raise ServeError(f"port {port} is out of range (0-65535)")
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise ServeError(f"cannot listen on {host}: {exc.strerror}") from None
    family, kind, proto, _, address = infos[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(BACKLOG)
    except OSError as exc:
        sock.close()
        hint = " (another process is listening there)" if exc.errno == errno.EADDRINUSE else ""
        raise ServeError(f"cannot listen on {host}:{port}: {exc.strerror}{hint}") from None
    sock.set_inheritable(False)
    return sock


class BackgroundServer:
    """An ASGI app served on host:port from a daemon thread; `port` is the bound one."""

    def __init__(self, app: Any, host: str, port: int, *, name: str) -> None:
        self._socket = _bind(host, port)
        bound = self._socket.getsockname()
        self.host, self.port = str(bound[0]), int(bound[1])
        cap = connection_cap()
        config = uvicorn.Config(
            app,
            http=_protocol_for(cap),
            ws="none",
            lifespan="off",
            # asyncio also accepts up to `backlog` connections per wake-up, before any
            # can be turned away: a small batch keeps that burst from using descriptors
            # the pass needs; the kernel's queue is set to BACKLOG once started (below).
            backlog=_ACCEPT_BATCH,
            limit_concurrency=cap + 1,  # uvicorn counts the connection asking too
            timeout_keep_alive=int(KEEP_ALIVE_S),
            timeout_graceful_shutdown=2,
            log_level="warning",
            access_log=False,
            server_header=False,
            date_header=False,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._socket]}, name=name, daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started and self._thread.is_alive():
            if time.monotonic() > deadline:  # pragma: no cover (a wedged event loop)
                break
            time.sleep(0.01)
        with contextlib.suppress(OSError):
            self._socket.listen(BACKLOG)  # the kernel's queue; asyncio set it to the batch

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/"

    def stop(self) -> None:
        """Stop accepting, close idle connections, finish answers in flight (2 s at
        most); safe to call twice."""
        self._server.should_exit = True
        self._thread.join(timeout=5)
        if self._thread.is_alive():  # pragma: no cover (a client that never lets go)
            self._server.force_exit = True
            self._thread.join(timeout=5)
        with contextlib.suppress(OSError):
            self._socket.close()
