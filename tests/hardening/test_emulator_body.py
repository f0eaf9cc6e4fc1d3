"""The emulator authenticates before it reads a body, and caps the body.

Before: the body was read whole before the key was checked, with no limit (a 20 MB form
took 765 MB and stalled every other request for seconds while it was parsed).
"""

from __future__ import annotations

import secrets
from typing import Any

import httpx

from emulator.api import MAX_BODY_BYTES

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
