"""What reconcile remembers between passes: history, backoff, locks, git, and no keys."""

from __future__ import annotations

import os
import subprocess
from typing import Any

import pytest

from reconciler.fleet.state import spec_hash
from tests.engine.conftest import BRIGHTBACK, KEYS_USED, Fleet, document, leaks
from tests.fleet._stored import last_report, store_of, stored, stored_texts
from tests.fleet.test_reconcile_e2e import by_name, connected_site, reconcile, writes

pytestmark = pytest.mark.e2e


def test_drift_that_keeps_coming_back_is_flagged_with_count_and_since(fleet: Fleet) -> None:
    connected_site(fleet, "acme")
    fleet.write("sites.yaml", document("acme"))
    assert reconcile(fleet, "sites.yaml")[0] == 0
    for _ in range(2):  # someone keeps switching the mode back in the admin console
        fleet.emulator.admin.ui("acme", "update", integrate_via="retention_api")
        code, report, _ = reconcile(fleet, "sites.yaml")
        assert code == 2

    flapping = report["fleet"]["sites"]["acme-live"]["flapping"]
    assert flapping["count"] == 2
    assert flapping["since_pass"] == 2
    assert flapping["fields"] == ["spec.integrateVia"]
    assert any("acme-live keeps drifting back: 2 times since pass 2" in n for n in report["notes"])
    history = stored(fleet).sites["acme"].history
    assert [(h["pass"], h["resolution"]) for h in history] == [(2, "corrected"), (3, "corrected")]
    if fleet.state_url is None:
        assert sorted(p.name for p in (fleet.root / "state").iterdir()) == [
            "document-cache.jsonl",
            "last-report.json",
            "locks",
            "state.json",
            "state.lock",
        ]
    else:  # nothing on the runner's disk: all of it is in the database
        assert not (fleet.root / "state").exists()


def test_observed_drift_that_stays_is_one_event_not_flapping(fleet: Fleet) -> None:
    connected_site(fleet, "acme")
    fleet.emulator.admin.publish("acme-bb", "retention_api")  # customers can still cancel
    fleet.write("sites.yaml", document("acme", management="observe"))
    assert reconcile(fleet, "sites.yaml")[0] == 0  # seen in sync: a change after is drift
    fleet.emulator.admin.ui("acme", "update", integrate_via="retention_api")
    for _ in range(3):
        report = reconcile(fleet, "sites.yaml")[1]
    assert report["fleet"]["sites"]["acme-live"]["flapping"] is None
    assert len(stored(fleet).sites["acme"].history) == 1


def test_a_failing_site_backs_off_and_its_counter_resets_after_a_success(fleet: Fleet) -> None:
    fleet.add_site("acme", published=[("acme-bb", "customer_portal")])
    key = fleet.env.pop("ACME_CHARGEBEE_API_KEY")
    fleet.write("sites.yaml", document("acme"))

    def pass_once() -> dict[str, Any]:
        report = reconcile(fleet, "sites.yaml")[1]
        return dict(report["fleet"]["sites"]["acme-live"])

    assert (pass_once()["failures"], pass_once()["failures"]) == (1, 2)  # retried at once
    requests_before = len(fleet.emulator.admin.requests(site="acme"))
    skipped = pass_once()  # pass 3: backing off
    assert skipped["skipped"] == "backing off" and skipped["failures"] == 2
    assert len(fleet.emulator.admin.requests(site="acme")) == requests_before
    fleet.env["ACME_CHARGEBEE_API_KEY"] = key
    healed = pass_once()  # pass 4: tried again, and it works
    assert (healed["failures"], healed["retry_after_pass"], healed["skipped"]) == (0, 0, None)
    assert stored(fleet).sites["acme"].last_error is None


def test_a_site_locked_by_another_reconciler_is_not_written(fleet: Fleet) -> None:
    fleet.add_site("acme", published=[("acme-bb", "customer_portal")])
    fleet.add_site("globex", published=[("globex-bb", "customer_portal")])
    fleet.write("sites.yaml", document("acme") + "---\n" + document("globex"))

    with store_of(fleet) as store, store.site_lock("acme", 0):
        code, report, _ = reconcile(fleet, "sites.yaml")

    acme = by_name(report)["acme-live"]
    assert acme["status"] == "waiting"
    assert acme["conditions"][-1]["reason"] == "locked_by_another_reconciler"
    assert writes(fleet, "acme") == []
    assert by_name(report)["globex-live"]["status"] == "applied"
    assert code == 2


