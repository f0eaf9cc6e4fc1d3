"""`integrations_from_yaml` takes what a Pulumi program naturally writes: one path as a
string or a `Path`, or a list of them. A plain string used to be iterated character by
character (walking "/" for `"sites/"`)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pulumi
import pytest

from provider import integrations_from_yaml
from reconciler.spec import load
from tests.provider.test_program_mocks import EXAMPLES, RecordingMocks


@pytest.fixture
def mocks() -> Iterator[RecordingMocks]:
    recording = RecordingMocks()
    pulumi.runtime.set_mocks(recording, project="brightback-demo", stack="dev", preview=False)
    yield recording


@pytest.mark.parametrize("form", ["str", "str-slash", "path", "list"])
@pulumi.runtime.test
def test_one_path_as_a_string_or_a_path_or_a_list(mocks: RecordingMocks, form: str) -> Any:
    given: Any = {
        "str": str(EXAMPLES),
        "str-slash": str(EXAMPLES) + "/",
        "path": EXAMPLES,
        "list": [EXAMPLES / "acme", str(EXAMPLES / "globex")],
    }[form]
    resources = integrations_from_yaml(given)
    roots = [EXAMPLES] if form != "list" else [EXAMPLES / "acme", EXAMPLES / "globex"]
    assert sorted(r._name for r in resources) == sorted(d.name for d in load(roots))
    return pulumi.Output.all(*[r.id for r in resources])
