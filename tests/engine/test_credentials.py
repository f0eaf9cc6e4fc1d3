"""The API key wrapper and resolver: the secret is usable for auth and invisible elsewhere."""

from __future__ import annotations

import copy
import logging
import pickle
from pathlib import Path

import pytest

from reconciler.credentials import ApiKey, resolve_api_key
from reconciler.errors import CredentialError
from reconciler.model import Credentials

SECRET = "key-acme-0123456789"


def test_every_printable_form_of_the_key_is_redacted() -> None:
    key = ApiKey(SECRET, reference="env ACME_KEY")
    for shown in (repr(key), str(key), f"{key}", f"{key!r}", f"{key}", f"{key:>30}"):
        assert SECRET not in shown
    assert "env ACME_KEY" in repr(key)
    assert key.reveal() == SECRET


def test_key_cannot_be_pickled_in_clear() -> None:
    key = ApiKey(SECRET)
    for protocol in range(pickle.HIGHEST_PROTOCOL + 1):
        with pytest.raises(TypeError, match="cannot be pickled"):
            pickle.dumps(key, protocol=protocol)
    with pytest.raises(TypeError):
        pickle.dumps({"nested": [key]})


def test_key_in_a_container_or_log_line_stays_redacted(caplog: pytest.LogCaptureFixture) -> None:
    key = ApiKey(SECRET)
    with caplog.at_level(logging.INFO):
        logging.getLogger("test").info("using %s and %r in %s", key, key, [key])
    assert SECRET not in caplog.text
    assert SECRET not in repr({"key": key})
    assert copy.deepcopy(key).reveal() == SECRET


def test_resolves_from_environment_stripping_whitespace(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ACME_KEY", f"  {SECRET}\n")
    key = resolve_api_key(Credentials(api_key_env="ACME_KEY"))
    assert key.reveal() == SECRET
    assert key.reference == "env ACME_KEY"


def test_resolves_from_file_with_trailing_newline(tmp_path: Path) -> None:
    path = tmp_path / "acme.key"
    path.write_text(SECRET + "\n")
    assert resolve_api_key(Credentials(api_key_file=str(path))).reveal() == SECRET


def test_reads_the_key_at_call_time_so_rotation_applies(monkeypatch: pytest.MonkeyPatch) -> None:
    credentials = Credentials(api_key_env="ACME_KEY")
    monkeypatch.setenv("ACME_KEY", "key-acme-old-000000")
    assert resolve_api_key(credentials).reveal() == "key-acme-old-000000"
    monkeypatch.setenv("ACME_KEY", "key-acme-new-111111")
    assert resolve_api_key(credentials).reveal() == "key-acme-new-111111"


@pytest.mark.parametrize("value", ["", "   ", "\n"])
def test_empty_key_is_an_error_naming_the_reference(
    monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("ACME_KEY", value)
    with pytest.raises(CredentialError, match="env ACME_KEY is empty"):
        resolve_api_key(Credentials(api_key_env="ACME_KEY"))


def test_missing_variable_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ACME_KEY", raising=False)
    with pytest.raises(CredentialError, match="env ACME_KEY is not set"):
        resolve_api_key(Credentials(api_key_env="ACME_KEY"))


def test_missing_file_names_the_path_only(tmp_path: Path) -> None:
    path = tmp_path / "nope.key"
    with pytest.raises(CredentialError, match="does not exist") as caught:
        resolve_api_key(Credentials(api_key_file=str(path)))
    assert str(path) in str(caught.value)


def test_unreadable_file_error_does_not_carry_its_content(tmp_path: Path) -> None:
    path = tmp_path / "bad.key"
    path.write_bytes(b"\xff\xfe" + SECRET.encode())
    with pytest.raises(CredentialError) as caught:
        resolve_api_key(Credentials(api_key_file=str(path)))
    assert SECRET not in str(caught.value)
    assert caught.value.__cause__ is None
    assert caught.value.__context__ is None or SECRET not in str(caught.value.__context__)
