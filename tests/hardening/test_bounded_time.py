"""A pass takes bounded time: a deadline, DNS failures that fail at once, true counts.

Before: a blackholed or DNS-failing API took ~35 s a site at --timeout 2 (285 s for 1,000
DNS-failing sites), and messages said "5 attempts" when read_patiently had made 15.
"""

from __future__ import annotations

import json
import secrets
import socket
import time
from typing import Any

import pytest

from reconciler.apply import read_patiently
from reconciler.client import Client, ClientConfig, RetryPolicy
from reconciler.errors import TransportError
from tests.engine._builders import desired
from tests.engine.conftest import Fleet, document
from tests.fleet._stored import stored
from tests.hardening._hostile import Answer, hostile_peer

KEY = "test_" + secrets.token_hex(12)  # made per run: no key-shaped literal in the repository


def client(template: str, sleeps: list[float], attempts: int = 5) -> Client:
    config = ClientConfig(
        url_template=template, timeout=2, retry=RetryPolicy(max_attempts=attempts)
    )
    return Client(config, sleep=sleeps.append)


def test_a_name_that_does_not_resolve_fails_at_once_without_retries(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ACME_KEY", KEY)
    sleeps: list[float] = []
    template = "https://{site}.brightback-gitops.invalid/api/v2"
    with client(template, sleeps) as api, pytest.raises(TransportError) as caught:
        read_patiently(api, desired("acme"))
    assert sleeps == []  # no backoff, no second round
    assert not caught.value.retryable
    assert "host name does not resolve after 1 attempt " in str(caught.value)


def test_the_message_counts_every_attempt_of_every_round(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ACME_KEY", KEY)
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]  # closed when the block ends: connection refused
    sleeps: list[float] = []
    template = f"http://127.0.0.1:{port}/{{site}}"
    with client(template, sleeps, attempts=2) as api, pytest.raises(TransportError) as caught:
        read_patiently(api, desired("acme"), rounds=3)
    assert caught.value.attempts == 6
    assert "connection refused or unreachable after 6 attempts" in str(caught.value)


def slow_503(_path: str) -> Answer:
    time.sleep(0.3)
    return 503, {"Content-Type": "application/json"}, b"{}"


def test_a_peer_that_never_answers_costs_one_round_not_three(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A blackholed API (connections accepted, nothing ever answered) cost three full
    retry budgets per site: 46 s at --timeout 2, ~7.5 minutes at the default. A round in
    which every attempt timed out says the peer is silent; another round cannot help."""
    monkeypatch.setenv("ACME_KEY", KEY)
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(16)  # the kernel completes the handshakes; nobody ever reads
        template = f"http://127.0.0.1:{silent.getsockname()[1]}/{{site}}"
        config = ClientConfig(url_template=template, timeout=0.2, retry=RetryPolicy(max_attempts=2))
        sleeps: list[float] = []
        with Client(config, sleep=sleeps.append) as api, pytest.raises(TransportError) as caught:
            read_patiently(api, desired("acme"), rounds=3)
    assert caught.value.attempts == 2
    assert "timed out" in str(caught.value) and "after 2 attempts" in str(caught.value)


@pytest.mark.e2e
def test_pass_timeout_reports_sites_not_reached_and_stops_retries_in_flight(
    fleet: Fleet,
) -> None:
    sites = [f"slow{i}" for i in range(6)]
    with hostile_peer() as peer:
        for site in sites:
            peer.answers[site] = slow_503
            fleet.env[f"{site.upper()}_CHARGEBEE_API_KEY"] = KEY
        fleet.write("sites.yaml", "---\n".join(document(s) for s in sites))

        result = fleet.cli(
            "reconcile", "sites.yaml", "--state-dir", "state", "--format", "json",
            "--concurrency", "1", "--pass-timeout", "1s",
            env={"BRIGHTBACK_API_URL": peer.url_template},
        )  # fmt: skip

    assert result.code == 1, result.stderr
    report: dict[str, Any] = json.loads(result.stdout)
    reasons = {s["name"]: s["conditions"][0]["reason"] for s in report["sites"]}
    not_reached = sorted(n for n, r in reasons.items() if r == "not_reached")
    assert not_reached and report["fleet"]["not_reached"] == not_reached
    assert len(not_reached) >= 4  # one site at a time, each needing ~4 s of retries
    assert any("pass timeout:" in n and "not reached within 1s" in n for n in report["notes"])
    cut = [s for s in report["sites"] if "pass deadline" in (s.get("error") or "")]
    assert cut, report["sites"]  # the site in flight stopped retrying at the deadline
    state = stored(fleet)  # whichever store the fleet runs on
    assert all(state.sites[s].failures == 0 for s in not_reached if s in state.sites)


def always_503(_path: str) -> Answer:
    return 503, {"Content-Type": "application/json"}, b"{}"


@pytest.mark.e2e
@pytest.mark.parametrize("log_format", ["text", "json"])
def test_retry_lines_reach_stderr_and_the_json_log(fleet: Fleet, log_format: str) -> None:
    with hostile_peer() as peer:
        peer.answers["flaky"] = always_503
        fleet.env["FLAKY_CHARGEBEE_API_KEY"] = KEY
        fleet.write("sites.yaml", document("flaky"))
        result = fleet.cli(
            "reconcile", "sites.yaml", "--state-dir", "state", "--log-format", log_format,
            env={"BRIGHTBACK_API_URL": peer.url_template},
        )  # fmt: skip
    retries = [line for line in result.stderr.splitlines() if "HTTP 503, retry 1/4" in line]
    assert retries, result.stderr
    if log_format == "json":
        assert json.loads(retries[0])["logger"] == "brightback.client"
