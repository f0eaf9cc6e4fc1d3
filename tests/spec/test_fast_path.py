"""The compiled fast validator (jsonschema-rs) must give exactly jsonschema's verdict.

A document it passes is never shown to jsonschema, so one "valid" where jsonschema finds an
error would let a bad document through. Its verdict is compared with jsonschema's (same
schema, same format checker) on the shipped examples, on mutated documents like the loader
fuzz corpus, and on generated documents full of the values where the engines could differ
(Unicode whitespace, trailing newlines, bools for numbers, huge integers).
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from reconciler import _schema
from reconciler._yaml import parse_documents
from reconciler.spec import desired_to_document, load_text, validate_document

from .test_loader import VALID

REPO = Path(__file__).resolve().parents[2]
REFERENCE = Draft202012Validator(
    _schema.schema(), format_checker=Draft202012Validator.FORMAT_CHECKER
)


def assert_same_verdict(document: Any) -> None:
    verdict = _schema.fast_verdict(document)
    assert verdict is not None, "the fast validator must answer for plain YAML values"
    assert verdict == REFERENCE.is_valid(document), document


def yaml_values(text: str) -> list[Any]:
    documents, _ = parse_documents(text, "t.yaml")
    return [d.value for d in documents]


def test_shipped_example_documents_get_the_same_verdict() -> None:
    files = sorted((REPO / "examples" / "sites").rglob("*.yaml"))
    values = [value for path in files for value in yaml_values(path.read_text(encoding="utf-8"))]
    assert values, "examples/sites holds documents"
    for value in values:
        assert_same_verdict(value)
    assert any(REFERENCE.is_valid(v) for v in values)


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("customer_portal", "customer-portal"),  # enum
        ("    state: connected\n", "    state: connected\n    colour: blue\n"),  # unknown key
        ("v1alpha1", "v1"),  # const
        ("cancellationViaBrightback: true", "cancellationViaBrightback: 'yes'"),  # type
        ("    brightbackSite: acme-retention\n", ""),  # if/then required
        ("state: connected", "state: disconnected"),  # x-forbiddenFields under `not`
        ("  cancellationViaBrightback: true\n", "  policy: {deletionPolicy: disconnect}\n"),
        ("apiKeyFromEnv: ACME_CHARGEBEE_API_KEY", "apiKeyFromEnv: 1ACME"),  # pattern
    ],
)
def test_each_kind_of_violation_is_invalid_for_both(old: str, new: str) -> None:
    (value,) = yaml_values(VALID.replace(old, new, 1))
    assert not REFERENCE.is_valid(value)
    assert_same_verdict(value)


@pytest.mark.parametrize(
    ("email", "valid"),
    [
        ("billing@acme.example", True),
        ("billing@acme.example\n", True),  # Python's `$` matches before a final newline
        ("bill\x1cing@acme.example", False),  # Python's `\s` has U+001C, Rust's has not
        ("bill\x85ing@acme.example", False),  # NEL
        ("bill\ufeffing@acme.example", True),  # Rust's `\s` has U+FEFF, Python's has not
        ("no-at-sign", False),
    ],
)
def test_email_pattern_and_format_follow_python_semantics(email: str, valid: bool) -> None:
    document = desired_to_document(load_text(VALID)[0])
    document["spec"]["connection"]["accountEmail"] = email
    assert REFERENCE.is_valid(document) is valid
    assert_same_verdict(document)
    assert (validate_document(document) == []) is valid


def test_values_rust_cannot_take_fall_back_to_jsonschema() -> None:
    document = desired_to_document(load_text(VALID)[0])
    document["spec"]["site"] = "acme\ud800"  # a lone surrogate: not UTF-8, Rust refuses it
    assert _schema.fast_verdict(document) is None
    (problem,) = validate_document(document)
    assert problem.field == "spec.site"


def test_a_schema_the_fast_path_cannot_translate_turns_it_off() -> None:
    formats: dict[str, Any] = {}
    assert _schema._rust_schema({"patternProperties": {"^a$": {}}}, formats) is None
    translated = _schema._rust_schema({"properties": {"pattern": {"pattern": "^a$"}}}, formats)
    assert translated == {
        "properties": {"pattern": {"allOf": [{"format": "x-python-pattern:^a$"}]}}
    }
    assert formats["x-python-pattern:^a$"]("a\n") is True


@settings(max_examples=300, deadline=None)
@given(st.integers(min_value=0, max_value=len(VALID) - 1), st.text(min_size=1, max_size=20))
def test_mutated_documents_get_the_same_verdict(offset: int, insert: str) -> None:
    for value in yaml_values(VALID[:offset] + insert + VALID[offset:]):
        if _schema.fast_verdict(value) is not None:  # a `"\ud800"` escape can make a surrogate
            assert_same_verdict(value)


# --------------------------------------------------------------------------- generated

TRICKY = "aZz09-_./@ \t\n\x1c\x1f\x85\xa0\u2028\ufeff\u180e\u3000é😀"
TEXT = st.one_of(
    st.text(alphabet=TRICKY, max_size=12),
    st.sampled_from(["acme\n", "a" * 63, "a" * 64, "ACME", "-acme", "", "1ENV"]),
    st.sampled_from(["x@y", "x@y\n", "x\x1c@y", "x\x85@y", "x\ufeff@y", "x@@y"]),
)
SCALAR = st.one_of(
    st.none(), st.booleans(), st.integers(), st.just(2**70), st.floats(allow_nan=False), TEXT
)
JUNK = st.one_of(
    SCALAR,
    st.lists(SCALAR, max_size=2),
    st.dictionaries(TEXT, SCALAR, max_size=2),
)


def field(good: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Mostly a plausible value, sometimes junk of any type."""
    return st.one_of(good, good, good, good, good, JUNK)


