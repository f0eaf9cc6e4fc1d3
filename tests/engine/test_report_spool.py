"""A fleet pass's site reports kept on disk: read back in report order, same report bytes."""

from __future__ import annotations

import dataclasses
import io
import json
import random
from types import MappingProxyType

import pytest
from hypothesis import HealthCheck, given, settings

from reconciler.fleet.section import FleetSite
from reconciler.model import Desired
from reconciler.plan import plan
from reconciler.report import RunReport, SiteReport, SiteStatus
from reconciler.report.json_report import (
    PRETTY_MAX_SITES,
    report_to_dict,
    site_to_dict,
    write_document,
)
from reconciler.report.spool import SiteSpool, SpooledSite
from tests.planner._model import World
from tests.planner.test_plan_properties import desires, worlds

from .test_reports import applied_site, blocked_site, in_sync_site


def fleet_site(failures: int = 0) -> FleetSite:
    return FleetSite(
        drift=(), failures=failures, retry_after_pass=0, flapping=None, skipped=None, probe=None
    )


def spooled(reports: list[SpooledSite]) -> SiteSpool:
    spool = SiteSpool()
    for record in reports:
        spool.append(record)
    return spool


def test_reports_come_back_in_report_order_whatever_order_the_sites_finished_in() -> None:
    sites = [in_sync_site(f"site-{n:03d}") for n in range(40)] + [blocked_site("aaa-first")]
    finished = sites[:]
    random.Random(7).shuffle(finished)
    spool = spooled([SpooledSite(s, fleet_site(), {"team": s.name}) for s in finished])
    from_disk = RunReport("reconcile", spool.sites())
    in_memory = RunReport("reconcile", tuple(sites))
    assert [s.name for s in from_disk.sites] == [s.name for s in in_memory.sites]
    assert list(from_disk.sites) == list(in_memory.sites)
    assert from_disk.sites[0].name == "aaa-first" and from_disk.sites[-1] == in_memory.sites[-1]
    assert from_disk.sites[2:4] == list(in_memory.sites[2:4])
    assert from_disk.summary() == in_memory.summary()
    assert from_disk.exit_code == in_memory.exit_code == 1  # the blocked site


def test_a_big_spooled_report_prints_the_same_bytes_as_one_held_in_memory() -> None:
    sites = [in_sync_site(f"site-{n:04d}") for n in range(PRETTY_MAX_SITES + 20)]
    sites.append(applied_site())
    spool = spooled([SpooledSite(s) for s in reversed(sites)])
    printed: dict[str, str] = {}
    for label, report in (
        ("disk", RunReport("reconcile", spool.sites())),
        ("memory", RunReport("reconcile", tuple(sites))),
    ):
        out = io.StringIO()
        write_document(report_to_dict(report, lazy=True), out)
        printed[label] = out.getvalue()
    assert printed["disk"] == printed["memory"]
    summary = json.loads(printed["disk"])["summary"]
    assert summary["failed"] == 1 and summary["steps_applied"] == summary["steps_failed"] == 1


def test_the_summary_is_counted_as_sites_are_added_without_reading_them_back() -> None:
    sites = [in_sync_site(f"s{n}") for n in range(10)] + [applied_site()]
    spool = spooled([SpooledSite(s) for s in sites])
    reads = 0
    record = spool.record

    def counting(position: int) -> SpooledSite:
        nonlocal reads
        reads += 1
        return record(position)

    spool.record = counting  # type: ignore[method-assign]
    report = RunReport("reconcile", spool.sites())
    assert report.exit_code == 1 and report.count(SiteStatus.IN_SYNC) == 10
    assert report.summary() == RunReport("reconcile", tuple(sites)).summary()
    assert reads == 0


def test_the_json_entries_copied_from_the_spool_are_the_entries_of_the_objects() -> None:
    sites = [blocked_site(f"b{n}") for n in range(3)] + [applied_site()]
    spool = spooled(
        [SpooledSite(s, fleet_site(n), {"n": str(n)}) for n, s in enumerate(reversed(sites))]
    )
    by_name = {s.name: s for s in sites}
    printed = [json.loads(text) for text in spool.sites().entries(labelled=False)]
    filed = [json.loads(text) for text in spool.sites().entries(labelled=True)]
    assert [e["name"] for e in printed] == sorted(by_name)
    assert printed == [site_to_dict(by_name[e["name"]]) for e in printed]
    assert [e.pop("labels") for e in filed] == [{"n": "3"}, {"n": "2"}, {"n": "1"}, {"n": "0"}]
    assert filed == printed
    fleet = spool.fleet_sites().entries()
    assert json.loads(fleet["beta"]) == fleet_site(0).to_dict() and len(fleet) == 4


