"""examples/kubernetes keeps its memory: the CronJob's state on a PersistentVolumeClaim
and exit 2 not failing its Job; the sharded/ Indexed Job on the PostgreSQL store.
Validated like the other manifests (official schemas, strict, offline) and run through
our own CLI parser."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from reconciler.fleet.shard import INDEX_ENV, shard_from
from reconciler.store import STATE_URL_ENV

from ._cli import parse_brightback

DIR = Path(__file__).parents[2] / "examples/kubernetes"
SHARDED = DIR / "sharded"
K8S_VERSIONS = ("1.29.0", kubernetes_validate.latest_version())


def load(path: Path) -> dict[str, Any]:
    (document,) = [d for d in yaml.safe_load_all(path.read_text()) if d is not None]
    return dict(document)


def pod(cronjob: dict[str, Any]) -> dict[str, Any]:
    spec: dict[str, Any] = cronjob["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    return spec


@pytest.mark.parametrize("version", K8S_VERSIONS)
@pytest.mark.parametrize(
    "path", [DIR / "pvc.yaml", DIR / "cronjob.yaml", SHARDED / "cronjob.yaml"], ids=str
)
def test_state_manifests_are_valid_against_the_official_schema(path: Path, version: str) -> None:
    kubernetes_validate.validate(load(path), version, strict=True)


def test_the_cronjob_keeps_its_state_on_the_claim_and_succeeds_when_it_corrects_drift() -> None:
    cronjob = load(DIR / "cronjob.yaml")
    spec = pod(cronjob)
    volumes = {v["name"]: v for v in spec["volumes"]}
    claim = load(DIR / "pvc.yaml")
    assert volumes["state"] == {
        "name": "state",
        "persistentVolumeClaim": {"claimName": claim["metadata"]["name"]},
    }
    assert claim["metadata"]["namespace"] == cronjob["metadata"]["namespace"]
    (container,) = spec["containers"]
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    args = parse_brightback([str(a) for a in container["args"]])
    # the state dir (.brightback, relative) is on the claim, and exit 2 becomes 0
    assert container["workingDir"] == mounts["state"] and not args.state_dir.is_absolute()
    assert args.changes_exit_code == 0
    assert spec["securityContext"]["fsGroup"] == spec["securityContext"]["runAsGroup"]
    assert cronjob["spec"]["concurrencyPolicy"] == "Forbid"  # one writer of the volume
    kustomization = yaml.safe_load((DIR / "kustomization.yaml").read_text())
    assert "pvc.yaml" in kustomization["resources"]


def test_the_sharded_job_runs_one_pod_per_shard_on_the_shared_store() -> None:
    cronjob = load(SHARDED / "cronjob.yaml")
    job = cronjob["spec"]["jobTemplate"]["spec"]
    assert job["completionMode"] == "Indexed"
    assert job["completions"] == job["parallelism"]
    assert job["backoffLimitPerIndex"] == 0  # one failed shard never stops the others
    (container,) = pod(cronjob)["containers"]
    assert container["command"] == ["brightback"]
    args = parse_brightback([str(a) for a in container["args"]])
    assert args.command == "reconcile" and args.once
    assert args.shard_count == job["completions"] and args.shard is None
    assert args.changes_exit_code == 0
    # each pod's shard as the Job controller hands it over
    shards = {shard_from(None, args.shard_count, {INDEX_ENV: str(i)}) for i in range(4)}
    assert sorted(s.index for s in shards) == list(range(job["completions"]))

    env = {e["name"]: e for e in container["env"]}
    assert env[STATE_URL_ENV]["valueFrom"]["secretKeyRef"]["name"] == "brightback-state"
    assert env["PGPASSWORD"]["valueFrom"]["secretKeyRef"]["key"] == "password"
    assert all("value" not in e for e in env.values())  # nothing secret pasted in
    run_id = env["BRIGHTBACK_RUN_ID"]["valueFrom"]["fieldRef"]["fieldPath"]
    assert run_id == "metadata.labels['batch.kubernetes.io/controller-uid']"
    assert container["envFrom"] == [{"secretRef": {"name": "brightback-api-keys"}}]
    assert container["securityContext"]["readOnlyRootFilesystem"] is True


def test_the_sharded_kustomization_applies_its_manifest() -> None:
    kustomization = yaml.safe_load((SHARDED / "kustomization.yaml").read_text())
    assert kustomization["resources"] == ["cronjob.yaml"]
