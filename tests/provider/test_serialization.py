"""`__provider`: what the SDK's own serializer makes of the provider, and what it leaves out."""

from __future__ import annotations

import base64
import importlib
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import dill
import pytest
from pulumi.dynamic import ConfigureRequest
from pulumi.dynamic.config import Config
from pulumi.dynamic.dynamic import serialize_provider

import reconciler.plan
from provider import BrightbackProvider, IntegrationError
from provider._provider import CONFIG_API_KEYS, CONFIG_API_URL
from tests.provider._builders import inputs, key_for, secret_forms

SECRET = key_for("acme")


def configured(raw: dict[str, object]) -> BrightbackProvider:
    provider = BrightbackProvider()
    provider.configure(ConfigureRequest(Config(raw_config=raw, project_name="brightback-demo")))
    return provider


def blob_bytes(serialized: str) -> bytes:
    return base64.b64decode(serialized)


def test_round_trip_through_the_sdk_serializer_gives_a_working_provider() -> None:
    # Our own blob, made two lines up: the same load the SDK server does.
    restored = dill.loads(blob_bytes(serialize_provider(BrightbackProvider())))  # noqa: S301
    assert type(restored) is BrightbackProvider
    assert restored.check({}, inputs("acme")).failures == []


def test_a_configured_provider_pickles_without_its_keys_and_as_an_unconfigured_one() -> None:
    provider = configured(
        {
            CONFIG_API_URL: "http://127.0.0.1:9/sites/{site}/api/v2",
            CONFIG_API_KEYS: {"acme": SECRET},
        }
    )
    serialized = serialize_provider(provider)
    raw = blob_bytes(serialized)
    for form in secret_forms(SECRET):
        assert form not in serialized
        assert form.encode() not in raw
    assert b"127.0.0.1" not in raw  # no configuration at all travels in the blob
    assert serialized == serialize_provider(BrightbackProvider())


def test_the_provider_is_pickled_by_reference_and_stays_small() -> None:
    raw = blob_bytes(serialize_provider(BrightbackProvider()))
    assert b"provider._provider" in raw
    assert b"BrightbackProvider" in raw
    assert len(raw) < 200, len(raw)  # by value it would be kilobytes of bytecode


def test_the_blob_is_byte_identical_across_a_change_to_an_unrelated_module(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = serialize_provider(BrightbackProvider())
    module = tmp_path / "unrelated_helpers.py"
    module.write_text("def answer():\n    return 1\n", encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    imported = importlib.import_module("unrelated_helpers")
    module.write_text("def answer():\n    return 2\n\nEXTRA = [1, 2, 3]\n", encoding="utf-8")
    importlib.reload(imported)
    assert imported.answer() == 2
    # Even the engine code the provider calls can change: the blob only names the class.
    monkeypatch.setattr(reconciler.plan, "plan", lambda *a, **k: None)
    assert serialize_provider(BrightbackProvider()) == before


def test_the_blob_is_the_same_in_another_process() -> None:
    code = (
        "from pulumi.dynamic.dynamic import serialize_provider\n"
        "from provider import BrightbackProvider\n"
        "print(serialize_provider(BrightbackProvider()))\n"
    )
    other = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert other.stdout.strip() == serialize_provider(BrightbackProvider())


def test_importing_the_provider_has_no_side_effects(tmp_path: Path) -> None:
    code = textwrap.dedent(
        """
        import json, threading
        import provider, provider.program, provider.resource
        print(json.dumps({"threads": threading.active_count()}))
        """
    )
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    env = {"PATH": "/usr/bin:/bin", "TMPDIR": str(scratch), "HOME": str(tmp_path)}
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        cwd=tmp_path,
        env=env,
        timeout=60,
    )
    assert json.loads(result.stdout)["threads"] == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tmp"]
    assert list(scratch.iterdir()) == []


def test_api_keys_config_may_be_json_text() -> None:
    provider = configured({CONFIG_API_KEYS: json.dumps({"acme": SECRET})})
    assert "acme" in provider._api_keys


@pytest.mark.parametrize(
    "raw", ['{"acme": ', json.dumps({"acme": 42}), json.dumps(["acme"]), json.dumps({"acme": ""})]
)
def test_bad_api_keys_config_is_a_clear_error_that_never_echoes_it(raw: str) -> None:
    with pytest.raises(IntegrationError, match=CONFIG_API_KEYS) as caught:
        configured({CONFIG_API_KEYS: raw})
    assert raw not in str(caught.value)


def test_an_unqualified_config_key_is_not_read() -> None:
    """The SDK prefixes a key without ':' with the project name; ours are fully qualified."""
    provider = configured({"brightback-demo:apiKeys": {"acme": SECRET}})
    assert dict(provider._api_keys) == {}
