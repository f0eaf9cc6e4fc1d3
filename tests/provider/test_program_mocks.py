"""The YAML helper as a Pulumi program, run under `pulumi.runtime.set_mocks`.

Mocks run the program and the resource registration (pickling `__provider` included) but
never call the provider, so these tests are about what the program declares.
"""

from __future__ import annotations

import runpy
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pulumi
import pytest

from provider import BrightbackIntegration, BrightbackProvider, integrations_from_yaml
from provider._inputs import INPUT_KEYS, PROVIDER_KEY, PROVIDER_VERSION
from provider.program import resource_options_for
from reconciler.errors import SpecError
from reconciler.spec import load

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "sites"
TYPE = "pulumi-python:dynamic/brightback:Integration"


class RecordingMocks(pulumi.runtime.Mocks):
    """Answers every registration with plausible outputs and remembers what was asked."""

    def __init__(self) -> None:
        self.registered: list[pulumi.runtime.MockResourceArgs] = []
        self._lock = threading.Lock()

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        with self._lock:
            self.registered.append(args)
        site = args.inputs.get("site", "")
        outputs = {
            **args.inputs,
            "trafficStatus": "on",
            "apiKeyId": f"bbkey_{site}",
            "connectedBrightbackSite": args.inputs.get("connection", {}).get("brightbackSite"),
            "conditions": [{"type": "Ready", "reason": "in_sync", "message": "ok"}],
            "inSync": True,
        }
        return site, outputs

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict[str, Any], None]:
        return {}, None


@pytest.fixture
def mocks() -> Iterator[RecordingMocks]:
    recording = RecordingMocks()
    pulumi.runtime.set_mocks(recording, project="brightback-demo", stack="dev", preview=False)
    yield recording


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def document(name: str, site: str, *, allow_disconnect: bool, deletion: str = "orphan") -> str:
    return f"""\
apiVersion: brightback-gitops/v1alpha1
kind: BrightbackIntegration
metadata:
  name: {name}
spec:
  site: {site}
  credentials:
    apiKeyFromEnv: {site.upper()}_KEY
  connection:
    state: connected
    brightbackSite: {site}-retention
  integrateVia: customer_portal
  cancellationViaBrightback: true
  policy:
    allowDisconnect: {str(allow_disconnect).lower()}
    deletionPolicy: {deletion}
"""


@pulumi.runtime.test
def test_one_resource_per_document_in_the_example_sites(mocks: RecordingMocks) -> Any:
    expected = sorted(d.name for d in load([EXAMPLES]))
    resources = integrations_from_yaml([EXAMPLES])
    assert sorted(r._name for r in resources) == expected

    def registered(_: Any) -> None:
        assert sorted(a.name for a in mocks.registered) == expected
        assert {a.typ for a in mocks.registered} == {TYPE}

    return pulumi.Output.all(*[r.id for r in resources]).apply(registered)


@pulumi.runtime.test
def test_registered_inputs_are_already_normal_and_hold_no_key(mocks: RecordingMocks) -> Any:
    resources = integrations_from_yaml([EXAMPLES])

    def registered(_: Any) -> None:
        checker = BrightbackProvider()
        for args in mocks.registered:
            sent = dict(args.inputs)
            assert set(sent) <= {*INPUT_KEYS, PROVIDER_KEY}
            assert sent["version"] == PROVIDER_VERSION
            assert len(str(sent[PROVIDER_KEY])) < 200  # the class by reference
            program = {k: v for k, v in sent.items() if k != PROVIDER_KEY}
            result = checker.check({}, program)
            assert result.failures == []
            assert result.inputs == program  # so the first preview shows no spurious diff

    return pulumi.Output.all(*[r.id for r in resources]).apply(registered)


