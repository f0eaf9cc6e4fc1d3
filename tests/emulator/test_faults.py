"""Injected faults, each observable in the request log: latency, 5xx, 429 with Retry-After,
timeouts, lost responses (the write commits, the answer never comes), per-site rate limits;
deterministic for a seed, per site or global, never on the admin routes."""

from __future__ import annotations

import httpx
import pytest

from emulator.embedded import EmulatorError

from .conftest import Site, SiteFactory, error_of

CONNECT = "/brightback_integration/connect"
FORM = {"brightback_site": "acme-bb", "access_level": "read_write"}


def last_fault(site: Site) -> str | None:
    fault: str | None = site.emulator.admin.requests(site=site.name)[-1]["fault"]
    return fault


def test_latency_is_logged_and_the_answer_still_comes(acme: Site) -> None:
    acme.emulator.admin.set_faults(sites={"acme": {"latency_ms": 20, "latency_jitter_ms": 10}})
    assert acme.get("/brightback_integration").status_code == 200
    assert last_fault(acme) == "latency"


def test_5xx_answers_in_chargebees_envelope_and_writes_nothing(acme: Site) -> None:
    acme.emulator.admin.set_faults(sites={"acme": {"error_rate": 1.0, "seed": 1}})
    answers = [acme.post(CONNECT, FORM, key=f"k{i}") for i in range(6)]
    assert {a.status_code for a in answers} <= {500, 503}
    assert {error_of(a)["type"] for a in answers} <= {"internal_error", "service_unavailable"}
    acme.emulator.admin.set_faults(global_={}, sites={})
    assert acme.state()["connection"]["status"] == "disconnected"
    faults = {r["fault"] for r in acme.emulator.admin.requests(site="acme")}
    assert faults <= {"error_500", "error_503"}
    retried = acme.post(CONNECT, FORM, key="k0")  # the failed attempt was not remembered
    assert retried.status_code == 200 and "chargebee-idempotency-replayed" not in retried.headers


def test_429_carries_retry_after(acme: Site) -> None:
    acme.emulator.admin.set_faults(sites={"acme": {"rate_429": 1.0, "retry_after_s": 3}})
    answer = acme.get("/brightback_integration")
    assert answer.status_code == 429 and answer.headers["retry-after"] == "3"
    body = error_of(answer)
    assert body["api_error_code"] == "api_request_limit_exceeded"
    assert body["message"].startswith("Sorry, access has been blocked temporarily")
    assert last_fault(acme) == "rate_429"


def test_timeouts_answer_504_after_the_wait(acme: Site) -> None:
    acme.emulator.admin.set_faults(sites={"acme": {"timeout_rate": 1.0, "timeout_s": 0.2}})
    answer = acme.get("/brightback_integration")
    assert answer.status_code == 504 and error_of(answer)["api_error_code"] == "gateway_timeout"
    assert last_fault(acme) == "timeout"


def test_a_client_giving_up_on_a_timeout_sees_a_read_timeout(acme: Site) -> None:
    acme.emulator.admin.set_faults(sites={"acme": {"timeout_rate": 1.0, "timeout_s": 1}})
    with pytest.raises(httpx.ReadTimeout):
        acme.http.get(acme.base + "/brightback_integration", timeout=0.2)


def test_a_lost_response_commits_the_write_and_the_retry_is_a_replay(acme: Site) -> None:
    acme.emulator.admin.set_faults(sites={"acme": {"lost_response_rate": 1.0}})
    with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
        acme.post(CONNECT, FORM, key="lost-1")
    acme.emulator.admin.set_faults(sites={})
    assert acme.state()["connection"]["status"] == "connected"  # committed all the same
    retry = acme.post(CONNECT, FORM, key="lost-1")
    assert retry.status_code == 200
    assert retry.headers["chargebee-idempotency-replayed"] == "true"
    log = acme.emulator.admin.requests(site="acme")
    assert [(r["status"], r["fault"], r["replayed"]) for r in log] == [
        (200, "lost_response", False),
        (200, None, True),
    ]
    assert acme.state()["api_keys_generated"] == 1


def test_the_rate_limit_is_a_token_bucket_per_site(make_site: SiteFactory) -> None:
    acme, globex = make_site("acme"), make_site("globex")
    acme.emulator.admin.set_faults(global_={"rate_limit_per_minute": 3, "retry_after_s": 20})
    statuses = [acme.get("/brightback_integration").status_code for _ in range(5)]
    assert statuses[:3] == [200, 200, 200] and statuses[3:] == [429, 429]
    assert last_fault(acme) == "rate_limit"
    assert globex.get("/brightback_integration").status_code == 200  # its own bucket


def test_the_same_seed_gives_the_same_faults(acme: Site) -> None:
    def run() -> list[int]:
        acme.emulator.admin.set_faults(sites={"acme": {"error_rate": 0.5, "seed": 42}})
        return [acme.get("/brightback_integration").status_code for _ in range(20)]

    first, second = run(), run()
    assert first == second
    assert 200 in first and {500, 503} & set(first)


def test_a_sites_fields_override_the_global_ones(make_site: SiteFactory) -> None:
    acme, globex = make_site("acme"), make_site("globex")
    acme.emulator.admin.set_faults(global_={"error_rate": 1.0}, sites={"acme": {"error_rate": 0}})
    assert acme.get("/brightback_integration").status_code == 200
    assert globex.get("/brightback_integration").status_code >= 500
    assert acme.emulator.admin.get_faults() == {
        "global": {"error_rate": 1.0},
        "sites": {"acme": {"error_rate": 0.0}},
    }


def test_admin_routes_are_never_faulted(acme: Site) -> None:
    acme.emulator.admin.set_faults(global_={"error_rate": 1.0, "lost_response_rate": 1.0})
    assert acme.state()["site"] == "acme"


@pytest.mark.parametrize(
    "config",
    [{"error_rate": 1.5}, {"error_rat": 0.1}, {"latency_ms": -1}, {"seed": "seven"}],
)
def test_impossible_fault_configs_are_refused(acme: Site, config: dict[str, object]) -> None:
    with pytest.raises(EmulatorError, match="400"):
        acme.emulator.admin.set_faults(global_=config)
    assert acme.emulator.admin.get_faults() == {"global": {}, "sites": {}}
