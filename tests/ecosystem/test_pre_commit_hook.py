"""`.pre-commit-hooks.yaml`: a well-formed manifest whose hook runs a real command."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from ._cli import parse_brightback

ROOT = Path(__file__).parents[2]
BRIGHTBACK = str(Path(sys.executable).with_name("brightback"))
EXAMPLE = ROOT / "examples/sites/acme/acme.yaml"


def hook() -> dict[str, Any]:
    manifest = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())
    assert isinstance(manifest, list)
    (only,) = manifest
    assert isinstance(only, dict)
    return only


def test_manifest_has_the_fields_pre_commit_requires() -> None:
    entry = hook()
    assert entry["id"] == "brightback-validate"
    assert {"id", "name", "entry", "language"} <= entry.keys()
    assert entry["language"] == "python"  # pre-commit pip-installs this repository
    assert set(entry) <= {  # pre-commit rejects unknown keys only with a warning; keep exact
        "id",
        "name",
        "description",
        "entry",
        "language",
        "files",
        "exclude",
        "types",
        "types_or",
        "exclude_types",
        "args",
        "pass_filenames",
        "require_serial",
        "minimum_pre_commit_version",
        "stages",
        "always_run",
        "verbose",
        "log_file",
        "additional_dependencies",
        "fail_fast",
        "alias",
        "language_version",
    }


def test_entry_is_a_real_command_taking_the_staged_files() -> None:
    words = shlex.split(hook()["entry"])
    assert words[0] == "brightback"
    args = parse_brightback([*words[1:], "sites/a.yaml", "sites/b.yml"])
    assert args.command == "validate"
    assert args.paths == ["sites/a.yaml", "sites/b.yml"]


def test_files_pattern_picks_site_yaml_and_skips_other_yaml() -> None:
    pattern = re.compile(hook()["files"])
    assert pattern.search("sites/acme.yaml")
    assert pattern.search("examples/sites/acme/acme.yaml")
    assert pattern.search("sites/globex/prod.yml")
    assert not pattern.search(".github/workflows/brightback-plan.yml")
    assert not pattern.search("sites/README.md")


def test_hook_passes_valid_files_and_fails_a_broken_one(tmp_path: Path) -> None:
    command = [BRIGHTBACK, *shlex.split(hook()["entry"])[1:]]
    ok = subprocess.run([*command, str(EXAMPLE)], capture_output=True, text=True, check=False)
    assert ok.returncode == 0, ok.stderr

    broken = tmp_path / "sites" / "broken.yaml"
    broken.parent.mkdir()
    broken.write_text(EXAMPLE.read_text().replace("state: connected", "state: sideways", 1))
    bad = subprocess.run([*command, str(broken)], capture_output=True, text=True, check=False)
    assert bad.returncode != 0
    assert f"{broken}:" in bad.stdout + bad.stderr
    assert "spec.connection.state" in bad.stdout + bad.stderr
