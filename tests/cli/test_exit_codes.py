"""One exit-code table for every command, in `--help` and the README, that CI can trust:
0 nothing to do, 2 changes pending or made, 1 failed/Blocked/invalid, 64 usage, 130 Ctrl-C."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from reconciler.cli import COMMANDS, EXIT_CODES, EXIT_USAGE, main
from tests.engine.conftest import BRIGHTBACK

README = Path(__file__).resolve().parents[2] / "README.md"


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [BRIGHTBACK, *args], capture_output=True, text=True, timeout=120, check=False, cwd=cwd
    )


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["nosuchcommand"],
        ["plan"],
        ["plan", "x.yaml", "--no-such-option"],
        ["apply", "x.yaml", "--concurrency", "0"],
        ["reconcile", "x.yaml", "--interval", "soon"],
        ["validate", "x.yaml", "--format", "yaml"],
        ["status", "--serve", "port"],
    ],
)
def test_usage_errors_exit_64_not_2_which_means_changes_pending(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == EXIT_USAGE == 64
    assert "usage:" in capsys.readouterr().err


def test_usage_error_exit_code_of_the_installed_command() -> None:
    done = run("plan")
    assert done.returncode == 64
    assert "Traceback" not in done.stderr


def test_version() -> None:
    done = run("--version")
    assert done.returncode == 0
    assert re.fullmatch(r"brightback \d+\.\d+\.\d+\S*\n", done.stdout)


@pytest.mark.parametrize("command", [None, *COMMANDS])
def test_every_commands_help_shows_the_exit_code_table(
    command: str | None, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([command, "--help"] if command else ["--help"]) == 0
    shown = " ".join(capsys.readouterr().out.split())
    assert " ".join(EXIT_CODES.split()) in shown


def test_the_readme_states_the_same_exit_code_table() -> None:
    text = README.read_text(encoding="utf-8")
    for line in EXIT_CODES.splitlines()[1:]:
        code, meaning = line.split(maxsplit=1)
        row = re.search(rf"^\| `{code}` \| (.+) \|$", text, re.M)
        assert row is not None, f"README has no row for exit code {code}"
        assert row.group(1) == meaning, (code, row.group(1), meaning)


def test_output_piped_into_head_ends_quietly(tmp_path: Path) -> None:
    docs = [
        f"""---
apiVersion: brightback-gitops/v1alpha1
kind: BrightbackIntegration
metadata: {{name: site-{n:04d}}}
spec:
  site: site-{n:04d}
  credentials: {{apiKeyFromEnv: KEY_{n:04d}}}
  connection: {{state: disconnected}}
"""
        for n in range(3000)
    ]
    (tmp_path / "fleet.yaml").write_text("".join(docs), encoding="utf-8")
    # What `brightback validate ... | head -c 100` does: read a little, then go away.
    process = subprocess.Popen(
        [BRIGHTBACK, "validate", "fleet.yaml", "--format", "json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=tmp_path,
    )
    assert process.stdout is not None and process.stderr is not None
    head = process.stdout.read(100)
    process.stdout.close()
    stderr = process.stderr.read().decode()
    process.wait(timeout=120)
    assert head.startswith(b"{")
    assert stderr == "", stderr  # no traceback, no "Exception ignored"
