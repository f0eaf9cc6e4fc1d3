"""Ordinary trouble ends with one line saying what to do, never a traceback: a 403, a 404
from a wrong --api-url, a busy port, a state directory that cannot be written. A
successful probe shows in the text output too."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.engine.conftest import BRIGHTBACK, Fleet, document

DOC = """apiVersion: brightback-gitops/v1alpha1
kind: BrightbackIntegration
metadata: {name: acme-live}
spec:
  site: acme
  credentials: {apiKeyFromEnv: ACME_KEY}
  connection: {state: disconnected}
"""


class _Forbidding(BaseHTTPRequestHandler):
    """A control plane that knows only /sites/acme/api/v2 and refuses the key there with
    Chargebee's 403 envelope; anything else is a plain 404 page, as a wrong URL gets."""

    def do_GET(self) -> None:
        if self.path.startswith("/sites/acme/api/v2/"):
            body = {
                "message": "Sorry, Operation not permitted",
                "type": "api_authorization_failed",
                "api_error_code": "api_authorization_failed",
                "error_code": "api_authorization_failed",
                "http_status_code": 403,
            }
            self._answer(403, json.dumps(body).encode(), "application/json")
        else:
            self._answer(404, b"<html>Not Found</html>", "text/html")

    def _answer(self, status: int, body: bytes, kind: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def forbidding() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Forbidding)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def run(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "acme.yaml").write_text(DOC, encoding="utf-8")
    env = {**os.environ, "ACME_KEY": "key-acme-forbidden-0123", "NO_COLOR": "1"}
    env.pop("BRIGHTBACK_API_URL", None)
    return subprocess.run(
        [BRIGHTBACK, *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=120,
        check=False,
    )


def test_a_403_says_which_access_the_key_lacks(tmp_path: Path, forbidding: str) -> None:
    done = run(tmp_path, "plan", "acme.yaml", "--api-url", forbidding + "/sites/{site}/api/v2")
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    assert "api_authorization_failed (HTTP 403)" in done.stdout
    assert "this GET needs an API key with read access" in done.stdout
    assert "full-access (read-write) key" in done.stdout  # the way out


def test_a_404_from_a_wrong_api_url_names_the_url_and_its_template(
    tmp_path: Path, forbidding: str
) -> None:
    template = forbidding + "/wrong/{site}/v2"
    done = run(tmp_path, "plan", "acme.yaml", "--api-url", template)
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    assert f"URL {forbidding}/wrong/acme/v2, made from the API URL template {template}" in (
        done.stdout
    )
    assert "--api-url" in done.stdout


def busy_port() -> tuple[socket.socket, int]:
    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    holder.listen()
    return holder, holder.getsockname()[1]


@pytest.mark.parametrize(
    "command",
    [
        ("reconcile", "acme.yaml", "--once", "--metrics-port"),
        ("reconcile", "acme.yaml", "--once", "--serve"),
        ("status", "--serve"),
    ],
)
def test_a_busy_port_is_one_line_and_exit_1(tmp_path: Path, command: tuple[str, ...]) -> None:
    holder, port = busy_port()
    with holder:
        done = run(tmp_path, *command, str(port), "--state-dir", str(tmp_path / "st"))
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr
    assert f":{port}: Address already in use (another process is listening there)" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("where", ["under-a-file", "in-proc"])
def test_a_state_dir_that_cannot_be_created_is_one_line_and_exit_1(
    tmp_path: Path, where: str
) -> None:
    (tmp_path / "a-file").write_text("", encoding="utf-8")
    state = tmp_path / "a-file" / "state" if where == "under-a-file" else Path("/proc/no/state")
    done = run(tmp_path, "reconcile", "acme.yaml", "--once", "--state-dir", str(state))
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    assert f"--state-dir {state} cannot be created or written" in done.stderr


@pytest.mark.e2e
def test_a_successful_probe_shows_in_the_text_output(fleet: Fleet) -> None:
    import yaml

    fleet.add_site("acme", published=[("acme-bb", "retention_api")])
    doc = yaml.safe_load(document("acme", mode="retention_api"))
    doc["spec"]["probe"] = {"subscriptionId": "sub_test_1"}
    fleet.write("acme.yaml", yaml.safe_dump(doc, sort_keys=False))
    done = fleet.cli("reconcile", "acme.yaml", "--once", "--probe", "--state-dir", "st")
    assert done.code == 2, done.output
    assert "acme-live: probe ok: pre-cancel page " in done.stdout
