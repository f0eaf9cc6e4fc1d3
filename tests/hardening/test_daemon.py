"""`reconcile --interval` outlives a failing pass; only a damaged state file stops it.

Before: any exception in a pass (ENOSPC, EMFILE, a bad answer) ended the process with a
traceback, and the fleet went unreconciled until someone restarted it.
"""

from __future__ import annotations

import errno
import json
import threading
from typing import Any

import pytest
from prometheus_client import generate_latest

from reconciler.fleet.loop import failure_kind, run_loop
from reconciler.fleet.metrics import FleetMetrics
from reconciler.fleet.state import StateFileError
from tests.engine.conftest import Fleet, document
from tests.fleet.test_reconcile_e2e import connected_site


def json_lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


@pytest.mark.e2e
def test_a_pass_that_cannot_write_its_report_is_reported_and_retried(
    directory_fleet: Fleet,
) -> None:
    fleet = directory_fleet
    connected_site(fleet, "acme")
    fleet.write("sites.yaml", document("acme"))
    # A directory where the report goes: every atomic replace of it fails (EISDIR), a
    # real OS error like ENOSPC that root cannot bypass.
    (fleet.root / "state" / "last-report.json").mkdir(parents=True)

    result = fleet.cli(
        "reconcile", "sites.yaml", "--state-dir", "state", "--interval", "0.1s",
        "--jitter", "0", "--passes", "3", "--log-format", "json", "--format", "json",
    )  # fmt: skip

    failures = [e for e in json_lines(result.stderr) if e["message"].startswith("pass failed")]
    assert len(failures) == 3, result.stderr
    assert {e["reason"] for e in failures} == {"EISDIR"}
    assert all("retrying at the next interval" in e["message"] for e in failures)
    assert "Traceback" not in result.output
    assert result.code == 1
    state = json.loads((fleet.root / "state" / "state.json").read_text())
    assert state["passes"] == 3  # every pass ran, and recorded what it could


@pytest.mark.e2e
def test_a_damaged_state_file_stops_the_interval_loop_with_a_message(
    directory_fleet: Fleet,
) -> None:
    fleet = directory_fleet
    connected_site(fleet, "acme")
    fleet.write("sites.yaml", document("acme"))
    (fleet.root / "state").mkdir()
    (fleet.root / "state" / "state.json").write_text('{"format": 1}')

    result = fleet.cli(
        "reconcile", "sites.yaml", "--state-dir", "state", "--interval", "0.1s",
        "--passes", "3",
    )  # fmt: skip

    assert result.code == 1
    assert result.stderr.count("is unreadable") == 1
    assert "move it aside" in result.stderr and "Traceback" not in result.output


def test_the_loop_hands_failures_over_and_goes_on_but_not_fatal_ones() -> None:
    seen: list[str] = []
    outcomes: list[BaseException | int] = [OSError(errno.EMFILE, "Too many open files"), 0]

    def once() -> int:
        outcome = outcomes.pop(0)
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome

    def failed(exc: Exception) -> int:
        seen.append(failure_kind(exc))
        return 1

    stop = threading.Event()
    assert run_loop(once, interval=0.001, jitter=0, stop=stop, max_passes=2, on_failure=failed) == (
        0,
        2,
    )
    assert seen == ["EMFILE"]

    def damaged() -> int:
        raise StateFileError("state file is unreadable")

    with pytest.raises(StateFileError):
        run_loop(damaged, interval=0.001, jitter=0, stop=stop, on_failure=failed,
                 fatal=(StateFileError,))  # fmt: skip


def test_a_failed_pass_is_counted_in_metrics_by_a_bounded_kind() -> None:
    metrics = FleetMetrics()
    metrics.observe_failure(failure_kind(OSError(errno.ENOSPC, "No space left on device")))
    metrics.observe_failure(failure_kind(RecursionError("deep")))
    text = generate_latest(metrics.registry).decode()
    assert 'brightback_pass_failures_total{kind="ENOSPC"} 1.0' in text
    assert 'brightback_pass_failures_total{kind="exception"} 1.0' in text
    assert 'brightback_passes_total{result="failed"} 2.0' in text


def test_peer_supplied_error_codes_cannot_grow_the_metric_series() -> None:
    from reconciler.client import ClientStats
    from reconciler.report import RunReport

    metrics, stats = FleetMetrics(), ClientStats()
    stats.error("api_authentication_failed")
    for i in range(2_000):  # a peer answering a fresh code every time
        stats.error(f"random_code_{i}")
    stats.error("Not A Code {x}")
    metrics.observe_pass(RunReport("reconcile", ()), 0.1, 0, 0, stats)
    text = generate_latest(metrics.registry).decode()
    series = [line for line in text.splitlines() if line.startswith("brightback_api_errors_total")]
    assert len(series) <= 1 + 32 + 1  # known, the first 32 others, "other"
    assert 'brightback_api_errors_total{kind="api_authentication_failed"} 1.0' in text
    assert 'brightback_api_errors_total{kind="other"} 1969.0' in text


def test_the_clients_error_counters_stay_bounded_over_a_long_run() -> None:
    """The metric series were bounded, but ClientStats (and the metrics' copy of it) kept
    one counter per code a peer ever sent, for the life of an --interval daemon."""
    from reconciler.client import MAX_ERROR_KINDS_COUNTED, ClientStats

    stats = ClientStats()
    for i in range(5_000):
        stats.error(f"random_code_{i}_" + "x" * 200)
    errors = stats.snapshot()["errors"]
    assert len(errors) <= MAX_ERROR_KINDS_COUNTED + 1
    assert sum(errors.values()) == 5_000  # nothing lost, the rest counted as "other"
