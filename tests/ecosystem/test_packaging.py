"""The package as users get it: sdist and wheel built with `python -m build` (the wheel from
the sdist, as PyPI installers would), metadata checked by `twine check --strict`, the
schemas the CLI loads at run time inside the wheel, and the Pulumi SDK only in an extra."""

from __future__ import annotations

import email.parser
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]
BIN = Path(sys.executable).parent


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [sys.executable, "-m", "build", "--outdir", str(out), str(ROOT)],
        check=True,
        capture_output=True,
    )
    return out


def wheel(dist: Path) -> zipfile.ZipFile:
    (path,) = dist.glob("*.whl")
    return zipfile.ZipFile(path)


def metadata(dist: Path) -> email.message.Message:
    archive = wheel(dist)
    (name,) = [n for n in archive.namelist() if n.endswith(".dist-info/METADATA")]
    return email.parser.Parser().parsestr(archive.read(name).decode())


@pytest.mark.slow
def test_sdist_and_wheel_pass_twine_check(dist: Path) -> None:
    files = sorted(dist.iterdir())
    assert sorted(f.suffix for f in files) == [".gz", ".whl"]
    done = subprocess.run(
        [str(BIN / "twine"), "check", "--strict", *map(str, files)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def schema_files_the_code_opens() -> set[str]:
    """Every schema file name the installed packages refer to in their source."""
    names: set[str] = set()
    for package in ("reconciler", "emulator", "provider"):
        for source in (ROOT / package).rglob("*.py"):
            names.update(
                re.findall(
                    r"[\"']([\w.-]+\.(?:schema\.json|openapi\.yaml))[\"']", source.read_text()
                )
            )
    return names


@pytest.mark.slow
def test_wheel_carries_every_schema_the_cli_loads(dist: Path) -> None:
    shipped = {Path(n).name for n in wheel(dist).namelist() if n.startswith("reconciler/schemas/")}
    needed = schema_files_the_code_opens()
    assert "brightback-integration.schema.json" in needed  # the scan finds what validate loads
    assert needed <= shipped, needed - shipped
    tracked = subprocess.run(
        ["git", "ls-files", "schemas"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    assert {Path(t).name for t in tracked} <= shipped


@pytest.mark.slow
def test_license_is_an_spdx_expression_and_pulumi_is_an_extra(dist: Path) -> None:
    meta = metadata(dist)
    assert meta["License-Expression"] == "Apache-2.0"
    assert meta.get("License") is None  # the deprecated table form is gone
    requires = meta.get_all("Requires-Dist") or []
    assert "pulumi" in (meta.get_all("Provides-Extra") or [])
    base = [r for r in requires if "extra ==" not in r]
    assert not [r for r in base if r.lower().startswith("pulumi")], base
    assert any(r.startswith("pulumi") and 'extra == "pulumi"' in r for r in requires)
    assert any("brightback-gitops[pulumi]" in r and 'extra == "test"' in r for r in requires)


BLOCK_PULUMI = "import sys; sys.modules['pulumi'] = None\n"


def test_cli_runs_without_the_pulumi_sdk() -> None:
    code = BLOCK_PULUMI + (
        "from reconciler.cli import main\n"
        f"raise SystemExit(main(['validate', {str(ROOT / 'examples/sites')!r}]))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr


def test_provider_without_the_pulumi_sdk_says_how_to_install_it() -> None:
    code = BLOCK_PULUMI + "import provider\n"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert done.returncode != 0
    assert "pip install 'brightback-gitops[pulumi]'" in done.stderr