def test_two_reconcilers_at_once_make_no_duplicate_writes(fleet: Fleet) -> None:
    sites = [f"s{n}" for n in range(8)]
    for site in sites:
        fleet.add_site(site, published=[(f"{site}-bb", "customer_portal")])
    fleet.write("sites.yaml", "---\n".join(document(s) for s in sites))
    env = {**os.environ, "BRIGHTBACK_API_URL": fleet.emulator.url_template, **fleet.env}
    command = [BRIGHTBACK, "reconcile", "sites.yaml", "--state-dir", "state", "--format", "json"]
    runs = [
        subprocess.Popen(command, cwd=fleet.root, env=env, stdout=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    outputs = [run.communicate(timeout=120)[0] for run in runs]
    assert all(run.returncode in (0, 2) for run in runs), outputs

    for site in sites:
        posts = writes(fleet, site)
        # one onboarding's writes (connect, mode, reason codes, toggle), each made once
        assert len(posts) == 4, (site, posts)
        assert len({w["idempotency_key"] for w in posts}) == 4
        assert not [w for w in posts if w["replayed"]]
        assert not [r for r in fleet.emulator.admin.requests(site=site) if r["status"] == 409]
        assert fleet.state(site)["brightback_integration"]["cancellation_via_brightback"]["enabled"]


def test_the_report_records_the_commit_and_whether_the_tree_was_dirty(fleet: Fleet) -> None:
    fleet.add_site("acme", published=[("acme-bb", "customer_portal")])
    fleet.write("sites.yaml", document("acme"))
    fleet.write(".gitignore", "state/\n")

    def git(*args: str) -> str:
        done = subprocess.run(
            ["git", *args], cwd=fleet.root, capture_output=True, text=True, check=True
        )
        return done.stdout.strip()

    git("init", "-q")
    git("-c", "user.email=t@example.com", "-c", "user.name=t", "add", ".")
    git("-c", "user.email=t@example.com", "-c", "user.name=t", "commit", "-qm", "fleet")

    report = reconcile(fleet, "sites.yaml")[1]
    assert report["fleet"]["git"] == {"commit": git("rev-parse", "HEAD"), "dirty": False}
    last = last_report(fleet)
    assert last is not None
    assert last["git"] == report["fleet"]["git"]
    assert last["duration_s"] >= 0 and last["pass_started_at"] > 0

    fleet.write("sites.yaml", document("acme", toggle=False))
    assert reconcile(fleet, "sites.yaml")[1]["fleet"]["git"]["dirty"] is True


def test_no_api_key_in_the_state_store(fleet: Fleet) -> None:
    connected_site(fleet, "acme")
    fleet.add_site("globex", published=[("globex-bb", "customer_portal")])
    fleet.emulator.admin.ui("acme", "update", integrate_via="retention_api")
    fleet.write("sites.yaml", document("acme") + "---\n" + document("globex"))
    reconcile(fleet, "sites.yaml")
    reconcile(fleet, "sites.yaml", fmt="markdown")
    texts = stored_texts(fleet)
    assert len(texts) >= 4
    for where, text in texts.items():
        assert not leaks(text, KEYS_USED), where
    assert stored(fleet).sites["acme"].spec is not None  # the spec is kept, its key is not


def test_the_recorded_report_carries_labels_and_validates(fleet: Fleet) -> None:
    import jsonschema
    import yaml

    from tests.fleet.test_reconcile_e2e import SCHEMA

    fleet.add_site("acme", published=[("acme-bb", "customer_portal")])
    doc = yaml.safe_load(document("acme"))
    doc["metadata"]["labels"] = {"brand": "a"}
    fleet.write("sites.yaml", yaml.safe_dump(doc))
    reconcile(fleet, "sites.yaml")
    recorded = last_report(fleet)
    assert recorded is not None
    jsonschema.validate(recorded, SCHEMA)
    assert recorded["sites"][0]["labels"] == {"brand": "a"}


def test_every_pass_keeps_each_sites_spec_in_the_state(fleet: Fleet) -> None:
    """A pass looks a configured site's state up without its spec (it sets it from the
    config again): the spec must still be in the store after the second and third passes,
    and an edited spec replaces it."""
    connected_site(fleet, "acme")
    fleet.write("sites.yaml", document("acme"))
    specs = []
    for _ in range(2):
        assert reconcile(fleet, "sites.yaml")[0] == 0
        specs.append(stored(fleet).sites["acme"].spec)
    assert specs[0] is not None and specs[0] == specs[1]
    fleet.write("sites.yaml", document("acme", management="observe"))
    reconcile(fleet, "sites.yaml")
    edited = stored(fleet).sites["acme"]
    assert edited.spec is not None and edited.spec != specs[0]
    assert edited.spec_hash == spec_hash(edited.spec) != spec_hash(specs[0])
