"""The status page and metrics servers under abuse: many clients, silent clients, HEAD,
a busy port, a reconciler short of file descriptors.

Before: the standard library's threaded server (backlog 5, a thread and a descriptor per
idle connection, no timeout): 200 concurrent GETs timed out by the dozen, and 125 idle
connections under `ulimit -n 128` made the reconciler fail on its own state file.
Timing figures are in bench/README.md (bench/bench_serve.py); these prove behaviour.
"""

from __future__ import annotations

import json
import os
import resource
import socket
import subprocess
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from reconciler import serving
from reconciler.fleet.liveness import Liveness
from reconciler.fleet.metrics import FleetMetrics
from reconciler.serving import ServeError
from reconciler.status_page import StatusServer, serve_status
from tests.engine.conftest import BRIGHTBACK, Fleet, document
from tests.fleet._stored import stored
from tests.fleet.test_reconcile_e2e import connected_site


@pytest.fixture
def server(tmp_path: Path) -> Iterator[StatusServer]:
    (tmp_path / "last-report.json").write_text(json.dumps({"command": "reconcile", "sites": []}))
    with serve_status(0, tmp_path) as running:
        yield running


def idle_connections(port: int, count: int) -> list[socket.socket]:
    return [socket.create_connection(("127.0.0.1", port), timeout=10) for _ in range(count)]


def closed_by_server(sock: socket.socket) -> bool:
    sock.settimeout(5)
    try:
        data = sock.recv(4096)
    except TimeoutError:
        return False
    except OSError:
        return True
    return data == b"" or data.startswith(b"HTTP/1.1 503")


def test_two_hundred_concurrent_gets_are_all_answered(server: StatusServer) -> None:
    limits = httpx.Limits(max_connections=200, max_keepalive_connections=0)
    with httpx.Client(limits=limits, timeout=60) as client, ThreadPoolExecutor(200) as pool:
        codes = list(pool.map(lambda _: client.get(server.url + "report.json"), range(200)))
    assert {c.status_code for c in codes} == {200}


def test_idle_connections_over_the_cap_are_closed_and_a_request_still_gets_in(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(serving, "connection_cap", lambda: 8)
    with serve_status(0, tmp_path) as running:
        idle = idle_connections(running.port, 30)
        time.sleep(serving.IDLE_GRACE_S + 0.5)  # idle long enough to be pushed out
        try:
            assert httpx.get(running.url + "healthz", timeout=10).status_code == 200
            closed = sum(closed_by_server(s) for s in idle)
        finally:
            for sock in idle:
                sock.close()
    assert closed >= 30 - 8  # the server never held more than its cap


def test_a_client_that_never_finishes_its_request_is_disconnected(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(serving, "HEADER_TIMEOUT_S", 0.3)
    with serve_status(0, tmp_path) as running:
        sock = socket.create_connection(("127.0.0.1", running.port), timeout=10)
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")  # and then nothing
        try:
            assert closed_by_server(sock)
        finally:
            sock.close()


def test_head_answers_headers_without_a_body(server: StatusServer) -> None:
    for path in ("", "healthz", "report.json"):
        response = httpx.head(server.url + path, timeout=10)
        assert response.status_code == 200, path
        assert response.content == b""
        assert int(response.headers["content-length"]) > 0
    assert "default-src 'none'" in httpx.head(server.url).headers["content-security-policy"]


def test_healthz_turns_unhealthy_when_no_pass_finished_in_three_intervals(tmp_path: Path) -> None:
    liveness = Liveness(interval_s=10, started_at=time.time() - 31)
    with serve_status(0, tmp_path, liveness=liveness) as running:
        stale = httpx.get(running.url + "healthz", timeout=10)
        liveness.pass_finished()
        fresh = httpx.get(running.url + "healthz", timeout=10)
    assert stale.status_code == 503
    assert stale.json()["status"] == "stale" and stale.json()["max_age_s"] == 30
    assert fresh.status_code == 200 and fresh.json()["status"] == "ok"


def test_metrics_are_served_with_head_and_a_busy_port_is_a_message() -> None:
    metrics = FleetMetrics()
    running = metrics.serve(0)
    try:
        response = httpx.get(f"http://127.0.0.1:{running.port}/metrics", timeout=10)
        assert response.status_code == 200 and "brightback_passes" in response.text
        assert httpx.head(f"http://127.0.0.1:{running.port}/metrics").status_code == 200
        with pytest.raises(ServeError, match=r"cannot listen on 127\.0\.0\.1:\d+: .*in use"):
            FleetMetrics().serve(running.port)
    finally:
        running.stop()


@pytest.mark.e2e
def test_a_busy_port_for_serve_is_a_message_not_a_traceback(fleet: Fleet) -> None:
    fleet.write("sites.yaml", document("acme"))
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        for flag in ("--serve", "--metrics-port"):
            result = fleet.cli("reconcile", "sites.yaml", "--state-dir", "state", flag, port)
            assert result.code == 1, result.output
            assert f"cannot listen on 127.0.0.1:{port}" in result.stderr
            assert "Traceback" not in result.output


def _low_fd_limit() -> None:
    resource.setrlimit(resource.RLIMIT_NOFILE, (128, 128))


@pytest.mark.e2e
def test_idle_connections_do_not_starve_the_reconciler_of_descriptors(fleet: Fleet) -> None:
    connected_site(fleet, "acme")
    fleet.write("sites.yaml", document("acme"))
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {**os.environ, "BRIGHTBACK_API_URL": fleet.emulator.url_template, **fleet.env}
    process = subprocess.Popen(
        [BRIGHTBACK, "reconcile", "sites.yaml", "--state-dir", "state", "--interval", "0.5s",
         "--passes", "6", "--serve", str(port), "--format", "json"],
        cwd=fleet.root, env=env, text=True, preexec_fn=_low_fd_limit,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    idle: list[socket.socket] = []
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and process.poll() is None:
            try:
                httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2)
                break
            except httpx.HTTPError:
                time.sleep(0.05)
        for _ in range(125):
            try:
                idle.append(socket.create_connection(("127.0.0.1", port), timeout=5))
            except OSError:
                break
        assert len(idle) == 125  # the old server stopped accepting at 39 (EMFILE)
        time.sleep(serving.IDLE_GRACE_S + 0.5)  # silent long enough to be pushed out
        # Answered by the page itself (ok, or stale if a loaded machine slowed a pass), not
        # turned away or left hanging.
        answer = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=10).json()
        assert answer["status"] in ("ok", "stale")
        _, stderr = process.communicate(timeout=120)
    finally:
        for sock in idle:
            sock.close()
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, stderr
    assert "Too many open files" not in stderr and "Traceback" not in stderr
    assert stored(fleet).passes == 6  # whichever store the fleet runs on
