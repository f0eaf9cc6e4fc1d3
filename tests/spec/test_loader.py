"""The loader's promises: valid files become Desired values; every bad input is refused
with the exact file:line:col and field, and nothing partial is returned."""

from __future__ import annotations

import io
import textwrap
from pathlib import Path

import pytest

from reconciler.errors import SpecError
from reconciler.model import ConnectionState, IntegrationMode, Management
from reconciler.spec import (
    desired_from_document,
    desired_to_document,
    load,
    load_text,
    load_with_report,
    validate_document,
)

VALID = """\
apiVersion: brightback-gitops/v1alpha1
kind: BrightbackIntegration
metadata:
  name: acme-live
  labels: {brand: acme, env: live}
spec:
  site: acme
  credentials:
    apiKeyFromEnv: ACME_CHARGEBEE_API_KEY
  connection:
    state: connected
    brightbackSite: acme-retention
  integrateVia: customer_portal
  cancellationViaBrightback: true
"""


def write(tmp_path: Path, name: str, text: str | bytes) -> Path:
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def problems_of(paths: list[Path]) -> list[str]:
    with pytest.raises(SpecError) as caught:
        load(paths)
    return [str(p) for p in caught.value.problems]


def test_valid_document_becomes_typed_immutable_desired(tmp_path: Path) -> None:
    (desired,) = load([write(tmp_path, "acme.yaml", VALID)])
    assert desired.name == "acme-live"
    assert desired.site == "acme"
    assert desired.connection.state is ConnectionState.CONNECTED
    assert desired.integrate_via is IntegrationMode.CUSTOMER_PORTAL
    assert desired.cancellation_via_brightback is True
    assert desired.fallback.portal_cancellation is True  # defaults filled in
    assert desired.policy.management is Management.FULL
    assert desired.policy.allow_disconnect is False
    assert dict(desired.labels) == {"brand": "acme", "env": "live"}
    assert desired.source is not None and desired.source.line == 1
    with pytest.raises(AttributeError):
        desired.site = "other"  # type: ignore[misc]
    with pytest.raises(TypeError):
        desired.labels["brand"] = "x"  # type: ignore[index]


def test_wrong_enum_value_names_file_line_column_and_choices(tmp_path: Path) -> None:
    path = write(tmp_path, "sites/acme.yaml", VALID.replace("customer_portal", "portal"))
    assert problems_of([path]) == [
        f"{path}:13:17: spec.integrateVia: 'portal' is not one of customer_portal, retention_api"
    ]


def test_duplicate_key_is_rejected_at_the_second_occurrence(tmp_path: Path) -> None:
    text = VALID.replace(
        "    state: connected\n", "    state: connected\n    state: disconnected\n"
    )
    path = write(tmp_path, "dup.yaml", text)
    (message,) = problems_of([path])
    assert message.startswith(f"{path}:12:5: spec.connection.state: duplicate key 'state'")
    assert "first defined on line 11" in message


def test_same_site_declared_twice_across_files_points_at_both(tmp_path: Path) -> None:
    first = write(tmp_path, "a.yaml", VALID)
    second = write(tmp_path, "b.yaml", VALID.replace("name: acme-live", "name: acme-other"))
    assert problems_of([first, second]) == [
        f"{second}:7:9: spec.site: site 'acme' is already declared at {first}:7; "
        "each site may be declared once"
    ]


def test_same_name_declared_twice_is_rejected(tmp_path: Path) -> None:
    text = VALID + "---\n" + VALID.replace("site: acme", "site: acme-test")
    path = write(tmp_path, "two.yaml", text)
    (message,) = problems_of([path])
    assert message.startswith(f"{path}:19:9: metadata.name: name 'acme-live' is already declared")


def test_inline_api_key_is_refused_without_echoing_it(tmp_path: Path) -> None:
    key = "live_" + "Q7" * 14
    text = VALID.replace("apiKeyFromEnv: ACME_CHARGEBEE_API_KEY", f"apiKeyFromEnv: {key}")
    path = write(tmp_path, "inline.yaml", text)
    messages = problems_of([path])
    assert messages == [
        f"{path}:9:20: spec.credentials.apiKeyFromEnv: looks like an API key: inline keys are "
        "not allowed; reference it with credentials.apiKeyFromEnv or credentials.apiKeyFromFile"
    ]
    assert key not in "".join(messages)


def test_inline_key_field_is_unknown_and_explains_the_alternative(tmp_path: Path) -> None:
    text = VALID.replace("apiKeyFromEnv: ACME_CHARGEBEE_API_KEY", "apiKey: not-a-real-key")
    path = write(tmp_path, "field.yaml", text)
    messages = problems_of([path])
    assert (
        f"{path}:9:5: spec.credentials.apiKey: unknown field; inline API keys are not allowed"
        in (messages[0])
    )
    assert all("not-a-real-key" not in m for m in messages)