def mapping(
    required: dict[str, st.SearchStrategy[Any]], optional: dict[str, st.SearchStrategy[Any]]
) -> st.SearchStrategy[Any]:
    extra = st.dictionaries(st.sampled_from(["colour", "apiKey", "x"]), SCALAR, max_size=1)
    shaped = st.builds(
        lambda req, opt, more: {**req, **opt, **more},
        st.fixed_dictionaries({k: field(v) for k, v in required.items()}),
        st.fixed_dictionaries({}, optional={k: field(v) for k, v in optional.items()}),
        st.one_of(st.just({}), st.just({}), extra),
    )
    return field(shaped)


BOOL = st.booleans()
NAME = st.one_of(st.sampled_from(["acme", "acme-live", "a1", "x"]), TEXT)
DOCUMENTS = mapping(
    {
        "apiVersion": st.sampled_from(["brightback-gitops/v1alpha1", "brightback-gitops/v1"]),
        "kind": st.sampled_from(["BrightbackIntegration", "Other"]),
        "metadata": mapping(
            {"name": NAME},
            {
                "labels": st.dictionaries(NAME, NAME, max_size=3),
                "annotations": st.dictionaries(NAME, TEXT, max_size=2),
            },
        ),
        "spec": mapping(
            {
                "site": NAME,
                "credentials": st.one_of(
                    mapping({"apiKeyFromEnv": st.sampled_from(["KEY", "_K1", "1K"])}, {}),
                    mapping({"apiKeyFromFile": st.sampled_from(["/k", ""])}, {}),
                    mapping({}, {"apiKeyFromEnv": TEXT, "apiKeyFromFile": TEXT}),
                ),
                "connection": mapping(
                    {"state": st.sampled_from(["connected", "disconnected"])},
                    {
                        "brightbackSite": st.sampled_from(["bb-acme", "bb.acme_1", "-bb"]),
                        "accountEmail": TEXT,
                        "signUpIfMissing": BOOL,
                    },
                ),
            },
            {
                "integrateVia": st.sampled_from(["customer_portal", "retention_api"]),
                "cancellationViaBrightback": BOOL,
                "fallbackCancelExperience": mapping(
                    {}, {"portalCancellation": BOOL, "reasonCodes": BOOL}
                ),
                "policy": mapping(
                    {},
                    {
                        "management": st.sampled_from(["full", "observe"]),
                        "allowDisconnect": BOOL,
                        "suspended": BOOL,
                        "deletionPolicy": st.sampled_from(["orphan", "disconnect"]),
                    },
                ),
                "probe": mapping({"subscriptionId": st.sampled_from(["sub_1", "sub 1"])}, {}),
            },
        ),
    },
    {},
)


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(DOCUMENTS)
def test_generated_documents_get_the_same_verdict(document: Any) -> None:
    event("valid" if REFERENCE.is_valid(document) else "invalid")
    assert_same_verdict(document)


# One value changed in an otherwise valid document: where the engines' edge cases show,
# since a single odd string is all that separates valid from invalid.
def _bases() -> list[dict[str, Any]]:
    full = desired_to_document(load_text(VALID)[0])
    full["metadata"]["annotations"] = {"owner": "billing@acme.example"}
    full["spec"]["connection"]["accountEmail"] = "billing@acme.example"
    full["spec"]["probe"] = {"subscriptionId": "sub_1"}
    full["spec"]["policy"].update(deletionPolicy="disconnect", allowDisconnect=True)
    bare = desired_to_document(load_text(VALID.replace("acme", "globex"))[0])
    return [full, bare]


BASES = _bases()
PATHS = sorted(
    {
        path
        for base in BASES
        for path in (
            ("metadata", "name"),
            ("metadata", "labels", "brand"),
            ("metadata", "labels"),
            ("metadata", "annotations"),
            *((key,) for key in base),
            *(("spec", key) for key in base["spec"]),
            *(("spec", "connection", key) for key in base["spec"]["connection"]),
            *(("spec", "policy", key) for key in base["spec"]["policy"]),
            ("spec", "credentials", "apiKeyFromEnv"),
            ("spec", "credentials", "apiKeyFromFile"),
            ("spec", "probe", "subscriptionId"),
        )
    }
)
DELETE = object()


def edited(base: dict[str, Any], edits: list[tuple[tuple[str, ...], Any]]) -> dict[str, Any]:
    document = copy.deepcopy(base)
    for path, value in edits:
        parent = document
        for part in path[:-1]:
            if not isinstance(parent.get(part), dict):
                parent[part] = {}
            parent = parent[part]
        if value is DELETE:
            parent.pop(path[-1], None)
        else:
            parent[path[-1]] = value
    return document


EDITED = st.builds(
    edited,
    st.sampled_from(BASES),
    st.lists(
        st.tuples(st.sampled_from(PATHS), st.one_of(TEXT, TEXT, JUNK, st.just(DELETE))), max_size=2
    ),
)


@settings(max_examples=1500, deadline=None)
@given(EDITED)
def test_valid_documents_with_one_odd_value_get_the_same_verdict(document: Any) -> None:
    event("valid" if REFERENCE.is_valid(document) else "invalid")
    assert_same_verdict(document)


def test_in_memory_values_the_engines_type_differently_are_left_to_jsonschema() -> None:
    document = desired_to_document(load_text(VALID)[0])
    document["metadata"]["annotations"] = {"owners": ("a", "b")}  # an array to Rust only
    assert _schema.fast_verdict(document) is None
    (problem,) = validate_document(document)
    assert problem.field == "metadata.annotations.owners"
    assert not REFERENCE.is_valid(document)
