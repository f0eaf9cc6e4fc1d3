"""The issue's "done when": `brightback apply examples/sites --backend console` converges the
example fleet against the emulator, a second plan with either backend plans nothing, and
the emulator's request log shows that every write came through the console pages."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from emulator.embedded import start_emulator
from reconciler.console.browser import Tab
from reconciler.console.session import save_session, sign_in

from .conftest import CHROMIUM, PASSWORD, PASSWORD_ENV, ConsoleWorld

pytestmark = pytest.mark.browser
ROOT = Path(__file__).resolve().parents[2]
BRIGHTBACK = str(Path(sys.executable).with_name("brightback"))
SEED = ROOT / "examples" / "emulator-seed.yaml"


def _seed_sites() -> list[dict[str, Any]]:
    return list(yaml.safe_load(SEED.read_text(encoding="utf-8"))["sites"])


def _run(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [BRIGHTBACK, *args], capture_output=True, text=True, env=env, cwd=cwd, timeout=600,
        check=False,
    )  # fmt: skip


@pytest.mark.timeout(1500)  # three CLI runs, each with its own browser, on a shared 2-core box
def test_apply_examples_through_the_console_converges_and_writes_only_through_pages(
    world: ConsoleWorld, tmp_path: Path
) -> None:
    sites = _seed_sites()
    with start_emulator(tmp_path / "examples.db", seed=SEED) as emulator:
        state_dir = tmp_path / "state"
        config = world.config(url_template=emulator.console_url_template, state_dir=state_dir)
        for entry in sites:  # what `brightback login --site S` saves, one per site
            base = config.base_url(entry["site"])

            async def work(tab: Tab, base: str = base, entry: dict[str, Any] = entry) -> Any:
                return await sign_in(
                    tab, base, wait_s=20, email=entry["email"], password=entry["api_key"]
                )

            state = world.pool.run(entry["site"], "login", work, storage_state=None, config=config)
            save_session(config.session_file(entry["site"]), state)
        env = {
            **os.environ,
            "NO_COLOR": "1",
            "BRIGHTBACK_API_URL": emulator.url_template,
            "BRIGHTBACK_CONSOLE_URL": emulator.console_url_template,
            "BRIGHTBACK_BROWSER": str(CHROMIUM),
            PASSWORD_ENV: PASSWORD,
        }
        for entry in sites:
            env[entry["site"].upper().replace("-", "_") + "_CHARGEBEE_API_KEY"] = entry["api_key"]
        first_id = emulator.admin.requests()[-1]["id"]
        common = ["--state-dir", str(state_dir), "--format", "json"]
        applied = _run(["apply", str(ROOT / "examples" / "sites"), "--backend", "console", *common],
                       env, tmp_path)  # fmt: skip
        assert applied.returncode == 2, applied.stderr
        report = json.loads(applied.stdout)
        statuses = {s["site"]: s["status"] for s in report["sites"]}
        assert statuses == {
            "acme": "applied",
            "acme-test": "applied",
            "globex": "applied",
            "globex-test": "applied",
            "initech": "applied",
            "umbrella": "drifted",  # observe-only: reported, never changed
        }
        acme_test = next(s for s in report["sites"] if s["site"] == "acme-test")
        assert [c["reason"] for c in acme_test["conditions"]] == ["experience_not_published"]
        writes = [r for r in emulator.admin.requests(since_id=first_id) if r["method"] == "POST"]
        assert writes, "the apply wrote nothing"
        assert all("/console/" in r["path"] for r in writes), writes
        assert not [r for r in writes if "/api/v2/" in r["path"]]
        for site, status in statuses.items():  # each changed site through its own pages
            pages = [r["path"] for r in writes if r["path"].startswith(f"/sites/{site}/console/")]
            changed = [p for p in pages if not p.endswith("/login")]
            assert bool(changed) == (status == "applied"), (site, pages)

        for backend in ("console", "api"):
            again = _run(
                ["plan", str(ROOT / "examples" / "sites"), "--backend", backend, *common],
                env,
                tmp_path,
            )
            planned = json.loads(again.stdout)
            assert [s["plan"]["steps"] for s in planned["sites"]] == [[]] * len(sites), backend
        output = applied.stdout + applied.stderr + again.stdout + again.stderr
        for entry in sites:
            assert entry["api_key"] not in output
        assert PASSWORD not in output


def test_login_command_saves_a_session_file_only_its_owner_can_read(
    world: ConsoleWorld, tmp_path: Path
) -> None:
    key = world.add_site("solo")
    env = {**os.environ, "SOLO_CONSOLE_PASSWORD": key, "BRIGHTBACK_BROWSER": str(CHROMIUM)}
    done = _run(
        [
            "login", "--site", "solo", "--headless", "--email", "billing@solo.example",
            "--password-env", "SOLO_CONSOLE_PASSWORD", "--state-dir", str(tmp_path / "st"),
            "--console-url", world.emulator.console_url_template, "--wait", "30",
        ],
        env,
        tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    saved = tmp_path / "st" / "console" / "sessions" / "solo.json"
    assert stat.S_IMODE(saved.stat().st_mode) == 0o600
    assert stat.S_IMODE(saved.parent.stat().st_mode) == 0o700
    assert key not in done.stdout + done.stderr
    assert key not in saved.read_text()  # cookies only, never the password


def test_console_backend_without_playwright_says_how_to_install_it(tmp_path: Path) -> None:
    blocker = tmp_path / "blocker"
    blocker.mkdir()
    (blocker / "playwright").mkdir()
    (blocker / "playwright" / "__init__.py").write_text("raise ImportError('not installed')\n")
    document = tmp_path / "site.yaml"
    document.write_text(
        "apiVersion: brightback-gitops/v1alpha1\nkind: BrightbackIntegration\n"
        "metadata: {name: a}\nspec:\n  site: a\n  credentials: {apiKeyFromEnv: A_KEY}\n"
        "  connection: {state: disconnected}\n  backend: console\n"
    )
    env = {**os.environ, "PYTHONPATH": str(blocker)}
    done = _run(["plan", str(document)], env, tmp_path)
    assert done.returncode == 1
    assert "pip install 'brightback-gitops[console]'" in done.stderr
    assert "Traceback" not in done.stderr