@pulumi.runtime.test
def test_declared_outputs_are_readable_on_the_resource(
    mocks: RecordingMocks, tmp_path: Path
) -> Any:
    path = write(tmp_path, "acme.yaml", document("acme-live", "acme", allow_disconnect=False))
    (acme,) = integrations_from_yaml([path])
    assert isinstance(acme, BrightbackIntegration)

    def outputs(values: list[Any]) -> None:
        traffic, key_id, bb_site, conditions, in_sync = values
        assert traffic == "on"
        assert key_id == "bbkey_acme"
        assert bb_site == "acme-retention"
        assert conditions[0]["type"] == "Ready"
        assert in_sync is True

    return pulumi.Output.all(
        acme.trafficStatus,
        acme.apiKeyId,
        acme.connectedBrightbackSite,
        acme.conditions,
        acme.inSync,
    ).apply(outputs)


@pulumi.runtime.test
def test_sites_that_may_not_disconnect_are_protected(mocks: RecordingMocks, tmp_path: Path) -> Any:
    write(tmp_path, "a.yaml", document("guarded", "guarded", allow_disconnect=False))
    write(tmp_path, "b.yaml", document("loose", "loose", allow_disconnect=True))
    resources = {r._name: r for r in integrations_from_yaml([tmp_path])}
    assert resources["guarded"]._protect is True
    assert resources["loose"]._protect is False
    return pulumi.Output.all(*[r.id for r in resources.values()])


def test_options_follow_the_policy(tmp_path: Path) -> None:
    write(tmp_path, "a.yaml", document("keep", "keep", allow_disconnect=True))
    write(
        tmp_path, "b.yaml", document("drop", "drop", allow_disconnect=True, deletion="disconnect")
    )
    write(tmp_path, "c.yaml", document("guard", "guard", allow_disconnect=False))
    options = {d.name: resource_options_for(d) for d in load([tmp_path])}
    assert (options["keep"].protect, options["keep"].retain_on_delete) == (False, True)
    assert (options["drop"].protect, options["drop"].retain_on_delete) == (False, False)
    assert options["guard"].protect is True


@pulumi.runtime.test
def test_caller_options_are_merged_under_the_policy(mocks: RecordingMocks, tmp_path: Path) -> Any:
    write(tmp_path, "a.yaml", document("guarded", "guarded", allow_disconnect=False))
    (guarded,) = integrations_from_yaml(
        [tmp_path], opts=pulumi.ResourceOptions(protect=False, ignore_changes=["labels"])
    )
    assert guarded._protect is True  # the document's safety wins over the caller's
    return guarded.id


def test_a_broken_file_fails_the_program_with_its_position(
    mocks: RecordingMocks, tmp_path: Path
) -> None:
    write(tmp_path, "good.yaml", document("good", "good", allow_disconnect=False))
    text = document("bad", "bad", allow_disconnect=False).replace("customer_portal", "fax")
    bad = write(tmp_path, "bad.yaml", text)
    with pytest.raises(SpecError) as caught:
        integrations_from_yaml([tmp_path])
    (problem,) = caught.value.problems
    assert problem.file == str(bad)
    assert problem.field == "spec.integrateVia"
    assert problem.line == text.splitlines().index("  integrateVia: fax") + 1
    assert mocks.registered == []  # nothing half-declared


def test_outputs_cannot_be_passed_as_inputs(mocks: RecordingMocks) -> None:
    with pytest.raises(TypeError, match="apiKey"):
        BrightbackIntegration("acme", {"site": "acme", "apiKey": "x"})


def test_the_example_project_declares_every_example_site(mocks: RecordingMocks) -> None:
    expected = sorted(d.name for d in load([EXAMPLES]))

    @pulumi.runtime.test
    def run_program() -> Any:
        namespace = runpy.run_path(str(EXAMPLES.parent / "pulumi" / "__main__.py"))
        assert "integrations_from_yaml" in namespace
        return namespace["integration"].id

    # Checked once the program has run to the end: the test decorator waits for every
    # outstanding registration, while a callback on one resource's id could run before
    # the others were registered (CI saw 5 of 6 under load).
    run_program()
    assert sorted(a.name for a in mocks.registered) == expected
