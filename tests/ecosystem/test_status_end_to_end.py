"""A real pass, then its status: `brightback reconcile --once` against the emulator writes
last-report.json; `brightback status` and the served page show what it found."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import yaml

from reconciler.status_page import serve_status

from .test_status_page import parse, visible

BRIGHTBACK = str(Path(sys.executable).with_name("brightback"))
KEYS = {"shop-a": "key-shop-a-5f1c2e9d", "shop-b": "key-shop-b-7a3d4b10"}

pytestmark = pytest.mark.e2e


def env_name(site: str) -> str:
    return site.upper().replace("-", "_") + "_CHARGEBEE_API_KEY"


def site_document(site: str, brand: str) -> dict[str, Any]:
    return {
        "apiVersion": "brightback-gitops/v1alpha1",
        "kind": "BrightbackIntegration",
        "metadata": {"name": f"{site}-live", "labels": {"brand": brand}},
        "spec": {
            "site": site,
            "credentials": {"apiKeyFromEnv": env_name(site)},
            "connection": {"state": "connected", "brightbackSite": f"{site}-bb"},
            "integrateVia": "customer_portal",
            "cancellationViaBrightback": True,
        },
    }


@pytest.fixture
def workdir(emulator: Any, tmp_path: Path) -> Path:
    """Two sites: shop-a's experience is published, shop-b's is not (it will wait)."""
    for site, key in KEYS.items():
        email = f"billing@{site}.example"
        emulator.admin.create_site(site, email, key)
        emulator.admin.create_account(email, brightback_sites=(f"{site}-bb",))
    emulator.admin.publish("shop-a-bb", "customer_portal")
    sites = tmp_path / "sites"
    sites.mkdir()
    for site, brand in (("shop-a", "a"), ("shop-b", "b")):
        (sites / f"{site}.yaml").write_text(yaml.safe_dump(site_document(site, brand)))
    return tmp_path


def brightback(workdir: Path, emulator: Any, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "NO_COLOR": "1",
        "BRIGHTBACK_API_URL": emulator.url_template,
        **{env_name(site): key for site, key in KEYS.items()},
    }
    done = subprocess.run(
        [BRIGHTBACK, *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=workdir,
        timeout=120,
        check=False,
    )
    for key in KEYS.values():
        assert key not in done.stdout + done.stderr
    return done


def page(state_dir: Path, query: str = "") -> str:
    with serve_status(0, state_dir) as running:
        url = running.url + query
        with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310 - loopback
            return str(response.read().decode())


def converge_then_drift(workdir: Path, emulator: Any) -> Path:
    """Pass 1 converges both sites; a person then changes shop-a; pass 2 corrects it."""
    first = brightback(workdir, emulator, "reconcile", "sites", "--once")
    assert first.returncode == 2, first.stderr
    answer = emulator.admin.ui("shop-a", "update", integrate_via="retention_api")
    assert answer.status_code == 200, answer.text
    second = brightback(workdir, emulator, "reconcile", "sites", "--once")
    assert second.returncode == 2, second.stderr
    return workdir / ".brightback"


def test_status_shows_what_the_last_real_pass_did(workdir: Path, emulator: Any) -> None:
    state_dir = converge_then_drift(workdir, emulator)
    report = json.loads((state_dir / "last-report.json").read_text())
    assert [s["status"] for s in report["sites"]] == ["applied", "waiting"]

    printed = brightback(workdir, emulator, "status")
    assert printed.returncode == 0
    lines = printed.stdout.splitlines()
    assert lines[1].split()[:2] == ["shop-a-live", "applied"]
    assert lines[2].split()[:4] == ["shop-b-live", "waiting", "for", "publish"]

    html = page(state_dir)
    assert parse(html).rows == [("shop-a", "applied"), ("shop-b", "waiting")]
    text = visible(html)
    assert "spec.integrateVia: live retention_api, desired customer_portal (corrected" in text
    assert "changed via admin_console" in text
    assert "set_integration_mode (integrate_via=customer_portal)" in text


def test_label_filter_works_on_a_real_report(workdir: Path, emulator: Any) -> None:
    state_dir = converge_then_drift(workdir, emulator)
    report = json.loads((state_dir / "last-report.json").read_text())
    assert [s.get("labels") for s in report["sites"]] == [{"brand": "a"}, {"brand": "b"}]
    assert parse(page(state_dir, "?label=brand%3Db")).rows == [("shop-b", "waiting")]
