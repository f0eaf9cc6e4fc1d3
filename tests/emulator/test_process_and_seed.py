"""The emulator as a process: state survives a restart on the same database, seeds apply
only to an empty one, the example seed matches the example sites, bulk set-up scales, and
nothing it prints contains a site key."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
import yaml

from emulator.embedded import EmulatorError, RunningEmulator, start_emulator

ROOT = Path(__file__).parents[2]
SEED = ROOT / "examples" / "emulator-seed.yaml"
KEY = "key-acme-0123456789"
CONNECT = "/brightback_integration/connect"


def client(emu: RunningEmulator, site: str, key: str) -> httpx.Client:
    return httpx.Client(base_url=emu.url_template.format(site=site), auth=(key, ""), timeout=10)


def test_a_restart_on_the_same_database_keeps_everything(tmp_path: Path) -> None:
    db = tmp_path / "state.sqlite3"
    form = {"brightback_site": "acme-bb", "access_level": "read_write"}
    with start_emulator(db) as first:
        first.admin.create_site("acme", "billing@acme.example", KEY)
        first.admin.create_account("billing@acme.example", brightback_sites=("acme-bb",))
        first.admin.set_faults(sites={"globex": {"error_rate": 0.5}})
        with client(first, "acme", KEY) as http:
            answer = http.post(CONNECT, data=form, headers={"chargebee-idempotency-key": "r1"})
        before = first.admin.site_state("acme")
    with start_emulator(db) as second:
        assert second.admin.site_state("acme") == before
        assert second.admin.get_faults()["sites"] == {"globex": {"error_rate": 0.5}}
        with client(second, "acme", KEY) as http:
            replay = http.post(CONNECT, data=form, headers={"chargebee-idempotency-key": "r1"})
            events = http.get("/events").json()["list"]
        assert replay.content == answer.content
        assert replay.headers["chargebee-idempotency-replayed"] == "true"
        assert events[0]["event"]["event_type"] == "brightback_connected"
        log = second.admin.requests(site="acme")
        assert [(r["method"], r["replayed"]) for r in log] == [
            ("POST", False),
            ("POST", True),
            ("GET", False),
        ]


def test_the_example_seed_covers_every_example_site_and_prints_no_key(tmp_path: Path) -> None:
    seed = yaml.safe_load(SEED.read_text())
    keys = {entry["site"]: entry["api_key"] for entry in seed["sites"]}
    wanted = {
        doc["spec"]["site"]
        for path in (ROOT / "examples" / "sites").rglob("*.yaml")
        for doc in yaml.safe_load_all(path.read_text())
        if doc
    }
    assert wanted <= set(keys)
    with start_emulator(tmp_path / "demo.sqlite3", seed=SEED) as emu:
        states = {site: emu.admin.site_state(site) for site in keys}
        with client(emu, "globex", keys["globex"]) as http:
            assert http.get("/brightback_integration").status_code == 200
        printed = "".join(emu.output)
    assert "url template: " in printed and "{site}" in printed
    assert not [site for site, key in keys.items() if key in printed]
    assert states["acme"]["connection"]["status"] == "disconnected"
    assert states["globex"]["integrate_via"] == "customer_portal"  # drifted from the spec
    assert states["initech"]["cancellation_via_brightback"]["traffic_status"] == "on"
    assert states["globex-test"]["cancellation_settings"]["portal_cancellation_enabled"] is False


def test_a_seed_applies_only_to_an_empty_database(tmp_path: Path) -> None:
    db = tmp_path / "state.sqlite3"
    with start_emulator(db, seed=SEED) as emu:
        emu.admin.ui("globex", "update", integrate_via="retention_api")
        changed = emu.admin.site_state("globex")
    with start_emulator(db, seed=SEED) as again:
        assert again.admin.site_state("globex") == changed


def test_a_seed_the_rules_refuse_stops_the_start(tmp_path: Path) -> None:
    seed = tmp_path / "seed.yaml"
    seed.write_text(
        "sites:\n"
        "  - {site: acme, email: a@acme.example, api_key: secret-seed-key-0001,\n"
        "     console: [{update: {cancellation_via_brightback: true}}]}\n"
    )
    with pytest.raises(EmulatorError) as caught, start_emulator(tmp_path / "db.sqlite3", seed=seed):
        pass
    assert "console update refused" in str(caught.value)
    assert "secret-seed-key-0001" not in str(caught.value)


def test_a_seed_key_can_come_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seed = tmp_path / "seed.yaml"
    seed.write_text("sites:\n  - {site: acme, email: a@acme.example, apiKeyFromEnv: SEED_KEY}\n")
    monkeypatch.setenv("SEED_KEY", "env-seed-key-0002")
    with start_emulator(tmp_path / "db.sqlite3", seed=seed) as emu:
        with client(emu, "acme", "env-seed-key-0002") as http:
            assert http.get("/brightback_integration").status_code == 200
        assert "env-seed-key-0002" not in "".join(emu.output)


def test_faults_can_be_switched_on_from_the_command_line(tmp_path: Path) -> None:
    faults = {"global": {"rate_429": 1.0, "retry_after_s": 4}}
    with start_emulator(tmp_path / "db.sqlite3", faults=faults) as emu:
        emu.admin.create_site("acme", "billing@acme.example", KEY)
        with client(emu, "acme", KEY) as http:
            answer = http.get("/brightback_integration")
        assert answer.status_code == 429 and answer.headers["retry-after"] == "4"


@pytest.mark.parametrize(
    "command",
    [
        [sys.executable, "-m", "emulator"],
        [str(Path(sys.executable).with_name("brightback")), "emulator"],
    ],
    ids=["python -m emulator", "brightback emulator"],
)
def test_without_a_token_one_is_generated_into_a_private_file(
    tmp_path: Path, command: list[str]
) -> None:
    env = {k: v for k, v in os.environ.items() if k != "BRIGHTBACK_EMULATOR_ADMIN_TOKEN"}
    db = tmp_path / "db.sqlite3"
    process = subprocess.Popen(
        [*command, "--port", "0", "--db", str(db)],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
        cwd=ROOT,
    )
    try:
        assert process.stdout is not None
        lines = [process.stdout.readline() for _ in range(4)]
    finally:
        process.terminate()
        process.wait(timeout=10)
    token_file = Path(f"{db}.admin-token")
    assert token_file.stat().st_mode & 0o077 == 0
    token = token_file.read_text().strip()
    assert f"file {token_file} (generated)" in "".join(lines)
    assert token not in "".join(lines)


def test_bulk_creates_thousands_of_sites_in_one_call(emulator: RunningEmulator) -> None:
    sites = [
        {
            "site": f"site-{i:04d}",
            "email": f"billing@site-{i:04d}.example",
            "api_key": f"key-site-{i:04d}-0123456789",
            "brightback_sites": [f"site-{i:04d}-bb"],
            "published": [[f"site-{i:04d}-bb", "retention_api"]],
            "reason_codes_enabled": i % 2 == 0,
        }
        for i in range(3000)
    ]
    sites.append({"site": "pending", "email": "p@pending.example", "api_key": "key-pending-1",
                  "account_status": "pending_activation"})  # fmt: skip
    assert emulator.admin.bulk(sites) == 3001
    state = emulator.admin.site_state("site-2999")
    assert state["account"]["brightback_sites"] == [
        {"name": "site-2999-bb", "experiences": {"customer_portal": "draft",
                                                  "retention_api": "published"}}
    ]  # fmt: skip
    assert state["cancellation_settings"]["reason_codes_enabled"] is False
    assert emulator.admin.site_state("pending")["account"]["status"] == "pending_activation"
    with client(emulator, "site-1234", "key-site-1234-0123456789") as http:
        assert http.get("/brightback_integration").status_code == 200
    with pytest.raises(EmulatorError, match="409"):
        emulator.admin.bulk(sites[:1])  # names are unique


def test_bulk_live_sites_match_what_the_four_onboarding_writes_leave(
    emulator: RunningEmulator,
) -> None:
    """`live` in a bulk entry (benchmark fleets) runs the same rules as the API's writes."""
    entry = {
        "email": "billing@x.example",
        "brightback_sites": ["x-bb"],
        "published": [["x-bb", "customer_portal"]],
    }
    live = {"brightback_site": "x-bb", "integrate_via": "customer_portal"}
    emulator.admin.bulk(
        [
            {**entry, "site": "by-api", "api_key": "key-by-api-0123456789"},
            {**entry, "site": "by-bulk", "api_key": "key-by-bulk-0123456789", "live": live},
        ]
    )
    writes = [
        ("/brightback_integration/connect", {**{"brightback_site": "x-bb"},
                                             "access_level": "read_write"}),
        ("/brightback_integration/update", {"integrate_via": "customer_portal"}),
        ("/cancellation_settings/update", {"reason_codes_enabled": "false"}),
        ("/brightback_integration/update", {"cancellation_via_brightback": "true"}),
    ]  # fmt: skip
    with client(emulator, "by-api", "key-by-api-0123456789") as http:
        for index, (path, form) in enumerate(writes):
            answer = http.post(path, data=form, headers={"chargebee-idempotency-key": f"k{index}"})
            assert answer.status_code == 200, answer.text
    by_api, by_bulk = emulator.admin.site_state("by-api"), emulator.admin.site_state("by-bulk")
    assert by_bulk["cancellation_via_brightback"]["traffic_status"] == "on"
    varying = ("site", "api_key_id", "connected_at", "updated_at")

    def comparable(state: dict[str, object]) -> str:
        text = json.dumps(state, sort_keys=True)
        for name in varying:
            text = re.sub(rf'"{name}": [^,}}]+', f'"{name}": _', text)
        return text

    assert comparable(by_bulk) == comparable(by_api)
    with pytest.raises(EmulatorError, match="400"):
        emulator.admin.bulk([{**entry, "site": "bad", "api_key": "key-bad-0123", "live": {}}])


@pytest.mark.parametrize(
    ("command", "option"),
    [
        ([str(Path(sys.executable).with_name("brightback")), "emulator"], "--seed"),
        ([sys.executable, "-m", "emulator"], "--seed"),
        ([sys.executable, "-m", "emulator"], "--faults"),
    ],
)
def test_a_file_with_an_unknown_yaml_tag_is_a_message_not_a_traceback(
    tmp_path: Path, command: list[str], option: str
) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("sites:\n  - !!python/object:os.system x\n", encoding="utf-8")
    done = subprocess.run(
        [*command, option, str(bad), "--db", str(tmp_path / "db.sqlite3"), "--port", "0"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr
    assert "could not determine a constructor" in done.stderr
    if option == "--seed":
        assert str(bad) in done.stderr
