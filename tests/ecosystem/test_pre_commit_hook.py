"""`.pre-commit-hooks.yaml`: a well-formed manifest whose hook runs a real command."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from ._cli import parse_brightback

ROOT = Path(__file__).parents[2]
BRIGHTBACK = str(Path(sys.executable).with_name("brightback"))
PRE_COMMIT = str(Path(sys.executable).with_name("pre-commit"))
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


def test_entry_validates_the_whole_tree_once_not_the_staged_files() -> None:
    entry = hook()
    assert entry["pass_filenames"] is False  # cross-file duplicates need every file
    assert entry["require_serial"] is True  # one process, never one per batch of files
    words = shlex.split(entry["entry"])
    assert words[0] == "brightback"
    args = parse_brightback([*words[1:], *entry["args"]])
    assert args.command == "validate"
    assert args.paths == ["sites/"]


def test_files_pattern_picks_site_yaml_and_skips_other_yaml() -> None:
    pattern = re.compile(hook()["files"])
    assert pattern.search("sites/acme.yaml")
    assert pattern.search("examples/sites/acme/acme.yaml")
    assert pattern.search("sites/globex/prod.yml")
    assert not pattern.search(".github/workflows/brightback-plan.yml")
    assert not pattern.search("sites/README.md")


def test_hook_passes_valid_files_and_fails_a_broken_one(tmp_path: Path) -> None:
    command = [BRIGHTBACK, *shlex.split(hook()["entry"])[1:], *hook()["args"]]
    sites = tmp_path / "sites"
    sites.mkdir()
    (sites / "acme.yaml").write_text(EXAMPLE.read_text())
    ok = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, check=False)
    assert ok.returncode == 0, ok.stderr

    broken = sites / "broken.yaml"
    broken.write_text(
        EXAMPLE.read_text()
        .replace("state: connected", "state: sideways", 1)
        .replace("name: acme-live", "name: acme-broken")
        .replace("site: acme ", "site: acme-broken ")
    )
    bad = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, check=False)
    assert bad.returncode != 0
    assert "sites/broken.yaml:" in bad.stdout + bad.stderr
    assert "spec.connection.state" in bad.stdout + bad.stderr


# --------------------------------------------------------------------------- pre-commit itself


def git(repo: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.invalid", *args],
        cwd=repo,
        check=True,
        capture_output=True,
    )


@pytest.fixture(scope="module")
def hook_repo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """This checkout's files (committed or not) as one fixed commit, and a PRE_COMMIT_HOME.

    try-repo on a dirty tree makes a new commit per call, and so a new hook environment
    (a pip install of this package and its dependencies) per call; one commit means one.
    """
    repo = tmp_path_factory.mktemp("hook-repo")
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split("\0")
    for name in filter(None, listed):
        source = ROOT / name
        (repo / name).parent.mkdir(parents=True, exist_ok=True)
        if source.is_symlink():  # reconciler/schemas -> ../schemas stays a link
            (repo / name).symlink_to(os.readlink(source))
        elif source.is_file():
            shutil.copy2(source, repo / name)
    git(repo, "init", "-q")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "snapshot of the checkout under test")
    return repo, tmp_path_factory.mktemp("pre-commit-home")


def try_repo(repo: Path, hooks: tuple[Path, Path], *extra: str) -> subprocess.CompletedProcess[str]:
    """`pre-commit try-repo` with this checkout as the hook repository, as a user would."""
    source, home = hooks
    env = {**os.environ, "PRE_COMMIT_HOME": str(home), "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    env.pop("VIRTUAL_ENV", None)
    return subprocess.run(
        [PRE_COMMIT, "try-repo", str(source), "brightback-validate", *extra],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )


def user_repo(tmp_path: Path) -> Path:
    repo = tmp_path / "repo"
    (repo / "sites").mkdir(parents=True)
    git(repo, "init", "-q")
    return repo


def site_file(name: str) -> str:
    """The example document renamed: a distinct site, same metadata.name unless told."""
    return EXAMPLE.read_text().replace("site: acme ", f"site: {name} ")


@pytest.mark.slow
def test_pre_commit_fails_a_duplicate_name_across_two_files(
    tmp_path: Path, hook_repo: tuple[Path, Path]
) -> None:
    repo = user_repo(tmp_path)
    (repo / "sites/a.yaml").write_text(site_file("acme-one"))
    (repo / "sites/b.yaml").write_text(site_file("acme-two"))  # same metadata.name
    git(repo, "add", ".")
    done = try_repo(repo, hook_repo, "--all-files")
    output = done.stdout + done.stderr
    assert done.returncode == 1, output
    assert "sites/b.yaml:" in output and "already declared at sites/a.yaml" in output


@pytest.mark.slow
def test_pre_commit_fails_a_commit_staging_only_the_new_duplicate(
    tmp_path: Path, hook_repo: tuple[Path, Path]
) -> None:
    repo = user_repo(tmp_path)
    (repo / "sites/a.yaml").write_text(site_file("acme-one"))
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "first site")
    passing = try_repo(repo, hook_repo, "--all-files")
    assert passing.returncode == 0, passing.stdout + passing.stderr

    (repo / "sites/b.yaml").write_text(site_file("acme-two"))
    git(repo, "add", "sites/b.yaml")  # only the new file is staged
    done = try_repo(repo, hook_repo)
    output = done.stdout + done.stderr
    assert done.returncode == 1, output
    assert "already declared at sites/a.yaml" in output
