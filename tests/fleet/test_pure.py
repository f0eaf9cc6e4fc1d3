"""The fleet's pure parts, without a network: threshold, backoff, history, drift, state."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from reconciler.fleet.drift import OUTSIDE, ChangedBy, attribute
from reconciler.fleet.gitinfo import git_info
from reconciler.fleet.lock import Lease, SiteLocked, site_lock
from reconciler.fleet.safety import MIN_SITES_FOR_PERCENT, check_threshold
from reconciler.fleet.sites import wants_events
from reconciler.fleet.state import (
    PRETTY_MAX_SITES,
    FleetState,
    SiteState,
    StateStore,
    backoff_passes,
    write_json_atomic,
)
from reconciler.report.json_report import write_json


class TestSafetyThreshold:
    def test_no_destructive_step_is_always_allowed(self) -> None:
        assert check_threshold(0, 100, max_percent=0, max_sites=0).allowed

    def test_more_than_the_percentage_is_refused_with_a_reason(self) -> None:
        decision = check_threshold(11, 100, max_percent=10)
        assert decision.refused
        assert decision.reason is not None and "11 of 100" in decision.reason

    def test_exactly_the_percentage_is_allowed(self) -> None:
        assert check_threshold(10, 100, max_percent=10).allowed

    def test_percentage_ignored_below_the_minimum_fleet_size(self) -> None:
        small = MIN_SITES_FOR_PERCENT - 1
        assert check_threshold(1, small, max_percent=10).allowed

    def test_absolute_limit_applies_to_any_fleet_size(self) -> None:
        decision = check_threshold(2, 3, max_sites=1)
        assert decision.refused
        assert decision.reason is not None and "--max-destructive-sites 1" in decision.reason

    def test_force_overrides_both_limits(self) -> None:
        assert check_threshold(50, 50, max_percent=10, max_sites=1, force=True).allowed


class TestBackoff:
    def test_first_failure_is_retried_next_pass_then_spacing_doubles_up_to_the_cap(
        self,
    ) -> None:
        assert [backoff_passes(n, cap=8) for n in range(0, 7)] == [0, 0, 1, 3, 7, 8, 8]

    def test_failures_increment_and_success_resets(self) -> None:
        site = SiteState(site="acme", name="acme")
        site.record_failure(1, "boom", cap=8)
        assert site.eligible(2)
        site.record_failure(2, "boom", cap=8)
        assert (site.failures, site.eligible(3), site.eligible(4)) == (2, False, True)
        site.record_success(now=10.0)
        assert (site.failures, site.retry_after_pass, site.last_error) == (0, 0, None)
        assert site.eligible(5)

    def test_a_changed_spec_is_retried_at_once(self) -> None:
        site = SiteState(site="acme", name="acme", spec_hash="old")
        for pass_no in range(1, 5):
            site.record_failure(pass_no, "boom", cap=8)
        assert not site.eligible(5, "old")
        assert site.eligible(5, "new")


class TestDriftHistory:
    def test_one_drift_is_not_flapping(self) -> None:
        site = SiteState(site="acme", name="acme")
        site.record_drift(1, 100.0, ["spec.a"], "corrected")
        assert site.flapping() is None

    def test_drift_coming_back_is_flagged_with_count_and_since(self) -> None:
        site = SiteState(site="acme", name="acme")
        site.record_drift(3, 100.0, ["spec.a"], "corrected")
        site.record_drift(5, 200.0, ["spec.b"], "corrected")
        assert site.flapping() == {
            "count": 2,
            "since": 100.0,
            "since_pass": 3,
            "fields": ["spec.a", "spec.b"],
        }

    def test_history_is_bounded(self) -> None:
        site = SiteState(site="acme", name="acme")
        for n in range(50):
            site.record_drift(n, float(n), ["spec.a"], "corrected")
        assert len(site.history) == 20
        assert site.history[0]["pass"] == 30


def _event(
    number: int,
    reason_codes: bool,
    source: str = "admin_console",
    user: str | None = "ann@acme.example",
    mode: str = "customer_portal",
) -> dict[str, object]:
    """A Chargebee-shaped event: who, when, and the resource after the change."""
    event: dict[str, object] = {
        "id": f"ev_{number}",
        "occurred_at": 1000 + number,
        "source": source,
        "event_type": "cancellation_settings_updated",
        "api_version": "v2",
        "object": "event",
        "content": {
            "brightback_integration": {
                "integrate_via": mode,
                "cancellation_settings": {"reason_codes_enabled": reason_codes},
            }
        },
    }
    if user is not None:
        event["user"] = user
    return event


REASON_CODES = "spec.fallbackCancelExperience.reasonCodes"


class TestAttribution:
    def test_the_newest_event_whose_snapshot_changed_the_field_is_named_with_its_user(
        self,
    ) -> None:
        events = [
            _event(8, True, source="api", user=None, mode="retention_api"),  # field unchanged
            _event(7, True),  # the change: reason codes false -> true
            _event(6, False, source="api", user=None),
        ]
        found = attribute(REASON_CODES, events, last_seen=False)
        assert found == ChangedBy(
            "admin_console", "cancellation_settings_updated", 1007, "ev_7", "ann@acme.example"
        )
        assert found.describe() == (
            "via the admin console by ann@acme.example (cancellation_settings_updated)"
        )

    def test_the_oldest_event_is_compared_with_what_the_reconciler_last_saw(self) -> None:
        events = [_event(5, True)]
        assert attribute(REASON_CODES, events, last_seen=False).event_id == "ev_5"
        assert attribute(REASON_CODES, events, last_seen=True).outside  # no change shown

    def test_without_a_baseline_the_oldest_event_proves_nothing(self) -> None:
        assert attribute(REASON_CODES, [_event(5, True)]).outside

    def test_no_matching_event_says_changed_outside_this_tool(self) -> None:
        events = [_event(9, False, mode="retention_api"), _event(8, False)]
        found = attribute(REASON_CODES, events, last_seen=False)
        assert found.outside and found.source == OUTSIDE
        assert found.describe().startswith("outside this tool")
        assert attribute("spec.cancellationViaBrightback", events, False).outside

    def test_values_are_compared_normalised(self) -> None:
        events = [_event(3, True, mode=" retention_api "), _event(2, True, mode="retention_api")]
        assert attribute("spec.integrateVia", events, "retention_api").outside

    def test_events_are_asked_for_only_after_a_site_left_in_sync_changed(self) -> None:
        assert wants_events(8, in_sync_version=7)
        assert not wants_events(7, in_sync_version=7)  # the spec changed, not the site
        assert not wants_events(8, in_sync_version=None)  # never seen in sync

    def test_the_state_remembers_the_in_sync_version_only_when_in_sync(self) -> None:
        assert SiteState("acme", "a", last_version=4, in_sync=True).in_sync_version == 4
        assert SiteState("acme", "a", last_version=4, in_sync=False).in_sync_version is None
        round_trip = SiteState.from_dict(
            SiteState("acme", "a", last_version=4, in_sync=True).to_dict()
        )
        assert round_trip.in_sync_version == 4


class TestStateFile:
    def test_round_trip_and_no_temp_files_left(self, tmp_path: Path) -> None:
        store = StateStore(tmp_path / "state")
        state = FleetState(passes=3, writer={"pid": 1})
        state.sites["acme"] = SiteState(site="acme", name="acme-live", failures=2)
        with store.locked():
            store.save(state)
        loaded = store.load()
        assert loaded.passes == 3
        assert loaded.sites["acme"].failures == 2
        assert sorted(p.name for p in store.directory.iterdir()) == ["state.json", "state.lock"]

    def test_a_failed_write_keeps_the_old_file(self, tmp_path: Path) -> None:
        path = tmp_path / "f.json"
        write_json_atomic(path, {"a": 1})
        with pytest.raises(TypeError):
            write_json_atomic(path, {"a": object()})
        assert json.loads(path.read_text()) == {"a": 1}
        assert os.listdir(tmp_path) == ["f.json"]

    def test_streamed_compact_json_is_the_same_text_as_one_shot(self) -> None:
        site = {"b": [1, 2.5, None], "a": {"z": True, "y": 'é"\n'}, "c": ()}
        document = {
            "sites": [dict(site, n=n) for n in range(150)],
            "fleet": {"sites": {f"s{n}": site for n in range(100)}, "pass": 3},
            "notes": [],
            "x": {},
        }
        for sort_keys in (False, True):
            out = io.StringIO()
            write_json(document, out, sort_keys=sort_keys)
            one_shot = json.dumps(document, sort_keys=sort_keys, separators=(",", ":"))
            assert out.getvalue() == one_shot

    def test_a_big_fleet_state_is_written_compact_and_reads_back(self, tmp_path: Path) -> None:
        store = StateStore(tmp_path)
        state = FleetState(passes=1, writer={"pid": 1})
        for n in range(PRETTY_MAX_SITES + 1):
            state.sites[f"s{n}"] = SiteState(site=f"s{n}", name=f"n{n}", last_version=n)
        store.save(state)
        assert len(store.path.read_text().splitlines()) == 1
        assert store.load().sites["s7"].last_version == 7

    def test_missing_state_is_empty(self, tmp_path: Path) -> None:
        assert StateStore(tmp_path).load().sites == {}


class TestSiteLock:
    def test_second_holder_is_refused_and_told_who_holds_it(self, tmp_path: Path) -> None:
        with site_lock(tmp_path, "acme", 1):
            # a separate process, as a second reconciler would be
            code = (
                "import sys; from pathlib import Path\n"
                "from reconciler.fleet.lock import site_lock, SiteLocked\n"
                "try:\n"
                f"    with site_lock(Path({str(tmp_path)!r}), 'acme'): sys.exit(0)\n"
                "except SiteLocked as exc: print(exc); sys.exit(3)\n"
            )
            done = subprocess.run(
                [sys.executable, "-c", code],
                capture_output=True,
                text=True,
                check=False,
            )
            assert done.returncode == 3, done.stderr
            assert f"pid {os.getpid()}" in done.stdout

    def test_lock_is_free_again_after_release(self, tmp_path: Path) -> None:
        with site_lock(tmp_path, "acme"):
            pass
        with site_lock(tmp_path, "acme"):
            pass

    def test_a_first_holder_trusts_its_earlier_read(self, tmp_path: Path) -> None:
        with site_lock(tmp_path, "acme") as lease:
            assert not lease.applied_since(time.time() - 60)

    def test_a_release_after_our_read_means_the_read_may_be_stale(self, tmp_path: Path) -> None:
        read_at = time.time()
        with site_lock(tmp_path, "acme"):
            pass  # another reconciler applied the site after our read
        with site_lock(tmp_path, "acme") as lease:
            assert lease.applied_since(read_at)

    def test_a_release_long_before_our_read_is_no_reason_to_read_again(
        self, tmp_path: Path
    ) -> None:
        with site_lock(tmp_path, "acme"):
            pass
        with site_lock(tmp_path, "acme") as lease:
            assert not lease.applied_since(time.time() + 3600)

    def test_a_holder_that_died_mid_apply_means_the_read_may_be_stale(self) -> None:
        lease = Lease("acme", {"pid": 1, "host": "h", "since": 0.0})
        assert lease.applied_since(time.time())

    def test_other_sites_are_independent(self, tmp_path: Path) -> None:
        with site_lock(tmp_path, "acme"), site_lock(tmp_path, "globex"):
            pass
        assert SiteLocked("x", {}).site == "x"


class TestGitInfo:
    def test_commit_and_dirty_state_of_the_config_repository(self, tmp_path: Path) -> None:
        def git(*args: str) -> str:
            return subprocess.run(
                ["git", *args], cwd=tmp_path, capture_output=True, text=True, check=True
            ).stdout.strip()

        git("init", "-q")
        git("config", "user.email", "t@example.com")
        git("config", "user.name", "t")
        (tmp_path / "sites.yaml").write_text("a: 1\n")
        git("add", "sites.yaml")
        git("commit", "-qm", "init")
        info = git_info([tmp_path / "sites.yaml"])
        assert info is not None
        assert (info.commit, info.dirty) == (git("rev-parse", "HEAD"), False)
        (tmp_path / "sites.yaml").write_text("a: 2\n")
        dirty = git_info([tmp_path])
        assert dirty is not None and dirty.dirty

    def test_outside_a_repository_there_is_no_git_info(self, tmp_path: Path) -> None:
        assert git_info([tmp_path]) is None


class TestLoop:
    def test_durations_and_jitter_parse(self) -> None:
        from reconciler.fleet.loop import parse_duration, parse_jitter

        assert [parse_duration(t) for t in ("10m", "30s", "1h", "0.2s", "45", "500ms")] == [
            600.0,
            30.0,
            3600.0,
            0.2,
            45.0,
            0.5,
        ]
        assert parse_jitter("10%") == pytest.approx(0.1)
        for bad in ("", "10x", "0s"):
            with pytest.raises(ValueError):
                parse_duration(bad)
        with pytest.raises(ValueError):
            parse_jitter("100%")

    def test_wait_stays_within_the_jitter(self) -> None:
        from reconciler.fleet.loop import next_wait

        assert next_wait(100.0, 0.1, lambda lo, hi: lo) == pytest.approx(90.0)
        assert next_wait(100.0, 0.1, lambda lo, hi: hi) == pytest.approx(110.0)

    def test_loop_runs_the_asked_passes_and_a_stop_ends_it(self) -> None:
        import threading

        from reconciler.fleet.loop import run_loop

        stop = threading.Event()
        assert run_loop(lambda: 2, interval=0.0, jitter=0, stop=stop, max_passes=3) == (2, 3)

        calls: list[int] = []

        def once() -> int:
            calls.append(1)
            stop.set()  # as the SIGTERM handler does during a pass
            return 0

        # an hour's interval, yet the loop ends at once: the wait is the stop event
        assert run_loop(once, interval=3600.0, jitter=0, stop=stop) == (0, 1)

    def test_once_runs_a_single_pass(self) -> None:
        import threading

        from reconciler.fleet.loop import run_loop

        assert run_loop(lambda: 1, interval=None, jitter=0, stop=threading.Event()) == (1, 1)


class TestProgressAndMetrics:
    def test_a_terminal_gets_a_bar_and_a_pipe_one_line_per_pass(self) -> None:
        import io

        from reconciler.fleet.progress import Progress

        for enabled in (True, False):
            stream = io.StringIO()
            with Progress(stream, enabled=enabled) as progress:
                progress.start("reconcile")
                progress.tick("acme")
                progress.tick("globex")
                progress.finish("pass 1: 2 sites")
            assert progress.done == 2
            lines = stream.getvalue()
            assert lines.endswith("pass 1: 2 sites\n")
            assert ("\x1b[" in lines) is enabled  # control characters only on a terminal

    def test_metrics_count_passes_sites_drift_and_api_deltas(self) -> None:
        from prometheus_client import generate_latest

        from reconciler.client import ClientStats
        from reconciler.fleet.metrics import FleetMetrics
        from reconciler.plan import Condition, ConditionType
        from reconciler.report import RunReport, SiteReport, SiteStatus

        metrics = FleetMetrics()
        stats = ClientStats()
        stats.request("GET")
        stats.error("api_authentication_failed")
        failed = SiteReport(
            "acme",
            "acme",
            SiteStatus.FAILED,
            None,
            None,
            conditions=(Condition(ConditionType.FAILED, "credential_error", "no key"),),
        )
        metrics.observe_pass(RunReport("reconcile", (failed,)), 1.5, 3, 2, stats)
        first = generate_latest(metrics.registry).decode()
        assert 'brightback_site_conditions{reason="credential_error",type="Failed"} 1.0' in first
        stats.request("GET")
        metrics.observe_pass(RunReport("reconcile", ()), 0.5, 0, 0, stats)
        text = generate_latest(metrics.registry).decode()
        assert 'brightback_passes_total{result="1"} 1.0' in text
        assert 'brightback_passes_total{result="0"} 1.0' in text
        assert "credential_error" not in text  # gone from the fleet, gone from the gauge
        assert 'brightback_api_requests_total{method="GET"} 2.0' in text
        assert 'brightback_api_errors_total{kind="api_authentication_failed"} 1.0' in text
        assert "brightback_drift_found_total 3.0" in text
        assert "brightback_pass_duration_seconds 0.5" in text


def test_an_unreadable_state_file_stops_the_run_instead_of_forgetting_the_fleet(
    tmp_path: Path,
) -> None:
    from reconciler.fleet.state import StateFileError

    store = StateStore(tmp_path)
    store.path.write_text("{not json")
    with pytest.raises(StateFileError, match="move it aside"):
        store.load()
    store.path.write_text('{"format": "something/else"}')
    with pytest.raises(StateFileError):
        store.load()


def test_state_keeps_the_last_spec_as_text_and_writes_it_as_a_document() -> None:
    """A parsed spec costs 2.5x its JSON text; 10k sites of state must stay small."""
    from reconciler.fleet.state import spec_hash

    document = {"apiVersion": "brightback-gitops/v1alpha1", "spec": {"site": "acme", "b": [1]}}
    loaded = SiteState.from_dict({"site": "acme", "name": "acme-live", "spec": document})
    assert isinstance(loaded.spec_json, str) and loaded.spec == document
    assert loaded.to_dict()["spec"] == document
    assert spec_hash(loaded.spec_json) == spec_hash(document)
