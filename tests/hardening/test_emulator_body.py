"""The emulator authenticates before it reads a body, and caps the body.

Before: the body was read whole before the key was checked, with no limit (a 20 MB form
took 765 MB and stalled every other request for seconds while it was parsed).
"""

from __future__ import annotations

import secrets
import threading
from pathlib import Path
from typing import Any

import httpx
import pytest

from emulator.api import MAX_BODY_BYTES, Api
from emulator.app import create_app
from emulator.store import Store
from reconciler.serving import BackgroundServer

KEY = "test_" + secrets.token_hex(12)  # made per run: no key-shaped literal in the repository


def post(emulator: Any, key: str, size: int) -> httpx.Response:
    url = emulator.url_template.replace("{site}", "acme") + "/brightback_integration/update"
    body = b"integrate_via=customer_portal&pad=" + b"x" * size
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    return httpx.post(url, content=body, headers=headers, auth=(key, ""), timeout=60)


def test_a_stranger_is_refused_before_the_body_is_read(emulator: Any) -> None:
    emulator.admin.create_site("acme", "ops@acme.example", KEY)
    answer = post(emulator, "test_" + secrets.token_hex(12), 20 * 1024 * 1024)
    assert answer.status_code == 401
    assert answer.json()["api_error_code"] == "api_authentication_failed"


def test_a_body_over_the_cap_is_refused_unparsed(emulator: Any) -> None:
    emulator.admin.create_site("acme", "ops@acme.example", KEY)
    answer = post(emulator, KEY, MAX_BODY_BYTES + 1)
    assert answer.status_code == 413
    assert answer.json()["error_code"] == "request_too_large"
    assert post(emulator, KEY, 10).status_code != 413  # an ordinary form still works


def test_a_large_form_is_parsed_off_the_event_loop(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A 64 KiB form of many pairs costs tens of milliseconds to parse; on the event loop
    every other request waited for it. Here the parse is held open until a GET sent
    meanwhile has its answer: on the loop, that GET could never be answered first."""
    store = Store(tmp_path / "emulator.sqlite3")
    with store.transaction() as conn:
        store.create_sites(conn, [{"site": "acme", "email": "ops@acme.example", "api_key": KEY}])
    parsing, answered = threading.Event(), threading.Event()
    seen: list[bool] = []
    real_form = Api.form

    def held_form(payload: bytes) -> dict[str, str]:
        if len(payload) > 1024:
            parsing.set()
            seen.append(answered.wait(timeout=30))  # a bound for the failing case only
        return real_form(payload)

    monkeypatch.setattr(Api, "form", staticmethod(held_form))
    server = BackgroundServer(create_app(store, "admin-token"), "127.0.0.1", 0, name="emu")
    base = f"{server.url.rstrip('/')}/sites/acme/api/v2"
    body = b"&".join(b"k%d=v" % i for i in range(8000))[: MAX_BODY_BYTES - 64]
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    try:
        with httpx.Client(timeout=60, auth=(KEY, "")) as client:
            poster = threading.Thread(
                target=client.post,
                args=(f"{base}/brightback_integration/update",),
                kwargs={"content": body, "headers": headers},
            )
            poster.start()
            assert parsing.wait(timeout=60)
            try:  # while the form is being parsed
                got = client.get(f"{base}/brightback_integration", timeout=15)
                if got.status_code == 200:
                    answered.set()
            except httpx.TimeoutException:
                pass  # the loop is held by the parse: `seen` says so
            poster.join()
    finally:
        server.stop()
        store.close()
    assert seen == [True]
