"""What one API read costs the reconciler in CPU: its own work, the GIL and waiting (issue 17).

Issue 17 asks for 4x less CPU per site than the code before its work. What is left of a
no-drift site is mostly its one read, and this bench splits that read's CPU into the
parts no change to the reconciler's own Python can remove:

- `bare socket`: the same GET and answer on a socket of its own, with no HTTP client
  (send, receive until Content-Length): the kernel's share of a request on this machine.
- `read, alone`: `ReadOnlyClient.read`, the whole path a pass takes (transport, the
  HTTP/1.1 connection, redaction, JSON, `Live`), one thread, nothing else running.
- `read, one busy thread beside`: the same, while one other thread runs Python without
  pause, as the config loader does beside a pass's reads. The reader's own CPU
  (`time.thread_time`) grows: every system call gives the GIL up and waits to take it back
  (a fifth of `--reads`: each read then waits up to a switch interval, 5 ms, in wall time).
- `read, alone, L ms latency`: one thread again, the emulator answering after L ms (a
  twentieth of `--reads`). On a virtual machine a thread woken after a long idle wait is
  charged for the wake-up: here a bare `time.sleep(0.1)` costs ~130 µs of thread CPU.
- `read, T reader threads`: T threads reading at once with the emulator's latency switched
  on (so reads overlap, as in a pass); the process's CPU per read.
- `hub, T in flight`: `ReadOnlyClient.read` T at once, each in a greenlet on one
  `reconciler.hub.Hub`, as a fleet pass reads now (issue 17, seventh session).
- `event loop, T in flight`: the same reads kept T at once by one thread on non-blocking
  sockets, each answer parsed to a `Live`, but with a bare HTTP parse and none of the
  client's checks, retries or redaction: the floor under the hub's figure.

The emulator runs in its own process; only this process's CPU is counted. Figures are
microseconds of CPU per read, the median of `--repeat` runs. A diagnostic, not a goal: it
is not one of `make bench`'s bench_*.py scripts.

    .venv/bin/python bench/probe_request_cost.py [--reads 2000] [--threads 8 64]
        [--latency-ms 20] [--repeat 3]
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import selectors
import socket
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from _common import bench_document, median, print_json_line, print_table, site_name
from bench_fleet_scan import KEY_ENV, KEY_VALUE, create_fleet

from emulator.embedded import RunningEmulator, start_emulator
from reconciler import hub as hubs
from reconciler.client import ClientConfig, ReadOnlyClient
from reconciler.live import live_from_api
from reconciler.model import Desired
from reconciler.spec import load_text


def _bare_request(emu: RunningEmulator) -> tuple[tuple[str, int], bytes]:
    """Where to send, and the bytes of, the read's GET for the bench's one site."""
    url = urlsplit(emu.url_template.replace("{site}", site_name(0)))
    target = url.path.rstrip("/") + "/brightback_integration"
    request = (
        f"GET {target} HTTP/1.1\r\nHost: {url.netloc}\r\n"
        f"Authorization: Basic {base64.b64encode(f'{KEY_VALUE}:'.encode()).decode()}\r\n"
        "Accept-Encoding: identity\r\n\r\n"
    ).encode()
    return (url.hostname or "127.0.0.1", url.port or 80), request


def _answer_end(data: bytes | bytearray) -> int:
    """Where the first whole answer in `data` ends (head and Content-Length body), or -1."""
    head_end = data.find(b"\r\n\r\n")
    if head_end < 0:
        return -1
    length = next(
        int(line.split(b":", 1)[1])
        for line in bytes(data[:head_end]).split(b"\r\n")
        if line.lower().startswith(b"content-length:")
    )
    end = head_end + 4 + length
    return end if len(data) >= end else -1


def _bare_reads(emu: RunningEmulator, reads: int) -> float:
    """CPU seconds (this thread) of `reads` GETs on a bare socket."""
    address, request = _bare_request(emu)
    with socket.create_connection(address) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.settimeout(30)
        started = time.thread_time()
        for _ in range(reads):
            sock.sendall(request)
            data = b""
            while _answer_end(data) < 0:
                data += sock.recv(65536)
        return time.thread_time() - started


def _event_loop_reads(emu: RunningEmulator, in_flight: int, reads: int) -> float:
    """CPU seconds (this process) of `reads` GETs kept `in_flight` at once by one thread on
    non-blocking sockets (`selectors`), each answer's JSON turned into a `Live`: the design
    a thread per read would give way to, without the client's checks and retries."""
    address, request = _bare_request(emu)
    selector = selectors.DefaultSelector()
    buffers: dict[socket.socket, bytearray] = {}
    for _ in range(in_flight):
        sock = socket.create_connection(address)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.setblocking(False)
        buffers[sock] = bytearray()
        selector.register(sock, selectors.EVENT_READ)
    started = time.process_time()
    sent = done = 0
    for sock in buffers:
        sock.send(request)  # a few hundred bytes: a fresh socket's buffer takes them whole
        sent += 1
    while done < sent:
        for key, _ in selector.select(30):
            sock = key.fileobj  # type: ignore[assignment]
            buffer = buffers[sock]
            buffer += sock.recv(65536)
            end = _answer_end(buffer)
            if end < 0:
                continue
            body = bytes(buffer[buffer.find(b"\r\n\r\n") + 4 : end])
            del buffer[:end]
            live_from_api(json.loads(body))
            done += 1
            if sent < reads:
                sock.send(request)
                sent += 1
    cpu = time.process_time() - started
    for sock in buffers:
        selector.unregister(sock)
        sock.close()
    return cpu


