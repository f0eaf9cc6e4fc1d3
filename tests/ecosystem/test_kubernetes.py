"""examples/kubernetes/: manifests valid against the official Kubernetes schemas (strict,
offline, shipped by kubernetes-validate), real commands, and the promised hardening."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from reconciler.spec import load_text

from ._cli import parse_brightback

DIR = Path(__file__).parents[2] / "examples/kubernetes"
MANIFESTS = sorted(p for p in DIR.glob("*.yaml") if p.name != "kustomization.yaml")
K8S_VERSIONS = ("1.29.0", kubernetes_validate.latest_version())  # oldest supported, newest


def documents(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d is not None]


def by_kind(kind: str) -> dict[str, Any]:
    (found,) = [d for p in MANIFESTS for d in documents(p) if d["kind"] == kind]
    return found


def pod_spec(kind: str) -> dict[str, Any]:
    resource = by_kind(kind)
    if kind == "CronJob":
        spec: dict[str, Any] = resource["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    else:
        spec = resource["spec"]["template"]["spec"]
    return spec


@pytest.mark.parametrize("version", K8S_VERSIONS)
@pytest.mark.parametrize("path", MANIFESTS, ids=lambda p: p.name)
def test_manifest_is_valid_against_the_official_schema(path: Path, version: str) -> None:
    for document in documents(path):
        kubernetes_validate.validate(document, version, strict=True)


def test_strict_validation_catches_a_misspelt_field() -> None:
    cronjob = by_kind("CronJob")
    cronjob["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0][
        "imagePullPolcy"
    ] = "Always"
    with pytest.raises(kubernetes_validate.ValidationError, match="imagePullPolcy"):
        kubernetes_validate.validate(cronjob, K8S_VERSIONS[-1], strict=True)


def test_kustomization_applies_every_manifest() -> None:
    kustomization = yaml.safe_load((DIR / "kustomization.yaml").read_text())
    assert sorted(kustomization["resources"]) == [p.name for p in MANIFESTS]


@pytest.mark.parametrize("kind", ["CronJob", "Deployment"])
def test_container_command_parses_with_our_cli(kind: str) -> None:
    (container,) = pod_spec(kind)["containers"]
    assert container["command"] == ["brightback"]
    args = parse_brightback([str(a) for a in container["args"]])
    assert args.command == "reconcile"


def test_cronjob_runs_one_pass_every_fifteen_minutes_never_overlapping() -> None:
    cronjob = by_kind("CronJob")
    assert cronjob["spec"]["schedule"] == "*/15 * * * *"
    assert cronjob["spec"]["concurrencyPolicy"] == "Forbid"
    assert "--once" in pod_spec("CronJob")["containers"][0]["args"]


def test_deployment_serves_status_and_metrics_on_the_ports_it_declares() -> None:
    (container,) = pod_spec("Deployment")["containers"]
    args = [str(a) for a in container["args"]]
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert args[args.index("--serve") + 1] == str(ports["status"]) == "8080"
    assert args[args.index("--metrics-port") + 1] == str(ports["metrics"]) == "9108"
    assert args[args.index("--interval") + 1] == "10m"
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "status"}
    # the status page binds loopback unless told otherwise; the probes and Service need more
    assert {"name": "BRIGHTBACK_SERVE_HOST", "value": "0.0.0.0"} in container["env"]
    deployment = by_kind("Deployment")
    assert deployment["spec"]["replicas"] == 1
    assert deployment["spec"]["strategy"]["type"] == "Recreate"


def test_service_selects_only_the_long_running_reconciler() -> None:
    selector = by_kind("Service")["spec"]["selector"]
    deployment_labels = by_kind("Deployment")["spec"]["template"]["metadata"]["labels"]
    cronjob_labels = by_kind("CronJob")["spec"]["jobTemplate"]["spec"]["template"]["metadata"][
        "labels"
    ]
    assert selector.items() <= deployment_labels.items()
    assert not selector.items() <= cronjob_labels.items()
    targets = {p["targetPort"] for p in by_kind("Service")["spec"]["ports"]}
    assert targets == {"status", "metrics"}


@pytest.mark.parametrize("kind", ["CronJob", "Deployment"])
def test_pods_run_hardened_with_keys_only_from_the_secret(kind: str) -> None:
    spec = pod_spec(kind)
    assert spec["securityContext"]["runAsNonRoot"] is True
    assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert spec["automountServiceAccountToken"] is False
    (container,) = spec["containers"]
    assert container["securityContext"] == {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "capabilities": {"drop": ["ALL"]},
    }
    assert container["resources"]["limits"]["memory"]
    assert container["resources"]["requests"]["cpu"]
    assert container["envFrom"] == [{"secretRef": {"name": "brightback-api-keys"}}]
    plain_env = {e["name"]: e.get("value") for e in container.get("env", [])}
    assert set(plain_env) <= {"BRIGHTBACK_SERVE_HOST"}  # no key pasted into the manifest
    mounts = {m["name"]: m for m in container["volumeMounts"]}
    assert mounts["sites"]["readOnly"] is True
    assert container["workingDir"] == mounts["state"]["mountPath"]  # .brightback/ is writable


def test_configmap_holds_valid_site_documents() -> None:
    data = by_kind("ConfigMap")["data"]
    names = [d.name for key, text in sorted(data.items()) for d in load_text(text, key)]
    assert names == ["acme-live", "globex-live"]