def test_fleet_entries_are_found_by_name_and_a_site_without_one_is_not_listed() -> None:
    spool = spooled(
        [
            SpooledSite(in_sync_site("beta"), fleet_site(failures=2)),
            SpooledSite(in_sync_site("alpha"), fleet_site()),
            SpooledSite(in_sync_site("orphan"), None),  # orphans have no fleet entry
        ]
    )
    entries = spool.fleet_sites()
    assert list(entries) == ["alpha", "beta"] and len(entries) == 2
    assert entries["beta"].failures == 2 and "orphan" not in entries
    with pytest.raises(KeyError):
        entries["gamma"]


def test_labels_and_read_only_mappings_survive_the_spool() -> None:
    frozen = MappingProxyType({"region": "eu"})
    spool = spooled([SpooledSite(in_sync_site("acme"), fleet_site(), frozen)])
    assert spool.sites().labels("acme") == {"region": "eu"}
    assert spool.sites().labels("nobody") == {}


def test_states_held_while_the_config_loads_are_read_back_and_later_ones_are_not() -> None:
    spool = SiteSpool()
    spool.append(SpooledSite(in_sync_site("a"), state='{"site":"a","é":1}'))
    spool.append(SpooledSite(in_sync_site("b"), state='{"site":"b"}'))
    where = spool.snapshot()
    spool.append(SpooledSite(in_sync_site("c")))  # finished after: recorded directly
    expected = [("a", '{"site":"a","é":1}'), ("b", '{"site":"b"}')]
    assert list(spool.states(where)) == expected
    assert list(spool.states(spool.snapshot())) == expected


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(worlds(), desires())
def test_every_read_sites_report_comes_back_equal_whether_pickled_or_made_from_its_entry(
    world: World, desired: Desired
) -> None:
    """An in-sync report is kept only as its JSON entry and made again when read (no
    pickle); any other is pickled. Either way the same report comes back."""
    live = world.live()
    report = SiteReport.from_plan(desired, plan(desired, live), live)
    spool = spooled([SpooledSite(report, fleet_site(), {"team": "a"})])
    assert spool.record(0) == SpooledSite(report, fleet_site(), {"team": "a"})


def test_an_in_sync_report_is_kept_as_its_entry_and_any_other_pickled() -> None:
    spool = spooled([SpooledSite(in_sync_site("a")), SpooledSite(applied_site())])
    kinds = {spool.record(n).report.name: spool._parts(n)[0][:1] for n in range(2)}
    assert kinds == {"a": b"E", "beta": b"P"}


def test_a_fleet_entry_equal_to_the_last_one_is_kept_the_same_and_a_different_one_anew() -> None:
    """Most sites of a pass share one fleet entry (no drift, no failures): its JSON and
    pickle are made once and reused, never for an entry that differs."""
    flapping = {"count": 2, "since": 1.0, "since_pass": 3, "fields": ["spec.integrateVia"]}
    fleets = [
        fleet_site(),
        fleet_site(),  # equal, another object
        fleet_site(failures=1),
        dataclasses.replace(fleet_site(), flapping=flapping),
        dataclasses.replace(fleet_site(), flapping=dict(flapping, count=3)),
        None,
        fleet_site(),
    ]
    names = [f"site{n}" for n in range(len(fleets))]
    spool = spooled(
        [SpooledSite(in_sync_site(name), fleet) for name, fleet in zip(names, fleets, strict=True)]
    )
    for position, fleet in enumerate(fleets):
        assert spool.record(position).fleet == fleet
        text = spool.texts(position).fleet
        assert (json.loads(text) if text else None) == (fleet.to_dict() if fleet else None)
    assert [spooled([SpooledSite(applied_site(), fleet)]).record(0).fleet for fleet in fleets] == (
        fleets
    )
