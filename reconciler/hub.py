"""One thread drives every site in flight: greenlets over a selector.

Why: with a thread per site in flight, the fleet pass paid for the threads rather than its
work. A thread that wakes from a socket wait finds the GIL taken and pays CPU for waiting
for it, and this class of machine (a shared VM) charges a thread for being woken after an
idle wait: a bare `time.sleep(0.1)` costs ~130 us of CPU here, a read answered after 20 ms
3.6x one answered at once (bench/README.md, issue 17). Here one thread runs every site's
code, each site in its own greenlet; when a site would block on a socket or a sleep, it
switches to the hub, which waits on all of them at once with one `select` call and resumes
whichever site is ready. Nothing waits for the GIL, and one wake-up serves every answer
that arrived meanwhile.

The per-site code stays the plain, sequential code the threads ran (read, retry, verified
apply): only the few places that wait ask `current()` whether a hub runs them, and then
wait through it (`reconciler/http11.py`'s sockets, `sleep`, `blocking`). Anything else
that blocks, a console backend's browser or httpx's proxy path, is run on a helper thread
with `blocking`, so it never stalls the other sites.

greenlet is the library made for this (Playwright's sync API runs on it): an `asyncio`
engine would have made every function between the engine and the socket a coroutine.
"""

from __future__ import annotations

import contextlib
import functools
import heapq
import itertools
import select
import selectors
import socket
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, ParamSpec, TypeVar

from greenlet import GreenletExit, getcurrent, greenlet

__all__ = ["Hub", "Slots", "blocking", "blocks", "current", "sleep"]

T = TypeVar("T")
P = ParamSpec("P")

_local = threading.local()
# Offloaded calls (a browser, a proxy) run on at most this many helper threads at once.
_BLOCKING_WORKERS = 16


def current() -> Hub | None:
    """The hub running the calling greenlet, or None (a plain thread: block as usual)."""
    hub: Hub | None = getattr(_local, "hub", None)
    if hub is None or getcurrent() is hub._loop:
        return None
    return hub


def sleep(seconds: float) -> None:
    """`time.sleep`, but under a hub only this site waits."""
    hub = current()
    if hub is None:
        time.sleep(seconds)
    else:
        hub.sleep(seconds)


