"""What one API read costs the reconciler in CPU, and how much of it is the GIL (issue 17).

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
- `read, T reader threads`: T threads reading at once with the emulator's latency switched
  on (so reads overlap, as in a pass); the process's CPU per read.

The emulator runs in its own process; only this process's CPU is counted. Figures are
microseconds of CPU per read, the median of `--repeat` runs. A diagnostic, not a goal: it
is not one of `make bench`'s bench_*.py scripts.

    .venv/bin/python bench/probe_request_cost.py [--reads 2000] [--threads 8 64]
        [--latency-ms 20] [--repeat 3]
"""

from __future__ import annotations

import argparse
import base64
import os
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
from reconciler.client import ClientConfig, ReadOnlyClient
from reconciler.model import Desired
from reconciler.spec import load_text


def _bare_reads(emu: RunningEmulator, reads: int) -> float:
    """CPU seconds (this thread) of `reads` GETs on a bare socket."""
    url = urlsplit(emu.url_template.replace("{site}", site_name(0)))
    target = url.path.rstrip("/") + "/brightback_integration"
    request = (
        f"GET {target} HTTP/1.1\r\nHost: {url.netloc}\r\n"
        f"Authorization: Basic {base64.b64encode(f'{KEY_VALUE}:'.encode()).decode()}\r\n"
        "Accept-Encoding: identity\r\n\r\n"
    ).encode()
    with socket.create_connection((url.hostname or "127.0.0.1", url.port or 80)) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.settimeout(30)
        started = time.thread_time()
        for _ in range(reads):
            sock.sendall(request)
            data = b""
            while b"\r\n\r\n" not in data:
                data += sock.recv(65536)
            head, _, body = data.partition(b"\r\n\r\n")
            length = next(
                int(line.split(b":", 1)[1])
                for line in head.split(b"\r\n")
                if line.lower().startswith(b"content-length:")
            )
            while len(body) < length:
                body += sock.recv(65536)
        return time.thread_time() - started


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reads", type=int, default=2_000)
    parser.add_argument("--threads", type=int, nargs="+", default=[8, 64])
    parser.add_argument("--latency-ms", type=int, default=20, help="for the threaded reads")
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
            for _ in range(args.repeat):
                for threads in args.threads:
                    cpu = _threaded_reads(client, desired, threads, args.reads)
                    note(f"read, {threads} reader threads", cpu)
        finally:
            client.close()

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
            "latency_ms_threaded": args.latency_ms,
            "cpu_us_per_read": {name: round(median(v), 1) for name, v in figures.items()},
            "goals": [],
        }
    )


if __name__ == "__main__":
    main()
