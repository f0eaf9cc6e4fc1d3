"""A whole-fleet pass starts reading sites while the rest of the config still loads, and
still applies nothing unless the whole config is valid (issue 8: loading 10k documents
took ~1.6 s before the first request)."""

from __future__ import annotations

import gc
import json
import threading
from collections import Counter
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from reconciler import _yaml, spec
from reconciler.client import Client, ClientConfig
from reconciler.errors import SpecError
from reconciler.fleet import passes, sites
from reconciler.fleet.passes import PassOptions, PassResult, run_pass
from reconciler.fleet.sites import Planned
from reconciler.model import Desired
from reconciler.report.json_report import PRETTY_MAX_SITES
from reconciler.spec import iter_load, load
from tests.engine.conftest import Fleet, document
from tests.fleet._stored import last_report, stored
from tests.fleet.test_reconcile_e2e import SCHEMA, connected_site, with_policy

pytestmark = [pytest.mark.e2e]


def one_pass(fleet: Fleet, monkeypatch: pytest.MonkeyPatch, **extra: Any) -> PassResult:
    for name, value in fleet.env.items():
        monkeypatch.setenv(name, value)
    options = PassOptions(
        paths=[str(fleet.root / "config")],
        state_dir=fleet.root / extra.pop("state", "state"),
        state_url=fleet.state_url,
        client_config=ClientConfig(url_template=fleet.emulator.url_template),
        concurrency=4,
        **extra,
    )
    return run_pass(options)


def write_config(fleet: Fleet, documents: dict[str, str]) -> None:
    (fleet.root / "config").mkdir(exist_ok=True)
    for name, text in documents.items():
        fleet.write(f"config/{name}", text)


def writes(fleet: Fleet, since_id: int | None = None) -> list[dict[str, Any]]:
    requests = fleet.emulator.admin.requests(since_id=since_id)
    return [r for r in requests if r["method"] != "GET"]


def last_request_id(fleet: Fleet) -> int:
    return max((r["id"] for r in fleet.emulator.admin.requests()), default=0)


def test_loading_yields_what_load_returns_one_document_at_a_time(tmp_path: Path) -> None:
    for n in range(3):
        (tmp_path / f"{n}.yaml").write_text(document(f"site{n}"), encoding="utf-8")
    assert list(iter_load([tmp_path])) == load([tmp_path])


def test_loading_raises_the_same_problems_as_load_after_yielding_the_valid_documents(
    tmp_path: Path,
) -> None:
    (tmp_path / "1.yaml").write_text(document("acme"), encoding="utf-8")
    (tmp_path / "2.yaml").write_text(document("acme", name="again"), encoding="utf-8")
    (tmp_path / "3.yaml").write_text("apiVersion: brightback-gitops/v1alpha1\n", encoding="utf-8")
    with pytest.raises(SpecError) as expected:
        load([tmp_path])
    yielded: list[Desired] = []
    with pytest.raises(SpecError) as streamed:
        yielded.extend(iter_load([tmp_path]))
    assert streamed.value.problems == expected.value.problems
    assert [d.name for d in yielded] == ["acme-live", "again"]


def test_sites_are_read_while_the_rest_of_the_config_is_still_loading(
    fleet: Fleet, monkeypatch: pytest.MonkeyPatch
) -> None:
    for site in ("alpha", "beta"):
        fleet.add_site(site, published=[(f"{site}-bb", "customer_portal")])
    write_config(fleet, {"1.yaml": document("alpha"), "2.yaml": document("beta")})
    events: list[str] = []
    first_read = threading.Event()
    real_read = sites.read_and_plan

    def slow_loader(
        paths: Sequence[str | Path], *, cache: spec.DocumentCache | None = None
    ) -> Iterator[Desired]:
        for desired in iter_load(paths, cache=cache):
            events.append(f"loaded {desired.site}")
            yield desired
            # Loading the next document waits for a read: without pipelining none starts
            # until loading ends, so the wait runs out and the order below shows it.
            first_read.wait(timeout=10)
        events.append("loading done")

    def recording_read(client: Client, desired: Desired, *args: Any) -> Planned:
        events.append(f"read {desired.site}")
        first_read.set()
        return real_read(client, desired, *args)

    monkeypatch.setattr(passes, "iter_load", slow_loader)
    monkeypatch.setattr(passes, "read_and_plan", recording_read)

    result = one_pass(fleet, monkeypatch)

    assert events.index("read alpha") < events.index("loading done")
    assert {s.name: s.status.value for s in result.report.sites} == {
        "alpha-live": "applied",
        "beta-live": "applied",
    }
    assert fleet.state("beta")["cancellation_via_brightback"]["enabled"] is True


