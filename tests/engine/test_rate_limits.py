"""Per-site rate limits by plan (emulator) and the client's pacing under them: after a
site's first 429 the client spaces its requests so that no second 429 comes, proven with
the emulator's request log. (At full scale: bench/bench_rate_limits.py.)"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from reconciler.apply import apply_site
from reconciler.client import Client, ClientConfig, RetryPolicy
from reconciler.pacing import Pacer

from ._builders import desired
from .conftest import KEYS_USED, env_name

SITES = [f"paced{n}" for n in range(4)]
PER_MINUTE = 150  # every Chargebee test site's limit, and the pace the client assumes
BURST = 2  # a small bucket so a five-request onboarding meets the limit at small scale


@pytest.fixture
def limited(emulator: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    for site in SITES:
        key = f"key-{site}-0123456789"
        KEYS_USED.add(key)
        email = f"billing@{site}.example"
        emulator.admin.create_site(site, email, key, plan="test")
        emulator.admin.create_account(email, brightback_sites=(f"{site}-bb",))
        emulator.admin.publish(f"{site}-bb", "customer_portal")
        monkeypatch.setenv(env_name(site), key)
    emulator.admin.set_settings(rate_limits={"test": PER_MINUTE}, rate_limit_burst=BURST)
    return emulator


def client_for(emulator: Any) -> Client:
    config = ClientConfig(
        url_template=emulator.url_template,
        retry=RetryPolicy(max_attempts=6),
        rate_limit_per_minute=PER_MINUTE,
    )
    return Client(config)


def statuses(emulator: Any, site: str) -> list[int]:
    return [int(r["status"]) for r in emulator.admin.requests(site=site)]


def test_the_emulator_limits_each_site_by_its_plan_with_retry_after(limited: Any) -> None:
    import httpx

    base = limited.url_template.format(site=SITES[0])
    with httpx.Client(auth=(f"key-{SITES[0]}-0123456789", ""), timeout=10) as http:
        answers = [http.get(base + "/brightback_integration") for _ in range(BURST + 1)]
    assert [a.status_code for a in answers] == [200] * BURST + [429]
    refused = answers[-1]
    assert refused.json()["api_error_code"] == "api_request_limit_exceeded"
    assert int(refused.headers["Retry-After"]) >= 1
    other = SITES[1]  # another site's budget is its own
    with httpx.Client(auth=(f"key-{other}-0123456789", ""), timeout=10) as http:
        assert http.get(limited.url_template.format(site=other) + "/brightback_integration")


def test_a_plan_without_a_limit_is_not_limited(limited: Any) -> None:
    limited.admin.set_settings(rate_limits={"enterprise": 3500}, rate_limit_burst=1)
    with client_for(limited) as client:
        for _ in range(5):
            client.read(desired(SITES[0], env=env_name(SITES[0]), brightback_site="x"))
    assert 429 not in statuses(limited, SITES[0])


def test_onboarding_sites_under_their_limit_meets_one_429_per_site_then_paces(
    limited: Any,
) -> None:
    """Each site's onboarding (a read and four writes) overruns a bucket of two: the client
    meets the limit once, then paces the site and gets no other 429."""
    with client_for(limited) as client, ThreadPoolExecutor(len(SITES)) as pool:
        results = list(
            pool.map(
                lambda site: apply_site(
                    desired(site, env=env_name(site), brightback_site=f"{site}-bb"), client
                ),
                SITES,
            )
        )
        paced = [client._session.pacer.paced(site) for site in SITES]
    assert all(r.ok and r.changed for r in results), [r.error for r in results]
    for site in SITES:
        seen = statuses(limited, site)
        assert seen.count(429) == 1, (site, seen)
        assert len(seen) >= 6  # read + 4 writes + the one retried
    assert all(paced)


class FakeTime:
    def __init__(self) -> None:
        self.now = 100.0
        self.slept: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def test_a_site_is_not_paced_until_it_answers_429() -> None:
    time = FakeTime()
    pacer = Pacer(150, clock=time.clock, sleep=time.sleep)
    for _ in range(50):
        assert pacer.before_request("acme") == 0.0
    assert time.slept == [] and not pacer.paced("acme")


def test_after_a_429_requests_are_spaced_under_the_smallest_plan() -> None:
    time = FakeTime()
    pacer = Pacer(150, clock=time.clock, sleep=time.sleep)
    pacer.rate_limited("acme", waiting_s=1.0)  # the caller waits the Retry-After
    time.now += 1.0
    start = time.now
    for _ in range(10):
        pacer.before_request("acme")
    # ten requests at no more than 150 * 0.9 a minute: 9 gaps of 60/135 s
    assert time.now - start == pytest.approx(9 * 60 / 135)
    assert pacer.rate_per_minute("acme") == pytest.approx(135)
    assert pacer.before_request("globex") == 0.0  # other sites are not slowed


def test_a_further_429_halves_the_rate_down_to_a_floor() -> None:
    time = FakeTime()
    pacer = Pacer(150, floor_per_minute=30, clock=time.clock, sleep=time.sleep)
    for _ in range(5):
        pacer.rate_limited("acme")
    assert pacer.rate_per_minute("acme") == pytest.approx(30)
    assert pacer.before_request("acme") == pytest.approx(2.0)  # a 429 empties the budget
