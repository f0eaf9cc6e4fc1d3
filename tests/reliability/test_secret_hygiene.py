"""Secret hygiene: every command, every output and every file it leaves behind, searched
for the API keys in use (raw, base64 and base64 of the Basic-auth pair)."""

from __future__ import annotations

import http.server
import ssl
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from reconciler.client import ClientConfig, ReadOnlyClient
from reconciler.errors import TransportError
from tests.engine._builders import desired
from tests.engine.conftest import KEYS_USED, Fleet, document, leaks

pytestmark = pytest.mark.e2e


@pytest.fixture
def fleet(emulator: Any, tmp_path: Path, request: pytest.FixtureRequest) -> Fleet:
    return Fleet(emulator=emulator, root=tmp_path, test_id=request.node.nodeid)


def every_file_under(root: Path) -> Iterator[tuple[Path, str]]:
    for path in sorted(root.rglob("*")):
        if path.is_file():
            yield path, path.read_bytes().decode("utf-8", "replace")


def test_no_command_prints_or_stores_an_api_key(fleet: Fleet, tmp_path: Path) -> None:
    keys = [
        fleet.add_site("acme", published=[("acme-bb", "customer_portal")]),
        fleet.add_site("globex"),
        fleet.add_site("initech"),
    ]
    # One key comes from a file, one site has a wrong key (401), one is drifted later.
    key_file = tmp_path / "secrets" / "globex.key"
    key_file.parent.mkdir()
    key_file.write_text(keys[1] + "\n", encoding="utf-8")
    fleet.write("acme.yaml", document("acme"))
    fleet.write(
        "globex.yaml",
        document("globex").replace(
            "apiKeyFromEnv: GLOBEX_CHARGEBEE_API_KEY", f"apiKeyFromFile: {key_file}"
        ),
    )
    fleet.write("initech.yaml", document("initech"))
    wrong = {"INITECH_CHARGEBEE_API_KEY": "key-initech-WRONG-0123456789"}
    KEYS_USED.add(wrong["INITECH_CHARGEBEE_API_KEY"])
    state = tmp_path / "state"
    outputs = [
        fleet.cli("validate", "."),
        fleet.cli("validate", ".", "--format", "json"),
        fleet.cli("plan", ".", env=wrong),
        fleet.cli("plan", ".", "--format", "json", env=wrong),
        fleet.cli("plan", ".", "--format", "markdown", "--out", "plan.json", env=wrong),
        fleet.cli("apply", "plan.json", env=wrong),
        fleet.cli("apply", ".", "--format", "json", env=wrong),
        fleet.cli("reconcile", ".", "--once", "--state-dir", str(state), env=wrong),
        fleet.cli("reconcile", ".", "--once", "--format", "json", "--state-dir", str(state)),
        fleet.cli("export", "--site", "acme", "--api-url", fleet.emulator.url_template),
        fleet.cli("status", "--state-dir", str(state)),
        fleet.cli("status", "--state-dir", str(state), "--format", "json"),
    ]
    assert any(r.code == 1 and "initech" in r.output for r in outputs), "the 401 path ran"
    assert outputs[-4].code in (0, 2), outputs[-4].output
    for result in outputs:
        assert not leaks(result.output, KEYS_USED)
    files = list(every_file_under(tmp_path))
    assert any(p.name == "plan.json" for p, _ in files)
    assert any(p.is_relative_to(state) for p, _ in files), "the state dir was written"
    for path, text in files:
        if path == key_file:
            continue
        assert not leaks(text, KEYS_USED), f"API key found in {path}"


@pytest.fixture
def self_signed_server(tmp_path: Path) -> Iterator[int]:
    """An HTTPS server on loopback whose certificate nobody trusts."""
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            *("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"),
            *("-subj", "/CN=127.0.0.1", "-keyout", str(key), "-out", str(cert)),
        ],
        check=True,
        capture_output=True,
    )
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), http.server.BaseHTTPRequestHandler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield int(server.server_address[1])
    server.shutdown()


def test_the_client_verifies_tls_certificates(
    self_signed_server: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ACME_KEY", "key-acme-tls-0123456789")
    config = ClientConfig(url_template=f"https://127.0.0.1:{self_signed_server}/{{site}}/api/v2")
    config = config.with_options(timeout=5.0)
    with (
        ReadOnlyClient(config, sleep=lambda _: None) as client,
        pytest.raises(TransportError) as raised,
    ):
        client.read(desired("acme", env="ACME_KEY"))
    assert "certificate" in str(raised.value).lower() or "ssl" in str(raised.value).lower()
    assert "key-acme-tls" not in str(raised.value)