def test_an_invalid_document_late_in_the_config_applies_nothing_and_is_reported(
    fleet: Fleet, monkeypatch: pytest.MonkeyPatch
) -> None:
    for site in ("alpha", "beta"):
        fleet.add_site(site, published=[(f"{site}-bb", "customer_portal")])
    write_config(
        fleet,
        {
            "1.yaml": document("alpha"),
            "2.yaml": document("beta"),
            "3.yaml": document("alpha", name="alpha-again"),  # the same site twice
        },
    )

    monkeypatch.setattr(passes, "_FREEZE_EVERY", 1)  # freezes while loading, as for 10k

    result = one_pass(fleet, monkeypatch)

    assert gc.get_freeze_count() == 0  # an interval process can still free this pass
    assert result.report.refused and result.report.sites == ()
    assert result.report.notes[0] == "invalid config: nothing was applied"
    assert any("already declared" in note for note in result.report.notes)
    assert result.exit_code != 0
    assert writes(fleet) == []
    assert fleet.state("alpha")["cancellation_via_brightback"]["enabled"] is False
    state = stored(fleet)
    assert state.passes == 1 and state.sites == {}


def test_a_whole_fleet_pass_reports_what_a_pass_naming_every_site_reports(
    fleet: Fleet, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The pipelined path (no --site) and the load-first path (--site) see the same fleet.
    Observe-only drift keeps both passes from writing, so both read the same live state."""
    connected_site(fleet, "steady")
    connected_site(fleet, "drifty")
    fleet.emulator.admin.publish("drifty-bb", "retention_api")  # customers can still cancel
    fleet.emulator.admin.ui("drifty", "update", integrate_via="retention_api")
    fleet.add_site("fresh", published=[("fresh-bb", "customer_portal")])
    write_config(
        fleet,
        {
            "1.yaml": document("steady"),
            "2.yaml": document("drifty", management="observe"),
            "3.yaml": document("fresh", management="observe"),
        },
    )

    since = last_request_id(fleet)
    whole = one_pass(fleet, monkeypatch, state="whole")
    named = one_pass(
        fleet, monkeypatch, state="named", sites=["steady-live", "drifty-live", "fresh-live"]
    )

    assert whole.printed["sites"] == named.printed["sites"]
    assert {s.name: s.status.value for s in whole.report.sites} == {
        "steady-live": "in_sync",
        "drifty-live": "drifted",
        "fresh-live": "drifted",
    }
    assert writes(fleet, since) == []


def test_a_big_pass_reports_every_site_it_finished_early_with_labels_and_state(
    fleet: Fleet, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Past 200 sites the report's entries are copied from the pass's spool: every site is
    there once, in name order, with its labels in the stored report, its fleet entry and
    its state; the one site with writes to make is applied as before."""
    names = [f"big{n:03d}" for n in range(PRETTY_MAX_SITES + 5)]
    fleet.add_sites(names[1:], converged=True)
    fleet.add_site(names[0], published=[(f"{names[0]}-bb", "customer_portal")])
    write_config(
        fleet,
        {
            f"{name}.yaml": document(name).replace(
                f"  name: {name}-live\n", f"  name: {name}-live\n  labels:\n    team: t{n % 3}\n"
            )
            for n, name in enumerate(reversed(names))
        },
    )

    result = one_pass(fleet, monkeypatch)

    assert result.exit_code == 2
    printed = result.printed
    entries = [json.loads(text) for text in printed["sites"]]  # copied as JSON text
    assert [s["name"] for s in entries] == [f"{name}-live" for name in names]
    assert printed["summary"]["applied"] == 1 and printed["summary"]["in_sync"] == len(names) - 1
    assert set(printed["fleet"]["sites"]) == {f"{name}-live" for name in names}
    report = last_report(fleet)
    assert report is not None and len(report["sites"]) == len(names)
    jsonschema.validate(report, SCHEMA)
    labels = {s["name"]: s["labels"] for s in report["sites"]}
    assert labels["big000-live"] == {"team": f"t{(len(names) - 1) % 3}"}
    assert labels[f"big{len(names) - 1:03d}-live"] == {"team": "t0"}
    assert Counter(s["status"] for s in report["sites"]) == {
        "applied": 1,
        "in_sync": len(names) - 1,
    }
    assert set(stored(fleet).sites) == set(names)


def test_a_bug_while_reading_an_orphan_fails_the_pass_instead_of_vanishing(
    fleet: Fleet, monkeypatch: pytest.MonkeyPatch
) -> None:
    connected_site(fleet, "alpha")
    connected_site(fleet, "beta")
    leaving = with_policy(document("beta", allow_disconnect=True), deletionPolicy="disconnect")
    write_config(fleet, {"1.yaml": document("alpha"), "2.yaml": leaving})
    one_pass(fleet, monkeypatch)
    (fleet.root / "config" / "2.yaml").unlink()  # beta is an orphan, read to be disconnected
    real_read = sites.read_and_plan

    def buggy_for_beta(client: Client, desired: Desired, *args: Any) -> Planned:
        if desired.site == "beta":
            raise RuntimeError("a bug while reading beta")
        return real_read(client, desired, *args)

    monkeypatch.setattr(passes, "read_and_plan", buggy_for_beta)
    with pytest.raises(RuntimeError, match="a bug while reading beta"):
        one_pass(fleet, monkeypatch)


@pytest.mark.parametrize("named", [False, True], ids=["whole-fleet", "named-sites"])
def test_a_later_pass_over_an_unchanged_config_reads_no_yaml_and_reports_the_same(
    fleet: Fleet, monkeypatch: pytest.MonkeyPatch, named: bool
) -> None:
    """The state directory keeps the config's documents (`document-cache.jsonl`): a drift
    job's later passes skip the YAML reader, and see exactly what a parse would. A shared
    (PostgreSQL) store keeps none: its passes read every file."""
    cached = fleet.state_url is None
    connected_site(fleet, "kept")
    connected_site(fleet, "edited")
    write_config(fleet, {"1.yaml": document("kept"), "2.yaml": document("edited")})
    extra: dict[str, Any] = {"sites": ["kept-live", "edited-live"]} if named else {}
    first = one_pass(fleet, monkeypatch, **extra)
    assert (fleet.root / "state" / "document-cache.jsonl").is_file() == cached

    read: list[str] = []
    real = _yaml.parse_documents

    def reading(text: str, filename: str) -> Any:
        read.append(Path(filename).name)
        return real(text, filename)

    monkeypatch.setattr(spec, "parse_documents", reading)
    second = one_pass(fleet, monkeypatch, **extra)
    assert read == ([] if cached else ["1.yaml", "2.yaml"])
    assert second.printed["sites"] == first.printed["sites"]

    read.clear()
    write_config(fleet, {"2.yaml": document("edited", management="observe")})
    third = one_pass(fleet, monkeypatch, **extra)
    assert read == (["2.yaml"] if cached else ["1.yaml", "2.yaml"])
    assert [s["plan"]["name"] for s in third.printed["sites"]] == ["edited-live", "kept-live"]