def test_unknown_field_suggests_the_closest_known_one(tmp_path: Path) -> None:
    path = write(tmp_path, "typo.yaml", VALID + "  polcy: {management: full}\n")
    assert problems_of([path]) == [
        f"{path}:15:3: spec.polcy: unknown field (did you mean 'policy'?)"
    ]


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        (
            "apiVersion: brightback-gitops/v1alpha1",
            "apiVersion: brightback-gitops/v1",
            "1:13: apiVersion: expected 'brightback-gitops/v1alpha1', got 'brightback-gitops/v1'",
        ),
        (
            "kind: BrightbackIntegration",
            "kind: Integration",
            "2:7: kind: expected 'BrightbackIntegration', got 'Integration'",
        ),
    ],
)
def test_wrong_api_version_or_kind_is_rejected(
    tmp_path: Path, old: str, new: str, expected: str
) -> None:
    path = write(tmp_path, "v.yaml", VALID.replace(old, new))
    assert problems_of([path]) == [f"{path}:{expected}"]


def test_toggle_on_requires_connection_and_mode(tmp_path: Path) -> None:
    text = VALID.replace("  integrateVia: customer_portal\n", "")
    path = write(tmp_path, "mode.yaml", text)
    assert problems_of([path]) == [
        f"{path}:6:1: spec.integrateVia: cancellationViaBrightback: true needs "
        "connection.state: connected and integrateVia"
    ]


def test_disconnected_site_cannot_carry_a_mode_or_brightback_site(tmp_path: Path) -> None:
    text = VALID.replace("state: connected", "state: disconnected").replace(
        "  cancellationViaBrightback: true\n", ""
    )
    path = write(tmp_path, "disc.yaml", text)
    assert problems_of([path]) == [
        f"{path}:12:5: spec.connection.brightbackSite: is not allowed when connection.state is "
        "disconnected (only state and accountEmail are)",
        f"{path}:13:3: spec.integrateVia: has no meaning while connection.state is disconnected; "
        "remove it",
    ]


def test_deletion_policy_disconnect_needs_the_allowance(tmp_path: Path) -> None:
    path = write(tmp_path, "del.yaml", VALID + "  policy:\n    deletionPolicy: disconnect\n")
    assert problems_of([path]) == [
        f"{path}:15:3: spec.policy.allowDisconnect: deletionPolicy: disconnect needs "
        "allowDisconnect: true"
    ]


def test_alias_bomb_fails_fast_with_a_clear_error(tmp_path: Path) -> None:
    levels = ["a: &a [" + ",".join(['"lol"'] * 10) + "]"]
    for i, name in enumerate("bcdefghij"):
        prev = "abcdefghij"[i]
        levels.append(f"{name}: &{name} [" + ",".join([f"*{prev}"] * 10) + "]")
    path = write(tmp_path, "bomb.yaml", "\n".join(levels) + "\nkind: BrightbackIntegration\n")
    (message,) = problems_of([path])
    assert "refusing to expand it" in message
    assert message.startswith(f"{path}:")


def test_deep_nesting_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "deep.yaml", "kind: BrightbackIntegration\nx: " + "[" * 200 + "]" * 200)
    (message,) = problems_of([path])
    assert "nesting deeper than" in message or "nesting is too deep" in message


def test_oversized_file_is_refused_before_parsing(tmp_path: Path) -> None:
    path = write(tmp_path, "big.yaml", b"kind: BrightbackIntegration\n" + b"#" * (9 * 1024 * 1024))
    assert problems_of([path]) == [f"{path}:1:1: file is larger than 8 MiB"]


def test_huge_scalar_is_refused(tmp_path: Path) -> None:
    text = VALID.replace("name: acme-live", "name: " + "a" * 10_000)
    path = write(tmp_path, "huge.yaml", text)
    assert problems_of([path]) == [f"{path}:4:9: value longer than 4096 characters"]


def test_tab_indentation_is_refused_with_its_position(tmp_path: Path) -> None:
    path = write(tmp_path, "tabs.yaml", VALID.replace("  name: acme-live", "\tname: acme-live"))
    assert problems_of([path]) == [
        f"{path}:4:1: tab character in indentation; YAML indentation must use spaces"
    ]


def test_invalid_utf8_is_refused_with_its_position(tmp_path: Path) -> None:
    data = VALID.encode().replace(b"site: acme\n", b"site: ac\xffme\n")
    path = write(tmp_path, "latin.yaml", data)
    assert problems_of([path]) == [
        f"{path}:7:11: invalid UTF-8 (byte 0xff); save the file as UTF-8"
    ]


