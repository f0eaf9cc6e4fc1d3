"""examples/github-actions/: valid workflows (public schema), real commands, every secret."""

from __future__ import annotations

import importlib.resources
import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from ruamel.yaml import YAML

from ._cli import commands_in_script, parse_brightback

ROOT = Path(__file__).parents[2]
WORKFLOWS = sorted((ROOT / "examples/github-actions").glob("*.yml"))


def github_workflow_schema() -> dict[str, Any]:
    """The schemastore GitHub workflow schema as vendored by check-jsonschema."""
    vendor = importlib.resources.files("check_jsonschema.builtin_schemas.vendor")
    schema: dict[str, Any] = json.loads((vendor / "github-workflows.json").read_text("utf-8"))
    return schema


def load_workflow(path: Path) -> dict[str, Any]:
    """YAML 1.2 like GitHub: `on:` stays the string "on" (PyYAML's 1.1 makes it True)."""
    data: dict[str, Any] = YAML(typ="safe").load(path.read_text())
    return data


def run_scripts(workflow: dict[str, Any]) -> list[str]:
    return [
        step["run"]
        for job in workflow["jobs"].values()
        for step in job.get("steps", [])
        if "run" in step
    ]


def api_key_envs() -> set[str]:
    """Every spec.credentials.apiKeyFromEnv of the example sites the workflows run over."""
    names = set()
    for path in (ROOT / "examples/sites").rglob("*.yaml"):
        for document in yaml.safe_load_all(path.read_text()):
            names.add(document["spec"]["credentials"]["apiKeyFromEnv"])
    return names


def test_the_three_documented_workflows_exist() -> None:
    assert [p.name for p in WORKFLOWS] == [
        "apply-on-merge.yml",
        "drift-schedule.yml",
        "plan-on-pr.yml",
    ]


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_workflow_is_valid_against_the_public_github_schema(path: Path) -> None:
    schema = github_workflow_schema()
    validator = jsonschema.validators.validator_for(schema)(schema)
    errors = [
        f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(load_workflow(path))
    ]
    assert errors == []


def test_schema_check_catches_a_broken_workflow() -> None:
    schema = github_workflow_schema()
    broken = load_workflow(WORKFLOWS[0])
    broken["jobs"]["apply"]["steps"][0]["uses"] = 42  # not a string
    assert not jsonschema.validators.validator_for(schema)(schema).is_valid(broken)


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_every_brightback_command_in_the_workflow_parses(path: Path) -> None:
    commands = [
        argv for script in run_scripts(load_workflow(path)) for argv in commands_in_script(script)
    ]
    assert commands, f"{path.name} runs no brightback command"
    for argv in commands:
        parse_brightback(argv)


def test_commands_are_the_documented_ones() -> None:
    by_file = {
        p.name: [argv for s in run_scripts(load_workflow(p)) for argv in commands_in_script(s)]
        for p in WORKFLOWS
    }
    assert ["plan", "sites/", "--format", "markdown"] in by_file["plan-on-pr.yml"]
    assert ["apply", "sites/", "--format", "markdown"] in by_file["apply-on-merge.yml"]
    assert ["reconcile", "sites/", "--once", "--format", "markdown"] in by_file[
        "drift-schedule.yml"
    ]


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_every_site_key_comes_from_the_github_secret_of_the_same_name(path: Path) -> None:
    workflow = load_workflow(path)
    (job,) = workflow["jobs"].values()
    env = job["env"]
    for name in api_key_envs():
        assert env.get(name) == f"${{{{ secrets.{name} }}}}"


def test_posting_jobs_ask_only_for_the_permissions_they_use() -> None:
    permissions = {p.name: load_workflow(p)["permissions"] for p in WORKFLOWS}
    assert permissions["plan-on-pr.yml"] == {"contents": "read", "pull-requests": "write"}
    assert permissions["apply-on-merge.yml"] == {"contents": "read"}
    assert permissions["drift-schedule.yml"] == {"contents": "read", "issues": "write"}


def test_drift_job_reads_only_fields_the_report_schemas_guarantee() -> None:
    workflow = load_workflow(ROOT / "examples/github-actions/drift-schedule.yml")
    (script,) = [s for s in run_scripts(workflow) if "--once" in s]
    report = json.loads((ROOT / "schemas/report.schema.json").read_text())
    plan = json.loads((ROOT / "schemas/plan.schema.json").read_text())
    site = report["$defs"]["site"]
    assert {"applied"} <= set(report["properties"]["summary"]["required"])
    assert '["summary"]["applied"]' in script
    assert {"name", "status", "conditions", "plan"} <= set(site["required"])
    for field in ("name", "status", "conditions", "plan"):
        assert f'site["{field}"]' in script or f'site.get("{field}")' in script
    assert "reason" in report["$defs"]["condition"]["properties"]
    assert "drift" in plan["required"] and "field" in plan["$defs"]["drift"]["required"]
    assert ".brightback" in script and "last-report.json" in script  # where reconcile writes