def _client_reads(client: ReadOnlyClient, desired: Desired, reads: int) -> float:
    """CPU seconds (this thread) of `reads` reads through the reconciler's client."""
    started = time.thread_time()
    for _ in range(reads):
        client.read(desired)
    return time.thread_time() - started


def _with_busy_thread(measure: Callable[[], float]) -> float:
    """`measure()` while another thread runs pure Python until it returns."""
    stop = threading.Event()

    def busy() -> None:
        total = 0
        while not stop.is_set():
            for i in range(1_000):
                total += i

    thread = threading.Thread(target=busy, daemon=True)
    thread.start()
    try:
        return measure()
    finally:
        stop.set()
        thread.join()


def _threaded_reads(client: ReadOnlyClient, desired: Desired, threads: int, reads: int) -> float:
    """Process CPU seconds of `reads` reads shared among `threads` threads."""
    each = max(1, reads // threads)
    gate = threading.Barrier(threads + 1)

    def reader() -> None:
        gate.wait()
        for _ in range(each):
            client.read(desired)

    workers = [threading.Thread(target=reader) for _ in range(threads)]
    for worker in workers:
        worker.start()
    started = time.process_time()
    gate.wait()
    for worker in workers:
        worker.join()
    return (time.process_time() - started) * reads / (each * threads)


def _hub_reads(client: ReadOnlyClient, desired: Desired, in_flight: int, reads: int) -> float:
    """Process CPU seconds of `reads` reads through the client, `in_flight` at once on a
    hub (one thread, a greenlet per read)."""
    hub = hubs.Hub()
    slots = hubs.Slots(hub, in_flight)

    def start() -> None:
        for _ in range(reads):
            slots.spawn(lambda: client.read(desired))

    started = time.process_time()
    hub.run(start)
    return time.process_time() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reads", type=int, default=2_000)
    parser.add_argument("--threads", type=int, nargs="+", default=[8, 64])
    parser.add_argument("--latency-ms", type=int, default=20, help="for the reads with latency")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    os.environ[KEY_ENV] = KEY_VALUE
    desired = load_text(bench_document(0, key_env=KEY_ENV, varied=False), "bench.yaml")[0]
    figures: dict[str, list[float]] = {}

    def note(name: str, cpu_s: float, reads: int = args.reads) -> None:
        figures.setdefault(name, []).append(cpu_s / reads * 1e6)

    with tempfile.TemporaryDirectory() as work, start_emulator(Path(work) / "e.sqlite") as emu:
        create_fleet(emu.admin, 1, live=True)
        client = ReadOnlyClient(ClientConfig(url_template=emu.url_template))
        most = max(args.threads)  # the hub keeps as many idle connections
        hub_client = ReadOnlyClient(
            ClientConfig(url_template=emu.url_template, max_connections=most)
        )
        try:
            client.read(desired)  # connect once before any clock starts
            few = max(1, args.reads // 5)
            for _ in range(args.repeat):
                note("bare socket", _bare_reads(emu, args.reads))
                note("read, alone", _client_reads(client, desired, args.reads))
                note(
                    "read, one busy thread beside",
                    _with_busy_thread(lambda: _client_reads(client, desired, few)),
                    few,
                )
            emu.admin.set_faults(global_={"latency_ms": args.latency_ms})
            slow = max(1, args.reads // 20)
            for _ in range(args.repeat):
                note(
                    f"read, alone, {args.latency_ms} ms latency",
                    _client_reads(client, desired, slow),
                    slow,
                )
                for threads in args.threads:
                    cpu = _threaded_reads(client, desired, threads, args.reads)
                    note(f"read, {threads} reader threads", cpu)
                most = max(args.threads)
                note(f"hub, {most} in flight", _hub_reads(hub_client, desired, most, args.reads))
                note(f"event loop, {most} in flight", _event_loop_reads(emu, most, args.reads))
        finally:
            client.close()
            hub_client.close()

    alone = median(figures["read, alone"])
    rows: list[dict[str, Any]] = [
        {
            "how": name,
            "CPU µs per read (median)": median(values),
            "runs": " ".join(f"{v:.0f}" for v in values),
            "÷ read alone": median(values) / alone,
        }
        for name, values in figures.items()
    ]
    print_table(rows, title=f"CPU of one read ({args.reads} reads a run, {sys.platform})")
    print_json_line(
        {
            "bench": "probe_request_cost",
            "reads": args.reads,
            "latency_ms": args.latency_ms,
            "cpu_us_per_read": {name: round(median(v), 1) for name, v in figures.items()},
            "goals": [],
        }
    )


if __name__ == "__main__":
    main()
