"""Writes are safe to retry and safe to race: a replayed idempotency key answers the first
answer byte-for-byte and changes nothing, a reused key is refused, a stale version is
refused, and concurrent writers on one site are serialized."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from emulator.embedded import EmulatorError

from .conftest import Site, SiteFactory, error_of

CONNECT = "/brightback_integration/connect"
FORM = {"brightback_site": "acme-bb", "access_level": "read_write"}


def test_a_replay_returns_the_first_answer_byte_for_byte_and_changes_nothing(acme: Site) -> None:
    first = acme.post(CONNECT, FORM, key="idem-1")
    state = acme.state()
    again = acme.post(CONNECT, FORM, key="idem-1")
    assert (again.status_code, again.content) == (first.status_code, first.content)
    assert again.headers["chargebee-idempotency-replayed"] == "true"
    assert "chargebee-idempotency-replayed" not in first.headers
    assert acme.state() == state and state["api_keys_generated"] == 1
    log = acme.emulator.admin.requests(site="acme")
    assert [r["replayed"] for r in log] == [False, True]


def test_a_refusal_is_replayed_too(acme: Site) -> None:
    form = {"brightback_site": "elsewhere", "access_level": "read_write"}
    first = acme.post(CONNECT, form, key="idem-2")
    acme.emulator.admin.add_brightback_site("billing@acme.example", "elsewhere")
    again = acme.post(CONNECT, form, key="idem-2")
    assert again.status_code == 400 and again.content == first.content
    assert acme.state()["connection"]["status"] == "disconnected"


def test_the_same_key_with_another_route_or_body_is_refused(acme: Site) -> None:
    acme.post(CONNECT, FORM, key="idem-3")
    version = acme.version()
    other_body = acme.post(CONNECT, {**FORM, "brightback_site": "other"}, key="idem-3")
    other_route = acme.post("/cancellation_settings/update", {"reason_codes_enabled": False},
                            key="idem-3")  # fmt: skip
    for answer in (other_body, other_route):
        body = error_of(answer)
        assert answer.status_code == 400 and body["type"] == "invalid_request"
        assert body["api_error_code"] == "idempotency_key_reused"
    assert acme.version() == version


def test_keys_are_scoped_to_their_site(make_site: SiteFactory, acme: Site) -> None:
    globex = make_site("globex")
    assert acme.post(CONNECT, FORM, key="shared").status_code == 200
    answer = globex.post(CONNECT, {**FORM, "brightback_site": "globex-bb"}, key="shared")
    assert answer.status_code == 200 and "chargebee-idempotency-replayed" not in answer.headers


def test_parameter_order_does_not_make_a_different_request(acme: Site) -> None:
    headers = {
        "content-type": "application/x-www-form-urlencoded",
        "chargebee-idempotency-key": "k",
    }
    url = acme.base + CONNECT
    first = acme.http.post(url, content=b"brightback_site=acme-bb&access_level=read_write",
                           headers=headers)  # fmt: skip
    again = acme.http.post(url, content=b"access_level=read_write&brightback_site=acme-bb",
                           headers=headers)  # fmt: skip
    assert again.headers.get("chargebee-idempotency-replayed") == "true"
    assert again.content == first.content


def test_a_stale_expected_version_is_refused_and_changes_nothing(acme: Site) -> None:
    version = acme.version()
    answer = acme.post(CONNECT, {**FORM, "expected_version": version - 1})
    body = error_of(answer)
    assert answer.status_code == 409 and body["api_error_code"] == "stale_version"
    assert str(version) in body["message"]
    assert acme.version() == version
    ok = acme.post(CONNECT, {**FORM, "expected_version": version})
    assert ok.status_code == 200
    assert ok.json()["brightback_integration"]["version"] == version + 1


def test_a_non_integer_expected_version_is_a_400(acme: Site) -> None:
    answer = acme.post(CONNECT, {**FORM, "expected_version": "seven"})
    assert answer.status_code == 400 and error_of(answer)["param"] == "expected_version"


def test_racing_writers_with_one_version_produce_exactly_one_write(acme: Site) -> None:
    version = acme.version()
    form = {**FORM, "expected_version": version}
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda _: acme.post(CONNECT, form), range(16)))
    statuses = sorted(a.status_code for a in answers)
    assert statuses == [200] + [409] * 15
    assert acme.state()["api_keys_generated"] == 1 and acme.version() == version + 1


def test_racing_replays_of_one_key_write_once(acme: Site) -> None:
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda _: acme.post(CONNECT, FORM, key="race"), range(16)))
    assert {a.content for a in answers} == {answers[0].content}
    assert sum(1 for a in answers if "chargebee-idempotency-replayed" not in a.headers) == 1
    assert acme.state()["api_keys_generated"] == 1


def test_a_key_is_honoured_for_the_window_then_is_new_again(acme: Site) -> None:
    acme.emulator.admin.set_settings(idempotency_window_s=1)
    form = {"reason_codes_enabled": False}
    first = acme.post("/cancellation_settings/update", form, key="windowed")
    replay = acme.post("/cancellation_settings/update", form, key="windowed")
    assert replay.headers.get("chargebee-idempotency-replayed") == "true"
    assert replay.content == first.content
    time.sleep(1.2)  # let the (shortened) window pass; nothing timed is asserted
    late = acme.post("/cancellation_settings/update", form, key="windowed")
    assert late.status_code == 200 and "chargebee-idempotency-replayed" not in late.headers
    version = first.json()["brightback_integration"]["version"]
    assert late.json()["brightback_integration"]["version"] == version + 1  # a new write


def test_the_default_window_is_chargebees_thirty_minutes(acme: Site) -> None:
    settings = acme.emulator.admin.set_settings()
    assert settings["idempotency_window_s"] == 1800
    with pytest.raises(EmulatorError, match="400"):
        acme.emulator.admin.set_settings(idempotency_window_s=0)
    with pytest.raises(EmulatorError, match="400"):
        acme.emulator.admin.set_settings(rate_limits={"gold": 10})
