"""Shard assignment and the merge of shard reports: pure, no server."""

from __future__ import annotations

import hashlib
import threading
from collections import Counter
from typing import Any

import pytest

from reconciler.fleet.safety import check_threshold
from reconciler.fleet.shard import Shard, shard_from, shard_of
from reconciler.fleet.sharding import fleet_decision
from reconciler.store import DirectoryStore, merge_reports


def test_every_site_belongs_to_exactly_one_shard() -> None:
    sites = [f"site-{n}" for n in range(1000)]
    shards = [Shard(i, 4) for i in range(4)]
    owners = Counter(sum(1 for s in shards if s.owns(site)) for site in sites)
    assert owners == {1: 1000}
    sizes = [sum(1 for site in sites if s.owns(site)) for s in shards]
    assert all(200 < size < 300 for size in sizes), sizes  # a hash, not a range split


def test_a_sites_shard_is_stable_across_processes_and_versions() -> None:
    """SHA-256 of the name, not Python's salted hash(): these values never change, so a
    restarted or upgraded shard keeps its sites (and a new document moves no other)."""
    assert [shard_of(s, 4) for s in ("acme", "globex", "initech", "umbrella")] == [0, 3, 3, 0]
    expected = int.from_bytes(hashlib.sha256(b"acme").digest()[:8], "big") % 7
    assert shard_of("acme", 7) == expected
    assert Shard(0, 1).owns("anything")


@pytest.mark.parametrize(
    ("flag", "count", "env", "expected"),
    [
        ("2/4", None, {}, Shard(2, 4)),
        (None, 4, {"JOB_COMPLETION_INDEX": "3"}, Shard(3, 4)),
        (None, None, {"JOB_COMPLETION_INDEX": "1", "BRIGHTBACK_SHARD_COUNT": "2"}, Shard(1, 2)),
        (None, None, {}, Shard(0, 1)),
        (None, None, {"JOB_COMPLETION_INDEX": "0"}, Shard(0, 1)),
    ],
)
def test_the_shard_comes_from_the_flag_or_the_indexed_job(
    flag: str | None, count: int | None, env: dict[str, str], expected: Shard
) -> None:
    assert shard_from(flag, count, env) == expected


@pytest.mark.parametrize(
    ("flag", "count", "env", "message"),
    [
        ("4/4", None, {}, "not in 0..3"),
        ("1-4", None, {}, "INDEX/COUNT"),
        ("1/4", 3, {}, "disagrees"),
        (None, None, {"JOB_COMPLETION_INDEX": "2"}, "no shard count"),
        (None, 0, {}, "at least 1"),
    ],
)
def test_a_bad_shard_is_a_usage_error_that_says_why(
    flag: str | None, count: int | None, env: dict[str, str], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        shard_from(flag, count, env)


def report(index: int, count: int, sites: list[str], **extra: Any) -> dict[str, Any]:
    refused = extra.pop("refused", False)
    return {
        "format": "brightback-gitops/report/v1",
        "command": "reconcile",
        "exit_code": extra.pop("exit_code", 0),
        "refused": refused,
        "notes": [f"note of shard {index}"],
        "summary": {"sites": len(sites), "in_sync": len(sites)},
        "sites": [{"name": s, "site": s, "status": "in_sync"} for s in sites],
        "fleet": {
            "pass": 3,
            "git": None,
            "safety": {
                "refused": refused,
                "destructive_sites": 6 if refused else 0,
                "total_sites": 40,
                "reason": "6 of 40 sites" if refused else None,
                "forced": False,
            },
            "orphans": [],
            "sites": {s: {"drift": []} for s in sites},
            "shard": {"index": index, "count": count, "run_id": "r1"},
        },
    }


def test_status_merges_the_shards_reports_and_names_the_missing_shard() -> None:
    merged = merge_reports(
        [report(2, 3, ["c"], exit_code=2), report(0, 3, ["b", "a"], exit_code=1, refused=True)]
    )
    assert merged is not None
    assert [s["name"] for s in merged["sites"]] == ["a", "b", "c"]
    assert merged["summary"] == {"sites": 3, "in_sync": 3}
    assert merged["exit_code"] == 1 and merged["refused"] is True
    assert merged["fleet"]["safety"]["refused"] is True
    assert merged["fleet"]["shards"] == {
        "count": 3,
        "merged": [0, 2],
        "missing": [1],
        "runs": ["r1"],
    }
    assert set(merged["fleet"]["sites"]) == {"a", "b", "c"}
    assert merge_reports([]) is None


def test_a_shard_alone_under_the_threshold_still_waits_for_the_fleet_count(
    tmp_path: Any,
) -> None:
    """Four shards with 2 destructive sites each in a 40-site fleet: each alone is 5%,
    together 20%; every shard with destructive steps refuses."""
    store = DirectoryStore(tmp_path)

    def judge(count: int) -> Any:
        return check_threshold(count, 40, max_percent=10.0)

    decisions: dict[int, Any] = {}

    def shard(index: int) -> None:
        decisions[index] = fleet_decision(
            store, "r1", Shard(index, 4), 2, judge, wait_s=60, stop=threading.Event()
        )

    threads = [threading.Thread(target=shard, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(d.refused and d.destructive_sites == 8 for d in decisions.values()), decisions


def test_a_shard_that_never_reports_makes_the_others_refuse(tmp_path: Any) -> None:
    store = DirectoryStore(tmp_path)
    decision = fleet_decision(
        store,
        "r2",
        Shard(0, 2),
        1,
        lambda n: check_threshold(n, 40),
        wait_s=0.3,
        stop=threading.Event(),
    )
    assert decision.refused
    assert "shard(s) 1 of run r2 did not publish" in str(decision.reason)


def test_a_shard_without_destructive_steps_does_not_wait(tmp_path: Any) -> None:
    store = DirectoryStore(tmp_path)
    decision = fleet_decision(
        store,
        "r3",
        Shard(0, 2),
        0,
        lambda n: check_threshold(n, 40),
        wait_s=3600,
        stop=threading.Event(),
    )
    assert not decision.refused
    assert store.shard_counts("r3", 2) == {0: 0}
