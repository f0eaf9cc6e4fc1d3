"""Control characters from file names and YAML values never reach a terminal or a report raw.

Before: an OSC 8 hyperlink, a colour sequence or a newline in a file name or a value was
printed unchanged by `validate`, the text and Markdown reports and `status`, so a config
file could rewrite the reviewer's terminal or forge lines of a report. Every human-facing
writer now shows them as escapes (`\\x1b`, `\\n`); JSON output stays exact.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.engine.conftest import Fleet, document

pytestmark = pytest.mark.e2e

HOSTILE = "\x1b]8;;http://x\x07\x1b[31m\nred"
SHOWN = "\\x1b]8;;http://x\\x07\\x1b[31m\\nred"
NAME = "\x1b]8;;x\x07\x1b[31m\nred"  # a file name cannot hold "/"
NAME_SHOWN = "\\x1b]8;;x\\x07\\x1b[31m\\nred"
RAW = ("\x1b", "\x07", "\x9b")


@pytest.fixture
def plain_fleet(emulator: Any, tmp_path: Path, request: pytest.FixtureRequest) -> Fleet:
    return Fleet(emulator=emulator, root=tmp_path, test_id=request.node.nodeid)


def assert_neutralised(output: str) -> None:
    assert not [c for c in RAW if c in output], repr(output)


def test_validate_shows_a_hostile_file_name_and_value_escaped(plain_fleet: Fleet) -> None:
    body = document("acme").replace("integrateVia: customer_portal", "integrateVia: PLACEHOLDER")
    body = body.replace("PLACEHOLDER", json.dumps(HOSTILE))  # a YAML double-quoted scalar
    path = plain_fleet.write(f"acme{NAME}.yaml", body)

    result = plain_fleet.cli("validate", path)

    assert result.code == 1
    assert_neutralised(result.output)
    problems = [line for line in result.stderr.splitlines() if not line.startswith("invalid:")]
    assert len(problems) == 1, result.stderr  # the newlines forged no extra line
    assert f"acme{NAME_SHOWN}.yaml" in problems[0] and "integrateVia" in problems[0]
    assert "Traceback" not in result.output


def test_validate_json_keeps_the_exact_file_name(plain_fleet: Fleet) -> None:
    path = plain_fleet.write(f"acme{NAME}.yaml", "kind: Nope\n")

    result = plain_fleet.cli("validate", "--format", "json", path)

    assert result.code == 1
    assert json.loads(result.stdout)["problems"][0]["file"] == str(path)


@pytest.mark.parametrize("fmt", ["text", "markdown"])
def test_plan_reports_show_a_hostile_value_escaped(plain_fleet: Fleet, fmt: str) -> None:
    plain_fleet.add_site("acme")
    body = document("acme").replace(
        "apiKeyFromEnv: ACME_CHARGEBEE_API_KEY",
        "apiKeyFromFile: " + json.dumps(f"/nonexistent/{NAME}"),
    )
    plain_fleet.write(f"acme{NAME}.yaml", body)

    result = plain_fleet.cli("plan", "--format", fmt, ".")

    assert_neutralised(result.output)
    assert result.code == 1, result.output  # the key file cannot be read: that site failed
    # Markdown escapes the backslash of each escape again (`\\x07` renders as `\x07`);
    # a line break stays a `<br>`, which cannot open Markdown structure.
    shown = NAME_SHOWN if fmt == "text" else "\\\\x07\\\\x1b\\[31m<br>red"
    assert shown in result.output, result.output


def test_status_text_and_page_show_a_hostile_message_escaped() -> None:
    from reconciler.cli.status import text_lines
    from reconciler.status_page._html import el

    condition = {"type": "Failed", "message": f"file {HOSTILE}"}
    report = {"command": "reconcile", "sites": [{"name": "acme", "conditions": [condition]}]}

    lines = text_lines(report)
    page = el("p", HOSTILE, title=HOSTILE)

    assert_neutralised("\n".join(lines) + page)
    assert len(lines) == 2 and SHOWN in lines[1]
    assert "\n" not in page and page.count(SHOWN) == 2


def test_reconcile_text_log_lines_show_control_characters_escaped(
    capsys: pytest.CaptureFixture[str],
) -> None:
    import logging

    from reconciler.cli.reconcile import _configure_logging

    loggers = [logging.getLogger("brightback"), logging.getLogger("brightback.client")]
    saved = [(lg.handlers[:], lg.level, lg.propagate) for lg in loggers]
    try:
        _configure_logging("text")
        logging.getLogger("brightback.client").info("acme: peer said %s", HOSTILE)
    finally:  # leave logging as the other tests in this process expect it
        for lg, (handlers, level, propagate) in zip(loggers, saved, strict=True):
            lg.handlers[:], lg.level, lg.propagate = handlers, level, propagate

    err = capsys.readouterr().err
    assert_neutralised(err)
    assert err == f"INFO acme: peer said {SHOWN}\n"
