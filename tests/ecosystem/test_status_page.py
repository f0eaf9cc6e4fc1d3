"""The status page without a browser: the HTML a request gets, over a real socket."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path

import jsonschema
import pytest

from reconciler.cli import main as brightback
from reconciler.status_page import (
    StatusServer,
    parse_label_filter,
    render,
    serve_status,
)

from ._report_fixture import NOW, base_report, last_report

ROOT = Path(__file__).parents[2]
SCHEMA = json.loads((ROOT / "schemas/report.schema.json").read_text())
PLAN_SCHEMA = json.loads((ROOT / "reconciler/schemas/plan.schema.json").read_text())


class _Rows(HTMLParser):
    """Collects (data-site, data-status) of every site row and all visible text."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[tuple[str, str]] = []
        self.text: list[str] = []
        self.scripts = 0
        self._in_style = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "tr" and values.get("class") == "site":
            self.rows.append((values["data-site"] or "", values["data-status"] or ""))
        self.scripts += tag == "script"
        self._in_style = tag == "style"

    def handle_endtag(self, tag: str) -> None:
        self._in_style = False

    def handle_data(self, data: str) -> None:
        if not self._in_style:
            self.text.append(data)


def parse(page: str) -> _Rows:
    parser = _Rows()
    parser.feed(page)
    return parser


def visible(page: str) -> str:
    return re.sub(r"\s+", " ", " ".join(parse(page).text))


def test_fixture_report_is_valid_against_the_report_and_plan_schemas() -> None:
    report = base_report()
    jsonschema.validate(report, SCHEMA)
    for site in report["sites"]:
        if site["plan"] is not None:
            jsonschema.validate(site["plan"], PLAN_SCHEMA)


def test_page_lists_every_site_with_its_condition_in_words() -> None:
    page = render(last_report(), now=NOW)
    assert parse(page).rows == [
        ("acme", "in_sync"),
        ("acme-eu", "applied"),
        ("globex", "waiting"),
        ("initech-test", "drifted"),
        ("umbrella", "blocked"),
        ("hooli", "failed"),
    ]
    text = visible(page)
    for words in ("in sync", "applied", "waiting for publish", "drifted", "blocked", "failing"):
        assert words in text


def test_page_shows_drift_plan_steps_and_how_to_unblock() -> None:
    text = visible(render(last_report(), now=NOW))
    assert "spec.integrateVia: live retention_api, desired customer_portal" in text
    assert "disconnect (confirm=true) destructive" in text
    assert "to proceed: set spec.policy.allowDisconnect: true or pass --allow-disconnect" in text
    assert "applied: enable_cancellation_via_brightback" in text


def test_page_says_who_changed_a_drifted_field_and_which_site_backs_off() -> None:
    text = visible(render(last_report(), now=NOW))
    assert (
        "spec.integrateVia: live retention_api, desired customer_portal "
        "(observed; changed via admin_console: integration_mode_changed)"
    ) in text
    assert "backing off after failures: next attempt in pass 45" in text


def test_page_names_a_site_that_keeps_drifting_back() -> None:
    report = last_report()
    report["fleet"]["sites"]["acme-eu"] = {
        "flapping": {"count": 3, "since_pass": 38, "fields": ["spec.cancellationViaBrightback"]}
    }
    text = visible(render(report, now=NOW))
    assert "keeps drifting back: 3 times since pass 38 (spec.cancellationViaBrightback)" in text


def test_page_warns_when_the_fleet_safety_threshold_refused_destructive_steps() -> None:
    report = last_report()
    report["fleet"]["safety"] = {"refused": True, "reason": "3 of 6 sites would disconnect"}
    text = visible(render(report, now=NOW))
    assert "Destructive steps refused this pass: 3 of 6 sites would disconnect" in text


def test_page_shows_git_commit_dirty_flag_and_pass_timings() -> None:
    text = visible(render(last_report(), now=NOW))
    assert "Config at git commit 3f9c2a71d0be (dirty" in text
    assert "started 2025-11-25 14:00:00 UTC (2 min ago), took 2.4 s, exit code 1" in text


def test_page_refreshes_itself_and_runs_no_script() -> None:
    page = render(last_report(), now=NOW, refresh_s=7)
    assert '<meta http-equiv="refresh" content="7">' in page
    assert parse(page).scripts == 0


def test_values_from_the_report_are_escaped() -> None:
    report = last_report()
    report["sites"][0]["name"] = '<img src=x onerror="alert(1)">'
    report["sites"][0]["labels"] = {"team": '"><script>alert(2)</script>'}
    page = render(report, now=NOW)
    assert "<img" not in page and "<script" not in page
    assert "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;" in page
    assert "&lt;script&gt;x&lt;/script&gt;" in page  # from the failing site's message


def test_label_filter_keeps_only_matching_sites_and_says_so() -> None:
    page = render(last_report(), label_filter={"brand": "acme"}, now=NOW)
    assert [site for site, _ in parse(page).rows] == ["acme", "acme-eu"]
    assert "showing 2 of 6 sites matching brand=acme" in visible(page)


