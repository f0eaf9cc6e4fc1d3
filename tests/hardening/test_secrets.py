"""Secrets in the edge cases: a peer that echoes the key, a password in --api-url, a key
file that is not a key file.

Before: an error message echoing the key was stored in state.json and last-report.json
and printed; `--api-url https://user:password@...` printed the password in two error
paths; apiKeyFromFile read /dev/zero (2.7 GB), hung on a FIFO and sent
/proc/self/environ as a key.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import secrets
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from reconciler import credentials
from reconciler.credentials import MAX_KEY_FILE_BYTES, ApiKey, redact, redact_bytes, resolve_api_key
from reconciler.errors import CredentialError
from reconciler.model import Credentials
from tests.engine.conftest import Fleet, document, leaks
from tests.hardening._hostile import Answer, hostile_peer, json_answer

KEY = "test_" + secrets.token_hex(12)  # made per run: no key-shaped literal in the repository
BASIC = base64.b64encode(f"{KEY}:".encode()).decode()


@pytest.mark.e2e
def test_a_peer_that_echoes_the_key_never_gets_it_stored_or_printed(fleet: Fleet) -> None:
    message = f"api key {KEY} is not valid (you sent Authorization: Basic {BASIC})"
    body = {"message": message, "type": "invalid_request", "param": KEY,
            "api_error_code": "api_authentication_failed", "http_status_code": 401}  # fmt: skip
    with hostile_peer() as peer:
        peer.answers["echo"] = json_answer(json.dumps(body).encode(), status=401)
        fleet.env["ECHO_CHARGEBEE_API_KEY"] = KEY
        fleet.write("sites.yaml", document("echo"))
        result = fleet.cli(
            "reconcile", "sites.yaml", "--state-dir", "state", "--format", "json",
            "--log-format", "json", env={"BRIGHTBACK_API_URL": peer.url_template},
        )  # fmt: skip
        text = fleet.cli("reconcile", "sites.yaml", "--state-dir", "state",
                         env={"BRIGHTBACK_API_URL": peer.url_template})  # fmt: skip

    assert result.code == 1
    report = json.loads(result.stdout)
    assert (
        "api key *** is not valid (you sent Authorization: Basic ***)"
        in report["sites"][0]["error"]
    )
    state = fleet.root / "state"
    written = [result.output, text.output]
    written += [p.read_text() for p in state.rglob("*.json")]
    assert [leaks(w, {KEY}) for w in written] == [[]] * len(written)


def test_redaction_covers_every_form_and_leaves_other_text_alone() -> None:
    ApiKey(KEY, reference="env ECHO_KEY")  # every key the process holds is known
    urlsafe = base64.urlsafe_b64encode(f"{KEY}:".encode()).decode().rstrip("=")
    text = f"{KEY} {BASIC} {urlsafe} key={KEY}, '{KEY}'. the site acme-live answered"
    assert redact(text) == "*** *** *** key=***, '***'. the site acme-live answered"
    assert redact("test_someotherkey0123456789") == "test_someotherkey0123456789"


def test_redaction_is_the_same_with_one_key_known_or_many(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With few keys known, text none of them occurs in is passed through after a
    substring search; with many, the token scans decide. Both replace the same tokens."""
    ApiKey(KEY, reference="env ECHO_KEY")
    urlsafe = base64.urlsafe_b64encode(f"{KEY}:".encode()).decode().rstrip("=")
    text = f'{{"a":"{KEY}","b":"{BASIC}","c":"{urlsafe}","d":"x{KEY}","e":"acme-live"}}'
    want = '{"a":"***","b":"***","c":"***","d":"x' + KEY + '","e":"acme-live"}'
    clean = '{"site":"acme-live","version":12345678,"mode":"customer_portal"}'
    results = []
    for limit in (1_000_000, 0):  # a process's first keys; a fleet with a key per site
        monkeypatch.setattr(credentials, "_FEW_FORMS", limit)
        ApiKey("test_" + secrets.token_hex(12), reference="env OTHER_KEY")  # re-decides
        assert (credentials._few_forms is not None) is (limit > 0)
        results.append((redact(text), redact_bytes(text.encode()), redact(clean)))
    assert results == [(want, want.encode(), clean)] * 2


@pytest.mark.e2e
@pytest.mark.parametrize(
    "url",
    [
        "https://admin:s3cretpassw0rd@example.com/api",  # no {site}
        "ftp://admin:s3cretpassw0rd@{site}.example.com/api",  # not http(s)
        "https://admin:s3cretpassw0rd@[::1/{site}",  # malformed IPv6
    ],
)
def test_a_password_in_api_url_is_never_printed(fleet: Fleet, url: str) -> None:
    fleet.write("sites.yaml", document("acme"))
    result = fleet.cli("plan", "sites.yaml", "--api-url", url)
    assert result.code != 0
    assert "s3cretpassw0rd" not in result.output
    assert "***@" in result.stderr and "Traceback" not in result.output


