"""CLI conventions of issue 18: --selector, -o, --allow-empty, --interval 1h30m, saved plans
and foreign YAML named for what they are, YAML 1.2 booleans, help text for every option."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest
import yaml

from reconciler.cli import COMMANDS, build_parser_for
from reconciler.errors import SpecError
from reconciler.fleet.loop import parse_duration
from reconciler.spec import load_text
from tests.engine.conftest import Fleet, document

pytestmark = pytest.mark.e2e


def labelled(site: str, **labels: str) -> str:
    doc = yaml.safe_load(document(site))
    doc["metadata"]["labels"] = labels
    return yaml.safe_dump(doc, sort_keys=False)


def two_brands(fleet: Fleet) -> Path:
    for site in ("acme", "globex"):
        fleet.add_site(site, published=[(f"{site}-bb", "customer_portal")])
    return fleet.write(
        "sites.yaml",
        labelled("acme", brand="acme", env="live")
        + "---\n"
        + labelled("globex", brand="globex", env="live"),
    )


# --------------------------------------------------------------------------- --selector, -o


def test_selector_plans_only_the_documents_with_every_label(fleet: Fleet) -> None:
    two_brands(fleet)
    result = fleet.cli("plan", "sites.yaml", "--selector", "brand=acme,env=live", "-o", "json")
    assert result.code == 2, result.output
    assert [s["name"] for s in json.loads(result.stdout)["sites"]] == ["acme-live"]
    short = fleet.cli("plan", "sites.yaml", "-l", "env=live", "-o", "json")
    assert sorted(s["name"] for s in json.loads(short.stdout)["sites"]) == [
        "acme-live",
        "globex-live",
    ]


def test_selector_matching_nothing_is_an_error_not_an_empty_run(fleet: Fleet) -> None:
    two_brands(fleet)
    result = fleet.cli("plan", "sites.yaml", "--selector", "brand=initech")
    assert result.code == 1
    assert "no document has the labels brand=initech" in result.stderr


def test_reconcile_selector_leaves_other_sites_alone(fleet: Fleet) -> None:
    two_brands(fleet)
    result = fleet.cli(
        "reconcile",
        "sites.yaml",
        "--once",
        "--state-dir",
        "state",
        "-l",
        "brand=globex",
        "-o",
        "json",
    )
    assert result.code == 2, result.output
    assert [s["name"] for s in json.loads(result.stdout)["sites"]] == ["globex-live"]
    assert (
        fleet.state("acme")["brightback_integration"]["cancellation_via_brightback"]["enabled"]
        is False
    )


@pytest.mark.parametrize("text", ["brand", "=acme", "brand=", "brand!=acme"])
def test_a_malformed_selector_is_a_usage_error(text: str) -> None:
    argv = ["plan", "sites/", "--selector", text]
    with pytest.raises(SystemExit) as exc:
        build_parser_for(argv).parse_args(argv)
    assert exc.value.code == 64  # EX_USAGE, the table's usage error


def test_dash_o_is_the_format_option_everywhere_it_exists() -> None:
    for command in ("validate", "plan", "apply", "reconcile"):
        argv = [command, "x.yaml", "-o", "json"]
        assert build_parser_for(argv).parse_args(argv).format == "json"


# --------------------------------------------------------------------------- empty configs


@pytest.mark.parametrize("command", ["plan", "apply", "reconcile"])
def test_an_empty_config_fails_unless_allowed(fleet: Fleet, command: str) -> None:
    (fleet.root / "empty").mkdir()
    result = (
        fleet.cli(command, "empty", "--state-dir", "state")
        if command == "reconcile"
        else (fleet.cli(command, "empty"))
    )
    assert result.code == 1, result.output
    assert "no BrightbackIntegration documents found in empty" in result.output
    assert "--allow-empty" in result.output
    extra = ["--state-dir", "state"] if command == "reconcile" else []
    allowed = fleet.cli(command, "empty", "--allow-empty", *extra)
    assert allowed.code == 0, allowed.output


# --------------------------------------------------------------------------- durations


@pytest.mark.parametrize(
    ("text", "seconds"), [("1h30m", 5400.0), ("2m30s", 150.0), ("10m", 600.0), ("45", 45.0)]
)
def test_interval_accepts_go_style_compound_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds
    argv = ["reconcile", "sites/", "--interval", text]
    assert build_parser_for(argv).parse_args(argv).interval == seconds


@pytest.mark.parametrize("text", ["1h30", "1x", "h", "m30"])
def test_interval_rejects_what_is_not_a_duration(text: str) -> None:
    with pytest.raises(ValueError, match="not a duration"):
        parse_duration(text)


# --------------------------------------------------------------------------- what a file is


def test_a_saved_plan_passed_as_desired_state_says_what_it_is(fleet: Fleet) -> None:
    two_brands(fleet)
    saved = fleet.cli("plan", "sites.yaml", "--out", "plan.json")
    assert saved.code == 2, saved.output
    for command in ("validate", "plan"):
        result = fleet.cli(command, "plan.json", "sites.yaml")
        assert result.code == 1
        lines = [x for x in result.stderr.splitlines() if x.strip().startswith("plan.json")]
        assert len(lines) == 1, result.stderr  # one message, not 21 schema problems
        assert "this is a saved plan" in lines[0] and "brightback apply" in lines[0]


def test_a_kubernetes_manifest_passed_to_validate_is_named_once() -> None:
    manifest = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\ndata: {}\n"
    with pytest.raises(SpecError) as exc:
        load_text(manifest, "cm.yaml")
    (problem,) = exc.value.problems
    assert "this is a ConfigMap (v1) document" in problem.message


def test_a_missing_required_field_is_reported_once() -> None:
    doc = yaml.safe_load(document("acme"))
    del doc["spec"]["site"]
    with pytest.raises(SpecError) as exc:
        load_text(yaml.safe_dump(doc), "a.yaml")
    messages = [str(p) for p in exc.value.problems]
    assert len(messages) == len(set(messages)), messages


# --------------------------------------------------------------------------- YAML 1.2 booleans


@pytest.mark.parametrize("word", ["yes", "no", "on", "off", "y", "Yes", "ON"])
def test_yaml_11_boolean_words_are_an_error_naming_the_field(word: str) -> None:
    text = document("acme").replace(
        "cancellationViaBrightback: true", f"cancellationViaBrightback: {word}"
    )
    assert f"cancellationViaBrightback: {word}" in text
    with pytest.raises(SpecError) as exc:
        load_text(text, "a.yaml")
    (problem,) = exc.value.problems
    assert problem.field == "spec.cancellationViaBrightback"
    assert repr(word) in problem.message


@pytest.mark.parametrize("word", ["true", "True", "TRUE"])
def test_yaml_12_core_booleans_still_load(word: str) -> None:
    text = document("acme").replace(
        "cancellationViaBrightback: true", f"cancellationViaBrightback: {word}"
    )
    (desired,) = load_text(text, "a.yaml")
    assert desired.cancellation_via_brightback is True


def test_a_label_value_yes_stays_the_string_the_user_wrote() -> None:
    (desired,) = load_text(
        labelled("acme", beta="yes").replace("beta: 'yes'", "beta: yes"), "a.yaml"
    )
    assert desired.labels["beta"] == "yes"


# --------------------------------------------------------------------------- help texts


def all_parsers() -> list[tuple[str, argparse.ArgumentParser]]:
    found = []
    for command in COMMANDS:
        parser = build_parser_for([command])
        sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        found.append((command, sub.choices[command]))
    return found


@pytest.mark.parametrize(("command", "parser"), all_parsers(), ids=[c for c in COMMANDS])
def test_every_option_of_every_command_has_help_text(
    command: str, parser: argparse.ArgumentParser
) -> None:
    missing = [
        "/".join(action.option_strings) or action.dest
        for action in parser._actions
        if not isinstance(action, argparse._HelpAction)
        and action.help in (None, "")
        and action.help is not argparse.SUPPRESS
    ]
    assert missing == [], f"brightback {command}: options without help: {missing}"


def test_reconcile_serve_takes_host_and_prints_where_it_serves(fleet: Fleet) -> None:
    two_brands(fleet)
    result = fleet.cli(
        "reconcile",
        "sites.yaml",
        "--once",
        "--state-dir",
        "state",
        "--serve",
        "0",
        "--host",
        "127.0.0.1",
    )
    assert result.code == 2, result.output
    assert "serving the status page on http://127.0.0.1:" in result.stderr


# --------------------------------------------------------------------------- show


@pytest.mark.parametrize("fmt", ["text", "markdown", "json"])
def test_show_renders_a_saved_plan_as_plan_printed_it(fleet: Fleet, fmt: str) -> None:
    two_brands(fleet)
    planned = fleet.cli("plan", "sites.yaml", "--out", "plan.json", "-o", fmt)
    assert planned.code == 2, planned.output
    shown = fleet.cli("show", "plan.json", "-o", fmt)
    assert shown.code == 2, shown.output
    if fmt == "json":
        before, after = json.loads(planned.stdout), json.loads(shown.stdout)
        assert [s["plan"] for s in after["sites"]] == [s["plan"] for s in before["sites"]]
        assert after["summary"] == before["summary"]
    else:
        assert "globex-live" in shown.stdout and "connect" in shown.stdout
        # same sites, steps and reasons; only where each site came from may differ
        strip = [line for line in planned.stdout.splitlines() if "live version" not in line]
        assert [x for x in shown.stdout.splitlines() if "live version" not in x] == strip


def test_show_refuses_a_file_that_is_not_a_saved_plan(fleet: Fleet) -> None:
    fleet.write("sites.yaml", document("acme"))
    result = fleet.cli("show", "sites.yaml")
    assert result.code == 1
    assert "not a saved plan" in result.stderr