def test_label_filter_terms_all_have_to_match() -> None:
    page = render(last_report(), label_filter={"env": "prod", "brand": "acme"}, now=NOW)
    assert len(parse(page).rows) == 2
    page = render(last_report(), label_filter={"env": "staging", "brand": "acme"}, now=NOW)
    assert parse(page).rows == []
    assert "no site matches this filter" in visible(page)


def test_sites_without_labels_only_show_when_unfiltered() -> None:
    report = base_report()  # plan/apply reports carry no labels
    assert len(parse(render(report, now=NOW)).rows) == 6
    assert parse(render(report, label_filter={"brand": "acme"}, now=NOW)).rows == []


def test_label_filter_query_string_forms() -> None:
    assert parse_label_filter("label=brand%3Dacme&label=env=prod") == {
        "brand": "acme",
        "env": "prod",
    }
    assert parse_label_filter("label=brand%3Dacme+env%3Dprod") == {"brand": "acme", "env": "prod"}
    assert parse_label_filter("") == {}
    with pytest.raises(ValueError, match="KEY=VALUE"):
        parse_label_filter("label=brand")


@pytest.fixture
def server(tmp_path: Path) -> Iterator[StatusServer]:
    with serve_status(0, tmp_path) as running:
        yield running


def get(url: str) -> tuple[int, str, str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310 - loopback
            return response.status, response.headers["Content-Type"], response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers["Content-Type"], exc.read().decode()


def test_server_says_no_pass_has_run_until_the_report_exists(
    server: StatusServer, tmp_path: Path
) -> None:
    status, kind, page = get(server.url)
    assert (status, kind) == (200, "text/html; charset=utf-8")
    assert "No reconcile pass has run yet." in page
    assert get(server.url + "report.json")[0] == 404
    assert json.loads(get(server.url + "healthz")[2]) == {"status": "ok", "report": False}

    (tmp_path / "last-report.json").write_text(json.dumps(last_report()))
    status, _, page = get(server.url + "?label=brand%3Dglobex")
    assert status == 200
    assert [site for site, _ in parse(page).rows] == ["globex"]
    assert json.loads(get(server.url + "report.json")[2]) == last_report()
    assert json.loads(get(server.url + "healthz")[2]) == {"status": "ok", "report": True}


def test_server_rejects_a_malformed_filter_and_unknown_paths(
    server: StatusServer, tmp_path: Path
) -> None:
    (tmp_path / "last-report.json").write_text(json.dumps(last_report()))
    status, _, body = get(server.url + "?label=brand")
    assert status == 400 and "KEY=VALUE" in body
    assert get(server.url + "nope")[0] == 404


def test_server_reports_an_unreadable_report_instead_of_crashing(
    server: StatusServer, tmp_path: Path
) -> None:
    (tmp_path / "last-report.json").write_text('{"sites": [')  # a torn write
    status, _, body = get(server.url)
    assert status == 503 and "cannot read" in body
    assert get(server.url + "healthz")[0] == 200


def test_server_stops_and_frees_its_port(tmp_path: Path) -> None:
    running = serve_status(0, tmp_path)
    url = running.url
    running.stop()
    running.stop()
    with pytest.raises(OSError):
        urllib.request.urlopen(url + "healthz", timeout=2)  # noqa: S310 - loopback


def test_status_command_prints_one_line_per_site(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "last-report.json").write_text(json.dumps(last_report()))
    assert brightback(["status", "--state-dir", str(tmp_path)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("last pass: brightback apply, 6 sites, commit 3f9c2a71d0be (dirty)")
    assert "1 failing" in lines[0] and "1 in sync" in lines[0]
    assert lines[3].split()[:4] == ["globex-prod", "waiting", "for", "publish"]
    assert len(lines) == 7


def test_status_command_json_is_the_report_as_written(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "last-report.json").write_text(json.dumps(last_report()))
    assert brightback(["status", "--state-dir", str(tmp_path), "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out) == last_report()


def test_status_command_without_a_pass_exits_1_and_says_why(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert brightback(["status", "--state-dir", str(tmp_path)]) == 1
    assert "no reconcile pass has run yet" in capsys.readouterr().err


def test_server_binds_loopback_unless_told_otherwise(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("BRIGHTBACK_SERVE_HOST", raising=False)
    with serve_status(0, tmp_path) as running:
        assert running.host == "127.0.0.1"
    monkeypatch.setenv("BRIGHTBACK_SERVE_HOST", "0.0.0.0")
    with serve_status(0, tmp_path) as running:
        assert running.host == "0.0.0.0"
    with serve_status(0, tmp_path, "127.0.0.1") as running:
        assert running.host == "127.0.0.1"  # an explicit host wins over the environment


def test_status_serve_runs_until_ctrl_c(tmp_path: Path) -> None:
    (tmp_path / "last-report.json").write_text(json.dumps(last_report()))
    brightback_exe = str(Path(sys.executable).with_name("brightback"))
    process = subprocess.Popen(
        [brightback_exe, "status", "--serve", "0", "--state-dir", str(tmp_path)],
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stderr is not None
        line = process.stderr.readline()
        url = re.search(r"http://127\.0\.0\.1:\d+/", line)
        assert url, line
        status, _, page = get(url.group(0))
        assert status == 200 and len(parse(page).rows) == 6
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=10) == 0
    finally:
        process.kill()
        process.wait()
