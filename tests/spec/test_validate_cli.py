"""`brightback validate` as a user runs it: a subprocess, exit codes, every problem printed."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def brightback(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "reconciler.cli", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
        check=False,
    )


def test_examples_are_valid() -> None:
    result = brightback("validate", "examples/")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("valid: ")


def test_broken_copy_of_examples_exits_1_with_all_its_errors(tmp_path: Path) -> None:
    copy = tmp_path / "sites"
    shutil.copytree(ROOT / "examples" / "sites", copy)
    acme = copy / "acme" / "acme.yaml"
    acme.write_text(
        acme.read_text().replace("integrateVia: customer_portal", "integrateVia: portal", 1)
    )
    globex = copy / "globex" / "globex.yaml"
    globex.write_text(globex.read_text().replace("  probe:\n", "  prob:\n"))
    result = brightback("validate", str(copy))
    assert result.returncode == 1
    lines = result.stderr.splitlines()
    assert any(
        line.startswith(f"{acme}:") and "spec.integrateVia: 'portal' is not one of" in line
        for line in lines
    ), result.stderr
    assert any(
        line.startswith(f"{globex}:") and "spec.prob: unknown field" in line for line in lines
    )
    assert lines[-1] == "invalid: 2 problems"
    assert "Traceback" not in result.stderr


def test_json_format_lists_problems_for_machines(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("apiVersion: brightback-gitops/v1alpha1\nkind: BrightbackIntegration\n")
    result = brightback("validate", "--format", "json", str(bad))
    assert result.returncode == 1
    report = json.loads(result.stdout)
    assert report["valid"] is False
    assert {p["field"] for p in report["problems"]} == {"metadata", "spec"}
    assert all(p["file"] == str(bad) and p["line"] == 1 for p in report["problems"])


def test_stdin_is_validated_with_dash() -> None:
    text = (ROOT / "examples" / "sites" / "umbrella" / "umbrella.yaml").read_text()
    result = subprocess.run(
        [sys.executable, "-m", "reconciler.cli", "validate", "-"],
        input=text,
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
