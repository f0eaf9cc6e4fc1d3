"""`brightback reconcile` and `brightback export` reach sites through the console too: the
run's `--backend console` or a document's `backend: console`, with the console options
(console URL, browser, state dir) from the command line, in real headless Chromium.

Drift found through the console says who made it when the site has an API key: the events
come from Chargebee's public events API while the writes go through the pages.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from reconciler.backends import open_backend
from reconciler.client import ClientConfig
from reconciler.console import ConsoleBackend
from reconciler.errors import CredentialError
from reconciler.plan import Action, Step

from .conftest import CHROMIUM, PASSWORD, PASSWORD_ENV, ConsoleWorld, env_name
from .test_engine_scenarios import doc

pytestmark = pytest.mark.browser
BRIGHTBACK = str(Path(sys.executable).with_name("brightback"))


def _cli(world: ConsoleWorld, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "NO_COLOR": "1",
        "BRIGHTBACK_API_URL": world.emulator.url_template,
        PASSWORD_ENV: PASSWORD,
    }
    env.pop("BRIGHTBACK_CONSOLE_URL", None)  # the flags below must be what is used
    env.pop("BRIGHTBACK_BROWSER", None)
    console = ["--console-url", world.emulator.console_url_template]
    console += ["--browser-path", str(CHROMIUM), "--state-dir", str(world.state_dir)]
    return subprocess.run(
        [BRIGHTBACK, *args, *console], capture_output=True, text=True, env=env,
        cwd=world.root, timeout=600, check=False,
    )  # fmt: skip


def _reconcile(world: ConsoleWorld, *args: str) -> tuple[int, dict[str, Any], str]:
    done = _cli(world, "reconcile", "sites.yaml", "--once", "--format", "json", *args)
    return done.returncode, json.loads(done.stdout), done.stdout + done.stderr


def _status(report: dict[str, Any]) -> dict[str, str]:
    return {s["site"]: s["status"] for s in report["sites"]}


def _onboarding(site: str, **spec: Any) -> str:
    return doc(site, integrateVia="customer_portal", cancellationViaBrightback=True, **spec)


def _published(world: ConsoleWorld, site: str) -> None:
    bb = f"{site}-bb"
    world.add_site(site, brightback_sites=[bb], published=[(bb, "customer_portal")])


@pytest.mark.timeout(900)
def test_reconcile_routes_each_site_by_its_document_or_the_flag_and_says_who_drifted_it(
    world: ConsoleWorld,
) -> None:
    _published(world, "rc-pages")
    _published(world, "rc-api")
    world.login("rc-pages")
    world.desired(  # written to sites.yaml, which reconcile reads
        _onboarding("rc-pages", backend="console") + "---\n" + _onboarding("rc-api")
    )

    # Pass 1, no flag: the document that says console goes through the pages, the other
    # through the API.
    code, report, output = _reconcile(world)
    assert code == 2, output
    assert _status(report) == {"rc-pages": "applied", "rc-api": "applied"}
    assert world.api_writes("rc-pages") == []
    assert [p for p in world.console_writes("rc-pages") if not p.endswith("/login")]
    assert world.console_writes("rc-api") == []
    assert world.api_writes("rc-api")

    # Someone changes the integration mode by clicking in the console (a person's real
    # clicks, signed in on their own): Chargebee records an admin_console event by them.
    world.person("rc-pages").choose_integration("Retention API")
    assert world.state("rc-pages")["integrate_via"] == "retention_api"

    # Pass 2 with --backend console: both sites through the pages (the flag sets rc-api's),
    # the drift corrected through the console and attributed from the events API.
    world.login("rc-api")
    before = {site: len(world.api_writes(site)) for site in ("rc-pages", "rc-api")}
    code, report, output = _reconcile(world, "--backend", "console")
    assert code == 2, output
    assert _status(report) == {"rc-pages": "applied", "rc-api": "in_sync"}
    drift = report["fleet"]["sites"]["rc-pages-live"]["drift"]
    assert [(d["field"], d["resolution"]) for d in drift] == [("spec.integrateVia", "corrected")]
    assert drift[0]["changed_by"]["source"] == "admin_console"
    assert drift[0]["changed_by"]["user"] == "billing@rc-pages.example"
    assert {site: len(world.api_writes(site)) for site in before} == before
    assert world.state("rc-pages")["integrate_via"] == "customer_portal"
    for key in world.keys.values():
        assert key not in output
    assert PASSWORD not in output


def test_export_through_the_console_reads_what_the_api_reads_and_marks_the_backend(
    world: ConsoleWorld, tmp_path: Path
) -> None:
    world.add_site("ex-one", brightback_sites=["ex-one-bb"], reason_codes=False)
    world.api().execute(
        world.desired(doc("ex-one"))[0],
        Step(Action.CONNECT, {"brightback_site": "ex-one-bb", "access_level": "read_write"}),
        expected_version=world.api().read(world.desired(doc("ex-one"))[0]).version,
        idempotency_key="connect-ex-one",
    )
    world.add_site("ex-two", account=None)
    for site in ("ex-one", "ex-two"):
        world.login(site)
    sites = ["--site", "ex-one", "--site", "ex-two"]
    first = world.emulator.admin.requests()[-1]["id"]

    through_pages = _cli(world, "export", *sites, "--backend", "console", "--concurrency", "2")
    asked = [r["path"] for r in world.emulator.admin.requests(since_id=first)]
    through_api = _cli(world, "export", *sites)

    assert through_pages.returncode == 0, through_pages.stderr
    assert through_api.returncode == 0, through_api.stderr
    pages_docs = list(yaml.safe_load_all(through_pages.stdout))
    api_docs = list(yaml.safe_load_all(through_api.stdout))
    assert [d["spec"].pop("backend") for d in pages_docs] == ["console", "console"]
    assert pages_docs == api_docs
    connection = pages_docs[0]["spec"]["connection"]
    assert (connection["state"], connection["brightbackSite"]) == ("connected", "ex-one-bb")
    assert [p for p in asked if "/console/" in p]  # read from the pages,
    assert [p for p in asked if "/api/v2/" in p] == []  # not from the API


def test_console_events_come_from_the_events_api_with_the_sites_key_and_not_without(
    world: ConsoleWorld,
) -> None:
    _published(world, "ev-site")
    world.login("ev-site")
    (desired,) = world.desired(_onboarding("ev-site"))
    feed = open_backend(
        "api", read_only=True, api=ClientConfig(url_template=world.emulator.url_template)
    )
    backend = ConsoleBackend(world.config(), pool=world.pool, events=feed)
    try:
        version = backend.read(desired).version
        step = Step(Action.CONNECT, {"brightback_site": "ev-site-bb"})
        backend.execute(desired, step, expected_version=version, idempotency_key="k")

        events = backend.events(desired, limit=5)
        assert events[0]["source"] == "admin_console"
        assert events[0]["user"] == "billing@ev-site.example"

        os.environ.pop(env_name("ev-site"))  # a console-only site: no API key to read with
        with pytest.raises(CredentialError):
            backend.events(desired, limit=5)
    finally:
        backend.close()