def key_from(path: Path | str) -> str:
    return resolve_api_key(Credentials(api_key_file=str(path))).reveal()


def test_a_device_is_not_a_key_file() -> None:
    with pytest.raises(CredentialError, match="/dev/zero is not a regular file"):
        key_from("/dev/zero")


def test_a_fifo_is_refused_without_waiting_for_a_writer(tmp_path: Path) -> None:
    fifo = tmp_path / "key"
    os.mkfifo(fifo)
    outcome: list[BaseException] = []

    def attempt() -> None:
        try:
            key_from(fifo)
        except BaseException as exc:
            outcome.append(exc)

    worker = threading.Thread(target=attempt, daemon=True)
    worker.start()
    worker.join(timeout=30)
    if worker.is_alive():  # the old code blocks in open() forever; free it
        with open(fifo, "w"):
            pass
        pytest.fail("reading a FIFO key file hung")
    assert isinstance(outcome[0], CredentialError) and "not a regular file" in str(outcome[0])


def test_proc_environ_and_big_files_are_not_key_files(tmp_path: Path) -> None:
    with pytest.raises(CredentialError, match="not a key file"):
        key_from("/proc/self/environ")
    big = tmp_path / "big"
    big.write_text("k" * (MAX_KEY_FILE_BYTES + 1))
    with pytest.raises(CredentialError, match=f"larger than {MAX_KEY_FILE_BYTES} bytes"):
        key_from(big)


def test_a_key_file_others_can_read_works_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "key"
    path.write_text(KEY + "\n")
    path.chmod(0o644)
    with caplog.at_level(logging.WARNING, logger="brightback.credentials"):
        assert key_from(path) == KEY
    assert "readable by every user" in caplog.text and KEY not in caplog.text
    private = tmp_path / "private"
    private.write_text(KEY)
    private.chmod(0o600)
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="brightback.credentials"):
        assert key_from(private) == KEY
    assert caplog.text == ""


ESCAPED_KEY = "".join(f"\\u{ord(c):04x}" for c in KEY)  # JSON-escaped letter by letter


def refusal(message: str) -> Callable[[str], Answer]:
    """A 401 whose message is `message` as raw JSON string text (escapes kept)."""
    body = (
        '{"message": "' + message + '", "type": "invalid_request", '
        '"api_error_code": "api_authentication_failed", "http_status_code": 401}'
    )
    return json_answer(body.encode(), status=401)


@pytest.mark.e2e
def test_export_prints_a_peers_error_neutralised_and_without_the_key(fleet: Fleet) -> None:
    """`export` printed the peer's error text as it came: an OSC 8 link and a colour
    sequence reached the terminal, and a key spelled with JSON escapes (which the
    client's byte-level redaction cannot see) was printed in the clear."""
    message = f"\\u001b]8;;http://evil\\u0007click\\u001b[31m key {ESCAPED_KEY} rejected"
    with hostile_peer() as peer:
        peer.answers["echo"] = refusal(message)
        fleet.env["ECHO_CHARGEBEE_API_KEY"] = KEY
        env = {"BRIGHTBACK_API_URL": peer.url_template}
        result = fleet.cli("export", "--site", "echo", env=env)

    assert result.code == 1
    assert "\\x1b]8;;http://evil\\x07click\\x1b[31m key *** rejected" in result.stderr
    assert "\x1b" not in result.output and "\x07" not in result.output
    assert leaks(result.output, {KEY}) == []


@pytest.mark.e2e
def test_a_key_echoed_with_json_escapes_is_never_stored_or_printed(fleet: Fleet) -> None:
    """Byte-level redaction of the answer cannot see `\\u0074est_...`; the decoded text
    used to carry the key into the report, the state and stdout."""
    with hostile_peer() as peer:
        peer.answers["echo"] = refusal(f"key {ESCAPED_KEY} rejected")
        fleet.env["ECHO_CHARGEBEE_API_KEY"] = KEY
        fleet.write("sites.yaml", document("echo"))
        result = fleet.cli("reconcile", "sites.yaml", "--state-dir", "state", "--format", "json",
                           env={"BRIGHTBACK_API_URL": peer.url_template})  # fmt: skip

    assert result.code == 1
    assert "key *** rejected" in json.loads(result.stdout)["sites"][0]["error"]
    written = [result.output] + [p.read_text() for p in (fleet.root / "state").rglob("*.json")]
    assert [leaks(w, {KEY}) for w in written] == [[]] * len(written)