def blocking(call: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run a call that blocks in its own way (not on our sockets): on a helper thread
    under a hub, so the other sites go on; directly otherwise."""
    hub = current()
    if hub is None:
        return call(*args, **kwargs)
    return hub.blocking(lambda: call(*args, **kwargs))


def blocks(function: Callable[P, T]) -> Callable[P, T]:
    """`function`, always called through `blocking`: for a method that blocks in its own
    way (httpx, a database driver), so no caller under a hub can forget to offload it."""

    @functools.wraps(function)
    def offloaded(*args: P.args, **kwargs: P.kwargs) -> T:
        return blocking(function, *args, **kwargs)

    return offloaded


class _Waiter:
    """One suspended greenlet, resumed at most once (its fd and its timer may both fire)."""

    __slots__ = ("fd", "fired", "greenlet", "mask")

    def __init__(self, waiting: greenlet) -> None:
        self.greenlet = waiting
        self.fired = False
        self.fd = -1  # the socket it waits on, if any
        self.mask = 0  # the epoll events that end its wait


class _SelectorPoller:
    """Any platform: a socket is registered for the length of one wait."""

    def __init__(self, wake: socket.socket) -> None:
        self._selector = selectors.DefaultSelector()
        self._selector.register(wake, selectors.EVENT_READ, None)

    def watch(self, sock: socket.socket, events: int, waiter: _Waiter) -> None:
        self._selector.register(sock, events, waiter)

    def unwatch(self, sock: socket.socket, waiter: _Waiter) -> None:
        self._selector.unregister(sock)

    def waiting(self) -> bool:
        return len(self._selector.get_map()) > 1

    def poll(self, timeout: float | None) -> list[_Waiter | None]:
        """The waiters whose sockets are ready (None: the wake-up socket)."""
        return [key.data for key, _ in self._selector.select(timeout)]

    def close(self) -> None:
        self._selector.close()


class _EdgePoller:
    """Linux: a socket is registered once, edge-triggered, and stays registered between
    waits, so a wait costs no system call. Two per wait (register, unregister) were ~3 % of
    a no-drift pass's CPU (bench/README.md, issue 17).

    Edge-triggered is sound here because every wait follows an attempt that found nothing
    (a read or write that would block, a connect in progress): an edge after it is news,
    and one before it is already consumed. A stale edge wakes a waiter that then tries and
    waits again. A socket is known by its object: a new socket on a closed one's number is
    registered afresh (the kernel dropped the old registration when it closed)."""

    def __init__(self, wake: socket.socket) -> None:
        # Looked up here, not in the class body: `select` has no EPOLL* off Linux.
        self._READ = select.EPOLLIN | select.EPOLLRDHUP | select.EPOLLERR | select.EPOLLHUP
        self._WRITE = select.EPOLLOUT | select.EPOLLERR | select.EPOLLHUP
        self._ALL = select.EPOLLIN | select.EPOLLOUT | select.EPOLLRDHUP | select.EPOLLET
        self._epoll = select.epoll()
        self._wake_fd = wake.fileno()
        self._epoll.register(self._wake_fd, select.EPOLLIN)
        self._known: dict[int, socket.socket] = {}
        self._waiting: dict[int, _Waiter] = {}

    def watch(self, sock: socket.socket, events: int, waiter: _Waiter) -> None:
        fd = sock.fileno()
        if self._known.get(fd) is not sock:
            try:
                self._epoll.modify(fd, self._ALL)  # the same file (a TLS wrap of it)
            except FileNotFoundError:
                self._epoll.register(fd, self._ALL)
            self._known[fd] = sock
        waiter.fd = fd
        waiter.mask = self._READ if events & selectors.EVENT_READ else self._WRITE
        self._waiting[fd] = waiter

    def unwatch(self, sock: socket.socket, waiter: _Waiter) -> None:
        if self._waiting.get(waiter.fd) is waiter:
            del self._waiting[waiter.fd]

    def waiting(self) -> bool:
        return bool(self._waiting)

    def poll(self, timeout: float | None) -> list[_Waiter | None]:
        found: list[_Waiter | None] = []
        waiting = self._waiting
        for fd, mask in self._epoll.poll(-1 if timeout is None else timeout):
            if fd == self._wake_fd:
                found.append(None)
                continue
            waiter = waiting.get(fd)
            if waiter is not None and mask & waiter.mask:
                found.append(waiter)
        return found

    def close(self) -> None:
        self._epoll.close()
        self._known.clear()


class Hub:
    """Runs `run`'s function and every greenlet it spawns in this thread, to the end."""

    def __init__(self, *, edge_triggered: bool | None = None) -> None:
        """`edge_triggered`: epoll's persistent registrations (default: where there is
        epoll, Linux); otherwise the platform's selector, a registration per wait."""
        self._ready: deque[tuple[greenlet, Any]] = deque()
        self._timers: list[tuple[float, int, _Waiter]] = []
        self._live_timers = 0
        self._order = itertools.count()
        self._errors: list[BaseException] = []
        self._loop: greenlet | None = None
        self._wake_read, self._wake_write = socket.socketpair()
        self._wake_read.setblocking(False)
        if edge_triggered is None:
            edge_triggered = hasattr(select, "epoll")
        self._poller = (_EdgePoller if edge_triggered else _SelectorPoller)(self._wake_read)
        self._finished: deque[_Waiter] = deque()  # offloaded calls done (appended by threads)
        self._pending = 0  # offloaded calls not yet finished
        self._helpers: ThreadPoolExecutor | None = None
        self._live: set[greenlet] = set()  # greenlets spawned and not yet ended

    # --- running

    def run(self, main: Callable[[], T]) -> T:
        """Run `main` in a greenlet, and every greenlet spawned meanwhile, until all have
        ended. Returns `main`'s result; raises `main`'s exception, else the first exception
        of a spawned greenlet (a bug: sites turn their failures into reports)."""
        if getattr(_local, "hub", None) is not None:
            raise RuntimeError("a hub is already running in this thread")
        result: list[T] = []
        failed: list[BaseException] = []

        def first() -> None:
            try:
                result.append(main())
            except Exception as exc:
                failed.append(exc)

        self._loop = greenlet(self._run_loop)
        self._spawn(first, front=True)
        _local.hub = self
        try:
            self._loop.switch()
        finally:
            _local.hub = None
            self._abandon()
            self.close()
        if failed or self._errors:
            raise (failed or self._errors)[0]
        return result[0]

    def spawn(self, call: Callable[..., Any], *args: Any) -> None:
        """Start `call(*args)` in its own greenlet once the caller next waits."""
        self._spawn(lambda: call(*args))

    def _spawn(self, call: Callable[[], Any], front: bool = False) -> None:
        def start(_: Any) -> None:
            try:
                call()
            except Exception as exc:  # KeyboardInterrupt and SystemExit end the run
                self._errors.append(exc)
            finally:
                self._live.discard(getcurrent())

        assert self._loop is not None
        child = greenlet(start, parent=self._loop)
        self._live.add(child)
        if front:
            self._ready.appendleft((child, None))
        else:
            self._ready.append((child, None))

    def _abandon(self) -> None:
        """After the run ended early (Ctrl-C in a site): end every greenlet still
        suspended now, in this thread, so their `finally` blocks run (a lock released, a
        connection closed) while the hub is still open, not whenever they are collected."""
        for child in list(self._live):
            with contextlib.suppress(Exception):
                child.throw(GreenletExit)
        self._live.clear()

    def _run_loop(self) -> None:
        ready, poller = self._ready, self._poller
        while True:
            while ready:
                child, value = ready.popleft()
                child.switch(value)  # returns when the child waits or ends
            if not self._live:
                return
            timeout = self._next_timeout()
            if timeout is None and not self._pending and not poller.waiting():
                raise RuntimeError(
                    f"hub: {len(self._live)} greenlet(s) wait for nothing that can happen"
                )
            for waiter in poller.poll(timeout):
                if waiter is None:
                    self._take_finished()
                else:
                    self._resume(waiter, True)
            self._expire_timers()

    def _resume(self, waiter: _Waiter, value: Any) -> None:
        if not waiter.fired:
            waiter.fired = True
            self._ready.append((waiter.greenlet, value))

    def _suspend(self) -> Any:
        assert self._loop is not None
        return self._loop.switch()

    # --- timers

    def _add_timer(self, delay: float, waiter: _Waiter) -> None:
        heapq.heappush(self._timers, (time.monotonic() + delay, next(self._order), waiter))
        self._live_timers += 1
        # A timer whose wait ended first stays in the heap until due; past a few times the
        # live ones, the heap is rebuilt so a long pass does not grow it.
        if len(self._timers) > 256 + 4 * self._live_timers:
            self._timers = [t for t in self._timers if not t[2].fired]
            heapq.heapify(self._timers)

    def _next_timeout(self) -> float | None:
        if self._ready or self._finished:
            return 0.0
        timers = self._timers
        while timers and timers[0][2].fired:
            heapq.heappop(timers)
        if not timers:
            return None
        return max(0.0, timers[0][0] - time.monotonic())

    def _expire_timers(self) -> None:
        timers, now = self._timers, time.monotonic()
        while timers and (timers[0][2].fired or timers[0][0] <= now):
            _, _, waiter = heapq.heappop(timers)
            self._resume(waiter, False)

    # --- waiting, for the greenlets the hub runs

    def wait_readable(self, sock: socket.socket, timeout: float | None) -> bool:
        """Suspend until `sock` is readable (True) or `timeout` seconds passed (False)."""
        return self._wait_fd(sock, selectors.EVENT_READ, timeout)

    def wait_writable(self, sock: socket.socket, timeout: float | None) -> bool:
        """Suspend until `sock` is writable (True) or `timeout` seconds passed (False)."""
        return self._wait_fd(sock, selectors.EVENT_WRITE, timeout)

    def _wait_fd(self, sock: socket.socket, events: int, timeout: float | None) -> bool:
        waiter = _Waiter(getcurrent())
        self._poller.watch(sock, events, waiter)
        if timeout is not None:
            self._add_timer(timeout, waiter)
        try:
            return bool(self._suspend())
        finally:
            waiter.fired = True
            self._live_timers -= timeout is not None
            self._poller.unwatch(sock, waiter)

    def pause(self) -> None:
        """Let every greenlet that is ready run first (this one is ready again at once)."""
        self._ready.append((getcurrent(), None))
        self._suspend()

    def sleep(self, seconds: float) -> None:
        waiter = _Waiter(getcurrent())
        self._add_timer(max(0.0, seconds), waiter)
        try:
            self._suspend()
        finally:
            waiter.fired = True
            self._live_timers -= 1

    def blocking(self, call: Callable[[], T]) -> T:
        """Run `call` on a helper thread; this greenlet waits, the others go on."""
        if self._helpers is None:
            self._helpers = ThreadPoolExecutor(_BLOCKING_WORKERS, thread_name_prefix="hub-help")
        waiter = _Waiter(getcurrent())
        future = self._helpers.submit(call)
        self._pending += 1

        def done(_: Future[T]) -> None:
            self._finished.append(waiter)
            with contextlib.suppress(OSError):  # the hub closed after an abort: nobody waits
                self._wake_write.send(b"\0")

        future.add_done_callback(done)
        try:
            self._suspend()
        finally:
            waiter.fired = True
        return future.result()

    def _take_finished(self) -> None:
        try:
            while self._wake_read.recv(4096):
                pass
        except BlockingIOError:
            pass
        while self._finished:
            waiter = self._finished.popleft()
            self._pending -= 1
            self._resume(waiter, None)

    def close(self) -> None:
        if self._helpers is not None:
            self._helpers.shutdown(wait=True)
            self._helpers = None
        self._poller.close()
        self._wake_read.close()
        self._wake_write.close()


class Slots:
    """At most `count` holders at once among the hub's greenlets (a semaphore that
    suspends a greenlet, not the thread)."""

    def __init__(self, hub: Hub, count: int) -> None:
        self._hub = hub
        self._free = count
        self._waiting: deque[_Waiter] = deque()

    def acquire(self) -> None:
        if self._free > 0:
            self._free -= 1
            return
        waiter = _Waiter(getcurrent())
        self._waiting.append(waiter)
        self._hub._suspend()  # resumed holding the slot its releaser handed over

    def release(self) -> None:
        if self._waiting:
            self._hub._resume(self._waiting.popleft(), None)
        else:
            self._free += 1

    def spawn(self, call: Callable[..., Any], *args: Any) -> None:
        """Take a slot (waiting for one if need be), then start `call(*args)` in its own
        greenlet, which gives the slot back when it ends, however it ends."""
        self.acquire()

        def holding() -> None:
            try:
                call(*args)
            finally:
                self.release()

        self._hub.spawn(holding)