def test_control_characters_are_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "ctl.yaml", VALID.replace("acme-retention", "acme\x07retention"))
    assert problems_of([path]) == [f"{path}:12:25: control character U+0007 is not allowed"]


def test_byte_order_mark_is_accepted(tmp_path: Path) -> None:
    path = write(tmp_path, "bom.yaml", b"\xef\xbb\xbf" + VALID.encode())
    (desired,) = load([path])
    assert desired.site == "acme"


def test_every_problem_in_every_file_is_reported_in_one_run(tmp_path: Path) -> None:
    a = write(tmp_path, "a.yaml", VALID.replace("customer_portal", "portal"))
    b = write(tmp_path, "b.yaml", VALID.replace("site: acme", "site: Acme Corp"))
    c = write(tmp_path, "c.yaml", "kind: BrightbackIntegration\n: : :\n")
    messages = problems_of([a, b, c])
    assert [m.split(":")[0] for m in messages] == [str(a), str(b), str(c)]


def test_multi_document_files_and_recursive_directories(tmp_path: Path) -> None:
    write(tmp_path, "fleet/one.yaml", VALID + "---\n" + VALID.replace("acme", "globex"))
    write(tmp_path, "fleet/nested/two.yml", VALID.replace("acme", "initech"))
    write(tmp_path, "fleet/.hidden/ignored.yaml", "not: ours")
    write(tmp_path, "fleet/notes.txt", "ignored")
    assert sorted(d.site for d in load([tmp_path / "fleet"])) == ["acme", "globex", "initech"]


def test_directory_walk_skips_other_tools_yaml_but_reports_it(tmp_path: Path) -> None:
    write(tmp_path, "fleet/acme.yaml", VALID)
    write(tmp_path, "fleet/Pulumi.yaml", "name: brightback\nruntime: python\n")
    result = load_with_report([tmp_path / "fleet"])
    assert [d.site for d in result.desired] == ["acme"]
    assert result.skipped == (str(tmp_path / "fleet" / "Pulumi.yaml"),)


def test_explicitly_named_file_of_another_tool_is_an_error(tmp_path: Path) -> None:
    path = write(tmp_path, "Pulumi.yaml", "name: brightback\nruntime: python\n")
    (message,) = problems_of([path])  # one message saying what the file is, not the schema
    assert message.startswith(f"{path}:1:1: not a BrightbackIntegration document")


def test_stdin_is_read_with_dash(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(VALID.encode())))
    (desired,) = load(["-"])
    assert desired.source is not None and desired.source.file == "<stdin>"


def test_missing_path_is_an_error(tmp_path: Path) -> None:
    missing = tmp_path / "nope"
    assert problems_of([missing]) == [f"{missing}:1:1: no such file or directory"]


def test_api_key_file_is_resolved_against_the_yaml_files_directory(tmp_path: Path) -> None:
    text = VALID.replace("apiKeyFromEnv: ACME_CHARGEBEE_API_KEY", "apiKeyFromFile: keys/acme")
    (desired,) = load([write(tmp_path, "conf/acme.yaml", text)])
    assert desired.credentials.api_key_file == str(tmp_path / "conf" / "keys" / "acme")


def test_yaml_anchors_and_merge_keys_are_supported(tmp_path: Path) -> None:
    text = """\
    apiVersion: brightback-gitops/v1alpha1
    kind: BrightbackIntegration
    metadata: {name: acme-live}
    spec:
      site: acme
      credentials: {apiKeyFromEnv: ACME_KEY}
      connection: &conn {state: connected, brightbackSite: acme-retention}
      fallbackCancelExperience:
        <<: {portalCancellation: false, reasonCodes: false}
        reasonCodes: true
    """
    (desired,) = load([write(tmp_path, "anchors.yaml", text)])
    assert desired.fallback.portal_cancellation is False
    assert desired.fallback.reason_codes is True  # explicit keys win over merged ones


def test_document_round_trips_through_its_yaml_form() -> None:
    (desired,) = load_text(VALID, "acme.yaml")
    document = desired_to_document(desired)
    assert validate_document(document) == []
    again = desired_from_document(document, filename="acme.yaml")
    assert desired_to_document(again) == document


def test_validate_document_names_the_property_for_in_memory_inputs() -> None:
    (desired,) = load_text(VALID)
    document = desired_to_document(desired)
    document["spec"]["integrateVia"] = "portal"
    (problem,) = validate_document(document)
    assert problem.field == "spec.integrateVia"
